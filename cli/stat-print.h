/* SPDX-License-Identifier: MIT */
/*
 * What `vdk stat` prints of the counters of devices (model.h): per device
 * and per queue, requests and bytes by kind, errors, requests in flight,
 * latency percentiles.  Text like iostat's (rates per second), or JSON
 * (the counts themselves, and the seconds they cover).
 */
#ifndef VDK_STAT_PRINT_H
#define VDK_STAT_PRINT_H

#include <stdbool.h>
#include <stdio.h>

#include "model.h"

struct vdk_stat_dev {
	const char *name;
	const char *type;
	unsigned int nq;
	const struct vdk_model_qstats *q;     /* the counters now */
	/* The counters at the start of the interval, or NULL (all zero). */
	const struct vdk_model_qstats *prev;
	double seconds;  /* what the interval covers (JSON: interval_ms) */
};

/*
 * The latency under which a fraction @p (0..1) of the completions of
 * histogram @lat (VDK_STAT_LAT_BUCKETS buckets) fell, in microseconds,
 * interpolated within its bucket; -1 when it holds none.
 */
double vdk_stat_percentile(const uint64_t *lat, double p);

/*
 * One report of @n devices into @f: a header and lines, or one JSON line.
 * 0, -ENOMEM (the JSON could not be built: nothing written) or -EIO.
 */
int vdk_stat_print(FILE *f, bool json, const struct vdk_stat_dev *devs,
		   size_t n);

#endif /* VDK_STAT_PRINT_H */
