/*-------------------------------------------------------------------------
 *
 * topic_append.c
 *	  Commit-time sequencing: records published in a transaction are kept
 *	  in backend memory and appended to their partitions, with the next
 *	  dense offsets, while the transaction commits.
 *
 * Why: an offset drawn when a record is inserted (a sequence) becomes
 * visible when its transaction commits, in a different order, so a reader
 * that follows "offset > last seen" skips records for good.  Instead, at
 * XACT_EVENT_PRE_COMMIT (after which nothing of the user's runs), for each
 * partition the transaction published to, in (topic, partition) order, we
 * take the partition's lock, read the partition's last offset with a dirty
 * snapshot (which also sees the records of an appender that is still
 * committing), insert our records after it, and release the lock.  So
 * offsets follow the order of appends, each append comes after every
 * earlier one is physically in the index, and a transaction that stays
 * open for minutes holds no lock and delays nobody: its records get their
 * offsets when it commits.
 *
 * Readers (topic_read.c) stop at the first record whose producer has not
 * committed as of their snapshot; it is in its commit right now, so the
 * wait is one commit flush.  That is what makes early release of the
 * partition lock safe: no reader returns a later offset before an earlier
 * one it could still see commit.  A producer that fails after its append
 * (a serialization failure found at commit, a crash) leaves dead records
 * that readers skip; the next appender reuses their offsets unless another
 * appended after them meanwhile, in which case they stay a hole.
 *
 * The topic lock, taken in RowExclusiveLock before the partition locks and
 * held to the end of the transaction, keeps rotation and drop_topic (which
 * take it in ExclusiveLock) out until the appended records are committed
 * or dead.  The argument in full is in docs/design.md.
 *
 * Records published in a subtransaction that rolls back are dropped;
 * PREPARE TRANSACTION is refused, since the topic lock (and readers) would
 * wait for as long as the transaction stays prepared.
 *
 * src/topic_append.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/nbtree.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "insert.h"
#include "locktag.h"
#include "topic_append.h"
#include "wait.h"

PG_FUNCTION_INFO_V1(pgbroker_lock_topic);

/* Rows per heap multi-insert. */
#define APPEND_CHUNK 1000

typedef struct PendingRecord
{
	int32		topic_id;
	int32		partition;
	int			nest_level;		/* subtransaction that published it */
	int			seq;			/* publish order within the transaction */
	Oid			userid;			/* appends as this user (the function owner) */
	char	   *key;
	Datum		payload;		/* (Datum) 0: a tombstone */
	bool		is_bytes;
	Jsonb	   *headers;
	const char *topic;			/* for messages */
} PendingRecord;

typedef struct StickyChoice
{
	int32		topic_id;
	int32		partition;
} StickyChoice;

/* All in TopTransactionContext, forgotten at the end of the transaction. */
static List *pending = NIL;
static List *sticky = NIL;
static List *appended_topics = NIL;	/* to wake at commit */
static int	pending_seq = 0;

static uint32 sticky_next = 0;

/*
 * The partition a transaction without keys sticks to on a topic: chosen
 * once per transaction, rotating per backend, so that producers spread
 * over the partitions and each takes one partition lock at commit.
 */
int32
TopicStickyPartition(BrokerTopic *t)
{
	ListCell   *lc;
	StickyChoice *c;
	MemoryContext old;

	foreach(lc, sticky)
	{
		c = lfirst(lc);
		if (c->topic_id == t->id && c->partition < t->partitions)
			return c->partition;
	}
	if (sticky_next == 0)
		sticky_next = (uint32) MyProcPid * 7919;
	old = MemoryContextSwitchTo(TopTransactionContext);
	c = palloc(sizeof(StickyChoice));
	c->topic_id = t->id;
	c->partition = (int32) (sticky_next++ % (uint32) t->partitions);
	sticky = lappend(sticky, c);
	MemoryContextSwitchTo(old);
	return c->partition;
}

