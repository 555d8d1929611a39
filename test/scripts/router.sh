#!/usr/bin/env bash
# test/scripts/router.sh - topics over two data nodes through a
# pgbroker_router database (PL/Proxy), each node a cluster of its own:
# create and drop; keyed publishes on the partition partition_for names and
# only on its node; reads, offsets and times per partition; the views over
# both nodes; leased group polls spread over both nodes, commits, fencing
# and lag; the waiting poll; 0A000 for transactional calls; privileges end
# to end; a node down while the other serves, said by the views and polls;
# a node killed with SIGKILL under load and restarted with nothing
# acknowledged lost; the topic stress driver through the router.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/shard_cluster.sh
. test/scripts/checks.sh
r() { shard_psql r "$@"; }
sqlstate() {	# sqlstate NODE SQL: the SQLSTATE it fails with (or "ok")
	local out
	if out=$(shard_psql "$1" -v VERBOSITY=verbose -c "$2" 2>&1); then echo ok; else
		echo "$out" | sed -n 's/^ERROR:  \([0-9A-Z]\{5\}\):.*/\1/p' | head -1; fi
}

shard_start 2

# --- create, layout, drop ---------------------------------------------------
r -c "SELECT broker.create_topic('orders', 4)" >/dev/null
check "global partition g on node g mod 2 as its local partition g div 2" "0:0:0,1:1:0,2:0:1,3:1:1" \
	"$(r -c "SELECT string_agg(partition || ':' || node || ':' || local_partition, ',' ORDER BY partition) FROM broker.topic_partition")"
check "each node holds its 2 partitions only" "orders|2,orders|2" \
	"$(shard_psql n0 -c "SELECT topic || '|' || partitions FROM broker.topics"),$(shard_psql n1 -c "SELECT topic || '|' || partitions FROM broker.topics")"
check "create_topic again: 42710" 42710 "$(sqlstate r "SELECT broker.create_topic('orders', 4)")"
r -c "SELECT broker.create_topic('tmp', 3)" -c "SELECT broker.drop_topic('tmp')" >/dev/null
shard_psql n1 -c "SELECT broker.create_topic('squat', 5)" >/dev/null
check "a topic a node has already is not taken silently: 42710" 42710 "$(sqlstate r "SELECT broker.create_topic('squat', 2)")"
check "nor registered half-made" 0 "$(r -c "SELECT count(*) FROM broker.topic WHERE name = 'squat'")"
r -c "SELECT broker.create_topic('one', 1, retention => '2 days', compacted => true)" \
  -c "SELECT broker.alter_topic('one', partitions => 2)" >/dev/null
check "alter_topic gives a node new to the topic the topic's settings" "2 days|true" \
	"$(shard_psql n1 -c "SELECT retention || '|' || compacted FROM broker.topics WHERE topic = 'one'")"
check "drop_topic: gone from the catalog and from both nodes" "0|0|0" \
	"$(r -c "SELECT count(*) FROM broker.topic WHERE name = 'tmp'")|$(shard_psql n0 -c "SELECT count(*) FROM broker.topics WHERE topic = 'tmp'")|$(shard_psql n1 -c "SELECT count(*) FROM broker.topics WHERE topic = 'tmp'")"
r -c "SELECT broker.create_topic('grow', 1)" -c "SELECT broker.alter_topic('grow', partitions => 3, retention => '1 day')" >/dev/null
check "alter_topic adds partitions where they go, settings on every node" "0:0:0,1:1:0,2:0:1|2|1 day|1|1 day" \
	"$(r -c "SELECT string_agg(partition || ':' || node || ':' || local_partition, ',' ORDER BY partition) FROM broker.topic_partition WHERE topic = 'grow'")|$(shard_psql n0 -c "SELECT partitions || '|' || retention FROM broker.topics WHERE topic = 'grow'")|$(shard_psql n1 -c "SELECT partitions || '|' || retention FROM broker.topics WHERE topic = 'grow'")"

# --- keyed publishes land where partition_for says, and only on that node ------------
r >/dev/null <<'SQL'
SELECT broker.publish('orders', jsonb_build_object('k', g), key => 'key-' || g) FROM generate_series(1, 200) g;
SELECT broker.publish_batch('orders', ARRAY(SELECT jsonb_build_object('k', g) FROM generate_series(201, 400) g),
	ARRAY(SELECT 'key-' || g FROM generate_series(201, 400) g));
