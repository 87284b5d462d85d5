/* SPDX-License-Identifier: MIT */
/*
 * A hostile driver that rewrites its rings while the device walks them.
 *
 * The other hostile tests write a bad ring and then pop; a real driver
 * can change its memory at any instant, between two loads of the same
 * walk.  Here one thread plays the driver: it keeps rewriting descriptors
 * (addr, len, flags, next), indirect tables, avail ring entries and
 * avail->idx, mostly into plausible chains and sometimes into nonsense,
 * without ever waiting for the device.  The test thread is the device: it
 * pops, checks every request it is given, touches its vectors (under ASan
 * a wrong one is caught at once), holds some in flight and completes
 * them.  Whatever the driver does, every request popped must be sound:
 *   - each vector lies inside one region of driver memory, readable ones
 *     in readable memory, writable ones in writable memory;
 *   - n_out + n_in <= max_iovecs, the lengths are the sums of the
 *     vectors, and neither exceeds UINT32_MAX;
 *   - its head is in range and not already in flight;
 * and every pop returns a request, 0, or -EIO with the queue broken (then
 * the driver resets the device and the run goes on), within a second.
 *
 * The driver memory's host addresses are learnt once, before the race,
 * by popping one quiet request per region that covers the whole region,
 * and confirmed by writing through the simulator and reading back.
 *
 * VDK_RACE_SECONDS sets the length of the run (default 3).  Under
 * ThreadSanitizer this reports the races on driver memory: they are the
 * point.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "env.h"

#define QSIZE 16
#define MAX_IOVECS 8
#define MEM 0x40000
#define RING 0x1000          /* desc, avail; used at 0x2000 */
#define RINGS_END 0x3000     /* rings alone in [0, RINGS_END) */
#define TABLES 0x3000        /* aligned indirect tables, one region */
#define DATA 0x4000          /* data regions of odd sizes */
#define DATA_END 0x30000
#define CUT_STEP 0x777
#define RO 0x20000           /* [RO, RO + 0x1000) read-only */
#define WO 0x22000           /* write-only */
#define HOLE 0x24000         /* unmapped */
#define PERM_LEN 0x1000
#define GOOD_END RO          /* plausible buffers below this */
#define NTABLES 8
#define TABLE_MAX 12         /* entries a table may have */
#define MAX_REGIONS 256
#define SLOW_POP_NS 1000000000ll
#define LOST_STEPS 100000     /* a head not completed by then is lost */

static const uint64_t tables[NTABLES] = {
	TABLES, TABLES + 0x100, TABLES + 0x200, TABLES + 0x300,
	TABLES + 0x400, TABLES + 0x500,
	TABLES + 0x604,              /* misaligned: copied by the library */
	DATA + CUT_STEP - 0x47,      /* spans two regions: copied too */
};

struct region {
	uint64_t start, len;
	uint8_t perm;
	unsigned char *host; /* NULL for the hole */
};

static struct region regions[MAX_REGIONS];
static unsigned int nregions;
static struct region *by_host[MAX_REGIONS]; /* mapped ones, by host */
static unsigned int nby_host;

/* The driver's side of the rings, by host address. */
static struct vring_desc *drv_desc;
static struct vring_avail *drv_avail;
static struct vring_used *drv_used;

/*
 * Resets: the device thread asks (reset_req), the driver acknowledges
 * (reset_ack) and keeps its hands off the rings until the device says
 * the queue is set up again (reset_done), then starts from index 0.
 */
static atomic_bool stop, driver_gone;
static atomic_uint reset_req, reset_ack, reset_done;
static atomic_ullong driver_ops;

static struct region *region_of_iova(uint64_t iova)
{
	unsigned int lo = 0, hi = nregions;

	while (lo < hi) {
		unsigned int mid = lo + (hi - lo) / 2;

		if (regions[mid].start + regions[mid].len <= iova)
			lo = mid + 1;
		else
			hi = mid;
	}
	CHECK(lo < nregions && regions[lo].start <= iova);
	return &regions[lo];
}

/* The mapped region whose host memory holds @p, or NULL. */
static struct region *region_of_host(const unsigned char *p)
{
	unsigned int lo = 0, hi = nby_host;

