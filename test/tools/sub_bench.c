/*
 * sub_bench.c - subscriptions against an external consumer doing the same
 * work, beside the floor, in the same run.
 *
 * Throughput: a backlog of --messages messages is consumed, each message
 * becoming one row of a sink table, by
 *   floor         --workers threads: DELETE a batch from a plain table and
 *                 INSERT it into the sink, one statement, one transaction;
 *   external      --workers threads, libpq, prepared statements, one
 *                 transaction per batch: BEGIN; INSERT INTO sink SELECT
 *                 ... FROM broker.claim(...) RETURNING id;
 *                 SELECT broker.ack(queue, ids); COMMIT;
 *   external, counted  the same with a subscription's guarantee that
 *                 every delivery is counted before it is handled: a leased
 *                 claim that commits, then BEGIN; INSERT the rows it
 *                 returned (arrays as parameters); ack with the receipts;
 *                 COMMIT;
 *   subscription  --workers workers of one subscription (concurrency),
 *                 whose handler inserts the row: once per message
 *                 (broker.message), or once per batch (broker.message[],
 *                 one INSERT ... SELECT FROM unnest).
 * Each run is timed by the server's clock, from its start to the insert of
 * its last sink row.
 * for batches of 1 and of 100, --rounds times, interleaved; medians.
 *
 * Latency: one producer sends --rate messages a second for --seconds, each
 * in its own transaction that also records its id; the consumer's
 * transaction inserts the sink row.  With track_commit_timestamp on, the
 * latency of a message is the commit time of its sink row minus that of
 * its send, both read from the server (no client clock involved).  The
 * same for the external consumer waiting inside its claim (claim with
 * wait, woken by the producer's commit) and for the subscription.
 *
 * usage: sub_bench [--messages N] [--workers W] [--rounds R] [--rate R]
 *                  [--seconds S] [--only throughput|latency]
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "stats.h"

static long messages = 20000;
static int	workers = 2;
static int	rounds = 3;
static int	rate = 500;
static int	seconds = 10;
static const char *only = NULL;

typedef enum System
{
	FLOOR,
	EXTERNAL,
	EXTERNAL_COUNTED,
	SUB_ONE,
	SUB_BATCH
} System;

static const char *system_names[] = {"floor", "external", "external, counted",
"subscription (message)", "subscription (message[])"};

/* ------------------------------------------------------------------ setup */

static void
setup(PGconn *c)
{
	sql_cmd(c, "SET client_min_messages = warning");
	sql_cmd(c, "CREATE EXTENSION IF NOT EXISTS pgbroker");
	sql_cmd(c, "SELECT broker.unsubscribe(s.name) FROM broker.subscription s WHERE s.name LIKE 'sb\\_%'");
	sql_cmd(c, "SELECT broker.drop_queue('sb_q', if_exists => true)");
	sql_cmd(c, "SELECT broker.create_queue('sb_q', max_attempts => 1000)");
	sql_cmd(c, "DROP TABLE IF EXISTS sb_sink, sb_floor, sb_sent");
	sql_cmd(c, "CREATE TABLE sb_sink (id bigint, payload jsonb, at timestamptz DEFAULT clock_timestamp())");
	sql_cmd(c, "CREATE TABLE sb_floor (id bigserial PRIMARY KEY, payload jsonb)");
	sql_cmd(c, "CREATE TABLE sb_sent (id bigint)");
	sql_cmd(c, "CREATE OR REPLACE FUNCTION sb_one(m broker.message) RETURNS void LANGUAGE sql"
			" AS $$ INSERT INTO sb_sink (id, payload) VALUES (m.id, m.payload) $$");
	sql_cmd(c, "CREATE OR REPLACE FUNCTION sb_batch(ms broker.message[]) RETURNS void LANGUAGE sql"
			" AS $$ INSERT INTO sb_sink (id, payload) SELECT m.id, m.payload FROM unnest(ms) m $$");
	sql_cmd(c, "SELECT broker.subscribe('sb_one', 'sb_one(broker.message)'::regprocedure,"
			" queue => 'sb_q', enabled => false)");
	sql_cmd(c, "SELECT broker.subscribe('sb_batch', 'sb_batch(broker.message[])'::regprocedure,"
			" queue => 'sb_q', enabled => false)");
}

