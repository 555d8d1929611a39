/*-------------------------------------------------------------------------
 *
 * queue.h
 *	  Producing to queues, and what happens when a message leaves one.
 *
 * src/queue.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGBROKER_QUEUE_H
#define PGBROKER_QUEUE_H

#include "catalog.h"
#include "utils/jsonb.h"

/* One message taken out of a queue, as RETURNING id, group_key, group_head, dedup_key. */
typedef struct RemovedMessage
{
	int64		id;
	char	   *group_key;
	bool		group_head;
	char	   *dedup_key;
} RemovedMessage;

extern void QueueMessageRemoved(BrokerQueue *q, int64 id, const char *group_key,
								bool group_head, const char *dedup_key, bool acked);
extern uint64 QueueRemovedFromResult(BrokerQueue *q, bool acked);
extern void QueueCheckPayload(Datum payload, Datum headers);
extern Jsonb *QueueHeadersArg(FunctionCallInfo fcinfo, int argno, const char *what);

#endif							/* PGBROKER_QUEUE_H */
