/*
 * sql/src/functions/topic.sql - topics: catalog and segments, administration, publishing
 * and reading, offsets, statistics
 *
 * A topic is a row of broker.topic with a number of partitions; its
 * records live in segment tables, listed in broker.segment, that
 * maintain_topics() (maintain.sql) creates ahead of need, rotates and
 * drops.  Publishing and reading are C; administration and the offset
 * lookups are PL/pgSQL.  Consumer groups are in group.sql; notifications
 * (alter_topic(name, notify)) in wait.sql.
 *
 * Every function, procedure and view of this area, written CREATE OR
 * REPLACE: run by the fresh install and again by every version step, so
 * that an upgraded installation ends with the same definitions (a step
 * drops first what changed its signature).  The tables are in
 * sql/src/structure/.
 */


/* Internal C helpers, called by the SECURITY DEFINER functions below. */
CREATE OR REPLACE FUNCTION broker._lock_topic(topic_id integer)
RETURNS void
AS 'MODULE_PATHNAME', 'pgbroker_lock_topic'
LANGUAGE C STRICT;

CREATE OR REPLACE FUNCTION broker._topic_changed()
RETURNS void
AS 'MODULE_PATHNAME', 'pgbroker_topic_changed'
LANGUAGE C STRICT;

/*
 * Lock a segment table for reading if it still exists; false if retention
 * (or drop_topic) removed it after the caller listed the segments.
 */
CREATE OR REPLACE FUNCTION broker._lock_segment(topic_id integer, seg_no integer)
RETURNS boolean
AS 'MODULE_PATHNAME', 'pgbroker_lock_segment'
LANGUAGE C STRICT;

/* Resolve a topic name to its catalog row, or raise 42704. */
CREATE OR REPLACE FUNCTION broker._topic(topic text)
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
CREATE OR REPLACE FUNCTION broker._check_partition(t broker.topic, partition integer)
RETURNS void
AS 'MODULE_PATHNAME', 'pgbroker_check_partition'
LANGUAGE C IMMUTABLE;

/* The table of one segment, as a quoted, schema-qualified name. */
CREATE OR REPLACE FUNCTION broker._segment_table(topic_id integer, seg_no integer)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT 'broker.' || pg_catalog.quote_ident('topic_' || topic_id || '_' || seg_no) $$;

/* Create the table of a segment and its catalog row (not yet active). */
CREATE OR REPLACE FUNCTION broker._create_segment(topic_id integer, seg_no integer)
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
CREATE OR REPLACE FUNCTION broker._end_offset(t broker.topic, partition integer)
RETURNS bigint
AS 'MODULE_PATHNAME', 'pgbroker_end_offset'
LANGUAGE C STABLE;

/* ---------------------------------------------------------------------
 * Administration
 * --------------------------------------------------------------------- */

