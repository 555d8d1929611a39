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
SELECT p.oid::regprocedure::text AS fn, p.proacl::text AS acl, p.prosecdef, p.proconfig::text AS config,
       md5(pg_get_functiondef(p.oid)) AS definition
  FROM pg_proc p WHERE p.pronamespace = 'broker'::regnamespace;
-- the extension's tables, sequences, views and types: privileges, columns
CREATE VIEW pg_temp.members_rel AS
SELECT c.oid::regclass::text AS rel, c.relkind, c.relacl::text AS acl,
       (SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
                          || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
                          || coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), ''),
                          ', ' ORDER BY a.attnum)
          FROM pg_attribute a
          LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
         WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) AS columns,
       md5(pg_get_viewdef(c.oid)) AS view
  FROM pg_class c
  JOIN pg_depend dep ON (dep.classid = 'pg_class'::regclass AND dep.objid = c.oid)
                     OR (dep.classid = 'pg_type'::regclass AND dep.objid = c.reltype AND c.relkind = 'c')
 WHERE dep.refclassid = 'pg_extension'::regclass AND dep.deptype = 'e'
   AND dep.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pgbroker');
CREATE TEMP TABLE upgraded_rel AS SELECT * FROM pg_temp.members_rel;
-- the tables pg_dump dumps the rows of, in order, with their conditions
CREATE VIEW pg_temp.config AS
SELECT c.ord, c.relid::regclass::text AS rel, e.extcondition[c.ord] AS condition
  FROM pg_extension e, unnest(e.extconfig) WITH ORDINALITY c(relid, ord)
 WHERE e.extname = 'pgbroker';
CREATE TEMP TABLE upgraded_config AS SELECT * FROM pg_temp.config;

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
-- functions whose privileges, settings or definitions (body, language,
-- attributes) differ
(SELECT * FROM upgraded_acl
 EXCEPT SELECT p.oid::regprocedure::text, p.proacl::text, p.prosecdef, p.proconfig::text,
               md5(pg_get_functiondef(p.oid))
  FROM pg_proc p WHERE p.pronamespace = 'broker'::regnamespace);
-- tables, sequences, views and types whose privileges, columns or
-- definitions differ
(SELECT * FROM upgraded_rel EXCEPT SELECT * FROM pg_temp.members_rel)
UNION ALL
(SELECT * FROM pg_temp.members_rel EXCEPT SELECT * FROM upgraded_rel);
-- configuration tables that differ
(SELECT * FROM upgraded_config EXCEPT SELECT * FROM pg_temp.config)
UNION ALL
(SELECT * FROM pg_temp.config EXCEPT SELECT * FROM upgraded_config);
SELECT count(*) > 60 AS many_objects FROM upgraded;
SELECT count(*) > 10 AS many_relations, count(*) FILTER (WHERE acl IS NOT NULL) > 10 AS with_privileges
  FROM upgraded_rel;
SELECT count(*) AS config_tables FROM upgraded_config;
