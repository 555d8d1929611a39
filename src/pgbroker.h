/*-------------------------------------------------------------------------
 *
 * pgbroker.h
 *	  Declarations shared by every pgbroker source file: limits, GUC
 *	  variables and the version shims that keep the code portable from
 *	  PostgreSQL 15 onwards.
 *
 * src/pgbroker.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGBROKER_H
#define PGBROKER_H

#include "fmgr.h"
#include "access/sdir.h"
#include "access/skey.h"
#include "funcapi.h"
#include "datatype/timestamp.h"
#include "storage/lock.h"
#include "utils/guc.h"
#include "utils/snapshot.h"
#include "utils/uuid.h"

/* Longest queue or topic name, in bytes. */
#define PGBROKER_MAX_NAME_LEN		200

/* Longest dedup or group key, in bytes (they live in btree indexes). */
#define PGBROKER_MAX_KEY_LEN		512

/* Priorities run from -PGBROKER_MAX_PRIORITY to PGBROKER_MAX_PRIORITY. */
#define PGBROKER_MAX_PRIORITY		1000000

/* Upper bound on max_messages for one claim. */
#define PGBROKER_MAX_BATCH			10000

/*
 * field4 of the advisory lock tags pgbroker uses.  SQL advisory locks use 1
 * and 2, so these never collide with an application's own advisory locks.
 */
#define PGBROKER_LOCK_WAITERS		0x7062	/* consumers waiting on a queue */
#define PGBROKER_LOCK_GROUP			0x7063	/* one message group of a queue */
#define PGBROKER_LOCK_TOPIC			0x7064	/* producers appending to a topic */
#define PGBROKER_LOCK_PARTITION		0x7065	/* the append order of a partition */
#define PGBROKER_LOCK_GROUP_PART	0x7066	/* one partition of a consumer group */
#define PGBROKER_LOCK_TOPIC_WAITERS	0x7067	/* consumers waiting on a topic */
#define PGBROKER_LOCK_GROUP_WAITERS	0x7068	/* the same, by consumer group */

/*
 * pgbroker's own SQLSTATE: a consumer commits or extends a partition whose
 * lease it no longer holds (class PB, outside PostgreSQL's classes).
 */
#define ERRCODE_PB_NOT_HOLDER		MAKE_SQLSTATE('P','B','0','0','1')

/* GUCs (pgbroker.c) */
extern int	pgbroker_max_message_size;
extern double pgbroker_resume_threshold_ms;
extern bool pgbroker_synchronous_offsets;
extern char *pgbroker_databases;
extern char *pgbroker_maintenance_role;
extern int	pgbroker_maintenance_interval_ms;

/* worker.c */
extern void BrokerRegisterWorkers(void);
extern bool BrokerCheckDatabases(char **newval, void **extra, GucSource source);

/*
 * Version shims.  InitMaterializedSRF has its final name from 15.x on;
 * BackendId became ProcNumber in 17.
 */
#if PG_VERSION_NUM >= 170000
#define PgbrokerProcFromVxid(vxid)	ProcNumberGetProc((vxid).procNumber)
#else
#define PgbrokerProcFromVxid(vxid)	BackendIdGetProc((vxid).backendId)
#endif

/* xact.c */
extern void BrokerXactInit(void);
extern void BrokerEnterCall(void);
extern void BrokerWakeAtCommit(int32 queue_id, int64 count);
extern void BrokerOffsetsWriteBegin(void);
extern void BrokerOffsetsWriteEnd(void);
extern void BrokerOffsetsNotAlone(void);
typedef struct BrokerWake
{
	int32		id;
	int64		count;
} BrokerWake;
#define PGBROKER_WAKE_ALL	PG_INT64_MAX
typedef struct TrackedClaim TrackedClaim;
struct BrokerQueue;
extern void BrokerTrackClaim(struct BrokerQueue *q, int64 msg_id, int32 attempt,
							 pg_uuid_t *receipt, TimestampTz lease_until);
extern TrackedClaim *BrokerFindClaim(int32 queue_id, int64 msg_id);
extern void BrokerSettleClaim(TrackedClaim *c);
extern bool BrokerClaimReceiptMatches(TrackedClaim *c, Datum receipt);
extern int32 BrokerClaimAttempt(TrackedClaim *c);
extern void BrokerClaimSetLease(TrackedClaim *c, TimestampTz lease_until);
extern Datum BrokerClaimedIds(int32 queue_id);

