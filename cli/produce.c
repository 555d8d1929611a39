/*
 * produce.c - pgbroker send and pgbroker publish: standard input to a
 * queue or a topic, one message per line.
 *
 * Lines are gathered into batches and each batch is one statement
 * (broker.send_batch or broker.publish_batch) in its own transaction, so a
 * message counts as sent exactly when the server confirmed its batch.  A
 * batch goes out when it is full or when standard input has had nothing
 * more for a moment, so that lines typed by hand are not held back.
 *
 * When a batch fails on what may be a bad line (a line that is not JSON,
 * 22xxx, or one over the server's or the queue's size limit, 54000), it is
 * sent again in one transaction, half by half under savepoints down to
 * single lines: every good line of the batch is sent, in order, every bad
 * one is named by its line number and left out, and the tool goes on with
 * the next batch; at the end it names the lines left out again and exits
 * with status 3.  What comes out does not depend on --batch.  When the
 * connection breaks, the outcome of the batch in flight is unknown and the
 * tool says so.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

#define MAX_RESENDS		3		/* a batch sent again at most this often */
#define FLUSH_IDLE_MS	100		/* send a partial batch after this much quiet */
#define PROGRESS_EVERY	0.5		/* seconds between progress lines */
#define BAD_LISTED		10		/* bad lines named again at the end */

typedef struct LineReader
{
	int			fd;
	Buf			buf;
	size_t		start;			/* first unread byte in buf */
	bool		eof;
	long		lineno;			/* number of the last line returned */
} LineReader;

/* the lines of one batch, kept raw so that a bad one can be named */
typedef struct Batch
{
	Buf			raw;			/* the lines, back to back */
	size_t	   *off;
	size_t	   *len;
	long	   *lineno;
	char	  **key;			/* publish --key-separator: each line's key */
	int			n;
	int			cap;
	int			resends;		/* times sent again after a lost connection */
} Batch;

typedef struct Producer
{
	const char *cmd;			/* "send" or "publish" */
	const char *target;
	bool		topic;
	bool		raw;
	bool		quiet;
	int			batch_size;
	const char *headers;
	const char *delay;
	const char *priority;
	const char *dedup_key;		/* send --dedup-key: one message only */
	const char *group_key;
	const char *key;
	const char *key_sep;
	const char *partition;
	PGconn	   *conn;
	long		sent;
	long		nbad;			/* lines left out: not JSON, too large */
	long		bad[BAD_LISTED];	/* the first of them */
	double		started;
	double		last_progress;
	bool		progress_shown;
} Producer;

static void
reader_init(LineReader *r, int fd)
{
	r->fd = fd;
	buf_init(&r->buf);
	r->start = 0;
	r->eof = false;
	r->lineno = 0;
}

/*
 * Next line of input (without its newline or a trailing CR): 1 and the
 * line in *line and *len (valid until the next call), 0 when no whole line
 * arrived within timeout_ms (or a signal came), -1 at the end of input.
 */
static int
read_line(LineReader *r, int timeout_ms, const char **line, size_t *len)
{
	for (;;)
	{
		char	   *nl = r->buf.len > r->start ?
			memchr(r->buf.data + r->start, '\n', r->buf.len - r->start) : NULL;
		struct pollfd pfd;
		ssize_t		got;
		int			rc;

		if (nl || (r->eof && r->buf.len > r->start))
		{
			size_t		end = nl ? (size_t) (nl - r->buf.data) : r->buf.len;

			*line = r->buf.data + r->start;
			*len = end - r->start;
			if (*len > 0 && (*line)[*len - 1] == '\r')
				(*len)--;
			r->start = nl ? end + 1 : end;
			r->lineno++;
			return 1;
		}
		if (r->eof)
			return -1;
		if (interrupted)
			return 0;

		/* keep the buffer from growing without bound */
		if (r->start > 0)
		{
			memmove(r->buf.data, r->buf.data + r->start, r->buf.len - r->start);
			r->buf.len -= r->start;
			r->start = 0;
		}
		pfd.fd = r->fd;
		pfd.events = POLLIN;
		rc = poll(&pfd, 1, timeout_ms);
		if (rc < 0 && errno == EINTR)
			return 0;
		if (rc == 0)
			return 0;
		{
			char		chunk[65536];

			got = read(r->fd, chunk, sizeof(chunk));
			if (got < 0 && (errno == EINTR || errno == EAGAIN))
				return 0;
			if (got <= 0)
				r->eof = true;
			else
				buf_append(&r->buf, chunk, (size_t) got);
		}
	}
}

