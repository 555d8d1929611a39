/*-------------------------------------------------------------------------
 *
 * common.c
 *	  The shared core of pgbroker's SQL-callable functions: argument checks
 *	  with their errors (one message each), running SQL through SPI, and
 *	  the per-backend cache of named objects.
 *
 * Names are user text.  They are validated here and only ever compared as
 * values: internal objects are named by ids, never by user names.
 *
 * Every statement pgbroker runs through SPI is prepared once per backend
 * as a generic plan (BrokerPrepare), with the search path pinned, and
 * kept; after the first call no statement of a hot path is planned again.
 * The plan cache revalidates kept plans on its own after DDL.
 *
 * The name caches hold what a call needs to find its object without a
 * query (ids, settings, kept plans).  Invalidation callbacks run inside
 * invalidation processing, so they only flip flags; a stale entry is read
 * again at its next lookup.  Nothing here locks anything or survives a
 * backend; a crash leaves nothing behind.
 *
 * src/common.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/detoast.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "common.h"

PG_FUNCTION_INFO_V1(pgbroker_check_name);

/* ---------------------------------------------------------------------
 * Arguments
 * --------------------------------------------------------------------- */

/*
 * Validate a queue, topic or group name: 1 to PGBROKER_MAX_NAME_LEN bytes,
 * no control characters.  Anything else (quotes, spaces, semicolons, any
 * Unicode) is allowed: names are data, never identifiers.
 */
void
BrokerCheckName(const char *name, const char *kind)
{
	size_t		len = strlen(name);
	const unsigned char *p;

	if (len == 0 || len > PGBROKER_MAX_NAME_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_NAME),
				 errmsg("invalid %s name \"%s\"", kind, name),
				 errdetail("Names must be between 1 and %d bytes long.",
						   PGBROKER_MAX_NAME_LEN)));
	for (p = (const unsigned char *) name; *p; p++)
	{
		if (*p < 0x20 || *p == 0x7f)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_NAME),
					 errmsg("invalid %s name \"%s\"", kind, name),
					 errdetail("Names must not contain control characters.")));
	}
}

/*
 * Refuse at once a call that writes where nothing may be written: on a hot
 * standby with 25006 and a message that sends the caller to the primary
 * (rather than failing later in whatever statement writes first), in a
 * read-only transaction as PostgreSQL refuses commands there.  Every
 * function that writes calls it first; those whose rows go to the heap
 * directly must, since they pass no executor check of their own.
 */
void
BrokerRequireWrite(const char *what)
{
	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("%s needs the primary: this server is a hot standby", what),
				 errdetail("A standby serves reads: broker.read, peek, the views and metrics."),
				 errhint("Connect to the primary, e.g. with several hosts and target_session_attrs=read-write.")));
	PreventCommandIfReadOnly(what);
}

/*
 * broker._require_primary(what text): the same for PL/pgSQL functions that
 * write (maintain).
 */
PG_FUNCTION_INFO_V1(pgbroker_require_primary);
Datum
pgbroker_require_primary(PG_FUNCTION_ARGS)
{
	BrokerRequireWrite(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	PG_RETURN_VOID();
}

/*
 * broker._check_name(name text, kind text): the same checks for PL/pgSQL,
 * a NULL name included.
 */
Datum
pgbroker_check_name(PG_FUNCTION_ARGS)
{
	char	   *kind = PG_ARGISNULL(1) ? "object" : text_to_cstring(PG_GETARG_TEXT_PP(1));

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s name must not be null", kind)));
	BrokerCheckName(text_to_cstring(PG_GETARG_TEXT_PP(0)), kind);
	PG_RETURN_VOID();
}

/* Fetch a text argument that must not be NULL, as a C string. */
char *
BrokerTextArg(FunctionCallInfo fcinfo, int argno, const char *what)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", what)));
	return text_to_cstring(PG_GETARG_TEXT_PP(argno));
}

/*
 * Intervals stored in settings (a dedup window, a ttl, a retry backoff)
 * are added to the current time; one so long that the sum is past the end
 * of timestamptz would make every send, ack or nack of the queue fail.
 * Anything longer than 1000 years means "forever": treat it as 1000 years.
 */
void
BrokerClampInterval(Interval *iv)
{
	Interval	max;

	memset(&max, 0, sizeof(max));
	max.month = 1000 * MONTHS_PER_YEAR;
	if (DatumGetBool(DirectFunctionCall2(interval_gt, IntervalPGetDatum(iv),
										 IntervalPGetDatum(&max))))
		*iv = max;
}

