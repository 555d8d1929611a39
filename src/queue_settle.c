/*-------------------------------------------------------------------------
 *
 * queue_settle.c
 *	  How a message leaves a queue or goes back to it: ack, nack, the move
 *	  to the dead letters, and the bookkeeping every way out runs (ordering
 *	  groups and dedup keys).
 *
 * A message lives in its queue's table, broker.queue_<id>, until it is
 * acked, cancelled, dropped, expired or moved to the dead letters.  Each
 * of those deletes its row with a statement that returns the columns
 * QueueRemovedFromResult reads (QUEUE_REMOVED_RETURNING), so that the
 * bookkeeping cannot be skipped.
 *
 * Ordering groups.  Of the messages sharing a group key only the *head*
 * (group_head = true) is in the ready index, so claims see one message per
 * group and a long group cannot crowd out the others.  Whoever adds to a
 * group or removes its head takes an exclusive advisory lock on the group
 * (LockTagOrdGroup) for the rest of its transaction and then looks at the
 * group with the latest snapshot.  The lock orders a producer after any
 * transaction that is removing the head, and vice versa, so a group never
 * has two heads and never loses its head while it has messages.  Within a
 * group messages go out in id order; ids are drawn at send time, so one
 * producer's messages keep its send order, and of two concurrent producers
 * the one holding the group lock first comes first.
 *
 * Receipts.  ack and nack with a receipt act only if the message still
 * carries that receipt: after the lease expired and someone else claimed
 * the message they return false and change nothing.  Without a receipt
 * they act on the message as it is.  A message claimed in the same
 * transaction has no receipt in its row yet: queue_xact.c knows it.
 *
 * After a crash: all of it is ordinary row changes of the caller's
 * transaction, undone with it.
 *
 * src/queue_settle.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "locktag.h"
#include "queue_settle.h"
#include "queue_xact.h"
#include "wait.h"
#include "xact.h"

PG_FUNCTION_INFO_V1(pgbroker_queue_ack);
PG_FUNCTION_INFO_V1(pgbroker_queue_ack_many);
PG_FUNCTION_INFO_V1(pgbroker_queue_nack);
PG_FUNCTION_INFO_V1(pgbroker_queue_dead_letter);
PG_FUNCTION_INFO_V1(pgbroker_group_promote);
PG_FUNCTION_INFO_V1(pgbroker_group_join);
PG_FUNCTION_INFO_V1(pgbroker_message_removed);
PG_FUNCTION_INFO_V1(pgbroker_wake);

/* ---------------------------------------------------------------------
 * Ordering groups
 * --------------------------------------------------------------------- */

static void
ordgroup_lock(BrokerQueue *q, const char *group_key)
{
	LOCKTAG		tag;

	LockTagOrdGroup(&tag, q->id,
					DatumGetUInt32(hash_any((const unsigned char *) group_key,
											strlen(group_key))));
	(void) LockAcquire(&tag, ExclusiveLock, false, false);
}

/* Lock an ordering group before adding to it; returns true if it has messages. */
bool
QueueOrdGroupJoin(BrokerQueue *q, const char *group_key)
{
	Datum		arg = CStringGetTextDatum(group_key);
	bool		isnull;

	ordgroup_lock(q, group_key);
	BrokerExecPlan(QueuePlan(q, QPLAN_ORDGROUP_EXISTS,
							 "SELECT EXISTS (SELECT 1 FROM broker.queue_%1$d"
							 " WHERE group_key OPERATOR(pg_catalog.=) $1)",
							 1, (Oid[]) {TEXTOID}),
				   &arg, NULL, true, 1);
	return DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0],
									  SPI_tuptable->tupdesc, 1, &isnull));
}

/* The head of a group left: make the oldest remaining message the head. */
static void
ordgroup_promote(BrokerQueue *q, const char *group_key)
{
	Datum		arg = CStringGetTextDatum(group_key);

	ordgroup_lock(q, group_key);
	BrokerExecPlan(QueuePlan(q, QPLAN_ORDGROUP_PROMOTE,
							 "UPDATE broker.queue_%1$d SET group_head = true"
							 " WHERE id OPERATOR(pg_catalog.=) (SELECT id FROM broker.queue_%1$d"
							 "   WHERE group_key OPERATOR(pg_catalog.=) $1 ORDER BY id LIMIT 1)"
							 " AND NOT EXISTS (SELECT 1 FROM broker.queue_%1$d"
							 "   WHERE group_key OPERATOR(pg_catalog.=) $1 AND group_head)"
							 " RETURNING id",
							 1, (Oid[]) {TEXTOID}),
				   &arg, NULL, true, 1);
	if (SPI_processed > 0)
		BrokerWakeQueueAtCommit(q->id, 1);
}

