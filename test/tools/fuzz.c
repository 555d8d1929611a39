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
 * pgbroker).  A public function of the installed extension that this
 * driver does not call is reported at the start.
 *
 * The seed fixes each connection's random choices; some choices depend on
 * what earlier calls returned (ids, receipts, whether a claim got
 * anything), and the connections interleave as they will, so two runs
 * with one seed are alike but not identical.
 *
 * Connection parameters come from the usual PG* environment variables.
 *
 * usage: fuzz [--calls N] [--seed S] [--threads N] [--users U1,U2,...]
 *             [--timeout MS] [--forbid CODE,...] [--no-check] [--verbose]
 *
 * --users: worker k connects as the k-th user of the list (round robin);
 * the final check connects as the default user.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "libpq-fe.h"

#define lengthof(a) ((int) (sizeof(a) / sizeof((a)[0])))
#define MAXPARAMS 16
#define RING 64
#define MAXSTATES 40

/* ----------------------------------------------------------------
 * Options and shared state
 * ----------------------------------------------------------------
 */
static long ncalls = 20000;
static unsigned long seed0 = 1;
static int	nthreads = 3;
static char *users[32];
static int	nusers = 0;
static int	timeout_ms = 2000;
static char *forbid_extra[32];
static int	nforbid_extra = 0;
static bool do_check = true;
static bool verbose = false;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static volatile int stop_all = 0;
static long forbidden_count = 0;
static long violations = 0;
static long lost_connections = 0;

/* ----------------------------------------------------------------
 * Functions and their outcome counters
 * ----------------------------------------------------------------
 */
enum
{
	F_CREATE_QUEUE, F_ALTER_QUEUE, F_ALTER_QUEUE_NOTIFY, F_DROP_QUEUE, F_PURGE,
	F_SEND, F_SEND_BYTES, F_SEND_BATCH, F_SEND_BATCH_BYTES, F_CLAIM,
	F_ACK, F_ACK_IDS, F_NACK, F_EXTEND, F_PEEK, F_CANCEL, F_DEAD_LETTERS,
	F_REDRIVE, F_MAINTAIN, F_QUEUE_STATS, F_CLAIM_WAIT, F_V_QUEUES,
	F_CREATE_TOPIC, F_ALTER_TOPIC, F_ALTER_TOPIC_NOTIFY, F_DROP_TOPIC,
	F_PUBLISH, F_PUBLISH_BYTES, F_PUBLISH_BATCH, F_PUBLISH_BATCH_BYTES,
	F_PARTITION_FOR, F_READ, F_LATEST, F_EARLIEST, F_OFFSET_FOR_TIME,
	F_TOPIC_PARTITIONS, F_TOPIC_STATS, F_MAINTAIN_TOPICS, F_V_TOPICS,
	F_CREATE_GROUP, F_DELETE_GROUP, F_COMMIT_OFFSET, F_COMMIT_RECORDS, F_COMMIT_ALL,
	F_EXTEND_LEASE, F_LEAVE, F_SEEK_TEXT, F_SEEK_OFFSET, F_SEEK_TIME, F_POLL,
	F_POLL_WAIT, F_V_LAG,
	F_SET,
	NCALLABLE,
	/* transaction control, counted but not drawn at random */
	F_BEGIN = NCALLABLE, F_COMMIT, F_ROLLBACK, F_SAVEPOINT, F_ROLLBACK_TO,
	F_RELEASE, F_PREPARE, F_FINISH_PREPARED,
	NFUNCS
};

#define MAXMSGS 4

typedef struct StateCount
{
	char		code[6];
	long		count;
	int			nmessages;
	char	   *messages[MAXMSGS];	/* distinct primary messages, digits as N */
} StateCount;

typedef struct FuncStats
{
	const char *name;
	int			weight;
	const char *sig;			/* the function called, as regprocedure */
	long		calls;
	long		ok;
	long		cancels;		/* calls sent a cancel request */
	double		secs;			/* time spent in calls */
	int			nstates;
	StateCount	states[MAXSTATES];
} FuncStats;

static FuncStats funcs[NFUNCS] = {
	[F_CREATE_QUEUE] = {"create_queue", 5, "broker.create_queue(text,integer,interval,interval,interval,interval,interval,text,bigint,text,boolean)"},
	[F_ALTER_QUEUE] = {"alter_queue", 2, "broker.alter_queue(text,integer,interval,interval,interval,interval,interval,text,bigint,text,boolean,boolean)"},
	[F_ALTER_QUEUE_NOTIFY] = {"alter_queue(notify)", 1, "broker.alter_queue(text,boolean)"},
	[F_DROP_QUEUE] = {"drop_queue", 2, "broker.drop_queue(text,boolean)"},
	[F_PURGE] = {"purge", 1, "broker.purge(text)"},
	[F_SEND] = {"send", 8, "broker.send(text,jsonb,jsonb,interval,integer,text,text)"},
	[F_SEND_BYTES] = {"send_bytes", 3, "broker.send_bytes(text,bytea,jsonb,interval,integer,text,text)"},
	[F_SEND_BATCH] = {"send_batch", 4, "broker.send_batch(text,jsonb[],jsonb,interval,integer,text[],text[])"},
	[F_SEND_BATCH_BYTES] = {"send_batch_bytes", 2, "broker.send_batch_bytes(text,bytea[],jsonb,interval,integer,text[],text[])"},
	[F_CLAIM] = {"claim", 8, "broker.claim(text,integer,interval,interval,jsonb)"},
	[F_ACK] = {"ack(id)", 5, "broker.ack(text,bigint,uuid)"},
	[F_ACK_IDS] = {"ack(ids)", 3, "broker.ack(text,bigint[])"},
	[F_NACK] = {"nack", 4, "broker.nack(text,bigint,uuid,interval,text)"},
	[F_EXTEND] = {"extend", 3, "broker.extend(text,bigint,uuid,interval)"},
	[F_PEEK] = {"peek", 3, "broker.peek(text,integer,jsonb)"},
	[F_CANCEL] = {"cancel", 2, "broker.cancel(text,bigint)"},
	[F_DEAD_LETTERS] = {"dead_letters", 2, "broker.dead_letters(text,integer)"},
	[F_REDRIVE] = {"redrive", 2, "broker.redrive(text,bigint[])"},
	[F_MAINTAIN] = {"maintain", 1, "broker.maintain()"},
	[F_QUEUE_STATS] = {"queue_stats", 1, "broker.queue_stats(integer)"},
	[F_CLAIM_WAIT] = {"claim_wait", 1, "broker.claim_wait(text,integer,interval,interval,jsonb,broker.message[])"},
	[F_V_QUEUES] = {"view queues", 1},
	[F_CREATE_TOPIC] = {"create_topic", 5, "broker.create_topic(text,integer,interval,bigint,boolean,interval,bigint,interval,interval,boolean,text[])"},
	[F_ALTER_TOPIC] = {"alter_topic", 2, "broker.alter_topic(text,integer,interval,bigint,boolean,interval,bigint,interval,interval,boolean,boolean,text[])"},
	[F_ALTER_TOPIC_NOTIFY] = {"alter_topic(notify)", 1, "broker.alter_topic(text,boolean)"},
	[F_DROP_TOPIC] = {"drop_topic", 2, "broker.drop_topic(text,boolean)"},
	[F_PUBLISH] = {"publish", 7, "broker.publish(text,jsonb,text,jsonb,integer,text)"},
	[F_PUBLISH_BYTES] = {"publish_bytes", 3, "broker.publish_bytes(text,bytea,text,jsonb,integer,text)"},
	[F_PUBLISH_BATCH] = {"publish_batch", 4, "broker.publish_batch(text,jsonb[],text[],jsonb,integer)"},
	[F_PUBLISH_BATCH_BYTES] = {"publish_batch_bytes", 2, "broker.publish_batch_bytes(text,bytea[],text[],jsonb,integer)"},
	[F_PARTITION_FOR] = {"partition_for", 2, "broker.partition_for(text,text)"},
	[F_READ] = {"read", 5, "broker.read(text,integer,bigint,integer)"},
	[F_LATEST] = {"latest_offset", 2, "broker.latest_offset(text,integer)"},
	[F_EARLIEST] = {"earliest_offset", 2, "broker.earliest_offset(text,integer)"},
	[F_OFFSET_FOR_TIME] = {"offset_for_time", 2, "broker.offset_for_time(text,integer,timestamp with time zone)"},
	[F_TOPIC_PARTITIONS] = {"topic_partitions", 2, "broker.topic_partitions(text)"},
	[F_TOPIC_STATS] = {"topic_stats", 1, "broker.topic_stats(integer)"},
	[F_MAINTAIN_TOPICS] = {"maintain_topics", 1, "broker.maintain_topics()"},
	[F_V_TOPICS] = {"view topics", 1},
	[F_CREATE_GROUP] = {"create_group", 3, "broker.create_group(text,text,text)"},
	[F_DELETE_GROUP] = {"delete_group", 1, "broker.delete_group(text,text,boolean)"},
	[F_COMMIT_OFFSET] = {"commit(offset)", 4, "broker.commit(text,text,integer,bigint,text)"},
	[F_COMMIT_RECORDS] = {"commit(records)", 3, "broker.commit(text,text,broker.record[],text)"},
	[F_COMMIT_ALL] = {"commit(all)", 2, "broker.commit(text,text,text)"},
	[F_EXTEND_LEASE] = {"extend_lease", 2, "broker.extend_lease(text,text,text,interval)"},
	[F_LEAVE] = {"leave", 1, "broker.leave(text,text,text)"},
	[F_SEEK_TEXT] = {"seek(text)", 2, "broker.seek(text,text,text,integer)"},
	[F_SEEK_OFFSET] = {"seek(bigint)", 2, "broker.seek(text,text,bigint,integer)"},
	[F_SEEK_TIME] = {"seek(timestamptz)", 2, "broker.seek(text,text,timestamp with time zone,integer)"},
	[F_POLL] = {"poll", 7, "broker.poll(text,text,integer,interval,text,interval)"},
	[F_POLL_WAIT] = {"poll_wait", 1, "broker.poll_wait(text,text,integer,interval,text,interval,broker.record[])"},
	[F_V_LAG] = {"view consumer_lag", 1},
	[F_SET] = {"SET (session)", 1},
	[F_BEGIN] = {"BEGIN", 0},
	[F_COMMIT] = {"COMMIT", 0},
	[F_ROLLBACK] = {"ROLLBACK", 0},
	[F_SAVEPOINT] = {"SAVEPOINT", 0},
	[F_ROLLBACK_TO] = {"ROLLBACK TO", 0},
	[F_RELEASE] = {"RELEASE", 0},
	[F_PREPARE] = {"PREPARE TRANSACTION", 0},
	[F_FINISH_PREPARED] = {"COMMIT/ROLLBACK PREPARED", 0},
};
static int	total_weight = 0;

/* ----------------------------------------------------------------
 * Names
 * ----------------------------------------------------------------
 */
#define NGOOD 11
static char *good_names[NGOOD];	/* valid names, shared by queues, topics, groups */
static char *bad_names[8];		/* names pgbroker must refuse */
static int	nbad = 0;

/* topic names that compaction or a failed commit may have thinned */
static char *tainted[256];
static int	ntainted = 0;

static char *
repeat_to(const char *unit, int bytes)
{
	int			ulen = strlen(unit);
	char	   *s = malloc(bytes + ulen + 1);
	int			n = 0;

	while (n + ulen <= bytes)
	{
		memcpy(s + n, unit, ulen);
		n += ulen;
	}
	while (n < bytes)
		s[n++] = 'x';
	s[n] = '\0';
	return s;
}

static void
init_names(void)
{
	char	   *s;

	good_names[0] = "fz_a";
	good_names[1] = "fz b";
	good_names[2] = "fz;c";
	good_names[3] = "fz'd \"e\"";
	good_names[4] = "\xc3\xbc-\xe9\x98\x9f\xe5\x88\x97-\xf0\x9f\x9a\x80";	/* ü-队列-🚀 */
	good_names[5] = repeat_to("n", 63);
	good_names[6] = repeat_to("m", 64);
	/* 200 bytes exactly, multibyte characters included */
	s = repeat_to("\xc3\xa9", 198);
	good_names[7] = malloc(201);
	snprintf(good_names[7], 201, "%s", s);
	strcat(good_names[7], "zz");
	good_names[8] = "queue_1";
	good_names[9] = "); DROP TABLE broker.queue; --";
	good_names[10] = " lead and trail ";

	bad_names[nbad++] = "";
	bad_names[nbad++] = repeat_to("o", 201);
	bad_names[nbad++] = "tab\there";
	bad_names[nbad++] = "new\nline";
	bad_names[nbad++] = "ctl\x01";
	bad_names[nbad++] = "bad\xc3\x28utf8";	/* invalid UTF-8 */
}

