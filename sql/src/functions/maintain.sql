/*
 * sql/src/functions/maintain.sql - maintenance: expiry, dedup keys and shrinking of
 * queues; retention, compaction and segment rotation of topics
 *
 * maintain() does it all, queues then topics: the maintenance workers call
 * it every pgbroker.maintenance_interval, and without them a user or a
 * scheduler does.  It is created OR REPLACE because the step from 0.1.0
 * runs this file over the maintain() of 0.1.0.
 *
 * Every function, procedure and view of this area, written CREATE OR
 * REPLACE: run by the fresh install and again by every version step, so
 * that an upgraded installation ends with the same definitions (a step
 * drops first what changed its signature).  The tables are in
 * sql/src/structure/.
 */

/*
 * Move a message to the dead letters with its history and run the
 * bookkeeping of its leaving (its ordering group, its dedup key): the one
 * copy of that move, in C, which claims, nacks and rollbacks use too.
 */
CREATE OR REPLACE FUNCTION broker._dead_letter(queue text, id bigint, reason text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'pgbroker_queue_dead_letter'
LANGUAGE C STRICT VOLATILE;

/*
 * Periodic housekeeping: dead-letter or drop expired messages, forget
 * expired dedup keys, and truncate queue tables that are empty so that
 * their files (heap and indexes) shrink back to nothing even while an old
 * snapshot holds back VACUUM; then maintain_topics().  First, start the
 * workers of subscriptions that are not running (after a restart, a
 * crash, a worker that died, a slot that was not free).
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
	PERFORM broker._require_primary('broker.maintain()');
	PERFORM broker._start_subscriptions();
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
				PERFORM broker._queue_count(q.id, 'expired', 1);
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
	/* forget the counters of dropped queues */
	PERFORM broker._queue_counters_keep(ARRAY(SELECT bq.id FROM broker.queue bq));
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
CREATE OR REPLACE FUNCTION broker.maintain_topics()
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
	PERFORM broker._require_primary('broker.maintain_topics()');
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
CREATE OR REPLACE FUNCTION broker._compact(t broker.topic, upto integer)
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
