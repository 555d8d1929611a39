/*
 * sql/src/roles.sql - the schema broker, the roles, the check of names
 *
 * Every object of pgbroker lives in schema broker, which the extension
 * creates and owns.  Three roles divide the work: pgbroker_producer sends
 * and publishes, pgbroker_consumer consumes, pgbroker_admin administers
 * and is a member of the other two.  Which functions each may call is
 * listed once, in grants.sql.  Queues, topics and consumer groups check
 * the names users give them with the one function below.
 */

CREATE SCHEMA broker;
COMMENT ON SCHEMA broker IS 'pgbroker: durable work queues and topics';

/*
 * Roles.  Producing, consuming and administering are granted separately.
 * Roles are cluster-wide and outlive the extension; they are created only
 * if missing.
 */
DO $roles$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'pgbroker_producer') THEN
		CREATE ROLE pgbroker_producer NOLOGIN;
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'pgbroker_consumer') THEN
		CREATE ROLE pgbroker_consumer NOLOGIN;
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'pgbroker_admin') THEN
		CREATE ROLE pgbroker_admin NOLOGIN;
	END IF;
END
$roles$;

/* An administrator may do whatever producers and consumers may. */
GRANT pgbroker_producer, pgbroker_consumer TO pgbroker_admin;

/*
 * Raise 42602 unless name is a valid name of a kind of object ("queue",
 * "topic", "consumer group"): 1 to 200 bytes, no control characters.
 * Internal: granted to no one, called only by pgbroker's own functions.
 */
CREATE FUNCTION broker._check_name(name text, kind text)
RETURNS void
AS 'MODULE_PATHNAME', 'pgbroker_check_name'
LANGUAGE C;