static bool
is_bad_name(const char *s)
{
	int			i;

	if (s == NULL)
		return true;
	for (i = 0; i < nbad; i++)
		if (s == bad_names[i])
			return true;
	return false;
}

static void
taint(const char *name)
{
	int			i;

	if (name == NULL)
		return;
	pthread_mutex_lock(&mu);
	for (i = 0; i < ntainted; i++)
		if (strcmp(tainted[i], name) == 0)
			break;
	if (i == ntainted && ntainted < lengthof(tainted))
		tainted[ntainted++] = strdup(name);
	pthread_mutex_unlock(&mu);
}

static bool
is_tainted(const char *name)
{
	int			i;
	bool		r = false;

	pthread_mutex_lock(&mu);
	for (i = 0; i < ntainted; i++)
		if (strcmp(tainted[i], name) == 0)
			r = true;
	pthread_mutex_unlock(&mu);
	return r;
}

/* ----------------------------------------------------------------
 * Workers: random numbers, memory for one call's arguments
 * ----------------------------------------------------------------
 */
typedef struct Claimed
{
	const char *queue;
	char		id[24];
	char		receipt[40];
} Claimed;

typedef struct Polled
{
	const char *topic;
	const char *group;
	const char *consumer;
	int			partition;
	long long	offset;
} Polled;

typedef struct Worker
{
	int			id;
	PGconn	   *conn;
	uint64_t	rng;
	long		calls;
	long		msgsize;		/* this session's pgbroker.max_message_size */
	bool		in_xact;
	int			xact_left;
	bool		savepoint;
	int			prepared;
	const char *published[16];	/* topics published to in this transaction */
	int			npublished;
	Claimed		claimed[RING];
	int			nclaimed;
	char		sent[RING][24];
	const char *sent_queue[RING];
	int			nsent;
	Polled		polled[RING];
	int			npolled;
	/* per call */
	char	   *garbage[64];
	int			ngarbage;
} Worker;

static uint64_t
rnd(Worker *w)
{
	/* xorshift64* */
	w->rng ^= w->rng >> 12;
	w->rng ^= w->rng << 25;
	w->rng ^= w->rng >> 27;
	return w->rng * 2685821657736338717ULL;
}

static int
rn(Worker *w, int n)
{
	return (int) ((rnd(w) >> 33) % (uint64_t) n);
}

static bool
pct(Worker *w, int p)
{
	return rn(w, 100) < p;
}

#define PICK(w, arr) ((arr)[rn((w), lengthof(arr))])

static char *
keep(Worker *w, char *s)
{
	if (w->ngarbage < lengthof(w->garbage))
		w->garbage[w->ngarbage++] = s;
	return s;
}

static char *
wprintf(Worker *w, const char *fmt,...) __attribute__((format(printf, 2, 3)));

static char *
wprintf(Worker *w, const char *fmt,...)
{
	va_list		ap;
	char	   *s;
	int			n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	s = malloc(n + 1);
	va_start(ap, fmt);
	vsnprintf(s, n + 1, fmt, ap);
	va_end(ap);
	return keep(w, s);
}

static void
free_garbage(Worker *w)
{
	while (w->ngarbage > 0)
		free(w->garbage[--w->ngarbage]);
}

/* A growable string, for arrays and big values. */
typedef struct Buf
{
	char	   *s;
	size_t		len;
	size_t		cap;
} Buf;

