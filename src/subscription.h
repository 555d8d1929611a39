/*-------------------------------------------------------------------------
 *
 * subscription.h
 *	  Subscriptions: a SQL function that pgbroker's background workers call
 *	  with the messages of a queue or the records of a consumer group.
 *	  Starting the workers (subscription_launch.c), the worker process
 *	  (subscription_worker.c), calling the handler (subscription_handler.c),
 *	  and what is particular to
 *	  consuming a queue (subscription_queue.c) or a topic
 *	  (subscription_topic.c).
 *
 * src/subscription.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGBROKER_SUBSCRIPTION_H
#define PGBROKER_SUBSCRIPTION_H

#include "datatype/timestamp.h"
#include "storage/lock.h"

/* A subscription as its worker read it from broker.subscription. */
typedef struct Subscription
{
	int32		id;
	char	   *name;
	bool		is_queue;
	int32		source_id;		/* queue or topic id */
	char	   *source;			/* queue or topic name */
	char	   *group;			/* consumer group (topic) */
	Oid			handler;
	bool		per_batch;
	char	   *owner;
	Oid			owner_id;		/* InvalidOid: the role is gone */
	char	   *search_path;
	int32		batch_size;
	int32		concurrency;
	int64		timeout_ms;
	bool		enabled;
	int32		max_attempts;
	int64		retry_base_ms;
	int64		retry_max_ms;
	bool		dead_letter;	/* on_failure = 'dead_letter' */
} Subscription;

/* What a worker is told at its start (bgw_extra). */
typedef struct SubscriptionWorkerArg
{
	Oid			database;
	Oid			role;			/* InvalidOid: the bootstrap superuser */
	int32		subscription;
	int32		worker;
} SubscriptionWorkerArg;

/* One message or record handed to a handler, and what became of it. */
typedef struct SubItem
{
	Datum		value;			/* a broker.message or broker.record */
	int64		id;				/* message id, or offset */
	Datum		receipt;		/* queue: the claim's receipt (uuid) */
	int32		partition;		/* topic */
	int32		attempt;		/* queue: the message's delivery count */
	bool		done;			/* handled, and settled with its effects */
	bool		failed;
	bool		skipped;		/* topic: after a failure in its partition */
	char	   *error;
} SubItem;

/*
 * What the handler loop asks of a source: settle one handled item inside
 * the subtransaction of its effects (false: it may not be settled, e.g. a
 * lease lost, and its effects are undone), and whether a failure stops
 * the items after it in the same partition (a topic's order).
 */
typedef struct SubSource
{
	bool		(*settle) (Subscription *s, SubItem *item);
	/* settle items[0..n-1] at once; false: not all of them (NULL: nothing to settle) */
	bool		(*settle_all) (Subscription *s, SubItem *items, int n);
	bool		ordered;
} SubSource;

/* subscription_handler.c */
extern void SubscriptionHandle(Subscription *s, SubItem *items, int n, const SubSource *src);
extern void SubscriptionCheckHandler(Subscription *s);

/* subscription_worker.c */
extern Subscription *SubscriptionRead(int32 id);
extern void SubscriptionAsOwner(Subscription *s);
extern void SubscriptionAsWorker(void);
extern void SubscriptionCountBatch(Subscription *s, int processed, int failed, const char *error,
								   const char *about);
extern int64 SubscriptionBackoffMs(Subscription *s, int attempts);

/* subscription_queue.c: one batch (false: the queue had nothing) */
extern bool SubscriptionQueueLook(Subscription *s, int max, List **batch, TimestampTz *due);
extern List *SubscriptionQueueBatch(Subscription *s, List *batch, int next_max);

/* subscription_topic.c */
extern bool SubscriptionTopicLook(Subscription *s, int worker, TimestampTz *due);
extern void SubscriptionTopicBatch(Subscription *s, int worker);
extern void SubscriptionTopicForget(void);

/* subscription_launch.c */
extern void SubscriptionXactPreCommit(void);
extern void SubscriptionXactCommitted(void);
extern void SubscriptionXactAborted(void);

#endif							/* PGBROKER_SUBSCRIPTION_H */
