# Makefile for pgbroker (PGXS)

EXTENSION = pgbroker
EXTVERSION = $(shell grep default_version $(EXTENSION).control | \
	sed -e "s/default_version[[:space:]]*=[[:space:]]*'\([^']*\)'/\1/")

MODULE_big = pgbroker
OBJS = \
	src/acl.o \
	src/common.o \
	src/group_commit.o \
	src/group_poll.o \
	src/group_state.o \
	src/insert.o \
	src/notify.o \
	src/pgbroker.o \
	src/proc.o \
	src/queue_cache.o \
	src/queue_metrics.o \
	src/queue_claim.o \
	src/queue_remove.o \
	src/queue_send.o \
	src/queue_settle.o \
	src/queue_xact.o \
	src/scan.o \
	src/subscription_handler.o \
	src/subscription_launch.o \
	src/subscription_queue.o \
	src/subscription_topic.o \
	src/subscription_worker.o \
	src/topic_append.o \
	src/topic_cache.o \
	src/topic_publish.o \
	src/topic_read.o \
	src/wait.o \
	src/worker.o \
	src/xact.o

# The install script of the current version is built from hand-edited
# sources in sql/src/, in this order: the structure of every area (tables,
# types, sequences), then the functions and views of every area (written
# CREATE OR REPLACE), then grants.sql, the one list of privileges.  (Not in
# sql/ itself: pg_regress run with the default output directory would take
# sql/<name>.sql for a test of that name.)
STRUCTURE_SOURCES = \
	sql/src/structure/roles.sql \
	sql/src/structure/queue.sql \
	sql/src/structure/topic.sql \
	sql/src/structure/group.sql \
	sql/src/structure/subscription.sql
FUNCTION_SOURCES = \
	sql/src/functions/common.sql \
	sql/src/functions/queue.sql \
	sql/src/functions/topic.sql \
	sql/src/functions/group.sql \
	sql/src/functions/wait.sql \
	sql/src/functions/subscription.sql \
	sql/src/functions/maintain.sql \
	sql/src/functions/metrics.sql
INSTALL_SOURCES = $(STRUCTURE_SOURCES) $(FUNCTION_SOURCES) sql/src/grants.sql

# Released versions, frozen: the install script of 0.1.0, the oldest one
# that can be installed and upgraded from, and one step per release after
# it.  The step from the last release to the current version is built:
# its own source in sql/upgrade/ (what changes in the structure, and what
# must be dropped because its signature changed), then every function
# source and the privileges list again, so that an upgraded installation
# ends with the same definitions as a fresh one.  At a release, the built
# step is committed as it stands and joins the frozen ones.
RELEASED = \
	$(EXTENSION)--0.1.0.sql \
	$(EXTENSION)--0.1.0--0.2.0.sql
UPGRADE_STEP = $(EXTENSION)--0.2.0--$(EXTVERSION).sql
UPGRADE_SOURCES = sql/upgrade/0.2.0--$(EXTVERSION).sql sql/src/structure/subscription.sql \
	$(FUNCTION_SOURCES) sql/src/grants.sql

DATA_built = $(EXTENSION)--$(EXTVERSION).sql $(UPGRADE_STEP)
DATA = $(RELEASED)

REGRESS = setup queue_basic queue_lease queue_retry queue_groups queue_features queue_errors \
	topic_basic topic_retention topic_errors group_basic wait security limits privileges subscription metrics upgrade
REGRESS_OPTS = --inputdir=test --outputdir=output_regress

ISOLATION = claim_skip_locked claim_rollback lease_expiry dedup_race ack_vs_expiry group_order \
	topic_commit_order topic_abort topic_partitions topic_rotation topic_commit_failure \
	group_transactional group_lease group_seek drop_race rollback_count_locked revoke \
	poll_partition
ISOLATION_OPTS = --inputdir=test/isolation --outputdir=output_iso --load-extension=pgbroker

