-- topic_errors: every misuse of a topic gets a specific SQLSTATE and a clear message
\set VERBOSITY default
\set SHOW_CONTEXT never
SET client_min_messages = warning;
SELECT broker.create_topic('errs', partitions => 2);

-- unknown topic, bad names, duplicates
SELECT broker.publish('nope', '{}');
SELECT * FROM broker.read('nope', 0, 0);
SELECT broker.latest_offset('nope', 0);
SELECT broker.alter_topic('nope', partitions => 3);
SELECT broker.drop_topic('nope');
SELECT broker.drop_topic('nope', if_exists => true);
SELECT broker.create_topic('');
SELECT broker.create_topic(repeat('x', 201));
SELECT broker.create_topic(E'new\nline');
SELECT broker.create_topic('errs');
SELECT broker.create_topic('errs', if_not_exists => true);
SELECT broker.create_topic(NULL);
SELECT broker.publish(NULL, '{}');
SELECT * FROM broker.read(NULL, 0, 0);

-- partitions out of range, negative offsets, bad counts
SELECT broker.create_topic('bad', partitions => 0);
SELECT broker.create_topic('bad', partitions => 1025);
SELECT broker.create_topic('bad', partitions => NULL);
SELECT broker.alter_topic('errs', partitions => 1);
SELECT broker.alter_topic('errs', partitions => 5000);
SELECT broker.publish('errs', '{}', partition => 2);
SELECT broker.publish('errs', '{}', partition => -1);
SELECT broker.publish_batch('errs', ARRAY['{}']::jsonb[], partition => 7);
SELECT * FROM broker.read('errs', 2, 0);
SELECT * FROM broker.read('errs', -1, 0);
SELECT * FROM broker.read('errs', NULL, 0);
SELECT * FROM broker.read('errs', 0, -1);
SELECT * FROM broker.read('errs', 0, NULL);
SELECT * FROM broker.read('errs', 0, 0, 0);
SELECT * FROM broker.read('errs', 0, 0, 1000000);
SELECT broker.latest_offset('errs', 9);
SELECT broker.earliest_offset('errs', NULL);
SELECT broker.offset_for_time('errs', 0, NULL);

-- a NULL payload is a tombstone, which needs a key
SELECT broker.publish('errs', NULL);
SELECT broker.publish('errs', NULL, key => NULL, partition => 0);
SELECT broker.publish_bytes('errs', NULL);
SELECT broker.publish_batch('errs', ARRAY['{}', NULL]::jsonb[]);
SELECT broker.publish_batch('errs', ARRAY['{}', NULL]::jsonb[], keys => ARRAY['a', NULL]);
SELECT broker.publish_batch('errs', NULL);
SELECT broker.publish_batch('errs', ARRAY['{}', '{}']::jsonb[], keys => ARRAY['a']);

-- retention and other settings
SELECT broker.create_topic('bad', retention => '-1 hour');
SELECT broker.create_topic('bad', retention_bytes => -1);
SELECT broker.create_topic('bad', segment_interval => '0');
SELECT broker.create_topic('bad', segment_bytes => 1000);
SELECT broker.create_topic('bad', dedup_window => '-1 second');
SELECT broker.create_topic('bad', tombstone_grace => '-1 day');
SELECT broker.alter_topic('errs', retention => '-1 hour');
SELECT broker.alter_topic('errs', retention_bytes => -5);

-- malformed headers, oversize records
SELECT broker.publish('errs', '{}', headers => '[1, 2]');
SELECT broker.publish('errs', '{}', headers => '"text"');
SET pgbroker.max_message_size = 1024;
SELECT broker.publish('errs', jsonb_build_object('big', repeat('x', 2000)));
SELECT broker.publish_batch('errs', ARRAY[jsonb_build_object('big', repeat('x', 2000))]);
RESET pgbroker.max_message_size;
SELECT broker.publish('errs', '{}', dedup_key => repeat('k', 600));

