/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the backends (vdk__errf and vdk__blog in params.c, the
 * rest in backends.c).  Not an interface for the other layers: that is
 * backend.h.
 */
#ifndef VDK_BACKENDS_INTERNAL_H
#define VDK_BACKENDS_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "backend.h"

/* One-line message into @err; both may be NULL/0. */
__attribute__((format(printf, 3, 4)))
void vdk__errf(char *err, size_t errlen, const char *fmt, ...);

/* A message to @log (as given to set_log), if it takes that @level. */
__attribute__((format(printf, 3, 4)))
void vdk__blog(const struct vdk_backend_log *log, int level,
	       const char *fmt, ...);

/* Event @ev of queue @qidx to @ev (as given to set_events), if set. */
static inline void vdk__bevent(const struct vdk_backend_events *evs,
			       enum vdk_backend_event ev, unsigned int qidx)
{
	if (evs->fn)
		evs->fn(evs->opaque, ev, qidx);
}

/*
 * Requests a queue failed because the storage did not answer within
 * timeout=, told to the log in one line every few seconds at most rather
 * than one line each, and the storage's return once.  Zero-initialised.
 */
struct vdk__stall {
	uint64_t failed;        /* since the storage last answered */
	uint64_t unlogged;      /* of those, not yet in a line */
	uint64_t logged_ns;     /* when the last line was made */
};

/* @n requests of queue @qidx failed at @now (ns); @who: "the cluster". */
void vdk__stall_failed(struct vdk__stall *st,
		       const struct vdk_backend_log *log, unsigned int qidx,
		       const char *who, unsigned int timeout_s, unsigned int n,
		       uint64_t now);

/* The storage answered a request of queue @qidx. */
void vdk__stall_answered(struct vdk__stall *st,
			 const struct vdk_backend_log *log, unsigned int qidx,
			 const char *who);

/*
 * Bounce buffers: where a backend puts data the driver's vectors cannot
 * take as they are (scattered for a protocol that wants one buffer,
 * reads that must not land in driver memory late).  What a queue has in
 * use at once is bounded by its device model (blk: BLK_QUEUE_BYTES_MAX
 * of requests); between requests it keeps at most VDK_BOUNCE_KEEP bytes
 * of them, so that memory does not stay at the peak a driver once made.
 * @held counts the queue's bytes, in use and kept.
 */
#define VDK_BOUNCE_KEEP (16u << 20)

struct vdk__bounce {
	uint8_t *p;
	size_t cap;
};

/* At least @len bytes (4 KiB aligned) in @b.  0 or -ENOMEM. */
int vdk__bounce_get(struct vdk__bounce *b, size_t *held, uint64_t len);
/* A request is done with @b: kept while the queue keeps little. */
void vdk__bounce_put(struct vdk__bounce *b, size_t *held);
void vdk__bounce_free(struct vdk__bounce *b, size_t *held);

/* Close *fd if it is open and set it to -1. */
void vdk__close_fd(int *fd);

/* Sum of the iovec lengths, UINT64_MAX if it overflows. */
uint64_t vdk__iov_len(const struct iovec *iov, unsigned int iovcnt);

/*
 * Check a read/write bio against a device of @size bytes: the range fits
 * and the iovecs add up to bio->len.  -EINVAL if not.
 */
int vdk__bio_check_rw(const struct vdk_bio *bio, uint64_t size);

/* Check the range of a discard or zero bio against @size.  -EINVAL. */
int vdk__bio_check_range(const struct vdk_bio *bio, uint64_t size);

/*
 * Copy @len bytes between a flat buffer and the iovecs, starting @skip
 * bytes into the iovecs (the caller checked they hold that many).  @buf
 * NULL in vdk__iov_from_buf() fills zeros.
 */
void vdk__iov_from_buf(const struct iovec *iov, unsigned int iovcnt,
		       uint64_t skip, const void *buf, uint64_t len);
void vdk__iov_to_buf(const struct iovec *iov, unsigned int iovcnt,
		     uint64_t skip, void *buf, uint64_t len);

/*
 * The iovecs of the @len bytes starting @skip bytes into @iov, into
 * @out (at most @room of them).  Returns how many were filled; *got says
 * how many bytes they hold, less than @len when @room was too small.
 */
unsigned int vdk__iov_window(const struct iovec *iov, unsigned int iovcnt,
			     uint64_t skip, uint64_t len, struct iovec *out,
			     unsigned int room, uint64_t *got);

/*
 * The parameters every backend with a fixed geometry shares: "size"
 * (required) and "block-size" (512 or 4096, default 512).  The size must
 * be a non-zero multiple of the block size.
 */
int vdk__get_size_and_block_size(struct vdk_params *ps, uint64_t *size,
				 uint32_t *block_size, char *err,
				 size_t errlen);

/* "block-size": -ENOENT when absent, -EINVAL unless 512 or 4096. */
int vdk__get_block_size(struct vdk_params *ps, uint32_t *out, char *err,
			size_t errlen);

/*
 * Backends that complete every operation inside the submitting call on a
 * fixed geometry (ram, null; inline.c): their struct vdk_bdev starts with
 * this head, and their queues are the device itself (no state per queue).
 */
struct vdk__inline_dev {
	uint64_t size;
	uint32_t block_size;
};

/*
 * Parse size= and block-size=, allocate @dev_size bytes (zeroed) with the
 * head filled.  0 or -errno with a message; free it with free().
 */
int vdk__inline_open(struct vdk_params *ps, size_t dev_size,
		     struct vdk_bdev **out, char *err, size_t errlen);
/* info(): the size, and every ability (flush, FUA, discard, zero). */
int vdk__inline_info(struct vdk_bdev *b, struct vdk_backend_info *info);
int vdk__inline_queue_open(struct vdk_bdev *b, unsigned int qidx,
			   unsigned int depth, struct vdk_bq **out);
void vdk__inline_queue_close(struct vdk_bq *q);
/* Nothing is cached: a flush is done at once. */
int vdk__inline_flush(struct vdk_bq *q, struct vdk_bio *bio);

/* The device of such a queue. */
static inline struct vdk_bdev *vdk__inline_bdev(struct vdk_bq *q)
{
	return (struct vdk_bdev *)q;
}

/* Transfers the file backend's queue sent from its fixed buffer. */
uint64_t vdk__file_fixed_ios(const struct vdk_bq *q);
/* Its ring sends several vectors from it too (Linux 6.15). */
bool vdk__file_vec_fixed(const struct vdk_bq *q);
/* Bios the nbd backend's queue copied through a bounce buffer. */
uint64_t vdk__nbd_bounced(const struct vdk_bq *q);
/* Whether it speaks on the socket itself (nbd-wire.c) now. */
bool vdk__nbd_on_wire(const struct vdk_bq *q);

#endif /* VDK_BACKENDS_INTERNAL_H */
