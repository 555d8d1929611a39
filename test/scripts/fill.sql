-- test/scripts/fill.sql - the state the backup tests (dump_restore.sh,
-- basebackup.sh) copy: a queue with a message in flight and a dead
-- letter, a topic with a sealed and an active segment, and a consumer
-- group with committed offsets.
SET client_min_messages = warning;
CREATE EXTENSION pgbroker;
SELECT broker.create_queue('jobs', max_attempts => 1);
SELECT broker.send('jobs', jsonb_build_object('n', i)) FROM generate_series(1, 5) i;
SELECT count(*) FROM broker.claim('jobs', 1, lease => '1 hour');           -- one in flight
SELECT broker.nack('jobs', id, error => 'boom') FROM broker.claim('jobs');  -- one dead letter
SELECT broker.create_topic('events', partitions => 2, segment_interval => '1 microsecond');
SELECT broker.publish('events', jsonb_build_object('n', i), partition => i % 2) FROM generate_series(1, 10) i;
SELECT count(*) FROM broker.maintain_topics();                               -- seal segment 1
SELECT broker.publish('events', jsonb_build_object('n', i), partition => i % 2) FROM generate_series(11, 14) i;
SELECT broker.create_group('events', 'billing', start => 'earliest');
SELECT count(*) FROM broker.poll('events', 'billing', 5);                  -- committed offsets
