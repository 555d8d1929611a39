/*-------------------------------------------------------------------------
 *
 * queue_xact.c
 *	  The claims of the current transaction: which still need their lease
 *	  written at commit, and which to count as failed attempts if the
 *	  transaction rolls back.
 *
 * Leases: a claim only locks its messages; at PRE_COMMIT the claims the
 * transaction did not settle (ack, nack, dead letter) get their lease,
 * receipt and attempt written in one UPDATE per queue.  Claims are indexed
 * by (queue, message) while unsettled, so that ack, nack and extend in the
 * same transaction can find them.
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
 * Locks: the lease write updates rows the transaction has locked already
 * (FOR UPDATE at claim time); recording a failed attempt skips a message
 * another transaction holds (it has been claimed again and that claim
 * counts).  A rolled-back claim wakes one waiter of its queue once the
 * transaction's locks are gone (wait.c).
 *
 * src/queue_xact.c
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
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "queue_remove.h"
#include "queue_xact.h"
#include "wait.h"

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

/* Claims of the open transaction, and failed ones not yet written down. */
static List *xact_claims = NIL;
static List *pending_failures = NIL;
static List *queue_names = NIL;	/* of ClaimQueueName, in TopMemoryContext */
static HTAB *unsettled = NULL;	/* unsettled claims of the open transaction */
static bool flushing = false;	/* writing down failures now */

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
/* Unsettled claims are found by (queue, message). */
static ClaimEntry *
unsettled_find(int32 queue_id, int64 msg_id, HASHACTION action)
{
	ClaimKey	key;

	memset(&key, 0, sizeof(key));
	key.queue_id = queue_id;
	key.msg_id = msg_id;
	return hash_search(unsettled, &key, action, NULL);
}

/*
 * Remember a claim: its lease is written when the transaction commits
 * unless the claim is settled first, and it counts as a failed attempt if
 * the transaction rolls back.
 */
void
QueueTrackClaim(BrokerQueue *q, int64 msg_id, int32 attempt,
				 pg_uuid_t *receipt, TimestampTz lease_until)
{
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
	TrackedClaim *c = palloc(sizeof(TrackedClaim));

	c->queue_id = q->id;
	c->queue = xact_queue_name(q->id, QueueName(q));
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
	unsettled_find(q->id, msg_id, HASH_ENTER)->claim = c;
}

/* The unsettled claim of a message made by this transaction, or NULL. */
TrackedClaim *
QueueFindClaim(int32 queue_id, int64 msg_id)
{
	ClaimEntry *e;

	if (unsettled == NULL)
		return NULL;
	e = unsettled_find(queue_id, msg_id, HASH_FIND);
	return e ? e->claim : NULL;
}

/* Ids of the messages this transaction has claimed from a queue, as int8[]. */
Datum
QueueClaimedIds(int32 queue_id)
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
 * statement per queue: $1 ids $2 attempts $3 receipts $4 lease ends.
 * Only unindexed columns change, so this is a HOT update.  A lease found
 * expired is recorded in the history here, where the message is next
 * delivered.  Runs at PRE_COMMIT (and PRE_PREPARE), while the
 * transaction can still fail cleanly.
 */
static const char lease_sql[] =
"UPDATE broker.queue_%1$d m SET attempt = x.attempt,"
" lease_until = x.lease_until, receipt = x.receipt,"
" last_error = CASE WHEN m.lease_until IS NULL THEN m.last_error"
"   ELSE 'lease expired' END,"
" history = CASE WHEN m.lease_until IS NULL THEN m.history"
"   ELSE COALESCE(m.history, '[]'::pg_catalog.jsonb)"
"   OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object("
"   'attempt', m.attempt, 'error', 'lease expired', 'at', m.lease_until) END"
" FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2),"
"   pg_catalog.unnest($3), pg_catalog.unnest($4)) AS x(id, attempt, receipt, lease_until)"
" WHERE m.id OPERATOR(pg_catalog.=) x.id";
static Oid	lease_argtypes[4] = {INT8ARRAYOID, INT4ARRAYOID, UUIDARRAYOID, TIMESTAMPTZARRAYOID};

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
		BrokerExecPlan(QueuePlan(q, QPLAN_LEASE, lease_sql, 4, lease_argtypes),
					   values, NULL, false, 0);
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
				unsettled_find(c->queue_id, c->msg_id, HASH_REMOVE);
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

/*
 * Record one failed attempt: $1 id $2 attempt $3 now.  The message stays
 * claimable at once: a rollback gives it back immediately, it only counts.
 * A message locked by another transaction has been claimed again, and
 * that claim counts the delivery: skip it rather than wait (two sessions
 * recording rollbacks of messages the other now holds would deadlock).
 */
