#!/usr/bin/env bash
# scripts/bench.sh - set up, start a throwaway PostgreSQL with durable
# settings (fsync on, synchronous_commit on) and run the queue benchmark.
# Arguments go to pgbroker_bench (e.g. --seconds 10 --rounds 3 --held-xmin).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. scripts/cluster.sh
pgbroker_cluster_start "max_wal_size = 4GB" "checkpoint_timeout = 30min"
psql -X -q -c "SELECT version()" -t
test/tools/pgbroker_bench "$@"
