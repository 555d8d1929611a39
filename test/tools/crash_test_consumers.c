/*
 * crash_test_consumers.c - the consumers of crash_test, and its
 * maintenance thread.
 *
 * crash_txq: BEGIN; claim; ack; INSERT the effects; COMMIT (one time in
 * ten ROLLBACK).  crash_leasedq: claim with a lease, process in memory,
 * ack with the receipts.  Group txg: BEGIN; poll; INSERT the effects;
 * COMMIT.  Group leasedg: poll with a lease, process, commit the next
 * offset of each partition.  Every row is checked against the producers'
 * bookkeeping as it arrives: one of ours, in the right queue, never
 * handed out again after its consumption was known committed.
 * Maintenance runs broker.maintain() twice a second.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crash_test.h"

/* ---------------------------------------------------------------- queue consumers */

/*
 * The end of a transactional consumer's transaction before its COMMIT:
 * some simulated work, then one transaction in ten (with rows) rolled back
 * on purpose, as is one whose statements failed.  1 when the
 * transaction ended here (rolled back, or its connection lost).
 */
static int
tx_consumer_rolls_back(Client *cl, ConsumeStats *cs, int q, int nrows)
{
	int			abort;

	if (q == TRY_OK && nrows > 0 && rand_r(&cl->seed) % 4 == 0)
		usleep((rand_r(&cl->seed) % 5) * 1000);		/* work */

	abort = (nrows > 0 && rand_r(&cl->seed) % 10 == 0);
	if (q == TRY_OK && !abort)
		return 0;
	if (q != TRY_LOST)
		q = sql_try(cl->c, cl->name, &errors, "ROLLBACK", 0, NULL, NULL);
	pthread_mutex_lock(&mu);
	if (q == TRY_LOST)
		cs->broken++;
	else if (abort)
		cs->rollbacks++;
	pthread_mutex_unlock(&mu);
	if (q == TRY_LOST)
		client_lost(cl);
	return 1;
}

/*
 * BEGIN; claim; ack each message with its receipt; INSERT the effects;
 * COMMIT.  One transaction in ten rolls back instead.
 */
