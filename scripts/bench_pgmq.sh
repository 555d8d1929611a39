#!/usr/bin/env bash
# scripts/bench_pgmq.sh - PGMQ's usage on pgbroker's pgmq, beside the
# floor (plain SQL on a plain table) and pgbroker's native calls, in the
# same run; every figure also as a ratio to the floor.  With --pgmq-sql
# FILE (a real PGMQ install script, e.g. pgmq--1.5.1.sql), real PGMQ runs
# the same workloads in a database of its own in the same cluster.
#
#   scripts/bench_pgmq.sh [--seconds N] [--clients N] [--pgmq-sql FILE] [--no-held]
#
# Workloads (pgbench, prepared statements, durable settings):
#   send-1        one message per statement
#   send-100      100 messages per statement
#   read+delete   read 100 (vt 30 s), then delete them: two transactions
#   pop           one message taken per statement
# each clean, then again while another session holds a transaction (and
# its xid) open for the whole run (--no-held skips that).  Then
# read_with_poll latency: producers send 500 msg/s, 2 consumers wait in
# read_with_poll(max_poll_seconds 5) and record send-to-read latency.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=8
clients=4
pgmq_sql=
held=1
while [ $# -gt 0 ]; do
	case $1 in
		--seconds) seconds=$2; shift 2 ;;
		--clients) clients=$2; shift 2 ;;
		--pgmq-sql) pgmq_sql=$(realpath "$2"); shift 2 ;;
		--no-held) held=0; shift ;;
		*) echo "usage: $0 [--seconds N] [--clients N] [--pgmq-sql FILE] [--no-held]" >&2; exit 1 ;;
	esac
done
bash scripts/setup.sh >/dev/null
make -s install-pgmq >/dev/null
. scripts/cluster.sh
pgbroker_cluster_start "max_wal_size = 4GB" "checkpoint_timeout = 30min" "shared_buffers = 256MB"
work=$(mktemp -d /tmp/pgbroker_pgmq.XXXXXX)
chmod 755 "$work"
holder=
cleanup() {
	[ -n "$holder" ] && kill "$holder" 2>/dev/null
	rm -rf "$work"
	pgbroker_cluster_stop
}
trap cleanup EXIT
export PGOPTIONS="-c client_min_messages=warning"
q() { psql -X -qAt -v ON_ERROR_STOP=1 "$@"; }

systems="floor pgmq native"
q -c "CREATE EXTENSION pgmq CASCADE" \
  -c "CREATE TABLE floor (id bigserial PRIMARY KEY, payload jsonb, created_at timestamptz DEFAULT now())" \
  -c "SELECT pgmq.create('b')" >/dev/null
if [ -n "$pgmq_sql" ]; then
	createdb realpgmq
	# PGMQ 1.5.1's script installs without CREATE EXTENSION; its guard line is dropped
	grep -v '^\\echo' "$pgmq_sql" | q -d realpgmq >/dev/null
	q -d realpgmq -c "SELECT pgmq.create('b')" >/dev/null
	systems="floor pgmq native realpgmq"
fi
db_of() { [ "$1" = realpgmq ] && echo realpgmq || echo "$PGDATABASE"; }

payload='{"p":"'$(head -c 92 /dev/zero | tr '\0' x)'"}'
arr="{$(for i in $(seq 1 100); do printf '%s"%s"' "$([ "$i" -gt 1 ] && echo ,)" "${payload//\"/\\\"}"; done)}"

script() {	# script SYSTEM WORKLOAD: the pgbench script file
	local f="$work/$1-$2.sql"
	case "$1/$2" in
	floor/send-1) echo "INSERT INTO floor (payload) VALUES ('$payload');" ;;
	floor/send-100) echo "INSERT INTO floor (payload) SELECT unnest('$arr'::jsonb[]);" ;;
	floor/read+delete) printf '%s\n' \
		"SELECT coalesce(array_agg(id), '{}') AS ids FROM (SELECT id FROM floor ORDER BY id LIMIT 100 FOR UPDATE SKIP LOCKED) s \\gset" \
		"DELETE FROM floor WHERE id = ANY (:ids::bigint[]);" ;;
	floor/pop) echo "DELETE FROM floor WHERE id = (SELECT id FROM floor ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING *;" ;;
	pgmq/send-1|realpgmq/send-1) echo "SELECT * FROM pgmq.send('b', '$payload');" ;;
	pgmq/send-100|realpgmq/send-100) echo "SELECT count(*) FROM pgmq.send_batch('b', '$arr'::jsonb[]);" ;;
	pgmq/read+delete|realpgmq/read+delete) printf '%s\n' \
		"SELECT coalesce(array_agg(msg_id), '{}') AS ids FROM pgmq.read('b', 30, 100) \\gset" \
		"SELECT count(*) FROM pgmq.delete('b', :ids::bigint[]);" ;;
	pgmq/pop|realpgmq/pop) echo "SELECT * FROM pgmq.pop('b');" ;;
	native/send-1) echo "SELECT broker.send('b', '$payload');" ;;
	native/send-100) echo "SELECT count(*) FROM broker.send_batch('b', '$arr'::jsonb[]);" ;;
	native/read+delete) printf '%s\n' \
		"SELECT coalesce(array_agg(id), '{}') AS ids FROM broker.claim('b', 100, '30 seconds') \\gset" \
		"SELECT broker.ack('b', :ids::bigint[]);" ;;
	native/pop) echo "SELECT m.id FROM broker.claim('b', 1) m WHERE broker.ack('b', m.id, m.receipt);" ;;
	esac >"$f"
	echo "$f"
}
fill() {	# fill SYSTEM N: a backlog of N messages (and nothing else)
	local db; db=$(db_of "$1")
	case $1 in
	floor) q -c "TRUNCATE floor" -c "INSERT INTO floor (payload) SELECT '$payload' FROM generate_series(1, $2)" ;;
	native|pgmq|realpgmq) q -d "$db" -c "SELECT pgmq.purge_queue('b')" \
		-c "SELECT count(*) FROM (SELECT pgmq.send_batch('b', array_fill('$payload'::jsonb, ARRAY[10000])) FROM generate_series(1, $2 / 10000)) s" ;;
	esac >/dev/null
	q -d "$db" -c "VACUUM ANALYZE" -c "CHECKPOINT" >/dev/null
}
empty() {	# empty SYSTEM
	case $1 in
	floor) q -c "TRUNCATE floor" ;;
	native|pgmq) q -c "SELECT pgmq.purge_queue('b')" ;;
	realpgmq) q -d realpgmq -c "SELECT pgmq.purge_queue('b')" ;;
	esac >/dev/null
	q -d "$(db_of "$1")" -c "CHECKPOINT" >/dev/null
}
run() {	# run SYSTEM WORKLOAD BATCH: messages/s
	local out tps
	out=$(pgbench -n -M prepared -c "$clients" -j "$clients" -T "$seconds" \
		-f "$(script "$1" "$2")" "$(db_of "$1")" 2>&1) || { echo "$out" >&2; return 1; }
	tps=$(echo "$out" | sed -n 's/^tps = \([0-9.]*\).*/\1/p')
	if [ -n "${4:-}" ]; then	# a consume run: what it removed, per second
		awk -v n="$4" -v left="$(left "$1")" -v s="$seconds" 'BEGIN { printf "%.0f", (n - left) / s }'
	else
		awk -v t="$tps" -v b="$3" 'BEGIN { printf "%.0f", t * b }'
	fi
}
left() {	# left SYSTEM: messages left in the backlog
	case $1 in
	floor) q -c "SELECT count(*) FROM floor" ;;
	native|pgmq) q -c "SELECT count(*) FROM pgmq.q_b" ;;
	realpgmq) q -d realpgmq -c "SELECT count(*) FROM pgmq.q_b" ;;
	esac
}
hold() {	# a transaction with an xid, open until killed
	psql -X -q -d "$(db_of "$1")" -c "BEGIN" -c "SELECT txid_current()" -c "SELECT pg_sleep(3600)" >/dev/null 2>&1 &
	holder=$!
	sleep 0.5
}
unhold() { [ -n "$holder" ] && kill "$holder" 2>/dev/null; wait "$holder" 2>/dev/null || true; holder=; }

