/*-------------------------------------------------------------------------
 *
 * topic_append.h
 *	  Records kept per transaction and appended at commit (topic_append.c).
 *
 * src/topic_append.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGBROKER_TOPIC_APPEND_H
#define PGBROKER_TOPIC_APPEND_H

#include "topic.h"

extern void TopicAppendRecord(BrokerTopic *t, int32 partition, const char *key,
							  Datum payload, bool is_bytes, Jsonb *headers);
extern int32 TopicStickyPartition(BrokerTopic *t);
/* transaction events, called by the dispatcher (xact.c) only */
extern void TopicAppendAtCommit(void);
extern void TopicAppendPrePrepare(void);
extern void TopicAppendCommitted(void);
extern void TopicAppendAbort(void);
extern void TopicAppendSubAbort(int nest_level);
extern void TopicAppendSubCommit(int nest_level);

#endif							/* PGBROKER_TOPIC_APPEND_H */