static void
txq_consumer(Client *cl)
{
	ConsumeStats *cs = &cstats[M_TXQ];
	int			idle = 0;

	while (!stop_consuming)
	{
		char		max[16];
		char		ids[BUFSZ] = "";
		char		receipts[BUFSZ] = "";
		char		ps[BUFSZ] = "";
		char		ss[BUFSZ] = "";
		int			slot_p[MAX_CLAIM];
		int			slot_s[MAX_CLAIM];
		const char *params[5];
		PGresult   *r;
		int			q,
					n,
					i,
					nrows = 0;
		double		t0;

		q = sql_try(cl->c, cl->name, &errors, "BEGIN", 0, NULL, NULL);
		if (q == TRY_LOST)
		{
			client_lost(cl);
			continue;
		}
		if (q != TRY_OK)
			continue;

		snprintf(max, sizeof(max), "%d", 1 + rand_r(&cl->seed) % MAX_CLAIM);
		params[0] = QUEUE_TX;
		params[1] = max;
		params[2] = idle ? "200 milliseconds" : "0";
		t0 = now_secs();
		q = sql_try(cl->c, cl->name, &errors, "SELECT id, receipt, payload->>'p', payload->>'s'"
					" FROM broker.claim($1, $2::int, wait => $3::interval)", 3, params, &r);
		if (q == TRY_OK)
		{
			n = PQntuples(r);
			pthread_mutex_lock(&mu);
			cs->calls++;
			cs->delivered += n;
			for (i = 0; i < n; i++)
			{
				int			p,
							s;
				Slot	   *sl = row_slot(cl, r, i, 2, 0, &p, &s);
				long		id = atol(PQgetvalue(r, i, 0));

				if (sl == NULL)
					continue;
				if (sl->target != TARGET_TXQ || (sl->id != 0 && sl->id != id))
					problem(&bad_rows, 1, cl->name, "message p=%d s=%d: id %ld in %s, sent as id %ld to %s",
							p, s, id, QUEUE_TX, sl->id, sl->target == TARGET_TXQ ? QUEUE_TX : QUEUE_LEASED);
				if (sl->acked_at > 0 && sl->acked_at < t0)
					problem(&resurrected, 1, cl->name, "message p=%d s=%d (id %ld) delivered again after a committed ack",
							p, s, id);
				array_add(ids, nrows, "%s", PQgetvalue(r, i, 0));
				array_add(receipts, nrows, "%s", PQgetvalue(r, i, 1));
				array_add(ps, nrows, "%d", p);
				array_add(ss, nrows, "%d", s);
				slot_p[nrows] = p;
				slot_s[nrows] = s;
				nrows++;
			}
			pthread_mutex_unlock(&mu);
			PQclear(r);
			idle = (n == 0);
		}
		if (q == TRY_OK && nrows > 0)
		{
			params[0] = QUEUE_TX;
			params[1] = ids;
			params[2] = receipts;
			q = sql_try(cl->c, cl->name, &errors, "SELECT u.id, broker.ack($1, u.id, u.r)"
						" FROM unnest($2::bigint[], $3::uuid[]) u(id, r)", 3, params, &r);
			if (q == TRY_OK)
			{
				for (i = 0; i < PQntuples(r); i++)
					if (strcmp(PQgetvalue(r, i, 1), "t") != 0)
						problem(&errors, 1, cl->name, "ack of message %s claimed in this transaction returned false",
								PQgetvalue(r, i, 0));
				PQclear(r);
			}
		}
		if (q == TRY_OK && nrows > 0)
		{
			params[0] = ps;
			params[1] = ss;
			params[2] = ids;
			q = sql_try(cl->c, cl->name, &errors, "INSERT INTO crash_effects (kind, p, s, msg_id)"
						" SELECT 'q', * FROM unnest($1::int[], $2::int[], $3::bigint[])",
						3, params, NULL);
		}
		if (tx_consumer_rolls_back(cl, cs, q, nrows))
			continue;

		q = sql_try(cl->c, cl->name, &errors, "COMMIT", 0, NULL, &r);
		pthread_mutex_lock(&mu);
		if (q == TRY_OK && strcmp(PQcmdStatus(r), "COMMIT") == 0)
		{
			double		t = now_secs();

			cs->commits++;
			cs->processed += nrows;
			for (i = 0; i < nrows; i++)
			{
				Slot	   *sl = slot_at(slot_p[i], slot_s[i]);

				if (sl->tx_ok < 255)
					sl->tx_ok++;
				if (sl->acked_at == 0)
					sl->acked_at = t;
			}
		}
		else if (q == TRY_OK)
			problem(&errors, 1, cl->name, "COMMIT answered %s", PQcmdStatus(r));
		else if (q == TRY_LOST)
		{
			cs->in_doubt++;
			for (i = 0; i < nrows; i++)
			{
				Slot	   *sl = slot_at(slot_p[i], slot_s[i]);

				if (sl->tx_doubt < 255)
					sl->tx_doubt++;
			}
		}
		pthread_mutex_unlock(&mu);
		if (q == TRY_OK)
			PQclear(r);
		if (q == TRY_LOST)
			client_lost(cl);
	}
}

/*
 * claim with a lease (the claim commits by itself); process: count the
 * messages in memory; ack each with its receipt.
 */
