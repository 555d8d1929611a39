/*
 * bench.c - pgbroker bench: throughput and latency of a queue or a topic,
 * and in the same run the floor: plain SQL doing the same work on a plain
 * table, so that every figure is also a ratio.
 *
 * A run has two phases.  Producers send for --seconds (broker.send or
 * broker.send_batch; broker.publish or broker.publish_batch), then
 * consumers take what was produced until it is gone or --seconds have
 * passed (a queue: claim and ack in one statement, or with --leased claim
 * and then ack; a topic: broker.poll as one consumer group, offsets
 * committed with the statement, or with --leased as named consumers
 * polling with a lease and committing the records).  The floor does the
 * same on
 *   pgbroker_bench_floor_PID_N(id bigserial primary key, payload jsonb,
 *                              created_at timestamptz default now())
 * with INSERT (one row, or unnest of an array), and with
 *   DELETE FROM pgbroker_bench_floor_PID_N WHERE id IN (SELECT id ...
 *   ORDER BY id LIMIT n FOR UPDATE SKIP LOCKED) RETURNING *
 * Every statement is prepared once per connection and run synchronously,
 * one connection per thread, as pgbench -M prepared runs its scripts, so
 * the floor is what pgbench reports for the same statements.  Latencies
 * are per statement.  After each phase the counts are checked against the
 * database (what was produced is there; what was consumed is gone); a
 * difference fails the benchmark.  The queue or topic is
 * pgbroker_bench_PID_N (PID: the admin connection's backend, N: random),
 * and only what the run created is dropped, after an error or Ctrl-C too.
 */
#include <getopt.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "stats.h"

/*
 * The run's objects are its own: named for the run (the admin
 * connection's backend pid and a random number), created without "if not
 * exists", and dropped only if this run created them, so that a user's
 * queue, topic or table called pgbroker_bench (or anything else) is never
 * touched.  Set before the workers start, read-only after.
 */
static char bench_name[64];		/* the queue or topic, and the topic's group */
static char floor_table[80];	/* the floor's table */
static bool created_queue = false;
static bool created_topic = false;
static bool created_floor = false;

typedef enum Side
{
	SIDE_BROKER,
	SIDE_FLOOR
} Side;

typedef enum Phase
{
	PHASE_PRODUCE,
	PHASE_CONSUME
} Phase;

typedef struct BenchOpts
{
	bool		topic;
	bool		leased;
	bool		json;
	bool		floor;
	bool		broker;
	int			producers;
	int			consumers;
	int			size;
	int			batch;
	int			seconds;
	int			partitions;
} BenchOpts;

typedef struct Worker
{
	pthread_t	thread;
	int			id;
	const BenchOpts *o;
	Side		side;
	Phase		phase;
	pthread_barrier_t *start;
	volatile double deadline;
	long		messages;
	long		statements;
	double	   *lat;			/* milliseconds, one per statement */
	long		nlat;
	long		caplat;
	char		error[512];
} Worker;

typedef struct Result
{
	Phase		phase;
	Side		side;
	long		messages;
	double		seconds;
	double		rate;
	double		mbps;
	double		p50,
				p95,
				p99,
				max;
} Result;

static PGconn *
bench_connect(char *err, size_t errlen)
{
	return connect_db_quiet(err, errlen);
}

static bool
prepare(Worker *w, PGconn *c, const char *name, const char *sql)
{
	PGresult   *r = PQprepare(c, name, sql, 0, NULL);
	bool		ok = exec_ok(r);

	if (!ok)
		snprintf(w->error, sizeof(w->error), "%s", PQresultErrorMessage(r));
	PQclear(r);
	return ok;
}

/* a JSON payload of exactly `size` bytes: {"p":"xxx..."} */
static char *
make_payload(int size)
{
	char	   *s = malloc((size_t) size + 1);
	int			pad = size - 8;

	memcpy(s, "{\"p\":\"", 6);
	memset(s + 6, 'x', (size_t) pad);
	memcpy(s + 6 + pad, "\"}", 3);
	return s;
}

static char *
make_array(int size, int n)
{
	char	   *one = make_payload(size);
	Buf			b;

	buf_init(&b);
	buf_puts(&b, "{");
	for (int i = 0; i < n; i++)
	{
		if (i > 0)
			buf_puts(&b, ",");
		buf_array_elem(&b, one, strlen(one));
	}
	buf_puts(&b, "}");
	free(one);
	return b.data;
}

