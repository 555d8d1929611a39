/*
 * pgbroker_bench_run.c - one run of a pgbroker_bench workload.
 *
 * A run starts its clients, one thread and one connection each, with the
 * workload's statement prepared, lets them go for --seconds (or until a
 * group run received every prefilled record, or a consume run emptied
 * the queue), and gathers their counts and statement latencies into a
 * Result.  After a publish or group run it checks the database against
 * what the clients did; a difference ends the benchmark with exit status
 * 3.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgbroker_bench.h"
#include "stats.h"

/* one client of a run */
typedef struct Thread
{
	pthread_t	tid;
	Kind		kind;
	int			batch;
	const char *topic;			/* topic workloads */
	int			index;			/* read-100: this client's number */
	int			clients;		/* read-100: number of clients */
	double		deadline;
	long		messages;
	long		empty;			/* group workloads: empty polls */
	double	   *lat;
	long		nlat;
	long		caplat;
	double		finished_at;
} Thread;

/* A ~100-byte JSON payload. */
static void
payload(char *buf, size_t len, long n)
{
	snprintf(buf, len, "{\"n\": %ld, \"body\": \"%s\"}", n, BENCH_BODY);
}

/* An array literal of n payloads, for jsonb[] parameters. */
static char *
payload_array(int n, long base)
{
	char	   *buf = malloc((size_t) n * 160 + 16);
	char	   *w = buf;
	int			i;

	*w++ = '{';
	for (i = 0; i < n; i++)
	{
		char		p[128];
		char	   *s;

		payload(p, sizeof(p), base + i);
		if (i)
			*w++ = ',';
		*w++ = '"';
		for (s = p; *s; s++)
		{
			if (*s == '"' || *s == '\\')
				*w++ = '\\';
			*w++ = *s;
		}
		*w++ = '"';
	}
	*w++ = '}';
	*w = '\0';
	return buf;
}

static void
record(Thread *t, double ms)
{
	if (t->nlat == t->caplat)
	{
		t->caplat = t->caplat ? t->caplat * 2 : 4096;
		t->lat = realloc(t->lat, sizeof(double) * t->caplat);
	}
	t->lat[t->nlat++] = ms;
}

