/*
 * fuzz_args.c - the values the fuzz driver passes.
 *
 * Names shared by queues, topics and groups (valid ones, and ones pgbroker
 * must refuse), the workers' random numbers and the memory of one call's
 * arguments, and a generator for each kind of argument.  A generator
 * called with bad = false gives what a careful caller passes; with
 * bad = true, boundaries, NULLs, wrong types and absurdities.  The
 * generators of ids, receipts and polled records draw on what the
 * worker's earlier calls returned.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

/* ----------------------------------------------------------------
 * Names
 * ----------------------------------------------------------------
 */
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

void
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

bool
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

void
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

bool
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
static uint64_t
rnd(Worker *w)
{
	/* xorshift64* */
	w->rng ^= w->rng >> 12;
	w->rng ^= w->rng << 25;
	w->rng ^= w->rng >> 27;
	return w->rng * 2685821657736338717ULL;
}

int
rn(Worker *w, int n)
{
	return (int) ((rnd(w) >> 33) % (uint64_t) n);
}

bool
pct(Worker *w, int p)
{
	return rn(w, 100) < p;
}

char *
keep(Worker *w, char *s)
{
	if (w->ngarbage < lengthof(w->garbage))
		w->garbage[w->ngarbage++] = s;
	return s;
}

char *
wformat(Worker *w, const char *fmt,...)
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

/*
 * Make *slot the worker's own copy of s (NULL stays NULL), freeing what
 * it held: for what outlives the call whose argument s is.  s is copied
 * before the old string is freed, so it may be that string.
 */
void
set_str(char **slot, const char *s)
{
	char	   *copy = s ? strdup(s) : NULL;

	free(*slot);
	*slot = copy;
}

void
free_garbage(Worker *w)
{
	while (w->ngarbage > 0)
		free(w->garbage[--w->ngarbage]);
}

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

void
buf_str(Buf *b, const char *s)
{
	buf_put(b, s, strlen(s));
}

/* Append s as a double-quoted array element (NULL: the NULL element). */
void
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
const char *
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
	return wformat(w, "fz_fresh_%d", rn(w, 1000000));
}

/* one of the names pgbroker must refuse, or (a quarter of the time) NULL */
const char *
gen_bad_name(Worker *w)
{
	return PICK(w, bad_names);
}

const char *
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

const char *
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

const char *
gen_bad_int(Worker *w)
{
	return PICK(w, bad_ints);
}

const char *
gen_bad_bigint(Worker *w)
{
	return PICK(w, bad_bigints);
}

const char *
gen_bad_interval(Worker *w)
{
	return PICK(w, bad_intervals);
}

const char *
gen_bad_timestamp(Worker *w)
{
	return PICK(w, bad_timestamps);
}

const char *
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
		return wformat(w, "%08x-%04x-4%03x-8%03x-%04x%08x",
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
char *
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

const char *
gen_payload(Worker *w, bool bad)
{
	if (!bad)
	{
		switch (rn(w, 6))
		{
			case 0:
				return "{}";
			case 1:
				return wformat(w, "{\"n\": %d, \"s\": \"x\"}", rn(w, 1000));
			case 2:
				return wformat(w, "[%d, \"two\", null, true]", rn(w, 1000));
			case 3:
				return "\"just a string\"";
			case 4:
				return wformat(w, "{\"k\": \"%s\"}", rn(w, 2) ? "caf\xc3\xa9" : "\xf0\x9f\x9a\x80");
			default:
				return wformat(w, "%d", rn(w, 100000) - 50000);
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

const char *
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

const char *
gen_filter(Worker *w, bool bad)
{
	if (!bad)
		return PICK(w, ((const char *[]) {NULL, NULL, NULL, "{}", "{\"type\": \"a\"}", "{\"tenant\": \"t1\"}"}));
	return PICK(w, ((const char *[]) {NULL, "[1]", "42", "null", "\"x\"", "{\"type\": [\"a\"]}",
				"{\"a\": {\"b\": {\"c\": 1}}}", "{", gen_deep(w, 2000, true)}));
}

/* a key of 512 or 513 bytes (the limit), kept for the worker */
const char *
gen_long_key(Worker *w)
{
	return keep(w, repeat_to("K", 511 + rn(w, 3)));
}

const char *
gen_key(Worker *w, bool bad)
{
	if (!bad)
		return PICK(w, ((const char *[]) {NULL, NULL, "k1", "k2", "k3", "k 4", "k'5;"}));
	if (pct(w, 15))
		return gen_long_key(w);
	return PICK(w, ((const char *[]) {NULL, "", "\xe2\x82\xac", "tab\tkey", "bad\xc3\x28"}));
}

/* binary payload: sets *len */
char *
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
const char *
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
const char *
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

const char *
gen_count(Worker *w, bool bad)
{
	if (!bad)
		return wformat(w, "%d", 1 + rn(w, pct(w, 10) ? 200 : 10));
	return gen_bad_int(w);
}

const char *
gen_priority(Worker *w, bool bad)
{
	if (!bad)
		return PICK(w, ((const char *[]) {"0", "0", "0", "1", "-5", "100"}));
	return PICK(w, ((const char *[]) {NULL, "1000000", "1000001", "-1000000", "-1000001",
				"2147483647", "-2147483648", "x"}));
}

/* a wait: mostly none or tiny, since a real wait costs a statement_timeout */
const char *
gen_wait(Worker *w, bool bad)
{
	if (!bad)
		return PICK(w, ((const char *[]) {"0", "0", "0", "1 ms", "5 ms", "20 ms"}));
	if (pct(w, 70))
		return PICK(w, ((const char *[]) {NULL, "-1 s", "1 hour 1 ms", "2 days", "infinity",
					"178000000 years", "-2562047788 hours", "0", "x"}));
	return gen_bad_interval(w);
}

/* a partition number */
const char *
gen_partition(Worker *w, bool bad)
{
	if (!bad)
		return PICK(w, ((const char *[]) {NULL, NULL, NULL, "0", "0", "1", "2"}));
	return PICK(w, ((const char *[]) {"-1", "3", "8", "1023", "1024", "2147483647", "-2147483648", "x", ""}));
}

/* an offset */
const char *
gen_offset(Worker *w, bool bad)
{
	if (!bad)
		return PICK(w, ((const char *[]) {"0", "0", "1", "5", "20", "100"}));
	return PICK(w, bad_bigints);
}

/* ----------------------------------------------------------------
 * What earlier calls returned: ids, receipts, polled records.  The
 * queue's name is copied (set_str): the one passed is a call's argument,
 * which may be freed with the call's memory.
 * ----------------------------------------------------------------
 */
void
remember_claim(Worker *w, const char *queue, const char *id, const char *receipt)
{
	Claimed    *c = &w->claimed[w->nclaimed++ % RING];

	set_str(&c->queue, queue);
	snprintf(c->id, sizeof(c->id), "%s", id);
	snprintf(c->receipt, sizeof(c->receipt), "%s", receipt ? receipt : "");
}

void
remember_sent(Worker *w, const char *queue, const char *id)
{
	int			i = w->nsent++ % RING;

	set_str(&w->sent_queue[i], queue);
	snprintf(w->sent[i], sizeof(w->sent[i]), "%s", id);
}

/* a message id: one this worker claimed or sent, or an absurd one */
const char *
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

/* a record this worker polled, or (also a quarter of the time) none */
Polled *
some_polled(Worker *w)
{
	if (w->npolled == 0 || pct(w, 25))
		return NULL;
	return &w->polled[rn(w, w->npolled < RING ? w->npolled : RING)];
}
