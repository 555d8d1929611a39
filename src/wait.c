/*-------------------------------------------------------------------------
 *
 * wait.c
 *	  Waking consumers that wait inside a claim, without NOTIFY and without
 *	  shared memory of our own.
 *
 * The registry of waiters is the lock manager: a waiting consumer holds a
 * ShareLock on an advisory lock tag made of (database, queue id, 0,
 * PGBROKER_LOCK_WAITERS) for as long as it waits.  A producer, after its
 * commit became visible, asks the lock manager which transactions hold a
 * lock that conflicts with ExclusiveLock on that tag and sets their
 * latches.  Share locks do not conflict with each other, so waiters never
 * block one another, and the producer never takes the lock itself: it only
 * reads the lock table.  The waiters show up in pg_locks as advisory locks
 * with objsubid PGBROKER_LOCK_WAITERS.
 *
 * No wakeup is lost: a waiter registers before it looks for messages, and
 * resets its latch before each look, while the producer wakes only after
 * its commit is visible to every new snapshot.
 *
 * A queue's message goes to one consumer, so a producer wakes as many
 * waiters as it made messages available, oldest registration first,
 * rather than all of them: a hundred idle consumers do not all run a
 * claim for every message.  Waiters with a filter register under a tag
 * of their own and are all woken, since the producer cannot tell whether
 * they want the message.  A woken waiter that is cancelled before it
 * looks leaves the message to the others' next look (at most
 * PGBROKER_BACKSTOP_MS later).  Topic waiters are all woken by a
 * publish: every group reads every record.
 *
 * Messages also become available when a transaction that held them ends
 * without a commit of new ones: a claim rolled back, a transactional poll
 * that held partitions of a group.  Those transactions wake the waiters
 * once their locks are gone (a resource-release callback after the lock
 * release), so that the woken waiter does not find the lock still held.
 * A partition freed that way is of use to one consumer of its group only,
 * so topic waiters also register under their group's tag, and the end of
 * a transaction that held partitions of a group wakes as many of that
 * group's waiters as it held partitions (with 16 consumers on 8
 * partitions, waking every waiter of the topic at each poll's commit made
 * the 8 without a partition look again, in vain, each time).
 *
 * The wait procedures (claim_wait, poll_wait) commit between looks so that
 * they hold no snapshot while they sleep; their registration is a session
 * lock, taken once for the whole wait and dropped when the wait ends or
 * the transaction it is in aborts (a cancel, a timeout).
 *
 * src/wait.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "executor/tuptable.h"
#include "funcapi.h"
#include "catalog/pg_proc.h"
#include "commands/async.h"
#include "libpq/libpq-be.h"
#include "miscadmin.h"
#include "nodes/pg_list.h"
#include "utils/array.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "storage/latch.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "storage/sinvaladt.h"
#include "nodes/parsenodes.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"
#include "utils/typcache.h"
#include "utils/wait_event.h"

#include "pgbroker.h"

/*
 * Claims with a filter register apart (field3 = 1): a producer cannot tell
 * whether its message matches their filter, so it wakes them all.
 */
void
BrokerWaiterTag(LOCKTAG *tag, int32 queue_id, bool filtered)
{
	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, (uint32) queue_id, filtered ? 1 : 0,
						 PGBROKER_LOCK_WAITERS);
}

/* The same registry for consumers polling a topic. */
void
BrokerTopicWaiterTag(LOCKTAG *tag, int32 topic_id)
{
	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, (uint32) topic_id, 0,
						 PGBROKER_LOCK_TOPIC_WAITERS);
}

/* Consumers of one group, waiting for a partition of the group to be freed. */
void
BrokerGroupWaiterTag(LOCKTAG *tag, int32 group_id)
{
	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, (uint32) group_id, 0,
						 PGBROKER_LOCK_GROUP_WAITERS);
}

/* Destinations to wake when the current transaction's locks are gone. */
static List *end_queues = NIL;	/* of BrokerWake, in TopMemoryContext */
static List *end_groups = NIL;	/* of BrokerWake */

/* A wakeup to pass on if the wait that got it ends before it looked. */
static bool pass_on = false;
static LOCKTAG pass_on_tag;

