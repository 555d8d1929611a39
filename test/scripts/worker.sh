#!/usr/bin/env bash
# test/scripts/worker.sh - the maintenance workers: a cluster with pgbroker
# in shared_preload_libraries and three databases in pgbroker.databases:
# one where maintenance works, one where broker.maintain() fails every
# time, one without the extension.  Checks that maintenance runs on its
# own (a message past its ttl disappears without anyone calling
# maintain()), that the failing database logs its error and keeps its
# worker, that the other workers are unaffected, and that an out-of-range
# pgbroker.maintenance_interval is refused.
# Starts its own throwaway cluster; exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/cluster.sh
pgbroker_cluster_start "shared_preload_libraries = 'pgbroker'" \
	"pgbroker.databases = 'postgres, broken, plain'" \
	"pgbroker.maintenance_interval = '200ms'"
log=$PGBROKER_CLUSTER_DIR/server.log
psql_q() { psql -X -q -v ON_ERROR_STOP=1 -At "$@"; }
fail() { echo "worker test: $*" >&2; exit 1; }

createdb broken
createdb plain
psql_q -d broken -c "CREATE EXTENSION pgbroker" \
	-c "ALTER TABLE broker.queue RENAME TO queue_renamed"	# maintain() now fails
psql_q -c "CREATE EXTENSION pgbroker" \
	-c "SELECT broker.create_queue('expiring', ttl => '1 second', ttl_action => 'drop')" \
	-c "SELECT broker.send('expiring', '{}')" >/dev/null
qid=$(psql_q -c "SELECT id FROM broker.queue WHERE name = 'expiring'")
# the workers of databases that did not exist at start retry after 30 s;
# restart the server instead of waiting
pgbroker_as_pg "$PG_BINDIR/pg_ctl" -D "$PGBROKER_CLUSTER_DIR/data" -l "$log" -w -m fast restart >/dev/null

# the expired message goes without a call of maintain()
gone=
for _ in $(seq 1 50); do
	n=$(psql_q -c "SELECT count(*) FROM broker.queue_$qid")
	[ "$n" = 0 ] && { gone=1; break; }
	sleep 0.2
done
[ -n "$gone" ] || fail "the expired message is still there after 10 s"

# the broken database keeps failing, logs it, and its worker stays
sleep 1
errors=$(grep -c '"broker.queue" does not exist' "$log" || true)
[ "$errors" -ge 2 ] || fail "expected repeated maintenance errors in the log, found $errors"
workers=$(psql_q -c "SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_stat_activity
                     WHERE backend_type = 'pgbroker maintenance'")
[ "$workers" = "broken,plain,postgres" ] || fail "maintenance workers running: '$workers'"
grep -q 'terminated by signal' "$log" && fail "a process died: $(grep 'terminated by signal' "$log")"

# the healthy database is still maintained after the errors
psql_q -c "SELECT broker.send('expiring', '{}')" >/dev/null
sleep 2.5
n=$(psql_q -c "SELECT count(*) FROM broker.queue_$qid")
[ "$n" = 0 ] || fail "maintenance stopped in database postgres"

# settings out of range are refused with the bounds
out=$(psql -X -At -c "ALTER SYSTEM SET pgbroker.maintenance_interval = '10ms'" 2>&1 || true)
echo "$out" | grep -q 'outside the valid range' || fail "maintenance_interval 10ms accepted: $out"
out=$(psql -X -At -c "ALTER SYSTEM SET pgbroker.databases = 'a,,b'" 2>&1 || true)
echo "$out" | grep -qi 'invalid value' || fail "bad database list accepted: $out"

echo "worker test: maintenance ran on its own; $errors errors logged in database broken, all three workers alive"