/* The backlog: messages in the queue (or the floor's table), then a checkpoint. */
static void
prefill(PGconn *c, System sys)
{
	long		done;

	sql_cmd(c, "TRUNCATE sb_sink");
	for (done = 0; done < messages; done += 1000)
	{
		long		n = messages - done < 1000 ? messages - done : 1000;

		if (sys == FLOOR)
			sql_cmdf(c, "INSERT INTO sb_floor (payload) SELECT jsonb_build_object('n', g, 'body',"
					 " 'pgbroker-benchmark-payload-0123456789abcdefghijklmnopqrstuvwxyz')"
					 " FROM generate_series(1, %ld) g", n);
		else
			sql_cmdf(c, "SELECT count(*) FROM broker.send_batch('sb_q', ARRAY(SELECT jsonb_build_object("
					 "'n', g, 'body', 'pgbroker-benchmark-payload-0123456789abcdefghijklmnopqrstuvwxyz')"
					 " FROM generate_series(1, %ld) g))", n);
	}
	sql_cmd(c, "VACUUM ANALYZE sb_sink");
	sql_cmd(c, "VACUUM ANALYZE sb_floor");
	sql_cmd(c, "CHECKPOINT");
}

/* ------------------------------------------------------------- throughput */

typedef struct Worker
{
	pthread_t	thread;
	System		sys;
	int			batch;
	long		consumed;
} Worker;

static void *
floor_worker(void *arg)
{
	Worker	   *w = arg;
	PGconn	   *c = connect_db();
	char		n[16];
	const char *params[1] = {n};

	snprintf(n, sizeof(n), "%d", w->batch);
	sql_prepare(c, "take",
				"WITH d AS (DELETE FROM sb_floor WHERE id IN (SELECT id FROM sb_floor ORDER BY id"
				" LIMIT $1 FOR UPDATE SKIP LOCKED) RETURNING id, payload)"
				" INSERT INTO sb_sink (id, payload) SELECT id, payload FROM d");
	for (;;)
	{
		PGresult   *r = PQexecPrepared(c, "take", 1, params, NULL, NULL, 0);
		long		got;

		sql_check(c, r, "floor take");
		got = atol(PQcmdTuples(r));
		PQclear(r);
		if (got == 0)
			break;
		w->consumed += got;
	}
	PQfinish(c);
	return NULL;
}

/*
 * One batch of an external consumer, in the transaction the caller began:
 * the prepared "take" (claim and insert, RETURNING id) with its params,
 * then an ack of the ids it returned.  ids: room for 24 bytes per message.
 * Returns how many it took.
 */
static int
take_and_ack(PGconn *c, int nparams, const char *const *params, char *ids)
{
	PGresult   *r;
	int			got;
	int			i;
	size_t		len = 0;
	const char *ackp[1] = {ids};

	r = PQexecPrepared(c, "take", nparams, params, NULL, NULL, 0);
	sql_check(c, r, "claim and insert");
	got = PQntuples(r);
	ids[len++] = '{';
	for (i = 0; i < got; i++)
		len += sprintf(ids + len, "%s%s", i ? "," : "", PQgetvalue(r, i, 0));
	ids[len++] = '}';
	ids[len] = '\0';
	PQclear(r);
	if (got > 0)
	{
		r = PQexecPrepared(c, "ack", 1, ackp, NULL, NULL, 0);
		sql_check(c, r, "ack");
		PQclear(r);
	}
	return got;
}

static void *
external_worker(void *arg)
{
	Worker	   *w = arg;
	PGconn	   *c = connect_db();
	char		n[16];
	const char *params[1] = {n};
	char	   *ids = malloc(24 * (size_t) w->batch + 4);

	snprintf(n, sizeof(n), "%d", w->batch);
	sql_prepare(c, "begin", "BEGIN");
	sql_prepare(c, "take", "INSERT INTO sb_sink (id, payload) SELECT m.id, m.payload FROM broker.claim('sb_q', $1) m"
				" RETURNING id");
	sql_prepare(c, "ack", "SELECT broker.ack('sb_q', $1::bigint[])");
	sql_prepare(c, "commit", "COMMIT");
	for (;;)
	{
		PGresult   *r;
		int			got;

		r = PQexecPrepared(c, "begin", 0, NULL, NULL, NULL, 0);
		sql_check(c, r, "BEGIN");
		PQclear(r);
		got = take_and_ack(c, 1, params, ids);
		r = PQexecPrepared(c, "commit", 0, NULL, NULL, NULL, 0);
		sql_check(c, r, "COMMIT");
		PQclear(r);
		if (got == 0)
			break;
		w->consumed += got;
	}
	free(ids);
	PQfinish(c);
	return NULL;
}

