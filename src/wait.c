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
 * One wait loop serves every waiting call (BrokerWait): a claim or poll
 * with a wait inside a statement, and the wait procedures (claim_wait,
 * poll_wait), which commit between looks so that they hold no snapshot
 * while they sleep; their registration is a session lock, taken once for
 * the whole wait and dropped when the wait ends or the transaction it is
 * in aborts (a cancel, a timeout).  The caller gives the look; the loop
 * registers, resets the latch before each look, sleeps and ends.
 *
 * Locks: only the registrations above (ShareLock on waiter tags).  After a
 * crash nothing is left: the lock table and the latches are gone with the
 * backends.
 *
 * src/wait.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "executor/spi.h"
#include "libpq/libpq-be.h"
#include "miscadmin.h"
#include "nodes/pg_list.h"
#include "storage/latch.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "storage/sinvaladt.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "acl.h"
#include "common.h"
#include "locktag.h"
#include "proc.h"
#include "wait.h"
#include "xact.h"

/* Wakeups owed to one destination (a queue, a consumer group). */
typedef struct BrokerWake
{
	int32		id;
	int64		count;
} BrokerWake;

/* Queues to wake when the transaction commits, in TopTransactionContext. */
static List *commit_queues = NIL;

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
static void wait_session_end(void);

void
BrokerWaitInit(void)
{
	RegisterResourceReleaseCallback(wait_release_callback, NULL);
}

/* ---------------------------------------------------------------------
 * Waking
 * --------------------------------------------------------------------- */

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

/* Every waiter of a topic: every group reads every record (topic_append.c). */
void
BrokerWakeTopicWaiters(int32 topic_id)
{
	LOCKTAG		tag;

	LockTagTopicWaiters(&tag, topic_id);
	wake_holders(&tag, PGBROKER_WAKE_ALL);
}

/*
 * Set the latches of count backends waiting on the queue, and of every
 * one waiting with a filter.  Runs in the XACT_EVENT_COMMIT callback,
 * after the commit record is written and the transaction left the proc
 * array: an error here would be a PANIC, so it does nothing but read the
 * lock table and set latches.
 */
static void
wake_queue(int32 queue_id, int64 count)
{
	LOCKTAG		tag;

	LockTagQueueWaiters(&tag, queue_id, false);
	wake_holders(&tag, count);
	LockTagQueueWaiters(&tag, queue_id, true);
	wake_holders(&tag, PGBROKER_WAKE_ALL);
}

/* Add count wakeups for id to a list of BrokerWake (in cxt), saturating. */
static List *
wake_list_add(List *list, MemoryContext cxt, int32 id, int64 count)
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
	w = MemoryContextAlloc(cxt, sizeof(BrokerWake));
	w->id = id;
	w->count = count;
	{
		MemoryContext old = MemoryContextSwitchTo(cxt);

		list = lappend(list, w);
		MemoryContextSwitchTo(old);
	}
	return list;
}

/*
 * Wake the waiters of a queue when this transaction commits: as many as it
 * made messages available (PGBROKER_WAKE_ALL: every one).  A producer must
 * wake only once its commit is visible, or a waiter could look, find
 * nothing and sleep through it.
 */
void
BrokerWakeQueueAtCommit(int32 queue_id, int64 count)
{
	commit_queues = wake_list_add(commit_queues, TopTransactionContext, queue_id, count);
}

/*
 * Wake count waiters of a queue, or of a consumer group, once this
 * transaction has ended and its locks are gone (a rolled-back claim, a
 * freed partition).
 */
void
BrokerWakeQueueAtEnd(int32 queue_id, int64 count)
{
	end_queues = wake_list_add(end_queues, TopMemoryContext, queue_id, count);
}

void
BrokerWakeGroupAtEnd(int32 group_id, int64 count)
{
	end_groups = wake_list_add(end_groups, TopMemoryContext, group_id, count);
}

/* XACT_EVENT_COMMIT (xact.c): the commit is visible, wake its queues. */
void
WaitXactCommitted(void)
{
	ListCell   *lc;

	foreach(lc, commit_queues)
	{
		BrokerWake *w = lfirst(lc);

		wake_queue(w->id, w->count);
	}
	commit_queues = NIL;
}

/* XACT_EVENT_ABORT or PREPARE (xact.c): nothing was committed. */
void
WaitXactAborted(void)
{
	commit_queues = NIL;
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

		wake_queue(w->id, w->count);
	}
	foreach(lc, end_groups)
	{
		BrokerWake *w = lfirst(lc);
		LOCKTAG		tag;

		LockTagGroupWaiters(&tag, w->id);
		wake_holders(&tag, w->count);
	}
	list_free_deep(end_queues);
	list_free_deep(end_groups);
	end_queues = end_groups = NIL;

	/* a wait procedure interrupted by an error leaves no registration */
	if (!isCommit)
		wait_session_end();
	if (pass_on)
	{
		pass_on = false;
		wake_holders(&pass_on_tag, 1);
	}
}

/* ---------------------------------------------------------------------
 * Sleeping
 * --------------------------------------------------------------------- */

/*
 * Register for the whole of a wait procedure, across its commits (called
 * once per tag it waits on, at most twice).
 */
static void
wait_session_begin(const LOCKTAG *tag)
{
	Assert(session_ntags < lengthof(session_tags));
	session_tags[session_ntags] = *tag;
	(void) LockAcquire(&session_tags[session_ntags], ShareLock, true, false);
	session_ntags++;
}

static void
wait_session_end(void)
{
	while (session_ntags > 0)
	{
		session_ntags--;
		LockRelease(&session_tags[session_ntags], ShareLock, true);
	}
}

