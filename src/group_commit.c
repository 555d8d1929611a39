/*-------------------------------------------------------------------------
 *
 * group_commit.c
 *	  Moving a consumer group: commit (by offset, by records, and what a
 *	  leased consumer's polls handed out), seek, extend_lease and leave.
 *
 * Each of these takes the (group, partition) lock, waiting for it (a poll
 * holds it only for its own length), reads the partition's state after the
 * lock and appends a new state row (group_state.c).  A commit is checked
 * against the holder of the partition's lease: a consumer whose lease was
 * taken over, or revoked by a seek (the epoch moves on), is refused with
 * PB001, never silently applied.  seek and leave free partitions: one
 * waiting poll of the group is woken per partition, once the transaction's
 * locks are gone (wait.c).
 *
 * After a crash: the state rows of committed transactions (see
 * group_state.c for the offsets-only commit).
 *
 * src/group_commit.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"

#include "acl.h"
#include "group.h"
#include "topic_read.h"
#include "wait.h"
#include "xact.h"

PG_FUNCTION_INFO_V1(pgbroker_commit);
PG_FUNCTION_INFO_V1(pgbroker_commit_records);
PG_FUNCTION_INFO_V1(pgbroker_commit_handed_out);
PG_FUNCTION_INFO_V1(pgbroker_extend_lease);
PG_FUNCTION_INFO_V1(pgbroker_seek);
PG_FUNCTION_INFO_V1(pgbroker_leave);

static SPIPlanPtr plan_forget_member = NULL;
static SPIPlanPtr plan_offset_for_time = NULL;

/* PB001: consumer lost partition to holder (NULL: to nobody, by expiry or seek). */
static void
group_not_holder(BrokerTopic *t, const char *group, int32 partition,
				 const char *consumer, const char *holder)
{
	ereport(ERROR,
			(errcode(ERRCODE_PB_NOT_HOLDER),
			 errmsg("consumer \"%s\" no longer holds partition %d of topic \"%s\" in group \"%s\"",
					consumer, partition, TopicName(t), group),
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
	PartitionState st;

	BrokerCheckPartition(partition, t->partitions, TopicName(t));
	if (next_offset < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("next_offset must not be null or negative")));

	(void) GroupLockPartition(gid, partition);
	GroupReadState(gid, partition, &st);

	if ((st.consumer == NULL) != (consumer == NULL) ||
		(consumer != NULL && strcmp(st.consumer, consumer) != 0))
	{
		if (consumer == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_PB_NOT_HOLDER),
					 errmsg("partition %d of topic \"%s\" is leased to consumer \"%s\" in group \"%s\"",
							partition, TopicName(t), st.consumer, group),
					 errhint("Commit as the consumer that holds the lease.")));
		group_not_holder(t, group, partition, consumer, st.consumer);
	}

	/*
	 * Within what polls handed out it is below the end; beyond, look (also
	 * on a partition the group has no state for yet: one added since).
	 */
	if (!st.found || next_offset > st.position)
	{
		int64		end_off;

		if (!TopicPartitionsById(t->id, NULL))
		{
			/* dropped while this commit waited for the partition */
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("topic \"%s\" does not exist", TopicName(t))));
		}
		end_off = TopicEndOffset(t->id, partition, NULL);
		if (next_offset > end_off)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("offset " INT64_FORMAT " is beyond the end of partition %d of topic \"%s\"",
							next_offset, partition, TopicName(t)),
					 errdetail("The end offset is " INT64_FORMAT ".", end_off)));
	}

	st.committed = next_offset;
	st.position = st.found ? Max(st.position, next_offset) : next_offset;
	GroupWriteState(gid, partition, &st);
}

/*
 * What every commit form starts with, SPI connected: the call writes only
 * the group's progress; the topic and the group must exist.  Returns the
 * group's id.
 */
