/*
 * fuzz_calls.c - the one generator that makes a fuzz call from a row of
 * the table (fuzz_table.c), the rows' hooks, and the draw of the next
 * call.
 *
 * A call first draws its subject, when its row has one: a message this
 * worker claimed or sent (or an absurd id), or a record it polled.  Then
 * its hostility, then each parameter in order: whether it is a bad one,
 * which alternative of its classes it takes, and the value.  The call
 * runs (now and then with a cancel request sent while it runs, see
 * fuzz.c), and the row's hooks look at the result.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"

/* one call being made */
struct Gen
{
	const CallSpec *spec;
	Call		call;
	/* the subject */
	const char *queue;
	const char *id;
	const char *receipt;
	const char *ids;
	Polled	   *polled;
	int			count;			/* payloads in the last array, -1 unknown */
	int			alt[MAXPARAMS]; /* the alternative each parameter took */
	bool		bad[MAXPARAMS];
	const char *normal[MAXPARAMS];	/* P_DRAW_NORMAL: the normal value */
};

static int	total_weight = 0;

/* ----------------------------------------------------------------
 * Hostility: most calls are careful, some have one bad argument
 * ----------------------------------------------------------------
 */
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

/* ----------------------------------------------------------------
 * The generator
 * ----------------------------------------------------------------
 */

/* bigint[] of the ids of up to five messages, and the queue of the first */
static void
draw_messages(Worker *w, Gen *g)
{
	Buf			b = {0};
	int			n = rn(w, 6);
	int			i;

	buf_str(&b, "{");
	for (i = 0; i < n; i++)
	{
		const char *q;
		const char *id = gen_msg_id(w, &q, NULL);

		if (g->queue == NULL)
			g->queue = q;
		if (i > 0)
			buf_str(&b, ",");
		buf_str(&b, id ? id : "NULL");
	}
	buf_str(&b, "}");
	g->ids = keep(w, b.s);
	if (g->queue == NULL)
		g->queue = gen_name(w);
}

/* broker.record[] of one to four records: after the polled one, or made up */
static const char *
gen_records(Worker *w, Polled *p)
{
	Buf			b = {0};
	int			n = 1 + rn(w, 4);
	int			i;

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
					 ((const char *[]) {"0", "1", "", "-1", "99", "2147483647"})[rn(w, 6)],
					 ((const char *[]) {"0", "7", "", "-1", "9223372036854775807"})[rn(w, 5)]);
		if (pct(w, 5))
			buf_str(&b, "NULL");
		else
			buf_elem(&b, elem);
	}
	buf_str(&b, "}");
	return keep(w, b.s);
}

static Polled *
polled(const Gen *g)
{
	if (g->polled == NULL)
	{
		fprintf(stderr, "fuzz: %s: the table uses a polled record where there is none\n",
				g->spec->name);
		exit(2);
	}
	return g->polled;
}

