/*-------------------------------------------------------------------------
 *
 * claim.c
 *	  Consuming from a queue: claim, ack, nack and extend.
 *
 * A claim leases up to max_messages ready messages: it picks them in
 * order (priority descending, then the time they became available, then
 * id) with FOR UPDATE SKIP LOCKED, so it never waits for another
 * consumer, and hands them out with a fresh receipt.  It writes nothing
 * itself: the lease (lease_until, receipt, attempt + 1) is written when
 * the claiming transaction commits, and only for claims it did not settle
 * (xact.c), so a claim acked in its own transaction costs one DELETE per
 * message.  None of the lease columns is indexed, so that write is HOT.
 *
 * The claim takes part in the caller's transaction.  Committing it right
 * away is leased consumption: the message reappears when the lease runs
 * out unless it is acked (with the receipt) before.  Acking in the same
 * transaction is transactional consumption: a rollback or crash puts the
 * message back at once.  A message whose lease ran out after its last
 * allowed attempt is moved to the dead letters by the claim that finds it.
 *
 * The receipt identifies one delivery.  ack, nack and extend with a
 * receipt act only if the message still carries that receipt: after the
 * lease expired and someone else claimed the message they return false and
 * change nothing.  Without a receipt they act on the message as it is.
 *
 * src/claim.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/tuptable.h"
#include "utils/lsyscache.h"
#include "utils/typcache.h"
#include "port.h"
#include "miscadmin.h"
#include "portability/instr_time.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "catalog.h"
#include "pgbroker.h"
#include "queue.h"

PG_FUNCTION_INFO_V1(pgbroker_queue_claim);
PG_FUNCTION_INFO_V1(pgbroker_queue_claim_wait);
PG_FUNCTION_INFO_V1(pgbroker_queue_ack);
PG_FUNCTION_INFO_V1(pgbroker_queue_ack_many);
PG_FUNCTION_INFO_V1(pgbroker_queue_nack);
PG_FUNCTION_INFO_V1(pgbroker_queue_extend);

/* Columns of broker.message, as the claim statement returns them. */
#define CLAIM_NCOLS			11

static bool
interval_is_positive(Interval *iv)
{
	Interval	zero;

	memset(&zero, 0, sizeof(zero));
	return DatumGetBool(DirectFunctionCall2(interval_gt, IntervalPGetDatum(iv),
											IntervalPGetDatum(&zero)));
}

static bool
interval_exceeds(Interval *iv, const char *limit)
{
	Datum		lim = DirectFunctionCall3(interval_in, CStringGetDatum(limit),
										  ObjectIdGetDatum(InvalidOid),
										  Int32GetDatum(-1));

	return DatumGetBool(DirectFunctionCall2(interval_gt, IntervalPGetDatum(iv), lim));
}

/* A lease argument: positive and at most 7 days. */
static void
claim_check_lease(Interval *lease)
{
	if (!interval_is_positive(lease))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("lease must be greater than zero")));
	if (interval_exceeds(lease, "7 days"))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("lease must be at most 7 days")));
}

/* A random (version 4) UUID: the receipt of one delivery. */
static void
claim_new_receipt(pg_uuid_t *u)
{
	if (!pg_strong_random(u->data, UUID_LEN))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate random values")));
	u->data[6] = (u->data[6] & 0x0f) | 0x40;
	u->data[8] = (u->data[8] & 0x3f) | 0x80;
}

/*
 * Where a claim starts reading the ready index.
 *
 * Consumed messages leave dead entries at the head of the ready index.
 * VACUUM and index-entry killing remove them quickly, unless a
 * transaction anywhere in the database holds back the xmin horizon: then
 * they pile up, and a claim that starts at the head of the index visits
 * every one of them.  So each backend remembers where its last claim
 * stopped and, while a claim from the head is expensive, resumes there.
 * What lies before that position and is claimable after all (a message
 * committed late, a lease that ran out, a higher priority sent since, a
 * claim rolled back) is picked up by the next claim from the head, which
 * takes at most 1/CLAIM_FULL_SCAN_FACTOR of the time: it runs once the
 * time since the last one is CLAIM_FULL_SCAN_FACTOR times what that one
 * cost.  So the longer the horizon is held, the longer such a message can
 * wait (a 100 ms look from the head makes it up to 5 s).
 * While a claim from the head is cheap (pgbroker.resume_threshold) every
 * claim starts there, and order is exact.  A threshold of 0 makes claims
 * always resume, looking from the head only when nothing follows the
 * position: the tests use it to exercise this path.
 */
