/* SPDX-License-Identifier: MIT */
/*
 * Backend "file": a regular file or a block device, through io_uring.
 *
 * Each queue has its own ring, created in the queue's thread (the ring is
 * set up single-issuer when the kernel allows it), and an eventfd
 * registered with the ring as its queue_fd.  Reads and writes go straight
 * from and into the caller's iovecs.
 *
 * Ring size: a bio holds at most one SQE at a time (a short transfer or a
 * fallback is sent again only after the previous SQE completed), and a
 * queue has exactly @depth slots for bios, so a ring of @depth entries can
 * never be full and its CQ (twice as large) never overflows.
 *
 * With direct=on, a request whose buffers O_DIRECT would refuse (an
 * address or an iovec length not aligned as statx(STATX_DIOALIGN) says)
 * goes through an aligned bounce buffer, still with O_DIRECT.  Not through
 * the page cache: mixing buffered and direct I/O on the same blocks is
 * not coherent (page cache filled by buffered reads goes stale under
 * asynchronous direct writes to a block device, and a buffered write
 * smaller than a page rewrites its neighbours from what it read).
 *
 * Offsets: the block size is made at least O_DIRECT's unit (by default,
 * or open() refuses), so the bios the device sends fit.  Should a request
 * still not fit (the device was given a smaller block size than ours),
 * the backend gives up O_DIRECT for good and serves everything through
 * a buffered descriptor of the same file from then on: correct, only
 * slower.  Requests in flight on other queues at that moment are the
 * only ones that mix the two.
 *
 * Files in memory (tmpfs, ramfs) are read and written inline, with
 * preadv/pwritev in the queue's thread: those file systems cannot read or
 * write without possibly blocking (no RWF_NOWAIT), so io_uring would hand
 * every request to one of its worker threads, a wake-up and a context
 * switch each way, when the transfer itself is a copy from or to memory.
 * A short transfer goes on through the ring.  Transfers above INLINE_MAX
 * go through the ring from the start, with IOSQE_ASYNC: there the copy,
 * not the wake-up, is the cost, and io_uring's workers do the copies on
 * all CPUs while the queue's thread goes on serving the ring.
 *
 * Given the device's bounce buffer in our memory (queue_set_mem), each
 * queue registers it with its ring, and a transfer of one vector inside
 * it goes as READ_FIXED or WRITE_FIXED, and several vectors inside it as
 * READV_FIXED or WRITEV_FIXED where the kernel has them (6.15): the
 * pages were pinned once, at registration, instead of at every request
 * (what O_DIRECT does to a vector of plain memory).
 *
 * Discard and zeroing use fallocate(2) where the file system or device can
 * (asynchronously, through the ring), and learn at first use when it
 * cannot: discard then becomes a successful no-op (it is only a hint) and
 * zeroing falls back to writing zeros.  Discard on a block device is the
 * BLKDISCARD ioctl, done inline: io_uring has no portable operation for it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "backend.h"
#include "internal.h"

/*
 * Vectored transfers from a registered buffer (Linux 6.15), numbered as
 * the kernel's enum io_uring_op does; liburing of Debian 12 has no name
 * for them.  Probed on each ring.
 */
#define OP_READV_FIXED 60
#define OP_WRITEV_FIXED 61

/* Zeros to write from, when the storage cannot zero a range itself. */
#define ZERO_BUF_SIZE (64u << 10)
#define ZERO_IOVS 64
/* The largest transfer done inline on a file in memory. */
#define INLINE_MAX (128u << 10)

static const uint8_t zero_buf[ZERO_BUF_SIZE] __attribute__((aligned(4096)));
static const struct iovec zero_iov[ZERO_IOVS] = {
	[0 ... ZERO_IOVS - 1] = {
		.iov_base = (void *)zero_buf,
		.iov_len = ZERO_BUF_SIZE,
	},
};

struct vdk_bdev {
	int fd;     /* O_DIRECT with direct=on */
	int buf_fd; /* direct=on: the same file, buffered; else -1 */
	bool direct;
	bool is_blk;
	bool read_only;
	bool in_memory; /* tmpfs or ramfs, buffered: served inline */
	uint32_t block_size;
	uint32_t dev_block_size; /* block devices: BLKSSZGET */
	/* direct=on: what O_DIRECT needs of buffer addresses and lengths. */
	uint32_t dio_mem_align;
	uint32_t dio_len_align;
	/*
	 * Learnt while serving, shared by the queues (relaxed atomics): the
	 * storage supports discard (BLKDISCARD; for files punch_ok),
	 * deallocating zeroing (PUNCH_HOLE) and FALLOC_FL_ZERO_RANGE; and
	 * whether O_DIRECT was given up (see above).
	 */
	bool discard_ok;
	bool punch_ok;
	bool zero_range_ok;
	bool buffered;
};

