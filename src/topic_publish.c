/*-------------------------------------------------------------------------
 *
 * topic_publish.c
 *	  Publishing to a topic: publish, publish_batch, their binary forms,
 *	  and partition_for.
 *
 * publish() does not write the record: it checks it, picks its partition
 * and hands it to topic_append.c, which appends it to the log when the
 * transaction commits (see the header of topic_append.c for why).
 *
 * Partitions: an explicit partition wins; else a record with a key goes to
 * hashtextextended(key, 0), read as an unsigned 64-bit number, modulo the
 * partition count (broker.partition_for() computes it); else the record
 * goes to this transaction's sticky partition of the topic, so that a
 * transaction without keys takes one partition lock at commit.
 *
 * Dedup keys are taken in broker.topic_dedup in the producer's
 * transaction: a concurrent producer of the same key waits for it on the
 * key's index entry.  Nothing else is locked here, and a crash leaves
 * nothing: the records lived in the producer's memory.
 *
 * src/topic_publish.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "tcop/utility.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "acl.h"
#include "topic_append.h"
#include "wait.h"
#include "xact.h"

PG_FUNCTION_INFO_V1(pgbroker_publish);
PG_FUNCTION_INFO_V1(pgbroker_publish_batch);
PG_FUNCTION_INFO_V1(pgbroker_partition_for);

static SPIPlanPtr dedup_plan = NULL;

static int32
topic_key_partition(BrokerTopic *t, const char *key)
{
	uint64		h = DatumGetUInt64(hash_bytes_extended((const unsigned char *) key,
													   strlen(key), 0));

	return (int32) (h % (uint64) t->partitions);
}

static int32
topic_partition_arg(FunctionCallInfo fcinfo, int argno, BrokerTopic *t)
{
	int32		p = PG_GETARG_INT32(argno);

	BrokerCheckPartition(p, t->partitions, TopicName(t));
	return p;
}

/*
 * A dedup key seen on the topic within its dedup window drops the record.
 * The key is taken in the producer's transaction, so a concurrent
 * producer of the same key waits for it and then sees it.
 */
static bool
topic_dedup_take(BrokerTopic *t, const char *dedup_key)
{
	Datum		values[4];
	TimestampTz now = GetCurrentTimestamp();

	if (!t->has_dedup)
		return true;
	BrokerCheckKey(dedup_key, "dedup_key");
	values[0] = Int32GetDatum(t->id);
	values[1] = CStringGetTextDatum(dedup_key);
	values[2] = DirectFunctionCall2(timestamptz_pl_interval, TimestampTzGetDatum(now),
									IntervalPGetDatum(&t->dedup_window));
	values[3] = TimestampTzGetDatum(now);
	BrokerExecPlan(BrokerKeptPlan(&dedup_plan,
								  "INSERT INTO broker.topic_dedup AS d (topic_id, dedup_key, expires_at)"
								  " VALUES ($1, $2, $3)"
								  " ON CONFLICT (topic_id, dedup_key) DO UPDATE SET expires_at = EXCLUDED.expires_at"
								  " WHERE d.expires_at OPERATOR(pg_catalog.<=) $4"
								  " RETURNING 1",
								  4, (Oid[]) {INT4OID, TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID}),
				   values, NULL, false, 0);
	return SPI_processed == 1;
}

static Jsonb *
topic_headers(FunctionCallInfo fcinfo, int argno)
{
	Jsonb	   *h = BrokerHeadersArg(fcinfo, argno, "headers");

	/* no headers are stored as NULL */
	if (h != NULL && JB_ROOT_COUNT(h) == 0)
		h = NULL;
	return h;
}

static void
topic_check_record(bool payload_null, const char *key)
{
	if (payload_null && key == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("payload must not be null for a record without a key"),
				 errhint("A record with a key and a null payload is a tombstone; without a key it means nothing.")));
}

