/* SPDX-License-Identifier: MIT */
/*
 * The in-flight log: which requests each queue has taken from the driver
 * and not yet completed, in a file mapped shared (on tmpfs under /run),
 * so that it survives the daemon being killed at any instant.
 *
 * Per queue, the log holds a stamp per descriptor head (0: not in
 * flight; otherwise the order in which it was taken), the head of the
 * last completion started, and the used index the log knows of.  The
 * stores are ordered (each a release store) so that every instant of a
 * SIGKILL leaves a state recovery can read:
 *
 *   take:      stamp[head] = ++counter            (before the device acts)
 *   complete:  last_head = head
 *              used ring element, used->idx       (the driver sees it)
 *              stamp[head] = 0
 *              used_idx = used->idx
 *
 * Recovery (vdk__inflight_recover): if the ring's used->idx is one ahead
 * of the log's used_idx, the daemon died in the middle of completing
 * last_head, which the driver may already have seen: it is done.  Every
 * other stamped head is in flight and is taken again, oldest first.  The
 * driver's avail position follows: used->idx plus the number in flight,
 * since every request taken was either completed or is in flight, and a
 * request taken without a stamp was the last one and is simply taken
 * again from the avail ring.
 *
 * The file is checked as if it could hold anything (left from another
 * device, damaged, changed under us): recovery reads each field once and
 * uses the log only if it fits the ring, else refuses all of it (the
 * queue then goes on from the ring's used->idx).  The used index is the
 * ring's, or one behind with last_head the last used element; stamps are
 * for heads within the ring, distinct, none above the counter; no more
 * heads are in flight than the driver has posted past used->idx, and
 * none of them waits in the avail ring still.  A head stamped that the
 * driver never posted can pass only where the ring cannot tell.  The
 * stamps are then renumbered 1..n: the counter starts again from n at
 * each recovery (and 0 at each reset), so that 64 bits never wrap.
 *
 * In order (VIRTIO_F_IN_ORDER), one used element may complete a run of
 * the oldest requests (used->idx moves on by the run), and one used
 * descriptor the same (the used position moves on by all their
 * descriptors, last_ndesc): last_head is the run's last, and the heads
 * stamped no later than it are the run, all done when the ring shows it.
 * Recovery clears their stamps oldest first, last_head last, so that one
 * cut short finds the rest of the run still stamped up to last_head.
 *
 * Only our user (or root) may write the file, and so shrink it under the
 * mapping (SIGBUS): see check_file().
 *
 * Packed rings (version 2 of the file, made for a device that may run
 * them) need more.  A used descriptor overwrites the ring where the next
 * completion goes, which may be where a chain still in flight was
 * posted, and the ring has no used index the log could be checked
 * against.  So the log keeps, per queue, a pool of copies of the ring
 * descriptors in flight (as many as the ring has), linked through their
 * id field, and per head its chain's first copy and length; the used
 * position (idx | wrap counter << 15) in used_idx; a stamp's top 16 bits
 * hold its chain's length.  The stores:
 *
 *   take:      copies into free pool entries, chain[head]   (no stamp
 *              points at them yet)
 *              stamp[head] = ndesc << 48 | ++counter
 *   complete:  last_ndesc, last_head = head
 *              used descriptor, its flags last        (the driver sees it)
 *              stamp[head] = 0
 *              used_idx = the next used position
 *
 * Recovery (vdk__inflight_recover_packed): the ring shows a used
 * descriptor at the log's used position (flags AVAIL = USED = that
 * position's wrap counter, which neither an available descriptor nor
 * one used a lap before has) for last_head, or the driver's next-lap
 * descriptor that can only follow it there, exactly when the daemon
 * died completing it: it is done, and the position moves on by
 * last_ndesc.
 * The other stamped heads are in flight; their chains must be distinct
 * pool entries, no more than the ring holds.  The avail position is the
 * used one plus the descriptors in flight.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

#define INFLIGHT_MAGIC 0x76646b696e666c31ull /* "vdkinfl1" */
#define INFLIGHT_VERSION 1
#define INFLIGHT_VERSION_PACKED 2

struct inflight_header {
	uint64_t magic;
	uint32_t version;
	uint32_t num_queues;
	uint32_t queue_size;
	uint32_t reserved[3];
};

