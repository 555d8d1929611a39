/*-------------------------------------------------------------------------
 *
 * queue_xact.h
 *	  The claims of the current transaction (queue_xact.c).
 *
 * src/queue_xact.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGBROKER_QUEUE_XACT_H
#define PGBROKER_QUEUE_XACT_H

#include "utils/uuid.h"

#include "queue.h"

typedef struct TrackedClaim TrackedClaim;

extern void QueueTrackClaim(BrokerQueue *q, int64 msg_id, int32 attempt,
							pg_uuid_t *receipt, TimestampTz lease_until);
extern TrackedClaim *QueueFindClaim(int32 queue_id, int64 msg_id);
extern void QueueSettleClaim(TrackedClaim *c);
extern bool QueueClaimReceiptMatches(TrackedClaim *c, Datum receipt);
extern int32 QueueClaimAttempt(TrackedClaim *c);
extern void QueueClaimSetLease(TrackedClaim *c, TimestampTz lease_until);
extern Datum QueueClaimedIds(int32 queue_id);

/* Transaction events, called by the dispatcher (xact.c) only. */
extern void QueueXactEnterCall(void);
extern void QueueXactPreCommit(void);
extern void QueueXactCommitted(void);
extern void QueueXactAborted(void);
extern void QueueXactPrepared(void);
extern void QueueXactSubAborted(int level);
extern void QueueXactSubCommitted(int level);

#endif							/* PGBROKER_QUEUE_XACT_H */
