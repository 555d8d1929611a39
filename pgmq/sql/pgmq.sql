/*
 * pgmq/sql/pgmq.sql - PGMQ's SQL API (version 1.5) on pgbroker's queues
 *
 * Every PGMQ queue is a pgbroker queue named lower(queue_name), so the CLI,
 * the console, the metrics and subscriptions see it like any other.  PGMQ's
 * functions keep their names, parameter names, types, defaults and result
 * columns; each one calls pgbroker's own function for the work (send,
 * claim, ack, set_visible, purge), so the caller's privileges on the queue
 * are pgbroker's, checked by pgbroker: send for send, consume for read and
 * pop, manage for what acts on a msg_id without a receipt (delete, archive,
 * set_vt, purge_queue), the queue's owner or manage for drop_queue.
 *
 * What PGMQ users read and write directly:
 *	- pgmq.q_<queue>, a view over the pgbroker queue's table: msg_id,
 *	  read_ct, enqueued_at, vt, message, headers.  It shows rows only to
 *	  roles with browse on the queue; INSERT sends, UPDATE of vt is
 *	  set_visible, DELETE acks (INSTEAD OF triggers that call pgbroker, so
 *	  privileges and bookkeeping hold).
 *	- pgmq.a_<queue>, the archive: a real table, a typed table of
 *	  pgmq.archive_record so that DROP EXTENSION pgmq CASCADE removes it
 *	  unless detach_archive() made it a plain table; row-level security
 *	  shows its rows to roles with browse and lets roles with manage write.
 *	- pgmq.meta, PGMQ's list of queues, written by the functions here.
 *
 * The views, archive tables and triggers are created by _attach() as the
 * extension's owner (the caller may not read pgbroker's tables), after the
 * caller created the pgbroker queue with its own privileges.  They are not
 * members of the extension, so pg_dump writes them, after pgbroker's queue
 * tables and this extension.
 *
 * Nothing here builds SQL from a queue name but the names of the view and
 * the archive table, always through format('%I').
 */

CREATE TABLE pgmq.meta (
	queue_name		varchar UNIQUE NOT NULL,
	is_partitioned	boolean NOT NULL,
	is_unlogged		boolean NOT NULL,
	created_at		timestamptz DEFAULT now() NOT NULL
);
SELECT pg_catalog.pg_extension_config_dump('pgmq.meta', '');
GRANT USAGE ON SCHEMA pgmq TO PUBLIC;
GRANT SELECT ON pgmq.meta TO PUBLIC;

CREATE TYPE pgmq.message_record AS (
	msg_id			bigint,
	read_ct			integer,
	enqueued_at		timestamptz,
	vt				timestamptz,
	message			jsonb,
	headers			jsonb
);

CREATE TYPE pgmq.queue_record AS (
	queue_name		varchar,
	is_partitioned	boolean,
	is_unlogged		boolean,
	created_at		timestamptz
);

CREATE TYPE pgmq.metrics_result AS (
	queue_name		text,
	queue_length	bigint,
	newest_msg_age_sec int,
	oldest_msg_age_sec int,
	total_messages	bigint,
	scrape_time		timestamptz,
	queue_visible_length bigint
);

/* The row type of every archive table pgmq.a_<queue>. */
CREATE TYPE pgmq.archive_record AS (
	msg_id			bigint,
	read_ct			integer,
	enqueued_at		timestamptz,
	archived_at		timestamptz,
	vt				timestamptz,
	message			jsonb,
	headers			jsonb
);

/* ---------------------------------------------------------------------
 * Names
 * --------------------------------------------------------------------- */

CREATE FUNCTION pgmq._invalid_name()
RETURNS text
LANGUAGE plpgsql STABLE
AS $$
BEGIN
	RAISE EXCEPTION 'queue name contains invalid characters: $, ;, --, or \''';
END
$$;

/* The pgbroker queue of a PGMQ queue name (PGMQ folds table names to lower case). */
CREATE FUNCTION pgmq._queue(queue_name text)
RETURNS text
LANGUAGE sql STABLE
AS $$
	SELECT CASE WHEN queue_name ~ '\$|;|--|''' THEN pgmq._invalid_name()
				ELSE pg_catalog.lower(queue_name) END
$$;

CREATE FUNCTION pgmq.format_table_name(queue_name text, prefix text)
RETURNS text
LANGUAGE sql STABLE
AS $$
	SELECT pg_catalog.lower(prefix || '_' || pgmq._queue(queue_name))
$$;

