/* SPDX-License-Identifier: MIT */
/*
 * IOVA to host address translation.
 *
 * The driver's memory reaches us as IOTLB regions: VDUSE_IOTLB_GET_FD
 * gives a file and an offset for the region around an address, and we
 * mmap it.  Mappings are kept in a table sorted by IOVA with no size
 * limit, shared by all queues under a mutex; each queue has a few ways of
 * private cache in front of it, checked without a lock.
 *
 * VDUSE_UPDATE_IOTLB invalidates a range while queues run.  An invalidated
 * mapping leaves the table at once (new lookups ask the kernel again) but
 * stays mapped on a retired list, so a queue thread that still holds a
 * pointer into it never faults; it reads stale memory at worst, which is
 * what the driver asked for by unmapping memory it had handed to the
 * device.  Every invalidation starts a new generation.  Each running
 * queue publishes the oldest generation it may still hold pointers of
 * (its rings', its requests in flight'), and the control thread unmaps
 * what was retired before all of them (vdk__iotlb_reclaim): a client that
 * maps and unmaps memory all the time (vhost-vdpa replaces the whole map
 * each time) does not pile up mappings.  Whatever a queue holds, a device
 * keeps at most VDK_IOTLB_MAX_MAPS.  Reset unmaps everything.
 *
 * The bounce buffer.  A driver on the virtio bus (virtio_vdpa) hands the
 * device its buffers through VDUSE's bounce buffer: the kernel copies
 * them into pages of its own, IOVA [0, bounce size), which we map like
 * any region.  Asked to (VDK_DEV_F_BOUNCE_UMEM), we back that region
 * with our own memory instead (VDUSE_IOTLB_REG_UMEM), in huge pages
 * where the system has some: the pages are pinned once, and a backend
 * can register them with io_uring as fixed buffers rather than have every
 * request's pages pinned again.  The kernel offers it only once the
 * driver has mapped a first buffer, so it happens at the first lookup in
 * the region (VDUSE_IOTLB_GET_INFO says which region it is).  From then
 * on the kernel no longer serves the region's pages through its file:
 * the memory must be registered before the region is first touched, and
 * stay registered.  It does across resets (the kernel keeps it), until
 * the device is closed, when the kernel copies what is in use back.
 * When it cannot be done (the locked-memory limit, RLIMIT_MEMLOCK, is
 * the usual reason), the library says so once and maps the kernel's
 * pages as before.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "internal.h"

int vdk__iotlb_init(struct vdk__iotlb *t, struct vdk__kernel *k,
		    struct vdk_dev *dev)
{
	memset(t, 0, sizeof(*t));
	t->k = k;
	t->dev = dev;
	atomic_init(&t->gen, 1);
	return -pthread_mutex_init(&t->lock, NULL);
}

static void unmap_entry(struct vdk__iotlb *t, struct vdk__map_entry *e)
{
	vdk__guard_del(e->guard_slot);
	if (!e->own)
		t->k->ops->iotlb_unmap(t->k, &e->map);
	free(e);
}

void vdk__iotlb_reset(struct vdk__iotlb *t)
{
	struct vdk__map_entry *e;
	size_t i;

	pthread_mutex_lock(&t->lock);
	for (i = 0; i < t->n; i++)
		unmap_entry(t, t->table[i]);
	t->n = 0;
	while ((e = t->retired)) {
		t->retired = e->next_retired;
		unmap_entry(t, e);
	}
	t->n_retired = 0;
	atomic_fetch_add_explicit(&t->gen, 1, memory_order_release);
	pthread_mutex_unlock(&t->lock);
}

void vdk__iotlb_fini(struct vdk__iotlb *t)
{
	vdk__iotlb_reset(t);
	if (t->umem) {
		/*
		 * Freeing pages the kernel still has pinned is safe (it
		 * keeps its references), but it would bounce through memory
		 * nobody sees: give them back while the device is open.
		 */
		if (t->umem_regs && t->k->dev_fd >= 0)
			t->k->ops->iotlb_dereg_umem(t->k, t->umem_len);
		munmap(t->umem, t->umem_len);
		t->umem = NULL;
	}
	free(t->table);
	t->table = NULL;
	t->cap = 0;
	pthread_mutex_destroy(&t->lock);
}

