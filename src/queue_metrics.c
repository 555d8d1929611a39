/*-------------------------------------------------------------------------
 *
 * queue_metrics.c
 *	  What a queue has seen and what it holds, answered without reading
 *	  its table: committed counters in shared memory, and the states of
 *	  its messages measured on a bounded number of pages.
 *
 * Counters.  Every send, claim, ack, nack, dead-letter move, expiry and
 * overflow drop adds to a count of the transaction that makes it, kept in
 * this backend per queue and per subtransaction level; a subtransaction
 * that aborts drops its counts, one that commits hands them to its
 * parent, and the transaction's commit adds them to the queue's counters
 * in shared memory (a prepared transaction's at PREPARE).  So a counter
 * says what committed, exactly, and producers never meet on a row: each
 * commit takes one shared LWLock and adds with atomic instructions.  The
 * counters need pgbroker in shared_preload_libraries (the memory is sized
 * at server start by pgbroker.metrics_queues, for every database
 * together); without it they read as NULL.  A queue whose entry cannot be
 * made because the table is full is counted nowhere (logged once).
 *
 * States.  How many messages a queue holds is PostgreSQL's own count of
 * the live rows of its table (the statistics system's n_live_tup, which
 * follows every committed insert and delete within a second or so).  How
 * they divide into ready, delayed, leased and waiting is counted exactly
 * ("exact" is true) when the table has at most EXACT_PAGES pages, or
 * when the statistics or the sampled pages say it holds at most EXACT_ROWS
 * rows (a big table a drain left nearly empty, or statistics not yet
 * reported, which PostgreSQL 15 delays up to ten seconds: those rows are
 * read through the primary key, and counted if they are that few; so the
 * count is also the messages).  Otherwise SAMPLE_PAGES pages are chosen at
 * random, their visible rows counted and the states of SAMPLE_TUPLES of
 * each page's rows read, each standing for its share of the page (more
 * pages, up to SAMPLE_MAX_PAGES, while fewer than SAMPLE_MIN_ROWS rows
 * were found),
 * and the shares found there are applied to the live count (or counted,
 * when that read every row of the table); when even those pages held no
 * row the states are NULL.  The age of the oldest
 * ready message is the longest wait of a ready row when every row was
 * counted; otherwise that of the first ready row in id order among at most
 * OLDEST_PROBE (NULL when none of those is ready).  The size is the
 * table's current one plus its indexes and TOAST at pg_class.relpages
 * (queue_bytes says why).  The cost per queue is therefore bounded
 * whatever its backlog: at most SAMPLE_MAX_PAGES pages and OLDEST_PROBE
 * index entries, or EXACT_ROWS rows.
 *
 * Locks: a shared LWLock over the counter table (exclusive to add an
 * entry or to remove those of dropped queues); AccessShareLock on a
 * queue's table and primary key while measuring it, released at once.
 * After a crash the counters start again from zero, as PostgreSQL's
 * statistics do (broker._metrics_since() says when); a scraper's rate()
 * takes a counter that went back as a reset.
 *
 * src/queue_metrics.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/genam.h"
#include "access/heapam.h"
#include "access/relation.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "common/pg_prng.h"
#include "executor/tuptable.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/bufmgr.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "acl.h"
#include "queue_metrics.h"

PG_FUNCTION_INFO_V1(pgbroker_queue_metrics);
PG_FUNCTION_INFO_V1(pgbroker_metrics_since);
PG_FUNCTION_INFO_V1(pgbroker_queue_counters_keep);
PG_FUNCTION_INFO_V1(pgbroker_queue_count);

#define EXACT_PAGES		16
#define SAMPLE_PAGES	64
#define SAMPLE_TUPLES	4
#define SAMPLE_MIN_ROWS	64
#define SAMPLE_MAX_PAGES 256
#define EXACT_ROWS		1000
#define OLDEST_PROBE	1000

static const char *const counter_names[QCOUNT_N] = {
	"sent", "claimed", "acked", "nacked", "dead_lettered", "expired", "dropped"
};

/* ---------------------------------------------------------------------
 * Shared memory
 * --------------------------------------------------------------------- */

