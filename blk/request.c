/* SPDX-License-Identifier: MIT */
/*
 * virtio-blk requests: parse, check, hand to the backend, complete.
 *
 * Knows nothing of VDUSE: a request is a list of readable vectors (header,
 * then data for writes) and writable ones (data for reads, then the status
 * byte).  Any of them may be cut anywhere, so the header and the segments
 * are copied out with iov helpers, never read through a cast.  Every
 * request is completed exactly once: a malformed one with IOERR or
 * UNSUPP, one with no status byte with nothing.
 */
#include <endian.h>
#include <errno.h>
#include <string.h>
#include <time.h>

#include <linux/virtio_blk.h>

#include "internal.h"

#define SECTOR 512u
/* Marks a request answered without the backend. */
#define NO_BIO 0xff

/* Copy @len bytes at @offset of the vectors into @buf; false if short. */
static bool iov_read(const struct iovec *iov, unsigned int n, size_t offset,
		     void *buf, size_t len)
{
	unsigned char *out = buf;
	unsigned int i;

	for (i = 0; i < n && len; i++) {
		size_t chunk;

		if (offset >= iov[i].iov_len) {
			offset -= iov[i].iov_len;
			continue;
		}
		chunk = iov[i].iov_len - offset;
		if (chunk > len)
			chunk = len;
		memcpy(out, (char *)iov[i].iov_base + offset, chunk);
		out += chunk;
		len -= chunk;
		offset = 0;
	}
	return len == 0;
}

static size_t iov_write(const struct iovec *iov, unsigned int n,
			const void *buf, size_t len)
{
	const unsigned char *in = buf;
	size_t done = 0;
	unsigned int i;

	for (i = 0; i < n && done < len; i++) {
		size_t chunk = iov[i].iov_len;

		if (chunk > len - done)
			chunk = len - done;
		memcpy(iov[i].iov_base, in + done, chunk);
		done += chunk;
	}
	return done;
}

/*
 * The vectors covering bytes [skip, skip + len) of @iov into @out.
 * Returns the count; the caller checked that the bytes exist.
 */
