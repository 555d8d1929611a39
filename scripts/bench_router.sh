#!/usr/bin/env bash
# scripts/bench_router.sh - topics through a pgbroker_router database
# (PL/Proxy) beside the same calls made on a node directly and beside the
# floor (plain INSERT on a plain table on a node), in the same run; then
# the cluster's throughput with 1, 2 and 4 data nodes.
#
#   scripts/bench_router.sh [--seconds N] [--clients N]
#
# Every node and the router are PostgreSQL clusters of their own on this
# machine (scripts/shard_cluster.sh), with durable settings: they share its
# cores and its disk, which a real cluster would not.  Workloads (pgbench,
# prepared statements): publish-1, one keyed record per call; publish-100,
# 100 keyed records per call; read-100, a read of 100 records.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=8
clients=4
while [ $# -gt 0 ]; do
	case $1 in
		--seconds) seconds=$2; shift 2 ;;
		--clients) clients=$2; shift 2 ;;
		*) echo "usage: $0 [--seconds N] [--clients N]" >&2; exit 1 ;;
	esac
done
bash scripts/setup.sh >/dev/null
. scripts/shard_cluster.sh
work=$(mktemp -d /tmp/pgbroker_router_bench.XXXXXX)
chmod 755 "$work"
trap 'rm -rf "$work"; shard_stop' EXIT

payload='{"p":"'$(head -c 92 /dev/zero | tr '\0' x)'"}'
arr="{$(for i in $(seq 1 100); do printf '%s"%s"' "$([ "$i" -gt 1 ] && echo ,)" "${payload//\"/\\\"}"; done)}"
keys="{$(seq -s, -f 'k%g' 1 100)}"

cat >"$work/publish-1.sql" <<EOF
\set k random(1, 1000000)
SELECT broker.publish('b', '$payload', key => 'k' || :k);
EOF
echo "SELECT broker.publish_batch('b', '$arr'::jsonb[], '$keys'::text[]);" >"$work/publish-100.sql"
cat >"$work/read-100.sql" <<EOF
\set o random(0, 5000)
SELECT count(*) FROM broker.read('b', 0, :o, 100);
EOF
echo "INSERT INTO floor (payload) VALUES ('$payload');" >"$work/floor-1.sql"
echo "INSERT INTO floor (payload) SELECT unnest('$arr'::jsonb[]);" >"$work/floor-100.sql"

rate() {	# rate NODE SCRIPT BATCH [CLIENTS]: records (or calls x batch) per second
	local out tps
	out=$(pgbench -n -M prepared -c "${4:-$clients}" -j "${4:-$clients}" -T "$seconds" -h "$SHARD_SOCK" \
		-p "$(shard_port "$1")" -U postgres -f "$work/$2" "$(shard_db "$1")" 2>&1) || { echo "$out" >&2; return 1; }
	tps=$(echo "$out" | sed -n 's/^tps = \([0-9.]*\).*/\1/p')
	awk -v t="$tps" -v b="$3" 'BEGIN { printf "%.0f", t * b }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

# --- the router's hop: one node, through the router and directly ------------------
shard_start 1 "max_wal_size = 4GB" "checkpoint_timeout = 30min"
shard_psql r -c "SELECT broker.create_topic('b', 4)" >/dev/null
shard_psql n0 -c "CREATE TABLE floor (id bigserial PRIMARY KEY, payload jsonb, created_at timestamptz DEFAULT now())"
echo "one node, $clients clients, ${seconds}s per run (records per second):"
printf '%-12s %10s %10s %10s %14s %14s\n' workload floor direct router "router/direct" "router/floor"
for w in 1 100; do
	f=$(rate n0 "floor-$w.sql" "$w")
	d=$(rate n0 "publish-$w.sql" "$w")
	t=$(rate r "publish-$w.sql" "$w")
	printf '%-12s %10s %10s %10s %14s %14s\n' "publish-$w" "$f" "$d" "$t" "$(ratio "$t" "$d")" "$(ratio "$t" "$f")"
done
d=$(rate n0 read-100.sql 100)
t=$(rate r read-100.sql 100)
printf '%-12s %10s %10s %10s %14s %14s\n' read-100 - "$d" "$t" "$(ratio "$t" "$d")" -
# the hop's latency, one client
for w in 1 100; do
	for n in n0 r; do
		lat=$(pgbench -n -M prepared -c 1 -j 1 -T 4 -h "$SHARD_SOCK" -p "$(shard_port "$n")" -U postgres \
			-f "$work/publish-$w.sql" "$(shard_db "$n")" 2>&1 | sed -n 's/^latency average = \([0-9.]*\) ms/\1/p')
		echo "  publish-$w, 1 client, $([ "$n" = r ] && echo router || echo direct): $lat ms per call"
	done
done
shard_stop

# --- 1, 2, 4 nodes behind the router ------------------------------------------------------
echo
echo "the cluster through its router, publish-100 keyed, $((clients * 2)) clients (records per second):"
for n in 1 2 4; do
	shard_start "$n" "max_wal_size = 4GB" "checkpoint_timeout = 30min"
	shard_psql r -c "SELECT broker.create_topic('b', 8)" >/dev/null
	echo "  $n node(s): $(rate r publish-100.sql 100 $((clients * 2)))"
	shard_stop
done
