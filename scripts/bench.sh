#!/usr/bin/env bash
# scripts/bench.sh - set up, start a throwaway PostgreSQL with durable
# settings (fsync on, synchronous_commit on) and run the queue benchmark.
# Arguments go to pgbroker_bench (e.g. --seconds 10 --rounds 3 --held-xmin).
set -euo pipefail
cd "$(dirname "$0")/.."
# --shared-buffers SIZE (taken here, not passed on): the cluster's
# shared_buffers instead of 256MB, e.g. 4GB for a working set that fits.
shared_buffers=256MB
args=()
while [ $# -gt 0 ]; do
	case $1 in
		--shared-buffers) shared_buffers=$2; shift 2 ;;
		*) args+=("$1"); shift ;;
	esac
done
bash scripts/setup.sh
. scripts/cluster.sh
pgbroker_cluster_start "max_wal_size = 4GB" "checkpoint_timeout = 30min" \
	"shared_buffers = $shared_buffers"
psql -X -q -c "SELECT version()" -t -c "SHOW shared_buffers"
test/tools/pgbroker_bench "${args[@]}"