#define CLAIM_EXPENSIVE_MS_ROW	0.02
#define CLAIM_FULL_SCAN_FACTOR	50

/* Is the periodic look from the head due? */
static bool
claim_from_head_due(BrokerQueue *q, TimestampTz now)
{
	double		interval_ms;

	interval_ms = Max(q->full_scan_ms, pgbroker_resume_threshold_ms) * CLAIM_FULL_SCAN_FACTOR;
	return (now - q->last_full_scan) / 1000.0 >= interval_ms;
}

static bool
claim_from_head(BrokerQueue *q, TimestampTz now)
{
	/* two expensive claims from the head in a row: one could be noise */
	if (!q->hint_valid || q->expensive_scans < 2)
		return true;
	if (pgbroker_resume_threshold_ms <= 0)
		return false;			/* resume always; look from the head only when needed */
	return claim_from_head_due(q, now);
}

/*
 * One round of claiming: lock up to n messages and append them to the
 * result with a fresh receipt; their leases are written at commit unless
 * they are settled before (xact.c).  Messages found with their attempts
 * used up go to the dead letters instead, and the round repeats to fill
 * their places.  Returns how many messages were added.
 */
static int
claim_once(BrokerQueue *q, int n, Interval *lease, Jsonb *filter,
		   ReturnSetInfo *rsinfo)
{
	int			got = 0;
	int			rounds;
	bool		force_head = false;

	for (rounds = 0; rounds < 10 && got < n; rounds++)
	{
		TimestampTz now = GetCurrentTimestamp();
		TimestampTz lease_until;
		int64	   *exhausted;
		bool	   *expired;
		int			nexhausted = 0;
		uint64		i;
		SPITupleTable *tt;
		uint64		processed;
		bool		hinted = (filter == NULL && !force_head && !claim_from_head(q, now));
		Datum		values[6];
		char		nulls[6] = "      ";
		instr_time	start;
		instr_time	elapsed;
		SPIPlanPtr	plan;

		lease_until = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
															  TimestampTzGetDatum(now),
															  IntervalPGetDatum(lease)));

		values[0] = TimestampTzGetDatum(now);
		values[1] = BrokerClaimedIds(q->id);
		if (filter)
			values[2] = JsonbPGetDatum(filter);
		else
			nulls[2] = 'n';
		if (hinted)
		{
			values[3] = Int32GetDatum(q->hint_nprio);
			values[4] = TimestampTzGetDatum(q->hint_vis);
			values[5] = Int64GetDatum(q->hint_id);
		}
		plan = QueueClaimPlan(q, n - got, filter != NULL, hinted);
		INSTR_TIME_SET_CURRENT(start);
		BrokerExecPlan(plan, values, nulls, false, 0);
		INSTR_TIME_SET_CURRENT(elapsed);
		INSTR_TIME_SUBTRACT(elapsed, start);
		tt = SPI_tuptable;
		processed = SPI_processed;
		if (filter == NULL && !hinted)
		{
			/* what a claim from the head costs, beyond the rows it returns */
			q->full_scan_ms = Max(0.0, INSTR_TIME_GET_MILLISEC(elapsed) -
								  CLAIM_EXPENSIVE_MS_ROW * processed);
			q->last_full_scan = now;
			if (q->full_scan_ms >= pgbroker_resume_threshold_ms)
				q->expensive_scans++;
			else
				q->expensive_scans = 0;
		}
		if (processed == 0)
		{
			/*
			 * Nothing after our position: look from the head before
			 * answering "nothing", unless a look from the head is both
			 * expensive and not yet due (consumers that keep up with their
			 * producers find nothing after their position all the time).
			 * The position stays, since new messages come after it.
			 */
			if (hinted && (pgbroker_resume_threshold_ms <= 0 ||
						   claim_from_head_due(q, now)))
			{
				force_head = true;
				continue;
			}
			break;
		}

		exhausted = palloc(sizeof(int64) * processed);
		expired = palloc(sizeof(bool) * processed);
		for (i = 0; i < processed; i++)
		{
			/* the statement returns the columns of broker.message but
			 * receipt and lease_until, which are made here */
			Datum		row[11];
			bool		rnull[11];
			Datum		cols[CLAIM_NCOLS];
			bool		cnulls[CLAIM_NCOLS];
			pg_uuid_t  *receipt = palloc(sizeof(pg_uuid_t));
			int32		attempt;
			int64		id;

			heap_deform_tuple(tt->vals[i], tt->tupdesc, row, rnull);
			id = DatumGetInt64(row[0]);
			attempt = DatumGetInt32(row[4]);
			if (attempt > q->max_attempts)
			{
				expired[nexhausted] = DatumGetBool(row[9]);
				exhausted[nexhausted++] = id;
				continue;
			}
			claim_new_receipt(receipt);
			cols[0] = row[0];
			cnulls[0] = false;
			cols[1] = UUIDPGetDatum(receipt);
			cnulls[1] = false;
			memcpy(cols + 2, row + 1, sizeof(Datum) * 8);
			memcpy(cnulls + 2, rnull + 1, sizeof(bool) * 8);
			cols[10] = TimestampTzGetDatum(lease_until);
			cnulls[10] = false;
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, cols, cnulls);
			BrokerTrackClaim(q, id, attempt, receipt, lease_until);
			got++;
			if (filter == NULL)
			{
				/* rows come in index order: remember the last one */
				q->hint_valid = true;
				q->hint_nprio = -DatumGetInt32(row[5]);
				q->hint_vis = DatumGetTimestampTz(row[10]);
				q->hint_id = id;
			}
		}
		SPI_freetuptable(tt);

		for (i = 0; i < nexhausted; i++)
		{
			Datum		dv[7];
			char		dn[7] = " n n   ";

			dv[0] = Int64GetDatum(exhausted[i]);
			dv[2] = CStringGetTextDatum("max_attempts");
			if (expired[i])
			{
				dv[3] = CStringGetTextDatum("lease expired");
				dn[3] = ' ';
			}
			dv[4] = TimestampTzGetDatum(now);
			dv[5] = Int32GetDatum(0);
			dv[6] = Int32GetDatum(0);
			BrokerExecPlan(QueuePlan(q, QPLAN_DEAD_LETTER), dv, dn, false, 0);
			(void) QueueRemovedFromResult(q, false);
		}
		pfree(exhausted);
		pfree(expired);
		if (nexhausted == 0)
			break;
	}
	return got;
}