/* What the SQE in flight for a slot is. */
enum step {
	STEP_RW,         /* readv/writev of the bio's iovecs */
	STEP_FSYNC,
	STEP_PUNCH,      /* fallocate PUNCH_HOLE | KEEP_SIZE */
	STEP_ZERO_RANGE, /* fallocate ZERO_RANGE | KEEP_SIZE */
	STEP_ZERO_WRITE, /* writev from zero_buf (aligned for O_DIRECT) */
};

/* One bio in flight. */
struct slot {
	struct vdk_bio *bio;
	struct slot *next_free;
	uint64_t done;          /* bytes transferred so far */
	unsigned int iov_idx;   /* first iovec not wholly transferred */
	size_t iov_off;         /* bytes of it already transferred */
	struct iovec part;      /* the rest of it (iov_off > 0), or bounce */
	uint8_t *bounce;        /* misaligned for O_DIRECT: the data here */
	uint64_t bounce_at;     /* ... from this byte of the bio on */
	uint8_t step;           /* enum step */
};

struct vdk_bq {
	struct vdk_bdev *b;
	struct io_uring ring;
	bool ring_ok;
	int efd;
	struct slot *slots;
	struct slot *free;
	/* queue_set_mem(): registered as the ring's fixed buffer 0. */
	char *mem;
	size_t mem_len;
	bool vec_fixed; /* the ring has OP_READV_FIXED, OP_WRITEV_FIXED */
	uint64_t fixed_ios; /* transfers sent as fixed-buffer ones */
};

static bool flag_get(const bool *f)
{
	return __atomic_load_n(f, __ATOMIC_RELAXED);
}

static void flag_set(bool *f, bool v)
{
	__atomic_store_n(f, v, __ATOMIC_RELAXED);
}

/* Open @path for the backend; no blocking on a FIFO or a tty. */
static int open_storage(const char *path, int flags, struct stat *st)
{
	int fd, fl;

	fd = open(path, flags | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	if (fstat(fd, st))
		goto err;
	/* O_NONBLOCK would make io_uring fail reads with -EAGAIN. */
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0)
		goto err;
	return fd;

err:
	fl = -errno;
	close(fd);
	return fl;
}

static int storage_size(const struct vdk_bdev *b, uint64_t *size)
{
	struct stat st;

	if (b->is_blk)
		return ioctl(b->fd, BLKGETSIZE64, size) ? -errno : 0;
	if (fstat(b->fd, &st))
		return -errno;
	*size = st.st_size;
	return 0;
}

/*
 * What O_DIRECT needs: the kernel says (statx) or, on kernels that do
 * not, a page for addresses (always enough) and the device's block for
 * lengths and offsets.
 */
static void dio_alignment(struct vdk_bdev *b)
{
	struct statx stx;

	b->dio_mem_align = sysconf(_SC_PAGESIZE);
	b->dio_len_align = b->is_blk ? b->dev_block_size : 512;
	if (!statx(b->fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) &&
	    (stx.stx_mask & STATX_DIOALIGN) && stx.stx_dio_mem_align &&
	    stx.stx_dio_offset_align) {
		b->dio_mem_align = stx.stx_dio_mem_align;
		b->dio_len_align = stx.stx_dio_offset_align;
	}
}

/*
 * What the storage can do besides reading and writing.  Probes must not
 * change the data: BLKDISCARD of zero bytes fails with EINVAL where
 * discard works and EOPNOTSUPP where it does not; punching a hole past
 * the end of a file changes nothing.  ZERO_RANGE has no such harmless
 * probe (past the end it would allocate), so it is learnt at first use.
 */
static void probe(struct vdk_bdev *b, uint64_t size)
{
	uint64_t range[2] = { 0, 0 };

	b->zero_range_ok = true;
	if (b->read_only)
		return;
	if (b->is_blk) {
		b->discard_ok = ioctl(b->fd, BLKDISCARD, range) < 0 &&
				errno == EINVAL;
		b->punch_ok = b->discard_ok;
	} else {
		b->punch_ok = !fallocate(b->fd,
					 FALLOC_FL_PUNCH_HOLE |
					 FALLOC_FL_KEEP_SIZE,
					 size, b->block_size);
		b->discard_ok = b->punch_ok;
	}
}

