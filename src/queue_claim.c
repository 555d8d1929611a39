/*-------------------------------------------------------------------------
 *
 * queue_claim.c
 *	  Consuming from a queue: claim (with or without a wait), claim_wait,
 *	  extend, which lengthens a claim's lease, and set_visible, which sets
 *	  when a message is visible whoever holds it.
 *
 * A claim leases up to max_messages ready messages: it picks them in
 * order (priority descending, then the time they became available, then
 * id) with FOR UPDATE SKIP LOCKED, so it never waits for another
 * consumer, and hands them out with a fresh receipt.  It writes nothing
 * itself: the lease (lease_until, receipt, attempt + 1) is written when
 * the claiming transaction commits, and only for claims it did not settle
 * (queue_xact.c), so a claim acked in its own transaction costs one DELETE
 * per message.  None of the lease columns is indexed, so that write is
 * HOT.
 *
 * The claim takes part in the caller's transaction.  Committing it right
 * away is leased consumption: the message reappears when the lease runs
 * out unless it is acked (with the receipt) before.  Acking in the same
 * transaction is transactional consumption: a rollback or crash puts the
 * message back at once.  A message whose lease ran out after its last
 * allowed attempt is moved to the dead letters by the claim that finds it
 * (queue_remove.c).
 *
 * Locks: row locks on the claimed messages (FOR UPDATE SKIP LOCKED), and
 * while a claim waits, a share lock on the queue's waiter tag (wait.c).
 * After a crash the claims of unfinished transactions are simply gone:
 * their messages were never leased.
 *
 * src/queue_claim.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/tuptable.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "port.h"
#include "portability/instr_time.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "acl.h"
#include "locktag.h"
#include "queue_metrics.h"
#include "queue_remove.h"
#include "queue_xact.h"
#include "scan.h"
#include "wait.h"
#include "xact.h"

PG_FUNCTION_INFO_V1(pgbroker_queue_claim);
PG_FUNCTION_INFO_V1(pgbroker_queue_claim_wait);
PG_FUNCTION_INFO_V1(pgbroker_queue_extend);
PG_FUNCTION_INFO_V1(pgbroker_queue_set_visible);
PG_FUNCTION_INFO_V1(pgbroker_queue_next_due);

/*
 * A lease argument: at most 7 days, and positive, or zero where allowed.
 * A claim's lease may be zero: the delivery is counted (attempt + 1) and
 * the message is ready again at once, which is what PGMQ's read with
 * vt => 0 does.  An extend's may not.
 */
static void
claim_check_lease(Interval *lease, bool zero_allowed)
{
	Interval	zero;

	memset(&zero, 0, sizeof(zero));
	if (zero_allowed && DatumGetBool(DirectFunctionCall2(interval_lt, IntervalPGetDatum(lease),
														 IntervalPGetDatum(&zero))))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("lease must not be negative")));
	if (!zero_allowed && !DatumGetBool(DirectFunctionCall2(interval_gt, IntervalPGetDatum(lease),
														   IntervalPGetDatum(&zero))))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("lease must be greater than zero")));
	if (BrokerIntervalExceeds(lease, "7 days"))
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
 * The claim statement for n messages, with or without a header filter.
 *
 * It only locks the messages (FOR UPDATE SKIP LOCKED, like any SKIP LOCKED
 * queue); the lease is written when the claiming transaction commits
 * (queue_xact.c), so a claim acked in its own transaction writes each message
 * once, by its DELETE.  $1 is the time, $2 the ids this transaction has
 * already claimed (its own row locks do not make SKIP LOCKED skip them),
 * $3 the header filter, $7 the payload filter.
 *
 * The LIMIT is a literal: with a parameter, a generic plan assumes 10% of
 * the table is fetched and may prefer sorting the whole backlog to
 * walking the ready index.  A queue keeps CLAIM_PLAN_SLOTS such plans;
 * consumers normally use one or two batch sizes.  With a filter the
 * ordering is written so that no index can provide it: the planner then
 * reads candidates from the GIN index on headers instead of walking the
 * ready index and testing every message.  A payload filter (PGMQ's
 * conditional read) has no index: it walks the ready index in order and
 * tests each message, so it costs only the consumers that use it.
 */
enum
{
	CLAIM_ID,
	CLAIM_PAYLOAD,
	CLAIM_PAYLOAD_BYTES,
	CLAIM_HEADERS,
	CLAIM_ATTEMPT,
	CLAIM_PRIORITY,
	CLAIM_GROUP_KEY,
	CLAIM_DEDUP_KEY,
	CLAIM_ENQUEUED_AT,
	CLAIM_LEASED,
	CLAIM_VIS,
	CLAIM_NCOLS
};

