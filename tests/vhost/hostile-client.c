// SPDX-License-Identifier: MIT
/*
 * hostile-client: a virtio-blk driver for a vdk device on the vhost bus
 * that breaks the rules on purpose.  It speaks the kernel's vhost-vdpa
 * interface itself (no libblkio), so that its rings can hold what no
 * library would write: descriptor loops, indexes out of range, addresses
 * outside the memory it mapped, wrong directions, huge lengths,
 * descriptors rewritten while the device reads them, ring memory
 * unmapped or its file truncated while the queue runs.
 *
 * One mode per run (--mode), each a list of cases.  A case opens the
 * node, maps its memory (memfds, shared, as a VMM does), starts queue 0,
 * checks it with an honest read, posts the malformed request, then an
 * honest read again (the probe), and looks at what came back: the used
 * entry and the status byte of each request, the buffers the device had
 * no business writing, the device status.  Then it resets the device
 * (status 0) and closes the node.  A mode first writes a pattern over
 * the first 2 MiB of the disk and last reads it back in a session of its
 * own: no refused write may reach the disk.
 *
 * Modes: loop (chains and indirect tables that loop, nested or chained
 * indirect tables), range (next, head and avail index out of range, a
 * ring base far from the avail index, the index wrap, a queue of one),
 * addr (buffers, headers, status bytes, tables and rings outside the
 * mapped memory or wrapping, a read-only region written, a region cut
 * mid-page, reads over the client's own rings), direction (readable
 * after writable, headers writable, data the wrong way, no status),
 * huge (aliased descriptors summing to GiBs, more than seg_max x
 * size_max), race (a thread rewriting descriptors, indirect tables and
 * then avail entries while requests run), unmap (the ring or the data
 * invalidated under running requests), shrink (memfds truncated).
 *
 * What the client owns and the daemon must not touch is filled with a
 * sentinel; a byte that is neither the sentinel nor the data the disk
 * holds there is counted as foreign: data from outside the client's
 * memory.
 *
 * Output: one JSON line.  Exit status: 0 every case ended in an outcome
 * its kind allows, 1 one did not, 2 usage, 3 the device could not be
 * set up, 4 a deadline passed with the kernel not answering.
 */
#define _GNU_SOURCE
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <linux/vhost.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_ring.h>

/*
 * Where the client's memory sits in the device's address space.  Far
 * apart, so that a length running past one region meets a hole, never
 * the next region.
 */
#define IOVA_RING 0x100000000ull
#define IOVA_PROBE 0x200000000ull
#define IOVA_DATA 0x300000000ull
#define IOVA_RO 0x400000000ull
#define IOVA_BIG 0x500000000ull
#define IOVA_ODD 0x600000000ull
#define IOVA_NONE 0x7f0000000000ull /* nothing is ever mapped there */

#define RING_SIZE (256u << 10)
#define PROBE_SIZE (2u << 20)
#define DATA_SIZE (16u << 20)
#define RO_SIZE (64u << 10)
#define BIG_SIZE (256ull << 20)
#define ODD_SIZE (64u << 10)
/* A region cut mid-page at both ends: the device sees only these bytes. */
#define ODD_SKIP 0x123u
#define ODD_LEN (0x6045u - ODD_SKIP)

/* The ring region: rings for up to 1024 entries, tables, headers. */
#define OFF_DESC 0x0
#define OFF_AVAIL 0x4000
#define OFF_USED 0x6000
#define OFF_IND 0x10000 /* indirect tables */
#define IND_ENTRIES 1024
#define OFF_HDR 0x20000    /* request headers, 16 bytes per slot */
#define OFF_STATUS 0x21000 /* status bytes, 16 bytes apart */
/*
 * The race's indirect tables, alone at the end: a buffer the racer makes
 * of one reaches no further than the region's end, so a read it turns
 * into lands on nothing but these tables.
 */
#define OFF_RACE 0x30000
#define MAX_NUM 1024
#define MAX_SLOTS 64

/* The probe region: a write source, then read targets. */
#define PROBE_SRC 0
#define PROBE_READ (1u << 20)

#define SENTINEL 0x5a
#define UNTOUCHED 0xee /* a status byte nobody wrote */
#define PATTERN_BYTES (2u << 20)
#define HOSTILE_SECTOR 2048 /* 1 MiB: inside the pattern */
/*
 * The race reads from 2 MiB on and writes far beyond: a chain the racer
 * stretches reads at most a request (under 16 MiB) past its start, so
 * only what was filled with the sentinel first, never what a race write
 * put on the disk, which may be any bytes of the client's own memory
 * (its headers, its tables).
 */
#define RACE_OFF (2u << 20)
#define RACE_READ_BYTES (17u << 20)
#define RACE_WRITE_OFF (64u << 20)
#define RACE_SLOT_BYTES (128u << 10)
#define TRUNC_OFF (40u << 20) /* where the truncated memory is written */
#define QUEUE_MAX 256 /* the queue size used, if the device allows */

#define DESC_H 16 /* first descriptor of a hostile chain */

static unsigned int opt_timeout = 2000; /* ms, per wait */
/* What must be answered (honest requests on a sound queue) waits longer. */
#define SURE (opt_timeout * 3)
static unsigned int opt_seconds = 2;    /* race phases */
static unsigned int opt_deadline = 240; /* s, the whole run */
static const char *opt_path = "/dev/vhost-vdpa-0";
static const char *opt_mode;
static const char *opt_case; /* only this case of the mode */

