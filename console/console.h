/*
 * console.h - pgbroker-console, a web console for pgbroker: what its
 * files share.
 *
 * main.c reads the options and runs the HTTP server (GNU libmicrohttpd);
 * http.c answers each request (routing, authentication, the token against
 * cross-site requests, static files); api.c holds the SQL of each API
 * call, whose results the server builds as JSON; pool.c keeps the
 * database connections.
 */
#ifndef PGBROKER_CONSOLE_H
#define PGBROKER_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>

#include <libpq-fe.h>

typedef struct ConsoleConfig
{
	const char *listen_host;	/* numeric address to bind */
	int			listen_port;
	const char *static_dir;		/* the page's files */
	const char *conn_keywords[16];	/* base connection options (libpq) */
	const char *conn_values[16];
	int			nconn;
	bool		auth;			/* HTTP basic credentials are the database login */
	bool		read_only;
	int			pool_size;
	int			statement_timeout_ms;
	const char *tls_cert;
	const char *tls_key;
	char		token[65];		/* the token POST requests carry */
	const char *allowed_hosts[8];	/* Host names the console answers to (with its port) */
	int			nallowed;
} ConsoleConfig;

extern ConsoleConfig console;

/* pool.c */
typedef struct PoolConn PoolConn;
typedef enum PoolFailure
{
	POOL_BUSY,					/* every connection in use for 10 s */
	POOL_LOGIN_REFUSED,			/* --auth: not a login the server accepts */
	POOL_UNREACHABLE			/* the server could not be reached */
} PoolFailure;
extern void pool_init(int size);
extern PoolConn *pool_get(const char *user, const char *password, char *err, size_t errlen,
						  PoolFailure *kind);
extern void pool_discard(PoolConn *pc);
extern PGconn *pool_conn(PoolConn *pc);
extern void pool_put(PoolConn *pc);
extern void pool_close_all(void);

/* api.c: a call's answer, JSON text and an HTTP status */
typedef struct ApiResult
{
	int			status;
	char	   *body;			/* malloc'd */
	const char *content_type;
} ApiResult;

typedef enum ApiKind
{
	API_GET,
	API_POST
} ApiKind;

extern bool api_call(ApiKind kind, const char *path, const char *name_arg,
					 const char *body, PGconn *conn, ApiResult *out);
extern bool api_is_known(ApiKind kind, const char *path);
extern char *json_error(const char *message, const char *sqlstate);

/* http.c */
extern int http_run(void);

#endif							/* PGBROKER_CONSOLE_H */
