/*-------------------------------------------------------------------------
 *
 * acl.c
 *	  Privileges on queues and topics, checked against the role that
 *	  called pgbroker, and the switch to the extension's owner after the
 *	  check.
 *
 * Where grants live.  Each queue and topic has an *ACL holder*, a view
 * broker.queue_<id>_acl or broker.topic_<id>_acl that selects nothing
 * (SELECT WHERE false: no rows, no columns, nothing to insert into).  Its
 * owner is the queue's or topic's owner, the role that created it, and its
 * ACL holds the grants, one table privilege per pgbroker privilege:
 * SELECT is browse, INSERT send, UPDATE consume, DELETE manage.  So
 * PostgreSQL keeps them: pg_dump writes them as GRANTs by role name and
 * pg_restore gives them to the same names in another cluster, DROP ROLE is
 * refused while a role owns or is granted a holder (pg_shdepend), DROP
 * OWNED and REASSIGN OWNED work, \dp lists them, and a REVOKE is seen by
 * every session at its next call (the ACL is read from the syscache, which
 * the REVOKE invalidates).  The message tables themselves are granted to
 * nobody: a grantee of one would bypass ordering groups, dedup and
 * wakeups.  broker.create_acl holds, as INSERT, the right to create queues
 * and topics.  Members of pgbroker_admin hold every privilege on all.
 *
 * Who is checked.  pgbroker's functions are SECURITY INVOKER, so that the
 * check sees the role that called them: the session's role, an
 * application's SECURITY DEFINER wrapper's owner, a worker's role.  After
 * the check they run as the owner of the function (the extension's owner),
 * as SECURITY DEFINER would, until they return (BrokerRunAsOwner); an
 * error restores the caller with the (sub)transaction's abort.  Functions
 * written in PL/pgSQL are reached through a gate (pgbroker_gate) that
 * checks the privilege its table names for the function, then calls the
 * function's body, broker._<name>, as the owner.
 *
 * Unknown objects.  Names are not secret (as in PostgreSQL's own
 * catalogs): a queue or topic that does not exist is 42704 for every role;
 * one that exists but is not granted is 42501, naming the object and the
 * privilege.  Payloads, counts and grants are what is protected.
 *
 * Nothing here writes anything but through GRANT and REVOKE; a crash
 * leaves the catalogs as their last commit.
 *
 * src/acl.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "parser/parse_func.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/regproc.h"
#include "utils/syscache.h"

#include "acl.h"
#include "common.h"
#include "locktag.h"

PG_FUNCTION_INFO_V1(pgbroker_gate);
PG_FUNCTION_INFO_V1(pgbroker_caller);
PG_FUNCTION_INFO_V1(pgbroker_caller_search_path);
PG_FUNCTION_INFO_V1(pgbroker_has_privilege);
PG_FUNCTION_INFO_V1(pgbroker_may_see);

/* The role that called the pgbroker function now running (InvalidOid: none). */
static Oid	current_caller = InvalidOid;

/* The search_path of the caller of the last gated subscription function. */
static char *caller_search_path = NULL;

static const char *const priv_names[] = {"send", "consume", "browse", "manage", "monitor"};

/* The table privilege of a holder that stands for a pgbroker privilege. */
static AclMode
priv_mode(BrokerPrivilege priv)
{
	switch (priv)
	{
		case BROKER_PRIV_SEND:
			return ACL_INSERT;
		case BROKER_PRIV_CONSUME:
			return ACL_UPDATE;
		case BROKER_PRIV_BROWSE:
		case BROKER_PRIV_MONITOR:
			return ACL_SELECT;
		case BROKER_PRIV_MANAGE:
			return ACL_DELETE;
	}
	return ACL_NO_RIGHTS;
}

static BrokerPrivilege
priv_from_name(const char *name)
{
	int			i;

	for (i = 0; i < lengthof(priv_names) - 1; i++)
	{
		if (strcmp(name, priv_names[i]) == 0)
			return (BrokerPrivilege) i;
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown privilege \"%s\"", name),
			 errhint("Use \"send\", \"consume\", \"browse\", \"manage\" or \"create\".")));
	return BROKER_PRIV_BROWSE;	/* keep the compiler quiet */
}

static void check_privilege_of(Oid role, char kind, const char *name, Oid holder,
							   BrokerPrivilege priv);

