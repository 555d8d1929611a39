#!/usr/bin/env bash
# scripts/wake_bench.sh - set up, then run the wakeup benchmark
# (test/tools/wake_bench) on throwaway clusters with durable settings: once
# without preloading pgbroker, once with pgbroker in
# shared_preload_libraries (its maintenance worker running every second).
# Arguments go to wake_bench (e.g. --only latency --seconds 20).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. scripts/cluster.sh
ulimit -n 8192 2>/dev/null || true
for preload in no yes; do
	extra=()
	if [ "$preload" = yes ]; then
		extra=("shared_preload_libraries = 'pgbroker'" "pgbroker.databases = 'postgres'"
			"pgbroker.maintenance_interval = '1s'")
	fi
	pgbroker_cluster_start "max_connections = 1100" "max_wal_size = 4GB" \
		"checkpoint_timeout = 30min" "${extra[@]}"
	echo "== pgbroker preloaded: $preload ($(psql -X -At -c "SHOW server_version"), max_connections $(psql -X -At -c "SHOW max_connections"), shared_buffers $(psql -X -At -c "SHOW shared_buffers"))"
	test/tools/wake_bench --postmaster-pid "$(head -1 "$PGBROKER_CLUSTER_DIR/data/postmaster.pid")" "$@"
	pgbroker_cluster_stop
done