void
TopicAppendRecord(BrokerTopic *t, int32 partition, const char *key,
				  Datum payload, bool is_bytes, Jsonb *headers)
{
	MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);
	PendingRecord *r = palloc(sizeof(PendingRecord));

	r->topic_id = t->id;
	r->partition = partition;
	r->nest_level = GetCurrentTransactionNestLevel();
	r->seq = pending_seq++;
	r->userid = GetUserId();
	r->key = key ? pstrdup(key) : NULL;
	r->payload = payload != (Datum) 0 ?
		PointerGetDatum(PG_DETOAST_DATUM_COPY(payload)) : (Datum) 0;
	r->is_bytes = is_bytes;
	r->headers = headers ? (Jsonb *) PG_DETOAST_DATUM_COPY(JsonbPGetDatum(headers)) : NULL;
	r->topic = pstrdup(TopicName(t));
	pending = lappend(pending, r);
	MemoryContextSwitchTo(old);
}

/*
 * XACT_EVENT_PRE_PREPARE: a prepared transaction would hold the topic
 * lock, and keep readers waiting, until it is resolved.
 */
void
TopicAppendPrePrepare(void)
{
	if (pending != NIL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot prepare a transaction that published to a topic"),
				 errdetail("Records get their offsets at commit, under a lock that a prepared transaction would hold until it is resolved.")));
}

static int
pending_cmp(const ListCell *a, const ListCell *b)
{
	const PendingRecord *x = lfirst(a);
	const PendingRecord *y = lfirst(b);

	if (x->topic_id != y->topic_id)
		return x->topic_id < y->topic_id ? -1 : 1;
	if (x->partition != y->partition)
		return x->partition < y->partition ? -1 : 1;
	return x->seq < y->seq ? -1 : (x->seq > y->seq ? 1 : 0);
}

/*
 * The last record of a partition in a segment: a backward scan of the
 * primary key for the partition, from offset "from" up if from >= 0.
 *
 * A backward btree scan collects every matching item of its leaf page
 * before returning the first, so a lower bound close to the end (the last
 * offset this backend knows of) keeps the probe to a few items.
 */
static bool
append_last_record(Relation rel, Relation idx, int32 partition, int64 from,
				   int64 *last_offset, TimestampTz *last_at)
{
	SnapshotData snap;
	ScanKeyData keys[2];
	IndexScanDesc scan;
	TupleTableSlot *slot = table_slot_create(rel, NULL);
	int			nkeys = from >= 0 ? 2 : 1;
	bool		found;

	/*
	 * A dirty snapshot sees the records of every appender before us, also
	 * of one that is still committing (we hold the partition lock, so
	 * nobody else is appending), and takes no SSI predicate locks.
	 */
	InitDirtySnapshot(snap);
	ScanKeyInit(&keys[0], 1, BTEqualStrategyNumber, F_INT4EQ, Int32GetDatum(partition));
	ScanKeyInit(&keys[1], 2, BTGreaterEqualStrategyNumber, F_INT8GE, Int64GetDatum(from));
	scan = index_beginscan(rel, idx, &snap, nkeys, 0);
	index_rescan(scan, keys, nkeys, NULL, 0);
	found = index_getnext_slot(scan, BackwardScanDirection, slot);
	if (found)
	{
		bool		isnull;

		*last_offset = DatumGetInt64(slot_getattr(slot, SEGCOL_OFFSET, &isnull));
		*last_at = DatumGetTimestampTz(slot_getattr(slot, SEGCOL_PUBLISHED_AT, &isnull));
	}
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	return found;
}

