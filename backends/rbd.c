/* SPDX-License-Identifier: MIT */
/*
 * Backend "rbd": an image of a Ceph cluster, through librbd's asynchronous
 * API.
 *
 * librados and librbd start threads as soon as a cluster handle exists, and
 * open() runs before the daemon forks, where no thread may start.  So open()
 * checks the parameters, the cluster, the pool and the image in a child
 * process that connects, reads the image's size and features, reports them
 * through a pipe and exits; the child is bounded by timeout= (and killed if
 * it outlives that).  start(), after the fork, connects for real.
 *
 * All queues share one image handle (two handles of one client would fight
 * over the exclusive lock).  Each request is an op of its queue, given to
 * librbd with a completion whose callback runs on a librbd thread: the
 * callback only puts the op on the queue's done list and writes the queue's
 * eventfd.  reap(), in the queue's thread, completes the bios.  Nothing of
 * the ring is ever touched from a librbd thread.
 *
 * librbd cannot cancel a request.  A bio older than timeout= completes with
 * -EIO; its op stays with librbd, without a bio, until librbd answers, and
 * only then becomes free again (a new op is made meanwhile if the queue runs
 * short).  Reads therefore go through the op's own buffer, never straight
 * into the driver's memory: a late answer lands in memory we still own.
 * Writes are copied by librbd when submitted (zero-copy writes are turned
 * off below), so a late write reads nothing of the driver's.  When the
 * cluster comes back, librbd finishes what it held and new requests flow:
 * nothing needs attaching again.  The log (set_log) hears of both: the
 * requests failed by the timeout, a few seconds' worth to a line, and the
 * first read or flush answered after them.
 *
 * Online resize: an update watch on the image tells the device model
 * (set_events: VDK_BACKEND_EV_RESIZED), which does what `vdk resize`
 * does; info() then reads the new size.  Without set_events, no watch.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <rados/librados.h>
#include <rbd/librbd.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "backend.h"
#include "engine.h"
#include "internal.h"

#define DEFAULT_POOL "rbd"
/* queue_close() waits this long at most for librbd to give ops back. */
#define CLOSE_WAIT_MAX_S 10

struct vdk_bdev {
	char *pool;
	char *image;
	char *ns;          /* RADOS namespace, or NULL */
	char *conf;        /* ceph.conf, or NULL: librados's search */
	char *id;          /* client id without "client.", NULL: admin */
	char *keyring;
	unsigned int timeout_s;
	uint64_t timeout_ns;
	uint32_t block_size;
	bool read_only;

	/* What the image offers (from the probe, then the live image). */
	_Atomic uint64_t size;  /* served: a whole number of blocks */
	uint64_t features;
	uint64_t obj_size;
	bool image_ro;          /* non-primary (mirrored) image */

	/* After start(). */
	bool started;
	rados_t cluster;
	rados_ioctx_t io;
	rbd_image_t img;
	uint64_t watch;
	bool watching;
	struct vdk_backend_events events;
	/* Queues that gave up waiting for librbd: close nothing then. */
	atomic_uint abandoned;
	struct vdk_backend_log log;
};

/* One request in librbd: a slot of the engine (engine.h). */
struct op {
	struct vdk__slot s;     /* bio NULL: free, or failed by the timeout */
	ssize_t ret;            /* librbd's answer */
	bool fua;               /* flush after the write */
};

struct vdk_bq {
	struct vdk_bdev *b;
	/*
	 * Slots held while librbd has them (s.held); reads land in their
	 * bounce buffers; librbd's threads complete them onto the done list.
	 */
	struct vdk__eng e;
};

/* ---- parameters ---- */

