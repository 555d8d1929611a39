/*
 * consume.c - pgbroker consume (a queue) and pgbroker tail (a topic, as a
 * consumer group): print what arrives as JSON lines, then acknowledge.
 *
 * The order is always claim, print, flush, acknowledge, so that a message
 * is acknowledged only after it reached standard output.  Without --follow
 * the three steps are one transaction: a failure anywhere (a closed pipe,
 * a lost connection, a kill) rolls the claim back and the message stays in
 * the queue, the records stay unread by the group.  With --follow the wait
 * must not hold a snapshot for minutes, so it uses the procedures
 * broker.claim_wait and broker.poll_wait, which commit as they go: the
 * messages come leased, and a message printed but not acknowledged
 * (a kill between the two) comes back when its lease ends, at least once.
 *
 * Ctrl-C cancels a wait in the server at once; between claiming and
 * acknowledging it only sets a flag, so the messages in hand are printed
 * and acknowledged before the tool stops.
 *
 * Where tail starts: --from places a group that does not exist yet
 * (Kafka's auto.offset.reset) and leaves one that exists where its
 * committed offsets are, so that running the same tail --from earliest
 * again reads only what is new; --reset-to moves the group on purpose
 * (broker.seek) and says what it moved.
 *
 * pgbroker reset-group moves a group the same way (move_group, with
 * --partition and --dry-run) without reading; pgbroker delete-group is
 * broker.delete_group.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

#define FOLLOW_WAIT		"1 hour"	/* one server-side wait of --follow */

/*
 * The JSON line of a message m (broker.message): row_to_json keeps the
 * column order and prints compact JSON.  A binary payload (payload_bytes)
 * is printed in base64, flagged.  (RECORD_JSON, for records, is in cli.h.)
 */
#define MESSAGE_JSON \
	"CASE WHEN $%d THEN coalesce(m.payload::text, to_json(encode(m.payload_bytes, 'base64'))::text) " \
	"ELSE (SELECT row_to_json(x)::text FROM (SELECT m.id, m.attempt, m.priority, m.enqueued_at, " \
	"m.group_key, m.dedup_key, m.headers, " \
	"coalesce(m.payload, to_jsonb(encode(m.payload_bytes, 'base64'))) AS payload, " \
	"m.payload_bytes IS NOT NULL AS payload_is_base64) x) END"


typedef struct Consumer
{
	const char *cmd;
	const char *source;			/* queue or topic */
	const char *group;
	const char *from;			/* --from: where a new group starts */
	const char *reset_to;		/* --reset-to: where to move the group */
	const char *consumer;
	const char *lease;
	const char *wait;
	const char *filter;
	bool		follow;
	bool		payload_only;
	long		max;			/* 0: no limit */
	int			batch;
	long		done;			/* messages printed and acknowledged */
	PGconn	   *conn;
} Consumer;

/* a failed statement: report it and return the exit code */
static int
fail(Consumer *c, PGresult *res, const char *what)
{
	int			rc;

	if (interrupted && res && PQresultErrorField(res, PG_DIAG_SQLSTATE) &&
		strcmp(PQresultErrorField(res, PG_DIAG_SQLSTATE), "57014") == 0)
	{
		PQclear(res);
		return EXIT_OK;			/* our own cancel: a clean stop */
	}
	report_error(c->conn, res, what);
	rc = result_exit_code(c->conn);
	PQclear(res);
	return rc;
}

/*
 * Print column `col` of every row of res, one per line, and flush.  False
 * when standard output is gone (a closed pipe): the caller must not
 * acknowledge.
 */
static bool
print_lines(const PGresult *res, int col)
{
	for (int i = 0; i < PQntuples(res); i++)
	{
		const char *s = PQgetvalue(res, i, col);

		if (!write_all(stdout, s, strlen(s)) || !write_all(stdout, "\n", 1))
			return false;
	}
	return fflush(stdout) == 0 && !ferror(stdout);
}

static int
batch_size(Consumer *c)
{
	if (c->max > 0 && c->max - c->done < c->batch)
		return (int) (c->max - c->done);
	return c->batch;
}

