/*
 * sql/src/functions/queue.sql - queues: catalog, administration, sending, claiming and
 * settling, browsing, dead letters, statistics
 *
 * A queue is a row of broker.queue; its messages live in a table of their
 * own, broker.queue_<id>, which create_queue() creates.  Sending, claiming,
 * ack, nack and extend are C; administration, browsing, cancel and redrive
 * are PL/pgSQL.  The periodic work on queues (expiry, dedup keys,
 * shrinking) is maintain(), in maintain.sql; waiting without a snapshot
 * (claim_wait) and notifications (alter_queue(name, notify)) are in
 * wait.sql.
 *
 * Every function, procedure and view of this area, written CREATE OR
 * REPLACE: run by the fresh install and again by every version step, so
 * that an upgraded installation ends with the same definitions (a step
 * drops first what changed its signature).  The tables are in
 * sql/src/structure/.
 */


/*
 * Internal C helpers.  Not granted to anyone: only the SECURITY DEFINER
 * functions below call them.
 */
CREATE OR REPLACE FUNCTION broker._queue_changed(relid regclass)
RETURNS void
AS 'MODULE_PATHNAME', 'pgbroker_queue_changed'
LANGUAGE C STRICT;

CREATE OR REPLACE FUNCTION broker._group_promote(queue text, group_key text)
RETURNS void
AS 'MODULE_PATHNAME', 'pgbroker_group_promote'
LANGUAGE C STRICT;

