#!/usr/bin/env bash
# test/scripts/subscription_workers.sh - the life of subscription workers
# around the server: worker slots running out (max_worker_processes), a
# clean restart with pgbroker preloaded (the maintenance worker starts
# them again), DROP DATABASE ... WITH (FORCE) and DROP EXTENSION.
#
# A cluster of its own: pgbroker preloaded, maintenance every second in
# database "subs", max_worker_processes = 5 (the logical replication
# launcher and the maintenance worker take two).
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/cluster.sh
pgbroker_cluster_start "shared_preload_libraries = 'pgbroker'" "pgbroker.databases = 'subs'" \
	"pgbroker.maintenance_interval = '1s'" "max_worker_processes = 5"
fail() {
	echo "subscription_workers: $*" >&2
	tail -20 "$PGBROKER_CLUSTER_DIR/server.log" >&2
	exit 1
}
q() { psql -X -At -v ON_ERROR_STOP=1 -d subs -c "$1"; }
# wait_for SECONDS SQL: until the query returns t
wait_for() {
	local end=$((SECONDS + $1))
	while [ $SECONDS -lt "$end" ]; do
		[ "$(psql -X -At -d subs -c "$2" 2>/dev/null)" = t ] && return 0
		sleep 0.2
	done
	return 1
}
workers() { echo "SELECT count(*) = $1 FROM pg_stat_activity WHERE application_name LIKE 'pgbroker subscription %'"; }

createdb subs
psql -X -q -v ON_ERROR_STOP=1 -d subs <<'SQL'
CREATE EXTENSION pgbroker;
CREATE TABLE sink (n int);
CREATE FUNCTION h(m broker.message) RETURNS void LANGUAGE sql AS
$$ INSERT INTO sink VALUES ((m.payload->>'n')::int) $$;
SELECT broker.create_queue('a');
SELECT broker.create_queue('b');
SQL

# three slots are left: a subscription of three workers takes them all
q "SELECT broker.subscribe('sa', 'h(broker.message)'::regprocedure, queue => 'a', concurrency => 3)" >/dev/null
wait_for 20 "$(workers 3)" || fail "the three workers of sa did not start"
# the next one gets no slot: a warning at its commit, state stopped
out=$(psql -X -At -d subs -c "SELECT broker.subscribe('sb', 'h(broker.message)'::regprocedure, queue => 'b')" 2>&1)
echo "$out" | grep -q "no background worker slot is free for worker 0 of subscription" ||
	fail "no warning when no slot was free: $out"
[ "$(q "SELECT state FROM broker.subscriptions WHERE name = 'sb'")" = stopped ] ||
	fail "sb is not shown as stopped"
# once slots free, the maintenance worker's maintain() starts it (the
# maintenance worker itself starts 30 s after the server did, since the
# database did not exist yet then)
q "SELECT broker.alter_subscription('sa', concurrency => 1)" >/dev/null
wait_for 45 "SELECT state = 'idle' AND workers = 1 FROM broker.subscriptions WHERE name = 'sb'" ||
	fail "sb did not start once slots were free"
q "SELECT broker.send('b', '{\"n\": 1}')" >/dev/null
wait_for 20 "SELECT count(*) = 1 FROM sink" || fail "sb handled nothing"
echo "subscription_workers: no free slot is reported, and the worker starts once one frees"

# a clean restart: the maintenance worker starts the workers again
pgbroker_as_pg "$PG_BINDIR/pg_ctl" -D "$PGBROKER_CLUSTER_DIR/data" -m fast -w stop >/dev/null
pgbroker_cluster_restart || fail "restart failed"
wait_for 30 "$(workers 2)" || fail "the workers did not come back after a restart"
q "SELECT broker.send('a', '{\"n\": 2}')" >/dev/null
wait_for 20 "SELECT count(*) = 2 FROM sink" || fail "nothing handled after the restart"
echo "subscription_workers: after a restart the maintenance worker started the subscriptions again"

# DROP EXTENSION stops them
out=$(q "DROP EXTENSION pgbroker CASCADE" 2>&1) || fail "DROP EXTENSION failed: $out"
wait_for 20 "$(workers 0)" || fail "workers still running after DROP EXTENSION"
echo "subscription_workers: DROP EXTENSION stopped the workers"

# DROP DATABASE WITH (FORCE) ends them, and nothing restarts them
q "CREATE EXTENSION pgbroker" >/dev/null
q "CREATE FUNCTION h(m broker.message) RETURNS void LANGUAGE sql AS \$\$ INSERT INTO sink VALUES (1) \$\$" >/dev/null
q "SELECT broker.create_queue('c')" >/dev/null
q "SELECT broker.subscribe('sc', 'h(broker.message)'::regprocedure, queue => 'c')" >/dev/null
wait_for 20 "$(workers 1)" || fail "sc did not start"
dropdb subs 2>/dev/null && fail "DROP DATABASE succeeded with a worker connected"
dropdb --force subs || fail "DROP DATABASE WITH (FORCE) failed"
sleep 3
n=$(psql -X -At -d postgres -c "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'pgbroker subscription %'")
[ "$n" = 0 ] || fail "$n workers after DROP DATABASE"
if grep -q 'database .* does not exist' "$PGBROKER_CLUSTER_DIR/server.log" &&
	[ "$(grep -c 'pgbroker subscription' "$PGBROKER_CLUSTER_DIR/server.log")" -gt 50 ]; then
	fail "a worker of the dropped database keeps being started"
fi
echo "subscription_workers: DROP DATABASE WITH (FORCE) ended them for good"
