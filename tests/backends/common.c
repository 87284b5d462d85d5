/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

#define MAX_MODEL (16u << 20)
#define MAX_SPLIT 64

static void tb_log(void *opaque, int level, const char *msg)
{
	struct tb *t = opaque;
	int n;

	fprintf(stderr, "  [backend log, level %d] %s\n", level, msg);
	n = snprintf(t->log + t->log_len, sizeof(t->log) - t->log_len,
		     "%s\n", msg);
	if (n > 0 && (size_t)n < sizeof(t->log) - t->log_len)
		t->log_len += (size_t)n;
}

bool tb_logged(const struct tb *t, const char *part)
{
	return strstr(t->log, part) != NULL;
}

void tb_log_clear(struct tb *t)
{
	t->log[0] = '\0';
	t->log_len = 0;
}

int tb_open(struct tb *t, const char *name, const char *const *words)
{
	struct vdk_params ps;
	int argc = 0, ret;

	memset(t, 0, sizeof(*t));
	while (words[argc])
		argc++;
	t->ops = vdk_backend_find(name);
	CHECK(t->ops);
	ret = vdk_params_parse(&ps, argc, (char *const *)words, t->err,
			       sizeof(t->err));
	if (ret)
		return ret;
	ret = t->ops->open(&ps, &t->b, t->err, sizeof(t->err));
	if (!ret) {
		ret = vdk_params_check_unused(&ps, t->err, sizeof(t->err));
		if (ret) {
			t->ops->close(t->b);
			t->b = NULL;
		}
	}
	vdk_params_free(&ps);
	if (!ret) {
		CHECK_EQ(t->ops->info(t->b, &t->info), 0);
		CHECK(t->info.size);
		if (t->ops->set_log)
			t->ops->set_log(t->b, &(struct vdk_backend_log){
				.fn = tb_log,
				.opaque = t,
				.level = VDK_LOG_DEBUG,
			});
	}
	return ret;
}

void tb_close(struct tb *t)
{
	t->ops->close(t->b);
	t->b = NULL;
}

void check_err(const struct tb *t, int ret, const char *part)
{
	if (ret >= 0 || !strstr(t->err, part)) {
		fprintf(stderr, "expected an error with '%s', got %d '%s'\n",
			part, ret, t->err);
		exit(T_EXIT_FAIL);
	}
}

void tq_open(struct tq *q, struct tb *t, unsigned int depth)
{
	memset(q, 0, sizeof(*q));
	q->t = t;
	q->depth = depth;
	CHECK_EQ(t->ops->queue_open(t->b, 0, depth, &q->q), 0);
	q->fd = t->ops->queue_fd ? t->ops->queue_fd(q->q) : -1;
}

void tq_close(struct tq *q)
{
	/* Nothing may complete late. */
	if (q->t->ops->reap)
		CHECK_EQ(q->t->ops->reap(q->q), 0);
	q->t->ops->queue_close(q->q);
}

static void tbio_done(struct vdk_bio *bio, int result)
{
	struct tbio *tb = (struct tbio *)bio;

	tb->calls++;
	tb->result = result;
}

