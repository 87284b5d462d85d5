/* SPDX-License-Identifier: MIT */
/*
 * libvdk internals.  Public names are vdk_, internal non-static ones
 * vdk__.  Layers: kernel.h (the VDUSE interface, real or simulated) <
 * iotlb.c (driver addresses to ours) < vq.c (split rings, and what
 * both ring layouts share) and vq-packed.c (packed rings) < dev.c (life
 * cycle and control messages).
 */
#ifndef VDK_INTERNAL_H
#define VDK_INTERNAL_H

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <linux/virtio_ring.h>

#include <vdk/vdk.h>

#include "kernel.h"

#define VDK_API_MAX 1 /* highest VDUSE API version this library speaks */
#define VDK_MAX_QUEUES 64
#define VDK_MAX_QUEUE_SIZE 32768

#define VDK_EXPORT __attribute__((visibility("default")))

/* ---- logging (log.c) ---- */

/* At most this many messages per window and device; then one summary. */
#define VDK_LOG_BURST 10
#define VDK_LOG_WINDOW_NS 5000000000ull

struct vdk__ratelimit {
	pthread_mutex_t lock;
	uint64_t window_start;
	unsigned int printed;
	unsigned int suppressed;
};

void vdk__log(struct vdk_dev *dev, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* For what a driver can trigger at will: limited per device. */
void vdk__log_limited(struct vdk_dev *dev, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ---- IOTLB (iotlb.c) ---- */

/*
 * One mapping of driver memory: IOVA [start, last] at host address
 * addr + (iova - start).  Entries are never freed while a queue could
 * still use them: an invalidated entry moves to the retired list and is
 * unmapped once every running queue has gone past its generation
 * (vdk__iotlb_reclaim), or when no queue runs (reset, close).
 */
struct vdk__map_entry {
	struct vdk__map map;
	int guard_slot; /* vdk__guard_add()'s; -1 for none */
	/* Our own memory (the bounce buffer's): not the kernel's to unmap. */
	bool own;
	struct vdk__map_entry *next_retired;
	uint64_t retired_gen; /* the generation that no longer has it */
};

/* Small per-queue cache in front of the shared table: no lock on a hit. */
#define VDK_TLB_WAYS 4

struct vdk__tlb {
	uint64_t gen;
	unsigned int next;
	struct vdk__map_entry *way[VDK_TLB_WAYS];
};

/*
 * Mappings a device keeps, current and retired together.  A driver that
 * churns its memory map while one queue holds old mappings (a request
 * that never completes) would otherwise grow them up to the process's
 * vm.max_map_count (65530 by default); at the bound no new mapping is
 * made, so what needs one fails (the request is refused, a ring that
 * cannot be found breaks its queue) until the holder lets go.  A VM's
 * memory is a few regions; a guest behind a vIOMMU maps buffers one by
 * one, hence the room.
 */
#define VDK_IOTLB_MAX_MAPS 16384

struct vdk__iotlb {
	pthread_mutex_t lock;
	/* Sorted by start, non-overlapping; grows as needed. */
	struct vdk__map_entry **table;
	size_t n, cap;
	struct vdk__map_entry *retired;
	size_t n_retired;
	uint64_t refused; /* lookups refused at VDK_IOTLB_MAX_MAPS */
	/* Bumped (release) on every invalidation; queues compare. */
	_Atomic uint64_t gen;
	struct vdk__kernel *k;
	struct vdk_dev *dev;
	/*
	 * The oldest generation a running queue may still use (dev.c):
	 * lets a lookup at VDK_IOTLB_MAX_MAPS unmap what no queue holds
	 * before it refuses.  Any thread.
	 */
	uint64_t (*safe_gen)(struct vdk_dev *dev);
	uint64_t maps, misses;
	/*
	 * VDK_DEV_F_BOUNCE_UMEM: the bounce buffer in memory of ours
	 * (umem, umem_len), made and registered when the bounce region is
	 * first mapped, kept until fini: a reset leaves it registered.
	 * umem_on (release) says umem and umem_len are set and registered
	 * at least once; umem_off says we gave up (and said why, once).
	 */
	bool umem_wanted;
	bool umem_off;
	bool umem_huge; /* in huge pages of hugetlbfs */
	void *umem;
	size_t umem_len;
	_Atomic bool umem_on;
	uint64_t umem_regs; /* VDUSE_IOTLB_REG_UMEM calls that took */
};

int vdk__iotlb_init(struct vdk__iotlb *t, struct vdk__kernel *k,
		    struct vdk_dev *dev);
/*
 * Unmaps everything and frees the bounce memory (deregistered first while
 * the device is open); no queue may run.
 */
void vdk__iotlb_fini(struct vdk__iotlb *t);
/*
 * The bounce memory, once registered: 0 and its bounds, else -ENOENT.
 * Any thread.
 */
int vdk__iotlb_umem(struct vdk__iotlb *t, void **base, size_t *len);
/* Forget mappings overlapping [start, last]; safe while queues run. */
void vdk__iotlb_invalidate(struct vdk__iotlb *t, uint64_t start,
			   uint64_t last);
/* Unmap every mapping, current and retired; no queue may run. */
void vdk__iotlb_reset(struct vdk__iotlb *t);
/*
 * Unmap the retired mappings that no queue can use any more: those
 * retired at a generation <= @safe, the oldest generation a running
 * queue may still hold pointers of.  Returns how many went.
 */
unsigned int vdk__iotlb_reclaim(struct vdk__iotlb *t, uint64_t safe);
/* Mappings retired and not yet unmapped. */
size_t vdk__iotlb_retired(struct vdk__iotlb *t);

/*
 * Host address of [iova, iova + len) if it lies inside one mapping that
 * allows @perm (VDUSE_ACCESS_*), else NULL.  @len > 0.
 */
void *vdk__iotlb_ptr(struct vdk__iotlb *t, struct vdk__tlb *c, uint64_t iova,
		     uint64_t len, uint8_t perm);

/*
 * Translate [iova, iova + len) into at most @max vectors starting at
 * @iov, split at mapping boundaries.  Returns the number of vectors, or
 * -EFAULT (no mapping or no permission), -ENOBUFS (more than @max).
 */
int vdk__iotlb_iov(struct vdk__iotlb *t, struct vdk__tlb *c, uint64_t iova,
		   uint64_t len, uint8_t perm, struct iovec *iov, unsigned int max);

/* Copy @len bytes at @iova out of driver memory, across mappings. */
int vdk__iotlb_read(struct vdk__iotlb *t, struct vdk__tlb *c, uint64_t iova,
		    void *buf, uint64_t len);

/* ---- the SIGBUS guard (guard.c) ---- */

/*
 * Mappings the guard covers, for the whole process: four devices at
 * VDK_IOTLB_MAX_MAPS each.  A fixed table, since a signal handler reads
 * it.
 */
#define VDK_GUARD_SLOTS (4 * VDK_IOTLB_MAX_MAPS)

/*
 * A mapping of the driver's memory, covered by vdk_sigbus_guard() from
 * now on: returns its slot, or -ENOSPC when the table is full (the
 * caller must not use the mapping: a fault in it would end the process).
 */
int vdk__guard_add(const void *addr, size_t len);
/* ... and no more, before it is unmapped. */
void vdk__guard_del(int slot);

/* ---- the in-flight log (inflight.c) ---- */

struct vdk__slot;

/*
 * One queue's part of the log file; see inflight.c.  A log made for a
 * device that may run packed rings has a packed part after the stamps
 * (vq->log_chain, vq->log_pool).
 */
struct vdk__inflight_q {
	uint64_t counter;   /* last stamp given; 0 at reset, n at recovery */
	/*
	 * Split: used->idx after the last completion finished.  Packed:
	 * the next used position then, idx | wrap counter << 15.
	 */
	uint16_t used_idx;
	uint16_t last_head; /* the head (buffer id) of the last completion */
	/* Split: 0.  Packed: ring descriptors of last_head's chain. */
	uint32_t last_ndesc;
	/*
	 * Per head: 0, or the order it was taken in.  Packed: the order
	 * in the low 48 bits, the chain's ring descriptors above.
	 */
	uint64_t stamp[];
};

#define VDK_STAMP_ORDER_MASK ((1ull << 48) - 1)

int vdk__inflight_open(struct vdk_dev *dev, const char *path, bool create,
		       unsigned int queue_size, bool packed);
void vdk__inflight_close(struct vdk_dev *dev);
/* Nothing in flight; the ring starts at @used_idx. */
void vdk__inflight_reset(struct vdk_vq *vq, uint16_t used_idx);
/*
 * After a restart: fill vq->resubmit with the heads in flight, oldest
 * first.  Returns their number, or -EINVAL if the log makes no sense.
 */
int vdk__inflight_recover(struct vdk_vq *vq, uint16_t used_idx);
/*
 * The same for a packed ring, whose positions only the log knows: sets
 * vq->used_pos, the avail position and vq->desc_inflight from it, and
 * the chains in flight (vq->resubmit, their copies in vq->log_pool).
 * Returns their number, or -EINVAL (positions then untouched).
 */
int vdk__inflight_recover_packed(struct vdk_vq *vq);
/*
 * Log the packed chain @slot took (vq->chain[0..slot->ndesc)); @again:
 * one taken again after a restart, whose copies are in the log already.
 */
void vdk__inflight_take_packed(struct vdk_vq *vq, struct vdk__slot *slot,
			       bool again);
/* Its completion is over: its copies in the log may go. */
void vdk__inflight_done_packed(struct vdk_vq *vq, struct vdk__slot *slot);
/* Fill vq->chain with the copies of @id's chain; returns its length. */
unsigned int vdk__inflight_chain_packed(struct vdk_vq *vq, uint16_t id);

/* ---- virtqueues (vq.c) ---- */

struct vdk__slot {
	struct vdk_req req; /* first: vdk_req pointers are slot pointers */
	struct vdk_vq *vq;
	bool busy;
	/*
	 * In order: taken and not yet given back to the driver (busy or
	 * not), and pushed (done) with @used_len, waiting for older ones.
	 */
	bool queued;
	bool done;
	uint32_t used_len;
	/*
	 * In order: @used_len is the whole buffer, as the driver counts
	 * it for a completion it skips (never for a refused chain, whose
	 * walk stopped short).
	 */
	bool whole;
	uint16_t ndesc; /* packed: ring descriptors its chain took */
	bool logged;    /* packed: its copies are in the log's pool */
	uint16_t pool_first;
	uint64_t gen; /* IOTLB generation its vectors were translated in */
};

/*
 * What a chain walk has gathered so far, shared by both ring layouts;
 * why it was refused, if it was.
 */
struct vdk__walk {
	unsigned int n, n_out;
	uint64_t out_len, in_len;
	bool seen_write;
	const char *why;
	unsigned int value;
};

/* Refuse the chain being walked: why, and a value for the log. */
#define VDK_WALK_FAIL(w, msg, v)                                             \
	do {                                                                 \
		(w)->why = (msg);                                            \
		(w)->value = (unsigned int)(v);                              \
		return -EINVAL;                                              \
	} while (0)

/* A ring layout's own part of the queue (vq.c: split; vq-packed.c). */
struct vdk__ring_ops {
	/* Point at the rings through the current mappings; 0 or -errno. */
	int (*resolve)(struct vdk_vq *vq);
	/* The queue lets go of its rings. */
	void (*forget)(struct vdk_vq *vq);
	/*
	 * Set the ring positions at start (fresh, or @resume after a
	 * daemon restart); 0 or -errno (the queue does not start).
	 */
	int (*position)(struct vdk_vq *vq);
	/* vdk_vq_pop() once the queue is known started and mapped. */
	int (*pop)(struct vdk_vq *vq, struct vdk_req **out);
	/* Write the completion of @slot (or of a refused chain). */
	void (*put_used)(struct vdk_vq *vq, struct vdk__slot *slot,
			 uint32_t len);
	/*
	 * In order: complete the @n oldest requests (vq->order), done,
	 * with one ring entry, that of the last, of length @len.
	 */
	void (*put_batch)(struct vdk_vq *vq, unsigned int n, uint32_t len);
	/*
	 * Whether the driver wants an interrupt for completions up to
	 * now, @advance ring entries since the last one (@valid: there
	 * was a last one).
	 */
	bool (*need_irq)(struct vdk_vq *vq, bool valid, uint16_t advance);
	void (*set_kick)(struct vdk_vq *vq, bool enable);
	bool (*pending)(struct vdk_vq *vq);
};

extern const struct vdk__ring_ops vdk__split_ops;
extern const struct vdk__ring_ops vdk__packed_ops;

struct vdk_vq {
	struct vdk_dev *dev;
	unsigned int index;
	unsigned int max_size;
	int kickfd;

	/* Set by the control thread while the queue is stopped. */
	unsigned int num;
	bool ready;
	bool event_idx;
	uint64_t desc_iova, avail_iova, used_iova;
	uint16_t start_avail_idx;
	/* Packed positions from VDUSE: idx | wrap counter << 15. */
	uint16_t start_avail_pos, start_used_pos;
	bool start_pos_bad; /* VDUSE gave more bits than a position has */
	bool packed;
	bool in_order; /* VIRTIO_F_IN_ORDER taken */
	const struct vdk__ring_ops *ring;
	/* Pick up a running ring after a daemon restart. */
	bool resume;
	/*
	 * Ready as the driver last set it: by VDUSE_SET_VQ_READY where the
	 * device has VDUSE_F_QUEUE_READY, else by VDUSE_VQ_GET_INFO.
	 */
	bool enabled;
	/*
	 * Stopped by a suspend with every request completed: the start
	 * positions are where the ring stands, not what VDUSE last said.
	 */
	bool keep_pos;

	/* Queue thread state. */
	_Atomic bool broken;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	/* Packed: the ring, the driver's event suppression and ours. */
	struct vring_packed_desc *pdesc;
	struct vring_packed_desc_event *driver_ev, *device_ev;
	uint64_t rings_gen;  /* IOTLB generation the ring pointers belong to */
	bool rings_ok;
	/*
	 * Requests in flight translated in rings_gen (n_cur) and before it
	 * (n_old, none older than old_min), so that the queue can tell the
	 * control thread which retired mappings it may still use.
	 */
	unsigned int n_cur, n_old;
	uint64_t old_min;
	/*
	 * Published by the queue thread (release): it uses no mapping
	 * retired at a generation <= this.  Read by the control thread.
	 */
	_Atomic uint64_t safe_gen;
	/* Packed: the next avail position, idx | wrap counter << 15. */
	_Atomic uint16_t last_avail_idx;
	/* Packed: used ring entries (descriptors) written, mod 2^16. */
	uint16_t used_idx;
	/*
	 * Packed: the next used position (idx | wrap << 15), and the ring
	 * descriptors taken and not yet used (at most the ring's size).
	 */
	uint16_t used_pos;
	unsigned int desc_inflight;
	uint16_t signalled_used;
	bool signalled_used_valid;
	bool kick_enabled;
	unsigned int inflight;
	struct vdk__tlb tlb;

	/* Request pool, indexed by descriptor head. */
	struct vdk__slot *slots;
	size_t slot_size;
	struct iovec *iov_pool;
	unsigned int max_iovecs;
	size_t priv_size;
	unsigned char *priv_pool;
	/* An indirect table that spans mappings is copied here. */
	struct vring_desc *indirect_buf;
	/* Packed: a chain's ring descriptors, each read once (max_size). */
	struct vring_packed_desc *chain;

	/*
	 * In order: the heads taken and not yet used, oldest first, from
	 * order[order_first] on (indexes mod max_size, a power of 2).
	 */
	uint16_t *order;
	unsigned int order_first, order_n;

	/* In-flight log (NULL without one) and what to take again first. */
	struct vdk__inflight_q *log;
	uint16_t *resubmit;
	unsigned int resubmit_n, resubmit_pos;
	/*
	 * Packed part of the log: per head, its chain's first entry in
	 * the pool and its length (first | ndesc << 16); the pool, copies
	 * of the ring descriptors in flight linked through their id
	 * field.  pool_free: the entries no chain in flight holds, and
	 * pool_next our own copy of the links.
	 */
	uint32_t *log_chain;
	struct vring_packed_desc *log_pool;
	uint16_t *pool_free, *pool_next;
	unsigned int pool_nfree;

	struct vdk_vq_stats stats;
};

/*
 * Malformed chains one vdk_vq_pop() call completes before it returns 0:
 * a queue's worth.  The driver can post more while we refuse; the bound
 * keeps one call from lasting as long as it keeps posting.
 */
#define VDK_VQ_REFUSE_MAX(vq) ((vq)->num)

int vdk__vq_init(struct vdk_vq *vq, struct vdk_dev *dev, unsigned int index,
		 unsigned int max_size, unsigned int max_iovecs,
		 size_t priv_size);
void vdk__vq_fini(struct vdk_vq *vq);
/* Resolve the rings from the configured addresses; 0 or -errno. */
int vdk__vq_start(struct vdk_vq *vq);
/* Forget the rings and every in-flight request. */
void vdk__vq_stop(struct vdk_vq *vq);
/* The oldest generation of mappings the running queue may still use. */
uint64_t vdk__vq_safe_gen(struct vdk_vq *vq);

/*
 * Shared by both ring layouts, queue thread only.  Those called for
 * every descriptor or request are inline, at the end of this file.
 */
void vdk__vq_mark_broken(struct vdk_vq *vq, const char *why, unsigned int a,
			 unsigned int b);
/* A chain refused: completed now with nothing written, and logged. */
void vdk__vq_refused(struct vdk_vq *vq, struct vdk__slot *slot,
		     const struct vdk__walk *w);
/*
 * In order: @slot was taken from the ring (before its walk); it goes
 * back to the driver after every older one.
 */
void vdk__vq_order_add(struct vdk_vq *vq, struct vdk__slot *slot);
/* The @i-th oldest request taken and not yet used (i < order_n). */
static inline struct vdk__slot *vdk__vq_order_slot(struct vdk_vq *vq,
						   unsigned int i)
{
	return &vq->slots[vq->order[(vq->order_first + i) &
				    (vq->max_size - 1)]];
}

/* ---- device (dev.c) ---- */

struct vdk_dev {
	char name[VDUSE_NAME_MAX];
	struct vdk__kernel *k;
	uint32_t device_id;
	uint32_t vendor_id;
	unsigned int api_version;
	uint64_t vduse_features; /* VDK_VDUSE_F_*: asked for, or seen */
	bool ready_msgs;         /* queue readiness comes by messages */
	bool suspended;          /* VDUSE_SUSPEND, until a reset */
	uint64_t features;
	uint64_t driver_features;
	uint8_t status;
	bool started;
	unsigned int num_queues;
	struct vdk_vq *vqs;
	unsigned char *config;
	size_t config_size;
	const struct vdk_dev_ops *ops;
	void *opaque;
	vdk_log_fn log;
	void *log_opaque;
	int log_level;
	struct vdk__ratelimit rl;
	struct vdk__iotlb iotlb;
	uint64_t msgs;
	uint64_t iotlb_updates;
	void *inflight_map;
	size_t inflight_size;
	uint64_t flags; /* VDK_DEV_F_* */
};

/*
 * The oldest generation of mappings a running queue may still use (the
 * current one if none holds older).  Any thread.
 */
uint64_t vdk__dev_safe_gen(struct vdk_dev *dev);

/* Create (@create) or reopen a device over any kernel side; takes @k. */
int vdk__dev_new(const struct vdk_dev_cfg *cfg, struct vdk__kernel *k,
		 bool create, struct vdk_dev **out);

/* ---- the chain walk's data path, inline (vq.c, vq-packed.c) ---- */

/*
 * Add a buffer of the chain to @req: -EINVAL (w->why set) if it wraps,
 * is readable after a writable one, is not mapped or needs more vectors
 * than are left.  @i names it in the log.
 */
static inline int vdk__vq_add_buf(struct vdk_vq *vq, struct vdk_req *req,
				  struct vdk__walk *w, uint64_t addr,
				  uint32_t len, bool write, unsigned int i)
{
	int r;

	if (len && addr + len - 1 < addr)
		VDK_WALK_FAIL(w, "buffer wraps around", i);
	if (write) {
		w->seen_write = true;
		w->in_len += len;
	} else {
		if (w->seen_write)
			VDK_WALK_FAIL(w, "readable after writable", i);
		w->out_len += len;
	}
	if (!len)
		return 0;
	r = vdk__iotlb_iov(&vq->dev->iotlb, &vq->tlb, addr, len,
			   write ? VDUSE_ACCESS_WO : VDUSE_ACCESS_RO,
			   &req->iov[w->n], vq->max_iovecs - w->n);
	if (r == -ENOBUFS)
		VDK_WALK_FAIL(w, "too many buffer pieces", w->n);
	if (r < 0)
		VDK_WALK_FAIL(w, "buffer not mapped", i);
	w->n += (unsigned int)r;
	if (!w->seen_write)
		w->n_out = w->n;
	return 0;
}

/* The walk is over: check the totals and fill in @req; 0 or -EINVAL. */
static inline int vdk__vq_walk_end(struct vdk_vq *vq, struct vdk_req *req,
				   struct vdk__walk *w)
{
	(void)vq;
	/* The used length is 32 bits; refuse what cannot be reported. */
	if (w->out_len > UINT32_MAX || w->in_len > UINT32_MAX)
		VDK_WALK_FAIL(w, "request longer than 4 GiB", 0);
	req->n_out = w->n_out;
	req->n_in = w->n - w->n_out;
	req->out_len = w->out_len;
	req->in_len = w->in_len;
	return 0;
}

/* A request handed out: returns 1, for vdk_vq_pop(). */
static inline int vdk__vq_taken(struct vdk_vq *vq, struct vdk__slot *slot,
				struct vdk_req **out)
{
	slot->busy = true;
	slot->gen = vq->rings_gen;
	vq->n_cur++;
	vq->inflight++;
	vq->stats.popped++;
	*out = &slot->req;
	return 1;
}

/*
 * Both layouts' descriptors are 16 bytes: the table's length is checked
 * the same way.  Returns NULL with w->why set.
 */
static inline const void *vdk__vq_indirect(struct vdk_vq *vq,
					   struct vdk__walk *w, uint64_t addr,
					   uint32_t len, unsigned int i)
{
	struct vdk__iotlb *t = &vq->dev->iotlb;
	const void *ind;

	w->value = len;
	if (len == 0 || len % 16) {
		w->why = "bad indirect table length";
		return NULL;
	}
	if (len / 16 > vq->max_iovecs) {
		w->why = "indirect table too long";
		return NULL;
	}
	if (addr + len - 1 < addr) {
		w->why = "indirect table wraps";
		return NULL;
	}
	ind = vdk__iotlb_ptr(t, &vq->tlb, addr, len, VDUSE_ACCESS_RO);
	if (!ind || ((uintptr_t)ind & 7)) {
		/* Spans mappings: copy it, piece by piece. */
		if (vdk__iotlb_read(t, &vq->tlb, addr, vq->indirect_buf, len) <
		    0) {
			w->why = "indirect table not mapped";
			return NULL;
		}
		ind = vq->indirect_buf;
	}
	(void)i;
	return ind;
}

#endif /* VDK_INTERNAL_H */