static int32
commit_begin(FunctionCallInfo fcinfo, BrokerTopic **t, char **group)
{
	char	   *topic = BrokerTextArg(fcinfo, 0, "topic name");

	BrokerEnterCall();
	GroupOffsetsWriteBegin();
	*t = TopicLookup(topic);
	GroupCheckTopic(*t);
	*group = BrokerTextArg(fcinfo, 1, "consumer group name");
	return GroupIdRequired(*t, *group);
}

/*
 * broker.commit(topic text, consumer_group text, partition int,
 *				 next_offset bigint, consumer text) RETURNS void
 */
static Datum
commit_body(PG_FUNCTION_ARGS)
{
	char	   *group;
	char	   *consumer = PG_ARGISNULL(4) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(4));
	BrokerTopic *t;
	int32		gid;

	(void) BrokerTextArg(fcinfo, 0, "topic name");
	SPI_connect();
	gid = commit_begin(fcinfo, &t, &group);
	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("partition must not be null")));
	if (PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("next_offset must not be null or negative")));
	group_commit_one(t, gid, group, PG_GETARG_INT32(2), PG_GETARG_INT64(3), consumer);
	GroupOffsetsWriteEnd();
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
static Datum
commit_records_body(PG_FUNCTION_ARGS)
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
			(void) BrokerTextArg(fcinfo, 0, "topic name");
			SPI_connect();
			gid = commit_begin(fcinfo, &t, &group);
			last = palloc(sizeof(int64) * t->partitions);
			for (int k = 0; k < t->partitions; k++)
				last[k] = -1;
		}
		BrokerCheckPartition(p, t->partitions, TopicName(t));
		last[p] = Max(last[p], off);
	}

	if (t == NULL)
	{
		/* no record: nothing to commit, but the call is checked all the same */
		(void) BrokerTextArg(fcinfo, 0, "topic name");
		SPI_connect();
		(void) commit_begin(fcinfo, &t, &group);
		GroupOffsetsWriteEnd();
		SPI_finish();
	}
	else
	{
		for (i = 0; i < t->partitions; i++)
		{
			if (last[i] >= 0)
				group_commit_one(t, gid, group, i, last[i] + 1, consumer);
		}
		GroupOffsetsWriteEnd();
		SPI_finish();
	}
	PG_RETURN_VOID();
}

/*
 * broker.commit(topic text, consumer_group text, consumer text, token text)
 *	 RETURNS integer
 *
 * Kafka's commitSync() without offsets: commits, in every partition this
 * consumer holds from polls of this session (or, with a token, of that
 * consumer instance, from any connection), everything those polls handed
 * out (the position).  When nothing moved but the consumer holds records
 * handed out to another session or token, it fails with 55000 instead of
 * answering 0.  A partition this session's memory says the consumer
 * held but whose state now names another consumer, or none, is refused
 * with PB001, as a commit of its records would be.  Returns the number of
 * partitions whose committed offset moved.
 */
