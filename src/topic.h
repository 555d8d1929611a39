/*-------------------------------------------------------------------------
 *
 * topic.h
 *	  Topics: lookup by name, publishing, commit-time appends and reads.
 *
 * src/topic.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGBROKER_TOPIC_H
#define PGBROKER_TOPIC_H

#include "datatype/timestamp.h"
#include "storage/lock.h"
#include "utils/jsonb.h"
#include "utils/tuplestore.h"
#include "pgbroker.h"

/* Columns of a segment table, in order (1-based attribute numbers). */
#define SEGCOL_PARTITION		1
#define SEGCOL_OFFSET			2
#define SEGCOL_KEY				3
#define SEGCOL_PAYLOAD			4
#define SEGCOL_PAYLOAD_BYTES	5
#define SEGCOL_HEADERS			6
#define SEGCOL_PUBLISHED_AT		7
#define SEGCOL_COUNT			7

/* Most partitions a topic may have. */
#define PGBROKER_MAX_PARTITIONS	1024

/* A topic's settings, as cached per backend (topic.c). */
typedef struct BrokerTopic
{
	char		name[PGBROKER_MAX_NAME_LEN + 1];	/* hash key */
	bool		valid;
	int32		id;
	int32		partitions;
	Interval	dedup_window;
	bool		has_dedup;		/* dedup_window > 0 */
	bool		notify;			/* NOTIFY listeners at commit */
} BrokerTopic;

/* topic.c */
extern void TopicCatalogInit(void);
extern BrokerTopic *TopicLookup(const char *name);
extern void TopicLockTag(LOCKTAG *tag, int32 topic_id);
extern void TopicPartitionLockTag(LOCKTAG *tag, int32 topic_id, int32 partition);
extern Oid	TopicSegmentRelid(int32 topic_id, int32 seg_no);
extern uint64 TopicInvalCount(void);

/* read.c */
extern int	TopicReadPartition(int32 topic_id, int32 partition, int64 from, int max,
							   int nseg, const int32 *segs, const int64 *starts,
							   Tuplestorestate *store, TupleDesc desc, int64 *last);

/* append.c */
extern void TopicAppendRecord(BrokerTopic *t, int32 partition, const char *key,
							  Datum payload, bool is_bytes, Jsonb *headers);
extern bool TopicHasPending(void);
extern void TopicAppendAtCommit(void);
extern void TopicAppendAbort(void);
extern void TopicAppendSubAbort(int nest_level);
extern void TopicAppendSubCommit(int nest_level);
extern int32 TopicStickyPartition(BrokerTopic *t);
extern void TopicSegmentsInvalidate(void);
extern void TopicAppendCommitted(void);

#endif							/* PGBROKER_TOPIC_H */
