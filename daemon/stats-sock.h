/* SPDX-License-Identifier: MIT */
/*
 * The stats socket of a served device, RUN_DIR/NAME.sock (mode 0600): its
 * supervisor listens there and answers each connection with one message,
 * the counters of every queue (model.h, struct vdk_model_qstats), then
 * closes it.  `vdk stat` reads it; the device is not stopped for it.
 * The message is binary, for the vdk of the same version: a header says
 * which, and a reader refuses another.
 */
#ifndef VDK_STATS_SOCK_H
#define VDK_STATS_SOCK_H

#include <stdint.h>

#include "model.h"

#define VDK_STATS_MAGIC 0x74736b76u   /* "vkst" */
#define VDK_STATS_VERSION 1

struct vdk_stats_hdr {
	uint32_t magic;
	uint32_t version;
	uint32_t qsize;       /* sizeof(struct vdk_model_qstats) */
	int32_t count;        /* queues that follow, or -errno */
	uint64_t time_ns;     /* CLOCK_MONOTONIC when they were read */
	uint64_t start_ns;    /* ... when the counters started, about */
	char type[16];        /* the device model: "blk" */
};

struct vdk_stats_msg {
	struct vdk_stats_hdr h;
	struct vdk_model_qstats q[VDK_STAT_QUEUES_MAX];
};

/*
 * Listen on RUN_DIR/@name.sock (a stale one is replaced): the socket in
 * *@fd, non-blocking.  0 or -errno (-ENAMETOOLONG: the path does not fit
 * a socket address).
 */
int vdk_stats_listen(const char *name, int *fd);

/* Close *@fd (when >= 0) and remove the socket file. */
void vdk_stats_unlisten(const char *name, int *fd);

/* Accept one client of @lfd, if any, and send it @m.  Never blocks. */
void vdk_stats_answer(int lfd, const struct vdk_stats_msg *m);

/*
 * Ask the daemon of @name.  0 with @m filled (m->h.count queues), or
 * -errno: -ENOENT or -ECONNREFUSED (no daemon listens), -EPROTO (another
 * version of vdk), m->h.count when the daemon has no counters.
 */
int vdk_stats_fetch(const char *name, struct vdk_stats_msg *m);

#endif /* VDK_STATS_SOCK_H */
