/* SPDX-License-Identifier: MIT */
/*
 * Virtqueues, device side: what both ring layouts share (the request
 * pool, the checks of a chain's buffers, the mappings a queue holds, the
 * public calls), and split rings.  Packed rings are in vq-packed.c,
 * behind struct vdk__ring_ops.
 *
 * Everything in the rings is written by the driver, which we do not
 * trust: each descriptor is read once into local memory, every index and
 * length is checked before use, and a chain is walked with a counter so
 * that a loop ends.  A malformed chain is completed at once with no data;
 * a ring whose indexes make no sense marks the queue broken.  Either way
 * the driver never waits for a request we silently dropped.
 */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "internal.h"

#define unlikely(x) __builtin_expect(!!(x), 0)

/* A request's private area sits in the pool, 16-byte aligned. */
#define PRIV_ALIGN 16

static size_t align_up(size_t v, size_t a)
{
	return (v + a - 1) & ~(a - 1);
}

int vdk__vq_init(struct vdk_vq *vq, struct vdk_dev *dev, unsigned int index,
		 unsigned int max_size, unsigned int max_iovecs,
		 size_t priv_size)
{
	unsigned int i;
	int ret;

	memset(vq, 0, sizeof(*vq));
	vq->dev = dev;
	vq->index = index;
	vq->max_size = max_size;
	vq->max_iovecs = max_iovecs;
	vq->priv_size = align_up(priv_size, PRIV_ALIGN);
	vq->kickfd = -1;

	vq->slots = calloc(max_size, sizeof(*vq->slots));
	vq->iov_pool = calloc((size_t)max_size * max_iovecs,
			      sizeof(*vq->iov_pool));
	vq->indirect_buf = calloc(max_iovecs, sizeof(struct vring_desc));
	vq->resubmit = calloc(max_size, sizeof(*vq->resubmit));
	vq->order = calloc(max_size, sizeof(*vq->order));
	vq->chain = calloc(max_size, sizeof(*vq->chain));
	vq->pool_free = calloc(max_size, sizeof(*vq->pool_free));
	vq->pool_next = calloc(max_size, sizeof(*vq->pool_next));
	if (vq->priv_size)
		vq->priv_pool = aligned_alloc(PRIV_ALIGN,
					      max_size * vq->priv_size);
	if (!vq->slots || !vq->iov_pool || !vq->indirect_buf || !vq->resubmit ||
	    !vq->order || !vq->chain || !vq->pool_free || !vq->pool_next ||
	    (vq->priv_size && !vq->priv_pool)) {
		ret = -ENOMEM;
		goto err_free;
	}
	if (vq->priv_size)
		memset(vq->priv_pool, 0, max_size * vq->priv_size);
	for (i = 0; i < max_size; i++) {
		vq->slots[i].req.id = (uint16_t)i;
		vq->slots[i].vq = vq;
		vq->slots[i].req.iov = &vq->iov_pool[(size_t)i * max_iovecs];
	}
	vq->kickfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (vq->kickfd < 0) {
		ret = -errno;
		goto err_free;
	}
	return 0;

err_free:
	free(vq->pool_next);
	free(vq->pool_free);
	free(vq->chain);
	free(vq->order);
	free(vq->resubmit);
	free(vq->priv_pool);
	free(vq->indirect_buf);
	free(vq->iov_pool);
	free(vq->slots);
	vq->slots = NULL;
	return ret;
}

void vdk__vq_fini(struct vdk_vq *vq)
{
	if (!vq->slots)
		return;
	if (vq->kickfd >= 0)
		close(vq->kickfd);
	vq->kickfd = -1;
	free(vq->pool_next);
	free(vq->pool_free);
	free(vq->chain);
	free(vq->order);
	free(vq->resubmit);
	free(vq->priv_pool);
	free(vq->indirect_buf);
	free(vq->iov_pool);
	free(vq->slots);
	vq->slots = NULL;
}

/*
 * Tell the control thread the oldest generation of mappings this queue
 * may still use: that of its oldest request in flight, else that of its
 * rings; none (UINT64_MAX) for a queue that holds neither.  Release: our
 * reads and writes through older mappings come before the control
 * thread, which loads it with acquire, unmaps them.
 */