/*
 * Fetch an optional interval argument that must not be negative.  Returns
 * false (leaving *dst alone) if the argument is NULL.
 */
bool
BrokerIntervalArg(FunctionCallInfo fcinfo, int argno, const char *what,
				  Interval *dst)
{
	Interval   *iv;
	Interval	zero;

	if (PG_ARGISNULL(argno))
		return false;
	iv = PG_GETARG_INTERVAL_P(argno);
	memset(&zero, 0, sizeof(zero));
	if (DatumGetBool(DirectFunctionCall2(interval_lt, IntervalPGetDatum(iv),
										 IntervalPGetDatum(&zero))))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be negative", what)));
	*dst = *iv;
	return true;
}

/* An interval in milliseconds, a month counted as 30 days. */
int64
BrokerIntervalMs(const Interval *iv)
{
	return (int64) (iv->time / 1000) +
		(int64) iv->day * SECS_PER_DAY * 1000 +
		(int64) iv->month * DAYS_PER_MONTH * SECS_PER_DAY * 1000;
}

/* Is the interval longer than limit (an interval literal)? */
bool
BrokerIntervalExceeds(const Interval *iv, const char *limit)
{
	Datum		lim = DirectFunctionCall3(interval_in, CStringGetDatum(limit),
										  ObjectIdGetDatum(InvalidOid),
										  Int32GetDatum(-1));

	return DatumGetBool(DirectFunctionCall2(interval_gt, IntervalPGetDatum(iv), lim));
}

/* Headers: NULL means none; anything else must be a JSON object. */
Jsonb *
BrokerHeadersArg(FunctionCallInfo fcinfo, int argno, const char *what)
{
	Jsonb	   *j;

	if (PG_ARGISNULL(argno))
		return NULL;
	j = PG_GETARG_JSONB_P(argno);
	if (!JB_ROOT_IS_OBJECT(j) || JB_ROOT_IS_SCALAR(j))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a JSON object", what)));
	return j;
}

/*
 * The size a message counts against the limits: payload plus headers
 * ((Datum) 0: none; a queue message may have no payload).
 */
static Size
message_size(Datum payload, Datum headers)
{
	Size		size = 0;

	if (payload != (Datum) 0)
		size += toast_raw_datum_size(payload);
	if (headers != (Datum) 0)
		size += toast_raw_datum_size(headers);
	return size;
}

/* Enforce pgbroker.max_message_size on payload plus headers. */
void
BrokerCheckPayload(Datum payload, Datum headers)
{
	Size		size = message_size(payload, headers);

	if (size > (Size) pgbroker_max_message_size)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("message of %zu bytes exceeds the maximum of %d bytes",
						size, pgbroker_max_message_size),
				 errhint("Increase \"pgbroker.max_message_size\".")));
}

/*
 * Enforce a queue's or topic's own limit (0: none), below the server's,
 * which BrokerCheckPayload enforced already.
 */
void
BrokerCheckObjectLimit(Datum payload, Datum headers, int32 limit, const char *kind,
					   const char *name)
{
	Size		size;

	if (limit <= 0)
		return;
	size = message_size(payload, headers);
	if (size > (Size) limit)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("message of %zu bytes exceeds the maximum of %d bytes of %s \"%s\"",
						size, limit, kind, name),
				 errhint("Raise it with broker.alter_%s(%s, max_message_size => ...).",
						 kind, quote_literal_cstr(name))));
}

/* A dedup or ordering-group key lives in a btree: bound its length. */
void
BrokerCheckKey(const char *key, const char *what)
{
	if (strlen(key) > PGBROKER_MAX_KEY_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s is longer than %d bytes", what, PGBROKER_MAX_KEY_LEN)));
}

/* An optional key argument (NULL: none), checked. */
char *
BrokerKeyArg(FunctionCallInfo fcinfo, int argno, const char *what)
{
	char	   *key;

	if (PG_ARGISNULL(argno))
		return NULL;
	key = text_to_cstring(PG_GETARG_TEXT_PP(argno));
	BrokerCheckKey(key, what);
	return key;
}

/* A partition number of a topic with the given partition count. */
void
BrokerCheckPartition(int32 partition, int32 partitions, const char *topic)
{
	if (partition < 0 || partition >= partitions)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("partition %d is out of range for topic \"%s\"", partition, topic),
				 errdetail("The topic has %d partitions, numbered from 0.", partitions)));
}

/* ---------------------------------------------------------------------
 * SQL through SPI
 * --------------------------------------------------------------------- */

