/*
 * router/sql/pgbroker_router.sql - pgbroker's topic API on a router
 * database, over N data nodes, through PL/Proxy
 *
 * The router holds no records.  Its catalog says, for each topic, how many
 * partitions it has and which node and which of that node's partitions
 * holds each global partition; each node holds, in a pgbroker topic of the
 * same name, only its own partitions (P/N of them), so a node's lag, fair
 * share and retention see no empty partitions.  Global partition g starts
 * on node g mod N as local partition g div N; moving a partition to a new
 * node (router/README and scripts/shard_add_nodes.sh) changes its row.
 *
 * The functions keep the names, parameters and results of pgbroker's topic
 * API, so a producer or consumer written for one node runs against the
 * router.  Each remote call is a PL/Proxy function (_n_*) that runs one
 * statement of pgbroker's on one node, as the router's caller (the user
 * mapping of the cluster pgbroker_cluster), so the nodes check their own
 * privileges; a call commits on its node on its own, whatever the
 * router's transaction does.  Hence what the router refuses: a
 * transactional poll (0A000).  A key goes to the partition pgbroker's own
 * hash gives (hashtextextended, unsigned, modulo the partition count),
 * which the router computes itself, so that its partition_for and a
 * node's agree.
 *
 * A call for one partition goes to its node and fails there if the node
 * is down (PL/Proxy's error names the node's database and address).  A
 * call over every node (the views, a leased poll, extend_lease, leave,
 * the commit of what was handed out) goes on without a node that cannot
 * be reached, says which in a WARNING, and the views show it in
 * broker.cluster_nodes.
 */

/* What a read or poll hands out, as on a node (PL/Proxy matches columns by name). */
CREATE TYPE broker.record AS (
	partition		integer,
	offset_id		bigint,
	key				text,
	payload			jsonb,
	payload_bytes	bytea,
	headers			jsonb,
	published_at	timestamptz
);