static int parse_params(struct vdk_bdev *b, struct vdk_params *ps,
			char *err, size_t errlen)
{
	bool ro;
	int ret;

	ret = vdk_params_dup(ps, "image", &b->image, err, errlen);
	if (ret)
		return ret;
	if (!b->image) {
		vdk__errf(err, errlen,
			  "missing parameter image= (the RBD image's name)");
		return -EINVAL;
	}
	ret = vdk_params_dup(ps, "pool", &b->pool, err, errlen);
	if (!ret && !b->pool) {
		b->pool = strdup(DEFAULT_POOL);
		if (!b->pool) {
			vdk__errf(err, errlen, "out of memory");
			return -ENOMEM;
		}
	}
	if (!ret)
		ret = vdk_params_dup(ps, "namespace", &b->ns, err, errlen);
	if (!ret)
		ret = vdk_params_dup(ps, "conf", &b->conf, err, errlen);
	if (!ret)
		ret = vdk_params_dup(ps, "id", &b->id, err, errlen);
	if (!ret)
		ret = vdk_params_dup(ps, "keyring", &b->keyring, err, errlen);
	if (ret)
		return ret;
	if (b->id && !strncmp(b->id, "client.", 7)) {
		vdk__errf(err, errlen,
			  "id=%.64s: give the id without 'client.' (id=%.64s)",
			  b->id, b->id + 7);
		return -EINVAL;
	}
	/* Checked here: librados would only say ENOENT much later. */
	if (b->conf && access(b->conf, R_OK)) {
		ret = -errno;
		vdk__errf(err, errlen, "conf=%.160s: %s", b->conf,
			  strerror(errno));
		return ret;
	}
	if (b->keyring && access(b->keyring, R_OK)) {
		ret = -errno;
		vdk__errf(err, errlen, "keyring=%.160s: %s", b->keyring,
			  strerror(errno));
		return ret;
	}

	ret = vdk__get_timeout(ps, &b->timeout_s, err, errlen);
	if (ret)
		return ret;
	b->timeout_ns = b->timeout_s * VDK_NS_PER_S;

	b->block_size = 512;
	ret = vdk__get_block_size(ps, &b->block_size, err, errlen);
	if (ret && ret != -ENOENT)
		return ret;
	ret = vdk_params_get_bool(ps, "readonly", &ro, err, errlen);
	if (!ret)
		b->read_only = ro;
	else if (ret != -ENOENT)
		return ret;
	return 0;
}

/* ---- connecting ---- */

struct probe {
	int ret;
	uint64_t size;
	uint64_t features;
	uint64_t obj_size;
	bool image_ro;
	char err[VDK_BACKEND_ERR_MAX];
};

/* "pool 'rbd'" or "pool 'rbd' namespace 'ns'", for messages. */
static void where(const struct vdk_bdev *b, char *buf, size_t len)
{
	if (b->ns)
		snprintf(buf, len, "pool '%.64s' namespace '%.64s'", b->pool,
			 b->ns);
	else
		snprintf(buf, len, "pool '%.64s'", b->pool);
}

static int conf_set(rados_t c, const char *key, const char *val,
		    char *err, size_t errlen)
{
	int ret = rados_conf_set(c, key, val);

	if (ret < 0)
		vdk__errf(err, errlen, "ceph option %s=%.64s: %s", key, val,
			  strerror(-ret));
	return ret;
}

/*
 * Connect to the cluster and open the pool and the image.  @probe: the
 * throwaway connection of open(), whose every operation is bounded and
 * which prints nothing.  0 or -errno with a message.
 */
