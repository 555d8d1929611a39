/*-------------------------------------------------------------------------
 *
 * subscription_worker.c
 *	  The worker process of a subscription: it reads its subscription,
 *	  waits for messages or records without holding a snapshot, and calls
 *	  the handler with them as the subscription's owner, each failing call
 *	  undone on its own.
 *
 * Each worker is one slot (0 .. concurrency-1) of one subscription, and
 * holds that slot's lock (LockTagSubscriptionWorker) for as long as it
 * runs.  It logs in as pgbroker.maintenance_role or the bootstrap
 * superuser (a background worker cannot log in as a role without LOGIN,
 * and owners often are such roles), and for everything done on the
 * subscription's behalf (claims, acks, polls, the handler) switches to the
 * owner with the security-restricted user id switch PostgreSQL uses for
 * maintenance commands run on behalf of a table's owner, so that the
 * handler can neither SET ROLE nor RESET ROLE nor SET SESSION
 * AUTHORIZATION back to the login, nor create temporary objects that
 * would outlive it.  The owner's privileges are checked by every call, as
 * for any consumer.  The search_path is the one stored with the
 * subscription, set again before each batch.
 *
 * A batch is handed to subscription_handler.c, which calls the handler.
 *
 * Idle: the worker registers as a waiter of its queue or topic (wait.c)
 * with session locks, looks in a subtransaction that it rolls back when
 * it found nothing (so that it keeps no lock on the queue's table), and
 * sleeps with its transaction open but without a snapshot or an xid, so
 * that a producer's commit finds it and sets its latch, and VACUUM is not
 * held back.  An error outside the handler (the handler or owner was
 * dropped, a privilege revoked) is logged, counted, shown in
 * broker.subscriptions as 'failing', and retried after a backoff that
 * doubles up to a minute: no restart loop.
 *
 * Counters (broker.subscription_stats) are kept in memory and written at
 * most every PGBROKER_STATS_FLUSH_MS.
 *
 * Locks: the slot's lock and the waiter registrations, session locks
 * held for the worker's life.  A crash leaves nothing but what committed:
 * the leases of claimed messages and the counted deliveries, which bring
 * those messages back, counted, once the leases end.
 *
 * src/subscription_worker.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "parser/parse_type.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lock.h"
#include "tcop/tcopprot.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/regproc.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timeout.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "acl.h"
#include "common.h"
#include "locktag.h"
#include "pgbroker.h"
#include "subscription.h"
#include "wait.h"

PGDLLEXPORT void pgbroker_subscription_main(Datum arg);

#define PGBROKER_STATS_FLUSH_MS		2000
#define PGBROKER_ERROR_BACKOFF_MAX_MS	60000

static SubscriptionWorkerArg me;
static Oid	worker_user = InvalidOid;	/* the login */
static Oid	extension_owner = InvalidOid;
static TimestampTz batch_started = 0;	/* when the batch in hand began */
static MemoryContext sub_cxt = NULL;	/* the subscription as last read */

/* Counters, as written to broker.subscription_stats (totals). */
static struct
{
	bool		loaded;
	bool		dirty;
	int64		processed;
	int64		failed;
	bool		failing;
	char		last_error[1024];
	TimestampTz last_error_at;
	char		about[128];
	TimestampTz last_batch_at;
	double		last_batch_ms;
	TimestampTz flushed_at;
} stats;

/* ---------------------------------------------------------------------
 * Identity
 * --------------------------------------------------------------------- */

/* Act as the subscription's owner, restricted (see the file's header). */
void
SubscriptionAsOwner(Subscription *s)
{
	if (!OidIsValid(s->owner_id))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("role \"%s\" that owns subscription \"%s\" does not exist", s->owner, s->name),
				 errhint("Drop the subscription and subscribe again as an existing role.")));
	SetUserIdAndSecContext(s->owner_id,
						   SECURITY_RESTRICTED_OPERATION | SECURITY_LOCAL_USERID_CHANGE);
}

/* Act as the worker again: for its own bookkeeping, as the extension's owner. */
void
SubscriptionAsWorker(void)
{
	SetUserIdAndSecContext(OidIsValid(extension_owner) ? extension_owner : worker_user,
						   SECURITY_LOCAL_USERID_CHANGE);
}

/* ---------------------------------------------------------------------
 * The subscription
 * --------------------------------------------------------------------- */

static SPIPlanPtr plan_load_sql = NULL;
static SPIPlanPtr plan_stats_flush_sql = NULL;
static SPIPlanPtr plan_stats_load_sql = NULL;

