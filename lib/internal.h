/* SPDX-License-Identifier: MIT */
/*
 * libvdk internals.  Public names are vdk_, internal non-static ones
 * vdk__.  Layers: kernel.h (the VDUSE interface, real or simulated) <
 * iotlb.c (driver addresses to ours) < vq.c (split rings) < dev.c
 * (life cycle and control messages).
 */
#ifndef VDK_INTERNAL_H
#define VDK_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <linux/virtio_ring.h>

#include <vdk/vdk.h>

#include "kernel.h"

#define VDK_API_MAX 0 /* highest VDUSE API version this library speaks */
#define VDK_MAX_QUEUES 64
#define VDK_MAX_QUEUE_SIZE 32768

#define VDK_EXPORT __attribute__((visibility("default")))

/* ---- logging (log.c) ---- */

/* At most this many messages per window and device; then one summary. */
#define VDK_LOG_BURST 10
#define VDK_LOG_WINDOW_NS 5000000000ull

struct vdk__ratelimit {
	pthread_mutex_t lock;
	uint64_t window_start;
	unsigned int printed;
	unsigned int suppressed;
};

void vdk__log(struct vdk_dev *dev, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* For what a driver can trigger at will: limited per device. */
void vdk__log_limited(struct vdk_dev *dev, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ---- IOTLB (iotlb.c) ---- */

/*
 * One mapping of driver memory: IOVA [start, last] at host address
 * addr + (iova - start).  Entries are never freed while a queue could
 * still use them: an invalidated entry moves to the retired list and is
 * unmapped once every running queue has gone past its generation
 * (vdk__iotlb_reclaim), or when no queue runs (reset, close).
 */
struct vdk__map_entry {
	struct vdk__map map;
	int guard_slot; /* vdk__guard_add()'s */
	struct vdk__map_entry *next_retired;
	uint64_t retired_gen; /* the generation that no longer has it */
};

/* Small per-queue cache in front of the shared table: no lock on a hit. */
#define VDK_TLB_WAYS 4

struct vdk__tlb {
	uint64_t gen;
	unsigned int next;
	struct vdk__map_entry *way[VDK_TLB_WAYS];
};

/*
 * Mappings a device keeps, current and retired together.  A driver that
 * churns its memory map while one queue holds old mappings (a request
 * that never completes) would otherwise grow them up to the process's
 * vm.max_map_count (65530 by default); at the bound no new mapping is
 * made, so what needs one fails (the request is refused, a ring that
 * cannot be found breaks its queue) until the holder lets go.  A VM's
 * memory is a few regions; a guest behind a vIOMMU maps buffers one by
 * one, hence the room.
 */
#define VDK_IOTLB_MAX_MAPS 16384

struct vdk__iotlb {
	pthread_mutex_t lock;
	/* Sorted by start, non-overlapping; grows as needed. */
	struct vdk__map_entry **table;
	size_t n, cap;
	struct vdk__map_entry *retired;
	size_t n_retired;
	uint64_t refused; /* lookups refused at VDK_IOTLB_MAX_MAPS */
	/* Bumped (release) on every invalidation; queues compare. */
	_Atomic uint64_t gen;
	struct vdk__kernel *k;
	struct vdk_dev *dev;
	/*
	 * The oldest generation a running queue may still use (dev.c):
	 * lets a lookup at VDK_IOTLB_MAX_MAPS unmap what no queue holds
	 * before it refuses.  Any thread.
	 */
	uint64_t (*safe_gen)(struct vdk_dev *dev);
	uint64_t maps, misses;
};

int vdk__iotlb_init(struct vdk__iotlb *t, struct vdk__kernel *k,
		    struct vdk_dev *dev);
/* Unmaps everything; no queue may run. */
void vdk__iotlb_fini(struct vdk__iotlb *t);
/* Forget mappings overlapping [start, last]; safe while queues run. */
void vdk__iotlb_invalidate(struct vdk__iotlb *t, uint64_t start,
			   uint64_t last);
/* Unmap every mapping, current and retired; no queue may run. */
void vdk__iotlb_reset(struct vdk__iotlb *t);
/*
 * Unmap the retired mappings that no queue can use any more: those
 * retired at a generation <= @safe, the oldest generation a running
 * queue may still hold pointers of.  Returns how many went.
 */
unsigned int vdk__iotlb_reclaim(struct vdk__iotlb *t, uint64_t safe);
/* Mappings retired and not yet unmapped. */
size_t vdk__iotlb_retired(struct vdk__iotlb *t);

/*
 * Host address of [iova, iova + len) if it lies inside one mapping that
 * allows @perm (VDUSE_ACCESS_*), else NULL.  @len > 0.
 */
void *vdk__iotlb_ptr(struct vdk__iotlb *t, struct vdk__tlb *c, uint64_t iova,
		     uint64_t len, uint8_t perm);

/*
 * Translate [iova, iova + len) into at most @max vectors starting at
 * @iov, split at mapping boundaries.  Returns the number of vectors, or
 * -EFAULT (no mapping or no permission), -ENOBUFS (more than @max).
 */
int vdk__iotlb_iov(struct vdk__iotlb *t, struct vdk__tlb *c, uint64_t iova,
		   uint64_t len, uint8_t perm, struct iovec *iov, unsigned int max);

/* Copy @len bytes at @iova out of driver memory, across mappings. */
int vdk__iotlb_read(struct vdk__iotlb *t, struct vdk__tlb *c, uint64_t iova,
		    void *buf, uint64_t len);

/* ---- the SIGBUS guard (guard.c) ---- */

/*
 * Mappings the guard covers, for the whole process: four devices at
 * VDK_IOTLB_MAX_MAPS each.  A fixed table, since a signal handler reads
 * it.
 */
#define VDK_GUARD_SLOTS (4 * VDK_IOTLB_MAX_MAPS)

/*
 * A mapping of the driver's memory, covered by vdk_sigbus_guard() from
 * now on: returns its slot, or -ENOSPC when the table is full (the
 * caller must not use the mapping: a fault in it would end the process).
 */
int vdk__guard_add(const void *addr, size_t len);
/* ... and no more, before it is unmapped. */
void vdk__guard_del(int slot);

/* ---- the in-flight log (inflight.c) ---- */

/* One queue's part of the log file; see inflight.c. */
struct vdk__inflight_q {
	uint64_t counter;   /* last stamp given; 0 at reset, n at recovery */
	uint16_t used_idx;  /* used->idx after the last completion finished */
	uint16_t last_head; /* the head of the last completion started */
	uint32_t reserved;  /* 0 */
	uint64_t stamp[];   /* per head: 0, or the order it was taken in */
};

int vdk__inflight_open(struct vdk_dev *dev, const char *path, bool create,
		       unsigned int queue_size);
void vdk__inflight_close(struct vdk_dev *dev);
/* Nothing in flight; the ring starts at @used_idx. */
void vdk__inflight_reset(struct vdk_vq *vq, uint16_t used_idx);
/*
 * After a restart: fill vq->resubmit with the heads in flight, oldest
 * first.  Returns their number, or -EINVAL if the log makes no sense.
 */
int vdk__inflight_recover(struct vdk_vq *vq, uint16_t used_idx);

/* ---- virtqueues (vq.c) ---- */

struct vdk__slot {
	struct vdk_req req; /* first: vdk_req pointers are slot pointers */
	struct vdk_vq *vq;
	bool busy;
	uint64_t gen; /* IOTLB generation its vectors were translated in */
};

struct vdk_vq {
	struct vdk_dev *dev;
	unsigned int index;
	unsigned int max_size;
	int kickfd;

	/* Set by the control thread while the queue is stopped. */
	unsigned int num;
	bool ready;
	bool event_idx;
	uint64_t desc_iova, avail_iova, used_iova;
	uint16_t start_avail_idx;
	/* Pick up a running ring after a daemon restart. */
	bool resume;

	/* Queue thread state. */
	_Atomic bool broken;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint64_t rings_gen;  /* IOTLB generation the ring pointers belong to */
	bool rings_ok;
	/*
	 * Requests in flight translated in rings_gen (n_cur) and before it
	 * (n_old, none older than old_min), so that the queue can tell the
	 * control thread which retired mappings it may still use.
	 */
	unsigned int n_cur, n_old;
	uint64_t old_min;
	/*
	 * Published by the queue thread (release): it uses no mapping
	 * retired at a generation <= this.  Read by the control thread.
	 */
	_Atomic uint64_t safe_gen;
	_Atomic uint16_t last_avail_idx;
	uint16_t used_idx;
	uint16_t signalled_used;
	bool signalled_used_valid;
	bool kick_enabled;
	unsigned int inflight;
	struct vdk__tlb tlb;

	/* Request pool, indexed by descriptor head. */
	struct vdk__slot *slots;
	size_t slot_size;
	struct iovec *iov_pool;
	unsigned int max_iovecs;
	size_t priv_size;
	unsigned char *priv_pool;
	/* An indirect table that spans mappings is copied here. */
	struct vring_desc *indirect_buf;

	/* In-flight log (NULL without one) and what to take again first. */
	struct vdk__inflight_q *log;
	uint16_t *resubmit;
	unsigned int resubmit_n, resubmit_pos;

	struct vdk_vq_stats stats;
};

/*
 * Malformed chains one vdk_vq_pop() call completes before it returns 0:
 * a queue's worth.  The driver can post more while we refuse; the bound
 * keeps one call from lasting as long as it keeps posting.
 */
#define VDK_VQ_REFUSE_MAX(vq) ((vq)->num)

int vdk__vq_init(struct vdk_vq *vq, struct vdk_dev *dev, unsigned int index,
		 unsigned int max_size, unsigned int max_iovecs,
		 size_t priv_size);
void vdk__vq_fini(struct vdk_vq *vq);
/* Resolve the rings from the configured addresses; 0 or -errno. */
int vdk__vq_start(struct vdk_vq *vq);
/* Forget the rings and every in-flight request. */
void vdk__vq_stop(struct vdk_vq *vq);
/* The oldest generation of mappings the running queue may still use. */
uint64_t vdk__vq_safe_gen(struct vdk_vq *vq);

/* ---- device (dev.c) ---- */

struct vdk_dev {
	char name[VDUSE_NAME_MAX];
	struct vdk__kernel *k;
	uint32_t device_id;
	uint32_t vendor_id;
	unsigned int api_version;
	uint64_t features;
	uint64_t driver_features;
	uint8_t status;
	bool started;
	unsigned int num_queues;
	struct vdk_vq *vqs;
	unsigned char *config;
	size_t config_size;
	const struct vdk_dev_ops *ops;
	void *opaque;
	vdk_log_fn log;
	void *log_opaque;
	int log_level;
	struct vdk__ratelimit rl;
	struct vdk__iotlb iotlb;
	uint64_t msgs;
	uint64_t iotlb_updates;
	void *inflight_map;
	size_t inflight_size;
};

/*
 * The oldest generation of mappings a running queue may still use (the
 * current one if none holds older).  Any thread.
 */
uint64_t vdk__dev_safe_gen(struct vdk_dev *dev);

/* Create (@create) or reopen a device over any kernel side; takes @k. */
int vdk__dev_new(const struct vdk_dev_cfg *cfg, struct vdk__kernel *k,
		 bool create, struct vdk_dev **out);

#endif /* VDK_INTERNAL_H */
