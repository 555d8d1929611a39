--
-- Privileges on topics and groups, names that try to be SQL, a caller's
-- search_path that tries to capture the broker's functions, and what
-- DROP EXTENSION takes with it.
--
SET client_min_messages = warning;
CREATE ROLE sec_producer LOGIN IN ROLE pgbroker_producer;
CREATE ROLE sec_consumer LOGIN IN ROLE pgbroker_consumer;
CREATE ROLE sec_admin LOGIN IN ROLE pgbroker_admin;
CREATE ROLE sec_other LOGIN;
GRANT CREATE ON SCHEMA public TO sec_other;

-- topics: producers publish, consumers read and consume, admins manage,
-- others nothing
SET ROLE sec_admin;
SELECT broker.create_topic('sec_events', partitions => 2);
SELECT broker.create_queue('sec_jobs');
SELECT broker.create_group('sec_events', 'admins');
-- (queues and topics are private: their owner grants them)
SELECT broker.grant('send', 'sec_producer', topic => 'sec_events'),
       broker.grant('consume', 'sec_consumer', topic => 'sec_events'),
       broker.grant('browse', 'sec_consumer', topic => 'sec_events'),
       broker.grant('send', 'sec_producer', queue => 'sec_jobs'),
       broker.grant('consume', 'sec_consumer', queue => 'sec_jobs');
RESET ROLE;
SELECT broker._segment_table(t.id, 1) AS segtbl FROM broker.topic t WHERE name = 'sec_events' \gset
SET ROLE sec_producer;
SELECT broker.publish('sec_events', '{"secret": 1}', key => 'k');
SELECT sqlstate_of($$SELECT * FROM broker.read('sec_events', 0, 0)$$) AS producer_reads,
       sqlstate_of($$SELECT * FROM broker.poll('sec_events', 'g', 10)$$) AS producer_polls,
       sqlstate_of($$SELECT broker.drop_topic('sec_events')$$) AS producer_drops,
       sqlstate_of($$SELECT broker.create_queue('mine')$$) AS producer_creates,
       sqlstate_of(format('SELECT * FROM %s', :'segtbl')) AS producer_reads_table;
RESET ROLE;
SET ROLE sec_consumer;
SELECT count(*) FROM broker.poll('sec_events', 'g', 10);
SELECT broker.seek('sec_events', 'g', 'earliest');
SELECT payload FROM broker.poll('sec_events', 'g', 10);
SELECT sqlstate_of($$SELECT broker.publish('sec_events', '{}')$$) AS consumer_publishes,
       sqlstate_of($$SELECT broker.send('sec_jobs', '{}')$$) AS consumer_sends,
       sqlstate_of($$SELECT broker.purge('sec_jobs')$$) AS consumer_purges,
       sqlstate_of($$SELECT broker.delete_group('sec_events', 'admins')$$) AS consumer_deletes_group,
       sqlstate_of($$SELECT * FROM broker.poll('sec_events', 'admins')$$) AS consumer_polls_others_group,
       sqlstate_of($$SELECT broker.drop_queue('sec_jobs')$$) AS consumer_drops,
       sqlstate_of(format('SELECT * FROM %s', :'segtbl')) AS consumer_reads_table;
RESET ROLE;
SET ROLE sec_other;
SELECT sqlstate_of($$SELECT * FROM broker.read('sec_events', 0, 0)$$) AS other_reads,
       sqlstate_of($$SELECT * FROM broker.poll('sec_events', 'g2', 10)$$) AS other_polls,
       sqlstate_of($$SELECT * FROM broker.consumer_lag$$) AS other_lag,
       sqlstate_of($$SELECT * FROM broker.topics$$) AS other_topics,
       sqlstate_of($$SELECT * FROM broker.queues$$) AS other_queues,
       sqlstate_of($$CALL broker.claim_wait('sec_jobs', 1, NULL, '0', NULL, NULL)$$) AS other_claim_wait,
       sqlstate_of(format('SELECT * FROM %s', :'segtbl')) AS other_reads_table,
       sqlstate_of($$SELECT * FROM broker.group_state$$) AS other_reads_offsets;
RESET ROLE;

-- a caller's search_path cannot capture what the broker's functions call:
-- a function and an operator in public named like the ones pgbroker uses
SET ROLE sec_other;
CREATE FUNCTION public.now() RETURNS timestamptz LANGUAGE sql AS $$ SELECT 'epoch'::timestamptz $$;
CREATE FUNCTION public.hijack(bigint, bigint) RETURNS boolean LANGUAGE plpgsql AS
  $$ BEGIN RAISE EXCEPTION 'captured'; END $$;