/* The catalog: a mirror of what the nodes hold, written by _register only. */
CREATE TABLE broker.topic (
	name			text PRIMARY KEY,
	partitions		integer NOT NULL CHECK (partitions >= 0),
	created_at		timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE broker.topic_partition (
	topic			text NOT NULL REFERENCES broker.topic ON DELETE CASCADE,
	partition		integer NOT NULL,
	node			integer NOT NULL,
	local_partition	integer NOT NULL,
	PRIMARY KEY (topic, partition),
	UNIQUE (topic, node, local_partition)
);
/* Node partitions whose records moved to another node: never used again. */
CREATE TABLE broker.retired_partition (
	topic			text NOT NULL REFERENCES broker.topic ON DELETE CASCADE,
	node			integer NOT NULL,
	local_partition	integer NOT NULL,
	moved_to		integer NOT NULL,
	moved_at		timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (topic, node, local_partition)
);
/* A partition being moved: the node partition that will take it over. */
CREATE TABLE broker.partition_move (
	topic			text NOT NULL REFERENCES broker.topic ON DELETE CASCADE,
	partition		integer NOT NULL,
	node			integer NOT NULL,
	local_partition	integer NOT NULL,
	started_at		timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (topic, partition),
	UNIQUE (topic, node, local_partition)
);
SELECT pg_catalog.pg_extension_config_dump('broker.partition_move', '');
SELECT pg_catalog.pg_extension_config_dump('broker.topic', '');
SELECT pg_catalog.pg_extension_config_dump('broker.topic_partition', '');
SELECT pg_catalog.pg_extension_config_dump('broker.retired_partition', '');
GRANT USAGE ON SCHEMA broker TO PUBLIC;
GRANT SELECT ON broker.topic, broker.topic_partition, broker.retired_partition, broker.partition_move TO PUBLIC;

/* ---------------------------------------------------------------------
 * The nodes: the partitions p0 .. pN-1 of the foreign server pgbroker_cluster
 * --------------------------------------------------------------------- */

CREATE FUNCTION broker.cluster_node_list()
RETURNS TABLE (node integer, conninfo text)
LANGUAGE sql STABLE
AS $$
	SELECT substr(split_part(o, '=', 1), 2)::int,
		   regexp_replace(substr(o, strpos(o, '=') + 1), '\s*password=\S+', '', 'g')
	  FROM pg_catalog.pg_foreign_server s, unnest(s.srvoptions) o
	 WHERE s.srvname = 'pgbroker_cluster' AND o ~ '^p[0-9]+='
	 ORDER BY 1
$$;
COMMENT ON FUNCTION broker.cluster_node_list() IS 'the data nodes of the cluster pgbroker_cluster, without passwords';

CREATE FUNCTION broker._node_count()
RETURNS integer
LANGUAGE sql STABLE
AS $$ SELECT count(*)::int FROM broker.cluster_node_list() $$;

/* The node and local partition of a global partition, or an error. */
CREATE FUNCTION broker._locate(topic text, partition integer, OUT node integer, OUT local_partition integer)
LANGUAGE plpgsql STABLE
AS $$
DECLARE
	p integer;
BEGIN
	IF topic IS NULL THEN
		RAISE EXCEPTION 'topic name must not be null' USING ERRCODE = '22004';
	END IF;
	SELECT t.partitions INTO p FROM broker.topic t WHERE t.name = _locate.topic;
	IF p IS NULL THEN
		RAISE EXCEPTION 'topic "%" does not exist', topic USING ERRCODE = '42704';
	END IF;
	IF partition IS NULL THEN
		RAISE EXCEPTION 'partition must not be null' USING ERRCODE = '22004';
	END IF;
	SELECT tp.node, tp.local_partition INTO node, local_partition
	  FROM broker.topic_partition tp
	 WHERE tp.topic = _locate.topic AND tp.partition = _locate.partition;
	IF node IS NULL THEN
		RAISE EXCEPTION 'partition % is out of range for topic "%"', partition, topic
			USING ERRCODE = '22003', DETAIL = format('The topic has %s partitions, numbered from 0.', p);
	END IF;
END
$$;

/* The nodes that hold partitions of a topic. */
CREATE FUNCTION broker._topic_nodes(topic text)
RETURNS SETOF integer
LANGUAGE sql STABLE
AS $$ SELECT DISTINCT tp.node FROM broker.topic_partition tp WHERE tp.topic = _topic_nodes.topic ORDER BY 1 $$;

/* A node that could not be reached, said once per call. */
CREATE FUNCTION broker._node_missing(node integer, err text)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
	RAISE WARNING 'pgbroker_router: node % (%) is missing: %', node,
		(SELECT l.conninfo FROM broker.cluster_node_list() l WHERE l.node = _node_missing.node), err
		USING HINT = 'Its partitions are left out of this result; calls for them fail until it is back.';
END
$$;

/* ---------------------------------------------------------------------
 * Remote calls: one pgbroker statement on one node each
 * --------------------------------------------------------------------- */

CREATE FUNCTION broker._n_ping(node integer)
RETURNS integer
AS $$ CLUSTER 'pgbroker_cluster'; RUN ON node; SELECT 1 AS _n_ping; $$ LANGUAGE plproxy;

CREATE FUNCTION broker._n_create_topic(node integer, name text, partitions integer, retention interval,
	retention_bytes bigint, compacted boolean, segment_interval interval, segment_bytes bigint,
	dedup_window interval, tombstone_grace interval, retain_for_groups text[])
RETURNS boolean
AS $$
	CLUSTER 'pgbroker_cluster'; RUN ON node;
	SELECT broker.create_topic(name, partitions, retention, retention_bytes, compacted, segment_interval,
		segment_bytes, dedup_window, tombstone_grace, true, retain_for_groups) AS _n_create_topic;
$$ LANGUAGE plproxy;

CREATE FUNCTION broker._n_alter_topic(node integer, name text, partitions integer, retention interval,
	retention_bytes bigint, compacted boolean, segment_interval interval, segment_bytes bigint,
	dedup_window interval, tombstone_grace interval, clear_retention boolean, clear_retention_bytes boolean,
	retain_for_groups text[], max_message_size integer, clear_max_message_size boolean)
RETURNS integer
AS $$
	CLUSTER 'pgbroker_cluster'; RUN ON node;
	SELECT 1 AS _n_alter_topic FROM broker.alter_topic(name, partitions, retention, retention_bytes, compacted,
		segment_interval, segment_bytes, dedup_window, tombstone_grace, clear_retention, clear_retention_bytes,
		retain_for_groups, max_message_size, clear_max_message_size);
$$ LANGUAGE plproxy;

CREATE FUNCTION broker._n_drop_topic(node integer, name text)
RETURNS boolean
AS $$ CLUSTER 'pgbroker_cluster'; RUN ON node; SELECT broker.drop_topic(name, true) AS _n_drop_topic; $$ LANGUAGE plproxy;

/* How many partitions a node's topic has (0: none). */
CREATE FUNCTION broker._n_partitions(node integer, name text)
RETURNS integer
AS $$
	CLUSTER 'pgbroker_cluster'; RUN ON node;
	SELECT coalesce((SELECT t.partitions FROM broker.topics t WHERE t.topic = name), 0) AS _n_partitions;
$$ LANGUAGE plproxy;

CREATE FUNCTION broker._n_publish(node integer, topic text, payload jsonb, key text, headers jsonb,
	local_partition integer, dedup_key text)
RETURNS integer
AS $$
	CLUSTER 'pgbroker_cluster'; RUN ON node;
	SELECT 1 AS _n_publish FROM broker.publish(topic, payload, key, headers, local_partition, dedup_key);
$$ LANGUAGE plproxy;

/* A node's share of a batch, each record on its local partition, in one transaction. */
CREATE FUNCTION broker._n_publish_batch(node integer, topic text, payloads jsonb[], keys text[],
	local_partitions integer[], headers jsonb)
RETURNS integer
AS $$
	CLUSTER 'pgbroker_cluster'; RUN ON node;
	SELECT 1 AS _n_publish_batch FROM broker.publish_batch(topic, payloads, keys, headers, NULL, local_partitions);
$$ LANGUAGE plproxy;

CREATE FUNCTION broker._n_read(node integer, topic text, local_partition integer, from_offset bigint,
	max_records integer)
RETURNS SETOF broker.record
AS $$
	CLUSTER 'pgbroker_cluster'; RUN ON node;
	SELECT * FROM broker.read(topic, local_partition, from_offset, max_records);
$$ LANGUAGE plproxy;

/* earliest, latest, or the first at a time */
CREATE FUNCTION broker._n_offset(node integer, topic text, local_partition integer, kind text, at timestamptz)
RETURNS bigint
AS $$
	CLUSTER 'pgbroker_cluster'; RUN ON node;
	SELECT CASE kind WHEN 'earliest' THEN broker.earliest_offset(topic, local_partition)
					 WHEN 'latest' THEN broker.latest_offset(topic, local_partition)
					 ELSE broker.offset_for_time(topic, local_partition, at) END AS _n_offset;
$$ LANGUAGE plproxy;

CREATE FUNCTION broker._n_topic_partitions(node integer, topic text)
RETURNS TABLE (partition integer, earliest_offset bigint, latest_offset bigint, records bigint,
			   oldest_published_at timestamptz)
AS $$
	CLUSTER 'pgbroker_cluster'; RUN ON node;
	SELECT * FROM broker.topic_partitions(topic);
$$ LANGUAGE plproxy;

CREATE FUNCTION broker._n_topics(node integer)
RETURNS TABLE (topic text, bytes bigint, segments integer, retention interval, retention_bytes bigint,
			   compacted boolean, segment_interval interval, dedup_window interval)
AS $$
	CLUSTER 'pgbroker_cluster'; RUN ON node;
	SELECT t.topic, t.bytes, t.segments, t.retention, t.retention_bytes, t.compacted,
		   t.segment_interval, t.dedup_window FROM broker.topics t;
$$ LANGUAGE plproxy;

CREATE FUNCTION broker._n_lag(node integer)
RETURNS TABLE (topic text, consumer_group text, partition integer, committed_offset bigint,
			   end_offset bigint, lag bigint, lease_holder text, lease_until timestamptz,
			   last_commit_at timestamptz, skipped bigint)
AS $$
	CLUSTER 'pgbroker_cluster'; RUN ON node;
	SELECT * FROM broker.consumer_lag;
$$ LANGUAGE plproxy;

CREATE FUNCTION broker._n_create_group(node integer, topic text, consumer_group text, start text)
RETURNS integer
AS $$
	CLUSTER 'pgbroker_cluster'; RUN ON node;
	SELECT 1 AS _n_create_group FROM broker.create_group(topic, consumer_group, start);
$$ LANGUAGE plproxy;

CREATE FUNCTION broker._n_delete_group(node integer, topic text, consumer_group text)
RETURNS boolean
AS $$
	CLUSTER 'pgbroker_cluster'; RUN ON node;
	SELECT broker.delete_group(topic, consumer_group, true) AS _n_delete_group;
$$ LANGUAGE plproxy;

CREATE FUNCTION broker._n_poll(node integer, topic text, consumer_group text, max_records integer,
	wait interval, consumer text, lease interval, token text)
RETURNS SETOF broker.record
AS $$
	CLUSTER 'pgbroker_cluster'; RUN ON node;
	SELECT * FROM broker.poll(topic, consumer_group, max_records, wait, consumer, lease, NULL, token);
$$ LANGUAGE plproxy;

/* Commits of next offsets by local partition; returns how many. */
CREATE FUNCTION broker._n_commit(node integer, topic text, consumer_group text, local_partitions integer[],
	next_offsets bigint[], consumer text)
RETURNS integer
AS $$
	CLUSTER 'pgbroker_cluster'; RUN ON node;
	SELECT count(*)::int AS _n_commit
	  FROM (SELECT broker.commit(topic, consumer_group, x.lp, x.o, consumer)
			  FROM unnest(local_partitions, next_offsets) AS x(lp, o)) s;
$$ LANGUAGE plproxy;

CREATE FUNCTION broker._n_commit_handed(node integer, topic text, consumer_group text, consumer text, token text)
RETURNS integer
AS $$
	CLUSTER 'pgbroker_cluster'; RUN ON node;
	SELECT broker.commit(topic, consumer_group, consumer, token) AS _n_commit_handed;
$$ LANGUAGE plproxy;

CREATE FUNCTION broker._n_extend_lease(node integer, topic text, consumer_group text, consumer text, lease interval)
RETURNS integer
AS $$
	CLUSTER 'pgbroker_cluster'; RUN ON node;
	SELECT broker.extend_lease(topic, consumer_group, consumer, lease) AS _n_extend_lease;
$$ LANGUAGE plproxy;

CREATE FUNCTION broker._n_leave(node integer, topic text, consumer_group text, consumer text)
RETURNS integer
AS $$
	CLUSTER 'pgbroker_cluster'; RUN ON node;
	SELECT broker.leave(topic, consumer_group, consumer) AS _n_leave;
$$ LANGUAGE plproxy;

CREATE FUNCTION broker._n_seek(node integer, topic text, consumer_group text, target text, local_partition integer)
RETURNS integer
AS $$
	CLUSTER 'pgbroker_cluster'; RUN ON node;
	SELECT 1 AS _n_seek FROM broker.seek(topic, consumer_group, target, local_partition);
$$ LANGUAGE plproxy;

CREATE FUNCTION broker._n_start_partition_at(node integer, topic text, local_partition integer, next_offset bigint)
RETURNS integer
AS $$
	CLUSTER 'pgbroker_cluster'; RUN ON node;
	SELECT 1 AS _n_start_partition_at FROM broker.start_partition_at(topic, local_partition, next_offset);
$$ LANGUAGE plproxy;

/* Records appended in the order given, each as it was (key, headers, JSON or binary payload). */
CREATE FUNCTION broker._n_append(node integer, topic text, local_partition integer, keys text[],
	payloads jsonb[], payloads_bytes bytea[], headers jsonb[])
RETURNS integer
AS $$
	CLUSTER 'pgbroker_cluster'; RUN ON node;
	SELECT count(*)::int AS _n_append
	  FROM unnest(keys, payloads, payloads_bytes, headers) AS x(k, p, b, h),
		   LATERAL (SELECT broker.publish(topic, x.p, x.k, coalesce(x.h, '{}'), local_partition) WHERE x.b IS NULL
					UNION ALL
					SELECT broker.publish_bytes(topic, x.b, x.k, coalesce(x.h, '{}'), local_partition)
					 WHERE x.b IS NOT NULL) y;
$$ LANGUAGE plproxy;

/* ---------------------------------------------------------------------
 * The catalog: registered from what the nodes hold
 * --------------------------------------------------------------------- */

/*
 * Record the partitions the nodes hold for a topic that the catalog does
 * not have yet: new local partitions take the next global numbers, node by
 * node in turn (global partition g on node g mod N when the topic grew
 * evenly).  Runs as the extension's owner and reads the nodes as such, so
 * the catalog mirrors the nodes whoever calls it.  Returns the partition
 * count.
 */
CREATE FUNCTION broker._register(name text)
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	n integer := broker._node_count();
	have integer[] := array_fill(0, ARRAY[n]);
	known integer[] := array_fill(0, ARRAY[n]);
	p integer;
	i integer;
	j integer;
	added boolean;
BEGIN
	PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('pgbroker_router'), pg_catalog.hashtext(name));
	FOR i IN 0 .. n - 1 LOOP
		have[i + 1] := broker._n_partitions(i, name);
		known[i + 1] := (SELECT count(*) FROM broker.topic_partition tp WHERE tp.topic = name AND tp.node = i)
					  + (SELECT count(*) FROM broker.retired_partition r WHERE r.topic = name AND r.node = i)
					  + (SELECT count(*) FROM broker.partition_move m WHERE m.topic = name AND m.node = i);
	END LOOP;
	IF NOT EXISTS (SELECT FROM broker.topic t WHERE t.name = _register.name) THEN
		IF (SELECT sum(h) FROM unnest(have) h) = 0 THEN
			RAISE EXCEPTION 'topic "%" does not exist on any node', name USING ERRCODE = '42704';
		END IF;
		INSERT INTO broker.topic (name, partitions) VALUES (name, 0);
	END IF;
	SELECT t.partitions INTO p FROM broker.topic t WHERE t.name = _register.name;
	-- global partition p goes to node p mod N if that node has one left,
	-- else to the next node that has
	LOOP
		added := false;
		FOR j IN 0 .. n - 1 LOOP
			i := (p + j) % n;
			IF known[i + 1] < have[i + 1] THEN
				INSERT INTO broker.topic_partition (topic, partition, node, local_partition)
				VALUES (name, p, i, known[i + 1]);
				known[i + 1] := known[i + 1] + 1;
				p := p + 1;
				added := true;
				EXIT;
			END IF;
		END LOOP;
		EXIT WHEN NOT added;
	END LOOP;
	UPDATE broker.topic t SET partitions = p WHERE t.name = _register.name;
	RETURN p;
