/*-------------------------------------------------------------------------
 *
 * queue_remove.h
 *	  How a message leaves a queue, and the ordering groups that depend on
 *	  it (queue_remove.c).
 *
 * src/queue_remove.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGBROKER_QUEUE_REMOVE_H
#define PGBROKER_QUEUE_REMOVE_H

#include "queue.h"

/*
 * What a statement that removes messages returns, for
 * QueueRemovedFromResult: these columns, in this order.
 */
#define QUEUE_REMOVED_RETURNING " RETURNING id, group_key, group_head, dedup_key"
enum
{
	REMOVED_ID = 1,
	REMOVED_GROUP_KEY,
	REMOVED_GROUP_HEAD,
	REMOVED_DEDUP_KEY
};

extern uint64 QueueRemovedFromResult(BrokerQueue *q, bool acked);
extern void QueueMessageRemoved(BrokerQueue *q, int64 id, const char *group_key,
								bool group_head, const char *dedup_key, bool acked);

/* A move to the dead letters: why, and what to record. */
typedef struct DeadLetter
{
	Datum		receipt;		/* only with this receipt; 0: any */
	const char *reason;			/* max_attempts, expired */
	Datum		error;			/* text to record as the last error; 0: none */
	TimestampTz now;
	int32		attempt_adjust; /* added to the row's attempt */
	int32		least_attempt;	/* only if the row's attempt is at least this */
} DeadLetter;

extern bool QueueDeadLetter(BrokerQueue *q, int64 id, const DeadLetter *dl);
extern bool QueueOrdGroupJoin(BrokerQueue *q, const char *group_key);

#endif							/* PGBROKER_QUEUE_REMOVE_H */
