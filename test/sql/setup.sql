-- setup: install pgbroker and look at what it created
CREATE EXTENSION pgbroker;
SELECT extversion FROM pg_extension WHERE extname = 'pgbroker';
SELECT nspname FROM pg_namespace WHERE nspname = 'broker';
SELECT rolname FROM pg_roles WHERE rolname LIKE 'pgbroker\_%' ORDER BY rolname;
-- the public API, with its argument types
SELECT p.proname, pg_get_function_identity_arguments(p.oid) AS args, p.prosecdef
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'broker' AND p.proname !~ '^_'
 ORDER BY 1, 2;
-- every SECURITY DEFINER function pins search_path, but the sends, which
-- pin it around the SQL they run (security.sql sends under a hostile one)
SELECT p.proname
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'broker' AND p.prosecdef
   AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) c WHERE c LIKE 'search_path=%')
 ORDER BY 1;

-- for the tests that follow: the SQLSTATE a statement fails with
CREATE FUNCTION public.sqlstate_of(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE stmt;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE;
END
$$;
