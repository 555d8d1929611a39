/*
 * group_stress.c - consumer groups on one pgbroker topic, with consumers
 * killed under them.
 *
 * Producers publish in transactions of one to eight records (now and then
 * as one publish_batch), each record to a partition of their choosing;
 * about one transaction in eight rolls back.  Every payload names its
 * record: {"p": producer, "s": sequence number}.  The groups are created at
 * 'earliest' before anything is published.
 *
 * Each group has its own consumers, in one of two modes:
 *
 * transactional: BEGIN; poll (now and then twice); COMMIT.  The records
 *     count as processed only once COMMIT has succeeded; about one
 *     transaction in eight rolls back on purpose, and those records must
 *     come back.  When the connection is lost at COMMIT the outcome is
 *     looked up with pg_xact_status.  Every committed record must be
 *     processed exactly once by the group, and per partition the committed
 *     polls must follow one another: offsets 0, 1, 2, ... up to the end,
 *     each exactly once.
 *
 * leased: poll with a consumer name and a two-second lease (autocommit),
 *     count the records as processed, then commit the next offset of each
 *     partition (one commit per partition, or one commit of the records;
 *     a commit cut off by a lost connection is tried again).  Now and then
 *     a consumer skips the commit, takes longer than its lease (its commit
 *     may then fail with PB001: someone else took the partition over),
 *     extends its lease halfway, or "crashes" before processing what it
 *     got: those records do not count, and it stays away for longer than
 *     the lease, so that they must be handed out again.  Every committed
 *     record must be processed at least once; within one poll the offsets
 *     of a partition must increase, one by one.
 *
 * A killer thread terminates a random consumer's backend every --kill-every
 * milliseconds (pg_terminate_backend from its own connection); the consumer
 * reconnects, under the same name, and carries on.  A killed transaction is
 * a rolled-back one.
 *
 * No group may ever see a record of a rolled-back transaction.  Once the
 * producers are done the consumers go on until every group has processed
 * every committed record, or nothing has moved for STALL_SECS seconds.
 * At the end the transactional groups must show no lag in
 * broker.consumer_lag.  Exit status 0 when all of that holds, 1 when it
 * does not (or a statement fails unexpectedly), 2 when the server cannot be
 * reached.
 *
 * Connection parameters come from the usual PG* environment variables.
 *
 * usage: group_stress [--producers N] [--groups N] [--consumers N]
 *                     [--partitions N] [--records N]
 *                     [--mode transactional|leased|both] [--kill-every MS]
 *                     [--seed N] [--topic NAME]
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "libpq-fe.h"

#define MAX_TXN		8			/* records per producer transaction */
#define MAX_POLL	50			/* max_records of a poll: 1..MAX_POLL */
#define MAX_REPORT	20			/* problems of one kind printed in full */
#define STALL_SECS	20			/* give up after this long without progress */
#define LEASE		"2 seconds"
#define LEASE_MS	2000

/* leased consumers, per thousand polls: */
#define CRASH		3			/* die before processing; back after the lease */
#define OVERSLEEP	(CRASH + 6) /* commit after the lease ran out */
#define EXTEND		(OVERSLEEP + 3) /* take long, but extend the lease halfway */
#define SKIP		(EXTEND + 60)	/* no commit this time */

enum
{
	REC_PENDING = 0,			/* not yet published, or transaction open */
	REC_COMMITTED,
	REC_ABORTED					/* its transaction rolled back */
};

/* outcome of a consumer's statement */
enum
{
	Q_OK,
	Q_LOST,						/* connection gone (terminated) */
	Q_LEASE_LOST,				/* SQLSTATE PB001 */
	Q_ERROR						/* anything else: reported and counted */
};

enum
{
	MODE_TRANSACTIONAL,
	MODE_LEASED,
	MODE_BOTH
};

typedef struct
{
	long		first;
	long		last;
} Segment;

typedef struct
{
	int			leased;
	char		name[16];
	long		delivered;		/* rows returned by polls */
	long		processed;		/* rows counted as processed */
	long		redelivered;	/* leased: processed again */
	long		polls;
	long		rollbacks;		/* transactional: rolled back on purpose */
	long		killed_in_txn;	/* transactional: connection lost in a transaction */
	long		in_doubt;		/* transactional: lost at COMMIT, found committed */
	long		commits;		/* leased: successful broker.commit calls */
	long		lease_lost;		/* leased: PB001 */
	long		skipped;		/* leased: polls not committed */
	long		overslept;		/* leased: took longer than the lease */
	long		extended;		/* leased: extend_lease calls that worked */
	long		crashes;		/* leased: dropped out for longer than the lease */
	long		kills;
	/* transactional: committed runs of offsets, per partition */
	Segment   **segs;
	int		   *nsegs;
	int		   *maxsegs;
	/* filled in at the end */
	long		lost;
	long		dups;
	long		from_aborted;
	long		lag;
	long		lag_rows;
	double		done_at;		/* seconds into the run it had everything */
} Group;

typedef struct
{
	int			g;				/* group */
	int			k;				/* consumer number within the group */
	char		name[32];
	int			pid;			/* its backend, 0 while disconnected */
	unsigned	seed;
} Consumer;

/* a record received in a transaction still open */
typedef struct
{
	int			slot;
	int			partition;
	long		offset;
} Pending;

static int	nproducers = 3;
static int	ngroups = 2;
static int	nconsumers = 3;		/* per group */
static int	npartitions = 4;
static int	nrecords = 20000;	/* attempted per run, split among producers */
static int	mode = MODE_BOTH;
static int	kill_every = 300;	/* ms; 0: no killer */
static unsigned seed0 = 1;
static const char *topic = "group_stress";

static int	per_producer;
static int	nslots;
static unsigned char *state;	/* [p * per_producer + s]: REC_* */
static int *part_of;			/* partition each record was published to */
static int *seen;				/* [g * nslots + slot]: times group g processed it */
static int *off_slot;			/* [partition * nslots + offset]: slot, -1 unknown */
static Group *groups;
static Consumer *consumers;

