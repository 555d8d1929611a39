/*
 * admin.c - pgbroker create, drop, list, describe, groups and stats.
 *
 * Each command is a thin layer over the SQL functions and views of the
 * extension (broker.create_queue, broker.queues, broker.consumer_lag, ...),
 * so that the tool shows exactly what SQL users see, and needs only the
 * privileges the same SQL needs.
 */
#include <ctype.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

typedef enum Kind
{
	KIND_QUEUE,
	KIND_TOPIC
} Kind;

static Kind
parse_kind(const char *cmd, const char *s)
{
	if (strcmp(s, "queue") == 0 || strcmp(s, "queues") == 0)
		return KIND_QUEUE;
	if (strcmp(s, "topic") == 0 || strcmp(s, "topics") == 0)
		return KIND_TOPIC;
	fatal_usage(cmd, "expected \"queue\" or \"topic\", not \"%s\"", s);
}

/* run one query, print it as a table; return an exit code */
static int
show_query(PGconn *conn, const char *sql, int nparams, const char *const *values,
		   const char *title)
{
	PGresult   *res = exec_params(conn, sql, nparams, values);
	int			rc;

	if (!exec_ok(res))
	{
		report_error(conn, res, NULL);
		rc = result_exit_code(conn);
		PQclear(res);
		return rc;
	}
	print_table(stdout, res, title);
	PQclear(res);
	return EXIT_OK;
}

/* parse the options every admin command shares: the connection's only */
static int
simple_options(const char *cmd, int argc, char **argv, const char *group_opt,
			   const char **group)
{
	static struct option opts[] = {
		CONN_LONG_OPTIONS,
		{"group", required_argument, NULL, 'g'},
		{NULL, 0, NULL, 0}
	};
	int			c;

	while ((c = getopt_long(argc, argv, group_opt ? CONN_SHORT_OPTIONS "g:" : CONN_SHORT_OPTIONS,
							opts, NULL)) != -1)
	{
		switch (c)
		{
			case 'd':
			case 'h':
			case 'p':
			case 'U':
				set_connection_option(c, optarg);
				break;
			case 'g':
				if (!group_opt)
					fatal_usage(cmd, "invalid option");
				*group = optarg;
				break;
			default:
				fatal_usage(cmd, "invalid option");
		}
	}
	return optind;
}

/* a setting name for "name => value": lower-case letters, digits, _ */
static bool
valid_setting_name(const char *s, size_t n)
{
	if (n == 0 || !(islower((unsigned char) s[0]) || s[0] == '_'))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(islower((unsigned char) s[i]) || isdigit((unsigned char) s[i]) || s[i] == '_'))
			return false;
	return true;
}

/*
 * create and alter: the settings become named arguments of
 * broker.create_queue/create_topic or alter_queue/alter_topic; names are
 * checked (valid_setting_name), values travel as parameters.
 */
