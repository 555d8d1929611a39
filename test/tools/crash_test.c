/*
 * crash_test.c - queues, topics and consumer groups while the server is
 * killed with SIGKILL and started again.
 *
 * The other drivers terminate backends: the server stays up and nothing
 * goes through crash recovery.  This one produces and consumes while
 * test/scripts/crash.sh kills the postmaster (now alone, now with every
 * server process) at random moments and restarts it, so what it checks is
 * the state pgbroker is left in after WAL replay: nothing whose COMMIT was
 * acknowledged is lost, nothing rolled back appears, consumption committed
 * together with its effects is never repeated, and at-least-once
 * consumption really sees everything.
 *
 * Every client thread reconnects with backoff when its connection breaks,
 * and carries on:
 *
 * queue producers: BEGIN; send or send_batch 1-10 messages to one of two
 *     queues (a quarter of the transactions in one message group);
 *     COMMIT, or ROLLBACK one time in eight.
 * topic producers: the same with publish or publish_batch, by key, to an
 *     explicit partition or to neither.
 * transactional queue consumers (queue crash_txq): BEGIN; claim; ack;
 *     INSERT the effects into the plain table crash_effects; COMMIT (one
 *     time in ten ROLLBACK).
 * leased queue consumers (queue crash_leasedq): claim with a 2 s lease,
 *     process (in the driver's memory), ack with the receipt.
 * transactional group consumers (group txg): BEGIN; poll; INSERT the
 *     effects into crash_effects; COMMIT (one time in ten ROLLBACK).
 * leased group consumers (group leasedg): poll with a 2 s lease, process,
 *     commit the next offset of each partition.
 * maintenance: broker.maintain() twice a second (segments rotate every
 *     3 s; empty queue tables are truncated).
 *
 * Every payload names its message or record: {"p": producer, "s":
 * sequence number}, never used twice.  A producer transaction counts as
 * committed only when COMMIT answered COMMIT; one cut off before COMMIT or
 * rolled back counts as rolled back; one whose connection broke while
 * COMMIT was on its way is in doubt: it may or may not exist, but all of
 * it or none of it, and never twice.
 *
 * The run lasts --seconds, or with --seconds 0 until the driver receives
 * SIGUSR1 (crash.sh sends it once the server is up for the last time).
 * Then the producers stop, the consumers drain both queues and the topic,
 * and the driver checks, from the database and from its own bookkeeping:
 *
 * - every committed queue message was consumed: exactly once in
 *   crash_effects (crash_txq), at least once by a leased consumer
 *   (crash_leasedq); the queues are empty and have no dead letters;
 * - every committed record is in the topic exactly once, at dense offsets
 *   0, 1, 2, ... per partition, in the partition its key or explicit
 *   partition names; group txg has it exactly once in crash_effects, at
 *   the same offset, and group leasedg processed it at least once; both
 *   groups have no lag;
 * - nothing of a rolled-back transaction was delivered anywhere;
 * - in-doubt transactions: all or none of their messages exist, none
 *   twice;
 * - what a consumer was told was committed stays so: a consumer COMMIT
 *   that succeeded left its effects; a message whose ack committed, and a
 *   group offset below a successful commit, is never delivered by a claim
 *   or poll that started afterwards.
 *
 * --sabotage makes the bookkeeping lie (a rolled-back transaction of each
 * kind recorded as committed, a committed one as rolled back) and
 * duplicates an effect row before the checks: the run must then fail with
 * losses, duplicates and deliveries from rolled-back transactions.  It
 * shows that the checks can fail.
 *
 * Exit status 0 when everything holds, 1 when something does not, 2 when
 * the server cannot be reached for RECONNECT_SECS.
 *
 * Connection parameters come from the usual PG* environment variables.
 *
 * usage: crash_test [--seconds N] [--queue-producers N] [--topic-producers N]
 *                   [--consumers N] [--partitions N] [--backlog N]
 *                   [--seed N] [--sabotage]
 *
 * This file holds the options, the setup, the bookkeeping helpers, the
 * run and the report; the producers, the consumers and the checks have a
 * file each (crash_test.h lists them).
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crash_test.h"

static const char *const mode_names[NMODES] = {
	"queue, transactional", "queue, leased", "group txg, transactional", "group leasedg, leased"
};

static int	nqprod = 2;
static int	ntprod = 2;
static int	ncons = 2;			/* consumers per mode */
int			npartitions = 4;
static int	run_secs = 20;
static int	max_backlog = 2000;
static unsigned seed0 = 1;
int			sabotage = 0;

