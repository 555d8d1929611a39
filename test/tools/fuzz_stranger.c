/*
 * fuzz_stranger.c - the fuzz driver as a role granted nothing.
 *
 * pgbroker's queues and topics are private: a role reads or changes one,
 * or a consumer group of one, only with a privilege on it (src/acl.c).
 * With --stranger ROLE every worker connects as ROLE, a member of the
 * pgbroker roles that holds no privilege on any queue or topic, directly
 * or through a role, and may not create them (fuzz.sh revokes what the
 * earlier passes granted it), and the run checks that it never reads or
 * changes one:
 *
 * - each call.  It may fail as it likes (42501 and 42704 are what most
 *   give), but one that succeeds must not have touched a queue, topic or
 *   group.  The row of the table says how (CallSpec.stranger): a call on
 *   a queue or topic succeeds only if the one it names does not exist (a
 *   NULL name, drop_queue with if_exists), or, for send_batch, if it sent
 *   nothing (an empty batch, which pgbroker takes for any name without
 *   looking the queue up); a view or a statistics function shows nothing
 *   (no rows, or only NULLs); has_privilege answers, but never that the
 *   stranger holds a privilege; default privileges are set only for the
 *   stranger or a role it is a member of; creating, granting and
 *   maintenance never succeed.  Which queues and topics exist is read before the workers
 *   start: the stranger can neither create nor drop one, and nothing else
 *   runs meanwhile.
 * - the database.  Before the workers start and after they end, the
 *   default user takes a digest of every table of the broker schema (its
 *   row count and an md5 of its rows) and of the owner and ACL of each
 *   relation there (the grants).  The two must be the same: no message,
 *   record, offset, group, member or grant was created, changed or
 *   removed by the stranger's calls, committed or not.  A maintenance
 *   worker serving the database would change it too: then the comparison
 *   is skipped, and says so (fuzz.sh's database is fresh, so none does).
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

const char *stranger_role = NULL;

typedef struct Names
{
	char	  **v;
	int			n;
} Names;

typedef struct Digest
{
	Names		what;			/* a table, or the ACLs */
	Names		digest;
} Digest;

static Names queues;
static Names topics;
static Names own_roles;			/* the stranger and the roles it is a member of */
static Digest before;
static bool maintained;			/* a maintenance worker serves the database */
static long ncalls_seen;		/* the stranger's calls */
static long succeeded;			/* of them, those that succeeded */
static long touched;			/* of them, those that touched an object */

static void
names_add(Names *s, const char *v)
{
	s->v = realloc(s->v, sizeof(char *) * (s->n + 1));
	s->v[s->n++] = strdup(v);
}

static bool
names_has(const Names *s, const char *v)
{
	int			i;

	for (i = 0; v != NULL && i < s->n; i++)
		if (strcmp(s->v[i], v) == 0)
			return true;
	return false;
}

static void
names_free(Names *s)
{
	while (s->n > 0)
		free(s->v[--s->n]);
	free(s->v);
	s->v = NULL;
}

/* a query of the default user's connection that must succeed */
static PGresult *
must(PGconn *c, const char *sql)
{
	PGresult   *r = PQexec(c, sql);

	if (!result_ok(r))
	{
		fprintf(stderr, "fuzz: stranger: %s: %s", sql, PQerrorMessage(c));
		exit(2);
	}
	return r;
}

/* the first column of a query with at most one parameter */
static void
load_names(PGconn *c, const char *sql, const char *param, Names *s)
{
	PGresult   *r = PQexecParams(c, sql, param ? 1 : 0, NULL, &param, NULL, NULL, 0);
	int			i;

	if (!result_ok(r))
	{
		fprintf(stderr, "fuzz: stranger: %s: %s", sql, PQerrorMessage(c));
		exit(2);
	}
	for (i = 0; i < PQntuples(r); i++)
		names_add(s, PQgetvalue(r, i, 0));
	PQclear(r);
}

/*
 * The digest of the database: per table of the broker schema its row
 * count and an md5 of the md5s of its rows in order (a row can be large:
 * a payload near the message size limit), and one of the owners and
 * ACLs of all its relations.  In one snapshot.
 */
