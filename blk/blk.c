/* SPDX-License-Identifier: MIT */
/*
 * The virtio-blk device: configuration space, a control thread that
 * answers the kernel, and one thread per queue.
 *
 * A queue thread serves its ring and its backend queue alone: pop,
 * submit, reap, push, and one interrupt per round.  While there is work
 * it keeps polling for poll_ns with kicks disabled; then it enables kicks,
 * looks once more, and sleeps in poll() on the kick eventfd, the
 * backend's completion fd and its stop eventfd.
 *
 * The polling window adapts to the driver (blk_poll_adjust()): it grows
 * while kicks come soon after the queue fell asleep (a driver that
 * submits again right after each completion, at queue depth 1, say), up
 * to poll_max_ns, and shrinks to nothing while they come late.  Under
 * emulation a completion takes the driver a few hundred microseconds to
 * answer; on hardware a few; on an idle disk never: one fixed window
 * cannot fit all three.  A queue does not poll while requests wait on
 * a backend with a completion fd (nbd, rbd, io_uring): the fd wakes it;
 * but a request alone on a backend that asks (poll_lone: nbd) is polled
 * for, within the maximum window.
 *
 * The backend's news (vdk_blk_backend_event()) may come from any of its
 * threads, librbd's own among them: they only set a flag and wake the
 * control thread through an eventfd, and the control thread asks the
 * backend for its size, updates the capacity and sends the driver the
 * configuration interrupt.  No signal goes through the process.
 */
#include <endian.h>
#include <errno.h>
#include <stdarg.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include <linux/virtio_blk.h>
#include <linux/virtio_ids.h>

#include "internal.h"

#ifndef PR_SET_IO_FLUSHER
#define PR_SET_IO_FLUSHER 57
#endif

#define SECTOR 512u
#define DEFAULT_POLL_MAX_NS 200000
/* A reset waits at most this long for the backend's in-flight I/O. */
#define DRAIN_TIMEOUT_MS 20000

struct vdk_blk {
	struct blk_shared sh;
	struct vdk_bdev *bdev;
	unsigned int num_queues;
	struct blk_queue *queues;
	struct vdk_dev *dev;
	pthread_mutex_t ctl_lock; /* vdk_dev_process vs. set_config */
	pthread_t ctl_thread;
	bool ctl_running;
	int ctl_stop_fd;
	int ev_fd;                /* eventfd: the backend has news */
	int changed_fd;           /* eventfd: vdk_blk_changed_fd() */
	_Atomic bool ev_resized;  /* the backend said RESIZED */
	_Atomic uint64_t lost;    /* bit per queue: storage lost */
	vdk_log_fn log;
	void *log_opaque;
	int log_level;
	char name[64];
	uint8_t config[BLK_CONFIG_SIZE];
	size_t config_size;
};

