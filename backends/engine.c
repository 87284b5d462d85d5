/* SPDX-License-Identifier: MIT */
/*
 * The request engine of the remote backends (engine.h).
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"

uint64_t vdk__now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * VDK_NS_PER_S + (uint64_t)ts.tv_nsec;
}

int vdk__get_timeout(struct vdk_params *ps, unsigned int *out_s, char *err,
		     size_t errlen)
{
	uint64_t v;
	int ret;

	ret = vdk_params_get_uint(ps, "timeout", 1, VDK_TIMEOUT_MAX_S, &v, err,
				  errlen);
	if (ret == -ENOENT)
		v = VDK_TIMEOUT_DEFAULT_S;
	else if (ret)
		return ret;
	*out_s = (unsigned int)v;
	return 0;
}

uint8_t *vdk__iov_contiguous(const struct iovec *iov, unsigned int iovcnt)
{
	uint8_t *start = NULL, *end = NULL;
	unsigned int i;

	for (i = 0; i < iovcnt; i++) {
		uint8_t *p = iov[i].iov_base;

		if (!iov[i].iov_len)
			continue;
		if (!start)
			start = p;
		else if (p != end)
			return NULL;
		end = p + iov[i].iov_len;
	}
	return start;
}

/* ---- slots ---- */

static void slot_link(struct vdk__eng *e, struct vdk__slot *s)
{
	s->eng = e;
	s->all_next = e->all;
	e->all = s;
	s->next = e->free;
	e->free = s;
}

int vdk__eng_init(struct vdk__eng *e, const struct vdk__eng_cfg *cfg)
{
	unsigned int i;
	int ret;

	memset(e, 0, sizeof(*e));
	e->efd = -1;
	e->cfg = *cfg;
	e->timeout_ns = cfg->timeout_s * VDK_NS_PER_S;
	e->next_check = UINT64_MAX;
	if (!cfg->depth || cfg->depth > VDK_ENG_DEPTH_MAX ||
	    cfg->slot_size < sizeof(struct vdk__slot))
		return -EINVAL;
	e->slab = calloc(cfg->depth, cfg->slot_size);
	if (!e->slab)
		return -ENOMEM;
	/* Backwards, so that the free list starts at the first. */
	for (i = cfg->depth; i-- > 0;)
		slot_link(e, (struct vdk__slot *)(e->slab +
						   (size_t)i * cfg->slot_size));
	if (!cfg->wake)
		return 0;
	ret = -pthread_mutex_init(&e->lock, NULL);
	if (ret)
		return ret;
	e->lock_ok = true;
	e->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (e->efd < 0)
		return -errno;
	return 0;
}

static bool in_slab(const struct vdk__eng *e, const struct vdk__slot *s)
{
	const unsigned char *p = (const unsigned char *)s;

	return e->slab && p >= e->slab &&
	       p < e->slab + (size_t)e->cfg.depth * e->cfg.slot_size;
}

void vdk__eng_fini(struct vdk__eng *e)
{
	struct vdk__slot *s, *next;

	if (e->lock_ok) {
		/* A completing thread may still be leaving the lock. */
		pthread_mutex_lock(&e->lock);
		pthread_mutex_unlock(&e->lock);
		pthread_mutex_destroy(&e->lock);
		e->lock_ok = false;
	}
	for (s = e->all; s; s = next) {
		next = s->all_next;
		vdk__bounce_free(&s->bounce, &e->bounce_held);
		if (!in_slab(e, s))
			free(s);
	}
	e->all = NULL;
	e->free = NULL;
	free(e->slab);
	e->slab = NULL;
	vdk__close_fd(&e->efd);
}

struct vdk__slot *vdk__eng_get(struct vdk__eng *e, struct vdk_bio *bio)
{
	struct vdk__slot *s = e->free;

	if (s) {
		e->free = s->next;
	} else {
		/* Only while slots of failed bios are still held. */
		if (!e->cfg.grow || !e->held)
			return NULL;
		s = calloc(1, e->cfg.slot_size);
		if (!s)
			return NULL;
		s->extra = true;
		slot_link(e, s);
		e->free = s->next;
	}
	s->next = NULL;
	s->bio = bio;
	s->deadline = vdk__now_ns() + e->timeout_ns;
	if (s->deadline < e->next_check)
		e->next_check = s->deadline;
	e->busy++;
	return s;
}

static void slot_put(struct vdk__eng *e, struct vdk__slot *s)
{
	vdk__bounce_put(&s->bounce, &e->bounce_held);
	s->bio = NULL;
	s->next = e->free;
	e->free = s;
}

