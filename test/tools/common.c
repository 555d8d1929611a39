/*
 * common.c - the libpq helpers of pgbroker's test drivers.
 *
 * Owns the ways a driver talks to the server that are not the point of
 * the driver itself:
 *
 * - connecting: once (connect_db, connect_user), or again and again with
 *   backoff while the server is down or restarting (connect_retry);
 * - statements that must succeed (sql_exec, sql_cmd, sql_value, ...): a
 *   failure prints the statement and the server's message, prefixed with
 *   the driver's name, and exits with the driver's status for a failed
 *   statement, or for a lost connection;
 * - statements whose failure is an outcome the driver counts (sql_try):
 *   a lost connection and a lease taken over (PB001) are told apart from
 *   everything else, which is reported and counted as an error;
 * - problem(): the first few problems of each kind printed in full, all
 *   of them counted;
 * - the monotonic clock, and naps that end early when the run stops.
 *
 * Every function may be called from several threads, each with its own
 * connection: the only shared state is the driver's name and exit
 * statuses, set once before any thread starts, and the lock that keeps
 * problem() reports whole.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

static const char *progname = "test";
static int	fail_exit = 1;
static int	lost_exit = 2;
static pthread_mutex_t report_mu = PTHREAD_MUTEX_INITIALIZER;

/*
 * Name the driver (the prefix of every message) and choose its exit
 * statuses: fail_status when a statement that must succeed fails,
 * lost_status when it failed because the connection is gone.
 */
void
common_init(const char *name, int fail_status, int lost_status)
{
	progname = name;
	fail_exit = fail_status;
	lost_exit = lost_status;
}

/* ---------------------------------------------------------------- connections */

/* Connect with the PG* environment variables, or exit with status 2. */
PGconn *
connect_db(void)
{
	return connect_user(NULL);
}

/* The same, as the given user (NULL: the default one). */
PGconn *
connect_user(const char *user)
{
	PGconn	   *c;

	if (user)
	{
		const char *keys[] = {"user", NULL};
		const char *vals[] = {user, NULL};

		c = PQconnectdbParams(keys, vals, 0);
	}
	else
		c = PQconnectdb("");
	if (PQstatus(c) != CONNECTION_OK)
	{
		fprintf(stderr, "%s: connection failed: %s", progname, PQerrorMessage(c));
		exit(2);
	}
	return c;
}

/* A notice processor for connections the server may end: its goodbye is expected. */
static void
quiet_terminating(void *arg, const char *message)
{
	if (strstr(message, "terminating connection") == NULL)
		fprintf(stderr, "%s", message);
}

/*
 * Connect, trying again while the server is down, restarting or in crash
 * recovery.  The wait between tries starts at first_ms and doubles while
 * it is below max_ms; with a seed, each wait is up to twice as long, at
 * random, so that many clients do not come back in step.  Exits with
 * status 2 after limit_secs without a connection.  The connection keeps
 * quiet about being terminated (quiet_terminating).
 */
PGconn *
connect_retry(const char *who, int first_ms, int max_ms, int limit_secs, unsigned *seed)
{
	double		start = now_secs();
	int			delay = first_ms;

	for (;;)
	{
		PGconn	   *c = PQconnectdb("");

		if (PQstatus(c) == CONNECTION_OK)
		{
			PQsetNoticeProcessor(c, quiet_terminating, NULL);
			return c;
		}
		if (now_secs() - start > limit_secs)
		{
			fprintf(stderr, "%s: %s: cannot reconnect for %d s: %s",
					progname, who, limit_secs, PQerrorMessage(c));
			exit(2);
		}
		PQfinish(c);
		usleep((delay + (seed ? rand_r(seed) % delay : 0)) * 1000);
		if (delay < max_ms)
			delay *= 2;
	}
}

/* ---------------------------------------------------------------- statements that must succeed */

/* Exit, with the server's message, unless r is a success. */
void
sql_check(PGconn *c, PGresult *r, const char *what)
{
	ExecStatusType st = PQresultStatus(r);

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
	{
		fprintf(stderr, "%s: %s: %s", progname, what,
				r ? PQresultErrorMessage(r) : PQerrorMessage(c));
		exit(PQstatus(c) == CONNECTION_BAD ? lost_exit : fail_exit);
	}
}

/* Run one statement with text parameters; the caller clears the result. */
PGresult *
sql_exec(PGconn *c, const char *sql, int nparams, const char *const *params)
{
	PGresult   *r = PQexecParams(c, sql, nparams, NULL, params, NULL, NULL, 0);

	sql_check(c, r, sql);
	return r;
}

