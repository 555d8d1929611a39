/*
 * messages.c - pgbroker dead-letters, redrive, purge-dead-letters, peek
 * and cancel: an operator's look at a queue's messages and dead letters.
 *
 *   pgbroker dead-letters QUEUE [-n N] [--history]
 *   pgbroker redrive QUEUE [ID]...
 *   pgbroker purge-dead-letters QUEUE [ID]...
 *   pgbroker peek QUEUE [-n N]
 *   pgbroker cancel QUEUE ID
 *
 * Each is one call of the extension's function of the same name
 * (broker.dead_letters, broker.redrive, broker.purge_dead_letters,
 * broker.peek, broker.cancel), so the server decides who may do it
 * (browse for the listings, manage for the rest) and its refusal, or a
 * missing queue, is printed as it sent it.  The queue and the ids travel
 * as query parameters; ids are checked to be digits here, so that a typo
 * is a usage error rather than a server's 22P02.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char *dead_letters_sql =
"SELECT d.id, d.attempts, d.reason, "
"to_char(d.dead_at, 'YYYY-MM-DD HH24:MI:SS') AS dead_at, "
"CASE WHEN length(e.msg) > " LAST_ERROR_WIDTH
"     THEN left(e.msg, " LAST_ERROR_WIDTH " - 3) || '...' ELSE e.msg END AS last_error, "
"d.history "
"FROM broker.dead_letters($1, $2::int) d, "
"LATERAL (SELECT btrim(regexp_replace(d.last_error, '[[:space:]]+', ' ', 'g')) AS msg) e";

static const char *peek_sql =
"SELECT id, state, attempt, priority, group_key, "
"to_char(available_at, 'YYYY-MM-DD HH24:MI:SS') AS available_at, "
"coalesce(payload::text, '(base64) ' || encode(payload_bytes, 'base64')) AS payload "
"FROM broker.peek($1, $2::int)";

/* run one query with the queue (and more) as parameters; print the first ncols */
static int
show_rows(const char *sql, int nparams, const char *const *values, int ncols)
{
	PGconn	   *conn = connect_db();
	PGresult   *res = exec_params(conn, sql, nparams, values);
	int			rc = EXIT_OK;

	if (!exec_ok(res))
	{
		report_error(conn, res, NULL);
		rc = result_exit_code(conn);
	}
	else
		print_table_cols(stdout, res, NULL, ncols < 0 ? PQnfields(res) : ncols);
	PQclear(res);
	PQfinish(conn);
	return rc;
}

/*
 * The options of dead-letters and peek: the connection's, -n/--max and
 * (dead-letters) --history.  Returns the queue's name.
 */
static const char *
listing_options(const char *cmd, int argc, char **argv, const char **max, bool *history)
{
	static struct option opts[] = {
		CONN_LONG_OPTIONS,
		{"max", required_argument, NULL, 'n'},
		{"history", no_argument, NULL, 'H'},
		{NULL, 0, NULL, 0}
	};
	int			c;
	long		v;

	while ((c = getopt_long(argc, argv, CONN_SHORT_OPTIONS "n:", opts, NULL)) != -1)
	{
		switch (c)
		{
			case 'd':
			case 'h':
			case 'p':
			case 'U':
				set_connection_option(c, optarg);
				break;
			case 'n':
				if (!parse_int(optarg, 1, 1000000, &v))
					fatal_usage(cmd, "--max must be an integer from 1 to 1000000");
				*max = optarg;
				break;
			case 'H':
				if (history == NULL)
					fatal_usage(cmd, "invalid option");
				*history = true;
				break;
			default:
				fatal_usage(cmd, "invalid option");
		}
	}
	if (optind >= argc)
		fatal_usage(cmd, "missing queue name");
	if (optind < argc - 1)
		fatal_usage(cmd, "too many arguments");
	return argv[optind];
}

int
cmd_dead_letters(int argc, char **argv)
{
	const char *values[2] = {NULL, "100"};	/* broker.dead_letters' default */
	bool		history = false;

	values[0] = listing_options("dead-letters", argc, argv, &values[1], &history);
	/* the history is the last column */
	return show_rows(dead_letters_sql, 2, values, history ? -1 : 5);
}

int
cmd_peek(int argc, char **argv)
{
	const char *values[2] = {NULL, "10"};	/* broker.peek's default */

	values[0] = listing_options("peek", argc, argv, &values[1], NULL);
	return show_rows(peek_sql, 2, values, -1);
}

