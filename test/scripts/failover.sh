#!/usr/bin/env bash
# test/scripts/failover.sh - losing the primary loses nothing: the crash
# driver (test/tools/crash_test: queue sends, topic publishes,
# transactional and leased queue consumers, transactional and leased group
# consumers, maintain()) runs against a primary and two synchronous hot
# standbys (scripts/replicas.sh) through a multi-host connection with
# target_session_attrs=read-write, while the primary is killed with
# SIGKILL, the most advanced standby promoted, the other made to follow it
# and the dead node rebuilt as a standby, FAILOVERS times.  The driver's
# audit then must find nothing acknowledged lost, nothing applied twice,
# offsets dense and group offsets that never went back.  Also checked:
# a consumer waiting on the old primary gets an error, not a hang; the
# maintenance worker runs on the primary only, and on the new one after a
# promotion.
#
#   bash test/scripts/failover.sh [--failovers N] [--seconds-between S] [--seed N]
#
# The default run (2 failovers) is part of scripts/test.sh; a soak is
# e.g. --failovers 10 (scripts/soak_failover.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."

failovers=2
between=5
seed=$((RANDOM % 100000))
usage() { echo "usage: $0 [--failovers N] [--seconds-between S] [--seed N]" >&2; exit 1; }
while [ $# -gt 0 ]; do
	case $1 in
		--failovers) [ $# -ge 2 ] || usage; failovers=$2; shift 2 ;;
		--seconds-between) [ $# -ge 2 ] || usage; between=$2; shift 2 ;;
		--seed) [ $# -ge 2 ] || usage; seed=$2; shift 2 ;;
		*) usage ;;
	esac
done
[[ $failovers =~ ^[1-9][0-9]*$ && $between =~ ^[1-9][0-9]*$ && $seed =~ ^[0-9]+$ ]] || usage
RANDOM=$seed

make -s -C test/tools crash_test >/dev/null
. scripts/replicas.sh
driver=
waiter=
fail() {
	echo "failover: $*" >&2
	exit 1
}
cleanup() {
	for p in $driver $waiter; do kill -KILL "$p" 2>/dev/null || true; done
	replicas_stop
}
replicas_start sync "shared_preload_libraries = 'pgbroker'" "pgbroker.databases = 'postgres'" \
	"pgbroker.maintenance_interval = '1s'" "checkpoint_timeout = 30s"
trap cleanup EXIT
t_start=$SECONDS

psql -X -q -v ON_ERROR_STOP=1 -c "CREATE EXTENSION pgbroker" -c "SELECT broker.create_queue('failover_waiters')" >/dev/null
maintenance_on() {	# maintenance_on NODE: the node's pgbroker maintenance workers
	replicas_psql "$1" -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pgbroker maintenance'"
}
for _ in $(seq 1 100); do [ "$(maintenance_on "$REPLICAS_PRIMARY")" = 1 ] && break; sleep 0.1; done
[ "$(maintenance_on "$REPLICAS_PRIMARY") $(maintenance_on n1) $(maintenance_on n2)" = "1 0 0" ] ||
	fail "the maintenance worker should run on the primary only"
echo "failover: seed $seed, $failovers failovers about ${between} s apart, nodes in $REPLICAS_DIR"

test/tools/crash_test --seconds 0 --seed "$seed" &
driver=$!
for _ in $(seq 1 100); do
	[ "$(psql -X -At -c "SELECT to_regclass('crash_effects') IS NOT NULL" 2>/dev/null)" = t ] && break
	kill -0 "$driver" 2>/dev/null || fail "the driver ended during its setup"
	sleep 0.1
done