/*
 * Run sql, which may hold several statements, without parameters (the
 * simple query protocol); the caller clears the result of the last one.
 */
PGresult *
sql_query(PGconn *c, const char *sql)
{
	PGresult   *r = PQexec(c, sql);

	sql_check(c, r, sql);
	return r;
}

/* sql_query, the result dropped. */
void
sql_cmd(PGconn *c, const char *sql)
{
	PQclear(sql_query(c, sql));
}

static char *
vformat(const char *fmt, va_list ap)
{
	va_list		aq;
	int			n;
	char	   *s;

	va_copy(aq, ap);
	n = vsnprintf(NULL, 0, fmt, aq);
	va_end(aq);
	s = malloc(n + 1);
	vsnprintf(s, n + 1, fmt, ap);
	return s;
}

/* sql_cmd of a formatted statement. */
void
sql_cmdf(PGconn *c, const char *fmt,...)
{
	va_list		ap;
	char	   *sql;

	va_start(ap, fmt);
	sql = vformat(fmt, ap);
	va_end(ap);
	sql_cmd(c, sql);
	free(sql);
}

/*
 * Run a formatted statement and return the first column of its first row,
 * or "" when it returned none.  The value lives until the calling thread's
 * next call.
 */
const char *
sql_value(PGconn *c, const char *fmt,...)
{
	static __thread char value[256];
	va_list		ap;
	char	   *sql;
	PGresult   *r;

	va_start(ap, fmt);
	sql = vformat(fmt, ap);
	va_end(ap);
	r = sql_query(c, sql);
	free(sql);
	value[0] = '\0';
	if (PQntuples(r) > 0 && PQnfields(r) > 0)
		snprintf(value, sizeof(value), "%s", PQgetvalue(r, 0, 0));
	PQclear(r);
	return value;
}

/* Prepare a statement without parameter types, or exit. */
void
sql_prepare(PGconn *c, const char *name, const char *sql)
{
	PGresult   *r = PQprepare(c, name, sql, 0, NULL);

	sql_check(c, r, sql);
	PQclear(r);
}

/* ---------------------------------------------------------------- statements that may fail */

/*
 * Run one statement for a client that expects to lose its connection
 * (a terminated backend, a server killed and restarted: no connection, or
 * SQLSTATE classes 08 and 57P) and its leases (PB001).  Anything else is
 * reported, with the statement and its SQLSTATE, and counted in *errors.
 * Returns TRY_*; with TRY_OK and out, *out is the result to clear.
 */
int
sql_try(PGconn *c, const char *who, long *errors, const char *sql,
		int nparams, const char *const *params, PGresult **out)
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
		return TRY_OK;
	}
	sqlstate = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	if (PQstatus(c) == CONNECTION_BAD ||
		(sqlstate && (strncmp(sqlstate, "08", 2) == 0 || strncmp(sqlstate, "57P", 3) == 0)))
	{
		PQclear(r);
		return TRY_LOST;
	}
	if (sqlstate && strcmp(sqlstate, "PB001") == 0)
	{
		PQclear(r);
		return TRY_LEASE_LOST;
	}
	snprintf(msg, sizeof(msg), "%s", r ? PQresultErrorMessage(r) : PQerrorMessage(c));
	len = strlen(msg);
	while (len > 0 && msg[len - 1] == '\n')
		msg[--len] = '\0';
	problem(errors, 1, who, "%s: [%s] %s", sql, sqlstate ? sqlstate : "-----", msg);
	PQclear(r);
	return TRY_ERROR;
}

/* ---------------------------------------------------------------- problems */

/*
 * Add howmany to *counter and, for the first MAX_REPORT problems of that
 * kind, print "driver: who: message".  Takes a lock of its own only, so a
 * caller may hold its own locks.
 */
void
problem(long *counter, long howmany, const char *who, const char *fmt,...)
{
	long		before;
	va_list		ap;

	pthread_mutex_lock(&report_mu);
	before = *counter;
	*counter += howmany;
	if (before < MAX_REPORT)
	{
		fprintf(stderr, "%s: %s: ", progname, who);
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
		fputc('\n', stderr);
	}
	pthread_mutex_unlock(&report_mu);
}

/* ---------------------------------------------------------------- the clock */

double
now_secs(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

/* Sleep ms milliseconds, or less if *stop is set meanwhile. */
void
nap(int ms, volatile int *stop)
{
	while (ms > 0 && !*stop)
	{
		int			step = ms > 50 ? 50 : ms;

		usleep(step * 1000);
		ms -= step;
	}
}
