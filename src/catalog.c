/*-------------------------------------------------------------------------
 *
 * catalog.c
 *	  Queue lookup by name and the per-queue saved plans.
 *
 * Every producer and consumer call names its queue.  Resolving the name
 * through SQL on every call would cost a query, so each backend keeps a
 * hash table from queue name to the queue's id, settings, message-table
 * OID and the saved SPI plans that operate on that table.  Plans are
 * prepared as generic plans: after the first call on a queue no statement
 * of the hot path is planned again.
 *
 * An entry is marked stale by any relcache invalidation of its message
 * table: DROP TABLE sends one, and alter_queue() sends one explicitly
 * through broker._queue_changed().  A stale entry re-reads its settings
 * at the next lookup; its plans are kept while the table is the same,
 * since the plan cache revalidates them on its own.
 *
 * A lookup locks the message table (AccessShareLock, to the end of the
 * transaction) before it returns, so that a drop_queue() committing
 * meanwhile cannot leave the caller with the OID of a table that is gone:
 * the caller gets 42704 instead of an internal error.
 *
 * Queue names are user text.  They are validated here and only ever
 * compared as values: internal objects are named by the queue's id.
 *
 * src/catalog.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "catalog.h"

static HTAB *queue_cache = NULL;
static SPIPlanPtr lookup_plan = NULL;

static BrokerQueue *queue_lookup(const char *name, bool missing_ok);
static void catalog_relcache_cb(Datum arg, Oid relid);
static SPIPlanPtr catalog_prepare(const char *sql, int nargs, Oid *argtypes);
static char *queue_plan_sql(BrokerQueue *q, QueuePlanKind kind,
							int *nargs, Oid *argtypes);

void
BrokerCatalogInit(void)
{
	HASHCTL		ctl;

	ctl.keysize = PGBROKER_MAX_NAME_LEN + 1;
	ctl.entrysize = sizeof(BrokerQueue);
	ctl.hcxt = CacheMemoryContext;
	queue_cache = hash_create("pgbroker queues", 64, &ctl,
							  HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	CacheRegisterRelcacheCallback(catalog_relcache_cb, (Datum) 0);
}

/*
 * Mark entries stale.  Runs inside invalidation processing: it must not
 * fail or touch the database, so it only flips flags.
 */
static void
catalog_relcache_cb(Datum arg, Oid relid)
{
	HASH_SEQ_STATUS status;
	BrokerQueue *q;

	if (queue_cache == NULL)
		return;
	hash_seq_init(&status, queue_cache);
	while ((q = hash_seq_search(&status)) != NULL)
	{
		if (relid == InvalidOid || q->relid == relid)
			q->valid = false;
	}
}

/*
 * Forget where this backend's claims on a queue stopped: a claim of ours
 * rolled back and its messages are back before that position.  Safe in
 * transaction callbacks (a hash lookup, nothing else).
 */
void
QueueForgetPosition(const char *name)
{
	BrokerQueue *q;

	if (queue_cache == NULL)
		return;
	q = hash_search(queue_cache, name, HASH_FIND, NULL);
	if (q != NULL)
		q->hint_valid = false;
}

/*
 * Validate a queue or topic name: 1 to PGBROKER_MAX_NAME_LEN bytes, no
 * control characters.  Anything else (quotes, spaces, semicolons, any
 * Unicode) is allowed: names are data, never identifiers.
 */
void
BrokerCheckName(const char *name, const char *kind)
{
	size_t		len = strlen(name);
	const unsigned char *p;

	if (len == 0 || len > PGBROKER_MAX_NAME_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_NAME),
				 errmsg("invalid %s name \"%s\"", kind, name),
				 errdetail("Names must be between 1 and %d bytes long.",
						   PGBROKER_MAX_NAME_LEN)));
	for (p = (const unsigned char *) name; *p; p++)
	{
		if (*p < 0x20 || *p == 0x7f)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_NAME),
					 errmsg("invalid %s name \"%s\"", kind, name),
					 errdetail("Names must not contain control characters.")));
	}
}