/* A file whose data lives in memory: reads and writes are copies. */
static bool in_memory(int fd)
{
	struct statfs sf;

	if (fstatfs(fd, &sf))
		return false;
	return sf.f_type == TMPFS_MAGIC || sf.f_type == RAMFS_MAGIC;
}

static void file_close(struct vdk_bdev *b)
{
	if (!b)
		return;
	vdk__close_fd(&b->buf_fd);
	vdk__close_fd(&b->fd);
	free(b);
}

static int file_open(struct vdk_params *ps, struct vdk_bdev **out, char *err,
		     size_t errlen)
{
	bool direct = false, read_only = false;
	struct stat st, st2;
	struct vdk_bdev *b;
	const char *path;
	uint64_t size;
	int flags, bs_ret, ret;
	int dev_bs;

	path = vdk_params_get(ps, "path");
	if (!path || !*path) {
		vdk__errf(err, errlen,
			  "missing parameter path= (a file or a block device)");
		return -EINVAL;
	}
	ret = vdk_params_get_bool(ps, "direct", &direct, err, errlen);
	if (ret && ret != -ENOENT)
		return ret;
	ret = vdk_params_get_bool(ps, "readonly", &read_only, err, errlen);
	if (ret && ret != -ENOENT)
		return ret;

	b = calloc(1, sizeof(*b));
	if (!b) {
		vdk__errf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	b->fd = -1;
	b->buf_fd = -1;
	b->direct = direct;
	b->read_only = read_only;
	bs_ret = vdk__get_block_size(ps, &b->block_size, err, errlen);
	if (bs_ret && bs_ret != -ENOENT) {
		ret = bs_ret;
		goto err;
	}

	flags = read_only ? O_RDONLY : O_RDWR;
	ret = open_storage(path, flags | (direct ? O_DIRECT : 0), &st);
	if (ret == -EINVAL && direct) {
		vdk__errf(err, errlen,
			  "cannot open '%.128s' with direct=on: the file system does not support O_DIRECT",
			  path);
		goto err;
	}
	if (ret == -EISDIR) {
		vdk__errf(err, errlen,
			  "'%.128s' is neither a regular file nor a block device",
			  path);
		goto err;
	}
	if (ret < 0) {
		vdk__errf(err, errlen, "cannot open '%.128s': %s%s", path,
			  strerror(-ret),
			  !read_only && (ret == -EROFS || ret == -EACCES) ?
			  " (readonly=on?)" : "");
		goto err;
	}
	b->fd = ret;
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
		vdk__errf(err, errlen,
			  "'%.128s' is neither a regular file nor a block device",
			  path);
		ret = -EINVAL;
		goto err;
	}
	b->is_blk = S_ISBLK(st.st_mode);

	if (b->is_blk) {
		if (ioctl(b->fd, BLKSSZGET, &dev_bs) < 0) {
			ret = -errno;
			vdk__errf(err, errlen,
				  "'%.128s': cannot get the logical block size: %s",
				  path, strerror(-ret));
			goto err;
		}
		b->dev_block_size = dev_bs;
		/* Devices with 1K or 2K sectors get 4096, a multiple. */
		if (bs_ret == -ENOENT)
			b->block_size = dev_bs <= 512 ? 512 : 4096;
	} else if (bs_ret == -ENOENT) {
		b->block_size = 512;
	}
	if (direct) {
		dio_alignment(b);
		/* Never smaller than O_DIRECT's unit, so offsets fit it. */
		if (bs_ret == -ENOENT && b->block_size < b->dio_len_align)
			b->block_size = 4096;
		/* zero_buf is aligned to 4096: enough for any known kernel. */
		if (b->block_size % b->dio_len_align ||
		    b->dio_mem_align > 4096) {
			vdk__errf(err, errlen,
				  "'%.128s': direct=on needs units of %u bytes here (buffers aligned to %u): use %sdirect=off",
				  path, b->dio_len_align, b->dio_mem_align,
				  b->dio_len_align <= 4096 &&
				  b->dio_mem_align <= 4096 ?
				  "block-size=4096 or " : "");
			ret = -EINVAL;
			goto err;
		}
	}

	ret = storage_size(b, &size);
	if (ret) {
		vdk__errf(err, errlen, "'%.128s': cannot get the size: %s",
			  path, strerror(-ret));
		goto err;
	}
	if (!size) {
		vdk__errf(err, errlen, "'%.128s' is empty (size 0)", path);
		ret = -EINVAL;
		goto err;
	}
	if (size % b->block_size) {
		vdk__errf(err, errlen,
			  "'%.128s': size %llu is not a multiple of the block size %u",
			  path, (unsigned long long)size, b->block_size);
		ret = -EINVAL;
		goto err;
	}

	if (direct) {
		/* By path again: check it is still the same file. */
		ret = open_storage(path, flags, &st2);
		if (ret >= 0) {
			b->buf_fd = ret;
			if (st2.st_dev != st.st_dev ||
			    st2.st_ino != st.st_ino ||
			    st2.st_rdev != st.st_rdev)
				ret = -ESTALE;
		}
		if (ret < 0) {
			vdk__errf(err, errlen,
				  "'%.128s': cannot open it a second time: %s",
				  path, strerror(-ret));
			goto err;
		}
	}
	probe(b, size);
	b->in_memory = !direct && !b->is_blk && in_memory(b->fd);
	*out = b;
	return 0;

err:
	file_close(b);
	return ret;
}

