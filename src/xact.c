/*-------------------------------------------------------------------------
 *
 * xact.c
 *	  The transaction dispatcher: pgbroker's one transaction callback and
 *	  one subtransaction callback, which only call out to the files that
 *	  own what happens at each transaction event, in an order explained
 *	  here; and BrokerEnterCall, which every SQL-callable function runs
 *	  first.
 *
 * At PRE_COMMIT (the transaction can still fail cleanly):
 *	 1. queue_xact.c writes the leases of the claims the transaction did
 *		not settle.  That is ordinary WAL, so it comes before 3.
 *	 2. topic_append.c appends the records published in the transaction,
 *		under the topic's partition locks: last of the writes, so that as
 *		little as possible may fail after an append took its offsets.
 *	 3. group_state.c decides whether the transaction wrote nothing but
 *		consumer-group offsets and may then commit without waiting for its
 *		WAL flush (pgbroker.synchronous_offsets off).  It must see all WAL
 *		the transaction wrote, so it runs after every write.
 * PRE_PREPARE: a prepared transaction cannot hold appends until it is
 *	 resolved (topic_append.c refuses); the leases are written as at 1.
 * At COMMIT (after the commit left the proc array; nothing here may
 *	 fail): the appended records' waiters are woken (topic_append.c), then
 *	 the queues' waiters (wait.c), then queue_xact.c and group_state.c
 *	 forget the transaction, and queue_metrics.c adds its counts to the
 *	 queues' counters (also at PREPARE).
 * At ABORT and PREPARE each forgets the transaction; queue_xact.c keeps
 *	 the failed claims of an abort to count them at the next call.  At the
 *	 end of every transaction acl.c forgets the caller it was checking (a
 *	 procedure's commit, or an error that skipped the restore).
 * A subtransaction's abort undoes what it did in each of them; its commit
 *	 hands its claims and appends to the parent.
 *
 * Every file that keeps state per transaction is called from here, and
 * none of them calls another's transaction hooks, so no file depends on
 * another through the transaction's end.  Nothing here locks anything;
 * all of it is backend memory, gone after a crash.
 *
 * src/xact.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"

#include "acl.h"
#include "group.h"
#include "queue_metrics.h"
#include "queue_xact.h"
#include "subscription.h"
#include "topic_append.h"
#include "wait.h"
#include "xact.h"

static void xact_callback(XactEvent event, void *arg);
static void subxact_callback(SubXactEvent event, SubTransactionId mySubid,
							 SubTransactionId parentSubid, void *arg);

void
BrokerXactInit(void)
{
	RegisterXactCallback(xact_callback, NULL);
	RegisterSubXactCallback(subxact_callback, NULL);
}

/*
 * Called at the top of every SQL-callable function that touches a queue or
 * topic, connected to SPI: write down the failed attempts of earlier
 * rolled-back transactions (queue_xact.c).
 */
void
BrokerEnterCall(void)
{
	QueueXactEnterCall();
}

static void
xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
			QueueXactPreCommit();
			TopicAppendAtCommit();
			GroupXactPreCommit();
			SubscriptionXactPreCommit();
			break;
		case XACT_EVENT_PRE_PREPARE:
			TopicAppendPrePrepare();
			QueueXactPreCommit();
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			AclXactEnded();
			TopicAppendCommitted();
			WaitXactCommitted();
			QueueXactCommitted();
			QueueMetricsCommitted();
			GroupXactEnded(false);
			SubscriptionXactCommitted();
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			AclXactEnded();
			GroupXactEnded(true);
			TopicAppendAbort();
			WaitXactAborted();
			QueueXactAborted();
			QueueMetricsAborted();
			SubscriptionXactAborted();
			break;
		case XACT_EVENT_PREPARE:
			GroupXactEnded(true);
			TopicAppendAbort();
			WaitXactAborted();
			QueueXactPrepared();
			QueueMetricsCommitted();
			SubscriptionXactAborted();
			break;
		default:
			break;
	}
}

static void
subxact_callback(SubXactEvent event, SubTransactionId mySubid,
				 SubTransactionId parentSubid, void *arg)
{
	int			level = GetCurrentTransactionNestLevel();

	switch (event)
	{
		case SUBXACT_EVENT_ABORT_SUB:
			QueueXactSubAborted(level);
			QueueMetricsSubAborted(level);
			TopicAppendSubAbort(level);
			GroupXactSubAborted();
			break;
		case SUBXACT_EVENT_COMMIT_SUB:
			TopicAppendSubCommit(level);
			QueueXactSubCommitted(level);
			QueueMetricsSubCommitted(level);
			break;
		default:
			break;
	}
}
