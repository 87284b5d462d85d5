// SPDX-License-Identifier: MIT
/*
 * vdk stat's reports, text and JSON.
 */
#include <string.h>

#include "json.h"
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

static void json_pct(struct vdk_jw *w, const char *key, const uint64_t *lat,
		     double p)
{
	double v = vdk_stat_percentile(lat, p);

	vdk_jw_key(w, key);
	if (v < 0)
		vdk_jw_null(w);
	else
		vdk_jw_u64(w, (uint64_t)(v + 0.5));
}

static void json_queue(struct vdk_jw *w, const char *label,
		       const struct vdk_model_qstats *s)
{
	vdk_jw_obj_begin(w);
	vdk_jw_key(w, "queue");
	vdk_jw_str(w, label);
	for (unsigned int k = 0; k < VDK_STAT_KINDS; k++) {
		vdk_jw_key(w, kind_key[k]);
		vdk_jw_obj_begin(w);
		vdk_jw_key(w, "requests");
		vdk_jw_u64(w, s->requests[k]);
		vdk_jw_key(w, "bytes");
		vdk_jw_u64(w, s->bytes[k]);
		vdk_jw_obj_end(w);
	}
	vdk_jw_key(w, "errors");
	vdk_jw_u64(w, s->errors);
	vdk_jw_key(w, "dropped");
	vdk_jw_u64(w, s->dropped);
	vdk_jw_key(w, "in_flight");
	vdk_jw_u64(w, s->in_flight);
	vdk_jw_key(w, "latency_us");
	vdk_jw_obj_begin(w);
	json_pct(w, "p50", s->latency, 0.50);
	json_pct(w, "p90", s->latency, 0.90);
	json_pct(w, "p99", s->latency, 0.99);
	json_pct(w, "p999", s->latency, 0.999);
	vdk_jw_obj_end(w);
	vdk_jw_obj_end(w);
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

void vdk_stat_print(FILE *f, bool json, const struct vdk_stat_dev *devs,
		    size_t n)
{
	struct vdk_model_qstats total, one;
	struct vdk_jw w;

	if (json) {
		vdk_jw_init(&w, f);
		vdk_jw_arr_begin(&w);
	} else {
		fprintf(f, "%-12s %-5s %9s %10s %9s %10s %7s %7s %7s %6s %6s "
			"%5s %7s %7s\n",
			"device", "queue", "r/s", "rkB/s", "w/s", "wkB/s",
			"f/s", "d/s", "z/s", "err", "drop", "infl", "p50us",
			"p99us");
	}
	for (size_t i = 0; i < n; i++) {
		const struct vdk_stat_dev *d = &devs[i];

		memset(&total, 0, sizeof(total));
		for (unsigned int q = 0; q < d->nq; q++)
			interval(&d->q[q], d->prev ? &d->prev[q] : NULL,
				 &total);
		if (json) {
			vdk_jw_obj_begin(&w);
			vdk_jw_key(&w, "name");
			vdk_jw_str(&w, d->name);
			vdk_jw_key(&w, "type");
			vdk_jw_str(&w, d->type);
			vdk_jw_key(&w, "interval_ms");
			vdk_jw_u64(&w, (uint64_t)(d->seconds * 1000 + 0.5));
			vdk_jw_key(&w, "total");
			json_queue(&w, "all", &total);
			vdk_jw_key(&w, "queues");
			vdk_jw_arr_begin(&w);
		} else {
			text_queue(f, d->name, "all", &total, d->seconds);
		}
		for (unsigned int q = 0; q < d->nq; q++) {
			memset(&one, 0, sizeof(one));
			interval(&d->q[q], d->prev ? &d->prev[q] : NULL, &one);
			if (json)
				json_queue(&w, d->q[q].label, &one);
			else if (d->nq > 1)
				text_queue(f, d->name, d->q[q].label, &one,
					   d->seconds);
		}
		if (json) {
			vdk_jw_arr_end(&w);
			vdk_jw_obj_end(&w);
		}
	}
	if (json) {
		vdk_jw_arr_end(&w);
		fputc('\n', f);
	} else {
		fputc('\n', f);
	}
	fflush(f);
}