static const char record_rollback_sql[] =
"UPDATE broker.queue_%1$d m SET attempt = $2, lease_until = NULL,"
" receipt = NULL, last_error = 'transaction rolled back',"
" history = COALESCE(m.history, '[]'::pg_catalog.jsonb)"
"   OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object("
"   'attempt', $2, 'error', 'transaction rolled back', 'at', $3)"
" WHERE m.id OPERATOR(pg_catalog.=) $1"
" AND m.id IN (SELECT l.id FROM broker.queue_%1$d l"
"   WHERE l.id OPERATOR(pg_catalog.=) $1 FOR UPDATE SKIP LOCKED)"
" AND m.attempt OPERATOR(pg_catalog.=) $2 - 1"
" AND (m.lease_until IS NULL OR m.lease_until OPERATOR(pg_catalog.<=) $3)"
" RETURNING m.attempt";
static SPIPlanPtr queue_name_plan = NULL;

/*
 * Write down the failed attempts of earlier rolled-back transactions,
 * moving a message whose attempts are used up to the dead letters.
 */
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
		Datum		values[3];
		Datum		arg;
		int			rc;

		/* Mark first: an error below must not make us retry forever. */
		c->written = true;

		/* The queue may have been dropped meanwhile. */
		arg = Int32GetDatum(c->queue_id);
		rc = BrokerExecPlan(BrokerKeptPlan(&queue_name_plan,
										   "SELECT name FROM broker.queue WHERE id OPERATOR(pg_catalog.=) $1",
										   1, (Oid[]) {INT4OID}),
							&arg, NULL, false, 1);
		if (rc != SPI_OK_SELECT || SPI_processed == 0)
			continue;
		name = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
		q = QueueLookupExt(name, true);
		if (q == NULL || q->id != c->queue_id)
			continue;

		values[0] = Int64GetDatum(c->msg_id);
		values[1] = Int32GetDatum(c->attempt);
		values[2] = TimestampTzGetDatum(GetCurrentTimestamp());
		BrokerExecPlan(QueuePlan(q, QPLAN_RECORD_ROLLBACK, record_rollback_sql, 3,
								 (Oid[]) {INT8OID, INT4OID, TIMESTAMPTZOID}),
					   values, NULL, false, 0);
		if (SPI_processed == 1 && c->attempt >= q->max_attempts)
		{
			DeadLetter	dl = {0};

			dl.reason = "max_attempts";
			dl.now = GetCurrentTimestamp();
			(void) QueueDeadLetter(q, c->msg_id, &dl);
		}
	}
	list_free(todo);
	flushing = false;
}

/* An ack, nack or dead-letter move settled the claim: no lease to write. */
void
QueueSettleClaim(TrackedClaim *c)
{
	c->settled = true;
	if (unsettled != NULL)
		unsettled_find(c->queue_id, c->msg_id, HASH_REMOVE);
}

/* Does a receipt match the claim's? */
bool
QueueClaimReceiptMatches(TrackedClaim *c, Datum receipt)
{
	return memcmp(&c->receipt, DatumGetUUIDP(receipt), UUID_LEN) == 0;
}

/* The attempt a claim is (not yet in the row). */
int32
QueueClaimAttempt(TrackedClaim *c)
{
	return c->attempt;
}

/* extend() of a claim of this transaction: the lease it writes at commit. */
void
QueueClaimSetLease(TrackedClaim *c, TimestampTz lease_until)
{
	c->lease_until = lease_until;
}

/* ---------------------------------------------------------------------
 * Transaction events (called by xact.c)
 * --------------------------------------------------------------------- */

void
QueueXactEnterCall(void)
{
	/*
	 * Not where nothing may be written (a read-only transaction, a
	 * standby): a reading call (broker.read) must not fail there, and the
	 * failures wait for a call that may write.
	 */
	if (pending_failures != NIL && !flushing && !XactReadOnly && !RecoveryInProgress())
		xact_flush_failures();
}

void
QueueXactPreCommit(void)
{
	if (xact_claims != NIL)
		xact_write_leases();
}

void
QueueXactCommitted(void)
{
	ListCell   *lc;

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
}

void
QueueXactAborted(void)
{
	ListCell   *lc;

	/* the messages it claimed are free again: wake the waiters */
	foreach(lc, xact_claims)
		BrokerWakeQueueAtEnd(((TrackedClaim *) lfirst(lc))->queue_id, 1);
	xact_claims_failed(0);
	xact_reset_unsettled();
	foreach(lc, pending_failures)
		((TrackedClaim *) lfirst(lc))->written = false;
	flushing = false;
}

/* The claims are settled by COMMIT/ROLLBACK PREPARED elsewhere. */
void
QueueXactPrepared(void)
{
	list_free_deep(xact_claims);
	xact_claims = NIL;
	xact_reset_unsettled();
}

void
QueueXactSubAborted(int level)
{
	ListCell   *lc;

	foreach(lc, xact_claims)
	{
		TrackedClaim *c = lfirst(lc);

		if (c->nest_level >= level)
			BrokerWakeQueueAtEnd(c->queue_id, 1);
	}
	xact_claims_failed(level);
}

void
QueueXactSubCommitted(int level)
{
	ListCell   *lc;

	foreach(lc, xact_claims)
	{
		TrackedClaim *c = lfirst(lc);

		if (c->nest_level >= level)
			c->nest_level = level - 1;
	}
}