CREATE OR REPLACE FUNCTION broker.create_topic(
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
AS 'MODULE_PATHNAME', 'pgbroker_gate'
LANGUAGE C VOLATILE;
CREATE OR REPLACE FUNCTION broker._create_topic(
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
	IF EXISTS (SELECT 1 FROM broker.topic t WHERE t.name = _create_topic.name) THEN
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
	PERFORM broker._create_acl_holder('topic', tid);

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
CREATE OR REPLACE FUNCTION broker.alter_topic(
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
	retain_for_groups text[] DEFAULT NULL,
	max_message_size integer DEFAULT NULL,
	clear_max_message_size boolean DEFAULT false)
RETURNS void
AS 'MODULE_PATHNAME', 'pgbroker_gate'
LANGUAGE C VOLATILE;
CREATE OR REPLACE FUNCTION broker._alter_topic(
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
	retain_for_groups text[] DEFAULT NULL,
	max_message_size integer DEFAULT NULL,
	clear_max_message_size boolean DEFAULT false)
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
	IF max_message_size < 1 THEN
		RAISE EXCEPTION 'max_message_size must be at least 1' USING ERRCODE = '22023';
	END IF;

	UPDATE broker.topic bt SET
		partitions = coalesce(_alter_topic.partitions, bt.partitions),
		retention = CASE WHEN clear_retention THEN NULL
						 ELSE coalesce(_alter_topic.retention, bt.retention) END,
		retention_bytes = CASE WHEN clear_retention_bytes THEN NULL
							   ELSE coalesce(_alter_topic.retention_bytes, bt.retention_bytes) END,
		compacted = coalesce(_alter_topic.compacted, bt.compacted),
		segment_interval = coalesce(_alter_topic.segment_interval, bt.segment_interval),
		segment_bytes = coalesce(_alter_topic.segment_bytes, bt.segment_bytes),
		dedup_window = coalesce(_alter_topic.dedup_window, bt.dedup_window),
		tombstone_grace = coalesce(_alter_topic.tombstone_grace, bt.tombstone_grace),
		retain_for_groups = CASE WHEN _alter_topic.retain_for_groups = '{}' THEN NULL
								 ELSE coalesce(_alter_topic.retain_for_groups, bt.retain_for_groups) END,
		max_message_size = CASE WHEN clear_max_message_size THEN NULL
								ELSE coalesce(_alter_topic.max_message_size, bt.max_message_size) END
	 WHERE bt.id = t.id;
	PERFORM broker._topic_changed();
END
$$;
COMMENT ON FUNCTION broker.alter_topic(text, integer, interval, bigint, boolean, interval, bigint, interval, interval, boolean, boolean, text[], integer, boolean)
	IS 'add partitions to a topic or change its retention and other settings';

CREATE OR REPLACE FUNCTION broker.drop_topic(name text, if_exists boolean DEFAULT false)
RETURNS boolean
AS 'MODULE_PATHNAME', 'pgbroker_gate'
LANGUAGE C VOLATILE;
CREATE OR REPLACE FUNCTION broker._drop_topic(name text, if_exists boolean DEFAULT false)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	tid integer;
	s record;
BEGIN
	PERFORM broker._check_name(name, 'topic');
	SELECT t.id INTO tid FROM broker.topic t WHERE t.name = _drop_topic.name FOR UPDATE;
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
	/* its subscriptions go with it; their workers stop at commit */
	PERFORM broker._drop_subscription(sub.id) FROM broker.subscription sub WHERE sub.topic_id = tid;
	DELETE FROM broker.consumer_group WHERE topic_id = tid;
	EXECUTE format('DROP VIEW IF EXISTS broker.%I', 'topic_' || tid || '_acl');
	DELETE FROM broker.topic WHERE id = tid;
	PERFORM broker._topic_changed();
	RETURN true;
END
$$;
COMMENT ON FUNCTION broker.drop_topic(text, boolean) IS 'drop a topic with all its records';

/*
 * Make an empty partition start at an offset: its next record gets
 * next_offset, and its earliest and latest offsets are next_offset until
 * then.  For a partition that takes over another one's records with their
 * offsets (a partition moved to another node behind pgbroker_router).
 * Fails when the partition holds a record (55000) or next_offset is
 * below its end (22023): offsets never go back.
 */
CREATE OR REPLACE FUNCTION broker.start_partition_at(topic text, partition integer, next_offset bigint)
RETURNS void
AS 'MODULE_PATHNAME', 'pgbroker_gate'
LANGUAGE C VOLATILE;
CREATE OR REPLACE FUNCTION broker._start_partition_at(topic text, partition integer, next_offset bigint)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	t broker.topic;
	first bigint;
	last bigint;
BEGIN
	PERFORM broker._require_primary('broker.start_partition_at()');
	SELECT * INTO t FROM broker.topic bt WHERE bt.name = _start_partition_at.topic;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'topic "%" does not exist', topic USING ERRCODE = '42704';
	END IF;
	PERFORM broker._check_partition(t, partition);
	IF next_offset IS NULL OR next_offset < 0 THEN
		RAISE EXCEPTION 'next_offset must not be negative' USING ERRCODE = '22023';
	END IF;
	-- against producers committing to the topic meanwhile
	PERFORM broker._lock_topic(t.id);
	first := broker._earliest_offset(topic, partition);
	last := broker._latest_offset(topic, partition);
	IF first <> last THEN
		RAISE EXCEPTION 'partition % of topic "%" is not empty', partition, topic USING ERRCODE = '55000',
			DETAIL = format('Its offsets run from %s to %s.', first, last);
	END IF;
	IF next_offset < last THEN
		RAISE EXCEPTION 'next_offset % is below the end of partition % of topic "%" (%)',
			next_offset, partition, topic, last USING ERRCODE = '22023',
			HINT = 'Offsets never go back.';
	END IF;
	UPDATE broker.segment bs
	   SET start_offsets[partition + 1] = next_offset
	 WHERE bs.topic_id = t.id AND bs.start_offsets IS NOT NULL;
	PERFORM broker._topic_changed();
END
$$;
COMMENT ON FUNCTION broker.start_partition_at(text, integer, bigint) IS 'make a new partition start at an offset';

/* ---------------------------------------------------------------------
 * Publishing and reading (C)
 * --------------------------------------------------------------------- */

CREATE OR REPLACE FUNCTION broker.publish(
	topic		text,
	payload		jsonb,
	key			text DEFAULT NULL,
	headers		jsonb DEFAULT '{}',
	partition	integer DEFAULT NULL,
	dedup_key	text DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'pgbroker_publish'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

CREATE OR REPLACE FUNCTION broker.publish_bytes(
	topic		text,
	payload		bytea,
	key			text DEFAULT NULL,
	headers		jsonb DEFAULT '{}',
	partition	integer DEFAULT NULL,
	dedup_key	text DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'pgbroker_publish'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

CREATE OR REPLACE FUNCTION broker.publish_batch(
	topic		text,
	payloads	jsonb[],
	keys		text[] DEFAULT NULL,
	headers		jsonb DEFAULT '{}',
	partition	integer DEFAULT NULL,
	partitions	integer[] DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'pgbroker_publish_batch'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

CREATE OR REPLACE FUNCTION broker.publish_batch_bytes(
	topic		text,
	payloads	bytea[],
	keys		text[] DEFAULT NULL,
	headers		jsonb DEFAULT '{}',
	partition	integer DEFAULT NULL,
	partitions	integer[] DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'pgbroker_publish_batch'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

CREATE OR REPLACE FUNCTION broker.partition_for(topic text, key text)
RETURNS integer
AS 'MODULE_PATHNAME', 'pgbroker_partition_for'
LANGUAGE C STABLE PARALLEL SAFE;

CREATE OR REPLACE FUNCTION broker.read(
	topic		text,
	partition	integer,
	from_offset	bigint,
	max_records	integer DEFAULT 100)
RETURNS SETOF broker.record
AS 'MODULE_PATHNAME', 'pgbroker_read'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION broker.publish(text, jsonb, text, jsonb, integer, text)
	IS 'publish one JSON record; it gets its offset when the transaction commits';
COMMENT ON FUNCTION broker.publish_bytes(text, bytea, text, jsonb, integer, text)
	IS 'publish one binary record; it gets its offset when the transaction commits';
COMMENT ON FUNCTION broker.publish_batch(text, jsonb[], text[], jsonb, integer, integer[])
	IS 'publish many JSON records; they get their offsets when the transaction commits';
COMMENT ON FUNCTION broker.publish_batch_bytes(text, bytea[], text[], jsonb, integer, integer[])
	IS 'publish many binary records; they get their offsets when the transaction commits';
COMMENT ON FUNCTION broker.partition_for(text, text) IS 'the partition a key maps to';
COMMENT ON FUNCTION broker.read(text, integer, bigint, integer)
	IS 'read records of one partition from an offset (inclusive)';

/* ---------------------------------------------------------------------
 * Offsets
 * --------------------------------------------------------------------- */

/* The next offset to be assigned in a partition (Kafka's end offset). */
CREATE OR REPLACE FUNCTION broker.latest_offset(topic text, partition integer)
RETURNS bigint
AS 'MODULE_PATHNAME', 'pgbroker_gate'
LANGUAGE C STABLE;
CREATE OR REPLACE FUNCTION broker._latest_offset(topic text, partition integer)
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
CREATE OR REPLACE FUNCTION broker.earliest_offset(topic text, partition integer)
RETURNS bigint
AS 'MODULE_PATHNAME', 'pgbroker_gate'
LANGUAGE C STABLE;
CREATE OR REPLACE FUNCTION broker._earliest_offset(topic text, partition integer)
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
CREATE OR REPLACE FUNCTION broker.offset_for_time(topic text, partition integer, at timestamptz)
RETURNS bigint
AS 'MODULE_PATHNAME', 'pgbroker_gate'
LANGUAGE C STABLE;
CREATE OR REPLACE FUNCTION broker._offset_for_time(topic text, partition integer, at timestamptz)
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
CREATE OR REPLACE FUNCTION broker.topic_partitions(topic text)
RETURNS TABLE (partition integer, earliest_offset bigint, latest_offset bigint,
			   records bigint, oldest_published_at timestamptz)
AS 'MODULE_PATHNAME', 'pgbroker_gate'
LANGUAGE C STABLE;
CREATE OR REPLACE FUNCTION broker._topic_partitions(topic text)
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
CREATE OR REPLACE FUNCTION broker.topic_stats(topic_id integer,
	OUT records bigint, OUT bytes bigint, OUT segments integer,
	OUT earliest_offsets bigint[], OUT latest_offsets bigint[],
	OUT oldest_record_age interval)
AS 'MODULE_PATHNAME', 'pgbroker_gate'
LANGUAGE C STABLE;
CREATE OR REPLACE FUNCTION broker._topic_stats(topic_id integer,
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

CREATE OR REPLACE VIEW broker.topics AS
SELECT t.name AS topic, t.partitions,
	   s.records, s.bytes, s.segments, s.earliest_offsets, s.latest_offsets,
	   s.oldest_record_age, t.retention, t.retention_bytes, t.compacted,
	   t.segment_interval, t.dedup_window, t.created_at
  FROM (SELECT * FROM broker.topic t0 WHERE broker._may_see('t', t0.id) OFFSET 0) t,
	   LATERAL broker.topic_stats(t.id) s;
COMMENT ON FUNCTION broker.latest_offset(text, integer) IS 'the next offset to be assigned in a partition';
COMMENT ON FUNCTION broker.earliest_offset(text, integer) IS 'the first offset retained in a partition';
COMMENT ON FUNCTION broker.offset_for_time(text, integer, timestamptz)
	IS 'the first offset published at or after a time';
COMMENT ON FUNCTION broker.topic_partitions(text) IS 'offsets, record counts and age per partition of a topic';
COMMENT ON VIEW broker.topics IS 'one row per topic the caller may see: partitions, records, size, offsets, age';