/* The role a pgbroker function checks: its caller. */
Oid
BrokerCaller(void)
{
	return OidIsValid(current_caller) ? current_caller : GetUserId();
}

/*
 * broker._caller_search_path() RETURNS text: the search_path in effect
 * where the caller called a subscription function, before the body's own
 * SET clause pinned it.
 */
Datum
pgbroker_caller_search_path(PG_FUNCTION_ARGS)
{
	if (caller_search_path == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(caller_search_path));
}

/* broker._caller() RETURNS name: for the PL/pgSQL bodies behind the gate. */
Datum
pgbroker_caller(PG_FUNCTION_ARGS)
{
	char	   *name = GetUserNameFromId(BrokerCaller(), false);

	PG_RETURN_DATUM(DirectFunctionCall1(namein, CStringGetDatum(name)));
}

/* The owner of the function being called, cached in its FmgrInfo. */
static Oid
function_owner(FunctionCallInfo fcinfo)
{
	Oid		   *owner = (Oid *) fcinfo->flinfo->fn_extra;

	if (owner == NULL)
	{
		HeapTuple	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(fcinfo->flinfo->fn_oid));

		if (!HeapTupleIsValid(tup))
			elog(ERROR, "cache lookup failed for function %u", fcinfo->flinfo->fn_oid);
		owner = MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, sizeof(Oid));
		*owner = ((Form_pg_proc) GETSTRUCT(tup))->proowner;
		ReleaseSysCache(tup);
		fcinfo->flinfo->fn_extra = owner;
	}
	return *owner;
}

/*
 * Call fn(fcinfo) as owner, for caller: what BrokerRunAsOwner and the gate
 * do once the caller is checked.  An error restores the user here and with
 * the (sub)transaction's abort.
 */
static Datum
call_as(Oid owner, Oid caller, PGFunction fn, FunctionCallInfo fcinfo)
{
	Oid			save_user;
	int			save_sec;
	Oid			save_caller = current_caller;
	Datum		result;

	GetUserIdAndSecContext(&save_user, &save_sec);
	current_caller = caller;
	SetUserIdAndSecContext(owner, save_sec | SECURITY_LOCAL_USERID_CHANGE);
	PG_TRY();
	{
		result = fn(fcinfo);
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(save_user, save_sec);
		current_caller = save_caller;
	}
	PG_END_TRY();
	return result;
}

/*
 * Run a statement as owner (connected to SPI): a kept plan with its
 * arguments, or (plan NULL) a utility statement's text.  pgbroker's
 * catalogs and ACL holders are the owner's, granted to no one.
 */
static void
exec_as(Oid owner, SPIPlanPtr plan, Datum *args, const char *sql)
{
	Oid			save_user;
	int			save_sec;

	GetUserIdAndSecContext(&save_user, &save_sec);
	SetUserIdAndSecContext(owner, save_sec | SECURITY_LOCAL_USERID_CHANGE);
	if (plan != NULL)
		BrokerExecPlan(plan, args, NULL, false, 1);
	else if (SPI_execute(sql, false, 0) != SPI_OK_UTILITY)
		elog(ERROR, "could not run \"%s\"", sql);
	SetUserIdAndSecContext(save_user, save_sec);
}

/*
 * Run body as the owner of the function called, remembering the caller
 * for the privilege checks body makes (BrokerCaller).  The caller is the
 * user at the call: a pgbroker function that the body of another calls
 * (as the owner) is the owner's call, already authorized.
 */
Datum
BrokerRunAsOwner(FunctionCallInfo fcinfo, PGFunction body)
{
	return call_as(function_owner(fcinfo), GetUserId(), body, fcinfo);
}

/* The relid of the ACL holder of a queue ('q') or topic ('t'), or InvalidOid. */
Oid
BrokerAclHolder(char kind, int32 id)
{
	char		relname[NAMEDATALEN];

	snprintf(relname, sizeof(relname), "%s_%d_acl", kind == 'q' ? "queue" : "topic", id);
	return get_relname_relid(relname, get_namespace_oid("broker", false));
}

/* Whether role is a member (with its privileges) of the named role. */
static bool
has_role(Oid role, const char *name)
{
	Oid			r = get_role_oid(name, true);

	return OidIsValid(r) && has_privs_of_role(role, r);
}

