/*
 * group_stress.c - consumer groups on one pgbroker topic, with consumers
 * killed under them.
 *
 * Producers publish in transactions of one to eight records (now and then
 * as one publish_batch), each record to a partition of their choosing;
 * about one transaction in eight rolls back.  Every payload names its
 * record: {"p": producer, "s": sequence number}.  The groups are created at
 * 'earliest' before anything is published.
 *
 * Each group has its own consumers, in one of two modes:
 *
 * transactional: BEGIN; poll (now and then twice); COMMIT.  The records
 *     count as processed only once COMMIT has succeeded; about one
 *     transaction in eight rolls back on purpose, and those records must
 *     come back.  When the connection is lost at COMMIT the outcome is
 *     looked up with pg_xact_status.  Every committed record must be
 *     processed exactly once by the group, and per partition the committed
 *     polls must follow one another: offsets 0, 1, 2, ... up to the end,
 *     each exactly once.
 *
 * leased: poll with a consumer name and a two-second lease (autocommit),
 *     count the records as processed, then commit the next offset of each
 *     partition (one commit per partition, or one commit of the records;
 *     a commit cut off by a lost connection is tried again).  Now and then
 *     a consumer skips the commit, takes longer than its lease (its commit
 *     may then fail with PB001: someone else took the partition over),
 *     extends its lease halfway, or "crashes" before processing what it
 *     got: those records do not count, and it stays away for longer than
 *     the lease, so that they must be handed out again.  Every committed
 *     record must be processed at least once; within one poll the offsets
 *     of a partition must increase, one by one.
 *
 * A killer thread terminates a random consumer's backend every --kill-every
 * milliseconds (pg_terminate_backend from its own connection); the consumer
 * reconnects, under the same name, and carries on.  A killed transaction is
 * a rolled-back one.
 *
 * No group may ever see a record of a rolled-back transaction.  Once the
 * producers are done the consumers go on until every group has processed
 * every committed record, or nothing has moved for STALL_SECS seconds.
 * At the end the transactional groups must show no lag in
 * broker.consumer_lag.  Exit status 0 when all of that holds, 1 when it
 * does not (or a statement fails unexpectedly), 2 when the server cannot be
 * reached.
 *
 * Connection parameters come from the usual PG* environment variables.
 *
 * usage: group_stress [--producers N] [--groups N] [--consumers N]
 *                     [--partitions N] [--records N]
 *                     [--mode transactional|leased|both] [--kill-every MS]
 *                     [--seed N] [--topic NAME]
 *
 * This file holds the options, the producers and the checks at the end;
 * the consumers and the killer are in group_stress_consumers.c.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "group_stress.h"

#define MAX_TXN		8			/* records per producer transaction */
#define STALL_SECS	20			/* give up after this long without progress */

enum
{
	REC_PENDING = 0,			/* not yet published, or transaction open */
	REC_COMMITTED,
	REC_ABORTED					/* its transaction rolled back */
};

enum
{
	MODE_TRANSACTIONAL,
	MODE_LEASED,
	MODE_BOTH
};

int			nproducers = 3;
int			ngroups = 2;
int			nconsumers = 3;		/* per group */
int			npartitions = 4;
static int	nrecords = 20000;	/* attempted per run, split among producers */
static int	mode = MODE_BOTH;
int			kill_every = 300;	/* ms; 0: no killer */
unsigned	seed0 = 1;
const char *topic = "group_stress";

int			per_producer;
int			nslots;
static unsigned char *state;	/* [p * per_producer + s]: REC_* */
int		   *part_of;			/* partition each record was published to */
int		   *seen;				/* [g * nslots + slot]: times group g processed it */
int		   *off_slot;			/* [partition * nslots + offset]: slot, -1 unknown */
Group	   *groups;
Consumer   *consumers;

static long *committed_in;		/* committed records per partition */
static long *final_end;			/* latest_offset per partition after producers */
static long total_committed = 0;
static long total_aborted = 0;
static long txns = 0;
static long txn_rollbacks = 0;
static long batches = 0;
long		kills = 0;
long		reconnects = 0;
volatile int stop = 0;

/* problems, counted by problem() */
long		order_violations = 0;
long		bad_rows = 0;
long		errors = 0;
long		dup_reports = 0;
static long stalled = 0;
static long bad_end = 0;

pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

