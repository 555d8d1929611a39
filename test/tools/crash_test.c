/*
 * crash_test.c - queues, topics and consumer groups while the server is
 * killed with SIGKILL and started again.
 *
 * The other drivers terminate backends: the server stays up and nothing
 * goes through crash recovery.  This one produces and consumes while
 * test/scripts/crash.sh kills the postmaster (now alone, now with every
 * server process) at random moments and restarts it, so what it checks is
 * the state pgbroker is left in after WAL replay: nothing whose COMMIT was
 * acknowledged is lost, nothing rolled back appears, consumption committed
 * together with its effects is never repeated, and at-least-once
 * consumption really sees everything.
 *
 * Every client thread reconnects with backoff when its connection breaks,
 * and carries on:
 *
 * queue producers: BEGIN; send or send_batch 1-10 messages to one of two
 *     queues (a quarter of the transactions in one message group);
 *     COMMIT, or ROLLBACK one time in eight.
 * topic producers: the same with publish or publish_batch, by key, to an
 *     explicit partition or to neither.
 * transactional queue consumers (queue crash_txq): BEGIN; claim; ack;
 *     INSERT the effects into the plain table crash_effects; COMMIT (one
 *     time in ten ROLLBACK).
 * leased queue consumers (queue crash_leasedq): claim with a 2 s lease,
 *     process (in the driver's memory), ack with the receipt.
 * transactional group consumers (group txg): BEGIN; poll; INSERT the
 *     effects into crash_effects; COMMIT (one time in ten ROLLBACK).
 * leased group consumers (group leasedg): poll with a 2 s lease, process,
 *     commit the next offset of each partition.
 * maintenance: broker.maintain() twice a second (segments rotate every
 *     3 s; empty queue tables are truncated).
 *
 * Every payload names its message or record: {"p": producer, "s":
 * sequence number}, never used twice.  A producer transaction counts as
 * committed only when COMMIT answered COMMIT; one cut off before COMMIT or
 * rolled back counts as rolled back; one whose connection broke while
 * COMMIT was on its way is in doubt: it may or may not exist, but all of
 * it or none of it, and never twice.
 *
 * The run lasts --seconds, or with --seconds 0 until the driver receives
 * SIGUSR1 (crash.sh sends it once the server is up for the last time).
 * Then the producers stop, the consumers drain both queues and the topic,
 * and the driver checks, from the database and from its own bookkeeping:
 *
 * - every committed queue message was consumed: exactly once in
 *   crash_effects (crash_txq), at least once by a leased consumer
 *   (crash_leasedq); the queues are empty and have no dead letters;
 * - every committed record is in the topic exactly once, at dense offsets
 *   0, 1, 2, ... per partition, in the partition its key or explicit
 *   partition names; group txg has it exactly once in crash_effects, at
 *   the same offset, and group leasedg processed it at least once; both
 *   groups have no lag;
 * - nothing of a rolled-back transaction was delivered anywhere;
 * - in-doubt transactions: all or none of their messages exist, none
 *   twice;
 * - what a consumer was told was committed stays so: a consumer COMMIT
 *   that succeeded left its effects; a message whose ack committed, and a
 *   group offset below a successful commit, is never delivered by a claim
 *   or poll that started afterwards.
 *
 * --sabotage makes the bookkeeping lie (a rolled-back transaction of each
 * kind recorded as committed, a committed one as rolled back) and
 * duplicates an effect row before the checks: the run must then fail with
 * losses, duplicates and deliveries from rolled-back transactions.  It
 * shows that the checks can fail.
 *
 * Exit status 0 when everything holds, 1 when something does not, 2 when
 * the server cannot be reached for RECONNECT_SECS.
 *
 * Connection parameters come from the usual PG* environment variables.
 *
 * usage: crash_test [--seconds N] [--queue-producers N] [--topic-producers N]
 *                   [--consumers N] [--partitions N] [--backlog N]
 *                   [--seed N] [--sabotage]
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "libpq-fe.h"

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
#define MAX_REPORT		20		/* problems of one kind printed in full */
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

