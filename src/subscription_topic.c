/*-------------------------------------------------------------------------
 *
 * subscription_topic.c
 *	  A subscription to a topic through a consumer group: its partitions
 *	  in offset order, each delivery counted before the handler sees it,
 *	  a failing record retried with backoff, then the partition stopped or
 *	  the record dead-lettered.
 *
 * Worker w of a subscription with c workers takes the partitions p with
 * p % c = w, so that one worker at a time handles a partition and workers
 * beyond the partition count are idle.  A batch is two transactions:
 *
 * - the look counts the next delivery of each of the worker's partitions
 *   that has records past the group's committed offset: in
 *   broker.subscription_partition, (offset, attempts) becomes (committed,
 *   attempts + 1) if the same offset was being attempted, else
 *   (committed, 1), and that commits before any handler runs, so that a
 *   handler that crashes the server is counted too.  A partition whose
 *   offset has used max_attempts is stopped (state 'failing', resumed by
 *   alter_subscription(enabled => true)), or, with on_failure =
 *   'dead_letter', the record goes to broker.subscription_dead_letter with
 *   its last error and the group moves past it.  A partition in backoff
 *   waits until its retry time.
 *
 * - the batch polls each counted partition transactionally (broker.poll
 *   with partition, as the owner: its offsets commit with the batch), one
 *   record at a time for a partition whose offset was attempted before (so
 *   that a crash is charged to the record that caused it), hands the
 *   records to the handler (subscription_worker.c), and for a partition
 *   where a record failed commits the group back to that record
 *   (broker.commit) and records the error and the retry time.  Records
 *   after a failing one in its partition are not handled: they come again
 *   after it, in order.
 *
 * Locks: those of poll and commit (the group's partition locks, for the
 * batch's transaction).  A crash leaves the counted deliveries and the
 * group's committed offsets, which is what the next look starts from.
 *
 * src/subscription_topic.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "nodes/makefuncs.h"
#include "parser/parse_type.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "common.h"
#include "subscription.h"

/* A partition counted by the look, for the batch after it. */
typedef struct ArmedPartition
{
	int32		partition;
	int64		offset;
	int32		attempts;
} ArmedPartition;

static ArmedPartition *armed = NULL;	/* in TopMemoryContext */
static int	narmed = 0;
static int	armed_size = 0;

static SPIPlanPtr plan_progress = NULL;
static SPIPlanPtr plan_arm = NULL;
static SPIPlanPtr plan_stop = NULL;
static SPIPlanPtr plan_read = NULL;
static SPIPlanPtr plan_dead = NULL;
static SPIPlanPtr plan_skip = NULL;
static SPIPlanPtr plan_poll = NULL;
static SPIPlanPtr plan_commit = NULL;
static SPIPlanPtr plan_failed = NULL;

void
SubscriptionTopicForget(void)
{
	narmed = 0;
}

/*
 * $1 topic $2 group $3 subscription $4 workers $5 worker.  The worker's
 * partitions with records past the committed offset, and what was being
 * attempted there.
 */
static const char progress_sql[] =
"SELECT l.partition, l.committed_offset, p.offset_id, p.attempts, p.retry_at, p.stopped, p.last_error"
" FROM broker.consumer_lag l"
" LEFT JOIN broker.subscription_partition p ON p.subscription_id OPERATOR(pg_catalog.=) $3"
"   AND p.partition OPERATOR(pg_catalog.=) l.partition"
" WHERE l.topic OPERATOR(pg_catalog.=) $1 AND l.consumer_group OPERATOR(pg_catalog.=) $2"
"   AND l.partition OPERATOR(pg_catalog.%) $4 OPERATOR(pg_catalog.=) $5"
"   AND l.committed_offset OPERATOR(pg_catalog.<) l.end_offset"
" ORDER BY l.partition";
enum
{
	PROG_PARTITION = 1,
	PROG_COMMITTED,
	PROG_OFFSET,
	PROG_ATTEMPTS,
	PROG_RETRY_AT,
	PROG_STOPPED,
	PROG_LAST_ERROR
};