static const char load_sql[] =
"SELECT s.name, s.queue_id IS NOT NULL AS is_queue, coalesce(s.queue_id, s.topic_id) AS source_id,"
" coalesce(q.name, t.name) AS source, s.consumer_group, s.handler::oid AS handler, s.per_batch,"
" s.owner, r.oid AS owner_id, s.search_path, s.batch_size, s.concurrency,"
" (pg_catalog.date_part('epoch', s.timeout) OPERATOR(pg_catalog.*) 1000)::bigint AS timeout_ms,"
" s.enabled, s.max_attempts,"
" (pg_catalog.date_part('epoch', s.retry_base) OPERATOR(pg_catalog.*) 1000)::bigint AS retry_base_ms,"
" (pg_catalog.date_part('epoch', s.retry_max) OPERATOR(pg_catalog.*) 1000)::bigint AS retry_max_ms,"
" s.on_failure OPERATOR(pg_catalog.=) 'dead_letter' AS dead_letter"
" FROM broker.subscription s"
" LEFT JOIN broker.queue q ON q.id OPERATOR(pg_catalog.=) s.queue_id"
" LEFT JOIN broker.topic t ON t.id OPERATOR(pg_catalog.=) s.topic_id"
" LEFT JOIN pg_catalog.pg_roles r ON r.rolname OPERATOR(pg_catalog.=) s.owner"
" WHERE s.id OPERATOR(pg_catalog.=) $1";
enum
{
	LOAD_NAME = 1, LOAD_IS_QUEUE, LOAD_SOURCE_ID, LOAD_SOURCE, LOAD_GROUP, LOAD_HANDLER,
	LOAD_PER_BATCH, LOAD_OWNER, LOAD_OWNER_ID, LOAD_SEARCH_PATH, LOAD_BATCH_SIZE,
	LOAD_CONCURRENCY, LOAD_TIMEOUT_MS, LOAD_ENABLED, LOAD_MAX_ATTEMPTS, LOAD_RETRY_BASE_MS,
	LOAD_RETRY_MAX_MS, LOAD_DEAD_LETTER
};

static Datum
col(int c, bool *isnull)
{
	return SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, c, isnull);
}

static char *
col_text(int c, MemoryContext cxt)
{
	char	   *v = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, c);

	return v == NULL ? NULL : MemoryContextStrdup(cxt, v);
}

/*
 * Read subscription id, in a transaction, connected to SPI, as the worker
 * (or as the extension's owner).  NULL: it is gone.  The result lives in
 * a context of its own until the next read.
 */
Subscription *
SubscriptionRead(int32 id)
{
	Datum		arg = Int32GetDatum(id);
	Subscription *s;
	bool		isnull;

	if (sub_cxt == NULL)
		sub_cxt = AllocSetContextCreate(TopMemoryContext, "pgbroker subscription",
										ALLOCSET_SMALL_SIZES);
	BrokerExecPlan(BrokerKeptPlan(&plan_load_sql, load_sql, 1, (Oid[]) {INT4OID}), &arg, NULL, false, 1);
	if (SPI_processed != 1)
		return NULL;
	MemoryContextReset(sub_cxt);
	s = MemoryContextAllocZero(sub_cxt, sizeof(Subscription));
	s->id = id;
	s->name = col_text(LOAD_NAME, sub_cxt);
	s->is_queue = DatumGetBool(col(LOAD_IS_QUEUE, &isnull));
	s->source_id = DatumGetInt32(col(LOAD_SOURCE_ID, &isnull));
	s->source = col_text(LOAD_SOURCE, sub_cxt);
	s->group = col_text(LOAD_GROUP, sub_cxt);
	s->handler = DatumGetObjectId(col(LOAD_HANDLER, &isnull));
	s->per_batch = DatumGetBool(col(LOAD_PER_BATCH, &isnull));
	s->owner = col_text(LOAD_OWNER, sub_cxt);
	s->owner_id = DatumGetObjectId(col(LOAD_OWNER_ID, &isnull));
	if (isnull)
		s->owner_id = InvalidOid;
	s->search_path = col_text(LOAD_SEARCH_PATH, sub_cxt);
	s->batch_size = DatumGetInt32(col(LOAD_BATCH_SIZE, &isnull));
	s->concurrency = DatumGetInt32(col(LOAD_CONCURRENCY, &isnull));
	s->timeout_ms = DatumGetInt64(col(LOAD_TIMEOUT_MS, &isnull));
	s->enabled = DatumGetBool(col(LOAD_ENABLED, &isnull));
	s->max_attempts = DatumGetInt32(col(LOAD_MAX_ATTEMPTS, &isnull));
	s->retry_base_ms = DatumGetInt64(col(LOAD_RETRY_BASE_MS, &isnull));
	s->retry_max_ms = DatumGetInt64(col(LOAD_RETRY_MAX_MS, &isnull));
	s->dead_letter = DatumGetBool(col(LOAD_DEAD_LETTER, &isnull));
	return s;
}

