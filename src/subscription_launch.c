/*-------------------------------------------------------------------------
 *
 * subscription_launch.c
 *	  Starting and stopping the workers of subscriptions: when the
 *	  transaction that changed a subscription commits, never before.
 *
 * broker._subscription_changed(id), called by subscribe,
 * alter_subscription, unsubscribe, dropping a queue or topic and maintain(),
 * notes the subscription in the transaction; just before the commit, how
 * many workers each noted subscription wants is read.  At commit (and only then: a
 * rolled-back subscribe starts nothing) the workers of each noted
 * subscription that run are woken, so that they read their subscription
 * again (a paused, shrunk or dropped one stops its workers), and those of
 * an enabled one that do not run are registered as dynamic background
 * workers, one per slot of its concurrency.  Without shared_preload_libraries
 * that is how every worker starts; with it, the maintenance workers run
 * maintain() at their start and every interval, which starts what is not
 * running (after a restart, a crash, or a worker that died).
 *
 * Whether a worker runs is whether its slot's lock tag
 * (LockTagSubscriptionWorker) is held: each worker holds its slot's lock
 * for as long as it runs, and a second worker for a slot that is taken
 * stops at once, so starting a worker twice is harmless.  The workers are
 * registered without restart (BGW_NEVER_RESTART): one that dies is
 * replaced by the next maintain(), which is also what keeps a worker of a
 * database that was dropped from being restarted for ever.  A slot that
 * cannot be had (max_worker_processes) is reported as a WARNING at commit
 * and shows as state 'stopped' in broker.subscriptions.
 *
 * Locks: none taken; the lock table is only read.  After a crash nothing
 * of this is left; the subscriptions' rows are what maintain() starts
 * from.
 *
 * src/subscription_launch.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/pg_list.h"
#include "postmaster/bgworker.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "storage/sinvaladt.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "catalog/pg_type.h"
#include "utils/acl.h"
#include "utils/lsyscache.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "access/htup_details.h"
#include "utils/syscache.h"

#include "common.h"
#include "locktag.h"
#include "subscription.h"

PG_FUNCTION_INFO_V1(pgbroker_subscription_changed);

/* What a worker is told at its start (bgw_extra). */

/* A subscription changed by this transaction: how many workers it wants. */
typedef struct ChangedSubscription
{
	int32		id;
	int32		workers;		/* 0: none (paused, dropped) */
} ChangedSubscription;

static List *changed = NIL;		/* in TopTransactionContext */
static SPIPlanPtr plan_workers = NULL;

/* The backends that hold a worker slot's lock (at most one). */
static PGPROC *
slot_holder(int32 subscription, int32 worker, bool *held)
{
	LOCKTAG		tag;
	VirtualTransactionId *vxids;
	int			n = 0;
	PGPROC	   *proc = NULL;

	LockTagSubscriptionWorker(&tag, MyDatabaseId, subscription, worker);
	vxids = GetLockConflicts(&tag, ExclusiveLock, &n);
	*held = n > 0;
	if (n > 0)
		proc = PgbrokerProcFromVxid(vxids[0]);
	return proc;
}

/*
 * Whether a worker holds its slot, even between two of its transactions
 * (when GetLockConflicts does not report it): try the lock without
 * waiting, as a session lock, and give it back at once.
 */
static bool
slot_taken(int32 subscription, int32 worker)
{
	LOCKTAG		tag;

	LockTagSubscriptionWorker(&tag, MyDatabaseId, subscription, worker);
	if (LockAcquire(&tag, ExclusiveLock, true, true) == LOCKACQUIRE_NOT_AVAIL)
		return true;
	LockRelease(&tag, ExclusiveLock, true);
	return false;
}

static bool
start_worker(int32 subscription, int32 worker)
{
	BackgroundWorker bgw;
	SubscriptionWorkerArg arg;
	BackgroundWorkerHandle *handle;

	memset(&bgw, 0, sizeof(bgw));
	bgw.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	bgw.bgw_start_time = BgWorkerStart_RecoveryFinished;
	bgw.bgw_restart_time = BGW_NEVER_RESTART;
	strlcpy(bgw.bgw_library_name, "pgbroker", BGW_MAXLEN);
	strlcpy(bgw.bgw_function_name, "pgbroker_subscription_main", BGW_MAXLEN);
	snprintf(bgw.bgw_name, BGW_MAXLEN, "pgbroker subscription %d/%d", subscription, worker);
	strlcpy(bgw.bgw_type, "pgbroker subscription", BGW_MAXLEN);
	arg.database = MyDatabaseId;
	/* the role the worker logs in as: pgbroker.maintenance_role, or the bootstrap superuser */
	arg.role = (pgbroker_maintenance_role != NULL && pgbroker_maintenance_role[0] != '\0') ?
		get_role_oid(pgbroker_maintenance_role, true) : InvalidOid;
	arg.subscription = subscription;
	arg.worker = worker;
	StaticAssertStmt(sizeof(arg) <= BGW_EXTRALEN, "worker argument too long");
	memcpy(bgw.bgw_extra, &arg, sizeof(arg));
	bgw.bgw_notify_pid = 0;
	return RegisterDynamicBackgroundWorker(&bgw, &handle);
}

