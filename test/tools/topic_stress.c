/*
 * topic_stress.c - concurrent producers and readers on one pgbroker topic.
 *
 * Producers publish in transactions of one to five records (now and then
 * as one publish_batch), each record to a partition of their choosing, so
 * most transactions touch several partitions.  They sleep between
 * publishes and before COMMIT, so transactions commit in an order other
 * than the one they published in.  About one transaction in eight rolls
 * back; a few wrap one publish (or the batch) in a savepoint and roll back
 * to it, or release it.  Every payload names its record: {"p": producer,
 * "s": sequence number}.
 *
 * Readers follow every partition on their own, each with its own next
 * offset per partition, and check that broker.read hands back exactly
 * next, next+1, ... with nothing skipped, repeated or out of order, and
 * that a producer's records in a partition appear in the order its
 * transactions committed.  Once the producers are done the readers go on
 * until they reach latest_offset of every partition.
 *
 * At the end every committed record must have been read exactly once by
 * every reader, in the partition it was published to; no record of a
 * rolled-back transaction or savepoint may have been read; and the end
 * offset of each partition must equal the number of records committed to
 * it.  Exit status 0 when all of that holds, 1 when it does not (or a
 * statement fails), 2 when the server cannot be reached.
 *
 * Connection parameters come from the usual PG* environment variables.
 * With --standby CONNINFO the readers read on that hot standby instead,
 * while the producers commit on the primary: what they see arrives by
 * replay, and must be just as complete and in order.
 *
 * With --router the connection is a pgbroker_router database, whose
 * publishes commit on their nodes at once (PL/Proxy): producers then never
 * roll back or use savepoints (a rollback there undoes nothing), and the
 * rest is checked the same way across the nodes.
 *
 * usage: topic_stress [--producers N] [--readers N] [--partitions N]
 *                     [--records N] [--seed N] [--topic NAME] [--standby CONNINFO]
 *                     [--router]
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

#define MAX_TXN		5			/* records per producer transaction */
#define STALL_SECS	15			/* reader gives up after this long without progress */

enum
{
	REC_PENDING = 0,			/* not yet published, or transaction open */
	REC_COMMITTED,
	REC_ABORTED,				/* its transaction rolled back */
	REC_SAVEPOINT				/* rolled back to a savepoint; transaction committed */
};

static int	nproducers = 6;
static int	nreaders = 3;
static int	npartitions = 3;
static int	nrecords = 20000;	/* per run, split among producers */
static unsigned seed0 = 1;
static const char *topic = "stress_topic";

static int	per_producer;
static int	nslots;
static unsigned char *state;	/* [p * per_producer + s]: REC_* */
static int *part_of;			/* partition each record was published to */
static int *txn_of;				/* producer's transaction number of each record */
static int *seen;				/* [r * nslots + slot]: times reader r read it */
static int *seen_part;			/* [r * nslots + slot]: partition it was read in */

static int	producers_done = 0;
static int	ends_known = 0;
static const char *standby = NULL;	/* readers' conninfo, or NULL */
static int	router = 0;			/* through pgbroker_router: no rollbacks */
static long *final_end;			/* latest_offset per partition after producers */
static long *committed_in;		/* committed records per partition */
static long total_committed = 0;
static long total_aborted = 0;
static long total_savepoint = 0;
static long txns = 0;
static long txn_rollbacks = 0;
static long batches = 0;
static long *delivered;			/* per reader */
static long dups = 0;
static long gaps = 0;
static long reorders = 0;
static long order_violations = 0;
static long past_end = 0;
static long bad_rows = 0;
static long stalled = 0;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

/*
 * One time in three, wait 0-20 ms: half the time in the client, half in
 * the server (pg_sleep), with the transaction open either way.
 */
static void
maybe_sleep(PGconn *c, unsigned *seed)
{
	int			ms;

	if (rand_r(seed) % 3 != 0)
		return;
	ms = rand_r(seed) % 21;
	if (rand_r(seed) % 2)
		usleep(ms * 1000);
	else
	{
		char		buf[32];
		const char *params[1];

		snprintf(buf, sizeof(buf), "%.3f", ms / 1000.0);
		params[0] = buf;
		PQclear(sql_exec(c, "SELECT pg_sleep($1::float8)", 1, params));
	}
}

