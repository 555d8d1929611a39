#!/usr/bin/env bash
# test/scripts/limits.sh - resource limits: running out of disk, and
# statements cancelled in the middle of every public function.
#
# (a) Out of disk.  pgbroker has no tablespace option: a queue's table and
#     a topic's segment tables are created in the default_tablespace of the
#     session that creates them (create_queue, create_topic, and maintain()
#     for later segments).  As root, this mounts a 24 MB tmpfs, makes it a
#     tablespace, creates a queue and a topic there (checked through
#     pg_class.reltablespace) next to a ballast table, and produces until
#     sends and publishes fail.  They must fail with 53100 (disk_full) and
#     nothing committed may be lost: the queue holds exactly the messages
#     of the batches that committed, the topic exactly the records of the
#     publishes that committed, at dense offsets.  Consuming while the disk
#     is full must work or fail cleanly; after the ballast is dropped,
#     producing and consuming work again and everything committed comes
#     out.  The tmpfs is unmounted at exit, also on failure.  Without root,
#     or if the mount fails, part (a) prints a SKIP line.
#
# (b) Cancellation.  For every public function: a second session holds a
#     lock on a table the call needs (chosen so that most calls have done
#     part of their work by then: a send with a dedup key has taken the
#     key, a publish is in its commit-time append, an ack has deleted the
#     message, a poll has read its records), the call blocks on it and is
#     cancelled with pg_cancel_backend().  Afterwards every table of schema
#     broker must be exactly as before (a digest of their contents), and
#     the same session must go on sending, claiming, acking, publishing,
#     reading and polling (its backend-local state is intact).  Then every
#     function runs 20 times with statement_timeout between 1 and 5 ms
#     (cancelled at whatever point it had reached), after which the
#     queue's view, peek and table agree, every ready message can be
#     claimed and acked, the topic's offsets are dense, and no backend
#     holds a pgbroker lock.
#
# Runs against the server the PG* variables point at (part (a) needs it on
# this machine, running as the OS user $PGBROKER_PG_OSUSER, default
# postgres).  Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/../.."

db=pgbroker_limits
ts=pgbroker_limits_ts
pg_os_user=${PGBROKER_PG_OSUSER:-postgres}
mnt=
failures=0
psql_q() { psql -X -q -v ON_ERROR_STOP=1 -At "$@"; }
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

cleanup() {
	set +e
	# end any session of ours still running, then drop what lives on the tmpfs
	psql -X -q -At -d postgres -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = '$db' AND pid <> pg_backend_pid()" >/dev/null 2>&1
	dropdb --if-exists "$db" >/dev/null 2>&1
	psql -X -q -d postgres -c "DROP TABLESPACE IF EXISTS $ts" >/dev/null 2>&1
	if [ -n "$mnt" ]; then
		umount "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null
		rmdir "$mnt" 2>/dev/null
	fi
}
trap cleanup EXIT
cleanup
mnt=

start=$(date +%s)

