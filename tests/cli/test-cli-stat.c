// SPDX-License-Identifier: MIT
/*
 * vdk stat's reports: latency percentiles from the log2 histogram,
 * intervals from two samples, the text and JSON forms.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stat-print.h"
#include "test.h"

static void test_percentile(void)
{
	uint64_t lat[VDK_STAT_LAT_BUCKETS] = { 0 };

	CHECK(vdk_stat_percentile(lat, 0.5) < 0);
	/* 100 completions in [64, 128) us: spread evenly over the bucket. */
	lat[7] = 100;
	CHECK_EQ((int)vdk_stat_percentile(lat, 0.5), 96);
	CHECK_EQ((int)vdk_stat_percentile(lat, 1.0), 128);
	/* 90 fast ones (< 1 us) and 10 in [1024, 2048) us. */
	memset(lat, 0, sizeof(lat));
	lat[0] = 90;
	lat[11] = 10;
	CHECK(vdk_stat_percentile(lat, 0.5) < 1);
	CHECK_EQ((int)vdk_stat_percentile(lat, 0.95), 1536);
	CHECK_EQ((int)vdk_stat_percentile(lat, 0.99), 1945);
	/* The open-ended last bucket: at least its floor. */
	memset(lat, 0, sizeof(lat));
	lat[VDK_STAT_LAT_BUCKETS - 1] = 1;
	CHECK_EQ((long long)vdk_stat_percentile(lat, 0.5), 1ll << 30);
}

static char *report(bool json, const struct vdk_stat_dev *d, size_t n)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	CHECK(f);
	vdk_stat_print(f, json, d, n);
	fclose(f);
	return buf;
}

static void test_print(void)
{
	struct vdk_model_qstats prev[2], now[2];
	struct vdk_stat_dev d = {
		.name = "disk0", .type = "blk", .nq = 2, .q = now,
	};
	char *out;

	memset(prev, 0, sizeof(prev));
	for (int i = 0; i < 2; i++)
		snprintf(prev[i].label, sizeof(prev[i].label), "q%d", i);
	memcpy(now, prev, sizeof(now));
	prev[0].requests[VDK_STAT_READ] = 100;
	prev[0].bytes[VDK_STAT_READ] = 100 * 4096;
	prev[0].latency[5] = 100;
	now[0].requests[VDK_STAT_READ] = 300;
	now[0].bytes[VDK_STAT_READ] = 300 * 4096;
	now[0].latency[5] = 300;
	now[0].in_flight = 3;
	now[1].requests[VDK_STAT_WRITE] = 50;
	now[1].bytes[VDK_STAT_WRITE] = 50 * 8192;
	now[1].requests[VDK_STAT_FLUSH] = 4;
	now[1].errors = 1;
	now[1].latency[10] = 54;

	/* Since the start: 2 s, no previous sample. */
	d.seconds = 2;
	out = report(false, &d, 1);
	fputs(out, stdout);
	CHECK(!strncmp(out, "device", 6));
	CHECK(strstr(out, "\ndisk0        all       150.0      600.0      25.0"
			  "      200.0     2.0     0.0     0.0      1      0"
			  "     3"));
	CHECK(strstr(out, "\ndisk0        q0        150.0      600.0"
			  "       0.0"));
	CHECK(strstr(out, "\ndisk0        q1          0.0        0.0"
			  "      25.0"));
	free(out);

	/* An interval of 4 s: the differences. */
	d.prev = prev;
	d.seconds = 4;
	out = report(true, &d, 1);
	fputs(out, stdout);
	CHECK(out == strstr(out, "[{\"name\":\"disk0\",\"type\":\"blk\","
			    "\"interval_ms\":4000,\"total\":{\"queue\":\"all\","
			    "\"read\":{\"requests\":200,\"bytes\":819200},"
			    "\"write\":{\"requests\":50,\"bytes\":409600},"
			    "\"flush\":{\"requests\":4,\"bytes\":0},"));
	CHECK(strstr(out, "\"errors\":1,\"dropped\":0,\"in_flight\":3,"));
	/* q0's 200 reads in [16, 32) us: p50 24. */
	CHECK(strstr(out, "{\"queue\":\"q0\",\"read\":{\"requests\":200,"));
	CHECK(strstr(out, "\"latency_us\":{\"p50\":24,"));
	CHECK(out[strlen(out) - 1] == '\n');
	free(out);

	/* No completions: no percentile. */
	memset(now, 0, sizeof(now));
	d.prev = NULL;
	out = report(true, &d, 1);
	CHECK(strstr(out, "\"latency_us\":{\"p50\":null,\"p90\":null,"));
	free(out);
	out = report(true, &d, 0);
	CHECK(!strcmp(out, "[]\n"));
	free(out);
}

int main(void)
{
	test_percentile();
	test_print();
	return T_EXIT_PASS;
}
