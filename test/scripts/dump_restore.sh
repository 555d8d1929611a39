#!/usr/bin/env bash
# test/scripts/dump_restore.sh - pg_dump a database using pgbroker (queues,
# messages in flight, dead letters, topics with several segments) and
# restore it into a fresh database, in custom format with pg_restore and in
# plain format through psql; then check that everything came across and
# that producers and consumers carry on where they were, a subscription
# included: its first maintain() starts its worker, which handles what is
# sent next.
# Runs against the server the PG* variables point at; exits non-zero on
# any difference.
set -euo pipefail
src=pgbroker_dump_src
psql_q() { psql -X -q -v ON_ERROR_STOP=1 -At "$@"; }

for db in $src ${src}_custom ${src}_plain; do
	dropdb --if-exists --force "$db" 2>/dev/null
done
createdb $src
psql_q -d $src -f "$(dirname "$0")/fill.sql" >/dev/null
psql_q -d $src >/dev/null <<'SQL'
SELECT broker.create_queue('subq');
CREATE TABLE sub_sink (n text);
CREATE FUNCTION sub_h(m broker.message) RETURNS void LANGUAGE sql AS
$$ INSERT INTO sub_sink VALUES (m.payload->>'n') $$;
SELECT broker.subscribe('subs', 'sub_h(broker.message)'::regprocedure, queue => 'subq', batch_size => 7,
						timeout => '9 s');
SQL

state() {
	psql_q -d "$1" <<'SQL'
SELECT 'queue', messages, leased, dead FROM broker.queues;
SELECT 'dead', id, last_error FROM broker.dead_letters('jobs');
SELECT 'topic', records, segments, earliest_offsets, latest_offsets FROM broker.topics;
SELECT 'group', consumer_group, partition, committed_offset, lag FROM broker.consumer_lag ORDER BY 2, 3;
SELECT 'subscription', name, source, handler, owner, enabled, batch_size, timeout, search_path
  FROM broker.subscriptions;
SELECT 'read', p, string_agg(r.offset_id || ':' || (r.payload->>'n'), ',' ORDER BY r.offset_id)
  FROM generate_series(0, 1) p, broker.read('events', p, 0) r GROUP BY p ORDER BY p;
SQL
}
# what a producer and a consumer do next
carry_on() {
	psql_q -d "$1" <<'SQL'
SELECT broker.publish('events', '{"n": "after"}', partition => 0);
SELECT 'next', offset_id FROM broker.read('events', 0, 0) WHERE payload->>'n' = 'after';
SELECT 'claim', payload->>'n' FROM broker.claim('jobs', 10) ORDER BY 2;
SELECT 'send', broker.send('jobs', '{"n": "after"}') > 0;
SELECT 'poll', partition, offset_id FROM broker.poll('events', 'billing', 100) ORDER BY 2, 3;
SELECT 'maintain', count(*) >= 0 FROM broker.maintain();
SELECT 'subscription send', broker.send('subq', '{"n": "after"}') > 0;
CREATE FUNCTION pg_temp.handled() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	FOR i IN 1 .. 300 LOOP
		IF EXISTS (SELECT 1 FROM sub_sink WHERE n = 'after') THEN RETURN true; END IF;
		PERFORM pg_sleep(0.1);
	END LOOP;
	RETURN false;
END $$;
SELECT 'subscription handled', pg_temp.handled();
SQL
}

dumpfile=$(mktemp /tmp/pgbroker_dump.XXXXXX)
trap 'rm -f "$dumpfile" "$dumpfile.sql"' EXIT
pg_dump -Fc -f "$dumpfile" $src
pg_dump --format=plain -f "$dumpfile.sql" $src
createdb ${src}_custom
pg_restore --exit-on-error -d ${src}_custom "$dumpfile"
createdb ${src}_plain
psql_q -d ${src}_plain -f "$dumpfile.sql" >/dev/null

status=0
want=$(state $src)
want_next=$(carry_on $src)
for db in ${src}_custom ${src}_plain; do
	got=$(state $db)
	got_next=$(carry_on $db)
	if [ "$got" != "$want" ] || [ "$got_next" != "$want_next" ]; then
		echo "dump_restore: $db differs from the original"
		diff <(echo "$want"; echo "$want_next") <(echo "$got"; echo "$got_next") || true
		status=1
	fi
done
echo "$want"
echo "$want_next"
for db in $src ${src}_custom ${src}_plain; do
	dropdb --force "$db"
done
[ $status -eq 0 ] && echo "dump_restore: ok (custom format and plain format)"
exit $status
