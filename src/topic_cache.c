/*-------------------------------------------------------------------------
 *
 * topic_cache.c
 *	  A topic as a backend knows it: its settings by name, and the segment
 *	  its producers append to.
 *
 * Both are per-backend caches read on every publish and at every commit
 * that appends.  alter_topic, drop_topic and segment rotation invalidate
 * the relcache entry of broker.topic (broker._topic_changed()), which
 * marks every cached topic and segment stale (common.c's name-cache
 * shape, with broker.topic as its catalog table); a stale entry is read
 * again, with the latest snapshot, at its next use.  A counter of such
 * invalidations lets a lookup that raced one leave its entry stale.
 *
 * Locks: none of its own.  The current segment is read under the topic
 * lock its caller (topic_append.c) holds.  Backend memory only; nothing
 * survives a crash.
 *
 * src/topic_cache.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "access/stratnum.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "acl.h"
#include "scan.h"
#include "topic.h"

PG_FUNCTION_INFO_V1(pgbroker_topic_changed);
PG_FUNCTION_INFO_V1(pgbroker_check_partition);

static BrokerNameCache topic_cache;
static HTAB *segment_cache = NULL;
static SPIPlanPtr lookup_plan = NULL;
static SPIPlanPtr segment_plan = NULL;

/* The columns of the lookup statement. */
enum
{
	LOOKUP_ID = 1,
	LOOKUP_PARTITIONS,
	LOOKUP_DEDUP_WINDOW,
	LOOKUP_NOTIFY,
	LOOKUP_MAX_MESSAGE_SIZE
};

/* The columns of the current-segment statement. */
enum
{
	SEGMENT_PARTITIONS = 1,
	SEGMENT_SEG_NO,
	SEGMENT_START_OFFSETS
};

/* Mark every cached segment stale (from a relcache callback: flags only). */
static void
segments_invalidate(void)
{
	HASH_SEQ_STATUS status;
	TopicSegment *c;

	if (segment_cache == NULL)
		return;
	hash_seq_init(&status, segment_cache);
	while ((c = hash_seq_search(&status)) != NULL)
		c->valid = false;
}

void
TopicCacheInit(void)
{
	BrokerNameCacheInit(&topic_cache, "pgbroker topics", sizeof(BrokerTopic),
						segments_invalidate);
}

/* Look a topic up by name (SPI connected); raises 42704 if there is none. */
BrokerTopic *
TopicLookup(const char *name)
{
	BrokerTopic *t;
	bool		found;
	Datum		arg;
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;
	Interval   *window;
	uint64		gen;

	BrokerCheckName(name, "topic");
	t = hash_search(topic_cache.htab, name, HASH_FIND, &found);
	if (found && t->entry.valid)
		return t;

	if (!OidIsValid(topic_cache.catalog_relid))
		topic_cache.catalog_relid = get_relname_relid("topic", get_namespace_oid("broker", false));
	arg = CStringGetTextDatum(name);
	gen = topic_cache.resets;
	/* the latest snapshot: the entry outlives this transaction */
	BrokerExecPlan(BrokerKeptPlan(&lookup_plan,
								  "SELECT id, partitions, dedup_window, notify,"
	/* a schema before ALTER EXTENSION UPDATE lacks the newer columns */
								  " COALESCE((pg_catalog.to_jsonb(t) OPERATOR(pg_catalog.->>)"
								  "   'max_message_size')::pg_catalog.int4, 0)"
								  " FROM broker.topic t WHERE name OPERATOR(pg_catalog.=) $1",
								  1, (Oid[]) {TEXTOID}),
				   &arg, NULL, true, 1);
	if (SPI_processed == 0)
	{
		if (found)
			hash_search(topic_cache.htab, name, HASH_REMOVE, NULL);
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("topic \"%s\" does not exist", name)));
	}
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	if (!found)
	{
		t = hash_search(topic_cache.htab, name, HASH_ENTER, NULL);
		t->entry.relid = InvalidOid;
	}
	t->id = DatumGetInt32(SPI_getbinval(tup, desc, LOOKUP_ID, &isnull));
	t->partitions = DatumGetInt32(SPI_getbinval(tup, desc, LOOKUP_PARTITIONS, &isnull));
	window = DatumGetIntervalP(SPI_getbinval(tup, desc, LOOKUP_DEDUP_WINDOW, &isnull));
	t->dedup_window = *window;
	BrokerClampInterval(&t->dedup_window);
	t->has_dedup = (window->time > 0 || window->day > 0 || window->month > 0);
	t->notify = DatumGetBool(SPI_getbinval(tup, desc, LOOKUP_NOTIFY, &isnull));
	t->max_message_size = DatumGetInt32(SPI_getbinval(tup, desc, LOOKUP_MAX_MESSAGE_SIZE,
													  &isnull));
	t->acl_holder = BrokerAclHolder('t', t->id);
	/* an invalidation that arrived during the lookup leaves it stale */
	t->entry.valid = (gen == topic_cache.resets);
	SPI_freetuptable(SPI_tuptable);
	return t;
}

/* The table of a segment, or InvalidOid if it is gone. */
Oid
TopicSegmentRelid(int32 topic_id, int32 seg_no)
{
	char		relname[NAMEDATALEN];

	snprintf(relname, sizeof(relname), "topic_%d_%d", topic_id, seg_no);
	return get_relname_relid(relname, get_namespace_oid("broker", false));
}

