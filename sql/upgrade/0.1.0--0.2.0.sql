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