static int
settings_command(int argc, char **argv, bool alter)
{
	const char *cmd = alter ? "alter" : "create";
	static struct option opts[] = {
		CONN_LONG_OPTIONS,
		{"partitions", required_argument, NULL, 'P'},
		{"retention", required_argument, NULL, 'r'},
		{"compacted", no_argument, NULL, 'c'},
		{"max-attempts", required_argument, NULL, 'm'},
		{"lease", required_argument, NULL, 'l'},
		{"set", required_argument, NULL, 's'},
		{"if-not-exists", no_argument, NULL, 'i'},
		{NULL, 0, NULL, 0}
	};
	const char *names[64];
	const char *values[65];
	int			nset = 0;
	int			c;
	Kind		kind;
	Buf			sql;
	PGconn	   *conn;
	PGresult   *res;
	int			rc;

	/* the kind comes first: create queue|topic NAME */
	if (argc < 2 || argv[1][0] == '-')
		fatal_usage(cmd, "expected \"queue\" or \"topic\"");
	kind = parse_kind("create", argv[1]);
	argc--;
	argv++;
	while ((c = getopt_long(argc, argv, CONN_SHORT_OPTIONS, opts, NULL)) != -1)
	{
		const char *name = NULL;
		const char *value = optarg;

		if (nset >= 60)
			fatal_usage(cmd, "too many settings");
		switch (c)
		{
			case 'd':
			case 'h':
			case 'p':
			case 'U':
				set_connection_option(c, optarg);
				continue;
			case 'P':
				name = "partitions";
				break;
			case 'r':
				name = "retention";
				break;
			case 'c':
				if (alter)
					fatal_usage(cmd, "use --set compacted=true|false");
				name = "compacted";
				value = "true";
				break;
			case 'm':
				name = "max_attempts";
				break;
			case 'l':
				name = "lease";
				break;
			case 'i':
				if (alter)
					fatal_usage(cmd, "invalid option");
				name = "if_not_exists";
				value = "true";
				break;
			case 's':
				{
					const char *eq = strchr(optarg, '=');

					if (eq == NULL || !valid_setting_name(optarg, (size_t) (eq - optarg)))
						fatal_usage(cmd, "--set takes NAME=VALUE with a setting name "
									"such as dedup_window or segment_interval");
					name = strndup(optarg, (size_t) (eq - optarg));
					value = eq + 1;
					break;
				}
			default:
				fatal_usage(cmd, "invalid option");
		}
		if (kind == KIND_QUEUE && (strcmp(name, "partitions") == 0 ||
								   strcmp(name, "retention") == 0 ||
								   strcmp(name, "compacted") == 0))
			fatal_usage(cmd, "--%s applies to topics only", name);
		if (kind == KIND_TOPIC && (strcmp(name, "max_attempts") == 0 ||
								   strcmp(name, "lease") == 0))
			fatal_usage(cmd, "--%s applies to queues only",
						strcmp(name, "lease") == 0 ? "lease" : "max-attempts");
		names[nset] = name;
		values[nset + 1] = value;
		nset++;
	}
	if (optind >= argc)
		fatal_usage(cmd, "missing name");
	if (optind < argc - 1)
		fatal_usage(cmd, "too many arguments");
	values[0] = argv[optind];

	/* names are checked above; values travel as parameters */
	buf_init(&sql);
	buf_printf(&sql, "SELECT broker.%s_%s($1", cmd, kind == KIND_QUEUE ? "queue" : "topic");
	for (int i = 0; i < nset; i++)
		buf_printf(&sql, ", %s => $%d", names[i], i + 2);
	buf_puts(&sql, ")");

	conn = connect_db();
	res = exec_params(conn, sql.data, nset + 1, values);
	buf_free(&sql);
	if (!exec_ok(res))
	{
		report_error(conn, res, NULL);
		rc = result_exit_code(conn);
	}
	else if (alter)
	{
		printf("altered %s \"%s\"\n", kind == KIND_QUEUE ? "queue" : "topic", argv[optind]);
		rc = EXIT_OK;
	}
	else
	{
		bool		created = strcmp(PQgetvalue(res, 0, 0), "t") == 0;

		printf("%s %s \"%s\"\n", created ? "created" : "already exists:",
			   kind == KIND_QUEUE ? "queue" : "topic", argv[optind]);
		rc = EXIT_OK;
	}
	PQclear(res);
	PQfinish(conn);
	return rc;
}

int
cmd_create(int argc, char **argv)
{
	return settings_command(argc, argv, false);
}

int
cmd_alter(int argc, char **argv)
{
	return settings_command(argc, argv, true);
}

int
cmd_drop(int argc, char **argv)
{
	static struct option opts[] = {
		CONN_LONG_OPTIONS,
		{"if-exists", no_argument, NULL, 'i'},
		{NULL, 0, NULL, 0}
	};
	bool		if_exists = false;
	int			c;
	Kind		kind;
	PGconn	   *conn;
	PGresult   *res;
	int			rc = EXIT_OK;
	const char *values[2];

	if (argc < 2 || argv[1][0] == '-')
		fatal_usage("drop", "expected \"queue\" or \"topic\"");
	kind = parse_kind("drop", argv[1]);
	argc--;
	argv++;
	while ((c = getopt_long(argc, argv, CONN_SHORT_OPTIONS, opts, NULL)) != -1)
	{
		if (c == 'd' || c == 'h' || c == 'p' || c == 'U')
			set_connection_option(c, optarg);
		else if (c == 'i')
			if_exists = true;
		else
			fatal_usage("drop", "invalid option");
	}
	if (optind >= argc)
		fatal_usage("drop", "missing name");
	if (optind < argc - 1)
		fatal_usage("drop", "too many arguments");
	values[0] = argv[optind];
	values[1] = if_exists ? "true" : "false";
	conn = connect_db();
	res = exec_params(conn, kind == KIND_QUEUE ?
					  "SELECT broker.drop_queue($1, $2::boolean)" :
					  "SELECT broker.drop_topic($1, $2::boolean)", 2, values);
	if (!exec_ok(res))
	{
		report_error(conn, res, NULL);
		rc = result_exit_code(conn);
	}
	else if (strcmp(PQgetvalue(res, 0, 0), "t") == 0)
		printf("dropped %s \"%s\"\n", kind == KIND_QUEUE ? "queue" : "topic", values[0]);
	else
		printf("%s \"%s\" does not exist, skipping\n",
			   kind == KIND_QUEUE ? "queue" : "topic", values[0]);
	PQclear(res);
	PQfinish(conn);
	return rc;
}

