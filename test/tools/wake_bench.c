/*
 * wake_bench.c - how fast waiting consumers wake, what waiting costs.
 *
 * latency: a producer sends at a steady --rate (BEGIN; send; COMMIT) for
 *     --seconds; --consumers consumers wait in broker.claim (BEGIN; claim
 *     with wait; ack; COMMIT).  The latency of a message is the time from
 *     the moment its producer sent COMMIT to the moment a consumer had it.
 *     The same run for two floors on a plain table: consumers woken by
 *     LISTEN/NOTIFY (the producer NOTIFYs in its transaction; consumers
 *     DELETE ... SKIP LOCKED RETURNING, and wait on the socket when they
 *     find nothing), and consumers that look every 100 ms.
 * produce: --producers producers send single messages in autocommit for
 *     --seconds, alone; with --waiters consumers waiting on another queue;
 *     with them waiting on the same queue while every message is sent with
 *     a delay (each commit wakes one waiter that finds nothing, the wake's
 *     whole cost); and alone with notifications on.
 * idle: --idle consumers wait in broker.claim (and then in
 *     broker.claim_wait) on an empty queue, and as a floor as many
 *     connections sit idle without a statement; the server's CPU time over
 *     --seconds (from /proc, all processes of --postmaster-pid) and the
 *     memory they take (proportional set size).
 * xmin: --waiters consumers wait in each form while another session
 *     consumes transaction ids; how many waiters hold an xmin, and the age
 *     of the oldest.
 *
 * Connection parameters come from the PG* environment variables.
 * usage: wake_bench [--only latency|produce|idle|xmin] [--seconds N]
 *                   [--rate N] [--consumers N] [--producers N]
 *                   [--waiters N] [--idle N] [--postmaster-pid PID]
 *                   [--rounds N] [--json]
 * --rounds repeats the produce cases, interleaved, and reports medians;
 * --quick runs only the produce cases with idle waiters and their floor.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>

#include "common.h"
#include "stats.h"

static int	seconds = 10;
static int	rate = 500;
static int	nconsumers = 2;
static int	nproducers = 2;
static int	nwaiters = 100;
static int	nidle = 1000;
static int	postmaster_pid = 0;
static int	json = 0;
static int	rounds = 1;
static int	quick = 0;
static const char *only = NULL;

/* ------------------------------------------------------------------
 * latency
 * ------------------------------------------------------------------ */
typedef enum
{
	SYS_PGBROKER,
	SYS_NOTIFY,
	SYS_POLL
} System;

/* a percentile of n latencies, NaN when there are none */
static double
lat_pct(const double *lat, long n, double p)
{
	return n ? percentile(lat, n, p) : NAN;
}

static const char *sys_name[] = {"pgbroker claim with wait", "floor: LISTEN/NOTIFY", "floor: poll every 100 ms"};

static double *sent_at;			/* per sequence number: when COMMIT was sent */
static double *got_at;			/* when a consumer had it */
static long nmsg;
static volatile int stop_consumers;
static System cur;

static void *
producer(void *arg)
{
	PGconn	   *c = connect_db();
	double		start = now_ms();
	long		i;
	char		sql[256];

	for (i = 0; i < nmsg; i++)
	{
		double		due = start + i * 1000.0 / rate;
		double		wait = due - now_ms();

		if (wait > 0)
			usleep((useconds_t) (wait * 1000));
		sql_cmdf(c, "BEGIN");
		if (cur == SYS_PGBROKER)
			snprintf(sql, sizeof(sql), "SELECT broker.send('wake_lat', '{\"s\": %ld}')", i);
		else
			snprintf(sql, sizeof(sql), "INSERT INTO wake_floor (s, payload) VALUES (%ld, '{\"s\": %ld}')%s",
					 i, i, cur == SYS_NOTIFY ? "; NOTIFY wake_floor" : "");
		sql_cmdf(c, "%s", sql);
		sent_at[i] = now_ms();
		sql_cmdf(c, "COMMIT");
	}
	PQfinish(c);
	return NULL;
}

static void
note_rows(PGresult *r, int col, double t)
{
	int			i;

	for (i = 0; i < PQntuples(r); i++)
	{
		long		s = atol(PQgetvalue(r, i, col));

		if (s >= 0 && s < nmsg)
			got_at[s] = t;
	}
}