/*
 * Standard output failed: a reader that went away (EPIPE) is a normal way
 * to stop; anything else is reported.  Nothing unprinted is acknowledged.
 */
static void
output_gone(void)
{
	if (errno != EPIPE)
		errorf("error: could not write to standard output: %s", strerror(errno));
}

/* consume without --follow: claim, print and ack in one transaction */
static int
consume_once(Consumer *c)
{
	char		sql[2048];
	char		n[16];
	const char *po = c->payload_only ? "true" : "false";

	snprintf(sql, sizeof(sql),
			 "SELECT m.id, " MESSAGE_JSON " FROM broker.claim($1, $2::int, NULL, "
			 "coalesce($3::interval, '0'), $4::jsonb) m", 5);
	while (!interrupted && (c->max == 0 || c->done < c->max))
	{
		const char *values[5];
		PGresult   *res;
		Buf			ids;
		int			rows;

		if (!exec_command(c->conn, "BEGIN"))
			return result_exit_code(c->conn);
		snprintf(n, sizeof(n), "%d", batch_size(c));
		values[0] = c->source;
		values[1] = n;
		values[2] = c->wait;
		values[3] = c->filter;
		values[4] = po;
		if (c->wait)
			set_cancel_target(c->conn);
		res = exec_params(c->conn, sql, 5, values);
		set_cancel_target(NULL);
		if (!exec_ok(res))
			return fail(c, res, NULL);
		rows = PQntuples(res);
		if (rows == 0)
		{
			PQclear(res);
			return exec_command(c->conn, "COMMIT") ? EXIT_OK : result_exit_code(c->conn);
		}
		if (!print_lines(res, 1))
		{
			PQclear(res);
			exec_command(c->conn, "ROLLBACK");
			output_gone();
			return EXIT_OK;
		}
		buf_init(&ids);
		buf_puts(&ids, "{");
		for (int i = 0; i < rows; i++)
			buf_printf(&ids, "%s%s", i ? "," : "", PQgetvalue(res, i, 0));
		buf_puts(&ids, "}");
		PQclear(res);
		values[1] = ids.data;
		res = exec_params(c->conn, "SELECT broker.ack($1, $2::bigint[])", 2, values);
		buf_free(&ids);
		if (!exec_ok(res))
			return fail(c, res, "acknowledging printed messages");
		PQclear(res);
		res = PQexec(c->conn, "COMMIT");
		if (!exec_ok(res))
			return fail(c, res, "committing the acknowledgement of printed messages");
		PQclear(res);
		c->done += rows;
	}
	return EXIT_OK;
}

/*
 * Run a wait procedure (sql, a CALL) with Ctrl-C armed to cancel it.
 * Returns EXIT_OK and in *array the array it returned (the caller frees
 * it; NULL when it returned nothing), or the exit code of a failure.
 */
static int
call_wait(Consumer *c, const char *sql, int nparams, const char *const *values,
		  char **array)
{
	PGresult   *res;

	*array = NULL;
	set_cancel_target(c->conn);
	res = exec_params(c->conn, sql, nparams, values);
	set_cancel_target(NULL);
	if (!exec_ok(res))
		return fail(c, res, NULL);
	if (PQntuples(res) == 1 && PQnfields(res) == 1 && !PQgetisnull(res, 0, 0) &&
		strcmp(PQgetvalue(res, 0, 0), "{}") != 0)
		*array = strdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	return EXIT_OK;
}

/*
 * Print the JSON lines of the messages or records in array (sql turns
 * the array, $1, into one line per element in its first column; $2 is
 * --payload).  False with *rc set when the tool must stop: an error, or
 * standard output gone (then nothing is acknowledged: leased messages
 * come back when their lease ends).
 */
static bool
print_array(Consumer *c, const char *sql, const char *array, int *rc)
{
	const char *values[2] = {array, c->payload_only ? "true" : "false"};
	PGresult   *res = exec_params(c->conn, sql, 2, values);

	if (!exec_ok(res))
	{
		*rc = fail(c, res, NULL);
		return false;
	}
	if (!print_lines(res, 0))
	{
		PQclear(res);
		output_gone();
		*rc = EXIT_OK;
		return false;
	}
	c->done += PQntuples(res);
	PQclear(res);
	return true;
}

