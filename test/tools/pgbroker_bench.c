/*
 * pgbroker_bench.c - throughput and latency of pgbroker queues, with the
 * floor measured in the same run.
 *
 * Every workload runs twice, interleaved: once through pgbroker and once
 * as plain SQL doing the same work on a plain table (the floor), so each
 * figure is also a ratio.  The floor table is
 *   bench_floor(id bigserial primary key, payload jsonb,
 *               created_at timestamptz default now())
 * and its workloads are the ones in the project brief: INSERT of one row,
 * INSERT of 100 rows in one statement, and
 *   DELETE FROM bench_floor WHERE id IN (SELECT id FROM bench_floor
 *     ORDER BY id LIMIT n FOR UPDATE SKIP LOCKED) RETURNING *
 * Every statement is prepared once per connection.
 *
 * Workloads (clients, messages per transaction):
 *   produce-1     8 clients, 1    broker.send           | INSERT one row
 *   produce-100   4 clients, 100  broker.send_batch      | INSERT 100 rows
 *   consume-1     4 clients, 1    claim + ack, one transaction (one
 *                                 statement)             | DELETE ... SKIP LOCKED
 *   consume-100   4 clients, 100  same                   | same
 *   leased-1/100  4 clients       claim (commit), then ack (commit): two
 *                                 transactions, reported beside the others
 * With --held-xmin the consume workloads run again while another session
 * sits idle in a transaction that holds an xid (so VACUUM can remove
 * nothing), for pgbroker and for the floor.
 *
 * Topic workloads, on topics bench_t16 (16 partitions) and bench_t1 (1).
 * Their floor tables are
 *   bench_log_floor(id bigserial primary key, payload jsonb,
 *                   published_at timestamptz default now())
 *   bench_read_floor(part int, off bigint, key text, payload jsonb,
 *                    headers jsonb, published_at timestamptz,
 *                    primary key (part, off))
 *   publish-1-p16 8 clients, 1    broker.publish, no key (sticky partition),
 *                                 on bench_t16           | INSERT one row
 *   publish-1-p1  8 clients, 1    same on bench_t1       | INSERT one row
 *   publish-100   4 clients, 100  broker.publish_batch on bench_t16
 *                                                        | INSERT 100 rows
 *   read-100      4 clients, 100  broker.read of one partition from an
 *                                 offset, advancing; client i reads partitions
 *                                 i, i+4, ... in turn, wrapping to offset 0
 *                                 at the end             | SELECT ... WHERE
 *                                 part = $1 AND off >= $2 ORDER BY off LIMIT 100
 * read-100 reads a topic prefilled with READ_PARTITIONS * READ_PER_PARTITION
 * records (and a floor table with as many rows); its rate (the msg/s
 * column) is records read per second.  Each run starts on a freshly created topic and an empty
 * floor table, as the queue runs start on a purged queue.
 *
 * With --backlog N (N >= 16) the topic workloads run on top of a backlog
 * instead: before the first round, each bench topic the selected workloads
 * use is prefilled once with N records (~100-byte JSON payloads, spread
 * evenly over its partitions, broker.publish_batch(topic, payloads,
 * partition => p) of BACKLOG_BATCH records per statement from
 * BACKLOG_CLIENTS connections, with broker.maintain_topics() every million
 * records so that the backlog lies in segments as maintain() would leave
 * them), and so is each floor table they use (bench_log_floor with N rows,
 * bench_read_floor with the same N (part, off) rows as bench_t16, by
 * INSERT ... SELECT generate_series).  Then VACUUM ANALYZE of the floor
 * tables and the topics' segment tables, and a CHECKPOINT.  No run
 * recreates the topics or empties the floor tables: the publish workloads
 * append on top of the backlog (the check after each publish run counts
 * the backlog and the earlier runs), and read-100 reads the newest
 * 12,500 offsets of the backlog in each partition of bench_t16 (what a
 * consumer that keeps up reads; --read-all: all N / 16 of them) and the
 * same rows of its floor table.
 * The records retained in all topics when the measurement starts are
 * printed to stderr.
 *
 * Consumer-group workloads, on topic bench_g8 (8 partitions), N = 1, 4 and
 * 16 consumers polling up to 100 records at a time.  Their floor table is
 *   bench_group_floor(id bigserial primary key, payload jsonb,
 *                     created_at timestamptz default now())
 *   group-N          N clients DELETE FROM bench_group_floor WHERE id IN
 *                    (SELECT id FROM bench_group_floor ORDER BY id LIMIT 100
 *                    FOR UPDATE SKIP LOCKED) RETURNING *  (the floor of both)
 *   group-tx-N       N clients, BEGIN; broker.poll('bench_g8', 'bench', 100);
 *                    COMMIT: the group's offsets advance with the transaction
 *   group-leased-N   N clients, each a named consumer of group bench_l: one
 *                    statement polls up to 100 records with a 30-second lease
 *                    and commits them with broker.commit(topic, group,
 *                    records, consumer)
 * Before each run, the topic (dropped and created again, with its group at
 * 'earliest') or the floor table (emptied) is prefilled with enough ~100-byte
 * records that the consumers do not run dry: twice what the workload (or
 * its clean run) received in an earlier run, else three times what the
 * fastest run of its kind did, else 250,000 records a second.  The
 * prefill is broker.publish_batch(topic, payloads, partition => p) of
 * BACKLOG_BATCH records per statement from BACKLOG_CLIENTS connections
 * (broker.maintain_topics() every million records), or INSERT ... SELECT
 * generate_series in statements of as many rows; then VACUUM ANALYZE and a
 * CHECKPOINT.  The rate is records received per second; the latencies are
 * those of the polls that returned records (a transactional consumer gets
 * only partitions that no other open transaction of its group holds, a
 * leased one at most its share of them, so with more consumers than
 * partitions some polls return nothing: their number, and the fewest and
 * most records one consumer received, go to stderr).  A run
 * ends early if the consumers received every prefilled record.  After each
 * run, the group's committed offsets must add up to the records received
 * (every poll is committed), and the floor table must hold the rows not
 * received; otherwise the benchmark fails.  With --held-xmin these
 * workloads run again with a session holding an xid, as the consume ones;
 * each held-xmin figure is also given as a share of the clean one.
 * A floor row runs whenever a workload compared with it does.
 *
 * Connection parameters come from the PG* environment variables.
 *
 * usage: pgbroker_bench [--seconds N] [--rounds N] [--held-xmin] [--json]
 *                       [--only WORKLOAD] [--group-batch N] [--backlog N] [--read-all]
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "libpq-fe.h"

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

typedef struct Thread
{
	pthread_t	tid;
	Kind		kind;
	int			batch;
	const char *topic;			/* topic workloads */
	int			index;			/* read-100: this client's number */
	int			clients;		/* read-100: number of clients */
	double		deadline;
	long		messages;
	long		empty;			/* group workloads: empty polls */
	double	   *lat;
	long		nlat;
	long		caplat;
	double		finished_at;
} Thread;

static int	seconds = 10;
static int	rounds = 1;
static int	json = 0;
static int	held = 0;
static const char *only = NULL;
static long backlog = 0;
static int	group_batch = 100;	/* records per poll (and rows per DELETE) */
static volatile int drained = 0;

/* read-100: the records it reads in each partition of bench_t16 */
static long read_start[READ_PARTITIONS];
static long read_end[READ_PARTITIONS];
static int	read_all = 0;

/* records the bench topics (as bench_topics) and bench_log_floor hold */
static long topic_records[2];
static long log_floor_rows;

/* group workloads: records received in the current run, and prefilled */
static long group_received;
static long group_target;
static pthread_mutex_t group_lock = PTHREAD_MUTEX_INITIALIZER;

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static PGconn *
connect_db(void)
{
	PGconn	   *c = PQconnectdb("");

	if (PQstatus(c) != CONNECTION_OK)
	{
		fprintf(stderr, "pgbroker_bench: connection failed: %s", PQerrorMessage(c));
		exit(2);
	}
	return c;
}

static void
check(PGconn *c, PGresult *r, const char *what)
{
	ExecStatusType st = PQresultStatus(r);

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
	{
		fprintf(stderr, "pgbroker_bench: %s: %s", what, PQerrorMessage(c));
		exit(3);
	}
}

static void
cmd(PGconn *c, const char *sql)
{
	PGresult   *r = PQexec(c, sql);

	check(c, r, sql);
	PQclear(r);
}

static void
prepare(PGconn *c, const char *name, const char *sql)
{
	PGresult   *r = PQprepare(c, name, sql, 0, NULL);

	check(c, r, sql);
	PQclear(r);
}