SQL
check "every keyed record in the partition partition_for names" "400|0" \
	"$(r -c "SELECT count(*) || '|' || count(*) FILTER (WHERE broker.partition_for('orders', r.key) <> r.partition)
		FROM generate_series(0, 3) p, broker.read('orders', p, 0, 10000) r")"
check "the router's partition_for and a node's agree (pgbroker's own key hash)" "t" \
	"$(r -c "SELECT bool_and(broker.partition_for('orders', 'key-' || g) = broker._key_partition('key-' || g, 4)) FROM generate_series(1, 50) g")"
check "each node holds exactly the records of its partitions" "t" \
	"$(r -c "SELECT (SELECT sum(latest_offset) FROM broker.topic_partitions('orders') WHERE partition % 2 = 0)
		= $(shard_psql n0 -c "SELECT sum(o) FROM broker.topics t, unnest(t.latest_offsets) o WHERE topic = 'orders'")
		AND (SELECT sum(latest_offset) FROM broker.topic_partitions('orders') WHERE partition % 2 = 1)
		= $(shard_psql n1 -c "SELECT sum(o) FROM broker.topics t, unnest(t.latest_offsets) o WHERE topic = 'orders'")")"
check "reads follow dense offsets per partition" "t" \
	"$(r -c "SELECT bool_and(n = hi + 1) FROM (SELECT p, count(*) AS n, max(offset_id) AS hi
		FROM generate_series(0, 3) p, broker.read('orders', p, 0, 10000) GROUP BY p) s")"
check "earliest, latest and offset_for_time per partition" "0|true|0|true" \
	"$(r -c "SELECT broker.earliest_offset('orders', 1) || '|' || (broker.latest_offset('orders', 1) > 0) || '|'
		|| broker.offset_for_time('orders', 1, now() - interval '1 hour') || '|'
		|| (broker.offset_for_time('orders', 1, now() + interval '1 hour') = broker.latest_offset('orders', 1))")"
check "broker.topics over both nodes" "orders|4|400|" \
	"$(r -c "SELECT topic || '|' || partitions || '|' || records || '|' || coalesce(missing_nodes::text, '') FROM broker.topics WHERE topic = 'orders'")"
check "partition out of range: 22003; unknown topic: 42704" "22003|42704" \
	"$(sqlstate r "SELECT * FROM broker.read('orders', 4, 0)")|$(sqlstate r "SELECT broker.publish('nope', '{}')")"

# --- what the router refuses ----------------------------------------------------
check "a transactional poll: 0A000" 0A000 "$(sqlstate r "SELECT * FROM broker.poll('orders', 'g')")"
check "a poll of one partition (transactional): 0A000" 0A000 \
	"$(sqlstate r "SELECT * FROM broker.poll('orders', 'g', partition => 0, consumer => 'c', lease => '10 s')")"

# --- leased groups over both nodes -------------------------------------------------------
r -c "SELECT broker.create_group('orders', 'billing', 'earliest')" >/dev/null
check "the group exists on both nodes" "1|1" \
	"$(shard_psql n0 -c "SELECT count(DISTINCT consumer_group) FROM broker.consumer_lag WHERE consumer_group = 'billing'")|$(shard_psql n1 -c "SELECT count(DISTINCT consumer_group) FROM broker.consumer_lag WHERE consumer_group = 'billing'")"
# two consumers, each in its own router session, poll and commit until the group is through
for c in a b; do
	(for _ in $(seq 1 40); do
		r -c "SELECT broker.commit('orders', 'billing', array_agg(x), 'c-$c')
				FROM broker.poll('orders', 'billing', 50, consumer => 'c-$c', lease => '20 s') x" >/dev/null
	done) &
done
wait
check "two leased consumers through the router consume every record once committed" "0|400" \
	"$(r -c "SELECT sum(lag) || '|' || sum(committed_offset) FROM broker.consumer_lag WHERE consumer_group = 'billing'")"
check "their leases spread over both nodes" "t" \
	"$(r -c "SELECT count(DISTINCT node) = 2 AND count(DISTINCT lease_holder) = 2 FROM broker.consumer_lag WHERE consumer_group = 'billing' AND lease_holder IS NOT NULL")"
