/*
 * sql/src/functions/group.sql - consumer groups of topics: catalog and state, creating
 * and deleting, polling, committing, leases, seeking, lag
 *
 * A consumer group reads a topic independently of other groups, and keeps
 * per partition an append-only state in broker.group_state: the committed
 * offset, the position handed out, and the lease of the consumer that
 * holds the partition.  poll and commit are C; the other functions here are
 * PL/pgSQL.  Waiting without a snapshot (poll_wait) is in wait.sql;
 * removing superseded states and departed members is maintain_topics(),
 * in maintain.sql.
 *
 * Every function, procedure and view of this area, written CREATE OR
 * REPLACE: run by the fresh install and again by every version step, so
 * that an upgraded installation ends with the same definitions (a step
 * drops first what changed its signature).  The tables are in
 * sql/src/structure/.
 */


/*
 * Lock a (group, partition) until the end of the transaction, waiting for
 * its holder; frees: whether the partition may be of use to another
 * consumer of the group afterwards (one of its waiting polls is woken).
 */
CREATE OR REPLACE FUNCTION broker._lock_group_partition(group_id integer, partition integer, frees boolean)
RETURNS void
AS 'MODULE_PATHNAME', 'pgbroker_lock_group_partition'
LANGUAGE C STRICT;

/* The current state of a (group, partition): its newest row. */
CREATE OR REPLACE FUNCTION broker._group_state(group_id integer, partition integer)
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
CREATE OR REPLACE FUNCTION broker._ensure_group(tid integer, consumer_group text, start_at text)
RETURNS integer
AS 'MODULE_PATHNAME', 'pgbroker_ensure_group'
LANGUAGE C VOLATILE;

/* Resolve a group, or raise 42704. */
CREATE OR REPLACE FUNCTION broker._group(t broker.topic, consumer_group text)
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

CREATE OR REPLACE FUNCTION broker.create_group(topic text, consumer_group text, start text DEFAULT 'latest')
RETURNS void
AS 'MODULE_PATHNAME', 'pgbroker_gate'
LANGUAGE C VOLATILE;
CREATE OR REPLACE FUNCTION broker._create_group(topic text, consumer_group text, start text DEFAULT 'latest')
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

CREATE OR REPLACE FUNCTION broker.delete_group(topic text, consumer_group text, if_exists boolean DEFAULT false)
RETURNS boolean
AS 'MODULE_PATHNAME', 'pgbroker_gate'
LANGUAGE C VOLATILE;
CREATE OR REPLACE FUNCTION broker._delete_group(topic text, consumer_group text, if_exists boolean DEFAULT false)
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

CREATE OR REPLACE FUNCTION broker.poll(
	topic			text,
	consumer_group	text,
	max_records		integer DEFAULT 100,
	wait			interval DEFAULT '0',
	consumer		text DEFAULT NULL,
	lease			interval DEFAULT NULL,
	partition		integer DEFAULT NULL,
	token			text DEFAULT NULL)
RETURNS SETOF broker.record
AS 'MODULE_PATHNAME', 'pgbroker_poll'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION broker.poll(text, text, integer, interval, text, interval, integer, text)
	IS 'consume records as a group: transactionally (offsets commit with the transaction; of one partition when named) or leased';

/*
 * Commit a group's progress on one partition: next_offset is the next
 * offset to read (Kafka's convention).  Checked against the lease: a
 * consumer whose lease was taken over (or revoked by a seek) is refused
 * with PB001; without a consumer, only a partition nobody holds.
 */
