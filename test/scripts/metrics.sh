#!/usr/bin/env bash
# test/scripts/metrics.sh - the metrics on a cluster that preloads pgbroker:
# committed counters exact (rollbacks, savepoints, concurrent producers),
# the exposition accepted by promtool, the alerting rules checked and
# unit-tested by promtool, postgres_exporter with monitoring's query file
# giving the same series, and counters starting again after a crash.
set -euo pipefail
cd "$(dirname "$0")/../.."
top=$(pwd)
. scripts/cluster.sh

. test/scripts/checks.sh
q() { psql -X -qAt -v ON_ERROR_STOP=1 "$@"; }

pgbroker_cluster_start "shared_preload_libraries = 'pgbroker'" "pgbroker.metrics_queues = 100"
q -c "CREATE EXTENSION pgbroker"

# --- counters count what committed -------------------------------------
q >/dev/null <<'SQL'
SELECT broker.create_queue('mq', max_attempts => 2);
SELECT broker.create_queue('mq_dead', max_attempts => 1);
SELECT broker.create_queue('mq_ttl', ttl => '1 millisecond', ttl_action => 'dead_letter');
SELECT broker.create_queue('mq_ttl_drop', ttl => '1 millisecond', ttl_action => 'drop');
SELECT broker.create_queue('mq_over', max_length => 3, overflow => 'drop_oldest');
SELECT broker.create_queue('mq_conc');
-- 10 committed, 5 rolled back, 2 in a released savepoint, 3 in one rolled back, a batch of 4
SELECT count(broker.send('mq', '{}')) FROM generate_series(1, 10);
BEGIN; SELECT count(broker.send('mq', '{}')) FROM generate_series(1, 5); ROLLBACK;
BEGIN;
SAVEPOINT a; SELECT count(broker.send('mq', '{}')) FROM generate_series(1, 2); RELEASE a;
SAVEPOINT b; SELECT count(broker.send('mq', '{}')) FROM generate_series(1, 3); ROLLBACK TO b;
COMMIT;
SELECT count(*) FROM broker.send_batch('mq', ARRAY['{}', '{}', '{}', '{}']::jsonb[]);
-- 6 claimed (a rolled-back claim of 1 not counted), 3 acked, 2 nacked
BEGIN; SELECT count(*) FROM broker.claim('mq', 1); ROLLBACK;
CREATE TEMP TABLE c AS SELECT * FROM broker.claim('mq', 6);
SELECT count(broker.ack('mq', id, receipt)) FROM (SELECT * FROM c ORDER BY id LIMIT 3) x;
SELECT count(broker.nack('mq', id, receipt)) FROM (SELECT * FROM c ORDER BY id OFFSET 3 LIMIT 2) x;
-- a dead letter by nack
SELECT broker.send('mq_dead', '{}') > 0;
SELECT broker.nack('mq_dead', id, receipt) FROM broker.claim('mq_dead');
-- expiries: 2 dead-lettered, 1 dropped; overflow: 2 dropped
SELECT count(broker.send('mq_ttl', '{}')) FROM generate_series(1, 2);
SELECT broker.send('mq_ttl_drop', '{}') > 0;
SELECT count(broker.send('mq_over', '{}')) FROM generate_series(1, 5);
SELECT pg_sleep(0.01);
SELECT count(*) FROM broker.maintain();
SQL
row() { q -c "SELECT concat_ws(' ', sent_total, claimed_total, acked_total, nacked_total, dead_lettered_total, expired_total, dropped_total) FROM broker.queue_metrics WHERE queue = '$1'"; }
check "mq: sent 16, claimed 6, acked 3, nacked 2" "16 6 3 2 0 0 0" "$(row mq)"
check "mq_dead: a nack of the last attempt is a dead letter" "1 1 0 1 1 0 0" "$(row mq_dead)"
check "mq_ttl: expired into the dead letters" "2 0 0 0 2 2 0" "$(row mq_ttl)"
check "mq_ttl_drop: expired and dropped" "1 0 0 0 0 1 0" "$(row mq_ttl_drop)"
check "mq_over: the overflow dropped the oldest 2" "5 0 0 0 0 0 2" "$(row mq_over)"
check "mq: states (exact on a small table)" "13 10 2 1 0 t" \
	"$(q -c "SELECT concat_ws(' ', messages, ready, delayed, leased, waiting, exact) FROM broker.queue_metrics WHERE queue = 'mq'")"

