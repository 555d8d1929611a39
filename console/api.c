/*
 * api.c - the console's JSON API, version 1: the SQL of each call.
 *
 * Every answer is built by the server (json_build_object over pgbroker's
 * views and functions) and sent as it comes; every name and value the
 * request carries reaches the statement as a parameter, never as SQL
 * text.  PostgreSQL's privileges decide what a call may see and do: the
 * views show what the role may monitor, the functions refuse (42501)
 * what it may not do, and may_manage/may_browse/may_alter tell the page
 * which buttons to show.
 *
 * GET  /api/v1/overview                  every queue, topic and subscription
 * GET  /api/v1/queue?name=Q              a queue: states, settings, subscriptions, may_browse/may_manage
 * GET  /api/v1/dead-letters?name=Q       its dead letters (200 at most), with their history (browse)
 * GET  /api/v1/topic?name=T              a topic: partitions, consumer groups
 * POST /api/v1/queue/redrive             {"queue": Q, "ids": [..] | null}
 * POST /api/v1/queue/purge-dead-letters  {"queue": Q, "ids": [..] | null}
 * POST /api/v1/subscription/pause        {"name": S}
 * POST /api/v1/subscription/resume       {"name": S}
 * POST /api/v1/group/reset               {"topic": T, "group": G, "to": "earliest"|"latest"|OFFSET|TIME,
 *                                          "partition": P | null, "dry_run": bool}
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "console.h"

typedef struct ApiCall
{
	ApiKind		kind;
	const char *path;
	const char *sql;			/* $1: the name (GET) or the JSON body (POST) */
} ApiCall;

#define MAY(priv, what) \
	"broker.has_privilege(current_user::regrole, '" priv "', " what " => $1)"