/*
 * broker._subscription_changed(id integer) RETURNS void
 *
 * Note that subscription id changed (or should be running): its workers
 * are woken and the missing ones started when this transaction commits,
 * as many as it wants then (read just before the commit, so that a change
 * undone by a rolled-back subtransaction counts for nothing).
 */
Datum
pgbroker_subscription_changed(PG_FUNCTION_ARGS)
{
	int32		id = PG_GETARG_INT32(0);
	MemoryContext old;
	ChangedSubscription *c;
	ListCell   *lc;

	foreach(lc, changed)
	{
		if (((ChangedSubscription *) lfirst(lc))->id == id)
			PG_RETURN_VOID();
	}
	old = MemoryContextSwitchTo(TopTransactionContext);
	c = palloc(sizeof(*c));
	c->id = id;
	c->workers = 0;
	changed = lappend(changed, c);
	MemoryContextSwitchTo(old);
	PG_RETURN_VOID();
}

/* The owner of a relation. */
static Oid
relation_owner(Oid relid)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			owner;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	return owner;
}

/* Before the commit: how many workers each changed subscription wants now. */
void
SubscriptionXactPreCommit(void)
{
	ListCell   *lc;

	Oid			table;
	Oid			save_user;
	int			save_sec;

	if (changed == NIL)
		return;
	/* read as the owner of pgbroker's catalog: the committing user may not */
	table = get_relname_relid("subscription", get_namespace_oid("broker", true));
	if (!OidIsValid(table))
	{
		changed = NIL;			/* the extension was dropped meanwhile */
		return;
	}
	GetUserIdAndSecContext(&save_user, &save_sec);
	SetUserIdAndSecContext(relation_owner(table), save_sec | SECURITY_LOCAL_USERID_CHANGE);
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	foreach(lc, changed)
	{
		ChangedSubscription *c = lfirst(lc);
		Datum		arg = Int32GetDatum(c->id);
		bool		isnull;

		BrokerExecPlan(BrokerKeptPlan(&plan_workers,
									  "SELECT CASE WHEN s.enabled THEN s.concurrency ELSE 0 END AS workers"
									  " FROM broker.subscription s WHERE s.id OPERATOR(pg_catalog.=) $1",
									  1, (Oid[]) {INT4OID}),
					   &arg, NULL, false, 1);
		c->workers = SPI_processed == 1 ?
			DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)) : 0;
	}
	PopActiveSnapshot();
	SPI_finish();
	SetUserIdAndSecContext(save_user, save_sec);
}

/*
 * At commit: wake the workers that run (they read their subscription
 * again) and start the missing ones.  Up to the 64 slots a subscription
 * may have, so that the workers of slots beyond a lowered concurrency are
 * woken to stop.
 */
void
SubscriptionXactCommitted(void)
{
	ListCell   *lc;

	foreach(lc, changed)
	{
		ChangedSubscription *c = lfirst(lc);
		int32		w;

		for (w = 0; w < 64; w++)
		{
			bool		held;
			PGPROC	   *proc = slot_holder(c->id, w, &held);

			if (proc != NULL)
				SetLatch(&proc->procLatch);
			if (w >= c->workers)
				continue;
			if (held || slot_taken(c->id, w))
				continue;
			if (!start_worker(c->id, w))
				ereport(WARNING,
						(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
						 errmsg("no background worker slot is free for worker %d of subscription %d",
								w, c->id),
						 errhint("Each worker of a subscription takes one of max_worker_processes (%d), shared with parallel query and the maintenance workers; raise it (a restart is needed) or lower the subscription's concurrency. broker.maintain() starts the worker once a slot is free.",
								 max_worker_processes)));
		}
	}
	changed = NIL;
}

void
SubscriptionXactAborted(void)
{
	changed = NIL;
}