static void *
consumer(void *arg)
{
	PGconn	   *c = connect_db();
	PGresult   *r;

	if (cur == SYS_NOTIFY)
		sql_cmdf(c, "LISTEN wake_floor");
	while (!stop_consumers)
	{
		double		t;

		if (cur == SYS_PGBROKER)
		{
			int			i;
			char		ack[4096];
			size_t		len;

			sql_cmdf(c, "BEGIN");
			r = sql_query(c, "SELECT id, payload->>'s' FROM broker.claim('wake_lat', 10, wait => '1 second')");
			t = now_ms();
			note_rows(r, 1, t);
			len = snprintf(ack, sizeof(ack), "SELECT broker.ack('wake_lat', ARRAY[0");
			for (i = 0; i < PQntuples(r); i++)
				len += snprintf(ack + len, sizeof(ack) - len, ",%s", PQgetvalue(r, i, 0));
			snprintf(ack + len, sizeof(ack) - len, "]::bigint[])");
			PQclear(r);
			sql_cmdf(c, "%s", ack);
			sql_cmdf(c, "COMMIT");
			continue;
		}
		r = sql_query(c, "DELETE FROM wake_floor WHERE id IN (SELECT id FROM wake_floor ORDER BY id"
					  " LIMIT 10 FOR UPDATE SKIP LOCKED) RETURNING s");
		t = now_ms();
		note_rows(r, 0, t);
		if (PQntuples(r) > 0)
		{
			PQclear(r);
			continue;
		}
		PQclear(r);
		if (cur == SYS_POLL)
			usleep(100000);
		else
		{
			PGnotify   *n;
			int			got = 0;

			PQconsumeInput(c);
			while ((n = PQnotifies(c)) != NULL)
			{
				got = 1;
				PQfreemem(n);
			}
			if (!got)
			{
				fd_set		fds;
				struct timeval tv = {1, 0};

				FD_ZERO(&fds);
				FD_SET(PQsocket(c), &fds);
				(void) select(PQsocket(c) + 1, &fds, NULL, NULL, &tv);
				PQconsumeInput(c);
				while ((n = PQnotifies(c)) != NULL)
					PQfreemem(n);
			}
		}
	}
	PQfinish(c);
	return NULL;
}

static void
run_latency(PGconn *admin, System sys, int first)
{
	pthread_t	prod;
	pthread_t  *cons = calloc(nconsumers, sizeof(pthread_t));
	double	   *lat;
	long		n = 0;
	long		lost = 0;
	long		i;

	cur = sys;
	nmsg = (long) rate * seconds;
	sent_at = calloc(nmsg, sizeof(double));
	got_at = calloc(nmsg, sizeof(double));
	lat = calloc(nmsg, sizeof(double));
	stop_consumers = 0;
	for (i = 0; i < nconsumers; i++)
		pthread_create(&cons[i], NULL, consumer, NULL);
	usleep(500000);				/* let the consumers start waiting */
	pthread_create(&prod, NULL, producer, NULL);
	pthread_join(prod, NULL);
	usleep(1500000);			/* the last ones arrive */
	stop_consumers = 1;
	for (i = 0; i < nconsumers; i++)
		pthread_join(cons[i], NULL);
	for (i = 0; i < nmsg; i++)
	{
		if (got_at[i] == 0)
			lost++;
		else
			lat[n++] = got_at[i] - sent_at[i];
	}
	sort_doubles(lat, n);
	if (json)
		printf("%s{\"workload\": \"latency\", \"system\": \"%s\", \"rate\": %d, \"consumers\": %d,"
			   " \"messages\": %ld, \"missing\": %ld, \"p50_ms\": %.2f, \"p95_ms\": %.2f,"
			   " \"p99_ms\": %.2f, \"max_ms\": %.2f}\n",
			   "", sys_name[sys], rate, nconsumers, n, lost,
			   lat_pct(lat, n, 50), lat_pct(lat, n, 95), lat_pct(lat, n, 99), n ? lat[n - 1] : NAN);
	else
		printf("%-28s %8ld %8ld %9.2f %9.2f %9.2f %9.2f\n", sys_name[sys], n, lost,
			   lat_pct(lat, n, 50), lat_pct(lat, n, 95), lat_pct(lat, n, 99), n ? lat[n - 1] : NAN);
	fflush(stdout);
	free(sent_at);
	free(got_at);
	free(lat);
	free(cons);
	(void) admin;
}

