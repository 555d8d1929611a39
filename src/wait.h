/*-------------------------------------------------------------------------
 *
 * wait.h
 *	  Waiting consumers and the wakeups producers give them (wait.c), and
 *	  what a wait procedure needs to commit between its looks (proc.c).
 *
 * src/wait.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGBROKER_WAIT_H
#define PGBROKER_WAIT_H

#include "datatype/timestamp.h"
#include "funcapi.h"
#include "storage/lock.h"

#include "pgbroker.h"

/*
 * How long a wait sleeps at most before it looks again anyway: for what a
 * waiter cannot see coming (a lease among more than it looked at), and
 * when it knows every delay and lease of the queue (then only a wakeup
 * lost with a backend that died between its commit and its wakeup is left
 * to it).  The idle backstop is what a thousand idle waiters cost: each
 * look of a backend that slept that long runs cold (a few ms of CPU), so
 * it is long; a send or nack due within it wakes a waiter (queue_send.c),
 * so lengthening it delays no due message.  Compile with
 * -DPGBROKER_IDLE_BACKSTOP_MS=... to measure what a look costs.
 */
#define PGBROKER_BACKSTOP_MS		5000
#ifndef PGBROKER_IDLE_BACKSTOP_MS
#define PGBROKER_IDLE_BACKSTOP_MS	600000
#endif

/* Wake every waiter, not a count of them. */
#define PGBROKER_WAKE_ALL	PG_INT64_MAX

/* Wakeups: at commit (a producer), at the end of a transaction (a release). */
extern void BrokerWaitInit(void);
extern void BrokerWakeQueueAtCommit(int32 queue_id, int64 count);
extern void BrokerWakeQueueAtEnd(int32 queue_id, int64 count);
extern void BrokerWakeGroupAtEnd(int32 group_id, int64 count);
extern void BrokerWakeTopicWaiters(int32 topic_id);
extern void WaitXactCommitted(void);
extern void WaitXactAborted(void);

/*
 * A waiting call: a claim or a poll.  look runs connected to SPI and
 * returns how many items it added to rsinfo; a look that found nothing
 * sets due (when it should look again at the latest, 0: no such time) and
 * backstop.  register_tags is called once, after the first empty look,
 * and fills up to two tags to wait on; the last is the one a wakeup is
 * passed on through when an interrupt ends the wait before it looked.
 */
typedef struct BrokerWaiter BrokerWaiter;
struct BrokerWaiter
{
	int			(*look) (BrokerWaiter *w, bool registered);
	int			(*register_tags) (BrokerWaiter *w, LOCKTAG *tags);
	bool		filtered;		/* woken by every commit, wanted or not */
	int64		wait_ms;		/* 0: look once */
	ReturnSetInfo *rsinfo;		/* where a look puts what it found */
	const char *row_type;		/* broker.<row_type>: what a look finds */
	TimestampTz due;			/* set by a look that found nothing */
	long		backstop_ms;	/* likewise */
};

extern int64 BrokerWaitArg(FunctionCallInfo fcinfo, int argno, bool in_procedure,
						   const char *procedure);
extern int	BrokerWaitInStatement(BrokerWaiter *w);
extern Datum BrokerWaitProcedure(FunctionCallInfo fcinfo, BrokerWaiter *w);

/* proc.c */
extern void BrokerCheckNonAtomic(FunctionCallInfo fcinfo, const char *proc,
								 const char *instead);

/* notify.c */
extern void BrokerNotifyAtCommit(const char *kind, const char *name);

#endif							/* PGBROKER_WAIT_H */