static void
add_latency(Worker *w, double ms)
{
	if (w->nlat == w->caplat)
	{
		w->caplat = w->caplat ? w->caplat * 2 : 4096;
		w->lat = realloc(w->lat, sizeof(double) * w->caplat);
	}
	w->lat[w->nlat++] = ms;
}

/*
 * Prepare a statement whose text names the run's objects: fmt is a
 * printf format whose every %s is the queue's or topic's name (also the
 * consumer group's), or the floor table's; the names are identifiers of
 * lower-case letters, digits and underscores.
 */
static bool preparef(Worker *w, PGconn *c, const char *name, const char *fmt,...)
			__attribute__((format(printf, 4, 5)));

static bool
preparef(Worker *w, PGconn *c, const char *name, const char *fmt,...)
{
	char		sql[2048];
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(sql, sizeof(sql), fmt, ap);
	va_end(ap);
	return prepare(w, c, name, sql);
}

static bool
prepare_statements(Worker *w, PGconn *c)
{
	const BenchOpts *o = w->o;
	const char *n = bench_name;

	if (w->phase == PHASE_PRODUCE)
	{
		if (w->side == SIDE_FLOOR)
			return o->batch == 1 ?
				preparef(w, c, "s", "INSERT INTO %s (payload) VALUES ($1::jsonb)", floor_table) :
				preparef(w, c, "s", "INSERT INTO %s (payload) SELECT pg_catalog.unnest($1::jsonb[])",
						 floor_table);
		if (o->topic)
			return o->batch == 1 ?
				preparef(w, c, "s", "SELECT broker.publish('%s', $1::jsonb)", n) :
				preparef(w, c, "s", "SELECT broker.publish_batch('%s', $1::jsonb[])", n);
		return o->batch == 1 ?
			preparef(w, c, "s", "SELECT broker.send('%s', $1::jsonb)", n) :
			preparef(w, c, "s", "SELECT pg_catalog.count(*) FROM broker.send_batch('%s', $1::jsonb[])", n);
	}
	if (w->side == SIDE_FLOOR)
		return preparef(w, c, "s",
						"DELETE FROM %s WHERE id IN (SELECT id FROM %s"
						" ORDER BY id LIMIT $1::int FOR UPDATE SKIP LOCKED) RETURNING *",
						floor_table, floor_table);
	if (o->topic && !o->leased)
		return preparef(w, c, "s", "SELECT * FROM broker.poll('%s', '%s', $1::int)", n, n);
	if (o->topic)
		return preparef(w, c, "s",
						"WITH r AS (SELECT p FROM broker.poll('%s', '%s', $1::int,"
						" consumer => 'bench-%d', lease => '30 seconds') p),"
						" c AS (SELECT broker.commit('%s', '%s',"
						" pg_catalog.array_agg(r.p), 'bench-%d') FROM r HAVING pg_catalog.count(*) > 0)"
						" SELECT (r.p).* FROM r, c", n, n, w->id, n, n, w->id);
	if (o->leased)
		return preparef(w, c, "s", "SELECT id, payload FROM broker.claim('%s', $1::int)", n) &&
			preparef(w, c, "a", "SELECT broker.ack('%s', $1::bigint[])", n);
	return preparef(w, c, "s",
					"WITH c AS (SELECT * FROM broker.claim('%s', $1::int)),"
					" a AS (SELECT broker.ack('%s', pg_catalog.array_agg(id)) AS n FROM c"
					" HAVING pg_catalog.count(*) > 0)"
					" SELECT c.id, c.payload, a.n FROM c, a", n, n);
}

