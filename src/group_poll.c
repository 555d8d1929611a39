/*-------------------------------------------------------------------------
 *
 * group_poll.c
 *	  Consuming a topic through a consumer group: poll, in its
 *	  transactional and leased forms, with or without a wait, and
 *	  poll_wait.
 *
 * A poll takes each partition's lock (LockTagGroupPartition) without
 * waiting, so a partition that another transaction of the group is
 * consuming is skipped, never waited for; then it reads the partition's
 * state (group_state.c) with a snapshot taken after the lock, and the
 * records with the same snapshot (topic_read.c).
 *
 * Transactional poll (no lease): the lock is kept until the transaction
 * ends, and the new state (committed offset after the records returned)
 * is a row inserted in the caller's transaction.  A commit makes records
 * and offset move together; a rollback or a crash leaves the old state,
 * and the records come again.  Partitions under someone's lease are
 * skipped until the lease ends.
 *
 * Leased poll (lease and consumer given): the state row records the lease
 * (consumer, epoch, lease_until), the position handed out and whom it was
 * handed to (this session, or the token of a consumer instance, which
 * then works from any connection); the committed offset moves only by
 * broker.commit(), which is refused once
 * another consumer took the partition over.  A consumer takes new
 * partitions only up to its fair share: ceil(partitions / consumers seen
 * polling within the lease period).  Partitions beyond its share it stops
 * reading, and gives back at once those with nothing in flight (all it
 * was handed is committed); the others' leases run out.  Partitions it
 * holds but did not read from have their lease extended once half of it
 * is gone.  Heartbeats (broker.group_member) count the consumers.
 *
 * A poll that finds nothing may wait (wait.c) on the topic's waiter tag
 * and on its group's: a publish or a freed partition wakes it.
 *
 * src/group_poll.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/stratnum.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "acl.h"
#include "group.h"
#include "locktag.h"
#include "scan.h"
#include "topic_read.h"
#include "wait.h"
#include "xact.h"

PG_FUNCTION_INFO_V1(pgbroker_poll);
PG_FUNCTION_INFO_V1(pgbroker_poll_wait);

typedef struct PollContext
{
	BrokerWaiter waiter;		/* first: the wait loop's view of the poll */
	char	   *topic_name;
	char	   *group_name;
	BrokerTopic *topic;
	int32		group_id;
	int32		max;
	char	   *consumer;		/* leased mode only */
	char	   *session;		/* this database session, or the consumer's token */
	bool		leased;
	Interval	lease;
	TimestampTz next_due;		/* earliest lease of another consumer to end */
	int32		only_partition; /* transactional poll of one partition; -1: all */
} PollContext;

static SPIPlanPtr plan_heartbeat = NULL;
static uint32 poll_start = 0;

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
		BrokerExecPlan(BrokerKeptPlan(&plan_heartbeat,
									  "INSERT INTO broker.group_member AS m (group_id, consumer, last_poll)"
									  " VALUES ($1, $2, $3) ON CONFLICT (group_id, consumer)"
									  " DO UPDATE SET last_poll = EXCLUDED.last_poll"
									  " WHERE m.last_poll OPERATOR(pg_catalog.<) $4",
									  4, (Oid[]) {INT4OID, TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID}),
					   args, NULL, false, 0);
	return (int) ((ctx->topic->partitions + active - 1) / active);
}

static bool
lease_cache_for(PollContext *ctx)
{
	return GroupLeaseCacheMatches(ctx->group_id, ctx->topic->partitions, ctx->consumer);
}

/* Record what this poll wrote or saw of partition p's lease. */
static void
lease_cache_set(PollContext *ctx, int32 p, TimestampTz until)
{
	if (ctx->leased && lease_cache_for(ctx))
		GroupLeaseCacheSet(p, until);
}

/*
 * Leased mode: the partitions this consumer holds a live lease on.  From
 * the lease cache when it is this consumer's in this group; else the cache
 * is filled first from the state rows.
 */
