/*
 * wait_test.c - consumers that wait inside the server, seen from outside.
 *
 * The isolation tester cannot see a backend sleeping on its latch, so
 * these cases drive waiting claims and polls over libpq, asynchronously,
 * and check when and how they return: woken by a commit (and not by a
 * rollback, nor by a commit to another topic), by a delay or lease that
 * ran out, by a rolled-back claim or an ended transactional poll; ended by
 * their wait, by pg_cancel_backend, statement_timeout and
 * pg_terminate_backend, with no waiter registration left behind; the wait
 * procedures holding no snapshot while they sleep; and NOTIFY at commit,
 * once per transaction and destination, only when turned on.
 *
 * The time limits are generous: a waiter that is woken returns within
 * WAKE_MS, far below the PGBROKER_BACKSTOP_MS (5 s) after which a waiter
 * looks again anyway, so a lost wakeup shows as a failure.
 *
 * Connection parameters come from the PG* environment variables.  Prints
 * "ok - case" or "not ok - case: why" per case and a summary line; exits 1
 * if any case failed, 2 if the server cannot be reached.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

#define WAKE_MS		1500		/* a woken waiter returns within this */
#define QUIET_MS	1000		/* a waiter that must not wake stays this long */

static int	passed = 0;
static int	failed = 0;
static char why[1024];
static PGconn *waiter;			/* drained after each case */

static PGresult *finish(PGconn *c, double ms, int *lost);

/* Counts the DEBUG2 lines of a waiting poll's looks after the first. */
static void
count_looks(void *arg, const char *message)
{
	if (strstr(message, "poll looked again") != NULL)
		(*(int *) arg)++;
}

/*
 * Read and parse what came in on c (notices included); returns whether
 * its statement still runs.
 */
static int
still_busy(PGconn *c)
{
	return PQconsumeInput(c) && PQisBusy(c);
}

/* Let the statement running on c end (or give up after 10 s), and close c. */
static void
close_waiter(PGconn *c)
{
	int			lost;
	PGresult   *r = finish(c, 10000, &lost);

	if (r)
		PQclear(r);
	PQfinish(c);
}

/* A connection whose polls' looks are counted into *looks. */
static PGconn *
connect_counting_looks(int *looks)
{
	PGconn	   *c = connect_db();

	PQsetNoticeProcessor(c, count_looks, looks);
	sql_value(c, "SET client_min_messages = debug2");
	return c;
}

static void
start(PGconn *c, const char *sql)
{
	if (!PQsendQuery(c, sql))
	{
		fprintf(stderr, "wait_test: cannot send %s: %s", sql, PQerrorMessage(c));
		exit(1);
	}
}

/*
 * Wait up to ms for the statement sent on c to finish.  Returns its last
 * result (the caller clears it), or NULL if it is still running; *lost is
 * set when the connection broke.
 */
static PGresult *
finish(PGconn *c, double ms, int *lost)
{
	double		deadline = now_ms() + ms;
	PGresult   *last = NULL;
	PGresult   *r;

	*lost = 0;
	for (;;)
	{
		fd_set		fds;
		struct timeval tv;
		double		left = deadline - now_ms();

		if (!PQconsumeInput(c))
		{
			*lost = 1;
			break;
		}
		if (!PQisBusy(c))
			break;
		if (left <= 0)
			return NULL;
		FD_ZERO(&fds);
		FD_SET(PQsocket(c), &fds);
		tv.tv_sec = (long) (left / 1000);
		tv.tv_usec = (long) ((left - tv.tv_sec * 1000.0) * 1000);
		(void) select(PQsocket(c) + 1, &fds, NULL, NULL, &tv);
	}
	while ((r = PQgetResult(c)) != NULL)
	{
		if (last)
			PQclear(last);
		last = r;
	}
	return last;
}

static void
report(const char *name, int ok)
{
	if (ok)
	{
		printf("ok - %s\n", name);
		passed++;
	}
	else
	{
		printf("not ok - %s: %s\n", name, why);
		failed++;
	}
	fflush(stdout);
	why[0] = '\0';
	/* a case that failed may leave its waiter waiting: let it end */
	if (waiter != NULL && PQisBusy(waiter))
	{
		int			lost;
		PGresult   *r = finish(waiter, 60000, &lost);

		if (r)
			PQclear(r);
	}
}

static int
fail(const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	return 0;
}