-- a read-only transaction cannot publish or send (rows are written without
-- the executor, so the check is explicit)
BEGIN READ ONLY;
SELECT broker.publish('errs', '{}');
ROLLBACK;
BEGIN READ ONLY;
SELECT broker.publish_batch('errs', ARRAY['{}']::jsonb[]);
ROLLBACK;
SELECT broker.create_queue('ro_queue');
BEGIN READ ONLY;
SELECT broker.send('ro_queue', '{}');
ROLLBACK;
BEGIN READ ONLY;
SELECT broker.send_batch('ro_queue', ARRAY['{}']::jsonb[]);
ROLLBACK;
SELECT broker.drop_queue('ro_queue');
-- nor poll: a poll that hands out records writes its group's offsets
SELECT broker.create_topic('ro_topic', partitions => 1);
SELECT broker.publish('ro_topic', '{}');
SELECT broker.create_group('ro_topic', 'g', 'earliest');
BEGIN READ ONLY;
SELECT count(*) FROM broker.poll('ro_topic', 'g', 10);
ROLLBACK;
SELECT count(*) AS still_there FROM broker.poll('ro_topic', 'g', 10);
SELECT broker.drop_topic('ro_topic');

-- nothing above left a record behind
SELECT count(*) AS records FROM broker.read('errs', 0, 0);
SELECT count(*) AS topics FROM broker.topic;

-- the SQLSTATEs, one per misuse
SELECT stmt, sqlstate_of(stmt) AS sqlstate FROM (VALUES
	($$SELECT broker.publish('nope', '{}')$$),
	($$SELECT * FROM broker.read('nope', 0, 0)$$),
	($$SELECT broker.create_topic('')$$),
	($$SELECT broker.create_topic('errs')$$),
	($$SELECT broker.create_topic(NULL)$$),
	($$SELECT broker.create_topic('bad', partitions => 0)$$),
	($$SELECT broker.alter_topic('errs', partitions => 1)$$),
	($$SELECT broker.publish('errs', '{}', partition => 2)$$),
	($$SELECT * FROM broker.read('errs', 2, 0)$$),
	($$SELECT * FROM broker.read('errs', 0, -1)$$),
	($$SELECT * FROM broker.read('errs', 0, 0, 0)$$),
	($$SELECT broker.publish('errs', NULL)$$),
	($$SELECT broker.publish_batch('errs', ARRAY['{}', '{}']::jsonb[], keys => ARRAY['a'])$$),
	($$SELECT broker.create_topic('bad', retention => '-1 hour')$$),
	($$SELECT broker.publish('errs', '{}', headers => '[1, 2]')$$),
	($$SELECT broker.latest_offset('errs', 9)$$)
) v(stmt);
SELECT broker.drop_topic('errs');

-- found by test/tools/fuzz.c: a commit on a partition added after the
-- group was created (no group state yet) works, instead of failing with
-- 23502 on an internal column
SELECT broker.create_topic('grow');
SELECT broker.create_group('grow', 'g', 'earliest');
SELECT broker.alter_topic('grow', partitions => 2);
SELECT broker.commit('grow', 'g', 1, 1);
SELECT broker.commit('grow', 'g', 1, 0);
SELECT partition, committed_offset, lag, skipped FROM broker.consumer_lag WHERE topic = 'grow' ORDER BY 1;
SELECT broker.drop_topic('grow');