static void *
worker_main(void *arg)
{
	Worker	   *w = arg;
	const BenchOpts *o = w->o;
	char		err[400];
	PGconn	   *c = bench_connect(err, sizeof(err));
	char	   *param = NULL;
	char		nbuf[16];
	bool		ok = c != NULL;
	int			empty = 0;

	if (!ok)
		snprintf(w->error, sizeof(w->error), "could not connect: %s", err);
	else
		ok = prepare_statements(w, c);
	if (w->phase == PHASE_PRODUCE)
		param = o->batch == 1 ? make_payload(o->size) : make_array(o->size, o->batch);
	snprintf(nbuf, sizeof(nbuf), "%d", o->batch);
	pthread_barrier_wait(w->start);

	while (ok && now_seconds() < w->deadline && !interrupted)
	{
		const char *values[1] = {w->phase == PHASE_PRODUCE ? param : nbuf};
		double		t0 = now_seconds();
		PGresult   *r = PQexecPrepared(c, "s", 1, values, NULL, NULL, 0);
		long		got;

		if (!exec_ok(r))
		{
			snprintf(w->error, sizeof(w->error), "%s", PQresultErrorMessage(r));
			PQclear(r);
			break;
		}
		got = w->phase == PHASE_PRODUCE ? o->batch : PQntuples(r);
		if (w->phase == PHASE_CONSUME && o->leased && !o->topic && got > 0)
		{
			Buf			ids;
			const char *av[1];
			PGresult   *a;

			buf_init(&ids);
			buf_puts(&ids, "{");
			for (long i = 0; i < got; i++)
				buf_printf(&ids, "%s%s", i ? "," : "", PQgetvalue(r, (int) i, 0));
			buf_puts(&ids, "}");
			av[0] = ids.data;
			a = PQexecPrepared(c, "a", 1, av, NULL, NULL, 0);
			buf_free(&ids);
			if (!exec_ok(a))
			{
				snprintf(w->error, sizeof(w->error), "%s", PQresultErrorMessage(a));
				PQclear(a);
				PQclear(r);
				break;
			}
			PQclear(a);
		}
		PQclear(r);
		if (w->phase == PHASE_CONSUME && got == 0)
		{
			/*
			 * Nothing for this consumer: the backlog is gone, or the rest is
			 * in other consumers' hands.  It stops after a few empty looks;
			 * the phase ends when every consumer stopped.
			 */
			if (++empty >= 3)
				break;
			usleep(1000);
			continue;
		}
		empty = 0;
		add_latency(w, (now_seconds() - t0) * 1000.0);
		w->messages += got;
		w->statements++;
	}
	free(param);
	if (c)
		PQfinish(c);
	return NULL;
}

/* run a statement (a printf format, as preparef's) on the admin connection */
static bool admin_exec(PGconn *c, const char *fmt,...) __attribute__((format(printf, 2, 3)));
static long admin_count(PGconn *c, const char *fmt,...) __attribute__((format(printf, 2, 3)));

static bool
admin_exec(PGconn *c, const char *fmt,...)
{
	char		sql[1024];
	va_list		ap;
	PGresult   *r;
	bool		ok;

	va_start(ap, fmt);
	vsnprintf(sql, sizeof(sql), fmt, ap);
	va_end(ap);
	r = PQexec(c, sql);
	ok = exec_ok(r);
	if (!ok)
		report_error(c, r, NULL);
	PQclear(r);
	return ok;
}

static long
admin_count(PGconn *c, const char *fmt,...)
{
	char		sql[1024];
	va_list		ap;
	PGresult   *r;
	long		n = -1;

	va_start(ap, fmt);
	vsnprintf(sql, sizeof(sql), fmt, ap);
	va_end(ap);
	r = PQexec(c, sql);

	if (exec_ok(r) && PQntuples(r) == 1)
		n = atol(PQgetvalue(r, 0, 0));
	else
		report_error(c, r, NULL);
	PQclear(r);
	return n;
}

/* messages left: in the queue, unread by the group, or in the floor table */
static long
remaining(PGconn *c, const BenchOpts *o, Side side)
{
	if (side == SIDE_FLOOR)
		return admin_count(c, "SELECT pg_catalog.count(*) FROM %s", floor_table);
	if (o->topic)
		return admin_count(c, "SELECT coalesce(pg_catalog.sum(lag), 0) FROM broker.consumer_lag"
						   " WHERE topic = '%s' AND consumer_group = '%s'", bench_name, bench_name);
	return admin_count(c, "SELECT messages FROM broker.queues WHERE queue = '%s'", bench_name);
}

/* create the side's objects, each noted as created once it is */
static bool
setup_objects(PGconn *c, const BenchOpts *o, Side side)
{
	if (side == SIDE_FLOOR)
		return (created_floor = admin_exec(c, "CREATE TABLE %s (id bigserial PRIMARY KEY,"
										   " payload jsonb, created_at timestamptz DEFAULT now())",
										   floor_table));
	if (o->topic)
		return (created_topic = admin_exec(c, "SELECT broker.create_topic('%s', partitions => %d)",
										   bench_name, o->partitions)) &&
			admin_exec(c, "SELECT broker.create_group('%s', '%s', 'earliest')", bench_name, bench_name);
	return (created_queue = admin_exec(c, "SELECT broker.create_queue('%s')", bench_name));
}

