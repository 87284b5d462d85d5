/* SPDX-License-Identifier: MIT */
/*
 * Backend "ram": a disk in anonymous memory, lost when the daemon exits.
 *
 * The region is reserved whole but only touched pages take memory
 * (MAP_NORESERVE), so a large sparse disk is cheap; discard gives pages
 * back.  Every operation completes inside the submitting call.  Queues
 * share the region without a lock: concurrent requests to the same bytes
 * race as they would on a real disk, which the driver must not do.  What
 * it shares with null is in inline.c.
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
	struct vdk__inline_dev h; /* first: size, block size */
	uint8_t *mem;
	uint64_t page_size;
};

static int ram_open(struct vdk_params *ps, struct vdk_bdev **out, char *err,
		    size_t errlen)
{
	struct vdk_bdev *b;
	void *mem;
	int ret;

	ret = vdk__inline_open(ps, sizeof(*b), &b, err, errlen);
	if (ret)
		return ret;
	if (b->h.size > SIZE_MAX) {
		vdk__errf(err, errlen, "size %llu does not fit in memory",
			  (unsigned long long)b->h.size);
		ret = -ENOMEM;
		goto err_free;
	}
	mem = mmap(NULL, b->h.size, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (mem == MAP_FAILED) {
		ret = -errno;
		vdk__errf(err, errlen, "cannot map %llu bytes of memory: %s",
			  (unsigned long long)b->h.size, strerror(-ret));
		goto err_free;
	}
	/* A core dump of the daemon should not hold the whole disk. */
	madvise(mem, b->h.size, MADV_DONTDUMP);
	b->mem = mem;
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
	munmap(b->mem, b->h.size);
	free(b);
}

static int ram_read(struct vdk_bq *q, struct vdk_bio *bio)
{
	struct vdk_bdev *b = vdk__inline_bdev(q);

	if (vdk__bio_check_rw(bio, b->h.size))
		return -EINVAL;
	vdk__iov_from_buf(bio->iov, bio->iovcnt, 0, b->mem + bio->offset,
			  bio->len);
	bio->done(bio, 0);
	return 0;
}

static int ram_write(struct vdk_bq *q, struct vdk_bio *bio)
{
	struct vdk_bdev *b = vdk__inline_bdev(q);

	if (vdk__bio_check_rw(bio, b->h.size))
		return -EINVAL;
	vdk__iov_to_buf(bio->iov, bio->iovcnt, 0, b->mem + bio->offset,
			bio->len);
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
	struct vdk_bdev *b = vdk__inline_bdev(q);

	if (vdk__bio_check_range(bio, b->h.size))
		return -EINVAL;
	ram_punch(b, bio->offset, bio->len);
	bio->done(bio, 0);
	return 0;
}

static int ram_zero(struct vdk_bq *q, struct vdk_bio *bio)
{
	struct vdk_bdev *b = vdk__inline_bdev(q);

	if (vdk__bio_check_range(bio, b->h.size))
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
	.info = vdk__inline_info,
	.queue_open = vdk__inline_queue_open,
	.queue_close = vdk__inline_queue_close,
	.read = ram_read,
	.write = ram_write,
	.flush = vdk__inline_flush,
	.discard = ram_discard,
	.zero = ram_zero,
};
