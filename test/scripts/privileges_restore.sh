#!/usr/bin/env bash
# test/scripts/privileges_restore.sh - grants, owners and default
# privileges are restored to the same role names in another cluster, where
# those roles have other OIDs.
#
# Cluster A: roles, a queue and a topic owned by one role and granted to
# others, a consumer group owned by its creator, a default privilege;
# pg_dump -Fc.  Cluster B: the same role names created in another order
# after others (so every OID differs), pg_restore; then the grants, owners
# and defaults listed by name must be the same, the roles must be able to
# do what they were granted, and dropping a grantee must be refused.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/cluster.sh
psql_q() { psql -X -q -v ON_ERROR_STOP=1 -At "$@"; }
work=$(mktemp -d /tmp/pgbroker_privrestore.XXXXXX)
chmod 755 "$work"
trap 'pgbroker_cluster_stop; rm -rf "$work"' EXIT

describe() {
	psql_q -d app <<'SQL'
SELECT 'grant', kind, name, owner, grantee, privilege FROM broker.privileges ORDER BY 2, 3, 5::text, 6;
SELECT 'default', creator, grantee, privilege FROM broker.default_privileges ORDER BY 2::text, 3::text, 4;
SELECT 'group', g.name, g.owner FROM broker.consumer_group g ORDER BY 2;
SELECT 'may', r, p, broker.has_privilege(r::regrole, p, queue => 'orders')
  FROM unnest(ARRAY['team', 'web', 'worker']) r, unnest(ARRAY['send', 'consume', 'manage']) p ORDER BY 2, 3;
SQL
}

pgbroker_cluster_start >/dev/null
# (the extension creates its roles, which are the cluster's)
psql_q -c "SET client_min_messages = warning" -c "CREATE EXTENSION pgbroker"
psql_q -c "CREATE ROLE team LOGIN IN ROLE pgbroker_producer, pgbroker_consumer" \
	-c "CREATE ROLE web LOGIN IN ROLE pgbroker_producer" \
	-c "CREATE ROLE worker LOGIN IN ROLE pgbroker_consumer"
createdb app
psql_q -d app <<'SQL' >/dev/null
SET client_min_messages = warning;
CREATE EXTENSION pgbroker;
SELECT broker.grant('create', 'team');
SET ROLE team;
SELECT broker.grant_default('browse', 'worker');
SELECT broker.create_queue('orders'), broker.create_topic('events');
SELECT broker.grant('send', 'web', queue => 'orders'), broker.grant('consume', 'worker', queue => 'orders'),
       broker.grant('send', 'web', topic => 'events'), broker.grant('consume', 'worker', topic => 'events');
RESET ROLE;
SET ROLE worker;
SELECT count(*) FROM broker.poll('events', 'workers');
RESET ROLE;
SQL
before=$(describe)
oids_a=$(psql_q -c "SELECT string_agg(rolname || '=' || oid, ' ' ORDER BY rolname) FROM pg_roles WHERE rolname IN ('team', 'web', 'worker')")
"$PG_BINDIR/pg_dump" -Fc -d app -f "$work/app.dump"
pgbroker_cluster_stop

pgbroker_cluster_start >/dev/null
psql_q -c "SET client_min_messages = warning" -c "CREATE EXTENSION pgbroker"
psql_q -c "CREATE ROLE filler1" -c "CREATE ROLE filler2" -c "CREATE ROLE filler3" \
	-c "CREATE ROLE worker LOGIN IN ROLE pgbroker_consumer" \
	-c "CREATE ROLE web LOGIN IN ROLE pgbroker_producer" \
	-c "CREATE ROLE team LOGIN IN ROLE pgbroker_producer, pgbroker_consumer"
createdb app
"$PG_BINDIR/pg_restore" --exit-on-error -d app "$work/app.dump"
after=$(describe)
oids_b=$(psql_q -c "SELECT string_agg(rolname || '=' || oid, ' ' ORDER BY rolname) FROM pg_roles WHERE rolname IN ('team', 'web', 'worker')")

status=0
fail() { echo "privileges_restore: $*" >&2; status=1; }
[ "$oids_a" != "$oids_b" ] || fail "the roles have the same OIDs in both clusters ($oids_a): the test proves nothing"
if [ "$before" != "$after" ]; then
	fail "the grants, owners or defaults differ after the restore"
	diff <(echo "$before") <(echo "$after") || true
fi
# the restored grants work for the same names
psql_q -d app -c "SET ROLE web" -c "SELECT broker.send('orders', '{}') > 0" >/dev/null ||
	fail "web cannot send after the restore"
if psql_q -d app -c "SET ROLE web" -c "SELECT * FROM broker.claim('orders')" >/dev/null 2>&1; then
	fail "web can claim after the restore"
fi
psql_q -d app -c "SET ROLE worker" -c "SELECT count(*) FROM broker.claim('orders')" >/dev/null ||
	fail "worker cannot claim after the restore"
# a grantee cannot be dropped while it holds a grant
if psql_q -c "DROP ROLE web" >/dev/null 2>&1; then
	fail "a role holding grants was dropped"
fi
echo "$after"
echo "roles in A: $oids_a; in B: $oids_b"
[ $status -eq 0 ] && echo "privileges_restore: ok"
exit $status
