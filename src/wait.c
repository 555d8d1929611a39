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
 * src/wait.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/latch.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "storage/sinvaladt.h"

#include "pgbroker.h"

void
BrokerWaiterTag(LOCKTAG *tag, int32 queue_id)
{
	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, (uint32) queue_id, 0,
						 PGBROKER_LOCK_WAITERS);
}

/* The same registry for consumers polling a topic. */
void
BrokerTopicWaiterTag(LOCKTAG *tag, int32 topic_id)
{
	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, (uint32) topic_id, 0,
						 PGBROKER_LOCK_TOPIC_WAITERS);
}

static void
wake_holders(LOCKTAG *tag)
{
	VirtualTransactionId *vxids;
	int			count = 0;
	int			i;

	vxids = GetLockConflicts(tag, ExclusiveLock, &count);
	for (i = 0; i < count; i++)
	{
		PGPROC	   *proc = PgbrokerProcFromVxid(vxids[i]);

		if (proc != NULL && proc != MyProc)
			SetLatch(&proc->procLatch);
	}
}

void
BrokerWakeTopicWaiters(int32 topic_id)
{
	LOCKTAG		tag;

	BrokerTopicWaiterTag(&tag, topic_id);
	wake_holders(&tag);
}

/*
 * Set the latch of every backend waiting on the queue.  Runs in the
 * XACT_EVENT_COMMIT callback, after the commit record is written and the
 * transaction left the proc array: an error here would be a PANIC, so it
 * does nothing but read the lock table and set latches.
 */
void
BrokerWakeWaiters(int32 queue_id)
{
	LOCKTAG		tag;

	BrokerWaiterTag(&tag, queue_id);
	wake_holders(&tag);
}
