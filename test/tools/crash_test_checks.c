/*
 * crash_test_checks.c - the end of a crash_test run: the drain, and the
 * checks of what crash recovery left against what the clients were told.
 *
 * The drain lets the consumers run until the server has nothing left and
 * the bookkeeping agrees.  The checks then read crash_effects and every
 * partition of the topic from offset 0, and hold each message and record
 * to the rules in crash_test.c: committed means consumed (exactly once
 * where the consumption was transactional), rolled back means never seen,
 * in doubt means all or nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crash_test.h"

/* messages left in both queues, and the lag of both groups */
static long
server_left(Client *cl, long *queued, long *lag, long *dead)
{
	char		sql[512];
	PGresult   *r;

	snprintf(sql, sizeof(sql),
			 "SELECT (SELECT count(*) FROM broker.queue_%ld) + (SELECT count(*) FROM broker.queue_%ld),"
			 " (SELECT coalesce(sum(lag), 0) FROM broker.consumer_lag WHERE topic = '" TOPIC "'),"
			 " (SELECT count(*) FROM broker.dead_letter WHERE queue_id IN (%ld, %ld))",
			 queue_ids[0], queue_ids[1], queue_ids[0], queue_ids[1]);
	r = must_run(cl, sql, 0, NULL);
	*queued = atol(PQgetvalue(r, 0, 0));
	*lag = atol(PQgetvalue(r, 0, 1));
	*dead = atol(PQgetvalue(r, 0, 2));
	PQclear(r);
	return *queued + *lag + *dead;
}

/* committed messages and records some consumer has yet to see */
static long
client_left(void)
{
	long		n = 0;
	int			p,
				s;

	pthread_mutex_lock(&mu);
	for (p = 0; p < nprod; p++)
		for (s = 0; s < producers[p].n; s++)
		{
			Slot	   *sl = &producers[p].slots[s];
			int			tx = sl->tx_ok > 0 || sl->tx_doubt > 0;

			if (sl->state != S_COMMITTED)
				continue;
			if (producers[p].topic)
				n += (!tx || sl->leased_seen == 0);
			else if (sl->target == TARGET_TXQ)
				n += !tx;
			else
				n += (sl->leased_seen == 0);
		}
	pthread_mutex_unlock(&mu);
	return n;
}

/*
 * Let the consumers finish: until the queues are empty, the groups have
 * no lag and the bookkeeping says every committed message and record was
 * consumed.  Gives up when the server has been empty for DRAIN_EMPTY_SECS
 * while the bookkeeping is not (the checks report what is missing), or
 * nothing has moved for DRAIN_STALL_SECS.
 */
void
drain(Client *cl)
{
	double		last_progress = now_secs();
	double		empty_since = 0;
	long		last_left = -1;
	int			quiet = 0;

	for (;;)
	{
		long		queued,
					lag,
					dead;
		long		left = server_left(cl, &queued, &lag, &dead);
		long		mine = client_left();

		if (left == 0 && mine == 0)
		{
			if (++quiet >= 2)
				return;
		}
		else
			quiet = 0;
		if (left == 0)
		{
			if (empty_since == 0)
				empty_since = now_secs();
			else if (now_secs() - empty_since > DRAIN_EMPTY_SECS)
			{
				fprintf(stderr, "crash_test: drain: the server has nothing left, %ld committed"
						" messages or records never consumed\n", mine);
				return;
			}
		}
		else
			empty_since = 0;
		if (left + mine != last_left)
		{
			last_left = left + mine;
			last_progress = now_secs();
		}
		else if (now_secs() - last_progress > DRAIN_STALL_SECS)
		{
			fprintf(stderr, "crash_test: drain: stuck with %ld messages queued, lag %ld, %ld dead letters,"
					" %ld committed never consumed\n", queued, lag, dead, mine);
			stalled++;
			return;
		}
		usleep(250000);
	}
}

static Found **
collect_effects(Client *cl)
{
	Found	  **found = malloc(sizeof(Found *) * nprod);
	PGresult   *r;
	int			p,
				i;

	for (p = 0; p < nprod; p++)
		found[p] = calloc(producers[p].n > 0 ? producers[p].n : 1, sizeof(Found));

	r = must_run(cl, "SELECT kind, p, s, msg_id, part, offset_id FROM crash_effects", 0, NULL);
	for (i = 0; i < PQntuples(r); i++)
	{
		int			topic = strcmp(PQgetvalue(r, i, 0), "t") == 0;
		int			s = atoi(PQgetvalue(r, i, 2));
		Found	   *f;

		p = atoi(PQgetvalue(r, i, 1));
		if (slot_at(p, s) == NULL || producers[p].topic != topic)
		{
			problem(&bad_rows, 1, "effects", "unknown %s p=%d s=%d", topic ? "record" : "message", p, s);
			continue;
		}
		f = &found[p][s];
		if (f->eff < 255)
			f->eff++;
		if (topic)
		{
			f->eff_part = (short) atoi(PQgetvalue(r, i, 4));
			f->eff_off = atol(PQgetvalue(r, i, 5));
		}
		else
			f->eff_id = atol(PQgetvalue(r, i, 3));
	}
	PQclear(r);
	return found;
}