/* tail without --follow: poll, print and commit in one transaction */
static int
tail_once(Consumer *c)
{
	char		sql[2048];
	const char *po = c->payload_only ? "true" : "false";

	snprintf(sql, sizeof(sql),
			 "SELECT " RECORD_JSON " FROM broker.poll($1, $2, $3::int) r", 4);
	while (!interrupted && (c->max == 0 || c->done < c->max))
	{
		char		n[16];
		const char *values[4];
		PGresult   *res;
		int			rows;

		if (!exec_command(c->conn, "BEGIN"))
			return result_exit_code(c->conn);
		snprintf(n, sizeof(n), "%d", batch_size(c));
		values[0] = c->source;
		values[1] = c->group;
		values[2] = n;
		values[3] = po;
		res = exec_params(c->conn, sql, 4, values);
		if (!exec_ok(res))
			return fail(c, res, NULL);
		rows = PQntuples(res);
		if (rows > 0 && !print_lines(res, 0))
		{
			PQclear(res);
			exec_command(c->conn, "ROLLBACK");
			output_gone();
			return EXIT_OK;
		}
		PQclear(res);
		res = PQexec(c->conn, "COMMIT");
		if (!exec_ok(res))
			return fail(c, res, "committing the group's offsets");
		PQclear(res);
		if (rows == 0)
			break;
		c->done += rows;
	}
	return EXIT_OK;
}

/*
 * What --follow does with a queue or a topic: the wait procedure and its
 * parameters, the JSON lines of what it returned, and how the printed
 * messages or records are settled.
 */
typedef struct Follow
{
	const char *wait_sql;		/* CALL of the wait procedure */
	int			(*wait_params) (Consumer *c, const char *n, const char **values);
	const char *print_format;	/* print_array's sql; %d: --payload's number */
	bool		(*settle) (Consumer *c, const char *array, int *rc);
} Follow;

/*
 * The --follow loop: wait in the server (the procedure commits as it
 * goes), print what came, settle it; until --max, Ctrl-C, or an error.
 */
static int
follow(Consumer *c, const Follow *f)
{
	char		sql[2048];

	snprintf(sql, sizeof(sql), f->print_format, 2);
	while (!interrupted && (c->max == 0 || c->done < c->max))
	{
		char		n[16];
		const char *values[5];
		int			nvalues;
		char	   *array;
		int			rc;

		snprintf(n, sizeof(n), "%d", batch_size(c));
		nvalues = f->wait_params(c, n, values);
		rc = call_wait(c, f->wait_sql, nvalues, values, &array);
		if (rc == EXIT_CONNECTION && may_reconnect(c->conn))
		{
			/* nothing was printed: what the lost call took comes again */
			if ((c->conn = reconnect_db(c->conn)) == NULL)
				return EXIT_CONNECTION;
			continue;
		}
		if (rc != EXIT_OK)
			return rc;
		if (array == NULL)
			continue;
		if (!print_array(c, sql, array, &rc) || !f->settle(c, array, &rc))
		{
			free(array);
			if (rc == EXIT_CONNECTION && may_reconnect(c->conn))
			{
				errorf("what was printed but not %s will be delivered again",
					   c->group ? "committed" : "acknowledged");
				if ((c->conn = reconnect_db(c->conn)) == NULL)
					return EXIT_CONNECTION;
				continue;
			}
			return rc;
		}
		free(array);
	}
	return EXIT_OK;
}

/* consume --follow: CALL broker.claim_wait, print, ack with the receipts */
static int
claim_wait_params(Consumer *c, const char *n, const char **values)
{
	values[0] = c->source;
	values[1] = n;
	values[2] = c->lease;
	values[3] = c->filter;
	return 4;
}