/* Append v to buf as an element of an array literal (quoted, escaped). */
static size_t
append_element(char *buf, size_t len, const char *v)
{
	buf[len++] = '"';
	for (; *v; v++)
	{
		if (*v == '"' || *v == '\\')
			buf[len++] = '\\';
		buf[len++] = *v;
	}
	buf[len++] = '"';
	return len;
}

/* An external consumer that counts each delivery first: see the header. */
static void *
counted_worker(void *arg)
{
	Worker	   *w = arg;
	PGconn	   *c = connect_db();
	char		n[16];
	const char *params[1] = {n};

	snprintf(n, sizeof(n), "%d", w->batch);
	sql_prepare(c, "claim", "SELECT id, receipt, payload FROM broker.claim('sb_q', $1, lease => '1 minute')");
	sql_prepare(c, "insert", "INSERT INTO sb_sink (id, payload) SELECT unnest($1::bigint[]), unnest($2::jsonb[])");
	sql_prepare(c, "ack", "SELECT broker.ack_batch('sb_q', $1::bigint[], $2::uuid[])");
	for (;;)
	{
		PGresult   *r = PQexecPrepared(c, "claim", 1, params, NULL, NULL, 0);
		int			got;
		int			i;
		size_t		room;
		char	   *ids;
		char	   *receipts;
		char	   *payloads;
		size_t		li = 0,
					lr = 0,
					lp = 0;
		const char *ins[2];
		const char *ack[2];

		sql_check(c, r, "claim");
		got = PQntuples(r);
		if (got == 0)
		{
			PQclear(r);
			break;
		}
		room = 64;
		for (i = 0; i < got; i++)
			room += 2 * strlen(PQgetvalue(r, i, 2)) + 64;
		ids = malloc(room);
		receipts = malloc(room);
		payloads = malloc(room);
		ids[li++] = receipts[lr++] = payloads[lp++] = '{';
		for (i = 0; i < got; i++)
		{
			if (i)
				ids[li++] = receipts[lr++] = payloads[lp++] = ',';
			li += sprintf(ids + li, "%s", PQgetvalue(r, i, 0));
			lr += sprintf(receipts + lr, "%s", PQgetvalue(r, i, 1));
			lp = append_element(payloads, lp, PQgetvalue(r, i, 2));
		}
		ids[li++] = receipts[lr++] = payloads[lp++] = '}';
		ids[li] = receipts[lr] = payloads[lp] = '\0';
		PQclear(r);
		ins[0] = ack[0] = ids;
		ins[1] = payloads;
		ack[1] = receipts;
		sql_cmd(c, "BEGIN");
		r = PQexecPrepared(c, "insert", 2, ins, NULL, NULL, 0);
		sql_check(c, r, "insert");
		PQclear(r);
		r = PQexecPrepared(c, "ack", 2, ack, NULL, NULL, 0);
		sql_check(c, r, "ack");
		PQclear(r);
		sql_cmd(c, "COMMIT");
		w->consumed += got;
		free(ids);
		free(receipts);
		free(payloads);
	}
	PQfinish(c);
	return NULL;
}