printf '%-22s' "workload"; for s in $systems; do printf '%12s' "$s"; done; printf '%12s %12s\n' "pgmq/floor" "pgmq/native"
bench_row() {	# bench_row WORKLOAD BATCH HELD
	local w=$1 b=$2 h=$3 s r n
	declare -A rate
	for s in $systems; do
		n=
		case $w in
		read+delete) n=$((seconds * 160000)) ;;
		pop) n=$((seconds * 12000)) ;;
		esac
		if [ -n "$n" ]; then fill "$s" "$n"; else empty "$s"; fi
		[ "$h" = 1 ] && hold "$s"
		rate[$s]=$(run "$s" "$w" "$b" "$n")
		unhold
	done
	printf '%-22s' "$w$([ "$h" = 1 ] && echo ' held')"
	for s in $systems; do printf '%12s' "${rate[$s]}"; done
	awk -v p="${rate[pgmq]}" -v f="${rate[floor]}" -v n="${rate[native]}" \
		'BEGIN { printf "%12.2f %12.2f\n", p / f, p / n }'
}
for h in 0 $([ "$held" = 1 ] && echo 1); do
	bench_row send-1 1 "$h"
	bench_row send-100 100 "$h"
	bench_row read+delete 100 "$h"
	bench_row pop 1 "$h"
done

# --- read_with_poll latency at 500 msg/s ---------------------------------------
latency() {	# latency SYSTEM: p50/p99/max ms of send-to-read at 500 msg/s
	local db; db=$(db_of "$1")
	q -d "$db" -c "SELECT pgmq.create('lat')" -c "DROP TABLE IF EXISTS lat_ms" -c "CREATE TABLE lat_ms (ms float8)" >/dev/null 2>&1
	echo "SELECT pgmq.send('lat', jsonb_build_object('t', extract(epoch FROM clock_timestamp())));" >"$work/lat-send.sql"
	cat >"$work/lat-read.sql" <<'EOF'
WITH r AS (SELECT msg_id, message, extract(epoch FROM clock_timestamp()) AS at FROM pgmq.read_with_poll('lat', 30, 1, 5, 100)),
     d AS (SELECT pgmq.delete('lat', r.msg_id) FROM r)
INSERT INTO lat_ms SELECT (r.at - (r.message->>'t')::float8) * 1000 FROM r, d;
EOF
	pgbench -n -c 2 -j 2 -T $((seconds + 2)) -f "$work/lat-read.sql" "$db" >/dev/null 2>&1 &
	local readers=$!
	sleep 1
	pgbench -n -c 2 -j 2 -R 500 -T "$seconds" -f "$work/lat-send.sql" "$db" >/dev/null 2>&1
	wait "$readers" || true
	q -d "$db" -c "SELECT count(*) || ' msgs, p50 ' || round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 2)
		|| ' ms, p99 ' || round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)::numeric, 2)
		|| ' ms, max ' || round(max(ms)::numeric, 2) || ' ms' FROM lat_ms"
}
echo
echo "read_with_poll, 500 msg/s, 2 consumers:"
echo "  pgmq (pgbroker): $(latency pgmq)"
[ -n "$pgmq_sql" ] && echo "  real PGMQ: $(latency realpgmq)"
exit 0
