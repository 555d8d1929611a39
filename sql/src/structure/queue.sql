/*
 * sql/src/structure/queue.sql - queues: catalog, administration, sending, claiming and
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
 * The tables, types and sequences: run once, by the fresh install, and
 * changed by a version step only through sql/upgrade/.  The functions and
 * views of this area are in sql/src/functions/, re-run by every step.
 */

/*
 * The queue catalog.  Each queue's messages live in a table of its own,
 * broker.queue_<id>, named by id so that user-supplied names never become
 * part of an identifier.  notify: whether a transaction that sends to the
 * queue signals LISTENing clients at commit (wait.sql).  It is the last
 * column, where the 0.1.0 to 0.2.0 step adds it.
 */
CREATE SEQUENCE broker.queue_id_seq AS integer;

CREATE TABLE broker.queue (
	id				integer PRIMARY KEY DEFAULT pg_catalog.nextval('broker.queue_id_seq'),
	name			text NOT NULL UNIQUE,
	max_attempts	integer NOT NULL CHECK (max_attempts >= 1),
	lease			interval NOT NULL CHECK (lease > '0'),
	dedup_window	interval NOT NULL DEFAULT '0' CHECK (dedup_window >= '0'),
	retry_base		interval NOT NULL DEFAULT '1 second' CHECK (retry_base >= '0'),
	retry_max		interval NOT NULL DEFAULT '1 hour' CHECK (retry_max >= retry_base),
	ttl				interval CHECK (ttl > '0'),
	ttl_action		text NOT NULL DEFAULT 'dead_letter' CHECK (ttl_action IN ('dead_letter', 'drop')),
	max_length		bigint CHECK (max_length > 0),
	overflow		text NOT NULL DEFAULT 'reject' CHECK (overflow IN ('reject', 'drop_oldest')),
	created_at		timestamptz NOT NULL DEFAULT pg_catalog.now(),
	notify			boolean NOT NULL DEFAULT false,
	max_message_size integer CHECK (max_message_size > 0)
);
ALTER SEQUENCE broker.queue_id_seq OWNED BY broker.queue.id;
SELECT pg_catalog.pg_extension_config_dump('broker.queue', '');
SELECT pg_catalog.pg_extension_config_dump('broker.queue_id_seq', '');

/* Messages that used up their attempts or expired, with their history. */
CREATE TABLE broker.dead_letter (
	queue_id		integer NOT NULL,
	id				bigint NOT NULL,
	payload			jsonb,
	payload_bytes	bytea,
	headers			jsonb NOT NULL,
	priority		integer NOT NULL,
	group_key		text,
	dedup_key		text,
	enqueued_at		timestamptz NOT NULL,
	attempts		integer NOT NULL,
	last_error		text,
	history			jsonb,
	reason			text NOT NULL,
	dead_at			timestamptz NOT NULL DEFAULT pg_catalog.now(),
	PRIMARY KEY (queue_id, id)
);
SELECT pg_catalog.pg_extension_config_dump('broker.dead_letter', '');

/*
 * Deduplication keys.  A row exists while its message is in the queue
 * (expires_at NULL) and, after an ack, until the queue's dedup window ends.
 */
CREATE TABLE broker.dedup (
	queue_id		integer NOT NULL,
	dedup_key		text NOT NULL,
	message_id		bigint NOT NULL,
	expires_at		timestamptz,
	PRIMARY KEY (queue_id, dedup_key)
);
SELECT pg_catalog.pg_extension_config_dump('broker.dedup', '');

/* What a claim hands out. */
CREATE TYPE broker.message AS (
	id				bigint,
	receipt			uuid,
	payload			jsonb,
	payload_bytes	bytea,
	headers			jsonb,
	attempt			integer,
	priority		integer,
	group_key		text,
	dedup_key		text,
	enqueued_at		timestamptz,
	lease_until		timestamptz
);
