/*-------------------------------------------------------------------------
 *
 * group.c
 *	  Consumer groups: poll, in its transactional and leased forms.
 *
 * Each (group, partition) has a heavyweight lock of its own (an advisory
 * tag in pgbroker's field4 space).  A poll takes it with dontWait, so a
 * partition that another transaction of the group is consuming is
 * skipped, never waited for; then it reads the partition's state (the
 * newest row of broker.group_state) with a snapshot taken after the lock,
 * so it sees what the previous holder committed.
 *
 * Transactional poll (no lease): the lock is kept until the transaction
 * ends, and the new state (committed offset after the records returned)
 * is a row inserted in the caller's transaction.  A commit makes records
 * and offset move together; a rollback or a crash leaves the old state,
 * and the records come again.  Partitions under someone's lease are
 * skipped until the lease ends.
 *
 * Leased poll (lease and consumer given): the state row records the lease
 * (consumer, epoch, lease_until) and the position handed out; the
 * committed offset moves only by broker.commit(), which is refused once
 * another consumer took the partition over.  A consumer takes new
 * partitions only up to its fair share: ceil(partitions / consumers seen
 * polling within the lease period).  Partitions beyond its share it stops
 * reading, and gives back at once those with nothing in flight (all it
 * was handed is committed); the others' leases run out.  Partitions it
 * holds but did not read from have their lease extended once half of it
 * is gone.
 *
 * State rows are only ever inserted, never updated (see the SQL script),
 * and records are read with the same snapshot as the state.
 *
 * src/group.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "executor/executor.h"
#include "parser/parse_relation.h"
#include "tcop/utility.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/typcache.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "catalog.h"
#include "pgbroker.h"
#include "topic.h"

PG_FUNCTION_INFO_V1(pgbroker_poll);
PG_FUNCTION_INFO_V1(pgbroker_poll_wait);
PG_FUNCTION_INFO_V1(pgbroker_lock_group_partition);
PG_FUNCTION_INFO_V1(pgbroker_commit);
PG_FUNCTION_INFO_V1(pgbroker_commit_records);
PG_FUNCTION_INFO_V1(pgbroker_commit_handed_out);

typedef struct PartitionState
{
	bool		found;
	int64		committed;
	int64		position;
	char	   *consumer;		/* NULL: nobody */
	char	   *session;		/* the holder's database session */
	int64		epoch;
	bool		has_lease;
	TimestampTz lease_until;
	int64		skipped;
} PartitionState;

typedef struct PollContext
{
	BrokerTopic *topic;
	int32		group_id;
	int32		max;
	char	   *consumer;		/* leased mode only */
	char	   *session;		/* this database session */
	bool		leased;
	Interval	lease;
	ReturnSetInfo *rsinfo;
	TimestampTz next_due;		/* earliest lease of another consumer to end */
} PollContext;

/*
 * Leased mode: the leases one consumer of this session holds in one group,
 * as its own polls last wrote or saw them under the partition locks.  A
 * poll counts what it holds from here instead of reading the state of
 * every partition, and skips looking at held partitions whose lease has
 * more than half left; what it then does to a partition it decides again
 * from the state read under that partition's lock.  Forgotten when a
 * transaction or subtransaction aborts (GroupLeaseCacheReset), as what it
 * records may have been undone.
 */
typedef struct LeaseCache
{
	bool		valid;
	int32		group_id;
	int32		partitions;
	char	   *consumer;
	TimestampTz *until;			/* per partition; 0: not held */
} LeaseCache;

static LeaseCache lease_cache;

static SPIPlanPtr plan_ensure = NULL;
static AttrNumber state_attnums[7];	/* columns group_read_state reads */
static Oid	state_relid = InvalidOid;
/* columns group_write_state sets, in the order of its values */
#define STATE_WRITE_COLS 11
static AttrNumber state_write_attnums[STATE_WRITE_COLS];
static Oid	state_write_relid = InvalidOid;
static Oid	state_seq = InvalidOid;
static AttrNumber segment_attnums[2];	/* seg_no, start_offsets */
static Oid	segment_relid = InvalidOid;
static SPIPlanPtr plan_heartbeat = NULL;
static SPIPlanPtr plan_end_offset = NULL;
static uint32 poll_start = 0;

static SPIPlanPtr
group_prepare(SPIPlanPtr *cache, const char *sql, int nargs, Oid *argtypes)
{
	if (*cache == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare(sql, nargs, argtypes);

		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		SPI_keepplan(plan);
		*cache = plan;
	}
	return *cache;
}

static void
group_lock_tag(LOCKTAG *tag, int32 group_id, int32 partition)
{
	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, (uint32) group_id,
						 (uint32) partition, PGBROKER_LOCK_GROUP_PART);
}

/*
 * broker._lock_group_partition(group_id, partition, frees): wait for the
 * holder; with frees, one waiting poll of the group is woken when this
 * transaction ends (a seek, a consumer leaving).
 */
Datum
pgbroker_lock_group_partition(PG_FUNCTION_ARGS)
{
	LOCKTAG		tag;

	group_lock_tag(&tag, PG_GETARG_INT32(0), PG_GETARG_INT32(1));
	if (LockAcquire(&tag, ExclusiveLock, false, false) == LOCKACQUIRE_OK &&
		PG_GETARG_BOOL(2))
		BrokerWakeAtEnd(BROKER_WAKE_GROUP, PG_GETARG_INT32(0), 1);
	PG_RETURN_VOID();
}

/*
 * The id of group name of topic topic_id, or -1: a direct scan of the
 * (topic_id, name) unique index, with a new snapshot.  Every poll looks
 * its group up; through SPI the executor's start-up cost more than the
 * scan.
 */