CREATE OPERATOR public.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = public.hijack);
RESET ROLE;
GRANT sec_producer TO sec_other;
GRANT sec_consumer TO sec_other;
SELECT broker.create_queue('sec_capped', max_length => 2, overflow => 'drop_oldest');
SELECT broker.grant('send', 'sec_producer', queue => 'sec_capped'),
       broker.grant('browse', 'sec_consumer', queue => 'sec_capped');
SET ROLE sec_other;
SET search_path = public, pg_catalog;
SELECT broker.send('sec_jobs', '{"n": 1}') > 0 AS sent;
SELECT payload, enqueued_at > '2000-01-01' AS real_clock FROM broker.claim('sec_jobs');
SELECT broker.publish('sec_events', '{"n": 2}', partition => 0);
SELECT payload FROM broker.poll('sec_events', 'g', 10);
-- the sends pin no search_path of their own: what SQL they run does (a
-- queue's first lookup, dedup and group keys, a maximum length)
SELECT broker.send('sec_capped', '{"n": 1}', dedup_key => 'd') OPERATOR(pg_catalog.=)
       broker.send('sec_capped', '{"n": 2}', dedup_key => 'd') AS deduplicated;
SELECT count(*) AS batch FROM broker.send_batch('sec_capped', ARRAY['{"n": 3}', '{"n": 4}']::jsonb[],
                                                group_keys => ARRAY['g1', 'g1']);
SELECT payload, headers FROM broker.peek('sec_capped', 10);
SHOW search_path;
RESET search_path;
RESET ROLE;
SELECT broker.drop_queue('sec_capped');
DROP OPERATOR public.= (bigint, bigint);
DROP FUNCTION public.hijack(bigint, bigint), public.now();

-- topic and group names are data
SELECT broker.create_topic(n, partitions => 1) FROM (VALUES
	('t"; DROP TABLE broker.topic; --'), ('t ''quoted'' name'), ('话题 ünï'),
	(repeat('t', 63) || 'one'), (repeat('t', 63) || 'two')) v(n);
SELECT broker.publish(n, jsonb_build_object('to', n))
  FROM (SELECT name AS n FROM broker.topic WHERE name <> 'sec_events') s;
SELECT length(t.name), r.payload->>'to' = t.name AS own_record
  FROM broker.topic t, broker.read(t.name, 0, 0) r WHERE t.name <> 'sec_events' ORDER BY 1, 2;
SELECT broker.create_group('话题 ünï', 'g"; DROP SCHEMA broker CASCADE; --', 'earliest');
SELECT payload FROM broker.poll('话题 ünï', 'g"; DROP SCHEMA broker CASCADE; --', 10);
SELECT consumer_group, lag FROM broker.consumer_lag WHERE topic = '话题 ünï';
SELECT broker.drop_topic(name) FROM broker.topic WHERE name <> 'sec_events' ORDER BY name;

-- DROP EXTENSION: refused while queues and topics exist, naming them;
-- with CASCADE nothing of pgbroker is left but its three roles, which are
-- shared by every database of the cluster
DO $$
DECLARE
	detail text;
	hint text;
BEGIN
	DROP EXTENSION pgbroker;
	RAISE NOTICE 'dropped';
EXCEPTION WHEN dependent_objects_still_exist THEN
	GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL, hint = PG_EXCEPTION_HINT;
	RAISE WARNING 'refused; names a queue table: %, names a topic segment: %; hint: %',
		detail ~ 'table broker\.queue_[0-9]+ depends on schema broker',
		detail ~ 'table broker\.topic_[0-9]+_[0-9]+ depends on schema broker', hint;
END
$$;
DROP EXTENSION pgbroker CASCADE;
SELECT count(*) AS broker_schema FROM pg_namespace WHERE nspname = 'broker';
SELECT count(*) AS broker_relations FROM pg_class WHERE relname ~ '^(queue|topic|segment|group)_' AND relnamespace NOT IN
  (SELECT oid FROM pg_namespace WHERE nspname IN ('pg_catalog', 'information_schema', 'pg_toast'));
SELECT rolname FROM pg_roles WHERE rolname LIKE 'pgbroker\_%' ORDER BY 1;
CREATE EXTENSION pgbroker;
DROP ROLE sec_producer, sec_consumer, sec_admin;
REVOKE CREATE ON SCHEMA public FROM sec_other;
DROP ROLE sec_other;