	while (lo < hi) {
		unsigned int mid = lo + (hi - lo) / 2;

		if (by_host[mid]->host + by_host[mid]->len <= p)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == nby_host || p < by_host[lo]->host)
		return NULL;
	return by_host[lo];
}

/* Store into driver memory from the driver thread, across regions. */
static void drv_write(uint64_t iova, const void *buf, uint64_t len)
{
	const unsigned char *in = buf;

	while (len) {
		struct region *r = region_of_iova(iova);
		uint64_t chunk = r->start + r->len - iova;

		if (chunk > len)
			chunk = len;
		CHECK(r->host);
		memcpy(r->host + (iova - r->start), in, chunk);
		in += chunk;
		iova += chunk;
		len -= chunk;
	}
}

/*
 * What is wrong with a request the library handed out, or NULL.  Kept
 * apart from CHECK so that main() can show it refuses bad requests.
 */
static const char *req_fault(const struct vdk_req *req)
{
	uint64_t out = 0, in = 0;
	unsigned int v;

	if (req->id >= QSIZE)
		return "head out of range";
	if (req->n_out > MAX_IOVECS || req->n_in > MAX_IOVECS - req->n_out)
		return "more vectors than max_iovecs";
	if (req->out_len > UINT32_MAX || req->in_len > UINT32_MAX)
		return "length over UINT32_MAX";
	for (v = 0; v < req->n_out + req->n_in; v++) {
		const unsigned char *b = req->iov[v].iov_base;
		size_t len = req->iov[v].iov_len;
		bool write = v >= req->n_out;
		struct region *r;

		if (write)
			in += len;
		else
			out += len;
		if (!len)
			continue;
		r = region_of_host(b);
		if (!r)
			return "vector outside driver memory";
		if (len > r->len - (uint64_t)(b - r->host))
			return "vector runs past its region";
		if (!(r->perm & (write ? VDUSE_ACCESS_WO : VDUSE_ACCESS_RO)))
			return "vector in memory of the wrong permission";
	}
	if (out != req->out_len)
		return "out_len is not the sum of the readable vectors";
	if (in != req->in_len)
		return "in_len is not the sum of the writable vectors";
	return NULL;
}

/* ---- the driver ---- */

struct driver {
	uint64_t rnd;
	uint16_t avail_idx;     /* what avail->idx says */
	uint16_t last_used;     /* completions seen */
	uint8_t busy[QSIZE];    /* published, completion not seen yet */
	uint64_t since[QSIZE];  /* step it was last published at */
	uint64_t steps;
};

static uint64_t rnd(struct driver *d)
{
	d->rnd ^= d->rnd << 13;
	d->rnd ^= d->rnd >> 7;
	d->rnd ^= d->rnd << 17;
	return d->rnd;
}

/* One chance in @n. */
static bool one_in(struct driver *d, unsigned int n)
{
	return rnd(d) % n == 0;
}

static uint64_t junk_addr(struct driver *d)
{
	uint64_t r = rnd(d);

	switch (r % 16) {
	case 8:
	case 9:
		return TABLES + r % (DATA - TABLES);
	case 10:
		return r % RINGS_END;
	case 11:
		return DATA_END + r % (MEM - DATA_END);
	case 12:
		return MEM - r % 0x100;       /* runs past the end */
	case 13:
		return MEM + r % 0x100000;    /* not mapped */
	case 14:
		return UINT64_MAX - r % 0x100; /* wraps */
	case 15:
		return rnd(d);
	default:
		return DATA + r % (DATA_END - DATA); /* any permission */
	}
}

static uint32_t junk_len(struct driver *d)
{
	uint64_t r = rnd(d);

	switch (r % 12) {
	case 8:
		return 0;
	case 9:
		return 1 + r % 0x10000;       /* many regions: many pieces */
	case 10:
		return 16 * (1 + r % (TABLE_MAX + 2)); /* table-like */
	case 11:
		return (uint32_t)rnd(d);
	default:
		return 1 + r % 0x800;
	}
}

static uint16_t junk_flags(struct driver *d)
{
	uint64_t r = rnd(d);
	uint16_t f = 0;

	if (r % 2)
		f |= VRING_DESC_F_NEXT;
	if (r / 2 % 5 < 2)
		f |= VRING_DESC_F_WRITE;
	if (r / 16 % 8 == 0)
		f |= VRING_DESC_F_INDIRECT;
	return f;
}