PG_CPPFLAGS = -I$(srcdir)/src -DPGBROKER_VERSION="\"$(EXTVERSION)\""
EXTRA_CLEAN = $(EXTENSION)--$(EXTVERSION).sql output_regress output_iso

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# A built script starts with a comment that names its sources and with the
# guard against running it in psql; then come the sources, in order.
script_header = printf '/*\n * %s - built by make from the files below: edit those\n' '$@'; \
	for f in $(filter %.sql,$^); do printf ' *\t%s\n' "$$f"; done; \
	printf ' */\n\n'
script_sources = for f in $(filter %.sql,$^); do echo; cat "$$f"; done

$(EXTENSION)--$(EXTVERSION).sql: $(INSTALL_SOURCES) Makefile
	{ $(script_header); \
	  echo '-- complain if script is sourced in psql, rather than via CREATE EXTENSION'; \
	  printf '%s\n' '\echo Use "CREATE EXTENSION $(EXTENSION)" to load this file. \quit'; \
	  $(script_sources); } >$@

$(UPGRADE_STEP): $(UPGRADE_SOURCES) Makefile
	{ $(script_header); \
	  echo '-- complain if script is sourced in psql, rather than via ALTER EXTENSION'; \
	  printf '%s\n' "\\echo Use \"ALTER EXTENSION $(EXTENSION) UPDATE TO '$(EXTVERSION)'\" to load this file. \\quit"; \
	  $(script_sources); } >$@

# PGXS does not track header dependencies: rebuild every object when a
# header changes, so that no two objects disagree about a struct.
$(OBJS): $(wildcard $(srcdir)/src/*.h)

# The command-line tool, a libpq client with its own make file (cli/), and
# the web console (console/), a libpq and libmicrohttpd program.
all: cli console router
install: install-cli install-console install-router
clean: clean-cli clean-console clean-router

cli:
	$(MAKE) -C cli PG_CONFIG=$(PG_CONFIG)
install-cli: cli
	$(MAKE) -C cli install PG_CONFIG=$(PG_CONFIG)
clean-cli:
	$(MAKE) -C cli clean
.PHONY: cli install-cli clean-cli

console:
	$(MAKE) -C console PG_CONFIG=$(PG_CONFIG)
install-console: console
	$(MAKE) -C console install PG_CONFIG=$(PG_CONFIG)
clean-console:
	$(MAKE) -C console clean
.PHONY: console install-console clean-console
# The router database's extension (router/): pgbroker's topic API over
# several nodes through PL/Proxy.
router:
	$(MAKE) -C router PG_CONFIG=$(PG_CONFIG)
install-router: router
	$(MAKE) -C router install PG_CONFIG=$(PG_CONFIG)
clean-router:
	$(MAKE) -C router clean PG_CONFIG=$(PG_CONFIG)
.PHONY: router install-router clean-router

# pgmq: PGMQ's SQL API on pgbroker (pgmq/).  Not part of "install": a
# pgmq.control in the server's extension directory serves every database,
# so this refuses to replace one it did not install (FORCE=1 overrides).
PGMQ_CONTROL = $(shell $(PG_CONFIG) --sharedir)/extension/pgmq.control
install-pgmq:
	@if [ -f "$(PGMQ_CONTROL)" ] && ! grep -q 'installed by pgbroker' "$(PGMQ_CONTROL)" && \
	   [ -z "$(FORCE)" ]; then \
		echo "$(PGMQ_CONTROL) was not installed by pgbroker: installing would replace that PGMQ for every database of this server (make install-pgmq FORCE=1 does it anyway)" >&2; \
		exit 1; \
	fi
	$(MAKE) -C pgmq install PG_CONFIG=$(PG_CONFIG)
clean: clean-pgmq
clean-pgmq:
	$(MAKE) -C pgmq clean PG_CONFIG=$(PG_CONFIG)
.PHONY: install-pgmq clean-pgmq
