/*-------------------------------------------------------------------------
 *
 * topic_read.c
 *	  Reading a partition of a topic from an offset.
 *
 * A read walks each segment's primary key (partition, offset_id) forward,
 * segment after segment, and reads the segment catalog with the same
 * statement snapshot.  It returns the records that snapshot sees, and
 * stops at the first record it does not see whose producer had not
 * committed when the snapshot was taken: that producer is in the middle of
 * its commit (records are appended at pre-commit, topic_append.c), and the
 * records after it must wait until it is done, or a reader that moved past
 * them would never come back.  A record whose producer failed after the
 * append, or that compaction removed, is skipped.
 *
 * A segment dropped by retention while a read looks for it is skipped:
 * its records are gone, and the offsets returned show the jump.
 *
 * src/topic_read.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/nbtree.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "acl.h"
#include "scan.h"
#include "topic_read.h"
#include "xact.h"

PG_FUNCTION_INFO_V1(pgbroker_read);
PG_FUNCTION_INFO_V1(pgbroker_lock_segment);
PG_FUNCTION_INFO_V1(pgbroker_end_offset);

static SPIPlanPtr read_segments_plan = NULL;

/* The columns of the segment-list statement of broker.read(). */
enum
{
	SEGMENTS_TOPIC_ID = 1,
	SEGMENTS_PARTITIONS,
	SEGMENTS_SEG_NO,
	SEGMENTS_START
};

/* Append records of one partition with offset >= from to the result. */
static int
read_segment(Oid relid, int32 partition, int64 from, int max,
			 Tuplestorestate *store, TupleDesc outdesc, Datum empty_headers,
			 bool *stopped, int64 *last)
{
	Snapshot	snap = GetActiveSnapshot();
	Relation	rel;
	Relation	idx;
	IndexScanDesc scan;
	ScanKeyData keys[2];
	TupleTableSlot *slot;
	int			n = 0;

	rel = try_table_open(relid, AccessShareLock);
	if (rel == NULL)
		return 0;				/* dropped by retention meanwhile */
	if (pg_class_aclcheck(relid, GetUserId(), ACL_SELECT) != ACLCHECK_OK)
		aclcheck_error(ACLCHECK_NO_PRIV, OBJECT_TABLE, RelationGetRelationName(rel));
	idx = index_open(RelationGetPrimaryKeyIndex(rel), AccessShareLock);
	slot = table_slot_create(rel, NULL);

	ScanKeyInit(&keys[0], 1, BTEqualStrategyNumber, F_INT4EQ, Int32GetDatum(partition));
	ScanKeyInit(&keys[1], 2, BTGreaterEqualStrategyNumber, F_INT8GE, Int64GetDatum(from));
	/*
	 * Every version the index points to, in offset order; the statement's
	 * snapshot decides what to return and where to stop.
	 */
	scan = index_beginscan(rel, idx, SnapshotAny, 2, 0);
	index_rescan(scan, keys, 2, NULL, 0);
	while (n < max && index_getnext_slot(scan, ForwardScanDirection, slot))
	{
		if (!table_tuple_satisfies_snapshot(rel, slot, snap))
		{
			HeapTuple	tup = ExecFetchSlotHeapTuple(slot, false, NULL);

			/*
			 * Not visible: its producer is still committing (or committed
			 * after our snapshot): stop here, or we would hand out later
			 * offsets before it.  Otherwise it was rolled back after its
			 * append, or removed by compaction: skip it.
			 */
			if (XidInMVCCSnapshot(HeapTupleHeaderGetXmin(tup->t_data), snap))
			{
				*stopped = true;
				break;
			}
			continue;
		}
		slot_getallattrs(slot);
		if (slot->tts_isnull[SEGCOL_HEADERS - 1])
		{
			slot->tts_values[SEGCOL_HEADERS - 1] = empty_headers;
			slot->tts_isnull[SEGCOL_HEADERS - 1] = false;
		}
		tuplestore_putvalues(store, outdesc, slot->tts_values, slot->tts_isnull);
		*last = DatumGetInt64(slot->tts_values[SEGCOL_OFFSET - 1]);
		n++;
		CHECK_FOR_INTERRUPTS();
	}
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	index_close(idx, NoLock);
	table_close(rel, NoLock);
	return n;
}

/*
 * Read up to max records of a partition from offset "from" on, with the
 * active snapshot, into store.  segs/starts: the topic's active segments in
 * order and the partition's start offset in each (seg_no -1: skip).
 * Returns the number of records; *last gets the last offset returned.
 */
