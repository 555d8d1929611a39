#!/usr/bin/env bash
# scripts/bench_metrics.sh - what reading the metrics costs at a backlog:
# QUEUES queues, one of them holding BIG messages and the others SMALL each,
# on a throwaway cluster that preloads pgbroker.  Times (pgbench, one
# client, ROUNDS runs each) of broker.queue_metrics, broker.metrics_text()
# (what a scrape runs) and broker.queue_stats of the big queue, beside the
# floor in the same run: PostgreSQL's own pg_stat_user_tables over the same
# tables, and count(*) of a plain table holding BIG rows (what a metric
# that counts would pay).  The share of a core a scrape every 5 s takes is
# the scrape's time divided by 5 s (one backend, not waiting on I/O: its
# CPU time is at most its wall time; the CPU column measures it).
#
#   bash scripts/bench_metrics.sh [--queues 1000] [--big 10000000] [--small 100] [--rounds 20]
set -euo pipefail
cd "$(dirname "$0")/.."
queues=1000 big=10000000 small=100 rounds=20
while [ $# -gt 0 ]; do
	case $1 in
		--queues) queues=$2; shift 2 ;;
		--big) big=$2; shift 2 ;;
		--small) small=$2; shift 2 ;;
		--rounds) rounds=$2; shift 2 ;;
		*) echo "usage: $0 [--queues N] [--big N] [--small N] [--rounds N]" >&2; exit 1 ;;
	esac
done
make -s install >/dev/null
. scripts/cluster.sh
pgbroker_cluster_start "shared_preload_libraries = 'pgbroker'" "max_wal_size = 8GB" \
	"checkpoint_timeout = 30min" "autovacuum = on" >/dev/null
q() { psql -X -qAt -v ON_ERROR_STOP=1 "$@"; }
q -c "CREATE EXTENSION pgbroker"

t0=$(date +%s)
q -c "SELECT count(broker.create_queue('bench_' || i)) FROM generate_series(1, $queues - 1) i" >/dev/null
q -c "SELECT broker.create_queue('bench_big')" >/dev/null
# the small queues: SMALL messages each, some claimed (leased), some delayed
echo "SELECT 'SELECT count(*) FROM broker.send_batch(''bench_' || i || ''', (SELECT array_agg(''{\"n\": 1}''::jsonb) FROM generate_series(1, $small)))' FROM generate_series(1, $queues - 1) i \\gexec" \
	| q >/dev/null
# the big queue, in batches of 10,000 (one transaction each); and the plain table
batches=$(( (big + 9999) / 10000 ))
echo "SELECT 'SELECT count(*) FROM broker.send_batch(''bench_big'', (SELECT array_agg(jsonb_build_object(''order'', g, ''amount'', g % 1000)) FROM generate_series(1, 10000) g))' FROM generate_series(1, $batches) \\gexec" \
	| q >/dev/null
q -c "CREATE TABLE plain_floor (id bigserial PRIMARY KEY, payload jsonb)" \
  -c "INSERT INTO plain_floor (payload) SELECT jsonb_build_object('order', g, 'amount', g % 1000) FROM generate_series(1, $big) g"
q -c "SELECT count(*) FROM broker.claim('bench_big', 1000, lease => '1 hour')" >/dev/null
q -c "SELECT count(broker.send('bench_big', '{}', delay => '1 hour')) FROM generate_series(1, 5000)" >/dev/null
q -c "VACUUM ANALYZE" >/dev/null
t1=$(date +%s)
echo "filled $queues queues ($big + $((queues - 1)) x $small messages) and the plain table in $((t1 - t0)) s"
echo "big queue: $(q -c "SELECT pg_size_pretty(pg_total_relation_size('broker.queue_' || id)) FROM broker.queue WHERE name = 'bench_big'"), plain table: $(q -c "SELECT pg_size_pretty(pg_total_relation_size('plain_floor'))")"