/* ---------------------------------------------------------------- producers */

static void
publish_one(PGconn *c, int p, int s, int partition)
{
	char		payload[64];
	char		pbuf[16];
	const char *params[3];

	snprintf(payload, sizeof(payload), "{\"p\": %d, \"s\": %d}", p, s);
	snprintf(pbuf, sizeof(pbuf), "%d", partition);
	params[0] = topic;
	params[1] = payload;
	params[2] = pbuf;
	PQclear(sql_exec(c, "SELECT broker.publish($1, $2::jsonb, partition => $3::int)",
					 3, params));
}

static void
publish_batch(PGconn *c, int p, int first, int n, int partition)
{
	char		payloads[MAX_TXN * 40 + 8];
	char		pbuf[16];
	char	   *w = payloads;
	const char *params[3];
	int			i;

	w += sprintf(w, "{");
	for (i = 0; i < n; i++)
		w += sprintf(w, "%s\"{\\\"p\\\": %d, \\\"s\\\": %d}\"", i ? "," : "", p, first + i);
	sprintf(w, "}");
	snprintf(pbuf, sizeof(pbuf), "%d", partition);
	params[0] = topic;
	params[1] = payloads;
	params[2] = pbuf;
	PQclear(sql_exec(c, "SELECT broker.publish_batch($1, $2::jsonb[], partition => $3::int)",
					 3, params));
}

