#!/usr/bin/env bash
# test/scripts/standby.sh - pgbroker on a hot standby (scripts/replicas.sh):
# every read path answers as on the primary; every path that writes, the
# waiting forms included, fails at once with SQLSTATE 25006 and a message
# that sends the caller to the primary; the command-line tool reads there
# (stats, groups, peek, read) and a command that writes exits 3 saying so.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/replicas.sh

. test/scripts/checks.sh

replicas_start sync
jobs_pids=()
trap 'kill "${jobs_pids[@]}" 2>/dev/null || true; replicas_stop' EXIT
psql -X -q -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
CREATE EXTENSION pgbroker;
SELECT broker.create_queue('sq');
SELECT count(broker.send('sq', jsonb_build_object('n', i))) FROM generate_series(1, 5) i;
SELECT count(broker.nack('sq', id, receipt)) FROM broker.claim('sq', 1);
SELECT broker.create_topic('st', partitions => 2);
SELECT count(broker.publish('st', jsonb_build_object('n', i), partition => i % 2)) FROM generate_series(1, 10) i;
SELECT broker.create_group('st', 'sg', 'earliest');
SELECT count(*) FROM broker.poll('st', 'sg', max_records => 3, partition => 0);
SQL
lsn=$(replicas_psql n0 -c "SELECT pg_current_wal_lsn()")
for _ in $(seq 1 100); do
	[ "$(replicas_psql n1 -c "SELECT pg_last_wal_replay_lsn() >= '$lsn'")" = t ] && break
	sleep 0.05
done
sb=n1

# --- reads: the same answer on the standby as on the primary ------------------
reads=(
	"SELECT string_agg(offset_id || ':' || payload::text, ',' ORDER BY offset_id) FROM broker.read('st', 0, 0, 100)"
	"SELECT string_agg(offset_id::text, ',' ORDER BY offset_id) FROM broker.read('st', 1, 2, 2)"
	"SELECT broker.earliest_offset('st', 0) || ' ' || broker.latest_offset('st', 1)"
	"SELECT broker.offset_for_time('st', 0, now() - interval '1 hour')"
	"SELECT string_agg(id || ':' || state, ',' ORDER BY id) FROM broker.peek('sq', 10)"
	"SELECT string_agg(partition || ':' || latest_offset, ',') FROM broker.topic_partitions('st')"
	"SELECT queue || ' ' || messages || ' ' || ready || ' ' || delayed || ' ' || dead FROM broker.queues"
	"SELECT topic || ' ' || partitions || ' ' || records FROM broker.topics"
	"SELECT string_agg(consumer_group || ':' || partition || ':' || committed_offset || ':' || lag, ',' ORDER BY partition) FROM broker.consumer_lag"
	"SELECT queue || ' ' || messages || ' ' || ready FROM broker.queue_metrics"
	"SELECT string_agg(topic || ':' || partition || ':' || end_offset, ',' ORDER BY partition) FROM broker.partition_metrics"
	"SELECT count(*) FROM broker.group_metrics"
	"SELECT length(broker.metrics_text()) > 0"
	"SELECT count(*) FROM broker.dead_letters('sq')"
	"SELECT count(*) FROM broker.privileges"
	"SELECT count(*) FROM broker.subscriptions"
)
for s in "${reads[@]}"; do
	p=$(replicas_psql "$REPLICAS_PRIMARY" -c "$s" 2>&1)
	r=$(replicas_psql "$sb" -c "$s" 2>&1)
	check "standby reads as the primary: ${s:0:70}" "$p" "$r"
done