static const char *list_queues_sql =
"SELECT queue, messages, ready, delayed, leased, dead, "
"date_trunc('second', oldest_ready_age) AS oldest_ready "
"FROM broker.queues ORDER BY queue";

/* the number of groups, or NULL for a role that may not read consumer_lag */
static const char *list_topics_sql =
"SELECT topic, partitions, records, pg_size_pretty(bytes) AS size, segments, "
"date_trunc('second', oldest_record_age) AS oldest_record, "
"(SELECT count(DISTINCT l.consumer_group) FROM broker.consumer_lag l "
"  WHERE l.topic = t.topic) AS groups "
"FROM broker.topics t ORDER BY topic";

static const char *list_topics_no_lag_sql =
"SELECT topic, partitions, records, pg_size_pretty(bytes) AS size, segments, "
"date_trunc('second', oldest_record_age) AS oldest_record, NULL::bigint AS groups "
"FROM broker.topics t ORDER BY topic";

/*
 * Whether the caller may read broker.consumer_lag: members of
 * pgbroker_producer alone may not, though they see the queues and topics
 * they hold browse on.  A failed query says no; the next one reports it.
 */
static bool
may_read_lag(PGconn *conn)
{
	PGresult   *res = PQexec(conn, "SELECT pg_catalog.has_table_privilege("
							 "'broker.consumer_lag', 'SELECT')");
	bool		may = exec_ok(res) && PQntuples(res) == 1 &&
		strcmp(PQgetvalue(res, 0, 0), "t") == 0;

	PQclear(res);
	return may;
}

int
cmd_list(int argc, char **argv)
{
	int			first = simple_options("list", argc, argv, NULL, NULL);
	bool		queues = true,
				topics = true;
	PGconn	   *conn;
	int			rc;

	if (first < argc)
	{
		Kind		k = parse_kind("list", argv[first]);

		queues = k == KIND_QUEUE;
		topics = k == KIND_TOPIC;
		if (first < argc - 1)
			fatal_usage("list", "too many arguments");
	}
	conn = connect_db();
	rc = queues ? show_query(conn, list_queues_sql, 0, NULL, queues && topics ? "Queues" : NULL) : EXIT_OK;
	if (rc == EXIT_OK && queues && topics)
		printf("\n");
	if (rc == EXIT_OK && topics)
		rc = show_query(conn, may_read_lag(conn) ? list_topics_sql : list_topics_no_lag_sql,
						0, NULL, queues && topics ? "Topics" : NULL);
	PQfinish(conn);
	return rc;
}

/*
 * describe: the row of broker.queues or broker.topics with the owner
 * added, then (topics) the partitions and consumer groups, then the grants
 * as broker.privileges lists them: the owner's first (it holds every
 * privilege until it revokes one from itself), then by grantee.  Those
 * views show only what the caller may see (browse, or pg_monitor); when
 * the row is missing, broker.has_privilege tells a queue that does not
 * exist (NULL) from one the caller may not see (false).
 */
static const char *describe_queue_sql =
"SELECT q.*, (SELECT p.owner FROM broker.privileges p "
"  WHERE p.kind = 'queue' AND p.name = q.queue LIMIT 1) AS owner "
"FROM broker.queues q WHERE q.queue = $1";

static const char *describe_topic_sql =
"SELECT t.*, (SELECT p.owner FROM broker.privileges p "
"  WHERE p.kind = 'topic' AND p.name = t.topic LIMIT 1) AS owner "
"FROM broker.topics t WHERE t.topic = $1";

static const char *grants_sql =
"SELECT grantee, privilege FROM broker.privileges "
"WHERE kind = $1 AND name = $2 "
"ORDER BY grantee <> owner, grantee::text, "
"array_position(ARRAY['send', 'consume', 'browse', 'manage'], privilege)";

