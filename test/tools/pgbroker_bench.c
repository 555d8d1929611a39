/*
 * pgbroker_bench.c - throughput and latency of pgbroker queues, with the
 * floor measured in the same run.
 *
 * Every workload runs twice, interleaved: once through pgbroker and once
 * as plain SQL doing the same work on a plain table (the floor), so each
 * figure is also a ratio.  The floor table is
 *   bench_floor(id bigserial primary key, payload jsonb,
 *               created_at timestamptz default now())
 * and its workloads are the ones in the project brief: INSERT of one row,
 * INSERT of 100 rows in one statement, and
 *   DELETE FROM bench_floor WHERE id IN (SELECT id FROM bench_floor
 *     ORDER BY id LIMIT n FOR UPDATE SKIP LOCKED) RETURNING *
 * Every statement is prepared once per connection.
 *
 * Workloads (clients, messages per transaction):
 *   produce-1     8 clients, 1    broker.send           | INSERT one row
 *   produce-100   4 clients, 100  broker.send_batch      | INSERT 100 rows
 *   consume-1     4 clients, 1    claim + ack, one transaction (one
 *                                 statement)             | DELETE ... SKIP LOCKED
 *   consume-100   4 clients, 100  same                   | same
 *   leased-1/100  4 clients       claim (commit), then ack (commit): two
 *                                 transactions, reported beside the others
 * With --held-xmin the consume workloads run again while another session
 * sits idle in a transaction that holds an xid (so VACUUM can remove
 * nothing), for pgbroker and for the floor.
 *
 * Topic workloads, on topics bench_t16 (16 partitions) and bench_t1 (1).
 * Their floor tables are
 *   bench_log_floor(id bigserial primary key, payload jsonb,
 *                   published_at timestamptz default now())
 *   bench_read_floor(part int, off bigint, key text, payload jsonb,
 *                    headers jsonb, published_at timestamptz,
 *                    primary key (part, off))
 *   publish-1-p16 8 clients, 1    broker.publish, no key (sticky partition),
 *                                 on bench_t16           | INSERT one row
 *   publish-1-p1  8 clients, 1    same on bench_t1       | INSERT one row
 *   publish-100   4 clients, 100  broker.publish_batch on bench_t16
 *                                                        | INSERT 100 rows
 *   read-100      4 clients, 100  broker.read of one partition from an
 *                                 offset, advancing; client i reads partitions
 *                                 i, i+4, ... in turn, wrapping to offset 0
 *                                 at the end             | SELECT ... WHERE
 *                                 part = $1 AND off >= $2 ORDER BY off LIMIT 100
 * read-100 reads a topic prefilled with READ_PARTITIONS * READ_PER_PARTITION
 * records (and a floor table with as many rows); its rate (the msg/s
 * column) is records read per second.  Each run starts on a freshly created topic and an empty
 * floor table, as the queue runs start on a purged queue.
 *
 * With --backlog N (N >= 16) the topic workloads run on top of a backlog
 * instead: before the first round, each bench topic the selected workloads
 * use is prefilled once with N records (~100-byte JSON payloads, spread
 * evenly over its partitions, broker.publish_batch(topic, payloads,
 * partition => p) of BACKLOG_BATCH records per statement from
 * BACKLOG_CLIENTS connections, with broker.maintain_topics() every million
 * records so that the backlog lies in segments as maintain() would leave
 * them), and so is each floor table they use (bench_log_floor with N rows,
 * bench_read_floor with the same N (part, off) rows as bench_t16, by
 * INSERT ... SELECT generate_series).  Then VACUUM ANALYZE of the floor
 * tables and the topics' segment tables, and a CHECKPOINT.  No run
 * recreates the topics or empties the floor tables: the publish workloads
 * append on top of the backlog (the check after each publish run counts
 * the backlog and the earlier runs), and read-100 reads the newest
 * 12,500 offsets of the backlog in each partition of bench_t16 (what a
 * consumer that keeps up reads; --read-all: all N / 16 of them) and the
 * same rows of its floor table.
 * The records retained in all topics when the measurement starts are
 * printed to stderr.
 *
 * Consumer-group workloads, on topic bench_g8 (8 partitions), N = 1, 4 and
 * 16 consumers polling up to 100 records at a time.  Their floor table is
 *   bench_group_floor(id bigserial primary key, payload jsonb,
 *                     created_at timestamptz default now())
 *   group-N          N clients DELETE FROM bench_group_floor WHERE id IN
 *                    (SELECT id FROM bench_group_floor ORDER BY id LIMIT 100
 *                    FOR UPDATE SKIP LOCKED) RETURNING *  (the floor of both)
 *   group-tx-N       N clients, BEGIN; broker.poll('bench_g8', 'bench', 100);
 *                    COMMIT: the group's offsets advance with the transaction
 *   group-leased-N   N clients, each a named consumer of group bench_l: one
 *                    statement polls up to 100 records with a 30-second lease
 *                    and commits them with broker.commit(topic, group,
 *                    records, consumer)
 * Before each run, the topic (dropped and created again, with its group at
 * 'earliest') or the floor table (emptied) is prefilled with enough ~100-byte
 * records that the consumers do not run dry: twice what the workload (or
 * its clean run) received in an earlier run, else three times what the
 * fastest run of its kind did, else 250,000 records a second.  The
 * prefill is broker.publish_batch(topic, payloads, partition => p) of
 * BACKLOG_BATCH records per statement from BACKLOG_CLIENTS connections
 * (broker.maintain_topics() every million records), or INSERT ... SELECT
 * generate_series in statements of as many rows; then VACUUM ANALYZE and a
 * CHECKPOINT.  The rate is records received per second; the latencies are
 * those of the polls that returned records (a transactional consumer gets
 * only partitions that no other open transaction of its group holds, a
 * leased one at most its share of them, so with more consumers than
 * partitions some polls return nothing: their number, and the fewest and
 * most records one consumer received, go to stderr).  A run
 * ends early if the consumers received every prefilled record.  After each
 * run, the group's committed offsets must add up to the records received
 * (every poll is committed), and the floor table must hold the rows not
 * received; otherwise the benchmark fails.  With --held-xmin these
 * workloads run again with a session holding an xid, as the consume ones;
 * each held-xmin figure is also given as a share of the clean one.
 * A floor row runs whenever a workload compared with it does.
 *
 * Connection parameters come from the PG* environment variables.
 *
 * usage: pgbroker_bench [--seconds N] [--rounds N] [--held-xmin] [--json]
 *                       [--only WORKLOAD] [--group-batch N] [--backlog N] [--read-all]
 *
 * This file holds the options, the table of workloads, the rounds and the
 * report; one run's clients are in pgbroker_bench_run.c, the state a run
 * starts from in pgbroker_bench_prefill.c.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgbroker_bench.h"
#include "stats.h"

int			seconds = 10;
static int	rounds = 1;
static int	json = 0;
static int	held = 0;
static const char *only = NULL;
long		backlog = 0;
static int	group_batch = 100;	/* records per poll (and rows per DELETE) */
volatile int drained = 0;

