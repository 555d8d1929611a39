/*
 * read.c - pgbroker read: a topic's records by offset, without a consumer
 * group, as a JSON line each (the format of tail).
 *
 * It only reads (broker.read, broker.topic_partitions, broker.offset_for_time),
 * so it works on a hot standby as on the primary, and needs the browse
 * privilege.  Every partition, or the one named, from --from: earliest,
 * latest, an offset or a time (per partition, broker.offset_for_time).
 * It reads each partition in turn, a batch at a time, to its end; with
 * -f it goes on reading, every half second, what arrives (on a standby:
 * what replay brings), until -n records or Ctrl-C.  Offsets only grow and
 * are dense, so a reader that asks for the next offset sees every record
 * committed below it once (docs/design.md argues it on a standby too).
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

typedef struct PartitionPos
{
	char		partition[16];
	long long	next;			/* the next offset to read */
} PartitionPos;

/* the starting offset of every partition (or one), in pos[]; count in *n */
static int
start_positions(PGconn *conn, const char *topic, const char *partition, const char *from,
				PartitionPos **pos, int *n)
{
	const char *values[3] = {topic, partition, from};
	PGresult   *res;
	int			rc;

	/* $3: earliest | latest | digits (an offset) | anything else a time */
	res = exec_params(conn,
					  "SELECT p.partition,"
					  " CASE WHEN $3 = 'earliest' THEN p.earliest_offset"
					  "      WHEN $3 = 'latest' THEN p.latest_offset"
					  "      WHEN $3 ~ '^[0-9]+$' THEN greatest($3::bigint, p.earliest_offset)"
					  "      ELSE broker.offset_for_time($1, p.partition, $3::timestamptz) END AS start"
					  " FROM broker.topic_partitions($1) p"
					  " WHERE $2::int IS NULL OR p.partition = $2::int ORDER BY p.partition",
					  3, values);
	if (!exec_ok(res))
	{
		report_error(conn, res, NULL);
		rc = result_exit_code(conn);
		PQclear(res);
		return rc;
	}
	*n = PQntuples(res);
	if (*n == 0)
	{
		errorf("topic \"%s\" has no partition %s", topic, partition ? partition : "");
		PQclear(res);
		return EXIT_USAGE;
	}
	*pos = calloc(*n, sizeof(PartitionPos));
	for (int i = 0; i < *n; i++)
	{
		snprintf((*pos)[i].partition, sizeof((*pos)[i].partition), "%s", PQgetvalue(res, i, 0));
		(*pos)[i].next = atoll(PQgetvalue(res, i, 1));
	}
	PQclear(res);
	return EXIT_OK;
}

int
cmd_read(int argc, char **argv)
{
	static struct option opts[] = {
		CONN_LONG_OPTIONS,
		{"partition", required_argument, NULL, 'P'},
		{"from", required_argument, NULL, 'F'},
		{"max", required_argument, NULL, 'n'},
		{"batch", required_argument, NULL, 'b'},
		{"follow", no_argument, NULL, 'f'},
		{"payload", no_argument, NULL, 'p' + 256},
		{NULL, 0, NULL, 0}
	};
	const char *partition = NULL;
	const char *from = "earliest";
	long		max = 0;
	long		batch = 100;
	bool		follow = false;
	bool		payload_only = false;
	long		printed = 0;
	int			c;
	int			n = 0;
	int			rc;
	long		v;
	PGconn	   *conn;
	PartitionPos *pos = NULL;
	char		sql[512];
	char		batch_text[16];

	while ((c = getopt_long(argc, argv, CONN_SHORT_OPTIONS "n:f", opts, NULL)) != -1)
	{
		switch (c)
		{
			case 'd':
			case 'h':
			case 'p':
			case 'U':
				set_connection_option(c, optarg);
				break;
			case 'P':
				if (!parse_int(optarg, 0, 1000000, &v))
					fatal_usage("read", "--partition must be a partition number");
				partition = optarg;
				break;
			case 'F':
				from = optarg;
				break;
			case 'n':
				if (!parse_int(optarg, 1, 1000000000, &max))
					fatal_usage("read", "-n must be a positive number");
				break;
			case 'b':
				if (!parse_int(optarg, 1, 10000, &batch))
					fatal_usage("read", "--batch must be from 1 to 10000");
				break;
			case 'f':
				follow = true;
				break;
			case 'p' + 256:
				payload_only = true;
				break;
			default:
				fatal_usage("read", "invalid option");
		}
	}
	if (optind >= argc)
		fatal_usage("read", "missing topic");
	if (optind < argc - 1)
		fatal_usage("read", "too many arguments");

	conn = connect_db();
	install_signal_handlers();
	set_cancel_target(conn);
	rc = start_positions(conn, argv[optind], partition, from, &pos, &n);
	if (rc != EXIT_OK)
	{
		PQfinish(conn);
		return rc;
	}
	snprintf(sql, sizeof(sql), "SELECT r.offset_id, " RECORD_JSON
			 " FROM broker.read($1, $2::int, $3::bigint, $4::int) r ORDER BY r.offset_id", 5);
	snprintf(batch_text, sizeof(batch_text), "%ld", batch);
	while (!interrupted)
	{
		long		got = 0;

		for (int i = 0; i < n && !interrupted; i++)
		{
			for (;;)
			{
				char		next[32];
				const char *values[5];
				PGresult   *res;
				int			rows;

				snprintf(next, sizeof(next), "%lld", pos[i].next);
				values[0] = argv[optind];
				values[1] = pos[i].partition;
				values[2] = next;
				values[3] = batch_text;
				values[4] = payload_only ? "true" : "false";
				res = exec_params(conn, sql, 5, values);
				if (!exec_ok(res))
				{
					report_error(conn, res, NULL);
					rc = interrupted ? EXIT_OK : result_exit_code(conn);
					PQclear(res);
					goto done;
				}
				rows = PQntuples(res);
				for (int r = 0; r < rows; r++)
				{
					printf("%s\n", PQgetvalue(res, r, 1));
					pos[i].next = atoll(PQgetvalue(res, r, 0)) + 1;
					if (max > 0 && ++printed >= max)
					{
						PQclear(res);
						goto done;
					}
				}
				PQclear(res);
				got += rows;
				if (rows < batch)
					break;
			}
		}
		if (fflush(stdout) != 0 || ferror(stdout))
		{
			/* a closed pipe (head) ends it quietly; anything else is an error */
			if (errno != EPIPE)
			{
				errorf("error: could not write to standard output: %s", strerror(errno));
				rc = EXIT_SERVER;
			}
			goto done;
		}
		if (!follow)
			break;
		if (got == 0 && !sleep_interruptible(0.5))
			break;
	}
done:
	fflush(stdout);
	free(pos);
	PQfinish(conn);
	return rc;
}
