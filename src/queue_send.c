/*-------------------------------------------------------------------------
 *
 * queue_send.c
 *	  Producing to a queue: send, send_batch and their binary forms.
 *
 * A send is an insert in the caller's transaction: the message exists if
 * and only if that transaction commits.  Rows are inserted directly into
 * the message table and its indexes (insert.c), without an SQL statement.
 * A message with an ordering-group key joins its group under the group's
 * lock (queue_remove.c); one with a dedup key takes the key in
 * broker.dedup, whose primary key arbitrates concurrent sends of one key:
 * the second inserter waits for the first to commit and then finds its
 * row.  A queue with max_length makes room first, or refuses.
 *
 * Locks: RowExclusiveLock on the message table; an ordering group's lock
 * for a message with a group key; the dedup key's index entry.  A
 * committed send wakes waiting consumers (wait.c).  A crash undoes the
 * sends of unfinished transactions with them (ids drawn from the sequence
 * are skipped, which is all a gap in ids means).
 *
 * src/queue_send.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/index.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/execnodes.h"
#include "optimizer/optimizer.h"
#include "parser/parse_relation.h"
#include "tcop/utility.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "acl.h"
#include "insert.h"
#include "queue_metrics.h"
#include "queue_remove.h"
#include "wait.h"
#include "xact.h"

PG_FUNCTION_INFO_V1(pgbroker_queue_send);
PG_FUNCTION_INFO_V1(pgbroker_queue_send_batch);

/* Arguments shared by every message of one send call. */
typedef struct SendOptions
{
	bool		is_bytes;
	Jsonb	   *headers;
	Interval	delay;
	int32		priority;
	TimestampTz now;
} SendOptions;

/*
 * Does a message sent with this delay need a waiting consumer woken at
 * commit?  One due later than the longest a waiter sleeps before it looks
 * again is seen by that look anyway, which takes its due time into
 * account: waking one for it would only cost a look that finds nothing.
 */
static bool
queue_delay_wakes(const Interval *delay)
{
	return delay->month == 0 && delay->day == 0 &&
		delay->time <= (int64) PGBROKER_IDLE_BACKSTOP_MS * 1000;
}

static void queue_make_room(BrokerQueue *q, int64 adding, TimestampTz now);
static void queue_find_columns(BrokerQueue *q, Relation rel);
static void queue_open_indexes(BrokerQueue *q, Relation rel, ResultRelInfo *rri);

static void
queue_send_options(FunctionCallInfo fcinfo, SendOptions *opt)
{
	Oid			ptype = get_fn_expr_argtype(fcinfo->flinfo, 1);

	opt->is_bytes = (ptype == BYTEAOID || ptype == BYTEAARRAYOID);
	opt->headers = BrokerHeadersArg(fcinfo, 2, "headers");
	/* no headers are stored as NULL: cheaper, and out of the GIN index */
	if (opt->headers != NULL && JB_ROOT_COUNT(opt->headers) == 0)
		opt->headers = NULL;
	memset(&opt->delay, 0, sizeof(Interval));
	(void) BrokerIntervalArg(fcinfo, 3, "delay", &opt->delay);
	opt->priority = PG_ARGISNULL(4) ? 0 : PG_GETARG_INT32(4);
	if (opt->priority < -PGBROKER_MAX_PRIORITY || opt->priority > PGBROKER_MAX_PRIORITY)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("priority must be between %d and %d",
						-PGBROKER_MAX_PRIORITY, PGBROKER_MAX_PRIORITY)));
	opt->now = GetCurrentTimestamp();
}

/*
 * Enforce max_length before adding messages.  The count is of committed
 * messages plus our own, so concurrent producers can together overshoot
 * by their in-flight sends; see the README.
 */