static void
leasedq_consumer(Client *cl)
{
	ConsumeStats *cs = &cstats[M_LEASEDQ];
	int			idle = 0;

	while (!stop_consuming)
	{
		char		max[16];
		char		ids[BUFSZ] = "";
		char		receipts[BUFSZ] = "";
		int			slot_p[MAX_CLAIM];
		int			slot_s[MAX_CLAIM];
		const char *params[4];
		PGresult   *r;
		int			q,
					n,
					i,
					nrows = 0;
		double		t0;

		snprintf(max, sizeof(max), "%d", 1 + rand_r(&cl->seed) % MAX_CLAIM);
		params[0] = QUEUE_LEASED;
		params[1] = max;
		params[2] = LEASE;
		params[3] = idle ? "200 milliseconds" : "0";
		t0 = now_secs();
		q = sql_try(cl->c, cl->name, &errors, "SELECT id, receipt, payload->>'p', payload->>'s'"
					" FROM broker.claim($1, $2::int, lease => $3::interval, wait => $4::interval)",
					4, params, &r);
		if (q == TRY_LOST)
		{
			client_lost(cl);
			continue;
		}
		if (q != TRY_OK)
		{
			usleep(10000);
			continue;
		}
		n = PQntuples(r);
		idle = (n == 0);
		pthread_mutex_lock(&mu);
		cs->calls++;
		cs->delivered += n;
		for (i = 0; i < n; i++)
		{
			int			p,
						s;
			Slot	   *sl = row_slot(cl, r, i, 2, 0, &p, &s);
			long		id = atol(PQgetvalue(r, i, 0));

			if (sl == NULL)
				continue;
			if (sl->target != TARGET_LEASEDQ || (sl->id != 0 && sl->id != id))
				problem(&bad_rows, 1, cl->name, "message p=%d s=%d: id %ld in %s, sent as id %ld to %s",
						p, s, id, QUEUE_LEASED, sl->id, sl->target == TARGET_TXQ ? QUEUE_TX : QUEUE_LEASED);
			if (sl->acked_at > 0 && sl->acked_at < t0)
				problem(&resurrected, 1, cl->name, "message p=%d s=%d (id %ld) delivered again after a committed ack",
						p, s, id);
			/* processed: at least once */
			if (sl->leased_seen < 65535)
				sl->leased_seen++;
			cs->processed++;
			array_add(ids, nrows, "%s", PQgetvalue(r, i, 0));
			array_add(receipts, nrows, "%s", PQgetvalue(r, i, 1));
			slot_p[nrows] = p;
			slot_s[nrows] = s;
			nrows++;
		}
		pthread_mutex_unlock(&mu);
		PQclear(r);
		if (nrows == 0)
			continue;
		if (rand_r(&cl->seed) % 4 == 0)
			usleep((rand_r(&cl->seed) % 5) * 1000);		/* work */

		params[0] = QUEUE_LEASED;
		params[1] = ids;
		params[2] = receipts;
		q = sql_try(cl->c, cl->name, &errors, "SELECT broker.ack($1, u.id, u.r)"
					" FROM unnest($2::bigint[], $3::uuid[]) WITH ORDINALITY u(id, r, n) ORDER BY u.n",
					3, params, &r);
		if (q == TRY_OK)
		{
			double		t = now_secs();

			pthread_mutex_lock(&mu);
			for (i = 0; i < PQntuples(r) && i < nrows; i++)
			{
				Slot	   *sl = slot_at(slot_p[i], slot_s[i]);

				if (strcmp(PQgetvalue(r, i, 0), "t") == 0)
				{
					cs->commits++;
					if (sl->acked_at == 0)
						sl->acked_at = t;
				}
				else
					cs->stale++;	/* the lease ran out meanwhile */
			}
			pthread_mutex_unlock(&mu);
			PQclear(r);
		}
		else if (q == TRY_LOST)
		{
			pthread_mutex_lock(&mu);
			cs->broken++;
			pthread_mutex_unlock(&mu);
			client_lost(cl);
		}
	}
}

/* ---------------------------------------------------------------- group consumers */

/*
 * BEGIN; poll group txg (no lease: the offsets commit with the
 * transaction); INSERT the effects; COMMIT.  One transaction in ten rolls
 * back instead.
 */