/* Fetch a text argument that must not be NULL, as a C string. */
char *
BrokerTextArg(FunctionCallInfo fcinfo, int argno, const char *what)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", what)));
	return text_to_cstring(PG_GETARG_TEXT_PP(argno));
}

/*
 * Intervals stored in settings (a dedup window, a ttl, a retry backoff)
 * are added to the current time; one so long that the sum is past the end
 * of timestamptz would make every send, ack or nack of the queue fail.
 * Anything longer than 1000 years means "forever": treat it as 1000 years.
 */
void
BrokerClampInterval(Interval *iv)
{
	Interval	max;

	memset(&max, 0, sizeof(max));
	max.month = 1000 * MONTHS_PER_YEAR;
	if (DatumGetBool(DirectFunctionCall2(interval_gt, IntervalPGetDatum(iv),
										 IntervalPGetDatum(&max))))
		*iv = max;
}

/*
 * Fetch an optional interval argument that must not be negative.  Returns
 * false (leaving *dst alone) if the argument is NULL.
 */
bool
BrokerIntervalArg(FunctionCallInfo fcinfo, int argno, const char *what,
				  Interval *dst)
{
	Interval   *iv;
	Interval	zero;

	if (PG_ARGISNULL(argno))
		return false;
	iv = PG_GETARG_INTERVAL_P(argno);
	memset(&zero, 0, sizeof(zero));
	if (DatumGetBool(DirectFunctionCall2(interval_lt, IntervalPGetDatum(iv),
										 IntervalPGetDatum(&zero))))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be negative", what)));
	*dst = *iv;
	return true;
}

/*
 * Most broker functions pin search_path with a SET clause; the send
 * functions do not (on the common path they run no SQL and look up no name
 * by search path, and the SET clause cost a GUC save and restore per
 * message).  So the SQL pgbroker runs through SPI pins it here, when the
 * caller's differs: the statements see the same objects from every
 * function, and a saved plan is not replanned because its search path
 * changed (plancache checks it on every use).  Returns the GUC nest level
 * to pass to BrokerUnpinSearchPath, or 0 when nothing was pinned.
 */
int
BrokerPinSearchPath(void)
{
	int			nest;

	if (namespace_search_path != NULL &&
		strcmp(namespace_search_path, PGBROKER_SEARCH_PATH) == 0)
		return 0;
	nest = NewGUCNestLevel();
	(void) set_config_option("search_path", PGBROKER_SEARCH_PATH, PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	return nest;
}

/* Undo BrokerPinSearchPath (an error undoes it with the (sub)transaction). */
void
BrokerUnpinSearchPath(int nest)
{
	if (nest > 0)
		AtEOXact_GUC(true, nest);
}

static SPIPlanPtr
catalog_prepare(const char *sql, int nargs, Oid *argtypes)
{
	SPIPlanPtr	plan;
	int			pin = BrokerPinSearchPath();

	plan = SPI_prepare_cursor(sql, nargs, argtypes, CURSOR_OPT_GENERIC_PLAN);
	BrokerUnpinSearchPath(pin);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed for \"%s\": %s",
			 sql, SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "SPI_keepplan failed");
	return plan;
}

/* Copy an interval column of the current SPI row into *dst. */
static bool
catalog_get_interval(HeapTuple tup, TupleDesc desc, int col, Interval *dst)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);

	if (isnull)
		memset(dst, 0, sizeof(Interval));
	else
		memcpy(dst, DatumGetIntervalP(d), sizeof(Interval));
	return !isnull;
}

/*
 * Find a queue by name.  The caller must be connected to SPI.  Raises
 * 42704 if the queue does not exist.  The returned entry lives in the
 * backend's cache and stays valid until the next lookup.
 */
BrokerQueue *
QueueLookup(const char *name)
{
	return QueueLookupExt(name, false);
}