int			nprod;
Producer   *producers;
ProduceStats pstats[2];			/* [0] queue, [1] topic */
ConsumeStats cstats[NMODES];
long	   *txg_commit_off;		/* per partition: highest offset committed by txg ... */
double	   *txg_commit_at;		/* ... and when that was known */
long	   *lg_commit_off;		/* the same for leasedg */
double	   *lg_commit_at;
static long connection_losses = 0;
long		queue_ids[2];

volatile int stop_producing = 0;
volatile int stop_consuming = 0;

/* problems */
long		errors = 0;
long		bad_rows = 0;
long		resurrected = 0;	/* delivered after its consumption was committed */
long		effects_lost = 0;	/* a consumer COMMIT succeeded, its effects are gone */
long		order_violations = 0;
long		atomicity = 0;		/* in-doubt transaction partly there */
long		stalled = 0;

pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

/* ---------------------------------------------------------------- connections */

/*
 * Connect, trying again with backoff (20 ms doubling to 1 s) while the
 * server is down or recovering.
 */
void
client_connect(Client *cl)
{
	cl->c = connect_retry(cl->name, 20, 1000, RECONNECT_SECS, &cl->seed);
}

void
client_lost(Client *cl)
{
	PQfinish(cl->c);
	cl->c = NULL;
	pthread_mutex_lock(&mu);
	connection_losses++;
	pthread_mutex_unlock(&mu);
	client_connect(cl);
}

/* a statement of the main thread: retried across lost connections */
PGresult *
must_run(Client *cl, const char *sql, int nparams, const char *const *params)
{
	for (;;)
	{
		PGresult   *r;
		int			q = sql_try(cl->c, cl->name, &errors, sql, nparams, params, &r);

		if (q == TRY_OK)
			return r;
		if (q != TRY_LOST)
		{
			fprintf(stderr, "crash_test: cannot go on after: %s\n", sql);
			exit(1);
		}
		client_lost(cl);
	}
}

static void
must_cmd(Client *cl, const char *sql)
{
	PQclear(must_run(cl, sql, 0, NULL));
}

/* ---------------------------------------------------------------- bookkeeping */

/* the slot of (p, s); mu must be held.  NULL if no such slot. */
Slot *
slot_at(int p, int s)
{
	if (p < 0 || p >= nprod || s < 0 || s >= producers[p].n)
		return NULL;
	return &producers[p].slots[s];
}

/*
 * The slot a consumed row names, from its columns pcol and pcol + 1
 * (payload->>'p', payload->>'s'); NULL, reported, if it is not one of ours
 * or not of the kind expected.  mu must be held.
 */
Slot *
row_slot(Client *cl, PGresult *r, int row, int pcol, int topic, int *pp, int *ps)
{
	int			p,
				s;
	Slot	   *sl;

	if (PQgetisnull(r, row, pcol) || PQgetisnull(r, row, pcol + 1))
	{
		problem(&bad_rows, 1, cl->name, "a row whose payload is not one of ours");
		return NULL;
	}
	p = atoi(PQgetvalue(r, row, pcol));
	s = atoi(PQgetvalue(r, row, pcol + 1));
	sl = slot_at(p, s);
	if (sl == NULL || producers[p].topic != topic)
	{
		problem(&bad_rows, 1, cl->name, "unknown %s p=%d s=%d", topic ? "record" : "message", p, s);
		return NULL;
	}
	*pp = p;
	*ps = s;
	return sl;
}

/* are consumers more than max_backlog behind this kind's producers? */
int
backlogged(int topic)
{
	long		behind;

	pthread_mutex_lock(&mu);
	if (topic)
	{
		long		done = cstats[M_TXG].processed;

		if (cstats[M_LEASEDG].processed < done)
			done = cstats[M_LEASEDG].processed;
		behind = pstats[1].committed - done;
	}
	else
		behind = pstats[0].committed - cstats[M_TXQ].processed - cstats[M_LEASEDQ].processed;
	pthread_mutex_unlock(&mu);
	return behind > max_backlog;
}

