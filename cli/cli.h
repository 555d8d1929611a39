/*
 * cli.h - the pgbroker command-line tool: shared declarations.
 *
 * The tool is a libpq client; every command lives in its own file and
 * shares the connection, error reporting and output helpers declared here.
 * (The extension's own header is src/pgbroker.h; nothing here includes it.)
 */
#ifndef PGBROKER_CLI_H
#define PGBROKER_CLI_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "libpq-fe.h"

/* exit codes (documented in docs/cli.md) */
#define EXIT_OK			0
#define EXIT_USAGE		1
#define EXIT_CONNECTION	2
#define EXIT_SERVER		3

/* growable byte buffer */
typedef struct Buf
{
	char	   *data;
	size_t		len;
	size_t		cap;
} Buf;

extern void buf_init(Buf *b);
extern void buf_reset(Buf *b);
extern void buf_free(Buf *b);
extern void buf_append(Buf *b, const char *s, size_t n);
extern void buf_puts(Buf *b, const char *s);
extern void buf_printf(Buf *b, const char *fmt,...) __attribute__((format(printf, 2, 3)));
extern void buf_array_elem(Buf *b, const char *s, size_t n);
extern void buf_json_string(Buf *b, const char *s, size_t n);

/* a command's entry point and help */
typedef struct Command
{
	const char *name;
	int			(*run) (int argc, char **argv);
	const char *synopsis;
	const char *help;
} Command;

extern int	cmd_send(int argc, char **argv);
extern int	cmd_publish(int argc, char **argv);
extern int	cmd_consume(int argc, char **argv);
extern int	cmd_tail(int argc, char **argv);
extern int	cmd_read(int argc, char **argv);
extern int	cmd_create(int argc, char **argv);
extern int	cmd_alter(int argc, char **argv);
extern int	cmd_metrics(int argc, char **argv);
extern int	cmd_drop(int argc, char **argv);
extern int	cmd_list(int argc, char **argv);
extern int	cmd_describe(int argc, char **argv);
extern int	cmd_groups(int argc, char **argv);
extern int	cmd_subscriptions(int argc, char **argv);
extern int	cmd_subscription(int argc, char **argv);
extern int	cmd_grant(int argc, char **argv);
extern int	cmd_revoke(int argc, char **argv);
extern int	cmd_dead_letters(int argc, char **argv);
extern int	cmd_redrive(int argc, char **argv);
extern int	cmd_purge_dead_letters(int argc, char **argv);
extern int	cmd_peek(int argc, char **argv);
extern int	cmd_cancel(int argc, char **argv);
extern int	cmd_reset_group(int argc, char **argv);
extern int	cmd_delete_group(int argc, char **argv);
extern int	cmd_stats(int argc, char **argv);
extern int	cmd_bench(int argc, char **argv);

/*
 * The connection options, as psql spells them, that every command takes
 * before or after its name: CONN_SHORT_OPTIONS starts each command's
 * getopt string, CONN_LONG_OPTIONS its struct option table, and the four
 * letters go to set_connection_option.  No command may use d, h, p or U
 * (as a short option or as the value of a long one) for anything else.
 */
#define CONN_SHORT_OPTIONS "d:h:p:U:"
#define CONN_LONG_OPTIONS \
	{"dbname", required_argument, NULL, 'd'}, \
	{"host", required_argument, NULL, 'h'}, \
	{"port", required_argument, NULL, 'p'}, \
	{"username", required_argument, NULL, 'U'}

/* the connection options' lines of the help texts (main.c) */
#define CONN_HELP \
	"  -h, --host=HOST        database server host or socket directory\n" \
	"  -p, --port=PORT        database server port\n" \
	"  -U, --username=USER    database user name\n" \
	"  -d, --dbname=DBNAME    database name, conninfo string or URI\n"

/* connection and errors (common.c) */
extern const char *progname;
extern const char *conninfo;
extern volatile sig_atomic_t interrupted;

extern void set_connection_option(int option, const char *value);
extern PGconn *connect_db(void);
extern PGconn *connect_db_quiet(char *errbuf, size_t errlen);
extern bool reconnect_requested;
extern bool may_reconnect(PGconn *conn);
extern PGconn *reconnect_db(PGconn *old);
extern void set_cancel_target(PGconn *conn);
extern void install_signal_handlers(void);
extern void report_error(PGconn *conn, const PGresult *res, const char *context);
extern int	result_exit_code(PGconn *conn);
extern PGresult *exec_params(PGconn *conn, const char *sql, int nparams,
							 const char *const *values);
extern bool exec_ok(const PGresult *res);
extern bool exec_command(PGconn *conn, const char *sql);
extern void fatal_usage(const char *cmd, const char *fmt,...) __attribute__((format(printf, 2, 3), noreturn));
extern void errorf(const char *fmt,...) __attribute__((format(printf, 1, 2)));
extern double now_seconds(void);
extern bool sleep_interruptible(double seconds);
extern bool stderr_is_tty(void);
extern bool parse_int(const char *s, long min, long max, long *out);
extern bool is_help_option(int argc, char **argv);
extern void print_command_help(const char *name);
extern bool write_all(FILE *f, const char *s, size_t n);

/*
 * The JSON line of a record r (broker.record), for tail and read: $N
 * (substituted for %d) true prints the payload alone.  row_to_json keeps
 * the column order and prints compact JSON; a binary payload is printed
 * in base64, flagged.
 */
#define RECORD_JSON \
	"CASE WHEN $%d THEN coalesce(r.payload::text, to_json(encode(r.payload_bytes, 'base64'))::text, 'null') " \
	"ELSE (SELECT row_to_json(x)::text FROM (SELECT r.partition, r.offset_id AS offset, r.key, " \
	"r.published_at, r.headers, " \
	"coalesce(r.payload, to_jsonb(encode(r.payload_bytes, 'base64'))) AS payload, " \
	"r.payload_bytes IS NOT NULL AS payload_is_base64) x) END"

/*
 * Errors shown in a table (subscriptions, dead-letters) are put on one
 * line and cut to this many characters, so that one long error does not
 * widen the whole table; the views have them whole.
 */
#define LAST_ERROR_WIDTH "60"

/* tables (table.c) */
extern void print_table(FILE *f, const PGresult *res, const char *title);
extern void print_table_cols(FILE *f, const PGresult *res, const char *title, int ncols);
extern void print_vertical(FILE *f, const PGresult *res, int row);

#endif							/* PGBROKER_CLI_H */