static void
queue_make_room(BrokerQueue *q, int64 adding, TimestampTz now)
{
	Datum		values[2];
	bool		isnull;
	int64		have;
	int64		excess;

	values[0] = Int64GetDatum(q->max_length);
	BrokerExecPlan(QueuePlan(q, QPLAN_LENGTH,
							 "SELECT pg_catalog.count(*) FROM"
							 " (SELECT 1 FROM broker.queue_%1$d LIMIT $1) s",
							 1, (Oid[]) {INT8OID}),
				   values, NULL, false, 1);
	have = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
									   SPI_tuptable->tupdesc, 1, &isnull));
	SPI_freetuptable(SPI_tuptable);
	excess = have + adding - q->max_length;
	if (excess <= 0)
		return;
	if (!q->drop_oldest || adding > q->max_length)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("queue \"%s\" is full", QueueName(q)),
				 errdetail("The queue holds %lld messages and its maximum length is %lld.",
						   (long long) have, (long long) q->max_length),
				 errhint("Consume messages, or raise max_length with broker.alter_queue().")));
	/* $1 count $2 now */
	values[0] = Int64GetDatum(excess);
	values[1] = TimestampTzGetDatum(now);
	BrokerExecPlan(QueuePlan(q, QPLAN_DROP_OLDEST,
							 "DELETE FROM broker.queue_%1$d WHERE id OPERATOR(pg_catalog.=) ANY"
							 " (SELECT id FROM broker.queue_%1$d"
							 "   WHERE lease_until IS NULL OR lease_until OPERATOR(pg_catalog.<=) $2"
							 "   ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED)"
							 QUEUE_REMOVED_RETURNING,
							 2, (Oid[]) {INT8OID, TIMESTAMPTZOID}),
				   values, NULL, false, 0);
	QueueCount(q->id, QCOUNT_DROPPED, (int64) QueueRemovedFromResult(q, false));
}

/* ---------------------------------------------------------------------
 * Sending
 * --------------------------------------------------------------------- */

/*
 * Insert message rows directly: heap insert plus index inserts, without an
 * SQL statement.  A send is dominated by per-statement work (executor
 * start-up, plan checks, RETURNING), which this skips; a batch goes to the
 * heap with one multi-insert, as COPY does.  Queue tables carry no
 * triggers, rules or CHECK constraints, and every column is set here, so
 * nothing the executor would add is lost.  The caller runs as the queue
 * table's owner (SECURITY DEFINER); the ACL check is kept all the same.
 *
 * n messages with the given payloads; keys and group_head apply to a
 * single message (n == 1).  msg_id 0 draws ids from the table's identity
 * sequence; the ids are stored in ids[].
 */
#define QUEUE_INSERT_CHUNK	1000

