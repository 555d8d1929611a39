/*
 * sql/src/structure/roles.sql - the schema broker, the roles, the check of names
 *
 * Every object of pgbroker lives in schema broker, which the extension
 * creates and owns.  Three roles divide the work: pgbroker_producer sends
 * and publishes, pgbroker_consumer consumes, pgbroker_admin administers
 * and is a member of the other two.  Which functions each may call is
 * listed once, in grants.sql.  Queues, topics and consumer groups check
 * the names users give them with the one function below.
 *
 * The tables, types and sequences: run once, by the fresh install, and
 * changed by a version step only through sql/upgrade/.  The functions and
 * views of this area are in sql/src/functions/, re-run by every step.
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