static void publish_safe_gen(struct vdk_vq *vq)
{
	uint64_t g = UINT64_MAX;

	if (vq->n_old)
		g = vq->old_min;
	else if (vq->n_cur || vq->rings_gen)
		g = vq->rings_gen;
	atomic_store_explicit(&vq->safe_gen, g, memory_order_release);
}

/*
 * Count the requests in flight as older than any generation the queue
 * will see from now on: they keep what they were translated in, and
 * nothing newer.
 */
static void age_inflight(struct vdk_vq *vq)
{
	if (!vq->n_cur)
		return;
	if (!vq->n_old)
		vq->old_min = vq->rings_gen;
	vq->n_old += vq->n_cur;
	vq->n_cur = 0;
}

/*
 * The queue stops for good (until the driver resets it).  It lets go of
 * its rings at once, so that it pins no mapping but those its requests
 * still in flight were translated in: a driver that breaks one queue and
 * then keeps changing its memory map does not make the daemon keep every
 * mapping it retires from then on.  Queue thread only.
 */
void vdk__vq_mark_broken(struct vdk_vq *vq, const char *why, unsigned int a,
			 unsigned int b)
{
	if (!atomic_exchange(&vq->broken, true))
		vdk__log_limited(vq->dev, VDK_LOG_ERR,
				 "%s: queue %u broken: %s (%u, %u)",
				 vq->dev->name, vq->index, why, a, b);
	age_inflight(vq);
	vq->ring->forget(vq);
	vq->rings_gen = 0;
	publish_safe_gen(vq);
}

static void split_forget(struct vdk_vq *vq)
{
	vq->desc = NULL;
	vq->avail = NULL;
	vq->used = NULL;
}

/* Ring sizes in bytes, with the event index fields. */
static uint64_t desc_bytes(unsigned int num)
{
	return 16ull * num;
}

static uint64_t avail_bytes(unsigned int num)
{
	return 4 + 2ull * num + 2;
}

static uint64_t used_bytes(unsigned int num)
{
	return 4 + 8ull * num + 2;
}

/*
 * Point at the rings through the current mappings.  Each ring must lie in
 * one mapping: the kernel's coherent allocations and a VM's memory
 * regions always give that.
 */
static int split_resolve(struct vdk_vq *vq)
{
	struct vdk__iotlb *t = &vq->dev->iotlb;
	uint64_t gen = atomic_load_explicit(&t->gen, memory_order_acquire);
	void *d, *a, *u;

	d = vdk__iotlb_ptr(t, &vq->tlb, vq->desc_iova, desc_bytes(vq->num),
			   VDUSE_ACCESS_RO);
	a = vdk__iotlb_ptr(t, &vq->tlb, vq->avail_iova, avail_bytes(vq->num),
			   VDUSE_ACCESS_RO);
	u = vdk__iotlb_ptr(t, &vq->tlb, vq->used_iova, used_bytes(vq->num),
			   VDUSE_ACCESS_WO);
	if (!d || !a || !u)
		return -EFAULT;
	/* Misaligned rings would make every access undefined behaviour. */
	if (((uintptr_t)d & 15) || ((uintptr_t)a & 1) || ((uintptr_t)u & 3))
		return -EINVAL;
	vq->desc = d;
	vq->avail = a;
	vq->used = u;
	vq->rings_gen = gen;
	return 0;
}

/*
 * After an IOTLB invalidation, look the rings up again.  Requests in
 * flight keep their vectors: they count as older than the new generation
 * until they are pushed.
 */
static bool rings_current(struct vdk_vq *vq)
{
	struct vdk__iotlb *t = &vq->dev->iotlb;

	if (unlikely(atomic_load_explicit(&vq->broken,
					  memory_order_relaxed)))
		return false;
	uint64_t now = atomic_load_explicit(&t->gen, memory_order_acquire);

	if (now == vq->rings_gen)
		return true;
	age_inflight(vq);
	/*
	 * The old ring pointers are not used again.  What the lookups below
	 * find is in the table of generation @now or later, so @now is safe
	 * to publish before them; and it lets a reclaim that those lookups
	 * may need (VDK_IOTLB_MAX_MAPS) take what only our rings held.
	 */
	vq->rings_gen = now;
	publish_safe_gen(vq);
	if (vq->ring->resolve(vq) == 0) {
		publish_safe_gen(vq);
		return true;
	}
	vdk__vq_mark_broken(vq, "rings no longer mapped", 0, 0);
	return false;
}