static int32
group_find(int32 topic_id, const char *name)
{
	BrokerIndexScan sc;
	ScanKeyData keys[2];
	int32		id = -1;

	BrokerScanOpen(&sc, "consumer_group", "consumer_group_topic_id_name_key", false);
	ScanKeyInit(&keys[0], 1, BTEqualStrategyNumber, F_INT4EQ, Int32GetDatum(topic_id));
	ScanKeyEntryInitialize(&keys[1], 0, 2, BTEqualStrategyNumber, InvalidOid,
						   sc.index->rd_indcollation[1], F_TEXTEQ, CStringGetTextDatum(name));
	BrokerScanStart(&sc, NULL, keys, 2);
	if (BrokerScanNext(&sc, ForwardScanDirection))
	{
		bool		isnull;

		id = DatumGetInt32(slot_getattr(sc.slot, 1, &isnull));
	}
	BrokerScanEnd(&sc);
	return id;
}

/* The group's id, creating the group (at 'latest') if it does not exist. */
static int32
group_id_for(BrokerTopic *t, const char *name)
{
	Datum		args[2];
	bool		isnull;
	int32		id = group_find(t->id, name);

	if (id >= 0)
		return id;
	/* a new group is more than progress: its commit waits for the flush */
	BrokerOffsetsNotAlone();
	args[0] = Int32GetDatum(t->id);
	args[1] = CStringGetTextDatum(name);
	group_prepare(&plan_ensure,
				  "SELECT broker._ensure_group($1, $2, 'latest')",
				  2, (Oid[]) {INT4OID, TEXTOID});
	BrokerExecPlan(plan_ensure, args, NULL, false, 1);
	id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	return id;
}

/*
 * The newest state of a (group, partition), with a new snapshot.
 *
 * Read with a backward scan of the primary key (group_id, partition, seq)
 * directly rather than through SPI: every poll reads the state of each
 * partition it considers, and the executor's start-up for a one-row query
 * cost as much as the scan itself.
 */
static void
group_read_state(int32 group_id, int32 partition, PartitionState *st)
{
	BrokerIndexScan sc;
	ScanKeyData keys[2];
	Oid			relid;

	memset(st, 0, sizeof(PartitionState));
	BrokerScanOpen(&sc, "group_state", "group_state_pkey", false);
	relid = RelationGetRelid(sc.rel);
	if (state_attnums[0] == 0 || state_relid != relid)
	{
		static const char *const names[] = {"committed", "position", "consumer", "epoch",
		"lease_until", "skipped", "session"};

		for (int i = 0; i < lengthof(names); i++)
		{
			state_attnums[i] = get_attnum(relid, names[i]);
			if (state_attnums[i] == InvalidAttrNumber)
				elog(ERROR, "column %s of broker.group_state is missing", names[i]);
		}
		state_relid = relid;
	}
	ScanKeyInit(&keys[0], 1, BTEqualStrategyNumber, F_INT4EQ, Int32GetDatum(group_id));
	ScanKeyInit(&keys[1], 2, BTEqualStrategyNumber, F_INT4EQ, Int32GetDatum(partition));
	BrokerScanStart(&sc, NULL, keys, 2);
	if (BrokerScanNext(&sc, BackwardScanDirection))
	{
		TupleTableSlot *slot = sc.slot;
		bool		isnull;
		Datum		d;

		st->found = true;
		st->committed = DatumGetInt64(slot_getattr(slot, state_attnums[0], &isnull));
		st->position = DatumGetInt64(slot_getattr(slot, state_attnums[1], &isnull));
		d = slot_getattr(slot, state_attnums[2], &isnull);
		st->consumer = isnull ? NULL : TextDatumGetCString(d);
		st->epoch = DatumGetInt64(slot_getattr(slot, state_attnums[3], &isnull));
		d = slot_getattr(slot, state_attnums[4], &isnull);
		st->has_lease = !isnull;
		st->lease_until = isnull ? 0 : DatumGetTimestampTz(d);
		st->skipped = DatumGetInt64(slot_getattr(slot, state_attnums[5], &isnull));
		d = slot_getattr(slot, state_attnums[6], &isnull);
		st->session = isnull ? NULL : TextDatumGetCString(d);
	}
	BrokerScanEnd(&sc);
}

/*
 * Append a new state row for a (group, partition).  Inserted directly
 * (heap and primary key), not through an INSERT statement: every poll
 * writes one per partition it read from, and the executor's start-up for
 * a one-row INSERT cost as much as the insert.  The table has no
 * triggers or constraints besides its primary key; every column is set
 * here, defaults included (seq from its sequence, committed_at the
 * transaction's start, as now() would give).
 */