static bool *
group_held(PollContext *ctx, TimestampTz now, int *nheld)
{
	bool	   *held = palloc0(sizeof(bool) * ctx->topic->partitions);
	int32		p;

	*nheld = 0;
	if (!lease_cache_for(ctx))
		GroupLeaseCacheFill(ctx->group_id, ctx->topic->partitions, ctx->consumer);
	for (p = 0; p < ctx->topic->partitions; p++)
	{
		held[p] = GroupLeaseCacheUntil(p) > now;
		if (held[p])
			(*nheld)++;
	}
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
		if (held[p] && lease_cache_for(ctx) && GroupLeaseCacheUntil(p) >= renew_before)
			continue;
		LockTagGroupPartition(&tag, ctx->group_id, p);
		r = LockAcquire(&tag, ExclusiveLock, false, true);
		if (r == LOCKACQUIRE_NOT_AVAIL)
			continue;
		GroupReadState(ctx->group_id, p, &st);
		if (st.found && st.consumer != NULL && strcmp(st.consumer, ctx->consumer) == 0 &&
			st.has_lease && st.lease_until > now)
		{
			if (release[p] && st.committed >= st.position)
			{
				st.consumer = NULL;
				st.session = NULL;
				st.has_lease = false;
				GroupWriteState(ctx->group_id, p, &st);
				lease_cache_set(ctx, p, 0);
				/* one consumer of the group can take it over */
				BrokerWakeGroupAtEnd(ctx->group_id, 1);
				continue;		/* the lock stays until the row is committed */
			}
			else if (held[p] && st.lease_until < renew_before)
			{
				st.lease_until = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
																		 TimestampTzGetDatum(now),
																		 IntervalPGetDatum(&ctx->lease)));
				GroupWriteState(ctx->group_id, p, &st);
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
	TopicSegmentList sl;
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
	TopicLoadSegments(t->id, GetActiveSnapshot(), &sl);
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
		if (ctx->only_partition >= 0 && p != ctx->only_partition)
			continue;

		LockTagGroupPartition(&tag, ctx->group_id, p);
		r = LockAcquire(&tag, ExclusiveLock, false, true);
		if (r == LOCKACQUIRE_NOT_AVAIL)
			continue;			/* another transaction of the group has it */

		GroupReadState(ctx->group_id, p, &st);
		if (!st.found)
		{
			/* a partition added after the group was created: from its start */
			st.committed = st.position = TopicSegmentStart(&sl, 0, p);
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
		 * The holder's position is good within the session (or for the
		 * token, broker.join) that polled; a consumer back under the same
		 * name in a new session (or with a new token) may have
		 * lost what it was given, so it starts again from committed.
		 */
		if (mine && (st.session == NULL || strcmp(st.session, ctx->session) != 0))
		{
			mine = false;
			st.position = st.committed;
		}
		orig = from = mine ? st.position : st.committed;
		earliest = TopicSegmentStart(&sl, 0, p);
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
			starts[k] = TopicSegmentStart(&sl, k, p);
		}
		n = TopicReadPartition(t->id, p, from, remaining, sl.nseg, segs, starts,
							   ctx->waiter.rsinfo->setResult, ctx->waiter.rsinfo->setDesc, &last);
		if (n == 0)
		{
			/* nothing to read; record a jump past removed records, if any */
			if (from != orig)
			{
				st.position = Max(st.position, from);
				GroupWriteState(ctx->group_id, p, &st);
				if (r == LOCKACQUIRE_OK)
					BrokerWakeGroupAtEnd(ctx->group_id, 1);
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
				BrokerWakeGroupAtEnd(ctx->group_id, 1);
		}
		GroupWriteState(ctx->group_id, p, &st);
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

static int	poll_look(BrokerWaiter *w, bool registered);
static int	poll_register(BrokerWaiter *w, LOCKTAG *tags);

/* The arguments of a poll, into ctx. */
static void
poll_args(FunctionCallInfo fcinfo, PollContext *ctx, bool in_procedure)
{
	int64		wait_ms;
	int			token_arg;
	char	   *topic = BrokerTextArg(fcinfo, 0, "topic name");
	char	   *group = BrokerTextArg(fcinfo, 1, "consumer group name");

	memset(ctx, 0, sizeof(*ctx));
	ctx->topic_name = topic;
	ctx->group_name = group;
	ctx->waiter.look = poll_look;
	ctx->waiter.register_tags = poll_register;
	ctx->waiter.row_type = "record";
	ctx->max = PG_ARGISNULL(2) ? 100 : PG_GETARG_INT32(2);
	if (ctx->max < 1 || ctx->max > PGBROKER_MAX_BATCH)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_records must be between 1 and %d", PGBROKER_MAX_BATCH)));
	wait_ms = BrokerWaitArg(fcinfo, 3, in_procedure, "broker.poll_wait");
	if (!PG_ARGISNULL(4))
	{
		ctx->consumer = text_to_cstring(PG_GETARG_TEXT_PP(4));
		BrokerCheckName(ctx->consumer, "consumer");
	}
	if (BrokerIntervalArg(fcinfo, 5, "lease", &ctx->lease))
	{
		GroupCheckLease(&ctx->lease);
		if (ctx->consumer == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("a leased poll needs a consumer name"),
					 errhint("Pass consumer => a name that identifies this consumer instance.")));
		ctx->leased = true;
	}
	/* broker.poll's partition (the procedure's next argument is its result) */
	ctx->only_partition = -1;
	if (!in_procedure && PG_NARGS() > 6 && !PG_ARGISNULL(6))
	{
		ctx->only_partition = PG_GETARG_INT32(6);
		if (ctx->only_partition < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("partition must not be negative")));
		if (ctx->leased)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("a leased poll cannot name a partition"),
					 errhint("A leased consumer is given its partitions; poll one partition transactionally (without lease).")));
	}
	BrokerCheckName(group, "consumer group");
	/*
	 * The consumer instance: its token (broker.join) when it passes one, so
	 * that its position holds from any connection (behind a pooler); else
	 * this database session.  poll's token follows its partition; the
	 * procedures' comes before their result.
	 */
	token_arg = in_procedure ? 6 : 7;
	if (PG_NARGS() > token_arg + (in_procedure ? 1 : 0) && !PG_ARGISNULL(token_arg))
	{
		char	   *token = text_to_cstring(PG_GETARG_TEXT_PP(token_arg));

		GroupCheckToken(token);
		if (!ctx->leased)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("a token is for a leased poll"),
					 errhint("Pass consumer and lease with it; a transactional poll needs no identity.")));
		ctx->session = GroupTokenSession(token);
	}
	else
		ctx->session = GroupSessionName();
	if (poll_start == 0)
		poll_start = (uint32) MyProcPid;
	ctx->waiter.wait_ms = wait_ms;
}

