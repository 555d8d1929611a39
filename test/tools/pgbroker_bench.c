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
 * Connection parameters come from the PG* environment variables.
 *
 * usage: pgbroker_bench [--seconds N] [--rounds N] [--held-xmin] [--json]
 *                       [--only WORKLOAD]
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
	READ_FLOOR
} Kind;

/* read-100's prefill: records per partition, partitions of bench_t16 */
#define READ_PARTITIONS		16
#define READ_PER_PARTITION	12500L

#define BENCH_BODY "pgbroker-benchmark-payload-0123456789abcdefghijklmnopqrstuvwxyz-0123456789"

typedef struct Result
{
	double		rate;			/* messages per second */
	double		p50,
				p95,
				p99,
				max;			/* transaction latency, ms */
	long		messages;
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
static volatile int drained = 0;

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

static void *
worker(void *arg)
{
	Thread	   *t = arg;
	PGconn	   *c = connect_db();
	char		nbuf[16];
	char		sql[256];
	const char *params[2];
	long		seq = 0;
	char	   *arr = NULL;
	int			part = t->index % READ_PARTITIONS;	/* read-100 position */
	long		next = 0;

	snprintf(nbuf, sizeof(nbuf), "%d", t->batch);
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
			long		want = READ_PER_PARTITION - next;
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
			if (next >= READ_PER_PARTITION)
			{
				/* end of the partition: on to this client's next one */
				part = (part + t->clients) % READ_PARTITIONS;
				next = 0;
			}
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
 * records as the clients published.
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

/* Every topic run starts on new topics and empty floor tables. */
static void
reset_topic_state(PGconn *c, Kind kind)
{
	create_topics(c);
	cmd(c, "TRUNCATE bench_log_floor, bench_read_floor RESTART IDENTITY");
	if (kind == READ_BROKER || kind == READ_FLOOR)
		prefill_read(c, kind);
	cmd(c, "CHECKPOINT");
}

static Result
run(PGconn *admin, Kind kind, int clients, int batch, const char *topic)
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
		pthread_create(&th[i].tid, NULL, worker, &th[i]);
	}
	for (i = 0; i < clients; i++)
	{
		pthread_join(th[i].tid, NULL);
		total += th[i].messages;
		nlat += th[i].nlat;
		if (th[i].finished_at > end)
			end = th[i].finished_at;
	}
	if (kind == PUBLISH_BROKER || kind == PUBLISH_FLOOR)
		check_published(admin, kind, topic, total);
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
} Row;

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
	};
	int			nrows = sizeof(rows) / sizeof(rows[0]);
	PGconn	   *admin;
	PGconn	   *holder = NULL;
	int			topics = 0;
	int			i,
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
		else
		{
			fprintf(stderr, "usage: pgbroker_bench [--seconds N] [--rounds N] [--held-xmin] [--json] [--only WORKLOAD]\n");
			return 1;
		}
	}
	if (seconds < 1 || rounds < 1 || rounds > 16)
	{
		fprintf(stderr, "pgbroker_bench: --seconds must be >= 1 and --rounds between 1 and 16\n");
		return 1;
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
		if (is_topic_kind(rows[i].kind) && (!rows[i].held || held) &&
			(!only || strncmp(rows[i].workload, only, strlen(only)) == 0))
			topics = 1;
	if (topics)
	{
		create_topics(admin);
		cmd(admin, "DROP TABLE IF EXISTS bench_log_floor, bench_read_floor");
		cmd(admin, "CREATE TABLE bench_log_floor (id bigserial PRIMARY KEY, payload jsonb,"
			" published_at timestamptz DEFAULT now())");
		cmd(admin, "CREATE TABLE bench_read_floor (part int, off bigint, key text, payload jsonb,"
			" headers jsonb, published_at timestamptz, PRIMARY KEY (part, off))");
	}

	for (k = 0; k < rounds; k++)
	{
		for (i = 0; i < nrows; i++)
		{
			if (rows[i].held && !held)
				continue;
			if (only && strncmp(rows[i].workload, only, strlen(only)) != 0)
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
							   rows[i].topic);
			if (!json)
				fprintf(stderr, "round %d: %-22s %-16s %10.0f %s\n", k + 1,
						rows[i].workload, rows[i].system, rows[i].r[k].rate,
						rows[i].kind == READ_BROKER || rows[i].kind == READ_FLOOR ?
						"rec/s" : "msg/s");
		}
		if (holder)
		{
			PQfinish(holder);
			holder = NULL;
		}
	}

	/* medians over the rounds */
	if (json)
		printf("[\n");
	else
	{
		printf("%-22s %-16s %8s %12s %7s %8s %8s %8s %8s\n", "workload", "system",
			   "clients", "msg/s", "ratio", "p50 ms", "p95 ms", "p99 ms", "max ms");
	}
	for (i = 0; i < nrows; i++)
	{
		Result		med;
		double		ratio = 0;
		int			first = 1;

		if ((rows[i].held && !held) ||
			(only && strncmp(rows[i].workload, only, strlen(only)) != 0))
			continue;
		qsort(rows[i].r, rounds, sizeof(Result), cmp_result);
		med = rows[i].r[rounds / 2];
		rows[i].r[0] = med;
		if (rows[i].floor_row >= 0)
			ratio = med.rate / rows[rows[i].floor_row].r[0].rate;
		if (json)
		{
			static int printed = 0;

			printf("%s  {\"workload\": \"%s\", \"system\": \"%s\", \"clients\": %d, \"batch\": %d,"
				   " \"msgs_per_s\": %.0f, \"ratio_to_floor\": %.3f, \"p50_ms\": %.3f,"
				   " \"p95_ms\": %.3f, \"p99_ms\": %.3f, \"max_ms\": %.3f}",
				   printed++ ? ",\n" : "", rows[i].workload, rows[i].system,
				   rows[i].clients, rows[i].batch, med.rate, ratio, med.p50,
				   med.p95, med.p99, med.max);
		}
		else
		{
			char		rbuf[16] = "";

			if (rows[i].floor_row >= 0)
				snprintf(rbuf, sizeof(rbuf), "%.2f", ratio);
			printf("%-22s %-16s %8d %12.0f %7s %8.2f %8.2f %8.2f %8.2f\n",
				   rows[i].workload, rows[i].system, rows[i].clients, med.rate,
				   rbuf, med.p50, med.p95, med.p99, med.max);
		}
		(void) first;
	}
	if (json)
		printf("\n]\n");

	cmd(admin, "SELECT broker.drop_queue('bench')");
	cmd(admin, "DROP TABLE bench_floor");
	if (topics)
	{
		drop_topics(admin);
		cmd(admin, "DROP TABLE bench_log_floor, bench_read_floor");
	}
	PQfinish(admin);
	return 0;
}