/*
 * Drop what this run created, and nothing else.  What could not be
 * dropped (the connection lost) is named, for the user to drop.
 */
static void
drop_objects(PGconn *c)
{
	if (created_queue && !admin_exec(c, "SELECT broker.drop_queue('%s')", bench_name))
		errorf("warning: queue \"%s\" was left behind: pgbroker drop queue %s",
			   bench_name, bench_name);
	if (created_topic && !admin_exec(c, "SELECT broker.drop_topic('%s')", bench_name))
		errorf("warning: topic \"%s\" was left behind: pgbroker drop topic %s",
			   bench_name, bench_name);
	if (created_floor && !admin_exec(c, "DROP TABLE %s", floor_table))
		errorf("warning: table \"%s\" was left behind: DROP TABLE %s",
			   floor_table, floor_table);
	created_queue = created_topic = created_floor = false;
}

/* run one phase on one side with n workers; false on any error */
static bool
run_phase(const BenchOpts *o, Side side, Phase phase, int n, Result *res)
{
	Worker	   *w = calloc(n, sizeof(Worker));
	pthread_barrier_t start;
	double		t0,
				t1;
	long		total = 0,
				nlat = 0;
	double	   *all;
	bool		ok = true;

	pthread_barrier_init(&start, NULL, n + 1);
	for (int i = 0; i < n; i++)
	{
		w[i].id = i;
		w[i].o = o;
		w[i].side = side;
		w[i].phase = phase;
		w[i].start = &start;
		w[i].deadline = 1e300;
		pthread_create(&w[i].thread, NULL, worker_main, &w[i]);
	}
	/* the clock starts once every worker is connected and prepared */
	pthread_barrier_wait(&start);
	t0 = now_seconds();
	for (int i = 0; i < n; i++)
		w[i].deadline = t0 + o->seconds;
	for (int i = 0; i < n; i++)
		pthread_join(w[i].thread, NULL);
	t1 = now_seconds();
	pthread_barrier_destroy(&start);

	for (int i = 0; i < n; i++)
	{
		if (w[i].error[0])
		{
			errorf("error: %s %s worker %d: %s", side == SIDE_FLOOR ? "floor" : "pgbroker",
				   phase == PHASE_PRODUCE ? "producer" : "consumer", i, w[i].error);
			ok = false;
		}
		total += w[i].messages;
		nlat += w[i].nlat;
	}
	all = malloc(sizeof(double) * (nlat > 0 ? nlat : 1));
	nlat = 0;
	for (int i = 0; i < n; i++)
	{
		memcpy(all + nlat, w[i].lat, sizeof(double) * w[i].nlat);
		nlat += w[i].nlat;
		free(w[i].lat);
	}
	sort_doubles(all, nlat);
	res->phase = phase;
	res->side = side;
	res->messages = total;
	res->seconds = t1 - t0;
	res->rate = total / (t1 - t0);
	res->mbps = res->rate * o->size / 1e6;
	res->p50 = percentile(all, nlat, 50);
	res->p95 = percentile(all, nlat, 95);
	res->p99 = percentile(all, nlat, 99);
	res->max = nlat > 0 ? all[nlat - 1] : 0;
	free(all);
	free(w);
	return ok;
}

static const char *
phase_name(Phase p)
{
	return p == PHASE_PRODUCE ? "produce" : "consume";
}

static const char *
side_name(Side s)
{
	return s == SIDE_FLOOR ? "floor" : "pgbroker";
}

