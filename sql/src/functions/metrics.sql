/*
 * sql/src/functions/metrics.sql - metrics: views in base units (counts,
 * bytes, seconds as numbers) over queues, topics, consumer groups and
 * subscriptions, and their Prometheus text exposition.
 *
 * Nothing here reads a queue's messages or a topic's records beyond a
 * bounded number of pages per queue (queue_metrics.c says how states are
 * measured) and an index probe per partition and segment, so the cost
 * does not grow with the backlog.  Each view shows what the caller may
 * monitor: members of pg_monitor and pgbroker_admin see everything, other
 * roles the queues and topics they hold a privilege on; no view shows a
 * payload.
 */

/* ---------------------------------------------------------------------
 * Queues
 * --------------------------------------------------------------------- */

CREATE OR REPLACE FUNCTION broker._queue_metrics(ids integer[],
	OUT queue_id integer, OUT messages bigint, OUT ready bigint, OUT delayed bigint,
	OUT leased bigint, OUT waiting bigint, OUT oldest_ready_age float8, OUT bytes bigint,
	OUT exact boolean, OUT sent_total bigint, OUT claimed_total bigint,
	OUT acked_total bigint, OUT nacked_total bigint, OUT dead_lettered_total bigint,
	OUT expired_total bigint, OUT dropped_total bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pgbroker_queue_metrics'
LANGUAGE C STABLE;
COMMENT ON FUNCTION broker._queue_metrics(integer[])
	IS 'states, size and counters of the queues of ids the caller may monitor';

CREATE OR REPLACE FUNCTION broker._metrics_since()
RETURNS timestamptz
AS 'MODULE_PATHNAME', 'pgbroker_metrics_since'
LANGUAGE C STABLE;
COMMENT ON FUNCTION broker._metrics_since()
	IS 'when the queue counters started (server start or crash); null without shared_preload_libraries';

CREATE OR REPLACE FUNCTION broker._queue_counters_keep(ids integer[])
RETURNS integer
AS 'MODULE_PATHNAME', 'pgbroker_queue_counters_keep'
LANGUAGE C VOLATILE STRICT;

CREATE OR REPLACE FUNCTION broker._queue_count(queue_id integer, counter text, n bigint)
RETURNS void
AS 'MODULE_PATHNAME', 'pgbroker_queue_count'
LANGUAGE C VOLATILE STRICT;

/*
 * One row per queue.  messages is PostgreSQL's live-row count of the
 * queue's table; ready, delayed, leased and waiting are exact when exact
 * is true, otherwise shares of messages measured on random pages
 * (queue_metrics.c).  The _total counters count what committed
 * since counters_since (null without pgbroker in shared_preload_libraries).
 */
CREATE OR REPLACE VIEW broker.queue_metrics AS
SELECT q.name AS queue,
	   m.messages, m.ready, m.delayed, m.leased, m.waiting,
	   coalesce(d.dead, 0) AS dead,
	   m.oldest_ready_age AS oldest_ready_age_seconds,
	   m.bytes, m.exact,
	   m.sent_total, m.claimed_total, m.acked_total, m.nacked_total,
	   m.dead_lettered_total, m.expired_total, m.dropped_total,
	   broker._metrics_since() AS counters_since
  FROM broker._queue_metrics((SELECT pg_catalog.array_agg(q0.id ORDER BY q0.id) FROM broker.queue q0)) m
  JOIN broker.queue q ON q.id = m.queue_id
  LEFT JOIN (SELECT dl.queue_id, count(*) AS dead FROM broker.dead_letter dl GROUP BY dl.queue_id) d
	ON d.queue_id = q.id;
COMMENT ON VIEW broker.queue_metrics
	IS 'per queue, in base units: messages by state, dead letters, oldest ready age (s), bytes, counters';

/* ---------------------------------------------------------------------
 * Topics and consumer groups
 * --------------------------------------------------------------------- */

CREATE OR REPLACE VIEW broker.topic_metrics AS
SELECT t.name AS topic, t.partitions, s.records, s.bytes, s.segments,
	   extract(epoch FROM s.oldest_record_age)::float8 AS oldest_record_age_seconds,
	   (SELECT sum(o) FROM pg_catalog.unnest(s.latest_offsets) o)::bigint AS published_total
  FROM (SELECT * FROM broker.topic t0 WHERE broker._may_see('t', t0.id) OFFSET 0) t,
	   LATERAL broker.topic_stats(t.id) s;
COMMENT ON VIEW broker.topic_metrics
	IS 'per topic, in base units: records, bytes, segments, oldest record age (s), offsets assigned';

CREATE OR REPLACE VIEW broker.partition_metrics AS
SELECT t.name AS topic, (p.n - 1)::integer AS partition,
	   p.earliest_offset, p.end_offset, p.end_offset - p.earliest_offset AS records
  FROM (SELECT * FROM broker.topic t0 WHERE broker._may_see('t', t0.id) OFFSET 0) t,
	   LATERAL broker.topic_stats(t.id) s,
	   LATERAL ROWS FROM (pg_catalog.unnest(s.earliest_offsets), pg_catalog.unnest(s.latest_offsets))
		 WITH ORDINALITY p(earliest_offset, end_offset, n);
COMMENT ON VIEW broker.partition_metrics
	IS 'per topic partition: earliest offset, end offset, records retained';

CREATE OR REPLACE VIEW broker.group_metrics AS
SELECT l.topic, l.consumer_group, l.partition, l.committed_offset, l.end_offset, l.lag,
	   extract(epoch FROM pg_catalog.now() - l.last_commit_at)::float8 AS last_commit_age_seconds,
	   l.lease_holder
  FROM broker.consumer_lag l;
COMMENT ON VIEW broker.group_metrics
	IS 'per consumer group and partition: committed offset, lag (records), seconds since the last commit, lease holder';

/* ---------------------------------------------------------------------
 * Prometheus
 * --------------------------------------------------------------------- */

/*
 * A label value escaped as the exposition format wants it (backslash,
 * double quote, newline).  Plain SQL without settings, so that the planner
 * inlines it: a scrape calls it for every series.
 */
CREATE OR REPLACE FUNCTION broker._prometheus_escape(value text)
RETURNS text
LANGUAGE sql IMMUTABLE
AS $$
	SELECT pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(value, '\', '\\'), '"', '\"'), E'\n', '\n')
$$;

/*
 * Every metric the caller may see, in Prometheus's text exposition format
 * (version 0.0.4).  pgbroker metrics prints it; the console serves it.
 * Without JIT: the views' estimates would make it compile the query, which
 * costs a second and more for what runs in milliseconds.
 */
CREATE OR REPLACE FUNCTION broker.metrics_text()
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $$
WITH q AS (SELECT * FROM broker.queue_metrics),
	 t AS (SELECT * FROM broker.topic_metrics),
	 s(name, type, help, labels, value) AS (
	SELECT 'pgbroker_info', 'gauge', 'pgbroker''s version in this database.',
		   '{version="' || broker._prometheus_escape(e.extversion) || '"}', '1'
	  FROM pg_extension e WHERE e.extname = 'pgbroker'
	UNION ALL
	SELECT 'pgbroker_queue_messages', 'gauge',
		   'Messages of a queue by state (dead: in its dead letters).',
		   '{queue="' || broker._prometheus_escape(q.queue) || '",state="' || x.state || '"}', x.n::text
	  FROM q, LATERAL (VALUES ('ready', q.ready), ('delayed', q.delayed), ('leased', q.leased),
							  ('waiting', q.waiting), ('dead', q.dead)) x(state, n)
	UNION ALL
	SELECT 'pgbroker_queue_oldest_ready_age_seconds', 'gauge',
		   'Seconds since the oldest ready message of a queue became ready.',
		   '{queue="' || broker._prometheus_escape(q.queue) || '"}', q.oldest_ready_age_seconds::text FROM q
	UNION ALL
	SELECT 'pgbroker_queue_size_bytes', 'gauge', 'Size on disk of a queue''s table, with its indexes as of their last vacuum.',
		   '{queue="' || broker._prometheus_escape(q.queue) || '"}', q.bytes::text FROM q
	UNION ALL
	SELECT 'pgbroker_queue_' || c.name || '_total', 'counter', c.help,
		   '{queue="' || broker._prometheus_escape(q.queue) || '"}', c.n::text
	  FROM q, LATERAL (VALUES
			('sent', 'Messages sent to a queue.', q.sent_total),
			('claimed', 'Messages claimed from a queue (deliveries).', q.claimed_total),
			('acked', 'Messages acked.', q.acked_total),
			('nacked', 'Messages nacked.', q.nacked_total),
			('dead_lettered', 'Messages moved to the dead letters.', q.dead_lettered_total),
			('expired', 'Messages whose time to live ran out.', q.expired_total),
			('dropped', 'Oldest messages dropped by an overflow.', q.dropped_total)) c(name, help, n)
	UNION ALL
	SELECT 'pgbroker_topic_records', 'gauge', 'Records a topic retains.',
		   '{topic="' || broker._prometheus_escape(t.topic) || '"}', t.records::text FROM t
	UNION ALL
	SELECT 'pgbroker_topic_size_bytes', 'gauge', 'Size on disk of a topic''s segments.',
		   '{topic="' || broker._prometheus_escape(t.topic) || '"}', t.bytes::text FROM t
	UNION ALL
	SELECT 'pgbroker_topic_segments', 'gauge', 'Segments of a topic.',
		   '{topic="' || broker._prometheus_escape(t.topic) || '"}', t.segments::text FROM t
	UNION ALL
	SELECT 'pgbroker_topic_oldest_record_age_seconds', 'gauge', 'Age of the oldest record a topic retains.',
		   '{topic="' || broker._prometheus_escape(t.topic) || '"}', t.oldest_record_age_seconds::text FROM t
	UNION ALL
	SELECT 'pgbroker_topic_published_total', 'counter', 'Offsets assigned in a topic (records published).',
		   '{topic="' || broker._prometheus_escape(t.topic) || '"}', t.published_total::text FROM t
	UNION ALL
	SELECT 'pgbroker_topic_partition_' || x.name, 'gauge', x.help,
		   '{topic="' || broker._prometheus_escape(p.topic) || '",partition="' || p.partition || '"}', x.n::text
	  FROM broker.partition_metrics p, LATERAL (VALUES
			('end_offset', 'The next offset a partition will assign.', p.end_offset),
			('earliest_offset', 'The first offset a partition retains.', p.earliest_offset),
			('records', 'Records a partition retains.', p.records)) x(name, help, n)
	UNION ALL
	SELECT 'pgbroker_consumer_group_' || x.name, 'gauge', x.help,
		   '{topic="' || broker._prometheus_escape(g.topic) || '",consumer_group="' || broker._prometheus_escape(g.consumer_group)
			|| '",partition="' || g.partition || '"}', x.n
	  FROM broker.group_metrics g, LATERAL (VALUES
			('committed_offset', 'A consumer group''s committed offset in a partition.', g.committed_offset::text),
			('lag', 'Records of a partition a consumer group has not committed.', g.lag::text),
			('last_commit_age_seconds', 'Seconds since a consumer group last committed in a partition.',
			 g.last_commit_age_seconds::text)) x(name, help, n)
	UNION ALL
	SELECT 'pgbroker_consumer_group_lease_holders', 'gauge',
		   'Consumers holding a lease on partitions of a consumer group.',
		   '{topic="' || broker._prometheus_escape(g.topic) || '",consumer_group="' || broker._prometheus_escape(g.consumer_group) || '"}',
		   count(DISTINCT g.lease_holder)::text
	  FROM broker.group_metrics g GROUP BY g.topic, g.consumer_group
	UNION ALL
	SELECT 'pgbroker_subscription_' || x.name, x.type, x.help,
		   '{subscription="' || broker._prometheus_escape(b.name) || '"}', x.n::text
	  FROM broker.subscriptions b, LATERAL (VALUES
			('handled_total', 'counter', 'Messages or records a subscription''s handler took.', b.processed),
			('failed_total', 'counter', 'Handler calls of a subscription that failed.', b.failed),
			('workers', 'gauge', 'Running workers of a subscription.', b.workers),
			('backlog', 'gauge', 'Messages or records waiting for a subscription.', b.backlog),
			('failing', 'gauge', '1 while a subscription is failing (its last batch failed, or a partition stopped).',
			 (b.state = 'failing')::integer),
			('paused', 'gauge', '1 while a subscription is paused.', (NOT b.enabled)::integer)) x(name, type, help, n)
)
SELECT coalesce(string_agg(f.block, '' ORDER BY f.name), '')
  FROM (SELECT s.name,
			   '# HELP ' || s.name || ' ' || min(s.help) || E'\n# TYPE ' || s.name || ' ' || min(s.type) || E'\n'
			   || string_agg(s.name || s.labels || ' ' || s.value || E'\n', '') AS block
		  FROM s WHERE s.value IS NOT NULL GROUP BY s.name) f
$$;
COMMENT ON FUNCTION broker.metrics_text()
	IS 'every metric the caller may see, in Prometheus''s text exposition format';
