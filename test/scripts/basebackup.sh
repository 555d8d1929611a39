#!/usr/bin/env bash
# test/scripts/basebackup.sh - a physical backup (pg_basebackup -X stream)
# of a server whose database uses pgbroker (queues, messages in flight,
# dead letters, a topic with several segments, groups with committed
# offsets and a lease), taken while a transaction holds uncommitted sends,
# publishes and a transactional poll; the backup is verified with
# pg_verifybackup and started as a server of its own.  It must show the
# same state as the original had when the backup was taken (the open
# transaction's work absent, its partitions free), and producers and
# consumers must carry on in it exactly as they do in the original.
# The checks are those of test/scripts/dump_restore.sh, plus the lease and
# the held partitions that only a physical copy carries.
#
# Runs against the server the PG* variables point at, which must accept
# replication connections from this user (wal_level replica or logical,
# max_wal_senders > 0, a "replication" line in pg_hba.conf: Debian's
# initdb --auth=trust writes "local replication all trust").  The copy
# runs as the postgres OS user (when started as root) on a private port
# and socket directory, and is stopped and removed at exit, also on
# failure.  Exits non-zero on any difference.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/cluster.sh		# PG_BINDIR, pgbroker_as_pg; starts nothing
src=pgbroker_basebackup_src
psql_q() { psql -X -q -v ON_ERROR_STOP=1 -At "$@"; }
fail() { echo "basebackup: $*" >&2; exit 1; }

[ "$(psql_q -c "SELECT current_setting('wal_level') <> 'minimal'
                       AND current_setting('max_wal_senders')::int > 0")" = t ] ||
	fail "the server does not allow physical backups (wal_level, max_wal_senders)"

bb=$(mktemp -d /tmp/pgbroker_basebackup.XXXXXX)
chmod 755 "$bb"
chown postgres: "$bb" 2>/dev/null || true
holder=
cleanup() {
	if [ -n "$holder" ]; then
		kill "$holder" 2>/dev/null || true
		wait "$holder" 2>/dev/null || true
	fi
	if [ -f "$bb/data/postmaster.pid" ]; then
		pgbroker_as_pg "$PG_BINDIR/pg_ctl" -D "$bb/data" -m immediate -w stop >/dev/null 2>&1 || true
	fi
	rm -rf "$bb"
}
trap cleanup EXIT

dropdb --if-exists "$src" 2>/dev/null
createdb "$src"
psql_q -d "$src" -f "$(dirname "$0")/fill.sql" >/dev/null
psql_q -d "$src" >/dev/null <<'SQL'
SELECT broker.create_group('events', 'audit', start => 'earliest');
SELECT count(*) FROM broker.poll('events', 'audit', 3);
SELECT broker.create_group('events', 'mailer', start => 'earliest');
SELECT broker.commit('events', 'mailer', array_agg(r), 'mailer-1')         -- leased, partly committed
  FROM broker.poll('events', 'mailer', 4, consumer => 'mailer-1', lease => '1 hour') r;
SELECT count(*) FROM broker.poll('events', 'mailer', 2, consumer => 'mailer-1', lease => '1 hour');
SQL

# a transaction left open across the backup: a send, a publish, and a
# transactional poll that holds the partitions of group audit
psql -X -q -v ON_ERROR_STOP=1 -d "$src" >/dev/null 2>&1 <<'SQL' &
BEGIN;
SELECT broker.send('jobs', '{"n": "uncommitted"}');
SELECT broker.publish('events', '{"n": "uncommitted"}', partition => 0);
SELECT count(*) FROM broker.poll('events', 'audit', 100);
SELECT pg_sleep(3600);
SQL
holder=$!
for _ in $(seq 1 100); do
	[ "$(psql_q -d "$src" -c "SELECT count(*) FROM pg_stat_activity
	                          WHERE datname = current_database() AND wait_event = 'PgSleep'")" = 1 ] && break
	sleep 0.1
