/*-------------------------------------------------------------------------
 *
 * group_state.c
 *	  The state of a consumer group's partitions: reading and writing its
 *	  rows, the lease cache, creating a group, and the offsets-only commit.
 *
 * A group's progress on a partition is the newest row of broker.group_state
 * for (group, partition): committed offset, position handed out, lease
 * holder (consumer, session, epoch, lease_until) and records skipped.
 * Rows are only ever inserted, never updated, so that a poll's new state
 * and the records it returned commit or roll back together, and a reader
 * needs no row lock; maintain() prunes the old ones.  This file writes
 * them for every caller (C owns every write of the table: the polls in
 * group_poll.c, commit, seek, extend_lease and leave in group_commit.c)
 * and reads them with direct index scans.
 *
 * Locks: each (group, partition) has a lock of its own
 * (LockTagGroupPartition).  Polls take it without waiting and skip a
 * partition another transaction of the group is consuming; commits wait
 * for it, since it is held only for the length of a poll.  State is read
 * with a snapshot taken after the lock, so it sees what the previous
 * holder committed.
 *
 * Offsets-only commits: a consumer-group poll or commit writes the group's
 * progress (a state row, a heartbeat).  When those are all the WAL a
 * transaction wrote, nothing in the database depends on them but the
 * group's position, and losing such a commit in a crash only delivers the
 * same records again: what a crash just before the commit does anyway.
 * With pgbroker.synchronous_offsets off (it is on by default: a committed
 * offset must not go back, as the crash test checks) such a transaction
 * commits without waiting for its WAL flush (SET LOCAL synchronous_commit
 * = off at PRE_COMMIT; the WAL writer flushes it within a few
 * wal_writer_delay).  Any other WAL of the transaction, before, between or
 * after pgbroker's writes, keeps the commit as the session configured it;
 * a transaction whose effects in the database are flushed flushes the
 * offsets with them.  Later commits flush the WAL before them, so no
 * durable commit can depend on an offset that is lost.
 *
 * After a crash: the state rows of committed transactions, as WAL replay
 * leaves them (an offsets-only commit may be lost, see above); the lease
 * cache is backend memory.
 *
 * src/group_state.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "parser/parse_relation.h"
#include "tcop/utility.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/typcache.h"
#include "utils/timestamp.h"

#include "acl.h"
#include "group.h"
#include "insert.h"
#include "locktag.h"
#include "scan.h"
#include "topic_read.h"
#include "wait.h"
#include "xact.h"

PG_FUNCTION_INFO_V1(pgbroker_lock_group_partition);
PG_FUNCTION_INFO_V1(pgbroker_ensure_group);

static void group_check_access(BrokerTopic *t, const char *group, const char *owner);


/*
 * Leased mode: the leases one consumer of this session holds in one group,
 * as its own polls last wrote or saw them under the partition locks.  A
 * poll counts what it holds from here instead of reading the state of
 * every partition, and skips looking at held partitions whose lease has
 * more than half left; what it then does to a partition it decides again
 * from the state read under that partition's lock.  Forgotten when a
 * transaction or subtransaction aborts (GroupXactEnded), as what it
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

static SPIPlanPtr plan_create = NULL;
static SPIPlanPtr plan_find = NULL;
static AttrNumber state_attnums[8];	/* columns GroupReadState reads */
static Oid	state_relid = InvalidOid;
/* columns GroupWriteState sets, in the order of its values */
#define STATE_WRITE_COLS 11
static AttrNumber state_write_attnums[STATE_WRITE_COLS];
static Oid	state_write_relid = InvalidOid;
static Oid	state_seq = InvalidOid;
static AttrNumber group_owner_att = InvalidAttrNumber;	/* consumer_group.owner */
static Oid	group_relid = InvalidOid;

/*
 * The transaction's offsets-only writes: where the last one ended in the
 * WAL, and whether any other WAL came before or between them.
 */
static XLogRecPtr offsets_end = InvalidXLogRecPtr;
static bool offsets_alone = true;

/*
 * broker._lock_group_partition(group_id, partition, frees): wait for the
 * holder; with frees, one waiting poll of the group is woken when this
 * transaction ends (a seek, a consumer leaving).
 */
Datum
pgbroker_lock_group_partition(PG_FUNCTION_ARGS)
{
	if (GroupLockPartition(PG_GETARG_INT32(0), PG_GETARG_INT32(1)) && PG_GETARG_BOOL(2))
		BrokerWakeGroupAtEnd(PG_GETARG_INT32(0), 1);
	PG_RETURN_VOID();
}