# concurrent producers and consumers: 4 x 250 sends, each its own transaction,
# and 2 x 100 claim+ack transactions, at once
cat >"$PGBROKER_CLUSTER_DIR/send.sql" <<'SQL'
SELECT broker.send('mq_conc', '{"n": 1}');
SQL
cat >"$PGBROKER_CLUSTER_DIR/ack.sql" <<'SQL'
SELECT count(broker.ack('mq_conc', id, receipt)) FROM broker.claim('mq_conc', 1);
SQL
q -c "SELECT count(broker.send('mq_conc', '{}')) FROM generate_series(1, 200)" >/dev/null
pgbench -n -c 4 -j 2 -t 250 -f "$PGBROKER_CLUSTER_DIR/send.sql" >"$PGBROKER_CLUSTER_DIR/pgbench1.log" 2>&1 &
p1=$!
pgbench -n -c 2 -j 2 -t 100 -f "$PGBROKER_CLUSTER_DIR/ack.sql" >"$PGBROKER_CLUSTER_DIR/pgbench2.log" 2>&1 &
p2=$!
wait $p1 && wait $p2 || { cat "$PGBROKER_CLUSTER_DIR"/pgbench*.log; exit 1; }
check "concurrent: 1,200 sent, 200 claimed and acked" "1200 200 200 0 0 0 0" "$(row mq_conc)"
check "concurrent: messages = sent - acked" "1000" \
	"$(q -c "SELECT pg_stat_clear_snapshot(); SELECT messages FROM broker.queue_metrics WHERE queue = 'mq_conc'" | tail -1)"

# --- the exposition ------------------------------------------------------
# a topic with a group holding a lease, and a paused subscription
q >/dev/null <<'SQL'
SELECT broker.create_topic('mt', partitions => 2);
SELECT count(broker.publish('mt', '{}', partition => i % 2)) FROM generate_series(1, 9) i;
SELECT broker.create_group('mt', 'mg', 'earliest');
SELECT count(*) FROM broker.poll('mt', 'mg', max_records => 1, consumer => 'c1', lease => '1 hour');
CREATE FUNCTION public.mhandler(m broker.message) RETURNS void LANGUAGE sql AS $$ SELECT $$;
SELECT broker.subscribe('ms', 'public.mhandler(broker.message)'::regprocedure, queue => 'mq', enabled => false);
SQL
pgbroker metrics >"$PGBROKER_CLUSTER_DIR/metrics.txt"
check "pgbroker metrics: promtool check metrics accepts it" "0" \
	"$(promtool check metrics <"$PGBROKER_CLUSTER_DIR/metrics.txt" >"$PGBROKER_CLUSTER_DIR/promtool.out" 2>&1; echo $?)"
cat "$PGBROKER_CLUSTER_DIR/promtool.out"
check "pgbroker metrics: the counters are there" 'pgbroker_queue_sent_total{queue="mq"} 16' \
	"$(grep '^pgbroker_queue_sent_total{queue="mq"}' "$PGBROKER_CLUSTER_DIR/metrics.txt")"
check "pgbroker metrics: each family once, with HELP and TYPE" \
	"$(grep -c '^# HELP' "$PGBROKER_CLUSTER_DIR/metrics.txt")" \
	"$(grep '^# TYPE' "$PGBROKER_CLUSTER_DIR/metrics.txt" | sort -u | wc -l)"
# a monitoring role, through the command-line tool
q -c "CREATE ROLE metrics_scraper LOGIN IN ROLE pg_monitor"
pgbroker metrics -U metrics_scraper >"$PGBROKER_CLUSTER_DIR/scraper.txt" 2>&1 || true
check "pgbroker metrics as a pg_monitor member" "ok" \
	"$(grep -q '^pgbroker_queue_messages{queue="mq_conc",state="ready"} ' "$PGBROKER_CLUSTER_DIR/scraper.txt" && echo ok \
	   || grep 'mq_conc\|rror' "$PGBROKER_CLUSTER_DIR/scraper.txt")"

# --- alerting rules ------------------------------------------------------
check "promtool check rules monitoring/alerts.yml" "0" \
	"$(promtool check rules monitoring/alerts.yml >/dev/null 2>&1; echo $?)"
check "promtool test rules monitoring/alerts_test.yml" "0" \
	"$( (cd monitoring && promtool test rules alerts_test.yml) >"$PGBROKER_CLUSTER_DIR/rules.out" 2>&1; echo $?)"
