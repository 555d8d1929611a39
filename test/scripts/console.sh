#!/usr/bin/env bash
# test/scripts/console.sh - pgbroker-console against a cluster of its own:
# the JSON API against the SQL views, the refusal of cross-site and
# read-only requests, the privileges of each action, basic authentication
# and its TLS rule, /metrics, and the page in headless chromium
# (test/console/browser.js).  SHOTS=DIR keeps the browser's screenshots.
set -euo pipefail
cd "$(dirname "$0")/../.."
top=$(pwd)
. scripts/cluster.sh

. test/scripts/checks.sh
q() { psql -X -qAt -v ON_ERROR_STOP=1 "$@"; }
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

make -s -C console >/dev/null
# preloaded: the queues' counters give the page its rates
pgbroker_cluster_start "shared_preload_libraries = 'pgbroker'" >/dev/null
dir=$PGBROKER_CLUSTER_DIR
xss='<img src=x onerror=alert(1)>'
q >/dev/null <<SQL
CREATE EXTENSION pgbroker;
CREATE ROLE console_ops LOGIN IN ROLE pgbroker_admin;
CREATE ROLE console_viewer LOGIN IN ROLE pg_monitor;
CREATE ROLE console_pw LOGIN PASSWORD 'right horse battery' IN ROLE pg_monitor;
SET ROLE console_ops;
SELECT broker.create_queue('orders', max_attempts => 1);
SELECT broker.create_queue('$xss');
SELECT count(broker.send('orders', jsonb_build_object('n', i))) FROM generate_series(1, 20) i;
SELECT count(broker.nack('orders', id, receipt, error => 'boom <b>bold</b>')) FROM broker.claim('orders', 3);
SELECT count(broker.send('$xss', '{"<script>": "alert(2)"}')) FROM generate_series(1, 2);
SELECT broker.create_topic('events', partitions => 2);
SELECT count(broker.publish('events', '{}', partition => i % 2)) FROM generate_series(1, 30) i;
SELECT broker.create_group('events', 'billing', 'earliest');
RESET ROLE;
CREATE FUNCTION public.console_handler(m broker.message) RETURNS void LANGUAGE sql AS \$\$ SELECT \$\$;
GRANT EXECUTE ON FUNCTION public.console_handler(broker.message) TO console_ops;
SET ROLE console_ops;
SELECT broker.subscribe('mailer', 'public.console_handler(broker.message)'::regprocedure, queue => 'orders', enabled => false);
SQL
# console_pw logs in with its password; everyone else as before
{ echo "local all console_pw scram-sha-256"; cat "$dir/data/pg_hba.conf"; } >"$dir/pg_hba.new"
cp "$dir/pg_hba.new" "$dir/data/pg_hba.conf"
q -c "SELECT pg_reload_conf()" >/dev/null

base=$((PGPORT + 100))
pids=()
start_console() {	# start_console PORT ARGS...: wait until it answers
	local port=$1; shift
	console/pgbroker-console --listen "127.0.0.1:$port" --static-dir console/static \
		-h "$PGHOST" -p "$PGPORT" -d postgres "$@" >"$dir/console-$port.log" 2>&1 &
	pids+=($!)
	for _ in $(seq 1 100); do
		curl -s -o /dev/null "http://127.0.0.1:$port/" && return 0
		sleep 0.05
	done
	cat "$dir/console-$port.log"; return 1
}
trap 'kill "${pids[@]}" 2>/dev/null || true; pgbroker_cluster_stop' EXIT
A=http://127.0.0.1:$base; start_console $base -U console_ops
RO=http://127.0.0.1:$((base + 1)); start_console $((base + 1)) -U console_ops --read-only
V=http://127.0.0.1:$((base + 2)); start_console $((base + 2)) -U console_viewer
AU=http://127.0.0.1:$((base + 3)); start_console $((base + 3)) --auth

