# scripts/shard_cluster.sh - a router and N data nodes on private ports,
# for the sharding tests and benchmarks and by hand.
#
# Sourced:  . scripts/shard_cluster.sh; shard_start N [postgresql.conf lines...]
# By hand:  bash scripts/shard_cluster.sh [N]   (starts them, prints how to
#           connect, waits for Ctrl-C, then stops and removes them)
#
# Each is a PostgreSQL cluster of its own, run as the "postgres" OS user in
# one temporary directory, on ports BASE (the router) and BASE+1+i (node i),
# one Unix socket directory and no TCP address.  N must be a power of two
# (PL/Proxy routes with hash & (N-1)).  Node i serves database
# pgbroker_node<i> with pgbroker; the router serves database pgbroker_router
# with pgbroker_router (and PL/Proxy, which it requires), whose cluster
# definition is the foreign server pgbroker_cluster with one connection
# string per node, and a user mapping for PUBLIC without options: each
# router role connects to the nodes as itself (the same roles exist on
# every node; trust authentication here).  Everything is stopped and
# removed on exit, also on failure.
#
# After shard_start: SHARD_DIR, SHARD_SOCK, SHARD_N, and PGHOST, PGPORT,
# PGDATABASE, PGUSER pointing at the router.
#
# shard_psql NODE [psql args]   psql on r (the router) or n<i>
# shard_conninfo NODE           its connection string
# shard_kill NODE               SIGKILL the node's postmaster and processes
# shard_restart NODE            start a killed or stopped node again
# shard_add_nodes M             start M more nodes (not yet in the cluster)
# shard_stop                    stop and remove everything

. "$(dirname "${BASH_SOURCE[0]}")/cluster.sh"
SHARD_BINDIR=${SHARD_BINDIR:-$(pg_config --bindir)}

shard_as_pg() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- env -u PGHOST -u PGPORT -u PGDATABASE "$@"
	else
		env -u PGHOST -u PGPORT -u PGDATABASE "$@"
	fi
}