/* A ~100-byte JSON payload. */
static void
payload(char *buf, size_t len, long n)
{
	snprintf(buf, len, "{\"n\": %ld, \"body\": \"%s\"}", n, BENCH_BODY);
}

/* An array literal of n payloads, for jsonb[] parameters. */
static char *
payload_array(int n, long base)
{
	char	   *buf = malloc((size_t) n * 160 + 16);
	char	   *w = buf;
	int			i;

	*w++ = '{';
	for (i = 0; i < n; i++)
	{
		char		p[128];
		char	   *s;

		payload(p, sizeof(p), base + i);
		if (i)
			*w++ = ',';
		*w++ = '"';
		for (s = p; *s; s++)
		{
			if (*s == '"' || *s == '\\')
				*w++ = '\\';
			*w++ = *s;
		}
		*w++ = '"';
	}
	*w++ = '}';
	*w = '\0';
	return buf;
}

static void
record(Thread *t, double ms)
{
	if (t->nlat == t->caplat)
	{
		t->caplat = t->caplat ? t->caplat * 2 : 4096;
		t->lat = realloc(t->lat, sizeof(double) * t->caplat);
	}
	t->lat[t->nlat++] = ms;
}

static int
is_group_kind(Kind kind)
{
	return kind == GROUP_TX || kind == GROUP_LEASED || kind == GROUP_FLOOR;
}

static void *
worker(void *arg)
{
	Thread	   *t = arg;
	PGconn	   *c = connect_db();
	char		nbuf[16];
	char		name[32];
	char		sql[256];
	const char *params[2];
	long		seq = 0;
	char	   *arr = NULL;
	int			part = t->index % READ_PARTITIONS;	/* read-100 position */
	long		next = read_start[part];

	snprintf(nbuf, sizeof(nbuf), "%d", t->batch);
	snprintf(name, sizeof(name), "bench-%d", t->index);
	cmd(c, "SET statement_timeout = '60s'");
	switch (t->kind)
	{
		case PRODUCE_BROKER:
			if (t->batch == 1)
				prepare(c, "s", "SELECT broker.send('bench', $1::jsonb)");
			else
				prepare(c, "s", "SELECT broker.send_batch('bench', $1::jsonb[])");
			break;
		case PRODUCE_FLOOR:
			if (t->batch == 1)
				prepare(c, "s", "INSERT INTO bench_floor (payload) VALUES ($1::jsonb)");
			else
				prepare(c, "s", "INSERT INTO bench_floor (payload) SELECT pg_catalog.unnest($1::jsonb[])");
			break;
		case CONSUME_BROKER:
			/* claim and ack in one statement: one transaction, like the floor */
			prepare(c, "s",
					"WITH c AS (SELECT * FROM broker.claim('bench', $1::int)),"
					" a AS (SELECT broker.ack('bench', pg_catalog.array_agg(id)) AS n FROM c"
					"       HAVING pg_catalog.count(*) > 0)"
					" SELECT c.id, c.payload, a.n FROM c, a");
			break;
		case CONSUME_LEASED:
			prepare(c, "s", "SELECT id, payload FROM broker.claim('bench', $1::int)");
			prepare(c, "a", "SELECT broker.ack('bench', $1::bigint[])");
			break;
		case CONSUME_FLOOR:
			prepare(c, "s",
					"DELETE FROM bench_floor WHERE id IN (SELECT id FROM bench_floor"
					" ORDER BY id LIMIT $1::int FOR UPDATE SKIP LOCKED) RETURNING *");
			break;
		case PUBLISH_BROKER:
			if (t->batch == 1)
				snprintf(sql, sizeof(sql),
						 "SELECT broker.publish('%s', $1::jsonb)", t->topic);
			else
				snprintf(sql, sizeof(sql),
						 "SELECT broker.publish_batch('%s', $1::jsonb[])", t->topic);
			prepare(c, "s", sql);
			break;
		case PUBLISH_FLOOR:
			if (t->batch == 1)
				prepare(c, "s", "INSERT INTO bench_log_floor (payload) VALUES ($1::jsonb)");
			else
				prepare(c, "s", "INSERT INTO bench_log_floor (payload) SELECT pg_catalog.unnest($1::jsonb[])");
			break;
		case READ_BROKER:
			snprintf(sql, sizeof(sql),
					 "SELECT * FROM broker.read('%s', $1::int, $2::bigint, %d)",
					 t->topic, t->batch);
			prepare(c, "s", sql);
			break;
		case READ_FLOOR:
			snprintf(sql, sizeof(sql),
					 "SELECT * FROM bench_read_floor WHERE part = $1::int AND off >= $2::bigint"
					 " ORDER BY off LIMIT %d", t->batch);
			prepare(c, "s", sql);
			break;
		case GROUP_TX:
			/*
			 * Run in BEGIN ... COMMIT: the offsets advance with the commit.
			 * A consumer loop waits when no partition is free for it (more
			 * consumers than partitions) rather than polling again at once.
			 */
			prepare(c, "s", "SELECT * FROM broker.poll('" GROUP_TOPIC "', 'bench', $1::int,"
					" wait => '100 milliseconds')");
			break;
		case GROUP_LEASED:
			/* poll with a lease, then commit what it returned: one statement */
			prepare(c, "s",
					"WITH r AS (SELECT p FROM broker.poll('" GROUP_TOPIC "', 'bench_l', $1::int,"
					"           wait => '100 milliseconds', consumer => $2::text,"
					"           lease => '30 seconds') p),"
					" c AS (SELECT broker.commit('" GROUP_TOPIC "', 'bench_l',"
					"       pg_catalog.array_agg(r.p), $2::text) FROM r"
					"       HAVING pg_catalog.count(*) > 0)"
					" SELECT (r.p).* FROM r, c");
			break;
		case GROUP_FLOOR:
			prepare(c, "s",
					"DELETE FROM bench_group_floor WHERE id IN (SELECT id FROM bench_group_floor"
					" ORDER BY id LIMIT $1::int FOR UPDATE SKIP LOCKED) RETURNING *");
			break;
	}
	if ((t->kind == PRODUCE_BROKER || t->kind == PRODUCE_FLOOR ||
		 t->kind == PUBLISH_BROKER || t->kind == PUBLISH_FLOOR) && t->batch > 1)
		arr = payload_array(t->batch, 0);

	while (!drained)
	{
		double		t0 = now_s();
		PGresult   *r;
		long		got;
		char		pbuf[128];

		if (t0 >= t->deadline)
			break;
		if (t->kind == PRODUCE_BROKER || t->kind == PRODUCE_FLOOR ||
			t->kind == PUBLISH_BROKER || t->kind == PUBLISH_FLOOR)
		{
			if (t->batch == 1)
			{
				payload(pbuf, sizeof(pbuf), seq++);
				params[0] = pbuf;
			}
			else
				params[0] = arr;
			r = PQexecPrepared(c, "s", 1, params, NULL, NULL, 0);
			check(c, r, "produce");
			got = t->batch;
		}
		else if (t->kind == READ_BROKER || t->kind == READ_FLOOR)
		{
			char		pb[16],
						ob[24];
			long		want = read_end[part] - next;
			int			col;

			if (want > t->batch)
				want = t->batch;
			snprintf(pb, sizeof(pb), "%d", part);
			snprintf(ob, sizeof(ob), "%ld", next);
			params[0] = pb;
			params[1] = ob;
			r = PQexecPrepared(c, "s", 2, params, NULL, NULL, 0);
			check(c, r, "read");
			got = PQntuples(r);
			col = PQfnumber(r, t->kind == READ_BROKER ? "offset_id" : "off");
			if (got != want || col < 0 ||
				atol(PQgetvalue(r, 0, col)) != next ||
				atol(PQgetvalue(r, got - 1, col)) != next + got - 1)
			{
				fprintf(stderr, "pgbroker_bench: read of partition %d from offset %ld"
						" returned %ld records (offsets %s to %s), expected %ld from %ld\n",
						part, next, got, got > 0 && col >= 0 ? PQgetvalue(r, 0, col) : "-",
						got > 0 && col >= 0 ? PQgetvalue(r, got - 1, col) : "-", want, next);
				exit(3);
			}
			next += got;
			if (next >= read_end[part])
			{
				/* end of the partition: on to this client's next one */
				part = (part + t->clients) % READ_PARTITIONS;
				next = read_start[part];
			}
		}
		else if (is_group_kind(t->kind))
		{
			params[0] = nbuf;
			params[1] = name;
			if (t->kind == GROUP_TX)
				cmd(c, "BEGIN");
			r = PQexecPrepared(c, "s", t->kind == GROUP_LEASED ? 2 : 1, params,
							   NULL, NULL, 0);
			check(c, r, "poll");
			if (t->kind == GROUP_TX)
				cmd(c, "COMMIT");
			got = PQntuples(r);
			if (got == 0)
			{
				/* no partition free for this consumer now, or the end */
				t->empty++;
				PQclear(r);
				continue;
			}
			t->finished_at = now_s();
			pthread_mutex_lock(&group_lock);
			group_received += got;
			if (group_received >= group_target)
				drained = 1;	/* every prefilled record: the run ends here */
			pthread_mutex_unlock(&group_lock);
		}
		else
		{
			params[0] = nbuf;
			r = PQexecPrepared(c, "s", 1, params, NULL, NULL, 0);
			check(c, r, "consume");
			got = PQntuples(r);
			if (t->kind == CONSUME_LEASED && got > 0)
			{
				char	   *ids = malloc((size_t) got * 24 + 4);
				char	   *w = ids;
				long		i;
				PGresult   *a;
				const char *ap[1];

				*w++ = '{';
				for (i = 0; i < got; i++)
					w += sprintf(w, "%s%s", i ? "," : "", PQgetvalue(r, i, 0));
				*w++ = '}';
				*w = '\0';
				ap[0] = ids;
				a = PQexecPrepared(c, "a", 1, ap, NULL, NULL, 0);
				check(c, a, "ack");
				PQclear(a);
				free(ids);
			}
			if (got == 0)
			{
				drained = 1;	/* the backlog ran out: the run ends here */
				PQclear(r);
				break;
			}
		}
		PQclear(r);
		t->messages += got;
		record(t, (now_s() - t0) * 1000.0);
	}
	/* a group consumer's run ends with its last poll that got records */
	if (!is_group_kind(t->kind) || t->finished_at == 0)
		t->finished_at = now_s();
	free(arr);
	PQfinish(c);
	return NULL;
}

