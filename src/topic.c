/*-------------------------------------------------------------------------
 *
 * topic.c
 *	  Topics: the per-backend cache of topic settings, the lock tags that
 *	  order appends, and the publish functions.
 *
 * publish() does not write the record: it checks it, picks its partition
 * and hands it to append.c, which appends it to the log when the
 * transaction commits (see the header of append.c for why).
 *
 * Partitions: an explicit partition wins; else a record with a key goes to
 * hashtextextended(key, 0), read as an unsigned 64-bit number, modulo the
 * partition count (broker.partition_for() computes it); else the record
 * goes to this transaction's sticky partition of the topic, so that a
 * transaction without keys takes one partition lock at commit.
 *
 * src/topic.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "tcop/utility.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "catalog.h"
#include "pgbroker.h"
#include "queue.h"
#include "topic.h"

PG_FUNCTION_INFO_V1(pgbroker_publish);
PG_FUNCTION_INFO_V1(pgbroker_publish_batch);
PG_FUNCTION_INFO_V1(pgbroker_partition_for);
PG_FUNCTION_INFO_V1(pgbroker_lock_topic);
PG_FUNCTION_INFO_V1(pgbroker_topic_changed);
PG_FUNCTION_INFO_V1(pgbroker_lock_segment);

static HTAB *topic_cache = NULL;
static SPIPlanPtr topic_lookup_plan = NULL;
static SPIPlanPtr dedup_plan = NULL;
static Oid	topic_table_relid = InvalidOid;
static uint64 topic_inval_count = 0;	/* invalidations seen */

static void topic_relcache_cb(Datum arg, Oid relid);

void
TopicCatalogInit(void)
{
	HASHCTL		ctl;

	ctl.keysize = PGBROKER_MAX_NAME_LEN + 1;
	ctl.entrysize = sizeof(BrokerTopic);
	ctl.hcxt = CacheMemoryContext;
	topic_cache = hash_create("pgbroker topics", 64, &ctl,
							  HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	CacheRegisterRelcacheCallback(topic_relcache_cb, (Datum) 0);
}

/*
 * alter_topic and drop_topic invalidate the relcache entry of broker.topic
 * (broker._topic_changed()); that marks every cached topic stale.
 */
static void
topic_relcache_cb(Datum arg, Oid relid)
{
	HASH_SEQ_STATUS status;
	BrokerTopic *t;

	if (topic_cache == NULL)
		return;
	if (relid != InvalidOid && relid != topic_table_relid)
		return;
	topic_inval_count++;
	TopicSegmentsInvalidate();
	hash_seq_init(&status, topic_cache);
	while ((t = hash_seq_search(&status)) != NULL)
		t->valid = false;
}

static SPIPlanPtr
topic_prepare(const char *sql, int nargs, Oid *argtypes)
{
	SPIPlanPtr	plan = SPI_prepare(sql, nargs, argtypes);

	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	SPI_keepplan(plan);
	return plan;
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
	t = hash_search(topic_cache, name, HASH_FIND, &found);
	if (found && t->valid)
		return t;

	if (!OidIsValid(topic_table_relid))
		topic_table_relid = get_relname_relid("topic", get_namespace_oid("broker", false));
	if (topic_lookup_plan == NULL)
		topic_lookup_plan = topic_prepare(
			"SELECT id, partitions, dedup_window, notify FROM broker.topic"
			" WHERE name OPERATOR(pg_catalog.=) $1",
			1, (Oid[]) {TEXTOID});
	arg = CStringGetTextDatum(name);
	gen = topic_inval_count;
	/* the latest snapshot: the entry outlives this transaction */
	BrokerExecPlan(topic_lookup_plan, &arg, NULL, true, 1);
	if (SPI_processed == 0)
	{
		if (found)
			hash_search(topic_cache, name, HASH_REMOVE, NULL);
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("topic \"%s\" does not exist", name)));
	}
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	if (!found)
		t = hash_search(topic_cache, name, HASH_ENTER, NULL);
	t->id = DatumGetInt32(SPI_getbinval(tup, desc, 1, &isnull));
	t->partitions = DatumGetInt32(SPI_getbinval(tup, desc, 2, &isnull));
	window = DatumGetIntervalP(SPI_getbinval(tup, desc, 3, &isnull));
	t->dedup_window = *window;
	BrokerClampInterval(&t->dedup_window);
	t->has_dedup = (window->time > 0 || window->day > 0 || window->month > 0);
	t->notify = DatumGetBool(SPI_getbinval(tup, desc, 4, &isnull));
	/* an invalidation that arrived during the lookup leaves it stale */
	t->valid = (gen == topic_inval_count);
	SPI_freetuptable(SPI_tuptable);
	return t;
}

