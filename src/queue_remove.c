/*-------------------------------------------------------------------------
 *
 * queue_remove.c
 *	  What happens when a message leaves a queue, by any way out: the
 *	  bookkeeping of its ordering group and dedup key, and the move to the
 *	  dead letters.
 *
 * A message lives in its queue's table, broker.queue_<id>, until it is
 * acked, cancelled, dropped, expired or moved to the dead letters.  Each
 * of those deletes its row with a statement that returns the columns
 * QueueRemovedFromResult reads (QUEUE_REMOVED_RETURNING), so that the
 * bookkeeping cannot be skipped.  The move to the dead letters is written
 * once, here: claims that find a message out of attempts, the nack of its
 * last attempt, a failed attempt counted after a rollback, and maintain()
 * for expired messages all call it.
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
 * After a crash: all of it is ordinary row changes of the caller's
 * transaction, undone with it.
 *
 * src/queue_remove.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "locktag.h"
#include "queue_metrics.h"
#include "queue_remove.h"
#include "wait.h"

PG_FUNCTION_INFO_V1(pgbroker_queue_dead_letter);
PG_FUNCTION_INFO_V1(pgbroker_group_promote);
PG_FUNCTION_INFO_V1(pgbroker_group_join);
PG_FUNCTION_INFO_V1(pgbroker_message_removed);

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
	if (acked)
		QueueCount(q->id, QCOUNT_ACKED, (int64) n);

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
	if (QueueRemovedFromResult(q, false) == 0)
		return false;
	QueueCount(q->id, QCOUNT_DEAD_LETTERED, 1);
	if (strcmp(dl->reason, "expired") == 0)
		QueueCount(q->id, QCOUNT_EXPIRED, 1);
	return true;
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
