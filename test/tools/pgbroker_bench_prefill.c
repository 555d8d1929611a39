/*
 * pgbroker_bench_prefill.c - the state each pgbroker_bench run starts
 * from.
 *
 * A queue run starts on the purged bench queue and an empty floor table,
 * prefilled for the consume workloads; a topic run on new topics and
 * empty floor tables (read-100's prefilled), or with --backlog on the
 * backlog filled once before the first round; a group run on GROUP_TOPIC
 * created anew, or bench_group_floor emptied, filled with as many records
 * as the run can take.  The bulk fills go through BACKLOG_CLIENTS
 * connections taking jobs of BACKLOG_BATCH records from a shared list,
 * and end with the VACUUM ANALYZE and CHECKPOINT that a measurement must
 * not pay for.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pgbroker_bench.h"

/* Fill the queue or the floor table with n messages. */
void
prefill(PGconn *c, Kind kind, long n)
{
	if (kind == CONSUME_FLOOR)
	{
		char		sql[512];

		snprintf(sql, sizeof(sql),
				 "INSERT INTO bench_floor (payload) SELECT jsonb_build_object('n', g, 'body',"
				 " 'pgbroker-benchmark-payload-0123456789abcdefghijklmnopqrstuvwxyz-0123456789')"
				 " FROM generate_series(1, %ld) g", n);
		sql_cmd(c, sql);
	}
	else
	{
		char		sql[512];

		snprintf(sql, sizeof(sql),
				 "SELECT count(*) FROM generate_series(1, %ld, 1000) s,"
				 " LATERAL broker.send_batch('bench', ARRAY(SELECT jsonb_build_object('n', g, 'body',"
				 " 'pgbroker-benchmark-payload-0123456789abcdefghijklmnopqrstuvwxyz-0123456789')"
				 " FROM generate_series(s, LEAST(s + 999, %ld)) g))", n, n);
		sql_cmd(c, sql);
	}

	/*
	 * Statistics as autovacuum would leave them: without them the planner
	 * may run the floor's IN (... LIMIT n FOR UPDATE SKIP LOCKED) subquery
	 * once per row of the outer scan.
	 */
	sql_cmd(c, "ANALYZE bench_floor");
	{
		PGresult   *r = PQexec(c, "SELECT pg_catalog.format('ANALYZE broker.%I', 'queue_' || id)"
							   " FROM broker.queue WHERE name = 'bench'");

		sql_check(c, r, "queue table");
		sql_cmd(c, PQgetvalue(r, 0, 0));
		PQclear(r);
	}
	sql_cmd(c, "CHECKPOINT");
}

void
reset_state(PGconn *c)
{
	sql_cmd(c, "SELECT broker.purge('bench')");
	sql_cmd(c, "TRUNCATE bench_floor");
}

/* the benchmark topics; bench_t16 also holds the read prefill */
const BenchTopic bench_topics[2] = {{"bench_t16", READ_PARTITIONS}, {"bench_t1", 1}};

int
topic_partitions(const char *topic)
{
	size_t		i;

	for (i = 0; i < sizeof(bench_topics) / sizeof(bench_topics[0]); i++)
		if (strcmp(bench_topics[i].name, topic) == 0)
			return bench_topics[i].partitions;
	return 0;
}

/* Drop and create the benchmark topics. */
void
create_topics(PGconn *c)
{
	size_t		i;
	char		sql[128];

	for (i = 0; i < sizeof(bench_topics) / sizeof(bench_topics[0]); i++)
	{
		snprintf(sql, sizeof(sql), "SELECT broker.drop_topic('%s', true)",
				 bench_topics[i].name);
		sql_cmd(c, sql);
		snprintf(sql, sizeof(sql), "SELECT broker.create_topic('%s', %d)",
				 bench_topics[i].name, bench_topics[i].partitions);
		sql_cmd(c, sql);
	}
}