# --- writes: 25006 at once, naming the primary ----------------------------------
writes=(
	"SELECT broker.send('sq', '{}')"
	"SELECT broker.send_batch('sq', ARRAY['{}']::jsonb[])"
	"SELECT * FROM broker.claim('sq')"
	"SELECT * FROM broker.claim('sq', wait => '10 seconds')"
	"CALL broker.claim_wait('sq', 1, NULL, '10 seconds', NULL, NULL)"
	"CALL broker.claim_wait_json('sq', 1, NULL, '10 seconds', NULL, NULL)"
	"SELECT broker.ack('sq', 1)"
	"SELECT broker.ack('sq', 1, '00000000-0000-0000-0000-000000000000')"
	"SELECT broker.ack_batch('sq', ARRAY[1]::bigint[], ARRAY['00000000-0000-0000-0000-000000000000']::uuid[])"
	"SELECT broker.nack('sq', 1)"
	"SELECT broker.extend('sq', 1, '00000000-0000-0000-0000-000000000000', '1 minute')"
	"SELECT broker.publish('st', '{}')"
	"SELECT broker.publish_batch('st', ARRAY['{}']::jsonb[])"
	"SELECT * FROM broker.poll('st', 'sg')"
	"SELECT * FROM broker.poll('st', 'sg', consumer => 'c', lease => '1 minute')"
	"SELECT * FROM broker.poll('st', 'sg', wait => '10 seconds')"
	"CALL broker.poll_wait('st', 'sg', 10, '10 seconds', 'c', '1 minute', NULL, NULL)"
	"SELECT broker.commit('st', 'sg', 0, 1)"
	"SELECT broker.commit('st', 'sg', 'c')"
	"SELECT broker.seek('st', 'sg', 'earliest')"
	"SELECT * FROM broker.reset_group('st', 'sg', 'earliest', dry_run => true)"
	"SELECT broker.extend_lease('st', 'sg', 'c')"
	"SELECT broker.create_group('st', 'new')"
	"SELECT broker.delete_group('st', 'sg')"
	"SELECT broker.create_queue('nq')"
	"SELECT broker.alter_queue('sq', max_attempts => 3)"
	"SELECT broker.drop_queue('sq')"
	"SELECT broker.purge('sq')"
	"SELECT broker.redrive('sq')"
	"SELECT broker.purge_dead_letters('sq')"
	"SELECT broker.cancel('sq', 1)"
	"SELECT broker.create_topic('nt')"
	"SELECT broker.alter_topic('st', dedup_window => '1 minute')"
	"SELECT broker.drop_topic('st')"
	"SELECT count(*) FROM broker.maintain()"
	"SELECT count(*) FROM broker.maintain_topics()"
)
for s in "${writes[@]}"; do
	t0=$(date +%s%3N)
	out=$(replicas_psql "$sb" -v VERBOSITY=verbose -c "$s" 2>&1 || true)
	ms=$(($(date +%s%3N) - t0))
	if grep -qE "ERROR:  25006: .*needs the primary" <<<"$out" && [ $ms -lt 3000 ]; then
		ok "standby refuses at once (25006, needs the primary): ${s:0:70}"
	else
		bad "standby: ${s:0:70}: after $ms ms: $(head -1 <<<"$out")"
	fi
done
# a wait procedure is refused before it waits, in the transaction of a procedure call
check "nothing was written on the primary by the standby's attempts" "5 10" \
	"$(replicas_psql "$REPLICAS_PRIMARY" -c "SELECT (SELECT messages FROM broker.queues) || ' ' || (SELECT records FROM broker.topics)")"

# --- the command-line tool on the standby --------------------------------------------
sbconn="host=$REPLICAS_SOCK port=$(replicas_port $sb) dbname=postgres user=postgres"
out=$(PGTARGETSESSIONATTRS=any pgbroker -d "$sbconn" stats --interval 0.1 2>&1); rc=$?
check "pgbroker stats on the standby" "0 yes" "$rc $(grep -qE '^ queue +\| sq ' <<<"$out" && echo yes)"
out=$(PGTARGETSESSIONATTRS=any pgbroker -d "$sbconn" groups 2>&1); rc=$?
check "pgbroker groups on the standby" "0 yes" "$rc $(grep -qE '^ st +\| sg ' <<<"$out" && echo yes)"
out=$(PGTARGETSESSIONATTRS=any pgbroker -d "$sbconn" peek sq 2>&1); rc=$?
check "pgbroker peek on the standby" "0 yes" "$rc $(grep -q "(5 rows)" <<<"$out" && echo yes)"
out=$(PGTARGETSESSIONATTRS=any pgbroker -d "$sbconn" read st --from earliest 2>&1); rc=$?
check "pgbroker read on the standby: every record of every partition" "0 10" "$rc $(grep -c '"payload"' <<<"$out")"
set +e
out=$(echo '{}' | PGTARGETSESSIONATTRS=any pgbroker -d "$sbconn" send sq 2>&1); rc=$?
set -e
check "pgbroker send on the standby: exit 3, needs the primary" "3 yes" "$rc $(grep -q 'needs the primary' <<<"$out" && echo yes)"
# through the multi-host string the tool finds the primary
out=$(echo '{"via": "multi-host"}' | pgbroker send sq 2>&1); rc=$?
check "pgbroker send with host=a,b,c target_session_attrs=read-write reaches the primary" "0" "$rc"