static uint16_t junk_next(struct driver *d)
{
	return one_in(d, 10) ? (uint16_t)rnd(d) : (uint16_t)(rnd(d) % QSIZE);
}

static struct vring_desc make_desc(uint64_t addr, uint32_t len,
				   uint16_t flags, uint16_t next)
{
	struct vring_desc v = {
		.addr = htole64(addr),
		.len = htole32(len),
		.flags = htole16(flags),
		.next = htole16(next),
	};

	return v;
}

static struct vring_desc junk_desc(struct driver *d)
{
	return make_desc(junk_addr(d), junk_len(d), junk_flags(d),
			 junk_next(d));
}

/*
 * A chain a sane driver could post at @head: a few readable buffers then
 * a few writable ones in read-write memory, direct or in an indirect
 * table.  Small enough to fit max_iovecs even when each buffer spans a
 * cut.
 */
static void good_chain(struct driver *d, uint16_t head)
{
	unsigned int n = 1 + rnd(d) % 4, n_out = rnd(d) % (n + 1), k;
	uint64_t table = one_in(d, 3) ? tables[rnd(d) % NTABLES] : 0;
	struct vring_desc v;

	for (k = 0; k < n; k++) {
		uint32_t len = (uint32_t)(1 + rnd(d) % 0x200);
		uint64_t addr = DATA + rnd(d) % (GOOD_END - DATA - len);
		uint16_t flags = (k >= n_out ? VRING_DESC_F_WRITE : 0) |
				 (k + 1 < n ? VRING_DESC_F_NEXT : 0);

		if (table) {
			v = make_desc(addr, len, flags, (uint16_t)(k + 1));
			drv_write(table + 16ull * k, &v, sizeof(v));
		} else {
			drv_desc[(head + k) % QSIZE] =
				make_desc(addr, len, flags,
					  (uint16_t)((head + k + 1) % QSIZE));
		}
	}
	if (table)
		drv_desc[head] = make_desc(table, 16 * n, VRING_DESC_F_INDIRECT,
					   0);
}

/*
 * Switch one descriptor, in the ring or in a table, back and forth
 * between two versions that differ in one field: a walk that loads a
 * field twice sees both.
 */
static void flicker(struct driver *d)
{
	unsigned int n = 16 + rnd(d) % 48, k;
	uint64_t table = one_in(d, 4) ? tables[rnd(d) % NTABLES] : 0;
	unsigned int i = rnd(d) % (table ? TABLE_MAX : QSIZE);
	struct vring_desc a, b;

	a = make_desc(DATA + rnd(d) % (DATA_END - DATA - 0x200),
		      (uint32_t)(1 + rnd(d) % 0x200),
		      junk_flags(d) & ~VRING_DESC_F_INDIRECT,
		      (uint16_t)(rnd(d) % (table ? TABLE_MAX : QSIZE)));
	b = a;
	switch (rnd(d) % 5) {
	case 0:
		b.flags ^= htole16(VRING_DESC_F_WRITE);
		break;
	case 1:
		b.len = htole32(junk_len(d));
		break;
	case 2:
		b.next = htole16(junk_next(d));
		break;
	case 3:
		b.flags ^= htole16(VRING_DESC_F_INDIRECT);
		b.addr = htole64(tables[rnd(d) % NTABLES]);
		break;
	default:
		b.addr = htole64(junk_addr(d));
	}
	for (k = 0; k < n; k++) {
		const struct vring_desc *v = k % 2 ? &b : &a;

		if (table)
			drv_write(table + 16ull * i, v, sizeof(*v));
		else
			drv_desc[i] = *v;
	}
}

/*
 * A head with no request outstanding, or -1.  An avail entry rewritten
 * before the device read it loses its head for good: after a while a
 * head that never completed counts as free.  If it was in fact still in
 * flight, posting it again breaks the ring, and the device resets it.
 */
static int free_head(struct driver *d)
{
	unsigned int start = rnd(d) % QSIZE, k;

	for (k = 0; k < QSIZE; k++) {
		unsigned int h = (start + k) % QSIZE;

		if (!d->busy[h] || d->steps - d->since[h] > LOST_STEPS) {
			d->busy[h] = 0;
			return (int)h;
		}
	}
	return -1;
}