static Datum
commit_handed_out_body(PG_FUNCTION_ARGS)
{
	char	   *group;
	char	   *consumer;
	char	   *session;
	bool		by_token = PG_NARGS() > 3 && !PG_ARGISNULL(3);
	BrokerTopic *t;
	int32		gid;
	int32		p;
	int			moved = 0;
	int			elsewhere = 0;
	TimestampTz now = GetCurrentTimestamp();

	(void) BrokerTextArg(fcinfo, 0, "topic name");
	if (by_token)
	{
		char	   *token = text_to_cstring(PG_GETARG_TEXT_PP(3));

		GroupCheckToken(token);
		session = GroupTokenSession(token);
	}
	else
		session = GroupSessionName();
	SPI_connect();
	gid = commit_begin(fcinfo, &t, &group);
	consumer = BrokerTextArg(fcinfo, 2, "consumer name");
	for (p = 0; p < t->partitions; p++)
	{
		PartitionState st;
		bool		remembered;

		remembered = !by_token && GroupLeaseCacheMatches(gid, t->partitions, consumer) &&
			GroupLeaseCacheUntil(p) > now;
		if (!remembered)
		{
			/* a look without the lock first: most partitions are others' */
			GroupReadState(gid, p, &st);
			if (!st.found || st.consumer == NULL || strcmp(st.consumer, consumer) != 0)
				continue;
		}
		(void) GroupLockPartition(gid, p);
		GroupReadState(gid, p, &st);
		if (!st.found || st.consumer == NULL || strcmp(st.consumer, consumer) != 0)
		{
			if (remembered)
				group_not_holder(t, group, p, consumer, st.consumer);
			continue;			/* the lock stays until the transaction ends */
		}
		/* positions are good within the session (or token) that polled (group_poll.c) */
		if (st.session == NULL || strcmp(st.session, session) != 0)
		{
			if (st.position > st.committed)
				elsewhere++;
			continue;
		}
		if (st.position <= st.committed)
			continue;
		st.committed = st.position;
		GroupWriteState(gid, p, &st);
		moved++;
	}
	GroupOffsetsWriteEnd();
	SPI_finish();
	/*
	 * Records handed out to this consumer elsewhere and nothing here: a
	 * commit from another connection than the polls (behind a pooler) must
	 * not say "0 committed" in silence.
	 */
	if (moved == 0 && elsewhere > 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("consumer \"%s\" of group \"%s\" polled from another %s",
						consumer, group, by_token ? "consumer instance (token)" : "database session"),
				 errdetail("What its polls handed out belongs to the session or token that polled; %d partition(s) hold such records.",
						   elsewhere),
				 errhint("Commit from the session that polled, or poll and commit with the token broker.join returned, which works from any connection.")));
	PG_RETURN_INT32(moved);
}

/*
 * broker.extend_lease(topic text, consumer_group text, consumer text,
 *					   lease interval) RETURNS integer
 *
 * Keep the partitions a consumer holds for another lease period; returns
 * how many.  A partition whose lease ended (or that another consumer took
 * over) is not extended.
 */
static Datum
extend_lease_body(PG_FUNCTION_ARGS)
{
	char	   *topic = BrokerTextArg(fcinfo, 0, "topic name");
	char	   *group;
	char	   *consumer;
	Interval	lease;
	BrokerTopic *t;
	int32		gid;
	int32		p;
	int			n = 0;
	TimestampTz now = GetCurrentTransactionStartTimestamp();
	TimestampTz until;

	SPI_connect();
	BrokerEnterCall();
	t = TopicLookup(topic);
	GroupCheckTopic(t);
	group = BrokerTextArg(fcinfo, 1, "consumer group name");
	gid = GroupIdRequired(t, group);
	consumer = BrokerTextArg(fcinfo, 2, "consumer");
	if (PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("lease must be greater than zero and at most 1 day")));
	lease = *PG_GETARG_INTERVAL_P(3);
	GroupCheckLease(&lease);
	until = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
													TimestampTzGetDatum(now),
													IntervalPGetDatum(&lease)));
	for (p = 0; p < t->partitions; p++)
	{
		PartitionState st;

		/* a look without the lock first: most partitions are others' */
		GroupReadState(gid, p, &st);
		if (st.consumer == NULL || strcmp(st.consumer, consumer) != 0 ||
			!st.has_lease || st.lease_until <= now)
			continue;
		(void) GroupLockPartition(gid, p);
		GroupReadState(gid, p, &st);
		if (st.consumer == NULL || strcmp(st.consumer, consumer) != 0 ||
			!st.has_lease || st.lease_until <= now)
			continue;
		st.lease_until = until;
		st.keep_committed_at = true;
		GroupWriteState(gid, p, &st);
		n++;
	}
	SPI_finish();
	PG_RETURN_INT32(n);
}