CREATE OR REPLACE FUNCTION broker._group_join(queue text, group_key text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'pgbroker_group_join'
LANGUAGE C STRICT;

CREATE OR REPLACE FUNCTION broker._message_removed(queue text, id bigint, group_key text,
										group_head boolean, dedup_key text,
										acked boolean)
RETURNS void
AS 'MODULE_PATHNAME', 'pgbroker_message_removed'
LANGUAGE C;

CREATE OR REPLACE FUNCTION broker._wake(queue text)
RETURNS void
AS 'MODULE_PATHNAME', 'pgbroker_wake'
LANGUAGE C STRICT;

/* Resolve a queue name to its catalog row, or raise 42704. */
CREATE OR REPLACE FUNCTION broker._queue(queue text)
RETURNS broker.queue
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	q broker.queue;
BEGIN
	IF queue IS NULL THEN
		RAISE EXCEPTION 'queue name must not be null' USING ERRCODE = '22004';
	END IF;
	PERFORM broker._check_name(queue, 'queue');
	SELECT * INTO q FROM broker.queue bq WHERE bq.name = $1;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'queue "%" does not exist', queue USING ERRCODE = '42704';
	END IF;
	RETURN q;
END
$$;

/* The message table of a queue, as a quoted, schema-qualified name. */
CREATE OR REPLACE FUNCTION broker._queue_table(queue_id integer)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT 'broker.' || pg_catalog.quote_ident('queue_' || queue_id) $$;

/*
 * The expiry index exists only while the queue has a ttl: every index is
 * work for every send, and only maintain() reads this one.  It is added or
 * removed only when missing or present, so that creating or altering a
 * queue prints no NOTICE.
 */
CREATE OR REPLACE FUNCTION broker._queue_expiry_index(queue_id integer, wanted boolean)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	idx text := 'queue_' || queue_id || '_expiry';
	present boolean := to_regclass(format('broker.%I', idx)) IS NOT NULL;
BEGIN
	IF wanted AND NOT present THEN
		EXECUTE format('CREATE INDEX %I ON broker.%I (expires_at) WHERE expires_at IS NOT NULL',
					   idx, 'queue_' || queue_id);
	ELSIF NOT wanted AND present THEN
		EXECUTE format('DROP INDEX broker.%I', idx);
	END IF;
END
$$;

/* ---------------------------------------------------------------------
 * Administration
 * --------------------------------------------------------------------- */

CREATE OR REPLACE FUNCTION broker.create_queue(
	name			text,
	max_attempts	integer DEFAULT 5,
	lease			interval DEFAULT '30 seconds',
	dedup_window	interval DEFAULT '0',
	retry_base		interval DEFAULT '1 second',
	retry_max		interval DEFAULT '1 hour',
	ttl				interval DEFAULT NULL,
	ttl_action		text DEFAULT 'dead_letter',
	max_length		bigint DEFAULT NULL,
	overflow		text DEFAULT 'reject',
	if_not_exists	boolean DEFAULT false)
RETURNS boolean
AS 'MODULE_PATHNAME', 'pgbroker_gate'
LANGUAGE C VOLATILE;
CREATE OR REPLACE FUNCTION broker._create_queue(
	name			text,
	max_attempts	integer DEFAULT 5,
	lease			interval DEFAULT '30 seconds',
	dedup_window	interval DEFAULT '0',
	retry_base		interval DEFAULT '1 second',
	retry_max		interval DEFAULT '1 hour',
	ttl				interval DEFAULT NULL,
	ttl_action		text DEFAULT 'dead_letter',
	max_length		bigint DEFAULT NULL,
	overflow		text DEFAULT 'reject',
	if_not_exists	boolean DEFAULT false)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	qid integer;
	tbl text;
BEGIN
	IF name IS NULL THEN
		RAISE EXCEPTION 'queue name must not be null' USING ERRCODE = '22004';
	END IF;
	PERFORM broker._check_name(name, 'queue');
	IF max_attempts IS NULL OR max_attempts < 1 THEN
		RAISE EXCEPTION 'max_attempts must be at least 1' USING ERRCODE = '22023';
	END IF;
	IF lease IS NULL OR lease <= '0' OR lease > '7 days' THEN
		RAISE EXCEPTION 'lease must be greater than zero and at most 7 days' USING ERRCODE = '22023';
	END IF;
	IF dedup_window IS NULL OR dedup_window < '0' THEN
		RAISE EXCEPTION 'dedup_window must not be negative' USING ERRCODE = '22023';
	END IF;
	IF retry_base IS NULL OR retry_base < '0' OR retry_max IS NULL OR retry_max < retry_base THEN
		RAISE EXCEPTION 'retry_base must not be negative and retry_max must not be less than retry_base' USING ERRCODE = '22023';
	END IF;
	IF ttl IS NOT NULL AND ttl <= '0' THEN
		RAISE EXCEPTION 'ttl must be greater than zero' USING ERRCODE = '22023';
	END IF;
	IF ttl_action IS NULL OR ttl_action NOT IN ('dead_letter', 'drop') THEN
		RAISE EXCEPTION 'invalid ttl_action "%"', ttl_action USING ERRCODE = '22023',
			HINT = 'Use "dead_letter" or "drop".';
	END IF;
	IF max_length IS NOT NULL AND max_length < 1 THEN
		RAISE EXCEPTION 'max_length must be at least 1' USING ERRCODE = '22023';
	END IF;
	IF overflow IS NULL OR overflow NOT IN ('reject', 'drop_oldest') THEN
		RAISE EXCEPTION 'invalid overflow policy "%"', overflow USING ERRCODE = '22023',
			HINT = 'Use "reject" or "drop_oldest".';
	END IF;

	PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('pgbroker.create_queue'), 0);
	IF EXISTS (SELECT 1 FROM broker.queue q WHERE q.name = _create_queue.name) THEN
		IF if_not_exists THEN
			RAISE NOTICE 'queue "%" already exists, skipping', name;
			RETURN false;
		END IF;
		RAISE EXCEPTION 'queue "%" already exists', name USING ERRCODE = '42710';
	END IF;

	INSERT INTO broker.queue AS q (name, max_attempts, lease, dedup_window, retry_base,
								   retry_max, ttl, ttl_action, max_length, overflow)
	VALUES (name, max_attempts, lease, dedup_window, retry_base,
			retry_max, ttl, ttl_action, max_length, overflow)
	RETURNING q.id INTO qid;
	PERFORM broker._create_acl_holder('queue', qid);

	tbl := 'queue_' || qid;
	/*
	 * Only the ready index carries the ordering columns; lease, attempt
	 * and error columns are unindexed, so a claim is a HOT update.
	 */
	EXECUTE format($f$
		CREATE TABLE broker.%1$I (
			id				bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
			priority		integer NOT NULL DEFAULT 0,
			vis				timestamptz NOT NULL,
			group_key		text,
			group_head		boolean NOT NULL DEFAULT false,
			lease_until		timestamptz,
			receipt			uuid,
			attempt			integer NOT NULL DEFAULT 0,
			enqueued_at		timestamptz NOT NULL,
			expires_at		timestamptz,
			dedup_key		text,
			headers			jsonb,
			payload			jsonb,
			payload_bytes	bytea,
			last_error		text,
			history			jsonb
		) WITH (fillfactor = 80,
				autovacuum_vacuum_scale_factor = 0,
				autovacuum_vacuum_threshold = 1000,
				autovacuum_vacuum_insert_scale_factor = 0,
				autovacuum_vacuum_insert_threshold = 10000,
				autovacuum_vacuum_cost_delay = 0)
		$f$, tbl);
	/*
	 * Ordered by (-priority, vis, id) rather than (priority DESC, ...), so
	 * that a claim can resume after a position with one row comparison.
	 */
	EXECUTE format('CREATE INDEX %I ON broker.%I ((- priority), vis, id) WHERE group_key IS NULL OR group_head',
				   tbl || '_ready', tbl);
	EXECUTE format('CREATE INDEX %I ON broker.%I (group_key, id) WHERE group_key IS NOT NULL',
				   tbl || '_group', tbl);
	EXECUTE format('CREATE INDEX %I ON broker.%I USING gin (headers jsonb_path_ops) WHERE headers IS NOT NULL',
				   tbl || '_headers', tbl);
	PERFORM broker._queue_expiry_index(qid, ttl IS NOT NULL);
	EXECUTE format('REVOKE ALL ON broker.%I FROM PUBLIC', tbl);
	RETURN true;