static int
cmp_double(const void *a, const void *b)
{
	double		x = *(const double *) a,
				y = *(const double *) b;

	return (x > y) - (x < y);
}

static double
pct(double *v, long n, double p)
{
	long		i;

	if (n == 0)
		return 0;
	i = (long) ceil(p / 100.0 * n) - 1;
	if (i < 0)
		i = 0;
	if (i >= n)
		i = n - 1;
	return v[i];
}

/* Fill the queue or the floor table with n messages. */
static void
prefill(PGconn *c, Kind kind, long n)
{
	if (kind == CONSUME_FLOOR)
	{
		char		sql[512];

		snprintf(sql, sizeof(sql),
				 "INSERT INTO bench_floor (payload) SELECT jsonb_build_object('n', g, 'body',"
				 " 'pgbroker-benchmark-payload-0123456789abcdefghijklmnopqrstuvwxyz-0123456789')"
				 " FROM generate_series(1, %ld) g", n);
		cmd(c, sql);
	}
	else
	{
		char		sql[512];

		snprintf(sql, sizeof(sql),
				 "SELECT count(*) FROM generate_series(1, %ld, 1000) s,"
				 " LATERAL broker.send_batch('bench', ARRAY(SELECT jsonb_build_object('n', g, 'body',"
				 " 'pgbroker-benchmark-payload-0123456789abcdefghijklmnopqrstuvwxyz-0123456789')"
				 " FROM generate_series(s, LEAST(s + 999, %ld)) g))", n, n);
		cmd(c, sql);
	}

	/*
	 * Statistics as autovacuum would leave them: without them the planner
	 * may run the floor's IN (... LIMIT n FOR UPDATE SKIP LOCKED) subquery
	 * once per row of the outer scan.
	 */
	cmd(c, "ANALYZE bench_floor");
	{
		PGresult   *r = PQexec(c, "SELECT pg_catalog.format('ANALYZE broker.%I', 'queue_' || id)"
							   " FROM broker.queue WHERE name = 'bench'");

		check(c, r, "queue table");
		cmd(c, PQgetvalue(r, 0, 0));
		PQclear(r);
	}
	cmd(c, "CHECKPOINT");
}

static void
reset_state(PGconn *c)
{
	cmd(c, "SELECT broker.purge('bench')");
	cmd(c, "TRUNCATE bench_floor");
}

static int
is_topic_kind(Kind kind)
{
	return kind == PUBLISH_BROKER || kind == PUBLISH_FLOOR ||
		kind == READ_BROKER || kind == READ_FLOOR;
}

/* The benchmark topics; bench_t16 also holds the read prefill. */
static const struct
{
	const char *name;
	int			partitions;
}			bench_topics[] = {{"bench_t16", READ_PARTITIONS}, {"bench_t1", 1}};

static int
topic_partitions(const char *topic)
{
	size_t		i;

	for (i = 0; i < sizeof(bench_topics) / sizeof(bench_topics[0]); i++)
		if (strcmp(bench_topics[i].name, topic) == 0)
			return bench_topics[i].partitions;
	return 0;
}

/* Drop and create the benchmark topics. */
static void
create_topics(PGconn *c)
{
	size_t		i;
	char		sql[128];

	for (i = 0; i < sizeof(bench_topics) / sizeof(bench_topics[0]); i++)
	{
		snprintf(sql, sizeof(sql), "SELECT broker.drop_topic('%s', true)",
				 bench_topics[i].name);
		cmd(c, sql);
		snprintf(sql, sizeof(sql), "SELECT broker.create_topic('%s', %d)",
				 bench_topics[i].name, bench_topics[i].partitions);
		cmd(c, sql);
	}
}

static void
drop_topics(PGconn *c)
{
	size_t		i;
	char		sql[128];

	for (i = 0; i < sizeof(bench_topics) / sizeof(bench_topics[0]); i++)
	{
		snprintf(sql, sizeof(sql), "SELECT broker.drop_topic('%s')",
				 bench_topics[i].name);
		cmd(c, sql);
	}
}

/*
 * Fill bench_t16, or the read floor table, with READ_PER_PARTITION records
 * in each of READ_PARTITIONS partitions.  The topic is filled one partition
 * per transaction, the floor in (part, off) order, so that both lay each
 * partition's records out together.
 */
static void
prefill_read(PGconn *c, Kind kind)
{
	char		sql[1024];
	int			p;

	if (kind == READ_FLOOR)
	{
		snprintf(sql, sizeof(sql),
				 "INSERT INTO bench_read_floor (part, off, key, payload, headers, published_at)"
				 " SELECT p, g, NULL, jsonb_build_object('n', g, 'body', '" BENCH_BODY "'),"
				 " '{}', now() FROM generate_series(0, %d) p, generate_series(0, %ld) g"
				 " ORDER BY p, g", READ_PARTITIONS - 1, READ_PER_PARTITION - 1);
		cmd(c, sql);
	}
	else
	{
		PGresult   *r;

		for (p = 0; p < READ_PARTITIONS; p++)
		{
			snprintf(sql, sizeof(sql),
					 "SELECT count(*) FROM generate_series(0, %ld, 1000) s,"
					 " LATERAL broker.publish_batch('bench_t16', ARRAY(SELECT jsonb_build_object('n', g,"
					 " 'body', '" BENCH_BODY "')"
					 " FROM generate_series(s, LEAST(s + 999, %ld)) g), partition => %d)",
					 READ_PER_PARTITION - 1, READ_PER_PARTITION - 1, p);
			cmd(c, sql);
		}
		snprintf(sql, sizeof(sql),
				 "SELECT pg_catalog.string_agg(p || ': ' || o, ', ') FROM generate_series(0, %d) p,"
				 " LATERAL broker.latest_offset('bench_t16', p) o WHERE o <> %ld",
				 READ_PARTITIONS - 1, READ_PER_PARTITION);
		r = PQexec(c, sql);
		check(c, r, "latest_offset");
		if (!PQgetisnull(r, 0, 0))
		{
			fprintf(stderr, "pgbroker_bench: after the prefill, bench_t16 ends at %s"
					" (expected %ld in every partition)\n", PQgetvalue(r, 0, 0),
					READ_PER_PARTITION);
			exit(3);
		}
		PQclear(r);
	}
	/* statistics as autovacuum would leave them, for the topic's tables too */
	cmd(c, "ANALYZE");
}

/*
 * After a publish run, check that the topic or the floor table holds as many
 * records as it held before (the backlog, earlier runs) plus the ones the
 * clients published, n in all.
 */
