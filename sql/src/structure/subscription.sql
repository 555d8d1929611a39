/*
 * sql/src/structure/subscription.sql - subscriptions: SQL functions that
 * pgbroker's own background workers call with the messages of a queue or
 * the records of a consumer group
 *
 * A subscription names a handler (a function of one argument: a message,
 * an array of messages, a record or an array of records), its source and
 * how it runs.  broker.subscription is its configuration, written by the
 * PL/pgSQL of subscription.sql (subscribe, alter_subscription,
 * unsubscribe) and dumped with the data, so that a restored database runs
 * its subscriptions again.  The other tables are what the workers
 * (subscription_worker.c) keep while they run, written by C only (the
 * PL/pgSQL deletes their rows with their subscription): counters, the
 * progress of each topic partition, and the records a topic subscription
 * gave up on.
 *
 * The tables, types and sequences: run once, by the fresh install, and
 * changed by a version step only through sql/upgrade/.
 */

CREATE SEQUENCE broker.subscription_id_seq AS integer;
CREATE TABLE broker.subscription (
	id				integer PRIMARY KEY DEFAULT pg_catalog.nextval('broker.subscription_id_seq'),
	name			text NOT NULL UNIQUE,
	queue_id		integer,
	topic_id		integer,
	consumer_group	text,
	handler			regprocedure NOT NULL,
	per_batch		boolean NOT NULL,
	owner			name NOT NULL,
	search_path		text NOT NULL,
	batch_size		integer NOT NULL CHECK (batch_size BETWEEN 1 AND 10000),
	concurrency		integer NOT NULL CHECK (concurrency BETWEEN 1 AND 64),
	timeout			interval NOT NULL,
	enabled			boolean NOT NULL DEFAULT true,
	max_attempts	integer NOT NULL CHECK (max_attempts >= 1),
	retry_base		interval NOT NULL,
	retry_max		interval NOT NULL,
	on_failure		text NOT NULL CHECK (on_failure IN ('stop', 'dead_letter')),
	created_at		timestamptz NOT NULL DEFAULT pg_catalog.now(),
	CHECK ((queue_id IS NULL) <> (topic_id IS NULL)),
	CHECK ((topic_id IS NULL) = (consumer_group IS NULL))
);
ALTER SEQUENCE broker.subscription_id_seq OWNED BY broker.subscription.id;
SELECT pg_catalog.pg_extension_config_dump('broker.subscription', '');
SELECT pg_catalog.pg_extension_config_dump('broker.subscription_id_seq', '');

/*
 * What each worker of a subscription did, flushed by the worker at most
 * every few seconds (never per batch), so that the rows do not bloat
 * under a transaction that holds back VACUUM.  Cumulative across restarts
 * of the worker; not dumped (a restored subscription starts from zero).
 */
CREATE TABLE broker.subscription_stats (
	subscription_id	integer NOT NULL,
	worker			integer NOT NULL,
	processed		bigint NOT NULL DEFAULT 0,
	failed			bigint NOT NULL DEFAULT 0,
	failing			boolean NOT NULL DEFAULT false,
	last_error		text,
	last_error_at	timestamptz,
	last_error_about text,
	last_batch_at	timestamptz,
	last_batch_ms	double precision,
	PRIMARY KEY (subscription_id, worker)
);

/*
 * Per topic subscription and partition: the offset whose delivery is
 * being attempted, how many deliveries of it began (counted and committed
 * before its handler runs, so that a handler that crashes the server is
 * counted too), when it may be tried again, and whether the partition is
 * stopped on it (on_failure = 'stop' after max_attempts).
 */
CREATE TABLE broker.subscription_partition (
	subscription_id	integer NOT NULL,
	partition		integer NOT NULL,
	offset_id		bigint NOT NULL,
	attempts		integer NOT NULL,
	retry_at		timestamptz,
	stopped			boolean NOT NULL DEFAULT false,
	last_error		text,
	error_at		timestamptz,
	PRIMARY KEY (subscription_id, partition)
);

/*
 * The records a topic subscription with on_failure = 'dead_letter' gave up
 * on after max_attempts, with the last error.  Dumped with the data.
 * broker.replay_subscription_dead_letters hands them to the handler again.
 */
CREATE SEQUENCE broker.subscription_dead_letter_id_seq;
CREATE TABLE broker.subscription_dead_letter (
	id				bigint PRIMARY KEY DEFAULT pg_catalog.nextval('broker.subscription_dead_letter_id_seq'),
	subscription	text NOT NULL,
	topic			text NOT NULL,
	consumer_group	text NOT NULL,
	partition		integer NOT NULL,
	offset_id		bigint NOT NULL,
	record			broker.record NOT NULL,
	error			text,
	attempts		integer NOT NULL,
	failed_at		timestamptz NOT NULL DEFAULT pg_catalog.now()
);
ALTER SEQUENCE broker.subscription_dead_letter_id_seq OWNED BY broker.subscription_dead_letter.id;
SELECT pg_catalog.pg_extension_config_dump('broker.subscription_dead_letter', '');
SELECT pg_catalog.pg_extension_config_dump('broker.subscription_dead_letter_id_seq', '');