static void die(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), noreturn));
static void die(int code, const char *fmt, ...)
{
	va_list ap;

	fputs("hostile-client: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	printf("{\"mode\":\"%s\",\"error\":\"setup failed\",\"pass\":false}\n",
	       opt_mode ? opt_mode : "");
	fflush(stdout);
	exit(code);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* What the disk holds at byte @off of the first PATTERN_BYTES. */
static uint8_t pattern(uint64_t off)
{
	return (uint8_t)mix(off >> 3 ^ 0x1234) ^ (uint8_t)off;
}

/* ---- the client's memory ---- */

enum { R_RING, R_PROBE, R_DATA, R_RO, R_ODD, R_BIG, NREG };

struct region {
	const char *name;
	uint64_t iova;
	uint64_t size;
	uint8_t perm;
	int fill;     /* byte it holds when a case starts; -1: left alone */
	uint64_t skip; /* what the device sees: from this offset ... */
	uint64_t len;  /* ... this long (0: all of it) */
	int fd;
	uint8_t *addr;
};

static struct region rg[NREG] = {
	[R_RING] = { "ring", IOVA_RING, RING_SIZE, VHOST_ACCESS_RW, 0 },
	[R_PROBE] = { "probe", IOVA_PROBE, PROBE_SIZE, VHOST_ACCESS_RW, 0 },
	[R_DATA] = { "data", IOVA_DATA, DATA_SIZE, VHOST_ACCESS_RW, SENTINEL },
	[R_RO] = { "ro", IOVA_RO, RO_SIZE, VHOST_ACCESS_RO, SENTINEL },
	[R_ODD] = { "odd", IOVA_ODD, ODD_SIZE, VHOST_ACCESS_RW, SENTINEL,
		    ODD_SKIP, ODD_LEN },
	/* Sparse: only its ends are ever touched. */
	[R_BIG] = { "big", IOVA_BIG, BIG_SIZE, VHOST_ACCESS_RW, -1 },
};
static bool use_big;

static void region_create(struct region *r)
{
	void *p;

	r->fd = memfd_create(r->name, MFD_CLOEXEC);
	if (r->fd < 0)
		die(3, "memfd_create: %s", strerror(errno));
	if (ftruncate(r->fd, (off_t)r->size) < 0)
		die(3, "ftruncate: %s", strerror(errno));
	p = mmap(NULL, r->size, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_NORESERVE, r->fd, 0);
	if (p == MAP_FAILED)
		die(3, "mmap %s: %s", r->name, strerror(errno));
	r->addr = p;
}

/* Back to its size and contents (after a case truncated its file). */
static void region_reset(struct region *r)
{
	off_t end = lseek(r->fd, 0, SEEK_END);

	if (end < 0)
		die(3, "lseek: %s", strerror(errno));
	if ((uint64_t)end != r->size && ftruncate(r->fd, (off_t)r->size) < 0)
		die(3, "ftruncate: %s", strerror(errno));
	if (r->fill >= 0)
		memset(r->addr, r->fill, r->size);
}

static void *at(unsigned int reg, uint64_t off)
{
	return rg[reg].addr + off;
}

static uint64_t iova(unsigned int reg, uint64_t off)
{
	return rg[reg].iova + off;
}

/* ---- one session: the node opened, queue 0 started ---- */

struct ring_cfg {
	unsigned int num; /* 0: the device's largest, up to QUEUE_MAX */
	uint64_t desc, avail, used;
	uint16_t base;    /* where the ring starts */
	bool desync;      /* the avail index left at 0 whatever the base */
};

struct sess {
	int fd, kickfd, callfd;
	unsigned int num, max_num;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint16_t avail_idx; /* ours, published */
	uint16_t used_idx;  /* used entries taken */
	bool inflight[MAX_NUM];
	bool done[MAX_NUM];
	uint32_t done_len[MAX_NUM];
	bool loose;         /* completions of heads not posted are expected */
	unsigned int strays;
	uint64_t capacity;  /* bytes */
	uint32_t seg_max, size_max, blk_size;
	uint8_t status;
};

/* Totals of a mode, for its JSON line. */
static struct {
	unsigned int completions;
	unsigned int st_ok, st_ioerr, st_unsupp, st_other, untouched;
	unsigned int broken;
	uint64_t waited_ms;
	uint8_t last_status;
} tot;

static int xioctl(int fd, unsigned long req, void *arg, const char *name)
{
	if (ioctl(fd, req, arg) < 0) {
		fprintf(stderr, "hostile-client: %s: %s\n", name,
			strerror(errno));
		return -1;
	}
	return 0;
}

#define IOC(s, req, arg) xioctl((s)->fd, req, arg, #req)

static int iotlb_msg(struct sess *s, uint8_t type, uint64_t va, uint64_t size,
		     uint64_t uaddr, uint8_t perm)
{
	struct vhost_msg_v2 m;
	ssize_t n;

	memset(&m, 0, sizeof(m));
	m.type = VHOST_IOTLB_MSG_V2;
	m.iotlb.iova = va;
	m.iotlb.size = size;
	m.iotlb.uaddr = uaddr;
	m.iotlb.perm = perm;
	m.iotlb.type = type;
	n = write(s->fd, &m, sizeof(m));
	if (n != (ssize_t)sizeof(m)) {
		fprintf(stderr, "hostile-client: iotlb %s %#" PRIx64 ": %s\n",
			type == VHOST_IOTLB_UPDATE ? "update" : "invalidate",
			va, n < 0 ? strerror(errno) : "short write");
		return -1;
	}
	return 0;
}

static int map_region(struct sess *s, unsigned int reg)
{
	struct region *r = &rg[reg];

	return iotlb_msg(s, VHOST_IOTLB_UPDATE, r->iova + r->skip,
			 r->len ? r->len : r->size,
			 (uint64_t)(uintptr_t)r->addr + r->skip, r->perm);
}

static int unmap_region(struct sess *s, unsigned int reg)
{
	struct region *r = &rg[reg];

	return iotlb_msg(s, VHOST_IOTLB_INVALIDATE, r->iova + r->skip,
			 r->len ? r->len : r->size, 0, 0);
}

static int set_status(struct sess *s, uint8_t st)
{
	return IOC(s, VHOST_VDPA_SET_STATUS, &st);
}

static uint8_t get_status(struct sess *s)
{
	uint8_t st = 0xff;

	IOC(s, VHOST_VDPA_GET_STATUS, &st);
	return st;
}

static void read_config(struct sess *s)
{
	struct {
		struct vhost_vdpa_config h;
		struct virtio_blk_config c;
	} cfg;
	uint32_t size = 0;

	/* Only what the device has: its config may be shorter than ours. */
	memset(&cfg, 0, sizeof(cfg));
	cfg.h.len = offsetof(struct virtio_blk_config, physical_block_exp);
	if (ioctl(s->fd, VHOST_VDPA_GET_CONFIG_SIZE, &size) == 0 &&
	    size >= sizeof(cfg.c))
		cfg.h.len = sizeof(cfg.c);
	if (IOC(s, VHOST_VDPA_GET_CONFIG, &cfg) < 0)
		die(3, "no config space");
	s->capacity = le64toh(cfg.c.capacity) * 512;
	s->size_max = le32toh(cfg.c.size_max);
	s->seg_max = le32toh(cfg.c.seg_max);
	s->blk_size = le32toh(cfg.c.blk_size);
	if (!s->blk_size)
		s->blk_size = 512;
}

static void close_fd(int *fd)
{
	if (*fd >= 0 && close(*fd) < 0)
		fprintf(stderr, "hostile-client: close: %s\n", strerror(errno));
	*fd = -1;
}

static void sess_close(struct sess *s)
{
	if (s->fd >= 0) {
		if (set_status(s, 0) < 0)
			fprintf(stderr, "hostile-client: reset failed\n");
	}
	close_fd(&s->fd);
	close_fd(&s->kickfd);
	close_fd(&s->callfd);
}

static const uint64_t want_features =
	(1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_F_ACCESS_PLATFORM) |
	(1ull << VIRTIO_RING_F_INDIRECT_DESC) | (1ull << VIRTIO_BLK_F_SEG_MAX) |
	(1ull << VIRTIO_BLK_F_SIZE_MAX) | (1ull << VIRTIO_BLK_F_BLK_SIZE) |
	(1ull << VIRTIO_BLK_F_FLUSH);

/* Up to FEATURES_OK: owner, backend features, features, config. */
static void sess_negotiate(struct sess *s)
{
	uint64_t f, bf = 0;
	uint32_t id = 0;
	uint16_t num = 0;
	struct vhost_vdpa_iova_range range = { 0, 0 };
	uint8_t st;
	unsigned int i;

	if (IOC(s, VHOST_SET_OWNER, NULL) < 0)
		die(3, "%s: not ours", opt_path);
	/* IOTLB messages in the v2 layout need the backend feature first. */
	if (IOC(s, VHOST_GET_BACKEND_FEATURES, &bf) < 0)
		die(3, "no backend features");
	bf &= (1ull << VHOST_BACKEND_F_IOTLB_MSG_V2) |
	      (1ull << VHOST_BACKEND_F_IOTLB_BATCH);
	if (!(bf & (1ull << VHOST_BACKEND_F_IOTLB_MSG_V2)))
		die(3, "no IOTLB v2 messages");
	if (IOC(s, VHOST_SET_BACKEND_FEATURES, &bf) < 0)
		die(3, "backend features refused");
	if (IOC(s, VHOST_VDPA_GET_DEVICE_ID, &id) < 0 || id != VIRTIO_ID_BLOCK)
		die(3, "%s: not a block device (id %u)", opt_path, id);
	if (IOC(s, VHOST_VDPA_GET_IOVA_RANGE, &range) == 0 &&
	    (range.first > IOVA_RING || range.last < IOVA_NONE + (1 << 20)))
		die(3, "IOVA range [%#llx, %#llx] too small",
		    (unsigned long long)range.first,
		    (unsigned long long)range.last);
	if (set_status(s, 0) < 0 ||
	    set_status(s, VIRTIO_CONFIG_S_ACKNOWLEDGE) < 0 ||
	    set_status(s, VIRTIO_CONFIG_S_ACKNOWLEDGE |
				  VIRTIO_CONFIG_S_DRIVER) < 0)
		die(3, "status refused");
	if (IOC(s, VHOST_GET_FEATURES, &f) < 0)
		die(3, "no features");
	f &= want_features;
	if (IOC(s, VHOST_SET_FEATURES, &f) < 0)
		die(3, "features refused");
	st = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
	     VIRTIO_CONFIG_S_FEATURES_OK;
	if (set_status(s, st) < 0 ||
	    !(get_status(s) & VIRTIO_CONFIG_S_FEATURES_OK))
		die(3, "features not accepted");
	read_config(s);
	if (IOC(s, VHOST_VDPA_GET_VRING_NUM, &num) < 0 || !num)
		die(3, "no queue size");
	s->max_num = num;
	for (i = 0; i < NREG; i++)
		if ((i != R_BIG || use_big) && map_region(s, i) < 0)
			die(3, "memory not mapped");
}

static void publish_avail(struct sess *s, uint16_t idx)
{
	/* Release: ring entries and descriptors before the index. */
	__atomic_store_n(&s->avail->idx, htole16(idx), __ATOMIC_RELEASE);
}

/* Queue 0 and DRIVER_OK.  Returns -1 if the kernel refused the layout. */
static int sess_start(struct sess *s, const struct ring_cfg *rc)
{
	struct vhost_vring_state st = { .index = 0 };
	struct vhost_vring_addr a = { .index = 0 };
	struct vhost_vring_file kf = { .index = 0 };
	struct vhost_vring_file cf = { .index = 0 };
	uint8_t status;

	s->num = rc->num ? rc->num :
		 (s->max_num < QUEUE_MAX ? s->max_num : QUEUE_MAX);
	st.num = s->num;
	if (IOC(s, VHOST_SET_VRING_NUM, &st) < 0)
		return -1;
	a.desc_user_addr = rc->desc ? rc->desc : iova(R_RING, OFF_DESC);
	a.avail_user_addr = rc->avail ? rc->avail : iova(R_RING, OFF_AVAIL);
	a.used_user_addr = rc->used ? rc->used : iova(R_RING, OFF_USED);
	if (IOC(s, VHOST_SET_VRING_ADDR, &a) < 0)
		return -1;
	if (!rc->desync) {
		/* As a VMM restoring a ring: both indexes where it was. */
		s->avail_idx = s->used_idx = rc->base;
		publish_avail(s, rc->base);
		s->used->idx = htole16(rc->base);
	}
	st.num = rc->base;
	if (IOC(s, VHOST_SET_VRING_BASE, &st) < 0)
		die(3, "ring base refused");
	s->kickfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	s->callfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->kickfd < 0 || s->callfd < 0)
		die(3, "eventfd: %s", strerror(errno));
	kf.fd = s->kickfd;
	cf.fd = s->callfd;
	if (IOC(s, VHOST_SET_VRING_KICK, &kf) < 0 ||
	    IOC(s, VHOST_SET_VRING_CALL, &cf) < 0)
		die(3, "eventfds refused");
	st.num = 1;
	if (IOC(s, VHOST_VDPA_SET_VRING_ENABLE, &st) < 0)
		die(3, "queue not enabled");
	status = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
		 VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK;
	if (set_status(s, status) < 0)
		die(3, "DRIVER_OK refused");
	return 0;
}

static int sess_open(struct sess *s, const struct ring_cfg *rc)
{
	unsigned int i;

	memset(s, 0, sizeof(*s));
	s->kickfd = s->callfd = -1;
	for (i = 0; i < NREG; i++)
		if (i != R_BIG)
			region_reset(&rg[i]);
	s->desc = at(R_RING, OFF_DESC);
	s->avail = at(R_RING, OFF_AVAIL);
	s->used = at(R_RING, OFF_USED);
	s->fd = open(opt_path, O_RDWR | O_CLOEXEC);
	if (s->fd < 0)
		die(3, "%s: %s", opt_path, strerror(errno));
	sess_negotiate(s);
	return sess_start(s, rc);
}

/* ---- the driver's side of a split ring ---- */

static void set_desc(struct vring_desc *t, unsigned int i, uint64_t addr,
		     uint32_t len, uint16_t flags, uint16_t next)
{
	/* The device may be reading it right now (race mode). */
	__atomic_store_n(&t[i].addr, htole64(addr), __ATOMIC_RELAXED);
	__atomic_store_n(&t[i].len, htole32(len), __ATOMIC_RELAXED);
	__atomic_store_n(&t[i].flags, htole16(flags), __ATOMIC_RELAXED);
	__atomic_store_n(&t[i].next, htole16(next), __ATOMIC_RELAXED);
}

static void kick(struct sess *s)
{
	uint64_t one = 1;

	if (write(s->kickfd, &one, sizeof(one)) != sizeof(one))
		die(3, "kick: %s", strerror(errno));
}

/* Put @n heads in the avail ring at once, then kick. */
static void post_n(struct sess *s, const uint16_t *heads, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		uint16_t h = heads[i];

		__atomic_store_n(&s->avail->ring[(uint16_t)(s->avail_idx + i) &
						 (s->num - 1)],
				 htole16(h), __ATOMIC_RELAXED);
		if (h < s->num) {
			s->inflight[h] = true;
			s->done[h] = false;
		}
	}
	s->avail_idx += n;
	publish_avail(s, s->avail_idx);
	kick(s);
}

static void post(struct sess *s, uint16_t head)
{
	post_n(s, &head, 1);
}