int tq_submit(struct tq *q, struct tbio *tb)
{
	const struct vdk_backend_ops *ops = q->t->ops;
	int (*fn)(struct vdk_bq *, struct vdk_bio *) = NULL;

	tb->calls = 0;
	tb->result = 1;
	tb->bio.done = tbio_done;
	switch (tb->bio.op) {
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
	CHECK(fn);
	return fn(q->q, &tb->bio);
}

void tq_commit(struct tq *q)
{
	if (q->t->ops->commit)
		CHECK_EQ(q->t->ops->commit(q->q), 0);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

void tq_wait(struct tq *q, struct tbio *const *bios, unsigned int n)
{
	const struct vdk_backend_ops *ops = q->t->ops;
	double deadline = now() + 10;
	unsigned int i, left;

	for (;;) {
		left = 0;
		for (i = 0; i < n; i++) {
			CHECK(bios[i]->calls <= 1);
			left += !bios[i]->calls;
		}
		if (!left)
			break;
		CHECK(ops->reap);
		CHECK(now() < deadline);
		if (q->fd >= 0) {
			struct pollfd pfd = { .fd = q->fd, .events = POLLIN };

			poll(&pfd, 1, 100);
		}
		CHECK(ops->reap(q->q) >= 0);
	}
}

int tq_run(struct tq *q, uint8_t op, uint8_t flags, uint64_t offset,
	   uint64_t len, const struct iovec *iov, unsigned int iovcnt)
{
	struct tbio tb = {
		.bio = {
			.op = op,
			.flags = flags,
			.offset = offset,
			.len = len,
			.iov = iov,
			.iovcnt = iovcnt,
		},
	};
	struct tbio *p = &tb;
	int ret;

	ret = tq_submit(q, &tb);
	if (ret) {
		CHECK_EQ(tb.calls, 0);
		return ret;
	}
	tq_commit(q);
	tq_wait(q, &p, 1);
	/* And never again. */
	if (q->t->ops->reap)
		CHECK(q->t->ops->reap(q->q) >= 0);
	CHECK_EQ(tb.calls, 1);
	CHECK(tb.result <= 0);
	return tb.result;
}

/* Cut @len bytes of @buf into iovecs of odd sizes; returns the count. */
static unsigned int split(struct iovec *iov, void *buf, uint64_t len,
			  unsigned int seed)
{
	static const size_t odd[] = { 1, 511, 3, 4096, 100, 1000, 8191, 13,
				      512, 0, 7, 65536 };
	char *p = buf;
	unsigned int n = 0, k = seed;

	while (len) {
		size_t l;

		if (seed % 3 == 0)
			l = 4096 * (1 + k % 4);
		else
			l = odd[k % (sizeof(odd) / sizeof(odd[0]))];
		k = k * 7 + 3;
		if (l > len || n == MAX_SPLIT - 1)
			l = len;
		iov[n].iov_base = p;
		iov[n].iov_len = l;
		n++;
		p += l;
		len -= l;
	}
	return n;
}

int tq_rw_split(struct tq *q, uint8_t op, uint8_t flags, uint64_t offset,
		void *buf, uint64_t len, unsigned int seed)
{
	struct iovec iov[MAX_SPLIT];
	unsigned int n = split(iov, buf, len, seed);

	return tq_run(q, op, flags, offset, len, iov, n);
}

void pat_fill(void *buf, uint64_t len, uint64_t off, unsigned int seed)
{
	uint8_t *p = buf;
	uint64_t i;

	for (i = 0; i < len; i++)
		p[i] = pat(off + i, seed);
}

void check_bytes(const void *got, const void *want, uint64_t len,
		 uint64_t dev_off, const char *what)
{
	const uint8_t *g = got, *w = want;
	uint64_t i;

	if (!memcmp(got, want, len))
		return;
	for (i = 0; g[i] == w[i]; i++)
		;
	fprintf(stderr, "%s: byte %llu (device offset %llu): got 0x%02x, want 0x%02x\n",
		what, (unsigned long long)i,
		(unsigned long long)(dev_off + i), g[i], w[i]);
	exit(T_EXIT_FAIL);
}

static void *xalloc(uint64_t len)
{
	void *p = NULL;

	CHECK(!posix_memalign(&p, 4096, len ? len : 1));
	return p;
}

/* A pseudo-random sequence, the same on every run. */
static uint64_t rnd(uint64_t *s)
{
	*s = *s * 6364136223846793005ull + 1442695040888963407ull;
	return *s >> 33;
}

/* Read [off, off + len) in one piece and compare with the model. */
static void verify(struct tq *q, const uint8_t *model, uint64_t off,
		   uint64_t len, unsigned int seed, const char *what)
{
	uint8_t *buf = xalloc(len);

	memset(buf, 0xa5, len);
	CHECK_EQ(tq_rw_split(q, VDK_BIO_READ, 0, off, buf, len, seed), 0);
	check_bytes(buf, model + off, len, off, what);
	free(buf);
}

static bool all_zero(const uint8_t *p, uint64_t len)
{
	return !len || (!p[0] && !memcmp(p, p + 1, len - 1));
}

/*
 * A discarded block reads back either as it was or as zeros (virtio
 * promises no more): take the zeros into the model.
 */
static void discarded(struct tq *q, uint8_t *model, uint8_t *buf,
		      uint64_t off, uint64_t len)
{
	uint64_t bs = q->t->info.block_size, i;

	CHECK_EQ(tq_rw_split(q, VDK_BIO_READ, 0, off, buf, len, 0), 0);
	for (i = 0; i < len; i += bs) {
		if (all_zero(buf + i, bs))
			memset(model + off + i, 0, bs);
		else
			check_bytes(buf + i, model + off + i, bs, off + i,
				    "discarded block");
	}
}

void conformance(struct tb *t)
{
	uint64_t size = t->info.size, bs = t->info.block_size, off, len;
	struct tbio *batch[32], bios[32];
	struct iovec iovs[32];
	struct tq q;
	uint8_t *model, *buf;
	uint64_t r = 12345;
	unsigned int i;
	int ret;

	CHECK(size <= MAX_MODEL && size >= 64 * bs);
	CHECK(!t->info.read_only && t->info.can_zero);
	tq_open(&q, t, 32);
	model = xalloc(size);
	buf = xalloc(size);

	/* The whole device, in pieces of varying sizes and splits. */
	pat_fill(model, size, 0, 1);
	for (off = 0, i = 0; off < size; off += len, i++) {
		len = bs * (1 + rnd(&r) % 300);
		if (len > size - off)
			len = size - off;
		CHECK_EQ(tq_rw_split(&q, VDK_BIO_WRITE, 0, off, model + off,
				     len, i), 0);
	}
	verify(&q, model, 0, size, 1, "whole device");
	verify(&q, model, 0, size, 3, "whole device, aligned pieces");

	/* Single ops against the model, the end of the device often. */
	for (i = 0; i < 160; i++) {
		unsigned int kind = rnd(&r) % 8;

		len = bs * (1 + rnd(&r) % 64);
		if (len > size)
			len = size;
		off = rnd(&r) % 4 ? bs * (rnd(&r) % ((size - len) / bs + 1)) :
				    size - len;
		switch (kind) {
		case 0:
		case 1:
		case 2:
			pat_fill(model + off, len, off, 100 + i);
			ret = tq_rw_split(&q, VDK_BIO_WRITE,
					  kind == 2 ? VDK_BIO_F_FUA : 0, off,
					  model + off, len, i);
			CHECK_EQ(ret, 0);
			break;
		case 3:
			verify(&q, model, off, len, i, "read");
			break;
		case 4:
			CHECK_EQ(tq_run(&q, VDK_BIO_DISCARD, 0, off, len,
					NULL, 0), 0);
			discarded(&q, model, buf, off, len);
			break;
		case 5:
		case 6:
			CHECK_EQ(tq_run(&q, VDK_BIO_ZERO,
					kind == 6 ? VDK_BIO_F_UNMAP : 0, off,
					len, NULL, 0), 0);
			memset(model + off, 0, len);
			break;
		case 7:
			CHECK_EQ(tq_run(&q, VDK_BIO_FLUSH, 0, 0, 0, NULL, 0),
				 0);
			break;
		}
		verify(&q, model, off, len, i + 1, "after an op");
	}

	/* Large zeroing, unaligned to pages, both ways. */
	off = 3 * bs;
	len = size - 7 * bs;
	pat_fill(model, size, 0, 7);
	CHECK_EQ(tq_rw_split(&q, VDK_BIO_WRITE, 0, 0, model, size, 3), 0);
	CHECK_EQ(tq_run(&q, VDK_BIO_ZERO, VDK_BIO_F_UNMAP, off, len, NULL, 0),
		 0);
	memset(model + off, 0, len);
	verify(&q, model, 0, size, 3, "after a large zero with unmap");
	pat_fill(model, size, 0, 8);
	CHECK_EQ(tq_rw_split(&q, VDK_BIO_WRITE, 0, 0, model, size, 3), 0);
	CHECK_EQ(tq_run(&q, VDK_BIO_ZERO, 0, off, len, NULL, 0), 0);
	memset(model + off, 0, len);
	verify(&q, model, 0, size, 3, "after a large zero");

	/* Many in flight at once, on separate ranges, one commit. */
	len = size / 32 / bs * bs;
	pat_fill(model, size, 0, 9);
	for (i = 0; i < 32; i++) {
		/* Each its own iovec: it must stay valid until done(). */
		iovs[i].iov_base = model + i * len;
		iovs[i].iov_len = len;
		bios[i] = (struct tbio){ .bio = {
			.op = VDK_BIO_WRITE,
			.offset = i * len,
			.len = len,
			.iov = &iovs[i],
			.iovcnt = 1,
		} };
		batch[i] = &bios[i];
		CHECK_EQ(tq_submit(&q, &bios[i]), 0);
	}
	tq_commit(&q);
	tq_wait(&q, batch, 32);
	for (i = 0; i < 32; i++)
		CHECK_EQ(bios[i].result, 0);
	memset(buf, 0, size);
	for (i = 0; i < 32; i++) {
		bios[i].bio.op = VDK_BIO_READ;
		iovs[i].iov_base = buf + i * len;
		CHECK_EQ(tq_submit(&q, &bios[i]), 0);
	}
	tq_commit(&q);
	tq_wait(&q, batch, 32);
	for (i = 0; i < 32; i++) {
		CHECK_EQ(bios[i].result, 0);
		CHECK_EQ(bios[i].calls, 1);
	}
	check_bytes(buf, model, 32 * len, 0, "batch");

	/* A bio outside the device, or whose iovecs do not add up. */
	CHECK_EQ(tq_run(&q, VDK_BIO_READ, 0, 0, bs,
			(struct iovec[]){ { buf, bs - 1 } }, 1), -EINVAL);

	tq_close(&q);
	free(buf);
	free(model);
}

struct half {
	struct tb *t;
	uint64_t base, len;
	uint8_t *model;
	unsigned int seed;
};

static void *half_thread(void *arg)
{
	struct half *h = arg;
	uint64_t bs = h->t->info.block_size, r = h->seed;
	struct tbio bios[8], *batch[8];
	struct iovec iovs[8];
	uint64_t chunk = h->len / 8 / bs * bs;
	uint8_t *buf = xalloc(h->len);
	struct tq q;
	unsigned int it, i;

	/* In this thread: a ring may be single-issuer. */
	tq_open(&q, h->t, 8);
	for (it = 0; it < 25; it++) {
		/* Eight writes at once, each of a random length. */
		for (i = 0; i < 8; i++) {
			uint64_t off = h->base + i * chunk;
			uint64_t len = bs * (1 + rnd(&r) % (chunk / bs));

			pat_fill(h->model + off - h->base, len, off,
				 h->seed + it);
			iovs[i].iov_base = h->model + off - h->base;
			iovs[i].iov_len = len;
			bios[i] = (struct tbio){ .bio = {
				.op = VDK_BIO_WRITE,
				.offset = off,
				.len = len,
				.iov = &iovs[i],
				.iovcnt = 1,
			} };
			batch[i] = &bios[i];
			CHECK_EQ(tq_submit(&q, &bios[i]), 0);
		}
		tq_commit(&q);
		tq_wait(&q, batch, 8);
		for (i = 0; i < 8; i++)
			CHECK_EQ(bios[i].result, 0);
		CHECK_EQ(tq_rw_split(&q, VDK_BIO_READ, 0, h->base, buf, h->len,
				     it), 0);
		check_bytes(buf, h->model, h->len, h->base, "thread");
	}
	tq_close(&q);
	free(buf);
	return NULL;
}

void two_threads(struct tb *t)
{
	uint64_t size = t->info.size, bs = t->info.block_size;
	struct half h[2];
	pthread_t th[2];
	uint8_t *buf;
	struct tq q;
	int i;

	CHECK(t->info.multi_queue);
	CHECK(size <= MAX_MODEL && size >= 128 * bs);
	for (i = 0; i < 2; i++) {
		h[i] = (struct half){
			.t = t,
			.base = i * (size / 2 / bs * bs),
			.len = size / 2 / bs * bs,
			.seed = 1000 * (i + 1),
		};
		h[i].model = xalloc(h[i].len);
	}
	/* Start from a known state. */
	tq_open(&q, t, 4);
	for (i = 0; i < 2; i++) {
		memset(h[i].model, 0, h[i].len);
		CHECK_EQ(tq_run(&q, VDK_BIO_WRITE, 0, h[i].base, h[i].len,
				(struct iovec[]){ { h[i].model, h[i].len } },
				1), 0);
	}
	tq_close(&q);

	for (i = 0; i < 2; i++)
		CHECK(!pthread_create(&th[i], NULL, half_thread, &h[i]));
	for (i = 0; i < 2; i++)
		CHECK(!pthread_join(th[i], NULL));

	tq_open(&q, t, 4);
	buf = xalloc(size);
	for (i = 0; i < 2; i++) {
		CHECK_EQ(tq_rw_split(&q, VDK_BIO_READ, 0, h[i].base, buf,
				     h[i].len, 5), 0);
		check_bytes(buf, h[i].model, h[i].len, h[i].base, "after");
		free(h[i].model);
	}
	free(buf);
	tq_close(&q);
}

/* Files to remove at exit, also when a CHECK fails. */
static char *tmp_paths[64];

static void tmp_cleanup(void)
{
	unsigned int i;

	for (i = 0; i < 64; i++) {
		if (tmp_paths[i])
			unlink(tmp_paths[i]);
		free(tmp_paths[i]);
		tmp_paths[i] = NULL;
	}
}

char *tmp_file(const char *dir, uint64_t size)
{
	static bool registered;
	char *path;
	unsigned int i;
	int fd;

	if (!dir)
		dir = getenv("TMPDIR");
	if (!dir || !*dir)
		dir = "/tmp";
	if (!registered) {
		atexit(tmp_cleanup);
		registered = true;
	}
	CHECK(asprintf(&path, "%s/vdk-test-XXXXXX", dir) > 0);
	fd = mkstemp(path);
	if (fd < 0) {
		free(path);
		return NULL;
	}
	for (i = 0; i < 64 && tmp_paths[i]; i++)
		;
	CHECK(i < 64);
	tmp_paths[i] = path;
	CHECK(!ftruncate(fd, size));
	close(fd);
	return path;
}

void check_zeroed(struct tq *q, uint8_t op, uint8_t flags, uint64_t size,
		  uint64_t off, uint64_t len)
{
	uint8_t *model = xalloc(size), *buf = xalloc(size);

	pat_fill(model, size, 0, 11);
	CHECK_EQ(tq_rw_split(q, VDK_BIO_WRITE, 0, 0, model, size, 3), 0);
	CHECK_EQ(tq_run(q, op, flags, off, len, NULL, 0), 0);
	memset(model + off, 0, len);
	memset(buf, 0xa5, size);
	CHECK_EQ(tq_rw_split(q, VDK_BIO_READ, 0, 0, buf, size, 3), 0);
	check_bytes(buf, model, size, 0, "zeroed range");
	free(buf);
	free(model);
}
