/*-------------------------------------------------------------------------
 *
 * pgbroker.c
 *	  Module entry point: the module magic, the GUCs and the hooks every
 *	  backend registers when the library is first loaded.
 *
 * pgbroker needs no shared_preload_libraries: the library is loaded by the
 * first call of any of its functions, and everything it registers (the
 * transaction callbacks, the relcache callback of the queue cache) is
 * per backend.
 *
 * src/pgbroker.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/guc.h"

#include "catalog.h"
#include "pgbroker.h"
#include "topic.h"

PG_MODULE_MAGIC;

int			pgbroker_max_message_size = 1024 * 1024;
double		pgbroker_resume_threshold_ms = 1.0;

void		_PG_init(void);

void
_PG_init(void)
{
	DefineCustomIntVariable("pgbroker.max_message_size",
							gettext_noop("Largest message (payload plus headers) a producer may send."),
							NULL,
							&pgbroker_max_message_size,
							1024 * 1024,
							1024,
							MaxAllocSize / 2,
							PGC_USERSET,
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
	MarkGUCPrefixReserved("pgbroker");

	BrokerCatalogInit();
	TopicCatalogInit();
	BrokerXactInit();
}