static int cluster_open(struct vdk_bdev *b, bool probe, char *err,
			size_t errlen)
{
	char secs[24], loc[160];
	const char *client = b->id ? b->id : "admin";
	int ret;

	ret = rados_create(&b->cluster, b->id);
	if (ret < 0) {
		vdk__errf(err, errlen, "librados: %s", strerror(-ret));
		b->cluster = NULL;
		return ret;
	}
	if (b->conf) {
		ret = rados_conf_read_file(b->cluster, b->conf);
		if (ret < 0) {
			vdk__errf(err, errlen, "conf=%.160s: %s", b->conf,
				  strerror(-ret));
			return ret;
		}
	} else {
		/* The usual places; none at all is fine with CEPH_ARGS. */
		rados_conf_read_file(b->cluster, NULL);
	}
	ret = rados_conf_parse_env(b->cluster, NULL);
	if (ret < 0) {
		vdk__errf(err, errlen, "CEPH_ARGS: %s", strerror(-ret));
		return ret;
	}
	snprintf(secs, sizeof(secs), "%u", b->timeout_s);
	ret = 0;
	if (b->keyring)
		ret = conf_set(b->cluster, "keyring", b->keyring, err, errlen);
	/* Bounded waits for the monitors (connect, pool look-ups). */
	if (!ret)
		ret = conf_set(b->cluster, "client_mount_timeout", secs, err,
			       errlen);
	if (!ret)
		ret = conf_set(b->cluster, "rados_mon_op_timeout", secs, err,
			       errlen);
	/* librbd copies what it writes: a late write reads nothing of ours. */
	if (!ret)
		ret = conf_set(b->cluster, "rbd_disable_zero_copy_writes",
			       "true", err, errlen);
	if (!ret && probe) {
		/* The probe may also give up on OSDs; the daemon never does. */
		ret = conf_set(b->cluster, "rados_osd_op_timeout", secs, err,
			       errlen);
		if (!ret)
			ret = conf_set(b->cluster, "log_to_stderr", "false",
				       err, errlen);
		if (!ret)
			ret = conf_set(b->cluster, "err_to_stderr", "false",
				       err, errlen);
	}
	if (ret)
		return ret;

	ret = rados_connect(b->cluster);
	if (ret < 0) {
		if (ret == -ETIMEDOUT)
			vdk__errf(err, errlen,
				  "cannot reach the cluster's monitors within %u s (timeout=): is the cluster up, is conf= right?",
				  b->timeout_s);
		else if (ret == -EACCES || ret == -EPERM)
			vdk__errf(err, errlen,
				  "the cluster refused client.%.64s: %s (check id= and keyring=)",
				  client, strerror(-ret));
		else if (ret == -ENOENT)
			vdk__errf(err, errlen,
				  "cannot connect to the cluster as client.%.64s: %s (no monitor address or keyring found: give conf= and keyring=)",
				  client, strerror(-ret));
		else
			vdk__errf(err, errlen,
				  "cannot connect to the cluster as client.%.64s: %s",
				  client, strerror(-ret));
		/* A failed connect leaves a handle for shutdown only. */
		return ret;
	}
	where(b, loc, sizeof(loc));
	ret = rados_ioctx_create(b->cluster, b->pool, &b->io);
	if (ret < 0) {
		b->io = NULL;
		if (ret == -ENOENT)
			vdk__errf(err, errlen, "no pool '%.64s' in the cluster",
				  b->pool);
		else
			vdk__errf(err, errlen, "pool '%.64s': %s", b->pool,
				  strerror(-ret));
		return ret;
	}
	if (b->ns)
		rados_ioctx_set_namespace(b->io, b->ns);
	if (b->read_only)
		ret = rbd_open_read_only(b->io, b->image, &b->img, NULL);
	else
		ret = rbd_open(b->io, b->image, &b->img, NULL);
	if (ret < 0) {
		b->img = NULL;
		if (ret == -ENOENT)
			vdk__errf(err, errlen, "no image '%.64s' in %s",
				  b->image, loc);
		else if (ret == -ETIMEDOUT)
			vdk__errf(err, errlen,
				  "image '%.64s' in %s: no answer from the OSDs within %u s (timeout=)",
				  b->image, loc, b->timeout_s);
		else if (ret == -EPERM || ret == -EACCES)
			vdk__errf(err, errlen,
				  "image '%.64s' in %s: %s (the client's caps?)",
				  b->image, loc, strerror(-ret));
		else
			vdk__errf(err, errlen, "image '%.64s' in %s: %s",
				  b->image, loc, strerror(-ret));
		return ret;
	}
	return 0;
}

/* Close what cluster_open() made, in reverse.  May wait for the cluster. */
static void cluster_close(struct vdk_bdev *b)
{
	if (b->img) {
		if (b->watching)
			rbd_update_unwatch(b->img, b->watch);
		rbd_close(b->img);
	}
	b->watching = false;
	b->img = NULL;
	if (b->io)
		rados_ioctx_destroy(b->io);
	b->io = NULL;
	if (b->cluster)
		rados_shutdown(b->cluster);
	b->cluster = NULL;
}