static void
check_published(PGconn *c, Kind kind, const char *topic, long n)
{
	char		sql[256];
	PGresult   *r;

	if (kind == PUBLISH_BROKER)
		snprintf(sql, sizeof(sql),
				 "SELECT pg_catalog.sum(broker.latest_offset('%s', p))"
				 " FROM generate_series(0, %d) p", topic, topic_partitions(topic) - 1);
	else
		snprintf(sql, sizeof(sql), "SELECT pg_catalog.count(*) FROM bench_log_floor");
	r = PQexec(c, sql);
	check(c, r, "count published");
	if (PQntuples(r) != 1 || PQgetisnull(r, 0, 0) || atol(PQgetvalue(r, 0, 0)) != n)
	{
		fprintf(stderr, "pgbroker_bench: %s holds %s records after %ld were published\n",
				kind == PUBLISH_BROKER ? topic : "bench_log_floor",
				PQntuples(r) == 1 ? PQgetvalue(r, 0, 0) : "?", n);
		exit(3);
	}
	PQclear(r);
}

/*
 * Every topic run starts on new topics and empty floor tables; with
 * --backlog, on the prefilled ones as the earlier runs left them.
 */
static void
reset_topic_state(PGconn *c, Kind kind)
{
	if (backlog == 0)
	{
		create_topics(c);
		cmd(c, "TRUNCATE bench_log_floor, bench_read_floor RESTART IDENTITY");
		topic_records[0] = topic_records[1] = 0;
		log_floor_rows = 0;
		if (kind == READ_BROKER || kind == READ_FLOOR)
			prefill_read(c, kind);
	}
	cmd(c, "CHECKPOINT");
}

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

typedef struct Job
{
	Target		target;
	int			part;
	long		from;			/* first offset (first n for the log floor) */
	long		count;
} Job;

static Job *jobs;
static long njobs;
static long next_job;
static long filled_records;		/* topic records written so far */
static long filled_rows;		/* floor rows written so far */
static pthread_mutex_t job_lock = PTHREAD_MUTEX_INITIALIZER;

/* Records of partition p when n are spread evenly over parts partitions. */
static long
share(long n, int parts, int p)
{
	return n / parts + (p < n % parts ? 1 : 0);
}

/* Append the jobs that write n records spread over parts partitions. */
static Job *
make_jobs(Job *list, long *len, Target target, int parts, long n)
{
	long		c;
	int			p;

	for (c = 0; c * BACKLOG_BATCH < share(n, parts, 0); c++)
		for (p = 0; p < parts; p++)
		{
			long		from = c * BACKLOG_BATCH;
			long		count = share(n, parts, p) - from;

			if (count <= 0)
				continue;
			if (count > BACKLOG_BATCH)
				count = BACKLOG_BATCH;
			list[*len].target = target;
			list[*len].part = p;
			list[*len].from = from;
			list[*len].count = count;
			(*len)++;
		}
	return list;
}

static void *
backlog_worker(void *arg)
{
	PGconn	   *c = connect_db();
	int			ready[4] = {0, 0, 0, 0};	/* statements prepared: topic, floors */

	(void) arg;
	for (;;)
	{
		Job		   *j;
		char		pb[16],
					fb[24],
					lb[24];
		const char *params[4];
		PGresult   *r;

		pthread_mutex_lock(&job_lock);
		j = next_job < njobs ? &jobs[next_job++] : NULL;
		pthread_mutex_unlock(&job_lock);
		if (j == NULL)
			break;
		/* each statement prepared when first needed: only its table exists */
		if ((j->target == TARGET_T16 || j->target == TARGET_T1 ||
			 j->target == TARGET_GROUP) && !ready[0]++)
			prepare(c, "topic",
					"SELECT broker.publish_batch($1::text, ARRAY(SELECT jsonb_build_object('n', g,"
					" 'body', '" BENCH_BODY "') FROM generate_series($3::bigint, $4::bigint) g),"
					" partition => $2::int)");
		else if (j->target == TARGET_LOG_FLOOR && !ready[1]++)
			prepare(c, "log_floor",
					"INSERT INTO bench_log_floor (payload) SELECT jsonb_build_object('n', g,"
					" 'body', '" BENCH_BODY "') FROM generate_series($1::bigint, $2::bigint) g");
		else if (j->target == TARGET_READ_FLOOR && !ready[2]++)
			prepare(c, "read_floor",
					"INSERT INTO bench_read_floor (part, off, key, payload, headers, published_at)"
					" SELECT $1::int, g, NULL, jsonb_build_object('n', g, 'body', '" BENCH_BODY "'),"
					" '{}', now() FROM generate_series($2::bigint, $3::bigint) g");
		else if (j->target == TARGET_GROUP_FLOOR && !ready[3]++)
			prepare(c, "group_floor",
					"INSERT INTO bench_group_floor (payload) SELECT jsonb_build_object('n', g,"
					" 'body', '" BENCH_BODY "') FROM generate_series($1::bigint, $2::bigint) g");
		snprintf(pb, sizeof(pb), "%d", j->part);
		snprintf(fb, sizeof(fb), "%ld", j->from);
		snprintf(lb, sizeof(lb), "%ld", j->from + j->count - 1);
		switch (j->target)
		{
			case TARGET_T16:
			case TARGET_T1:
			case TARGET_GROUP:
				params[0] = j->target == TARGET_GROUP ? GROUP_TOPIC :
					bench_topics[j->target == TARGET_T16 ? 0 : 1].name;
				params[1] = pb;
				params[2] = fb;
				params[3] = lb;
				r = PQexecPrepared(c, "topic", 4, params, NULL, NULL, 0);
				break;
			case TARGET_LOG_FLOOR:
			case TARGET_GROUP_FLOOR:
				params[0] = fb;
				params[1] = lb;
				r = PQexecPrepared(c, j->target == TARGET_LOG_FLOOR ? "log_floor" : "group_floor",
								   2, params, NULL, NULL, 0);
				break;
			default:
				params[0] = pb;
				params[1] = fb;
				params[2] = lb;
				r = PQexecPrepared(c, "read_floor", 3, params, NULL, NULL, 0);
				break;
		}
		check(c, r, "backlog prefill");
		PQclear(r);
		pthread_mutex_lock(&job_lock);
		if (j->target == TARGET_T16 || j->target == TARGET_T1 || j->target == TARGET_GROUP)
			filled_records += j->count;
		else
			filled_rows += j->count;
		pthread_mutex_unlock(&job_lock);
	}
	PQfinish(c);
	return NULL;
}

/* Check that each partition of a prefilled topic ends at its share. */
static void
check_backlog(PGconn *c, int t)
{
	char		sql[512];
	PGresult   *r;
	int			parts = bench_topics[t].partitions;

	snprintf(sql, sizeof(sql),
			 "SELECT pg_catalog.string_agg(p || ': ' || o, ', ') FROM generate_series(0, %d) p,"
			 " LATERAL broker.latest_offset('%s', p) o"
			 " WHERE o <> %ld + CASE WHEN p < %ld THEN 1 ELSE 0 END",
			 parts - 1, bench_topics[t].name, backlog / parts, backlog % parts);
	r = PQexec(c, sql);
	check(c, r, "latest_offset");
	if (!PQgetisnull(r, 0, 0))
	{
		fprintf(stderr, "pgbroker_bench: after the backlog prefill, %s ends at %s"
				" (expected %ld records spread evenly over %d partitions)\n",
				bench_topics[t].name, PQgetvalue(r, 0, 0), backlog, parts);
		exit(3);
	}
	PQclear(r);
}

/*
 * --backlog: fill the topics and floor tables that the selected workloads
 * use with backlog records each, once, from BACKLOG_CLIENTS connections.
 * The jobs of the targets are interleaved, and within a topic the
 * partitions, so that the connections mostly write to different partitions
 * and each partition's records lie in runs of BACKLOG_BATCH.
 */