/* A value of class cls; *len >= 0 for a binary one. */
static const char *
gen_class(Worker *w, Gen *g, const Class *cls, int *len)
{
	*len = -1;
	switch (cls->kind)
	{
		case K_NONE:
			break;
		case K_LIST:
			return cls->list[rn(w, cls->nlist)];
		case K_BOOL:
			return gen_bool(w, cls->bad);
		case K_COUNT:
			return gen_count(w, cls->bad);
		case K_PAYLOAD:
			return gen_payload(w, cls->bad);
		case K_BYTES:
			return gen_bytes(w, cls->bad, len);
		case K_HEADERS:
			return gen_headers(w, cls->bad);
		case K_FILTER:
			return gen_filter(w, cls->bad);
		case K_KEY:
			return gen_key(w, cls->bad);
		case K_PRIORITY:
			return gen_priority(w, cls->bad);
		case K_WAIT:
			return gen_wait(w, cls->bad);
		case K_PARTITION:
			return gen_partition(w, cls->bad);
		case K_OFFSET:
			return gen_offset(w, cls->bad);
		case K_PAYLOADS:
			return gen_payload_array(w, false, cls->bad, &g->count);
		case K_BYTEAS:
			return gen_payload_array(w, true, cls->bad, &g->count);
		case K_KEYS:
			return gen_key_array(w, g->count, cls->bad);
		case K_NAME:
			return gen_name(w);
		case K_BAD_NAME:
			return gen_bad_name(w);
		case K_GROUP:
			return gen_group(w);
		case K_CONSUMER:
			return gen_consumer(w);
		case K_BAD_INT:
			return gen_bad_int(w);
		case K_BAD_BIGINT:
			return gen_bad_bigint(w);
		case K_BAD_INTERVAL:
			return gen_bad_interval(w);
		case K_BAD_TIMESTAMP:
			return gen_bad_timestamp(w);
		case K_LONG_KEY:
			return gen_long_key(w);
		case K_STATS_ID:
			return wformat(w, "%d", 1 + rn(w, 60));
		case K_BIG_REASON:
			return gen_big_object(w, ((long[]) {10000, 1000000, 3000000})[rn(w, 3)]);
		case K_MSG_QUEUE:
			return g->queue;
		case K_MSG_ID:
			return g->id;
		case K_MSG_RECEIPT:
			return g->receipt;
		case K_MSG_ID_SET:
			return g->id ? wformat(w, "{%s}", g->id) : "{NULL}";
		case K_MSG_IDS:
			return g->ids;
		case K_POLLED_TOPIC:
			return polled(g)->topic;
		case K_POLLED_GROUP:
			return polled(g)->group;
		case K_POLLED_CONSUMER:
			return polled(g)->consumer;
		case K_POLLED_CONSUMER_OR_ANY:
			return polled(g)->consumer ? polled(g)->consumer : gen_consumer(w);
		case K_POLLED_PARTITION:
			return wformat(w, "%d", polled(g)->partition);
		case K_POLLED_NEXT:
			return wformat(w, "%lld", polled(g)->offset + 1);
		case K_RECORDS:
			return gen_records(w, g->polled);
	}
	return NULL;
}

/* Pick one of the alternatives (the given one when forced >= 0). */
static int
pick(Worker *w, const Alt *alts, int forced)
{
	int			total = 0;
	int			r;
	int			i;

	if (forced >= 0)
		return forced;
	for (i = 0; i < MAXALT && alts[i].weight > 0; i++)
		total += alts[i].weight;
	if (i <= 1)
		return 0;
	r = rn(w, total);
	for (i = 0; r >= alts[i].weight; i++)
		r -= alts[i].weight;
	return i;
}

static int
nparams(const CallSpec *s)
{
	int			n = 0;

	while (n < MAXPARAMS && s->params[n].normal[0].weight > 0)
		n++;
	return n;
}

/* Make the call of row s, run it, and let its hooks look at the result. */
static void
make_call(Worker *w, const CallSpec *s)
{
	Gen			g;
	Hostility	h = {0};
	PGresult   *r;
	int			n = nparams(s);
	int			i;

	memset(&g, 0, sizeof(g));
	g.spec = s;
	g.count = -1;
	call_init(&g.call, s->fn, s->sql);

	switch (s->subject)
	{
		case SUBJ_NONE:
			break;
		case SUBJ_MESSAGE:
			g.id = gen_msg_id(w, &g.queue, &g.receipt);
			break;
		case SUBJ_MESSAGE_ID:
			g.id = gen_msg_id(w, &g.queue, NULL);
			break;
		case SUBJ_MESSAGES:
			draw_messages(w, &g);
			break;
		case SUBJ_POLLED:
			g.polled = some_polled(w);
			if (g.polled && s->subject_pct < 100 && !pct(w, s->subject_pct))
				g.polled = NULL;
			break;
	}
	if (s->hostile)
		hostility(w, &h, s->hostile);

	for (i = 0; i < n; i++)
	{
		const Param *p = &s->params[i];
		const Alt  *alts = p->normal;
		bool		paired = (p->flags & P_PAIRED) && i > 0;
		int			forced = -1;
		int			len;
		const char *v;

		if (s->subject == SUBJ_POLLED && g.polled == NULL && p->alone[0].weight > 0)
			alts = p->alone;
		if (p->flags & P_DRAW_NORMAL)
		{
			g.alt[i] = pick(w, alts, -1);
			g.normal[i] = gen_class(w, &g, &alts[g.alt[i]].cls, &len);
		}
		if (s->hostile && p->bad[0].weight > 0)
			g.bad[i] = bad(w, &h);
		if (paired && g.bad[i - 1])
			g.bad[i] = true;
		if (g.bad[i])
			alts = p->bad;
		else if (paired)
			forced = g.alt[i - 1];

		if ((p->flags & P_DRAW_NORMAL) && !g.bad[i])
		{
			v = g.normal[i];
			len = -1;
		}
		else
		{
			g.alt[i] = pick(w, alts, forced);
			v = gen_class(w, &g, &alts[g.alt[i]].cls, &len);
		}
		if (len >= 0)
			arg_bin(&g.call, v, len);
		else
			arg(&g.call, v);
	}

	if (s->before)
		s->before(w, &g);
	r = run_call(w, &g.call, !s->no_cancel);
	if (w->stranger)
		stranger_check(w, s, &g.call, r);
	if (s->after)
		s->after(w, &g, r);
	if (r)
		PQclear(r);
}