static void
txg_consumer(Client *cl)
{
	ConsumeStats *cs = &cstats[M_TXG];
	long	   *next = malloc(sizeof(long) * npartitions);
	int			idle = 0;

	while (!stop_consuming)
	{
		char		max[16];
		char		ps[BUFSZ] = "";
		char		ss[BUFSZ] = "";
		char		parts[BUFSZ] = "";
		char		offs[BUFSZ] = "";
		int			slot_p[MAX_POLL];
		int			slot_s[MAX_POLL];
		int			slot_part[MAX_POLL];
		long		slot_off[MAX_POLL];
		const char *params[4];
		PGresult   *r;
		int			q,
					n,
					i,
					nrows = 0;
		double		t0;

		q = sql_try(cl->c, cl->name, &errors, "BEGIN", 0, NULL, NULL);
		if (q == TRY_LOST)
		{
			client_lost(cl);
			continue;
		}
		if (q != TRY_OK)
			continue;

		snprintf(max, sizeof(max), "%d", 1 + rand_r(&cl->seed) % MAX_POLL);
		params[0] = TOPIC;
		params[1] = GROUP_TX;
		params[2] = max;
		params[3] = idle ? "200 milliseconds" : "0";
		for (i = 0; i < npartitions; i++)
			next[i] = -1;
		t0 = now_secs();
		q = sql_try(cl->c, cl->name, &errors, "SELECT partition, offset_id, payload->>'p', payload->>'s'"
					" FROM broker.poll($1, $2, $3::int, $4::interval)", 4, params, &r);
		if (q == TRY_OK)
		{
			n = PQntuples(r);
			pthread_mutex_lock(&mu);
			cs->calls++;
			cs->delivered += n;
			for (i = 0; i < n; i++)
			{
				int			p,
							s;
				int			part = atoi(PQgetvalue(r, i, 0));
				long		off = atol(PQgetvalue(r, i, 1));
				Slot	   *sl = row_slot(cl, r, i, 2, 1, &p, &s);

				if (sl == NULL)
					continue;
				if (part < 0 || part >= npartitions)
				{
					problem(&bad_rows, 1, cl->name, "record p=%d s=%d in partition %d", p, s, part);
					continue;
				}
				if (next[part] >= 0 && off != next[part])
					problem(&order_violations, 1, cl->name, "partition %d: offset %ld after %ld in one poll",
							part, off, next[part] - 1);
				next[part] = off + 1;
				if (off < txg_commit_off[part] && txg_commit_at[part] < t0)
					problem(&resurrected, 1, cl->name,
							"partition %d offset %ld delivered again after offset %ld was committed",
							part, off, txg_commit_off[part]);
				array_add(ps, nrows, "%d", p);
				array_add(ss, nrows, "%d", s);
				array_add(parts, nrows, "%d", part);
				array_add(offs, nrows, "%ld", off);
				slot_p[nrows] = p;
				slot_s[nrows] = s;
				slot_part[nrows] = part;
				slot_off[nrows] = off;
				nrows++;
			}
			pthread_mutex_unlock(&mu);
			PQclear(r);
			idle = (n == 0);
		}
		if (q == TRY_OK && nrows > 0)
		{
			params[0] = ps;
			params[1] = ss;
			params[2] = parts;
			params[3] = offs;
			q = sql_try(cl->c, cl->name, &errors, "INSERT INTO crash_effects (kind, p, s, part, offset_id)"
						" SELECT 't', * FROM unnest($1::int[], $2::int[], $3::int[], $4::bigint[])",
						4, params, NULL);
		}
		if (tx_consumer_rolls_back(cl, cs, q, nrows))
			continue;

		q = sql_try(cl->c, cl->name, &errors, "COMMIT", 0, NULL, &r);
		pthread_mutex_lock(&mu);
		if (q == TRY_OK && strcmp(PQcmdStatus(r), "COMMIT") == 0)
		{
			double		t = now_secs();

			cs->commits++;
			cs->processed += nrows;
			for (i = 0; i < nrows; i++)
			{
				Slot	   *sl = slot_at(slot_p[i], slot_s[i]);

				if (sl->tx_ok < 255)
					sl->tx_ok++;
				if (slot_off[i] + 1 > txg_commit_off[slot_part[i]])
				{
					txg_commit_off[slot_part[i]] = slot_off[i] + 1;
					txg_commit_at[slot_part[i]] = t;
				}
			}
		}
		else if (q == TRY_OK)
			problem(&errors, 1, cl->name, "COMMIT answered %s", PQcmdStatus(r));
		else if (q == TRY_LOST)
		{
			cs->in_doubt++;
			for (i = 0; i < nrows; i++)
			{
				Slot	   *sl = slot_at(slot_p[i], slot_s[i]);

				if (sl->tx_doubt < 255)
					sl->tx_doubt++;
			}
		}
		pthread_mutex_unlock(&mu);
		if (q == TRY_OK)
			PQclear(r);
		if (q == TRY_LOST)
			client_lost(cl);
	}
	free(next);
}

/*
 * poll group leasedg with a lease (autocommit); process: count the records
 * in memory; commit the next offset of each partition.  A consumer back
 * after a lost connection keeps its name: the server starts a new session
 * from the committed offsets.
 */
