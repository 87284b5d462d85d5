/* SPDX-License-Identifier: MIT */
/*
 * The request engine of the remote and asynchronous backends (nbd, rbd,
 * and whichever comes next): what they share, so that each backend file
 * holds only its protocol.
 *
 *   slots      one per bio in flight, a slab of @depth made at queue_open()
 *              (no malloc on the data path), each the first member of the
 *              backend's own slot struct;
 *   deadlines  every bio must complete within timeout= seconds (parsed
 *              here, one default and one bound for all);
 *   stalls     the bios failed by the deadline and the storage's return,
 *              told to the log in the same lines for every backend;
 *   bounces    a buffer per slot for data the driver's vectors cannot take
 *              as they are;
 *   wake-ups   an eventfd and a done list that a library's own threads
 *              complete slots onto, for the queue's thread to reap.
 *
 * Everything but vdk__eng_complete() runs in the queue's thread.
 */
#ifndef VDK_BACKENDS_ENGINE_H
#define VDK_BACKENDS_ENGINE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "internal.h"

#define VDK_NS_PER_MS 1000000ull
#define VDK_NS_PER_S 1000000000ull

/* timeout=: how long a bio may wait for the storage. */
#define VDK_TIMEOUT_DEFAULT_S 30
#define VDK_TIMEOUT_MAX_S 86400
/* The deepest queue a backend takes (queue_open()'s @depth). */
#define VDK_ENG_DEPTH_MAX 32768

#define vdk__container_of(p, type, member) \
	((type *)((char *)(p) - offsetof(type, member)))

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t vdk__now_ns(void);

/*
 * "timeout": seconds, 1 to VDK_TIMEOUT_MAX_S, VDK_TIMEOUT_DEFAULT_S when
 * absent.  0 or -EINVAL with a message.
 */
int vdk__get_timeout(struct vdk_params *ps, unsigned int *out_s, char *err,
		     size_t errlen);

/* Where the bio's data is one piece of memory, or NULL. */
uint8_t *vdk__iov_contiguous(const struct iovec *iov, unsigned int iovcnt);

struct vdk__eng;

/* The engine's part of a backend's slot: its first member. */
struct vdk__slot {
	struct vdk__eng *eng;
	struct vdk_bio *bio;       /* NULL: free, or failed while held */
	struct vdk__slot *next;    /* the free list, or a backend's list */
	struct vdk__slot *all_next; /* every slot of the queue */
	uint64_t deadline;         /* ns: the bio fails with -EIO after */
	struct vdk__bounce bounce;
	bool held;                 /* the storage still has it */
	bool extra;                /* made beyond the slab */
};

/* A FIFO of slots through ->next. */
struct vdk__slist {
	struct vdk__slot *head, *tail;
};

static inline void vdk__slist_push(struct vdk__slist *l, struct vdk__slot *s)
{
	s->next = NULL;
	if (l->tail)
		l->tail->next = s;
	else
		l->head = s;
	l->tail = s;
}

static inline struct vdk__slot *vdk__slist_pop(struct vdk__slist *l)
{
	struct vdk__slot *s = l->head;

	if (s) {
		l->head = s->next;
		if (!l->head)
			l->tail = NULL;
		s->next = NULL;
	}
	return s;
}

struct vdk__eng_cfg {
	unsigned int qidx;
	unsigned int depth;        /* 1 to VDK_ENG_DEPTH_MAX */
	size_t slot_size;          /* the backend's slot struct */
	unsigned int timeout_s;
	const struct vdk_backend_log *log;
	const char *who;           /* for the log: "the server" */
	/*
	 * Slots stay with the storage after their bio failed by the
	 * deadline (it cannot cancel): make more than @depth then.
	 */
	bool grow;
	/* Other threads complete slots: an eventfd and a locked list. */
	bool wake;
};