CREATE FUNCTION pgmq.validate_queue_name(queue_name text)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
	-- (and in bytes: a longer name's table and index names would be cut
	-- at 63 bytes and meet another queue's)
	IF length(queue_name) >= 48 OR octet_length(queue_name) >= 48 THEN
		RAISE EXCEPTION 'queue name is too long, maximum length is 48 characters';
	END IF;
END
$$;

/* ---------------------------------------------------------------------
 * Privileges of the objects _attach creates
 * --------------------------------------------------------------------- */

/*
 * Whether the current user holds a pgbroker privilege on the queue (or,
 * for browse, monitors everything).  Used once per statement, as an
 * InitPlan, by the views and the archive tables' policies.
 */
CREATE FUNCTION pgmq._may(privilege text, queue text)
RETURNS boolean
LANGUAGE sql STABLE
AS $$
	SELECT broker.has_privilege(NULL, privilege, queue => queue)
$$;

/*
 * The role on whose behalf a function of the extension's owner runs: the
 * role set with SET ROLE, or else the session's user (a SECURITY DEFINER
 * function does not change either).
 */
CREATE FUNCTION pgmq._outer_role()
RETURNS oid
LANGUAGE sql STABLE
AS $$
	SELECT r.oid FROM pg_catalog.pg_roles r
	 WHERE r.rolname = CASE WHEN pg_catalog.current_setting('role') = 'none' THEN session_user
							ELSE pg_catalog.current_setting('role') END
$$;

/* The role that owns a pgbroker queue (its ACL holder's owner). */
CREATE FUNCTION pgmq._queue_owner(qid integer)
RETURNS oid
LANGUAGE sql STABLE
AS $$
	SELECT c.relowner FROM pg_catalog.pg_class c
	 WHERE c.relnamespace = 'broker'::regnamespace AND c.relname = 'queue_' || qid || '_acl'
$$;

/* ---------------------------------------------------------------------
 * Queues
 * --------------------------------------------------------------------- */

/*
 * An archive table's privileges: rows visible to roles with browse on the
 * queue, written by roles with manage (row-level security; PUBLIC holds
 * the table privileges).  Called by the functions of the extension's
 * owner that create archives.
 */
CREATE FUNCTION pgmq._protect_archive(atable text, q text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	EXECUTE format('ALTER TABLE pgmq.%I ENABLE ROW LEVEL SECURITY', atable);
	EXECUTE format('CREATE POLICY browse ON pgmq.%I FOR SELECT USING ((SELECT pgmq._may(''browse'', %L)))', atable, q);
	EXECUTE format('CREATE POLICY archive ON pgmq.%I FOR INSERT WITH CHECK ((SELECT pgmq._may(''manage'', %L)))', atable, q);
	EXECUTE format('CREATE POLICY change ON pgmq.%I FOR UPDATE USING ((SELECT pgmq._may(''manage'', %L)))', atable, q);
	EXECUTE format('CREATE POLICY remove ON pgmq.%I FOR DELETE USING ((SELECT pgmq._may(''manage'', %L)))', atable, q);
	EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON pgmq.%I TO PUBLIC', atable);
END
$$;
REVOKE ALL ON FUNCTION pgmq._protect_archive(text, text) FROM PUBLIC;

/*
 * Give an existing pgbroker queue its PGMQ face: the view pgmq.q_<queue>,
 * the archive pgmq.a_<queue> and a row of pgmq.meta (each only if
 * missing).  Runs as the extension's owner; allowed when the caller's
 * transaction created the queue, or the caller holds manage on it.
 */
CREATE FUNCTION pgmq._attach(queue_name text, partitioned boolean, unlogged boolean)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	q text := pgmq._queue(queue_name);
	qid integer;
	created_now boolean;
	qview text := 'q_' || q;
	atable text := 'a_' || q;
	existed boolean := true;
BEGIN
	SELECT bq.id, bq.xmin = pg_catalog.pg_current_xact_id()::xid
	  INTO qid, created_now
	  FROM broker.queue bq WHERE bq.name = q;
	IF qid IS NULL THEN
		RAISE EXCEPTION 'queue "%" does not exist', q USING ERRCODE = '42P01';
	END IF;
	IF NOT created_now
	   AND (to_regclass(format('pgmq.%I', qview)) IS NULL OR to_regclass(format('pgmq.%I', atable)) IS NULL)
	   AND NOT broker.has_privilege(pgmq._outer_role()::regrole, 'manage', queue => q) THEN
		RAISE EXCEPTION 'permission denied to attach queue "%" to pgmq', q USING ERRCODE = '42501',
			HINT = 'Its owner, or a role with manage on it, can.';
	END IF;

	-- a relation of that name that is not this queue's (another queue whose
	-- name folds or truncates to the same, or anything else) is refused
	IF to_regclass(format('pgmq.%I', qview)) IS NOT NULL
	   AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d
					    WHERE d.classid = 'pg_rewrite'::regclass
						  AND d.objid = (SELECT rw.oid FROM pg_catalog.pg_rewrite rw
										  WHERE rw.ev_class = to_regclass(format('pgmq.%I', qview)))
						  AND d.refobjid = to_regclass(format('broker.%I', 'queue_' || qid))) THEN
		RAISE EXCEPTION 'relation "pgmq.%" exists and is not the view of queue "%"', qview, q
			USING ERRCODE = '42P07';
	END IF;
	IF to_regclass(format('pgmq.%I', atable)) IS NOT NULL
	   AND (SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid = to_regclass(format('pgmq.%I', atable)))
		   NOT IN (pgmq._queue_owner(qid), (SELECT e.extowner FROM pg_catalog.pg_extension e WHERE e.extname = 'pgmq')) THEN
		RAISE EXCEPTION 'relation "pgmq.%" exists and is not the archive of queue "%"', atable, q
			USING ERRCODE = '42P07';
	END IF;

	IF to_regclass(format('pgmq.%I', qview)) IS NULL THEN
		existed := false;
		EXECUTE format($v$
			CREATE VIEW pgmq.%I WITH (security_barrier) AS
			SELECT m.id AS msg_id, m.attempt AS read_ct, m.enqueued_at,
				   GREATEST(m.vis, m.lease_until) AS vt, m.payload AS message, m.headers
			  FROM broker.%I m
			 WHERE (SELECT pgmq._may('browse', %L))$v$,
			qview, 'queue_' || qid, q);
		EXECUTE format('CREATE TRIGGER pgmq_write INSTEAD OF INSERT OR UPDATE OR DELETE ON pgmq.%I'
					   ' FOR EACH ROW EXECUTE FUNCTION pgmq._q_write(%L)', qview, q);
		EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON pgmq.%I TO PUBLIC', qview);
	ELSE
		RAISE NOTICE 'relation "%" already exists, skipping', qview;
	END IF;

	IF to_regclass(format('pgmq.%I', atable)) IS NULL THEN
		EXECUTE format($t$
			CREATE TABLE pgmq.%I OF pgmq.archive_record (
				msg_id WITH OPTIONS PRIMARY KEY,
				read_ct WITH OPTIONS DEFAULT 0 NOT NULL,
				enqueued_at WITH OPTIONS DEFAULT now() NOT NULL,
				archived_at WITH OPTIONS DEFAULT now() NOT NULL,
				vt WITH OPTIONS NOT NULL)$t$, atable);
		EXECUTE format('CREATE INDEX %I ON pgmq.%I (archived_at)', 'archived_at_idx_' || queue_name, atable);
		PERFORM pgmq._protect_archive(atable, q);
		-- the queue's owner owns its archive: drop_queue and detach_archive
		-- are then the owner's, checked by PostgreSQL
		EXECUTE format('ALTER TABLE pgmq.%I OWNER TO %I', atable, pgmq._queue_owner(qid)::regrole::name);
	ELSE
		RAISE NOTICE 'relation "%" already exists, skipping', atable;
	END IF;
	IF existed THEN
		RAISE NOTICE 'relation "%" already exists, skipping', qview || '_vt_idx';
		RAISE NOTICE 'relation "%" already exists, skipping', 'archived_at_idx_' || queue_name;
	END IF;

	-- one row per queue, under the name it was first created with
	IF NOT EXISTS (SELECT FROM pgmq.meta m WHERE pg_catalog.lower(m.queue_name) = q) THEN
		INSERT INTO pgmq.meta (queue_name, is_partitioned, is_unlogged)
		VALUES (queue_name, partitioned, unlogged)
		ON CONFLICT DO NOTHING;
	END IF;
