# Makefile for pgbroker (PGXS)

EXTENSION = pgbroker
EXTVERSION = $(shell grep default_version $(EXTENSION).control | \
	sed -e "s/default_version[[:space:]]*=[[:space:]]*'\([^']*\)'/\1/")

MODULE_big = pgbroker
OBJS = \
	src/catalog.o \
	src/claim.o \
	src/pgbroker.o \
	src/queue.o \
	src/wait.o \
	src/xact.o

DATA_built = $(EXTENSION)--$(EXTVERSION).sql
DATA = $(wildcard $(EXTENSION)--*--*.sql)

REGRESS = setup queue_basic queue_lease queue_retry queue_groups queue_features queue_errors
REGRESS_OPTS =

ISOLATION = claim_skip_locked claim_rollback lease_expiry dedup_race ack_vs_expiry group_order
ISOLATION_OPTS = --inputdir=test/isolation --outputdir=output_iso --load-extension=pgbroker

PG_CPPFLAGS = -I$(srcdir)/src -DPGBROKER_VERSION="\"$(EXTVERSION)\""
EXTRA_CLEAN = $(EXTENSION)--$(EXTVERSION).sql results regression.diffs regression.out output_iso

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

$(EXTENSION)--$(EXTVERSION).sql: $(EXTENSION).sql
	cp $< $@

# PGXS does not track header dependencies: rebuild every object when a
# header changes, so that no two objects disagree about a struct.
$(OBJS): $(wildcard $(srcdir)/src/*.h)