/* One call of a function drawn at random by weight. */
void
one_call(Worker *w)
{
	int			r = rn(w, total_weight);
	int			i;

	for (i = 0; i < ncallspecs - 1; i++)
	{
		r -= calls[i].weight;
		if (r < 0)
			break;
	}
	if (calls[i].next_pct > 0 && pct(w, calls[i].next_pct))
		i++;
	make_call(w, &calls[i]);
}

/* The weights, and the names of the functions in the summary. */
void
calls_init(void)
{
	int			i;

	for (i = 0; i < ncallspecs; i++)
	{
		total_weight += calls[i].weight;
		if (funcs[calls[i].fn].name == NULL)
			funcs[calls[i].fn].name = calls[i].name;
	}
}

/*
 * Warn about public functions and views of the installed pgbroker this
 * driver does not call (one added since it was written), and about
 * functions it calls that are not installed.  The views that hold the
 * privileges of each queue and topic (broker.*_acl) are not for reading.
 */
void
check_coverage(void)
{
	PGconn	   *c = connect_as(NULL);
	PGresult   *r = PQexec(c, "SELECT p.oid::regprocedure::text FROM pg_proc p"
						   " WHERE p.pronamespace = 'broker'::regnamespace AND p.proname !~ '^_'"
						   " UNION ALL"
						   " SELECT c.oid::regclass::text FROM pg_class c"
						   " WHERE c.relnamespace = 'broker'::regnamespace AND c.relkind = 'v'"
						   " AND c.relname !~ '_acl$' ORDER BY 1");
	int			i;
	int			j;

	for (i = 0; result_ok(r) && i < PQntuples(r); i++)
	{
		for (j = 0; j < ncallspecs; j++)
			if (calls[j].sig && strcmp(calls[j].sig, PQgetvalue(r, i, 0)) == 0)
				break;
		if (j == ncallspecs)
			printf("fuzz: WARNING: %s is not called by this driver\n", PQgetvalue(r, i, 0));
	}
	for (j = 0; result_ok(r) && j < ncallspecs; j++)
	{
		for (i = 0; calls[j].sig && i < PQntuples(r); i++)
			if (strcmp(calls[j].sig, PQgetvalue(r, i, 0)) == 0)
				break;
		if (calls[j].sig && i == PQntuples(r))
			printf("fuzz: WARNING: %s is not installed\n", calls[j].sig);
	}
	PQclear(r);
	PQfinish(c);
}

/* ----------------------------------------------------------------
 * Hooks: what a call remembers, and what it must never do
 * ----------------------------------------------------------------
 */

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

static void
note_created_name(const Call *c, PGresult *r, const char *name)
{
	if (result_ok(r) && is_bad_name(name))
		violation("%s accepted the invalid name '%s'", funcs[c->fn].name, name ? name : "(null)");
}

/* create_queue, create_topic: a name pgbroker must refuse is refused */
void
after_name(Worker *w, Gen *g, PGresult *r)
{
	note_created_name(&g->call, r, g->call.v[0]);
}

void
after_group_name(Worker *w, Gen *g, PGresult *r)
{
	const char *group = g->call.v[1];

	if (group != NULL && is_bad_name(group))
		note_created_name(&g->call, r, group);
}