/* Stamps, then (packed) chain[] and the pool. */
static size_t queue_bytes(unsigned int queue_size, bool packed)
{
	return sizeof(struct vdk__inflight_q) + 8ull * queue_size +
	       (packed ? (4ull + sizeof(struct vring_packed_desc)) *
				 queue_size :
			 0);
}

static size_t file_bytes(unsigned int num_queues, unsigned int queue_size,
			 bool packed)
{
	return sizeof(struct inflight_header) +
	       (size_t)num_queues * queue_bytes(queue_size, packed);
}

/*
 * Whoever may write the file may also shrink it under our mapping, and
 * the next access past its end would raise SIGBUS: only our user (and
 * root, who can kill us anyway) may.
 */
static int check_file(const struct stat *st, size_t size)
{
	if (!S_ISREG(st->st_mode))
		return -EINVAL;
	if (st->st_uid != geteuid() || (st->st_mode & (S_IWGRP | S_IWOTH)))
		return -EPERM;
	if ((size_t)st->st_size != size)
		return -EINVAL;
	return 0;
}

static int open_file(const char *path, bool create, size_t size)
{
	struct stat st;
	int fd, ret;

	if (create) {
		/*
		 * A new file rather than the old one truncated: ours, mode
		 * 0600, whatever the old one was, and a process that still
		 * maps the old one does not see it shrink.
		 */
		if (unlink(path) < 0 && errno != ENOENT)
			return -errno;
		fd = open(path, O_RDWR | O_CLOEXEC | O_CREAT | O_EXCL, 0600);
	} else {
		fd = open(path, O_RDWR | O_CLOEXEC);
	}
	if (fd < 0)
		return -errno;
	if ((create && ftruncate(fd, (off_t)size) < 0) || fstat(fd, &st) < 0) {
		ret = -errno;
		goto err_close;
	}
	ret = check_file(&st, size);
	if (ret < 0)
		goto err_close;
	return fd;

err_close:
	close(fd);
	return ret;
}

/* Each field read once: the file may be anything. */
static bool header_ok(const struct inflight_header *h,
		      unsigned int num_queues, unsigned int queue_size,
		      uint32_t version)
{
	uint32_t nq, qs;
	unsigned int i;

	if (__atomic_load_n(&h->magic, __ATOMIC_ACQUIRE) != INFLIGHT_MAGIC ||
	    __atomic_load_n(&h->version, __ATOMIC_RELAXED) != version)
		return false;
	for (i = 0; i < sizeof(h->reserved) / sizeof(h->reserved[0]); i++)
		if (__atomic_load_n(&h->reserved[i], __ATOMIC_RELAXED))
			return false;
	nq = __atomic_load_n(&h->num_queues, __ATOMIC_RELAXED);
	qs = __atomic_load_n(&h->queue_size, __ATOMIC_RELAXED);
	if (nq < 1 || nq > VDK_MAX_QUEUES || qs < 2 ||
	    qs > VDK_MAX_QUEUE_SIZE || (qs & (qs - 1)))
		return false;
	return nq == num_queues && qs == queue_size;
}

int vdk__inflight_open(struct vdk_dev *dev, const char *path, bool create,
		       unsigned int queue_size, bool packed)
{
	size_t size = file_bytes(dev->num_queues, queue_size, packed);
	uint32_t version = packed ? INFLIGHT_VERSION_PACKED : INFLIGHT_VERSION;
	struct inflight_header *h;
	unsigned int i;
	int fd, ret;
	void *p;

	fd = open_file(path, create, size);
	if (fd < 0)
		return fd;
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ret = p == MAP_FAILED ? -errno : 0;
	close(fd);
	if (ret < 0)
		return ret;
	h = p;
	if (create) {
		h->num_queues = dev->num_queues;
		h->queue_size = queue_size;
		h->version = version;
		/* Magic last: a torn creation is never taken for a log. */
		__atomic_store_n(&h->magic, INFLIGHT_MAGIC, __ATOMIC_RELEASE);
	} else if (!header_ok(h, dev->num_queues, queue_size, version)) {
		munmap(p, size);
		return -EINVAL;
	}
	dev->inflight_map = p;
	dev->inflight_size = size;
	for (i = 0; i < dev->num_queues; i++) {
		struct vdk_vq *vq = &dev->vqs[i];
		char *q = (char *)p + sizeof(*h) +
			  i * queue_bytes(queue_size, packed);

		vq->log = (struct vdk__inflight_q *)q;
		if (!packed)
			continue;
		q += sizeof(struct vdk__inflight_q) + 8ull * queue_size;
		vq->log_chain = (uint32_t *)q;
		vq->log_pool = (struct vring_packed_desc *)(q + 4ull *
								  queue_size);
	}
	return 0;
}