/* Milliseconds to sleep: until the deadline, a due time, or the backstop. */
static long
wait_ms(TimestampTz deadline, TimestampTz due, long backstop_ms)
{
	TimestampTz now = GetCurrentTimestamp();
	long		ms = TimestampDifferenceMilliseconds(now, deadline);

	if (due != 0 && due < deadline)
		ms = Min(ms, TimestampDifferenceMilliseconds(now, due) + 1);
	return Max(Min(ms, backstop_ms), 0);
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
static bool
wait_sleep(long ms, bool filtered, int *futile, const LOCKTAG *tag)
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

/* ---------------------------------------------------------------------
 * The wait loop
 * --------------------------------------------------------------------- */

/*
 * The wait argument of a claim or poll, in milliseconds (NULL: 0).  Inside
 * a statement a wait holds its snapshot, so it is capped at an hour and
 * the hint points to the procedure that waits without one; a procedure
 * waits at most a day.
 */
int64
BrokerWaitArg(FunctionCallInfo fcinfo, int argno, bool in_procedure, const char *procedure)
{
	Interval	wait;
	const char *max_wait = in_procedure ? "1 day" : "1 hour";

	if (!BrokerIntervalArg(fcinfo, argno, "wait", &wait))
		return 0;
	if (BrokerIntervalExceeds(&wait, max_wait))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("wait must be at most %s", max_wait),
				 in_procedure ?
				 errhint("Loop on shorter waits.") :
				 errhint("Loop on shorter waits, or CALL %s, which holds no snapshot while it waits.",
						 procedure)));
	return BrokerIntervalMs(&wait);
}

/*
 * A claim or poll inside a statement: look; if that found nothing and the
 * call may wait, register (transaction-level share locks on the waiter
 * tags, visible in pg_locks) and look again after each wakeup, due time
 * or backstop, until the look finds something or the time is up.
 * Interrupts (cancel, statement_timeout, termination) are served while it
 * sleeps.  The statement keeps its snapshot for the whole wait.
 */
int
BrokerWaitInStatement(BrokerWaiter *w)
{
	LOCKTAG		tags[2];
	int			ntags;
	int			i;
	TimestampTz deadline;
	bool		woken = false;
	int			futile = 0;
	int			got;

	got = w->look(w, false);
	if (got > 0 || w->wait_ms <= 0)
		return got;
	deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), w->wait_ms);
	ntags = w->register_tags(w, tags);
	for (i = 0; i < ntags; i++)
		(void) LockAcquire(&tags[i], ShareLock, false, false);
	for (;;)
	{
		/*
		 * Reset before looking: a producer that commits after the look sets
		 * the latch again, so its wakeup cannot be lost.
		 */
		ResetLatch(MyLatch);
		got = w->look(w, true);
		if (got > 0 || GetCurrentTimestamp() >= deadline)
			break;
		if (woken)
			futile++;
		woken = wait_sleep(wait_ms(deadline, w->due, w->backstop_ms),
						   w->filtered, &futile, &tags[ntags - 1]);
	}
	for (i = ntags; i-- > 0;)
		LockRelease(&tags[i], ShareLock, false);
	return got;
}

/*
 * A wait procedure (CALL claim_wait, poll_wait): the same loop, but each
 * look is a transaction of its own, committed before the procedure sleeps,
 * so that a consumer may wait for long without holding back VACUUM; the
 * registration is a session lock that lasts the whole wait.  What the last
 * look found is committed (leased) before it is returned, as with any
 * leased claim or poll: a consumer that dies before it gets it sees it
 * again when the lease ends.  The caller has checked BrokerCheckNonAtomic.
 */
Datum
BrokerWaitProcedure(FunctionCallInfo fcinfo, BrokerWaiter *w)
{
	BrokerProcResult pr;
	BrokerLookState look;
	TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), w->wait_ms);
	bool		registered = false;
	bool		woken = false;
	int			futile = 0;
	LOCKTAG		tags[2];
	int			ntags = 0;
	int			got;

	Oid			caller = GetUserId();	/* a procedure runs as its caller */
	Oid			prev_caller = InvalidOid;

	BrokerProcResultBegin(fcinfo, &pr, w->row_type);
	w->rsinfo = &pr.rs;

	for (;;)
	{
		/* a connection per look frees the last one's memory */
		SPI_connect_ext(SPI_OPT_NONATOMIC);
		BrokerLookBegin(fcinfo, &look);
		/* the look's privilege checks are the caller's */
		prev_caller = BrokerCallerPush(caller);
		BrokerEnterCall();
		if (registered)
			ResetLatch(MyLatch);
		got = w->look(w, registered);
		if (got > 0 || GetCurrentTimestamp() >= deadline)
			break;				/* still connected */
		if (!registered)
		{
			int			i;

			/* register, then look once more before the first sleep */
			ntags = w->register_tags(w, tags);
			for (i = 0; i < ntags; i++)
				wait_session_begin(&tags[i]);
			registered = true;
			BrokerCallerPop(prev_caller);
			BrokerLookEnd(&look);
			SPI_finish();
			continue;
		}
		/* end the look's transaction: no snapshot while sleeping */
		BrokerCallerPop(prev_caller);
		BrokerLookEnd(&look);
		SPI_commit();
		SPI_finish();
		if (woken)
			futile++;
		woken = wait_sleep(wait_ms(deadline, w->due, w->backstop_ms),
						   w->filtered, &futile, &tags[ntags - 1]);
	}
	BrokerCallerPop(prev_caller);
	BrokerLookEnd(&look);
	BrokerProcResultFinish(&pr);
	/* the leases (and a group's positions) are written at this commit */
	SPI_commit();
	SPI_finish();
	wait_session_end();

	return BrokerProcResultEnd(&pr);
}
