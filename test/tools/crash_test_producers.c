/*
 * crash_test_producers.c - the producers of crash_test.
 *
 * A queue producer sends one to MAX_TXN messages in a transaction, one by
 * one or as one send_batch, to one of the two queues, now and then all in
 * one message group; a topic producer publishes as many records by key,
 * to an explicit partition, or to neither.  One transaction in eight
 * rolls back.  Each message or record is entered in the producer's slots
 * before its transaction starts, and its outcome once COMMIT answered:
 * committed, rolled back (or cut off before COMMIT), or in doubt when the
 * connection broke during COMMIT.  A producer waits while the consumers
 * are more than --backlog behind.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crash_test.h"

/* the statements of one queue transaction; fills in the ids */
static int
produce_queue(Client *cl, Producer *pr, int first, int n, int target, int batch)
{
	const char *queue = target == TARGET_TXQ ? QUEUE_TX : QUEUE_LEASED;
	char		group[16];
	int			grouped = (rand_r(&cl->seed) % 4 == 0);
	int			p = (int) (pr - producers);
	int			i,
				q;
	PGresult   *r;

	snprintf(group, sizeof(group), "g%d", rand_r(&cl->seed) % NGROUPKEYS);
	if (batch)
	{
		char		payloads[BUFSZ] = "";
		char		groups[BUFSZ] = "";
		const char *params[3];

		for (i = 0; i < n; i++)
		{
			array_add(payloads, i, "\"{\\\"p\\\": %d, \\\"s\\\": %d}\"", p, first + i);
			array_add(groups, i, "%s", group);
		}
		params[0] = queue;
		params[1] = payloads;
		params[2] = grouped ? groups : NULL;
		q = sql_try(cl->c, cl->name, &errors, "SELECT broker.send_batch($1, $2::jsonb[], group_keys => $3::text[])",
					3, params, &r);
		if (q != TRY_OK)
			return q;
		if (PQntuples(r) != n)
			problem(&errors, 1, cl->name, "send_batch of %d returned %d ids", n, PQntuples(r));
		pthread_mutex_lock(&mu);
		for (i = 0; i < n && i < PQntuples(r); i++)
			pr->slots[first + i].id = atol(PQgetvalue(r, i, 0));
		pthread_mutex_unlock(&mu);
		PQclear(r);
		return TRY_OK;
	}
	for (i = 0; i < n; i++)
	{
		char		payload[64];
		const char *params[3];

		snprintf(payload, sizeof(payload), "{\"p\": %d, \"s\": %d}", p, first + i);
		params[0] = queue;
		params[1] = payload;
		params[2] = grouped ? group : NULL;
		q = sql_try(cl->c, cl->name, &errors, "SELECT broker.send($1, $2::jsonb, group_key => $3)", 3, params, &r);
		if (q != TRY_OK)
			return q;
		pthread_mutex_lock(&mu);
		pr->slots[first + i].id = atol(PQgetvalue(r, 0, 0));
		pthread_mutex_unlock(&mu);
		PQclear(r);
	}
	return TRY_OK;
}

/*
 * The statements of one topic transaction: every record by key, every
 * record to an explicit partition, or neither (the transaction's sticky
 * partition).
 */
static int
produce_topic(Client *cl, Producer *pr, int first, int n, int batch)
{
	int			how = rand_r(&cl->seed) % 3;	/* 0 keys, 1 partitions, 2 neither */
	int			p = (int) (pr - producers);
	int			i,
				q;

	if (batch)
	{
		char		payloads[BUFSZ] = "";
		char		keys[BUFSZ] = "";
		char		part[16];
		const char *params[4];
		int			partition = rand_r(&cl->seed) % npartitions;

		for (i = 0; i < n; i++)
		{
			array_add(payloads, i, "\"{\\\"p\\\": %d, \\\"s\\\": %d}\"", p, first + i);
			array_add(keys, i, "k%d", rand_r(&cl->seed) % NKEYS);
		}
		snprintf(part, sizeof(part), "%d", partition);
		if (how == 1)
		{
			pthread_mutex_lock(&mu);
			for (i = 0; i < n; i++)
				pr->slots[first + i].target = (unsigned char) partition;
			pthread_mutex_unlock(&mu);
		}
		params[0] = TOPIC;
		params[1] = payloads;
		params[2] = how == 0 ? keys : NULL;
		params[3] = how == 1 ? part : NULL;
		q = sql_try(cl->c, cl->name, &errors, "SELECT broker.publish_batch($1, $2::jsonb[], keys => $3::text[], partition => $4::int)",
					4, params, NULL);
		pthread_mutex_lock(&mu);
		pstats[1].batches++;
		pthread_mutex_unlock(&mu);
		return q;
	}
	for (i = 0; i < n; i++)
	{
		char		payload[64];
		char		key[16];
		char		part[16];
		const char *params[4];
		int			partition = rand_r(&cl->seed) % npartitions;

		snprintf(payload, sizeof(payload), "{\"p\": %d, \"s\": %d}", p, first + i);
		snprintf(key, sizeof(key), "k%d", rand_r(&cl->seed) % NKEYS);
		snprintf(part, sizeof(part), "%d", partition);
		if (how == 1)
		{
			pthread_mutex_lock(&mu);
			pr->slots[first + i].target = (unsigned char) partition;
			pthread_mutex_unlock(&mu);
		}
		params[0] = TOPIC;
		params[1] = payload;
		params[2] = how == 0 ? key : NULL;
		params[3] = how == 1 ? part : NULL;
		q = sql_try(cl->c, cl->name, &errors, "SELECT broker.publish($1, $2::jsonb, key => $3, partition => $4::int)",
					4, params, NULL);
		if (q != TRY_OK)
			return q;
	}
	return TRY_OK;
}