/*
 * Whether the caller holds browse on a topic it sees: a member of
 * pg_monitor sees every topic but may not read its partitions.  A failed
 * query says yes; the next one reports it.
 */
static bool
may_browse_topic(PGconn *conn, const char *name)
{
	PGresult   *res = exec_params(conn,
								  "SELECT broker.has_privilege(pg_catalog.quote_ident(current_user)::regrole, "
								  "'browse', topic => $1)", 1, &name);
	bool		may = !exec_ok(res) || PQntuples(res) != 1 ||
		strcmp(PQgetvalue(res, 0, 0), "f") != 0;

	PQclear(res);
	return may;
}

static int
describe_missing(PGconn *conn, Kind kind, const char *name)
{
	const char *what = kind == KIND_QUEUE ? "queue" : "topic";
	PGresult   *res = exec_params(conn, kind == KIND_QUEUE ?
								  "SELECT broker.has_privilege(pg_catalog.quote_ident(current_user)::regrole, "
								  "'browse', queue => $1)" :
								  "SELECT broker.has_privilege(pg_catalog.quote_ident(current_user)::regrole, "
								  "'browse', topic => $1)", 1, &name);
	int			rc = EXIT_SERVER;

	if (!exec_ok(res))
	{
		report_error(conn, res, NULL);
		rc = result_exit_code(conn);
	}
	else if (PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "f") == 0)
	{
		errorf("error: permission denied for %s \"%s\" (SQLSTATE 42501)", what, name);
		fprintf(stderr, "DETAIL:  The browse privilege on %s \"%s\" is needed to describe it.\n",
				what, name);
	}
	else
		errorf("error: %s \"%s\" does not exist (SQLSTATE 42704)", what, name);
	PQclear(res);
	return rc;
}

int
cmd_describe(int argc, char **argv)
{
	int			first;
	Kind		kind;
	PGconn	   *conn;
	PGresult   *res;
	const char *values[1];
	const char *grant_values[2];
	int			rc;

	if (argc < 2 || argv[1][0] == '-')
		fatal_usage("describe", "expected \"queue\" or \"topic\"");
	kind = parse_kind("describe", argv[1]);
	argc--;
	argv++;
	first = simple_options("describe", argc, argv, NULL, NULL);
	if (first >= argc)
		fatal_usage("describe", "missing name");
	if (first < argc - 1)
		fatal_usage("describe", "too many arguments");
	values[0] = argv[first];
	conn = connect_db();
	res = exec_params(conn, kind == KIND_QUEUE ? describe_queue_sql : describe_topic_sql,
					  1, values);
	if (!exec_ok(res))
	{
		report_error(conn, res, NULL);
		rc = result_exit_code(conn);
		PQclear(res);
		PQfinish(conn);
		return rc;
	}
	if (PQntuples(res) == 0)
	{
		PQclear(res);
		rc = describe_missing(conn, kind, values[0]);
		PQfinish(conn);
		return rc;
	}
	print_vertical(stdout, res, 0);
	PQclear(res);
	rc = EXIT_OK;
	if (kind == KIND_TOPIC)
	{
		printf("\n");
		if (may_browse_topic(conn, values[0]))
			rc = show_query(conn, "SELECT * FROM broker.topic_partitions($1) ORDER BY partition",
							1, values, "Partitions");
		else
			printf("Partitions: not shown, they need the browse privilege on topic \"%s\"\n",
				   values[0]);
		if (rc == EXIT_OK && may_read_lag(conn))
		{
			printf("\n");
			rc = show_query(conn,
							"SELECT consumer_group, sum(lag) AS lag, "
							"count(*) FILTER (WHERE lease_until > now()) AS leased_partitions, "
							"max(last_commit_at) AS last_commit_at "
							"FROM broker.consumer_lag WHERE topic = $1 "
							"GROUP BY consumer_group ORDER BY consumer_group",
							1, values, "Consumer groups");
		}
		else if (rc == EXIT_OK)
			printf("\nConsumer groups: not shown, they need membership in pgbroker_consumer, "
				   "pgbroker_admin or pg_monitor\n");
	}
	if (rc == EXIT_OK)
	{
		grant_values[0] = kind == KIND_QUEUE ? "queue" : "topic";
		grant_values[1] = values[0];
		printf("\n");
		rc = show_query(conn, grants_sql, 2, grant_values, "Grants");
	}
	PQfinish(conn);
	return rc;
}