static bool
ack_printed(Consumer *c, const char *array, int *rc)
{
	const char *values[2] = {c->source, array};
	PGresult   *res;
	long		acked;

	res = exec_params(c->conn,
					  "SELECT count(*) FILTER (WHERE broker.ack($1, m.id, m.receipt)), count(*) "
					  "FROM unnest($2::broker.message[]) m", 2, values);
	if (!exec_ok(res))
	{
		*rc = fail(c, res, "acknowledging printed messages");
		return false;
	}
	acked = atol(PQgetvalue(res, 0, 0));
	if (acked < atol(PQgetvalue(res, 0, 1)))
		errorf("warning: %ld printed message%s could not be acknowledged "
			   "(lease ended and claimed again): they will be delivered again",
			   atol(PQgetvalue(res, 0, 1)) - acked,
			   atol(PQgetvalue(res, 0, 1)) - acked == 1 ? "" : "s");
	PQclear(res);
	return true;
}

static const Follow consume_follow = {
	"CALL broker.claim_wait($1, $2::int, $3::interval, '" FOLLOW_WAIT "', $4::jsonb, NULL)",
	claim_wait_params,
	"SELECT " MESSAGE_JSON " FROM unnest($1::broker.message[]) m",
	ack_printed
};

/* tail --follow: CALL broker.poll_wait, print, commit the records */
static int
poll_wait_params(Consumer *c, const char *n, const char **values)
{
	values[0] = c->source;
	values[1] = c->group;
	values[2] = n;
	values[3] = c->consumer;
	values[4] = c->lease;
	return 5;
}

static bool
commit_printed(Consumer *c, const char *array, int *rc)
{
	const char *values[4] = {c->source, c->group, array, c->consumer};
	PGresult   *res;

	res = exec_params(c->conn,
					  "SELECT broker.commit($1, $2, $3::broker.record[], $4)", 4, values);
	if (!exec_ok(res))
	{
		/* fenced: the partition went to another consumer, which reads on */
		report_error(c->conn, res, "committing printed records");
		if (PQstatus(c->conn) == CONNECTION_BAD)
		{
			PQclear(res);
			*rc = EXIT_CONNECTION;
			return false;
		}
		errorf("warning: those records will be delivered again");
	}
	PQclear(res);
	return true;
}

static const Follow tail_follow = {
	"CALL broker.poll_wait($1, $2, $3::int, '" FOLLOW_WAIT "', $4, $5::interval, NULL)",
	poll_wait_params,
	"SELECT " RECORD_JSON " FROM unnest($1::broker.record[]) r",
	commit_printed
};

/* what --from and --reset-to name: earliest or latest, an offset, a time */
typedef enum Position
{
	POSITION_NAMED,
	POSITION_OFFSET,
	POSITION_TIME
} Position;

/*
 * The call of broker.seek that moves a group to each kind of position, $3
 * the position: the text form for earliest and latest, the bigint form for
 * an offset, the timestamptz form for a time (which the server reads, and
 * refuses as timestamptz does); $4 the partition (NULL: every one).
 */
static const char *const seek_sql[] = {
	[POSITION_NAMED] = "SELECT broker.seek($1, $2, $3::text, $4::int)",
	[POSITION_OFFSET] = "SELECT broker.seek($1, $2, $3::bigint, $4::int)",
	[POSITION_TIME] = "SELECT broker.seek($1, $2, $3::timestamptz, $4::int)"
};

/* earliest or latest; digits are an offset; anything else a time */
static Position
position_kind(const char *s)
{
	if (strcmp(s, "earliest") == 0 || strcmp(s, "latest") == 0)
		return POSITION_NAMED;
	if (s[0] != '\0' && strspn(s, "0123456789") == strlen(s))
		return POSITION_OFFSET;
	return POSITION_TIME;
}

/*
 * --from: create the group at the position if it does not exist; leave a
 * group that exists alone (its committed offsets are where it reads on;
 * a new group's start counts as committed).  broker.create_group refuses
 * a group that exists with 42710, which is how this tells; an offset or a
 * time is create_group at latest and then a seek, in one transaction.  A
 * time is read by the server first, so that it is checked either way.
 */
