/*
 * fuzz.h - what the files of the fuzz driver share.
 *
 * fuzz.c        options, outcome counters, running one call, transactions,
 *               the worker loop, the summary
 * fuzz_args.c   names, the workers' random numbers and per-call memory,
 *               and the argument generators: careful and hostile values
 *               of each kind
 * fuzz_table.c  the table of calls: function, SQL, argument classes per
 *               parameter
 * fuzz_calls.c  the one generator that makes a call from a row of the
 *               table, and the rows' hooks
 * fuzz_check.c  the final check of what the run left behind
 * fuzz_stranger.c
 *               the run as a role granted nothing (--stranger): what its
 *               calls may do, and the database they must leave unchanged
 *
 * A Worker belongs to one thread.  The outcome counters, the tainted
 * topics and the run's totals are shared: they are changed under mu.
 * What a worker remembers from one call for later ones (names of queues,
 * topics, groups and consumers) it copies into strings of its own: a
 * call's arguments are freed when the call is done.
 */
#ifndef FUZZ_H
#define FUZZ_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "common.h"

#define lengthof(a) ((int) (sizeof(a) / sizeof((a)[0])))
#define PICK(w, arr) ((arr)[rn((w), lengthof(arr))])
#define MAXPARAMS 16
#define RING 64
#define MAXSTATES 40
#define MAXMSGS 4
#define NGOOD 11

/* functions and statements, in the order of the summary */
enum
{
	F_CREATE_QUEUE, F_ALTER_QUEUE, F_ALTER_QUEUE_NOTIFY, F_DROP_QUEUE, F_PURGE,
	F_SEND, F_SEND_BYTES, F_SEND_BATCH, F_SEND_BATCH_BYTES, F_CLAIM,
	F_ACK, F_ACK_IDS, F_NACK, F_EXTEND, F_PEEK, F_CANCEL, F_DEAD_LETTERS,
	F_REDRIVE, F_MAINTAIN, F_QUEUE_STATS, F_CLAIM_WAIT, F_V_QUEUES,
	F_CREATE_TOPIC, F_ALTER_TOPIC, F_ALTER_TOPIC_NOTIFY, F_DROP_TOPIC,
	F_PUBLISH, F_PUBLISH_BYTES, F_PUBLISH_BATCH, F_PUBLISH_BATCH_BYTES,
	F_PARTITION_FOR, F_READ, F_LATEST, F_EARLIEST, F_OFFSET_FOR_TIME,
	F_TOPIC_PARTITIONS, F_TOPIC_STATS, F_MAINTAIN_TOPICS, F_V_TOPICS,
	F_CREATE_GROUP, F_DELETE_GROUP, F_COMMIT_OFFSET, F_COMMIT_RECORDS, F_COMMIT_ALL,
	F_EXTEND_LEASE, F_LEAVE, F_SEEK_TEXT, F_SEEK_OFFSET, F_SEEK_TIME, F_POLL,
	F_POLL_WAIT, F_V_LAG,
	F_GRANT, F_REVOKE, F_HAS_PRIVILEGE, F_V_PRIVILEGES,
	F_GRANT_DEFAULT, F_REVOKE_DEFAULT, F_V_DEFAULT_PRIVILEGES,
	F_SET,
	NCALLABLE,
	/* transaction control, counted but not drawn at random */
	F_BEGIN = NCALLABLE, F_COMMIT, F_ROLLBACK, F_SAVEPOINT, F_ROLLBACK_TO,
	F_RELEASE, F_PREPARE, F_FINISH_PREPARED,
	NFUNCS
};

typedef struct StateCount
{
	char		code[6];
	long		count;
	int			nmessages;
	char	   *messages[MAXMSGS];	/* distinct primary messages, digits as N */
} StateCount;

/* the outcomes of one function's calls */
typedef struct FuncStats
{
	const char *name;
	long		calls;
	long		ok;
	long		cancels;		/* calls sent a cancel request */
	double		secs;			/* time spent in calls */
	int			nstates;
	StateCount	states[MAXSTATES];
} FuncStats;

/* remembered from earlier calls: the strings are the worker's own */
typedef struct Claimed
{
	char	   *queue;
	char		id[24];
	char		receipt[40];
} Claimed;

typedef struct Polled
{
	char	   *topic;
	char	   *group;
	char	   *consumer;		/* NULL: polled without one */
	int			partition;
	long long	offset;
} Polled;

typedef struct Worker
{
	int			id;
	PGconn	   *conn;
	uint64_t	rng;
	long		calls;
	long		msgsize;		/* this session's pgbroker.max_message_size */
	bool		stranger;		/* connected as the role granted nothing */
	bool		in_xact;
	int			xact_left;
	bool		savepoint;
	int			prepared;
	char	   *published[16];	/* topics published to in this transaction */
	int			npublished;
	Claimed		claimed[RING];
	int			nclaimed;
	char		sent[RING][24];
	char	   *sent_queue[RING];
	int			nsent;
	Polled		polled[RING];
	int			npolled;
	/* per call */
	char	   *garbage[64];
	int			ngarbage;
} Worker;

