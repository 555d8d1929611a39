/*
 * group_stress_consumers.c - the consumers of group_stress, and the thread
 * that kills them.
 *
 * A transactional consumer polls in BEGIN ... COMMIT and counts its
 * records once COMMIT succeeded (asking pg_xact_status when the
 * connection went during COMMIT); a leased consumer polls with a lease,
 * counts its records and commits their offsets, and now and then crashes,
 * oversleeps its lease, extends it or skips the commit (see
 * group_stress.c).  Each checks every row it gets against what the
 * producers recorded.  The killer terminates a random consumer's backend
 * every --kill-every milliseconds; the consumer reconnects under the same
 * name.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "group_stress.h"

/* a record received in a transaction still open */
typedef struct
{
	int			slot;
	int			partition;
	long		offset;
} Pending;

/* ---------------------------------------------------------------- consumers */

static PGconn *
consumer_connect(Consumer *cs)
{
	PGconn	   *c = connect_retry(cs->name, 50, 50, 10, NULL);

	pthread_mutex_lock(&mu);
	cs->pid = PQbackendPID(c);
	pthread_mutex_unlock(&mu);
	return c;
}

static PGconn *
consumer_reconnect(Consumer *cs, PGconn *c)
{
	pthread_mutex_lock(&mu);
	cs->pid = 0;
	reconnects++;
	pthread_mutex_unlock(&mu);
	PQfinish(c);
	return consumer_connect(cs);
}

/*
 * Check one row of a poll (partition, offset_id, payload->>'p',
 * payload->>'s') and return the record's slot, or -1 if it is not one of
 * ours.  Also checks that an offset always holds the same record, and
 * that the record is in the partition it was published to.
 */
static int
row_slot(PGresult *res, int row, const char *who, int *partition, long *offset)
{
	int			rp = atoi(PQgetvalue(res, row, 0));
	long		off = atol(PQgetvalue(res, row, 1));
	int			p,
				s,
				slot,
				known;

	*partition = rp;
	*offset = off;
	if (rp < 0 || rp >= npartitions || off < 0 || off >= nslots)
	{
		problem(&bad_rows, 1, who, "row with partition %d offset %ld", rp, off);
		return -1;
	}
	if (PQgetisnull(res, row, 2) || PQgetisnull(res, row, 3))
	{
		problem(&bad_rows, 1, who, "partition %d offset %ld: payload is not one of ours", rp, off);
		return -1;
	}
	p = atoi(PQgetvalue(res, row, 2));
	s = atoi(PQgetvalue(res, row, 3));
	if (p < 0 || p >= nproducers || s < 0 || s >= per_producer)
	{
		problem(&bad_rows, 1, who, "partition %d offset %ld: unknown record p=%d s=%d", rp, off, p, s);
		return -1;
	}
	slot = p * per_producer + s;

	pthread_mutex_lock(&mu);
	known = off_slot[rp * nslots + off];
	if (known < 0)
		off_slot[rp * nslots + off] = slot;
	if (part_of[slot] != rp)
		problem(&bad_rows, 1, who, "record p=%d s=%d published to partition %d, delivered in %d",
				p, s, part_of[slot], rp);
	pthread_mutex_unlock(&mu);
	if (known >= 0 && known != slot)
		problem(&bad_rows, 1, who, "partition %d offset %ld: record p=%d s=%d, earlier p=%d s=%d",
				rp, off, p, s, known / per_producer, known % per_producer);
	return slot;
}

static void
add_segment(Group *gr, int partition, long first, long last)
{
	if (gr->nsegs[partition] == gr->maxsegs[partition])
	{
		gr->maxsegs[partition] = gr->maxsegs[partition] ? 2 * gr->maxsegs[partition] : 256;
		gr->segs[partition] = realloc(gr->segs[partition],
									  sizeof(Segment) * gr->maxsegs[partition]);
	}
	gr->segs[partition][gr->nsegs[partition]].first = first;
	gr->segs[partition][gr->nsegs[partition]].last = last;
	gr->nsegs[partition]++;
}