static void *
worker(void *arg)
{
	Thread	   *t = arg;
	PGconn	   *c = connect_db();
	char		nbuf[16];
	char		name[32];
	char		sql[256];
	const char *params[2];
	long		seq = 0;
	char	   *arr = NULL;
	int			part = t->index % READ_PARTITIONS;	/* read-100 position */
	long		next = read_start[part];

	snprintf(nbuf, sizeof(nbuf), "%d", t->batch);
	snprintf(name, sizeof(name), "bench-%d", t->index);
	sql_cmd(c, "SET statement_timeout = '60s'");
	switch (t->kind)
	{
		case PRODUCE_BROKER:
			if (t->batch == 1)
				sql_prepare(c, "s", "SELECT broker.send('bench', $1::jsonb)");
			else
				sql_prepare(c, "s", "SELECT broker.send_batch('bench', $1::jsonb[])");
			break;
		case PRODUCE_FLOOR:
			if (t->batch == 1)
				sql_prepare(c, "s", "INSERT INTO bench_floor (payload) VALUES ($1::jsonb)");
			else
				sql_prepare(c, "s", "INSERT INTO bench_floor (payload) SELECT pg_catalog.unnest($1::jsonb[])");
			break;
		case CONSUME_BROKER:
			/* claim and ack in one statement: one transaction, like the floor */
			sql_prepare(c, "s",
						"WITH c AS (SELECT * FROM broker.claim('bench', $1::int)),"
						" a AS (SELECT broker.ack('bench', pg_catalog.array_agg(id)) AS n FROM c"
						"       HAVING pg_catalog.count(*) > 0)"
						" SELECT c.id, c.payload, a.n FROM c, a");
			break;
		case CONSUME_LEASED:
			sql_prepare(c, "s", "SELECT id, payload FROM broker.claim('bench', $1::int)");
			sql_prepare(c, "a", "SELECT broker.ack('bench', $1::bigint[])");
			break;
		case CONSUME_FLOOR:
			sql_prepare(c, "s",
						"DELETE FROM bench_floor WHERE id IN (SELECT id FROM bench_floor"
						" ORDER BY id LIMIT $1::int FOR UPDATE SKIP LOCKED) RETURNING *");
			break;
		case PUBLISH_BROKER:
			if (t->batch == 1)
				snprintf(sql, sizeof(sql),
						 "SELECT broker.publish('%s', $1::jsonb)", t->topic);
			else
				snprintf(sql, sizeof(sql),
						 "SELECT broker.publish_batch('%s', $1::jsonb[])", t->topic);
			sql_prepare(c, "s", sql);
			break;
		case PUBLISH_FLOOR:
			if (t->batch == 1)
				sql_prepare(c, "s", "INSERT INTO bench_log_floor (payload) VALUES ($1::jsonb)");
			else
				sql_prepare(c, "s", "INSERT INTO bench_log_floor (payload) SELECT pg_catalog.unnest($1::jsonb[])");
			break;
		case READ_BROKER:
			snprintf(sql, sizeof(sql),
					 "SELECT * FROM broker.read('%s', $1::int, $2::bigint, %d)",
					 t->topic, t->batch);
			sql_prepare(c, "s", sql);
			break;
		case READ_FLOOR:
			snprintf(sql, sizeof(sql),
					 "SELECT * FROM bench_read_floor WHERE part = $1::int AND off >= $2::bigint"
					 " ORDER BY off LIMIT %d", t->batch);
			sql_prepare(c, "s", sql);
			break;
		case GROUP_TX:
			/*
			 * Run in BEGIN ... COMMIT: the offsets advance with the commit.
			 * A consumer loop waits when no partition is free for it (more
			 * consumers than partitions) rather than polling again at once.
			 */
			sql_prepare(c, "s", "SELECT * FROM broker.poll('" GROUP_TOPIC "', 'bench', $1::int,"
						" wait => '100 milliseconds')");
			break;
		case GROUP_LEASED:
			/* poll with a lease, then commit what it returned: one statement */
			sql_prepare(c, "s",
						"WITH r AS (SELECT p FROM broker.poll('" GROUP_TOPIC "', 'bench_l', $1::int,"
						"           wait => '100 milliseconds', consumer => $2::text,"
						"           lease => '30 seconds') p),"
						" c AS (SELECT broker.commit('" GROUP_TOPIC "', 'bench_l',"
						"       pg_catalog.array_agg(r.p), $2::text) FROM r"
						"       HAVING pg_catalog.count(*) > 0)"
						" SELECT (r.p).* FROM r, c");
			break;
		case GROUP_FLOOR:
			sql_prepare(c, "s",
						"DELETE FROM bench_group_floor WHERE id IN (SELECT id FROM bench_group_floor"
						" ORDER BY id LIMIT $1::int FOR UPDATE SKIP LOCKED) RETURNING *");
			break;
	}
	if ((t->kind == PRODUCE_BROKER || t->kind == PRODUCE_FLOOR ||
		 t->kind == PUBLISH_BROKER || t->kind == PUBLISH_FLOOR) && t->batch > 1)
		arr = payload_array(t->batch, 0);

	while (!drained)
	{
		double		t0 = now_secs();
		PGresult   *r;
		long		got;
		char		pbuf[128];

		if (t0 >= t->deadline)
			break;
		if (t->kind == PRODUCE_BROKER || t->kind == PRODUCE_FLOOR ||
			t->kind == PUBLISH_BROKER || t->kind == PUBLISH_FLOOR)
		{
			if (t->batch == 1)
			{
				payload(pbuf, sizeof(pbuf), seq++);
				params[0] = pbuf;
			}
			else
				params[0] = arr;
			r = PQexecPrepared(c, "s", 1, params, NULL, NULL, 0);
			sql_check(c, r, "produce");
			got = t->batch;
		}
		else if (t->kind == READ_BROKER || t->kind == READ_FLOOR)
		{
			char		pb[16],
						ob[24];
			long		want = read_end[part] - next;
			int			col;

			if (want > t->batch)
				want = t->batch;
			snprintf(pb, sizeof(pb), "%d", part);
			snprintf(ob, sizeof(ob), "%ld", next);
			params[0] = pb;
			params[1] = ob;
			r = PQexecPrepared(c, "s", 2, params, NULL, NULL, 0);
			sql_check(c, r, "read");
			got = PQntuples(r);
			col = PQfnumber(r, t->kind == READ_BROKER ? "offset_id" : "off");
			if (got != want || col < 0 ||
				atol(PQgetvalue(r, 0, col)) != next ||
				atol(PQgetvalue(r, got - 1, col)) != next + got - 1)
			{
				fprintf(stderr, "pgbroker_bench: read of partition %d from offset %ld"
						" returned %ld records (offsets %s to %s), expected %ld from %ld\n",
						part, next, got, got > 0 && col >= 0 ? PQgetvalue(r, 0, col) : "-",
						got > 0 && col >= 0 ? PQgetvalue(r, got - 1, col) : "-", want, next);
				exit(3);
			}
			next += got;
			if (next >= read_end[part])
			{
				/* end of the partition: on to this client's next one */
				part = (part + t->clients) % READ_PARTITIONS;
				next = read_start[part];
			}
		}
		else if (is_group_kind(t->kind))
		{
			params[0] = nbuf;
			params[1] = name;
			if (t->kind == GROUP_TX)
				sql_cmd(c, "BEGIN");
			r = PQexecPrepared(c, "s", t->kind == GROUP_LEASED ? 2 : 1, params,
							   NULL, NULL, 0);
			sql_check(c, r, "poll");
			if (t->kind == GROUP_TX)
				sql_cmd(c, "COMMIT");
			got = PQntuples(r);
			if (got == 0)
			{
				/* no partition free for this consumer now, or the end */
				t->empty++;
				PQclear(r);
				continue;
			}
			t->finished_at = now_secs();
			pthread_mutex_lock(&group_lock);
			group_received += got;
			if (group_received >= group_target)
				drained = 1;	/* every prefilled record: the run ends here */
			pthread_mutex_unlock(&group_lock);
		}
		else
		{
			params[0] = nbuf;
			r = PQexecPrepared(c, "s", 1, params, NULL, NULL, 0);
			sql_check(c, r, "consume");
			got = PQntuples(r);
			if (t->kind == CONSUME_LEASED && got > 0)
			{
				char	   *ids = malloc((size_t) got * 24 + 4);
				char	   *w = ids;
				long		i;
				PGresult   *a;
				const char *ap[1];

				*w++ = '{';
				for (i = 0; i < got; i++)
					w += sprintf(w, "%s%s", i ? "," : "", PQgetvalue(r, i, 0));
				*w++ = '}';
				*w = '\0';
				ap[0] = ids;
				a = PQexecPrepared(c, "a", 1, ap, NULL, NULL, 0);
				sql_check(c, a, "ack");
				PQclear(a);
				free(ids);
			}
			if (got == 0)
			{
				drained = 1;	/* the backlog ran out: the run ends here */
				PQclear(r);
				break;
			}
		}
		PQclear(r);
		t->messages += got;
		record(t, (now_secs() - t0) * 1000.0);
	}
	/* a group consumer's run ends with its last poll that got records */
	if (!is_group_kind(t->kind) || t->finished_at == 0)
		t->finished_at = now_secs();
	free(arr);
	PQfinish(c);
	return NULL;
}

