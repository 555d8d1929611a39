#!/usr/bin/env bash
# scripts/soak_failover.sh - the failover test, longer: 10 failovers (or
# as many as given) under load, with the crash driver's full audit at the
# end.  Takes about two minutes at the default.
#
#   bash scripts/soak_failover.sh [--failovers N] [--seconds-between S] [--seed N]
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || set -- --failovers 10
exec bash test/scripts/failover.sh "$@"