static void *
producer(void *arg)
{
	int			p = (int) (long) arg;
	unsigned	seed = seed0 * 7919 + p;
	PGconn	   *c = connect_db();
	int			s = 0;

	while (s < per_producer)
	{
		int			n = 1 + rand_r(&seed) % MAX_TXN;
		int			abort = (rand_r(&seed) % 8 == 0);
		int			batch = (rand_r(&seed) % 6 == 0);
		int			first = s;
		int			i;

		if (n > per_producer - s)
			n = per_producer - s;

		sql_cmd(c, "BEGIN");
		if (batch)
		{
			int			partition = rand_r(&seed) % npartitions;

			pthread_mutex_lock(&mu);
			for (i = 0; i < n; i++)
				part_of[p * per_producer + first + i] = partition;
			batches++;
			pthread_mutex_unlock(&mu);
			publish_batch(c, p, first, n, partition);
		}
		else
		{
			for (i = 0; i < n; i++)
			{
				int			partition = rand_r(&seed) % npartitions;

				pthread_mutex_lock(&mu);
				part_of[p * per_producer + first + i] = partition;
				pthread_mutex_unlock(&mu);
				publish_one(c, p, first + i, partition);
			}
		}
		if (rand_r(&seed) % 4 == 0)
			usleep(rand_r(&seed) % 3000);	/* commit late */
		sql_cmd(c, abort ? "ROLLBACK" : "COMMIT");

		pthread_mutex_lock(&mu);
		txns++;
		if (abort)
			txn_rollbacks++;
		for (i = 0; i < n; i++)
		{
			int			slot = p * per_producer + first + i;

			if (abort)
			{
				state[slot] = REC_ABORTED;
				total_aborted++;
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
	return NULL;
}

/* ---------------------------------------------------------------- main */

/* committed records group g has processed at least once */
static long
covered(int g)
{
	long		n = 0;
	int			i;

	for (i = 0; i < nslots; i++)
		if (state[i] == REC_COMMITTED && seen[g * nslots + i] > 0)
			n++;
	return n;
}

static int
cmp_segment(const void *a, const void *b)
{
	const Segment *x = a;
	const Segment *y = b;

	return (x->first > y->first) - (x->first < y->first);
}

int
main(int argc, char **argv)
{
	pthread_t  *producers;
	pthread_t  *threads;
	pthread_t	killer_thread;
	PGconn	   *c;
	int			i,
				g,
				nthreads;
	long		lost = 0,
				dups = 0,
				from_aborted = 0,
				lease_lost = 0,
				bad_lag = 0;
	double		t0 = now_secs();
	double		last_progress;
	double		t_produced;
	long		last_covered = -1;
	int			failed;

	for (i = 1; i < argc; i++)
	{
		if (strcmp(argv[i], "--producers") == 0 && i + 1 < argc)
			nproducers = atoi(argv[++i]);
		else if (strcmp(argv[i], "--groups") == 0 && i + 1 < argc)
			ngroups = atoi(argv[++i]);
		else if (strcmp(argv[i], "--consumers") == 0 && i + 1 < argc)
			nconsumers = atoi(argv[++i]);
		else if (strcmp(argv[i], "--partitions") == 0 && i + 1 < argc)
			npartitions = atoi(argv[++i]);
		else if (strcmp(argv[i], "--records") == 0 && i + 1 < argc)
			nrecords = atoi(argv[++i]);
		else if (strcmp(argv[i], "--kill-every") == 0 && i + 1 < argc)
			kill_every = atoi(argv[++i]);
		else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
			seed0 = (unsigned) atoi(argv[++i]);
		else if (strcmp(argv[i], "--topic") == 0 && i + 1 < argc)
			topic = argv[++i];
		else if (strcmp(argv[i], "--mode") == 0 && i + 1 < argc)
		{
			i++;
			if (strcmp(argv[i], "transactional") == 0)
				mode = MODE_TRANSACTIONAL;
			else if (strcmp(argv[i], "leased") == 0)
				mode = MODE_LEASED;
			else if (strcmp(argv[i], "both") == 0)
				mode = MODE_BOTH;
			else
			{
				fprintf(stderr, "group_stress: --mode is transactional, leased or both\n");
				return 1;
			}
		}
		else
		{
			fprintf(stderr, "usage: group_stress [--producers N] [--groups N] [--consumers N]\n"
					"                    [--partitions N] [--records N]\n"
					"                    [--mode transactional|leased|both] [--kill-every MS]\n"
					"                    [--seed N] [--topic NAME]\n");
			return 1;
		}
	}
	if (nproducers < 1 || ngroups < 1 || nconsumers < 1 || npartitions < 1 ||
		nrecords < nproducers || kill_every < 0)
	{
		fprintf(stderr, "group_stress: bad counts\n");
		return 1;
	}
	per_producer = nrecords / nproducers;
	nslots = nproducers * per_producer;
	state = calloc(nslots, 1);
	part_of = calloc(nslots, sizeof(int));
	seen = calloc((size_t) ngroups * nslots, sizeof(int));
	off_slot = malloc(sizeof(int) * (size_t) npartitions * nslots);
	for (i = 0; i < npartitions * nslots; i++)
		off_slot[i] = -1;
	committed_in = calloc(npartitions, sizeof(long));
	final_end = calloc(npartitions, sizeof(long));
	groups = calloc(ngroups, sizeof(Group));
	for (g = 0; g < ngroups; g++)
	{
		Group	   *gr = &groups[g];

		gr->leased = (mode == MODE_LEASED || (mode == MODE_BOTH && g % 2 == 1));
		snprintf(gr->name, sizeof(gr->name), "g%d", g);
		gr->segs = calloc(npartitions, sizeof(Segment *));
		gr->nsegs = calloc(npartitions, sizeof(int));
		gr->maxsegs = calloc(npartitions, sizeof(int));
	}
	consumers = calloc((size_t) ngroups * nconsumers, sizeof(Consumer));
	for (i = 0; i < ngroups * nconsumers; i++)
	{
		Consumer   *cs = &consumers[i];

		cs->g = i / nconsumers;
		cs->k = i % nconsumers;
		snprintf(cs->name, sizeof(cs->name), "g%d-c%d", cs->g, cs->k);
		cs->seed = seed0 * 104729 + i;
	}

	c = connect_db();
	{
		char		nbuf[16];
		const char *params[3];

		snprintf(nbuf, sizeof(nbuf), "%d", npartitions);
		params[0] = topic;
		params[1] = nbuf;
		sql_cmd(c, "SET client_min_messages = warning");
		sql_cmd(c, "CREATE EXTENSION IF NOT EXISTS pgbroker");
		PQclear(sql_exec(c, "SELECT broker.drop_topic($1, if_exists => true)", 1, params));
		PQclear(sql_exec(c, "SELECT broker.create_topic($1, partitions => $2::int)", 2, params));
		for (g = 0; g < ngroups; g++)
		{
			params[1] = groups[g].name;
			params[2] = "earliest";
			PQclear(sql_exec(c, "SELECT broker.create_group($1, $2, $3)", 3, params));
		}
	}

	nthreads = ngroups * nconsumers;
	threads = malloc(sizeof(pthread_t) * nthreads);
	producers = malloc(sizeof(pthread_t) * nproducers);
	for (i = 0; i < nthreads; i++)
		pthread_create(&threads[i], NULL, consumer_main, &consumers[i]);
	if (kill_every > 0)
		pthread_create(&killer_thread, NULL, killer_main, NULL);
	for (i = 0; i < nproducers; i++)
		pthread_create(&producers[i], NULL, producer, (void *) (long) i);
	for (i = 0; i < nproducers; i++)
		pthread_join(producers[i], NULL);
	t_produced = now_secs() - t0;

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
			problem(&bad_end, 1, "end offsets",
					"partition %d: latest_offset %ld, but %ld records committed to it",
					i, final_end[i], committed_in[i]);
	}

	/* let the consumers catch up */
	last_progress = now_secs();
	for (;;)
	{
		long		sum = 0;
		int			done = 1;

		pthread_mutex_lock(&mu);
		for (g = 0; g < ngroups; g++)
		{
			long		n = covered(g);

			sum += n;
			if (n < total_committed)
				done = 0;
			else if (groups[g].done_at == 0)
				groups[g].done_at = now_secs() - t0;
		}
		pthread_mutex_unlock(&mu);
		if (done)
			break;
		if (sum != last_covered)
		{
			last_covered = sum;
			last_progress = now_secs();
		}
		else if (now_secs() - last_progress > STALL_SECS)
		{
			pthread_mutex_lock(&mu);
			for (g = 0; g < ngroups; g++)
				fprintf(stderr, "group_stress: group %s: stuck at %ld of %ld committed records\n",
						groups[g].name, covered(g), total_committed);
			pthread_mutex_unlock(&mu);
			stalled++;
			break;
		}
		usleep(50000);
	}
	stop = 1;
	for (i = 0; i < nthreads; i++)
		pthread_join(threads[i], NULL);
	if (kill_every > 0)
		pthread_join(killer_thread, NULL);

	/* every record, every group */
	for (g = 0; g < ngroups; g++)
	{
		Group	   *gr = &groups[g];

		for (i = 0; i < nslots; i++)
		{
			int			n = seen[g * nslots + i];

			if (n == 0 && state[i] == REC_COMMITTED)
			{
				if (gr->lost < MAX_REPORT)
					fprintf(stderr, "group_stress: group %s never processed record p=%d s=%d (partition %d)\n",
							gr->name, i / per_producer, i % per_producer, part_of[i]);
				gr->lost++;
			}
			if (n > 0 && state[i] != REC_COMMITTED)
			{
				if (gr->from_aborted < MAX_REPORT)
					fprintf(stderr, "group_stress: group %s processed record p=%d s=%d of a rolled-back transaction\n",
							gr->name, i / per_producer, i % per_producer);
				gr->from_aborted++;
			}
			if (n > 1 && !gr->leased)
				gr->dups += n - 1;
		}
		lost += gr->lost;
		from_aborted += gr->from_aborted;
		dups += gr->dups;
		lease_lost += gr->lease_lost;

		if (gr->leased)
			continue;

		/* the committed polls of each partition: 0, 1, 2, ... up to the end */
		for (i = 0; i < npartitions; i++)
		{
			long		expect = 0;
			int			k;

			qsort(gr->segs[i], gr->nsegs[i], sizeof(Segment), cmp_segment);
			for (k = 0; k < gr->nsegs[i]; k++)
			{
				Segment    *sg = &gr->segs[i][k];

				if (sg->first != expect)
					problem(&order_violations, 1, gr->name,
							"partition %d: committed polls cover offsets %ld-%ld next, expected %ld",
							i, sg->first, sg->last, expect);
				if (sg->last + 1 > expect)
					expect = sg->last + 1;
			}
			if (expect != final_end[i])
				problem(&order_violations, 1, gr->name,
						"partition %d: committed polls end at offset %ld, end offset is %ld",
						i, expect, final_end[i]);
		}

		/* nothing left to consume */
		{
			const char *params[2];
			PGresult   *r;
			int			k;

			params[0] = topic;
			params[1] = gr->name;
			r = sql_exec(c, "SELECT partition, committed_offset, end_offset, lag"
						 " FROM broker.consumer_lag WHERE topic = $1 AND consumer_group = $2"
						 " ORDER BY partition", 2, params);
			gr->lag_rows = PQntuples(r);
			for (k = 0; k < PQntuples(r); k++)
			{
				long		lag = PQgetisnull(r, k, 3) ? -1 : atol(PQgetvalue(r, k, 3));

				gr->lag += lag > 0 ? lag : 0;
				if (lag != 0)
				{
					fprintf(stderr, "group_stress: group %s partition %s: committed_offset %s end_offset %s lag %s\n",
							gr->name, PQgetvalue(r, k, 0), PQgetvalue(r, k, 1),
							PQgetvalue(r, k, 2), PQgetvalue(r, k, 3));
					bad_lag++;
				}
			}
			if (gr->lag_rows != npartitions)
			{
				fprintf(stderr, "group_stress: group %s: %ld rows in broker.consumer_lag, %d partitions\n",
						gr->name, gr->lag_rows, npartitions);
				bad_lag++;
			}
			PQclear(r);
		}
	}

	printf("group_stress: %d producers, %d groups x %d consumers, %d partitions, kill every %d ms, "
		   "%.1fs (producers %.1fs)\n",
		   nproducers, ngroups, nconsumers, npartitions, kill_every, now_secs() - t0, t_produced);
	printf("group_stress: produced=%d committed=%ld aborted=%ld transactions=%ld rolled_back=%ld batches=%ld\n",
		   nslots, total_committed, total_aborted, txns, txn_rollbacks, batches);
	printf("group_stress: end offsets:");
	for (i = 0; i < npartitions; i++)
		printf(" %d=%ld/%ld", i, final_end[i], committed_in[i]);
	printf(" (latest_offset/committed)\n");
	for (g = 0; g < ngroups; g++)
	{
		Group	   *gr = &groups[g];

		if (gr->leased)
			printf("group_stress: group %s (leased): polls=%ld delivered=%ld processed=%ld redelivered=%ld "
				   "commits=%ld lease_lost=%ld skipped=%ld overslept=%ld extended=%ld crashes=%ld "
				   "kills=%ld done_at=%.1fs | lost=%ld from_aborted=%ld\n",
				   gr->name, gr->polls, gr->delivered, gr->processed, gr->redelivered,
				   gr->commits, gr->lease_lost, gr->skipped, gr->overslept, gr->extended,
				   gr->crashes, gr->kills, gr->done_at, gr->lost, gr->from_aborted);
		else
			printf("group_stress: group %s (transactional): polls=%ld delivered=%ld processed=%ld "
				   "rolled_back=%ld killed_in_txn=%ld in_doubt_committed=%ld kills=%ld done_at=%.1fs | "
				   "duplicates=%ld lost=%ld from_aborted=%ld lag=%ld\n",
				   gr->name, gr->polls, gr->delivered, gr->processed, gr->rollbacks,
				   gr->killed_in_txn, gr->in_doubt, gr->kills, gr->done_at, gr->dups, gr->lost,
				   gr->from_aborted, gr->lag);
	}
	printf("group_stress: produced=%d committed=%ld duplicates=%ld lost=%ld from_aborted=%ld "
		   "kills=%ld reconnects=%ld lease_lost=%ld order_violations=%ld bad_rows=%ld errors=%ld "
		   "bad_end_offsets=%ld bad_lag=%ld stalled=%ld\n",
		   nslots, total_committed, dups, lost, from_aborted, kills, reconnects, lease_lost,
		   order_violations, bad_rows, errors, bad_end, bad_lag, stalled);

	failed = (dups || dup_reports || lost || from_aborted || order_violations || bad_rows ||
			  errors || bad_end || bad_lag || stalled);
	for (g = 0; g < ngroups; g++)
		if (!groups[g].leased && groups[g].processed != total_committed)
			failed = 1;

	if (!failed)
	{
		const char *params[2];

		params[0] = topic;
		for (g = 0; g < ngroups; g++)
		{
			params[1] = groups[g].name;
			PQclear(sql_exec(c, "SELECT broker.delete_group($1, $2)", 2, params));
		}
		PQclear(sql_exec(c, "SELECT broker.drop_topic($1)", 1, params));
	}
	else
		fprintf(stderr, "group_stress: topic %s kept for a look\n", topic);
	PQfinish(c);

	printf("group_stress: %s\n", failed ? "FAILED" : "ok");
	return failed ? 1 : 0;
}