/* read-100: the records it reads in each partition of bench_t16 */
long		read_start[READ_PARTITIONS];
long		read_end[READ_PARTITIONS];
int			read_all = 0;

/* records the bench topics (as bench_topics) and bench_log_floor hold */
long		topic_records[2];
long		log_floor_rows;

/* group workloads: records received in the current run, and prefilled */
long		group_received;
long		group_target;
pthread_mutex_t group_lock = PTHREAD_MUTEX_INITIALIZER;

int
is_group_kind(Kind kind)
{
	return kind == GROUP_TX || kind == GROUP_LEASED || kind == GROUP_FLOOR;
}

int
is_topic_kind(Kind kind)
{
	return kind == PUBLISH_BROKER || kind == PUBLISH_FLOOR ||
		kind == READ_BROKER || kind == READ_FLOOR;
}

typedef struct Row
{
	const char *workload;
	const char *system;
	Kind		kind;
	int			clients;
	int			batch;
	int			held;
	int			floor_row;		/* index of the floor row to compare with, -1 for none */
	const char *topic;			/* topic workloads: the topic */
	Result		r[16];
	int			clean_row;		/* group held-xmin rows: the clean row, else -1 */
	int			selected;		/* runs: matches --only, or is the floor of one that does */
	double		paired;			/* median over the rounds of rate / the floor's rate */
} Row;

