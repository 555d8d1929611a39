/*-------------------------------------------------------------------------
 *
 * topic_read.h
 *	  Reading a partition, and the offsets that bound it (topic_read.c).
 *
 * src/topic_read.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGBROKER_TOPIC_READ_H
#define PGBROKER_TOPIC_READ_H

#include "utils/snapshot.h"
#include "utils/tuplestore.h"

#include "topic.h"

/* A topic's active segments: seg_no and start offsets of every partition. */
typedef struct TopicSegmentList
{
	int			nseg;
	int32	   *segs;
	struct ArrayType **starts;
} TopicSegmentList;

extern void TopicLoadSegments(int32 topic_id, Snapshot snap, TopicSegmentList *sl);
extern int64 TopicSegmentStart(const TopicSegmentList *sl, int seg, int32 partition);
extern int64 TopicEarliestOffset(int32 topic_id, int32 partition, Snapshot snap);
extern int64 TopicEndOffset(int32 topic_id, int32 partition, Snapshot snap);
extern int	TopicReadPartition(int32 topic_id, int32 partition, int64 from, int max,
							   int nseg, const int32 *segs, const int64 *starts,
							   Tuplestorestate *store, TupleDesc desc, int64 *last);

#endif							/* PGBROKER_TOPIC_READ_H */
