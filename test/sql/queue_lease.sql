-- queue_lease: leases expire, receipts go stale, leases extend
SET client_min_messages = warning;
SELECT broker.create_queue('lease', lease => '1 hour');
SELECT broker.send('lease', '{"job": 1}') AS id \gset

-- leased consumption: claim with a short lease and commit
CREATE TEMP TABLE first AS SELECT * FROM broker.claim('lease', lease => '500 milliseconds');
SELECT attempt, lease_until < now() + '1 second' AS short_lease FROM first;
SELECT count(*) AS while_leased FROM broker.claim('lease');
SELECT pg_sleep(0.6);

-- expired: the next claim gets it with a new receipt and the expiry in its history
CREATE TEMP TABLE second AS SELECT * FROM broker.claim('lease');
SELECT s.attempt, s.lease_until > now() + '59 minutes' AS default_lease,
       s.receipt <> f.receipt AS new_receipt
  FROM second s, first f;
SELECT last_error FROM broker.peek('lease');

-- the first consumer's receipt is stale: everything it tries is refused
SELECT broker.ack('lease', id, receipt) AS stale_ack FROM first;
SELECT broker.nack('lease', id, receipt) AS stale_nack FROM first;
SELECT broker.extend('lease', id, receipt, '1 minute') AS stale_extend FROM first;
SELECT state, attempt FROM broker.peek('lease');

-- the current holder can extend
SELECT broker.extend('lease', id, receipt, '2 hours') AS extended FROM second;
SELECT lease_until > now() + '119 minutes' AS longer FROM broker.peek('lease');
SELECT broker.ack('lease', id, receipt) AS acked FROM second;

-- an ack after expiry succeeds if nobody claimed the message since
SELECT broker.send('lease', '{"job": 2}') AS id2 \gset
CREATE TEMP TABLE third AS SELECT * FROM broker.claim('lease', lease => '50 milliseconds');
SELECT pg_sleep(0.1);
SELECT broker.ack('lease', id, receipt) AS late_but_unclaimed FROM third;

-- inside one transaction: a second claim never returns a message the
-- transaction already holds, and receipts, extend and nack work before the
-- lease is written at commit
SELECT broker.send_batch('lease', ARRAY['{"job": 3}', '{"job": 4}']::jsonb[]) IS NOT NULL AS sent;
BEGIN;
CREATE TEMP TABLE t1 AS SELECT * FROM broker.claim('lease', 1);
CREATE TEMP TABLE t2 AS SELECT * FROM broker.claim('lease', 5);
SELECT (SELECT payload FROM t1) AS first, (SELECT payload FROM t2) AS second,
       (SELECT count(*) FROM t2) AS n2;
SELECT broker.ack('lease', id, gen_random_uuid()) AS wrong_receipt FROM t1;
SELECT broker.extend('lease', id, receipt, '3 hours') AS extended FROM t1;
SELECT broker.nack('lease', id, receipt, retry_in => '1 hour', error => 'not now') AS nacked FROM t2;
COMMIT;
SELECT payload, state, attempt, last_error,
       lease_until > now() + '179 minutes' AS extended_lease
  FROM broker.peek('lease') ORDER BY id;

-- claims that resume where they stopped (forced with a threshold of 0)
-- still find a message that went back before their position
SET pgbroker.resume_threshold = 0;
SELECT broker.create_queue('resume');
SELECT broker.send_batch('resume', ARRAY['{"m": "a"}', '{"m": "b"}', '{"m": "c"}']::jsonb[]) IS NOT NULL AS sent;
SELECT payload FROM broker.claim('resume', lease => '300 milliseconds');
SELECT payload FROM broker.claim('resume');
SELECT pg_sleep(0.4);
-- "a" is claimable again (its lease ran out) but lies before the position:
-- the claim resumes after "b" and finds "c", then finds nothing after it
-- and looks from the head
SELECT payload FROM broker.claim('resume');
SELECT payload FROM broker.claim('resume');
SELECT count(*) AS nothing_left FROM broker.claim('resume');
-- a rolled-back claim is claimable again at once
BEGIN;
SELECT broker.send('resume', '{"m": "d"}') > 0 AS sent;
COMMIT;
BEGIN;
SELECT payload FROM broker.claim('resume');
ROLLBACK;
SELECT payload, attempt FROM broker.claim('resume');
RESET pgbroker.resume_threshold;

-- acking many deliveries with their receipts: only those whose receipt matches
SELECT broker.create_queue('receipts');
SELECT count(*) FROM broker.send_batch('receipts', ARRAY['{"n": 1}', '{"n": 2}', '{"n": 3}']::jsonb[]);
CREATE TEMP TABLE held AS SELECT id, receipt FROM broker.claim('receipts', 3);
SELECT broker.ack_batch('receipts', array_agg(id ORDER BY id),
				  array_agg(CASE WHEN id = (SELECT max(id) FROM held) THEN gen_random_uuid() ELSE receipt END ORDER BY id))
  FROM held;
SELECT payload FROM broker.peek('receipts');
-- claimed in the same transaction (the receipt is not in the row yet)
BEGIN;
SELECT count(*) FROM broker.send('receipts', '{"n": 4}');
CREATE TEMP TABLE held2 AS SELECT id, receipt FROM broker.claim('receipts', 10) WHERE payload->>'n' = '4';
SELECT broker.ack_batch('receipts', array_agg(id), array_agg(receipt)) FROM held2;
COMMIT;
SELECT payload FROM broker.peek('receipts');
SELECT broker.ack_batch('receipts', ARRAY[1]::bigint[], ARRAY[]::uuid[]);
SELECT broker.ack_batch('receipts', NULL::bigint[], ARRAY[]::uuid[]);
SELECT broker.drop_queue('receipts');