static void
batch_init(Batch *b)
{
	buf_init(&b->raw);
	b->cap = 64;
	b->n = 0;
	b->resends = 0;
	b->off = malloc(sizeof(size_t) * b->cap);
	b->len = malloc(sizeof(size_t) * b->cap);
	b->lineno = malloc(sizeof(long) * b->cap);
	b->key = calloc(b->cap, sizeof(char *));
}

static void
batch_add(Batch *b, const char *line, size_t len, long lineno, const char *key, size_t keylen)
{
	if (b->n == b->cap)
	{
		b->cap *= 2;
		b->off = realloc(b->off, sizeof(size_t) * b->cap);
		b->len = realloc(b->len, sizeof(size_t) * b->cap);
		b->lineno = realloc(b->lineno, sizeof(long) * b->cap);
		b->key = realloc(b->key, sizeof(char *) * b->cap);
	}
	b->off[b->n] = b->raw.len;
	b->len[b->n] = len;
	b->lineno[b->n] = lineno;
	b->key[b->n] = key ? strndup(key, keylen) : NULL;
	buf_append(&b->raw, line, len);
	b->n++;
}

static void
batch_clear(Batch *b)
{
	for (int i = 0; i < b->n; i++)
		free(b->key[i]);
	b->n = 0;
	b->resends = 0;
	buf_reset(&b->raw);
}

static void
show_progress(Producer *p, bool force)
{
	double		now = now_seconds();

	if (p->quiet || !stderr_is_tty())
		return;
	if (!force && now - p->last_progress < PROGRESS_EVERY)
		return;
	p->last_progress = now;
	fprintf(stderr, "\r%ld %s, %.0f msg/s\033[K", p->sent,
			p->topic ? "published" : "sent",
			now > p->started ? p->sent / (now - p->started) : 0.0);
	p->progress_shown = true;
}

static void
clear_progress(Producer *p)
{
	if (p->progress_shown)
		fprintf(stderr, "\r\033[K");
	p->progress_shown = false;
}

static void
summary(Producer *p)
{
	double		secs = now_seconds() - p->started;

	clear_progress(p);
	if (p->quiet)
		return;
	fprintf(stderr, "%s: %s %ld %s%s to %s \"%s\" in %.2f s (%.0f msg/s)\n",
			progname, p->topic ? "published" : "sent", p->sent,
			p->topic ? "record" : "message", p->sent == 1 ? "" : "s",
			p->topic ? "topic" : "queue", p->target,
			secs, secs > 0 ? p->sent / secs : 0.0);
}

/*
 * Send lines [first, first + count) of the batch in one statement.
 * Returns the result; the caller checks it.
 */