void
drop_topics(PGconn *c)
{
	size_t		i;
	char		sql[128];

	for (i = 0; i < sizeof(bench_topics) / sizeof(bench_topics[0]); i++)
	{
		snprintf(sql, sizeof(sql), "SELECT broker.drop_topic('%s')",
				 bench_topics[i].name);
		sql_cmd(c, sql);
	}
}

/*
 * Fill bench_t16, or the read floor table, with READ_PER_PARTITION records
 * in each of READ_PARTITIONS partitions.  The topic is filled one partition
 * per transaction, the floor in (part, off) order, so that both lay each
 * partition's records out together.
 */
static void
prefill_read(PGconn *c, Kind kind)
{
	char		sql[1024];
	int			p;

	if (kind == READ_FLOOR)
	{
		snprintf(sql, sizeof(sql),
				 "INSERT INTO bench_read_floor (part, off, key, payload, headers, published_at)"
				 " SELECT p, g, NULL, jsonb_build_object('n', g, 'body', '" BENCH_BODY "'),"
				 " '{}', now() FROM generate_series(0, %d) p, generate_series(0, %ld) g"
				 " ORDER BY p, g", READ_PARTITIONS - 1, READ_PER_PARTITION - 1);
		sql_cmd(c, sql);
	}
	else
	{
		PGresult   *r;

		for (p = 0; p < READ_PARTITIONS; p++)
		{
			snprintf(sql, sizeof(sql),
					 "SELECT count(*) FROM generate_series(0, %ld, 1000) s,"
					 " LATERAL broker.publish_batch('bench_t16', ARRAY(SELECT jsonb_build_object('n', g,"
					 " 'body', '" BENCH_BODY "')"
					 " FROM generate_series(s, LEAST(s + 999, %ld)) g), partition => %d)",
					 READ_PER_PARTITION - 1, READ_PER_PARTITION - 1, p);
			sql_cmd(c, sql);
		}
		snprintf(sql, sizeof(sql),
				 "SELECT pg_catalog.string_agg(p || ': ' || o, ', ') FROM generate_series(0, %d) p,"
				 " LATERAL broker.latest_offset('bench_t16', p) o WHERE o <> %ld",
				 READ_PARTITIONS - 1, READ_PER_PARTITION);
		r = PQexec(c, sql);
		sql_check(c, r, "latest_offset");
		if (!PQgetisnull(r, 0, 0))
		{
			fprintf(stderr, "pgbroker_bench: after the prefill, bench_t16 ends at %s"
					" (expected %ld in every partition)\n", PQgetvalue(r, 0, 0),
					READ_PER_PARTITION);
			exit(3);
		}
		PQclear(r);
	}
	/* statistics as autovacuum would leave them, for the topic's tables too */
	sql_cmd(c, "ANALYZE");
}

/*
 * Every topic run starts on new topics and empty floor tables; with
 * --backlog, on the prefilled ones as the earlier runs left them.
 */
void
reset_topic_state(PGconn *c, Kind kind)
{
	if (backlog == 0)
	{
		create_topics(c);
		sql_cmd(c, "TRUNCATE bench_log_floor, bench_read_floor RESTART IDENTITY");
		topic_records[0] = topic_records[1] = 0;
		log_floor_rows = 0;
		if (kind == READ_BROKER || kind == READ_FLOOR)
			prefill_read(c, kind);
	}
	sql_cmd(c, "CHECKPOINT");
}

typedef struct Job
{
	Target		target;
	int			part;
	long		from;			/* first offset (first n for the log floor) */
	long		count;
} Job;

static Job *jobs;
static long njobs;
static long next_job;
static long filled_records;		/* topic records written so far */
static long filled_rows;		/* floor rows written so far */
static pthread_mutex_t job_lock = PTHREAD_MUTEX_INITIALIZER;

/* Records of partition p when n are spread evenly over parts partitions. */
static long
share(long n, int parts, int p)
{
	return n / parts + (p < n % parts ? 1 : 0);
}

