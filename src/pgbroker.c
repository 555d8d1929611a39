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

PG_MODULE_MAGIC;

int			pgbroker_max_message_size = 1024 * 1024;

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
	MarkGUCPrefixReserved("pgbroker");

	BrokerCatalogInit();
	BrokerXactInit();
}