/* append to a '{...}' array literal being built in buf */
void
array_add(char *buf, int i, const char *fmt,...)
{
	size_t		len = strlen(buf);
	va_list		ap;

	if (i == 0)
	{
		strcpy(buf, "{");
		len = 1;
	}
	else
		buf[len - 1] = ',';		/* replaces the closing brace */
	va_start(ap, fmt);
	len += vsnprintf(buf + len, BUFSZ - len - 2, fmt, ap);
	va_end(ap);
	strcpy(buf + len, "}");
}

/* ---------------------------------------------------------------- main */

static void
setup(Client *cl)
{
	char		nbuf[16];
	const char *params[2];
	int			i;

	snprintf(nbuf, sizeof(nbuf), "%d", npartitions);
	must_cmd(cl, "SET client_min_messages = warning");
	must_cmd(cl, "CREATE EXTENSION IF NOT EXISTS pgbroker");
	must_cmd(cl, "DROP TABLE IF EXISTS crash_effects");
	must_cmd(cl, "SELECT broker.drop_queue('" QUEUE_TX "', if_exists => true)");
	must_cmd(cl, "SELECT broker.drop_queue('" QUEUE_LEASED "', if_exists => true)");
	must_cmd(cl, "SELECT broker.drop_topic('" TOPIC "', if_exists => true)");
	must_cmd(cl, "SELECT broker.create_queue('" QUEUE_TX "', max_attempts => 1000, lease => '" LEASE "')");
	must_cmd(cl, "SELECT broker.create_queue('" QUEUE_LEASED "', max_attempts => 1000, lease => '" LEASE "')");
	params[0] = TOPIC;
	params[1] = nbuf;
	PQclear(must_run(cl, "SELECT broker.create_topic($1, partitions => $2::int, segment_interval => '3 seconds')",
					 2, params));
	must_cmd(cl, "SELECT broker.create_group('" TOPIC "', '" GROUP_TX "', start => 'earliest')");
	must_cmd(cl, "SELECT broker.create_group('" TOPIC "', '" GROUP_LEASED "', start => 'earliest')");
	/* no key: a duplicate effect must be possible, to be seen */
	must_cmd(cl, "CREATE TABLE crash_effects (kind text NOT NULL, p int NOT NULL, s int NOT NULL,"
			 " msg_id bigint, part int, offset_id bigint)");
	for (i = 0; i < 2; i++)
	{
		PGresult   *r;

		params[0] = i == 0 ? QUEUE_TX : QUEUE_LEASED;
		r = must_run(cl, "SELECT id FROM broker.queue WHERE name = $1", 1, params);
		queue_ids[i] = atol(PQgetvalue(r, 0, 0));
		PQclear(r);
	}
}

static void
progress(double t0)
{
	pthread_mutex_lock(&mu);
	printf("crash_test: %.0fs: queue committed=%ld consumed=%ld | topic committed=%ld txg=%ld leasedg=%ld"
		   " | connection losses=%ld\n",
		   now_secs() - t0, pstats[0].committed,
		   cstats[M_TXQ].processed + cstats[M_LEASEDQ].processed,
		   pstats[1].committed, cstats[M_TXG].processed, cstats[M_LEASEDG].processed,
		   connection_losses);
	pthread_mutex_unlock(&mu);
	fflush(stdout);
}