static void
buf_put(Buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap)
	{
		b->cap = (b->len + n + 1) * 2;
		b->s = realloc(b->s, b->cap);
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static void
buf_str(Buf *b, const char *s)
{
	buf_put(b, s, strlen(s));
}

/* Append s as a double-quoted array element (NULL: the NULL element). */
static void
buf_elem(Buf *b, const char *s)
{
	if (s == NULL)
	{
		buf_str(b, "NULL");
		return;
	}
	buf_put(b, "\"", 1);
	for (; *s; s++)
	{
		if (*s == '"' || *s == '\\')
			buf_put(b, "\\", 1);
		buf_put(b, s, 1);
	}
	buf_put(b, "\"", 1);
}

/* ----------------------------------------------------------------
 * Argument generators.  "good" values are ones a careful caller passes;
 * "bad" ones are boundaries, NULLs, wrong types and absurdities.
 * ----------------------------------------------------------------
 */
static const char *
gen_name(Worker *w)
{
	int			r = rn(w, 100);

	if (r < 50)
		return good_names[rn(w, 4)];	/* the usual few: most calls collide */
	if (r < 85)
		return good_names[rn(w, NGOOD)];
	if (r < 93)
		return bad_names[rn(w, nbad)];
	if (r < 96)
		return NULL;
	return wprintf(w, "fz_fresh_%d", rn(w, 1000000));
}

static const char *
gen_group(Worker *w)
{
	int			r = rn(w, 100);

	if (r < 80)
		return PICK(w, ((const char *[]) {"g1", "g2", "g 3", "g'4;"}));
	if (r < 90)
		return good_names[rn(w, NGOOD)];
	if (r < 97)
		return bad_names[rn(w, nbad)];
	return NULL;
}

static const char *
gen_consumer(Worker *w)
{
	if (pct(w, 90))
		return PICK(w, ((const char *[]) {"c1", "c2", "c3"}));
	return PICK(w, ((const char *[]) {NULL, "", "c\x01", "\xe2\x98\x83 snow", good_names[7], bad_names[1]}));
}

static const char *const bad_ints[] = {
	NULL, "0", "-1", "-2147483648", "2147483647", "10000", "10001", "1024",
	"1025", "2147483648", "1.5", "", "abc", " 7 ", "0x10", "1e3"
};
static const char *const bad_bigints[] = {
	NULL, "0", "-1", "1", "9223372036854775807", "-9223372036854775808",
	"9223372036854775808", "1.0", "", "NaN", "4294967296"
};
static const char *const bad_intervals[] = {
	NULL, "0", "-1 second", "-1 microsecond", "1 microsecond", "1 hour",
	"1 hour 1 second", "1 day 1 second", "7 days 1 second", "8 days",
	"1 mon", "1 mon -30 days", "-1 mon 31 days", "1 year", "178000000 years",
	"-178000000 years", "2147483647 days", "-2147483648 days",
	"2562047788 hours", "-2562047788 hours", "2147483647 mons",
	"infinity", "-infinity", "@ 1 minute ago", "P1Y2M3DT4H5M6S", "abc", "",
	"1 day -86400 seconds", "00:00:00.0000001"
};
static const char *const bad_timestamps[] = {
	NULL, "infinity", "-infinity", "epoch", "now", "today", "tomorrow",
	"294276-12-31 23:59:59+00", "294277-01-01 00:00:00+00",
	"4713-01-01 00:00:00+00 BC", "4714-11-24 00:00:00+00 BC",
	"2000-02-30", "yesterday", "1970-01-01 00:00:00.000001+00", "xyz", ""
};
static const char *const bad_bools[] = {NULL, "t", "f", "maybe", "", "yes"};
static const char *const bad_uuids[] = {
	NULL, "00000000-0000-0000-0000-000000000000",
	"ffffffff-ffff-ffff-ffff-ffffffffffff",
	"{c0ffee00-0000-4000-8000-000000000001}", "not-a-uuid", ""
};

static const char *
gen_bad_int(Worker *w)
{
	return PICK(w, bad_ints);
}

static const char *
gen_bad_interval(Worker *w)
{
	return PICK(w, bad_intervals);
}

static const char *
gen_bool(Worker *w, bool bad)
{
	if (bad)
		return PICK(w, bad_bools);
	return pct(w, 50) ? "t" : "f";
}

static const char *
gen_uuid(Worker *w)
{
	if (pct(w, 60))
		return wprintf(w, "%08x-%04x-4%03x-8%03x-%04x%08x",
					   (unsigned) rnd(w), rn(w, 65536), rn(w, 4096), rn(w, 4096),
					   rn(w, 65536), (unsigned) rnd(w));
	return PICK(w, bad_uuids);
}

/* Deeply nested JSON: an array or object "depth" levels deep. */
static char *
gen_deep(Worker *w, int depth, bool object)
{
	Buf			b = {0};
	int			i;

	for (i = 0; i < depth; i++)
		buf_str(&b, object ? "{\"a\":" : "[");
	buf_str(&b, "1");
	for (i = 0; i < depth; i++)
		buf_str(&b, object ? "}" : "]");
	return keep(w, b.s);
}

/* A JSON object of about "bytes" bytes (text), the pad made of "unit". */
static char *
gen_big_object(Worker *w, long bytes)
{
	Buf			b = {0};
	long		i;

	if (bytes < 16)
		bytes = 16;
	buf_str(&b, "{\"pad\":\"");
	for (i = 10; i < bytes; i++)
		buf_put(&b, "abcdefghijklmnopqrstuvwxyz" + (i % 26), 1);
	buf_str(&b, "\"}");
	return keep(w, b.s);
}

/* the size of a payload around the session's limit, or far past it */
static long
gen_limit_size(Worker *w)
{
	long		lim = w->msgsize;

	if (lim > 4 * 1024 * 1024)
		return 2 * 1024 * 1024;	/* a huge limit: stay reasonable */
	switch (rn(w, 5))
	{
		case 0:
			return lim - 64 - rn(w, 64);
		case 1:
			return lim - 16 + rn(w, 32);
		case 2:
			return lim + 1 + rn(w, 64);
		case 3:
			return lim * 2;
		default:
			return lim / 2;
	}
}

static const char *
gen_payload(Worker *w, bool bad)
{
	if (!bad)
	{
		switch (rn(w, 6))
		{
			case 0:
				return "{}";
			case 1:
				return wprintf(w, "{\"n\": %d, \"s\": \"x\"}", rn(w, 1000));
			case 2:
				return wprintf(w, "[%d, \"two\", null, true]", rn(w, 1000));
			case 3:
				return "\"just a string\"";
			case 4:
				return wprintf(w, "{\"k\": \"%s\"}", rn(w, 2) ? "caf\xc3\xa9" : "\xf0\x9f\x9a\x80");
			default:
				return wprintf(w, "%d", rn(w, 100000) - 50000);
		}
	}
	switch (rn(w, 16))
	{
		case 0:
			return NULL;
		case 1:
			return "null";
		case 2:
			return gen_big_object(w, gen_limit_size(w));
		case 3:
			return gen_deep(w, PICK(w, ((int[]) {100, 1000, 5000, 100000})), rn(w, 2));
		case 4:
			return "{\"a\": \"\\u0000\"}";	/* jsonb refuses NUL */
		case 5:
			return "1e1000000";
		case 6:
			return "{\"a\":1,\"a\":2}";
		case 7:
			return "";
		case 8:
			return "{not json";
		case 9:
			return "[]";
		case 10:
			return "{\"\xf0\x9f\x9a\x80\": \"\\ud83d\\ude80\"}";
		case 11:
			return gen_big_object(w, 100000);
		case 12:
			return "-0.0000000000000000000001";
		case 13:
			return "\"\\ud800\"";		/* lone surrogate */
		default:
			return "{}";
	}
}

static const char *
gen_headers(Worker *w, bool bad)
{
	if (!bad)
		return PICK(w, ((const char *[]) {"{}", "{}", "{\"type\": \"a\"}", "{\"type\": \"b\", \"n\": 1}",
					"{\"tenant\": \"t1\", \"type\": \"a\"}"}));
	switch (rn(w, 10))
	{
		case 0:
			return NULL;
		case 1:
			return "[1, 2]";
		case 2:
			return "\"text\"";
		case 3:
			return "null";
		case 4:
			return "42";
		case 5:
			return gen_deep(w, PICK(w, ((int[]) {10, 500, 3000})), true);
		case 6:
			return gen_big_object(w, gen_limit_size(w));
		case 7:
			return "{\"\": \"\"}";
		case 8:
			return "{}";
		default:
			return "not json";
	}
}

static const char *
gen_filter(Worker *w, bool bad)
{
	if (!bad)
		return PICK(w, ((const char *[]) {NULL, NULL, NULL, "{}", "{\"type\": \"a\"}", "{\"tenant\": \"t1\"}"}));
	return PICK(w, ((const char *[]) {NULL, "[1]", "42", "null", "\"x\"", "{\"type\": [\"a\"]}",
				"{\"a\": {\"b\": {\"c\": 1}}}", "{", gen_deep(w, 2000, true)}));
}

/* a key of 512 or 513 bytes (the limit), kept for the worker */
static const char *
gen_long_key(Worker *w)
{
	return keep(w, repeat_to("K", 511 + rn(w, 3)));
}

static const char *
gen_key(Worker *w, bool bad)
{
	if (!bad)
		return PICK(w, ((const char *[]) {NULL, NULL, "k1", "k2", "k3", "k 4", "k'5;"}));
	if (pct(w, 15))
		return gen_long_key(w);
	return PICK(w, ((const char *[]) {NULL, "", "\xe2\x82\xac", "tab\tkey", "bad\xc3\x28"}));
}

/* binary payload: sets *len */
static char *
gen_bytes(Worker *w, bool bad, int *len)
{
	long		n;
	char	   *s;
	long		i;

	if (!bad)
		n = rn(w, 4) == 0 ? 0 : rn(w, 64);
	else
		n = rn(w, 3) == 0 ? 0 : gen_limit_size(w);
	if (n < 0)
		n = 0;
	s = malloc(n + 1);
	for (i = 0; i < n; i++)
		s[i] = (char) (i % 7 == 0 ? 0 : rnd(w));
	*len = (int) n;
	return keep(w, s);
}

/* a bytea literal in hex form, for arrays */
static void
buf_bytea_elem(Worker *w, Buf *b, bool bad)
{
	int			len;
	char	   *s = gen_bytes(w, bad && pct(w, 50), &len);
	int			i;
	char		hex[3];

	buf_str(b, "\"\\\\x");
	for (i = 0; i < len; i++)
	{
		snprintf(hex, sizeof(hex), "%02x", (unsigned char) s[i]);
		buf_put(b, hex, 2);
	}
	buf_str(b, "\"");
}

/*
 * An array literal of n payloads (jsonb or bytea), or a malformed one.
 * *count gets the number of elements, -1 when unknown.
 */
static const char *
gen_payload_array(Worker *w, bool bytes, bool bad, int *count)
{
	Buf			b = {0};
	int			n;
	int			i;

	*count = -1;
	if (bad)
	{
		switch (rn(w, 8))
		{
			case 0:
				return NULL;
			case 1:
				*count = 0;
				return "{}";
			case 2:
				*count = 1;
				return "{NULL}";
			case 3:
				return bytes ? "{{\"\\\\x00\"},{\"\\\\x01\"}}" : "{{\"{}\"},{\"{}\"}}";
			case 4:
				*count = 2;
				return bytes ? "[0:1]={\"\\\\x00\",\"\\\\x01\"}" : "[0:1]={\"{}\",\"[]\"}";
			case 5:
				n = PICK(w, ((int[]) {1000, 10000, 10001}));
				break;
			case 6:
				return "{\"{}\",";
			default:
				n = 1 + rn(w, 5);
				break;
		}
	}
	else
		n = 1 + rn(w, pct(w, 10) ? 200 : 8);

	buf_str(&b, "{");
	for (i = 0; i < n; i++)
	{
		if (i > 0)
			buf_str(&b, ",");
		if (bytes)
			buf_bytea_elem(w, &b, bad && n <= 8 && i == 0);
		else if (bad && pct(w, 5))
			buf_elem(&b, NULL);
		else
			buf_elem(&b, n > 100 ? "{}" : gen_payload(w, bad && pct(w, 20)));
	}
	buf_str(&b, "}");
	*count = n;
	return keep(w, b.s);
}

/* a text[] of keys for a batch of n (n < 0: unknown) */
static const char *
gen_key_array(Worker *w, int n, bool bad)
{
	Buf			b = {0};
	int			i;

	if (!bad)
	{
		if (pct(w, 60) || n < 0)
			return NULL;
	}
	else
	{
		switch (rn(w, 6))
		{
			case 0:
				return NULL;
			case 1:
				return "{}";
			case 2:
				return "{{a},{b}}";
			case 3:
				n = n + 1;
				break;
			case 4:
				if (n > 0)
					n = n - 1;
				break;
			default:
				break;
		}
		if (n < 0)
			n = 2;
	}
	buf_str(&b, "{");
	for (i = 0; i < n; i++)
	{
		if (i > 0)
			buf_str(&b, ",");
		buf_elem(&b, bad && pct(w, 10) ? gen_long_key(w) : gen_key(w, false));
	}
	buf_str(&b, "}");
	return keep(w, b.s);
}

static const char *
gen_count(Worker *w, bool bad)
{
	if (!bad)
		return wprintf(w, "%d", 1 + rn(w, pct(w, 10) ? 200 : 10));
	return gen_bad_int(w);
}

static const char *
gen_priority(Worker *w, bool bad)
{
	if (!bad)
		return PICK(w, ((const char *[]) {"0", "0", "0", "1", "-5", "100"}));
	return PICK(w, ((const char *[]) {NULL, "1000000", "1000001", "-1000000", "-1000001",
				"2147483647", "-2147483648", "x"}));
}

/* a wait: mostly none or tiny, since a real wait costs a statement_timeout */
static const char *
gen_wait(Worker *w, bool bad)
{
	if (!bad)
		return PICK(w, ((const char *[]) {"0", "0", "0", "1 ms", "5 ms", "20 ms"}));
	if (pct(w, 70))
		return PICK(w, ((const char *[]) {NULL, "-1 s", "1 hour 1 ms", "2 days", "infinity",
					"178000000 years", "-2562047788 hours", "0", "x"}));
	return gen_bad_interval(w);
}

static void
remember_claim(Worker *w, const char *queue, const char *id, const char *receipt)
{
	Claimed    *c = &w->claimed[w->nclaimed++ % RING];

	c->queue = queue;
	snprintf(c->id, sizeof(c->id), "%s", id);
	snprintf(c->receipt, sizeof(c->receipt), "%s", receipt ? receipt : "");
}

static void
remember_sent(Worker *w, const char *queue, const char *id)
{
	int			i = w->nsent++ % RING;

	w->sent_queue[i] = queue;
	snprintf(w->sent[i], sizeof(w->sent[i]), "%s", id);
}

/* a message id: one this worker claimed or sent, or an absurd one */
static const char *
gen_msg_id(Worker *w, const char **queue, const char **receipt)
{
	int			r = rn(w, 100);

	if (r < 55 && w->nclaimed > 0)
	{
		Claimed    *c = &w->claimed[rn(w, w->nclaimed < RING ? w->nclaimed : RING)];

		*queue = c->queue;
		if (receipt)
			*receipt = pct(w, 85) ? c->receipt : gen_uuid(w);
		return c->id;
	}
	if (r < 80 && w->nsent > 0)
	{
		int			i = rn(w, w->nsent < RING ? w->nsent : RING);

		*queue = w->sent_queue[i];
		if (receipt)
			*receipt = pct(w, 50) ? NULL : gen_uuid(w);
		return w->sent[i];
	}
	*queue = gen_name(w);
	if (receipt)
		*receipt = gen_uuid(w);
	return PICK(w, bad_bigints);
}

/* ----------------------------------------------------------------
 * Running calls and counting their outcomes
 * ----------------------------------------------------------------
 */
typedef struct Call
{
	int			fn;
	const char *sql;
	int			n;
	const char *v[MAXPARAMS];
	int			len[MAXPARAMS];
	int			fmt[MAXPARAMS];
} Call;

static void
call_init(Call *c, int fn, const char *sql)
{
	memset(c, 0, sizeof(*c));
	c->fn = fn;
	c->sql = sql;
}

static void
arg(Call *c, const char *v)
{
	c->v[c->n] = v;
	c->len[c->n] = 0;
	c->fmt[c->n] = 0;
	c->n++;
}

static void
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

static void
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

static double
now_secs(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
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

static void
violation(const char *fmt,...) __attribute__((format(printf, 1, 2)));

static void
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
static PGresult *
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

static bool
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

/* parse an integer argument; false when it is NULL or not a plain number */
static bool
int_arg(const char *s, long long *v)
{
	char	   *end;

	if (s == NULL || *s == '\0')
		return false;
	*v = strtoll(s, &end, 10);
	return *end == '\0';
}

/* ----------------------------------------------------------------
 * One call of each function
 * ----------------------------------------------------------------
 */

/* the hostility of one call: most are careful, some have one bad argument */
typedef struct Hostility
{
	int			mode;			/* 0 careful, 1 one bad argument, 2 many */
	int			which;			/* the bad one, in mode 1 */
	int			pos;
} Hostility;

static void
hostility(Worker *w, Hostility *h, int nargs)
{
	int			r = rn(w, 100);

	h->mode = r < 55 ? 0 : (r < 88 ? 1 : 2);
	h->which = rn(w, nargs);
	h->pos = 0;
}

/* is the next argument a bad one? */
static bool
bad(Worker *w, Hostility *h)
{
	int			p = h->pos++;

	if (h->mode == 0)
		return false;
	if (h->mode == 1)
		return p == h->which;
	return pct(w, 40);
}

/*
 * The payload argument of a send or publish: JSON, or with bytes a bytea
 * that a bad draw makes NULL null_pct percent of the time.
 */
static void
arg_payload(Worker *w, Call *c, Hostility *h, bool bytes, int null_pct)
{
	if (bytes)
	{
		bool		b = bad(w, h);

		if (b && pct(w, null_pct))
			arg(c, NULL);
		else
		{
			int			len;
			char	   *p = gen_bytes(w, b, &len);

			arg_bin(c, p, len);
		}
	}
	else
		arg(c, gen_payload(w, bad(w, h)));
}

static void
note_created_name(const Call *c, PGresult *r, const char *name)
{
	if (result_ok(r) && is_bad_name(name))
		violation("%s accepted the invalid name '%s'", funcs[c->fn].name, name ? name : "(null)");
}

static void
do_create_queue(Worker *w)
{
	Hostility	h;
	Call		c;
	PGresult   *r;
	const char *name;
	bool		b;

	hostility(w, &h, 11);
	call_init(&c, F_CREATE_QUEUE,
			  "SELECT broker.create_queue($1, $2::int, $3::interval, $4::interval, $5::interval,"
			  " $6::interval, $7::interval, $8, $9::bigint, $10, $11::boolean)");
	name = bad(w, &h) ? PICK(w, bad_names) : gen_name(w);
	arg(&c, name);
	arg(&c, bad(w, &h) ? PICK(w, ((const char *[]) {NULL, "0", "1001", "-1", "1000"})) :
		PICK(w, ((const char *[]) {"1", "2", "5", "5"})));
	arg(&c, bad(w, &h) ? gen_bad_interval(w) : PICK(w, ((const char *[]) {"1 s", "2 s", "30 s", "7 days"})));
	arg(&c, bad(w, &h) ? gen_bad_interval(w) : PICK(w, ((const char *[]) {"0", "0", "1 min"})));
	b = bad(w, &h);
	arg(&c, b ? gen_bad_interval(w) : PICK(w, ((const char *[]) {"1 s", "10 ms"})));
	arg(&c, bad(w, &h) ? gen_bad_interval(w) : PICK(w, ((const char *[]) {"1 hour", "1 s"})));
	arg(&c, bad(w, &h) ? gen_bad_interval(w) : PICK(w, ((const char *[]) {NULL, NULL, NULL, "2 s", "1 min"})));
	arg(&c, bad(w, &h) ? PICK(w, ((const char *[]) {NULL, "explode", "", "DROP"})) :
		PICK(w, ((const char *[]) {"dead_letter", "drop"})));
	arg(&c, bad(w, &h) ? PICK(w, bad_bigints) : PICK(w, ((const char *[]) {NULL, NULL, NULL, "50", "1"})));
	arg(&c, bad(w, &h) ? PICK(w, ((const char *[]) {NULL, "spill", "REJECT", ""})) :
		PICK(w, ((const char *[]) {"reject", "drop_oldest"})));
	arg(&c, gen_bool(w, bad(w, &h)));
	r = run_call(w, &c, true);
	note_created_name(&c, r, name);
	if (r)
		PQclear(r);
}

static void
do_alter_queue(Worker *w)
{
	Hostility	h;
	Call		c;
	PGresult   *r;
	int			i;

	hostility(w, &h, 12);
	call_init(&c, F_ALTER_QUEUE,
			  "SELECT broker.alter_queue($1, $2::int, $3::interval, $4::interval, $5::interval,"
			  " $6::interval, $7::interval, $8, $9::bigint, $10, $11::boolean, $12::boolean)");
	arg(&c, gen_name(w));
	arg(&c, bad(w, &h) ? gen_bad_int(w) : (pct(w, 70) ? NULL : "3"));
	for (i = 0; i < 5; i++)
		arg(&c, bad(w, &h) ? gen_bad_interval(w) :
			(pct(w, 80) ? NULL : PICK(w, ((const char *[]) {"1 s", "5 s", "1 min"}))));
	arg(&c, bad(w, &h) ? PICK(w, ((const char *[]) {"x", ""})) : (pct(w, 80) ? NULL : "drop"));
	arg(&c, bad(w, &h) ? PICK(w, bad_bigints) : (pct(w, 80) ? NULL : "100"));
	arg(&c, bad(w, &h) ? PICK(w, ((const char *[]) {"x", ""})) : (pct(w, 80) ? NULL : "drop_oldest"));
	arg(&c, bad(w, &h) ? PICK(w, bad_bools) : (pct(w, 85) ? "f" : "t"));
	arg(&c, bad(w, &h) ? PICK(w, bad_bools) : (pct(w, 85) ? "f" : "t"));
	r = run_call(w, &c, true);
	if (r)
		PQclear(r);
}

static void
do_alter_notify(Worker *w, bool topic)
{
	Call		c;
	PGresult   *r;

	call_init(&c, topic ? F_ALTER_TOPIC_NOTIFY : F_ALTER_QUEUE_NOTIFY,
			  topic ? "SELECT broker.alter_topic($1, notify => $2::boolean)" :
			  "SELECT broker.alter_queue($1, notify => $2::boolean)");
	arg(&c, gen_name(w));
	arg(&c, gen_bool(w, pct(w, 20)));
	r = run_call(w, &c, true);
	if (r)
		PQclear(r);
}

static void
do_drop(Worker *w, bool topic)
{
	Call		c;
	PGresult   *r;

	call_init(&c, topic ? F_DROP_TOPIC : F_DROP_QUEUE,
			  topic ? "SELECT broker.drop_topic($1, $2::boolean)" :
			  "SELECT broker.drop_queue($1, $2::boolean)");
	arg(&c, gen_name(w));
	arg(&c, gen_bool(w, pct(w, 15)));
	r = run_call(w, &c, true);
	if (r)
		PQclear(r);
}

static void
do_purge(Worker *w)
{
	Call		c;
	PGresult   *r;

	call_init(&c, F_PURGE, "SELECT broker.purge($1)");
	arg(&c, gen_name(w));
	r = run_call(w, &c, true);
	if (r)
		PQclear(r);
}

static void
do_send(Worker *w, bool bytes)
{
	Hostility	h;
	Call		c;
	PGresult   *r;
	const char *queue;

	hostility(w, &h, 7);
	call_init(&c, bytes ? F_SEND_BYTES : F_SEND,
			  bytes ? "SELECT broker.send_bytes($1, $2::bytea, $3::jsonb, $4::interval, $5::int, $6, $7)" :
			  "SELECT broker.send($1, $2::jsonb, $3::jsonb, $4::interval, $5::int, $6, $7)");
	queue = gen_name(w);
	arg(&c, queue);
	arg_payload(w, &c, &h, bytes, 20);
	arg(&c, gen_headers(w, bad(w, &h)));
	arg(&c, bad(w, &h) ? gen_bad_interval(w) :
		PICK(w, ((const char *[]) {"0", "0", "0", "0", "10 ms", "1 s", "1 hour"})));
	arg(&c, gen_priority(w, bad(w, &h)));
	arg(&c, bad(w, &h) ? (pct(w, 50) ? gen_long_key(w) : gen_key(w, true)) :
		(pct(w, 80) ? NULL : gen_key(w, false)));
	arg(&c, bad(w, &h) ? (pct(w, 50) ? gen_long_key(w) : gen_key(w, true)) :
		(pct(w, 80) ? NULL : gen_key(w, false)));
	r = run_call(w, &c, true);
	if (result_ok(r) && PQntuples(r) == 1 && !PQgetisnull(r, 0, 0))
		remember_sent(w, queue, PQgetvalue(r, 0, 0));
	if (r)
		PQclear(r);
}

static void
do_send_batch(Worker *w, bool bytes)
{
	Hostility	h;
	Call		c;
	PGresult   *r;
	const char *queue;
	int			n;

	hostility(w, &h, 7);
	call_init(&c, bytes ? F_SEND_BATCH_BYTES : F_SEND_BATCH,
			  bytes ? "SELECT * FROM broker.send_batch_bytes($1, $2::bytea[], $3::jsonb, $4::interval, $5::int, $6::text[], $7::text[])" :
			  "SELECT * FROM broker.send_batch($1, $2::jsonb[], $3::jsonb, $4::interval, $5::int, $6::text[], $7::text[])");
	queue = gen_name(w);
	arg(&c, queue);
	arg(&c, gen_payload_array(w, bytes, bad(w, &h), &n));
	arg(&c, gen_headers(w, bad(w, &h)));
	arg(&c, bad(w, &h) ? gen_bad_interval(w) : PICK(w, ((const char *[]) {"0", "0", "0", "100 ms"})));
	arg(&c, gen_priority(w, bad(w, &h)));
	arg(&c, gen_key_array(w, n, bad(w, &h)));
	arg(&c, gen_key_array(w, n, bad(w, &h)));
	r = run_call(w, &c, true);
	if (result_ok(r))
	{
		int			i;

		if (n >= 0 && PQntuples(r) != n)
			violation("send_batch of %d messages returned %d ids", n, PQntuples(r));
		for (i = 0; i < PQntuples(r) && i < 4; i++)
			remember_sent(w, queue, PQgetvalue(r, i, 0));
	}
	if (r)
		PQclear(r);
}

static void
do_claim(Worker *w)
{
	Hostility	h;
	Call		c;
	PGresult   *r;
	const char *queue;
	long long	max;

	hostility(w, &h, 5);
	call_init(&c, F_CLAIM,
			  "SELECT id, receipt FROM broker.claim($1, $2::int, $3::interval, $4::interval, $5::jsonb)");
	queue = gen_name(w);
	arg(&c, queue);
	arg(&c, gen_count(w, bad(w, &h)));
	arg(&c, bad(w, &h) ? gen_bad_interval(w) :
		PICK(w, ((const char *[]) {NULL, NULL, "100 ms", "1 s", "30 s"})));
	arg(&c, gen_wait(w, bad(w, &h)));
	arg(&c, gen_filter(w, bad(w, &h)));
	r = run_call(w, &c, true);
	if (result_ok(r))
	{
		int			i;

		if (int_arg(c.v[1], &max) && PQntuples(r) > max)
			violation("claim(max_messages => %lld) returned %d messages", max, PQntuples(r));
		for (i = 0; i < PQntuples(r); i++)
			remember_claim(w, queue, PQgetvalue(r, i, 0), PQgetvalue(r, i, 1));
	}
	if (r)
		PQclear(r);
}

static void
do_claim_wait(Worker *w)
{
	Hostility	h;
	Call		c;
	PGresult   *r;

	hostility(w, &h, 5);
	call_init(&c, F_CLAIM_WAIT,
			  "CALL broker.claim_wait($1, $2::int, $3::interval, $4::interval, $5::jsonb, NULL)");
	arg(&c, gen_name(w));
	arg(&c, gen_count(w, bad(w, &h)));
	arg(&c, bad(w, &h) ? gen_bad_interval(w) : PICK(w, ((const char *[]) {NULL, "1 s", "30 s"})));
	arg(&c, gen_wait(w, bad(w, &h)));
	arg(&c, gen_filter(w, bad(w, &h)));
	r = run_call(w, &c, true);
	if (r)
		PQclear(r);
}

static void
do_ack(Worker *w)
{
	Call		c;
	PGresult   *r;
	const char *queue;
	const char *receipt;
	const char *id;

	call_init(&c, F_ACK, "SELECT broker.ack($1, $2::bigint, $3::uuid)");
	id = gen_msg_id(w, &queue, &receipt);
	arg(&c, pct(w, 5) ? gen_name(w) : queue);
	arg(&c, pct(w, 5) ? PICK(w, bad_bigints) : id);
	arg(&c, pct(w, 10) ? NULL : receipt);
	r = run_call(w, &c, true);
	if (r)
		PQclear(r);
}

static void
do_ack_ids(Worker *w)
{
	Call		c;
	PGresult   *r;
	const char *queue = NULL;
	Buf			b = {0};
	int			n = rn(w, 6);
	int			i;

	call_init(&c, F_ACK_IDS, "SELECT broker.ack($1, $2::bigint[])");
	buf_str(&b, "{");
	for (i = 0; i < n; i++)
	{
		const char *q;
		const char *id = gen_msg_id(w, &q, NULL);

		if (queue == NULL)
			queue = q;
		if (i > 0)
			buf_str(&b, ",");
		buf_str(&b, id ? id : "NULL");
	}
	buf_str(&b, "}");
	keep(w, b.s);
	if (queue == NULL)
		queue = gen_name(w);
	arg(&c, pct(w, 5) ? gen_name(w) : queue);
	if (pct(w, 15))
		arg(&c, PICK(w, ((const char *[]) {NULL, "{}", "{NULL}", "{{1},{2}}", "[5:6]={1,2}", "{1,1,1}", "{x}"})));
	else
		arg(&c, b.s);
	r = run_call(w, &c, true);
	if (r)
		PQclear(r);
}

static void
do_nack(Worker *w)
{
	Call		c;
	PGresult   *r;
	const char *queue;
	const char *receipt;
	const char *id;
	Hostility	h;

	hostility(w, &h, 3);
	call_init(&c, F_NACK, "SELECT broker.nack($1, $2::bigint, $3::uuid, $4::interval, $5)");
	id = gen_msg_id(w, &queue, &receipt);
	arg(&c, queue);
	arg(&c, bad(w, &h) ? PICK(w, bad_bigints) : id);
	arg(&c, receipt);
	arg(&c, bad(w, &h) ? gen_bad_interval(w) : PICK(w, ((const char *[]) {NULL, NULL, "0", "10 ms", "1 min"})));
	if (bad(w, &h))
		arg(&c, pct(w, 50) ? gen_big_object(w, PICK(w, ((long[]) {10000, 1000000, 3000000}))) : "");
	else
		arg(&c, PICK(w, ((const char *[]) {NULL, "boom", "quote ' and \" and ; and \xe2\x82\xac"})));
	r = run_call(w, &c, true);
	if (r)
		PQclear(r);
}

static void
do_extend(Worker *w)
{
	Call		c;
	PGresult   *r;
	const char *queue;
	const char *receipt;
	const char *id;

	call_init(&c, F_EXTEND, "SELECT broker.extend($1, $2::bigint, $3::uuid, $4::interval)");
	id = gen_msg_id(w, &queue, &receipt);
	arg(&c, queue);
	arg(&c, id);
	arg(&c, receipt);
	arg(&c, pct(w, 40) ? gen_bad_interval(w) : PICK(w, ((const char *[]) {"1 s", "30 s", "7 days"})));
	r = run_call(w, &c, true);
	if (r)
		PQclear(r);
}

static void
do_peek(Worker *w)
{
	Hostility	h;
	Call		c;
	PGresult   *r;
	long long	max;

	hostility(w, &h, 3);
	call_init(&c, F_PEEK, "SELECT id, state FROM broker.peek($1, $2::int, $3::jsonb)");
	arg(&c, gen_name(w));
	arg(&c, gen_count(w, bad(w, &h)));
	arg(&c, gen_filter(w, bad(w, &h)));
	r = run_call(w, &c, true);
	if (result_ok(r) && int_arg(c.v[1], &max) && PQntuples(r) > max)
		violation("peek(max_messages => %lld) returned %d rows", max, PQntuples(r));
	if (r)
		PQclear(r);
}

static void
do_cancel(Worker *w)
{
	Call		c;
	PGresult   *r;
	const char *queue;
	const char *id;

	call_init(&c, F_CANCEL, "SELECT broker.cancel($1, $2::bigint)");
	id = gen_msg_id(w, &queue, NULL);
	arg(&c, queue);
	arg(&c, id);
	r = run_call(w, &c, true);
	if (r)
		PQclear(r);
}

static void
do_dead_letters(Worker *w)
{
	Call		c;
	PGresult   *r;

	call_init(&c, F_DEAD_LETTERS, "SELECT id, reason FROM broker.dead_letters($1, $2::int)");
	arg(&c, gen_name(w));
	arg(&c, gen_count(w, pct(w, 30)));
	r = run_call(w, &c, true);
	if (r)
		PQclear(r);
}

static void
do_redrive(Worker *w)
{
	Call		c;
	PGresult   *r;
	const char *queue;
	const char *id = gen_msg_id(w, &queue, NULL);

	call_init(&c, F_REDRIVE, "SELECT broker.redrive($1, $2::bigint[])");
	arg(&c, queue);
	if (pct(w, 40))
		arg(&c, NULL);
	else if (pct(w, 70))
		arg(&c, id ? wprintf(w, "{%s}", id) : "{NULL}");
	else
		arg(&c, PICK(w, ((const char *[]) {"{}", "{NULL}", "{{1}}", "{-1,0}", "{9223372036854775807}"})));
	r = run_call(w, &c, true);
	if (r)
		PQclear(r);
}

static void
do_noarg(Worker *w, int fn, const char *sql)
{
	Call		c;
	PGresult   *r;

	call_init(&c, fn, sql);
	r = run_call(w, &c, true);
	if (r)
		PQclear(r);
}

static void
do_stats(Worker *w, bool topic)
{
	Call		c;
	PGresult   *r;

	call_init(&c, topic ? F_TOPIC_STATS : F_QUEUE_STATS,
			  topic ? "SELECT * FROM broker.topic_stats($1::int)" :
			  "SELECT * FROM broker.queue_stats($1::int)");
	arg(&c, pct(w, 70) ? wprintf(w, "%d", 1 + rn(w, 60)) : gen_bad_int(w));
	r = run_call(w, &c, true);
	if (r)
		PQclear(r);
}

/* ---- topics ---- */

static void
do_create_topic(Worker *w)
{
	Hostility	h;
	Call		c;
	PGresult   *r;
	const char *name;
	const char *compacted;

	hostility(w, &h, 11);
	call_init(&c, F_CREATE_TOPIC,
			  "SELECT broker.create_topic($1, $2::int, $3::interval, $4::bigint, $5::boolean,"
			  " $6::interval, $7::bigint, $8::interval, $9::interval, $10::boolean, $11::text[])");
	name = bad(w, &h) ? PICK(w, bad_names) : gen_name(w);
	arg(&c, name);
	arg(&c, bad(w, &h) ? gen_bad_int(w) : PICK(w, ((const char *[]) {"1", "2", "3", "8"})));
	arg(&c, bad(w, &h) ? gen_bad_interval(w) : PICK(w, ((const char *[]) {NULL, NULL, NULL, "1 s", "1 hour"})));
	arg(&c, bad(w, &h) ? PICK(w, bad_bigints) : PICK(w, ((const char *[]) {NULL, NULL, NULL, "1048576", "100000000"})));
	compacted = bad(w, &h) ? PICK(w, bad_bools) : (pct(w, 85) ? "f" : "t");
	arg(&c, compacted);
	arg(&c, bad(w, &h) ? gen_bad_interval(w) : PICK(w, ((const char *[]) {"1 hour", "1 hour", "1 s"})));
	arg(&c, bad(w, &h) ? PICK(w, bad_bigints) : PICK(w, ((const char *[]) {"268435456", "1048576"})));
	arg(&c, bad(w, &h) ? gen_bad_interval(w) : PICK(w, ((const char *[]) {"5 min", "0", "1 s"})));
	arg(&c, bad(w, &h) ? gen_bad_interval(w) : PICK(w, ((const char *[]) {"1 day", "0"})));
	arg(&c, gen_bool(w, bad(w, &h)));
	arg(&c, bad(w, &h) ? PICK(w, ((const char *[]) {"{}", "{NULL}", "{\"\"}", "{{g1},{g2}}"})) :
		(pct(w, 85) ? NULL : "{g1}"));
	if (compacted == NULL || strcmp(compacted, "f") != 0)
		taint(name);
	r = run_call(w, &c, true);
	note_created_name(&c, r, name);
	if (r)
		PQclear(r);
}

static void
do_alter_topic(Worker *w)
{
	Hostility	h;
	Call		c;
	PGresult   *r;
	const char *name;
	const char *compacted;

	hostility(w, &h, 12);
	call_init(&c, F_ALTER_TOPIC,
			  "SELECT broker.alter_topic($1, $2::int, $3::interval, $4::bigint, $5::boolean,"
			  " $6::interval, $7::bigint, $8::interval, $9::interval, $10::boolean, $11::boolean, $12::text[])");
	name = gen_name(w);
	arg(&c, name);
	arg(&c, bad(w, &h) ? gen_bad_int(w) : (pct(w, 70) ? NULL : PICK(w, ((const char *[]) {"2", "4", "9"}))));
	arg(&c, bad(w, &h) ? gen_bad_interval(w) : (pct(w, 80) ? NULL : "1 s"));
	arg(&c, bad(w, &h) ? PICK(w, bad_bigints) : (pct(w, 80) ? NULL : "1048576"));
	compacted = bad(w, &h) ? PICK(w, bad_bools) : (pct(w, 90) ? NULL : "t");
	arg(&c, compacted);
	arg(&c, bad(w, &h) ? gen_bad_interval(w) : (pct(w, 80) ? NULL : "1 s"));
	arg(&c, bad(w, &h) ? PICK(w, bad_bigints) : (pct(w, 80) ? NULL : "1048576"));
	arg(&c, bad(w, &h) ? gen_bad_interval(w) : (pct(w, 80) ? NULL : "0"));
	arg(&c, bad(w, &h) ? gen_bad_interval(w) : (pct(w, 80) ? NULL : "0"));
	arg(&c, bad(w, &h) ? PICK(w, bad_bools) : (pct(w, 85) ? "f" : "t"));
	arg(&c, bad(w, &h) ? PICK(w, bad_bools) : (pct(w, 85) ? "f" : "t"));
	arg(&c, bad(w, &h) ? PICK(w, ((const char *[]) {"{}", "{NULL}", "{{g1}}"})) : (pct(w, 90) ? NULL : "{g2}"));
	if (compacted != NULL && strcmp(compacted, "f") != 0)
		taint(name);
	r = run_call(w, &c, true);
	if (r)
		PQclear(r);
}

static void
note_published(Worker *w, const char *topic)
{
	int			i;

	if (topic == NULL)
		return;
	for (i = 0; i < w->npublished; i++)
		if (w->published[i] == topic)
			return;
	if (w->npublished < lengthof(w->published))
		w->published[w->npublished++] = topic;
	else
		taint(topic);			/* cannot remember it: be safe */
}

static const char *
gen_partition(Worker *w, bool bad)
{
	if (!bad)
		return PICK(w, ((const char *[]) {NULL, NULL, NULL, "0", "0", "1", "2"}));
	return PICK(w, ((const char *[]) {"-1", "3", "8", "1023", "1024", "2147483647", "-2147483648", "x", ""}));
}

static void
do_publish(Worker *w, bool bytes)
{
	Hostility	h;
	Call		c;
	PGresult   *r;
	const char *topic;

	hostility(w, &h, 6);
	call_init(&c, bytes ? F_PUBLISH_BYTES : F_PUBLISH,
			  bytes ? "SELECT broker.publish_bytes($1, $2::bytea, $3, $4::jsonb, $5::int, $6)" :
			  "SELECT broker.publish($1, $2::jsonb, $3, $4::jsonb, $5::int, $6)");
	topic = gen_name(w);
	arg(&c, topic);
	arg_payload(w, &c, &h, bytes, 25);
	arg(&c, bad(w, &h) ? (pct(w, 30) ? gen_long_key(w) : gen_key(w, true)) : gen_key(w, false));
	arg(&c, gen_headers(w, bad(w, &h)));
	arg(&c, gen_partition(w, bad(w, &h)));
	arg(&c, bad(w, &h) ? (pct(w, 50) ? gen_long_key(w) : gen_key(w, true)) :
		(pct(w, 85) ? NULL : gen_key(w, false)));
	r = run_call(w, &c, true);
	if (result_ok(r))
		note_published(w, topic);
	if (r)
		PQclear(r);
}

static void
do_publish_batch(Worker *w, bool bytes)
{
	Hostility	h;
	Call		c;
	PGresult   *r;
	const char *topic;
	int			n;

	hostility(w, &h, 5);
	call_init(&c, bytes ? F_PUBLISH_BATCH_BYTES : F_PUBLISH_BATCH,
			  bytes ? "SELECT broker.publish_batch_bytes($1, $2::bytea[], $3::text[], $4::jsonb, $5::int)" :
			  "SELECT broker.publish_batch($1, $2::jsonb[], $3::text[], $4::jsonb, $5::int)");
	topic = gen_name(w);
	arg(&c, topic);
	arg(&c, gen_payload_array(w, bytes, bad(w, &h), &n));
	arg(&c, gen_key_array(w, n, bad(w, &h)));
	arg(&c, gen_headers(w, bad(w, &h)));
	arg(&c, gen_partition(w, bad(w, &h)));
	r = run_call(w, &c, true);
	if (result_ok(r))
		note_published(w, topic);
	if (r)
		PQclear(r);
}

static void
do_partition_for(Worker *w)
{
	Call		c;
	PGresult   *r;

	call_init(&c, F_PARTITION_FOR, "SELECT broker.partition_for($1, $2)");
	arg(&c, gen_name(w));
	arg(&c, pct(w, 70) ? gen_key(w, false) : (pct(w, 50) ? gen_long_key(w) : gen_key(w, true)));
	r = run_call(w, &c, true);
	if (r)
		PQclear(r);
}

static const char *
gen_offset(Worker *w, bool bad)
{
	if (!bad)
		return PICK(w, ((const char *[]) {"0", "0", "1", "5", "20", "100"}));
	return PICK(w, bad_bigints);
}

static void
do_read(Worker *w)
{
	Hostility	h;
	Call		c;
	PGresult   *r;
	long long	max;
	long long	from = 0;

	hostility(w, &h, 4);
	call_init(&c, F_READ, "SELECT partition, offset_id FROM broker.read($1, $2::int, $3::bigint, $4::int)");
	arg(&c, gen_name(w));
	arg(&c, bad(w, &h) ? gen_partition(w, true) : PICK(w, ((const char *[]) {"0", "0", "1", "2"})));
	arg(&c, gen_offset(w, bad(w, &h)));
	arg(&c, gen_count(w, bad(w, &h)));
	r = run_call(w, &c, true);
	if (result_ok(r))
	{
		int			i;
		long long	prev = -1;

		if (int_arg(c.v[3], &max) && PQntuples(r) > max)
			violation("read(max_records => %lld) returned %d records", max, PQntuples(r));
		int_arg(c.v[2], &from);
		for (i = 0; i < PQntuples(r); i++)
		{
			long long	off = atoll(PQgetvalue(r, i, 1));

			if (off <= prev || off < from)
				violation("read from %lld returned offset %lld after %lld", from, off, prev);
			prev = off;
		}
	}
	if (r)
		PQclear(r);
}

static void
do_offset_fn(Worker *w, int fn)
{
	Call		c;
	PGresult   *r;
	const char *sql = fn == F_LATEST ? "SELECT broker.latest_offset($1, $2::int)" :
		fn == F_EARLIEST ? "SELECT broker.earliest_offset($1, $2::int)" :
		"SELECT broker.offset_for_time($1, $2::int, $3::timestamptz)";

	call_init(&c, fn, sql);
	arg(&c, gen_name(w));
	arg(&c, pct(w, 75) ? PICK(w, ((const char *[]) {"0", "1"})) : gen_partition(w, true));
	if (fn == F_OFFSET_FOR_TIME)
		arg(&c, pct(w, 30) ? "now" : PICK(w, bad_timestamps));
	r = run_call(w, &c, true);
	if (r)
		PQclear(r);
}

static void
do_topic_partitions(Worker *w)
{
	Call		c;
	PGresult   *r;

	call_init(&c, F_TOPIC_PARTITIONS, "SELECT * FROM broker.topic_partitions($1)");
	arg(&c, gen_name(w));
	r = run_call(w, &c, true);
	if (r)
		PQclear(r);
}

/* ---- consumer groups ---- */

static void
do_create_group(Worker *w)
{
	Call		c;
	PGresult   *r;
	const char *group;

	call_init(&c, F_CREATE_GROUP, "SELECT broker.create_group($1, $2, $3)");
	arg(&c, gen_name(w));
	group = gen_group(w);
	arg(&c, group);
	arg(&c, pct(w, 80) ? PICK(w, ((const char *[]) {"latest", "earliest"})) :
		PICK(w, ((const char *[]) {NULL, "", "middle", "LATEST", "0", "2000-01-01"})));
	r = run_call(w, &c, true);
	if (group != NULL && is_bad_name(group))
		note_created_name(&c, r, group);
	if (r)
		PQclear(r);
}

static void
do_delete_group(Worker *w)
{
	Call		c;
	PGresult   *r;

	call_init(&c, F_DELETE_GROUP, "SELECT broker.delete_group($1, $2, $3::boolean)");
	arg(&c, gen_name(w));
	arg(&c, gen_group(w));
	arg(&c, gen_bool(w, pct(w, 20)));
	r = run_call(w, &c, true);
	if (r)
		PQclear(r);
}

static Polled *
some_polled(Worker *w)
{
	if (w->npolled == 0 || pct(w, 25))
		return NULL;
	return &w->polled[rn(w, w->npolled < RING ? w->npolled : RING)];
}

static void
do_commit_offset(Worker *w)
{
	Call		c;
	PGresult   *r;
	Polled	   *p = some_polled(w);

	call_init(&c, F_COMMIT_OFFSET, "SELECT broker.commit($1, $2, $3::int, $4::bigint, $5)");
	if (p && pct(w, 85))
	{
		arg(&c, p->topic);
		arg(&c, p->group);
		arg(&c, wprintf(w, "%d", p->partition));
		arg(&c, pct(w, 85) ? wprintf(w, "%lld", p->offset + 1) : gen_offset(w, true));
		arg(&c, pct(w, 90) ? p->consumer : gen_consumer(w));
	}
	else
	{
		arg(&c, gen_name(w));
		arg(&c, gen_group(w));
		arg(&c, gen_partition(w, pct(w, 50)));
		arg(&c, gen_offset(w, pct(w, 50)));
		arg(&c, pct(w, 30) ? NULL : gen_consumer(w));
	}
	r = run_call(w, &c, true);
	if (r)
		PQclear(r);
}

static void
do_commit_records(Worker *w)
{
	Call		c;
	PGresult   *r;
	Polled	   *p = some_polled(w);
	Buf			b = {0};
	int			n = 1 + rn(w, 4);
	int			i;

	call_init(&c, F_COMMIT_RECORDS, "SELECT broker.commit($1, $2, $3::broker.record[], $4)");
	buf_str(&b, "{");
	for (i = 0; i < n; i++)
	{
		char		elem[200];

		if (i > 0)
			buf_str(&b, ",");
		if (p && pct(w, 80))
			snprintf(elem, sizeof(elem), "(%d,%lld,,,,,)", p->partition, p->offset + i);
		else
			snprintf(elem, sizeof(elem), "(%s,%s,k,{},,{},)",
					 PICK(w, ((const char *[]) {"0", "1", "", "-1", "99", "2147483647"})),
					 PICK(w, ((const char *[]) {"0", "7", "", "-1", "9223372036854775807"})));
		if (pct(w, 5))
			buf_str(&b, "NULL");
		else
			buf_elem(&b, elem);
	}
	buf_str(&b, "}");
	keep(w, b.s);
	arg(&c, p ? p->topic : gen_name(w));
	arg(&c, p ? p->group : gen_group(w));
	if (pct(w, 10))
		arg(&c, PICK(w, ((const char *[]) {NULL, "{}", "{NULL}", "{\"(,,,,,,)\"}", "{{\"(0,1,,,,,)\"}}", "{\"(0,1)\"}"})));
	else
		arg(&c, b.s);
	arg(&c, p && pct(w, 85) ? p->consumer : (pct(w, 30) ? NULL : gen_consumer(w)));
	r = run_call(w, &c, true);
	if (r)
		PQclear(r);
}

/* commit(topic, group, consumer): everything handed out to the consumer */
static void
do_commit_all(Worker *w)
{
	Call		c;
	PGresult   *r;
	Polled	   *p = some_polled(w);

	call_init(&c, F_COMMIT_ALL, "SELECT broker.commit($1, $2, $3::text)");
	arg(&c, p ? p->topic : gen_name(w));
	arg(&c, p ? p->group : gen_group(w));
	arg(&c, p && pct(w, 85) ? p->consumer : (pct(w, 20) ? NULL : gen_consumer(w)));
	r = run_call(w, &c, true);
	if (r)
		PQclear(r);
}

static void
do_extend_lease(Worker *w)
{
	Call		c;
	PGresult   *r;
	Polled	   *p = some_polled(w);

	call_init(&c, F_EXTEND_LEASE, "SELECT broker.extend_lease($1, $2, $3, $4::interval)");
	arg(&c, p ? p->topic : gen_name(w));
	arg(&c, p ? p->group : gen_group(w));
	arg(&c, p && p->consumer && pct(w, 80) ? p->consumer : gen_consumer(w));
	arg(&c, pct(w, 60) ? PICK(w, ((const char *[]) {"1 s", "30 s", "1 day"})) : gen_bad_interval(w));
	r = run_call(w, &c, true);
	if (r)
		PQclear(r);
}

static void
do_leave(Worker *w)
{
	Call		c;
	PGresult   *r;
	Polled	   *p = some_polled(w);

	call_init(&c, F_LEAVE, "SELECT broker.leave($1, $2, $3)");
	arg(&c, p ? p->topic : gen_name(w));
	arg(&c, p ? p->group : gen_group(w));
	arg(&c, p && p->consumer && pct(w, 80) ? p->consumer : gen_consumer(w));
	r = run_call(w, &c, true);
	if (r)
		PQclear(r);
}

static void
do_seek(Worker *w, int fn)
{
	Call		c;
	PGresult   *r;
	const char *sql = fn == F_SEEK_TEXT ? "SELECT broker.seek($1, $2, $3::text, $4::int)" :
		fn == F_SEEK_OFFSET ? "SELECT broker.seek($1, $2, $3::bigint, $4::int)" :
		"SELECT broker.seek($1, $2, $3::timestamptz, $4::int)";

	call_init(&c, fn, sql);
	arg(&c, gen_name(w));
	arg(&c, gen_group(w));
	if (fn == F_SEEK_TEXT)
		arg(&c, pct(w, 50) ? PICK(w, ((const char *[]) {"earliest", "latest", "0", "3"})) :
			PICK(w, ((const char *[]) {NULL, "", "EARLIEST", " 5 ", "-1", "9223372036854775807",
						"99999999999999999999", "infinity", "-infinity", "now", "2000-01-01",
						"294277-01-01", "garbage", "1e3", "earliest; DROP TABLE x"})));
	else if (fn == F_SEEK_OFFSET)
		arg(&c, pct(w, 50) ? PICK(w, ((const char *[]) {"0", "1", "10"})) : PICK(w, bad_bigints));
	else
		arg(&c, pct(w, 30) ? "now" : PICK(w, bad_timestamps));
	arg(&c, gen_partition(w, pct(w, 20)));
	r = run_call(w, &c, true);
	if (r)
		PQclear(r);
}

static void
do_poll(Worker *w)
{
	Hostility	h;
	Call		c;
	PGresult   *r;
	const char *topic;
	const char *group;
	const char *consumer;
	const char *lease;
	long long	max;

	hostility(w, &h, 6);
	call_init(&c, F_POLL,
			  "SELECT partition, offset_id FROM broker.poll($1, $2, $3::int, $4::interval, $5, $6::interval)");
	topic = gen_name(w);
	group = gen_group(w);
	arg(&c, topic);
	arg(&c, bad(w, &h) ? PICK(w, bad_names) : group);
	arg(&c, gen_count(w, bad(w, &h)));
	arg(&c, gen_wait(w, bad(w, &h)));
	if (bad(w, &h))
	{
		consumer = gen_consumer(w);
		lease = gen_bad_interval(w);
	}
	else if (pct(w, 50))
	{
		consumer = NULL;
		lease = NULL;
	}
	else
	{
		consumer = PICK(w, ((const char *[]) {"c1", "c2", "c3"}));
		lease = PICK(w, ((const char *[]) {"1 s", "2 s", "30 s"}));
	}
	if (bad(w, &h))
		lease = gen_bad_interval(w);
	arg(&c, consumer);
	arg(&c, lease);
	r = run_call(w, &c, true);
	if (result_ok(r))
	{
		int			i;
		long long	prev[1025];
		int			k;

		for (k = 0; k < 1025; k++)
			prev[k] = -1;
		if (int_arg(c.v[2], &max) && PQntuples(r) > max)
			violation("poll(max_records => %lld) returned %d records", max, PQntuples(r));
		for (i = 0; i < PQntuples(r); i++)
		{
			int			part = atoi(PQgetvalue(r, i, 0));
			long long	off = atoll(PQgetvalue(r, i, 1));

			if (part < 0 || part > 1024)
				violation("poll returned partition %d", part);
			else if (off <= prev[part])
				violation("poll returned offset %lld after %lld in partition %d", off, prev[part], part);
			else
				prev[part] = off;
			if (i == PQntuples(r) - 1 || pct(w, 10))
			{
				Polled	   *p = &w->polled[w->npolled++ % RING];

				p->topic = topic;
				p->group = group;
				p->consumer = consumer;
				p->partition = part;
				p->offset = off;
			}
		}
	}
	if (r)
		PQclear(r);
}

static void
do_poll_wait(Worker *w)
{
	Hostility	h;
	Call		c;
	PGresult   *r;

	hostility(w, &h, 6);
	call_init(&c, F_POLL_WAIT,
			  "CALL broker.poll_wait($1, $2, $3::int, $4::interval, $5, $6::interval, NULL)");
	arg(&c, gen_name(w));
	arg(&c, gen_group(w));
	arg(&c, gen_count(w, bad(w, &h)));
	arg(&c, gen_wait(w, bad(w, &h)));
	arg(&c, bad(w, &h) ? gen_consumer(w) : "c1");
	arg(&c, bad(w, &h) ? gen_bad_interval(w) : "1 s");
	r = run_call(w, &c, true);
	if (r)
		PQclear(r);
}

static void
do_set(Worker *w)
{
	Call		c;
	PGresult   *r;
	const char *v;

	if (pct(w, 70))
	{
		v = PICK(w, ((const char *[]) {"1kB", "4kB", "64kB", "1MB", "1MB", "512MB", "1000", "1GB", "0", "x"}));
		call_init(&c, F_SET, "SELECT set_config('pgbroker.max_message_size', $1, false)");
		arg(&c, v);
		r = run_call(w, &c, false);
		if (result_ok(r))
		{
			PGresult   *s = PQexec(w->conn, "SELECT setting::bigint FROM pg_settings WHERE name = 'pgbroker.max_message_size'");

			if (result_ok(s) && PQntuples(s) == 1)
				w->msgsize = atol(PQgetvalue(s, 0, 0));
			PQclear(s);
		}
	}
	else
	{
		call_init(&c, F_SET, "SELECT set_config('pgbroker.resume_threshold', $1, false)");
		arg(&c, PICK(w, ((const char *[]) {"0", "1", "10000", "10001", "-1"})));
		r = run_call(w, &c, false);
	}
	if (r)
		PQclear(r);
}

/* ----------------------------------------------------------------
 * Transactions and the worker loop
 * ----------------------------------------------------------------
 */
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
	w->npublished = 0;
}

static void
one_call(Worker *w)
{
	int			r = rn(w, total_weight);
	int			fn;

	for (fn = 0; fn < NCALLABLE; fn++)
	{
		r -= funcs[fn].weight;
		if (r < 0)
			break;
	}
	switch (fn)
	{
		case F_CREATE_QUEUE:
			do_create_queue(w);
			break;
		case F_ALTER_QUEUE:
			do_alter_queue(w);
			break;
		case F_ALTER_QUEUE_NOTIFY:
			do_alter_notify(w, false);
			break;
		case F_DROP_QUEUE:
			do_drop(w, false);
			break;
		case F_PURGE:
			do_purge(w);
			break;
		case F_SEND:
			do_send(w, false);
			break;
		case F_SEND_BYTES:
			do_send(w, true);
			break;
		case F_SEND_BATCH:
			do_send_batch(w, false);
			break;
		case F_SEND_BATCH_BYTES:
			do_send_batch(w, true);
			break;
		case F_CLAIM:
			do_claim(w);
			break;
		case F_ACK:
			do_ack(w);
			break;
		case F_ACK_IDS:
			do_ack_ids(w);
			break;
		case F_NACK:
			do_nack(w);
			break;
		case F_EXTEND:
			do_extend(w);
			break;
		case F_PEEK:
			do_peek(w);
			break;
		case F_CANCEL:
			do_cancel(w);
			break;
		case F_DEAD_LETTERS:
			do_dead_letters(w);
			break;
		case F_REDRIVE:
			do_redrive(w);
			break;
		case F_MAINTAIN:
			do_noarg(w, F_MAINTAIN, "SELECT * FROM broker.maintain()");
			break;
		case F_QUEUE_STATS:
			do_stats(w, false);
			break;
		case F_CLAIM_WAIT:
			do_claim_wait(w);
			break;
		case F_V_QUEUES:
			do_noarg(w, F_V_QUEUES, "SELECT * FROM broker.queues");
			break;
		case F_CREATE_TOPIC:
			do_create_topic(w);
			break;
		case F_ALTER_TOPIC:
			do_alter_topic(w);
			break;
		case F_ALTER_TOPIC_NOTIFY:
			do_alter_notify(w, true);
			break;
		case F_DROP_TOPIC:
			do_drop(w, true);
			break;
		case F_PUBLISH:
			do_publish(w, false);
			break;
		case F_PUBLISH_BYTES:
			do_publish(w, true);
			break;
		case F_PUBLISH_BATCH:
			do_publish_batch(w, false);
			break;
		case F_PUBLISH_BATCH_BYTES:
			do_publish_batch(w, true);
			break;
		case F_PARTITION_FOR:
			do_partition_for(w);
			break;
		case F_READ:
			do_read(w);
			break;
		case F_LATEST:
		case F_EARLIEST:
		case F_OFFSET_FOR_TIME:
			do_offset_fn(w, fn);
			break;
		case F_TOPIC_PARTITIONS:
			do_topic_partitions(w);
			break;
		case F_TOPIC_STATS:
			do_stats(w, true);
			break;
		case F_MAINTAIN_TOPICS:
			do_noarg(w, F_MAINTAIN_TOPICS, "SELECT * FROM broker.maintain_topics()");
			break;
		case F_V_TOPICS:
			do_noarg(w, F_V_TOPICS, "SELECT * FROM broker.topics");
			break;
		case F_CREATE_GROUP:
			do_create_group(w);
			break;
		case F_DELETE_GROUP:
			do_delete_group(w);
			break;
		case F_COMMIT_OFFSET:
			do_commit_offset(w);
			break;
		case F_COMMIT_RECORDS:
			do_commit_records(w);
			break;
		case F_COMMIT_ALL:
			do_commit_all(w);
			break;
		case F_EXTEND_LEASE:
			do_extend_lease(w);
			break;
		case F_LEAVE:
			do_leave(w);
			break;
		case F_SEEK_TEXT:
		case F_SEEK_OFFSET:
		case F_SEEK_TIME:
			do_seek(w, fn);
			break;
		case F_POLL:
			do_poll(w);
			break;
		case F_POLL_WAIT:
			do_poll_wait(w);
			break;
		case F_V_LAG:
			do_noarg(w, F_V_LAG, "SELECT * FROM broker.consumer_lag");
			break;
		default:
			do_set(w);
			break;
	}
}

static void
quiet(void *arg, const char *message)
{
}

static PGconn *
connect_as(const char *user)
{
	PGconn	   *c;

	if (user)
	{
		const char *keys[] = {"user", NULL};
		const char *vals[] = {user, NULL};

		c = PQconnectdbParams(keys, vals, 0);
	}
	else
		c = PQconnectdb("");
	if (PQstatus(c) != CONNECTION_OK)
	{
		fprintf(stderr, "fuzz: connection failed: %s", PQerrorMessage(c));
		exit(2);
	}
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
				w->npublished = 0;
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
			w->npublished = 0;
	}
	if (w->in_xact && PQstatus(w->conn) == CONNECTION_OK)
		end_xact(w, false);
	PQfinish(w->conn);
	return NULL;
}