static void post_head(struct driver *d, uint16_t slot, uint16_t h)
{
	drv_avail->ring[slot % QSIZE] = htole16(h);
	d->busy[h]++;
	d->since[h] = d->steps;
}

static void publish_idx(struct driver *d, uint16_t idx)
{
	d->avail_idx = idx;
	__atomic_store_n(&drv_avail->idx, htole16(idx), __ATOMIC_RELEASE);
}

/* Read the completions, as a driver does; check they make sense. */
static void reap(struct driver *d)
{
	uint16_t idx = le16toh(__atomic_load_n(&drv_used->idx,
					       __ATOMIC_ACQUIRE));

	/* The device completes nothing that was not published. */
	if ((uint16_t)(idx - d->last_used) >
	    (uint16_t)(d->avail_idx - d->last_used)) {
		fprintf(stderr, "used idx %u ran past avail idx %u (from %u)\n",
			idx, d->avail_idx, d->last_used);
		exit(T_EXIT_FAIL);
	}
	while (d->last_used != idx) {
		uint32_t id = le32toh(drv_used->ring[d->last_used % QSIZE].id);

		CHECK(id < QSIZE);
		if (d->busy[id])
			d->busy[id]--;
		d->last_used++;
	}
}

/*
 * The ways this driver breaks the ring itself; each marks the queue
 * broken (unless the device happens to be quicker), and the device
 * resets it.
 */
static void break_ring(struct driver *d)
{
	switch (rnd(d) % 3) {
	case 0: /* a head out of range */
		drv_avail->ring[d->avail_idx % QSIZE] =
			htole16((uint16_t)(QSIZE + rnd(d) % (0x10000 - QSIZE)));
		publish_idx(d, (uint16_t)(d->avail_idx + 1));
		break;
	case 1:
		/*
		 * An index too far ahead, or behind; never back into the
		 * window of requests not yet completed, which reap()
		 * checks against.
		 */
		publish_idx(d, (uint16_t)(d->avail_idx + QSIZE + 1 +
					  rnd(d) % (0x10000 - 3 * QSIZE)));
		break;
	default: { /* a head that may be in flight */
		post_head(d, d->avail_idx, (uint16_t)(rnd(d) % QSIZE));
		publish_idx(d, (uint16_t)(d->avail_idx + 1));
	}
	}
}

/* One step of mischief. */
static void driver_step(struct driver *d)
{
	uint16_t outstanding = (uint16_t)(d->avail_idx - d->last_used);
	uint64_t op = rnd(d) % 1000;
	struct vring_desc v;
	int h;

	if (op < 100) {
		flicker(d);
	} else if (op < 350) {
		/* Any descriptor, anything; or one field of it. */
		unsigned int i = rnd(d) % QSIZE;

		switch (rnd(d) % 5) {
		case 0:
			drv_desc[i].addr = htole64(junk_addr(d));
			break;
		case 1:
			drv_desc[i].len = htole32(junk_len(d));
			break;
		case 2:
			drv_desc[i].flags ^= htole16(junk_flags(d));
			break;
		case 3:
			drv_desc[i].next = htole16(junk_next(d));
			break;
		default:
			drv_desc[i] = junk_desc(d);
		}
	} else if (op < 500) {
		/* An entry of an indirect table, junk or plausible. */
		unsigned int k = rnd(d) % TABLE_MAX;

		if (one_in(d, 2))
			v = junk_desc(d);
		else
			v = make_desc(DATA + rnd(d) % (GOOD_END - DATA - 0x200),
				      (uint32_t)(1 + rnd(d) % 0x200),
				      junk_flags(d) & ~VRING_DESC_F_INDIRECT,
				      (uint16_t)(k + 1));
		drv_write(tables[rnd(d) % NTABLES] + 16ull * k, &v, sizeof(v));
	} else if (op < 900) {
		/* Post a few requests, mostly well-formed when written. */
		unsigned int n = 1 + rnd(d) % 3, k;
		uint16_t idx = d->avail_idx;

		for (k = 0; k < n && outstanding + k < QSIZE; k++) {
			h = free_head(d);
			if (h < 0)
				break;
			if (!one_in(d, 4))
				good_chain(d, (uint16_t)h);
			post_head(d, idx, (uint16_t)h);
			idx++;
		}
		if (idx != d->avail_idx)
			publish_idx(d, idx);
	} else if (op < 960) {
		/*
		 * Another head in an entry already published: the one it
		 * replaces may never complete, the new one may be popped
		 * twice.
		 */
		if (outstanding) {
			uint16_t slot = (uint16_t)(d->last_used +
						   rnd(d) % outstanding);

			h = free_head(d);
			if (h >= 0)
				post_head(d, slot, (uint16_t)h);
		}
	} else if (op < 995) {
		/* What the device reads when it notifies. */
		drv_avail->flags = htole16((uint16_t)rnd(d));
		drv_avail->ring[QSIZE] = htole16((uint16_t)rnd(d));
	} else if (one_in(d, 100)) {
		/* Rarely: a reset costs the race its time. */
		break_ring(d);
	}
}