/* Append the jobs that write n records spread over parts partitions. */
static Job *
make_jobs(Job *list, long *len, Target target, int parts, long n)
{
	long		c;
	int			p;

	for (c = 0; c * BACKLOG_BATCH < share(n, parts, 0); c++)
		for (p = 0; p < parts; p++)
		{
			long		from = c * BACKLOG_BATCH;
			long		count = share(n, parts, p) - from;

			if (count <= 0)
				continue;
			if (count > BACKLOG_BATCH)
				count = BACKLOG_BATCH;
			list[*len].target = target;
			list[*len].part = p;
			list[*len].from = from;
			list[*len].count = count;
			(*len)++;
		}
	return list;
}

static void *
backlog_worker(void *arg)
{
	PGconn	   *c = connect_db();
	int			ready[4] = {0, 0, 0, 0};	/* statements prepared: topic, floors */

	(void) arg;
	for (;;)
	{
		Job		   *j;
		char		pb[16],
					fb[24],
					lb[24];
		const char *params[4];
		PGresult   *r;

		pthread_mutex_lock(&job_lock);
		j = next_job < njobs ? &jobs[next_job++] : NULL;
		pthread_mutex_unlock(&job_lock);
		if (j == NULL)
			break;
		/* each statement prepared when first needed: only its table exists */
		if ((j->target == TARGET_T16 || j->target == TARGET_T1 ||
			 j->target == TARGET_GROUP) && !ready[0]++)
			sql_prepare(c, "topic",
						"SELECT broker.publish_batch($1::text, ARRAY(SELECT jsonb_build_object('n', g,"
						" 'body', '" BENCH_BODY "') FROM generate_series($3::bigint, $4::bigint) g),"
						" partition => $2::int)");
		else if (j->target == TARGET_LOG_FLOOR && !ready[1]++)
			sql_prepare(c, "log_floor",
						"INSERT INTO bench_log_floor (payload) SELECT jsonb_build_object('n', g,"
						" 'body', '" BENCH_BODY "') FROM generate_series($1::bigint, $2::bigint) g");
		else if (j->target == TARGET_READ_FLOOR && !ready[2]++)
			sql_prepare(c, "read_floor",
						"INSERT INTO bench_read_floor (part, off, key, payload, headers, published_at)"
						" SELECT $1::int, g, NULL, jsonb_build_object('n', g, 'body', '" BENCH_BODY "'),"
						" '{}', now() FROM generate_series($2::bigint, $3::bigint) g");
		else if (j->target == TARGET_GROUP_FLOOR && !ready[3]++)
			sql_prepare(c, "group_floor",
						"INSERT INTO bench_group_floor (payload) SELECT jsonb_build_object('n', g,"
						" 'body', '" BENCH_BODY "') FROM generate_series($1::bigint, $2::bigint) g");
		snprintf(pb, sizeof(pb), "%d", j->part);
		snprintf(fb, sizeof(fb), "%ld", j->from);
		snprintf(lb, sizeof(lb), "%ld", j->from + j->count - 1);
		switch (j->target)
		{
			case TARGET_T16:
			case TARGET_T1:
			case TARGET_GROUP:
				params[0] = j->target == TARGET_GROUP ? GROUP_TOPIC :
					bench_topics[j->target == TARGET_T16 ? 0 : 1].name;
				params[1] = pb;
				params[2] = fb;
				params[3] = lb;
				r = PQexecPrepared(c, "topic", 4, params, NULL, NULL, 0);
				break;
			case TARGET_LOG_FLOOR:
			case TARGET_GROUP_FLOOR:
				params[0] = fb;
				params[1] = lb;
				r = PQexecPrepared(c, j->target == TARGET_LOG_FLOOR ? "log_floor" : "group_floor",
								   2, params, NULL, NULL, 0);
				break;
			default:
				params[0] = pb;
				params[1] = fb;
				params[2] = lb;
				r = PQexecPrepared(c, "read_floor", 3, params, NULL, NULL, 0);
				break;
		}
		sql_check(c, r, "backlog prefill");
		PQclear(r);
		pthread_mutex_lock(&job_lock);
		if (j->target == TARGET_T16 || j->target == TARGET_T1 || j->target == TARGET_GROUP)
			filled_records += j->count;
		else
			filled_rows += j->count;
		pthread_mutex_unlock(&job_lock);
	}
	PQfinish(c);
	return NULL;
}