void *
producer_main(void *arg)
{
	Client	   *cl = arg;
	Producer   *pr = &producers[cl->k];
	ProduceStats *ps = &pstats[pr->topic];
	int			lied = 0;

	client_connect(cl);
	while (!stop_producing)
	{
		int			n = 1 + rand_r(&cl->seed) % MAX_TXN;
		int			abort = (rand_r(&cl->seed) % 8 == 0);
		int			batch = (n > 1 && rand_r(&cl->seed) % 3 == 0);
		int			target = rand_r(&cl->seed) % 2;
		int			outcome;
		int			first;
		int			txn;
		int			q;
		int			i;
		PGresult   *r;

		if (backlogged(pr->topic))
		{
			nap(20, &stop_producing);
			continue;
		}

		pthread_mutex_lock(&mu);
		if (pr->n + n > pr->cap)
		{
			pr->cap = pr->cap ? 2 * pr->cap : 4096;
			pr->slots = realloc(pr->slots, sizeof(Slot) * pr->cap);
		}
		first = pr->n;
		txn = pr->txns++;
		for (i = 0; i < n; i++)
		{
			Slot	   *sl = &pr->slots[first + i];

			memset(sl, 0, sizeof(Slot));
			sl->state = S_PENDING;
			sl->target = pr->topic ? NO_PARTITION : (unsigned char) target;
			sl->txn = txn;
		}
		pr->n += n;
		ps->produced += n;
		ps->txns++;
		pthread_mutex_unlock(&mu);

		q = sql_try(cl->c, cl->name, &errors, "BEGIN", 0, NULL, NULL);
		if (q == TRY_OK)
			q = pr->topic ? produce_topic(cl, pr, first, n, batch)
				: produce_queue(cl, pr, first, n, target, batch);
		if (q == TRY_OK && rand_r(&cl->seed) % 4 == 0)
			usleep(rand_r(&cl->seed) % 3000);	/* commit late */

		if (q != TRY_OK)
		{
			/* never committed */
			outcome = S_ABORTED;
			if (q != TRY_LOST && sql_try(cl->c, cl->name, &errors, "ROLLBACK", 0, NULL, NULL) == TRY_LOST)
				q = TRY_LOST;
		}
		else if (abort)
		{
			outcome = S_ABORTED;
			q = sql_try(cl->c, cl->name, &errors, "ROLLBACK", 0, NULL, NULL);
		}
		else
		{
			q = sql_try(cl->c, cl->name, &errors, "COMMIT", 0, NULL, &r);
			if (q == TRY_OK)
			{
				if (strcmp(PQcmdStatus(r), "COMMIT") == 0)
					outcome = S_COMMITTED;
				else
				{
					problem(&errors, 1, cl->name, "COMMIT answered %s", PQcmdStatus(r));
					outcome = S_ABORTED;
				}
				PQclear(r);
			}
			else if (q == TRY_LOST)
				outcome = S_IN_DOUBT;
			else
				outcome = S_ABORTED;
		}

		/*
		 * --sabotage: record this producer's first rolled-back transaction
		 * as committed, and its first committed one (of a queue producer,
		 * one to the leased queue) as rolled back.
		 */
		if (sabotage && outcome == S_ABORTED && abort && !(lied & 1))
		{
			lied |= 1;
			outcome = S_COMMITTED;
		}
		else if (sabotage && outcome == S_COMMITTED && !(lied & 2) &&
				 (pr->topic || target == TARGET_LEASEDQ))
		{
			lied |= 2;
			outcome = S_ABORTED;
		}

		pthread_mutex_lock(&mu);
		for (i = 0; i < n; i++)
			pr->slots[first + i].state = (unsigned char) outcome;
		if (outcome == S_COMMITTED)
		{
			ps->committed += n;
			ps->txns_committed++;
		}
		else if (outcome == S_IN_DOUBT)
		{
			ps->in_doubt += n;
			ps->txns_in_doubt++;
		}
		else if (abort && q != TRY_LOST)
		{
			ps->aborted += n;
			ps->txns_aborted++;
		}
		else
		{
			ps->broken += n;
			ps->txns_broken++;
		}
		pthread_mutex_unlock(&mu);

		if (q == TRY_LOST)
			client_lost(cl);
	}
	PQfinish(cl->c);
	return NULL;
}