static void
group_write_state(int32 group_id, int32 partition, PartitionState *st)
{
	static const char *const names[STATE_WRITE_COLS] = {
		"group_id", "partition", "seq", "committed", "position", "consumer",
		"session", "epoch", "lease_until", "committed_at", "skipped"
	};
	Datum		v[STATE_WRITE_COLS];
	bool		n[STATE_WRITE_COLS];
	Oid			relid = get_relname_relid("group_state", get_namespace_oid("broker", false));
	Relation	rel;
	TupleDesc	desc;
	Datum	   *values;
	bool	   *nulls;
	int			i;

	/* rows are inserted directly, past the executor's read-only check */
	PreventCommandIfReadOnly("broker.poll()");
	PreventCommandDuringRecovery("broker.poll()");
	if (!OidIsValid(relid))
		elog(ERROR, "table broker.group_state is missing");
	rel = BrokerOpenForInsert(relid);
	if (state_write_relid != relid)
	{
		for (i = 0; i < STATE_WRITE_COLS; i++)
		{
			state_write_attnums[i] = attnameAttNum(rel, names[i], false);
			if (state_write_attnums[i] == InvalidAttrNumber)
				elog(ERROR, "column %s of broker.group_state is missing", names[i]);
		}
		state_seq = get_relname_relid("group_state_seq", RelationGetNamespace(rel));
		if (!OidIsValid(state_seq))
			elog(ERROR, "sequence broker.group_state_seq is missing");
		state_write_relid = relid;
	}

	memset(n, false, sizeof(n));
	v[0] = Int32GetDatum(group_id);
	v[1] = Int32GetDatum(partition);
	v[2] = Int64GetDatum(nextval_internal(state_seq, false));
	v[3] = Int64GetDatum(st->committed);
	v[4] = Int64GetDatum(st->position);
	n[5] = st->consumer == NULL;
	v[5] = n[5] ? (Datum) 0 : CStringGetTextDatum(st->consumer);
	n[6] = st->session == NULL;
	v[6] = n[6] ? (Datum) 0 : CStringGetTextDatum(st->session);
	v[7] = Int64GetDatum(st->epoch);
	n[8] = !st->has_lease;
	v[8] = n[8] ? (Datum) 0 : TimestampTzGetDatum(st->lease_until);
	v[9] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	v[10] = Int64GetDatum(st->skipped);

	desc = RelationGetDescr(rel);
	values = palloc0(sizeof(Datum) * desc->natts);
	nulls = palloc(sizeof(bool) * desc->natts);
	memset(nulls, true, sizeof(bool) * desc->natts);
	for (i = 0; i < STATE_WRITE_COLS; i++)
	{
		values[state_write_attnums[i] - 1] = v[i];
		nulls[state_write_attnums[i] - 1] = n[i];
	}

	BrokerInsertRow(rel, values, nulls);
	table_close(rel, NoLock);
	pfree(values);
	pfree(nulls);

	/* later statements of this transaction (commit(), the views) see it */
	CommandCounterIncrement();
}

/* The topic's active segments: seg_no and start offsets of every partition. */
typedef struct SegmentList
{
	int			nseg;
	int32	   *segs;
	ArrayType **starts;
} SegmentList;

/*
 * A direct scan of broker.segment's primary key (topic_id, seg_no) under
 * the active snapshot, the one the records are then read with; every
 * poll loads them.  The start offsets are copied (detoasted) into the
 * caller's memory context.
 */
static void
group_load_segments(int32 topic_id, SegmentList *sl)
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
	BrokerScanStart(&sc, GetActiveSnapshot(), &key, 1);
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

static int64
segment_start(ArrayType *a, int32 partition)
{
	int			n = ArrayGetNItems(ARR_NDIM(a), ARR_DIMS(a));

	if (partition >= n)
		return 0;
	return ((int64 *) ARR_DATA_PTR(a))[partition];
}

/*
 * Scan the members of a group (the group_member primary key, a new
 * snapshot): how many consumers other than "me" polled after "since", and
 * (*fresh) whether me's last poll is at or after "fresh_since".
 */
static int64
group_scan_members(int32 group_id, const char *me, TimestampTz since,
				   TimestampTz fresh_since, bool *fresh)
{
	BrokerIndexScan sc;
	ScanKeyData key;
	AttrNumber	consumer_att;
	AttrNumber	last_poll_att;
	int64		others = 0;

	BrokerScanOpen(&sc, "group_member", "group_member_pkey", false);
	consumer_att = get_attnum(RelationGetRelid(sc.rel), "consumer");
	last_poll_att = get_attnum(RelationGetRelid(sc.rel), "last_poll");
	if (consumer_att == InvalidAttrNumber || last_poll_att == InvalidAttrNumber)
		elog(ERROR, "a column of broker.group_member is missing");
	*fresh = false;
	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_INT4EQ, Int32GetDatum(group_id));
	BrokerScanStart(&sc, NULL, &key, 1);
	while (BrokerScanNext(&sc, ForwardScanDirection))
	{
		bool		isnull;
		text	   *consumer = DatumGetTextPP(slot_getattr(sc.slot, consumer_att, &isnull));
		TimestampTz last_poll = DatumGetTimestampTz(slot_getattr(sc.slot, last_poll_att, &isnull));

		if (strlen(me) == VARSIZE_ANY_EXHDR(consumer) &&
			memcmp(me, VARDATA_ANY(consumer), VARSIZE_ANY_EXHDR(consumer)) == 0)
			*fresh = last_poll >= fresh_since;
		else if (last_poll > since)
			others++;
	}
	BrokerScanEnd(&sc);
	return others;
}

/* Leased mode: count this poll as a heartbeat; return the fair share. */
static int
group_fair_share(PollContext *ctx, TimestampTz now)
{
	Datum		args[4];
	int64		active;
	bool		fresh;
	Interval	quarter = ctx->lease;
	TimestampTz since;

	quarter.time /= 4;
	quarter.day /= 4;
	quarter.month /= 4;
	args[0] = Int32GetDatum(ctx->group_id);
	args[1] = CStringGetTextDatum(ctx->consumer);
	args[2] = TimestampTzGetDatum(now);
	/* write the heartbeat only when a quarter lease old: few updates */
	args[3] = DirectFunctionCall2(timestamptz_mi_interval, TimestampTzGetDatum(now),
								  IntervalPGetDatum(&quarter));
	since = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_mi_interval,
													TimestampTzGetDatum(now),
													IntervalPGetDatum(&ctx->lease)));

	/*
	 * One scan of the group's members: the others active within a lease,
	 * and whether this consumer's heartbeat is recent.  An upsert whose
	 * WHERE fails still locks the row (and writes WAL): a poll between
	 * heartbeats writes nothing.
	 */
	active = 1 + group_scan_members(ctx->group_id, ctx->consumer, since,
									DatumGetTimestampTz(args[3]), &fresh);
	if (!fresh)
		BrokerExecPlan(group_prepare(&plan_heartbeat,
				  "INSERT INTO broker.group_member AS m (group_id, consumer, last_poll)"
				  " VALUES ($1, $2, $3) ON CONFLICT (group_id, consumer)"
				  " DO UPDATE SET last_poll = EXCLUDED.last_poll"
				  " WHERE m.last_poll OPERATOR(pg_catalog.<) $4",
				  4, (Oid[]) {INT4OID, TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID}),
					   args, NULL, false, 0);
	return (int) ((ctx->topic->partitions + active - 1) / active);
}

