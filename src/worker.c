/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  The maintenance worker: with pgbroker in shared_preload_libraries,
 *	  one background worker per database named in pgbroker.databases runs
 *	  broker.maintain() every pgbroker.maintenance_interval.
 *
 * Nothing depends on the worker for correctness: an expired lease or a
 * delay that ran out makes a message claimable by itself, and waiting
 * consumers wake for them on their own (they sleep until the next lease
 * or delay ends).  The worker only keeps things tidy: retention, segment
 * rotation and pre-creation, compaction, expired messages, dedup keys.
 * Without preloading, broker.maintain() is run by the user or pg_cron.
 *
 * One worker per database, so that a database whose maintenance fails
 * cannot stop the others'; an error is logged and the worker tries again
 * at the next interval.  A database without the extension is skipped.
 *
 * src/worker.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/varlena.h"

#include "pgbroker.h"
#include "worker.h"

PGDLLEXPORT void pgbroker_worker_main(Datum arg);

/* Run broker.maintain() once, if the extension is installed here. */
static void
worker_maintain(void)
{
	MemoryContext cxt = CurrentMemoryContext;

	PG_TRY();
	{
		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		SPI_connect();
		PushActiveSnapshot(GetTransactionSnapshot());
		pgstat_report_activity(STATE_RUNNING, "SELECT broker.maintain()");
		if (SPI_execute("SELECT 1 FROM pg_catalog.pg_extension"
						" WHERE extname OPERATOR(pg_catalog.=) 'pgbroker'", true, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not look up the pgbroker extension");
		if (SPI_processed > 0 &&
			SPI_execute("SELECT broker.maintain()", false, 0) != SPI_OK_SELECT)
			elog(ERROR, "broker.maintain() failed");
		SPI_finish();
		PopActiveSnapshot();
		CommitTransactionCommand();
		pgstat_report_stat(false);
	}
	PG_CATCH();
	{
		/* log, clean up and carry on: the next interval tries again */
		HOLD_INTERRUPTS();
		MemoryContextSwitchTo(cxt);
		EmitErrorReport();
		AbortOutOfAnyTransaction();
		FlushErrorState();
		RESUME_INTERRUPTS();
	}
	PG_END_TRY();
	pgstat_report_activity(STATE_IDLE, NULL);
}

void
pgbroker_worker_main(Datum arg)
{
	char		dbname[NAMEDATALEN];
	MemoryContext cxt;

	strlcpy(dbname, MyBgworkerEntry->bgw_extra, sizeof(dbname));
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(dbname,
										 (pgbroker_maintenance_role != NULL &&
										  pgbroker_maintenance_role[0] != '\0') ?
										 pgbroker_maintenance_role : NULL,
										 0);
	pgstat_report_appname("pgbroker maintenance");
	cxt = AllocSetContextCreate(TopMemoryContext, "pgbroker maintenance",
								ALLOCSET_DEFAULT_SIZES);
	elog(LOG, "pgbroker maintenance worker started for database \"%s\"", dbname);

	for (;;)
	{
		MemoryContextSwitchTo(cxt);
		worker_maintain();
		MemoryContextReset(cxt);

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 pgbroker_maintenance_interval_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
	}
}

/*
 * Register one worker per database of pgbroker.databases.  Called from
 * _PG_init while shared_preload_libraries are loaded.
 */
void
BrokerRegisterWorkers(void)
{
	char	   *list;
	List	   *names;
	ListCell   *lc;

	if (pgbroker_databases == NULL || pgbroker_databases[0] == '\0')
		return;
	list = pstrdup(pgbroker_databases);
	if (!SplitIdentifierString(list, ',', &names))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid list syntax in parameter \"pgbroker.databases\"")));
	foreach(lc, names)
	{
		BackgroundWorker worker;
		const char *db = lfirst(lc);

		memset(&worker, 0, sizeof(worker));
		worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
		worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
		worker.bgw_restart_time = 30;
		strlcpy(worker.bgw_library_name, "pgbroker", BGW_MAXLEN);
		strlcpy(worker.bgw_function_name, "pgbroker_worker_main", BGW_MAXLEN);
		snprintf(worker.bgw_name, BGW_MAXLEN, "pgbroker maintenance %s", db);
		strlcpy(worker.bgw_type, "pgbroker maintenance", BGW_MAXLEN);
		strlcpy(worker.bgw_extra, db, BGW_EXTRALEN);
		RegisterBackgroundWorker(&worker);
	}
}

/* pgbroker.databases: a list of database names, each a valid name. */
bool
BrokerCheckDatabases(char **newval, void **extra, GucSource source)
{
	char	   *list = pstrdup(*newval ? *newval : "");
	List	   *names;
	ListCell   *lc;

	if (!SplitIdentifierString(list, ',', &names))
	{
		GUC_check_errdetail("List syntax is invalid.");
		return false;
	}
	foreach(lc, names)
	{
		if (strlen((char *) lfirst(lc)) >= NAMEDATALEN)
		{
			GUC_check_errdetail("Database name \"%s\" is too long.", (char *) lfirst(lc));
			return false;
		}
	}
	if (list_length(names) > 64)
	{
		GUC_check_errdetail("At most 64 databases can be listed.");
		return false;
	}
	return true;
}
