#!/usr/bin/env bash
# scripts/setup.sh - install what building and testing pgbroker needs, then
# build and install pgbroker.  Safe to run again: packages already present
# are not reinstalled.
set -euo pipefail
cd "$(dirname "$0")/.."

# PostgreSQL 15 server and headers (PGXS, pg_regress, pg_isolation_regress),
# libpq for the command-line tool and the C drivers, and the GSSAPI headers
# that the server's libpq/libpq-be.h includes (Debian's server is built with
# GSSAPI; pgbroker reads the client socket from it, to end a wait whose
# client went away).
#
# For the client tests (test/scripts/pooler.sh): Debian's PgBouncer, the
# pooler users run in front of PostgreSQL; psycopg 3 for the Python example
# worker; Node.js and npm for the Node example worker, whose driver (pg)
# comes from the npm registry into test/clients/node_modules.
#
# For the metrics tests (test/scripts/metrics.sh): promtool (package
# prometheus) checks the exposition and the alerting rules; Debian's
# postgres_exporter runs the query file of monitoring/; curl scrapes it.
#
# For the web console (console/): GNU libmicrohttpd, its HTTP server; its
# browser test drives Debian's chromium (headless) with puppeteer-core
# from the npm registry (test/console/node_modules); openssl makes the
# throwaway certificate of its HTTPS test.
#
# For pgbroker's pgmq (pgmq/): pg_partman, which PGMQ's create_partitioned
# requires (test/scripts/pgmq.sh); PGMQ's JavaScript client pgmq-js comes
# from the npm registry into test/pgmq/node_modules, installed by that test.
#
# For topics over several nodes (router/): PL/Proxy, the router's engine.
packages=(postgresql-15 postgresql-server-dev-15 libpq-dev libkrb5-dev gcc make perl
	pgbouncer python3-psycopg prometheus prometheus-postgres-exporter curl
	libmicrohttpd-dev chromium openssl postgresql-15-partman postgresql-15-plproxy)
command -v node >/dev/null 2>&1 || packages+=(nodejs)
command -v npm >/dev/null 2>&1 || packages+=(npm)
missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "setup: missing packages: ${missing[*]} (run as root to install them)" >&2
		exit 1
	fi
	echo "setup: installing ${missing[*]}"
	apt-get update -q >/dev/null
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null
fi

make -s clean >/dev/null 2>&1 || true
make -s
# install scripts of earlier builds (a version's script left behind would
# be taken instead of the upgrade path from the released ones)
rm -f "$(pg_config --sharedir)"/extension/pgbroker--*.sql
make -s install >/dev/null
make -s -C test/tools >/dev/null
# node-postgres for the Node example worker, at the version the lock file names
if [ ! -d test/clients/node_modules/pg ]; then
	(cd test/clients && npm ci --silent --no-audit --no-fund >/dev/null)
fi
# puppeteer-core for the console's browser test, likewise
if [ ! -d test/console/node_modules/puppeteer-core ]; then
	(cd test/console && npm ci --silent --no-audit --no-fund >/dev/null)
fi
