/*
 * stats.c - order statistics of latency samples.
 *
 * Owns the one definition of a percentile that every pgbroker benchmark
 * reports: the nearest-rank percentile of samples sorted in ascending
 * order, so that the command-line tool's bench and the benchmarks in
 * test/tools (which compile this file) give the same p50, p95 and p99 for
 * the same samples.
 */
#include <math.h>
#include <stdlib.h>

#include "stats.h"

/* qsort comparator for doubles, ascending */
int
compare_doubles(const void *a, const void *b)
{
	double		x = *(const double *) a;
	double		y = *(const double *) b;

	return (x > y) - (x < y);
}

void
sort_doubles(double *v, long n)
{
	qsort(v, n, sizeof(double), compare_doubles);
}

/*
 * The p-th percentile (0 < p <= 100) of n samples sorted ascending: the
 * smallest sample with at least p percent of them at or below it.  0 when
 * there are none.
 */
double
percentile(const double *v, long n, double p)
{
	long		i;

	if (n == 0)
		return 0;
	i = (long) ceil(p / 100.0 * n) - 1;
	if (i < 0)
		i = 0;
	if (i >= n)
		i = n - 1;
	return v[i];
}