/*
 * As QueueLookup, but returns NULL for a queue that does not exist.
 *
 * The entry may come from the cache, or from a catalog row read before a
 * concurrent drop_queue() committed.  Taking the lock on the message table
 * waits for such a drop and processes its invalidations; if the table is
 * gone (or the entry went stale meanwhile) we look again, which then sees
 * that the queue no longer exists.
 */
BrokerQueue *
QueueLookupExt(const char *name, bool missing_ok)
{
	int			tries;

	for (tries = 0;; tries++)
	{
		BrokerQueue *q = queue_lookup(name, missing_ok);
		bool		exists;

		if (q == NULL)
			return NULL;
		LockRelationOid(q->relid, AccessShareLock);
		exists = SearchSysCacheExists1(RELOID, ObjectIdGetDatum(q->relid));
		if (exists && (q->valid || tries >= 2))
			return q;
		if (!exists && tries >= 2)
		{
			if (missing_ok)
				return NULL;
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("queue \"%s\" does not exist", name)));
		}
		q->valid = false;
	}
}

static BrokerQueue *
queue_lookup(const char *name, bool missing_ok)
{
	BrokerQueue *q;
	bool		found;
	Datum		arg;
	int			rc;
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;
	int32		id;
	Oid			nsp;
	Oid			relid;

	BrokerCheckName(name, "queue");

	q = hash_search(queue_cache, name, HASH_FIND, &found);
	if (found && q->valid)
		return q;

	if (lookup_plan == NULL)
	{
		Oid			argtypes[1] = {TEXTOID};

		lookup_plan = catalog_prepare(
			"SELECT id, max_attempts, lease, dedup_window, retry_base, retry_max,"
			" ttl, max_length, overflow OPERATOR(pg_catalog.=) 'drop_oldest',"
			/* a 0.1.0 schema, before ALTER EXTENSION UPDATE, has no notify */
			" COALESCE((pg_catalog.to_jsonb(q) OPERATOR(pg_catalog.->>) 'notify')::pg_catalog.bool, false)"
			" FROM broker.queue q WHERE name OPERATOR(pg_catalog.=) $1",
			1, argtypes);
	}
	arg = CStringGetTextDatum(name);
	rc = BrokerExecPlan(lookup_plan, &arg, NULL, false, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "queue lookup failed: %s", SPI_result_code_string(rc));
	if (SPI_processed == 0)
	{
		if (found)
		{
			if (q->index_cxt != NULL)
				MemoryContextDelete(q->index_cxt);
			hash_search(queue_cache, name, HASH_REMOVE, NULL);
		}
		if (missing_ok)
			return NULL;
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("queue \"%s\" does not exist", name)));
	}

	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	id = DatumGetInt32(SPI_getbinval(tup, desc, 1, &isnull));
	nsp = get_namespace_oid("broker", false);
	relid = get_relname_relid(psprintf("queue_%d", id), nsp);
	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("message table of queue \"%s\" is missing", name),
				 errhint("Drop the queue with broker.drop_queue() and create it again.")));

	if (!found)
	{
		q = hash_search(queue_cache, name, HASH_ENTER, NULL);
		memset(q->plans, 0, sizeof(q->plans));
		memset(q->claim_plans, 0, sizeof(q->claim_plans));
		memset(q->claim_n, 0, sizeof(q->claim_n));
		q->claim_next = 0;
		q->hint_valid = false;
		q->last_full_scan = 0;
		q->full_scan_ms = 0;
		q->expensive_scans = 0;
		q->index_cxt = NULL;
		q->nindexes = 0;
	}
	else if (q->relid != relid || q->id != id)
	{
		int			i;

		/* The queue was dropped and created again: its plans are void. */
		for (i = 0; i < QPLAN_COUNT; i++)
		{
			if (q->plans[i])
				SPI_freeplan(q->plans[i]);
			q->plans[i] = NULL;
		}
		for (i = 0; i < CLAIM_PLAN_SLOTS; i++)
		{
			if (q->claim_plans[i])
				SPI_freeplan(q->claim_plans[i]);
			q->claim_plans[i] = NULL;
			q->claim_n[i] = 0;
		}
	}

	q->id = id;
	q->relid = relid;
	q->max_attempts = DatumGetInt32(SPI_getbinval(tup, desc, 2, &isnull));
	catalog_get_interval(tup, desc, 3, &q->lease);
	catalog_get_interval(tup, desc, 4, &q->dedup_window);
	catalog_get_interval(tup, desc, 5, &q->retry_base);
	catalog_get_interval(tup, desc, 6, &q->retry_max);
	q->has_ttl = catalog_get_interval(tup, desc, 7, &q->ttl);
	BrokerClampInterval(&q->dedup_window);
	BrokerClampInterval(&q->retry_base);
	BrokerClampInterval(&q->retry_max);
	BrokerClampInterval(&q->ttl);
	q->max_length = DatumGetInt64(SPI_getbinval(tup, desc, 8, &isnull));
	if (isnull)
		q->max_length = 0;
	q->drop_oldest = DatumGetBool(SPI_getbinval(tup, desc, 9, &isnull));
	q->notify = DatumGetBool(SPI_getbinval(tup, desc, 10, &isnull));
	q->columns_known = false;	/* the table may have changed */
	q->valid = true;
	SPI_freetuptable(SPI_tuptable);
	return q;
}