# ---------------------------------------------------------------------
# (a) out of disk
# ---------------------------------------------------------------------
disk_test() {
	local qtbl ttbl q_ok=0 t_ok=0 q_fail=0 t_fail=0 line codes

	if [ "$(id -u)" != 0 ]; then
		echo "SKIP: out of disk: not root (a tmpfs tablespace needs mount)"
		return 0
	fi
	mnt=$(mktemp -d /tmp/pgbroker_disk.XXXXXX)
	if ! mount -t tmpfs -o size=24m tmpfs "$mnt" 2>/dev/null; then
		echo "SKIP: out of disk: mount -t tmpfs failed"
		rmdir "$mnt"
		mnt=
		return 0
	fi
	mkdir "$mnt/ts"
	chown "$pg_os_user:" "$mnt/ts"
	chmod 700 "$mnt/ts"
	psql_q -d postgres -c "CREATE TABLESPACE $ts LOCATION '$mnt/ts'"
	createdb "$db"
	psql_q -d "$db" >/dev/null <<SQL
SET client_min_messages = warning;
CREATE EXTENSION pgbroker;
SET default_tablespace = $ts;
SELECT broker.create_queue('disk_q');
SELECT broker.create_topic('disk_t', partitions => 2);
CREATE TABLE ballast (b text) WITH (toast_tuple_target = 8160);
ALTER TABLE ballast ALTER COLUMN b SET STORAGE EXTERNAL;
INSERT INTO ballast SELECT string_agg(md5(i::text || random()::text), '')
  FROM generate_series(1, 8192) i, generate_series(1, 32) j GROUP BY j;
SQL
	qtbl=$(psql_q -d "$db" -c "SELECT 'broker.queue_' || id FROM broker.queue WHERE name = 'disk_q'")
	ttbl=$(psql_q -d "$db" -c "SELECT 'broker.topic_' || id || '_1' FROM broker.topic WHERE name = 'disk_t'")
	# the tables, their indexes and TOAST tables are on the tmpfs
	line=$(psql_q -d "$db" -c "
		SELECT count(*) FILTER (WHERE t.spcname IS DISTINCT FROM '$ts'), count(*)
		  FROM pg_class c LEFT JOIN pg_tablespace t ON t.oid = c.reltablespace
		 WHERE c.oid IN ('$qtbl'::regclass, '$ttbl'::regclass, 'ballast'::regclass)
			OR c.oid IN (SELECT indexrelid FROM pg_index
						  WHERE indrelid IN ('$qtbl'::regclass, '$ttbl'::regclass))
			OR c.oid IN (SELECT reltoastrelid FROM pg_class
						  WHERE oid IN ('$qtbl'::regclass, '$ttbl'::regclass))")
	if [ "${line%%|*}" != 0 ]; then
		fail "out of disk: ${line%%|*} of ${line#*|} relations of the queue and topic are not in tablespace $ts"
		return 0
	fi
	echo "disk: queue $qtbl and topic $ttbl (${line#*|} relations with indexes and TOAST) in tablespace $ts on a 24 MB tmpfs;" \
		"ballast $(psql_q -d "$db" -c "SELECT pg_size_pretty(pg_total_relation_size('ballast'))"), $(df -h --output=avail "$mnt" | tail -1 | tr -d ' ') free"

	# produce: batches of 50 messages and 50 records of 3 kB, each its own
	# transaction, until well after the first failures
	{
		for i in $(seq 1 160); do
			cat <<SQL
SELECT count(*) FROM broker.send_batch('disk_q', (SELECT array_agg(jsonb_build_object('n', g,
	'pad', (SELECT string_agg(md5(g::text || h::text || random()::text), '') FROM generate_series(1, 96) h)))
	FROM generate_series(1, 50) g));
\\if :ERROR
\\echo Q FAIL :SQLSTATE
\\else
\\echo Q OK
\\endif
SELECT broker.publish_batch('disk_t', (SELECT array_agg(jsonb_build_object('n', g,
	'pad', (SELECT string_agg(md5(g::text || h::text || random()::text), '') FROM generate_series(1, 96) h)))
	FROM generate_series(1, 50) g));
\\if :ERROR
\\echo T FAIL :SQLSTATE
\\else
\\echo T OK
\\endif
SQL
		done
	} | psql -X -q -At -v ON_ERROR_STOP=0 -d "$db" 2>/dev/null | grep -E '^(Q|T) ' >"$mnt.out" || true
	q_ok=$(grep -c '^Q OK' "$mnt.out" || true)
	t_ok=$(grep -c '^T OK' "$mnt.out" || true)
	q_fail=$(grep -c '^Q FAIL' "$mnt.out" || true)
	t_fail=$(grep -c '^T FAIL' "$mnt.out" || true)
	codes=$(grep FAIL "$mnt.out" | awk '{print $3}' | sort | uniq -c | awk '{printf "%s%s:%s", sep, $2, $1; sep=" "}')
	rm -f "$mnt.out"
	echo "disk: send_batch committed $q_ok, failed $q_fail; publish_batch committed $t_ok, failed $t_fail (errors $codes)"
	[ "$q_fail" -gt 0 ] || fail "out of disk: sends never failed"
	[ "$t_fail" -gt 0 ] || fail "out of disk: publishes never failed"
	if [ -n "$codes" ] && [ "$(echo "$codes" | tr ' ' '\n' | grep -vc '^53100:')" != 0 ]; then
		fail "out of disk: errors other than 53100: $codes"
	fi

	# nothing committed lost, nothing of a failed transaction kept
	check_counts() {	# check_counts WHEN EXPECTED_MESSAGES EXPECTED_RECORDS
		local got
		got=$(psql_q -d "$db" -c "SELECT (SELECT count(*) FROM $qtbl) || ' ' ||
			(SELECT messages FROM broker.queues WHERE queue = 'disk_q') || ' ' ||
			(SELECT sum(latest_offset - earliest_offset) FROM broker.topic_partitions('disk_t')) || ' ' ||
			(SELECT count(*) FROM broker.topic_partitions('disk_t') p, broker.read('disk_t', p.partition, 0, 10000) r) || ' ' ||
			(SELECT count(*) FROM broker.topic_partitions('disk_t') p,
				LATERAL (SELECT offset_id - lag(offset_id) OVER (ORDER BY offset_id) AS step
						   FROM broker.read('disk_t', p.partition, 0, 10000)) s WHERE s.step <> 1)")
		if [ "$got" != "$2 $2 $3 $3 0" ]; then
			fail "out of disk, $1: table, view, end offsets, records read, offset gaps: $got; expected $2 $2 $3 $3 0"
		else
			echo "disk, $1: queue holds $2 messages, topic $3 records at dense offsets, as committed"
		fi
	}
	check_counts "when full" $((q_ok * 50)) $((t_ok * 50))

	# consume while full: it works, or fails without changing anything
	line=$(psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" 2>&1 <<'SQL' || true
BEGIN;
SELECT count(broker.ack('disk_q', id, receipt)) FROM broker.claim('disk_q', 100);
COMMIT;
SQL
)
	case $line in
		100) echo "disk: claimed and acked 100 messages while full"; q_ok=$((q_ok - 2)) ;;
		*ERROR*) echo "disk: consuming while full failed: $(echo "$line" | head -1)" ;;
		*) fail "out of disk: claim and ack while full returned $line" ;;
	esac
	check_counts "after consuming while full" $((q_ok * 50)) $((t_ok * 50))

	# free space: drop the ballast; producing and consuming work again
	psql_q -d "$db" -c "DROP TABLE ballast"
	echo "disk: ballast dropped, $(df -h --output=avail "$mnt" | tail -1 | tr -d ' ') free"
	line=$(psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" 2>&1 <<'SQL' || true
SELECT broker.send('disk_q', '{"after": true}') > 0;
SELECT broker.publish('disk_t', '{"after": true}', partition => 0);
SQL
)
	if [ "$(echo "$line" | head -1)" != t ]; then
		fail "out of disk: producing after space was freed: $line"
		return 0
	fi
	check_counts "after freeing space" $((q_ok * 50 + 1)) $((t_ok * 50 + 1))
	line=$(psql_q -d "$db" <<'SQL'
SELECT count(broker.ack('disk_q', id, receipt)) FROM broker.claim('disk_q', 10000);
SELECT messages FROM broker.queues WHERE queue = 'disk_q';
SQL
)
	if [ "$line" != "$((q_ok * 50 + 1))
0" ]; then
		fail "out of disk: consumed $(echo $line), expected $((q_ok * 50 + 1)) and an empty queue"
	else
		echo "disk: consumed all $((q_ok * 50 + 1)) messages after freeing space"
	fi
	dropdb "$db"
	psql_q -d postgres -c "DROP TABLESPACE $ts"
	umount "$mnt" && rmdir "$mnt" && mnt=
}

