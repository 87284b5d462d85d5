// SPDX-License-Identifier: MIT
/*
 * blkio-check: a userspace virtio-blk driver for vdk's vhost-vdpa path, on
 * libblkio (driver virtio-blk-vhost-vdpa).  It plays the VM: its memory
 * reaches the daemon through the IOTLB, not through VDUSE's bounce buffer.
 *
 * Check mode (the default): one thread per queue, each on its own part of
 * the disk, writes a pattern in chunks of random size (some with FUA, some
 * gathered from several segments), flushes, reads it back in another
 * random cut (some scattered) and compares every byte; write-zeroes and
 * discard on a few ranges, then the pattern again.  Every request buffer
 * has a memory region of its own, of an odd number of pages, some at an
 * offset into their file; during the reads the threads swap regions for
 * new ones, so the daemon sees its mappings invalidated while queues run.
 * The pattern is a function of a seed and the byte's offset on the disk:
 * --expect SEED first verifies what an earlier run left, --pattern prints
 * it for comparisons through another path (/dev/vdX).
 *
 * Bench mode: --bench read|write|randread|randwrite, --bs, --qd per queue,
 * --queues, --seconds; prints one JSON line with IOPS and MiB/s.
 *
 * Shrink mode (--shrink): a hostile client.  It writes 64 KiB at offset 0
 * from a buffer whose memory file it truncated after mapping it, so the
 * daemon finds that memory gone (SIGBUS, for a process that maps it).  The
 * write must complete (with the zeros the daemon then finds there, or an
 * I/O error), the daemon must go on serving: a read of that range must
 * complete and give zeros (or, after an error, anything).
 *
 * Exit status: 0 all good, 1 a mismatch or an I/O error, 2 usage, 77 no
 * such device.
 */
#define _GNU_SOURCE
#include <blkio.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define MAX_QUEUES 64
#define MAX_QD 256
#define MAX_SEGS 4
#define CHUNK_MAX (256u << 10)

enum mode { MODE_CHECK, MODE_FILL, MODE_VERIFY, MODE_BENCH, MODE_SHRINK };
enum bench { B_READ, B_WRITE, B_RANDREAD, B_RANDWRITE };

static struct {
	const char *path;
	enum mode mode;
	enum bench bench;
	const char *bench_name;
	unsigned int queues;
	unsigned int qd;
	uint64_t size;       /* bytes of the disk used (0: all, up to 64 MiB) */
	uint64_t seed;
	bool expect;
	uint64_t expect_seed;
	size_t bs;
	unsigned int seconds;
	bool quiet;
} opt = {
	.path = "/dev/vhost-vdpa-0",
	.queues = 1,
	.qd = 16,
	.seed = 1,
	.bs = 4096,
	.seconds = 10,
};

static struct blkio *b;
static uint64_t capacity;
static size_t align_req = 512;     /* request-alignment */
static size_t align_buf = 1;       /* buf-alignment */
static size_t align_region = 4096; /* mem-region-alignment */
static size_t max_transfer;        /* 0: no limit */
static unsigned int max_segs = MAX_SEGS;
/* Region management is not on the data path: one caller at a time. */
static pthread_mutex_t region_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_bool failed;
static atomic_bool stop_bench;