/*
 * Producers hold the topic lock in RowExclusiveLock (they do not conflict)
 * while they append at commit; rotation and drop_topic take it in
 * ExclusiveLock to wait for them.  Each partition has a lock of its own,
 * held in ExclusiveLock from the append until the commit is visible.
 */
void
TopicLockTag(LOCKTAG *tag, int32 topic_id)
{
	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, (uint32) topic_id, 0,
						 PGBROKER_LOCK_TOPIC);
}

void
TopicPartitionLockTag(LOCKTAG *tag, int32 topic_id, int32 partition)
{
	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, (uint32) topic_id,
						 (uint32) partition, PGBROKER_LOCK_PARTITION);
}

/* How many invalidations of the topic catalog this backend has seen. */
uint64
TopicInvalCount(void)
{
	return topic_inval_count;
}

/* The table of a segment, or InvalidOid if it is gone. */
Oid
TopicSegmentRelid(int32 topic_id, int32 seg_no)
{
	char		relname[NAMEDATALEN];

	snprintf(relname, sizeof(relname), "topic_%d_%d", topic_id, seg_no);
	return get_relname_relid(relname, get_namespace_oid("broker", false));
}

static int32
topic_key_partition(BrokerTopic *t, const char *key)
{
	uint64		h = DatumGetUInt64(hash_bytes_extended((const unsigned char *) key,
													   strlen(key), 0));

	return (int32) (h % (uint64) t->partitions);
}

static int32
topic_partition_arg(FunctionCallInfo fcinfo, int argno, BrokerTopic *t)
{
	int32		p = PG_GETARG_INT32(argno);

	if (p < 0 || p >= t->partitions)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("partition %d is out of range for topic \"%s\"", p, t->name),
				 errdetail("The topic has %d partitions, numbered from 0.",
						   t->partitions)));
	return p;
}

/*
 * A dedup key seen on the topic within its dedup window drops the record.
 * The key is taken in the producer's transaction, so a concurrent
 * producer of the same key waits for it and then sees it.
 */
static bool
topic_dedup_take(BrokerTopic *t, const char *dedup_key)
{
	Datum		values[4];
	TimestampTz now = GetCurrentTimestamp();

	if (!t->has_dedup)
		return true;
	if (strlen(dedup_key) > PGBROKER_MAX_KEY_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("dedup_key is longer than %d bytes", PGBROKER_MAX_KEY_LEN)));
	if (dedup_plan == NULL)
		dedup_plan = topic_prepare(
			"INSERT INTO broker.topic_dedup AS d (topic_id, dedup_key, expires_at)"
			" VALUES ($1, $2, $3)"
			" ON CONFLICT (topic_id, dedup_key) DO UPDATE SET expires_at = EXCLUDED.expires_at"
			" WHERE d.expires_at OPERATOR(pg_catalog.<=) $4"
			" RETURNING 1",
			4, (Oid[]) {INT4OID, TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID});
	values[0] = Int32GetDatum(t->id);
	values[1] = CStringGetTextDatum(dedup_key);
	values[2] = DirectFunctionCall2(timestamptz_pl_interval, TimestampTzGetDatum(now),
									IntervalPGetDatum(&t->dedup_window));
	values[3] = TimestampTzGetDatum(now);
	BrokerExecPlan(dedup_plan, values, NULL, false, 0);
	return SPI_processed == 1;
}

