/*-------------------------------------------------------------------------
 *
 * scan.c
 *	  Direct index scans of pgbroker's own tables.
 *
 * The hot paths read single rows or short ranges of pgbroker's tables (a
 * group's id, a partition's newest state, a topic's segments, a queue's
 * first ready message) on every call.  Through SPI each read paid an
 * executor start-up that cost as much as the scan, so they open the table
 * and one of its indexes by name in schema broker and scan it here.
 *
 * src/scan.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "executor/tuptable.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"

#include "scan.h"

/*
 * Open broker.<table> and its index broker.<index> with AccessShareLock.
 * Returns false if either is missing and missing_ok; raises otherwise.
 */
bool
BrokerScanOpen(BrokerIndexScan *s, const char *table, const char *index, bool missing_ok)
{
	Oid			nsp = get_namespace_oid("broker", false);
	Oid			relid = get_relname_relid(table, nsp);
	Oid			indexid = get_relname_relid(index, nsp);

	memset(s, 0, sizeof(*s));
	if (!OidIsValid(relid) || !OidIsValid(indexid))
	{
		if (missing_ok)
			return false;
		elog(ERROR, "table broker.%s or its index %s is missing", table, index);
	}
	s->rel = table_open(relid, AccessShareLock);
	s->index = index_open(indexid, AccessShareLock);
	return true;
}

/*
 * Start the scan with the given keys (built against s->index when they
 * need its collation), under snapshot, or a new snapshot if NULL.
 */
void
BrokerScanStart(BrokerIndexScan *s, Snapshot snapshot, ScanKey keys, int nkeys)
{
	if (snapshot == NULL)
	{
		snapshot = RegisterSnapshot(GetLatestSnapshot());
		s->registered = snapshot;
	}
	s->scan = index_beginscan(s->rel, s->index, snapshot, nkeys, 0);
	index_rescan(s->scan, keys, nkeys, NULL, 0);
	s->slot = table_slot_create(s->rel, NULL);
}

/* The next row in direction dir into s->slot; false at the end. */
bool
BrokerScanNext(BrokerIndexScan *s, ScanDirection dir)
{
	return index_getnext_slot(s->scan, dir, s->slot);
}

/* End the scan; the locks stay until the transaction ends. */
void
BrokerScanEnd(BrokerIndexScan *s)
{
	ExecDropSingleTupleTableSlot(s->slot);
	index_endscan(s->scan);
	if (s->registered != NULL)
		UnregisterSnapshot(s->registered);
	index_close(s->index, NoLock);
	table_close(s->rel, NoLock);
}
