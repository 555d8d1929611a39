/*
 * subscription.c - pgbroker subscriptions and pgbroker subscription: the
 * SQL functions that pgbroker's workers call with a queue's messages or a
 * consumer group's records.
 *
 *   pgbroker subscriptions
 *   pgbroker subscription pause|resume|drop NAME
 *
 * subscriptions prints broker.subscriptions as a table: only the rows the
 * view shows the caller (its own subscriptions, those on queues and topics
 * it may browse; all of them for pgbroker_admin and pg_monitor).  The last
 * error is put on one line and cut to LAST_ERROR_WIDTH characters so that
 * one long error does not widen the whole table; the view has it whole.
 *
 * pause, resume and drop are one call each of broker.alter_subscription or
 * broker.unsubscribe, so the server decides who may change a subscription
 * (a member of its owner, or of pgbroker_admin) and its refusal (42501),
 * or a missing subscription (42704), is printed as it sent it.  NAME
 * travels as a query parameter.  The workers stop or start when the call
 * commits, not before this prints its line.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char *subscriptions_sql =
"SELECT s.name, s.source_kind, s.source, s.consumer_group, s.handler, s.owner, "
"s.state, s.workers, s.processed, s.failed, s.backlog, "
"CASE WHEN length(e.msg) > " LAST_ERROR_WIDTH
"     THEN left(e.msg, " LAST_ERROR_WIDTH " - 3) || '...' ELSE e.msg END AS last_error, "
"to_char(s.last_batch_at, 'YYYY-MM-DD HH24:MI:SS') AS last_batch_at "
"FROM broker.subscriptions s, "
"LATERAL (SELECT btrim(regexp_replace(s.last_error, '[[:space:]]+', ' ', 'g')) AS msg) e "
"ORDER BY s.name";

int
cmd_subscriptions(int argc, char **argv)
{
	static struct option opts[] = {
		CONN_LONG_OPTIONS,
		{NULL, 0, NULL, 0}
	};
	int			c;
	PGconn	   *conn;
	PGresult   *res;
	int			rc = EXIT_OK;

	while ((c = getopt_long(argc, argv, CONN_SHORT_OPTIONS, opts, NULL)) != -1)
	{
		if (c == 'd' || c == 'h' || c == 'p' || c == 'U')
			set_connection_option(c, optarg);
		else
			fatal_usage("subscriptions", "invalid option");
	}
	if (optind < argc)
		fatal_usage("subscriptions", "too many arguments");
	conn = connect_db();
	res = exec_params(conn, subscriptions_sql, 0, NULL);
	if (!exec_ok(res))
	{
		report_error(conn, res, NULL);
		rc = result_exit_code(conn);
	}
	else
		print_table(stdout, res, NULL);
	PQclear(res);
	PQfinish(conn);
	return rc;
}

typedef struct SubscriptionAction
{
	const char *name;			/* the word on the command line */
	const char *sql;			/* $1: the subscription's name */
	const char *done;			/* the confirmation's verb */
} SubscriptionAction;

static const SubscriptionAction actions[] = {
	{"pause", "SELECT broker.alter_subscription($1, enabled => false)", "paused"},
	{"resume", "SELECT broker.alter_subscription($1, enabled => true)", "resumed"},
	{"drop", "SELECT broker.unsubscribe($1)", "dropped"},
	{NULL, NULL, NULL}
};

int
cmd_subscription(int argc, char **argv)
{
	static struct option opts[] = {
		CONN_LONG_OPTIONS,
		{NULL, 0, NULL, 0}
	};
	const SubscriptionAction *action = NULL;
	const char *values[1];
	int			c;
	PGconn	   *conn;
	PGresult   *res;
	int			rc = EXIT_OK;

	/* the action comes first: subscription pause|resume|drop NAME */
	if (argc < 2 || argv[1][0] == '-')
		fatal_usage("subscription", "expected \"pause\", \"resume\" or \"drop\"");
	for (const SubscriptionAction *a = actions; a->name; a++)
		if (strcmp(argv[1], a->name) == 0)
			action = a;
	if (action == NULL)
		fatal_usage("subscription", "expected \"pause\", \"resume\" or \"drop\", not \"%s\"",
					argv[1]);
	argc--;
	argv++;
	while ((c = getopt_long(argc, argv, CONN_SHORT_OPTIONS, opts, NULL)) != -1)
	{
		if (c == 'd' || c == 'h' || c == 'p' || c == 'U')
			set_connection_option(c, optarg);
		else
			fatal_usage("subscription", "invalid option");
	}
	if (optind >= argc)
		fatal_usage("subscription", "missing name");
	if (optind < argc - 1)
		fatal_usage("subscription", "too many arguments");
	values[0] = argv[optind];
	conn = connect_db();
	res = exec_params(conn, action->sql, 1, values);
	if (!exec_ok(res))
	{
		report_error(conn, res, NULL);
		rc = result_exit_code(conn);
	}
	else
		printf("%s subscription \"%s\"\n", action->done, values[0]);
	PQclear(res);
	PQfinish(conn);
	return rc;
}