/* Insert the records of one partition, from recs[0..n-1], at offsets next.. */
static void
append_insert(Relation rel, ResultRelInfo *rri, EState *estate,
			  PendingRecord **recs, int n, int64 next, TimestampTz at)
{
	TupleDesc	desc = RelationGetDescr(rel);
	TupleTableSlot **slots = palloc(sizeof(TupleTableSlot *) * Min(n, APPEND_CHUNK));
	int			done;

	for (done = 0; done < n;)
	{
		int			chunk = Min(n - done, APPEND_CHUNK);
		int			i;

		for (i = 0; i < chunk; i++)
		{
			PendingRecord *r = recs[done + i];
			Datum		values[SEGCOL_COUNT];
			bool		nulls[SEGCOL_COUNT];

			memset(nulls, true, sizeof(nulls));
			values[SEGCOL_PARTITION - 1] = Int32GetDatum(r->partition);
			nulls[SEGCOL_PARTITION - 1] = false;
			values[SEGCOL_OFFSET - 1] = Int64GetDatum(next + done + i);
			nulls[SEGCOL_OFFSET - 1] = false;
			if (r->key)
			{
				values[SEGCOL_KEY - 1] = CStringGetTextDatum(r->key);
				nulls[SEGCOL_KEY - 1] = false;
			}
			if (r->payload != (Datum) 0)
			{
				int			col = r->is_bytes ? SEGCOL_PAYLOAD_BYTES : SEGCOL_PAYLOAD;

				values[col - 1] = r->payload;
				nulls[col - 1] = false;
			}
			if (r->headers)
			{
				values[SEGCOL_HEADERS - 1] = JsonbPGetDatum(r->headers);
				nulls[SEGCOL_HEADERS - 1] = false;
			}
			values[SEGCOL_PUBLISHED_AT - 1] = TimestampTzGetDatum(at);
			nulls[SEGCOL_PUBLISHED_AT - 1] = false;
			slots[i] = MakeSingleTupleTableSlot(desc, &TTSOpsHeapTuple);
			ExecStoreHeapTuple(heap_form_tuple(desc, values, nulls), slots[i], true);
		}
		/* the primary key's unique check guards the offsets */
		BrokerInsertSlots(rel, rri, estate, slots, chunk);
		done += chunk;
	}
	pfree(slots);
}

/*
 * Append the records of one topic: recs[0..n-1], sorted by partition.
 * Called with SPI connected and an active snapshot pushed.
 */
static void
append_topic(PendingRecord **recs, int n)
{
	int32		topic_id = recs[0]->topic_id;
	LOCKTAG		tag;
	TopicSegment *seg;
	int32		partitions;
	Oid			relid;
	Relation	rel;
	Relation	idx;
	ResultRelInfo *rri;
	EState	   *estate;
	int			i;
	Oid			save_userid;
	int			save_sec_context;

	/* Keep rotation and drop_topic out until we have committed. */
	LockTagTopic(&tag, topic_id);
	(void) LockAcquire(&tag, RowExclusiveLock, false, false);
	AcceptInvalidationMessages();

	/*
	 * Read the catalog and write as the owner of the publish functions
	 * (they are SECURITY DEFINER), not as the session user.
	 */
	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(recs[0]->userid, save_sec_context | SECURITY_LOCAL_USERID_CHANGE);

	seg = TopicCurrentSegment(topic_id, recs[0]->topic);
	if (recs[n - 1]->partition >= seg->partitions)
	{
		/* partitions were added since the cache was filled: look again */
		seg->valid = false;
		seg = TopicCurrentSegment(topic_id, recs[0]->topic);
	}
	partitions = seg->partitions;
	relid = seg->relid;

	rel = BrokerOpenForInsert(relid);
	idx = index_open(RelationGetPrimaryKeyIndex(rel), RowExclusiveLock);
	estate = CreateExecutorState();
	rri = makeNode(ResultRelInfo);
	InitResultRelInfo(rri, rel, 1, NULL, 0);
	ExecOpenIndices(rri, false);

	for (i = 0; i < n;)
	{
		int32		partition = recs[i]->partition;
		int			j = i;
		int64		last;
		int64		next;
		TimestampTz last_at;
		TimestampTz at;

		while (j < n && recs[j]->partition == partition)
			j++;
		if (partition >= partitions)
			elog(ERROR, "partition %d of topic \"%s\" does not exist", partition, recs[i]->topic);

		LockTagPartition(&tag, topic_id, partition);
		(void) LockAcquire(&tag, ExclusiveLock, false, false);

		/*
		 * Every transaction that appended to this partition before us has
		 * committed (or aborted) and is visible to a new snapshot.
		 */
		at = GetCurrentTimestamp();
		/* Offsets only grow: look from the last one this backend saw. */
		if ((seg->hints[partition] >= 0 &&
			 append_last_record(rel, idx, partition, seg->hints[partition], &last, &last_at)) ||
			append_last_record(rel, idx, partition, -1, &last, &last_at))
		{
			next = last + 1;
			if (last_at > at)
				at = last_at;	/* published_at never goes back */
		}
		else
			next = partition < seg->nstarts ? seg->starts[partition] : 0;

		append_insert(rel, rri, estate, recs + i, j - i, next, at);
		seg->hints[partition] = next + (j - i) - 1;

		/*
		 * The next appender reads our records (in progress) as the last
		 * ones, and readers stop at them until we have committed: the
		 * partition lock need not wait for our commit flush.
		 */
		LockRelease(&tag, ExclusiveLock, false);
		i = j;
	}

	ExecCloseIndices(rri);
	FreeExecutorState(estate);
	index_close(idx, NoLock);
	table_close(rel, NoLock);
	SetUserIdAndSecContext(save_userid, save_sec_context);
}