static void
print_text(const BenchOpts *o, Result *r, int nr)
{
	printf("pgbroker bench: %s%s, %d producer%s, %d consumer%s%s, %d-byte payloads, "
		   "batch %d, %d s per phase\n",
		   o->topic ? "topic" : "queue",
		   o->topic ? "" : "",
		   o->producers, o->producers == 1 ? "" : "s",
		   o->consumers, o->consumers == 1 ? "" : "s",
		   o->leased ? " (leased)" : " (transactional)",
		   o->size, o->batch, o->seconds);
	if (o->topic)
		printf("topic partitions: %d\n", o->partitions);
	printf("%-18s %10s %8s %9s %8s %8s %8s %9s %7s\n",
		   "", "messages", "msgs/s", "MB/s", "p50 ms", "p95 ms", "p99 ms", "max ms", "ratio");
	for (int i = 0; i < nr; i++)
	{
		char		ratio[16] = "";

		if (r[i].side == SIDE_BROKER)
			for (int j = 0; j < nr; j++)
				if (r[j].side == SIDE_FLOOR && r[j].phase == r[i].phase && r[j].rate > 0)
					snprintf(ratio, sizeof(ratio), "%.2f", r[i].rate / r[j].rate);
		printf("%-8s %-9s %10ld %8.0f %9.2f %8.2f %8.2f %8.2f %9.2f %7s\n",
			   phase_name(r[i].phase), side_name(r[i].side), r[i].messages, r[i].rate,
			   r[i].mbps, r[i].p50, r[i].p95, r[i].p99, r[i].max, ratio);
	}
	printf("ratio: pgbroker msgs/s over the floor's\n");
}

static void
print_json(const BenchOpts *o, Result *r, int nr)
{
	printf("{\"target\": \"%s\", \"mode\": \"%s\", \"producers\": %d, \"consumers\": %d, "
		   "\"size\": %d, \"batch\": %d, \"seconds\": %d, \"partitions\": %d, \"results\": [",
		   o->topic ? "topic" : "queue", o->leased ? "leased" : "transactional",
		   o->producers, o->consumers, o->size, o->batch, o->seconds,
		   o->topic ? o->partitions : 0);
	for (int i = 0; i < nr; i++)
	{
		double		ratio = -1;

		if (r[i].side == SIDE_BROKER)
			for (int j = 0; j < nr; j++)
				if (r[j].side == SIDE_FLOOR && r[j].phase == r[i].phase && r[j].rate > 0)
					ratio = r[i].rate / r[j].rate;
		printf("%s{\"phase\": \"%s\", \"system\": \"%s\", \"messages\": %ld, "
			   "\"elapsed_s\": %.3f, \"msgs_per_s\": %.1f, \"mb_per_s\": %.3f, "
			   "\"latency_ms\": {\"p50\": %.3f, \"p95\": %.3f, \"p99\": %.3f, \"max\": %.3f}",
			   i ? ", " : "", phase_name(r[i].phase), side_name(r[i].side), r[i].messages,
			   r[i].seconds, r[i].rate, r[i].mbps, r[i].p50, r[i].p95, r[i].p99, r[i].max);
		if (ratio >= 0)
			printf(", \"ratio_to_floor\": %.3f", ratio);
		printf("}");
	}
	printf("]}\n");
}

static bool
run_side(PGconn *admin, const BenchOpts *o, Side side, Result *r, int *nr)
{
	long		before,
				after;

	if (!setup_objects(admin, o, side))
		return false;
	if (!o->json)
		fprintf(stderr, "%s: %s: producing for %d s\n", progname, side_name(side), o->seconds);
	if (o->producers > 0)
	{
		if (!run_phase(o, side, PHASE_PRODUCE, o->producers, &r[*nr]))
			return false;
		after = remaining(admin, o, side);
		if (after != r[*nr].messages)
		{
			errorf("error: %s: %ld messages produced but %ld found", side_name(side),
				   r[*nr].messages, after);
			return false;
		}
		(*nr)++;
	}
	if (o->consumers > 0 && !interrupted)
	{
		if (side == SIDE_FLOOR ? !admin_exec(admin, "VACUUM ANALYZE %s", floor_table) :
			!admin_exec(admin, "CHECKPOINT"))
			return false;
		if (!o->json)
			fprintf(stderr, "%s: %s: consuming for up to %d s\n", progname, side_name(side), o->seconds);
		before = remaining(admin, o, side);
		if (!run_phase(o, side, PHASE_CONSUME, o->consumers, &r[*nr]))
			return false;
		after = remaining(admin, o, side);
		if (before - after != r[*nr].messages)
		{
			errorf("error: %s: %ld messages consumed but %ld are gone", side_name(side),
				   r[*nr].messages, before - after);
			return false;
		}
		(*nr)++;
	}
	return true;
}

