-- queue_lease: leases expire, receipts go stale, leases extend
SET client_min_messages = warning;
SELECT broker.create_queue('lease', lease => '1 hour');
SELECT broker.send('lease', '{"job": 1}') AS id \gset

-- leased consumption: claim with a short lease and commit
CREATE TEMP TABLE first AS SELECT * FROM broker.claim('lease', lease => '100 milliseconds');
SELECT attempt, lease_until < now() + '1 second' AS short_lease FROM first;
SELECT count(*) AS while_leased FROM broker.claim('lease');
SELECT pg_sleep(0.2);

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