static void
publish_one(PGconn *c, int p, int s, int partition, int with_key)
{
	char		payload[64];
	char		key[32];
	char		pbuf[16];
	const char *params[4];

	snprintf(payload, sizeof(payload), "{\"p\": %d, \"s\": %d}", p, s);
	snprintf(key, sizeof(key), "k%d.%d", p, s);
	snprintf(pbuf, sizeof(pbuf), "%d", partition);
	params[0] = topic;
	params[1] = payload;
	params[2] = with_key ? key : NULL;
	params[3] = pbuf;
	PQclear(sql_exec(c, "SELECT broker.publish($1, $2::jsonb, $3, '{}'::jsonb, $4::int)",
					 4, params));
}

static void
publish_batch(PGconn *c, int p, int first, int n, int partition, int with_keys)
{
	char		payloads[MAX_TXN * 40 + 8];
	char		keys[MAX_TXN * 24 + 8];
	char		pbuf[16];
	char	   *w = payloads;
	char	   *k = keys;
	const char *params[4];
	int			i;

	w += sprintf(w, "{");
	k += sprintf(k, "{");
	for (i = 0; i < n; i++)
	{
		w += sprintf(w, "%s\"{\\\"p\\\": %d, \\\"s\\\": %d}\"", i ? "," : "", p, first + i);
		k += sprintf(k, "%sk%d.%d", i ? "," : "", p, first + i);
	}
	sprintf(w, "}");
	sprintf(k, "}");
	snprintf(pbuf, sizeof(pbuf), "%d", partition);
	params[0] = topic;
	params[1] = payloads;
	params[2] = with_keys ? keys : NULL;
	params[3] = pbuf;
	PQclear(sql_exec(c, "SELECT broker.publish_batch($1, $2::jsonb[], $3::text[], '{}'::jsonb, $4::int)",
					 4, params));
}

static void *
producer(void *arg)
{
	int			p = (int) (long) arg;
	unsigned	seed = seed0 * 7919 + p;
	PGconn	   *c = connect_db();
	int			s = 0;
	int			txn = 0;

	while (s < per_producer)
	{
		int			n = 1 + rand_r(&seed) % MAX_TXN;
		int			abort = (rand_r(&seed) % 8 == 0) && !router;
		int			batch = (rand_r(&seed) % 6 == 0);
		int			sp_at = -1; /* record wrapped in a savepoint */
		int			sp_undo = 0;	/* rolled back to it, else released */
		int			first = s;
		int			i;

		if (n > per_producer - s)
			n = per_producer - s;
		txn++;
		if (rand_r(&seed) % 8 == 0 && !router)
		{
			sp_at = batch ? 0 : rand_r(&seed) % n;
			sp_undo = (rand_r(&seed) % 4 != 0);
		}

		pthread_mutex_lock(&mu);
		for (i = 0; i < n; i++)
			txn_of[p * per_producer + first + i] = txn;
		pthread_mutex_unlock(&mu);

		sql_cmd(c, "BEGIN");
		if (batch)
		{
			int			partition = rand_r(&seed) % npartitions;

			pthread_mutex_lock(&mu);
			for (i = 0; i < n; i++)
				part_of[p * per_producer + first + i] = partition;
			batches++;
			pthread_mutex_unlock(&mu);
			maybe_sleep(c, &seed);
			if (sp_at == 0)
				sql_cmd(c, "SAVEPOINT sp");
			publish_batch(c, p, first, n, partition, rand_r(&seed) % 2);
			if (sp_at == 0)
				sql_cmd(c, sp_undo ? "ROLLBACK TO SAVEPOINT sp" : "RELEASE SAVEPOINT sp");
		}
		else
		{
			for (i = 0; i < n; i++)
			{
				int			partition = rand_r(&seed) % npartitions;

				pthread_mutex_lock(&mu);
				part_of[p * per_producer + first + i] = partition;
				pthread_mutex_unlock(&mu);
				if (i > 0)
					maybe_sleep(c, &seed);
				if (i == sp_at)
					sql_cmd(c, "SAVEPOINT sp");
				publish_one(c, p, first + i, partition, rand_r(&seed) % 2);
				if (i == sp_at)
					sql_cmd(c, sp_undo ? "ROLLBACK TO SAVEPOINT sp" : "RELEASE SAVEPOINT sp");
			}
		}
		maybe_sleep(c, &seed);
		sql_cmd(c, abort ? "ROLLBACK" : "COMMIT");

		pthread_mutex_lock(&mu);
		txns++;
		if (abort)
			txn_rollbacks++;
		for (i = 0; i < n; i++)
		{
			int			slot = p * per_producer + first + i;
			int			undone = sp_undo && (batch ? sp_at == 0 : i == sp_at);

			if (abort)
			{
				state[slot] = REC_ABORTED;
				total_aborted++;
			}
			else if (undone)
			{
				state[slot] = REC_SAVEPOINT;
				total_savepoint++;
			}
			else
			{
				state[slot] = REC_COMMITTED;
				committed_in[part_of[slot]]++;
				total_committed++;
			}
		}
		pthread_mutex_unlock(&mu);
		s += n;
	}
	PQfinish(c);
	pthread_mutex_lock(&mu);
	producers_done++;
	pthread_mutex_unlock(&mu);
	return NULL;
}