/* The columns of broker.message, the claim's result type. */
enum
{
	MSG_ID,
	MSG_RECEIPT,
	MSG_PAYLOAD,
	MSG_PAYLOAD_BYTES,
	MSG_HEADERS,
	MSG_ATTEMPT,
	MSG_PRIORITY,
	MSG_GROUP_KEY,
	MSG_DEDUP_KEY,
	MSG_ENQUEUED_AT,
	MSG_LEASE_UNTIL,
	MSG_NCOLS
};

static SPIPlanPtr
claim_plan(BrokerQueue *q, int32 n, int filters, bool hinted)
{
	int			i;
	int			nargs;
	StringInfoData s;
	Oid			argtypes[7] = {TIMESTAMPTZOID, INT8ARRAYOID, JSONBOID,
	INT4OID, TIMESTAMPTZOID, INT8OID, JSONBOID};

	Assert(!(filters && hinted));
	for (i = 0; i < CLAIM_PLAN_SLOTS; i++)
	{
		if (q->claim_plans[i] && q->claim_n[i] == n &&
			q->claim_filters[i] == filters && q->claim_hinted[i] == hinted)
			return q->claim_plans[i];
	}
	i = q->claim_next;
	q->claim_next = (q->claim_next + 1) % CLAIM_PLAN_SLOTS;
	if (q->claim_plans[i])
		SPI_freeplan(q->claim_plans[i]);
	q->claim_plans[i] = NULL;

	initStringInfo(&s);
	appendStringInfo(&s,
					 "SELECT id, payload, payload_bytes, COALESCE(headers, '{}'::pg_catalog.jsonb),"
					 " attempt OPERATOR(pg_catalog.+) 1, priority, group_key, dedup_key,"
					 " enqueued_at, lease_until IS NOT NULL, vis"
					 " FROM broker.queue_%d"
					 " WHERE (group_key IS NULL OR group_head)"
					 " AND vis OPERATOR(pg_catalog.<=) $1"
					 " AND (lease_until IS NULL OR lease_until OPERATOR(pg_catalog.<=) $1)"
					 " AND (expires_at IS NULL OR expires_at OPERATOR(pg_catalog.>) $1)"
					 " AND id OPERATOR(pg_catalog.<>) ALL ($2)", q->id);
	if (filters & CLAIM_FILTER_PAYLOAD)
		appendStringInfoString(&s,
							   " AND payload OPERATOR(pg_catalog.@>) $7"
							   " AND payload IS NOT NULL");
	if (filters & CLAIM_FILTER_HEADERS)
		appendStringInfoString(&s,
							   " AND headers OPERATOR(pg_catalog.@>) $3"
							   " AND headers IS NOT NULL"
							   " ORDER BY priority OPERATOR(pg_catalog.-) 0 DESC, vis, id");
	else if (hinted)
		appendStringInfoString(&s,
							   " AND $3 IS NULL"
							   " AND ROW(OPERATOR(pg_catalog.-) priority, vis, id)"
							   " OPERATOR(pg_catalog.>) ROW($4, $5, $6)"
							   " ORDER BY (OPERATOR(pg_catalog.-) priority), vis, id");
	else
		appendStringInfoString(&s, " ORDER BY (OPERATOR(pg_catalog.-) priority), vis, id");
	appendStringInfo(&s, " LIMIT %d FOR UPDATE SKIP LOCKED", n);

	if (filters & CLAIM_FILTER_PAYLOAD)
		nargs = 7;
	else if (hinted)
		nargs = 6;
	else
		nargs = (filters & CLAIM_FILTER_HEADERS) ? 3 : 2;
	q->claim_plans[i] = BrokerPrepare(s.data, nargs, argtypes);
	q->claim_n[i] = n;
	q->claim_filters[i] = filters;
	q->claim_hinted[i] = hinted;
	pfree(s.data);
	return q->claim_plans[i];
}

/*
 * One round of claiming: lock up to n messages and append them to the
 * result with a fresh receipt; their leases are written at commit unless
 * they are settled before (queue_xact.c).  Messages found with their attempts
 * used up go to the dead letters instead, and the round repeats to fill
 * their places.  Returns how many messages were added.
 */