/* Whether this worker should stop: its subscription is gone, paused or has fewer slots. */
static bool
should_stop(Subscription *s)
{
	return s == NULL || !s->enabled || me.worker >= s->concurrency;
}

/* ---------------------------------------------------------------------
 * Counters
 * --------------------------------------------------------------------- */

static const char stats_load_sql[] =
"SELECT processed, failed FROM broker.subscription_stats"
" WHERE subscription_id OPERATOR(pg_catalog.=) $1 AND worker OPERATOR(pg_catalog.=) $2";

static const char stats_flush_sql[] =
"INSERT INTO broker.subscription_stats AS x (subscription_id, worker, processed, failed, failing,"
"   last_error, last_error_at, last_error_about, last_batch_at, last_batch_ms)"
" SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10"
"  WHERE EXISTS (SELECT 1 FROM broker.subscription s WHERE s.id OPERATOR(pg_catalog.=) $1)"
" ON CONFLICT (subscription_id, worker) DO UPDATE SET processed = excluded.processed,"
"   failed = excluded.failed, failing = excluded.failing, last_error = excluded.last_error,"
"   last_error_at = excluded.last_error_at, last_error_about = excluded.last_error_about,"
"   last_batch_at = excluded.last_batch_at, last_batch_ms = excluded.last_batch_ms";

/* Write the counters if they changed and the last write is old enough (or force). */
static void
stats_flush(bool force)
{
	Datum		values[10];
	char		nulls[10];
	TimestampTz now = GetCurrentTimestamp();

	if (!stats.dirty ||
		(!force && !TimestampDifferenceExceeds(stats.flushed_at, now, PGBROKER_STATS_FLUSH_MS)))
		return;
	memset(nulls, ' ', sizeof(nulls));
	values[0] = Int32GetDatum(me.subscription);
	values[1] = Int32GetDatum(me.worker);
	values[2] = Int64GetDatum(stats.processed);
	values[3] = Int64GetDatum(stats.failed);
	values[4] = BoolGetDatum(stats.failing);
	values[5] = CStringGetTextDatum(stats.last_error);
	values[6] = TimestampTzGetDatum(stats.last_error_at);
	values[7] = CStringGetTextDatum(stats.about);
	values[8] = TimestampTzGetDatum(stats.last_batch_at);
	values[9] = Float8GetDatum(stats.last_batch_ms);
	if (stats.last_error_at == 0)
		nulls[5] = nulls[6] = nulls[7] = 'n';
	if (stats.last_batch_at == 0)
		nulls[8] = nulls[9] = 'n';
	PushActiveSnapshot(GetTransactionSnapshot());
	BrokerExecPlan(BrokerKeptPlan(&plan_stats_flush_sql, stats_flush_sql, 10,
								 (Oid[]) {INT4OID, INT4OID, INT8OID, INT8OID, BOOLOID, TEXTOID,
								 TIMESTAMPTZOID, TEXTOID, TIMESTAMPTZOID, FLOAT8OID}),
				   values, nulls, false, 0);
	PopActiveSnapshot();
	stats.dirty = false;
	stats.flushed_at = now;
}

static void
stats_load(void)
{
	Datum		args[2];
	bool		isnull;

	if (stats.loaded)
		return;
	args[0] = Int32GetDatum(me.subscription);
	args[1] = Int32GetDatum(me.worker);
	BrokerExecPlan(BrokerKeptPlan(&plan_stats_load_sql, stats_load_sql, 2, (Oid[]) {INT4OID, INT4OID}), args, NULL, false, 1);
	if (SPI_processed == 1)
	{
		stats.processed = DatumGetInt64(col(1, &isnull));
		stats.failed = DatumGetInt64(col(2, &isnull));
	}
	stats.loaded = true;
}

static void
stats_error(const char *error, const char *about)
{
	strlcpy(stats.last_error, error ? error : "", sizeof(stats.last_error));
	strlcpy(stats.about, about ? about : "", sizeof(stats.about));
	stats.last_error_at = GetCurrentTimestamp();
	stats.dirty = true;
}