/* group.c */
extern void GroupLeaseCacheReset(void);

/* insert.c */
struct RelationData;
struct ResultRelInfo;
struct EState;
struct TupleTableSlot;
extern void BrokerInsertSlots(struct RelationData *rel, struct ResultRelInfo *rri,
							  struct EState *estate, struct TupleTableSlot **slots, int n);
extern struct RelationData *BrokerOpenForInsert(Oid relid);
extern void BrokerInsertRow(struct RelationData *rel, Datum *values, bool *nulls);

/* scan.c */
typedef struct BrokerIndexScan
{
	struct RelationData *rel;
	struct RelationData *index;
	struct IndexScanDescData *scan;
	struct TupleTableSlot *slot;
	Snapshot	registered;		/* a snapshot taken here, or NULL */
} BrokerIndexScan;
extern bool BrokerScanOpen(BrokerIndexScan *s, const char *table, const char *index,
						   bool missing_ok);
extern void BrokerScanStart(BrokerIndexScan *s, Snapshot snapshot, ScanKey keys, int nkeys);
extern bool BrokerScanNext(BrokerIndexScan *s, ScanDirection dir);
extern void BrokerScanEnd(BrokerIndexScan *s);

/* wait.c */
extern void BrokerWaiterTag(LOCKTAG *tag, int32 queue_id, bool filtered);
extern void BrokerWakeWaiters(int32 queue_id, int64 count);
extern void BrokerTopicWaiterTag(LOCKTAG *tag, int32 topic_id);
extern void BrokerWakeTopicWaiters(int32 topic_id);
extern void BrokerGroupWaiterTag(LOCKTAG *tag, int32 group_id);
extern void BrokerWaitInit(void);
typedef struct BrokerLookState
{
	Oid			saved_user;
	int			saved_sec;
	int			guc_level;
} BrokerLookState;
extern void BrokerLookBegin(FunctionCallInfo fcinfo, BrokerLookState *st);
extern void BrokerLookEnd(BrokerLookState *st);
typedef struct BrokerProcResult
{
	ReturnSetInfo rs;			/* filled by the looks */
	TupleDesc	outdesc;
	Oid			elemtype;
	MemoryContext mcxt;			/* the procedure's, outlives its commits */
	Datum		result;			/* the array, once finished */
} BrokerProcResult;
extern void BrokerProcResultBegin(FunctionCallInfo fcinfo, BrokerProcResult *pr);
extern void BrokerProcResultFinish(BrokerProcResult *pr);
extern Datum BrokerProcResultEnd(BrokerProcResult *pr);
extern void BrokerNotifyAtCommit(const char *kind, const char *name);
typedef enum BrokerWakeKind
{
	BROKER_WAKE_QUEUE,			/* count waiters of a queue */
	BROKER_WAKE_GROUP			/* count waiters of a consumer group */
} BrokerWakeKind;
extern void BrokerWakeAtEnd(BrokerWakeKind kind, int32 id, int64 count);
extern void BrokerWaitSessionBegin(const LOCKTAG *tag);
extern void BrokerWaitSessionEnd(void);
extern void BrokerCheckNonAtomic(FunctionCallInfo fcinfo, const char *proc,
								 const char *instead);
extern long BrokerWaitMs(TimestampTz deadline, TimestampTz due, long backstop_ms);
extern bool BrokerWaitSleep(long ms, bool filtered, int *futile, const LOCKTAG *tag);

/*
 * How long a wait sleeps at most before it looks again anyway: for what a
 * waiter cannot see coming (a lease among more than it looked at), and
 * when it knows every delay and lease of the queue (then only a wakeup
 * lost with a backend that died between its commit and its wakeup is left
 * to it).  The idle backstop is what a thousand idle waiters cost: each
 * look of a backend that slept that long runs cold (a few ms of CPU), so
 * it is long; a send or nack due within it wakes a waiter (queue.c), so
 * lengthening it delays no due message.  Compile with
 * -DPGBROKER_IDLE_BACKSTOP_MS=... to measure what a look costs.
 */
#define PGBROKER_BACKSTOP_MS		5000
#ifndef PGBROKER_IDLE_BACKSTOP_MS
#define PGBROKER_IDLE_BACKSTOP_MS	600000
#endif

#endif							/* PGBROKER_H */