static int
claim_once(BrokerQueue *q, int n, Interval *lease, Jsonb *filter,
		   Jsonb *payload_filter, ReturnSetInfo *rsinfo)
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
		int			filters = (filter ? CLAIM_FILTER_HEADERS : 0) |
			(payload_filter ? CLAIM_FILTER_PAYLOAD : 0);
		bool		hinted = (filters == 0 && !force_head && !claim_from_head(q, now));
		Datum		values[7];
		char		nulls[7] = "       ";
		instr_time	start;
		instr_time	elapsed;
		SPIPlanPtr	plan;

		lease_until = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
															  TimestampTzGetDatum(now),
															  IntervalPGetDatum(lease)));

		values[0] = TimestampTzGetDatum(now);
		values[1] = QueueClaimedIds(q->id);
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
		if (payload_filter)
			values[6] = JsonbPGetDatum(payload_filter);
		plan = claim_plan(q, n - got, filters, hinted);
		INSTR_TIME_SET_CURRENT(start);
		BrokerExecPlan(plan, values, nulls, false, 0);
		INSTR_TIME_SET_CURRENT(elapsed);
		INSTR_TIME_SUBTRACT(elapsed, start);
		tt = SPI_tuptable;
		processed = SPI_processed;
		if (filters == 0 && !hinted)
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
			Datum		row[CLAIM_NCOLS];
			bool		rnull[CLAIM_NCOLS];
			Datum		cols[MSG_NCOLS];
			bool		cnulls[MSG_NCOLS];
			pg_uuid_t  *receipt = palloc(sizeof(pg_uuid_t));
			int32		attempt;
			int64		id;

			heap_deform_tuple(tt->vals[i], tt->tupdesc, row, rnull);
			id = DatumGetInt64(row[CLAIM_ID]);
			attempt = DatumGetInt32(row[CLAIM_ATTEMPT]);
			if (attempt > q->max_attempts)
			{
				expired[nexhausted] = DatumGetBool(row[CLAIM_LEASED]);
				exhausted[nexhausted++] = id;
				continue;
			}
			claim_new_receipt(receipt);
#define MSG_COL(m, value, isnull) (cols[m] = (value), cnulls[m] = (isnull))
#define MSG_FROM(m, c) MSG_COL(m, row[c], rnull[c])
			MSG_FROM(MSG_ID, CLAIM_ID);
			MSG_COL(MSG_RECEIPT, UUIDPGetDatum(receipt), false);
			MSG_FROM(MSG_PAYLOAD, CLAIM_PAYLOAD);
			MSG_FROM(MSG_PAYLOAD_BYTES, CLAIM_PAYLOAD_BYTES);
			MSG_FROM(MSG_HEADERS, CLAIM_HEADERS);
			MSG_FROM(MSG_ATTEMPT, CLAIM_ATTEMPT);
			MSG_FROM(MSG_PRIORITY, CLAIM_PRIORITY);
			MSG_FROM(MSG_GROUP_KEY, CLAIM_GROUP_KEY);
			MSG_FROM(MSG_DEDUP_KEY, CLAIM_DEDUP_KEY);
			MSG_FROM(MSG_ENQUEUED_AT, CLAIM_ENQUEUED_AT);
			MSG_COL(MSG_LEASE_UNTIL, TimestampTzGetDatum(lease_until), false);
#undef MSG_FROM
#undef MSG_COL
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, cols, cnulls);
			QueueTrackClaim(q, id, attempt, receipt, lease_until);
			got++;
			if (filters == 0)
			{
				/* rows come in index order: remember the last one */
				q->hint_valid = true;
				q->hint_nprio = -DatumGetInt32(row[CLAIM_PRIORITY]);
				q->hint_vis = DatumGetTimestampTz(row[CLAIM_VIS]);
				q->hint_id = id;
			}
		}
		SPI_freetuptable(tt);

		for (i = 0; i < nexhausted; i++)
		{
			DeadLetter	dl = {0};

			dl.reason = "max_attempts";
			if (expired[i])
				dl.error = CStringGetTextDatum("lease expired");
			dl.now = now;
			(void) QueueDeadLetter(q, exhausted[i], &dl);
		}
		pfree(exhausted);
		pfree(expired);
		if (nexhausted == 0)
			break;
	}
	QueueCount(q->id, QCOUNT_CLAIMED, got);
	return got;
}

/*
 * When a claim that found nothing should look again at the latest: the
 * earliest delay or lease of the queue that ends in the future (0: none).
 * Messages that become due need no commit to wake anyone.
 */