/* Check that each partition of a prefilled topic ends at its share. */
static void
check_backlog(PGconn *c, int t)
{
	char		sql[512];
	PGresult   *r;
	int			parts = bench_topics[t].partitions;

	snprintf(sql, sizeof(sql),
			 "SELECT pg_catalog.string_agg(p || ': ' || o, ', ') FROM generate_series(0, %d) p,"
			 " LATERAL broker.latest_offset('%s', p) o"
			 " WHERE o <> %ld + CASE WHEN p < %ld THEN 1 ELSE 0 END",
			 parts - 1, bench_topics[t].name, backlog / parts, backlog % parts);
	r = PQexec(c, sql);
	sql_check(c, r, "latest_offset");
	if (!PQgetisnull(r, 0, 0))
	{
		fprintf(stderr, "pgbroker_bench: after the backlog prefill, %s ends at %s"
				" (expected %ld records spread evenly over %d partitions)\n",
				bench_topics[t].name, PQgetvalue(r, 0, 0), backlog, parts);
		exit(3);
	}
	PQclear(r);
}

/*
 * --backlog: fill the topics and floor tables that the selected workloads
 * use with backlog records each, once, from BACKLOG_CLIENTS connections.
 * The jobs of the targets are interleaved, and within a topic the
 * partitions, so that the connections mostly write to different partitions
 * and each partition's records lie in runs of BACKLOG_BATCH.
 */
