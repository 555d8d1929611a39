/*-------------------------------------------------------------------------
 *
 * subscription_queue.c
 *	  A subscription to a queue: claiming for the handler, acking with
 *	  the effects, giving back what failed.
 *
 * Every delivery is counted before the handler sees it: a batch is a
 * leased claim that committed (its attempt counted, its lease written),
 * and then the handler's effects and the ack with the claim's receipt
 * commit in one transaction.  A handler that crashes the server therefore
 * costs each message it held one attempt, and after max_attempts the
 * claim dead-letters the message as for any consumer.  So that one
 * message that crashes the server does not take its neighbours' attempts
 * with it time after time, a worker claims one message at a time when it
 * starts, and whenever the last batch held a message delivered before
 * (attempt > 1), and doubles its claims up to batch_size after each batch
 * of first deliveries: after a crash, the messages it held come back one
 * by one, and the one that crashes it again takes no other with it.
 * Under load the transaction of a batch
 * also claims the next batch, so that each batch costs one commit; the
 * lease covers the subscription's timeout and a margin.
 *
 * A message whose call failed is given back with broker.nack and the
 * error text: the queue's retry policy applies (backoff, max_attempts,
 * dead letters with the error history), as for any consumer.  Everything
 * goes through the queue's SQL functions, as the subscription's owner, so
 * that the owner's privileges are checked as for any consumer.
 *
 * Locks: those of claim, ack and nack.  Memory: a batch lives in one of
 * two contexts, the one in hand and the next one, across transactions.
 *
 * src/subscription_queue.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "common.h"
#include "subscription.h"

/*
 * The lease of a subscription's claim: its timeout and a margin as long
 * again, between 1 and 30 seconds (a batch is claimed right before it is
 * handled, so that the margin only covers the settling after the handler).
 */
#define SUBSCRIPTION_LEASE_MARGIN_MS(timeout_ms)	Max(1000, Min(30000, (timeout_ms)))

static MemoryContext batch_cxt[2] = {NULL, NULL};
static int	batch_next = 0;

/* How many messages the next claim takes (see the header). */
static int	claim_size = 1;

/* $1 queue $2 max $3 lease */
static SPIPlanPtr plan_claim_sql = NULL;
static SPIPlanPtr plan_next_due_sql = NULL;
static SPIPlanPtr plan_ack_sql = NULL;
static SPIPlanPtr plan_nack_sql = NULL;

static const char claim_sql[] =
"SELECT m, m.id, m.receipt, m.attempt FROM broker.claim($1, $2, $3) m";
enum
{
	CLAIM_MESSAGE = 1,
	CLAIM_ID,
	CLAIM_RECEIPT,
	CLAIM_ATTEMPT
};

/* Claim up to max messages into a new batch (a List of SubItem), in the next context. */
static List *
claim(Subscription *s, int max)
{
	Datum		args[3];
	Interval   *lease;
	MemoryContext old;
	List	   *batch = NIL;
	uint64		i;

	if (batch_cxt[0] == NULL)
	{
		batch_cxt[0] = AllocSetContextCreate(TopMemoryContext, "pgbroker subscription batch",
											 ALLOCSET_DEFAULT_SIZES);
		batch_cxt[1] = AllocSetContextCreate(TopMemoryContext, "pgbroker subscription batch",
											 ALLOCSET_DEFAULT_SIZES);
	}
	lease = palloc0(sizeof(Interval));
	lease->time = (s->timeout_ms + SUBSCRIPTION_LEASE_MARGIN_MS(s->timeout_ms)) * 1000;
	args[0] = CStringGetTextDatum(s->source);
	args[1] = Int32GetDatum(max);
	args[2] = IntervalPGetDatum(lease);
	BrokerExecPlan(BrokerKeptPlan(&plan_claim_sql, claim_sql, 3, (Oid[]) {TEXTOID, INT4OID, INTERVALOID}),
				   args, NULL, false, 0);
	MemoryContextReset(batch_cxt[batch_next]);
	old = MemoryContextSwitchTo(batch_cxt[batch_next]);
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		SubItem    *item = palloc0(sizeof(SubItem));
		bool		isnull;

		item->value = datumCopy(SPI_getbinval(tup, desc, CLAIM_MESSAGE, &isnull), false, -1);
		item->id = DatumGetInt64(SPI_getbinval(tup, desc, CLAIM_ID, &isnull));
		item->receipt = datumCopy(SPI_getbinval(tup, desc, CLAIM_RECEIPT, &isnull), false, 16);
		item->attempt = DatumGetInt32(SPI_getbinval(tup, desc, CLAIM_ATTEMPT, &isnull));
		batch = lappend(batch, item);
	}
	MemoryContextSwitchTo(old);
	batch_next = 1 - batch_next;
	return batch;
}

/* $1 queue */
static const char next_due_sql[] = "SELECT broker._queue_next_due($1) AS due";

