--
-- Waiting without a snapshot (claim_wait, poll_wait) and notifications:
-- results, and the SQLSTATE of each misuse.  When they wake is tested by
-- test/tools/wait_test, which can watch a backend sleep.
--
SET client_min_messages = warning;
SELECT broker.create_queue('w');
SELECT count(*) FROM broker.send_batch('w', ARRAY['{"n": 1}', '{"n": 2}', '{"n": 3}']::jsonb[]);

-- a leased claim: the messages come in the INOUT array
CALL broker.claim_wait('w', 2, '1 minute', '0', NULL, NULL) \gset
SELECT m.id, m.payload, m.attempt, m.lease_until > now() AS leased
  FROM unnest(:'messages'::broker.message[]) m ORDER BY m.id;
SELECT count(*) FILTER (WHERE broker.ack('w', m.id, m.receipt)) AS acked
  FROM unnest(:'messages'::broker.message[]) m;
-- a filter that nothing matches: an empty wait returns no array
CALL broker.claim_wait('w', 10, NULL, '10 milliseconds', '{"k": "v"}', NULL);
CALL broker.claim_wait('w', 10, NULL, '0', NULL, NULL) \gset
SELECT m.id, m.payload FROM unnest(:'messages'::broker.message[]) m;
CALL broker.claim_wait('w', 1, NULL, '10 milliseconds', NULL, NULL);

-- a topic read by a leased consumer
SELECT broker.create_topic('wt', partitions => 2);
SELECT broker.create_group('wt', 'g', start => 'earliest');
SELECT broker.publish('wt', jsonb_build_object('n', i), partition => i % 2) FROM generate_series(1, 4) i;
CALL broker.poll_wait('wt', 'g', 10, '0', 'c1', '1 minute', NULL) \gset
SELECT r.partition, r.offset_id, r.payload FROM unnest(:'records'::broker.record[]) r ORDER BY 1, 2;
SELECT broker.commit('wt', 'g', :'records'::broker.record[], 'c1');
SELECT partition, committed_offset, lag, lease_holder FROM broker.consumer_lag ORDER BY 1;
CALL broker.poll_wait('wt', 'g', 10, '10 milliseconds', 'c1', '1 minute', NULL);

-- the _json forms: one jsonb array of objects, which client drivers decode
SELECT count(*) FROM broker.send_batch('w', ARRAY['{"n": 5}', '{"n": 6}']::jsonb[]);
CALL broker.claim_wait_json('w', 5, '1 minute', '0', NULL, NULL) \gset
SELECT jsonb_typeof(:'messages'::jsonb) AS kind, jsonb_array_length(:'messages'::jsonb) AS n,
	   (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(:'messages'::jsonb->0) k) AS fields;
SELECT e->'payload' AS payload, (e->>'attempt')::int AS attempt
  FROM jsonb_array_elements(:'messages'::jsonb) e ORDER BY (e->>'id')::bigint;
SELECT count(*) FILTER (WHERE broker.ack('w', (e->>'id')::bigint, (e->>'receipt')::uuid)) AS acked
  FROM jsonb_array_elements(:'messages'::jsonb) e;
CALL broker.claim_wait_json('w', 5, NULL, '10 milliseconds', NULL, NULL);
SELECT broker.publish('wt', '{"n": 5}', partition => 0);
CALL broker.poll_wait_json('wt', 'g', 10, '0', 'c1', '1 minute', NULL) \gset
SELECT (e->>'partition')::int AS partition, (e->>'offset_id')::bigint AS offset_id, e->'payload' AS payload
  FROM jsonb_array_elements(:'records'::jsonb) e;

-- misuse
\set VERBOSITY default
\set SHOW_CONTEXT never
BEGIN;
CALL broker.claim_wait('w', 1, NULL, '0', NULL, NULL);
ROLLBACK;
BEGIN;
CALL broker.poll_wait('wt', 'g', 10, '0', 'c1', '1 minute', NULL);
ROLLBACK;
CALL broker.poll_wait('wt', 'g', 10, '0', NULL, NULL, NULL);
\set VERBOSITY terse
CALL broker.claim_wait('nope', 1, NULL, '0', NULL, NULL);
CALL broker.claim_wait('w', 0, NULL, '0', NULL, NULL);
CALL broker.claim_wait('w', 1, '-1 second', '0', NULL, NULL);
CALL broker.claim_wait('w', 1, NULL, '-1 second', NULL, NULL);
CALL broker.claim_wait('w', 1, NULL, '2 days', NULL, NULL);
CALL broker.claim_wait('w', 1, NULL, '0', '[1]', NULL);
CALL broker.claim_wait(NULL, 1, NULL, '0', NULL, NULL);
CALL broker.poll_wait('nope', 'g', 10, '0', 'c1', '1 minute', NULL);
CALL broker.poll_wait('wt', 'g', 0, '0', 'c1', '1 minute', NULL);
CALL broker.poll_wait('wt', 'g', 10, '-1 second', 'c1', '1 minute', NULL);
CALL broker.poll_wait('wt', 'g', 10, '0', 'c1', '0', NULL);
-- from inside a function: always a transaction block
SELECT sqlstate_of($$CALL broker.claim_wait('w', 1, NULL, '0', NULL, NULL)$$) AS in_function;

-- notifications: off by default, on and off per queue or topic
SELECT name, notify FROM broker.queue WHERE name = 'w';
SELECT broker.alter_queue('w', notify => true);
SELECT broker.alter_topic('wt', notify => true);
SELECT (SELECT notify FROM broker.queue WHERE name = 'w') AS queue_notify,
       (SELECT notify FROM broker.topic WHERE name = 'wt') AS topic_notify;
SELECT broker.alter_queue('w', notify => false);
SELECT notify FROM broker.queue WHERE name = 'w';
SELECT stmt, sqlstate_of(stmt) AS sqlstate FROM (VALUES
	($$SELECT broker.alter_queue('w', notify => NULL)$$),
	($$SELECT broker.alter_queue('nope', notify => true)$$),
	($$SELECT broker.alter_topic('wt', notify => NULL)$$),
	($$SELECT broker.alter_topic('nope', notify => true)$$)
) v(stmt);
-- a channel is at most 63 bytes: a name that would make it longer can be
-- a queue, but cannot notify
SELECT broker.create_queue(repeat('q', 50));
\set VERBOSITY default
SELECT broker.alter_queue(repeat('q', 50), notify => true);
\set VERBOSITY terse
SELECT broker.drop_queue(repeat('q', 50));
SELECT broker.drop_queue('w');
SELECT broker.drop_topic('wt');
