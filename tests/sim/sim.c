/* SPDX-License-Identifier: MIT */
/* The simulated kernel and driver: see sim.h. */
#include <assert.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <linux/virtio_config.h>

#include "internal.h"
#include "sim.h"

struct region {
	uint64_t start, last;
	uint8_t perm; /* 0: no mapping */
	unsigned char *buf;
	unsigned int maps;
	bool retired;
	bool kept; /* by recut(), while it runs */
	/*
	 * -1, or the region is in this memfd at file_off: buf points into
	 * our own mapping of it (file_base, file_len) and the library maps
	 * the file as the daemon maps what the kernel gives it.
	 */
	int fd;
	uint64_t file_off;
	void *file_base;
	size_t file_len;
	struct region *next_retired;
};

/* What the library's iotlb_map() got: m->base points at one. */
struct sim_map {
	struct region *r;
	void *base; /* the library's mmap() of r->fd, or NULL */
};

#define SIM_MAX_CHAIN 4096

struct simq {
	unsigned int num;
	uint64_t desc, avail, used;
	bool ready;
	int kickfd;
	unsigned int irqs;
	uint16_t avail_idx;     /* driver's shadow */
	uint16_t last_used;
	uint16_t kicked_at;     /* avail_idx at the last kick */
	uint16_t free_head;
	unsigned int num_free;
	uint16_t *next_free;
	uint16_t *chain_len;    /* 0: not posted by sim_vq_add() */

	/* Packed rings: desc is the ring, avail and used the events. */
	bool packed;
	uint16_t p_avail, p_used;      /* driver's next positions */
	bool p_avail_wrap, p_used_wrap;
	uint16_t *id_ndesc;            /* per buffer id: descriptors */
	bool *id_ours;                 /* taken from free_ids */
	uint16_t *free_ids;
	unsigned int nfree_ids;
	unsigned int p_free;           /* ring descriptors free */
	uint64_t p_posted, p_kicked;   /* descriptors posted; at last kick */
	struct vduse_vq_state_packed state; /* what VDUSE reports */

	/*
	 * VIRTIO_F_IN_ORDER taken: the heads (buffer ids) posted, oldest
	 * first, with their whole lengths, and the used entry being read
	 * a buffer at a time (one entry may stand for a run of them).
	 */
	uint16_t *io_fifo;
	uint32_t *io_len;
	unsigned int io_first, io_n;
	bool io_batch;
	uint16_t io_batch_id;
	uint32_t io_batch_len;
	bool io_bad;           /* an entry for no buffer posted */
};

#define SIM_MSGS 16

struct sim {
	struct vdk__kernel k; /* first: the library's handle */
	uint64_t size;
	struct region **regions;
	unsigned int nregions;
	struct region *retired;
	unsigned int live_maps;
	uint64_t page_size;

	/* Odd answers to iotlb_map() for the region around ans_iova. */
	struct sim_answer ans;
	uint64_t ans_iova;
	unsigned int ans_left;

	uint64_t api_version;
	uint64_t api_set;
	uint64_t vduse_offered; /* VDUSE_GET_FEATURES; 0: the ioctl fails */
	uint64_t vduse_set;     /* VDUSE_SET_FEATURES */
	uint32_t ngroups, nas;  /* of the device created */
	bool exists;
	bool open;
	char name[VDUSE_NAME_MAX];
	uint64_t features;
	uint64_t driver_features;
	unsigned int vq_num;
	uint8_t config[4096];
	uint32_t config_size;
	unsigned int config_irqs;
	struct simq q[VDK_MAX_QUEUES];

	/*
	 * The control channel.  A device model's own control thread may
	 * read it beside the test's thread (sim_control()): msgs, nmsgs,
	 * resp and have_resp are under msg_lock, and msg_cond says a
	 * response came.
	 */
	pthread_mutex_t msg_lock;
	pthread_cond_t msg_cond;
	struct vduse_dev_request msgs[SIM_MSGS];
	unsigned int nmsgs;
	uint32_t next_id;
	struct vduse_dev_response resp;
	bool have_resp;
	/* Who read the last message, and which it was. */
	pthread_t popped_by;
	uint32_t popped_id;

	/*
	 * sim_bounce(): [0, bounce_size) is VDUSE's bounce buffer.  While
	 * the library's memory backs it (umem), the region's buf points
	 * there and its own buffer waits in umem_own.
	 */
	uint64_t bounce_size;
	void *umem;
	unsigned char *umem_own;
	unsigned int umem_regs;
	int umem_error; /* what VDUSE_IOTLB_REG_UMEM fails with, or 0 */
};

static struct sim *to_sim(struct vdk__kernel *k)
{
	return (struct sim *)k;
}

/* ---- memory ---- */

static struct region *find_region(const struct sim *s, uint64_t iova)
{
	unsigned int lo = 0, hi = s->nregions;

	while (lo < hi) {
		unsigned int mid = lo + (hi - lo) / 2;

		if (s->regions[mid]->last < iova)
			lo = mid + 1;
		else
			hi = mid;
	}
	assert(lo < s->nregions && s->regions[lo]->start <= iova);
	return s->regions[lo];
}

static void region_put(struct sim *s, struct region *r)
{
	if (r->retired && r->maps == 0) {
		if (r->fd >= 0) {
			munmap(r->file_base, r->file_len);
			close(r->fd);
		} else {
			free(r->buf);
		}
		free(r);
	}
}

void sim_write(struct sim *s, uint64_t iova, const void *buf, uint64_t len)
{
	const unsigned char *in = buf;

	while (len) {
		struct region *r = find_region(s, iova);
		uint64_t chunk = r->last - iova + 1;

		if (chunk > len)
			chunk = len;
		memcpy(r->buf + (iova - r->start), in, chunk);
		in += chunk;
		iova += chunk;
		len -= chunk;
	}
}

void sim_read(struct sim *s, uint64_t iova, void *buf, uint64_t len)
{
	unsigned char *out = buf;

	while (len) {
		struct region *r = find_region(s, iova);
		uint64_t chunk = r->last - iova + 1;

		if (chunk > len)
			chunk = len;
		memcpy(out, r->buf + (iova - r->start), chunk);
		out += chunk;
		iova += chunk;
		len -= chunk;
	}
}

void sim_fill(struct sim *s, uint64_t iova, int byte, uint64_t len)
{
	while (len) {
		struct region *r = find_region(s, iova);
		uint64_t chunk = r->last - iova + 1;

		if (chunk > len)
			chunk = len;
		memset(r->buf + (iova - r->start), byte, chunk);
		iova += chunk;
		len -= chunk;
	}
}

/* Driver-side pointer into one region (rings live in one). */
static void *ptr(struct sim *s, uint64_t iova, uint64_t len)
{
	struct region *r = find_region(s, iova);

	if (iova + len - 1 > r->last) {
		fprintf(stderr, "sim: ring at %#llx+%llu spans regions\n",
			(unsigned long long)iova, (unsigned long long)len);
		abort();
	}
	return r->buf + (iova - r->start);
}

