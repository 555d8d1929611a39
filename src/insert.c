/*-------------------------------------------------------------------------
 *
 * insert.c
 *	  Inserting formed rows directly into a table and its indexes, without
 *	  an SQL statement.
 *
 * Queue sends and topic appends write rows whose every column they set,
 * into tables that have no triggers, rules or CHECK constraints: the
 * executor would add nothing but per-statement start-up cost.  A unique
 * index still checks its keys (ExecInsertIndexTuples raises on a
 * duplicate).
 *
 * src/insert.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "miscadmin.h"
#include "executor/executor.h"
#include "utils/acl.h"
#include "utils/rel.h"

#include "insert.h"

/*
 * Insert slots[0..n-1] (one heap insert, or a multi-insert) and their
 * index entries; the slots are dropped.  rri has its indexes open.
 */
void
BrokerInsertSlots(Relation rel, ResultRelInfo *rri, EState *estate,
				  TupleTableSlot **slots, int n)
{
	CommandId	cid = GetCurrentCommandId(true);
	int			i;

	if (n == 1)
		table_tuple_insert(rel, slots[0], cid, 0, NULL);
	else
		table_multi_insert(rel, slots, n, cid, 0, NULL);
	for (i = 0; i < n; i++)
	{
		List	   *recheck;

		ResetPerTupleExprContext(estate);
#if PG_VERSION_NUM >= 160000
		recheck = ExecInsertIndexTuples(rri, slots[i], estate, false, false,
										NULL, NIL, false);
#else
		recheck = ExecInsertIndexTuples(rri, slots[i], estate, false, false,
										NULL, NIL);
#endif
		list_free(recheck);
		ExecDropSingleTupleTableSlot(slots[i]);
	}
}

/*
 * Open a table for direct inserts: RowExclusiveLock, and the INSERT
 * privilege the executor would have checked (the callers run as the
 * table's owner, SECURITY DEFINER; the check is kept all the same).
 */
Relation
BrokerOpenForInsert(Oid relid)
{
	Relation	rel = table_open(relid, RowExclusiveLock);

	if (pg_class_aclcheck(relid, GetUserId(), ACL_INSERT) != ACLCHECK_OK)
		aclcheck_error(ACLCHECK_NO_PRIV, OBJECT_TABLE, RelationGetRelationName(rel));
	return rel;
}

/*
 * Insert one row of rel (open for inserts) formed from values/nulls, with
 * its index entries.
 */
void
BrokerInsertRow(Relation rel, Datum *values, bool *nulls)
{
	EState	   *estate = CreateExecutorState();
	ResultRelInfo *rri = makeNode(ResultRelInfo);
	TupleTableSlot *slot = MakeSingleTupleTableSlot(RelationGetDescr(rel), &TTSOpsHeapTuple);

	InitResultRelInfo(rri, rel, 1, NULL, 0);
	ExecOpenIndices(rri, false);
	ExecStoreHeapTuple(heap_form_tuple(RelationGetDescr(rel), values, nulls), slot, true);
	BrokerInsertSlots(rel, rri, estate, &slot, 1);
	ExecCloseIndices(rri);
	FreeExecutorState(estate);
}