void
GroupLeaseCacheReset(void)
{
	lease_cache.valid = false;
}

/* Whether the cache is consumer's in group group_id of a topic of partitions. */
static bool
lease_cache_matches(int32 group_id, int32 partitions, const char *consumer)
{
	return lease_cache.valid && lease_cache.group_id == group_id &&
		lease_cache.partitions == partitions &&
		strcmp(lease_cache.consumer, consumer) == 0;
}

static bool
lease_cache_for(PollContext *ctx)
{
	return lease_cache_matches(ctx->group_id, ctx->topic->partitions, ctx->consumer);
}

/* Record what this poll wrote or saw of partition p's lease. */
static void
lease_cache_set(PollContext *ctx, int32 p, TimestampTz until)
{
	if (ctx->leased && lease_cache_for(ctx))
		lease_cache.until[p] = until;
}

/*
 * Leased mode: the partitions this consumer holds a live lease on.  From
 * the cache when it is this consumer's in this group; else from the newest
 * state row of each partition (direct scans, see group_read_state), which
 * then fill the cache.
 */
static bool *
group_held(PollContext *ctx, TimestampTz now, int *nheld)
{
	bool	   *held = palloc0(sizeof(bool) * ctx->topic->partitions);
	int32		p;

	*nheld = 0;
	if (lease_cache_for(ctx))
	{
		for (p = 0; p < ctx->topic->partitions; p++)
		{
			held[p] = lease_cache.until[p] > now;
			if (held[p])
				(*nheld)++;
		}
		return held;
	}

	if (lease_cache.consumer != NULL)
		pfree(lease_cache.consumer);
	if (lease_cache.until != NULL)
		pfree(lease_cache.until);
	lease_cache.consumer = MemoryContextStrdup(TopMemoryContext, ctx->consumer);
	lease_cache.until = MemoryContextAllocZero(TopMemoryContext,
											   sizeof(TimestampTz) * ctx->topic->partitions);
	lease_cache.group_id = ctx->group_id;
	lease_cache.partitions = ctx->topic->partitions;
	for (p = 0; p < ctx->topic->partitions; p++)
	{
		PartitionState st;

		group_read_state(ctx->group_id, p, &st);
		if (st.found && st.consumer != NULL && st.has_lease && st.lease_until > now &&
			strcmp(st.consumer, ctx->consumer) == 0)
		{
			held[p] = true;
			(*nheld)++;
			lease_cache.until[p] = st.lease_until;
		}
	}
	lease_cache.valid = true;
	return held;
}

/*
 * Leased mode, after a poll: give back at once the partitions beyond this
 * consumer's fair share that have nothing in flight (all it was handed is
 * committed), so that newcomers get them at their next poll; and extend
 * the leases of partitions it holds but did not read from this time once
 * half their lease is gone, so that a consumer holding several partitions
 * keeps them all while it polls.
 */
static void
group_tend_leases(PollContext *ctx, const bool *held, const bool *release,
				  const bool *touched, TimestampTz now)
{
	int			p;
	TimestampTz renew_before;
	Interval	half = ctx->lease;

	half.time /= 2;
	half.day /= 2;
	half.month /= 2;
	renew_before = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
														   TimestampTzGetDatum(now),
														   IntervalPGetDatum(&half)));
	for (p = 0; p < ctx->topic->partitions; p++)
	{
		LOCKTAG		tag;
		LockAcquireResult r;
		PartitionState st;

		if (touched[p] || !(release[p] || held[p]))
			continue;
		/* a lease this consumer wrote with more than half left: nothing to do */
		if (held[p] && lease_cache_for(ctx) && lease_cache.until[p] >= renew_before)
			continue;
		group_lock_tag(&tag, ctx->group_id, p);
		r = LockAcquire(&tag, ExclusiveLock, false, true);
		if (r == LOCKACQUIRE_NOT_AVAIL)
			continue;
		group_read_state(ctx->group_id, p, &st);
		if (st.found && st.consumer != NULL && strcmp(st.consumer, ctx->consumer) == 0 &&
			st.has_lease && st.lease_until > now)
		{
			if (release[p] && st.committed >= st.position)
			{
				st.consumer = NULL;
				st.session = NULL;
				st.has_lease = false;
				group_write_state(ctx->group_id, p, &st);
				lease_cache_set(ctx, p, 0);
				/* one consumer of the group can take it over */
				BrokerWakeAtEnd(BROKER_WAKE_GROUP, ctx->group_id, 1);
				continue;		/* the lock stays until the row is committed */
			}
			else if (held[p] && st.lease_until < renew_before)
			{
				st.lease_until = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
																		 TimestampTzGetDatum(now),
																		 IntervalPGetDatum(&ctx->lease)));
				group_write_state(ctx->group_id, p, &st);
				lease_cache_set(ctx, p, st.lease_until);
				continue;
			}
			lease_cache_set(ctx, p, st.lease_until);
		}
		else
			lease_cache_set(ctx, p, 0);
		if (r == LOCKACQUIRE_OK)
			LockRelease(&tag, ExclusiveLock, false);
	}
}