/*
 * Whether role holds a privilege on the queue or topic whose ACL holder
 * is given: as a grantee or the owner of the holder, as a member of
 * pgbroker_admin, or (for monitor) as a member of pg_monitor.
 */
bool
BrokerHasPrivilege(Oid role, char kind, Oid holder, BrokerPrivilege priv)
{
	if (OidIsValid(holder) &&
		pg_class_aclcheck(holder, role, priv_mode(priv)) == ACLCHECK_OK)
		return true;
	if (has_role(role, "pgbroker_admin"))
		return true;
	if (priv == BROKER_PRIV_MONITOR)
		return has_privs_of_role(role, ROLE_PG_MONITOR);
	return false;
}

/*
 * Whether role may use a consumer group owned by the role named owner: as
 * a member of it.  A role of that name that no longer exists owns nothing.
 */
bool
BrokerOwnsGroup(Oid role, const char *owner)
{
	Oid			owner_oid = get_role_oid(owner, true);

	return OidIsValid(owner_oid) && has_privs_of_role(role, owner_oid);
}

/* Raise 42501 unless the caller holds the privilege. */
void
BrokerCheckPrivilege(char kind, const char *name, Oid holder, BrokerPrivilege priv)
{
	check_privilege_of(BrokerCaller(), kind, name, holder, priv);
}

/* Raise 42501 unless role holds the privilege. */
static void
check_privilege_of(Oid role, char kind, const char *name, Oid holder, BrokerPrivilege priv)
{
	const char *what = kind == 'q' ? "queue" : "topic";

	if (BrokerHasPrivilege(role, kind, holder, priv))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied for %s \"%s\"", what, name),
			 errdetail("The %s privilege on %s \"%s\" is needed.", priv_names[priv], what, name),
			 errhint("Its owner or a member of pgbroker_admin can grant it: broker.grant('%s', role, %s => %s).",
					 priv == BROKER_PRIV_MONITOR ? "browse" : priv_names[priv], what,
					 quote_literal_cstr(name))));
}

/* Push a caller for the checks of a look of a wait procedure; returns the previous. */
Oid
BrokerCallerPush(Oid role)
{
	Oid			prev = current_caller;

	current_caller = role;
	return prev;
}

void
BrokerCallerPop(Oid prev)
{
	current_caller = prev;
}

/* At the end of a transaction no pgbroker function is running. */
void
AclXactEnded(void)
{
	current_caller = InvalidOid;
}

/* ---------------------------------------------------------------------
 * The gate of the functions written in PL/pgSQL
 * --------------------------------------------------------------------- */

/*
 * Which privilege each gated function needs, on the queue ('q') or topic
 * ('t') its first argument names (by id when by_id), or the right to
 * create ('c').  Every overload of a name has the same needs.
 */
typedef struct GateSpec
{
	const char *function;
	char		kind;
	BrokerPrivilege priv;
	bool		by_id;
	bool		group_owner;	/* the owner of the group its second argument names may too */
} GateSpec;

static const GateSpec gates[] = {
	{"create_queue", 'c', BROKER_PRIV_MANAGE, false},
	{"alter_queue", 'q', BROKER_PRIV_MANAGE, false},
	{"drop_queue", 'q', BROKER_PRIV_MANAGE, false},
	{"purge", 'q', BROKER_PRIV_MANAGE, false},
	{"cancel", 'q', BROKER_PRIV_MANAGE, false},
	{"redrive", 'q', BROKER_PRIV_MANAGE, false},
	{"purge_dead_letters", 'q', BROKER_PRIV_MANAGE, false},
	{"peek", 'q', BROKER_PRIV_BROWSE, false},
	{"dead_letters", 'q', BROKER_PRIV_BROWSE, false},
	{"queue_stats", 'q', BROKER_PRIV_MONITOR, true},
	{"create_topic", 'c', BROKER_PRIV_MANAGE, false},
	{"alter_topic", 't', BROKER_PRIV_MANAGE, false},
	{"drop_topic", 't', BROKER_PRIV_MANAGE, false},
	{"start_partition_at", 't', BROKER_PRIV_MANAGE, false},
	{"earliest_offset", 't', BROKER_PRIV_BROWSE, false},
	{"latest_offset", 't', BROKER_PRIV_BROWSE, false},
	{"offset_for_time", 't', BROKER_PRIV_BROWSE, false},
	{"topic_partitions", 't', BROKER_PRIV_BROWSE, false},
	{"topic_stats", 't', BROKER_PRIV_MONITOR, true},
	{"create_group", 't', BROKER_PRIV_CONSUME, false},
	{"delete_group", 't', BROKER_PRIV_MANAGE, false, true},
	/* subscriptions: what they need depends on the subscription; the bodies check */
	{"subscribe", 's', BROKER_PRIV_CONSUME, false},
	{"alter_subscription", 's', BROKER_PRIV_CONSUME, false},
	{"unsubscribe", 's', BROKER_PRIV_CONSUME, false},
	{"replay_subscription_dead_letters", 's', BROKER_PRIV_CONSUME, false},
};