/*
 * The current segment of a topic, from the cache or (with the latest
 * snapshot) from the catalog.  Called holding the topic lock, SPI
 * connected.
 */
TopicSegment *
TopicCurrentSegment(int32 topic_id, const char *topic)
{
	TopicSegment *c;
	bool		found;
	Datum		arg = Int32GetDatum(topic_id);
	HeapTuple	tup;
	TupleDesc	tdesc;
	bool		isnull;
	Datum	   *starts;
	int			nstarts;
	int			i;
	uint64		gen;

	if (segment_cache == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(int32);
		ctl.entrysize = sizeof(TopicSegment);
		ctl.hcxt = CacheMemoryContext;
		segment_cache = hash_create("pgbroker segments", 64, &ctl,
									HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	c = hash_search(segment_cache, &topic_id, HASH_ENTER, &found);
	if (!found)
	{
		c->valid = false;
		c->starts = NULL;
		c->hints = NULL;
	}
	if (c->valid && OidIsValid(c->relid))
		return c;
	gen = topic_cache.resets;

	BrokerExecPlan(BrokerKeptPlan(&segment_plan,
								  "SELECT t.partitions, s.seg_no, s.start_offsets"
								  " FROM broker.topic t JOIN broker.segment s"
								  "   ON s.topic_id OPERATOR(pg_catalog.=) t.id"
								  " WHERE t.id OPERATOR(pg_catalog.=) $1"
								  " AND s.start_offsets IS NOT NULL AND s.sealed_at IS NULL",
								  1, (Oid[]) {INT4OID}),
				   &arg, NULL, true, 1);
	if (SPI_processed == 0)
	{
		hash_search(segment_cache, &topic_id, HASH_REMOVE, NULL);
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("topic \"%s\" was dropped before the transaction committed",
						topic)));
	}
	tup = SPI_tuptable->vals[0];
	tdesc = SPI_tuptable->tupdesc;
	c->partitions = DatumGetInt32(SPI_getbinval(tup, tdesc, SEGMENT_PARTITIONS, &isnull));
	c->seg_no = DatumGetInt32(SPI_getbinval(tup, tdesc, SEGMENT_SEG_NO, &isnull));
	deconstruct_array(DatumGetArrayTypeP(SPI_getbinval(tup, tdesc, SEGMENT_START_OFFSETS,
													   &isnull)),
					  INT8OID, 8, true, TYPALIGN_DOUBLE, &starts, NULL, &nstarts);
	if (c->starts != NULL)
		pfree(c->starts);
	c->starts = NULL;
	c->starts = MemoryContextAlloc(CacheMemoryContext, sizeof(int64) * Max(nstarts, 1));
	for (i = 0; i < nstarts; i++)
		c->starts[i] = DatumGetInt64(starts[i]);
	c->nstarts = nstarts;
	if (c->hints != NULL)
		pfree(c->hints);
	c->hints = NULL;
	c->hints = MemoryContextAlloc(CacheMemoryContext, sizeof(int64) * c->partitions);
	for (i = 0; i < c->partitions; i++)
		c->hints[i] = -1;
	SPI_freetuptable(SPI_tuptable);

	c->relid = TopicSegmentRelid(topic_id, c->seg_no);
	if (!OidIsValid(c->relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("segment %d of topic \"%s\" is missing", c->seg_no, topic)));
	/* an invalidation that arrived during the lookup leaves it stale */
	c->valid = (gen == topic_cache.resets);
	return c;
}

/*
 * Whether a topic's row exists, with a new snapshot, and its partition
 * count.
 */
bool
TopicPartitionsById(int32 topic_id, int32 *partitions)
{
	BrokerIndexScan sc;
	ScanKeyData key;
	bool		found;

	BrokerScanOpen(&sc, "topic", "topic_pkey", false);
	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_INT4EQ, Int32GetDatum(topic_id));
	BrokerScanStart(&sc, NULL, &key, 1);
	found = BrokerScanNext(&sc, ForwardScanDirection);
	if (found && partitions != NULL)
	{
		bool		isnull;

		*partitions = DatumGetInt32(slot_getattr(sc.slot,
												 get_attnum(RelationGetRelid(sc.rel), "partitions"),
												 &isnull));
	}
	BrokerScanEnd(&sc);
	return found;
}


/* broker._topic_changed(): make every backend reload its topic settings. */
Datum
pgbroker_topic_changed(PG_FUNCTION_ARGS)
{
	Oid			relid = get_relname_relid("topic", get_namespace_oid("broker", false));

	CacheInvalidateRelcacheByRelid(relid);
	PG_RETURN_VOID();
}

/*
 * broker._check_partition(t broker.topic, partition int): the same check
 * and error as the C functions', for the PL/pgSQL ones.
 */
Datum
pgbroker_check_partition(PG_FUNCTION_ARGS)
{
	HeapTupleHeader t;
	bool		isnull;
	Datum		partitions;
	Datum		name;

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("partition must not be null")));
	if (PG_ARGISNULL(0))
		PG_RETURN_VOID();
	t = PG_GETARG_HEAPTUPLEHEADER(0);
	partitions = GetAttributeByName(t, "partitions", &isnull);
	if (isnull)
		PG_RETURN_VOID();
	name = GetAttributeByName(t, "name", &isnull);
	BrokerCheckPartition(PG_GETARG_INT32(1), DatumGetInt32(partitions),
						 isnull ? "" : TextDatumGetCString(name));
	PG_RETURN_VOID();
}
