#!/usr/bin/env bash
# scripts/bench_vs_pgbench.sh - check that `pgbroker bench` is not the
# bottleneck: the floor it reports (plain SQL on a plain table) against
# pgbench running the same statements with the same number of
# connections, on a throwaway cluster with durable settings.
#
# usage: scripts/bench_vs_pgbench.sh [--seconds N] [--clients N]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=10
clients=4
while [ $# -gt 0 ]; do
	case $1 in
		--seconds) seconds=$2; shift 2 ;;
		--clients) clients=$2; shift 2 ;;
		*) echo "usage: $0 [--seconds N] [--clients N]" >&2; exit 1 ;;
	esac
done
bash scripts/setup.sh
. scripts/cluster.sh
pgbroker_cluster_start "max_wal_size = 4GB" "checkpoint_timeout = 30min"
psql -X -q -c "CREATE EXTENSION pgbroker"
export PGOPTIONS="-c client_min_messages=warning"
work=$(mktemp -d /tmp/pgbroker_vs.XXXXXX)
trap 'rm -rf "$work"; pgbroker_cluster_stop' EXIT
chmod 755 "$work"

table="pgbroker_bench_floor"
create_table() {
	psql -X -q -c "DROP TABLE IF EXISTS $table" \
		-c "CREATE TABLE $table (id bigserial PRIMARY KEY, payload jsonb, created_at timestamptz DEFAULT now())"
}
payload='{"p":"'$(head -c 92 /dev/zero | tr '\0' x)'"}'	# 100 bytes, as pgbroker bench --size 100
floor_rate() {	# floor_rate PHASE BENCH-OPTIONS...: msgs/s of the floor in that phase
	local phase=$1; shift
	"$(pg_config --bindir)/pgbroker" bench --only-floor -T "$seconds" --json "$@" |
		tr '{' '\n' | grep "\"phase\": \"$phase\"" | sed 's/.*"msgs_per_s": \([0-9.]*\).*/\1/'
}
pgbench_rate() {	# pgbench_rate BATCH SCRIPT: messages/s (tps x batch)
	local tps
	tps=$(pgbench -n -M prepared -c "$clients" -j "$clients" -T "$seconds" -f "$2" 2>&1 |
		sed -n 's/^tps = \([0-9.]*\).*/\1/p')
	awk -v t="$tps" -v b="$1" 'BEGIN { printf "%.1f", t * b }' 
}

printf '%-12s %14s %14s %8s\n' workload "pgbroker bench" pgbench "ratio"
report() { awk -v w="$1" -v a="$2" -v b="$3" 'BEGIN { printf "%-12s %14.0f %14.0f %8.3f\n", w, a, b, a / b }'; }

# produce, one row per statement
create_table
a=$(floor_rate produce -P "$clients" -C 0 -b 1)
echo "INSERT INTO $table (payload) VALUES ('$payload'::jsonb);" >"$work/insert1.sql"
create_table
b=$(pgbench_rate 1 "$work/insert1.sql")
report produce-1 "$a" "$b"

# produce, 100 rows per statement
a=$(floor_rate produce -P "$clients" -C 0 -b 100)
arr="{$(for i in $(seq 1 100); do printf '%s"%s"' "$([ $i -gt 1 ] && echo ,)" "${payload//\"/\\\"}"; done)}"
echo "INSERT INTO $table (payload) SELECT pg_catalog.unnest('$arr'::jsonb[]);" >"$work/insert100.sql"
create_table
b=$(pgbench_rate 100 "$work/insert100.sql")
report produce-100 "$a" "$b"

# consume, 100 rows per statement, from a table filled beforehand
a=$(floor_rate consume -P "$clients" -C "$clients" -b 100)
create_table
psql -X -q -c "INSERT INTO $table (payload) SELECT '$payload'::jsonb FROM generate_series(1, 4000000)" \
	-c "VACUUM ANALYZE $table" -c "CHECKPOINT"
echo "DELETE FROM $table WHERE id IN (SELECT id FROM $table ORDER BY id LIMIT 100 FOR UPDATE SKIP LOCKED) RETURNING *;" >"$work/delete100.sql"
b=$(pgbench_rate 100 "$work/delete100.sql")
left=$(psql -X -At -c "SELECT count(*) FROM $table")
[ "$left" -gt 0 ] || echo "warning: pgbench emptied the table; raise the prefill" >&2
report consume-100 "$a" "$b"
