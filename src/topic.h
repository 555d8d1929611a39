/*-------------------------------------------------------------------------
 *
 * topic.h
 *	  Topics: a topic and its current segment as a backend knows them
 *	  (topic_cache.c), publishing (topic_publish.c), the commit-time append
 *	  (topic_append.c) and reading a partition (topic_read.c).
 *
 * src/topic.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGBROKER_TOPIC_H
#define PGBROKER_TOPIC_H

#include "datatype/timestamp.h"
#include "utils/jsonb.h"
#include "utils/snapshot.h"
#include "utils/tuplestore.h"

#include "common.h"

/* Columns of a segment table, in order (1-based attribute numbers). */
#define SEGCOL_PARTITION		1
#define SEGCOL_OFFSET			2
#define SEGCOL_KEY				3
#define SEGCOL_PAYLOAD			4
#define SEGCOL_PAYLOAD_BYTES	5
#define SEGCOL_HEADERS			6
#define SEGCOL_PUBLISHED_AT		7
#define SEGCOL_COUNT			7

/* A topic's settings, as cached per backend (topic_cache.c). */
typedef struct BrokerTopic
{
	BrokerCacheEntry entry;		/* name, valid */
	int32		id;
	int32		partitions;
	Interval	dedup_window;
	bool		has_dedup;		/* dedup_window > 0 */
	bool		notify;			/* NOTIFY listeners at commit */
} BrokerTopic;

#define TopicName(t)	((t)->entry.name)

/*
 * The segment producers append to, per topic, cached per backend
 * (topic_cache.c).  Filled under the topic lock; rotation, alter_topic and
 * drop_topic invalidate the topic catalog's relcache entry before they
 * release the topic lock, and AcceptInvalidationMessages() after taking it
 * sees that.
 */
typedef struct TopicSegment
{
	int32		topic_id;		/* hash key */
	bool		valid;
	int32		partitions;
	int32		seg_no;
	Oid			relid;
	int			nstarts;
	int64	   *starts;			/* in CacheMemoryContext */
	int64	   *hints;			/* per partition: last offset seen, or -1 */
} TopicSegment;

/* topic_cache.c */
extern void TopicCacheInit(void);
extern BrokerTopic *TopicLookup(const char *name);
extern Oid	TopicSegmentRelid(int32 topic_id, int32 seg_no);
extern TopicSegment *TopicCurrentSegment(int32 topic_id, const char *topic);

/* topic_append.c */
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

/* topic_read.c */

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

#endif							/* PGBROKER_TOPIC_H */