/* Consume the backlog with sys; returns messages per second. */
static double
drain(PGconn *c, System sys, int batch)
{
	double		t0;
	double		elapsed;
	long		sunk;

	prefill(c, sys);
	t0 = atof(sql_value(c, "SELECT extract(epoch FROM clock_timestamp())"));
	if (sys == FLOOR || sys == EXTERNAL || sys == EXTERNAL_COUNTED)
	{
		Worker	   *ws = calloc(workers, sizeof(Worker));
		int			i;

		for (i = 0; i < workers; i++)
		{
			ws[i].sys = sys;
			ws[i].batch = batch;
			pthread_create(&ws[i].thread, NULL,
						   sys == FLOOR ? floor_worker : sys == EXTERNAL ? external_worker : counted_worker,
						   &ws[i]);
		}
		for (i = 0; i < workers; i++)
			pthread_join(ws[i].thread, NULL);
		free(ws);
	}
	else
	{
		const char *name = sys == SUB_ONE ? "sb_one" : "sb_batch";

		sql_cmdf(c, "SELECT broker.alter_subscription('%s', enabled => true, batch_size => %d,"
				 " concurrency => %d)", name, batch, workers);
		/* a coarse look, not to take the workers' CPU: the time is the rows' own */
		while (atol(sql_value(c, "SELECT count(*) FROM sb_sink")) < messages)
			usleep(250000);
		sql_cmdf(c, "SELECT broker.alter_subscription('%s', enabled => false)", name);
		/* until its workers are gone */
		while (strcmp(sql_value(c, "SELECT count(*) FROM pg_stat_activity"
								" WHERE application_name LIKE 'pgbroker subscription %%'"), "0") != 0)
			usleep(10000);
	}
	/* from the start to the commit of the last row, as the server saw it */
	elapsed = atof(sql_value(c, "SELECT extract(epoch FROM max(at)) FROM sb_sink")) - t0;
	sunk = atol(sql_value(c, "SELECT count(*) FROM sb_sink"));
	if (sunk != messages)
	{
		fprintf(stderr, "sub_bench: %s consumed %ld of %ld messages\n", system_names[sys], sunk, messages);
		exit(1);
	}
	return messages / elapsed;
}

static double
median(double *v, int n)
{
	sort_doubles(v, n);
	return percentile(v, n, 50);
}

static void
throughput(PGconn *c)
{
	int			batches[2] = {1, 100};
	int			b;

	printf("| batch | system | msg/s | ratio to floor | ratio to external | ratio to external, counted |\n");
	printf("|---:|---|---:|---:|---:|---:|\n");
	for (b = 0; b < 2; b++)
	{
		double		rates[5][16];
		double		med[5];
		int			r;
		int			s;

		for (r = 0; r < rounds; r++)
			for (s = FLOOR; s <= SUB_BATCH; s++)
			{
				rates[s][r] = drain(c, (System) s, batches[b]);
				fprintf(stderr, "sub_bench: batch %d round %d %s: %.0f msg/s\n",
						batches[b], r + 1, system_names[s], rates[s][r]);
			}
		for (s = FLOOR; s <= SUB_BATCH; s++)
			med[s] = median(rates[s], rounds);
		for (s = FLOOR; s <= SUB_BATCH; s++)
			printf("| %d | %s | %.0f | %.2f | %.2f | %.2f |\n", batches[b], system_names[s], med[s],
				   med[s] / med[FLOOR], med[s] / med[EXTERNAL], med[s] / med[EXTERNAL_COUNTED]);
		fflush(stdout);
	}
}

/* ---------------------------------------------------------------- latency */

static volatile int stop_consumers = 0;

static void *
waiting_consumer(void *arg)
{
	PGconn	   *c = connect_db();
	char	   *ids = malloc(24 * 100 + 4);

	sql_prepare(c, "take", "INSERT INTO sb_sink (id, payload) SELECT m.id, m.payload"
				" FROM broker.claim('sb_q', 100, wait => '200 ms') m RETURNING id");
	sql_prepare(c, "ack", "SELECT broker.ack('sb_q', $1::bigint[])");
	while (!stop_consumers)
	{
		sql_cmd(c, "BEGIN");
		(void) take_and_ack(c, 0, NULL, ids);
		sql_cmd(c, "COMMIT");
	}
	free(ids);
	PQfinish(c);
	return NULL;
}

