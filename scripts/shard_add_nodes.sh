#!/usr/bin/env bash
# scripts/shard_add_nodes.sh - grow a pgbroker_router cluster from N data
# nodes to 2N and move half of every topic's partitions to the new nodes.
#
#   scripts/shard_add_nodes.sh [psql options for the router] -- CONNINFO...
#
# Run as a superuser of the router, with exactly N connection strings of
# new nodes, each with pgbroker installed (CREATE EXTENSION pgbroker) and
# the roles the router's users connect as.  The new nodes join the
# cluster pgbroker_cluster as p<N> .. p<2N-1> (PL/Proxy needs a power of
# two); then every global partition g with g mod 2N >= N moves to node
# g mod 2N with CALL broker.move_partition (its records with their
# offsets, every group's committed offset), so that partitions are spread
# as a cluster created with 2N nodes spreads them.  Producers through the
# router pause on a topic only for the last step of each move; consumers
# take the moved partitions over from their committed offsets.  An
# interrupted run can be started again with no connection strings:
# it goes on moving what is left.  Grants on the topics are not copied:
# grant on the new nodes (or use broker.grant_default) as on the old ones.
set -euo pipefail
psql_opts=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do psql_opts+=("$1"); shift; done
[ "${1:-}" = "--" ] && shift
new=("$@")
q() { psql -X -qAt -v ON_ERROR_STOP=1 "${psql_opts[@]}" "$@"; }

n=$(q -c "SELECT count(*) FROM broker.cluster_node_list()")
if [ ${#new[@]} -gt 0 ]; then
	if [ ${#new[@]} -ne "$n" ]; then
		echo "shard_add_nodes: the cluster has $n nodes: give $n new connection strings (to make $((2 * n)))" >&2
		exit 1
	fi
	opts=""
	for ((i = 0; i < n; i++)); do
		c=${new[$i]//\'/\'\'}
		opts="$opts${opts:+, }ADD p$((n + i)) '$c'"
	done
	q -c "ALTER SERVER pgbroker_cluster OPTIONS ($opts)"
	n=$((2 * n))
	echo "shard_add_nodes: the cluster has $n nodes"
	for ((i = n / 2; i < n; i++)); do
		q -c "SELECT broker._n_ping($i)" >/dev/null || { echo "shard_add_nodes: node $i does not answer" >&2; exit 1; }
	done
fi
# what is left to move: partitions not yet where a cluster of n nodes puts them
q -F ' ' -c "SELECT tp.topic, tp.partition, tp.partition % $n FROM broker.topic_partition tp
			  WHERE tp.node <> tp.partition % $n AND tp.partition % $n >= $n / 2
			  ORDER BY tp.topic, tp.partition" |
while read -r topic partition to; do
	copied=$(q -c "CALL broker.move_partition('${topic//\'/\'\'}', $partition, $to)")
	echo "shard_add_nodes: $topic partition $partition moved to node $to ($copied records)"
done