static void
queue_insert_rows(BrokerQueue *q, SendOptions *opt, Datum *payloads, int n,
				  const char *group_key, bool group_head,
				  const char *dedup_key, int64 msg_id, int64 *ids)
{
	Relation	rel;
	TupleDesc	desc;
	Datum	   *values;
	bool	   *nulls;
	EState	   *estate;
	ResultRelInfo *rri;
	TupleTableSlot **slots;
	Datum		vis;
	Datum		expires = (Datum) 0;
	int			done;

	Assert(n == 1 || (group_key == NULL && dedup_key == NULL && msg_id == 0));

	rel = BrokerOpenForInsert(QueueRelid(q));
	if (!q->columns_known)
		queue_find_columns(q, rel);

	desc = RelationGetDescr(rel);
	values = palloc(sizeof(Datum) * desc->natts);
	nulls = palloc(sizeof(bool) * desc->natts);
	vis = DirectFunctionCall2(timestamptz_pl_interval,
							  TimestampTzGetDatum(opt->now),
							  IntervalPGetDatum(&opt->delay));
	if (q->has_ttl)
		expires = DirectFunctionCall2(timestamptz_pl_interval,
									  TimestampTzGetDatum(opt->now),
									  IntervalPGetDatum(&q->ttl));

	estate = CreateExecutorState();
	rri = makeNode(ResultRelInfo);
	InitResultRelInfo(rri, rel, 1, NULL, 0);
	queue_open_indexes(q, rel, rri);
	slots = palloc(sizeof(TupleTableSlot *) * Min(n, QUEUE_INSERT_CHUNK));

	for (done = 0; done < n;)
	{
		int			chunk = Min(n - done, QUEUE_INSERT_CHUNK);
		int			i;

		for (i = 0; i < chunk; i++)
		{
			int64		id = msg_id != 0 ? msg_id : nextval_internal(q->id_seq, false);

			memset(values, 0, sizeof(Datum) * desc->natts);
			memset(nulls, true, sizeof(bool) * desc->natts);
#define SET_COL(col, datum) \
	do { values[q->attnum[col] - 1] = (datum); nulls[q->attnum[col] - 1] = false; } while (0)
			SET_COL(QCOL_ID, Int64GetDatum(id));
			SET_COL(QCOL_PRIORITY, Int32GetDatum(opt->priority));
			SET_COL(QCOL_VIS, vis);
			if (group_key != NULL)
				SET_COL(QCOL_GROUP_KEY, CStringGetTextDatum(group_key));
			SET_COL(QCOL_GROUP_HEAD, BoolGetDatum(group_head));
			SET_COL(QCOL_ATTEMPT, Int32GetDatum(0));
			SET_COL(QCOL_ENQUEUED_AT, TimestampTzGetDatum(opt->now));
			if (q->has_ttl)
				SET_COL(QCOL_EXPIRES_AT, expires);
			if (dedup_key != NULL)
				SET_COL(QCOL_DEDUP_KEY, CStringGetTextDatum(dedup_key));
			if (opt->headers != NULL)
				SET_COL(QCOL_HEADERS, JsonbPGetDatum(opt->headers));
			if (payloads[done + i] != (Datum) 0)
				SET_COL(opt->is_bytes ? QCOL_PAYLOAD_BYTES : QCOL_PAYLOAD, payloads[done + i]);
#undef SET_COL
			slots[i] = MakeSingleTupleTableSlot(desc, &TTSOpsHeapTuple);
			ExecStoreHeapTuple(heap_form_tuple(desc, values, nulls), slots[i], true);
			ids[done + i] = id;
		}

		BrokerInsertSlots(rel, rri, estate, slots, chunk);
		done += chunk;
	}

	ExecCloseIndices(rri);
	FreeExecutorState(estate);
	table_close(rel, NoLock);
	QueueCount(q->id, QCOUNT_SENT, n);
	pfree(slots);
	pfree(values);
	pfree(nulls);

	/* make the rows visible to the statements that follow in this call */
	CommandCounterIncrement();
}

/*
 * Open the message table's indexes into rri, as ExecOpenIndices would,
 * with descriptions built once per backend: building an IndexInfo and
 * planning the partial indexes' predicates and the ready index's
 * expression for every send cost more than one message's index inserts.
 * A description depends only on its index (an index's definition never
 * changes), so the cache holds as long as the table has the same indexes,
 * which is checked on every call, under the table's lock; whether an
 * index takes inserts yet (a concurrent build or reindex) is read anew
 * each time.  An index AM's per-call cache (GIN's) is built per call.
 */