/*
 * $1 now.  The earliest delay or lease end among the first rows of the
 * ready index, where leased messages come first and delayed ones follow in
 * the order they are due, and whether that was all of them (then the
 * answer is exact).
 */
static const char next_due_sql[] =
"SELECT pg_catalog.min(GREATEST(s.vis, s.lease_until))"
"   FILTER (WHERE GREATEST(s.vis, s.lease_until) OPERATOR(pg_catalog.>) $1),"
" pg_catalog.count(*) OPERATOR(pg_catalog.<) 100 FROM"
" (SELECT vis, lease_until FROM broker.queue_%1$d"
"   WHERE group_key IS NULL OR group_head"
"   ORDER BY (OPERATOR(pg_catalog.-) priority), vis, id LIMIT 100) s";
enum
{
	NEXT_DUE_AT = 1,
	NEXT_DUE_EXACT
};

static TimestampTz
claim_next_due(BrokerQueue *q, long *backstop_ms)
{
	Datum		now = TimestampTzGetDatum(GetCurrentTimestamp());
	bool		isnull;
	bool		exact_isnull;
	Datum		d;
	bool		exact;

	*backstop_ms = PGBROKER_BACKSTOP_MS;
	BrokerExecPlan(QueuePlan(q, QPLAN_NEXT_DUE, next_due_sql, 1, (Oid[]) {TIMESTAMPTZOID}),
				   &now, NULL, true, 1);
	if (SPI_processed == 0)
		return 0;
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, NEXT_DUE_AT, &isnull);
	exact = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
									   NEXT_DUE_EXACT, &exact_isnull));
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

static int	claim_look(BrokerWaiter *w, bool registered);
static int	claim_register(BrokerWaiter *w, LOCKTAG *tags);

/* The arguments of a claim. */
typedef struct ClaimArgs
{
	BrokerWaiter waiter;		/* first: the wait loop's view of the claim */
	char	   *name;
	int32		max_messages;
	Interval	lease;
	bool		have_lease;
	int64		wait_ms;
	Jsonb	   *filter;
	Jsonb	   *payload_filter;
	int32		queue_id;		/* found by the first look */
} ClaimArgs;

static void
claim_args(FunctionCallInfo fcinfo, ClaimArgs *a, bool in_procedure)
{
	memset(a, 0, sizeof(*a));
	a->waiter.look = claim_look;
	a->waiter.register_tags = claim_register;
	a->waiter.row_type = "message";
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
		claim_check_lease(&a->lease, true);
		a->have_lease = true;
	}
	a->wait_ms = BrokerWaitArg(fcinfo, 3, in_procedure, "broker.claim_wait");
	a->filter = BrokerHeadersArg(fcinfo, 4, "filter");
	/* An empty filter matches every message: treat it as none. */
	if (a->filter != NULL && JB_ROOT_COUNT(a->filter) == 0)
		a->filter = NULL;
	/* broker.claim's payload_filter; the procedure has none */
	if (!in_procedure)
	{
		if (!PG_ARGISNULL(5))
			a->payload_filter = PG_GETARG_JSONB_P(5);
		/* {} and [] are contained in every object and array: as PGMQ's
		 * default '{}', they select every message */
		if (a->payload_filter != NULL && !JB_ROOT_IS_SCALAR(a->payload_filter) &&
			JB_ROOT_COUNT(a->payload_filter) == 0)
			a->payload_filter = NULL;
	}
	a->waiter.filtered = (a->filter != NULL || a->payload_filter != NULL);
	a->waiter.wait_ms = a->wait_ms;
}

/*
 * One look of a claim (wait.c): claim what is ready.  A look after the
 * waiter registered first checks whether the queue is empty at all (then
 * it is one index probe), and when it found nothing, when to look again.
 */
static int
claim_look(BrokerWaiter *w, bool registered)
{
	ClaimArgs  *a = (ClaimArgs *) w;
	BrokerQueue *q = QueueLookup(a->name);
	int			got;

	BrokerCheckPrivilege('q', QueueName(q), q->acl_holder, BROKER_PRIV_CONSUME);
	if (!a->have_lease)
		a->lease = q->lease;
	a->queue_id = q->id;
	w->due = 0;
	w->backstop_ms = PGBROKER_IDLE_BACKSTOP_MS;
	if (registered && claim_queue_is_empty(q))
		return 0;
	got = claim_once(q, a->max_messages, &a->lease, a->filter, a->payload_filter,
					 w->rsinfo);
	if (got == 0 && registered)
		w->due = claim_next_due(q, &w->backstop_ms);
	return got;
}