static SPIPlanPtr plan_group_owner = NULL;

/*
 * A gated call on a consumer group (the second argument): the group's
 * owner (a member of the role that created it, with consume on the topic)
 * may make it without manage.
 */
static bool
gate_group_owner(FunctionCallInfo fcinfo, Oid owner, Oid caller, Oid holder)
{
	Datum		args[2];
	bool		isnull;
	Datum		d;

	if (PG_ARGISNULL(1) || !BrokerHasPrivilege(caller, 't', holder, BROKER_PRIV_CONSUME))
		return false;
	args[0] = PG_GETARG_DATUM(0);
	args[1] = PG_GETARG_DATUM(1);
	exec_as(owner, BrokerKeptPlan(&plan_group_owner,
								  "SELECT g.owner FROM broker.consumer_group g"
								  " JOIN broker.topic t ON t.id OPERATOR(pg_catalog.=) g.topic_id"
								  " WHERE t.name OPERATOR(pg_catalog.=) $1 AND g.name OPERATOR(pg_catalog.=) $2",
								  2, (Oid[]) {TEXTOID, TEXTOID}),
			args, NULL);
	if (SPI_processed != 1)
		return false;
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return !isnull && BrokerOwnsGroup(caller, NameStr(*DatumGetName(d)));
}

typedef struct GateCache
{
	const GateSpec *spec;
	Oid			owner;
	FmgrInfo	impl;			/* broker._<function>, the same arguments */
} GateCache;

static SPIPlanPtr plan_queue_by_name = NULL;
static SPIPlanPtr plan_queue_by_id = NULL;
static SPIPlanPtr plan_topic_by_name = NULL;
static SPIPlanPtr plan_topic_by_id = NULL;

/*
 * Find the object a gated call names: its id and name.  False if it does
 * not exist (the body then says so, or does nothing if told to).
 */
static bool
gate_object(const GateSpec *spec, Datum arg, Oid owner, int32 *id, char **name)
{
	bool		by_id = spec->by_id;
	SPIPlanPtr	plan;
	bool		found;
	bool		isnull;

	if (!by_id)
		BrokerCheckName(TextDatumGetCString(arg), spec->kind == 'q' ? "queue" : "topic");
	if (spec->kind == 'q')
		plan = by_id ?
			BrokerKeptPlan(&plan_queue_by_id, "SELECT id, name FROM broker.queue WHERE id OPERATOR(pg_catalog.=) $1",
						   1, (Oid[]) {INT4OID}) :
			BrokerKeptPlan(&plan_queue_by_name, "SELECT id, name FROM broker.queue WHERE name OPERATOR(pg_catalog.=) $1",
						   1, (Oid[]) {TEXTOID});
	else
		plan = by_id ?
			BrokerKeptPlan(&plan_topic_by_id, "SELECT id, name FROM broker.topic WHERE id OPERATOR(pg_catalog.=) $1",
						   1, (Oid[]) {INT4OID}) :
			BrokerKeptPlan(&plan_topic_by_name, "SELECT id, name FROM broker.topic WHERE name OPERATOR(pg_catalog.=) $1",
						   1, (Oid[]) {TEXTOID});
	exec_as(owner, plan, &arg, NULL);
	found = SPI_processed == 1;
	if (found)
	{
		*id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		*name = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	}
	return found;
}

/* The right to create queues and topics. */
static bool
may_create(Oid role)
{
	Oid			holder = get_relname_relid("create_acl", get_namespace_oid("broker", false));

	return has_role(role, "pgbroker_admin") ||
		(OidIsValid(holder) && pg_class_aclcheck(holder, role, ACL_INSERT) == ACLCHECK_OK);
}