static void blk_log(struct vdk_blk *blk, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void blk_log(struct vdk_blk *blk, int level, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	int n;

	if (!blk->log || level > blk->log_level)
		return;
	/* As libvdk's own messages: "NAME: what happened". */
	n = snprintf(msg, sizeof(msg), "%s: ", blk->name);
	va_start(ap, fmt);
	vsnprintf(msg + n, sizeof(msg) - n, fmt, ap);
	va_end(ap);
	blk->log(blk->log_opaque, level, msg);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- configuration ---- */

uint64_t blk_features(const struct blk_shared *sh, unsigned int num_queues)
{
	uint64_t f = (1ull << VIRTIO_BLK_F_SEG_MAX) |
		     (1ull << VIRTIO_BLK_F_SIZE_MAX) |
		     (1ull << VIRTIO_BLK_F_BLK_SIZE) |
		     (1ull << VIRTIO_BLK_F_TOPOLOGY);

	if (num_queues > 1)
		f |= 1ull << VIRTIO_BLK_F_MQ;
	if (sh->read_only)
		f |= 1ull << VIRTIO_BLK_F_RO;
	if (sh->can_flush)
		f |= 1ull << VIRTIO_BLK_F_FLUSH;
	if (sh->can_discard && !sh->read_only)
		f |= 1ull << VIRTIO_BLK_F_DISCARD;
	if (sh->can_zero && !sh->read_only)
		f |= 1ull << VIRTIO_BLK_F_WRITE_ZEROES;
	return f;
}

void blk_fill_config(const struct blk_shared *sh, unsigned int num_queues,
		     void *config, size_t *size)
{
	struct virtio_blk_config c;
	uint32_t bs_sectors = sh->block_size / SECTOR;

	memset(&c, 0, sizeof(c));
	c.capacity = htole64(atomic_load(&sh->size) / SECTOR);
	c.size_max = htole32(BLK_SIZE_MAX);
	c.seg_max = htole32(sh->seg_max);
	c.blk_size = htole32(sh->block_size);
	c.physical_block_exp = 0;
	c.min_io_size = htole16(1);
	c.opt_io_size = htole32(0);
	c.num_queues = htole16((uint16_t)num_queues);
	c.max_discard_sectors = htole32(BLK_MAX_DISCARD_SECTORS);
	c.max_discard_seg = htole32(1);
	c.discard_sector_alignment = htole32(bs_sectors);
	c.max_write_zeroes_sectors = htole32(BLK_MAX_DISCARD_SECTORS);
	c.max_write_zeroes_seg = htole32(1);
	c.write_zeroes_may_unmap = sh->can_zero_unmap ? 1 : 0;
	_Static_assert(sizeof(c) <= BLK_CONFIG_SIZE, "config space too small");
	memset(config, 0, BLK_CONFIG_SIZE);
	memcpy(config, &c, sizeof(c));
	*size = BLK_CONFIG_SIZE;
}

/* ---- queue threads ---- */

static int backend_reap(struct blk_queue *q)
{
	if (!q->bq || !q->sh->ops->reap)
		return 0;
	return q->sh->ops->reap(q->bq);
}

/* Whether the queue may take another request from its ring. */
static bool blk_queue_has_room(const struct blk_queue *q)
{
	return q->inflight_bytes < BLK_QUEUE_BYTES_MAX;
}

/*
 * Once the library has the bounce buffer in our memory, tell the
 * backend, which may register it for I/O.  Until then it costs an atomic
 * load per round.
 */
static void offer_mem(struct blk_queue *q)
{
	struct vdk_blk *blk = (struct vdk_blk *)q->sh; /* sh is first */
	void *base;
	size_t len;
	int ret;

	if (vdk_dev_bounce_mem(q->sh->dev, &base, &len) < 0)
		return;
	q->mem_offered = true;
	ret = q->sh->ops->queue_set_mem(q->bq, base, len);
	if (ret < 0)
		blk_log(blk, VDK_LOG_WARNING,
			"queue %u: backend cannot register the bounce "
			"buffer: %s", q->index, strerror(-ret));
}

/*
 * One round takes at most a ring's worth of requests, so that a driver
 * that keeps the ring full still lets the thread reap, notify and see a
 * stop between rounds.
 */
int blk_queue_round(struct blk_queue *q)
{
	const struct vdk_backend_ops *ops = q->sh->ops;
	unsigned int budget = vdk_vq_size(q->vq);
	struct vdk_vq_stats before, after;
	struct vdk_req *req;
	int work = 0, popped = 0, ret;

	if (!q->mem_offered && q->bq && ops->queue_set_mem)
		offer_mem(q);
	vdk_vq_get_stats(q->vq, &before);
	while (popped < (int)budget && blk_queue_has_room(q) &&
	       vdk_vq_pop(q->vq, &req) == 1) {
		blk_handle(q, req);
		popped++;
	}
	work = popped;
	if (work && q->bq && ops->commit)
		ops->commit(q->bq);
	ret = backend_reap(q);
	if (ret > 0)
		work += ret;
	/* Chains the library refused were completed too: signal them. */
	vdk_vq_get_stats(q->vq, &after);
	if (after.bad != before.bad) {
		q->pushed = true;
		work++;
	}
	if (q->pushed) {
		q->pushed = false;
		vdk_vq_notify(q->vq);
	}
	return work;
}

static void drain_inflight(struct blk_queue *q)
{
	const struct vdk_backend_ops *ops = q->sh->ops;
	uint64_t deadline = now_ns() + DRAIN_TIMEOUT_MS * 1000000ull;
	int fd = q->bq && ops->queue_fd ? ops->queue_fd(q->bq) : -1;

	/* A reset drops what completes now; a suspend hands it over. */
	q->stopping = !q->keep;
	while (vdk_vq_inflight(q->vq) > 0 && now_ns() < deadline) {
		struct pollfd p = { .fd = fd, .events = POLLIN };

		if (backend_reap(q) > 0)
			continue;
		if (fd < 0)
			break; /* synchronous backend: nothing is pending */
		if (ops->queue_events)
			p.events = ops->queue_events(q->bq);
		if (poll(&p, 1, 100) > 0 && ops->queue_ready)
			ops->queue_ready(q->bq, p.revents);
	}
	/* In order, completions reach the ring only here. */
	if (q->keep && q->pushed) {
		q->pushed = false;
		vdk_vq_notify(q->vq);
	}
}

static void clear_eventfd(int fd)
{
	uint64_t v;

	if (read(fd, &v, sizeof(v)) < 0) {
		/* EAGAIN: nothing was signalled */
	}
}

static void *queue_thread(void *arg)
{
	struct blk_queue *q = arg;
	const struct vdk_backend_ops *ops = q->sh->ops;
	struct vdk_blk *blk = (struct vdk_blk *)q->sh; /* sh is first */
	uint64_t last_work = now_ns(), slept_at;
	struct pollfd pfd[3];
	bool have_fd;
	char name[16];
	int ret, timeout;

	snprintf(name, sizeof(name), "vdk-q%u", q->index);
	prctl(PR_SET_NAME, name);
	/* Our memory allocations must not wait for I/O we serve. */
	prctl(PR_SET_IO_FLUSHER, 1, 0, 0, 0);

	q->mem_offered = false;
	ret = q->sh->fail_io ? 0 :
			       ops->queue_open(blk->bdev, q->index,
					       vdk_vq_size(q->vq), &q->bq);
	if (ret < 0) {
		/* Serve anyway: every request fails with IOERR. */
		blk_log(blk, VDK_LOG_ERR, "queue %u: backend: %s", q->index,
			strerror(-ret));
		q->bq = NULL;
	}
	pfd[0].fd = vdk_vq_kickfd(q->vq);
	pfd[1].fd = q->bq && ops->queue_fd ? ops->queue_fd(q->bq) : -1;
	pfd[2].fd = q->stop_fd;
	for (int i = 0; i < 3; i++)
		pfd[i].events = POLLIN;
	have_fd = pfd[1].fd >= 0;

	vdk_vq_set_kick(q->vq, false);
	for (;;) {
		if (atomic_load_explicit(&q->stop, memory_order_relaxed))
			break;
		if (blk_queue_round(q) > 0) {
			if (q->poll_ns)
				last_work = now_ns();
			continue;
		}
		/*
		 * At the byte bound, only completions can let us go on:
		 * sleep on the backend, with kicks off (the ring keeps
		 * what the driver posts meanwhile).
		 */
		if (!blk_queue_has_room(q)) {
			pfd[0].fd = -1;
			goto sleep;
		}
		pfd[0].fd = vdk_vq_kickfd(q->vq);
		/*
		 * Poll for the driver, not for the backend: while requests
		 * wait on a backend that has a completion fd, that fd wakes
		 * us, and spinning would only take CPU from whatever serves
		 * them (librbd's threads, the NBD server, io_uring's workers).
		 */
		if (q->poll_ns && !(have_fd && vdk_vq_inflight(q->vq) > 0) &&
		    now_ns() - last_work < q->poll_ns)
			continue;
		/*
		 * Except for a request alone on a backend that asks for it:
		 * its answer wakes no one if we are still looking.  At queue
		 * depth 1 on nbd, the median latency falls 22 % (420 us
		 * against 537, bench/results/2026-12-07-trixie-nbd-poll).
		 */
		if (have_fd && ops->poll_lone && q->poll_max_ns &&
		    vdk_vq_inflight(q->vq) == 1 &&
		    now_ns() - last_work < q->poll_max_ns)
			continue;
		/* Idle: ask for kicks, look once more, then sleep. */
		vdk_vq_set_kick(q->vq, true);
		if (vdk_vq_pending(q->vq)) {
			vdk_vq_set_kick(q->vq, false);
			continue;
		}
sleep:
		if (have_fd && ops->queue_events)
			pfd[1].events = ops->queue_events(q->bq);
		timeout = q->bq && ops->queue_timeout ?
				  ops->queue_timeout(q->bq) : -1;
		/* A backend with no fd: look again soon, never hang. */
		if (pfd[0].fd < 0 && !have_fd && timeout < 0)
			timeout = 1;
		slept_at = q->poll_max_ns ? now_ns() : 0;
		ret = poll(pfd, 3, timeout);
		if (ret < 0 && errno != EINTR)
			break;
		if (pfd[2].revents)
			break;
		if (pfd[0].fd >= 0 && pfd[0].revents) {
			clear_eventfd(pfd[0].fd);
			if (q->poll_max_ns)
				q->poll_ns = blk_poll_adjust(q->poll_ns,
							     q->poll_max_ns,
							     now_ns() - slept_at);
		}
		/* The backend's fd is the backend's to clear, in reap(). */
		if (have_fd && pfd[1].revents && ops->queue_ready)
			ops->queue_ready(q->bq, pfd[1].revents);
		vdk_vq_set_kick(q->vq, false);
		if (q->poll_max_ns)
			last_work = now_ns();
	}
	drain_inflight(q);
	if (q->bq)
		ops->queue_close(q->bq);
	q->bq = NULL;
	return NULL;
}

static void stop_queue_threads(struct vdk_blk *blk)
{
	uint64_t one = 1;
	unsigned int i;

	for (i = 0; i < blk->num_queues; i++) {
		struct blk_queue *q = &blk->queues[i];

		if (!q->running)
			continue;
		atomic_store_explicit(&q->stop, true, memory_order_relaxed);
		if (write(q->stop_fd, &one, sizeof(one)) < 0) {
			/* an eventfd write fails only on overflow */
		}
		pthread_join(q->thread, NULL);
		clear_eventfd(q->stop_fd);
		q->running = false;
	}
}

/* ---- device callbacks (in the control thread) ---- */

static int dev_start(struct vdk_dev *dev, void *opaque)
{
	struct vdk_blk *blk = opaque;
	unsigned int i;
	int ret;

	/*
	 * Taking over a running device, vdk_dev_open() calls this before
	 * it returns the handle: the threads must have it from here.
	 */
	blk->sh.dev = dev;
	for (i = 0; i < blk->num_queues; i++) {
		struct blk_queue *q = &blk->queues[i];

		q->vq = vdk_dev_vq(dev, i);
		if (!vdk_vq_ready(q->vq))
			continue;
		q->stopping = false;
		q->pushed = false;
		q->inflight_bytes = 0;
		atomic_store(&q->stop, false);
		ret = -pthread_create(&q->thread, NULL, queue_thread, q);
		if (ret < 0) {
			stop_queue_threads(blk);
			return ret;
		}
		q->running = true;
	}
	blk_log(blk, VDK_LOG_INFO, "driver ready");
	return 0;
}

static void dev_stop(struct vdk_dev *dev, void *opaque)
{
	struct vdk_blk *blk = opaque;

	stop_queue_threads(blk);
	blk_log(blk, VDK_LOG_INFO, "driver reset");
}

/*
 * The kernel suspends the device (a vhost-vdpa client's
 * VHOST_VDPA_SUSPEND) or changes a queue's readiness: the threads stop
 * as at a reset, but each first completes to the driver what its
 * backend still holds, within the drain's bound.
 */
static int dev_suspend(struct vdk_dev *dev, void *opaque)
{
	struct vdk_blk *blk = opaque;
	unsigned int i, left = 0;

	(void)dev;
	for (i = 0; i < blk->num_queues; i++)
		blk->queues[i].keep = true;
	stop_queue_threads(blk);
	for (i = 0; i < blk->num_queues; i++) {
		struct blk_queue *q = &blk->queues[i];

		q->keep = false;
		if (q->vq && vdk_vq_ready(q->vq))
			left += vdk_vq_inflight(q->vq);
	}
	if (left) {
		blk_log(blk, VDK_LOG_ERR,
			"suspend: %u requests still with the backend after "
			"%d ms", left, DRAIN_TIMEOUT_MS);
		return -ETIMEDOUT;
	}
	blk_log(blk, VDK_LOG_INFO, "queues stopped, every request completed");
	return 0;
}

static const struct vdk_dev_ops blk_dev_ops = {
	.start = dev_start,
	.stop = dev_stop,
	.suspend = dev_suspend,
};

/* ---- control thread ---- */

static int blk_resize(struct vdk_blk *blk, bool *changed);

static void signal_eventfd(int fd)
{
	uint64_t one = 1;

	if (write(fd, &one, sizeof(one)) < 0) {
		/* EAGAIN: already signalled often enough */
	}
}

/* What the backend told since last time (vdk_blk_backend_event()). */
void vdk__blk_run_events(struct vdk_blk *blk)
{
	bool changed = false;
	int ret;

	clear_eventfd(blk->ev_fd);
	if (!atomic_exchange(&blk->ev_resized, false))
		return;
	ret = blk_resize(blk, &changed);
	if (ret < 0 && ret != -EINVAL) /* -EINVAL: blk_resize() said why */
		blk_log(blk, VDK_LOG_ERR, "the backend's new size: %s",
			strerror(-ret));
	if (changed)
		signal_eventfd(blk->changed_fd);
}

static void *control_thread(void *arg)
{
	struct vdk_blk *blk = arg;
	struct pollfd pfd[3] = {
		{ .fd = vdk_dev_fd(blk->dev), .events = POLLIN },
		{ .fd = blk->ctl_stop_fd, .events = POLLIN },
		{ .fd = blk->ev_fd, .events = POLLIN },
	};
	int ret;

	prctl(PR_SET_NAME, "vdk-ctl");
	prctl(PR_SET_IO_FLUSHER, 1, 0, 0, 0);
	for (;;) {
		ret = poll(pfd, 3, -1);
		if (ret < 0 && errno != EINTR)
			break;
		if (pfd[1].revents)
			break;
		if (pfd[2].revents)
			vdk__blk_run_events(blk);
		if (!pfd[0].revents)
			continue;
		pthread_mutex_lock(&blk->ctl_lock);
		ret = vdk_dev_process(blk->dev);
		pthread_mutex_unlock(&blk->ctl_lock);
		if (ret < 0) {
			blk_log(blk, VDK_LOG_ERR, "control channel: %s",
				strerror(-ret));
			break;
		}
	}
	return NULL;
}

void vdk_blk_backend_event(struct vdk_blk *blk, enum vdk_backend_event ev,
			   unsigned int qidx)
{
	uint64_t bit;

	switch (ev) {
	case VDK_BACKEND_EV_RESIZED:
		atomic_store(&blk->ev_resized, true);
		signal_eventfd(blk->ev_fd);
		break;
	case VDK_BACKEND_EV_LOST:
	case VDK_BACKEND_EV_RESTORED:
		if (qidx >= blk->num_queues)
			break; /* not one of ours: nothing to record */
		bit = 1ull << qidx;
		if (ev == VDK_BACKEND_EV_LOST)
			atomic_fetch_or(&blk->lost, bit);
		else
			atomic_fetch_and(&blk->lost, ~bit);
		break;
	}
}

int vdk_blk_changed_fd(const struct vdk_blk *blk)
{
	return blk->changed_fd;
}

bool vdk_blk_changed(struct vdk_blk *blk)
{
	uint64_t v;

	return read(blk->changed_fd, &v, sizeof(v)) == sizeof(v);
}

/* ---- life cycle ---- */

static int default_create(void *arg, const struct vdk_dev_cfg *cfg,
			  struct vdk_dev **out)
{
	bool reopen = *(bool *)arg;

	return reopen ? vdk_dev_open(cfg, out) : vdk_dev_create(cfg, out);
}

int vdk__blk_new(const struct vdk_blk_cfg *cfg, blk_create_fn create,
		 void *arg, struct vdk_blk **out)
{
	struct vdk_backend_info info = { 0 };
	struct vdk_dev_cfg dcfg;
	struct vdk_blk *blk;
	const char *serial;
	unsigned int i;
	int ret;

	if (cfg->num_queues < 1 || cfg->num_queues > 64)
		return -EINVAL;
	if (cfg->queue_size < 2 || cfg->queue_size > 1024 ||
	    (cfg->queue_size & (cfg->queue_size - 1)))
		return -EINVAL;
	if (cfg->block_size && cfg->block_size != 512 &&
	    cfg->block_size != 4096)
		return -EINVAL;
	ret = cfg->backend->info(cfg->bdev, &info);
	if (ret < 0)
		return ret;

	blk = calloc(1, sizeof(*blk));
	if (!blk)
		return -ENOMEM;
	blk->log = cfg->log;
	blk->log_opaque = cfg->log_opaque;
	blk->log_level = cfg->log_level;
	snprintf(blk->name, sizeof(blk->name), "%s", cfg->name);
	blk->bdev = cfg->bdev;
	blk->num_queues = cfg->num_queues;
	blk->ctl_stop_fd = -1;
	blk->ev_fd = -1;
	blk->changed_fd = -1;
	blk->sh.ops = cfg->backend;
	blk->sh.block_size = cfg->block_size ? cfg->block_size :
			     info.block_size == 4096 ? 4096 : 512;
	blk->sh.seg_max = blk_seg_max(cfg->queue_size);
	blk->sh.req_max_bytes = blk_req_max_bytes(blk->sh.seg_max);
	blk->sh.read_only = cfg->read_only || info.read_only;
	blk->sh.can_flush = info.can_flush && cfg->backend->flush;
	blk->sh.can_discard = info.can_discard && cfg->backend->discard;
	blk->sh.can_zero = info.can_zero && cfg->backend->zero;
	blk->sh.can_zero_unmap = blk->sh.can_zero && info.can_zero_unmap;
	blk->sh.fail_io = cfg->fail_io;
	atomic_init(&blk->sh.size, info.size);
	/* 20 bytes, NUL-terminated only when shorter (virtio-blk GET_ID). */
	serial = cfg->serial ? cfg->serial : cfg->name;
	memcpy(blk->sh.serial, serial, strnlen(serial, sizeof(blk->sh.serial)));
	pthread_mutex_init(&blk->ctl_lock, NULL);

	if (info.size == 0 || info.size % blk->sh.block_size) {
		blk_log(blk, VDK_LOG_ERR,
			"size %llu is not a positive multiple of the block "
			"size %u",
			(unsigned long long)info.size, blk->sh.block_size);
		ret = -EINVAL;
		goto err_free;
	}

	blk->queues = calloc(cfg->num_queues, sizeof(*blk->queues));
	if (!blk->queues) {
		ret = -ENOMEM;
		goto err_free;
	}
	for (i = 0; i < cfg->num_queues; i++) {
		struct blk_queue *q = &blk->queues[i];

		q->sh = &blk->sh;
		q->index = i;
		q->poll_max_ns = cfg->poll_us < 0 ? DEFAULT_POLL_MAX_NS :
						    (uint64_t)cfg->poll_us * 1000;
		q->poll_ns = q->poll_max_ns < BLK_POLL_START_NS ?
				     q->poll_max_ns : BLK_POLL_START_NS;
		q->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (q->stop_fd < 0) {
			ret = -errno;
			goto err_queues;
		}
	}
	blk->ctl_stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	blk->ev_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	blk->changed_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (blk->ctl_stop_fd < 0 || blk->ev_fd < 0 || blk->changed_fd < 0) {
		ret = -errno;
		goto err_queues;
	}

	blk_fill_config(&blk->sh, cfg->num_queues, blk->config,
			&blk->config_size);
	memset(&dcfg, 0, sizeof(dcfg));
	dcfg.name = cfg->name;
	dcfg.device_id = VIRTIO_ID_BLOCK;
	dcfg.features = blk_features(&blk->sh, cfg->num_queues);
	dcfg.num_queues = cfg->num_queues;
	dcfg.queue_size = cfg->queue_size;
	dcfg.config = blk->config;
	dcfg.config_size = blk->config_size;
	dcfg.max_iovecs = BLK_MAX_IOVECS;
	dcfg.req_priv_size = sizeof(struct blk_req);
	dcfg.ops = &blk_dev_ops;
	dcfg.opaque = blk;
	dcfg.log = cfg->log;
	dcfg.log_opaque = cfg->log_opaque;
	dcfg.log_level = cfg->log_level;
	dcfg.inflight_path = cfg->inflight_path;
	dcfg.flags = cfg->dev_flags;
	ret = create(arg, &dcfg, &blk->dev);
	if (ret < 0)
		goto err_queues;
	blk->sh.dev = blk->dev;
	*out = blk;
	return 0;

err_queues:
	if (blk->changed_fd >= 0)
		close(blk->changed_fd);
	if (blk->ev_fd >= 0)
		close(blk->ev_fd);
	if (blk->ctl_stop_fd >= 0)
		close(blk->ctl_stop_fd);
	for (i = 0; i < cfg->num_queues && blk->queues; i++)
		if (blk->queues[i].stop_fd > 0)
			close(blk->queues[i].stop_fd);
	free(blk->queues);
err_free:
	pthread_mutex_destroy(&blk->ctl_lock);
	free(blk);
	return ret;
}

int vdk_blk_create(const struct vdk_blk_cfg *cfg, struct vdk_blk **out)
{
	bool reopen = cfg->reopen;

	return vdk__blk_new(cfg, default_create, &reopen, out);
}

int vdk_blk_start(struct vdk_blk *blk)
{
	int ret;

	if (blk->ctl_running)
		return 0;
	ret = -pthread_create(&blk->ctl_thread, NULL, control_thread, blk);
	if (ret < 0)
		return ret;
	blk->ctl_running = true;
	return 0;
}

/* vdk_blk_resize(); *changed set when a new size reached the driver. */
static int blk_resize(struct vdk_blk *blk, bool *changed)
{
	struct vdk_backend_info info = { 0 };
	uint64_t capacity;
	int ret;

	*changed = false;
	ret = blk->sh.ops->info(blk->bdev, &info);
	if (ret < 0)
		return ret;
	if (info.size % blk->sh.block_size) {
		blk_log(blk, VDK_LOG_ERR,
			"new size %llu is not a multiple of the block size "
			"%u: ignored",
			(unsigned long long)info.size, blk->sh.block_size);
		return -EINVAL;
	}
	if (info.size == atomic_load(&blk->sh.size))
		return 0;
	atomic_store(&blk->sh.size, info.size);
	capacity = htole64(info.size / SECTOR);
	pthread_mutex_lock(&blk->ctl_lock);
	ret = vdk_dev_set_config(blk->dev,
				 offsetof(struct virtio_blk_config, capacity),
				 &capacity, sizeof(capacity));
	pthread_mutex_unlock(&blk->ctl_lock);
	if (ret == 0) {
		*changed = true;
		blk_log(blk, VDK_LOG_INFO, "resized to %llu bytes",
			(unsigned long long)info.size);
	}
	return ret;
}

int vdk_blk_resize(struct vdk_blk *blk)
{
	bool changed;

	return blk_resize(blk, &changed);
}

void vdk_blk_stop(struct vdk_blk *blk)
{
	uint64_t one = 1;

	if (blk->ctl_running) {
		if (write(blk->ctl_stop_fd, &one, sizeof(one)) < 0) {
			/* cannot overflow here */
		}
		pthread_join(blk->ctl_thread, NULL);
		blk->ctl_running = false;
	}
	stop_queue_threads(blk);
}

void vdk_blk_free(struct vdk_blk *blk)
{
	unsigned int i;

	if (!blk)
		return;
	vdk_blk_stop(blk);
	vdk_dev_close(blk->dev);
	close(blk->changed_fd);
	close(blk->ev_fd);
	close(blk->ctl_stop_fd);
	for (i = 0; i < blk->num_queues; i++)
		close(blk->queues[i].stop_fd);
	free(blk->queues);
	pthread_mutex_destroy(&blk->ctl_lock);
	free(blk);
}

void vdk_blk_get_info(const struct vdk_blk *blk, struct vdk_blk_info *info)
{
	info->size = atomic_load(&blk->sh.size);
	info->block_size = blk->sh.block_size;
	info->num_queues = blk->num_queues;
	info->read_only = blk->sh.read_only;
	info->status = vdk_dev_status(blk->dev);
	info->lost_queues =
		(unsigned int)__builtin_popcountll(atomic_load(&blk->lost));
}

int vdk_blk_get_qstats(const struct vdk_blk *blk, unsigned int queue,
		       struct vdk_blk_qstats *out)
{
	const struct blk_queue *q;
	uint64_t done = 0;
	unsigned int i;

	if (queue >= blk->num_queues)
		return -EINVAL;
	q = &blk->queues[queue];
	for (i = 0; i < VDK_BLK_STAT_KINDS; i++) {
		out->requests[i] = __atomic_load_n(&q->st.requests[i],
						   __ATOMIC_RELAXED);
		out->bytes[i] = __atomic_load_n(&q->st.bytes[i],
						__ATOMIC_RELAXED);
		done += out->requests[i];
	}
	out->errors = __atomic_load_n(&q->st.errors, __ATOMIC_RELAXED);
	for (i = 0; i < VDK_BLK_LAT_BUCKETS; i++)
		out->latency[i] = __atomic_load_n(&q->st.latency[i],
						  __ATOMIC_RELAXED);
	/* Popped after the completions were read: never below them. */
	out->in_flight = __atomic_load_n(&q->popped, __ATOMIC_RELAXED);
	out->in_flight = out->in_flight > done ? out->in_flight - done : 0;
	return 0;
}

struct vdk_dev *vdk_blk_dev(struct vdk_blk *blk)
{
	return blk->dev;
}
