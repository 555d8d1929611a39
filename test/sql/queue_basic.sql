-- queue_basic: send, claim, ack, peek, batches, binary payloads, delays
SET client_min_messages = warning;
SELECT broker.create_queue('basic');
SELECT broker.create_queue('basic', if_not_exists => true);

-- ids grow; priority first, then oldest
SELECT broker.send('basic', '{"n": 1}');
SELECT broker.send('basic', '{"n": 2}', priority => 5);
SELECT broker.send('basic', '{"n": 3}', headers => '{"kind": "x"}');
SELECT broker.send('basic', '{"n": 4}', priority => 5);
SELECT id, payload, headers, attempt, priority, lease_until > now() AS leased,
       receipt IS NOT NULL AS has_receipt
  FROM broker.claim('basic', 3);
SELECT id, state, attempt FROM broker.peek('basic') ORDER BY id;

-- ack with and without the receipt
CREATE TEMP TABLE got AS SELECT * FROM broker.claim('basic', 1);
SELECT id FROM got;
SELECT broker.ack('basic', id, gen_random_uuid()) AS wrong_receipt FROM got;
SELECT broker.ack('basic', id, receipt) AS right_receipt FROM got;
SELECT broker.ack('basic', id, receipt) AS twice FROM got;
SELECT broker.ack('basic', 1) AS no_receipt;
SELECT broker.ack('basic', ARRAY[2, 4, 999]::bigint[]) AS acked_many;
SELECT count(*) FROM broker.peek('basic');

-- a message exists if and only if its transaction commits
BEGIN;
SELECT broker.send('basic', '{"n": "rolled back"}') > 0 AS sent;
ROLLBACK;
BEGIN;
SELECT broker.send('basic', '{"n": "committed"}') > 0 AS sent;
COMMIT;
SELECT payload FROM broker.peek('basic');

-- transactional consumption: a rollback puts the message back at once
BEGIN;
SELECT payload, attempt FROM broker.claim('basic');
ROLLBACK;
BEGIN;
CREATE TEMP TABLE txn AS SELECT * FROM broker.claim('basic');
SELECT payload, attempt, broker.ack('basic', id, receipt) AS acked FROM txn;
COMMIT;
SELECT count(*) AS left_after_commit FROM broker.peek('basic');

-- batches keep array order
SELECT * FROM broker.send_batch('basic', ARRAY['{"b": 1}', '{"b": 2}', '{"b": 3}']::jsonb[],
                                 headers => '{"batch": true}');
SELECT * FROM broker.send_batch('basic', ARRAY[]::jsonb[]);
SELECT payload, headers FROM broker.claim('basic', 10) ORDER BY id;

-- binary payloads come back byte-identical
SELECT broker.send_bytes('basic', '\x00ff00fe0d0a'::bytea) AS bin_id \gset
SELECT payload IS NULL AS no_json, payload_bytes = '\x00ff00fe0d0a'::bytea AS identical,
       length(payload_bytes)
  FROM broker.claim('basic');
SELECT * FROM broker.send_batch_bytes('basic', ARRAY['\x01'::bytea, '\x'::bytea, convert_to('héllo', 'UTF8')]) AS ids;
SELECT payload_bytes FROM broker.claim('basic', 5) ORDER BY id;

-- delayed messages wait for their time
SELECT broker.send('basic', '{"later": true}', delay => '1 hour') AS later_id \gset
SELECT count(*) AS claimable FROM broker.claim('basic');
SELECT state, available_at > now() + '59 minutes' AS in_an_hour FROM broker.peek('basic') WHERE id = :later_id;
SELECT broker.cancel('basic', :later_id) AS cancelled;
SELECT broker.cancel('basic', :later_id) AS cancelled_again;

-- the queues view
SELECT queue, messages, ready, delayed, leased, dead, sent_total >= 14 AS sent
  FROM broker.queues WHERE queue = 'basic';
SELECT broker.purge('basic');
SELECT messages FROM broker.queues WHERE queue = 'basic';
