/*-------------------------------------------------------------------------
 *
 * queue_cache.c
 *	  Queue lookup by name, and the plans each backend keeps per queue.
 *
 * Every producer and consumer call names its queue.  Resolving the name
 * through SQL on every call would cost a query, so each backend keeps a
 * cache (common.c's name-cache shape) from queue name to the queue's id,
 * settings, message-table OID and the plans kept for that table.  Plans
 * are prepared as generic plans: after the first call on a queue no
 * statement of the hot path is planned again.  Their SQL is written
 * beside the code that runs them; this file only keeps them.
 *
 * An entry is marked stale by any relcache invalidation of its message
 * table: DROP TABLE sends one, and alter_queue() sends one explicitly
 * through broker._queue_changed().  A stale entry re-reads its settings
 * at the next lookup; its plans are kept while the table is the same,
 * since the plan cache revalidates them on its own.
 *
 * Locks: a lookup locks the message table (AccessShareLock, to the end of
 * the transaction) before it returns, so that a drop_queue() committing
 * meanwhile cannot leave the caller with the OID of a table that is gone:
 * the caller gets 42704 instead of an internal error.  The cache is
 * backend memory; a crash leaves nothing.
 *
 * src/queue_cache.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#include "acl.h"
#include "queue.h"

PG_FUNCTION_INFO_V1(pgbroker_queue_changed);

static BrokerNameCache queue_cache;
static SPIPlanPtr lookup_plan = NULL;

/* The columns of the lookup statement. */
enum
{
	LOOKUP_ID = 1,
	LOOKUP_MAX_ATTEMPTS,
	LOOKUP_LEASE,
	LOOKUP_DEDUP_WINDOW,
	LOOKUP_RETRY_BASE,
	LOOKUP_RETRY_MAX,
	LOOKUP_TTL,
	LOOKUP_MAX_LENGTH,
	LOOKUP_DROP_OLDEST,
	LOOKUP_NOTIFY,
	LOOKUP_MAX_MESSAGE_SIZE
};

static const char lookup_sql[] =
"SELECT id, max_attempts, lease, dedup_window, retry_base, retry_max,"
" ttl, max_length, overflow OPERATOR(pg_catalog.=) 'drop_oldest',"
/* a schema before ALTER EXTENSION UPDATE lacks the newer columns */
" COALESCE((pg_catalog.to_jsonb(q) OPERATOR(pg_catalog.->>) 'notify')::pg_catalog.bool, false),"
" COALESCE((pg_catalog.to_jsonb(q) OPERATOR(pg_catalog.->>) 'max_message_size')::pg_catalog.int4, 0)"
" FROM broker.queue q WHERE name OPERATOR(pg_catalog.=) $1";

static BrokerQueue *queue_lookup(const char *name, bool missing_ok);

void
QueueCacheInit(void)
{
	BrokerNameCacheInit(&queue_cache, "pgbroker queues", sizeof(BrokerQueue), NULL);
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

	if (queue_cache.htab == NULL)
		return;
	q = hash_search(queue_cache.htab, name, HASH_FIND, NULL);
	if (q != NULL)
		q->hint_valid = false;
}

/* Copy an interval column of an SPI row into *dst; false if it is NULL. */
static bool
get_interval(HeapTuple tup, TupleDesc desc, int col, Interval *dst)
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
		LockRelationOid(QueueRelid(q), AccessShareLock);
		exists = SearchSysCacheExists1(RELOID, ObjectIdGetDatum(QueueRelid(q)));
		if (exists && (q->entry.valid || tries >= 2))
			return q;
		if (!exists && tries >= 2)
		{
			if (missing_ok)
				return NULL;
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("queue \"%s\" does not exist", name)));
		}
		q->entry.valid = false;
	}
}