# --- the API against the views --------------------------------------------
check "session: the role and the API version" "console_ops 1 False" \
	"$(curl -s $A/api/v1/session | json 'd["role"], d["api"], d["read_only"]' | tr -d "(),'")"
overview=$(curl -s $A/api/v1/overview)
check "overview: each queue's numbers as broker.queue_metrics gives them" \
	"$(q -c "SELECT string_agg(concat_ws(':', queue, messages, ready, delayed, leased, dead), ' ' ORDER BY queue) FROM broker.queue_metrics")" \
	"$(json '" ".join(":".join(str(x) for x in (q["queue"], q["messages"], q["ready"], q["delayed"], q["leased"], q["dead"])) for q in d["queues"])' <<<"$overview")"
check "overview: topics and their groups" "events:30:1" \
	"$(json '" ".join("%s:%s:%s" % (t["topic"], t["records"], t["groups"]) for t in d["topics"])' <<<"$overview")"
check "overview: subscriptions" "mailer:paused" \
	"$(json '" ".join("%s:%s" % (s["name"], s["state"]) for s in d["subscriptions"])' <<<"$overview")"
check "queue: may browse and manage" "True True" \
	"$(curl -s "$A/api/v1/queue?name=orders" | json 'd["may_browse"], d["may_manage"]' | tr -d "(),'")"
check "dead letters with their error and history" "3 boom <b>bold</b> 1" \
	"$(curl -s "$A/api/v1/dead-letters?name=orders" | json 'len(d["dead_letters"]), d["dead_letters"][0]["last_error"], len(d["dead_letters"][0]["history"])' | tr -d "(),'")"
check "queue: a name with markup comes back as it is" "$xss" \
	"$(curl -s -G "$A/api/v1/queue" --data-urlencode "name=$xss" | json 'd["queue"]["queue"]')"
check "queue: a missing one is 404" "404" "$(curl -s -o /dev/null -w '%{http_code}' "$A/api/v1/queue?name=nosuch")"
check "queue: without a name, 400" "400" "$(curl -s -o /dev/null -w '%{http_code}' "$A/api/v1/queue")"
check "topic: partitions and groups as the views give them" \
	"$(q -c "SELECT string_agg(partition || ':' || end_offset, ' ' ORDER BY partition) FROM broker.partition_metrics WHERE topic = 'events'") $(q -c "SELECT sum(lag) FROM broker.group_metrics WHERE topic = 'events'")" \
	"$(curl -s "$A/api/v1/topic?name=events" | json '" ".join("%s:%s" % (p["partition"], p["end_offset"]) for p in d["partitions"]) + " " + str(sum(g["lag"] for g in d["groups"]))')"
check "an unknown call is 404" "404" "$(curl -s -o /dev/null -w '%{http_code}' "$A/api/v1/nothing")"
check "a file not in the page's list is 404" "404" "$(curl -s -o /dev/null -w '%{http_code}' "$A/static/../console.h")"
check "answers carry a content security policy and nosniff" "2" \
	"$(curl -s -D - -o /dev/null $A/ | grep -ciE "^(content-security-policy: default-src 'none'; script-src 'self'|x-content-type-options: nosniff)")"

# --- another site's name resolved to the console (DNS rebinding): refused --------------
check "a request for another Host is refused, 421" "421 421" \
	"$(curl -s -o /dev/null -w '%{http_code}' -H "Host: rebind.example:$base" $A/api/v1/session) $(curl -s -o /dev/null -w '%{http_code}' -H "Host: rebind.example:$base" $A/)"
check "localhost is one of its names" "200" "$(curl -s -o /dev/null -w '%{http_code}' -H "Host: localhost:$base" $A/api/v1/session)"
check "a POST from an Origin that is not the console's, even with the token: 403" "403" \
	"$(curl -s -o /dev/null -w '%{http_code}' -X POST $A/api/v1/queue/redrive -H 'Content-Type: application/json' \
		-H "X-Pgbroker-Token: $(curl -s $A/api/v1/session | json 'd["token"]')" -H "Origin: http://127.0.0.1:$base.evil.example" -d '{"queue": "orders", "ids": []}')"