/* One look at every partition; returns the number of records returned. */
static int
poll_once(PollContext *ctx)
{
	BrokerTopic *t = ctx->topic;
	TimestampTz now = GetCurrentTimestamp();
	SegmentList sl;
	int32	   *segs;
	int64	   *starts;
	int			remaining = ctx->max;
	int			share = t->partitions;
	int			nheld = 0;
	bool	   *held = NULL;
	bool	   *release = NULL;
	bool	   *touched = palloc0(sizeof(bool) * t->partitions);
	int			i;
	int			first = (int) (poll_start++ % (uint32) t->partitions);

	PushActiveSnapshot(GetLatestSnapshot());
	group_load_segments(t->id, &sl);
	segs = palloc(sizeof(int32) * Max(sl.nseg, 1));
	starts = palloc(sizeof(int64) * Max(sl.nseg, 1));
	if (ctx->leased)
	{
		share = group_fair_share(ctx, now);
		held = group_held(ctx, now, &nheld);
		release = palloc0(sizeof(bool) * t->partitions);

		/*
		 * Over its fair share, a consumer lets the leases of its
		 * highest-numbered partitions run out (always the same ones, so
		 * that they do run out) for newcomers to take.
		 */
		for (i = t->partitions - 1; i >= 0 && nheld > share; i--)
		{
			if (held[i])
			{
				held[i] = false;
				release[i] = true;
				nheld--;
			}
		}
	}

	for (i = 0; i < t->partitions && remaining > 0; i++)
	{
		int32		p = (first + i) % t->partitions;
		LOCKTAG		tag;
		LockAcquireResult r;
		PartitionState st;
		bool		mine;
		bool		leased_by_other;
		int64		from;
		int64		orig;
		int64		earliest;
		int64		last = -1;
		int			n;
		int			k;

		if (ctx->leased && (release[p] || (!held[p] && nheld >= share)))
			continue;

		group_lock_tag(&tag, ctx->group_id, p);
		r = LockAcquire(&tag, ExclusiveLock, false, true);
		if (r == LOCKACQUIRE_NOT_AVAIL)
			continue;			/* another transaction of the group has it */

		group_read_state(ctx->group_id, p, &st);
		if (!st.found)
		{
			/* a partition added after the group was created: from its start */
			st.committed = st.position = sl.nseg > 0 ? segment_start(sl.starts[0], p) : 0;
		}
		mine = ctx->leased && st.consumer != NULL && st.has_lease &&
			st.lease_until > now && strcmp(st.consumer, ctx->consumer) == 0;
		leased_by_other = st.consumer != NULL && st.has_lease && st.lease_until > now && !mine;
		lease_cache_set(ctx, p, mine ? st.lease_until : 0);
		if (leased_by_other)
		{
			if (ctx->next_due == 0 || st.lease_until < ctx->next_due)
				ctx->next_due = st.lease_until;
			if (r == LOCKACQUIRE_OK)
				LockRelease(&tag, ExclusiveLock, false);
			continue;
		}

		/*
		 * The holder's position is good within the session that polled;
		 * a consumer back under the same name in a new session may have
		 * lost what it was given, so it starts again from committed.
		 */
		if (mine && (st.session == NULL || strcmp(st.session, ctx->session) != 0))
		{
			mine = false;
			st.position = st.committed;
		}
		orig = from = mine ? st.position : st.committed;
		earliest = sl.nseg > 0 ? segment_start(sl.starts[0], p) : 0;
		if (from < earliest)
		{
			/* retention removed records the group had not read */
			st.skipped += earliest - from;
			if (st.committed < earliest)
				st.committed = earliest;
			from = earliest;
		}
		for (k = 0; k < sl.nseg; k++)
		{
			segs[k] = sl.segs[k];
			starts[k] = segment_start(sl.starts[k], p);
		}
		n = TopicReadPartition(t->id, p, from, remaining, sl.nseg, segs, starts,
							   ctx->rsinfo->setResult, ctx->rsinfo->setDesc, &last);
		if (n == 0)
		{
			/* nothing to read; record a jump past removed records, if any */
			if (from != orig)
			{
				st.position = Max(st.position, from);
				group_write_state(ctx->group_id, p, &st);
				if (r == LOCKACQUIRE_OK)
					BrokerWakeAtEnd(BROKER_WAKE_GROUP, ctx->group_id, 1);
			}
			else if (r == LOCKACQUIRE_OK)
				LockRelease(&tag, ExclusiveLock, false);
			continue;
		}
		remaining -= n;
		if (ctx->leased)
		{
			if (!mine)
			{
				st.epoch++;
				st.consumer = ctx->consumer;
				st.session = ctx->session;
				if (!held[p])
				{
					held[p] = true;
					nheld++;
				}
			}
			st.position = last + 1;
			st.has_lease = true;
			st.lease_until = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
																	 TimestampTzGetDatum(now),
																	 IntervalPGetDatum(&ctx->lease)));
		}
		else
		{
			st.committed = st.position = last + 1;
			st.consumer = NULL;
			st.session = NULL;
			st.has_lease = false;
			/*
			 * The partition is free again when this transaction ends: for
			 * one waiting consumer of the group (counted once, when this
			 * transaction took the lock).
			 */
			if (r == LOCKACQUIRE_OK)
				BrokerWakeAtEnd(BROKER_WAKE_GROUP, ctx->group_id, 1);
		}
		group_write_state(ctx->group_id, p, &st);
		if (ctx->leased)
			lease_cache_set(ctx, p, st.lease_until);
		touched[p] = true;
		/* transactional: the lock stays until the transaction ends */
	}
	if (ctx->leased)
		group_tend_leases(ctx, held, release, touched, now);
	PopActiveSnapshot();
	return ctx->max - remaining;
}

static int64
interval_ms(const Interval *iv)
{
	return (int64) (iv->time / 1000) +
		(int64) iv->day * SECS_PER_DAY * 1000 +
		(int64) iv->month * DAYS_PER_MONTH * SECS_PER_DAY * 1000;
}

/* This database session, as state rows name it: pid and start time. */
static char *
group_session_name(void)
{
	return psprintf("%d.%lld", MyProcPid, (long long) MyStartTimestamp);
}

