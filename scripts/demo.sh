#!/usr/bin/env bash
# scripts/demo.sh - set up, build and install pgbroker, start a throwaway
# PostgreSQL with it, and run a produce/consume demo (scripts/demo.sql).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. scripts/cluster.sh
pgbroker_cluster_start
echo "pgbroker demo: throwaway PostgreSQL on socket $PGHOST, port $PGPORT"
psql -X -q -v ON_ERROR_STOP=1 -f scripts/demo.sql