# --- cross-site and read-only refusals ---------------------------------------
tok=$(curl -s $A/api/v1/session | json 'd["token"]')
redrive() {	# redrive URL [curl args...]: the HTTP status
	local u=$1; shift
	curl -s -o "$dir/post.out" -w '%{http_code}' -X POST "$u/api/v1/queue/redrive" -d '{"queue": "orders", "ids": []}' "$@"
}
dead() { q -c "SELECT count(*) FROM broker.dead_letter"; }
check "POST without the token: 403" "403" "$(redrive $A -H 'Content-Type: application/json')"
check "POST with a wrong token: 403" "403" "$(redrive $A -H 'Content-Type: application/json' -H "X-Pgbroker-Token: ${tok/a/b}")"
check "POST with the token from another origin: 403" "403" \
	"$(redrive $A -H 'Content-Type: application/json' -H "X-Pgbroker-Token: $tok" -H 'Origin: http://evil.example')"
check "POST as a form (text/plain): 415" "415" "$(redrive $A -H 'Content-Type: text/plain' -H "X-Pgbroker-Token: $tok")"
check "POST with the token, same origin: 200 (an empty list moves nothing)" "200 3" \
	"$(redrive $A -H 'Content-Type: application/json' -H "X-Pgbroker-Token: $tok" -H "Origin: $A") $(dead)"
rotok=$(curl -s $RO/api/v1/session | json 'd["token"]')
check "read-only: the session says so" "True" "$(curl -s $RO/api/v1/session | json 'd["read_only"]')"
check "read-only: every POST is refused, 403" "403 3" \
	"$(redrive $RO -H 'Content-Type: application/json' -H "X-Pgbroker-Token: $rotok") $(dead)"
check "read-only: /metrics still answers" "200" "$(curl -s -o /dev/null -w '%{http_code}' $RO/metrics)"

# --- privileges of each action: the viewer (pg_monitor) sees, cannot act --------
vtok=$(curl -s $V/api/v1/session | json 'd["token"]')
vpost() { curl -s -o "$dir/post.out" -w '%{http_code}' -X POST "$V$1" -H 'Content-Type: application/json' -H "X-Pgbroker-Token: $vtok" -d "$2"; }
check "viewer: sees the queues" "2" "$(curl -s $V/api/v1/overview | json 'len(d["queues"])')"
check "viewer: may neither browse nor manage" "False False" \
	"$(curl -s "$V/api/v1/queue?name=orders" | json 'd["may_browse"], d["may_manage"]' | tr -d "(),'")"
check "viewer: the dead letters refused, 403" "403" "$(curl -s -o /dev/null -w '%{http_code}' "$V/api/v1/dead-letters?name=orders")"
check "viewer: redrive refused, 403 42501" "403 42501" "$(vpost /api/v1/queue/redrive '{"queue": "orders"}') $(json 'd["sqlstate"]' <"$dir/post.out")"
check "viewer: purge refused, 403 42501" "403 42501" "$(vpost /api/v1/queue/purge-dead-letters '{"queue": "orders"}') $(json 'd["sqlstate"]' <"$dir/post.out")"
check "viewer: pausing a subscription refused, 403 42501" "403 42501" "$(vpost /api/v1/subscription/resume '{"name": "mailer"}') $(json 'd["sqlstate"]' <"$dir/post.out")"
check "viewer: resetting a group refused, 403 42501" "403 42501" \
	"$(vpost /api/v1/group/reset '{"topic": "events", "group": "billing", "to": "latest"}') $(json 'd["sqlstate"]' <"$dir/post.out")"