static void
check_create(Oid role)
{
	if (!may_create(role))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to create queues and topics"),
				 errhint("A member of pgbroker_admin can grant it: broker.grant('create', role).")));
}

static GateCache *
gate_cache(FunctionCallInfo fcinfo)
{
	GateCache  *cache = (GateCache *) fcinfo->flinfo->fn_extra;

	if (cache == NULL)
	{
		Oid			fn = fcinfo->flinfo->fn_oid;
		char	   *proname = get_func_name(fn);
		Oid		   *argtypes;
		int			nargs;
		Oid			impl;
		int			i;

		cache = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(GateCache));
		for (i = 0; i < lengthof(gates); i++)
		{
			if (strcmp(gates[i].function, proname) == 0)
				cache->spec = &gates[i];
		}
		if (cache->spec == NULL)
			elog(ERROR, "function broker.%s has no gate", proname);
		(void) get_func_signature(fn, &argtypes, &nargs);
		impl = LookupFuncName(list_make2(makeString("broker"), makeString(psprintf("_%s", proname))),
							  nargs, argtypes, false);
		fmgr_info_cxt(impl, &cache->impl, fcinfo->flinfo->fn_mcxt);
		cache->owner = function_owner(fcinfo);
		fcinfo->flinfo->fn_extra = cache;
	}
	return cache;
}

/*
 * The C function behind every public function written in PL/pgSQL: check
 * the caller's privilege on the object its first argument names, then
 * call broker._<name> with the same arguments as the owner.
 */
Datum
pgbroker_gate(PG_FUNCTION_ARGS)
{
	GateCache  *cache;
	const GateSpec *spec;
	Oid			caller = GetUserId();	/* the user at the call (see BrokerRunAsOwner) */
	LOCAL_FCINFO(impl_fcinfo, FUNC_MAX_ARGS);
	Datum		result;

	/* the gate keeps its cache where BrokerRunAsOwner keeps the owner */
	cache = gate_cache(fcinfo);
	spec = cache->spec;

	/* every gated function but those that browse or monitor writes */
	if (spec->priv != BROKER_PRIV_BROWSE && spec->priv != BROKER_PRIV_MONITOR)
	{
		char		what[NAMEDATALEN + 16];

		snprintf(what, sizeof(what), "broker.%s()", spec->function);
		BrokerRequireWrite(what);
	}

	if (spec->kind == 'c')
		check_create(caller);
	else if (spec->kind == 's')
	{
		/* a subscription runs with its owner's search_path: keep the caller's */
		if (caller_search_path != NULL)
			pfree(caller_search_path);
		caller_search_path = MemoryContextStrdup(TopMemoryContext,
												 namespace_search_path ? namespace_search_path : "");
	}
	else if (!PG_ARGISNULL(0))
	{
		int32		id;
		char	   *name;
		bool		found;

		SPI_connect();
		found = gate_object(spec, PG_GETARG_DATUM(0), cache->owner, &id, &name);
		if (found)
		{
			Oid			holder = BrokerAclHolder(spec->kind, id);

			name = pstrdup(name);
			if (!(spec->group_owner &&
				  gate_group_owner(fcinfo, cache->owner, caller, holder)))
				check_privilege_of(caller, spec->kind, name, holder, spec->priv);
		}
		SPI_finish();
	}

	InitFunctionCallInfoData(*impl_fcinfo, &cache->impl, PG_NARGS(), PG_GET_COLLATION(),
							 fcinfo->context, fcinfo->resultinfo);
	memcpy(impl_fcinfo->args, fcinfo->args, sizeof(NullableDatum) * PG_NARGS());

	result = call_as(cache->owner, caller, cache->impl.fn_addr, impl_fcinfo);
	fcinfo->isnull = impl_fcinfo->isnull;
	return result;
}

/* ---------------------------------------------------------------------
 * Asking
 * --------------------------------------------------------------------- */

/*
 * broker.has_privilege(role regrole, privilege text, queue text, topic text)
 *	 RETURNS boolean
 *
 * Whether role holds privilege (send, consume, browse, manage) on the
 * queue or the topic named, or (create, with neither) may create them.
 * NULL if the queue or topic does not exist.
 */