/*
 * The id of group name of topic topic_id, or -1: a direct scan of the
 * (topic_id, name) unique index, with a new snapshot.  Every poll looks
 * its group up; through SPI the executor's start-up cost more than the
 * scan.
 */
int32
GroupFind(int32 topic_id, const char *name, char **owner)
{
	BrokerIndexScan sc;
	ScanKeyData keys[2];
	int32		id = -1;
	AttrNumber	owner_att;

	BrokerScanOpen(&sc, "consumer_group", "consumer_group_topic_id_name_key", false);
	ScanKeyInit(&keys[0], 1, BTEqualStrategyNumber, F_INT4EQ, Int32GetDatum(topic_id));
	ScanKeyEntryInitialize(&keys[1], 0, 2, BTEqualStrategyNumber, InvalidOid,
						   sc.index->rd_indcollation[1], F_TEXTEQ, CStringGetTextDatum(name));
	BrokerScanStart(&sc, NULL, keys, 2);
	/* (a schema before ALTER EXTENSION UPDATE has no owner column: look again) */
	if (group_relid != RelationGetRelid(sc.rel) || group_owner_att == InvalidAttrNumber)
	{
		group_owner_att = get_attnum(RelationGetRelid(sc.rel), "owner");
		group_relid = RelationGetRelid(sc.rel);
	}
	owner_att = group_owner_att;
	if (owner != NULL)
		*owner = NULL;
	if (BrokerScanNext(&sc, ForwardScanDirection))
	{
		bool		isnull;
		Datum		d;

		id = DatumGetInt32(slot_getattr(sc.slot, 1, &isnull));
		if (owner != NULL && owner_att != InvalidAttrNumber)
		{
			d = slot_getattr(sc.slot, owner_att, &isnull);
			if (!isnull)
				*owner = pstrdup(NameStr(*DatumGetName(d)));
		}
	}
	BrokerScanEnd(&sc);
	return id;
}

/*
 * The id of group name of topic t, the group created if it does not exist
 * with every partition at its start position: 'earliest' (where the
 * partition's retained records start) or 'latest' (its end offset).
 * broker._ensure_group() for create_group().  Concurrent creators meet on
 * the (topic_id, name) unique index: the second waits for the first and
 * then finds its group.
 */
int32
GroupEnsure(BrokerTopic *t, const char *name, const char *start)
{
	Datum		args[4];
	bool		isnull;
	int32		id;
	int32		p;

	BrokerCheckName(name, "consumer group");
	if (start == NULL || (strcmp(start, "earliest") != 0 && strcmp(start, "latest") != 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid start position \"%s\"", start ? start : "<NULL>"),
				 errhint("Use \"earliest\" or \"latest\".")));
	args[0] = Int32GetDatum(t->id);
	args[1] = CStringGetTextDatum(name);
	args[2] = CStringGetTextDatum(start);
	args[3] = CStringGetTextDatum(GetUserNameFromId(BrokerCaller(), false));
	BrokerExecPlan(BrokerKeptPlan(&plan_create,
								  "INSERT INTO broker.consumer_group AS g (topic_id, name, start, owner)"
								  " VALUES ($1, $2, $3, $4)"
								  " ON CONFLICT ON CONSTRAINT consumer_group_topic_id_name_key DO NOTHING"
								  " RETURNING g.id",
								  4, (Oid[]) {INT4OID, TEXTOID, TEXTOID, TEXTOID}),
				   args, NULL, false, 1);
	if (SPI_processed == 0)
	{
		char	   *owner;
		int32		gid;

		/* it exists (perhaps created by a transaction we just waited for) */
		BrokerExecPlan(BrokerKeptPlan(&plan_find,
									  "SELECT g.id FROM broker.consumer_group g"
									  " WHERE g.topic_id OPERATOR(pg_catalog.=) $1"
									  " AND g.name OPERATOR(pg_catalog.=) $2",
									  2, (Oid[]) {INT4OID, TEXTOID}),
					   args, NULL, false, 1);
		if (SPI_processed == 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("consumer group \"%s\" of topic \"%s\" does not exist",
							name, TopicName(t))));
		gid = GroupFind(t->id, name, &owner);
		group_check_access(t, name, owner);
		return gid;
	}
	id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	for (p = 0; p < t->partitions; p++)
	{
		PartitionState st;
		Snapshot	snap = RegisterSnapshot(GetTransactionSnapshot());

		memset(&st, 0, sizeof(st));
		st.committed = st.position = strcmp(start, "earliest") == 0 ?
			TopicEarliestOffset(t->id, p, snap) : TopicEndOffset(t->id, p, snap);
		UnregisterSnapshot(snap);
		GroupWriteState(id, p, &st);
	}
	return id;
}