/* a transaction of a transactional consumer committed: count its records */
static void
transaction_committed(Consumer *cs, Pending *pend, int npend)
{
	Group	   *gr = &groups[cs->g];
	long	   *first = malloc(sizeof(long) * npartitions);
	long	   *last = malloc(sizeof(long) * npartitions);
	int			i;

	for (i = 0; i < npartitions; i++)
		first[i] = last[i] = -1;

	pthread_mutex_lock(&mu);
	for (i = 0; i < npend; i++)
	{
		int			part = pend[i].partition;

		if (seen[cs->g * nslots + pend[i].slot]++ > 0)
			problem(&dup_reports, 1, cs->name,
					"record p=%d s=%d (partition %d offset %ld) processed again",
					pend[i].slot / per_producer, pend[i].slot % per_producer,
					part, pend[i].offset);
		gr->processed++;

		/* committed runs of consecutive offsets */
		if (first[part] >= 0 && pend[i].offset == last[part] + 1)
			last[part] = pend[i].offset;
		else
		{
			if (first[part] >= 0)
				add_segment(gr, part, first[part], last[part]);
			first[part] = last[part] = pend[i].offset;
		}
	}
	for (i = 0; i < npartitions; i++)
		if (first[i] >= 0)
			add_segment(gr, i, first[i], last[i]);
	pthread_mutex_unlock(&mu);
	free(first);
	free(last);
}

/*
 * The connection went while COMMIT was on its way: ask a new connection
 * what became of the transaction.
 */
static int
xact_committed(Consumer *cs, PGconn **c, const char *xid)
{
	for (;;)
	{
		const char *params[1] = {xid};
		PGresult   *r;
		int			q = sql_try(*c, cs->name, &errors, "SELECT pg_xact_status($1::xid8)", 1, params, &r);
		char		status[32];

		if (q == TRY_LOST)
		{
			*c = consumer_reconnect(cs, *c);
			continue;
		}
		if (q != TRY_OK)
			return -1;
		snprintf(status, sizeof(status), "%s", PQgetvalue(r, 0, 0));
		PQclear(r);
		if (strcmp(status, "committed") == 0)
			return 1;
		if (strcmp(status, "aborted") == 0)
			return 0;
		usleep(10000);			/* in progress: the old backend is still on its way out */
	}
}