static void
latency_run(PGconn *c, const char *what, int external)
{
	PGconn	   *p = connect_db();
	pthread_t  *threads = NULL;
	double		t0;
	long		sent = 0;
	long		total = (long) rate * seconds;
	int			i;
	const char *row;

	sql_cmd(c, "TRUNCATE sb_sink, sb_sent");
	sql_cmd(c, "CHECKPOINT");
	if (external)
	{
		stop_consumers = 0;
		threads = calloc(workers, sizeof(pthread_t));
		for (i = 0; i < workers; i++)
			pthread_create(&threads[i], NULL, waiting_consumer, NULL);
	}
	else
		sql_cmdf(c, "SELECT broker.alter_subscription('sb_batch', enabled => true, batch_size => 100,"
				 " concurrency => %d)", workers);
	sleep(1);
	sql_prepare(p, "send", "INSERT INTO sb_sent SELECT broker.send('sb_q', '{\"n\": 1}')");
	t0 = now_secs();
	while (sent < total)
	{
		double		due = t0 + (double) sent / rate;
		double		now = now_secs();
		PGresult   *r;

		if (due > now)
			usleep((useconds_t) ((due - now) * 1e6));
		r = PQexecPrepared(p, "send", 0, NULL, NULL, NULL, 0);
		sql_check(p, r, "send");
		PQclear(r);
		sent++;
	}
	while (strcmp(sql_value(c, "SELECT count(*) >= %ld FROM sb_sink", total), "t") != 0)
		usleep(20000);
	if (external)
	{
		stop_consumers = 1;
		for (i = 0; i < workers; i++)
			pthread_join(threads[i], NULL);
		free(threads);
	}
	else
	{
		sql_cmd(c, "SELECT broker.alter_subscription('sb_batch', enabled => false)");
		while (strcmp(sql_value(c, "SELECT count(*) FROM pg_stat_activity"
								" WHERE application_name LIKE 'pgbroker subscription %%'"), "0") != 0)
			usleep(10000);
	}
	row = sql_value(c,
					"SELECT format('%%s | %%s | %%s | %%s | %%s', count(*),"
					" round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 2),"
					" round(percentile_cont(0.95) WITHIN GROUP (ORDER BY ms)::numeric, 2),"
					" round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)::numeric, 2),"
					" round(max(ms)::numeric, 2))"
					" FROM (SELECT extract(epoch FROM pg_xact_commit_timestamp(k.xmin)"
					"   - pg_xact_commit_timestamp(s.xmin)) * 1000 AS ms"
					"   FROM sb_sent s JOIN sb_sink k ON k.id = s.id) l");
	printf("| %s | %d | %.0f | %s |\n", what, workers, total / (now_secs() - t0), row);
	fflush(stdout);
	PQfinish(p);
}

static void
latency(PGconn *c)
{
	if (strcmp(sql_value(c, "SHOW track_commit_timestamp"), "on") != 0)
	{
		fprintf(stderr, "sub_bench: the latency runs need track_commit_timestamp = on\n");
		exit(1);
	}
	printf("\n| consumer at %d msg/s | workers | offered msg/s | messages | p50 ms | p95 ms | p99 ms | max ms |\n",
		   rate);
	printf("|---|---:|---:|---:|---:|---:|---:|---:|\n");
	latency_run(c, "external, claim with wait", 1);
	latency_run(c, "subscription (message[])", 0);
}

int
main(int argc, char **argv)
{
	PGconn	   *c;
	int			i;

	common_init("sub_bench", 1, 2);
	for (i = 1; i < argc; i++)
	{
		if (strcmp(argv[i], "--messages") == 0 && i + 1 < argc)
			messages = atol(argv[++i]);
		else if (strcmp(argv[i], "--workers") == 0 && i + 1 < argc)
			workers = atoi(argv[++i]);
		else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc)
			rounds = atoi(argv[++i]);
		else if (strcmp(argv[i], "--rate") == 0 && i + 1 < argc)
			rate = atoi(argv[++i]);
		else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
			seconds = atoi(argv[++i]);
		else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc)
			only = argv[++i];
		else
		{
			fprintf(stderr, "usage: sub_bench [--messages N] [--workers W] [--rounds R] [--rate R]"
					" [--seconds S] [--only throughput|latency]\n");
			return 1;
		}
	}
	if (messages < 1 || workers < 1 || workers > 64 || rounds < 1 || rounds > 16 || rate < 1 || seconds < 1)
	{
		fprintf(stderr, "sub_bench: out-of-range argument\n");
		return 1;
	}
	c = connect_db();
	setup(c);
	if (only == NULL || strcmp(only, "throughput") == 0)
		throughput(c);
	if (only == NULL || strcmp(only, "latency") == 0)
		latency(c);
	PQfinish(c);
	return 0;
}
