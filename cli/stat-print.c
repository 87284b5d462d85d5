// SPDX-License-Identifier: MIT
/*
 * vdk stat's reports, text and JSON.
 */
#include <errno.h>
#include <string.h>

#include "json-util.h"
#include "stat-print.h"

double vdk_stat_percentile(const uint64_t *lat, double p)
{
	uint64_t total = 0, seen = 0;
	double want, lo, hi;
	unsigned int i;

	for (i = 0; i < VDK_STAT_LAT_BUCKETS; i++)
		total += lat[i];
	if (!total)
		return -1;
	want = p * (double)total;
	for (i = 0; i < VDK_STAT_LAT_BUCKETS - 1; i++) {
		if ((double)(seen + lat[i]) >= want && lat[i])
			break;
		seen += lat[i];
	}
	lo = i ? (double)(1ull << (i - 1)) : 0;
	hi = (double)(1ull << i);
	if (i == VDK_STAT_LAT_BUCKETS - 1)
		return lo; /* open-ended: at least this */
	return lo + (hi - lo) * (want - (double)seen) / (double)lat[i];
}

/* @now less @prev (a counter that went back: a new device, so @now). */
static uint64_t delta(uint64_t now, uint64_t prev)
{
	return now >= prev ? now - prev : now;
}

/* One queue's interval, or the sum of a device's. */
static void interval(const struct vdk_model_qstats *now,
		     const struct vdk_model_qstats *prev,
		     struct vdk_model_qstats *out)
{
	static const struct vdk_model_qstats zero;
	unsigned int k;

	if (!prev)
		prev = &zero;
	for (k = 0; k < VDK_STAT_KINDS; k++) {
		out->requests[k] += delta(now->requests[k], prev->requests[k]);
		out->bytes[k] += delta(now->bytes[k], prev->bytes[k]);
	}
	out->errors += delta(now->errors, prev->errors);
	out->dropped += delta(now->dropped, prev->dropped);
	out->in_flight += now->in_flight;  /* a gauge */
	for (k = 0; k < VDK_STAT_LAT_BUCKETS; k++)
		out->latency[k] += delta(now->latency[k], prev->latency[k]);
}

static const char *const kind_key[VDK_STAT_KINDS] = {
	[VDK_STAT_READ] = "read",
	[VDK_STAT_WRITE] = "write",
	[VDK_STAT_FLUSH] = "flush",
	[VDK_STAT_DISCARD] = "discard",
	[VDK_STAT_ZERO] = "write_zeroes",
	[VDK_STAT_OTHER] = "other",
};

/* A percentile in microseconds, null when there is none; -ENOMEM. */
static int json_pct(struct json_object *o, const char *key,
		    const uint64_t *lat, double p)
{
	double v = vdk_stat_percentile(lat, p);

	if (v < 0)
		return vdk_json_add(o, key, NULL);
	return vdk_json_add_u64(o, key, (uint64_t)(v + 0.5));
}

/* One queue's counters (or a device's), added to @parent; -ENOMEM. */
static int json_queue(struct json_object *parent, const char *key,
		      const char *label, const struct vdk_model_qstats *s)
{
	struct json_object *q, *o;

	q = json_object_new_object();
	if (!q || vdk_json_add(parent, key, q) ||
	    vdk_json_add_str(q, "queue", label))
		return -ENOMEM;
	for (unsigned int k = 0; k < VDK_STAT_KINDS; k++) {
		o = json_object_new_object();
		if (!o || vdk_json_add(q, kind_key[k], o) ||
		    vdk_json_add_u64(o, "requests", s->requests[k]) ||
		    vdk_json_add_u64(o, "bytes", s->bytes[k]))
			return -ENOMEM;
	}
	o = json_object_new_object();
	if (vdk_json_add_u64(q, "errors", s->errors) ||
	    vdk_json_add_u64(q, "dropped", s->dropped) ||
	    vdk_json_add_u64(q, "in_flight", s->in_flight) ||
	    !o || vdk_json_add(q, "latency_us", o) ||
	    json_pct(o, "p50", s->latency, 0.50) ||
	    json_pct(o, "p90", s->latency, 0.90) ||
	    json_pct(o, "p99", s->latency, 0.99) ||
	    json_pct(o, "p999", s->latency, 0.999))
		return -ENOMEM;
	return 0;
}