/*
 * Read every partition of the topic from offset 0: offsets must be dense
 * up to latest_offset, a record with a key must be in the key's
 * partition.
 */
static long
collect_log(Client *cl, Found **found, long *gaps, long *key_misplaced)
{
	long		total = 0;
	int			part;

	for (part = 0; part < npartitions; part++)
	{
		char		pbuf[16];
		char		obuf[24];
		const char *params[3];
		PGresult   *r;
		long		end,
					next = 0;

		snprintf(pbuf, sizeof(pbuf), "%d", part);
		params[0] = TOPIC;
		params[1] = pbuf;
		r = must_run(cl, "SELECT broker.latest_offset($1, $2::int)", 2, params);
		end = atol(PQgetvalue(r, 0, 0));
		PQclear(r);
		for (;;)
		{
			int			n,
						i;

			snprintf(obuf, sizeof(obuf), "%ld", next);
			params[2] = obuf;
			r = must_run(cl, "SELECT offset_id, payload->>'p', payload->>'s',"
						 " key IS NOT NULL AND partition <> broker.partition_for($1, key)"
						 " FROM broker.read($1, $2::int, $3::bigint, 1000)", 3, params);
			n = PQntuples(r);
			for (i = 0; i < n; i++)
			{
				long		off = atol(PQgetvalue(r, i, 0));
				int			p = atoi(PQgetvalue(r, i, 1));
				int			s = atoi(PQgetvalue(r, i, 2));
				Found	   *f;

				if (off != next)
				{
					fprintf(stderr, "crash_test: topic: partition %d: offset %ld follows %ld\n",
							part, off, next - 1);
					(*gaps)++;
				}
				next = off + 1;
				total++;
				if (strcmp(PQgetvalue(r, i, 3), "t") == 0)
					(*key_misplaced)++;
				if (PQgetisnull(r, i, 1) || slot_at(p, s) == NULL || !producers[p].topic)
				{
					problem(&bad_rows, 1, "topic", "partition %d offset %ld: unknown record", part, off);
					continue;
				}
				f = &found[p][s];
				if (f->log < 255)
					f->log++;
				f->log_part = (short) part;
				f->log_off = off;
			}
			PQclear(r);
			if (n == 0)
				break;
		}
		if (next != end)
		{
			fprintf(stderr, "crash_test: topic: partition %d: read up to offset %ld, latest_offset is %ld\n",
					part, next, end);
			(*gaps)++;
		}
	}
	return total;
}


/*
 * The checks, once the consumers are done: what is left on the server,
 * what crash_effects and the topic hold, and each message and record
 * against the bookkeeping.  Fills in *v; problems of the kinds counted in
 * the globals (bad_rows, effects_lost, mismatched offsets, atomicity) are
 * reported as they are found.
 */