/* Free every kept plan of an entry whose queue was dropped and created again. */
static void
queue_forget_plans(BrokerQueue *q)
{
	int			i;

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
	Oid			relid;

	BrokerCheckName(name, "queue");

	q = hash_search(queue_cache.htab, name, HASH_FIND, &found);
	if (found && q->entry.valid)
		return q;

	arg = CStringGetTextDatum(name);
	rc = BrokerExecPlan(BrokerKeptPlan(&lookup_plan, lookup_sql, 1, (Oid[]) {TEXTOID}),
						&arg, NULL, false, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "queue lookup failed: %s", SPI_result_code_string(rc));
	if (SPI_processed == 0)
	{
		if (found)
		{
			if (q->index_cxt != NULL)
				MemoryContextDelete(q->index_cxt);
			hash_search(queue_cache.htab, name, HASH_REMOVE, NULL);
		}
		if (missing_ok)
			return NULL;
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("queue \"%s\" does not exist", name)));
	}

	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	id = DatumGetInt32(SPI_getbinval(tup, desc, LOOKUP_ID, &isnull));
	relid = get_relname_relid(psprintf("queue_%d", id), get_namespace_oid("broker", false));
	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("message table of queue \"%s\" is missing", name),
				 errhint("Drop the queue with broker.drop_queue() and create it again.")));

	if (!found)
	{
		q = hash_search(queue_cache.htab, name, HASH_ENTER, NULL);
		memset(((char *) q) + sizeof(BrokerCacheEntry), 0,
			   sizeof(BrokerQueue) - sizeof(BrokerCacheEntry));
	}
	else if (QueueRelid(q) != relid || q->id != id)
		queue_forget_plans(q);	/* dropped and created again */

	q->id = id;
	q->entry.relid = relid;
	q->max_attempts = DatumGetInt32(SPI_getbinval(tup, desc, LOOKUP_MAX_ATTEMPTS, &isnull));
	get_interval(tup, desc, LOOKUP_LEASE, &q->lease);
	get_interval(tup, desc, LOOKUP_DEDUP_WINDOW, &q->dedup_window);
	get_interval(tup, desc, LOOKUP_RETRY_BASE, &q->retry_base);
	get_interval(tup, desc, LOOKUP_RETRY_MAX, &q->retry_max);
	q->has_ttl = get_interval(tup, desc, LOOKUP_TTL, &q->ttl);
	BrokerClampInterval(&q->dedup_window);
	BrokerClampInterval(&q->retry_base);
	BrokerClampInterval(&q->retry_max);
	BrokerClampInterval(&q->ttl);
	q->max_length = DatumGetInt64(SPI_getbinval(tup, desc, LOOKUP_MAX_LENGTH, &isnull));
	if (isnull)
		q->max_length = 0;
	q->drop_oldest = DatumGetBool(SPI_getbinval(tup, desc, LOOKUP_DROP_OLDEST, &isnull));
	q->notify = DatumGetBool(SPI_getbinval(tup, desc, LOOKUP_NOTIFY, &isnull));
	q->max_message_size = DatumGetInt32(SPI_getbinval(tup, desc, LOOKUP_MAX_MESSAGE_SIZE, &isnull));
	q->acl_holder = BrokerAclHolder('q', id);
	q->columns_known = false;	/* the table may have changed */
	q->entry.valid = true;
	SPI_freetuptable(SPI_tuptable);
	return q;
}

/*
 * The plan kept in a queue's slot, prepared on first use from sql, a
 * format in which %1$d stands for the queue's id (its message table is
 * broker.queue_%1$d).  Operators are schema-qualified where user types are
 * involved, so that no object a user creates can capture them.
 */
SPIPlanPtr
QueuePlan(BrokerQueue *q, QueuePlanSlot slot, const char *sql, int nargs, Oid *argtypes)
{
	if (q->plans[slot] == NULL)
	{
		char	   *text = psprintf(sql, q->id);

		q->plans[slot] = BrokerPrepare(text, nargs, argtypes);
		pfree(text);
	}
	return q->plans[slot];
}

/* broker._queue_changed(relid regclass): settings changed, drop caches. */
Datum
pgbroker_queue_changed(PG_FUNCTION_ARGS)
{
	CacheInvalidateRelcacheByRelid(PG_GETARG_OID(0));
	PG_RETURN_VOID();
}