/* The arguments of a poll, into ctx; returns the wait in milliseconds. */
static int64
poll_args(FunctionCallInfo fcinfo, PollContext *ctx, char **topic, char **group,
		  int64 max_wait_ms)
{
	Interval	wait;
	int64		wait_ms = 0;

	*topic = BrokerTextArg(fcinfo, 0, "topic name");
	*group = BrokerTextArg(fcinfo, 1, "consumer group name");
	memset(ctx, 0, sizeof(*ctx));
	ctx->max = PG_ARGISNULL(2) ? 100 : PG_GETARG_INT32(2);
	if (ctx->max < 1 || ctx->max > PGBROKER_MAX_BATCH)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_records must be between 1 and %d", PGBROKER_MAX_BATCH)));
	if (BrokerIntervalArg(fcinfo, 3, "wait", &wait))
	{
		wait_ms = interval_ms(&wait);
		if (wait_ms > max_wait_ms)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("wait must be at most %s",
							max_wait_ms > 3600 * 1000 ? "1 day" : "1 hour"),
					 max_wait_ms > 3600 * 1000 ?
					 errhint("Loop on shorter waits.") :
					 errhint("Loop on shorter waits, or CALL broker.poll_wait, which holds no snapshot while it waits.")));
	}
	if (!PG_ARGISNULL(4))
	{
		ctx->consumer = text_to_cstring(PG_GETARG_TEXT_PP(4));
		BrokerCheckName(ctx->consumer, "consumer");
	}
	if (BrokerIntervalArg(fcinfo, 5, "lease", &ctx->lease))
	{
		int64		ms = interval_ms(&ctx->lease);

		if (ms <= 0 || ms > (int64) SECS_PER_DAY * 1000)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("lease must be greater than zero and at most 1 day")));
		if (ctx->consumer == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("a leased poll needs a consumer name"),
					 errhint("Pass consumer => a name that identifies this consumer instance.")));
		ctx->leased = true;
	}
	BrokerCheckName(*group, "consumer group");
	ctx->session = group_session_name();
	if (poll_start == 0)
		poll_start = (uint32) MyProcPid;
	return wait_ms;
}

/*
 * broker.poll(topic text, consumer_group text, max_records int,
 *			   wait interval, consumer text, lease interval)
 *	 RETURNS SETOF broker.record
 *
 * A poll that finds nothing and may wait registers on the topic's waiter
 * tag (wait.c) and sleeps until a producer commits to the topic, a poll of
 * the group frees partitions, another consumer's lease ends, or the
 * backstop; the statement holds its snapshot while it sleeps.
 */
Datum
pgbroker_poll(PG_FUNCTION_ARGS)
{
	char	   *topic;
	char	   *group;
	PollContext ctx;
	int64		wait_ms;
	int			got;

	wait_ms = poll_args(fcinfo, &ctx, &topic, &group, 3600 * 1000);
	InitMaterializedSRF(fcinfo, 0);
	ctx.rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	SPI_connect();
	BrokerEnterCall();
	BrokerOffsetsWriteBegin();
	ctx.topic = TopicLookup(topic);
	ctx.group_id = group_id_for(ctx.topic, group);

	got = poll_once(&ctx);
	if (got == 0 && wait_ms > 0)
	{
		LOCKTAG		tag;
		LOCKTAG		group_tag;
		TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), wait_ms);

		/* woken by a publish, or by a partition of the group freed */
		BrokerTopicWaiterTag(&tag, ctx.topic->id);
		(void) LockAcquire(&tag, ShareLock, false, false);
		BrokerGroupWaiterTag(&group_tag, ctx.group_id);
		(void) LockAcquire(&group_tag, ShareLock, false, false);
		for (;;)
		{
			/* reset before looking, so that no wakeup is lost */
			ResetLatch(MyLatch);
			/* a new SPI connection per look frees the last one's memory */
			SPI_finish();
			SPI_connect();
			ctx.next_due = 0;
			got = poll_once(&ctx);
			/* what the tests count to see who was woken */
			elog(DEBUG2, "pgbroker: poll looked again and found %d records", got);
			if (got > 0 || GetCurrentTimestamp() >= deadline)
				break;
			(void) BrokerWaitSleep(BrokerWaitMs(deadline, ctx.next_due, PGBROKER_IDLE_BACKSTOP_MS),
								   false, NULL, &group_tag);
		}
		LockRelease(&group_tag, ShareLock, false);
		LockRelease(&tag, ShareLock, false);
	}
	BrokerOffsetsWriteEnd();
	SPI_finish();
	return (Datum) 0;
}

/*
 * CALL broker.poll_wait(topic text, consumer_group text, max_records int,
 *						 wait interval, consumer text, lease interval,
 *						 INOUT records broker.record[])
 *
 * A leased poll that waits without holding a snapshot (see
 * broker.claim_wait): each look is a transaction of its own.  Only the
 * leased mode: a transactional poll's offsets would be committed here,
 * before the caller saw its records.
 */