void
check_all(Client *cl, Verdict *v)
{
	Found	  **found;
	int			p,
				s;

	memset(v, 0, sizeof(Verdict));
	server_left(cl, &v->queued, &v->lag, &v->dead);
	found = collect_effects(cl);
	v->log_records = collect_log(cl, found, &v->gaps, &v->key_misplaced);

	for (p = 0; p < nprod; p++)
	{
		Producer   *pr = &producers[p];
		int			k = pr->topic;
		int			t;

		for (s = 0; s < pr->n; s++)
		{
			Slot	   *sl = &pr->slots[s];
			Found	   *f = &found[p][s];
			int			exists;

			if (sl->tx_ok > 0 && f->eff == 0)
				problem(&effects_lost, 1, "effects", "p=%d s=%d: a consumer's COMMIT succeeded, no effect",
						p, s);
			if (!pr->topic)
			{
				/* queue messages */
				if (sl->target == TARGET_TXQ)
				{
					exists = f->eff > 0;
					if (sl->leased_seen > 0)
						problem(&bad_rows, 1, "queue", "message p=%d s=%d of %s processed by a leased consumer",
								p, s, QUEUE_TX);
					if (f->eff > 0 && f->eff_id != sl->id)
						problem(&bad_rows, 1, "queue", "message p=%d s=%d: sent as id %ld, effect of id %ld",
								p, s, sl->id, f->eff_id);
					if (sl->state == S_COMMITTED && f->eff == 0)
					{
						if (v->lost_txq++ < MAX_REPORT)
							fprintf(stderr, "crash_test: %s: committed message p=%d s=%d (id %ld) never consumed\n",
									QUEUE_TX, p, s, sl->id);
					}
					if (f->eff > 1 && sl->state != S_ABORTED)
					{
						if (v->dup_txq < MAX_REPORT)
							fprintf(stderr, "crash_test: %s: message p=%d s=%d (id %ld) consumed %d times\n",
									QUEUE_TX, p, s, sl->id, f->eff);
						v->dup_txq += f->eff - 1;
					}
				}
				else
				{
					exists = sl->leased_seen > 0;
					if (f->eff > 0)
						problem(&bad_rows, 1, "queue", "message p=%d s=%d of %s has effects", p, s, QUEUE_LEASED);
					if (sl->state == S_COMMITTED && sl->leased_seen == 0)
					{
						if (v->lost_leasedq++ < MAX_REPORT)
							fprintf(stderr, "crash_test: %s: committed message p=%d s=%d (id %ld) never processed\n",
									QUEUE_LEASED, p, s, sl->id);
					}
					if (sl->leased_seen > 1)
						v->redelivered_leasedq += sl->leased_seen - 1;
				}
			}
			else
			{
				/* topic records: in the log, then per group */
				exists = f->log > 0;
				if (sl->state == S_COMMITTED && f->log == 0)
				{
					if (v->lost_log++ < MAX_REPORT)
						fprintf(stderr, "crash_test: topic: committed record p=%d s=%d is not in the topic\n",
								p, s);
				}
				if (f->log > 1)
				{
					if (v->dup_log < MAX_REPORT)
						fprintf(stderr, "crash_test: topic: record p=%d s=%d is in the topic %d times\n",
								p, s, f->log);
					v->dup_log += f->log - 1;
				}
				if (f->log > 0 && sl->target != NO_PARTITION && f->log_part != sl->target)
					v->part_wrong++;
				if (f->log > 0)
				{
					if (f->eff == 0)
					{
						if (v->lost_txg++ < MAX_REPORT)
							fprintf(stderr, "crash_test: group %s: record p=%d s=%d (partition %d offset %ld)"
									" never processed\n", GROUP_TX, p, s, f->log_part, f->log_off);
					}
					else if (f->eff_part != f->log_part || f->eff_off != f->log_off)
						problem(&v->mismatched, 1, GROUP_TX, "record p=%d s=%d at partition %d offset %ld,"
								" effect says partition %d offset %ld",
								p, s, f->log_part, f->log_off, f->eff_part, f->eff_off);
					if (f->eff > 1)
					{
						if (v->dup_txg < MAX_REPORT)
							fprintf(stderr, "crash_test: group %s: record p=%d s=%d processed %d times\n",
									GROUP_TX, p, s, f->eff);
						v->dup_txg += f->eff - 1;
					}
					if (sl->leased_seen == 0)
					{
						if (v->lost_leasedg++ < MAX_REPORT)
							fprintf(stderr, "crash_test: group %s: record p=%d s=%d (partition %d offset %ld)"
									" never processed\n", GROUP_LEASED, p, s, f->log_part, f->log_off);
					}
					if (sl->leased_seen > 1)
						v->redelivered_leasedg += sl->leased_seen - 1;
				}
				else if (f->eff > 0 || sl->leased_seen > 0)
					problem(&bad_rows, 1, "topic", "record p=%d s=%d processed but not in the topic", p, s);
			}

			if (sl->state == S_ABORTED && (exists || f->eff > 0 || sl->leased_seen > 0 || sl->tx_ok > 0))
			{
				if (v->ghosts[k]++ < MAX_REPORT)
					fprintf(stderr, "crash_test: %s p=%d s=%d of a rolled-back transaction was delivered\n",
							k ? "record" : "message", p, s);
			}
			if (sl->state == S_IN_DOUBT)
			{
				if (exists)
					v->doubt_present[k]++;
				else
					v->doubt_absent[k]++;
			}
		}

		/* an in-doubt transaction: all of it or none */
		for (s = 0; s < pr->n; s = t)
		{
			int			present = 0;

			for (t = s; t < pr->n && pr->slots[t].txn == pr->slots[s].txn; t++)
				present += pr->topic ? found[p][t].log > 0
					: pr->slots[t].target == TARGET_TXQ ? found[p][t].eff > 0
					: pr->slots[t].leased_seen > 0;
			if (pr->slots[s].state == S_IN_DOUBT && present != 0 && present != t - s)
				problem(&atomicity, 1, pr->topic ? "topic" : "queue",
						"in-doubt transaction of producer %d: %d of its %d %s exist",
						p, present, t - s, pr->topic ? "records" : "messages");
		}
	}
}