/* ----------------------------------------------------------------
 * The final check
 * ----------------------------------------------------------------
 */
static PGconn *checker;

static PGresult *
q(const char *sql, int n, const char *const *params)
{
	PGresult   *r = PQexecParams(checker, sql, n, NULL, params, NULL, NULL, 0);

	if (!result_ok(r))
	{
		const char *code = PQresultErrorField(r, PG_DIAG_SQLSTATE);

		violation("check: %s: %s%s", sql, code ? code : "", PQresultErrorMessage(r));
		if (PQstatus(checker) != CONNECTION_OK)
		{
			fprintf(stderr, "fuzz: check connection lost\n");
			lost_connections++;
			return NULL;
		}
		if (PQtransactionStatus(checker) == PQTRANS_INERROR)
			PQclear(PQexec(checker, "ROLLBACK"));
		PQclear(r);
		return NULL;
	}
	return r;
}

static long long
q_ll(const char *sql, int n, const char *const *params, long long dflt)
{
	PGresult   *r = q(sql, n, params);
	long long	v = dflt;

	if (r && PQntuples(r) > 0 && !PQgetisnull(r, 0, 0))
		v = atoll(PQgetvalue(r, 0, 0));
	if (r)
		PQclear(r);
	return v;
}

/* a set of ids, for the check (linear is fine at these sizes) */
typedef struct IdSet
{
	long long  *v;
	int			n;
	int			cap;
} IdSet;

