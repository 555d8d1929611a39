/*-------------------------------------------------------------------------
 *
 * topic.h
 *	  A topic and its current segment as a backend knows them
 *	  (topic_cache.c), and the columns of a segment table.
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
	int32		max_message_size;	/* its own limit; 0: the server's */
	Oid			acl_holder;		/* broker.topic_<id>_acl (acl.c); or InvalidOid */
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
extern bool TopicPartitionsById(int32 topic_id, int32 *partitions);

#endif							/* PGBROKER_TOPIC_H */
