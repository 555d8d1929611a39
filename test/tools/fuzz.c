/*
 * fuzz.c - hostile, randomized calls to every public pgbroker function.
 *
 * The regression suites check each documented misuse once, by hand.  This
 * driver throws the cross product at a server: NULLs in every position,
 * empty and oversize payloads (around and past pgbroker.max_message_size),
 * counts and intervals at, around and far past their limits, infinite and
 * out-of-range timestamps, names with quotes, semicolons, spaces, Unicode,
 * 63, 64, 200 and 201 bytes, names of objects another connection has just
 * dropped, JSON that is not an object or is nested thousands deep, binary
 * payloads with NUL bytes, arrays that are empty, two-dimensional, offset
 * or of the wrong length, and literals that are not of the parameter's
 * type.  It calls from several connections at once (so drops race with
 * everything else), inside and outside transactions (READ COMMITTED,
 * REPEATABLE READ, SERIALIZABLE, READ ONLY), with savepoints that roll
 * back, prepared transactions, session settings that change the limits,
 * and some calls cancelled at a random moment.  statement_timeout (2 s by
 * default, --timeout) and a lock_timeout of half that keep waits short;
 * their 57014 and 55P03 are ordinary outcomes.
 *
 * Every call must either succeed or fail with an ordinary SQLSTATE.  The
 * run fails on an internal error (class XX), a system error (58), a
 * PL/pgSQL error without a specific code (class P0), a configuration file
 * error (F0), an error with no SQLSTATE at all, or a lost connection (a
 * backend crash), and on any SQLSTATE given with --forbid.  A few
 * outcomes are checked as they happen: a name pgbroker must refuse is
 * never accepted, claim/read/poll never return more rows than asked for,
 * read and poll return increasing offsets per partition.
 *
 * At the end (unless --no-check) one more connection checks what is left:
 * per queue, the broker.queues view agrees with peek and with the table
 * itself, every message peek calls ready is handed out by claim (or was
 * dead-lettered by it) and acks with its receipt, redrive brings back every
 * dead letter, and the queue still sends, claims and acks; per topic, the
 * partitions' earliest and end offsets agree across functions, reading
 * from the earliest offset gives increasing offsets below the end, dense
 * from the start of the current segment (never compacted) and from the
 * earliest offset on topics that no compaction or failed commit could have
 * thinned, and a fresh publish lands at the end offset; per consumer group,
 * lag is not negative and a poll starts at or after the committed offset.
 *
 * The output is a table of calls per function: how many succeeded, how
 * many failed with which SQLSTATE (--verbose adds a few distinct messages
 * of each), the time spent; then totals, and the SQLSTATEs that are
 * allowed but worth a look (an internal table's name leaking out as 42P01
 * when a call races a drop, a unique violation or deadlock inside
 * pgbroker).  A public function or view of the installed extension that
 * this driver does not call is reported at the start, and so is a
 * function it calls that is not installed.
 *
 * With --stranger ROLE every connection is ROLE, a role that holds no
 * privilege on any queue or topic and may not create them, and the run
 * also fails when one of its calls reads or changes a queue, topic or
 * consumer group, or when the database is not the same after the run as
 * before it (fuzz_stranger.c).
 *
 * The seed fixes each connection's random choices; some choices depend on
 * what earlier calls returned (ids, receipts, whether a claim got
 * anything), and the connections interleave as they will, so two runs
 * with one seed are alike but not identical.
 *
 * Connection parameters come from the usual PG* environment variables.
 *
 * usage: fuzz [--calls N] [--seed S] [--threads N]
 *             [--users U1,U2,... | --stranger ROLE]
 *             [--timeout MS] [--forbid CODE,...] [--no-check] [--verbose]
 *
 * --users: worker k connects as the k-th user of the list (round robin);
 * the final check (and the stranger's database comparison) connects as
 * the default user.
 *
 * The calls are the rows of a table (fuzz_table.c): per function, its
 * statement and the classes of value each parameter takes, careful and
 * hostile; fuzz_calls.c makes a call from a row.  fuzz.h lists the files.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"

/* ----------------------------------------------------------------
 * Options and shared state
 * ----------------------------------------------------------------
 */