static void
idset_add(IdSet *s, long long id)
{
	if (s->n == s->cap)
	{
		s->cap = s->cap ? s->cap * 2 : 64;
		s->v = realloc(s->v, sizeof(long long) * s->cap);
	}
	s->v[s->n++] = id;
}

static bool
idset_has(const IdSet *s, long long id)
{
	int			i;

	for (i = 0; i < s->n; i++)
		if (s->v[i] == id)
			return true;
	return false;
}

/*
 * Claim everything a queue hands out, acking each message (with its
 * receipt, or in a batch): every ack must succeed, and no message may come
 * twice.  Returns how many were claimed.
 */
static long
drain_queue(const char *name, IdSet *claimed)
{
	const char *p[3];
	long		total = 0;
	int			round;

	for (round = 0; round < 50; round++)
	{
		PGresult   *r;
		int			i;
		int			n;
		Buf			ids = {0};
		long long	acked;

		p[0] = name;
		r = q("SELECT id, receipt FROM broker.claim($1, 10000, lease => '10 min')", 1, p);
		if (r == NULL)
			return total;
		n = PQntuples(r);
		if (n == 0)
		{
			PQclear(r);
			return total;
		}
		buf_str(&ids, "{");
		for (i = 0; i < n; i++)
		{
			long long	id = atoll(PQgetvalue(r, i, 0));

			if (idset_has(claimed, id))
				violation("queue '%s': message %lld claimed twice in the check", name, id);
			idset_add(claimed, id);
			if (i % 2 == 0)
			{
				p[1] = PQgetvalue(r, i, 0);
				p[2] = PQgetvalue(r, i, 1);
				if (q_ll("SELECT broker.ack($1, $2::bigint, $3::uuid)::int", 3, p, -1) != 1)
					violation("queue '%s': ack of claimed message %s with its receipt failed", name, p[1]);
			}
			else
			{
				if (ids.len > 1)
					buf_str(&ids, ",");
				buf_str(&ids, PQgetvalue(r, i, 0));
			}
		}
		buf_str(&ids, "}");
		p[1] = ids.s;
		acked = q_ll("SELECT broker.ack($1, $2::bigint[])", 2, p, -1);
		if (acked != n / 2)
			violation("queue '%s': ack of %d claimed messages acked %lld", name, n / 2, acked);
		free(ids.s);
		PQclear(r);
		total += n;
	}
	violation("queue '%s': still handing out messages after 50 rounds of 10000", name);
	return total;
}