uint64_t vdk__vq_safe_gen(struct vdk_vq *vq)
{
	return atomic_load_explicit(&vq->safe_gen, memory_order_acquire);
}

int vdk__vq_start(struct vdk_vq *vq)
{
	int ret;

	vq->ring = vq->packed ? &vdk__packed_ops : &vdk__split_ops;
	/* A packed ring may have any size (its indexes wrap by hand). */
	if (vq->num == 0 || vq->num > vq->max_size ||
	    (!vq->packed && (vq->num & (vq->num - 1)))) {
		vdk__log(vq->dev, VDK_LOG_ERR,
			 "%s: queue %u: bad size %u (max %u%s)",
			 vq->dev->name, vq->index, vq->num, vq->max_size,
			 vq->packed ? "" : ", power of 2");
		return -EINVAL;
	}
	memset(&vq->tlb, 0, sizeof(vq->tlb));
	ret = vq->ring->resolve(vq);
	if (ret < 0) {
		vdk__log(vq->dev, VDK_LOG_ERR,
			 "%s: queue %u: rings not mapped (desc %#llx avail "
			 "%#llx used %#llx)",
			 vq->dev->name, vq->index,
			 (unsigned long long)vq->desc_iova,
			 (unsigned long long)vq->avail_iova,
			 (unsigned long long)vq->used_iova);
		return ret;
	}
	vq->resubmit_n = 0;
	vq->resubmit_pos = 0;
	vq->inflight = 0;
	vq->n_cur = 0;
	vq->n_old = 0;
	vq->order_first = 0;
	vq->order_n = 0;
	ret = vq->ring->position(vq);
	if (ret < 0) {
		vq->ring->forget(vq);
		return ret;
	}
	vq->signalled_used_valid = false;
	vq->kick_enabled = true;
	publish_safe_gen(vq);
	atomic_store(&vq->broken, false);
	vq->ready = true;
	return 0;
}

static int split_position(struct vdk_vq *vq)
{
	/*
	 * A fresh ring starts where the kernel says (0 unless a VMM
	 * restored a position).  A resumed one goes on after the last
	 * completion the driver can see.
	 */
	if (vq->resume) {
		uint16_t used = le16toh(__atomic_load_n(&vq->used->idx,
							__ATOMIC_ACQUIRE));
		int n = vdk__inflight_recover(vq, used);

		if (n < 0) {
			vdk__log(vq->dev, VDK_LOG_ERR,
				 "%s: queue %u: in-flight log inconsistent "
				 "with the ring: not used",
				 vq->dev->name, vq->index);
			n = 0;
			vdk__inflight_reset(vq, used);
		} else if (n > 0) {
			vdk__log(vq->dev, VDK_LOG_NOTICE,
				 "%s: queue %u: %d requests were in flight: "
				 "taking them again",
				 vq->dev->name, vq->index, n);
		}
		vq->used_idx = used;
		atomic_store(&vq->last_avail_idx, (uint16_t)(used + n));
	} else {
		vdk__inflight_reset(vq, vq->start_avail_idx);
		vq->used_idx = vq->start_avail_idx;
		atomic_store(&vq->last_avail_idx, vq->start_avail_idx);
	}
	return 0;
}

void vdk__vq_stop(struct vdk_vq *vq)
{
	unsigned int i;

	vq->ready = false;
	split_forget(vq);
	vq->pdesc = NULL;
	vq->driver_ev = NULL;
	vq->device_ev = NULL;
	vq->inflight = 0;
	vq->n_cur = 0;
	vq->n_old = 0;
	vq->order_first = 0;
	vq->order_n = 0;
	for (i = 0; i < vq->max_size; i++) {
		vq->slots[i].busy = false;
		vq->slots[i].queued = false;
		vq->slots[i].done = false;
	}
	memset(&vq->tlb, 0, sizeof(vq->tlb));
}

/* Acquire: ring entries are read only after the index that covers them. */
static uint16_t read_avail_idx(const struct vdk_vq *vq)
{
	return le16toh(__atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE));
}

