/* SPDX-License-Identifier: MIT */
/*
 * Backend "null": writes go nowhere, reads return zeros (or, with
 * zeroes=off, leave the buffers untouched, to measure the device without
 * any backend cost).  Everything succeeds inside the submitting call; what
 * it shares with ram is in inline.c.
 */
#include <errno.h>
#include <stdlib.h>

#include "backend.h"
#include "internal.h"

struct vdk_bdev {
	struct vdk__inline_dev h; /* first: size, block size */
	bool zeroes;
};

static int null_open(struct vdk_params *ps, struct vdk_bdev **out, char *err,
		     size_t errlen)
{
	struct vdk_bdev *b;
	bool zeroes = true;
	int ret;

	ret = vdk__inline_open(ps, sizeof(*b), &b, err, errlen);
	if (ret)
		return ret;
	ret = vdk_params_get_bool(ps, "zeroes", &zeroes, err, errlen);
	if (ret && ret != -ENOENT) {
		free(b);
		return ret;
	}
	b->zeroes = zeroes;
	*out = b;
	return 0;
}

static void null_close(struct vdk_bdev *b)
{
	free(b);
}

static int null_read(struct vdk_bq *q, struct vdk_bio *bio)
{
	struct vdk_bdev *b = vdk__inline_bdev(q);

	if (vdk__bio_check_rw(bio, b->h.size))
		return -EINVAL;
	if (b->zeroes)
		vdk__iov_from_buf(bio->iov, bio->iovcnt, 0, NULL, bio->len);
	bio->done(bio, 0);
	return 0;
}

static int null_write(struct vdk_bq *q, struct vdk_bio *bio)
{
	if (vdk__bio_check_rw(bio, vdk__inline_bdev(q)->h.size))
		return -EINVAL;
	bio->done(bio, 0);
	return 0;
}

/* Discard and zero: nothing to do. */
static int null_range(struct vdk_bq *q, struct vdk_bio *bio)
{
	if (vdk__bio_check_range(bio, vdk__inline_bdev(q)->h.size))
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
	.info = vdk__inline_info,
	.queue_open = vdk__inline_queue_open,
	.queue_close = vdk__inline_queue_close,
	.read = null_read,
	.write = null_write,
	.flush = vdk__inline_flush,
	.discard = null_range,
	.zero = null_range,
};
