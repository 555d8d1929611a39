#!/usr/bin/env bash
# test/scripts/router_grow.sh - a pgbroker_router cluster grown from 2 data
# nodes to 4 with scripts/shard_add_nodes.sh while producers publish
# through the router and a leased consumer group is part way: the moved
# partitions keep their records and offsets, every group keeps its
# committed offsets, nothing acknowledged is lost or doubled, new records
# of moved partitions go to the new nodes, and the consumer goes on to the
# end.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/shard_cluster.sh
. test/scripts/checks.sh
r() { shard_psql r "$@"; }
sqlstate() {	# sqlstate SQL: the SQLSTATE it fails with on the router (or "ok")
	local out
	if out=$(shard_psql r -v VERBOSITY=verbose -c "$1" 2>&1); then echo ok; else
		echo "$out" | sed -n 's/^ERROR:  \([0-9A-Z]\{5\}\):.*/\1/p' | head -1; fi
}

shard_start 2
r >/dev/null <<'SQL'
SELECT broker.create_topic('grow', 8);
SELECT broker.publish_batch('grow', ARRAY(SELECT jsonb_build_object('id', 'pre-' || g) FROM generate_series(1, 2000) g),
	ARRAY(SELECT 'pre-' || g FROM generate_series(1, 2000) g));
SELECT broker.publish('grow', NULL, key => 'pre-1');	-- a tombstone
SELECT broker.create_group('grow', 'g', 'earliest');
SELECT broker.create_group('grow', 'fresh', 'earliest');
SQL
# the group part way: a leased consumer commits 600 records
tok=$(r -c "SELECT broker.join('grow', 'g', 'c')")
r -c "SELECT broker.commit('grow', 'g', array_agg(x), 'c')
		FROM broker.poll('grow', 'g', 600, consumer => 'c', lease => '30 s', token => '$tok') x" >/dev/null
before=$(r -c "SELECT partition, offset_id, key, payload FROM generate_series(0, 7) p, broker.read('grow', p, 0, 10000)
				ORDER BY 1, 2" | md5sum)
committed_before=$(r -c "SELECT string_agg(partition || ':' || committed_offset, ',' ORDER BY partition) FROM broker.consumer_lag WHERE consumer_group = 'g'")

# producers through the router during the move
acked=$(mktemp)
producer() {
	local id=$1 i
	for i in $(seq 1 300); do
		if r -c "SELECT broker.publish('grow', jsonb_build_object('id', '$id-$i'), key => '$id-$i')" >/dev/null 2>&1; then
			echo "$id-$i" >>"$acked.$id"
		fi
	done
}
producer p1 & a=$!
producer p2 & b=$!
shard_add_nodes 2
sleep 0.5
if bash scripts/shard_add_nodes.sh -h "$SHARD_SOCK" -p "$SHARD_BASE" -d pgbroker_router -U postgres -- \
		"$(shard_conninfo n2)" "$(shard_conninfo n3)" >"$SHARD_DIR/grow.log" 2>&1; then
	ok "shard_add_nodes.sh: 2 nodes to 4, $(grep -c 'moved to' "$SHARD_DIR/grow.log") partitions moved"
else
	bad "shard_add_nodes.sh"; cat "$SHARD_DIR/grow.log"
fi
wait $a $b
check "the layout of a cluster made with 4 nodes" "0:0,1:1,2:2,3:3,4:0,5:1,6:2,7:3" \
	"$(r -c "SELECT string_agg(partition || ':' || node, ',' ORDER BY partition) FROM broker.topic_partition WHERE topic = 'grow'")"
check "every node holds the topic; the old nodes' moved partitions retired" "4|4" \
	"$(r -c "SELECT count(DISTINCT node) FROM broker.topic_partition WHERE topic = 'grow'")|$(r -c "SELECT count(*) FROM broker.retired_partition WHERE topic = 'grow'")"
check "the records from before: the same partitions, offsets, keys and payloads" "$before" \
	"$(r -c "SELECT partition, offset_id, key, payload FROM generate_series(0, 7) p, broker.read('grow', p, 0, 10000)
			  WHERE key LIKE 'pre-%' ORDER BY 1, 2" | md5sum)"
check "the group's committed offsets" "$committed_before" \
	"$(r -c "SELECT string_agg(partition || ':' || committed_offset, ',' ORDER BY partition) FROM broker.consumer_lag WHERE consumer_group = 'g'")"
cat "$acked".p1 "$acked".p2 | sort >"$acked"
rm -f "$acked".p1 "$acked".p2
stored=$(r -c "SELECT r.payload->>'id' FROM generate_series(0, 7) p, broker.read('grow', p, 0, 10000) r
				WHERE r.key NOT LIKE 'pre-%'" | sort)
check "nothing acknowledged during the move lost, nothing twice" "0|0|$(wc -l <"$acked")" \
	"$(comm -23 "$acked" <(echo "$stored") | wc -l)|$(echo "$stored" | uniq -d | wc -l)|$(echo "$stored" | grep -c .)"
rm -f "$acked"
check "keys still go where partition_for says" "0" \
	"$(r -c "SELECT count(*) FROM generate_series(0, 7) p, broker.read('grow', p, 0, 10000) r
			  WHERE r.key IS NOT NULL AND broker.partition_for('grow', r.key) <> r.partition")"
r -c "SELECT broker.publish('grow', '{\"after\": 1}', partition => 6)" >/dev/null
check "a new record of a moved partition goes to its new node" "1" \
	"$(shard_psql n2 -c "SELECT count(*) FROM broker.read('grow', 1, 0, 10000) WHERE payload = '{\"after\": 1}'")"
# the consumer goes on: everything after its commits, to the end
for _ in $(seq 1 20); do
	r -c "SELECT broker.commit('grow', 'g', array_agg(x), 'c')
			FROM broker.poll('grow', 'g', 1000, consumer => 'c', lease => '30 s', token => '$tok') x" >/dev/null
done
check "the consumer went on to the end on all four nodes" "0|8" \
	"$(r -c "SELECT sum(lag) || '|' || count(*) FROM broker.consumer_lag WHERE consumer_group = 'g'")"

check "move_partition's errors: the node it is on, no such node, a bad batch, no such partition" \
	"22023|22023|22023|22003" \
	"$(sqlstate "CALL broker.move_partition('grow', 0, 0)")|$(sqlstate "CALL broker.move_partition('grow', 0, 9)")|$(sqlstate "CALL broker.move_partition('grow', 0, 1, 0)")|$(sqlstate "CALL broker.move_partition('grow', 8, 1)")"

# a group that had read nothing gets every record once, none from a retired partition
ftok=$(r -c "SELECT broker.join('grow', 'fresh', 'f')")
: >"$SHARD_DIR/fresh"
for _ in $(seq 1 20); do
	r -c "SELECT coalesce(x.partition::text, 'NULL') || ':' || x.offset_id FROM broker.poll('grow', 'fresh', 1000,
			consumer => 'f', lease => '30 s', token => '$ftok') x" >>"$SHARD_DIR/fresh"
	r -c "SELECT broker.commit('grow', 'fresh', 'f', token => '$ftok')" >/dev/null
done
check "a group at earliest: every record once, none with a partition the router does not know" \
	"$(r -c "SELECT sum(latest_offset - earliest_offset) FROM broker.topic_partitions('grow')")|0|0" \
	"$(grep -c . "$SHARD_DIR/fresh")|$(grep -c NULL "$SHARD_DIR/fresh")|$(sort "$SHARD_DIR/fresh" | uniq -d | wc -l)"

echo "$checks checks, $fails failed"
[ "$fails" -eq 0 ]