check "after the viewer's attempts nothing moved" "3 paused 0" \
	"$(dead) $(q -c "SELECT state FROM broker.subscriptions") $(q -c "SELECT sum(committed_offset) FROM broker.consumer_lag WHERE topic = 'events'")"
apost() { curl -s -o "$dir/post.out" -w '%{http_code}' -X POST "$A$1" -H 'Content-Type: application/json' -H "X-Pgbroker-Token: $tok" -d "$2"; }
check "ops: a dry run of a reset moves nothing" "200 0:15,1:15 0" \
	"$(apost /api/v1/group/reset '{"topic": "events", "group": "billing", "to": "latest", "dry_run": true}') $(json '",".join("%s:%s" % (p["partition"], p["new_offset"]) for p in d["partitions"])' <"$dir/post.out") $(q -c "SELECT sum(committed_offset) FROM broker.consumer_lag WHERE topic = 'events'")"
check "ops: a bad position is 400 with its SQLSTATE" "400 22007" \
	"$(apost /api/v1/group/reset '{"topic": "events", "group": "billing", "to": "yesterday-ish"}') $(json 'd["sqlstate"]' <"$dir/post.out")"

# --- basic authentication -----------------------------------------------------
check "--auth: no credentials, 401 with a challenge" "401 1" \
	"$(curl -s -o /dev/null -w '%{http_code}' $AU/api/v1/overview) $(curl -s -D - -o /dev/null $AU/api/v1/overview | grep -ci '^www-authenticate: basic')"
check "--auth: a wrong password, 401" "401" "$(curl -s -o /dev/null -w '%{http_code}' -u 'console_pw:wrong' $AU/api/v1/overview)"
check "--auth: the right password, the database role of the login" "console_pw" \
	"$(curl -s -u 'console_pw:right horse battery' $AU/api/v1/session | json 'd["role"]')"
check "--auth: the page itself needs no login (its data does)" "200" "$(curl -s -o /dev/null -w '%{http_code}' $AU/)"
check "--auth: an empty password, 401 (libpq would take one from elsewhere)" "401 401" \
	"$(curl -s -o /dev/null -w '%{http_code}' -u 'console_pw:' $AU/api/v1/session) $(curl -s -o /dev/null -w '%{http_code}' -u ':' $AU/api/v1/session)"
check "--auth: a login the server lets in without its password (trust) is refused, 401" "401" \
	"$(curl -s -o /dev/null -w '%{http_code}' -u 'postgres:anything' $AU/api/v1/session)"
check "--auth beyond the loopback without TLS: refused at start" "1 yes" \
	"$(console/pgbroker-console --listen 0.0.0.0:$((base + 9)) --auth -h "$PGHOST" -p "$PGPORT" >"$dir/refused.log" 2>&1; echo $?) $(grep -q 'needs TLS' "$dir/refused.log" && echo yes)"

# HTTPS (GnuTLS through libmicrohttpd) with a throwaway certificate
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$dir/tls.key" -out "$dir/tls.crt" -days 1 \
	-subj /CN=localhost >/dev/null 2>&1
TLSPORT=$((base + 4))
console/pgbroker-console --listen "127.0.0.1:$TLSPORT" --static-dir console/static -h "$PGHOST" -p "$PGPORT" \
	-d postgres --auth --tls-cert "$dir/tls.crt" --tls-key "$dir/tls.key" >"$dir/console-tls.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do curl -sk -o /dev/null "https://127.0.0.1:$TLSPORT/" && break; sleep 0.05; done
check "--auth over HTTPS: the login's role" "console_pw" \
	"$(curl -sk -u 'console_pw:right horse battery' "https://127.0.0.1:$TLSPORT/api/v1/session" | json 'd["role"]')"
check "HTTPS only: plain HTTP gets no answer" "000" "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$TLSPORT/" || true)"