/* Index of the first entry whose last >= iova (t->n if none). */
static size_t search(const struct vdk__iotlb *t, uint64_t iova)
{
	size_t lo = 0, hi = t->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (t->table[mid]->map.last < iova)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * Called with the lock held.  The entry belongs to generations up to the
 * current one; a queue that has seen the next one no longer finds it.
 */
static void retire(struct vdk__iotlb *t, size_t i)
{
	struct vdk__map_entry *e = t->table[i];

	memmove(&t->table[i], &t->table[i + 1],
		(t->n - i - 1) * sizeof(t->table[0]));
	t->n--;
	e->retired_gen = atomic_load_explicit(&t->gen,
					      memory_order_relaxed) + 1;
	e->next_retired = t->retired;
	t->retired = e;
	t->n_retired++;
}

/* Called with the lock held. */
static unsigned int reclaim_locked(struct vdk__iotlb *t, uint64_t safe)
{
	struct vdk__map_entry **pe, *e;
	unsigned int n = 0;

	pe = &t->retired;
	while ((e = *pe)) {
		if (e->retired_gen <= safe) {
			*pe = e->next_retired;
			unmap_entry(t, e);
			t->n_retired--;
			n++;
		} else {
			pe = &e->next_retired;
		}
	}
	return n;
}

unsigned int vdk__iotlb_reclaim(struct vdk__iotlb *t, uint64_t safe)
{
	unsigned int n;

	pthread_mutex_lock(&t->lock);
	n = reclaim_locked(t, safe);
	pthread_mutex_unlock(&t->lock);
	return n;
}

size_t vdk__iotlb_retired(struct vdk__iotlb *t)
{
	size_t n;

	pthread_mutex_lock(&t->lock);
	n = t->n_retired;
	pthread_mutex_unlock(&t->lock);
	return n;
}

void vdk__iotlb_invalidate(struct vdk__iotlb *t, uint64_t start, uint64_t last)
{
	size_t i;

	pthread_mutex_lock(&t->lock);
	i = search(t, start);
	while (i < t->n && t->table[i]->map.start <= last)
		retire(t, i);
	/* Pairs with the acquire in lookup(): queues drop their ways. */
	atomic_fetch_add_explicit(&t->gen, 1, memory_order_release);
	pthread_mutex_unlock(&t->lock);
}

/* Insert a new mapping; called with the lock held. */
static struct vdk__map_entry *insert(struct vdk__iotlb *t,
				     const struct vdk__map *m)
{
	struct vdk__map_entry *e;
	size_t i;

	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		struct vdk__map_entry **table;

		table = realloc(t->table, cap * sizeof(*table));
		if (!table)
			return NULL;
		t->table = table;
		t->cap = cap;
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->map = *m;
	/*
	 * The kernel's regions do not overlap; an overlap means we missed
	 * an invalidation, so the old entries are stale.
	 */
	i = search(t, m->start);
	while (i < t->n && t->table[i]->map.start <= m->last)
		retire(t, i);
	memmove(&t->table[i + 1], &t->table[i],
		(t->n - i) * sizeof(t->table[0]));
	t->table[i] = e;
	t->n++;
	return e;
}

static void umem_give_up(struct vdk__iotlb *t, const char *what, int err)
{
	t->umem_off = true;
	vdk__log(t->dev, VDK_LOG_WARNING,
		 "%s: bounce buffer stays in the kernel's memory: %s (%s)%s",
		 t->dev->name, what, strerror(-err),
		 err == -ENOMEM ? "; the locked-memory limit (RLIMIT_MEMLOCK, "
				  "ulimit -l) must allow the bounce size" : "");
}

/* Anonymous memory for the bounce buffer: huge pages where there are. */
static int umem_alloc(struct vdk__iotlb *t, size_t len)
{
	const size_t huge = 2u << 20;
	void *p = MAP_FAILED;

	if (len % huge == 0)
		p = mmap(NULL, len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
	t->umem_huge = p != MAP_FAILED;
	if (p == MAP_FAILED) {
		p = mmap(NULL, len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			return -errno;
		/* Transparent huge pages, where the system allows them. */
		madvise(p, len, MADV_HUGEPAGE);
	}
	/* Pinned pages must stay the daemon's own across a fork. */
	madvise(p, len, MADV_DONTFORK);
	t->umem = p;
	t->umem_len = len;
	return 0;
}

/*
 * @m, just mapped from the kernel's file, is the region around a lookup:
 * if it is the bounce buffer and our memory can back it, make @m our
 * memory and return true.  Called with the lock held.
 */
static bool umem_back(struct vdk__iotlb *t, struct vdk__map *m)
{
	const struct vdk__kops *ops = t->k->ops;
	uint64_t size = m->last + 1; /* cannot wrap: regions are bounded */
	int ret;

	if (!t->umem_wanted || t->umem_off || m->start != 0 ||
	    !ops->iotlb_umem_cap)
		return false;
	ret = ops->iotlb_umem_cap(t->k, m->start, m->last);
	if (ret <= 0)
		return false;
	if (!t->umem) {
		if ((uint64_t)(size_t)size != size) {
			umem_give_up(t, "bounce buffer too large", -E2BIG);
			return false;
		}
		ret = umem_alloc(t, (size_t)size);
		if (ret < 0) {
			umem_give_up(t, "no memory for it", ret);
			return false;
		}
	} else if (size != t->umem_len) {
		/* The kernel made a new bounce buffer, of another size. */
		umem_give_up(t, "its size changed", -EINVAL);
		return false;
	}
	/* -EEXIST: ours still backs it, since the last reset. */
	ret = ops->iotlb_reg_umem(t->k, t->umem, size);
	if (ret < 0 && ret != -EEXIST) {
		umem_give_up(t, "VDUSE_IOTLB_REG_UMEM failed", ret);
		if (!t->umem_regs) {
			munmap(t->umem, t->umem_len);
			t->umem = NULL;
		}
		return false;
	}
	if (ret == 0)
		t->umem_regs++;
	if (!atomic_load_explicit(&t->umem_on, memory_order_relaxed))
		vdk__log(t->dev, VDK_LOG_INFO,
			 "%s: bounce buffer in %zu MiB of our memory%s",
			 t->dev->name, t->umem_len >> 20,
			 t->umem_huge ? ", in huge pages" : "");
	ops->iotlb_unmap(t->k, m);
	m->addr = t->umem;
	m->base = NULL;
	m->len = 0;
	atomic_store_explicit(&t->umem_on, true, memory_order_release);
	return true;
}

int vdk__iotlb_umem(struct vdk__iotlb *t, void **base, size_t *len)
{
	if (!atomic_load_explicit(&t->umem_on, memory_order_acquire))
		return -ENOENT;
	*base = t->umem;
	*len = t->umem_len;
	return 0;
}

static struct vdk__map_entry *lookup_slow(struct vdk__iotlb *t, uint64_t iova)
{
	struct vdk__map_entry *e = NULL;
	struct vdk__map m;
	size_t i;
	int ret, slot = -1;
	bool own;

	pthread_mutex_lock(&t->lock);
	i = search(t, iova);
	if (i < t->n && t->table[i]->map.start <= iova) {
		e = t->table[i];
		goto out;
	}
	if (t->n + t->n_retired >= VDK_IOTLB_MAX_MAPS && t->safe_gen)
		reclaim_locked(t, t->safe_gen(t->dev));
	if (t->n + t->n_retired >= VDK_IOTLB_MAX_MAPS) {
		t->refused++;
		vdk__log_limited(t->dev, VDK_LOG_ERR,
				 "%s: %d mappings of driver memory kept: no "
				 "more until a queue lets old ones go",
				 t->dev->name, VDK_IOTLB_MAX_MAPS);
		t->misses++;
		goto out;
	}
	ret = t->k->ops->iotlb_map(t->k, iova, &m);
	if (ret < 0) {
		t->misses++;
		goto out;
	}
	if (m.start > iova || m.last < iova) {
		t->k->ops->iotlb_unmap(t->k, &m);
		t->misses++;
		goto out;
	}
	own = umem_back(t, &m);
	/* Guarded before anyone can touch it, or not used at all. */
	if (!own)
		slot = vdk__guard_add(m.addr, (size_t)(m.last - m.start + 1));
	if (!own && slot < 0) {
		vdk__log_limited(t->dev, VDK_LOG_ERR,
				 "%s: SIGBUS guard full: mapping refused",
				 t->dev->name);
		t->k->ops->iotlb_unmap(t->k, &m);
		t->misses++;
		goto out;
	}
	e = insert(t, &m);
	if (!e) {
		vdk__guard_del(slot);
		if (!own)
			t->k->ops->iotlb_unmap(t->k, &m);
	} else {
		e->guard_slot = slot;
		e->own = own;
		t->maps++;
	}
out:
	pthread_mutex_unlock(&t->lock);
	return e;
}

static struct vdk__map_entry *lookup(struct vdk__iotlb *t, struct vdk__tlb *c,
				     uint64_t iova)
{
	uint64_t gen = atomic_load_explicit(&t->gen, memory_order_acquire);
	struct vdk__map_entry *e;
	unsigned int i;

	if (c->gen != gen) {
		memset(c->way, 0, sizeof(c->way));
		c->gen = gen;
	}
	for (i = 0; i < VDK_TLB_WAYS; i++) {
		e = c->way[i];
		if (e && e->map.start <= iova && iova <= e->map.last)
			return e;
	}
	e = lookup_slow(t, iova);
	if (e) {
		c->way[c->next] = e;
		c->next = (c->next + 1) % VDK_TLB_WAYS;
	}
	return e;
}

static bool allows(const struct vdk__map_entry *e, uint8_t perm)
{
	return (e->map.perm & perm) == perm;
}

void *vdk__iotlb_ptr(struct vdk__iotlb *t, struct vdk__tlb *c, uint64_t iova,
		     uint64_t len, uint8_t perm)
{
	struct vdk__map_entry *e = lookup(t, c, iova);

	if (!e || !allows(e, perm))
		return NULL;
	/* len - 1 cannot wrap: len > 0.  last - iova cannot: iova <= last. */
	if (len - 1 > e->map.last - iova)
		return NULL;
	return (char *)e->map.addr + (iova - e->map.start);
}

int vdk__iotlb_iov(struct vdk__iotlb *t, struct vdk__tlb *c, uint64_t iova,
		   uint64_t len, uint8_t perm, struct iovec *iov, unsigned int max)
{
	unsigned int n = 0;

	if (len && len - 1 > UINT64_MAX - iova)
		return -EFAULT;
	while (len) {
		struct vdk__map_entry *e = lookup(t, c, iova);
		uint64_t room, chunk;
		char *p;

		if (!e || !allows(e, perm))
			return -EFAULT;
		room = e->map.last - iova; /* bytes after iova in the map */
		chunk = len - 1 <= room ? len : room + 1;
		p = (char *)e->map.addr + (iova - e->map.start);
		if (n && (char *)iov[n - 1].iov_base + iov[n - 1].iov_len == p) {
			iov[n - 1].iov_len += chunk;
		} else {
			if (n == max)
				return -ENOBUFS;
			iov[n].iov_base = p;
			iov[n].iov_len = chunk;
			n++;
		}
		iova += chunk;
		len -= chunk;
	}
	return (int)n;
}

int vdk__iotlb_read(struct vdk__iotlb *t, struct vdk__tlb *c, uint64_t iova,
		    void *buf, uint64_t len)
{
	char *out = buf;

	if (len && len - 1 > UINT64_MAX - iova)
		return -EFAULT;
	while (len) {
		struct vdk__map_entry *e = lookup(t, c, iova);
		uint64_t room, chunk;

		if (!e || !allows(e, VDUSE_ACCESS_RO))
			return -EFAULT;
		room = e->map.last - iova;
		chunk = len - 1 <= room ? len : room + 1;
		memcpy(out, (char *)e->map.addr + (iova - e->map.start), chunk);
		out += chunk;
		iova += chunk;
		len -= chunk;
	}
	return 0;
}