/* a message id: digits, at most 18 of them (a bigint) */
static bool
valid_id(const char *s)
{
	size_t		n = strlen(s);

	return n > 0 && n <= 18 && strspn(s, "0123456789") == n;
}

/* the connection's options only; returns the index of the first argument */
static int
plain_options(const char *cmd, int argc, char **argv)
{
	static struct option opts[] = {
		CONN_LONG_OPTIONS,
		{NULL, 0, NULL, 0}
	};
	int			c;

	while ((c = getopt_long(argc, argv, CONN_SHORT_OPTIONS, opts, NULL)) != -1)
	{
		if (c == 'd' || c == 'h' || c == 'p' || c == 'U')
			set_connection_option(c, optarg);
		else
			fatal_usage(cmd, "invalid option");
	}
	return optind;
}

/*
 * redrive and purge-dead-letters: QUEUE and any number of ids, passed as
 * one bigint[] parameter (NULL: every dead letter of the queue); the
 * function returns how many it handled.
 */
static int
dead_letter_action(const char *cmd, const char *sql, const char *done,
				   int argc, char **argv)
{
	int			first = plain_options(cmd, argc, argv);
	const char *values[2];
	Buf			ids;
	PGconn	   *conn;
	PGresult   *res;
	int			rc = EXIT_OK;

	if (first >= argc)
		fatal_usage(cmd, "missing queue name");
	values[0] = argv[first];
	values[1] = NULL;
	buf_init(&ids);
	if (first + 1 < argc)
	{
		buf_puts(&ids, "{");
		for (int i = first + 1; i < argc; i++)
		{
			if (!valid_id(argv[i]))
				fatal_usage(cmd, "\"%s\" is not a message id", argv[i]);
			buf_printf(&ids, "%s%s", i > first + 1 ? "," : "", argv[i]);
		}
		buf_puts(&ids, "}");
		values[1] = ids.data;
	}
	conn = connect_db();
	res = exec_params(conn, sql, 2, values);
	if (!exec_ok(res))
	{
		report_error(conn, res, NULL);
		rc = result_exit_code(conn);
	}
	else
	{
		long		n = atol(PQgetvalue(res, 0, 0));

		printf("%s %ld dead letter%s of queue \"%s\"\n", done, n, n == 1 ? "" : "s",
			   values[0]);
	}
	PQclear(res);
	PQfinish(conn);
	buf_free(&ids);
	return rc;
}

int
cmd_redrive(int argc, char **argv)
{
	return dead_letter_action("redrive", "SELECT broker.redrive($1, $2::bigint[])",
							  "redrove", argc, argv);
}

int
cmd_purge_dead_letters(int argc, char **argv)
{
	return dead_letter_action("purge-dead-letters",
							  "SELECT broker.purge_dead_letters($1, $2::bigint[])",
							  "purged", argc, argv);
}

/*
 * cancel: broker.cancel removes a message that is not leased and says
 * whether it did; one it did not remove (no such id, or leased now) is
 * said so on standard output, exit status 0: nothing went wrong.
 */
int
cmd_cancel(int argc, char **argv)
{
	int			first = plain_options("cancel", argc, argv);
	const char *values[2];
	PGconn	   *conn;
	PGresult   *res;
	int			rc = EXIT_OK;

	if (first >= argc)
		fatal_usage("cancel", "missing queue name");
	if (first + 1 >= argc)
		fatal_usage("cancel", "missing message id");
	if (first + 2 < argc)
		fatal_usage("cancel", "too many arguments");
	if (!valid_id(argv[first + 1]))
		fatal_usage("cancel", "\"%s\" is not a message id", argv[first + 1]);
	values[0] = argv[first];
	values[1] = argv[first + 1];
	conn = connect_db();
	res = exec_params(conn, "SELECT broker.cancel($1, $2::bigint)", 2, values);
	if (!exec_ok(res))
	{
		report_error(conn, res, NULL);
		rc = result_exit_code(conn);
	}
	else if (strcmp(PQgetvalue(res, 0, 0), "t") == 0)
		printf("cancelled message %s of queue \"%s\"\n", values[1], values[0]);
	else
		printf("message %s of queue \"%s\" not cancelled: no such message, or it is leased\n",
			   values[1], values[0]);
	PQclear(res);
	PQfinish(conn);
	return rc;
}