END
$$;
COMMENT ON FUNCTION broker.create_queue(text, integer, interval, interval, interval, interval, interval, text, bigint, text, boolean)
	IS 'create a durable work queue';

CREATE OR REPLACE FUNCTION broker.alter_queue(
	name			text,
	max_attempts	integer DEFAULT NULL,
	lease			interval DEFAULT NULL,
	dedup_window	interval DEFAULT NULL,
	retry_base		interval DEFAULT NULL,
	retry_max		interval DEFAULT NULL,
	ttl				interval DEFAULT NULL,
	ttl_action		text DEFAULT NULL,
	max_length		bigint DEFAULT NULL,
	overflow		text DEFAULT NULL,
	clear_ttl		boolean DEFAULT false,
	clear_max_length boolean DEFAULT false,
	max_message_size integer DEFAULT NULL,
	clear_max_message_size boolean DEFAULT false)
RETURNS void
AS 'MODULE_PATHNAME', 'pgbroker_gate'
LANGUAGE C VOLATILE;
CREATE OR REPLACE FUNCTION broker._alter_queue(
	name			text,
	max_attempts	integer DEFAULT NULL,
	lease			interval DEFAULT NULL,
	dedup_window	interval DEFAULT NULL,
	retry_base		interval DEFAULT NULL,
	retry_max		interval DEFAULT NULL,
	ttl				interval DEFAULT NULL,
	ttl_action		text DEFAULT NULL,
	max_length		bigint DEFAULT NULL,
	overflow		text DEFAULT NULL,
	clear_ttl		boolean DEFAULT false,
	clear_max_length boolean DEFAULT false,
	max_message_size integer DEFAULT NULL,
	clear_max_message_size boolean DEFAULT false)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	q broker.queue := broker._queue(name);
