/* SPDX-License-Identifier: MIT */
/* vdk blk internals: the device (blk.c) and its request handler (request.c). */
#ifndef VDK_BLK_INTERNAL_H
#define VDK_BLK_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "blk.h"

#define BLK_SEG_MAX 126
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
	struct iovec iov[BLK_MAX_IOVECS];
};

/* What the request handler needs of the device, shared by all queues. */
struct blk_shared {
	const struct vdk_backend_ops *ops;
	_Atomic uint64_t size;    /* bytes */
	uint32_t block_size;
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
	bool pushed;          /* something to notify */
	pthread_t thread;
	bool running;
	int stop_fd;          /* eventfd: stop now */
	uint64_t poll_ns;     /* keep polling this long after work */
	uint64_t completed, errors;
};

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

/* Serve one round on @q without blocking: pop, submit, reap, notify. */
int blk_queue_round(struct blk_queue *q);

#endif /* VDK_BLK_INTERNAL_H */
