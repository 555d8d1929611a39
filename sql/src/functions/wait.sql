/*
 * sql/src/functions/wait.sql - wakeups: waiting without a snapshot, and notifications at
 * commit
 *
 * claim() and poll() wait in the statement when given a wait; the
 * procedures here wait the same way without holding a snapshot while they
 * sleep.  For clients that LISTEN, a queue or topic with notify on signals
 * a channel once per committing transaction; notify is off by default and
 * set with alter_queue(name, notify) and alter_topic(name, notify).
 *
 * Every function, procedure and view of this area, written CREATE OR
 * REPLACE: run by the fresh install and again by every version step, so
 * that an upgraded installation ends with the same definitions (a step
 * drops first what changed its signature).  The tables are in
 * sql/src/structure/.
 */

/*
 * Leased claims and polls that wait without holding a snapshot: each look
 * is a transaction of its own, committed before the procedure sleeps, so a
 * waiting consumer does not hold back VACUUM.  CALL them outside a
 * transaction block; the messages come back in the INOUT array.  They
 * are not SECURITY DEFINER (such procedures cannot commit): each look runs
 * as their owner with a pinned search_path instead.
 */
CREATE OR REPLACE PROCEDURE broker.claim_wait(
	queue			text,
	max_messages	integer DEFAULT 1,
	lease			interval DEFAULT NULL,
	wait			interval DEFAULT '30 seconds',
	filter			jsonb DEFAULT NULL,
	INOUT messages	broker.message[] DEFAULT NULL)
AS 'MODULE_PATHNAME', 'pgbroker_queue_claim_wait'
LANGUAGE C;

CREATE OR REPLACE PROCEDURE broker.poll_wait(
	topic			text,
	consumer_group	text,
	max_records		integer DEFAULT 100,
	wait			interval DEFAULT '30 seconds',
	consumer		text DEFAULT NULL,
	lease			interval DEFAULT NULL,
	token			text DEFAULT NULL,
	INOUT records	broker.record[] DEFAULT NULL)
AS 'MODULE_PATHNAME', 'pgbroker_poll_wait'
LANGUAGE C;

/*
 * The same, handing the messages or records over as one jsonb array of
 * objects (the fields of broker.message or broker.record; payload_bytes
 * as a "\\x..." hex string), which psycopg and node-postgres decode
 * without registering pgbroker's types.  Separate names: an overload that
 * differed only in its INOUT type would make CALL claim_wait(..., NULL)
 * ambiguous.
 */
CREATE OR REPLACE PROCEDURE broker.claim_wait_json(
	queue			text,
	max_messages	integer DEFAULT 1,
	lease			interval DEFAULT NULL,
	wait			interval DEFAULT '30 seconds',
	filter			jsonb DEFAULT NULL,
	INOUT messages	jsonb DEFAULT NULL)
AS 'MODULE_PATHNAME', 'pgbroker_queue_claim_wait'
LANGUAGE C;

CREATE OR REPLACE PROCEDURE broker.poll_wait_json(
	topic			text,
	consumer_group	text,
	max_records		integer DEFAULT 100,
	wait			interval DEFAULT '30 seconds',
	consumer		text DEFAULT NULL,
	lease			interval DEFAULT NULL,
	token			text DEFAULT NULL,
	INOUT records	jsonb DEFAULT NULL)
AS 'MODULE_PATHNAME', 'pgbroker_poll_wait'
LANGUAGE C;

COMMENT ON PROCEDURE broker.claim_wait_json(text, integer, interval, interval, jsonb, jsonb)
	IS 'claim_wait, the messages as a jsonb array of objects';
COMMENT ON PROCEDURE broker.poll_wait_json(text, text, integer, interval, text, interval, text, jsonb)
	IS 'poll_wait, the records as a jsonb array of objects';
COMMENT ON PROCEDURE broker.claim_wait(text, integer, interval, interval, jsonb, broker.message[])
	IS 'leased claim that waits without holding a snapshot; CALL outside a transaction block';
COMMENT ON PROCEDURE broker.poll_wait(text, text, integer, interval, text, interval, text, broker.record[])
	IS 'leased poll that waits without holding a snapshot; CALL outside a transaction block';

/*
 * Notifications for LISTENing clients, off by default: a transaction that
 * sends to a queue (publishes to a topic) with notify on signals channel
 * "pgbroker.queue.<name>" ("pgbroker.topic.<name>") once at commit, with
 * the name as payload.  Channel names are at most 63 bytes; the notify
 * columns are those of broker.queue (queue.sql) and broker.topic
 * (topic.sql).
 */
CREATE OR REPLACE FUNCTION broker._check_channel(kind text, name text)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF octet_length('pgbroker.' || kind || '.' || name) > 63 THEN
		RAISE EXCEPTION '% name "%" is too long for a notification channel', kind, name
			USING ERRCODE = '42622',
				  DETAIL = format('Channel %s would be longer than 63 bytes.',
								  quote_ident('pgbroker.' || kind || '.' || name));
	END IF;
END
$$;

CREATE OR REPLACE FUNCTION broker.alter_queue(name text, notify boolean)
RETURNS void
AS 'MODULE_PATHNAME', 'pgbroker_gate'
LANGUAGE C VOLATILE;
CREATE OR REPLACE FUNCTION broker._alter_queue(name text, notify boolean)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	q broker.queue := broker._queue(name);
BEGIN
	IF notify IS NULL THEN
		RAISE EXCEPTION 'notify must not be null' USING ERRCODE = '22004';
	END IF;
	IF notify THEN
		PERFORM broker._check_channel('queue', q.name);
	END IF;
	UPDATE broker.queue bq SET notify = _alter_queue.notify WHERE bq.id = q.id;
	PERFORM broker._queue_changed(broker._queue_table(q.id)::regclass);
END
$$;
COMMENT ON FUNCTION broker.alter_queue(text, boolean)
	IS 'turn notifications to LISTEN channel pgbroker.queue.<name> on or off';

CREATE OR REPLACE FUNCTION broker.alter_topic(name text, notify boolean)
RETURNS void
AS 'MODULE_PATHNAME', 'pgbroker_gate'
LANGUAGE C VOLATILE;
CREATE OR REPLACE FUNCTION broker._alter_topic(name text, notify boolean)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	t broker.topic := broker._topic(name);
BEGIN
	IF notify IS NULL THEN
		RAISE EXCEPTION 'notify must not be null' USING ERRCODE = '22004';
	END IF;
	IF notify THEN
		PERFORM broker._check_channel('topic', t.name);
	END IF;
	UPDATE broker.topic bt SET notify = _alter_topic.notify WHERE bt.id = t.id;
	PERFORM broker._topic_changed();
END
$$;
COMMENT ON FUNCTION broker.alter_topic(text, boolean)
	IS 'turn notifications to LISTEN channel pgbroker.topic.<name> on or off';