/*
 * The records to prefill for a run of group row i in round k: twice what
 * its fastest earlier run (or its clean row's) received in --seconds; if it
 * has none, three times what the fastest run of its kind did, and
 * GROUP_FIRST_RATE a second before any was measured.
 */
static long
group_prefill_size(const Row *rows, int nrows, int i, int k)
{
	double		rate = 0;
	double		factor = 2;
	long		unit = GROUP_PARTITIONS * BACKLOG_BATCH;
	long		n;
	int			c = rows[i].clean_row;
	int			j,
				m;

	for (m = 0; m <= k; m++)
	{
		if (m < k && rows[i].r[m].rate > rate)
			rate = rows[i].r[m].rate;
		if (c >= 0 && rows[c].r[m].rate > rate)
			rate = rows[c].r[m].rate;
	}
	if (rate == 0)
	{
		factor = 3;
		for (j = 0; j < nrows; j++)
			if (rows[j].kind == rows[i].kind)
				for (m = 0; m <= k; m++)
					if (rows[j].r[m].rate > rate)
						rate = rows[j].r[m].rate;
	}
	if (rate == 0)
	{
		rate = GROUP_FIRST_RATE;
		factor = 1;
	}
	n = (long) ceil(factor * rate * seconds / unit) * unit;
	return n < GROUP_MIN_PREFILL ? GROUP_MIN_PREFILL : n;
}

static int
cmp_result(const void *a, const void *b)
{
	return compare_doubles(&((const Result *) a)->rate, &((const Result *) b)->rate);
}

