/*
 * pgbroker--0.1.0--0.2.0.sql - from pgbroker 0.1.0 to 0.2.0, frozen at the
 * 0.2.0 release.  It was built by make from sql/upgrade/0.1.0--0.2.0.sql
 * and the areas 0.2.0 added, and is kept as it was released: steps are
 * never edited once released.
 */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION pgbroker UPDATE TO '0.2.0'" to load this file. \quit

/*
 * sql/upgrade/0.1.0--0.2.0.sql - from pgbroker 0.1.0 to 0.2.0
 *
 * 0.2.0 adds topics, consumer groups, waiting without a snapshot and
 * notifications.  This file makes the changes 0.2.0 brings to the objects
 * of 0.1.0, in the order of sql/src/queue.sql.  The step then runs, from
 * sql/src/, the areas 0.2.0 adds whole (topic.sql, group.sql, wait.sql),
 * maintain.sql (its maintain() replaces that of 0.1.0) and grants.sql, so
 * that an upgraded installation ends as a fresh one does;
 * test/scripts/upgrade_dump.sh compares the two.
 */

/* Name checks raise on a NULL name too (roles.sql). */
ALTER FUNCTION broker._check_name(text, text) CALLED ON NULL INPUT;

/* Queues can signal LISTENing clients (wait.sql). */
ALTER TABLE broker.queue ADD COLUMN notify boolean NOT NULL DEFAULT false;

/* The expiry index is added or removed only when missing or present. */
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

/* The sends pin no search_path of their own (queue.sql says why). */
ALTER FUNCTION broker.send(text, jsonb, jsonb, interval, integer, text, text) RESET search_path;
ALTER FUNCTION broker.send_bytes(text, bytea, jsonb, interval, integer, text, text) RESET search_path;
ALTER FUNCTION broker.send_batch(text, jsonb[], jsonb, interval, integer, text[], text[]) RESET search_path;
ALTER FUNCTION broker.send_batch_bytes(text, bytea[], jsonb, interval, integer, text[], text[]) RESET search_path;

/*
 * sql/src/topic.sql - topics: catalog and segments, administration, publishing
 * and reading, offsets, statistics
 *
 * A topic is a row of broker.topic with a number of partitions; its
 * records live in segment tables, listed in broker.segment, that
 * maintain_topics() (maintain.sql) creates ahead of need, rotates and
 * drops.  Publishing and reading are C; administration and the offset
 * lookups are PL/pgSQL.  Consumer groups are in group.sql; notifications
 * (alter_topic(name, notify)) in wait.sql.
 */

/*
 * The topic catalog.  A topic's records live in segment tables,
 * broker.topic_<id>_<seg_no>, named by ids so that user-supplied names
 * never become part of an identifier.  Segments are plain tables managed
 * by pgbroker rather than declarative partitions, so that dropping one
 * takes no lock on a parent that producers and readers use.  notify:
 * whether a transaction that publishes to the topic signals LISTENing
 * clients at commit (wait.sql).
 */
CREATE SEQUENCE broker.topic_id_seq AS integer;

CREATE TABLE broker.topic (
	id				integer PRIMARY KEY DEFAULT pg_catalog.nextval('broker.topic_id_seq'),
	name			text NOT NULL UNIQUE,
	partitions		integer NOT NULL CHECK (partitions BETWEEN 1 AND 1024),
	retention		interval CHECK (retention >= '0'),
	retention_bytes	bigint CHECK (retention_bytes >= 0),
	compacted		boolean NOT NULL DEFAULT false,
	tombstone_grace	interval NOT NULL DEFAULT '1 day' CHECK (tombstone_grace >= '0'),
	segment_interval interval NOT NULL DEFAULT '1 hour' CHECK (segment_interval > '0'),
	segment_bytes	bigint NOT NULL DEFAULT 268435456 CHECK (segment_bytes >= 1048576),
	dedup_window	interval NOT NULL DEFAULT '5 minutes' CHECK (dedup_window >= '0'),
	compacted_through integer NOT NULL DEFAULT 0,
	retain_for_groups text[],
	created_at		timestamptz NOT NULL DEFAULT pg_catalog.now(),
	notify			boolean NOT NULL DEFAULT false
);
ALTER SEQUENCE broker.topic_id_seq OWNED BY broker.topic.id;
SELECT pg_catalog.pg_extension_config_dump('broker.topic', '');
SELECT pg_catalog.pg_extension_config_dump('broker.topic_id_seq', '');

/*
 * The segments of each topic.  A segment is created ahead of need
 * (start_offsets NULL), becomes the one producers append to when
 * maintain() rotates (start_offsets: the first offset of each partition in
 * it, indexed by partition + 1; a partition added later starts at 0), and
 * is sealed when the next one takes over.  Segment seg_no of partition p
 * holds the offsets from its start_offsets[p + 1] up to the next
 * segment's.
 */
CREATE TABLE broker.segment (
	topic_id		integer NOT NULL,
	seg_no			integer NOT NULL,
	start_offsets	bigint[],
	created_at		timestamptz NOT NULL DEFAULT pg_catalog.now(),
	activated_at	timestamptz,
	sealed_at		timestamptz,
	PRIMARY KEY (topic_id, seg_no)
);
SELECT pg_catalog.pg_extension_config_dump('broker.segment', '');

/* Producer dedup keys of topics, each until its topic's dedup window ends. */
CREATE TABLE broker.topic_dedup (
	topic_id		integer NOT NULL,
	dedup_key		text NOT NULL,
	expires_at		timestamptz NOT NULL,
	PRIMARY KEY (topic_id, dedup_key)
);
SELECT pg_catalog.pg_extension_config_dump('broker.topic_dedup', '');

/* What a read hands out.  offset_id follows Kafka's offsets: from 0, dense. */
CREATE TYPE broker.record AS (
	partition		integer,
	offset_id		bigint,
	key				text,
	payload			jsonb,
	payload_bytes	bytea,
	headers			jsonb,
	published_at	timestamptz
);

/* Internal C helpers, called by the SECURITY DEFINER functions below. */
CREATE FUNCTION broker._lock_topic(topic_id integer)
RETURNS void
AS 'MODULE_PATHNAME', 'pgbroker_lock_topic'
LANGUAGE C STRICT;

CREATE FUNCTION broker._topic_changed()
RETURNS void
AS 'MODULE_PATHNAME', 'pgbroker_topic_changed'
LANGUAGE C STRICT;

/*
 * Lock a segment table for reading if it still exists; false if retention
 * (or drop_topic) removed it after the caller listed the segments.
 */
CREATE FUNCTION broker._lock_segment(topic_id integer, seg_no integer)
RETURNS boolean
AS 'MODULE_PATHNAME', 'pgbroker_lock_segment'
LANGUAGE C STRICT;

/* Resolve a topic name to its catalog row, or raise 42704. */
CREATE FUNCTION broker._topic(topic text)
RETURNS broker.topic
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	t broker.topic;
BEGIN
	PERFORM broker._check_name(topic, 'topic');
	SELECT * INTO t FROM broker.topic bt WHERE bt.name = $1;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'topic "%" does not exist', topic USING ERRCODE = '42704';
	END IF;
	RETURN t;
END
$$;

/* Check a partition number against a topic, or raise 22003. */
CREATE FUNCTION broker._check_partition(t broker.topic, partition integer)
RETURNS void
AS 'MODULE_PATHNAME', 'pgbroker_check_partition'
LANGUAGE C IMMUTABLE;

/* The table of one segment, as a quoted, schema-qualified name. */
CREATE FUNCTION broker._segment_table(topic_id integer, seg_no integer)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT 'broker.' || pg_catalog.quote_ident('topic_' || topic_id || '_' || seg_no) $$;

/* Create the table of a segment and its catalog row (not yet active). */
CREATE FUNCTION broker._create_segment(topic_id integer, seg_no integer)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	tbl text := 'topic_' || topic_id || '_' || seg_no;
BEGIN
	/*
	 * Records are written once at commit and never updated; readers walk
	 * the primary key.  No other index: each is work for every publish.
	 */
	EXECUTE format($f$
		CREATE TABLE broker.%1$I (
			partition		integer NOT NULL,
			offset_id		bigint NOT NULL,
			key				text,
			payload			jsonb,
			payload_bytes	bytea,
			headers			jsonb,
			published_at	timestamptz NOT NULL,
			PRIMARY KEY (partition, offset_id)
		) WITH (fillfactor = 100)
		$f$, tbl);
	EXECUTE format('REVOKE ALL ON broker.%I FROM PUBLIC', tbl);
	INSERT INTO broker.segment (topic_id, seg_no) VALUES (topic_id, seg_no);
END
$$;

/*
 * The end offset of one partition (the next offset to assign), as the
 * caller's snapshot sees it.
 */
CREATE FUNCTION broker._end_offset(t broker.topic, partition integer)
RETURNS bigint
AS 'MODULE_PATHNAME', 'pgbroker_end_offset'
LANGUAGE C STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

