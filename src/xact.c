/*-------------------------------------------------------------------------
 *
 * xact.c
 *	  What pgbroker remembers about the current transaction: which queues
 *	  to wake at commit, and which claims to count as failed attempts if
 *	  the transaction rolls back.
 *
 * Waking: a producer that commits a message must wake the consumers
 * waiting on that queue, and only after the commit is visible, or a
 * waiter could look, find nothing and sleep through it.  So sends record
 * the queue here and XACT_EVENT_COMMIT (which runs after the transaction
 * left the proc array) sets the waiters' latches.
 *
 * Failed attempts: a consumer that claims a message and then rolls back
 * (an error, a crash of its work, an explicit ROLLBACK) undoes the claim
 * together with the attempt count, so a poison message that always kills
 * its consumer's transaction would be retried forever.  PostgreSQL 15 has
 * no autonomous transactions, so the claims of the transaction are kept in
 * backend memory; on abort (of the transaction, or of the subtransaction
 * that made them) they move to a pending list, and the next call into
 * pgbroker from this backend writes them down as failed attempts, moving a
 * message to the dead letters once its attempts are used up.  Entries
 * written by a transaction that then aborts go back to the pending list.
 * A backend that dies (or a session that ends before its next call) cannot
 * count its attempt; leased consumption (claim, commit, work, ack) counts
 * every delivery durably at claim time.
 *
 * src/xact.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "catalog.h"
#include "pgbroker.h"
#include "queue.h"

typedef struct TrackedClaim
{
	int32		queue_id;
	int64		msg_id;
	int32		attempt;
	int			nest_level;		/* subtransaction that made the claim */
	bool		written;		/* pending entry written by the current xact */
} TrackedClaim;

/* Queues to wake at commit, in TopTransactionContext. */
static List *wake_queues = NIL;

/* Claims of the open transaction, and failed ones not yet written down. */
static List *xact_claims = NIL;
static List *pending_failures = NIL;
static bool flushing = false;

static void xact_callback(XactEvent event, void *arg);
static void subxact_callback(SubXactEvent event, SubTransactionId mySubid,
							 SubTransactionId parentSubid, void *arg);
static void xact_flush_failures(void);

void
BrokerXactInit(void)
{
	RegisterXactCallback(xact_callback, NULL);
	RegisterSubXactCallback(subxact_callback, NULL);
}

/* Remember to wake the waiters of a queue when this transaction commits. */
void
BrokerWakeAtCommit(Oid dbid, int32 queue_id)
{
	MemoryContext old;

	if (list_member_int(wake_queues, queue_id))
		return;
	old = MemoryContextSwitchTo(TopTransactionContext);
	wake_queues = lappend_int(wake_queues, queue_id);
	MemoryContextSwitchTo(old);
}

/* Remember a claim, to count it as a failed attempt if we roll back. */
void
BrokerTrackClaim(int32 queue_id, int64 msg_id, int32 attempt)
{
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
	TrackedClaim *c = palloc(sizeof(TrackedClaim));

	c->queue_id = queue_id;
	c->msg_id = msg_id;
	c->attempt = attempt;
	c->nest_level = GetCurrentTransactionNestLevel();
	c->written = false;
	xact_claims = lappend(xact_claims, c);
	MemoryContextSwitchTo(old);
}

/* Move the claims made at nest level >= level to the pending list. */
static void
xact_claims_failed(int level)
{
	ListCell   *lc;
	List	   *keep = NIL;
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

	foreach(lc, xact_claims)
	{
		TrackedClaim *c = lfirst(lc);

		if (c->nest_level >= level)
			pending_failures = lappend(pending_failures, c);
		else
			keep = lappend(keep, c);
	}
	list_free(xact_claims);
	xact_claims = keep;
	MemoryContextSwitchTo(old);
}