static void
check_queue(const char *id, const char *name)
{
	const char *p[2] = {name, NULL};
	PGresult   *r;
	char		sql[512];
	long long	v[7];
	long long	pk[8];
	long long	raw;
	long long	dead;
	long long	live;
	IdSet		ready = {0};
	IdSet		claimed = {0};
	IdSet		deadset = {0};
	int			i;
	long long	redriven;

	/* the view, peek and the table agree, all as of one snapshot and now() */
	PQclear(PQexec(checker, "BEGIN ISOLATION LEVEL REPEATABLE READ"));
	r = q("SELECT messages, ready, delayed, leased, waiting, dead FROM broker.queues WHERE queue = $1", 1, p);
	if (r == NULL || PQntuples(r) != 1)
	{
		violation("queue '%s' (id %s) is missing from broker.queues", name, id);
		if (r)
			PQclear(r);
		PQclear(PQexec(checker, "ROLLBACK"));
		return;
	}
	for (i = 0; i < 6; i++)
		v[i] = atoll(PQgetvalue(r, 0, i));
	PQclear(r);
	r = q("SELECT count(*),"
		  " count(*) FILTER (WHERE state = 'ready'),"
		  " count(*) FILTER (WHERE state = 'delayed'),"
		  " count(*) FILTER (WHERE state = 'leased'),"
		  " count(*) FILTER (WHERE state = 'waiting'),"
		  " count(*) FILTER (WHERE state = 'expired' AND available_at > now()),"
		  " count(*) FILTER (WHERE state = 'expired' AND available_at <= now()),"
		  " count(*) FILTER (WHERE state NOT IN ('ready', 'delayed', 'leased', 'waiting', 'expired'))"
		  " FROM broker.peek($1, 10000)", 1, p);
	if (r == NULL)
	{
		PQclear(PQexec(checker, "ROLLBACK"));
		return;
	}
	for (i = 0; i < 8; i++)
		pk[i] = atoll(PQgetvalue(r, 0, i));
	PQclear(r);
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM broker.queue_%s", id);
	raw = q_ll(sql, 0, NULL, -1);
	snprintf(sql, sizeof(sql), "SELECT pg_stat_get_live_tuples('broker.queue_%s'::regclass)", id);
	live = q_ll(sql, 0, NULL, -1);
	dead = q_ll("SELECT count(*) FROM broker.dead_letters($1, 1000000)", 1, p, -1);
	r = q("SELECT id FROM broker.peek($1, 10000) WHERE state = 'ready'", 1, p);
	for (i = 0; r && i < PQntuples(r); i++)
		idset_add(&ready, atoll(PQgetvalue(r, i, 0)));
	if (r)
		PQclear(r);
	PQclear(PQexec(checker, "COMMIT"));

	if (pk[7] != 0)
		violation("queue '%s': peek shows %lld messages in an unknown state", name, pk[7]);
	if (raw <= 10000 && live <= 10000)
	{
		if (v[0] != raw || pk[0] != raw)
			violation("queue '%s': broker.queues says %lld messages, peek %lld, the table %lld",
					  name, v[0], pk[0], raw);
		if (v[3] != pk[3])
			violation("queue '%s': broker.queues says %lld leased, peek %lld", name, v[3], pk[3]);
		if (v[2] != pk[2] + pk[5])
			violation("queue '%s': broker.queues says %lld delayed, peek %lld (+%lld expired)",
					  name, v[2], pk[2], pk[5]);
		if (v[1] + v[4] != pk[1] + pk[4] + pk[6] || v[4] < pk[4])
			violation("queue '%s': broker.queues says %lld ready and %lld waiting, peek %lld, %lld (+%lld expired)",
					  name, v[1], v[4], pk[1], pk[4], pk[6]);
	}
	if (v[5] != dead)
		violation("queue '%s': broker.queues says %lld dead, dead_letters has %lld", name, v[5], dead);

	/* every ready message is handed out (or dead-lettered by the claim) */
	drain_queue(name, &claimed);
	r = q("SELECT id FROM broker.dead_letters($1, 1000000)", 1, p);
	for (i = 0; r && i < PQntuples(r); i++)
		idset_add(&deadset, atoll(PQgetvalue(r, i, 0)));
	if (r)
		PQclear(r);
	for (i = 0; i < ready.n; i++)
		if (!idset_has(&claimed, ready.v[i]) && !idset_has(&deadset, ready.v[i]))
			violation("queue '%s': message %lld was ready but no claim handed it out", name, ready.v[i]);
	if (q_ll("SELECT count(*) FROM broker.peek($1, 10000) WHERE state = 'ready'", 1, p, -1) != 0)
		violation("queue '%s': peek shows ready messages that claim does not hand out", name);

	/* redrive brings back every dead letter, under its old id */
	redriven = q_ll("SELECT broker.redrive($1)", 1, p, -1);
	if (redriven != deadset.n)
		violation("queue '%s': redrive moved %lld of %d dead letters", name, redriven, deadset.n);
	if (q_ll("SELECT count(*) FROM broker.dead_letters($1, 1000000)", 1, p, -1) != 0)
		violation("queue '%s': dead letters left after redrive", name);
	for (i = 0; i < deadset.n && i < 1000; i++)
	{
		char		idbuf[24];

		snprintf(idbuf, sizeof(idbuf), "%lld", deadset.v[i]);
		p[1] = idbuf;
		if (q_ll("SELECT count(*) FROM broker.peek($1, 10000) WHERE id = $2::bigint", 2, p, -1) != 1)
			violation("queue '%s': redriven message %s is not in the queue", name, idbuf);
	}
	drain_queue(name, &claimed);

	/* ack whatever is left (leased, delayed, waiting): the queue empties */
	for (i = 0; i < 20; i++)
	{
		long long	left = q_ll("SELECT count(*) FROM broker.peek($1, 10000)", 1, p, -1);
		long long	acked;

		if (left <= 0)
			break;
		acked = q_ll("SELECT broker.ack($1, array(SELECT id FROM broker.peek($1, 10000)))", 1, p, -1);
		if (acked != left)
			violation("queue '%s': ack of all %lld remaining messages acked %lld", name, left, acked);
	}
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM broker.queue_%s", id);
	if ((raw = q_ll(sql, 0, NULL, -1)) != 0)
		violation("queue '%s': %lld rows left in its table after acking everything", name, raw);

	/* and the queue still works */
	r = q("SELECT broker.alter_queue($1, clear_ttl => true, clear_max_length => true)", 1, p);
	if (r)
		PQclear(r);
	p[1] = "{\"check\": true}";
	{
		long long	sent = q_ll("SELECT broker.send($1, $2::jsonb)", 2, p, -1);
		long long	got = q_ll("SELECT id FROM broker.claim($1, 10, lease => '1 min')", 1, p, -2);

		if (sent < 0 || got != sent)
			violation("queue '%s': sent %lld, then claimed %lld", name, sent, got);
		else
		{
			char		idbuf[24];

			snprintf(idbuf, sizeof(idbuf), "%lld", sent);
			p[1] = idbuf;
			if (q_ll("SELECT broker.ack($1, $2::bigint)::int", 2, p, -1) != 1)
				violation("queue '%s': ack of the check's message failed", name);
		}
	}
	free(ready.v);
	free(claimed.v);
	free(deadset.v);
}

