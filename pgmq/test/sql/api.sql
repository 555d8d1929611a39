-- api: every function of PGMQ 1.5, as PGMQ documents it
\set VERBOSITY terse
-- names: PGMQ's rules, folded to lower case
SELECT pgmq.create('Orders');
SELECT pgmq.create('orders');
SELECT queue_name, is_partitioned, is_unlogged FROM pgmq.list_queues() ORDER BY 1;
SELECT queue FROM broker.queues;
SELECT pgmq.format_table_name('Orders', 'q'), pgmq.format_table_name('cat-dog', 'a');
SELECT pgmq.create('bad$name');
SELECT pgmq.create('semi;colon');
SELECT pgmq.create('dash--dash');
SELECT pgmq.create($$quo'te$$);
SELECT pgmq.create(repeat('a', 48));
SELECT pgmq.create(repeat('a', 47));
SELECT pgmq.create(repeat('é', 40));
SELECT pgmq.drop_queue(repeat('a', 47));
SELECT pgmq.send('bad;name', '{}');
SELECT pgmq.create_unlogged('unlogged');
SELECT pgmq.create_non_partitioned('plain');
-- as in PGMQ, create_partitioned needs pg_partman; the queue is an ordinary one
SELECT pgmq.create_partitioned('parted');
CREATE EXTENSION pg_partman;
SELECT pgmq.create_partitioned('parted', '1 day', '7 days');
SELECT queue_name, is_partitioned, is_unlogged FROM pgmq.list_queues() ORDER BY 1;
SELECT pgmq.list_queues() IS NOT NULL AS record_text;
-- convert_archive_partitioned: the archive partitioned by msg_id with
-- pg_partman; the old archive keeps its rows as a_<queue>_old, as in PGMQ
SELECT pgmq.create('conv');
SELECT * FROM pgmq.send_batch('conv', ARRAY['1', '2', '3']::jsonb[]);
SELECT pgmq.archive('conv', 1);
SELECT pgmq.convert_archive_partitioned('conv', '10', '100');
SELECT pgmq.convert_archive_partitioned('conv');
SELECT relkind FROM pg_class WHERE oid = 'pgmq.a_conv'::regclass;
SELECT * FROM pgmq.archive('conv', ARRAY[2, 3]) ORDER BY 1;
SELECT msg_id, message FROM pgmq.a_conv ORDER BY 1;
SELECT msg_id, message FROM pgmq.a_conv_old ORDER BY 1;
SELECT extnamespace::regnamespace AS partman FROM pg_extension WHERE extname = 'pg_partman' \gset
SELECT parent_table, partition_interval, retention FROM :partman.part_config WHERE parent_table = 'pgmq.a_conv';
SELECT pgmq.convert_archive_partitioned('nope');
SELECT pgmq.drop_queue('conv');
SELECT count(*) AS partman_forgot FROM :partman.part_config WHERE parent_table = 'pgmq.a_conv';
DROP TABLE pgmq.a_conv_old;

-- send: every overload; delays as seconds or a time; headers; NULL messages
SELECT * FROM pgmq.send('orders', '{"n": 1}');
SELECT * FROM pgmq.send('orders', '{"n": 2}', '{"h": "x"}'::jsonb);
SELECT * FROM pgmq.send('orders', '{"n": 3}', 3600);
SELECT * FROM pgmq.send('orders', '{"n": 4}', now() + interval '1 hour');
SELECT * FROM pgmq.send('orders', '{"n": 5}', '{"h": "y"}'::jsonb, 0);
SELECT * FROM pgmq.send('orders', '{"n": 6}', '{"h": "z"}'::jsonb, now() - interval '1 hour');
SELECT * FROM pgmq.send('orders', NULL);
SELECT * FROM pgmq.send('orders', '{"n": 8}', -5);
SELECT * FROM pgmq.send('orders', '{}', NULL::integer);
SELECT msg_id, read_ct, vt > now() + interval '59 minutes' AS delayed, message, headers
  FROM pgmq.q_orders ORDER BY msg_id;
-- send_batch: every overload; headers zip with messages
SELECT * FROM pgmq.send_batch('plain', ARRAY['{"b": 1}', '{"b": 2}']::jsonb[]);
SELECT * FROM pgmq.send_batch('plain', ARRAY['{"b": 3}']::jsonb[], 3600);
SELECT * FROM pgmq.send_batch('plain', ARRAY['{"b": 4}']::jsonb[], now() + interval '1 hour');
SELECT * FROM pgmq.send_batch('plain', ARRAY['{"b": 5}', '{"b": 6}']::jsonb[], ARRAY['{"h": 1}', '{"h": 2}']::jsonb[]);
SELECT * FROM pgmq.send_batch('plain', ARRAY['{"b": 7}', '{"b": 8}']::jsonb[], ARRAY['{"h": 3}', '{"h": 3}']::jsonb[], 0);
SELECT * FROM pgmq.send_batch('plain', ARRAY['{"b": 9}', '{"b": 10}']::jsonb[], ARRAY['{"h": 4}']::jsonb[], now());
SELECT * FROM pgmq.send_batch('plain', ARRAY[]::jsonb[]);
SELECT msg_id, message, headers FROM pgmq.q_plain ORDER BY msg_id;

-- read: in order, read_ct counted, vt set; conditional on the message
SELECT msg_id, read_ct, message, headers, vt > clock_timestamp() + interval '25 seconds' AS vt_set
  FROM pgmq.read('orders', 30, 2);
SELECT msg_id, read_ct, message FROM pgmq.read('orders', 30, 10, '{"n": 8}');
SELECT msg_id, read_ct, message FROM pgmq.read('orders', 30, 10, NULL);
SELECT count(*) AS nothing_left FROM pgmq.read('orders', 30, 10);
SELECT count(*) FROM pgmq.read('orders', 30, 0);
SELECT count(*) FROM pgmq.read('orders', 30, -1);
SELECT count(*) FROM pgmq.read('orders', NULL, 1);
-- vt => 0: read, counted, and visible again at once
SELECT * FROM pgmq.send('plain', '{"zero": 1}') \gset zero_
SELECT read_ct FROM pgmq.read('plain', 0, 1, '{"zero": 1}');
SELECT read_ct FROM pgmq.read('plain', 0, 1, '{"zero": 1}');

-- set_vt: on a message read or not, counted or not; returns the message
SELECT msg_id, read_ct, vt > clock_timestamp() + interval '99 seconds' AS later
  FROM pgmq.set_vt('plain', :zero_send, 100);
SELECT count(*) AS hidden FROM pgmq.read('plain', 0, 1, '{"zero": 1}');
SELECT msg_id, read_ct, vt <= clock_timestamp() AS now_visible FROM pgmq.set_vt('plain', :zero_send, 0);
SELECT read_ct FROM pgmq.read('plain', 0, 1, '{"zero": 1}');
SELECT * FROM pgmq.set_vt('plain', 999999, 0);
SELECT msg_id FROM pgmq.set_vt('orders', 1, -10);
SELECT msg_id, read_ct FROM pgmq.read('orders', 30, 1);

-- delete and archive, one or many; unknown ids are skipped
SELECT pgmq.delete('orders', 1);
SELECT pgmq.delete('orders', 1);
SELECT * FROM pgmq.delete('orders', ARRAY[2, 5, 999]) ORDER BY 1;
SELECT * FROM pgmq.delete('orders', ARRAY[]::bigint[]);
SELECT pgmq.archive('orders', 6);
SELECT pgmq.archive('orders', 6);
SELECT * FROM pgmq.archive('orders', ARRAY[7, 8, 999]) ORDER BY 1;
SELECT msg_id, read_ct, archived_at >= enqueued_at AS later, message, headers FROM pgmq.a_orders ORDER BY msg_id;
SELECT msg_id FROM pgmq.q_orders ORDER BY msg_id;

-- pop: takes the first visible message, read_ct as stored
SELECT msg_id, read_ct, message FROM pgmq.pop('plain');
SELECT msg_id, read_ct, message FROM pgmq.pop('plain');
SELECT count(*) FROM pgmq.pop('unlogged');

-- read_with_poll: returns at once when there is something, waits otherwise
SELECT msg_id, read_ct FROM pgmq.read_with_poll('plain', 30, 2);
SELECT clock_timestamp() AS t0 \gset
SELECT count(*) FROM pgmq.read_with_poll('unlogged', 30, 1, 1, 100);
SELECT clock_timestamp() - :'t0' >= interval '0.9 seconds' AS waited;
SELECT count(*) FROM pgmq.read_with_poll('unlogged', 30, 1, 0);

-- metrics: measured by pgbroker, never by counting the table
SELECT * FROM pgmq.send_batch('unlogged', ARRAY['1', '2', '3']::jsonb[]);
SELECT * FROM pgmq.send('unlogged', '4', 3600);
SELECT msg_id FROM pgmq.read('unlogged', 30, 1);
SELECT queue_name, queue_length, newest_msg_age_sec, oldest_msg_age_sec, total_messages,
       scrape_time = now() AS now, queue_visible_length
  FROM pgmq.metrics('unlogged');
SELECT queue_name, queue_length, total_messages FROM pgmq.metrics('Orders');
SELECT queue_name, queue_length FROM pgmq.metrics_all() ORDER BY 1;
SELECT * FROM pgmq.metrics('nope');
SELECT queue_name, queue_length, newest_msg_age_sec, total_messages FROM pgmq.metrics('parted');

-- purge_queue: the count removed; ids keep counting
SELECT pgmq.purge_queue('unlogged');
SELECT * FROM pgmq.send('unlogged', '{}');

-- missing queues
SELECT * FROM pgmq.send('nope', '{}');
SELECT * FROM pgmq.read('nope', 1, 1);
SELECT pgmq.drop_queue('nope');

-- drop_queue: the queue, its view, its archive and its row in meta
SELECT pgmq.drop_queue('plain');
SELECT pgmq.drop_queue('parted', true);
SELECT to_regclass('pgmq.q_plain') IS NULL AS no_view, to_regclass('pgmq.a_plain') IS NULL AS no_archive;
SELECT queue_name FROM pgmq.list_queues() ORDER BY 1;
SELECT queue FROM broker.queues ORDER BY 1;

-- in a transaction that rolls back, nothing stays
BEGIN;
SELECT pgmq.create('rolled_back');
ROLLBACK;
SELECT to_regclass('pgmq.q_rolled_back'), count(*) FROM pgmq.meta WHERE queue_name = 'rolled_back';

-- what pgbroker adds is there: the queue is an ordinary pgbroker queue
SELECT * FROM pgmq.send('unlogged', '{"via": "pgmq"}');
SELECT payload FROM broker.claim('unlogged', 10) ORDER BY id;
