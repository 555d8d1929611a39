-- topic_retention: segments, rotation, retention by age and size, compaction
SET client_min_messages = warning;

-- rotation: maintain() seals the current segment once it is older than
-- segment_interval (and not empty), and the next one takes over with the
-- end offsets as its start offsets
SELECT broker.create_topic('logs', partitions => 2, retention => '1 hour',
						   segment_interval => '1 microsecond');
SELECT broker.publish_batch('logs', array_agg(jsonb_build_object('n', i)), partition => 0)
  FROM generate_series(0, 9) i;
SELECT broker.publish('logs', '{"p1": 0}', partition => 1);
SELECT topic, segments_dropped, rotated FROM broker.maintain_topics() ORDER BY rotated;
SELECT s.seg_no, s.start_offsets, s.sealed_at IS NOT NULL AS sealed, s.activated_at IS NOT NULL AS active
  FROM broker.segment s JOIN broker.topic t ON t.id = s.topic_id WHERE t.name = 'logs' ORDER BY s.seg_no;
SELECT broker.publish_batch('logs', array_agg(jsonb_build_object('n', i)), partition => 0)
  FROM generate_series(10, 14) i;
-- offsets continue across segments, and a read crosses them
SELECT min(offset_id), max(offset_id), count(*) FROM broker.read('logs', 0, 0);
SELECT offset_id FROM broker.read('logs', 0, 8, 4);
-- segment 2 has records and is rotated; segment 3 is empty and is not
SELECT topic, rotated FROM broker.maintain_topics() ORDER BY rotated;
SELECT topic, rotated FROM broker.maintain_topics();
SELECT count(*) AS segments FROM broker.segment s JOIN broker.topic t ON t.id = s.topic_id WHERE t.name = 'logs';

-- retention by age drops whole sealed segments (pretend the first one was
-- sealed two hours ago); the earliest offset moves and reads start there
UPDATE broker.segment s SET sealed_at = now() - interval '2 hours'
  FROM broker.topic t WHERE t.id = s.topic_id AND t.name = 'logs' AND s.seg_no = 1;
SELECT topic, segments_dropped FROM broker.maintain_topics() WHERE segments_dropped > 0;
SELECT broker.earliest_offset('logs', 0) AS earliest_0, broker.earliest_offset('logs', 1) AS earliest_1,
	   broker.latest_offset('logs', 0) AS latest_0;
SELECT min(offset_id), count(*) FROM broker.read('logs', 0, 0);
SELECT records, segments, earliest_offsets, latest_offsets FROM broker.topics WHERE topic = 'logs';
-- a read that asks for a dropped offset gets the earliest retained one
SELECT offset_id FROM broker.read('logs', 0, 3, 1);
-- the segment table is gone, not emptied row by row
SELECT count(*) AS segment_tables FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'broker' AND c.relname ~ ('^topic_' || (SELECT id FROM broker.topic WHERE name = 'logs') || '_[0-9]+$');

-- retention by size: sealed segments go, oldest first, while the rest
-- still hold retention_bytes; the current segment always stays
SELECT broker.alter_topic('logs', retention_bytes => 1, clear_retention => true);
SELECT topic, segments_dropped, rotated FROM broker.maintain_topics();
SELECT segments, earliest_offsets = latest_offsets AS all_dropped FROM broker.topics WHERE topic = 'logs';
SELECT broker.publish('logs', '{"after": "retention"}', partition => 0);
SELECT offset_id, payload FROM broker.read('logs', 0, 0);
SELECT broker.drop_topic('logs');

-- compaction keeps the latest record of each key in sealed segments and
-- drops tombstones past their grace period; records without a key stay
SELECT broker.create_topic('state', compacted => true, segment_interval => '1 microsecond',
						   tombstone_grace => '0');
SELECT broker.publish_batch('state',
	ARRAY['{"v": 1}', '{"v": 1}', '{"v": 2}', NULL, '{"nokey": true}', '{"v": 3}']::jsonb[],
	keys => ARRAY['a', 'b', 'a', 'b', NULL, 'c']);
SELECT broker.publish('state', '{"v": 4}', key => 'c');
SELECT topic, rotated FROM broker.maintain_topics() WHERE rotated;
SELECT topic, records_compacted FROM broker.maintain_topics();
SELECT offset_id, key, payload FROM broker.read('state', 0, 0);
-- the current segment is never compacted: c's record stays until it is sealed
SELECT broker.publish('state', '{"v": 5}', key => 'c');
SELECT offset_id, key, payload FROM broker.read('state', 0, 0);
-- once sealed (first run) and compacted (next run), c's older record goes
SELECT topic, records_compacted, rotated FROM broker.maintain_topics() ORDER BY rotated;
SELECT topic, records_compacted FROM broker.maintain_topics();
SELECT offset_id, key, payload FROM broker.read('state', 0, 0);
SELECT broker.drop_topic('state');

-- producer dedup keys are forgotten after the topic's window
SELECT broker.create_topic('dd', dedup_window => '1 millisecond');
SELECT broker.publish('dd', '{"try": 1}', dedup_key => 'k');
SELECT pg_sleep(0.01);
SELECT broker.publish('dd', '{"try": 2}', dedup_key => 'k');
SELECT payload FROM broker.read('dd', 0, 0);
SELECT pg_sleep(0.01);
SELECT topic, dedup_keys_forgotten FROM broker.maintain_topics();
SELECT broker.drop_topic('dd');

-- maintain() maintains topics too
SELECT broker.create_topic('m', segment_interval => '1 microsecond');
SELECT broker.publish('m', '{}');
SELECT count(*) >= 0 AS ran FROM broker.maintain();
SELECT count(*) AS sealed FROM broker.segment s JOIN broker.topic t ON t.id = s.topic_id
 WHERE t.name = 'm' AND s.sealed_at IS NOT NULL;
SELECT broker.drop_topic('m');