END
$$;

/* Forget a topic that no node holds any longer. */
CREATE FUNCTION broker._unregister(name text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	i integer;
BEGIN
	FOR i IN SELECT l.node FROM broker.cluster_node_list() l LOOP
		IF broker._n_partitions(i, name) > 0 THEN
			RAISE EXCEPTION 'topic "%" still exists on node %', name, i USING ERRCODE = '55006';
		END IF;
	END LOOP;
	DELETE FROM broker.topic t WHERE t.name = _unregister.name;
END
$$;

/* ---------------------------------------------------------------------
 * Topics
 * --------------------------------------------------------------------- */

/*
 * Global partition g goes to node g mod N as its local partition g div N:
 * node i gets ceil((P - i) / N) partitions.
 */
CREATE FUNCTION broker.create_topic(name text, partitions integer DEFAULT 1, retention interval DEFAULT NULL,
	retention_bytes bigint DEFAULT NULL, compacted boolean DEFAULT false,
	segment_interval interval DEFAULT '1 hour', segment_bytes bigint DEFAULT 268435456,
	dedup_window interval DEFAULT '5 minutes', tombstone_grace interval DEFAULT '1 day',
	if_not_exists boolean DEFAULT false, retain_for_groups text[] DEFAULT NULL)
RETURNS boolean
LANGUAGE plpgsql
AS $$
DECLARE
	n integer := broker._node_count();
	i integer;
	k integer;
BEGIN
	IF name IS NULL THEN
		RAISE EXCEPTION 'topic name must not be null' USING ERRCODE = '22004';
	END IF;
	IF n = 0 THEN
		RAISE EXCEPTION 'the cluster pgbroker_cluster has no nodes' USING ERRCODE = '55000',
			HINT = 'CREATE SERVER pgbroker_cluster FOREIGN DATA WRAPPER plproxy OPTIONS (p0 ''...'', ...)';
	END IF;
	IF partitions IS NULL OR partitions < 1 OR partitions > 1024 * n THEN
		RAISE EXCEPTION 'partitions must be between 1 and %', 1024 * n USING ERRCODE = '22023';
	END IF;
	IF EXISTS (SELECT FROM broker.topic t WHERE t.name = create_topic.name) THEN
		IF if_not_exists THEN
			RAISE NOTICE 'topic "%" already exists, skipping', name;
			RETURN false;
		END IF;
		RAISE EXCEPTION 'topic "%" already exists', name USING ERRCODE = '42710';
	END IF;
	PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('pgbroker_router'), pg_catalog.hashtext(name));
	FOR i IN 0 .. LEAST(n, partitions) - 1 LOOP
		k := (partitions - i + n - 1) / n;
		IF NOT broker._n_create_topic(i, name, k, retention, retention_bytes, compacted, segment_interval,
									  segment_bytes, dedup_window, tombstone_grace, retain_for_groups)
		   AND (NOT if_not_exists OR broker._n_partitions(i, name) <> k) THEN
			RAISE EXCEPTION 'topic "%" already exists on node % (%)', name, i,
				(SELECT l.conninfo FROM broker.cluster_node_list() l WHERE l.node = i) USING ERRCODE = '42710',
				HINT = 'Drop it there, or create the topic with if_not_exists => true to take it as it is.';
		END IF;
	END LOOP;
	PERFORM broker._register(name);
	RETURN true;
END
$$;

CREATE FUNCTION broker.alter_topic(name text, partitions integer DEFAULT NULL, retention interval DEFAULT NULL,
	retention_bytes bigint DEFAULT NULL, compacted boolean DEFAULT NULL, segment_interval interval DEFAULT NULL,
	segment_bytes bigint DEFAULT NULL, dedup_window interval DEFAULT NULL, tombstone_grace interval DEFAULT NULL,
	clear_retention boolean DEFAULT false, clear_retention_bytes boolean DEFAULT false,
	retain_for_groups text[] DEFAULT NULL, max_message_size integer DEFAULT NULL,
	clear_max_message_size boolean DEFAULT false)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
	n integer := broker._node_count();
	p integer;
	i integer;
	want integer;
	cur integer;
	s record;
