/*
 * fuzz_check.c - the fuzz driver's final check of what the run left.
 *
 * One more connection, after the workers are done: per queue, the
 * broker.queues view agrees with peek and with the queue's table, every
 * message peek calls ready is handed out by claim (or dead-lettered by
 * it) and acks with its receipt, redrive brings back every dead letter,
 * and the queue still sends, claims and acks; per topic, the partitions'
 * earliest and end offsets agree across functions, reads give increasing
 * offsets below the end, dense where nothing could have thinned them, and
 * a fresh publish lands at the end offset; per consumer group, lag is not
 * negative and a poll starts at or after the committed offset.  What does
 * not hold is a violation.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

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

	/* and the queue still works (whatever limits the run left it) */
	r = q("SELECT broker.alter_queue($1, clear_ttl => true, clear_max_length => true,"
		  " clear_max_message_size => true)", 1, p);
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
		long long	end;
		long long	got;
		char		obuf[24];

		/* whatever limit the run left it */
		r = q("SELECT broker.alter_topic($1, clear_max_message_size => true)", 1, p);
		if (r)
			PQclear(r);
		end = q_ll("SELECT broker.latest_offset($1, 0)", 1, p, -1);

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

void
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