static void driver_restart(struct driver *d)
{
	d->avail_idx = 0;
	d->last_used = 0;
	memset(d->busy, 0, sizeof(d->busy));
	memset(d->since, 0, sizeof(d->since));
}

static void *driver_thread(void *arg)
{
	struct driver *d = arg;
	unsigned long long ops = 0;
	unsigned int seen = 0;

	driver_restart(d);
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		unsigned int req = atomic_load(&reset_req);

		if (req != seen) {
			seen = req;
			atomic_store(&reset_ack, req);
			while (atomic_load(&reset_done) != req &&
			       !atomic_load(&stop))
				sched_yield();
			driver_restart(d);
			continue;
		}
		reap(d);
		driver_step(d);
		d->steps++;
		ops++;
	}
	atomic_store(&driver_ops, ops);
	atomic_store(&driver_gone, true);
	return NULL;
}

/* ---- the device ---- */

struct device {
	struct env *e;
	uint64_t rnd;
	struct vdk_req *held[QSIZE];
	unsigned int nheld;
	bool in_flight[QSIZE];
	unsigned long long pops, empty, resets;
	long long longest_ns;
	uint64_t longest_refused; /* chains refused by the longest pop */
	uint64_t most_refused;    /* by one pop */
};

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

/* Read and write the ends of each vector: ASan checks those bytes. */
static void touch(struct vdk_req *req)
{
	unsigned int v;

	for (v = 0; v < req->n_out + req->n_in; v++) {
		volatile unsigned char *b = req->iov[v].iov_base;
		size_t len = req->iov[v].iov_len;

		if (!len)
			continue;
		(void)b[0];
		(void)b[len - 1];
		/* Not into the rings: the driver's indexes are its own. */
		if (v >= req->n_out &&
		    region_of_host((const unsigned char *)b)->start >=
			    RINGS_END) {
			b[0] = 0x5a;
			b[len - 1] = 0xa5;
		}
	}
}

static void complete(struct device *dv, unsigned int k)
{
	struct vdk_req *req = dv->held[k];

	CHECK(dv->in_flight[req->id]);
	dv->in_flight[req->id] = false;
	dv->held[k] = dv->held[--dv->nheld];
	/* Any length: the library clamps it to in_len. */
	vdk_vq_push(dv->e->vq, req, (uint32_t)(dv->rnd % (req->in_len + 2)));
	CHECK_EQ(vdk_vq_inflight(dv->e->vq), dv->nheld);
}

/* The driver resets the device and sets it up again. */
static void device_reset(struct device *dv)
{
	unsigned int req = atomic_load(&reset_req) + 1;

	atomic_store(&reset_req, req);
	while (atomic_load(&reset_ack) != req && !atomic_load(&driver_gone))
		sched_yield();
	memset(dv->in_flight, 0, sizeof(dv->in_flight));
	dv->nheld = 0;
	env_reset(dv->e);
	atomic_store(&reset_done, req);
	dv->resets++;
}

