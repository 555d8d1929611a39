# scripts/replicas.sh - a primary and two hot standbys on private ports,
# for the failover tests and by hand.
#
# Sourced:  . scripts/replicas.sh; replicas_start [sync|async] [postgresql.conf lines...]
# By hand:  bash scripts/replicas.sh   (starts them, prints how to connect,
#           waits for Ctrl-C, then stops and removes them)
#
# The nodes n0, n1, n2 run as the "postgres" OS user in one temporary
# directory, on ports BASE, BASE+1, BASE+2 and one Unix socket directory,
# listening on no TCP address.  n0 starts as the primary; n1 and n2 are
# made with pg_basebackup -R, each streaming through a physical
# replication slot of its own name and reporting that name as
# application_name (cluster_name), with hot_standby_feedback.  sync (the
# default) sets synchronous_standby_names = 'ANY 1 (<the standbys>)' and
# synchronous_commit = on on every node (a primary waits for one standby's
# flush); async leaves it empty.  Everything is stopped and removed on exit,
# also on failure.
#
# After replicas_start: REPLICAS_DIR, REPLICAS_SOCK, REPLICAS_PRIMARY (the
# node now primary), and PGHOST/PGPORT listing all three nodes with
# PGTARGETSESSIONATTRS=read-write, so that libpq clients find the primary
# whichever it is; replicas_psql NODE runs psql on one node.
#
# replicas_kill_primary        SIGKILL the primary and all its processes
# replicas_promote             promote the standby that received the most
#                              WAL; the other follows it
# replicas_rebuild NODE        make NODE (the dead old primary) a new
#                              standby of the primary (pg_basebackup,
#                              without fsync: these nodes are throwaway)
# replicas_failover            the three above, timed (REPLICAS_DOWNTIME_MS)
# replicas_stop                stop and remove everything

. "$(dirname "${BASH_SOURCE[0]}")/cluster.sh"
REPLICAS_BINDIR=${REPLICAS_BINDIR:-$(pg_config --bindir)}

replicas_as_pg() {	# (without the multi-host PG* variables, which a server would take for its own)
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- env -u PGHOST -u PGPORT -u PGTARGETSESSIONATTRS "$@"
	else
		env -u PGHOST -u PGPORT -u PGTARGETSESSIONATTRS "$@"
	fi
}

