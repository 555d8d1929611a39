/*
 * main.c - pgbroker-console: options, then the HTTP server (http.c).
 *
 *   pgbroker-console [--listen ADDR:PORT] [-h HOST] [-p PORT] [-U USER] [-d DBNAME|CONNINFO]
 *                    [--auth] [--read-only] [--tls-cert FILE --tls-key FILE]
 *                    [--pool N] [--statement-timeout MS] [--static-dir DIR]
 *
 * It listens on 127.0.0.1:8080 unless told otherwise.  Without --auth it
 * acts as the one role of its connection options; with --auth each
 * request's HTTP basic credentials are the database login, and then it
 * refuses to listen beyond the loopback interface without TLS.
 */
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "console.h"

#ifndef PGBROKER_CONSOLE_STATIC
#define PGBROKER_CONSOLE_STATIC "/usr/local/share/pgbroker-console"
#endif

ConsoleConfig console;

static void
usage(FILE *out)
{
	fprintf(out,
			"pgbroker-console: a web console for pgbroker's queues, topics, consumer groups\n"
			"and dead letters.\n"
			"\n"
			"Usage: pgbroker-console [OPTION]...\n"
			"\n"
			"Options:\n"
			"  --listen ADDR:PORT      address to listen on (default 127.0.0.1:8080; [::1]:8080)\n"
			"  -h, --host HOST         database server host or socket directory\n"
			"  -p, --port PORT         database server port\n"
			"  -U, --username USER     database user (without --auth)\n"
			"  -d, --dbname DBNAME     database name or connection string\n"
			"  --auth                  HTTP basic credentials are each request's database login\n"
			"  --read-only             show, but refuse and hide every action\n"
			"  --tls-cert FILE         serve HTTPS with this certificate (PEM) ...\n"
			"  --tls-key FILE          ... and this key\n"
			"  --pool N                database connections at most (default 4)\n"
			"  --statement-timeout MS  limit of each query (default 5000)\n"
			"  --static-dir DIR        the page's files (default " PGBROKER_CONSOLE_STATIC ")\n"
			"  --allowed-host NAME     a host name browsers reach it by, beyond its address and\n"
			"                          localhost (repeatable); other Host headers are refused\n"
			"  --help                  show this help\n"
			"\n"
			"Pages: / (overview, queue and topic pages); /metrics (Prometheus); /api/v1/...\n"
			"(JSON, see docs/console.md).\n");
}

static bool
loopback(const char *host)
{
	return strncmp(host, "127.", 4) == 0 || strcmp(host, "::1") == 0;
}

static void
add_conn(const char *keyword, const char *value)
{
	for (int i = 0; i < console.nconn; i++)
		if (strcmp(console.conn_keywords[i], keyword) == 0)
		{
			console.conn_values[i] = value;
			return;
		}
	console.conn_keywords[console.nconn] = keyword;
	console.conn_values[console.nconn++] = value;
}

static void
make_token(void)
{
	unsigned char raw[32];
	int			fd = open("/dev/urandom", O_RDONLY);

	if (fd < 0 || read(fd, raw, sizeof(raw)) != (ssize_t) sizeof(raw))
	{
		fprintf(stderr, "pgbroker-console: cannot read /dev/urandom\n");
		exit(1);
	}
	close(fd);
	for (size_t i = 0; i < sizeof(raw); i++)
		sprintf(console.token + 2 * i, "%02x", raw[i]);
}