int
TopicReadPartition(int32 topic_id, int32 partition, int64 from, int max,
				   int nseg, const int32 *segs, const int64 *starts,
				   Tuplestorestate *store, TupleDesc desc, int64 *last)
{
	static Datum empty_headers = (Datum) 0;
	bool		stopped = false;
	int64		last_offset = -1;
	int			first = 0;
	int			got = 0;
	int			i;

	/* '{}' for records stored without headers, made once per backend */
	if (empty_headers == (Datum) 0)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		empty_headers = DirectFunctionCall1(jsonb_in, CStringGetDatum("{}"));
		MemoryContextSwitchTo(old);
	}

	/* The last segment that starts at or before the offset asked for. */
	for (i = 0; i < nseg; i++)
	{
		if (segs[i] >= 0 && starts[i] <= from)
			first = i;
	}
	for (i = first; i < nseg && got < max && !stopped; i++)
	{
		Oid			relid;

		if (segs[i] < 0)
			continue;
		relid = TopicSegmentRelid(topic_id, segs[i]);
		if (!OidIsValid(relid))
			continue;
		got += read_segment(relid, partition, from, max - got, store, desc,
							empty_headers, &stopped, &last_offset);
	}
	if (last != NULL)
		*last = last_offset;
	return got;
}

/* ---------------------------------------------------------------------
 * Segments and the offsets that bound a partition
 * --------------------------------------------------------------------- */

static AttrNumber segment_attnums[2];	/* seg_no, start_offsets */
static Oid	segment_relid = InvalidOid;

/*
 * The topic's active segments, in order: a direct scan of broker.segment's
 * primary key (topic_id, seg_no) under snap, the snapshot the records are
 * then read with (every poll loads them).  The start offsets are copied
 * (detoasted) into the caller's memory context.
 */
void
TopicLoadSegments(int32 topic_id, Snapshot snap, TopicSegmentList *sl)
{
	BrokerIndexScan sc;
	ScanKeyData key;
	Oid			relid;
	int			cap = 4;

	BrokerScanOpen(&sc, "segment", "segment_pkey", false);
	relid = RelationGetRelid(sc.rel);
	if (segment_relid != relid)
	{
		segment_attnums[0] = get_attnum(relid, "seg_no");
		segment_attnums[1] = get_attnum(relid, "start_offsets");
		if (segment_attnums[0] == InvalidAttrNumber || segment_attnums[1] == InvalidAttrNumber)
			elog(ERROR, "a column of broker.segment is missing");
		segment_relid = relid;
	}
	sl->nseg = 0;
	sl->segs = palloc(sizeof(int32) * cap);
	sl->starts = palloc(sizeof(ArrayType *) * cap);
	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_INT4EQ, Int32GetDatum(topic_id));
	BrokerScanStart(&sc, snap, &key, 1);
	while (BrokerScanNext(&sc, ForwardScanDirection))
	{
		bool		isnull;
		Datum		starts = slot_getattr(sc.slot, segment_attnums[1], &isnull);

		if (isnull)
			continue;			/* pre-created, not active yet */
		if (sl->nseg == cap)
		{
			cap *= 2;
			sl->segs = repalloc(sl->segs, sizeof(int32) * cap);
			sl->starts = repalloc(sl->starts, sizeof(ArrayType *) * cap);
		}
		sl->segs[sl->nseg] = DatumGetInt32(slot_getattr(sc.slot, segment_attnums[0], &isnull));
		sl->starts[sl->nseg] = DatumGetArrayTypePCopy(starts);
		sl->nseg++;
	}
	BrokerScanEnd(&sc);
}

/* The first offset of a partition in the seg'th active segment (0: none). */
int64
TopicSegmentStart(const TopicSegmentList *sl, int seg, int32 partition)
{
	ArrayType  *a;

	if (seg < 0 || seg >= sl->nseg || partition < 0)
		return 0;
	a = sl->starts[seg];
	if (partition >= ArrayGetNItems(ARR_NDIM(a), ARR_DIMS(a)))
		return 0;
	return ((int64 *) ARR_DATA_PTR(a))[partition];
}

/* The first offset a partition retains, as snap sees the segments. */
int64
TopicEarliestOffset(int32 topic_id, int32 partition, Snapshot snap)
{
	TopicSegmentList sl;

	TopicLoadSegments(topic_id, snap, &sl);
	return TopicSegmentStart(&sl, 0, partition);
}

/*
 * The end offset of a partition (the next offset to assign) as snap sees
 * it (NULL: a new snapshot): one past its last record in the newest active
 * segment, or where that segment starts.  The last record is a backward
 * probe of the segment's primary key.
 */
int64
TopicEndOffset(int32 topic_id, int32 partition, Snapshot snap)
{
	TopicSegmentList sl;
	int64		end;
	Oid			relid;
	Relation	rel;
	Relation	idx;
	IndexScanDesc scan;
	ScanKeyData key;
	TupleTableSlot *slot;
	Snapshot	own = NULL;

	if (snap == NULL)
		snap = own = RegisterSnapshot(GetLatestSnapshot());
	TopicLoadSegments(topic_id, snap, &sl);
	end = TopicSegmentStart(&sl, sl.nseg - 1, partition);
	relid = sl.nseg == 0 ? InvalidOid : TopicSegmentRelid(topic_id, sl.segs[sl.nseg - 1]);
	if (!OidIsValid(relid) || (rel = try_table_open(relid, AccessShareLock)) == NULL)
	{
		if (own)
			UnregisterSnapshot(own);
		return end;
	}
	idx = index_open(RelationGetPrimaryKeyIndex(rel), AccessShareLock);
	slot = table_slot_create(rel, NULL);
	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_INT4EQ, Int32GetDatum(partition));
	scan = index_beginscan(rel, idx, snap, 1, 0);
	index_rescan(scan, &key, 1, NULL, 0);
	if (index_getnext_slot(scan, BackwardScanDirection, slot))
	{
		bool		isnull;

		end = DatumGetInt64(slot_getattr(slot, SEGCOL_OFFSET, &isnull)) + 1;
	}
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	index_close(idx, NoLock);
	table_close(rel, NoLock);
	if (own)
		UnregisterSnapshot(own);
	return end;
}