void
prefill_backlog(PGconn *admin, const int need[4])
{
	Job		   *lists[4];
	long		lens[4] = {0, 0, 0, 0};
	long		longest = 0;
	long		total_records = 0,
				total_rows = 0;
	long		i;
	int			t;
	pthread_t	tids[BACKLOG_CLIENTS];
	double		start = now_secs(),
				filled_at,
				vacuumed_at;
	long		reported = 0;
	PGresult   *r;
	char	   *sql;
	size_t		len;

	for (t = 0; t < 4; t++)
	{
		int			parts = t == TARGET_T16 || t == TARGET_READ_FLOOR ? READ_PARTITIONS : 1;

		lists[t] = malloc(sizeof(Job) * (backlog / BACKLOG_BATCH + parts + 1));
		if (need[t])
		{
			make_jobs(lists[t], &lens[t], (Target) t, parts, backlog);
			if (t == TARGET_T16 || t == TARGET_T1)
				total_records += backlog;
			else
				total_rows += backlog;
		}
		if (lens[t] > longest)
			longest = lens[t];
	}
	jobs = malloc(sizeof(Job) * (lens[0] + lens[1] + lens[2] + lens[3] + 1));
	njobs = 0;
	for (i = 0; i < longest; i++)
		for (t = 0; t < 4; t++)
			if (i < lens[t])
				jobs[njobs++] = lists[t][i];
	for (t = 0; t < 4; t++)
		free(lists[t]);
	next_job = 0;
	filled_records = filled_rows = 0;

	fprintf(stderr, "backlog: prefilling%s%s%s%s with %ld records each, %d connections\n",
			need[TARGET_T16] ? " bench_t16" : "", need[TARGET_T1] ? " bench_t1" : "",
			need[TARGET_LOG_FLOOR] ? " bench_log_floor" : "",
			need[TARGET_READ_FLOOR] ? " bench_read_floor" : "", backlog, BACKLOG_CLIENTS);
	for (t = 0; t < BACKLOG_CLIENTS; t++)
		pthread_create(&tids[t], NULL, backlog_worker, NULL);
	for (;;)
	{
		long		records,
					rows;
		int			done;

		usleep(200000);
		pthread_mutex_lock(&job_lock);
		records = filled_records;
		rows = filled_rows;
		done = records + rows == total_records + total_rows;
		pthread_mutex_unlock(&job_lock);
		if ((records + rows) / 1000000 > reported / 1000000 || done)
		{
			fprintf(stderr, "backlog: %ld of %ld topic records, %ld of %ld floor rows, %.0f s\n",
					records, total_records, rows, total_rows, now_secs() - start);
			reported = records + rows;
			/* rotate segments as a maintain() every minute would */
			if (need[TARGET_T16] || need[TARGET_T1])
			{
				r = PQexec(admin, "SELECT * FROM broker.maintain_topics()");
				sql_check(admin, r, "maintain_topics");
				PQclear(r);
			}
		}
		if (done)
			break;
	}
	for (t = 0; t < BACKLOG_CLIENTS; t++)
		pthread_join(tids[t], NULL);
	free(jobs);
	jobs = NULL;
	filled_at = now_secs();

	for (t = 0; t < 2; t++)
		if (need[t])
		{
			check_backlog(admin, t);
			topic_records[t] = backlog;
		}
	if (need[TARGET_LOG_FLOOR])
		log_floor_rows = backlog;
	for (i = 0; i < READ_PARTITIONS; i++)
	{
		read_end[i] = share(backlog, READ_PARTITIONS, i);
		/* a consumer that keeps up reads the newest records */
		if (!read_all && read_end[i] > READ_PER_PARTITION)
			read_start[i] = read_end[i] - READ_PER_PARTITION;
	}

	/*
	 * Statistics, hint bits and the visibility map as autovacuum would leave
	 * them, on the floor tables and the topics' segment tables alike, and the
	 * prefill's dirty buffers written out: the measurement pays for none of
	 * it, nor does autovacuum start on these tables during it.
	 */
	r = PQexec(admin,
			   "SELECT pg_catalog.string_agg(broker._segment_table(s.topic_id, s.seg_no), ', ')"
			   " FROM broker.segment s JOIN broker.topic t ON t.id = s.topic_id"
			   " WHERE t.name IN ('bench_t16', 'bench_t1')");
	sql_check(admin, r, "segment tables");
	len = strlen(PQgetvalue(r, 0, 0)) + 128;
	sql = malloc(len);
	snprintf(sql, len, "VACUUM (ANALYZE) bench_log_floor, bench_read_floor%s%s",
			 PQgetisnull(r, 0, 0) ? "" : ", ", PQgetvalue(r, 0, 0));
	PQclear(r);
	sql_cmd(admin, sql);
	free(sql);
	vacuumed_at = now_secs();
	sql_cmd(admin, "CHECKPOINT");
	fprintf(stderr, "backlog: prefill %.1f s (%.0f records/s), VACUUM ANALYZE %.1f s,"
			" CHECKPOINT %.1f s\n", filled_at - start,
			(total_records + total_rows) / (filled_at - start), vacuumed_at - filled_at,
			now_secs() - vacuumed_at);
}

/* The records retained in all topics, and their size, to stderr. */
void
report_retained(PGconn *c)
{
	PGresult   *r = PQexec(c, "SELECT coalesce(pg_catalog.sum(records), 0),"
						   " (coalesce(pg_catalog.sum(bytes), 0) / 1048576)::bigint,"
						   " coalesce(pg_catalog.sum(segments), 0)"
						   " FROM broker.topics");

	sql_check(c, r, "broker.topics");
	fprintf(stderr, "backlog: the measurement starts with %s records retained in topics"
			" (%s MB in %s segments)\n",
			PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 2));
	PQclear(r);
}

/*
 * Before a group run: GROUP_TOPIC created anew and filled with n records
 * spread evenly over its partitions, its group for the workload at
 * 'earliest', or bench_group_floor emptied and filled with n rows.
 */