# fencing: c-a's lease runs out, c-z takes its partitions, c-a's commit is
# refused (PB001); c-z is one consumer instance over several router
# sessions, so it polls and commits with a token
r -c "SELECT broker.create_group('orders', 'fence', 'earliest')" >/dev/null
check "c-a takes every partition" 4 "$(r -c "SELECT count(DISTINCT partition) FROM broker.poll('orders', 'fence', 1000, consumer => 'c-a', lease => '1 second')")"
sleep 3.5
# (a poll's fair share counts the consumers that polled within its lease)
tok=$(r -c "SELECT broker.join('orders', 'fence', 'c-z')")
r -c "SELECT count(*) FROM broker.poll('orders', 'fence', 1000, consumer => 'c-z', lease => '3 s', token => '$tok')" >/dev/null
check "c-z takes them over when c-a's lease ran out" "4" \
	"$(r -c "SELECT count(*) FROM broker.consumer_lag WHERE consumer_group = 'fence' AND lease_holder = 'c-z'")"
check "fencing: the old holder's commit is refused with PB001" PB001 \
	"$(sqlstate r "SELECT broker.commit('orders', 'fence', 0, 1, 'c-a')")"
check "the new holder's commit of all it was handed moves every partition" 4 \
	"$(r -c "SELECT broker.commit('orders', 'fence', 'c-z', token => '$tok')")"
check "lag across both nodes" "4|0|true" \
	"$(r -c "SELECT count(*) || '|' || sum(lag) || '|' || (count(DISTINCT node) = 2) FROM broker.consumer_lag WHERE consumer_group = 'fence'")"
# the waiting poll: a publish from another session ends the wait
(sleep 0.5; r -c "SELECT broker.publish('orders', '{\"late\": 1}', key => 'late')" >/dev/null) &
start=$(date +%s%N)
got=$(r -c "SELECT count(*) FROM broker.poll('orders', 'fence', 10, wait => '5 s', consumer => 'c-z', lease => '30 s', token => '$tok')")
ms=$(( ($(date +%s%N) - start) / 1000000 ))
wait
check "a waiting poll returns the record published during its wait" 1 "$got"
if [ "$ms" -lt 2500 ]; then ok "it returned in $ms ms, not at the end of its wait"; else bad "it returned after $ms ms"; fi
check "a waiting poll with nothing to get waits its time" 0 \
	"$(r -c "SELECT count(*) FROM broker.poll('orders', 'fence', 10, wait => '300 ms', consumer => 'c-z', lease => '30 s', token => '$tok')")"

# --- the command-line tool against the router, as against a node ------------------------
pgbroker create topic clio --partitions 4 >/dev/null
printf '{"a":1}\n{"a":2}\n{"a":3}\n{"a":4}\n' | pgbroker publish clio --key k1 >/dev/null 2>&1
check "pgbroker publish and read through the router" 4 "$(pgbroker read clio -n 10 | grep -c '"payload"')"
check "pgbroker tail -f through the router (leased, committed)" 4 \
	"$(pgbroker tail clio --group cg --from earliest -f -n 4 --consumer cli-1 | grep -c '"payload"')"
check "pgbroker groups through the router" 0 \
	"$(r -c "SELECT sum(lag) FROM broker.consumer_lag WHERE topic = 'clio' AND consumer_group = 'cg'")"
if pgbroker tail clio --group cg2 --from earliest -n 1 >/dev/null 2>"$SHARD_DIR/tail.err"; then
	bad "pgbroker tail without -f through the router is refused"
elif grep -q "0A000" "$SHARD_DIR/tail.err"; then ok "pgbroker tail without -f through the router is refused (0A000)"
else bad "pgbroker tail without -f: $(cat "$SHARD_DIR/tail.err")"; fi
pgbroker drop topic clio >/dev/null

# --- privileges end to end: the nodes check the router's caller -------------------------
for n in r n0 n1; do
	shard_psql "$n" -c "CREATE ROLE alice LOGIN" -c "CREATE ROLE bob LOGIN" >/dev/null
done
for n in n0 n1; do
	shard_psql "$n" -c "GRANT pgbroker_producer, pgbroker_consumer TO alice, bob" \
		-c "SELECT broker.grant('send', 'alice', topic => 'orders')" \
		-c "SELECT broker.grant('browse', 'alice', topic => 'orders')" >/dev/null