/*
 * Run a saved plan.  With latest_snapshot the statement sees every
 * transaction committed so far even under REPEATABLE READ; message-group
 * bookkeeping needs that, because it runs under a group lock that has just
 * waited for the previous holder to commit.
 */
int
BrokerExecPlan(SPIPlanPtr plan, Datum *values, const char *nulls,
			   bool latest_snapshot, long tcount)
{
	int			rc;
	int			pin = BrokerPinSearchPath();

	if (latest_snapshot)
		rc = SPI_execute_snapshot(plan, values, nulls, GetLatestSnapshot(),
								  InvalidSnapshot, false, false, tcount);
	else
		rc = SPI_execute_plan(plan, values, nulls, false, tcount);
	BrokerUnpinSearchPath(pin);
	if (rc < 0)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
	return rc;
}

/*
 * The claim statement for n messages, with or without a header filter.
 *
 * It only locks the messages (FOR UPDATE SKIP LOCKED, like any SKIP LOCKED
 * queue); the lease is written when the claiming transaction commits
 * (xact.c), so a claim acked in its own transaction writes each message
 * once, by its DELETE.  $1 is the time, $2 the ids this transaction has
 * already claimed (its own row locks do not make SKIP LOCKED skip them),
 * $3 the filter.
 *
 * The LIMIT is a literal: with a parameter, a generic plan assumes 10% of
 * the table is fetched and may prefer sorting the whole backlog to
 * walking the ready index.  A queue keeps CLAIM_PLAN_SLOTS such plans;
 * consumers normally use one or two batch sizes.  With a filter the
 * ordering is written so that no index can provide it: the planner then
 * reads candidates from the GIN index on headers instead of walking the
 * ready index and testing every message.
 */