/*
 * When a claim that found nothing should look again at the latest: the
 * earliest delay or lease of the queue that ends in the future (0: none).
 * Messages that become due need no commit to wake anyone.
 */
static TimestampTz
claim_next_due(BrokerQueue *q, long *backstop_ms)
{
	Datum		now = TimestampTzGetDatum(GetCurrentTimestamp());
	bool		isnull;
	bool		exact_isnull;
	Datum		d;
	bool		exact;

	*backstop_ms = PGBROKER_BACKSTOP_MS;
	BrokerExecPlan(QueuePlan(q, QPLAN_NEXT_DUE), &now, NULL, true, 1);
	if (SPI_processed == 0)
		return 0;
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	exact = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2,
									   &exact_isnull));
	SPI_freetuptable(SPI_tuptable);
	/* every delay and lease was seen: only a lost wakeup needs the backstop */
	if (exact)
		*backstop_ms = PGBROKER_IDLE_BACKSTOP_MS;
	return isnull ? 0 : DatumGetTimestampTz(d);
}

/*
 * Whether a look would find the queue empty: no entry of its ready index
 * (messages outside a group, and group heads; leased and delayed ones
 * included) is visible to a new snapshot.  Then a claim finds nothing
 * and nothing comes due, so a waiter sleeps until a wakeup or its idle
 * backstop without running the claim and next-due statements: on an idle
 * queue a look is this one index probe.  Any visible entry, or a ready
 * index not found under its name, sends the look down the full path.
 */
