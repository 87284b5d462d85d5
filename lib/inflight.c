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
 * Only our user (or root) may write the file, and so shrink it under the
 * mapping (SIGBUS): see check_file().
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

struct inflight_header {
	uint64_t magic;
	uint32_t version;
	uint32_t num_queues;
	uint32_t queue_size;
	uint32_t reserved[3];
};

static size_t queue_bytes(unsigned int queue_size)
{
	return sizeof(struct vdk__inflight_q) + 8ull * queue_size;
}

static size_t file_bytes(unsigned int num_queues, unsigned int queue_size)
{
	return sizeof(struct inflight_header) +
	       (size_t)num_queues * queue_bytes(queue_size);
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
		      unsigned int num_queues, unsigned int queue_size)
{
	uint32_t nq, qs;
	unsigned int i;

	if (__atomic_load_n(&h->magic, __ATOMIC_ACQUIRE) != INFLIGHT_MAGIC ||
	    __atomic_load_n(&h->version, __ATOMIC_RELAXED) != INFLIGHT_VERSION)
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
		       unsigned int queue_size)
{
	size_t size = file_bytes(dev->num_queues, queue_size);
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
		h->version = INFLIGHT_VERSION;
		/* Magic last: a torn creation is never taken for a log. */
		__atomic_store_n(&h->magic, INFLIGHT_MAGIC, __ATOMIC_RELEASE);
	} else if (!header_ok(h, dev->num_queues, queue_size)) {
		munmap(p, size);
		return -EINVAL;
	}
	dev->inflight_map = p;
	dev->inflight_size = size;
	for (i = 0; i < dev->num_queues; i++)
		dev->vqs[i].log = (struct vdk__inflight_q *)(
			(char *)p + sizeof(*h) + i * queue_bytes(queue_size));
	return 0;
}

void vdk__inflight_close(struct vdk_dev *dev)
{
	unsigned int i;

	if (!dev->inflight_map)
		return;
	for (i = 0; i < dev->num_queues; i++)
		dev->vqs[i].log = NULL;
	munmap(dev->inflight_map, dev->inflight_size);
	dev->inflight_map = NULL;
}

void vdk__inflight_reset(struct vdk_vq *vq, uint16_t used_idx)
{
	struct vdk__inflight_q *log = vq->log;

	if (!log)
		return;
	/*
	 * Killed half-way, what is left of the stamps would read as a log:
	 * a used index far from the ring's makes recovery refuse it until
	 * the last store.
	 */
	__atomic_store_n(&log->used_idx, (uint16_t)(used_idx + 0x8000),
			 __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	memset(log->stamp, 0, 8ull * vq->max_size);
	log->counter = 0;
	log->last_head = 0;
	log->reserved = 0;
	__atomic_store_n(&log->used_idx, used_idx, __ATOMIC_RELEASE);
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
 * Check the stamps of heads below the ring's size (copied into @stamp,
 * read once each) against the counter and the ring, and put the heads in
 * flight in vq->resubmit, oldest first.  Returns their number or
 * -EINVAL.  A stamp at last_head is a completion the driver has (@torn).
 */
static int collect(struct vdk_vq *vq, uint64_t *stamp, uint64_t counter,
		   uint16_t used_idx, bool torn, uint16_t last_head)
{
	struct vdk__inflight_q *log = vq->log;
	unsigned int num = vq->num, i, n = 0;
	uint16_t avail_idx, pending;

	for (i = 0; i < num; i++) {
		uint64_t s = __atomic_load_n(&log->stamp[i], __ATOMIC_RELAXED);

		if (!s || (torn && i == last_head))
			continue;
		/* Stamps come from the counter, which is stored first. */
		if (s > counter)
			return refuse(vq, "stamp above the counter", i, s);
		stamp[i] = s;
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

		if (head < num && stamp[head])
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
	uint16_t log_used, last_head;
	uint64_t counter, *stamp;
	unsigned int i;
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
	if (__atomic_load_n(&log->reserved, __ATOMIC_RELAXED))
		return refuse(vq, "reserved field set", 0, 0);
	if (last_head >= vq->num)
		return refuse(vq, "last head out of range", last_head,
			      vq->num);
	torn = log_used != used_idx;
	if (torn) {
		uint32_t id;

		if ((uint16_t)(log_used + 1) != used_idx)
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
	n = collect(vq, stamp, counter, used_idx, torn, last_head);
	if (n < 0)
		goto out;
	/*
	 * Make the log what it says, each store leaving a log that
	 * recovers the same way: the completion finished, then the stamps
	 * renumbered 1..n in order (each new one is below the old ones
	 * left), then the counter, which thus starts again from n and
	 * cannot wrap, whatever value the file held.
	 */
	if (torn)
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
