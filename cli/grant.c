/*
 * grant.c - pgbroker grant and pgbroker revoke: privileges on a queue or
 * a topic, and the right to create them.
 *
 *   pgbroker grant|revoke send|consume|browse|manage ROLE --queue NAME
 *   pgbroker grant|revoke send|consume|browse|manage ROLE --topic NAME
 *   pgbroker grant|revoke create ROLE
 *
 * Each is one call of broker.grant or broker.revoke, so the server decides
 * who may grant what (the owner or a holder of manage on the queue or
 * topic; members of pgbroker_admin for create) and its refusal (42501) is
 * printed as it sent it.  ROLE is taken literally, as createuser and
 * dropuser take it: "Web App" names the role Web App, not web_app.  The
 * names travel as query parameters.
 *
 * After a grant or revoke that took effect, one more query looks for what
 * would surprise the user: a grantee that belongs to none of the pgbroker
 * roles (it holds the privilege but may not call the functions that use
 * it), or a role that still holds a revoked privilege through a role it
 * belongs to.  Those are notes on standard error; they change nothing and
 * do not change the exit status.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char *const privileges[] = {"send", "consume", "browse", "manage", "create", NULL};

/* ROLE as a regrole, taken literally */
#define ROLE_PARAM(n) "pg_catalog.quote_ident($" #n ")::regrole"

static int
grant_or_revoke(const char *cmd, bool grant, int argc, char **argv)
{
	static struct option opts[] = {
		CONN_LONG_OPTIONS,
		{"queue", required_argument, NULL, 'q'},
		{"topic", required_argument, NULL, 't'},
		{NULL, 0, NULL, 0}
	};
	const char *queue = NULL;
	const char *topic = NULL;
	const char *privilege;
	const char *role;
	const char *values[4];
	bool		known = false;
	bool		create;
	int			c;
	PGconn	   *conn;
	PGresult   *res;

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
			case 'q':
				queue = optarg;
				break;
			case 't':
				topic = optarg;
				break;
			default:
				fatal_usage(cmd, "invalid option");
		}
	}
	if (optind >= argc)
		fatal_usage(cmd, "missing privilege (send, consume, browse, manage or create)");
	if (optind + 1 >= argc)
		fatal_usage(cmd, "missing role");
	if (optind + 2 < argc)
		fatal_usage(cmd, "too many arguments");
	privilege = argv[optind];
	role = argv[optind + 1];
	for (const char *const *p = privileges; *p; p++)
		if (strcmp(privilege, *p) == 0)
			known = true;
	if (!known)
		fatal_usage(cmd, "unknown privilege \"%s\": expected send, consume, browse, "
					"manage or create", privilege);
	create = strcmp(privilege, "create") == 0;
	if (create && (queue || topic))
		fatal_usage(cmd, "the create privilege is on no queue or topic: "
					"give neither --queue nor --topic");
	if (!create && queue && topic)
		fatal_usage(cmd, "give either --queue or --topic, not both");
	if (!create && !queue && !topic)
		fatal_usage(cmd, "the %s privilege is on a queue or a topic: "
					"give --queue NAME or --topic NAME", privilege);

	values[0] = privilege;
	values[1] = role;
	values[2] = queue;
	values[3] = topic;
	conn = connect_db();
	res = exec_params(conn, grant ?
					  "SELECT broker.grant($1, " ROLE_PARAM(2) ", queue => $3, topic => $4)" :
					  "SELECT broker.revoke($1, " ROLE_PARAM(2) ", queue => $3, topic => $4)",
					  4, values);
	if (!exec_ok(res))
	{
		int			rc;

		report_error(conn, res, NULL);
		rc = result_exit_code(conn);
		PQclear(res);
		PQfinish(conn);
		return rc;
	}
	PQclear(res);
	if (create)
		printf("%s create %s role \"%s\"\n", grant ? "granted" : "revoked",
			   grant ? "to" : "from", role);
	else
		printf("%s %s on %s \"%s\" %s role \"%s\"\n", grant ? "granted" : "revoked",
			   privilege, queue ? "queue" : "topic", queue ? queue : topic,
			   grant ? "to" : "from", role);

	/* the notes: best effort, a failed query says nothing */
	if (grant)
	{
		res = exec_params(conn,
						  "SELECT NOT EXISTS (SELECT FROM pg_catalog.unnest(ARRAY["
						  "'pgbroker_producer', 'pgbroker_consumer', 'pgbroker_admin']) r "
						  "WHERE pg_catalog.to_regrole(r) IS NOT NULL AND pg_catalog.pg_has_role("
						  ROLE_PARAM(1) ", pg_catalog.to_regrole(r), 'USAGE'))",
						  1, values + 1);
		if (exec_ok(res) && PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0)
			errorf("warning: role \"%s\" belongs to none of pgbroker_producer, "
				   "pgbroker_consumer and pgbroker_admin, so it cannot call pgbroker's "
				   "functions yet: GRANT one of them to it", role);
	}
	else
	{
		res = exec_params(conn,
						  "SELECT broker.has_privilege(" ROLE_PARAM(2) ", $1, queue => $3, topic => $4)",
						  4, values);
		if (exec_ok(res) && PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0)
			errorf("note: role \"%s\" still holds %s%s%s%s through a role it belongs to "
				   "(a grantee, or pgbroker_admin) or as a superuser", role, privilege,
				   create ? "" : (queue ? " on queue \"" : " on topic \""),
				   create ? "" : (queue ? queue : topic), create ? "" : "\"");
	}
	PQclear(res);
	PQfinish(conn);
	return EXIT_OK;
}

int
cmd_grant(int argc, char **argv)
{
	return grant_or_revoke("grant", true, argc, argv);
}

int
cmd_revoke(int argc, char **argv)
{
	return grant_or_revoke("revoke", false, argc, argv);
}