static int file_info(struct vdk_bdev *b, struct vdk_backend_info *info)
{
	unsigned int opt = 0;
	uint64_t size;
	bool rw = !b->read_only;
	int ret;

	ret = storage_size(b, &size);
	if (ret)
		return ret;
	if (b->is_blk && ioctl(b->fd, BLKIOOPT, &opt) < 0)
		opt = 0;
	*info = (struct vdk_backend_info){
		/* A grown file's tail shorter than a block is not served. */
		.size = size - size % b->block_size,
		.block_size = b->block_size,
		.opt_io_size = opt,
		.max_iovecs = IOV_MAX,
		.read_only = b->read_only,
		.can_flush = true,
		.can_fua = true,
		.can_discard = rw && flag_get(&b->discard_ok),
		.can_zero = rw,
		.can_zero_unmap = rw && flag_get(&b->discard_ok) &&
				  flag_get(&b->punch_ok),
		.multi_queue = true,
	};
	return 0;
}

static void file_queue_close(struct vdk_bq *q)
{
	if (!q)
		return;
	if (q->ring_ok)
		io_uring_queue_exit(&q->ring);
	vdk__close_fd(&q->efd);
	free(q->slots);
	free(q);
}

static int file_queue_open(struct vdk_bdev *b, unsigned int qidx,
			   unsigned int depth, struct vdk_bq **out)
{
	struct io_uring_params p = {
		.flags = IORING_SETUP_SINGLE_ISSUER |
			 IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SUBMIT_ALL,
	};
	struct vdk_bq *q;
	unsigned int i;
	int ret;

	if (!depth || depth > 32768)
		return -EINVAL;
	q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->b = b;
	q->efd = -1;
	q->slots = calloc(depth, sizeof(*q->slots));
	if (!q->slots) {
		ret = -ENOMEM;
		goto err;
	}
	for (i = 0; i < depth; i++)
		q->slots[i].next_free = i + 1 < depth ? &q->slots[i + 1] : NULL;
	q->free = q->slots;

	/* Kernels before 6.0 refuse flags they do not know: go without. */
	ret = io_uring_queue_init_params(depth, &q->ring, &p);
	if (ret == -EINVAL) {
		memset(&p, 0, sizeof(p));
		ret = io_uring_queue_init_params(depth, &q->ring, &p);
	}
	if (ret)
		goto err;
	q->ring_ok = true;
	q->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (q->efd < 0) {
		ret = -errno;
		goto err;
	}
	ret = io_uring_register_eventfd(&q->ring, q->efd);
	if (ret)
		goto err;
	*out = q;
	return 0;

err:
	file_queue_close(q);
	return ret;
}

static int file_queue_fd(struct vdk_bq *q)
{
	return q->efd;
}

/*
 * The bounce buffer in our memory, registered with the ring: a transfer
 * from or to one vector inside it is then a READ_FIXED or WRITE_FIXED,
 * whose pages the kernel pinned once here instead of at every request.
 */
static int file_queue_set_mem(struct vdk_bq *q, void *base, size_t len)
{
	struct iovec iov = { .iov_base = base, .iov_len = len };

	if (q->mem)
		return -EBUSY;
	struct io_uring_probe *probe;
	int ret;

	ret = io_uring_register_buffers(&q->ring, &iov, 1);
	if (ret < 0)
		return ret;
	q->mem = base;
	q->mem_len = len;
	probe = io_uring_get_probe_ring(&q->ring);
	if (probe) {
		q->vec_fixed = io_uring_opcode_supported(probe,
							 OP_READV_FIXED) &&
			       io_uring_opcode_supported(probe,
							 OP_WRITEV_FIXED);
		io_uring_free_probe(probe);
	}
	return 0;
}

uint64_t vdk__file_fixed_ios(const struct vdk_bq *q)
{
	return q->fixed_ios;
}