static void
transactional_consumer(Consumer *cs)
{
	Group	   *gr = &groups[cs->g];
	PGconn	   *c = consumer_connect(cs);
	Pending    *pend = malloc(sizeof(Pending) * 2 * MAX_POLL);
	long	   *next = malloc(sizeof(long) * npartitions);
	const char *poll_sql =
		"SELECT partition, offset_id, payload->>'p', payload->>'s', pg_current_xact_id()::text"
		" FROM broker.poll($1, $2, $3::int, $4::interval)";
	int			idle = 0;

	while (!stop)
	{
		int			npolls = (rand_r(&cs->seed) % 10 == 0) ? 2 : 1;
		int			npend = 0;
		int			q = TRY_OK;
		int			i,
					k;
		char		xid[32] = "";
		int			abort;
		PGresult   *res;

		q = sql_try(c, cs->name, &errors, "BEGIN", 0, NULL, NULL);
		if (q == TRY_LOST)
		{
			c = consumer_reconnect(cs, c);
			continue;
		}
		if (q != TRY_OK)
			continue;

		for (i = 0; i < npartitions; i++)
			next[i] = -1;
		for (k = 0; k < npolls; k++)
		{
			char		mbuf[16];
			const char *params[4];
			int			max_records = 1 + rand_r(&cs->seed) % MAX_POLL;
			int			n;

			snprintf(mbuf, sizeof(mbuf), "%d", max_records);
			params[0] = topic;
			params[1] = gr->name;
			params[2] = mbuf;
			params[3] = idle ? "100 milliseconds" : "0";
			q = sql_try(c, cs->name, &errors, poll_sql, 4, params, &res);
			if (q != TRY_OK)
				break;
			n = PQntuples(res);
			if (n > max_records)
				problem(&bad_rows, 1, cs->name, "poll returned %d rows, asked for at most %d",
						n, max_records);
			for (i = 0; i < n && npend < 2 * MAX_POLL; i++)
			{
				int			part;
				long		off;
				int			slot = row_slot(res, i, cs->name, &part, &off);

				if (slot < 0)
					continue;
				/* within the transaction a partition goes on where it was */
				if (next[part] >= 0 && off != next[part])
					problem(&order_violations, 1, cs->name,
							"partition %d: offset %ld after %ld in one transaction",
							part, off, next[part] - 1);
				next[part] = off + 1;
				pend[npend].slot = slot;
				pend[npend].partition = part;
				pend[npend].offset = off;
				npend++;
				if (!PQgetisnull(res, i, 4))
					snprintf(xid, sizeof(xid), "%s", PQgetvalue(res, i, 4));
			}
			pthread_mutex_lock(&mu);
			gr->delivered += n;
			gr->polls++;
			pthread_mutex_unlock(&mu);
			PQclear(res);
			idle = (n == 0);
			if (n == 0)
				break;
		}
		if (q == TRY_LOST)
		{
			pthread_mutex_lock(&mu);
			gr->killed_in_txn++;
			pthread_mutex_unlock(&mu);
			c = consumer_reconnect(cs, c);
			continue;
		}
		if (q != TRY_OK)
		{
			if (q == TRY_LEASE_LOST)
				problem(&errors, 1, cs->name, "poll without a lease failed with PB001");
			if (sql_try(c, cs->name, &errors, "ROLLBACK", 0, NULL, NULL) == TRY_LOST)
				c = consumer_reconnect(cs, c);
			continue;
		}

		/* "process" them, now and then slowly */
		if (npend > 0 && rand_r(&cs->seed) % 4 == 0)
			usleep((rand_r(&cs->seed) % 10) * 1000);

		abort = (npend > 0 && rand_r(&cs->seed) % 8 == 0);
		if (abort)
		{
			q = sql_try(c, cs->name, &errors, "ROLLBACK", 0, NULL, NULL);
			pthread_mutex_lock(&mu);
			if (q == TRY_LOST)
				gr->killed_in_txn++;
			else
				gr->rollbacks++;
			pthread_mutex_unlock(&mu);
			if (q == TRY_LOST)
				c = consumer_reconnect(cs, c);
			continue;
		}

		q = sql_try(c, cs->name, &errors, "COMMIT", 0, NULL, &res);
		if (q == TRY_OK)
		{
			if (strcmp(PQcmdStatus(res), "COMMIT") == 0)
				transaction_committed(cs, pend, npend);
			else
				problem(&errors, 1, cs->name, "COMMIT answered %s", PQcmdStatus(res));
			PQclear(res);
		}
		else if (q == TRY_LOST)
		{
			int			outcome = 0;

			c = consumer_reconnect(cs, c);
			if (npend > 0 && xid[0] != '\0')
				outcome = xact_committed(cs, &c, xid);
			pthread_mutex_lock(&mu);
			if (outcome == 1)
				gr->in_doubt++;
			else
				gr->killed_in_txn++;
			pthread_mutex_unlock(&mu);
			if (outcome == 1)
				transaction_committed(cs, pend, npend);
		}
	}
	free(pend);
	free(next);
	PQfinish(c);
}