static void
latency(PGconn *admin)
{
	sql_cmdf(admin, "SELECT broker.create_queue('wake_lat')");
	sql_cmdf(admin, "CREATE TABLE wake_floor (id bigserial PRIMARY KEY, s bigint, payload jsonb)");
	if (!json)
	{
		printf("\nlatency from the producer's COMMIT to the consumer's receipt, %d msg/s for %d s, %d waiting consumers\n",
			   rate, seconds, nconsumers);
		printf("%-28s %8s %8s %9s %9s %9s %9s\n", "system", "received", "missing", "p50 ms", "p95 ms", "p99 ms", "max ms");
	}
	run_latency(admin, SYS_PGBROKER, 1);
	run_latency(admin, SYS_NOTIFY, 0);
	run_latency(admin, SYS_POLL, 0);
	sql_cmdf(admin, "SELECT broker.drop_queue('wake_lat')");
	sql_cmdf(admin, "DROP TABLE wake_floor");
}

/* ------------------------------------------------------------------
 * produce
 * ------------------------------------------------------------------ */
static volatile int stop_producers;
static const char *produce_sql;
static long produced[64];

static void *
produce_loop(void *arg)
{
	long		k = (long) arg;
	PGconn	   *c = connect_db();
	PGresult   *r;

	r = PQprepare(c, "s", produce_sql, 0, NULL);
	PQclear(r);
	while (!stop_producers)
	{
		r = PQexecPrepared(c, "s", 0, NULL, NULL, NULL, 0);
		if (PQresultStatus(r) != PGRES_TUPLES_OK)
		{
			fprintf(stderr, "wake_bench: %s", PQerrorMessage(c));
			exit(3);
		}
		PQclear(r);
		produced[k]++;
	}
	PQfinish(c);
	return NULL;
}

/* Start n connections waiting (asynchronously) with the given statement. */
static PGconn **
start_waiters(PGconn *admin, int n, const char *sql)
{
	PGconn	  **w = calloc(n, sizeof(PGconn *));
	int			i;
	double		deadline;

	for (i = 0; i < n; i++)
	{
		w[i] = connect_db();
		if (!PQsendQuery(w[i], sql))
		{
			fprintf(stderr, "wake_bench: %s", PQerrorMessage(w[i]));
			exit(3);
		}
	}
	/* until they all sleep */
	deadline = now_ms() + 60000;
	while (now_ms() < deadline &&
		   atof(sql_value(admin, "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'Extension'"
						 " AND backend_type = 'client backend'")) < n)
		usleep(50000);
	return w;
}

static void
stop_waiters(PGconn **w, int n)
{
	int			i;

	for (i = 0; i < n; i++)
	{
		PGcancel   *cn = PQgetCancel(w[i]);
		char		err[256];
		PGresult   *r;

		PQcancel(cn, err, sizeof(err));
		PQfreeCancel(cn);
		while ((r = PQgetResult(w[i])) != NULL)
			PQclear(r);
		PQfinish(w[i]);
	}
	free(w);
}

static double
produce_run(const char *sql)
{
	pthread_t	t[64];
	long		i;
	long		total = 0;
	double		t0;

	produce_sql = sql;
	stop_producers = 0;
	memset(produced, 0, sizeof(produced));
	for (i = 0; i < nproducers; i++)
		pthread_create(&t[i], NULL, produce_loop, (void *) i);
	t0 = now_ms();
	sleep(seconds);
	stop_producers = 1;
	for (i = 0; i < nproducers; i++)
		pthread_join(t[i], NULL);
	for (i = 0; i < nproducers; i++)
		total += produced[i];
	return total / ((now_ms() - t0) / 1000.0);
}

static void
produce_report(const char *what, double rate_, double base)
{
	if (json)
		printf("{\"workload\": \"produce\", \"case\": \"%s\", \"producers\": %d, \"msgs_per_s\": %.0f, \"ratio\": %.3f}\n",
			   what, nproducers, rate_, rate_ / base);
	else
		printf("%-62s %10.0f %7.2f\n", what, rate_, rate_ / base);
	fflush(stdout);
}

/* consumers of the produce workload: claim_wait one, then ack it */
static const char *consume_queue;
static PGconn **idle_conns;
static pthread_t *consumer_threads;
static volatile long consumed;