/* ---------------------------------------------------------------------
 * Administration
 * --------------------------------------------------------------------- */

CREATE FUNCTION broker.create_topic(
	name			text,
	partitions		integer DEFAULT 1,
	retention		interval DEFAULT NULL,
	retention_bytes	bigint DEFAULT NULL,
	compacted		boolean DEFAULT false,
	segment_interval interval DEFAULT '1 hour',
	segment_bytes	bigint DEFAULT 268435456,
	dedup_window	interval DEFAULT '5 minutes',
	tombstone_grace	interval DEFAULT '1 day',
	if_not_exists	boolean DEFAULT false,
	retain_for_groups text[] DEFAULT NULL)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	tid integer;
BEGIN
	PERFORM broker._check_name(name, 'topic');
	IF partitions IS NULL OR partitions < 1 OR partitions > 1024 THEN
		RAISE EXCEPTION 'partitions must be between 1 and 1024' USING ERRCODE = '22023';
	END IF;
	IF retention < '0' THEN
		RAISE EXCEPTION 'retention must not be negative' USING ERRCODE = '22023';
	END IF;
	IF retention_bytes < 0 THEN
		RAISE EXCEPTION 'retention_bytes must not be negative' USING ERRCODE = '22023';
	END IF;
	IF compacted IS NULL THEN
		RAISE EXCEPTION 'compacted must not be null' USING ERRCODE = '22004';
	END IF;
	IF segment_interval IS NULL OR segment_interval <= '0' THEN
		RAISE EXCEPTION 'segment_interval must be greater than zero' USING ERRCODE = '22023';
	END IF;
	IF segment_bytes IS NULL OR segment_bytes < 1048576 THEN
		RAISE EXCEPTION 'segment_bytes must be at least 1MB (1048576)' USING ERRCODE = '22023';
	END IF;
	IF dedup_window IS NULL OR dedup_window < '0' THEN
		RAISE EXCEPTION 'dedup_window must not be negative' USING ERRCODE = '22023';
	END IF;
	IF tombstone_grace IS NULL OR tombstone_grace < '0' THEN
		RAISE EXCEPTION 'tombstone_grace must not be negative' USING ERRCODE = '22023';
	END IF;

	PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('pgbroker.create_topic'), 0);
	IF EXISTS (SELECT 1 FROM broker.topic t WHERE t.name = create_topic.name) THEN
		IF if_not_exists THEN
			RAISE NOTICE 'topic "%" already exists, skipping', name;
			RETURN false;
		END IF;
		RAISE EXCEPTION 'topic "%" already exists', name USING ERRCODE = '42710';
	END IF;

	INSERT INTO broker.topic AS t (name, partitions, retention, retention_bytes, compacted,
								   segment_interval, segment_bytes, dedup_window, tombstone_grace,
								   retain_for_groups)
	VALUES (name, partitions, retention, retention_bytes, compacted,
			segment_interval, segment_bytes, dedup_window, tombstone_grace,
			nullif(retain_for_groups, '{}'))
	RETURNING t.id INTO tid;

	PERFORM broker._create_segment(tid, 1);
	UPDATE broker.segment s
	   SET start_offsets = pg_catalog.array_fill(0::bigint, ARRAY[partitions]),
		   activated_at = pg_catalog.now()
	 WHERE s.topic_id = tid AND s.seg_no = 1;
	RETURN true;
END
$$;
COMMENT ON FUNCTION broker.create_topic(text, integer, interval, bigint, boolean, interval, bigint, interval, interval, boolean, text[])
	IS 'create a partitioned topic';

/*
 * Change a topic's settings.  Partitions can only be added: records keep
 * their partition, and keys hash over the new count from then on.
 */
