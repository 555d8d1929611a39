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