static PGresult *
send_lines(Producer *p, Batch *b, int first, int count)
{
	Buf			payloads;
	Buf			keys;
	PGresult   *res;

	buf_init(&payloads);
	buf_init(&keys);
	buf_puts(&payloads, "{");
	buf_puts(&keys, "{");
	for (int i = first; i < first + count; i++)
	{
		const char *line = b->raw.data + b->off[i];

		if (i > first)
		{
			buf_puts(&payloads, ",");
			buf_puts(&keys, ",");
		}
		if (p->raw)
		{
			Buf			js;

			buf_init(&js);
			buf_json_string(&js, line, b->len[i]);
			buf_array_elem(&payloads, js.data, js.len);
			buf_free(&js);
		}
		else
			buf_array_elem(&payloads, line, b->len[i]);
		if (b->key[i])
			buf_array_elem(&keys, b->key[i], strlen(b->key[i]));
		else if (p->key)
			buf_array_elem(&keys, p->key, strlen(p->key));
		else
			buf_puts(&keys, "NULL");
	}
	buf_puts(&payloads, "}");
	buf_puts(&keys, "}");

	if (p->topic)
	{
		const char *values[5] = {p->target, payloads.data, keys.data,
		p->headers, p->partition};

		res = exec_params(p->conn,
						  "SELECT broker.publish_batch($1, $2::jsonb[], $3::text[], "
						  "coalesce($4::jsonb, '{}'), $5::int)",
						  5, values);
	}
	else
	{
		const char *values[7] = {p->target, payloads.data, p->headers,
		p->delay, p->priority, p->dedup_key, p->group_key};

		/* --dedup-key and --group-key: the same key for every line */
		res = exec_params(p->conn,
						  "SELECT count(*) FROM broker.send_batch($1, $2::jsonb[], "
						  "coalesce($3::jsonb, '{}'), coalesce($4::interval, '0'), "
						  "coalesce($5::int, 0), "
						  "CASE WHEN $6::text IS NOT NULL "
						  "THEN array_fill($6::text, ARRAY[cardinality($2::jsonb[])]) END, "
						  "CASE WHEN $7::text IS NOT NULL "
						  "THEN array_fill($7::text, ARRAY[cardinality($2::jsonb[])]) END)",
						  7, values);
	}
	buf_free(&payloads);
	buf_free(&keys);
	return res;
}

/*
 * Whether a failed statement may have failed on one of its lines rather
 * than on the whole: a line that is not JSON (or not UTF-8) is a data
 * exception (class 22), one over the size limit or with a key over the
 * key limit is 54000.  Anything else (a missing queue, a refusal) is the
 * same for every line.
 */
static bool
maybe_line_error(const PGresult *res)
{
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

	return state && (strncmp(state, "22", 2) == 0 || strcmp(state, "54000") == 0);
}

/*
 * Whether line i, which failed alone with res, is at fault: over a limit
 * (54000), or itself not JSON (with --raw: not text) as the server reads
 * it, and its key not text.  A data exception for a line the server reads
 * fine comes from elsewhere (a bad --headers, --delay or --priority).
 * Runs inside the savepoint of the line (the check may fail): *why is the
 * error to report, the check's own when it failed.
 */
static bool
line_at_fault(Producer *p, Batch *b, int i, PGresult *res, PGresult **why)
{
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	Buf			payload;
	const char *values[2];
	PGresult   *check;

	*why = res;
	if (strcmp(state, "54000") == 0)
		return true;
	buf_init(&payload);
	if (p->raw)
		buf_json_string(&payload, b->raw.data + b->off[i], b->len[i]);
	else
		buf_append(&payload, b->raw.data + b->off[i], b->len[i]);
	values[0] = payload.data;
	values[1] = b->key[i];
	check = exec_params(p->conn, "SELECT $1::jsonb, $2::text", 2, values);
	buf_free(&payload);
	if (exec_ok(check))
	{
		PQclear(check);
		return false;
	}
	if (PQstatus(p->conn) == CONNECTION_BAD)
	{
		PQclear(check);
		return false;
	}
	*why = check;
	return true;
}

/* name a line left out, and count it */
static void
report_bad_line(Producer *p, long lineno, const PGresult *why)
{
	const char *msg = PQresultErrorField(why, PG_DIAG_MESSAGE_PRIMARY);
	const char *detail = PQresultErrorField(why, PG_DIAG_MESSAGE_DETAIL);
	const char *state = PQresultErrorField(why, PG_DIAG_SQLSTATE);

	if (state && strcmp(state, "54000") == 0)
		fprintf(stderr, "%s: error: line %ld is too large: %s (SQLSTATE %s)\n",
				progname, lineno, msg ? msg : "", state);
	else
		fprintf(stderr, "%s: error: line %ld %s: %s%s%s (SQLSTATE %s)\n",
				progname, lineno, p->raw ? "could not be sent" : "is not valid JSON",
				msg ? msg : "", detail ? ": " : "", detail ? detail : "",
				state ? state : "?????");
	if (p->nbad < BAD_LISTED)
		p->bad[p->nbad] = lineno;
	p->nbad++;
}