static int
start_group(Consumer *c)
{
	const char *values[3] = {c->source, c->group, c->from};
	Position	kind = position_kind(c->from);
	bool		named = kind == POSITION_NAMED;
	PGresult   *res;
	const char *state;

	if (!exec_command(c->conn, "BEGIN"))
		return result_exit_code(c->conn);
	if (kind == POSITION_TIME)
	{
		res = exec_params(c->conn, "SELECT $1::timestamptz", 1, values + 2);
		if (!exec_ok(res))
			return fail(c, res, "reading the time of --from");
		PQclear(res);
	}
	res = exec_params(c->conn, named ? "SELECT broker.create_group($1, $2, $3)" :
					  "SELECT broker.create_group($1, $2, 'latest')",
					  named ? 3 : 2, values);
	state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	if (!exec_ok(res) && state && strcmp(state, "42710") == 0)
	{
		PQclear(res);
		if (!exec_command(c->conn, "ROLLBACK"))
			return result_exit_code(c->conn);
		if (stderr_is_tty())
			errorf("note: consumer group \"%s\" of topic \"%s\" exists: it reads on from "
				   "its committed offsets (--from places a new group; --reset-to moves one)",
				   c->group, c->source);
		return EXIT_OK;
	}
	if (!exec_ok(res))
		return fail(c, res, NULL);
	PQclear(res);
	if (!named)
	{
		const char *seek_values[4] = {c->source, c->group, c->from, NULL};

		res = exec_params(c->conn, seek_sql[kind], 4, seek_values);
		if (!exec_ok(res))
			return fail(c, res, NULL);
		PQclear(res);
	}
	res = PQexec(c->conn, "COMMIT");
	if (!exec_ok(res))
		return fail(c, res, "creating the consumer group");
	PQclear(res);
	return EXIT_OK;
}

/*
 * Move a consumer group to a position (tail --reset-to, reset-group) with
 * broker.reset_group, which creates a group that does not exist (partition
 * NULL: every partition) and, with dry_run, moves nothing.  Prints to out
 * (with errorf's "pgbroker: " prefix when out is stderr), per partition,
 * the offset before and after.  A role that may not see the topic's
 * groups (no browse privilege on it) is told that the offsets are not
 * shown.  Returns an exit code.
 */
static int
move_group(PGconn *conn, const char *topic, const char *group, const char *position,
		   const char *partition, bool dry_run, FILE *out)
{
	const char *values[5] = {topic, group, position, partition, dry_run ? "true" : "false"};
	PGresult   *res;
	int			rc;

	res = exec_params(conn,
					  "SELECT partition_id, old_offset, new_offset"
					  " FROM broker.reset_group($1, $2, $3, $4::int, $5::boolean)",
					  5, values);
	if (!exec_ok(res))
	{
		report_error(conn, res, "moving the consumer group");
		rc = result_exit_code(conn);
		PQclear(res);
		return rc;
	}
	fprintf(out, "%s%s consumer group \"%s\" of topic \"%s\" to %s%s%s%s%s\n",
			out == stderr ? "pgbroker: " : "", dry_run ? "would reset" : "reset",
			group, topic, position, partition ? " (partition " : "",
			partition ? partition : "", partition ? ")" : "",
			PQntuples(res) > 0 ? ":" : "");
	if (PQntuples(res) == 0)
		fprintf(out, "  (the committed offsets are not shown: reading them needs the "
				"browse privilege on topic \"%s\")\n", topic);
	for (int i = 0; i < PQntuples(res); i++)
		fprintf(out, "  partition %s: %s -> %s\n", PQgetvalue(res, i, 0),
				PQgetisnull(res, i, 1) ? "(new group)" : PQgetvalue(res, i, 1),
				PQgetvalue(res, i, 2));
	PQclear(res);
	return EXIT_OK;
}