static long ncalls = 20000;
unsigned long seed0 = 1;
static int	nthreads = 3;
static const char *users[32];
static int	nusers = 0;
static int	timeout_ms = 2000;
static const char *forbid_extra[32];
static int	nforbid_extra = 0;
static bool do_check = true;
static bool verbose = false;

pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static volatile int stop_all = 0;
static long forbidden_count = 0;
long		violations = 0;
long		lost_connections = 0;

/* ----------------------------------------------------------------
 * Outcome counters, per function (the callable ones named by fuzz_table.c)
 * ----------------------------------------------------------------
 */
FuncStats	funcs[NFUNCS] = {
	[F_BEGIN] = {"BEGIN"},
	[F_COMMIT] = {"COMMIT"},
	[F_ROLLBACK] = {"ROLLBACK"},
	[F_SAVEPOINT] = {"SAVEPOINT"},
	[F_ROLLBACK_TO] = {"ROLLBACK TO"},
	[F_RELEASE] = {"RELEASE"},
	[F_PREPARE] = {"PREPARE TRANSACTION"},
	[F_FINISH_PREPARED] = {"COMMIT/ROLLBACK PREPARED"},
};

/* ----------------------------------------------------------------
 * Running calls and counting their outcomes
 * ----------------------------------------------------------------
 */
void
call_init(Call *c, int fn, const char *sql)
{
	memset(c, 0, sizeof(*c));
	c->fn = fn;
	c->sql = sql;
}

void
arg(Call *c, const char *v)
{
	c->v[c->n] = v;
	c->len[c->n] = 0;
	c->fmt[c->n] = 0;
	c->n++;
}

void
arg_bin(Call *c, const char *v, int len)
{
	c->v[c->n] = v;
	c->len[c->n] = len;
	c->fmt[c->n] = 1;
	c->n++;
}

static bool
is_forbidden(const char *code)
{
	int			i;

	if (code == NULL || strlen(code) != 5)
		return true;
	if (strncmp(code, "XX", 2) == 0 || strncmp(code, "58", 2) == 0 ||
		strncmp(code, "P0", 2) == 0 || strncmp(code, "F0", 2) == 0)
		return true;
	for (i = 0; i < nforbid_extra; i++)
		if (strncmp(code, forbid_extra[i], strlen(forbid_extra[i])) == 0)
			return true;
	return false;
}

void
print_call(FILE *f, const Call *c)
{
	int			i;

	fprintf(f, "    %s\n", c->sql);
	for (i = 0; i < c->n; i++)
	{
		if (c->v[i] == NULL)
			fprintf(f, "    $%d = NULL\n", i + 1);
		else if (c->fmt[i] == 1)
			fprintf(f, "    $%d = <%d binary bytes>\n", i + 1, c->len[i]);
		else
		{
			size_t		l = strlen(c->v[i]);

			fprintf(f, "    $%d = '%.*s'%s (%zu bytes)\n", i + 1, l > 160 ? 160 : (int) l,
					c->v[i], l > 160 ? "..." : "", l);
		}
	}
}

