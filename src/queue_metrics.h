/*-------------------------------------------------------------------------
 *
 * queue_metrics.h
 *	  What a queue has seen and holds: committed counters in shared memory
 *	  and a measure of its states that reads a bounded number of pages.
 *
 * src/queue_metrics.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGBROKER_QUEUE_METRICS_H
#define PGBROKER_QUEUE_METRICS_H

/* The counters kept per queue; the order of the view's _total columns. */
typedef enum QueueCounter
{
	QCOUNT_SENT,				/* messages sent (not those a dedup key kept out) */
	QCOUNT_CLAIMED,				/* deliveries: messages claimed */
	QCOUNT_ACKED,				/* messages acked */
	QCOUNT_NACKED,				/* nacks */
	QCOUNT_DEAD_LETTERED,		/* moves to the dead letters, for any reason */
	QCOUNT_EXPIRED,				/* messages whose time to live ran out */
	QCOUNT_DROPPED,				/* oldest messages dropped by an overflow */
	QCOUNT_N					/* must be last */
} QueueCounter;

extern void QueueMetricsInit(void);
extern void QueueCount(int32 queue_id, QueueCounter counter, int64 n);
extern void QueueMetricsCommitted(void);
extern void QueueMetricsAborted(void);
extern void QueueMetricsSubAborted(int level);
extern void QueueMetricsSubCommitted(int level);

#endif							/* PGBROKER_QUEUE_METRICS_H */