shard_port() {	# shard_port r|n<i>
	if [ "$1" = r ]; then echo "$SHARD_BASE"; else echo $((SHARD_BASE + 1 + ${1#n})); fi
}

shard_db() { if [ "$1" = r ]; then echo pgbroker_router; else echo "pgbroker_node${1#n}"; fi; }

shard_conninfo() { echo "host=$SHARD_SOCK port=$(shard_port "$1") dbname=$(shard_db "$1")"; }

shard_psql() {	# shard_psql NODE [psql args...]
	local node=$1; shift
	psql -X -q -At -h "$SHARD_SOCK" -p "$(shard_port "$node")" -U postgres -d "$(shard_db "$node")" \
		-v ON_ERROR_STOP=1 "$@"
}

shard_ctl() {	# shard_ctl NODE start|stop [args]
	local node=$1 cmd=$2; shift 2
	shard_as_pg "$SHARD_BINDIR/pg_ctl" -D "$SHARD_DIR/$node" -l "$SHARD_DIR/$node.log" -w "$cmd" "$@" >/dev/null
}

shard_init() {	# shard_init NODE [postgresql.conf lines...]: a new cluster, started
	local node=$1; shift
	shard_as_pg "$SHARD_BINDIR/initdb" -D "$SHARD_DIR/$node" --auth=trust --username=postgres \
		--encoding=UTF8 --locale=C.UTF-8 >"$SHARD_DIR/initdb-$node.log" 2>&1 ||
		{ cat "$SHARD_DIR/initdb-$node.log" >&2; return 1; }
	{
		echo "listen_addresses = ''"
		echo "unix_socket_directories = '$SHARD_SOCK'"
		echo "port = $(shard_port "$node")"
		echo "max_connections = 200"
		echo "shared_buffers = 64MB"
		echo "log_min_messages = warning"
		echo "log_line_prefix = '%m [%p] %b %e '"
		for line in "$@"; do echo "$line"; done
	} >>"$SHARD_DIR/$node/postgresql.conf"
	shard_ctl "$node" start || { cat "$SHARD_DIR/$node.log" >&2; return 1; }
	psql -X -q -h "$SHARD_SOCK" -p "$(shard_port "$node")" -U postgres -d postgres \
		-c "CREATE DATABASE $(shard_db "$node")" >/dev/null
}

shard_start() {	# shard_start N [postgresql.conf lines...]
	local n i
	SHARD_N=${1:-2}; shift || true
	case $SHARD_N in 1|2|4|8|16) ;; *) echo "shard_start: N must be a power of two" >&2; return 1 ;; esac
	SHARD_BASE=${SHARD_BASE:-$((20000 + RANDOM % 20000))}
	SHARD_DIR=$(mktemp -d /tmp/pgbroker-shard.XXXXXX)
	SHARD_SOCK=$SHARD_DIR/sock
	SHARD_CONF=("$@")
	mkdir -p "$SHARD_SOCK"
	chmod 755 "$SHARD_DIR"
	chown -R postgres: "$SHARD_DIR" 2>/dev/null || true
	trap shard_stop EXIT
	trap 'exit 130' INT TERM
	for ((i = 0; i < SHARD_N; i++)); do
		shard_init "n$i" "$@" || return 1
		shard_psql "n$i" -c "CREATE EXTENSION pgbroker" || return 1
	done
	shard_init r "$@" || return 1
	local opts=""
	for ((i = 0; i < SHARD_N; i++)); do
		opts="$opts${opts:+, }p$i '$(shard_conninfo "n$i")'"
	done
	shard_psql r <<SQL || return 1
CREATE EXTENSION pgbroker_router CASCADE;
CREATE SERVER pgbroker_cluster FOREIGN DATA WRAPPER plproxy OPTIONS ($opts);
CREATE USER MAPPING FOR PUBLIC SERVER pgbroker_cluster;
GRANT USAGE ON FOREIGN SERVER pgbroker_cluster TO PUBLIC;
SQL
	export PGHOST=$SHARD_SOCK PGPORT=$SHARD_BASE PGDATABASE=pgbroker_router PGUSER=postgres
}

shard_add_nodes() {	# shard_add_nodes M: nodes n<SHARD_N> .. n<SHARD_N+M-1>, started, with pgbroker
	local m=$1 i
	for ((i = SHARD_N; i < SHARD_N + m; i++)); do
		shard_init "n$i" "${SHARD_CONF[@]}" || return 1
		shard_psql "n$i" -c "CREATE EXTENSION pgbroker" || return 1
	done
}

shard_kill() { pgbroker_kill_server "$SHARD_DIR/$1" all; }	# shard_kill NODE

shard_restart() { shard_ctl "$1" start || { cat "$SHARD_DIR/$1.log" >&2; return 1; }; }

shard_stop() {
	local d
	if [ -n "${SHARD_DIR:-}" ] && [ -d "$SHARD_DIR" ]; then
		for d in "$SHARD_DIR"/r "$SHARD_DIR"/n*; do
			[ -f "$d/postmaster.pid" ] || continue
			shard_as_pg "$SHARD_BINDIR/pg_ctl" -D "$d" -m immediate -w stop >/dev/null 2>&1 || true
		done
		if [ -n "${SHARD_KEEP_LOGS:-}" ]; then
			mkdir -p "$SHARD_KEEP_LOGS" && cp "$SHARD_DIR"/*.log "$SHARD_KEEP_LOGS"/ 2>/dev/null || true
		fi
		rm -rf "$SHARD_DIR" || true
	fi
	SHARD_DIR=
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	set -euo pipefail
	shard_start "${1:-2}"
	echo "router and $SHARD_N data nodes, sockets in $SHARD_SOCK:"
	echo "  router: psql '$(shard_conninfo r) user=postgres'"
	for ((i = 0; i < SHARD_N; i++)); do echo "  node $i: psql '$(shard_conninfo "n$i") user=postgres'"; done
	echo "Ctrl-C stops and removes them."
	while true; do sleep 3600; done
fi