/*
 * A batch ended: processed items, failed ones, and the last failure's
 * error and what it was about (NULL: none).  A batch in which every item
 * failed marks the subscription failing; one that processed any clears it.
 */
void
SubscriptionCountBatch(Subscription *s, int processed, int failed, const char *error,
					   const char *about)
{
	TimestampTz now = GetCurrentTimestamp();

	stats.processed += processed;
	stats.failed += failed;
	if (error != NULL)
		stats_error(error, about);
	if (processed > 0)
		stats.failing = false;
	else if (failed > 0)
		stats.failing = true;
	stats.last_batch_ms = batch_started != 0 ? (double) (now - batch_started) / 1000.0 : 0;
	stats.last_batch_at = now;
	stats.dirty = true;
}

/* Backoff before attempt (attempts+1): retry_base doubled per attempt, up to retry_max. */
int64
SubscriptionBackoffMs(Subscription *s, int attempts)
{
	int64		ms = s->retry_base_ms;
	int			i;

	for (i = 1; i < attempts && ms < s->retry_max_ms; i++)
		ms *= 2;
	return Min(ms, s->retry_max_ms);
}

/* ---------------------------------------------------------------------
 * The worker
 * --------------------------------------------------------------------- */

/* Register as a waiter of the subscription's source, once (session locks). */
static void
register_waiter(Subscription *s)
{
	static int32 registered_for = -1;
	static LOCKTAG tags[2];
	static int	ntags = 0;
	int			i;

	if (registered_for == s->source_id)
		return;
	for (i = 0; i < ntags; i++)
		LockRelease(&tags[i], ShareLock, true);
	if (s->is_queue)
	{
		LockTagQueueWaiters(&tags[0], s->source_id, false);
		ntags = 1;
	}
	else
	{
		LockTagTopicWaiters(&tags[0], s->source_id);
		ntags = 1;
	}
	for (i = 0; i < ntags; i++)
		(void) LockAcquire(&tags[i], ShareLock, true, false);
	registered_for = s->source_id;
}

/*
 * Sleep until woken (latch), the due time, the backstop, or an interrupt.
 * Called inside a transaction that holds no snapshot, so that a producer's
 * wakeup finds this worker (wait.c) and VACUUM is not held back.
 */
static void
worker_sleep(TimestampTz due, long backstop_ms)
{
	long		ms = backstop_ms;
	int			rc;

	if (due != 0)
		ms = Min(ms, Max(TimestampDifferenceMilliseconds(GetCurrentTimestamp(), due) + 1, 0));
	InvalidateCatalogSnapshot();
	pgstat_report_appname(psprintf("pgbroker subscription %d/%d idle", me.subscription, me.worker));
	pgstat_report_activity(STATE_IDLE, NULL);
	rc = WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, ms, PG_WAIT_EXTENSION);
	(void) rc;
	CHECK_FOR_INTERRUPTS();
}

static void
set_running(const char *what)
{
	batch_started = GetCurrentTimestamp();
	pgstat_report_appname(psprintf("pgbroker subscription %d/%d running", me.subscription, me.worker));
	pgstat_report_activity(STATE_RUNNING, what);
}

/* Begin a transaction of the worker, connected to SPI, with its subscription read. */
static Subscription *
begin(void)
{
	Subscription *s;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	if (!OidIsValid(get_extension_oid("pgbroker", true)))
	{
		CommitTransactionCommand();
		elog(LOG, "pgbroker subscription %d worker %d stopping: the extension is gone",
			 me.subscription, me.worker);
		proc_exit(0);
	}
	SPI_connect();
	SubscriptionAsWorker();
	PushActiveSnapshot(GetTransactionSnapshot());
	s = SubscriptionRead(me.subscription);
	stats_load();
	PopActiveSnapshot();
	if (should_stop(s))
	{
		SPI_finish();
		CommitTransactionCommand();
		elog(LOG, "pgbroker subscription %d worker %d stopping: the subscription is %s",
			 me.subscription, me.worker, s == NULL ? "gone" : !s->enabled ? "paused" : "smaller");
		proc_exit(0);
	}
	return s;
}

static void
end(bool commit)
{
	SubscriptionAsWorker();
	if (commit)
		stats_flush(false);
	SPI_finish();
	CommitTransactionCommand();
}