BEGIN
	SELECT t.partitions INTO p FROM broker.topic t WHERE t.name = alter_topic.name;
	IF p IS NULL THEN
		RAISE EXCEPTION 'topic "%" does not exist', name USING ERRCODE = '42704';
	END IF;
	IF partitions IS NOT NULL AND partitions < p THEN
		RAISE EXCEPTION 'a topic''s partitions can only be added (it has %)', p USING ERRCODE = '22023';
	END IF;
	IF partitions IS NOT NULL AND partitions > 1024 * n THEN
		RAISE EXCEPTION 'partitions must be between 1 and %', 1024 * n USING ERRCODE = '22023';
	END IF;
	PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('pgbroker_router'), pg_catalog.hashtext(name));
	-- the settings on every node of the topic; new partitions where they go
	FOR i IN 0 .. n - 1 LOOP
		cur := (SELECT count(*) FROM broker.topic_partition tp WHERE tp.topic = alter_topic.name AND tp.node = i)
			 + (SELECT count(*) FROM broker.retired_partition r WHERE r.topic = alter_topic.name AND r.node = i)
			 + (SELECT count(*) FROM broker.partition_move m WHERE m.topic = alter_topic.name AND m.node = i);
		want := cur + CASE WHEN partitions > p
						   THEN (SELECT count(*) FROM generate_series(p, partitions - 1) g WHERE g % n = i)
						   ELSE 0 END;
		IF cur = 0 AND want > 0 THEN
			-- a node new to the topic: the settings of a node that has it, and the new ones
			SELECT * INTO s FROM broker._n_topics((SELECT min(tp.node) FROM broker.topic_partition tp
													WHERE tp.topic = alter_topic.name)) t
			 WHERE t.topic = alter_topic.name;
			PERFORM broker._n_create_topic(i, name, want,
										   CASE WHEN clear_retention THEN NULL ELSE coalesce(retention, s.retention) END,
										   CASE WHEN clear_retention_bytes THEN NULL
												ELSE coalesce(retention_bytes, s.retention_bytes) END,
										   coalesce(compacted, s.compacted, false),
										   coalesce(segment_interval, s.segment_interval, '1 hour'),
										   coalesce(segment_bytes, 268435456),
										   coalesce(dedup_window, s.dedup_window, '5 minutes'),
										   coalesce(tombstone_grace, '1 day'), retain_for_groups);
		ELSIF cur > 0 THEN
			PERFORM broker._n_alter_topic(i, name, CASE WHEN want > cur THEN want END, retention, retention_bytes,
										  compacted, segment_interval, segment_bytes, dedup_window,
										  tombstone_grace, clear_retention, clear_retention_bytes,
										  retain_for_groups, max_message_size, clear_max_message_size);
		END IF;
	END LOOP;
	PERFORM broker._register(name);
END
$$;

CREATE FUNCTION broker.drop_topic(name text, if_exists boolean DEFAULT false)
RETURNS boolean
LANGUAGE plpgsql
AS $$
DECLARE
	i integer;
BEGIN
	IF NOT EXISTS (SELECT FROM broker.topic t WHERE t.name = drop_topic.name) THEN
		IF if_exists THEN
			RAISE NOTICE 'topic "%" does not exist, skipping', name;
			RETURN false;
		END IF;
		RAISE EXCEPTION 'topic "%" does not exist', name USING ERRCODE = '42704';
	END IF;
	FOR i IN SELECT DISTINCT x.node FROM (SELECT tp.node FROM broker.topic_partition tp WHERE tp.topic = drop_topic.name
										  UNION SELECT r.node FROM broker.retired_partition r WHERE r.topic = drop_topic.name
										  UNION SELECT m.node FROM broker.partition_move m WHERE m.topic = drop_topic.name) x
			 ORDER BY 1 LOOP
		PERFORM broker._n_drop_topic(i, name);
	END LOOP;
	PERFORM broker._unregister(name);
	RETURN true;
END
$$;

/*
 * pgbroker's key hash: hashtextextended(key, 0) as an unsigned 64-bit
 * number, modulo the partitions (one expression, so that it is inlined
 * into the queries that use it).
 */
CREATE FUNCTION broker._key_partition(key text, partitions integer)
RETURNS integer
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
	SELECT ((((pg_catalog.hashtextextended(key COLLATE "C", 0) >> 1) & 9223372036854775807) % partitions * 2
			 + (pg_catalog.hashtextextended(key COLLATE "C", 0) & 1)) % partitions)::int
$$;

CREATE FUNCTION broker.partition_for(topic text, key text)
RETURNS integer
LANGUAGE plpgsql STABLE
AS $$
DECLARE
	p integer;
BEGIN
	IF key IS NULL THEN
		RAISE EXCEPTION 'key must not be null' USING ERRCODE = '22004';
	END IF;
	SELECT t.partitions INTO p FROM broker.topic t WHERE t.name = partition_for.topic;
	IF p IS NULL THEN
		RAISE EXCEPTION 'topic "%" does not exist', topic USING ERRCODE = '42704';
	END IF;
	RETURN broker._key_partition(key, p);
END
$$;

/*
 * publish: one record on its partition's node (the one given, the key's,
 * or, without key, one at random per call as a node sticks to one per
 * transaction), committed there at once: not in the caller's transaction,
 * since PL/Proxy runs each remote call in a transaction of its own.  It
 * holds the topic's layout (a shared advisory lock) to the end of the
 * caller's transaction: a partition move's last step waits for it.
 */
