-- topic_basic: publish, read, keys and partitions, offsets, the topics view
SET client_min_messages = warning;
SELECT broker.create_topic('orders', partitions => 4);

-- nothing is in the log before the transaction commits
BEGIN;
SELECT broker.publish('orders', '{"n": 1}', partition => 0);
SELECT broker.publish('orders', '{"n": 2}', partition => 0, headers => '{"type": "created"}');
SELECT count(*) AS visible_before_commit FROM broker.read('orders', 0, 0);
COMMIT;
SELECT partition, offset_id, key, payload, payload_bytes, headers,
	   published_at <= now() AS published
  FROM broker.read('orders', 0, 0);

-- from_offset is inclusive; max_records caps; past the end is empty
SELECT offset_id FROM broker.read('orders', 0, 1);
SELECT offset_id FROM broker.read('orders', 0, 0, 1);
SELECT count(*) FROM broker.read('orders', 0, 2);
SELECT count(*) FROM broker.read('orders', 0, 1000000);

-- a key always maps to the same partition: hashtextextended(key, 0) as an
-- unsigned 64-bit number, modulo the partitions
SELECT broker.publish('orders', jsonb_build_object('k', k), key => k)
  FROM unnest(ARRAY['alice', 'bob', 'carol', 'alice']) k;
SELECT k, broker.partition_for('orders', k) AS partition,
	   ((hashtextextended(k, 0)::numeric + 18446744073709551616) % 18446744073709551616 % 4)::int AS by_formula
  FROM unnest(ARRAY['alice', 'bob', 'carol']) k ORDER BY k;
SELECT r.partition, r.offset_id, r.key, r.payload
  FROM generate_series(0, 3) p, broker.read('orders', p, 0) r
 WHERE r.key IS NOT NULL ORDER BY r.key, r.offset_id;

-- without key or partition, one transaction sticks to one partition
SELECT broker.create_topic('sticky', partitions => 4);
BEGIN;
SELECT broker.publish('sticky', jsonb_build_object('sticky', i)) FROM generate_series(1, 5) i;
SELECT broker.publish_batch('sticky', ARRAY['{"sticky": 6}', '{"sticky": 7}']::jsonb[]);
COMMIT;
SELECT count(DISTINCT r.partition) AS partitions_used, count(*) AS records,
	   array_agg(r.payload->>'sticky' ORDER BY r.offset_id) AS in_order
  FROM generate_series(0, 3) p, broker.read('sticky', p, 0) r;
SELECT broker.drop_topic('sticky');

-- batches with keys, tombstones, binary payloads returned byte-identical
SELECT broker.publish_batch('orders', ARRAY['{"v": 1}', NULL, '{"v": 3}']::jsonb[],
							keys => ARRAY['x', 'x', 'y'], partition => 3);
SELECT broker.publish_bytes('orders', '\x00ff10'::bytea, partition => 3);
SELECT broker.publish_batch_bytes('orders', ARRAY['\x01'::bytea, '\x'::bytea], partition => 3);
SELECT offset_id, key, payload, payload_bytes, headers FROM broker.read('orders', 3, 0)
 WHERE key IN ('x', 'y') OR payload_bytes IS NOT NULL ORDER BY offset_id;

-- producer dedup: a dedup key seen within the topic's window drops the record
SELECT broker.publish('orders', '{"dedup": 1}', partition => 1, dedup_key => 'd-1');
SELECT broker.publish('orders', '{"dedup": 2}', partition => 1, dedup_key => 'd-1');
SELECT broker.publish('orders', '{"dedup": 3}', partition => 1, dedup_key => 'd-2');
SELECT payload FROM broker.read('orders', 1, 0) WHERE payload ? 'dedup';

-- offsets: earliest, latest (the next to assign), by time
SELECT p, broker.earliest_offset('orders', p) AS earliest, broker.latest_offset('orders', p) AS latest
  FROM generate_series(0, 3) p;
SELECT broker.offset_for_time('orders', 0, '-infinity') AS first,
	   broker.offset_for_time('orders', 0, 'infinity') = broker.latest_offset('orders', 0) AS past_end_is_end;
SELECT partition, earliest_offset, latest_offset, records, oldest_published_at IS NOT NULL AS has_records
  FROM broker.topic_partitions('orders');
SELECT topic, partitions, records, segments, earliest_offsets, latest_offsets,
	   oldest_record_age >= '0' AS has_age, bytes > 0 AS has_bytes, compacted, dedup_window
  FROM broker.topics;