static void
count_outcome(Worker *w, const Call *c, PGresult *r, bool cancelled, double secs)
{
	FuncStats  *f = &funcs[c->fn];
	ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
	const char *code = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	const char *msg = r ? PQresultErrorMessage(r) : PQerrorMessage(w->conn);
	int			i;
	bool		forbidden = false;

	pthread_mutex_lock(&mu);
	f->calls++;
	f->secs += secs;
	if (cancelled)
		f->cancels++;
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
		f->ok++;
	else
	{
		char		key[6];

		snprintf(key, sizeof(key), "%s", code ? code : "?????");
		for (i = 0; i < f->nstates; i++)
			if (strcmp(f->states[i].code, key) == 0)
				break;
		if (i == f->nstates && i < MAXSTATES)
		{
			f->nstates++;
			memcpy(f->states[i].code, key, 6);
		}
		if (i < MAXSTATES)
		{
			StateCount *sc = &f->states[i];
			char		norm[200];
			const char *m = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
			int			k;
			int			j;

			sc->count++;
			/* remember a few distinct messages, numbers and long names folded */
			if (m == NULL)
				m = msg ? msg : "";
			for (j = 0, k = 0; m[j] && m[j] != '\n' && k < (int) sizeof(norm) - 1; j++)
			{
				if (m[j] >= '0' && m[j] <= '9')
				{
					if (k == 0 || norm[k - 1] != 'N')
						norm[k++] = 'N';
				}
				else
					norm[k++] = m[j];
			}
			norm[k] = '\0';
			for (k = 0; k < sc->nmessages; k++)
				if (strcmp(sc->messages[k], norm) == 0)
					break;
			if (k == sc->nmessages && k < MAXMSGS)
				sc->messages[sc->nmessages++] = strdup(norm);
		}
		if (is_forbidden(code))
		{
			forbidden = true;
			forbidden_count++;
		}
	}
	pthread_mutex_unlock(&mu);
	if (forbidden)
	{
		fprintf(stderr, "fuzz: FORBIDDEN SQLSTATE %s from %s (worker %d, call %ld): %s",
				code ? code : "(none)", f->name, w->id, w->calls, msg);
		print_call(stderr, c);
	}
}

