# Makefile for pgbroker (PGXS)

EXTENSION = pgbroker
EXTVERSION = $(shell grep default_version $(EXTENSION).control | \
	sed -e "s/default_version[[:space:]]*=[[:space:]]*'\([^']*\)'/\1/")

MODULE_big = pgbroker
OBJS = \
	src/common.o \
	src/group_poll.o \
	src/group_state.o \
	src/insert.o \
	src/notify.o \
	src/pgbroker.o \
	src/proc.o \
	src/queue_cache.o \
	src/queue_claim.o \
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

# Released versions: the frozen install script of the oldest one and one
# upgrade script per release step, in order.
BASE_SCRIPT = $(EXTENSION)--0.1.0.sql
UPGRADES = \
	$(EXTENSION)--0.1.0--0.2.0.sql

DATA_built = $(EXTENSION)--$(EXTVERSION).sql
DATA = $(BASE_SCRIPT) $(UPGRADES)

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

# The install script of the current version is the oldest release's script
# followed by every upgrade step, so that a fresh install runs exactly the
# SQL an upgraded installation ran.
$(EXTENSION)--$(EXTVERSION).sql: $(BASE_SCRIPT) $(UPGRADES)
	( cat $(BASE_SCRIPT); for f in $(UPGRADES); do sed '/^\\echo /d' $$f; done ) >$@

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