/* A claim waits on its queue's waiter tag, with or without a filter. */
static int
claim_register(BrokerWaiter *w, LOCKTAG *tags)
{
	ClaimArgs  *a = (ClaimArgs *) w;

	LockTagQueueWaiters(&tags[0], a->queue_id, a->waiter.filtered);
	return 1;
}

/*
 * broker.claim(queue text, max_messages int, lease interval,
 *				wait interval, filter jsonb, payload_filter jsonb)
 *				RETURNS SETOF broker.message
 *
 * With a wait, a claim that finds nothing registers as a waiter on the
 * queue and sleeps until a producer's commit wakes it (wait.c).  It looks
 * again when the next delay or lease of the queue ends, and at least
 * every PGBROKER_BACKSTOP_MS (or PGBROKER_IDLE_BACKSTOP_MS when it knows
 * every delay and lease).  The statement keeps its snapshot for the whole
 * wait, so the wait is capped at an hour; broker.claim_wait waits without
 * one.
 */
static Datum
queue_claim_body(PG_FUNCTION_ARGS)
{
	ClaimArgs	a;

	claim_args(fcinfo, &a, false);
	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC | MAT_SRF_BLESS);
	a.waiter.rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	SPI_connect();
	BrokerEnterCall();
	(void) BrokerWaitInStatement(&a.waiter);
	SPI_finish();
	return (Datum) 0;
}

/*
 * CALL broker.claim_wait(queue text, max_messages int, lease interval,
 *						  wait interval, filter jsonb,
 *						  INOUT messages broker.message[])
 *
 * A leased claim that waits without holding a snapshot (wait.c), so that a
 * consumer may wait for long without holding back VACUUM.
 */
Datum
pgbroker_queue_claim_wait(PG_FUNCTION_ARGS)
{
	ClaimArgs	a;

	BrokerRequireWrite("broker.claim_wait()");
	BrokerCheckNonAtomic(fcinfo, "broker.claim_wait", "broker.claim with wait");
	claim_args(fcinfo, &a, true);
	return BrokerWaitProcedure(fcinfo, &a.waiter);
}

/* broker.extend(queue text, id bigint, receipt uuid, lease interval) RETURNS boolean */
static Datum
queue_extend_body(PG_FUNCTION_ARGS)
{
	char	   *name = BrokerTextArg(fcinfo, 0, "queue name");
	int64		id;
	Datum		values[4];
	Interval   *lease;
	BrokerQueue *q;
	bool		done;
	TrackedClaim *c;

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("message id must not be null")));
	id = PG_GETARG_INT64(1);
	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("receipt must not be null")));
	if (PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("lease must not be null")));
	lease = PG_GETARG_INTERVAL_P(3);
	claim_check_lease(lease, false);

	values[0] = Int64GetDatum(id);
	values[1] = PG_GETARG_DATUM(2);
	values[2] = IntervalPGetDatum(lease);
	values[3] = TimestampTzGetDatum(GetCurrentTimestamp());

	SPI_connect();
	BrokerEnterCall();
	q = QueueLookup(name);
	BrokerCheckPrivilege('q', QueueName(q), q->acl_holder, BROKER_PRIV_CONSUME);
	c = QueueFindClaim(q->id, id);
	if (c != NULL)
	{
		/* Claimed in this transaction: the lease is written at commit. */
		done = QueueClaimReceiptMatches(c, values[1]);
		if (done)
			QueueClaimSetLease(c, DatumGetTimestampTz(
										DirectFunctionCall2(timestamptz_pl_interval,
															values[3], values[2])));
	}
	else
	{
		/* $1 id $2 receipt $3 lease $4 now */
		BrokerExecPlan(QueuePlan(q, QPLAN_EXTEND,
								 "UPDATE broker.queue_%1$d SET lease_until = $4 OPERATOR(pg_catalog.+) $3"
								 " WHERE id OPERATOR(pg_catalog.=) $1"
								 " AND receipt OPERATOR(pg_catalog.=) $2"
								 " AND lease_until IS NOT NULL"
								 " RETURNING lease_until",
								 4, (Oid[]) {INT8OID, UUIDOID, INTERVALOID, TIMESTAMPTZOID}),
					   values, NULL, false, 0);
		done = (SPI_processed > 0);
	}
	SPI_finish();
	PG_RETURN_BOOL(done);
}