static void die(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	fputs("blkio-check: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
	va_list ap;

	fputs("blkio-check: FAIL: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	atomic_store(&failed, true);
}

/* ---- the pattern: a function of the seed and the disk offset ---- */

static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static uint64_t pattern_word(uint64_t seed, uint64_t off)
{
	return mix(seed * 0x100000001b3ull ^ (off >> 3));
}

/* @off and @len multiples of 8. */
static void pattern_fill(uint64_t seed, uint64_t off, void *buf, size_t len)
{
	uint64_t *w = buf;

	for (size_t i = 0; i < len / 8; i++)
		w[i] = pattern_word(seed, off + i * 8);
}

/* Offset of the first byte that differs, or -1. */
static int64_t pattern_diff(uint64_t seed, uint64_t off, const void *buf,
			    size_t len)
{
	const uint64_t *w = buf;

	for (size_t i = 0; i < len / 8; i++) {
		uint64_t want = pattern_word(seed, off + i * 8);

		if (w[i] != want) {
			const uint8_t *a = (const uint8_t *)&w[i];
			const uint8_t *e = (const uint8_t *)&want;
			size_t k = 0;

			while (a[k] == e[k])
				k++;
			return (int64_t)(i * 8 + k);
		}
	}
	return -1;
}

static int64_t zero_diff(const void *buf, size_t len)
{
	const uint8_t *p = buf;

	for (size_t i = 0; i < len; i++)
		if (p[i])
			return (int64_t)i;
	return -1;
}

/* ---- randomness per thread ---- */

static uint64_t rnd(uint64_t *s)
{
	*s = mix(*s);
	return *s;
}

static uint64_t rnd_range(uint64_t *s, uint64_t lo, uint64_t hi)
{
	return lo + rnd(s) % (hi - lo + 1);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static size_t round_up(size_t v, size_t a)
{
	return (v + a - 1) / a * a;
}

/* ---- memory regions ---- */

/*
 * A buffer in a region of its own.  Every third one is made here rather
 * than by libblkio: a memfd mapped at a page offset, so that the daemon
 * maps a file at a non-zero offset.
 */
struct region {
	struct blkio_mem_region r;
	bool own; /* ours to munmap and close */
};

static int region_new(struct region *rg, size_t len, unsigned int kind)
{
	size_t skip = align_region * (1 + kind % 3);
	int ret;

	len = round_up(len, align_region);
	memset(rg, 0, sizeof(*rg));
	pthread_mutex_lock(&region_lock);
	if (kind % 3 == 2) {
		int fd = memfd_create("blkio-check", MFD_CLOEXEC);
		void *p;

		if (fd < 0) {
			ret = -errno;
			goto out;
		}
		if (ftruncate(fd, (off_t)(skip + len)) < 0) {
			ret = -errno;
			close(fd);
			goto out;
		}
		p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
			 (off_t)skip);
		if (p == MAP_FAILED) {
			ret = -errno;
			close(fd);
			goto out;
		}
		rg->r.addr = p;
		rg->r.len = len;
		rg->r.fd = fd;
		rg->r.fd_offset = (int64_t)skip;
		rg->own = true;
	} else {
		ret = blkio_alloc_mem_region(b, &rg->r, len);
		if (ret < 0)
			goto out;
	}
	ret = blkio_map_mem_region(b, &rg->r);
	if (ret < 0) {
		if (rg->own) {
			munmap(rg->r.addr, rg->r.len);
			close(rg->r.fd);
		} else {
			blkio_free_mem_region(b, &rg->r);
		}
	}
out:
	pthread_mutex_unlock(&region_lock);
	return ret;
}

static void region_free(struct region *rg)
{
	pthread_mutex_lock(&region_lock);
	blkio_unmap_mem_region(b, &rg->r);
	if (rg->own) {
		munmap(rg->r.addr, rg->r.len);
		close(rg->r.fd);
	} else {
		blkio_free_mem_region(b, &rg->r);
	}
	pthread_mutex_unlock(&region_lock);
	memset(rg, 0, sizeof(*rg));
}

/* ---- one queue's worker ---- */

enum op { OP_READ, OP_WRITE, OP_ZEROES, OP_DISCARD, OP_FLUSH };

struct slot {
	struct region rg;
	bool busy;
	enum op op;
	uint64_t off;
	size_t len;
	unsigned int nseg;
	struct iovec iov[MAX_SEGS];
	uint64_t seed;     /* expected pattern of a read */
	bool zeroes;       /* a read that must see zeroes */
};

struct worker {
	unsigned int q;
	struct blkioq *bq;
	uint64_t start, end; /* its part of the disk */
	uint64_t rs;         /* random state */
	struct slot slots[MAX_QD];
	unsigned int inflight;
	uint64_t ios, bytes;
	uint64_t swaps;
	pthread_t th;
};

static size_t slot_room(void)
{
	/* The largest chunk, cut in up to MAX_SEGS pieces each pushed out
	 * by up to a few alignment steps. */
	size_t a = align_buf > 512 ? align_buf : 512;

	return CHUNK_MAX + MAX_SEGS * 8 * a;
}

static int slot_alloc(struct worker *w, unsigned int i, unsigned int gen)
{
	/* Odd sizes: 0..6 pages more than the room needs. */
	size_t extra = (size_t)((w->q * 7 + i * 3 + gen) % 7) * align_region;

	return region_new(&w->slots[i].rg, slot_room() + extra,
			  w->q + i + gen);
}

/* Lay the slot's buffer out as @nseg pieces scattered in its region. */
static void slot_layout(struct worker *w, struct slot *s, unsigned int nseg)
{
	size_t a = align_buf > 512 ? align_buf : 512;
	size_t left = s->len, pos = 0;
	char *base = s->rg.r.addr;

	if (nseg > max_segs)
		nseg = max_segs;
	if (nseg > s->len / align_req)
		nseg = (unsigned int)(s->len / align_req);
	if (nseg == 0)
		nseg = 1;
	s->nseg = nseg;
	for (unsigned int k = 0; k < nseg; k++) {
		size_t piece;

		if (k == nseg - 1) {
			piece = left;
		} else {
			size_t units = left / align_req - (nseg - 1 - k);

			piece = rnd_range(&w->rs, 1, units) * align_req;
		}
		/* A gap of a few alignment steps between pieces. */
		pos += rnd_range(&w->rs, 0, 7) * a;
		s->iov[k].iov_base = base + pos;
		s->iov[k].iov_len = piece;
		pos += piece;
		left -= piece;
	}
}

static void submit(struct worker *w, struct slot *s, uint32_t flags)
{
	switch (s->op) {
	case OP_READ:
		if (s->nseg == 1)
			blkioq_read(w->bq, s->off, s->iov[0].iov_base, s->len,
				    s, flags);
		else
			blkioq_readv(w->bq, s->off, s->iov, (int)s->nseg, s,
				     flags);
		break;
	case OP_WRITE:
		if (s->nseg == 1)
			blkioq_write(w->bq, s->off, s->iov[0].iov_base, s->len,
				     s, flags);
		else
			blkioq_writev(w->bq, s->off, s->iov, (int)s->nseg, s,
				      flags);
		break;
	case OP_ZEROES:
		blkioq_write_zeroes(w->bq, s->off, s->len, s, flags);
		break;
	case OP_DISCARD:
		blkioq_discard(w->bq, s->off, s->len, s, flags);
		break;
	case OP_FLUSH:
		blkioq_flush(w->bq, s, flags);
		break;
	}
	s->busy = true;
	w->inflight++;
}

static void check_read(struct worker *w, struct slot *s)
{
	uint64_t off = s->off;

	for (unsigned int k = 0; k < s->nseg; k++) {
		const void *p = s->iov[k].iov_base;
		size_t len = s->iov[k].iov_len;
		int64_t bad = s->zeroes ? zero_diff(p, len) :
					  pattern_diff(s->seed, off, p, len);

		if (bad >= 0) {
			fail("queue %u: byte %" PRIu64 " of the disk differs "
			     "(read of %zu bytes at %" PRIu64 ", %u pieces, "
			     "expected %s %" PRIu64 ")",
			     w->q, off + (uint64_t)bad, s->len, s->off, s->nseg,
			     s->zeroes ? "zeroes, not seed" : "seed",
			     s->zeroes ? 0 : s->seed);
			return;
		}
		off += len;
	}
}

/* Reap at least @min completions. */
static void reap(struct worker *w, int min)
{
	struct blkio_completion c[MAX_QD];
	int n;

	n = blkioq_do_io(w->bq, c, min, MAX_QD, NULL);
	if (n < 0)
		die("queue %u: blkioq_do_io: %s (%s)", w->q, strerror(-n),
		    blkio_get_error_msg());
	for (int i = 0; i < n; i++) {
		struct slot *s = c[i].user_data;

		s->busy = false;
		w->inflight--;
		w->ios++;
		if (c[i].ret < 0) {
			/* A device without discard may say so. */
			if (s->op == OP_DISCARD &&
			    (c[i].ret == -ENOTSUP || c[i].ret == -EOPNOTSUPP))
				continue;
			fail("queue %u: op %d at %" PRIu64 " len %zu: %s (%s)",
			     w->q, (int)s->op, s->off, s->len,
			     strerror(-c[i].ret),
			     c[i].error_msg ? c[i].error_msg : "");
			continue;
		}
		if (s->op == OP_READ && opt.mode != MODE_BENCH)
			check_read(w, s);
	}
}

static struct slot *free_slot(struct worker *w)
{
	if (w->inflight == opt.qd)
		reap(w, 1);
	for (unsigned int i = 0; i < opt.qd; i++)
		if (!w->slots[i].busy)
			return &w->slots[i];
	die("queue %u: no free slot", w->q);
}

static void drain(struct worker *w)
{
	while (w->inflight)
		reap(w, 1);
}

static size_t chunk_len(struct worker *w, uint64_t off)
{
	size_t max = CHUNK_MAX;
	uint64_t units;

	if (max_transfer && max_transfer < max)
		max = max_transfer / align_req * align_req;
	if (max > w->end - off)
		max = (size_t)(w->end - off);
	units = max / align_req;
	/* Mostly small, sometimes the largest. */
	if (rnd(&w->rs) % 8 == 0)
		return (size_t)(units * align_req);
	return (size_t)(rnd_range(&w->rs, 1, units < 64 ? units : 64) *
			align_req);
}

/* Write [from, to) with @seed, in random chunks. */
static void pass_write(struct worker *w, uint64_t from, uint64_t to,
		       uint64_t seed)
{
	uint64_t off = from;
	uint64_t end = w->end;

	w->end = to;
	while (off < to && !atomic_load(&failed)) {
		struct slot *s = free_slot(w);
		uint32_t flags = 0;

		s->op = OP_WRITE;
		s->off = off;
		s->len = chunk_len(w, off);
		slot_layout(w, s, (unsigned int)rnd_range(&w->rs, 1, MAX_SEGS));
		for (unsigned int k = 0, o = 0; k < s->nseg; k++) {
			pattern_fill(seed, off + o, s->iov[k].iov_base,
				     s->iov[k].iov_len);
			o += (unsigned int)s->iov[k].iov_len;
		}
		if (rnd(&w->rs) % 7 == 0)
			flags |= BLKIO_REQ_FUA;
		submit(w, s, flags);
		off += s->len;
	}
	drain(w);
	w->end = end;
}

/* Read [from, to) and compare with @seed (or zeroes), in random chunks. */
static void pass_read(struct worker *w, uint64_t from, uint64_t to,
		      uint64_t seed, bool zeroes, bool swap)
{
	uint64_t off = from, n = 0;
	uint64_t end = w->end;

	w->end = to;
	while (off < to && !atomic_load(&failed)) {
		struct slot *s = free_slot(w);

		/*
		 * Now and then give an idle slot a new region: the
		 * daemon's mappings change under the running queues.
		 */
		if (swap && ++n % 24 == 0) {
			unsigned int i = (unsigned int)(s - w->slots);
			int ret;

			region_free(&s->rg);
			ret = slot_alloc(w, i, (unsigned int)++w->swaps);
			if (ret < 0)
				die("queue %u: new region: %s (%s)", w->q,
				    strerror(-ret), blkio_get_error_msg());
		}
		s->op = OP_READ;
		s->off = off;
		s->len = chunk_len(w, off);
		s->seed = seed;
		s->zeroes = zeroes;
		slot_layout(w, s, (unsigned int)rnd_range(&w->rs, 1, MAX_SEGS));
		memset(s->rg.r.addr, 0xa5, s->rg.r.len);
		submit(w, s, 0);
		off += s->len;
	}
	drain(w);
	w->end = end;
}

static void one_op(struct worker *w, enum op op, uint64_t off, size_t len)
{
	struct slot *s = free_slot(w);

	s->op = op;
	s->off = off;
	s->len = len;
	s->nseg = 0;
	submit(w, s, 0);
	drain(w);
}

static void *check_thread(void *arg)
{
	struct worker *w = arg;
	uint64_t span = w->end - w->start;

	if (opt.expect || opt.mode == MODE_VERIFY)
		pass_read(w, w->start, w->end,
			  opt.mode == MODE_VERIFY ? opt.seed : opt.expect_seed,
			  false, false);
	if (opt.mode == MODE_VERIFY)
		return NULL;
	pass_write(w, w->start, w->end, opt.seed);
	one_op(w, OP_FLUSH, 0, 0);
	if (opt.mode == MODE_FILL)
		return NULL;
	pass_read(w, w->start, w->end, opt.seed, false, true);
	/* Zeroes and discard in the middle, then the pattern again. */
	if (span >= 16 * align_req && !atomic_load(&failed)) {
		uint64_t a = w->start + span / 4 / align_req * align_req;
		uint64_t len = span / 8 / align_req * align_req;

		one_op(w, OP_ZEROES, a, len);
		pass_read(w, a, a + len, 0, true, false);
		one_op(w, OP_DISCARD, a + len, len);
		pass_write(w, a, a + 2 * len, opt.seed);
		pass_read(w, w->start, w->end, opt.seed, false, false);
	}
	return NULL;
}

static void *bench_thread(void *arg)
{
	struct worker *w = arg;
	uint64_t blocks = (w->end - w->start) / opt.bs, next = 0;
	bool rnd_off = opt.bench == B_RANDREAD || opt.bench == B_RANDWRITE;
	enum op op = opt.bench == B_READ || opt.bench == B_RANDREAD ?
			     OP_READ : OP_WRITE;

	/* Keep qd requests in flight until told to stop. */
	while (!atomic_load_explicit(&stop_bench, memory_order_relaxed) &&
	       !atomic_load(&failed)) {
		while (w->inflight < opt.qd) {
			struct slot *s = NULL;
			uint64_t blk;

			for (unsigned int i = 0; i < opt.qd; i++)
				if (!w->slots[i].busy) {
					s = &w->slots[i];
					break;
				}
			blk = rnd_off ? rnd(&w->rs) % blocks : next++ % blocks;
			s->op = op;
			s->off = w->start + blk * opt.bs;
			s->len = opt.bs;
			s->nseg = 1;
			s->iov[0].iov_base = s->rg.r.addr;
			s->iov[0].iov_len = opt.bs;
			submit(w, s, 0);
		}
		reap(w, 1);
		w->bytes = w->ios * opt.bs;
	}
	drain(w);
	w->bytes = w->ios * opt.bs;
	return NULL;
}

/* ---- set up and run ---- */

/* One request on queue 0, waited for (30 s at most): its result. */
static int sync_io(bool write, void *buf, size_t len)
{
	struct blkioq *q = blkio_get_queue(b, 0);
	struct blkio_completion c;
	struct timespec ts = { 30, 0 };
	int n;

	if (write)
		blkioq_write(q, 0, buf, len, NULL, 0);
	else
		blkioq_read(q, 0, buf, len, NULL, 0);
	n = blkioq_do_io(q, &c, 1, 1, &ts);
	if (n != 1)
		die("%s: no completion in 30 s (%d)", write ? "write" : "read",
		    n);
	return c.ret;
}

static int shrink(void)
{
	const size_t len = 65536;
	struct region bad, good;
	int wret, rret;
	int64_t at;

	if (region_new(&bad, len, 2) < 0 || region_new(&good, len, 0) < 0)
		die("memory region: %s", blkio_get_error_msg());
	memset(bad.r.addr, 0xa5, len);
	/* The region's file, gone under the daemon's mapping of it. */
	if (ftruncate(bad.r.fd, 0))
		die("ftruncate: %s", strerror(errno));
	wret = sync_io(true, bad.r.addr, len);
	memset(good.r.addr, 0x11, len);
	rret = sync_io(false, good.r.addr, len);
	if (rret)
		fail("read after the write from truncated memory: %s",
		     strerror(-rret));
	else if (!wret && (at = zero_diff(good.r.addr, len)) >= 0)
		fail("the write from truncated memory left %#x at byte %" PRId64
		     ", not zeros", ((uint8_t *)good.r.addr)[at], at);
	else
		printf("blkio-check: shrink: write from truncated memory: %s; read back: %s\n",
		       wret ? strerror(-wret) : "ok",
		       wret ? "ok" : "zeros");
	region_free(&bad);
	region_free(&good);
	blkio_destroy(&b);
	return atomic_load(&failed) ? 1 : 0;
}

static uint64_t parse_size(const char *s)
{
	char *end;
	uint64_t v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s)
		goto bad;
	switch (*end) {
	case 'k': case 'K': v <<= 10; end++; break;
	case 'm': case 'M': v <<= 20; end++; break;
	case 'g': case 'G': v <<= 30; end++; break;
	}
	if (*end)
		goto bad;
	return v;
bad:
	fprintf(stderr, "blkio-check: bad size '%s'\n", s);
	exit(2);
}

static void usage(FILE *f)
{
	fputs(
"Usage: blkio-check [--path DEV] [--queues N] [--qd N] [--size BYTES]\n"
"                   [--seed S] [--expect S] [--fill | --verify]\n"
"       blkio-check --bench read|write|randread|randwrite [--bs BYTES]\n"
"                   [--qd N] [--queues N] [--seconds S] [--size BYTES]\n"
"       blkio-check --pattern SEED --size BYTES   (the pattern, to stdout)\n"
"       blkio-check --shrink   (a client that truncates its memory file)\n"
"\n"
"A libblkio (virtio-blk-vhost-vdpa) client for vdk's vhost bus.  Default\n"
"DEV /dev/vhost-vdpa-0, 1 queue, queue depth 16, the first 64 MiB of the\n"
"disk (--size 0: all of it; bench: all of it), seed 1.  Check mode writes\n"
"the seed's pattern, reads it back and compares; --expect S first checks\n"
"the pattern S of an earlier run; --fill only writes, --verify only\n"
"compares.  Bench mode prints one JSON line.\n"
"Exit: 0 good, 1 mismatch or I/O error, 2 usage, 77 no such device.\n", f);
}

static void get_props(void)
{
	int i, ret;

	ret = blkio_get_uint64(b, "capacity", &capacity);
	if (ret < 0)
		die("capacity: %s", blkio_get_error_msg());
	if (blkio_get_int(b, "request-alignment", &i) == 0 && i > 0)
		align_req = (size_t)i;
	if (blkio_get_int(b, "buf-alignment", &i) == 0 && i > 0)
		align_buf = (size_t)i;
	if (blkio_get_int(b, "mem-region-alignment", &i) == 0 && i > 0)
		align_region = (size_t)i;
	if (blkio_get_int(b, "max-transfer", &i) == 0 && i > 0)
		max_transfer = (size_t)i;
	if (blkio_get_int(b, "max-segments", &i) == 0 && i > 0 &&
	    i < MAX_SEGS)
		max_segs = (unsigned int)i;
	if (align_req < 512)
		align_req = 512;
}

static void print_pattern(void)
{
	static uint64_t buf[8192];
	uint64_t off = 0;

	if (!opt.size || opt.size % 8)
		die("--pattern needs --size, a multiple of 8");
	while (off < opt.size) {
		size_t n = sizeof(buf);

		if (n > opt.size - off)
			n = (size_t)(opt.size - off);
		pattern_fill(opt.seed, off, buf, n);
		if (fwrite(buf, 1, n, stdout) != n)
			die("write: %s", strerror(errno));
		off += n;
	}
	if (fflush(stdout))
		die("write: %s", strerror(errno));
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "path", required_argument, NULL, 'p' },
		{ "queues", required_argument, NULL, 'q' },
		{ "qd", required_argument, NULL, 'd' },
		{ "size", required_argument, NULL, 's' },
		{ "seed", required_argument, NULL, 'S' },
		{ "expect", required_argument, NULL, 'e' },
		{ "fill", no_argument, NULL, 'F' },
		{ "verify", no_argument, NULL, 'V' },
		{ "pattern", required_argument, NULL, 'P' },
		{ "bench", required_argument, NULL, 'B' },
		{ "bs", required_argument, NULL, 'b' },
		{ "seconds", required_argument, NULL, 't' },
		{ "quiet", no_argument, NULL, 'Q' },
		{ "shrink", no_argument, NULL, 'K' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct worker *ws;
	bool pattern = false;
	uint64_t t0, t1, span, ios = 0, bytes = 0;
	int c, ret;

	while ((c = getopt_long(argc, argv, "h", lopts, NULL)) != -1) {
		switch (c) {
		case 'p': opt.path = optarg; break;
		case 'q': opt.queues = (unsigned int)parse_size(optarg); break;
		case 'd': opt.qd = (unsigned int)parse_size(optarg); break;
		case 's': opt.size = parse_size(optarg); break;
		case 'S': opt.seed = parse_size(optarg); break;
		case 'e':
			opt.expect = true;
			opt.expect_seed = parse_size(optarg);
			break;
		case 'F': opt.mode = MODE_FILL; break;
		case 'V': opt.mode = MODE_VERIFY; break;
		case 'P':
			pattern = true;
			opt.seed = parse_size(optarg);
			break;
		case 'B':
			opt.mode = MODE_BENCH;
			opt.bench_name = optarg;
			if (!strcmp(optarg, "read"))
				opt.bench = B_READ;
			else if (!strcmp(optarg, "write"))
				opt.bench = B_WRITE;
			else if (!strcmp(optarg, "randread"))
				opt.bench = B_RANDREAD;
			else if (!strcmp(optarg, "randwrite"))
				opt.bench = B_RANDWRITE;
			else {
				fprintf(stderr, "blkio-check: bad --bench '%s'\n",
					optarg);
				return 2;
			}
			break;
		case 'b': opt.bs = parse_size(optarg); break;
		case 't': opt.seconds = (unsigned int)parse_size(optarg); break;
		case 'Q': opt.quiet = true; break;
		case 'K': opt.mode = MODE_SHRINK; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "blkio-check: unexpected argument '%s'\n",
			argv[optind]);
		return 2;
	}
	if (pattern) {
		print_pattern();
		return 0;
	}
	if (opt.queues < 1 || opt.queues > MAX_QUEUES || opt.qd < 1 ||
	    opt.qd > MAX_QD || opt.seconds < 1 || opt.bs < 512 ||
	    opt.bs > CHUNK_MAX || opt.bs % 512) {
		fprintf(stderr, "blkio-check: queues 1..64, qd 1..256, "
			"seconds >= 1, bs a multiple of 512 up to 256K\n");
		return 2;
	}
	if (access(opt.path, F_OK)) {
		fprintf(stderr, "blkio-check: %s: %s\n", opt.path,
			strerror(errno));
		return 77;
	}

	ret = blkio_create("virtio-blk-vhost-vdpa", &b);
	if (ret < 0)
		die("blkio_create: %s", blkio_get_error_msg());
	ret = blkio_set_str(b, "path", opt.path);
	if (ret < 0)
		die("path: %s", blkio_get_error_msg());
	ret = blkio_connect(b);
	if (ret < 0)
		die("connect %s: %s", opt.path, blkio_get_error_msg());
	ret = blkio_set_int(b, "num-queues", (int)opt.queues);
	if (ret < 0)
		die("num-queues %u: %s", opt.queues, blkio_get_error_msg());
	ret = blkio_start(b);
	if (ret < 0)
		die("start: %s", blkio_get_error_msg());
	get_props();
	if (opt.mode == MODE_SHRINK)
		return shrink();
	if (opt.mode != MODE_BENCH && opt.size == 0 && capacity > (64u << 20))
		opt.size = 64u << 20;
	if (opt.size == 0 || opt.size > capacity)
		opt.size = capacity;
	if (opt.mode == MODE_BENCH && opt.bs % align_req)
		die("--bs must be a multiple of %zu", align_req);

	ws = calloc(opt.queues, sizeof(*ws));
	if (!ws)
		die("out of memory");
	span = opt.size / opt.queues / CHUNK_MAX * CHUNK_MAX;
	if (span < CHUNK_MAX)
		span = opt.size / opt.queues / align_req * align_req;
	if (span < 2 * align_req || span < opt.bs)
		die("--size too small for %u queues", opt.queues);
	for (unsigned int q = 0; q < opt.queues; q++) {
		struct worker *w = &ws[q];

		w->q = q;
		w->bq = blkio_get_queue(b, (int)q);
		if (!w->bq)
			die("queue %u: %s", q, blkio_get_error_msg());
		w->start = (uint64_t)q * span;
		w->end = w->start + span;
		w->rs = mix(opt.seed * 131 + q);
		for (unsigned int i = 0; i < opt.qd; i++) {
			ret = opt.mode == MODE_BENCH ?
				      region_new(&w->slots[i].rg, opt.bs, q + i) :
				      slot_alloc(w, i, 0);
			if (ret < 0)
				die("queue %u: memory region: %s (%s)", q,
				    strerror(-ret), blkio_get_error_msg());
		}
	}

	t0 = now_ns();
	for (unsigned int q = 0; q < opt.queues; q++) {
		ret = pthread_create(&ws[q].th, NULL,
				     opt.mode == MODE_BENCH ? bench_thread :
							      check_thread,
				     &ws[q]);
		if (ret)
			die("pthread_create: %s", strerror(ret));
	}
	if (opt.mode == MODE_BENCH) {
		struct timespec ts = { opt.seconds, 0 };

		while (nanosleep(&ts, &ts) && errno == EINTR)
			;
		atomic_store(&stop_bench, true);
	}
	for (unsigned int q = 0; q < opt.queues; q++) {
		pthread_join(ws[q].th, NULL);
		ios += ws[q].ios;
		bytes += ws[q].bytes;
	}
	t1 = now_ns();

	if (opt.mode == MODE_BENCH) {
		double s = (double)(t1 - t0) / 1e9;

		printf("{\"client\":\"blkio-check\",\"driver\":"
		       "\"virtio-blk-vhost-vdpa\",\"rw\":\"%s\",\"bs\":%zu,"
		       "\"qd\":%u,\"queues\":%u,\"seconds\":%.3f,"
		       "\"ios\":%" PRIu64 ",\"iops\":%.0f,\"mib_s\":%.1f,"
		       "\"errors\":%d}\n",
		       opt.bench_name, opt.bs, opt.qd, opt.queues, s, ios,
		       (double)ios / s, (double)ios * opt.bs / s / 1048576.0,
		       atomic_load(&failed) ? 1 : 0);
	} else if (!opt.quiet) {
		uint64_t swaps = 0;

		for (unsigned int q = 0; q < opt.queues; q++)
			swaps += ws[q].swaps;
		printf("blkio-check: %s %s: %u queues, qd %u, %" PRIu64
		       " MiB, seed %" PRIu64 ", %" PRIu64 " requests, %" PRIu64
		       " region swaps, %.1f s\n",
		       atomic_load(&failed) ? "FAILED" : "ok", opt.path,
		       opt.queues, opt.qd, span * opt.queues >> 20, opt.seed,
		       ios, swaps, (double)(t1 - t0) / 1e9);
	}
	for (unsigned int q = 0; q < opt.queues; q++)
		for (unsigned int i = 0; i < opt.qd; i++)
			region_free(&ws[q].slots[i].rg);
	free(ws);
	blkio_destroy(&b);
	return atomic_load(&failed) ? 1 : 0;
}