static void
queue_open_indexes(BrokerQueue *q, Relation rel, ResultRelInfo *rri)
{
	List	   *oids = RelationGetIndexList(rel);
	bool		same = q->index_cxt != NULL && q->nindexes == list_length(oids);
	ListCell   *lc;
	int			i;

	if (same)
	{
		i = 0;
		foreach(lc, oids)
		{
			if (lfirst_oid(lc) != q->index_oids[i++])
			{
				same = false;
				break;
			}
		}
	}
	if (!same)
	{
		MemoryContext old;

		if (q->index_cxt != NULL)
			MemoryContextDelete(q->index_cxt);
		q->nindexes = -1;
		q->index_cxt = AllocSetContextCreate(CacheMemoryContext, "pgbroker queue indexes",
											 ALLOCSET_SMALL_SIZES);
		old = MemoryContextSwitchTo(q->index_cxt);
		q->index_oids = palloc(sizeof(Oid) * Max(list_length(oids), 1));
		q->index_info = palloc(sizeof(IndexInfo *) * Max(list_length(oids), 1));
		i = 0;
		foreach(lc, oids)
		{
			Relation	index = index_open(lfirst_oid(lc), RowExclusiveLock);
			IndexInfo  *ii = BuildIndexInfo(index);
			ListCell   *ec;

			if (ii->ii_Predicate != NIL)
				ii->ii_PredicateState =
					ExecInitQual((List *) expression_planner((Expr *) ii->ii_Predicate), NULL);
			foreach(ec, ii->ii_Expressions)
				ii->ii_ExpressionsState =
					lappend(ii->ii_ExpressionsState,
							ExecInitExpr(expression_planner((Expr *) lfirst(ec)), NULL));
			q->index_oids[i] = lfirst_oid(lc);
			q->index_info[i++] = ii;
			index_close(index, NoLock);
		}
		MemoryContextSwitchTo(old);
		q->nindexes = i;
	}
	list_free(oids);

	rri->ri_NumIndices = q->nindexes;
	rri->ri_IndexRelationDescs = palloc(sizeof(Relation) * Max(q->nindexes, 1));
	rri->ri_IndexRelationInfo = q->index_info;
	for (i = 0; i < q->nindexes; i++)
	{
		Relation	index = index_open(q->index_oids[i], RowExclusiveLock);

		rri->ri_IndexRelationDescs[i] = index;
		q->index_info[i]->ii_ReadyForInserts = index->rd_index->indisready;
		q->index_info[i]->ii_AmCache = NULL;
		q->index_info[i]->ii_Context = CurrentMemoryContext;
	}
}

/* Find the attribute numbers of the message table's columns by name. */
static void
queue_find_columns(BrokerQueue *q, Relation rel)
{
	static const char *const names[QCOL_COUNT] = {
		"id", "priority", "vis", "group_key", "group_head", "attempt",
		"enqueued_at", "expires_at", "dedup_key", "headers", "payload",
		"payload_bytes"
	};
	int			i;

	for (i = 0; i < QCOL_COUNT; i++)
	{
		q->attnum[i] = attnameAttNum(rel, names[i], false);
		if (q->attnum[i] == InvalidAttrNumber)
			elog(ERROR, "column \"%s\" of message table \"%s\" is missing",
				 names[i], RelationGetRelationName(rel));
	}
	q->id_seq = getIdentitySequence(QueueRelid(q), q->attnum[QCOL_ID], false);
	q->columns_known = true;
}

/*
 * Take a dedup key for a message: $1 key $2 message id $3 now.  Returns
 * the message id when the key is ours: new, or its window has ended.
 */
static const char dedup_take_sql[] =
"INSERT INTO broker.dedup AS d (queue_id, dedup_key, message_id)"
" VALUES (%1$d, $1, $2)"
" ON CONFLICT (queue_id, dedup_key) DO UPDATE"
" SET message_id = excluded.message_id, expires_at = NULL"
" WHERE d.expires_at IS NOT NULL AND d.expires_at OPERATOR(pg_catalog.<=) $3"
" RETURNING message_id";

static int64
queue_send_one(BrokerQueue *q, Datum payload, SendOptions *opt,
			   const char *dedup_key, const char *group_key)
{
	bool		isnull;
	int64		id = 0;

	if (q->max_length > 0)
		queue_make_room(q, 1, opt->now);

	if (dedup_key != NULL)
	{
		Datum		dv[3];
		int			tries;

		if (!q->columns_known)
		{
			Relation	rel = table_open(QueueRelid(q), RowExclusiveLock);

			queue_find_columns(q, rel);
			table_close(rel, NoLock);
		}
		for (tries = 0;; tries++)
		{
			/* the id the message will have, to store with the key */
			id = nextval_internal(q->id_seq, false);
			dv[0] = CStringGetTextDatum(dedup_key);
			dv[1] = Int64GetDatum(id);
			dv[2] = TimestampTzGetDatum(opt->now);
			BrokerExecPlan(QueuePlan(q, QPLAN_DEDUP_TAKE, dedup_take_sql, 3,
									 (Oid[]) {TEXTOID, INT8OID, TIMESTAMPTZOID}),
						   dv, NULL, false, 1);
			if (SPI_processed == 1)
				break;			/* the key is ours */

			/* The key is taken: answer with the message that holds it. */
			BrokerExecPlan(QueuePlan(q, QPLAN_DEDUP_GET,
									 "SELECT message_id FROM broker.dedup"
									 " WHERE queue_id OPERATOR(pg_catalog.=) %1$d"
									 " AND dedup_key OPERATOR(pg_catalog.=) $1",
									 1, (Oid[]) {TEXTOID}),
						   dv, NULL, false, 1);
			if (SPI_processed == 1)
				return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
												   SPI_tuptable->tupdesc, 1,
												   &isnull));
			/* Its holder went away between the two statements: try again. */
			if (tries >= 3)
				elog(ERROR, "could not settle dedup key \"%s\"", dedup_key);
		}
	}

	{
		bool		head = false;

		if (group_key != NULL)
			head = !QueueOrdGroupJoin(q, group_key);
		queue_insert_rows(q, opt, &payload, 1, group_key, head, dedup_key,
						  dedup_key != NULL ? id : 0, &id);
	}
	if (queue_delay_wakes(&opt->delay))
		BrokerWakeQueueAtCommit(q->id, 1);
	if (q->notify)
		BrokerNotifyAtCommit("queue", QueueName(q));
	return id;
}