big_id=$(q -c "SELECT id FROM broker.queue WHERE name = 'bench_big'")
dir=$PGBROKER_CLUSTER_DIR
run() {	# run LABEL SQL: latency average and stddev over ROUNDS, and backend CPU per call
	local label=$1 sql=$2 out cpu0 cpu1 pid
	echo "$sql" >"$dir/stmt.sql"
	q -c "$sql" >/dev/null	# warm the caches and the plans
	out=$(pgbench -n -c 1 -t "$rounds" -f "$dir/stmt.sql" 2>&1)
	# CPU time of one backend running the statement ROUNDS times
	cpu=$(python3 - "$sql" "$rounds" <<'PY'
import os, sys, time, subprocess
sql, n = sys.argv[1], int(sys.argv[2])
p = subprocess.Popen(["psql", "-X", "-qAt"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
p.stdin.write("SELECT pg_backend_pid();\n"); p.stdin.flush()
pid = int(p.stdout.readline())
def ticks():
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(f[11]) + int(f[12])
t0 = ticks()
for _ in range(n):
    p.stdin.write(f"SELECT sum(length(x::text)) FROM ({sql}) x;\n")
p.stdin.write("SELECT 'done';\n"); p.stdin.flush()
while p.stdout.readline().strip() != "done":
    pass
t1 = ticks()
p.stdin.close(); p.wait()
print("%.1f" % ((t1 - t0) * 1000.0 / os.sysconf("SC_CLK_TCK") / n))
PY
)
	printf "%-46s %10s ms  (stddev %s ms)  CPU %6s ms/call\n" "$label" \
		"$(sed -n 's/^latency average = \([0-9.]*\) ms$/\1/p' <<<"$out")" \
		"$(sed -n 's/^latency stddev = \([0-9.]*\) ms$/\1/p' <<<"$out")" "$cpu"
}
echo
echo "statement (pgbench, 1 client, $rounds runs)                 latency"
run "broker.queue_metrics ($queues rows)" "SELECT * FROM broker.queue_metrics"
run "broker.metrics_text() (a scrape)" "SELECT broker.metrics_text()"
run "broker.queue_stats(big queue)" "SELECT * FROM broker.queue_stats($big_id)"
run "broker.queues ($queues rows)" "SELECT * FROM broker.queues"
run "part of it: pg_total_relation_size, every queue" "SELECT sum(pg_total_relation_size(('broker.queue_' || id)::regclass)) FROM broker.queue"
run "floor: pg_stat_user_tables, every table" "SELECT relname, n_live_tup, n_tup_ins, n_tup_del FROM pg_stat_user_tables"
run "floor: count(*) of a plain $big-row table" "SELECT count(*) FROM plain_floor"
# the web console's overview (every queue, topic and subscription), over HTTP
make -s -C console >/dev/null
cport=$((PGPORT + 50))
console/pgbroker-console --listen "127.0.0.1:$cport" --static-dir console/static \
	-h "$PGHOST" -p "$PGPORT" -d postgres >"$dir/console.log" 2>&1 &
cpid=$!
for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$cport/" && break; sleep 0.05; done
curl -s -o /dev/null "http://127.0.0.1:$cport/api/v1/overview"
times=$(for _ in $(seq 1 "$rounds"); do curl -s -o /dev/null -w '%{time_total}\n' "http://127.0.0.1:$cport/api/v1/overview"; done)
size=$(curl -s "http://127.0.0.1:$cport/api/v1/overview" | wc -c)
kill $cpid
printf "%-46s %10s ms  (max %s ms, %s bytes)\n" "console: GET /api/v1/overview over HTTP" \
	"$(awk '{s += $1} END {printf "%.3f", s / NR * 1000}' <<<"$times")" \
	"$(awk 'BEGIN {m = 0} {if ($1 > m) m = $1} END {printf "%.3f", m * 1000}' <<<"$times")" "$size"
echo
q -c "SELECT 'big queue as measured: messages ' || messages || ', ready ' || ready || ', delayed ' || delayed || ', leased ' || leased || ' (exact: ' || exact || '); true: 1000 leased, 5000 delayed' FROM broker.queue_metrics WHERE queue = 'bench_big'"
