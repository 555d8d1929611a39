/*
 * pool.c - the console's database connections: a small, bounded pool.
 *
 * At most pool_size connections are open.  A request takes an idle
 * connection of its login (the console's own, or with --auth the
 * credentials of the request), opens one if the pool is not full, closes
 * an idle one of another login to make room, or waits (up to 10 seconds,
 * then the request fails with 503).  Each connection is opened with the
 * console's statement timeout and application_name pgbroker-console.  A
 * connection that broke is closed when it comes back.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "console.h"

struct PoolConn
{
	PGconn	   *conn;
	char	   *user;			/* NULL: the console's own login */
	char	   *password;
	bool		busy;
	bool		open;
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

/* open pc for the login; false with err set if the server refused */
static bool
open_conn(PoolConn *pc, const char *user, const char *password, char *err, size_t errlen)
{
	const char *keys[24];
	const char *vals[24];
	char		options[64];
	int			n = 0;

	for (int i = 0; i < console.nconn; i++)
	{
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
	}
	snprintf(options, sizeof(options), "-c statement_timeout=%d", console.statement_timeout_ms);
	keys[n] = "options";
	vals[n++] = options;
	keys[n] = "application_name";
	vals[n++] = "pgbroker-console";
	keys[n] = NULL;
	vals[n] = NULL;
	pc->conn = PQconnectdbParams(keys, vals, 1);
	if (PQstatus(pc->conn) != CONNECTION_OK)
	{
		snprintf(err, errlen, "%s", PQerrorMessage(pc->conn));
		PQfinish(pc->conn);
		pc->conn = NULL;
		return false;
	}
	pc->user = user ? strdup(user) : NULL;
	pc->password = user ? strdup(password) : NULL;
	pc->open = true;
	return true;
}

PoolConn *
pool_get(const char *user, const char *password, char *err, size_t errlen)
{
	struct timespec deadline;
	PoolConn   *pc = NULL;

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
			if (!open_conn(empty, user, password, err, errlen))
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