static int
consume_command(int argc, char **argv, bool topic)
{
	static struct option opts[] = {
		CONN_LONG_OPTIONS,
		{"follow", no_argument, NULL, 'f'},
		{"max", required_argument, NULL, 'n'},
		{"batch", required_argument, NULL, 'b'},
		{"wait", required_argument, NULL, 'w'},
		{"lease", required_argument, NULL, 'l'},
		{"filter", required_argument, NULL, 'F'},
		{"payload", no_argument, NULL, 'P'},
		{"group", required_argument, NULL, 'g'},
		{"from", required_argument, NULL, 'r'},
		{"reset-to", required_argument, NULL, 'R'},
		{"consumer", required_argument, NULL, 'c'},
		{"reconnect", no_argument, NULL, 'X'},
		{NULL, 0, NULL, 0}
	};
	const char *cmd = topic ? "tail" : "consume";
	Consumer	c;
	int			opt;
	long		v;
	int			rc;
	char		name[300];

	memset(&c, 0, sizeof(c));
	c.cmd = cmd;
	c.batch = 100;
	while ((opt = getopt_long(argc, argv,
							  topic ? CONN_SHORT_OPTIONS "fn:g:" : CONN_SHORT_OPTIONS "fn:",
							  opts, NULL)) != -1)
	{
		switch (opt)
		{
			case 'd':
			case 'h':
			case 'p':
			case 'U':
				set_connection_option(opt, optarg);
				break;
			case 'f':
				c.follow = true;
				break;
			case 'n':
				if (!parse_int(optarg, 1, 1000000000000L, &v))
					fatal_usage(cmd, "--max must be a positive integer");
				c.max = v;
				break;
			case 'b':
				if (!parse_int(optarg, 1, 10000, &v))
					fatal_usage(cmd, "--batch must be an integer from 1 to 10000");
				c.batch = (int) v;
				break;
			case 'w':
				if (topic)
					fatal_usage(cmd, "--wait applies to queues only (use --follow)");
				c.wait = optarg;
				break;
			case 'l':
				c.lease = optarg;
				break;
			case 'F':
				if (topic)
					fatal_usage(cmd, "--filter applies to queues only");
				c.filter = optarg;
				break;
			case 'P':
				c.payload_only = true;
				break;
			case 'g':
				if (!topic)
					fatal_usage(cmd, "--group applies to topics only");
				c.group = optarg;
				break;
			case 'r':
				if (!topic)
					fatal_usage(cmd, "--from applies to topics only");
				c.from = optarg;
				break;
			case 'R':
				if (!topic)
					fatal_usage(cmd, "--reset-to applies to topics only");
				c.reset_to = optarg;
				break;
			case 'c':
				if (!topic)
					fatal_usage(cmd, "--consumer applies to topics only");
				c.consumer = optarg;
				break;
			case 'X':
				reconnect_requested = true;
				break;
			default:
				fatal_usage(cmd, "invalid option");
		}
	}
	if (optind >= argc)
		fatal_usage(cmd, topic ? "missing topic name" : "missing queue name");
	if (optind < argc - 1)
		fatal_usage(cmd, "too many arguments");
	c.source = argv[optind];
	if (topic && c.group == NULL)
		fatal_usage(cmd, "--group is required");
	if (c.follow && c.wait)
		fatal_usage(cmd, "--wait and --follow cannot be used together");
	if (c.from && c.reset_to)
		fatal_usage(cmd, "--from and --reset-to cannot be used together "
					"(--reset-to also places a new group)");
	if (!c.follow && (c.lease || c.consumer))
		fatal_usage(cmd, "--lease and --consumer apply with --follow only");
	if (topic && c.follow)
	{
		if (c.consumer == NULL)
		{
			char		host[256];

			if (gethostname(host, sizeof(host)) != 0)
				strcpy(host, "localhost");
			host[sizeof(host) - 1] = '\0';
			snprintf(name, sizeof(name), "pgbroker-%s-%d", host, (int) getpid());
			c.consumer = name;
		}
		if (c.lease == NULL)
			c.lease = "30 seconds";
	}

	c.conn = connect_db();
	rc = EXIT_OK;
	if (c.from)
		rc = start_group(&c);
	else if (c.reset_to)
		rc = move_group(c.conn, c.source, c.group, c.reset_to, NULL, false, stderr);
	if (rc != EXIT_OK)
	{
		PQfinish(c.conn);
		return rc;
	}
	if (topic && c.follow)
	{
		rc = follow(&c, &tail_follow);
		/* give the partitions back rather than make the group wait out the lease */
		if (PQstatus(c.conn) == CONNECTION_OK)
		{
			const char *values[3] = {c.source, c.group, c.consumer};

			PQclear(exec_params(c.conn, "SELECT broker.leave($1, $2, $3)", 3, values));
		}
	}
	else if (topic)
		rc = tail_once(&c);
	else
		rc = c.follow ? follow(&c, &consume_follow) : consume_once(&c);
	PQfinish(c.conn);
	return rc;
}