static void put_used(struct vdk_vq *vq, uint16_t id, uint32_t len)
{
	struct vring_used_elem *e = &vq->used->ring[vq->used_idx &
						     (vq->num - 1)];
	struct vdk__inflight_q *log = vq->log;

	/* The order of these stores is what recovery relies on. */
	if (log)
		__atomic_store_n(&log->last_head, id, __ATOMIC_RELEASE);
	e->id = htole32(id);
	e->len = htole32(len);
	vq->used_idx++;
	/* Release: the element is visible before the index that covers it. */
	__atomic_store_n(&vq->used->idx, htole16(vq->used_idx),
			 __ATOMIC_RELEASE);
	if (log) {
		__atomic_store_n(&log->stamp[id], 0, __ATOMIC_RELEASE);
		__atomic_store_n(&log->used_idx, vq->used_idx,
				 __ATOMIC_RELEASE);
	}
	vq->stats.pushed++;
}

/*
 * Fetch a descriptor once.  The driver may rewrite it while we look: each
 * field is loaded exactly once (a plain copy lets the compiler load a
 * field again where it likes, and then a checked value and a used one
 * may differ), and only the copy is used afterwards.
 */
static void read_desc(const struct vring_desc *src, struct vring_desc *d)
{
	d->addr = __atomic_load_n(&src->addr, __ATOMIC_RELAXED);
	d->len = __atomic_load_n(&src->len, __ATOMIC_RELAXED);
	d->flags = __atomic_load_n(&src->flags, __ATOMIC_RELAXED);
	d->next = __atomic_load_n(&src->next, __ATOMIC_RELAXED);
}

/*
 * Walk the chain at @head into the slot's vectors.  The table is the
 * ring's descriptor table, then possibly one indirect table.
 */
static int walk_chain(struct vdk_vq *vq, struct vdk__slot *slot,
		      struct vdk__walk *w)
{
	struct vdk_req *req = &slot->req;
	const struct vring_desc *table = vq->desc;
	unsigned int table_size = vq->num;
	unsigned int i = req->id, count = 0;
	bool indirect = false;

	for (;;) {
		struct vring_desc d;
		uint16_t flags;
		uint64_t addr;
		uint32_t len;

		/* More steps than entries: a loop, or a chain too long. */
		if (count++ >= table_size)
			VDK_WALK_FAIL(w,
				      "descriptor chain loops or is too long",
				      count);
		read_desc(&table[i], &d);
		flags = le16toh(d.flags);
		addr = le64toh(d.addr);
		len = le32toh(d.len);

		if (flags & VRING_DESC_F_INDIRECT) {
			const struct vring_desc *ind;

			if (indirect)
				VDK_WALK_FAIL(w, "nested indirect table", i);
			if (flags & VRING_DESC_F_NEXT)
				VDK_WALK_FAIL(w,
					      "indirect descriptor with NEXT",
					      i);
			ind = vdk__vq_indirect(vq, w, addr, len, i);
			if (!ind)
				return -EINVAL;
			table = ind;
			table_size = len / sizeof(struct vring_desc);
			indirect = true;
			count = 0;
			i = 0;
			continue;
		}
		if (vdk__vq_add_buf(vq, req, w, addr, len,
				    flags & VRING_DESC_F_WRITE, i) < 0)
			return -EINVAL;
		if (!(flags & VRING_DESC_F_NEXT))
			break;
		i = le16toh(d.next);
		if (i >= table_size)
			VDK_WALK_FAIL(w, "next index out of range", i);
	}
	return vdk__vq_walk_end(vq, req, w);
}

/* Complete a malformed chain now, with nothing written, and log it. */
void vdk__vq_order_add(struct vdk_vq *vq, struct vdk__slot *slot)
{
	/*
	 * A head is queued once (the pops check) and a ring holds at most
	 * max_size of them: there is room.
	 */
	vq->order[(vq->order_first + vq->order_n) & (vq->max_size - 1)] =
		slot->req.id;
	vq->order_n++;
	slot->queued = true;
	slot->done = false;
}

/*
 * In order, from vdk_vq_notify(): give the driver back the oldest
 * requests that are done.  One ring entry covers a run of them, the
 * driver reading each skipped one as wholly used (VIRTIO_F_IN_ORDER): a
 * request whose length is less than its whole buffer ends a run.  Each
 * pass takes at least one request off the order: the loop ends within
 * order_n passes.
 */