static bool
claim_queue_is_empty(BrokerQueue *q)
{
	char		table[NAMEDATALEN];
	char		index[NAMEDATALEN];
	BrokerIndexScan sc;
	bool		found;

	snprintf(table, sizeof(table), "queue_%d", q->id);
	snprintf(index, sizeof(index), "queue_%d_ready", q->id);
	if (!BrokerScanOpen(&sc, table, index, true))
		return false;
	BrokerScanStart(&sc, NULL, NULL, 0);
	found = BrokerScanNext(&sc, ForwardScanDirection);
	BrokerScanEnd(&sc);
	return !found;
}

/* The arguments of a claim. */
typedef struct ClaimArgs
{
	char	   *name;
	int32		max_messages;
	Interval	lease;
	bool		have_lease;
	int64		wait_ms;
	Jsonb	   *filter;
} ClaimArgs;

static void
claim_args(FunctionCallInfo fcinfo, ClaimArgs *a, const char *max_wait)
{
	Interval	wait;

	memset(a, 0, sizeof(*a));
	a->name = BrokerTextArg(fcinfo, 0, "queue name");
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("max_messages must not be null")));
	a->max_messages = PG_GETARG_INT32(1);
	if (a->max_messages < 1 || a->max_messages > PGBROKER_MAX_BATCH)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_messages must be between 1 and %d", PGBROKER_MAX_BATCH)));
	if (!PG_ARGISNULL(2))
	{
		a->lease = *PG_GETARG_INTERVAL_P(2);
		claim_check_lease(&a->lease);
		a->have_lease = true;
	}
	if (BrokerIntervalArg(fcinfo, 3, "wait", &wait))
	{
		if (interval_exceeds(&wait, max_wait))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("wait must be at most %s", max_wait),
					 strcmp(max_wait, "1 hour") == 0 ?
					 errhint("Loop on shorter waits, or CALL broker.claim_wait, which holds no snapshot while it waits.") :
					 errhint("Loop on shorter waits.")));
		a->wait_ms = (int64) (wait.time / 1000) +
			(int64) wait.day * SECS_PER_DAY * 1000 +
			(int64) wait.month * DAYS_PER_MONTH * SECS_PER_DAY * 1000;
	}
	a->filter = QueueHeadersArg(fcinfo, 4, "filter");
	/* An empty filter matches every message: treat it as none. */
	if (a->filter != NULL && JB_ROOT_COUNT(a->filter) == 0)
		a->filter = NULL;
}

/*
 * broker.claim(queue text, max_messages int, lease interval,
 *				wait interval, filter jsonb) RETURNS SETOF broker.message
 *
 * With a wait, a claim that finds nothing registers as a waiter on the
 * queue (a share lock on the queue's waiter tag, visible in pg_locks) and
 * sleeps on its latch; committing producers set the latches of the
 * registered waiters (wait.c).  It looks again when the next delay or
 * lease of the queue ends, and at least every PGBROKER_BACKSTOP_MS (or
 * PGBROKER_IDLE_BACKSTOP_MS when it knows every delay and lease).
 * Interrupts (cancel, statement_timeout, termination) are served while it
 * sleeps.  The statement keeps its snapshot for the whole wait, so the
 * wait is capped at an hour; broker.claim_wait waits without one.
 */
Datum
pgbroker_queue_claim(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ClaimArgs	a;
	BrokerQueue *q;
	int			got;

	claim_args(fcinfo, &a, "1 hour");
	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC | MAT_SRF_BLESS);

	SPI_connect();
	BrokerEnterCall();
	q = QueueLookup(a.name);
	if (!a.have_lease)
		a.lease = q->lease;

	got = claim_once(q, a.max_messages, &a.lease, a.filter, rsinfo);
	if (got == 0 && a.wait_ms > 0)
	{
		LOCKTAG		tag;
		TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
														   a.wait_ms);
		bool		woken = false;
		int			futile = 0;
		long		backstop;
		TimestampTz due;

		BrokerWaiterTag(&tag, q->id, a.filter != NULL);
		(void) LockAcquire(&tag, ShareLock, false, false);
		for (;;)
		{
			long		ms;

			/*
			 * Reset before looking: a producer that commits after the look
			 * sets the latch again, so its wakeup cannot be lost.
			 */
			ResetLatch(MyLatch);
			if (claim_queue_is_empty(q))
			{
				got = 0;
				due = 0;
				backstop = PGBROKER_IDLE_BACKSTOP_MS;
			}
			else
			{
				got = claim_once(q, a.max_messages, &a.lease, a.filter, rsinfo);
				due = got > 0 ? 0 : claim_next_due(q, &backstop);
			}
			if (got > 0 || GetCurrentTimestamp() >= deadline)
				break;
			if (woken)
				futile++;
			ms = BrokerWaitMs(deadline, due, backstop);
			woken = BrokerWaitSleep(ms, a.filter != NULL, &futile, &tag);
		}
		LockRelease(&tag, ShareLock, false);
	}
	SPI_finish();
	return (Datum) 0;
}

