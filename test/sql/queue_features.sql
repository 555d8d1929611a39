-- queue_features: dedup, expiry, max length, filters, maintenance, odd names
SET client_min_messages = warning;

-- dedup: the second send returns the first id and adds nothing
SELECT broker.create_queue('dedup', dedup_window => '1 hour');
SELECT broker.send('dedup', '{"v": 1}', dedup_key => 'order-1') AS first \gset
SELECT broker.send('dedup', '{"v": 2}', dedup_key => 'order-1') = :first AS same_id;
SELECT * FROM broker.send_batch('dedup', ARRAY['{"v": 3}', '{"v": 4}']::jsonb[],
                                 dedup_keys => ARRAY['order-1', 'order-2']) AS ids;
SELECT count(*) FROM broker.peek('dedup');
-- after the ack the window keeps the key
CREATE TEMP TABLE d AS SELECT * FROM broker.claim('dedup', 10);
SELECT broker.ack('dedup', ARRAY(SELECT id FROM d));
SELECT broker.send('dedup', '{"v": 5}', dedup_key => 'order-1') = :first AS still_deduped;
-- without a window the key is free again once the message is gone
SELECT broker.create_queue('dedup0');
SELECT broker.send('dedup0', '{"v": 1}', dedup_key => 'k') AS k1 \gset
SELECT broker.send('dedup0', '{"v": 1}', dedup_key => 'k') = :k1 AS deduped;
SELECT broker.ack('dedup0', :k1);
SELECT broker.send('dedup0', '{"v": 1}', dedup_key => 'k') <> :k1 AS new_message;
-- a dead-lettered message frees its key
SELECT broker.alter_queue('dedup0', max_attempts => 1);
CREATE TEMP TABLE d0 AS SELECT * FROM broker.claim('dedup0');
SELECT broker.nack('dedup0', id, receipt, error => 'x') FROM d0;
SELECT broker.send('dedup0', '{"v": 1}', dedup_key => 'k') NOT IN (SELECT id FROM d0) AS fresh;

-- expiry: an unclaimed message past its ttl is not handed out, and
-- maintain() dead-letters it (or drops it)
SELECT broker.create_queue('ttl', ttl => '50 milliseconds');
SELECT broker.create_queue('ttl_drop', ttl => '50 milliseconds', ttl_action => 'drop');
SELECT broker.send('ttl', '{"stale": true}');
SELECT broker.send('ttl_drop', '{"stale": true}');
SELECT pg_sleep(0.1);
SELECT count(*) AS expired_not_claimed FROM broker.claim('ttl');
SELECT queue, expired FROM broker.maintain() WHERE queue LIKE 'ttl%' ORDER BY 1;
SELECT reason, payload FROM broker.dead_letters('ttl');
SELECT count(*) FROM broker.dead_letters('ttl_drop');
-- the expiry index exists only while a queue has a ttl
SELECT count(*) AS expiry_indexes FROM pg_indexes WHERE schemaname = 'broker' AND indexname LIKE '%\_expiry';
SELECT broker.alter_queue('ttl_drop', clear_ttl => true);
SELECT count(*) AS expiry_indexes FROM pg_indexes WHERE schemaname = 'broker' AND indexname LIKE '%\_expiry';

-- a session describes a queue's indexes once; sends that follow a change
-- of the index set (a ttl adds the expiry index, REINDEX CONCURRENTLY
-- gives every index a new oid) still go into every index
CREATE EXTENSION IF NOT EXISTS amcheck;
SELECT broker.create_queue('idx');
SELECT broker.send('idx', '{"n": 1}') > 0 AS sent;
SELECT broker.alter_queue('idx', ttl => '1 hour');
SELECT broker.send('idx', '{"n": 2}') > 0 AS sent;
SELECT regexp_replace(c.relname, '^queue_[0-9]+', 'queue') AS index,
       bt_index_check(c.oid, true)::text = '' AS sound
  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam
 WHERE i.indrelid = (SELECT format('broker.%I', 'queue_' || id)::regclass FROM broker.queue WHERE name = 'idx')
   AND a.amname = 'btree' ORDER BY 1;
SELECT 'queue_' || id AS idx_table FROM broker.queue WHERE name = 'idx' \gset
REINDEX TABLE CONCURRENTLY broker.:"idx_table";
SELECT broker.send('idx', '{"n": 3}', group_key => 'g') > 0 AS sent;
SELECT broker.send('idx', '{"n": 4}', headers => '{"k": "v"}') > 0 AS sent;
SELECT regexp_replace(c.relname, '^queue_[0-9]+', 'queue') AS index,
       bt_index_check(c.oid, true)::text = '' AS sound
  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam
 WHERE i.indrelid = (SELECT format('broker.%I', 'queue_' || id)::regclass FROM broker.queue WHERE name = 'idx')
   AND a.amname = 'btree' ORDER BY 1;