/* ---------------------------------------------------------------------
 * Leaving a queue
 * --------------------------------------------------------------------- */

/*
 * Bookkeeping for a message that left the queue: promote the next message
 * of its ordering group, and start the dedup window of its key (acked) or
 * forget the key (any other way out).  Connected to SPI; clobbers
 * SPI_tuptable.
 */
void
QueueMessageRemoved(BrokerQueue *q, int64 id, const char *group_key,
					bool group_head, const char *dedup_key, bool acked)
{
	if (group_key != NULL && group_head)
		ordgroup_promote(q, group_key);
	if (dedup_key != NULL)
	{
		Datum		values[4];

		values[0] = CStringGetTextDatum(dedup_key);
		values[1] = Int64GetDatum(id);
		if (acked && (q->dedup_window.time > 0 || q->dedup_window.day > 0 ||
					  q->dedup_window.month > 0))
		{
			/* $1 key $2 id $3 window $4 now */
			values[2] = IntervalPGetDatum(&q->dedup_window);
			values[3] = TimestampTzGetDatum(GetCurrentTimestamp());
			BrokerExecPlan(QueuePlan(q, QPLAN_DEDUP_ACKED,
									 "UPDATE broker.dedup SET expires_at = $4 OPERATOR(pg_catalog.+) $3"
									 " WHERE queue_id OPERATOR(pg_catalog.=) %1$d"
									 " AND dedup_key OPERATOR(pg_catalog.=) $1"
									 " AND message_id OPERATOR(pg_catalog.=) $2",
									 4, (Oid[]) {TEXTOID, INT8OID, INTERVALOID, TIMESTAMPTZOID}),
						   values, NULL, false, 0);
		}
		else
			BrokerExecPlan(QueuePlan(q, QPLAN_DEDUP_FORGET,
									 "DELETE FROM broker.dedup"
									 " WHERE queue_id OPERATOR(pg_catalog.=) %1$d"
									 " AND dedup_key OPERATOR(pg_catalog.=) $1"
									 " AND message_id OPERATOR(pg_catalog.=) $2",
									 2, (Oid[]) {TEXTOID, INT8OID}),
						   values, NULL, false, 0);
	}
}

/* One message taken out of a queue, as QUEUE_REMOVED_RETURNING gives it. */
typedef struct RemovedMessage
{
	int64		id;
	char	   *group_key;
	bool		group_head;
	char	   *dedup_key;
} RemovedMessage;

/*
 * Run QueueMessageRemoved for every row of the current SPI result, which a
 * statement ending in QUEUE_REMOVED_RETURNING produced.  Returns the row
 * count.
 */
uint64
QueueRemovedFromResult(BrokerQueue *q, bool acked)
{
	uint64		n = SPI_processed;
	SPITupleTable *tt = SPI_tuptable;
	RemovedMessage *rm;
	uint64		i;
	uint64		nbook = 0;

	if (n == 0)
		return 0;

	/* Copy out what needs bookkeeping before running more statements. */
	rm = palloc(sizeof(RemovedMessage) * n);
	for (i = 0; i < n; i++)
	{
		HeapTuple	tup = tt->vals[i];
		bool		isnull;
		char	   *group = SPI_getvalue(tup, tt->tupdesc, REMOVED_GROUP_KEY);
		char	   *dedup = SPI_getvalue(tup, tt->tupdesc, REMOVED_DEDUP_KEY);
		bool		head = DatumGetBool(SPI_getbinval(tup, tt->tupdesc, REMOVED_GROUP_HEAD,
													  &isnull));

		if ((group != NULL && head) || dedup != NULL)
		{
			rm[nbook].id = DatumGetInt64(SPI_getbinval(tup, tt->tupdesc, REMOVED_ID, &isnull));
			rm[nbook].group_key = group;
			rm[nbook].group_head = head;
			rm[nbook].dedup_key = dedup;
			nbook++;
		}
	}
	SPI_freetuptable(tt);
	for (i = 0; i < nbook; i++)
		QueueMessageRemoved(q, rm[i].id, rm[i].group_key, rm[i].group_head,
							rm[i].dedup_key, acked);
	pfree(rm);
	return n;
}

/*
 * Move a message to the dead letters, with its history, and run the
 * bookkeeping of its leaving.  The one place this move is written: claims
 * that find a message out of attempts, nack of its last attempt, a failed
 * attempt counted after a rollback, and maintain() for expired messages
 * (through broker._dead_letter).  Returns whether the message was moved.
 *
 * $1 id $2 receipt $3 reason $4 error $5 now $6 attempt adjustment
 * $7 least attempt
 */