# --- readers on the standby follow offsets while producers commit out of order --------
sbconn_ts="host=$REPLICAS_SOCK port=$(replicas_port $sb) dbname=postgres user=postgres target_session_attrs=any"
if test/tools/topic_stress --producers 6 --readers 2 --partitions 3 --records 6000 --topic standby_stress \
		--standby "$sbconn_ts" >"$REPLICAS_DIR/topic_stress.out" 2>&1; then
	ok "topic_stress with its readers on the standby: every committed record read once, in order"
else
	bad "topic_stress with readers on the standby: $(tail -3 "$REPLICAS_DIR/topic_stress.out")"
fi
tail -2 "$REPLICAS_DIR/topic_stress.out" | sed 's/^/  /'

# --- the command-line tool across a failover: reconnects and goes on -------------
dir=$REPLICAS_DIR
psql -X -q -c "SELECT broker.create_queue('fq', lease => '2 seconds')" \
	-c "SELECT broker.create_group('st', 'cli', 'latest')" >/dev/null
pgbroker consume fq -f --payload >"$dir/consume.out" 2>"$dir/consume.err" &
consumer=$!
jobs_pids+=($consumer)
pgbroker tail st -g cli -f --payload --lease '2 seconds' >"$dir/tail.out" 2>"$dir/tail.err" &
tailer=$!
jobs_pids+=($tailer)
( for i in $(seq 1 40); do echo "{\"n\": $i}"; sleep 0.1; done ) | pgbroker send fq -q >"$dir/send.out" 2>"$dir/send.err" &
sender=$!
( for i in $(seq 1 40); do echo "{\"r\": $i}"; sleep 0.1; done ) | pgbroker publish st --partition 1 -q \
	>"$dir/publish.out" 2>"$dir/publish.err" &
publisher=$!
sleep 1.5
replicas_failover || bad "failover"
src=0; wait $sender || src=$?
prc=0; wait $publisher || prc=$?
check "send from a stream across the failover: exit 0" "0" "$src"
check "publish from a stream across the failover: exit 0" "0" "$prc"
# every line that was sent comes out of the consumer, at least once (leases of 2 s)
for _ in $(seq 1 100); do
	[ "$(sort -u "$dir/consume.out" | grep -c '"n"')" -ge 40 ] && [ "$(sort -u "$dir/tail.out" | grep -c '"r"')" -ge 40 ] && break
	sleep 0.2
done
kill -INT $consumer $tailer 2>/dev/null || true
wait $consumer || true
wait $tailer || true
check "consume -f: every message sent across the failover printed (at least once)" "40" \
	"$(grep -o '"n": [0-9]*' "$dir/consume.out" | sort -u | wc -l)"
check "tail -f: every record published across the failover printed (at least once)" "40" \
	"$(grep -o '"r": [0-9]*' "$dir/tail.out" | sort -u | wc -l)"
check "the consumer acknowledged what it printed: the queue is empty" "0" \
	"$(psql -X -At -c "SELECT messages FROM broker.queues WHERE queue = 'fq'")"
check "consume -f said it reconnected" "yes" "$(grep -q 'reconnected to' "$dir/consume.err" && echo yes)"
check "tail -f said it reconnected" "yes" "$(grep -q 'reconnected to' "$dir/tail.err" && echo yes)"
cat "$dir/consume.err" "$dir/send.err" | sed 's/^/  /'

echo "$checks checks, $fails failed"
[ "$fails" -eq 0 ]
