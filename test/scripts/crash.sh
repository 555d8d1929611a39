#!/usr/bin/env bash
# test/scripts/crash.sh - kill the server with SIGKILL while producers and
# consumers of queues, topics and consumer groups are at work, restart it,
# and check that crash recovery lost nothing that was committed, brought
# back nothing that was rolled back, and repeated no committed
# consumption.
#
# Starts its own throwaway cluster (fsync on, checkpoints every 30 s,
# pgbroker preloaded with its maintenance worker running every second) and
# runs test/tools/crash_test against it until told to stop.  Meanwhile it
# kills the postmaster N times at random moments, SIGSTOPping it first so
# that it forks nothing more: every other kill takes the postmaster alone
# (its children notice and exit by themselves, finishing what they were
# doing), the others every server process at once (transactions cut off at
# any point, COMMITs whose answer never leaves the server).  After each
# kill it waits for the old processes to be gone and starts the server on
# the same data directory; pg_ctl -w returns once crash recovery is done.
# After the last restart the driver gets SIGUSR1: it stops producing,
# drains everything and runs its checks (see crash_test.c).  Then the
# server log must show one crash recovery per kill, no process that
# crashed by itself (PANIC, assertion, "terminated by signal", an abnormal
# exit code, a crash-restart of the postmaster) and no error but leased
# commits refused with PB001; the maintenance worker must be back; and
# pg_amcheck must find every heap and B-tree index sound.
#
# What a SIGKILL cannot show: the loss of what the operating system had
# not yet written to disk (power failure).  The kernel keeps the page
# cache of the killed server, so this tests WAL replay and pgbroker's
# state after it, not fsync.
#
# usage: crash.sh [--kills N] [--seconds-between S] [--seed N]
#   --kills N            kills and restarts (default 3: about 40 s)
#   --seconds-between S  mean time between kills; each wait is S/2 to 3S/2
#                        (default 6)
#   --seed N             seeds the kill times and the driver (default random)
# Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/../.."

kills=3
between=6
seed=$((RANDOM % 100000))
usage() { echo "usage: $0 [--kills N] [--seconds-between S] [--seed N]" >&2; exit 1; }
while [ $# -gt 0 ]; do
	case $1 in
		--kills) [ $# -ge 2 ] || usage; kills=$2; shift 2 ;;
		--seconds-between) [ $# -ge 2 ] || usage; between=$2; shift 2 ;;
		--seed) [ $# -ge 2 ] || usage; seed=$2; shift 2 ;;
		*) usage ;;
	esac
done
[[ $kills =~ ^[0-9]+$ && $between =~ ^[1-9][0-9]*$ && $seed =~ ^[0-9]+$ ]] || usage
RANDOM=$seed

make -s -C test/tools crash_test >/dev/null
. scripts/cluster.sh
pgbroker_cluster_start "checkpoint_timeout = 30s" "log_line_prefix = '%m [%p] %b %e '" \
	"shared_preload_libraries = 'pgbroker'" "pgbroker.databases = 'postgres'" \
	"pgbroker.maintenance_interval = '1s'"
data=$PGBROKER_CLUSTER_DIR/data
log=$PGBROKER_CLUSTER_DIR/server.log
driver=
fail() {
	echo "crash: $*" >&2
	exit 1
}
cleanup() {
	if [ -n "$driver" ] && kill -0 "$driver" 2>/dev/null; then
		kill -KILL "$driver" 2>/dev/null || true
	fi
	pgbroker_cluster_stop
}
trap cleanup EXIT

psql -X -q -v ON_ERROR_STOP=1 -c "CREATE EXTENSION pgbroker"
echo "crash: seed $seed, $kills kills about ${between} s apart, cluster $PGBROKER_CLUSTER_DIR"
t0=$SECONDS
test/tools/crash_test --seconds 0 --seed "$seed" &
driver=$!
# wait for the driver's setup (its effects table) before the first kill
for _ in $(seq 1 100); do
	[ "$(psql -X -At -c "SELECT to_regclass('crash_effects') IS NOT NULL")" = t ] && break
	kill -0 "$driver" 2>/dev/null || fail "the driver ended during its setup"
	sleep 0.1
done

mode=$((RANDOM % 2))
for k in $(seq 1 "$kills"); do
	ms=$((between * (500 + RANDOM % 1001)))
	sleep "$((ms / 1000)).$(printf %03d $((ms % 1000)))"
	kill -0 "$driver" 2>/dev/null || fail "the driver ended before kill $k"
	if [ $(((k + mode) % 2)) = 0 ]; then what=all; else what=postmaster; fi
	t=$SECONDS
	pgbroker_cluster_kill $what || fail "kill $k failed"
	pgbroker_cluster_restart || fail "restart $k failed"
	echo "crash: kill $k of $kills ($what) at $((t - t0)) s; back after $((SECONDS - t)) s"
done

# a little work on the last server, then drain and check
sleep 3
kill -0 "$driver" 2>/dev/null || fail "the driver ended before the drain"
kill -USR1 "$driver"
rc=0
wait "$driver" || rc=$?
driver=
[ $rc -eq 0 ] || fail "the driver found a problem (exit status $rc); seed $seed"

# the log: one recovery per kill, no process that crashed by itself
bad=$(grep -E 'PANIC|TRAP:|terminated by signal|exited with exit code|terminating any other active server processes|all server processes terminated' "$log" || true)
[ -z "$bad" ] || fail "the server log shows a crash that was not ours:
$bad"
# no statement failed but leased commits refused with PB001, no session
# ended but by the postmaster's death or while the server was starting
bad=$(grep -E ' (ERROR|FATAL): ' "$log" | grep -vE ' (PB001 ERROR|57P01 FATAL|57P03 FATAL): ' || true)
[ -z "$bad" ] || fail "unexpected errors in the server log:
$(echo "$bad" | head -20)"
recoveries=$(grep -c 'was not properly shut down; automatic recovery in progress' "$log" || true)
[ "$recoveries" = "$kills" ] || fail "$recoveries crash recoveries in the server log, $kills kills"

# the maintenance worker came back after the last restart
[ "$(psql -X -At -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pgbroker maintenance'")" = 1 ] ||
	fail "no maintenance worker after the last restart"

# every heap and B-tree index sound
"$PG_BINDIR/pg_amcheck" --install-missing --heapallindexed --rootdescend -d postgres ||
	fail "pg_amcheck found corruption"

echo "crash: ok: $kills kills, $recoveries recoveries, pg_amcheck clean, $((SECONDS - t0)) s; seed $seed"