/* commit what one poll returned: the next offset of each partition in it */
static int
commit_poll(Consumer *cs, PGconn *c, const long *last, PGresult *res, int use_records)
{
	Group	   *gr = &groups[cs->g];
	int			q = TRY_OK;
	int			i;

	if (use_records)
	{
		/* broker.commit(topic, group, ARRAY[$4::broker.record, ...], consumer) */
		int			n = PQntuples(res);
		const char **params = malloc(sizeof(char *) * (n + 3));
		char	   *sql = malloc(128 + 24 * n);
		char	   *w = sql;

		w += sprintf(w, "SELECT broker.commit($1, $2, ARRAY[");
		for (i = 0; i < n; i++)
		{
			w += sprintf(w, "%s$%d::broker.record", i ? ", " : "", i + 4);
			params[i + 3] = PQgetvalue(res, i, 4);
		}
		sprintf(w, "], $3)");
		params[0] = topic;
		params[1] = gr->name;
		params[2] = cs->name;
		q = sql_try(c, cs->name, &errors, sql, n + 3, params, NULL);
		free(params);
		free(sql);
		if (q == TRY_OK)
		{
			pthread_mutex_lock(&mu);
			gr->commits++;
			pthread_mutex_unlock(&mu);
		}
		return q;
	}

	for (i = 0; i < npartitions; i++)
	{
		char		pbuf[16];
		char		obuf[24];
		const char *params[5];

		if (last[i] < 0)
			continue;
		snprintf(pbuf, sizeof(pbuf), "%d", i);
		snprintf(obuf, sizeof(obuf), "%ld", last[i] + 1);
		params[0] = topic;
		params[1] = gr->name;
		params[2] = pbuf;
		params[3] = obuf;
		params[4] = cs->name;
		q = sql_try(c, cs->name, &errors, "SELECT broker.commit($1, $2, $3::int, $4::bigint, $5)",
					5, params, NULL);
		if (q == TRY_LEASE_LOST)
		{
			pthread_mutex_lock(&mu);
			gr->lease_lost++;
			pthread_mutex_unlock(&mu);
			continue;			/* the other partitions may still be ours */
		}
		if (q != TRY_OK)
			return q;
		pthread_mutex_lock(&mu);
		gr->commits++;
		pthread_mutex_unlock(&mu);
	}
	return TRY_OK;
}