int
main(int argc, char **argv)
{
	Client		main_cl;
	Client	   *clients;
	pthread_t  *threads;
	int			nclients;
	sigset_t	sigs;
	double		t0,
				t_drain,
				t_checks,
				last_report;
	int			i,
				p;
	Verdict		v;
	long		lost,
				dups,
				ghost;
	int			failed;

	common_init("crash_test", 1, 2);
	for (i = 1; i < argc; i++)
	{
		if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
			run_secs = atoi(argv[++i]);
		else if (strcmp(argv[i], "--queue-producers") == 0 && i + 1 < argc)
			nqprod = atoi(argv[++i]);
		else if (strcmp(argv[i], "--topic-producers") == 0 && i + 1 < argc)
			ntprod = atoi(argv[++i]);
		else if (strcmp(argv[i], "--consumers") == 0 && i + 1 < argc)
			ncons = atoi(argv[++i]);
		else if (strcmp(argv[i], "--partitions") == 0 && i + 1 < argc)
			npartitions = atoi(argv[++i]);
		else if (strcmp(argv[i], "--backlog") == 0 && i + 1 < argc)
			max_backlog = atoi(argv[++i]);
		else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
			seed0 = (unsigned) atoi(argv[++i]);
		else if (strcmp(argv[i], "--sabotage") == 0)
			sabotage = 1;
		else
		{
			fprintf(stderr, "usage: crash_test [--seconds N] [--queue-producers N] [--topic-producers N]\n"
					"                  [--consumers N] [--partitions N] [--backlog N]\n"
					"                  [--seed N] [--sabotage]\n");
			return 1;
		}
	}
	if (run_secs < 0 || nqprod < 1 || ntprod < 1 || ncons < 1 || npartitions < 1 ||
		npartitions >= NO_PARTITION || max_backlog < 1)
	{
		fprintf(stderr, "crash_test: bad counts\n");
		return 1;
	}

	/* SIGUSR1 is taken by sigtimedwait in the main thread only */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);

	nprod = nqprod + ntprod;
	producers = calloc(nprod, sizeof(Producer));
	for (p = 0; p < nprod; p++)
		producers[p].topic = (p >= nqprod);
	txg_commit_off = calloc(npartitions, sizeof(long));
	txg_commit_at = calloc(npartitions, sizeof(double));
	lg_commit_off = calloc(npartitions, sizeof(long));
	lg_commit_at = calloc(npartitions, sizeof(double));

	memset(&main_cl, 0, sizeof(main_cl));
	main_cl.role = R_MAIN;
	main_cl.seed = seed0;
	snprintf(main_cl.name, sizeof(main_cl.name), "main");
	client_connect(&main_cl);
	setup(&main_cl);

	nclients = nprod + 4 * ncons + 1;
	clients = calloc(nclients, sizeof(Client));
	threads = malloc(sizeof(pthread_t) * nclients);
	for (i = 0; i < nclients; i++)
	{
		Client	   *cl = &clients[i];

		cl->seed = seed0 * 104729 + i;
		if (i < nqprod)
		{
			cl->role = R_QPROD;
			cl->k = i;
			snprintf(cl->name, sizeof(cl->name), "queue-producer-%d", i);
		}
		else if (i < nprod)
		{
			cl->role = R_TPROD;
			cl->k = i;
			snprintf(cl->name, sizeof(cl->name), "topic-producer-%d", i - nqprod);
		}
		else if (i < nclients - 1)
		{
			static const char *const names[4] = {"txq", "leasedq", "txg", "leasedg"};
			int			m = (i - nprod) / ncons;

			cl->role = R_TXQ + m;
			cl->k = (i - nprod) % ncons;
			snprintf(cl->name, sizeof(cl->name), "%s-%d", names[m], cl->k);
		}
		else
		{
			cl->role = R_MAINT;
			snprintf(cl->name, sizeof(cl->name), "maintenance");
		}
	}

	t0 = now_secs();
	for (i = nprod; i < nclients; i++)
		pthread_create(&threads[i], NULL, i < nclients - 1 ? consumer_main : maintenance_main, &clients[i]);
	for (i = 0; i < nprod; i++)
		pthread_create(&threads[i], NULL, producer_main, &clients[i]);
	printf("crash_test: running: %d queue producers, %d topic producers, %d consumers of each kind,"
		   " %d partitions, %s\n", nqprod, ntprod, ncons, npartitions,
		   run_secs > 0 ? "for a fixed time" : "until SIGUSR1");
	fflush(stdout);

	/* run: until SIGUSR1, or --seconds */
	last_report = t0;
	for (;;)
	{
		struct timespec ts = {1, 0};
		int			sig = sigtimedwait(&sigs, NULL, &ts);

		if (sig == SIGUSR1)
			break;
		if (sig < 0 && errno != EAGAIN && errno != EINTR)
		{
			perror("crash_test: sigtimedwait");
			return 1;
		}
		if (run_secs > 0 && now_secs() - t0 >= run_secs)
			break;
		if (now_secs() - last_report >= 10)
		{
			progress(t0);
			last_report = now_secs();
		}
	}

	/* drain */
	t_drain = now_secs();
	stop_producing = 1;
	for (i = 0; i < nprod; i++)
		pthread_join(threads[i], NULL);
	progress(t0);
	drain(&main_cl);
	stop_consuming = 1;
	for (i = nprod; i < nclients; i++)
		pthread_join(threads[i], NULL);

	/* the checks */
	t_checks = now_secs();
	if (sabotage)
	{
		must_cmd(&main_cl, "INSERT INTO crash_effects SELECT * FROM crash_effects WHERE kind = 'q' LIMIT 1");
		must_cmd(&main_cl, "INSERT INTO crash_effects SELECT * FROM crash_effects WHERE kind = 't' LIMIT 1");
	}
	check_all(&main_cl, &v);

	lost = v.lost_txq + v.lost_leasedq + v.lost_log + v.lost_txg + v.lost_leasedg;
	dups = v.dup_txq + v.dup_log + v.dup_txg;
	ghost = v.ghosts[0] + v.ghosts[1];
	failed = (lost || dups || ghost || v.queued || v.lag || v.dead || v.gaps || v.key_misplaced ||
			  v.part_wrong || v.mismatched || errors || bad_rows || resurrected || effects_lost ||
			  order_violations || atomicity || stalled);

	printf("crash_test: %.1fs (drain %.1fs), %d queue producers, %d topic producers, %d consumers"
		   " of each kind, %d partitions, connection losses %ld\n",
		   t_checks - t0, t_checks - t_drain, nqprod, ntprod, ncons, npartitions, connection_losses);
	for (i = 0; i < 2; i++)
	{
		ProduceStats *ps = &pstats[i];

		printf("crash_test: %s producers: produced=%ld committed=%ld rolled_back=%ld cut_off=%ld"
			   " in_doubt=%ld (present %ld, absent %ld) transactions=%ld (committed %ld, rolled back %ld,"
			   " cut off %ld, in doubt %ld)\n",
			   i ? "topic" : "queue", ps->produced, ps->committed, ps->aborted, ps->broken,
			   ps->in_doubt, v.doubt_present[i], v.doubt_absent[i], ps->txns, ps->txns_committed,
			   ps->txns_aborted, ps->txns_broken, ps->txns_in_doubt);
	}
	for (i = 0; i < NMODES; i++)
	{
		ConsumeStats *cs = &cstats[i];

		if (i == M_TXQ || i == M_TXG)
			printf("crash_test: %s: calls=%ld delivered=%ld processed=%ld commits=%ld rolled_back=%ld"
				   " cut_off=%ld in_doubt=%ld | duplicates=%ld lost=%ld\n",
				   mode_names[i], cs->calls, cs->delivered, cs->processed, cs->commits,
				   cs->rollbacks, cs->broken, cs->in_doubt,
				   i == M_TXQ ? v.dup_txq : v.dup_txg, i == M_TXQ ? v.lost_txq : v.lost_txg);
		else
			printf("crash_test: %s: calls=%ld delivered=%ld processed=%ld %s=%ld %s=%ld"
				   " cut_off=%ld | redelivered=%ld lost=%ld\n",
				   mode_names[i], cs->calls, cs->delivered, cs->processed,
				   i == M_LEASEDQ ? "acks" : "commits", cs->commits,
				   i == M_LEASEDQ ? "stale_acks" : "lease_lost", cs->stale, cs->broken,
				   i == M_LEASEDQ ? v.redelivered_leasedq : v.redelivered_leasedg,
				   i == M_LEASEDQ ? v.lost_leasedq : v.lost_leasedg);
	}
	printf("crash_test: topic: records=%ld gaps=%ld duplicates=%ld lost=%ld wrong_partition=%ld"
		   " key_misplaced=%ld | left: queued=%ld dead=%ld lag=%ld\n",
		   v.log_records, v.gaps, v.dup_log, v.lost_log, v.part_wrong, v.key_misplaced, v.queued, v.dead, v.lag);
	printf("crash_test: produced=%ld committed=%ld in_doubt=%ld delivered=%ld"
		   " duplicates(transactional)=%ld redelivered(leased)=%ld lost=%ld from_rolled_back=%ld"
		   " | resurrected=%ld effects_lost=%ld atomicity=%ld offset_mismatch=%ld order=%ld"
		   " bad_rows=%ld errors=%ld stalled=%ld\n",
		   pstats[0].produced + pstats[1].produced, pstats[0].committed + pstats[1].committed,
		   pstats[0].in_doubt + pstats[1].in_doubt,
		   cstats[0].delivered + cstats[1].delivered + cstats[2].delivered + cstats[3].delivered,
		   dups, v.redelivered_leasedq + v.redelivered_leasedg, lost, ghost, resurrected,
		   effects_lost, atomicity, v.mismatched, order_violations, bad_rows, errors, stalled);
	printf("crash_test: %s\n", failed ? "FAILED" : "ok");
	PQfinish(main_cl.c);
	return failed ? 1 : 0;
}