/*
 * Send lines [first, first + count) of the batch inside the transaction
 * of send_good_lines, under a savepoint; when they fail on what may be a
 * line's error, try each half in turn, down to single lines, and leave out
 * (and name) a single line at fault.  tried: the range just failed whole,
 * go straight to its halves.  *sent counts the lines sent.  Returns 0, or
 * the exit code of a failure that is not a line's own, reported.
 */
static int
send_range(Producer *p, Batch *b, int first, int count, bool tried, int *sent)
{
	PGresult   *res;
	PGresult   *why;
	int			half = count / 2;
	int			rc;

	if (!tried || count == 1)
	{
		if (!exec_command(p->conn, "SAVEPOINT line"))
			return result_exit_code(p->conn);
		res = send_lines(p, b, first, count);
		if (exec_ok(res))
		{
			PQclear(res);
			*sent += count;
			return exec_command(p->conn, "RELEASE SAVEPOINT line") ? 0 : result_exit_code(p->conn);
		}
		if (PQstatus(p->conn) == CONNECTION_BAD || !maybe_line_error(res))
		{
			report_error(p->conn, res, NULL);
			PQclear(res);
			return result_exit_code(p->conn);
		}
		if (!exec_command(p->conn, "ROLLBACK TO SAVEPOINT line"))
		{
			PQclear(res);
			return result_exit_code(p->conn);
		}
		if (count == 1)
		{
			if (!line_at_fault(p, b, first, res, &why))
			{
				report_error(p->conn, res, NULL);
				PQclear(res);
				return result_exit_code(p->conn);
			}
			report_bad_line(p, b->lineno[first], why);
			if (why != res)
				PQclear(why);
			PQclear(res);
			/* undo the check, which may have failed, and leave the line out */
			return exec_command(p->conn, "ROLLBACK TO SAVEPOINT line") &&
				exec_command(p->conn, "RELEASE SAVEPOINT line") ? 0 : result_exit_code(p->conn);
		}
		PQclear(res);
		if (!exec_command(p->conn, "RELEASE SAVEPOINT line"))
			return result_exit_code(p->conn);
	}
	rc = send_range(p, b, first, half, false, sent);
	if (rc == 0)
		rc = send_range(p, b, first + half, count - half, false, sent);
	return rc;
}

/*
 * The batch failed on what may be bad lines: send it again in one
 * transaction, halving it (send_range) so that every good line is sent,
 * in order, and every bad one is named and left out, at about two
 * statements per halving for each bad line.  A failure that is not a
 * line's own rolls the whole batch back.  Returns 0 or the exit code.
 */
static int
send_good_lines(Producer *p, Batch *b)
{
	int			sent = 0;
	int			rc;
	PGresult   *res;
	bool		committing = false;

	if (!exec_command(p->conn, "BEGIN"))
		rc = result_exit_code(p->conn);
	else
		rc = send_range(p, b, 0, b->n, true, &sent);
	if (rc == 0)
	{
		committing = true;
		res = PQexec(p->conn, "COMMIT");
		if (!exec_ok(res))
		{
			report_error(p->conn, res, NULL);
			rc = result_exit_code(p->conn);
		}
		PQclear(res);
	}
	if (rc == 0)
	{
		p->sent += sent;
		return 0;
	}
	if (PQstatus(p->conn) == CONNECTION_BAD)
		fprintf(stderr, "%s: %ld message%s sent before the connection was lost; "
				"the batch of lines %ld to %ld %s\n",
				progname, p->sent, p->sent == 1 ? "" : "s",
				b->lineno[0], b->lineno[b->n - 1],
				committing ? "may or may not have been sent" : "was not sent");
	else
	{
		PQclear(PQexec(p->conn, "ROLLBACK"));
		fprintf(stderr, "%s: %ld message%s sent; lines from %ld on were not sent\n",
				progname, p->sent, p->sent == 1 ? "" : "s", b->lineno[0]);
	}
	return rc;
}

