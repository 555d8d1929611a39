/*-------------------------------------------------------------------------
 *
 * queue_settle.c
 *	  Settling a delivery: ack (one, many, many with receipts) and nack.
 *
 * ack deletes the message; nack gives it back for a later attempt after a
 * backoff, or moves it to the dead letters once its attempts are used up
 * (queue_remove.c, which also runs the bookkeeping of every way out).
 *
 * Receipts.  ack and nack with a receipt act only if the message still
 * carries that receipt: after the lease expired and someone else claimed
 * the message they return false and change nothing.  Without a receipt
 * they act on the message as it is.  A message claimed in the same
 * transaction has no receipt in its row yet: queue_xact.c knows it, and
 * the settled claim then writes no lease at commit.
 *
 * Locks: the row of the message (a DELETE or UPDATE of the caller's
 * transaction).  A nacked message due soon wakes a waiting consumer at
 * commit.  After a crash: undone with the transaction.
 *
 * src/queue_settle.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "acl.h"
#include "queue_metrics.h"
#include "queue_remove.h"
#include "queue_xact.h"
#include "wait.h"
#include "xact.h"

PG_FUNCTION_INFO_V1(pgbroker_queue_ack);
PG_FUNCTION_INFO_V1(pgbroker_queue_ack_many);
PG_FUNCTION_INFO_V1(pgbroker_queue_ack_receipts);
PG_FUNCTION_INFO_V1(pgbroker_queue_nack);
PG_FUNCTION_INFO_V1(pgbroker_wake);

/* ---------------------------------------------------------------------
 * ack and nack
 * --------------------------------------------------------------------- */

/*
 * The privilege a settlement needs: consume, for a delivery the caller
 * holds (a receipt, or a claim of this transaction); manage, to settle any
 * message without one.
 */
static void
check_settle(BrokerQueue *q, bool delivery)
{
	if (delivery)
		BrokerCheckPrivilege('q', QueueName(q), q->acl_holder, BROKER_PRIV_CONSUME);
	else if (!BrokerHasPrivilege(BrokerCaller(), 'q', q->acl_holder, BROKER_PRIV_MANAGE))
	{
		BrokerCheckPrivilege('q', QueueName(q), q->acl_holder, BROKER_PRIV_CONSUME);
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to settle a message of queue \"%s\" without its receipt",
						QueueName(q)),
				 errdetail("Without a receipt, only messages claimed in the same transaction can be settled with the consume privilege; any other needs manage."),
				 errhint("Pass the receipt the claim returned.")));
	}
}

/* Whether every id of the array was claimed in this transaction. */
static bool
all_claimed_here(BrokerQueue *q, ArrayType *ids)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int			i;

	deconstruct_array(ids, INT8OID, 8, true, TYPALIGN_DOUBLE, &elems, &nulls, &n);
	for (i = 0; i < n; i++)
	{
		if (!nulls[i] && QueueFindClaim(q->id, DatumGetInt64(elems[i])) == NULL)
			return false;
	}
	return true;
}

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
static Datum
queue_ack_body(PG_FUNCTION_ARGS)
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
	check_settle(q, c != NULL || !PG_ARGISNULL(2));
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
static Datum
queue_ack_many_body(PG_FUNCTION_ARGS)
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
	check_settle(q, all_claimed_here(q, ids));
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
 * broker.ack_batch(queue text, ids bigint[], receipts uuid[]) RETURNS bigint
 *
 * Ack many deliveries, each with the receipt its claim returned: those
 * whose receipt still matches are deleted, the others (a lease that ran
 * out and was claimed again) are left alone.  Returns how many were
 * acked; needs only consume.  What a batch consumer, a subscription's
 * worker among them, acks in one statement.
 */
