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

echo
echo "== the command-line tool"
show() { echo "\$ $*"; eval "$@"; }
show "pgbroker create queue cli_demo"
show "printf '{\"to\": \"ann@example.com\"}\n{\"to\": \"bob@example.com\"}\n' | pgbroker send cli_demo"
show "pgbroker list queues"
show "pgbroker consume cli_demo"
show "pgbroker create topic cli_orders --partitions 2"
show "printf 'ann\t{\"total\": 12}\nbob\t{\"total\": 30}\nann\t{\"total\": 7}\n' | pgbroker publish cli_orders --key-separator \$'\\t'"
show "pgbroker tail cli_orders --group billing --from earliest"
show "pgbroker groups cli_orders"