/*
 * broker._end_offset(t broker.topic, partition int) RETURNS bigint: the
 * end offset as the caller's snapshot sees it, for the views and the SQL
 * offset functions.
 */
static Datum
end_offset_body(PG_FUNCTION_ARGS)
{
	bool		isnull;
	Datum		id;
	Datum		name;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_INT64(0);
	id = GetAttributeByName(PG_GETARG_HEAPTUPLEHEADER(0), "id", &isnull);
	if (isnull)
		PG_RETURN_INT64(0);
	name = GetAttributeByName(PG_GETARG_HEAPTUPLEHEADER(0), "name", &isnull);
	BrokerCheckPrivilege('t', isnull ? "" : TextDatumGetCString(name),
						 BrokerAclHolder('t', DatumGetInt32(id)), BROKER_PRIV_MONITOR);
	PG_RETURN_INT64(TopicEndOffset(DatumGetInt32(id), PG_GETARG_INT32(1),
								   GetActiveSnapshot()));
}

/*
 * broker.read(topic text, partition int, from_offset bigint,
 *			   max_records int) RETURNS SETOF broker.record
 */
static Datum
read_body(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *name = BrokerTextArg(fcinfo, 0, "topic name");
	int32		partition;
	int64		from;
	int32		max;
	Datum		args[2];
	int32		topic_id;
	int32		partitions;
	int			nseg;
	int32	   *segs;
	int64	   *starts;
	int			i;
	bool		isnull;

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("partition must not be null")));
	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("from_offset must not be null")));
	partition = PG_GETARG_INT32(1);
	from = PG_GETARG_INT64(2);
	max = PG_ARGISNULL(3) ? 100 : PG_GETARG_INT32(3);
	if (from < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("from_offset must not be negative")));
	if (max < 1 || max > PGBROKER_MAX_BATCH)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_records must be between 1 and %d", PGBROKER_MAX_BATCH)));
	BrokerCheckName(name, "topic");

	InitMaterializedSRF(fcinfo, 0);

	SPI_connect();
	BrokerEnterCall();
	(void) BrokerKeptPlan(&read_segments_plan,
						  "SELECT t.id, t.partitions, s.seg_no, s.start_offsets[$2 OPERATOR(pg_catalog.+) 1]"
						  " FROM broker.topic t LEFT JOIN broker.segment s"
						  "   ON s.topic_id OPERATOR(pg_catalog.=) t.id AND s.start_offsets IS NOT NULL"
						  " WHERE t.name OPERATOR(pg_catalog.=) $1"
						  " ORDER BY s.seg_no",
						  2, (Oid[]) {TEXTOID, INT4OID});
	args[0] = CStringGetTextDatum(name);
	args[1] = Int32GetDatum(partition);
	/* read-only: the catalog is read with the statement's snapshot */
	if (SPI_execute_plan(read_segments_plan, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "segment lookup failed");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("topic \"%s\" does not exist", name)));
	topic_id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
										   SEGMENTS_TOPIC_ID, &isnull));
	partitions = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
											 SEGMENTS_PARTITIONS, &isnull));
	BrokerCheckPrivilege('t', name, BrokerAclHolder('t', topic_id), BROKER_PRIV_BROWSE);
	BrokerCheckPartition(partition, partitions, name);
	nseg = (int) SPI_processed;
	segs = SPI_palloc(sizeof(int32) * nseg);
	starts = SPI_palloc(sizeof(int64) * nseg);
	for (i = 0; i < nseg; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		Datum		d;

		d = SPI_getbinval(tup, SPI_tuptable->tupdesc, SEGMENTS_SEG_NO, &isnull);
		segs[i] = isnull ? -1 : DatumGetInt32(d);
		d = SPI_getbinval(tup, SPI_tuptable->tupdesc, SEGMENTS_START, &isnull);
		starts[i] = isnull ? 0 : DatumGetInt64(d);
	}
	SPI_finish();

	(void) TopicReadPartition(topic_id, partition, from, max, nseg, segs, starts,
							  rsinfo->setResult, rsinfo->setDesc, NULL);
	return (Datum) 0;
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

/* ---------------------------------------------------------------------
 * Entry points: the caller's privileges are checked above, then the
 * function runs as the extension's owner (acl.c)
 * --------------------------------------------------------------------- */

Datum
pgbroker_read(PG_FUNCTION_ARGS)
{
	return BrokerRunAsOwner(fcinfo, read_body);
}

Datum
pgbroker_end_offset(PG_FUNCTION_ARGS)
{
	return BrokerRunAsOwner(fcinfo, end_offset_body);
}