replicas_port() { echo $((REPLICAS_BASE + ${1#n})); }

replicas_psql() {	# replicas_psql NODE [psql args...]
	local node=$1; shift
	PGTARGETSESSIONATTRS=any psql -X -q -At -h "$REPLICAS_SOCK" -p "$(replicas_port "$node")" \
		-U postgres -d postgres -v ON_ERROR_STOP=1 "$@"
}

replicas_nodes() { echo n0 n1 n2; }

replicas_standbys() {	# the nodes other than the primary
	local n
	for n in $(replicas_nodes); do [ "$n" = "$REPLICAS_PRIMARY" ] || echo "$n"; done
}

replicas_ctl() {	# replicas_ctl NODE start|stop|promote [args]
	local node=$1 cmd=$2; shift 2
	replicas_as_pg "$REPLICAS_BINDIR/pg_ctl" -D "$REPLICAS_DIR/$node" -l "$REPLICAS_DIR/$node.log" \
		-w -t 120 "$cmd" "$@" >>"$REPLICAS_DIR/pg_ctl.out" 2>&1
}

# the synchronous_standby_names a primary should have now
replicas_sync_names() {
	[ "$REPLICAS_MODE" = sync ] || { echo ""; return; }
	echo "ANY 1 ($(replicas_standbys | paste -sd, -))"
}

# make NODE a standby of the primary: base backup through a new slot
replicas_make_standby() {
	local node=$1 pport
	pport=$(replicas_port "$REPLICAS_PRIMARY")
	rm -rf "${REPLICAS_DIR:?}/$node"
	replicas_psql "$REPLICAS_PRIMARY" -c "SELECT pg_drop_replication_slot('$node')
		FROM pg_replication_slots WHERE slot_name = '$node'" >/dev/null
	replicas_as_pg "$REPLICAS_BINDIR/pg_basebackup" -D "$REPLICAS_DIR/$node" -h "$REPLICAS_SOCK" \
		-p "$pport" -U postgres -X stream -R -C -S "$node" -c fast --no-sync >>"$REPLICAS_DIR/basebackup.out" 2>&1 || return 1
	{
		echo "port = $(replicas_port "$node")"
		echo "cluster_name = '$node'"
	} >>"$REPLICAS_DIR/$node/postgresql.auto.conf"
	replicas_ctl "$node" start
}

replicas_start() {	# replicas_start [sync|async] [postgresql.conf lines...]
	REPLICAS_MODE=sync
	if [ "${1:-}" = sync ] || [ "${1:-}" = async ]; then REPLICAS_MODE=$1; shift; fi
	REPLICAS_BASE=${REPLICAS_BASE:-$((20000 + RANDOM % 20000))}
	REPLICAS_DIR=$(mktemp -d /tmp/pgbroker-replicas.XXXXXX)
	REPLICAS_SOCK=$REPLICAS_DIR/sock
	REPLICAS_PRIMARY=n0
	mkdir -p "$REPLICAS_SOCK"
	chmod 755 "$REPLICAS_DIR"
	chown -R postgres: "$REPLICAS_DIR" 2>/dev/null || true
	trap replicas_stop EXIT
	trap 'exit 130' INT TERM
	replicas_as_pg "$REPLICAS_BINDIR/initdb" -D "$REPLICAS_DIR/n0" --auth=trust --username=postgres \
		--encoding=UTF8 --locale=C.UTF-8 >"$REPLICAS_DIR/initdb.log" 2>&1 || { cat "$REPLICAS_DIR/initdb.log" >&2; return 1; }
	{
		echo "listen_addresses = ''"
		echo "unix_socket_directories = '$REPLICAS_SOCK'"
		echo "max_connections = 200"
		echo "shared_buffers = 128MB"
		echo "wal_level = replica"
		echo "max_wal_senders = 10"
		echo "max_replication_slots = 10"
		echo "wal_keep_size = 256MB"
		echo "hot_standby = on"
		echo "hot_standby_feedback = on"
		echo "synchronous_commit = on"
		echo "log_min_messages = warning"
		echo "log_line_prefix = '%m [%p] %b %e '"
		for line in "$@"; do echo "$line"; done
	} >>"$REPLICAS_DIR/n0/postgresql.conf"
	{
		echo "port = $REPLICAS_BASE"
		echo "cluster_name = 'n0'"
	} >>"$REPLICAS_DIR/n0/postgresql.auto.conf"
	replicas_ctl n0 start || { cat "$REPLICAS_DIR/n0.log" >&2; return 1; }
	replicas_make_standby n1 || { cat "$REPLICAS_DIR/basebackup.out" "$REPLICAS_DIR/n1.log" >&2; return 1; }
	replicas_make_standby n2 || { cat "$REPLICAS_DIR/basebackup.out" "$REPLICAS_DIR/n2.log" >&2; return 1; }
	replicas_psql n0 -c "ALTER SYSTEM SET synchronous_standby_names = '$(replicas_sync_names)'" \
		-c "SELECT pg_reload_conf()" >/dev/null
	replicas_wait_streaming 2 || return 1
	export PGHOST="$REPLICAS_SOCK,$REPLICAS_SOCK,$REPLICAS_SOCK"
	export PGPORT="$REPLICAS_BASE,$((REPLICAS_BASE + 1)),$((REPLICAS_BASE + 2))"
	export PGTARGETSESSIONATTRS=read-write PGUSER=postgres PGDATABASE=postgres
	export PGCONNECT_TIMEOUT=2
}

# wait until N standbys stream from the primary (30 s at most)
replicas_wait_streaming() {
	local want=$1 got
	for _ in $(seq 1 300); do
		got=$(replicas_psql "$REPLICAS_PRIMARY" -c "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'" 2>/dev/null || echo 0)
		[ "$got" -ge "$want" ] && return 0
		sleep 0.1
	done
	echo "replicas: $got of $want standbys streaming after 30 s" >&2
	return 1
}

replicas_kill_primary() {
	pgbroker_kill_server "$REPLICAS_DIR/$REPLICAS_PRIMARY" all || return 1
	REPLICAS_DEAD=$REPLICAS_PRIMARY
}

# the standby with the most WAL received becomes the primary; the other
# follows it (its slot made first on the new primary)
replicas_promote() {
	local best= bestlsn=0/0 n lsn other
	for n in $(replicas_standbys); do
		[ "$n" = "${REPLICAS_DEAD:-}" ] && continue
		lsn=$(replicas_psql "$n" -c "SELECT coalesce(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())")
		if [ -z "$best" ] || [ "$(replicas_psql "$n" -c "SELECT '$lsn'::pg_lsn > '$bestlsn'::pg_lsn")" = t ]; then
			best=$n
			bestlsn=$lsn
		fi
	done
	# let the chosen one replay everything it received
	for _ in $(seq 1 200); do
		[ "$(replicas_psql "$best" -c "SELECT pg_last_wal_replay_lsn() >= '$bestlsn'::pg_lsn")" = t ] && break
		sleep 0.05
	done
	replicas_ctl "$best" promote || return 1
	REPLICAS_PRIMARY=$best
	for n in $(replicas_standbys); do
		[ "$n" = "${REPLICAS_DEAD:-}" ] && continue
		other=$n
		replicas_psql "$best" -c "SELECT pg_create_physical_replication_slot('$other')
			WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = '$other')" >/dev/null
		sed -i -e "/^primary_conninfo/d" "$REPLICAS_DIR/$other/postgresql.auto.conf"
		echo "primary_conninfo = 'host=$REPLICAS_SOCK port=$(replicas_port "$best") user=postgres application_name=$other'" \
			>>"$REPLICAS_DIR/$other/postgresql.auto.conf"
		# (sed -i made the file anew, as whoever runs this)
		[ "$(id -u)" != 0 ] || chown postgres: "$REPLICAS_DIR/$other/postgresql.auto.conf"
		replicas_ctl "$other" restart -m fast || return 1
	done
	replicas_psql "$best" -c "ALTER SYSTEM SET synchronous_standby_names = '$(replicas_sync_names)'" \
		-c "SELECT pg_reload_conf()" >/dev/null
}

replicas_rebuild() {	# replicas_rebuild NODE
	replicas_make_standby "$1" || return 1
	REPLICAS_DEAD=
	replicas_wait_streaming 2
}

# kill the primary, promote, rebuild the dead node; REPLICAS_DOWNTIME_MS is
# the time from the kill until the new primary accepted writes
replicas_failover() {
	local t0 t1
	t0=$(date +%s%3N)
	replicas_kill_primary || { echo "replicas: killing the primary failed" >&2; return 1; }
	replicas_promote || { echo "replicas: promoting a standby failed" >&2; tail -5 "$REPLICAS_DIR/pg_ctl.out" >&2; return 1; }
	for _ in $(seq 1 200); do
		[ "$(replicas_psql "$REPLICAS_PRIMARY" -c "SELECT NOT pg_is_in_recovery()" 2>/dev/null)" = t ] && break
		sleep 0.05
	done
	t1=$(date +%s%3N)
	REPLICAS_DOWNTIME_MS=$((t1 - t0))
	replicas_rebuild "$REPLICAS_DEAD" || { echo "replicas: rebuilding $REPLICAS_DEAD failed" >&2;
		tail -5 "$REPLICAS_DIR/basebackup.out" >&2; for n in $(replicas_nodes); do tail -3 "$REPLICAS_DIR/$n.log" >&2; done; return 1; }
}

replicas_stop() {
	local n
	if [ -n "${REPLICAS_DIR:-}" ] && [ -d "$REPLICAS_DIR" ]; then
		# (a killed node's pid file stays: its stop fails, which is no failure here)
		for n in $(replicas_nodes); do
			if [ -f "$REPLICAS_DIR/$n/postmaster.pid" ]; then
				replicas_as_pg "$REPLICAS_BINDIR/pg_ctl" -D "$REPLICAS_DIR/$n" -m immediate -w stop \
					>/dev/null 2>&1 || true
			fi
		done
		if [ -n "${REPLICAS_KEEP_LOGS:-}" ]; then
			mkdir -p "$REPLICAS_KEEP_LOGS" && cp "$REPLICAS_DIR"/*.log "$REPLICAS_KEEP_LOGS"/ 2>/dev/null || true
		fi
		rm -rf "$REPLICAS_DIR" || true
	fi
	REPLICAS_DIR=
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	set -euo pipefail
	replicas_start "$@"
	echo "primary n0 and standbys n1, n2 ($REPLICAS_MODE replication), sockets in $REPLICAS_SOCK:"
	echo "  export PGHOST='$PGHOST' PGPORT='$PGPORT' PGTARGETSESSIONATTRS=read-write"
	echo "  psql 'host=$PGHOST port=$PGPORT target_session_attrs=read-write dbname=postgres user=postgres'"
	echo "standbys: psql -h $REPLICAS_SOCK -p $((REPLICAS_BASE + 1)) (n1), -p $((REPLICAS_BASE + 2)) (n2)"
	echo "Ctrl-C stops and removes them."
	while true; do sleep 3600; done
fi