typedef struct CounterKey
{
	Oid			dbid;
	int32		queue_id;
} CounterKey;

typedef struct CounterEntry
{
	CounterKey	key;
	pg_atomic_uint64 c[QCOUNT_N];
} CounterEntry;

typedef struct MetricsShared
{
	LWLock	   *lock;
	TimestampTz since;			/* when the counters started */
	bool		full_logged;
} MetricsShared;

static int	metrics_queues = 10000;
static MetricsShared *shared = NULL;
static HTAB *counters = NULL;
static shmem_request_hook_type prev_shmem_request = NULL;
static shmem_startup_hook_type prev_shmem_startup = NULL;

static void
metrics_shmem_request(void)
{
	if (prev_shmem_request)
		prev_shmem_request();
	RequestAddinShmemSpace(add_size(MAXALIGN(sizeof(MetricsShared)),
									hash_estimate_size(metrics_queues, sizeof(CounterEntry))));
	RequestNamedLWLockTranche("pgbroker_metrics", 1);
}

static void
metrics_shmem_startup(void)
{
	bool		found;
	HASHCTL		info;

	if (prev_shmem_startup)
		prev_shmem_startup();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	shared = ShmemInitStruct("pgbroker metrics", sizeof(MetricsShared), &found);
	if (!found)
	{
		shared->lock = &(GetNamedLWLockTranche("pgbroker_metrics"))->lock;
		shared->since = GetCurrentTimestamp();
		shared->full_logged = false;
	}
	info.keysize = sizeof(CounterKey);
	info.entrysize = sizeof(CounterEntry);
	counters = ShmemInitHash("pgbroker queue counters", metrics_queues, metrics_queues,
							 &info, HASH_ELEM | HASH_BLOBS | HASH_FIXED_SIZE);
	LWLockRelease(AddinShmemInitLock);
}

void
QueueMetricsInit(void)
{
	DefineCustomIntVariable("pgbroker.metrics_queues",
							gettext_noop("How many queues' counters shared memory holds, for every database together."),
							gettext_noop("Needs pgbroker in shared_preload_libraries; a queue beyond it is not counted."),
							&metrics_queues,
							10000,
							16,
							INT_MAX / 2,
							process_shared_preload_libraries_in_progress ? PGC_POSTMASTER : PGC_SIGHUP,
							0,
							NULL, NULL, NULL);
	if (!process_shared_preload_libraries_in_progress)
		return;
	prev_shmem_request = shmem_request_hook;
	shmem_request_hook = metrics_shmem_request;
	prev_shmem_startup = shmem_startup_hook;
	shmem_startup_hook = metrics_shmem_startup;
}

/* ---------------------------------------------------------------------
 * Counting in a transaction
 * --------------------------------------------------------------------- */

typedef struct PendingCount
{
	int32		queue_id;
	int			level;			/* subtransaction nest level */
	int64		c[QCOUNT_N];
} PendingCount;

static PendingCount *pending = NULL;
static int	npending = 0;
static int	maxpending = 0;

/* Count n events of a queue in the current (sub)transaction. */
void
QueueCount(int32 queue_id, QueueCounter counter, int64 n)
{
	int			level;
	int			i;

	if (counters == NULL || n == 0)
		return;
	level = GetCurrentTransactionNestLevel();
	for (i = npending - 1; i >= 0; i--)
	{
		if (pending[i].queue_id == queue_id && pending[i].level == level)
			break;
	}
	if (i < 0)
	{
		if (npending == maxpending)
		{
			int			newmax = maxpending == 0 ? 8 : maxpending * 2;

			if (pending == NULL)
				pending = MemoryContextAlloc(TopMemoryContext, sizeof(PendingCount) * newmax);
			else
				pending = repalloc(pending, sizeof(PendingCount) * newmax);
			maxpending = newmax;
		}
		i = npending++;
		memset(&pending[i], 0, sizeof(PendingCount));
		pending[i].queue_id = queue_id;
		pending[i].level = level;
	}
	pending[i].c[counter] += n;
}