static void device_step(struct device *dv)
{
	struct vdk_vq_stats before, after;
	struct vdk_req *req;
	const char *why;
	long long t0, dt;
	int ret;

	dv->rnd = dv->rnd * 6364136223846793005ull + 1442695040888963407ull;
	vdk_vq_get_stats(dv->e->vq, &before);
	t0 = now_ns();
	ret = vdk_vq_pop(dv->e->vq, &req);
	dt = now_ns() - t0;
	vdk_vq_get_stats(dv->e->vq, &after);
	if (after.bad - before.bad > dv->most_refused)
		dv->most_refused = after.bad - before.bad;
	if (dt > dv->longest_ns) {
		dv->longest_ns = dt;
		dv->longest_refused = after.bad - before.bad;
	}
	if (dt > SLOW_POP_NS) {
		fprintf(stderr, "vdk_vq_pop took %.3f s (returned %d)\n",
			dt / 1e9, ret);
		exit(T_EXIT_FAIL);
	}
	if (ret == 1) {
		why = req_fault(req);
		if (why) {
			fprintf(stderr, "request %u: %s\n", req->id, why);
			exit(T_EXIT_FAIL);
		}
		if (dv->in_flight[req->id]) {
			fprintf(stderr, "head %u popped twice\n", req->id);
			exit(T_EXIT_FAIL);
		}
		dv->in_flight[req->id] = true;
		touch(req);
		dv->held[dv->nheld++] = req;
		CHECK_EQ(vdk_vq_inflight(dv->e->vq), dv->nheld);
		dv->pops++;
		/* Hold a few in flight, completed in any order. */
		while (dv->nheld > (dv->rnd >> 33) % (QSIZE / 2))
			complete(dv, (unsigned int)((dv->rnd >> 20) %
						    dv->nheld));
	} else if (ret == 0) {
		dv->empty++;
		if (dv->nheld)
			complete(dv, 0);
	} else {
		if (ret != -EIO || !vdk_vq_broken(dv->e->vq)) {
			fprintf(stderr, "vdk_vq_pop returned %d, broken %d\n",
				ret, vdk_vq_broken(dv->e->vq));
			exit(T_EXIT_FAIL);
		}
		device_reset(dv);
		return;
	}
	CHECK(vdk_vq_notify(dv->e->vq) >= 0);
}

/* ---- set-up ---- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int cmp_host(const void *a, const void *b)
{
	const struct region *x = *(struct region *const *)a;
	const struct region *y = *(struct region *const *)b;

	return x->host < y->host ? -1 : x->host > y->host;
}

static uint8_t perm_at(uint64_t iova)
{
	if (iova >= RO && iova < RO + PERM_LEN)
		return VDUSE_ACCESS_RO;
	if (iova >= WO && iova < WO + PERM_LEN)
		return VDUSE_ACCESS_WO;
	if (iova >= HOLE && iova < HOLE + PERM_LEN)
		return 0;
	return VDUSE_ACCESS_RW;
}

/* Cut driver memory and set the permissions; regions[] says the same. */
static void layout(struct env *e)
{
	uint64_t cuts[MAX_REGIONS], at, start = 0;
	unsigned int n = 0, i;

	cuts[n++] = RINGS_END;
	cuts[n++] = DATA;
	for (at = DATA + CUT_STEP; at < DATA_END; at += CUT_STEP)
		cuts[n++] = at;
	cuts[n++] = DATA_END;
	cuts[n++] = DATA_END + 0x8000;
	cuts[n++] = RO;
	cuts[n++] = RO + PERM_LEN;
	cuts[n++] = WO;
	cuts[n++] = WO + PERM_LEN;
	cuts[n++] = HOLE;
	cuts[n++] = HOLE + PERM_LEN;
	CHECK(n < MAX_REGIONS);
	qsort(cuts, n, sizeof(cuts[0]), cmp_u64);
	for (i = 1, nregions = 1; i < n; i++)
		if (cuts[i] != cuts[nregions - 1])
			cuts[nregions++] = cuts[i];
	n = nregions;
	CHECK_EQ(sim_cut(e->s, cuts, n), 0);
	CHECK_EQ(sim_set_perm(e->s, RO, RO + PERM_LEN - 1, VDUSE_ACCESS_RO),
		 0);
	CHECK_EQ(sim_set_perm(e->s, WO, WO + PERM_LEN - 1, VDUSE_ACCESS_WO),
		 0);
	CHECK_EQ(sim_set_perm(e->s, HOLE, HOLE + PERM_LEN - 1, 0), 0);
	CHECK_EQ(vdk_dev_process(e->dev), 4);
	for (i = 0; i <= n; i++) {
		uint64_t end = i < n ? cuts[i] : MEM;

		regions[i].start = start;
		regions[i].len = end - start;
		regions[i].perm = perm_at(start);
		start = end;
	}
	nregions = n + 1;
}