static void *
consume_loop(void *arg)
{
	PGconn	   *c = connect_db();
	char		sql[256];

	char		ack[256];

	snprintf(sql, sizeof(sql), "CALL broker.claim_wait('%s', 1, wait => '1 second')", consume_queue);
	snprintf(ack, sizeof(ack), "SELECT broker.ack('%s', m.id) FROM unnest($1::broker.message[]) m",
			 consume_queue);
	while (!stop_consumers)
	{
		PGresult   *r = sql_query(c, sql);
		const char *v = PQgetvalue(r, 0, 0);
		PGresult   *a = PQexecParams(c, ack, 1, NULL, &v, NULL, NULL, 0);

		if (PQresultStatus(a) != PGRES_TUPLES_OK)
		{
			fprintf(stderr, "wake_bench: %s", PQerrorMessage(c));
			exit(3);
		}
		__sync_fetch_and_add(&consumed, PQntuples(a));
		PQclear(a);
		PQclear(r);
	}
	PQfinish(c);
	return NULL;
}

/*
 * One case of the produce workload, on a queue of its own (so that no
 * case inserts into a bigger table than another): waiters (if any) wait
 * with wait_sql, on the produced queue or on another one.
 */
static double
produce_case(PGconn *admin, int n, const char *send_args, const char *wait_sql,
			 int notify, int listen)
{
	static int	k = 0;
	char		sql[512];
	char		q[32];
	double		r;
	PGconn	  **w = NULL;
	PGconn	   *l = NULL;

	snprintf(q, sizeof(q), "wake_prod_%d", ++k);
	sql_cmdf(admin, "SELECT broker.create_queue('%s')", q);
	if (notify)
		sql_cmdf(admin, "SELECT broker.alter_queue('%s', true)", q);
	if (listen)
	{
		l = connect_db();
		sql_cmdf(l, "LISTEN \"pgbroker.queue.%s\"", q);
	}
	if (n > 0 && strcmp(wait_sql, "idle") == 0)
	{
		/* the floor: as many connections, idle, running nothing */
		int			i;

		idle_conns = calloc(n, sizeof(PGconn *));
		for (i = 0; i < n; i++)
			idle_conns[i] = connect_db();
	}
	else if (n > 0 && strcmp(wait_sql, "consume") == 0)
	{
		int			i;

		consume_queue = q;
		stop_consumers = 0;
		consumed = 0;
		consumer_threads = calloc(n, sizeof(pthread_t));
		for (i = 0; i < n; i++)
			pthread_create(&consumer_threads[i], NULL, consume_loop, NULL);
		sleep(2);
	}
	else if (n > 0)
	{
		snprintf(sql, sizeof(sql), wait_sql, q);
		w = start_waiters(admin, n, sql);
	}
	snprintf(sql, sizeof(sql), "SELECT broker.send('%s', '{\"n\": 1}'%s)", q, send_args);
	r = produce_run(sql);
	if (w)
		stop_waiters(w, n);
	if (idle_conns)
	{
		int			i;

		for (i = 0; i < n; i++)
			PQfinish(idle_conns[i]);
		free(idle_conns);
		idle_conns = NULL;
	}
	if (consumer_threads)
	{
		int			i;

		stop_consumers = 1;
		for (i = 0; i < n; i++)
			pthread_join(consumer_threads[i], NULL);
		free(consumer_threads);
		consumer_threads = NULL;
	}
	if (l)
		PQfinish(l);
	sql_cmdf(admin, "SELECT broker.drop_queue('%s')", q);
	sql_cmdf(admin, "CHECKPOINT");
	return r;
}