/* The shared entry of a queue of this database; made when missing. */
static CounterEntry *
counter_entry(int32 queue_id, bool make)
{
	CounterKey	key;
	CounterEntry *e;
	bool		found;
	int			i;

	memset(&key, 0, sizeof(key));
	key.dbid = MyDatabaseId;
	key.queue_id = queue_id;
	e = hash_search(counters, &key, HASH_FIND, NULL);
	if (e != NULL || !make)
		return e;
	/* upgrade to an exclusive lock to add it; the caller holds it shared */
	LWLockRelease(shared->lock);
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	e = hash_search(counters, &key, HASH_ENTER_NULL, &found);
	if (e != NULL && !found)
	{
		for (i = 0; i < QCOUNT_N; i++)
			pg_atomic_init_u64(&e->c[i], 0);
	}
	if (e == NULL && !shared->full_logged)
	{
		shared->full_logged = true;
		elog(LOG, "pgbroker: the counters of more than %d queues do not fit in shared memory (pgbroker.metrics_queues); queues beyond are not counted",
			 metrics_queues);
	}
	return e;
}

/* At commit (or PREPARE): add the transaction's counts to shared memory. */
void
QueueMetricsCommitted(void)
{
	int			i;
	int			j;

	if (npending == 0)
		return;
	if (counters != NULL)
	{
		LWLockAcquire(shared->lock, LW_SHARED);
		for (i = 0; i < npending; i++)
		{
			CounterEntry *e = counter_entry(pending[i].queue_id, true);

			if (e == NULL)
				continue;
			for (j = 0; j < QCOUNT_N; j++)
			{
				if (pending[i].c[j] != 0)
					pg_atomic_fetch_add_u64(&e->c[j], pending[i].c[j]);
			}
		}
		LWLockRelease(shared->lock);
	}
	npending = 0;
}

void
QueueMetricsAborted(void)
{
	npending = 0;
}

/* A subtransaction at nest level `level` aborted: forget its counts. */
void
QueueMetricsSubAborted(int level)
{
	int			i;
	int			n = 0;

	for (i = 0; i < npending; i++)
	{
		if (pending[i].level < level)
			pending[n++] = pending[i];
	}
	npending = n;
}

/*
 * A subtransaction at nest level `level` committed: its parent owns them,
 * merged into the parent's entry of the same queue (a loop of savepoints
 * must not grow the list).
 */
void
QueueMetricsSubCommitted(int level)
{
	int			i;
	int			j;
	int			n = 0;

	for (i = 0; i < npending; i++)
	{
		if (pending[i].level < level)
			continue;
		pending[i].level = level - 1;
	}
	for (i = 0; i < npending; i++)
	{
		for (j = 0; j < n; j++)
		{
			if (pending[j].queue_id == pending[i].queue_id && pending[j].level == pending[i].level)
				break;
		}
		if (j < n)
		{
			for (int k = 0; k < QCOUNT_N; k++)
				pending[j].c[k] += pending[i].c[k];
		}
		else
			pending[n++] = pending[i];
	}
	npending = n;
}

/* ---------------------------------------------------------------------
 * Measuring a queue
 * --------------------------------------------------------------------- */

/*
 * Live rows found, and their states.  On a page of which only some rows
 * were classified, each classified row stands for visible / classified
 * rows of the page, so the states add up to the rows found.
 */
typedef struct QueueStates
{
	double		ready_age;		/* the longest a ready row looked at has waited (s); -1: none */
	double		seen;			/* live rows found */
	double		ready;
	double		delayed;
	double		leased;
	double		waiting;
} QueueStates;