static long *committed_in;		/* committed records per partition */
static long *final_end;			/* latest_offset per partition after producers */
static long total_committed = 0;
static long total_aborted = 0;
static long txns = 0;
static long txn_rollbacks = 0;
static long batches = 0;
static long kills = 0;
static long reconnects = 0;
static volatile int stop = 0;

/* problems, counted under report_mu */
static long order_violations = 0;
static long bad_rows = 0;
static long errors = 0;
static long dup_reports = 0;
static long stalled = 0;
static long bad_end = 0;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t report_mu = PTHREAD_MUTEX_INITIALIZER;

static PGconn *
connect_db(void)
{
	PGconn	   *c = PQconnectdb("");

	if (PQstatus(c) != CONNECTION_OK)
	{
		fprintf(stderr, "group_stress: connection failed: %s", PQerrorMessage(c));
		exit(2);
	}
	return c;
}

static PGresult *
run(PGconn *c, const char *sql, int nparams, const char *const *params)
{
	PGresult   *r = PQexecParams(c, sql, nparams, NULL, params, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(r);

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
	{
		fprintf(stderr, "group_stress: %s: %s", sql,
				r ? PQresultErrorMessage(r) : PQerrorMessage(c));
		exit(PQstatus(c) == CONNECTION_BAD ? 2 : 1);
	}
	return r;
}

static void
cmd(PGconn *c, const char *sql)
{
	PQclear(run(c, sql, 0, NULL));
}

static double
now_secs(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* sleep ms milliseconds, or less if the run is stopping */
static void
nap(int ms)
{
	while (ms > 0 && !stop)
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
static void problem(long *counter, long howmany, const char *who, const char *fmt,...)
			__attribute__((format(printf, 4, 5)));

static void
problem(long *counter, long howmany, const char *who, const char *fmt,...)
{
	long		before;
	va_list		ap;

	pthread_mutex_lock(&report_mu);
	before = *counter;
	*counter += howmany;
	if (before < MAX_REPORT)
	{
		fprintf(stderr, "group_stress: %s: ", who);
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
		fputc('\n', stderr);
	}
	pthread_mutex_unlock(&report_mu);
}

/* ---------------------------------------------------------------- producers */

static void
publish_one(PGconn *c, int p, int s, int partition)
{
	char		payload[64];
	char		pbuf[16];
	const char *params[3];

	snprintf(payload, sizeof(payload), "{\"p\": %d, \"s\": %d}", p, s);
	snprintf(pbuf, sizeof(pbuf), "%d", partition);
	params[0] = topic;
	params[1] = payload;
	params[2] = pbuf;
	PQclear(run(c, "SELECT broker.publish($1, $2::jsonb, partition => $3::int)",
				3, params));
}

static void
publish_batch(PGconn *c, int p, int first, int n, int partition)
{
	char		payloads[MAX_TXN * 40 + 8];
	char		pbuf[16];
	char	   *w = payloads;
	const char *params[3];
	int			i;

	w += sprintf(w, "{");
	for (i = 0; i < n; i++)
		w += sprintf(w, "%s\"{\\\"p\\\": %d, \\\"s\\\": %d}\"", i ? "," : "", p, first + i);
	sprintf(w, "}");
	snprintf(pbuf, sizeof(pbuf), "%d", partition);
	params[0] = topic;
	params[1] = payloads;
	params[2] = pbuf;
	PQclear(run(c, "SELECT broker.publish_batch($1, $2::jsonb[], partition => $3::int)",
				3, params));
}

static void *
producer(void *arg)
{
	int			p = (int) (long) arg;
	unsigned	seed = seed0 * 7919 + p;
	PGconn	   *c = connect_db();
	int			s = 0;

	while (s < per_producer)
	{
		int			n = 1 + rand_r(&seed) % MAX_TXN;
		int			abort = (rand_r(&seed) % 8 == 0);
		int			batch = (rand_r(&seed) % 6 == 0);
		int			first = s;
		int			i;

		if (n > per_producer - s)
			n = per_producer - s;

		cmd(c, "BEGIN");
		if (batch)
		{
			int			partition = rand_r(&seed) % npartitions;

			pthread_mutex_lock(&mu);
			for (i = 0; i < n; i++)
				part_of[p * per_producer + first + i] = partition;
			batches++;
			pthread_mutex_unlock(&mu);
			publish_batch(c, p, first, n, partition);
		}
		else
		{
			for (i = 0; i < n; i++)
			{
				int			partition = rand_r(&seed) % npartitions;

				pthread_mutex_lock(&mu);
				part_of[p * per_producer + first + i] = partition;
				pthread_mutex_unlock(&mu);
				publish_one(c, p, first + i, partition);
			}
		}
		if (rand_r(&seed) % 4 == 0)
			usleep(rand_r(&seed) % 3000);	/* commit late */
		cmd(c, abort ? "ROLLBACK" : "COMMIT");

		pthread_mutex_lock(&mu);
		txns++;
		if (abort)
			txn_rollbacks++;
		for (i = 0; i < n; i++)
		{
			int			slot = p * per_producer + first + i;

			if (abort)
			{
				state[slot] = REC_ABORTED;
				total_aborted++;
			}
			else
			{
				state[slot] = REC_COMMITTED;
				committed_in[part_of[slot]]++;
				total_committed++;
			}
		}
		pthread_mutex_unlock(&mu);
		s += n;
	}
	PQfinish(c);
	return NULL;
}

/* ---------------------------------------------------------------- consumers */

/* the server's goodbye to a killed connection is expected: keep it quiet */
static void
consumer_notice(void *arg, const char *message)
{
	if (strstr(message, "terminating connection") == NULL)
		fprintf(stderr, "%s", message);
}

static PGconn *
consumer_connect(Consumer *cs)
{
	PGconn	   *c = NULL;
	int			i;

	for (i = 0;; i++)
	{
		c = PQconnectdb("");
		if (PQstatus(c) == CONNECTION_OK)
			break;
		if (i == 200)
		{
			fprintf(stderr, "group_stress: %s: cannot reconnect: %s",
					cs->name, PQerrorMessage(c));
			exit(2);
		}
		PQfinish(c);
		usleep(50000);
	}
	PQsetNoticeProcessor(c, consumer_notice, NULL);
	pthread_mutex_lock(&mu);
	cs->pid = PQbackendPID(c);
	pthread_mutex_unlock(&mu);
	return c;
}

static PGconn *
consumer_reconnect(Consumer *cs, PGconn *c)
{
	pthread_mutex_lock(&mu);
	cs->pid = 0;
	reconnects++;
	pthread_mutex_unlock(&mu);
	PQfinish(c);
	return consumer_connect(cs);
}

/*
 * Run one statement for a consumer.  A lost connection and PB001 are
 * expected; anything else is reported and counted as an error.
 */
static int
try_run(PGconn *c, const char *who, const char *sql, int nparams,
		const char *const *params, PGresult **out)
{
	PGresult   *r = PQexecParams(c, sql, nparams, NULL, params, NULL, NULL, 0);
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
	if (PQstatus(c) == CONNECTION_BAD ||
		(sqlstate && strcmp(sqlstate, "57P01") == 0))
	{
		PQclear(r);
		return Q_LOST;
	}
	if (sqlstate && strcmp(sqlstate, "PB001") == 0)
	{
		PQclear(r);
		return Q_LEASE_LOST;
	}
	snprintf(msg, sizeof(msg), "%s", r ? PQresultErrorMessage(r) : PQerrorMessage(c));
	len = strlen(msg);
	while (len > 0 && msg[len - 1] == '\n')
		msg[--len] = '\0';
	problem(&errors, 1, who, "%s: [%s] %s", sql, sqlstate ? sqlstate : "-----", msg);
	PQclear(r);
	return Q_ERROR;
}

/*
 * Check one row of a poll (partition, offset_id, payload->>'p',
 * payload->>'s') and return the record's slot, or -1 if it is not one of
 * ours.  Also checks that an offset always holds the same record, and
 * that the record is in the partition it was published to.
 */
static int
row_slot(PGresult *res, int row, const char *who, int *partition, long *offset)
{
	int			rp = atoi(PQgetvalue(res, row, 0));
	long		off = atol(PQgetvalue(res, row, 1));
	int			p,
				s,
				slot,
				known;

	*partition = rp;
	*offset = off;
	if (rp < 0 || rp >= npartitions || off < 0 || off >= nslots)
	{
		problem(&bad_rows, 1, who, "row with partition %d offset %ld", rp, off);
		return -1;
	}
	if (PQgetisnull(res, row, 2) || PQgetisnull(res, row, 3))
	{
		problem(&bad_rows, 1, who, "partition %d offset %ld: payload is not one of ours", rp, off);
		return -1;
	}
	p = atoi(PQgetvalue(res, row, 2));
	s = atoi(PQgetvalue(res, row, 3));
	if (p < 0 || p >= nproducers || s < 0 || s >= per_producer)
	{
		problem(&bad_rows, 1, who, "partition %d offset %ld: unknown record p=%d s=%d", rp, off, p, s);
		return -1;
	}
	slot = p * per_producer + s;

	pthread_mutex_lock(&mu);
	known = off_slot[rp * nslots + off];
	if (known < 0)
		off_slot[rp * nslots + off] = slot;
	if (part_of[slot] != rp)
		problem(&bad_rows, 1, who, "record p=%d s=%d published to partition %d, delivered in %d",
				p, s, part_of[slot], rp);
	pthread_mutex_unlock(&mu);
	if (known >= 0 && known != slot)
		problem(&bad_rows, 1, who, "partition %d offset %ld: record p=%d s=%d, earlier p=%d s=%d",
				rp, off, p, s, known / per_producer, known % per_producer);
	return slot;
}

static void
add_segment(Group *gr, int partition, long first, long last)
{
	if (gr->nsegs[partition] == gr->maxsegs[partition])
	{
		gr->maxsegs[partition] = gr->maxsegs[partition] ? 2 * gr->maxsegs[partition] : 256;
		gr->segs[partition] = realloc(gr->segs[partition],
									  sizeof(Segment) * gr->maxsegs[partition]);
	}
	gr->segs[partition][gr->nsegs[partition]].first = first;
	gr->segs[partition][gr->nsegs[partition]].last = last;
	gr->nsegs[partition]++;
}

/* a transaction of a transactional consumer committed: count its records */
static void
transaction_committed(Consumer *cs, Pending *pend, int npend)
{
	Group	   *gr = &groups[cs->g];
	long	   *first = malloc(sizeof(long) * npartitions);
	long	   *last = malloc(sizeof(long) * npartitions);
	int			i;

	for (i = 0; i < npartitions; i++)
		first[i] = last[i] = -1;

	pthread_mutex_lock(&mu);
	for (i = 0; i < npend; i++)
	{
		int			part = pend[i].partition;

		if (seen[cs->g * nslots + pend[i].slot]++ > 0)
			problem(&dup_reports, 1, cs->name,
					"record p=%d s=%d (partition %d offset %ld) processed again",
					pend[i].slot / per_producer, pend[i].slot % per_producer,
					part, pend[i].offset);
		gr->processed++;

		/* committed runs of consecutive offsets */
		if (first[part] >= 0 && pend[i].offset == last[part] + 1)
			last[part] = pend[i].offset;
		else
		{
			if (first[part] >= 0)
				add_segment(gr, part, first[part], last[part]);
			first[part] = last[part] = pend[i].offset;
		}
	}
	for (i = 0; i < npartitions; i++)
		if (first[i] >= 0)
			add_segment(gr, i, first[i], last[i]);
	pthread_mutex_unlock(&mu);
	free(first);
	free(last);
}

/*
 * The connection went while COMMIT was on its way: ask a new connection
 * what became of the transaction.
 */
static int
xact_committed(Consumer *cs, PGconn **c, const char *xid)
{
	for (;;)
	{
		const char *params[1] = {xid};
		PGresult   *r;
		int			q = try_run(*c, cs->name, "SELECT pg_xact_status($1::xid8)", 1, params, &r);
		char		status[32];

		if (q == Q_LOST)
		{
			*c = consumer_reconnect(cs, *c);
			continue;
		}
		if (q != Q_OK)
			return -1;
		snprintf(status, sizeof(status), "%s", PQgetvalue(r, 0, 0));
		PQclear(r);
		if (strcmp(status, "committed") == 0)
			return 1;
		if (strcmp(status, "aborted") == 0)
			return 0;
		usleep(10000);			/* in progress: the old backend is still on its way out */
	}
}

static void
transactional_consumer(Consumer *cs)
{
	Group	   *gr = &groups[cs->g];
	PGconn	   *c = consumer_connect(cs);
	Pending    *pend = malloc(sizeof(Pending) * 2 * MAX_POLL);
	long	   *next = malloc(sizeof(long) * npartitions);
	const char *poll_sql =
		"SELECT partition, offset_id, payload->>'p', payload->>'s', pg_current_xact_id()::text"
		" FROM broker.poll($1, $2, $3::int, $4::interval)";
	int			idle = 0;

	while (!stop)
	{
		int			npolls = (rand_r(&cs->seed) % 10 == 0) ? 2 : 1;
		int			npend = 0;
		int			q = Q_OK;
		int			i,
					k;
		char		xid[32] = "";
		int			abort;
		PGresult   *res;

		q = try_run(c, cs->name, "BEGIN", 0, NULL, NULL);
		if (q == Q_LOST)
		{
			c = consumer_reconnect(cs, c);
			continue;
		}
		if (q != Q_OK)
			continue;

		for (i = 0; i < npartitions; i++)
			next[i] = -1;
		for (k = 0; k < npolls; k++)
		{
			char		mbuf[16];
			const char *params[4];
			int			max_records = 1 + rand_r(&cs->seed) % MAX_POLL;
			int			n;

			snprintf(mbuf, sizeof(mbuf), "%d", max_records);
			params[0] = topic;
			params[1] = gr->name;
			params[2] = mbuf;
			params[3] = idle ? "100 milliseconds" : "0";
			q = try_run(c, cs->name, poll_sql, 4, params, &res);
			if (q != Q_OK)
				break;
			n = PQntuples(res);
			if (n > max_records)
				problem(&bad_rows, 1, cs->name, "poll returned %d rows, asked for at most %d",
						n, max_records);
			for (i = 0; i < n && npend < 2 * MAX_POLL; i++)
			{
				int			part;
				long		off;
				int			slot = row_slot(res, i, cs->name, &part, &off);

				if (slot < 0)
					continue;
				/* within the transaction a partition goes on where it was */
				if (next[part] >= 0 && off != next[part])
					problem(&order_violations, 1, cs->name,
							"partition %d: offset %ld after %ld in one transaction",
							part, off, next[part] - 1);
				next[part] = off + 1;
				pend[npend].slot = slot;
				pend[npend].partition = part;
				pend[npend].offset = off;
				npend++;
				if (!PQgetisnull(res, i, 4))
					snprintf(xid, sizeof(xid), "%s", PQgetvalue(res, i, 4));
			}
			pthread_mutex_lock(&mu);
			gr->delivered += n;
			gr->polls++;
			pthread_mutex_unlock(&mu);
			PQclear(res);
			idle = (n == 0);
			if (n == 0)
				break;
		}
		if (q == Q_LOST)
		{
			pthread_mutex_lock(&mu);
			gr->killed_in_txn++;
			pthread_mutex_unlock(&mu);
			c = consumer_reconnect(cs, c);
			continue;
		}
		if (q != Q_OK)
		{
			if (q == Q_LEASE_LOST)
				problem(&errors, 1, cs->name, "poll without a lease failed with PB001");
			if (try_run(c, cs->name, "ROLLBACK", 0, NULL, NULL) == Q_LOST)
				c = consumer_reconnect(cs, c);
			continue;
		}

		/* "process" them, now and then slowly */
		if (npend > 0 && rand_r(&cs->seed) % 4 == 0)
			usleep((rand_r(&cs->seed) % 10) * 1000);

		abort = (npend > 0 && rand_r(&cs->seed) % 8 == 0);
		if (abort)
		{
			q = try_run(c, cs->name, "ROLLBACK", 0, NULL, NULL);
			pthread_mutex_lock(&mu);
			if (q == Q_LOST)
				gr->killed_in_txn++;
			else
				gr->rollbacks++;
			pthread_mutex_unlock(&mu);
			if (q == Q_LOST)
				c = consumer_reconnect(cs, c);
			continue;
		}

		q = try_run(c, cs->name, "COMMIT", 0, NULL, &res);
		if (q == Q_OK)
		{
			if (strcmp(PQcmdStatus(res), "COMMIT") == 0)
				transaction_committed(cs, pend, npend);
			else
				problem(&errors, 1, cs->name, "COMMIT answered %s", PQcmdStatus(res));
			PQclear(res);
		}
		else if (q == Q_LOST)
		{
			int			outcome = 0;

			c = consumer_reconnect(cs, c);
			if (npend > 0 && xid[0] != '\0')
				outcome = xact_committed(cs, &c, xid);
			pthread_mutex_lock(&mu);
			if (outcome == 1)
				gr->in_doubt++;
			else
				gr->killed_in_txn++;
			pthread_mutex_unlock(&mu);
			if (outcome == 1)
				transaction_committed(cs, pend, npend);
		}
	}
	free(pend);
	free(next);
	PQfinish(c);
}

/* commit what one poll returned: the next offset of each partition in it */
static int
commit_poll(Consumer *cs, PGconn *c, const long *last, PGresult *res, int use_records)
{
	Group	   *gr = &groups[cs->g];
	int			q = Q_OK;
	int			i;

	if (use_records)
	{
		/* broker.commit(topic, group, ARRAY[$4::broker.record, ...], consumer) */
		int			n = PQntuples(res);
		const char **params = malloc(sizeof(char *) * (n + 3));
		char	   *sql = malloc(128 + 24 * n);
		char	   *w = sql;

		w += sprintf(w, "SELECT broker.commit($1, $2, ARRAY[");
		for (i = 0; i < n; i++)
		{
			w += sprintf(w, "%s$%d::broker.record", i ? ", " : "", i + 4);
			params[i + 3] = PQgetvalue(res, i, 4);
		}
		sprintf(w, "], $3)");
		params[0] = topic;
		params[1] = gr->name;
		params[2] = cs->name;
		q = try_run(c, cs->name, sql, n + 3, params, NULL);
		free(params);
		free(sql);
		if (q == Q_OK)
		{
			pthread_mutex_lock(&mu);
			gr->commits++;
			pthread_mutex_unlock(&mu);
		}
		return q;
	}

	for (i = 0; i < npartitions; i++)
	{
		char		pbuf[16];
		char		obuf[24];
		const char *params[5];

		if (last[i] < 0)
			continue;
		snprintf(pbuf, sizeof(pbuf), "%d", i);
		snprintf(obuf, sizeof(obuf), "%ld", last[i] + 1);
		params[0] = topic;
		params[1] = gr->name;
		params[2] = pbuf;
		params[3] = obuf;
		params[4] = cs->name;
		q = try_run(c, cs->name, "SELECT broker.commit($1, $2, $3::int, $4::bigint, $5)",
					5, params, NULL);
		if (q == Q_LEASE_LOST)
		{
			pthread_mutex_lock(&mu);
			gr->lease_lost++;
			pthread_mutex_unlock(&mu);
			continue;			/* the other partitions may still be ours */
		}
		if (q != Q_OK)
			return q;
		pthread_mutex_lock(&mu);
		gr->commits++;
		pthread_mutex_unlock(&mu);
	}
	return Q_OK;
}

static void
leased_consumer(Consumer *cs)
{
	Group	   *gr = &groups[cs->g];
	PGconn	   *c = consumer_connect(cs);
	long	   *last = malloc(sizeof(long) * npartitions);
	const char *poll_sql =
		"SELECT partition, offset_id, payload->>'p', payload->>'s', r::text"
		" FROM broker.poll($1, $2, $3::int, $4::interval, $5, $6::interval) r";
	int			idle = 0;

	while (!stop)
	{
		char		mbuf[16];
		const char *params[6];
		int			max_records = 1 + rand_r(&cs->seed) % MAX_POLL;
		PGresult   *res;
		int			q,
					n,
					i,
					what,
					use_records;

		snprintf(mbuf, sizeof(mbuf), "%d", max_records);
		params[0] = topic;
		params[1] = gr->name;
		params[2] = mbuf;
		params[3] = idle ? "200 milliseconds" : "0";
		params[4] = cs->name;
		params[5] = LEASE;
		q = try_run(c, cs->name, poll_sql, 6, params, &res);
		if (q == Q_LOST)
		{
			c = consumer_reconnect(cs, c);
			continue;
		}
		if (q == Q_LEASE_LOST)
		{
			pthread_mutex_lock(&mu);
			gr->lease_lost++;
			pthread_mutex_unlock(&mu);
			continue;
		}
		if (q != Q_OK)
		{
			usleep(10000);
			continue;
		}

		n = PQntuples(res);
		if (n > max_records)
			problem(&bad_rows, 1, cs->name, "poll returned %d rows, asked for at most %d",
					n, max_records);
		for (i = 0; i < npartitions; i++)
			last[i] = -1;
		/*
		 * Now and then the consumer dies before processing what it got: the
		 * records do not count, nothing is committed, and it stays away for
		 * longer than its lease, so the group must hand them out again.
		 */
		what = n > 0 ? rand_r(&cs->seed) % 1000 : 1000;
		for (i = 0; i < n; i++)
		{
			int			part;
			long		off;
			int			slot = row_slot(res, i, cs->name, &part, &off);

			if (slot < 0)
				continue;
			/* a poll hands out a partition's records in a row */
			if (last[part] >= 0 && off != last[part] + 1)
				problem(&order_violations, 1, cs->name,
						"partition %d: offset %ld after %ld in one poll", part, off, last[part]);
			last[part] = off;
			if (what < CRASH)
				continue;
			/* process: at least once */
			pthread_mutex_lock(&mu);
			if (seen[cs->g * nslots + slot]++ > 0)
				gr->redelivered++;
			gr->processed++;
			pthread_mutex_unlock(&mu);
		}
		pthread_mutex_lock(&mu);
		gr->delivered += n;
		gr->polls++;
		pthread_mutex_unlock(&mu);
		idle = (n == 0);
		if (n == 0)
		{
			PQclear(res);
			continue;
		}

		if (what < CRASH)
		{
			/* crashed: back after the lease ran out, under the same name */
			PQclear(res);
			pthread_mutex_lock(&mu);
			gr->crashes++;
			cs->pid = 0;
			pthread_mutex_unlock(&mu);
			PQfinish(c);
			nap(LEASE_MS + 500);
			c = consumer_connect(cs);
			continue;
		}
		else if (what < OVERSLEEP)
		{
			/* too slow: the lease runs out before the commit */
			pthread_mutex_lock(&mu);
			gr->overslept++;
			pthread_mutex_unlock(&mu);
			nap(LEASE_MS + 800);
		}
		else if (what < EXTEND)
		{
			/* slow, but keeps the lease */
			const char *eparams[3];

			nap(LEASE_MS * 6 / 10);
			eparams[0] = topic;
			eparams[1] = gr->name;
			eparams[2] = cs->name;
			while ((q = try_run(c, cs->name,
								"SELECT broker.extend_lease($1, $2, $3, '" LEASE "'::interval)",
								3, eparams, NULL)) == Q_LOST && !stop)
				c = consumer_reconnect(cs, c);
			if (q == Q_LOST)
				c = consumer_reconnect(cs, c);
			pthread_mutex_lock(&mu);
			if (q == Q_OK)
				gr->extended++;
			else if (q == Q_LEASE_LOST)
				gr->lease_lost++;
			pthread_mutex_unlock(&mu);
			nap(LEASE_MS * 6 / 10);
		}
		else if (what < SKIP)
		{
			/* no commit this time */
			PQclear(res);
			pthread_mutex_lock(&mu);
			gr->skipped++;
			pthread_mutex_unlock(&mu);
			continue;
		}

		/* a commit cut off by a lost connection is tried again */
		use_records = (rand_r(&cs->seed) % 3 == 0);
		while ((q = commit_poll(cs, c, last, res, use_records)) == Q_LOST && !stop)
			c = consumer_reconnect(cs, c);
		PQclear(res);
		if (q == Q_LOST)
			c = consumer_reconnect(cs, c);
		else if (q == Q_LEASE_LOST)
		{
			pthread_mutex_lock(&mu);
			gr->lease_lost++;
			pthread_mutex_unlock(&mu);
		}
	}
	free(last);
	PQfinish(c);
}

static void *
consumer(void *arg)
{
	Consumer   *cs = (Consumer *) arg;

	if (groups[cs->g].leased)
		leased_consumer(cs);
	else
		transactional_consumer(cs);
	return NULL;
}

static void *
killer(void *arg)
{
	unsigned	seed = seed0 * 31337;
	PGconn	   *c = connect_db();

	cmd(c, "SET client_min_messages = error");
	while (!stop)
	{
		int			k = rand_r(&seed) % (ngroups * nconsumers);
		int			pid;
		char		pbuf[16];
		const char *params[1];
		PGresult   *r;

		nap(kill_every);
		if (stop)
			break;
		pthread_mutex_lock(&mu);
		pid = consumers[k].pid;
		pthread_mutex_unlock(&mu);
		if (pid == 0)
			continue;
		snprintf(pbuf, sizeof(pbuf), "%d", pid);
		params[0] = pbuf;
		r = run(c, "SELECT pg_terminate_backend($1::int)", 1, params);
		if (strcmp(PQgetvalue(r, 0, 0), "t") == 0)
		{
			pthread_mutex_lock(&mu);
			kills++;
			groups[consumers[k].g].kills++;
			pthread_mutex_unlock(&mu);
		}
		PQclear(r);
	}
	PQfinish(c);
	return NULL;
}

/* ---------------------------------------------------------------- main */

/* committed records group g has processed at least once */
static long
covered(int g)
{
	long		n = 0;
	int			i;

	for (i = 0; i < nslots; i++)
		if (state[i] == REC_COMMITTED && seen[g * nslots + i] > 0)
			n++;
	return n;
}

static int
cmp_segment(const void *a, const void *b)
{
	const Segment *x = a;
	const Segment *y = b;

	return (x->first > y->first) - (x->first < y->first);
}

int
main(int argc, char **argv)
{
	pthread_t  *producers;
	pthread_t  *threads;
	pthread_t	killer_thread;
	PGconn	   *c;
	int			i,
				g,
				nthreads;
	long		lost = 0,
				dups = 0,
				from_aborted = 0,
				lease_lost = 0,
				bad_lag = 0;
	double		t0 = now_secs();
	double		last_progress;
	double		t_produced;
	long		last_covered = -1;
	int			failed;

	for (i = 1; i < argc; i++)
	{
		if (strcmp(argv[i], "--producers") == 0 && i + 1 < argc)
			nproducers = atoi(argv[++i]);
		else if (strcmp(argv[i], "--groups") == 0 && i + 1 < argc)
			ngroups = atoi(argv[++i]);
		else if (strcmp(argv[i], "--consumers") == 0 && i + 1 < argc)
			nconsumers = atoi(argv[++i]);
		else if (strcmp(argv[i], "--partitions") == 0 && i + 1 < argc)
			npartitions = atoi(argv[++i]);
		else if (strcmp(argv[i], "--records") == 0 && i + 1 < argc)
			nrecords = atoi(argv[++i]);
		else if (strcmp(argv[i], "--kill-every") == 0 && i + 1 < argc)
			kill_every = atoi(argv[++i]);
		else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
			seed0 = (unsigned) atoi(argv[++i]);
		else if (strcmp(argv[i], "--topic") == 0 && i + 1 < argc)
			topic = argv[++i];
		else if (strcmp(argv[i], "--mode") == 0 && i + 1 < argc)
		{
			i++;
			if (strcmp(argv[i], "transactional") == 0)
				mode = MODE_TRANSACTIONAL;
			else if (strcmp(argv[i], "leased") == 0)
				mode = MODE_LEASED;
			else if (strcmp(argv[i], "both") == 0)
				mode = MODE_BOTH;
			else
			{
				fprintf(stderr, "group_stress: --mode is transactional, leased or both\n");
				return 1;
			}
		}
		else
		{
			fprintf(stderr, "usage: group_stress [--producers N] [--groups N] [--consumers N]\n"
					"                    [--partitions N] [--records N]\n"
					"                    [--mode transactional|leased|both] [--kill-every MS]\n"
					"                    [--seed N] [--topic NAME]\n");
			return 1;
		}
	}
	if (nproducers < 1 || ngroups < 1 || nconsumers < 1 || npartitions < 1 ||
		nrecords < nproducers || kill_every < 0)
	{
		fprintf(stderr, "group_stress: bad counts\n");
		return 1;
	}
	per_producer = nrecords / nproducers;
	nslots = nproducers * per_producer;
	state = calloc(nslots, 1);
	part_of = calloc(nslots, sizeof(int));
	seen = calloc((size_t) ngroups * nslots, sizeof(int));
	off_slot = malloc(sizeof(int) * (size_t) npartitions * nslots);
	for (i = 0; i < npartitions * nslots; i++)
		off_slot[i] = -1;
	committed_in = calloc(npartitions, sizeof(long));
	final_end = calloc(npartitions, sizeof(long));
	groups = calloc(ngroups, sizeof(Group));
	for (g = 0; g < ngroups; g++)
	{
		Group	   *gr = &groups[g];

		gr->leased = (mode == MODE_LEASED || (mode == MODE_BOTH && g % 2 == 1));
		snprintf(gr->name, sizeof(gr->name), "g%d", g);
		gr->segs = calloc(npartitions, sizeof(Segment *));
		gr->nsegs = calloc(npartitions, sizeof(int));
		gr->maxsegs = calloc(npartitions, sizeof(int));
	}
	consumers = calloc((size_t) ngroups * nconsumers, sizeof(Consumer));
	for (i = 0; i < ngroups * nconsumers; i++)
	{
		Consumer   *cs = &consumers[i];

		cs->g = i / nconsumers;
		cs->k = i % nconsumers;
		snprintf(cs->name, sizeof(cs->name), "g%d-c%d", cs->g, cs->k);
		cs->seed = seed0 * 104729 + i;
	}

	c = connect_db();
	{
		char		nbuf[16];
		const char *params[3];

		snprintf(nbuf, sizeof(nbuf), "%d", npartitions);
		params[0] = topic;
		params[1] = nbuf;
		cmd(c, "SET client_min_messages = warning");
		cmd(c, "CREATE EXTENSION IF NOT EXISTS pgbroker");
		PQclear(run(c, "SELECT broker.drop_topic($1, if_exists => true)", 1, params));
		PQclear(run(c, "SELECT broker.create_topic($1, partitions => $2::int)", 2, params));
		for (g = 0; g < ngroups; g++)
		{
			params[1] = groups[g].name;
			params[2] = "earliest";
			PQclear(run(c, "SELECT broker.create_group($1, $2, $3)", 3, params));
		}
	}

	nthreads = ngroups * nconsumers;
	threads = malloc(sizeof(pthread_t) * nthreads);
	producers = malloc(sizeof(pthread_t) * nproducers);
	for (i = 0; i < nthreads; i++)
		pthread_create(&threads[i], NULL, consumer, &consumers[i]);
	if (kill_every > 0)
		pthread_create(&killer_thread, NULL, killer, NULL);
	for (i = 0; i < nproducers; i++)
		pthread_create(&producers[i], NULL, producer, (void *) (long) i);
	for (i = 0; i < nproducers; i++)
		pthread_join(producers[i], NULL);
	t_produced = now_secs() - t0;

	/* every producer transaction has ended: the end offsets are final */
	for (i = 0; i < npartitions; i++)
	{
		char		pbuf[16];
		const char *params[2];
		PGresult   *r;

		snprintf(pbuf, sizeof(pbuf), "%d", i);
		params[0] = topic;
		params[1] = pbuf;
		r = run(c, "SELECT broker.latest_offset($1, $2::int)", 2, params);
		final_end[i] = PQgetisnull(r, 0, 0) ? -1 : atol(PQgetvalue(r, 0, 0));
		PQclear(r);
		if (final_end[i] != committed_in[i])
			problem(&bad_end, 1, "end offsets",
					"partition %d: latest_offset %ld, but %ld records committed to it",
					i, final_end[i], committed_in[i]);
	}

	/* let the consumers catch up */
	last_progress = now_secs();
	for (;;)
	{
		long		sum = 0;
		int			done = 1;

		pthread_mutex_lock(&mu);
		for (g = 0; g < ngroups; g++)
		{
			long		n = covered(g);

			sum += n;
			if (n < total_committed)
				done = 0;
			else if (groups[g].done_at == 0)
				groups[g].done_at = now_secs() - t0;
		}
		pthread_mutex_unlock(&mu);
		if (done)
			break;
		if (sum != last_covered)
		{
			last_covered = sum;
			last_progress = now_secs();
		}
		else if (now_secs() - last_progress > STALL_SECS)
		{
			pthread_mutex_lock(&mu);
			for (g = 0; g < ngroups; g++)
				fprintf(stderr, "group_stress: group %s: stuck at %ld of %ld committed records\n",
						groups[g].name, covered(g), total_committed);
			pthread_mutex_unlock(&mu);
			stalled++;
			break;
		}
		usleep(50000);
	}
	stop = 1;
	for (i = 0; i < nthreads; i++)
		pthread_join(threads[i], NULL);
	if (kill_every > 0)
		pthread_join(killer_thread, NULL);

	/* every record, every group */
	for (g = 0; g < ngroups; g++)
	{
		Group	   *gr = &groups[g];

		for (i = 0; i < nslots; i++)
		{
			int			n = seen[g * nslots + i];

			if (n == 0 && state[i] == REC_COMMITTED)
			{
				if (gr->lost < MAX_REPORT)
					fprintf(stderr, "group_stress: group %s never processed record p=%d s=%d (partition %d)\n",
							gr->name, i / per_producer, i % per_producer, part_of[i]);
				gr->lost++;
			}
			if (n > 0 && state[i] != REC_COMMITTED)
			{
				if (gr->from_aborted < MAX_REPORT)
					fprintf(stderr, "group_stress: group %s processed record p=%d s=%d of a rolled-back transaction\n",
							gr->name, i / per_producer, i % per_producer);
				gr->from_aborted++;
			}
			if (n > 1 && !gr->leased)
				gr->dups += n - 1;
		}
		lost += gr->lost;
		from_aborted += gr->from_aborted;
		dups += gr->dups;
		lease_lost += gr->lease_lost;

		if (gr->leased)
			continue;

		/* the committed polls of each partition: 0, 1, 2, ... up to the end */
		for (i = 0; i < npartitions; i++)
		{
			long		expect = 0;
			int			k;

			qsort(gr->segs[i], gr->nsegs[i], sizeof(Segment), cmp_segment);
			for (k = 0; k < gr->nsegs[i]; k++)
			{
				Segment    *sg = &gr->segs[i][k];

				if (sg->first != expect)
					problem(&order_violations, 1, gr->name,
							"partition %d: committed polls cover offsets %ld-%ld next, expected %ld",
							i, sg->first, sg->last, expect);
				if (sg->last + 1 > expect)
					expect = sg->last + 1;
			}
			if (expect != final_end[i])
				problem(&order_violations, 1, gr->name,
						"partition %d: committed polls end at offset %ld, end offset is %ld",
						i, expect, final_end[i]);
		}

		/* nothing left to consume */
		{
			const char *params[2];
			PGresult   *r;
			int			k;

			params[0] = topic;
			params[1] = gr->name;
			r = run(c, "SELECT partition, committed_offset, end_offset, lag"
					" FROM broker.consumer_lag WHERE topic = $1 AND consumer_group = $2"
					" ORDER BY partition", 2, params);
			gr->lag_rows = PQntuples(r);
			for (k = 0; k < PQntuples(r); k++)
			{
				long		lag = PQgetisnull(r, k, 3) ? -1 : atol(PQgetvalue(r, k, 3));

				gr->lag += lag > 0 ? lag : 0;
				if (lag != 0)
				{
					fprintf(stderr, "group_stress: group %s partition %s: committed_offset %s end_offset %s lag %s\n",
							gr->name, PQgetvalue(r, k, 0), PQgetvalue(r, k, 1),
							PQgetvalue(r, k, 2), PQgetvalue(r, k, 3));
					bad_lag++;
				}
			}
			if (gr->lag_rows != npartitions)
			{
				fprintf(stderr, "group_stress: group %s: %ld rows in broker.consumer_lag, %d partitions\n",
						gr->name, gr->lag_rows, npartitions);
				bad_lag++;
			}
			PQclear(r);
		}
	}

	printf("group_stress: %d producers, %d groups x %d consumers, %d partitions, kill every %d ms, "
		   "%.1fs (producers %.1fs)\n",
		   nproducers, ngroups, nconsumers, npartitions, kill_every, now_secs() - t0, t_produced);
	printf("group_stress: produced=%d committed=%ld aborted=%ld transactions=%ld rolled_back=%ld batches=%ld\n",
		   nslots, total_committed, total_aborted, txns, txn_rollbacks, batches);
	printf("group_stress: end offsets:");
	for (i = 0; i < npartitions; i++)
		printf(" %d=%ld/%ld", i, final_end[i], committed_in[i]);
	printf(" (latest_offset/committed)\n");
	for (g = 0; g < ngroups; g++)
	{
		Group	   *gr = &groups[g];

		if (gr->leased)
			printf("group_stress: group %s (leased): polls=%ld delivered=%ld processed=%ld redelivered=%ld "
				   "commits=%ld lease_lost=%ld skipped=%ld overslept=%ld extended=%ld crashes=%ld "
				   "kills=%ld done_at=%.1fs | lost=%ld from_aborted=%ld\n",
				   gr->name, gr->polls, gr->delivered, gr->processed, gr->redelivered,
				   gr->commits, gr->lease_lost, gr->skipped, gr->overslept, gr->extended,
				   gr->crashes, gr->kills, gr->done_at, gr->lost, gr->from_aborted);
		else
			printf("group_stress: group %s (transactional): polls=%ld delivered=%ld processed=%ld "
				   "rolled_back=%ld killed_in_txn=%ld in_doubt_committed=%ld kills=%ld done_at=%.1fs | "
				   "duplicates=%ld lost=%ld from_aborted=%ld lag=%ld\n",
				   gr->name, gr->polls, gr->delivered, gr->processed, gr->rollbacks,
				   gr->killed_in_txn, gr->in_doubt, gr->kills, gr->done_at, gr->dups, gr->lost,
				   gr->from_aborted, gr->lag);
	}
	printf("group_stress: produced=%d committed=%ld duplicates=%ld lost=%ld from_aborted=%ld "
		   "kills=%ld reconnects=%ld lease_lost=%ld order_violations=%ld bad_rows=%ld errors=%ld "
		   "bad_end_offsets=%ld bad_lag=%ld stalled=%ld\n",
		   nslots, total_committed, dups, lost, from_aborted, kills, reconnects, lease_lost,
		   order_violations, bad_rows, errors, bad_end, bad_lag, stalled);

	failed = (dups || dup_reports || lost || from_aborted || order_violations || bad_rows ||
			  errors || bad_end || bad_lag || stalled);
	for (g = 0; g < ngroups; g++)
		if (!groups[g].leased && groups[g].processed != total_committed)
			failed = 1;

	if (!failed)
	{
		const char *params[2];

		params[0] = topic;
		for (g = 0; g < ngroups; g++)
		{
			params[1] = groups[g].name;
			PQclear(run(c, "SELECT broker.delete_group($1, $2)", 2, params));
		}
		PQclear(run(c, "SELECT broker.drop_topic($1)", 1, params));
	}
	else
		fprintf(stderr, "group_stress: topic %s kept for a look\n", topic);
	PQfinish(c);

	printf("group_stress: %s\n", failed ? "FAILED" : "ok");
	return failed ? 1 : 0;
}