static void *
reader(void *arg)
{
	int			r = (int) (long) arg;
	unsigned	seed = seed0 * 104729 + r;
	PGconn	   *c = standby ? PQconnectdb(standby) : connect_db();
	long	   *next = calloc(npartitions, sizeof(long));
	long	   *end = NULL;		/* final end offsets, once known */

	/* last (transaction, sequence) seen per producer and partition */
	int		   *last_txn = calloc((size_t) nproducers * npartitions, sizeof(int));
	int		   *last_seq = malloc(sizeof(int) * nproducers * npartitions);
	double		last_progress = now_secs();
	const char *read_sql =
		"SELECT partition, offset_id, key, payload->>'p', payload->>'s'"
		" FROM broker.read($1, $2::int, $3::bigint, $4::int)";
	char		who[48];
	int			i;

	for (i = 0; i < nproducers * npartitions; i++)
		last_seq[i] = -1;
	if (PQstatus(c) != CONNECTION_OK)
	{
		fprintf(stderr, "topic_stress: reader %d: connection failed: %s", r, PQerrorMessage(c));
		exit(2);
	}
	/* on a standby, the topic exists once replay brought its creation (30 s at most) */
	for (i = 0; standby && i < 300; i++)
	{
		const char *tp[1] = {topic};
		PGresult   *tr = PQexecParams(c, "SELECT 1 FROM broker.topics WHERE topic = $1",
									  1, NULL, tp, NULL, NULL, 0);
		int			there = PQresultStatus(tr) == PGRES_TUPLES_OK && PQntuples(tr) == 1;

		PQclear(tr);
		if (there)
			break;
		usleep(100000);
	}

	for (;;)
	{
		int			got_any = 0;
		int			partition;

		for (partition = 0; partition < npartitions; partition++)
		{
			char		pbuf[16];
			char		obuf[24];
			char		mbuf[16];
			const char *params[4];
			PGresult   *res;
			int			max_records;
			int			n;

			snprintf(who, sizeof(who), "reader %d partition %d", r, partition);

			/* mostly pages of 100, now and then a short one */
			max_records = rand_r(&seed) % 4 ? 100 : 1 + rand_r(&seed) % 100;
			snprintf(pbuf, sizeof(pbuf), "%d", partition);
			snprintf(obuf, sizeof(obuf), "%ld", next[partition]);
			snprintf(mbuf, sizeof(mbuf), "%d", max_records);
			params[0] = topic;
			params[1] = pbuf;
			params[2] = obuf;
			params[3] = mbuf;
			res = sql_exec(c, read_sql, 4, params);
			n = PQntuples(res);
			if (n > max_records)
				problem(&bad_rows, 1, who,
						"read from %ld returned %d rows, asked for at most %d",
						next[partition], n, max_records);
			for (i = 0; i < n; i++)
			{
				int			rp = atoi(PQgetvalue(res, i, 0));
				long		off = atol(PQgetvalue(res, i, 1));
				int			p,
							s,
							slot,
							ps,
							txn;

				if (rp != partition)
					problem(&bad_rows, 1, who,
							"offset %ld: row says partition %d", off, rp);
				if (off > next[partition])
				{
					problem(&gaps, off - next[partition], who,
							"gap: expected offset %ld, got %ld", next[partition], off);
					next[partition] = off + 1;
				}
				else if (off < next[partition])
					problem(&reorders, 1, who,
							"expected offset %ld, got %ld (repeated or out of order)",
							next[partition], off);
				else
					next[partition] = off + 1;

				if (PQgetisnull(res, i, 3) || PQgetisnull(res, i, 4))
				{
					problem(&bad_rows, 1, who,
							"offset %ld: payload is not one of ours", off);
					continue;
				}
				p = atoi(PQgetvalue(res, i, 3));
				s = atoi(PQgetvalue(res, i, 4));
				if (p < 0 || p >= nproducers || s < 0 || s >= per_producer)
				{
					problem(&bad_rows, 1, who,
							"offset %ld: unknown record p=%d s=%d", off, p, s);
					continue;
				}
				slot = p * per_producer + s;
				if (!PQgetisnull(res, i, 2))
				{
					char		key[32];

					snprintf(key, sizeof(key), "k%d.%d", p, s);
					if (strcmp(key, PQgetvalue(res, i, 2)) != 0)
						problem(&bad_rows, 1, who,
								"offset %ld: key %s on record p=%d s=%d",
								off, PQgetvalue(res, i, 2), p, s);
				}

				if (seen[r * nslots + slot]++ > 0)
					problem(&dups, 1, who,
							"record p=%d s=%d read again at offset %ld", p, s, off);
				else
					delivered[r]++;
				seen_part[r * nslots + slot] = rp;

				/*
				 * A producer's transactions commit one after another, so
				 * within a partition its records must come in that order,
				 * and within one transaction in the order it published them.
				 */
				pthread_mutex_lock(&mu);
				txn = txn_of[slot];
				pthread_mutex_unlock(&mu);
				ps = p * npartitions + partition;
				if (txn < last_txn[ps])
					problem(&order_violations, 1, who,
							"offset %ld: record p=%d s=%d (transaction %d) after one of transaction %d",
							off, p, s, txn, last_txn[ps]);
				else if (txn == last_txn[ps] && s < last_seq[ps])
					problem(&order_violations, 1, who,
							"offset %ld: record p=%d s=%d after s=%d of the same transaction",
							off, p, s, last_seq[ps]);
				last_txn[ps] = txn;
				last_seq[ps] = s;
			}
			PQclear(res);
			if (n > 0)
				got_any = 1;
		}

		if (got_any)
			last_progress = now_secs();

		if (end == NULL)
		{
			pthread_mutex_lock(&mu);
			if (ends_known)
			{
				end = malloc(sizeof(long) * npartitions);
				memcpy(end, final_end, sizeof(long) * npartitions);
			}
			pthread_mutex_unlock(&mu);
		}
		if (end != NULL)
		{
			int			caught_up = 1;

			for (i = 0; i < npartitions; i++)
			{
				if (next[i] > end[i])
				{
					snprintf(who, sizeof(who), "reader %d partition %d", r, i);
					problem(&past_end, 1, who, "read up to offset %ld, past the end %ld",
							next[i] - 1, end[i]);
					end[i] = next[i];	/* report it once */
				}
				if (next[i] < end[i])
					caught_up = 0;
			}
			if (caught_up)
				break;
			if (!got_any && now_secs() - last_progress > STALL_SECS)
			{
				for (i = 0; i < npartitions; i++)
					if (next[i] < end[i])
						fprintf(stderr, "topic_stress: reader %d partition %d: stuck at offset %ld, end is %ld\n",
								r, i, next[i], end[i]);
				pthread_mutex_lock(&mu);
				stalled++;
				pthread_mutex_unlock(&mu);
				break;
			}
		}
		if (!got_any)
			usleep(2000 + rand_r(&seed) % 3000);
	}
	free(next);
	free(end);
	free(last_txn);
	free(last_seq);
	PQfinish(c);
	return NULL;
}