/* The image's size and features into @p.  0 or -errno with a message. */
static int image_stat(struct vdk_bdev *b, struct probe *p)
{
	rbd_image_info_t st;
	uint64_t flags = 0;
	int ret;

	ret = rbd_stat(b->img, &st, sizeof(st));
	if (ret >= 0)
		ret = rbd_get_features(b->img, &p->features);
	if (ret >= 0)
		ret = rbd_get_flags(b->img, &flags);
	if (ret < 0) {
		vdk__errf(p->err, sizeof(p->err), "image '%.64s': %s",
			  b->image, strerror(-ret));
		return ret;
	}
	p->size = st.size;
	p->obj_size = st.obj_size;
	p->image_ro = p->features & RBD_FEATURE_NON_PRIMARY;
	return 0;
}

/* In the child: connect, read the image, report, exit. */
static void probe_child(struct vdk_bdev *b, int fd)
{
	struct probe p = { 0 };
	const char *q = (const char *)&p;
	size_t n = sizeof(p);
	ssize_t w;

	p.ret = cluster_open(b, true, p.err, sizeof(p.err));
	if (!p.ret)
		p.ret = image_stat(b, &p);
	while (n) {
		w = write(fd, q, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		q += w;
		n -= w;
	}
	/* Leave at once: no destructor of librados, no stdio flush. */
	_exit(0);
}

/*
 * Ask a child process what open() needs to know.  Bounded: the child's own
 * waits are bounded by timeout=, and it is killed after twice that.
 */
static int probe(struct vdk_bdev *b, struct probe *p, char *err,
		 size_t errlen)
{
	uint64_t deadline = vdk__now_ns() + 2 * b->timeout_ns + 5 * VDK_NS_PER_S, now;
	char *q = (char *)p;
	size_t got = 0;
	int fds[2], ret = 0, status;
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC)) {
		ret = -errno;
		vdk__errf(err, errlen, "pipe: %s", strerror(errno));
		return ret;
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		ret = -errno;
		vdk__errf(err, errlen, "fork: %s", strerror(errno));
		goto out_pipe;
	}
	if (pid == 0) {
		close(fds[0]);
		probe_child(b, fds[1]);
	}
	vdk__close_fd(&fds[1]);
	while (got < sizeof(*p)) {
		struct pollfd pfd = { .fd = fds[0], .events = POLLIN };
		ssize_t r;

		now = vdk__now_ns();
		if (now >= deadline) {
			vdk__errf(err, errlen,
				  "no answer from the cluster within %u s (timeout=)",
				  2 * b->timeout_s + 5);
			ret = -ETIMEDOUT;
			break;
		}
		r = poll(&pfd, 1, (deadline - now) / VDK_NS_PER_MS + 1);
		if (r < 0 && errno != EINTR) {
			ret = -errno;
			vdk__errf(err, errlen, "poll: %s", strerror(errno));
			break;
		}
		if (r <= 0)
			continue;
		r = read(fds[0], q + got, sizeof(*p) - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			vdk__errf(err, errlen,
				  "the connection to the cluster failed (the probe process died)");
			ret = -EIO;
			break;
		}
		got += r;
	}
	if (ret)
		kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!ret && p->ret) {
		ret = p->ret;
		p->err[sizeof(p->err) - 1] = '\0';
		vdk__errf(err, errlen, "%s", p->err);
	}
out_pipe:
	vdk__close_fd(&fds[0]);
	vdk__close_fd(&fds[1]);
	return ret;
}

/* Take what the image offers; 0 or -EINVAL with a message. */
static int apply_stat(struct vdk_bdev *b, const struct probe *p, char *err,
		      size_t errlen)
{
	uint64_t size = p->size - p->size % b->block_size;

	if (!size) {
		vdk__errf(err, errlen,
			  "image '%.64s' is smaller than a block (%llu bytes)",
			  b->image, (unsigned long long)p->size);
		return -EINVAL;
	}
	atomic_store(&b->size, size);
	b->features = p->features;
	b->obj_size = p->obj_size;
	b->image_ro = p->image_ro;
	return 0;
}

static void rb_close(struct vdk_bdev *b);