-- found by test/tools/fuzz.c: intervals past the end of timestamptz count
-- as 1000 years; maintenance and dedup keys keep working instead of
-- failing with 22008 (every topic's maintenance failed with it before)
SELECT broker.create_topic('forever', segment_interval => '178000000 years', retention => '178000000 years',
						   dedup_window => '178000000 years', tombstone_grace => '178000000 years',
						   compacted => true);
SELECT broker.publish('forever', '{}', key => 'k', dedup_key => 'd');
SELECT topic, segments_dropped, rotated FROM broker.maintain_topics() WHERE topic = 'forever';
SELECT count(*) AS records FROM broker.read('forever', 0, 0);
SELECT broker.drop_topic('forever');

-- found by test/tools/fuzz.c: poll_wait hands out a record stored out of
-- line (TOAST) instead of failing with "cannot fetch toast data without an
-- active snapshot" (XX000) after its poll committed
SELECT broker.create_topic('big');
SELECT broker.create_group('big', 'g', 'earliest');
SELECT broker.publish('big', jsonb_build_object('x', (SELECT string_agg(md5(i::text), '')
														FROM generate_series(1, 1000) i)));
CALL broker.poll_wait('big', 'g', 10, wait => '1 second', consumer => 'c', lease => '1 minute') \gset
SELECT cardinality(:'records'::broker.record[]) AS polled,
	   length((:'records'::broker.record[])[1].payload->>'x') AS payload_chars;
SELECT broker.drop_topic('big');

-- found by test/tools/fuzz.c: members of pgbroker_consumer (and of
-- pgbroker_admin) can read broker.consumer_lag, as documented, instead of
-- failing with 42501 on one of its internal functions
CREATE ROLE regress_pgbroker_lag IN ROLE pgbroker_consumer;
SELECT broker.create_topic('lag', partitions => 2);
SELECT broker.create_group('lag', 'g');
SELECT broker.grant('browse', 'regress_pgbroker_lag', topic => 'lag');
SET ROLE regress_pgbroker_lag;
SELECT topic, consumer_group, partition, committed_offset, lag FROM broker.consumer_lag WHERE topic = 'lag' ORDER BY 3;
RESET ROLE;
SELECT broker.drop_topic('lag');
DROP OWNED BY regress_pgbroker_lag;
DROP ROLE regress_pgbroker_lag;

-- start_partition_at: a new or empty partition starts at an offset; never back
SELECT broker.create_topic('starts', partitions => 2);
SELECT broker.publish('starts', '{"n": 1}', partition => 0);
SELECT broker.start_partition_at('starts', 1, 1000);
SELECT broker.earliest_offset('starts', 1), broker.latest_offset('starts', 1);
BEGIN;
SELECT broker.publish('starts', '{"n": 2}', partition => 1);
SELECT broker.publish('starts', '{"n": 3}', partition => 1);
COMMIT;
SELECT partition, offset_id, payload FROM broker.read('starts', 1, 0);
SELECT broker.latest_offset('starts', 1);
SELECT broker.start_partition_at('starts', 0, 5);
SELECT broker.start_partition_at('starts', 1, 2000);
SELECT broker.start_partition_at('starts', 2, 0);
SELECT broker.start_partition_at('starts', 1, -1);
SELECT broker.start_partition_at('nope', 0, 0);
-- an empty partition may move forward again, not back
SELECT broker.create_topic('starts2');
SELECT broker.start_partition_at('starts2', 0, 10);
SELECT broker.start_partition_at('starts2', 0, 20);
SELECT broker.start_partition_at('starts2', 0, 15);
SELECT broker.publish('starts2', '{}');
SELECT offset_id FROM broker.read('starts2', 0, 0);
SELECT broker.drop_topic('starts'), broker.drop_topic('starts2');
-- publish_batch with one partition per record (NULL: by key, else sticky)
SELECT broker.create_topic('parts', partitions => 3);
SELECT broker.publish_batch('parts', ARRAY['{"n": 1}', '{"n": 2}', '{"n": 3}', '{"n": 4}']::jsonb[],
	keys => ARRAY[NULL, NULL, 'k', 'k'], partitions => ARRAY[2, 0, 1, NULL]);
SELECT partition, offset_id, key, payload FROM generate_series(0, 2) p, broker.read('parts', p, 0) ORDER BY payload->>'n';
SELECT broker.partition_for('parts', 'k');
SELECT broker.publish_batch('parts', ARRAY['{}']::jsonb[], partitions => ARRAY[3]);
SELECT broker.publish_batch('parts', ARRAY['{}', '{}']::jsonb[], partitions => ARRAY[1]);
SELECT broker.publish_batch('parts', ARRAY['{}']::jsonb[], partition => 0, partitions => ARRAY[1]);
SELECT broker.drop_topic('parts');
