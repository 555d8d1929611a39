/*-------------------------------------------------------------------------
 *
 * insert.h
 *	  Inserting formed rows directly into a table and its indexes
 *	  (insert.c).
 *
 * src/insert.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGBROKER_INSERT_H
#define PGBROKER_INSERT_H

#include "executor/tuptable.h"
#include "nodes/execnodes.h"
#include "utils/relcache.h"

extern void BrokerInsertSlots(Relation rel, ResultRelInfo *rri, EState *estate,
							  TupleTableSlot **slots, int n);
extern Relation BrokerOpenForInsert(Oid relid);
extern void BrokerInsertRow(Relation rel, Datum *values, bool *nulls);

#endif							/* PGBROKER_INSERT_H */
