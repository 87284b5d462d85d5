/* SPDX-License-Identifier: MIT */
/*
 * Backend "rbd" against a stand-in for librados and librbd defined here
 * (the program's own definitions win over the shared libraries): an image
 * in memory whose completions run on a thread of their own, as librbd's
 * do, and which can stall like a cluster whose OSDs are gone.
 *
 * Checks: parameters; the errors of open() for each thing the cluster can
 * refuse, and a cluster that never answers (bounded); every operation
 * against a model; two queues at once; a stall: bios fail with -EIO after
 * timeout= and not before, each exactly once, the late answers of librbd
 * neither complete them again nor write into their buffers, and I/O works
 * again once the stall ends; an image that grows reaches info() through
 * the update watch and its event.
 */
#include <errno.h>
#include <pthread.h>
#include <rados/librados.h>
#include <rbd/librbd.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

#define IMG_SIZE (8u << 20)

/* ---- the stand-in ---- */

/* What the next open meets (read in the probe's child too). */
static int fail_connect, fail_pool, fail_image;
static bool hang_connect;

static uint8_t *image;
static uint64_t image_size = IMG_SIZE;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static bool stalled;
static atomic_int completions_live;

enum { C_READ, C_WRITE, C_FLUSH, C_DISCARD, C_ZERO };

struct comp {
	rbd_callback_t cb;
	void *arg;
	ssize_t ret;
	int kind;
	uint64_t off, len;
	char *buf;     /* READ: where to land */
	uint8_t *data; /* WRITE: copied at submission */
	struct comp *next;
};

static struct comp *pending, **pending_tail = &pending;
static pthread_t worker;
static bool worker_up;

static void *worker_main(void *arg)
{
	struct comp *c;

	(void)arg;
	for (;;) {
		pthread_mutex_lock(&lock);
		while (!pending || stalled)
			pthread_cond_wait(&cond, &lock);
		c = pending;
		pending = c->next;
		if (!pending)
			pending_tail = &pending;
		pthread_mutex_unlock(&lock);

		switch (c->kind) {
		case C_READ:
			memcpy(c->buf, image + c->off, c->len);
			c->ret = c->len;
			break;
		case C_WRITE:
			memcpy(image + c->off, c->data, c->len);
			c->ret = c->len;
			break;
		case C_DISCARD:
		case C_ZERO:
			memset(image + c->off, 0, c->len);
			c->ret = 0;
			break;
		default:
			c->ret = 0;
			break;
		}
		c->cb(c, c->arg);
	}
	return NULL;
}

static void stall(bool on)
{
	pthread_mutex_lock(&lock);
	stalled = on;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock);
}

/* Nothing queued and nothing running (the worker is idle). */
static void drain_worker(void)
{
	for (int i = 0; i < 1000; i++) {
		pthread_mutex_lock(&lock);
		bool idle = !pending;
		pthread_mutex_unlock(&lock);
		if (idle && atomic_load(&completions_live) == 0)
			return;
		usleep(2000);
	}
	CHECK(!"the stand-in's completions never drained");
}

int rados_create(rados_t *cluster, const char *const id)
{
	(void)id;
	*cluster = (rados_t)&image;
	return 0;
}

int rados_conf_read_file(rados_t cluster, const char *path)
{
	return 0;
}

int rados_conf_parse_env(rados_t cluster, const char *var)
{
	return 0;
}

int rados_conf_set(rados_t cluster, const char *option, const char *value)
{
	return 0;
}

int rados_connect(rados_t cluster)
{
	while (hang_connect)
		pause();
	if (!worker_up) {
		CHECK(!pthread_create(&worker, NULL, worker_main, NULL));
		worker_up = true;
	}
	return fail_connect;
}

void rados_shutdown(rados_t cluster)
{
}

int rados_ioctx_create(rados_t cluster, const char *pool_name,
		       rados_ioctx_t *ioctx)
{
	if (fail_pool)
		return fail_pool;
	*ioctx = (rados_ioctx_t)&image_size;
	return 0;
}

void rados_ioctx_set_namespace(rados_ioctx_t io, const char *nspace)
{
}

void rados_ioctx_destroy(rados_ioctx_t io)
{
}

int rbd_open(rados_ioctx_t io, const char *name, rbd_image_t *img,
	     const char *snap_name)
{
	if (fail_image)
		return fail_image;
	*img = (rbd_image_t)&pending;
	return 0;
}

int rbd_open_read_only(rados_ioctx_t io, const char *name, rbd_image_t *img,
		       const char *snap_name)
{
	return rbd_open(io, name, img, snap_name);
}

int rbd_close(rbd_image_t img)
{
	return 0;
}