SPIPlanPtr
QueueClaimPlan(BrokerQueue *q, int32 n, bool filter, bool hinted)
{
	int			i;
	StringInfoData s;
	Oid			argtypes[6] = {TIMESTAMPTZOID, INT8ARRAYOID, JSONBOID,
	INT4OID, TIMESTAMPTZOID, INT8OID};

	Assert(!(filter && hinted));
	for (i = 0; i < CLAIM_PLAN_SLOTS; i++)
	{
		if (q->claim_plans[i] && q->claim_n[i] == n &&
			q->claim_filter[i] == filter && q->claim_hinted[i] == hinted)
			return q->claim_plans[i];
	}
	i = q->claim_next;
	q->claim_next = (q->claim_next + 1) % CLAIM_PLAN_SLOTS;
	if (q->claim_plans[i])
		SPI_freeplan(q->claim_plans[i]);
	q->claim_plans[i] = NULL;

	initStringInfo(&s);
	appendStringInfo(&s,
					 "SELECT id, payload, payload_bytes, COALESCE(headers, '{}'::pg_catalog.jsonb),"
					 " attempt OPERATOR(pg_catalog.+) 1, priority, group_key, dedup_key,"
					 " enqueued_at, lease_until IS NOT NULL, vis"
					 " FROM broker.queue_%d"
					 " WHERE (group_key IS NULL OR group_head)"
					 " AND vis OPERATOR(pg_catalog.<=) $1"
					 " AND (lease_until IS NULL OR lease_until OPERATOR(pg_catalog.<=) $1)"
					 " AND (expires_at IS NULL OR expires_at OPERATOR(pg_catalog.>) $1)"
					 " AND id OPERATOR(pg_catalog.<>) ALL ($2)", q->id);
	if (filter)
		appendStringInfoString(&s,
							   " AND headers OPERATOR(pg_catalog.@>) $3"
							   " AND headers IS NOT NULL"
							   " ORDER BY priority OPERATOR(pg_catalog.-) 0 DESC, vis, id");
	else if (hinted)
		appendStringInfoString(&s,
							   " AND $3 IS NULL"
							   " AND ROW(OPERATOR(pg_catalog.-) priority, vis, id)"
							   " OPERATOR(pg_catalog.>) ROW($4, $5, $6)"
							   " ORDER BY (OPERATOR(pg_catalog.-) priority), vis, id");
	else
		appendStringInfoString(&s, " ORDER BY (OPERATOR(pg_catalog.-) priority), vis, id");
	appendStringInfo(&s, " LIMIT %d FOR UPDATE SKIP LOCKED", n);

	q->claim_plans[i] = catalog_prepare(s.data, hinted ? 6 : (filter ? 3 : 2), argtypes);
	q->claim_n[i] = n;
	q->claim_filter[i] = filter;
	q->claim_hinted[i] = hinted;
	pfree(s.data);
	return q->claim_plans[i];
}

/* The saved plan of the given kind for this queue, prepared on first use. */
SPIPlanPtr
QueuePlan(BrokerQueue *q, QueuePlanKind kind)
{
	if (q->plans[kind] == NULL)
	{
		Oid			argtypes[16];
		int			nargs = 0;
		char	   *sql = queue_plan_sql(q, kind, &nargs, argtypes);

		q->plans[kind] = catalog_prepare(sql, nargs, argtypes);
		pfree(sql);
	}
	return q->plans[kind];
}

#define ARGS(...) \
	do { \
		Oid _a[] = {__VA_ARGS__}; \
		*nargs = lengthof(_a); \
		memcpy(argtypes, _a, sizeof(_a)); \
	} while (0)

/*
 * The SQL of each plan.  Operators are schema-qualified where user types
 * are involved, so that no object a user creates can capture them.  The
 * current time is always passed in ($now) rather than read with now(): a
 * claim that waits must compare against the time of each attempt, not the
 * start of its transaction.
 */
