/*
 * common.c - connection, errors, signals and buffers shared by every
 * pgbroker command.
 *
 * Errors are printed as the server sent them, with their SQLSTATE, so that
 * a script can tell a missing queue (42704) from a full disk (53100).  The
 * exit code tells a usage error, a lost connection and a server error
 * apart.  Ctrl-C sets a flag that the commands look at between steps; only
 * while a command waits in the server does it also cancel the statement,
 * so that an interrupt never lands between printing messages and
 * acknowledging them.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

const char *progname = "pgbroker";
const char *conninfo = NULL;	/* -d */
static const char *conn_host = NULL;	/* -h */
static const char *conn_port = NULL;	/* -p */
static const char *conn_user = NULL;	/* -U */
volatile sig_atomic_t interrupted = 0;

static PGcancel *volatile cancel_target = NULL;

void
buf_init(Buf *b)
{
	b->cap = 256;
	b->len = 0;
	b->data = malloc(b->cap);
	if (b->data == NULL)
	{
		fprintf(stderr, "%s: out of memory\n", progname);
		exit(EXIT_SERVER);
	}
	b->data[0] = '\0';
}

void
buf_reset(Buf *b)
{
	b->len = 0;
	b->data[0] = '\0';
}

void
buf_free(Buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

static void
buf_reserve(Buf *b, size_t more)
{
	if (b->len + more + 1 <= b->cap)
		return;
	while (b->len + more + 1 > b->cap)
		b->cap *= 2;
	b->data = realloc(b->data, b->cap);
	if (b->data == NULL)
	{
		fprintf(stderr, "%s: out of memory\n", progname);
		exit(EXIT_SERVER);
	}
}

void
buf_append(Buf *b, const char *s, size_t n)
{
	buf_reserve(b, n);
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void
buf_puts(Buf *b, const char *s)
{
	buf_append(b, s, strlen(s));
}

void
buf_printf(Buf *b, const char *fmt,...)
{
	va_list		ap;
	int			n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	buf_reserve(b, (size_t) n);
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t) n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t) n;
}

/*
 * One element of a PostgreSQL array literal: always double-quoted, with
 * backslash and quote escaped, so that any text (commas, braces, the word
 * NULL) arrives unchanged.
 */
void
buf_array_elem(Buf *b, const char *s, size_t n)
{
	buf_reserve(b, n * 2 + 2);
	b->data[b->len++] = '"';
	for (size_t i = 0; i < n; i++)
	{
		if (s[i] == '"' || s[i] == '\\')
			b->data[b->len++] = '\\';
		b->data[b->len++] = s[i];
	}
	b->data[b->len++] = '"';
	b->data[b->len] = '\0';
}

/* A JSON string literal holding the bytes s[0..n) (assumed UTF-8). */
void
buf_json_string(Buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";

	buf_reserve(b, n * 6 + 2);
	b->data[b->len++] = '"';
	for (size_t i = 0; i < n; i++)
	{
		unsigned char c = (unsigned char) s[i];

		switch (c)
		{
			case '"':
				b->data[b->len++] = '\\';
				b->data[b->len++] = '"';
				break;
			case '\\':
				b->data[b->len++] = '\\';
				b->data[b->len++] = '\\';
				break;
			case '\n':
				b->data[b->len++] = '\\';
				b->data[b->len++] = 'n';
				break;
			case '\r':
				b->data[b->len++] = '\\';
				b->data[b->len++] = 'r';
				break;
			case '\t':
				b->data[b->len++] = '\\';
				b->data[b->len++] = 't';
				break;
			default:
				if (c < 0x20)
				{
					memcpy(b->data + b->len, "\\u00", 4);
					b->len += 4;
					b->data[b->len++] = hex[c >> 4];
					b->data[b->len++] = hex[c & 15];
				}
				else
					b->data[b->len++] = (char) c;
		}
	}
	b->data[b->len++] = '"';
	b->data[b->len] = '\0';
}