/*
 * broker.send(queue text, payload jsonb, headers jsonb, delay interval,
 *			   priority int, dedup_key text, group_key text) RETURNS bigint
 * broker.send_bytes(queue text, payload bytea, ...) RETURNS bigint
 */
static Datum
queue_send_body(PG_FUNCTION_ARGS)
{
	char	   *name = BrokerTextArg(fcinfo, 0, "queue name");
	SendOptions opt;
	Datum		payload;
	char	   *dedup_key;
	char	   *group_key;
	BrokerQueue *q;
	int64		id;

	/* rows are inserted directly, past the executor's read-only check */
	BrokerRequireWrite("broker.send()");
	/* a message may have no payload (PGMQ sends such messages) */
	payload = PG_ARGISNULL(1) ? (Datum) 0 : PG_GETARG_DATUM(1);
	queue_send_options(fcinfo, &opt);
	BrokerCheckPayload(payload, opt.headers ? JsonbPGetDatum(opt.headers) : (Datum) 0);
	dedup_key = BrokerKeyArg(fcinfo, 5, "dedup_key");
	group_key = BrokerKeyArg(fcinfo, 6, "group_key");

	SPI_connect();
	BrokerEnterCall();
	q = QueueLookup(name);
	BrokerCheckPrivilege('q', QueueName(q), q->acl_holder, BROKER_PRIV_SEND);
	BrokerCheckObjectLimit(payload, opt.headers ? JsonbPGetDatum(opt.headers) : (Datum) 0,
						   q->max_message_size, "queue", QueueName(q));
	id = queue_send_one(q, payload, &opt, dedup_key, group_key);
	SPI_finish();
	PG_RETURN_INT64(id);
}

/* Deconstruct an optional text[] of keys that must match the payload count. */
static void
queue_keys_array(FunctionCallInfo fcinfo, int argno, const char *what,
				 int nitems, Datum **keys, bool **nulls)
{
	ArrayType  *arr;
	int			n;

	*keys = NULL;
	*nulls = NULL;
	if (PG_ARGISNULL(argno))
		return;
	arr = PG_GETARG_ARRAYTYPE_P(argno);
	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s must be a one-dimensional array", what)));
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, keys, nulls, &n);
	if (n != nitems)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s must have as many elements as payloads", what),
				 errdetail("%s has %d, payloads has %d.", what, n, nitems)));
}

static char *
queue_key_elem(Datum *keys, bool *nulls, int i, const char *what)
{
	char	   *key;

	if (keys == NULL || nulls[i])
		return NULL;
	key = TextDatumGetCString(keys[i]);
	BrokerCheckKey(key, what);
	return key;
}

/*
 * broker.send_batch(queue text, payloads jsonb[], headers jsonb,
 *					 delay interval, priority int, dedup_keys text[],
 *					 group_keys text[]) RETURNS SETOF bigint
 * broker.send_batch_bytes(queue text, payloads bytea[], ...)
 *
 * Without keys the whole batch goes to the heap in one multi-insert
 * (queue_insert_rows); with keys each message goes through the
 * single-message path.  Ids come
 * back in the order of the array.
 */
