#!/usr/bin/env bash
# test/scripts/fuzz.sh - hostile input: test/tools/fuzz calls every public
# pgbroker function with random, boundary and wrong-typed arguments from
# several connections at once, in a fresh database, and checks what is left.
#
# Three passes on the same database: three connections as the superuser;
# then four connections as plain login roles holding the documented grants
# (pgbroker_admin, pgbroker_producer, pgbroker_consumer, and one with no
# grant at all), so that permission errors (42501) are exercised next to
# everything else; then three connections as fuzz_stranger, a member of
# pgbroker_producer and pgbroker_consumer that was granted nothing: it must
# never read or change a queue, topic or consumer group, nor create one,
# and the database must be the same after its calls as before
# (test/tools/fuzz_stranger.c).  What the first two passes granted it, or
# the roles it is a member of, at random is revoked before.  The run fails
# on an internal error (XX...), a system error (58...), a PL/pgSQL error
# without a specific SQLSTATE (P0...), a lost connection or a broken
# invariant (see test/tools/fuzz.c).
#
# Afterwards the server log is searched for a backend that died ("terminated
# by signal", PANIC, an assertion's TRAP).  The log is $PGBROKER_LOG if set,
# else $PGHOST/server.log (where scripts/cluster.sh keeps it); without a
# readable log the search is skipped, and says so.
#
# Runs against the server the PG* variables point at.
#
# usage: fuzz.sh [--calls N] [--seed S]     (default 20000 calls, seed 1)
set -euo pipefail
cd "$(dirname "$0")/../.."

calls=20000
seed=1
while [ $# -gt 0 ]; do
	case $1 in
		--calls) calls=$2; shift 2 ;;
		--seed) seed=$2; shift 2 ;;
		*) echo "usage: $0 [--calls N] [--seed S]" >&2; exit 2 ;;
	esac
done

db=pgbroker_fuzz
roles="fuzz_admin fuzz_producer fuzz_consumer fuzz_nobody fuzz_stranger"
psql_q() { psql -X -q -v ON_ERROR_STOP=1 -At "$@"; }

[ -x test/tools/fuzz ] || make -s -C test/tools fuzz

log=${PGBROKER_LOG:-}
if [ -z "$log" ] && [ -n "${PGHOST:-}" ] && [ -f "$PGHOST/server.log" ]; then
	log=$PGHOST/server.log
fi
log_start=0
if [ -n "$log" ] && [ -r "$log" ]; then
	log_start=$(stat -c %s "$log")
fi

cleanup() {
	dropdb --if-exists "$db" >/dev/null 2>&1 || true
	for r in $roles; do
		psql -X -q -d postgres -c "DROP ROLE IF EXISTS $r" >/dev/null 2>&1 || true
	done
}
trap cleanup EXIT

cleanup
createdb "$db"
psql_q -d "$db" <<SQL
SET client_min_messages = warning;
CREATE EXTENSION pgbroker;
CREATE ROLE fuzz_admin LOGIN IN ROLE pgbroker_admin;
CREATE ROLE fuzz_producer LOGIN IN ROLE pgbroker_producer;
CREATE ROLE fuzz_consumer LOGIN IN ROLE pgbroker_consumer;
CREATE ROLE fuzz_nobody LOGIN;
CREATE ROLE fuzz_stranger LOGIN IN ROLE pgbroker_producer, pgbroker_consumer;
SQL

# five eighths as the superuser, a quarter as the roles (at least one call
# per connection), the rest as the stranger
calls_su=$((calls * 5 / 8))
calls_roles=$((calls / 4))
[ "$calls_roles" -ge 4 ] || calls_roles=4
calls_stranger=$((calls - calls_su - calls / 4))
[ "$calls_stranger" -ge 3 ] || calls_stranger=3
seed_roles=$((seed + 1000000))
seed_stranger=$((seed + 2000000))

start=$(date +%s)
status=0
echo "== pass 1: $calls_su calls as $(psql_q -d "$db" -c 'SELECT current_user'), seed $seed"
PGDATABASE=$db test/tools/fuzz --calls "$calls_su" --seed "$seed" --threads 3 || status=1
# queues and topics are private: the roles get what their names say on
# those that exist now (fuzz_nobody, in no pgbroker role, gets nothing)
psql_q -d "$db" <<SQL >/dev/null
SELECT broker.grant('send', 'fuzz_producer', queue => name),
       broker.grant('consume', 'fuzz_consumer', queue => name),
       broker.grant('browse', 'fuzz_consumer', queue => name)
  FROM broker.queue;
SELECT broker.grant('send', 'fuzz_producer', topic => name),
       broker.grant('consume', 'fuzz_consumer', topic => name),
       broker.grant('browse', 'fuzz_consumer', topic => name)
  FROM broker.topic;
SQL
echo "== pass 2: $calls_roles calls as fuzz_admin, fuzz_producer, fuzz_consumer, fuzz_nobody, seed $seed_roles"
PGDATABASE=$db test/tools/fuzz --calls "$calls_roles" --seed "$seed_roles" --threads 4 \
	--users fuzz_admin,fuzz_producer,fuzz_consumer,fuzz_nobody || status=1

# the grant calls of the passes (and default privileges) may have granted
# fuzz_stranger, or a role it is a member of, something: take it back, then
# check that it holds nothing (a grant to PUBLIC, grantee 0, would count)
psql_q -d "$db" <<SQL >/dev/null
SELECT broker.revoke(privilege, grantee, queue => CASE kind WHEN 'queue' THEN name END,
                     topic => CASE kind WHEN 'topic' THEN name END)
  FROM broker.privileges
 WHERE CASE WHEN grantee::oid = 0 THEN false
            ELSE pg_has_role('fuzz_stranger', grantee::oid, 'USAGE') END
   AND grantee <> owner;
SELECT broker.revoke('create', oid::regrole)
  FROM pg_roles WHERE pg_has_role('fuzz_stranger', oid, 'USAGE');
SQL
held=$(psql_q -d "$db" <<SQL
SELECT (SELECT count(*) FROM broker.privileges
         WHERE CASE WHEN grantee::oid = 0 THEN true
                    ELSE pg_has_role('fuzz_stranger', grantee::oid, 'USAGE') END)
       + broker.has_privilege('fuzz_stranger', 'create')::int
       + pg_has_role('fuzz_stranger', 'pgbroker_admin', 'USAGE')::int;
SQL
)
if [ "$held" != 0 ]; then
	echo "fuzz.sh: fuzz_stranger still holds $held privileges before its pass" >&2
	status=1
fi
echo "== pass 3: $calls_stranger calls as fuzz_stranger (granted nothing), seed $seed_stranger"
PGDATABASE=$db test/tools/fuzz --calls "$calls_stranger" --seed "$seed_stranger" --threads 3 \
	--stranger fuzz_stranger || status=1

echo "== server log"
if [ -n "$log" ] && [ -r "$log" ]; then
	if tail -c +"$((log_start + 1))" "$log" |
		grep -E "terminated by signal|PANIC|TRAP:|was terminated|server process .* exited with" >&2; then
		echo "fuzz.sh: the server log shows a backend that died" >&2
		status=1
	else
		echo "no backend died ($log)"
	fi
else
	echo "SKIP: no readable server log (set PGBROKER_LOG)"
fi
echo "fuzz.sh: $(( $(date +%s) - start )) s, $([ $status -eq 0 ] && echo ok || echo FAILED)"
exit $status
