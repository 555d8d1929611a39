/*
 * http.c - answering the console's requests.
 *
 * GET /, /index.html, /static/...: the page's files, from the static
 * directory, by a fixed list of names (nothing else on disk is served).
 * GET /metrics: broker.metrics_text(), as pgbroker metrics prints it.
 * GET /api/v1/session: the role, whether the console is read-only, and the
 * token that every POST must carry in the X-Pgbroker-Token header.
 * GET and POST /api/v1/...: the calls of api.c.
 *
 * Every request must name the console by a Host it answers to (its
 * listen address, localhost, or --allowed-host, with its port): a page of
 * another site whose name was made to resolve to the console's address
 * (DNS rebinding) is refused (421) before anything is read.  Cross-site
 * requests: a POST needs the token (a page of another site cannot read
 * it: no response carries CORS headers), a JSON content type (which a
 * plain HTML form cannot send) and, when the browser sends an Origin, one
 * of the console's own.  With --read-only every POST is refused.
 * With --auth the request's basic credentials are the database login;
 * without them the answer is 401.  Every answer says no-store, nosniff,
 * no framing, and a content security policy that allows the console's
 * own scripts and styles only.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "console.h"

#define MAX_BODY	65536

typedef struct Upload
{
	char	   *data;
	size_t		len;
	bool		too_big;
} Upload;

static const struct
{
	const char *url;
	const char *file;
	const char *type;
}			static_files[] = {
	{"/", "index.html", "text/html; charset=utf-8"},
	{"/index.html", "index.html", "text/html; charset=utf-8"},
	{"/static/app.js", "app.js", "text/javascript; charset=utf-8"},
	{"/static/app.css", "app.css", "text/css; charset=utf-8"},
	{"/static/vendor/uplot/uPlot.iife.min.js", "vendor/uplot/uPlot.iife.min.js", "text/javascript; charset=utf-8"},
	{"/static/vendor/uplot/uPlot.min.css", "vendor/uplot/uPlot.min.css", "text/css; charset=utf-8"},
};

static enum MHD_Result
respond(struct MHD_Connection *conn, int status, const char *type, const char *body,
		size_t len, bool basic_auth_fail)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *) body,
															  MHD_RESPMEM_MUST_COPY);
	enum MHD_Result ret;

	MHD_add_response_header(r, "Content-Type", type);
	MHD_add_response_header(r, "Cache-Control", "no-store");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "X-Frame-Options", "DENY");
	MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(r, "Content-Security-Policy",
							"default-src 'none'; script-src 'self'; style-src 'self'; "
							"img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'");
	if (basic_auth_fail)
		ret = MHD_queue_basic_auth_fail_response(conn, "pgbroker", r);
	else
		ret = MHD_queue_response(conn, (unsigned int) status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result
respond_json(struct MHD_Connection *conn, int status, char *body)
{
	enum MHD_Result ret = respond(conn, status, "application/json", body, strlen(body), false);

	free(body);
	return ret;
}

static enum MHD_Result
respond_error(struct MHD_Connection *conn, int status, const char *message)
{
	return respond_json(conn, status, json_error(message, NULL));
}

static enum MHD_Result
serve_static(struct MHD_Connection *conn, const char *url)
{
	for (size_t i = 0; i < sizeof(static_files) / sizeof(static_files[0]); i++)
	{
		char		path[4096];
		FILE	   *f;
		char	   *buf;
		long		len;
		enum MHD_Result ret;

		if (strcmp(url, static_files[i].url) != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", console.static_dir, static_files[i].file);
		f = fopen(path, "rb");
		if (f == NULL)
			return respond_error(conn, 500, "a file of the page is missing");
		fseek(f, 0, SEEK_END);
		len = ftell(f);
		fseek(f, 0, SEEK_SET);
		if (len < 0)
		{
			fclose(f);
			return respond_error(conn, 500, "a file of the page cannot be read");
		}
		buf = malloc(len > 0 ? len : 1);
		if (len > 0 && fread(buf, 1, len, f) != (size_t) len)
			len = 0;
		fclose(f);
		ret = respond(conn, 200, static_files[i].type, buf, (size_t) len, false);
		free(buf);
		return ret;
	}
	return respond_error(conn, 404, "not found");
}

/* whether host (a Host header's value, or an Origin's host part) names this console */
static bool
allowed_host(const char *host)
{
	char		port[16];

	if (host == NULL)
		return false;
	snprintf(port, sizeof(port), ":%d", console.listen_port);
	for (int i = 0; i < console.nallowed; i++)
	{
		size_t		n = strlen(console.allowed_hosts[i]);

		if (strncasecmp(host, console.allowed_hosts[i], n) != 0)
			continue;
		if (strcmp(host + n, port) == 0)
			return true;
		/* a browser leaves out the scheme's default port */
		if (host[n] == '\0' && ((console.listen_port == 80 && console.tls_cert == NULL) ||
								 (console.listen_port == 443 && console.tls_cert != NULL)))
			return true;
	}
	return false;
}

