/*-------------------------------------------------------------------------
 *
 * xact.c
 *	  What pgbroker remembers about the current transaction: which queues
 *	  to wake at commit, which claims still need their lease written at
 *	  commit, and which claims to count as failed attempts if the
 *	  transaction rolls back.
 *
 * Leases: a claim only locks its messages; at XACT_EVENT_PRE_COMMIT the
 * claims the transaction did not settle (ack, nack, dead letter) get their
 * lease, receipt and attempt written in one UPDATE per queue.  Claims are
 * indexed by (queue, message) while unsettled, so that ack, nack and
 * extend in the same transaction can find them.
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
 * Offsets-only commits: a consumer-group poll or commit writes the group's
 * progress (a state row, a heartbeat).  When those are all the WAL a
 * transaction wrote, nothing in the database depends on them but the
 * group's position, and losing such a commit in a crash only delivers the
 * same records again: what a crash just before the commit does anyway.
 * With pgbroker.synchronous_offsets off (it is on by default: a committed
 * offset must not go back, as the crash test checks) such a transaction
 * commits without waiting for its WAL flush (SET LOCAL synchronous_commit
 * = off at PRE_COMMIT; the WAL writer flushes it within a few
 * wal_writer_delay).  Any
 * other WAL of the transaction, before, between or after pgbroker's
 * writes, keeps the commit as the session configured it; a transaction
 * whose effects in the database are flushed flushes the offsets with them.
 * Later commits flush the WAL before them, so no durable commit can depend
 * on an offset that is lost.
 *
 * src/xact.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "catalog.h"
#include "pgbroker.h"
#include "queue.h"
#include "topic.h"

/* Names of the queues claims were made from: one entry per queue. */
typedef struct ClaimQueueName
{
	int32		queue_id;
	char		name[PGBROKER_MAX_NAME_LEN + 1];
} ClaimQueueName;

typedef struct ClaimKey
{
	int32		queue_id;
	int64		msg_id;
} ClaimKey;

typedef struct ClaimEntry
{
	ClaimKey	key;
	TrackedClaim *claim;
} ClaimEntry;

struct TrackedClaim
{
	int32		queue_id;
	const char *queue;			/* points into queue_names */
	int64		msg_id;
	int32		attempt;
	pg_uuid_t	receipt;
	TimestampTz lease_until;
	int			nest_level;		/* subtransaction that made the claim */
	Oid			userid;			/* who claimed: writes the lease at commit */
	bool		settled;		/* acked, nacked or dead-lettered in this xact */
	bool		written;		/* pending entry written by the current xact */
};

/* Queues to wake at commit, in TopTransactionContext. */
static List *wake_queues = NIL;

/* Claims of the open transaction, and failed ones not yet written down. */
static List *xact_claims = NIL;
static List *pending_failures = NIL;
static List *queue_names = NIL;	/* of ClaimQueueName, in TopMemoryContext */
static HTAB *unsettled = NULL;	/* unsettled claims of the open transaction */

static const char *
xact_queue_name(int32 queue_id, const char *name)
{
	ListCell   *lc;
	ClaimQueueName *n;

	foreach(lc, queue_names)
	{
		n = lfirst(lc);
		if (n->queue_id == queue_id && strcmp(n->name, name) == 0)
			return n->name;
	}
	n = MemoryContextAlloc(TopMemoryContext, sizeof(ClaimQueueName));
	n->queue_id = queue_id;
	strlcpy(n->name, name, sizeof(n->name));
	queue_names = lappend(queue_names, n);
	return n->name;
}

/* Forget the unsettled-claim index (the claims themselves live on). */
static void
xact_reset_unsettled(void)
{
	if (unsettled != NULL)
	{
		hash_destroy(unsettled);
		unsettled = NULL;
	}
}
static bool flushing = false;

/*
 * The transaction's offsets-only writes: where the last one ended in the
 * WAL, and whether any other WAL came before or between them.
 */
static XLogRecPtr offsets_end = InvalidXLogRecPtr;
static bool offsets_alone = true;

static void xact_callback(XactEvent event, void *arg);
static void subxact_callback(SubXactEvent event, SubTransactionId mySubid,
							 SubTransactionId parentSubid, void *arg);
