/* SPDX-License-Identifier: MIT */
/*
 * Packed virtqueues (VIRTIO_F_RING_PACKED), device side.
 *
 * One ring of descriptors serves both ways: the driver makes a chain
 * available at consecutive positions (its head last), and the device
 * writes a used descriptor (buffer id, length) at its own used position
 * for each chain it completes, moving on by the number of descriptors
 * the chain took.  Each side keeps a wrap counter that flips at the end
 * of the ring; the AVAIL and USED flag bits of a descriptor, compared
 * with it, say whose turn it is.  Positions are kept here as idx | wrap
 * counter << 15 (a ring has at most 32768 entries).
 *
 * The same rules hold as for split rings (vq.c): the driver may rewrite
 * the ring at any time, so a chain's descriptors are each read once,
 * into vq->chain, before anything is checked, and only the copy is used
 * afterwards; a used descriptor may overwrite a chain still in flight,
 * which is why nothing is read from the ring twice.  A malformed chain
 * (a buffer that wraps, is not mapped, is readable after a writable
 * one, a bad indirect table...) is completed at once with no data.  A
 * ring that makes no sense (a chain longer than the room the ring has,
 * a descriptor in a chain that is not available, a buffer id out of
 * range or already in flight) breaks the queue: its positions can no
 * longer be trusted.
 */
#include <endian.h>
#include <errno.h>
#include <string.h>

#include "internal.h"

#define unlikely(x) __builtin_expect(!!(x), 0)

#define F_AVAIL (1u << VRING_PACKED_DESC_F_AVAIL)
#define F_USED (1u << VRING_PACKED_DESC_F_USED)
#define POS_WRAP 0x8000u

static unsigned int pos_idx(uint16_t pos)
{
	return pos & (POS_WRAP - 1);
}

static bool pos_wrap(uint16_t pos)
{
	return pos & POS_WRAP;
}

/* @pos moved on by @n <= num entries, the wrap counter flipped past the end. */
static uint16_t pos_add(uint16_t pos, unsigned int n, unsigned int num)
{
	unsigned int idx = pos_idx(pos) + n;
	unsigned int wrap = pos & POS_WRAP;

	if (idx >= num) {
		idx -= num;
		wrap ^= POS_WRAP;
	}
	return (uint16_t)(idx | wrap);
}

/* Made available by the driver in the lap of wrap counter @wrap. */
static bool desc_avail(uint16_t flags, bool wrap)
{
	return !!(flags & F_AVAIL) == wrap && !!(flags & F_USED) != wrap;
}

static int packed_resolve(struct vdk_vq *vq)
{
	struct vdk__iotlb *t = &vq->dev->iotlb;
	uint64_t gen = atomic_load_explicit(&t->gen, memory_order_acquire);
	void *d, *drv, *dev;

	/* We write used descriptors into the ring: it must be writable. */
	d = vdk__iotlb_ptr(t, &vq->tlb, vq->desc_iova, 16ull * vq->num,
			   VDUSE_ACCESS_RW);
	drv = vdk__iotlb_ptr(t, &vq->tlb, vq->avail_iova,
			     sizeof(struct vring_packed_desc_event),
			     VDUSE_ACCESS_RO);
	dev = vdk__iotlb_ptr(t, &vq->tlb, vq->used_iova,
			     sizeof(struct vring_packed_desc_event),
			     VDUSE_ACCESS_WO);
	if (!d || !drv || !dev)
		return -EFAULT;
	if (((uintptr_t)d & 15) || ((uintptr_t)drv & 3) ||
	    ((uintptr_t)dev & 3))
		return -EINVAL;
	vq->pdesc = d;
	vq->driver_ev = drv;
	vq->device_ev = dev;
	vq->rings_gen = gen;
	return 0;
}

static void packed_forget(struct vdk_vq *vq)
{
	vq->pdesc = NULL;
	vq->driver_ev = NULL;
	vq->device_ev = NULL;
}

/* A position from VDUSE: an index within the ring, a counter of 0 or 1. */
static bool pos_ok(const struct vdk_vq *vq, uint16_t pos)
{
	return pos_idx(pos) < vq->num;
}