/*
 * CALL broker.claim_wait(queue text, max_messages int, lease interval,
 *						  wait interval, filter jsonb,
 *						  INOUT messages broker.message[])
 *
 * A leased claim that waits without holding a snapshot, so that a
 * consumer may wait for long without holding back VACUUM.  Each look is
 * a transaction of its own, committed before the procedure sleeps; the
 * registration as a waiter is a session lock that lasts the whole wait.
 * The claimed messages are committed (leased) before they are returned,
 * as with any leased claim: a consumer that dies before it gets them sees
 * them again when the lease ends.
 */
Datum
pgbroker_queue_claim_wait(PG_FUNCTION_ARGS)
{
	BrokerProcResult pr;
	ClaimArgs	a;
	TimestampTz deadline;
	bool		registered = false;
	bool		woken = false;
	int			futile = 0;
	LOCKTAG		wait_tag;
	BrokerLookState look;
	int			got;

	BrokerCheckNonAtomic(fcinfo, "broker.claim_wait", "broker.claim with wait");
	claim_args(fcinfo, &a, "1 day");
	deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), a.wait_ms);

	BrokerProcResultBegin(fcinfo, &pr);

	for (;;)
	{
		BrokerQueue *q;
		TimestampTz due;
		long		backstop;
		bool		idle;

		/* a connection per look frees the last one's memory */
		SPI_connect_ext(SPI_OPT_NONATOMIC);
		BrokerLookBegin(fcinfo, &look);
		BrokerEnterCall();
		q = QueueLookup(a.name);
		if (!a.have_lease)
			a.lease = q->lease;
		idle = false;
		if (registered)
		{
			ResetLatch(MyLatch);
			idle = claim_queue_is_empty(q);
		}
		got = idle ? 0 : claim_once(q, a.max_messages, &a.lease, a.filter, &pr.rs);
		if (got > 0 || GetCurrentTimestamp() >= deadline)
			break;				/* still connected */
		if (!registered)
		{
			/* register, then look once more before the first sleep */
			BrokerWaiterTag(&wait_tag, q->id, a.filter != NULL);
			BrokerWaitSessionBegin(&wait_tag);
			registered = true;
			BrokerLookEnd(&look);
			SPI_finish();
			continue;
		}
		if (idle)
		{
			due = 0;
			backstop = PGBROKER_IDLE_BACKSTOP_MS;
		}
		else
			due = claim_next_due(q, &backstop);
		/* end the look's transaction: no snapshot while sleeping */
		BrokerLookEnd(&look);
		SPI_commit();
		SPI_finish();
		if (woken)
			futile++;
		woken = BrokerWaitSleep(BrokerWaitMs(deadline, due, backstop),
								a.filter != NULL, &futile, &wait_tag);
	}
	BrokerLookEnd(&look);
	BrokerProcResultFinish(&pr);
	/* the leases are written at this commit */
	SPI_commit();
	SPI_finish();
	BrokerWaitSessionEnd();

	return BrokerProcResultEnd(&pr);
}