void vdk__eng_unget(struct vdk__slot *s)
{
	struct vdk__eng *e = s->eng;

	e->busy--;
	slot_put(e, s);
}

void vdk__eng_finish(struct vdk__slot *s, int result)
{
	struct vdk__eng *e = s->eng;
	struct vdk_bio *bio = s->bio;

	s->bio = NULL;
	e->busy--;
	if (!s->held)
		slot_put(e, s);
	/* Last: done() may submit the next bio at once. */
	bio->done(bio, result);
}

unsigned int vdk__eng_fail_all(struct vdk__eng *e, int result)
{
	struct vdk__slot *s;
	unsigned int n = 0;

	vdk__eng_for_each(e, s) {
		if (s->bio) {
			vdk__eng_finish(s, result);
			n++;
		}
	}
	return n;
}

void vdk__eng_hold(struct vdk__slot *s)
{
	s->held = true;
	s->eng->held++;
}

void vdk__eng_release(struct vdk__slot *s)
{
	struct vdk__eng *e = s->eng;

	s->held = false;
	e->held--;
	if (!s->bio)
		slot_put(e, s);
}

/* ---- deadlines and stalls ---- */

void vdk__eng_rearm(struct vdk__eng *e, uint64_t now)
{
	struct vdk__slot *s;

	e->next_check = UINT64_MAX;
	vdk__eng_for_each(e, s) {
		if (s->bio && s->deadline > now && s->deadline < e->next_check)
			e->next_check = s->deadline;
	}
}

unsigned int vdk__eng_expire(struct vdk__eng *e, uint64_t now,
			     bool (*fn)(struct vdk__slot *s, void *arg),
			     void *arg)
{
	struct vdk__slot *s;
	unsigned int n = 0;

	/* done() may take a slot again: it gets a later deadline. */
	vdk__eng_for_each(e, s) {
		if (s->bio && s->deadline <= now && fn(s, arg))
			n++;
	}
	vdk__eng_rearm(e, now);
	vdk__eng_stall_failed(e, n, now);
	return n;
}

void vdk__eng_stall_failed(struct vdk__eng *e, unsigned int n, uint64_t now)
{
	vdk__stall_failed(&e->stall, e->cfg.log, e->cfg.qidx, e->cfg.who,
			  e->cfg.timeout_s, n, now);
}

void vdk__eng_answered(struct vdk__eng *e)
{
	vdk__stall_answered(&e->stall, e->cfg.log, e->cfg.qidx, e->cfg.who);
}

int vdk__eng_timeout_ms(const struct vdk__eng *e, uint64_t also)
{
	uint64_t t = also, now, ms;

	if (e->busy && e->next_check < t)
		t = e->next_check;
	if (t == UINT64_MAX)
		return -1;
	now = vdk__now_ns();
	if (t <= now)
		return 0;
	ms = (t - now + VDK_NS_PER_MS - 1) / VDK_NS_PER_MS;
	return ms > INT_MAX ? INT_MAX : (int)ms;
}

/* ---- completions from other threads ---- */

void vdk__eng_complete(struct vdk__slot *s)
{
	struct vdk__eng *e = s->eng;
	uint64_t one = 1;

	/*
	 * Under the lock, the eventfd write included: vdk__eng_fini() takes
	 * the lock before freeing, so the queue cannot go under our feet.
	 */
	pthread_mutex_lock(&e->lock);
	s->next = atomic_load_explicit(&e->done, memory_order_relaxed);
	atomic_store_explicit(&e->done, s, memory_order_release);
	if (!s->next && write(e->efd, &one, sizeof(one)) < 0) {
		/* an eventfd write fails only on overflow */
	}
	pthread_mutex_unlock(&e->lock);
}

struct vdk__slot *vdk__eng_take(struct vdk__eng *e)
{
	struct vdk__slot *list, *rev = NULL, *next;
	uint64_t v;

	/* Cheap when empty: no lock, no system call. */
	if (!atomic_load_explicit(&e->done, memory_order_acquire))
		return NULL;
	pthread_mutex_lock(&e->lock);
	list = atomic_exchange_explicit(&e->done, NULL, memory_order_acquire);
	if (read(e->efd, &v, sizeof(v)) < 0) {
		/* EAGAIN: already cleared */
	}
	pthread_mutex_unlock(&e->lock);
	for (; list; list = next) {
		next = list->next;
		list->next = rev;
		rev = list;
	}
	return rev;
}