/* $1 subscription $2 partition $3 offset $4 attempts */
static const char arm_sql[] =
"INSERT INTO broker.subscription_partition AS p (subscription_id, partition, offset_id, attempts)"
" VALUES ($1, $2, $3, $4)"
" ON CONFLICT (subscription_id, partition) DO UPDATE SET offset_id = excluded.offset_id,"
"   attempts = excluded.attempts, retry_at = NULL, stopped = false,"
"   last_error = CASE WHEN p.offset_id OPERATOR(pg_catalog.=) excluded.offset_id THEN p.last_error END,"
"   error_at = CASE WHEN p.offset_id OPERATOR(pg_catalog.=) excluded.offset_id THEN p.error_at END";

/* $1 subscription $2 partition */
static const char stop_sql[] =
"UPDATE broker.subscription_partition SET stopped = true"
" WHERE subscription_id OPERATOR(pg_catalog.=) $1 AND partition OPERATOR(pg_catalog.=) $2";

/* $1 topic $2 partition $3 offset */
static const char read_sql[] = "SELECT r FROM broker.read($1, $2, $3, 1) r";

/* $1 subscription $2 topic $3 group $4 partition $5 offset $6 record $7 error $8 attempts */
static const char dead_sql[] =
"INSERT INTO broker.subscription_dead_letter"
" (subscription, topic, consumer_group, partition, offset_id, record, error, attempts)"
" SELECT s.name, $2, $3, $4, $5, $6, $7, $8 FROM broker.subscription s"
"  WHERE s.id OPERATOR(pg_catalog.=) $1";

/* $1 topic $2 group $3 partition $4 next offset */
static const char commit_sql[] = "SELECT broker.commit($1, $2, $3, $4)";

/* The type broker.record. */
static Oid
record_type(void)
{
	return typenameTypeId(NULL, makeTypeNameFromNameList(list_make2(makeString("broker"),
																	makeString("record"))));
}

static Datum
getcol(uint64 row, int c, bool *isnull)
{
	return SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, c, isnull);
}

static void
arm(Subscription *s, int32 p, int64 offset, int32 attempts)
{
	Datum		args[4];

	args[0] = Int32GetDatum(s->id);
	args[1] = Int32GetDatum(p);
	args[2] = Int64GetDatum(offset);
	args[3] = Int32GetDatum(attempts);
	BrokerExecPlan(BrokerKeptPlan(&plan_arm, arm_sql, 4, (Oid[]) {INT4OID, INT4OID, INT8OID, INT4OID}),
				   args, NULL, false, 0);
}

/*
 * Give up on the record at offset of partition p after its attempts:
 * dead-letter it and move the group past it, or stop the partition.
 */
static void
give_up(Subscription *s, int32 p, int64 offset, int32 attempts, const char *last_error)
{
	Datum		args[8];
	char		nulls[8];
	bool		isnull;

	if (!s->dead_letter)
	{
		args[0] = Int32GetDatum(s->id);
		args[1] = Int32GetDatum(p);
		BrokerExecPlan(BrokerKeptPlan(&plan_stop, stop_sql, 2, (Oid[]) {INT4OID, INT4OID}),
					   args, NULL, false, 0);
		ereport(WARNING,
				(errmsg("subscription \"%s\" stopped partition %d of topic \"%s\" at offset " INT64_FORMAT " after %d attempts",
						s->name, p, s->source, offset, attempts),
				 last_error ? errdetail("The last error was: %s", last_error) : 0,
				 errhint("Fix the handler or the record, then resume the partition with broker.alter_subscription(%s, enabled => true).",
						 quote_literal_cstr(s->name))));
		return;
	}
	args[0] = CStringGetTextDatum(s->source);
	args[1] = Int32GetDatum(p);
	args[2] = Int64GetDatum(offset);
	BrokerExecPlan(BrokerKeptPlan(&plan_read, read_sql, 3, (Oid[]) {TEXTOID, INT4OID, INT8OID}),
				   args, NULL, false, 1);
	if (SPI_processed == 1)
	{
		Datum		rec = datumCopy(getcol(0, 1, &isnull), false, -1);

		memset(nulls, ' ', sizeof(nulls));
		args[0] = Int32GetDatum(s->id);
		args[1] = CStringGetTextDatum(s->source);
		args[2] = CStringGetTextDatum(s->group);
		args[3] = Int32GetDatum(p);
		args[4] = Int64GetDatum(offset);
		args[5] = rec;
		args[6] = last_error ? CStringGetTextDatum(last_error) : (Datum) 0;
		if (last_error == NULL)
			nulls[6] = 'n';
		args[7] = Int32GetDatum(attempts);
		BrokerExecPlan(BrokerKeptPlan(&plan_dead, dead_sql, 8,
									  (Oid[]) {INT4OID, TEXTOID, TEXTOID, INT4OID, INT8OID,
									  record_type(), TEXTOID, INT4OID}),
					   args, nulls, false, 0);
	}
	/* past it, whether or not retention already removed it */
	args[0] = CStringGetTextDatum(s->source);
	args[1] = CStringGetTextDatum(s->group);
	args[2] = Int32GetDatum(p);
	args[3] = Int64GetDatum(offset + 1);
	BrokerExecPlan(BrokerKeptPlan(&plan_skip, commit_sql, 4, (Oid[]) {TEXTOID, TEXTOID, INT4OID, INT8OID}),
				   args, NULL, false, 0);
	arm(s, p, offset + 1, 0);
}

