// SPDX-License-Identifier: MIT
/*
 * suspend-client: suspends a vdk blk device on the vhost bus under I/O
 * and checks that the ring state it then reads is exact and that no
 * request is lost or done twice across the suspend and the resume.
 *
 * It speaks vhost-vdpa itself, as a VMM does: one memfd mapped through
 * IOTLB v2 messages, split ring 0, 4 KiB writes kept QD deep, each
 * request writing its own sequence number into its own sectors.  Each
 * cycle, with requests in flight and more posted that the device has
 * not taken, it calls VHOST_VDPA_SUSPEND, then VHOST_GET_VRING_BASE
 * (the device's last avail index, VDUSE_GET_VQ_STATE through the
 * kernel) and checks:
 *   - the used index in the ring equals that base: every request the
 *     device took is completed, none is half-done;
 *   - each used entry names a request in flight, once (none repeated),
 *     with status OK;
 *   - nothing more is taken or completed while suspended, kicks or not.
 * Then it resumes: VHOST_VDPA_RESUME where the kernel offers it
 * (VHOST_BACKEND_F_RESUME); else as a VMM restoring a ring: reset,
 * negotiate again, VHOST_SET_VRING_BASE at that base, DRIVER_OK.  The
 * requests posted before the suspend and not taken are then taken, and
 * the I/O goes on.  At the end every sequence number must have completed
 * exactly once and its sectors must read back with it.
 *
 * With --ready-cycles N it disables ring 0 instead, as a VMM stopping a
 * queue does: VHOST_VDPA_SET_VRING_ENABLE with num 0 on the running
 * device.  On Linux 7.3 vhost-vdpa passes that on whatever the status
 * (it refuses no enable or disable after DRIVER_OK) and returns 0 even
 * when the device fails it (VDUSE then marks the device broken, and the
 * next VHOST_GET_VRING_BASE fails).  VDUSE asks the device by a request
 * (VDUSE_SET_VQ_READY, with VDUSE_F_QUEUE_READY) and sets the queue not
 * ready only once the device answered: when the ioctl returns the device
 * has stopped the ring, and from then on VDUSE drops the ring's kicks.
 * Each cycle, with more requests posted right before (kicked; not
 * kicked while the queue polls; not kicked while it sleeps), it disables
 * the ring and checks as above that every request taken is completed
 * (the used index equals VHOST_GET_VRING_BASE's); it posts more and
 * kicks, and checks that nothing is taken or completed while the ring is
 * disabled.  Then it enables the ring (num 1) and does not kick: the
 * kicks for what waits were dropped, so the device must look at the ring
 * by itself, and every request waiting must complete within 20 s.  No
 * new base can be set (vhost-vdpa refuses VHOST_SET_VRING_BASE on a
 * running device that is not suspended): the device goes on from where
 * it stopped.  At the end, as above, every write once, read back.
 *
 *   suspend-client --path /dev/vhost-vdpa-N [--cycles N] [--requests N]
 *                  [--depth N] [--ready-cycles N]
 *
 * Output: one JSON line.  Exit status: 0 passed, 1 failed, 2 usage,
 * 3 setup error, 77 the device cannot suspend (a kernel before 7.3, or
 * a device without VDUSE_F_SUSPEND; not asked with --ready-cycles, which
 * cannot tell from here whether the device hears of ready changes: the
 * caller checks the device has VDUSE_F_QUEUE_READY).
 */
#define _GNU_SOURCE
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
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

/* Older headers (bookworm's 6.1) lack resume. */
#ifndef VHOST_BACKEND_F_SUSPEND
#define VHOST_BACKEND_F_SUSPEND 0x4
#endif
#ifndef VHOST_BACKEND_F_RESUME
#define VHOST_BACKEND_F_RESUME 0x5
#endif
#ifndef VHOST_VDPA_SUSPEND
#define VHOST_VDPA_SUSPEND _IO(VHOST_VIRTIO, 0x7D)
#endif
#ifndef VHOST_VDPA_RESUME
#define VHOST_VDPA_RESUME _IO(VHOST_VIRTIO, 0x7E)
#endif

