-- tables: pgmq.q_<queue> and pgmq.a_<queue> as PGMQ's users read and write them
\set VERBOSITY terse
SELECT pgmq.create('tbl');
SELECT * FROM pgmq.send_batch('tbl', ARRAY['{"a": 1}', '{"a": 2}', '{"a": 3}']::jsonb[]);
SELECT count(*) FROM pgmq.q_tbl;
SELECT msg_id, read_ct, message FROM pgmq.q_tbl WHERE message @> '{"a": 2}';
-- DELETE acks, UPDATE of vt sets visibility, INSERT sends
DELETE FROM pgmq.q_tbl WHERE msg_id = 1;
UPDATE pgmq.q_tbl SET vt = now() + interval '1 hour' WHERE msg_id = 2;
SELECT msg_id FROM pgmq.read('tbl', 30, 10);
UPDATE pgmq.q_tbl SET message = '{}' WHERE msg_id = 2;
INSERT INTO pgmq.q_tbl (message, headers) VALUES ('{"a": 4}', '{"h": 1}') RETURNING msg_id, read_ct, message, headers;
SELECT msg_id, message FROM pgmq.q_tbl ORDER BY msg_id;
-- the archive is a table of its own
SELECT pgmq.archive('tbl', 3);
SELECT count(*) FROM pgmq.a_tbl;
DELETE FROM pgmq.a_tbl WHERE msg_id = 3;
\d pgmq.a_tbl
-- DROP EXTENSION pgmq removes the views and archives, keeps the queues;
-- detach_archive keeps an archive
SELECT pgmq.create('kept');
SELECT pgmq.detach_archive('kept');
SET client_min_messages = warning;
DROP EXTENSION pgmq CASCADE;
RESET client_min_messages;
SELECT relname FROM pg_class WHERE relnamespace = 'pgmq'::regnamespace AND relkind IN ('r', 'v') ORDER BY 1;
SELECT queue FROM broker.queues ORDER BY 1;
-- created again, it takes the queues back
CREATE EXTENSION pgmq;
SELECT pgmq.create('tbl');
SELECT msg_id, message FROM pgmq.q_tbl ORDER BY msg_id;
DROP TABLE pgmq.a_kept;
SELECT pgmq.create('kept');
SELECT pgmq.drop_queue('kept');
SELECT pgmq.drop_queue('tbl');