/* The registration of a wait procedure: session locks on up to two tags. */
static int	session_ntags = 0;
static LOCKTAG session_tags[2];

static void wait_release_callback(ResourceReleasePhase phase, bool isCommit,
								  bool isTopLevel, void *arg);

void
BrokerWaitInit(void)
{
	RegisterResourceReleaseCallback(wait_release_callback, NULL);
}

/*
 * Set the latches of up to count holders of the tag, oldest first (the
 * lock manager keeps them in the order they registered).  A holder whose
 * latch is set already is going to look anyway and is not counted, so
 * that each message made available sets one more consumer looking.
 */
static void
wake_holders(LOCKTAG *tag, int64 count)
{
	VirtualTransactionId *vxids;
	int			n = 0;
	int			i;
	int64		woken = 0;

	vxids = GetLockConflicts(tag, ExclusiveLock, &n);
	for (i = 0; i < n && woken < count; i++)
	{
		PGPROC	   *proc = PgbrokerProcFromVxid(vxids[i]);

		if (proc == NULL || proc == MyProc || proc->procLatch.is_set)
			continue;
		SetLatch(&proc->procLatch);
		woken++;
	}
}

void
BrokerWakeTopicWaiters(int32 topic_id)
{
	LOCKTAG		tag;

	BrokerTopicWaiterTag(&tag, topic_id);
	wake_holders(&tag, PGBROKER_WAKE_ALL);
}

/*
 * Set the latch of every backend waiting on the queue.  Runs in the
 * XACT_EVENT_COMMIT callback, after the commit record is written and the
 * transaction left the proc array: an error here would be a PANIC, so it
 * does nothing but read the lock table and set latches.
 */
void
BrokerWakeWaiters(int32 queue_id, int64 count)
{
	LOCKTAG		tag;

	BrokerWaiterTag(&tag, queue_id, false);
	wake_holders(&tag, count);
	BrokerWaiterTag(&tag, queue_id, true);
	wake_holders(&tag, PGBROKER_WAKE_ALL);
}

/* Add count wakeups for id to a list of BrokerWake, saturating. */
static List *
wake_list_add(List *list, int32 id, int64 count)
{
	ListCell   *lc;
	BrokerWake *w;

	foreach(lc, list)
	{
		w = lfirst(lc);
		if (w->id == id)
		{
			w->count = (w->count > PGBROKER_WAKE_ALL - count) ?
				PGBROKER_WAKE_ALL : w->count + count;
			return list;
		}
	}
	w = MemoryContextAlloc(TopMemoryContext, sizeof(BrokerWake));
	w->id = id;
	w->count = count;
	return lappend(list, w);
}

/*
 * Wake count waiters of a queue or of a consumer group once this
 * transaction has ended and its locks are gone.  (A publish wakes every
 * waiter of its topic at commit: append.c.)
 */
void
BrokerWakeAtEnd(BrokerWakeKind kind, int32 id, int64 count)
{
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

	switch (kind)
	{
		case BROKER_WAKE_QUEUE:
			end_queues = wake_list_add(end_queues, id, count);
			break;
		case BROKER_WAKE_GROUP:
			end_groups = wake_list_add(end_groups, id, count);
			break;
	}
	MemoryContextSwitchTo(old);
}

static void
wait_release_callback(ResourceReleasePhase phase, bool isCommit,
					  bool isTopLevel, void *arg)
{
	ListCell   *lc;

	if (phase != RESOURCE_RELEASE_AFTER_LOCKS || !isTopLevel)
		return;
	foreach(lc, end_queues)
	{
		BrokerWake *w = lfirst(lc);

		BrokerWakeWaiters(w->id, w->count);
	}
	foreach(lc, end_groups)
	{
		BrokerWake *w = lfirst(lc);
		LOCKTAG		tag;

		BrokerGroupWaiterTag(&tag, w->id);
		wake_holders(&tag, w->count);
	}
	list_free_deep(end_queues);
	list_free_deep(end_groups);
	end_queues = end_groups = NIL;

	/* a wait procedure interrupted by an error leaves no registration */
	if (!isCommit)
		BrokerWaitSessionEnd();
	if (pass_on)
	{
		pass_on = false;
		wake_holders(&pass_on_tag, 1);
	}
}