/* send the batch; on failure report and return the exit code, else 0 */
static int
flush_batch(Producer *p, Batch *b)
{
	PGresult   *res;
	int			rc;

	if (b->n == 0)
		return 0;
	res = send_lines(p, b, 0, b->n);
	if (exec_ok(res))
	{
		p->sent += b->n;
		PQclear(res);
		batch_clear(b);
		show_progress(p, false);
		return 0;
	}

	clear_progress(p);
	if (may_reconnect(p->conn) && b->resends < MAX_RESENDS)
	{
		/*
		 * The batch's transaction may have committed before the
		 * connection broke: sent again, its lines may be there twice
		 * (with --dedup-key, not while the queue's dedup window holds the
		 * key).  A batch that loses the connection MAX_RESENDS times
		 * (one that brings its server down?) ends the command.
		 */
		PQclear(res);
		b->resends++;
		errorf("the batch of lines %ld to %ld may or may not have been sent: sending it again",
			   b->lineno[0], b->lineno[b->n - 1]);
		if ((p->conn = reconnect_db(p->conn)) == NULL)
			return EXIT_CONNECTION;
		return flush_batch(p, b);
	}
	if (PQstatus(p->conn) == CONNECTION_BAD)
	{
		report_error(p->conn, res, NULL);
		PQclear(res);
		fprintf(stderr, "%s: %ld message%s sent before the connection was lost; "
				"the batch of lines %ld to %ld may or may not have been sent\n",
				progname, p->sent, p->sent == 1 ? "" : "s",
				b->lineno[0], b->lineno[b->n - 1]);
		return EXIT_CONNECTION;
	}
	if (maybe_line_error(res))
	{
		PQclear(res);
		rc = send_good_lines(p, b);
		if (rc == 0)
			batch_clear(b);
		return rc;
	}
	report_error(p->conn, res, NULL);
	PQclear(res);
	fprintf(stderr, "%s: %ld message%s sent; lines from %ld on were not sent\n",
			progname, p->sent, p->sent == 1 ? "" : "s", b->lineno[0]);
	return EXIT_SERVER;
}

/* the lines left out, when there were any: named, and the exit status is 3 */
static int
report_bad_lines(Producer *p, int rc)
{
	if (p->nbad == 0)
		return rc;
	fprintf(stderr, "%s: %ld line%s not sent: line%s", progname, p->nbad,
			p->nbad == 1 ? " was" : "s were", p->nbad == 1 ? "" : "s");
	for (long i = 0; i < p->nbad && i < BAD_LISTED; i++)
		fprintf(stderr, "%s %ld", i > 0 ? "," : "", p->bad[i]);
	fprintf(stderr, "%s\n", p->nbad > BAD_LISTED ? ", ..." : "");
	return rc != 0 ? rc : EXIT_SERVER;
}

static int
produce(Producer *p)
{
	LineReader	r;
	Batch		b;
	int			rc = 0;

	p->conn = connect_db();
	reader_init(&r, STDIN_FILENO);
	batch_init(&b);
	p->started = p->last_progress = now_seconds();

	for (;;)
	{
		const char *line;
		size_t		len;
		int			got = read_line(&r, b.n > 0 ? FLUSH_IDLE_MS : 500, &line, &len);

		if (got == 1)
		{
			const char *key = NULL;
			size_t		keylen = 0;

			if (len == 0)
				continue;
			if (p->dedup_key && b.n > 0)
			{
				/* nothing was sent: the first line waits for the end of input */
				clear_progress(p);
				errorf("error: --dedup-key sends one message, and line %ld is a second one: "
					   "nothing was sent", r.lineno);
				rc = EXIT_USAGE;
				batch_clear(&b);
				break;
			}
			if (p->key_sep)
			{
				size_t		seplen = strlen(p->key_sep);

				for (size_t i = 0; i + seplen <= len; i++)
				{
					if (memcmp(line + i, p->key_sep, seplen) == 0)
					{
						key = line;
						keylen = i;
						line += i + seplen;
						len -= i + seplen;
						break;
					}
				}
			}
			batch_add(&b, line, len, r.lineno, key, keylen);
			if (b.n >= p->batch_size && !p->dedup_key && (rc = flush_batch(p, &b)) != 0)
				break;
			continue;
		}
		/* with --dedup-key the one line waits for the end of input (above) */
		if (got == 0 && p->dedup_key && !interrupted)
			continue;
		/* quiet input, a signal, or the end: send what we have */
		if ((rc = flush_batch(p, &b)) != 0)
			break;
		if (got < 0 || interrupted)
			break;
		show_progress(p, false);
	}
	if (rc == 0)
		summary(p);
	else
		clear_progress(p);
	rc = report_bad_lines(p, rc);
	PQfinish(p->conn);
	return rc;
}