/*
 * Parse a time, or return false: timestamptz's input function run in a
 * subtransaction, so that its error can be turned into seek's own.
 */
static bool
parse_time(const char *text, Datum *at)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	bool		ok = true;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		*at = DirectFunctionCall3(timestamptz_in, CStringGetDatum(text),
								  ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		ok = false;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	CurrentResourceOwner = owner;
	return ok;
}

/*
 * broker.seek(topic text, consumer_group text, target text, partition int)
 *
 * Move a group (one partition, or all) to target: 'earliest', 'latest', an
 * offset or a time.  Leases are revoked: a consumer that held the
 * partition gets PB001 on its next commit (the epoch moves on).  A group
 * that does not exist is created there.  One waiting poll of the group is
 * woken per partition this transaction takes.
 */
static Datum
seek_body(PG_FUNCTION_ARGS)
{
	char	   *topic = BrokerTextArg(fcinfo, 0, "topic name");
	char	   *target;
	char	   *group;
	BrokerTopic *t;
	int32		gid;
	int32		p;
	bool		is_offset = false;
	int64		offset = 0;
	Datum		at = (Datum) 0;
	const char *c;

	SPI_connect();
	BrokerEnterCall();
	t = TopicLookup(topic);
	/* a group's owner moves it; another role's group needs manage (group_state.c) */
	GroupCheckTopic(t);
	target = BrokerTextArg(fcinfo, 2, "target");
	if (!PG_ARGISNULL(3))
		BrokerCheckPartition(PG_GETARG_INT32(3), t->partitions, TopicName(t));

	/* an offset: digits with optional white space around them */
	for (c = target; isspace((unsigned char) *c); c++)
		;
	if (isdigit((unsigned char) *c))
	{
		while (isdigit((unsigned char) *c))
			c++;
		while (isspace((unsigned char) *c))
			c++;
		is_offset = (*c == '\0');
	}
	if (is_offset)
		offset = DatumGetInt64(DirectFunctionCall1(int8in, CStringGetDatum(target)));
	else if (strcmp(target, "earliest") != 0 && strcmp(target, "latest") != 0)
	{
		if (!parse_time(target, &at))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid seek target \"%s\"", target),
					 errhint("Use \"earliest\", \"latest\", an offset or a timestamp.")));
	}

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("consumer group name must not be null")));
	group = text_to_cstring(PG_GETARG_TEXT_PP(1));
	gid = GroupEnsure(t, group, strcmp(target, "earliest") == 0 ? "earliest" : "latest");
	for (p = 0; p < t->partitions; p++)
	{
		PartitionState st;
		PartitionState next;
		int64		dest;
		Snapshot	snap;

		if (!PG_ARGISNULL(3) && p != PG_GETARG_INT32(3))
			continue;
		if (GroupLockPartition(gid, p))
			BrokerWakeGroupAtEnd(gid, 1);
		snap = RegisterSnapshot(GetTransactionSnapshot());
		if (strcmp(target, "earliest") == 0)
			dest = TopicEarliestOffset(t->id, p, snap);
		else if (strcmp(target, "latest") == 0)
			dest = TopicEndOffset(t->id, p, snap);
		else if (is_offset)
			dest = Min(Max(offset, TopicEarliestOffset(t->id, p, snap)),
					   TopicEndOffset(t->id, p, snap));
		else
		{
			Datum		args[3];
			bool		isnull;

			args[0] = CStringGetTextDatum(topic);
			args[1] = Int32GetDatum(p);
			args[2] = at;
			BrokerExecPlan(BrokerKeptPlan(&plan_offset_for_time,
										  "SELECT broker.offset_for_time($1, $2, $3)",
										  3, (Oid[]) {TEXTOID, INT4OID, TIMESTAMPTZOID}),
						   args, NULL, false, 1);
			dest = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
											   1, &isnull));
		}
		UnregisterSnapshot(snap);
		GroupReadState(gid, p, &st);
		memset(&next, 0, sizeof(next));
		next.committed = next.position = dest;
		next.epoch = st.found ? st.epoch + 1 : 1;
		next.skipped = st.found ? st.skipped : 0;
		GroupWriteState(gid, p, &next);
	}
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * broker.leave(topic text, consumer_group text, consumer text)
 *	 RETURNS integer
 *
 * Give back at once the partitions a leased consumer holds (at their
 * committed offset: what it was handed and did not commit comes again),
 * and forget it as a member, so that the others' fair share grows without
 * waiting for its leases to end.  Returns how many partitions it held.
 */