/*
 * Register for the whole of a wait procedure, across its commits (called
 * once per tag it waits on, at most twice).
 */
void
BrokerWaitSessionBegin(const LOCKTAG *tag)
{
	Assert(session_ntags < lengthof(session_tags));
	session_tags[session_ntags] = *tag;
	(void) LockAcquire(&session_tags[session_ntags], ShareLock, true, false);
	session_ntags++;
}

void
BrokerWaitSessionEnd(void)
{
	while (session_ntags > 0)
	{
		session_ntags--;
		LockRelease(&session_tags[session_ntags], ShareLock, true);
	}
}

/* A procedure may commit only when CALLed outside a transaction block. */
void
BrokerCheckNonAtomic(FunctionCallInfo fcinfo, const char *proc, const char *instead)
{
	if (fcinfo->context == NULL || !IsA(fcinfo->context, CallContext) ||
		castNode(CallContext, fcinfo->context)->atomic)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TRANSACTION_TERMINATION),
				 errmsg("%s must be called with CALL outside a transaction block", proc),
				 errdetail("It commits after every look so that it holds no snapshot while it waits."),
				 errhint("Inside a transaction, use %s.", instead)));
}

/* Milliseconds to sleep: until the deadline, a due time, or the backstop. */
long
BrokerWaitMs(TimestampTz deadline, TimestampTz due, long backstop_ms)
{
	TimestampTz now = GetCurrentTimestamp();
	long		ms = TimestampDifferenceMilliseconds(now, deadline);

	if (due != 0 && due < deadline)
		ms = Min(ms, TimestampDifferenceMilliseconds(now, due) + 1);
	return Max(Min(ms, backstop_ms), 0);
}

/*
 * Signal LISTENing clients at commit, for destinations that opted in: one
 * notification per destination per transaction (NOTIFY folds identical
 * ones), on channel "pgbroker.<kind>.<name>" with the name as payload.
 * The channel's length was checked when notify was turned on.
 */
void
BrokerNotifyAtCommit(const char *kind, const char *name)
{
	char		channel[NAMEDATALEN];

	if (snprintf(channel, sizeof(channel), "pgbroker.%s.%s", kind, name) >= (int) sizeof(channel))
		return;
	Async_Notify(channel, name);
}

/*
 * The wait procedures cannot be SECURITY DEFINER (PostgreSQL calls such
 * procedures atomically, without transaction control), so each look runs
 * as the procedure's owner with a safe search_path, as SECURITY DEFINER
 * would, and returns to the caller before the look's commit.
 */
void
BrokerLookBegin(FunctionCallInfo fcinfo, BrokerLookState *st)
{
	HeapTuple	tup;
	Oid			owner;

	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(fcinfo->flinfo->fn_oid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for function %u", fcinfo->flinfo->fn_oid);
	owner = ((Form_pg_proc) GETSTRUCT(tup))->proowner;
	ReleaseSysCache(tup);

	GetUserIdAndSecContext(&st->saved_user, &st->saved_sec);
	SetUserIdAndSecContext(owner, st->saved_sec | SECURITY_LOCAL_USERID_CHANGE);
	st->guc_level = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
							 true, 0, false);
}

void
BrokerLookEnd(BrokerLookState *st)
{
	AtEOXact_GUC(true, st->guc_level);
	SetUserIdAndSecContext(st->saved_user, st->saved_sec);
}

/*
 * Sleep until woken, the time is up, or an interrupt.  Waiters with a
 * filter are woken by every commit to their queue, matching or not; one
 * whose looks keep finding nothing after a wakeup first sleeps a while
 * without listening for wakeups (10 ms, doubling up to 1 s, reset when
 * a look finds something), which bounds what a busy queue of messages it
 * does not want costs.  A wakeup that arrives meanwhile is kept in the
 * latch.  A client that disconnects ends the backend (as
 * client_connection_check_interval would), so that an abandoned wait does
 * not linger.  Returns whether the latch woke it.
 */
