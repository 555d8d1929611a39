/*
 * sql/upgrade/0.2.0--0.3.0.sql - from pgbroker 0.2.0 to 0.3.0
 *
 * What changes in the structure (tables, types, sequences), and what must
 * be dropped first because its signature changed.  The step then runs
 * every file of sql/src/functions/ and sql/src/grants.sql again, so that
 * an upgraded installation ends with the same functions, views and
 * privileges as a fresh one; test/scripts/upgrade_dump.sh compares the
 * two.
 */

/*
 * A queue or topic can have a message size limit of its own, below the
 * server's pgbroker.max_message_size; alter_queue and alter_topic take it.
 */
ALTER TABLE broker.queue ADD COLUMN max_message_size integer CHECK (max_message_size > 0);
ALTER TABLE broker.topic ADD COLUMN max_message_size integer CHECK (max_message_size > 0);
DROP FUNCTION broker.alter_queue(text, integer, interval, interval, interval, interval, interval,
								 text, bigint, text, boolean, boolean);
DROP FUNCTION broker.alter_topic(text, integer, interval, bigint, boolean, interval, bigint,
								 interval, interval, boolean, boolean, text[]);

/*
 * A consumer group belongs to the role that created it (acl.c): without
 * manage on the topic, only its owner's members use it.  Groups created
 * before have no owner, and every role that may consume the topic uses
 * them, as before.
 */
ALTER TABLE broker.consumer_group ADD COLUMN owner name;

/*
 * A transactional poll may name one partition (a subscription's workers
 * do); a leased poll, poll_wait and commit of what was handed out may name
 * a consumer instance's token (broker.join) instead of the session.
 */
DROP FUNCTION broker.poll(text, text, integer, interval, text, interval);
DROP PROCEDURE broker.poll_wait(text, text, integer, interval, text, interval, broker.record[]);
DROP FUNCTION broker.commit(text, text, text);

/*
 * A batch may name one partition per record (a router's share of a batch).
 */
DROP FUNCTION broker.publish_batch(text, jsonb[], text[], jsonb, integer);
DROP FUNCTION broker.publish_batch_bytes(text, bytea[], text[], jsonb, integer);

/*
 * A claim may filter on the payload (PGMQ's conditional read).
 */
DROP FUNCTION broker.claim(text, integer, interval, interval, jsonb);

/*
 * max_attempts has no upper bound (a PGMQ queue is read any number of
 * times); a message's history keeps its last 100 failures.
 */
ALTER TABLE broker.queue DROP CONSTRAINT queue_max_attempts_check;
ALTER TABLE broker.queue ADD CONSTRAINT queue_max_attempts_check CHECK (max_attempts >= 1);

/*
 * Subscriptions are new: their tables come from their structure source,
 * sql/src/structure/subscription.sql, which the build runs right after
 * this file.
 */

/*
 * Privileges per queue and topic (acl.c): every queue and topic gets its
 * ACL holder, owned by the extension's owner, and the roles that could use
 * it before keep what they could do: pgbroker_producer send,
 * pgbroker_consumer consume and browse.  (Cancelling, dead letters and
 * redrive now need manage, which only the owner and pgbroker_admin hold
 * until granted.)  Objects a step creates would become members of the
 * extension; the holders must not, so that pg_dump writes them with their
 * grants, as it writes those of queues created later.
 */
DO $holders$
DECLARE
	o record;
	holder text;
BEGIN
	FOR o IN SELECT 'queue' AS kind, q.id FROM broker.queue q
			 UNION ALL SELECT 'topic', t.id FROM broker.topic t ORDER BY 1, 2 LOOP
		holder := o.kind || '_' || o.id || '_acl';
		EXECUTE pg_catalog.format('CREATE VIEW broker.%I AS SELECT WHERE false', holder);
		EXECUTE pg_catalog.format('ALTER EXTENSION pgbroker DROP VIEW broker.%I', holder);
		EXECUTE pg_catalog.format('GRANT INSERT ON broker.%I TO pgbroker_producer', holder);
		EXECUTE pg_catalog.format('GRANT SELECT, UPDATE ON broker.%I TO pgbroker_consumer', holder);
	END LOOP;
END
$holders$;