/*
 * Most broker functions pin search_path with a SET clause; the send
 * functions do not (on the common path they run no SQL and look up no name
 * by search path, and the SET clause cost a GUC save and restore per
 * message).  So the SQL pgbroker runs through SPI pins it here, when the
 * caller's differs: the statements see the same objects from every
 * function, and a kept plan is not replanned because its search path
 * changed (plancache checks it on every use).  Returns the GUC nest level
 * to pass to BrokerUnpinSearchPath, or 0 when nothing was pinned.
 */
int
BrokerPinSearchPath(void)
{
	int			nest;

	if (namespace_search_path != NULL &&
		strcmp(namespace_search_path, PGBROKER_SEARCH_PATH) == 0)
		return 0;
	nest = NewGUCNestLevel();
	(void) set_config_option("search_path", PGBROKER_SEARCH_PATH, PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	return nest;
}

/* Undo BrokerPinSearchPath (an error undoes it with the (sub)transaction). */
void
BrokerUnpinSearchPath(int nest)
{
	if (nest > 0)
		AtEOXact_GUC(true, nest);
}

/*
 * Prepare a statement as a generic plan, under the pinned search path,
 * and keep it for the life of the backend.
 */
SPIPlanPtr
BrokerPrepare(const char *sql, int nargs, Oid *argtypes)
{
	SPIPlanPtr	plan;
	int			pin = BrokerPinSearchPath();

	plan = SPI_prepare_cursor(sql, nargs, argtypes, CURSOR_OPT_GENERIC_PLAN);
	BrokerUnpinSearchPath(pin);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed for \"%s\": %s",
			 sql, SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "SPI_keepplan failed");
	return plan;
}

/* The plan kept in *slot, prepared on first use. */
SPIPlanPtr
BrokerKeptPlan(SPIPlanPtr *slot, const char *sql, int nargs, Oid *argtypes)
{
	if (*slot == NULL)
		*slot = BrokerPrepare(sql, nargs, argtypes);
	return *slot;
}

/*
 * Run a kept plan.  With latest_snapshot the statement sees every
 * transaction committed so far even under REPEATABLE READ; ordering-group
 * bookkeeping needs that, because it runs under a group lock that has just
 * waited for the previous holder to commit.
 */
int
BrokerExecPlan(SPIPlanPtr plan, Datum *values, const char *nulls,
			   bool latest_snapshot, long tcount)
{
	int			rc;
	int			pin = BrokerPinSearchPath();

	if (latest_snapshot)
		rc = SPI_execute_snapshot(plan, values, nulls, GetLatestSnapshot(),
								  InvalidSnapshot, false, false, tcount);
	else
		rc = SPI_execute_plan(plan, values, nulls, false, tcount);
	BrokerUnpinSearchPath(pin);
	if (rc < 0)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
	return rc;
}

/* ---------------------------------------------------------------------
 * Name caches
 * --------------------------------------------------------------------- */

/*
 * Mark entries stale.  Runs inside invalidation processing: it must not
 * fail or touch the database, so it only flips flags.
 */
static void
name_cache_relcache_cb(Datum arg, Oid relid)
{
	BrokerNameCache *cache = (BrokerNameCache *) DatumGetPointer(arg);
	HASH_SEQ_STATUS status;
	BrokerCacheEntry *e;
	bool		all = (relid == InvalidOid ||
					   (OidIsValid(cache->catalog_relid) && relid == cache->catalog_relid));

	if (all)
	{
		cache->resets++;
		if (cache->on_reset)
			cache->on_reset();
	}
	hash_seq_init(&status, cache->htab);
	while ((e = hash_seq_search(&status)) != NULL)
	{
		if (all || e->relid == relid)
			e->valid = false;
	}
}

/*
 * Create a cache of entries of entrysize bytes (each beginning with a
 * BrokerCacheEntry) that lives as long as the backend.
 */
void
BrokerNameCacheInit(BrokerNameCache *cache, const char *name, Size entrysize,
					void (*on_reset) (void))
{
	HASHCTL		ctl;

	Assert(entrysize >= sizeof(BrokerCacheEntry));
	ctl.keysize = PGBROKER_MAX_NAME_LEN + 1;
	ctl.entrysize = entrysize;
	ctl.hcxt = CacheMemoryContext;
	cache->htab = hash_create(name, 64, &ctl, HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	cache->catalog_relid = InvalidOid;
	cache->resets = 0;
	cache->on_reset = on_reset;
	CacheRegisterRelcacheCallback(name_cache_relcache_cb, PointerGetDatum(cache));
}