void
prefill_group(PGconn *admin, Kind kind, long n)
{
	int			parts = kind == GROUP_FLOOR ? 1 : GROUP_PARTITIONS;
	pthread_t	tids[BACKLOG_CLIENTS];
	long		maintained = 0;
	char		sql[512];
	PGresult   *r;
	int			t;

	if (kind == GROUP_FLOOR)
		sql_cmd(admin, "TRUNCATE bench_group_floor RESTART IDENTITY");
	else
	{
		sql_cmd(admin, "SELECT broker.drop_topic('" GROUP_TOPIC "', if_exists => true)");
		snprintf(sql, sizeof(sql), "SELECT broker.create_topic('" GROUP_TOPIC "', partitions => %d)",
				 GROUP_PARTITIONS);
		sql_cmd(admin, sql);
	}

	jobs = malloc(sizeof(Job) * (n / BACKLOG_BATCH + parts + 1));
	njobs = 0;
	make_jobs(jobs, &njobs, kind == GROUP_FLOOR ? TARGET_GROUP_FLOOR : TARGET_GROUP, parts, n);
	next_job = 0;
	filled_records = filled_rows = 0;
	for (t = 0; t < BACKLOG_CLIENTS; t++)
		pthread_create(&tids[t], NULL, backlog_worker, NULL);
	for (;;)
	{
		long		done;

		usleep(100000);
		pthread_mutex_lock(&job_lock);
		done = filled_records + filled_rows;
		pthread_mutex_unlock(&job_lock);
		/* rotate segments as a maintain() every minute would */
		if (kind != GROUP_FLOOR && (done / 1000000 > maintained / 1000000 || done == n))
		{
			r = PQexec(admin, "SELECT * FROM broker.maintain_topics()");
			sql_check(admin, r, "maintain_topics");
			PQclear(r);
			maintained = done;
		}
		if (done == n)
			break;
	}
	for (t = 0; t < BACKLOG_CLIENTS; t++)
		pthread_join(tids[t], NULL);
	free(jobs);
	jobs = NULL;

	if (kind == GROUP_FLOOR)
		snprintf(sql, sizeof(sql), "SELECT pg_catalog.count(*) FROM bench_group_floor");
	else
		snprintf(sql, sizeof(sql),
				 "SELECT pg_catalog.sum(broker.latest_offset('" GROUP_TOPIC "', p))"
				 " FROM generate_series(0, %d) p", GROUP_PARTITIONS - 1);
	r = PQexec(admin, sql);
	sql_check(admin, r, "count prefill");
	if (PQgetisnull(r, 0, 0) || atol(PQgetvalue(r, 0, 0)) != n)
	{
		fprintf(stderr, "pgbroker_bench: after the prefill, %s holds %s records (expected %ld)\n",
				kind == GROUP_FLOOR ? "bench_group_floor" : GROUP_TOPIC, PQgetvalue(r, 0, 0), n);
		exit(3);
	}
	PQclear(r);

	/* statistics, hint bits and the visibility map as autovacuum would leave them */
	if (kind == GROUP_FLOOR)
		sql_cmd(admin, "VACUUM (ANALYZE) bench_group_floor");
	else
	{
		char	   *vac;
		size_t		len;

		r = PQexec(admin,
				   "SELECT pg_catalog.string_agg(broker._segment_table(s.topic_id, s.seg_no), ', ')"
				   " FROM broker.segment s JOIN broker.topic t ON t.id = s.topic_id"
				   " WHERE t.name = '" GROUP_TOPIC "'");
		sql_check(admin, r, "segment tables");
		if (!PQgetisnull(r, 0, 0))
		{
			len = strlen(PQgetvalue(r, 0, 0)) + 32;
			vac = malloc(len);
			snprintf(vac, len, "VACUUM (ANALYZE) %s", PQgetvalue(r, 0, 0));
			sql_cmd(admin, vac);
			free(vac);
		}
		PQclear(r);
		snprintf(sql, sizeof(sql),
				 "SELECT broker.delete_group('" GROUP_TOPIC "', '%s', true)",
				 kind == GROUP_TX ? "bench" : "bench_l");
		sql_cmd(admin, sql);
		snprintf(sql, sizeof(sql),
				 "SELECT broker.create_group('" GROUP_TOPIC "', '%s', 'earliest')",
				 kind == GROUP_TX ? "bench" : "bench_l");
		sql_cmd(admin, sql);
	}
	sql_cmd(admin, "CHECKPOINT");
}