static int
produce_command(int argc, char **argv, bool topic)
{
	static struct option opts[] = {
		CONN_LONG_OPTIONS,
		{"raw", no_argument, NULL, 'r'},
		{"batch", required_argument, NULL, 'b'},
		{"headers", required_argument, NULL, 'H'},
		{"delay", required_argument, NULL, 'D'},
		{"priority", required_argument, NULL, 'I'},
		{"dedup-key", required_argument, NULL, 'E'},
		{"group-key", required_argument, NULL, 'G'},
		{"key", required_argument, NULL, 'k'},
		{"key-separator", required_argument, NULL, 'K'},
		{"partition", required_argument, NULL, 'P'},
		{"quiet", no_argument, NULL, 'q'},
		{"reconnect", no_argument, NULL, 'X'},
		{NULL, 0, NULL, 0}
	};
	Producer	p;
	int			c;
	long		v;
	const char *cmd = topic ? "publish" : "send";

	memset(&p, 0, sizeof(p));
	p.cmd = cmd;
	p.topic = topic;
	p.batch_size = 500;
	while ((c = getopt_long(argc, argv, CONN_SHORT_OPTIONS "q", opts, NULL)) != -1)
	{
		switch (c)
		{
			case 'd':
			case 'h':
			case 'p':
			case 'U':
				set_connection_option(c, optarg);
				break;
			case 'r':
				p.raw = true;
				break;
			case 'b':
				if (!parse_int(optarg, 1, 100000, &v))
					fatal_usage(cmd, "--batch must be an integer from 1 to 100000");
				p.batch_size = (int) v;
				break;
			case 'H':
				p.headers = optarg;
				break;
			case 'X':
				reconnect_requested = true;
				break;
			case 'q':
				p.quiet = true;
				break;
			case 'D':
				if (topic)
					fatal_usage(cmd, "--delay applies to queues only");
				p.delay = optarg;
				break;
			case 'I':
				if (topic)
					fatal_usage(cmd, "--priority applies to queues only");
				p.priority = optarg;
				break;
			case 'E':
				if (topic)
					fatal_usage(cmd, "--dedup-key applies to queues only");
				p.dedup_key = optarg;
				break;
			case 'G':
				if (topic)
					fatal_usage(cmd, "--group-key applies to queues only");
				p.group_key = optarg;
				break;
			case 'k':
				if (!topic)
					fatal_usage(cmd, "--key applies to topics only");
				p.key = optarg;
				break;
			case 'K':
				if (!topic)
					fatal_usage(cmd, "--key-separator applies to topics only");
				if (optarg[0] == '\0')
					fatal_usage(cmd, "--key-separator must not be empty");
				p.key_sep = optarg;
				break;
			case 'P':
				if (!topic)
					fatal_usage(cmd, "--partition applies to topics only");
				p.partition = optarg;
				break;
			default:
				fatal_usage(cmd, "invalid option");
		}
	}
	if (optind >= argc)
		fatal_usage(cmd, "missing %s name", topic ? "topic" : "queue");
	if (optind < argc - 1)
		fatal_usage(cmd, "too many arguments");
	if (p.key && p.key_sep)
		fatal_usage(cmd, "--key and --key-separator cannot be used together");
	p.target = argv[optind];
	return produce(&p);
}

int
cmd_send(int argc, char **argv)
{
	return produce_command(argc, argv, false);
}

int
cmd_publish(int argc, char **argv)
{
	return produce_command(argc, argv, true);
}
