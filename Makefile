# Makefile for pgbroker (PGXS)

EXTENSION = pgbroker
EXTVERSION = $(shell grep default_version $(EXTENSION).control | \
	sed -e "s/default_version[[:space:]]*=[[:space:]]*'\([^']*\)'/\1/")

MODULE_big = pgbroker
OBJS = \
	src/common.o \
	src/group_commit.o \
	src/group_poll.o \
	src/group_state.o \
	src/insert.o \
	src/notify.o \
	src/pgbroker.o \
	src/proc.o \
	src/queue_cache.o \
	src/queue_claim.o \
	src/queue_remove.o \
	src/queue_send.o \
	src/queue_settle.o \
	src/queue_xact.o \
	src/scan.o \
	src/topic_append.o \
	src/topic_cache.o \
	src/topic_publish.o \
	src/topic_read.o \
	src/wait.o \
	src/worker.o \
	src/xact.o

# The install script of the current version is built from hand-edited
# sources in sql/src/, one file per area, in this order: each file uses
# only what the files before it create, and grants.sql, the one list of
# privileges, comes last.  (Not in sql/ itself: pg_regress run with the
# default output directory would take sql/wait.sql for the test wait.)
INSTALL_SOURCES = \
	sql/src/roles.sql \
	sql/src/queue.sql \
	sql/src/topic.sql \
	sql/src/group.sql \
	sql/src/wait.sql \
	sql/src/maintain.sql \
	sql/src/grants.sql

# Released versions: the frozen install script of 0.1.0, the oldest one,
# which can be installed and upgraded from.  The step from it to the
# current version is built too: its own source in sql/upgrade/ (what
# changes in the objects 0.1.0 has), then the areas the step adds or
# replaces whole, then the same privileges.  When 0.2.0 is released, its
# built step is committed as it stands and moves to DATA beside the 0.1.0
# script, frozen, since the sources in sql/src/ move on to the next version.
BASE_SCRIPT = $(EXTENSION)--0.1.0.sql
UPGRADE_STEP = $(EXTENSION)--0.1.0--0.2.0.sql
UPGRADE_SOURCES = \
	sql/upgrade/0.1.0--0.2.0.sql \
	sql/src/topic.sql \
	sql/src/group.sql \
	sql/src/wait.sql \
	sql/src/maintain.sql \
	sql/src/grants.sql

DATA_built = $(EXTENSION)--$(EXTVERSION).sql $(UPGRADE_STEP)
DATA = $(BASE_SCRIPT)

REGRESS = setup queue_basic queue_lease queue_retry queue_groups queue_features queue_errors \
	topic_basic topic_retention topic_errors group_basic wait security upgrade
REGRESS_OPTS = --inputdir=test --outputdir=output_regress

ISOLATION = claim_skip_locked claim_rollback lease_expiry dedup_race ack_vs_expiry group_order \
	topic_commit_order topic_abort topic_partitions topic_rotation topic_commit_failure \
	group_transactional group_lease group_seek drop_race rollback_count_locked
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
	  printf '%s\n' "\\echo Use \"ALTER EXTENSION $(EXTENSION) UPDATE TO '0.2.0'\" to load this file. \\quit"; \
	  $(script_sources); } >$@

# PGXS does not track header dependencies: rebuild every object when a
# header changes, so that no two objects disagree about a struct.
$(OBJS): $(wildcard $(srcdir)/src/*.h)

# The command-line tool, a libpq client with its own make file (cli/).
all: cli
install: install-cli
clean: clean-cli

cli:
	$(MAKE) -C cli PG_CONFIG=$(PG_CONFIG)
install-cli: cli
	$(MAKE) -C cli install PG_CONFIG=$(PG_CONFIG)
clean-cli:
	$(MAKE) -C cli clean
.PHONY: cli install-cli clean-cli