void
after_send(Worker *w, Gen *g, PGresult *r)
{
	if (result_ok(r) && PQntuples(r) == 1 && !PQgetisnull(r, 0, 0))
		remember_sent(w, g->call.v[0], PQgetvalue(r, 0, 0));
}

void
after_send_batch(Worker *w, Gen *g, PGresult *r)
{
	int			i;

	if (!result_ok(r))
		return;
	if (g->count >= 0 && PQntuples(r) != g->count)
		violation("send_batch of %d messages returned %d ids", g->count, PQntuples(r));
	for (i = 0; i < PQntuples(r) && i < 4; i++)
		remember_sent(w, g->call.v[0], PQgetvalue(r, i, 0));
}

void
after_claim(Worker *w, Gen *g, PGresult *r)
{
	long long	max;
	int			i;

	if (!result_ok(r))
		return;
	if (int_arg(g->call.v[1], &max) && PQntuples(r) > max)
		violation("claim(max_messages => %lld) returned %d messages", max, PQntuples(r));
	for (i = 0; i < PQntuples(r); i++)
		remember_claim(w, g->call.v[0], PQgetvalue(r, i, 0), PQgetvalue(r, i, 1));
}

void
after_peek(Worker *w, Gen *g, PGresult *r)
{
	long long	max;

	if (result_ok(r) && int_arg(g->call.v[1], &max) && PQntuples(r) > max)
		violation("peek(max_messages => %lld) returned %d rows", max, PQntuples(r));
}

/* remember a topic published to in this transaction */
void
after_publish(Worker *w, Gen *g, PGresult *r)
{
	const char *topic = g->call.v[0];
	int			i;

	if (!result_ok(r) || topic == NULL)
		return;
	for (i = 0; i < w->npublished; i++)
		if (strcmp(w->published[i], topic) == 0)
			return;
	if (w->npublished < lengthof(w->published))
		set_str(&w->published[w->npublished++], topic);
	else
		taint(topic);			/* cannot remember it: be safe */
}

void
after_read(Worker *w, Gen *g, PGresult *r)
{
	long long	max;
	long long	from = 0;
	long long	prev = -1;
	int			i;

	if (!result_ok(r))
		return;
	if (int_arg(g->call.v[3], &max) && PQntuples(r) > max)
		violation("read(max_records => %lld) returned %d records", max, PQntuples(r));
	int_arg(g->call.v[2], &from);
	for (i = 0; i < PQntuples(r); i++)
	{
		long long	off = atoll(PQgetvalue(r, i, 1));

		if (off <= prev || off < from)
			violation("read from %lld returned offset %lld after %lld", from, off, prev);
		prev = off;
	}
}

/*
 * Offsets increase per partition; remember the last record and a few
 * others, with the group the call drew even when it passed a bad one.
 */
void
after_poll(Worker *w, Gen *g, PGresult *r)
{
	long long	prev[1025];
	long long	max;
	int			i;
	int			k;

	if (!result_ok(r))
		return;
	for (k = 0; k < 1025; k++)
		prev[k] = -1;
	if (int_arg(g->call.v[2], &max) && PQntuples(r) > max)
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

			set_str(&p->topic, g->call.v[0]);
			set_str(&p->group, g->normal[1]);
			set_str(&p->consumer, g->call.v[4]);
			p->partition = part;
			p->offset = off;
		}
	}
}

/* the session's message size limit, for payloads around it */
void
after_set_size(Worker *w, Gen *g, PGresult *r)
{
	PGresult   *s;

	if (!result_ok(r))
		return;
	s = PQexec(w->conn, "SELECT setting::bigint FROM pg_settings WHERE name = 'pgbroker.max_message_size'");
	if (result_ok(s) && PQntuples(s) == 1)
		w->msgsize = atol(PQgetvalue(s, 0, 0));
	PQclear(s);
}

/* a compacted topic (or one that may be) is not dense: check it as such */
void
before_create_topic(Worker *w, Gen *g)
{
	const char *compacted = g->call.v[4];

	if (compacted == NULL || strcmp(compacted, "f") != 0)
		taint(g->call.v[0]);
}

void
before_alter_topic(Worker *w, Gen *g)
{
	const char *compacted = g->call.v[4];

	if (compacted != NULL && strcmp(compacted, "f") != 0)
		taint(g->call.v[0]);
}
