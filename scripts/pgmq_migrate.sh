#!/usr/bin/env bash
# scripts/pgmq_migrate.sh - move a database from PGMQ to pgbroker's pgmq.
#
#   scripts/pgmq_migrate.sh [psql connection options...]
#
# Run as a superuser, after "make install-pgmq" (FORCE=1 where PGMQ's own
# files are installed).  In one transaction:
#   1. copies PGMQ's queues (pgmq.meta, every pgmq.q_<queue> and
#      pgmq.a_<queue>, and each queue's last msg_id) into schema
#      pgmq_export;
#   2. drops PGMQ (DROP EXTENSION pgmq CASCADE, or the schema pgmq when it
#      was installed without CREATE EXTENSION), which drops its queue
#      tables;
#   3. CREATE EXTENSION pgmq CASCADE: pgbroker's;
#   4. creates each queue again, then copies its messages with their
#      msg_id, read_ct, enqueued_at, vt (the time each becomes visible
#      again), message and headers, and its archive; later msg_ids continue
#      after PGMQ's last one;
#   5. checks that every queue and archive has as many rows as PGMQ had,
#      and rolls everything back otherwise.
# The copies stay in pgmq_export until you drop that schema.
set -euo pipefail

psql -X -v ON_ERROR_STOP=1 --single-transaction "$@" <<'SQL'
SET client_min_messages = warning;
DO $export$
DECLARE
	q record;
BEGIN
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_class c
				    WHERE c.relnamespace = 'pgmq'::regnamespace AND c.relname = 'meta') THEN
		RAISE EXCEPTION 'no PGMQ here: pgmq.meta does not exist';
	END IF;
	IF EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname = 'pgmq' AND extversion LIKE '%pgbroker%') THEN
		RAISE EXCEPTION 'pgmq is pgbroker''s already';
	END IF;
	CREATE SCHEMA pgmq_export;
	CREATE TABLE pgmq_export.meta AS
		SELECT m.queue_name::text AS queue_name, m.is_partitioned, m.is_unlogged, m.created_at,
			   NULL::bigint AS last_msg_id, NULL::bigint AS messages, NULL::bigint AS archived
		  FROM pgmq.meta m;
	FOR q IN SELECT queue_name FROM pgmq_export.meta LOOP
		EXECUTE format('CREATE TABLE pgmq_export.%I AS SELECT msg_id, read_ct, enqueued_at, vt, message, headers FROM pgmq.%I',
					   'q_' || lower(q.queue_name), 'q_' || lower(q.queue_name));
		EXECUTE format('CREATE TABLE pgmq_export.%I AS SELECT msg_id, read_ct, enqueued_at, archived_at, vt, message, headers FROM pgmq.%I',
					   'a_' || lower(q.queue_name), 'a_' || lower(q.queue_name));
		EXECUTE format('UPDATE pgmq_export.meta SET messages = (SELECT count(*) FROM pgmq_export.%I),'
					   ' archived = (SELECT count(*) FROM pgmq_export.%I),'
					   ' last_msg_id = (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM pgmq.%I)'
					   ' WHERE queue_name = $1',
					   'q_' || lower(q.queue_name), 'a_' || lower(q.queue_name),
					   'q_' || lower(q.queue_name) || '_msg_id_seq')
			USING q.queue_name;
	END LOOP;
	IF EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname = 'pgmq') THEN
		DROP EXTENSION pgmq CASCADE;
	END IF;
	DROP SCHEMA IF EXISTS pgmq CASCADE;
END
$export$;

CREATE EXTENSION pgmq CASCADE;

DO $import$
DECLARE
	q record;
	qid integer;
	n bigint;
BEGIN
	FOR q IN SELECT * FROM pgmq_export.meta ORDER BY created_at, queue_name LOOP
		PERFORM pgmq._create(q.queue_name, q.is_partitioned, q.is_unlogged);
		UPDATE pgmq.meta m SET created_at = q.created_at WHERE m.queue_name = q.queue_name;
		SELECT id INTO qid FROM broker.queue WHERE name = lower(q.queue_name);
		-- a message read and not yet deleted is visible again at its vt,
		-- as in PGMQ; its reads are counted
		EXECUTE format('INSERT INTO broker.%I (id, vis, attempt, enqueued_at, headers, payload)'
					   ' SELECT msg_id, vt, read_ct, enqueued_at, headers, message FROM pgmq_export.%I'
					   ' ON CONFLICT (id) DO NOTHING',
					   'queue_' || qid, 'q_' || lower(q.queue_name));
		EXECUTE format('INSERT INTO pgmq.%I (msg_id, read_ct, enqueued_at, archived_at, vt, message, headers)'
					   ' SELECT msg_id, read_ct, enqueued_at, archived_at, vt, message, headers FROM pgmq_export.%I'
					   ' ON CONFLICT (msg_id) DO NOTHING',
					   'a_' || lower(q.queue_name), 'a_' || lower(q.queue_name));
		IF q.last_msg_id > 0 THEN
			PERFORM pg_catalog.setval(pg_catalog.pg_get_serial_sequence(format('broker.%I', 'queue_' || qid), 'id'),
									  q.last_msg_id);
		END IF;
		EXECUTE format('SELECT count(*) FROM broker.%I', 'queue_' || qid) INTO n;
		IF n <> q.messages THEN
			RAISE EXCEPTION 'queue "%": % messages copied, PGMQ had %', q.queue_name, n, q.messages;
		END IF;
		EXECUTE format('SELECT count(*) FROM pgmq.%I', 'a_' || lower(q.queue_name)) INTO n;
		IF n <> q.archived THEN
			RAISE EXCEPTION 'queue "%": % archived messages copied, PGMQ had %', q.queue_name, n, q.archived;
		END IF;
		RAISE WARNING 'queue "%": % messages, % archived', q.queue_name, q.messages, q.archived;
	END LOOP;
	-- what pgbroker's planner and claims need to know about the new rows
	PERFORM broker.maintain();
END
$import$;
SQL
echo "pgmq_migrate: done; PGMQ's rows are kept in schema pgmq_export (DROP SCHEMA pgmq_export CASCADE when satisfied)"