static Jsonb *
topic_headers(FunctionCallInfo fcinfo, int argno)
{
	Jsonb	   *h = QueueHeadersArg(fcinfo, argno, "headers");

	/* no headers are stored as NULL */
	if (h != NULL && JB_ROOT_COUNT(h) == 0)
		h = NULL;
	return h;
}

static void
topic_check_record(bool payload_null, const char *key)
{
	if (payload_null && key == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("payload must not be null for a record without a key"),
				 errhint("A record with a key and a null payload is a tombstone; without a key it means nothing.")));
}

/*
 * broker.publish(topic text, payload jsonb, key text, headers jsonb,
 *				  partition int, dedup_key text) RETURNS void
 * broker.publish_bytes(topic text, payload bytea, ...) RETURNS void
 */
Datum
pgbroker_publish(PG_FUNCTION_ARGS)
{
	char	   *name = BrokerTextArg(fcinfo, 0, "topic name");
	bool		is_bytes = get_fn_expr_argtype(fcinfo->flinfo, 1) == BYTEAOID;
	char	   *key = PG_ARGISNULL(2) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(2));
	Jsonb	   *headers = topic_headers(fcinfo, 3);
	Datum		payload = PG_ARGISNULL(1) ? (Datum) 0 : PG_GETARG_DATUM(1);
	BrokerTopic *t;
	int32		partition;

	PreventCommandIfReadOnly("broker.publish()");
	PreventCommandDuringRecovery("broker.publish()");
	topic_check_record(PG_ARGISNULL(1), key);
	if (payload != (Datum) 0 || headers != NULL)
		QueueCheckPayload(payload != (Datum) 0 ? payload : PointerGetDatum(cstring_to_text("")),
						  headers ? JsonbPGetDatum(headers) : (Datum) 0);

	SPI_connect();
	BrokerEnterCall();
	t = TopicLookup(name);
	if (!PG_ARGISNULL(4))
		partition = topic_partition_arg(fcinfo, 4, t);
	else if (key != NULL)
		partition = topic_key_partition(t, key);
	else
		partition = TopicStickyPartition(t);
	if (PG_ARGISNULL(5) ||
		topic_dedup_take(t, text_to_cstring(PG_GETARG_TEXT_PP(5))))
	{
		TopicAppendRecord(t, partition, key, payload, is_bytes, headers);
		if (t->notify)
			BrokerNotifyAtCommit("topic", t->name);
	}
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * broker.publish_batch(topic text, payloads jsonb[], keys text[],
 *						headers jsonb, partition int) RETURNS void
 * broker.publish_batch_bytes(topic text, payloads bytea[], ...)
 */