static Datum
queue_send_batch_body(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *name = BrokerTextArg(fcinfo, 0, "queue name");
	SendOptions opt;
	ArrayType  *arr;
	Datum	   *elems;
	bool	   *elem_nulls;
	int			n;
	int			i;
	Datum	   *dkeys;
	bool	   *dnulls;
	Datum	   *gkeys;
	bool	   *gnulls;
	BrokerQueue *q;

	BrokerRequireWrite("broker.send_batch()");

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("payloads must not be null")));
	queue_send_options(fcinfo, &opt);
	arr = PG_GETARG_ARRAYTYPE_P(1);
	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("payloads must be a one-dimensional array")));
	if (opt.is_bytes)
		deconstruct_array(arr, BYTEAOID, -1, false, TYPALIGN_INT,
						  &elems, &elem_nulls, &n);
	else
		deconstruct_array(arr, JSONBOID, -1, false, TYPALIGN_INT,
						  &elems, &elem_nulls, &n);
	for (i = 0; i < n; i++)
	{
		if (elem_nulls[i])
			elems[i] = (Datum) 0;	/* a message without payload */
		BrokerCheckPayload(elems[i], opt.headers ? JsonbPGetDatum(opt.headers) : (Datum) 0);
	}
	queue_keys_array(fcinfo, 5, "dedup_keys", n, &dkeys, &dnulls);
	queue_keys_array(fcinfo, 6, "group_keys", n, &gkeys, &gnulls);

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC | MAT_SRF_BLESS);
	if (n == 0)
		return (Datum) 0;

	SPI_connect();
	BrokerEnterCall();
	q = QueueLookup(name);
	BrokerCheckPrivilege('q', QueueName(q), q->acl_holder, BROKER_PRIV_SEND);
	for (i = 0; i < n && q->max_message_size > 0; i++)
		BrokerCheckObjectLimit(elems[i], opt.headers ? JsonbPGetDatum(opt.headers) : (Datum) 0,
							   q->max_message_size, "queue", QueueName(q));

	if (dkeys == NULL && gkeys == NULL)
	{
		int64	   *ids = palloc(sizeof(int64) * n);

		if (q->max_length > 0)
			queue_make_room(q, n, opt.now);
		queue_insert_rows(q, &opt, elems, n, NULL, false, NULL, 0, ids);
		for (i = 0; i < n; i++)
		{
			Datum		id = Int64GetDatum(ids[i]);
			bool		isnull = false;

			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &id, &isnull);
		}
		if (queue_delay_wakes(&opt.delay))
			BrokerWakeQueueAtCommit(q->id, n);
		if (q->notify)
			BrokerNotifyAtCommit("queue", QueueName(q));
	}
	else
	{
		for (i = 0; i < n; i++)
		{
			char	   *dedup_key = queue_key_elem(dkeys, dnulls, i, "dedup key");
			char	   *group_key = queue_key_elem(gkeys, gnulls, i, "group key");
			Datum		id;
			bool		isnull = false;

			CHECK_FOR_INTERRUPTS();
			id = Int64GetDatum(queue_send_one(q, elems[i], &opt, dedup_key, group_key));
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &id, &isnull);
		}
	}
	SPI_finish();
	return (Datum) 0;
}

/* ---------------------------------------------------------------------
 * Entry points: the caller's privileges are checked above, then the
 * function runs as the extension's owner (acl.c)
 * --------------------------------------------------------------------- */

Datum
pgbroker_queue_send(PG_FUNCTION_ARGS)
{
	BrokerRequireWrite("broker.send()");
	return BrokerRunAsOwner(fcinfo, queue_send_body);
}

Datum
pgbroker_queue_send_batch(PG_FUNCTION_ARGS)
{
	BrokerRequireWrite("broker.send_batch()");
	return BrokerRunAsOwner(fcinfo, queue_send_batch_body);
}