static void order_flush(struct vdk_vq *vq)
{
	while (vq->order_n) {
		struct vdk__slot *s = NULL;
		unsigned int i, n = 0;

		for (i = 0; i < vq->order_n; i++) {
			s = vdk__vq_order_slot(vq, i);
			if (!s->done)
				break;
			n = i + 1;
			if (!s->whole)
				break;
		}
		if (n == 0)
			return;
		s = vdk__vq_order_slot(vq, n - 1);
		vq->ring->put_batch(vq, n, s->used_len);
		for (i = 0; i < n; i++) {
			s = vdk__vq_order_slot(vq, i);
			s->queued = false;
			s->done = false;
		}
		vq->order_first = (vq->order_first + n) & (vq->max_size - 1);
		vq->order_n -= n;
	}
}

void vdk__vq_refused(struct vdk_vq *vq, struct vdk__slot *slot,
		     const struct vdk__walk *w)
{
	vq->stats.bad++;
	vdk__log_limited(vq->dev, VDK_LOG_WARNING,
			 "%s: queue %u: request %u refused: %s (%u)",
			 vq->dev->name, vq->index, slot->req.id, w->why,
			 w->value);
	if (vq->in_order) {
		/* Out in its turn, from the next vdk_vq_notify(). */
		slot->done = true;
		slot->used_len = 0;
		slot->whole = false;
	} else {
		vq->ring->put_used(vq, slot, 0);
	}
}

static int split_pop(struct vdk_vq *vq, struct vdk_req **out)
{
	unsigned int refused = 0;

	for (;;) {
		uint16_t last = atomic_load_explicit(&vq->last_avail_idx,
						     memory_order_relaxed);
		struct vdk__walk w = { 0 };
		struct vdk__slot *slot;
		uint16_t head;

		if (unlikely(vq->resubmit_pos < vq->resubmit_n)) {
			/* In flight when the last daemon died: again. */
			head = vq->resubmit[vq->resubmit_pos++];
		} else {
			uint16_t avail_idx = read_avail_idx(vq);
			uint16_t pending = (uint16_t)(avail_idx - last);

			if (pending == 0)
				return 0;
			if (pending > vq->num) {
				vdk__vq_mark_broken(vq,
						    "avail index moved too far",
						    avail_idx, last);
				return -EIO;
			}
			head = le16toh(__atomic_load_n(
				&vq->avail->ring[last & (vq->num - 1)],
				__ATOMIC_RELAXED));
			if (head >= vq->num) {
				vdk__vq_mark_broken(vq, "head out of range",
						    head, vq->num);
				return -EIO;
			}
			atomic_store_explicit(&vq->last_avail_idx,
					      (uint16_t)(last + 1),
					      memory_order_relaxed);
		}
		slot = &vq->slots[head];
		if (slot->busy || slot->queued) {
			vdk__vq_mark_broken(vq, "head already in flight",
					    head, 0);
			return -EIO;
		}
		if (vq->in_order) {
			/*
			 * Refused or not, it goes back in its turn: until
			 * then the log has it, as recovery counts on.
			 */
			vdk__vq_order_add(vq, slot);
			if (vq->log)
				__atomic_store_n(&vq->log->stamp[head],
						 ++vq->log->counter,
						 __ATOMIC_RELEASE);
			if (walk_chain(vq, slot, &w) == 0)
				return vdk__vq_taken(vq, slot, out);
		} else if (walk_chain(vq, slot, &w) == 0) {
			if (vq->log)
				__atomic_store_n(&vq->log->stamp[head],
						 ++vq->log->counter,
						 __ATOMIC_RELEASE);
			return vdk__vq_taken(vq, slot, out);
		}
		vdk__vq_refused(vq, slot, &w);
		/*
		 * A driver that keeps posting bad chains must not keep us
		 * here: the caller has completions to reap and notify, a
		 * stop to notice.  It learns of the rest from
		 * vdk_vq_pending().
		 */
		if (++refused >= VDK_VQ_REFUSE_MAX(vq))
			return 0;
	}
}