/* outcome of one statement */
enum
{
	Q_OK,
	Q_LOST,						/* connection gone */
	Q_LEASE_LOST,				/* SQLSTATE PB001 */
	Q_ERROR						/* anything else: reported and counted */
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

static const char *const mode_names[NMODES] = {
	"queue, transactional", "queue, leased", "group txg, transactional", "group leasedg, leased"
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

static int	nqprod = 2;
static int	ntprod = 2;
static int	ncons = 2;			/* consumers per mode */
static int	npartitions = 4;
static int	run_secs = 20;
static int	max_backlog = 2000;
static unsigned seed0 = 1;
static int	sabotage = 0;

static int	nprod;
static Producer *producers;
static ProduceStats pstats[2];	/* [0] queue, [1] topic */
static ConsumeStats cstats[NMODES];
static long *txg_commit_off;	/* per partition: highest offset committed by txg ... */
static double *txg_commit_at;	/* ... and when that was known */
static long *lg_commit_off;		/* the same for leasedg */
static double *lg_commit_at;
static long connection_losses = 0;
static long queue_ids[2];

static volatile int stop_producing = 0;
static volatile int stop_consuming = 0;

/* problems */
static long errors = 0;
static long bad_rows = 0;
static long resurrected = 0;	/* delivered after its consumption was committed */
static long effects_lost = 0;	/* a consumer COMMIT succeeded, its effects are gone */
static long order_violations = 0;
static long atomicity = 0;		/* in-doubt transaction partly there */
static long stalled = 0;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t report_mu = PTHREAD_MUTEX_INITIALIZER;

static double
now_secs(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* sleep ms milliseconds, or less if *flag is set meanwhile */
static void
nap(int ms, volatile int *flag)
{
	while (ms > 0 && !*flag)
	{
		int			step = ms > 50 ? 50 : ms;

		usleep(step * 1000);
		ms -= step;
	}
}

/*
 * Print the first few problems of each kind; count them all.  Takes
 * report_mu only, so it may be called with mu held.
 */
static void problem(long *counter, const char *who, const char *fmt,...)
			__attribute__((format(printf, 3, 4)));

static void
problem(long *counter, const char *who, const char *fmt,...)
{
	long		before;
	va_list		ap;

	pthread_mutex_lock(&report_mu);
	before = (*counter)++;
	if (before < MAX_REPORT)
	{
		fprintf(stderr, "crash_test: %s: ", who);
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
		fputc('\n', stderr);
	}
	pthread_mutex_unlock(&report_mu);
}

/* ---------------------------------------------------------------- connections */

/* a server going away says so; that is expected here */
static void
quiet_notice(void *arg, const char *message)
{
	if (strstr(message, "terminating connection") == NULL)
		fprintf(stderr, "%s", message);
}

/*
 * Connect, trying again with backoff (20 ms doubling to 1 s) while the
 * server is down or recovering.
 */
static void
client_connect(Client *cl)
{
	double		start = now_secs();
	int			delay = 20;

	for (;;)
	{
		PGconn	   *c = PQconnectdb("");

		if (PQstatus(c) == CONNECTION_OK)
		{
			PQsetNoticeProcessor(c, quiet_notice, NULL);
			cl->c = c;
			return;
		}
		if (now_secs() - start > RECONNECT_SECS)
		{
			fprintf(stderr, "crash_test: %s: cannot reconnect for %d s: %s",
					cl->name, RECONNECT_SECS, PQerrorMessage(c));
			exit(2);
		}
		PQfinish(c);
		usleep((delay + rand_r(&cl->seed) % delay) * 1000);
		if (delay < 1000)
			delay *= 2;
	}
}

static void
client_lost(Client *cl)
{
	PQfinish(cl->c);
	cl->c = NULL;
	pthread_mutex_lock(&mu);
	connection_losses++;
	pthread_mutex_unlock(&mu);
	client_connect(cl);
}

/*
 * Run one statement.  A lost connection (or a server going down: SQLSTATE
 * classes 08 and 57P) and PB001 are expected; anything else is reported
 * and counted as an error.
 */
static int
try_run(Client *cl, const char *sql, int nparams, const char *const *params, PGresult **out)
{
	PGresult   *r = PQexecParams(cl->c, sql, nparams, NULL, params, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(r);
	const char *sqlstate;
	char		msg[1024];
	size_t		len;

	if (out)
		*out = NULL;
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
	{
		if (out)
			*out = r;
		else
			PQclear(r);
		return Q_OK;
	}
	sqlstate = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	if (PQstatus(cl->c) == CONNECTION_BAD ||
		(sqlstate && (strncmp(sqlstate, "08", 2) == 0 || strncmp(sqlstate, "57P", 3) == 0)))
	{
		PQclear(r);
		return Q_LOST;
	}
	if (sqlstate && strcmp(sqlstate, "PB001") == 0)
	{
		PQclear(r);
		return Q_LEASE_LOST;
	}
	snprintf(msg, sizeof(msg), "%s", r ? PQresultErrorMessage(r) : PQerrorMessage(cl->c));
	len = strlen(msg);
	while (len > 0 && msg[len - 1] == '\n')
		msg[--len] = '\0';
	problem(&errors, cl->name, "%s: [%s] %s", sql, sqlstate ? sqlstate : "-----", msg);
	PQclear(r);
	return Q_ERROR;
}

/* a statement of the main thread: retried across lost connections */
static PGresult *
must_run(Client *cl, const char *sql, int nparams, const char *const *params)
{
	for (;;)
	{
		PGresult   *r;
		int			q = try_run(cl, sql, nparams, params, &r);

		if (q == Q_OK)
			return r;
		if (q != Q_LOST)
		{
			fprintf(stderr, "crash_test: cannot go on after: %s\n", sql);
			exit(1);
		}
		client_lost(cl);
	}
}

static void
must_cmd(Client *cl, const char *sql)
{
	PQclear(must_run(cl, sql, 0, NULL));
}

/* ---------------------------------------------------------------- bookkeeping */

/* the slot of (p, s); mu must be held.  NULL if no such slot. */
static Slot *
slot_at(int p, int s)
{
	if (p < 0 || p >= nprod || s < 0 || s >= producers[p].n)
		return NULL;
	return &producers[p].slots[s];
}

/*
 * The slot a consumed row names, from its columns pcol and pcol + 1
 * (payload->>'p', payload->>'s'); NULL, reported, if it is not one of ours
 * or not of the kind expected.  mu must be held.
 */
static Slot *
row_slot(Client *cl, PGresult *r, int row, int pcol, int topic, int *pp, int *ps)
{
	int			p,
				s;
	Slot	   *sl;

	if (PQgetisnull(r, row, pcol) || PQgetisnull(r, row, pcol + 1))
	{
		problem(&bad_rows, cl->name, "a row whose payload is not one of ours");
		return NULL;
	}
	p = atoi(PQgetvalue(r, row, pcol));
	s = atoi(PQgetvalue(r, row, pcol + 1));
	sl = slot_at(p, s);
	if (sl == NULL || producers[p].topic != topic)
	{
		problem(&bad_rows, cl->name, "unknown %s p=%d s=%d", topic ? "record" : "message", p, s);
		return NULL;
	}
	*pp = p;
	*ps = s;
	return sl;
}

/* are consumers more than max_backlog behind this kind's producers? */
static int
backlogged(int topic)
{
	long		behind;

	pthread_mutex_lock(&mu);
	if (topic)
	{
		long		done = cstats[M_TXG].processed;

		if (cstats[M_LEASEDG].processed < done)
			done = cstats[M_LEASEDG].processed;
		behind = pstats[1].committed - done;
	}
	else
		behind = pstats[0].committed - cstats[M_TXQ].processed - cstats[M_LEASEDQ].processed;
	pthread_mutex_unlock(&mu);
	return behind > max_backlog;
}

/* append to a '{...}' array literal being built in buf */
static void
array_add(char *buf, int i, const char *fmt,...)
			__attribute__((format(printf, 3, 4)));

static void
array_add(char *buf, int i, const char *fmt,...)
{
	size_t		len = strlen(buf);
	va_list		ap;

	if (i == 0)
	{
		strcpy(buf, "{");
		len = 1;
	}
	else
		buf[len - 1] = ',';		/* replaces the closing brace */
	va_start(ap, fmt);
	len += vsnprintf(buf + len, BUFSZ - len - 2, fmt, ap);
	va_end(ap);
	strcpy(buf + len, "}");
}

/* ---------------------------------------------------------------- producers */

/* the statements of one queue transaction; fills in the ids */
static int
produce_queue(Client *cl, Producer *pr, int first, int n, int target, int batch)
{
	const char *queue = target == TARGET_TXQ ? QUEUE_TX : QUEUE_LEASED;
	char		group[16];
	int			grouped = (rand_r(&cl->seed) % 4 == 0);
	int			p = (int) (pr - producers);
	int			i,
				q;
	PGresult   *r;

	snprintf(group, sizeof(group), "g%d", rand_r(&cl->seed) % NGROUPKEYS);
	if (batch)
	{
		char		payloads[BUFSZ] = "";
		char		groups[BUFSZ] = "";
		const char *params[3];

		for (i = 0; i < n; i++)
		{
			array_add(payloads, i, "\"{\\\"p\\\": %d, \\\"s\\\": %d}\"", p, first + i);
			array_add(groups, i, "%s", group);
		}
		params[0] = queue;
		params[1] = payloads;
		params[2] = grouped ? groups : NULL;
		q = try_run(cl, "SELECT broker.send_batch($1, $2::jsonb[], group_keys => $3::text[])",
					3, params, &r);
		if (q != Q_OK)
			return q;
		if (PQntuples(r) != n)
			problem(&errors, cl->name, "send_batch of %d returned %d ids", n, PQntuples(r));
		pthread_mutex_lock(&mu);
		for (i = 0; i < n && i < PQntuples(r); i++)
			pr->slots[first + i].id = atol(PQgetvalue(r, i, 0));
		pthread_mutex_unlock(&mu);
		PQclear(r);
		return Q_OK;
	}
	for (i = 0; i < n; i++)
	{
		char		payload[64];
		const char *params[3];

		snprintf(payload, sizeof(payload), "{\"p\": %d, \"s\": %d}", p, first + i);
		params[0] = queue;
		params[1] = payload;
		params[2] = grouped ? group : NULL;
		q = try_run(cl, "SELECT broker.send($1, $2::jsonb, group_key => $3)", 3, params, &r);
		if (q != Q_OK)
			return q;
		pthread_mutex_lock(&mu);
		pr->slots[first + i].id = atol(PQgetvalue(r, 0, 0));
		pthread_mutex_unlock(&mu);
		PQclear(r);
	}
	return Q_OK;
}

/*
 * The statements of one topic transaction: every record by key, every
 * record to an explicit partition, or neither (the transaction's sticky
 * partition).
 */
static int
produce_topic(Client *cl, Producer *pr, int first, int n, int batch)
{
	int			how = rand_r(&cl->seed) % 3;	/* 0 keys, 1 partitions, 2 neither */
	int			p = (int) (pr - producers);
	int			i,
				q;

	if (batch)
	{
		char		payloads[BUFSZ] = "";
		char		keys[BUFSZ] = "";
		char		part[16];
		const char *params[4];
		int			partition = rand_r(&cl->seed) % npartitions;

		for (i = 0; i < n; i++)
		{
			array_add(payloads, i, "\"{\\\"p\\\": %d, \\\"s\\\": %d}\"", p, first + i);
			array_add(keys, i, "k%d", rand_r(&cl->seed) % NKEYS);
		}
		snprintf(part, sizeof(part), "%d", partition);
		if (how == 1)
		{
			pthread_mutex_lock(&mu);
			for (i = 0; i < n; i++)
				pr->slots[first + i].target = (unsigned char) partition;
			pthread_mutex_unlock(&mu);
		}
		params[0] = TOPIC;
		params[1] = payloads;
		params[2] = how == 0 ? keys : NULL;
		params[3] = how == 1 ? part : NULL;
		q = try_run(cl, "SELECT broker.publish_batch($1, $2::jsonb[], keys => $3::text[], partition => $4::int)",
					4, params, NULL);
		pthread_mutex_lock(&mu);
		pstats[1].batches++;
		pthread_mutex_unlock(&mu);
		return q;
	}
	for (i = 0; i < n; i++)
	{
		char		payload[64];
		char		key[16];
		char		part[16];
		const char *params[4];
		int			partition = rand_r(&cl->seed) % npartitions;

		snprintf(payload, sizeof(payload), "{\"p\": %d, \"s\": %d}", p, first + i);
		snprintf(key, sizeof(key), "k%d", rand_r(&cl->seed) % NKEYS);
		snprintf(part, sizeof(part), "%d", partition);
		if (how == 1)
		{
			pthread_mutex_lock(&mu);
			pr->slots[first + i].target = (unsigned char) partition;
			pthread_mutex_unlock(&mu);
		}
		params[0] = TOPIC;
		params[1] = payload;
		params[2] = how == 0 ? key : NULL;
		params[3] = how == 1 ? part : NULL;
		q = try_run(cl, "SELECT broker.publish($1, $2::jsonb, key => $3, partition => $4::int)",
					4, params, NULL);
		if (q != Q_OK)
			return q;
	}
	return Q_OK;
}

static void *
producer_main(void *arg)
{
	Client	   *cl = arg;
	Producer   *pr = &producers[cl->k];
	ProduceStats *ps = &pstats[pr->topic];
	int			lied = 0;

	client_connect(cl);
	while (!stop_producing)
	{
		int			n = 1 + rand_r(&cl->seed) % MAX_TXN;
		int			abort = (rand_r(&cl->seed) % 8 == 0);
		int			batch = (n > 1 && rand_r(&cl->seed) % 3 == 0);
		int			target = rand_r(&cl->seed) % 2;
		int			outcome;
		int			first;
		int			txn;
		int			q;
		int			i;
		PGresult   *r;

		if (backlogged(pr->topic))
		{
			nap(20, &stop_producing);
			continue;
		}

		pthread_mutex_lock(&mu);
		if (pr->n + n > pr->cap)
		{
			pr->cap = pr->cap ? 2 * pr->cap : 4096;
			pr->slots = realloc(pr->slots, sizeof(Slot) * pr->cap);
		}
		first = pr->n;
		txn = pr->txns++;
		for (i = 0; i < n; i++)
		{
			Slot	   *sl = &pr->slots[first + i];

			memset(sl, 0, sizeof(Slot));
			sl->state = S_PENDING;
			sl->target = pr->topic ? NO_PARTITION : (unsigned char) target;
			sl->txn = txn;
		}
		pr->n += n;
		ps->produced += n;
		ps->txns++;
		pthread_mutex_unlock(&mu);

		q = try_run(cl, "BEGIN", 0, NULL, NULL);
		if (q == Q_OK)
			q = pr->topic ? produce_topic(cl, pr, first, n, batch)
				: produce_queue(cl, pr, first, n, target, batch);
		if (q == Q_OK && rand_r(&cl->seed) % 4 == 0)
			usleep(rand_r(&cl->seed) % 3000);	/* commit late */

		if (q != Q_OK)
		{
			/* never committed */
			outcome = S_ABORTED;
			if (q != Q_LOST && try_run(cl, "ROLLBACK", 0, NULL, NULL) == Q_LOST)
				q = Q_LOST;
		}
		else if (abort)
		{
			outcome = S_ABORTED;
			q = try_run(cl, "ROLLBACK", 0, NULL, NULL);
		}
		else
		{
			q = try_run(cl, "COMMIT", 0, NULL, &r);
			if (q == Q_OK)
			{
				if (strcmp(PQcmdStatus(r), "COMMIT") == 0)
					outcome = S_COMMITTED;
				else
				{
					problem(&errors, cl->name, "COMMIT answered %s", PQcmdStatus(r));
					outcome = S_ABORTED;
				}
				PQclear(r);
			}
			else if (q == Q_LOST)
				outcome = S_IN_DOUBT;
			else
				outcome = S_ABORTED;
		}

		/*
		 * --sabotage: record this producer's first rolled-back transaction
		 * as committed, and its first committed one (of a queue producer,
		 * one to the leased queue) as rolled back.
		 */
		if (sabotage && outcome == S_ABORTED && abort && !(lied & 1))
		{
			lied |= 1;
			outcome = S_COMMITTED;
		}
		else if (sabotage && outcome == S_COMMITTED && !(lied & 2) &&
				 (pr->topic || target == TARGET_LEASEDQ))
		{
			lied |= 2;
			outcome = S_ABORTED;
		}

		pthread_mutex_lock(&mu);
		for (i = 0; i < n; i++)
			pr->slots[first + i].state = (unsigned char) outcome;
		if (outcome == S_COMMITTED)
		{
			ps->committed += n;
			ps->txns_committed++;
		}
		else if (outcome == S_IN_DOUBT)
		{
			ps->in_doubt += n;
			ps->txns_in_doubt++;
		}
		else if (abort && q != Q_LOST)
		{
			ps->aborted += n;
			ps->txns_aborted++;
		}
		else
		{
			ps->broken += n;
			ps->txns_broken++;
		}
		pthread_mutex_unlock(&mu);

		if (q == Q_LOST)
			client_lost(cl);
	}
	PQfinish(cl->c);
	return NULL;
}

/* ---------------------------------------------------------------- queue consumers */


/*
 * The end of a transactional consumer's transaction before its COMMIT:
 * some simulated work, then one transaction in ten (with rows) rolled back
 * on purpose, as is one whose statements failed.  1 when the
 * transaction ended here (rolled back, or its connection lost).
 */
static int
tx_consumer_rolls_back(Client *cl, ConsumeStats *cs, int q, int nrows)
{
	int			abort;

	if (q == Q_OK && nrows > 0 && rand_r(&cl->seed) % 4 == 0)
		usleep((rand_r(&cl->seed) % 5) * 1000);		/* work */

	abort = (nrows > 0 && rand_r(&cl->seed) % 10 == 0);
	if (q == Q_OK && !abort)
		return 0;
	if (q != Q_LOST)
		q = try_run(cl, "ROLLBACK", 0, NULL, NULL);
	pthread_mutex_lock(&mu);
	if (q == Q_LOST)
		cs->broken++;
	else if (abort)
		cs->rollbacks++;
	pthread_mutex_unlock(&mu);
	if (q == Q_LOST)
		client_lost(cl);
	return 1;
}

/*
 * BEGIN; claim; ack each message with its receipt; INSERT the effects;
 * COMMIT.  One transaction in ten rolls back instead.
 */
static void
txq_consumer(Client *cl)
{
	ConsumeStats *cs = &cstats[M_TXQ];
	int			idle = 0;

	while (!stop_consuming)
	{
		char		max[16];
		char		ids[BUFSZ] = "";
		char		receipts[BUFSZ] = "";
		char		ps[BUFSZ] = "";
		char		ss[BUFSZ] = "";
		int			slot_p[MAX_CLAIM];
		int			slot_s[MAX_CLAIM];
		const char *params[5];
		PGresult   *r;
		int			q,
					n,
					i,
					nrows = 0;
		double		t0;

		q = try_run(cl, "BEGIN", 0, NULL, NULL);
		if (q == Q_LOST)
		{
			client_lost(cl);
			continue;
		}
		if (q != Q_OK)
			continue;

		snprintf(max, sizeof(max), "%d", 1 + rand_r(&cl->seed) % MAX_CLAIM);
		params[0] = QUEUE_TX;
		params[1] = max;
		params[2] = idle ? "200 milliseconds" : "0";
		t0 = now_secs();
		q = try_run(cl, "SELECT id, receipt, payload->>'p', payload->>'s'"
					" FROM broker.claim($1, $2::int, wait => $3::interval)", 3, params, &r);
		if (q == Q_OK)
		{
			n = PQntuples(r);
			pthread_mutex_lock(&mu);
			cs->calls++;
			cs->delivered += n;
			for (i = 0; i < n; i++)
			{
				int			p,
							s;
				Slot	   *sl = row_slot(cl, r, i, 2, 0, &p, &s);
				long		id = atol(PQgetvalue(r, i, 0));

				if (sl == NULL)
					continue;
				if (sl->target != TARGET_TXQ || (sl->id != 0 && sl->id != id))
					problem(&bad_rows, cl->name, "message p=%d s=%d: id %ld in %s, sent as id %ld to %s",
							p, s, id, QUEUE_TX, sl->id, sl->target == TARGET_TXQ ? QUEUE_TX : QUEUE_LEASED);
				if (sl->acked_at > 0 && sl->acked_at < t0)
					problem(&resurrected, cl->name, "message p=%d s=%d (id %ld) delivered again after a committed ack",
							p, s, id);
				array_add(ids, nrows, "%s", PQgetvalue(r, i, 0));
				array_add(receipts, nrows, "%s", PQgetvalue(r, i, 1));
				array_add(ps, nrows, "%d", p);
				array_add(ss, nrows, "%d", s);
				slot_p[nrows] = p;
				slot_s[nrows] = s;
				nrows++;
			}
			pthread_mutex_unlock(&mu);
			PQclear(r);
			idle = (n == 0);
		}
		if (q == Q_OK && nrows > 0)
		{
			params[0] = QUEUE_TX;
			params[1] = ids;
			params[2] = receipts;
			q = try_run(cl, "SELECT u.id, broker.ack($1, u.id, u.r)"
						" FROM unnest($2::bigint[], $3::uuid[]) u(id, r)", 3, params, &r);
			if (q == Q_OK)
			{
				for (i = 0; i < PQntuples(r); i++)
					if (strcmp(PQgetvalue(r, i, 1), "t") != 0)
						problem(&errors, cl->name, "ack of message %s claimed in this transaction returned false",
								PQgetvalue(r, i, 0));
				PQclear(r);
			}
		}
		if (q == Q_OK && nrows > 0)
		{
			params[0] = ps;
			params[1] = ss;
			params[2] = ids;
			q = try_run(cl, "INSERT INTO crash_effects (kind, p, s, msg_id)"
						" SELECT 'q', * FROM unnest($1::int[], $2::int[], $3::bigint[])",
						3, params, NULL);
		}
		if (tx_consumer_rolls_back(cl, cs, q, nrows))
			continue;

		q = try_run(cl, "COMMIT", 0, NULL, &r);
		pthread_mutex_lock(&mu);
		if (q == Q_OK && strcmp(PQcmdStatus(r), "COMMIT") == 0)
		{
			double		t = now_secs();

			cs->commits++;
			cs->processed += nrows;
			for (i = 0; i < nrows; i++)
			{
				Slot	   *sl = slot_at(slot_p[i], slot_s[i]);

				if (sl->tx_ok < 255)
					sl->tx_ok++;
				if (sl->acked_at == 0)
					sl->acked_at = t;
			}
		}
		else if (q == Q_OK)
			problem(&errors, cl->name, "COMMIT answered %s", PQcmdStatus(r));
		else if (q == Q_LOST)
		{
			cs->in_doubt++;
			for (i = 0; i < nrows; i++)
			{
				Slot	   *sl = slot_at(slot_p[i], slot_s[i]);

				if (sl->tx_doubt < 255)
					sl->tx_doubt++;
			}
		}
		pthread_mutex_unlock(&mu);
		if (q == Q_OK)
			PQclear(r);
		if (q == Q_LOST)
			client_lost(cl);
	}
}

/*
 * claim with a lease (the claim commits by itself); process: count the
 * messages in memory; ack each with its receipt.
 */
static void
leasedq_consumer(Client *cl)
{
	ConsumeStats *cs = &cstats[M_LEASEDQ];
	int			idle = 0;

	while (!stop_consuming)
	{
		char		max[16];
		char		ids[BUFSZ] = "";
		char		receipts[BUFSZ] = "";
		int			slot_p[MAX_CLAIM];
		int			slot_s[MAX_CLAIM];
		const char *params[4];
		PGresult   *r;
		int			q,
					n,
					i,
					nrows = 0;
		double		t0;

		snprintf(max, sizeof(max), "%d", 1 + rand_r(&cl->seed) % MAX_CLAIM);
		params[0] = QUEUE_LEASED;
		params[1] = max;
		params[2] = LEASE;
		params[3] = idle ? "200 milliseconds" : "0";
		t0 = now_secs();
		q = try_run(cl, "SELECT id, receipt, payload->>'p', payload->>'s'"
					" FROM broker.claim($1, $2::int, lease => $3::interval, wait => $4::interval)",
					4, params, &r);
		if (q == Q_LOST)
		{
			client_lost(cl);
			continue;
		}
		if (q != Q_OK)
		{
			usleep(10000);
			continue;
		}
		n = PQntuples(r);
		idle = (n == 0);
		pthread_mutex_lock(&mu);
		cs->calls++;
		cs->delivered += n;
		for (i = 0; i < n; i++)
		{
			int			p,
						s;
			Slot	   *sl = row_slot(cl, r, i, 2, 0, &p, &s);
			long		id = atol(PQgetvalue(r, i, 0));

			if (sl == NULL)
				continue;
			if (sl->target != TARGET_LEASEDQ || (sl->id != 0 && sl->id != id))
				problem(&bad_rows, cl->name, "message p=%d s=%d: id %ld in %s, sent as id %ld to %s",
						p, s, id, QUEUE_LEASED, sl->id, sl->target == TARGET_TXQ ? QUEUE_TX : QUEUE_LEASED);
			if (sl->acked_at > 0 && sl->acked_at < t0)
				problem(&resurrected, cl->name, "message p=%d s=%d (id %ld) delivered again after a committed ack",
						p, s, id);
			/* processed: at least once */
			if (sl->leased_seen < 65535)
				sl->leased_seen++;
			cs->processed++;
			array_add(ids, nrows, "%s", PQgetvalue(r, i, 0));
			array_add(receipts, nrows, "%s", PQgetvalue(r, i, 1));
			slot_p[nrows] = p;
			slot_s[nrows] = s;
			nrows++;
		}
		pthread_mutex_unlock(&mu);
		PQclear(r);
		if (nrows == 0)
			continue;
		if (rand_r(&cl->seed) % 4 == 0)
			usleep((rand_r(&cl->seed) % 5) * 1000);		/* work */

		params[0] = QUEUE_LEASED;
		params[1] = ids;
		params[2] = receipts;
		q = try_run(cl, "SELECT broker.ack($1, u.id, u.r)"
					" FROM unnest($2::bigint[], $3::uuid[]) WITH ORDINALITY u(id, r, n) ORDER BY u.n",
					3, params, &r);
		if (q == Q_OK)
		{
			double		t = now_secs();

			pthread_mutex_lock(&mu);
			for (i = 0; i < PQntuples(r) && i < nrows; i++)
			{
				Slot	   *sl = slot_at(slot_p[i], slot_s[i]);

				if (strcmp(PQgetvalue(r, i, 0), "t") == 0)
				{
					cs->commits++;
					if (sl->acked_at == 0)
						sl->acked_at = t;
				}
				else
					cs->stale++;	/* the lease ran out meanwhile */
			}
			pthread_mutex_unlock(&mu);
			PQclear(r);
		}
		else if (q == Q_LOST)
		{
			pthread_mutex_lock(&mu);
			cs->broken++;
			pthread_mutex_unlock(&mu);
			client_lost(cl);
		}
	}
}

/* ---------------------------------------------------------------- group consumers */

/*
 * BEGIN; poll group txg (no lease: the offsets commit with the
 * transaction); INSERT the effects; COMMIT.  One transaction in ten rolls
 * back instead.
 */
static void
txg_consumer(Client *cl)
{
	ConsumeStats *cs = &cstats[M_TXG];
	long	   *next = malloc(sizeof(long) * npartitions);
	int			idle = 0;

	while (!stop_consuming)
	{
		char		max[16];
		char		ps[BUFSZ] = "";
		char		ss[BUFSZ] = "";
		char		parts[BUFSZ] = "";
		char		offs[BUFSZ] = "";
		int			slot_p[MAX_POLL];
		int			slot_s[MAX_POLL];
		int			slot_part[MAX_POLL];
		long		slot_off[MAX_POLL];
		const char *params[4];
		PGresult   *r;
		int			q,
					n,
					i,
					nrows = 0;
		double		t0;

		q = try_run(cl, "BEGIN", 0, NULL, NULL);
		if (q == Q_LOST)
		{
			client_lost(cl);
			continue;
		}
		if (q != Q_OK)
			continue;

		snprintf(max, sizeof(max), "%d", 1 + rand_r(&cl->seed) % MAX_POLL);
		params[0] = TOPIC;
		params[1] = GROUP_TX;
		params[2] = max;
		params[3] = idle ? "200 milliseconds" : "0";
		for (i = 0; i < npartitions; i++)
			next[i] = -1;
		t0 = now_secs();
		q = try_run(cl, "SELECT partition, offset_id, payload->>'p', payload->>'s'"
					" FROM broker.poll($1, $2, $3::int, $4::interval)", 4, params, &r);
		if (q == Q_OK)
		{
			n = PQntuples(r);
			pthread_mutex_lock(&mu);
			cs->calls++;
			cs->delivered += n;
			for (i = 0; i < n; i++)
			{
				int			p,
							s;
				int			part = atoi(PQgetvalue(r, i, 0));
				long		off = atol(PQgetvalue(r, i, 1));
				Slot	   *sl = row_slot(cl, r, i, 2, 1, &p, &s);

				if (sl == NULL)
					continue;
				if (part < 0 || part >= npartitions)
				{
					problem(&bad_rows, cl->name, "record p=%d s=%d in partition %d", p, s, part);
					continue;
				}
				if (next[part] >= 0 && off != next[part])
					problem(&order_violations, cl->name, "partition %d: offset %ld after %ld in one poll",
							part, off, next[part] - 1);
				next[part] = off + 1;
				if (off < txg_commit_off[part] && txg_commit_at[part] < t0)
					problem(&resurrected, cl->name,
							"partition %d offset %ld delivered again after offset %ld was committed",
							part, off, txg_commit_off[part]);
				array_add(ps, nrows, "%d", p);
				array_add(ss, nrows, "%d", s);
				array_add(parts, nrows, "%d", part);
				array_add(offs, nrows, "%ld", off);
				slot_p[nrows] = p;
				slot_s[nrows] = s;
				slot_part[nrows] = part;
				slot_off[nrows] = off;
				nrows++;
			}
			pthread_mutex_unlock(&mu);
			PQclear(r);
			idle = (n == 0);
		}
		if (q == Q_OK && nrows > 0)
		{
			params[0] = ps;
			params[1] = ss;
			params[2] = parts;
			params[3] = offs;
			q = try_run(cl, "INSERT INTO crash_effects (kind, p, s, part, offset_id)"
						" SELECT 't', * FROM unnest($1::int[], $2::int[], $3::int[], $4::bigint[])",
						4, params, NULL);
		}
		if (tx_consumer_rolls_back(cl, cs, q, nrows))
			continue;

		q = try_run(cl, "COMMIT", 0, NULL, &r);
		pthread_mutex_lock(&mu);
		if (q == Q_OK && strcmp(PQcmdStatus(r), "COMMIT") == 0)
		{
			double		t = now_secs();

			cs->commits++;
			cs->processed += nrows;
			for (i = 0; i < nrows; i++)
			{
				Slot	   *sl = slot_at(slot_p[i], slot_s[i]);

				if (sl->tx_ok < 255)
					sl->tx_ok++;
				if (slot_off[i] + 1 > txg_commit_off[slot_part[i]])
				{
					txg_commit_off[slot_part[i]] = slot_off[i] + 1;
					txg_commit_at[slot_part[i]] = t;
				}
			}
		}
		else if (q == Q_OK)
			problem(&errors, cl->name, "COMMIT answered %s", PQcmdStatus(r));
		else if (q == Q_LOST)
		{
			cs->in_doubt++;
			for (i = 0; i < nrows; i++)
			{
				Slot	   *sl = slot_at(slot_p[i], slot_s[i]);

				if (sl->tx_doubt < 255)
					sl->tx_doubt++;
			}
		}
		pthread_mutex_unlock(&mu);
		if (q == Q_OK)
			PQclear(r);
		if (q == Q_LOST)
			client_lost(cl);
	}
	free(next);
}

/*
 * poll group leasedg with a lease (autocommit); process: count the records
 * in memory; commit the next offset of each partition.  A consumer back
 * after a lost connection keeps its name: the server starts a new session
 * from the committed offsets.
 */
static void
leasedg_consumer(Client *cl)
{
	ConsumeStats *cs = &cstats[M_LEASEDG];
	long	   *last = malloc(sizeof(long) * npartitions);
	int			idle = 0;

	while (!stop_consuming)
	{
		char		max[16];
		const char *params[6];
		PGresult   *r;
		int			q,
					n,
					i;
		double		t0;

		snprintf(max, sizeof(max), "%d", 1 + rand_r(&cl->seed) % MAX_POLL);
		params[0] = TOPIC;
		params[1] = GROUP_LEASED;
		params[2] = max;
		params[3] = idle ? "200 milliseconds" : "0";
		params[4] = cl->name;
		params[5] = LEASE;
		t0 = now_secs();
		q = try_run(cl, "SELECT partition, offset_id, payload->>'p', payload->>'s'"
					" FROM broker.poll($1, $2, $3::int, $4::interval, $5, $6::interval)",
					6, params, &r);
		if (q == Q_LOST)
		{
			client_lost(cl);
			continue;
		}
		if (q != Q_OK)
		{
			usleep(10000);
			continue;
		}
		n = PQntuples(r);
		idle = (n == 0);
		for (i = 0; i < npartitions; i++)
			last[i] = -1;
		pthread_mutex_lock(&mu);
		cs->calls++;
		cs->delivered += n;
		for (i = 0; i < n; i++)
		{
			int			p,
						s;
			int			part = atoi(PQgetvalue(r, i, 0));
			long		off = atol(PQgetvalue(r, i, 1));
			Slot	   *sl = row_slot(cl, r, i, 2, 1, &p, &s);

			if (sl == NULL)
				continue;
			if (part < 0 || part >= npartitions)
			{
				problem(&bad_rows, cl->name, "record p=%d s=%d in partition %d", p, s, part);
				continue;
			}
			if (last[part] >= 0 && off != last[part] + 1)
				problem(&order_violations, cl->name, "partition %d: offset %ld after %ld in one poll",
						part, off, last[part]);
			last[part] = off;
			if (off < lg_commit_off[part] && lg_commit_at[part] < t0)
				problem(&resurrected, cl->name,
						"partition %d offset %ld delivered again after offset %ld was committed",
						part, off, lg_commit_off[part]);
			if (sl->leased_seen < 65535)
				sl->leased_seen++;
			cs->processed++;
		}
		pthread_mutex_unlock(&mu);
		PQclear(r);
		if (n == 0)
			continue;
		if (rand_r(&cl->seed) % 4 == 0)
			usleep((rand_r(&cl->seed) % 5) * 1000);		/* work */

		for (i = 0; i < npartitions && q != Q_LOST; i++)
		{
			char		pbuf[16];
			char		obuf[24];
			const char *cparams[5];

			if (last[i] < 0)
				continue;
			snprintf(pbuf, sizeof(pbuf), "%d", i);
			snprintf(obuf, sizeof(obuf), "%ld", last[i] + 1);
			cparams[0] = TOPIC;
			cparams[1] = GROUP_LEASED;
			cparams[2] = pbuf;
			cparams[3] = obuf;
			cparams[4] = cl->name;
			q = try_run(cl, "SELECT broker.commit($1, $2, $3::int, $4::bigint, $5)",
						5, cparams, NULL);
			pthread_mutex_lock(&mu);
			if (q == Q_OK)
			{
				cs->commits++;
				if (last[i] + 1 > lg_commit_off[i])
				{
					lg_commit_off[i] = last[i] + 1;
					lg_commit_at[i] = now_secs();
				}
			}
			else if (q == Q_LEASE_LOST)
				cs->stale++;
			else if (q == Q_LOST)
				cs->broken++;
			pthread_mutex_unlock(&mu);
		}
		if (q == Q_LOST)
			client_lost(cl);
	}
	free(last);
}

static void *
consumer_main(void *arg)
{
	Client	   *cl = arg;

	client_connect(cl);
	switch (cl->role)
	{
		case R_TXQ:
			txq_consumer(cl);
			break;
		case R_LEASEDQ:
			leasedq_consumer(cl);
			break;
		case R_TXG:
			txg_consumer(cl);
			break;
		case R_LEASEDG:
			leasedg_consumer(cl);
			break;
	}
	PQfinish(cl->c);
	return NULL;
}

/* broker.maintain() twice a second: segment rotation, truncation */
static void *
maintenance_main(void *arg)
{
	Client	   *cl = arg;

	client_connect(cl);
	while (!stop_consuming)
	{
		if (try_run(cl, "SELECT count(*) FROM broker.maintain()", 0, NULL, NULL) == Q_LOST)
			client_lost(cl);
		nap(500, &stop_consuming);
	}
	PQfinish(cl->c);
	return NULL;
}

/* ---------------------------------------------------------------- main */

static void
setup(Client *cl)
{
	char		nbuf[16];
	const char *params[2];
	int			i;

	snprintf(nbuf, sizeof(nbuf), "%d", npartitions);
	must_cmd(cl, "SET client_min_messages = warning");
	must_cmd(cl, "CREATE EXTENSION IF NOT EXISTS pgbroker");
	must_cmd(cl, "DROP TABLE IF EXISTS crash_effects");
	must_cmd(cl, "SELECT broker.drop_queue('" QUEUE_TX "', if_exists => true)");
	must_cmd(cl, "SELECT broker.drop_queue('" QUEUE_LEASED "', if_exists => true)");
	must_cmd(cl, "SELECT broker.drop_topic('" TOPIC "', if_exists => true)");
	must_cmd(cl, "SELECT broker.create_queue('" QUEUE_TX "', max_attempts => 1000, lease => '" LEASE "')");
	must_cmd(cl, "SELECT broker.create_queue('" QUEUE_LEASED "', max_attempts => 1000, lease => '" LEASE "')");
	params[0] = TOPIC;
	params[1] = nbuf;
	PQclear(must_run(cl, "SELECT broker.create_topic($1, partitions => $2::int, segment_interval => '3 seconds')",
					 2, params));
	must_cmd(cl, "SELECT broker.create_group('" TOPIC "', '" GROUP_TX "', start => 'earliest')");
	must_cmd(cl, "SELECT broker.create_group('" TOPIC "', '" GROUP_LEASED "', start => 'earliest')");
	/* no key: a duplicate effect must be possible, to be seen */
	must_cmd(cl, "CREATE TABLE crash_effects (kind text NOT NULL, p int NOT NULL, s int NOT NULL,"
			 " msg_id bigint, part int, offset_id bigint)");
	for (i = 0; i < 2; i++)
	{
		PGresult   *r;

		params[0] = i == 0 ? QUEUE_TX : QUEUE_LEASED;
		r = must_run(cl, "SELECT id FROM broker.queue WHERE name = $1", 1, params);
		queue_ids[i] = atol(PQgetvalue(r, 0, 0));
		PQclear(r);
	}
}

/* messages left in both queues, and the lag of both groups */
static long
server_left(Client *cl, long *queued, long *lag, long *dead)
{
	char		sql[512];
	PGresult   *r;

	snprintf(sql, sizeof(sql),
			 "SELECT (SELECT count(*) FROM broker.queue_%ld) + (SELECT count(*) FROM broker.queue_%ld),"
			 " (SELECT coalesce(sum(lag), 0) FROM broker.consumer_lag WHERE topic = '" TOPIC "'),"
			 " (SELECT count(*) FROM broker.dead_letter WHERE queue_id IN (%ld, %ld))",
			 queue_ids[0], queue_ids[1], queue_ids[0], queue_ids[1]);
	r = must_run(cl, sql, 0, NULL);
	*queued = atol(PQgetvalue(r, 0, 0));
	*lag = atol(PQgetvalue(r, 0, 1));
	*dead = atol(PQgetvalue(r, 0, 2));
	PQclear(r);
	return *queued + *lag + *dead;
}

/* committed messages and records some consumer has yet to see */
static long
client_left(void)
{
	long		n = 0;
	int			p,
				s;

	pthread_mutex_lock(&mu);
	for (p = 0; p < nprod; p++)
		for (s = 0; s < producers[p].n; s++)
		{
			Slot	   *sl = &producers[p].slots[s];
			int			tx = sl->tx_ok > 0 || sl->tx_doubt > 0;

			if (sl->state != S_COMMITTED)
				continue;
			if (producers[p].topic)
				n += (!tx || sl->leased_seen == 0);
			else if (sl->target == TARGET_TXQ)
				n += !tx;
			else
				n += (sl->leased_seen == 0);
		}
	pthread_mutex_unlock(&mu);
	return n;
}

static void
progress(double t0)
{
	pthread_mutex_lock(&mu);
	printf("crash_test: %.0fs: queue committed=%ld consumed=%ld | topic committed=%ld txg=%ld leasedg=%ld"
		   " | connection losses=%ld\n",
		   now_secs() - t0, pstats[0].committed,
		   cstats[M_TXQ].processed + cstats[M_LEASEDQ].processed,
		   pstats[1].committed, cstats[M_TXG].processed, cstats[M_LEASEDG].processed,
		   connection_losses);
	pthread_mutex_unlock(&mu);
	fflush(stdout);
}

/*
 * Let the consumers finish: until the queues are empty, the groups have
 * no lag and the bookkeeping says every committed message and record was
 * consumed.  Gives up when the server has been empty for DRAIN_EMPTY_SECS
 * while the bookkeeping is not (the checks report what is missing), or
 * nothing has moved for DRAIN_STALL_SECS.
 */
static void
drain(Client *cl)
{
	double		last_progress = now_secs();
	double		empty_since = 0;
	long		last_left = -1;
	int			quiet = 0;

	for (;;)
	{
		long		queued,
					lag,
					dead;
		long		left = server_left(cl, &queued, &lag, &dead);
		long		mine = client_left();

		if (left == 0 && mine == 0)
		{
			if (++quiet >= 2)
				return;
		}
		else
			quiet = 0;
		if (left == 0)
		{
			if (empty_since == 0)
				empty_since = now_secs();
			else if (now_secs() - empty_since > DRAIN_EMPTY_SECS)
			{
				fprintf(stderr, "crash_test: drain: the server has nothing left, %ld committed"
						" messages or records never consumed\n", mine);
				return;
			}
		}
		else
			empty_since = 0;
		if (left + mine != last_left)
		{
			last_left = left + mine;
			last_progress = now_secs();
		}
		else if (now_secs() - last_progress > DRAIN_STALL_SECS)
		{
			fprintf(stderr, "crash_test: drain: stuck with %ld messages queued, lag %ld, %ld dead letters,"
					" %ld committed never consumed\n", queued, lag, dead, mine);
			stalled++;
			return;
		}
		usleep(250000);
	}
}

static Found **
collect_effects(Client *cl)
{
	Found	  **found = malloc(sizeof(Found *) * nprod);
	PGresult   *r;
	int			p,
				i;

	for (p = 0; p < nprod; p++)
		found[p] = calloc(producers[p].n > 0 ? producers[p].n : 1, sizeof(Found));

	r = must_run(cl, "SELECT kind, p, s, msg_id, part, offset_id FROM crash_effects", 0, NULL);
	for (i = 0; i < PQntuples(r); i++)
	{
		int			topic = strcmp(PQgetvalue(r, i, 0), "t") == 0;
		int			s = atoi(PQgetvalue(r, i, 2));
		Found	   *f;

		p = atoi(PQgetvalue(r, i, 1));
		if (slot_at(p, s) == NULL || producers[p].topic != topic)
		{
			problem(&bad_rows, "effects", "unknown %s p=%d s=%d", topic ? "record" : "message", p, s);
			continue;
		}
		f = &found[p][s];
		if (f->eff < 255)
			f->eff++;
		if (topic)
		{
			f->eff_part = (short) atoi(PQgetvalue(r, i, 4));
			f->eff_off = atol(PQgetvalue(r, i, 5));
		}
		else
			f->eff_id = atol(PQgetvalue(r, i, 3));
	}
	PQclear(r);
	return found;
}

/*
 * Read every partition of the topic from offset 0: offsets must be dense
 * up to latest_offset, a record with a key must be in the key's
 * partition.
 */
static long
collect_log(Client *cl, Found **found, long *gaps, long *key_misplaced)
{
	long		total = 0;
	int			part;

	for (part = 0; part < npartitions; part++)
	{
		char		pbuf[16];
		char		obuf[24];
		const char *params[3];
		PGresult   *r;
		long		end,
					next = 0;

		snprintf(pbuf, sizeof(pbuf), "%d", part);
		params[0] = TOPIC;
		params[1] = pbuf;
		r = must_run(cl, "SELECT broker.latest_offset($1, $2::int)", 2, params);
		end = atol(PQgetvalue(r, 0, 0));
		PQclear(r);
		for (;;)
		{
			int			n,
						i;

			snprintf(obuf, sizeof(obuf), "%ld", next);
			params[2] = obuf;
			r = must_run(cl, "SELECT offset_id, payload->>'p', payload->>'s',"
						 " key IS NOT NULL AND partition <> broker.partition_for($1, key)"
						 " FROM broker.read($1, $2::int, $3::bigint, 1000)", 3, params);
			n = PQntuples(r);
			for (i = 0; i < n; i++)
			{
				long		off = atol(PQgetvalue(r, i, 0));
				int			p = atoi(PQgetvalue(r, i, 1));
				int			s = atoi(PQgetvalue(r, i, 2));
				Found	   *f;

				if (off != next)
				{
					fprintf(stderr, "crash_test: topic: partition %d: offset %ld follows %ld\n",
							part, off, next - 1);
					(*gaps)++;
				}
				next = off + 1;
				total++;
				if (strcmp(PQgetvalue(r, i, 3), "t") == 0)
					(*key_misplaced)++;
				if (PQgetisnull(r, i, 1) || slot_at(p, s) == NULL || !producers[p].topic)
				{
					problem(&bad_rows, "topic", "partition %d offset %ld: unknown record", part, off);
					continue;
				}
				f = &found[p][s];
				if (f->log < 255)
					f->log++;
				f->log_part = (short) part;
				f->log_off = off;
			}
			PQclear(r);
			if (n == 0)
				break;
		}
		if (next != end)
		{
			fprintf(stderr, "crash_test: topic: partition %d: read up to offset %ld, latest_offset is %ld\n",
					part, next, end);
			(*gaps)++;
		}
	}
	return total;
}

int
main(int argc, char **argv)
{
	Client		main_cl;
	Client	   *clients;
	pthread_t  *threads;
	int			nclients;
	sigset_t	sigs;
	double		t0,
				t_drain,
				t_checks,
				last_report;
	int			i,
				p,
				s;
	Found	  **found;
	long		queued,
				lag,
				dead,
				gaps = 0,
				key_misplaced = 0,
				log_records;
	/* results by kind: [0] queue, [1] topic */
	long		ghosts[2] = {0, 0};
	long		doubt_present[2] = {0, 0};
	long		doubt_absent[2] = {0, 0};
	long		lost_txq = 0,
				dup_txq = 0,
				lost_leasedq = 0,
				redelivered_leasedq = 0,
				lost_log = 0,
				dup_log = 0,
				part_wrong = 0,
				lost_txg = 0,
				dup_txg = 0,
				lost_leasedg = 0,
				redelivered_leasedg = 0,
				mismatched = 0;
	long		lost,
				dups,
				ghost;
	int			failed;

	for (i = 1; i < argc; i++)
	{
		if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
			run_secs = atoi(argv[++i]);
		else if (strcmp(argv[i], "--queue-producers") == 0 && i + 1 < argc)
			nqprod = atoi(argv[++i]);
		else if (strcmp(argv[i], "--topic-producers") == 0 && i + 1 < argc)
			ntprod = atoi(argv[++i]);
		else if (strcmp(argv[i], "--consumers") == 0 && i + 1 < argc)
			ncons = atoi(argv[++i]);
		else if (strcmp(argv[i], "--partitions") == 0 && i + 1 < argc)
			npartitions = atoi(argv[++i]);
		else if (strcmp(argv[i], "--backlog") == 0 && i + 1 < argc)
			max_backlog = atoi(argv[++i]);
		else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
			seed0 = (unsigned) atoi(argv[++i]);
		else if (strcmp(argv[i], "--sabotage") == 0)
			sabotage = 1;
		else
		{
			fprintf(stderr, "usage: crash_test [--seconds N] [--queue-producers N] [--topic-producers N]\n"
					"                  [--consumers N] [--partitions N] [--backlog N]\n"
					"                  [--seed N] [--sabotage]\n");
			return 1;
		}
	}
	if (run_secs < 0 || nqprod < 1 || ntprod < 1 || ncons < 1 || npartitions < 1 ||
		npartitions >= NO_PARTITION || max_backlog < 1)
	{
		fprintf(stderr, "crash_test: bad counts\n");
		return 1;
	}

	/* SIGUSR1 is taken by sigtimedwait in the main thread only */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);

	nprod = nqprod + ntprod;
	producers = calloc(nprod, sizeof(Producer));
	for (p = 0; p < nprod; p++)
		producers[p].topic = (p >= nqprod);
	txg_commit_off = calloc(npartitions, sizeof(long));
	txg_commit_at = calloc(npartitions, sizeof(double));
	lg_commit_off = calloc(npartitions, sizeof(long));
	lg_commit_at = calloc(npartitions, sizeof(double));

	memset(&main_cl, 0, sizeof(main_cl));
	main_cl.role = R_MAIN;
	main_cl.seed = seed0;
	snprintf(main_cl.name, sizeof(main_cl.name), "main");
	client_connect(&main_cl);
	setup(&main_cl);

	nclients = nprod + 4 * ncons + 1;
	clients = calloc(nclients, sizeof(Client));
	threads = malloc(sizeof(pthread_t) * nclients);
	for (i = 0; i < nclients; i++)
	{
		Client	   *cl = &clients[i];

		cl->seed = seed0 * 104729 + i;
		if (i < nqprod)
		{
			cl->role = R_QPROD;
			cl->k = i;
			snprintf(cl->name, sizeof(cl->name), "queue-producer-%d", i);
		}
		else if (i < nprod)
		{
			cl->role = R_TPROD;
			cl->k = i;
			snprintf(cl->name, sizeof(cl->name), "topic-producer-%d", i - nqprod);
		}
		else if (i < nclients - 1)
		{
			static const char *const names[4] = {"txq", "leasedq", "txg", "leasedg"};
			int			m = (i - nprod) / ncons;

			cl->role = R_TXQ + m;
			cl->k = (i - nprod) % ncons;
			snprintf(cl->name, sizeof(cl->name), "%s-%d", names[m], cl->k);
		}
		else
		{
			cl->role = R_MAINT;
			snprintf(cl->name, sizeof(cl->name), "maintenance");
		}
	}

	t0 = now_secs();
	for (i = nprod; i < nclients; i++)
		pthread_create(&threads[i], NULL, i < nclients - 1 ? consumer_main : maintenance_main, &clients[i]);
	for (i = 0; i < nprod; i++)
		pthread_create(&threads[i], NULL, producer_main, &clients[i]);
	printf("crash_test: running: %d queue producers, %d topic producers, %d consumers of each kind,"
		   " %d partitions, %s\n", nqprod, ntprod, ncons, npartitions,
		   run_secs > 0 ? "for a fixed time" : "until SIGUSR1");
	fflush(stdout);

	/* run: until SIGUSR1, or --seconds */
	last_report = t0;
	for (;;)
	{
		struct timespec ts = {1, 0};
		int			sig = sigtimedwait(&sigs, NULL, &ts);

		if (sig == SIGUSR1)
			break;
		if (sig < 0 && errno != EAGAIN && errno != EINTR)
		{
			perror("crash_test: sigtimedwait");
			return 1;
		}
		if (run_secs > 0 && now_secs() - t0 >= run_secs)
			break;
		if (now_secs() - last_report >= 10)
		{
			progress(t0);
			last_report = now_secs();
		}
	}

	/* drain */
	t_drain = now_secs();
	stop_producing = 1;
	for (i = 0; i < nprod; i++)
		pthread_join(threads[i], NULL);
	progress(t0);
	drain(&main_cl);
	stop_consuming = 1;
	for (i = nprod; i < nclients; i++)
		pthread_join(threads[i], NULL);

	/* the checks */
	t_checks = now_secs();
	if (sabotage)
	{
		must_cmd(&main_cl, "INSERT INTO crash_effects SELECT * FROM crash_effects WHERE kind = 'q' LIMIT 1");
		must_cmd(&main_cl, "INSERT INTO crash_effects SELECT * FROM crash_effects WHERE kind = 't' LIMIT 1");
	}
	server_left(&main_cl, &queued, &lag, &dead);
	found = collect_effects(&main_cl);
	log_records = collect_log(&main_cl, found, &gaps, &key_misplaced);

	for (p = 0; p < nprod; p++)
	{
		Producer   *pr = &producers[p];
		int			k = pr->topic;
		int			t;

		for (s = 0; s < pr->n; s++)
		{
			Slot	   *sl = &pr->slots[s];
			Found	   *f = &found[p][s];
			int			exists;

			if (sl->tx_ok > 0 && f->eff == 0)
				problem(&effects_lost, "effects", "p=%d s=%d: a consumer's COMMIT succeeded, no effect",
						p, s);
			if (!pr->topic)
			{
				/* queue messages */
				if (sl->target == TARGET_TXQ)
				{
					exists = f->eff > 0;
					if (sl->leased_seen > 0)
						problem(&bad_rows, "queue", "message p=%d s=%d of %s processed by a leased consumer",
								p, s, QUEUE_TX);
					if (f->eff > 0 && f->eff_id != sl->id)
						problem(&bad_rows, "queue", "message p=%d s=%d: sent as id %ld, effect of id %ld",
								p, s, sl->id, f->eff_id);
					if (sl->state == S_COMMITTED && f->eff == 0)
					{
						if (lost_txq++ < MAX_REPORT)
							fprintf(stderr, "crash_test: %s: committed message p=%d s=%d (id %ld) never consumed\n",
									QUEUE_TX, p, s, sl->id);
					}
					if (f->eff > 1 && sl->state != S_ABORTED)
					{
						if (dup_txq < MAX_REPORT)
							fprintf(stderr, "crash_test: %s: message p=%d s=%d (id %ld) consumed %d times\n",
									QUEUE_TX, p, s, sl->id, f->eff);
						dup_txq += f->eff - 1;
					}
				}
				else
				{
					exists = sl->leased_seen > 0;
					if (f->eff > 0)
						problem(&bad_rows, "queue", "message p=%d s=%d of %s has effects", p, s, QUEUE_LEASED);
					if (sl->state == S_COMMITTED && sl->leased_seen == 0)
					{
						if (lost_leasedq++ < MAX_REPORT)
							fprintf(stderr, "crash_test: %s: committed message p=%d s=%d (id %ld) never processed\n",
									QUEUE_LEASED, p, s, sl->id);
					}
					if (sl->leased_seen > 1)
						redelivered_leasedq += sl->leased_seen - 1;
				}
			}
			else
			{
				/* topic records: in the log, then per group */
				exists = f->log > 0;
				if (sl->state == S_COMMITTED && f->log == 0)
				{
					if (lost_log++ < MAX_REPORT)
						fprintf(stderr, "crash_test: topic: committed record p=%d s=%d is not in the topic\n",
								p, s);
				}
				if (f->log > 1)
				{
					if (dup_log < MAX_REPORT)
						fprintf(stderr, "crash_test: topic: record p=%d s=%d is in the topic %d times\n",
								p, s, f->log);
					dup_log += f->log - 1;
				}
				if (f->log > 0 && sl->target != NO_PARTITION && f->log_part != sl->target)
					part_wrong++;
				if (f->log > 0)
				{
					if (f->eff == 0)
					{
						if (lost_txg++ < MAX_REPORT)
							fprintf(stderr, "crash_test: group %s: record p=%d s=%d (partition %d offset %ld)"
									" never processed\n", GROUP_TX, p, s, f->log_part, f->log_off);
					}
					else if (f->eff_part != f->log_part || f->eff_off != f->log_off)
						problem(&mismatched, GROUP_TX, "record p=%d s=%d at partition %d offset %ld,"
								" effect says partition %d offset %ld",
								p, s, f->log_part, f->log_off, f->eff_part, f->eff_off);
					if (f->eff > 1)
					{
						if (dup_txg < MAX_REPORT)
							fprintf(stderr, "crash_test: group %s: record p=%d s=%d processed %d times\n",
									GROUP_TX, p, s, f->eff);
						dup_txg += f->eff - 1;
					}
					if (sl->leased_seen == 0)
					{
						if (lost_leasedg++ < MAX_REPORT)
							fprintf(stderr, "crash_test: group %s: record p=%d s=%d (partition %d offset %ld)"
									" never processed\n", GROUP_LEASED, p, s, f->log_part, f->log_off);
					}
					if (sl->leased_seen > 1)
						redelivered_leasedg += sl->leased_seen - 1;
				}
				else if (f->eff > 0 || sl->leased_seen > 0)
					problem(&bad_rows, "topic", "record p=%d s=%d processed but not in the topic", p, s);
			}

			if (sl->state == S_ABORTED && (exists || f->eff > 0 || sl->leased_seen > 0 || sl->tx_ok > 0))
			{
				if (ghosts[k]++ < MAX_REPORT)
					fprintf(stderr, "crash_test: %s p=%d s=%d of a rolled-back transaction was delivered\n",
							k ? "record" : "message", p, s);
			}
			if (sl->state == S_IN_DOUBT)
			{
				if (exists)
					doubt_present[k]++;
				else
					doubt_absent[k]++;
			}
		}

		/* an in-doubt transaction: all of it or none */
		for (s = 0; s < pr->n; s = t)
		{
			int			present = 0;

			for (t = s; t < pr->n && pr->slots[t].txn == pr->slots[s].txn; t++)
				present += pr->topic ? found[p][t].log > 0
					: pr->slots[t].target == TARGET_TXQ ? found[p][t].eff > 0
					: pr->slots[t].leased_seen > 0;
			if (pr->slots[s].state == S_IN_DOUBT && present != 0 && present != t - s)
				problem(&atomicity, pr->topic ? "topic" : "queue",
						"in-doubt transaction of producer %d: %d of its %d %s exist",
						p, present, t - s, pr->topic ? "records" : "messages");
		}
	}

	lost = lost_txq + lost_leasedq + lost_log + lost_txg + lost_leasedg;
	dups = dup_txq + dup_log + dup_txg;
	ghost = ghosts[0] + ghosts[1];
	failed = (lost || dups || ghost || queued || lag || dead || gaps || key_misplaced ||
			  part_wrong || mismatched || errors || bad_rows || resurrected || effects_lost ||
			  order_violations || atomicity || stalled);

	printf("crash_test: %.1fs (drain %.1fs), %d queue producers, %d topic producers, %d consumers"
		   " of each kind, %d partitions, connection losses %ld\n",
		   t_checks - t0, t_checks - t_drain, nqprod, ntprod, ncons, npartitions, connection_losses);
	for (i = 0; i < 2; i++)
	{
		ProduceStats *ps = &pstats[i];

		printf("crash_test: %s producers: produced=%ld committed=%ld rolled_back=%ld cut_off=%ld"
			   " in_doubt=%ld (present %ld, absent %ld) transactions=%ld (committed %ld, rolled back %ld,"
			   " cut off %ld, in doubt %ld)\n",
			   i ? "topic" : "queue", ps->produced, ps->committed, ps->aborted, ps->broken,
			   ps->in_doubt, doubt_present[i], doubt_absent[i], ps->txns, ps->txns_committed,
			   ps->txns_aborted, ps->txns_broken, ps->txns_in_doubt);
	}
	for (i = 0; i < NMODES; i++)
	{
		ConsumeStats *cs = &cstats[i];

		if (i == M_TXQ || i == M_TXG)
			printf("crash_test: %s: calls=%ld delivered=%ld processed=%ld commits=%ld rolled_back=%ld"
				   " cut_off=%ld in_doubt=%ld | duplicates=%ld lost=%ld\n",
				   mode_names[i], cs->calls, cs->delivered, cs->processed, cs->commits,
				   cs->rollbacks, cs->broken, cs->in_doubt,
				   i == M_TXQ ? dup_txq : dup_txg, i == M_TXQ ? lost_txq : lost_txg);
		else
			printf("crash_test: %s: calls=%ld delivered=%ld processed=%ld %s=%ld %s=%ld"
				   " cut_off=%ld | redelivered=%ld lost=%ld\n",
				   mode_names[i], cs->calls, cs->delivered, cs->processed,
				   i == M_LEASEDQ ? "acks" : "commits", cs->commits,
				   i == M_LEASEDQ ? "stale_acks" : "lease_lost", cs->stale, cs->broken,
				   i == M_LEASEDQ ? redelivered_leasedq : redelivered_leasedg,
				   i == M_LEASEDQ ? lost_leasedq : lost_leasedg);
	}
	printf("crash_test: topic: records=%ld gaps=%ld duplicates=%ld lost=%ld wrong_partition=%ld"
		   " key_misplaced=%ld | left: queued=%ld dead=%ld lag=%ld\n",
		   log_records, gaps, dup_log, lost_log, part_wrong, key_misplaced, queued, dead, lag);
	printf("crash_test: produced=%ld committed=%ld in_doubt=%ld delivered=%ld"
		   " duplicates(transactional)=%ld redelivered(leased)=%ld lost=%ld from_rolled_back=%ld"
		   " | resurrected=%ld effects_lost=%ld atomicity=%ld offset_mismatch=%ld order=%ld"
		   " bad_rows=%ld errors=%ld stalled=%ld\n",
		   pstats[0].produced + pstats[1].produced, pstats[0].committed + pstats[1].committed,
		   pstats[0].in_doubt + pstats[1].in_doubt,
		   cstats[0].delivered + cstats[1].delivered + cstats[2].delivered + cstats[3].delivered,
		   dups, redelivered_leasedq + redelivered_leasedg, lost, ghost, resurrected,
		   effects_lost, atomicity, mismatched, order_violations, bad_rows, errors, stalled);
	printf("crash_test: %s\n", failed ? "FAILED" : "ok");
	PQfinish(main_cl.c);
	return failed ? 1 : 0;
}