/*
 * A look of an idle worker: claim a batch.  False if the queue had
 * nothing; then *due is when a delay or lease ends (0: none known).
 */
bool
SubscriptionQueueLook(Subscription *s, int max, List **batch, TimestampTz *due)
{
	Datum		arg;
	bool		isnull;

	*batch = claim(s, Min(claim_size, max));
	*due = 0;
	if (*batch != NIL)
		return true;
	arg = CStringGetTextDatum(s->source);
	BrokerExecPlan(BrokerKeptPlan(&plan_next_due_sql, next_due_sql, 1, (Oid[]) {TEXTOID}), &arg, NULL, false, 1);
	if (SPI_processed == 1)
	{
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
			*due = DatumGetTimestampTz(d);
	}
	return false;
}

/* $1 queue $2 id $3 receipt */
static const char ack_sql[] = "SELECT broker.ack($1, $2, $3) AS acked";

/* Ack one handled message with its receipt, in the subtransaction of its effects. */
static bool
queue_settle(Subscription *s, SubItem *item)
{
	Datum		args[3];
	bool		isnull;

	args[0] = CStringGetTextDatum(s->source);
	args[1] = Int64GetDatum(item->id);
	args[2] = item->receipt;
	BrokerExecPlan(BrokerKeptPlan(&plan_ack_sql, ack_sql, 3, (Oid[]) {TEXTOID, INT8OID, UUIDOID}),
				   args, NULL, false, 1);
	return SPI_processed == 1 &&
		DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)) &&
		!isnull;
}

/* $1 queue $2 ids $3 receipts */
static const char ack_all_sql[] = "SELECT broker.ack_batch($1, $2, $3) AS acked";
static SPIPlanPtr plan_ack_all_sql = NULL;

/* Ack a whole batch with its receipts in one statement: whether every one was acked. */
static bool
queue_settle_all(Subscription *s, SubItem *items, int n)
{
	Datum	   *ids = palloc(sizeof(Datum) * n);
	Datum	   *receipts = palloc(sizeof(Datum) * n);
	Datum		args[3];
	bool		isnull;
	int			i;

	for (i = 0; i < n; i++)
	{
		ids[i] = Int64GetDatum(items[i].id);
		receipts[i] = items[i].receipt;
	}
	args[0] = CStringGetTextDatum(s->source);
	args[1] = PointerGetDatum(construct_array(ids, n, INT8OID, 8, true, TYPALIGN_DOUBLE));
	args[2] = PointerGetDatum(construct_array(receipts, n, UUIDOID, 16, false, TYPALIGN_CHAR));
	BrokerExecPlan(BrokerKeptPlan(&plan_ack_all_sql, ack_all_sql, 3,
								  (Oid[]) {TEXTOID, INT8ARRAYOID, UUIDARRAYOID}),
				   args, NULL, false, 1);
	return SPI_processed == 1 &&
		DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)) == n;
}

static const SubSource queue_source = {queue_settle, queue_settle_all, false};

/* $1 queue $2 id $3 receipt $4 error */
static const char nack_sql[] = "SELECT broker.nack($1, $2, $3, NULL, $4) AS given_back";

/*
 * Handle a batch, give back its failures, and claim the next batch in the
 * same transaction (returned; NIL if the queue had nothing).
 */
List *
SubscriptionQueueBatch(Subscription *s, List *batch, int next_max)
{
	int			n = list_length(batch);
	SubItem    *items = palloc(sizeof(SubItem) * n);
	int			processed = 0;
	int			failed = 0;
	bool		redelivered = false;
	const char *error = NULL;
	char		about[64] = "";
	int			i = 0;
	ListCell   *lc;

	foreach(lc, batch)
	{
		items[i] = *(SubItem *) lfirst(lc);
		if (items[i].attempt > 1)
			redelivered = true;
		i++;
	}
	SubscriptionHandle(s, items, n, &queue_source);
	for (i = 0; i < n; i++)
	{
		Datum		args[4];

		if (items[i].done)
		{
			processed++;
			continue;
		}
		failed++;
		error = items[i].error;
		snprintf(about, sizeof(about), "message " INT64_FORMAT, items[i].id);
		args[0] = CStringGetTextDatum(s->source);
		args[1] = Int64GetDatum(items[i].id);
		args[2] = items[i].receipt;
		args[3] = CStringGetTextDatum(items[i].error);
		BrokerExecPlan(BrokerKeptPlan(&plan_nack_sql, nack_sql, 4, (Oid[]) {TEXTOID, INT8OID, UUIDOID, TEXTOID}),
					   args, NULL, false, 1);
	}
	SubscriptionCountBatch(s, processed, failed, error, error ? about : NULL);
	/* after a message delivered before, one at a time (see the header) */
	claim_size = redelivered ? 1 : Min(claim_size * 2, next_max);
	return claim(s, claim_size);
}
