-- privileges: PGMQ's calls map onto pgbroker's privileges on the queue
\set VERBOSITY terse
CREATE ROLE pgmq_app LOGIN IN ROLE pgbroker_producer, pgbroker_consumer;
CREATE ROLE pgmq_reader LOGIN IN ROLE pgbroker_consumer;
CREATE ROLE pgmq_stranger LOGIN IN ROLE pgbroker_consumer;
SELECT broker.grant('create', 'pgmq_app');
-- the application creates its queues and owns them: everything works
SET ROLE pgmq_app;
SELECT pgmq.create('app');
SELECT * FROM pgmq.send('app', '{"n": 1}');
SELECT * FROM pgmq.send_batch('app', ARRAY['{"n": 2}', '{"n": 3}', '{"n": 4}']::jsonb[]);
SELECT msg_id, read_ct FROM pgmq.read('app', 30, 1);
SELECT pgmq.delete('app', 1);
SELECT pgmq.archive('app', 2);
SELECT msg_id FROM pgmq.set_vt('app', 3, 0);
SELECT count(*) FROM pgmq.q_app;
SELECT count(*) FROM pgmq.a_app;
SELECT queue_name, queue_length FROM pgmq.metrics('app');
RESET ROLE;
-- a role with consume only: reads and pops, but no delete by msg_id
SELECT broker.grant('consume', 'pgmq_reader', queue => 'app');
SET ROLE pgmq_reader;
SELECT pgmq.create('app');
SELECT msg_id FROM pgmq.read('app', 30, 1);
SELECT pgmq.delete('app', 3);
SELECT pgmq.archive('app', 3);
SELECT * FROM pgmq.set_vt('app', 3, 0);
SELECT count(*) FROM pgmq.q_app;
SELECT count(*) FROM pgmq.a_app;
SELECT * FROM pgmq.send('app', '{}');
SELECT pgmq.purge_queue('app');
SELECT pgmq.drop_queue('app');
SELECT pgmq.metrics('app');
DELETE FROM pgmq.q_app;
RESET ROLE;
-- with manage and browse, PGMQ's delete, archive and set_vt by msg_id work
SELECT broker.grant('manage', 'pgmq_reader', queue => 'app');
SELECT broker.grant('browse', 'pgmq_reader', queue => 'app');
SET ROLE pgmq_reader;
SELECT msg_id FROM pgmq.set_vt('app', 3, 0);
SELECT pgmq.archive('app', 3);
SELECT msg_id FROM pgmq.pop('app');
SELECT count(*) FROM pgmq.a_app;
RESET ROLE;
-- a role with nothing on the queue: nothing at all
SET ROLE pgmq_stranger;
SELECT * FROM pgmq.send('app', '{}');
SELECT * FROM pgmq.read('app', 30, 1);
SELECT * FROM pgmq.pop('app');
SELECT count(*) FROM pgmq.q_app;
SELECT count(*) FROM pgmq.a_app;
INSERT INTO pgmq.a_app (msg_id, vt, message) VALUES (100, now(), '{}');
SELECT pgmq.create('mine');
SELECT pgmq._attach('app', false, false);
SELECT pgmq.detach_archive('app');
-- a queue dropped with pgbroker leaves its archive to its owner: nobody else may drop it
SELECT pgmq._attach('App', true, true);
SELECT queue_name, is_partitioned FROM pgmq.meta WHERE lower(queue_name) = 'app';
SELECT count(*) AS visible_metrics FROM pgmq.metrics_all();
RESET ROLE;
SET ROLE pgmq_app;
SELECT pgmq.create('gone');
SELECT broker.drop_queue('gone');
RESET ROLE;
SET ROLE pgmq_stranger;
SELECT pgmq.drop_queue('gone');
SELECT pgmq._forget('gone');
SELECT to_regclass('pgmq.a_gone') IS NOT NULL AS archive_kept;
RESET ROLE;
SET ROLE pgmq_app;
SELECT pgmq.drop_queue('gone');
SELECT to_regclass('pgmq.a_gone') IS NULL AS archive_dropped, count(*) AS meta_rows FROM pgmq.meta WHERE queue_name = 'gone';
SELECT pgmq.drop_queue('app');
RESET ROLE;
SELECT broker.revoke('create', 'pgmq_app');
DROP ROLE pgmq_app, pgmq_reader, pgmq_stranger;