static void xact_flush_failures(void);

/*
 * Bracket a consumer-group call (poll, commit) whose writes record only
 * the group's progress: state rows, heartbeats, and whatever its reads
 * write in passing (pruning).  WAL this backend wrote since the previous
 * bracket (or since the transaction began) is someone else's.
 */
void
BrokerOffsetsWriteBegin(void)
{
	if (XactLastRecEnd != offsets_end)
		offsets_alone = false;
}

/* Within a bracket: this call writes more than progress. */
void
BrokerOffsetsNotAlone(void)
{
	offsets_alone = false;
}

void
BrokerOffsetsWriteEnd(void)
{
	offsets_end = XactLastRecEnd;
}

/* At PRE_COMMIT, after everything pgbroker writes at commit. */
static void
xact_offsets_commit(void)
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

static void
xact_offsets_reset(void)
{
	offsets_end = InvalidXLogRecPtr;
	offsets_alone = true;
}

void
BrokerXactInit(void)
{
	RegisterXactCallback(xact_callback, NULL);
	RegisterSubXactCallback(subxact_callback, NULL);
}

/*
 * Remember to wake the waiters of a queue when this transaction commits:
 * as many as it made messages available (PGBROKER_WAKE_ALL: every one).
 */
void
BrokerWakeAtCommit(int32 queue_id, int64 count)
{
	MemoryContext old;
	ListCell   *lc;
	BrokerWake *w;

	foreach(lc, wake_queues)
	{
		w = lfirst(lc);
		if (w->id == queue_id)
		{
			w->count = (w->count > PGBROKER_WAKE_ALL - count) ?
				PGBROKER_WAKE_ALL : w->count + count;
			return;
		}
	}
	old = MemoryContextSwitchTo(TopTransactionContext);
	w = palloc(sizeof(BrokerWake));
	w->id = queue_id;
	w->count = count;
	wake_queues = lappend(wake_queues, w);
	MemoryContextSwitchTo(old);
}

/*
 * Remember a claim: its lease is written when the transaction commits
 * unless the claim is settled first, and it counts as a failed attempt if
 * the transaction rolls back.
 */