/*
 * broker.publish(topic text, payload jsonb, key text, headers jsonb,
 *				  partition int, dedup_key text) RETURNS void
 * broker.publish_bytes(topic text, payload bytea, ...) RETURNS void
 */
static Datum
publish_body(PG_FUNCTION_ARGS)
{
	char	   *name = BrokerTextArg(fcinfo, 0, "topic name");
	bool		is_bytes = get_fn_expr_argtype(fcinfo->flinfo, 1) == BYTEAOID;
	char	   *key = PG_ARGISNULL(2) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(2));
	Jsonb	   *headers = topic_headers(fcinfo, 3);
	Datum		payload = PG_ARGISNULL(1) ? (Datum) 0 : PG_GETARG_DATUM(1);
	BrokerTopic *t;
	int32		partition;

	BrokerRequireWrite("broker.publish()");
	topic_check_record(PG_ARGISNULL(1), key);
	if (payload != (Datum) 0 || headers != NULL)
		BrokerCheckPayload(payload != (Datum) 0 ? payload : PointerGetDatum(cstring_to_text("")),
						  headers ? JsonbPGetDatum(headers) : (Datum) 0);

	SPI_connect();
	BrokerEnterCall();
	t = TopicLookup(name);
	BrokerCheckPrivilege('t', TopicName(t), t->acl_holder, BROKER_PRIV_SEND);
	if (payload != (Datum) 0 || headers != NULL)
		BrokerCheckObjectLimit(payload != (Datum) 0 ? payload : PointerGetDatum(cstring_to_text("")),
							   headers ? JsonbPGetDatum(headers) : (Datum) 0,
							   t->max_message_size, "topic", TopicName(t));
	if (!PG_ARGISNULL(4))
		partition = topic_partition_arg(fcinfo, 4, t);
	else if (key != NULL)
		partition = topic_key_partition(t, key);
	else
		partition = TopicStickyPartition(t);
	if (PG_ARGISNULL(5) ||
		topic_dedup_take(t, text_to_cstring(PG_GETARG_TEXT_PP(5))))
	{
		TopicAppendRecord(t, partition, key, payload, is_bytes, headers);
		if (t->notify)
			BrokerNotifyAtCommit("topic", TopicName(t));
	}
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * broker.publish_batch(topic text, payloads jsonb[], keys text[],
 *						headers jsonb, partition int) RETURNS void
 * broker.publish_batch_bytes(topic text, payloads bytea[], ...)
 */