Datum
pgbroker_has_privilege(PG_FUNCTION_ARGS)
{
	Oid			role = PG_ARGISNULL(0) ? GetUserId() : PG_GETARG_OID(0);
	char	   *privname = BrokerTextArg(fcinfo, 1, "privilege");
	GateSpec	spec = {NULL, 'q', BROKER_PRIV_BROWSE, false, false};
	int32		id;
	char	   *name;
	bool		found;
	bool		result;

	if (strcmp(privname, "create") == 0)
	{
		if (!PG_ARGISNULL(2) || !PG_ARGISNULL(3))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the create privilege is not on a queue or topic")));
		PG_RETURN_BOOL(may_create(role));
	}
	spec.priv = priv_from_name(privname);
	if (PG_ARGISNULL(2) == PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("name either a queue or a topic")));
	spec.kind = PG_ARGISNULL(2) ? 't' : 'q';
	SPI_connect();
	found = gate_object(&spec, PG_GETARG_DATUM(PG_ARGISNULL(2) ? 3 : 2), function_owner(fcinfo),
						&id, &name);
	result = found && BrokerHasPrivilege(role, spec.kind, BrokerAclHolder(spec.kind, id), spec.priv);
	SPI_finish();
	if (!found)
		PG_RETURN_NULL();
	PG_RETURN_BOOL(result);
}

/*
 * broker._may_see(kind "char", id integer) RETURNS boolean: whether the
 * caller may see a queue's or topic's name and counts (the views).
 */
Datum
pgbroker_may_see(PG_FUNCTION_ARGS)
{
	char		kind = PG_GETARG_CHAR(0);

	PG_RETURN_BOOL(BrokerHasPrivilege(GetUserId(), kind,
									  BrokerAclHolder(kind, PG_GETARG_INT32(1)),
									  BROKER_PRIV_MONITOR));
}

/* ---------------------------------------------------------------------
 * Granting
 * --------------------------------------------------------------------- */

/*
 * Take the lock that orders every change of an ACL holder's privileges:
 * PostgreSQL's GRANT updates the holder's catalog row without a lock of
 * its own, so two grants (or a grant and a drop) at once would fail with
 * "tuple concurrently updated".  ShareUpdateExclusiveLock conflicts with
 * itself and with DROP's AccessExclusiveLock; once it is held, the holder
 * must still exist.
 */
static void
lock_holder(Oid holder, const char *what, const char *name)
{
	LockRelationOid(holder, ShareUpdateExclusiveLock);
	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(holder)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("%s \"%s\" does not exist", what, name)));
}

static const char *const priv_sql[] = {"INSERT", "UPDATE", "SELECT", "DELETE"};

/*
 * broker.grant(privilege text, grantee regrole, queue text, topic text)
 * broker.revoke(privilege text, grantee regrole, queue text, topic text)
 *
 * Grant or revoke a privilege on the queue or the topic named: a GRANT or
 * REVOKE on its ACL holder, run as the extension's owner once the caller
 * is found to hold manage on it.  The create privilege (neither queue nor
 * topic) is granted by members of pgbroker_admin.
 */