SELECT count(*) AS by_headers FROM broker.peek('idx', 10, '{"k": "v"}');
SELECT broker.drop_queue('idx');
DROP EXTENSION amcheck;

-- max length: reject new sends, or drop the oldest
SELECT broker.create_queue('bounded', max_length => 2);
SELECT broker.send('bounded', '{"n": 1}');
SELECT broker.send('bounded', '{"n": 2}');
\set VERBOSITY default
SELECT broker.send('bounded', '{"n": 3}');
SELECT broker.create_queue('ring', max_length => 2, overflow => 'drop_oldest');
SELECT broker.send('ring', '{"n": 1}');
SELECT broker.send('ring', '{"n": 2}');
SELECT broker.send('ring', '{"n": 3}');
SELECT * FROM broker.send_batch('ring', ARRAY['{"n": 4}']::jsonb[]);
SELECT payload FROM broker.peek('ring') ORDER BY id;

-- header filters, served by the GIN index on headers
SELECT broker.create_queue('filtered');
SELECT count(*) FROM broker.send_batch('filtered',
    ARRAY(SELECT jsonb_build_object('n', g) FROM generate_series(1, 2000) g), headers => '{"type": "bulk"}');
SELECT broker.send('filtered', '{"n": "wanted"}', headers => '{"type": "rare", "region": "eu"}');
SELECT broker.send('filtered', '{"n": "plain"}');
SELECT payload, headers FROM broker.claim('filtered', 5, filter => '{"type": "rare"}');
SELECT count(*) FROM broker.claim('filtered', 5, filter => '{"type": "rare"}');
SELECT count(*) FROM broker.claim('filtered', 3, filter => '{}');
SELECT broker._queue_table(id) AS ftbl FROM broker.queue WHERE name = 'filtered' \gset
ANALYZE :ftbl;
SET plan_cache_mode = force_generic_plan;
PREPARE f(jsonb) AS
  SELECT id FROM :ftbl
   WHERE (group_key IS NULL OR group_head) AND vis <= now()
     AND (lease_until IS NULL OR lease_until <= now())
     AND (expires_at IS NULL OR expires_at > now())
     AND headers @> $1 AND headers <> '{}'::jsonb
   ORDER BY priority - 0 DESC, vis, id LIMIT 5 FOR UPDATE SKIP LOCKED;
CREATE FUNCTION pg_temp.plan_of(q text) RETURNS SETOF text LANGUAGE plpgsql
  AS $$ BEGIN RETURN QUERY EXECUTE 'EXPLAIN (COSTS OFF) ' || q; END $$;
SELECT count(*) > 0 AS uses_gin
  FROM pg_temp.plan_of($$EXECUTE f('{"type": "rare"}')$$) line
 WHERE line ~ 'queue_[0-9]+_headers';
RESET plan_cache_mode;