VDK_EXPORT int vdk_vq_pop(struct vdk_vq *vq, struct vdk_req **out)
{
	if (unlikely(!vq->ready))
		return -EAGAIN;
	if (unlikely(atomic_load_explicit(&vq->broken, memory_order_relaxed)))
		return -EIO;
	if (unlikely(!rings_current(vq)))
		return -EIO;
	return vq->ring->pop(vq, out);
}

VDK_EXPORT void vdk_vq_push(struct vdk_vq *vq, struct vdk_req *req,
			    uint32_t len)
{
	struct vdk__slot *slot = (struct vdk__slot *)req;

	if (unlikely(!vq->ready || !slot->busy)) {
		vdk__log_limited(vq->dev, VDK_LOG_ERR,
				 "%s: queue %u: push of request %u not in "
				 "flight",
				 vq->dev->name, vq->index, req->id);
		return;
	}
	slot->busy = false;
	vq->inflight--;
	if (slot->gen == vq->rings_gen) {
		vq->n_cur--;
	} else if (vq->n_old && --vq->n_old == 0) {
		/* The last request of older mappings is done with them. */
		publish_safe_gen(vq);
	}
	if (len > req->in_len)
		len = (uint32_t)req->in_len;
	if (vq->in_order) {
		/*
		 * Out from the next vdk_vq_notify(), in its turn: the
		 * completions pushed by then go out in runs.
		 */
		slot->done = true;
		slot->used_len = len;
		slot->whole = len == req->out_len + req->in_len;
		return;
	}
	if (unlikely(!rings_current(vq)))
		return;
	vq->ring->put_used(vq, slot, len);
}

static bool split_need_irq(struct vdk_vq *vq, bool valid, uint16_t advance)
{
	if (vq->event_idx) {
		uint16_t event = le16toh(
			__atomic_load_n(&vq->avail->ring[vq->num],
					__ATOMIC_RELAXED));

		return !valid ||
		       vring_need_event(event, vq->used_idx,
					(uint16_t)(vq->used_idx - advance));
	}
	return !(le16toh(__atomic_load_n(&vq->avail->flags,
					 __ATOMIC_RELAXED)) &
		 VRING_AVAIL_F_NO_INTERRUPT);
}

VDK_EXPORT int vdk_vq_notify(struct vdk_vq *vq)
{
	uint16_t old, new_idx;
	bool need;
	int ret;

	/*
	 * The driver's suppression fields are read through the current
	 * mappings: after an IOTLB update the old ones may show stale values.
	 */
	if (unlikely(!vq->ready || !rings_current(vq)))
		return 0;
	if (vq->in_order && !atomic_load_explicit(&vq->broken,
						  memory_order_relaxed))
		order_flush(vq);
	vq->stats.notifies++;
	new_idx = vq->used_idx;
	old = vq->signalled_used;
	if (vq->signalled_used_valid && old == new_idx)
		return 0;
	/*
	 * Full barrier: our used ring stores must be visible before we read
	 * the driver's suppression state, or both sides may skip (the
	 * driver re-enables interrupts and checks the used ring in the
	 * mirror order).
	 */
	atomic_thread_fence(memory_order_seq_cst);
	need = vq->ring->need_irq(vq, vq->signalled_used_valid,
				  (uint16_t)(new_idx - old));
	vq->signalled_used = new_idx;
	vq->signalled_used_valid = true;
	if (!need)
		return 0;
	ret = vq->dev->k->ops->vq_inject_irq(vq->dev->k, vq->index);
	if (ret < 0) {
		vdk__log_limited(vq->dev, VDK_LOG_ERR,
				 "%s: queue %u: interrupt failed: %d",
				 vq->dev->name, vq->index, ret);
		return ret;
	}
	vq->stats.irqs++;
	return 1;
}

static void split_set_kick(struct vdk_vq *vq, bool enable)
{
	if (vq->event_idx) {
		/* avail_event lives right after the used ring. */
		uint16_t *avail_event = (uint16_t *)&vq->used->ring[vq->num];

		if (!enable)
			return; /* the stale event index stops kicks */
		__atomic_store_n(avail_event,
				 htole16(atomic_load_explicit(
					 &vq->last_avail_idx,
					 memory_order_relaxed)),
				 __ATOMIC_RELAXED);
	} else {
		__atomic_store_n(&vq->used->flags,
				 htole16(enable ? 0 : VRING_USED_F_NO_NOTIFY),
				 __ATOMIC_RELAXED);
	}
}