-- subtransactions: records of a rolled-back savepoint are dropped
BEGIN;
SELECT broker.publish('orders', '{"sp": "kept"}', partition => 2);
SAVEPOINT a;
SELECT broker.publish('orders', '{"sp": "undone"}', partition => 2);
ROLLBACK TO SAVEPOINT a;
SAVEPOINT b;
SELECT broker.publish('orders', '{"sp": "kept too"}', partition => 2);
RELEASE SAVEPOINT b;
COMMIT;
SELECT offset_id, payload FROM broker.read('orders', 2, 0) WHERE payload ? 'sp';

-- a rolled-back transaction leaves no records and no gap
BEGIN;
SELECT broker.publish('orders', '{"rolled": "back"}', partition => 2);
ROLLBACK;
SELECT broker.publish('orders', '{"after": "rollback"}', partition => 2);
SELECT offset_id, payload FROM broker.read('orders', 2, 0);

-- published_at never decreases within a partition
SELECT bool_and(ok) AS monotonic FROM (
	SELECT published_at >= lag(published_at, 1, '-infinity') OVER (ORDER BY offset_id) AS ok
	  FROM broker.read('orders', 0, 0)) s;

-- adding partitions
SELECT broker.alter_topic('orders', partitions => 6);
SELECT broker.publish('orders', '{"new": "partition"}', partition => 5);
SELECT partition, offset_id, payload FROM broker.read('orders', 5, 0);
SELECT partitions FROM broker.topics WHERE topic = 'orders';

-- two-phase commit is refused for a transaction that published
BEGIN;
SELECT broker.publish('orders', '{"2pc": true}', partition => 0);
PREPARE TRANSACTION 'pgbroker_topic';
SELECT count(*) FROM broker.read('orders', 0, 0) WHERE payload ? '2pc';

-- a topic dropped before the producer commits
BEGIN;
SELECT broker.publish('orders', '{"late": true}', partition => 0);
SELECT broker.drop_topic('orders');
COMMIT;
SELECT broker.drop_topic('orders');
SELECT count(*) AS topics_left FROM broker.topic;
SELECT count(*) AS segments_left FROM broker.segment;
SELECT count(*) AS segment_tables_left FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'broker' AND c.relname ~ '^topic_[0-9]+_[0-9]+$';

-- privileges: producers publish, consumers read, others nothing; the
-- segment tables are not readable directly
SELECT broker.create_topic('private');
CREATE ROLE topic_producer LOGIN IN ROLE pgbroker_producer;
CREATE ROLE topic_consumer LOGIN IN ROLE pgbroker_consumer;
CREATE ROLE topic_other LOGIN;
SELECT broker.grant('send', 'topic_producer', topic => 'private'),
       broker.grant('consume', 'topic_consumer', topic => 'private'),
       broker.grant('browse', 'topic_consumer', topic => 'private');
SELECT broker._segment_table(t.id, 1) AS stbl FROM broker.topic t WHERE t.name = 'private' \gset
SET ROLE topic_producer;
SELECT broker.publish('private', '{"secret": 1}');
SELECT sqlstate_of($$SELECT * FROM broker.read('private', 0, 0)$$) AS producer_reads;
SELECT sqlstate_of($$SELECT broker.drop_topic('private')$$) AS producer_drops;
SELECT sqlstate_of(format('SELECT * FROM %s', :'stbl')) AS producer_reads_table;
RESET ROLE;
SET ROLE topic_consumer;
SELECT offset_id, payload FROM broker.read('private', 0, 0);
SELECT sqlstate_of($$SELECT broker.publish('private', '{"secret": 2}')$$) AS consumer_publishes;
SELECT sqlstate_of(format('SELECT * FROM %s', :'stbl')) AS consumer_reads_table;
RESET ROLE;
SET ROLE topic_other;
SELECT sqlstate_of($$SELECT broker.publish('private', '{"secret": 3}')$$) AS other_publishes;
SELECT sqlstate_of($$SELECT * FROM broker.read('private', 0, 0)$$) AS other_reads;
SELECT sqlstate_of($$SELECT * FROM broker.topics$$) AS other_views;
RESET ROLE;
DROP OWNED BY topic_producer, topic_consumer;
DROP ROLE topic_producer, topic_consumer, topic_other;
SELECT broker.drop_topic('private');
