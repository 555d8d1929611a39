/*
 * crash_test.h - what the files of crash_test share: the names of the
 * queues, topic and groups it uses, the bookkeeping of every message and
 * record produced, the statistics of each kind of client, and the
 * functions one phase calls in another.
 *
 * crash_test.c        options, setup, the run, the report
 * crash_test_producers.c  queue and topic producers
 * crash_test_consumers.c  the four kinds of consumer, and maintenance
 * crash_test_checks.c     the drain and the checks after it
 *
 * The bookkeeping (producers' slots, pstats, cstats, the commit marks of
 * the groups) is read and written under mu; the problem counters only
 * through problem() (common.c).
 */
#ifndef CRASH_TEST_H
#define CRASH_TEST_H

#include <pthread.h>

#include "common.h"

#define QUEUE_TX		"crash_txq"
#define QUEUE_LEASED	"crash_leasedq"
#define TOPIC			"crash_topic"
#define GROUP_TX		"txg"
#define GROUP_LEASED	"leasedg"
#define LEASE			"2 seconds"
#define MAX_TXN			10		/* messages or records per producer transaction */
#define MAX_CLAIM		20		/* max_messages of a claim: 1..MAX_CLAIM */
#define MAX_POLL		50		/* max_records of a poll: 1..MAX_POLL */
#define NGROUPKEYS		8		/* message groups used by queue producers */
#define NKEYS			64		/* record keys used by topic producers */
#define RECONNECT_SECS	180		/* give up reconnecting after this long */
#define DRAIN_STALL_SECS 60		/* drain: give up after this long without progress */
#define DRAIN_EMPTY_SECS 5		/* drain: server empty but bookkeeping not */
#define BUFSZ			8192

/* a producer transaction's outcome */
enum
{
	S_PENDING = 0,				/* transaction open */
	S_COMMITTED,
	S_ABORTED,					/* rolled back, or cut off before COMMIT */
	S_IN_DOUBT					/* the connection broke during COMMIT */
};

/* kinds of client thread */
enum
{
	R_QPROD,
	R_TPROD,
	R_TXQ,
	R_LEASEDQ,
	R_TXG,
	R_LEASEDG,
	R_MAINT,
	R_MAIN
};

/* consumption modes, for ConsumeStats */
enum
{
	M_TXQ,
	M_LEASEDQ,
	M_TXG,
	M_LEASEDG,
	NMODES
};

#define TARGET_TXQ		0		/* Slot.target of a queue message */
#define TARGET_LEASEDQ	1
#define NO_PARTITION	255		/* Slot.target of a record: none asked for */

/* one message or record, named by (producer, sequence number) */
typedef struct
{
	unsigned char state;		/* S_* */
	unsigned char target;		/* queue, or partition asked for */
	unsigned char tx_ok;		/* transactional consumer commits that had it */
	unsigned char tx_doubt;		/* ... and such commits of unknown outcome */
	unsigned short leased_seen; /* times a leased consumer processed it */
	int			txn;			/* the producer's transaction number */
	long		id;				/* queue message id returned by send */
	double		acked_at;		/* when its ack was known committed; 0 never */
} Slot;

typedef struct
{
	int			topic;			/* a topic producer (else queue) */
	Slot	   *slots;
	int			n;
	int			cap;
	int			txns;
} Producer;

typedef struct
{
	long		produced;		/* messages or records sent in some transaction */
	long		committed;
	long		aborted;		/* rolled back on purpose */
	long		broken;			/* cut off before COMMIT (connection lost) */
	long		in_doubt;
	long		txns;
	long		txns_committed;
	long		txns_aborted;
	long		txns_broken;
	long		txns_in_doubt;
	long		batches;
} ProduceStats;

typedef struct
{
	long		calls;			/* claims or polls */
	long		delivered;		/* rows they returned */
	long		processed;		/* tx: in commits that succeeded; leased: processed */
	long		commits;		/* tx: COMMITs; leased: acks true, broker.commit calls */
	long		rollbacks;		/* tx: ROLLBACK on purpose */
	long		broken;			/* connection lost before the outcome was known */
	long		in_doubt;		/* tx: connection lost during COMMIT */
	long		stale;			/* leased: ack false, commit refused with PB001 */
} ConsumeStats;

typedef struct
{
	int			role;			/* R_* */
	int			k;				/* producer number, or consumer number */
	char		name[32];		/* for messages; a leased group consumer's name */
	PGconn	   *c;
	unsigned	seed;
} Client;

/* what the database says about a slot, filled in by the checks */
typedef struct
{
	unsigned char eff;			/* rows in crash_effects */
	unsigned char log;			/* times in the topic */
	short		eff_part;
	short		log_part;
	long		eff_off;
	long		log_off;
	long		eff_id;
} Found;

/* the outcome of the checks; by kind where there are two: [0] queue, [1] topic */
typedef struct
{
	long		queued;			/* messages left in the queues */
	long		lag;			/* records the groups have yet to commit */
	long		dead;			/* dead letters */
	long		gaps;			/* holes in a partition's offsets */
	long		key_misplaced;	/* records by key outside the key's partition */
	long		log_records;	/* records in the topic */
	long		ghosts[2];		/* delivered, of a rolled-back transaction */
	long		doubt_present[2];	/* of an in-doubt transaction, there */
	long		doubt_absent[2];	/* ... and not there */
	long		lost_txq;
	long		dup_txq;
	long		lost_leasedq;
	long		redelivered_leasedq;
	long		lost_log;
	long		dup_log;
	long		part_wrong;		/* not in the partition asked for */
	long		lost_txg;
	long		dup_txg;
	long		lost_leasedg;
	long		redelivered_leasedg;
	long		mismatched;		/* txg's effect at another offset */
} Verdict;

/* options */
extern int	npartitions;
extern int	sabotage;

/* bookkeeping */
extern int	nprod;
extern Producer *producers;
extern ProduceStats pstats[2];
extern ConsumeStats cstats[NMODES];
extern long *txg_commit_off;
extern double *txg_commit_at;
extern long *lg_commit_off;
extern double *lg_commit_at;
extern long queue_ids[2];
extern volatile int stop_producing;
extern volatile int stop_consuming;

/* problems */
extern long errors;
extern long bad_rows;
extern long resurrected;
extern long effects_lost;
extern long order_violations;
extern long atomicity;
extern long stalled;

extern pthread_mutex_t mu;

/* crash_test.c */
extern void client_connect(Client *cl);
extern void client_lost(Client *cl);
extern PGresult *must_run(Client *cl, const char *sql, int nparams, const char *const *params);
extern Slot *slot_at(int p, int s);
extern Slot *row_slot(Client *cl, PGresult *r, int row, int pcol, int topic, int *pp, int *ps);
extern int	backlogged(int topic);
extern void array_add(char *buf, int i, const char *fmt,...)
			__attribute__((format(printf, 3, 4)));

/* crash_test_producers.c */
extern void *producer_main(void *arg);

/* crash_test_consumers.c */
extern void *consumer_main(void *arg);
extern void *maintenance_main(void *arg);

/* crash_test_checks.c */
extern void drain(Client *cl);
extern void check_all(Client *cl, Verdict *v);

#endif							/* CRASH_TEST_H */