static void
prefill_backlog(PGconn *admin, const int need[4])
{
	Job		   *lists[4];
	long		lens[4] = {0, 0, 0, 0};
	long		longest = 0;
	long		total_records = 0,
				total_rows = 0;
	long		i;
	int			t;
	pthread_t	tids[BACKLOG_CLIENTS];
	double		start = now_s(),
				filled_at,
				vacuumed_at;
	long		reported = 0;
	PGresult   *r;
	char	   *sql;
	size_t		len;

	for (t = 0; t < 4; t++)
	{
		int			parts = t == TARGET_T16 || t == TARGET_READ_FLOOR ? READ_PARTITIONS : 1;

		lists[t] = malloc(sizeof(Job) * (backlog / BACKLOG_BATCH + parts + 1));
		if (need[t])
		{
			make_jobs(lists[t], &lens[t], (Target) t, parts, backlog);
			if (t == TARGET_T16 || t == TARGET_T1)
				total_records += backlog;
			else
				total_rows += backlog;
		}
		if (lens[t] > longest)
			longest = lens[t];
	}
	jobs = malloc(sizeof(Job) * (lens[0] + lens[1] + lens[2] + lens[3] + 1));
	njobs = 0;
	for (i = 0; i < longest; i++)
		for (t = 0; t < 4; t++)
			if (i < lens[t])
				jobs[njobs++] = lists[t][i];
	for (t = 0; t < 4; t++)
		free(lists[t]);
	next_job = 0;
	filled_records = filled_rows = 0;

	fprintf(stderr, "backlog: prefilling%s%s%s%s with %ld records each, %d connections\n",
			need[TARGET_T16] ? " bench_t16" : "", need[TARGET_T1] ? " bench_t1" : "",
			need[TARGET_LOG_FLOOR] ? " bench_log_floor" : "",
			need[TARGET_READ_FLOOR] ? " bench_read_floor" : "", backlog, BACKLOG_CLIENTS);
	for (t = 0; t < BACKLOG_CLIENTS; t++)
		pthread_create(&tids[t], NULL, backlog_worker, NULL);
	for (;;)
	{
		long		records,
					rows;
		int			done;

		usleep(200000);
		pthread_mutex_lock(&job_lock);
		records = filled_records;
		rows = filled_rows;
		done = records + rows == total_records + total_rows;
		pthread_mutex_unlock(&job_lock);
		if ((records + rows) / 1000000 > reported / 1000000 || done)
		{
			fprintf(stderr, "backlog: %ld of %ld topic records, %ld of %ld floor rows, %.0f s\n",
					records, total_records, rows, total_rows, now_s() - start);
			reported = records + rows;
			/* rotate segments as a maintain() every minute would */
			if (need[TARGET_T16] || need[TARGET_T1])
			{
				r = PQexec(admin, "SELECT * FROM broker.maintain_topics()");
				check(admin, r, "maintain_topics");
				PQclear(r);
			}
		}
		if (done)
			break;
	}
	for (t = 0; t < BACKLOG_CLIENTS; t++)
		pthread_join(tids[t], NULL);
	free(jobs);
	jobs = NULL;
	filled_at = now_s();

	for (t = 0; t < 2; t++)
		if (need[t])
		{
			check_backlog(admin, t);
			topic_records[t] = backlog;
		}
	if (need[TARGET_LOG_FLOOR])
		log_floor_rows = backlog;
	for (i = 0; i < READ_PARTITIONS; i++)
	{
		read_end[i] = share(backlog, READ_PARTITIONS, i);
		/* a consumer that keeps up reads the newest records */
		if (!read_all && read_end[i] > READ_PER_PARTITION)
			read_start[i] = read_end[i] - READ_PER_PARTITION;
	}

	/*
	 * Statistics, hint bits and the visibility map as autovacuum would leave
	 * them, on the floor tables and the topics' segment tables alike, and the
	 * prefill's dirty buffers written out: the measurement pays for none of
	 * it, nor does autovacuum start on these tables during it.
	 */
	r = PQexec(admin,
			   "SELECT pg_catalog.string_agg(broker._segment_table(s.topic_id, s.seg_no), ', ')"
			   " FROM broker.segment s JOIN broker.topic t ON t.id = s.topic_id"
			   " WHERE t.name IN ('bench_t16', 'bench_t1')");
	check(admin, r, "segment tables");
	len = strlen(PQgetvalue(r, 0, 0)) + 128;
	sql = malloc(len);
	snprintf(sql, len, "VACUUM (ANALYZE) bench_log_floor, bench_read_floor%s%s",
			 PQgetisnull(r, 0, 0) ? "" : ", ", PQgetvalue(r, 0, 0));
	PQclear(r);
	cmd(admin, sql);
	free(sql);
	vacuumed_at = now_s();
	cmd(admin, "CHECKPOINT");
	fprintf(stderr, "backlog: prefill %.1f s (%.0f records/s), VACUUM ANALYZE %.1f s,"
			" CHECKPOINT %.1f s\n", filled_at - start,
			(total_records + total_rows) / (filled_at - start), vacuumed_at - filled_at,
			now_s() - vacuumed_at);
}

/* The records retained in all topics, and their size, to stderr. */
static void
report_retained(PGconn *c)
{
	PGresult   *r = PQexec(c, "SELECT coalesce(pg_catalog.sum(records), 0),"
						   " (coalesce(pg_catalog.sum(bytes), 0) / 1048576)::bigint,"
						   " coalesce(pg_catalog.sum(segments), 0)"
						   " FROM broker.topics");

	check(c, r, "broker.topics");
	fprintf(stderr, "backlog: the measurement starts with %s records retained in topics"
			" (%s MB in %s segments)\n",
			PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 2));
	PQclear(r);
}

/*
 * Before a group run: GROUP_TOPIC created anew and filled with n records
 * spread evenly over its partitions, its group for the workload at
 * 'earliest', or bench_group_floor emptied and filled with n rows.
 */
static void
prefill_group(PGconn *admin, Kind kind, long n)
{
	int			parts = kind == GROUP_FLOOR ? 1 : GROUP_PARTITIONS;
	pthread_t	tids[BACKLOG_CLIENTS];
	long		maintained = 0;
	char		sql[512];
	PGresult   *r;
	int			t;

	if (kind == GROUP_FLOOR)
		cmd(admin, "TRUNCATE bench_group_floor RESTART IDENTITY");
	else
	{
		cmd(admin, "SELECT broker.drop_topic('" GROUP_TOPIC "', if_exists => true)");
		snprintf(sql, sizeof(sql), "SELECT broker.create_topic('" GROUP_TOPIC "', partitions => %d)",
				 GROUP_PARTITIONS);
		cmd(admin, sql);
	}

	jobs = malloc(sizeof(Job) * (n / BACKLOG_BATCH + parts + 1));
	njobs = 0;
	make_jobs(jobs, &njobs, kind == GROUP_FLOOR ? TARGET_GROUP_FLOOR : TARGET_GROUP, parts, n);
	next_job = 0;
	filled_records = filled_rows = 0;
	for (t = 0; t < BACKLOG_CLIENTS; t++)
		pthread_create(&tids[t], NULL, backlog_worker, NULL);
	for (;;)
	{
		long		done;

		usleep(100000);
		pthread_mutex_lock(&job_lock);
		done = filled_records + filled_rows;
		pthread_mutex_unlock(&job_lock);
		/* rotate segments as a maintain() every minute would */
		if (kind != GROUP_FLOOR && (done / 1000000 > maintained / 1000000 || done == n))
		{
			r = PQexec(admin, "SELECT * FROM broker.maintain_topics()");
			check(admin, r, "maintain_topics");
			PQclear(r);
			maintained = done;
		}
		if (done == n)
			break;
	}
	for (t = 0; t < BACKLOG_CLIENTS; t++)
		pthread_join(tids[t], NULL);
	free(jobs);
	jobs = NULL;

	if (kind == GROUP_FLOOR)
		snprintf(sql, sizeof(sql), "SELECT pg_catalog.count(*) FROM bench_group_floor");
	else
		snprintf(sql, sizeof(sql),
				 "SELECT pg_catalog.sum(broker.latest_offset('" GROUP_TOPIC "', p))"
				 " FROM generate_series(0, %d) p", GROUP_PARTITIONS - 1);
	r = PQexec(admin, sql);
	check(admin, r, "count prefill");
	if (PQgetisnull(r, 0, 0) || atol(PQgetvalue(r, 0, 0)) != n)
	{
		fprintf(stderr, "pgbroker_bench: after the prefill, %s holds %s records (expected %ld)\n",
				kind == GROUP_FLOOR ? "bench_group_floor" : GROUP_TOPIC, PQgetvalue(r, 0, 0), n);
		exit(3);
	}
	PQclear(r);

	/* statistics, hint bits and the visibility map as autovacuum would leave them */
	if (kind == GROUP_FLOOR)
		cmd(admin, "VACUUM (ANALYZE) bench_group_floor");
	else
	{
		char	   *vac;
		size_t		len;

		r = PQexec(admin,
				   "SELECT pg_catalog.string_agg(broker._segment_table(s.topic_id, s.seg_no), ', ')"
				   " FROM broker.segment s JOIN broker.topic t ON t.id = s.topic_id"
				   " WHERE t.name = '" GROUP_TOPIC "'");
		check(admin, r, "segment tables");
		if (!PQgetisnull(r, 0, 0))
		{
			len = strlen(PQgetvalue(r, 0, 0)) + 32;
			vac = malloc(len);
			snprintf(vac, len, "VACUUM (ANALYZE) %s", PQgetvalue(r, 0, 0));
			cmd(admin, vac);
			free(vac);
		}
		PQclear(r);
		snprintf(sql, sizeof(sql),
				 "SELECT broker.delete_group('" GROUP_TOPIC "', '%s', true)",
				 kind == GROUP_TX ? "bench" : "bench_l");
		cmd(admin, sql);
		snprintf(sql, sizeof(sql),
				 "SELECT broker.create_group('" GROUP_TOPIC "', '%s', 'earliest')",
				 kind == GROUP_TX ? "bench" : "bench_l");
		cmd(admin, sql);
	}
	cmd(admin, "CHECKPOINT");
}

