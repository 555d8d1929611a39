/*
 * main.c - the pgbroker command-line tool: command dispatch and help.
 *
 *   pgbroker [-h HOST] [-p PORT] [-U USER] [-d DBNAME] COMMAND [OPTION]... [ARG]...
 *
 * Connection parameters follow psql's conventions: -h, -p, -U and -d (a
 * database name, a conninfo string or a URI), before the command or among
 * its options, and the PG* environment variables, ~/.pgpass and sslmode
 * apply as in psql.  As in psql, -h is the host: help is --help or -?,
 * which every command answers too.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#ifndef PGBROKER_VERSION
#define PGBROKER_VERSION "unknown"
#endif

static const Command commands[] = {
	{"send", cmd_send, "send QUEUE [OPTION]...",
		"Send one message per line of standard input to QUEUE.\n"
		"Lines are JSON values; with --raw each line is sent as a JSON string.\n"
		"Empty lines are skipped.  Lines go in batches, one transaction each;\n"
		"a message counts as sent once its batch committed.  A line that is\n"
		"not JSON or is too large is named by its number and skipped; every\n"
		"other line is sent, and the exit status is 3.\n"
		"\n"
		"Options:\n"
		"  --raw                send each line as a JSON string\n"
		"  --batch N            lines per transaction (default 500)\n"
		"  --headers JSON       headers of every message (a JSON object)\n"
		"  --delay INTERVAL     make the messages due after INTERVAL\n"
		"  --priority N         priority of every message (higher first)\n"
		"  --group-key K        group key of every message (one at a time per key)\n"
		"  --dedup-key K        deduplication key: only one message may be sent;\n"
		"                       it goes when input ends, and a second line is a\n"
		"                       usage error (nothing sent)\n"
		"  -q, --quiet          no progress line and no summary\n"
		"  --reconnect          after a lost connection, connect again and go on\n"
		"                       (implied by several hosts or target_session_attrs)\n"},
	{"publish", cmd_publish, "publish TOPIC [OPTION]...",
		"Publish one record per line of standard input to TOPIC.\n"
		"Lines are JSON values (with --raw: JSON strings); with\n"
		"--key-separator each line is KEY, the separator, then the value.\n"
		"Batches and bad lines as for send.\n"
		"\n"
		"Options:\n"
		"  --key KEY            key of every record (partitioning, compaction)\n"
		"  --key-separator SEP  read the key from each line, before SEP\n"
		"  --partition N        publish to partition N instead of by key\n"
		"  --raw                publish each value as a JSON string\n"
		"  --batch N            lines per transaction (default 500)\n"
		"  --headers JSON       headers of every record (a JSON object)\n"
		"  -q, --quiet          no progress line and no summary\n"
		"  --reconnect          after a lost connection, connect again and go on\n"
		"                       (implied by several hosts or target_session_attrs)\n"},
	{"consume", cmd_consume, "consume QUEUE [OPTION]...",
		"Claim messages from QUEUE, print them as JSON lines on standard\n"
		"output and acknowledge them once printed.\n"
		"Without -f: claim, print and acknowledge in one transaction until\n"
		"the queue has nothing ready.  With -f: keep waiting in the server\n"
		"(CALL broker.claim_wait, which holds no snapshot while it sleeps);\n"
		"messages are leased while they are printed and acknowledged after.\n"
		"Ctrl-C stops after the messages in hand are printed and acknowledged.\n"
		"\n"
		"Options:\n"
		"  -f, --follow         wait for more messages until interrupted\n"
		"  -n, --max N          stop after N messages\n"
		"  --batch N            messages per claim (default 100)\n"
		"  --wait INTERVAL      without -f: wait up to INTERVAL for each batch\n"
		"  --lease INTERVAL     with -f: lease of claimed messages (default: the queue's)\n"
		"  --filter JSON        only messages whose headers contain JSON\n"
		"  --payload            print only the payloads\n"
		"  --reconnect          after a lost connection, connect again and go on\n"
		"                       (implied by several hosts or target_session_attrs)\n"},
	{"tail", cmd_tail, "tail TOPIC --group GROUP [OPTION]...",
		"Read TOPIC as consumer group GROUP and print the records as JSON\n"
		"lines, committing the group's offsets once they are printed.\n"
		"Without -f: each batch is polled, printed and committed in one\n"
		"transaction, until the group has caught up.  With -f: keep waiting\n"
		"(CALL broker.poll_wait, no snapshot held while waiting) as a named\n"
		"consumer of the group holding partitions on a lease.\n"
		"Ctrl-C stops after the records in hand are printed and committed.\n"
		"\n"
		"Where a group starts: --from places a new group (one that has no\n"
		"offsets yet) and does nothing to a group that exists, which reads on\n"
		"from its committed offsets (Kafka's auto.offset.reset); --reset-to\n"
		"moves the group, new or not, and says on standard error what moved.\n"
		"\n"
		"Options:\n"
		"  -g, --group GROUP    consumer group (required)\n"
		"  --from POSITION      a new group starts at earliest, latest, an offset\n"
		"                       or a timestamp (default latest)\n"
		"  --reset-to POSITION  first move the group to earliest, latest, an\n"
		"                       offset or a timestamp (all partitions)\n"
		"  -f, --follow         wait for more records until interrupted\n"
		"  -n, --max N          stop after N records\n"
		"  --batch N            records per poll (default 100)\n"
		"  --consumer NAME      with -f: consumer name (default pgbroker-HOST-PID)\n"
		"  --lease INTERVAL     with -f: partition lease (default 30 seconds)\n"
		"  --payload            print only the payloads\n"
		"  --reconnect          after a lost connection, connect again and go on\n"
		"                       (implied by several hosts or target_session_attrs)\n"},
	{"read", cmd_read, "read TOPIC [--partition P] [--from earliest|latest|OFFSET|TIME] [-n N] [-f]",
		"Print a topic's records from a position, without a consumer group, one\n"
		"JSON line each (as tail prints them): every partition in turn, or the\n"
		"one named.  It only reads, so it works on a hot standby.\n"
		"\n"
		"Options:\n"
		"  --partition P        this partition only\n"
		"  --from POS           earliest (default), latest, an offset or a time\n"
		"  -n, --max N          stop after N records\n"
		"  -f, --follow         go on printing what arrives (on a standby: what\n"
		"                       replay brings) until Ctrl-C\n"
		"  --batch N            records per read (default 100)\n"
		"  --payload            print only the payloads\n"},
	{"create", cmd_create, "create queue|topic NAME [OPTION]...",
		"Create a queue or a topic.\n"
		"\n"
		"Options:\n"
		"  --partitions N       topic: number of partitions (default 1)\n"
		"  --retention INTERVAL topic: drop records older than INTERVAL\n"
		"  --compacted          topic: keep the latest record per key\n"
		"  --max-attempts N     queue: deliveries before dead-lettering (default 5)\n"
		"  --lease INTERVAL     queue: default lease (default 30 seconds)\n"
		"  --set NAME=VALUE     any other setting of broker.create_queue or\n"
		"                       broker.create_topic (repeatable)\n"
		"  --if-not-exists      do nothing if it exists\n"},
	{"alter", cmd_alter, "alter queue|topic NAME [OPTION]...",
		"Change settings of a queue or a topic; settings not named keep\n"
		"their values.\n"
		"\n"
		"Options:\n"
		"  --partitions N       topic: more partitions\n"
		"  --retention INTERVAL topic: drop records older than INTERVAL\n"
		"  --max-attempts N     queue: deliveries before dead-lettering\n"
		"  --lease INTERVAL     queue: default lease\n"
		"  --set NAME=VALUE     any other argument of broker.alter_queue or\n"
		"                       broker.alter_topic (repeatable), such as\n"
		"                       ttl=1h, clear_ttl=true, compacted=true\n"},
	{"drop", cmd_drop, "drop queue|topic NAME [--if-exists]",
		"Drop a queue (with its messages and dead letters) or a topic (with\n"
		"its records and consumer groups).\n"
		"\n"
		"Options:\n"
		"  --if-exists          do nothing if it does not exist\n"},
	{"list", cmd_list, "list [queues|topics]",
		"List queues and topics with their depth.\n"},
	{"describe", cmd_describe, "describe queue|topic NAME",
		"Show the settings and state of a queue, or of a topic with its\n"
		"partitions and consumer groups; and its owner and who holds which\n"
		"privilege on it.\n"},
	{"groups", cmd_groups, "groups [TOPIC] [--group GROUP]",
		"Show the consumer groups of TOPIC: committed offset, end offset, lag,\n"
		"lease holder and last commit per partition.  Without TOPIC: every\n"
		"group of every topic, one row each (partitions, total lag, last\n"
		"commit, lease holders).\n"
		"\n"
		"Options:\n"
		"  -g, --group GROUP    only this group\n"},
	{"reset-group", cmd_reset_group,
		"reset-group TOPIC GROUP --to POSITION [--partition P] [--dry-run]",
		"Move consumer group GROUP of TOPIC (broker.seek) to earliest, latest,\n"
		"an offset or a timestamp, and print per partition the committed\n"
		"offset before and after (old -> new).  A group that does not exist is\n"
		"created there.  Consumers holding its partitions lose their lease.\n"
		"With --dry-run the same is done in a transaction that is rolled back:\n"
		"the offsets shown are where the group would go, and nothing moves.\n"
		"\n"
		"Options:\n"
		"  --to POSITION        earliest, latest, an offset or a timestamp (required)\n"
		"  --partition P        only partition P\n"
		"  --dry-run            show what would move, move nothing\n"},
	{"delete-group", cmd_delete_group, "delete-group TOPIC GROUP",
		"Delete consumer group GROUP of TOPIC and its committed offsets\n"
		"(broker.delete_group).\n"},
	{"dead-letters", cmd_dead_letters, "dead-letters QUEUE [-n N] [--history]",
		"List the dead letters of QUEUE (broker.dead_letters): id, attempts,\n"
		"why it died, when, and the last error (on one line, cut to 60\n"
		"characters: broker.dead_letters has it whole).\n"
		"\n"
		"Options:\n"
		"  -n, --max N          at most N dead letters (default 100)\n"
		"  --history            also the history of its deliveries (JSON)\n"},
	{"redrive", cmd_redrive, "redrive QUEUE [ID]...",
		"Send dead letters of QUEUE back into it (broker.redrive): those with\n"
		"the ids given, or every one.  Prints how many.\n"},
	{"purge-dead-letters", cmd_purge_dead_letters, "purge-dead-letters QUEUE [ID]...",
		"Delete dead letters of QUEUE (broker.purge_dead_letters): those with\n"
		"the ids given, or every one.  Prints how many.\n"},
	{"peek", cmd_peek, "peek QUEUE [-n N]",
		"Show messages of QUEUE without claiming them (broker.peek): id, state,\n"
		"attempt, priority, group key, when it is due, payload.\n"
		"\n"
		"Options:\n"
		"  -n, --max N          at most N messages (default 10)\n"},
	{"cancel", cmd_cancel, "cancel QUEUE ID",
		"Remove message ID of QUEUE if it is not leased (broker.cancel), and\n"
		"say whether it was removed.\n"},
	{"subscriptions", cmd_subscriptions, "subscriptions",
		"List the subscriptions (broker.subscriptions): source, consumer group,\n"
		"handler, owner, state (paused, stopped, failing, running or idle),\n"
		"workers, messages or records processed and failed, backlog, the last\n"
		"error (on one line, cut to 60 characters: broker.subscriptions has it\n"
		"whole) and when the last batch ran.  Shown are the caller's own\n"
		"subscriptions and those on queues and topics it may browse; all of\n"
		"them to members of pgbroker_admin and pg_monitor.  Needs membership\n"
		"in pgbroker_consumer, pgbroker_admin or pg_monitor.\n"},
	{"subscription", cmd_subscription, "subscription pause|resume|drop NAME",
		"Pause, resume or drop the subscription NAME: broker.alter_subscription\n"
		"with enabled => false or true, or broker.unsubscribe.  Its workers are\n"
		"told when the change commits.  Resuming also tries again the partitions\n"
		"a topic subscription stopped on.  Dropping keeps the dead letters of a\n"
		"topic subscription.  Done by a member of the role that owns the\n"
		"subscription or of pgbroker_admin.\n"
		"\n"
		"Actions:\n"
		"  pause                stop calling the handler; messages wait in the\n"
		"                       queue, the consumer group keeps its offsets\n"
		"  resume               call the handler again\n"
		"  drop                 remove the subscription\n"},
	{"grant", cmd_grant, "grant PRIVILEGE ROLE (--queue NAME | --topic NAME) | grant create ROLE",
		"Grant ROLE a privilege on a queue or a topic, or the right to create\n"
		"queues and topics.  Queues and topics are private to their owner (the\n"
		"role that created them) until their owner, a holder of manage on\n"
		"them or a member of pgbroker_admin grants a privilege; create is\n"
		"granted by members of pgbroker_admin.  ROLE is taken literally.\n"
		"\n"
		"Privileges:\n"
		"  send                 send to the queue, publish to the topic\n"
		"  consume              claim, ack, nack, extend; create and read as a\n"
		"                       consumer group\n"
		"  browse               peek, dead letters, read, offsets; see the\n"
		"                       queue or topic in list, describe and stats\n"
		"  manage               alter, purge, cancel, redrive, drop; other roles'\n"
		"                       consumer groups; grant and revoke\n"
		"  create               create queues and topics (no --queue or --topic)\n"
		"\n"
		"Options:\n"
		"  --queue NAME         the queue\n"
		"  --topic NAME         the topic\n"},
	{"revoke", cmd_revoke, "revoke PRIVILEGE ROLE (--queue NAME | --topic NAME) | revoke create ROLE",
		"Revoke a privilege granted with grant.  A role that still holds the\n"
		"privilege through a role it belongs to is noted on standard error.\n"
		"\n"
		"Options:\n"
		"  --queue NAME         the queue\n"
		"  --topic NAME         the topic\n"},
	{"metrics", cmd_metrics, "metrics",
		"Print every metric of the database in Prometheus's text exposition\n"
		"format (broker.metrics_text()), for node_exporter's textfile\n"
		"collector or a scraper's script.  Exit status 3 when the metrics\n"
		"cannot be read.\n"},
	{"stats", cmd_stats, "stats [--watch] [--interval SECONDS]",
		"One line per queue and topic: depth, rates in and out over the\n"
		"interval, consumer lag, dead letters, age of the oldest message.\n"
		"\n"
		"Options:\n"
		"  -w, --watch          refresh until interrupted\n"
		"  -i, --interval S     seconds between samples (default 1)\n"},
	{"bench", cmd_bench, "bench [OPTION]...",
		"Benchmark a queue or a topic, and in the same run the floor: plain\n"
		"SQL doing the same work on a plain table.  Creates objects of its own,\n"
		"named for the run (queue or topic pgbroker_bench_PID_N, table\n"
		"pgbroker_bench_floor_PID_N), and drops those and nothing else, also\n"
		"after an error or Ctrl-C.\n"
		"\n"
		"Options:\n"
		"  --topic              benchmark a topic (default: a queue)\n"
		"  -P, --producers N    producer connections (default 4)\n"
		"  -C, --consumers N    consumer connections (default 4)\n"
		"  -s, --size BYTES     payload size (default 100)\n"
		"  -b, --batch N        messages per statement, both sides (default 1)\n"
		"  -T, --seconds S      duration of each run (default 10)\n"
		"  --partitions N       topic partitions (default 8)\n"
		"  --leased             consume leased (claim, then ack) instead of\n"
		"                       in one transaction\n"
		"  --no-floor           skip the floor run\n"
		"  --only-floor         run the floor only\n"
		"  --json               one JSON object on standard output\n"},
	{NULL, NULL, NULL, NULL}
};

static void
usage(FILE *f)
{
	fprintf(f,
			"pgbroker: work queues and topics in PostgreSQL, from the command line.\n"
			"\n"
			"Usage:\n"
			"  pgbroker [-h HOST] [-p PORT] [-U USER] [-d DBNAME] COMMAND [OPTION]... [ARG]...\n"
			"\n"
			"Commands:\n");
	for (const Command *c = commands; c->name; c++)
		fprintf(f, "  %s\n", c->synopsis);
	fprintf(f,
			"\n"
			"Connection (before the command or among its options):\n"
			CONN_HELP
			"                         (default: the PG* environment variables; a\n"
			"                         conninfo or URI given to -d wins over -h, -p, -U)\n"
			"\n"
			"Other options:\n"
			"  -?, --help             show this help; COMMAND --help: the command's\n"
			"  -V, --version          show the version\n"
			"\n"
			"Exit status: 0 done, 1 usage error, 2 connection failed or lost,\n"
			"3 error reported by the server.\n");
}

void
print_command_help(const char *name)
{
	for (const Command *c = commands; c->name; c++)
	{
		if (strcmp(c->name, name) == 0)
		{
			printf("Usage:\n  pgbroker %s\n\n%s", c->synopsis, c->help);
			printf("\nConnection:\n" CONN_HELP);
			return;
		}
	}
}

int
main(int argc, char **argv)
{
	static struct option long_options[] = {
		CONN_LONG_OPTIONS,
		{"help", no_argument, NULL, 'H'},	/* no -H: -h is the host */
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0}
	};
	int			c;

	/* options before the command: stop at the first non-option */
	while ((c = getopt_long(argc, argv, "+" CONN_SHORT_OPTIONS "V?", long_options, NULL)) != -1)
	{
		switch (c)
		{
			case 'd':
			case 'h':
			case 'p':
			case 'U':
				set_connection_option(c, optarg);
				break;
			case 'V':
				printf("pgbroker %s\n", PGBROKER_VERSION);
				return EXIT_OK;
			case 'H':
				usage(stdout);
				return EXIT_OK;
			case '?':
				/* -? is help, as in psql; else getopt said what was wrong */
				if (strcmp(argv[optind - 1], "-?") == 0)
				{
					usage(stdout);
					return EXIT_OK;
				}
				fprintf(stderr, "Try \"pgbroker --help\" for more information.\n");
				return EXIT_USAGE;
			default:
				return EXIT_USAGE;
		}
	}
	if (optind >= argc)
	{
		usage(stderr);
		return EXIT_USAGE;
	}
	for (const Command *cmd = commands; cmd->name; cmd++)
	{
		if (strcmp(cmd->name, argv[optind]) == 0)
		{
			int			cargc = argc - optind;
			char	  **cargv = argv + optind;

			if (is_help_option(cargc, cargv))
			{
				print_command_help(cmd->name);
				return EXIT_OK;
			}
			optind = 0;		/* GNU getopt: start afresh */
			install_signal_handlers();
			return cmd->run(cargc, cargv);
		}
	}
	if (strcmp(argv[optind], "help") == 0)
	{
		if (optind + 1 < argc)
		{
			for (const Command *cmd = commands; cmd->name; cmd++)
				if (strcmp(cmd->name, argv[optind + 1]) == 0)
				{
					print_command_help(cmd->name);
					return EXIT_OK;
				}
		}
		usage(stdout);
		return EXIT_OK;
	}
	fatal_usage(NULL, "unknown command \"%s\"", argv[optind]);
}