static void
check_topic(const char *id, const char *name, bool compacted)
{
	const char *p[4] = {name, NULL, NULL, NULL};
	PGresult   *r;
	PGresult   *seg;
	int			parts;
	int			i;
	bool		dense = !compacted && !is_tainted(name);
	long long	total = 0;
	long long	view_records;

	r = q("SELECT partition, earliest_offset, latest_offset, records FROM broker.topic_partitions($1) ORDER BY 1", 1, p);
	if (r == NULL)
		return;
	p[0] = id;
	seg = q("SELECT start_offsets FROM broker.segment WHERE topic_id = $1::int"
			" AND sealed_at IS NULL AND start_offsets IS NOT NULL", 1, p);
	p[0] = name;
	if (seg == NULL || PQntuples(seg) != 1)
		violation("topic '%s': %d current segments", name, seg ? PQntuples(seg) : -1);
	parts = PQntuples(r);
	for (i = 0; i < parts; i++)
	{
		char		pbuf[16];
		char		obuf[24];
		long long	e = atoll(PQgetvalue(r, i, 1));
		long long	l = atoll(PQgetvalue(r, i, 2));
		long long	cnt = atoll(PQgetvalue(r, i, 3));
		long long	seg_start = -1;
		long long	next;
		long long	seen = 0;
		long long	prev = -1;
		bool		from_seg = false;

		snprintf(pbuf, sizeof(pbuf), "%d", i);
		p[1] = pbuf;
		if (atoi(PQgetvalue(r, i, 0)) != i)
			violation("topic '%s': topic_partitions row %d is partition %s", name, i, PQgetvalue(r, i, 0));
		if (q_ll("SELECT broker.earliest_offset($1, $2::int)", 2, p, -1) != e ||
			q_ll("SELECT broker.latest_offset($1, $2::int)", 2, p, -1) != l)
			violation("topic '%s' partition %d: topic_partitions disagrees with earliest/latest_offset", name, i);
		if (e < 0 || e > l)
			violation("topic '%s' partition %d: earliest %lld, end %lld", name, i, e, l);
		if (seg && PQntuples(seg) == 1)
		{
			/* start_offsets is {a,b,...}: the i-th entry */
			const char *s = PQgetvalue(seg, 0, 0);
			int			k = 0;

			for (s++; *s && k < i; s++)
				if (*s == ',')
					k++;
			if (k == i && *s && *s != '}')
				seg_start = atoll(s);
		}
		/* read everything from the earliest offset */
		next = e;
		for (;;)
		{
			PGresult   *rr;
			int			j;

			snprintf(obuf, sizeof(obuf), "%lld", next);
			p[2] = obuf;
			rr = q("SELECT offset_id FROM broker.read($1, $2::int, $3::bigint, 10000)", 3, p);
			if (rr == NULL)
				break;
			if (PQntuples(rr) == 0)
			{
				PQclear(rr);
				break;
			}
			for (j = 0; j < PQntuples(rr); j++)
			{
				long long	off = atoll(PQgetvalue(rr, j, 0));

				if (off <= prev || off < e || off >= l)
					violation("topic '%s' partition %d: offset %lld after %lld (earliest %lld, end %lld)",
							  name, i, off, prev, e, l);
				if (seg_start >= 0 && off >= seg_start && !from_seg)
				{
					/* the current segment is never compacted: dense from its start */
					from_seg = true;
					if (off != seg_start)
						violation("topic '%s' partition %d: the current segment starts at %lld, the first record in it is %lld",
								  name, i, seg_start, off);
				}
				else if (from_seg && off != prev + 1 && !is_tainted(name))
					violation("topic '%s' partition %d: hole in the current segment between %lld and %lld",
							  name, i, prev, off);
				if (dense && off != (prev < 0 ? e : prev + 1))
					violation("topic '%s' partition %d: hole between %lld and %lld (earliest %lld)",
							  name, i, prev, off, e);
				prev = off;
				seen++;
			}
			next = prev + 1;
			PQclear(rr);
			if (next >= l)
				break;
		}
		if (dense && seen != l - e)
			violation("topic '%s' partition %d: read %lld records between offsets %lld and %lld",
					  name, i, seen, e, l);
		if (!compacted && cnt != l - e)
			violation("topic '%s' partition %d: topic_partitions says %lld records for offsets %lld..%lld",
					  name, i, cnt, e, l);
		total += l - e;
	}
	if (seg)
		PQclear(seg);
	PQclear(r);
	p[0] = name;
	view_records = q_ll("SELECT records FROM broker.topics WHERE topic = $1", 1, p, -1);
	if (view_records != total)
		violation("topic '%s': broker.topics says %lld records, the partitions %lld", name, view_records, total);

	/* a fresh publish lands at the end offset of partition 0 */
	if (parts > 0)
	{
		long long	end = q_ll("SELECT broker.latest_offset($1, 0)", 1, p, -1);
		long long	got;
		char		obuf[24];

		PQclear(PQexec(checker, "BEGIN"));
		r = q("SELECT broker.publish_batch($1, ARRAY['{\"check\": 1}', '{\"check\": 2}', '{\"check\": 3}']::jsonb[], partition => 0)", 1, p);
		if (r)
			PQclear(r);
		PQclear(PQexec(checker, "COMMIT"));
		if (q_ll("SELECT broker.latest_offset($1, 0)", 1, p, -1) != end + 3)
			violation("topic '%s': three records published, the end offset went from %lld to %lld",
					  name, end, q_ll("SELECT broker.latest_offset($1, 0)", 1, p, -1));
		snprintf(obuf, sizeof(obuf), "%lld", end);
		p[1] = obuf;
		got = q_ll("SELECT (string_agg(offset_id::text, ',') = format('%s,%s,%s', $2::bigint, $2::bigint + 1, $2::bigint + 2))"
				   "::int FROM broker.read($1, 0, $2::bigint, 10)", 2, p, -1);
		if (got != 1)
			violation("topic '%s': the three records published are not at offsets %lld..%lld", name, end, end + 2);
	}
}