# ---------------------------------------------------------------------
# (b) cancellation in the middle of every function
# ---------------------------------------------------------------------
setup_cancel_db() {
	dropdb --if-exists "$db" >/dev/null 2>&1 || true
	createdb "$db"
	psql_q -d "$db" >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION pgbroker;
SELECT broker.create_queue('lim_q', max_attempts => 1, dedup_window => '1 hour');
SELECT broker.send('lim_q', jsonb_build_object('n', i), dedup_key => 'k' || i,
				   headers => '{"type": "a"}') FROM generate_series(1, 20) i;
SELECT broker.send('lim_q', '{"delayed": true}', delay => '1 hour');
SELECT broker.send('lim_q', '{"grouped": 1}', group_key => 'grp');
SELECT broker.send('lim_q', '{"grouped": 2}', group_key => 'grp');
CREATE TABLE lim_leased AS SELECT id, receipt FROM broker.claim('lim_q', 3, lease => '1 hour');
SELECT broker.nack('lim_q', id, receipt, error => 'to the dead letters')
  FROM broker.claim('lim_q', 1, lease => '1 hour');
SELECT broker.create_topic('lim_t', partitions => 2);
SELECT broker.publish('lim_t', jsonb_build_object('n', i), key => 'k' || i) FROM generate_series(1, 20) i;
SELECT broker.create_group('lim_t', 'g', 'earliest');
SELECT broker.create_group('lim_t', 'leased', 'earliest');
SELECT count(*) FROM broker.poll('lim_t', 'leased', 5, consumer => 'c1', lease => '1 hour');
SELECT count(*) FROM broker.maintain();
-- a digest of every table of schema broker
CREATE FUNCTION lim_state() RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	r text := '';
	t text;
	tbl regclass;
BEGIN
	FOR tbl IN SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
				WHERE n.nspname = 'broker' AND c.relkind = 'r' ORDER BY c.relname LOOP
		EXECUTE format('SELECT %L || '':'' || count(*) || '':'' || coalesce(md5(string_agg(x::text, '','' ORDER BY x::text)), '''') FROM %s x',
					   tbl::text, tbl) INTO t;
		r := r || t || ' ';
	END LOOP;
	RETURN r;
END $$;
-- wait (polling every 10 ms) until a query returns true; false after secs
CREATE FUNCTION lim_wait(cond text, secs float8) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
	ok boolean;
	deadline timestamptz := clock_timestamp() + secs * interval '1 second';
BEGIN
	LOOP
		PERFORM pg_stat_clear_snapshot();
		EXECUTE cond INTO ok;
		IF ok THEN
			RETURN true;
		ELSIF clock_timestamp() > deadline THEN
			RETURN false;
		END IF;
		PERFORM pg_sleep(0.01);
	END LOOP;
END $$;
-- once the victim waits for the holder's lock, cancel it; when the cancel
-- has landed (the session runs its follow-up, which may wait for the lock
-- too, or has ended), cancel the holder
CREATE FUNCTION lim_cancel() RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	res text := 'blocked';
BEGIN
	IF NOT lim_wait($q$SELECT EXISTS (SELECT 1 FROM pg_stat_activity
			WHERE application_name = 'lim_victim' AND wait_event_type = 'Lock')$q$, 5) THEN
		res := 'not blocked';
	ELSE
		PERFORM pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = 'lim_victim';
		IF NOT lim_wait($q$SELECT NOT EXISTS (SELECT 1 FROM pg_stat_activity
				WHERE application_name = 'lim_victim' AND query NOT LIKE '%''F_''%')$q$, 5) THEN
			res := 'cancel did not land';
		END IF;
	END IF;
	PERFORM pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = 'lim_holder';
	RETURN res;
END $$;
SQL
}

# name | lock (table and mode) | call.  @Q@ the queue's table, @S@ the
# topic's current segment, @ID@/@RC@ a leased message, @QID@/@TID@ ids.
calls_list() {
	cat <<'EOF'
create_queue|broker.queue IN EXCLUSIVE MODE|SELECT broker.create_queue('lim_new')
alter_queue|broker.queue IN EXCLUSIVE MODE|SELECT broker.alter_queue('lim_q', max_attempts => 2, ttl => '1 day')
alter_queue(notify)|broker.queue IN EXCLUSIVE MODE|SELECT broker.alter_queue('lim_q', notify => true)
drop_queue|@Q@ IN ACCESS EXCLUSIVE MODE|SELECT broker.drop_queue('lim_q')
purge|@Q@ IN ACCESS EXCLUSIVE MODE|SELECT broker.purge('lim_q')
send|@Q@ IN EXCLUSIVE MODE|SELECT broker.send('lim_q', '{"new": 1}', dedup_key => 'knew', group_key => 'grp')
send_bytes|@Q@ IN EXCLUSIVE MODE|SELECT broker.send_bytes('lim_q', '\x00ff', dedup_key => 'knew2')
send_batch|@Q@ IN EXCLUSIVE MODE|SELECT * FROM broker.send_batch('lim_q', ARRAY['{"a": 1}', '{"a": 2}']::jsonb[], dedup_keys => ARRAY['kb1', 'kb2'])
send_batch_bytes|@Q@ IN EXCLUSIVE MODE|SELECT * FROM broker.send_batch_bytes('lim_q', ARRAY['\x01', '\x02']::bytea[])
claim|@Q@ IN ACCESS EXCLUSIVE MODE|SELECT id FROM broker.claim('lim_q', 5)
claim(leased)|@Q@ IN ACCESS EXCLUSIVE MODE|SELECT id FROM broker.claim('lim_q', 5, lease => '1 minute')
claim(wait)|@Q@ IN ACCESS EXCLUSIVE MODE|SELECT id FROM broker.claim('lim_q', 5, wait => '10 seconds', filter => '{"type": "none"}')
claim_wait|@Q@ IN ACCESS EXCLUSIVE MODE|CALL broker.claim_wait('lim_q', 5, wait => '10 seconds')
ack(id)|broker.dedup IN EXCLUSIVE MODE|SELECT broker.ack('lim_q', @ID@, '@RC@')
ack(ids)|broker.dedup IN EXCLUSIVE MODE|SELECT broker.ack('lim_q', ARRAY[@ID@])
nack|broker.dead_letter IN EXCLUSIVE MODE|SELECT broker.nack('lim_q', @ID@, '@RC@', error => 'cancelled?')
extend|@Q@ IN ACCESS EXCLUSIVE MODE|SELECT broker.extend('lim_q', @ID@, '@RC@', '2 hours')
peek|@Q@ IN ACCESS EXCLUSIVE MODE|SELECT count(*) FROM broker.peek('lim_q', 100)
cancel|broker.dedup IN EXCLUSIVE MODE|SELECT broker.cancel('lim_q', (SELECT min(id) FROM broker.peek('lim_q', 100) WHERE state = 'ready'))
dead_letters|broker.dead_letter IN ACCESS EXCLUSIVE MODE|SELECT count(*) FROM broker.dead_letters('lim_q')
redrive|@Q@ IN EXCLUSIVE MODE|SELECT broker.redrive('lim_q')
maintain|@Q@ IN ACCESS EXCLUSIVE MODE|SELECT count(*) FROM broker.maintain()
queue_stats|@Q@ IN ACCESS EXCLUSIVE MODE|SELECT * FROM broker.queue_stats(@QID@)
view queues|@Q@ IN ACCESS EXCLUSIVE MODE|SELECT count(*) FROM broker.queues
create_topic|broker.topic IN EXCLUSIVE MODE|SELECT broker.create_topic('lim_new_t')
alter_topic|broker.topic IN EXCLUSIVE MODE|SELECT broker.alter_topic('lim_t', partitions => 3, retention => '1 day')
alter_topic(notify)|broker.topic IN EXCLUSIVE MODE|SELECT broker.alter_topic('lim_t', notify => true)
drop_topic|@S@ IN ACCESS EXCLUSIVE MODE|SELECT broker.drop_topic('lim_t')
publish|@S@ IN EXCLUSIVE MODE|SELECT broker.publish('lim_t', '{"new": 1}', key => 'k1')
publish_bytes|@S@ IN EXCLUSIVE MODE|SELECT broker.publish_bytes('lim_t', '\x00ff', partition => 1, dedup_key => 'd1')
publish_batch|@S@ IN EXCLUSIVE MODE|SELECT broker.publish_batch('lim_t', ARRAY['{"a": 1}', '{"a": 2}']::jsonb[], keys => ARRAY['x', 'y'])
publish_batch_bytes|@S@ IN EXCLUSIVE MODE|SELECT broker.publish_batch_bytes('lim_t', ARRAY['\x01', '\x02']::bytea[])
partition_for|broker.topic IN ACCESS EXCLUSIVE MODE|SELECT broker.partition_for('lim_t', 'k1')
read|@S@ IN ACCESS EXCLUSIVE MODE|SELECT count(*) FROM broker.read('lim_t', 0, 0)
latest_offset|@S@ IN ACCESS EXCLUSIVE MODE|SELECT broker.latest_offset('lim_t', 0)
earliest_offset|broker.segment IN ACCESS EXCLUSIVE MODE|SELECT broker.earliest_offset('lim_t', 0)
offset_for_time|@S@ IN ACCESS EXCLUSIVE MODE|SELECT broker.offset_for_time('lim_t', 0, now() - interval '1 hour')
topic_partitions|@S@ IN ACCESS EXCLUSIVE MODE|SELECT count(*) FROM broker.topic_partitions('lim_t')
topic_stats|@S@ IN ACCESS EXCLUSIVE MODE|SELECT records FROM broker.topic_stats(@TID@)
maintain_topics|broker.topic_dedup IN ACCESS EXCLUSIVE MODE|SELECT count(*) FROM broker.maintain_topics()
view topics|@S@ IN ACCESS EXCLUSIVE MODE|SELECT count(*) FROM broker.topics
create_group|broker.consumer_group IN EXCLUSIVE MODE|SELECT broker.create_group('lim_t', 'g_new', 'earliest')
delete_group|broker.group_state IN EXCLUSIVE MODE|SELECT broker.delete_group('lim_t', 'g')
commit(offset)|broker.group_state IN EXCLUSIVE MODE|SELECT broker.commit('lim_t', 'g', 0, 1)
commit(records)|broker.group_state IN EXCLUSIVE MODE|SELECT broker.commit('lim_t', 'g', (SELECT array_agg(r) FROM broker.read('lim_t', 0, 0, 2) r))
extend_lease|broker.group_state IN EXCLUSIVE MODE|SELECT broker.extend_lease('lim_t', 'leased', 'c1', '2 hours')
leave|broker.group_state IN EXCLUSIVE MODE|SELECT broker.leave('lim_t', 'leased', 'c1')
seek(text)|broker.group_state IN EXCLUSIVE MODE|SELECT broker.seek('lim_t', 'g', 'latest')
seek(bigint)|broker.group_state IN EXCLUSIVE MODE|SELECT broker.seek('lim_t', 'g', 3::bigint, 0)
seek(timestamptz)|broker.group_state IN EXCLUSIVE MODE|SELECT broker.seek('lim_t', 'g', now())
poll|broker.group_state IN EXCLUSIVE MODE|SELECT count(*) FROM broker.poll('lim_t', 'g', 10)
poll(leased)|broker.group_state IN EXCLUSIVE MODE|SELECT count(*) FROM broker.poll('lim_t', 'g', 10, consumer => 'c2', lease => '1 minute')
poll(wait)|broker.group_state IN EXCLUSIVE MODE|SELECT count(*) FROM broker.poll('lim_t', 'g_none', 10, wait => '10 seconds')
poll_wait|broker.group_state IN EXCLUSIVE MODE|CALL broker.poll_wait('lim_t', 'g', 10, wait => '10 seconds', consumer => 'c3', lease => '1 minute')
view consumer_lag|broker.group_state IN ACCESS EXCLUSIVE MODE|SELECT count(*) FROM broker.consumer_lag
EOF
}

# what the same session does after its call was cancelled: net nothing
followup() {
	cat <<'SQL'
SELECT 'F1', broker.send('lim_q', '{"f": 1}', headers => '{"followup": true}') > 0;
SELECT 'F2', broker.ack('lim_q', id, receipt) FROM broker.claim('lim_q', 1, filter => '{"followup": true}');
BEGIN;
SELECT 'F3', broker.publish('lim_t', '{"f": 1}', partition => 0);
ROLLBACK;
SELECT 'F4', count(*) FROM broker.read('lim_t', 0, 0);
BEGIN;
SELECT 'F5', count(*) > 0 FROM broker.poll('lim_t', 'g', 100);
ROLLBACK;
SQL
}


cancel_test() {
	local qtbl seg qid tid id rc name lock sql before after out hpid vpid blocked=0 n=0

	setup_cancel_db
	qid=$(psql_q -d "$db" -c "SELECT id FROM broker.queue WHERE name = 'lim_q'")
	tid=$(psql_q -d "$db" -c "SELECT id FROM broker.topic WHERE name = 'lim_t'")
	qtbl=broker.queue_$qid
	seg=$(psql_q -d "$db" -c "SELECT 'broker.topic_' || topic_id || '_' || seg_no FROM broker.segment
		WHERE topic_id = $tid AND sealed_at IS NULL AND start_offsets IS NOT NULL")
	id=$(psql_q -d "$db" -c "SELECT id FROM lim_leased ORDER BY id LIMIT 1")
	rc=$(psql_q -d "$db" -c "SELECT receipt FROM lim_leased ORDER BY id LIMIT 1")

	while IFS='|' read -r name lock sql; do
		n=$((n + 1))
		lock=${lock//@Q@/$qtbl}
		lock=${lock//@S@/$seg}
		sql=${sql//@Q@/$qtbl}
		sql=${sql//@S@/$seg}
		sql=${sql//@ID@/$id}
		sql=${sql//@RC@/$rc}
		sql=${sql//@QID@/$qid}
		sql=${sql//@TID@/$tid}
		before=$(psql_q -d "$db" -c "SELECT lim_state()")

		PGAPPNAME=lim_holder psql -X -q -d "$db" \
			-c "BEGIN; LOCK TABLE $lock; SELECT pg_sleep(30); ROLLBACK;" >/dev/null 2>&1 &
		hpid=$!
		if [ "$(psql_q -d "$db" -c "SELECT lim_wait(\$q\$SELECT EXISTS (SELECT 1 FROM pg_stat_activity
				WHERE application_name = 'lim_holder' AND wait_event = 'PgSleep')\$q\$, 5)")" != t ]; then
			fail "$name: the lock holder did not start"
			kill "$hpid" 2>/dev/null || true
			continue
		fi
		{ echo "$sql;"; followup; } |
			PGAPPNAME=lim_victim psql -X -q -At -v ON_ERROR_STOP=0 -d "$db" >"/tmp/pgbroker_limits.$$" 2>&1 &
		vpid=$!
		out=$(psql_q -d "$db" -c "SELECT lim_cancel()")
		case $out in
			blocked) blocked=$((blocked + 1)) ;;
			*) fail "$name: LOCK TABLE $lock: $out" ;;
		esac
		wait "$vpid" || true
		wait "$hpid" || true
		out=$(cat "/tmp/pgbroker_limits.$$")
		rm -f "/tmp/pgbroker_limits.$$"
		if ! echo "$out" | grep -q "canceling statement due to user request"; then
			fail "$name: not cancelled: $(echo "$out" | head -3 | tr '\n' ' ')"
		fi
		if [ "$(echo "$out" | grep -cE '^F[1-5]\|')" != 5 ] || echo "$out" | grep -qE '^F[12]\|f'; then
			fail "$name: the session did not carry on after the cancel: $(echo "$out" | tr '\n' ' ')"
		fi
		after=$(psql_q -d "$db" -c "SELECT lim_state()")
		if [ "$before" != "$after" ]; then
			fail "$name: cancelled, but the tables of schema broker changed"
			diff <(echo "$before" | tr ' ' '\n') <(echo "$after" | tr ' ' '\n') >&2 || true
		fi
	done < <(calls_list)
	echo "cancel: $n calls, $blocked blocked on a lock and cancelled with pg_cancel_backend; tables unchanged unless reported"

	# the same calls with a statement_timeout of 1 to 5 ms, 20 times each
	{
		echo "SET client_min_messages = error;"
		while IFS='|' read -r name lock sql; do
			case $name in	# destroy the fixtures: on objects of their own
				drop_queue) sql="SELECT broker.create_queue('lim_x', if_not_exists => true); SELECT broker.drop_queue('lim_x')" ;;
				purge) sql="SELECT broker.create_queue('lim_x', if_not_exists => true); SELECT broker.purge('lim_x')" ;;
				drop_topic) sql="SELECT broker.create_topic('lim_x', if_not_exists => true); SELECT broker.drop_topic('lim_x')" ;;
				delete_group) sql="SELECT broker.delete_group('lim_t', 'g_new', if_exists => true)" ;;
				*wait*) sql=${sql//10 seconds/5 milliseconds} ;;
			esac
			sql=${sql//@Q@/$qtbl}
			sql=${sql//@S@/$seg}
			sql=${sql//@ID@/$id}
			sql=${sql//@RC@/$rc}
			sql=${sql//@QID@/$qid}
			sql=${sql//@TID@/$tid}
			for i in $(seq 1 20); do
				echo "SET statement_timeout = '$((1 + (i % 5)))ms'; $sql; RESET statement_timeout;"
			done
		done < <(calls_list)
		echo "RESET statement_timeout;"
		followup
	} | psql -X -q -At -v ON_ERROR_STOP=0 -d "$db" >"/tmp/pgbroker_limits.$$" 2>&1 || true
	out=$(grep -E '^ERROR' "/tmp/pgbroker_limits.$$" | sed 's/[0-9]\+/N/g' | sort | uniq -c | sort -rn)
	if echo "$out" | grep -qiE "internal|could not open|cache lookup|unexpected|toast"; then
		fail "statement_timeout: unexpected errors: $out"
	fi
	echo "timeout: $(grep -c 'canceling statement due to statement timeout' "/tmp/pgbroker_limits.$$" || true) of" \
		"$(( $(calls_list | wc -l) * 20 )) calls cancelled by a 1-5 ms statement_timeout"
	if [ "$(grep -cE '^F[1-5]\|' "/tmp/pgbroker_limits.$$")" != 5 ]; then
		fail "statement_timeout: the session did not carry on: $(grep -E '^F' "/tmp/pgbroker_limits.$$" | tr '\n' ' ')"
	fi
	rm -f "/tmp/pgbroker_limits.$$"

	# what is left is consistent and usable
	out=$(psql_q -d "$db" <<SQL
SELECT 'locks', count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
 WHERE a.datname = '$db' AND a.pid <> pg_backend_pid() AND l.locktype = 'advisory';
SELECT 'view', v.messages = (SELECT count(*) FROM broker.peek('lim_q', 10000))
		   AND v.messages = (SELECT count(*) FROM $qtbl)
  FROM broker.queues v WHERE v.queue = 'lim_q';
SELECT 'ready', count(*) FROM broker.peek('lim_q', 10000) WHERE state = 'ready';
SELECT 'drained', count(broker.ack('lim_q', id, receipt)) FROM broker.claim('lim_q', 10000);
SELECT 'drained', count(broker.ack('lim_q', id, receipt)) FROM broker.claim('lim_q', 10000);
SELECT 'drained', count(broker.ack('lim_q', id, receipt)) FROM broker.claim('lim_q', 10000);
SELECT 'ready', count(*) FROM broker.peek('lim_q', 10000) WHERE state = 'ready';
SELECT 'gaps', count(*) FROM broker.topic_partitions('lim_t') p,
	LATERAL (SELECT offset_id - lag(offset_id) OVER (ORDER BY offset_id) AS step
			   FROM broker.read('lim_t', p.partition, 0, 10000)) s WHERE s.step <> 1;
SELECT 'dense', bool_and(latest_offset - earliest_offset =
		(SELECT count(*) FROM broker.read('lim_t', p.partition, 0, 10000)))
  FROM broker.topic_partitions('lim_t') p;
SELECT 'send', broker.send('lim_q', '{"last": 1}') > 0;
SELECT 'claim+ack', broker.ack('lim_q', id, receipt) FROM broker.claim('lim_q', 1);
SELECT 'publish', true FROM (SELECT broker.publish('lim_t', '{"last": 1}', partition => 0)) x;
SELECT broker.create_group('lim_t', 'g_final', 'earliest');
SELECT 'poll', count(*) > 0 FROM broker.poll('lim_t', 'g_final', 10000);
SQL
)
	echo "after: $(echo "$out" | grep . | tr '\n' ' ')"
	echo "$out" | grep -q '^locks|0$' || fail "a backend holds pgbroker locks: $(echo "$out" | grep '^locks')"
	echo "$out" | grep -q '^view|t$' || fail "broker.queues, peek and the table disagree"
	[ "$(echo "$out" | grep '^ready' | tail -1)" = "ready|0" ] || fail "ready messages left that claim does not hand out"
	echo "$out" | grep -q '^drained|' || fail "claim and ack of what was ready failed"
	echo "$out" | grep -q '^gaps|0$' || fail "the topic's offsets have gaps"
	echo "$out" | grep -q '^dense|t$' || fail "the topic's end offsets do not match its records"
	for w in 'send|t' 'claim+ack|t' 'publish|t' 'poll|t'; do
		echo "$out" | grep -qF "$w" || fail "the objects are not usable: $w"
	done
	dropdb "$db"
}

disk_test
cancel_test
echo "limits.sh: $(( $(date +%s) - start )) s, $([ $failures -eq 0 ] && echo ok || echo "$failures FAILED")"
[ "$failures" -eq 0 ]
