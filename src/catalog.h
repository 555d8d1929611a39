/*-------------------------------------------------------------------------
 *
 * catalog.h
 *	  Queue lookup by name, with a per-backend cache of settings and saved
 *	  plans.
 *
 * src/catalog.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGBROKER_CATALOG_H
#define PGBROKER_CATALOG_H

#include "datatype/timestamp.h"
#include "executor/spi.h"
#include "pgbroker.h"

/* Columns of a message table that a send sets (queue.c). */
typedef enum QueueColumn
{
	QCOL_ID,
	QCOL_PRIORITY,
	QCOL_VIS,
	QCOL_GROUP_KEY,
	QCOL_GROUP_HEAD,
	QCOL_ATTEMPT,
	QCOL_ENQUEUED_AT,
	QCOL_EXPIRES_AT,
	QCOL_DEDUP_KEY,
	QCOL_HEADERS,
	QCOL_PAYLOAD,
	QCOL_PAYLOAD_BYTES,
	QCOL_COUNT					/* must be last */
} QueueColumn;

/* How many claim plans (batch size x filter) a queue keeps. */
#define CLAIM_PLAN_SLOTS	8

/* The saved plans of one queue, built on first use. */
typedef enum QueuePlanKind
{
	QPLAN_DEDUP_TAKE,
	QPLAN_DEDUP_GET,
	QPLAN_DEDUP_ACKED,
	QPLAN_DEDUP_FORGET,
	QPLAN_GROUP_EXISTS,
	QPLAN_GROUP_PROMOTE,
	QPLAN_LENGTH,
	QPLAN_DROP_OLDEST,
	QPLAN_LEASE,				/* write the leases of a committing claim */
	QPLAN_ACK,
	QPLAN_ACK_MANY,
	QPLAN_NACK,
	QPLAN_EXTEND,
	QPLAN_DEAD_LETTER,
	QPLAN_RECORD_ROLLBACK,
	QPLAN_NEXT_DUE,				/* when a waiting claim should look again */
	QPLAN_COUNT					/* must be last */
} QueuePlanKind;

typedef struct BrokerQueue
{
	char		name[PGBROKER_MAX_NAME_LEN + 1];	/* hash key */
	bool		valid;			/* false after an invalidation */
	int32		id;
	Oid			relid;			/* broker.queue_<id> */
	int32		max_attempts;
	Interval	lease;
	Interval	dedup_window;
	Interval	retry_base;
	Interval	retry_max;
	bool		has_ttl;
	Interval	ttl;
	int64		max_length;		/* 0: unbounded */
	bool		drop_oldest;	/* overflow policy */
	bool		notify;			/* NOTIFY listeners at commit */
	SPIPlanPtr	plans[QPLAN_COUNT];
	/* claim plans, per batch size (a literal LIMIT) and filter use */
	int32		claim_n[CLAIM_PLAN_SLOTS];
	bool		claim_filter[CLAIM_PLAN_SLOTS];
	bool		claim_hinted[CLAIM_PLAN_SLOTS];
	SPIPlanPtr	claim_plans[CLAIM_PLAN_SLOTS];
	int			claim_next;		/* slot to replace next */

	/*
	 * Where this backend's last claim stopped in the ready index, and what
	 * a claim from the start of the index cost last time (claim.c).
	 */
	bool		hint_valid;
	int32		hint_nprio;		/* -priority */
	TimestampTz hint_vis;
	int64		hint_id;
	TimestampTz last_full_scan;
	double		full_scan_ms;
	int			expensive_scans;	/* expensive claims from the head in a row */

	/* for inserting rows directly (queue.c) */
	bool		columns_known;
	AttrNumber	attnum[QCOL_COUNT];
	Oid			id_seq;
	/* the message table's indexes, described once (queue.c) */
	MemoryContext index_cxt;	/* holds the two arrays; NULL: not built */
	int			nindexes;		/* -1 while being built */
	Oid		   *index_oids;
	struct IndexInfo **index_info;
} BrokerQueue;

extern void BrokerCatalogInit(void);
extern void BrokerCheckName(const char *name, const char *kind);
extern char *BrokerTextArg(FunctionCallInfo fcinfo, int argno, const char *what);
extern void BrokerClampInterval(Interval *iv);
extern bool BrokerIntervalArg(FunctionCallInfo fcinfo, int argno, const char *what,
							  Interval *dst);
extern BrokerQueue *QueueLookup(const char *name);
extern BrokerQueue *QueueLookupExt(const char *name, bool missing_ok);
extern void QueueForgetPosition(const char *name);
extern SPIPlanPtr QueuePlan(BrokerQueue *q, QueuePlanKind kind);
extern SPIPlanPtr QueueClaimPlan(BrokerQueue *q, int32 n, bool filter, bool hinted);
/* the search_path of pgbroker's SQL, as the functions' SET clauses pin it */
#define PGBROKER_SEARCH_PATH "pg_catalog, pg_temp"
extern int	BrokerPinSearchPath(void);
extern void BrokerUnpinSearchPath(int nest);
extern int	BrokerExecPlan(SPIPlanPtr plan, Datum *values, const char *nulls,
						   bool latest_snapshot, long tcount);

#endif							/* PGBROKER_CATALOG_H */
