/*
 * pgbroker_bench.h - what the files of pgbroker_bench share.
 *
 * pgbroker_bench.c          options, the table of workloads, the rounds
 *                           and the report
 * pgbroker_bench_run.c      one run of a workload: its client threads,
 *                           their statements and latencies, the checks
 *                           after the run
 * pgbroker_bench_prefill.c  the state a run starts from: the bench queue
 *                           and topics, floor tables, prefills and
 *                           backlogs
 *
 * The globals below are set by main() before the client threads start,
 * except those of a group run (group_received, drained), which the
 * clients update under group_lock.
 */
#ifndef PGBROKER_BENCH_H
#define PGBROKER_BENCH_H

#include <pthread.h>

#include "common.h"

typedef enum Kind
{
	PRODUCE_BROKER,
	PRODUCE_FLOOR,
	CONSUME_BROKER,
	CONSUME_LEASED,
	CONSUME_FLOOR,
	PUBLISH_BROKER,
	PUBLISH_FLOOR,
	READ_BROKER,
	READ_FLOOR,
	GROUP_TX,
	GROUP_LEASED,
	GROUP_FLOOR
} Kind;

/* read-100's prefill: records per partition, partitions of bench_t16 */
#define READ_PARTITIONS		16
#define READ_PER_PARTITION	12500L

/* --backlog: records per prefill statement, prefill connections */
#define BACKLOG_BATCH		5000L
#define BACKLOG_CLIENTS		4

/* the consumer-group workloads: topic, partitions, first rate estimate */
#define GROUP_TOPIC			"bench_g8"
#define GROUP_PARTITIONS	8
#define GROUP_FIRST_RATE	250000.0
#define GROUP_MIN_PREFILL	200000L

#define BENCH_BODY "pgbroker-benchmark-payload-0123456789abcdefghijklmnopqrstuvwxyz-0123456789"

typedef struct Result
{
	double		rate;			/* messages per second */
	double		p50,
				p95,
				p99,
				max;			/* transaction latency, ms */
	long		messages;
	long		empty;			/* group workloads: polls that returned nothing */
	long		prefill;		/* group workloads: records prefilled */
	int			dry;			/* group workloads: every record was received */
	long		least,
				most;			/* group workloads: records one consumer received */
} Result;

/* --backlog: one prefill statement */
typedef enum Target
{
	TARGET_T16,					/* bench_t16 */
	TARGET_T1,					/* bench_t1 */
	TARGET_LOG_FLOOR,			/* bench_log_floor */
	TARGET_READ_FLOOR,			/* bench_read_floor */
	TARGET_GROUP,				/* GROUP_TOPIC, for the group workloads */
	TARGET_GROUP_FLOOR			/* bench_group_floor */
} Target;

/* the benchmark topics; bench_t16 also holds the read prefill */
typedef struct BenchTopic
{
	const char *name;
	int			partitions;
} BenchTopic;

extern const BenchTopic bench_topics[2];

/* options */
extern int	seconds;
extern long backlog;
extern int	read_all;

/* the current run */
extern volatile int drained;
extern long read_start[READ_PARTITIONS];
extern long read_end[READ_PARTITIONS];
extern long topic_records[2];
extern long log_floor_rows;
extern long group_received;
extern long group_target;
extern pthread_mutex_t group_lock;

/* pgbroker_bench.c */
extern int	is_group_kind(Kind kind);
extern int	is_topic_kind(Kind kind);

/* pgbroker_bench_run.c */
extern Result run_workload(PGconn *admin, Kind kind, int clients, int batch,
						   const char *topic, long prefill_n);

/* pgbroker_bench_prefill.c */
extern void prefill(PGconn *c, Kind kind, long n);
extern void reset_state(PGconn *c);
extern int	topic_partitions(const char *topic);
extern void create_topics(PGconn *c);
extern void drop_topics(PGconn *c);
extern void reset_topic_state(PGconn *c, Kind kind);
extern void prefill_backlog(PGconn *admin, const int need[4]);
extern void report_retained(PGconn *c);
extern void prefill_group(PGconn *admin, Kind kind, long n);

#endif							/* PGBROKER_BENCH_H */