/* one call: its statement and parameters */
typedef struct Call
{
	int			fn;
	const char *sql;
	int			n;
	const char *v[MAXPARAMS];
	int			len[MAXPARAMS];
	int			fmt[MAXPARAMS];
} Call;

/* A growable string, for arrays and big values. */
typedef struct Buf
{
	char	   *s;
	size_t		len;
	size_t		cap;
} Buf;

/* options and shared state (fuzz.c) */
extern unsigned long seed0;
extern pthread_mutex_t mu;
extern long violations;
extern long lost_connections;
extern FuncStats funcs[NFUNCS];

/* fuzz.c */
extern PGconn *connect_as(const char *user);
extern void violation(const char *fmt,...) __attribute__((format(printf, 1, 2)));
extern void print_call(FILE *f, const Call *c);
extern bool result_ok(PGresult *r);
extern void call_init(Call *c, int fn, const char *sql);
extern void arg(Call *c, const char *v);
extern void arg_bin(Call *c, const char *v, int len);
extern PGresult *run_call(Worker *w, const Call *c, bool allow_cancel);

/* fuzz_args.c: names */
extern void init_names(void);
extern bool is_bad_name(const char *s);
extern void taint(const char *name);
extern bool is_tainted(const char *name);

/* fuzz_args.c: random numbers and per-call memory */
extern int	rn(Worker *w, int n);
extern bool pct(Worker *w, int p);
extern char *keep(Worker *w, char *s);
extern void set_str(char **slot, const char *s);
extern char *wformat(Worker *w, const char *fmt,...) __attribute__((format(printf, 2, 3)));
extern void free_garbage(Worker *w);
extern void buf_str(Buf *b, const char *s);
extern void buf_elem(Buf *b, const char *s);

/* fuzz_args.c: values; bad: a hostile one */
extern const char *gen_name(Worker *w);
extern const char *gen_bad_name(Worker *w);
extern const char *gen_group(Worker *w);
extern const char *gen_consumer(Worker *w);
extern const char *gen_bad_int(Worker *w);
extern const char *gen_bad_bigint(Worker *w);
extern const char *gen_bad_interval(Worker *w);
extern const char *gen_bad_timestamp(Worker *w);
extern const char *gen_bool(Worker *w, bool bad);
extern char *gen_big_object(Worker *w, long bytes);
extern const char *gen_payload(Worker *w, bool bad);
extern const char *gen_headers(Worker *w, bool bad);
extern const char *gen_filter(Worker *w, bool bad);
extern const char *gen_long_key(Worker *w);
extern const char *gen_key(Worker *w, bool bad);
extern char *gen_bytes(Worker *w, bool bad, int *len);
extern const char *gen_payload_array(Worker *w, bool bytes, bool bad, int *count);
extern const char *gen_key_array(Worker *w, int n, bool bad);
extern const char *gen_count(Worker *w, bool bad);
extern const char *gen_priority(Worker *w, bool bad);
extern const char *gen_wait(Worker *w, bool bad);
extern const char *gen_partition(Worker *w, bool bad);
extern const char *gen_offset(Worker *w, bool bad);

/* fuzz_args.c: what earlier calls returned */
extern void remember_claim(Worker *w, const char *queue, const char *id, const char *receipt);
extern void remember_sent(Worker *w, const char *queue, const char *id);
extern const char *gen_msg_id(Worker *w, const char **queue, const char **receipt);
extern Polled *some_polled(Worker *w);

/* ----------------------------------------------------------------
 * The table of calls (fuzz_table.c) and its generator (fuzz_calls.c)
 * ----------------------------------------------------------------
 */
#define MAXALT 3

/* the kinds of value a parameter takes */
typedef enum ArgKind
{
	K_NONE,						/* no alternative here */
	K_LIST,						/* one of the listed literals (NULL: SQL NULL) */
	/* generators with a careful and a hostile form */
	K_BOOL,
	K_COUNT,
	K_PAYLOAD,
	K_BYTES,					/* a bytea payload, sent in binary */
	K_HEADERS,
	K_FILTER,
	K_KEY,
	K_PRIORITY,
	K_WAIT,
	K_PARTITION,
	K_OFFSET,
	K_PAYLOADS,					/* jsonb[] of payloads */
	K_BYTEAS,					/* bytea[] of payloads */
	K_KEYS,						/* text[] of keys, as many as the payloads */
	/* generators of one form */
	K_NAME,
	K_BAD_NAME,
	K_GROUP,
	K_CONSUMER,
	K_BAD_INT,
	K_BAD_BIGINT,
	K_BAD_INTERVAL,
	K_BAD_TIMESTAMP,
	K_LONG_KEY,
	K_STATS_ID,					/* 1 to 60 */
	K_BIG_REASON,				/* a nack reason of 10 kB to 3 MB */
	/* the subject: a message */
	K_MSG_QUEUE,
	K_MSG_ID,
	K_MSG_RECEIPT,
	K_MSG_ID_SET,				/* {id} */
	K_MSG_IDS,					/* bigint[] of several messages' ids */
	/* the subject: a polled record */
	K_POLLED_TOPIC,
	K_POLLED_GROUP,
	K_POLLED_CONSUMER,
	K_POLLED_CONSUMER_OR_ANY,	/* its consumer, or any one if it had none */
	K_POLLED_PARTITION,
	K_POLLED_NEXT,				/* the offset after it */
	K_RECORDS					/* broker.record[]: after it, or made up */
} ArgKind;