int rbd_stat(rbd_image_t img, rbd_image_info_t *info, size_t infosize)
{
	memset(info, 0, infosize);
	info->size = image_size;
	info->obj_size = 4 << 20;
	return 0;
}

int rbd_get_features(rbd_image_t img, uint64_t *features)
{
	*features = RBD_FEATURE_LAYERING | RBD_FEATURE_EXCLUSIVE_LOCK;
	return 0;
}

int rbd_get_flags(rbd_image_t img, uint64_t *flags)
{
	*flags = 0;
	return 0;
}

int rbd_get_size(rbd_image_t img, uint64_t *size)
{
	*size = image_size;
	return 0;
}

static rbd_update_callback_t watch_cb;
static void *watch_arg;

int rbd_update_watch(rbd_image_t img, uint64_t *handle,
		     rbd_update_callback_t cb, void *arg)
{
	watch_cb = cb;
	watch_arg = arg;
	*handle = 1;
	return 0;
}

int rbd_update_unwatch(rbd_image_t img, uint64_t handle)
{
	CHECK_EQ(handle, 1);
	watch_cb = NULL;
	return 0;
}

int rbd_aio_create_completion(void *cb_arg, rbd_callback_t cb,
			      rbd_completion_t *out)
{
	struct comp *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->cb = cb;
	c->arg = cb_arg;
	atomic_fetch_add(&completions_live, 1);
	*out = c;
	return 0;
}

void rbd_aio_release(rbd_completion_t c)
{
	struct comp *p = c;

	free(p->data);
	free(p);
	atomic_fetch_sub(&completions_live, 1);
}

ssize_t rbd_aio_get_return_value(rbd_completion_t c)
{
	return ((struct comp *)c)->ret;
}

static int queue_comp(struct comp *c, int kind, uint64_t off, uint64_t len)
{
	if (off > image_size || len > image_size - off)
		return -EINVAL;
	c->kind = kind;
	c->off = off;
	c->len = len;
	pthread_mutex_lock(&lock);
	c->next = NULL;
	*pending_tail = c;
	pending_tail = &c->next;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock);
	return 0;
}

int rbd_aio_read(rbd_image_t img, uint64_t off, size_t len, char *buf,
		 rbd_completion_t c)
{
	((struct comp *)c)->buf = buf;
	return queue_comp(c, C_READ, off, len);
}

int rbd_aio_writev(rbd_image_t img, const struct iovec *iov, int iovcnt,
		   uint64_t off, rbd_completion_t c)
{
	struct comp *p = c;
	uint64_t len = 0, done = 0;
	int i;

	for (i = 0; i < iovcnt; i++)
		len += iov[i].iov_len;
	/* As librbd without zero-copy: the data is ours from now on. */
	p->data = malloc(len ? len : 1);
	CHECK(p->data);
	for (i = 0; i < iovcnt; i++) {
		memcpy(p->data + done, iov[i].iov_base, iov[i].iov_len);
		done += iov[i].iov_len;
	}
	return queue_comp(c, C_WRITE, off, len);
}

int rbd_aio_flush(rbd_image_t img, rbd_completion_t c)
{
	return queue_comp(c, C_FLUSH, 0, 0);
}

int rbd_aio_discard(rbd_image_t img, uint64_t off, uint64_t len,
		    rbd_completion_t c)
{
	return queue_comp(c, C_DISCARD, off, len);
}

int rbd_aio_write_zeroes(rbd_image_t img, uint64_t off, size_t len,
			 rbd_completion_t c, int zero_flags, int op_flags)
{
	return queue_comp(c, C_ZERO, off, len);
}

/* ---- the tests ---- */

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void open_fails(int code, const char *part, const char *const *words)
{
	struct tb t;
	int ret = tb_open(&t, "rbd", words);

	if (ret != -code)
		fprintf(stderr, "expected %d, got %d (%s)\n", -code, ret,
			t.err);
	CHECK_EQ(ret, -code);
	check_err(&t, ret, part);
	CHECK(!strchr(t.err, '\n'));
	fprintf(stderr, "  %s\n", t.err);
}
#define OPEN_FAILS(code, part, ...) \
	open_fails((code), (part), (const char *const[]){ __VA_ARGS__, NULL })