static const char *
sqlstate(PGresult *r)
{
	const char *s = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;

	return s ? s : "";
}

/* The waiter registrations a backend holds (advisory locks of pgbroker). */
static int
registrations(PGconn *c, int pid)
{
	return atoi(sql_value(c, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
						  " AND objsubid IN (28770, 28775, 28776) AND pid = %d", pid));
}

/* Wait until backend pid sleeps in pgbroker's wait (so the next step races nothing). */
static int
await_sleeping(PGconn *c, int pid)
{
	double		deadline = now_ms() + 5000;

	while (now_ms() < deadline)
	{
		if (strcmp(sql_value(c, "SELECT count(*) FROM pg_stat_activity WHERE pid = %d"
							 " AND wait_event = 'Extension'", pid), "1") == 0 &&
			registrations(c, pid) > 0)
			return 1;
		usleep(10000);
	}
	return fail("backend %d did not start waiting", pid);
}

/*
 * Start a waiting statement on w, let it go to sleep, run the trigger on
 * p, and return the waiter's result with the time it took after the
 * trigger (NULL: still waiting after limit_ms).
 */
static PGresult *
wake_after(PGconn *w, PGconn *p, const char *wait_sql, const char *trigger_sql,
		   double limit_ms, double *took)
{
	int			lost;
	double		t0;
	PGresult   *r;

	start(w, wait_sql);
	if (!await_sleeping(p, PQbackendPID(w)))
	{
		r = finish(w, 60000, &lost);
		if (r)
			PQclear(r);
		return NULL;
	}
	t0 = now_ms();
	if (trigger_sql)
		sql_value(p, "%s", trigger_sql);
	r = finish(w, limit_ms, &lost);
	*took = now_ms() - t0;
	return r;
}

static int
expect_rows(PGresult *r, const char *want, double took, double limit)
{
	if (r == NULL)
		return fail("still waiting after %.0f ms", limit);
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		return fail("failed: %s", PQresultErrorMessage(r));
	if (strcmp(PQgetvalue(r, 0, 0), want) != 0)
		return fail("returned %s, expected %s", PQgetvalue(r, 0, 0), want);
	if (took > limit)
		return fail("took %.0f ms", took);
	return 1;
}

