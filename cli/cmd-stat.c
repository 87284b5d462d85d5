// SPDX-License-Identifier: MIT
/*
 * vdk stat: the counters of running devices, asked of their daemons
 * through their stats sockets (daemon/stats-sock.h), printed like iostat.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "args.h"
#include "cli.h"
#include "stat-print.h"
#include "stats-sock.h"
#include "sysfs.h"

const char vdk_stat_usage[] =
"Usage: vdk stat [-j] [-c COUNT] [NAME] [INTERVAL]\n"
"\n"
"Statistics of the device NAME (default: every device a vdk daemon\n"
"serves), read from its running daemon: per device (queue 'all') and per\n"
"queue, requests and kB per second by kind (r: read, w: write, f: flush,\n"
"d: discard, z: write-zeroes), errors, drops, requests in flight and the\n"
"completion latency's 50th and 99th percentiles in microseconds.  The\n"
"first report covers the time since the device was made; with INTERVAL,\n"
"a report every INTERVAL seconds covers the interval (as iostat).  A net\n"
"device's rx frames show as reads, its tx frames as writes.  A lone\n"
"number is the INTERVAL: a device named with digits takes both.\n"
"\n"
"Options:\n"
"  -j, --json           JSON: one array a report, with the counts\n"
"                       (requests, bytes) and the milliseconds covered\n"
"  -c, --count COUNT    stop after COUNT reports (INTERVAL default 1)\n"
"  -h, --help           this text\n";

struct dev {
	char *name;
	struct vdk_stats_msg now, prev;
	bool have_prev;
	bool gone;
};

static void sleep_s(unsigned int s)
{
	struct timespec ts = { s, 0 };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* A message for a fetch that failed. */
static const char *why(int ret)
{
	switch (ret) {
	case -ENOENT:
	case -ECONNREFUSED:
		return "no vdk daemon serves it";
	case -EACCES:
	case -EPERM:
		return "must be run as root";
	case -EPROTO:
		return "its daemon is another version of vdk";
	case -EOPNOTSUPP:
		return "its device model keeps no counters";
	default:
		return strerror(-ret);
	}
}

/*
 * What to print of @d: since the previous sample, or since the device
 * was made (the first, or another device of the same name since).
 */
static void report_fill(struct vdk_stat_dev *p, const struct dev *d)
{
	const struct vdk_stats_hdr *now = &d->now.h, *prev = &d->prev.h;

	p->name = d->name;
	p->type = now->type;
	p->nq = (unsigned int)now->count;
	p->q = d->now.q;
	if (d->have_prev && prev->start_ns == now->start_ns &&
	    prev->count == now->count) {
		p->prev = d->prev.q;
		p->seconds = (now->time_ns - prev->time_ns) / 1e9;
	} else {
		p->prev = NULL;
		p->seconds = (now->time_ns - now->start_ns) / 1e9;
	}
}

/* The devices to show: @name, or all with a daemon that answers. */
static int devices(const char *name, struct dev **out, size_t *n)
{
	char **names = NULL;
	size_t count = 0, i, k = 0;
	struct dev *d;
	int ret;

	if (name) {
		d = calloc(1, sizeof(*d));
		if (!d || !(d->name = strdup(name))) {
			free(d);
			return -ENOMEM;
		}
		*out = d;
		*n = 1;
		return 0;
	}
	ret = vdk_sys_vduse_list(&names, &count);
	if (ret)
		return ret;
	d = calloc(count ? count : 1, sizeof(*d));
	if (!d) {
		vdk_sys_names_free(names, count);
		return -ENOMEM;
	}
	for (i = 0; i < count; i++) {
		d[k].name = names[i];
		names[i] = NULL;
		k++;
	}
	vdk_sys_names_free(names, count);
	*out = d;
	*n = k;
	return 0;
}

int vdk_cmd_stat(int argc, char **argv)
{
	struct vdk_stat_dev *pr = NULL;
	struct vdk_stat_args a;
	struct dev *devs = NULL;
	size_t n = 0, i, k;
	unsigned int report;
	char err[256];
	int code = VDK_EXIT_OK, ret;

	if (vdk_args_stat(argc, argv, &a, err, sizeof(err))) {
		vdk_cli_err("stat", "%s", err);
		return VDK_EXIT_USAGE;
	}
	if (a.help) {
		fputs(vdk_stat_usage, stdout);
		return VDK_EXIT_OK;
	}
	if (a.name && !vdk_sys_vduse_exists(a.name)) {
		vdk_cli_err("stat", "no such device '%s'", a.name);
		return VDK_EXIT_NODEV;
	}
	ret = devices(a.name, &devs, &n);
	if (ret) {
		vdk_cli_err("stat", "%s", strerror(-ret));
		return VDK_EXIT_FAIL;
	}
	pr = calloc(n ? n : 1, sizeof(*pr));
	if (!pr) {
		code = VDK_EXIT_FAIL;
		goto out;
	}
	for (report = 0;; report++) {
		for (i = 0, k = 0; i < n; i++) {
			struct dev *d = &devs[i];

			if (d->gone)
				continue;
			ret = vdk_stats_fetch(d->name, &d->now);
			if (ret) {
				/* Listing all: those without a daemon. */
				if (!a.name && (ret == -ENOENT ||
						ret == -ECONNREFUSED)) {
					d->gone = true;
					continue;
				}
				vdk_cli_err("stat", "%s: %s", d->name,
					    why(ret));
				code = ret == -EACCES || ret == -EPERM ?
					       VDK_EXIT_PERM : VDK_EXIT_FAIL;
				goto out;
			}
			report_fill(&pr[k], d);
			k++;
		}
		ret = vdk_stat_print(stdout, a.json, pr, k);
		if (ret) {
			vdk_cli_err("stat", "cannot print the report: %s",
				    strerror(-ret));
			code = VDK_EXIT_FAIL;
			goto out;
		}
		for (i = 0; i < n; i++) {
			devs[i].prev = devs[i].now;
			devs[i].have_prev = !devs[i].gone;
		}
		if (!a.interval || (a.count && report + 1 >= a.count))
			break;
		sleep_s(a.interval);
	}
out:
	for (i = 0; i < n; i++)
		free(devs[i].name);
	free(devs);
	free(pr);
	return code;
}