void
BrokerTrackClaim(BrokerQueue *q, int64 msg_id, int32 attempt,
				 pg_uuid_t *receipt, TimestampTz lease_until)
{
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
	TrackedClaim *c = palloc(sizeof(TrackedClaim));

	c->queue_id = q->id;
	c->queue = xact_queue_name(q->id, q->name);
	c->msg_id = msg_id;
	c->attempt = attempt;
	c->receipt = *receipt;
	c->lease_until = lease_until;
	c->nest_level = GetCurrentTransactionNestLevel();
	c->userid = GetUserId();
	c->settled = false;
	c->written = false;
	xact_claims = lappend(xact_claims, c);
	MemoryContextSwitchTo(old);

	if (unsettled == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(ClaimKey);
		ctl.entrysize = sizeof(ClaimEntry);
		ctl.hcxt = TopMemoryContext;
		unsettled = hash_create("pgbroker claims", 256, &ctl,
								HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	{
		ClaimKey	key;
		ClaimEntry *e;

		memset(&key, 0, sizeof(key));
		key.queue_id = q->id;
		key.msg_id = msg_id;
		e = hash_search(unsettled, &key, HASH_ENTER, NULL);
		e->claim = c;
	}
}

/* The unsettled claim of a message made by this transaction, or NULL. */
TrackedClaim *
BrokerFindClaim(int32 queue_id, int64 msg_id)
{
	ClaimKey	key;
	ClaimEntry *e;

	if (unsettled == NULL)
		return NULL;
	memset(&key, 0, sizeof(key));
	key.queue_id = queue_id;
	key.msg_id = msg_id;
	e = hash_search(unsettled, &key, HASH_FIND, NULL);
	return e ? e->claim : NULL;
}

/* Ids of the messages this transaction has claimed from a queue, as int8[]. */
Datum
BrokerClaimedIds(int32 queue_id)
{
	HASH_SEQ_STATUS status;
	ClaimEntry *e;
	Datum	   *ids = NULL;
	int			n = 0;

	if (unsettled != NULL)
	{
		hash_seq_init(&status, unsettled);
		while ((e = hash_seq_search(&status)) != NULL)
		{
			if (e->key.queue_id != queue_id)
				continue;
			if (ids == NULL)
				ids = palloc(sizeof(Datum) * hash_get_num_entries(unsettled));
			ids[n++] = Int64GetDatum(e->key.msg_id);
		}
	}
	return PointerGetDatum(construct_array(ids, n, INT8OID, 8, true, TYPALIGN_DOUBLE));
}

/*
 * Write the leases of the claims this transaction did not settle, one
 * statement per queue.  Runs at PRE_COMMIT (and PRE_PREPARE), while the
 * transaction can still fail cleanly.
 */
static void
xact_write_leases(void)
{
	ListCell   *lc;
	List	   *queues = NIL;
	bool		connected = false;

	HASH_SEQ_STATUS status;
	ClaimEntry *e;
	List	   *open_claims = NIL;

	if (unsettled == NULL || hash_get_num_entries(unsettled) == 0)
		return;
	hash_seq_init(&status, unsettled);
	while ((e = hash_seq_search(&status)) != NULL)
	{
		open_claims = lappend(open_claims, e->claim);
		if (!list_member_int(queues, e->key.queue_id))
			queues = lappend_int(queues, e->key.queue_id);
	}

	foreach(lc, queues)
	{
		int32		qid = lfirst_int(lc);
		ListCell   *lc2;
		int			n = 0;
		int			len = list_length(open_claims);
		Datum	   *ids = palloc(sizeof(Datum) * len);
		Datum	   *attempts = palloc(sizeof(Datum) * len);
		Datum	   *receipts = palloc(sizeof(Datum) * len);
		Datum	   *leases = palloc(sizeof(Datum) * len);
		Datum		values[4];
		BrokerQueue *q = NULL;
		Oid			userid = InvalidOid;
		Oid			save_userid;
		int			save_sec_context;

		foreach(lc2, open_claims)
		{
			TrackedClaim *c = lfirst(lc2);

			if (c->queue_id != qid)
				continue;
			if (q == NULL)
			{
				if (!connected)
				{
					/* At pre-commit there is no statement: bring a snapshot. */
					PushActiveSnapshot(GetTransactionSnapshot());
					SPI_connect();
					connected = true;
				}
				q = QueueLookupExt(c->queue, true);
				if (q == NULL || q->id != qid)
					break;		/* dropped in this transaction */
			}
			userid = c->userid;
			ids[n] = Int64GetDatum(c->msg_id);
			attempts[n] = Int32GetDatum(c->attempt);
			receipts[n] = UUIDPGetDatum(&c->receipt);
			leases[n] = TimestampTzGetDatum(c->lease_until);
			n++;
		}
		if (q == NULL || n == 0)
			continue;
		values[0] = PointerGetDatum(construct_array(ids, n, INT8OID, 8, true, TYPALIGN_DOUBLE));
		values[1] = PointerGetDatum(construct_array(attempts, n, INT4OID, 4, true, TYPALIGN_INT));
		values[2] = PointerGetDatum(construct_array(receipts, n, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR));
		values[3] = PointerGetDatum(construct_array(leases, n, TIMESTAMPTZOID, 8, true, TYPALIGN_DOUBLE));

		/*
		 * The claims were made inside pgbroker's SECURITY DEFINER functions;
		 * write their leases as the same user, not the session's.
		 */
		GetUserIdAndSecContext(&save_userid, &save_sec_context);
		SetUserIdAndSecContext(userid, save_sec_context | SECURITY_LOCAL_USERID_CHANGE);
		BrokerExecPlan(QueuePlan(q, QPLAN_LEASE), values, NULL, false, 0);
		SetUserIdAndSecContext(save_userid, save_sec_context);
	}
	if (connected)
	{
		SPI_finish();
		PopActiveSnapshot();
	}
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
		{
			if (!c->settled && unsettled != NULL)
			{
				ClaimKey	key;

				memset(&key, 0, sizeof(key));
				key.queue_id = c->queue_id;
				key.msg_id = c->msg_id;
				hash_search(unsettled, &key, HASH_REMOVE, NULL);
			}
			QueueForgetPosition(c->queue);
			pending_failures = lappend(pending_failures, c);
		}
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
		case XACT_EVENT_PRE_COMMIT:
			if (xact_claims != NIL)
				xact_write_leases();
			/* last: as little as possible may fail after the append */
			TopicAppendAtCommit();
			xact_offsets_commit();
			break;
		case XACT_EVENT_PRE_PREPARE:
			if (TopicHasPending())
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("cannot prepare a transaction that published to a topic"),
						 errdetail("Records get their offsets at commit, under a lock that a prepared transaction would hold until it is resolved.")));
			if (xact_claims != NIL)
				xact_write_leases();
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			TopicAppendCommitted();
			foreach(lc, wake_queues)
			{
				BrokerWake *w = lfirst(lc);

				BrokerWakeWaiters(w->id, w->count);
			}
			wake_queues = NIL;
			list_free_deep(xact_claims);
			xact_claims = NIL;
			xact_reset_unsettled();
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
			xact_offsets_reset();
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			GroupLeaseCacheReset();
			TopicAppendAbort();
			wake_queues = NIL;
			/* the messages it claimed are free again: wake the waiters */
			foreach(lc, xact_claims)
				BrokerWakeAtEnd(BROKER_WAKE_QUEUE, ((TrackedClaim *) lfirst(lc))->queue_id, 1);
			xact_claims_failed(0);
			xact_reset_unsettled();
			foreach(lc, pending_failures)
				((TrackedClaim *) lfirst(lc))->written = false;
			flushing = false;
			xact_offsets_reset();
			break;
		case XACT_EVENT_PREPARE:
			GroupLeaseCacheReset();
			TopicAppendAbort();
			/* The claims are settled by COMMIT/ROLLBACK PREPARED elsewhere. */
			wake_queues = NIL;
			list_free_deep(xact_claims);
			xact_claims = NIL;
			xact_reset_unsettled();
			xact_offsets_reset();
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
			foreach(lc, xact_claims)
			{
				TrackedClaim *c = lfirst(lc);

				if (c->nest_level >= level)
					BrokerWakeAtEnd(BROKER_WAKE_QUEUE, c->queue_id, 1);
			}
			xact_claims_failed(level);
			TopicAppendSubAbort(level);
			GroupLeaseCacheReset();
			break;
		case SUBXACT_EVENT_COMMIT_SUB:
			TopicAppendSubCommit(level);
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
		int			pin;

		/* Mark first: an error below must not make us retry forever. */
		c->written = true;

		/* The queue may have been dropped meanwhile. */
		arg = Int32GetDatum(c->queue_id);
		pin = BrokerPinSearchPath();
		rc = SPI_execute_with_args("SELECT name FROM broker.queue WHERE id OPERATOR(pg_catalog.=) $1",
								   1, (Oid[]) {INT4OID}, &arg, NULL, true, 1);
		BrokerUnpinSearchPath(pin);
		if (rc != SPI_OK_SELECT || SPI_processed == 0)
			continue;
		name = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
		q = QueueLookupExt(name, true);
		if (q == NULL || q->id != c->queue_id)
			continue;

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
			(void) QueueRemovedFromResult(q, false);
		}
	}
	list_free(todo);
	flushing = false;
}

void
BrokerSettleClaim(TrackedClaim *c)
{
	ClaimKey	key;

	c->settled = true;
	if (unsettled == NULL)
		return;
	memset(&key, 0, sizeof(key));
	key.queue_id = c->queue_id;
	key.msg_id = c->msg_id;
	hash_search(unsettled, &key, HASH_REMOVE, NULL);
}

bool
BrokerClaimReceiptMatches(TrackedClaim *c, Datum receipt)
{
	return memcmp(&c->receipt, DatumGetUUIDP(receipt), UUID_LEN) == 0;
}

int32
BrokerClaimAttempt(TrackedClaim *c)
{
	return c->attempt;
}

void
BrokerClaimSetLease(TrackedClaim *c, TimestampTz lease_until)
{
	c->lease_until = lease_until;
}
