#!/usr/bin/env bash
# scripts/bench_replication.sh - what replication costs pgbroker's sends:
# single sends and batches of 100, with no standby, with two asynchronous
# standbys and with two synchronous ones (ANY 1, synchronous_commit = on),
# each beside the floor measured the same way in the same setting (plain
# INSERTs into a plain table with a jsonb column), so that every figure is
# also a ratio.  pgbench, CLIENTS clients, SECONDS seconds per figure.
#
#   bash scripts/bench_replication.sh [--clients 4] [--seconds 5]
set -euo pipefail
cd "$(dirname "$0")/.."
clients=4 seconds=5
while [ $# -gt 0 ]; do
	case $1 in
		--clients) clients=$2; shift 2 ;;
		--seconds) seconds=$2; shift 2 ;;
		*) echo "usage: $0 [--clients N] [--seconds N]" >&2; exit 1 ;;
	esac
done
make -s install >/dev/null
. scripts/replicas.sh
replicas_start async >/dev/null
dir=$REPLICAS_DIR
psql -X -q -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
CREATE EXTENSION pgbroker;
SELECT broker.create_queue('rb');
CREATE TABLE rb_floor (id bigserial PRIMARY KEY, payload jsonb NOT NULL, created timestamptz DEFAULT now());
SQL
echo "SELECT broker.send('rb', '{\"order\": 42, \"amount\": 9.5}');" >"$dir/send.sql"
echo "INSERT INTO rb_floor (payload) VALUES ('{\"order\": 42, \"amount\": 9.5}');" >"$dir/floor.sql"
echo "SELECT count(*) FROM broker.send_batch('rb', (SELECT array_agg(jsonb_build_object('order', g, 'amount', 9.5)) FROM generate_series(1, 100) g));" >"$dir/batch.sql"
echo "INSERT INTO rb_floor (payload) SELECT jsonb_build_object('order', g, 'amount', 9.5) FROM generate_series(1, 100) g;" >"$dir/floor_batch.sql"

tps() {	# tps SCRIPT: transactions per second
	PGTARGETSESSIONATTRS=read-write pgbench -n -c "$clients" -j "$clients" -T "$seconds" -f "$1" 2>&1 |
		sed -n 's/^tps = \([0-9.]*\) .*/\1/p'
}
measure() {	# measure LABEL
	local s f b fb
	s=$(tps "$dir/send.sql"); f=$(tps "$dir/floor.sql")
	b=$(tps "$dir/batch.sql"); fb=$(tps "$dir/floor_batch.sql")
	awk -v l="$1" -v s="$s" -v f="$f" -v b="$b" -v fb="$fb" 'BEGIN {
		printf "%-34s %9.0f %9.0f %6.2f   %9.0f %9.0f %6.2f\n", l, s, f, s / f, b * 100, fb * 100, b / fb }'
}
printf "%-34s %9s %9s %6s   %9s %9s %6s\n" "messages per second" "send" "floor" "ratio" "batch100" "floor" "ratio"

# no standby: both stopped, nothing waits for them
replicas_ctl n1 stop -m fast; replicas_ctl n2 stop -m fast
measure "no standby"
replicas_ctl n1 start; replicas_ctl n2 start
replicas_wait_streaming 2
measure "2 asynchronous standbys"
replicas_psql n0 -c "ALTER SYSTEM SET synchronous_standby_names = 'ANY 1 (n1, n2)'" -c "SELECT pg_reload_conf()" >/dev/null
sleep 0.5
measure "2 synchronous standbys (ANY 1)"
replicas_psql n0 -c "ALTER SYSTEM SET synchronous_commit = 'remote_apply'" -c "SELECT pg_reload_conf()" >/dev/null
sleep 0.5
measure "2 synchronous, remote_apply"
