/* SPDX-License-Identifier: MIT */
/*
 * The registry of backends, and the helpers they share.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "internal.h"

#ifdef VDK_HAVE_NBD
extern const struct vdk_backend_ops vdk_backend_nbd;
#endif
#ifdef VDK_HAVE_RBD
extern const struct vdk_backend_ops vdk_backend_rbd;
#endif

const struct vdk_backend_ops *const vdk_backends[] = {
	&vdk_backend_file,
	&vdk_backend_ram,
	&vdk_backend_null,
#ifdef VDK_HAVE_NBD
	&vdk_backend_nbd,
#endif
#ifdef VDK_HAVE_RBD
	&vdk_backend_rbd,
#endif
	NULL,
};

const struct vdk_backend_ops *vdk_backend_find(const char *name)
{
	const struct vdk_backend_ops *const *b;

	if (!name)
		return NULL;
	for (b = vdk_backends; *b; b++) {
		if (!strcmp((*b)->name, name))
			return *b;
	}
	return NULL;
}

void vdk__close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

uint64_t vdk__iov_len(const struct iovec *iov, unsigned int iovcnt)
{
	uint64_t sum = 0;
	unsigned int i;

	for (i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len > UINT64_MAX - sum)
			return UINT64_MAX;
		sum += iov[i].iov_len;
	}
	return sum;
}

/* Written so that it cannot overflow: offset + len may wrap. */
static bool range_ok(uint64_t offset, uint64_t len, uint64_t size)
{
	return offset <= size && len <= size - offset;
}

int vdk__bio_check_rw(const struct vdk_bio *bio, uint64_t size)
{
	if (!range_ok(bio->offset, bio->len, size) ||
	    (bio->iovcnt && !bio->iov) ||
	    vdk__iov_len(bio->iov, bio->iovcnt) != bio->len)
		return -EINVAL;
	return 0;
}

int vdk__bio_check_range(const struct vdk_bio *bio, uint64_t size)
{
	return range_ok(bio->offset, bio->len, size) ? 0 : -EINVAL;
}

void vdk__iov_from_buf(const struct iovec *iov, unsigned int iovcnt,
		       uint64_t skip, const void *buf, uint64_t len)
{
	const char *p = buf;
	unsigned int i;

	for (i = 0; i < iovcnt && len; i++) {
		size_t n = iov[i].iov_len;
		char *dst = iov[i].iov_base;

		if (skip >= n) {
			skip -= n;
			continue;
		}
		dst += skip;
		n -= skip;
		skip = 0;
		if (n > len)
			n = len;
		if (p) {
			memcpy(dst, p, n);
			p += n;
		} else {
			memset(dst, 0, n);
		}
		len -= n;
	}
}

void vdk__iov_to_buf(const struct iovec *iov, unsigned int iovcnt,
		     uint64_t skip, void *buf, uint64_t len)
{
	char *p = buf;
	unsigned int i;

	for (i = 0; i < iovcnt && len; i++) {
		size_t n = iov[i].iov_len;
		const char *src = iov[i].iov_base;

		if (skip >= n) {
			skip -= n;
			continue;
		}
		src += skip;
		n -= skip;
		skip = 0;
		if (n > len)
			n = len;
		memcpy(p, src, n);
		p += n;
		len -= n;
	}
}

unsigned int vdk__iov_window(const struct iovec *iov, unsigned int iovcnt,
			     uint64_t skip, uint64_t len, struct iovec *out,
			     unsigned int room, uint64_t *got)
{
	unsigned int i, n = 0;

	*got = 0;
	for (i = 0; i < iovcnt && *got < len && n < room; i++) {
		size_t l = iov[i].iov_len;

		if (skip >= l) {
			skip -= l;
			continue;
		}
		l -= skip;
		if (l > len - *got)
			l = len - *got;
		out[n].iov_base = (char *)iov[i].iov_base + skip;
		out[n++].iov_len = l;
		*got += l;
		skip = 0;
	}
	return n;
}

int vdk__get_block_size(struct vdk_params *ps, uint32_t *out, char *err,
			size_t errlen)
{
	const char *v = vdk_params_get(ps, "block-size");

	if (!v)
		return -ENOENT;
	if (!strcmp(v, "512")) {
		*out = 512;
	} else if (!strcmp(v, "4096")) {
		*out = 4096;
	} else {
		vdk__errf(err, errlen,
			  "bad value '%.64s' for block-size: expected 512 or 4096",
			  v);
		return -EINVAL;
	}
	return 0;
}

/* At most one line of failed requests per queue this often. */
#define STALL_LOG_EVERY_NS (5ull * 1000000000ull)

void vdk__stall_failed(struct vdk__stall *st,
		       const struct vdk_backend_log *log, unsigned int qidx,
		       const char *who, unsigned int timeout_s, unsigned int n,
		       uint64_t now)
{
	if (!n)
		return;
	st->failed += n;
	st->unlogged += n;
	if (st->logged_ns && now - st->logged_ns < STALL_LOG_EVERY_NS)
		return;
	vdk__blog(log, VDK_LOG_WARNING,
		  "queue %u: %llu request(s) failed with an I/O error: no "
		  "answer from %s within timeout=%u s",
		  qidx, (unsigned long long)st->unlogged, who, timeout_s);
	st->unlogged = 0;
	st->logged_ns = now ? now : 1;
}

void vdk__stall_answered(struct vdk__stall *st,
			 const struct vdk_backend_log *log, unsigned int qidx,
			 const char *who)
{
	if (!st->failed)
		return;
	vdk__blog(log, VDK_LOG_NOTICE,
		  "queue %u: %s answers again (%llu request(s) had failed)",
		  qidx, who, (unsigned long long)st->failed);
	*st = (struct vdk__stall){ 0 };
}

int vdk__get_size_and_block_size(struct vdk_params *ps, uint64_t *size,
				 uint32_t *block_size, char *err,
				 size_t errlen)
{
	int ret;

	*block_size = 512;
	ret = vdk__get_block_size(ps, block_size, err, errlen);
	if (ret && ret != -ENOENT)
		return ret;
	ret = vdk_params_get_size(ps, "size", size, err, errlen);
	if (ret == -ENOENT) {
		vdk__errf(err, errlen, "missing parameter size= (e.g. size=1G)");
		return -EINVAL;
	}
	if (ret)
		return ret;
	if (!*size) {
		vdk__errf(err, errlen, "size must not be 0");
		return -EINVAL;
	}
	if (*size % *block_size) {
		vdk__errf(err, errlen,
			  "size %llu is not a multiple of the block size %u",
			  (unsigned long long)*size, *block_size);
		return -EINVAL;
	}
	return 0;
}

void vdk__bounce_free(struct vdk__bounce *b, size_t *held)
{
	free(b->p);
	*held -= b->cap;
	b->p = NULL;
	b->cap = 0;
}

int vdk__bounce_get(struct vdk__bounce *b, size_t *held, uint64_t len)
{
	void *p;

	if (b->cap >= len)
		return 0;
	vdk__bounce_free(b, held);
	if (len > SIZE_MAX || posix_memalign(&p, 4096, (size_t)len))
		return -ENOMEM;
	b->p = p;
	b->cap = (size_t)len;
	*held += b->cap;
	return 0;
}

void vdk__bounce_put(struct vdk__bounce *b, size_t *held)
{
	if (*held > VDK_BOUNCE_KEEP)
		vdk__bounce_free(b, held);
}
