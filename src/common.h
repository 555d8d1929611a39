/*-------------------------------------------------------------------------
 *
 * common.h
 *	  The small shared core every SQL-callable function of pgbroker uses:
 *	  argument checks and their errors, running SQL through SPI with a
 *	  pinned search path and kept plans, and the name-keyed cache shape of
 *	  queues and topics.
 *
 * src/common.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGBROKER_COMMON_H
#define PGBROKER_COMMON_H

#include "datatype/timestamp.h"
#include "executor/spi.h"
#include "utils/hsearch.h"
#include "utils/jsonb.h"

#include "pgbroker.h"

/* Arguments */
extern void BrokerCheckName(const char *name, const char *kind);
extern void BrokerRequireWrite(const char *what);
extern char *BrokerTextArg(FunctionCallInfo fcinfo, int argno, const char *what);
extern void BrokerClampInterval(Interval *iv);
extern bool BrokerIntervalArg(FunctionCallInfo fcinfo, int argno, const char *what,
							  Interval *dst);
extern int64 BrokerIntervalMs(const Interval *iv);
extern bool BrokerIntervalExceeds(const Interval *iv, const char *limit);
extern Jsonb *BrokerHeadersArg(FunctionCallInfo fcinfo, int argno, const char *what);
extern void BrokerCheckPayload(Datum payload, Datum headers);
extern void BrokerCheckObjectLimit(Datum payload, Datum headers, int32 limit,
								   const char *kind, const char *name);
extern void BrokerCheckKey(const char *key, const char *what);
extern char *BrokerKeyArg(FunctionCallInfo fcinfo, int argno, const char *what);
extern void BrokerCheckPartition(int32 partition, int32 partitions, const char *topic);

/* SQL through SPI */
/* the search_path of pgbroker's SQL, as the functions' SET clauses pin it */
#define PGBROKER_SEARCH_PATH "pg_catalog, pg_temp"
extern int	BrokerPinSearchPath(void);
extern void BrokerUnpinSearchPath(int nest);
extern SPIPlanPtr BrokerPrepare(const char *sql, int nargs, Oid *argtypes);
extern SPIPlanPtr BrokerKeptPlan(SPIPlanPtr *slot, const char *sql, int nargs,
								 Oid *argtypes);
extern int	BrokerExecPlan(SPIPlanPtr plan, Datum *values, const char *nulls,
						   bool latest_snapshot, long tcount);

/*
 * A per-backend cache of named objects (queues, topics).  Each entry type
 * begins with a BrokerCacheEntry.  An invalidation of an entry's own
 * relation marks that entry stale; one of the cache's catalog table (or a
 * full reset) marks every entry stale and calls on_reset.
 */
typedef struct BrokerCacheEntry
{
	char		name[PGBROKER_MAX_NAME_LEN + 1];	/* hash key */
	bool		valid;			/* false after an invalidation */
	Oid			relid;			/* the entry's own table, or InvalidOid */
} BrokerCacheEntry;

typedef struct BrokerNameCache
{
	HTAB	   *htab;
	Oid			catalog_relid;	/* invalidates every entry; or InvalidOid */
	uint64		resets;			/* invalidations of every entry seen */
	void		(*on_reset) (void);
} BrokerNameCache;

extern void BrokerNameCacheInit(BrokerNameCache *cache, const char *name, Size entrysize,
								void (*on_reset) (void));

#endif							/* PGBROKER_COMMON_H */