static int rb_open(struct vdk_params *ps, struct vdk_bdev **out, char *err,
		   size_t errlen)
{
	struct probe p = { 0 };
	struct vdk_bdev *b;
	int ret;

	b = calloc(1, sizeof(*b));
	if (!b) {
		vdk__errf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	ret = parse_params(b, ps, err, errlen);
	if (ret)
		goto err;
	ret = probe(b, &p, err, errlen);
	if (ret)
		goto err;
	ret = apply_stat(b, &p, err, errlen);
	if (ret)
		goto err;
	*out = b;
	return 0;

err:
	rb_close(b);
	return ret;
}

/* librbd's thread: the image's header changed (a resize, perhaps). */
static void update_cb(void *arg)
{
	struct vdk_bdev *b = arg;

	vdk__bevent(&b->events, VDK_BACKEND_EV_RESIZED, 0);
}

struct start_ctx {
	struct vdk_bdev *b;
	struct probe p;
	int ret;
};

static void *start_thread(void *arg)
{
	struct start_ctx *s = arg;
	struct vdk_bdev *b = s->b;

	s->ret = cluster_open(b, false, s->p.err, sizeof(s->p.err));
	if (!s->ret)
		s->ret = image_stat(b, &s->p);
	return NULL;
}

/*
 * After the fork: connect, in a thread so that start() itself is bounded
 * even if the OSDs stopped answering since the probe.
 */
static int rb_start(struct vdk_bdev *b, char *err, size_t errlen)
{
	struct start_ctx *s;
	struct timespec ts;
	pthread_t t;
	int ret;

	s = calloc(1, sizeof(*s));
	if (!s) {
		vdk__errf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	s->b = b;
	ret = -pthread_create(&t, NULL, start_thread, s);
	if (ret) {
		vdk__errf(err, errlen, "cannot start a thread: %s",
			  strerror(-ret));
		free(s);
		return ret;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 2 * b->timeout_s + 5;
	if (pthread_timedjoin_np(t, NULL, &ts)) {
		/*
		 * Stuck in librados: leave it, and @b and @s with it (the
		 * thread uses them); the daemon is failing anyway.
		 */
		pthread_detach(t);
		atomic_fetch_add(&b->abandoned, 1);
		vdk__errf(err, errlen,
			  "no answer from the cluster within %u s (timeout=)",
			  2 * b->timeout_s + 5);
		return -ETIMEDOUT;
	}
	ret = s->ret;
	if (ret) {
		vdk__errf(err, errlen, "%s", s->p.err);
		goto err;
	}
	ret = apply_stat(b, &s->p, err, errlen);
	if (ret)
		goto err;
	/* Watch only for someone who listens. */
	if (b->events.fn) {
		ret = rbd_update_watch(b->img, &b->watch, update_cb, b);
		if (ret < 0) {
			vdk__errf(err, errlen,
				  "image '%.64s': cannot watch for updates: %s",
				  b->image, strerror(-ret));
			goto err;
		}
		b->watching = true;
	}
	b->started = true;
	free(s);
	return 0;

err:
	cluster_close(b);
	free(s);
	return ret;
}

static void *close_thread(void *arg)
{
	cluster_close(arg);
	return NULL;
}

static void rb_close(struct vdk_bdev *b)
{
	struct timespec ts;
	pthread_t t;

	if (!b || atomic_load(&b->abandoned))
		return; /* librbd may still call back into b */
	/*
	 * Closing flushes librbd's cache and waits for what it holds: with
	 * the cluster gone that never ends.  Give it a while, then leave
	 * the handles to the process's exit.  (A queue that abandoned ops,
	 * which librbd may still write into, made us return above.)
	 */
	if (b->cluster) {
		if (pthread_create(&t, NULL, close_thread, b)) {
			cluster_close(b);
		} else {
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += b->timeout_s + 5;
			if (pthread_timedjoin_np(t, NULL, &ts)) {
				pthread_detach(t);
				return; /* b stays: the thread uses it */
			}
		}
	}
	free(b->pool);
	free(b->image);
	free(b->ns);
	free(b->conf);
	free(b->id);
	free(b->keyring);
	free(b);
}

static void rb_set_log(struct vdk_bdev *b, const struct vdk_backend_log *log)
{
	b->log = *log;
}

static void rb_set_events(struct vdk_bdev *b,
			  const struct vdk_backend_events *ev)
{
	b->events = *ev;
}

static int rb_info(struct vdk_bdev *b, struct vdk_backend_info *info)
{
	uint64_t size;
	bool ro = b->read_only || b->image_ro;

	if (b->started && rbd_get_size(b->img, &size) >= 0) {
		size -= size % b->block_size;
		if (size)
			atomic_store(&b->size, size);
	}
	*info = (struct vdk_backend_info){
		.size = atomic_load(&b->size),
		.block_size = b->block_size,
		.opt_io_size = b->obj_size <= (16u << 20) &&
					       b->obj_size >= b->block_size ?
				       (uint32_t)b->obj_size :
				       0,
		.max_iovecs = IOV_MAX,
		.read_only = ro,
		.can_flush = true,
		.can_fua = !ro,
		.can_discard = !ro,
		.can_zero = !ro,
		.can_zero_unmap = !ro,
		.multi_queue = true,
	};
	return 0;
}

/* ---- ops ---- */

/* librbd's thread: record, hand over, wake the queue.  Nothing else. */
static void aio_cb(rbd_completion_t c, void *arg)
{
	struct op *op = arg;

	op->ret = rbd_aio_get_return_value(c);
	rbd_aio_release(c);
	vdk__eng_complete(&op->s);
}

/* Hand the op's request to librbd.  0, or -errno when it was not taken. */
static int op_issue(struct vdk_bq *q, struct op *op, uint8_t opcode)
{
	struct vdk_bdev *b = q->b;
	struct vdk_bio *bio = op->s.bio;
	rbd_completion_t c;
	int ret;

	ret = rbd_aio_create_completion(op, aio_cb, &c);
	if (ret < 0)
		return ret;
	switch (opcode) {
	case VDK_BIO_READ:
		ret = rbd_aio_read(b->img, bio->offset, bio->len,
				   (char *)op->s.bounce.p, c);
		break;
	case VDK_BIO_WRITE:
		ret = rbd_aio_writev(b->img, bio->iov, (int)bio->iovcnt,
				     bio->offset, c);
		break;
	case VDK_BIO_FLUSH:
		ret = rbd_aio_flush(b->img, c);
		break;
	case VDK_BIO_DISCARD:
		ret = rbd_aio_discard(b->img, bio->offset, bio->len, c);
		break;
	case VDK_BIO_ZERO:
		/* Without UNMAP the range must stay allocated. */
		ret = rbd_aio_write_zeroes(
			b->img, bio->offset, bio->len, c,
			bio->flags & VDK_BIO_F_UNMAP ?
				0 : RBD_WRITE_ZEROES_FLAG_THICK_PROVISION,
			0);
		break;
	default:
		ret = -EOPNOTSUPP;
		break;
	}
	if (ret < 0) {
		rbd_aio_release(c);
		return ret;
	}
	vdk__eng_hold(&op->s);
	return 0;
}

static int submit(struct vdk_bq *q, struct vdk_bio *bio)
{
	struct vdk__slot *s = vdk__eng_get(&q->e, bio);
	struct op *op = (struct op *)s;
	int ret;

	if (!s)
		return -ENOMEM;
	op->ret = 0;
	if (bio->op == VDK_BIO_READ) {
		ret = vdk__eng_bounce(s, bio->len);
		if (ret)
			goto err;
	}
	op->fua = bio->op == VDK_BIO_WRITE && (bio->flags & VDK_BIO_F_FUA);
	ret = op_issue(q, op, bio->op);
	if (ret)
		goto err;
	return 0;

err:
	vdk__eng_unget(s);
	return ret;
}

/* An answer from librbd, in the queue's thread. */
static int op_answered(struct vdk_bq *q, struct op *op)
{
	struct vdk_bio *bio = op->s.bio;
	int ret;

	/*
	 * The cluster is back when it answers a read or a flush: librbd's
	 * write-around cache acknowledges writes by itself once the driver
	 * has flushed, cluster or not.
	 */
	if (bio && op->ret >= 0 &&
	    (bio->op == VDK_BIO_READ || bio->op == VDK_BIO_FLUSH))
		vdk__eng_answered(&q->e);
	/* Its bio already failed by the timeout: this frees it. */
	vdk__eng_release(&op->s);
	if (!bio)
		return 0;
	if (op->ret < 0) {
		vdk__eng_finish(&op->s, (int)op->ret);
		return 1;
	}
	if (bio->op == VDK_BIO_READ) {
		if ((uint64_t)op->ret != bio->len) {
			vdk__eng_finish(&op->s, -EIO); /* short read */
			return 1;
		}
		vdk__iov_from_buf(bio->iov, bio->iovcnt, 0, op->s.bounce.p,
				  bio->len);
	} else if (op->fua) {
		op->fua = false;
		ret = op_issue(q, op, VDK_BIO_FLUSH);
		if (!ret)
			return 0;
		vdk__eng_finish(&op->s, ret);
		return 1;
	}
	vdk__eng_finish(&op->s, 0);
	return 1;
}

/* A bio older than timeout= fails; its op stays with librbd. */
static bool expire(struct vdk__slot *s, void *arg)
{
	(void)arg;
	vdk__eng_finish(s, -EIO);
	return true;
}

static int rb_reap(struct vdk_bq *q)
{
	struct vdk__slot *s, *next;
	uint64_t now;
	int n = 0;

	for (s = vdk__eng_take(&q->e); s; s = next) {
		next = s->next;
		s->next = NULL;
		n += op_answered(q, (struct op *)s);
	}
	if (q->e.busy && q->e.next_check != UINT64_MAX) {
		now = vdk__now_ns();
		if (vdk__eng_due(&q->e, now))
			n += vdk__eng_expire(&q->e, now, expire, NULL);
	}
	return n;
}

/* ---- queues ---- */

/* Wait up to @ms for librbd to give back every op.  True if it did. */
static bool wait_librbd(struct vdk_bq *q, unsigned int ms)
{
	uint64_t deadline = vdk__now_ns() + ms * VDK_NS_PER_MS, now;

	while (q->e.held) {
		struct pollfd p = { .fd = vdk__eng_fd(&q->e), .events = POLLIN };

		rb_reap(q);
		if (!q->e.held)
			break;
		now = vdk__now_ns();
		if (now >= deadline)
			return false;
		poll(&p, 1, (deadline - now) / VDK_NS_PER_MS + 1);
	}
	return true;
}

static void rb_queue_close(struct vdk_bq *q)
{
	unsigned int s;

	if (!q)
		return;
	/* What the device stopped waiting for fails, once. */
	vdk__eng_fail_all(&q->e, -EIO);
	if (q->e.held) {
		s = q->b->timeout_s < CLOSE_WAIT_MAX_S ? q->b->timeout_s :
							 CLOSE_WAIT_MAX_S;
		if (!wait_librbd(q, s * 1000)) {
			/* librbd may still write into the ops: keep all. */
			atomic_fetch_add(&q->b->abandoned, 1);
			return;
		}
	}
	vdk__eng_fini(&q->e);
	free(q);
}

static int rb_queue_open(struct vdk_bdev *b, unsigned int qidx,
			 unsigned int depth, struct vdk_bq **out)
{
	struct vdk__eng_cfg ec = {
		.qidx = qidx,
		.depth = depth,
		.slot_size = sizeof(struct op),
		.timeout_s = b->timeout_s,
		.log = &b->log,
		.who = "the cluster",
		.grow = true,
		.wake = true,
	};
	struct vdk_bq *q;
	int ret;

	if (!depth || depth > VDK_ENG_DEPTH_MAX)
		return -EINVAL;
	if (!b->started)
		return -ENOTCONN;
	q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->b = b;
	ret = vdk__eng_init(&q->e, &ec);
	if (ret)
		goto err;
	*out = q;
	return 0;

err:
	rb_queue_close(q);
	return ret;
}

static int rb_queue_fd(struct vdk_bq *q)
{
	return vdk__eng_fd(&q->e);
}

static int rb_queue_timeout(struct vdk_bq *q)
{
	return vdk__eng_timeout_ms(&q->e, UINT64_MAX);
}

static int rb_read(struct vdk_bq *q, struct vdk_bio *bio)
{
	if (vdk__bio_check_rw(bio, atomic_load(&q->b->size)))
		return -EINVAL;
	if (!bio->len) {
		bio->done(bio, 0);
		return 0;
	}
	return submit(q, bio);
}

static int rb_write(struct vdk_bq *q, struct vdk_bio *bio)
{
	if (q->b->read_only || q->b->image_ro)
		return -EROFS;
	if (bio->iovcnt > IOV_MAX)
		return -EINVAL;
	return rb_read(q, bio);
}

static int rb_flush(struct vdk_bq *q, struct vdk_bio *bio)
{
	return submit(q, bio);
}

static int rb_range(struct vdk_bq *q, struct vdk_bio *bio)
{
	if (q->b->read_only || q->b->image_ro)
		return -EROFS;
	if (vdk__bio_check_range(bio, atomic_load(&q->b->size)))
		return -EINVAL;
	if (!bio->len) {
		bio->done(bio, 0);
		return 0;
	}
	return submit(q, bio);
}

/*
 * Confined: librados's messenger threads (epoll, timers, sockets to
 * every monitor and OSD), its memory and thread tuning, and its
 * configuration, keyring and plugins, read again on reconnects.
 */
static const char *const rbd_syscalls[] = {
	"socket", "connect", "bind", "listen", "accept", "accept4",
	"getsockopt", "setsockopt", "getsockname", "getpeername",
	"recvfrom", "recvmsg", "recvmmsg", "sendmsg", "sendto", "sendmmsg",
	"shutdown", "pipe", "pipe2", "epoll_create", "epoll_create1",
	"epoll_ctl", "epoll_wait", "epoll_pwait", "timerfd_create",
	"timerfd_settime", "timerfd_gettime", "fstatfs", "statfs",
	"getdents64", "readlink", "readlinkat", "access", "faccessat",
	"faccessat2", "sysinfo", "getcwd", "umask", "sched_setaffinity",
	"sched_getparam", "sched_getscheduler", "sched_setscheduler",
	"getpriority", "setpriority", "ioprio_get", "ioprio_set",
	"get_mempolicy", "set_mempolicy", "mbind", "getrusage", "times",
	"membarrier", "getcpu", "mkdir", "mkdirat", "unlink", "unlinkat",
	"rename", "renameat", "fsync", "fdatasync", "ftruncate", "flock",
	"capget", "personality", "setitimer", "getitimer", "alarm",
	"select", "pselect6", "wait4", "waitid", "getpgrp", "getsid",
	NULL,
};

static const char *const rbd_ro_paths[] = {
	"/etc/ceph", "/usr/lib", "/lib", "/etc/hosts", "/etc/resolv.conf",
	"/etc/nsswitch.conf", "/etc/gai.conf", "/etc/host.conf",
	"/sys/devices/system/cpu", "/sys/devices/system/node", NULL,
};

static unsigned int rbd_confine_paths(struct vdk_bdev *b, const char **paths,
				      unsigned int max)
{
	unsigned int n = 0;

	if (b->conf && n < max)
		paths[n++] = b->conf;
	if (b->keyring && n < max)
		paths[n++] = b->keyring;
	return n;
}

const struct vdk_backend_ops vdk_backend_rbd = {
	.name = "rbd",
	.summary = "an image of a Ceph cluster (RBD), through librbd",
	.params_help =
		"image=NAME         the image, required\n"
		"pool=NAME          its pool (default rbd)\n"
		"namespace=NAME     its RADOS namespace in the pool (default none)\n"
		"conf=PATH          the cluster's ceph.conf (default: librados's search, /etc/ceph/ceph.conf)\n"
		"id=NAME            the client's id, without 'client.' (default admin)\n"
		"keyring=PATH       the client's keyring (default: as ceph.conf says)\n"
		"timeout=SECONDS    how long a request may wait for the cluster before it fails; also bounds connecting (default 30)\n"
		"readonly=on|off    open the image read-only and refuse writes (default off)\n"
		"block-size=BYTES   512 or 4096 (default 512)\n",
	.open = rb_open,
	.set_log = rb_set_log,
	.start = rb_start,
	.close = rb_close,
	.info = rb_info,
	.queue_open = rb_queue_open,
	.queue_close = rb_queue_close,
	.queue_fd = rb_queue_fd,
	.read = rb_read,
	.write = rb_write,
	.flush = rb_flush,
	.discard = rb_range,
	.zero = rb_range,
	.reap = rb_reap,
	.queue_timeout = rb_queue_timeout,
	.syscalls = rbd_syscalls,
	.ro_paths = rbd_ro_paths,
	.confine_paths = rbd_confine_paths,
	.set_events = rb_set_events,
};