/* Take what the device put in the used ring. */
static unsigned int reap(struct sess *s)
{
	uint16_t idx = le16toh(__atomic_load_n(&s->used->idx,
					       __ATOMIC_ACQUIRE));
	unsigned int n = 0;

	while (s->used_idx != idx) {
		struct vring_used_elem *e =
			&s->used->ring[s->used_idx & (s->num - 1)];
		uint32_t id = le32toh(e->id), len = le32toh(e->len);

		s->used_idx++;
		n++;
		tot.completions++;
		if (id >= s->num || !s->inflight[id]) {
			/* Exactly once: a head not in flight is a bug. */
			if (!s->loose)
				s->strays++;
			continue;
		}
		s->inflight[id] = false;
		s->done[id] = true;
		s->done_len[id] = len;
	}
	return n;
}

/* Sleep on the call eventfd for at most @ms. */
static void wait_call(struct sess *s, int ms)
{
	struct pollfd p = { .fd = s->callfd, .events = POLLIN };
	uint64_t v;
	int r;

	r = poll(&p, 1, ms);
	if (r < 0 && errno != EINTR)
		die(3, "poll: %s", strerror(errno));
	if (r > 0 && read(s->callfd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		die(3, "read call eventfd: %s", strerror(errno));
}

/* Wait for @head for at most @ms; whether it was completed. */
static bool wait_head(struct sess *s, unsigned int head, unsigned int ms)
{
	uint64_t t0 = now_ms(), end = t0 + ms;
	bool got;

	for (;;) {
		reap(s);
		got = head < s->num && s->done[head];
		if (got || now_ms() >= end)
			break;
		wait_call(s, 10);
	}
	tot.waited_ms += now_ms() - t0;
	return got;
}

static unsigned int count_inflight(const struct sess *s)
{
	unsigned int i, n = 0;

	for (i = 0; i < s->num; i++)
		n += s->inflight[i];
	return n;
}

/* Wait until nothing is in flight, for at most @ms. */
static bool wait_all(struct sess *s, unsigned int ms)
{
	uint64_t t0 = now_ms(), end = t0 + ms;
	bool idle;

	for (;;) {
		reap(s);
		idle = count_inflight(s) == 0;
		if (idle || now_ms() >= end)
			break;
		wait_call(s, 10);
	}
	tot.waited_ms += now_ms() - t0;
	return idle;
}

/* Give the device @ms to answer whatever it will. */
static void settle(struct sess *s, unsigned int ms)
{
	uint64_t t0 = now_ms(), end = t0 + ms;

	while (now_ms() < end) {
		reap(s);
		wait_call(s, 10);
	}
	reap(s);
	tot.waited_ms += now_ms() - t0;
}

static struct virtio_blk_outhdr *hdr_of(unsigned int slot)
{
	return at(R_RING, OFF_HDR + slot * 16);
}

static uint64_t hdr_iova(unsigned int slot)
{
	return iova(R_RING, OFF_HDR + slot * 16);
}

static uint8_t *status_of(unsigned int slot)
{
	return at(R_RING, OFF_STATUS + slot * 16);
}

static uint64_t status_iova(unsigned int slot)
{
	return iova(R_RING, OFF_STATUS + slot * 16);
}

static void set_hdr(unsigned int slot, uint32_t type, uint64_t sector)
{
	struct virtio_blk_outhdr *h = hdr_of(slot);

	h->type = htole32(type);
	h->ioprio = 0;
	h->sector = htole64(sector);
	*status_of(slot) = UNTOUCHED;
}

/*
 * An honest request on slot @slot (descriptors 3 slot .. 3 slot + 2):
 * header, one data buffer, status.  Posts it; returns its head.
 */
static void fill_chain(struct vring_desc *t, unsigned int d,
		       unsigned int slot, uint32_t type, uint64_t sector,
		       uint64_t buf, uint32_t len)
{
	uint16_t w = type == VIRTIO_BLK_T_IN ? VRING_DESC_F_WRITE : 0;

	set_hdr(slot, type, sector);
	set_desc(t, d, hdr_iova(slot), 16, VRING_DESC_F_NEXT,
		 len ? d + 1 : d + 2);
	set_desc(t, d + 1, buf, len, VRING_DESC_F_NEXT | w, d + 2);
	set_desc(t, d + 2, status_iova(slot), 1, VRING_DESC_F_WRITE, 0);
}

static unsigned int request(struct sess *s, unsigned int slot, uint32_t type,
			    uint64_t sector, uint64_t buf, uint32_t len)
{
	unsigned int d = slot * 3;

	fill_chain(s->desc, d, slot, type, sector, buf, len);
	post(s, (uint16_t)d);
	return d;
}

/* ---- outcomes ---- */

enum outcome {
	O_NONE,    /* no used entry: the queue stopped answering */
	O_REFUSED, /* used entry with length 0, status byte untouched */
	O_BARE,    /* used entry with a length, status byte untouched */
	O_OK,
	O_IOERR,
	O_UNSUPP,
	O_BADST,   /* a status byte virtio-blk does not define */
	O_KERNEL,  /* the kernel refused the layout: never reached vdk */
	O_SKIP,
	O_MIXED,   /* several requests: see the case's fields */
	O_BADDATA, /* status OK, but not the data the disk holds */
	O_N
};

static const char *const oname[O_N] = {
	"none", "refused", "bare", "ok", "ioerr", "unsupp", "bad-status",
	"kernel-refused", "skipped", "mixed", "bad-data",
};

#define A(o) (1u << (o))
#define A_ANY 0xffffu

static enum outcome classify(struct sess *s, unsigned int head,
			     const uint8_t *st)
{
	uint8_t v;

	if (head >= s->num || !s->done[head])
		return O_NONE;
	v = st ? *st : UNTOUCHED;
	switch (v) {
	case UNTOUCHED:
		tot.untouched++;
		return s->done_len[head] ? O_BARE : O_REFUSED;
	case VIRTIO_BLK_S_OK:
		tot.st_ok++;
		return O_OK;
	case VIRTIO_BLK_S_IOERR:
		tot.st_ioerr++;
		return O_IOERR;
	case VIRTIO_BLK_S_UNSUPP:
		tot.st_unsupp++;
		return O_UNSUPP;
	default:
		tot.st_other++;
		return O_BADST;
	}
}

/* An honest read of @len bytes at disk offset @off; true if it is right. */
static bool honest_read(struct sess *s, unsigned int slot, uint64_t off,
			uint32_t len, unsigned int ms)
{
	uint8_t *buf = at(R_PROBE, PROBE_READ + slot * 65536);
	unsigned int head, i;

	memset(buf, 0, len);
	head = request(s, slot, VIRTIO_BLK_T_IN, off / 512,
		       iova(R_PROBE, PROBE_READ + slot * 65536), len);
	if (!wait_head(s, head, ms) || *status_of(slot) != VIRTIO_BLK_S_OK)
		return false;
	for (i = 0; i < len; i++)
		if (buf[i] != pattern(off + i))
			return false;
	return true;
}

static bool honest_write(struct sess *s, uint64_t off, uint32_t len)
{
	uint8_t *buf = at(R_PROBE, PROBE_SRC);
	unsigned int head, i;

	for (i = 0; i < len; i++)
		buf[i] = pattern(off + i);
	head = request(s, 0, VIRTIO_BLK_T_OUT, off / 512,
		       iova(R_PROBE, PROBE_SRC), len);
	return wait_head(s, head, SURE) && *status_of(0) == VIRTIO_BLK_S_OK;
}

/* ---- cases ---- */

/* A buffer the device may write only for a request that succeeds. */
struct tracked {
	uint8_t *p;
	uint32_t len;
	uint64_t disk_off;   /* what a good read puts there */
	unsigned int head;
	const uint8_t *st;
};

struct cres {
	enum outcome got;
	int head;            /* the hostile head, classified by the runner */
	const uint8_t *st;   /* its status byte */
	enum outcome probe;
	uint64_t foreign;
	uint32_t len;
	uint8_t status;
	uint64_t waited_ms;
	bool lost;           /* answered probe, unanswered request */
	bool honest_bad;     /* an honest request of the case went wrong */
	char extra[256];     /* more fields, JSON */
	struct tracked tr[8];
	unsigned int ntr;
	unsigned int rot_ok; /* race: bytes allowed besides the sentinel */
};

#define C_PREP_ONLY 1u  /* the case changes the layout: no first check */
#define C_NO_PROBE 2u   /* the ring is not the client's to touch after */
#define C_MAY_BREAK 4u  /* the queue may stop answering */
#define C_NO_SCAN 8u    /* the data region is not checked */

struct hcase {
	const char *name;
	const char *want; /* what vdk does: lib/vq.c, blk/request.c */
	unsigned int allow;
	unsigned int flags;
	void (*prep)(struct sess *s, struct ring_cfg *rc);
	void (*run)(struct sess *s, struct cres *r);
};

static void track(struct cres *r, unsigned int reg, uint64_t off,
		  uint32_t len, uint64_t disk_off, unsigned int head,
		  const uint8_t *st)
{
	if (r->ntr < 8)
		r->tr[r->ntr++] = (struct tracked){ at(reg, off), len, disk_off,
						    head, st };
}

static bool is_tracked(const struct cres *r, const uint8_t *p)
{
	unsigned int i;

	for (i = 0; i < r->ntr; i++)
		if (p >= r->tr[i].p && p < r->tr[i].p + r->tr[i].len)
			return true;
	return false;
}

static bool allowed_byte(const struct cres *r, uint8_t v, uint8_t fill)
{
	/* Race mode lets status bytes land anywhere in the data region. */
	return v == fill || (r->rot_ok && v <= VIRTIO_BLK_S_UNSUPP);
}

/* Count the bytes the device put where it had no business writing. */
static void scan(struct sess *s, struct cres *r, unsigned int flags)
{
	unsigned int i, reg;
	uint64_t k;

	for (i = 0; i < r->ntr; i++) {
		struct tracked *t = &r->tr[i];
		bool good = t->head < s->num && s->done[t->head] && t->st &&
			    *t->st == VIRTIO_BLK_S_OK;

		for (k = 0; k < t->len; k++) {
			uint8_t v = t->p[k];

			if (good ? v != pattern(t->disk_off + k) :
				   !allowed_byte(r, v, SENTINEL))
				r->foreign++;
		}
	}
	for (reg = R_DATA; reg <= R_ODD; reg++) {
		if (reg == R_DATA && (flags & C_NO_SCAN))
			continue;
		for (k = 0; k < rg[reg].size; k++) {
			uint8_t *p = rg[reg].addr + k;

			if (!allowed_byte(r, *p, SENTINEL) && !is_tracked(r, p))
				r->foreign++;
		}
	}
	if (use_big) {
		/* Its ends: the huge requests all start there. */
		for (k = 0; k < (1u << 20); k++)
			r->foreign += rg[R_BIG].addr[k] != 0;
		for (k = BIG_SIZE - (1u << 20); k < BIG_SIZE; k++)
			r->foreign += rg[R_BIG].addr[k] != 0;
	}
}

static void extra(struct cres *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void extra(struct cres *r, const char *fmt, ...)
{
	size_t n = strlen(r->extra);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->extra + n, sizeof(r->extra) - n, fmt, ap);
	va_end(ap);
}

/* Post the chain at @head as the case's request, with slot 1's status. */
static void hostile(struct sess *s, struct cres *r, unsigned int head)
{
	r->head = (int)head;
	r->st = status_of(1);
	post(s, (uint16_t)head);
}

/* A read header on slot 1, aimed inside the pattern. */
static void hread(void)
{
	set_hdr(1, VIRTIO_BLK_T_IN, HOSTILE_SECTOR);
}

static void hwrite(void)
{
	set_hdr(1, VIRTIO_BLK_T_OUT, HOSTILE_SECTOR);
}

#define F_N VRING_DESC_F_NEXT
#define F_W VRING_DESC_F_WRITE
#define F_I VRING_DESC_F_INDIRECT

static struct vring_desc *table(unsigned int n)
{
	return at(R_RING, OFF_IND + n * IND_ENTRIES * 16);
}

static uint64_t table_iova(unsigned int n)
{
	return iova(R_RING, OFF_IND + n * IND_ENTRIES * 16);
}

/*
 * A read chain: header, 4 KiB of the data region at @buf, status; the
 * descriptor flags and links of each given.
 */
static void read_chain(struct cres *r, struct vring_desc *t, unsigned int d,
		       uint64_t buf, uint16_t nx1, uint16_t nx2, uint16_t nx3)
{
	hread();
	set_desc(t, d, hdr_iova(1), 16, F_N, nx1);
	set_desc(t, d + 1, buf, 4096, F_N | F_W, nx2);
	set_desc(t, d + 2, status_iova(1), 1, F_W | (nx3 ? F_N : 0), nx3);
	if (buf >= IOVA_DATA && buf + 4096 <= IOVA_DATA + DATA_SIZE)
		track(r, R_DATA, buf - IOVA_DATA, 4096,
		      HOSTILE_SECTOR * 512ull, DESC_H, status_of(1));
}

/* -- loops -- */

static void c_self(struct sess *s, struct cres *r)
{
	hread();
	set_desc(s->desc, DESC_H, hdr_iova(1), 16, F_N, DESC_H);
	hostile(s, r, DESC_H);
}

static void c_cycle(struct sess *s, struct cres *r)
{
	read_chain(r, s->desc, DESC_H, IOVA_DATA, DESC_H + 1, DESC_H + 2,
		   DESC_H + 1);
	hostile(s, r, DESC_H);
}

static void indirect_head(struct sess *s, unsigned int n, uint16_t flags,
			  uint32_t entries)
{
	set_desc(s->desc, DESC_H, table_iova(n), entries * 16, F_I | flags,
		 DESC_H + 1);
}

static void c_ind_loop(struct sess *s, struct cres *r)
{
	read_chain(r, table(0), 0, IOVA_DATA, 1, 2, 1);
	indirect_head(s, 0, 0, 3);
	hostile(s, r, DESC_H);
}

static void c_ind_self(struct sess *s, struct cres *r)
{
	hread();
	set_desc(table(0), 0, hdr_iova(1), 16, F_N, 0);
	indirect_head(s, 0, 0, 1);
	hostile(s, r, DESC_H);
}

static void c_ind_nested(struct sess *s, struct cres *r)
{
	set_desc(table(0), 0, table_iova(1), 48, F_I, 0);
	read_chain(r, table(1), 0, IOVA_DATA, 1, 2, 0);
	indirect_head(s, 0, 0, 1);
	hostile(s, r, DESC_H);
}

static void c_ind_next(struct sess *s, struct cres *r)
{
	read_chain(r, table(0), 0, IOVA_DATA, 1, 2, 0);
	indirect_head(s, 0, F_N, 3);
	read_chain(r, s->desc, DESC_H + 1, IOVA_DATA + 8192, DESC_H + 2,
		   DESC_H + 3, 0);
	hostile(s, r, DESC_H);
}

/* -- indexes out of range -- */

static void c_next_oob(struct sess *s, struct cres *r)
{
	hread();
	set_desc(s->desc, DESC_H, hdr_iova(1), 16, F_N,
		 (uint16_t)(s->num + 5));
	hostile(s, r, DESC_H);
}

static void c_next_max(struct sess *s, struct cres *r)
{
	hread();
	set_desc(s->desc, DESC_H, hdr_iova(1), 16, F_N, 0xffff);
	hostile(s, r, DESC_H);
}

static void c_ind_next_oob(struct sess *s, struct cres *r)
{
	read_chain(r, table(0), 0, IOVA_DATA, 1, 7, 0);
	indirect_head(s, 0, 0, 3);
	hostile(s, r, DESC_H);
}

static void c_head_oob(struct sess *s, struct cres *r)
{
	hostile(s, r, s->num + 3);
}

static void c_head_max(struct sess *s, struct cres *r)
{
	hostile(s, r, 0xffff);
}

static void c_avail_jump(struct sess *s, struct cres *r)
{
	s->avail_idx += s->num + 1;
	publish_avail(s, s->avail_idx);
	kick(s);
	settle(s, 300);
	r->head = -1;
	r->got = O_NONE;
}

static void c_avail_back(struct sess *s, struct cres *r)
{
	/*
	 * Two back: the probe then puts the index one behind where the
	 * device is, whenever the device looks.
	 */
	s->avail_idx -= 2;
	publish_avail(s, s->avail_idx);
	kick(s);
	settle(s, 300);
	r->head = -1;
	r->got = O_NONE;
}

/* The same head twice in one update: the second is in flight. */
static void c_head_twice(struct sess *s, struct cres *r)
{
	uint16_t h[2] = { DESC_H, DESC_H };
	unsigned int c0 = tot.completions;
	bool done;

	read_chain(r, s->desc, DESC_H, IOVA_DATA, DESC_H + 1, DESC_H + 2,
		   0);
	/* A second completion of the head is not a stray here. */
	s->loose = true;
	post_n(s, h, 2);
	done = wait_head(s, DESC_H, opt_timeout);
	settle(s, 300);
	r->head = -1;
	r->got = done ? classify(s, DESC_H, status_of(1)) : O_NONE;
	extra(r, ",\"completions\":%u", tot.completions - c0);
}

static void p_num_over(struct sess *s, struct ring_cfg *rc)
{
	rc->num = s->max_num * 2;
}

/* Honest reads across the wrap of the 16-bit ring indexes. */
static void p_wrap(struct sess *s, struct ring_cfg *rc)
{
	(void)s;
	rc->base = 65530;
}

static void c_wrap_reads(struct sess *s, struct cres *r)
{
	unsigned int i, good = 0;

	for (i = 0; i < 12; i++)
		good += honest_read(s, 1, i * 4096ull, 4096, SURE);
	r->head = -1;
	r->got = good == 12 ? O_OK : O_IOERR;
	extra(r, ",\"reads_right\":%u", good);
}

/* A start index the driver's avail index is far from. */
static void p_base_far(struct sess *s, struct ring_cfg *rc)
{
	(void)s;
	rc->base = 30000;
	rc->desync = true;
}

static void p_num_one(struct sess *s, struct ring_cfg *rc)
{
	(void)s;
	rc->num = 1;
}

/* An honest read through an indirect table: all a 1-entry ring holds. */
static bool ind_read(struct sess *s)
{
	struct vring_desc *t = table(2);
	uint8_t *buf = at(R_PROBE, PROBE_READ + 65536);
	unsigned int i;

	memset(buf, 0, 4096);
	set_hdr(2, VIRTIO_BLK_T_IN, 0);
	set_desc(t, 0, hdr_iova(2), 16, F_N, 1);
	set_desc(t, 1, iova(R_PROBE, PROBE_READ + 65536), 4096, F_N | F_W, 2);
	set_desc(t, 2, status_iova(2), 1, F_W, 0);
	set_desc(s->desc, 0, table_iova(2), 48, F_I, 0);
	post(s, 0);
	if (!wait_head(s, 0, SURE) || *status_of(2) != VIRTIO_BLK_S_OK)
		return false;
	for (i = 0; i < 4096; i++)
		if (buf[i] != pattern(i))
			return false;
	return true;
}

/* A queue of one entry: a direct chain of two cannot fit. */
static void c_num_one(struct sess *s, struct cres *r)
{
	bool before = ind_read(s), after;

	hread();
	set_desc(s->desc, 0, hdr_iova(1), 16, F_N, 1);
	post(s, 0);
	wait_head(s, 0, opt_timeout);
	r->head = -1;
	r->got = classify(s, 0, status_of(1));
	after = r->got != O_NONE && ind_read(s);
	r->honest_bad = !before || (r->got != O_NONE && !after);
	extra(r, ",\"indirect_before\":%s,\"indirect_after\":%s",
	      before ? "true" : "false", after ? "true" : "false");
}

static void c_nothing(struct sess *s, struct cres *r)
{
	(void)s;
	/* The layout was the attack: see whether the device answers. */
	r->head = -1;
	r->got = O_NONE;
}

/* -- addresses and lengths -- */

static void data_read(struct sess *s, struct cres *r, uint64_t hdr,
		      uint64_t buf, uint32_t len, uint64_t st)
{
	hread();
	set_desc(s->desc, DESC_H, hdr, 16, F_N, DESC_H + 1);
	set_desc(s->desc, DESC_H + 1, buf, len, F_N | F_W, DESC_H + 2);
	set_desc(s->desc, DESC_H + 2, st, 1, F_W, 0);
	hostile(s, r, DESC_H);
}

static void c_unmapped(struct sess *s, struct cres *r)
{
	data_read(s, r, hdr_iova(1), IOVA_NONE, 4096, status_iova(1));
}

static void c_past_end(struct sess *s, struct cres *r)
{
	track(r, R_DATA, DATA_SIZE - 4096, 4096, 0, DESC_H, NULL);
	data_read(s, r, hdr_iova(1), IOVA_DATA + DATA_SIZE - 4096, 65536,
		  status_iova(1));
}

static void c_wrap(struct sess *s, struct cres *r)
{
	data_read(s, r, hdr_iova(1), 0xfffffffffffff000ull, 0x2000,
		  status_iova(1));
}

static void c_len_4g(struct sess *s, struct cres *r)
{
	data_read(s, r, hdr_iova(1), IOVA_DATA, 0xffffffffu, status_iova(1));
}

static void c_hdr_unmapped(struct sess *s, struct cres *r)
{
	data_read(s, r, IOVA_NONE, IOVA_DATA, 4096, status_iova(1));
}

static void c_st_unmapped(struct sess *s, struct cres *r)
{
	data_read(s, r, hdr_iova(1), IOVA_DATA, 4096, IOVA_NONE);
}

static void c_to_ro(struct sess *s, struct cres *r)
{
	data_read(s, r, hdr_iova(1), IOVA_RO, 4096, status_iova(1));
}

/* Disk data over the client's own rings, by a read it posted. */
static void c_into_avail(struct sess *s, struct cres *r)
{
	data_read(s, r, hdr_iova(1), iova(R_RING, OFF_AVAIL), 4096,
		  status_iova(1));
}

static void c_into_desc(struct sess *s, struct cres *r)
{
	data_read(s, r, hdr_iova(1), iova(R_RING, OFF_DESC), 4096,
		  status_iova(1));
}

/* Reads at the edges of a region that starts and ends mid-page. */
static void odd_read(struct sess *s, struct cres *r, uint64_t off)
{
	track(r, R_ODD, off, 4096, HOSTILE_SECTOR * 512ull, DESC_H,
	      status_of(1));
	data_read(s, r, hdr_iova(1), iova(R_ODD, off), 4096, status_iova(1));
}

static void c_odd_inside(struct sess *s, struct cres *r)
{
	odd_read(s, r, ODD_SKIP + 0x100);
}

static void c_odd_past_end(struct sess *s, struct cres *r)
{
	odd_read(s, r, ODD_SKIP + ODD_LEN - 4096 + 1);
}

static void c_odd_before(struct sess *s, struct cres *r)
{
	odd_read(s, r, ODD_SKIP - 1);
}

static void c_st_ro(struct sess *s, struct cres *r)
{
	data_read(s, r, hdr_iova(1), IOVA_DATA, 4096, IOVA_RO + 100);
}

static void ind_at(struct sess *s, struct cres *r, uint64_t addr,
		   uint32_t len)
{
	read_chain(r, table(0), 0, IOVA_DATA, 1, 2, 0);
	set_desc(s->desc, DESC_H, addr, len, F_I, 0);
	hostile(s, r, DESC_H);
}

static void c_ind_unmapped(struct sess *s, struct cres *r)
{
	ind_at(s, r, IOVA_NONE, 48);
}

static void c_ind_wrap(struct sess *s, struct cres *r)
{
	ind_at(s, r, 0xfffffffffffffff0ull, 32);
}

static void c_ind_len(struct sess *s, struct cres *r)
{
	ind_at(s, r, table_iova(0), 20);
}

static void c_ind_huge(struct sess *s, struct cres *r)
{
	ind_at(s, r, table_iova(0), IND_ENTRIES * 16);
}

static void p_desc_none(struct sess *s, struct ring_cfg *rc)
{
	(void)s;
	rc->desc = IOVA_NONE;
}

static void p_avail_none(struct sess *s, struct ring_cfg *rc)
{
	(void)s;
	rc->avail = IOVA_NONE;
}

static void p_used_ro(struct sess *s, struct ring_cfg *rc)
{
	(void)s;
	rc->used = IOVA_RO;
}

static void p_desc_odd(struct sess *s, struct ring_cfg *rc)
{
	(void)s;
	rc->desc = iova(R_RING, OFF_DESC + 8);
}

/* -- directions -- */

static void c_read_after_write(struct sess *s, struct cres *r)
{
	hread();
	set_desc(s->desc, DESC_H, hdr_iova(1), 16, F_N, DESC_H + 1);
	set_desc(s->desc, DESC_H + 1, IOVA_DATA, 4096, F_N | F_W, DESC_H + 2);
	set_desc(s->desc, DESC_H + 2, IOVA_DATA + 8192, 512, F_N, DESC_H + 3);
	set_desc(s->desc, DESC_H + 3, status_iova(1), 1, F_W, 0);
	track(r, R_DATA, 0, 4096, HOSTILE_SECTOR * 512ull, DESC_H,
	      status_of(1));
	hostile(s, r, DESC_H);
}

/* Header, data, status with the given flags; type @type. */
static void chain3(struct sess *s, struct cres *r, uint32_t type,
		   uint32_t hlen, uint16_t f0, uint16_t f1, uint16_t f2)
{
	set_hdr(1, type, HOSTILE_SECTOR);
	set_desc(s->desc, DESC_H, hdr_iova(1), hlen, f0 | F_N, DESC_H + 1);
	set_desc(s->desc, DESC_H + 1, IOVA_DATA, 4096, f1 | F_N, DESC_H + 2);
	set_desc(s->desc, DESC_H + 2, status_iova(1), 1, f2, 0);
	/* Only a read that succeeds may write its buffer. */
	track(r, R_DATA, 0, 4096, HOSTILE_SECTOR * 512ull, DESC_H,
	      type == VIRTIO_BLK_T_IN ? status_of(1) : NULL);
	hostile(s, r, DESC_H);
}

static void c_hdr_writable(struct sess *s, struct cres *r)
{
	chain3(s, r, VIRTIO_BLK_T_IN, 16, F_W, F_W, F_W);
}

static void c_read_into_ro(struct sess *s, struct cres *r)
{
	chain3(s, r, VIRTIO_BLK_T_IN, 16, 0, 0, F_W);
}

static void c_write_from_w(struct sess *s, struct cres *r)
{
	chain3(s, r, VIRTIO_BLK_T_OUT, 16, 0, F_W, F_W);
}

static void c_in_no_w(struct sess *s, struct cres *r)
{
	chain3(s, r, VIRTIO_BLK_T_IN, 16, 0, 0, 0);
}

static void c_hdr_short(struct sess *s, struct cres *r)
{
	chain3(s, r, VIRTIO_BLK_T_IN, 8, 0, F_W, F_W);
}

static void c_no_status(struct sess *s, struct cres *r)
{
	hwrite();
	set_desc(s->desc, DESC_H, hdr_iova(1), 16, F_N, DESC_H + 1);
	set_desc(s->desc, DESC_H + 1, IOVA_DATA, 4096, 0, 0);
	hostile(s, r, DESC_H);
}

static void c_no_hdr(struct sess *s, struct cres *r)
{
	*status_of(1) = UNTOUCHED;
	set_desc(s->desc, DESC_H, IOVA_DATA, 4096, F_N | F_W, DESC_H + 1);
	set_desc(s->desc, DESC_H + 1, status_iova(1), 1, F_W, 0);
	track(r, R_DATA, 0, 4096, HOSTILE_SECTOR * 512ull, DESC_H,
	      status_of(1));
	hostile(s, r, DESC_H);
}

/* -- huge lengths -- */

/* Header, @n descriptors of @seg bytes all at @buf, status. */
static void alias(struct sess *s, struct cres *r, uint32_t type,
		  unsigned int n, uint64_t buf, uint32_t seg, bool indirect)
{
	struct vring_desc *t = indirect ? table(0) : s->desc;
	unsigned int d = indirect ? 0 : DESC_H, i;
	uint16_t w = type == VIRTIO_BLK_T_IN ? F_W : 0;

	set_hdr(1, type, HOSTILE_SECTOR);
	set_desc(t, d, hdr_iova(1), 16, F_N, d + 1);
	for (i = 1; i <= n; i++)
		set_desc(t, d + i, buf, seg, F_N | w, d + i + 1);
	set_desc(t, d + n + 1, status_iova(1), 1, F_W, 0);
	if (indirect)
		set_desc(s->desc, DESC_H, table_iova(0), (n + 2) * 16, F_I, 0);
	hostile(s, r, DESC_H);
}

static void c_alias_4g(struct sess *s, struct cres *r)
{
	alias(s, r, VIRTIO_BLK_T_OUT, 17, IOVA_BIG, BIG_SIZE, false);
}

static void c_alias_2g_w(struct sess *s, struct cres *r)
{
	alias(s, r, VIRTIO_BLK_T_OUT, 8, IOVA_BIG, BIG_SIZE, false);
}

static void c_alias_2g_r(struct sess *s, struct cres *r)
{
	alias(s, r, VIRTIO_BLK_T_IN, 8, IOVA_BIG, BIG_SIZE, false);
}

static void c_one_seg_32m(struct sess *s, struct cres *r)
{
	alias(s, r, VIRTIO_BLK_T_OUT, 1, IOVA_BIG, 32u << 20, false);
}

static void c_segs_over(struct sess *s, struct cres *r)
{
	uint32_t seg = s->size_max ? s->size_max : 65536;
	unsigned int n = s->seg_max ? s->seg_max + 1 : 255;

	/* Within our table and data region, or the case means nothing. */
	if (n + 2 > IND_ENTRIES || seg > DATA_SIZE) {
		r->head = -1;
		r->got = O_SKIP;
		return;
	}
	extra(r, ",\"segments\":%u,\"segment_bytes\":%u", n, seg);
	alias(s, r, VIRTIO_BLK_T_OUT, n, IOVA_DATA, seg, true);
}

/* -- descriptors and avail entries rewritten while the device runs -- */

struct racer {
	struct sess *s;
	unsigned int ndesc;
	bool avail_too;
	atomic_bool stop;
	uint64_t writes;
	pthread_t th;
};

/* The indirect table of a race slot. */
static struct vring_desc *race_table(unsigned int slot)
{
	return at(R_RING, OFF_RACE + slot * 256);
}

static uint64_t race_table_iova(unsigned int slot)
{
	return iova(R_RING, OFF_RACE + slot * 256);
}

static void *racer_main(void *arg)
{
	struct racer *x = arg;
	struct sess *s = x->s;
	uint64_t rs = 0x5eed;

	while (!atomic_load_explicit(&x->stop, memory_order_relaxed)) {
		uint64_t v = mix(rs++), u = mix(rs++);
		unsigned int d = (unsigned int)(v % (2 * x->ndesc));
		struct vring_desc *t;

		/* The ring's descriptors, or those of the slots' tables. */
		if (d < x->ndesc) {
			t = &s->desc[d];
		} else {
			d -= x->ndesc;
			t = &race_table(d / 3)[d % 3];
		}

		switch ((v >> 16) % (x->avail_too ? 6 : 4)) {
		case 0: {
			/* Addresses only into the data region or nowhere:
			 * a read must not land in the client's rings. */
			static const uint64_t far[] = {
				IOVA_NONE, 0xfffffffffffff000ull,
				IOVA_DATA + DATA_SIZE - 512,
			};
			uint64_t a = far[(u >> 8) % 3];

			if (u & 3)
				a = IOVA_DATA + u % (DATA_SIZE - 65536);

			__atomic_store_n(&t->addr, htole64(a),
					 __ATOMIC_RELAXED);
			break;
		}
		case 1: {
			static const uint32_t lens[] = {
				0, 1, 512, 4096, 65536, 0xffffffffu, 16,
			};
			uint32_t l = (u & 1) ? (uint32_t)(u >> 8) % 65536 :
					       lens[(u >> 8) % 7];

			__atomic_store_n(&t->len, htole32(l),
					 __ATOMIC_RELAXED);
			break;
		}
		case 2: {
			uint16_t f = (uint16_t)(u & (F_N | F_W));

			/* Rarely indirect: a table of sentinel bytes. */
			if ((u >> 8) % 16 == 0)
				f |= F_I;
			__atomic_store_n(&t->flags, htole16(f),
					 __ATOMIC_RELAXED);
			break;
		}
		case 3: {
			uint16_t n = (u & 7) ? (uint16_t)((u >> 8) % x->ndesc)
					     : (uint16_t)(u >> 8);

			__atomic_store_n(&t->next, htole16(n),
					 __ATOMIC_RELAXED);
			break;
		}
		case 4: {
			uint16_t h = (u & 3) ? (uint16_t)((u >> 8) % x->ndesc)
					     : (uint16_t)(u >> 8);

			__atomic_store_n(&s->avail->ring[(u >> 32) %
							 s->num],
					 htole16(h), __ATOMIC_RELAXED);
			break;
		}
		default:
			/* The index, now and then, anywhere. */
			if ((u & 63) == 0)
				__atomic_store_n(&s->avail->idx,
						 htole16((uint16_t)(u >> 8)),
						 __ATOMIC_RELEASE);
			break;
		}
		/* Bursts, then room for the device's threads. */
		if ((++x->writes & 255) == 0) {
			struct timespec ts = { 0, 200000 };

			nanosleep(&ts, NULL);
		}
	}
	return NULL;
}

#define RACE_QD 8

static void race(struct sess *s, struct cres *r, bool avail_too)
{
	struct racer x = {
		.s = s, .ndesc = RACE_QD * 3, .avail_too = avail_too,
	};
	unsigned int n[O_N] = { 0 }, slot, posted = 0, lost;
	uint64_t end, rs = 7, sector, buf;
	unsigned int head[RACE_QD];
	bool busy[RACE_QD] = { false };
	uint64_t off;
	int ret;

	/*
	 * What the race reads holds the sentinel, like its data region:
	 * then a header a stretched read lands on asks for nothing.
	 */
	for (off = RACE_OFF; off < RACE_OFF + RACE_READ_BYTES; off += 65536) {
		unsigned int h = request(s, 0, VIRTIO_BLK_T_OUT, off / 512,
					 IOVA_DATA, 65536);

		if (!wait_head(s, h, SURE) ||
		    *status_of(0) != VIRTIO_BLK_S_OK)
			die(3, "race: first writes failed");
	}
	r->rot_ok = 1;
	s->loose = avail_too;
	ret = pthread_create(&x.th, NULL, racer_main, &x);
	if (ret)
		die(3, "pthread_create: %s", strerror(ret));
	end = now_ms() + opt_seconds * 1000ull;
	while (now_ms() < end) {
		for (slot = 0; slot < RACE_QD; slot++) {
			uint64_t v = mix(rs++);
			uint32_t len = (uint32_t)(1 + v % 16) * 4096;
			uint32_t type = (v >> 8) & 1 ? VIRTIO_BLK_T_IN :
						       VIRTIO_BLK_T_OUT;

			if (busy[slot]) {
				if (!s->done[head[slot]])
					continue;
				n[classify(s, head[slot], status_of(slot))]++;
				busy[slot] = false;
			}
			sector = ((type == VIRTIO_BLK_T_IN ? RACE_OFF :
							     RACE_WRITE_OFF) +
				  slot * RACE_SLOT_BYTES) / 512;
			buf = IOVA_DATA + slot * RACE_SLOT_BYTES;
			if ((v >> 9) & 1) {
				/* Through the slot's indirect table. */
				fill_chain(race_table(slot), 0, slot, type,
					   sector, buf, len);
				set_desc(s->desc, slot * 3,
					 race_table_iova(slot), 48, F_I, 0);
				head[slot] = slot * 3;
				post(s, (uint16_t)head[slot]);
			} else {
				head[slot] = request(s, slot, type, sector,
						     buf, len);
			}
			busy[slot] = true;
			posted++;
		}
		wait_call(s, 5);
		reap(s);
	}
	atomic_store(&x.stop, true);
	pthread_join(x.th, NULL);
	wait_all(s, avail_too ? opt_timeout : SURE);
	lost = 0;
	for (slot = 0; slot < RACE_QD; slot++) {
		if (!busy[slot])
			continue;
		if (s->done[head[slot]])
			n[classify(s, head[slot], status_of(slot))]++;
		else
			lost++;
	}
	r->head = -1;
	r->got = O_MIXED;
	/* Without avail rewrites nothing may break the queue or go lost. */
	if (!avail_too && lost)
		r->got = O_NONE;
	/*
	 * A stretched read may put disk data over another slot's status
	 * byte: bad status bytes are the client's own doing here.
	 */
	extra(r, ",\"posted\":%u,\"ok\":%u,\"ioerr\":%u,\"unsupp\":%u,"
		 "\"refused\":%u,\"bare\":%u,\"bad_status\":%u,"
		 "\"unanswered\":%u,\"racer_writes\":%" PRIu64,
	      posted, n[O_OK], n[O_IOERR], n[O_UNSUPP], n[O_REFUSED],
	      n[O_BARE], n[O_BADST], lost, x.writes);
}

static void c_race_desc(struct sess *s, struct cres *r)
{
	race(s, r, false);
}

static void c_race_avail(struct sess *s, struct cres *r)
{
	race(s, r, true);
}

/* -- memory unmapped or truncated while the queue runs -- */

#define STREAM_QD 4

struct stream {
	unsigned int head[STREAM_QD];
	bool busy[STREAM_QD];
	uint64_t off[STREAM_QD];
	unsigned int ok, bad, answered;
	uint64_t wrong; /* bytes of good reads that are not the disk's */
	uint64_t rs;
};

/* Bytes of a good read that differ from what the disk holds. */
static uint64_t wrong_bytes(const uint8_t *p, uint64_t off, uint32_t len)
{
	uint64_t n = 0;
	uint32_t i;

	for (i = 0; i < len; i++)
		n += p[i] != pattern(off + i);
	return n;
}

static uint64_t slot_off(unsigned int slot)
{
	return PROBE_READ + slot * 65536;
}

static uint64_t slot_buf(unsigned int slot)
{
	return iova(R_PROBE, slot_off(slot));
}

/*
 * Keep STREAM_QD honest reads going for @ms; with @more false, only wait
 * (at most @ms) for those in flight.
 */
static void stream_run(struct sess *s, struct stream *st, unsigned int ms,
		       bool more)
{
	uint64_t end = now_ms() + ms;
	unsigned int slot, busy;

	do {
		reap(s);
		busy = 0;
		for (slot = 0; slot < STREAM_QD; slot++) {
			uint64_t off;

			if (st->busy[slot]) {
				if (!s->done[st->head[slot]]) {
					busy++;
					continue;
				}
				st->answered++;
				if (*status_of(slot) == VIRTIO_BLK_S_OK) {
					st->ok++;
					st->wrong += wrong_bytes(
						at(R_PROBE, slot_off(slot)),
						st->off[slot], 65536);
				} else {
					st->bad++;
				}
				st->busy[slot] = false;
			}
			if (!more)
				continue;
			off = mix(st->rs++) % (PATTERN_BYTES / 65536) * 65536;
			st->off[slot] = off;
			st->head[slot] = request(s, slot, VIRTIO_BLK_T_IN,
						 off / 512, slot_buf(slot),
						 65536);
			st->busy[slot] = true;
			busy++;
		}
		if (!busy)
			break;
		wait_call(s, 5);
	} while (now_ms() < end);
}

static void c_rings_inval(struct sess *s, struct cres *r)
{
	struct stream st = { .rs = 3 };
	unsigned int before;

	stream_run(s, &st, 300, true);
	/* What the device answered before it heard of the unmapping. */
	stream_run(s, &st, 0, false);
	before = st.answered;
	if (unmap_region(s, R_RING) < 0)
		die(3, "invalidate refused");
	/* Our memory is still ours: go on posting into it. */
	stream_run(s, &st, opt_timeout, true);
	stream_run(s, &st, opt_timeout, false);
	r->head = -1;
	r->got = st.answered - before ? O_MIXED : O_NONE;
	r->foreign += st.wrong;
	extra(r, ",\"answered_before\":%u,\"answered_after\":%u", before,
	      st.answered - before);
}

static void c_rings_remap(struct sess *s, struct cres *r)
{
	struct stream st = { .rs = 4 };
	unsigned int before;

	stream_run(s, &st, 300, true);
	stream_run(s, &st, 0, false);
	before = st.answered;
	if (unmap_region(s, R_RING) < 0 || map_region(s, R_RING) < 0)
		die(3, "remap refused");
	stream_run(s, &st, opt_timeout, true);
	/* Nothing of ours in flight when the probe takes slot 0. */
	stream_run(s, &st, opt_timeout, false);
	r->head = -1;
	r->got = st.answered - before ? O_MIXED : O_NONE;
	r->foreign += st.wrong;
	extra(r, ",\"answered_before\":%u,\"answered_after\":%u", before,
	      st.answered - before);
}

/*
 * Reads into the data region, which goes away under them: one posted
 * before the invalidation (either answer), one after (refused).  Each
 * has its own slot: header and status byte.
 */
static void c_data_inval(struct sess *s, struct cres *r)
{
	unsigned int i, slot, d;

	for (i = 0; i < 2; i++) {
		slot = 2 + i;
		d = DESC_H + 4 * i;
		set_hdr(slot, VIRTIO_BLK_T_IN, HOSTILE_SECTOR);
		set_desc(s->desc, d, hdr_iova(slot), 16, F_N, d + 1);
		set_desc(s->desc, d + 1, IOVA_DATA + i * 8192, 4096, F_N | F_W,
			 d + 2);
		set_desc(s->desc, d + 2, status_iova(slot), 1, F_W, 0);
		track(r, R_DATA, i * 8192, 4096, HOSTILE_SECTOR * 512ull, d,
		      status_of(slot));
		if (i == 1 && unmap_region(s, R_DATA) < 0)
			die(3, "invalidate refused");
		post(s, (uint16_t)d);
	}
	wait_head(s, DESC_H, opt_timeout);
	r->head = DESC_H + 4;
	r->st = status_of(3);
	extra(r, ",\"first\":\"%s\"",
	      oname[classify(s, DESC_H, status_of(2))]);
}

static void c_data_trunc(struct sess *s, struct cres *r)
{
	bool wok, rok;
	unsigned int h, i;
	uint8_t *buf = at(R_PROBE, PROBE_READ);

	/* Outside the pattern: a good write here writes zeros. */
	if (ftruncate(rg[R_DATA].fd, 0) < 0)
		die(3, "ftruncate: %s", strerror(errno));
	h = request(s, 1, VIRTIO_BLK_T_OUT, TRUNC_OFF / 512, IOVA_DATA,
		    65536);
	r->head = (int)h;
	r->st = status_of(1);
	wok = wait_head(s, h, opt_timeout) && *status_of(1) == VIRTIO_BLK_S_OK;
	memset(buf, 0xa5, 65536);
	h = request(s, 2, VIRTIO_BLK_T_IN, TRUNC_OFF / 512,
		    iova(R_PROBE, PROBE_READ), 65536);
	rok = wait_head(s, h, opt_timeout) && *status_of(2) == VIRTIO_BLK_S_OK;
	for (i = 0; rok && wok && i < 65536; i++)
		if (buf[i])
			r->foreign++;
	extra(r, ",\"read_back\":\"%s\"",
	      !rok ? "failed" :
	      !wok ? "ok" :
	      r->foreign ? "not zeros" : "zeros");
}

static void c_ring_trunc(struct sess *s, struct cres *r)
{
	struct stream st = { .rs = 5 };
	unsigned int calls = 0;
	uint64_t end, v;

	stream_run(s, &st, 300, true);
	if (ftruncate(rg[R_RING].fd, 0) < 0)
		die(3, "ftruncate: %s", strerror(errno));
	/* The rings are not ours to touch now: count interrupts only. */
	end = now_ms() + opt_timeout;
	while (now_ms() < end) {
		struct pollfd p = { .fd = s->callfd, .events = POLLIN };

		if (poll(&p, 1, 50) > 0 &&
		    read(s->callfd, &v, sizeof(v)) == sizeof(v))
			calls++;
	}
	tot.waited_ms += opt_timeout;
	if (ftruncate(rg[R_RING].fd, RING_SIZE) < 0)
		die(3, "ftruncate: %s", strerror(errno));
	r->head = -1;
	r->got = O_MIXED;
	r->foreign += st.wrong;
	extra(r, ",\"answered_before\":%u,\"interrupts_after\":%u", st.answered,
	      calls);
}

/* ---- modes ---- */

#define REFUSE A(O_REFUSED)
#define ERR (A(O_IOERR) | A(O_UNSUPP))
#define STOP (A(O_NONE) | A(O_KERNEL) | A(O_SKIP))

static const struct hcase loop_cases[] = {
	{ "self", "refused", REFUSE | ERR, 0, NULL, c_self },
	{ "cycle", "refused", REFUSE | ERR, 0, NULL, c_cycle },
	{ "indirect-loop", "refused", REFUSE | ERR, 0, NULL, c_ind_loop },
	{ "indirect-self", "refused", REFUSE | ERR, 0, NULL, c_ind_self },
	{ "indirect-nested", "refused", REFUSE | ERR, 0, NULL, c_ind_nested },
	{ "indirect-and-next", "refused", REFUSE | ERR, 0, NULL, c_ind_next },
	{ NULL },
};

static const struct hcase range_cases[] = {
	{ "next-oob", "refused", REFUSE | ERR, 0, NULL, c_next_oob },
	{ "next-max", "refused", REFUSE | ERR, 0, NULL, c_next_max },
	{ "indirect-next-oob", "refused", REFUSE | ERR, 0, NULL,
	  c_ind_next_oob },
	{ "head-oob", "none", STOP, C_MAY_BREAK, NULL, c_head_oob },
	{ "head-max", "none", STOP, C_MAY_BREAK, NULL, c_head_max },
	{ "avail-jump", "none", STOP, C_MAY_BREAK, NULL, c_avail_jump },
	{ "avail-back", "none", STOP, C_MAY_BREAK, NULL, c_avail_back },
	{ "head-twice", "none", A_ANY, C_MAY_BREAK, NULL, c_head_twice },
	{ "size-over-max", "none", STOP, C_MAY_BREAK | C_PREP_ONLY,
	  p_num_over, c_nothing },
	{ "base-far-from-avail", "none", STOP, C_MAY_BREAK | C_PREP_ONLY,
	  p_base_far, c_nothing },
	{ "index-wrap", "ok", A(O_OK), 0, p_wrap, c_wrap_reads },
	{ "queue-size-1", "refused", REFUSE | ERR,
	  C_PREP_ONLY | C_NO_PROBE, p_num_one, c_num_one },
	{ NULL },
};

static const struct hcase addr_cases[] = {
	{ "unmapped", "refused", REFUSE | ERR, 0, NULL, c_unmapped },
	{ "past-end", "refused", REFUSE | ERR, 0, NULL, c_past_end },
	{ "wrap", "refused", REFUSE | ERR, 0, NULL, c_wrap },
	{ "len-4g", "refused", REFUSE | ERR, 0, NULL, c_len_4g },
	{ "header-unmapped", "refused", REFUSE | ERR, 0, NULL,
	  c_hdr_unmapped },
	{ "status-unmapped", "refused", REFUSE | ERR, 0, NULL,
	  c_st_unmapped },
	{ "read-into-readonly", "refused", REFUSE | ERR, 0, NULL, c_to_ro },
	{ "status-readonly", "refused", REFUSE | ERR, 0, NULL, c_st_ro },
	{ "indirect-unmapped", "refused", REFUSE | ERR, 0, NULL,
	  c_ind_unmapped },
	{ "indirect-wrap", "refused", REFUSE | ERR, 0, NULL, c_ind_wrap },
	{ "indirect-bad-len", "refused", REFUSE | ERR, 0, NULL, c_ind_len },
	{ "indirect-too-long", "refused", REFUSE | ERR, 0, NULL, c_ind_huge },
	/* A region cut mid-page: the device uses its bytes and no more. */
	{ "odd-region-inside", "ok", A(O_OK), 0, NULL, c_odd_inside },
	{ "odd-region-past-end", "refused", REFUSE | ERR, 0, NULL,
	  c_odd_past_end },
	{ "odd-region-before-start", "refused", REFUSE | ERR, 0, NULL,
	  c_odd_before },
	/* The driver's own fault: the device must go on or stop. */
	{ "read-into-avail-ring", "ok", A_ANY, C_MAY_BREAK, NULL,
	  c_into_avail },
	/* A chain in flight is not read again: the queue goes on. */
	{ "read-into-desc-table", "ok", REFUSE | ERR | A(O_OK), 0, NULL,
	  c_into_desc },
	{ "desc-unmapped", "none", STOP, C_MAY_BREAK | C_PREP_ONLY,
	  p_desc_none, c_nothing },
	{ "avail-unmapped", "none", STOP, C_MAY_BREAK | C_PREP_ONLY,
	  p_avail_none, c_nothing },
	{ "used-readonly", "none", STOP, C_MAY_BREAK | C_PREP_ONLY, p_used_ro,
	  c_nothing },
	{ "desc-misaligned", "none", STOP, C_MAY_BREAK | C_PREP_ONLY,
	  p_desc_odd, c_nothing },
	{ NULL },
};

static const struct hcase dir_cases[] = {
	{ "readable-after-writable", "refused", REFUSE | ERR, 0, NULL,
	  c_read_after_write },
	{ "header-writable", "ioerr", REFUSE | ERR, 0, NULL, c_hdr_writable },
	{ "read-into-readable", "ioerr", REFUSE | ERR, 0, NULL,
	  c_read_into_ro },
	/* A write whose data the device may not read: 0 bytes written. */
	{ "write-from-writable", "ok", REFUSE | ERR | A(O_OK), 0, NULL,
	  c_write_from_w },
	{ "read-nothing-writable", "refused", REFUSE | ERR, 0, NULL,
	  c_in_no_w },
	{ "write-no-status", "refused", REFUSE | ERR, 0, NULL, c_no_status },
	{ "header-short", "ioerr", REFUSE | ERR, 0, NULL, c_hdr_short },
	{ "no-header", "ioerr", REFUSE | ERR, 0, NULL, c_no_hdr },
	{ NULL },
};

static const struct hcase huge_cases[] = {
	{ "alias-over-4g", "refused", REFUSE | ERR, 0, NULL, c_alias_4g },
	{ "alias-2g-write", "ioerr", REFUSE | ERR, 0, NULL, c_alias_2g_w },
	{ "alias-2g-read", "ioerr", REFUSE | ERR, 0, NULL, c_alias_2g_r },
	{ "one-segment-32m", "ioerr", REFUSE | ERR, 0, NULL, c_one_seg_32m },
	{ "segments-over-max", "ioerr", REFUSE | ERR | A(O_SKIP), 0, NULL,
	  c_segs_over },
	{ NULL },
};

static const struct hcase race_cases[] = {
	/* Chains change under the device: any answer, but every one. */
	{ "descriptors", "mixed", A(O_MIXED), 0, NULL, c_race_desc },
	{ "descriptors-and-avail", "mixed", A_ANY, C_MAY_BREAK, NULL,
	  c_race_avail },
	{ NULL },
};

static const struct hcase unmap_cases[] = {
	{ "rings-invalidated", "none", A_ANY, C_MAY_BREAK | C_NO_SCAN, NULL,
	  c_rings_inval },
	{ "rings-invalidated-remapped", "none", A_ANY,
	  C_MAY_BREAK | C_NO_SCAN, NULL, c_rings_remap },
	{ "data-invalidated", "refused", REFUSE | ERR | A(O_OK), C_NO_SCAN,
	  NULL, c_data_inval },
	{ NULL },
};

static const struct hcase shrink_cases[] = {
	{ "data-truncated", "ok", ERR | A(O_OK), C_NO_SCAN, NULL,
	  c_data_trunc },
	{ "ring-truncated", "none", A_ANY, C_NO_PROBE | C_NO_SCAN, NULL,
	  c_ring_trunc },
	{ NULL },
};

static const struct {
	const char *name;
	const struct hcase *cases;
	bool big;
} modes[] = {
	{ "loop", loop_cases, false },
	{ "range", range_cases, false },
	{ "addr", addr_cases, false },
	{ "direction", dir_cases, false },
	{ "huge", huge_cases, true },
	{ "race", race_cases, false },
	{ "unmap", unmap_cases, false },
	{ "shrink", shrink_cases, false },
};

#define NMODES (sizeof(modes) / sizeof(modes[0]))

/* ---- running a case ---- */

static char out[65536];
static size_t out_len;

static void emit(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void emit(const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out + out_len, sizeof(out) - out_len, fmt, ap);
	va_end(ap);
	if (n > 0)
		out_len += (size_t)n < sizeof(out) - out_len ?
				   (size_t)n : sizeof(out) - out_len - 1;
}

static bool run_case(const struct hcase *c, bool first)
{
	struct ring_cfg rc = { 0 };
	struct cres r;
	struct sess s;
	uint64_t w0 = tot.waited_ms;
	bool pass;

	memset(&r, 0, sizeof(r));
	r.head = -1;
	r.probe = O_SKIP;
	if (c->prep) {
		/* The device's queue size is known only once open. */
		memset(&s, 0, sizeof(s));
		s.kickfd = s.callfd = -1;
		s.fd = open(opt_path, O_RDWR | O_CLOEXEC);
		if (s.fd < 0)
			die(3, "%s: %s", opt_path, strerror(errno));
		sess_negotiate(&s);
		c->prep(&s, &rc);
		sess_close(&s);
		if (rc.num > MAX_NUM) {
			r.got = O_SKIP;
			goto report;
		}
	}
	if (sess_open(&s, &rc) < 0) {
		r.got = O_KERNEL;
		goto done;
	}
	if (!(c->flags & C_PREP_ONLY) &&
	    !honest_read(&s, 0, 0, 4096, SURE))
		die(3, "%s: the device does not answer an honest read "
		    "(avail %u, used %u, taken %u, status %#x)", c->name,
		    s.avail_idx, le16toh(s.used->idx), s.used_idx,
		    *status_of(0));
	c->run(&s, &r);
	if (r.head >= 0)
		wait_head(&s, (unsigned int)r.head, opt_timeout);
	if (!(c->flags & C_NO_PROBE)) {
		/* The probe shows whether the queue still works. */
		if (honest_read(&s, 0, 0, 4096, opt_timeout))
			r.probe = O_OK;
		else if (!s.done[0])
			r.probe = O_NONE;
		else if (*status_of(0) == VIRTIO_BLK_S_OK)
			r.probe = O_BADDATA;
		else
			r.probe = classify(&s, 0, status_of(0));
	}
	if (r.head >= 0) {
		r.got = classify(&s, (unsigned int)r.head, r.st);
		if (r.got != O_NONE)
			r.len = s.done_len[r.head];
		r.lost = r.got == O_NONE && r.probe == O_OK;
	}
	scan(&s, &r, c->flags);
	if (r.probe != O_OK && r.probe != O_SKIP)
		tot.broken++;
done:
	r.status = get_status(&s);
	tot.last_status = r.status;
	sess_close(&s);
report:
	r.waited_ms = tot.waited_ms - w0;
	pass = (c->allow & A(r.got)) && !r.foreign && !r.lost &&
	       !r.honest_bad && !s.strays;
	/*
	 * A request answered leaves a working queue; one that was not
	 * answered has stopped it.
	 */
	if (r.got != O_NONE && r.got != O_KERNEL && r.got != O_SKIP &&
	    r.probe == O_NONE && !(c->flags & C_MAY_BREAK))
		pass = false;
	/* Rings that make no sense stop the queue (README, hostile drivers). */
	if (c->allow == STOP && r.probe == O_OK)
		pass = false;
	/* An honest request is answered right, or not at all. */
	if (r.probe != O_OK && r.probe != O_NONE && r.probe != O_SKIP)
		pass = false;
	emit("%s{\"case\":\"%s\",\"want\":\"%s\",\"got\":\"%s\"",
	     first ? "" : ",", c->name, c->want, oname[r.got]);
	if (r.head >= 0 && r.got != O_NONE)
		emit(",\"len\":%u", r.len);
	if (s.strays)
		emit(",\"strays\":%u", s.strays);
	emit(",\"probe\":\"%s\",\"device_status\":\"0x%02x\","
	     "\"needs_reset\":%s,\"waited_ms\":%" PRIu64
	     ",\"foreign_bytes\":%" PRIu64 "%s%s,\"pass\":%s}",
	     oname[r.probe], r.status,
	     r.status != 0xff && (r.status & VIRTIO_CONFIG_S_NEEDS_RESET) ?
		     "true" : "false",
	     r.waited_ms, r.foreign, r.lost ? ",\"lost\":true" :
	     r.honest_bad ? ",\"honest_failed\":true" : "",
	     r.extra, pass ? "true" : "false");
	if (!pass)
		fprintf(stderr, "hostile-client: %s/%s: got %s, probe %s, "
			"%" PRIu64 " foreign bytes%s\n",
			opt_mode, c->name, oname[r.got], oname[r.probe],
			r.foreign, r.lost ? ", request lost" : "");
	return pass;
}

/* The pattern over the first 2 MiB: written first, checked last. */
static bool disk_pattern(bool write)
{
	struct ring_cfg rc = { 0 };
	struct sess s;
	uint64_t off;
	bool ok = true;

	if (sess_open(&s, &rc) < 0)
		die(3, "the queue could not be set up");
	for (off = 0; ok && off < PATTERN_BYTES; off += 65536)
		ok = write ? honest_write(&s, off, 65536) :
			     honest_read(&s, 0, off, 65536, SURE);
	sess_close(&s);
	return ok;
}

static void *watchdog(void *arg)
{
	struct timespec ts = { .tv_sec = opt_deadline };

	(void)arg;
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
	/* A kernel call that never returns: say so, and go. */
	printf("{\"mode\":\"%s\",\"error\":\"deadline of %u s passed\","
	       "\"pass\":false}\n", opt_mode, opt_deadline);
	fflush(stdout);
	_exit(4);
	return NULL;
}

static void usage(FILE *f)
{
	unsigned int i;

	fputs("Usage: hostile-client --mode MODE [--case NAME] [--path DEV]\n"
	      "                      [--timeout MS] [--seconds S]"
	      " [--deadline S]\n"
	      "A raw vhost-vdpa virtio-blk client sending malformed rings.\n"
	      "Modes:", f);
	for (i = 0; i < NMODES; i++)
		fprintf(f, " %s", modes[i].name);
	fputs("\nDefault DEV /dev/vhost-vdpa-0, 2000 ms per wait, 2 s race\n"
	      "phases, 240 s in all.  Prints one JSON line.\n"
	      "Exit: 0 all allowed, 1 not, 2 usage, 3 setup, 4 deadline.\n",
	      f);
}

static unsigned int parse_uint(const char *s, const char *what)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v == 0 || v > 100000) {
		fprintf(stderr, "hostile-client: bad %s '%s'\n", what, s);
		exit(2);
	}
	return (unsigned int)v;
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "path", required_argument, NULL, 'p' },
		{ "mode", required_argument, NULL, 'm' },
		{ "case", required_argument, NULL, 'c' },
		{ "timeout", required_argument, NULL, 't' },
		{ "seconds", required_argument, NULL, 's' },
		{ "deadline", required_argument, NULL, 'D' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const struct hcase *c;
	unsigned int mi, i, failed = 0;
	pthread_t wd;
	bool intact;
	int o, ret;

	while ((o = getopt_long(argc, argv, "p:m:c:t:s:D:h", lopts,
				NULL)) >= 0) {
		switch (o) {
		case 'p':
			opt_path = optarg;
			break;
		case 'm':
			opt_mode = optarg;
			break;
		case 'c':
			opt_case = optarg;
			break;
		case 't':
			opt_timeout = parse_uint(optarg, "timeout");
			break;
		case 's':
			opt_seconds = parse_uint(optarg, "seconds");
			break;
		case 'D':
			opt_deadline = parse_uint(optarg, "deadline");
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	for (mi = 0; opt_mode && mi < NMODES; mi++)
		if (!strcmp(modes[mi].name, opt_mode))
			break;
	if (!opt_mode || mi == NMODES || optind != argc) {
		usage(stderr);
		return 2;
	}
	ret = pthread_create(&wd, NULL, watchdog, NULL);
	if (ret)
		die(3, "pthread_create: %s", strerror(ret));
	use_big = modes[mi].big;
	for (i = 0; i < NREG; i++)
		if (i != R_BIG || use_big)
			region_create(&rg[i]);
	if (!disk_pattern(true))
		die(3, "the pattern could not be written");
	emit("{\"mode\":\"%s\",\"cases\":[", opt_mode);
	for (c = modes[mi].cases, i = 0; c->name; c++) {
		if (opt_case && strcmp(opt_case, c->name))
			continue;
		failed += !run_case(c, i++ == 0);
	}
	if (opt_case && !i)
		die(2, "no case '%s' in mode %s", opt_case, opt_mode);
	intact = disk_pattern(false);
	failed += !intact;
	emit("],\"completions\":%u,\"status_bytes\":{\"ok\":%u,\"ioerr\":%u,"
	     "\"unsupp\":%u,\"other\":%u,\"untouched\":%u},"
	     "\"queue_broken\":%u,\"device_status\":\"0x%02x\","
	     "\"waited_ms\":%" PRIu64 ",\"disk_intact\":%s,\"pass\":%s}",
	     tot.completions, tot.st_ok, tot.st_ioerr, tot.st_unsupp,
	     tot.st_other, tot.untouched, tot.broken, tot.last_status,
	     tot.waited_ms, intact ? "true" : "false",
	     failed ? "false" : "true");
	puts(out);
	fflush(stdout);
	return failed ? 1 : 0;
}
