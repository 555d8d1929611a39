/*-------------------------------------------------------------------------
 *
 * worker.h
 *	  The maintenance workers (worker.c).
 *
 * src/worker.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGBROKER_WORKER_H
#define PGBROKER_WORKER_H

#include "utils/guc.h"

extern void BrokerRegisterWorkers(void);
extern bool BrokerCheckDatabases(char **newval, void **extra, GucSource source);

#endif							/* PGBROKER_WORKER_H */
