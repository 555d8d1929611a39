-- setup: pgmq on pgbroker, created with pgbroker as a required extension
CREATE EXTENSION pgmq CASCADE;
SELECT extname, extversion FROM pg_extension WHERE extname IN ('pgbroker', 'pgmq') ORDER BY 1;
-- PGMQ's functions, with their argument names, types and results
SELECT p.proname, pg_get_function_arguments(p.oid) AS args, pg_get_function_result(p.oid) AS result
  FROM pg_proc p WHERE p.pronamespace = 'pgmq'::regnamespace AND p.proname !~ '^_'
 ORDER BY 1, 2;
-- the types PGMQ's clients read
SELECT t.typname, string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod), ', ' ORDER BY a.attnum)
  FROM pg_type t JOIN pg_attribute a ON a.attrelid = t.typrelid
 WHERE t.typnamespace = 'pgmq'::regnamespace AND t.typtype = 'c' AND a.attnum > 0
   AND t.typrelid IN (SELECT oid FROM pg_class WHERE relkind = 'c')
 GROUP BY 1 ORDER BY 1;
\d pgmq.meta