static void test_params(void)
{
	struct tb t;
	double t0;

	OPEN_FAILS(EINVAL, "missing parameter image=", "pool=rbd");
	OPEN_FAILS(EINVAL, "image= must not be empty", "image=");
	OPEN_FAILS(EINVAL, "pool= must not be empty", "image=a", "pool=");
	OPEN_FAILS(EINVAL, "without 'client.'", "image=a",
		   "id=client.admin");
	OPEN_FAILS(ENOENT, "conf=/nonexistent/ceph.conf", "image=a",
		   "conf=/nonexistent/ceph.conf");
	OPEN_FAILS(ENOENT, "keyring=/nonexistent/k", "image=a",
		   "keyring=/nonexistent/k");
	OPEN_FAILS(EINVAL, "timeout", "image=a", "timeout=0");
	OPEN_FAILS(EINVAL, "timeout", "image=a", "timeout=soon");
	OPEN_FAILS(EINVAL, "block-size", "image=a", "block-size=1024");
	OPEN_FAILS(EINVAL, "readonly", "image=a", "readonly=perhaps");
	OPEN_FAILS(EINVAL, "unknown parameter 'uri'", "image=a", "uri=x");

	fail_connect = -ETIMEDOUT;
	OPEN_FAILS(ETIMEDOUT, "cannot reach the cluster's monitors",
		   "image=a", "timeout=1");
	fail_connect = -EACCES;
	OPEN_FAILS(EACCES, "the cluster refused client.vdk", "image=a",
		   "id=vdk");
	fail_connect = 0;
	fail_pool = -ENOENT;
	OPEN_FAILS(ENOENT, "no pool 'nosuch'", "image=a", "pool=nosuch");
	fail_pool = 0;
	fail_image = -ENOENT;
	OPEN_FAILS(ENOENT, "no image 'b' in pool 'p' namespace 'n'",
		   "image=b", "pool=p", "namespace=n");
	fail_image = 0;
	image_size = 100;
	OPEN_FAILS(EINVAL, "smaller than a block", "image=a");
	image_size = IMG_SIZE + 1000;

	/* A cluster that never answers: bounded, 2 * timeout + 5 s. */
	hang_connect = true;
	t0 = now();
	OPEN_FAILS(ETIMEDOUT, "no answer from the cluster within 7 s",
		   "image=a", "timeout=1");
	CHECK(now() - t0 < 12);
	hang_connect = false;

	CHECK_EQ(TB_OPEN(&t, "rbd", "image=a", "timeout=3"), 0);
	/* Rounded down to whole blocks. */
	CHECK_EQ(t.info.size, IMG_SIZE + 512);
	CHECK_EQ(t.info.block_size, 512);
	CHECK_EQ(t.info.opt_io_size, 4 << 20);
	CHECK(!t.info.read_only && t.info.can_flush && t.info.can_fua &&
	      t.info.can_discard && t.info.can_zero &&
	      t.info.can_zero_unmap && t.info.multi_queue);
	tb_close(&t);
	CHECK_EQ(TB_OPEN(&t, "rbd", "image=a", "readonly=on",
			 "block-size=4096"), 0);
	CHECK_EQ(t.info.size, IMG_SIZE);
	CHECK(t.info.read_only && !t.info.can_discard && !t.info.can_zero);
	tb_close(&t);
	image_size = IMG_SIZE;
}

static void start(struct tb *t)
{
	CHECK_EQ(t->ops->start(t->b, t->err, sizeof(t->err)), 0);
}

static void test_io(void)
{
	struct tb t;

	CHECK_EQ(TB_OPEN(&t, "rbd", "image=a"), 0);
	start(&t);
	conformance(&t);
	two_threads(&t);
	drain_worker();
	tb_close(&t);
}