typedef struct QueueAtts
{
	AttrNumber	vis;
	AttrNumber	group_key;
	AttrNumber	group_head;
	AttrNumber	lease_until;
} QueueAtts;

typedef enum MessageState
{
	STATE_READY,
	STATE_DELAYED,
	STATE_LEASED,
	STATE_WAITING
} MessageState;

/* The state of a message, as a claim at `now` would see it. */
static MessageState
message_state(HeapTuple tup, TupleDesc desc, const QueueAtts *att, TimestampTz now)
{
	bool		isnull;
	Datum		d;

	d = heap_getattr(tup, att->lease_until, desc, &isnull);
	if (!isnull && DatumGetTimestampTz(d) > now)
		return STATE_LEASED;
	d = heap_getattr(tup, att->vis, desc, &isnull);
	if (!isnull && DatumGetTimestampTz(d) > now)
		return STATE_DELAYED;
	(void) heap_getattr(tup, att->group_key, desc, &isnull);
	if (!isnull)
	{
		d = heap_getattr(tup, att->group_head, desc, &isnull);
		if (isnull || !DatumGetBool(d))
			return STATE_WAITING;
	}
	return STATE_READY;
}

/* Keep the longest wait of a ready row. */
static void
note_ready_age(HeapTuple tup, TupleDesc desc, const QueueAtts *att, TimestampTz now,
			   QueueStates *st)
{
	bool		isnull;
	Datum		d = heap_getattr(tup, att->vis, desc, &isnull);

	if (!isnull)
		st->ready_age = Max(st->ready_age,
							Max((double) (now - DatumGetTimestampTz(d)) / USECS_PER_SEC, 0));
}

/*
 * Count the visible rows of one page, and the states of at most max_rows
 * of them (0: all), from a random one on, each standing for its share of
 * the page.  Returns whether some rows were not classified.
 */
static bool
measure_page(Relation rel, BlockNumber blk, Snapshot snap, const QueueAtts *att,
			 TimestampTz now, int max_rows, QueueStates *st)
{
	Buffer		buf;
	Page		page;
	OffsetNumber maxoff;
	OffsetNumber start;
	OffsetNumber k;
	int			taken = 0;
	int			visible = 0;
	int			counts[4] = {0, 0, 0, 0};
	TupleDesc	desc = RelationGetDescr(rel);

	CHECK_FOR_INTERRUPTS();
	buf = ReadBufferExtended(rel, MAIN_FORKNUM, blk, RBM_NORMAL, NULL);
	LockBuffer(buf, BUFFER_LOCK_SHARE);
	page = BufferGetPage(buf);
	maxoff = PageGetMaxOffsetNumber(page);
	start = (max_rows > 0 && maxoff > 0) ?
		(OffsetNumber) pg_prng_uint64_range(&pg_global_prng_state, 0, maxoff - 1) : 0;
	for (k = 0; k < maxoff; k++)
	{
		OffsetNumber off = FirstOffsetNumber + (start + k) % maxoff;
		ItemId		id = PageGetItemId(page, off);
		HeapTupleData tup;
		MessageState state;

		if (!ItemIdIsNormal(id))
			continue;
		tup.t_data = (HeapTupleHeader) PageGetItem(page, id);
		tup.t_len = ItemIdGetLength(id);
		tup.t_tableOid = RelationGetRelid(rel);
		ItemPointerSet(&tup.t_self, blk, off);
		if (!HeapTupleSatisfiesVisibility(&tup, snap, buf))
			continue;
		visible++;
		if (max_rows > 0 && taken >= max_rows)
			continue;
		taken++;
		state = message_state(&tup, desc, att, now);
		counts[state]++;
		if (state == STATE_READY)
			note_ready_age(&tup, desc, att, now, st);
	}
	UnlockReleaseBuffer(buf);
	st->seen += visible;
	if (taken > 0)
	{
		double		w = (double) visible / taken;

		st->ready += counts[STATE_READY] * w;
		st->delayed += counts[STATE_DELAYED] * w;
		st->leased += counts[STATE_LEASED] * w;
		st->waiting += counts[STATE_WAITING] * w;
	}
	return taken < visible;
}

