#!/usr/bin/env bash
# scripts/bench_subscriptions.sh - set up, start a throwaway PostgreSQL with
# durable settings and track_commit_timestamp on, and run the subscription
# benchmark (test/tools/sub_bench: subscriptions against an external
# consumer and the floor, throughput and wakeup latency).  Arguments go to
# sub_bench (e.g. --messages 20000 --rounds 3 --rate 500 --seconds 10).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
make -s -C test/tools sub_bench
. scripts/cluster.sh
pgbroker_cluster_start "max_wal_size = 4GB" "checkpoint_timeout = 30min" \
	"track_commit_timestamp = on"
psql -X -q -At -c "SELECT version()"
test/tools/sub_bench "$@"
