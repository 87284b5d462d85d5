/* SPDX-License-Identifier: MIT */
/*
 * A confined daemon is two processes.  The serving process (server.c)
 * holds the device: it reads the driver's memory, runs the backend, and
 * gives up root before it serves.  Its parent, the supervisor (serve.c),
 * never touches the driver's memory nor the storage: it keeps root for
 * the steps that need it (attaching to the vDPA bus and detaching, the
 * state file, destroying the kernel device) and asks the server for what
 * only the device knows, in fixed-size messages on a socket pair.
 *
 *   server -> supervisor  CREATED (the device answers the kernel, the
 *                         server is confined) or FAILED, once;
 *   supervisor -> server  STATUS?, RESIZE, STATS?, STOP (and TEST_SYSCALL
 *                         in test builds); the server answers each but
 *                         STOP, STATS? with one STATS per queue;
 *   server -> supervisor  CHANGED, unasked, when the device changed by
 *                         itself (its backend said the size changed, as
 *                         rbd's update watch does, and the driver was
 *                         told): the supervisor records the new
 *                         description in the state file.
 *
 * The server dies with the supervisor (PR_SET_PDEATHSIG); when the server
 * dies, the supervisor leaves the device to `vdk recover`, as for a
 * daemon killed outright.
 */
#ifndef VDK_DAEMON_SPLIT_H
#define VDK_DAEMON_SPLIT_H

#include <stdbool.h>
#include <stdint.h>

#include "confine.h"
#include "model.h"

enum split_type {
	SPLIT_CREATED = 1,
	SPLIT_FAILED,
	SPLIT_STATUS_Q,
	SPLIT_STATUS,
	SPLIT_RESIZE,
	SPLIT_RESIZED,
	SPLIT_STOP,
	SPLIT_TEST_SYSCALL,
	SPLIT_CHANGED,       /* server -> supervisor, unasked: a new desc */
	SPLIT_STATS_Q,
	SPLIT_STATS,         /* queue @queue of @ret, or @ret < 0 alone */
};

/* The device's fields of the state file, as describe() gave them. */
struct split_desc {
	uint64_t size;
	uint32_t block_size;
	uint32_t queues;
	uint32_t queue_size;
	bool read_only;
	uint64_t features;
	uint64_t driver_features;
	uint32_t vduse_api;
	uint64_t vduse_features;
};

struct split_msg {
	uint32_t type;         /* enum split_type */
	int32_t ret;           /* FAILED, RESIZED: 0 or -errno */
	uint8_t status;        /* STATUS: the virtio status */
	uint8_t created;       /* FAILED: after the kernel device was made */
	struct split_desc desc;             /* CREATED, RESIZED, CHANGED */
	struct vdk_confine_info confine;    /* CREATED */
	char err[VDK_MODEL_ERR_MAX];        /* FAILED */
	uint32_t queue;                     /* STATS */
	struct vdk_model_qstats qstats;     /* STATS */
};

/* How the server is to confine itself, and what it serves. */
struct split_server {
	const struct vdk_model_ops *model;
	struct vdk_model_dev *dev;
	enum vdk_model_mode mode;
	const char *name;
	uid_t uid;
	gid_t gid;
	bool log_only;         /* seccomp logs instead of killing */
	int sock;              /* its end of the pair */
	pid_t supervisor;
};

/* The serving process, after the fork.  Never returns. */
void vdk_split_server(const struct split_server *s)
	__attribute__((noreturn));

/* Send / receive one message; 0, -EPIPE at the other end's exit, -errno. */
int vdk_split_send(int sock, const struct split_msg *m);
int vdk_split_recv(int sock, struct split_msg *m, int timeout_ms);

#endif /* VDK_DAEMON_SPLIT_H */