static char *
queue_plan_sql(BrokerQueue *q, QueuePlanKind kind, int *nargs, Oid *argtypes)
{
	StringInfoData s;
	int			id = q->id;

	initStringInfo(&s);
	switch (kind)
	{
		case QPLAN_DEDUP_TAKE:
			/* $1 key $2 message id $3 now */
			ARGS(TEXTOID, INT8OID, TIMESTAMPTZOID);
			appendStringInfo(&s,
							 "INSERT INTO broker.dedup AS d (queue_id, dedup_key, message_id)"
							 " VALUES (%d, $1, $2)"
							 " ON CONFLICT (queue_id, dedup_key) DO UPDATE"
							 " SET message_id = excluded.message_id, expires_at = NULL"
							 " WHERE d.expires_at IS NOT NULL AND d.expires_at OPERATOR(pg_catalog.<=) $3"
							 " RETURNING message_id", id);
			break;
		case QPLAN_DEDUP_GET:
			ARGS(TEXTOID);
			appendStringInfo(&s,
							 "SELECT message_id FROM broker.dedup"
							 " WHERE queue_id OPERATOR(pg_catalog.=) %d"
							 " AND dedup_key OPERATOR(pg_catalog.=) $1", id);
			break;
		case QPLAN_DEDUP_ACKED:
			/* $1 key $2 id $3 window $4 now */
			ARGS(TEXTOID, INT8OID, INTERVALOID, TIMESTAMPTZOID);
			appendStringInfo(&s,
							 "UPDATE broker.dedup SET expires_at = $4 OPERATOR(pg_catalog.+) $3"
							 " WHERE queue_id OPERATOR(pg_catalog.=) %d"
							 " AND dedup_key OPERATOR(pg_catalog.=) $1"
							 " AND message_id OPERATOR(pg_catalog.=) $2", id);
			break;
		case QPLAN_DEDUP_FORGET:
			ARGS(TEXTOID, INT8OID);
			appendStringInfo(&s,
							 "DELETE FROM broker.dedup"
							 " WHERE queue_id OPERATOR(pg_catalog.=) %d"
							 " AND dedup_key OPERATOR(pg_catalog.=) $1"
							 " AND message_id OPERATOR(pg_catalog.=) $2", id);
			break;
		case QPLAN_GROUP_EXISTS:
			ARGS(TEXTOID);
			appendStringInfo(&s,
							 "SELECT EXISTS (SELECT 1 FROM broker.queue_%d"
							 " WHERE group_key OPERATOR(pg_catalog.=) $1)", id);
			break;
		case QPLAN_GROUP_PROMOTE:
			ARGS(TEXTOID);
			appendStringInfo(&s,
							 "UPDATE broker.queue_%d SET group_head = true"
							 " WHERE id OPERATOR(pg_catalog.=) (SELECT id FROM broker.queue_%d"
							 "   WHERE group_key OPERATOR(pg_catalog.=) $1 ORDER BY id LIMIT 1)"
							 " AND NOT EXISTS (SELECT 1 FROM broker.queue_%d"
							 "   WHERE group_key OPERATOR(pg_catalog.=) $1 AND group_head)"
							 " RETURNING id", id, id, id);
			break;
		case QPLAN_LENGTH:
			ARGS(INT8OID);
			appendStringInfo(&s,
							 "SELECT pg_catalog.count(*) FROM"
							 " (SELECT 1 FROM broker.queue_%d LIMIT $1) s", id);
			break;
		case QPLAN_DROP_OLDEST:
			/* $1 count $2 now */
			ARGS(INT8OID, TIMESTAMPTZOID);
			appendStringInfo(&s,
							 "DELETE FROM broker.queue_%d WHERE id OPERATOR(pg_catalog.=) ANY"
							 " (SELECT id FROM broker.queue_%d"
							 "   WHERE lease_until IS NULL OR lease_until OPERATOR(pg_catalog.<=) $2"
							 "   ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED)"
							 " RETURNING id, group_key, group_head, dedup_key", id, id);
			break;
		case QPLAN_NEXT_DUE:
			/*
			 * $1 now.  The earliest delay or lease end among the first
			 * rows of the ready index, where leased messages come first
			 * and delayed ones follow in the order they are due, and
			 * whether that was all of them (then the answer is exact).
			 */
			ARGS(TIMESTAMPTZOID);
			appendStringInfo(&s,
							 "SELECT pg_catalog.min(GREATEST(s.vis, s.lease_until))"
							 "   FILTER (WHERE GREATEST(s.vis, s.lease_until) OPERATOR(pg_catalog.>) $1),"
							 " pg_catalog.count(*) OPERATOR(pg_catalog.<) 100 FROM"
							 " (SELECT vis, lease_until FROM broker.queue_%d"
							 "   WHERE group_key IS NULL OR group_head"
							 "   ORDER BY (OPERATOR(pg_catalog.-) priority), vis, id LIMIT 100) s", id);
			break;
		case QPLAN_LEASE:
			/*
			 * $1 ids $2 attempts $3 receipts $4 lease ends.  Only unindexed
			 * columns change, so this is a HOT update.  A lease found
			 * expired is recorded in the history here, where the message
			 * is next delivered.
			 */
			ARGS(INT8ARRAYOID, INT4ARRAYOID, UUIDARRAYOID, TIMESTAMPTZARRAYOID);
			appendStringInfo(&s,
							 "UPDATE broker.queue_%d m SET attempt = x.attempt,"
							 " lease_until = x.lease_until, receipt = x.receipt,"
							 " last_error = CASE WHEN m.lease_until IS NULL THEN m.last_error"
							 "   ELSE 'lease expired' END,"
							 " history = CASE WHEN m.lease_until IS NULL THEN m.history"
							 "   ELSE COALESCE(m.history, '[]'::pg_catalog.jsonb)"
							 "   OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object("
							 "   'attempt', m.attempt, 'error', 'lease expired', 'at', m.lease_until) END"
							 " FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2),"
							 "   pg_catalog.unnest($3), pg_catalog.unnest($4)) AS x(id, attempt, receipt, lease_until)"
							 " WHERE m.id OPERATOR(pg_catalog.=) x.id", id);
			break;
		case QPLAN_ACK:
			/* $1 id $2 receipt */
			ARGS(INT8OID, UUIDOID);
			appendStringInfo(&s,
							 "DELETE FROM broker.queue_%d WHERE id OPERATOR(pg_catalog.=) $1"
							 " AND ($2 IS NULL OR receipt OPERATOR(pg_catalog.=) $2)"
							 " RETURNING id, group_key, group_head, dedup_key", id);
			break;
		case QPLAN_ACK_MANY:
			ARGS(INT8ARRAYOID);
			appendStringInfo(&s,
							 "DELETE FROM broker.queue_%d WHERE id OPERATOR(pg_catalog.=) ANY ($1)"
							 " RETURNING id, group_key, group_head, dedup_key", id);
			break;
		case QPLAN_NACK:
			/*
			 * $1 id $2 receipt $3 retry_in $4 error $5 now $6 max_attempts
			 * $7 retry_base $8 retry_max $9 attempt (the delivery being
			 * nacked when it was claimed in this transaction, whose lease
			 * is not written yet; NULL: the row's own)
			 */
			ARGS(INT8OID, UUIDOID, INTERVALOID, TEXTOID, TIMESTAMPTZOID, INT4OID,
				 INTERVALOID, INTERVALOID, INT4OID);
			appendStringInfo(&s,
							 "UPDATE broker.queue_%d m SET lease_until = NULL, receipt = NULL,"
							 " attempt = COALESCE($9, m.attempt),"
							 " vis = $5 OPERATOR(pg_catalog.+) COALESCE($3,"
							 "   LEAST($8, $7 OPERATOR(pg_catalog.*)"
							 "   pg_catalog.power(2::float8, LEAST(GREATEST(COALESCE($9, m.attempt) - 1, 0), 40))::float8)),"
							 " last_error = $4,"
							 " history = COALESCE(m.history, '[]'::pg_catalog.jsonb)"
							 "   OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object("
							 "   'attempt', COALESCE($9, m.attempt), 'error', $4, 'at', $5)"
							 " WHERE m.id OPERATOR(pg_catalog.=) $1"
							 " AND ($2 IS NULL OR m.receipt OPERATOR(pg_catalog.=) $2)"
							 " AND COALESCE($9, m.attempt) OPERATOR(pg_catalog.<) $6"
							 " RETURNING m.id, m.vis", id);
			break;
		case QPLAN_EXTEND:
			/* $1 id $2 receipt $3 lease $4 now */
			ARGS(INT8OID, UUIDOID, INTERVALOID, TIMESTAMPTZOID);
			appendStringInfo(&s,
							 "UPDATE broker.queue_%d SET lease_until = $4 OPERATOR(pg_catalog.+) $3"
							 " WHERE id OPERATOR(pg_catalog.=) $1"
							 " AND receipt OPERATOR(pg_catalog.=) $2"
							 " AND lease_until IS NOT NULL"
							 " RETURNING lease_until", id);
			break;
		case QPLAN_DEAD_LETTER:
			/* $1 id $2 receipt $3 reason $4 error $5 now $6 attempt adjustment
			 * $7 least attempt */
			ARGS(INT8OID, UUIDOID, TEXTOID, TEXTOID, TIMESTAMPTZOID, INT4OID, INT4OID);
			appendStringInfo(&s,
							 "WITH d AS (DELETE FROM broker.queue_%d m"
							 "  WHERE m.id OPERATOR(pg_catalog.=) $1"
							 "  AND ($2 IS NULL OR m.receipt OPERATOR(pg_catalog.=) $2)"
							 "  AND m.attempt OPERATOR(pg_catalog.>=) $7"
							 "  RETURNING m.*),"
							 " i AS (INSERT INTO broker.dead_letter (queue_id, id, payload,"
							 "  payload_bytes, headers, priority, group_key, dedup_key, enqueued_at,"
							 "  attempts, last_error, history, reason, dead_at)"
							 "  SELECT %d, d.id, d.payload, d.payload_bytes,"
							 "  COALESCE(d.headers, '{}'::pg_catalog.jsonb), d.priority,"
							 "  d.group_key, d.dedup_key, d.enqueued_at, d.attempt OPERATOR(pg_catalog.+) $6,"
							 "  COALESCE($4, d.last_error),"
							 "  CASE WHEN $4 IS NULL THEN d.history"
							 "  ELSE COALESCE(d.history, '[]'::pg_catalog.jsonb)"
							 "  OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object("
							 "  'attempt', d.attempt OPERATOR(pg_catalog.+) $6, 'error', $4, 'at', $5) END,"
							 "  $3, $5 FROM d)"
							 " SELECT d.id, d.group_key, d.group_head, d.dedup_key FROM d",
							 id, id);
			break;
		case QPLAN_RECORD_ROLLBACK:
			/*
			 * $1 id $2 attempt $3 now.  The message stays claimable at
			 * once: a rollback gives it back immediately, it only counts.
			 * A message locked by another transaction has been claimed
			 * again, and that claim counts the delivery: skip it rather
			 * than wait (two sessions recording rollbacks of messages the
			 * other now holds would deadlock).
			 */
			ARGS(INT8OID, INT4OID, TIMESTAMPTZOID);
			appendStringInfo(&s,
							 "UPDATE broker.queue_%d m SET attempt = $2, lease_until = NULL,"
							 " receipt = NULL, last_error = 'transaction rolled back',"
							 " history = COALESCE(m.history, '[]'::pg_catalog.jsonb)"
							 "   OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object("
							 "   'attempt', $2, 'error', 'transaction rolled back', 'at', $3)"
							 " WHERE m.id OPERATOR(pg_catalog.=) $1"
							 " AND m.id IN (SELECT l.id FROM broker.queue_%d l"
							 "   WHERE l.id OPERATOR(pg_catalog.=) $1 FOR UPDATE SKIP LOCKED)"
							 " AND m.attempt OPERATOR(pg_catalog.=) $2 - 1"
							 " AND (m.lease_until IS NULL OR m.lease_until OPERATOR(pg_catalog.<=) $3)"
							 " RETURNING m.attempt", id, id);
			break;
		case QPLAN_COUNT:
			elog(ERROR, "invalid plan kind");
	}
	return s.data;
}