/* whether the Origin header, if any, is one of this console's */
static bool
same_origin(struct MHD_Connection *conn)
{
	const char *origin = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin");

	if (origin == NULL)
		return true;
	if (strncmp(origin, "http://", 7) == 0)
		return allowed_host(origin + 7);
	if (strncmp(origin, "https://", 8) == 0)
		return allowed_host(origin + 8);
	return false;
}

static bool
is_json(const char *content_type)
{
	return content_type != NULL &&
		strncasecmp(content_type, "application/json", 16) == 0 &&
		(content_type[16] == '\0' || content_type[16] == ';');
}

static enum MHD_Result
handle(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
	   const char *version, const char *upload_data, size_t *upload_data_size,
	   void **con_cls)
{
	bool		post = strcmp(method, "POST") == 0;
	Upload	   *up = *con_cls;
	char	   *user = NULL;
	char	   *password = NULL;
	PoolConn   *pc;
	char		err[512];
	ApiResult	result;
	PoolFailure failure;
	enum MHD_Result ret;
	bool		api = strncmp(url, "/api/", 5) == 0;
	bool		metrics = strcmp(url, "/metrics") == 0;

	if (!post && strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return respond_error(conn, 405, "only GET and POST");
	if (!allowed_host(MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Host")))
		return respond_error(conn, 421, "this console does not answer to that Host (see --allowed-host)");
	/* gather a POST body first */
	if (post)
	{
		if (up == NULL)
		{
			up = calloc(1, sizeof(Upload));
			*con_cls = up;
			return MHD_YES;
		}
		if (*upload_data_size > 0)
		{
			if (up->len + *upload_data_size > MAX_BODY)
				up->too_big = true;
			else
			{
				up->data = realloc(up->data, up->len + *upload_data_size + 1);
				memcpy(up->data + up->len, upload_data, *upload_data_size);
				up->len += *upload_data_size;
				up->data[up->len] = '\0';
			}
			*upload_data_size = 0;
			return MHD_YES;
		}
	}

	if (!api && !metrics)
	{
		if (post)
			return respond_error(conn, 405, "only GET here");
		return serve_static(conn, url);
	}

	if (post)
	{
		const char *token = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Pgbroker-Token");

		if (console.read_only)
			return respond_error(conn, 403, "the console is read-only");
		if (token == NULL || strcmp(token, console.token) != 0 || !same_origin(conn))
			return respond_error(conn, 403, "refused: not a request of this console's page (token or origin)");
		if (!is_json(MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type")))
			return respond_error(conn, 415, "the body must be application/json");
		if (up->too_big)
			return respond_error(conn, 413, "the body is too large");
		if (!api_is_known(API_POST, url))
			return respond_error(conn, 404, "no such call");
	}
	else if (api && strcmp(url, "/api/v1/session") != 0 && !api_is_known(API_GET, url))
		return respond_error(conn, 404, "no such call");

	if (console.auth)
	{
		user = MHD_basic_auth_get_username_password(conn, &password);
		if (user == NULL || password == NULL)
		{
			const char *msg = "{\"error\": \"log in with a database role\", \"sqlstate\": null}";

			if (user)
				MHD_free(user);
			if (password)
				MHD_free(password);
			return respond(conn, 401, "application/json", msg, strlen(msg), true);
		}
	}
	pc = pool_get(user, password, err, sizeof(err), &failure);
	if (pc == NULL)
	{
		bool		login = console.auth && failure == POOL_LOGIN_REFUSED;

		if (user)
			MHD_free(user);
		if (password)
			MHD_free(password);
		if (login)
		{
			const char *msg = "{\"error\": \"the database refused this login\", \"sqlstate\": null}";

			return respond(conn, 401, "application/json", msg, strlen(msg), true);
		}
		return respond_json(conn, 503, json_error(err, NULL));
	}
	if (user)
		MHD_free(user);
	if (password)
		MHD_free(password);

	memset(&result, 0, sizeof(result));
	if (metrics)
	{
		PGresult   *res = PQexec(pool_conn(pc), "SELECT broker.metrics_text()");

		if (PQresultStatus(res) == PGRES_TUPLES_OK)
		{
			const char *text = PQgetvalue(res, 0, 0);

			ret = respond(conn, 200, "text/plain; version=0.0.4; charset=utf-8", text,
						  strlen(text), false);
		}
		else
			ret = respond_json(conn, 500, json_error(PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY)
													 ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY)
													 : "no metrics",
													 PQresultErrorField(res, PG_DIAG_SQLSTATE)));
		PQclear(res);
		pool_put(pc);
		return ret;
	}
	if (strcmp(url, "/api/v1/session") == 0)
	{
		const char *values[2] = {console.read_only ? "true" : "false", console.token};
		PGresult   *res = PQexecParams(pool_conn(pc),
									   "SELECT json_build_object('api', 1, 'role', current_user,"
									   " 'database', current_database(), 'read_only', $1::boolean,"
									   " 'token', $2::text, 'version',"
									   " (SELECT extversion FROM pg_extension WHERE extname = 'pgbroker'))",
									   2, NULL, values, NULL, NULL, 0);

		if (PQresultStatus(res) == PGRES_TUPLES_OK)
			ret = respond(conn, 200, "application/json", PQgetvalue(res, 0, 0),
						  strlen(PQgetvalue(res, 0, 0)), false);
		else
			ret = respond_error(conn, 500, PQerrorMessage(pool_conn(pc)));
		PQclear(res);
		pool_put(pc);
		return ret;
	}
	api_call(post ? API_POST : API_GET, url,
			 MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "name"),
			 post ? (up->data ? up->data : "") : NULL, pool_conn(pc), &result);
	if (!post && PQstatus(pool_conn(pc)) == CONNECTION_BAD)
	{
		/* a pooled connection the server had closed: once more on a new one */
		pool_discard(pc);
		pc = pool_get(NULL, NULL, err, sizeof(err), &failure);
		if (console.auth || pc == NULL)
		{
			if (pc)
				pool_put(pc);
			return respond_json(conn, result.status, result.body);
		}
		free(result.body);
		api_call(API_GET, url, MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "name"),
				 NULL, pool_conn(pc), &result);
	}
	pool_put(pc);
	return respond_json(conn, result.status, result.body);
}

static void
completed(void *cls, struct MHD_Connection *conn, void **con_cls,
		  enum MHD_RequestTerminationCode toe)
{
	Upload	   *up = *con_cls;

	if (up)
	{
		free(up->data);
		free(up);
		*con_cls = NULL;
	}
}


static char *
read_file(const char *path)
{
	FILE	   *f = fopen(path, "rb");
	char	   *buf;
	long		len;

	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	fseek(f, 0, SEEK_SET);
	if (len < 0)
	{
		fclose(f);
		return NULL;
	}
	buf = calloc(1, len + 1);
	if (fread(buf, 1, len, f) != (size_t) len)
	{
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

int
http_run(void)
{
	sigset_t	stop_signals;
	struct MHD_Daemon *d;
	struct sockaddr_storage addr;
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
	char	   *cert = NULL;
	char	   *key = NULL;

	/* block the stop signals in every thread; the main one waits for them */
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGINT);
	sigaddset(&stop_signals, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
	memset(&addr, 0, sizeof(addr));
	if (strchr(console.listen_host, ':'))
	{
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *) &addr;

		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t) console.listen_port);
		if (inet_pton(AF_INET6, console.listen_host, &a6->sin6_addr) != 1)
		{
			fprintf(stderr, "pgbroker-console: --listen: not an IPv6 address: %s\n", console.listen_host);
			return 1;
		}
		flags |= MHD_USE_IPv6;
	}
	else
	{
		struct sockaddr_in *a4 = (struct sockaddr_in *) &addr;

		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t) console.listen_port);
		if (inet_pton(AF_INET, console.listen_host, &a4->sin_addr) != 1)
		{
			fprintf(stderr, "pgbroker-console: --listen: not an IPv4 address: %s\n", console.listen_host);
			return 1;
		}
	}
	if (console.tls_cert)
	{
		cert = read_file(console.tls_cert);
		key = read_file(console.tls_key);
		if (cert == NULL || key == NULL)
		{
			fprintf(stderr, "pgbroker-console: cannot read the TLS certificate or key: %s\n", strerror(errno));
			return 1;
		}
		flags |= MHD_USE_TLS;
	}
	{
		/* the TLS options only with TLS (an empty certificate is an error) */
		struct MHD_OptionItem tls[] = {
			{MHD_OPTION_HTTPS_MEM_CERT, 0, cert},
			{MHD_OPTION_HTTPS_MEM_KEY, 0, key},
			{MHD_OPTION_END, 0, NULL}
		};

		d = MHD_start_daemon(flags, 0, NULL, NULL, handle, NULL,
							 MHD_OPTION_SOCK_ADDR, (struct sockaddr *) &addr,
							 MHD_OPTION_THREAD_POOL_SIZE, (unsigned int) console.pool_size,
							 MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
							 MHD_OPTION_CONNECTION_TIMEOUT, 30u,
							 MHD_OPTION_ARRAY, console.tls_cert ? tls : tls + 2,
							 MHD_OPTION_END);
	}
	if (d == NULL)
	{
		fprintf(stderr, "pgbroker-console: cannot listen on %s port %d\n",
				console.listen_host, console.listen_port);
		return 1;
	}
	fprintf(stderr, "pgbroker-console: listening on %s://%s%s%s:%d/%s%s\n",
			console.tls_cert ? "https" : "http",
			strchr(console.listen_host, ':') ? "[" : "", console.listen_host,
			strchr(console.listen_host, ':') ? "]" : "", console.listen_port,
			console.read_only ? " (read-only)" : "",
			console.auth ? " (logins by HTTP basic authentication)" : "");
	{
		int			sig;

		/* SIGINT and SIGTERM were blocked before the server's threads started */
		sigwait(&stop_signals, &sig);
	}
	MHD_stop_daemon(d);
	pool_close_all();
	free(cert);
	free(key);
	return 0;
}