downtimes=()
for f in $(seq 1 "$failovers"); do
	ms=$((between * (500 + RANDOM % 1001)))
	sleep "$((ms / 1000)).$(printf %03d $((ms % 1000)))"
	kill -0 "$driver" 2>/dev/null || fail "the driver ended before failover $f"
	# a consumer waiting on the primary when it dies
	old=$REPLICAS_PRIMARY
	replicas_psql "$old" -c "CALL broker.claim_wait('failover_waiters', 1, NULL, '1 hour', NULL, NULL)" \
		>/dev/null 2>"$REPLICAS_DIR/waiter.err" &
	waiter=$!
	sleep 0.3
	replicas_failover || fail "failover $f failed"
	for _ in $(seq 1 100); do kill -0 "$waiter" 2>/dev/null || break; sleep 0.1; done
	if kill -0 "$waiter" 2>/dev/null; then fail "a consumer waiting on the old primary still waits 10 s after its death"; fi
	wrc=0; wait "$waiter" || wrc=$?
	waiter=
	[ $wrc -ne 0 ] || fail "the waiting consumer on the old primary ended without an error"
	downtimes+=("$REPLICAS_DOWNTIME_MS")
	echo "failover: $f of $failovers: $old killed, $REPLICAS_PRIMARY promoted after ${REPLICAS_DOWNTIME_MS} ms, $old rebuilt as a standby"
	for _ in $(seq 1 100); do [ "$(maintenance_on "$REPLICAS_PRIMARY")" = 1 ] && break; sleep 0.1; done
	[ "$(maintenance_on "$REPLICAS_PRIMARY")" = 1 ] || fail "no maintenance worker on the new primary $REPLICAS_PRIMARY"
	for n in $(replicas_standbys); do
		[ "$(maintenance_on "$n")" = 0 ] || fail "a maintenance worker on standby $n"
	done
done

sleep 2
kill -0 "$driver" 2>/dev/null || fail "the driver ended before the drain"
kill -USR1 "$driver"
rc=0
wait "$driver" || rc=$?
driver=
[ $rc -eq 0 ] || fail "the driver found a problem (exit status $rc); seed $seed"

# standbys caught up: what they show is what the primary has
lsn=$(replicas_psql "$REPLICAS_PRIMARY" -c "SELECT pg_current_wal_lsn()")
for n in $(replicas_standbys); do
	for _ in $(seq 1 100); do
		[ "$(replicas_psql "$n" -c "SELECT pg_last_wal_replay_lsn() >= '$lsn'")" = t ] && break
		sleep 0.1
	done
	a=$(replicas_psql "$REPLICAS_PRIMARY" -c "SELECT sum(p.latest_offset) FROM broker.topic_partitions('crash_topic') p")
	b=$(replicas_psql "$n" -c "SELECT sum(p.latest_offset) FROM broker.topic_partitions('crash_topic') p")
	[ "$a" = "$b" ] || fail "standby $n shows end offsets $b, the primary $a"
done
# --- asynchronous replication, for the record: what a failover loses -------------
# The primary stops waiting for its standbys; a producer streams messages
# as fast as it can (batches of 500, one transaction each) until the
# primary is killed; the tool says how many it had acknowledged.  Those
# missing on the promoted standby are what asynchronous replication lost.
replicas_psql "$REPLICAS_PRIMARY" -c "ALTER SYSTEM SET synchronous_standby_names = ''" \
	-c "SELECT pg_reload_conf()" -c "SELECT broker.create_queue('async_loss')" >/dev/null
REPLICAS_MODE=async
single="host=$REPLICAS_SOCK port=$(replicas_port "$REPLICAS_PRIMARY") dbname=postgres user=postgres"
seq 1 100000000 | sed 's/.*/{"n": &}/' |
	PGTARGETSESSIONATTRS=any pgbroker -d "$single" send async_loss >/dev/null 2>"$REPLICAS_DIR/async.err" &
sender=$!
sleep 3
replicas_kill_primary || fail "async: kill"
wait $sender || true
replicas_promote || fail "async: promote"
acked=$(sed -n 's/.*: \([0-9]*\) messages\{0,1\} sent before the connection was lost.*/\1/p' "$REPLICAS_DIR/async.err")
[ -n "$acked" ] || fail "async: the sender did not say how many it sent: $(cat "$REPLICAS_DIR/async.err")"
qid=$(replicas_psql "$REPLICAS_PRIMARY" -c "SELECT id FROM broker.queue WHERE name = 'async_loss'")
present=$(replicas_psql "$REPLICAS_PRIMARY" -c "SELECT count(*) FROM broker.queue_$qid WHERE (payload->>'n')::bigint <= $acked")
echo "failover: asynchronous replication: $acked messages acknowledged before the primary was killed," \
	"$((acked - present)) of them missing on the promoted standby"

total=0; for d in "${downtimes[@]}"; do total=$((total + d)); done
echo "failover: ok: $failovers failovers under load, no acknowledged message or record lost or applied twice;" \
	"downtime per failover ${downtimes[*]} ms (mean $((total / ${#downtimes[@]})) ms); $((SECONDS - t_start)) s"