Datum
pgbroker_publish_batch(PG_FUNCTION_ARGS)
{
	char	   *name = BrokerTextArg(fcinfo, 0, "topic name");
	bool		is_bytes = get_fn_expr_argtype(fcinfo->flinfo, 1) == BYTEAARRAYOID;
	Jsonb	   *headers = topic_headers(fcinfo, 3);
	ArrayType  *arr;
	Datum	   *payloads;
	bool	   *payload_nulls;
	int			n;
	Datum	   *keys = NULL;
	bool	   *key_nulls = NULL;
	int			nkeys = 0;
	BrokerTopic *t;
	int32		fixed = -1;
	int32		sticky = -1;
	int			i;

	PreventCommandIfReadOnly("broker.publish_batch()");
	PreventCommandDuringRecovery("broker.publish_batch()");
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("payloads must not be null")));
	arr = PG_GETARG_ARRAYTYPE_P(1);
	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("payloads must be a one-dimensional array")));
	deconstruct_array(arr, is_bytes ? BYTEAOID : JSONBOID, -1, false, TYPALIGN_INT,
					  &payloads, &payload_nulls, &n);
	if (!PG_ARGISNULL(2))
	{
		ArrayType  *karr = PG_GETARG_ARRAYTYPE_P(2);

		deconstruct_array(karr, TEXTOID, -1, false, TYPALIGN_INT,
						  &keys, &key_nulls, &nkeys);
		if (nkeys != n)
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("keys has %d elements but payloads has %d", nkeys, n)));
	}
	for (i = 0; i < n; i++)
	{
		bool		has_key = keys != NULL && !key_nulls[i];

		topic_check_record(payload_nulls[i], has_key ? "" : NULL);
		if (!payload_nulls[i])
			QueueCheckPayload(payloads[i], headers ? JsonbPGetDatum(headers) : (Datum) 0);
	}

	SPI_connect();
	BrokerEnterCall();
	t = TopicLookup(name);
	if (!PG_ARGISNULL(4))
		fixed = topic_partition_arg(fcinfo, 4, t);
	for (i = 0; i < n; i++)
	{
		char	   *key = (keys != NULL && !key_nulls[i]) ? TextDatumGetCString(keys[i]) : NULL;
		int32		partition;

		if (fixed >= 0)
			partition = fixed;
		else if (key != NULL)
			partition = topic_key_partition(t, key);
		else
		{
			if (sticky < 0)
				sticky = TopicStickyPartition(t);
			partition = sticky;
		}
		TopicAppendRecord(t, partition, key, payload_nulls[i] ? (Datum) 0 : payloads[i],
						  is_bytes, headers);
	}
	if (n > 0 && t->notify)
		BrokerNotifyAtCommit("topic", t->name);
	SPI_finish();
	PG_RETURN_VOID();
}

/* broker.partition_for(topic text, key text) RETURNS int */
Datum
pgbroker_partition_for(PG_FUNCTION_ARGS)
{
	char	   *name = BrokerTextArg(fcinfo, 0, "topic name");
	char	   *key = BrokerTextArg(fcinfo, 1, "key");
	BrokerTopic *t;
	int32		p;

	SPI_connect();
	t = TopicLookup(name);
	p = topic_key_partition(t, key);
	SPI_finish();
	PG_RETURN_INT32(p);
}

/* broker._lock_topic(topic_id int): wait for producers appending at commit. */
Datum
pgbroker_lock_topic(PG_FUNCTION_ARGS)
{
	LOCKTAG		tag;

	TopicLockTag(&tag, PG_GETARG_INT32(0));
	(void) LockAcquire(&tag, ExclusiveLock, false, false);
	PG_RETURN_VOID();
}

/*
 * broker._lock_segment(topic_id int, seg_no int): lock a segment table
 * for reading (AccessShareLock, to the end of the transaction) if it still
 * exists.  The SQL readers list the segments with their snapshot, and
 * retention may drop one of them before they read it: checking with
 * to_regclass() first leaves a window in which the table goes, and the
 * reader fails with "relation does not exist".  Locking by name closes it
 * (RangeVarGetRelidExtended looks again after the lock wait), and once
 * locked, retention (which never waits for readers) leaves the table be.
 * Returns false if the table is gone.
 */
Datum
pgbroker_lock_segment(PG_FUNCTION_ARGS)
{
	char		relname[NAMEDATALEN];
	Oid			relid;

	snprintf(relname, sizeof(relname), "topic_%d_%d",
			 PG_GETARG_INT32(0), PG_GETARG_INT32(1));
	relid = RangeVarGetRelidExtended(makeRangeVar("broker", relname, -1),
									 AccessShareLock, RVR_MISSING_OK, NULL, NULL);
	PG_RETURN_BOOL(OidIsValid(relid));
}

/* broker._topic_changed(): make every backend reload its topic settings. */
Datum
pgbroker_topic_changed(PG_FUNCTION_ARGS)
{
	Oid			relid = get_relname_relid("topic", get_namespace_oid("broker", false));

	CacheInvalidateRelcacheByRelid(relid);
	PG_RETURN_VOID();
}
