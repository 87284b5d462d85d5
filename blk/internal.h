/* SPDX-License-Identifier: MIT */
/* vdk blk internals: the device (blk.c) and its request handler (request.c). */
#ifndef VDK_BLK_INTERNAL_H
#define VDK_BLK_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "blk.h"

/*
 * Data segments per request (seg_max): the queue size less the header and
 * the status, since a driver may not make a descriptor chain longer than
 * the queue, indirect or not; at most BLK_SEG_MAX.  At the default queue
 * size, 256, a 1 MiB request of 4 KiB pages goes in two requests (1016 KiB
 * and 8 KiB), as on qemu-storage-daemon's export; 126 made it three.
 */
#define BLK_SEG_MAX 254
static inline unsigned int blk_seg_max(unsigned int queue_size)
{
	if (queue_size < 4)
		return 1;
	return queue_size - 2 < BLK_SEG_MAX ? queue_size - 2 : BLK_SEG_MAX;
}
/*
 * Largest data segment (size_max).  With seg_max it bounds what one
 * request may carry: blk_req_max_bytes(), under 16 MiB.  A driver cannot
 * go past it (the daemon refuses the request with IOERR before any
 * backend sees it): descriptors may all point at the same few pages, so
 * without it a request could ask for up to 4 GiB of bounce memory.
 * Linux makes segments of at most 64 KiB unless told otherwise, and
 * splits a request only at seg_max segments, so this costs it nothing.
 */
#define BLK_SIZE_MAX (64u * 1024)
static inline uint64_t blk_req_max_bytes(unsigned int seg_max)
{
	return (uint64_t)seg_max * BLK_SIZE_MAX;
}
/*
 * Bytes of reads and writes a queue hands its backend at once.  A queue
 * at this bound takes no new request from its ring until completions
 * bring it under, so a backend's bounce buffers hold at most this plus
 * one request per queue, whatever the driver posts.  Far above what a
 * queue depth of 256 x 128 KiB needs.
 */
#define BLK_QUEUE_BYTES_MAX (64ull << 20)

/* Data segments, header, status, and room for buffers split in two. */
#define BLK_MAX_IOVECS (2 * (BLK_SEG_MAX + 2) + 8)
#define BLK_SERIAL_LEN 20
/* Largest discard / write-zeroes request, in 512-byte sectors. */
#define BLK_MAX_DISCARD_SECTORS (1u << 22)

struct blk_queue;

/* Per-request state, in the request's private area (vdk_req_priv()). */
struct blk_req {
	struct vdk_bio bio;
	struct vdk_req *req;
	struct blk_queue *q;
	uint8_t *status;      /* last writable byte */
	uint32_t used_len;    /* reported on success */
	uint64_t held;        /* bytes counted in the queue's inflight_bytes */
	uint64_t t0;          /* when it was popped, ns (monotonic) */
	uint8_t kind;         /* enum vdk_blk_stat_kind */
	struct iovec iov[BLK_MAX_IOVECS];
};

/* What the request handler needs of the device, shared by all queues. */
struct blk_shared {
	const struct vdk_backend_ops *ops;
	_Atomic uint64_t size;    /* bytes */
	uint32_t block_size;
	uint32_t seg_max;         /* blk_seg_max() of the queue size */
	uint64_t req_max_bytes;   /* blk_req_max_bytes(seg_max) */
	bool read_only;
	bool can_flush, can_discard, can_zero, can_zero_unmap;
	bool fail_io;
	char serial[BLK_SERIAL_LEN];
	struct vdk_dev *dev;
};

struct blk_queue {
	struct blk_shared *sh;
	struct vdk_vq *vq;
	struct vdk_bq *bq;
	unsigned int index;
	/* Set at stop: completions are dropped, not pushed. */
	bool stopping;
	/* Set before a suspend's stop: completions still go to the driver. */
	bool keep;
	bool pushed;          /* something to notify */
	/* Set (before stop_fd is signalled) to stop even a busy thread. */
	_Atomic bool stop;
	/* Bytes of reads and writes with the backend: BLK_QUEUE_BYTES_MAX. */
	uint64_t inflight_bytes;
	pthread_t thread;
	bool running;
	int stop_fd;          /* eventfd: stop now */
	uint64_t poll_ns;     /* keep polling this long after work, now */
	uint64_t poll_max_ns; /* ... at most (0: never poll) */
	uint64_t completed, errors;
	/* The bounce memory was offered to the backend (or cannot be). */
	bool mem_offered;
	/*
	 * `vdk stat`: written by the queue's thread alone (relaxed atomic
	 * stores, no read-modify-write), read by any thread.
	 */
	struct vdk_blk_qstats st;
	uint64_t popped;
};

/* @p += @v by the one thread that writes it, tear-free for readers. */
static inline void blk_stat_add(uint64_t *p, uint64_t v)
{
	__atomic_store_n(p, *p + v, __ATOMIC_RELAXED);
}

/* Where an adaptive polling window starts, and its first step up. */
#define BLK_POLL_START_NS 10000u

/*
 * The polling window after a sleep of @slept_ns that a kick ended: a
 * sleep the longest window would have covered says the driver comes
 * back soon, so poll longer (doubling, up to @max_ns); a longer one
 * says it does not, so poll less (halving, down to nothing).  Sleeps
 * ended by anything else say nothing about the driver and change
 * nothing.
 */
static inline uint64_t blk_poll_adjust(uint64_t cur_ns, uint64_t max_ns,
				       uint64_t slept_ns)
{
	uint64_t next;

	if (!max_ns)
		return 0;
	if (slept_ns <= max_ns) {
		next = cur_ns < BLK_POLL_START_NS ? BLK_POLL_START_NS :
						    cur_ns * 2;
		return next > max_ns ? max_ns : next;
	}
	next = cur_ns / 2;
	return next < BLK_POLL_START_NS / 2 ? 0 : next;
}

/* Handle one request popped from @q's virtqueue; completes it once. */
void blk_handle(struct blk_queue *q, struct vdk_req *req);

/*
 * Bytes of configuration space: the whole struct virtio_blk_config of
 * virtio 1.3, the zoned fields included, zeroes past the fields we fill.
 * A driver may read the struct it knows in one go (libblkio does, and
 * vhost-vdpa refuses a read past the end with EINVAL): a shorter space
 * would keep it from connecting.
 */
#define BLK_CONFIG_SIZE 96

/* Fill @cfg (BLK_CONFIG_SIZE bytes) and the device features. */
uint64_t blk_features(const struct blk_shared *sh, unsigned int num_queues);
void blk_fill_config(const struct blk_shared *sh, unsigned int num_queues,
		     void *config, size_t *size);

/*
 * Create the blk device with @create making the libvdk device (the
 * simulator in tests, vdk_dev_create()/vdk_dev_open() otherwise).
 */
typedef int (*blk_create_fn)(void *arg, const struct vdk_dev_cfg *cfg,
			     struct vdk_dev **out);
int vdk__blk_new(const struct vdk_blk_cfg *cfg, blk_create_fn create,
		 void *arg, struct vdk_blk **out);

/*
 * What the control thread does when the backend had news: read the size
 * again after RESIZED.  Tests without a control thread call it.
 */
void vdk__blk_run_events(struct vdk_blk *blk);

/* Serve one round on @q without blocking: pop, submit, reap, notify. */
int blk_queue_round(struct blk_queue *q);

#endif /* VDK_BLK_INTERNAL_H */
