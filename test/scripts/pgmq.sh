#!/usr/bin/env bash
# test/scripts/pgmq.sh - pgbroker's pgmq: installed by make install-pgmq
# (and refused over a pgmq it did not install), its regression and
# isolation suites, PGMQ's JavaScript client (pgmq-js, installed from the
# npm registry) unchanged against it, and scripts/pgmq_migrate.sh on a
# database laid out as PGMQ lays it out.
set -euo pipefail
cd "$(dirname "$0")/../.."
top=$(pwd)
. scripts/cluster.sh
. test/scripts/checks.sh
q() { psql -X -qAt -v ON_ERROR_STOP=1 "$@"; }

# --- installation ---------------------------------------------------------
control="$(pg_config --sharedir)/extension/pgmq.control"
make -s install-pgmq >/dev/null
saved=$(mktemp)
cp "$control" "$saved"
echo "comment = 'another pgmq'" >"$control"
if make -s install-pgmq >/dev/null 2>&1; then bad "install-pgmq refuses a pgmq.control it did not install"
else ok "install-pgmq refuses a pgmq.control it did not install"; fi
check "the foreign control file is left alone" "comment = 'another pgmq'" "$(cat "$control")"
make -s install-pgmq FORCE=1 >/dev/null
check "FORCE=1 installs anyway" "$(cat "$saved")" "$(cat "$control")"
rm -f "$saved"
version=$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$control")
case "$version" in
*pgbroker*) ok "the version ($version) is not a PGMQ version" ;;
*) bad "the version ($version) is not a PGMQ version" ;;
esac

pgbroker_cluster_start

# --- regression and isolation suites -----------------------------------------
rm -rf pgmq/output_regress pgmq/output_iso
if make -s -C pgmq installcheck >"$top/pgmq/installcheck.log" 2>&1; then
	ok "pgmq regression and isolation suites"
else
	bad "pgmq regression and isolation suites"
	cat pgmq/installcheck.log
	for f in pgmq/output_regress/regression.diffs pgmq/output_iso/regression.diffs; do
		[ -s "$f" ] && head -100 "$f"
	done
fi

# --- PGMQ's JavaScript client -----------------------------------------------
createdb js
if [ ! -d test/pgmq/node_modules/pgmq-js ]; then
	(cd test/pgmq && npm ci --silent --no-audit --no-fund >/dev/null)
fi
if PGDATABASE=js node test/pgmq/client.js; then ok "pgmq-js: every call of the client"
else bad "pgmq-js: every call of the client"; fi

# --- moving over from PGMQ --------------------------------------------------
# A database with PGMQ's documented layout (meta, q_ and a_ tables, msg_id
# identity), some messages read (read_ct, vt ahead), some archived.
createdb mig
q -d mig >/dev/null <<'SQL'
CREATE EXTENSION pg_partman;
CREATE SCHEMA pgmq;
CREATE TABLE pgmq.meta (queue_name varchar UNIQUE NOT NULL, is_partitioned boolean NOT NULL,
	is_unlogged boolean NOT NULL, created_at timestamptz DEFAULT now() NOT NULL);
CREATE FUNCTION pg_temp.pgmq_queue(name text, unlogged boolean) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE format('CREATE TABLE pgmq.%I (msg_id bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY,'
				   ' read_ct int DEFAULT 0 NOT NULL, enqueued_at timestamptz DEFAULT now() NOT NULL,'
				   ' vt timestamptz NOT NULL, message jsonb, headers jsonb)', 'q_' || name);
	EXECUTE format('CREATE TABLE pgmq.%I (msg_id bigint PRIMARY KEY, read_ct int DEFAULT 0 NOT NULL,'
				   ' enqueued_at timestamptz DEFAULT now() NOT NULL, archived_at timestamptz DEFAULT now() NOT NULL,'
				   ' vt timestamptz NOT NULL, message jsonb, headers jsonb)', 'a_' || name);
	EXECUTE format('CREATE INDEX %I ON pgmq.%I (vt)', 'q_' || name || '_vt_idx', 'q_' || name);
	INSERT INTO pgmq.meta VALUES (name, false, unlogged, now() - interval '1 day');
