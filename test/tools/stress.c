/*
 * stress.c - concurrent producers and consumers on one pgbroker queue.
 *
 * Producers send messages in transactions of random size, one in ten of
 * which rolls back.  Consumers claim in both modes: transactional (claim,
 * ack, commit in one transaction; one in ten rolls back instead) and
 * leased (claim commits; ack with the receipt afterwards; now and then a
 * nack sends the message round again).  At the end every message whose
 * transaction committed must have been acked exactly once, no message of a
 * rolled-back transaction may have been delivered, and the queue must be
 * empty.  Exit status 0 when all of that holds.
 *
 * Connection parameters come from the usual PG* environment variables.
 *
 * usage: stress [--producers N] [--consumers N] [--messages N] [--seed N]
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

static int	nproducers = 4;
static int	nconsumers = 4;
static int	nmessages = 20000;	/* per run, split among producers */
static unsigned seed0 = 1;

static int	per_producer;
static unsigned char *committed;	/* [p * per_producer + s]: 1 committed, 2 aborted */
static int *acked;				/* times acked (true returned in a committed xact) */
static int *delivered;			/* times handed out by a claim */
static int	producers_done = 0;
static long total_committed = 0;
static long total_acked = 0;
static long stale_acks = 0;
static long rollbacks = 0;
static long nacks = 0;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

static void *
producer(void *arg)
{
	int			p = (int) (long) arg;
	unsigned	seed = seed0 * 7919 + p;
	PGconn	   *c = connect_db();
	int			s = 0;

	while (s < per_producer)
	{
		int			n = 1 + rand_r(&seed) % 10;
		int			abort = (rand_r(&seed) % 10 == 0);
		int			i;
		int			first = s;

		if (n > per_producer - s)
			n = per_producer - s;
		sql_cmd(c, "BEGIN");
		if (n > 1 && rand_r(&seed) % 2)
		{
			/* as one batch */
			char		buf[64 * 11 + 64];
			char	   *w = buf;
			const char *params[1];

			w += sprintf(w, "{");
			for (i = 0; i < n; i++)
				w += sprintf(w, "%s\"{\\\"p\\\":%d,\\\"s\\\":%d}\"", i ? "," : "", p, s + i);
			sprintf(w, "}");
			params[0] = buf;
			PQclear(sql_exec(c, "SELECT broker.send_batch('stress', $1::jsonb[])", 1, params));
		}
		else
		{
			for (i = 0; i < n; i++)
			{
				char		buf[64];
				const char *params[1];

				snprintf(buf, sizeof(buf), "{\"p\":%d,\"s\":%d}", p, s + i);
				params[0] = buf;
				PQclear(sql_exec(c, "SELECT broker.send('stress', $1::jsonb)", 1, params));
			}
		}
		if (rand_r(&seed) % 4 == 0)
			usleep(rand_r(&seed) % 2000);	/* commit late */
		sql_cmd(c, abort ? "ROLLBACK" : "COMMIT");
		pthread_mutex_lock(&mu);
		for (i = 0; i < n; i++)
			committed[p * per_producer + first + i] = abort ? 2 : 1;
		if (!abort)
			total_committed += n;
		pthread_mutex_unlock(&mu);
		s += n;
	}
	PQfinish(c);
	pthread_mutex_lock(&mu);
	producers_done++;
	pthread_mutex_unlock(&mu);
	return NULL;
}

static int
slot_of(PGresult *r, int row)
{
	int			p = atoi(PQgetvalue(r, row, 2));
	int			s = atoi(PQgetvalue(r, row, 3));

	if (p < 0 || p >= nproducers || s < 0 || s >= per_producer)
	{
		fprintf(stderr, "stress: unexpected message p=%d s=%d\n", p, s);
		exit(3);
	}
	return p * per_producer + s;
}

static int
finished(void)
{
	int			done;

	pthread_mutex_lock(&mu);
	done = (producers_done == nproducers && total_acked >= total_committed);
	pthread_mutex_unlock(&mu);
	return done;
}

