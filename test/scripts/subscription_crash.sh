#!/usr/bin/env bash
# test/scripts/subscription_crash.sh - subscriptions under load, through
# server crashes and killed workers: every committed message and record is
# handled exactly once, nothing rolled back is handled, a topic's
# partitions are handled in offset order, and a message whose handler
# crashes the server is counted and dead-lettered after max_attempts
# without taking its neighbours with it.
#
# Starts its own throwaway cluster with pgbroker preloaded and its
# maintenance worker running every second (which restarts subscription
# workers after a crash or a termination).  Two producers send to a queue
# and publish to a topic in transactions that also record what they sent
# (one in seven rolls back); two subscriptions (a per-message queue handler
# and a batch topic handler, two workers each) write one row per message or
# record.  Meanwhile the server is killed with SIGKILL and the subscription
# workers are terminated, in turns.  Then the producers stop, the
# subscriptions drain, and the rows are compared with what was sent.
#
# Then the poison phase: a batch of ten messages of which one makes its
# handler sleep; each time a worker is seen handling it, the worker is
# killed with SIGKILL (the postmaster treats that as a crash and restarts
# every process).  After max_attempts (3) crashes the message must be in
# the dead letters and the nine others handled once each.
#
# usage: subscription_crash.sh [--rounds N] [--seed N]
set -euo pipefail
cd "$(dirname "$0")/../.."

rounds=4
seed=$((RANDOM % 100000))
while [ $# -gt 0 ]; do
	case $1 in
		--rounds) rounds=$2; shift 2 ;;
		--seed) seed=$2; shift 2 ;;
		*) echo "usage: $0 [--rounds N] [--seed N]" >&2; exit 1 ;;
	esac
done
RANDOM=$seed

. scripts/cluster.sh
pgbroker_cluster_start "log_line_prefix = '%m [%p] %b '" \
	"shared_preload_libraries = 'pgbroker'" "pgbroker.databases = 'postgres'" \
	"pgbroker.maintenance_interval = '1s'"
stopfile=$PGBROKER_CLUSTER_DIR/stop
producers=()
fail() {
	echo "subscription_crash: $*" >&2
	exit 1
}
cleanup() {
	touch "$stopfile" 2>/dev/null || true
	for p in "${producers[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	pgbroker_cluster_stop
}
trap cleanup EXIT

q() { psql -X -At -v ON_ERROR_STOP=1 -c "$1"; }

# wait_for SECONDS SQL: until the query returns t
wait_for() {
	local end=$((SECONDS + $1))
	while [ $SECONDS -lt "$end" ]; do
		[ "$(psql -X -At -c "$2" 2>/dev/null)" = t ] && return 0
		sleep 0.2
	done
	return 1
}

psql -X -q -v ON_ERROR_STOP=1 <<'SQL'
CREATE EXTENSION pgbroker;
CREATE TABLE sent (n bigint PRIMARY KEY);
CREATE TABLE sink (id bigserial PRIMARY KEY, n bigint NOT NULL, msg bigint NOT NULL);
CREATE TABLE tsent (n bigint PRIMARY KEY);
CREATE TABLE tsink (id bigserial PRIMARY KEY, n bigint NOT NULL, p int NOT NULL, o bigint NOT NULL);
CREATE FUNCTION qh(m broker.message) RETURNS void LANGUAGE sql AS
$$ INSERT INTO sink (n, msg) VALUES ((m.payload->>'n')::bigint, m.id) $$;
CREATE FUNCTION th(rs broker.record[]) RETURNS void LANGUAGE sql AS
$$ INSERT INTO tsink (n, p, o) SELECT (r.payload->>'n')::bigint, r.partition, r.offset_id
	 FROM unnest(rs) WITH ORDINALITY AS r(partition, offset_id, key, payload, payload_bytes, headers, published_at, i)
	ORDER BY i $$;
SELECT broker.create_queue('cq', max_attempts => 1000);
SELECT broker.create_topic('ct', partitions => 4);
SELECT broker.subscribe('qs', 'qh(broker.message)'::regprocedure, queue => 'cq', batch_size => 10,
						concurrency => 2, timeout => '5 s');
SELECT broker.subscribe('ts', 'th(broker.record[])'::regprocedure, topic => 'ct', consumer_group => 'tg',
						batch_size => 20, concurrency => 2, timeout => '5 s', max_attempts => 1000);
SQL

# producer ID: transactions of one send and one publish, one in seven rolled back
producer() {
	local id=$1 i=0 base sql
	while [ ! -e "$stopfile" ]; do
		sql=""
		for _ in $(seq 1 20); do
			i=$((i + 1))
			base=$((id * 1000000000 + i))
			if [ $((i % 7)) = 0 ]; then end=ROLLBACK; else end=COMMIT; fi
			sql+="BEGIN; SELECT broker.send('cq', '{\"n\": $base}'); INSERT INTO sent VALUES ($base);"
			sql+=" SELECT broker.publish('ct', '{\"n\": $base}', key => '$((base % 13))'); INSERT INTO tsent VALUES ($base); $end;"
		done
		psql -X -q -c "$sql" >/dev/null 2>&1 || sleep 0.2
	done
}
producer 1 & producers+=($!)
producer 2 & producers+=($!)