bool vdk__file_vec_fixed(const struct vdk_bq *q)
{
	return q->vec_fixed;
}

static bool in_mem(const struct vdk_bq *q, const struct iovec *iov)
{
	uintptr_t p = (uintptr_t)iov->iov_base, m = (uintptr_t)q->mem;

	return q->mem && p >= m && iov->iov_len <= q->mem_len &&
	       p - m <= q->mem_len - iov->iov_len;
}

/* Every one of @cnt vectors lies in the registered buffer. */
static bool all_in_mem(const struct vdk_bq *q, const struct iovec *iov,
		       unsigned int cnt)
{
	unsigned int i;

	for (i = 0; i < cnt; i++)
		if (!in_mem(q, &iov[i]))
			return false;
	return true;
}

static struct slot *slot_get(struct vdk_bq *q, struct vdk_bio *bio)
{
	struct slot *s = q->free;

	if (!s)
		return NULL;
	q->free = s->next_free;
	*s = (struct slot){ .bio = bio };
	return s;
}

static void slot_put(struct vdk_bq *q, struct slot *s)
{
	free(s->bounce);
	s->bounce = NULL;
	s->bio = NULL;
	s->next_free = q->free;
	q->free = s;
}

/* Free the slot first: done() may submit the next bio at once. */
static void finish(struct vdk_bq *q, struct slot *s, int result)
{
	struct vdk_bio *bio = s->bio;

	slot_put(q, s);
	bio->done(bio, result);
}

static struct io_uring_sqe *get_sqe(struct vdk_bq *q)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&q->ring);

	/* Cannot happen with the ring sized as above; be safe anyway. */
	if (!sqe && io_uring_submit(&q->ring) >= 0)
		sqe = io_uring_get_sqe(&q->ring);
	return sqe;
}

static bool aligned(uint64_t v, uint32_t align)
{
	return !(v & (align - 1));
}

/*
 * The descriptor for a transfer of @len bytes at @off: the O_DIRECT one
 * while O_DIRECT can take the range, else the buffered one for good.
 */
static int rw_fd(struct vdk_bdev *b, uint64_t off, uint64_t len)
{
	if (!b->direct)
		return b->fd;
	if (!flag_get(&b->buffered)) {
		if (aligned(off | len, b->dio_len_align))
			return b->fd;
		flag_set(&b->buffered, true);
	}
	return b->buf_fd;
}

/* Would O_DIRECT take these buffers? */
static bool dio_ok(const struct vdk_bdev *b, const struct iovec *iov,
		   unsigned int cnt)
{
	unsigned int i;

	for (i = 0; i < cnt; i++) {
		/* As the kernel, ignore empty iovecs. */
		if (iov[i].iov_len &&
		    (!aligned((uintptr_t)iov[i].iov_base, b->dio_mem_align) ||
		     !aligned(iov[i].iov_len, b->dio_len_align)))
			return false;
	}
	return true;
}

/*
 * Move the rest of the bio, from byte s->done on, into an aligned
 * buffer: the data for a write, room for a read.  Only misaligned
 * requests with direct=on pay for the allocation and the copy.
 */
static int bounce_start(struct vdk_bdev *b, struct slot *s)
{
	struct vdk_bio *bio = s->bio;
	uint64_t rem = bio->len - s->done;
	void *p;

	if (rem > SIZE_MAX || posix_memalign(&p, b->dio_mem_align, rem))
		return -ENOMEM;
	if (bio->op == VDK_BIO_WRITE)
		vdk__iov_to_buf(bio->iov, bio->iovcnt, s->done, p, rem);
	s->bounce = p;
	s->bounce_at = s->done;
	return 0;
}

/* Where the rest of a read or write goes: the iovecs or the bounce. */
static unsigned int rw_iov(struct slot *s, const struct iovec **iov)
{
	const struct vdk_bio *bio = s->bio;

	if (s->bounce) {
		s->part.iov_base = s->bounce + (s->done - s->bounce_at);
		s->part.iov_len = bio->len - s->done;
	} else if (s->iov_off) {
		const struct iovec *v = &bio->iov[s->iov_idx];

		s->part.iov_base = (char *)v->iov_base + s->iov_off;
		s->part.iov_len = v->iov_len - s->iov_off;
	} else {
		*iov = bio->iov + s->iov_idx;
		return bio->iovcnt - s->iov_idx;
	}
	*iov = &s->part;
	return 1;
}