/*
 * Learn each mapped region's host address: one request covering exactly
 * the region must come back as one vector of its length.  Then check the
 * address is the region's by writing through the simulator.
 */
static void calibrate(struct env *e)
{
	unsigned int i;

	for (i = 0; i < nregions; i++) {
		struct region *r = &regions[i];
		bool write = r->perm == VDUSE_ACCESS_WO;
		struct sim_buf b = { r->start, (uint32_t)r->len, write };
		uint8_t mark[2] = { (uint8_t)i, (uint8_t)~i };
		struct vdk_req *req;
		int head;

		if (!r->perm)
			continue;
		head = sim_vq_add(e->s, 0, &b, 1, 0);
		CHECK(head >= 0);
		req = env_pop_one(e, head);
		CHECK_EQ(req->n_out + req->n_in, 1);
		CHECK_EQ(req->n_in, write);
		CHECK_EQ(req->iov[0].iov_len, r->len);
		r->host = req->iov[0].iov_base;
		env_complete(e, req, 0);
		sim_write(e->s, r->start, &mark[0], 1);
		sim_write(e->s, r->start + r->len - 1, &mark[1], 1);
		CHECK_EQ(r->host[0], mark[0]);
		CHECK_EQ(r->host[r->len - 1], mark[1]);
		by_host[nby_host++] = r;
	}
	qsort(by_host, nby_host, sizeof(by_host[0]), cmp_host);
	for (i = 1; i < nby_host; i++)
		CHECK(by_host[i - 1]->host + by_host[i - 1]->len <=
		      by_host[i]->host);
	CHECK(regions[0].start == 0 && regions[0].len == RINGS_END);
	drv_desc = (struct vring_desc *)(regions[0].host + RING);
	drv_avail = (struct vring_avail *)(regions[0].host + RING +
					   16 * QSIZE);
	/* sim_vq_setup() aligns it to 4 KiB; check_rings() confirms. */
	drv_used = (struct vring_used *)(regions[0].host + RING + 0x1000);
}

/* The driver's view of the rings is the simulator's: one request shows. */
static void check_rings(struct env *e)
{
	struct sim_buf b = { DATA, 16, false };
	struct vdk_req *req;
	int head;

	head = sim_vq_add(e->s, 0, &b, 1, 0);
	CHECK(head >= 0);
	CHECK_EQ(le16toh(drv_avail->idx), 1);
	CHECK_EQ(le16toh(drv_avail->ring[0]), head);
	CHECK_EQ(le64toh(drv_desc[head].addr), DATA);
	req = env_pop_one(e, head);
	env_complete(e, req, 0);
	CHECK_EQ(le16toh(drv_used->idx), 1);
	CHECK_EQ(le32toh(drv_used->ring[0].id), head);
}

static void expect_fault(const struct vdk_req *req, const char *what)
{
	const char *why = req_fault(req);

	if (!why || strcmp(why, what)) {
		fprintf(stderr, "a request with a bad %s passed as \"%s\"\n",
			what, why ? why : "sound");
		exit(T_EXIT_FAIL);
	}
}