typedef struct Class
{
	ArgKind		kind;
	bool		bad;			/* the generator's hostile form */
	const char *const *list;	/* K_LIST */
	int			nlist;
} Class;

typedef struct Alt
{
	int			weight;
	Class		cls;
} Alt;

/* parameter flags */
#define P_DRAW_NORMAL	1		/* draw the normal value even when a bad one is passed */
#define P_PAIRED		2		/* goes with the parameter before: bad with it, else
								 * the same alternative */

typedef struct Param
{
	Alt			normal[MAXALT];
	Alt			bad[MAXALT];	/* none: this parameter is always normal */
	Alt			alone[MAXALT];	/* without the subject; none: as normal */
	int			flags;
} Param;

/* what a call draws before its arguments */
typedef enum Subject
{
	SUBJ_NONE,
	SUBJ_MESSAGE,				/* queue, id and receipt of a message */
	SUBJ_MESSAGE_ID,			/* queue and id of a message */
	SUBJ_MESSAGES,				/* queue and ids of up to five messages */
	SUBJ_POLLED					/* a record this worker polled, if any */
} Subject;

/*
 * What a call of the role granted nothing (--stranger) may do when it
 * succeeds; see fuzz_stranger.c.  The default is the strictest.
 */
typedef enum Stranger
{
	S_NEVER,					/* never succeeds: creates, grants, maintains */
	S_QUEUE,					/* only on a queue that does not exist */
	S_QUEUE_OR_EMPTY,			/* the same, or returning no rows: an empty
								 * batch sends nothing, to any name */
	S_TOPIC,					/* only on a topic that does not exist */
	S_NOTHING,					/* only showing nothing: no rows, or NULLs */
	S_ASK,						/* succeeds, but never says the stranger holds
								 * a privilege */
	S_SELF,						/* only for itself or a role it is a member
								 * of (its default privileges) */
	S_FREE						/* needs no privilege */
} Stranger;

typedef struct Gen Gen;

typedef struct CallSpec
{
	int			fn;				/* F_* */
	const char *name;
	int			weight;
	const char *sig;			/* the function called, as regprocedure (a
								 * view: as regclass) */
	const char *sql;
	int			hostile;		/* hostility's argument count; 0: none */
	Subject		subject;
	int			subject_pct;	/* SUBJ_POLLED: chance the record is used */
	int			next_pct;		/* chance of the next row's form instead */
	bool		no_cancel;		/* never cancelled while it runs */
	Stranger	stranger;		/* what the stranger's call may do */
	int			stranger_arg;	/* the parameter naming the object (S_QUEUE,
								 * S_TOPIC), the role asked about (S_ASK), or
								 * the role acted for (S_SELF) */
	void		(*before) (Worker *w, Gen *g);
	void		(*after) (Worker *w, Gen *g, PGresult *r);
	Param		params[MAXPARAMS];
} CallSpec;

extern const CallSpec calls[];
extern const int ncallspecs;

/* fuzz_calls.c: hooks of the table's rows */
extern void after_name(Worker *w, Gen *g, PGresult *r);
extern void after_group_name(Worker *w, Gen *g, PGresult *r);
extern void after_send(Worker *w, Gen *g, PGresult *r);
extern void after_send_batch(Worker *w, Gen *g, PGresult *r);
extern void after_claim(Worker *w, Gen *g, PGresult *r);
extern void after_peek(Worker *w, Gen *g, PGresult *r);
extern void after_publish(Worker *w, Gen *g, PGresult *r);
extern void after_read(Worker *w, Gen *g, PGresult *r);
extern void after_poll(Worker *w, Gen *g, PGresult *r);
extern void after_set_size(Worker *w, Gen *g, PGresult *r);
extern void before_create_topic(Worker *w, Gen *g);
extern void before_alter_topic(Worker *w, Gen *g);

/* fuzz_calls.c */
extern void calls_init(void);
extern void one_call(Worker *w);
extern void check_coverage(void);

/* fuzz_check.c */
extern void final_check(void);

/* fuzz_stranger.c */
extern const char *stranger_role;
extern void stranger_begin(void);
extern void stranger_check(Worker *w, const CallSpec *s, const Call *c, PGresult *r);
extern void stranger_end(void);

#endif							/* FUZZ_H */