int
cmd_groups(int argc, char **argv)
{
	const char *group = NULL;
	int			first = simple_options("groups", argc, argv, "g", &group);
	const char *values[2];
	PGconn	   *conn;
	PGresult   *res;
	int			rc;

	if (first < argc - 1)
		fatal_usage("groups", "too many arguments");
	if (first >= argc)
	{
		/* no topic: every group of every topic, one row each */
		values[0] = group;
		conn = connect_db();
		rc = show_query(conn,
						"SELECT topic, consumer_group AS group, count(*) AS partitions, "
						"sum(lag) AS lag, "
						"to_char(max(last_commit_at), 'YYYY-MM-DD HH24:MI:SS') AS last_commit, "
						"string_agg(DISTINCT lease_holder, ', ') AS lease_holders "
						"FROM broker.consumer_lag "
						"WHERE $1::text IS NULL OR consumer_group = $1 "
						"GROUP BY topic, consumer_group ORDER BY topic, consumer_group",
						1, values, NULL);
		PQfinish(conn);
		return rc;
	}
	values[0] = argv[first];
	values[1] = group;
	conn = connect_db();
	res = exec_params(conn, "SELECT 1 FROM broker.topics WHERE topic = $1", 1, values);
	if (!exec_ok(res) || PQntuples(res) == 0)
	{
		if (exec_ok(res))
		{
			errorf("error: topic \"%s\" does not exist (SQLSTATE 42704)", values[0]);
			rc = EXIT_SERVER;
		}
		else
		{
			report_error(conn, res, NULL);
			rc = result_exit_code(conn);
		}
		PQclear(res);
		PQfinish(conn);
		return rc;
	}
	PQclear(res);
	rc = show_query(conn,
					"SELECT consumer_group AS group, partition, committed_offset AS committed, "
					"end_offset AS \"end\", lag, lease_holder, "
					"to_char(lease_until, 'YYYY-MM-DD HH24:MI:SS') AS lease_until, "
					"to_char(last_commit_at, 'YYYY-MM-DD HH24:MI:SS') AS last_commit "
					"FROM broker.consumer_lag WHERE topic = $1 "
					"AND ($2::text IS NULL OR consumer_group = $2) "
					"ORDER BY consumer_group, partition",
					2, values, NULL);
	PQfinish(conn);
	return rc;
}

/*
 * stats: one row per queue and topic.  Rates are differences of running
 * totals between two samples (queues: messages sent and acknowledged;
 * topics: the sum of the partitions' end offsets and of every group's
 * committed offsets), computed by the server from the previous sample
 * passed back as JSON.  The last column is that sample.  A role that may
 * not read broker.consumer_lag (pgbroker_producer alone) gets the topics'
 * out rate and lag blank rather than an error.
 */
#define STATS_SQL(TOPIC_OUT, TOPIC_LAG) \
"WITH cur AS ("\
"  SELECT 'queue' AS kind, queue AS name, messages AS depth, sent_total AS in_total,"\
"         acked_total AS out_total, NULL::bigint AS lag, dead,"\
"         oldest_ready_age AS oldest"\
"    FROM broker.queues"\
"  UNION ALL"\
"  SELECT 'topic', t.topic, t.records,"\
"         (SELECT coalesce(sum(x), 0) FROM unnest(t.latest_offsets) x),"\
"         " TOPIC_OUT ", " TOPIC_LAG ","\
"         NULL, t.oldest_record_age"\
"    FROM broker.topics t"\
"), prev AS ("\
"  SELECT key, (value->>0)::numeric AS pin, (value->>1)::numeric AS pout"\
"    FROM jsonb_each(coalesce($1::jsonb, '{}'))"\
")"\
"SELECT c.kind, c.name, c.depth,"\
"       round(greatest(c.in_total - p.pin, 0) / $2::numeric, 1) AS in_per_s,"\
"       CASE WHEN c.out_total IS NOT NULL"\
"            THEN round(greatest(c.out_total - p.pout, 0) / $2::numeric, 1) END AS out_per_s,"\
"       c.lag, c.dead, date_trunc('second', c.oldest) AS oldest,"\
"       (SELECT jsonb_object_agg(kind || ':' || name, jsonb_build_array(in_total, out_total))"\
"          FROM cur) AS sample"\
"  FROM cur c LEFT JOIN prev p ON p.key = c.kind || ':' || c.name"\
" ORDER BY c.kind, c.name"

