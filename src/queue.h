/*-------------------------------------------------------------------------
 *
 * queue.h
 *	  A queue as a backend knows it (queue_cache.c): its settings, its
 *	  message table and the plans kept for it, found by name.
 *
 * src/queue.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGBROKER_QUEUE_H
#define PGBROKER_QUEUE_H

#include "datatype/timestamp.h"
#include "executor/spi.h"

#include "common.h"

/* Columns of a message table that a send sets (queue_send.c). */
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

/*
 * The slots of a queue's kept plans.  Each statement is written beside
 * the code that runs it and reads its result (QueuePlan); the slot only
 * says where its plan is kept.
 */
typedef enum QueuePlanSlot
{
	QPLAN_DEDUP_TAKE,
	QPLAN_DEDUP_GET,
	QPLAN_DEDUP_ACKED,
	QPLAN_DEDUP_FORGET,
	QPLAN_ORDGROUP_EXISTS,
	QPLAN_ORDGROUP_PROMOTE,
	QPLAN_LENGTH,
	QPLAN_DROP_OLDEST,
	QPLAN_LEASE,
	QPLAN_ACK,
	QPLAN_ACK_MANY,
	QPLAN_ACK_RECEIPTS,
	QPLAN_NACK,
	QPLAN_EXTEND,
	QPLAN_SET_VISIBLE,
	QPLAN_DEAD_LETTER,
	QPLAN_RECORD_ROLLBACK,
	QPLAN_NEXT_DUE,
	QPLAN_COUNT					/* must be last */
} QueuePlanSlot;

/* How many claim plans (batch size x filter x resume) a queue keeps. */
#define CLAIM_PLAN_SLOTS	8
#define CLAIM_FILTER_HEADERS	0x01	/* headers @> filter */
#define CLAIM_FILTER_PAYLOAD	0x02	/* payload @> payload_filter */

typedef struct BrokerQueue
{
	BrokerCacheEntry entry;		/* name, valid, relid (broker.queue_<id>) */
	int32		id;
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
	int32		max_message_size;	/* its own limit; 0: the server's */
	Oid			acl_holder;		/* broker.queue_<id>_acl (acl.c); or InvalidOid */
	SPIPlanPtr	plans[QPLAN_COUNT];
	/* claim plans, per batch size (a literal LIMIT) and shape (queue_claim.c) */
	int32		claim_n[CLAIM_PLAN_SLOTS];
	int			claim_filters[CLAIM_PLAN_SLOTS];	/* CLAIM_FILTER_* */
	bool		claim_hinted[CLAIM_PLAN_SLOTS];
	SPIPlanPtr	claim_plans[CLAIM_PLAN_SLOTS];
	int			claim_next;		/* slot to replace next */

	/*
	 * Where this backend's last claim stopped in the ready index, and what
	 * a claim from the start of the index cost last time (queue_claim.c).
	 */
	bool		hint_valid;
	int32		hint_nprio;		/* -priority */
	TimestampTz hint_vis;
	int64		hint_id;
	TimestampTz last_full_scan;
	double		full_scan_ms;
	int			expensive_scans;	/* expensive claims from the head in a row */

	/* for inserting rows directly (queue_send.c) */
	bool		columns_known;
	AttrNumber	attnum[QCOL_COUNT];
	Oid			id_seq;
	/* the message table's indexes, described once (queue_send.c) */
	MemoryContext index_cxt;	/* holds the two arrays; NULL: not built */
	int			nindexes;		/* -1 while being built */
	Oid		   *index_oids;
	struct IndexInfo **index_info;
} BrokerQueue;

#define QueueName(q)	((q)->entry.name)
#define QueueRelid(q)	((q)->entry.relid)

extern void QueueCacheInit(void);
extern BrokerQueue *QueueLookup(const char *name);
extern BrokerQueue *QueueLookupExt(const char *name, bool missing_ok);
extern void QueueForgetPosition(const char *name);
extern SPIPlanPtr QueuePlan(BrokerQueue *q, QueuePlanSlot slot, const char *sql,
							int nargs, Oid *argtypes);

#endif							/* PGBROKER_QUEUE_H */