/*
 * After a group run: the group's committed offsets add up to the records
 * its consumers received (every poll was committed: in its transaction, or
 * by broker.commit in the same statement), the floor table holds the rows
 * that were not received.
 */
static void
check_group(PGconn *admin, Kind kind, long received, long n)
{
	PGresult   *r;

	if (kind == GROUP_FLOOR)
	{
		r = PQexec(admin, "SELECT pg_catalog.count(*) FROM bench_group_floor");
		check(admin, r, "count floor");
		if (atol(PQgetvalue(r, 0, 0)) != n - received)
		{
			fprintf(stderr, "pgbroker_bench: bench_group_floor holds %s rows after %ld of %ld"
					" were received (expected %ld)\n", PQgetvalue(r, 0, 0), received, n,
					n - received);
			exit(3);
		}
	}
	else
	{
		const char *group = kind == GROUP_TX ? "bench" : "bench_l";
		char		sql[512];

		snprintf(sql, sizeof(sql),
				 "SELECT pg_catalog.sum(committed_offset), pg_catalog.sum(end_offset),"
				 " pg_catalog.count(*)"
				 " FROM broker.consumer_lag WHERE topic = '" GROUP_TOPIC "'"
				 " AND consumer_group = '%s'", group);
		r = PQexec(admin, sql);
		check(admin, r, "consumer_lag");
		if (PQgetisnull(r, 0, 0) || atol(PQgetvalue(r, 0, 0)) != received ||
			atol(PQgetvalue(r, 0, 1)) != n || atoi(PQgetvalue(r, 0, 2)) != GROUP_PARTITIONS)
		{
			fprintf(stderr, "pgbroker_bench: after a %s run, the committed offsets of group %s"
					" on %s add up to %s over %s partitions (end offsets: %s), but its"
					" consumers received and committed %ld of the %ld records prefilled\n",
					kind == GROUP_TX ? "transactional" : "leased", group, GROUP_TOPIC,
					PQgetisnull(r, 0, 0) ? "NULL" : PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 2),
					PQgetisnull(r, 0, 1) ? "NULL" : PQgetvalue(r, 0, 1), received, n);
			exit(3);
		}
	}
	PQclear(r);
}

static Result
run(PGconn *admin, Kind kind, int clients, int batch, const char *topic, long prefill_n)
{
	Thread	   *th = calloc(clients, sizeof(Thread));
	double		start;
	double		end = 0;
	long		total = 0;
	long		nlat = 0;
	double	   *all;
	int			i;
	Result		res;

	if (is_topic_kind(kind))
		reset_topic_state(admin, kind);
	else if (is_group_kind(kind))
	{
		prefill_group(admin, kind, prefill_n);
		group_received = 0;
		group_target = prefill_n;
	}
	else
	{
		reset_state(admin);
		if (kind == CONSUME_BROKER || kind == CONSUME_LEASED || kind == CONSUME_FLOOR)
			prefill(admin, kind, batch == 1 ? 60000 : 600000);
		else
			cmd(admin, "CHECKPOINT");
	}
	drained = 0;
	start = now_s();
	for (i = 0; i < clients; i++)
	{
		th[i].kind = kind;
		th[i].batch = batch;
		th[i].topic = topic;
		th[i].index = i;
		th[i].clients = clients;
		th[i].deadline = start + seconds;
		th[i].finished_at = 0;
		pthread_create(&th[i].tid, NULL, worker, &th[i]);
	}
	res.empty = 0;
	res.least = -1;
	res.most = 0;
	for (i = 0; i < clients; i++)
	{
		pthread_join(th[i].tid, NULL);
		total += th[i].messages;
		nlat += th[i].nlat;
		res.empty += th[i].empty;
		if (res.least < 0 || th[i].messages < res.least)
			res.least = th[i].messages;
		if (th[i].messages > res.most)
			res.most = th[i].messages;
		if (th[i].finished_at > end)
			end = th[i].finished_at;
	}
	res.prefill = is_group_kind(kind) ? prefill_n : 0;
	res.dry = is_group_kind(kind) && drained;
	if (is_group_kind(kind))
	{
		check_group(admin, kind, total, prefill_n);

		/*
		 * The floor's run leaves its consumed rows dead: emptied now, so
		 * that autovacuum does not clean them up during the next run.
		 */
		if (kind == GROUP_FLOOR)
			cmd(admin, "TRUNCATE bench_group_floor");
		if (res.dry)
			fprintf(stderr, "pgbroker_bench: warning: the consumers received all %ld records"
					" prefilled after %.1f of %d s; the rate is measured over that time\n",
					prefill_n, end - start, seconds);
	}
	if (kind == PUBLISH_BROKER)
	{
		int			t = strcmp(topic, bench_topics[0].name) == 0 ? 0 : 1;

		topic_records[t] += total;
		check_published(admin, kind, topic, topic_records[t]);
	}
	else if (kind == PUBLISH_FLOOR)
	{
		log_floor_rows += total;
		check_published(admin, kind, topic, log_floor_rows);
	}
	all = malloc(sizeof(double) * (nlat + 1));
	nlat = 0;
	for (i = 0; i < clients; i++)
	{
		memcpy(all + nlat, th[i].lat, sizeof(double) * th[i].nlat);
		nlat += th[i].nlat;
		free(th[i].lat);
	}
	qsort(all, nlat, sizeof(double), cmp_double);
	res.messages = total;
	res.rate = total / (end - start);
	res.p50 = pct(all, nlat, 50);
	res.p95 = pct(all, nlat, 95);
	res.p99 = pct(all, nlat, 99);
	res.max = nlat ? all[nlat - 1] : 0;
	free(all);
	free(th);
	return res;
}

typedef struct Row
{
	const char *workload;
	const char *system;
	Kind		kind;
	int			clients;
	int			batch;
	int			held;
	int			floor_row;		/* index of the floor row to compare with, -1 for none */
	const char *topic;			/* topic workloads: the topic */
	Result		r[16];
	int			clean_row;		/* group held-xmin rows: the clean row, else -1 */
	int			selected;		/* runs: matches --only, or is the floor of one that does */
	double		paired;			/* median over the rounds of rate / the floor's rate */
} Row;

/*
 * The records to prefill for a run of group row i in round k: twice what
 * its fastest earlier run (or its clean row's) received in --seconds; if it
 * has none, three times what the fastest run of its kind did, and
 * GROUP_FIRST_RATE a second before any was measured.
 */
static long
group_prefill_size(const Row *rows, int nrows, int i, int k)
{
	double		rate = 0;
	double		factor = 2;
	long		unit = GROUP_PARTITIONS * BACKLOG_BATCH;
	long		n;
	int			c = rows[i].clean_row;
	int			j,
				m;

	for (m = 0; m <= k; m++)
	{
		if (m < k && rows[i].r[m].rate > rate)
			rate = rows[i].r[m].rate;
		if (c >= 0 && rows[c].r[m].rate > rate)
			rate = rows[c].r[m].rate;
	}
	if (rate == 0)
	{
		factor = 3;
		for (j = 0; j < nrows; j++)
			if (rows[j].kind == rows[i].kind)
				for (m = 0; m <= k; m++)
					if (rows[j].r[m].rate > rate)
						rate = rows[j].r[m].rate;
	}
	if (rate == 0)
	{
		rate = GROUP_FIRST_RATE;
		factor = 1;
	}
	n = (long) ceil(factor * rate * seconds / unit) * unit;
	return n < GROUP_MIN_PREFILL ? GROUP_MIN_PREFILL : n;
}

static int
cmp_result(const void *a, const void *b)
{
	return cmp_double(&((const Result *) a)->rate, &((const Result *) b)->rate);
}

