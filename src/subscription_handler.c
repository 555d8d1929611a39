/*-------------------------------------------------------------------------
 *
 * subscription_handler.c
 *	  Calling a subscription's handler: checking it, the owner's identity
 *	  and search_path, the timeout, and the subtransactions that undo a
 *	  failing call with the settling of its items.
 *
 * A batch: first the whole batch in one subtransaction: the handler once
 * (array handlers) or once per item, then every item settled in one
 * statement (the ack of all the receipts, for a queue), so that the
 * common case costs one subtransaction id and one ack.  If anything in it
 * fails (a call raises, or an ack is refused because a lease ran out and
 * someone else has the message), all of it is undone and the items are
 * handled again one call each, each call in a subtransaction with the
 * settling of its item: only the failing items fail, and a call's effects
 * and its settling commit together or not at all.  The subscription's
 * timeout is armed explicitly (statement_timeout is not, in a background
 * worker) over the whole batch; when it fires, the call running is
 * cancelled and every item not yet settled counts as failed.
 *
 * The handler runs as the subscription's owner, restricted
 * (subscription_worker.c), with the search_path stored with the
 * subscription, set again before each batch.  broker._run_handler calls
 * it the same way from a session, for replaying dead letters.
 *
 * Locks: none of its own; a crash undoes what did not commit.
 *
 * src/subscription_handler.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_proc.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "parser/parse_type.h"
#include "tcop/tcopprot.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/regproc.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timeout.h"

#include "pgbroker.h"
#include "subscription.h"

PG_FUNCTION_INFO_V1(pgbroker_run_handler);

typedef struct HandlerCall
{
	FmgrInfo	flinfo;
	Oid			elemtype;		/* broker.message or broker.record */
	int16		elemlen;
	bool		elembyval;
	char		elemalign;
} HandlerCall;

/* Look the handler up and check its shape again (it may have been replaced). */
static void
handler_prepare(Subscription *s, HandlerCall *hc)
{
	HeapTuple	tup;
	Form_pg_proc p;
	TypeName   *tn;
	Oid			argtype;

	if (!OidIsValid(s->owner_id))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("role \"%s\" that owns subscription \"%s\" does not exist", s->owner, s->name),
				 errhint("Drop the subscription and subscribe again as an existing role.")));
	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(s->handler));
	if (!HeapTupleIsValid(tup))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("the handler of subscription \"%s\" (function %u) does not exist",
						s->name, s->handler),
				 errhint("Give it a handler with broker.alter_subscription(%s, handler => ...), or unsubscribe.",
						 quote_literal_cstr(s->name))));
	p = (Form_pg_proc) GETSTRUCT(tup);
	argtype = p->pronargs == 1 ? p->proargtypes.values[0] : InvalidOid;
	ReleaseSysCache(tup);
	tn = makeTypeNameFromNameList(list_make2(makeString("broker"),
											 makeString(s->is_queue ? "message" : "record")));
	hc->elemtype = typenameTypeId(NULL, tn);
	if (argtype != (s->per_batch ? get_array_type(hc->elemtype) : hc->elemtype))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_FUNCTION_DEFINITION),
				 errmsg("the handler of subscription \"%s\" no longer takes %s",
						s->name, format_type_be(s->per_batch ? get_array_type(hc->elemtype) : hc->elemtype))));
	if (pg_proc_aclcheck(s->handler, s->owner_id, ACL_EXECUTE) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for function %s", format_procedure(s->handler)),
				 errdetail("Role \"%s\", which owns subscription \"%s\", needs EXECUTE on its handler.",
						   s->owner, s->name)));
	fmgr_info(s->handler, &hc->flinfo);
	get_typlenbyvalalign(hc->elemtype, &hc->elemlen, &hc->elembyval, &hc->elemalign);
}

/* One call of the handler with items[0..n-1] (n == 1 for a per-item handler). */
static void
handler_call(Subscription *s, HandlerCall *hc, SubItem *items, int n)
{
	LOCAL_FCINFO(fcinfo, 1);
	Datum		arg;

	if (s->per_batch)
	{
		Datum	   *values = palloc(sizeof(Datum) * n);
		int			i;

		for (i = 0; i < n; i++)
			values[i] = items[i].value;
		arg = PointerGetDatum(construct_array(values, n, hc->elemtype, hc->elemlen,
											  hc->elembyval, hc->elemalign));
	}
	else
		arg = items[0].value;
	InitFunctionCallInfoData(*fcinfo, &hc->flinfo, 1, InvalidOid, NULL, NULL);
	fcinfo->args[0].value = arg;
	fcinfo->args[0].isnull = false;
	CommandCounterIncrement();
	PushActiveSnapshot(GetTransactionSnapshot());
	(void) FunctionCallInvoke(fcinfo);
	PopActiveSnapshot();
}

/*
 * Call the handler with items[0..n-1] and settle them, in a subtransaction:
 * all (the whole batch, called per batch or per item, settled at once),
 * or one call (n == 1 for a per-item handler, or the batch for an array
 * handler) settled item by item.  Returns NULL on success, or the error (its SQLSTATE in *code); then the
 * call's effects and settling are undone.
 */
