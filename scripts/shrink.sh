#!/usr/bin/env bash
# scripts/shrink.sh - a queue that has processed N messages (default one
# million) and is empty again is small again: fill, drain with claim+ack,
# print the sizes of the queue's table and indexes before and after
# broker.maintain().  The drain runs while another session holds an xid
# (VACUUM can remove nothing), which is the case that matters.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000000}
bash scripts/setup.sh
. scripts/cluster.sh
pgbroker_cluster_start
psql -X -q -v ON_ERROR_STOP=1 <<SQL
SET client_min_messages = warning;
CREATE EXTENSION pgbroker;
SELECT broker.create_queue('shrink');
SQL
# a session idle in a transaction that holds an xid, for the whole drain
psql -X -q -c "BEGIN" -c "SELECT txid_current()" -c "SELECT pg_sleep(100000)" >/dev/null 2>&1 &
holder=$!
sleep 1
psql -X -q -v ON_ERROR_STOP=1 <<SQL
SET client_min_messages = warning;
\timing on
SELECT count(*) AS sent FROM generate_series(1, $n, 10000) s,
  LATERAL broker.send_batch('shrink', ARRAY(SELECT jsonb_build_object('n', g, 'body', repeat('x', 80))
                                            FROM generate_series(s, LEAST(s + 9999, $n)) g));
SELECT broker._queue_table(id) AS t FROM broker.queue WHERE name = 'shrink' \gset
SELECT pg_size_pretty(pg_total_relation_size(:'t')) AS size_full;
DO \$\$
DECLARE ids bigint[];
BEGIN
  LOOP
    SELECT array_agg(id) INTO ids FROM broker.claim('shrink', 1000);
    EXIT WHEN ids IS NULL;
    PERFORM broker.ack('shrink', ids);
  END LOOP;
END
\$\$;
\timing off
SELECT count(*) AS left_in_queue FROM broker.peek('shrink', 10);
SELECT pg_size_pretty(pg_total_relation_size(:'t')) AS size_drained;
SELECT queue, truncated FROM broker.maintain();
SELECT pg_size_pretty(pg_total_relation_size(:'t')) AS size_after_maintain;
SQL
kill $holder 2>/dev/null || true
