/*-------------------------------------------------------------------------
 *
 * proc.c
 *	  What a wait procedure (claim_wait, poll_wait) needs so that it can
 *	  commit between its looks: a check that it was CALLed outside a
 *	  transaction block, running each look as the procedure's owner, and a
 *	  result that outlives the commits.
 *
 * Procedures that control transactions cannot be SECURITY DEFINER, so
 * each look switches user and search path the way SECURITY DEFINER would.
 * Nothing here locks anything; the result lives in the procedure's memory
 * and is gone with the backend.
 *
 * src/proc.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/parsenodes.h"
#include "parser/parse_type.h"
#include "utils/array.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/tuplestore.h"
#include "utils/typcache.h"

#include "common.h"
#include "proc.h"
#include "wait.h"

/* A procedure may commit only when CALLed outside a transaction block. */
void
BrokerCheckNonAtomic(FunctionCallInfo fcinfo, const char *proc, const char *instead)
{
	if (fcinfo->context == NULL || !IsA(fcinfo->context, CallContext) ||
		castNode(CallContext, fcinfo->context)->atomic)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TRANSACTION_TERMINATION),
				 errmsg("%s must be called with CALL outside a transaction block", proc),
				 errdetail("It commits after every look so that it holds no snapshot while it waits."),
				 errhint("Inside a transaction, use %s.", instead)));
}

/*
 * The wait procedures cannot be SECURITY DEFINER (PostgreSQL calls such
 * procedures atomically, without transaction control), so each look runs
 * as the procedure's owner with a safe search_path, as SECURITY DEFINER
 * would, and returns to the caller before the look's commit.
 */
void
BrokerLookBegin(FunctionCallInfo fcinfo, BrokerLookState *st)
{
	HeapTuple	tup;
	Oid			owner;

	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(fcinfo->flinfo->fn_oid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for function %u", fcinfo->flinfo->fn_oid);
	owner = ((Form_pg_proc) GETSTRUCT(tup))->proowner;
	ReleaseSysCache(tup);

	GetUserIdAndSecContext(&st->saved_user, &st->saved_sec);
	SetUserIdAndSecContext(owner, st->saved_sec | SECURITY_LOCAL_USERID_CHANGE);
	st->guc_level = NewGUCNestLevel();
	(void) set_config_option("search_path", PGBROKER_SEARCH_PATH,
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
							 true, 0, false);
}

void
BrokerLookEnd(BrokerLookState *st)
{
	AtEOXact_GUC(true, st->guc_level);
	SetUserIdAndSecContext(st->saved_user, st->saved_sec);
}

/*
 * The result of a wait procedure: one INOUT parameter, an array of a row
 * type (broker.message[], broker.record[]), or jsonb (claim_wait_json,
 * poll_wait_json: the same rows as an array of objects, which client
 * drivers decode without knowing pgbroker's types).  Begin gives a ReturnSetInfo
 * whose tuplestore outlives the procedure's commits, for the look to fill
 * as a set-returning function would; Finish turns what it holds into the
 * array, before the last look's transaction commits; End returns it.
 *
 * Finish must run inside that transaction, under a snapshot: the rows
 * hold payloads stored out of line (TOAST) as pointers into the message
 * or segment table, and forming the array fetches them.  After the commit
 * there is no snapshot to fetch them with, and retention may drop a
 * segment, its TOAST data with it.
 */
void
BrokerProcResultBegin(FunctionCallInfo fcinfo, BrokerProcResult *pr, const char *row_type)
{
	Oid			outtype;

	if (get_call_result_type(fcinfo, NULL, &pr->outdesc) != TYPEFUNC_COMPOSITE ||
		pr->outdesc->natts != 1)
		elog(ERROR, "a wait procedure must have one INOUT parameter");
	outtype = TupleDescAttr(pr->outdesc, 0)->atttypid;
	/* the _json forms: the rows of broker.<row_type>, handed over as jsonb */
	pr->as_json = (outtype == JSONBOID);
	pr->elemtype = pr->as_json ?
		typenameTypeId(NULL, makeTypeNameFromNameList(list_make2(makeString("broker"),
																  makeString(pstrdup(row_type))))) :
		get_element_type(outtype);
	if (!OidIsValid(pr->elemtype))
		elog(ERROR, "a wait procedure must have one INOUT parameter of an array of rows or jsonb");
	pr->outdesc = BlessTupleDesc(pr->outdesc);
	memset(&pr->rs, 0, sizeof(pr->rs));
	pr->rs.type = T_ReturnSetInfo;
	pr->rs.setDesc = lookup_rowtype_tupdesc_copy(pr->elemtype, -1);
	pr->rs.setResult = tuplestore_begin_heap(false, true, work_mem);
	pr->mcxt = CurrentMemoryContext;
	pr->result = (Datum) 0;
}

void
BrokerProcResultFinish(BrokerProcResult *pr)
{
	MemoryContext old = MemoryContextSwitchTo(pr->mcxt);
	TupleTableSlot *slot = MakeSingleTupleTableSlot(pr->rs.setDesc, &TTSOpsMinimalTuple);
	int64		count = tuplestore_tuple_count(pr->rs.setResult);
	Datum	   *elems = palloc(sizeof(Datum) * Max(count, 1));
	int			n = 0;

	PushActiveSnapshot(GetTransactionSnapshot());
	while (tuplestore_gettupleslot(pr->rs.setResult, true, false, slot))
	{
		slot_getallattrs(slot);
		/* HeapTupleGetDatum fetches the out-of-line values into the row */
		elems[n++] = HeapTupleGetDatum(heap_form_tuple(pr->rs.setDesc, slot->tts_values,
														slot->tts_isnull));
	}
	PopActiveSnapshot();
	ExecDropSingleTupleTableSlot(slot);
	tuplestore_end(pr->rs.setResult);
	pr->result = PointerGetDatum(construct_array(elems, n, pr->elemtype, -1, false, TYPALIGN_DOUBLE));
	if (pr->as_json)
	{
		/* an array of objects, one per row, with the row's field names */
		Oid			argtype = get_array_type(pr->elemtype);
		bool		isnull;

		PushActiveSnapshot(GetTransactionSnapshot());
		if (SPI_execute_with_args("SELECT pg_catalog.to_jsonb($1)", 1, &argtype, &pr->result,
								  NULL, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "could not turn the result into jsonb");
		/* an SPI call leaves its connection's context current: copy into ours */
		MemoryContextSwitchTo(pr->mcxt);
		pr->result = datumCopy(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull),
							   false, -1);
		PopActiveSnapshot();
	}
	MemoryContextSwitchTo(old);
}

Datum
BrokerProcResultEnd(BrokerProcResult *pr)
{
	bool		result_null = false;

	Assert(pr->result != (Datum) 0);
	return HeapTupleGetDatum(heap_form_tuple(pr->outdesc, &pr->result, &result_null));
}