static struct region *region_new(uint64_t start, uint64_t last, uint8_t perm)
{
	struct region *r = calloc(1, sizeof(*r));

	assert(r);
	r->start = start;
	r->last = last;
	r->perm = perm;
	r->fd = -1;
	r->buf = calloc(1, last - start + 1);
	assert(r->buf);
	return r;
}

/*
 * Replace the regions by ones cut at @cuts, keeping contents and the
 * permission of the old region each new one starts in.  A region whose
 * bounds do not change stays as it is: its memory is the same, and a
 * mapping of it stays valid without an IOTLB update.
 */
static void recut(struct sim *s, const uint64_t *cuts, unsigned int n)
{
	struct region **old = s->regions;
	unsigned int nold = s->nregions, i;
	struct region **fresh;
	uint64_t start = 0;

	fresh = calloc(n + 1, sizeof(*fresh));
	assert(fresh);
	for (i = 0; i <= n; i++) {
		uint64_t end = i < n ? cuts[i] : s->size;
		struct region *o = old ? find_region(s, start) : NULL;

		assert(end > start && end <= s->size);
		if (o && o->start == start && o->last == end - 1) {
			fresh[i] = o;
			o->kept = true;
		} else {
			fresh[i] = region_new(start, end - 1,
					      o ? o->perm : VDUSE_ACCESS_RW);
			if (old)
				sim_read(s, start, fresh[i]->buf, end - start);
		}
		start = end;
	}
	for (i = 0; i < nold; i++) {
		if (old[i]->kept) {
			old[i]->kept = false;
			continue;
		}
		old[i]->retired = true;
		region_put(s, old[i]);
	}
	free(old);
	s->regions = fresh;
	s->nregions = n + 1;
}

static void queue_msg(struct sim *s, const struct vduse_dev_request *req)
{
	uint64_t one = 1;

	pthread_mutex_lock(&s->msg_lock);
	assert(s->nmsgs < SIM_MSGS);
	s->msgs[s->nmsgs] = *req;
	s->msgs[s->nmsgs].request_id = s->next_id++;
	s->nmsgs++;
	pthread_mutex_unlock(&s->msg_lock);
	if (s->k.dev_fd >= 0)
		assert(write(s->k.dev_fd, &one, sizeof(one)) == sizeof(one));
}

static void queue_iotlb_update(struct sim *s, uint64_t start, uint64_t last)
{
	struct vduse_dev_request req = { .type = VDUSE_UPDATE_IOTLB };

	if (!s->open)
		return;
	req.iova.start = start;
	req.iova.last = last;
	queue_msg(s, &req);
}