-- payload filters (PGMQ's conditional read): containment on the payload,
-- in queue order; with a header filter, both must match
SELECT broker.create_queue('pfilter', max_attempts => 2000000000);
SELECT count(*) FROM broker.send_batch('pfilter',
    ARRAY['{"kind": "a", "n": 1}', '{"kind": "b", "n": 2}', '{"kind": "a", "n": 3}', '[1, 2]']::jsonb[]);
SELECT broker.send('pfilter', '{"kind": "a", "n": 4}', headers => '{"h": 1}');
SELECT payload FROM broker.claim('pfilter', 10, payload_filter => '{"kind": "a"}') ORDER BY id;
SELECT payload FROM broker.claim('pfilter', 10, payload_filter => '[2]');
SELECT payload FROM broker.claim('pfilter', 10, filter => '{"h": 1}', payload_filter => '{"kind": "a"}');
SELECT count(*) AS everything_else FROM broker.claim('pfilter', 10, payload_filter => '{}');
-- a lease of zero counts the delivery and leaves the message ready
SELECT broker.send('pfilter', '{"zero": true}') AS zid \gset
SELECT attempt FROM broker.claim('pfilter', 1, lease => '0');
SELECT attempt FROM broker.claim('pfilter', 1, lease => '0');
-- set_visible: a leased message comes back early, a ready one is delayed,
-- without a delivery counted
SELECT attempt FROM broker.claim('pfilter', 1, lease => '1 hour');
SELECT count(*) AS hidden FROM broker.claim('pfilter', 1);
SELECT broker.set_visible('pfilter', :zid, now() - interval '1 second') IS NOT NULL AS set;
SELECT attempt FROM broker.claim('pfilter', 1, lease => '0');
SELECT broker.set_visible('pfilter', :zid, now() + interval '1 hour') IS NOT NULL AS delayed;
SELECT count(*) AS not_ready FROM broker.claim('pfilter', 1);
SELECT broker.set_visible('pfilter', -1, now()) IS NULL AS no_such_message;
SELECT broker.set_visible('pfilter', :zid, 'infinity');
SELECT broker.set_visible('pfilter', NULL, now());
-- in the transaction that claimed it: the lease written at commit is the new time
BEGIN;
SELECT broker.set_visible('pfilter', :zid, now()) IS NOT NULL AS ready_again;
SELECT id = :zid AS same, attempt FROM broker.claim('pfilter', 1, lease => '1 hour');
SELECT broker.set_visible('pfilter', :zid, now() - interval '1 second') IS NOT NULL AS released;
COMMIT;
SELECT attempt FROM broker.claim('pfilter', 1, lease => '1 hour');
SELECT broker.drop_queue('pfilter');

-- a message may have no payload (PGMQ sends such messages)
SELECT broker.create_queue('nobody');
SELECT broker.send('nobody', NULL) > 0 AS sent;
SELECT broker.send_bytes('nobody', NULL) > 0 AS sent_bytes;
SELECT count(*) FROM broker.send_batch('nobody', ARRAY['{"a": 1}', NULL]::jsonb[]);
SELECT payload, payload_bytes FROM broker.claim('nobody', 10) ORDER BY id;
SELECT broker.drop_queue('nobody');

-- maintain() truncates queue tables that are empty
SELECT broker.purge('filtered') >= 0 AS purged;
SELECT count(*) AS filled FROM broker.send_batch('filtered', ARRAY(SELECT '{}'::jsonb FROM generate_series(1, 3000)));
SELECT broker.ack('filtered', ARRAY(SELECT id FROM broker.claim('filtered', 10000))) AS drained;
SELECT pg_relation_size(:'ftbl') > 65536 AS big_before;
SELECT truncated FROM broker.maintain() WHERE queue = 'filtered';
SELECT pg_relation_size(:'ftbl') AS size_after;

-- names are data: quotes, spaces, semicolons, unicode and long names work
-- and cannot collide or inject
SELECT broker.create_queue('a"b; DROP TABLE broker.queue; --');
SELECT broker.create_queue('ünï çødé 队列');
SELECT broker.create_queue(repeat('x', 63) || 'one');
SELECT broker.create_queue(repeat('x', 63) || 'two');
SELECT broker.send('a"b; DROP TABLE broker.queue; --', '{"ok": 1}') > 0;
SELECT broker.send(repeat('x', 63) || 'one', '{"q": 1}') > 0;
SELECT broker.send(repeat('x', 63) || 'two', '{"q": 2}') > 0;
SELECT payload FROM broker.claim(repeat('x', 63) || 'one');
SELECT payload FROM broker.claim(repeat('x', 63) || 'two');
SELECT payload FROM broker.claim('a"b; DROP TABLE broker.queue; --');
SELECT broker.drop_queue('ünï çødé 队列');
SELECT count(*) AS odd_queues FROM broker.queue WHERE name LIKE 'a"b%' OR name LIKE 'xxx%' OR name LIKE 'ünï%';

-- privileges: producers produce, consumers consume, others nothing
CREATE ROLE app_producer LOGIN IN ROLE pgbroker_producer;
CREATE ROLE app_consumer LOGIN IN ROLE pgbroker_consumer;
CREATE ROLE app_other LOGIN;
SELECT broker.create_queue('private');
SELECT broker.grant('send', 'app_producer', queue => 'private'),
       broker.grant('consume', 'app_consumer', queue => 'private');
SELECT broker._queue_table(id) AS ptbl FROM broker.queue WHERE name = 'private' \gset
SET ROLE app_producer;
SELECT broker.send('private', '{"secret": 1}') > 0 AS producer_sends;
SELECT * FROM broker.claim('private');
SELECT sqlstate_of(format('SELECT * FROM %s', :'ptbl')) AS read_table;
RESET ROLE;
SET ROLE app_consumer;
SELECT broker.send('private', '{"secret": 2}');
SELECT payload FROM broker.claim('private');
SELECT broker.purge('private');
RESET ROLE;
SET ROLE app_other;
SELECT broker.send('private', '{"secret": 3}');
SELECT * FROM broker.peek('private');
SELECT sqlstate_of(format('SELECT * FROM %s', :'ptbl')) AS read_table;
RESET ROLE;
-- a grantee cannot be dropped while it holds a grant
SELECT sqlstate_of($$DROP ROLE app_producer$$) AS drop_grantee;
DROP OWNED BY app_producer, app_consumer;
DROP ROLE app_producer, app_consumer, app_other;