/*
 * After a publish run, check that the topic or the floor table holds as many
 * records as it held before (the backlog, earlier runs) plus the ones the
 * clients published, n in all.
 */
static void
check_published(PGconn *c, Kind kind, const char *topic, long n)
{
	char		sql[256];
	PGresult   *r;

	if (kind == PUBLISH_BROKER)
		snprintf(sql, sizeof(sql),
				 "SELECT pg_catalog.sum(broker.latest_offset('%s', p))"
				 " FROM generate_series(0, %d) p", topic, topic_partitions(topic) - 1);
	else
		snprintf(sql, sizeof(sql), "SELECT pg_catalog.count(*) FROM bench_log_floor");
	r = PQexec(c, sql);
	sql_check(c, r, "count published");
	if (PQntuples(r) != 1 || PQgetisnull(r, 0, 0) || atol(PQgetvalue(r, 0, 0)) != n)
	{
		fprintf(stderr, "pgbroker_bench: %s holds %s records after %ld were published\n",
				kind == PUBLISH_BROKER ? topic : "bench_log_floor",
				PQntuples(r) == 1 ? PQgetvalue(r, 0, 0) : "?", n);
		exit(3);
	}
	PQclear(r);
}

/*
 * After a group run: the group's committed offsets add up to the records
 * its consumers received (every poll was committed: in its transaction, or
 * by broker.commit in the same statement), the floor table holds the rows
 * that were not received.
 */