CREATE FUNCTION broker.publish(topic text, payload jsonb, key text DEFAULT NULL, headers jsonb DEFAULT '{}',
	partition integer DEFAULT NULL, dedup_key text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
	n integer;
	l integer;
BEGIN
	-- the layout lock first: a move's last step may re-point the partition
	PERFORM pg_catalog.pg_advisory_xact_lock_shared(pg_catalog.hashtext('pgbroker_router.topic'),
													pg_catalog.hashtext(topic));
	SELECT tp.node, tp.local_partition INTO n, l
	  FROM broker.topic t
	  JOIN broker.topic_partition tp
		ON tp.topic = t.name
	   AND tp.partition = CASE WHEN publish.partition IS NOT NULL THEN publish.partition
							   WHEN key IS NOT NULL THEN broker._key_partition(key, t.partitions)
							   ELSE floor(random() * t.partitions)::int END
	 WHERE t.name = publish.topic;
	IF n IS NULL THEN
		PERFORM broker._locate(topic, partition);	-- says what is wrong
	END IF;
	PERFORM broker._n_publish(n, topic, payload, key, headers, l, dedup_key);
END
$$;

/*
 * publish_batch: each node's records in one remote call, one transaction
 * there (a node that fails leaves the others' records published).
 */
CREATE FUNCTION broker.publish_batch(topic text, payloads jsonb[], keys text[] DEFAULT NULL,
	headers jsonb DEFAULT '{}', partition integer DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
	p integer;
	b record;
BEGIN
	PERFORM pg_catalog.pg_advisory_xact_lock_shared(pg_catalog.hashtext('pgbroker_router.topic'),
													pg_catalog.hashtext(topic));
	SELECT t.partitions INTO p FROM broker.topic t WHERE t.name = publish_batch.topic;
	IF p IS NULL THEN
		RAISE EXCEPTION 'topic "%" does not exist', topic USING ERRCODE = '42704';
	END IF;
	IF payloads IS NULL THEN
		RAISE EXCEPTION 'payloads must not be null' USING ERRCODE = '22004';
	END IF;
	IF keys IS NOT NULL AND cardinality(keys) <> cardinality(payloads) THEN
		RAISE EXCEPTION 'keys must have as many elements as payloads' USING ERRCODE = '22023';
	END IF;
	IF partition IS NOT NULL THEN
		PERFORM broker._locate(topic, partition);
	END IF;
	FOR b IN
		WITH r AS (
			SELECT x.o, x.payload, keys[x.o] AS key,
				   CASE WHEN publish_batch.partition IS NOT NULL THEN publish_batch.partition
						ELSE broker._key_partition(keys[x.o], p) END AS g
			  FROM unnest(payloads) WITH ORDINALITY AS x(payload, o)),
		-- records without key or partition stick to one partition per call
		s AS (SELECT floor(random() * p)::int AS g)
		SELECT tp.node, array_agg(r.payload ORDER BY r.o) AS payloads, array_agg(r.key ORDER BY r.o) AS keys,
			   array_agg(tp.local_partition ORDER BY r.o) AS parts
		  FROM r CROSS JOIN s
		  JOIN broker.topic_partition tp
			ON tp.topic = publish_batch.topic
		   AND tp.partition = CASE WHEN publish_batch.partition IS NULL AND keys[r.o] IS NULL THEN s.g ELSE r.g END
		 GROUP BY tp.node ORDER BY tp.node
	LOOP
		PERFORM broker._n_publish_batch(b.node, topic, b.payloads, b.keys, b.parts, headers);
	END LOOP;
END
$$;

CREATE FUNCTION broker.read(topic text, partition integer, from_offset bigint, max_records integer DEFAULT 100)
RETURNS SETOF broker.record
LANGUAGE plpgsql
AS $$
DECLARE
	loc record := broker._locate(topic, partition);
BEGIN
	RETURN QUERY SELECT read.partition, r.offset_id, r.key, r.payload, r.payload_bytes, r.headers, r.published_at
				   FROM broker._n_read(loc.node, topic, loc.local_partition, from_offset, max_records) r;
END
$$;

/* earliest_offset, latest_offset, offset_for_time: on the partition's node. */
CREATE FUNCTION broker._offset(topic text, partition integer, kind text, at timestamptz)
RETURNS bigint
LANGUAGE plpgsql
AS $$
DECLARE
	loc record := broker._locate(topic, partition);
BEGIN
	IF kind = 'time' AND at IS NULL THEN
		RAISE EXCEPTION 'at must not be null' USING ERRCODE = '22004';
	END IF;
	RETURN broker._n_offset(loc.node, topic, loc.local_partition, kind, at);
END
$$;

CREATE FUNCTION broker.earliest_offset(topic text, partition integer)
RETURNS bigint
LANGUAGE sql
AS $$ SELECT broker._offset(topic, partition, 'earliest', NULL) $$;

CREATE FUNCTION broker.latest_offset(topic text, partition integer)
RETURNS bigint
LANGUAGE sql
AS $$ SELECT broker._offset(topic, partition, 'latest', NULL) $$;

CREATE FUNCTION broker.offset_for_time(topic text, partition integer, at timestamptz)
RETURNS bigint
LANGUAGE sql
AS $$ SELECT broker._offset(topic, partition, 'time', at) $$;

/* Per global partition, from every node of the topic (a missing node's partitions are left out). */
CREATE FUNCTION broker.topic_partitions(topic text)
RETURNS TABLE (partition integer, earliest_offset bigint, latest_offset bigint, records bigint,
			   oldest_published_at timestamptz)
LANGUAGE plpgsql
AS $$
DECLARE
	i integer;
BEGIN
	IF NOT EXISTS (SELECT FROM broker.topic t WHERE t.name = topic_partitions.topic) THEN
		RAISE EXCEPTION 'topic "%" does not exist', topic USING ERRCODE = '42704';
	END IF;
	FOR i IN SELECT broker._topic_nodes(topic) LOOP
		BEGIN
			RETURN QUERY
				SELECT tp.partition, x.earliest_offset, x.latest_offset, x.records, x.oldest_published_at
				  FROM broker._n_topic_partitions(i, topic) x
				  JOIN broker.topic_partition tp
					ON tp.topic = topic_partitions.topic AND tp.node = i AND tp.local_partition = x.partition;
		EXCEPTION WHEN OTHERS THEN
			PERFORM broker._node_missing(i, SQLERRM);
		END;
	END LOOP;
END
$$;

/* ---------------------------------------------------------------------
 * The cluster's views: every node, a missing one said, not failing all
 * --------------------------------------------------------------------- */

CREATE FUNCTION broker._cluster_nodes()
RETURNS TABLE (node integer, conninfo text, reachable boolean, error text)
LANGUAGE plpgsql
AS $$
DECLARE
	l record;
BEGIN
	FOR l IN SELECT * FROM broker.cluster_node_list() LOOP
		node := l.node;
		conninfo := l.conninfo;
		BEGIN
			PERFORM broker._n_ping(l.node);
			reachable := true;
			error := NULL;
		EXCEPTION WHEN OTHERS THEN
			reachable := false;
			error := SQLERRM;
		END;
		RETURN NEXT;
	END LOOP;
END
$$;
CREATE VIEW broker.cluster_nodes AS SELECT * FROM broker._cluster_nodes();
COMMENT ON VIEW broker.cluster_nodes IS 'the data nodes, whether each answers now, and the error when not';

CREATE FUNCTION broker._cluster_partitions()
RETURNS TABLE (topic text, partition integer, node integer, earliest_offset bigint, latest_offset bigint,
			   records bigint, oldest_published_at timestamptz, bytes bigint, segments integer,
			   retention interval, retention_bytes bigint, compacted boolean, segment_interval interval,
			   dedup_window interval)
LANGUAGE plpgsql
AS $$
DECLARE
	i integer;
BEGIN
	FOR i IN SELECT l.node FROM broker.cluster_node_list() l LOOP
		BEGIN
			RETURN QUERY
				SELECT tp.topic, tp.partition, i, x.earliest_offset, x.latest_offset, x.records,
					   x.oldest_published_at, t.bytes, t.segments, t.retention, t.retention_bytes,
					   t.compacted, t.segment_interval, t.dedup_window
				  FROM broker._n_topics(i) t
				  JOIN broker.topic_partition tp ON tp.topic = t.topic AND tp.node = i
				  LEFT JOIN LATERAL (SELECT * FROM broker._n_topic_partitions(i, t.topic) y
									  WHERE y.partition = tp.local_partition) x ON true;
		EXCEPTION WHEN OTHERS THEN
			PERFORM broker._node_missing(i, SQLERRM);
			RETURN QUERY
				SELECT tp.topic, tp.partition, i, NULL::bigint, NULL::bigint, NULL::bigint, NULL::timestamptz,
					   NULL::bigint, NULL::integer, NULL::interval, NULL::bigint, NULL::boolean,
					   NULL::interval, NULL::interval
				  FROM broker.topic_partition tp WHERE tp.node = i;
		END;
	END LOOP;
END
$$;

/*
 * One row per topic, as a node's broker.topics; figures summed over the
 * nodes (bytes and segments count each node's share of the topic, so a
 * node's segments count once per node).  missing_nodes: the nodes that
 * did not answer (their partitions have NULL offsets).
 */
CREATE VIEW broker.topics AS
WITH c AS MATERIALIZED (SELECT * FROM broker._cluster_partitions()),
	 per_node AS (SELECT DISTINCT c.topic, c.node, c.bytes, c.segments FROM c)
SELECT t.name AS topic, t.partitions,
	   sum(c.latest_offset - c.earliest_offset)::bigint AS records,
	   (SELECT sum(b.bytes) FROM per_node b WHERE b.topic = t.name)::bigint AS bytes,
	   (SELECT sum(b.segments) FROM per_node b WHERE b.topic = t.name)::integer AS segments,
	   array_agg(c.earliest_offset ORDER BY c.partition) AS earliest_offsets,
	   array_agg(c.latest_offset ORDER BY c.partition) AS latest_offsets,
	   now() - min(c.oldest_published_at) AS oldest_record_age,
	   min(c.retention) AS retention, min(c.retention_bytes) AS retention_bytes,
	   bool_or(c.compacted) AS compacted, min(c.segment_interval) AS segment_interval,
	   min(c.dedup_window) AS dedup_window, t.created_at,
	   array_agg(DISTINCT c.node) FILTER (WHERE c.latest_offset IS NULL) AS missing_nodes
  FROM broker.topic t
  JOIN c ON c.topic = t.name
 GROUP BY t.name, t.partitions, t.created_at;
COMMENT ON VIEW broker.topics IS 'one row per topic over every node; missing_nodes: nodes that did not answer';

/* One row per group and global partition; a missing node's rows are left out, with a WARNING. */
CREATE FUNCTION broker._cluster_lag()
RETURNS TABLE (topic text, consumer_group text, partition integer, committed_offset bigint, end_offset bigint,
			   lag bigint, lease_holder text, lease_until timestamptz, last_commit_at timestamptz, skipped bigint,
			   node integer)
LANGUAGE plpgsql
AS $$
DECLARE
	i integer;
BEGIN
	FOR i IN SELECT l.node FROM broker.cluster_node_list() l LOOP
		BEGIN
			RETURN QUERY
				SELECT x.topic, x.consumer_group, tp.partition, x.committed_offset, x.end_offset, x.lag,
					   x.lease_holder, x.lease_until, x.last_commit_at, x.skipped, i
				  FROM broker._n_lag(i) x
				  JOIN broker.topic_partition tp
					ON tp.topic = x.topic AND tp.node = i AND tp.local_partition = x.partition;
		EXCEPTION WHEN OTHERS THEN
			PERFORM broker._node_missing(i, SQLERRM);
		END;
	END LOOP;
END
$$;
CREATE VIEW broker.consumer_lag AS
SELECT topic, consumer_group, partition, committed_offset, end_offset, lag, lease_holder, lease_until,
	   last_commit_at, skipped, node
  FROM broker._cluster_lag();
COMMENT ON VIEW broker.consumer_lag IS 'per group and partition over every node (node: where the partition lives)';

/* ---------------------------------------------------------------------
 * Consumer groups: leased only
 * --------------------------------------------------------------------- */

CREATE FUNCTION broker.create_group(topic text, consumer_group text, start text DEFAULT 'latest')
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
	i integer;
BEGIN
	PERFORM broker._locate(topic, 0);
	FOR i IN SELECT broker._topic_nodes(topic) LOOP
		PERFORM broker._n_create_group(i, topic, consumer_group, start);
	END LOOP;
END
$$;

CREATE FUNCTION broker.delete_group(topic text, consumer_group text, if_exists boolean DEFAULT false)
RETURNS boolean
LANGUAGE plpgsql
AS $$
DECLARE
	i integer;
	existed boolean := false;
BEGIN
	PERFORM broker._locate(topic, 0);
	FOR i IN SELECT broker._topic_nodes(topic) LOOP
		existed := broker._n_delete_group(i, topic, consumer_group) OR existed;
	END LOOP;
	IF NOT existed AND NOT if_exists THEN
		RAISE EXCEPTION 'consumer group "%" of topic "%" does not exist', consumer_group, topic USING ERRCODE = '42704';
	END IF;
	RETURN existed;
END
$$;

/*
 * The router session's consumer identity on the nodes: a token made once
 * per session, so that what this session's polls were handed is its own
 * on every node whichever connection PL/Proxy uses (broker.join's tokens
 * are any string; a consumer passes its own with token =>).
 */
CREATE FUNCTION broker._session_token(token text)
RETURNS text
LANGUAGE plpgsql
AS $$
DECLARE
	t text := coalesce(token, current_setting('pgbroker_router.session_token', true));
BEGIN
	IF t IS NULL OR t = '' THEN
		t := 'router-' || gen_random_uuid()::text;
		PERFORM set_config('pgbroker_router.session_token', t, false);
	END IF;
	RETURN t;
END
$$;

CREATE FUNCTION broker.join(topic text, consumer_group text, consumer text)
RETURNS text
LANGUAGE sql VOLATILE STRICT
AS $$ SELECT pg_catalog.gen_random_uuid()::text $$;

/* Nodes in turn, from one that moves on at every call. */
CREATE FUNCTION broker._nodes_from(topic text, first integer)
RETURNS SETOF integer
LANGUAGE sql STABLE
AS $$
	SELECT x.n FROM (SELECT n, row_number() OVER (ORDER BY n) - 1 AS i, count(*) OVER () AS c
					   FROM broker._topic_nodes(topic) n) x
	 ORDER BY (x.i - first % x.c + x.c) % x.c
$$;

/*
 * Whether an error says a node could not be reached: PL/Proxy's own errors
 * are XX000, a node's connection that ends gives 08xxx or 57P0x.  A
 * node's refusal (PB001, 42501, ...) is not.
 */
CREATE FUNCTION broker._unreachable(state text)
RETURNS boolean
LANGUAGE sql IMMUTABLE
AS $$ SELECT state IN ('XX000', '08000', '08001', '08006', '57P01', '57P03') $$;

/*
 * One node's part of a leased poll, with global partitions (records of a
 * partition the router does not know, a retired one, are left out).  A
 * node that cannot be reached gives nothing, with a WARNING, after the
 * wait it was asked for.
 */
CREATE FUNCTION broker._poll_node(node integer, topic text, consumer_group text, max_records integer,
	wait interval, consumer text, lease interval, token text)
RETURNS SETOF broker.record
LANGUAGE plpgsql
AS $$
BEGIN
	RETURN QUERY
		SELECT tp.partition, r.offset_id, r.key, r.payload, r.payload_bytes, r.headers, r.published_at
		  FROM broker._n_poll(node, topic, consumer_group, max_records, wait, consumer, lease, token) r
		  JOIN broker.topic_partition tp
			ON tp.topic = _poll_node.topic AND tp.node = _poll_node.node AND tp.local_partition = r.partition;
EXCEPTION WHEN OTHERS THEN
	IF NOT broker._unreachable(SQLSTATE) THEN
		RAISE;
	END IF;
	PERFORM broker._node_missing(node, SQLERRM);
	PERFORM pg_sleep(extract(epoch FROM wait));
END
$$;

/*
 * A leased poll over every node of the topic: each node is asked in turn
 * (from a different one each call) for its share of max_records, so that
 * every node sees the consumer's poll (the heartbeat of its leases) and
 * hands out up to its fair share; what is left goes to the next.  Its
 * records come back with their global partitions.  With a wait and
 * nothing anywhere, it waits on one node at a time, in turn, for at most
 * 100 ms, then asks every node again: a record is seen within the wait on
 * the node being waited on (its commit wakes it) and within about 100 ms
 * × nodes on another.  A node that cannot be reached is skipped, with a
 * WARNING.  Transactional polls cannot work through PL/Proxy (each remote
 * call commits on its own): 0A000.
 */
CREATE FUNCTION broker.poll(topic text, consumer_group text, max_records integer DEFAULT 100,
	wait interval DEFAULT '0', consumer text DEFAULT NULL, lease interval DEFAULT NULL,
	partition integer DEFAULT NULL, token text DEFAULT NULL)
RETURNS SETOF broker.record
LANGUAGE plpgsql
AS $$
DECLARE
	tok text;
	nodes integer[];
	live integer;
	i integer;
	got integer;
	total integer := 0;
	share integer;
	turn integer;
	deadline timestamptz;
	w integer := 0;
BEGIN
	IF lease IS NULL OR partition IS NOT NULL THEN
		RAISE EXCEPTION 'a transactional poll cannot run through the router' USING ERRCODE = '0A000',
			DETAIL = 'PL/Proxy runs each remote call in a transaction of its own: the router''s transaction cannot hold a node''s partitions or commit its offsets with the work.',
			HINT = 'Poll with consumer and lease here (at least once), or connect to the node of the partition for exactly-once work (broker.topic_partition says which).';
	END IF;
	IF consumer IS NULL THEN
		RAISE EXCEPTION 'a leased poll needs a consumer' USING ERRCODE = '22004',
			HINT = 'Pass consumer => a name that identifies this consumer instance.';
	END IF;
	IF max_records IS NULL OR max_records < 1 OR max_records > 10000 THEN
		RAISE EXCEPTION 'max_records must be between 1 and 10000' USING ERRCODE = '22023';
	END IF;
	IF wait IS NULL OR wait < '0' OR wait > '1 hour' THEN
		RAISE EXCEPTION 'wait must be between 0 and 1 hour' USING ERRCODE = '22023';
	END IF;
	PERFORM broker._locate(topic, 0);
	tok := broker._session_token(token);
	turn := coalesce(nullif(current_setting('pgbroker_router.poll_turn', true), '')::int, 0);
	PERFORM set_config('pgbroker_router.poll_turn', (turn + 1)::text, false);
	nodes := ARRAY(SELECT broker._nodes_from(topic, turn));
	deadline := clock_timestamp() + wait;
	LOOP
		live := cardinality(nodes);
		FOREACH i IN ARRAY nodes LOOP
			EXIT WHEN total >= max_records;
			share := GREATEST((max_records - total) / GREATEST(live, 1), 1);
			live := live - 1;
			RETURN QUERY SELECT * FROM broker._poll_node(i, topic, consumer_group, share, '0', consumer, lease, tok);
			GET DIAGNOSTICS got = ROW_COUNT;
			total := total + got;
		END LOOP;
		EXIT WHEN total > 0 OR clock_timestamp() >= deadline;
		-- nothing anywhere: wait on one node a while, in turn
		i := nodes[1 + w % cardinality(nodes)];
		w := w + 1;
		RETURN QUERY SELECT * FROM broker._poll_node(i, topic, consumer_group, max_records,
			GREATEST(LEAST(deadline - clock_timestamp(), '100 milliseconds'), '0'), consumer, lease, tok);
		GET DIAGNOSTICS got = ROW_COUNT;
		total := total + got;
		EXIT WHEN total > 0 OR clock_timestamp() >= deadline;
	END LOOP;
END
$$;

/* A leased consumer's progress in one partition: on its node. */
CREATE FUNCTION broker.commit(topic text, consumer_group text, partition integer, next_offset bigint,
	consumer text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
	loc record := broker._locate(topic, partition);
BEGIN
	PERFORM broker._n_commit(loc.node, topic, consumer_group, ARRAY[loc.local_partition], ARRAY[next_offset],
							 consumer);
END
$$;

/* After the last of the given records in each partition: one call per node. */
CREATE FUNCTION broker.commit(topic text, consumer_group text, records broker.record[], consumer text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
	c record;
BEGIN
	PERFORM broker._locate(topic, 0);
	FOR c IN
		SELECT tp.node, array_agg(tp.local_partition) AS parts, array_agg(m.next_offset) AS offs
		  FROM (SELECT r.partition, max(r.offset_id) + 1 AS next_offset FROM unnest(records) r
				 GROUP BY r.partition) m
		  JOIN broker.topic_partition tp ON tp.topic = commit.topic AND tp.partition = m.partition
		 GROUP BY tp.node ORDER BY tp.node
	LOOP
		PERFORM broker._n_commit(c.node, topic, consumer_group, c.parts, c.offs, consumer);
	END LOOP;
END
$$;

/*
 * A consumer's call on every node of the topic, summed: the commit of what
 * was handed out, extend_lease, leave.  A node that cannot be reached is
 * skipped with a WARNING (PL/Proxy's own errors are XX000; a node's
 * connection ends with 08xxx or 57P0x); a node's refusal (PB001, 42501)
 * fails the call.
 */
CREATE FUNCTION broker._over_nodes(what text, topic text, consumer_group text, consumer text,
	token text, lease interval)
RETURNS integer
LANGUAGE plpgsql
AS $$
DECLARE
	i integer;
	n integer := 0;
BEGIN
	PERFORM broker._locate(topic, 0);
	FOR i IN SELECT broker._topic_nodes(topic) LOOP
		BEGIN
			n := n + CASE what
						 WHEN 'commit' THEN broker._n_commit_handed(i, topic, consumer_group, consumer, token)
						 WHEN 'extend_lease' THEN broker._n_extend_lease(i, topic, consumer_group, consumer, lease)
						 WHEN 'leave' THEN broker._n_leave(i, topic, consumer_group, consumer) END;
		EXCEPTION WHEN OTHERS THEN
			IF NOT broker._unreachable(SQLSTATE) THEN
				RAISE;
			END IF;
			PERFORM broker._node_missing(i, SQLERRM);
		END;
	END LOOP;
	RETURN n;
END
$$;

/* Everything this session's (or token's) polls handed consumer, on every node. */
CREATE FUNCTION broker.commit(topic text, consumer_group text, consumer text, token text DEFAULT NULL)
RETURNS integer
LANGUAGE sql
AS $$ SELECT broker._over_nodes('commit', topic, consumer_group, consumer, broker._session_token(token), NULL) $$;

CREATE FUNCTION broker.extend_lease(topic text, consumer_group text, consumer text, lease interval DEFAULT '30 seconds')
RETURNS integer
LANGUAGE sql
AS $$ SELECT broker._over_nodes('extend_lease', topic, consumer_group, consumer, NULL, lease) $$;

CREATE FUNCTION broker.leave(topic text, consumer_group text, consumer text)
RETURNS integer
LANGUAGE sql
AS $$ SELECT broker._over_nodes('leave', topic, consumer_group, consumer, NULL, NULL) $$;

/* One partition on its node, or the whole group on every node. */
CREATE FUNCTION broker.seek(topic text, consumer_group text, target text, partition integer DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
	loc record;
	i integer;
BEGIN
	IF partition IS NOT NULL THEN
		loc := broker._locate(topic, partition);
		PERFORM broker._n_seek(loc.node, topic, consumer_group, target, loc.local_partition);
		RETURN;
	END IF;
	PERFORM broker._locate(topic, 0);
	FOR i IN SELECT broker._topic_nodes(topic) LOOP
		PERFORM broker._n_seek(i, topic, consumer_group, target, NULL);
	END LOOP;
END
$$;

CREATE FUNCTION broker.seek(topic text, consumer_group text, offset_id bigint, partition integer DEFAULT NULL)
RETURNS void
LANGUAGE sql
AS $$ SELECT broker.seek(topic, consumer_group, offset_id::text, partition) $$;

CREATE FUNCTION broker.seek(topic text, consumer_group text, at timestamptz, partition integer DEFAULT NULL)
RETURNS void
LANGUAGE sql
AS $$ SELECT broker.seek(topic, consumer_group, at::text, partition) $$;

/*
 * poll_wait as on a node (the command-line tool's tail --follow): a
 * router procedure over the router's leased poll; a node's procedures
 * cannot be proxied.
 */
CREATE PROCEDURE broker.poll_wait(topic text, consumer_group text, max_records integer DEFAULT 100,
	wait interval DEFAULT '30 seconds', consumer text DEFAULT NULL, lease interval DEFAULT NULL,
	token text DEFAULT NULL, INOUT records broker.record[] DEFAULT NULL)
LANGUAGE plpgsql
AS $$
BEGIN
	records := ARRAY(SELECT r FROM broker.poll(topic, consumer_group, max_records, wait, consumer, lease,
											   NULL, token) r);
END
$$;

CREATE FUNCTION broker._n_reset_group(node integer, topic text, consumer_group text, to_position text,
	local_partition integer, dry_run boolean)
RETURNS TABLE (partition_id integer, old_offset bigint, new_offset bigint)
AS $$
	CLUSTER 'pgbroker_cluster'; RUN ON node;
	SELECT * FROM broker.reset_group(topic, consumer_group, to_position, local_partition, dry_run);
$$ LANGUAGE plproxy;

/* Move a group (one partition or all) and say what moved, with global partitions. */
CREATE FUNCTION broker.reset_group(topic text, consumer_group text, to_position text,
	partition integer DEFAULT NULL, dry_run boolean DEFAULT false)
RETURNS TABLE (partition_id integer, old_offset bigint, new_offset bigint)
LANGUAGE plpgsql
AS $$
DECLARE
	loc record;
	i integer;
BEGIN
	IF partition IS NOT NULL THEN
		loc := broker._locate(topic, partition);
		RETURN QUERY SELECT reset_group.partition, x.old_offset, x.new_offset
					   FROM broker._n_reset_group(loc.node, topic, consumer_group, to_position,
												  loc.local_partition, dry_run) x;
		RETURN;
	END IF;
	PERFORM broker._locate(topic, 0);
	FOR i IN SELECT broker._topic_nodes(topic) LOOP
		RETURN QUERY SELECT tp.partition, x.old_offset, x.new_offset
					   FROM broker._n_reset_group(i, topic, consumer_group, to_position, NULL, dry_run) x
					   JOIN broker.topic_partition tp
						 ON tp.topic = reset_group.topic AND tp.node = i AND tp.local_partition = x.partition_id;
	END LOOP;
END
$$;

/* ---------------------------------------------------------------------
 * Moving a partition to another node (adding nodes: scripts/shard_add_nodes.sh)
 * --------------------------------------------------------------------- */

/* A new partition of a topic on a node, staged for a move; returns its local number. */
CREATE FUNCTION broker._stage_move(topic text, partition integer, to_node integer)
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	loc record := broker._locate(topic, partition);
	l integer;
	s record;
BEGIN
	SELECT m.local_partition INTO l FROM broker.partition_move m
	 WHERE m.topic = _stage_move.topic AND m.partition = _stage_move.partition AND m.node = to_node;
	IF l IS NOT NULL THEN
		RETURN l;
	END IF;
	IF NOT EXISTS (SELECT FROM broker.cluster_node_list() n WHERE n.node = to_node) THEN
		RAISE EXCEPTION 'node % is not in the cluster pgbroker_cluster', to_node USING ERRCODE = '22023';
	END IF;
	IF loc.node = to_node THEN
		RAISE EXCEPTION 'partition % of topic "%" is on node % already', partition, topic, to_node
			USING ERRCODE = '22023';
	END IF;
	-- no _register while the new node partition exists and is not yet staged
	PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('pgbroker_router'), pg_catalog.hashtext(topic));
	l := broker._n_partitions(to_node, topic);
	IF l = 0 THEN
		SELECT * INTO s FROM broker._n_topics(loc.node) t WHERE t.topic = _stage_move.topic;
		PERFORM broker._n_create_topic(to_node, topic, 1, s.retention, s.retention_bytes, s.compacted,
									   s.segment_interval, 268435456, s.dedup_window, '1 day', NULL);
	ELSE
		PERFORM broker._n_alter_topic(to_node, topic, l + 1, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
									  false, false, NULL, NULL, false);
	END IF;
	INSERT INTO broker.partition_move (topic, partition, node, local_partition)
	VALUES (topic, partition, to_node, l);
	RETURN l;
END
$$;

/* The move's last step: the catalog points at the new node partition. */
CREATE FUNCTION broker._finish_move(topic text, partition integer)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	m broker.partition_move;
	loc record := broker._locate(topic, partition);
BEGIN
	SELECT * INTO m FROM broker.partition_move pm
	 WHERE pm.topic = _finish_move.topic AND pm.partition = _finish_move.partition;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'partition % of topic "%" is not being moved', partition, topic USING ERRCODE = '55000';
	END IF;
	-- the copy must be complete: the same end offset on both nodes
	IF broker._n_offset(m.node, topic, m.local_partition, 'latest', NULL)
	   <> broker._n_offset(loc.node, topic, loc.local_partition, 'latest', NULL) THEN
		RAISE EXCEPTION 'partition % of topic "%": the copy on node % does not end where the original does',
			partition, topic, m.node USING ERRCODE = '55000';
	END IF;
	INSERT INTO broker.retired_partition (topic, node, local_partition, moved_to)
	VALUES (topic, loc.node, loc.local_partition, m.node);
	UPDATE broker.topic_partition tp SET node = m.node, local_partition = m.local_partition
	 WHERE tp.topic = _finish_move.topic AND tp.partition = _finish_move.partition;
	DELETE FROM broker.partition_move pm WHERE pm.topic = _finish_move.topic AND pm.partition = _finish_move.partition;
END
$$;

/* Copy what the new node partition lacks, in batches; returns how many records. */
CREATE FUNCTION broker._copy_partition(topic text, partition integer, batch integer)
RETURNS bigint
LANGUAGE plpgsql
AS $$
DECLARE
	loc record := broker._locate(topic, partition);
	m broker.partition_move;
	next bigint;
	copied bigint := 0;
	b record;
BEGIN
	SELECT * INTO m FROM broker.partition_move pm
	 WHERE pm.topic = _copy_partition.topic AND pm.partition = _copy_partition.partition;
	next := broker._n_offset(m.node, topic, m.local_partition, 'latest', NULL);
	LOOP
		SELECT count(*) AS n, max(r.offset_id) AS last, array_agg(r.key ORDER BY r.offset_id) AS keys,
			   array_agg(r.payload ORDER BY r.offset_id) AS payloads,
			   array_agg(r.payload_bytes ORDER BY r.offset_id) AS bytes,
			   array_agg(r.headers ORDER BY r.offset_id) AS headers,
			   min(r.offset_id) AS first
		  INTO b
		  FROM broker._n_read(loc.node, topic, loc.local_partition, next, batch) r;
		EXIT WHEN b.n = 0;
		IF b.first <> next OR b.last - b.first + 1 <> b.n THEN
			RAISE EXCEPTION 'partition % of topic "%" has a gap at offset % on node %: it cannot be moved with its offsets',
				partition, topic, next, loc.node USING ERRCODE = '55000';
		END IF;
		PERFORM broker._n_append(m.node, topic, m.local_partition, b.keys, b.payloads, b.bytes, b.headers);
		copied := copied + b.n;
		next := b.last + 1;
		EXIT WHEN b.n < batch;
	END LOOP;
	RETURN copied;
END
$$;

/*
 * Move a partition to another node with its records, their offsets, and
 * every group's committed offset: a new partition on to_node starts at the
 * original's earliest offset and takes its records in batches (each batch
 * commits, producers keep going); then producers through the router pause
 * on the topic while the rest is copied, the groups' offsets follow, the
 * end offsets are compared, and the catalog points at the new partition;
 * producers go on there.  Consumers polling through the router take the
 * partition over from its committed offset on the new node (what they were
 * handed and did not commit comes again: at least once).  The original
 * node partition is retired: the router never uses it again, and its
 * records go with the topic's retention.  published_at of the copies is
 * the time of the copy.  Interrupted, it resumes where it stopped.
 */
CREATE PROCEDURE broker.move_partition(topic text, partition integer, to_node integer,
									   batch integer DEFAULT 10000, INOUT copied bigint DEFAULT 0)
LANGUAGE plpgsql
AS $$
DECLARE
	loc record := broker._locate(topic, partition);
	l integer;
	first bigint;
	n bigint;
	g record;
BEGIN
	IF batch IS NULL OR batch < 1 OR batch > 10000 THEN
		RAISE EXCEPTION 'batch must be between 1 and 10000' USING ERRCODE = '22023';
	END IF;
	copied := 0;
	l := broker._stage_move(topic, partition, to_node);
	COMMIT;
	first := broker._n_offset(loc.node, topic, loc.local_partition, 'earliest', NULL);
	IF broker._n_offset(to_node, topic, l, 'latest', NULL) = broker._n_offset(to_node, topic, l, 'earliest', NULL)
	   AND broker._n_offset(to_node, topic, l, 'latest', NULL) <= first THEN
		PERFORM broker._n_start_partition_at(to_node, topic, l, first);
	END IF;
	-- the bulk, while producers go on
	LOOP
		n := broker._copy_partition(topic, partition, batch);
		copied := copied + n;
		COMMIT;
		EXIT WHEN n < batch;
	END LOOP;
	-- the rest, with producers through the router paused on this topic
	PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('pgbroker_router.topic'), pg_catalog.hashtext(topic));
	copied := copied + broker._copy_partition(topic, partition, batch);
	FOR g IN SELECT x.consumer_group, x.committed_offset FROM broker._n_lag(loc.node) x
			  WHERE x.topic = move_partition.topic AND x.partition = loc.local_partition LOOP
		IF NOT EXISTS (SELECT FROM broker._n_lag(to_node) y
						WHERE y.topic = move_partition.topic AND y.consumer_group = g.consumer_group) THEN
			PERFORM broker._n_create_group(to_node, topic, g.consumer_group, 'earliest');
		END IF;
		PERFORM broker._n_seek(to_node, topic, g.consumer_group, g.committed_offset::text, l);
	END LOOP;
	PERFORM broker._finish_move(topic, partition);
	-- the retired partition hands nothing out any more: its groups at its end
	FOR g IN SELECT x.consumer_group FROM broker._n_lag(loc.node) x
			  WHERE x.topic = move_partition.topic AND x.partition = loc.local_partition LOOP
		PERFORM broker._n_seek(loc.node, topic, g.consumer_group, 'latest', loc.local_partition);
	END LOOP;
	COMMIT;
END
$$;

/* Moving partitions is the cluster administrator's (the owner's, superusers'). */
REVOKE ALL ON FUNCTION broker._stage_move(text, integer, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION broker._finish_move(text, integer) FROM PUBLIC;
REVOKE ALL ON PROCEDURE broker.move_partition(text, integer, integer, integer, bigint) FROM PUBLIC;