/*
 * Commit what begin() read (its locks on pgbroker's catalog go with it)
 * and begin a new transaction for a look and the sleep after it, which
 * then hold no lock but the look's, itself released with its
 * subtransaction when it finds nothing: a sleeping worker must not keep a
 * DROP EXTENSION, a drop_queue or a DROP TABLE waiting.
 */
static void
fresh_transaction(void)
{
	SPI_finish();
	CommitTransactionCommand();
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	SubscriptionAsWorker();
}

/* A look of each source: what it found was claimed or counted. */
typedef bool (*LookFn) (Subscription *s, void *arg, TimestampTz *due);

/* A queue's look claims, as the owner, into the batch arg points to. */
static bool
queue_look(Subscription *s, void *arg, TimestampTz *due)
{
	bool		got;

	SubscriptionAsOwner(s);
	got = SubscriptionQueueLook(s, s->batch_size, (List **) arg, due);
	SubscriptionAsWorker();
	return got;
}

/* A topic's look counts the next delivery of each of this worker's partitions. */
static bool
topic_look(Subscription *s, void *arg, TimestampTz *due)
{
	return SubscriptionTopicLook(s, me.worker, due);
}

/*
 * An idle worker's look, in the transaction begin() started: check the
 * handler (one that is gone or refused claims and counts nothing), then
 * look in a new transaction, inside a subtransaction that is rolled back
 * if the look wrote nothing, so that it leaves no lock behind; a look
 * that found nothing may still have written (a claim that moved messages
 * past max_attempts to the dead letters), which is kept.  Found something
 * (or wrote): commit and return whether it found.  Found nothing: write
 * the counters if they changed (never while asleep: no xid then), or sleep
 * until woken or due.  Always ends the transaction.
 */
static bool
idle_look(Subscription *s, LookFn look, void *arg)
{
	MemoryContext sub_start;
	ResourceOwner owner;
	TimestampTz due = 0;
	bool		got;
	bool		wrote;

	SubscriptionCheckHandler(s);
	fresh_transaction();
	ResetLatch(MyLatch);
	sub_start = CurrentMemoryContext;
	owner = CurrentResourceOwner;
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(sub_start);
	PushActiveSnapshot(GetTransactionSnapshot());
	got = look(s, arg, &due);
	wrote = TransactionIdIsValid(GetCurrentTransactionIdIfAny());
	PopActiveSnapshot();
	if (got || wrote)
		ReleaseCurrentSubTransaction();
	else
		RollbackAndReleaseCurrentSubTransaction();
	MemoryContextSwitchTo(sub_start);
	CurrentResourceOwner = owner;
	if (got)
		end(true);
	else if (wrote || stats.dirty)
	{
		stats_flush(true);
		end(false);
	}
	else
	{
		SPI_finish();
		worker_sleep(due, PGBROKER_BACKSTOP_MS);
		CommitTransactionCommand();
	}
	return got;
}

/*
 * The queue loop.  batch: what the last transaction claimed (committed,
 * leased, counted); a batch's transaction also claims the next one, so
 * that under load each batch costs one commit.
 */
static void
run_queue(void)
{
	List	   *batch = NIL;

	for (;;)
	{
		Subscription *s;
		MemoryContext cxt = CurrentMemoryContext;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		s = begin();
		register_waiter(s);
		if (batch == NIL)
		{
			idle_look(s, queue_look, &batch);
			MemoryContextSwitchTo(cxt);
			continue;
		}
		set_running("handling a batch");
		PushActiveSnapshot(GetTransactionSnapshot());
		SubscriptionAsOwner(s);
		batch = SubscriptionQueueBatch(s, batch, s->batch_size);
		SubscriptionAsWorker();
		PopActiveSnapshot();
		end(true);
		MemoryContextSwitchTo(cxt);
	}
}

/* The topic loop: a look counts the next deliveries (committed), then a batch. */
static void
run_topic(void)
{
	for (;;)
	{
		Subscription *s;
		MemoryContext cxt = CurrentMemoryContext;
		bool		got;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		s = begin();
		register_waiter(s);
		got = idle_look(s, topic_look, NULL);
		MemoryContextSwitchTo(cxt);
		if (!got)
			continue;

		s = begin();
		set_running("handling a batch");
		PushActiveSnapshot(GetTransactionSnapshot());
		SubscriptionTopicBatch(s, me.worker);
		SubscriptionAsWorker();
		PopActiveSnapshot();
		end(true);
		MemoryContextSwitchTo(cxt);
	}
}

