/*
 * group_stress.h - what group_stress.c (options, producers, the checks)
 * shares with group_stress_consumers.c (the consumers and the killer).
 *
 * The run's bookkeeping lives in the globals below.  The record tables
 * (part_of, seen, off_slot) and the per-group counters are read and
 * written under mu; the problem counters only through problem() (common.c).
 */
#ifndef GROUP_STRESS_H
#define GROUP_STRESS_H

#include <pthread.h>

#include "common.h"

#define MAX_POLL	50			/* max_records of a poll: 1..MAX_POLL */
#define LEASE		"2 seconds"
#define LEASE_MS	2000

/* leased consumers, per thousand polls: */
#define CRASH		3			/* die before processing; back after the lease */
#define OVERSLEEP	(CRASH + 6) /* commit after the lease ran out */
#define EXTEND		(OVERSLEEP + 3) /* take long, but extend the lease halfway */
#define SKIP		(EXTEND + 60)	/* no commit this time */

typedef struct
{
	long		first;
	long		last;
} Segment;

typedef struct
{
	int			leased;
	char		name[16];
	long		delivered;		/* rows returned by polls */
	long		processed;		/* rows counted as processed */
	long		redelivered;	/* leased: processed again */
	long		polls;
	long		rollbacks;		/* transactional: rolled back on purpose */
	long		killed_in_txn;	/* transactional: connection lost in a transaction */
	long		in_doubt;		/* transactional: lost at COMMIT, found committed */
	long		commits;		/* leased: successful broker.commit calls */
	long		lease_lost;		/* leased: PB001 */
	long		skipped;		/* leased: polls not committed */
	long		overslept;		/* leased: took longer than the lease */
	long		extended;		/* leased: extend_lease calls that worked */
	long		crashes;		/* leased: dropped out for longer than the lease */
	long		kills;
	/* transactional: committed runs of offsets, per partition */
	Segment   **segs;
	int		   *nsegs;
	int		   *maxsegs;
	/* filled in at the end */
	long		lost;
	long		dups;
	long		from_aborted;
	long		lag;
	long		lag_rows;
	double		done_at;		/* seconds into the run it had everything */
} Group;

typedef struct
{
	int			g;				/* group */
	int			k;				/* consumer number within the group */
	char		name[32];
	int			pid;			/* its backend, 0 while disconnected */
	unsigned	seed;
} Consumer;

/* options */
extern int	nproducers;
extern int	ngroups;
extern int	nconsumers;
extern int	npartitions;
extern int	kill_every;
extern unsigned seed0;
extern const char *topic;

/* records: slot p * per_producer + s names record s of producer p */
extern int	per_producer;
extern int	nslots;
extern int *part_of;
extern int *seen;
extern int *off_slot;
extern Group *groups;
extern Consumer *consumers;
extern long kills;
extern long reconnects;
extern volatile int stop;

/* problems */
extern long order_violations;
extern long bad_rows;
extern long errors;
extern long dup_reports;

extern pthread_mutex_t mu;

/* group_stress_consumers.c */
extern void *consumer_main(void *arg);
extern void *killer_main(void *arg);

#endif							/* GROUP_STRESS_H */
