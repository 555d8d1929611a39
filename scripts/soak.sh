#!/usr/bin/env bash
# scripts/soak.sh [MINUTES] [floor] - producers and consumers that keep up
# with each other for MINUTES (default 10) while another session holds an
# xid the whole time, so VACUUM can remove nothing.  pgbench prints the rate
# and latency every 30 seconds: with pgbroker they stay flat.  With the
# second argument "floor" the same runs on a plain SKIP LOCKED table.
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=${1:-10}
what=${2:-pgbroker}
bash scripts/setup.sh
. scripts/cluster.sh
pgbroker_cluster_start "max_wal_size = 4GB"
work=$(mktemp -d)
trap 'rm -rf "$work"; pgbroker_cluster_stop' EXIT
psql -X -q -v ON_ERROR_STOP=1 <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION pgbroker;
SELECT broker.create_queue('soak');
CREATE TABLE soak_floor (id bigserial PRIMARY KEY, payload jsonb, created_at timestamptz DEFAULT now());
SQL
if [ "$what" = floor ]; then
	echo "INSERT INTO soak_floor (payload) VALUES ('{\"n\": 1, \"body\": \"soak-payload-0123456789abcdefghijklmnopqrstuvwxyz\"}');" >"$work/produce.sql"
	echo "DELETE FROM soak_floor WHERE id IN (SELECT id FROM soak_floor ORDER BY id LIMIT 10 FOR UPDATE SKIP LOCKED) RETURNING *;" >"$work/consume.sql"
else
	echo "SELECT broker.send('soak', '{\"n\": 1, \"body\": \"soak-payload-0123456789abcdefghijklmnopqrstuvwxyz\"}');" >"$work/produce.sql"
	echo "WITH c AS (SELECT * FROM broker.claim('soak', 10)) SELECT broker.ack('soak', array_agg(id)) FROM c HAVING count(*) > 0;" >"$work/consume.sql"
fi
psql -X -q -c "BEGIN" -c "SELECT txid_current()" -c "SELECT pg_sleep(100000)" >/dev/null 2>&1 &
sleep 1
echo "soak: $what, $minutes minutes, 4 clients (half producing one message, half consuming up to 10), xid held"
"$PG_BINDIR/pgbench" -n -M prepared -c 4 -j 2 -T $((minutes * 60)) -P 30 \
	-f "$work/produce.sql@1" -f "$work/consume.sql@1" 2>&1 | grep -vE "^(pgbench \(|transaction type|scaling|query mode|number of (clients|threads)|maximum number|duration)"
psql -X -q -c "SELECT pg_size_pretty(pg_total_relation_size(broker._queue_table(id)::regclass)) AS queue_size, (SELECT count(*) FROM broker.peek('soak', 10000)) AS left_in_queue FROM broker.queue WHERE name = 'soak'" -c "SELECT pg_size_pretty(pg_total_relation_size('soak_floor')) AS floor_size, (SELECT count(*) FROM soak_floor) AS left_in_floor"