Datum
pgbroker_poll_wait(PG_FUNCTION_ARGS)
{
	BrokerProcResult pr;
	char	   *topic;
	char	   *group;
	PollContext ctx;
	int64		wait_ms;
	TimestampTz deadline;
	bool		registered = false;
	LOCKTAG		group_tag;
	BrokerLookState look;
	int			got;

	BrokerCheckNonAtomic(fcinfo, "broker.poll_wait", "broker.poll with wait");
	wait_ms = poll_args(fcinfo, &ctx, &topic, &group, (int64) SECS_PER_DAY * 1000);
	if (!ctx.leased)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("broker.poll_wait needs a consumer name and a lease"),
				 errhint("Transactional consumption polls inside the transaction that does the work: use broker.poll there.")));
	deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), wait_ms);

	BrokerProcResultBegin(fcinfo, &pr);
	ctx.rsinfo = &pr.rs;

	for (;;)
	{
		SPI_connect_ext(SPI_OPT_NONATOMIC);
		BrokerLookBegin(fcinfo, &look);
		BrokerEnterCall();
		BrokerOffsetsWriteBegin();
		ctx.topic = TopicLookup(topic);
		ctx.group_id = group_id_for(ctx.topic, group);
		if (registered)
			ResetLatch(MyLatch);
		ctx.next_due = 0;
		got = poll_once(&ctx);
		BrokerOffsetsWriteEnd();
		if (got > 0 || GetCurrentTimestamp() >= deadline)
			break;				/* still connected */
		if (!registered)
		{
			LOCKTAG		tag;

			BrokerTopicWaiterTag(&tag, ctx.topic->id);
			BrokerWaitSessionBegin(&tag);
			BrokerGroupWaiterTag(&group_tag, ctx.group_id);
			BrokerWaitSessionBegin(&group_tag);
			registered = true;
			BrokerLookEnd(&look);
			SPI_finish();
			continue;
		}
		/* end the look's transaction: no snapshot while sleeping */
		BrokerLookEnd(&look);
		SPI_commit();
		SPI_finish();
		(void) BrokerWaitSleep(BrokerWaitMs(deadline, ctx.next_due, PGBROKER_IDLE_BACKSTOP_MS),
							   false, NULL, &group_tag);
	}
	BrokerLookEnd(&look);
	BrokerProcResultFinish(&pr);
	/* the leases and positions are written at this commit */
	SPI_commit();
	SPI_finish();
	BrokerWaitSessionEnd();

	return BrokerProcResultEnd(&pr);
}

/* PB001: consumer lost partition to holder (NULL: to nobody, by expiry or seek). */
static void
group_not_holder(BrokerTopic *t, const char *group, int32 partition,
				 const char *consumer, const char *holder)
{
	ereport(ERROR,
			(errcode(ERRCODE_PB_NOT_HOLDER),
			 errmsg("consumer \"%s\" no longer holds partition %d of topic \"%s\" in group \"%s\"",
					consumer, partition, t->name, group),
			 holder == NULL ?
			 errdetail("The lease ended and the partition was consumed or reset since.") :
			 errdetail("Consumer \"%s\" took the partition over.", holder),
			 errhint("Its records will be delivered again; poll again to get work.")));
}

/*
 * Commit: the next offset of one partition for a consumer (leased mode) or
 * for a group without a lease holder.  Checked against the holder of the
 * partition's lease: a consumer whose lease was taken over is refused
 * (PB001), never silently applied.  Runs under the (group, partition)
 * lock, waited for: it is held only for the length of a poll.
 */
static void
group_commit_one(BrokerTopic *t, int32 gid, const char *group, int32 partition,
				 int64 next_offset, const char *consumer)
{
	LOCKTAG		tag;
	PartitionState st;

	if (partition < 0 || partition >= t->partitions)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("partition %d is out of range for topic \"%s\"", partition, t->name),
				 errdetail("The topic has %d partitions, numbered from 0.", t->partitions)));
	if (next_offset < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("next_offset must not be null or negative")));

	group_lock_tag(&tag, gid, partition);
	(void) LockAcquire(&tag, ExclusiveLock, false, false);
	group_read_state(gid, partition, &st);

	if ((st.consumer == NULL) != (consumer == NULL) ||
		(consumer != NULL && strcmp(st.consumer, consumer) != 0))
	{
		if (consumer == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_PB_NOT_HOLDER),
					 errmsg("partition %d of topic \"%s\" is leased to consumer \"%s\" in group \"%s\"",
							partition, t->name, st.consumer, group),
					 errhint("Commit as the consumer that holds the lease.")));
		group_not_holder(t, group, partition, consumer, st.consumer);
	}

	/*
	 * Within what polls handed out it is below the end; beyond, look (also
	 * on a partition the group has no state for yet: one added since).
	 */
	if (!st.found || next_offset > st.position)
	{
		Datum		args[2];
		bool		isnull;
		int64		end_off;

		args[0] = Int32GetDatum(t->id);
		args[1] = Int32GetDatum(partition);
		BrokerExecPlan(group_prepare(&plan_end_offset,
									 "SELECT broker._end_offset(t, $2) FROM broker.topic t"
									 " WHERE t.id OPERATOR(pg_catalog.=) $1",
									 2, (Oid[]) {INT4OID, INT4OID}),
					   args, NULL, true, 1);
		if (SPI_processed != 1)
		{
			/* dropped while this commit waited for the partition */
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("topic \"%s\" does not exist", t->name)));
		}
		end_off = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
											  &isnull));
		if (next_offset > end_off)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("offset " INT64_FORMAT " is beyond the end of partition %d of topic \"%s\"",
							next_offset, partition, t->name),
					 errdetail("The end offset is " INT64_FORMAT ".", end_off)));
	}

	st.committed = next_offset;
	st.position = st.found ? Max(st.position, next_offset) : next_offset;
	group_write_state(gid, partition, &st);
}

/* The group's id, or 42704. */
static int32
group_id_required(BrokerTopic *t, const char *group)
{
	int32		gid = group_find(t->id, group);

	if (gid < 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("consumer group \"%s\" of topic \"%s\" does not exist", group, t->name)));
	return gid;
}

/*
 * broker.commit(topic text, consumer_group text, partition int,
 *				 next_offset bigint, consumer text) RETURNS void
 */
Datum
pgbroker_commit(PG_FUNCTION_ARGS)
{
	char	   *topic = BrokerTextArg(fcinfo, 0, "topic name");
	char	   *group;
	char	   *consumer = PG_ARGISNULL(4) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(4));
	BrokerTopic *t;
	int32		gid;

	SPI_connect();
	BrokerEnterCall();
	BrokerOffsetsWriteBegin();
	t = TopicLookup(topic);
	group = BrokerTextArg(fcinfo, 1, "consumer group name");
	gid = group_id_required(t, group);
	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("partition must not be null")));
	if (PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("next_offset must not be null or negative")));
	group_commit_one(t, gid, group, PG_GETARG_INT32(2), PG_GETARG_INT64(3), consumer);
	BrokerOffsetsWriteEnd();
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * broker.commit(topic text, consumer_group text, records broker.record[],
 *				 consumer text) RETURNS void
 *
 * Commits, per partition in ascending order, the offset after the last
 * record of that partition among those given.
 */
