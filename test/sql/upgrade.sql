-- upgrade: install 0.1.0, fill it, update to the current version; data and
-- behaviour survive, and the result has the same objects as a fresh install
SET client_min_messages = warning;
DROP EXTENSION pgbroker CASCADE;
CREATE EXTENSION pgbroker VERSION '0.1.0';
SELECT extversion FROM pg_extension WHERE extname = 'pgbroker';
SELECT broker.create_queue('before_upgrade');
SELECT broker.send('before_upgrade', jsonb_build_object('n', i)) > 0 FROM generate_series(1, 3) i;
SELECT payload FROM broker.claim('before_upgrade', 1, lease => '1 hour');

ALTER EXTENSION pgbroker UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'pgbroker';
SELECT queue, messages, leased FROM broker.queues;
SELECT payload FROM broker.claim('before_upgrade', 10);
SELECT broker.create_topic('after_upgrade', 2);
SELECT broker.publish('after_upgrade', '{"n": 1}', partition => 1);
SELECT partition, offset_id, payload FROM broker.read('after_upgrade', 1, 0);

CREATE TEMP TABLE upgraded AS
SELECT pg_describe_object(classid, objid, objsubid) AS object
  FROM pg_depend WHERE refclassid = 'pg_extension'::regclass
   AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pgbroker');
CREATE TEMP TABLE upgraded_acl AS
SELECT p.oid::regprocedure::text AS fn, p.proacl::text AS acl, p.prosecdef, p.proconfig::text AS config
  FROM pg_proc p WHERE p.pronamespace = 'broker'::regnamespace;

DROP EXTENSION pgbroker CASCADE;
CREATE EXTENSION pgbroker;
-- objects only in one of the two
(SELECT object FROM upgraded
 EXCEPT SELECT pg_describe_object(classid, objid, objsubid) FROM pg_depend
  WHERE refclassid = 'pg_extension'::regclass
	AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pgbroker'))
UNION ALL
(SELECT pg_describe_object(classid, objid, objsubid) FROM pg_depend
  WHERE refclassid = 'pg_extension'::regclass
	AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pgbroker')
 EXCEPT SELECT object FROM upgraded);
-- functions whose privileges or settings differ
(SELECT * FROM upgraded_acl
 EXCEPT SELECT p.oid::regprocedure::text, p.proacl::text, p.prosecdef, p.proconfig::text
  FROM pg_proc p WHERE p.pronamespace = 'broker'::regnamespace);
SELECT count(*) > 60 AS many_objects FROM upgraded;
