-- scripts/demo.sql - a produce/consume walk through pgbroker's queues
\pset footer off
SET client_min_messages = warning;
CREATE EXTENSION pgbroker;

-- An application table, and a queue for the work its orders cause.
CREATE TABLE orders (id int PRIMARY KEY, customer text, total numeric);
SELECT broker.create_queue('emails', max_attempts => 3, retry_base => '0');

\echo '1. send inside the business transaction: the order and its message commit together'
BEGIN;
INSERT INTO orders VALUES (1, 'ada', 42.00);
SELECT broker.send('emails', jsonb_build_object('order', 1, 'to', 'ada'),
                   headers => '{"type": "receipt"}') AS message_id;
COMMIT;

\echo '2. a transaction that rolls back leaves no message behind'
BEGIN;
INSERT INTO orders VALUES (2, 'bob', 7.50);
SELECT broker.send('emails', jsonb_build_object('order', 2, 'to', 'bob')) AS message_id;
ROLLBACK;
SELECT count(*) AS messages_in_queue FROM broker.peek('emails');

\echo '3. consume: claim, do the work, ack -- all in one transaction'
BEGIN;
CREATE TEMP TABLE work AS SELECT * FROM broker.claim('emails', 10);
SELECT id, payload, attempt FROM work;
SELECT broker.ack('emails', id, receipt) AS acked FROM work;
COMMIT;
DROP TABLE work;

\echo '4. a message whose work keeps failing is retried, then dead-lettered'
SELECT broker.send('emails', '{"order": 3, "to": "nobody@invalid"}') AS message_id;
SET client_min_messages = notice;
DO $$
DECLARE
	m broker.message;
BEGIN
	LOOP
		SELECT * INTO m FROM broker.claim('emails');
		EXIT WHEN m.id IS NULL;
		RAISE NOTICE 'attempt % of message %: the mail server says no', m.attempt, m.id;
		PERFORM broker.nack('emails', m.id, m.receipt, error => 'mailbox unavailable');
	END LOOP;
END
$$;
SET client_min_messages = warning;
SELECT id, attempts, last_error, reason FROM broker.dead_letters('emails');

\echo '5. leased consumption with a wait: a consumer blocks until a producer commits'
\! (sleep 1; psql -X -q -c "SELECT broker.send('emails', '{\"order\": 4, \"to\": \"eve\"}')" >/dev/null) &
SELECT clock_timestamp() AS t0 \gset
SELECT id, payload, lease_until > now() AS leased,
       round(extract(epoch FROM clock_timestamp() - :'t0'::timestamptz)::numeric, 2) AS waited_seconds
  FROM broker.claim('emails', 1, lease => '1 minute', wait => '10 seconds');

\echo '6. the queues view'
SELECT queue, messages, ready, delayed, leased, dead, sent_total FROM broker.queues;

\echo '7. a topic: records published in business transactions get their offsets at commit'
SELECT broker.create_topic('order_events', partitions => 2);
BEGIN;
SELECT broker.publish('order_events', '{"order": 1, "event": "created"}', key => 'customer-7');
\! psql -X -q -c "SELECT broker.publish('order_events', '{\"order\": 2, \"event\": \"created\"}', key => 'customer-7')"
\echo '   (another session published and committed while this transaction is still open)'
SELECT broker.publish('order_events', '{"order": 1, "event": "paid"}', key => 'customer-7');
COMMIT;
BEGIN;
SELECT broker.publish('order_events', '{"order": 3, "event": "created"}', key => 'customer-7');
ROLLBACK;
SELECT broker.partition_for('order_events', 'customer-7') AS p \gset
\echo '   the partition of customer-7, read from offset 0: commit order, dense, nothing rolled back'
SELECT partition, offset_id, key, payload FROM broker.read('order_events', :p, 0);
\echo '   a reader goes on from the next offset'
SELECT count(*) AS new_records FROM broker.read('order_events', :p, 3);

\echo '8. the topics view'
SELECT topic, partitions, records, earliest_offsets, latest_offsets FROM broker.topics;

\echo '9. a subscription: pgbroker calls a SQL function with each message, in the transaction that acks it'
CREATE TABLE shipments (order_id int, shipped_by name, at timestamptz DEFAULT clock_timestamp());
CREATE FUNCTION ship(m broker.message) RETURNS void LANGUAGE sql AS
$$ INSERT INTO shipments (order_id, shipped_by) VALUES ((m.payload->>'order')::int, current_user) $$;
SELECT broker.create_queue('to_ship');
SELECT broker.subscribe('ship_orders', 'ship(broker.message)'::regprocedure, queue => 'to_ship');
SELECT count(*) AS sent FROM broker.send_batch('to_ship',
	ARRAY['{"order": 10}', '{"order": 11}', '{"order": 12}']::jsonb[]);
DO $$ BEGIN
	FOR i IN 1 .. 100 LOOP
		EXIT WHEN (SELECT count(*) FROM shipments) = 3;
		PERFORM pg_sleep(0.05);
	END LOOP;
END $$;
SELECT order_id, shipped_by FROM shipments ORDER BY order_id;
SELECT name, source_kind, source, handler, owner, enabled FROM broker.subscriptions;
SELECT broker.unsubscribe('ship_orders');