END $$;
SELECT pg_temp.pgmq_queue('orders', false), pg_temp.pgmq_queue('events', true), pg_temp.pgmq_queue('empty', false);
INSERT INTO pgmq.q_orders (vt, message, headers, enqueued_at)
	SELECT now() - interval '1 minute', jsonb_build_object('n', g), CASE WHEN g % 2 = 0 THEN '{"h": 1}'::jsonb END,
		   now() - interval '1 hour'
	  FROM generate_series(1, 1000) g;
-- 10 read (vt an hour ahead, read 3 times), 100 archived, 50 deleted
UPDATE pgmq.q_orders SET read_ct = 3, vt = now() + interval '1 hour' WHERE msg_id <= 10;
WITH a AS (DELETE FROM pgmq.q_orders WHERE msg_id BETWEEN 11 AND 110 RETURNING *)
INSERT INTO pgmq.a_orders (msg_id, read_ct, enqueued_at, vt, message, headers)
	SELECT msg_id, read_ct, enqueued_at, vt, message, headers FROM a;
DELETE FROM pgmq.q_orders WHERE msg_id BETWEEN 111 AND 160;
INSERT INTO pgmq.q_events (vt, message) SELECT now(), to_jsonb(g) FROM generate_series(1, 20) g;
SQL
if bash scripts/pgmq_migrate.sh -d mig >"$top/pgmq/migrate.log" 2>&1; then ok "pgmq_migrate.sh ran"
else bad "pgmq_migrate.sh ran"; cat pgmq/migrate.log; fi
check "the extension is pgbroker's now" "$version" "$(q -d mig -c "SELECT extversion FROM pg_extension WHERE extname = 'pgmq'")"
check "queues, their flags and creation times" "empty|false|false|true,events|false|true|true,orders|false|false|true" \
	"$(q -d mig -c "SELECT string_agg(queue_name || '|' || is_partitioned || '|' || is_unlogged || '|' || (created_at < now() - interval '23 hours'), ',' ORDER BY queue_name) FROM pgmq.list_queues()")"
check "messages: as many, same ids, read counts, times, payloads, headers" "850|10|840|425|t" \
	"$(q -d mig -c "SELECT count(*), count(*) FILTER (WHERE read_ct = 3 AND vt > now() + interval '59 minutes'),
		count(*) FILTER (WHERE read_ct = 0 AND vt < now()), count(headers),
		bool_and(message = jsonb_build_object('n', msg_id) AND enqueued_at < now() - interval '59 minutes')
		FROM pgmq.q_orders")"
check "archive: as many, same rows" "100|11|110" \
	"$(q -d mig -c "SELECT count(*), min(msg_id), max(msg_id) FROM pgmq.a_orders")"
check "the metrics agree" "orders|850|1000|840" \
	"$(q -d mig -c "SELECT queue_name || '|' || queue_length || '|' || total_messages || '|' || queue_visible_length FROM pgmq.metrics('orders')")"
check "a read takes the first visible message" "161|1" \
	"$(q -d mig -c "SELECT msg_id || '|' || read_ct FROM pgmq.read('orders', 30, 1)")"
check "new ids continue after PGMQ's last" "1001" "$(q -d mig -c "SELECT * FROM pgmq.send('orders', '{}')")"
check "the unlogged queue's messages" "20" "$(q -d mig -c "SELECT count(*) FROM pgmq.read('events', 30, 100)")"
check "PGMQ's rows kept in pgmq_export" "850" "$(q -d mig -c "SELECT count(*) FROM pgmq_export.q_orders")"
if bash scripts/pgmq_migrate.sh -d mig >/dev/null 2>&1; then bad "a second migration is refused"
else ok "a second migration is refused"; fi

echo "$checks checks, $fails failed"
[ "$fails" -eq 0 ]