static void
produce(PGconn *admin)
{
	char		what[128];
	double		base1;
	double		base2;
	double		base;
	double		r[7];
	double		idle_floor;
	const char *other_fn = "SELECT * FROM broker.claim('wake_other', 1, wait => '1 hour') /* %s */";
	const char *other_proc = "CALL broker.claim_wait('wake_other', 1, wait => '1 day') /* %s */";
	const char *same_fn = "SELECT * FROM broker.claim('%s', 1, wait => '1 hour')";
	const char *same_filter = "SELECT * FROM broker.claim('%s', 1, wait => '1 hour', filter => '{\"never\": 1}')";

	sql_cmdf(admin, "SELECT broker.create_queue('wake_other')");
	if (!json)
	{
		printf("\nproduce: %d producers sending single messages (autocommit) for %d s, median of %d rounds\n",
			   nproducers, seconds, rounds);
		printf("%-62s %10s %7s\n", "case", "msgs/s", "ratio");
	}
	{
		double		v[10][16];
		int			round;
		int			c;

		for (round = 0; round < rounds; round++)
		{
			v[0][round] = produce_case(admin, 0, "", NULL, 0, 0);
			v[9][round] = produce_case(admin, nwaiters, "", "idle", 0, 0);
			v[1][round] = produce_case(admin, nwaiters, "", other_fn, 0, 0);
			v[2][round] = produce_case(admin, nwaiters, "", other_proc, 0, 0);
			if (!quick)
			{
				v[3][round] = produce_case(admin, nwaiters, ", delay => '1 hour'", same_fn, 0, 0);
				v[4][round] = produce_case(admin, nwaiters, "", same_filter, 0, 0);
				v[5][round] = produce_case(admin, nwaiters, "", "consume", 0, 0);
				v[6][round] = produce_case(admin, 0, "", NULL, 1, 0);
				v[7][round] = produce_case(admin, 0, "", NULL, 1, 1);
			}
			else
				v[3][round] = v[4][round] = v[5][round] = v[6][round] = v[7][round] = 0;
			v[8][round] = produce_case(admin, 0, "", NULL, 0, 0);
		}
		/* medians over the rounds; the baseline from its first and last runs */
		for (c = 0; c < 10; c++)
			sort_doubles(v[c], rounds);
		idle_floor = v[9][rounds / 2];
		base1 = v[0][rounds / 2];
		base2 = v[8][rounds / 2];
		for (c = 1; c < 8; c++)
			r[c - 1] = v[c][rounds / 2];
	}
	base = (base1 + base2) / 2;
	produce_report("no waiting consumers (mean of the first and last run)", base, base);
	snprintf(what, sizeof(what), "floor: %d idle connections, no statement", nwaiters);
	produce_report(what, idle_floor, base);
	snprintf(what, sizeof(what), "%d waiting in claim() on another queue", nwaiters);
	produce_report(what, r[0], base);
	snprintf(what, sizeof(what), "%d waiting in claim_wait() on another queue", nwaiters);
	produce_report(what, r[1], base);
	if (quick)
	{
		if (!json)
			printf("(no waiting consumers: first run %.0f, last run %.0f msgs/s)\n", base1, base2);
		sql_cmdf(admin, "SELECT broker.drop_queue('wake_other')");
		return;
	}
	snprintf(what, sizeof(what), "%d waiting on it, messages delayed 1 hour", nwaiters);
	produce_report(what, r[2], base);
	snprintf(what, sizeof(what), "%d waiting on it with a filter that never matches", nwaiters);
	produce_report(what, r[3], base);
	snprintf(what, sizeof(what), "%d consumers on it, claim_wait() then ack() each message", nwaiters);
	produce_report(what, r[4], base);
	produce_report("notifications on, nobody listening", r[5], base);
	produce_report("notifications on, one client listening", r[6], base);
	if (!json)
		printf("(no waiting consumers: first run %.0f, last run %.0f msgs/s; consumed in the claim_wait+ack case: %ld)\n",
			   base1, base2, (long) consumed);
	sql_cmdf(admin, "SELECT broker.drop_queue('wake_other')");
}

/* ------------------------------------------------------------------
 * idle
 * ------------------------------------------------------------------ */

