/*
 * stats.h - order statistics of latency samples, shared by the command
 * line tool's bench and by test/tools/pgbroker_bench and wake_bench.
 */
#ifndef PGBROKER_STATS_H
#define PGBROKER_STATS_H

extern int	compare_doubles(const void *a, const void *b);
extern void sort_doubles(double *v, long n);
extern double percentile(const double *v, long n, double p);

#endif							/* PGBROKER_STATS_H */
