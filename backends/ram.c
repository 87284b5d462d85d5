/* SPDX-License-Identifier: MIT */
/*
 * Backend "ram": a disk in anonymous memory, lost when the daemon exits.
 *
 * The region is reserved whole but only touched pages take memory
 * (MAP_NORESERVE), so a large sparse disk is cheap; discard gives pages
 * back.  Every operation completes inside the submitting call.  Queues
 * share the region without a lock: concurrent requests to the same bytes
 * race as they would on a real disk, which the driver must not do.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "backend.h"
#include "internal.h"

struct vdk_bdev {
	uint8_t *mem;
	uint64_t size;
	uint32_t block_size;
	uint64_t page_size;
};

struct vdk_bq {
	struct vdk_bdev *b;
};

static int ram_open(struct vdk_params *ps, struct vdk_bdev **out, char *err,
		    size_t errlen)
{
	struct vdk_bdev *b;
	uint32_t block_size;
	uint64_t size;
	void *mem;
	int ret;

	ret = vdk__get_size_and_block_size(ps, &size, &block_size, err,
					   errlen);
	if (ret)
		return ret;
	if (size > SIZE_MAX) {
		vdk__errf(err, errlen, "size %llu does not fit in memory",
			  (unsigned long long)size);
		return -ENOMEM;
	}
	b = calloc(1, sizeof(*b));
	if (!b) {
		vdk__errf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	mem = mmap(NULL, size, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (mem == MAP_FAILED) {
		ret = -errno;
		vdk__errf(err, errlen, "cannot map %llu bytes of memory: %s",
			  (unsigned long long)size, strerror(-ret));
		goto err_free;
	}
	/* A core dump of the daemon should not hold the whole disk. */
	madvise(mem, size, MADV_DONTDUMP);
	b->mem = mem;
	b->size = size;
	b->block_size = block_size;
	b->page_size = sysconf(_SC_PAGESIZE);
	*out = b;
	return 0;

err_free:
	free(b);
	return ret;
}

static void ram_close(struct vdk_bdev *b)
{
	if (!b)
		return;
	munmap(b->mem, b->size);
	free(b);
}

static int ram_info(struct vdk_bdev *b, struct vdk_backend_info *info)
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

static int ram_queue_open(struct vdk_bdev *b, unsigned int qidx,
			  unsigned int depth, struct vdk_bq **out)
{
	struct vdk_bq *q = calloc(1, sizeof(*q));

	if (!q)
		return -ENOMEM;
	q->b = b;
	*out = q;
	return 0;
}

static void ram_queue_close(struct vdk_bq *q)
{
	free(q);
}

static int ram_read(struct vdk_bq *q, struct vdk_bio *bio)
{
	struct vdk_bdev *b = q->b;

	if (vdk__bio_check_rw(bio, b->size))
		return -EINVAL;
	vdk__iov_from_buf(bio->iov, bio->iovcnt, 0, b->mem + bio->offset,
			  bio->len);
	bio->done(bio, 0);
	return 0;
}

static int ram_write(struct vdk_bq *q, struct vdk_bio *bio)
{
	struct vdk_bdev *b = q->b;

	if (vdk__bio_check_rw(bio, b->size))
		return -EINVAL;
	vdk__iov_to_buf(bio->iov, bio->iovcnt, 0, b->mem + bio->offset,
			bio->len);
	bio->done(bio, 0);
	return 0;
}

static int ram_flush(struct vdk_bq *q, struct vdk_bio *bio)
{
	bio->done(bio, 0);
	return 0;
}

/*
 * Zero [off, off + len) and give back the whole pages inside it: on a
 * private anonymous mapping MADV_DONTNEED makes them read as zeros again.
 */
static void ram_punch(struct vdk_bdev *b, uint64_t off, uint64_t len)
{
	uint64_t end = off + len;
	uint64_t pstart = (off + b->page_size - 1) & ~(b->page_size - 1);
	uint64_t pend = end & ~(b->page_size - 1);

	if (pstart >= pend ||
	    madvise(b->mem + pstart, pend - pstart, MADV_DONTNEED)) {
		memset(b->mem + off, 0, len);
		return;
	}
	memset(b->mem + off, 0, pstart - off);
	memset(b->mem + pend, 0, end - pend);
}

static int ram_discard(struct vdk_bq *q, struct vdk_bio *bio)
{
	struct vdk_bdev *b = q->b;

	if (vdk__bio_check_range(bio, b->size))
		return -EINVAL;
	ram_punch(b, bio->offset, bio->len);
	bio->done(bio, 0);
	return 0;
}

static int ram_zero(struct vdk_bq *q, struct vdk_bio *bio)
{
	struct vdk_bdev *b = q->b;

	if (vdk__bio_check_range(bio, b->size))
		return -EINVAL;
	if (bio->flags & VDK_BIO_F_UNMAP)
		ram_punch(b, bio->offset, bio->len);
	else
		memset(b->mem + bio->offset, 0, bio->len);
	bio->done(bio, 0);
	return 0;
}

const struct vdk_backend_ops vdk_backend_ram = {
	.name = "ram",
	.summary = "a disk in memory, lost when the device goes away",
	.params_help =
		"size=SIZE          device size in bytes, required; suffixes K, M, G, T\n"
		"block-size=BYTES   logical block size, 512 or 4096 (default 512)\n",
	.open = ram_open,
	.close = ram_close,
	.info = ram_info,
	.queue_open = ram_queue_open,
	.queue_close = ram_queue_close,
	.read = ram_read,
	.write = ram_write,
	.flush = ram_flush,
	.discard = ram_discard,
	.zero = ram_zero,
};