/* Queue the SQE for the slot's current step.  -errno if it cannot. */
static int issue(struct vdk_bq *q, struct slot *s)
{
	struct vdk_bdev *b = q->b;
	struct vdk_bio *bio = s->bio;
	uint64_t off = bio->offset + s->done, rem = bio->len - s->done;
	const struct iovec *iov = NULL;
	struct io_uring_sqe *sqe;
	unsigned int cnt = 0;
	int fd = b->fd, ret, rw_flags = 0;

	if (s->step == STEP_RW || s->step == STEP_ZERO_WRITE)
		fd = rw_fd(b, off, rem);
	if (s->step == STEP_RW) {
		cnt = rw_iov(s, &iov);
		if (fd == b->fd && b->direct && !s->bounce &&
		    !dio_ok(b, iov, cnt)) {
			ret = bounce_start(b, s);
			if (ret)
				return ret;
			cnt = rw_iov(s, &iov);
		}
	}
	sqe = get_sqe(q);
	if (!sqe)
		return -EBUSY;
	switch (s->step) {
	case STEP_RW:
		if (bio->flags & VDK_BIO_F_FUA)
			rw_flags = RWF_DSYNC;
		if (cnt == 1 && in_mem(q, iov)) {
			if (bio->op == VDK_BIO_READ)
				io_uring_prep_read_fixed(sqe, fd,
							 iov->iov_base,
							 iov->iov_len, off, 0);
			else
				io_uring_prep_write_fixed(sqe, fd,
							  iov->iov_base,
							  iov->iov_len, off, 0);
			sqe->rw_flags = rw_flags;
			q->fixed_ios++;
		} else if (bio->op == VDK_BIO_READ) {
			io_uring_prep_readv(sqe, fd, iov, cnt, off);
		} else {
			io_uring_prep_writev2(sqe, fd, iov, cnt, off,
					      rw_flags);
		}
		/* The same, from the registered buffer: no pinning. */
		if (cnt > 1 && q->vec_fixed && all_in_mem(q, iov, cnt)) {
			sqe->opcode = bio->op == VDK_BIO_READ ?
					      OP_READV_FIXED :
					      OP_WRITEV_FIXED;
			sqe->buf_index = 0;
			q->fixed_ios++;
		}
		/*
		 * A file in memory goes to io_uring's workers anyway (it
		 * cannot do RWF_NOWAIT).  Sent there from the start, the
		 * transfer is marked concurrent and gets a worker of its
		 * own; punted, it waits for the one worker already
		 * copying, which never sleeps, so every large transfer of
		 * the queue would be copied on one CPU.
		 */
		if (b->in_memory)
			sqe->flags |= IOSQE_ASYNC;
		break;
	case STEP_ZERO_WRITE:
		if (rem >= ZERO_BUF_SIZE) {
			iov = zero_iov;
			cnt = rem / ZERO_BUF_SIZE < ZERO_IOVS ?
			      rem / ZERO_BUF_SIZE : ZERO_IOVS;
		} else {
			s->part.iov_base = (void *)zero_buf;
			s->part.iov_len = rem;
			iov = &s->part;
			cnt = 1;
		}
		io_uring_prep_writev(sqe, fd, iov, cnt, off);
		break;
	case STEP_FSYNC:
		io_uring_prep_fsync(sqe, b->fd, IORING_FSYNC_DATASYNC);
		break;
	case STEP_PUNCH:
		io_uring_prep_fallocate(sqe, b->fd,
					FALLOC_FL_PUNCH_HOLE |
					FALLOC_FL_KEEP_SIZE,
					bio->offset, bio->len);
		break;
	case STEP_ZERO_RANGE:
		io_uring_prep_fallocate(sqe, b->fd,
					FALLOC_FL_ZERO_RANGE |
					FALLOC_FL_KEEP_SIZE,
					bio->offset, bio->len);
		break;
	}
	io_uring_sqe_set_data(sqe, s);
	return 0;
}

/* Step past @n bytes transferred from the bio's iovecs. */
static void advance(struct slot *s, uint64_t n)
{
	const struct iovec *iov = s->bio->iov;

	s->done += n;
	if (s->step != STEP_RW || s->bounce)
		return;
	while (n && s->iov_idx < s->bio->iovcnt) {
		size_t left = iov[s->iov_idx].iov_len - s->iov_off;

		if (n < left) {
			s->iov_off += n;
			return;
		}
		n -= left;
		s->iov_idx++;
		s->iov_off = 0;
	}
}

