/*-------------------------------------------------------------------------
 *
 * group.h
 *	  Consumer groups: the state of a group's partitions (group_state.c),
 *	  which the commits, seeks and leaves move (group_commit.c) and the
 *	  polls read and advance (group_poll.c).
 *
 * src/group.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGBROKER_GROUP_H
#define PGBROKER_GROUP_H

#include "datatype/timestamp.h"

#include "topic.h"

/* The newest state row of a (group, partition). */
typedef struct PartitionState
{
	bool		found;
	int64		committed;
	int64		position;
	char	   *consumer;		/* NULL: nobody */
	char	   *session;		/* the holder's database session */
	int64		epoch;
	bool		has_lease;
	TimestampTz lease_until;
	int64		skipped;
	TimestampTz committed_at;	/* as read */
	bool		keep_committed_at;	/* write it back; else the transaction's start */
} PartitionState;

extern int32 GroupFind(int32 topic_id, const char *name, char **owner);
extern int32 GroupIdFor(BrokerTopic *t, const char *name);
extern int32 GroupEnsure(BrokerTopic *t, const char *name, const char *start);
extern int32 GroupIdRequired(BrokerTopic *t, const char *name);
extern void GroupCheckTopic(BrokerTopic *t);
extern bool GroupLockPartition(int32 group_id, int32 partition);
extern void GroupCheckLease(const Interval *lease);
extern void GroupReadState(int32 group_id, int32 partition, PartitionState *st);
extern void GroupWriteState(int32 group_id, int32 partition, PartitionState *st);
extern char *GroupSessionName(void);
extern char *GroupTokenSession(const char *token);
extern void GroupCheckToken(const char *token);

/* The leases one consumer of this session holds in one group, as it last saw them. */
extern bool GroupLeaseCacheMatches(int32 group_id, int32 partitions, const char *consumer);
extern TimestampTz GroupLeaseCacheUntil(int32 partition);
extern void GroupLeaseCacheSet(int32 partition, TimestampTz until);
extern void GroupLeaseCacheFill(int32 group_id, int32 partitions, const char *consumer);

/* A call that writes nothing but a group's progress (pgbroker.synchronous_offsets). */
extern void GroupOffsetsWriteBegin(void);
extern void GroupOffsetsNotAlone(void);
extern void GroupOffsetsWriteEnd(void);

/* Transaction events, called by the dispatcher (xact.c) only. */
extern void GroupXactPreCommit(void);
extern void GroupXactEnded(bool aborted);
extern void GroupXactSubAborted(void);

#endif							/* PGBROKER_GROUP_H */