int
main(int argc, char **argv)
{
	pthread_t  *threads;
	PGconn	   *c;
	int			i,
				k;
	long		lost = 0,
				from_aborted = 0,
				from_savepoint = 0,
				wrong_partition = 0,
				bad_end = 0,
				delivered_ok = 1;
	double		t0 = now_secs();
	int			failed;

	common_init("topic_stress", 1, 1);
	for (i = 1; i < argc; i++)
	{
		if (strcmp(argv[i], "--producers") == 0 && i + 1 < argc)
			nproducers = atoi(argv[++i]);
		else if (strcmp(argv[i], "--readers") == 0 && i + 1 < argc)
			nreaders = atoi(argv[++i]);
		else if (strcmp(argv[i], "--partitions") == 0 && i + 1 < argc)
			npartitions = atoi(argv[++i]);
		else if (strcmp(argv[i], "--records") == 0 && i + 1 < argc)
			nrecords = atoi(argv[++i]);
		else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
			seed0 = (unsigned) atoi(argv[++i]);
		else if (strcmp(argv[i], "--topic") == 0 && i + 1 < argc)
			topic = argv[++i];
		else if (strcmp(argv[i], "--standby") == 0 && i + 1 < argc)
			standby = argv[++i];
		else if (strcmp(argv[i], "--router") == 0)
			router = 1;
		else
		{
			fprintf(stderr, "usage: topic_stress [--producers N] [--readers N] [--partitions N]\n"
					"                    [--records N] [--seed N] [--topic NAME] [--standby CONNINFO] [--router]\n");
			return 1;
		}
	}
	if (nproducers < 1 || nreaders < 1 || npartitions < 1 || nrecords < nproducers)
	{
		fprintf(stderr, "topic_stress: bad counts\n");
		return 1;
	}
	per_producer = nrecords / nproducers;
	nslots = nproducers * per_producer;
	state = calloc(nslots, 1);
	part_of = calloc(nslots, sizeof(int));
	txn_of = calloc(nslots, sizeof(int));
	seen = calloc((size_t) nreaders * nslots, sizeof(int));
	seen_part = calloc((size_t) nreaders * nslots, sizeof(int));
	final_end = calloc(npartitions, sizeof(long));
	committed_in = calloc(npartitions, sizeof(long));
	delivered = calloc(nreaders, sizeof(long));

	c = connect_db();
	{
		char		nbuf[16];
		const char *params[2];

		snprintf(nbuf, sizeof(nbuf), "%d", npartitions);
		params[0] = topic;
		params[1] = nbuf;
		sql_cmd(c, "SET client_min_messages = warning");
		if (!router)
			sql_cmd(c, "CREATE EXTENSION IF NOT EXISTS pgbroker");
		PQclear(sql_exec(c, "SELECT broker.drop_topic($1, if_exists => true)", 1, params));
		PQclear(sql_exec(c, "SELECT broker.create_topic($1, $2::int)", 2, params));
	}

	threads = malloc(sizeof(pthread_t) * (nproducers + nreaders));
	for (i = 0; i < nreaders; i++)
		pthread_create(&threads[nproducers + i], NULL, reader, (void *) (long) i);
	for (i = 0; i < nproducers; i++)
		pthread_create(&threads[i], NULL, producer, (void *) (long) i);
	for (i = 0; i < nproducers; i++)
		pthread_join(threads[i], NULL);

	/* every producer transaction has ended: the end offsets are final */
	for (i = 0; i < npartitions; i++)
	{
		char		pbuf[16];
		const char *params[2];
		PGresult   *r;

		snprintf(pbuf, sizeof(pbuf), "%d", i);
		params[0] = topic;
		params[1] = pbuf;
		r = sql_exec(c, "SELECT broker.latest_offset($1, $2::int)", 2, params);
		final_end[i] = PQgetisnull(r, 0, 0) ? -1 : atol(PQgetvalue(r, 0, 0));
		PQclear(r);
		if (final_end[i] != committed_in[i])
		{
			fprintf(stderr, "topic_stress: partition %d: latest_offset %ld, but %ld records committed to it\n",
					i, final_end[i], committed_in[i]);
			bad_end++;
		}
	}
	pthread_mutex_lock(&mu);
	ends_known = 1;
	pthread_mutex_unlock(&mu);
	for (i = 0; i < nreaders; i++)
		pthread_join(threads[nproducers + i], NULL);

	for (k = 0; k < nreaders; k++)
	{
		if (delivered[k] != total_committed)
			delivered_ok = 0;
		for (i = 0; i < nslots; i++)
		{
			int			n = seen[k * nslots + i];

			if (n == 0 && state[i] == REC_COMMITTED)
			{
				if (lost < MAX_REPORT)
					fprintf(stderr, "topic_stress: reader %d never read record p=%d s=%d (partition %d)\n",
							k, i / per_producer, i % per_producer, part_of[i]);
				lost++;
			}
			if (n > 0 && state[i] == REC_ABORTED)
			{
				if (from_aborted < MAX_REPORT)
					fprintf(stderr, "topic_stress: reader %d read record p=%d s=%d of a rolled-back transaction\n",
							k, i / per_producer, i % per_producer);
				from_aborted++;
			}
			if (n > 0 && state[i] == REC_SAVEPOINT)
			{
				if (from_savepoint < MAX_REPORT)
					fprintf(stderr, "topic_stress: reader %d read record p=%d s=%d rolled back to a savepoint\n",
							k, i / per_producer, i % per_producer);
				from_savepoint++;
			}
			if (n > 0 && state[i] == REC_PENDING)
				from_aborted++; /* cannot happen: every transaction has ended */
			if (n > 0 && seen_part[k * nslots + i] != part_of[i])
				wrong_partition++;
		}
	}

	{
		const char *params[1] = {topic};

		PQclear(sql_exec(c, "SELECT broker.drop_topic($1)", 1, params));
	}
	PQfinish(c);

	printf("topic_stress: %d producers, %d readers, %d partitions, %.1fs: "
		   "transactions=%ld rolled_back=%ld batches=%ld | committed=%ld aborted=%ld savepoint_undone=%ld\n",
		   nproducers, nreaders, npartitions, now_secs() - t0,
		   txns, txn_rollbacks, batches, total_committed, total_aborted, total_savepoint);
	printf("topic_stress: end offsets:");
	for (i = 0; i < npartitions; i++)
		printf(" %d=%ld/%ld", i, final_end[i], committed_in[i]);
	printf(" (latest_offset/committed)\n");
	printf("topic_stress: delivered per reader:");
	for (k = 0; k < nreaders; k++)
		printf(" %ld", delivered[k]);
	printf("\n");
	printf("topic_stress: duplicates=%ld gaps=%ld reorders=%ld order_violations=%ld lost=%ld "
		   "from_aborted=%ld from_savepoint=%ld wrong_partition=%ld past_end=%ld bad_rows=%ld "
		   "bad_end_offsets=%ld stalled_readers=%ld\n",
		   dups, gaps, reorders, order_violations, lost, from_aborted, from_savepoint,
		   wrong_partition, past_end, bad_rows, bad_end, stalled);

	failed = (dups || gaps || reorders || order_violations || lost || from_aborted ||
			  from_savepoint || wrong_partition || past_end || bad_rows || bad_end ||
			  stalled || !delivered_ok);
	printf("topic_stress: %s\n", failed ? "FAILED" : "ok");
	return failed ? 1 : 0;
}
