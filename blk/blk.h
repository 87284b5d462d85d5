/* SPDX-License-Identifier: MIT */
/*
 * vdk blk: a virtio-blk device on libvdk, served by a storage backend.
 *
 * vdk_blk_create() makes the VDUSE device; vdk_blk_start() starts the
 * control thread and one thread per queue; from then on the device answers
 * the kernel, and can be attached to the vDPA bus.  vdk_blk_stop() stops
 * the threads; vdk_blk_free() closes the device (the kernel device stays
 * until vdk_dev_destroy()).
 */
#ifndef VDK_BLK_H
#define VDK_BLK_H

#include <stdbool.h>
#include <stdint.h>

#include <vdk/vdk.h>

#include "backend.h"

struct vdk_blk;

/* Limits and defaults of a device's settings. */
#define VDK_BLK_DEF_QUEUES 1
#define VDK_BLK_MAX_QUEUES 64
#define VDK_BLK_DEF_QUEUE_SIZE 256
#define VDK_BLK_MAX_QUEUE_SIZE 1024
#define VDK_BLK_SERIAL_MAX 20

struct vdk_blk_cfg {
	const char *name;
	const struct vdk_backend_ops *backend;
	struct vdk_bdev *bdev; /* opened by the caller, closed by it too */
	unsigned int num_queues;  /* 1..VDK_BLK_MAX_QUEUES */
	/* A power of 2, 2..VDK_BLK_MAX_QUEUE_SIZE. */
	unsigned int queue_size;
	uint32_t block_size;      /* 512 or 4096; 0: the backend's choice */
	bool read_only;           /* or the backend's read_only */
	/* GET_ID answer, up to VDK_BLK_SERIAL_MAX bytes; NULL: name. */
	const char *serial;
	/* Reopen an existing VDUSE device of this name (daemon restart). */
	bool reopen;
	/*
	 * In-flight log (see struct vdk_dev_cfg): with it, a daemon killed
	 * at any instant and started again with @reopen loses no request.
	 */
	const char *inflight_path;
	/*
	 * VDK_DEV_F_* for the VDUSE device (struct vdk_dev_cfg): the ring
	 * formats offered.  A reopened device needs those it was made with.
	 */
	uint64_t dev_flags;
	/*
	 * Rescue: complete every request with an I/O error, without the
	 * backend (a device whose storage is gone for good).
	 */
	bool fail_io;
	/*
	 * The longest a queue thread keeps polling its ring after work, in
	 * microseconds, before it sleeps on the kick eventfd; the window
	 * adapts below it to how soon the driver comes back (0: never
	 * polls; negative: the default, 200).
	 */
	int poll_us;
	vdk_log_fn log;
	void *log_opaque;
	int log_level;
};

/*
 * Create the VDUSE device (or reopen it).  Errors as vdk_dev_create(), and
 * -EINVAL with a log message when the backend's size is not a multiple of
 * the block size.
 */
int vdk_blk_create(const struct vdk_blk_cfg *cfg, struct vdk_blk **out);

/* Start the control thread and the queue threads. */
int vdk_blk_start(struct vdk_blk *blk);

/*
 * Ask the backend for its size again; if it changed, update the capacity
 * and send the driver a configuration interrupt.  Thread-safe.
 */
int vdk_blk_resize(struct vdk_blk *blk);

/*
 * What the backend told (struct vdk_backend_events), passed on from any
 * thread: quick, never blocks, never calls the backend.  The control
 * thread acts on it: RESIZED is vdk_blk_resize() there; LOST and
 * RESTORED keep vdk_blk_info's @lost_queues.
 */
void vdk_blk_backend_event(struct vdk_blk *blk, enum vdk_backend_event ev,
			   unsigned int qidx);

/*
 * Readable when a size change came from the backend and reached the
 * driver (not for vdk_blk_resize() called by the application): what the
 * application records of the device may need updating.
 * vdk_blk_changed() clears it.
 */
int vdk_blk_changed_fd(const struct vdk_blk *blk);
/* Whether the device changed since the last call; clears the fd. */
bool vdk_blk_changed(struct vdk_blk *blk);

/* Stop all threads (completes or drops nothing: see stop()). */
void vdk_blk_stop(struct vdk_blk *blk);

/* Close the device.  NULL is allowed. */
void vdk_blk_free(struct vdk_blk *blk);

struct vdk_blk_info {
	uint64_t size;       /* bytes */
	uint32_t block_size;
	unsigned int num_queues;
	bool read_only;
	uint8_t status;      /* virtio device status */
	/* Queues whose backend lost its storage (EV_LOST, not RESTORED). */
	unsigned int lost_queues;
};
void vdk_blk_get_info(const struct vdk_blk *blk, struct vdk_blk_info *info);

/*
 * Counters of one queue, monotonic from vdk_blk_create() on, kept by
 * its thread and readable from any other while it runs.
 */
enum vdk_blk_stat_kind {
	VDK_BLK_STAT_READ,
	VDK_BLK_STAT_WRITE,
	VDK_BLK_STAT_FLUSH,
	VDK_BLK_STAT_DISCARD,
	VDK_BLK_STAT_ZERO,
	VDK_BLK_STAT_OTHER,   /* GET_ID, unknown, malformed */
	VDK_BLK_STAT_KINDS,
};
/* Latency buckets: <1 us, then [2^(i-1), 2^i) us, the last open-ended. */
#define VDK_BLK_LAT_BUCKETS 32
struct vdk_blk_qstats {
	uint64_t requests[VDK_BLK_STAT_KINDS]; /* completed */
	uint64_t bytes[VDK_BLK_STAT_KINDS];    /* of those that succeeded */
	uint64_t errors;
	uint64_t in_flight;                    /* popped, not completed */
	uint64_t latency[VDK_BLK_LAT_BUCKETS]; /* pop to completion */
};

/* Queue @queue's counters.  0, or -EINVAL past the last queue. */
int vdk_blk_get_qstats(const struct vdk_blk *blk, unsigned int queue,
		       struct vdk_blk_qstats *out);

/* The bucket of a latency of @ns nanoseconds. */
static inline unsigned int vdk_blk_lat_bucket(uint64_t ns)
{
	uint64_t us = ns / 1000;
	unsigned int b = us ? 64 - (unsigned int)__builtin_clzll(us) : 0;

	return b < VDK_BLK_LAT_BUCKETS ? b : VDK_BLK_LAT_BUCKETS - 1;
}

struct vdk_dev *vdk_blk_dev(struct vdk_blk *blk);

#endif /* VDK_BLK_H */