static Datum
publish_batch_body(PG_FUNCTION_ARGS)
{
	char	   *name = BrokerTextArg(fcinfo, 0, "topic name");
	bool		is_bytes = get_fn_expr_argtype(fcinfo->flinfo, 1) == BYTEAARRAYOID;
	Jsonb	   *headers = topic_headers(fcinfo, 3);
	ArrayType  *arr;
	Datum	   *payloads;
	bool	   *payload_nulls;
	int			n;
	Datum	   *keys = NULL;
	bool	   *key_nulls = NULL;
	int			nkeys = 0;
	BrokerTopic *t;
	int32		fixed = -1;
	int32		sticky = -1;
	Datum	   *parts = NULL;	/* partitions: one per payload, or NULL */
	bool	   *part_nulls = NULL;
	int			nparts = 0;
	int			i;

	BrokerRequireWrite("broker.publish_batch()");
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("payloads must not be null")));
	arr = PG_GETARG_ARRAYTYPE_P(1);
	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("payloads must be a one-dimensional array")));
	deconstruct_array(arr, is_bytes ? BYTEAOID : JSONBOID, -1, false, TYPALIGN_INT,
					  &payloads, &payload_nulls, &n);
	if (!PG_ARGISNULL(2))
	{
		ArrayType  *karr = PG_GETARG_ARRAYTYPE_P(2);

		deconstruct_array(karr, TEXTOID, -1, false, TYPALIGN_INT,
						  &keys, &key_nulls, &nkeys);
		if (nkeys != n)
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("keys has %d elements but payloads has %d", nkeys, n)));
	}
	for (i = 0; i < n; i++)
	{
		bool		has_key = keys != NULL && !key_nulls[i];

		topic_check_record(payload_nulls[i], has_key ? "" : NULL);
		if (!payload_nulls[i])
			BrokerCheckPayload(payloads[i], headers ? JsonbPGetDatum(headers) : (Datum) 0);
	}

	SPI_connect();
	BrokerEnterCall();
	t = TopicLookup(name);
	BrokerCheckPrivilege('t', TopicName(t), t->acl_holder, BROKER_PRIV_SEND);
	for (i = 0; i < n && t->max_message_size > 0; i++)
	{
		if (!payload_nulls[i])
			BrokerCheckObjectLimit(payloads[i], headers ? JsonbPGetDatum(headers) : (Datum) 0,
								   t->max_message_size, "topic", TopicName(t));
	}
	if (!PG_ARGISNULL(4))
		fixed = topic_partition_arg(fcinfo, 4, t);
	if (!PG_ARGISNULL(5))
	{
		ArrayType  *parr = PG_GETARG_ARRAYTYPE_P(5);

		if (fixed >= 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("partition and partitions cannot both be given")));
		deconstruct_array(parr, INT4OID, sizeof(int32), true, TYPALIGN_INT,
						  &parts, &part_nulls, &nparts);
		if (nparts != n)
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("partitions has %d elements but payloads has %d", nparts, n)));
		for (i = 0; i < n; i++)
			if (!part_nulls[i])
				BrokerCheckPartition(DatumGetInt32(parts[i]), t->partitions, TopicName(t));
	}
	for (i = 0; i < n; i++)
	{
		char	   *key = (keys != NULL && !key_nulls[i]) ? TextDatumGetCString(keys[i]) : NULL;
		int32		partition;

		if (parts != NULL && !part_nulls[i])
			partition = DatumGetInt32(parts[i]);
		else if (fixed >= 0)
			partition = fixed;
		else if (key != NULL)
			partition = topic_key_partition(t, key);
		else
		{
			if (sticky < 0)
				sticky = TopicStickyPartition(t);
			partition = sticky;
		}
		TopicAppendRecord(t, partition, key, payload_nulls[i] ? (Datum) 0 : payloads[i],
						  is_bytes, headers);
	}
	if (n > 0 && t->notify)
		BrokerNotifyAtCommit("topic", TopicName(t));
	SPI_finish();
	PG_RETURN_VOID();
}

/* broker.partition_for(topic text, key text) RETURNS int */
static Datum
partition_for_body(PG_FUNCTION_ARGS)
{
	char	   *name = BrokerTextArg(fcinfo, 0, "topic name");
	char	   *key = BrokerTextArg(fcinfo, 1, "key");
	BrokerTopic *t;
	int32		p;

	SPI_connect();
	t = TopicLookup(name);
	/* producers and readers both may ask */
	if (!BrokerHasPrivilege(BrokerCaller(), 't', t->acl_holder, BROKER_PRIV_SEND))
		BrokerCheckPrivilege('t', TopicName(t), t->acl_holder, BROKER_PRIV_BROWSE);
	p = topic_key_partition(t, key);
	SPI_finish();
	PG_RETURN_INT32(p);
}

/* ---------------------------------------------------------------------
 * Entry points: the caller's privileges are checked above, then the
 * function runs as the extension's owner (acl.c)
 * --------------------------------------------------------------------- */

Datum
pgbroker_publish(PG_FUNCTION_ARGS)
{
	BrokerRequireWrite("broker.publish()");
	return BrokerRunAsOwner(fcinfo, publish_body);
}

Datum
pgbroker_publish_batch(PG_FUNCTION_ARGS)
{
	BrokerRequireWrite("broker.publish_batch()");
	return BrokerRunAsOwner(fcinfo, publish_batch_body);
}

Datum
pgbroker_partition_for(PG_FUNCTION_ARGS)
{
	return BrokerRunAsOwner(fcinfo, partition_for_body);
}