/* CPU ticks of the postmaster and all its children. */
static long long
server_ticks(void)
{
	DIR		   *d = opendir("/proc");
	struct dirent *e;
	long long	total = 0;

	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL)
	{
		char		path[300];
		char		buf[1024];
		FILE	   *f;
		int			pid = atoi(e->d_name);
		int			ppid;
		unsigned long long ut;
		unsigned long long st;
		char	   *p;

		if (pid <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/stat", pid);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		if (fgets(buf, sizeof(buf), f) == NULL)
		{
			fclose(f);
			continue;
		}
		fclose(f);
		p = strrchr(buf, ')');
		if (p == NULL)
			continue;
		/* state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime */
		if (sscanf(p + 2, "%*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ppid, &ut, &st) != 3)
			continue;
		if (pid == postmaster_pid || ppid == postmaster_pid)
			total += (long long) (ut + st);
	}
	closedir(d);
	return total;
}

/* Proportional set size of the server's processes, in kB. */
static long
server_pss_kb(int *nproc)
{
	DIR		   *d = opendir("/proc");
	struct dirent *e;
	long		total = 0;

	*nproc = 0;
	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL)
	{
		char		path[300];
		char		line[256];
		FILE	   *f;
		int			pid = atoi(e->d_name);
		int			ppid = 0;

		if (pid <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/stat", pid);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		if (fgets(line, sizeof(line), f) && strrchr(line, ')'))
			sscanf(strrchr(line, ')') + 2, "%*c %d", &ppid);
		fclose(f);
		if (pid != postmaster_pid && ppid != postmaster_pid)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", pid);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		while (fgets(line, sizeof(line), f))
		{
			long		kb;

			if (sscanf(line, "Pss: %ld kB", &kb) == 1)
				total += kb;
		}
		fclose(f);
		(*nproc)++;
	}
	closedir(d);
	return total;
}

static void
idle_case(PGconn *admin, const char *what, const char *sql, long pss_before)
{
	PGconn	  **w;
	long long	t0;
	long long	t1;
	double		cpu;
	long		pss;
	int			np;
	int			waiting;

	if (sql == NULL)
	{
		/* the floor: as many connections, idle, running nothing */
		int			i;

		w = calloc(nidle, sizeof(PGconn *));
		for (i = 0; i < nidle; i++)
			w[i] = connect_db();
		waiting = 0;
	}
	else
	{
		w = start_waiters(admin, nidle, sql);
		waiting = atoi(sql_value(admin, "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'Extension'"
								 " AND backend_type = 'client backend'"));
	}
	sleep(1);
	t0 = server_ticks();
	sleep(seconds);
	t1 = server_ticks();
	pss = server_pss_kb(&np);
	cpu = (t1 - t0) * 100.0 / sysconf(_SC_CLK_TCK) / seconds;
	if (json)
		printf("{\"workload\": \"idle\", \"form\": \"%s\", \"waiting\": %d, \"server_cpu_pct\": %.2f,"
			   " \"server_pss_mb\": %.0f, \"pss_per_waiter_kb\": %.0f}\n",
			   what, waiting, cpu, pss / 1024.0, (pss - pss_before) / (double) nidle);
	else
		printf("%-34s %8d %13.2f %14.0f %16.0f\n", what, waiting, cpu, pss / 1024.0,
			   (pss - pss_before) / (double) nidle);
	fflush(stdout);
	if (sql == NULL)
	{
		int			i;

		for (i = 0; i < nidle; i++)
			PQfinish(w[i]);
		free(w);
	}
	else
		stop_waiters(w, nidle);
}

static void
idle(PGconn *admin)
{
	long		pss0;
	int			np;

	if (postmaster_pid == 0)
	{
		fprintf(stderr, "wake_bench: idle needs --postmaster-pid\n");
		exit(1);
	}
	sql_cmdf(admin, "SELECT broker.create_queue('wake_idle')");
	sleep(1);
	pss0 = server_pss_kb(&np);
	if (!json)
	{
		printf("\nidle: %d consumers waiting on an empty queue for %d s (server: %d processes, %.0f MB before)\n",
			   nidle, seconds, np, pss0 / 1024.0);
		printf("%-34s %8s %13s %14s %16s\n", "form", "waiting", "server CPU %", "server PSS MB", "PSS/waiter kB");
	}
	idle_case(admin, "floor: idle connections", NULL, pss0);
	idle_case(admin, "claim(wait => 1 hour)",
			  "SELECT * FROM broker.claim('wake_idle', 1, wait => '1 hour')", pss0);
	idle_case(admin, "CALL claim_wait(wait => 1 day)",
			  "CALL broker.claim_wait('wake_idle', 1, wait => '1 day')", pss0);
	sql_cmdf(admin, "SELECT broker.drop_queue('wake_idle')");
}

/* ------------------------------------------------------------------
 * xmin
 * ------------------------------------------------------------------ */
static void
xmin_case(PGconn *admin, const char *what, const char *sql)
{
	PGconn	  **w = start_waiters(admin, nwaiters, sql);
	PGconn	   *x = connect_db();
	double		t0 = now_ms();
	long		xids = 0;
	PGresult   *r;

	while (now_ms() - t0 < seconds * 1000.0)
	{
		sql_cmdf(x, "SELECT pg_current_xact_id()");
		xids++;
	}
	r = sql_query(admin, "SELECT count(*) FILTER (WHERE backend_xmin IS NOT NULL),"
				  " coalesce(max(age(backend_xmin)), 0)"
				  " FROM pg_stat_activity WHERE wait_event = 'Extension' AND backend_type = 'client backend'");
	if (json)
		printf("{\"workload\": \"xmin\", \"form\": \"%s\", \"waiters\": %d, \"holding_xmin\": %s,"
			   " \"oldest_xmin_age\": %s, \"xids_consumed\": %ld}\n",
			   what, nwaiters, PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1), xids);
	else
		printf("%-34s %8d %13s %16s %14ld\n", what, nwaiters, PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1), xids);
	fflush(stdout);
	PQclear(r);
	PQfinish(x);
	stop_waiters(w, nwaiters);
}