int
cmd_bench(int argc, char **argv)
{
	static struct option opts[] = {
		CONN_LONG_OPTIONS,
		{"topic", no_argument, NULL, 't'},
		{"producers", required_argument, NULL, 'P'},
		{"consumers", required_argument, NULL, 'C'},
		{"size", required_argument, NULL, 's'},
		{"batch", required_argument, NULL, 'b'},
		{"seconds", required_argument, NULL, 'T'},
		{"partitions", required_argument, NULL, 'N'},
		{"leased", no_argument, NULL, 'l'},
		{"no-floor", no_argument, NULL, 'n'},
		{"only-floor", no_argument, NULL, 'o'},
		{"json", no_argument, NULL, 'j'},
		{NULL, 0, NULL, 0}
	};
	BenchOpts	o = {.floor = true, .broker = true, .producers = 4, .consumers = 4,
	.size = 100, .batch = 1, .seconds = 10, .partitions = 8};
	Result		r[4];
	int			nr = 0;
	int			c;
	long		v;
	PGconn	   *admin;
	bool		ok = true;
	long		run_id;

	while ((c = getopt_long(argc, argv, CONN_SHORT_OPTIONS "P:C:s:b:T:", opts, NULL)) != -1)
	{
		switch (c)
		{
			case 'd':
			case 'h':
			case 'p':
			case 'U':
				set_connection_option(c, optarg);
				break;
			case 't':
				o.topic = true;
				break;
			case 'P':
				if (!parse_int(optarg, 0, 1000, &v))
					fatal_usage("bench", "--producers must be an integer from 0 to 1000");
				o.producers = (int) v;
				break;
			case 'C':
				if (!parse_int(optarg, 0, 1000, &v))
					fatal_usage("bench", "--consumers must be an integer from 0 to 1000");
				o.consumers = (int) v;
				break;
			case 's':
				if (!parse_int(optarg, 10, 10000000, &v))
					fatal_usage("bench", "--size must be a number of bytes from 10 to 10000000");
				o.size = (int) v;
				break;
			case 'b':
				if (!parse_int(optarg, 1, 10000, &v))
					fatal_usage("bench", "--batch must be an integer from 1 to 10000");
				o.batch = (int) v;
				break;
			case 'T':
				if (!parse_int(optarg, 1, 86400, &v))
					fatal_usage("bench", "--seconds must be an integer from 1 to 86400");
				o.seconds = (int) v;
				break;
			case 'N':
				if (!parse_int(optarg, 1, 1024, &v))
					fatal_usage("bench", "--partitions must be an integer from 1 to 1024");
				o.partitions = (int) v;
				break;
			case 'l':
				o.leased = true;
				break;
			case 'n':
				o.floor = false;
				break;
			case 'o':
				o.broker = false;
				break;
			case 'j':
				o.json = true;
				break;
			default:
				fatal_usage("bench", "invalid option");
		}
	}
	if (optind < argc)
		fatal_usage("bench", "too many arguments");
	if (!o.floor && !o.broker)
		fatal_usage("bench", "--no-floor and --only-floor leave nothing to run");
	if (o.producers == 0 && o.consumers == 0)
		fatal_usage("bench", "nothing to run: no producers and no consumers");

	admin = connect_db();
	PQclear(PQexec(admin, "SET client_min_messages = warning"));
	srandom((unsigned int) time(NULL) ^ (unsigned int) getpid());
	run_id = random() % 1000000;
	snprintf(bench_name, sizeof(bench_name), "pgbroker_bench_%d_%ld", PQbackendPID(admin), run_id);
	snprintf(floor_table, sizeof(floor_table), "pgbroker_bench_floor_%d_%ld",
			 PQbackendPID(admin), run_id);
	if (!o.json)
	{
		Buf			what;

		buf_init(&what);
		if (o.broker)
			buf_printf(&what, "%s %s", o.topic ? "topic" : "queue", bench_name);
		if (o.floor)
			buf_printf(&what, "%stable %s", o.broker ? " and " : "", floor_table);
		fprintf(stderr, "%s: this run uses %s (dropped at the end)\n", progname, what.data);
		buf_free(&what);
	}
	if (o.broker)
		ok = run_side(admin, &o, SIDE_BROKER, r, &nr);
	if (ok && o.floor && !interrupted)
		ok = run_side(admin, &o, SIDE_FLOOR, r, &nr);
	drop_objects(admin);
	if (nr > 0)
	{
		if (o.json)
			print_json(&o, r, nr);
		else
			print_text(&o, r, nr);
	}
	if (!ok)
	{
		int			rc = result_exit_code(admin);

		PQfinish(admin);
		return rc;
	}
	PQfinish(admin);
	return EXIT_OK;
}