done
[ "$(psql_q -d "$src" -c "SELECT count(*) FROM pg_stat_activity
                          WHERE datname = current_database() AND wait_event = 'PgSleep'")" = 1 ] ||
	fail "the open transaction did not start"

state() {
	psql_q -d "$src" "$@" <<'SQL'
SELECT 'queue', messages, leased, dead FROM broker.queues;
SELECT 'dead', id, last_error FROM broker.dead_letters('jobs');
SELECT 'peek', id, state, payload->>'n' FROM broker.peek('jobs', 100) ORDER BY id;
SELECT 'topic', records, segments, earliest_offsets, latest_offsets FROM broker.topics;
SELECT 'group', consumer_group, partition, committed_offset, lag, lease_holder
  FROM broker.consumer_lag ORDER BY 2, 3;
SELECT 'read', p, string_agg(r.offset_id || ':' || (r.payload->>'n'), ',' ORDER BY r.offset_id)
  FROM generate_series(0, 1) p, broker.read('events', p, 0) r GROUP BY p ORDER BY p;
SQL
}
# what producers and consumers do next; mailer-1 comes back in a new
# session, so it starts again from its committed offsets
carry_on() {
	psql_q -d "$src" "$@" <<'SQL'
SELECT broker.publish('events', '{"n": "after"}', partition => 0);
SELECT 'next', offset_id FROM broker.read('events', 0, 0) WHERE payload->>'n' = 'after';
SELECT 'claim', payload->>'n' FROM broker.claim('jobs', 10) ORDER BY 2;
SELECT 'send', broker.send('jobs', '{"n": "after"}') > 0;
SELECT 'poll', partition, offset_id FROM broker.poll('events', 'billing', 100) ORDER BY 2, 3;
SELECT 'audit', partition, offset_id, payload->>'n' FROM broker.poll('events', 'audit', 100) ORDER BY 2, 3;
SELECT 'mailer', partition, offset_id
  FROM broker.poll('events', 'mailer', 100, consumer => 'mailer-1', lease => '1 hour') ORDER BY 2, 3;
SQL
}

want=$(state)
pgbroker_as_pg "$PG_BINDIR/pg_basebackup" -D "$bb/data" -X stream -c fast --no-sync
pgbroker_as_pg "$PG_BINDIR/pg_verifybackup" -q "$bb/data" || fail "pg_verifybackup failed"
# the open transaction ends (rolled back) only after the backup
kill "$holder"
wait "$holder" 2>/dev/null || true
holder=
psql_q -d "$src" -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                     WHERE datname = current_database() AND wait_event = 'PgSleep'" >/dev/null
want_next=$(carry_on)

# the copy, as a server of its own
port=$((20000 + RANDOM % 20000))
[ "$port" != "${PGPORT:-5432}" ] || port=$((port + 1))
pgbroker_as_pg "$PG_BINDIR/pg_ctl" -D "$bb/data" -l "$bb/server.log" -w -t 60 \
	-o "-p $port -k $bb -c listen_addresses=''" start >/dev/null || {
	cat "$bb/server.log" >&2
	fail "the backup did not start"
}
got=$(state -h "$bb" -p "$port")
got_next=$(carry_on -h "$bb" -p "$port")

status=0
if [ "$got" != "$want" ] || [ "$got_next" != "$want_next" ]; then
	echo "basebackup: the copy differs from the original"
	diff <(echo "$want"; echo "$want_next") <(echo "$got"; echo "$got_next") || true
	status=1
fi
if grep -E 'PANIC|terminated by signal' "$bb/server.log"; then
	echo "basebackup: the copy's server log shows a crash"
	status=1
fi
echo "$want"
echo "$want_next"
dropdb "$src"
[ $status -eq 0 ] && echo "basebackup: ok (pg_basebackup -X stream, verified, started on port $port)"
exit $status
