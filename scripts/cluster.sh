# scripts/cluster.sh - start and stop a throwaway PostgreSQL cluster.
#
# Sourced by the other scripts.  initdb and postgres refuse to run as root,
# so the cluster runs as the "postgres" OS user in a private temporary
# directory, listening only on a private Unix socket directory and a private
# port.  pgbroker_cluster_start registers an EXIT trap that stops the server
# and removes the directory, even when the calling script fails.
#
# After pgbroker_cluster_start, PGHOST, PGPORT, PGUSER and PGDATABASE point
# at the new cluster (trust authentication, superuser "postgres").

PG_BINDIR=${PG_BINDIR:-$(pg_config --bindir)}

pgbroker_as_pg() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

pgbroker_cluster_stop() {
	if [ -n "${PGBROKER_CLUSTER_DIR:-}" ] && [ -d "$PGBROKER_CLUSTER_DIR" ]; then
		if [ -f "$PGBROKER_CLUSTER_DIR/data/postmaster.pid" ]; then
			pgbroker_as_pg "$PG_BINDIR/pg_ctl" -D "$PGBROKER_CLUSTER_DIR/data" \
				-m immediate -w stop >/dev/null 2>&1 || true
		fi
		if [ -n "${PGBROKER_KEEP_LOG:-}" ] && [ -f "$PGBROKER_CLUSTER_DIR/server.log" ]; then
			cp "$PGBROKER_CLUSTER_DIR/server.log" "$PGBROKER_KEEP_LOG" || true
		fi
		rm -rf "$PGBROKER_CLUSTER_DIR"
	fi
	PGBROKER_CLUSTER_DIR=
}

# pgbroker_cluster_start [extra postgresql.conf lines...]
pgbroker_cluster_start() {
	local port=${PGBROKER_PORT:-$((20000 + RANDOM % 20000))}
	PGBROKER_CLUSTER_DIR=$(mktemp -d /tmp/pgbroker.XXXXXX)
	chmod 755 "$PGBROKER_CLUSTER_DIR"
	chown postgres: "$PGBROKER_CLUSTER_DIR" 2>/dev/null || true
	trap pgbroker_cluster_stop EXIT
	trap 'exit 130' INT TERM

	pgbroker_as_pg "$PG_BINDIR/initdb" -D "$PGBROKER_CLUSTER_DIR/data" \
		--auth=trust --username=postgres --encoding=UTF8 --locale=C.UTF-8 \
		>"$PGBROKER_CLUSTER_DIR/initdb.log" 2>&1 || {
		cat "$PGBROKER_CLUSTER_DIR/initdb.log" >&2
		return 1
	}
	{
		echo "listen_addresses = ''"
		echo "port = $port"
		echo "unix_socket_directories = '$PGBROKER_CLUSTER_DIR'"
		echo "max_connections = 200"
		echo "shared_buffers = 256MB"
		echo "fsync = on"
		echo "synchronous_commit = on"
		echo "max_prepared_transactions = 10"
		echo "log_min_messages = warning"
		for line in "$@"; do echo "$line"; done
	} >>"$PGBROKER_CLUSTER_DIR/data/postgresql.conf"

	pgbroker_as_pg "$PG_BINDIR/pg_ctl" -D "$PGBROKER_CLUSTER_DIR/data" \
		-l "$PGBROKER_CLUSTER_DIR/server.log" -w -t 60 start >/dev/null || {
		cat "$PGBROKER_CLUSTER_DIR/server.log" >&2
		return 1
	}
	export PGHOST=$PGBROKER_CLUSTER_DIR PGPORT=$port PGUSER=postgres PGDATABASE=postgres
}

# pgbroker_kill_server DATADIR all|postmaster: SIGKILL the postmaster of
# DATADIR (and all its children at once, or let them die of its death),
# stopped first so that it forks nothing more; wait until every one of
# them is gone (30 s at most).  Used by the cluster here and by the
# multi-node scripts (replicas.sh, shard_cluster.sh).
pgbroker_kill_server() {
	local pm children pid
	pm=$(head -1 "$1/postmaster.pid")
	kill -STOP "$pm"
	for _ in $(seq 1 200); do
		[[ $(ps -o stat= -p "$pm") == T* ]] && break
		sleep 0.01
	done
	children=$(ps -o pid= --ppid "$pm" | tr -s ' \n' ' ')
	if [ "$2" = all ]; then
		# shellcheck disable=SC2086
		kill -KILL "$pm" $children 2>/dev/null || true
	else
		kill -KILL "$pm"
	fi
	for pid in $pm $children; do
		# gone, not even a zombie: a new postmaster may take a zombie's PID,
		# and one started on the same port refuses while the PID in the old
		# socket lock file is alive
		for _ in $(seq 1 600); do
			ps -p "$pid" >/dev/null 2>&1 || continue 2
			sleep 0.05
		done
		ps -o pid,stat,wchan:20,cmd -p "$pid" >&2 || true
		echo "server process $pid still there 30 s after the postmaster was killed" >&2
		return 1
	done
}

# pgbroker_cluster_kill all|postmaster: the same for this cluster
pgbroker_cluster_kill() { pgbroker_kill_server "$PGBROKER_CLUSTER_DIR/data" "$1"; }

# pgbroker_cluster_restart: start the server again on the same data
# directory (after a kill: pg_ctl -w returns once crash recovery is done)
pgbroker_cluster_restart() {
	pgbroker_as_pg "$PG_BINDIR/pg_ctl" -D "$PGBROKER_CLUSTER_DIR/data" \
		-l "$PGBROKER_CLUSTER_DIR/server.log" -w -t 300 start \
		>"$PGBROKER_CLUSTER_DIR/pg_ctl.out" 2>&1 || {
		cat "$PGBROKER_CLUSTER_DIR/pg_ctl.out" >&2
		tail -30 "$PGBROKER_CLUSTER_DIR/server.log" >&2
		echo "the server did not come back" >&2
		return 1
	}
}
