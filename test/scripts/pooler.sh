#!/usr/bin/env bash
# test/scripts/pooler.sh - pgbroker behind a real PgBouncer in transaction
# pooling mode, used by the example workers of test/clients: Python
# (psycopg 3, prepare_threshold=None) and Node (node-postgres).
#
# A cluster of its own, and Debian's pgbouncer started in front of it
# (transaction mode, a pool of 8 server connections, on 127.0.0.1 and a
# private port, stopped at exit).  Two producers send messages and publish
# records, one directly and one through the pooler, while consumers handle
# them: two Python and one Node queue worker through the pooler (each call
# may land on another server connection), one Python queue worker directly,
# two Python transactional group consumers and two leased ones (with the
# token of broker.join, so that their position holds whatever server
# connection each call lands on) through the pooler.  Every
# message and record must be handled exactly once, nothing left behind.
#
# The C drivers of test/tools use prepared statements (PQprepare) and so
# run on direct connections; the workers here use unnamed statements only.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/cluster.sh
pgbroker_cluster_start
bouncer_dir=$PGBROKER_CLUSTER_DIR/pgbouncer
bouncer_port=$((40000 + RANDOM % 20000))
fail() {
	echo "pooler: $*" >&2
	[ -f "$bouncer_dir/pgbouncer.log" ] && tail -20 "$bouncer_dir/pgbouncer.log" >&2
	exit 1
}
stop_bouncer() {
	if [ -f "$bouncer_dir/pgbouncer.pid" ]; then
		kill "$(cat "$bouncer_dir/pgbouncer.pid")" 2>/dev/null || true
	fi
	pgbroker_cluster_stop
}
trap stop_bouncer EXIT

mkdir -p "$bouncer_dir"
cat >"$bouncer_dir/pgbouncer.ini" <<EOF
[databases]
postgres = host=$PGHOST port=$PGPORT dbname=postgres user=postgres

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $bouncer_port
unix_socket_dir =
auth_type = trust
auth_file = $bouncer_dir/users.txt
pool_mode = transaction
default_pool_size = 8
max_client_conn = 100
logfile = $bouncer_dir/pgbouncer.log
pidfile = $bouncer_dir/pgbouncer.pid
EOF
echo '"postgres" ""' >"$bouncer_dir/users.txt"
chown -R postgres: "$bouncer_dir"
pgbroker_as_pg pgbouncer -d "$bouncer_dir/pgbouncer.ini" || fail "pgbouncer did not start"
pooled="host=127.0.0.1 port=$bouncer_port dbname=postgres user=postgres"
direct="host=$PGHOST port=$PGPORT dbname=postgres user=postgres"
for _ in $(seq 1 50); do
	psql -X -At "$pooled" -c "SELECT 1" >/dev/null 2>&1 && break
	sleep 0.1
done
[ "$(psql -X -At "$pooled" -c "SELECT 1")" = 1 ] || fail "cannot connect through pgbouncer"

psql -X -q -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
CREATE EXTENSION pgbroker;
SELECT broker.create_queue('pq');
SELECT broker.create_topic('pt', partitions => 4);
SELECT broker.create_group('pt', 'pg', start => 'earliest');
SELECT broker.create_group('pt', 'pl', start => 'earliest');
CREATE TABLE handled (kind text, id bigint, by text, payload jsonb);
SQL

n=1500
produce() {	# produce CONNINFO FIRST: n/2 messages and records, 50 per transaction
	local conn=$1 first=$2 i
	for i in $(seq "$first" 50 $((first + n / 2 - 1))); do
		psql -X -q -v ON_ERROR_STOP=1 "$conn" -c "BEGIN;
			SELECT count(*) FROM broker.send_batch('pq', ARRAY(SELECT jsonb_build_object('n', g)
				FROM generate_series($i, $((i + 49))) g));
			SELECT broker.publish_batch('pt', ARRAY(SELECT jsonb_build_object('n', g)
				FROM generate_series($i, $((i + 49))) g), keys => ARRAY(SELECT (g % 7)::text
				FROM generate_series($i, $((i + 49))) g));
			COMMIT;" >/dev/null
		sleep 0.05
	done
}
t0=$SECONDS
pids=()
/usr/bin/python3 test/clients/worker.py "$pooled" queue pq py1 & pids+=($!)
/usr/bin/python3 test/clients/worker.py "$pooled" queue pq py2 & pids+=($!)
node test/clients/worker.js "postgresql://postgres@127.0.0.1:$bouncer_port/postgres" pq node1 & pids+=($!)
/usr/bin/python3 test/clients/worker.py "$direct" queue pq py_direct & pids+=($!)
/usr/bin/python3 test/clients/worker.py "$pooled" topic pt pg pyt1 & pids+=($!)
/usr/bin/python3 test/clients/worker.py "$pooled" topic pt pg pyt2 & pids+=($!)
/usr/bin/python3 test/clients/worker.py "$pooled" leased pt pl pyl1 & pids+=($!)
/usr/bin/python3 test/clients/worker.py "$pooled" leased pt pl pyl2 & pids+=($!)
produce "$direct" 1 &
p1=$!
produce "$pooled" $((n / 2 + 1)) &
p2=$!
wait $p1 || fail "the direct producer failed"
wait $p2 || fail "the pooled producer failed"
for p in "${pids[@]}"; do
	wait "$p" || fail "a worker failed"
done

q() { psql -X -At -c "$1"; }
got=$(q "SELECT count(*) FROM handled WHERE kind = 'q'")
[ "$got" = "$n" ] || fail "$got of $n messages handled"
[ "$(q "SELECT count(DISTINCT payload->>'n') FROM handled WHERE kind = 'q'")" = "$n" ] || fail "a message handled twice"
[ "$(q "SELECT count(*) FROM broker.peek('pq', 10)")" = 0 ] || fail "messages left in the queue"
got=$(q "SELECT count(*) FROM handled WHERE kind = 't'")
[ "$got" = "$n" ] || fail "$got of $n records handled"
[ "$(q "SELECT count(DISTINCT payload->>'n') FROM handled WHERE kind = 't'")" = "$n" ] || fail "a record handled twice"
[ "$(q "SELECT sum(lag) FROM broker.consumer_lag WHERE consumer_group = 'pg'")" = 0 ] || fail "the group has lag"
got=$(q "SELECT count(*) FROM handled WHERE kind = 'l'")
[ "$got" = "$n" ] || fail "$got of $n records handled by the leased consumers"
[ "$(q "SELECT count(DISTINCT payload->>'n') FROM handled WHERE kind = 'l'")" = "$n" ] || fail "a record handled twice by the leased consumers"
[ "$(q "SELECT sum(lag) FROM broker.consumer_lag WHERE consumer_group = 'pl'")" = 0 ] || fail "the leased group has lag"
q "SELECT by, count(*) FROM handled GROUP BY by ORDER BY by" | tr '\n' ' '
echo
echo "pooler: $n messages, and $n records in each of two groups (transactional, leased with tokens), through pgbouncer (transaction mode) and directly, in $((SECONDS - t0)) s"