static Datum
grant_or_revoke(FunctionCallInfo fcinfo, bool grant)
{
	char	   *privname = BrokerTextArg(fcinfo, 0, "privilege");
	Oid			caller = GetUserId();
	char	   *grantee;
	char	   *sql;

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("grantee must not be null")));
	grantee = GetUserNameFromId(PG_GETARG_OID(1), false);
	SPI_connect();
	if (strcmp(privname, "create") == 0)
	{
		if (!PG_ARGISNULL(2) || !PG_ARGISNULL(3))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the create privilege is not on a queue or topic")));
		if (!has_role(caller, "pgbroker_admin"))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied to grant the create privilege"),
					 errhint("Members of pgbroker_admin grant it.")));
		lock_holder(get_relname_relid("create_acl", get_namespace_oid("broker", false)),
					"view", "broker.create_acl");
		sql = psprintf(grant ? "GRANT INSERT ON broker.create_acl TO %s" :
					   "REVOKE INSERT ON broker.create_acl FROM %s",
					   quote_identifier(grantee));
	}
	else
	{
		GateSpec	spec = {NULL, 'q', BROKER_PRIV_MANAGE, false, false};
		BrokerPrivilege priv = priv_from_name(privname);
		int32		id;
		char	   *name;
		Datum		arg;

		if (PG_ARGISNULL(2) == PG_ARGISNULL(3))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("name either a queue or a topic")));
		spec.kind = PG_ARGISNULL(2) ? 't' : 'q';
		arg = PG_GETARG_DATUM(spec.kind == 'q' ? 2 : 3);
		if (!gate_object(&spec, arg, function_owner(fcinfo), &id, &name))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("%s \"%s\" does not exist", spec.kind == 'q' ? "queue" : "topic",
							TextDatumGetCString(arg))));
		name = pstrdup(name);
		check_privilege_of(caller, spec.kind, name, BrokerAclHolder(spec.kind, id), BROKER_PRIV_MANAGE);
		if (!OidIsValid(BrokerAclHolder(spec.kind, id)))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("the privileges of %s \"%s\" are missing", spec.kind == 'q' ? "queue" : "topic", name),
					 errhint("ALTER EXTENSION pgbroker UPDATE creates them.")));
		lock_holder(BrokerAclHolder(spec.kind, id), spec.kind == 'q' ? "queue" : "topic", name);
		sql = psprintf(grant ? "GRANT %s ON broker.%s_%d_acl TO %s" :
					   "REVOKE %s ON broker.%s_%d_acl FROM %s",
					   priv_sql[priv], spec.kind == 'q' ? "queue" : "topic", id,
					   quote_identifier(grantee));
	}
	exec_as(function_owner(fcinfo), NULL, NULL, sql);
	SPI_finish();
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(pgbroker_grant);
PG_FUNCTION_INFO_V1(pgbroker_revoke);

Datum
pgbroker_grant(PG_FUNCTION_ARGS)
{
	return grant_or_revoke(fcinfo, true);
}

Datum
pgbroker_revoke(PG_FUNCTION_ARGS)
{
	return grant_or_revoke(fcinfo, false);
}

/*
 * broker.grant_default(privilege text, grantee regrole, creator regrole)
 * broker.revoke_default(privilege text, grantee regrole, creator regrole)
 *
 * What the queues and topics creator (NULL: the caller) creates from now on
 * are granted to grantee: PostgreSQL's default privileges of creator in
 * schema broker, which broker._create_acl_holder applies to each new ACL
 * holder.  A role sets them for itself (or a role it has the privileges
 * of); members of pgbroker_admin for any role.
 */
static Datum
default_privileges(FunctionCallInfo fcinfo, bool grant)
{
	char	   *privname = BrokerTextArg(fcinfo, 0, "privilege");
	Oid			caller = GetUserId();
	Oid			creator = PG_ARGISNULL(2) ? caller : PG_GETARG_OID(2);
	BrokerPrivilege priv;
	char	   *sql;
	LOCKTAG		tag;

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("grantee must not be null")));
	priv = priv_from_name(privname);
	if (!has_privs_of_role(caller, creator) && !has_role(caller, "pgbroker_admin"))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to set the default privileges of role %s",
						quote_identifier(GetUserNameFromId(creator, false))),
				 errhint("A role sets its own; members of pgbroker_admin set any role's.")));
	sql = psprintf(grant ?
				   "ALTER DEFAULT PRIVILEGES FOR ROLE %s IN SCHEMA broker GRANT %s ON TABLES TO %s" :
				   "ALTER DEFAULT PRIVILEGES FOR ROLE %s IN SCHEMA broker REVOKE %s ON TABLES FROM %s",
				   quote_identifier(GetUserNameFromId(creator, false)), priv_sql[priv],
				   quote_identifier(GetUserNameFromId(PG_GETARG_OID(1), false)));
	/* one change of a role's default privileges at a time (see lock_holder) */
	LockTagDefaultAcl(&tag, creator);
	(void) LockAcquire(&tag, ExclusiveLock, false, false);
	SPI_connect();
	exec_as(function_owner(fcinfo), NULL, NULL, sql);
	SPI_finish();
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(pgbroker_grant_default);
PG_FUNCTION_INFO_V1(pgbroker_revoke_default);

Datum
pgbroker_grant_default(PG_FUNCTION_ARGS)
{
	return default_privileges(fcinfo, true);
}

Datum
pgbroker_revoke_default(PG_FUNCTION_ARGS)
{
	return default_privileges(fcinfo, false);
}