static int64
claim_id_arg(FunctionCallInfo fcinfo, int argno)
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
	int64		id = claim_id_arg(fcinfo, 1);
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
	c = BrokerFindClaim(q->id, id);
	if (c != NULL)
	{
		if (!PG_ARGISNULL(2) && !BrokerClaimReceiptMatches(c, values[1]))
		{
			SPI_finish();
			PG_RETURN_BOOL(false);
		}
		nulls[1] = 'n';
	}
	BrokerExecPlan(QueuePlan(q, QPLAN_ACK), values, nulls, false, 0);
	n = QueueRemovedFromResult(q, true);
	if (c != NULL && n > 0)
		BrokerSettleClaim(c);
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
	uint64		n;

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
	BrokerExecPlan(QueuePlan(q, QPLAN_ACK_MANY), &arg, NULL, false, 0);
	{
		uint64		i;

		for (i = 0; i < SPI_processed; i++)
		{
			bool		isnull;
			TrackedClaim *c;

			c = BrokerFindClaim(q->id,
								DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i],
															SPI_tuptable->tupdesc, 1,
															&isnull)));
			if (c != NULL)
				BrokerSettleClaim(c);
		}
	}
	n = QueueRemovedFromResult(q, true);
	SPI_finish();
	PG_RETURN_INT64((int64) n);
}

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
	int64		id = claim_id_arg(fcinfo, 1);
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
	c = BrokerFindClaim(q->id, id);
	if (c != NULL)
	{
		if (nulls[1] == ' ' && !BrokerClaimReceiptMatches(c, values[1]))
		{
			SPI_finish();
			PG_RETURN_BOOL(false);
		}
		nulls[1] = 'n';
		values[8] = Int32GetDatum(BrokerClaimAttempt(c));
		nulls[8] = ' ';
		least_attempt = q->max_attempts - 1;
	}
	BrokerExecPlan(QueuePlan(q, QPLAN_NACK), values, nulls, false, 0);
	done = (SPI_processed > 0);
	if (done)
	{
		bool		isnull;
		TimestampTz vis = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[0],
															 SPI_tuptable->tupdesc, 2, &isnull));

		/* a retry due after the waiters' longest sleep is theirs to find */
		if (vis <= TimestampTzPlusMilliseconds(GetCurrentTimestamp(), PGBROKER_IDLE_BACKSTOP_MS))
			BrokerWakeAtCommit(q->id, 1);
	}
	else
	{
		Datum		dv[7];
		char		dn[7] = "       ";

		/* Out of attempts (or a stale receipt: then nothing matches). */
		dv[0] = values[0];
		dv[1] = values[1];
		dn[1] = nulls[1];
		dv[2] = CStringGetTextDatum("max_attempts");
		dv[3] = values[3];
		dn[3] = nulls[3];
		dv[4] = values[4];
		dv[5] = Int32GetDatum(c != NULL ? 1 : 0);
		dv[6] = Int32GetDatum(least_attempt);
		BrokerExecPlan(QueuePlan(q, QPLAN_DEAD_LETTER), dv, dn, false, 0);
		done = (QueueRemovedFromResult(q, false) > 0);
	}
	if (done && c != NULL)
		BrokerSettleClaim(c);
	SPI_finish();
	PG_RETURN_BOOL(done);
}

/* broker.extend(queue text, id bigint, receipt uuid, lease interval) RETURNS boolean */
Datum
pgbroker_queue_extend(PG_FUNCTION_ARGS)
{
	char	   *name = BrokerTextArg(fcinfo, 0, "queue name");
	int64		id = claim_id_arg(fcinfo, 1);
	Datum		values[4];
	Interval   *lease;
	BrokerQueue *q;
	bool		done;
	TrackedClaim *c;

	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("receipt must not be null")));
	if (PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("lease must not be null")));
	lease = PG_GETARG_INTERVAL_P(3);
	claim_check_lease(lease);

	values[0] = Int64GetDatum(id);
	values[1] = PG_GETARG_DATUM(2);
	values[2] = IntervalPGetDatum(lease);
	values[3] = TimestampTzGetDatum(GetCurrentTimestamp());

	SPI_connect();
	BrokerEnterCall();
	q = QueueLookup(name);
	c = BrokerFindClaim(q->id, id);
	if (c != NULL)
	{
		/* Claimed in this transaction: the lease is written at commit. */
		done = BrokerClaimReceiptMatches(c, values[1]);
		if (done)
			BrokerClaimSetLease(c, DatumGetTimestampTz(
										DirectFunctionCall2(timestamptz_pl_interval,
															values[3], values[2])));
	}
	else
	{
		BrokerExecPlan(QueuePlan(q, QPLAN_EXTEND), values, NULL, false, 0);
		done = (SPI_processed > 0);
	}
	SPI_finish();
	PG_RETURN_BOOL(done);
}
