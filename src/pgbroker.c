/*-------------------------------------------------------------------------
 *
 * pgbroker.c
 *	  Module entry point: the module magic, every setting, and the hooks
 *	  every backend registers when the library is first loaded.
 *
 * pgbroker needs no shared_preload_libraries: the library is loaded by the
 * first call of any of its functions, and everything it registers (the
 * transaction callbacks, the relcache callbacks of the queue and topic
 * caches, the wakeup release callback) is per backend.  Preloaded, it also starts the maintenance workers of the
 * databases named in pgbroker.databases (worker.c).
 *
 * src/pgbroker.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/guc.h"

#include "group.h"
#include "pgbroker.h"
#include "queue.h"
#include "queue_metrics.h"
#include "topic.h"
#include "wait.h"
#include "worker.h"
#include "xact.h"

PG_MODULE_MAGIC;

int			pgbroker_max_message_size = 1024 * 1024;
double		pgbroker_resume_threshold_ms = 1.0;
bool		pgbroker_synchronous_offsets = true;
char	   *pgbroker_databases = NULL;
char	   *pgbroker_maintenance_role = NULL;
int			pgbroker_maintenance_interval_ms = 10000;

void		_PG_init(void);

void
_PG_init(void)
{
	GucContext	worker_context;

	DefineCustomIntVariable("pgbroker.max_message_size",
							gettext_noop("Largest message (payload plus headers) a producer may send."),
							gettext_noop("Only superusers and roles granted SET on it may change it; a queue or topic may have a lower limit of its own (alter_queue, alter_topic)."),
							&pgbroker_max_message_size,
							1024 * 1024,
							1024,
							MaxAllocSize / 2,
							PGC_SUSET,
							GUC_UNIT_BYTE,
							NULL, NULL, NULL);
	DefineCustomRealVariable("pgbroker.resume_threshold",
							 gettext_noop("Milliseconds a claim from the head of a queue may take before claims resume where they stopped."),
							 gettext_noop("Claims from the head that cost more than this (beyond 20 microseconds per message returned), twice in a row, make this backend's claims resume after its last position. 0 makes claims always resume."),
							 &pgbroker_resume_threshold_ms,
							 1.0,
							 0.0,
							 10000.0,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);
	DefineCustomBoolVariable("pgbroker.synchronous_offsets",
							 gettext_noop("Whether a transaction that wrote only consumer-group offsets waits for its WAL flush at commit."),
							 gettext_noop("Off: such a commit does not wait (as with synchronous_commit = off); a crash may undo a committed offset, and the group reads the same records again."),
							 &pgbroker_synchronous_offsets,
							 true,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);
	/*
	 * The worker settings are read at server start; a library loaded later
	 * cannot define PGC_POSTMASTER settings, so there they are reloadable
	 * (and unused).
	 */
	worker_context = process_shared_preload_libraries_in_progress ?
		PGC_POSTMASTER : PGC_SIGHUP;
	DefineCustomStringVariable("pgbroker.databases",
							   gettext_noop("Databases whose broker.maintain() the maintenance workers run, comma-separated."),
							   gettext_noop("Needs pgbroker in shared_preload_libraries; one worker per database. Empty: no workers."),
							   &pgbroker_databases,
							   "",
							   worker_context,
							   GUC_LIST_INPUT,
							   BrokerCheckDatabases, NULL, NULL);
	DefineCustomStringVariable("pgbroker.maintenance_role",
							   gettext_noop("Role the maintenance workers connect as."),
							   gettext_noop("A role with LOGIN that is a member of pgbroker_admin. Empty: the bootstrap superuser."),
							   &pgbroker_maintenance_role,
							   "",
							   worker_context,
							   0,
							   NULL, NULL, NULL);
	DefineCustomIntVariable("pgbroker.maintenance_interval",
							gettext_noop("Time between two runs of broker.maintain() by a maintenance worker."),
							NULL,
							&pgbroker_maintenance_interval_ms,
							10000,
							100,
							24 * 3600 * 1000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);
	QueueMetricsInit();
	MarkGUCPrefixReserved("pgbroker");

	if (process_shared_preload_libraries_in_progress)
		BrokerRegisterWorkers();

	QueueCacheInit();
	TopicCacheInit();
	BrokerXactInit();
	BrokerWaitInit();
}