static int packed_position(struct vdk_vq *vq)
{
	if (vq->resume && vq->log) {
		int n = vdk__inflight_recover_packed(vq);

		if (n >= 0) {
			if (n > 0)
				vdk__log(vq->dev, VDK_LOG_NOTICE,
					 "%s: queue %u: %d requests were in "
					 "flight: taking them again",
					 vq->dev->name, vq->index, n);
			return 0;
		}
		vdk__log(vq->dev, VDK_LOG_ERR,
			 "%s: queue %u: in-flight log inconsistent with the "
			 "ring: not used",
			 vq->dev->name, vq->index);
	} else if (vq->resume) {
		/*
		 * Only the log knows where a packed ring stood: without
		 * one, VDUSE's positions are all there is.
		 */
		vdk__log(vq->dev, VDK_LOG_WARNING,
			 "%s: queue %u: packed ring resumed without an "
			 "in-flight log: from the positions VDUSE gives",
			 vq->dev->name, vq->index);
	}
	if (vq->start_pos_bad || !pos_ok(vq, vq->start_avail_pos) ||
	    !pos_ok(vq, vq->start_used_pos)) {
		vdk__log(vq->dev, VDK_LOG_ERR,
			 "%s: queue %u: bad packed positions (%#x, %#x)",
			 vq->dev->name, vq->index, vq->start_avail_pos,
			 vq->start_used_pos);
		return -EINVAL;
	}
	/*
	 * As for split rings: both go on from the avail position (the
	 * same as the used one, unless a VMM restored a ring with requests
	 * taken by a device before us: they are not ours to know).
	 */
	vq->used_pos = vq->start_avail_pos;
	atomic_store(&vq->last_avail_idx, vq->start_avail_pos);
	vq->desc_inflight = 0;
	vq->used_idx = 0;
	vdk__inflight_reset(vq, vq->start_avail_pos);
	return 0;
}

/*
 * Write the used descriptor for @slot's chain.  The in-flight log's
 * stores are ordered as for split rings (inflight.c): the driver sees
 * the completion at the release store of the flags.
 */
/*
 * One used descriptor at the used position: buffer @id, @len bytes
 * written, covering @ndesc descriptors, after the log's record of it;
 * the used position moves on by @ndesc.  The caller clears the log's
 * entries after.
 */
static void write_used(struct vdk_vq *vq, uint16_t id, unsigned int ndesc,
		       uint32_t len)
{
	struct vring_packed_desc *d = &vq->pdesc[pos_idx(vq->used_pos)];
	struct vdk__inflight_q *log = vq->log;
	uint16_t flags;

	if (log) {
		__atomic_store_n(&log->last_ndesc, ndesc, __ATOMIC_RELAXED);
		__atomic_store_n(&log->last_head, id, __ATOMIC_RELEASE);
	}
	__atomic_store_n(&d->id, htole16(id), __ATOMIC_RELAXED);
	__atomic_store_n(&d->len, htole32(len), __ATOMIC_RELAXED);
	flags = pos_wrap(vq->used_pos) ? F_AVAIL | F_USED : 0;
	if (len)
		flags |= VRING_DESC_F_WRITE;
	/* Release: id and length are visible before the flags that say so. */
	__atomic_store_n(&d->flags, htole16(flags), __ATOMIC_RELEASE);
	vq->used_pos = pos_add(vq->used_pos, ndesc, vq->num);
	vq->desc_inflight -= ndesc;
	vq->used_idx = (uint16_t)(vq->used_idx + ndesc);
}

static void packed_put_used(struct vdk_vq *vq, struct vdk__slot *slot,
			    uint32_t len)
{
	struct vdk__inflight_q *log = vq->log;
	uint16_t id = slot->req.id;

	write_used(vq, id, slot->ndesc, len);
	if (log) {
		__atomic_store_n(&log->stamp[id], 0, __ATOMIC_RELEASE);
		__atomic_store_n(&log->used_idx, vq->used_pos,
				 __ATOMIC_RELEASE);
		vdk__inflight_done_packed(vq, slot);
	}
	vq->stats.pushed++;
}

/*
 * In order: one used descriptor for the @n oldest, where the first of
 * them began, with the last one's buffer id; the used position moves on
 * by all their descriptors (at most the ring: they are all in flight).
 * The log's order of stores as for one, last_ndesc counting the run's
 * descriptors (see inflight.c).
 */
static void packed_put_batch(struct vdk_vq *vq, unsigned int n, uint32_t len)
{
	struct vdk__inflight_q *log = vq->log;
	unsigned int i, ndesc = 0;

	for (i = 0; i < n; i++)
		ndesc += vdk__vq_order_slot(vq, i)->ndesc;
	write_used(vq, vdk__vq_order_slot(vq, n - 1)->req.id, ndesc, len);
	if (log) {
		for (i = 0; i < n; i++)
			__atomic_store_n(
				&log->stamp[vdk__vq_order_slot(vq, i)->req.id],
				0, __ATOMIC_RELEASE);
		__atomic_store_n(&log->used_idx, vq->used_pos,
				 __ATOMIC_RELEASE);
		for (i = 0; i < n; i++)
			vdk__inflight_done_packed(vq,
						  vdk__vq_order_slot(vq, i));
	}
	vq->stats.pushed += n;
}