int
cmd_consume(int argc, char **argv)
{
	return consume_command(argc, argv, false);
}

int
cmd_tail(int argc, char **argv)
{
	return consume_command(argc, argv, true);
}

/*
 * reset-group TOPIC GROUP --to POSITION [--partition P] [--dry-run]: what
 * tail --reset-to does before reading (move_group), on its own, printed on
 * standard output.  --dry-run moves the group in a transaction that is
 * rolled back, so that the offsets shown are where broker.seek would put
 * it, and nothing moved.
 */
int
cmd_reset_group(int argc, char **argv)
{
	static struct option opts[] = {
		CONN_LONG_OPTIONS,
		{"to", required_argument, NULL, 't'},
		{"partition", required_argument, NULL, 'P'},
		{"dry-run", no_argument, NULL, 'n'},
		{NULL, 0, NULL, 0}
	};
	const char *to = NULL;
	const char *partition = NULL;
	bool		dry_run = false;
	int			c;
	long		v;
	PGconn	   *conn;
	int			rc;

	while ((c = getopt_long(argc, argv, CONN_SHORT_OPTIONS, opts, NULL)) != -1)
	{
		switch (c)
		{
			case 'd':
			case 'h':
			case 'p':
			case 'U':
				set_connection_option(c, optarg);
				break;
			case 't':
				to = optarg;
				break;
			case 'P':
				if (!parse_int(optarg, 0, 1000000, &v))
					fatal_usage("reset-group", "--partition must be a partition number");
				partition = optarg;
				break;
			case 'n':
				dry_run = true;
				break;
			default:
				fatal_usage("reset-group", "invalid option");
		}
	}
	if (optind + 1 >= argc)
		fatal_usage("reset-group", optind >= argc ? "missing topic name" : "missing group name");
	if (optind + 2 < argc)
		fatal_usage("reset-group", "too many arguments");
	if (to == NULL)
		fatal_usage("reset-group", "--to is required (earliest, latest, an offset or a time)");
	conn = connect_db();
	rc = move_group(conn, argv[optind], argv[optind + 1], to, partition, dry_run, stdout);
	PQfinish(conn);
	return rc;
}

/* delete-group TOPIC GROUP: broker.delete_group, the group and its offsets */
int
cmd_delete_group(int argc, char **argv)
{
	static struct option opts[] = {
		CONN_LONG_OPTIONS,
		{NULL, 0, NULL, 0}
	};
	const char *values[2];
	int			c;
	PGconn	   *conn;
	PGresult   *res;
	int			rc = EXIT_OK;

	while ((c = getopt_long(argc, argv, CONN_SHORT_OPTIONS, opts, NULL)) != -1)
	{
		if (c == 'd' || c == 'h' || c == 'p' || c == 'U')
			set_connection_option(c, optarg);
		else
			fatal_usage("delete-group", "invalid option");
	}
	if (optind + 1 >= argc)
		fatal_usage("delete-group", optind >= argc ? "missing topic name" : "missing group name");
	if (optind + 2 < argc)
		fatal_usage("delete-group", "too many arguments");
	values[0] = argv[optind];
	values[1] = argv[optind + 1];
	conn = connect_db();
	res = exec_params(conn, "SELECT broker.delete_group($1, $2)", 2, values);
	if (!exec_ok(res))
	{
		report_error(conn, res, NULL);
		rc = result_exit_code(conn);
	}
	else
		printf("deleted consumer group \"%s\" of topic \"%s\"\n", values[1], values[0]);
	PQclear(res);
	PQfinish(conn);
	return rc;
}