static void
take_digest(PGconn *c, Digest *d)
{
	PGresult   *tables;
	PGresult   *r;
	int			i;

	PQclear(must(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"));
	tables = must(c, "SELECT c.oid::regclass::text FROM pg_class c"
				  " WHERE c.relnamespace = 'broker'::regnamespace AND c.relkind IN ('r', 'p')"
				  " ORDER BY 1");
	for (i = 0; i < PQntuples(tables); i++)
	{
		char		sql[512];

		/* regclass text is quoted as needed */
		snprintf(sql, sizeof(sql),
				 "SELECT count(*) || ' rows, md5 ' || md5(coalesce(string_agg(h, '' ORDER BY h), ''))"
				 " FROM (SELECT md5(t::text) AS h FROM %s t) s", PQgetvalue(tables, i, 0));
		r = must(c, sql);
		names_add(&d->what, PQgetvalue(tables, i, 0));
		names_add(&d->digest, PQgetvalue(r, 0, 0));
		PQclear(r);
	}
	PQclear(tables);
	r = must(c, "SELECT count(*) || ' relations, md5 ' || md5(string_agg("
			 "c.relname || ' ' || c.relowner::regrole || ' ' || coalesce(c.relacl::text, '-'),"
			 " E'\\n' ORDER BY c.relname))"
			 " FROM pg_class c WHERE c.relnamespace = 'broker'::regnamespace");
	names_add(&d->what, "owners and grants of the relations of schema broker");
	names_add(&d->digest, PQgetvalue(r, 0, 0));
	PQclear(r);
	PQclear(must(c, "COMMIT"));
}

/* Before the workers start: the queues and topics, and the digest. */
void
stranger_begin(void)
{
	PGconn	   *c = connect_as(NULL);
	PGresult   *r;

	load_names(c, "SELECT name FROM broker.queue", NULL, &queues);
	load_names(c, "SELECT name FROM broker.topic", NULL, &topics);
	load_names(c, "SELECT rolname FROM pg_roles WHERE pg_has_role($1, oid, 'USAGE')",
			   stranger_role, &own_roles);
	r = must(c, "SELECT current_database() = ANY (regexp_split_to_array("
			 "btrim(coalesce(current_setting('pgbroker.databases', true), '')), '\\s*,\\s*'))");
	maintained = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
	PQclear(r);
	take_digest(c, &before);
	PQfinish(c);
	printf("fuzz: stranger %s: %d queues and %d topics it was not granted\n",
		   stranger_role, queues.n, topics.n);
}

/* Whether any value of the result is not NULL. */
static bool
shows_something(PGresult *r)
{
	int			i;
	int			j;

	for (i = 0; i < PQntuples(r); i++)
		for (j = 0; j < PQnfields(r); j++)
			if (!PQgetisnull(r, i, j))
				return true;
	return false;
}

/* One call of the stranger: if it succeeded, it touched nothing. */
void
stranger_check(Worker *w, const CallSpec *s, const Call *c, PGresult *r)
{
	const char *arg = s->stranger_arg < c->n ? c->v[s->stranger_arg] : NULL;
	char		why[512] = "";

	pthread_mutex_lock(&mu);
	ncalls_seen++;
	succeeded += result_ok(r);
	pthread_mutex_unlock(&mu);
	if (!result_ok(r))
		return;
	switch (s->stranger)
	{
		case S_NEVER:
			snprintf(why, sizeof(why), "which a role granted nothing may never call");
			break;
		case S_QUEUE:
			if (names_has(&queues, arg))
				snprintf(why, sizeof(why), "on queue '%.200s', which it was not granted", arg);
			break;
		case S_QUEUE_OR_EMPTY:
			if (PQntuples(r) > 0 && names_has(&queues, arg))
				snprintf(why, sizeof(why), "on queue '%.200s', which it was not granted", arg);
			break;
		case S_TOPIC:
			if (names_has(&topics, arg))
				snprintf(why, sizeof(why), "on topic '%.200s', which it was not granted", arg);
			break;
		case S_NOTHING:
			if (shows_something(r))
				snprintf(why, sizeof(why), "and showed %d rows of what it was not granted",
						 PQntuples(r));
			break;
		case S_ASK:
			if ((arg == NULL || strcmp(arg, stranger_role) == 0) &&
				PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "t") == 0)
				snprintf(why, sizeof(why), "and says that %s holds the privilege", stranger_role);
			break;
		case S_SELF:
			if (arg != NULL && !names_has(&own_roles, arg))
				snprintf(why, sizeof(why), "for role %.100s, which it is not", arg);
			break;
		case S_FREE:
			break;
	}
	if (why[0] == '\0')
		return;
	pthread_mutex_lock(&mu);
	touched++;
	pthread_mutex_unlock(&mu);
	violation("stranger %s (worker %d, call %ld): %s succeeded %s",
			  stranger_role, w->id, w->calls, s->name, why);
	print_call(stderr, c);
}

/* After the workers: the database is as it was. */
void
stranger_end(void)
{
	PGconn	   *c = connect_as(NULL);
	Digest		after = {{0}};
	int			changed = 0;
	int			i;
	int			j;

	take_digest(c, &after);
	PQfinish(c);
	if (maintained)
		printf("fuzz: stranger %s: SKIP the comparison of the database: a maintenance worker serves it\n",
			   stranger_role);
	else
	{
		for (i = 0; i < before.what.n; i++)
		{
			for (j = 0; j < after.what.n; j++)
				if (strcmp(before.what.v[i], after.what.v[j]) == 0)
					break;
			if (j == after.what.n)
				violation("stranger %s: %s is gone after its calls", stranger_role, before.what.v[i]);
			else if (strcmp(before.digest.v[i], after.digest.v[j]) != 0)
				violation("stranger %s: %s changed during its calls: %s before, %s after",
						  stranger_role, before.what.v[i], before.digest.v[i], after.digest.v[j]);
			changed += j == after.what.n || strcmp(before.digest.v[i], after.digest.v[j]) != 0;
		}
		for (j = 0; j < after.what.n; j++)
			if (!names_has(&before.what, after.what.v[j]))
			{
				violation("stranger %s: %s appeared during its calls", stranger_role, after.what.v[j]);
				changed++;
			}
	}
	printf("fuzz: stranger %s: %ld of %ld calls succeeded, %ld of them on what it was not granted;"
		   " %d of %d digests of the database changed%s\n",
		   stranger_role, succeeded, ncalls_seen, touched, changed, before.what.n,
		   maintained ? " (not compared)" : "");
	names_free(&after.what);
	names_free(&after.digest);
	names_free(&before.what);
	names_free(&before.digest);
	names_free(&queues);
	names_free(&topics);
	names_free(&own_roles);
}