void
errorf(const char *fmt,...)
{
	va_list		ap;

	fprintf(stderr, "%s: ", progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void
fatal_usage(const char *cmd, const char *fmt,...)
{
	va_list		ap;

	fprintf(stderr, "%s%s%s: ", progname, cmd ? " " : "", cmd ? cmd : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry \"%s %s%s--help\" for more information.\n",
			progname, cmd ? cmd : "", cmd ? " " : "");
	exit(EXIT_USAGE);
}

/* -d, -h, -p or -U with its value; the last of each wins */
void
set_connection_option(int option, const char *value)
{
	switch (option)
	{
		case 'd':
			conninfo = value;
			break;
		case 'h':
			conn_host = value;
			break;
		case 'p':
			conn_port = value;
			break;
		case 'U':
			conn_user = value;
			break;
	}
}

/*
 * Connect as psql does: the keywords in psql's order with expand_dbname,
 * so that -d takes a database name, a key=value conninfo string or a URI
 * (a value with "=" or starting with postgresql:// or postgres://), and a
 * host, port or user that such a string names wins over -h, -p and -U,
 * which win over the PG* variables; ~/.pgpass and the rest as in libpq.
 */
PGconn *
connect_db_quiet(char *errbuf, size_t errlen)
{
	const char *keys[] = {"host", "port", "user", "dbname",
	"fallback_application_name", NULL};
	const char *vals[] = {conn_host, conn_port, conn_user, conninfo,
	"pgbroker", NULL};
	PGconn	   *conn = PQconnectdbParams(keys, vals, 1);

	if (conn == NULL)
	{
		snprintf(errbuf, errlen, "out of memory");
		return NULL;
	}
	if (PQstatus(conn) != CONNECTION_OK)
	{
		snprintf(errbuf, errlen, "%s", PQerrorMessage(conn));
		/* libpq messages end in a newline */
		if (errlen > 0 && strlen(errbuf) > 0 && errbuf[strlen(errbuf) - 1] == '\n')
			errbuf[strlen(errbuf) - 1] = '\0';
		PQfinish(conn);
		return NULL;
	}
	return conn;
}

/* Sleep, or less if Ctrl-C comes first; false if it came. */
bool
sleep_interruptible(double seconds)
{
	struct timespec ts;

	ts.tv_sec = (time_t) seconds;
	ts.tv_nsec = (long) ((seconds - (double) ts.tv_sec) * 1e9);
	while (!interrupted && nanosleep(&ts, &ts) != 0)
		;
	return !interrupted;
}

/*
 * Reconnecting (consume -f, tail -f, send and publish from a stream):
 * when --reconnect was given, or the connection options name several
 * hosts or a target_session_attrs (a failover setup), a lost connection
 * is reported on standard error and made again, with backoff, for up to
 * RECONNECT_LIMIT seconds; otherwise the command exits with status 2.
 */
#define RECONNECT_LIMIT 300

bool		reconnect_requested = false;

static bool
multi_host(PGconn *conn)
{
	PQconninfoOption *opts = PQconninfo(conn);
	bool		multi = false;

	for (PQconninfoOption *o = opts; o && o->keyword; o++)
	{
		if (o->val == NULL)
			continue;
		if ((strcmp(o->keyword, "host") == 0 || strcmp(o->keyword, "hostaddr") == 0 ||
			 strcmp(o->keyword, "port") == 0) && strchr(o->val, ',') != NULL)
			multi = true;
		if (strcmp(o->keyword, "target_session_attrs") == 0 && strcmp(o->val, "any") != 0)
			multi = true;
	}
	PQconninfoFree(opts);
	return multi;
}

/* whether a lost connection should be made again */
bool
may_reconnect(PGconn *conn)
{
	return PQstatus(conn) == CONNECTION_BAD && !interrupted &&
		(reconnect_requested || multi_host(conn));
}

/*
 * Connect again after the connection was lost: the old one is closed.
 * NULL (and the reason on standard error) after RECONNECT_LIMIT seconds
 * or Ctrl-C.  The cancel target is cleared; callers set it again where
 * they want Ctrl-C to cancel a statement.
 */
PGconn *
reconnect_db(PGconn *old)
{
	char		err[1024] = "";
	char		why[512];
	double		start = now_seconds();
	double		delay = 0.2;

	/* no cancel of a connection that is gone (its server may be down) */
	set_cancel_target(NULL);
	snprintf(why, sizeof(why), "%s", PQerrorMessage(old));
	why[strcspn(why, "\n")] = '\0';
	errorf("connection lost (%s); reconnecting", why[0] ? why : "server closed the connection");
	PQfinish(old);
	while (!interrupted)
	{
		PGconn	   *conn = connect_db_quiet(err, sizeof(err));

		if (conn != NULL)
		{
			errorf("reconnected to %s port %s after %.1f s", PQhost(conn), PQport(conn),
				   now_seconds() - start);
			return conn;
		}
		if (now_seconds() - start > RECONNECT_LIMIT || !sleep_interruptible(delay))
			break;
		delay = delay * 2 > 5 ? 5 : delay * 2;
	}
	errorf("could not reconnect%s: %s", interrupted ? "" : " for 300 s", err);
	return NULL;
}

/*
 * Connect, or exit with status 2.  In a database without the extension
 * every command would fail on its first statement with a bare "schema
 * broker does not exist" (3F000) or "relation ... does not exist"
 * (42P01); one look at pg_extension says so plainly instead, exit 3.  A
 * router database (pgbroker_router) serves the topic commands like a node.
 */
PGconn *
connect_db(void)
{
	char		err[1024];
	PGconn	   *conn = connect_db_quiet(err, sizeof(err));
	PGresult   *res;

	if (conn == NULL)
	{
		errorf("could not connect: %s", err);
		exit(EXIT_CONNECTION);
	}
	res = PQexec(conn, "SELECT 1 FROM pg_catalog.pg_extension WHERE extname IN ('pgbroker', 'pgbroker_router')");
	if (!exec_ok(res))
	{
		int			rc;

		report_error(conn, res, NULL);
		rc = result_exit_code(conn);
		PQclear(res);
		PQfinish(conn);
		exit(rc);
	}
	if (PQntuples(res) == 0)
	{
		errorf("error: pgbroker is not installed in database \"%s\" (CREATE EXTENSION pgbroker, or pgbroker_router on a router)",
			   PQdb(conn));
		PQclear(res);
		PQfinish(conn);
		exit(EXIT_SERVER);
	}
	PQclear(res);
	return conn;
}

/*
 * Make conn the connection that Ctrl-C cancels (NULL: none).  Signals are
 * blocked while the target changes hands so that the handler never sees a
 * freed one.
 */
void
set_cancel_target(PGconn *conn)
{
	sigset_t	block,
				old;
	PGcancel   *prev;

	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigprocmask(SIG_BLOCK, &block, &old);
	prev = cancel_target;
	cancel_target = conn ? PQgetCancel(conn) : NULL;
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (prev)
		PQfreeCancel(prev);
	/* an interrupt that came before the target was set still counts */
	if (conn && interrupted)
	{
		char		errbuf[256];

		if (cancel_target)
			PQcancel(cancel_target, errbuf, sizeof(errbuf));
	}
}

static void
on_signal(int signo)
{
	int			save_errno = errno;
	char		errbuf[256];

	if (interrupted)
	{
		/* a second interrupt: stop at once */
		signal(signo, SIG_DFL);
		raise(signo);
	}
	interrupted = 1;
	if (cancel_target)
		PQcancel(cancel_target, errbuf, sizeof(errbuf));
	errno = save_errno;
}

void
install_signal_handlers(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	/* a closed output pipe shows up as EPIPE from write */
	signal(SIGPIPE, SIG_IGN);
}

/*
 * Print a failed result the way the server reported it:
 *   pgbroker: error: queue "x" does not exist (SQLSTATE 42704)
 * followed by its DETAIL and HINT lines, if any.
 */
void
report_error(PGconn *conn, const PGresult *res, const char *context)
{
	const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *detail = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL) : NULL;
	const char *hint = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_HINT) : NULL;

	if (PQstatus(conn) == CONNECTION_BAD)
	{
		char	   *m = strdup(PQerrorMessage(conn));
		size_t		n = m ? strlen(m) : 0;

		while (n > 0 && (m[n - 1] == '\n' || m[n - 1] == ' '))
			m[--n] = '\0';
		for (size_t i = 0; i < n; i++)
			if (m[i] == '\n' || m[i] == '\t')
				m[i] = ' ';
		fprintf(stderr, "%s: error: connection lost%s%s: %s\n", progname,
				context ? " while " : "", context ? context : "", m ? m : "");
		free(m);
		return;
	}
	if (msg == NULL)
	{
		const char *m = res ? PQresultErrorMessage(res) : PQerrorMessage(conn);

		fprintf(stderr, "%s: error%s%s: %s", progname,
				context ? " while " : "", context ? context : "", m);
		if (m[0] == '\0' || m[strlen(m) - 1] != '\n')
			fputc('\n', stderr);
		return;
	}
	fprintf(stderr, "%s: error%s%s: %s (SQLSTATE %s)\n", progname,
			context ? " while " : "", context ? context : "", msg,
			state ? state : "?????");
	if (detail)
		fprintf(stderr, "DETAIL:  %s\n", detail);
	if (hint)
		fprintf(stderr, "HINT:  %s\n", hint);
}