static void *
consumer(void *arg)
{
	int			k = (int) (long) arg;
	unsigned	seed = seed0 * 104729 + k;
	PGconn	   *c = connect_db();
	const char *claim_sql =
		"SELECT id, receipt, payload->>'p', payload->>'s'"
		" FROM broker.claim('stress', $1::int, wait => '200 milliseconds')";

	while (!finished())
	{
		int			transactional = rand_r(&seed) % 2;
		char		nbuf[16];
		const char *params[2];
		PGresult   *r;
		int			i;
		int			n;

		snprintf(nbuf, sizeof(nbuf), "%d", 1 + rand_r(&seed) % 20);
		params[0] = nbuf;
		if (transactional)
		{
			int			abort = (rand_r(&seed) % 10 == 0);
			int		   *slots;
			int			nslots = 0;

			sql_cmd(c, "BEGIN");
			r = sql_exec(c, claim_sql, 1, params);
			n = PQntuples(r);
			slots = malloc(sizeof(int) * (n + 1));
			for (i = 0; i < n; i++)
			{
				PGresult   *a;
				int			slot = slot_of(r, i);

				pthread_mutex_lock(&mu);
				delivered[slot]++;
				pthread_mutex_unlock(&mu);
				params[0] = PQgetvalue(r, i, 0);
				params[1] = PQgetvalue(r, i, 1);
				a = sql_exec(c, "SELECT broker.ack('stress', $1::bigint, $2::uuid)", 2, params);
				if (strcmp(PQgetvalue(a, 0, 0), "t") == 0)
					slots[nslots++] = slot;
				PQclear(a);
			}
			PQclear(r);
			sql_cmd(c, abort ? "ROLLBACK" : "COMMIT");
			pthread_mutex_lock(&mu);
			if (abort)
				rollbacks++;
			else
				for (i = 0; i < nslots; i++)
				{
					acked[slots[i]]++;
					total_acked++;
				}
			pthread_mutex_unlock(&mu);
			free(slots);
		}
		else
		{
			r = sql_exec(c, claim_sql, 1, params);	/* autocommit: leased */
			n = PQntuples(r);
			for (i = 0; i < n; i++)
			{
				PGresult   *a;
				int			slot = slot_of(r, i);
				int			ok;

				pthread_mutex_lock(&mu);
				delivered[slot]++;
				pthread_mutex_unlock(&mu);
				params[0] = PQgetvalue(r, i, 0);
				params[1] = PQgetvalue(r, i, 1);
				if (rand_r(&seed) % 20 == 0)
				{
					PQclear(sql_exec(c, "SELECT broker.nack('stress', $1::bigint, $2::uuid, retry_in => '0')",
									 2, params));
					pthread_mutex_lock(&mu);
					nacks++;
					pthread_mutex_unlock(&mu);
					continue;
				}
				a = sql_exec(c, "SELECT broker.ack('stress', $1::bigint, $2::uuid)", 2, params);
				ok = (strcmp(PQgetvalue(a, 0, 0), "t") == 0);
				PQclear(a);
				pthread_mutex_lock(&mu);
				if (ok)
				{
					acked[slot]++;
					total_acked++;
				}
				else
					stale_acks++;
				pthread_mutex_unlock(&mu);
			}
			PQclear(r);
		}
	}
	PQfinish(c);
	return NULL;
}

int
main(int argc, char **argv)
{
	pthread_t  *threads;
	int			i;
	PGconn	   *c;
	PGresult   *r;
	long		lost = 0,
				dup = 0,
				ghost = 0,
				left;
	time_t		t0 = time(NULL);

	common_init("stress", 3, 3);
	for (i = 1; i < argc; i++)
	{
		if (strcmp(argv[i], "--producers") == 0 && i + 1 < argc)
			nproducers = atoi(argv[++i]);
		else if (strcmp(argv[i], "--consumers") == 0 && i + 1 < argc)
			nconsumers = atoi(argv[++i]);
		else if (strcmp(argv[i], "--messages") == 0 && i + 1 < argc)
			nmessages = atoi(argv[++i]);
		else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
			seed0 = (unsigned) atoi(argv[++i]);
		else
		{
			fprintf(stderr, "usage: stress [--producers N] [--consumers N] [--messages N] [--seed N]\n");
			return 1;
		}
	}
	if (nproducers < 1 || nconsumers < 1 || nmessages < nproducers)
	{
		fprintf(stderr, "stress: bad counts\n");
		return 1;
	}
	per_producer = nmessages / nproducers;
	committed = calloc((size_t) nproducers * per_producer, 1);
	acked = calloc((size_t) nproducers * per_producer, sizeof(int));
	delivered = calloc((size_t) nproducers * per_producer, sizeof(int));

	c = connect_db();
	sql_cmd(c, "SET client_min_messages = warning");
	sql_cmd(c, "CREATE EXTENSION IF NOT EXISTS pgbroker");
	sql_cmd(c, "SELECT broker.drop_queue('stress', if_exists => true)");
	sql_cmd(c, "SELECT broker.create_queue('stress', max_attempts => 1000, lease => '2 seconds', retry_base => '0')");

	threads = malloc(sizeof(pthread_t) * (nproducers + nconsumers));
	for (i = 0; i < nproducers; i++)
		pthread_create(&threads[i], NULL, producer, (void *) (long) i);
	for (i = 0; i < nconsumers; i++)
		pthread_create(&threads[nproducers + i], NULL, consumer, (void *) (long) i);
	for (i = 0; i < nproducers + nconsumers; i++)
		pthread_join(threads[i], NULL);

	for (i = 0; i < nproducers * per_producer; i++)
	{
		if (committed[i] == 1 && acked[i] == 0)
			lost++;
		if (acked[i] > 1)
			dup++;
		if (committed[i] == 2 && delivered[i] > 0)
			ghost++;
	}
	r = sql_exec(c, "SELECT count(*) FROM broker.peek('stress', 10000)", 0, NULL);
	left = atol(PQgetvalue(r, 0, 0));
	PQclear(r);
	r = sql_exec(c, "SELECT count(*) FROM broker.dead_letters('stress')", 0, NULL);
	left += atol(PQgetvalue(r, 0, 0));
	PQclear(r);
	sql_cmd(c, "SELECT broker.drop_queue('stress')");
	PQfinish(c);

	printf("stress: %d producers, %d consumers, %lds: committed=%ld acked=%ld "
		   "consumer_rollbacks=%ld nacks=%ld stale_acks=%ld | lost=%ld acked_twice=%ld "
		   "from_aborted=%ld left_in_queue=%ld\n",
		   nproducers, nconsumers, (long) (time(NULL) - t0), total_committed,
		   total_acked, rollbacks, nacks, stale_acks, lost, dup, ghost, left);
	return (lost || dup || ghost || left || total_acked != total_committed) ? 1 : 0;
}