/*
 * Read the chain at the avail position into vq->chain, each descriptor
 * once.  Returns its length in descriptors, 0 when nothing is available,
 * -EIO when the ring makes no sense (the queue is then broken).
 */
static int fetch_chain(struct vdk_vq *vq, uint16_t pos)
{
	unsigned int room = vq->num - vq->desc_inflight, n = 0;

	for (;;) {
		const struct vring_packed_desc *src =
			&vq->pdesc[pos_idx(pos)];
		struct vring_packed_desc *d = &vq->chain[n];
		uint16_t flags;

		/*
		 * Acquire on the head's flags: the driver writes the rest of
		 * the chain before it makes the head available.
		 */
		flags = le16toh(__atomic_load_n(&src->flags,
						n ? __ATOMIC_RELAXED :
						    __ATOMIC_ACQUIRE));
		if (!desc_avail(flags, pos_wrap(pos))) {
			if (n == 0)
				return 0;
			vdk__vq_mark_broken(vq,
					    "descriptor in a chain not "
					    "available",
					    pos_idx(pos), n);
			return -EIO;
		}
		if (n >= room) {
			vdk__vq_mark_broken(vq,
					    "descriptor chain longer than the "
					    "ring's room",
					    n + 1, room);
			return -EIO;
		}
		d->addr = __atomic_load_n(&src->addr, __ATOMIC_RELAXED);
		d->len = __atomic_load_n(&src->len, __ATOMIC_RELAXED);
		d->id = __atomic_load_n(&src->id, __ATOMIC_RELAXED);
		d->flags = htole16(flags);
		n++;
		pos = pos_add(pos, 1, vq->num);
		if (!(flags & VRING_DESC_F_NEXT))
			return (int)n;
	}
}

/*
 * Walk the copied chain into the slot's vectors.  An indirect table
 * may only end the chain (it cannot carry NEXT); its entries are all
 * used, in order, whatever their NEXT flag says.
 */
static int walk_packed(struct vdk_vq *vq, struct vdk__slot *slot,
		       unsigned int ndesc, struct vdk__walk *w)
{
	struct vdk_req *req = &slot->req;
	unsigned int i, j;

	for (i = 0; i < ndesc; i++) {
		const struct vring_packed_desc *d = &vq->chain[i];
		uint16_t flags = le16toh(d->flags);
		uint64_t addr = le64toh(d->addr);
		uint32_t len = le32toh(d->len);

		if (flags & VRING_DESC_F_INDIRECT) {
			const struct vring_packed_desc *ind;
			unsigned int size;

			if (flags & VRING_DESC_F_NEXT)
				VDK_WALK_FAIL(w,
					      "indirect descriptor with NEXT",
					      i);
			ind = vdk__vq_indirect(vq, w, addr, len, i);
			if (!ind)
				return -EINVAL;
			size = len / sizeof(*ind);
			for (j = 0; j < size; j++) {
				uint16_t f = le16toh(__atomic_load_n(
					&ind[j].flags, __ATOMIC_RELAXED));
				uint64_t a = le64toh(__atomic_load_n(
					&ind[j].addr, __ATOMIC_RELAXED));
				uint32_t l = le32toh(__atomic_load_n(
					&ind[j].len, __ATOMIC_RELAXED));

				if (f & VRING_DESC_F_INDIRECT)
					VDK_WALK_FAIL(w,
						      "nested indirect table",
						      j);
				if (vdk__vq_add_buf(vq, req, w, a, l,
						    f & VRING_DESC_F_WRITE,
						    j) < 0)
					return -EINVAL;
			}
			continue;
		}
		if (vdk__vq_add_buf(vq, req, w, addr, len,
				    flags & VRING_DESC_F_WRITE, i) < 0)
			return -EINVAL;
	}
	return vdk__vq_walk_end(vq, req, w);
}