void vdk__inflight_close(struct vdk_dev *dev)
{
	unsigned int i;

	if (!dev->inflight_map)
		return;
	for (i = 0; i < dev->num_queues; i++) {
		dev->vqs[i].log = NULL;
		dev->vqs[i].log_chain = NULL;
		dev->vqs[i].log_pool = NULL;
	}
	munmap(dev->inflight_map, dev->inflight_size);
	dev->inflight_map = NULL;
}

/* Every pool entry free, none held by a request. */
static void pool_reset(struct vdk_vq *vq)
{
	unsigned int i;

	for (i = 0; i < vq->max_size; i++) {
		vq->pool_free[i] = (uint16_t)(vq->max_size - 1 - i);
		vq->slots[i].logged = false;
	}
	vq->pool_nfree = vq->max_size;
}

void vdk__inflight_reset(struct vdk_vq *vq, uint16_t used_idx)
{
	struct vdk__inflight_q *log = vq->log;

	if (!log)
		return;
	pool_reset(vq);
	/*
	 * Killed half-way, what is left of the stamps would read as a log:
	 * a used index far from the ring's makes split recovery refuse it,
	 * and last_ndesc above any ring packed recovery (where flipping
	 * bit 15 of a position only flips its wrap counter), until the
	 * last store.
	 */
	__atomic_store_n(&log->last_ndesc, UINT32_MAX, __ATOMIC_RELAXED);
	__atomic_store_n(&log->used_idx, (uint16_t)(used_idx + 0x8000),
			 __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	memset(log->stamp, 0, 8ull * vq->max_size);
	log->counter = 0;
	log->last_head = 0;
	__atomic_store_n(&log->used_idx, used_idx, __ATOMIC_RELEASE);
	__atomic_store_n(&log->last_ndesc, 0, __ATOMIC_RELEASE);
}

static int refuse(struct vdk_vq *vq, const char *why, unsigned long long a,
		  unsigned long long b)
{
	vdk__log(vq->dev, VDK_LOG_WARNING,
		 "%s: queue %u: in-flight log refused: %s (%llu, %llu)",
		 vq->dev->name, vq->index, why, a, b);
	return -EINVAL;
}

static int cmp_stamp(const void *a, const void *b, void *arg)
{
	const uint64_t *stamp = arg;
	uint64_t x = stamp[*(const uint16_t *)a];
	uint64_t y = stamp[*(const uint16_t *)b];

	return x < y ? -1 : x > y;
}

/*
 * In order: clear in the log the stamps @stamp holds up to @last (the run
 * last_head ended), oldest first: each pass clears the oldest left, at
 * most num passes.  Then any left with a stamp equal to another's.
 */
static void clear_run(struct vdk_vq *vq, const uint64_t *stamp, uint64_t last)
{
	uint64_t prev = 0;
	unsigned int i, pass, best;

	for (pass = 0; pass < vq->num; pass++) {
		best = vq->num;
		for (i = 0; i < vq->num; i++)
			if (stamp[i] > prev && stamp[i] <= last &&
			    (best == vq->num || stamp[i] < stamp[best]))
				best = i;
		if (best == vq->num)
			break;
		__atomic_store_n(&vq->log->stamp[best], 0, __ATOMIC_RELEASE);
		prev = stamp[best];
	}
	for (i = 0; i < vq->num; i++)
		if (stamp[i] && stamp[i] <= last)
			__atomic_store_n(&vq->log->stamp[i], 0,
					 __ATOMIC_RELEASE);
}

/*
 * Check the stamps of heads below the ring's size (copied into @stamp,
 * read once each) against the counter and the ring, and put the heads in
 * flight in vq->resubmit, oldest first.  Returns their number or
 * -EINVAL.  A stamp at last_head is a completion the driver has (@torn);
 * in order, @run heads stamped up to last_head's (@last_stamp, read by
 * the caller) are: at most @run of them, counted in *@ndone.
 */
static int collect(struct vdk_vq *vq, uint64_t *stamp, uint64_t counter,
		   uint16_t used_idx, bool torn, uint16_t last_head,
		   uint64_t last_stamp, unsigned int run, unsigned int *ndone)
{
	struct vdk__inflight_q *log = vq->log;
	unsigned int num = vq->num, i, n = 0;
	uint16_t avail_idx, pending;
	bool in_order_run = torn && vq->in_order;

	*ndone = 0;
	for (i = 0; i < num; i++) {
		uint64_t s = in_order_run && i == last_head ?
				     last_stamp :
				     __atomic_load_n(&log->stamp[i],
						     __ATOMIC_RELAXED);

		if (!s || (torn && !vq->in_order && i == last_head))
			continue;
		/* Stamps come from the counter, which is stored first. */
		if (s > counter)
			return refuse(vq, "stamp above the counter", i, s);
		stamp[i] = s;
		if (in_order_run && s <= last_stamp) {
			/* Done: part of the run the driver has. */
			if (++*ndone > run)
				return refuse(vq, "run longer than the ring's",
					      *ndone, run);
			continue;
		}
		vq->resubmit[n++] = (uint16_t)i;
	}
	/*
	 * Each head in flight was taken from the avail ring and not
	 * completed: no more of them than the driver has posted past
	 * used->idx (itself at most the ring's size), and none among the
	 * entries the ring goes on with, which would be taken twice.
	 */
	avail_idx = le16toh(__atomic_load_n(&vq->avail->idx,
					    __ATOMIC_ACQUIRE));
	pending = (uint16_t)(avail_idx - used_idx);
	if (pending > num)
		return refuse(vq, "avail index far from the used index",
			      avail_idx, used_idx);
	if (n > pending)
		return refuse(vq, "more in flight than the driver posted", n,
			      pending);
	for (i = n; i < pending; i++) {
		uint16_t pos = (uint16_t)(used_idx + i);
		uint16_t head = le16toh(__atomic_load_n(
			&vq->avail->ring[pos & (num - 1)], __ATOMIC_RELAXED));

		if (head < num && stamp[head] &&
		    !(in_order_run && stamp[head] <= last_stamp))
			return refuse(vq, "head in flight still posted", head,
				      pos);
	}
	qsort_r(vq->resubmit, n, sizeof(vq->resubmit[0]), cmp_stamp, stamp);
	/* The counter gives each stamp once. */
	for (i = 1; i < n; i++)
		if (stamp[vq->resubmit[i]] == stamp[vq->resubmit[i - 1]])
			return refuse(vq, "two heads with one stamp",
				      vq->resubmit[i], stamp[vq->resubmit[i]]);
	return (int)n;
}

int vdk__inflight_recover(struct vdk_vq *vq, uint16_t used_idx)
{
	struct vdk__inflight_q *log = vq->log;
	uint16_t log_used, last_head, run = 0;
	uint64_t counter, *stamp, last_stamp = 0;
	unsigned int i, ndone;
	bool torn;
	int n;

	vq->resubmit_n = 0;
	vq->resubmit_pos = 0;
	if (!log)
		return 0;
	/* Each field once: what we check is what we use. */
	counter = __atomic_load_n(&log->counter, __ATOMIC_RELAXED);
	log_used = __atomic_load_n(&log->used_idx, __ATOMIC_RELAXED);
	last_head = __atomic_load_n(&log->last_head, __ATOMIC_RELAXED);
	if (__atomic_load_n(&log->last_ndesc, __ATOMIC_RELAXED))
		return refuse(vq, "reserved field set", 0, 0);
	if (last_head >= vq->num)
		return refuse(vq, "last head out of range", last_head,
			      vq->num);
	torn = log_used != used_idx;
	if (torn) {
		uint32_t id;

		/* In order, a run of up to the ring's size; else one. */
		run = (uint16_t)(used_idx - log_used);
		if (run > (vq->in_order ? vq->num : 1))
			return refuse(vq, "used index far from the ring's",
				      log_used, used_idx);
		/*
		 * Died completing last_head, which the driver may have seen
		 * already: the used ring shows it at the log's used index.
		 */
		id = le32toh(__atomic_load_n(
			&vq->used->ring[log_used & (vq->num - 1)].id,
			__ATOMIC_RELAXED));
		if (id != last_head)
			return refuse(vq, "last head not the last completion",
				      last_head, id);
	}
	/* Stamps only for heads the driver can have: within its ring. */
	for (i = vq->num; i < vq->max_size; i++)
		if (__atomic_load_n(&log->stamp[i], __ATOMIC_RELAXED))
			return refuse(vq, "stamp beyond the ring", i, vq->num);
	stamp = calloc(vq->num, sizeof(*stamp));
	if (!stamp)
		return -ENOMEM;
	if (torn && vq->in_order)
		last_stamp = __atomic_load_n(&log->stamp[last_head],
					     __ATOMIC_RELAXED);
	n = collect(vq, stamp, counter, used_idx, torn, last_head, last_stamp,
		    run, &ndone);
	if (n < 0)
		goto out;
	/*
	 * Make the log what it says, each store leaving a log that
	 * recovers the same way: the completion finished, then the stamps
	 * renumbered 1..n in order (each new one is below the old ones
	 * left), then the counter, which thus starts again from n and
	 * cannot wrap, whatever value the file held.
	 */
	if (torn && vq->in_order)
		clear_run(vq, stamp, last_stamp);
	else if (torn)
		__atomic_store_n(&log->stamp[last_head], 0, __ATOMIC_RELEASE);
	for (i = 0; i < (unsigned int)n; i++)
		if (stamp[vq->resubmit[i]] != i + 1)
			__atomic_store_n(&log->stamp[vq->resubmit[i]], i + 1,
					 __ATOMIC_RELEASE);
	__atomic_store_n(&log->counter, (uint64_t)n, __ATOMIC_RELEASE);
	__atomic_store_n(&log->used_idx, used_idx, __ATOMIC_RELEASE);
	vq->resubmit_n = (unsigned int)n;
out:
	free(stamp);
	return n;
}

/* ---- packed rings ---- */

#define POS_WRAP 0x8000u
#define F_AVAIL (1u << VRING_PACKED_DESC_F_AVAIL)
#define F_USED (1u << VRING_PACKED_DESC_F_USED)

void vdk__inflight_take_packed(struct vdk_vq *vq, struct vdk__slot *slot,
			       bool again)
{
	struct vdk__inflight_q *log = vq->log;
	unsigned int ndesc = slot->ndesc, k;
	uint16_t id = slot->req.id, e = 0, next;

	if (!vq->log_pool)
		return;
	if (!again) {
		/*
		 * Cannot run short: the ring descriptors in flight are at
		 * most the ring's size (vq-packed.c checks), the pool as
		 * large.  Refuse to log rather than overrun all the same.
		 */
		if (vq->pool_nfree < ndesc)
			return;
		next = vq->pool_free[--vq->pool_nfree];
		slot->pool_first = next;
		for (k = 0; k < ndesc; k++) {
			struct vring_packed_desc *c;

			e = next;
			c = &vq->log_pool[e];
			if (k + 1 < ndesc) {
				next = vq->pool_free[--vq->pool_nfree];
				vq->pool_next[e] = next;
				c->id = htole16(next);
			} else {
				c->id = vq->chain[k].id;
			}
			c->addr = vq->chain[k].addr;
			c->len = vq->chain[k].len;
			c->flags = vq->chain[k].flags;
		}
		__atomic_store_n(&vq->log_chain[id],
				 (uint32_t)slot->pool_first |
					 (uint32_t)ndesc << 16,
				 __ATOMIC_RELAXED);
		slot->logged = true;
	}
	/* Release: the copies are in the file before the stamp. */
	__atomic_store_n(&log->stamp[id],
			 (uint64_t)ndesc << 48 |
				 (++log->counter & VDK_STAMP_ORDER_MASK),
			 __ATOMIC_RELEASE);
}

void vdk__inflight_done_packed(struct vdk_vq *vq, struct vdk__slot *slot)
{
	uint16_t e = slot->pool_first;
	unsigned int k;

	if (!slot->logged)
		return;
	slot->logged = false;
	for (k = 0; k < slot->ndesc; k++) {
		vq->pool_free[vq->pool_nfree++] = e;
		e = vq->pool_next[e];
	}
}

unsigned int vdk__inflight_chain_packed(struct vdk_vq *vq, uint16_t id)
{
	struct vdk__slot *slot = &vq->slots[id];
	uint16_t e = slot->pool_first;
	unsigned int k;

	/* The links are our own copy; the rest is checked as any chain. */
	for (k = 0; k < slot->ndesc; k++) {
		const struct vring_packed_desc *c = &vq->log_pool[e];

		vq->chain[k].addr = __atomic_load_n(&c->addr, __ATOMIC_RELAXED);
		vq->chain[k].len = __atomic_load_n(&c->len, __ATOMIC_RELAXED);
		vq->chain[k].flags = __atomic_load_n(&c->flags,
						     __ATOMIC_RELAXED);
		vq->chain[k].id = htole16(id);
		e = vq->pool_next[e];
	}
	return slot->ndesc;
}

struct packed_rec {
	uint16_t first, ndesc;
	uint64_t order;
};

static int cmp_order(const void *a, const void *b, void *arg)
{
	const struct packed_rec *rec = arg;
	uint64_t x = rec[*(const uint16_t *)a].order;
	uint64_t y = rec[*(const uint16_t *)b].order;

	return x < y ? -1 : x > y;
}

/*
 * The heads in flight into vq->resubmit, oldest first, their chains
 * checked and their pool entries marked in @held.  Returns their number
 * (their descriptors in *@total) or -EINVAL.  In order, the heads
 * stamped up to last_head's order (@last, from @last_stamp, read by the
 * caller) are the run the driver has: their orders go into @done.
 */
static int collect_packed(struct vdk_vq *vq, struct packed_rec *rec,
			  bool *held, uint64_t counter, bool torn,
			  uint16_t last_head, uint64_t last_stamp,
			  uint64_t *done, unsigned int *total)
{
	struct vdk__inflight_q *log = vq->log;
	unsigned int num = vq->num, i, k, n = 0;
	bool in_order_run = torn && vq->in_order;
	uint64_t last = last_stamp & VDK_STAMP_ORDER_MASK;

	*total = 0;
	for (i = 0; i < num; i++) {
		uint64_t s = in_order_run && i == last_head ?
				     last_stamp :
				     __atomic_load_n(&log->stamp[i],
						     __ATOMIC_RELAXED);
		uint32_t c;
		unsigned int nd;
		uint16_t e;

		if (!s || (torn && !vq->in_order && i == last_head))
			continue;
		nd = (unsigned int)(s >> 48);
		rec[i].order = s & VDK_STAMP_ORDER_MASK;
		if (!rec[i].order || rec[i].order > counter)
			return refuse(vq, "stamp above the counter", i, s);
		if (in_order_run && rec[i].order <= last) {
			/* Done: part of the run the driver has. */
			done[i] = rec[i].order;
			continue;
		}
		c = __atomic_load_n(&vq->log_chain[i], __ATOMIC_RELAXED);
		if (nd == 0 || nd != c >> 16 || nd > num - *total)
			return refuse(vq, "bad chain length", i, nd);
		*total += nd;
		rec[i].ndesc = (uint16_t)nd;
		rec[i].first = e = (uint16_t)c;
		for (k = 0; k < nd; k++) {
			if (e >= vq->max_size || held[e])
				return refuse(vq, "chain copies overlap", i, e);
			held[e] = true;
			vq->pool_next[e] = le16toh(__atomic_load_n(
				&vq->log_pool[e].id, __ATOMIC_RELAXED));
			e = vq->pool_next[e];
		}
		vq->resubmit[n++] = (uint16_t)i;
	}
	qsort_r(vq->resubmit, n, sizeof(vq->resubmit[0]), cmp_order, rec);
	for (i = 1; i < n; i++) {
		uint64_t o = rec[vq->resubmit[i]].order;

		if (o == rec[vq->resubmit[i - 1]].order)
			return refuse(vq, "two heads with one stamp",
				      vq->resubmit[i], o);
	}
	return (int)n;
}

int vdk__inflight_recover_packed(struct vdk_vq *vq)
{
	struct vdk__inflight_q *log = vq->log;
	uint16_t used, last_head, id, flags;
	unsigned int i, num = vq->num, total;
	uint32_t last_ndesc;
	struct packed_rec *rec;
	uint64_t counter, last_stamp = 0, *done;
	bool torn, wrap, *held;
	int n;

	vq->resubmit_n = 0;
	vq->resubmit_pos = 0;
	if (!log || !vq->log_pool)
		return refuse(vq, "no packed part", 0, 0);
	/* Each field once: what we check is what we use. */
	counter = __atomic_load_n(&log->counter, __ATOMIC_RELAXED);
	used = __atomic_load_n(&log->used_idx, __ATOMIC_RELAXED);
	last_head = __atomic_load_n(&log->last_head, __ATOMIC_RELAXED);
	last_ndesc = __atomic_load_n(&log->last_ndesc, __ATOMIC_RELAXED);
	if ((used & (POS_WRAP - 1)) >= num)
		return refuse(vq, "used position out of range", used, num);
	if (last_head >= num || last_ndesc > num)
		return refuse(vq, "last head out of range", last_head,
			      last_ndesc);
	for (i = num; i < vq->max_size; i++)
		if (__atomic_load_n(&log->stamp[i], __ATOMIC_RELAXED))
			return refuse(vq, "stamp beyond the ring", i, num);
	/* Died completing last_head, if the ring shows it used. */
	wrap = used & POS_WRAP;
	flags = le16toh(__atomic_load_n(
		&vq->pdesc[used & (POS_WRAP - 1)].flags, __ATOMIC_ACQUIRE));
	id = le16toh(__atomic_load_n(&vq->pdesc[used & (POS_WRAP - 1)].id,
				     __ATOMIC_RELAXED));
	/*
	 * Before that completion the entry at the log's used position is
	 * one the driver made available in this lap (AVAIL = wrap, USED
	 * = !wrap), or still the last lap's used one (both !wrap).  After
	 * it, our used descriptor (both = wrap), which the driver, once it
	 * has read it, may have replaced already by one for the next lap
	 * (AVAIL = !wrap, USED = wrap): USED = wrap says torn either way.
	 */
	torn = !!(flags & F_USED) == wrap &&
	       (!!(flags & F_AVAIL) != wrap || id == last_head);
	if (torn && last_ndesc == 0)
		return refuse(vq, "last completion of no descriptors",
			      last_head, 0);
	rec = calloc(num, sizeof(*rec));
	held = calloc(vq->max_size, sizeof(*held));
	done = calloc(num, sizeof(*done));
	if (!rec || !held || !done) {
		n = -ENOMEM;
		goto out;
	}
	if (torn && vq->in_order)
		last_stamp = __atomic_load_n(&log->stamp[last_head],
					     __ATOMIC_RELAXED);
	n = collect_packed(vq, rec, held, counter, torn, last_head, last_stamp,
			   done, &total);
	if (n < 0)
		goto out;
	if (torn) {
		unsigned int idx = (used & (POS_WRAP - 1)) + last_ndesc;

		if (total + last_ndesc > num) {
			n = refuse(vq, "more in flight than the ring holds",
				   total, last_ndesc);
			goto out;
		}
		used = idx >= num ? (uint16_t)((idx - num) |
					       ((used & POS_WRAP) ^ POS_WRAP)) :
				    (uint16_t)(idx | (used & POS_WRAP));
		if (vq->in_order)
			clear_run(vq, done,
				  last_stamp & VDK_STAMP_ORDER_MASK);
		else
			__atomic_store_n(&log->stamp[last_head], 0,
					 __ATOMIC_RELEASE);
	}
	/* As for split rings: renumbered 1..n, then the counter. */
	for (i = 0; i < (unsigned int)n; i++) {
		uint16_t h = vq->resubmit[i];

		__atomic_store_n(&log->stamp[h],
				 (uint64_t)rec[h].ndesc << 48 | (i + 1),
				 __ATOMIC_RELEASE);
		vq->slots[h].ndesc = rec[h].ndesc;
		vq->slots[h].pool_first = rec[h].first;
		vq->slots[h].logged = true;
	}
	__atomic_store_n(&log->counter, (uint64_t)n, __ATOMIC_RELEASE);
	__atomic_store_n(&log->used_idx, used, __ATOMIC_RELEASE);
	vq->pool_nfree = 0;
	for (i = vq->max_size; i-- > 0;)
		if (!held[i])
			vq->pool_free[vq->pool_nfree++] = (uint16_t)i;
	vq->resubmit_n = (unsigned int)n;
	vq->used_pos = used;
	vq->desc_inflight = total;
	vq->used_idx = 0;
	{
		unsigned int idx = (used & (POS_WRAP - 1)) + total;

		atomic_store(&vq->last_avail_idx,
			     idx >= num ? (uint16_t)((idx - num) |
						     ((used & POS_WRAP) ^
						      POS_WRAP)) :
					  (uint16_t)(idx | (used & POS_WRAP)));
	}
out:
	free(done);
	free(held);
	free(rec);
	return n;
}