static void
leased_consumer(Consumer *cs)
{
	Group	   *gr = &groups[cs->g];
	PGconn	   *c = consumer_connect(cs);
	long	   *last = malloc(sizeof(long) * npartitions);
	const char *poll_sql =
		"SELECT partition, offset_id, payload->>'p', payload->>'s', r::text"
		" FROM broker.poll($1, $2, $3::int, $4::interval, $5, $6::interval) r";
	int			idle = 0;

	while (!stop)
	{
		char		mbuf[16];
		const char *params[6];
		int			max_records = 1 + rand_r(&cs->seed) % MAX_POLL;
		PGresult   *res;
		int			q,
					n,
					i,
					what,
					use_records;

		snprintf(mbuf, sizeof(mbuf), "%d", max_records);
		params[0] = topic;
		params[1] = gr->name;
		params[2] = mbuf;
		params[3] = idle ? "200 milliseconds" : "0";
		params[4] = cs->name;
		params[5] = LEASE;
		q = sql_try(c, cs->name, &errors, poll_sql, 6, params, &res);
		if (q == TRY_LOST)
		{
			c = consumer_reconnect(cs, c);
			continue;
		}
		if (q == TRY_LEASE_LOST)
		{
			pthread_mutex_lock(&mu);
			gr->lease_lost++;
			pthread_mutex_unlock(&mu);
			continue;
		}
		if (q != TRY_OK)
		{
			usleep(10000);
			continue;
		}

		n = PQntuples(res);
		if (n > max_records)
			problem(&bad_rows, 1, cs->name, "poll returned %d rows, asked for at most %d",
					n, max_records);
		for (i = 0; i < npartitions; i++)
			last[i] = -1;
		/*
		 * Now and then the consumer dies before processing what it got: the
		 * records do not count, nothing is committed, and it stays away for
		 * longer than its lease, so the group must hand them out again.
		 */
		what = n > 0 ? rand_r(&cs->seed) % 1000 : 1000;
		for (i = 0; i < n; i++)
		{
			int			part;
			long		off;
			int			slot = row_slot(res, i, cs->name, &part, &off);

			if (slot < 0)
				continue;
			/* a poll hands out a partition's records in a row */
			if (last[part] >= 0 && off != last[part] + 1)
				problem(&order_violations, 1, cs->name,
						"partition %d: offset %ld after %ld in one poll", part, off, last[part]);
			last[part] = off;
			if (what < CRASH)
				continue;
			/* process: at least once */
			pthread_mutex_lock(&mu);
			if (seen[cs->g * nslots + slot]++ > 0)
				gr->redelivered++;
			gr->processed++;
			pthread_mutex_unlock(&mu);
		}
		pthread_mutex_lock(&mu);
		gr->delivered += n;
		gr->polls++;
		pthread_mutex_unlock(&mu);
		idle = (n == 0);
		if (n == 0)
		{
			PQclear(res);
			continue;
		}

		if (what < CRASH)
		{
			/* crashed: back after the lease ran out, under the same name */
			PQclear(res);
			pthread_mutex_lock(&mu);
			gr->crashes++;
			cs->pid = 0;
			pthread_mutex_unlock(&mu);
			PQfinish(c);
			nap(LEASE_MS + 500, &stop);
			c = consumer_connect(cs);
			continue;
		}
		else if (what < OVERSLEEP)
		{
			/* too slow: the lease runs out before the commit */
			pthread_mutex_lock(&mu);
			gr->overslept++;
			pthread_mutex_unlock(&mu);
			nap(LEASE_MS + 800, &stop);
		}
		else if (what < EXTEND)
		{
			/* slow, but keeps the lease */
			const char *eparams[3];

			nap(LEASE_MS * 6 / 10, &stop);
			eparams[0] = topic;
			eparams[1] = gr->name;
			eparams[2] = cs->name;
			while ((q = sql_try(c, cs->name, &errors, "SELECT broker.extend_lease($1, $2, $3, '" LEASE "'::interval)",
								3, eparams, NULL)) == TRY_LOST && !stop)
				c = consumer_reconnect(cs, c);
			if (q == TRY_LOST)
				c = consumer_reconnect(cs, c);
			pthread_mutex_lock(&mu);
			if (q == TRY_OK)
				gr->extended++;
			else if (q == TRY_LEASE_LOST)
				gr->lease_lost++;
			pthread_mutex_unlock(&mu);
			nap(LEASE_MS * 6 / 10, &stop);
		}
		else if (what < SKIP)
		{
			/* no commit this time */
			PQclear(res);
			pthread_mutex_lock(&mu);
			gr->skipped++;
			pthread_mutex_unlock(&mu);
			continue;
		}

		/* a commit cut off by a lost connection is tried again */
		use_records = (rand_r(&cs->seed) % 3 == 0);
		while ((q = commit_poll(cs, c, last, res, use_records)) == TRY_LOST && !stop)
			c = consumer_reconnect(cs, c);
		PQclear(res);
		if (q == TRY_LOST)
			c = consumer_reconnect(cs, c);
		else if (q == TRY_LEASE_LOST)
		{
			pthread_mutex_lock(&mu);
			gr->lease_lost++;
			pthread_mutex_unlock(&mu);
		}
	}
	free(last);
	PQfinish(c);
}

void *
consumer_main(void *arg)
{
	Consumer   *cs = (Consumer *) arg;

	if (groups[cs->g].leased)
		leased_consumer(cs);
	else
		transactional_consumer(cs);
	return NULL;
}

void *
killer_main(void *arg)
{
	unsigned	seed = seed0 * 31337;
	PGconn	   *c = connect_db();

	sql_cmd(c, "SET client_min_messages = error");
	while (!stop)
	{
		int			k = rand_r(&seed) % (ngroups * nconsumers);
		int			pid;
		char		pbuf[16];
		const char *params[1];
		PGresult   *r;

		nap(kill_every, &stop);
		if (stop)
			break;
		pthread_mutex_lock(&mu);
		pid = consumers[k].pid;
		pthread_mutex_unlock(&mu);
		if (pid == 0)
			continue;
		snprintf(pbuf, sizeof(pbuf), "%d", pid);
		params[0] = pbuf;
		r = sql_exec(c, "SELECT pg_terminate_backend($1::int)", 1, params);
		if (strcmp(PQgetvalue(r, 0, 0), "t") == 0)
		{
			pthread_mutex_lock(&mu);
			kills++;
			groups[consumers[k].g].kills++;
			pthread_mutex_unlock(&mu);
		}
		PQclear(r);
	}
	PQfinish(c);
	return NULL;
}