/* The checks must be able to fail: show them requests that are wrong. */
static void check_the_checks(void)
{
	struct region *rw = region_of_iova(DATA), *ro = region_of_iova(RO);
	static unsigned char elsewhere[16];
	struct iovec iov[MAX_IOVECS + 1];
	struct vdk_req req = { .iov = iov };
	unsigned int i;

	/* Sound: the whole of a region, and a byte of it to write. */
	iov[0] = (struct iovec){ rw->host, rw->len };
	iov[1] = (struct iovec){ rw->host + 1, 1 };
	req.n_out = 1;
	req.n_in = 1;
	req.out_len = rw->len;
	req.in_len = 1;
	CHECK(!req_fault(&req));
	req.out_len++;
	expect_fault(&req, "out_len is not the sum of the readable vectors");
	req.out_len--;
	req.in_len = 0;
	expect_fault(&req, "in_len is not the sum of the writable vectors");
	req.in_len = 1;
	iov[0].iov_len++;
	req.out_len++;
	expect_fault(&req, "vector runs past its region");
	iov[0].iov_len--;
	req.out_len--;
	iov[1].iov_base = elsewhere;
	expect_fault(&req, "vector outside driver memory");
	iov[1].iov_base = rw->host - 1;
	expect_fault(&req, "vector outside driver memory");
	iov[1].iov_base = ro->host;
	expect_fault(&req, "vector in memory of the wrong permission");
	iov[1].iov_base = rw->host;
	CHECK(!req_fault(&req));
	req.id = QSIZE;
	expect_fault(&req, "head out of range");
	req.id = 0;
	for (i = 0; i <= MAX_IOVECS; i++)
		iov[i] = (struct iovec){ rw->host, 1 };
	req.n_out = MAX_IOVECS;
	req.out_len = MAX_IOVECS;
	expect_fault(&req, "more vectors than max_iovecs");
	req.n_out = 0;
	req.out_len = 0;
	req.n_in = 0;
	req.in_len = UINT32_MAX + 1ull;
	expect_fault(&req, "length over UINT32_MAX");
}

int main(void)
{
	struct env_cfg cfg = {
		.mem = MEM,
		.qsize = QSIZE,
		.max_iovecs = MAX_IOVECS,
		.ring = RING,
		.features = (1ull << VIRTIO_RING_F_INDIRECT_DESC) |
			    (1ull << VIRTIO_RING_F_EVENT_IDX),
	};
	const char *env_secs = getenv("VDK_RACE_SECONDS");
	double secs = env_secs ? atof(env_secs) : 3;
	struct driver d = { .rnd = 88172645463325252ull };
	struct device dv = { .rnd = 1 };
	struct vdk_vq_stats st;
	pthread_t drv;
	long long end;
	struct env e;

	if (secs <= 0) {
		fprintf(stderr, "VDK_RACE_SECONDS must be positive\n");
		return T_EXIT_FAIL;
	}
	env_init(&e, &cfg);
	layout(&e);
	calibrate(&e);
	check_the_checks();
	env_reset(&e);
	check_rings(&e);
	env_reset(&e);

	dv.e = &e;
	CHECK_EQ(pthread_create(&drv, NULL, driver_thread, &d), 0);
	end = now_ns() + (long long)(secs * 1e9);
	while (now_ns() < end) {
		unsigned int k;

		for (k = 0; k < 256; k++)
			device_step(&dv);
	}
	atomic_store(&stop, true);
	CHECK_EQ(pthread_join(drv, NULL), 0);

	vdk_vq_get_stats(e.vq, &st);
	printf("%.1f s: %llu pops, %llu refused, %llu empty, %llu resets, "
	       "%llu driver steps\n",
	       secs, dv.pops, (unsigned long long)st.bad, dv.empty,
	       dv.resets, (unsigned long long)atomic_load(&driver_ops));
	printf("longest pop %.3f ms (%llu refused in it), at most %llu "
	       "refused in one pop\n",
	       dv.longest_ns / 1e6, (unsigned long long)dv.longest_refused,
	       (unsigned long long)dv.most_refused);
	/* A race that never happened tests nothing. */
	CHECK(dv.pops > 0);
	CHECK(st.bad > 0);
	CHECK(dv.resets > 0);

	/* Quiet again: after a reset the queue serves as before. */
	env_reset(&e);
	{
		struct sim_buf b[2] = {
			{ DATA, 16, false },
			{ DATA + 0x100, 8, true },
		};
		struct vdk_req *req;
		int head = sim_vq_add(e.s, 0, b, 2, 0);

		CHECK(head >= 0);
		req = env_pop_one(&e, head);
		CHECK(!req_fault(req));
		CHECK_EQ(req->out_len, 16);
		CHECK_EQ(req->in_len, 8);
		env_complete(&e, req, 8);
	}
	env_fini(&e);
	return T_EXIT_PASS;
}
