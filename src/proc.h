/*-------------------------------------------------------------------------
 *
 * proc.h
 *	  The machinery of the wait procedures (proc.c), used by the wait loop.
 *
 * src/proc.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGBROKER_PROC_H
#define PGBROKER_PROC_H

#include "funcapi.h"
#include "nodes/execnodes.h"

typedef struct BrokerLookState
{
	Oid			saved_user;
	int			saved_sec;
	int			guc_level;
} BrokerLookState;

extern void BrokerLookBegin(FunctionCallInfo fcinfo, BrokerLookState *st);
extern void BrokerLookEnd(BrokerLookState *st);

typedef struct BrokerProcResult
{
	ReturnSetInfo rs;			/* filled by the looks */
	TupleDesc	outdesc;
	Oid			elemtype;
	bool		as_json;		/* the INOUT parameter is jsonb: an array of objects */
	MemoryContext mcxt;			/* the procedure's, outlives its commits */
	Datum		result;			/* the array, once finished */
} BrokerProcResult;

extern void BrokerProcResultBegin(FunctionCallInfo fcinfo, BrokerProcResult *pr,
								  const char *row_type);
extern void BrokerProcResultFinish(BrokerProcResult *pr);
extern Datum BrokerProcResultEnd(BrokerProcResult *pr);

#endif							/* PGBROKER_PROC_H */