static void
leasedg_consumer(Client *cl)
{
	ConsumeStats *cs = &cstats[M_LEASEDG];
	long	   *last = malloc(sizeof(long) * npartitions);
	int			idle = 0;

	while (!stop_consuming)
	{
		char		max[16];
		const char *params[6];
		PGresult   *r;
		int			q,
					n,
					i;
		double		t0;

		snprintf(max, sizeof(max), "%d", 1 + rand_r(&cl->seed) % MAX_POLL);
		params[0] = TOPIC;
		params[1] = GROUP_LEASED;
		params[2] = max;
		params[3] = idle ? "200 milliseconds" : "0";
		params[4] = cl->name;
		params[5] = LEASE;
		t0 = now_secs();
		q = sql_try(cl->c, cl->name, &errors, "SELECT partition, offset_id, payload->>'p', payload->>'s'"
					" FROM broker.poll($1, $2, $3::int, $4::interval, $5, $6::interval)",
					6, params, &r);
		if (q == TRY_LOST)
		{
			client_lost(cl);
			continue;
		}
		if (q != TRY_OK)
		{
			usleep(10000);
			continue;
		}
		n = PQntuples(r);
		idle = (n == 0);
		for (i = 0; i < npartitions; i++)
			last[i] = -1;
		pthread_mutex_lock(&mu);
		cs->calls++;
		cs->delivered += n;
		for (i = 0; i < n; i++)
		{
			int			p,
						s;
			int			part = atoi(PQgetvalue(r, i, 0));
			long		off = atol(PQgetvalue(r, i, 1));
			Slot	   *sl = row_slot(cl, r, i, 2, 1, &p, &s);

			if (sl == NULL)
				continue;
			if (part < 0 || part >= npartitions)
			{
				problem(&bad_rows, 1, cl->name, "record p=%d s=%d in partition %d", p, s, part);
				continue;
			}
			if (last[part] >= 0 && off != last[part] + 1)
				problem(&order_violations, 1, cl->name, "partition %d: offset %ld after %ld in one poll",
						part, off, last[part]);
			last[part] = off;
			if (off < lg_commit_off[part] && lg_commit_at[part] < t0)
				problem(&resurrected, 1, cl->name,
						"partition %d offset %ld delivered again after offset %ld was committed",
						part, off, lg_commit_off[part]);
			if (sl->leased_seen < 65535)
				sl->leased_seen++;
			cs->processed++;
		}
		pthread_mutex_unlock(&mu);
		PQclear(r);
		if (n == 0)
			continue;
		if (rand_r(&cl->seed) % 4 == 0)
			usleep((rand_r(&cl->seed) % 5) * 1000);		/* work */

		for (i = 0; i < npartitions && q != TRY_LOST; i++)
		{
			char		pbuf[16];
			char		obuf[24];
			const char *cparams[5];

			if (last[i] < 0)
				continue;
			snprintf(pbuf, sizeof(pbuf), "%d", i);
			snprintf(obuf, sizeof(obuf), "%ld", last[i] + 1);
			cparams[0] = TOPIC;
			cparams[1] = GROUP_LEASED;
			cparams[2] = pbuf;
			cparams[3] = obuf;
			cparams[4] = cl->name;
			q = sql_try(cl->c, cl->name, &errors, "SELECT broker.commit($1, $2, $3::int, $4::bigint, $5)",
						5, cparams, NULL);
			pthread_mutex_lock(&mu);
			if (q == TRY_OK)
			{
				cs->commits++;
				if (last[i] + 1 > lg_commit_off[i])
				{
					lg_commit_off[i] = last[i] + 1;
					lg_commit_at[i] = now_secs();
				}
			}
			else if (q == TRY_LEASE_LOST)
				cs->stale++;
			else if (q == TRY_LOST)
				cs->broken++;
			pthread_mutex_unlock(&mu);
		}
		if (q == TRY_LOST)
			client_lost(cl);
	}
	free(last);
}

void *
consumer_main(void *arg)
{
	Client	   *cl = arg;

	client_connect(cl);
	switch (cl->role)
	{
		case R_TXQ:
			txq_consumer(cl);
			break;
		case R_LEASEDQ:
			leasedq_consumer(cl);
			break;
		case R_TXG:
			txg_consumer(cl);
			break;
		case R_LEASEDG:
			leasedg_consumer(cl);
			break;
	}
	PQfinish(cl->c);
	return NULL;
}

/* broker.maintain() twice a second: segment rotation, truncation */
void *
maintenance_main(void *arg)
{
	Client	   *cl = arg;

	client_connect(cl);
	while (!stop_consuming)
	{
		if (sql_try(cl->c, cl->name, &errors, "SELECT count(*) FROM broker.maintain()", 0, NULL, NULL) == TRY_LOST)
			client_lost(cl);
		nap(500, &stop_consuming);
	}
	PQfinish(cl->c);
	return NULL;
}