/* Per queue; initialised by vdk__eng_init(). */
struct vdk__eng {
	struct vdk__eng_cfg cfg;
	uint64_t timeout_ns;
	unsigned char *slab;
	struct vdk__slot *free;
	struct vdk__slot *all;
	unsigned int busy;          /* slots with a bio */
	unsigned int held;          /* slots the storage has */
	uint64_t next_check;        /* earliest deadline, UINT64_MAX: none */
	struct vdk__stall stall;
	size_t bounce_held;
	int efd;                    /* cfg.wake: readable when done has slots */
	bool lock_ok;
	pthread_mutex_t lock;       /* cfg.wake: done, against other threads */
	struct vdk__slot *_Atomic done; /* LIFO, pushed by vdk__eng_complete */
};

/*
 * Make the slab (and the eventfd with cfg->wake).  0 or -errno; call
 * vdk__eng_fini() in both cases.
 */
int vdk__eng_init(struct vdk__eng *e, const struct vdk__eng_cfg *cfg);
/*
 * Free what the engine made.  The bios must have completed (see
 * vdk__eng_fail_all) and the storage given back every slot it held.
 */
void vdk__eng_fini(struct vdk__eng *e);

/* A free slot for @bio with its deadline, or NULL (none free: -EBUSY). */
struct vdk__slot *vdk__eng_get(struct vdk__eng *e, struct vdk_bio *bio);
/* Give back a slot whose bio the storage did not take (no done()). */
void vdk__eng_unget(struct vdk__slot *s);
/*
 * Complete the slot's bio with @result.  The slot is free again at once
 * unless the storage holds it; done() runs last and may submit.
 */
void vdk__eng_finish(struct vdk__slot *s, int result);
/* Complete every bio still in a slot with @result.  How many. */
unsigned int vdk__eng_fail_all(struct vdk__eng *e, int result);

/* The storage has the slot / gave it back (freed if its bio failed). */
void vdk__eng_hold(struct vdk__slot *s);
void vdk__eng_release(struct vdk__slot *s);

/* A bounce buffer of at least @len bytes in the slot.  0 or -ENOMEM. */
static inline int vdk__eng_bounce(struct vdk__slot *s, uint64_t len)
{
	return vdk__bounce_get(&s->bounce, &s->eng->bounce_held, len);
}

/* Whether a deadline may have passed at @now. */
static inline bool vdk__eng_due(const struct vdk__eng *e, uint64_t now)
{
	return e->busy && now >= e->next_check;
}

/*
 * Call @fn for each slot whose bio's deadline passed at @now; @fn may
 * finish it (and return true, counted as failed by the timeout) or leave
 * it for later (false).  Then find the next deadline among the others.
 * Returns how many @fn finished, told to the log as failed.
 */
unsigned int vdk__eng_expire(struct vdk__eng *e, uint64_t now,
			     bool (*fn)(struct vdk__slot *s, void *arg),
			     void *arg);
/* Find the next deadline again (after slots were taken off the clock). */
void vdk__eng_rearm(struct vdk__eng *e, uint64_t now);

/* @n bios failed by the deadline at @now, for the log. */
void vdk__eng_stall_failed(struct vdk__eng *e, unsigned int n, uint64_t now);
/* The storage answered: tell the log if bios had failed before. */
void vdk__eng_answered(struct vdk__eng *e);

/*
 * queue_timeout(): milliseconds until the next deadline or @also (ns,
 * UINT64_MAX for nothing else), -1 if neither.
 */
int vdk__eng_timeout_ms(const struct vdk__eng *e, uint64_t also);

/* cfg.wake: queue_fd(). */
static inline int vdk__eng_fd(const struct vdk__eng *e)
{
	return e->efd;
}
/* cfg.wake, any thread: the storage is done with @s; wake the queue. */
void vdk__eng_complete(struct vdk__slot *s);
/* cfg.wake: the completed slots, oldest first, through ->next. */
struct vdk__slot *vdk__eng_take(struct vdk__eng *e);

/* Every slot of the queue, free or not. */
#define vdk__eng_for_each(e, s) \
	for ((s) = (e)->all; (s); (s) = (s)->all_next)

#endif /* VDK_BACKENDS_ENGINE_H */
