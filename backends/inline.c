/* SPDX-License-Identifier: MIT */
/*
 * What the backends that complete every operation inside the submitting
 * call, on a fixed geometry, share (ram, null): size= and block-size=,
 * info(), queues without state of their own, flush.  See internal.h.
 */
#include <errno.h>
#include <stdlib.h>

#include "internal.h"

/* This file's view of such a backend's device: the shared head. */
struct vdk_bdev {
	struct vdk__inline_dev h;
};

int vdk__inline_open(struct vdk_params *ps, size_t dev_size,
		     struct vdk_bdev **out, char *err, size_t errlen)
{
	struct vdk_bdev *b;
	uint32_t block_size;
	uint64_t size;
	int ret;

	ret = vdk__get_size_and_block_size(ps, &size, &block_size, err,
					   errlen);
	if (ret)
		return ret;
	b = calloc(1, dev_size > sizeof(*b) ? dev_size : sizeof(*b));
	if (!b) {
		vdk__errf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	b->h.size = size;
	b->h.block_size = block_size;
	*out = b;
	return 0;
}

int vdk__inline_info(struct vdk_bdev *b, struct vdk_backend_info *info)
{
	*info = (struct vdk_backend_info){
		.size = b->h.size,
		.block_size = b->h.block_size,
		.can_flush = true,
		.can_fua = true,
		.can_discard = true,
		.can_zero = true,
		.can_zero_unmap = true,
		.multi_queue = true,
	};
	return 0;
}

int vdk__inline_queue_open(struct vdk_bdev *b, unsigned int qidx,
			   unsigned int depth, struct vdk_bq **out)
{
	(void)qidx;
	(void)depth;
	/* Nothing per queue: the queue is the device. */
	*out = (struct vdk_bq *)b;
	return 0;
}

void vdk__inline_queue_close(struct vdk_bq *q)
{
	(void)q;
}

int vdk__inline_flush(struct vdk_bq *q, struct vdk_bio *bio)
{
	(void)q;
	bio->done(bio, 0);
	return 0;
}