/*
 * Read the queue in id order through its primary key, at most max_rows
 * rows.  With st, count every row's state; without, stop at the first
 * ready one.  *age: seconds since the first ready row became ready (-1:
 * none seen).  Returns the number of rows read.
 */
static int64
scan_by_id(Relation rel, Snapshot snap, const QueueAtts *att, TimestampTz now,
		   int64 max_rows, QueueStates *st, double *age)
{
	Oid			pk = RelationGetPrimaryKeyIndex(rel);
	Relation	idx;
	IndexScanDesc scan;
	TupleTableSlot *slot;
	int64		n = 0;

	*age = -1;
	if (!OidIsValid(pk))
		return 0;
	idx = index_open(pk, AccessShareLock);
	slot = table_slot_create(rel, NULL);
	scan = index_beginscan(rel, idx, snap, 0, 0);
	index_rescan(scan, NULL, 0, NULL, 0);
	while (n < max_rows && index_getnext_slot(scan, ForwardScanDirection, slot))
	{
		bool		shouldfree;
		HeapTuple	tup = ExecFetchSlotHeapTuple(slot, false, &shouldfree);
		MessageState state = message_state(tup, RelationGetDescr(rel), att, now);

		n++;
		if (state == STATE_READY && *age < 0)
		{
			bool		isnull;
			TimestampTz vis = DatumGetTimestampTz(heap_getattr(tup, att->vis,
															   RelationGetDescr(rel), &isnull));

			*age = Max((double) (now - vis) / USECS_PER_SEC, 0);
		}
		if (st != NULL)
		{
			st->seen++;
			switch (state)
			{
				case STATE_READY:
					st->ready++;
					note_ready_age(tup, RelationGetDescr(rel), att, now, st);
					break;
				case STATE_DELAYED:
					st->delayed++;
					break;
				case STATE_LEASED:
					st->leased++;
					break;
				case STATE_WAITING:
					st->waiting++;
					break;
			}
		}
		if (shouldfree)
			heap_freetuple(tup);
		if (st == NULL && *age >= 0)
			break;
		CHECK_FOR_INTERRUPTS();
	}
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	index_close(idx, AccessShareLock);
	return n;
}

/* The result columns of broker._queue_metrics, in order. */
enum
{
	QM_QUEUE_ID,
	QM_MESSAGES,
	QM_READY,
	QM_DELAYED,
	QM_LEASED,
	QM_WAITING,
	QM_OLDEST_READY_AGE,
	QM_BYTES,
	QM_EXACT,
	QM_COUNTERS,				/* QCOUNT_N counters from here */
	QM_NCOLUMNS = QM_COUNTERS + QCOUNT_N
};

static AttrNumber
queue_attnum(Relation rel, const char *name)
{
	AttrNumber	a = get_attnum(RelationGetRelid(rel), name);

	if (a == InvalidAttrNumber)
		elog(ERROR, "column \"%s\" of %s is missing", name, RelationGetRelationName(rel));
	return a;
}

/* Bytes of a relation's pages as of its last VACUUM or ANALYZE. */
static int64
counted_bytes(Relation rel)
{
	return (int64) Max(rel->rd_rel->relpages, 0) * BLCKSZ;
}

/* The indexes of rel at their counted sizes. */
static int64
indexes_bytes(Relation rel)
{
	List	   *indexes = RelationGetIndexList(rel);
	ListCell   *lc;
	int64		bytes = 0;

	foreach(lc, indexes)
	{
		Relation	idx = index_open(lfirst_oid(lc), AccessShareLock);

		bytes += counted_bytes(idx);
		index_close(idx, AccessShareLock);
	}
	list_free(indexes);
	return bytes;
}

