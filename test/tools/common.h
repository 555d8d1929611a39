/*
 * common.h - what every libpq driver in test/tools shares: connecting,
 * running statements that must succeed, running statements whose failure
 * is an expected outcome, reporting problems, and the clock.
 *
 * Each driver calls common_init() first with its name, which prefixes
 * every message printed here, and the exit statuses it documents for a
 * statement that fails and for a connection that is gone.  The functions
 * are safe to call from several threads at once, each with its own
 * connection.
 */
#ifndef PGBROKER_TEST_COMMON_H
#define PGBROKER_TEST_COMMON_H

#include "libpq-fe.h"

/* problems of one kind printed in full; the rest are only counted */
#define MAX_REPORT	20

/* outcome of sql_try() */
enum
{
	TRY_OK,
	TRY_LOST,					/* connection gone, or the server going down */
	TRY_LEASE_LOST,				/* SQLSTATE PB001 */
	TRY_ERROR					/* anything else: reported and counted */
};

extern void common_init(const char *name, int fail_status, int lost_status);

/* connections (exit status 2 when the server cannot be reached) */
extern PGconn *connect_db(void);
extern PGconn *connect_user(const char *user);
extern PGconn *connect_retry(const char *who, int first_ms, int max_ms,
							 int limit_secs, unsigned *seed);

/* statements that must succeed: on failure, print and exit */
extern PGresult *sql_exec(PGconn *c, const char *sql, int nparams,
						  const char *const *params);
extern void sql_check(PGconn *c, PGresult *r, const char *what);
extern PGresult *sql_query(PGconn *c, const char *sql);
extern void sql_cmd(PGconn *c, const char *sql);
extern void sql_cmdf(PGconn *c, const char *fmt,...)
			__attribute__((format(printf, 2, 3)));
extern const char *sql_value(PGconn *c, const char *fmt,...)
			__attribute__((format(printf, 2, 3)));
extern void sql_prepare(PGconn *c, const char *name, const char *sql);

/* a statement whose failure is an outcome: TRY_* */
extern int	sql_try(PGconn *c, const char *who, long *errors, const char *sql,
					int nparams, const char *const *params, PGresult **out);

/* counted problems, the first MAX_REPORT of each kind printed */
extern void problem(long *counter, long howmany, const char *who, const char *fmt,...)
			__attribute__((format(printf, 4, 5)));

/* the clock */
extern double now_secs(void);
extern double now_ms(void);
extern void nap(int ms, volatile int *stop);

#endif							/* PGBROKER_TEST_COMMON_H */