echo "subscription_crash: seed $seed, $rounds rounds, cluster $PGBROKER_CLUSTER_DIR"
for r in $(seq 1 "$rounds"); do
	sleep "$((2 + RANDOM % 3)).$((RANDOM % 10))"
	if [ $((r % 2)) = 1 ]; then
		pgbroker_cluster_kill all || fail "kill failed"
		pgbroker_cluster_restart || fail "restart failed"
		echo "subscription_crash: round $r: server killed and restarted"
	else
		n=$(q "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
				WHERE application_name LIKE 'pgbroker subscription %'")
		echo "subscription_crash: round $r: $n subscription workers terminated"
	fi
	wait_for 30 "SELECT count(*) = 4 FROM pg_stat_activity WHERE application_name LIKE 'pgbroker subscription %'" ||
		fail "round $r: the subscription workers did not come back"
done
touch "$stopfile"
for p in "${producers[@]}"; do wait "$p" || true; done

sent=$(q "SELECT count(*) FROM sent")
tsent=$(q "SELECT count(*) FROM tsent")
[ "$sent" -gt 100 ] || fail "only $sent messages sent"
wait_for 120 "SELECT (SELECT count(*) FROM sink) >= $sent AND (SELECT count(*) FROM tsink) >= $tsent" ||
	fail "not drained: $(q "SELECT count(*) FROM sink") of $sent messages, $(q "SELECT count(*) FROM tsink") of $tsent records"
sleep 1
check() {	# check WHAT SQL: the query must return 0
	local got
	got=$(q "$2")
	[ "$got" = 0 ] || fail "$1: $got"
}
check "messages handled twice" "SELECT count(*) FROM (SELECT n FROM sink GROUP BY n HAVING count(*) > 1) d"
check "committed messages not handled" "SELECT count(*) FROM sent s WHERE NOT EXISTS (SELECT 1 FROM sink k WHERE k.n = s.n)"
check "handled messages never committed" "SELECT count(*) FROM sink k WHERE NOT EXISTS (SELECT 1 FROM sent s WHERE s.n = k.n)"
check "records handled twice" "SELECT count(*) FROM (SELECT p, o FROM tsink GROUP BY p, o HAVING count(*) > 1) d"
check "committed records not handled" "SELECT count(*) FROM tsent s WHERE NOT EXISTS (SELECT 1 FROM tsink k WHERE k.n = s.n)"
check "handled records never committed" "SELECT count(*) FROM tsink k WHERE NOT EXISTS (SELECT 1 FROM tsent s WHERE s.n = k.n)"
check "records out of offset order" "SELECT count(*) FROM (SELECT o < lag(o) OVER (PARTITION BY p ORDER BY id) AS back FROM tsink) x WHERE back"
check "messages left in the queue" "SELECT count(*) FROM broker.peek('cq', 10)"
check "dead letters" "SELECT count(*) FROM broker.dead_letters('cq')"
echo "subscription_crash: $sent messages and $tsent records handled exactly once through $rounds kills and terminations"

# the poison phase
psql -X -q -v ON_ERROR_STOP=1 <<'SQL'
SELECT broker.unsubscribe('qs'), broker.unsubscribe('ts');
CREATE TABLE sink2 (n int NOT NULL);
CREATE FUNCTION ph(m broker.message) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	IF m.payload ? 'crash' THEN
		PERFORM pg_sleep(60);
	END IF;
	INSERT INTO sink2 VALUES ((m.payload->>'n')::int);
END $$;
SELECT broker.create_queue('pq', max_attempts => 3);
SELECT count(*) FROM broker.send_batch('pq', ARRAY(SELECT CASE WHEN g = 5 THEN jsonb_build_object('n', g, 'crash', true)
												   ELSE jsonb_build_object('n', g) END
											  FROM generate_series(1, 10) g));
SELECT broker.subscribe('ps', 'ph(broker.message)'::regprocedure, queue => 'pq', batch_size => 10, timeout => '3 s');
SQL
crashes=0
end=$((SECONDS + 180))
while [ $SECONDS -lt $end ]; do
	if [ "$(psql -X -At -c "SELECT count(*) FROM broker.dead_letters('pq')" 2>/dev/null)" = 1 ]; then
		break
	fi
	pid=$(psql -X -At -c "SELECT pid FROM pg_stat_activity
							WHERE application_name LIKE 'pgbroker subscription % running'
							  AND wait_event = 'PgSleep'" 2>/dev/null || true)
	if [ -n "$pid" ]; then
		kill -KILL "$pid"
		crashes=$((crashes + 1))
		echo "subscription_crash: the poison message's handler killed ($crashes)"
		sleep 1
	fi
	sleep 0.1
done
check "the poison message not dead-lettered" "SELECT 1 - count(*) FROM broker.dead_letters('pq') WHERE payload ? 'crash' AND attempts = 3"
[ "$crashes" = 3 ] || fail "$crashes crashes before the dead letter, not 3"
wait_for 30 "SELECT count(*) = 9 FROM sink2" || fail "the neighbours were not handled: $(q "SELECT count(*) FROM sink2")"
check "neighbours handled twice" "SELECT count(*) FROM (SELECT n FROM sink2 GROUP BY n HAVING count(*) > 1) d"
check "neighbours with more than one retry" "SELECT count(*) FROM broker.dead_letters('pq') WHERE NOT payload ? 'crash'"
grep -c "terminated by signal 9" "$PGBROKER_CLUSTER_DIR/server.log" >/dev/null || fail "no crash in the server log"
echo "subscription_crash: the poison message was dead-lettered after $crashes crashes; its 9 neighbours handled once"