CREATE OR REPLACE FUNCTION broker.commit(topic text, consumer_group text, partition integer,
							  next_offset bigint, consumer text DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'pgbroker_commit'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION broker.commit(text, text, integer, bigint, text) IS 'commit a leased consumer''s progress on a partition';

/* Commit the records a poll returned: per partition, after the last one. */
CREATE OR REPLACE FUNCTION broker.commit(topic text, consumer_group text, records broker.record[],
							  consumer text DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'pgbroker_commit_records'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION broker.commit(text, text, broker.record[], text) IS 'commit the records a leased poll returned';

/*
 * Commit everything this consumer's polls in this session (or, with its
 * token, this consumer instance's polls from any connection) handed out,
 * in every partition it holds (Kafka's commitSync() without offsets).
 */
CREATE OR REPLACE FUNCTION broker.commit(topic text, consumer_group text, consumer text,
										 token text DEFAULT NULL)
RETURNS integer
AS 'MODULE_PATHNAME', 'pgbroker_commit_handed_out'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION broker.commit(text, text, text, text)
	IS 'commit what a leased consumer''s polls (of this session, or of its token) handed out';

/*
 * A new consumer instance: a token to pass to its leased polls and
 * commits, which then work from any connection (through a transaction
 * pooler).  An instance that starts again under the same name with a new
 * token starts from the committed offsets, as a new session does.  The
 * names are checked, and the privileges, by the polls that use it.
 */
CREATE OR REPLACE FUNCTION broker.join(topic text, consumer_group text, consumer text)
RETURNS text
LANGUAGE sql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$ SELECT pg_catalog.gen_random_uuid()::text $$;
COMMENT ON FUNCTION broker.join(text, text, text) IS 'a token for a leased consumer instance, good from any connection';

/* Keep the partitions a consumer holds for another lease period. */
CREATE OR REPLACE FUNCTION broker.extend_lease(topic text, consumer_group text, consumer text,
									lease interval DEFAULT '30 seconds')
RETURNS integer
AS 'MODULE_PATHNAME', 'pgbroker_extend_lease'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION broker.extend_lease(text, text, text, interval) IS 'keep the partitions a consumer holds';

/*
 * A leased consumer that stops (shutdown, Ctrl-C) gives its partitions
 * back at once instead of letting the group wait for its leases to end:
 * the next poll of another consumer takes them over from the last
 * committed offset, and the leaver no longer counts towards anyone's fair
 * share.  A commit the leaver sends afterwards is refused (PB001) as after
 * a takeover.
 */
CREATE OR REPLACE FUNCTION broker.leave(topic text, consumer_group text, consumer text)
RETURNS integer
AS 'MODULE_PATHNAME', 'pgbroker_leave'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION broker.leave(text, text, text)
	IS 'give back the partitions a leased consumer holds, at once';

/*
 * Move a group (one partition, or all) to target: 'earliest', 'latest', an
 * offset or a time (POSITION is a keyword, so the parameter is "target").
 * Leases are revoked: a consumer that held the partition gets PB001 on its
 * next commit.  A group that does not exist is created there.
 */
CREATE OR REPLACE FUNCTION broker.seek(topic text, consumer_group text, target text, partition integer DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'pgbroker_seek'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION broker.seek(text, text, text, integer) IS 'move a group to earliest, latest, an offset or a time';

CREATE OR REPLACE FUNCTION broker.seek(topic text, consumer_group text, offset_id bigint, partition integer DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE
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

CREATE OR REPLACE FUNCTION broker.seek(topic text, consumer_group text, at timestamptz, partition integer DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE
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
CREATE OR REPLACE VIEW broker.consumer_lag AS
SELECT t.name AS topic, g.name AS consumer_group, p.partition,
	   s.committed AS committed_offset, p.end_offset,
	   greatest(p.end_offset - s.committed, 0) AS lag,
	   CASE WHEN s.lease_until > pg_catalog.now() THEN s.consumer END AS lease_holder,
	   CASE WHEN s.lease_until > pg_catalog.now() THEN s.lease_until END AS lease_until,
	   s.committed_at AS last_commit_at,
	   s.skipped
  FROM broker.consumer_group g
  JOIN (SELECT * FROM broker.topic t0 WHERE broker._may_see('t', t0.id) OFFSET 0) t
	ON t.id = g.topic_id
  CROSS JOIN LATERAL (SELECT q.partition, broker._end_offset(t, q.partition) AS end_offset
						FROM pg_catalog.generate_series(0, t.partitions - 1) q(partition)) p
  LEFT JOIN LATERAL broker._group_state(g.id, p.partition) s ON true;
COMMENT ON VIEW broker.consumer_lag IS 'committed offset, end offset, lag and lease per group and partition';

/*
 * Move a consumer group to a position (earliest, latest, an offset or a
 * time; one partition or all, creating the group if it does not exist)
 * and return per partition the committed offset before (NULL: a new
 * group) and after.  With dry_run nothing moves: the move runs in a
 * subtransaction that is rolled back once the offsets it gave are read.
 * Only the partitions the caller may see in broker.consumer_lag are
 * returned.  pgbroker reset-group, tail --reset-to and the console use it.
 */
CREATE OR REPLACE FUNCTION broker.reset_group(topic text, consumer_group text, to_position text,
	partition integer DEFAULT NULL, dry_run boolean DEFAULT false)
RETURNS TABLE (partition_id integer, old_offset bigint, new_offset bigint)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	t text := reset_group.topic;
	g text := reset_group.consumer_group;
	p integer := reset_group.partition;
	before jsonb;
	after jsonb;
BEGIN
	IF to_position IS NULL THEN
		RAISE EXCEPTION 'position must not be null' USING ERRCODE = '22004';
	END IF;
	SELECT jsonb_object_agg(l.partition, l.committed_offset) INTO before
	  FROM broker.consumer_lag l WHERE l.topic = t AND l.consumer_group = g;
	BEGIN
		IF to_position IN ('earliest', 'latest') THEN
			PERFORM broker.seek(t, g, to_position, p);
		ELSIF to_position ~ '^[0-9]+$' THEN
			PERFORM broker.seek(t, g, to_position::bigint, p);
		ELSE
			PERFORM broker.seek(t, g, to_position::timestamptz, p);
		END IF;
		SELECT jsonb_object_agg(l.partition, l.committed_offset) INTO after
		  FROM broker.consumer_lag l WHERE l.topic = t AND l.consumer_group = g;
		IF dry_run THEN
			RAISE EXCEPTION 'dry run' USING ERRCODE = 'PBD01';
		END IF;
	EXCEPTION WHEN SQLSTATE 'PBD01' THEN
		NULL;	-- the move is undone; after holds where it went
	END;
	RETURN QUERY
		SELECT k::integer, (before ->> k)::bigint, (after ->> k)::bigint
		  FROM pg_catalog.jsonb_object_keys(coalesce(after, '{}')) k
		 WHERE p IS NULL OR k::integer = p
		 ORDER BY 1;
END
$$;
COMMENT ON FUNCTION broker.reset_group(text, text, text, integer, boolean)
	IS 'move a consumer group to earliest, latest, an offset or a time, and say from where to where; dry_run moves nothing';