END
$$;

/* The pgbroker queue of a new PGMQ queue: read any number of times, as in PGMQ. */
CREATE FUNCTION pgmq._create(queue_name text, partitioned boolean, unlogged boolean)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
	q text := pgmq._queue(queue_name);
	saved text;
BEGIN
	PERFORM pgmq.validate_queue_name(queue_name);
	IF NOT EXISTS (SELECT FROM pgmq.meta m WHERE pg_catalog.lower(m.queue_name) = q) THEN
		-- (a queue kept from before DROP EXTENSION pgmq is taken back, without
		-- pgbroker's notice that it exists)
		saved := current_setting('client_min_messages');
		PERFORM set_config('client_min_messages', 'warning', true);
		PERFORM broker.create_queue(q, max_attempts => 2147483647, retry_base => '0',
									retry_max => '0', if_not_exists => true);
		PERFORM set_config('client_min_messages', saved, true);
	END IF;
	PERFORM pgmq._attach(queue_name, partitioned, unlogged);
END
$$;

CREATE FUNCTION pgmq.create_non_partitioned(queue_name text)
RETURNS void
LANGUAGE sql
AS $$ SELECT pgmq._create(queue_name, false, false) $$;

CREATE FUNCTION pgmq.create(queue_name text)
RETURNS void
LANGUAGE sql
AS $$ SELECT pgmq._create(queue_name, false, false) $$;

/*
 * pgbroker queues are always logged: an unlogged queue would lose its
 * messages in a crash, which is the opposite of what pgbroker promises.
 * The queue is created logged; pgmq.meta records what was asked.
 */
CREATE FUNCTION pgmq.create_unlogged(queue_name text)
RETURNS void
LANGUAGE sql
AS $$ SELECT pgmq._create(queue_name, false, true) $$;

/*
 * PGMQ partitions a queue with pg_partman to drop old messages cheaply;
 * a pgbroker queue needs no partitions (consumed messages are deleted and
 * the table is kept small by maintain()).  As in PGMQ, pg_partman must be
 * installed; the intervals are checked and otherwise unused.
 */
CREATE FUNCTION pgmq.create_partitioned(queue_name text,
										partition_interval text DEFAULT '10000',
										retention_interval text DEFAULT '100000')
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
	PERFORM pgmq._queue(queue_name);
	PERFORM pgmq.validate_queue_name(queue_name);
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname = 'pg_partman') THEN
		RAISE EXCEPTION 'pg_partman is required for partitioned queues';
	END IF;
	IF partition_interval IS NULL OR retention_interval IS NULL THEN
		RAISE EXCEPTION 'partition_interval and retention_interval must not be null' USING ERRCODE = '22004';
	END IF;
	PERFORM pgmq._create(queue_name, true, false);
