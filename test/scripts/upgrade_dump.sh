#!/usr/bin/env bash
# test/scripts/upgrade_dump.sh - an installation upgraded from any released
# version is the same, object for object and byte for byte, as a fresh
# installation of the current version.
#
# For each released version V, database "from_V" gets CREATE EXTENSION
# pgbroker VERSION 'V' and ALTER EXTENSION pgbroker UPDATE; database
# "fresh" gets CREATE EXTENSION pgbroker.  Of each, the script takes:
#   - the extension's row: version, schema, and its configuration tables
#     (extconfig, named, in order) with their dump conditions;
#   - the list of its member objects;
#   - the privileges of every function, relation, type and of the schema as
#     stored (an explicit owner-only ACL and a NULL one dump alike);
#   - the initial privileges recorded for the members (pg_init_privs);
#   - pg_dump --schema-only: function bodies, languages, settings and
#     attributes, columns and their order, defaults, constraints, indexes,
#     views, sequences, comments and grants.
# pg_dump leaves out the members of an extension, and reports their
# privileges only where they differ from the initial ones, so before the
# dump each database (thrown away afterwards) forgets them: their
# pg_init_privs rows and their membership (pg_depend, deptype 'e') are
# deleted.  Then the two texts must be equal.
#
# Starts its own throwaway cluster; exits non-zero on any difference.  With
# PGBROKER_DUMP_DIR set, leaves the two texts there (fresh.txt,
# upgraded.txt) to compare with those of another build.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/cluster.sh
pgbroker_cluster_start
psql_q() { psql -X -q -v ON_ERROR_STOP=1 -At "$@"; }

work=$(mktemp -d /tmp/pgbroker_upgrade.XXXXXX)
trap 'rm -rf "$work"; pgbroker_cluster_stop' EXIT

released="0.1.0 0.2.0"
for v in $released; do
	createdb "from_$v"
	psql_q -d "from_$v" -c "SET client_min_messages = warning" \
		-c "CREATE EXTENSION pgbroker VERSION '$v'" \
		-c "ALTER EXTENSION pgbroker UPDATE"
done
createdb fresh
psql_q -d fresh -c "SET client_min_messages = warning" \
	-c "CREATE EXTENSION pgbroker"

# describe DB: what the extension created, then its schema dump
describe() {
	psql_q -d "$1" <<'SQL'
\echo == extension
SELECT e.extname, e.extversion, e.extrelocatable, n.nspname
  FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
 WHERE e.extname = 'pgbroker';
\echo == configuration tables, in order, with their conditions
SELECT c.ord, c.relid::regclass, coalesce(e.extcondition[c.ord], '<null>')
  FROM pg_extension e, unnest(e.extconfig) WITH ORDINALITY c(relid, ord)
 WHERE e.extname = 'pgbroker'
 ORDER BY c.ord;
\echo == members
SELECT pg_describe_object(d.classid, d.objid, d.objsubid)
  FROM pg_depend d
 WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pgbroker')
 ORDER BY 1;
\echo == privileges as stored
SELECT 'pg_namespace ' || n.nspname, coalesce(n.nspacl::text, '<null>')
  FROM pg_namespace n WHERE n.nspname = 'broker'
UNION ALL
SELECT 'pg_proc ' || p.prokind::text || ' ' || p.oid::regprocedure, coalesce(p.proacl::text, '<null>')
  FROM pg_proc p WHERE p.pronamespace = 'broker'::regnamespace
UNION ALL
SELECT 'pg_class ' || c.relkind::text || ' ' || c.oid::regclass, coalesce(c.relacl::text, '<null>')
  FROM pg_class c WHERE c.relnamespace = 'broker'::regnamespace
UNION ALL
SELECT 'pg_type ' || t.typtype::text || ' ' || t.oid::regtype, coalesce(t.typacl::text, '<null>')
  FROM pg_type t WHERE t.typnamespace = 'broker'::regnamespace
ORDER BY 1;
\echo == initial privileges of the members
SELECT pg_describe_object(i.classoid, i.objoid, i.objsubid), i.privtype, i.initprivs
  FROM pg_init_privs i
  JOIN pg_depend d ON d.classid = i.classoid AND d.objid = i.objoid
 WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pgbroker')
 ORDER BY 1, 2;
SQL
	# forget the members, so that pg_dump dumps them with their privileges
	psql_q -d "$1" <<'SQL'
DELETE FROM pg_init_privs i
 USING pg_depend d
 WHERE d.classid = i.classoid AND d.objid = i.objoid
   AND d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pgbroker');
DELETE FROM pg_depend d
 WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pgbroker');
SQL
	echo "== pg_dump --schema-only"
	# (\restrict and \unrestrict carry a key that is new at every dump)
	"$PG_BINDIR/pg_dump" --schema-only -d "$1" | grep -v '^\\\(un\)\?restrict '
}

describe fresh >"$work/fresh.txt"
for v in $released; do
	describe "from_$v" >"$work/from_$v.txt"
done
if [ -n "${PGBROKER_DUMP_DIR:-}" ]; then
	mkdir -p "$PGBROKER_DUMP_DIR"
	cp "$work"/*.txt "$PGBROKER_DUMP_DIR/"
fi

# the dump must have caught the extension's objects, or the comparison
# proves nothing
functions=$(grep -c '^CREATE FUNCTION broker\.' "$work/fresh.txt" || true)
if [ "$functions" -lt 60 ]; then
	echo "upgrade_dump: the dump of the fresh installation has only $functions functions of schema broker" >&2
	exit 1
fi
for v in $released; do
	if ! diff -u "$work/fresh.txt" "$work/from_$v.txt"; then
		echo "upgrade_dump: an installation upgraded from $v differs from a fresh one (- fresh, + upgraded)" >&2
		exit 1
	fi
done
echo "upgrade_dump: ok ($(wc -l <"$work/fresh.txt") lines, $functions functions, the same from $released and fresh)"