static char *
handler_try(Subscription *s, HandlerCall *hc, const SubSource *src, SubItem *items, int n,
			bool all, int *code)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	char	   *error = NULL;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		int			i;

		if (all)
		{
			/* every item, one call per batch or per item, then one settling */
			if (s->per_batch)
				handler_call(s, hc, items, n);
			else
				for (i = 0; i < n; i++)
					handler_call(s, hc, &items[i], 1);
			if (src->settle_all != NULL && !src->settle_all(s, items, n))
				ereport(ERROR,
						(errcode(ERRCODE_PB_NOT_HOLDER),
						 errmsg("the lease of a message of the batch ended before it was handled")));
			n = 0;				/* settled */
		}
		else
			handler_call(s, hc, items, n);
		for (i = 0; i < n; i++)
		{
			if (!src->settle(s, &items[i]))
				ereport(ERROR,
						(errcode(ERRCODE_PB_NOT_HOLDER),
						 errmsg("the lease of message " INT64_FORMAT " ended before it was handled",
								items[i].id),
						 errdetail("Its effects were undone; it is delivered again.")));
		}
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
		*code = edata->sqlerrcode;
		error = edata->message ? pstrdup(edata->message) : pstrdup("error");
		FreeErrorData(edata);
	}
	PG_END_TRY();
	return error;
}

static void
item_failed(SubItem *item, const char *error)
{
	item->failed = true;
	item->error = pstrdup(error);
}

/*
 * Handle a batch: see the file's header.  For an ordered source (a topic),
 * a failing item stops the items after it in the same partition, which
 * are marked skipped (they come again after the failing one).
 */
void
SubscriptionHandle(Subscription *s, SubItem *items, int n, const SubSource *src)
{
	HandlerCall hc;
	int			code = 0;
	char	   *error;
	int			i;
	bool		timed_out = false;

	handler_prepare(s, &hc);
	/* the owner's search_path, set again each batch: a handler may have changed it */
	(void) set_config_option("search_path", s->search_path, PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SET, true, 0, false);
	enable_timeout_after(STATEMENT_TIMEOUT, (int) Min(s->timeout_ms, INT_MAX));
	PG_TRY();
	{
		/*
		 * First the whole batch in one subtransaction, settled at once: one
		 * subtransaction id, one ack.  If anything in it fails, it is
		 * undone and the items are handled again one call each.
		 */
		{
			error = handler_try(s, &hc, src, items, n, true, &code);
			if (error == NULL)
			{
				for (i = 0; i < n; i++)
					items[i].done = true;
			}
			else if (code == ERRCODE_QUERY_CANCELED)
			{
				timed_out = true;
				for (i = 0; i < n; i++)
					item_failed(&items[i], error);
			}
		}
		for (i = 0; i < n && !timed_out; i++)
		{
			int			k;

			if (items[i].done || items[i].failed || items[i].skipped)
				continue;
			error = handler_try(s, &hc, src, &items[i], 1, false, &code);
			if (error == NULL)
			{
				items[i].done = true;
				continue;
			}
			item_failed(&items[i], error);
			if (code == ERRCODE_QUERY_CANCELED)
			{
				/* the batch's time is up: what it still held fails with it */
				timed_out = true;
				for (k = i + 1; k < n; k++)
				{
					if (!items[k].done && !items[k].failed && !items[k].skipped)
						item_failed(&items[k], error);
				}
			}
			else if (src->ordered)
			{
				for (k = i + 1; k < n; k++)
				{
					if (items[k].partition == items[i].partition)
						items[k].skipped = true;
				}
			}
		}
	}
	PG_FINALLY();
	{
		disable_timeout(STATEMENT_TIMEOUT, false);
		/* a timeout that fired after the last call must not cancel the settling */
		if (get_timeout_indicator(STATEMENT_TIMEOUT, true))
			QueryCancelPending = false;
	}
	PG_END_TRY();
}

/*
 * broker._run_handler(subscription integer, item anyelement) RETURNS void
 *
 * Call a subscription's handler with one item (as an array of one for an
 * array handler) in the caller's transaction, as the subscription's owner,
 * restricted, with its search_path: what replaying a topic subscription's
 * dead letters does.  Only the extension's own functions call it.
 */
Datum
pgbroker_run_handler(PG_FUNCTION_ARGS)
{
	int32		id = PG_GETARG_INT32(0);
	Subscription *s;
	HandlerCall hc;
	SubItem		item = {0};
	Oid			save_user;
	int			save_sec;
	int			nest;

	SPI_connect();
	s = SubscriptionRead(id);
	SPI_finish();
	if (s == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("subscription %d does not exist", id)));
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("item must not be null")));
	item.value = PG_GETARG_DATUM(1);
	GetUserIdAndSecContext(&save_user, &save_sec);
	handler_prepare(s, &hc);
	nest = NewGUCNestLevel();
	(void) set_config_option("search_path", s->search_path, PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	SubscriptionAsOwner(s);
	handler_call(s, &hc, &item, 1);
	SetUserIdAndSecContext(save_user, save_sec);
	AtEOXact_GUC(true, nest);
	PG_RETURN_VOID();
}

/* Whether the handler can be called: see handler_prepare. */
void
SubscriptionCheckHandler(Subscription *s)
{
	HandlerCall hc;

	handler_prepare(s, &hc);
}