grep -q SUCCESS "$PGBROKER_CLUSTER_DIR/rules.out" || cat "$PGBROKER_CLUSTER_DIR/rules.out"

# --- postgres_exporter with the query file ---------------------------------
xport=$((PGPORT + 1))
DATA_SOURCE_NAME="host=$PGHOST port=$PGPORT user=metrics_scraper dbname=postgres sslmode=disable" \
	prometheus-postgres-exporter --extend.query-path="$top/monitoring/postgres_exporter.yaml" \
	--web.listen-address="127.0.0.1:$xport" --disable-default-metrics --disable-settings-metrics \
	>"$PGBROKER_CLUSTER_DIR/exporter.log" 2>&1 &
xpid=$!
trap 'kill $xpid 2>/dev/null || true; pgbroker_cluster_stop' EXIT
got=
for _ in $(seq 1 100); do
	got=$(curl -sf "http://127.0.0.1:$xport/metrics" || true)
	grep -q '^pgbroker_queue_messages' <<<"$got" && break
	sleep 0.1
done
echo "$got" >"$PGBROKER_CLUSTER_DIR/exporter.txt"
# labels in name order, without the server label the exporter adds
norm() { perl -pe 's/\{([^}]*)\}/"{" . join(",", sort grep { !\/^server=\/ } split(\/,(?=[a-z_]+=")\/, $1)) . "}"/e'; }
norm <"$PGBROKER_CLUSTER_DIR/metrics.txt" >"$PGBROKER_CLUSTER_DIR/metrics.norm"
grep '^pgbroker_' "$PGBROKER_CLUSTER_DIR/exporter.txt" | norm >"$PGBROKER_CLUSTER_DIR/exporter.norm" || true
for series in 'pgbroker_queue_sent_total{queue="mq"}' 'pgbroker_queue_messages{queue="mq",state="leased"}' \
		'pgbroker_queue_dead_lettered_total{queue="mq_ttl"}' 'pgbroker_topic_published_total{topic="mt"}' \
		'pgbroker_consumer_group_lag{consumer_group="mg",partition="1",topic="mt"}' \
		'pgbroker_consumer_group_lease_holders{consumer_group="mg",topic="mt"}' \
		'pgbroker_subscription_paused{subscription="ms"}'; do
	want=$(grep -F "$series " "$PGBROKER_CLUSTER_DIR/metrics.norm" | awk '{print $2}' || true)
	have=$(grep -F "$series " "$PGBROKER_CLUSTER_DIR/exporter.norm" | awk '{print $2}' || true)
	check "postgres_exporter: $series as pgbroker metrics gives it (${want:-none})" "${want:-missing}" "$have"
done
# every family of the exposition comes out of the exporter under the same name
ours=$(grep '^# TYPE' "$PGBROKER_CLUSTER_DIR/metrics.txt" | awk '{print $3}' | grep -v '^pgbroker_info$' | sort -u)
theirs=$(grep '^# TYPE pgbroker_' "$PGBROKER_CLUSTER_DIR/exporter.txt" | awk '{print $3}' | sort -u)
check "postgres_exporter: the same metric names as pgbroker metrics" "" \
	"$(comm -23 <(echo "$ours") <(echo "$theirs") | tr '\n' ' ')"
check "postgres_exporter: no query failed" "" \
	"$(grep -iE 'level=(error|warn)' "$PGBROKER_CLUSTER_DIR/exporter.log" | head -3)"
kill $xpid 2>/dev/null || true

# --- a dropped queue's counters are forgotten; a crash starts them again ----
q -c "SELECT broker.drop_queue('mq_over')" >/dev/null
q -c "SELECT count(*) FROM broker.maintain()" >/dev/null
check "a new queue's counters start at zero" "0 0 0 0 0 0 0" \
	"$(q -c "SELECT broker.create_queue('mq_new')" >/dev/null; row mq_new)"
before=$(q -c "SELECT broker._metrics_since()")
pgbroker_cluster_kill all
pgbroker_cluster_restart
check "after a crash the counters start again" "0" "$(q -c "SELECT sent_total FROM broker.queue_metrics WHERE queue = 'mq'")"
check "after a crash: counters_since moved" "t" \
	"$(q -c "SELECT counters_since > '$before' FROM broker.queue_metrics WHERE queue = 'mq'")"
check "after a crash: the messages are still measured" "13" \
	"$(q -c "SELECT messages FROM broker.queue_metrics WHERE queue = 'mq'")"

echo "$checks checks, $fails failed"
[ "$fails" -eq 0 ]