/*
 * Whether the caller may use a consumer group: with manage on its topic,
 * or as a member of the role that owns it; a group without an owner
 * (created before 0.3.0) by anyone who may consume the topic.  The caller
 * holds consume on the topic already.
 */
static void
group_check_access(BrokerTopic *t, const char *group, const char *owner)
{
	Oid			caller = BrokerCaller();

	if (owner == NULL || BrokerOwnsGroup(caller, owner))
		return;
	if (BrokerHasPrivilege(caller, 't', t->acl_holder, BROKER_PRIV_MANAGE))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied for consumer group \"%s\" of topic \"%s\"", group, TopicName(t)),
			 errdetail("The group belongs to role %s; the manage privilege on the topic is needed to use another role's group.",
					   quote_identifier(owner))));
}

/*
 * The privilege on a topic that using its consumer groups needs: manage
 * (every group), or consume (then the group's owner's, group_check_access).
 */
void
GroupCheckTopic(BrokerTopic *t)
{
	if (!BrokerHasPrivilege(BrokerCaller(), 't', t->acl_holder, BROKER_PRIV_MANAGE))
		BrokerCheckPrivilege('t', TopicName(t), t->acl_holder, BROKER_PRIV_CONSUME);
}

/* The group's id, creating the group (at 'latest') if it does not exist. */
int32
GroupIdFor(BrokerTopic *t, const char *name)
{
	char	   *owner;
	int32		id = GroupFind(t->id, name, &owner);

	if (id >= 0)
	{
		group_check_access(t, name, owner);
		return id;
	}
	/* a new group is more than progress: its commit waits for the flush */
	GroupOffsetsNotAlone();
	return GroupEnsure(t, name, "latest");
}

/* The group's id, or 42704; the caller must be allowed to use it. */
int32
GroupIdRequired(BrokerTopic *t, const char *group)
{
	char	   *owner;
	int32		gid = GroupFind(t->id, group, &owner);

	if (gid < 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("consumer group \"%s\" of topic \"%s\" does not exist", group,
						TopicName(t))));
	group_check_access(t, group, owner);
	return gid;
}

/* Wait for a (group, partition)'s lock; true if this transaction took it now. */
bool
GroupLockPartition(int32 group_id, int32 partition)
{
	LOCKTAG		tag;

	LockTagGroupPartition(&tag, group_id, partition);
	return LockAcquire(&tag, ExclusiveLock, false, false) == LOCKACQUIRE_OK;
}

/* A consumer group's lease: positive and at most a day. */
void
GroupCheckLease(const Interval *lease)
{
	int64		ms = BrokerIntervalMs(lease);

	if (ms <= 0 || ms > (int64) SECS_PER_DAY * 1000)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("lease must be greater than zero and at most 1 day")));
}

/*
 * The newest state of a (group, partition), with a new snapshot.
 *
 * Read with a backward scan of the primary key (group_id, partition, seq)
 * directly rather than through SPI: every poll reads the state of each
 * partition it considers, and the executor's start-up for a one-row query
 * cost as much as the scan itself.
 */
void
GroupReadState(int32 group_id, int32 partition, PartitionState *st)
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
		"lease_until", "skipped", "session", "committed_at"};

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
		st->committed_at = DatumGetTimestampTz(slot_getattr(slot, state_attnums[7], &isnull));
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
 * transaction's start, as now() would give, unless keep_committed_at).
 */
void
GroupWriteState(int32 group_id, int32 partition, PartitionState *st)
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
	BrokerRequireWrite("writing a consumer group's offsets");
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
	v[9] = TimestampTzGetDatum(st->keep_committed_at ? st->committed_at :
							   GetCurrentTransactionStartTimestamp());
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

/* ---------------------------------------------------------------------
 * The lease cache
 * --------------------------------------------------------------------- */

/* Whether the cache is consumer's in group group_id of a topic of partitions. */
bool
GroupLeaseCacheMatches(int32 group_id, int32 partitions, const char *consumer)
{
	return lease_cache.valid && lease_cache.group_id == group_id &&
		lease_cache.partitions == partitions &&
		strcmp(lease_cache.consumer, consumer) == 0;
}

/* When the cached consumer's lease of a partition ends (0: not held). */
TimestampTz
GroupLeaseCacheUntil(int32 partition)
{
	Assert(lease_cache.valid);
	return lease_cache.until[partition];
}

/* Record what a poll wrote or saw of a partition's lease. */
void
GroupLeaseCacheSet(int32 partition, TimestampTz until)
{
	Assert(lease_cache.valid);
	lease_cache.until[partition] = until;
}