VDK_EXPORT void vdk_vq_set_kick(struct vdk_vq *vq, bool enable)
{
	if (unlikely(!vq->ready || !rings_current(vq)))
		return;
	vq->kick_enabled = enable;
	vq->ring->set_kick(vq, enable);
	/*
	 * Full barrier: the enable must be visible before the caller's
	 * vdk_vq_pending() reads the ring, or a request added in between
	 * would be neither kicked nor seen.
	 */
	if (enable)
		atomic_thread_fence(memory_order_seq_cst);
}

static bool split_pending(struct vdk_vq *vq)
{
	return read_avail_idx(vq) !=
	       atomic_load_explicit(&vq->last_avail_idx, memory_order_relaxed);
}

VDK_EXPORT bool vdk_vq_pending(struct vdk_vq *vq)
{
	if (!vq->ready || atomic_load(&vq->broken) || !rings_current(vq))
		return false;
	return vq->ring->pending(vq);
}

static void split_put_used(struct vdk_vq *vq, struct vdk__slot *slot,
			   uint32_t len)
{
	put_used(vq, slot->req.id, len);
}

/*
 * In order: one used element for the @n oldest, with the last one's
 * head, and the used index moved on by @n.  The log's order of stores
 * as for one (see inflight.c): recovery finds the run done from the
 * used index, the @n oldest heads stamped.
 */
static void split_put_batch(struct vdk_vq *vq, unsigned int n, uint32_t len)
{
	struct vring_used_elem *e = &vq->used->ring[vq->used_idx &
						     (vq->num - 1)];
	uint16_t id = vdk__vq_order_slot(vq, n - 1)->req.id;
	struct vdk__inflight_q *log = vq->log;
	unsigned int i;

	if (log)
		__atomic_store_n(&log->last_head, id, __ATOMIC_RELEASE);
	e->id = htole32(id);
	e->len = htole32(len);
	vq->used_idx = (uint16_t)(vq->used_idx + n);
	/* Release: the element is visible before the index that covers it. */
	__atomic_store_n(&vq->used->idx, htole16(vq->used_idx),
			 __ATOMIC_RELEASE);
	if (log) {
		for (i = 0; i < n; i++)
			__atomic_store_n(
				&log->stamp[vdk__vq_order_slot(vq, i)->req.id],
				0, __ATOMIC_RELEASE);
		__atomic_store_n(&log->used_idx, vq->used_idx,
				 __ATOMIC_RELEASE);
	}
	vq->stats.pushed += n;
}

const struct vdk__ring_ops vdk__split_ops = {
	.resolve = split_resolve,
	.forget = split_forget,
	.position = split_position,
	.pop = split_pop,
	.put_used = split_put_used,
	.put_batch = split_put_batch,
	.need_irq = split_need_irq,
	.set_kick = split_set_kick,
	.pending = split_pending,
};

VDK_EXPORT void *vdk_req_priv(struct vdk_req *req)
{
	struct vdk__slot *slot = (struct vdk__slot *)req;
	struct vdk_vq *vq = slot->vq;

	return vq->priv_pool + (size_t)req->id * vq->priv_size;
}

VDK_EXPORT unsigned int vdk_vq_index(const struct vdk_vq *vq)
{
	return vq->index;
}

VDK_EXPORT unsigned int vdk_vq_size(const struct vdk_vq *vq)
{
	return vq->ready ? vq->num : 0;
}

VDK_EXPORT bool vdk_vq_ready(const struct vdk_vq *vq)
{
	return vq->ready;
}

VDK_EXPORT bool vdk_vq_broken(const struct vdk_vq *vq)
{
	return atomic_load(&vq->broken);
}

VDK_EXPORT int vdk_vq_kickfd(const struct vdk_vq *vq)
{
	return vq->kickfd;
}

VDK_EXPORT unsigned int vdk_vq_inflight(const struct vdk_vq *vq)
{
	return vq->inflight;
}

VDK_EXPORT void vdk_vq_get_stats(const struct vdk_vq *vq,
				 struct vdk_vq_stats *st)
{
	*st = vq->stats;
}