/* One device: its total and its queues, added to @arr; -ENOMEM. */
static int json_dev(struct json_object *arr, const struct vdk_stat_dev *d)
{
	struct vdk_model_qstats total, one;
	struct json_object *o, *qs;

	memset(&total, 0, sizeof(total));
	for (unsigned int q = 0; q < d->nq; q++)
		interval(&d->q[q], d->prev ? &d->prev[q] : NULL, &total);
	o = json_object_new_object();
	if (!o || vdk_json_add(arr, NULL, o) ||
	    vdk_json_add_str(o, "name", d->name) ||
	    vdk_json_add_str(o, "type", d->type) ||
	    vdk_json_add_u64(o, "interval_ms",
			     (uint64_t)(d->seconds * 1000 + 0.5)) ||
	    json_queue(o, "total", "all", &total))
		return -ENOMEM;
	qs = json_object_new_array();
	if (!qs || vdk_json_add(o, "queues", qs))
		return -ENOMEM;
	for (unsigned int q = 0; q < d->nq; q++) {
		memset(&one, 0, sizeof(one));
		interval(&d->q[q], d->prev ? &d->prev[q] : NULL, &one);
		if (json_queue(qs, NULL, d->q[q].label, &one))
			return -ENOMEM;
	}
	return 0;
}

static int json_print(FILE *f, const struct vdk_stat_dev *devs, size_t n)
{
	struct json_object *arr = json_object_new_array();
	int ret = 0;

	if (!arr)
		return -ENOMEM;
	for (size_t i = 0; !ret && i < n; i++)
		ret = json_dev(arr, &devs[i]);
	if (!ret)
		ret = vdk_json_print(f, arr);
	if (!ret && fputc('\n', f) == EOF)
		ret = -EIO;
	json_object_put(arr);
	return ret;
}

static void text_pct(FILE *f, const uint64_t *lat, double p)
{
	double v = vdk_stat_percentile(lat, p);

	if (v < 0)
		fprintf(f, " %7s", "-");
	else
		fprintf(f, " %7.0f", v);
}

static void text_queue(FILE *f, const char *name, const char *label,
		       const struct vdk_model_qstats *s, double secs)
{
	double t = secs > 0 ? secs : 1;

	fprintf(f, "%-12s %-5s %9.1f %10.1f %9.1f %10.1f %7.1f %7.1f %7.1f "
		"%6llu %6llu %5llu",
		name, label, s->requests[VDK_STAT_READ] / t,
		s->bytes[VDK_STAT_READ] / 1024.0 / t,
		s->requests[VDK_STAT_WRITE] / t,
		s->bytes[VDK_STAT_WRITE] / 1024.0 / t,
		s->requests[VDK_STAT_FLUSH] / t,
		s->requests[VDK_STAT_DISCARD] / t,
		s->requests[VDK_STAT_ZERO] / t,
		(unsigned long long)s->errors,
		(unsigned long long)s->dropped,
		(unsigned long long)s->in_flight);
	text_pct(f, s->latency, 0.50);
	text_pct(f, s->latency, 0.99);
	fputc('\n', f);
}

int vdk_stat_print(FILE *f, bool json, const struct vdk_stat_dev *devs,
		   size_t n)
{
	struct vdk_model_qstats total, one;
	int ret;

	if (json) {
		ret = json_print(f, devs, n);
		if (fflush(f) && !ret)
			ret = -EIO;
		return ret;
	}
	fprintf(f, "%-12s %-5s %9s %10s %9s %10s %7s %7s %7s %6s %6s "
		"%5s %7s %7s\n",
		"device", "queue", "r/s", "rkB/s", "w/s", "wkB/s",
		"f/s", "d/s", "z/s", "err", "drop", "infl", "p50us",
		"p99us");
	for (size_t i = 0; i < n; i++) {
		const struct vdk_stat_dev *d = &devs[i];

		memset(&total, 0, sizeof(total));
		for (unsigned int q = 0; q < d->nq; q++)
			interval(&d->q[q], d->prev ? &d->prev[q] : NULL,
				 &total);
		text_queue(f, d->name, "all", &total, d->seconds);
		if (d->nq < 2)
			continue;
		for (unsigned int q = 0; q < d->nq; q++) {
			memset(&one, 0, sizeof(one));
			interval(&d->q[q], d->prev ? &d->prev[q] : NULL, &one);
			text_queue(f, d->name, d->q[q].label, &one,
				   d->seconds);
		}
	}
	fputc('\n', f);
	return fflush(f) ? -EIO : 0;
}