int
main(int argc, char **argv)
{
	Row			rows[] = {
		{"produce-1", "floor", PRODUCE_FLOOR, 8, 1, 0, -1, NULL, {{0}}},
		{"produce-1", "pgbroker", PRODUCE_BROKER, 8, 1, 0, 0, NULL, {{0}}},
		{"produce-100", "floor", PRODUCE_FLOOR, 4, 100, 0, -1, NULL, {{0}}},
		{"produce-100", "pgbroker", PRODUCE_BROKER, 4, 100, 0, 2, NULL, {{0}}},
		{"consume-1", "floor", CONSUME_FLOOR, 4, 1, 0, -1, NULL, {{0}}},
		{"consume-1", "pgbroker", CONSUME_BROKER, 4, 1, 0, 4, NULL, {{0}}},
		{"consume-1", "pgbroker leased", CONSUME_LEASED, 4, 1, 0, 4, NULL, {{0}}},
		{"consume-100", "floor", CONSUME_FLOOR, 4, 100, 0, -1, NULL, {{0}}},
		{"consume-100", "pgbroker", CONSUME_BROKER, 4, 100, 0, 7, NULL, {{0}}},
		{"consume-100", "pgbroker leased", CONSUME_LEASED, 4, 100, 0, 7, NULL, {{0}}},
		{"consume-1 held-xmin", "floor", CONSUME_FLOOR, 4, 1, 1, -1, NULL, {{0}}},
		{"consume-1 held-xmin", "pgbroker", CONSUME_BROKER, 4, 1, 1, 10, NULL, {{0}}},
		{"consume-100 held-xmin", "floor", CONSUME_FLOOR, 4, 100, 1, -1, NULL, {{0}}},
		{"consume-100 held-xmin", "pgbroker", CONSUME_BROKER, 4, 100, 1, 12, NULL, {{0}}},
		{"publish-1-p16", "floor", PUBLISH_FLOOR, 8, 1, 0, -1, NULL, {{0}}},
		{"publish-1-p16", "pgbroker", PUBLISH_BROKER, 8, 1, 0, 14, "bench_t16", {{0}}},
		{"publish-1-p1", "floor", PUBLISH_FLOOR, 8, 1, 0, -1, NULL, {{0}}},
		{"publish-1-p1", "pgbroker", PUBLISH_BROKER, 8, 1, 0, 16, "bench_t1", {{0}}},
		{"publish-100", "floor", PUBLISH_FLOOR, 4, 100, 0, -1, NULL, {{0}}},
		{"publish-100", "pgbroker", PUBLISH_BROKER, 4, 100, 0, 18, "bench_t16", {{0}}},
		{"read-100", "floor", READ_FLOOR, 4, 100, 0, -1, NULL, {{0}}},
		{"read-100", "pgbroker", READ_BROKER, 4, 100, 0, 20, "bench_t16", {{0}}},
		{"group-1", "floor", GROUP_FLOOR, 1, 100, 0, -1, NULL, {{0}}},
		{"group-tx-1", "pgbroker", GROUP_TX, 1, 100, 0, 22, NULL, {{0}}},
		{"group-leased-1", "pgbroker leased", GROUP_LEASED, 1, 100, 0, 22, NULL, {{0}}},
		{"group-4", "floor", GROUP_FLOOR, 4, 100, 0, -1, NULL, {{0}}},
		{"group-tx-4", "pgbroker", GROUP_TX, 4, 100, 0, 25, NULL, {{0}}},
		{"group-leased-4", "pgbroker leased", GROUP_LEASED, 4, 100, 0, 25, NULL, {{0}}},
		{"group-16", "floor", GROUP_FLOOR, 16, 100, 0, -1, NULL, {{0}}},
		{"group-tx-16", "pgbroker", GROUP_TX, 16, 100, 0, 28, NULL, {{0}}},
		{"group-leased-16", "pgbroker leased", GROUP_LEASED, 16, 100, 0, 28, NULL, {{0}}},
		{"group-1 held-xmin", "floor", GROUP_FLOOR, 1, 100, 1, -1, NULL, {{0}}},
		{"group-tx-1 held-xmin", "pgbroker", GROUP_TX, 1, 100, 1, 31, NULL, {{0}}},
		{"group-leased-1 held-xmin", "pgbroker leased", GROUP_LEASED, 1, 100, 1, 31, NULL, {{0}}},
		{"group-4 held-xmin", "floor", GROUP_FLOOR, 4, 100, 1, -1, NULL, {{0}}},
		{"group-tx-4 held-xmin", "pgbroker", GROUP_TX, 4, 100, 1, 34, NULL, {{0}}},
		{"group-leased-4 held-xmin", "pgbroker leased", GROUP_LEASED, 4, 100, 1, 34, NULL, {{0}}},
		{"group-16 held-xmin", "floor", GROUP_FLOOR, 16, 100, 1, -1, NULL, {{0}}},
		{"group-tx-16 held-xmin", "pgbroker", GROUP_TX, 16, 100, 1, 37, NULL, {{0}}},
		{"group-leased-16 held-xmin", "pgbroker leased", GROUP_LEASED, 16, 100, 1, 37, NULL, {{0}}},
	};
	int			nrows = sizeof(rows) / sizeof(rows[0]);
	PGconn	   *admin;
	PGconn	   *holder = NULL;
	int			topics = 0;
	int			groups = 0;
	int			need[4] = {0, 0, 0, 0};	/* --backlog: as Target */
	int			width = 22;		/* of the workload column */
	int			i,
				j,
				k;

	for (i = 1; i < argc; i++)
	{
		if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
			seconds = atoi(argv[++i]);
		else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc)
			rounds = atoi(argv[++i]);
		else if (strcmp(argv[i], "--held-xmin") == 0)
			held = 1;
		else if (strcmp(argv[i], "--json") == 0)
			json = 1;
		else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc)
			only = argv[++i];
		else if (strcmp(argv[i], "--read-all") == 0)
			read_all = 1;
		else if (strcmp(argv[i], "--group-batch") == 0 && i + 1 < argc)
			group_batch = atoi(argv[++i]);
		else if (strcmp(argv[i], "--backlog") == 0 && i + 1 < argc)
		{
			char	   *end;

			backlog = strtol(argv[++i], &end, 10);
			if (*end != '\0' || end == argv[i])
				backlog = -1;
		}
		else
		{
			fprintf(stderr,
					"usage: pgbroker_bench [--seconds N] [--rounds N] [--held-xmin] [--json]\n"
					"                      [--only WORKLOAD] [--group-batch N] [--backlog N] [--read-all]\n"
					"  --group-batch N  records per poll in the group workloads, and rows per\n"
					"               DELETE of their floor (default 100)\n"
					"  --backlog N  run the topic workloads on top of N records prefilled once\n"
					"  --read-all   with --backlog, read-100 reads the whole backlog, not its newest records\n"
					"               into each bench topic and floor table (default 0: every\n"
					"               topic run starts on new topics and empty floor tables)\n");
			return 1;
		}
	}
	if (seconds < 1 || rounds < 1 || rounds > 16)
	{
		fprintf(stderr, "pgbroker_bench: --seconds must be >= 1 and --rounds between 1 and 16\n");
		return 1;
	}
	if (group_batch < 1 || group_batch > 10000)
	{
		fprintf(stderr, "pgbroker_bench: --group-batch must be between 1 and 10000\n");
		return 1;
	}
	for (i = 0; i < nrows; i++)
		if (is_group_kind(rows[i].kind))
			rows[i].batch = group_batch;
	if (backlog != 0 && backlog < READ_PARTITIONS)
	{
		fprintf(stderr, "pgbroker_bench: --backlog must be 0 or at least %d\n", READ_PARTITIONS);
		return 1;
	}
	for (i = 0; i < READ_PARTITIONS; i++)
		read_end[i] = READ_PER_PARTITION;

	/* the rows that run: those --only selects, and the floors they compare with */
	for (i = 0; i < nrows; i++)
		rows[i].selected = (!rows[i].held || held) &&
			(!only || strncmp(rows[i].workload, only, strlen(only)) == 0);
	for (i = 0; i < nrows; i++)
		if (rows[i].selected && rows[i].floor_row >= 0)
			rows[rows[i].floor_row].selected = 1;
	for (i = 0; i < nrows; i++)
	{
		size_t		len = strlen(rows[i].workload);

		/* a group held-xmin row is also compared with its clean row */
		rows[i].clean_row = -1;
		if (is_group_kind(rows[i].kind) && rows[i].held)
			for (j = 0; j < nrows; j++)
			{
				size_t		clen = strlen(rows[j].workload);

				if (!rows[j].held && rows[j].kind == rows[i].kind &&
					rows[j].clients == rows[i].clients &&
					strcmp(rows[j].system, rows[i].system) == 0 && clen < len &&
					strncmp(rows[j].workload, rows[i].workload, clen) == 0 &&
					strcmp(rows[i].workload + clen, " held-xmin") == 0)
					rows[i].clean_row = j;
			}
		if (rows[i].selected && is_group_kind(rows[i].kind))
			groups = 1;
		if (rows[i].selected && (int) len > width)
			width = (int) len;
	}

	admin = connect_db();
	cmd(admin, "SET client_min_messages = warning");
	cmd(admin, "CREATE EXTENSION IF NOT EXISTS pgbroker");
	cmd(admin, "SELECT broker.drop_queue('bench', if_exists => true)");
	cmd(admin, "SELECT broker.create_queue('bench')");
	cmd(admin, "DROP TABLE IF EXISTS bench_floor");
	cmd(admin, "CREATE TABLE bench_floor (id bigserial PRIMARY KEY, payload jsonb,"
		" created_at timestamptz DEFAULT now())");

	/* the topics only when a topic workload runs */
	for (i = 0; i < nrows; i++)
		if (is_topic_kind(rows[i].kind) && rows[i].selected)
		{
			topics = 1;
			if (rows[i].kind == PUBLISH_FLOOR)
				need[TARGET_LOG_FLOOR] = 1;
			else if (rows[i].kind == READ_FLOOR)
				need[TARGET_READ_FLOOR] = 1;
			else if (strcmp(rows[i].topic, "bench_t1") == 0)
				need[TARGET_T1] = 1;
			else
				need[TARGET_T16] = 1;
		}
	if (backlog > 0 && !topics)
	{
		fprintf(stderr, "pgbroker_bench: --backlog applies to the topic workloads only;"
				" none is selected\n");
		backlog = 0;
	}
	if (topics)
	{
		create_topics(admin);
		cmd(admin, "DROP TABLE IF EXISTS bench_log_floor, bench_read_floor");
		cmd(admin, "CREATE TABLE bench_log_floor (id bigserial PRIMARY KEY, payload jsonb,"
			" published_at timestamptz DEFAULT now())");
		cmd(admin, "CREATE TABLE bench_read_floor (part int, off bigint, key text, payload jsonb,"
			" headers jsonb, published_at timestamptz, PRIMARY KEY (part, off))");
		if (backlog > 0)
		{
			prefill_backlog(admin, need);
			report_retained(admin);
		}
	}
	if (groups)
	{
		cmd(admin, "SELECT broker.drop_topic('" GROUP_TOPIC "', if_exists => true)");
		cmd(admin, "DROP TABLE IF EXISTS bench_group_floor");
		cmd(admin, "CREATE TABLE bench_group_floor (id bigserial PRIMARY KEY, payload jsonb,"
			" created_at timestamptz DEFAULT now())");
	}

	for (k = 0; k < rounds; k++)
	{
		for (i = 0; i < nrows; i++)
		{
			if (!rows[i].selected)
				continue;
			if (rows[i].held && holder == NULL)
			{
				holder = connect_db();
				cmd(holder, "BEGIN");
				cmd(holder, "SELECT pg_catalog.txid_current()");
			}
			else if (!rows[i].held && holder != NULL)
			{
				PQfinish(holder);
				holder = NULL;
			}
			rows[i].r[k] = run(admin, rows[i].kind, rows[i].clients, rows[i].batch,
							   rows[i].topic, is_group_kind(rows[i].kind) ?
							   group_prefill_size(rows, nrows, i, k) : 0);
			if (!json && is_group_kind(rows[i].kind))
				fprintf(stderr, "round %d: %-*s %-16s %10.0f rec/s (%ld prefilled, %ld empty polls,"
						" %ld to %ld records per consumer)\n",
						k + 1, width, rows[i].workload, rows[i].system, rows[i].r[k].rate,
						rows[i].r[k].prefill, rows[i].r[k].empty, rows[i].r[k].least,
						rows[i].r[k].most);
			else if (!json)
				fprintf(stderr, "round %d: %-*s %-16s %10.0f %s\n", k + 1,
						width, rows[i].workload, rows[i].system, rows[i].r[k].rate,
						rows[i].kind == READ_BROKER || rows[i].kind == READ_FLOOR ?
						"rec/s" : "msg/s");
		}
		if (holder)
		{
			PQfinish(holder);
			holder = NULL;
		}
	}

	/*
	 * Each round runs a workload right after its floor, so the ratio of
	 * the two in one round is less exposed to a machine whose speed drifts
	 * between rounds than the ratio of the two medians: report both.
	 */
	for (i = 0; i < nrows; i++)
	{
		double		pr[16];
		int			f = rows[i].floor_row;

		if (!rows[i].selected || f < 0)
			continue;
		for (k = 0; k < rounds; k++)
			pr[k] = rows[f].r[k].rate > 0 ? rows[i].r[k].rate / rows[f].r[k].rate : 0;
		qsort(pr, rounds, sizeof(double), cmp_double);
		rows[i].paired = pr[rounds / 2];
	}

	/* medians over the rounds */
	if (json)
		printf("[\n");
	else
	{
		printf("%-*s %-16s %8s %12s %7s %7s %8s %8s %8s %8s\n", width, "workload", "system",
			   "clients", "msg/s", "ratio", "paired", "p50 ms", "p95 ms", "p99 ms", "max ms");
	}
	for (i = 0; i < nrows; i++)
	{
		Result		med;
		double		ratio = 0;
		int			first = 1;

		if (!rows[i].selected)
			continue;
		qsort(rows[i].r, rounds, sizeof(Result), cmp_result);
		med = rows[i].r[rounds / 2];
		rows[i].r[0] = med;
		if (rows[i].floor_row >= 0)
			ratio = med.rate / rows[rows[i].floor_row].r[0].rate;
		if (json)
		{
			static int printed = 0;

			char		bbuf[128] = "";

			if (is_topic_kind(rows[i].kind))
				snprintf(bbuf, sizeof(bbuf), ", \"backlog\": %ld", backlog);
			else if (is_group_kind(rows[i].kind))
			{
				int			c = rows[i].clean_row;

				snprintf(bbuf, sizeof(bbuf), ", \"prefill\": %ld, \"empty_polls\": %ld",
						 med.prefill, med.empty);
				if (c >= 0 && rows[c].selected)
					snprintf(bbuf + strlen(bbuf), sizeof(bbuf) - strlen(bbuf),
							 ", \"ratio_to_clean\": %.3f", med.rate / rows[c].r[0].rate);
			}
			printf("%s  {\"workload\": \"%s\", \"system\": \"%s\", \"clients\": %d, \"batch\": %d%s,"
				   " \"msgs_per_s\": %.0f, \"ratio_to_floor\": %.3f, \"paired_ratio\": %.3f,"
				   " \"p50_ms\": %.3f, \"p95_ms\": %.3f, \"p99_ms\": %.3f, \"max_ms\": %.3f}",
				   printed++ ? ",\n" : "", rows[i].workload, rows[i].system,
				   rows[i].clients, rows[i].batch, bbuf, med.rate, ratio, rows[i].paired, med.p50,
				   med.p95, med.p99, med.max);
		}
		else
		{
			char		rbuf[16] = "";
			char		pbuf[16] = "";

			if (rows[i].floor_row >= 0)
			{
				snprintf(rbuf, sizeof(rbuf), "%.2f", ratio);
				snprintf(pbuf, sizeof(pbuf), "%.2f", rows[i].paired);
			}
			printf("%-*s %-16s %8d %12.0f %7s %7s %8.2f %8.2f %8.2f %8.2f\n",
				   width, rows[i].workload, rows[i].system, rows[i].clients, med.rate,
				   rbuf, pbuf, med.p50, med.p95, med.p99, med.max);
		}
		(void) first;
	}
	if (json)
		printf("\n]\n");
	else
	{
		int			header = 0;

		/* group workloads: each held-xmin figure as a share of the clean one */
		for (i = 0; i < nrows; i++)
		{
			int			c = rows[i].clean_row;

			if (!rows[i].selected || c < 0 || !rows[c].selected)
				continue;
			if (!header++)
				printf("\n%-*s %-16s %12s %12s %7s\n", width, "held-xmin vs clean", "system",
					   "held rec/s", "clean rec/s", "share");
			printf("%-*s %-16s %12.0f %12.0f %6.0f%%\n", width, rows[i].workload,
				   rows[i].system, rows[i].r[0].rate, rows[c].r[0].rate,
				   100.0 * rows[i].r[0].rate / rows[c].r[0].rate);
		}
	}

	cmd(admin, "SELECT broker.drop_queue('bench')");
	cmd(admin, "DROP TABLE bench_floor");
	if (topics)
	{
		drop_topics(admin);
		cmd(admin, "DROP TABLE bench_log_floor, bench_read_floor");
	}
	if (groups)
	{
		cmd(admin, "SELECT broker.drop_topic('" GROUP_TOPIC "', if_exists => true)");
		cmd(admin, "DROP TABLE bench_group_floor");
	}
	PQfinish(admin);
	return 0;
}
