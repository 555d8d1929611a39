#!/usr/bin/env bash
# scripts/pgmq_upstream_tests.sh - run PGMQ's own regression and isolation
# tests, unchanged, against pgbroker's pgmq.
#
#   scripts/pgmq_upstream_tests.sh PGMQ-TEST-DIR [TEST...]
#
# PGMQ-TEST-DIR is pgmq-extension/test of a PGMQ checkout (sql/, expected/,
# specs/); the tests default to base and every spec.  A throwaway cluster
# with pgbroker created in the test database (PGMQ's tests run CREATE
# EXTENSION pgmq without CASCADE) and pg_partman installed, as PGMQ's CI
# has it.  Prints pg_regress's summary, then the differences that remain
# once PL/pgSQL CONTEXT lines (which quote PGMQ's internal code) are set
# aside.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || { echo "usage: $0 PGMQ-TEST-DIR [TEST...]" >&2; exit 1; }
src=$(realpath "$1"); shift
tests=("${@:-base}")
bash scripts/setup.sh >/dev/null
make -s install-pgmq >/dev/null
. scripts/cluster.sh
pgbroker_cluster_start
work=$(mktemp -d /tmp/pgmq_upstream.XXXXXX)
trap 'rm -rf "$work"; pgbroker_cluster_stop' EXIT
cp -r "$src"/. "$work"/
chmod -R a+rwX "$work"
pgxs=$(dirname "$(pg_config --pgxs)")/..
status=0
"$pgxs/test/regress/pg_regress" --inputdir="$work" --outputdir="$work" \
	--load-extension=pgbroker --dbname=pgmq_upstream "${tests[@]}" || status=$?
specs=()
for f in "$work"/specs/*.spec; do [ -e "$f" ] && specs+=("$(basename "$f" .spec)"); done
if [ ${#specs[@]} -gt 0 ]; then
	"$pgxs/test/isolation/pg_isolation_regress" --inputdir="$work" --outputdir="$work/iso" \
		--load-extension=pgbroker --dbname=pgmq_upstream_iso "${specs[@]}" || status=$?
fi
for d in "$work/regression.diffs" "$work/iso/regression.diffs"; do
	[ -s "$d" ] || continue
	echo "--- $d, without PL/pgSQL CONTEXT lines:"
	grep -E '^[-+]' "$d" | grep -vE '^(\+\+\+|---) ' |
		grep -vE '^[-+](CONTEXT:  )?(PL/pgSQL function|SQL statement ")' || echo "(none)"
done
exit $status