bool
QueueDeadLetter(BrokerQueue *q, int64 id, const DeadLetter *dl)
{
	Datum		values[7];
	char		nulls[7] = "       ";

	values[0] = Int64GetDatum(id);
	if (dl->receipt != (Datum) 0)
		values[1] = dl->receipt;
	else
		nulls[1] = 'n';
	values[2] = CStringGetTextDatum(dl->reason);
	if (dl->error != (Datum) 0)
		values[3] = dl->error;
	else
		nulls[3] = 'n';
	values[4] = TimestampTzGetDatum(dl->now);
	values[5] = Int32GetDatum(dl->attempt_adjust);
	values[6] = Int32GetDatum(dl->least_attempt);
	BrokerExecPlan(QueuePlan(q, QPLAN_DEAD_LETTER,
							 "WITH d AS (DELETE FROM broker.queue_%1$d m"
							 "  WHERE m.id OPERATOR(pg_catalog.=) $1"
							 "  AND ($2 IS NULL OR m.receipt OPERATOR(pg_catalog.=) $2)"
							 "  AND m.attempt OPERATOR(pg_catalog.>=) $7"
							 "  RETURNING m.*),"
							 " i AS (INSERT INTO broker.dead_letter (queue_id, id, payload,"
							 "  payload_bytes, headers, priority, group_key, dedup_key, enqueued_at,"
							 "  attempts, last_error, history, reason, dead_at)"
							 "  SELECT %1$d, d.id, d.payload, d.payload_bytes,"
							 "  COALESCE(d.headers, '{}'::pg_catalog.jsonb), d.priority,"
							 "  d.group_key, d.dedup_key, d.enqueued_at, d.attempt OPERATOR(pg_catalog.+) $6,"
							 "  COALESCE($4, d.last_error),"
							 "  CASE WHEN $4 IS NULL THEN d.history"
							 "  ELSE COALESCE(d.history, '[]'::pg_catalog.jsonb)"
							 "  OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object("
							 "  'attempt', d.attempt OPERATOR(pg_catalog.+) $6, 'error', $4, 'at', $5) END,"
							 "  $3, $5 FROM d)"
							 " SELECT d.id, d.group_key, d.group_head, d.dedup_key FROM d",
							 7, (Oid[]) {INT8OID, UUIDOID, TEXTOID, TEXTOID, TIMESTAMPTZOID,
							 INT4OID, INT4OID}),
				   values, nulls, false, 0);
	return QueueRemovedFromResult(q, false) > 0;
}

/* ---------------------------------------------------------------------
 * ack and nack
 * --------------------------------------------------------------------- */

static int64
message_id_arg(FunctionCallInfo fcinfo, int argno)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("message id must not be null")));
	return PG_GETARG_INT64(argno);
}

/* broker.ack(queue text, id bigint, receipt uuid) RETURNS boolean */
Datum
pgbroker_queue_ack(PG_FUNCTION_ARGS)
{
	char	   *name = BrokerTextArg(fcinfo, 0, "queue name");
	int64		id = message_id_arg(fcinfo, 1);
	Datum		values[2];
	char		nulls[2] = "  ";
	BrokerQueue *q;
	uint64		n;
	TrackedClaim *c;

	values[0] = Int64GetDatum(id);
	if (PG_ARGISNULL(2))
		nulls[1] = 'n';
	else
		values[1] = PG_GETARG_DATUM(2);

	SPI_connect();
	BrokerEnterCall();
	q = QueueLookup(name);

	/*
	 * Claimed in this transaction: the receipt is not in the row yet, so
	 * check it here, and delete by id (our row lock keeps others off).
	 */
	c = QueueFindClaim(q->id, id);
	if (c != NULL)
	{
		if (!PG_ARGISNULL(2) && !QueueClaimReceiptMatches(c, values[1]))
		{
			SPI_finish();
			PG_RETURN_BOOL(false);
		}
		nulls[1] = 'n';
	}
	/* $1 id $2 receipt */
	BrokerExecPlan(QueuePlan(q, QPLAN_ACK,
							 "DELETE FROM broker.queue_%1$d WHERE id OPERATOR(pg_catalog.=) $1"
							 " AND ($2 IS NULL OR receipt OPERATOR(pg_catalog.=) $2)"
							 QUEUE_REMOVED_RETURNING,
							 2, (Oid[]) {INT8OID, UUIDOID}),
				   values, nulls, false, 0);
	n = QueueRemovedFromResult(q, true);
	if (c != NULL && n > 0)
		QueueSettleClaim(c);
	SPI_finish();
	PG_RETURN_BOOL(n > 0);
}

