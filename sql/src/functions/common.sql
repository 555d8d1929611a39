/*
 * sql/src/functions/common.sql - the check of names every area uses
 *
 * Every function, procedure and view of this area, written CREATE OR
 * REPLACE: run by the fresh install and again by every version step, so
 * that an upgraded installation ends with the same definitions (a step
 * drops first what changed its signature).  The tables are in
 * sql/src/structure/.
 */


/*
 * Raise 42602 unless name is a valid name of a kind of object ("queue",
 * "topic", "consumer group"): 1 to 200 bytes, no control characters.
 * Internal: granted to no one, called only by pgbroker's own functions.
 */
CREATE OR REPLACE FUNCTION broker._check_name(name text, kind text)
RETURNS void
AS 'MODULE_PATHNAME', 'pgbroker_check_name'
LANGUAGE C;