static const char *stats_sql = STATS_SQL(
"(SELECT coalesce(sum(l.committed_offset), 0) FROM broker.consumer_lag l"
"   WHERE l.topic = t.topic)",
"(SELECT max(g.lag) FROM (SELECT sum(l.lag) AS lag FROM broker.consumer_lag l"
"   WHERE l.topic = t.topic GROUP BY l.consumer_group) g)");

/* for a role that may not read broker.consumer_lag: topics' out and lag blank */
static const char *stats_no_lag_sql = STATS_SQL("NULL::numeric", "NULL::numeric");

int
cmd_stats(int argc, char **argv)
{
	static struct option opts[] = {
		CONN_LONG_OPTIONS,
		{"watch", no_argument, NULL, 'w'},
		{"interval", required_argument, NULL, 'i'},
		{NULL, 0, NULL, 0}
	};
	bool		watch = false;
	double		interval = 1.0;
	int			c;
	PGconn	   *conn;
	char	   *sample = NULL;
	double		taken = 0;
	int			rc = EXIT_OK;
	bool		tty = isatty(fileno(stdout));
	bool		read_lag;

	while ((c = getopt_long(argc, argv, CONN_SHORT_OPTIONS "wi:", opts, NULL)) != -1)
	{
		char	   *end;

		switch (c)
		{
			case 'd':
			case 'h':
			case 'p':
			case 'U':
				set_connection_option(c, optarg);
				break;
			case 'w':
				watch = true;
				break;
			case 'i':
				interval = strtod(optarg, &end);
				if (*end != '\0' || end == optarg || !(interval >= 0.1 && interval <= 86400))
					fatal_usage("stats", "--interval must be a number of seconds from 0.1 to 86400");
				break;
			default:
				fatal_usage("stats", "invalid option");
		}
	}
	if (optind < argc)
		fatal_usage("stats", "too many arguments");
	conn = connect_db();
	read_lag = may_read_lag(conn);
	for (int round = 0;; round++)
	{
		char		elapsed[32];
		const char *values[2];
		PGresult   *res;
		double		now = now_seconds();

		snprintf(elapsed, sizeof(elapsed), "%.6f", round == 0 ? 1.0 : now - taken);
		values[0] = sample;
		values[1] = elapsed;
		res = exec_params(conn, read_lag ? stats_sql : stats_no_lag_sql, 2, values);
		taken = now;
		if (!exec_ok(res))
		{
			report_error(conn, res, NULL);
			rc = result_exit_code(conn);
			PQclear(res);
			break;
		}
		free(sample);
		sample = PQntuples(res) > 0 && !PQgetisnull(res, 0, PQnfields(res) - 1) ?
			strdup(PQgetvalue(res, 0, PQnfields(res) - 1)) : NULL;
		if (round > 0)
		{
			/* print every column but the sample */
			Buf			title;
			time_t		t = time(NULL);
			char		when[64];

			strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", localtime(&t));
			buf_init(&title);
			buf_printf(&title, "pgbroker stats at %s (rates over %.1f s)", when, atof(elapsed));
			if (watch && tty)
				fputs("\033[H\033[2J", stdout);
			else if (round > 1)
				fputc('\n', stdout);
			printf("%s\n", title.data);
			buf_free(&title);
			print_table_cols(stdout, res, NULL, PQnfields(res) - 1);
			fflush(stdout);
		}
		PQclear(res);
		if (round > 0 && !watch)
			break;
		if (!sleep_interruptible(interval))
			break;
	}
	free(sample);
	PQfinish(conn);
	return rc;
}

/*
 * metrics: the Prometheus exposition of broker.metrics_text(), printed as
 * the server makes it (so that the console's /metrics is the same text).
 */
int
cmd_metrics(int argc, char **argv)
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
			fatal_usage("metrics", "invalid option");
	}
	if (optind < argc)
		fatal_usage("metrics", "too many arguments");
	conn = connect_db();
	res = exec_params(conn, "SELECT broker.metrics_text() AS metrics", 0, NULL);
	if (!exec_ok(res))
	{
		report_error(conn, res, NULL);
		rc = result_exit_code(conn);
	}
	else
	{
		fputs(PQgetvalue(res, 0, 0), stdout);
		if (fflush(stdout) != 0)
			rc = EXIT_SERVER;
	}
	PQclear(res);
	PQfinish(conn);
	return rc;
}