# each query under the statement timeout: a lock held elsewhere makes it fire
TOPORT=$((base + 5))
start_console $TOPORT -U console_ops --statement-timeout 300 --pool 1
psql -X -q -c "BEGIN" -c "LOCK TABLE broker.dead_letter IN ACCESS EXCLUSIVE MODE" -c "SELECT pg_sleep(3)" -c "COMMIT" >/dev/null &
locker=$!
sleep 0.5
check "a query held up by a lock ends at --statement-timeout: 504, 57014" "504 57014" \
	"$(curl -s -o "$dir/timeout.out" -w '%{http_code}' "http://127.0.0.1:$TOPORT/api/v1/overview") $(json 'd["sqlstate"]' <"$dir/timeout.out")"
wait $locker
check "after the timeout the pool's one connection serves again" "200" \
	"$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$TOPORT/api/v1/overview")"

# --- /metrics is pgbroker metrics -----------------------------------------------
names() { grep '^# TYPE' | awk '{print $3}' | sort | tr '\n' ' '; }
check "/metrics: the families of pgbroker metrics" "$(pgbroker -U console_ops metrics | names)" "$(curl -s $A/metrics | names)"
check "/metrics: Prometheus's content type" "text/plain; version=0.0.4; charset=utf-8" \
	"$(curl -s -o /dev/null -w '%{content_type}' $A/metrics)"

# --- the page in a browser ----------------------------------------------------------
expected=$(q -c "SELECT json_object_agg(queue, json_build_object('messages', messages, 'ready', ready, 'dead', dead)) FROM broker.queue_metrics")
shots=${SHOTS:-$dir}
producer=
if [ -n "${SHOTS:-}" ]; then
	# traffic for the screenshots' charts
	( for i in $(seq 1 40); do q -c "SELECT broker.send('orders', '{\"tick\": $i}')" >/dev/null
	  q -c "SELECT count(broker.ack('orders', id, receipt)) FROM broker.claim('orders', 1)" >/dev/null; sleep 0.3; done ) &
	producer=$!
fi
set +e
CONSOLE_URL=$A READONLY_URL=$RO EXPECTED=$expected XSS_QUEUE=$xss SHOTS=$shots PRODUCING=$producer \
	node test/console/browser.js >"$dir/browser.out" 2>&1
brc=$?
[ -z "$producer" ] || wait $producer
set -e
cat "$dir/browser.out"
checks=$((checks + $(grep -c '^ok - ' "$dir/browser.out" || true) + $(grep -c '^not ok - ' "$dir/browser.out" || true)))
fails=$((fails + $(grep -c '^not ok - ' "$dir/browser.out" || true)))
[ $brc -eq 0 ] || [ "$(grep -c '^not ok - ' "$dir/browser.out" || true)" -gt 0 ] || { fails=$((fails + 1)); echo "not ok - browser exited $brc"; }
redriven=$(sed -n 's/^redriven //p' "$dir/browser.out")
check "the dead letter the browser redrove is back in the queue (broker.peek, broker.dead_letters)" "1 0" \
	"$(q -c "SELECT count(*) FROM broker.peek('orders', 100) WHERE id = ${redriven:-0}") $(q -c "SELECT count(*) FROM broker.dead_letters('orders') WHERE id = ${redriven:-0}")"
check "the page's dry run moved nothing" "0" "$(q -c "SELECT sum(committed_offset) FROM broker.consumer_lag WHERE topic = 'events'")"
# (last: a resumed subscription's worker consumes the queue)
check "ops: resume and pause a subscription" "200 true 200 false" \
	"$(apost /api/v1/subscription/resume '{"name": "mailer"}') $(q -c "SELECT enabled FROM broker.subscription" | sed 's/t/true/;s/f/false/') $(apost /api/v1/subscription/pause '{"name": "mailer"}') $(q -c "SELECT enabled FROM broker.subscription" | sed 's/t/true/;s/f/false/')"

echo "$checks checks, $fails failed"
[ "$fails" -eq 0 ]