static Datum
leave_body(PG_FUNCTION_ARGS)
{
	char	   *topic = BrokerTextArg(fcinfo, 0, "topic name");
	char	   *group;
	char	   *consumer;
	BrokerTopic *t;
	int32		gid;
	int32		p;
	int			n = 0;
	Datum		args[2];

	SPI_connect();
	BrokerEnterCall();
	t = TopicLookup(topic);
	GroupCheckTopic(t);
	group = BrokerTextArg(fcinfo, 1, "consumer group name");
	gid = GroupIdRequired(t, group);
	consumer = BrokerTextArg(fcinfo, 2, "consumer");
	for (p = 0; p < t->partitions; p++)
	{
		PartitionState st;

		GroupReadState(gid, p, &st);
		if (st.consumer == NULL || strcmp(st.consumer, consumer) != 0)
			continue;
		if (GroupLockPartition(gid, p))
			BrokerWakeGroupAtEnd(gid, 1);
		GroupReadState(gid, p, &st);
		if (st.consumer == NULL || strcmp(st.consumer, consumer) != 0)
			continue;
		st.position = st.committed;
		st.consumer = NULL;
		st.session = NULL;
		st.has_lease = false;
		st.keep_committed_at = true;
		GroupWriteState(gid, p, &st);
		n++;
	}
	args[0] = Int32GetDatum(gid);
	args[1] = CStringGetTextDatum(consumer);
	BrokerExecPlan(BrokerKeptPlan(&plan_forget_member,
								  "DELETE FROM broker.group_member m"
								  " WHERE m.group_id OPERATOR(pg_catalog.=) $1"
								  " AND m.consumer OPERATOR(pg_catalog.=) $2",
								  2, (Oid[]) {INT4OID, TEXTOID}),
				   args, NULL, false, 0);
	SPI_finish();
	PG_RETURN_INT32(n);
}

/* ---------------------------------------------------------------------
 * Entry points: the caller's privileges are checked above, then the
 * function runs as the extension's owner (acl.c)
 * --------------------------------------------------------------------- */

Datum
pgbroker_commit(PG_FUNCTION_ARGS)
{
	BrokerRequireWrite("broker.commit()");
	return BrokerRunAsOwner(fcinfo, commit_body);
}

Datum
pgbroker_commit_records(PG_FUNCTION_ARGS)
{
	BrokerRequireWrite("broker.commit()");
	return BrokerRunAsOwner(fcinfo, commit_records_body);
}

Datum
pgbroker_commit_handed_out(PG_FUNCTION_ARGS)
{
	BrokerRequireWrite("broker.commit()");
	return BrokerRunAsOwner(fcinfo, commit_handed_out_body);
}

Datum
pgbroker_extend_lease(PG_FUNCTION_ARGS)
{
	BrokerRequireWrite("broker.extend_lease()");
	return BrokerRunAsOwner(fcinfo, extend_lease_body);
}

Datum
pgbroker_seek(PG_FUNCTION_ARGS)
{
	BrokerRequireWrite("broker.seek()");
	return BrokerRunAsOwner(fcinfo, seek_body);
}

Datum
pgbroker_leave(PG_FUNCTION_ARGS)
{
	BrokerRequireWrite("broker.leave()");
	return BrokerRunAsOwner(fcinfo, leave_body);
}
