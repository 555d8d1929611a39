/*-------------------------------------------------------------------------
 *
 * locktag.h
 *	  Every lock tag pgbroker takes, in one place.
 *
 * pgbroker's locks are advisory lock tags (database, id, sub-id, kind)
 * whose fourth field names the kind.  SQL advisory locks use 1 and 2
 * there, so these never collide with an application's own advisory
 * locks.  They show in pg_locks as locktype advisory with objsubid the
 * kind; the values are part of what an operator sees and never change.
 *
 * src/locktag.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGBROKER_LOCKTAG_H
#define PGBROKER_LOCKTAG_H

#include "miscadmin.h"
#include "storage/lock.h"

#define PGBROKER_LOCK_WAITERS		0x7062	/* consumers waiting on a queue */
#define PGBROKER_LOCK_ORDGROUP		0x7063	/* one ordering group of a queue */
#define PGBROKER_LOCK_TOPIC			0x7064	/* producers appending to a topic */
#define PGBROKER_LOCK_PARTITION		0x7065	/* the append order of a partition */
#define PGBROKER_LOCK_GROUP_PART	0x7066	/* one partition of a consumer group */
#define PGBROKER_LOCK_TOPIC_WAITERS	0x7067	/* consumers waiting on a topic */
#define PGBROKER_LOCK_GROUP_WAITERS	0x7068	/* the same, by consumer group */
#define PGBROKER_LOCK_DEFAULT_ACL	0x7069	/* the default privileges of a role */
#define PGBROKER_LOCK_SUBSCRIPTION	0x706a	/* one worker of a subscription, while it runs */

/*
 * Consumers waiting on a queue.  Claims with a filter register apart
 * (field3 = 1): a producer cannot tell whether its message matches their
 * filter, so it wakes them all.
 */
static inline void
LockTagQueueWaiters(LOCKTAG *tag, int32 queue_id, bool filtered)
{
	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, (uint32) queue_id, filtered ? 1 : 0,
						 PGBROKER_LOCK_WAITERS);
}

/* One ordering group of a queue, by the hash of its key. */
static inline void
LockTagOrdGroup(LOCKTAG *tag, int32 queue_id, uint32 key_hash)
{
	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, (uint32) queue_id, key_hash,
						 PGBROKER_LOCK_ORDGROUP);
}

/* Producers appending to a topic (ExclusiveLock at commit). */
static inline void
LockTagTopic(LOCKTAG *tag, int32 topic_id)
{
	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, (uint32) topic_id, 0,
						 PGBROKER_LOCK_TOPIC);
}

/* The append order of one partition of a topic. */
static inline void
LockTagPartition(LOCKTAG *tag, int32 topic_id, int32 partition)
{
	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, (uint32) topic_id,
						 (uint32) partition, PGBROKER_LOCK_PARTITION);
}

/* One partition of a consumer group: whoever moves its offsets. */
static inline void
LockTagGroupPartition(LOCKTAG *tag, int32 group_id, int32 partition)
{
	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, (uint32) group_id,
						 (uint32) partition, PGBROKER_LOCK_GROUP_PART);
}

/* Consumers polling a topic. */
static inline void
LockTagTopicWaiters(LOCKTAG *tag, int32 topic_id)
{
	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, (uint32) topic_id, 0,
						 PGBROKER_LOCK_TOPIC_WAITERS);
}

/* Consumers of one group, waiting for a partition of the group to be freed. */
static inline void
LockTagGroupWaiters(LOCKTAG *tag, int32 group_id)
{
	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, (uint32) group_id, 0,
						 PGBROKER_LOCK_GROUP_WAITERS);
}

/* Whoever changes a role's default privileges in schema broker. */
static inline void
LockTagDefaultAcl(LOCKTAG *tag, Oid role)
{
	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, (uint32) role, 0, PGBROKER_LOCK_DEFAULT_ACL);
}

/*
 * One worker of a subscription (by its number): held by the worker for as
 * long as it runs, so that a second one for the same slot stops at once
 * and a launcher sees whether it runs.
 */
static inline void
LockTagSubscriptionWorker(LOCKTAG *tag, Oid database, int32 subscription, int32 worker)
{
	SET_LOCKTAG_ADVISORY(*tag, database, (uint32) subscription, (uint32) worker,
						 PGBROKER_LOCK_SUBSCRIPTION);
}

#endif							/* PGBROKER_LOCKTAG_H */