int
main(int argc, char **argv)
{
	Row			rows[] = {
		{"produce-1", "floor", PRODUCE_FLOOR, 8, 1, 0, -1, NULL, {{0}}},
		{"produce-1", "pgbroker", PRODUCE_BROKER, 8, 1, 0, 0, NULL, {{0}}},
		{"produce-100", "floor", PRODUCE_FLOOR, 4, 100, 0, -1, NULL, {{0}}},
		{"produce-100", "pgbroker", PRODUCE_BROKER, 4, 100, 0, 2, NULL, {{0}}},
		{"consume-1", "floor", CONSUME_FLOOR, 4, 1, 0, -1, NULL, {{0}}},
		{"consume-1", "pgbroker", CONSUME_BROKER, 4, 1, 0, 4, NULL, {{0}}},
		{"consume-1", "pgbroker leased", CONSUME_LEASED, 4, 1, 0, 4, NULL, {{0}}},
		{"consume-100", "floor", CONSUME_FLOOR, 4, 100, 0, -1, NULL, {{0}}},
		{"consume-100", "pgbroker", CONSUME_BROKER, 4, 100, 0, 7, NULL, {{0}}},
		{"consume-100", "pgbroker leased", CONSUME_LEASED, 4, 100, 0, 7, NULL, {{0}}},
		{"consume-1 held-xmin", "floor", CONSUME_FLOOR, 4, 1, 1, -1, NULL, {{0}}},
		{"consume-1 held-xmin", "pgbroker", CONSUME_BROKER, 4, 1, 1, 10, NULL, {{0}}},
		{"consume-100 held-xmin", "floor", CONSUME_FLOOR, 4, 100, 1, -1, NULL, {{0}}},
		{"consume-100 held-xmin", "pgbroker", CONSUME_BROKER, 4, 100, 1, 12, NULL, {{0}}},
		{"publish-1-p16", "floor", PUBLISH_FLOOR, 8, 1, 0, -1, NULL, {{0}}},
		{"publish-1-p16", "pgbroker", PUBLISH_BROKER, 8, 1, 0, 14, "bench_t16", {{0}}},
		{"publish-1-p1", "floor", PUBLISH_FLOOR, 8, 1, 0, -1, NULL, {{0}}},
		{"publish-1-p1", "pgbroker", PUBLISH_BROKER, 8, 1, 0, 16, "bench_t1", {{0}}},
		{"publish-100", "floor", PUBLISH_FLOOR, 4, 100, 0, -1, NULL, {{0}}},
		{"publish-100", "pgbroker", PUBLISH_BROKER, 4, 100, 0, 18, "bench_t16", {{0}}},
		{"read-100", "floor", READ_FLOOR, 4, 100, 0, -1, NULL, {{0}}},
		{"read-100", "pgbroker", READ_BROKER, 4, 100, 0, 20, "bench_t16", {{0}}},
		{"group-1", "floor", GROUP_FLOOR, 1, 100, 0, -1, NULL, {{0}}},
		{"group-tx-1", "pgbroker", GROUP_TX, 1, 100, 0, 22, NULL, {{0}}},
		{"group-leased-1", "pgbroker leased", GROUP_LEASED, 1, 100, 0, 22, NULL, {{0}}},
		{"group-4", "floor", GROUP_FLOOR, 4, 100, 0, -1, NULL, {{0}}},
		{"group-tx-4", "pgbroker", GROUP_TX, 4, 100, 0, 25, NULL, {{0}}},
		{"group-leased-4", "pgbroker leased", GROUP_LEASED, 4, 100, 0, 25, NULL, {{0}}},
		{"group-16", "floor", GROUP_FLOOR, 16, 100, 0, -1, NULL, {{0}}},
		{"group-tx-16", "pgbroker", GROUP_TX, 16, 100, 0, 28, NULL, {{0}}},
		{"group-leased-16", "pgbroker leased", GROUP_LEASED, 16, 100, 0, 28, NULL, {{0}}},
		{"group-1 held-xmin", "floor", GROUP_FLOOR, 1, 100, 1, -1, NULL, {{0}}},
		{"group-tx-1 held-xmin", "pgbroker", GROUP_TX, 1, 100, 1, 31, NULL, {{0}}},
		{"group-leased-1 held-xmin", "pgbroker leased", GROUP_LEASED, 1, 100, 1, 31, NULL, {{0}}},
		{"group-4 held-xmin", "floor", GROUP_FLOOR, 4, 100, 1, -1, NULL, {{0}}},
		{"group-tx-4 held-xmin", "pgbroker", GROUP_TX, 4, 100, 1, 34, NULL, {{0}}},
		{"group-leased-4 held-xmin", "pgbroker leased", GROUP_LEASED, 4, 100, 1, 34, NULL, {{0}}},
		{"group-16 held-xmin", "floor", GROUP_FLOOR, 16, 100, 1, -1, NULL, {{0}}},
		{"group-tx-16 held-xmin", "pgbroker", GROUP_TX, 16, 100, 1, 37, NULL, {{0}}},
		{"group-leased-16 held-xmin", "pgbroker leased", GROUP_LEASED, 16, 100, 1, 37, NULL, {{0}}},
	};
	int			nrows = sizeof(rows) / sizeof(rows[0]);
	PGconn	   *admin;
	PGconn	   *holder = NULL;
	int			topics = 0;
	int			groups = 0;
	int			need[4] = {0, 0, 0, 0};	/* --backlog: as Target */
	int			width = 22;		/* of the workload column */
	int			i,
				j,
				k;

	common_init("pgbroker_bench", 3, 3);
	for (i = 1; i < argc; i++)
	{
		if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
			seconds = atoi(argv[++i]);
		else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc)
			rounds = atoi(argv[++i]);
		else if (strcmp(argv[i], "--held-xmin") == 0)
			held = 1;
		else if (strcmp(argv[i], "--json") == 0)
			json = 1;
		else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc)
			only = argv[++i];
		else if (strcmp(argv[i], "--read-all") == 0)
			read_all = 1;
		else if (strcmp(argv[i], "--group-batch") == 0 && i + 1 < argc)
			group_batch = atoi(argv[++i]);
		else if (strcmp(argv[i], "--backlog") == 0 && i + 1 < argc)
		{
			char	   *end;

			backlog = strtol(argv[++i], &end, 10);
			if (*end != '\0' || end == argv[i])
				backlog = -1;
		}
		else
		{
			fprintf(stderr,
					"usage: pgbroker_bench [--seconds N] [--rounds N] [--held-xmin] [--json]\n"
					"                      [--only WORKLOAD] [--group-batch N] [--backlog N] [--read-all]\n"
					"  --group-batch N  records per poll in the group workloads, and rows per\n"
					"               DELETE of their floor (default 100)\n"
					"  --backlog N  run the topic workloads on top of N records prefilled once\n"
					"  --read-all   with --backlog, read-100 reads the whole backlog, not its newest records\n"
					"               into each bench topic and floor table (default 0: every\n"
					"               topic run starts on new topics and empty floor tables)\n");
			return 1;
		}
	}
	if (seconds < 1 || rounds < 1 || rounds > 16)
	{
		fprintf(stderr, "pgbroker_bench: --seconds must be >= 1 and --rounds between 1 and 16\n");
		return 1;
	}
	if (group_batch < 1 || group_batch > 10000)
	{
		fprintf(stderr, "pgbroker_bench: --group-batch must be between 1 and 10000\n");
		return 1;
	}
	for (i = 0; i < nrows; i++)
		if (is_group_kind(rows[i].kind))
			rows[i].batch = group_batch;
	if (backlog != 0 && backlog < READ_PARTITIONS)
	{
		fprintf(stderr, "pgbroker_bench: --backlog must be 0 or at least %d\n", READ_PARTITIONS);
		return 1;
	}
	for (i = 0; i < READ_PARTITIONS; i++)
		read_end[i] = READ_PER_PARTITION;

	/* the rows that run: those --only selects, and the floors they compare with */
	for (i = 0; i < nrows; i++)
		rows[i].selected = (!rows[i].held || held) &&
			(!only || strncmp(rows[i].workload, only, strlen(only)) == 0);
	for (i = 0; i < nrows; i++)
		if (rows[i].selected && rows[i].floor_row >= 0)
			rows[rows[i].floor_row].selected = 1;
	for (i = 0; i < nrows; i++)
	{
		size_t		len = strlen(rows[i].workload);

		/* a group held-xmin row is also compared with its clean row */
		rows[i].clean_row = -1;
		if (is_group_kind(rows[i].kind) && rows[i].held)
			for (j = 0; j < nrows; j++)
			{
				size_t		clen = strlen(rows[j].workload);

				if (!rows[j].held && rows[j].kind == rows[i].kind &&
					rows[j].clients == rows[i].clients &&
					strcmp(rows[j].system, rows[i].system) == 0 && clen < len &&
					strncmp(rows[j].workload, rows[i].workload, clen) == 0 &&
					strcmp(rows[i].workload + clen, " held-xmin") == 0)
					rows[i].clean_row = j;
			}
		if (rows[i].selected && is_group_kind(rows[i].kind))
			groups = 1;
		if (rows[i].selected && (int) len > width)
			width = (int) len;
	}

	admin = connect_db();
	sql_cmd(admin, "SET client_min_messages = warning");
	sql_cmd(admin, "CREATE EXTENSION IF NOT EXISTS pgbroker");
	sql_cmd(admin, "SELECT broker.drop_queue('bench', if_exists => true)");
	sql_cmd(admin, "SELECT broker.create_queue('bench')");
	sql_cmd(admin, "DROP TABLE IF EXISTS bench_floor");
	sql_cmd(admin, "CREATE TABLE bench_floor (id bigserial PRIMARY KEY, payload jsonb,"
			" created_at timestamptz DEFAULT now())");

	/* the topics only when a topic workload runs */
	for (i = 0; i < nrows; i++)
		if (is_topic_kind(rows[i].kind) && rows[i].selected)
		{
			topics = 1;
			if (rows[i].kind == PUBLISH_FLOOR)
				need[TARGET_LOG_FLOOR] = 1;
			else if (rows[i].kind == READ_FLOOR)
				need[TARGET_READ_FLOOR] = 1;
			else if (strcmp(rows[i].topic, "bench_t1") == 0)
				need[TARGET_T1] = 1;
			else
				need[TARGET_T16] = 1;
		}
	if (backlog > 0 && !topics)
	{
		fprintf(stderr, "pgbroker_bench: --backlog applies to the topic workloads only;"
				" none is selected\n");
		backlog = 0;
	}
	if (topics)
	{
		create_topics(admin);
		sql_cmd(admin, "DROP TABLE IF EXISTS bench_log_floor, bench_read_floor");
		sql_cmd(admin, "CREATE TABLE bench_log_floor (id bigserial PRIMARY KEY, payload jsonb,"
				" published_at timestamptz DEFAULT now())");
		sql_cmd(admin, "CREATE TABLE bench_read_floor (part int, off bigint, key text, payload jsonb,"
				" headers jsonb, published_at timestamptz, PRIMARY KEY (part, off))");
		if (backlog > 0)
		{
			prefill_backlog(admin, need);
			report_retained(admin);
		}
	}
	if (groups)
	{
		sql_cmd(admin, "SELECT broker.drop_topic('" GROUP_TOPIC "', if_exists => true)");
		sql_cmd(admin, "DROP TABLE IF EXISTS bench_group_floor");
		sql_cmd(admin, "CREATE TABLE bench_group_floor (id bigserial PRIMARY KEY, payload jsonb,"
				" created_at timestamptz DEFAULT now())");
	}

	for (k = 0; k < rounds; k++)
	{
		for (i = 0; i < nrows; i++)
		{
			if (!rows[i].selected)
				continue;
			if (rows[i].held && holder == NULL)
			{
				holder = connect_db();
				sql_cmd(holder, "BEGIN");
				sql_cmd(holder, "SELECT pg_catalog.txid_current()");
			}
			else if (!rows[i].held && holder != NULL)
			{
				PQfinish(holder);
				holder = NULL;
			}
			rows[i].r[k] = run_workload(admin, rows[i].kind, rows[i].clients,
										rows[i].batch, rows[i].topic,
										is_group_kind(rows[i].kind) ?
										group_prefill_size(rows, nrows, i, k) : 0);
			if (!json && is_group_kind(rows[i].kind))
				fprintf(stderr, "round %d: %-*s %-16s %10.0f rec/s (%ld prefilled, %ld empty polls,"
						" %ld to %ld records per consumer)\n",
						k + 1, width, rows[i].workload, rows[i].system, rows[i].r[k].rate,
						rows[i].r[k].prefill, rows[i].r[k].empty, rows[i].r[k].least,
						rows[i].r[k].most);
			else if (!json)
				fprintf(stderr, "round %d: %-*s %-16s %10.0f %s\n", k + 1,
						width, rows[i].workload, rows[i].system, rows[i].r[k].rate,
						rows[i].kind == READ_BROKER || rows[i].kind == READ_FLOOR ?
						"rec/s" : "msg/s");
		}
		if (holder)
		{
			PQfinish(holder);
			holder = NULL;
		}
	}

	/*
	 * Each round runs a workload right after its floor, so the ratio of
	 * the two in one round is less exposed to a machine whose speed drifts
	 * between rounds than the ratio of the two medians: report both.
	 */
	for (i = 0; i < nrows; i++)
	{
		double		pr[16];
		int			f = rows[i].floor_row;

		if (!rows[i].selected || f < 0)
			continue;
		for (k = 0; k < rounds; k++)
			pr[k] = rows[f].r[k].rate > 0 ? rows[i].r[k].rate / rows[f].r[k].rate : 0;
		sort_doubles(pr, rounds);
		rows[i].paired = pr[rounds / 2];
	}

	/* medians over the rounds */
	if (json)
		printf("[\n");
	else
	{
		printf("%-*s %-16s %8s %12s %7s %7s %8s %8s %8s %8s\n", width, "workload", "system",
			   "clients", "msg/s", "ratio", "paired", "p50 ms", "p95 ms", "p99 ms", "max ms");
	}
	for (i = 0; i < nrows; i++)
	{
		Result		med;
		double		ratio = 0;
		int			first = 1;

		if (!rows[i].selected)
			continue;
		qsort(rows[i].r, rounds, sizeof(Result), cmp_result);
		med = rows[i].r[rounds / 2];
		rows[i].r[0] = med;
		if (rows[i].floor_row >= 0)
			ratio = med.rate / rows[rows[i].floor_row].r[0].rate;
		if (json)
		{
			static int printed = 0;

			char		bbuf[128] = "";

			if (is_topic_kind(rows[i].kind))
				snprintf(bbuf, sizeof(bbuf), ", \"backlog\": %ld", backlog);
			else if (is_group_kind(rows[i].kind))
			{
				int			c = rows[i].clean_row;

				snprintf(bbuf, sizeof(bbuf), ", \"prefill\": %ld, \"empty_polls\": %ld",
						 med.prefill, med.empty);
				if (c >= 0 && rows[c].selected)
					snprintf(bbuf + strlen(bbuf), sizeof(bbuf) - strlen(bbuf),
							 ", \"ratio_to_clean\": %.3f", med.rate / rows[c].r[0].rate);
			}
			printf("%s  {\"workload\": \"%s\", \"system\": \"%s\", \"clients\": %d, \"batch\": %d%s,"
				   " \"msgs_per_s\": %.0f, \"ratio_to_floor\": %.3f, \"paired_ratio\": %.3f,"
				   " \"p50_ms\": %.3f, \"p95_ms\": %.3f, \"p99_ms\": %.3f, \"max_ms\": %.3f}",
				   printed++ ? ",\n" : "", rows[i].workload, rows[i].system,
				   rows[i].clients, rows[i].batch, bbuf, med.rate, ratio, rows[i].paired, med.p50,
				   med.p95, med.p99, med.max);
		}
		else
		{
			char		rbuf[16] = "";
			char		pbuf[16] = "";

			if (rows[i].floor_row >= 0)
			{
				snprintf(rbuf, sizeof(rbuf), "%.2f", ratio);
				snprintf(pbuf, sizeof(pbuf), "%.2f", rows[i].paired);
			}
			printf("%-*s %-16s %8d %12.0f %7s %7s %8.2f %8.2f %8.2f %8.2f\n",
				   width, rows[i].workload, rows[i].system, rows[i].clients, med.rate,
				   rbuf, pbuf, med.p50, med.p95, med.p99, med.max);
		}
		(void) first;
	}
	if (json)
		printf("\n]\n");
	else
	{
		int			header = 0;

		/* group workloads: each held-xmin figure as a share of the clean one */
		for (i = 0; i < nrows; i++)
		{
			int			c = rows[i].clean_row;

			if (!rows[i].selected || c < 0 || !rows[c].selected)
				continue;
			if (!header++)
				printf("\n%-*s %-16s %12s %12s %7s\n", width, "held-xmin vs clean", "system",
					   "held rec/s", "clean rec/s", "share");
			printf("%-*s %-16s %12.0f %12.0f %6.0f%%\n", width, rows[i].workload,
				   rows[i].system, rows[i].r[0].rate, rows[c].r[0].rate,
				   100.0 * rows[i].r[0].rate / rows[c].r[0].rate);
		}
	}

	sql_cmd(admin, "SELECT broker.drop_queue('bench')");
	sql_cmd(admin, "DROP TABLE bench_floor");
	if (topics)
	{
		drop_topics(admin);
		sql_cmd(admin, "DROP TABLE bench_log_floor, bench_read_floor");
	}
	if (groups)
	{
		sql_cmd(admin, "SELECT broker.drop_topic('" GROUP_TOPIC "', if_exists => true)");
		sql_cmd(admin, "DROP TABLE bench_group_floor");
	}
	PQfinish(admin);
	return 0;
}
