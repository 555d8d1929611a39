/*
 * pool.c - the console's database connections: a small, bounded pool.
 *
 * At most pool_size connections are open.  A request takes an idle
 * connection of its login (the console's own, or with --auth the
 * credentials of the request), opens one if the pool is not full, closes
 * an idle one of another login to make room, or waits (up to 10 seconds,
 * then the request fails with 503).  Each connection is opened with the
 * console's statement timeout, UTF-8 (the page's encoding), a connect
 * timeout and TCP keepalives (a server that vanished does not hold a
 * thread for minutes), and application_name pgbroker-console.  A
 * connection that broke is closed when it comes back; one older than
 * MAX_AGE_SECS is closed rather than reused, so that a changed password
 * or a revoked login takes effect.
 *
 * With --auth a login must be a password the server checked: an empty
 * user or password is refused before connecting (libpq would fill them
 * from the environment, a password file or the console's own options),
 * the password file is not read, and a connection the server let in
 * without asking for the password (trust, peer) is closed and refused.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "console.h"

#define MAX_AGE_SECS	60

struct PoolConn
{
	PGconn	   *conn;
	char	   *user;			/* NULL: the console's own login */
	char	   *password;
	bool		busy;
	bool		open;
	time_t		opened;
};

static PoolConn *conns;
static int	nconns;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t freed = PTHREAD_COND_INITIALIZER;

void
pool_init(int size)
{
	nconns = size;
	conns = calloc(size, sizeof(PoolConn));
}

static bool
same_login(const PoolConn *pc, const char *user, const char *password)
{
	if (user == NULL)
		return pc->user == NULL;
	return pc->user != NULL && strcmp(pc->user, user) == 0 &&
		strcmp(pc->password, password) == 0;
}

static void
close_conn(PoolConn *pc)
{
	if (pc->conn)
		PQfinish(pc->conn);
	free(pc->user);
	free(pc->password);
	memset(pc, 0, sizeof(*pc));
}

/*
 * Open pc for the login; false with err set and *kind saying why (a
 * refused login, or the server not reached).
 */
static bool
open_conn(PoolConn *pc, const char *user, const char *password, char *err, size_t errlen,
		  PoolFailure *kind)
{
	const char *keys[32];
	const char *vals[32];
	char		options[64];
	bool		has_timeout = false;
	int			n = 0;

	for (int i = 0; i < console.nconn; i++)
	{
		if (strcmp(console.conn_keywords[i], "connect_timeout") == 0)
			has_timeout = true;
		if (user && (strcmp(console.conn_keywords[i], "user") == 0 ||
					 strcmp(console.conn_keywords[i], "password") == 0))
			continue;
		keys[n] = console.conn_keywords[i];
		vals[n++] = console.conn_values[i];
	}
	if (user)
	{
		keys[n] = "user";
		vals[n++] = user;
		keys[n] = "password";
		vals[n++] = password;
		keys[n] = "passfile";
		vals[n++] = "/dev/null";
	}
	snprintf(options, sizeof(options), "-c statement_timeout=%d", console.statement_timeout_ms);
	keys[n] = "options";
	vals[n++] = options;
	keys[n] = "application_name";
	vals[n++] = "pgbroker-console";
	keys[n] = "client_encoding";
	vals[n++] = "UTF8";
	if (!has_timeout)
	{
		keys[n] = "connect_timeout";
		vals[n++] = "10";
	}
	keys[n] = "keepalives_idle";
	vals[n++] = "30";
	keys[n] = "keepalives_interval";
	vals[n++] = "10";
	keys[n] = "keepalives_count";
	vals[n++] = "3";
	keys[n] = NULL;
	vals[n] = NULL;
	pc->conn = PQconnectdbParams(keys, vals, 1);
	if (PQstatus(pc->conn) != CONNECTION_OK)
	{
		snprintf(err, errlen, "%s", PQerrorMessage(pc->conn));
		*kind = PQconnectionNeedsPassword(pc->conn) || PQconnectionUsedPassword(pc->conn) ?
			POOL_LOGIN_REFUSED : POOL_UNREACHABLE;
		PQfinish(pc->conn);
		pc->conn = NULL;
		return false;
	}
	if (user && !PQconnectionUsedPassword(pc->conn))
	{
		snprintf(err, errlen, "the server let this login in without its password: "
				 "pg_hba.conf must ask the console's logins for one");
		*kind = POOL_LOGIN_REFUSED;
		PQfinish(pc->conn);
		pc->conn = NULL;
		return false;
	}
	pc->user = user ? strdup(user) : NULL;
	pc->password = user ? strdup(password) : NULL;
	pc->open = true;
	pc->opened = time(NULL);
	return true;
}

PoolConn *
pool_get(const char *user, const char *password, char *err, size_t errlen, PoolFailure *kind)
{
	struct timespec deadline;
	PoolConn   *pc = NULL;

	*kind = POOL_BUSY;
	if (user != NULL && (user[0] == '\0' || password == NULL || password[0] == '\0'))
	{
		snprintf(err, errlen, "a login needs a user name and a password");
		*kind = POOL_LOGIN_REFUSED;
		return NULL;
	}

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += 10;
	pthread_mutex_lock(&lock);
	for (;;)
	{
		PoolConn   *empty = NULL;
		PoolConn   *other = NULL;

		for (int i = 0; i < nconns; i++)
		{
			PoolConn   *c = &conns[i];

			if (c->busy)
				continue;
			if (c->open && time(NULL) - c->opened > MAX_AGE_SECS)
				close_conn(c);
			if (c->open && same_login(c, user, password))
			{
				pc = c;
				break;
			}
			if (!c->open && empty == NULL)
				empty = c;
			else if (c->open && other == NULL)
				other = c;
		}
		if (pc == NULL && empty == NULL && other != NULL)
		{
			close_conn(other);
			empty = other;
		}
		if (pc == NULL && empty != NULL)
		{
			/* connect outside the lock: the slot is ours */
			empty->busy = true;
			pthread_mutex_unlock(&lock);
			if (!open_conn(empty, user, password, err, errlen, kind))
			{
				pthread_mutex_lock(&lock);
				empty->busy = false;
				pthread_cond_signal(&freed);
				pthread_mutex_unlock(&lock);
				return NULL;
			}
			return empty;
		}
		if (pc != NULL)
		{
			pc->busy = true;
			break;
		}
		if (pthread_cond_timedwait(&freed, &lock, &deadline) != 0)
		{
			snprintf(err, errlen, "all %d database connections are busy", nconns);
			break;
		}
	}
	pthread_mutex_unlock(&lock);
	return pc;
}

PGconn *
pool_conn(PoolConn *pc)
{
	return pc->conn;
}

void
pool_put(PoolConn *pc)
{
	pthread_mutex_lock(&lock);
	if (PQstatus(pc->conn) != CONNECTION_OK ||
		PQtransactionStatus(pc->conn) != PQTRANS_IDLE)
		close_conn(pc);
	pc->busy = false;
	pthread_cond_signal(&freed);
	pthread_mutex_unlock(&lock);
}

void
pool_close_all(void)
{
	pthread_mutex_lock(&lock);
	for (int i = 0; i < nconns; i++)
		if (!conns[i].busy)
			close_conn(&conns[i]);
	pthread_mutex_unlock(&lock);
}

/* Close a connection that failed under a request, rather than reuse it. */
void
pool_discard(PoolConn *pc)
{
	pthread_mutex_lock(&lock);
	close_conn(pc);
	pthread_cond_signal(&freed);
	pthread_mutex_unlock(&lock);
}