static void
xact_callback(XactEvent event, void *arg)
{
	ListCell   *lc;

	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			foreach(lc, wake_queues)
				BrokerWakeWaiters(lfirst_int(lc));
			wake_queues = NIL;
			list_free_deep(xact_claims);
			xact_claims = NIL;
			/* Failures written by this transaction are now durable. */
			if (pending_failures != NIL)
			{
				List	   *keep = NIL;
				MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

				foreach(lc, pending_failures)
				{
					TrackedClaim *c = lfirst(lc);

					if (c->written)
						pfree(c);
					else
						keep = lappend(keep, c);
				}
				list_free(pending_failures);
				pending_failures = keep;
				MemoryContextSwitchTo(old);
			}
			flushing = false;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			wake_queues = NIL;
			xact_claims_failed(0);
			foreach(lc, pending_failures)
				((TrackedClaim *) lfirst(lc))->written = false;
			flushing = false;
			break;
		case XACT_EVENT_PREPARE:
			/* The claims are settled by COMMIT/ROLLBACK PREPARED elsewhere. */
			wake_queues = NIL;
			list_free_deep(xact_claims);
			xact_claims = NIL;
			break;
		default:
			break;
	}
}

static void
subxact_callback(SubXactEvent event, SubTransactionId mySubid,
				 SubTransactionId parentSubid, void *arg)
{
	ListCell   *lc;
	int			level = GetCurrentTransactionNestLevel();

	switch (event)
	{
		case SUBXACT_EVENT_ABORT_SUB:
			xact_claims_failed(level);
			break;
		case SUBXACT_EVENT_COMMIT_SUB:
			foreach(lc, xact_claims)
			{
				TrackedClaim *c = lfirst(lc);

				if (c->nest_level >= level)
					c->nest_level = level - 1;
			}
			break;
		default:
			break;
	}
}

/*
 * Called at the top of every SQL-callable function, connected to SPI:
 * write down the failed attempts of earlier rolled-back transactions.
 */
void
BrokerEnterCall(void)
{
	if (pending_failures != NIL && !flushing)
		xact_flush_failures();
}

static void
xact_flush_failures(void)
{
	ListCell   *lc;
	List	   *todo = NIL;

	flushing = true;
	foreach(lc, pending_failures)
	{
		TrackedClaim *c = lfirst(lc);

		if (!c->written)
			todo = lappend(todo, c);
	}
	foreach(lc, todo)
	{
		TrackedClaim *c = lfirst(lc);
		char	   *name;
		BrokerQueue *q;
		Datum		values[7];
		char		nulls[7] = "       ";
		Datum		arg;
		int			rc;

		/* Mark first: an error below must not make us retry forever. */
		c->written = true;

		/* The queue may have been dropped meanwhile. */
		arg = Int32GetDatum(c->queue_id);
		rc = SPI_execute_with_args("SELECT name FROM broker.queue WHERE id OPERATOR(pg_catalog.=) $1",
								   1, (Oid[]) {INT4OID}, &arg, NULL, true, 1);
		if (rc != SPI_OK_SELECT || SPI_processed == 0)
			continue;
		name = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
		q = QueueLookup(name);

		values[0] = Int64GetDatum(c->msg_id);
		values[1] = Int32GetDatum(c->attempt);
		values[2] = TimestampTzGetDatum(GetCurrentTimestamp());
		rc = BrokerExecPlan(QueuePlan(q, QPLAN_RECORD_ROLLBACK), values, nulls,
							false, 0);
		if (SPI_processed == 1 && c->attempt >= q->max_attempts)
		{
			values[0] = Int64GetDatum(c->msg_id);
			nulls[1] = 'n';
			values[2] = CStringGetTextDatum("max_attempts");
			nulls[3] = 'n';
			values[4] = TimestampTzGetDatum(GetCurrentTimestamp());
			values[5] = Int32GetDatum(0);
			values[6] = Int32GetDatum(0);
			BrokerExecPlan(QueuePlan(q, QPLAN_DEAD_LETTER), values, nulls,
						   false, 0);
			if (SPI_processed == 1)
			{
				HeapTuple	tup = SPI_tuptable->vals[0];
				TupleDesc	desc = SPI_tuptable->tupdesc;
				bool		isnull;
				bool		head;
				char	   *group = SPI_getvalue(tup, desc, 2);
				char	   *dedup = SPI_getvalue(tup, desc, 4);

				head = DatumGetBool(SPI_getbinval(tup, desc, 3, &isnull));
				QueueMessageRemoved(q, c->msg_id, group, head, dedup, false);
			}
		}
	}
	list_free(todo);
	flushing = false;
}