/*
 * Fill the cache for a consumer of a group from the newest state row of
 * each partition (direct scans, see GroupReadState).
 */
void
GroupLeaseCacheFill(int32 group_id, int32 partitions, const char *consumer)
{
	TimestampTz now = GetCurrentTimestamp();
	int32		p;

	if (lease_cache.consumer != NULL)
		pfree(lease_cache.consumer);
	if (lease_cache.until != NULL)
		pfree(lease_cache.until);
	lease_cache.consumer = MemoryContextStrdup(TopMemoryContext, consumer);
	lease_cache.until = MemoryContextAllocZero(TopMemoryContext,
											   sizeof(TimestampTz) * partitions);
	lease_cache.group_id = group_id;
	lease_cache.partitions = partitions;
	for (p = 0; p < partitions; p++)
	{
		PartitionState st;

		GroupReadState(group_id, p, &st);
		if (st.found && st.consumer != NULL && st.has_lease && st.lease_until > now &&
			strcmp(st.consumer, consumer) == 0)
			lease_cache.until[p] = st.lease_until;
	}
	lease_cache.valid = true;
}

/* This database session, as state rows name it: pid and start time. */
char *
GroupSessionName(void)
{
	return psprintf("%d.%lld", MyProcPid, (long long) MyStartTimestamp);
}

/*
 * A consumer instance's token (broker.join) as the identity its polls
 * record instead of the session's: "token:" and the token, which no
 * session name can equal.
 */
char *
GroupTokenSession(const char *token)
{
	return psprintf("token:%s", token);
}

/* A token: what broker.join returns, 1 to 64 characters. */
void
GroupCheckToken(const char *token)
{
	if (token[0] == '\0' || strlen(token) > 64)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a consumer token must be 1 to 64 characters"),
				 errhint("Use the token broker.join returned.")));
}

/* ---------------------------------------------------------------------
 * Creating a group
 * --------------------------------------------------------------------- */

/*
 * broker._ensure_group(tid integer, consumer_group text, start_at text)
 *	 RETURNS integer
 *
 * For create_group(): the group's id, created at its start position if
 * missing.
 */
Datum
pgbroker_ensure_group(PG_FUNCTION_ARGS)
{
	char	   *group;
	char	   *start = PG_ARGISNULL(2) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(2));
	BrokerTopic t;
	int32		id;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("topic id must not be null")));
	group = BrokerTextArg(fcinfo, 1, "consumer group name");
	SPI_connect();
	memset(&t, 0, sizeof(t));
	t.id = PG_GETARG_INT32(0);
	if (!TopicPartitionsById(t.id, &t.partitions))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("topic with id %d does not exist", t.id)));
	id = GroupEnsure(&t, group, start);
	SPI_finish();
	PG_RETURN_INT32(id);
}

/* ---------------------------------------------------------------------
 * Offsets-only commits
 * --------------------------------------------------------------------- */

/*
 * Bracket a consumer-group call (poll, commit) whose writes record only
 * the group's progress: state rows, heartbeats, and whatever its reads
 * write in passing (pruning).  WAL this backend wrote since the previous
 * bracket (or since the transaction began) is someone else's.
 */
void
GroupOffsetsWriteBegin(void)
{
	if (XactLastRecEnd != offsets_end)
		offsets_alone = false;
}

/* Within a bracket: this call writes more than progress. */
void
GroupOffsetsNotAlone(void)
{
	offsets_alone = false;
}

void
GroupOffsetsWriteEnd(void)
{
	offsets_end = XactLastRecEnd;
}

/* At PRE_COMMIT, after everything pgbroker writes at commit. */
void
GroupXactPreCommit(void)
{
	if (offsets_end == InvalidXLogRecPtr || !offsets_alone ||
		XactLastRecEnd != offsets_end || pgbroker_synchronous_offsets ||
		synchronous_commit == SYNCHRONOUS_COMMIT_OFF)
		return;
	(void) set_config_option("synchronous_commit", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_LOCAL, true, ERROR, false);
	ereport(DEBUG1,
			(errmsg_internal("pgbroker: offsets-only commit, not waiting for the WAL flush")));
}

/*
 * The transaction ended: forget its offsets bracket, and after an abort
 * the lease cache, whose leases may have been undone.
 */
void
GroupXactEnded(bool aborted)
{
	offsets_end = InvalidXLogRecPtr;
	offsets_alone = true;
	if (aborted)
		lease_cache.valid = false;
}

void
GroupXactSubAborted(void)
{
	lease_cache.valid = false;
}