int
main(int argc, char **argv)
{
	static struct option opts[] = {
		{"listen", required_argument, NULL, 'l'},
		{"host", required_argument, NULL, 'h'},
		{"port", required_argument, NULL, 'p'},
		{"username", required_argument, NULL, 'U'},
		{"dbname", required_argument, NULL, 'd'},
		{"auth", no_argument, NULL, 'a'},
		{"read-only", no_argument, NULL, 'r'},
		{"tls-cert", required_argument, NULL, 'c'},
		{"tls-key", required_argument, NULL, 'k'},
		{"pool", required_argument, NULL, 'P'},
		{"statement-timeout", required_argument, NULL, 't'},
		{"static-dir", required_argument, NULL, 's'},
		{"allowed-host", required_argument, NULL, 'A'},
		{"help", no_argument, NULL, 'H'},
		{NULL, 0, NULL, 0}
	};
	const char *listen = "127.0.0.1:8080";
	int			c;
	long		v;
	char	   *end;

	console.pool_size = 4;
	console.statement_timeout_ms = 5000;
	console.static_dir = PGBROKER_CONSOLE_STATIC;
	while ((c = getopt_long(argc, argv, "h:p:U:d:", opts, NULL)) != -1)
	{
		switch (c)
		{
			case 'l':
				listen = optarg;
				break;
			case 'h':
				add_conn("host", optarg);
				break;
			case 'p':
				add_conn("port", optarg);
				break;
			case 'U':
				add_conn("user", optarg);
				break;
			case 'd':
				add_conn("dbname", optarg);
				break;
			case 'a':
				console.auth = true;
				break;
			case 'r':
				console.read_only = true;
				break;
			case 'c':
				console.tls_cert = optarg;
				break;
			case 'k':
				console.tls_key = optarg;
				break;
			case 'P':
				console.pool_size = (int) strtol(optarg, &end, 10);
				if (*end || console.pool_size < 1 || console.pool_size > 64)
				{
					fprintf(stderr, "pgbroker-console: --pool must be from 1 to 64\n");
					return 1;
				}
				break;
			case 't':
				v = strtol(optarg, &end, 10);
				console.statement_timeout_ms = (int) v;
				if (*end || v < 1 || v > 24L * 3600 * 1000)
				{
					fprintf(stderr, "pgbroker-console: --statement-timeout must be a positive number of milliseconds\n");
					return 1;
				}
				break;
			case 's':
				console.static_dir = optarg;
				break;
			case 'A':
				if (console.nallowed >= 4)
				{
					fprintf(stderr, "pgbroker-console: at most 4 --allowed-host\n");
					return 1;
				}
				console.allowed_hosts[console.nallowed++] = optarg;
				break;
			case 'H':
				usage(stdout);
				return 0;
			default:
				usage(stderr);
				return 1;
		}
	}
	if (optind < argc)
	{
		fprintf(stderr, "pgbroker-console: too many arguments\n");
		return 1;
	}
	if ((console.tls_cert == NULL) != (console.tls_key == NULL))
	{
		fprintf(stderr, "pgbroker-console: --tls-cert and --tls-key go together\n");
		return 1;
	}

	/* ADDR:PORT, [V6]:PORT */
	{
		char	   *copy = strdup(listen);
		char	   *colon = strrchr(copy, ':');

		if (colon == NULL)
		{
			fprintf(stderr, "pgbroker-console: --listen takes ADDR:PORT\n");
			return 1;
		}
		*colon = '\0';
		console.listen_port = (int) strtol(colon + 1, &end, 10);
		if (*end || console.listen_port < 0 || console.listen_port > 65535)
		{
			fprintf(stderr, "pgbroker-console: --listen: bad port \"%s\"\n", colon + 1);
			return 1;
		}
		if (copy[0] == '[' && copy[strlen(copy) - 1] == ']')
		{
			copy[strlen(copy) - 1] = '\0';
			copy++;
		}
		if (strcmp(copy, "localhost") == 0)
			copy = "127.0.0.1";
		console.listen_host = copy;
	}
	if (!loopback(console.listen_host))
	{
		if (console.auth && console.tls_cert == NULL)
		{
			fprintf(stderr, "pgbroker-console: with --auth, listening beyond the loopback interface needs TLS "
					"(--tls-cert and --tls-key): passwords would cross the network in clear\n");
			return 1;
		}
		if (!console.auth)
			fprintf(stderr, "pgbroker-console: warning: listening on %s: whoever reaches it acts as the "
					"console's database role\n", console.listen_host);
	}
	/* the Host names it answers to: its address, and the loopback names */
	{
		static char bracketed[64];
		const char *h = console.listen_host;

		if (strchr(h, ':'))
		{
			snprintf(bracketed, sizeof(bracketed), "[%s]", h);
			h = bracketed;
		}
		if (strcmp(console.listen_host, "0.0.0.0") != 0 && strcmp(console.listen_host, "::") != 0)
			console.allowed_hosts[console.nallowed++] = h;
		console.allowed_hosts[console.nallowed++] = "localhost";
		console.allowed_hosts[console.nallowed++] = "127.0.0.1";
		console.allowed_hosts[console.nallowed++] = "[::1]";
	}
	make_token();
	pool_init(console.pool_size);

	/* check the connection options once (without --auth, the console's login) */
	if (!console.auth)
	{
		char		err[512];
		PoolFailure kind;
		PoolConn   *pc = pool_get(NULL, NULL, err, sizeof(err), &kind);

		if (pc == NULL)
		{
			fprintf(stderr, "pgbroker-console: cannot connect: %s", err);
			return 2;
		}
		pool_put(pc);
	}
	return http_run();
}
