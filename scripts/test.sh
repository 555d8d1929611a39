#!/usr/bin/env bash
# scripts/test.sh - set up, build, install, and run every test suite of
# pgbroker against a throwaway PostgreSQL cluster.  Ends with a line
# "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)

bash scripts/setup.sh || { echo "0 passed, 1 failed"; exit 1; }
. scripts/cluster.sh

passed=0
failed=0
count() {	# count pg_regress result lines in a log
	local ok bad
	ok=$(grep -cE '^(ok|test|    ) .*\.\.\. ok|^ok [0-9]+ ' "$1" || true)
	bad=$(grep -cE '\.\.\. FAILED|^not ok [0-9]+ ' "$1" || true)
	passed=$((passed + ok))
	failed=$((failed + bad))
}
step() {	# step NAME COMMAND... : a suite that counts as one test
	local name=$1; shift
	if "$@"; then
		echo "ok - $name"; passed=$((passed + 1))
	else
		echo "not ok - $name"; failed=$((failed + 1))
	fi
}

pgbroker_cluster_start || { echo "0 passed, 1 failed"; exit 1; }

echo "== regression and isolation tests"
rm -rf output_regress output_iso
make -s -k installcheck >"$top/installcheck.log" 2>&1
cat installcheck.log | grep -E '\.\.\. |tests (passed|failed)|^ok|^not ok' || true
count installcheck.log
for f in output_regress/regression.diffs output_iso/regression.diffs; do
	[ -s "$f" ] && { echo "--- $f"; head -200 "$f"; }
done

echo "== stress: concurrent producers and consumers"
step "stress driver" test/tools/stress --producers 4 --consumers 4 --messages 20000
# the same with claims that always resume where they stopped, so that every
# message that goes back before a consumer's position (late commits, expired
# leases, rollbacks) must be found by the look from the head
step "stress driver, resuming claims" env PGOPTIONS="-c pgbroker.resume_threshold=0" \
	test/tools/stress --producers 4 --consumers 4 --messages 20000 --seed 7

echo "== stress: topic producers committing out of order, readers following offsets"
step "topic stress driver" test/tools/topic_stress --producers 6 --readers 3 --partitions 3 --records 20000
step "topic stress driver, one partition" test/tools/topic_stress --producers 8 --readers 2 --partitions 1 --records 8000 --seed 3

echo "== stress: consumer groups, transactional and leased, consumers killed mid-transaction"
step "group stress driver" test/tools/group_stress --seed 1

echo "== waiting consumers: wakeups, timeouts, cancels, snapshots, notifications"
step "wait driver" test/tools/wait_test

echo "== hostile input: every public function with random, boundary and wrong-typed arguments"
step "fuzz driver, as superuser and as the documented roles" bash test/scripts/fuzz.sh

echo "== resource limits: out of disk on a tmpfs tablespace, every function cancelled mid-call"
step "disk full and cancellation" bash test/scripts/limits.sh

echo "== maintenance workers (a cluster of their own, with pgbroker preloaded)"
step "maintenance workers" bash test/scripts/worker.sh

echo "== crash: the server killed with SIGKILL under load and restarted (a cluster of its own)"
step "crash recovery" bash test/scripts/crash.sh

echo "== replication: a primary and two synchronous hot standbys (clusters of their own)"
step "failover: the primary killed twice under load, nothing acknowledged lost or applied twice" bash test/scripts/failover.sh
step "hot standby: every read path works, every write path fails at once with 25006" bash test/scripts/standby.sh

echo "== subscriptions: handlers run by pgbroker's workers through server crashes and killed workers"
step "subscriptions exactly once, in order, poison messages counted across crashes" bash test/scripts/subscription_crash.sh
step "subscription workers: no free slot, restart, DROP EXTENSION, DROP DATABASE WITH (FORCE)" bash test/scripts/subscription_workers.sh

echo "== clients: Python (psycopg) and Node (node-postgres) workers behind PgBouncer in transaction mode"
step "example workers through pgbouncer and directly, exactly once" bash test/scripts/pooler.sh

echo "== metrics: counters, promtool, the alerting rules, postgres_exporter (a cluster of its own, pgbroker preloaded)"
step "metrics exact after rollbacks and crashes; exposition, rules and exporter checked by the real programs" bash test/scripts/metrics.sh

# topics over two data nodes through a PL/Proxy router (router/)
step "router: topics over two nodes through PL/Proxy, groups, fencing, a node down and killed, stress driver" bash test/scripts/router.sh
step "router: 2 nodes grown to 4 under producers, records, offsets and groups moved" bash test/scripts/router_grow.sh

# PGMQ's SQL API on pgbroker (pgmq/), with PGMQ's JavaScript client and the migration
step "pgmq: installation guard, regression and isolation suites, pgmq-js, migration from PGMQ's layout" bash test/scripts/pgmq.sh

echo "== the web console: JSON API, cross-site and read-only refusals, privileges, basic auth, headless chromium"
step "pgbroker-console against the views, and its page in a real browser" bash test/scripts/console.sh

echo "== the command-line tool"
step "pgbroker send/consume/publish/tail/groups/stats/bench/subscriptions" bash test/scripts/cli.sh

echo "== dump and restore"
step "pg_dump/pg_restore and plain dump round trip" bash test/scripts/dump_restore.sh
step "upgrade from 0.1.0 and 0.2.0: pg_dump --schema-only and privileges the same as a fresh install" bash test/scripts/upgrade_dump.sh
step "grants, owners and default privileges restored to the same role names in another cluster" bash test/scripts/privileges_restore.sh

echo "== physical backup"
step "pg_basebackup -X stream, started as a server of its own" bash test/scripts/basebackup.sh

pgbroker_cluster_stop

echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