/* The next way to zero after the current step could not; or -errno. */
static int zero_fallback(struct vdk_bdev *b, struct slot *s, int res)
{
	/* EINVAL: this range (alignment), not the storage, was refused. */
	if (res != -EOPNOTSUPP && res != -EINVAL)
		return res;
	if (s->step == STEP_PUNCH) {
		if (res == -EOPNOTSUPP)
			flag_set(&b->punch_ok, false);
		s->step = flag_get(&b->zero_range_ok) ? STEP_ZERO_RANGE :
							STEP_ZERO_WRITE;
	} else {
		if (res == -EOPNOTSUPP)
			flag_set(&b->zero_range_ok, false);
		s->step = STEP_ZERO_WRITE;
	}
	return 0;
}

/*
 * A CQE for @s.  Returns 1 when the bio completed, 0 when it was sent
 * again (the rest of a short transfer, or a fallback).
 */
static int complete(struct vdk_bq *q, struct slot *s, int res)
{
	struct vdk_bdev *b = q->b;
	struct vdk_bio *bio = s->bio;
	int ret;

	switch (s->step) {
	case STEP_RW:
	case STEP_ZERO_WRITE:
		if (res <= 0) {
			/* 0: end of file (truncated under us), no progress. */
			finish(q, s, res ? res : -EIO);
			return 1;
		}
		advance(s, res);
		if (s->done == bio->len) {
			if (s->bounce && bio->op == VDK_BIO_READ)
				vdk__iov_from_buf(bio->iov, bio->iovcnt,
						  s->bounce_at, s->bounce,
						  bio->len - s->bounce_at);
			finish(q, s, 0);
			return 1;
		}
		break;
	case STEP_FSYNC:
		finish(q, s, res);
		return 1;
	case STEP_PUNCH:
	case STEP_ZERO_RANGE:
		if (bio->op == VDK_BIO_DISCARD) {
			/* Discard is a hint: not being able to is fine. */
			if (res == -EOPNOTSUPP) {
				flag_set(&b->punch_ok, false);
				flag_set(&b->discard_ok, false);
				res = 0;
			}
			finish(q, s, res);
			return 1;
		}
		if (res >= 0 || (res = zero_fallback(b, s, res))) {
			finish(q, s, res);
			return 1;
		}
		break;
	}
	ret = issue(q, s);
	if (ret) {
		finish(q, s, ret);
		return 1;
	}
	return 0;
}

/* Take a slot and queue the bio's first SQE; 0 or -errno (no done()). */
static int start(struct vdk_bq *q, struct vdk_bio *bio, enum step step)
{
	struct slot *s = slot_get(q, bio);
	int ret;

	if (!s)
		return -EBUSY;
	s->step = step;
	ret = issue(q, s);
	if (ret)
		slot_put(q, s);
	return ret;
}

/*
 * A file in memory: the transfer inline.  What a short transfer left (or
 * all of it, after EINTR) goes through the ring like any other.
 */
static int rw_inline(struct vdk_bq *q, struct vdk_bio *bio)
{
	struct vdk_bdev *b = q->b;
	struct slot *s;
	ssize_t n;
	int ret;

	if (bio->op == VDK_BIO_READ)
		n = preadv(b->fd, bio->iov, (int)bio->iovcnt,
			   (off_t)bio->offset);
	else
		n = pwritev2(b->fd, bio->iov, (int)bio->iovcnt,
			     (off_t)bio->offset,
			     bio->flags & VDK_BIO_F_FUA ? RWF_DSYNC : 0);
	if (n == (ssize_t)bio->len) {
		bio->done(bio, 0);
		return 0;
	}
	if (n < 0 && errno != EINTR && errno != EAGAIN) {
		bio->done(bio, -errno);
		return 0;
	}
	if (n == 0) {
		/* End of file: truncated under us. */
		bio->done(bio, -EIO);
		return 0;
	}
	s = slot_get(q, bio);
	if (!s)
		return -EBUSY;
	s->step = STEP_RW;
	if (n > 0)
		advance(s, (uint64_t)n);
	ret = issue(q, s);
	if (ret)
		slot_put(q, s);
	return ret;
}

static int file_rw(struct vdk_bq *q, struct vdk_bio *bio)
{
	if (bio->iovcnt > IOV_MAX || vdk__bio_check_rw(bio, UINT64_MAX))
		return -EINVAL;
	if (!bio->len) {
		bio->done(bio, 0);
		return 0;
	}
	if (q->b->in_memory && bio->len <= INLINE_MAX)
		return rw_inline(q, bio);
	return start(q, bio, STEP_RW);
}

static int file_read(struct vdk_bq *q, struct vdk_bio *bio)
{
	return file_rw(q, bio);
}