static unsigned int iov_slice(const struct iovec *iov, unsigned int n,
			      size_t skip, size_t len, struct iovec *out)
{
	unsigned int i, k = 0;

	for (i = 0; i < n && len; i++) {
		size_t chunk;

		if (skip >= iov[i].iov_len) {
			skip -= iov[i].iov_len;
			continue;
		}
		chunk = iov[i].iov_len - skip;
		if (chunk > len)
			chunk = len;
		out[k].iov_base = (char *)iov[i].iov_base + skip;
		out[k].iov_len = chunk;
		k++;
		len -= chunk;
		skip = 0;
	}
	return k;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* `vdk stat`'s counters of a request completed with @status. */
static void count(struct blk_queue *q, struct blk_req *br, uint8_t status)
{
	struct vdk_blk_qstats *st = &q->st;

	blk_stat_add(&st->requests[br->kind], 1);
	if (status == VIRTIO_BLK_S_OK)
		blk_stat_add(&st->bytes[br->kind], br->bio.len);
	else
		blk_stat_add(&st->errors, 1);
	blk_stat_add(&st->latency[vdk_blk_lat_bucket(now_ns() - br->t0)], 1);
}

static void complete(struct blk_req *br, uint8_t status)
{
	struct blk_queue *q = br->q;

	count(q, br, status);
	q->inflight_bytes -= br->held;
	br->held = 0;
	if (status != VIRTIO_BLK_S_OK)
		q->errors++;
	q->completed++;
	if (q->stopping)
		return; /* the driver reset: the ring is no longer ours */
	*br->status = status;
	vdk_vq_push(q->vq, br->req,
		    status == VIRTIO_BLK_S_OK ? br->used_len : 1);
	q->pushed = true;
}

static void bio_done(struct vdk_bio *bio, int result)
{
	struct blk_req *br = (struct blk_req *)bio; /* bio is first */

	complete(br, result == 0 ? VIRTIO_BLK_S_OK : VIRTIO_BLK_S_IOERR);
}

/*
 * A range of @nbytes at @sector fits the disk and its blocks (the block
 * size the device advertises, which the backend can serve as it is: a
 * driver that ignores it gets IOERR, as on QEMU's devices, and cannot
 * push the backend onto a slower path).  Written not to overflow.
 */
static bool in_range(const struct blk_shared *sh, uint64_t sector,
		     uint64_t nbytes)
{
	uint64_t size = atomic_load_explicit(&sh->size, memory_order_relaxed);
	uint64_t total = size / SECTOR;
	uint32_t bs = sh->block_size;

	if (sector > total || nbytes > (total - sector) * SECTOR)
		return false;
	return sector % (bs / SECTOR) == 0 && nbytes % bs == 0;
}

static int submit(struct blk_queue *q, struct blk_req *br)
{
	const struct vdk_backend_ops *ops = q->sh->ops;
	int (*fn)(struct vdk_bq *, struct vdk_bio *) = NULL;

	switch (br->bio.op) {
	case VDK_BIO_READ:
		fn = ops->read;
		break;
	case VDK_BIO_WRITE:
		fn = ops->write;
		break;
	case VDK_BIO_FLUSH:
		fn = ops->flush;
		break;
	case VDK_BIO_DISCARD:
		fn = ops->discard;
		break;
	case VDK_BIO_ZERO:
		fn = ops->zero;
		break;
	}
	if (!fn || !q->bq)
		return -EOPNOTSUPP;
	return fn(q->bq, &br->bio);
}

/* DISCARD and WRITE_ZEROES: one segment after the header. */
static uint8_t prepare_range_op(struct blk_queue *q, struct blk_req *br,
				struct vdk_req *req, uint32_t type)
{
	const struct blk_shared *sh = q->sh;
	struct virtio_blk_discard_write_zeroes seg;
	uint32_t flags, nsect;
	uint64_t sector;
	bool zero = type == VIRTIO_BLK_T_WRITE_ZEROES;

	if (zero ? !sh->can_zero : !sh->can_discard)
		return VIRTIO_BLK_S_UNSUPP;
	if (sh->read_only)
		return VIRTIO_BLK_S_IOERR;
	/* We offer one segment per request; more is a driver error. */
	if (req->out_len != sizeof(struct virtio_blk_outhdr) + sizeof(seg))
		return VIRTIO_BLK_S_IOERR;
	if (!iov_read(req->iov, req->n_out, sizeof(struct virtio_blk_outhdr),
		      &seg, sizeof(seg)))
		return VIRTIO_BLK_S_IOERR;
	sector = le64toh(seg.sector);
	nsect = le32toh(seg.num_sectors);
	flags = le32toh(seg.flags);
	if (flags & ~(uint32_t)VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP)
		return VIRTIO_BLK_S_UNSUPP;
	if (!zero && flags)
		return VIRTIO_BLK_S_UNSUPP;
	if (nsect == 0 || nsect > BLK_MAX_DISCARD_SECTORS ||
	    !in_range(sh, sector, (uint64_t)nsect * SECTOR))
		return VIRTIO_BLK_S_IOERR;
	br->bio.op = zero ? VDK_BIO_ZERO : VDK_BIO_DISCARD;
	br->bio.offset = sector * SECTOR;
	br->bio.len = (uint64_t)nsect * SECTOR;
	if (zero && (flags & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP) &&
	    sh->can_zero_unmap)
		br->bio.flags = VDK_BIO_F_UNMAP;
	return VIRTIO_BLK_S_OK;
}

/*
 * Turn the request into a backend operation.  Returns VIRTIO_BLK_S_OK
 * when br->bio is ready to submit, or the status to complete with.
 */
static uint8_t prepare(struct blk_queue *q, struct blk_req *br,
		       struct vdk_req *req)
{
	const struct blk_shared *sh = q->sh;
	struct virtio_blk_outhdr hdr;
	uint64_t sector, len;
	uint32_t type;

	if (!iov_read(req->iov, req->n_out, 0, &hdr, sizeof(hdr)))
		return VIRTIO_BLK_S_IOERR;
	type = le32toh(hdr.type);
	sector = le64toh(hdr.sector);
	br->used_len = 1;
	switch (type) {
	case VIRTIO_BLK_T_IN:
		br->kind = VDK_BLK_STAT_READ;
		break;
	case VIRTIO_BLK_T_OUT:
		br->kind = VDK_BLK_STAT_WRITE;
		break;
	case VIRTIO_BLK_T_FLUSH:
		br->kind = VDK_BLK_STAT_FLUSH;
		break;
	case VIRTIO_BLK_T_DISCARD:
		br->kind = VDK_BLK_STAT_DISCARD;
		break;
	case VIRTIO_BLK_T_WRITE_ZEROES:
		br->kind = VDK_BLK_STAT_ZERO;
		break;
	}

	switch (type) {
	case VIRTIO_BLK_T_IN:
		if (req->out_len != sizeof(hdr))
			return VIRTIO_BLK_S_IOERR;
		len = req->in_len - 1;
		if (len > sh->req_max_bytes || !in_range(sh, sector, len))
			return VIRTIO_BLK_S_IOERR;
		br->bio.op = VDK_BIO_READ;
		br->bio.offset = sector * SECTOR;
		br->bio.len = len;
		br->bio.iov = br->iov;
		br->bio.iovcnt = iov_slice(req->iov + req->n_out, req->n_in, 0,
					   len, br->iov);
		br->used_len = (uint32_t)req->in_len;
		return VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_OUT:
		if (sh->read_only)
			return VIRTIO_BLK_S_IOERR;
		len = req->out_len - sizeof(hdr);
		if (len > sh->req_max_bytes || !in_range(sh, sector, len))
			return VIRTIO_BLK_S_IOERR;
		br->bio.op = VDK_BIO_WRITE;
		br->bio.offset = sector * SECTOR;
		br->bio.len = len;
		br->bio.iov = br->iov;
		br->bio.iovcnt = iov_slice(req->iov, req->n_out, sizeof(hdr),
					   len, br->iov);
		return VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_FLUSH:
		if (!sh->can_flush)
			return VIRTIO_BLK_S_UNSUPP;
		br->bio.op = VDK_BIO_FLUSH;
		return VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_GET_ID: {
		size_t n = req->in_len - 1;

		if (n > BLK_SERIAL_LEN)
			n = BLK_SERIAL_LEN;
		iov_write(req->iov + req->n_out, req->n_in, sh->serial, n);
		br->used_len = (uint32_t)n + 1;
		br->bio.op = NO_BIO;
		return VIRTIO_BLK_S_OK;
	}
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		return prepare_range_op(q, br, req, type);
	default:
		return VIRTIO_BLK_S_UNSUPP;
	}
}

void blk_handle(struct blk_queue *q, struct vdk_req *req)
{
	struct blk_req *br = vdk_req_priv(req);
	const struct iovec *last;
	uint8_t status;
	int ret;

	memset(&br->bio, 0, sizeof(br->bio));
	br->req = req;
	br->q = q;
	br->held = 0;
	br->kind = VDK_BLK_STAT_OTHER;
	br->t0 = now_ns();
	blk_stat_add(&q->popped, 1);
	/* No writable byte: nowhere to put a status.  Complete it bare. */
	if (req->n_in == 0) {
		count(q, br, VIRTIO_BLK_S_IOERR);
		q->errors++;
		q->completed++;
		if (!q->stopping) {
			vdk_vq_push(q->vq, req, 0);
			q->pushed = true;
		}
		return;
	}
	last = &req->iov[req->n_out + req->n_in - 1];
	br->status = (uint8_t *)last->iov_base + last->iov_len - 1;

	if (q->sh->fail_io) {
		complete(br, VIRTIO_BLK_S_IOERR);
		return;
	}
	status = prepare(q, br, req);
	/* Zero-length reads and writes succeed without the backend. */
	if (status == VIRTIO_BLK_S_OK && br->bio.len == 0 &&
	    (br->bio.op == VDK_BIO_READ || br->bio.op == VDK_BIO_WRITE))
		br->bio.op = NO_BIO;
	if (status != VIRTIO_BLK_S_OK || br->bio.op == NO_BIO) {
		complete(br, status);
		return;
	}
	br->bio.done = bio_done;
	/* Before the submission: a synchronous backend completes inside. */
	if (br->bio.op == VDK_BIO_READ || br->bio.op == VDK_BIO_WRITE) {
		br->held = br->bio.len;
		q->inflight_bytes += br->held;
	}
	ret = submit(q, br);
	if (ret < 0)
		complete(br, ret == -EOPNOTSUPP ? VIRTIO_BLK_S_UNSUPP :
						  VIRTIO_BLK_S_IOERR);
}