/* A stall longer than timeout=: -EIO once, late answers harmless. */
static void test_stall(void)
{
	enum { N = 8 };
	struct tbio bios[N], *ptr[N], again;
	static uint8_t bufs[N][8192];
	struct iovec iov[N], iov2;
	uint8_t data[8192];
	struct tq q;
	struct tb t;
	double t0, t1;
	unsigned int i;

	CHECK_EQ(TB_OPEN(&t, "rbd", "image=a", "timeout=1"), 0);
	start(&t);
	tq_open(&q, &t, 4);
	memset(data, 0x5a, sizeof(data));
	iov2 = (struct iovec){ data, sizeof(data) };
	CHECK_EQ(tq_run(&q, VDK_BIO_WRITE, 0, 0, sizeof(data), &iov2, 1), 0);

	/* Twice the depth: the second half needs new ops. */
	stall(true);
	t0 = now();
	for (i = 0; i < N; i++) {
		memset(bufs[i], 0xee, sizeof(bufs[i]));
		iov[i] = (struct iovec){ bufs[i], sizeof(bufs[i]) };
		bios[i] = (struct tbio){ .bio = {
			.op = i % 2 ? VDK_BIO_WRITE : VDK_BIO_READ,
			.offset = 0, .len = sizeof(bufs[i]),
			.iov = &iov[i], .iovcnt = 1,
		} };
		ptr[i] = &bios[i];
		if (i == N / 2) {
			/* The first half times out; then the rest goes. */
			tq_wait(&q, ptr, N / 2);
			t1 = now();
			fprintf(stderr, "  %d bios failed after %.2f s\n",
				N / 2, t1 - t0);
			CHECK(t1 - t0 >= 0.95 && t1 - t0 < 3);
		}
		CHECK_EQ(tq_submit(&q, &bios[i]), 0);
	}
	CHECK_EQ(t.ops->queue_timeout(q.q) >= 0, 1);
	tq_wait(&q, ptr, N);
	for (i = 0; i < N; i++) {
		CHECK_EQ(bios[i].calls, 1);
		CHECK_EQ(bios[i].result, -EIO);
	}
	CHECK_EQ(t.ops->queue_timeout(q.q), -1);

	/* The cluster answers again: late answers complete nothing... */
	stall(false);
	drain_worker();
	CHECK(t.ops->reap(q.q) == 0);
	for (i = 0; i < N; i++) {
		CHECK_EQ(bios[i].calls, 1);
		/* ...and a read that failed kept its buffer untouched. */
		if (!(i % 2))
			CHECK(bufs[i][0] == 0xee && bufs[i][8191] == 0xee);
	}
	/* New I/O works, the writes that timed out landed after all. */
	memset(data, 0, sizeof(data));
	again = (struct tbio){ .bio = { .op = VDK_BIO_READ, .offset = 0,
					.len = sizeof(data), .iov = &iov2,
					.iovcnt = 1 } };
	ptr[0] = &again;
	CHECK_EQ(tq_submit(&q, &again), 0);
	tq_wait(&q, ptr, 1);
	CHECK_EQ(again.result, 0);
	CHECK(data[0] == 0xee && data[8191] == 0xee);

	/* Closing with bios in a stall fails them, once. */
	stall(true);
	for (i = 0; i < 2; i++) {
		bios[i] = (struct tbio){ .bio = {
			.op = VDK_BIO_READ, .offset = 0, .len = 4096,
			.iov = &iov[i], .iovcnt = 1,
		} };
		iov[i].iov_len = 4096;
		CHECK_EQ(tq_submit(&q, &bios[i]), 0);
	}
	/* The stall ends while the queue waits for librbd. */
	t0 = now();
	stall(false);
	t.ops->queue_close(q.q);
	CHECK_EQ(bios[0].calls, 1);
	CHECK_EQ(bios[1].calls, 1);
	CHECK_EQ(bios[0].result, -EIO);
	fprintf(stderr, "  queue closed in %.2f s\n", now() - t0);
	drain_worker();
	tb_close(&t);
}

static int resized;

static void on_event(void *opaque, enum vdk_backend_event ev,
		     unsigned int qidx)
{
	CHECK(opaque == &resized);
	CHECK_EQ(ev, VDK_BACKEND_EV_RESIZED);
	CHECK_EQ(qidx, 0);
	resized++;
}

/*
 * An image that grows: the update watch (set up only when someone
 * listens to set_events) tells of it, and info() then says the new size.
 * No signal reaches the process.
 */
static void test_resize(void)
{
	struct vdk_backend_events ev = { .fn = on_event, .opaque = &resized };
	struct vdk_backend_info info;
	sigset_t waiting;
	struct tb t;

	CHECK_EQ(TB_OPEN(&t, "rbd", "image=a"), 0);
	start(&t);
	CHECK(!watch_cb);
	tb_close(&t);

	CHECK_EQ(TB_OPEN(&t, "rbd", "image=a"), 0);
	CHECK(t.ops->set_events);
	t.ops->set_events(t.b, &ev);
	start(&t);
	CHECK(watch_cb);
	image_size = IMG_SIZE + 4096;
	watch_cb(watch_arg);
	CHECK_EQ(resized, 1);
	CHECK(!sigpending(&waiting));
	CHECK(sigismember(&waiting, SIGHUP) == 0);
	CHECK_EQ(t.ops->info(t.b, &info), 0);
	CHECK_EQ(info.size, IMG_SIZE + 4096);
	tb_close(&t);
	CHECK(!watch_cb);
	image_size = IMG_SIZE;
}

int main(void)
{
	sigset_t set;

	/* As the daemon: SIGHUP blocked before any thread starts. */
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	CHECK(!pthread_sigmask(SIG_BLOCK, &set, NULL));
	signal(SIGPIPE, SIG_IGN);
	image = calloc(1, IMG_SIZE + 4096);
	CHECK(image);
	test_params();
	test_io();
	test_stall();
	test_resize();
	fprintf(stderr, "test-rbd: ok\n");
	return T_EXIT_PASS;
}