static int file_write(struct vdk_bq *q, struct vdk_bio *bio)
{
	if (q->b->read_only)
		return -EROFS;
	return file_rw(q, bio);
}

static int file_flush(struct vdk_bq *q, struct vdk_bio *bio)
{
	return start(q, bio, STEP_FSYNC);
}

/* BLKDISCARD, inline; trimmed to whole device blocks, as it requires. */
static int blk_discard(struct vdk_bdev *b, struct vdk_bio *bio)
{
	uint64_t mask = b->dev_block_size - 1;
	uint64_t start = (bio->offset + mask) & ~mask;
	uint64_t end = (bio->offset + bio->len) & ~mask;
	uint64_t range[2] = { start, end - start };
	int res = 0;

	if (start < end && ioctl(b->fd, BLKDISCARD, range) < 0) {
		res = -errno;
		if (res == -EOPNOTSUPP) {
			flag_set(&b->discard_ok, false);
			res = 0;
		}
	}
	bio->done(bio, res);
	return 0;
}

static int file_discard(struct vdk_bq *q, struct vdk_bio *bio)
{
	struct vdk_bdev *b = q->b;

	if (b->read_only)
		return -EROFS;
	if (vdk__bio_check_range(bio, UINT64_MAX))
		return -EINVAL;
	if (!bio->len || !flag_get(&b->discard_ok)) {
		bio->done(bio, 0);
		return 0;
	}
	if (b->is_blk)
		return blk_discard(b, bio);
	return start(q, bio, STEP_PUNCH);
}

static int file_zero(struct vdk_bq *q, struct vdk_bio *bio)
{
	struct vdk_bdev *b = q->b;
	enum step step = STEP_ZERO_WRITE;

	if (b->read_only)
		return -EROFS;
	if (vdk__bio_check_range(bio, UINT64_MAX))
		return -EINVAL;
	if (!bio->len) {
		bio->done(bio, 0);
		return 0;
	}
	if ((bio->flags & VDK_BIO_F_UNMAP) && flag_get(&b->punch_ok))
		step = STEP_PUNCH;
	else if (flag_get(&b->zero_range_ok))
		step = STEP_ZERO_RANGE;
	return start(q, bio, step);
}

/*
 * Send what is queued.  On failure the SQEs stay queued, and the next
 * commit() or reap() sends them.
 */
static int file_commit(struct vdk_bq *q)
{
	int ret;

	while (io_uring_sq_ready(&q->ring)) {
		ret = io_uring_submit(&q->ring);
		if (ret == -EINTR)
			continue;
		if (ret < 0)
			return ret;
		if (!ret)
			break;
	}
	return 0;
}

static int file_reap(struct vdk_bq *q)
{
	struct io_uring_cqe *cqe;
	eventfd_t v;
	int n = 0, ret;

	/* Clear first: a CQE posted after the loop signals again. */
	eventfd_read(q->efd, &v);
	/* One at a time: done() may submit, and even reap, again. */
	while (!io_uring_peek_cqe(&q->ring, &cqe)) {
		struct slot *s = io_uring_cqe_get_data(cqe);
		int res = cqe->res;

		io_uring_cqe_seen(&q->ring, cqe);
		n += complete(q, s, res);
	}
	/* Send the rests of short transfers and the fallbacks. */
	ret = file_commit(q);
	return n ? n : ret;
}

/* Confined: io_uring and the calls of the inline and fallback paths. */
static const char *const file_syscalls[] = {
	"io_uring_setup", "io_uring_enter", "io_uring_register",
	"preadv", "pwritev", "preadv2", "pwritev2", "fallocate", "fsync",
	"fdatasync", "fstatfs", NULL,
};

const struct vdk_backend_ops vdk_backend_file = {
	.name = "file",
	.summary = "a regular file or a block device, through io_uring",
	.params_help =
		"path=PATH          the file or block device to serve, required\n"
		"direct=on|off      bypass the page cache with O_DIRECT (default off)\n"
		"readonly=on|off    open read-only and refuse writes (default off)\n"
		"block-size=BYTES   512 or 4096 (default: 512 for a file, the device's for a block device; with direct=on, at least O_DIRECT's unit)\n",
	.open = file_open,
	.close = file_close,
	.info = file_info,
	.queue_open = file_queue_open,
	.queue_close = file_queue_close,
	.queue_fd = file_queue_fd,
	.read = file_read,
	.write = file_write,
	.flush = file_flush,
	.discard = file_discard,
	.zero = file_zero,
	.commit = file_commit,
	.reap = file_reap,
	.syscalls = file_syscalls,
	.queue_set_mem = file_queue_set_mem,
};