#define IOVA 0x100000000ull
#define MEM_SIZE (8u << 20)
#define OFF_DESC 0x0
#define OFF_AVAIL 0x2000
#define OFF_USED 0x4000
#define OFF_HDR 0x10000    /* 16 bytes per slot */
#define OFF_STATUS 0x20000 /* 1 byte per slot */
#define OFF_DATA 0x100000  /* 4 KiB per slot */
#define BLOCK 4096u
#define NUM 256u           /* queue size asked for (at most) */
#define MAX_REQS 65536u
#define UNTOUCHED 0xee

static const char *opt_path;
static unsigned int opt_cycles = 3, opt_requests = 3000, opt_depth = 32;
static unsigned int opt_ready; /* --ready-cycles: ring disables instead */

struct cl {
	int fd, kickfd, callfd;
	uint8_t *mem;
	unsigned int num;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint16_t avail_idx, used_idx;
	uint64_t bf;             /* backend features taken */
	bool mapped;             /* our memory is in the IOTLB */
	int seq_of[NUM];         /* head -> sequence number in flight, or -1 */
	unsigned int done[MAX_REQS];
	unsigned int next_seq, inflight, completed;
	unsigned int errors, strays;
	uint64_t capacity;
};

static void die(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), noreturn));
static void die(int code, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "suspend-client: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(code);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int xioctl(struct cl *c, unsigned long req, void *arg)
{
	return ioctl(c->fd, req, arg) < 0 ? -errno : 0;
}

static int iotlb_update(struct cl *c)
{
	struct vhost_msg_v2 m;
	ssize_t n;

	memset(&m, 0, sizeof(m));
	m.type = VHOST_IOTLB_MSG_V2;
	m.iotlb.iova = IOVA;
	m.iotlb.size = MEM_SIZE;
	m.iotlb.uaddr = (uint64_t)(uintptr_t)c->mem;
	m.iotlb.perm = VHOST_ACCESS_RW;
	m.iotlb.type = VHOST_IOTLB_UPDATE;
	n = write(c->fd, &m, sizeof(m));
	return n == (ssize_t)sizeof(m) ? 0 : -1;
}

static int set_status(struct cl *c, uint8_t st)
{
	return xioctl(c, VHOST_VDPA_SET_STATUS, &st);
}

static uint8_t get_status(struct cl *c)
{
	uint8_t st = 0xff;

	xioctl(c, VHOST_VDPA_GET_STATUS, &st);
	return st;
}

static const uint64_t want_features =
	(1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_F_ACCESS_PLATFORM);

/* Status, features, ring 0 at @base, DRIVER_OK: a device from reset. */
static void bring_up(struct cl *c, uint16_t base)
{
	struct vhost_vring_state st = { .index = 0 };
	struct vhost_vring_addr a = { .index = 0 };
	struct vhost_vring_file kf = { .index = 0, .fd = c->kickfd };
	struct vhost_vring_file cf = { .index = 0, .fd = c->callfd };
	uint8_t s = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER;
	uint64_t f;
	uint16_t num = 0;

	if (set_status(c, 0) < 0 ||
	    set_status(c, VIRTIO_CONFIG_S_ACKNOWLEDGE) < 0 ||
	    set_status(c, s) < 0)
		die(3, "status refused");
	if (xioctl(c, VHOST_GET_FEATURES, &f) < 0)
		die(3, "no features");
	f &= want_features;
	if (xioctl(c, VHOST_SET_FEATURES, &f) < 0)
		die(3, "features refused");
	s |= VIRTIO_CONFIG_S_FEATURES_OK;
	if (set_status(c, s) < 0 ||
	    !(get_status(c) & VIRTIO_CONFIG_S_FEATURES_OK))
		die(3, "features not accepted");
	/*
	 * Once: a reset keeps the mappings (vhost-vdpa refuses a second
	 * one of the same range, with EFAULT).
	 */
	if (!c->mapped && iotlb_update(c) < 0)
		die(3, "memory not mapped: %s", strerror(errno));
	c->mapped = true;
	if (xioctl(c, VHOST_VDPA_GET_VRING_NUM, &num) < 0 || !num)
		die(3, "no queue size");
	c->num = num < NUM ? num : NUM;
	st.num = c->num;
	if (xioctl(c, VHOST_SET_VRING_NUM, &st) < 0)
		die(3, "queue size refused");
	a.desc_user_addr = IOVA + OFF_DESC;
	a.avail_user_addr = IOVA + OFF_AVAIL;
	a.used_user_addr = IOVA + OFF_USED;
	if (xioctl(c, VHOST_SET_VRING_ADDR, &a) < 0)
		die(3, "ring addresses refused");
	st.num = base;
	if (xioctl(c, VHOST_SET_VRING_BASE, &st) < 0)
		die(3, "ring base refused");
	if (xioctl(c, VHOST_SET_VRING_KICK, &kf) < 0 ||
	    xioctl(c, VHOST_SET_VRING_CALL, &cf) < 0)
		die(3, "eventfds refused");
	st.num = 1;
	if (xioctl(c, VHOST_VDPA_SET_VRING_ENABLE, &st) < 0)
		die(3, "queue not enabled");
	if (set_status(c, s | VIRTIO_CONFIG_S_DRIVER_OK) < 0 ||
	    !(get_status(c) & VIRTIO_CONFIG_S_DRIVER_OK))
		die(3, "DRIVER_OK refused");
}

static void open_dev(struct cl *c)
{
	struct {
		struct vhost_vdpa_config h;
		uint64_t capacity;
	} cfg;
	uint64_t bf = 0;
	uint32_t id = 0;
	void *p;
	int mfd;

	c->fd = open(opt_path, O_RDWR | O_CLOEXEC);
	if (c->fd < 0)
		die(3, "%s: %s", opt_path, strerror(errno));
	if (xioctl(c, VHOST_SET_OWNER, NULL) < 0)
		die(3, "%s: not ours", opt_path);
	if (xioctl(c, VHOST_GET_BACKEND_FEATURES, &bf) < 0)
		die(3, "no backend features");
	if (!opt_ready && !(bf & (1ull << VHOST_BACKEND_F_SUSPEND))) {
		printf("{\"skip\":\"no VHOST_BACKEND_F_SUSPEND (backend "
		       "features %#" PRIx64 ")\"}\n", bf);
		exit(77);
	}
	bf &= (1ull << VHOST_BACKEND_F_IOTLB_MSG_V2) |
	      (1ull << VHOST_BACKEND_F_SUSPEND) |
	      (1ull << VHOST_BACKEND_F_RESUME);
	if (!(bf & (1ull << VHOST_BACKEND_F_IOTLB_MSG_V2)))
		die(3, "no IOTLB v2 messages");
	if (xioctl(c, VHOST_SET_BACKEND_FEATURES, &bf) < 0)
		die(3, "backend features refused");
	c->bf = bf;
	if (xioctl(c, VHOST_VDPA_GET_DEVICE_ID, &id) < 0 ||
	    id != VIRTIO_ID_BLOCK)
		die(3, "%s: not a block device (id %u)", opt_path, id);
	memset(&cfg, 0, sizeof(cfg));
	cfg.h.len = sizeof(cfg.capacity);
	if (xioctl(c, VHOST_VDPA_GET_CONFIG, &cfg) < 0)
		die(3, "no config space");
	c->capacity = le64toh(cfg.capacity) * 512;
	mfd = memfd_create("suspend-client", MFD_CLOEXEC);
	if (mfd < 0 || ftruncate(mfd, MEM_SIZE) < 0)
		die(3, "memfd: %s", strerror(errno));
	p = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	if (p == MAP_FAILED)
		die(3, "mmap: %s", strerror(errno));
	close(mfd);
	c->mem = p;
	c->desc = (void *)(c->mem + OFF_DESC);
	c->avail = (void *)(c->mem + OFF_AVAIL);
	c->used = (void *)(c->mem + OFF_USED);
	c->kickfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	c->callfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (c->kickfd < 0 || c->callfd < 0)
		die(3, "eventfd: %s", strerror(errno));
	for (unsigned int i = 0; i < NUM; i++)
		c->seq_of[i] = -1;
}

static void kick(struct cl *c)
{
	uint64_t one = 1;

	if (write(c->kickfd, &one, sizeof(one)) != sizeof(one))
		die(3, "kick: %s", strerror(errno));
}

/* Sector of sequence number @seq: one 4 KiB block each, wrapping. */
static uint64_t sector_of(const struct cl *c, unsigned int seq)
{
	return (uint64_t)seq * (BLOCK / 512) % (c->capacity / 512);
}

static void set_desc(struct cl *c, unsigned int i, uint64_t off, uint32_t len,
		     uint16_t flags)
{
	c->desc[i].addr = htole64(IOVA + off);
	c->desc[i].len = htole32(len);
	c->desc[i].flags = htole16(flags);
	c->desc[i].next = htole16((uint16_t)(i + 1));
}

/*
 * Post request @seq (a write of its number, or a read when @read) on the
 * three descriptors of slot @slot; the head is 3 * slot.
 */
static void post(struct cl *c, unsigned int slot, unsigned int seq, bool read)
{
	struct virtio_blk_outhdr *h = (void *)(c->mem + OFF_HDR + 16 * slot);
	uint8_t *data = c->mem + OFF_DATA + (uint64_t)BLOCK * slot;
	unsigned int d = 3 * slot;

	h->type = htole32(read ? VIRTIO_BLK_T_IN : VIRTIO_BLK_T_OUT);
	h->ioprio = 0;
	h->sector = htole64(sector_of(c, seq));
	if (read)
		memset(data, 0, BLOCK);
	else
		for (unsigned int i = 0; i < BLOCK / 4; i++)
			((uint32_t *)data)[i] = htole32(seq);
	c->mem[OFF_STATUS + slot] = UNTOUCHED;
	set_desc(c, d, OFF_HDR + 16 * slot, 16, VRING_DESC_F_NEXT);
	set_desc(c, d + 1, OFF_DATA + (uint64_t)BLOCK * slot, BLOCK,
		 VRING_DESC_F_NEXT | (read ? VRING_DESC_F_WRITE : 0));
	set_desc(c, d + 2, OFF_STATUS + slot, 1, VRING_DESC_F_WRITE);
	c->avail->ring[c->avail_idx & (c->num - 1)] = htole16((uint16_t)d);
	c->avail_idx++;
	/* Release: the entry and its descriptors before the index. */
	__atomic_store_n(&c->avail->idx, htole16(c->avail_idx),
			 __ATOMIC_RELEASE);
	c->seq_of[d] = (int)seq;
	c->inflight++;
}

/* Take the used entries; each must name a request in flight, once. */
static unsigned int reap(struct cl *c, bool reads)
{
	uint16_t idx = le16toh(__atomic_load_n(&c->used->idx,
					       __ATOMIC_ACQUIRE));
	unsigned int n = 0;

	while (c->used_idx != idx) {
		struct vring_used_elem *e =
			&c->used->ring[c->used_idx & (c->num - 1)];
		uint32_t id = le32toh(e->id);
		int seq;

		c->used_idx++;
		n++;
		if (id >= NUM || id % 3 || c->seq_of[id] < 0) {
			c->strays++;
			continue;
		}
		seq = c->seq_of[id];
		c->seq_of[id] = -1;
		c->inflight--;
		if (c->mem[OFF_STATUS + id / 3] != VIRTIO_BLK_S_OK)
			c->errors++;
		if (reads) {
			const uint32_t *d = (const void *)(c->mem + OFF_DATA +
							   (uint64_t)BLOCK *
							   (id / 3));

			for (unsigned int i = 0; i < BLOCK / 4; i++)
				if (le32toh(d[i]) != (uint32_t)seq) {
					c->errors++;
					break;
				}
			continue;
		}
		c->done[seq]++;
		c->completed++;
	}
	return n;
}

static void wait_call(struct cl *c, int ms)
{
	struct pollfd p = { .fd = c->callfd, .events = POLLIN };
	uint64_t v;

	if (poll(&p, 1, ms) > 0 && read(c->callfd, &v, sizeof(v)) < 0 &&
	    errno != EAGAIN)
		die(3, "call eventfd: %s", strerror(errno));
}

/* A free slot: its head not in flight. */
static int free_slot(const struct cl *c)
{
	for (unsigned int s = 0; s < c->num / 3 && s < opt_depth; s++)
		if (c->seq_of[3 * s] < 0)
			return (int)s;
	return -1;
}

/* Keep the queue full of writes until @until requests were posted. */
static void run_until(struct cl *c, unsigned int until)
{
	uint64_t deadline = now_ms() + 120000;

	while (c->next_seq < until) {
		int s;
		bool posted = false;

		while (c->next_seq < until && (s = free_slot(c)) >= 0) {
			post(c, (unsigned int)s, c->next_seq++, false);
			posted = true;
		}
		if (posted)
			kick(c);
		if (!reap(c, false))
			wait_call(c, 20);
		if (now_ms() > deadline)
			die(1, "no progress: %u of %u completed", c->completed,
			    until);
	}
}

static bool drain(struct cl *c, bool reads, unsigned int ms)
{
	uint64_t end = now_ms() + ms;

	while (c->inflight && now_ms() < end)
		if (!reap(c, reads))
			wait_call(c, 20);
	return c->inflight == 0;
}

/* What the cycles found; any count but the first two fails the run. */
struct tally {
	unsigned int untaken;        /* posted, not taken when stopped */
	unsigned int posted_stopped; /* posted while the ring was stopped */
	unsigned int not_exact;      /* used index or in-flight count off */
	unsigned int taken_stopped;  /* taken or completed while stopped */
	unsigned int stalled;        /* waited past enable, unkicked */
	unsigned int done_by_stop;   /* completed while the stop was asked */
};

static uint16_t used_now(struct cl *c)
{
	return le16toh(__atomic_load_n(&c->used->idx, __ATOMIC_ACQUIRE));
}

/* The device's last avail index (VDUSE_GET_VQ_STATE through the kernel). */
static uint16_t vring_base(struct cl *c)
{
	struct vhost_vring_state st = { .index = 0 };

	if (xioctl(c, VHOST_GET_VRING_BASE, &st) < 0)
		die(1, "VHOST_GET_VRING_BASE: %s", strerror(errno));
	return (uint16_t)st.num;
}

/* Post into free slots, @max at most, up to the last request. */
static unsigned int fill(struct cl *c, unsigned int max)
{
	unsigned int n = 0;
	int s;

	while (n < max && (s = free_slot(c)) >= 0 &&
	       c->next_seq < opt_requests) {
		post(c, (unsigned int)s, c->next_seq++, false);
		n++;
	}
	return n;
}

/*
 * Stopped (suspended, or ring 0 disabled): every request taken is
 * completed in the ring already, the base says where the device stands,
 * and the rest of what was posted is not taken.
 */
static uint16_t check_stopped(struct cl *c, struct tally *t)
{
	uint16_t base = vring_base(c), used = used_now(c);
	unsigned int untaken;

	if (used != base)
		t->not_exact++;
	reap(c, false);
	untaken = (uint16_t)(c->avail_idx - base);
	if (untaken != c->inflight)
		t->not_exact++;
	t->untaken += untaken;
	return base;
}

/* Kicks take nothing, nothing completes, the base stays. */
static void check_still(struct cl *c, struct tally *t, uint16_t base)
{
	uint16_t used = used_now(c);

	kick(c);
	usleep(300000);
	kick(c);
	usleep(300000);
	if (used_now(c) != used)
		t->taken_stopped++;
	if (vring_base(c) != base)
		t->taken_stopped++;
}

static const char *suspend_cycle(struct cl *c, struct tally *t,
				 unsigned int cycle)
{
	uint16_t base;

	/*
	 * More requests posted and kicked right before the suspend: the
	 * device holds some, has not seen others.
	 */
	fill(c, NUM);
	kick(c);
	if (xioctl(c, VHOST_VDPA_SUSPEND, NULL) < 0)
		die(1, "VHOST_VDPA_SUSPEND: %s", strerror(errno));
	base = check_stopped(c, t);
	check_still(c, t, base);
	fprintf(stderr,
		"suspend-client: cycle %u: base %u, used %u, avail %u, "
		"%u not taken\n",
		cycle, base, used_now(c), c->avail_idx, c->inflight);
	/* Resume where it stood. */
	if (c->bf & (1ull << VHOST_BACKEND_F_RESUME)) {
		if (xioctl(c, VHOST_VDPA_RESUME, NULL) < 0)
			die(1, "VHOST_VDPA_RESUME: %s", strerror(errno));
		kick(c);
		return "resume";
	}
	bring_up(c, base);
	kick(c);
	return "reset+set_vring_base";
}

static void set_enable(struct cl *c, unsigned int on)
{
	struct vhost_vring_state st = { .index = 0, .num = on };

	if (xioctl(c, VHOST_VDPA_SET_VRING_ENABLE, &st) < 0)
		die(1, "VHOST_VDPA_SET_VRING_ENABLE %u: %s", on,
		    strerror(errno));
}

static void ready_cycle(struct cl *c, struct tally *t, unsigned int cycle)
{
	unsigned int untaken, posted;
	uint16_t base, used;
	uint64_t t0, end;

	/*
	 * More posted right before the disable, three ways in turn: kicked
	 * (taken at once); not kicked, the queue still polling (taken,
	 * some still in flight: the disable completes them); not kicked,
	 * the queue idle long enough to sleep (not seen: taken only once
	 * the ring is enabled again).  Half the slots at most: the others
	 * are for posting while the ring is disabled.
	 */
	if (cycle % 3 == 2) {
		if (!drain(c, false, 20000))
			die(1, "%u requests never completed", c->inflight);
		usleep(200000);
	}
	fill(c, opt_depth / 2);
	if (cycle % 3 == 0)
		kick(c);
	used = used_now(c);
	set_enable(c, 0);
	base = check_stopped(c, t);
	t->done_by_stop += (uint16_t)(base - used);
	untaken = c->inflight;
	/* Posted into the slots just freed, and kicked, while disabled. */
	posted = fill(c, NUM);
	t->posted_stopped += posted;
	check_still(c, t, base);
	/*
	 * Enabled, no kick: VDUSE dropped those of the ring while it was
	 * disabled, so the device must look at the ring as it starts.
	 */
	set_enable(c, 1);
	t0 = now_ms();
	end = t0 + 20000;
	while (c->inflight && now_ms() < end)
		if (!reap(c, false))
			wait_call(c, 20);
	fprintf(stderr,
		"suspend-client: ready cycle %u: base %u, %u completed during "
		"the disable, %u not taken, %u posted while disabled, %u left "
		"%llu ms after the enable\n",
		cycle, base, (uint16_t)(base - used), untaken, posted,
		c->inflight,
		(unsigned long long)(now_ms() - t0));
	if (c->inflight) {
		t->stalled += c->inflight;
		kick(c);
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "path", required_argument, NULL, 'p' },
		{ "cycles", required_argument, NULL, 'c' },
		{ "requests", required_argument, NULL, 'n' },
		{ "depth", required_argument, NULL, 'd' },
		{ "ready-cycles", required_argument, NULL, 'r' },
		{ 0 },
	};
	struct cl *c = calloc(1, sizeof(*c));
	unsigned int cycle, cycles, lost = 0, repeated = 0;
	struct tally t = { 0 };
	const char *how = "";
	int o;

	if (!c)
		die(3, "out of memory");
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'p': opt_path = optarg; break;
		case 'c': opt_cycles = (unsigned int)atoi(optarg); break;
		case 'n': opt_requests = (unsigned int)atoi(optarg); break;
		case 'd': opt_depth = (unsigned int)atoi(optarg); break;
		case 'r': opt_ready = (unsigned int)atoi(optarg); break;
		default: die(2, "usage: --path NODE [--cycles N] "
			     "[--requests N] [--depth N] [--ready-cycles N]");
		}
	}
	cycles = opt_ready ? opt_ready : opt_cycles;
	if (!opt_path || !cycles || !opt_depth ||
	    opt_requests < 2 * cycles + 2 || opt_requests > MAX_REQS)
		die(2, "usage: --path NODE [--cycles N] [--requests N<=%u] "
		    "[--depth N] [--ready-cycles N]", MAX_REQS);
	open_dev(c);
	if (c->capacity < (uint64_t)opt_requests * BLOCK)
		die(3, "disk of %" PRIu64 " bytes: %u requests need more",
		    c->capacity, opt_requests);
	bring_up(c, 0);

	for (cycle = 0; cycle < cycles; cycle++) {
		run_until(c, opt_requests * (cycle + 1) / (cycles + 1));
		if (opt_ready)
			ready_cycle(c, &t, cycle);
		else
			how = suspend_cycle(c, &t, cycle);
	}
	run_until(c, opt_requests);
	if (!drain(c, false, 60000))
		die(1, "%u requests never completed", c->inflight);
	for (unsigned int i = 0; i < opt_requests; i++) {
		lost += c->done[i] == 0;
		repeated += c->done[i] > 1;
	}
	/* Each write's sectors hold its number: none lost on the disk. */
	for (unsigned int seq = 0; seq < opt_requests;) {
		int s;
		bool posted = false;

		while (seq < opt_requests && (s = free_slot(c)) >= 0) {
			post(c, (unsigned int)s, seq++, true);
			posted = true;
		}
		if (posted)
			kick(c);
		if (!reap(c, true))
			wait_call(c, 20);
	}
	if (!drain(c, true, 60000))
		die(1, "%u reads never completed", c->inflight);
	set_status(c, 0);
	if (opt_ready)
		printf("{\"ready_cycles\":%u,\"requests\":%u,"
		       "\"completed_during_disable\":%u,"
		       "\"not_taken_at_disable\":%u,"
		       "\"posted_while_disabled\":%u,\"not_exact\":%u,"
		       "\"taken_while_disabled\":%u,"
		       "\"stalled_after_enable\":%u,",
		       cycles, opt_requests, t.done_by_stop, t.untaken,
		       t.posted_stopped, t.not_exact, t.taken_stopped,
		       t.stalled);
	else
		printf("{\"cycles\":%u,\"requests\":%u,\"resumed_by\":\"%s\","
		       "\"not_taken_at_suspend\":%u,\"not_exact\":%u,"
		       "\"taken_while_suspended\":%u,",
		       cycles, opt_requests, how, t.untaken, t.not_exact,
		       t.taken_stopped);
	printf("\"lost\":%u,\"repeated\":%u,\"strays\":%u,\"errors\":%u}\n",
	       lost, repeated, c->strays, c->errors);
	return t.not_exact || t.taken_stopped || t.stalled || lost ||
			       repeated || c->strays || c->errors ?
		       1 :
		       0;
}
