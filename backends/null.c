/* SPDX-License-Identifier: MIT */
/*
 * Backend "null": writes go nowhere, reads return zeros (or, with
 * zeroes=off, leave the buffers untouched, to measure the device without
 * any backend cost).  Everything succeeds inside the submitting call.
 */
#include <errno.h>
#include <stdlib.h>

#include "backend.h"
#include "internal.h"

struct vdk_bdev {
	uint64_t size;
	uint32_t block_size;
	bool zeroes;
};

struct vdk_bq {
	struct vdk_bdev *b;
};

static int null_open(struct vdk_params *ps, struct vdk_bdev **out, char *err,
		     size_t errlen)
{
	struct vdk_bdev *b;
	uint32_t block_size;
	uint64_t size;
	bool zeroes = true;
	int ret;

	ret = vdk__get_size_and_block_size(ps, &size, &block_size, err,
					   errlen);
	if (ret)
		return ret;
	ret = vdk_params_get_bool(ps, "zeroes", &zeroes, err, errlen);
	if (ret && ret != -ENOENT)
		return ret;
	b = calloc(1, sizeof(*b));
	if (!b) {
		vdk__errf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	b->size = size;
	b->block_size = block_size;
	b->zeroes = zeroes;
	*out = b;
	return 0;
}

static void null_close(struct vdk_bdev *b)
{
	free(b);
}

static int null_info(struct vdk_bdev *b, struct vdk_backend_info *info)
{
	*info = (struct vdk_backend_info){
		.size = b->size,
		.block_size = b->block_size,
		.can_flush = true,
		.can_fua = true,
		.can_discard = true,
		.can_zero = true,
		.can_zero_unmap = true,
		.multi_queue = true,
	};
	return 0;
}

static int null_queue_open(struct vdk_bdev *b, unsigned int qidx,
			   unsigned int depth, struct vdk_bq **out)
{
	struct vdk_bq *q = calloc(1, sizeof(*q));

	if (!q)
		return -ENOMEM;
	q->b = b;
	*out = q;
	return 0;
}

static void null_queue_close(struct vdk_bq *q)
{
	free(q);
}

static int null_read(struct vdk_bq *q, struct vdk_bio *bio)
{
	if (vdk__bio_check_rw(bio, q->b->size))
		return -EINVAL;
	if (q->b->zeroes)
		vdk__iov_from_buf(bio->iov, bio->iovcnt, 0, NULL, bio->len);
	bio->done(bio, 0);
	return 0;
}

static int null_write(struct vdk_bq *q, struct vdk_bio *bio)
{
	if (vdk__bio_check_rw(bio, q->b->size))
		return -EINVAL;
	bio->done(bio, 0);
	return 0;
}

static int null_flush(struct vdk_bq *q, struct vdk_bio *bio)
{
	bio->done(bio, 0);
	return 0;
}

/* Discard and zero: nothing to do. */
static int null_range(struct vdk_bq *q, struct vdk_bio *bio)
{
	if (vdk__bio_check_range(bio, q->b->size))
		return -EINVAL;
	bio->done(bio, 0);
	return 0;
}

const struct vdk_backend_ops vdk_backend_null = {
	.name = "null",
	.summary = "discards writes, reads zeros: for measuring the device itself",
	.params_help =
		"size=SIZE          device size in bytes, required; suffixes K, M, G, T\n"
		"block-size=BYTES   logical block size, 512 or 4096 (default 512)\n"
		"zeroes=on|off      reads return zeros (default on); off: buffers left as they are\n",
	.open = null_open,
	.close = null_close,
	.info = null_info,
	.queue_open = null_queue_open,
	.queue_close = null_queue_close,
	.read = null_read,
	.write = null_write,
	.flush = null_flush,
	.discard = null_range,
	.zero = null_range,
};