static void
xmin(PGconn *admin)
{
	sql_cmdf(admin, "SELECT broker.create_queue('wake_xmin')");
	if (!json)
	{
		printf("\nxmin: %d consumers waiting while another session uses transaction ids for %d s\n",
			   nwaiters, seconds);
		printf("%-34s %8s %13s %16s %14s\n", "form", "waiters", "holding xmin", "oldest xmin age", "xids used");
	}
	xmin_case(admin, "claim(wait => 1 hour)", "SELECT * FROM broker.claim('wake_xmin', 1, wait => '1 hour')");
	xmin_case(admin, "CALL claim_wait(wait => 1 day)", "CALL broker.claim_wait('wake_xmin', 1, wait => '1 day')");
	xmin_case(admin, "poll(wait => 1 hour)", "SELECT * FROM broker.poll('wake_xmin_t', 'g', wait => '1 hour')");
	xmin_case(admin, "CALL poll_wait(wait => 1 day)",
			  "CALL broker.poll_wait('wake_xmin_t', 'g', wait => '1 day', consumer => 'c' || pg_backend_pid(), lease => '1 minute')");
	sql_cmdf(admin, "SELECT broker.drop_queue('wake_xmin')");
}

int
main(int argc, char **argv)
{
	PGconn	   *admin;
	int			i;

	for (i = 1; i < argc; i++)
	{
#define INTARG(flag, var) else if (strcmp(argv[i], flag) == 0 && i + 1 < argc) var = atoi(argv[++i])
		if (strcmp(argv[i], "--only") == 0 && i + 1 < argc)
			only = argv[++i];
		INTARG("--seconds", seconds);
		INTARG("--rate", rate);
		INTARG("--consumers", nconsumers);
		INTARG("--producers", nproducers);
		INTARG("--waiters", nwaiters);
		INTARG("--idle", nidle);
		INTARG("--postmaster-pid", postmaster_pid);
		INTARG("--rounds", rounds);
		else if (strcmp(argv[i], "--json") == 0)
			json = 1;
		else if (strcmp(argv[i], "--quick") == 0)
			quick = 1;
		else
		{
			fprintf(stderr, "usage: wake_bench [--only latency|produce|idle|xmin] [--seconds N] [--rate N]\n"
					"                  [--consumers N] [--producers N] [--waiters N] [--idle N]\n"
					"                  [--postmaster-pid PID] [--rounds N] [--quick] [--json]\n");
			return 1;
		}
	}
	if (seconds < 1 || rate < 1 || nconsumers < 1 || nproducers < 1 || nproducers > 64 ||
		nwaiters < 1 || nidle < 1 || rounds < 1 || rounds > 16)
	{
		fprintf(stderr, "wake_bench: counts must be positive, --producers at most 64\n");
		return 1;
	}
	common_init("wake_bench", 3, 3);
	admin = connect_db();
	sql_cmdf(admin, "SET client_min_messages = warning");
	sql_cmdf(admin, "DROP EXTENSION IF EXISTS pgbroker CASCADE");
	sql_cmdf(admin, "DROP TABLE IF EXISTS wake_floor");
	sql_cmdf(admin, "CREATE EXTENSION pgbroker");
	sql_cmdf(admin, "SELECT broker.create_topic('wake_xmin_t')");
	sql_cmdf(admin, "SELECT broker.create_group('wake_xmin_t', 'g')");
	if (!only || strcmp(only, "latency") == 0)
		latency(admin);
	if (!only || strcmp(only, "produce") == 0)
		produce(admin);
	if (!only || strcmp(only, "xmin") == 0)
		xmin(admin);
	if (!only || strcmp(only, "idle") == 0)
		idle(admin);
	sql_cmdf(admin, "DROP EXTENSION pgbroker CASCADE");
	PQfinish(admin);
	return 0;
}