/*
 * broker.set_visible(queue text, id bigint, visible_at timestamptz)
 *		RETURNS timestamptz
 *
 * Make a message visible at a given time, whoever holds it, without a
 * receipt: PGMQ's set_vt.  A leased message's lease ends then (its
 * receipt stays valid until that time); a message nobody holds becomes
 * ready then, as if delayed.  A time in the past makes it ready at once.
 * Neither counts a delivery.  Needs manage, as every change to a message
 * without its receipt.  Returns visible_at, or NULL when the queue has no
 * such message.
 *
 * A message moved before a consumer's resume position (queue_claim.c) is
 * found by the next claim from the head, as a lease that ran out.
 */
static Datum
queue_set_visible_body(PG_FUNCTION_ARGS)
{
	char	   *name = BrokerTextArg(fcinfo, 0, "queue name");
	Datum		values[3];
	BrokerQueue *q;
	bool		done;
	TrackedClaim *c;

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("message id must not be null")));
	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("visible_at must not be null")));
	if (TIMESTAMP_NOT_FINITE(PG_GETARG_TIMESTAMPTZ(2)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("visible_at must be finite")));
	values[0] = PG_GETARG_DATUM(1);
	values[1] = PG_GETARG_DATUM(2);
	values[2] = TimestampTzGetDatum(GetCurrentTimestamp());

	SPI_connect();
	BrokerEnterCall();
	q = QueueLookup(name);
	BrokerCheckPrivilege('q', QueueName(q), q->acl_holder, BROKER_PRIV_MANAGE);
	c = QueueFindClaim(q->id, DatumGetInt64(values[0]));
	if (c != NULL)
	{
		/* Claimed in this transaction: the lease is written at commit. */
		QueueClaimSetLease(c, DatumGetTimestampTz(values[1]));
		done = true;
	}
	else
	{
		/* $1 id $2 visible_at $3 now */
		BrokerExecPlan(QueuePlan(q, QPLAN_SET_VISIBLE,
								 "UPDATE broker.queue_%1$d SET"
								 " lease_until = CASE WHEN lease_until OPERATOR(pg_catalog.>) $3"
								 "   THEN $2 ELSE lease_until END,"
								 " vis = CASE WHEN lease_until OPERATOR(pg_catalog.>) $3"
								 "   THEN vis ELSE $2 END"
								 " WHERE id OPERATOR(pg_catalog.=) $1",
								 3, (Oid[]) {INT8OID, TIMESTAMPTZOID, TIMESTAMPTZOID}),
					   values, NULL, false, 0);
		done = (SPI_processed > 0);
	}
	SPI_finish();
	if (!done)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(values[1]);
}

/* ---------------------------------------------------------------------
 * Entry points: the caller's privileges are checked above, then the
 * function runs as the extension's owner (acl.c)
 * --------------------------------------------------------------------- */

Datum
pgbroker_queue_claim(PG_FUNCTION_ARGS)
{
	BrokerRequireWrite("broker.claim()");
	return BrokerRunAsOwner(fcinfo, queue_claim_body);
}

Datum
pgbroker_queue_extend(PG_FUNCTION_ARGS)
{
	BrokerRequireWrite("broker.extend()");
	return BrokerRunAsOwner(fcinfo, queue_extend_body);
}

Datum
pgbroker_queue_set_visible(PG_FUNCTION_ARGS)
{
	BrokerRequireWrite("broker.set_visible()");
	return BrokerRunAsOwner(fcinfo, queue_set_visible_body);
}

/*
 * broker._queue_next_due(queue text) RETURNS timestamptz
 *
 * When a claim that just found nothing should look again at the latest:
 * the earliest delay or lease of the queue that ends (NULL: none, or the
 * queue is empty).  For the waits that are not claims (a subscription's
 * worker, subscription_worker.c); needs consume.
 */
static Datum
queue_next_due_body(PG_FUNCTION_ARGS)
{
	char	   *name = BrokerTextArg(fcinfo, 0, "queue name");
	BrokerQueue *q;
	TimestampTz due = 0;
	long		backstop_ms;

	SPI_connect();
	BrokerEnterCall();
	q = QueueLookup(name);
	BrokerCheckPrivilege('q', QueueName(q), q->acl_holder, BROKER_PRIV_CONSUME);
	if (!claim_queue_is_empty(q))
		due = claim_next_due(q, &backstop_ms);
	SPI_finish();
	if (due == 0)
		PG_RETURN_NULL();
	PG_RETURN_TIMESTAMPTZ(due);
}

Datum
pgbroker_queue_next_due(PG_FUNCTION_ARGS)
{
	return BrokerRunAsOwner(fcinfo, queue_next_due_body);
}