BEGIN
	q.max_attempts := coalesce(max_attempts, q.max_attempts);
	q.lease := coalesce(lease, q.lease);
	q.dedup_window := coalesce(dedup_window, q.dedup_window);
	q.retry_base := coalesce(retry_base, q.retry_base);
	q.retry_max := coalesce(retry_max, q.retry_max);
	q.ttl := CASE WHEN clear_ttl THEN NULL ELSE coalesce(ttl, q.ttl) END;
	q.ttl_action := coalesce(ttl_action, q.ttl_action);
	q.max_length := CASE WHEN clear_max_length THEN NULL ELSE coalesce(max_length, q.max_length) END;
	q.overflow := coalesce(overflow, q.overflow);
	q.max_message_size := CASE WHEN clear_max_message_size THEN NULL
							   ELSE coalesce(max_message_size, q.max_message_size) END;
	IF q.max_message_size IS NOT NULL AND q.max_message_size < 1 THEN
		RAISE EXCEPTION 'max_message_size must be at least 1' USING ERRCODE = '22023';
	END IF;
	IF q.max_attempts < 1 THEN
		RAISE EXCEPTION 'max_attempts must be at least 1' USING ERRCODE = '22023';
	END IF;
	IF q.lease <= '0' OR q.lease > '7 days' THEN
		RAISE EXCEPTION 'lease must be greater than zero and at most 7 days' USING ERRCODE = '22023';
	END IF;
	IF q.dedup_window < '0' THEN
		RAISE EXCEPTION 'dedup_window must not be negative' USING ERRCODE = '22023';
	END IF;
	IF q.retry_base < '0' OR q.retry_max < q.retry_base THEN
		RAISE EXCEPTION 'retry_base must not be negative and retry_max must not be less than retry_base' USING ERRCODE = '22023';
	END IF;
	IF q.ttl IS NOT NULL AND q.ttl <= '0' THEN
		RAISE EXCEPTION 'ttl must be greater than zero' USING ERRCODE = '22023';
	END IF;
	IF q.ttl_action NOT IN ('dead_letter', 'drop') THEN
		RAISE EXCEPTION 'invalid ttl_action "%"', q.ttl_action USING ERRCODE = '22023',
			HINT = 'Use "dead_letter" or "drop".';
	END IF;
	IF q.max_length IS NOT NULL AND q.max_length < 1 THEN
		RAISE EXCEPTION 'max_length must be at least 1' USING ERRCODE = '22023';
	END IF;
	IF q.overflow NOT IN ('reject', 'drop_oldest') THEN
		RAISE EXCEPTION 'invalid overflow policy "%"', q.overflow USING ERRCODE = '22023',
			HINT = 'Use "reject" or "drop_oldest".';
	END IF;
	UPDATE broker.queue SET max_attempts = q.max_attempts, lease = q.lease,
		dedup_window = q.dedup_window, retry_base = q.retry_base, retry_max = q.retry_max,
		ttl = q.ttl, ttl_action = q.ttl_action, max_length = q.max_length,
		overflow = q.overflow, max_message_size = q.max_message_size
	WHERE id = q.id;
	PERFORM broker._queue_expiry_index(q.id, q.ttl IS NOT NULL);
	PERFORM broker._queue_changed(broker._queue_table(q.id)::regclass);
END
$$;
COMMENT ON FUNCTION broker.alter_queue(text, integer, interval, interval, interval, interval, interval, text, bigint, text, boolean, boolean, integer, boolean)
	IS 'change the settings of a queue';

CREATE OR REPLACE FUNCTION broker.drop_queue(name text, if_exists boolean DEFAULT false)
RETURNS boolean
AS 'MODULE_PATHNAME', 'pgbroker_gate'
LANGUAGE C VOLATILE;
CREATE OR REPLACE FUNCTION broker._drop_queue(name text, if_exists boolean DEFAULT false)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	qid integer;
BEGIN
	IF name IS NULL THEN
		RAISE EXCEPTION 'queue name must not be null' USING ERRCODE = '22004';
	END IF;
	PERFORM broker._check_name(name, 'queue');
	SELECT q.id INTO qid FROM broker.queue q WHERE q.name = _drop_queue.name FOR UPDATE;
	IF NOT FOUND THEN
		IF if_exists THEN
			RAISE NOTICE 'queue "%" does not exist, skipping', name;
			RETURN false;
		END IF;
		RAISE EXCEPTION 'queue "%" does not exist', name USING ERRCODE = '42704';
	END IF;
	/* its subscriptions go with it; their workers stop at commit */
	PERFORM broker._drop_subscription(sub.id) FROM broker.subscription sub WHERE sub.queue_id = qid;
	/* views over its table go with it (pgmq's pgmq.q_<queue>) */
	EXECUTE format('DROP TABLE %s CASCADE', broker._queue_table(qid));
	EXECUTE format('DROP VIEW IF EXISTS broker.%I', 'queue_' || qid || '_acl');
	DELETE FROM broker.dead_letter WHERE queue_id = qid;
	DELETE FROM broker.dedup WHERE queue_id = qid;
	DELETE FROM broker.queue WHERE id = qid;
	RETURN true;
END
$$;
COMMENT ON FUNCTION broker.drop_queue(text, boolean) IS 'drop a queue with its messages and dead letters';

/* Remove every message of a queue at once (TRUNCATE: no dead rows left). */
CREATE OR REPLACE FUNCTION broker.purge(queue text)
RETURNS bigint
AS 'MODULE_PATHNAME', 'pgbroker_gate'
LANGUAGE C VOLATILE;
CREATE OR REPLACE FUNCTION broker._purge(queue text)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	q broker.queue := broker._queue(queue);
	n bigint;