Datum
pgbroker_commit_records(PG_FUNCTION_ARGS)
{
	ArrayType  *records;
	Oid			elemtype;
	int16		elmlen;
	bool		elmbyval;
	char		elmalign;
	Datum	   *elems;
	bool	   *elemnulls;
	int			nelems;
	TupleDesc	desc;
	int			part_att = -1;
	int			off_att = -1;
	BrokerTopic *t = NULL;
	char	   *group = NULL;
	int32		gid = -1;
	int64	   *last = NULL;
	int			i;
	char	   *consumer = PG_ARGISNULL(3) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(3));

	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("records must not be null")));
	records = PG_GETARG_ARRAYTYPE_P(2);
	elemtype = ARR_ELEMTYPE(records);
	get_typlenbyvalalign(elemtype, &elmlen, &elmbyval, &elmalign);
	deconstruct_array(records, elemtype, elmlen, elmbyval, elmalign,
					  &elems, &elemnulls, &nelems);
	desc = lookup_rowtype_tupdesc(elemtype, -1);
	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (strcmp(NameStr(att->attname), "partition") == 0)
			part_att = i;
		else if (strcmp(NameStr(att->attname), "offset_id") == 0)
			off_att = i;
	}
	ReleaseTupleDesc(desc);
	if (part_att < 0 || off_att < 0)
		elog(ERROR, "type broker.record has no partition or offset_id");

	/* the highest offset per partition; records of a null partition: none */
	for (i = 0; i < nelems; i++)
	{
		HeapTupleHeader rec;
		bool		isnull;
		Datum		d;
		int32		p;
		int64		off;

		if (elemnulls[i])
			continue;
		rec = DatumGetHeapTupleHeader(elems[i]);
		d = GetAttributeByNum(rec, part_att + 1, &isnull);
		if (isnull)
			continue;
		p = DatumGetInt32(d);
		d = GetAttributeByNum(rec, off_att + 1, &isnull);
		if (isnull)
			continue;
		off = DatumGetInt64(d);
		if (t == NULL)
		{
			/* the first record: the topic and group must exist */
			char	   *topic = BrokerTextArg(fcinfo, 0, "topic name");

			SPI_connect();
			BrokerEnterCall();
			BrokerOffsetsWriteBegin();
			t = TopicLookup(topic);
			group = BrokerTextArg(fcinfo, 1, "consumer group name");
			gid = group_id_required(t, group);
			last = palloc(sizeof(int64) * t->partitions);
			for (int k = 0; k < t->partitions; k++)
				last[k] = -1;
		}
		if (p < 0 || p >= t->partitions)
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("partition %d is out of range for topic \"%s\"", p, t->name),
					 errdetail("The topic has %d partitions, numbered from 0.", t->partitions)));
		last[p] = Max(last[p], off);
	}

	if (t != NULL)
	{
		for (i = 0; i < t->partitions; i++)
		{
			if (last[i] >= 0)
				group_commit_one(t, gid, group, i, last[i] + 1, consumer);
		}
		BrokerOffsetsWriteEnd();
		SPI_finish();
	}
	PG_RETURN_VOID();
}

/*
 * broker.commit(topic text, consumer_group text, consumer text)
 *	 RETURNS integer
 *
 * Kafka's commitSync() without offsets: commits, in every partition this
 * consumer holds from polls of this session, everything those polls handed
 * out (the position).  A partition this session's memory says the consumer
 * held but whose state now names another consumer, or none, is refused
 * with PB001, as a commit of its records would be.  Returns the number of
 * partitions whose committed offset moved.
 */
Datum
pgbroker_commit_handed_out(PG_FUNCTION_ARGS)
{
	char	   *topic = BrokerTextArg(fcinfo, 0, "topic name");
	char	   *group;
	char	   *consumer;
	char	   *session = group_session_name();
	BrokerTopic *t;
	int32		gid;
	int32		p;
	int			moved = 0;
	TimestampTz now = GetCurrentTimestamp();

	SPI_connect();
	BrokerEnterCall();
	BrokerOffsetsWriteBegin();
	t = TopicLookup(topic);
	group = BrokerTextArg(fcinfo, 1, "consumer group name");
	consumer = BrokerTextArg(fcinfo, 2, "consumer name");
	gid = group_id_required(t, group);
	for (p = 0; p < t->partitions; p++)
	{
		PartitionState st;
		LOCKTAG		tag;
		bool		remembered;

		remembered = lease_cache_matches(gid, t->partitions, consumer) &&
			lease_cache.until[p] > now;
		if (!remembered)
		{
			/* a look without the lock first: most partitions are others' */
			group_read_state(gid, p, &st);
			if (!st.found || st.consumer == NULL || strcmp(st.consumer, consumer) != 0)
				continue;
		}
		group_lock_tag(&tag, gid, p);
		(void) LockAcquire(&tag, ExclusiveLock, false, false);
		group_read_state(gid, p, &st);
		if (!st.found || st.consumer == NULL || strcmp(st.consumer, consumer) != 0)
		{
			if (remembered)
				group_not_holder(t, group, p, consumer, st.consumer);
			continue;			/* the lock stays until the transaction ends */
		}
		/* positions are good within the session that polled (see poll_once) */
		if (st.session == NULL || strcmp(st.session, session) != 0 ||
			st.position <= st.committed)
			continue;
		st.committed = st.position;
		group_write_state(gid, p, &st);
		moved++;
	}
	BrokerOffsetsWriteEnd();
	SPI_finish();
	PG_RETURN_INT32(moved);
}