END
$$;

/*
 * Forget a queue that neither pgbroker (its queue) nor pgmq (its archive)
 * has any more: its row in pgmq.meta and a partitioned archive's pg_partman
 * configuration.  Anyone may: it removes nothing that is still there.
 */
CREATE FUNCTION pgmq._forget(queue_name text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	q text := pgmq._queue(queue_name);
	partman text;
BEGIN
	IF EXISTS (SELECT FROM broker.queue bq WHERE bq.name = q) THEN
		RAISE EXCEPTION 'queue "%" still exists', q USING ERRCODE = '55006';
	END IF;
	IF to_regclass(format('pgmq.%I', 'a_' || q)) IS NOT NULL THEN
		RAISE EXCEPTION 'the archive of queue "%" still exists', q USING ERRCODE = '55006';
	END IF;
	DELETE FROM pgmq.meta m WHERE pg_catalog.lower(m.queue_name) = q;
	SELECT extnamespace::regnamespace::text INTO partman FROM pg_extension WHERE extname = 'pg_partman';
	IF partman IS NOT NULL THEN
		EXECUTE format('DELETE FROM %I.part_config WHERE parent_table = %L', partman, 'pgmq.a_' || q);
	END IF;
END
$$;

CREATE FUNCTION pgmq.drop_queue(queue_name text)
RETURNS boolean
LANGUAGE plpgsql
SET client_min_messages = warning
AS $$
DECLARE
	q text := pgmq._queue(queue_name);
BEGIN
	IF NOT EXISTS (SELECT FROM pgmq.meta m WHERE pg_catalog.lower(m.queue_name) = q) THEN
		RAISE EXCEPTION 'relation "pgmq.%" does not exist', 'q_' || q USING ERRCODE = '42P01';
	END IF;
	-- pgbroker checks the privilege, and drops the view over the queue's table
	-- pgbroker checks the privilege to drop the queue (and drops its view);
	-- the archive is its owner's: dropping it is checked by PostgreSQL.
	-- (if_exists: it may have been dropped with broker.drop_queue; the
	-- notices of the view dropped with it are not PGMQ's)
	PERFORM broker.drop_queue(q, if_exists => true);
	EXECUTE format('DROP TABLE IF EXISTS pgmq.%I', 'a_' || q);
	PERFORM pgmq._forget(queue_name);
	RETURN true;
END
$$;

CREATE FUNCTION pgmq.drop_queue(queue_name text, partitioned boolean)
RETURNS boolean
LANGUAGE plpgsql
AS $$
BEGIN
	RAISE WARNING 'drop_queue(queue_name, partitioned) is deprecated and will be removed in PGMQ v2.0. Use drop_queue(queue_name) instead';
	PERFORM pgmq.drop_queue(queue_name);
	RETURN true;
END
$$;

CREATE FUNCTION pgmq.purge_queue(queue_name text)
RETURNS bigint
LANGUAGE sql
AS $$ SELECT broker.purge(pgmq._queue(queue_name)) $$;

/*
 * The archive table stays when the extension is dropped: it stops being a
 * typed table of an extension's type (PGMQ removes it from the extension).
 * The archive's owner (the queue's) may.
 */
CREATE FUNCTION pgmq.detach_archive(queue_name text)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
	EXECUTE format('ALTER TABLE pgmq.%I NOT OF', 'a_' || pgmq._queue(queue_name));
END
$$;

CREATE FUNCTION pgmq.list_queues()
RETURNS SETOF pgmq.queue_record
LANGUAGE sql STABLE
AS $$ SELECT m.queue_name, m.is_partitioned, m.is_unlogged, m.created_at FROM pgmq.meta m $$;

/* ---------------------------------------------------------------------
 * Sending
 * --------------------------------------------------------------------- */

/*
 * The delay of a message sent with PGMQ's delay: seconds (none if zero or
 * less), or the time it becomes visible (none if it passed).  NULL fails,
 * as PGMQ's NOT NULL vt does.
 */
CREATE FUNCTION pgmq._null_delay()
RETURNS interval
LANGUAGE plpgsql STABLE
AS $$
BEGIN
	RAISE EXCEPTION 'delay must not be null' USING ERRCODE = '23502';
END
$$;

CREATE FUNCTION pgmq._after(delay integer)
RETURNS interval
LANGUAGE sql STABLE
AS $$
	SELECT CASE WHEN delay IS NULL THEN pgmq._null_delay()
				ELSE pg_catalog.make_interval(secs => GREATEST(delay, 0)) END
$$;

CREATE FUNCTION pgmq._until(vt timestamptz)
RETURNS interval
LANGUAGE sql STABLE
AS $$
	SELECT CASE WHEN vt IS NULL THEN pgmq._null_delay()
				ELSE GREATEST(vt - pg_catalog.clock_timestamp(), '0'::interval) END
$$;

/* Every overload is one pgbroker send. */
CREATE FUNCTION pgmq.send(queue_name text, msg jsonb, headers jsonb, delay timestamptz)
RETURNS SETOF bigint
LANGUAGE plpgsql
AS $$ BEGIN RETURN NEXT broker.send(pgmq._queue(queue_name), msg, headers, pgmq._until(delay)); END $$;

CREATE FUNCTION pgmq.send(queue_name text, msg jsonb, headers jsonb, delay integer)
RETURNS SETOF bigint
LANGUAGE plpgsql
AS $$ BEGIN RETURN NEXT broker.send(pgmq._queue(queue_name), msg, headers, pgmq._after(delay)); END $$;

CREATE FUNCTION pgmq.send(queue_name text, msg jsonb, headers jsonb)
RETURNS SETOF bigint
LANGUAGE plpgsql
AS $$ BEGIN RETURN NEXT broker.send(pgmq._queue(queue_name), msg, headers); END $$;

CREATE FUNCTION pgmq.send(queue_name text, msg jsonb)
RETURNS SETOF bigint
LANGUAGE plpgsql
AS $$ BEGIN RETURN NEXT broker.send(pgmq._queue(queue_name), msg, NULL); END $$;

CREATE FUNCTION pgmq.send(queue_name text, msg jsonb, delay integer)
RETURNS SETOF bigint
LANGUAGE plpgsql
AS $$ BEGIN RETURN NEXT broker.send(pgmq._queue(queue_name), msg, NULL, pgmq._after(delay)); END $$;

CREATE FUNCTION pgmq.send(queue_name text, msg jsonb, delay timestamptz)
RETURNS SETOF bigint
LANGUAGE plpgsql
AS $$ BEGIN RETURN NEXT broker.send(pgmq._queue(queue_name), msg, NULL, pgmq._until(delay)); END $$;

/*
 * Each message with the header of the same position (PGMQ zips the two
 * arrays: a missing header is NULL, a header without a message sends a
 * NULL message).  One batch when every header is the same.
 */
CREATE FUNCTION pgmq._send_batch(queue_name text, msgs jsonb[], headers jsonb[], delay interval)
RETURNS SETOF bigint
LANGUAGE plpgsql
AS $$
DECLARE
	q text := pgmq._queue(queue_name);
	n integer := GREATEST(coalesce(cardinality(msgs), 0), coalesce(cardinality(headers), 0));
	i integer;
BEGIN
	IF msgs IS NULL THEN
		RETURN;
	END IF;
	IF headers IS NULL OR cardinality(headers) = 0
	   OR (cardinality(headers) = cardinality(msgs)
		   AND (SELECT count(DISTINCT coalesce(h::text, '')) FROM unnest(headers) h) = 1
		   AND NOT (headers[1] IS NULL AND array_position(headers, NULL) IS NULL)) THEN
		RETURN QUERY SELECT broker.send_batch(q, msgs, headers[1], delay);
		RETURN;
	END IF;
	FOR i IN 1 .. n LOOP
		RETURN NEXT broker.send(q, msgs[i], headers[i], delay);
	END LOOP;
END
$$;

/* Every overload is one _send_batch. */
CREATE FUNCTION pgmq.send_batch(queue_name text, msgs jsonb[], headers jsonb[], delay timestamptz)
RETURNS SETOF bigint
LANGUAGE plpgsql
AS $$ BEGIN RETURN QUERY SELECT pgmq._send_batch(queue_name, msgs, headers, pgmq._until(delay)); END $$;

CREATE FUNCTION pgmq.send_batch(queue_name text, msgs jsonb[], headers jsonb[], delay integer)
RETURNS SETOF bigint
LANGUAGE plpgsql
AS $$ BEGIN RETURN QUERY SELECT pgmq._send_batch(queue_name, msgs, headers, pgmq._after(delay)); END $$;

CREATE FUNCTION pgmq.send_batch(queue_name text, msgs jsonb[], headers jsonb[])
RETURNS SETOF bigint
LANGUAGE plpgsql
AS $$ BEGIN RETURN QUERY SELECT pgmq._send_batch(queue_name, msgs, headers, '0'); END $$;

CREATE FUNCTION pgmq.send_batch(queue_name text, msgs jsonb[])
RETURNS SETOF bigint
LANGUAGE plpgsql
AS $$ BEGIN RETURN QUERY SELECT pgmq._send_batch(queue_name, msgs, NULL, '0'); END $$;

CREATE FUNCTION pgmq.send_batch(queue_name text, msgs jsonb[], delay integer)
RETURNS SETOF bigint
LANGUAGE plpgsql
AS $$ BEGIN RETURN QUERY SELECT pgmq._send_batch(queue_name, msgs, NULL, pgmq._after(delay)); END $$;

CREATE FUNCTION pgmq.send_batch(queue_name text, msgs jsonb[], delay timestamptz)
RETURNS SETOF bigint
LANGUAGE plpgsql
AS $$ BEGIN RETURN QUERY SELECT pgmq._send_batch(queue_name, msgs, NULL, pgmq._until(delay)); END $$;

/* ---------------------------------------------------------------------
 * Reading
 * --------------------------------------------------------------------- */

/*
 * read and read_with_poll: a pgbroker claim whose lease is vt seconds
 * (zero or less: the message is visible again at once, its read counted),
 * with the conditional as a payload filter.  read_with_poll's claim waits
 * in the server up to max_poll_seconds and is woken by the commit of a
 * send (or when a message's vt ends): poll_interval_ms is not needed.  A
 * claim takes at most 10,000 messages.
 */
CREATE FUNCTION pgmq._read(queue_name text, vt integer, qty integer, wait interval, conditional jsonb)
RETURNS SETOF pgmq.message_record
LANGUAGE plpgsql
AS $$
BEGIN
	IF vt IS NULL OR qty IS NULL THEN
		RAISE EXCEPTION 'vt and qty must not be null' USING ERRCODE = '22004';
	END IF;
	IF qty < 0 THEN
		RAISE EXCEPTION 'LIMIT must not be negative' USING ERRCODE = '2201W';
	END IF;
	IF qty = 0 THEN
		RETURN;
	END IF;
	RETURN QUERY
		SELECT m.id, m.attempt, m.enqueued_at, m.lease_until, m.payload, NULLIF(m.headers, '{}')
		  FROM broker.claim(pgmq._queue(queue_name), LEAST(qty, 10000),
							pg_catalog.make_interval(secs => GREATEST(vt, 0)), wait,
							payload_filter => conditional) m;
END
$$;

CREATE FUNCTION pgmq.read(queue_name text, vt integer, qty integer, conditional jsonb DEFAULT '{}')
RETURNS SETOF pgmq.message_record
LANGUAGE plpgsql
AS $$ BEGIN RETURN QUERY SELECT * FROM pgmq._read(queue_name, vt, qty, '0', conditional); END $$;

CREATE FUNCTION pgmq.read_with_poll(queue_name text, vt integer, qty integer,
									max_poll_seconds integer DEFAULT 5,
									poll_interval_ms integer DEFAULT 100,
									conditional jsonb DEFAULT '{}')
RETURNS SETOF pgmq.message_record
LANGUAGE plpgsql
AS $$
BEGIN
	RETURN QUERY SELECT * FROM pgmq._read(queue_name, vt, qty,
		pg_catalog.make_interval(secs => LEAST(GREATEST(max_poll_seconds, 0), 3600)), conditional);
END
$$;

/* pop: claimed and acked in the caller's transaction; read_ct as stored. */
CREATE FUNCTION pgmq.pop(queue_name text)
RETURNS SETOF pgmq.message_record
LANGUAGE plpgsql
AS $$
DECLARE
	q text := pgmq._queue(queue_name);
BEGIN
	RETURN QUERY
		SELECT m.id, m.attempt - 1, m.enqueued_at, m.lease_until, m.payload, NULLIF(m.headers, '{}')
		  FROM broker.claim(q, 1, '0') m
		 WHERE broker.ack(q, m.id, m.receipt);
END
$$;

/* ---------------------------------------------------------------------
 * Settling
 * --------------------------------------------------------------------- */

CREATE FUNCTION pgmq.set_vt(queue_name text, msg_id bigint, vt integer)
RETURNS SETOF pgmq.message_record
LANGUAGE plpgsql
AS $$
DECLARE
	q text := pgmq._queue(queue_name);
BEGIN
	IF broker.set_visible(q, msg_id, pg_catalog.clock_timestamp()
									 + pg_catalog.make_interval(secs => vt)) IS NULL THEN
		RETURN;
	END IF;
	RETURN QUERY EXECUTE format('SELECT msg_id, read_ct, enqueued_at, vt, message, headers'
								' FROM pgmq.%I WHERE msg_id = $1', 'q_' || q)
		USING msg_id;
END
$$;

CREATE FUNCTION pgmq.delete(queue_name text, msg_id bigint)
RETURNS boolean
LANGUAGE sql
AS $$ SELECT broker.ack(pgmq._queue(queue_name), msg_id) $$;

/*
 * Many ids: one statement when every id is there (the usual case, ids
 * just read); otherwise one ack per id, to return those deleted.
 */
CREATE FUNCTION pgmq.delete(queue_name text, msg_ids bigint[])
RETURNS SETOF bigint
LANGUAGE plpgsql
AS $$
DECLARE
	q text := pgmq._queue(queue_name);
	ids bigint[] := ARRAY(SELECT DISTINCT i FROM unnest(msg_ids) i WHERE i IS NOT NULL);
BEGIN
	IF cardinality(ids) = 0 THEN
		RETURN;
	END IF;
	BEGIN
		IF broker.ack(q, ids) = cardinality(ids) THEN
			RETURN QUERY SELECT unnest(ids);
			RETURN;
		END IF;
		RAISE EXCEPTION USING ERRCODE = 'P0003';	-- undo, and take them one by one
	EXCEPTION WHEN too_many_rows THEN
		NULL;
	END;
	RETURN QUERY SELECT i FROM unnest(ids) i WHERE broker.ack(q, i);
END
$$;

/*
 * archive: the message's row goes to pgmq.a_<queue> and the message is
 * acked, in the caller's transaction (browse to read it, manage to remove
 * it without a receipt).
 */
CREATE FUNCTION pgmq.archive(queue_name text, msg_ids bigint[])
RETURNS SETOF bigint
LANGUAGE plpgsql
AS $$
DECLARE
	q text := pgmq._queue(queue_name);
	ids bigint[];
BEGIN
	IF NOT (pgmq._may('browse', q) AND pgmq._may('manage', q)) THEN
		RAISE EXCEPTION 'permission denied to archive messages of queue "%"', q USING ERRCODE = '42501',
			HINT = 'Archiving needs browse and manage on the queue.';
	END IF;
	EXECUTE format('WITH m AS (SELECT msg_id, read_ct, enqueued_at, vt, message, headers'
				   '             FROM pgmq.%I WHERE msg_id = ANY ($1) FOR UPDATE),'
				   ' a AS (INSERT INTO pgmq.%I (msg_id, read_ct, enqueued_at, vt, message, headers)'
				   '       SELECT msg_id, read_ct, enqueued_at, vt, message, headers FROM m'
				   '       ON CONFLICT (msg_id) DO NOTHING'
				   '       RETURNING msg_id)'
				   ' SELECT array_agg(msg_id ORDER BY msg_id) FROM a', 'q_' || q, 'a_' || q)
		INTO ids USING msg_ids;
	RETURN QUERY SELECT i FROM unnest(ids) i WHERE broker.ack(q, i);
END
$$;

CREATE FUNCTION pgmq.archive(queue_name text, msg_id bigint)
RETURNS boolean
LANGUAGE sql
AS $$ SELECT EXISTS (SELECT FROM pgmq.archive(queue_name, ARRAY[msg_id])) $$;

/* ---------------------------------------------------------------------
 * The writes of pgmq.q_<queue>: pgbroker's calls, with their checks
 * --------------------------------------------------------------------- */

CREATE FUNCTION pgmq._q_write()
RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
	q text := TG_ARGV[0];
BEGIN
	IF TG_OP = 'INSERT' THEN
		NEW.msg_id := broker.send(q, NEW.message, NEW.headers,
								  pgmq._until(coalesce(NEW.vt, pg_catalog.clock_timestamp())));
		NEW.read_ct := 0;
		RETURN NEW;
	ELSIF TG_OP = 'UPDATE' THEN
		IF (NEW.msg_id, NEW.read_ct, NEW.enqueued_at, NEW.message, NEW.headers)
		   IS DISTINCT FROM (OLD.msg_id, OLD.read_ct, OLD.enqueued_at, OLD.message, OLD.headers) THEN
			RAISE EXCEPTION 'only vt can be changed in %', TG_TABLE_NAME USING ERRCODE = '0A000',
				HINT = 'A message is not changed once sent: archive or delete it and send another.';
		END IF;
		IF NEW.vt IS NULL THEN
			RAISE EXCEPTION 'vt must not be null' USING ERRCODE = '23502';
		END IF;
		IF broker.set_visible(q, OLD.msg_id, NEW.vt) IS NULL THEN
			RETURN NULL;
		END IF;
		RETURN NEW;
	ELSE
		IF broker.ack(q, OLD.msg_id) THEN
			RETURN OLD;
		END IF;
		RETURN NULL;
	END IF;
END
$$;

/* ---------------------------------------------------------------------
 * Metrics: pgbroker's bounded measurement, never a count of the table
 * --------------------------------------------------------------------- */

/*
 * One queue's figures as the extension's owner, for a caller who may
 * browse the queue or monitors everything: messages and visible messages
 * measured by pgbroker (exact on small queues, sampled on large ones),
 * the first and last message by id, the id sequence.
 */
CREATE FUNCTION pgmq._metrics(queue_name text)
RETURNS pgmq.metrics_result
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	q text := pgmq._queue(queue_name);
	who regrole := pgmq._outer_role()::regrole;
	qid integer;
	r pgmq.metrics_result;
	oldest timestamptz;
	newest timestamptz;
BEGIN
	SELECT bq.id INTO qid FROM broker.queue bq WHERE bq.name = q;
	IF qid IS NULL THEN
		RAISE EXCEPTION 'relation "pgmq.%" does not exist', 'q_' || q USING ERRCODE = '42P01';
	END IF;
	IF NOT (broker.has_privilege(who, 'browse', queue => q)
			OR pg_has_role(who, 'pg_monitor', 'USAGE')
			OR pg_has_role(who, 'pgbroker_admin', 'USAGE')) THEN
		RAISE EXCEPTION 'permission denied to monitor queue "%"', q USING ERRCODE = '42501';
	END IF;
	EXECUTE format('SELECT (SELECT enqueued_at FROM broker.%1$I ORDER BY id LIMIT 1),'
				   ' (SELECT enqueued_at FROM broker.%1$I ORDER BY id DESC LIMIT 1)', 'queue_' || qid)
		INTO oldest, newest;
	SELECT queue_name, m.messages,
		   extract(epoch FROM now() - newest)::int, extract(epoch FROM now() - oldest)::int,
		   coalesce(pg_sequence_last_value(
			   pg_get_serial_sequence(format('broker.%I', 'queue_' || qid), 'id')::regclass), 0),
		   now(), m.ready
	  INTO r
	  FROM broker._queue_metrics(ARRAY[qid]) m;
	RETURN r;
END
$$;

CREATE FUNCTION pgmq.metrics(queue_name text)
RETURNS pgmq.metrics_result
LANGUAGE sql STABLE
AS $$ SELECT pgmq._metrics(queue_name) $$;

/* Every queue in pgmq.meta that exists and that the caller may monitor. */
CREATE FUNCTION pgmq.metrics_all()
RETURNS SETOF pgmq.metrics_result
LANGUAGE sql STABLE
AS $$
	SELECT pgmq._metrics(m.queue_name) FROM pgmq.meta m
	 WHERE to_regclass(format('pgmq.%I', 'q_' || pgmq._queue(m.queue_name))) IS NOT NULL
	   AND (broker.has_privilege(NULL, 'browse', queue => pgmq._queue(m.queue_name))
			OR pg_has_role('pg_monitor', 'USAGE') OR pg_has_role('pgbroker_admin', 'USAGE'))
$$;

/*
 * The archive as a table partitioned by msg_id with pg_partman, which then
 * drops old partitions after retention_interval (PGMQ's steps: the
 * archive is renamed <a>_old and keeps its rows, a partitioned table
 * takes its name, its archived_at index is renamed <index>_old).  A
 * partitioned archive is a plain table, not a typed one, so DROP
 * EXTENSION pgmq keeps it, as after detach_archive.  Needs manage.
 */
CREATE FUNCTION pgmq.convert_archive_partitioned(table_name text,
												 partition_interval text DEFAULT '10000',
												 retention_interval text DEFAULT '100000',
												 leading_partition integer DEFAULT 10)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	q text := pgmq._queue(table_name);
	atable text := pgmq.format_table_name(table_name, 'a');
	partman text;
BEGIN
	IF EXISTS (SELECT FROM pg_class WHERE relnamespace = 'pgmq'::regnamespace
				 AND relname = atable AND relkind = 'p') THEN
		RAISE NOTICE 'Table %s is already partitioned', atable;
		RETURN;
	END IF;
	IF NOT EXISTS (SELECT FROM pg_class WHERE relnamespace = 'pgmq'::regnamespace
					 AND relname = atable AND relkind = 'r') THEN
		RAISE NOTICE 'Table %s does not exists', atable;
		RETURN;
	END IF;
	SELECT extnamespace::regnamespace::text INTO partman FROM pg_extension WHERE extname = 'pg_partman';
	IF partman IS NULL THEN
		RAISE EXCEPTION 'pg_partman is required for partitioned queues';
	END IF;
	IF NOT broker.has_privilege(pgmq._outer_role()::regrole, 'manage', queue => q) THEN
		RAISE EXCEPTION 'permission denied for queue "%"', q USING ERRCODE = '42501';
	END IF;
	EXECUTE format('ALTER TABLE pgmq.%I RENAME TO %I', atable, atable || '_old');
	EXECUTE format('CREATE TABLE pgmq.%I (LIKE pgmq.%I INCLUDING DEFAULTS INCLUDING CONSTRAINTS,'
				   ' PRIMARY KEY (msg_id)) PARTITION BY RANGE (msg_id)', atable, atable || '_old');
	EXECUTE format('ALTER INDEX pgmq.%I RENAME TO %I', 'archived_at_idx_' || table_name,
				   'archived_at_idx_' || table_name || '_old');
	EXECUTE format('CREATE INDEX %I ON pgmq.%I (archived_at)', 'archived_at_idx_' || table_name, atable);
	PERFORM pgmq._protect_archive(atable, q);
	EXECUTE format('SELECT %I.create_parent(p_parent_table := %L, p_control := %L, p_interval := %L, p_type := %L)',
				   partman, 'pgmq.' || atable, 'msg_id', partition_interval,
				   CASE WHEN (SELECT split_part(extversion, '.', 1)::int FROM pg_extension
							   WHERE extname = 'pg_partman') >= 5 THEN 'range' ELSE 'native' END);
	EXECUTE format('UPDATE %I.part_config SET retention = %L, retention_keep_table = false,'
				   ' retention_keep_index = false, infinite_time_partitions = true'
				   ' WHERE parent_table = %L', partman, retention_interval, 'pgmq.' || atable);
END
$$;

/*
 * Who may call what: PUBLIC may call every function (the default); each
 * one's work is a pgbroker call, which checks the caller's privilege on
 * the queue; the archive tables are the queue owner's (dropping and
 * detaching them is checked by PostgreSQL); the functions that run as the
 * extension's owner check what they need themselves (_metrics,
 * convert_archive_partitioned: the role set with SET ROLE or the session
 * user; _attach makes only a queue's own objects; _forget removes only
 * what is already gone).
 */