BEGIN
	EXECUTE format('LOCK TABLE %s IN ACCESS EXCLUSIVE MODE', broker._queue_table(q.id));
	EXECUTE format('SELECT count(*) FROM %s', broker._queue_table(q.id)) INTO n;
	EXECUTE format('TRUNCATE %s', broker._queue_table(q.id));
	DELETE FROM broker.dedup WHERE queue_id = q.id;
	RETURN n;
END
$$;
COMMENT ON FUNCTION broker.purge(text) IS 'remove every message of a queue';

/* ---------------------------------------------------------------------
 * Producing and consuming (C)
 * --------------------------------------------------------------------- */

/*
 * The send functions run no SQL on their common path and look up no name
 * by search_path; the SQL they do run (a queue's first lookup, dedup and
 * group keys, max_length) pins search_path itself (BrokerPinSearchPath).
 * Without a SET clause a send saves and restores no GUC per message.
 */
CREATE OR REPLACE FUNCTION broker.send(
	queue		text,
	payload		jsonb,
	headers		jsonb DEFAULT '{}',
	delay		interval DEFAULT '0',
	priority	integer DEFAULT 0,
	dedup_key	text DEFAULT NULL,
	group_key	text DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'pgbroker_queue_send'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

CREATE OR REPLACE FUNCTION broker.send_bytes(
	queue		text,
	payload		bytea,
	headers		jsonb DEFAULT '{}',
	delay		interval DEFAULT '0',
	priority	integer DEFAULT 0,
	dedup_key	text DEFAULT NULL,
	group_key	text DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'pgbroker_queue_send'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

CREATE OR REPLACE FUNCTION broker.send_batch(
	queue		text,
	payloads	jsonb[],
	headers		jsonb DEFAULT '{}',
	delay		interval DEFAULT '0',
	priority	integer DEFAULT 0,
	dedup_keys	text[] DEFAULT NULL,
	group_keys	text[] DEFAULT NULL)
RETURNS SETOF bigint
AS 'MODULE_PATHNAME', 'pgbroker_queue_send_batch'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

CREATE OR REPLACE FUNCTION broker.send_batch_bytes(
	queue		text,
	payloads	bytea[],
	headers		jsonb DEFAULT '{}',
	delay		interval DEFAULT '0',
	priority	integer DEFAULT 0,
	dedup_keys	text[] DEFAULT NULL,
	group_keys	text[] DEFAULT NULL)
RETURNS SETOF bigint
AS 'MODULE_PATHNAME', 'pgbroker_queue_send_batch'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION broker.send(text, jsonb, jsonb, interval, integer, text, text) IS 'send one JSON message; returns its id';
COMMENT ON FUNCTION broker.send_bytes(text, bytea, jsonb, interval, integer, text, text) IS 'send one binary message; returns its id';
COMMENT ON FUNCTION broker.send_batch(text, jsonb[], jsonb, interval, integer, text[], text[]) IS 'send many JSON messages; returns their ids in order';
COMMENT ON FUNCTION broker.send_batch_bytes(text, bytea[], jsonb, interval, integer, text[], text[]) IS 'send many binary messages; returns their ids in order';

CREATE OR REPLACE FUNCTION broker.claim(
	queue			text,
	max_messages	integer DEFAULT 1,
	lease			interval DEFAULT NULL,
	wait			interval DEFAULT '0',
	filter			jsonb DEFAULT NULL,
	payload_filter	jsonb DEFAULT NULL)
RETURNS SETOF broker.message
AS 'MODULE_PATHNAME', 'pgbroker_queue_claim'
LANGUAGE C VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
ROWS 10;

CREATE OR REPLACE FUNCTION broker.ack(queue text, id bigint, receipt uuid DEFAULT NULL)
RETURNS boolean
AS 'MODULE_PATHNAME', 'pgbroker_queue_ack'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

CREATE OR REPLACE FUNCTION broker.ack(queue text, ids bigint[])
RETURNS bigint
AS 'MODULE_PATHNAME', 'pgbroker_queue_ack_many'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

/*
 * A name of its own: as an overload of ack, a call with three untyped
 * parameters (node-postgres sends them so) would be ambiguous between
 * ack(text, bigint, uuid) and it.
 */
CREATE OR REPLACE FUNCTION broker.ack_batch(queue text, ids bigint[], receipts uuid[])
RETURNS bigint
AS 'MODULE_PATHNAME', 'pgbroker_queue_ack_receipts'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

CREATE OR REPLACE FUNCTION broker.nack(
	queue		text,
	id			bigint,
	receipt		uuid DEFAULT NULL,
	retry_in	interval DEFAULT NULL,
	error		text DEFAULT NULL)
RETURNS boolean
AS 'MODULE_PATHNAME', 'pgbroker_queue_nack'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

CREATE OR REPLACE FUNCTION broker.extend(queue text, id bigint, receipt uuid, lease interval)
RETURNS boolean
AS 'MODULE_PATHNAME', 'pgbroker_queue_extend'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

/*
 * When a message is visible, whoever holds it, without its receipt
 * (PGMQ's set_vt); manage.
 */
CREATE OR REPLACE FUNCTION broker.set_visible(queue text, id bigint, visible_at timestamptz)
RETURNS timestamptz
AS 'MODULE_PATHNAME', 'pgbroker_queue_set_visible'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION broker.set_visible(text, bigint, timestamptz)
	IS 'make a message visible at a given time, whoever holds it';

CREATE OR REPLACE FUNCTION broker._queue_next_due(queue text)
RETURNS timestamptz
AS 'MODULE_PATHNAME', 'pgbroker_queue_next_due'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION broker.claim(text, integer, interval, interval, jsonb, jsonb) IS 'lease up to max_messages ready messages';
COMMENT ON FUNCTION broker.ack(text, bigint, uuid) IS 'acknowledge (remove) a message';
COMMENT ON FUNCTION broker.ack(text, bigint[]) IS 'acknowledge (remove) many messages; returns how many';
COMMENT ON FUNCTION broker.ack_batch(text, bigint[], uuid[]) IS 'acknowledge many deliveries, each with its receipt; returns how many';
COMMENT ON FUNCTION broker.nack(text, bigint, uuid, interval, text) IS 'give a message back for a later retry, or dead-letter it';
COMMENT ON FUNCTION broker.extend(text, bigint, uuid, interval) IS 'extend the lease of a claimed message';

/* ---------------------------------------------------------------------
 * Browsing, cancelling and dead letters
 * --------------------------------------------------------------------- */

CREATE OR REPLACE FUNCTION broker.peek(queue text, max_messages integer DEFAULT 10, filter jsonb DEFAULT NULL)
RETURNS TABLE (id bigint, state text, payload jsonb, payload_bytes bytea, headers jsonb,
			   attempt integer, priority integer, group_key text, dedup_key text,
			   enqueued_at timestamptz, available_at timestamptz,
			   lease_until timestamptz, expires_at timestamptz, last_error text)
AS 'MODULE_PATHNAME', 'pgbroker_gate'
LANGUAGE C STABLE;
CREATE OR REPLACE FUNCTION broker._peek(queue text, max_messages integer DEFAULT 10, filter jsonb DEFAULT NULL)
RETURNS TABLE (id bigint, state text, payload jsonb, payload_bytes bytea, headers jsonb,
			   attempt integer, priority integer, group_key text, dedup_key text,
			   enqueued_at timestamptz, available_at timestamptz,
			   lease_until timestamptz, expires_at timestamptz, last_error text)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	q broker.queue := broker._queue(queue);
BEGIN
	IF max_messages IS NULL OR max_messages < 1 OR max_messages > 10000 THEN
		RAISE EXCEPTION 'max_messages must be between 1 and 10000' USING ERRCODE = '22023';
	END IF;
	IF filter IS NOT NULL AND pg_catalog.jsonb_typeof(filter) <> 'object' THEN
		RAISE EXCEPTION 'filter must be a JSON object' USING ERRCODE = '22023';
	END IF;
	RETURN QUERY EXECUTE format($f$
		SELECT m.id,
			   CASE WHEN m.lease_until > pg_catalog.now() THEN 'leased'
					WHEN m.expires_at <= pg_catalog.now() THEN 'expired'
					WHEN m.vis > pg_catalog.now() THEN 'delayed'
					WHEN m.group_key IS NOT NULL AND NOT m.group_head THEN 'waiting'
					ELSE 'ready' END,
			   m.payload, m.payload_bytes, COALESCE(m.headers, '{}'), m.attempt, m.priority,
			   m.group_key, m.dedup_key, m.enqueued_at, m.vis,
			   CASE WHEN m.lease_until > pg_catalog.now() THEN m.lease_until END,
			   m.expires_at, m.last_error
		  FROM %s m
		 WHERE $1 IS NULL OR $1 OPERATOR(pg_catalog.=) '{}'::jsonb
			OR m.headers OPERATOR(pg_catalog.@>) $1
		 ORDER BY m.priority DESC, m.vis, m.id
		 LIMIT $2$f$, broker._queue_table(q.id))
	USING filter, max_messages;
END
$$;

/* Remove a message that is not currently leased (a scheduled one, say). */
CREATE OR REPLACE FUNCTION broker.cancel(queue text, id bigint)
RETURNS boolean
AS 'MODULE_PATHNAME', 'pgbroker_gate'
LANGUAGE C VOLATILE;
CREATE OR REPLACE FUNCTION broker._cancel(queue text, id bigint)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	q broker.queue := broker._queue(queue);
	r record;
BEGIN
	IF id IS NULL THEN
		RAISE EXCEPTION 'message id must not be null' USING ERRCODE = '22004';
	END IF;
	EXECUTE format($f$
		DELETE FROM %s m WHERE m.id = $1
		   AND (m.lease_until IS NULL OR m.lease_until <= pg_catalog.now())
		RETURNING m.id, m.group_key, m.group_head, m.dedup_key$f$, broker._queue_table(q.id))
	INTO r USING id;
	IF r.id IS NULL THEN
		RETURN false;
	END IF;
	PERFORM broker._message_removed(queue, r.id, r.group_key, r.group_head, r.dedup_key, false);
	RETURN true;
END
$$;

COMMENT ON FUNCTION broker.peek(text, integer, jsonb) IS 'browse messages without claiming them';
COMMENT ON FUNCTION broker.cancel(text, bigint) IS 'remove a message that is not leased';

CREATE OR REPLACE FUNCTION broker.dead_letters(queue text, max_messages integer DEFAULT 100)
RETURNS TABLE (id bigint, payload jsonb, payload_bytes bytea, headers jsonb,
			   priority integer, group_key text, dedup_key text,
			   enqueued_at timestamptz, attempts integer, last_error text,
			   history jsonb, reason text, dead_at timestamptz)
AS 'MODULE_PATHNAME', 'pgbroker_gate'
LANGUAGE C STABLE;
CREATE OR REPLACE FUNCTION broker._dead_letters(queue text, max_messages integer DEFAULT 100)
RETURNS TABLE (id bigint, payload jsonb, payload_bytes bytea, headers jsonb,
			   priority integer, group_key text, dedup_key text,
			   enqueued_at timestamptz, attempts integer, last_error text,
			   history jsonb, reason text, dead_at timestamptz)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	q broker.queue := broker._queue(queue);
BEGIN
	IF max_messages IS NULL OR max_messages < 1 THEN
		RAISE EXCEPTION 'max_messages must be at least 1' USING ERRCODE = '22023';
	END IF;
	RETURN QUERY
		SELECT d.id, d.payload, d.payload_bytes, d.headers, d.priority, d.group_key,
			   d.dedup_key, d.enqueued_at, d.attempts, d.last_error, d.history,
			   d.reason, d.dead_at
		  FROM broker.dead_letter d
		 WHERE d.queue_id = q.id
		 ORDER BY d.id
		 LIMIT max_messages;
END
$$;

/*
 * Send dead letters back into their queue with a fresh attempt count.  They
 * keep their ids; a message of a group rejoins its group behind the head.
 */
CREATE OR REPLACE FUNCTION broker.redrive(queue text, ids bigint[] DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'pgbroker_gate'
LANGUAGE C VOLATILE;
CREATE OR REPLACE FUNCTION broker._redrive(queue text, ids bigint[] DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	q broker.queue := broker._queue(queue);
	d record;
	n bigint := 0;
	head boolean;
BEGIN
	FOR d IN
		DELETE FROM broker.dead_letter dl
		 WHERE dl.queue_id = q.id AND (ids IS NULL OR dl.id = ANY (ids))
		RETURNING dl.*
	LOOP
		head := false;
		IF d.group_key IS NOT NULL THEN
			head := NOT broker._group_join(queue, d.group_key);
		END IF;
		EXECUTE format($f$
			INSERT INTO %s (id, priority, vis, group_key, group_head, attempt,
							enqueued_at, expires_at, dedup_key, headers, payload,
							payload_bytes, last_error, history)
			VALUES ($1, $2, pg_catalog.now(), $3, $4, 0, $5,
					pg_catalog.now() + $6, NULL, $7, $8, $9, $10, $11)$f$,
			broker._queue_table(q.id))
		USING d.id, d.priority, d.group_key, head, d.enqueued_at, q.ttl,
			  NULLIF(d.headers, '{}'::jsonb), d.payload, d.payload_bytes, d.last_error, d.history;
		n := n + 1;
	END LOOP;
	IF n > 0 THEN
		PERFORM broker._wake(queue);
	END IF;
	RETURN n;
END
$$;

/* Delete dead letters of a queue (all, or the given ids); returns how many. */
CREATE OR REPLACE FUNCTION broker.purge_dead_letters(queue text, ids bigint[] DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'pgbroker_gate'
LANGUAGE C VOLATILE;
CREATE OR REPLACE FUNCTION broker._purge_dead_letters(queue text, ids bigint[] DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	q broker.queue := broker._queue(queue);
	n bigint;
BEGIN
	DELETE FROM broker.dead_letter dl
	 WHERE dl.queue_id = q.id AND (ids IS NULL OR dl.id = ANY (ids));
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END
$$;

COMMENT ON FUNCTION broker.dead_letters(text, integer) IS 'list the dead letters of a queue';
COMMENT ON FUNCTION broker.purge_dead_letters(text, bigint[]) IS 'delete dead letters of a queue';
COMMENT ON FUNCTION broker.redrive(text, bigint[]) IS 'send dead letters back into their queue';

/* ---------------------------------------------------------------------
 * Statistics
 * --------------------------------------------------------------------- */

/*
 * One row per queue: the measures of broker.queue_metrics (metrics.sql),
 * with the age as an interval.  Without pgbroker in
 * shared_preload_libraries there are no counters: sent_total then comes
 * from the id sequence (it also counts sends that rolled back) and
 * acked_total from the statistics system's deletion counter (it also
 * counts cancels, drops and dead-letter moves).
 */
CREATE OR REPLACE FUNCTION broker.queue_stats(queue_id integer,
	OUT messages bigint, OUT ready bigint, OUT delayed bigint, OUT leased bigint,
	OUT waiting bigint, OUT oldest_ready_age interval, OUT sent_total bigint,
	OUT acked_total bigint)
AS 'MODULE_PATHNAME', 'pgbroker_gate'
LANGUAGE C STABLE;
CREATE OR REPLACE FUNCTION broker._queue_stats(queue_id integer,
	OUT messages bigint, OUT ready bigint, OUT delayed bigint, OUT leased bigint,
	OUT waiting bigint, OUT oldest_ready_age interval, OUT sent_total bigint,
	OUT acked_total bigint)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT m.messages, m.ready, m.delayed, m.leased, m.waiting,
		   pg_catalog.make_interval(secs => m.oldest_ready_age),
		   coalesce(m.sent_total, pg_catalog.pg_sequence_last_value(
			   pg_catalog.pg_get_serial_sequence(broker._queue_table(queue_id), 'id')::regclass), 0),
		   coalesce(m.acked_total,
			   pg_catalog.pg_stat_get_tuples_deleted(broker._queue_table(queue_id)::regclass)
			   + pg_catalog.pg_stat_get_xact_tuples_deleted(broker._queue_table(queue_id)::regclass))
	  FROM broker._queue_metrics(ARRAY[queue_id]) m
$$;

CREATE OR REPLACE VIEW broker.queues AS
SELECT q.name AS queue,
	   s.messages, s.ready, s.delayed, s.leased, s.waiting,
	   (SELECT count(*) FROM broker.dead_letter d WHERE d.queue_id = q.id) AS dead,
	   s.oldest_ready_age, s.sent_total, s.acked_total,
	   q.max_attempts, q.lease, q.dedup_window, q.ttl, q.max_length, q.overflow,
	   q.created_at
  FROM (SELECT * FROM broker.queue q0 WHERE broker._may_see('q', q0.id) OFFSET 0) q,
	   LATERAL broker.queue_stats(q.id) s;
COMMENT ON VIEW broker.queues IS 'one row per queue the caller may see: depth, states, totals';