/*
 * One look of a poll (wait.c): find the topic and group (creating the
 * group at 'latest' if it is new) and read what is there, as one call that
 * writes nothing but the group's progress.
 */
static int
poll_look(BrokerWaiter *w, bool registered)
{
	PollContext *ctx = (PollContext *) w;
	int			got;

	GroupOffsetsWriteBegin();
	ctx->topic = TopicLookup(ctx->topic_name);
	GroupCheckTopic(ctx->topic);
	if (ctx->only_partition >= 0)
		BrokerCheckPartition(ctx->only_partition, ctx->topic->partitions, TopicName(ctx->topic));
	ctx->group_id = GroupIdFor(ctx->topic, ctx->group_name);
	ctx->next_due = 0;
	got = poll_once(ctx);
	GroupOffsetsWriteEnd();
	/* what the tests count to see who was woken */
	if (registered)
		elog(DEBUG2, "pgbroker: poll looked again and found %d records", got);
	w->due = ctx->next_due;
	w->backstop_ms = PGBROKER_IDLE_BACKSTOP_MS;
	return got;
}

/* Woken by a publish, or by a partition of the group freed. */
static int
poll_register(BrokerWaiter *w, LOCKTAG *tags)
{
	PollContext *ctx = (PollContext *) w;

	LockTagTopicWaiters(&tags[0], ctx->topic->id);
	LockTagGroupWaiters(&tags[1], ctx->group_id);
	return 2;
}

/*
 * broker.poll(topic text, consumer_group text, max_records int,
 *			   wait interval, consumer text, lease interval)
 *	 RETURNS SETOF broker.record
 *
 * A poll that finds nothing and may wait registers on the topic's waiter
 * tag and its group's (wait.c) and sleeps until a producer commits to the
 * topic, a poll of the group frees partitions, another consumer's lease
 * ends, or the backstop; the statement holds its snapshot while it sleeps.
 */
static Datum
poll_body(PG_FUNCTION_ARGS)
{
	PollContext ctx;

	poll_args(fcinfo, &ctx, false);
	InitMaterializedSRF(fcinfo, 0);
	ctx.waiter.rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	SPI_connect();
	BrokerEnterCall();
	(void) BrokerWaitInStatement(&ctx.waiter);
	SPI_finish();
	return (Datum) 0;
}

/*
 * CALL broker.poll_wait(topic text, consumer_group text, max_records int,
 *						 wait interval, consumer text, lease interval,
 *						 INOUT records broker.record[])
 *
 * A leased poll that waits without holding a snapshot (wait.c): each look
 * is a transaction of its own.  Only the leased mode: a transactional
 * poll's offsets would be committed here, before the caller saw its
 * records.
 */
Datum
pgbroker_poll_wait(PG_FUNCTION_ARGS)
{
	PollContext ctx;

	BrokerRequireWrite("broker.poll_wait()");
	BrokerCheckNonAtomic(fcinfo, "broker.poll_wait", "broker.poll with wait");
	poll_args(fcinfo, &ctx, true);
	if (!ctx.leased)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("broker.poll_wait needs a consumer name and a lease"),
				 errhint("Transactional consumption polls inside the transaction that does the work: use broker.poll there.")));
	return BrokerWaitProcedure(fcinfo, &ctx.waiter);
}

/* ---------------------------------------------------------------------
 * Entry points: the caller's privileges are checked above, then the
 * function runs as the extension's owner (acl.c)
 * --------------------------------------------------------------------- */

Datum
pgbroker_poll(PG_FUNCTION_ARGS)
{
	BrokerRequireWrite("broker.poll()");
	return BrokerRunAsOwner(fcinfo, poll_body);
}