/*
 * The size of a queue: its table's pages now (nblocks), plus its indexes
 * and TOAST table as of their last VACUUM or ANALYZE (pg_class.relpages;
 * autovacuum visits a queue's table every thousand changes).  Reading the
 * current size of those would open their files: with a thousand queues,
 * more files than a backend keeps open, and the scrape spent most of its
 * time opening and closing them.
 */
static int64
queue_bytes(Relation rel, BlockNumber nblocks)
{
	int64		bytes = (int64) nblocks * BLCKSZ + indexes_bytes(rel);

	if (OidIsValid(rel->rd_rel->reltoastrelid))
	{
		Relation	toast = try_relation_open(rel->rd_rel->reltoastrelid, AccessShareLock);

		if (toast != NULL)
		{
			bytes += counted_bytes(toast) + indexes_bytes(toast);
			relation_close(toast, AccessShareLock);
		}
	}
	return bytes;
}

/* Measure one queue into values/nulls; false if its table is gone. */
static bool
measure_queue(int32 queue_id, Oid nsp, Snapshot snap, TimestampTz now,
			  Datum *values, bool *nulls)
{
	char		relname[NAMEDATALEN];
	Oid			relid;
	Relation	rel;
	BlockNumber nblocks;
	QueueAtts	att;
	QueueStates st;
	int64		live;
	bool		stats_known;
	bool		exact;
	double		age;
	int			i;

	snprintf(relname, sizeof(relname), "queue_%d", queue_id);
	relid = get_relname_relid(relname, nsp);
	if (!OidIsValid(relid))
		return false;
	rel = try_relation_open(relid, AccessShareLock);
	if (rel == NULL)
		return false;
	att.vis = queue_attnum(rel, "vis");
	att.group_key = queue_attnum(rel, "group_key");
	att.group_head = queue_attnum(rel, "group_head");
	att.lease_until = queue_attnum(rel, "lease_until");

	memset(&st, 0, sizeof(st));
	st.ready_age = -1;
	nblocks = RelationGetNumberOfBlocks(rel);
	live = DatumGetInt64(DirectFunctionCall1(pg_stat_get_live_tuples, ObjectIdGetDatum(relid)));
	stats_known = live > 0 ||
		DatumGetInt64(DirectFunctionCall1(pg_stat_get_tuples_inserted, ObjectIdGetDatum(relid))) > 0 ||
		DatumGetInt64(DirectFunctionCall1(pg_stat_get_tuples_deleted, ObjectIdGetDatum(relid))) > 0;
	age = -1;
	exact = false;
	if (nblocks <= EXACT_PAGES)
	{
		BlockNumber b;

		for (b = 0; b < nblocks; b++)
			measure_page(rel, b, snap, &att, now, 0, &st);
		exact = true;
		live = (int64) st.seen;
	}
	else
	{
		BlockNumber picked[SAMPLE_MAX_PAGES];
		int			npicked = 0;
		bool		partial = false;
		int64		density;

		/*
		 * SAMPLE_PAGES pages, and more while they hold fewer than
		 * SAMPLE_MIN_ROWS live rows (a sparse table), up to
		 * SAMPLE_MAX_PAGES.
		 */
		while (npicked < Min(SAMPLE_MAX_PAGES, nblocks) &&
			   (npicked < SAMPLE_PAGES || st.seen < SAMPLE_MIN_ROWS))
		{
			BlockNumber b = (BlockNumber) pg_prng_uint64_range(&pg_global_prng_state, 0, nblocks - 1);
			int			j;

			for (j = 0; j < npicked && picked[j] != b; j++)
				;
			if (j < npicked)
				continue;
			picked[npicked++] = b;
			if (measure_page(rel, b, snap, &att, now, SAMPLE_TUPLES, &st))
				partial = true;
		}
		density = (int64) (st.seen / npicked * nblocks);
		if (npicked == nblocks && !partial)
		{
			/* every page was read, every row of it: exact after all */
			exact = true;
			live = (int64) st.seen;
		}
		else if ((stats_known && live <= EXACT_ROWS) || density <= EXACT_ROWS)
		{
			QueueStates all;

			/*
			 * Few rows by the statistics or by the pages (a big table a
			 * drain left nearly empty, or statistics not yet reported):
			 * count them all through the primary key, if they are few.
			 */
			memset(&all, 0, sizeof(all));
			all.ready_age = -1;
			if (scan_by_id(rel, snap, &att, now, EXACT_ROWS + 1, &all, &age) <= EXACT_ROWS)
			{
				st = all;
				exact = true;
				live = (int64) st.seen;
			}
			else
				age = -1;
		}
		if (!exact && (!stats_known || live < st.seen))
		{
			/*
			 * No statistics since a crash or a reset, or statistics behind
			 * what the pages show (not yet reported): the density found.
			 */
			live = density;
		}
	}

	values[QM_MESSAGES] = Int64GetDatum(live);
	if (exact || live == 0)
	{
		values[QM_READY] = Int64GetDatum(exact ? (int64) rint(st.ready) : 0);
		values[QM_DELAYED] = Int64GetDatum(exact ? (int64) rint(st.delayed) : 0);
		values[QM_LEASED] = Int64GetDatum(exact ? (int64) rint(st.leased) : 0);
		values[QM_WAITING] = Int64GetDatum(exact ? (int64) rint(st.waiting) : 0);
	}
	else if (st.seen == 0)
	{
		/* rows, but none on the pages read: say nothing */
		nulls[QM_READY] = nulls[QM_DELAYED] = nulls[QM_LEASED] = nulls[QM_WAITING] = true;
	}
	else
	{
		double		scale = (double) live / st.seen;	/* st.seen > 0 here */
		int64		leased = (int64) rint(st.leased * scale);
		int64		delayed = (int64) rint(st.delayed * scale);
		int64		waiting = (int64) rint(st.waiting * scale);

		values[QM_LEASED] = Int64GetDatum(leased);
		values[QM_DELAYED] = Int64GetDatum(delayed);
		values[QM_WAITING] = Int64GetDatum(waiting);
		/* the rest is ready, so that the four add up to the count */
		values[QM_READY] = Int64GetDatum(Max(live - leased - delayed - waiting, 0));
	}
	if (exact)
		age = st.ready_age;		/* every row was looked at */
	else if (live > 0)
		(void) scan_by_id(rel, snap, &att, now, OLDEST_PROBE, NULL, &age);
	if (age >= 0)
		values[QM_OLDEST_READY_AGE] = Float8GetDatum(age);
	else
		nulls[QM_OLDEST_READY_AGE] = true;
	values[QM_BYTES] = Int64GetDatum(queue_bytes(rel, nblocks));
	relation_close(rel, AccessShareLock);
	values[QM_EXACT] = BoolGetDatum(exact);

	if (counters == NULL)
	{
		for (i = 0; i < QCOUNT_N; i++)
			nulls[QM_COUNTERS + i] = true;
	}
	else
	{
		CounterEntry *e;

		LWLockAcquire(shared->lock, LW_SHARED);
		e = counter_entry(queue_id, false);
		for (i = 0; i < QCOUNT_N; i++)
			values[QM_COUNTERS + i] = Int64GetDatum(e == NULL ? 0 : (int64) pg_atomic_read_u64(&e->c[i]));
		LWLockRelease(shared->lock);
	}
	return true;
}