/* broker.ack(queue text, ids bigint[]) RETURNS bigint */
Datum
pgbroker_queue_ack_many(PG_FUNCTION_ARGS)
{
	char	   *name = BrokerTextArg(fcinfo, 0, "queue name");
	ArrayType  *ids;
	Datum		arg;
	BrokerQueue *q;
	uint64		i;

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("message ids must not be null")));
	ids = PG_GETARG_ARRAYTYPE_P(1);
	if (ARR_NDIM(ids) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("message ids must be a one-dimensional array")));
	arg = PointerGetDatum(ids);

	SPI_connect();
	BrokerEnterCall();
	q = QueueLookup(name);
	BrokerExecPlan(QueuePlan(q, QPLAN_ACK_MANY,
							 "DELETE FROM broker.queue_%1$d WHERE id OPERATOR(pg_catalog.=) ANY ($1)"
							 QUEUE_REMOVED_RETURNING,
							 1, (Oid[]) {INT8ARRAYOID}),
				   &arg, NULL, false, 0);
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		TrackedClaim *c;

		c = QueueFindClaim(q->id,
						   DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i],
													   SPI_tuptable->tupdesc, REMOVED_ID,
													   &isnull)));
		if (c != NULL)
			QueueSettleClaim(c);
	}
	i = QueueRemovedFromResult(q, true);
	SPI_finish();
	PG_RETURN_INT64((int64) i);
}

/*
 * The nack statement: $1 id $2 receipt $3 retry_in $4 error $5 now
 * $6 max_attempts $7 retry_base $8 retry_max $9 attempt (the delivery being
 * nacked when it was claimed in this transaction, whose lease is not
 * written yet; NULL: the row's own).
 */
enum
{
	NACK_ID = 1,
	NACK_VIS
};

static const char nack_sql[] =
"UPDATE broker.queue_%1$d m SET lease_until = NULL, receipt = NULL,"
" attempt = COALESCE($9, m.attempt),"
" vis = $5 OPERATOR(pg_catalog.+) COALESCE($3,"
"   LEAST($8, $7 OPERATOR(pg_catalog.*)"
"   pg_catalog.power(2::float8, LEAST(GREATEST(COALESCE($9, m.attempt) - 1, 0), 40))::float8)),"
" last_error = $4,"
" history = COALESCE(m.history, '[]'::pg_catalog.jsonb)"
"   OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object("
"   'attempt', COALESCE($9, m.attempt), 'error', $4, 'at', $5)"
" WHERE m.id OPERATOR(pg_catalog.=) $1"
" AND ($2 IS NULL OR m.receipt OPERATOR(pg_catalog.=) $2)"
" AND COALESCE($9, m.attempt) OPERATOR(pg_catalog.<) $6"
" RETURNING m.id, m.vis";

/*
 * broker.nack(queue text, id bigint, receipt uuid, retry_in interval,
 *			   error text) RETURNS boolean
 *
 * Gives the message back: it becomes claimable after retry_in, or after
 * the queue's exponential backoff (retry_base * 2^(attempt-1), capped at
 * retry_max).  A message that has used up its attempts goes to the dead
 * letters with the error instead.
 */