static const ApiCall calls[] = {
	{API_GET, "/api/v1/overview",
		"SELECT json_build_object("
		" 'api', 1,"
		" 'at', extract(epoch FROM clock_timestamp()),"
		" 'queues', coalesce((SELECT json_agg(q ORDER BY q.queue) FROM"
		"   (SELECT queue, messages, ready, delayed, leased, waiting, dead,"
		"           oldest_ready_age_seconds, sent_total, claimed_total, acked_total,"
		"           nacked_total, dead_lettered_total, exact FROM broker.queue_metrics) q), '[]'),"
		" 'topics', coalesce((SELECT json_agg(t ORDER BY t.topic) FROM"
		"   (SELECT m.topic, m.partitions, m.records, m.bytes, m.segments,"
		"           m.oldest_record_age_seconds, m.published_total,"
		"           (SELECT count(DISTINCT g.consumer_group) FROM broker.group_metrics g"
		"             WHERE g.topic = m.topic) AS groups,"
		"           (SELECT max(s.lag) FROM (SELECT sum(g.lag) AS lag FROM broker.group_metrics g"
		"             WHERE g.topic = m.topic GROUP BY g.consumer_group) s) AS max_group_lag"
		"      FROM broker.topic_metrics m) t), '[]'),"
		" 'subscriptions', coalesce((SELECT json_agg(s ORDER BY s.name) FROM"
		"   (SELECT name, source_kind, source, consumer_group, state, workers, processed,"
		"           failed, backlog, last_error FROM broker.subscriptions) s), '[]'))"},
	{API_GET, "/api/v1/queue",
		"SELECT CASE WHEN q.queue IS NOT NULL THEN json_build_object("
		" 'api', 1,"
		" 'at', extract(epoch FROM clock_timestamp()),"
		" 'queue', (SELECT row_to_json(x) FROM (SELECT v.queue, v.messages, v.ready, v.delayed,"
		"   v.leased, v.waiting, v.dead, m.oldest_ready_age_seconds, m.bytes, m.exact,"
		"   m.sent_total, m.claimed_total, m.acked_total, m.nacked_total, m.dead_lettered_total,"
		"   m.expired_total, m.dropped_total, v.max_attempts, v.lease, v.dedup_window, v.ttl,"
		"   v.max_length, v.overflow, v.created_at) x),"
		" 'may_browse', " MAY("browse", "queue") ","
		" 'may_manage', " MAY("manage", "queue") ","
		" 'subscriptions', coalesce((SELECT json_agg(s ORDER BY s.name) FROM"
		"   (SELECT b.name, b.handler, b.owner, b.state, b.enabled, b.workers, b.processed, b.failed,"
		"           b.backlog, b.last_error, b.last_error_at,"
		"           pg_has_role(current_user, b.owner, 'MEMBER')"
		"           OR pg_has_role(current_user, 'pgbroker_admin', 'USAGE') AS may_alter"
		"      FROM broker.subscriptions b WHERE b.source_kind = 'queue' AND b.source = $1) s), '[]'))"
		" END FROM (SELECT $1::text AS name) n"
		" LEFT JOIN broker.queues v ON v.queue = n.name"
		" LEFT JOIN broker.queue_metrics m ON m.queue = n.name"
		" LEFT JOIN LATERAL (SELECT v.queue) q ON true"},
	/* a call of its own: EXECUTE of dead_letters is checked even where a CASE would skip it */
	{API_GET, "/api/v1/dead-letters",
		"SELECT json_build_object('api', 1, 'dead_letters', coalesce((SELECT json_agg(d ORDER BY d.id)"
		"   FROM broker.dead_letters($1, 200) d), '[]'))"},
	{API_GET, "/api/v1/topic",
		"SELECT CASE WHEN t.topic IS NOT NULL THEN json_build_object("
		" 'api', 1,"
		" 'at', extract(epoch FROM clock_timestamp()),"
		" 'topic', row_to_json(t),"
		" 'may_manage', " MAY("manage", "topic") ","
		" 'partitions', coalesce((SELECT json_agg(p ORDER BY p.partition)"
		"   FROM broker.partition_metrics p WHERE p.topic = $1), '[]'),"
		" 'groups', coalesce((SELECT json_agg(g ORDER BY g.consumer_group, g.partition)"
		"   FROM broker.group_metrics g WHERE g.topic = $1), '[]'),"
		" 'subscriptions', coalesce((SELECT json_agg(s ORDER BY s.name) FROM"
		"   (SELECT b.name, b.consumer_group, b.state, b.enabled, b.workers, b.processed, b.failed,"
		"           b.backlog, b.last_error,"
		"           pg_has_role(current_user, b.owner, 'MEMBER')"
		"           OR pg_has_role(current_user, 'pgbroker_admin', 'USAGE') AS may_alter"
		"      FROM broker.subscriptions b WHERE b.source_kind = 'topic' AND b.source = $1) s), '[]'))"
		" END FROM (SELECT $1::text AS name) n"
		" LEFT JOIN (SELECT x.topic, x.partitions, x.records, x.bytes, x.segments,"
		"   extract(epoch FROM x.oldest_record_age)::float8 AS oldest_record_age_seconds,"
		"   x.retention, x.retention_bytes, x.compacted, x.created_at FROM broker.topics x) t"
		" ON t.topic = n.name"},
	{API_POST, "/api/v1/queue/redrive",
		"SELECT json_build_object('redriven', broker.redrive(b->>'queue',"
		" CASE WHEN coalesce(json_typeof(b->'ids'), 'null') = 'null' THEN NULL"
		"      ELSE ARRAY(SELECT x::bigint FROM json_array_elements_text(b->'ids') x) END))"
		" FROM (SELECT $1::json AS b) r"},
	{API_POST, "/api/v1/queue/purge-dead-letters",
		"SELECT json_build_object('purged', broker.purge_dead_letters(b->>'queue',"
		" CASE WHEN coalesce(json_typeof(b->'ids'), 'null') = 'null' THEN NULL"
		"      ELSE ARRAY(SELECT x::bigint FROM json_array_elements_text(b->'ids') x) END))"
		" FROM (SELECT $1::json AS b) r"},
	{API_POST, "/api/v1/subscription/pause",
		"SELECT json_build_object('paused', $1::json->>'name')"
		" FROM broker.alter_subscription($1::json->>'name', enabled => false)"},
	{API_POST, "/api/v1/subscription/resume",
		"SELECT json_build_object('resumed', $1::json->>'name')"
		" FROM broker.alter_subscription($1::json->>'name', enabled => true)"},
	{API_POST, "/api/v1/group/reset",
		"SELECT json_build_object('dry_run', coalesce((b->>'dry_run')::boolean, false),"
		" 'partitions', coalesce(json_agg(json_build_object('partition', r.partition_id,"
		"   'old_offset', r.old_offset, 'new_offset', r.new_offset) ORDER BY r.partition_id), '[]'))"
		" FROM (SELECT $1::json AS b) x,"
		" LATERAL broker.reset_group(b->>'topic', b->>'group', b->>'to',"
		"   (b->>'partition')::integer, coalesce((b->>'dry_run')::boolean, false)) r"
		" GROUP BY b->>'dry_run'"},
};