/*
 * The look: count the next delivery of each of the worker's partitions
 * that has records (see the header).  True if it wrote anything (it must
 * commit); *due is the earliest retry time of a partition in backoff.
 */
bool
SubscriptionTopicLook(Subscription *s, int worker, TimestampTz *due)
{
	Datum		args[5];
	TimestampTz now = GetCurrentTimestamp();
	bool		wrote = false;
	uint64		i;
	uint64		nrows;
	SPITupleTable *rows;

	narmed = 0;
	*due = 0;
	args[0] = CStringGetTextDatum(s->source);
	args[1] = CStringGetTextDatum(s->group);
	args[2] = Int32GetDatum(s->id);
	args[3] = Int32GetDatum(s->concurrency);
	args[4] = Int32GetDatum(worker);
	BrokerExecPlan(BrokerKeptPlan(&plan_progress, progress_sql, 5,
								  (Oid[]) {TEXTOID, TEXTOID, INT4OID, INT4OID, INT4OID}),
				   args, NULL, true, 0);
	rows = SPI_tuptable;
	nrows = SPI_processed;
	if (armed_size < (int) nrows)
	{
		armed = armed == NULL ?
			MemoryContextAlloc(TopMemoryContext, sizeof(ArmedPartition) * nrows) :
			repalloc(armed, sizeof(ArmedPartition) * nrows);
		armed_size = (int) nrows;
	}
	for (i = 0; i < nrows; i++)
	{
		bool		isnull;
		bool		offset_null;
		int32		p;
		int64		committed;
		int64		offset;
		int32		attempts = 0;
		Datum		d;
		char	   *last_error;

		SPI_tuptable = rows;
		p = DatumGetInt32(getcol(i, PROG_PARTITION, &isnull));
		committed = DatumGetInt64(getcol(i, PROG_COMMITTED, &isnull));
		offset = DatumGetInt64(getcol(i, PROG_OFFSET, &offset_null));
		if (!offset_null && offset == committed)
		{
			attempts = DatumGetInt32(getcol(i, PROG_ATTEMPTS, &isnull));
			if (DatumGetBool(getcol(i, PROG_STOPPED, &isnull)))
				continue;
			d = getcol(i, PROG_RETRY_AT, &isnull);
			if (!isnull && DatumGetTimestampTz(d) > now)
			{
				if (*due == 0 || DatumGetTimestampTz(d) < *due)
					*due = DatumGetTimestampTz(d);
				continue;
			}
		}
		last_error = SPI_getvalue(rows->vals[i], rows->tupdesc, PROG_LAST_ERROR);
		wrote = true;
		if (attempts >= s->max_attempts)
		{
			give_up(s, p, committed, attempts, last_error);
			continue;
		}
		arm(s, p, committed, attempts + 1);
		armed[narmed].partition = p;
		armed[narmed].offset = committed;
		armed[narmed].attempts = attempts + 1;
		narmed++;
	}
	return wrote;
}

/* $1 topic $2 group $3 max $4 partition */
static const char poll_sql[] =
"SELECT r, (r).partition, (r).offset_id FROM broker.poll($1, $2, $3, partition => $4) r";
enum
{
	POLL_RECORD = 1,
	POLL_PARTITION,
	POLL_OFFSET
};