/*
 * broker._queue_metrics(ids integer[]) RETURNS SETOF record: one row per
 * queue of ids that exists and that the caller may monitor.
 */
Datum
pgbroker_queue_metrics(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ArrayType  *ids;
	Datum	   *elems;
	bool	   *elnulls;
	int			n;
	int			i;
	Oid			nsp = get_namespace_oid("broker", false);
	Oid			role = GetUserId();
	Snapshot	snap = GetActiveSnapshot();
	TimestampTz now = GetCurrentTransactionStartTimestamp();

	InitMaterializedSRF(fcinfo, 0);
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	ids = PG_GETARG_ARRAYTYPE_P(0);
	deconstruct_array(ids, INT4OID, 4, true, TYPALIGN_INT, &elems, &elnulls, &n);
	for (i = 0; i < n; i++)
	{
		int32		id;
		Datum		values[QM_NCOLUMNS];
		bool		nulls[QM_NCOLUMNS];

		if (elnulls[i])
			continue;
		id = DatumGetInt32(elems[i]);
		if (!BrokerHasPrivilege(role, 'q', BrokerAclHolder('q', id), BROKER_PRIV_MONITOR))
			continue;
		memset(nulls, 0, sizeof(nulls));
		values[QM_QUEUE_ID] = Int32GetDatum(id);
		if (measure_queue(id, nsp, snap, now, values, nulls))
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	PG_RETURN_NULL();
}

/*
 * broker._metrics_since() RETURNS timestamptz: when the counters started
 * (server start or the last crash); NULL without shared_preload_libraries.
 */
Datum
pgbroker_metrics_since(PG_FUNCTION_ARGS)
{
	if (shared == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TIMESTAMPTZ(shared->since);
}

static int
cmp_int32(const void *a, const void *b)
{
	int32		x = *(const int32 *) a;
	int32		y = *(const int32 *) b;

	return (x > y) - (x < y);
}

/*
 * broker._queue_counters_keep(ids integer[]) RETURNS integer: forget the
 * counters of this database's queues not in ids (dropped ones); returns
 * how many were forgotten.  maintain() calls it.
 */
Datum
pgbroker_queue_counters_keep(PG_FUNCTION_ARGS)
{
	ArrayType  *ids = PG_GETARG_ARRAYTYPE_P(0);
	Datum	   *elems;
	bool	   *elnulls;
	int			n;
	int			i;
	int			removed = 0;
	int32	   *keep_ids;
	int			nkeep = 0;
	HASH_SEQ_STATUS seq;
	CounterEntry *e;

	if (counters == NULL)
		PG_RETURN_INT32(0);
	deconstruct_array(ids, INT4OID, 4, true, TYPALIGN_INT, &elems, &elnulls, &n);
	/* the ids sorted, outside the lock, for a binary search per entry */
	keep_ids = palloc(sizeof(int32) * (n + 1));
	for (i = 0; i < n; i++)
		if (!elnulls[i])
			keep_ids[nkeep++] = DatumGetInt32(elems[i]);
	qsort(keep_ids, nkeep, sizeof(int32), cmp_int32);
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	hash_seq_init(&seq, counters);
	while ((e = hash_seq_search(&seq)) != NULL)
	{
		bool		keep;

		if (e->key.dbid != MyDatabaseId)
			continue;
		keep = bsearch(&e->key.queue_id, keep_ids, nkeep, sizeof(int32), cmp_int32) != NULL;
		if (!keep)
		{
			(void) hash_search(counters, &e->key, HASH_REMOVE, NULL);
			removed++;
		}
	}
	if (removed > 0)
		shared->full_logged = false;
	LWLockRelease(shared->lock);
	PG_RETURN_INT32(removed);
}

/*
 * broker._queue_count(queue_id integer, counter text, n bigint): count
 * events made by PL/pgSQL (maintain()'s expiry of messages it drops).
 */
Datum
pgbroker_queue_count(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(1));
	int			i;

	for (i = 0; i < QCOUNT_N; i++)
	{
		if (strcmp(name, counter_names[i]) == 0)
		{
			QueueCount(PG_GETARG_INT32(0), (QueueCounter) i, PG_GETARG_INT64(2));
			PG_RETURN_VOID();
		}
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown queue counter \"%s\"", name)));
	PG_RETURN_VOID();
}