/* Whether the pgbroker extension is installed here; its owner. */
static bool
find_extension(void)
{
	Oid			ext;
	bool		found;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	ext = get_extension_oid("pgbroker", true);
	found = OidIsValid(ext);
	if (found)
	{
		SPI_connect();
		PushActiveSnapshot(GetTransactionSnapshot());
		SPI_execute("SELECT extowner FROM pg_catalog.pg_extension WHERE extname OPERATOR(pg_catalog.=) 'pgbroker'",
					true, 1);
		if (SPI_processed == 1)
		{
			bool		isnull;

			extension_owner = DatumGetObjectId(col(1, &isnull));
		}
		PopActiveSnapshot();
		SPI_finish();
	}
	CommitTransactionCommand();
	return found;
}

void
pgbroker_subscription_main(Datum main_arg)
{
	LOCKTAG		slot;
	bool		is_queue = true;
	long		backoff_ms = 0;
	long		waited;
	bool		denied = false;	/* the last error was a privilege the owner lacked */

	memcpy(&me, MyBgworkerEntry->bgw_extra, sizeof(me));
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(me.database, me.role, 0);
	worker_user = GetUserId();
	pgstat_report_appname(psprintf("pgbroker subscription %d/%d starting", me.subscription, me.worker));

	/* one worker per slot: a second one stops at once */
	LockTagSubscriptionWorker(&slot, me.database, me.subscription, me.worker);
	if (LockAcquire(&slot, ExclusiveLock, true, true) == LOCKACQUIRE_NOT_AVAIL)
		proc_exit(0);
	if (!find_extension())
		proc_exit(0);
	elog(LOG, "pgbroker subscription %d worker %d started", me.subscription, me.worker);

	for (;;)
	{
		MemoryContext cxt = CurrentMemoryContext;

		PG_TRY();
		{
			Subscription *s = begin();

			is_queue = s->is_queue;
			end(false);
			backoff_ms = 0;
			if (is_queue)
				run_queue();
			else
				run_topic();
		}
		PG_CATCH();
		{
			ErrorData  *edata;

			/* log, count, back off: an error here must not restart the worker in a loop */
			HOLD_INTERRUPTS();
			MemoryContextSwitchTo(cxt);
			edata = CopyErrorData();
			EmitErrorReport();
			FlushErrorState();
			AbortOutOfAnyTransaction();
			RESUME_INTERRUPTS();
			stats_error(edata->message, "the worker");
			stats.failing = true;
			denied = edata->sqlerrcode == ERRCODE_INSUFFICIENT_PRIVILEGE;
			FreeErrorData(edata);
			SubscriptionTopicForget();
			backoff_ms = backoff_ms == 0 ? 1000 : Min(backoff_ms * 2, PGBROKER_ERROR_BACKOFF_MAX_MS);
			PG_TRY();
			{
				(void) begin();
				stats_flush(true);
				end(false);
			}
			PG_CATCH();
			{
				HOLD_INTERRUPTS();
				EmitErrorReport();
				FlushErrorState();
				AbortOutOfAnyTransaction();
				RESUME_INTERRUPTS();
			}
			PG_END_TRY();
			pgstat_report_appname(psprintf("pgbroker subscription %d/%d idle", me.subscription, me.worker));
			/*
			 * Back off, looking each second whether the subscription was
			 * dropped or paused, and, after a privilege error, whether the
			 * owner was granted what it lacked: then retry at once.
			 */
			for (waited = 0; waited < backoff_ms; waited += 1000)
			{
				bool		granted = false;

				(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
								 Min(1000, backoff_ms - waited), PG_WAIT_EXTENSION);
				ResetLatch(MyLatch);
				CHECK_FOR_INTERRUPTS();
				PG_TRY();
				{
					Subscription *s = begin();

					granted = denied && OidIsValid(s->owner_id) &&
						BrokerHasPrivilege(s->owner_id, s->is_queue ? 'q' : 't',
										   BrokerAclHolder(s->is_queue ? 'q' : 't', s->source_id),
										   BROKER_PRIV_CONSUME) &&
						pg_proc_aclcheck(s->handler, s->owner_id, ACL_EXECUTE) == ACLCHECK_OK;
					end(false);
				}
				PG_CATCH();
				{
					HOLD_INTERRUPTS();
					FlushErrorState();
					AbortOutOfAnyTransaction();
					RESUME_INTERRUPTS();
				}
				PG_END_TRY();
				if (granted)
					break;
			}
		}
		PG_END_TRY();
	}
}