void
violation(const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	fprintf(stderr, "fuzz: VIOLATION: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	pthread_mutex_lock(&mu);
	violations++;
	pthread_mutex_unlock(&mu);
}

static void
connection_lost(Worker *w, const Call *c)
{
	pthread_mutex_lock(&mu);
	lost_connections++;
	pthread_mutex_unlock(&mu);
	stop_all = 1;
	fprintf(stderr, "fuzz: CONNECTION LOST (worker %d, call %ld, %s): %s",
			w->id, w->calls, funcs[c->fn].name, PQerrorMessage(w->conn));
	print_call(stderr, c);
}

/*
 * Run one call, now and then with a cancel request sent at a random moment
 * while it runs.  Returns the result (NULL if the connection was lost).
 */
PGresult *
run_call(Worker *w, const Call *c, bool allow_cancel)
{
	PGresult   *r = NULL;
	bool		cancelled = false;
	double		t0 = now_secs();

	if (stop_all)
		return NULL;
	w->calls++;
	if (allow_cancel && pct(w, 3))
	{
		PGresult   *x;
		PGcancel   *cn;
		char		errbuf[256];

		if (!PQsendQueryParams(w->conn, c->sql, c->n, NULL, c->v, c->len, c->fmt, 0))
		{
			connection_lost(w, c);
			return NULL;
		}
		usleep(rn(w, 4000));
		cn = PQgetCancel(w->conn);
		if (cn)
		{
			PQcancel(cn, errbuf, sizeof(errbuf));
			PQfreeCancel(cn);
		}
		cancelled = true;
		while ((x = PQgetResult(w->conn)) != NULL)
		{
			if (r)
				PQclear(r);
			r = x;
		}
	}
	else
		r = PQexecParams(w->conn, c->sql, c->n, NULL, c->v, c->len, c->fmt, 0);

	if (PQstatus(w->conn) != CONNECTION_OK)
	{
		count_outcome(w, c, r, cancelled, now_secs() - t0);
		if (r)
			PQclear(r);
		connection_lost(w, c);
		return NULL;
	}
	count_outcome(w, c, r, cancelled, now_secs() - t0);
	return r;
}

bool
result_ok(PGresult *r)
{
	return r && (PQresultStatus(r) == PGRES_TUPLES_OK || PQresultStatus(r) == PGRES_COMMAND_OK);
}

/* run a statement without parameters (transaction control and the like) */
static bool
simple(Worker *w, int fn, const char *sql)
{
	Call		c;
	PGresult   *r;
	bool		ok;

	call_init(&c, fn, sql);
	r = run_call(w, &c, false);
	ok = result_ok(r);
	if (r)
		PQclear(r);
	return ok;
}

/* ----------------------------------------------------------------
 * Transactions and the worker loop
 * ----------------------------------------------------------------
 */

/* the transaction is over: forget the topics it published to */
static void
forget_published(Worker *w)
{
	while (w->npublished > 0)
	{
		w->npublished--;
		free(w->published[w->npublished]);
		w->published[w->npublished] = NULL;
	}
}

static void
end_xact(Worker *w, bool failed)
{
	int			r = rn(w, 100);
	bool		committed = false;
	bool		tried_commit = false;

	if (w->savepoint && failed && pct(w, 70))
	{
		/* undo just the failed call and go on */
		if (simple(w, F_ROLLBACK_TO, "ROLLBACK TO SAVEPOINT fz"))
			return;
	}
	if (failed || r < 20)
		simple(w, F_ROLLBACK, "ROLLBACK");
	else if (r < 25)
	{
		char		gid[64];
		char		sql[128];

		snprintf(gid, sizeof(gid), "fz_%lu_%d_%d", seed0, w->id, w->prepared++);
		snprintf(sql, sizeof(sql), "PREPARE TRANSACTION '%s'", gid);
		tried_commit = true;
		if (simple(w, F_PREPARE, sql))
		{
			committed = pct(w, 60);
			snprintf(sql, sizeof(sql), "%s PREPARED '%s'", committed ? "COMMIT" : "ROLLBACK", gid);
			if (!simple(w, F_FINISH_PREPARED, sql))
				committed = false;
		}
	}
	else
	{
		tried_commit = true;
		committed = simple(w, F_COMMIT, "COMMIT");
	}
	if (tried_commit && !committed)
	{
		int			i;

		/* a commit that failed after appending can leave a hole */
		for (i = 0; i < w->npublished; i++)
			taint(w->published[i]);
	}
	w->in_xact = false;
	w->savepoint = false;
	forget_published(w);
}

static void
quiet(void *arg, const char *message)
{
}

/* a worker's or the check's connection, as user (NULL: the default one) */
PGconn *
connect_as(const char *user)
{
	PGconn	   *c = connect_user(user);

	PQsetNoticeProcessor(c, quiet, NULL);
	return c;
}

static void *
worker_main(void *arg)
{
	Worker	   *w = arg;
	long		per = ncalls / nthreads + (w->id < ncalls % nthreads ? 1 : 0);
	char		sql[256];
	PGresult   *r;

	w->stranger = stranger_role != NULL;
	w->conn = connect_as(nusers > 0 ? users[w->id % nusers] : NULL);
	snprintf(sql, sizeof(sql),
			 "SET statement_timeout = %d; SET lock_timeout = %d; SET client_min_messages = warning;"
			 " SET idle_in_transaction_session_timeout = 0",
			 timeout_ms, timeout_ms / 2);
	r = PQexec(w->conn, sql);
	PQclear(r);
	w->msgsize = 1024 * 1024;
	r = PQexec(w->conn, "SELECT setting::bigint FROM pg_settings WHERE name = 'pgbroker.max_message_size'");
	if (result_ok(r) && PQntuples(r) == 1)
		w->msgsize = atol(PQgetvalue(r, 0, 0));
	PQclear(r);

	while (w->calls < per && !stop_all)
	{
		bool		failed;

		if (!w->in_xact && pct(w, 12))
		{
			const char *begin = PICK(w, ((const char *[]) {"BEGIN", "BEGIN", "BEGIN", "BEGIN",
						"BEGIN ISOLATION LEVEL REPEATABLE READ", "BEGIN ISOLATION LEVEL SERIALIZABLE",
						"BEGIN READ ONLY"}));

			if (simple(w, F_BEGIN, begin))
			{
				w->in_xact = true;
				w->xact_left = 1 + rn(w, 6);
				w->savepoint = false;
				forget_published(w);
			}
		}
		if (w->in_xact && !w->savepoint && pct(w, 20))
			w->savepoint = simple(w, F_SAVEPOINT, "SAVEPOINT fz");

		one_call(w);
		free_garbage(w);
		if (stop_all)
			break;

		if (w->in_xact)
		{
			failed = PQtransactionStatus(w->conn) == PQTRANS_INERROR;
			if (failed)
				end_xact(w, true);
			else if (w->savepoint && pct(w, 15))
			{
				if (pct(w, 50))
					simple(w, F_ROLLBACK_TO, "ROLLBACK TO SAVEPOINT fz");
				else
					w->savepoint = !simple(w, F_RELEASE, "RELEASE SAVEPOINT fz");
			}
			if (w->in_xact && --w->xact_left <= 0)
				end_xact(w, false);
		}
		else
			forget_published(w);
	}
	if (w->in_xact && PQstatus(w->conn) == CONNECTION_OK)
		end_xact(w, false);
	PQfinish(w->conn);
	return NULL;
}

/* ----------------------------------------------------------------
 * Summary and main
 * ----------------------------------------------------------------
 */
static int
state_cmp(const void *a, const void *b)
{
	const StateCount *x = a;
	const StateCount *y = b;

	return x->count < y->count ? 1 : (x->count > y->count ? -1 : strcmp(x->code, y->code));
}

static void
summary(double secs)
{
	int			i;
	int			j;
	long		calls = 0;
	long		ok = 0;
	long		cancels = 0;
	StateCount	all[200];
	int			nall = 0;

	printf("%-26s %7s %7s %7s %6s  %s\n", "function", "calls", "ok", "errors", "secs", "errors by SQLSTATE");
	for (i = 0; i < NFUNCS; i++)
	{
		FuncStats  *f = &funcs[i];
		char		line[1024] = "";
		int			len = 0;

		if (f->calls == 0 && i >= NCALLABLE)
			continue;
		qsort(f->states, f->nstates, sizeof(StateCount), state_cmp);
		for (j = 0; j < f->nstates && len < (int) sizeof(line) - 40; j++)
			len += snprintf(line + len, sizeof(line) - len, "%s%s:%ld", j ? " " : "",
							f->states[j].code, f->states[j].count);
		printf("%-26s %7ld %7ld %7ld %6.1f  %s\n", f->name, f->calls, f->ok, f->calls - f->ok, f->secs, line);
		calls += f->calls;
		ok += f->calls > 0 ? f->ok : 0;
		cancels += f->cancels;
		for (j = 0; j < f->nstates; j++)
		{
			int			k;

			for (k = 0; k < nall; k++)
				if (strcmp(all[k].code, f->states[j].code) == 0)
					break;
			if (k == nall && nall < lengthof(all))
			{
				memcpy(all[nall].code, f->states[j].code, 6);
				all[nall++].count = 0;
			}
			if (k < lengthof(all))
				all[k].count += f->states[j].count;
		}
		if (verbose)
			for (j = 0; j < f->nstates; j++)
			{
				int			k;

				for (k = 0; k < f->states[j].nmessages; k++)
					printf("    %s: %.150s\n", f->states[j].code, f->states[j].messages[k]);
			}
	}
	qsort(all, nall, sizeof(StateCount), state_cmp);
	printf("total: %ld calls in %.1f s, %ld ok, %ld errors (%ld calls sent a cancel)\n",
		   calls, secs, ok, calls - ok, cancels);
	printf("errors by SQLSTATE:");
	for (j = 0; j < nall; j++)
		printf(" %s:%ld", all[j].code, all[j].count);
	printf("\n");

	/*
	 * Allowed, but worth a look: an internal object's name leaking out
	 * (42P01, 42703), a unique violation or deadlock inside pgbroker (23505,
	 * 40P01).  --forbid makes them fail the run.
	 */
	printf("worth a look (allowed unless --forbid):");
	for (j = 0; j < nall; j++)
		if (strcmp(all[j].code, "42P01") == 0 || strcmp(all[j].code, "42703") == 0 ||
			strcmp(all[j].code, "23505") == 0 || strcmp(all[j].code, "40P01") == 0)
			printf(" %s:%ld", all[j].code, all[j].count);
	printf("\n");
}

static void
split_list(char *s, const char **out, int *n, int max)
{
	char	   *tok;

	for (tok = strtok(s, ","); tok && *n < max; tok = strtok(NULL, ","))
		out[(*n)++] = tok;
}

int
main(int argc, char **argv)
{
	pthread_t	th[64];
	Worker	   *ws;
	int			i;
	double		t0;
	double		secs;

	common_init("fuzz", 1, 2);
	for (i = 1; i < argc; i++)
	{
		if (strcmp(argv[i], "--calls") == 0 && i + 1 < argc)
			ncalls = atol(argv[++i]);
		else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
			seed0 = strtoul(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
			nthreads = atoi(argv[++i]);
		else if (strcmp(argv[i], "--users") == 0 && i + 1 < argc)
			split_list(argv[++i], users, &nusers, lengthof(users));
		else if (strcmp(argv[i], "--stranger") == 0 && i + 1 < argc)
			stranger_role = argv[++i];
		else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc)
			timeout_ms = atoi(argv[++i]);
		else if (strcmp(argv[i], "--forbid") == 0 && i + 1 < argc)
			split_list(argv[++i], forbid_extra, &nforbid_extra, lengthof(forbid_extra));
		else if (strcmp(argv[i], "--no-check") == 0)
			do_check = false;
		else if (strcmp(argv[i], "--verbose") == 0)
			verbose = true;
		else
		{
			fprintf(stderr, "usage: fuzz [--calls N] [--seed S] [--threads N]"
					" [--users U1,U2,... | --stranger ROLE]"
					" [--timeout MS] [--forbid CODE,...] [--no-check] [--verbose]\n");
			return 2;
		}
	}
	if (nthreads < 1 || nthreads > lengthof(th) || ncalls < 0 || timeout_ms < 10 ||
		(stranger_role != NULL && nusers > 0))
	{
		fprintf(stderr, "fuzz: bad arguments\n");
		return 2;
	}
	if (stranger_role != NULL)
		users[nusers++] = stranger_role;
	setvbuf(stdout, NULL, _IOLBF, 0);
	init_names();
	calls_init();

	printf("fuzz: seed %lu, %ld calls, %d connections%s%s\n", seed0, ncalls, nthreads,
		   nusers ? " as " : "", stranger_role ? stranger_role : (nusers ? "given users" : ""));
	check_coverage();
	if (stranger_role != NULL)
		stranger_begin();
	t0 = now_secs();
	ws = calloc(nthreads, sizeof(Worker));
	for (i = 0; i < nthreads; i++)
	{
		ws[i].id = i;
		ws[i].rng = (seed0 + 1) * 0x9E3779B97F4A7C15ULL + (uint64_t) (i + 1) * 0xD1B54A32D192ED03ULL;
		if (ws[i].rng == 0)
			ws[i].rng = 1;
		pthread_create(&th[i], NULL, worker_main, &ws[i]);
	}
	for (i = 0; i < nthreads; i++)
		pthread_join(th[i], NULL);
	secs = now_secs() - t0;

	summary(secs);
	if (stranger_role != NULL && lost_connections == 0)
		stranger_end();
	if (do_check && lost_connections == 0)
		final_check();

	if (lost_connections > 0 || forbidden_count > 0 || violations > 0)
	{
		printf("fuzz: FAILED: %ld forbidden SQLSTATEs, %ld violations, %ld lost connections (seed %lu)\n",
			   forbidden_count, violations, lost_connections, seed0);
		return 1;
	}
	printf("fuzz: ok\n");
	return 0;
}
