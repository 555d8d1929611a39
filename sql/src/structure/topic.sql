/*
 * sql/src/structure/topic.sql - topics: catalog and segments, administration, publishing
 * and reading, offsets, statistics
 *
 * A topic is a row of broker.topic with a number of partitions; its
 * records live in segment tables, listed in broker.segment, that
 * maintain_topics() (maintain.sql) creates ahead of need, rotates and
 * drops.  Publishing and reading are C; administration and the offset
 * lookups are PL/pgSQL.  Consumer groups are in group.sql; notifications
 * (alter_topic(name, notify)) in wait.sql.
 *
 * The tables, types and sequences: run once, by the fresh install, and
 * changed by a version step only through sql/upgrade/.  The functions and
 * views of this area are in sql/src/functions/, re-run by every step.
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
	notify			boolean NOT NULL DEFAULT false,
	max_message_size integer CHECK (max_message_size > 0)
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