/* $1 subscription $2 partition $3 offset $4 attempts $5 retry_at $6 error */
static const char failed_sql[] =
"INSERT INTO broker.subscription_partition AS p"
" (subscription_id, partition, offset_id, attempts, retry_at, last_error, error_at)"
" VALUES ($1, $2, $3, $4, $5, $6, pg_catalog.now())"
" ON CONFLICT (subscription_id, partition) DO UPDATE SET offset_id = excluded.offset_id,"
"   attempts = excluded.attempts, retry_at = excluded.retry_at, stopped = false,"
"   last_error = excluded.last_error, error_at = excluded.error_at";

/* Records need no settling: their offsets commit with the batch. */
static bool
topic_settle(Subscription *s, SubItem *item)
{
	return true;
}

static const SubSource topic_source = {topic_settle, NULL, true};

/* The batch after a look: see the header. */
void
SubscriptionTopicBatch(Subscription *s, int worker)
{
	SubItem    *items;
	int			n = 0;
	int			cap = s->batch_size;
	int			processed = 0;
	int			failed = 0;
	const char *error = NULL;
	char		about[96] = "";
	int			a;
	int			i;

	if (narmed == 0)
		return;
	items = palloc0(sizeof(SubItem) * cap);
	SubscriptionAsOwner(s);
	for (a = 0; a < narmed && n < cap; a++)
	{
		Datum		args[4];
		int			max = armed[a].attempts > 1 ? 1 : cap - n;
		uint64		k;

		args[0] = CStringGetTextDatum(s->source);
		args[1] = CStringGetTextDatum(s->group);
		args[2] = Int32GetDatum(max);
		args[3] = Int32GetDatum(armed[a].partition);
		BrokerExecPlan(BrokerKeptPlan(&plan_poll, poll_sql, 4, (Oid[]) {TEXTOID, TEXTOID, INT4OID, INT4OID}),
					   args, NULL, false, 0);
		for (k = 0; k < SPI_processed && n < cap; k++)
		{
			bool		isnull;

			items[n].value = datumCopy(getcol(k, POLL_RECORD, &isnull), false, -1);
			items[n].partition = DatumGetInt32(getcol(k, POLL_PARTITION, &isnull));
			items[n].id = DatumGetInt64(getcol(k, POLL_OFFSET, &isnull));
			n++;
		}
	}
	SubscriptionHandle(s, items, n, &topic_source);

	/* per partition, the first failure: back to it, with its error and retry time */
	for (a = 0; a < narmed; a++)
	{
		int32		p = armed[a].partition;

		for (i = 0; i < n; i++)
		{
			Datum		args[6];
			int32		attempts;

			if (items[i].partition != p || !items[i].failed)
				continue;
			attempts = items[i].id == armed[a].offset ? armed[a].attempts : 1;
			error = items[i].error;
			snprintf(about, sizeof(about), "partition %d offset " INT64_FORMAT, p, items[i].id);
			args[0] = CStringGetTextDatum(s->source);
			args[1] = CStringGetTextDatum(s->group);
			args[2] = Int32GetDatum(p);
			args[3] = Int64GetDatum(items[i].id);
			BrokerExecPlan(BrokerKeptPlan(&plan_commit, commit_sql, 4,
										  (Oid[]) {TEXTOID, TEXTOID, INT4OID, INT8OID}),
						   args, NULL, false, 0);
			SubscriptionAsWorker();
			args[0] = Int32GetDatum(s->id);
			args[1] = Int32GetDatum(p);
			args[2] = Int64GetDatum(items[i].id);
			args[3] = Int32GetDatum(attempts);
			args[4] = TimestampTzGetDatum(TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
																	  SubscriptionBackoffMs(s, attempts)));
			args[5] = CStringGetTextDatum(items[i].error);
			BrokerExecPlan(BrokerKeptPlan(&plan_failed, failed_sql, 6,
										  (Oid[]) {INT4OID, INT4OID, INT8OID, INT4OID, TIMESTAMPTZOID, TEXTOID}),
						   args, NULL, false, 0);
			SubscriptionAsOwner(s);
			break;
		}
	}
	for (i = 0; i < n; i++)
	{
		if (items[i].done)
			processed++;
		else if (items[i].failed)
			failed++;
	}
	SubscriptionCountBatch(s, processed, failed, error, error ? about : NULL);
	narmed = 0;
}