static int packed_pop(struct vdk_vq *vq, struct vdk_req **out)
{
	unsigned int refused = 0;

	for (;;) {
		struct vdk__walk w = { 0 };
		struct vdk__slot *slot;
		bool again = false;
		unsigned int ndesc;
		uint16_t id;

		if (unlikely(vq->resubmit_pos < vq->resubmit_n)) {
			/* In flight when the last daemon died: again. */
			id = vq->resubmit[vq->resubmit_pos++];
			ndesc = vdk__inflight_chain_packed(vq, id);
			again = true;
		} else {
			uint16_t pos = atomic_load_explicit(
				&vq->last_avail_idx, memory_order_relaxed);
			int n = fetch_chain(vq, pos);

			if (n <= 0)
				return n;
			ndesc = (unsigned int)n;
			/* The buffer id is in the chain's last descriptor. */
			id = le16toh(vq->chain[ndesc - 1].id);
			if (id >= vq->num) {
				vdk__vq_mark_broken(vq,
						    "buffer id out of range",
						    id, vq->num);
				return -EIO;
			}
			atomic_store_explicit(&vq->last_avail_idx,
					      pos_add(pos, ndesc, vq->num),
					      memory_order_relaxed);
			vq->desc_inflight += ndesc;
		}
		slot = &vq->slots[id];
		if (slot->busy || slot->queued) {
			vdk__vq_mark_broken(vq, "buffer id already in flight",
					    id, 0);
			return -EIO;
		}
		slot->ndesc = (uint16_t)ndesc;
		if (vq->in_order) {
			/*
			 * Refused or not, it goes back in its turn: until
			 * then the log has it, as recovery counts on.
			 */
			vdk__vq_order_add(vq, slot);
			if (vq->log)
				vdk__inflight_take_packed(vq, slot, again);
			if (walk_packed(vq, slot, ndesc, &w) == 0)
				return vdk__vq_taken(vq, slot, out);
		} else if (walk_packed(vq, slot, ndesc, &w) == 0) {
			if (vq->log)
				vdk__inflight_take_packed(vq, slot, again);
			return vdk__vq_taken(vq, slot, out);
		}
		vdk__vq_refused(vq, slot, &w);
		if (++refused >= VDK_VQ_REFUSE_MAX(vq))
			return 0;
	}
}

/*
 * The driver's event position @off_wrap, counted back from our used
 * position: whether the @advance entries written since the last
 * interrupt went past it.  An event one lap or more away is never
 * passed (advance is at most a lap: see the caller).
 */
static bool passed_event(const struct vdk_vq *vq, uint16_t off_wrap,
			 uint16_t advance)
{
	unsigned int off = pos_idx(off_wrap), now = pos_idx(vq->used_pos);
	long back;

	if (pos_wrap(off_wrap) == pos_wrap(vq->used_pos))
		back = (long)now - (long)off;
	else
		back = (long)now + vq->num - (long)off;
	return back > 0 && back <= advance;
}

static bool packed_need_irq(struct vdk_vq *vq, bool valid, uint16_t advance)
{
	uint16_t flags = le16toh(__atomic_load_n(&vq->driver_ev->flags,
						 __ATOMIC_RELAXED));
	uint16_t off_wrap;

	if (flags == VRING_PACKED_EVENT_FLAG_DISABLE)
		return false;
	/* Anything but a valid event position: interrupt, to be safe. */
	if (flags != VRING_PACKED_EVENT_FLAG_DESC || !vq->event_idx || !valid ||
	    advance >= vq->num)
		return true;
	off_wrap = le16toh(__atomic_load_n(&vq->driver_ev->off_wrap,
					   __ATOMIC_RELAXED));
	return passed_event(vq, off_wrap, advance);
}

static void packed_set_kick(struct vdk_vq *vq, bool enable)
{
	uint16_t flags = VRING_PACKED_EVENT_FLAG_DISABLE;

	if (enable && vq->event_idx) {
		/* Kick when the next descriptor we would read is posted. */
		__atomic_store_n(&vq->device_ev->off_wrap,
				 htole16(atomic_load_explicit(
					 &vq->last_avail_idx,
					 memory_order_relaxed)),
				 __ATOMIC_RELAXED);
		flags = VRING_PACKED_EVENT_FLAG_DESC;
	} else if (enable) {
		flags = VRING_PACKED_EVENT_FLAG_ENABLE;
	}
	/* Release: the position before the flags that point at it. */
	__atomic_store_n(&vq->device_ev->flags, htole16(flags),
			 __ATOMIC_RELEASE);
}

static bool packed_pending(struct vdk_vq *vq)
{
	uint16_t pos = atomic_load_explicit(&vq->last_avail_idx,
					    memory_order_relaxed);
	uint16_t flags = le16toh(__atomic_load_n(
		&vq->pdesc[pos_idx(pos)].flags, __ATOMIC_ACQUIRE));

	return vq->resubmit_pos < vq->resubmit_n ||
	       desc_avail(flags, pos_wrap(pos));
}

const struct vdk__ring_ops vdk__packed_ops = {
	.resolve = packed_resolve,
	.forget = packed_forget,
	.position = packed_position,
	.pop = packed_pop,
	.put_used = packed_put_used,
	.put_batch = packed_put_batch,
	.need_irq = packed_need_irq,
	.set_kick = packed_set_kick,
	.pending = packed_pending,
};