bool
BrokerWaitSleep(long ms, bool filtered, int *futile, const LOCKTAG *tag)
{
	int			rc;

	if (filtered && *futile > 0)
	{
		long		pause = Min(1000, 10L << Min(*futile - 1, 7));

		(void) WaitLatch(NULL, WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, Min(pause, ms),
						 PG_WAIT_EXTENSION);
		CHECK_FOR_INTERRUPTS();
		ms = Max(ms - pause, 0);
	}
	/* a client that went away ends the wait at once, not after it */
	if (MyProcPort != NULL && WaitEventSetCanReportClosed())
		rc = WaitLatchOrSocket(MyLatch,
							   WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH | WL_SOCKET_CLOSED,
							   MyProcPort->sock, ms, PG_WAIT_EXTENSION);
	else
		rc = WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
					   ms, PG_WAIT_EXTENSION);
	/*
	 * Woken, this waiter may be the one a producer counted on for its
	 * message: if an interrupt ends the wait before it looks, the abort
	 * passes the wakeup on to another waiter.
	 */
	if ((rc & WL_LATCH_SET) && tag != NULL)
	{
		pass_on_tag = *tag;
		pass_on = true;
	}
	if (rc & WL_SOCKET_CLOSED)
		ereport(FATAL,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("connection to client lost")));
	CHECK_FOR_INTERRUPTS();
	pass_on = false;
	return (rc & WL_LATCH_SET) != 0;
}

/*
 * The result of a wait procedure: one INOUT parameter, an array of a row
 * type (broker.message[], broker.record[]).  Begin gives a ReturnSetInfo
 * whose tuplestore outlives the procedure's commits, for the look to fill
 * as a set-returning function would; Finish turns what it holds into the
 * array, before the last look's transaction commits; End returns it.
 *
 * Finish must run inside that transaction, under a snapshot: the rows
 * hold payloads stored out of line (TOAST) as pointers into the message
 * or segment table, and forming the array fetches them.  After the commit
 * there is no snapshot to fetch them with, and retention may drop a
 * segment, its TOAST data with it.
 */
void
BrokerProcResultBegin(FunctionCallInfo fcinfo, BrokerProcResult *pr)
{
	if (get_call_result_type(fcinfo, NULL, &pr->outdesc) != TYPEFUNC_COMPOSITE ||
		pr->outdesc->natts != 1 ||
		!OidIsValid(pr->elemtype = get_element_type(TupleDescAttr(pr->outdesc, 0)->atttypid)))
		elog(ERROR, "a wait procedure must have one INOUT parameter of an array of rows");
	pr->outdesc = BlessTupleDesc(pr->outdesc);
	memset(&pr->rs, 0, sizeof(pr->rs));
	pr->rs.type = T_ReturnSetInfo;
	pr->rs.setDesc = lookup_rowtype_tupdesc_copy(pr->elemtype, -1);
	pr->rs.setResult = tuplestore_begin_heap(false, true, work_mem);
	pr->mcxt = CurrentMemoryContext;
	pr->result = (Datum) 0;
}

void
BrokerProcResultFinish(BrokerProcResult *pr)
{
	MemoryContext old = MemoryContextSwitchTo(pr->mcxt);
	TupleTableSlot *slot = MakeSingleTupleTableSlot(pr->rs.setDesc, &TTSOpsMinimalTuple);
	int64		count = tuplestore_tuple_count(pr->rs.setResult);
	Datum	   *elems = palloc(sizeof(Datum) * Max(count, 1));
	int			n = 0;

	PushActiveSnapshot(GetTransactionSnapshot());
	while (tuplestore_gettupleslot(pr->rs.setResult, true, false, slot))
	{
		slot_getallattrs(slot);
		/* HeapTupleGetDatum fetches the out-of-line values into the row */
		elems[n++] = HeapTupleGetDatum(heap_form_tuple(pr->rs.setDesc, slot->tts_values,
														slot->tts_isnull));
	}
	PopActiveSnapshot();
	ExecDropSingleTupleTableSlot(slot);
	tuplestore_end(pr->rs.setResult);
	pr->result = PointerGetDatum(construct_array(elems, n, pr->elemtype, -1, false, TYPALIGN_DOUBLE));
	MemoryContextSwitchTo(old);
}

Datum
BrokerProcResultEnd(BrokerProcResult *pr)
{
	bool		result_null = false;

	Assert(pr->result != (Datum) 0);
	return HeapTupleGetDatum(heap_form_tuple(pr->outdesc, &pr->result, &result_null));
}