static void
check_groups(void)
{
	PGresult   *r;
	int			i;

	r = q("SELECT topic, consumer_group, partition, committed_offset, end_offset, lag FROM broker.consumer_lag", 0, NULL);
	if (r == NULL)
		return;
	for (i = 0; i < PQntuples(r); i++)
	{
		long long	committed = atoll(PQgetvalue(r, i, 3));
		long long	end = atoll(PQgetvalue(r, i, 4));
		long long	lag = atoll(PQgetvalue(r, i, 5));

		/*
		 * A partition added since the group was created has no state (and
		 * no committed offset) until the group first polls or commits it.
		 */
		if (PQgetisnull(r, i, 3))
			continue;
		if (PQgetisnull(r, i, 4) || PQgetisnull(r, i, 5) ||
			committed < 0 || committed > end || lag < 0 || lag != end - committed)
			violation("group '%s' of topic '%s' partition %s: committed %lld, end %lld, lag %lld",
					  PQgetvalue(r, i, 1), PQgetvalue(r, i, 0), PQgetvalue(r, i, 2), committed, end, lag);
	}
	PQclear(r);

	/* a transactional poll of each group starts at or after its committed offsets */
	r = q("SELECT t.name, g.name FROM broker.consumer_group g JOIN broker.topic t ON t.id = g.topic_id", 0, NULL);
	for (i = 0; r && i < PQntuples(r); i++)
	{
		const char *p[2] = {PQgetvalue(r, i, 0), PQgetvalue(r, i, 1)};
		PGresult   *pr;
		int			j;

		PQclear(PQexec(checker, "BEGIN"));
		pr = q("SELECT p.partition, p.offset_id, l.committed_offset"
			   " FROM broker.poll($1, $2, 10000) p"
			   " LEFT JOIN broker.consumer_lag l ON l.topic = $1 AND l.consumer_group = $2 AND l.partition = p.partition",
			   2, p);
		for (j = 0; pr && j < PQntuples(pr); j++)
			if (!PQgetisnull(pr, j, 2) &&
				atoll(PQgetvalue(pr, j, 1)) < atoll(PQgetvalue(pr, j, 2)))
				violation("group '%s' of topic '%s': poll returned offset %s of partition %s below the committed %s",
						  p[1], p[0], PQgetvalue(pr, j, 1), PQgetvalue(pr, j, 0), PQgetvalue(pr, j, 2));
		if (pr)
			PQclear(pr);
		PQclear(PQexec(checker, "ROLLBACK"));
	}
	if (r)
		PQclear(r);
}

static void
final_check(void)
{
	PGresult   *r;
	int			i;
	long		nq = 0;
	long		nt = 0;

	checker = connect_as(NULL);
	PQclear(PQexec(checker, "SET statement_timeout = '120s'; SET client_min_messages = warning"));

	/* no prepared transaction of ours is left */
	r = q("SELECT gid FROM pg_prepared_xacts WHERE gid LIKE 'fz\\_%'", 0, NULL);
	for (i = 0; r && i < PQntuples(r); i++)
	{
		char		sql[128];

		violation("prepared transaction %s left behind", PQgetvalue(r, i, 0));
		snprintf(sql, sizeof(sql), "ROLLBACK PREPARED '%s'", PQgetvalue(r, i, 0));
		PQclear(PQexec(checker, sql));
	}
	if (r)
		PQclear(r);

	r = q("SELECT id, name FROM broker.queue ORDER BY id", 0, NULL);
	for (i = 0; r && i < PQntuples(r); i++, nq++)
		check_queue(PQgetvalue(r, i, 0), PQgetvalue(r, i, 1));
	if (r)
		PQclear(r);
	r = q("SELECT id, name, compacted FROM broker.topic ORDER BY id", 0, NULL);
	for (i = 0; r && i < PQntuples(r); i++, nt++)
		check_topic(PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), PQgetvalue(r, i, 2)[0] == 't');
	if (r)
		PQclear(r);
	check_groups();
	printf("fuzz: checked %ld queues, %ld topics, %lld consumer group partitions\n", nq, nt,
		   q_ll("SELECT count(*) FROM broker.consumer_lag", 0, NULL, -1));
	PQfinish(checker);
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

/*
 * Warn about public functions of the installed pgbroker this driver does
 * not call (a function added since it was written), and about functions
 * it calls that are not installed.
 */
static void
check_coverage(void)
{
	PGconn	   *c = connect_as(NULL);
	PGresult   *r = PQexec(c, "SELECT p.oid::regprocedure::text FROM pg_proc p"
						   " JOIN pg_namespace n ON n.oid = p.pronamespace"
						   " WHERE n.nspname = 'broker' AND p.proname !~ '^_' ORDER BY 1");
	int			i;
	int			j;

	for (i = 0; result_ok(r) && i < PQntuples(r); i++)
	{
		for (j = 0; j < NCALLABLE; j++)
			if (funcs[j].sig && strcmp(funcs[j].sig, PQgetvalue(r, i, 0)) == 0)
				break;
		if (j == NCALLABLE)
			printf("fuzz: WARNING: %s is not called by this driver\n", PQgetvalue(r, i, 0));
	}
	for (j = 0; result_ok(r) && j < NCALLABLE; j++)
	{
		for (i = 0; funcs[j].sig && i < PQntuples(r); i++)
			if (strcmp(funcs[j].sig, PQgetvalue(r, i, 0)) == 0)
				break;
		if (funcs[j].sig && i == PQntuples(r))
			printf("fuzz: WARNING: %s is not installed\n", funcs[j].sig);
	}
	PQclear(r);
	PQfinish(c);
}

static void
split_list(char *s, char **out, int *n, int max)
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
	struct timespec t0;
	struct timespec t1;
	double		secs;

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
			fprintf(stderr, "usage: fuzz [--calls N] [--seed S] [--threads N] [--users U1,U2,...]"
					" [--timeout MS] [--forbid CODE,...] [--no-check] [--verbose]\n");
			return 2;
		}
	}
	if (nthreads < 1 || nthreads > lengthof(th) || ncalls < 0 || timeout_ms < 10)
	{
		fprintf(stderr, "fuzz: bad arguments\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	init_names();
	for (i = 0; i < NCALLABLE; i++)
		total_weight += funcs[i].weight;

	printf("fuzz: seed %lu, %ld calls, %d connections%s%s\n", seed0, ncalls, nthreads,
		   nusers ? " as " : "", nusers ? "given users" : "");
	check_coverage();
	clock_gettime(CLOCK_MONOTONIC, &t0);
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
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;

	summary(secs);
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
