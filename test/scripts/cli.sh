#!/usr/bin/env bash
# test/scripts/cli.sh - the pgbroker command-line tool against a live server:
# round trips (send/consume, publish/tail), the lag table, listings, psql's
# connection options (-h, -p, -U, -d), a database without the extension,
# malformed and oversize input lines (named, the rest of their batch sent),
# a connection terminated mid-stream, tail --from (a new group only) and
# --reset-to, Ctrl-C while following, exit codes, grant and revoke (a role
# given send sends, loses it and is refused), describe's grants,
# subscriptions (listed, paused, resumed, dropped; refused to a role that
# does not own one), and short benchmark runs beside a user's objects named
# pgbroker_bench (left whole, also after Ctrl-C); dead-letters, redrive and
# purge-dead-letters after messages are nacked to death, peek, cancel, send
# --priority/--group-key/--delay/--dedup-key, groups of every topic,
# reset-group (--dry-run first, then for real) and delete-group.
# Runs against the server the PG* variables point at, in a database of its
# own; exits non-zero if any check fails.
set -uo pipefail
cd "$(dirname "$0")/../.."
PGBROKER=${PGBROKER:-cli/pgbroker}
db=pgbroker_cli_test
tmp=$(mktemp -d /tmp/pgbroker_cli.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
failures=0
checks=0

ok() { checks=$((checks + 1)); echo "  ok - $1"; }
bad() { checks=$((checks + 1)); failures=$((failures + 1)); echo "  not ok - $1"; }
check() {	# check DESCRIPTION COMMAND...: the command must succeed
	local what=$1; shift
	if "$@"; then ok "$what"; else bad "$what"; fi
}
sql() { psql -X -q -At -v ON_ERROR_STOP=1 -d $db -c "$1"; }
pgb() { "$PGBROKER" -d "dbname=$db" "$@"; }

# the roles of the privileges checks are cluster-wide: dropped before and after
drop_roles() {
	psql -X -q -d postgres -c 'SET client_min_messages = warning' \
		-c 'DROP ROLE IF EXISTS cli_sender, cli_creator, cli_admin, "Cli Reader"' >/dev/null
}

dropdb --if-exists $db 2>/dev/null
dropdb --if-exists ${db}_noext 2>/dev/null
drop_roles
createdb $db
sql "SET client_min_messages = warning; CREATE EXTENSION pgbroker"

echo "-- create, list, describe, drop"
out=$(pgb create queue jobs --max-attempts 3 --set dedup_window='1 minute')
check "create queue" test "$out" = 'created queue "jobs"'
check "queue settings applied" test "$(sql "SELECT max_attempts || ' ' || dedup_window FROM broker.queues WHERE queue = 'jobs'")" = "3 00:01:00"
pgb create topic events --partitions 4 >/dev/null
check "create topic with 4 partitions" test "$(sql "SELECT partitions FROM broker.topics WHERE topic = 'events'")" = 4
pgb create queue jobs 2>"$tmp/err"; rc=$?
check "create existing queue: exit 3 with SQLSTATE 42710" \
	bash -c "[ $rc = 3 ] && grep -q 'SQLSTATE 42710' '$tmp/err'"
check "create --if-not-exists on an existing queue" pgb create queue jobs --if-not-exists
check "--set rejects a name that is not a setting name" \
	bash -c "! '$PGBROKER' -d 'dbname=$db' create queue x --set 'a;b=1' 2>/dev/null"
pgb list >"$tmp/list"
check "list shows the queue and the topic" bash -c "grep -q '^ jobs ' '$tmp/list' && grep -q '^ events ' '$tmp/list'"
pgb describe topic events >"$tmp/desc"
check "describe topic shows its partitions" bash -c "grep -q '(4 rows)' '$tmp/desc'"
pgb describe queue nosuch 2>"$tmp/err"; rc=$?
check "describe a missing queue: exit 3, 42704" bash -c "[ $rc = 3 ] && grep -q 42704 '$tmp/err'"
pgb create queue scratch >/dev/null
check "drop queue" bash -c "'$PGBROKER' -d 'dbname=$db' drop queue scratch | grep -q 'dropped queue'"
check "drop --if-exists of a missing queue" bash -c "'$PGBROKER' -d 'dbname=$db' drop queue scratch --if-exists | grep -q skipping"

echo "-- connection options"
# as psql: -h, -p, -U, -d before the command or among its options, with the
# PG* variables unset; a conninfo or URI given to -d wins over -h, -p, -U
nopg() { env -u PGHOST -u PGPORT -u PGUSER -u PGDATABASE "$PGBROKER" "$@"; }
nopg -h "${PGHOST:-}" -p "${PGPORT:-5432}" -U "${PGUSER:-$(id -un)}" -d $db list queues >"$tmp/out" 2>"$tmp/err"; rc=$?
check "-h -p -U -d before the command connect (PG* unset)" \
	bash -c "[ $rc = 0 ] && grep -q '^ jobs ' '$tmp/out'"
nopg list queues -h "${PGHOST:-}" -p "${PGPORT:-5432}" -U "${PGUSER:-$(id -un)}" -d $db >"$tmp/out" 2>"$tmp/err"; rc=$?
check "-h -p -U -d among the command's options connect (PG* unset)" \
	bash -c "[ $rc = 0 ] && grep -q '^ jobs ' '$tmp/out'"
nopg --host="${PGHOST:-}" --port="${PGPORT:-5432}" --username="${PGUSER:-$(id -un)}" --dbname=$db list queues >/dev/null 2>&1; rc=$?
check "--host --port --username --dbname connect (PG* unset)" test $rc = 0
uri_host=; [ -n "${PGHOST:-}" ] && uri_host="?host=$PGHOST"
nopg -d "postgresql:///$db$uri_host" -p "${PGPORT:-5432}" -U "${PGUSER:-$(id -un)}" list queues >/dev/null 2>&1; rc=$?
check "-d URI with -p and -U for what it does not name" test $rc = 0
"$PGBROKER" -h /nonexistent -d $db list >/dev/null 2>&1; rc=$?
check "-h wins over PGHOST: a wrong -h is exit 2" test $rc = 2
"$PGBROKER" -h /nonexistent -d "dbname=$db host=${PGHOST:-}" list >/dev/null 2>&1; rc=$?
check "a conninfo given to -d wins over -h (as in psql)" test $rc = 0
"$PGBROKER" -U cli_nosuchrole -d $db list 2>"$tmp/err" >/dev/null; rc=$?
check "-U is the user: an unknown role is exit 2" bash -c "[ $rc = 2 ] && grep -q cli_nosuchrole '$tmp/err'"
check "-? and --help show the help (-h is the host)" \
	bash -c "'$PGBROKER' -? | grep -q '^Usage:' && '$PGBROKER' --help | grep -q '^  -h, --host=HOST'"

echo "-- a database without the extension"
createdb ${db}_noext
noext_rcs=
for a in 'list' 'consume jobs' 'tail events -g g' 'describe queue jobs' 'groups events' \
	'stats --interval 0.1' 'subscriptions' 'create queue x' 'bench -T 1'; do
	# shellcheck disable=SC2086
	"$PGBROKER" -d ${db}_noext $a >/dev/null 2>"$tmp/err"
	noext_rcs="$noext_rcs$?"
	grep -q "^pgbroker: error: pgbroker is not installed in database \"${db}_noext\" (CREATE EXTENSION pgbroker, or pgbroker_router on a router)\$" "$tmp/err" ||
		noext_rcs="$noext_rcs(no message: $a)"
done
echo 1 | "$PGBROKER" -d ${db}_noext send jobs 2>"$tmp/err"
noext_rcs="$noext_rcs$?"
check "without the extension every command says so, exit 3 ($noext_rcs)" test "$noext_rcs" = 3333333333
dropdb ${db}_noext

echo "-- send and consume"
seq 1 1000 | sed 's/.*/{"n": &}/' >"$tmp/in"
pgb send jobs --batch 64 <"$tmp/in" 2>"$tmp/err"
check "send 1000 lines" grep -q 'sent 1000 messages' "$tmp/err"
check "1000 messages in the queue" test "$(sql "SELECT messages FROM broker.queues WHERE queue = 'jobs'")" = 1000
pgb consume jobs --payload --batch 70 >"$tmp/out"
check "consume prints every payload once" bash -c "sort '$tmp/in' | cmp -s - <(sort '$tmp/out')"
check "the queue is empty after consume" test "$(sql "SELECT messages FROM broker.queues WHERE queue = 'jobs'")" = 0
printf 'tab\there\n"quoted" \\back\\slash\n{not json}\nüñí €\n' >"$tmp/raw"
pgb send jobs --raw -q <"$tmp/raw"
pgb consume jobs >"$tmp/out"
check "--raw sends lines as JSON strings" \
	test "$(sql "SELECT string_agg(x, '|' ORDER BY x) FROM (SELECT (line::jsonb)->>'payload' AS x FROM regexp_split_to_table(\$\$$(cat "$tmp/out")\$\$, E'\n') line) s")" \
	= "$(sort "$tmp/raw" | paste -sd'|')"
check "consume prints JSON lines with id, attempt, headers, payload" \
	bash -c "head -1 '$tmp/out' | grep -q '^{\"id\":[0-9]*,\"attempt\":1,'"
printf '1\n2\n' | pgb send jobs -q --headers '{"kind": "a"}'
printf '3\n' | pgb send jobs -q --headers '{"kind": "b"}'
check "consume --filter takes only matching headers" test "$(pgb consume jobs --payload --filter '{"kind": "b"}')" = 3
check "consume -n stops after N" test "$(pgb consume jobs --payload -n 1 | wc -l)" = 1
pgb consume jobs >/dev/null

echo "-- malformed and oversize lines"
printf '{"a": 1}\n{"a": 2}\n{"a": \n{"a": 4}\n' | pgb send jobs --batch 10 2>"$tmp/err"; rc=$?
check "malformed line: exit 3" test $rc = 3
check "malformed line: names line 3, says 3 were sent and 1 was not" \
	bash -c "grep -q '^pgbroker: error: line 3 is not valid JSON: .*(SQLSTATE 22P02)' '$tmp/err' && grep -q 'sent 3 messages' '$tmp/err' && grep -q '^pgbroker: 1 line was not sent: line 3\$' '$tmp/err'"
check "malformed line: the other lines of its batch are in the queue, in order" \
	test "$(pgb consume jobs --payload | paste -sd' ')" = '{"a": 1} {"a": 2} {"a": 4}'
# line 2 over the server's limit (pgbroker.max_message_size, 1024 bytes for
# this connection), line 3 not JSON, line 4 empty (skipped)
{ echo '{"n": 1}'; printf '{"big": "%s"}\n' "$(printf '%02000d' 0)"; echo '{"n": 3'; echo; echo '{"n": 5}'; } >"$tmp/bad"
for batch in 100 1; do
	PGOPTIONS='-c pgbroker.max_message_size=1024' pgb send jobs --batch $batch <"$tmp/bad" 2>"$tmp/err"; rc=$?
	check "oversize and malformed lines (--batch $batch): exit 3, each named by its number" \
		bash -c "[ $rc = 3 ] && grep -q '^pgbroker: error: line 2 is too large: message of [0-9]* bytes exceeds the maximum of 1024 bytes (SQLSTATE 54000)\$' '$tmp/err' && grep -q '^pgbroker: error: line 3 is not valid JSON' '$tmp/err' && grep -q '^pgbroker: 2 lines were not sent: lines 2, 3\$' '$tmp/err'"
	check "oversize and malformed lines (--batch $batch): the valid lines are in the queue, in order" \
		test "$(pgb consume jobs --payload | paste -sd' ')" = '{"n": 1} {"n": 5}'
done
pgb create topic cli_badpub >/dev/null
printf '1\nnope\n3\n' | pgb publish cli_badpub 2>"$tmp/err"; rc=$?
check "publish: a malformed line is named, the others are published" \
	bash -c "[ $rc = 3 ] && grep -q 'line 2 is not valid JSON' '$tmp/err' && [ \$(psql -X -At -d $db -c \"SELECT records FROM broker.topics WHERE topic = 'cli_badpub'\") = 2 ]"
printf '{"a": 1}\n{"a": 2}\n' | pgb send jobs --headers '{bad' 2>"$tmp/err"; rc=$?
check "a bad --headers is no line's fault: reported once, nothing sent" \
	bash -c "[ $rc = 3 ] && ! grep -q 'line 1 is' '$tmp/err' && grep -q 'lines from 1 on were not sent' '$tmp/err' && [ \$(psql -X -At -d $db -c \"SELECT messages FROM broker.queues WHERE queue = 'jobs'\") = 0 ]"

echo "-- errors and exit codes"
echo 1 | pgb send nosuch 2>"$tmp/err"; rc=$?
check "send to a missing queue: exit 3 and SQLSTATE 42704" \
	bash -c "[ $rc = 3 ] && grep -q 'queue \"nosuch\" does not exist (SQLSTATE 42704)' '$tmp/err'"
"$PGBROKER" -d "host=/nonexistent port=1" list 2>/dev/null; rc=$?
check "no server: exit 2" test $rc = 2
"$PGBROKER" consume 2>/dev/null; rc=$?
check "missing argument: exit 1" test $rc = 1
"$PGBROKER" consume jobs --batch 0 2>/dev/null; rc=$?
check "bad option value: exit 1" test $rc = 1
check "--help on every command" bash -c "for c in send publish consume tail create alter drop list describe groups reset-group delete-group dead-letters redrive purge-dead-letters peek cancel subscriptions subscription grant revoke metrics stats bench; do '$PGBROKER' \$c --help | grep -q '^Usage:' || exit 1; done"

echo "-- a connection terminated mid-stream"
seq 1 300000 | sed 's/.*/{"n": &}/' >"$tmp/big"
pgb send jobs --batch 100 <"$tmp/big" 2>"$tmp/err" &
sender=$!
for i in $(seq 1 100); do
	n=$(sql "SELECT messages FROM broker.queues WHERE queue = 'jobs'")
	[ "$n" -gt 20000 ] && break
	sleep 0.05
done
sql "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '$db' AND application_name = 'pgbroker'" >/dev/null
wait $sender; rc=$?
reported=$(sed -n 's/.*: \([0-9]*\) messages\{0,1\} sent before the connection was lost.*/\1/p' "$tmp/err")
# counted exactly: broker.queues estimates above 10,000 messages
inqueue=$(sql "SELECT count(*) FROM $(sql "SELECT broker._queue_table(id) FROM broker.queue WHERE name = 'jobs'")")
check "terminated mid-stream: exit 2 and a count of what was sent" \
	bash -c "[ $rc = 2 ] && [ -n '$reported' ]"
check "terminated mid-stream: every message reported as sent is in the queue ($reported reported, $inqueue in the queue)" \
	bash -c "[ -n '$reported' ] && [ $inqueue -ge $reported ] && [ $inqueue -le \$(( $reported + 100 )) ]"
pgb consume jobs --payload --batch 1000 >"$tmp/got"
check "terminated mid-stream: the queue held lines 1..$inqueue, each once" \
	bash -c "head -n $inqueue '$tmp/big' | cmp -s - <(sort -t: -k2 -n '$tmp/got')"

echo "-- publish and tail"
for i in $(seq 1 40); do echo "k$((i % 5)):{\"i\": $i}"; done >"$tmp/pub"
pgb publish events --key-separator : -q <"$tmp/pub"
check "publish 40 records" test "$(sql "SELECT records FROM broker.topics WHERE topic = 'events'")" = 40
check "records keep their keys" test "$(sql "SELECT count(DISTINCT key) FROM generate_series(0, 3) p, broker.read('events', p, 0) r")" = 5
pgb tail events --group g1 --from earliest --payload >"$tmp/tail"
check "tail --from earliest prints every record once" \
	bash -c "cut -d: -f2- '$tmp/pub' | sort | cmp -s - <(sort '$tmp/tail')"
check "a second tail prints nothing (offsets committed)" test -z "$(pgb tail events --group g1)"
check "a second tail --from earliest prints nothing old (--from places a new group only)" \
	test -z "$(pgb tail events --group g1 --from earliest)"
pgb tail events --group g1 --reset-to earliest --payload >"$tmp/tail" 2>"$tmp/reset"; rc=$?
check "tail --reset-to earliest reads every record again" \
	bash -c "[ $rc = 0 ] && cut -d: -f2- '$tmp/pub' | sort | cmp -s - <(sort '$tmp/tail')"
check "tail --reset-to reports what it moved, per partition (old -> new)" \
	bash -c "grep -q '^pgbroker: reset consumer group \"g1\" of topic \"events\" to earliest:\$' '$tmp/reset' && [ \"\$(grep '^  partition' '$tmp/reset')\" = \"\$(psql -X -At -d $db -c \"SELECT string_agg(format('  partition %s: %s -> %s', partition, latest_offset, earliest_offset), E'\\n' ORDER BY partition) FROM broker.topic_partitions('events')\")\" ]"
pgb tail events --group g_new --reset-to latest 2>"$tmp/reset" >/dev/null
check "tail --reset-to on a group that does not exist creates it there" \
	test "$(grep -c '^  partition [0-9]*: (new group) -> ' "$tmp/reset")" = 4
pgb tail events --group g1 --from earliest --reset-to latest 2>/dev/null; rc=$?
check "--from and --reset-to together: exit 1" test $rc = 1
check "per-key order holds in tail output" \
	bash -c "pgb() { '$PGBROKER' -d 'dbname=$db' \"\$@\"; }; pgb tail events -g g_order --from earliest | grep -o '\"key\":\"k1\".*\"i\": [0-9]*' | grep -o '[0-9]*\$' | sort -c -n"
seq 1 7 | pgb publish events -q --key k9
pgb groups events >"$tmp/groups"
check "groups shows the lag of g1 (7 records)" \
	test "$(awk -F'|' '$1 ~ /g1/ {s += $5} END {print s}' "$tmp/groups")" = 7
check "groups has one row per partition and group" test "$(grep -c '^ g1 ' "$tmp/groups")" = 4
check "tail -n 3 prints 3 records" test "$(pgb tail events --group g1 -n 3 | wc -l)" = 3
pgb tail events --group g2 --from 2 >"$tmp/tail2"
check "tail --from OFFSET starts every partition there" \
	test "$(sql "SELECT sum(greatest(latest_offset - 2, 0)) FROM broker.topic_partitions('events')")" = "$(wc -l <"$tmp/tail2")"

echo "-- following, and Ctrl-C"
"$PGBROKER" -d "dbname=$db" consume jobs -f --payload >"$tmp/f_out" 2>"$tmp/f_err" &
follower=$!
sleep 0.5
seq 1 50 | pgb send jobs -q
seq 51 100 | pgb send jobs -q --batch 7
for i in $(seq 1 100); do [ "$(wc -l <"$tmp/f_out")" -ge 100 ] && break; sleep 0.05; done
kill -INT $follower; wait $follower; rc=$?
check "consume -f prints what arrives after it started" bash -c "seq 1 100 | cmp -s - <(sort -n '$tmp/f_out')"
check "consume -f: Ctrl-C exits 0" test $rc = 0
check "consume -f: nothing left leased or unacknowledged" \
	test "$(sql "SELECT messages FROM broker.queues WHERE queue = 'jobs'")" = 0
"$PGBROKER" -d "dbname=$db" tail events --group g3 --from latest -f --payload >"$tmp/t_out" 2>"$tmp/t_err" &
tailer=$!
sleep 0.5
seq 1 30 | sed 's/.*/{"f": &}/' | pgb publish events -q
for i in $(seq 1 100); do [ "$(wc -l <"$tmp/t_out")" -ge 30 ] && break; sleep 0.05; done
kill -INT $tailer; wait $tailer; rc=$?
check "tail -f prints what is published after it started" test "$(wc -l <"$tmp/t_out")" = 30
check "tail -f: Ctrl-C exits 0 and the offsets are committed" \
	bash -c "[ $rc = 0 ] && [ \$(psql -X -At -d $db -c \"SELECT sum(lag) FROM broker.consumer_lag WHERE consumer_group = 'g3'\") = 0 ]"
check "tail -f: on exit its partitions are given back" \
	test "$(sql "SELECT count(*) FROM broker.consumer_lag WHERE consumer_group = 'g3' AND lease_holder IS NOT NULL")" = 0
mkfifo "$tmp/fifo"
"$PGBROKER" -d "dbname=$db" send jobs <"$tmp/fifo" 2>"$tmp/s_err" &
sender=$!
exec 7>"$tmp/fifo"
printf '"a"\n"b"\n' >&7
sleep 1
kill -INT $sender; wait $sender; rc=$?
exec 7>&-
check "send: Ctrl-C exits 0" test $rc = 0
check "send: Ctrl-C sends the lines already read" test "$(sql "SELECT messages FROM broker.queues WHERE queue = 'jobs'")" = 2

echo "-- dead letters, redrive, peek, cancel, send options"
pgb create queue dlq --max-attempts 1 >/dev/null
seq 1 3 | pgb send dlq -q
nack_all() { sql "SELECT count(*) FILTER (WHERE broker.nack('dlq', m.id, m.receipt, error => E'boom\n  at   line 1')) FROM broker.claim('dlq', 10) m"; }
check "three messages nacked to death" test "$(nack_all)" = 3
pgb dead-letters dlq >"$tmp/dl"; rc=$?
check "dead-letters lists them (id, attempts, reason, dead_at, last_error on one line)" \
	bash -c "[ $rc = 0 ] && grep -q '(3 rows)' '$tmp/dl' && head -1 '$tmp/dl' | grep -q 'id .*| attempts | .*reason.* | .*dead_at.* | .*last_error' && grep -q '| boom at line 1\$' '$tmp/dl' && ! grep -q history '$tmp/dl'"
check "dead-letters -n 1 --history adds the history" \
	bash -c "'$PGBROKER' -d 'dbname=$db' dead-letters dlq -n 1 --history >'$tmp/dl' && grep -q '(1 row)' '$tmp/dl' && head -1 '$tmp/dl' | grep -q 'history\$'"
ids=$(sql "SELECT string_agg(id::text, ' ' ORDER BY id) FROM broker.dead_letters('dlq')")
first=${ids%% *}
out=$(pgb redrive dlq "$first")
check "redrive ID: one dead letter back in the queue" \
	test "$out|$(sql "SELECT messages || ' ' || dead FROM broker.queues WHERE queue = 'dlq'")|$(sql "SELECT count(*) FROM broker.dead_letters('dlq') WHERE id = $first")" = 'redrove 1 dead letter of queue "dlq"|1 2|0'
out=$(pgb purge-dead-letters dlq ${ids#* })
check "purge-dead-letters IDs: deleted, the queue untouched" \
	test "$out|$(sql "SELECT messages || ' ' || dead FROM broker.queues WHERE queue = 'dlq'")" = 'purged 2 dead letters of queue "dlq"|1 0'
nack_all >/dev/null
out=$(pgb redrive dlq)
check "redrive without ids: every dead letter" \
	test "$out|$(sql "SELECT messages || ' ' || dead FROM broker.queues WHERE queue = 'dlq'")" = 'redrove 1 dead letter of queue "dlq"|1 0'
nack_all >/dev/null
check "purge-dead-letters without ids: every dead letter" \
	test "$(pgb purge-dead-letters dlq)|$(sql "SELECT dead FROM broker.queues WHERE queue = 'dlq'")" = 'purged 1 dead letter of queue "dlq"|0'
pgb redrive dlq x 2>/dev/null; rc=$?
check "redrive with an id that is not one: exit 1" test $rc = 1
pgb dead-letters nosuch 2>"$tmp/err"; rc=$?
check "dead-letters of a missing queue: exit 3, 42704" bash -c "[ $rc = 3 ] && grep -q 42704 '$tmp/err'"
echo '{"p": 1}' | pgb send dlq -q --priority 7 --group-key gk --delay '1 hour'
check "send --priority --group-key --delay: broker.peek shows them, due in the future" \
	test "$(sql "SELECT priority || ' ' || group_key || ' ' || (available_at > now() + interval '50 minutes') || ' ' || state FROM broker.peek('dlq')")" = '7 gk true delayed'
printf '1\n2\n' | pgb send dlq -q --group-key gk2
check "send --group-key applies to every line" \
	test "$(sql "SELECT count(*) FROM broker.peek('dlq') WHERE group_key = 'gk2'")" = 2
echo '{"d": 1}' | pgb send dlq -q --dedup-key dk
check "send --dedup-key: one message with the key" \
	test "$(sql "SELECT count(*) FROM broker.peek('dlq') WHERE dedup_key = 'dk'")" = 1
printf '1\n2\n' | pgb send dlq -q --dedup-key dk2 2>"$tmp/err"; rc=$?
check "send --dedup-key with two lines: exit 1, nothing sent" \
	bash -c "[ $rc = 1 ] && grep -q 'line 2 is a second one' '$tmp/err' && [ \$(psql -X -At -d $db -c \"SELECT count(*) FROM broker.peek('dlq') WHERE dedup_key = 'dk2'\") = 0 ]"
pgb peek dlq >"$tmp/peek"; rc=$?
check "peek lists the messages (id, state, attempt, priority, group_key, available_at, payload)" \
	bash -c "[ $rc = 0 ] && grep -q '(4 rows)' '$tmp/peek' && head -1 '$tmp/peek' | grep -q 'id .*| .*state.* | attempt | priority | group_key | .*available_at.* | .*payload' && grep -q '| delayed | .*|        7 | gk  ' '$tmp/peek'"
check "peek -n 2 shows two" bash -c "'$PGBROKER' -d 'dbname=$db' peek dlq -n 2 | grep -q '(2 rows)'"
id=$(sql "SELECT id FROM broker.peek('dlq') WHERE priority = 7")
out=$(pgb cancel dlq "$id")
check "cancel removes the message" \
	test "$out|$(sql "SELECT count(*) FROM broker.peek('dlq') WHERE id = $id")" = "cancelled message $id of queue \"dlq\"|0"
out=$(pgb cancel dlq "$id"); rc=$?
check "cancel of a message that is gone says so, exit 0" \
	test "$rc|$out" = "0|message $id of queue \"dlq\" not cancelled: no such message, or it is leased"

echo "-- groups of every topic, reset-group, delete-group"
pgb create topic opst --partitions 2 >/dev/null
seq 1 10 | pgb publish opst -q --partition 0
seq 1 6 | pgb publish opst -q --partition 1
pgb tail opst -g og --from earliest >/dev/null
pgb groups >"$tmp/groups"; rc=$?
check "groups without a topic: one row per topic and group" \
	bash -c "[ $rc = 0 ] && head -1 '$tmp/groups' | grep -q 'topic.* | .*group.* | partitions | .*lag.* | .*last_commit.* | .*lease_holders' && grep -q '^ opst   *| og  *|  *2 |  *0 |' '$tmp/groups' && grep -q '^ events *| g1 *|  *4 |' '$tmp/groups'"
lag_of() { sql "SELECT string_agg(partition || ':' || committed_offset, ' ' ORDER BY partition) FROM broker.consumer_lag WHERE topic = 'opst' AND consumer_group = 'og'"; }
before=$(lag_of)
pgb reset-group opst og --to earliest --dry-run >"$tmp/reset"; rc=$?
check "reset-group --dry-run prints old -> new per partition" \
	bash -c "[ $rc = 0 ] && grep -q '^would reset consumer group \"og\" of topic \"opst\" to earliest:\$' '$tmp/reset' && [ \"\$(grep '^  partition' '$tmp/reset')\" = \"\$(psql -X -At -d $db -c \"SELECT string_agg(format('  partition %s: %s -> %s', partition, latest_offset, earliest_offset), E'\\n' ORDER BY partition) FROM broker.topic_partitions('opst')\")\" ]"
check "reset-group --dry-run moved nothing (broker.consumer_lag)" test "$(lag_of)" = "$before"
pgb reset-group opst og --to earliest --partition 1 >"$tmp/reset"; rc=$?
check "reset-group --partition moves that partition only" \
	bash -c "[ $rc = 0 ] && [ \$(grep -c '^  partition' '$tmp/reset') = 1 ] && grep -q '^  partition 1: ' '$tmp/reset'"
check "after reset-group --partition 1: partition 0 where it was, partition 1 at the earliest" \
	test "$(sql "SELECT string_agg(partition || ':' || (committed_offset = broker.earliest_offset('opst', partition)), ' ' ORDER BY partition) FROM broker.consumer_lag WHERE topic = 'opst' AND consumer_group = 'og'")" = "0:false 1:true"
pgb reset-group opst og --to 3 >"$tmp/reset"; rc=$?
check "reset-group --to OFFSET moves every partition to where it says (broker.consumer_lag)" \
	test "$rc|$(lag_of)|$(grep -c '^  partition .* -> ' "$tmp/reset")" = "0|$(sed -n 's/^  partition \([0-9]*\): .* -> \([0-9]*\)$/\1:\2/p' "$tmp/reset" | paste -sd' ')|2"
pgb reset-group opst og 2>/dev/null; rc=$?
check "reset-group without --to: exit 1" test $rc = 1
out=$(pgb delete-group opst og)
check "delete-group" \
	test "$out|$(sql "SELECT count(*) FROM broker.consumer_lag WHERE topic = 'opst' AND consumer_group = 'og'")" = 'deleted consumer group "og" of topic "opst"|0'
pgb delete-group opst og 2>"$tmp/err"; rc=$?
check "delete-group of a missing group: exit 3" test $rc = 3

echo "-- alter, metrics, stats --watch"
out=$(pgb alter queue jobs --max-attempts 7 --set ttl=1h)
check "alter queue: the settings named change" \
	test "$out|$(sql "SELECT max_attempts || ' ' || ttl || ' ' || dedup_window FROM broker.queues WHERE queue = 'jobs'")" = 'altered queue "jobs"|7 01:00:00 00:01:00'
pgb alter queue jobs --set clear_ttl=true >/dev/null
check "alter queue --set clear_ttl=true" test "$(sql "SELECT ttl IS NULL FROM broker.queues WHERE queue = 'jobs'")" = t
out=$(pgb alter topic events --retention '2 days' --set retention_bytes=1000000)
check "alter topic" \
	test "$out|$(sql "SELECT retention || ' ' || retention_bytes FROM broker.topics WHERE topic = 'events'")" = 'altered topic "events"|2 days 1000000'
pgb alter queue jobs --partitions 3 2>/dev/null; rc=$?
check "alter queue --partitions: exit 1" test $rc = 1
pgb alter queue jobs --if-not-exists 2>/dev/null; rc=$?
check "alter --if-not-exists: exit 1" test $rc = 1
pgb alter queue nosuch --max-attempts 2 2>"$tmp/err"; rc=$?
check "alter a missing queue: exit 3, 42704" bash -c "[ $rc = 3 ] && grep -q 42704 '$tmp/err'"
pgb metrics >"$tmp/metrics"; rc=$?
check "metrics prints the exposition, which promtool accepts" \
	bash -c "[ $rc = 0 ] && grep -q '^pgbroker_queue_messages{queue=\"jobs\",state=\"ready\"} [0-9]' '$tmp/metrics' && grep -q '^pgbroker_topic_partition_end_offset{topic=\"events\",partition=\"3\"} ' '$tmp/metrics' && promtool check metrics <'$tmp/metrics' >'$tmp/promtool' 2>&1" || cat "$tmp/promtool" "$tmp/metrics"
sql "SELECT row(m.*) FROM broker.queue_metrics m WHERE queue = 'jobs'"; sql "SELECT pg_relation_size(broker._queue_table(id)), pg_stat_get_live_tuples(broker._queue_table(id)::regclass), (SELECT count(*) FROM broker.peek('jobs', 1000)) FROM broker.queue WHERE name = 'jobs'"
pgb metrics extra 2>/dev/null; rc=$?
check "metrics with an argument: exit 1" test $rc = 1
( for i in $(seq 1 30); do echo '{"w": 1}' | "$PGBROKER" -d "dbname=$db" send jobs -q; sleep 0.05; done ) &
sender=$!
timeout -s INT 2 "$PGBROKER" -d "dbname=$db" stats --watch --interval 0.5 >"$tmp/watch"
wait $sender
check "stats --watch refreshes, with a rate of messages in" \
	bash -c "[ \$(grep -c '^pgbroker stats at' '$tmp/watch') -ge 2 ] && grep -qE '^ queue +\| jobs +\| +[0-9]+ \| +[1-9][0-9]*\.[0-9] ' '$tmp/watch'"

echo "-- grant and revoke"
sql "CREATE ROLE cli_sender LOGIN IN ROLE pgbroker_producer;
     CREATE ROLE cli_creator LOGIN IN ROLE pgbroker_producer, pgbroker_consumer;
     CREATE ROLE cli_admin LOGIN IN ROLE pgbroker_admin;
     CREATE ROLE \"Cli Reader\" LOGIN"
as() { local role=$1; shift; "$PGBROKER" -d "dbname=$db user=$role" "$@"; }
denied() {	# denied RC OBJECT: exit 3 and the server's 42501 naming OBJECT in $tmp/err
	[ "$1" = 3 ] && grep -q "permission denied for $2 (SQLSTATE 42501)" "$tmp/err"
}
pgb create queue privq >/dev/null
echo '{"n": 1}' | as cli_sender send privq -q 2>"$tmp/err"; rc=$?
check "private by default: send without a grant is refused, exit 3, 42501" denied $rc 'queue "privq"'
out=$(pgb grant send cli_sender --queue privq)
check "grant send --queue" test "$out" = 'granted send on queue "privq" to role "cli_sender"'
check "the grant is in broker.privileges" \
	test "$(sql "SELECT count(*) FROM broker.privileges WHERE name = 'privq' AND grantee = 'cli_sender'::regrole AND privilege = 'send'")" = 1
seq 1 3 | as cli_sender send privq -q; rc=$?
check "the grantee sends through the tool (connected as itself)" \
	test "$rc $(sql "SELECT messages FROM broker.queues WHERE queue = 'privq'")" = "0 3"
pgb describe queue privq >"$tmp/desc"
check "describe queue shows the owner" grep -q '^owner *| postgres$' "$tmp/desc"
check "describe queue shows the grant" grep -q '^ cli_sender *| send$' "$tmp/desc"
check "describe queue lists the owner's privileges first" \
	test "$(sed -n '/Grants/,$p' "$tmp/desc" | sed -n 4p | awk '{print $1}')" = postgres
as cli_sender describe queue privq 2>"$tmp/err"; rc=$?
check "describe without browse: exit 3, 42501 (not 42704)" denied $rc 'queue "privq"'
as cli_sender grant send cli_sender --queue jobs 2>"$tmp/err"; rc=$?
with_detail() { denied "$@" && grep -q '^DETAIL: .*manage privilege' "$tmp/err" && grep -q '^HINT: ' "$tmp/err"; }
check "grant without manage: exit 3 with the server's 42501, DETAIL and HINT" with_detail $rc 'queue "jobs"'
out=$(pgb revoke send cli_sender --queue privq)
check "revoke send --queue" test "$out" = 'revoked send on queue "privq" from role "cli_sender"'
echo '{"n": 4}' | as cli_sender send privq -q 2>"$tmp/err"; rc=$?
check "after revoke the send is refused: exit 3, 42501" denied $rc 'queue "privq"'
check "after revoke nothing more was sent" test "$(sql "SELECT messages FROM broker.queues WHERE queue = 'privq'")" = 3
pgb describe queue privq >"$tmp/desc"
check "after revoke describe no longer lists the grantee" bash -c "! grep -q cli_sender '$tmp/desc'"
pgb grant manage cli_admin --queue privq >/dev/null
pgb revoke manage cli_admin --queue privq 2>"$tmp/err" >/dev/null; rc=$?
check "revoke from a member of pgbroker_admin notes that it still holds the privilege" \
	bash -c "[ $rc = 0 ] && grep -q 'still holds manage on queue \"privq\"' '$tmp/err'"
pgb grant browse 'Cli Reader' --topic events 2>"$tmp/err" >"$tmp/out"; rc=$?
check "grant takes ROLE literally (\"Cli Reader\") and warns it belongs to no pgbroker role" \
	bash -c "[ $rc = 0 ] && grep -q 'on topic \"events\" to role \"Cli Reader\"' '$tmp/out' && grep -q 'belongs to none of' '$tmp/err'"
pgb describe topic events >"$tmp/desc"
check "describe topic shows the grant" grep -q '^ "Cli Reader" *| browse$' "$tmp/desc"
as cli_creator create queue mine 2>"$tmp/err"; rc=$?
check "create without the create privilege: exit 3, 42501" bash -c "[ $rc = 3 ] && grep -q 'SQLSTATE 42501' '$tmp/err'"
as cli_creator grant create cli_creator 2>"$tmp/err"; rc=$?
check "grant create by a non-admin: exit 3, 42501" bash -c "[ $rc = 3 ] && grep -q 'SQLSTATE 42501' '$tmp/err'"
out=$(pgb grant create cli_creator)
check "grant create" test "$out" = 'granted create to role "cli_creator"'
as cli_creator create queue mine >/dev/null; rc=$?
as cli_creator describe queue mine >"$tmp/desc"
check "the grantee of create creates a queue, and owns it" \
	bash -c "[ $rc = 0 ] && grep -q '^owner *| cli_creator$' '$tmp/desc' && grep -q '^ cli_creator *| manage$' '$tmp/desc'"
as cli_creator list >"$tmp/list" 2>"$tmp/err"; rc=$?
check "list as the grantee shows only what it may see" \
	bash -c "[ $rc = 0 ] && grep -q '^ mine ' '$tmp/list' && ! grep -q '^ jobs ' '$tmp/list' && ! grep -q '^ privq ' '$tmp/list'"
as cli_sender list >"$tmp/list" 2>"$tmp/err"; rc=$?
check "list as a member of pgbroker_producer alone (no consumer_lag) works" \
	test "$rc $(grep -c '(0 rows)' "$tmp/list")" = "0 2"
as cli_sender stats --interval 0.1 >/dev/null 2>"$tmp/err"; rc=$?
check "stats as a member of pgbroker_producer alone works" test $rc = 0
out=$(pgb revoke create cli_creator)
check "revoke create" test "$out" = 'revoked create from role "cli_creator"'
as cli_creator create queue mine2 2>"$tmp/err"; rc=$?
check "after revoke create, creating is refused: exit 3, 42501" bash -c "[ $rc = 3 ] && grep -q 'SQLSTATE 42501' '$tmp/err'"
pgb grant send nosuchrole --queue privq 2>"$tmp/err"; rc=$?
check "grant to a missing role: exit 3, 42704" \
	bash -c "[ $rc = 3 ] && grep -q 'role \"nosuchrole\" does not exist (SQLSTATE 42704)' '$tmp/err'"
pgb grant send cli_sender --queue nosuch 2>"$tmp/err"; rc=$?
check "grant on a missing queue: exit 3, 42704" \
	bash -c "[ $rc = 3 ] && grep -q 'queue \"nosuch\" does not exist (SQLSTATE 42704)' '$tmp/err'"
usage_rcs=
for a in 'send cli_sender' 'create cli_sender --queue privq' 'send cli_sender --queue privq --topic events' \
	'frob cli_sender --queue privq' 'send' 'send cli_sender extra --queue privq'; do
	# shellcheck disable=SC2086
	pgb grant $a 2>/dev/null
	usage_rcs="$usage_rcs$?"
done
check "grant usage errors exit 1 (no object, create on one, both, unknown privilege, missing role, extra argument)" \
	test "$usage_rcs" = 111111

echo "-- subscriptions"
pgb create queue cli_subq >/dev/null
sql 'CREATE FUNCTION public.cli_h(m broker.message) RETURNS void LANGUAGE sql AS $$ SELECT $$'
sql "SELECT broker.subscribe('cli_sub', 'public.cli_h(broker.message)'::regprocedure, queue => 'cli_subq')" >/dev/null
sub_row() { sql "SELECT enabled || ' ' || (state = 'paused') FROM broker.subscriptions WHERE name = 'cli_sub'"; }
pgb subscriptions >"$tmp/subs"; rc=$?
check "subscriptions lists the subscription with its queue and handler" \
	bash -c "[ $rc = 0 ] && grep -q '^ cli_sub  *| queue  *| cli_subq  *| .*| .*cli_h(broker.message) ' '$tmp/subs' && grep -q '(1 row)' '$tmp/subs'"
out=$(pgb subscription pause cli_sub)
check "subscription pause" test "$out" = 'paused subscription "cli_sub"'
check "after pause the view shows enabled false, state paused" test "$(sub_row)" = "false true"
pgb subscriptions >"$tmp/subs"
check "subscriptions shows the state paused" grep -q '^ cli_sub .*| paused  *|' "$tmp/subs"
out=$(pgb subscription resume cli_sub)
check "subscription resume" test "$out" = 'resumed subscription "cli_sub"'
check "after resume the view shows enabled true, not paused" test "$(sub_row)" = "true false"
as cli_sender subscription drop cli_sub 2>"$tmp/err"; rc=$?
check "drop by a role that does not own it: exit 3, 42501, HINT" \
	bash -c "[ $rc = 3 ] && grep -q 'must be the owner of subscription \"cli_sub\" (SQLSTATE 42501)' '$tmp/err' && grep -q '^HINT: ' '$tmp/err'"
out=$(pgb subscription drop cli_sub)
check "subscription drop" test "$out" = 'dropped subscription "cli_sub"'
check "after drop the subscription is gone" \
	test "$(sql "SELECT count(*) FROM broker.subscriptions WHERE name = 'cli_sub'")" = 0
pgb subscriptions >"$tmp/subs"
check "subscriptions no longer lists it" bash -c "grep -q '(0 rows)' '$tmp/subs' && ! grep -q cli_sub '$tmp/subs'"
pgb subscription drop cli_sub 2>"$tmp/err" >"$tmp/out"; rc=$?
check "drop of a missing subscription: exit 3, 42704 naming it, nothing on standard output" \
	bash -c "[ $rc = 3 ] && grep -q 'subscription \"cli_sub\" does not exist (SQLSTATE 42704)' '$tmp/err' && [ ! -s '$tmp/out' ]"
pgb subscription pause nosuch 2>"$tmp/err"; rc=$?
check "pause of a missing subscription: exit 3, 42704" \
	bash -c "[ $rc = 3 ] && grep -q 'subscription \"nosuch\" does not exist (SQLSTATE 42704)' '$tmp/err'"
usage_rcs=
for a in '' 'frob cli_sub' 'pause' 'pause a b'; do
	# shellcheck disable=SC2086
	pgb subscription $a 2>/dev/null
	usage_rcs="$usage_rcs$?"
done
pgb subscriptions extra 2>/dev/null
usage_rcs="$usage_rcs$?"
check "subscription usage errors exit 1 (no action, unknown action, missing name, extra argument)" \
	test "$usage_rcs" = 11111
# the dropped subscription's workers leave when they read that it is gone;
# wait for them (bounded) so that the database can be dropped at the end
for i in $(seq 1 100); do
	[ "$(sql "SELECT count(*) FROM pg_stat_activity WHERE datname = '$db' AND application_name LIKE 'pgbroker subscription %'")" = 0 ] && break
	sleep 0.1
done

echo "-- stats and bench"
pgb stats --interval 0.2 >"$tmp/stats"
check "stats lists queues and topics" bash -c "grep -q ' queue | jobs ' '$tmp/stats' && grep -q ' topic | events ' '$tmp/stats'"
# the user's own objects with the names bench used to take
pgb create queue pgbroker_bench >/dev/null
echo '{"mine": 1}' | pgb send pgbroker_bench -q
sql "CREATE TABLE pgbroker_bench_floor (x int); INSERT INTO pgbroker_bench_floor VALUES (1)"
bench_left() {	# what bench runs left behind: queues, topics, tables named for a run
	sql "SELECT (SELECT count(*) FROM broker.queues WHERE queue LIKE 'pgbroker\_bench\_%')
	          + (SELECT count(*) FROM broker.topics WHERE topic LIKE 'pgbroker\_bench\_%')
	          + (SELECT count(*) FROM pg_class WHERE relname LIKE 'pgbroker\_bench\_floor\_%' AND relkind = 'r')"
}
users_bench() { sql "SELECT (SELECT string_agg(payload::text, ',') FROM broker.peek('pgbroker_bench', 10)) || ' ' || (SELECT string_agg(x::text, ',') FROM pgbroker_bench_floor)"; }
pgb bench -T 1 -P 2 -C 2 --json >"$tmp/bench" 2>"$tmp/bench_err"; rc=$?
check "bench runs and reports pgbroker and the floor" \
	bash -c "[ $rc = 0 ] && grep -q '\"system\": \"pgbroker\"' '$tmp/bench' && grep -q '\"system\": \"floor\"' '$tmp/bench' && grep -q ratio_to_floor '$tmp/bench'"
check "bench drops the objects it created" test "$(bench_left)" = 0
check "bench leaves the user's queue and table pgbroker_bench* whole" test "$(users_bench)" = '{"mine": 1} 1'
"$PGBROKER" -d "dbname=$db" bench --topic -T 60 -P 2 -C 2 >/dev/null 2>"$tmp/bench_err" &
bencher=$!
for i in $(seq 1 100); do
	[ "$(sql "SELECT count(*) FROM broker.topics WHERE topic LIKE 'pgbroker\_bench\_%' AND records > 0")" = 1 ] && break
	sleep 0.05
done
kill -INT $bencher; wait $bencher; rc=$?
check "bench: Ctrl-C exits 0 and drops the objects it created" test "$rc $(bench_left)" = "0 0"
check "bench: after Ctrl-C the user's queue and table are whole" test "$(users_bench)" = '{"mine": 1} 1'

dropdb $db
dropdb --if-exists ${db}_noext 2>/dev/null
drop_roles
echo "cli: $((checks - failures)) of $checks checks passed"
[ $failures -eq 0 ]