/*
 * XACT_EVENT_PRE_COMMIT: append every pending record.  An error here
 * aborts the transaction cleanly (nothing is committed yet).
 */
void
TopicAppendAtCommit(void)
{
	List	   *recs;
	PendingRecord **arr;
	int			n;
	int			i;
	ListCell   *lc;

	if (pending == NIL)
		return;
	PushActiveSnapshot(GetTransactionSnapshot());
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	/* in SPI's memory: gone at SPI_finish */
	recs = list_copy(pending);
	list_sort(recs, pending_cmp);
	n = list_length(recs);
	arr = palloc(sizeof(PendingRecord *) * n);
	i = 0;
	foreach(lc, recs)
		arr[i++] = lfirst(lc);

	for (i = 0; i < n;)
	{
		int			j = i;

		while (j < n && arr[j]->topic_id == arr[i]->topic_id)
			j++;
		append_topic(arr + i, j - i);
		{
			MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);

			appended_topics = list_append_unique_int(appended_topics, arr[i]->topic_id);
			MemoryContextSwitchTo(old);
		}
		i = j;
	}
	SPI_finish();
	PopActiveSnapshot();
	CommandCounterIncrement();
	pending = NIL;
}

/* Transaction end: the lists lived in TopTransactionContext. */
void
TopicAppendAbort(void)
{
	pending = NIL;
	sticky = NIL;
	appended_topics = NIL;
	pending_seq = 0;
}

/*
 * XACT_EVENT_COMMIT: the appended records are visible; wake the consumers
 * polling those topics.  Must not fail (see wait.c).
 */
void
TopicAppendCommitted(void)
{
	ListCell   *lc;

	foreach(lc, appended_topics)
		BrokerWakeTopicWaiters(lfirst_int(lc));
	TopicAppendAbort();
}

void
TopicAppendSubAbort(int nest_level)
{
	ListCell   *lc;

	foreach(lc, pending)
	{
		PendingRecord *r = lfirst(lc);

		if (r->nest_level >= nest_level)
			pending = foreach_delete_current(pending, lc);
	}
}

void
TopicAppendSubCommit(int nest_level)
{
	ListCell   *lc;

	foreach(lc, pending)
	{
		PendingRecord *r = lfirst(lc);

		if (r->nest_level >= nest_level)
			r->nest_level = nest_level - 1;
	}
}

/* broker._lock_topic(topic_id int): wait for producers appending at commit. */
Datum
pgbroker_lock_topic(PG_FUNCTION_ARGS)
{
	LOCKTAG		tag;

	LockTagTopic(&tag, PG_GETARG_INT32(0));
	(void) LockAcquire(&tag, ExclusiveLock, false, false);
	PG_RETURN_VOID();
}