CREATE FUNCTION broker.alter_topic(
	name			text,
	partitions		integer DEFAULT NULL,
	retention		interval DEFAULT NULL,
	retention_bytes	bigint DEFAULT NULL,
	compacted		boolean DEFAULT NULL,
	segment_interval interval DEFAULT NULL,
	segment_bytes	bigint DEFAULT NULL,
	dedup_window	interval DEFAULT NULL,
	tombstone_grace	interval DEFAULT NULL,
	clear_retention	boolean DEFAULT false,
	clear_retention_bytes boolean DEFAULT false,
	retain_for_groups text[] DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	t broker.topic := broker._topic(name);
BEGIN
	IF partitions IS NOT NULL THEN
		IF partitions < t.partitions THEN
			RAISE EXCEPTION 'cannot reduce the partitions of topic "%" from % to %',
				t.name, t.partitions, partitions
				USING ERRCODE = '22023',
					  HINT = 'Partitions can only be added.';
		END IF;
		IF partitions > 1024 THEN
			RAISE EXCEPTION 'partitions must be between 1 and 1024' USING ERRCODE = '22023';
		END IF;
	END IF;
	IF retention < '0' THEN
		RAISE EXCEPTION 'retention must not be negative' USING ERRCODE = '22023';
	END IF;
	IF retention_bytes < 0 THEN
		RAISE EXCEPTION 'retention_bytes must not be negative' USING ERRCODE = '22023';
	END IF;
	IF segment_interval <= '0' THEN
		RAISE EXCEPTION 'segment_interval must be greater than zero' USING ERRCODE = '22023';
	END IF;
	IF segment_bytes < 1048576 THEN
		RAISE EXCEPTION 'segment_bytes must be at least 1MB (1048576)' USING ERRCODE = '22023';
	END IF;
	IF dedup_window < '0' THEN
		RAISE EXCEPTION 'dedup_window must not be negative' USING ERRCODE = '22023';
	END IF;
	IF tombstone_grace < '0' THEN
		RAISE EXCEPTION 'tombstone_grace must not be negative' USING ERRCODE = '22023';
	END IF;

	UPDATE broker.topic bt SET
		partitions = coalesce(alter_topic.partitions, bt.partitions),
		retention = CASE WHEN clear_retention THEN NULL
						 ELSE coalesce(alter_topic.retention, bt.retention) END,
		retention_bytes = CASE WHEN clear_retention_bytes THEN NULL
							   ELSE coalesce(alter_topic.retention_bytes, bt.retention_bytes) END,
		compacted = coalesce(alter_topic.compacted, bt.compacted),
		segment_interval = coalesce(alter_topic.segment_interval, bt.segment_interval),
		segment_bytes = coalesce(alter_topic.segment_bytes, bt.segment_bytes),
		dedup_window = coalesce(alter_topic.dedup_window, bt.dedup_window),
		tombstone_grace = coalesce(alter_topic.tombstone_grace, bt.tombstone_grace),
		retain_for_groups = CASE WHEN alter_topic.retain_for_groups = '{}' THEN NULL
								 ELSE coalesce(alter_topic.retain_for_groups, bt.retain_for_groups) END
	 WHERE bt.id = t.id;
	PERFORM broker._topic_changed();
END
$$;
COMMENT ON FUNCTION broker.alter_topic(text, integer, interval, bigint, boolean, interval, bigint, interval, interval, boolean, boolean, text[])
	IS 'add partitions to a topic or change its retention and other settings';

CREATE FUNCTION broker.drop_topic(name text, if_exists boolean DEFAULT false)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	tid integer;
	s record;
BEGIN
	PERFORM broker._check_name(name, 'topic');
	SELECT t.id INTO tid FROM broker.topic t WHERE t.name = drop_topic.name FOR UPDATE;
	IF NOT FOUND THEN
		IF if_exists THEN
			RAISE NOTICE 'topic "%" does not exist, skipping', name;
			RETURN false;
		END IF;
		RAISE EXCEPTION 'topic "%" does not exist', name USING ERRCODE = '42704';
	END IF;
	/* Wait for producers that are appending at commit. */
	PERFORM broker._lock_topic(tid);
	FOR s IN SELECT bs.seg_no FROM broker.segment bs WHERE bs.topic_id = tid LOOP
		EXECUTE format('DROP TABLE IF EXISTS %s', broker._segment_table(tid, s.seg_no));
	END LOOP;
	DELETE FROM broker.segment WHERE topic_id = tid;
	DELETE FROM broker.topic_dedup WHERE topic_id = tid;
	DELETE FROM broker.group_state gst USING broker.consumer_group g
	 WHERE g.topic_id = tid AND gst.group_id = g.id;
	DELETE FROM broker.group_member gm USING broker.consumer_group g
	 WHERE g.topic_id = tid AND gm.group_id = g.id;
	DELETE FROM broker.consumer_group WHERE topic_id = tid;
	DELETE FROM broker.topic WHERE id = tid;
	PERFORM broker._topic_changed();
	RETURN true;
END
$$;
COMMENT ON FUNCTION broker.drop_topic(text, boolean) IS 'drop a topic with all its records';

/* ---------------------------------------------------------------------
 * Publishing and reading (C)
 * --------------------------------------------------------------------- */

CREATE FUNCTION broker.publish(
	topic		text,
	payload		jsonb,
	key			text DEFAULT NULL,
	headers		jsonb DEFAULT '{}',
	partition	integer DEFAULT NULL,
	dedup_key	text DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'pgbroker_publish'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION broker.publish_bytes(
	topic		text,
	payload		bytea,
	key			text DEFAULT NULL,
	headers		jsonb DEFAULT '{}',
	partition	integer DEFAULT NULL,
	dedup_key	text DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'pgbroker_publish'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION broker.publish_batch(
	topic		text,
	payloads	jsonb[],
	keys		text[] DEFAULT NULL,
	headers		jsonb DEFAULT '{}',
	partition	integer DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'pgbroker_publish_batch'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION broker.publish_batch_bytes(
	topic		text,
	payloads	bytea[],
	keys		text[] DEFAULT NULL,
	headers		jsonb DEFAULT '{}',
	partition	integer DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'pgbroker_publish_batch'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION broker.partition_for(topic text, key text)
RETURNS integer
AS 'MODULE_PATHNAME', 'pgbroker_partition_for'
LANGUAGE C STABLE PARALLEL SAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION broker.read(
	topic		text,
	partition	integer,
	from_offset	bigint,
	max_records	integer DEFAULT 100)
RETURNS SETOF broker.record
AS 'MODULE_PATHNAME', 'pgbroker_read'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION broker.publish(text, jsonb, text, jsonb, integer, text)
	IS 'publish one JSON record; it gets its offset when the transaction commits';
COMMENT ON FUNCTION broker.publish_bytes(text, bytea, text, jsonb, integer, text)
	IS 'publish one binary record; it gets its offset when the transaction commits';
COMMENT ON FUNCTION broker.publish_batch(text, jsonb[], text[], jsonb, integer)
	IS 'publish many JSON records; they get their offsets when the transaction commits';
COMMENT ON FUNCTION broker.publish_batch_bytes(text, bytea[], text[], jsonb, integer)
	IS 'publish many binary records; they get their offsets when the transaction commits';
COMMENT ON FUNCTION broker.partition_for(text, text) IS 'the partition a key maps to';
COMMENT ON FUNCTION broker.read(text, integer, bigint, integer)
	IS 'read records of one partition from an offset (inclusive)';

/* ---------------------------------------------------------------------
 * Offsets
 * --------------------------------------------------------------------- */

/* The next offset to be assigned in a partition (Kafka's end offset). */
CREATE FUNCTION broker.latest_offset(topic text, partition integer)
RETURNS bigint
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	t broker.topic := broker._topic(topic);
BEGIN
	PERFORM broker._check_partition(t, partition);
	RETURN broker._end_offset(t, partition);
END
$$;

/*
 * The first offset still retained in a partition: the start of its oldest
 * segment (compaction may have removed records after it).
 */
CREATE FUNCTION broker.earliest_offset(topic text, partition integer)
RETURNS bigint
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	t broker.topic := broker._topic(topic);
	first bigint;
BEGIN
	PERFORM broker._check_partition(t, partition);
	SELECT coalesce(bs.start_offsets[partition + 1], 0) INTO first
	  FROM broker.segment bs
	 WHERE bs.topic_id = t.id AND bs.start_offsets IS NOT NULL
	 ORDER BY bs.seg_no LIMIT 1;
	RETURN coalesce(first, 0);
END
$$;

/*
 * The first offset of a partition published at or after a time; the end
 * offset if there is none.  published_at never decreases within a
 * partition, so this is a binary search over the offsets of one segment.
 */
CREATE FUNCTION broker.offset_for_time(topic text, partition integer, at timestamptz)
RETURNS bigint
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	t broker.topic := broker._topic(topic);
	s record;
	tbl text;
	probe text;
	lo bigint;
	hi bigint;
	mid bigint;
	got_off bigint;
	got_at timestamptz;
BEGIN
	PERFORM broker._check_partition(t, partition);
	IF at IS NULL THEN
		RAISE EXCEPTION 'time must not be null' USING ERRCODE = '22004';
	END IF;
	FOR s IN SELECT bs.seg_no FROM broker.segment bs
			  WHERE bs.topic_id = t.id AND bs.start_offsets IS NOT NULL
			  ORDER BY bs.seg_no
	LOOP
		tbl := broker._segment_table(t.id, s.seg_no);
		CONTINUE WHEN NOT broker._lock_segment(t.id, s.seg_no);
		probe := format('SELECT r.offset_id, r.published_at FROM %s r
						  WHERE r.partition = $1 AND r.offset_id >= $2
						  ORDER BY r.offset_id LIMIT 1', tbl);
		EXECUTE format('SELECT min(r.offset_id), max(r.offset_id) FROM %s r WHERE r.partition = $1', tbl)
		INTO lo, hi USING partition;
		CONTINUE WHEN hi IS NULL;
		EXECUTE probe INTO got_off, got_at USING partition, hi;
		CONTINUE WHEN got_at < at;
		/* The answer is in this segment: the first offset >= lo with published_at >= at. */
		WHILE lo < hi LOOP
			mid := lo + (hi - lo) / 2;
			EXECUTE probe INTO got_off, got_at USING partition, mid;
			IF got_at >= at THEN
				hi := got_off;
			ELSE
				lo := got_off + 1;
			END IF;
		END LOOP;
		EXECUTE probe INTO got_off, got_at USING partition, lo;
		RETURN got_off;
	END LOOP;
	RETURN broker._end_offset(t, partition);
END
$$;

/* Per partition: the offsets, the records retained and their age. */
CREATE FUNCTION broker.topic_partitions(topic text)
RETURNS TABLE (partition integer, earliest_offset bigint, latest_offset bigint,
			   records bigint, oldest_published_at timestamptz)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	t broker.topic := broker._topic(topic);
	first_seg integer;
	s record;
	tbl text;
BEGIN
	SELECT bs.seg_no INTO first_seg FROM broker.segment bs
	 WHERE bs.topic_id = t.id AND bs.start_offsets IS NOT NULL
	 ORDER BY bs.seg_no LIMIT 1;
	FOR p IN 0 .. t.partitions - 1 LOOP
		partition := p;
		earliest_offset := broker.earliest_offset(topic, p);
		latest_offset := broker._end_offset(t, p);
		records := latest_offset - earliest_offset;
		oldest_published_at := NULL;
		IF first_seg IS NOT NULL THEN
			FOR s IN SELECT bs.seg_no FROM broker.segment bs
					  WHERE bs.topic_id = t.id AND bs.start_offsets IS NOT NULL
					  ORDER BY bs.seg_no
			LOOP
				tbl := broker._segment_table(t.id, s.seg_no);
				CONTINUE WHEN NOT broker._lock_segment(t.id, s.seg_no);
				EXECUTE format('SELECT r.published_at FROM %s r WHERE r.partition = $1
								 ORDER BY r.offset_id LIMIT 1', tbl)
				INTO oldest_published_at USING p;
				EXIT WHEN oldest_published_at IS NOT NULL;
			END LOOP;
		END IF;
		RETURN NEXT;
	END LOOP;
END
$$;

/*
 * One row per topic.  records counts offsets between the earliest and the
 * end offset of each partition (exact for topics without compaction);
 * bytes is the size on disk of the retained segments, indexes included.
 */
CREATE FUNCTION broker.topic_stats(topic_id integer,
	OUT records bigint, OUT bytes bigint, OUT segments integer,
	OUT earliest_offsets bigint[], OUT latest_offsets bigint[],
	OUT oldest_record_age interval)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	t broker.topic;
	p record;
BEGIN
	SELECT * INTO t FROM broker.topic bt WHERE bt.id = topic_id;
	IF NOT FOUND THEN
		RETURN;
	END IF;
	SELECT count(*), coalesce(sum(pg_catalog.pg_total_relation_size(
			   pg_catalog.to_regclass(broker._segment_table(t.id, bs.seg_no)))), 0)
	  INTO segments, bytes
	  FROM broker.segment bs WHERE bs.topic_id = t.id;
	records := 0;
	earliest_offsets := '{}';
	latest_offsets := '{}';
	FOR p IN SELECT * FROM broker.topic_partitions(t.name) LOOP
		records := records + p.records;
		earliest_offsets := earliest_offsets || p.earliest_offset;
		latest_offsets := latest_offsets || p.latest_offset;
		IF p.oldest_published_at IS NOT NULL THEN
			oldest_record_age := greatest(oldest_record_age,
										  pg_catalog.now() - p.oldest_published_at);
		END IF;
	END LOOP;
END
$$;

CREATE VIEW broker.topics AS
SELECT t.name AS topic, t.partitions,
	   s.records, s.bytes, s.segments, s.earliest_offsets, s.latest_offsets,
	   s.oldest_record_age, t.retention, t.retention_bytes, t.compacted,
	   t.segment_interval, t.dedup_window, t.created_at
  FROM broker.topic t,
	   LATERAL broker.topic_stats(t.id) s;
COMMENT ON FUNCTION broker.latest_offset(text, integer) IS 'the next offset to be assigned in a partition';
COMMENT ON FUNCTION broker.earliest_offset(text, integer) IS 'the first offset retained in a partition';
COMMENT ON FUNCTION broker.offset_for_time(text, integer, timestamptz)
	IS 'the first offset published at or after a time';
COMMENT ON FUNCTION broker.topic_partitions(text) IS 'offsets, record counts and age per partition of a topic';
COMMENT ON VIEW broker.topics IS 'one row per topic: partitions, records, size, offsets, age';

/*
 * sql/src/group.sql - consumer groups of topics: catalog and state, creating
 * and deleting, polling, committing, leases, seeking, lag
 *
 * A consumer group reads a topic independently of other groups, and keeps
 * per partition an append-only state in broker.group_state: the committed
 * offset, the position handed out, and the lease of the consumer that
 * holds the partition.  poll and commit are C; the other functions here are
 * PL/pgSQL.  Waiting without a snapshot (poll_wait) is in wait.sql;
 * removing superseded states and departed members is maintain_topics(),
 * in maintain.sql.
 */

/*
 * A consumer group of a topic.  start: where a group that has no committed
 * offset for a partition begins ('latest' as Kafka's auto.offset.reset
 * default, or 'earliest').
 */
CREATE SEQUENCE broker.consumer_group_id_seq AS integer;
CREATE TABLE broker.consumer_group (
	id				integer PRIMARY KEY DEFAULT pg_catalog.nextval('broker.consumer_group_id_seq'),
	topic_id		integer NOT NULL,
	name			text NOT NULL,
	start			text NOT NULL DEFAULT 'latest' CHECK (start IN ('earliest', 'latest')),
	created_at		timestamptz NOT NULL DEFAULT pg_catalog.now(),
	UNIQUE (topic_id, name)
);
ALTER SEQUENCE broker.consumer_group_id_seq OWNED BY broker.consumer_group.id;
SELECT pg_catalog.pg_extension_config_dump('broker.consumer_group', '');
SELECT pg_catalog.pg_extension_config_dump('broker.consumer_group_id_seq', '');

/*
 * The state of each (group, partition), append-only: every change (a poll
 * that moves on, a commit, a lease taken or extended, a seek) inserts a
 * new row and the row with the highest seq is the state.  Nothing updates
 * a row in place, so a long transaction elsewhere cannot grow chains of
 * dead versions that every poll would walk: a poll reads the newest row
 * with a backward scan of the primary key.  maintain() deletes superseded
 * rows.
 *
 * committed: the next offset to read (Kafka's committed offset).
 * position: the next offset to hand the lease holder (ahead of committed
 * while leased records are being worked on).
 * consumer, epoch, lease_until: the lease; epoch grows at every change of
 * holder.  session: the database session of the holder's last poll; its
 * position is good only within that session (a consumer that comes back
 * under the same name in a new session starts again from committed).
 * skipped: records retention removed before the group read them.
 */
CREATE SEQUENCE broker.group_state_seq;
CREATE TABLE broker.group_state (
	group_id		integer NOT NULL,
	partition		integer NOT NULL,
	seq				bigint NOT NULL DEFAULT pg_catalog.nextval('broker.group_state_seq'),
	committed		bigint NOT NULL,
	position		bigint NOT NULL,
	consumer		text,
	session			text,
	epoch			bigint NOT NULL DEFAULT 0,
	lease_until		timestamptz,
	committed_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	skipped			bigint NOT NULL DEFAULT 0,
	PRIMARY KEY (group_id, partition, seq)
);
SELECT pg_catalog.pg_extension_config_dump('broker.group_state', '');
SELECT pg_catalog.pg_extension_config_dump('broker.group_state_seq', '');

/* Leased consumers seen polling, for fair sharing (heartbeat: the poll). */
CREATE TABLE broker.group_member (
	group_id		integer NOT NULL,
	consumer		text NOT NULL,
	last_poll		timestamptz NOT NULL,
	PRIMARY KEY (group_id, consumer)
);
SELECT pg_catalog.pg_extension_config_dump('broker.group_member', '');

/*
 * Lock a (group, partition) until the end of the transaction, waiting for
 * its holder; frees: whether the partition may be of use to another
 * consumer of the group afterwards (one of its waiting polls is woken).
 */
CREATE FUNCTION broker._lock_group_partition(group_id integer, partition integer, frees boolean)
RETURNS void
AS 'MODULE_PATHNAME', 'pgbroker_lock_group_partition'
LANGUAGE C STRICT;

/* The current state of a (group, partition): its newest row. */
CREATE FUNCTION broker._group_state(group_id integer, partition integer)
RETURNS broker.group_state
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	st broker.group_state;
BEGIN
	-- PL/pgSQL rather than SQL: its plan is kept for the session
	SELECT s.* INTO st FROM broker.group_state s
	 WHERE s.group_id = $1 AND s.partition = $2
	 ORDER BY s.seq DESC LIMIT 1;
	RETURN st;
END
$$;

/*
 * A group of a topic, created if missing with every partition at its
 * start position.  Returns the group's id.
 */
CREATE FUNCTION broker._ensure_group(tid integer, consumer_group text, start_at text)
RETURNS integer
AS 'MODULE_PATHNAME', 'pgbroker_ensure_group'
LANGUAGE C VOLATILE;

/* Resolve a group, or raise 42704. */
CREATE FUNCTION broker._group(t broker.topic, consumer_group text)
RETURNS integer
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	gid integer;
BEGIN
	IF consumer_group IS NULL THEN
		RAISE EXCEPTION 'consumer group name must not be null' USING ERRCODE = '22004';
	END IF;
	SELECT g.id INTO gid FROM broker.consumer_group g
	 WHERE g.topic_id = t.id AND g.name = consumer_group;
	IF gid IS NULL THEN
		RAISE EXCEPTION 'consumer group "%" of topic "%" does not exist', consumer_group, t.name
			USING ERRCODE = '42704';
	END IF;
	RETURN gid;
END
$$;

CREATE FUNCTION broker.create_group(topic text, consumer_group text, start text DEFAULT 'latest')
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	t broker.topic := broker._topic(topic);
BEGIN
	IF EXISTS (SELECT 1 FROM broker.consumer_group g WHERE g.topic_id = t.id AND g.name = consumer_group) THEN
		RAISE EXCEPTION 'consumer group "%" of topic "%" already exists', consumer_group, t.name
			USING ERRCODE = '42710';
	END IF;
	PERFORM broker._ensure_group(t.id, consumer_group, start);
END
$$;
COMMENT ON FUNCTION broker.create_group(text, text, text) IS 'create a consumer group at the earliest or latest offsets';

CREATE FUNCTION broker.delete_group(topic text, consumer_group text, if_exists boolean DEFAULT false)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	t broker.topic := broker._topic(topic);
	gid integer;
BEGIN
	SELECT g.id INTO gid FROM broker.consumer_group g
	 WHERE g.topic_id = t.id AND g.name = consumer_group FOR UPDATE;
	IF gid IS NULL THEN
		IF if_exists THEN
			RETURN false;
		END IF;
		gid := broker._group(t, consumer_group);
	END IF;
	FOR p IN 0 .. t.partitions - 1 LOOP
		PERFORM broker._lock_group_partition(gid, p, true);
	END LOOP;
	DELETE FROM broker.group_state s WHERE s.group_id = gid;
	DELETE FROM broker.group_member m WHERE m.group_id = gid;
	DELETE FROM broker.consumer_group g WHERE g.id = gid;
	RETURN true;
END
$$;
COMMENT ON FUNCTION broker.delete_group(text, text, boolean) IS 'delete a consumer group and its offsets';

CREATE FUNCTION broker.poll(
	topic			text,
	consumer_group	text,
	max_records		integer DEFAULT 100,
	wait			interval DEFAULT '0',
	consumer		text DEFAULT NULL,
	lease			interval DEFAULT NULL)
RETURNS SETOF broker.record
AS 'MODULE_PATHNAME', 'pgbroker_poll'
LANGUAGE C VOLATILE PARALLEL UNSAFE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION broker.poll(text, text, integer, interval, text, interval)
	IS 'consume records as a group: transactionally (offsets commit with the transaction) or leased';

/*
 * Commit a group's progress on one partition: next_offset is the next
 * offset to read (Kafka's convention).  Checked against the lease: a
 * consumer whose lease was taken over (or revoked by a seek) is refused
 * with PB001; without a consumer, only a partition nobody holds.
 */
CREATE FUNCTION broker.commit(topic text, consumer_group text, partition integer,
							  next_offset bigint, consumer text DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'pgbroker_commit'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION broker.commit(text, text, integer, bigint, text) IS 'commit a leased consumer''s progress on a partition';

/* Commit the records a poll returned: per partition, after the last one. */
CREATE FUNCTION broker.commit(topic text, consumer_group text, records broker.record[],
							  consumer text DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'pgbroker_commit_records'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION broker.commit(text, text, broker.record[], text) IS 'commit the records a leased poll returned';

/*
 * Commit everything this consumer's polls in this session handed out, in
 * every partition it holds (Kafka's commitSync() without offsets).
 */
CREATE FUNCTION broker.commit(topic text, consumer_group text, consumer text)
RETURNS integer
AS 'MODULE_PATHNAME', 'pgbroker_commit_handed_out'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION broker.commit(text, text, text)
	IS 'commit what a leased consumer''s polls in this session handed out';

/* Keep the partitions a consumer holds for another lease period. */
CREATE FUNCTION broker.extend_lease(topic text, consumer_group text, consumer text,
									lease interval DEFAULT '30 seconds')
RETURNS integer
AS 'MODULE_PATHNAME', 'pgbroker_extend_lease'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION broker.extend_lease(text, text, text, interval) IS 'keep the partitions a consumer holds';

/*
 * A leased consumer that stops (shutdown, Ctrl-C) gives its partitions
 * back at once instead of letting the group wait for its leases to end:
 * the next poll of another consumer takes them over from the last
 * committed offset, and the leaver no longer counts towards anyone's fair
 * share.  A commit the leaver sends afterwards is refused (PB001) as after
 * a takeover.
 */
CREATE FUNCTION broker.leave(topic text, consumer_group text, consumer text)
RETURNS integer
AS 'MODULE_PATHNAME', 'pgbroker_leave'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION broker.leave(text, text, text)
	IS 'give back the partitions a leased consumer holds, at once';

/*
 * Move a group (one partition, or all) to target: 'earliest', 'latest', an
 * offset or a time (POSITION is a keyword, so the parameter is "target").
 * Leases are revoked: a consumer that held the partition gets PB001 on its
 * next commit.  A group that does not exist is created there.
 */
CREATE FUNCTION broker.seek(topic text, consumer_group text, target text, partition integer DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'pgbroker_seek'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION broker.seek(text, text, text, integer) IS 'move a group to earliest, latest, an offset or a time';

CREATE FUNCTION broker.seek(topic text, consumer_group text, offset_id bigint, partition integer DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF offset_id IS NULL OR offset_id < 0 THEN
		RAISE EXCEPTION 'offset must not be null or negative' USING ERRCODE = '22023';
	END IF;
	PERFORM broker.seek(topic, consumer_group, offset_id::text, partition);
END
$$;
COMMENT ON FUNCTION broker.seek(text, text, bigint, integer) IS 'move a group to an offset';

CREATE FUNCTION broker.seek(topic text, consumer_group text, at timestamptz, partition integer DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF at IS NULL THEN
		RAISE EXCEPTION 'time must not be null' USING ERRCODE = '22004';
	END IF;
	PERFORM broker.seek(topic, consumer_group, at::text, partition);
END
$$;
COMMENT ON FUNCTION broker.seek(text, text, timestamptz, integer) IS 'move a group to the first offset at or after a time';

/*
 * Per group and partition: the committed offset, the end offset, the lag
 * (end - committed), the lease, the last commit, and the records retention
 * removed before the group read them.
 */
CREATE VIEW broker.consumer_lag AS
SELECT t.name AS topic, g.name AS consumer_group, p.partition,
	   s.committed AS committed_offset, p.end_offset,
	   greatest(p.end_offset - s.committed, 0) AS lag,
	   CASE WHEN s.lease_until > pg_catalog.now() THEN s.consumer END AS lease_holder,
	   CASE WHEN s.lease_until > pg_catalog.now() THEN s.lease_until END AS lease_until,
	   s.committed_at AS last_commit_at,
	   s.skipped
  FROM broker.consumer_group g
  JOIN broker.topic t ON t.id = g.topic_id
  CROSS JOIN LATERAL (SELECT q.partition, broker._end_offset(t, q.partition) AS end_offset
						FROM pg_catalog.generate_series(0, t.partitions - 1) q(partition)) p
  LEFT JOIN LATERAL broker._group_state(g.id, p.partition) s ON true;
COMMENT ON VIEW broker.consumer_lag IS 'committed offset, end offset, lag and lease per group and partition';

/*
 * sql/src/wait.sql - wakeups: waiting without a snapshot, and notifications at
 * commit
 *
 * claim() and poll() wait in the statement when given a wait; the
 * procedures here wait the same way without holding a snapshot while they
 * sleep.  For clients that LISTEN, a queue or topic with notify on signals
 * a channel once per committing transaction; notify is off by default and
 * set with alter_queue(name, notify) and alter_topic(name, notify).
 */

/*
 * Leased claims and polls that wait without holding a snapshot: each look
 * is a transaction of its own, committed before the procedure sleeps, so a
 * waiting consumer does not hold back VACUUM.  CALL them outside a
 * transaction block; the messages come back in the INOUT array.  They
 * are not SECURITY DEFINER (such procedures cannot commit): each look runs
 * as their owner with a pinned search_path instead.
 */
CREATE PROCEDURE broker.claim_wait(
	queue			text,
	max_messages	integer DEFAULT 1,
	lease			interval DEFAULT NULL,
	wait			interval DEFAULT '30 seconds',
	filter			jsonb DEFAULT NULL,
	INOUT messages	broker.message[] DEFAULT NULL)
AS 'MODULE_PATHNAME', 'pgbroker_queue_claim_wait'
LANGUAGE C;

CREATE PROCEDURE broker.poll_wait(
	topic			text,
	consumer_group	text,
	max_records		integer DEFAULT 100,
	wait			interval DEFAULT '30 seconds',
	consumer		text DEFAULT NULL,
	lease			interval DEFAULT NULL,
	INOUT records	broker.record[] DEFAULT NULL)
AS 'MODULE_PATHNAME', 'pgbroker_poll_wait'
LANGUAGE C;

COMMENT ON PROCEDURE broker.claim_wait(text, integer, interval, interval, jsonb, broker.message[])
	IS 'leased claim that waits without holding a snapshot; CALL outside a transaction block';
COMMENT ON PROCEDURE broker.poll_wait(text, text, integer, interval, text, interval, broker.record[])
	IS 'leased poll that waits without holding a snapshot; CALL outside a transaction block';

/*
 * Notifications for LISTENing clients, off by default: a transaction that
 * sends to a queue (publishes to a topic) with notify on signals channel
 * "pgbroker.queue.<name>" ("pgbroker.topic.<name>") once at commit, with
 * the name as payload.  Channel names are at most 63 bytes; the notify
 * columns are those of broker.queue (queue.sql) and broker.topic
 * (topic.sql).
 */
CREATE FUNCTION broker._check_channel(kind text, name text)
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

CREATE FUNCTION broker.alter_queue(name text, notify boolean)
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
	UPDATE broker.queue bq SET notify = alter_queue.notify WHERE bq.id = q.id;
	PERFORM broker._queue_changed(broker._queue_table(q.id)::regclass);
END
$$;
COMMENT ON FUNCTION broker.alter_queue(text, boolean)
	IS 'turn notifications to LISTEN channel pgbroker.queue.<name> on or off';

CREATE FUNCTION broker.alter_topic(name text, notify boolean)
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
	UPDATE broker.topic bt SET notify = alter_topic.notify WHERE bt.id = t.id;
	PERFORM broker._topic_changed();
END
$$;
COMMENT ON FUNCTION broker.alter_topic(text, boolean)
	IS 'turn notifications to LISTEN channel pgbroker.topic.<name> on or off';

/*
 * sql/src/maintain.sql - maintenance: expiry, dedup keys and shrinking of
 * queues; retention, compaction and segment rotation of topics
 *
 * maintain() does it all, queues then topics: the maintenance workers call
 * it every pgbroker.maintenance_interval, and without them a user or a
 * scheduler does.  It is created OR REPLACE because the step from 0.1.0
 * runs this file over the maintain() of 0.1.0.
 */

/*
 * Move a message to the dead letters with its history and run the
 * bookkeeping of its leaving (its ordering group, its dedup key): the one
 * copy of that move, in C, which claims, nacks and rollbacks use too.
 */
CREATE FUNCTION broker._dead_letter(queue text, id bigint, reason text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'pgbroker_queue_dead_letter'
LANGUAGE C STRICT VOLATILE;

/*
 * Periodic housekeeping: dead-letter or drop expired messages, forget
 * expired dedup keys, and truncate queue tables that are empty so that
 * their files (heap and indexes) shrink back to nothing even while an old
 * snapshot holds back VACUUM; then maintain_topics().
 */
CREATE OR REPLACE FUNCTION broker.maintain()
RETURNS TABLE (queue text, expired bigint, dedup_keys_forgotten bigint, truncated boolean)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	q broker.queue;
	r record;
	tbl text;
	got_lock boolean;
BEGIN
	FOR q IN SELECT * FROM broker.queue ORDER BY id LOOP
		/*
		 * Skip a queue that drop_queue() is dropping (or dropped since the
		 * loop began), and keep it from being dropped until we commit.
		 */
		PERFORM 1 FROM broker.queue bq WHERE bq.id = q.id FOR KEY SHARE SKIP LOCKED;
		CONTINUE WHEN NOT FOUND;
		tbl := broker._queue_table(q.id);
		queue := q.name;
		expired := 0;
		truncated := false;
		FOR r IN EXECUTE format($f$
			SELECT m.id FROM %s m
			 WHERE m.expires_at <= pg_catalog.now()
			   AND (m.lease_until IS NULL OR m.lease_until <= pg_catalog.now())
			 ORDER BY m.expires_at
			 LIMIT 10000
			 FOR UPDATE SKIP LOCKED$f$, tbl)
		LOOP
			IF q.ttl_action = 'dead_letter' THEN
				PERFORM broker._dead_letter(q.name, r.id, 'expired');
			ELSE
				EXECUTE format($f$
					DELETE FROM %s m WHERE m.id = $1
					RETURNING m.id, m.group_key, m.group_head, m.dedup_key$f$, tbl)
				INTO r USING r.id;
				PERFORM broker._message_removed(q.name, r.id, r.group_key, r.group_head, r.dedup_key, false);
			END IF;
			expired := expired + 1;
		END LOOP;

		DELETE FROM broker.dedup dd WHERE dd.queue_id = q.id AND dd.expires_at <= pg_catalog.now();
		GET DIAGNOSTICS dedup_keys_forgotten = ROW_COUNT;

		/* Truncate an empty queue table, but never wait for its lock. */
		BEGIN
			EXECUTE format('LOCK TABLE %s IN ACCESS EXCLUSIVE MODE NOWAIT', tbl);
			got_lock := true;
		EXCEPTION WHEN lock_not_available THEN
			got_lock := false;
		END;
		IF got_lock AND pg_catalog.current_setting('transaction_isolation') = 'read committed' THEN
			EXECUTE format('SELECT NOT EXISTS (SELECT 1 FROM %s)', tbl) INTO truncated;
			IF truncated AND pg_catalog.pg_relation_size(tbl::regclass) > 8192 * 8 THEN
				EXECUTE format('TRUNCATE %s', tbl);
			ELSE
				truncated := false;
			END IF;
		END IF;
		RETURN NEXT;
	END LOOP;
	PERFORM broker.maintain_topics();
END
$$;
COMMENT ON FUNCTION broker.maintain() IS 'expire messages, forget old dedup keys, shrink empty queues';

/*
 * Maintain every topic: drop whole segments past the retention (age or
 * size), compact sealed segments of compacted topics, create the next
 * segment ahead of need and rotate segments that are old or big enough.
 * Dropping never waits for a reader (NOWAIT: the segment goes on a later
 * run).  Rotation waits for the producers committing on the topic, so it
 * comes last, in topic order, holding those locks only until commit.
 */
CREATE FUNCTION broker.maintain_topics()
RETURNS TABLE (topic text, segments_dropped integer, records_compacted bigint,
			   rotated boolean, dedup_keys_forgotten bigint)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	t broker.topic;
	s record;
	cur record;
	nxt integer;
	tbl text;
	total bigint;
	sz bigint;
	got_lock boolean;
	n bigint;
	starts bigint[];
	last bigint;
	to_rotate integer[] := '{}';
	read_committed boolean :=
		pg_catalog.current_setting('transaction_isolation') = 'read committed';
BEGIN
	/*
	 * One maintenance at a time: two would both create the next segment
	 * of a topic, and one of them would fail.
	 */
	PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('pgbroker.maintain_topics'), 0);
	FOR t IN SELECT * FROM broker.topic ORDER BY id LOOP
		/*
		 * Skip a topic that drop_topic() is dropping (or dropped since the
		 * loop began), and keep it from being dropped until we commit.
		 */
		PERFORM 1 FROM broker.topic bt WHERE bt.id = t.id FOR KEY SHARE SKIP LOCKED;
		CONTINUE WHEN NOT FOUND;
		topic := t.name;
		segments_dropped := 0;
		records_compacted := 0;
		rotated := false;

		/* Retention: whole sealed segments, oldest first. */
		SELECT coalesce(sum(pg_catalog.pg_total_relation_size(
				   pg_catalog.to_regclass(broker._segment_table(t.id, bs.seg_no)))), 0)
		  INTO total FROM broker.segment bs WHERE bs.topic_id = t.id;
		FOR s IN SELECT * FROM broker.segment bs
				  WHERE bs.topic_id = t.id AND bs.sealed_at IS NOT NULL
				  ORDER BY bs.seg_no
		LOOP
			tbl := broker._segment_table(t.id, s.seg_no);
			sz := coalesce(pg_catalog.pg_total_relation_size(pg_catalog.to_regclass(tbl)), 0);
			/* (intervals past 1000 years are forever, and keep now() - x in range) */
			EXIT WHEN NOT ((t.retention IS NOT NULL
							AND s.sealed_at <= pg_catalog.now() - LEAST(t.retention, interval '1000 years'))
						   OR (t.retention_bytes IS NOT NULL AND total - sz >= t.retention_bytes));
			/* the groups retention waits for must have read the segment */
			EXIT WHEN t.retain_for_groups IS NOT NULL AND EXISTS (
				SELECT 1
				  FROM broker.consumer_group g,
					   pg_catalog.generate_series(0, t.partitions - 1) q(p),
					   LATERAL broker._group_state(g.id, q.p) st,
					   LATERAL (SELECT nx.start_offsets FROM broker.segment nx
								 WHERE nx.topic_id = t.id AND nx.seg_no > s.seg_no
								   AND nx.start_offsets IS NOT NULL
								 ORDER BY nx.seg_no LIMIT 1) nx
				 WHERE g.topic_id = t.id AND g.name = ANY (t.retain_for_groups)
				   AND st.committed < coalesce(nx.start_offsets[q.p + 1], 0));
			BEGIN
				EXECUTE format('LOCK TABLE %s IN ACCESS EXCLUSIVE MODE NOWAIT', tbl);
				got_lock := true;
			EXCEPTION WHEN lock_not_available THEN
				got_lock := false;
			END;
			EXIT WHEN NOT got_lock;
			EXECUTE format('DROP TABLE %s', tbl);
			DELETE FROM broker.segment bs WHERE bs.topic_id = t.id AND bs.seg_no = s.seg_no;
			total := total - sz;
			segments_dropped := segments_dropped + 1;
		END LOOP;

		/*
		 * Compaction, once per newly sealed segment: in sealed segments,
		 * delete records that a later record of the same key supersedes,
		 * and tombstones older than the grace period.  The segment that
		 * producers append to is never touched.
		 */
		SELECT max(bs.seg_no) INTO nxt FROM broker.segment bs
		 WHERE bs.topic_id = t.id AND bs.sealed_at IS NOT NULL;
		IF t.compacted AND nxt > t.compacted_through THEN
			records_compacted := broker._compact(t, nxt);
			UPDATE broker.topic bt SET compacted_through = nxt WHERE bt.id = t.id;
		END IF;

		DELETE FROM broker.topic_dedup d WHERE d.topic_id = t.id AND d.expires_at <= pg_catalog.now();
		GET DIAGNOSTICS dedup_keys_forgotten = ROW_COUNT;

		/* Group states superseded by a newer one, members long gone. */
		DELETE FROM broker.group_state gst
		 USING (SELECT gs.group_id, gs.partition, max(gs.seq) AS newest
				  FROM broker.group_state gs JOIN broker.consumer_group g ON g.id = gs.group_id
				 WHERE g.topic_id = t.id GROUP BY gs.group_id, gs.partition) x
		 WHERE gst.group_id = x.group_id AND gst.partition = x.partition AND gst.seq < x.newest;
		DELETE FROM broker.group_member gm USING broker.consumer_group g
		 WHERE g.topic_id = t.id AND gm.group_id = g.id
		   AND gm.last_poll < pg_catalog.now() - interval '1 day';

		/*
		 * The next segment, created ahead of need.  Only where rotation
		 * runs (READ COMMITTED): an older snapshot may not see the segment
		 * a maintenance that committed meanwhile created.
		 */
		SELECT * INTO cur FROM broker.segment bs
		 WHERE bs.topic_id = t.id AND bs.start_offsets IS NOT NULL AND bs.sealed_at IS NULL;
		IF read_committed AND NOT EXISTS (SELECT 1 FROM broker.segment bs
						WHERE bs.topic_id = t.id AND bs.seg_no = cur.seg_no + 1) THEN
			PERFORM broker._create_segment(t.id, cur.seg_no + 1);
		END IF;

		IF cur.activated_at <= pg_catalog.now() - LEAST(t.segment_interval, interval '1000 years')
		   OR pg_catalog.pg_total_relation_size(
				  pg_catalog.to_regclass(broker._segment_table(t.id, cur.seg_no))) >= t.segment_bytes THEN
			EXECUTE format('SELECT EXISTS (SELECT 1 FROM %s)', broker._segment_table(t.id, cur.seg_no))
			INTO got_lock;
			IF got_lock AND read_committed THEN
				to_rotate := to_rotate || t.id;
			END IF;
		END IF;
		RETURN NEXT;
	END LOOP;

	/*
	 * Rotation.  With the topic locked against committing producers, the
	 * end offsets read by each new statement are final: they become the
	 * start offsets of the next segment.
	 */
	FOR t IN SELECT * FROM broker.topic bt WHERE bt.id = ANY (to_rotate) ORDER BY bt.id LOOP
		PERFORM broker._lock_topic(t.id);
		SELECT * INTO cur FROM broker.segment bs
		 WHERE bs.topic_id = t.id AND bs.start_offsets IS NOT NULL AND bs.sealed_at IS NULL;
		tbl := broker._segment_table(t.id, cur.seg_no);
		starts := '{}';
		FOR p IN 0 .. t.partitions - 1 LOOP
			EXECUTE format('SELECT max(r.offset_id) FROM %s r WHERE r.partition = $1', tbl)
			INTO last USING p;
			starts := starts || coalesce(last + 1, cur.start_offsets[p + 1], 0);
		END LOOP;
		UPDATE broker.segment bs SET sealed_at = pg_catalog.clock_timestamp()
		 WHERE bs.topic_id = t.id AND bs.seg_no = cur.seg_no;
		UPDATE broker.segment bs SET start_offsets = starts,
									 activated_at = pg_catalog.clock_timestamp()
		 WHERE bs.topic_id = t.id AND bs.seg_no = cur.seg_no + 1;
		topic := t.name;
		segments_dropped := 0;
		records_compacted := 0;
		rotated := true;
		dedup_keys_forgotten := 0;
		RETURN NEXT;
	END LOOP;
	IF pg_catalog.array_length(to_rotate, 1) > 0 THEN
		PERFORM broker._topic_changed();
	END IF;
END
$$;
COMMENT ON FUNCTION broker.maintain_topics() IS 'retention, compaction and segment rotation of every topic';

/*
 * Compact the sealed segments of a topic up to seg_no upto: keep the
 * latest record of each key (records without a key are kept), and drop
 * tombstones older than the topic's grace period.
 */
CREATE FUNCTION broker._compact(t broker.topic, upto integer)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	s record;
	latest text := '';
	n bigint;
	total bigint := 0;
BEGIN
	/* The latest offset of every key, across all segments. */
	FOR s IN SELECT bs.seg_no FROM broker.segment bs
			  WHERE bs.topic_id = t.id AND bs.start_offsets IS NOT NULL
			  ORDER BY bs.seg_no
	LOOP
		CONTINUE WHEN NOT broker._lock_segment(t.id, s.seg_no);
		IF latest <> '' THEN
			latest := latest || ' UNION ALL ';
		END IF;
		latest := latest || format('SELECT r.partition, r.key, r.offset_id FROM %s r WHERE r.key IS NOT NULL',
								   broker._segment_table(t.id, s.seg_no));
	END LOOP;
	IF latest = '' THEN
		RETURN 0;
	END IF;
	DROP TABLE IF EXISTS pg_temp.pgbroker_latest;
	EXECUTE 'CREATE TEMP TABLE pgbroker_latest ON COMMIT DROP AS
			 SELECT l.partition, l.key, max(l.offset_id) AS offset_id FROM (' || latest || ') l
			  GROUP BY l.partition, l.key';
	FOR s IN SELECT bs.seg_no FROM broker.segment bs
			  WHERE bs.topic_id = t.id AND bs.sealed_at IS NOT NULL AND bs.seg_no <= upto
			  ORDER BY bs.seg_no
	LOOP
		CONTINUE WHEN NOT broker._lock_segment(t.id, s.seg_no);
		EXECUTE format($f$
			DELETE FROM %s r
			 WHERE r.key IS NOT NULL
			   AND (EXISTS (SELECT 1 FROM pg_temp.pgbroker_latest l
							 WHERE l.partition = r.partition AND l.key = r.key
							   AND l.offset_id > r.offset_id)
					OR (r.payload IS NULL AND r.payload_bytes IS NULL
						AND r.published_at <= pg_catalog.now()
							- LEAST($1, interval '1000 years')))$f$,
			broker._segment_table(t.id, s.seg_no))
		USING t.tombstone_grace;
		GET DIAGNOSTICS n = ROW_COUNT;
		total := total + n;
	END LOOP;
	DROP TABLE pg_temp.pgbroker_latest;
	RETURN total;
END
$$;

/*
 * sql/src/grants.sql - privileges: the one list of who may use what
 *
 * PUBLIC may use nothing of pgbroker; the roles of roles.sql get what the
 * lines below give them.  Each line names an object (its kind, then its
 * name or signature) and the roles that get its one privilege: EXECUTE on
 * a function or procedure, SELECT on a table or view, USAGE on a sequence
 * or the schema.  For each line the block first revokes everything from
 * PUBLIC and from the three roles, then grants to the roles listed, in the
 * order listed (the order of the object's ACL), so an object ends with the
 * privileges of its line whatever it had before.  A line without roles
 * leaves the object to its owner.
 *
 * The install script and the upgrade step both end with this file: a fresh
 * installation and an upgraded one get their privileges from the same
 * lines.  Every function and procedure of the extension needs a line, or
 * the block fails (PUBLIC may execute a function by default).  Tables,
 * views and sequences give PUBLIC nothing by default; broker.queue_id_seq
 * has no line and so keeps the default ACL (NULL) that it has always had.
 */
DO $grants$
DECLARE
	g record;
	fn regprocedure;
	rel regclass;
	target text;		/* the object, as GRANT and REVOKE name it */
	privilege text;
	kind "char";		/* the object's prokind or relkind */
	want "char";		/* the one its line's kind stands for */
	roles text;
	listed oid[] := '{}';
	missing text;
BEGIN
	FOR g IN SELECT * FROM (VALUES
		-- roles.sql
		('schema',		'broker',	'pgbroker_producer pgbroker_consumer pgbroker_admin'),
		('function',	'broker._check_name(text, text)',	''),

		-- queue.sql
		('table',		'broker.queue',	''),
		('table',		'broker.dead_letter',	''),
		('table',		'broker.dedup',	''),
		('function',	'broker._queue_changed(regclass)',	''),
		('function',	'broker._group_promote(text, text)',	''),
		('function',	'broker._group_join(text, text)',	''),
		('function',	'broker._message_removed(text, bigint, text, boolean, text, boolean)',	''),
		('function',	'broker._wake(text)',	''),
		('function',	'broker._queue(text)',	''),
		('function',	'broker._queue_table(integer)',	''),
		('function',	'broker._queue_expiry_index(integer, boolean)',	''),
		('function',	'broker.create_queue(text, integer, interval, interval, interval, interval, interval, text, bigint, text, boolean)',
						'pgbroker_admin'),
		('function',	'broker.alter_queue(text, integer, interval, interval, interval, interval, interval, text, bigint, text, boolean, boolean)',
						'pgbroker_admin'),
		('function',	'broker.drop_queue(text, boolean)',	'pgbroker_admin'),
		('function',	'broker.purge(text)',	'pgbroker_admin'),
		('function',	'broker.send(text, jsonb, jsonb, interval, integer, text, text)',	'pgbroker_producer pgbroker_admin'),
		('function',	'broker.send_bytes(text, bytea, jsonb, interval, integer, text, text)',	'pgbroker_producer pgbroker_admin'),
		('function',	'broker.send_batch(text, jsonb[], jsonb, interval, integer, text[], text[])',	'pgbroker_producer pgbroker_admin'),
		('function',	'broker.send_batch_bytes(text, bytea[], jsonb, interval, integer, text[], text[])',	'pgbroker_producer pgbroker_admin'),
		('function',	'broker.claim(text, integer, interval, interval, jsonb)',	'pgbroker_consumer pgbroker_admin'),
		('function',	'broker.ack(text, bigint, uuid)',	'pgbroker_consumer pgbroker_admin'),
		('function',	'broker.ack(text, bigint[])',	'pgbroker_consumer pgbroker_admin'),
		('function',	'broker.nack(text, bigint, uuid, interval, text)',	'pgbroker_consumer pgbroker_admin'),
		('function',	'broker.extend(text, bigint, uuid, interval)',	'pgbroker_consumer pgbroker_admin'),
		('function',	'broker.peek(text, integer, jsonb)',	'pgbroker_consumer pgbroker_admin'),
		('function',	'broker.cancel(text, bigint)',	'pgbroker_producer pgbroker_admin'),
		('function',	'broker.dead_letters(text, integer)',	'pgbroker_admin'),
		('function',	'broker.redrive(text, bigint[])',	'pgbroker_admin'),
		-- (a view's function calls are checked against the user who queries it)
		('function',	'broker.queue_stats(integer)',	'pgbroker_admin pgbroker_consumer pgbroker_producer'),
		('view',		'broker.queues',	'pgbroker_admin pgbroker_consumer pgbroker_producer'),

		-- topic.sql
		('table',		'broker.topic',	''),
		('sequence',	'broker.topic_id_seq',	''),
		('table',		'broker.segment',	''),
		('table',		'broker.topic_dedup',	''),
		('function',	'broker._lock_topic(integer)',	''),
		('function',	'broker._topic_changed()',	''),
		('function',	'broker._lock_segment(integer, integer)',	''),
		('function',	'broker._topic(text)',	''),
		('function',	'broker._check_partition(broker.topic, integer)',	''),
		('function',	'broker._segment_table(integer, integer)',	''),
		('function',	'broker._create_segment(integer, integer)',	''),
		-- (called by the view consumer_lag as the user who queries it)
		('function',	'broker._end_offset(broker.topic, integer)',	'pgbroker_admin pgbroker_consumer'),
		('function',	'broker.create_topic(text, integer, interval, bigint, boolean, interval, bigint, interval, interval, boolean, text[])',
						'pgbroker_admin'),
		('function',	'broker.alter_topic(text, integer, interval, bigint, boolean, interval, bigint, interval, interval, boolean, boolean, text[])',
						'pgbroker_admin'),
		('function',	'broker.drop_topic(text, boolean)',	'pgbroker_admin'),
		('function',	'broker.publish(text, jsonb, text, jsonb, integer, text)',	'pgbroker_producer'),
		('function',	'broker.publish_bytes(text, bytea, text, jsonb, integer, text)',	'pgbroker_producer'),
		('function',	'broker.publish_batch(text, jsonb[], text[], jsonb, integer)',	'pgbroker_producer'),
		('function',	'broker.publish_batch_bytes(text, bytea[], text[], jsonb, integer)',	'pgbroker_producer'),
		('function',	'broker.partition_for(text, text)',	'pgbroker_producer pgbroker_consumer'),
		('function',	'broker.read(text, integer, bigint, integer)',	'pgbroker_consumer'),
		('function',	'broker.latest_offset(text, integer)',	'pgbroker_consumer'),
		('function',	'broker.earliest_offset(text, integer)',	'pgbroker_consumer'),
		('function',	'broker.offset_for_time(text, integer, timestamptz)',	'pgbroker_consumer'),
		('function',	'broker.topic_partitions(text)',	'pgbroker_consumer'),
		-- (a view's function calls are checked against the user who queries it)
		('function',	'broker.topic_stats(integer)',	'pgbroker_admin pgbroker_consumer pgbroker_producer'),
		('view',		'broker.topics',	'pgbroker_admin pgbroker_consumer pgbroker_producer'),

		-- group.sql
		('table',		'broker.consumer_group',	''),
		('sequence',	'broker.consumer_group_id_seq',	''),
		('table',		'broker.group_state',	''),
		('sequence',	'broker.group_state_seq',	''),
		('table',		'broker.group_member',	''),
		('function',	'broker._lock_group_partition(integer, integer, boolean)',	''),
		-- (called by the view consumer_lag as the user who queries it)
		('function',	'broker._group_state(integer, integer)',	'pgbroker_admin pgbroker_consumer'),
		('function',	'broker._ensure_group(integer, text, text)',	''),
		('function',	'broker._group(broker.topic, text)',	''),
		('function',	'broker.create_group(text, text, text)',	'pgbroker_consumer pgbroker_admin'),
		('function',	'broker.delete_group(text, text, boolean)',	'pgbroker_admin'),
		('function',	'broker.poll(text, text, integer, interval, text, interval)',	'pgbroker_consumer pgbroker_admin'),
		('function',	'broker.commit(text, text, integer, bigint, text)',	'pgbroker_consumer pgbroker_admin'),
		('function',	'broker.commit(text, text, broker.record[], text)',	'pgbroker_consumer pgbroker_admin'),
		('function',	'broker.commit(text, text, text)',	'pgbroker_consumer pgbroker_admin'),
		('function',	'broker.extend_lease(text, text, text, interval)',	'pgbroker_consumer pgbroker_admin'),
		('function',	'broker.leave(text, text, text)',	'pgbroker_consumer pgbroker_admin'),
		('function',	'broker.seek(text, text, text, integer)',	'pgbroker_consumer pgbroker_admin'),
		('function',	'broker.seek(text, text, bigint, integer)',	'pgbroker_consumer pgbroker_admin'),
		('function',	'broker.seek(text, text, timestamptz, integer)',	'pgbroker_consumer pgbroker_admin'),
		('view',		'broker.consumer_lag',	'pgbroker_admin pgbroker_consumer'),

		-- wait.sql
		('procedure',	'broker.claim_wait(text, integer, interval, interval, jsonb, broker.message[])',
						'pgbroker_consumer pgbroker_admin'),
		('procedure',	'broker.poll_wait(text, text, integer, interval, text, interval, broker.record[])',
						'pgbroker_consumer pgbroker_admin'),
		('function',	'broker._check_channel(text, text)',	''),
		('function',	'broker.alter_queue(text, boolean)',	'pgbroker_admin'),
		('function',	'broker.alter_topic(text, boolean)',	'pgbroker_admin'),

		-- maintain.sql
		('function',	'broker.maintain()',	'pgbroker_admin'),
		('function',	'broker._dead_letter(text, bigint, text)',	''),
		('function',	'broker.maintain_topics()',	'pgbroker_admin'),
		('function',	'broker._compact(broker.topic, integer)',	'')
	) AS l(kind, object, roles)
	LOOP
		IF g.kind IN ('function', 'procedure') THEN
			fn := pg_catalog.to_regprocedure(g.object);
			SELECT p.prokind INTO kind FROM pg_catalog.pg_proc p WHERE p.oid = fn;
			want := CASE g.kind WHEN 'function' THEN 'f' ELSE 'p' END;
			IF kind IS DISTINCT FROM want THEN
				RAISE EXCEPTION 'privileges list: % % does not exist', g.kind, g.object;
			END IF;
			IF fn = ANY (listed) THEN
				RAISE EXCEPTION 'privileges list: % % is listed twice', g.kind, g.object;
			END IF;
			listed := listed || fn::oid;
			target := pg_catalog.format('%s %s', pg_catalog.upper(g.kind), fn);
			privilege := 'EXECUTE';
		ELSIF g.kind IN ('table', 'view', 'sequence') THEN
			rel := pg_catalog.to_regclass(g.object);
			SELECT c.relkind INTO kind FROM pg_catalog.pg_class c WHERE c.oid = rel;
			want := CASE g.kind WHEN 'table' THEN 'r' WHEN 'view' THEN 'v' ELSE 'S' END;
			IF kind IS DISTINCT FROM want THEN
				RAISE EXCEPTION 'privileges list: % % does not exist', g.kind, g.object;
			END IF;
			target := pg_catalog.format('%s %s', CASE g.kind WHEN 'sequence' THEN 'SEQUENCE' ELSE 'TABLE' END, rel);
			privilege := CASE g.kind WHEN 'sequence' THEN 'USAGE' ELSE 'SELECT' END;
		ELSIF g.kind = 'schema' THEN
			target := pg_catalog.format('SCHEMA %I', g.object);
			privilege := 'USAGE';
		ELSE
			RAISE EXCEPTION 'privileges list: unknown kind "%"', g.kind;
		END IF;

		EXECUTE pg_catalog.format('REVOKE ALL ON %s FROM PUBLIC, pgbroker_producer, pgbroker_consumer, pgbroker_admin',
								  target);
		SELECT pg_catalog.string_agg(pg_catalog.quote_ident(r.role), ', ' ORDER BY r.n)
		  INTO roles
		  FROM pg_catalog.regexp_split_to_table(pg_catalog.btrim(g.roles), '\s+') WITH ORDINALITY AS r(role, n)
		 WHERE r.role <> '';
		IF roles IS NOT NULL THEN
			EXECUTE pg_catalog.format('GRANT %s ON %s TO %s', privilege, target, roles);
		END IF;
	END LOOP;

	SELECT pg_catalog.string_agg(p.oid::pg_catalog.regprocedure::text, ', ' ORDER BY p.oid::pg_catalog.regprocedure::text)
	  INTO missing
	  FROM pg_catalog.pg_depend d
	  JOIN pg_catalog.pg_proc p ON p.oid = d.objid
	 WHERE d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass
	   AND d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass
	   AND d.refobjid = (SELECT e.oid FROM pg_catalog.pg_extension e WHERE e.extname = 'pgbroker')
	   AND d.deptype = 'e'
	   AND p.oid <> ALL (listed);
	IF missing IS NOT NULL THEN
		RAISE EXCEPTION 'privileges list: no line for %', missing
			USING HINT = 'Add a line for each to sql/src/grants.sql.';
	END IF;
END
$grants$;
