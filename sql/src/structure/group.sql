/*
 * sql/src/structure/group.sql - consumer groups of topics: catalog and state, creating
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
 * The tables, types and sequences: run once, by the fresh install, and
 * changed by a version step only through sql/upgrade/.  The functions and
 * views of this area are in sql/src/functions/, re-run by every step.
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
	owner			name,
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