Datum
pgbroker_queue_nack(PG_FUNCTION_ARGS)
{
	char	   *name = BrokerTextArg(fcinfo, 0, "queue name");
	int64		id = message_id_arg(fcinfo, 1);
	Datum		values[9];
	char		nulls[9] = "        n";
	BrokerQueue *q;
	bool		done;
	TimestampTz now = GetCurrentTimestamp();
	TrackedClaim *c;
	int32		least_attempt;
	Interval	retry_in;

	values[0] = Int64GetDatum(id);
	if (PG_ARGISNULL(2))
		nulls[1] = 'n';
	else
		values[1] = PG_GETARG_DATUM(2);
	if (BrokerIntervalArg(fcinfo, 3, "retry_in", &retry_in))
		values[2] = IntervalPGetDatum(&retry_in);
	else
		nulls[2] = 'n';
	if (PG_ARGISNULL(4))
		nulls[3] = 'n';
	else
		values[3] = PG_GETARG_DATUM(4);
	values[4] = TimestampTzGetDatum(now);

	SPI_connect();
	BrokerEnterCall();
	q = QueueLookup(name);
	values[5] = Int32GetDatum(q->max_attempts);
	values[6] = IntervalPGetDatum(&q->retry_base);
	values[7] = IntervalPGetDatum(&q->retry_max);
	least_attempt = q->max_attempts;

	/* Claimed in this transaction: its attempt is not in the row yet. */
	c = QueueFindClaim(q->id, id);
	if (c != NULL)
	{
		if (nulls[1] == ' ' && !QueueClaimReceiptMatches(c, values[1]))
		{
			SPI_finish();
			PG_RETURN_BOOL(false);
		}
		nulls[1] = 'n';
		values[8] = Int32GetDatum(QueueClaimAttempt(c));
		nulls[8] = ' ';
		least_attempt = q->max_attempts - 1;
	}
	BrokerExecPlan(QueuePlan(q, QPLAN_NACK, nack_sql, 9,
							 (Oid[]) {INT8OID, UUIDOID, INTERVALOID, TEXTOID, TIMESTAMPTZOID,
							 INT4OID, INTERVALOID, INTERVALOID, INT4OID}),
				   values, nulls, false, 0);
	done = (SPI_processed > 0);
	if (done)
	{
		bool		isnull;
		TimestampTz vis = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[0],
															 SPI_tuptable->tupdesc, NACK_VIS,
															 &isnull));

		/* a retry due after the waiters' longest sleep is theirs to find */
		if (vis <= TimestampTzPlusMilliseconds(GetCurrentTimestamp(), PGBROKER_IDLE_BACKSTOP_MS))
			BrokerWakeQueueAtCommit(q->id, 1);
	}
	else
	{
		DeadLetter	dl;

		/* Out of attempts (or a stale receipt: then nothing matches). */
		dl.receipt = nulls[1] == 'n' ? (Datum) 0 : values[1];
		dl.reason = "max_attempts";
		dl.error = nulls[3] == 'n' ? (Datum) 0 : values[3];
		dl.now = now;
		dl.attempt_adjust = c != NULL ? 1 : 0;
		dl.least_attempt = least_attempt;
		done = QueueDeadLetter(q, id, &dl);
	}
	if (done && c != NULL)
		QueueSettleClaim(c);
	SPI_finish();
	PG_RETURN_BOOL(done);
}

/* ---------------------------------------------------------------------
 * Internal helpers for the PL/pgSQL functions of the install script
 * --------------------------------------------------------------------- */

/*
 * broker._dead_letter(queue text, id bigint, reason text) RETURNS boolean:
 * maintain()'s move of an expired message.
 */
Datum
pgbroker_queue_dead_letter(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	DeadLetter	dl = {0};
	bool		done;

	dl.reason = text_to_cstring(PG_GETARG_TEXT_PP(2));
	dl.now = GetCurrentTransactionStartTimestamp();
	SPI_connect();
	done = QueueDeadLetter(QueueLookup(name), PG_GETARG_INT64(1), &dl);
	SPI_finish();
	PG_RETURN_BOOL(done);
}

/* broker._group_promote(queue text, group_key text) */
Datum
pgbroker_group_promote(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *group_key = text_to_cstring(PG_GETARG_TEXT_PP(1));

	SPI_connect();
	ordgroup_promote(QueueLookup(name), group_key);
	SPI_finish();
	PG_RETURN_VOID();
}

/* broker._group_join(queue text, group_key text): true if the group has messages */
Datum
pgbroker_group_join(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *group_key = text_to_cstring(PG_GETARG_TEXT_PP(1));
	bool		has;

	SPI_connect();
	has = QueueOrdGroupJoin(QueueLookup(name), group_key);
	SPI_finish();
	PG_RETURN_BOOL(has);
}

/*
 * broker._message_removed(queue text, id bigint, group_key text,
 *						   group_head boolean, dedup_key text, acked boolean)
 */
Datum
pgbroker_message_removed(PG_FUNCTION_ARGS)
{
	char	   *name;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_VOID();
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	SPI_connect();
	QueueMessageRemoved(QueueLookup(name), PG_GETARG_INT64(1),
						PG_ARGISNULL(2) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(2)),
						PG_ARGISNULL(3) ? false : PG_GETARG_BOOL(3),
						PG_ARGISNULL(4) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(4)),
						PG_ARGISNULL(5) ? false : PG_GETARG_BOOL(5));
	SPI_finish();
	PG_RETURN_VOID();
}

/* broker._wake(queue text): wake the queue's waiters when we commit */
Datum
pgbroker_wake(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));

	SPI_connect();
	BrokerWakeQueueAtCommit(QueueLookup(name)->id, PGBROKER_WAKE_ALL);
	SPI_finish();
	PG_RETURN_VOID();
}