bool
api_is_known(ApiKind kind, const char *path)
{
	for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++)
		if (calls[i].kind == kind && strcmp(calls[i].path, path) == 0)
			return true;
	return false;
}

/* {"error": message, "sqlstate": code}, the message escaped for JSON */
char *
json_error(const char *message, const char *sqlstate)
{
	size_t		len = strlen(message);
	char	   *out = malloc(len * 6 + 64);
	char	   *p = out;

	/* the trailing newline of libpq's messages is no part of it */
	while (len > 0 && message[len - 1] == '\n')
		len--;
	p += sprintf(p, "{\"error\": \"");
	for (size_t i = 0; i < len; i++)
	{
		unsigned char ch = (unsigned char) message[i];

		if (ch == '"' || ch == '\\')
		{
			*p++ = '\\';
			*p++ = (char) ch;
		}
		else if (ch < 0x20)
			p += sprintf(p, "\\u%04x", ch);
		else
			*p++ = (char) ch;
	}
	if (sqlstate)
		sprintf(p, "\", \"sqlstate\": \"%s\"}", sqlstate);
	else
		sprintf(p, "\", \"sqlstate\": null}");
	return out;
}

/* the HTTP status of a failed statement, by SQLSTATE class */
static int
status_of(const char *sqlstate)
{
	if (sqlstate == NULL)
		return 500;
	if (strcmp(sqlstate, "42501") == 0)
		return 403;
	if (strcmp(sqlstate, "42704") == 0 || strcmp(sqlstate, "P0002") == 0)
		return 404;
	if (strcmp(sqlstate, "57014") == 0)
		return 504;
	if (strncmp(sqlstate, "22", 2) == 0 || strncmp(sqlstate, "42", 2) == 0 ||
		strcmp(sqlstate, "55000") == 0)
		return 400;
	return 500;
}

/*
 * Run the call at path: the name (GET) or the body (POST) is $1.  False
 * if there is no such call.
 */
bool
api_call(ApiKind kind, const char *path, const char *name_arg, const char *body,
		 PGconn *conn, ApiResult *out)
{
	const ApiCall *call = NULL;
	const char *params[1];
	PGresult   *res;

	for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++)
		if (calls[i].kind == kind && strcmp(calls[i].path, path) == 0)
			call = &calls[i];
	if (call == NULL)
		return false;
	out->content_type = "application/json";
	if (kind == API_GET && strcmp(path, "/api/v1/overview") != 0 && name_arg == NULL)
	{
		out->status = 400;
		out->body = json_error("the parameter \"name\" is missing", NULL);
		return true;
	}
	params[0] = kind == API_GET ? name_arg : body;
	res = PQexecParams(conn, call->sql, strcmp(path, "/api/v1/overview") == 0 ? 0 : 1,
					   NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);

		out->status = status_of(state);
		out->body = json_error(msg ? msg : PQerrorMessage(conn), state);
	}
	else if (PQntuples(res) == 0 || PQgetisnull(res, 0, 0))
	{
		out->status = 404;
		out->body = json_error(kind == API_GET ? "no such object, or not visible to this role"
							   : "nothing was done", NULL);
	}
	else
	{
		out->status = 200;
		out->body = strdup(PQgetvalue(res, 0, 0));
	}
	PQclear(res);
	return true;
}