int
main(void)
{
	PGconn	   *w;
	PGconn	   *w2;
	PGconn	   *p;
	PGresult   *r;
	PGnotify   *n;
	double		took;
	int			lost;
	int			ok;
	int			pid;
	int			count;

	common_init("wait_test", 1, 1);
	w = connect_db();
	w2 = connect_db();
	p = connect_db();
	waiter = w;
	sql_value(p, "SET client_min_messages = warning");
	sql_value(p, "DROP EXTENSION IF EXISTS pgbroker CASCADE");
	sql_value(p, "CREATE EXTENSION pgbroker");
	sql_value(p, "SELECT broker.create_queue('wq', lease => '1 hour')");
	sql_value(p, "SELECT broker.create_topic('ta', partitions => 2)");
	sql_value(p, "SELECT broker.create_topic('tb', partitions => 2)");
	sql_value(p, "SELECT broker.create_group('ta', 'g', 'latest')");

	/* a waiting claim returns when another session commits a send */
	r = wake_after(w, p, "SELECT count(*) FROM broker.claim('wq', 5, wait => '20 s')",
				   "SELECT broker.send('wq', '{\"n\": 1}')", WAKE_MS, &took);
	ok = expect_rows(r, "1", took, WAKE_MS);
	PQclear(r);
	report("claim wakes on a committed send", ok);
	printf("# woke %.1f ms after the producer's commit returned\n", took);

	/* one message wakes one of three waiters; two messages two of them */
	{
		PGconn	   *x[3];
		int			i;
		int			done = 0;

		for (i = 0; i < 3; i++)
		{
			x[i] = connect_db();
			start(x[i], "SELECT count(*) FROM broker.claim('wq', 1, wait => '4 s')");
		}
		for (i = 0; i < 3; i++)
			ok = await_sleeping(p, PQbackendPID(x[i]));
		sql_value(p, "SELECT broker.send('wq', '{}')");
		usleep(WAKE_MS * 1000);
		for (i = 0; i < 3; i++)
			done += !still_busy(x[i]);
		ok = ok && (done == 1 || fail("%d of 3 waiters returned for one message", done));
		sql_value(p, "SELECT broker.send_batch('wq', ARRAY['{}', '{}']::jsonb[])");
		usleep(WAKE_MS * 1000);
		done = 0;
		for (i = 0; i < 3; i++)
		{
			r = finish(x[i], 0, &lost);
			if (r && PQresultStatus(r) == PGRES_TUPLES_OK && strcmp(PQgetvalue(r, 0, 0), "1") == 0)
				done++;
			if (r)
				PQclear(r);
		}
		ok = ok && (done == 3 || fail("%d of 3 waiters got a message for three messages", done));
		for (i = 0; i < 3; i++)
			close_waiter(x[i]);
	}
	report("a committed send wakes one waiter per message", ok);

	/* a claim with a filter is woken whatever the message */
	r = wake_after(w, p, "SELECT count(*) FROM broker.claim('wq', 1, wait => '20 s', filter => '{\"k\": 1}')",
				   "SELECT broker.send('wq', '{}', headers => '{\"k\": 1}')", WAKE_MS, &took);
	ok = expect_rows(r, "1", took, WAKE_MS);
	PQclear(r);
	report("a claim with a filter wakes on a matching send", ok);

	/* ... and not for a send that rolls back */
	r = wake_after(w, p, "SELECT count(*) FROM broker.claim('wq', 5, wait => '3 s')",
				   "BEGIN; SELECT broker.send('wq', '{}'); ROLLBACK", QUIET_MS, &took);
	ok = (r == NULL) || fail("returned after a rollback");
	if (r)
		PQclear(r);
	r = finish(w, 5000, &lost);
	ok = ok && expect_rows(r, "0", 0, 1);
	PQclear(r);
	report("claim does not wake for a rolled-back send", ok);

	/* the wait runs out */
	took = now_ms();
	start(w, "SELECT count(*) FROM broker.claim('wq', 1, wait => '500 ms')");
	r = finish(w, 5000, &lost);
	took = now_ms() - took;
	ok = expect_rows(r, "0", 0, 1) &&
		((took >= 480 && took < 3000) || fail("returned after %.0f ms", took));
	PQclear(r);
	report("claim returns empty when its wait runs out", ok);

	/* pg_cancel_backend ends the wait, and nothing is left registered */
	pid = PQbackendPID(w);
	r = wake_after(w, p, "SELECT count(*) FROM broker.claim('wq', 1, wait => '30 s')",
				   NULL, 0, &took);
	if (r)
		PQclear(r);
	took = now_ms();
	sql_value(p, "SELECT pg_cancel_backend(%d)", pid);
	r = finish(w, WAKE_MS, &lost);
	took = now_ms() - took;
	ok = (r != NULL && strcmp(sqlstate(r), "57014") == 0) ||
		fail("expected 57014, got %s after %.0f ms", r ? sqlstate(r) : "no answer", took);
	if (r)
		PQclear(r);
	count = registrations(p, pid);
	ok = ok && (count == 0 || fail("%d registrations left", count));
	report("pg_cancel_backend ends a waiting claim", ok);

	/* statement_timeout too */
	sql_value(w, "SET statement_timeout = 300");
	took = now_ms();
	start(w, "SELECT count(*) FROM broker.claim('wq', 1, wait => '30 s')");
	r = finish(w, 3000, &lost);
	took = now_ms() - took;
	ok = (r != NULL && strcmp(sqlstate(r), "57014") == 0) ||
		fail("expected 57014, got %s after %.0f ms", r ? sqlstate(r) : "no answer", took);
	if (r)
		PQclear(r);
	sql_value(w, "RESET statement_timeout");
	report("statement_timeout ends a waiting claim", ok);

	/* a poll wakes for its own topic only */
	r = wake_after(w, p, "SELECT count(*) FROM broker.poll('ta', 'g', 10, wait => '4 s')",
				   "SELECT broker.publish('tb', '{}')", QUIET_MS, &took);
	ok = (r == NULL) || fail("woke for a publish to another topic");
	if (r)
		PQclear(r);
	took = now_ms();
	sql_value(p, "SELECT broker.publish('ta', '{}')");
	r = finish(w, WAKE_MS, &lost);
	took = now_ms() - took;
	ok = ok && expect_rows(r, "1", took, WAKE_MS);
	PQclear(r);
	report("poll wakes for its own topic only", ok);

	/* a delayed message wakes its waiter when it is due */
	sql_value(p, "SELECT broker.send('wq', '{}', delay => '1500 ms')");
	took = now_ms();
	start(w, "SELECT count(*) FROM broker.claim('wq', 1, wait => '20 s')");
	r = finish(w, 4000, &lost);
	took = now_ms() - took;
	ok = expect_rows(r, "1", 0, 1) &&
		((took >= 1300 && took < 1300 + WAKE_MS) || fail("returned after %.0f ms", took));
	PQclear(r);
	report("claim wakes when a delayed message is due", ok);

	/*
	 * A waiter that found the queue empty looks with an index probe alone
	 * and sleeps up to its idle backstop (minutes): a delayed send made
	 * while it sleeps must still wake it, and it must then wait for the
	 * due time, not return or sleep on.  Both forms.
	 */
	r = wake_after(w, p, "SELECT count(*) FROM broker.claim('wq', 1, wait => '20 s')",
				   "SELECT broker.send('wq', '{}', delay => '1500 ms')", 6000, &took);
	ok = expect_rows(r, "1", took, 6000) &&
		((took >= 1300 && took < 1500 + WAKE_MS) || fail("returned after %.0f ms", took));
	if (r == NULL)
		r = finish(w, 30000, &lost);	/* let the wait run out */
	if (r)
		PQclear(r);
	r = wake_after(w, p, "CALL broker.claim_wait('wq', 1, wait => '20 s')",
				   "SELECT broker.send('wq', '{}', delay => '1500 ms')", 6000, &took);
	ok = ok && r != NULL && PQresultStatus(r) == PGRES_TUPLES_OK &&
		(strcmp(PQgetvalue(r, 0, 0), "{}") != 0 || fail("claim_wait returned nothing")) &&
		((took >= 1300 && took < 1500 + WAKE_MS) || fail("returned after %.0f ms", took));
	if (r == NULL)
		r = finish(w, 30000, &lost);
	if (r)
		PQclear(r);
	sql_value(p, "SELECT broker.purge('wq')");
	report("a waiter on an empty queue wakes for a delayed send when it is due", ok);

	/* an expired lease wakes a waiter */
	sql_value(p, "SELECT broker.send('wq', '{}')");
	sql_value(p, "SELECT count(*) FROM broker.claim('wq', 1, lease => '1 second')");
	took = now_ms();
	start(w, "SELECT count(*) FROM broker.claim('wq', 1, wait => '20 s')");
	r = finish(w, 4000, &lost);
	took = now_ms() - took;
	ok = expect_rows(r, "1", 0, 1) &&
		((took >= 800 && took < 1000 + WAKE_MS) || fail("returned after %.0f ms", took));
	PQclear(r);
	report("claim wakes when a lease runs out", ok);

	/* a claim that rolls back frees its message for a waiter */
	sql_value(p, "SELECT broker.send('wq', '{}')");
	sql_value(w2, "BEGIN");
	sql_value(w2, "SELECT count(*) FROM broker.claim('wq', 1)");
	r = wake_after(w, p, "SELECT count(*) FROM broker.claim('wq', 1, wait => '20 s')",
				   NULL, 0, &took);
	if (r)
		PQclear(r);
	took = now_ms();
	sql_value(w2, "ROLLBACK");
	r = finish(w, WAKE_MS, &lost);
	took = now_ms() - took;
	ok = expect_rows(r, "1", took, WAKE_MS);
	PQclear(r);
	report("a rolled-back claim wakes a waiting claim", ok);

	/* a transactional poll that ends frees its partition for a waiter */
	sql_value(p, "SELECT broker.create_topic('t1', partitions => 1)");
	sql_value(p, "SELECT broker.create_group('t1', 'g', 'earliest')");
	sql_value(p, "SELECT broker.publish('t1', jsonb_build_object('n', i)) FROM generate_series(1, 2) i");
	sql_value(w2, "BEGIN");
	sql_value(w2, "SELECT count(*) FROM broker.poll('t1', 'g', 1)");
	r = wake_after(w, p, "SELECT count(*) FROM broker.poll('t1', 'g', 10, wait => '20 s')",
				   NULL, 0, &took);
	if (r)
		PQclear(r);
	took = now_ms();
	sql_value(w2, "COMMIT");
	r = finish(w, WAKE_MS, &lost);
	took = now_ms() - took;
	ok = expect_rows(r, "1", took, WAKE_MS);
	PQclear(r);
	report("an ended transactional poll wakes a waiting poll", ok);

	/*
	 * A freed partition is for one consumer of its group: of two polls of
	 * the group waiting for the topic's one partition, the end of the
	 * transaction that held it wakes one (which keeps it, in a transaction
	 * of its own), and the other looks again only once that one ends.
	 */
	{
		PGconn	   *x[2];
		int			looks[2] = {0, 0};
		int			won = -1;
		int			i;

		sql_value(p, "SELECT broker.publish('t1', jsonb_build_object('n', i)) FROM generate_series(3, 4) i");
		sql_value(w2, "BEGIN");
		sql_value(w2, "SELECT count(*) FROM broker.poll('t1', 'g', 1)");
		ok = 1;
		for (i = 0; i < 2; i++)
		{
			x[i] = connect_counting_looks(&looks[i]);
			sql_value(x[i], "BEGIN");
			start(x[i], "SELECT count(*) FROM broker.poll('t1', 'g', 10, wait => '4 s')");
			ok = ok && await_sleeping(p, PQbackendPID(x[i]));
		}
		/* the looks from here on: those after a wakeup */
		for (i = 0; i < 2; i++)
		{
			(void) still_busy(x[i]);
			looks[i] = 0;
		}
		sql_value(w2, "COMMIT");
		usleep(WAKE_MS * 1000);
		for (i = 0; i < 2; i++)
		{
			if (!still_busy(x[i]))
			{
				r = finish(x[i], 0, &lost);
				if (r && PQresultStatus(r) == PGRES_TUPLES_OK && strcmp(PQgetvalue(r, 0, 0), "1") == 0)
					won = (won == -1) ? i : 2;
				if (r)
					PQclear(r);
			}
		}
		ok = ok && ((won == 0 || won == 1) ||
					fail("expected one waiter to get the record, got %d", won));
		ok = ok && (won < 0 || won > 1 || looks[1 - won] == 0 ||
					fail("the other waiter looked again %d times meanwhile", looks[1 - won]));
		if (ok)
		{
			sql_value(x[won], "COMMIT");
			usleep(WAKE_MS * 1000);
			(void) still_busy(x[1 - won]);
			ok = looks[1 - won] == 1 ||
				fail("the other waiter looked again %d times after the partition was freed",
					 looks[1 - won]);
		}
		for (i = 0; i < 2; i++)
			close_waiter(x[i]);
	}
	report("a freed partition wakes one waiting consumer of its group", ok);

	/* a seek that gives the group records to read again wakes its waiter */
	r = wake_after(w, p, "SELECT count(*) FROM broker.poll('t1', 'g', 10, wait => '20 s')",
				   "SELECT broker.seek('t1', 'g', 'earliest')", WAKE_MS, &took);
	ok = expect_rows(r, "4", took, WAKE_MS);
	PQclear(r);
	report("a seek wakes a poll of its group waiting at the end", ok);

	/* extending a lease frees nothing: a waiting poll of the group sleeps on */
	{
		int			looks = 0;
		PGconn	   *x = connect_counting_looks(&looks);

		sql_value(p, "SELECT broker.create_group('t1', 'h', 'earliest')");
		sql_value(p, "SELECT count(*) FROM broker.poll('t1', 'h', 1, consumer => 'c1', lease => '30 s')");
		start(x, "SELECT count(*) FROM broker.poll('t1', 'h', 10, wait => '3 s')");
		ok = await_sleeping(p, PQbackendPID(x));
		(void) still_busy(x);
		looks = 0;
		sql_value(p, "SELECT broker.extend_lease('t1', 'h', 'c1', '30 s')");
		usleep(QUIET_MS * 1000);
		(void) still_busy(x);
		ok = ok && (looks == 0 || fail("the waiting poll looked again %d times", looks));
		r = finish(x, 10000, &lost);
		ok = ok && expect_rows(r, "0", 0, 1);
		if (r)
			PQclear(r);
		PQfinish(x);
	}
	report("extend_lease does not wake a waiting poll of its group", ok);

	/* the wait procedures hold no snapshot while they sleep; functions do */
	pid = PQbackendPID(w);
	start(w, "CALL broker.claim_wait('wq', 1, wait => '20 s')");
	ok = await_sleeping(p, pid);
	ok = ok && (strcmp(sql_value(p, "SELECT backend_xmin IS NULL FROM pg_stat_activity WHERE pid = %d", pid), "t") == 0 ||
				fail("backend_xmin is set while claim_wait sleeps"));
	took = now_ms();
	sql_value(p, "SELECT broker.send('wq', '{\"n\": 2}')");
	r = finish(w, WAKE_MS, &lost);
	took = now_ms() - took;
	ok = ok && ((r && PQresultStatus(r) == PGRES_TUPLES_OK &&
				 strstr(PQgetvalue(r, 0, 0), ": 2}") != NULL) ||
				fail("returned %s after %.0f ms", r ? (PQresultStatus(r) == PGRES_TUPLES_OK ? PQgetvalue(r, 0, 0) : PQresultErrorMessage(r)) : "nothing", took));
	if (r)
		PQclear(r);
	ok = ok && (strcmp(sql_value(p, "SELECT count(*) FROM broker.queue_1 WHERE lease_until > now()"), "0") != 0 ||
				fail("the message claimed by claim_wait is not leased"));
	report("claim_wait holds no snapshot while it waits, and wakes on a send", ok);

	start(w, "SELECT count(*) FROM broker.claim('wq', 1, wait => '20 s')");
	ok = await_sleeping(p, pid);
	ok = ok && (strcmp(sql_value(p, "SELECT backend_xmin IS NOT NULL FROM pg_stat_activity WHERE pid = %d", pid), "t") == 0 ||
				fail("backend_xmin is not set while claim sleeps"));
	sql_value(p, "SELECT broker.send('wq', '{}')");
	r = finish(w, WAKE_MS, &lost);
	ok = ok && expect_rows(r, "1", 0, 1);
	PQclear(r);
	report("claim with wait holds its snapshot while it waits (documented)", ok);

	start(w, "CALL broker.poll_wait('ta', 'g', 10, wait => '20 s', consumer => 'c1', lease => '30 s')");
	ok = await_sleeping(p, pid);
	ok = ok && (strcmp(sql_value(p, "SELECT backend_xmin IS NULL FROM pg_stat_activity WHERE pid = %d", pid), "t") == 0 ||
				fail("backend_xmin is set while poll_wait sleeps"));
	sql_value(p, "SELECT broker.publish('ta', '{\"n\": 3}')");
	r = finish(w, WAKE_MS, &lost);
	ok = ok && ((r && PQresultStatus(r) == PGRES_TUPLES_OK &&
				 strstr(PQgetvalue(r, 0, 0), ": 3}") != NULL) ||
				fail("returned %s", r ? PQresultErrorMessage(r) : "nothing"));
	if (r)
		PQclear(r);
	report("poll_wait holds no snapshot while it waits, and wakes on a publish", ok);

	/* a cancelled wait procedure leaves no registration in the session */
	start(w, "CALL broker.claim_wait('wq', 1, wait => '30 s')");
	ok = await_sleeping(p, pid);
	sql_value(p, "SELECT pg_cancel_backend(%d)", pid);
	r = finish(w, WAKE_MS, &lost);
	ok = ok && ((r != NULL && strcmp(sqlstate(r), "57014") == 0) ||
				fail("expected 57014, got %s", r ? sqlstate(r) : "no answer"));
	if (r)
		PQclear(r);
	count = registrations(p, pid);
	ok = ok && (count == 0 || fail("%d registrations left in the session", count));
	report("a cancelled claim_wait leaves no registration behind", ok);

	/* the same for poll_wait, which registers under its topic and group */
	start(w, "CALL broker.poll_wait('ta', 'g', 10, wait => '30 s', consumer => 'c1', lease => '30 s')");
	ok = await_sleeping(p, pid);
	count = registrations(p, pid);
	ok = ok && (count == 2 || fail("%d registrations while poll_wait waits, expected 2", count));
	sql_value(p, "SELECT pg_cancel_backend(%d)", pid);
	r = finish(w, WAKE_MS, &lost);
	ok = ok && ((r != NULL && strcmp(sqlstate(r), "57014") == 0) ||
				fail("expected 57014, got %s", r ? sqlstate(r) : "no answer"));
	if (r)
		PQclear(r);
	count = registrations(p, pid);
	ok = ok && (count == 0 || fail("%d registrations left in the session", count));
	report("a cancelled poll_wait leaves no registration behind", ok);

	/* pg_terminate_backend: the backend goes, and its registration */
	start(w, "SELECT count(*) FROM broker.claim('wq', 1, wait => '30 s')");
	ok = await_sleeping(p, pid);
	sql_value(p, "SELECT pg_terminate_backend(%d, 5000)", pid);
	r = finish(w, WAKE_MS, &lost);
	ok = ok && (lost || (r && PQresultStatus(r) == PGRES_FATAL_ERROR) || fail("the waiter did not end"));
	if (r)
		PQclear(r);
	count = registrations(p, pid);
	ok = ok && (count == 0 || fail("%d registrations left", count));
	report("pg_terminate_backend ends a waiting claim", ok);
	PQfinish(w);
	w = waiter = connect_db();

	/* a client that goes away ends its waiting backend at once */
	{
		PGconn	   *x = connect_db();
		int			xpid = PQbackendPID(x);
		double		deadline;

		start(x, "SELECT count(*) FROM broker.claim('wq', 1, wait => '1 hour')");
		ok = await_sleeping(p, xpid);
		PQfinish(x);
		deadline = now_ms() + WAKE_MS;
		while (now_ms() < deadline &&
			   strcmp(sql_value(p, "SELECT count(*) FROM pg_stat_activity WHERE pid = %d", xpid), "0") != 0)
			usleep(10000);
		ok = ok && (strcmp(sql_value(p, "SELECT count(*) FROM pg_stat_activity WHERE pid = %d", xpid), "0") == 0 ||
					fail("the backend of a closed connection is still waiting"));
	}
	report("a waiting claim ends when its client disconnects", ok);

	/* NOTIFY at commit: once per transaction and destination, opt-in */
	sql_value(p, "SELECT broker.create_queue('nq')");
	sql_value(w, "LISTEN \"pgbroker.queue.nq\"");
	sql_value(w, "LISTEN \"pgbroker.topic.ta\"");
	sql_value(p, "SELECT broker.send('nq', '{}')");
	sql_value(p, "BEGIN; SELECT broker.alter_queue('nq', true); SELECT broker.alter_topic('ta', notify => true); COMMIT");
	sql_value(p, "BEGIN; SELECT broker.send('nq', '{}'); SELECT broker.send_batch('nq', ARRAY['{}', '{}']::jsonb[]); COMMIT");
	sql_value(p, "BEGIN; SELECT broker.send('nq', '{}'); ROLLBACK");
	sql_value(p, "BEGIN; SELECT broker.publish('ta', '{}'); SELECT broker.publish_batch('ta', ARRAY['{}', '{}']::jsonb[]); COMMIT");
	usleep(200000);
	PQconsumeInput(w);
	count = 0;
	ok = 1;
	while ((n = PQnotifies(w)) != NULL)
	{
		count++;
		if (!((strcmp(n->relname, "pgbroker.queue.nq") == 0 && strcmp(n->extra, "nq") == 0) ||
			  (strcmp(n->relname, "pgbroker.topic.ta") == 0 && strcmp(n->extra, "ta") == 0)))
			ok = fail("unexpected notification %s: %s", n->relname, n->extra);
		PQfreemem(n);
	}
	ok = ok && (count == 2 || fail("%d notifications, expected 2 (one per committed transaction)", count));
	report("notifications: one per committing transaction and destination, only when on", ok);

	r = PQexec(p, "SELECT broker.alter_queue(repeat('x', 60), true)");
	ok = (PQresultStatus(r) == PGRES_FATAL_ERROR &&
		  (strcmp(sqlstate(r), "42704") == 0 || strcmp(sqlstate(r), "42622") == 0)) ||
		fail("got %s", sqlstate(r));
	PQclear(r);
	sql_value(p, "SELECT broker.create_queue(repeat('x', 60))");
	r = PQexec(p, "SELECT broker.alter_queue(repeat('x', 60), true)");
	ok = ok && ((PQresultStatus(r) == PGRES_FATAL_ERROR && strcmp(sqlstate(r), "42622") == 0) ||
				fail("a queue name too long for a channel: got %s", sqlstate(r)));
	PQclear(r);
	report("notify refuses names too long for a channel", ok);

	sql_value(p, "SET client_min_messages = warning");
	sql_value(p, "DROP EXTENSION pgbroker CASCADE");
	PQfinish(w);
	PQfinish(w2);
	PQfinish(p);
	printf("wait_test: %d passed, %d failed\n", passed, failed);
	return failed == 0 ? 0 : 1;
}
