/*-------------------------------------------------------------------------
 *
 * scan.h
 *	  Direct index scans of pgbroker's own tables (scan.c).
 *
 * src/scan.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGBROKER_SCAN_H
#define PGBROKER_SCAN_H

#include "access/genam.h"
#include "access/sdir.h"
#include "access/skey.h"
#include "executor/tuptable.h"
#include "utils/relcache.h"
#include "utils/snapshot.h"

typedef struct BrokerIndexScan
{
	Relation	rel;
	Relation	index;
	IndexScanDesc scan;
	TupleTableSlot *slot;
	Snapshot	registered;		/* a snapshot taken here, or NULL */
} BrokerIndexScan;

extern bool BrokerScanOpen(BrokerIndexScan *s, const char *table, const char *index,
						   bool missing_ok);
extern void BrokerScanStart(BrokerIndexScan *s, Snapshot snapshot, ScanKey keys, int nkeys);
extern bool BrokerScanNext(BrokerIndexScan *s, ScanDirection dir);
extern void BrokerScanEnd(BrokerIndexScan *s);

#endif							/* PGBROKER_SCAN_H */