static void
check_group(PGconn *admin, Kind kind, long received, long n)
{
	PGresult   *r;

	if (kind == GROUP_FLOOR)
	{
		r = PQexec(admin, "SELECT pg_catalog.count(*) FROM bench_group_floor");
		sql_check(admin, r, "count floor");
		if (atol(PQgetvalue(r, 0, 0)) != n - received)
		{
			fprintf(stderr, "pgbroker_bench: bench_group_floor holds %s rows after %ld of %ld"
					" were received (expected %ld)\n", PQgetvalue(r, 0, 0), received, n,
					n - received);
			exit(3);
		}
	}
	else
	{
		const char *group = kind == GROUP_TX ? "bench" : "bench_l";
		char		sql[512];

		snprintf(sql, sizeof(sql),
				 "SELECT pg_catalog.sum(committed_offset), pg_catalog.sum(end_offset),"
				 " pg_catalog.count(*)"
				 " FROM broker.consumer_lag WHERE topic = '" GROUP_TOPIC "'"
				 " AND consumer_group = '%s'", group);
		r = PQexec(admin, sql);
		sql_check(admin, r, "consumer_lag");
		if (PQgetisnull(r, 0, 0) || atol(PQgetvalue(r, 0, 0)) != received ||
			atol(PQgetvalue(r, 0, 1)) != n || atoi(PQgetvalue(r, 0, 2)) != GROUP_PARTITIONS)
		{
			fprintf(stderr, "pgbroker_bench: after a %s run, the committed offsets of group %s"
					" on %s add up to %s over %s partitions (end offsets: %s), but its"
					" consumers received and committed %ld of the %ld records prefilled\n",
					kind == GROUP_TX ? "transactional" : "leased", group, GROUP_TOPIC,
					PQgetisnull(r, 0, 0) ? "NULL" : PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 2),
					PQgetisnull(r, 0, 1) ? "NULL" : PQgetvalue(r, 0, 1), received, n);
			exit(3);
		}
	}
	PQclear(r);
}

Result
run_workload(PGconn *admin, Kind kind, int clients, int batch, const char *topic, long prefill_n)
{
	Thread	   *th = calloc(clients, sizeof(Thread));
	double		start;
	double		end = 0;
	long		total = 0;
	long		nlat = 0;
	double	   *all;
	int			i;
	Result		res;

	if (is_topic_kind(kind))
		reset_topic_state(admin, kind);
	else if (is_group_kind(kind))
	{
		prefill_group(admin, kind, prefill_n);
		group_received = 0;
		group_target = prefill_n;
	}
	else
	{
		reset_state(admin);
		if (kind == CONSUME_BROKER || kind == CONSUME_LEASED || kind == CONSUME_FLOOR)
			prefill(admin, kind, batch == 1 ? 60000 : 600000);
		else
			sql_cmd(admin, "CHECKPOINT");
	}
	drained = 0;
	start = now_secs();
	for (i = 0; i < clients; i++)
	{
		th[i].kind = kind;
		th[i].batch = batch;
		th[i].topic = topic;
		th[i].index = i;
		th[i].clients = clients;
		th[i].deadline = start + seconds;
		th[i].finished_at = 0;
		pthread_create(&th[i].tid, NULL, worker, &th[i]);
	}
	res.empty = 0;
	res.least = -1;
	res.most = 0;
	for (i = 0; i < clients; i++)
	{
		pthread_join(th[i].tid, NULL);
		total += th[i].messages;
		nlat += th[i].nlat;
		res.empty += th[i].empty;
		if (res.least < 0 || th[i].messages < res.least)
			res.least = th[i].messages;
		if (th[i].messages > res.most)
			res.most = th[i].messages;
		if (th[i].finished_at > end)
			end = th[i].finished_at;
	}
	res.prefill = is_group_kind(kind) ? prefill_n : 0;
	res.dry = is_group_kind(kind) && drained;
	if (is_group_kind(kind))
	{
		check_group(admin, kind, total, prefill_n);

		/*
		 * The floor's run leaves its consumed rows dead: emptied now, so
		 * that autovacuum does not clean them up during the next run.
		 */
		if (kind == GROUP_FLOOR)
			sql_cmd(admin, "TRUNCATE bench_group_floor");
		if (res.dry)
			fprintf(stderr, "pgbroker_bench: warning: the consumers received all %ld records"
					" prefilled after %.1f of %d s; the rate is measured over that time\n",
					prefill_n, end - start, seconds);
	}
	if (kind == PUBLISH_BROKER)
	{
		int			t = strcmp(topic, bench_topics[0].name) == 0 ? 0 : 1;

		topic_records[t] += total;
		check_published(admin, kind, topic, topic_records[t]);
	}
	else if (kind == PUBLISH_FLOOR)
	{
		log_floor_rows += total;
		check_published(admin, kind, topic, log_floor_rows);
	}
	all = malloc(sizeof(double) * (nlat + 1));
	nlat = 0;
	for (i = 0; i < clients; i++)
	{
		memcpy(all + nlat, th[i].lat, sizeof(double) * th[i].nlat);
		nlat += th[i].nlat;
		free(th[i].lat);
	}
	sort_doubles(all, nlat);
	res.messages = total;
	res.rate = total / (end - start);
	res.p50 = percentile(all, nlat, 50);
	res.p95 = percentile(all, nlat, 95);
	res.p99 = percentile(all, nlat, 99);
	res.max = nlat ? all[nlat - 1] : 0;
	free(all);
	free(th);
	return res;
}