done
check "alice, granted send on the nodes, publishes through the router" ok \
	"$(sqlstate r "SET ROLE alice; SELECT broker.publish('orders', '{}', key => 'alice')")"
check "bob, not granted, is refused by the node: 42501" 42501 \
	"$(sqlstate r "SET ROLE bob; SELECT broker.publish('orders', '{}', key => 'bob')")"
check "bob reads nothing: 42501" 42501 "$(sqlstate r "SET ROLE bob; SELECT * FROM broker.read('orders', 0, 0)")"
check "alice reads" ok "$(sqlstate r "SET ROLE alice; SELECT * FROM broker.read('orders', 0, 0)")"

# --- a node down: the other serves, the views say which is missing ---------------------------
shard_kill n1
check "a publish to a partition of the live node works" ok \
	"$(sqlstate r "SELECT broker.publish('orders', '{}', partition => 0)")"
err=$(r -c "SELECT broker.publish('orders', '{}', partition => 1)" 2>&1 || true)
case $err in
*pgbroker_node1*) ok "a call for the dead node's partition fails at once, naming it" ;;
*) bad "a call for the dead node's partition fails naming it: $err" ;;
esac
check "broker.cluster_nodes says which node is down" "0:true,1:false" \
	"$(r -c "SELECT string_agg(node || ':' || reachable, ',' ORDER BY node) FROM broker.cluster_nodes")"
check "broker.topics goes on, naming the missing node" "{1}" \
	"$(r -c "SELECT missing_nodes FROM broker.topics WHERE topic = 'orders'" 2>/dev/null)"
check "a leased poll goes on with the live node, with a WARNING" "t|t" \
	"$(r -c "SELECT broker.seek('orders', 'fence', 'earliest', 0)" -c "SELECT count(*) > 0 FROM broker.poll('orders', 'fence', 10, consumer => 'c-z', lease => '30 s', token => '$tok')" 2>/tmp/router_warn.$$ | tail -1)|$(grep -q 'node 1 .* is missing' /tmp/router_warn.$$ && echo t || echo f)"
rm -f /tmp/router_warn.$$
shard_restart n1
check "the node back, its partitions serve again" ok "$(sqlstate r "SELECT broker.publish('orders', '{}', partition => 1)")"

# --- SIGKILL under load: nothing acknowledged lost -------------------------------------------
r -c "SELECT broker.create_topic('load', 4)" >/dev/null
acked=$(mktemp)
producer() {	# producer ID: publish keyed records one by one, log those acknowledged
	local id=$1 i
	for i in $(seq 1 400); do
		if r -c "SELECT broker.publish('load', jsonb_build_object('id', '$id-$i'), key => '$id-$i')" >/dev/null 2>&1; then
			echo "$id-$i" >>"$acked.$id"
		fi
	done
}
producer p1 & a=$!
producer p2 & b=$!
sleep 2
shard_kill n1
sleep 1
shard_restart n1
wait $a $b
cat "$acked".p1 "$acked".p2 | sort >"$acked"
rm -f "$acked".p1 "$acked".p2
stored=$(r -c "SELECT r.payload->>'id' FROM generate_series(0, 3) p, broker.read('load', p, 0, 10000) r" | sort)
lost=$(comm -23 "$acked" <(echo "$stored") | wc -l)
dups=$(echo "$stored" | uniq -d | wc -l)
n_acked=$(wc -l <"$acked")
rm -f "$acked"
if [ "$n_acked" -gt 100 ] && [ "$n_acked" -lt 800 ]; then ok "the kill interrupted the producers ($n_acked of 800 acknowledged)"
else bad "the kill interrupted the producers ($n_acked of 800 acknowledged)"; fi
check "nothing acknowledged lost, nothing twice" "0|0" "$lost|$dups"

# --- the topic stress driver through the router ---------------------------------------------------
if test/tools/topic_stress --router --producers 4 --readers 2 --partitions 4 --records 4000 --topic stress_router; then
	ok "topic stress driver through the router"
else
	bad "topic stress driver through the router"
fi

echo "$checks checks, $fails failed"
[ "$fails" -eq 0 ]