int sim_cut(struct sim *s, const uint64_t *cuts, unsigned int n)
{
	if (s->umem)
		return -EBUSY;
	recut(s, cuts, n);
	queue_iotlb_update(s, 0, s->size - 1);
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int sim_set_perm(struct sim *s, uint64_t start, uint64_t last, uint8_t perm)
{
	uint64_t *cuts;
	unsigned int n = 0, i, j;

	if (s->umem)
		return -EBUSY;
	cuts = calloc(s->nregions + 2, sizeof(*cuts));

	assert(cuts && start <= last && last < s->size);
	for (i = 1; i < s->nregions; i++)
		cuts[n++] = s->regions[i]->start;
	if (start > 0)
		cuts[n++] = start;
	if (last + 1 < s->size)
		cuts[n++] = last + 1;
	qsort(cuts, n, sizeof(*cuts), cmp_u64);
	for (i = 0, j = 0; i < n; i++)
		if (j == 0 || cuts[j - 1] != cuts[i])
			cuts[j++] = cuts[i];
	recut(s, cuts, j);
	free(cuts);
	for (i = 0; i < s->nregions; i++)
		if (s->regions[i]->start >= start && s->regions[i]->last <= last)
			s->regions[i]->perm = perm;
	queue_iotlb_update(s, start, last);
	return 0;
}

unsigned int sim_live_maps(const struct sim *s)
{
	return s->live_maps;
}

/* ---- the kernel interface ---- */

static int sk_get_api_version(struct vdk__kernel *k, uint64_t *version)
{
	*version = to_sim(k)->api_version;
	return 0;
}

static int sk_set_api_version(struct vdk__kernel *k, uint64_t version)
{
	if (version > to_sim(k)->api_version)
		return -EINVAL;
	to_sim(k)->api_set = version;
	return 0;
}

static int sk_get_vduse_features(struct vdk__kernel *k, uint64_t *features)
{
	struct sim *s = to_sim(k);

	if (!s->vduse_offered)
		return -EINVAL; /* as kernels before 7.3 */
	*features = s->vduse_offered;
	return 0;
}

static int sk_set_vduse_features(struct vdk__kernel *k, uint64_t features)
{
	struct sim *s = to_sim(k);

	if (features & ~s->vduse_offered)
		return -EINVAL;
	s->vduse_set = features;
	return 0;
}

static int sk_create_dev(struct vdk__kernel *k,
			 const struct vduse_dev_config *cfg)
{
	struct sim *s = to_sim(k);

	if (s->exists)
		return -EEXIST;
	/* What the real module refuses. */
	if (!(cfg->features & (1ull << VIRTIO_F_ACCESS_PLATFORM)))
		return -EINVAL;
	if (cfg->vq_num == 0 || cfg->vq_num > VDK_MAX_QUEUES ||
	    cfg->config_size > sizeof(s->config))
		return -EINVAL;
	/*
	 * Groups and address spaces: none below version 1, at least one
	 * from it (in reserved[0] and [1] of older headers).
	 */
#ifdef VDK__UAPI_NO_GROUPS
	s->ngroups = cfg->reserved[0];
	s->nas = cfg->reserved[1];
#else
	s->ngroups = cfg->ngroups;
	s->nas = cfg->nas;
#endif
	if (s->api_set < 1 ? (s->ngroups || s->nas) : (!s->ngroups || !s->nas))
		return -EINVAL;
	s->exists = true;
	strcpy(s->name, cfg->name);
	s->features = cfg->features;
	s->vq_num = cfg->vq_num;
	s->config_size = cfg->config_size;
	memcpy(s->config, cfg->config, cfg->config_size);
	return 0;
}

static int sk_destroy_dev(struct vdk__kernel *k, const char *name)
{
	struct sim *s = to_sim(k);

	if (!s->exists || strcmp(name, s->name))
		return -ENOENT;
	if (s->open)
		return -EBUSY;
	s->exists = false;
	return 0;
}

static int sk_open_dev(struct vdk__kernel *k, const char *name)
{
	struct sim *s = to_sim(k);
	uint64_t pending = s->nmsgs;

	if (!s->exists || strcmp(name, s->name))
		return -ENOENT;
	if (s->open)
		return -EBUSY;
	k->dev_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (k->dev_fd < 0)
		return -errno;
	if (pending)
		assert(write(k->dev_fd, &pending, 8) == 8);
	s->open = true;
	return 0;
}

static int sk_iotlb_dereg_umem(struct vdk__kernel *k, uint64_t size);

static void sk_close_dev(struct vdk__kernel *k)
{
	struct sim *s = to_sim(k);

	/* As the kernel does when the device file is closed. */
	if (s->umem)
		sk_iotlb_dereg_umem(k, s->bounce_size);
	if (k->dev_fd >= 0)
		close(k->dev_fd);
	k->dev_fd = -1;
	s->open = false;
}

static int sk_vq_setup(struct vdk__kernel *k, const struct vduse_vq_config *c)
{
	struct sim *s = to_sim(k);

	if (c->index >= s->vq_num || c->max_size == 0)
		return -EINVAL;
	return 0;
}

static int sk_vq_get_info(struct vdk__kernel *k, struct vduse_vq_info *info)
{
	struct sim *s = to_sim(k);
	struct simq *q;

	if (info->index >= s->vq_num)
		return -EINVAL;
	q = &s->q[info->index];
	info->num = q->num;
	info->desc_addr = q->desc;
	info->driver_addr = q->avail;
	info->device_addr = q->used;
	if (s->driver_features & (1ull << VIRTIO_F_RING_PACKED))
		info->packed = q->state;
	else
		info->split.avail_index = 0;
	info->ready = q->ready;
	return 0;
}

static int sk_vq_setup_kickfd(struct vdk__kernel *k, uint32_t index, int fd)
{
	struct sim *s = to_sim(k);
	int own = -1;

	if (index >= s->vq_num)
		return -EINVAL;
	/*
	 * The kernel holds its own reference to the eventfd: a driver that
	 * kicks after the daemon closed its copy must not write to a closed
	 * (or reused) descriptor.
	 */
	if (fd >= 0) {
		own = fcntl(fd, F_DUPFD_CLOEXEC, 0);
		if (own < 0)
			return -errno;
	}
	if (s->q[index].kickfd >= 0)
		close(s->q[index].kickfd);
	s->q[index].kickfd = own;
	return 0;
}

static int sk_vq_inject_irq(struct vdk__kernel *k, uint32_t index)
{
	struct sim *s = to_sim(k);

	if (index >= s->vq_num)
		return -EINVAL;
	__atomic_add_fetch(&s->q[index].irqs, 1, __ATOMIC_RELAXED);
	return 0;
}

static int sk_get_features(struct vdk__kernel *k, uint64_t *features)
{
	*features = to_sim(k)->driver_features;
	return 0;
}

static int sk_set_config(struct vdk__kernel *k, uint32_t offset,
			 const void *buf, uint32_t len)
{
	struct sim *s = to_sim(k);

	if (offset > s->config_size || len == 0 || len > s->config_size - offset)
		return -EINVAL;
	memcpy(s->config + offset, buf, len);
	return 0;
}

static int sk_inject_config_irq(struct vdk__kernel *k)
{
	to_sim(k)->config_irqs++;
	return 0;
}

static int sk_read_msg(struct vdk__kernel *k, struct vduse_dev_request *req)
{
	struct sim *s = to_sim(k);
	uint64_t v;

	pthread_mutex_lock(&s->msg_lock);
	if (s->nmsgs == 0) {
		pthread_mutex_unlock(&s->msg_lock);
		/* Drain the eventfd so poll() sleeps again. */
		if (read(k->dev_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
			return -errno;
		return -EAGAIN;
	}
	*req = s->msgs[0];
	memmove(&s->msgs[0], &s->msgs[1], (s->nmsgs - 1) * sizeof(s->msgs[0]));
	s->nmsgs--;
	s->popped_by = pthread_self();
	s->popped_id = req->request_id;
	pthread_mutex_unlock(&s->msg_lock);
	return 0;
}

static int sk_write_msg(struct vdk__kernel *k,
			const struct vduse_dev_response *resp)
{
	struct sim *s = to_sim(k);

	pthread_mutex_lock(&s->msg_lock);
	s->resp = *resp;
	s->have_resp = true;
	pthread_cond_broadcast(&s->msg_cond);
	pthread_mutex_unlock(&s->msg_lock);
	return 0;
}

/*
 * What the kernel would answer to VDUSE_IOTLB_GET_FD for an IOVA in @r,
 * or the test's odd answer instead; -errno when the ioctl would fail.
 */
static int answer(struct sim *s, struct region *r,
		  struct vduse_iotlb_entry *e)
{
	const struct sim_answer *a = &s->ans;

	e->offset = r->fd >= 0 ? r->file_off : 0;
	e->start = r->start;
	e->last = r->last;
	e->perm = r->perm;
	if (!s->ans_left || s->ans_iova < r->start || s->ans_iova > r->last)
		return r->perm ? 0 : -EFAULT;
	s->ans_left--;
	if (a->set & SIM_ANS_ERROR)
		return a->error;
	if (a->set & SIM_ANS_OFFSET)
		e->offset = a->offset;
	if (a->set & SIM_ANS_START)
		e->start = a->start;
	if (a->set & SIM_ANS_LAST)
		e->last = a->last;
	if (a->set & SIM_ANS_PERM)
		e->perm = a->perm;
	return 0;
}

/*
 * The answer goes through the library's own checks: a region in a memfd
 * is mapped exactly as kernel-vduse.c maps the kernel's file.  A heap
 * region stands for a file that holds it at offset 0, so an answer with
 * a small offset points into it further on (AddressSanitizer sees what
 * goes past its end); one past the first page has nothing to point at.
 */
static int sk_iotlb_map(struct vdk__kernel *k, uint64_t iova,
			struct vdk__map *m)
{
	struct sim *s = to_sim(k);
	struct vduse_iotlb_entry e;
	struct vdk__map_plan plan;
	struct sim_map *sm;
	struct region *r;
	int ret;

	if (iova >= s->size)
		return -EFAULT;
	r = find_region(s, iova);
	ret = answer(s, r, &e);
	if (ret < 0)
		return ret;
	sm = calloc(1, sizeof(*sm));
	if (!sm)
		return -ENOMEM;
	if (r->fd >= 0) {
		ret = vdk__kernel_map_fd(r->fd, &e, iova, s->page_size, m);
		sm->base = m->base;
	} else {
		ret = vdk__kernel_map_plan(&e, iova, s->page_size, &plan);
		if (ret == 0 && plan.off) {
			fprintf(stderr, "sim: heap region mapped at file "
				"offset %#llx: use sim_region_file()\n",
				(unsigned long long)plan.off);
			abort();
		}
		if (ret == 0) {
			m->start = e.start;
			m->last = e.last;
			m->perm = e.perm;
			m->addr = r->buf + plan.addr_off;
			m->len = plan.len;
		}
	}
	if (ret < 0) {
		free(sm);
		return ret;
	}
	sm->r = r;
	m->base = sm;
	r->maps++;
	s->live_maps++;
	return 0;
}

static void sk_iotlb_unmap(struct vdk__kernel *k, struct vdk__map *m)
{
	struct sim *s = to_sim(k);
	struct sim_map *sm = m->base;
	struct region *r = sm->r;

	assert(r->maps > 0 && s->live_maps > 0);
	if (sm->base)
		munmap(sm->base, m->len);
	free(sm);
	r->maps--;
	s->live_maps--;
	region_put(s, r);
}

/* The bounce region, whole and in no file; else NULL. */
static struct region *bounce_region(struct sim *s)
{
	struct region *r;

	if (!s->bounce_size)
		return NULL;
	r = find_region(s, 0);
	if (r->last != s->bounce_size - 1 || r->fd >= 0 || !r->perm)
		return NULL;
	return r;
}

static int sk_iotlb_umem_cap(struct vdk__kernel *k, uint64_t start,
			     uint64_t last)
{
	struct sim *s = to_sim(k);

	return start == 0 && bounce_region(s) &&
	       last == s->bounce_size - 1;
}

static int sk_iotlb_reg_umem(struct vdk__kernel *k, void *addr, uint64_t size)
{
	struct sim *s = to_sim(k);
	struct region *r = bounce_region(s);

	if (!r || size != s->bounce_size || ((uintptr_t)addr & 4095))
		return -EINVAL;
	if (s->umem)
		return -EEXIST;
	if (s->umem_error)
		return s->umem_error;
	memcpy(addr, r->buf, size);
	s->umem_own = r->buf;
	s->umem = addr;
	r->buf = addr;
	s->umem_regs++;
	return 0;
}

static int sk_iotlb_dereg_umem(struct vdk__kernel *k, uint64_t size)
{
	struct sim *s = to_sim(k);
	struct region *r;

	if (!s->umem)
		return -ENOENT;
	if (size != s->bounce_size)
		return -EINVAL;
	r = find_region(s, 0);
	assert(r->buf == s->umem);
	memcpy(s->umem_own, s->umem, size);
	r->buf = s->umem_own;
	s->umem = NULL;
	s->umem_own = NULL;
	return 0;
}

int sim_bounce(struct sim *s, uint64_t size)
{
	uint64_t cut = size;
	int ret;

	if (s->umem || !size || size > s->size || size % s->page_size)
		return -EINVAL;
	s->bounce_size = size;
	if (size < s->size && find_region(s, size)->start != size) {
		ret = sim_cut(s, &cut, 1);
		if (ret < 0)
			return ret;
	}
	return 0;
}

void sim_umem_fail(struct sim *s, int error)
{
	s->umem_error = error;
}

void *sim_umem(const struct sim *s)
{
	return s->umem;
}

unsigned int sim_umem_regs(const struct sim *s)
{
	return s->umem_regs;
}

void sim_iotlb_answer(struct sim *s, uint64_t iova,
		      const struct sim_answer *a, unsigned int count)
{
	s->ans = *a;
	s->ans_iova = iova;
	s->ans_left = count;
}

unsigned int sim_iotlb_answers_left(const struct sim *s)
{
	return s->ans_left;
}

static void sk_free(struct vdk__kernel *k)
{
	/* The simulator outlives the library's handle: just close. */
	sk_close_dev(k);
}

static const struct vdk__kops sim_kops = {
	.get_api_version = sk_get_api_version,
	.set_api_version = sk_set_api_version,
	.get_vduse_features = sk_get_vduse_features,
	.set_vduse_features = sk_set_vduse_features,
	.create_dev = sk_create_dev,
	.destroy_dev = sk_destroy_dev,
	.open_dev = sk_open_dev,
	.close_dev = sk_close_dev,
	.vq_setup = sk_vq_setup,
	.vq_get_info = sk_vq_get_info,
	.vq_setup_kickfd = sk_vq_setup_kickfd,
	.vq_inject_irq = sk_vq_inject_irq,
	.get_features = sk_get_features,
	.set_config = sk_set_config,
	.inject_config_irq = sk_inject_config_irq,
	.read_msg = sk_read_msg,
	.write_msg = sk_write_msg,
	.iotlb_map = sk_iotlb_map,
	.iotlb_unmap = sk_iotlb_unmap,
	.iotlb_umem_cap = sk_iotlb_umem_cap,
	.iotlb_reg_umem = sk_iotlb_reg_umem,
	.iotlb_dereg_umem = sk_iotlb_dereg_umem,
	.free = sk_free,
};

int sim_new(uint64_t size, struct sim **out)
{
	struct sim *s = calloc(1, sizeof(*s));
	unsigned int i;

	if (!s)
		return -ENOMEM;
	s->k.ops = &sim_kops;
	s->k.dev_fd = -1;
	pthread_mutex_init(&s->msg_lock, NULL);
	pthread_cond_init(&s->msg_cond, NULL);
	s->popped_id = UINT32_MAX;
	s->size = size;
	s->page_size = (uint64_t)sysconf(_SC_PAGESIZE);
	for (i = 0; i < VDK_MAX_QUEUES; i++)
		s->q[i].kickfd = -1;
	recut(s, NULL, 0);
	*out = s;
	return 0;
}

void sim_free(struct sim *s)
{
	unsigned int i;

	if (!s)
		return;
	sk_close_dev(&s->k);
	for (i = 0; i < s->nregions; i++) {
		s->regions[i]->retired = true;
		s->regions[i]->maps = 0;
		region_put(s, s->regions[i]);
	}
	free(s->regions);
	for (i = 0; i < VDK_MAX_QUEUES; i++) {
		if (s->q[i].kickfd >= 0)
			close(s->q[i].kickfd);
		free(s->q[i].next_free);
		free(s->q[i].chain_len);
		free(s->q[i].id_ndesc);
		free(s->q[i].id_ours);
		free(s->q[i].free_ids);
		free(s->q[i].io_fifo);
		free(s->q[i].io_len);
	}
	pthread_cond_destroy(&s->msg_cond);
	pthread_mutex_destroy(&s->msg_lock);
	free(s);
}

int sim_dev_new(struct sim *s, const struct vdk_dev_cfg *cfg, bool create,
		struct vdk_dev **out)
{
	return vdk__dev_new(cfg, &s->k, create, out);
}

/* ---- control ---- */

int sim_control(struct sim *s, struct vdk_dev *dev,
		const struct vduse_dev_request *req,
		struct vduse_dev_response *resp)
{
	uint32_t id = s->next_id;
	struct timespec until;
	int ret;

	pthread_mutex_lock(&s->msg_lock);
	s->have_resp = false;
	pthread_mutex_unlock(&s->msg_lock);
	queue_msg(s, req);
	ret = vdk_dev_process(dev);
	if (ret < 0)
		return ret;
	/*
	 * The model's control thread, woken by the same message, may
	 * have taken it first: its answer comes from there.
	 */
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 5;
	pthread_mutex_lock(&s->msg_lock);
	while (!(s->have_resp && s->resp.request_id == id) &&
	       !(s->popped_id == id &&
		 pthread_equal(s->popped_by, pthread_self())) &&
	       pthread_cond_timedwait(&s->msg_cond, &s->msg_lock,
				      &until) == 0)
		;
	ret = s->have_resp && s->resp.request_id == id ? 0 : -EPROTO;
	if (!ret && resp)
		*resp = s->resp;
	pthread_mutex_unlock(&s->msg_lock);
	return ret;
}

int sim_set_status(struct sim *s, struct vdk_dev *dev, uint8_t status)
{
	struct vduse_dev_request req = { .type = VDUSE_SET_STATUS };
	struct vduse_dev_response resp;
	int ret;

	req.s.status = status;
	ret = sim_control(s, dev, &req, &resp);
	if (ret < 0)
		return ret;
	if (status == 0) {
		unsigned int i;

		/* As vduse_dev_reset(): queues and kick eventfds go. */
		for (i = 0; i < VDK_MAX_QUEUES; i++) {
			s->q[i].ready = false;
			if (s->q[i].kickfd >= 0)
				close(s->q[i].kickfd);
			s->q[i].kickfd = -1;
		}
		s->driver_features = 0;
	}
	return resp.result == VDUSE_REQ_RESULT_OK ? 0 : -EIO;
}

int sim_update_iotlb(struct sim *s, struct vdk_dev *dev, uint64_t start,
		     uint64_t last)
{
	struct vduse_dev_request req = { .type = VDUSE_UPDATE_IOTLB };

	req.iova.start = start;
	req.iova.last = last;
	return sim_control(s, dev, &req, NULL);
}

void sim_set_api_version(struct sim *s, uint64_t version)
{
	s->api_version = version;
}

uint64_t sim_api_version_set(const struct sim *s)
{
	return s->api_set;
}

void sim_set_vduse_features(struct sim *s, uint64_t offered)
{
	s->vduse_offered = offered;
}

uint64_t sim_vduse_features_set(const struct sim *s)
{
	return s->vduse_set;
}

void sim_dev_groups(const struct sim *s, uint32_t *ngroups, uint32_t *nas)
{
	*ngroups = s->ngroups;
	*nas = s->nas;
}

const uint8_t *sim_config(const struct sim *s, uint32_t *size)
{
	*size = s->config_size;
	return s->config;
}

unsigned int sim_config_irqs(const struct sim *s)
{
	return s->config_irqs;
}

uint64_t sim_device_features(const struct sim *s)
{
	return s->features;
}

bool sim_dev_exists(const struct sim *s)
{
	return s->exists;
}

/* ---- driver's virtqueues ---- */

static struct vring_desc *q_desc(struct sim *s, struct simq *q)
{
	return ptr(s, q->desc, 16ull * q->num);
}

static struct vring_avail *q_avail(struct sim *s, struct simq *q)
{
	return ptr(s, q->avail, 6 + 2ull * q->num);
}

static struct vring_used *q_used(struct sim *s, struct simq *q)
{
	return ptr(s, q->used, 6 + 8ull * q->num);
}

static void io_setup(struct simq *q, unsigned int num)
{
	free(q->io_fifo);
	free(q->io_len);
	q->io_fifo = calloc(num, sizeof(*q->io_fifo));
	q->io_len = calloc(num, sizeof(*q->io_len));
	assert(q->io_fifo && q->io_len);
	q->io_first = q->io_n = 0;
	q->io_batch = false;
	q->io_bad = false;
}

static bool in_order(const struct sim *s)
{
	return s->driver_features & (1ull << VIRTIO_F_IN_ORDER);
}

/* In order: @head (buffer id) of @n buffers was posted. */
static void io_posted(struct sim *s, struct simq *q, uint16_t head,
		      const struct sim_buf *bufs, unsigned int n)
{
	uint32_t total = 0;
	unsigned int i;

	if (!in_order(s))
		return;
	for (i = 0; i < n; i++)
		total += bufs[i].len;
	assert(q->io_n < q->num);
	q->io_fifo[(q->io_first + q->io_n) % q->num] = head;
	q->io_len[(q->io_first + q->io_n) % q->num] = total;
	q->io_n++;
}

/*
 * In order, as Linux reads a used entry: it completes the oldest buffer
 * posted, with the entry's length if the entry names it, else with its
 * whole length, the entry standing for the run up to the buffer it
 * names.  0 when the run goes past the buffers posted (io_bad set).
 */
static int io_next(struct simq *q, uint16_t *id, uint32_t *len)
{
	if (q->io_n == 0) {
		q->io_bad = true;
		q->io_batch = false;
		return 0;
	}
	*id = q->io_fifo[q->io_first];
	if (*id == q->io_batch_id) {
		*len = q->io_batch_len;
		q->io_batch = false;
	} else {
		*len = q->io_len[q->io_first];
	}
	q->io_first = (q->io_first + 1) % q->num;
	q->io_n--;
	return 1;
}

bool sim_vq_in_order_bad(const struct sim *s, unsigned int qi)
{
	return s->q[qi].io_bad;
}

uint64_t sim_vq_setup(struct sim *s, unsigned int qi, unsigned int num,
		      uint64_t ring_iova)
{
	struct simq *q = &s->q[qi];
	uint64_t used_off;
	unsigned int i;

	q->num = num;
	q->desc = ring_iova;
	q->avail = ring_iova + 16ull * num;
	used_off = (16ull * num + 6 + 2ull * num + 4095) & ~4095ull;
	q->used = ring_iova + used_off;
	sim_fill(s, ring_iova, 0, used_off + 6 + 8ull * num);
	free(q->next_free);
	free(q->chain_len);
	q->next_free = calloc(num, sizeof(uint16_t));
	q->chain_len = calloc(num, sizeof(uint16_t));
	assert(q->next_free && q->chain_len);
	for (i = 0; i < num; i++)
		q->next_free[i] = (uint16_t)(i + 1);
	io_setup(q, num);
	q->free_head = 0;
	q->num_free = num;
	q->avail_idx = 0;
	q->last_used = 0;
	q->kicked_at = 0;
	q->irqs = 0;
	q->ready = true;
	q->packed = false;
	return used_off + 6 + 8ull * num;
}

int sim_driver_ok(struct sim *s, struct vdk_dev *dev, uint64_t features)
{
	uint8_t st = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER;
	int ret;

	bool ready[VDK_MAX_QUEUES];
	unsigned int i;

	/*
	 * A driver's probe starts with a reset, as virtio_dev_probe() does;
	 * the queues laid out by sim_vq_setup() belong to the probe after.
	 */
	for (i = 0; i < VDK_MAX_QUEUES; i++)
		ready[i] = s->q[i].ready;
	ret = sim_set_status(s, dev, 0);
	if (ret < 0)
		return ret;
	for (i = 0; i < VDK_MAX_QUEUES; i++)
		s->q[i].ready = ready[i];
	s->driver_features = features & s->features;
	ret = sim_set_status(s, dev, st);
	if (ret == 0)
		ret = sim_set_status(s, dev, st | VIRTIO_CONFIG_S_FEATURES_OK);
	/*
	 * With VDUSE_F_QUEUE_READY the kernel tells the device of each
	 * queue the driver sets ready, before DRIVER_OK.
	 */
	for (i = 0; ret == 0 && i < s->vq_num; i++) {
		struct vduse_dev_request req;
		struct vduse_dev_response resp;
		uint32_t p[2] = { i, 1 };

		if (!(s->vduse_set & (1ull << VDUSE_F_QUEUE_READY)) ||
		    !s->q[i].ready)
			continue;
		memset(&req, 0, sizeof(req));
		req.type = VDK__REQ_SET_VQ_READY;
		memcpy(&req.vq_state, p, sizeof(p));
		ret = sim_control(s, dev, &req, &resp);
		if (ret == 0 && resp.result != VDUSE_REQ_RESULT_OK)
			ret = -EIO;
	}
	if (ret == 0)
		ret = sim_set_status(s, dev,
				     st | VIRTIO_CONFIG_S_FEATURES_OK |
					     VIRTIO_CONFIG_S_DRIVER_OK);
	return ret;
}

static void publish(struct sim *s, struct simq *q, uint16_t head)
{
	struct vring_avail *a = q_avail(s, q);

	a->ring[q->avail_idx % q->num] = htole16(head);
	q->avail_idx++;
	/* Release: the entry before the index, as a driver's wmb. */
	__atomic_store_n(&a->idx, htole16(q->avail_idx), __ATOMIC_RELEASE);
}

static int pvq_add(struct sim *s, struct simq *q, const struct sim_buf *bufs,
		   unsigned int n, uint64_t indirect_iova);
static bool pvq_kick(struct sim *s, struct simq *q, bool force);
static int pvq_used(struct sim *s, struct simq *q, uint16_t *id,
		    uint32_t *len);

int sim_vq_add(struct sim *s, unsigned int qi, const struct sim_buf *bufs,
	       unsigned int n, uint64_t indirect_iova)
{
	struct simq *q = &s->q[qi];
	struct vring_desc *desc;
	unsigned int need = indirect_iova ? 1 : n, i;
	uint16_t head, d;

	if (q->packed)
		return pvq_add(s, q, bufs, n, indirect_iova);
	desc = q_desc(s, q);
	if (n == 0 || q->num_free < need)
		return -1;
	head = q->free_head;
	if (indirect_iova) {
		for (i = 0; i < n; i++) {
			struct vring_desc e = {
				.addr = htole64(bufs[i].iova),
				.len = htole32(bufs[i].len),
				.flags = htole16(
					(bufs[i].write ? VRING_DESC_F_WRITE :
							 0) |
					(i + 1 < n ? VRING_DESC_F_NEXT : 0)),
				.next = htole16((uint16_t)(i + 1)),
			};

			sim_write(s, indirect_iova + 16ull * i, &e, sizeof(e));
		}
		desc[head].addr = htole64(indirect_iova);
		desc[head].len = htole32(16 * n);
		desc[head].flags = htole16(VRING_DESC_F_INDIRECT);
		q->free_head = q->next_free[head];
	} else {
		d = head;
		for (i = 0; i < n; i++) {
			desc[d].addr = htole64(bufs[i].iova);
			desc[d].len = htole32(bufs[i].len);
			desc[d].flags = htole16(
				(bufs[i].write ? VRING_DESC_F_WRITE : 0) |
				(i + 1 < n ? VRING_DESC_F_NEXT : 0));
			desc[d].next = htole16(q->next_free[d]);
			if (i + 1 < n)
				d = q->next_free[d];
		}
		q->free_head = q->next_free[d];
	}
	q->num_free -= need;
	q->chain_len[head] = (uint16_t)need;
	io_posted(s, q, head, bufs, n);
	publish(s, q, head);
	return head;
}

bool sim_vq_kick(struct sim *s, unsigned int qi, bool force)
{
	struct simq *q = &s->q[qi];
	struct vring_used *u;
	uint64_t one = 1;
	bool kick;

	if (q->packed)
		return pvq_kick(s, q, force);
	u = q_used(s, q);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (force) {
		kick = true;
	} else if (s->driver_features & (1ull << VIRTIO_RING_F_EVENT_IDX)) {
		/* Atomic: the device thread may be storing it right now. */
		uint16_t event = le16toh(__atomic_load_n(
			(uint16_t *)&u->ring[q->num], __ATOMIC_RELAXED));

		kick = vring_need_event(event, q->avail_idx, q->kicked_at);
	} else {
		kick = !(le16toh(__atomic_load_n(&u->flags, __ATOMIC_RELAXED)) &
			 VRING_USED_F_NO_NOTIFY);
	}
	q->kicked_at = q->avail_idx;
	if (kick && q->kickfd >= 0)
		assert(write(q->kickfd, &one, sizeof(one)) == sizeof(one));
	return kick;
}

int sim_vq_used(struct sim *s, unsigned int qi, uint16_t *id, uint32_t *len)
{
	struct simq *q = &s->q[qi];
	struct vring_used *u;
	struct vring_desc *desc;
	uint16_t used_idx;
	struct vring_used_elem e;
	unsigned int i;
	uint16_t d;

	if (q->packed)
		return pvq_used(s, q, id, len);
	u = q_used(s, q);
	desc = q_desc(s, q);
	if (in_order(s) && q->io_batch) {
		if (!io_next(q, id, len))
			return 0;
		q->last_used++;
	} else {
		used_idx = le16toh(__atomic_load_n(&u->idx,
						   __ATOMIC_ACQUIRE));
		if (used_idx == q->last_used)
			return 0;
		e = u->ring[q->last_used % q->num];
		q->last_used++;
		*id = (uint16_t)le32toh(e.id);
		*len = le32toh(e.len);
		/* Raw posts (hostile tests) are read as they come. */
		if (in_order(s) && q->io_n) {
			q->io_batch = true;
			q->io_batch_id = *id;
			q->io_batch_len = *len;
			if (!io_next(q, id, len))
				return 0;
		}
	}
	/* Give the chain's descriptors back, if we posted it. */
	if (*id < q->num && q->chain_len[*id]) {
		d = *id;
		for (i = 1; i < q->chain_len[*id]; i++)
			d = le16toh(desc[d].next);
		q->next_free[d] = q->free_head;
		q->free_head = *id;
		q->num_free += q->chain_len[*id];
		q->chain_len[*id] = 0;
	}
	return 1;
}

unsigned int sim_vq_irqs(const struct sim *s, unsigned int qi)
{
	return __atomic_load_n(&s->q[qi].irqs, __ATOMIC_RELAXED);
}

void sim_vq_set_used_event(struct sim *s, unsigned int qi, uint16_t idx)
{
	struct simq *q = &s->q[qi];

	q_avail(s, q)->ring[q->num] = htole16(idx);
}

void sim_vq_set_no_interrupt(struct sim *s, unsigned int qi, bool on)
{
	struct simq *q = &s->q[qi];

	if (q->packed) {
		sim_pvq_set_event(s, qi,
				  on ? VRING_PACKED_EVENT_FLAG_DISABLE :
				       VRING_PACKED_EVENT_FLAG_ENABLE,
				  0);
		return;
	}
	q_avail(s, q)->flags = htole16(on ? VRING_AVAIL_F_NO_INTERRUPT : 0);
}

void sim_vq_raw_desc(struct sim *s, unsigned int qi, unsigned int i,
		     uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	struct simq *q = &s->q[qi];
	struct vring_desc *desc = q_desc(s, q);

	desc[i].addr = htole64(addr);
	desc[i].len = htole32(len);
	desc[i].flags = htole16(flags);
	desc[i].next = htole16(next);
}

void sim_vq_raw_avail(struct sim *s, unsigned int qi, uint16_t head)
{
	publish(s, &s->q[qi], head);
}

void sim_vq_raw_avail_idx(struct sim *s, unsigned int qi, uint16_t idx)
{
	struct simq *q = &s->q[qi];

	q->avail_idx = idx;
	__atomic_store_n(&q_avail(s, q)->idx, htole16(idx), __ATOMIC_RELEASE);
}

uint16_t sim_vq_avail_idx(const struct sim *s, unsigned int qi)
{
	return s->q[qi].avail_idx;
}

uint16_t sim_vq_used_idx(struct sim *s, unsigned int qi)
{
	struct simq *q = &s->q[qi];

	return le16toh(__atomic_load_n(&q_used(s, q)->idx, __ATOMIC_ACQUIRE));
}

int sim_region_file(struct sim *s, uint64_t iova, uint64_t file_off)
{
	struct region *r = find_region(s, iova);
	uint64_t len = r->last - r->start + 1;
	uint64_t page_off = file_off & (s->page_size - 1);
	unsigned char *p;
	int fd, ret;

	if (r->maps || r->fd >= 0)
		return -EBUSY;
	if (len > INT64_MAX || file_off > INT64_MAX - len)
		return -EFBIG;
	fd = memfd_create("vdk-sim-region", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)(file_off + len))) {
		ret = -errno;
		goto err_close;
	}
	p = mmap(NULL, len + page_off, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		 (off_t)(file_off - page_off));
	if (p == MAP_FAILED) {
		ret = -errno;
		goto err_close;
	}
	memcpy(p + page_off, r->buf, len);
	free(r->buf);
	r->buf = p + page_off;
	r->file_base = p;
	r->file_len = len + page_off;
	r->file_off = file_off;
	r->fd = fd;
	return 0;

err_close:
	close(fd);
	return ret;
}

int sim_region_memfd(struct sim *s, uint64_t iova)
{
	int ret, fd;

	ret = sim_region_file(s, iova, 0);
	if (ret < 0)
		return ret;
	fd = fcntl(find_region(s, iova)->fd, F_DUPFD_CLOEXEC, 0);
	return fd < 0 ? -errno : fd;
}

/* ---- packed rings, driver side ---- */

#define P_AVAIL (1u << VRING_PACKED_DESC_F_AVAIL)
#define P_USED (1u << VRING_PACKED_DESC_F_USED)

static struct vring_packed_desc *p_ring(struct sim *s, struct simq *q)
{
	return ptr(s, q->desc, 16ull * q->num);
}

static struct vring_packed_desc_event *p_driver_ev(struct sim *s,
						   struct simq *q)
{
	return ptr(s, q->avail, 4);
}

static struct vring_packed_desc_event *p_device_ev(struct sim *s,
						   struct simq *q)
{
	return ptr(s, q->used, 4);
}

uint64_t sim_pvq_setup(struct sim *s, unsigned int qi, unsigned int num,
		       uint64_t ring_iova)
{
	struct simq *q = &s->q[qi];
	unsigned int i;

	assert(num >= 1 && num <= 32768);
	q->num = num;
	q->desc = ring_iova;
	q->avail = ring_iova + 16ull * num;
	q->used = q->avail + 4;
	sim_fill(s, ring_iova, 0, 16ull * num + 8);
	free(q->id_ndesc);
	free(q->id_ours);
	free(q->free_ids);
	q->id_ndesc = calloc(num, sizeof(uint16_t));
	q->id_ours = calloc(num, sizeof(bool));
	q->free_ids = calloc(num, sizeof(uint16_t));
	assert(q->id_ndesc && q->id_ours && q->free_ids);
	io_setup(q, num);
	for (i = 0; i < num; i++)
		q->free_ids[i] = (uint16_t)(num - 1 - i);
	q->nfree_ids = num;
	q->p_free = num;
	q->p_avail = q->p_used = 0;
	q->p_avail_wrap = q->p_used_wrap = true;
	q->p_posted = q->p_kicked = 0;
	q->irqs = 0;
	q->packed = true;
	q->ready = true;
	/* What virtio_vdpa sets before DRIVER_OK. */
	q->state.last_avail_idx = 0;
	q->state.last_avail_counter = 1;
	q->state.last_used_idx = 0;
	q->state.last_used_counter = 1;
	return 16ull * num + 8;
}

void sim_pvq_set_state(struct sim *s, unsigned int qi,
		       const struct vduse_vq_state_packed *st)
{
	s->q[qi].state = *st;
}

/* Write descriptor @d at the driver's next position, flags as for it. */
static void p_put(struct sim *s, struct simq *q, unsigned int k,
		  const struct vring_packed_desc *d, bool head_last)
{
	struct vring_packed_desc *r = &p_ring(s, q)[(q->p_avail + k) % q->num];
	bool wrap = q->p_avail_wrap ^ (q->p_avail + k >= q->num);
	uint16_t flags = le16toh(d->flags) & ~(P_AVAIL | P_USED);

	flags |= wrap ? P_AVAIL : P_USED;
	r->addr = d->addr;
	r->len = d->len;
	r->id = d->id;
	if (head_last)
		/* Release: the chain before its head, as a driver's wmb. */
		__atomic_store_n(&r->flags, htole16(flags), __ATOMIC_RELEASE);
	else
		r->flags = htole16(flags);
}

void sim_pvq_raw_post(struct sim *s, unsigned int qi,
		      const struct vring_packed_desc *descs, unsigned int n)
{
	struct simq *q = &s->q[qi];
	unsigned int k;
	uint16_t id;

	assert(n >= 1 && n <= q->num);
	for (k = n; k-- > 1;)
		p_put(s, q, k, &descs[k], false);
	p_put(s, q, 0, &descs[0], true);
	id = le16toh(descs[n - 1].id);
	if (id < q->num && !q->id_ours[id])
		q->id_ndesc[id] = (uint16_t)n;
	q->p_avail = (uint16_t)(q->p_avail + n);
	if (q->p_avail >= q->num) {
		q->p_avail = (uint16_t)(q->p_avail - q->num);
		q->p_avail_wrap = !q->p_avail_wrap;
	}
	q->p_free = q->p_free >= n ? q->p_free - n : 0;
	q->p_posted += n;
}

void sim_pvq_raw_write(struct sim *s, unsigned int qi, unsigned int pos,
		       uint64_t addr, uint32_t len, uint16_t id, uint16_t flags)
{
	struct simq *q = &s->q[qi];
	struct vring_packed_desc *r = &p_ring(s, q)[pos % q->num];

	r->addr = htole64(addr);
	r->len = htole32(len);
	r->id = htole16(id);
	__atomic_store_n(&r->flags, htole16(flags), __ATOMIC_RELEASE);
}

void sim_pvq_position(const struct sim *s, unsigned int qi, uint16_t *idx,
		      bool *wrap)
{
	*idx = s->q[qi].p_avail;
	*wrap = s->q[qi].p_avail_wrap;
}

static int pvq_add(struct sim *s, struct simq *q, const struct sim_buf *bufs,
		   unsigned int n, uint64_t indirect_iova)
{
	struct vring_packed_desc d[SIM_MAX_CHAIN];
	unsigned int need = indirect_iova ? 1 : n, i;
	uint16_t id;

	if (n == 0 || n > SIM_MAX_CHAIN || q->p_free < need || !q->nfree_ids)
		return -1;
	id = q->free_ids[--q->nfree_ids];
	if (indirect_iova) {
		for (i = 0; i < n; i++) {
			struct vring_packed_desc e = {
				.addr = htole64(bufs[i].iova),
				.len = htole32(bufs[i].len),
				.id = 0,
				.flags = htole16(bufs[i].write ?
							 VRING_DESC_F_WRITE :
							 0),
			};

			sim_write(s, indirect_iova + 16ull * i, &e, sizeof(e));
		}
		d[0].addr = htole64(indirect_iova);
		d[0].len = htole32(16 * n);
		d[0].id = htole16(id);
		d[0].flags = htole16(VRING_DESC_F_INDIRECT);
	} else {
		for (i = 0; i < n; i++) {
			d[i].addr = htole64(bufs[i].iova);
			d[i].len = htole32(bufs[i].len);
			d[i].id = htole16(id);
			d[i].flags = htole16(
				(bufs[i].write ? VRING_DESC_F_WRITE : 0) |
				(i + 1 < n ? VRING_DESC_F_NEXT : 0));
		}
	}
	q->id_ours[id] = true;
	io_posted(s, q, id, bufs, n);
	sim_pvq_raw_post(s, (unsigned int)(q - s->q), d, need);
	q->id_ndesc[id] = (uint16_t)need;
	return id;
}

/*
 * As a driver decides: the device's event suppression, and with the
 * event index, whether the descriptors posted since the last kick went
 * past the position it names.
 */
static bool pvq_kick(struct sim *s, struct simq *q, bool force)
{
	struct vring_packed_desc_event *ev = p_device_ev(s, q);
	uint64_t one = 1, advance = q->p_posted - q->p_kicked;
	uint16_t flags, off_wrap;
	bool kick;

	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	flags = le16toh(__atomic_load_n(&ev->flags, __ATOMIC_ACQUIRE));
	off_wrap = le16toh(__atomic_load_n(&ev->off_wrap, __ATOMIC_RELAXED));
	if (force || flags == VRING_PACKED_EVENT_FLAG_ENABLE) {
		kick = true;
	} else if (flags == VRING_PACKED_EVENT_FLAG_DESC &&
		   (s->driver_features & (1ull << VIRTIO_RING_F_EVENT_IDX))) {
		long off = off_wrap & 0x7fff, back;

		if (!!(off_wrap & 0x8000) == q->p_avail_wrap)
			back = (long)q->p_avail - off;
		else
			back = (long)q->p_avail + q->num - off;
		kick = advance >= q->num || (back > 0 && back <= (long)advance);
	} else {
		kick = flags != VRING_PACKED_EVENT_FLAG_DISABLE;
	}
	q->p_kicked = q->p_posted;
	if (kick && q->kickfd >= 0)
		assert(write(q->kickfd, &one, sizeof(one)) == sizeof(one));
	return kick;
}

static int pvq_used(struct sim *s, struct simq *q, uint16_t *id,
		    uint32_t *len)
{
	struct vring_packed_desc *r = &p_ring(s, q)[q->p_used];
	uint16_t flags;
	unsigned int n;

	if (in_order(s) && q->io_batch) {
		if (!io_next(q, id, len))
			return 0;
	} else {
		flags = le16toh(__atomic_load_n(&r->flags, __ATOMIC_ACQUIRE));
		if (!!(flags & P_AVAIL) != q->p_used_wrap ||
		    !!(flags & P_USED) != q->p_used_wrap)
			return 0;
		*id = le16toh(r->id);
		*len = le32toh(r->len);
		/* Raw posts (hostile tests) are read as they come. */
		if (in_order(s) && q->io_n) {
			q->io_batch = true;
			q->io_batch_id = *id;
			q->io_batch_len = *len;
			if (!io_next(q, id, len))
				return 0;
		}
	}
	n = *id < q->num && q->id_ndesc[*id] ? q->id_ndesc[*id] : 1;
	q->p_used = (uint16_t)(q->p_used + n);
	if (q->p_used >= q->num) {
		q->p_used = (uint16_t)(q->p_used - q->num);
		q->p_used_wrap = !q->p_used_wrap;
	}
	q->p_free += n;
	if (q->p_free > q->num)
		q->p_free = q->num;
	if (*id < q->num && q->id_ours[*id]) {
		q->id_ours[*id] = false;
		q->free_ids[q->nfree_ids++] = *id;
	}
	if (*id < q->num)
		q->id_ndesc[*id] = 0;
	return 1;
}

void sim_pvq_set_event(struct sim *s, unsigned int qi, uint16_t flags,
		       uint16_t off_wrap)
{
	struct simq *q = &s->q[qi];
	struct vring_packed_desc_event *ev = p_driver_ev(s, q);

	__atomic_store_n(&ev->off_wrap, htole16(off_wrap), __ATOMIC_RELAXED);
	__atomic_store_n(&ev->flags, htole16(flags), __ATOMIC_RELEASE);
}

uint16_t sim_pvq_used_pos(const struct sim *s, unsigned int qi)
{
	const struct simq *q = &s->q[qi];

	return (uint16_t)(q->p_used | (q->p_used_wrap ? 0x8000 : 0));
}

uint16_t sim_pvq_device_event(struct sim *s, unsigned int qi,
			      uint16_t *off_wrap)
{
	struct vring_packed_desc_event *ev = p_device_ev(s, &s->q[qi]);

	*off_wrap = le16toh(__atomic_load_n(&ev->off_wrap, __ATOMIC_RELAXED));
	return le16toh(__atomic_load_n(&ev->flags, __ATOMIC_ACQUIRE));
}