/* exit code for a failure on conn: the connection, or the server */
int
result_exit_code(PGconn *conn)
{
	return PQstatus(conn) == CONNECTION_BAD ? EXIT_CONNECTION : EXIT_SERVER;
}

PGresult *
exec_params(PGconn *conn, const char *sql, int nparams, const char *const *values)
{
	return PQexecParams(conn, sql, nparams, NULL, values, NULL, NULL, 0);
}

bool
exec_ok(const PGresult *res)
{
	ExecStatusType st = PQresultStatus(res);

	return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
}

/* run a statement without parameters; report and return false on error */
bool
exec_command(PGconn *conn, const char *sql)
{
	PGresult   *res = PQexec(conn, sql);
	bool		ok = exec_ok(res);

	if (!ok)
		report_error(conn, res, NULL);
	PQclear(res);
	return ok;
}

double
now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

bool
stderr_is_tty(void)
{
	return isatty(STDERR_FILENO);
}

bool
parse_int(const char *s, long min, long max, long *out)
{
	char	   *end;
	long		v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		return false;
	*out = v;
	return true;
}

bool
is_help_option(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
	{
		if (strcmp(argv[i], "--") == 0)
			break;
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-?") == 0)
			return true;
	}
	return false;
}

/* write everything or report why not (EPIPE: the reader went away) */
bool
write_all(FILE *f, const char *s, size_t n)
{
	if (fwrite(s, 1, n, f) != n)
		return false;
	return true;
}