static Datum
queue_ack_receipts_body(PG_FUNCTION_ARGS)
{
	char	   *name = BrokerTextArg(fcinfo, 0, "queue name");
	ArrayType  *ids;
	ArrayType  *receipts;
	Datum	   *idv;
	Datum	   *rv;
	bool	   *idnull;
	bool	   *rnull;
	int			n;
	int			nr;
	int			i;
	int			nhere = 0;
	int			nother = 0;
	Datum	   *here;
	Datum	   *other_ids;
	Datum	   *other_receipts;
	BrokerQueue *q;
	uint64		acked = 0;

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("message ids and receipts must not be null")));
	ids = PG_GETARG_ARRAYTYPE_P(1);
	receipts = PG_GETARG_ARRAYTYPE_P(2);
	if (ARR_NDIM(ids) > 1 || ARR_NDIM(receipts) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("message ids and receipts must be one-dimensional arrays")));
	deconstruct_array(ids, INT8OID, 8, true, TYPALIGN_DOUBLE, &idv, &idnull, &n);
	deconstruct_array(receipts, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR, &rv, &rnull, &nr);
	if (n != nr)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("message ids and receipts must have the same length")));

	SPI_connect();
	BrokerEnterCall();
	q = QueueLookup(name);
	check_settle(q, true);

	/*
	 * Claimed in this transaction: the receipt is not in the row yet, so
	 * check it here and delete by id; the others by id and receipt.
	 */
	here = palloc(sizeof(Datum) * Max(n, 1));
	other_ids = palloc(sizeof(Datum) * Max(n, 1));
	other_receipts = palloc(sizeof(Datum) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		TrackedClaim *c;

		if (idnull[i] || rnull[i])
			continue;
		c = QueueFindClaim(q->id, DatumGetInt64(idv[i]));
		if (c != NULL)
		{
			if (QueueClaimReceiptMatches(c, rv[i]))
				here[nhere++] = idv[i];
			continue;
		}
		other_ids[nother] = idv[i];
		other_receipts[nother++] = rv[i];
	}
	if (nhere > 0)
	{
		Datum		arg = PointerGetDatum(construct_array(here, nhere, INT8OID, 8, true, TYPALIGN_DOUBLE));

		BrokerExecPlan(QueuePlan(q, QPLAN_ACK_MANY,
								 "DELETE FROM broker.queue_%1$d WHERE id OPERATOR(pg_catalog.=) ANY ($1)"
								 QUEUE_REMOVED_RETURNING,
								 1, (Oid[]) {INT8ARRAYOID}),
					   &arg, NULL, false, 0);
		for (i = 0; i < (int) SPI_processed; i++)
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
		acked += QueueRemovedFromResult(q, true);
	}
	if (nother > 0)
	{
		Datum		args[2];

		args[0] = PointerGetDatum(construct_array(other_ids, nother, INT8OID, 8, true, TYPALIGN_DOUBLE));
		args[1] = PointerGetDatum(construct_array(other_receipts, nother, UUIDOID, UUID_LEN, false,
												  TYPALIGN_CHAR));
		/* $1 ids $2 receipts */
		BrokerExecPlan(QueuePlan(q, QPLAN_ACK_RECEIPTS,
								 "DELETE FROM broker.queue_%1$d m"
								 " USING ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2)) AS a(a_id, a_receipt)"
								 " WHERE m.id OPERATOR(pg_catalog.=) a.a_id"
								 " AND m.receipt OPERATOR(pg_catalog.=) a.a_receipt"
								 QUEUE_REMOVED_RETURNING,
								 2, (Oid[]) {INT8ARRAYOID, UUIDARRAYOID}),
					   args, NULL, false, 0);
		acked += QueueRemovedFromResult(q, true);
	}
	SPI_finish();
	PG_RETURN_INT64((int64) acked);
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
" history = (CASE WHEN pg_catalog.jsonb_array_length(m.history) OPERATOR(pg_catalog.>=) 100"
"   THEN m.history OPERATOR(pg_catalog.-) 0 ELSE COALESCE(m.history, '[]'::pg_catalog.jsonb) END)"
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
static Datum
queue_nack_body(PG_FUNCTION_ARGS)
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
	check_settle(q, c != NULL || nulls[1] == ' ');
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
	if (done)
		QueueCount(q->id, QCOUNT_NACKED, 1);
	if (done && c != NULL)
		QueueSettleClaim(c);
	SPI_finish();
	PG_RETURN_BOOL(done);
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

/* ---------------------------------------------------------------------
 * Entry points: the caller's privileges are checked above, then the
 * function runs as the extension's owner (acl.c)
 * --------------------------------------------------------------------- */

Datum
pgbroker_queue_ack(PG_FUNCTION_ARGS)
{
	BrokerRequireWrite("broker.ack()");
	return BrokerRunAsOwner(fcinfo, queue_ack_body);
}

Datum
pgbroker_queue_ack_many(PG_FUNCTION_ARGS)
{
	BrokerRequireWrite("broker.ack()");
	return BrokerRunAsOwner(fcinfo, queue_ack_many_body);
}

Datum
pgbroker_queue_ack_receipts(PG_FUNCTION_ARGS)
{
	BrokerRequireWrite("broker.ack_batch()");
	return BrokerRunAsOwner(fcinfo, queue_ack_receipts_body);
}

Datum
pgbroker_queue_nack(PG_FUNCTION_ARGS)
{
	BrokerRequireWrite("broker.nack()");
	return BrokerRunAsOwner(fcinfo, queue_nack_body);
}
