/* SPDX-License-Identifier: MIT */
/*
 * What the daemon does with the kernel's answer to VDUSE_IOTLB_GET_FD
 * when the answer is odd: a region that does not contain the address
 * asked for, one as large as the IOVA space, a file offset that is not
 * page-aligned or near the top of 64 bits, a permission of 0 or with
 * unknown bits, a failure.
 *
 * First vdk__kernel_map_plan() alone: a table of named cases, every
 * overflow boundary among them, then a sweep of boundary values against
 * a model in 128-bit arithmetic.  Then a device on the simulator, whose
 * answers go through the same function: an odd answer for the rings, a
 * buffer or an indirect table refuses the request or stops the queue,
 * nothing crashes, and honest answers work again after it.  Each device
 * case runs in a child process, so a crash is reported as one.
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "env.h"
#include "internal.h"

#define RO VDUSE_ACCESS_RO
#define WO VDUSE_ACCESS_WO
#define RW VDUSE_ACCESS_RW
#define PAGE 0x1000ull
#define MAX VDK_IOTLB_REGION_MAX

/* off_t's largest value, whatever its width. */
#define OFF_MAX                                                              \
	((uint64_t)(((((off_t)1 << (sizeof(off_t) * CHAR_BIT - 2)) - 1)      \
		     << 1) + 1))

/* ---- the pure function ---- */

struct plan_case {
	const char *name;
	struct vduse_iotlb_entry e;
	uint64_t iova;
	uint64_t page; /* 0: PAGE */
	int ret;
	/* When accepted: */
	uint64_t off, len, addr_off;
	int prot;
};

#define ENTRY(o, s, l, p)                                                    \
	{ .offset = (o), .start = (s), .last = (l), .perm = (p) }

static const struct plan_case plan_cases[] = {
	/* Real answers. */
	{ "aligned RW region", ENTRY(0x200000, 0x1000, 0x1fff, RW), 0x1800,
	  0, 0, 0x200000, 0x1000, 0, PROT_READ | PROT_WRITE },
	{ "RO region", ENTRY(0, 0x1000, 0x1fff, RO), 0x1000,
	  0, 0, 0, 0x1000, 0, PROT_READ },
	{ "WO region", ENTRY(0, 0x1000, 0x1fff, WO), 0x1fff,
	  0, 0, 0, 0x1000, 0, PROT_READ | PROT_WRITE },
	{ "one-byte region", ENTRY(0x3000, 0x5555, 0x5555, RW), 0x5555,
	  0, 0, 0x3000, 1, 0, PROT_READ | PROT_WRITE },
	{ "region at the top of the IOVA space",
	  ENTRY(0, UINT64_MAX - 0xfff, UINT64_MAX, RW), UINT64_MAX,
	  0, 0, 0, 0x1000, 0, PROT_READ | PROT_WRITE },
	{ "offset not page-aligned", ENTRY(0x200123, 0x1000, 0x1fff, RW),
	  0x1000, 0, 0, 0x200000, 0x1123, 0x123, PROT_READ | PROT_WRITE },
	{ "offset at a page's last byte", ENTRY(0x200fff, 0x1000, 0x1fff, RO),
	  0x1000, 0, 0, 0x200000, 0x1fff, 0xfff, PROT_READ },
	{ "64 KiB pages", ENTRY(0x12345, 0, 0xffff, RW), 0,
	  0x10000, 0, 0x10000, 0x12345, 0x2345, PROT_READ | PROT_WRITE },
	{ "region of the bound", ENTRY(0, 0, MAX - 1, RW), MAX - 1,
	  0, 0, 0, MAX, 0, PROT_READ | PROT_WRITE },
	{ "region of the bound, page offset on top",
	  ENTRY(0xfff, 1, MAX, RW), 1,
	  0, 0, 0, MAX + 0xfff, 0xfff, PROT_READ | PROT_WRITE },
	{ "file range ends at off_t's max",
	  ENTRY(OFF_MAX - 0xfff, 0x1000, 0x1fff, RW), 0x1000,
	  0, 0, OFF_MAX - 0xfff, 0x1000, 0, PROT_READ | PROT_WRITE },

	/* Not around the IOVA asked for. */
	{ "iova below start", ENTRY(0, 0x1000, 0x1fff, RW), 0xfff, 0, -EFAULT },
	{ "iova above last", ENTRY(0, 0x1000, 0x1fff, RW), 0x2000, 0, -EFAULT },
	{ "last below start", ENTRY(0, 0x2000, 0x1000, RW), 0x1800,
	  0, -EFAULT },
	{ "iova 0, region at the top", ENTRY(0, UINT64_MAX, UINT64_MAX, RW), 0,
	  0, -EFAULT },

	/* Permissions. */
	{ "perm 0", ENTRY(0, 0x1000, 0x1fff, 0), 0x1000, 0, -EINVAL },
	{ "unknown perm bit", ENTRY(0, 0x1000, 0x1fff, 4), 0x1000, 0, -EINVAL },
	{ "RO and an unknown bit", ENTRY(0, 0x1000, 0x1fff, RO | 4), 0x1000,
	  0, -EINVAL },
	{ "RW and an unknown bit", ENTRY(0, 0x1000, 0x1fff, RW | 0x80), 0x1000,
	  0, -EINVAL },
	{ "perm 0xff", ENTRY(0, 0x1000, 0x1fff, 0xff), 0x1000, 0, -EINVAL },

	/* Sizes. */
	{ "the whole IOVA space", ENTRY(0, 0, UINT64_MAX, RW), 0x1000,
	  0, -E2BIG },
	{ "up to the top of the IOVA space", ENTRY(0, 0x1000, UINT64_MAX, RW),
	  0x1000, 0, -E2BIG },
	{ "one byte over the bound", ENTRY(0, 0, MAX, RW), 0, 0, -E2BIG },
	{ "length with the page offset is SIZE_MAX",
	  ENTRY(0x800, 0, SIZE_MAX - 1 - 0x800, RW), 0, 0, -E2BIG },
	{ "length with the page offset wraps to 0",
	  ENTRY(0x800, 0, SIZE_MAX - 0x800, RW), 0, 0, -E2BIG },
	{ "length with the page offset wraps to 0x7ff",
	  ENTRY(0x800, 0, UINT64_MAX - 1, RW), 0x10000, 0, -E2BIG },
	{ "length with the page offset wraps to 0xffe",
	  ENTRY(0xfff, 0, SIZE_MAX - 1, RO), 0, 0, -E2BIG },
	{ "length SIZE_MAX, no page offset",
	  ENTRY(0, 0, SIZE_MAX - 1, RW), 0, 0, -E2BIG },

	/* File offsets. */
	{ "offset UINT64_MAX", ENTRY(UINT64_MAX, 0x1000, 0x1000, RW), 0x1000,
	  0, -EINVAL },
	{ "offset + length wraps",
	  ENTRY(UINT64_MAX - 0xfff, 0x1000, 0x2fff, RW), 0x1000, 0, -EINVAL },
	{ "offset + length is 2^64",
	  ENTRY(UINT64_MAX - 0xfff, 0x1000, 0x1fff, RW), 0x1000, 0, -EINVAL },
	{ "file range one byte past off_t's max",
	  ENTRY(OFF_MAX - 0xffe, 0x1000, 0x1fff, RW), 0x1000, 0, -EINVAL },
	{ "offset past off_t's max", ENTRY(OFF_MAX + 1, 0x1000, 0x1fff, RW),
	  0x1000, 0, -EINVAL },

	/* The caller's page size (0 is tried on its own). */
	{ "page size all ones", ENTRY(0, 0x1000, 0x1fff, RW), 0x1000,
	  UINT64_MAX, -EINVAL },
	{ "page size not a power of 2", ENTRY(0, 0x1000, 0x1fff, RW), 0x1000,
	  0x1800, -EINVAL },
};

/* An accepted plan must map exactly the region, from a page boundary. */
static bool plan_covers(const struct vduse_iotlb_entry *e, uint64_t page,
			const struct vdk__map_plan *p)
{
	uint64_t span = e->last - e->start;

	return p->off % page == 0 && p->addr_off < page &&
	       p->off == e->offset - p->addr_off && p->len > span &&
	       p->len - 1 - span == p->addr_off;
}

static bool plan_is(const struct plan_case *c, int ret,
		    const struct vdk__map_plan *p)
{
	if (ret != c->ret)
		return false;
	if (ret < 0)
		return true;
	return p->off == c->off && p->len == c->len &&
	       p->addr_off == c->addr_off && p->prot == c->prot &&
	       plan_covers(&c->e, c->page ? c->page : PAGE, p);
}

static unsigned int test_plan_table(void)
{
	unsigned int i, bad = 0;

	for (i = 0; i < sizeof(plan_cases) / sizeof(plan_cases[0]); i++) {
		const struct plan_case *c = &plan_cases[i];
		struct vdk__map_plan p = { 0 };
		int ret;

		ret = vdk__kernel_map_plan(&c->e, c->iova,
					   c->page ? c->page : PAGE, &p);
		if (plan_is(c, ret, &p))
			continue;
		bad++;
		printf("not ok - plan: %s: got %d", c->name, ret);
		if (ret == 0)
			printf(" (off %#llx len %#llx addr_off %#llx prot %d)",
			       (unsigned long long)p.off,
			       (unsigned long long)p.len,
			       (unsigned long long)p.addr_off, p.prot);
		printf(", want %d\n", c->ret);
	}
	{
		const struct vduse_iotlb_entry e = ENTRY(0, 0, 0xfff, RW);
		struct vdk__map_plan p;

		if (vdk__kernel_map_plan(&e, 0, 0, &p) != -EINVAL) {
			bad++;
			printf("not ok - plan: page size 0 accepted\n");
		}
	}
	return bad;
}

#ifdef __SIZEOF_INT128__
typedef unsigned __int128 u128;

/* The rules, said again in arithmetic that cannot overflow. */
static int model(const struct vduse_iotlb_entry *e, uint64_t iova,
		 uint64_t page, struct vdk__map_plan *p)
{
	u128 size, page_off;

	if (page == 0 || (page & (page - 1)))
		return -EINVAL;
	if (iova < e->start || iova > e->last)
		return -EFAULT;
	if (e->perm != RO && e->perm != WO && e->perm != RW)
		return -EINVAL;
	size = (u128)e->last - e->start + 1;
	page_off = e->offset % page;
	if (size > MAX || size + page_off > SIZE_MAX)
		return -E2BIG;
	if ((u128)e->offset + size - 1 > OFF_MAX)
		return -EINVAL;
	p->off = (uint64_t)(e->offset - page_off);
	p->len = (size_t)(size + page_off);
	p->addr_off = (size_t)page_off;
	p->prot = e->perm == RO ? PROT_READ : PROT_READ | PROT_WRITE;
	return 0;
}

/* Every combination of values at or next to a boundary. */
static unsigned int test_plan_sweep(void)
{
	static const uint64_t starts[] = {
		0, 1, 0x1000, MAX - 1, MAX, 1ull << 63,
		UINT64_MAX - MAX, UINT64_MAX - 0xfff, UINT64_MAX,
	};
	static const uint64_t spans[] = {
		0, 0xfff, 0x1000, MAX - 2, MAX - 1, MAX,
		SIZE_MAX - 0x1000, SIZE_MAX - 0xfff, SIZE_MAX - 1, SIZE_MAX,
	};
	static const uint64_t offsets[] = {
		0, 1, 0x7ff, 0x800, 0xfff, 0x1000,
		OFF_MAX - MAX, OFF_MAX - 0x1000, OFF_MAX - 0xfff, OFF_MAX,
		OFF_MAX + 1, UINT64_MAX - 0x1000, UINT64_MAX - 0xfff,
		UINT64_MAX,
	};
	static const uint8_t perms[] = { 0, RO, WO, RW, 4, 7 };
	static const uint64_t pages[] = { 0x1000, 0x10000 };
#define N(x) (sizeof(x) / sizeof((x)[0]))
	const unsigned int n = N(starts) * N(spans) * N(offsets) * N(perms) *
			       N(pages) * 4;
	unsigned int i, bad = 0;

	for (i = 0; i < n; i++) {
		unsigned int k = i;
		uint64_t start = starts[k % N(starts)];
		uint64_t span = spans[(k /= N(starts)) % N(spans)];
		uint64_t offset = offsets[(k /= N(spans)) % N(offsets)];
		uint8_t perm = perms[(k /= N(offsets)) % N(perms)];
		uint64_t page = pages[(k /= N(perms)) % N(pages)];
		unsigned int which = (k /= N(pages)) % 4;
		struct vduse_iotlb_entry e = {
			.offset = offset,
			.start = start,
			.last = start + span, /* may wrap: last < start */
			.perm = perm,
		};
		/* In, at either end, and just outside. */
		const uint64_t iovas[4] = {
			e.start, e.last, e.start - 1, e.last + 1,
		};
		struct vdk__map_plan got = { 0 }, want = { 0 };
		int rg, rw;

		rg = vdk__kernel_map_plan(&e, iovas[which], page, &got);
		rw = model(&e, iovas[which], page, &want);
		if (rg == rw && (rg < 0 || (got.off == want.off &&
					    got.len == want.len &&
					    got.addr_off == want.addr_off &&
					    got.prot == want.prot)))
			continue;
		if (bad++ < 10)
			printf("not ok - sweep: offset %#llx start %#llx "
			       "last %#llx perm %u iova %#llx page %#llx: "
			       "got %d len %#llx, want %d\n",
			       (unsigned long long)e.offset,
			       (unsigned long long)e.start,
			       (unsigned long long)e.last, e.perm,
			       (unsigned long long)iovas[which],
			       (unsigned long long)page, rg,
			       (unsigned long long)got.len, rw);
	}
#undef N
	if (bad)
		printf("not ok - sweep: %u of %u combinations wrong\n", bad, n);
	return bad;
}
#else
static unsigned int test_plan_sweep(void)
{
	return 0;
}
#endif

/* ---- a device on the simulator ---- */

#define QSIZE 16
#define RING 0x1000     /* in region [0, DATA) */
#define DATA 0x10000    /* buffers: region [DATA, TABLE) */
#define TABLE 0x20000   /* indirect tables: region [TABLE, REST) */
#define REST 0x30000

/* File offsets when the regions are in memfds: none page-aligned. */
#define RING_FILE 0x100007f0ull /* rings must stay 16-byte aligned */
#define DATA_FILE 0x12345ull
#define TABLE_FILE 0xff8ull

enum target { T_RINGS_START, T_RINGS_RUNNING, T_BUFFER, T_TABLE, T_NUM };

static const char *const target_names[] = {
	"rings at DRIVER_OK", "rings while running", "a buffer",
	"an indirect table",
};

/* The start of the region that gets the odd answer; 0x10000 bytes. */
static uint64_t target_start(enum target t)
{
	return t == T_BUFFER ? DATA : t == T_TABLE ? TABLE : 0;
}

static uint64_t target_file(enum target t)
{
	return t == T_BUFFER ? DATA_FILE :
	       t == T_TABLE  ? TABLE_FILE : RING_FILE;
}

static void dev_init(struct env *e, bool in_files)
{
	static const uint64_t cuts[] = { DATA, TABLE, REST };
	struct env_cfg cfg = {
		.qsize = QSIZE,
		.ring = RING,
		.max_iovecs = 32,
		.features = 1ull << VIRTIO_RING_F_INDIRECT_DESC,
		.no_driver_ok = true,
	};

	env_init(e, &cfg);
	CHECK_EQ(sim_cut(e->s, cuts, 3), 0);
	CHECK_EQ(vdk_dev_process(e->dev), 1);
	if (in_files) {
		CHECK_EQ(sim_region_file(e->s, RING, RING_FILE), 0);
		CHECK_EQ(sim_region_file(e->s, DATA, DATA_FILE), 0);
		CHECK_EQ(sim_region_file(e->s, TABLE, TABLE_FILE), 0);
	}
}

/* Post 16 bytes out, 8 in; @indirect: through a table at TABLE + 0x100. */
static int post(struct env *e, bool indirect, uint8_t tag)
{
	struct sim_buf b[2] = {
		{ DATA + 0x100, 16, false },
		{ DATA + 0x200, 8, true },
	};
	int head;

	sim_fill(e->s, DATA + 0x100, tag, 16);
	sim_fill(e->s, DATA + 0x200, 0, 8);
	head = sim_vq_add(e->s, 0, b, 2, indirect ? TABLE + 0x100 : 0);
	CHECK(head >= 0);
	return head;
}

/* A request served with honest answers, its data where it belongs. */
static void good_request(struct env *e, bool indirect, uint8_t tag)
{
	struct vdk_req *req;
	uint8_t in[8];
	unsigned int i;
	int head;

	head = post(e, indirect, tag);
	req = env_pop_one(e, head);
	CHECK_EQ(req->n_out, 1);
	CHECK_EQ(req->n_in, 1);
	CHECK_EQ(req->out_len, 16);
	for (i = 0; i < 16; i++)
		CHECK_EQ(((uint8_t *)req->iov[0].iov_base)[i], tag);
	memset(req->iov[1].iov_base, tag ^ 0xff, 8);
	env_complete(e, req, 8);
	sim_read(e->s, DATA + 0x200, in, sizeof(in));
	for (i = 0; i < sizeof(in); i++)
		CHECK_EQ(in[i], tag ^ 0xff);
}

/* Completed at once with length 0, counted, logged; the queue serves on. */
static void expect_refused(struct env *e, int head, const char *why)
{
	struct vdk_vq_stats before, after;
	struct vdk_req *req;
	uint16_t id;
	uint32_t len;

	vdk_vq_get_stats(e->vq, &before);
	CHECK_EQ(vdk_vq_pop(e->vq, &req), 0);
	CHECK(!vdk_vq_broken(e->vq));
	CHECK(vdk_vq_notify(e->vq) >= 0);
	CHECK_EQ(sim_vq_used(e->s, 0, &id, &len), 1);
	CHECK_EQ(id, head);
	CHECK_EQ(len, 0);
	vdk_vq_get_stats(e->vq, &after);
	CHECK_EQ(after.bad, before.bad + 1);
	CHECK_EQ(after.popped, before.popped);
	CHECK(strstr(e->last_log, why));
}

/*
 * The odd answers, for the region [rs, rl] whose honest file offset is
 * @off; the library asks for IOVAs from rs + 0x100 on, before rl.
 */
static bool odd_answer(unsigned int i, uint64_t rs, uint64_t rl,
		       uint64_t off, struct sim_answer *a, const char **name)
{
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	/* The page offset that makes the length wrap: not 0. */
	uint64_t wrap_off = off % page ? off : 0x800;

	memset(a, 0, sizeof(*a));
	switch (i) {
	case 0:
		*name = "fails with ENOMEM";
		a->set = SIM_ANS_ERROR;
		a->error = -ENOMEM;
		break;
	case 1:
		*name = "fails with EFAULT";
		a->set = SIM_ANS_ERROR;
		a->error = -EFAULT;
		break;
	case 2:
		*name = "region starts after the iova";
		a->set = SIM_ANS_START;
		a->start = rl;
		break;
	case 3:
		*name = "region ends before the iova";
		a->set = SIM_ANS_LAST;
		a->last = rs;
		break;
	case 4:
		*name = "last below start";
		a->set = SIM_ANS_START | SIM_ANS_LAST;
		a->start = rl;
		a->last = rs;
		break;
	case 5:
		*name = "region up to UINT64_MAX";
		a->set = SIM_ANS_LAST;
		a->last = UINT64_MAX;
		break;
	case 6:
		*name = "the whole IOVA space";
		a->set = SIM_ANS_START | SIM_ANS_LAST;
		a->start = 0;
		a->last = UINT64_MAX;
		break;
	case 7:
		*name = "one byte over the bound";
		a->set = SIM_ANS_LAST;
		a->last = rs + MAX;
		break;
	case 8:
		*name = "page offset wraps the length to less than a page";
		a->set = SIM_ANS_OFFSET | SIM_ANS_START | SIM_ANS_LAST;
		a->offset = wrap_off;
		a->start = 0;
		a->last = UINT64_MAX - 1;
		break;
	case 9:
		*name = "page offset wraps the length to 0";
		a->set = SIM_ANS_OFFSET | SIM_ANS_START | SIM_ANS_LAST;
		a->offset = wrap_off;
		a->start = 0;
		a->last = SIZE_MAX - wrap_off % page;
		break;
	case 10:
		*name = "offset + length wraps";
		a->set = SIM_ANS_OFFSET;
		a->offset = UINT64_MAX - 0xfff;
		break;
	case 11:
		*name = "offset past off_t";
		a->set = SIM_ANS_OFFSET;
		a->offset = OFF_MAX + 1;
		break;
	case 12:
		*name = "perm 0";
		a->set = SIM_ANS_PERM;
		a->perm = 0;
		break;
	case 13:
		*name = "unknown perm bit";
		a->set = SIM_ANS_PERM;
		a->perm = 4;
		break;
	case 14:
		*name = "RW and an unknown bit";
		a->set = SIM_ANS_PERM;
		a->perm = RW | 0x80;
		break;
	case 15:
		*name = "RO and an unknown bit";
		a->set = SIM_ANS_PERM;
		a->perm = RO | 0x40;
		break;
	default:
		return false;
	}
	return true;
}

#define ASK_MANY 1000 /* odd answers until cleared */

static void clear_answers(struct env *e)
{
	CHECK(sim_iotlb_answers_left(e->s) < ASK_MANY); /* it was asked */
	sim_iotlb_answer(e->s, 0, &(struct sim_answer){ 0 }, 0);
}

static void odd_case(enum target t, bool in_files, const struct sim_answer *a)
{
	uint64_t rs = target_start(t);
	struct vdk_req *req;
	struct env e;
	unsigned int q;

	dev_init(&e, in_files);
	if (t == T_RINGS_START) {
		/* The queue never starts; the device does. */
		sim_iotlb_answer(e.s, rs, a, ASK_MANY);
		sim_vq_setup(e.s, 0, QSIZE, RING);
		CHECK_EQ(sim_driver_ok(e.s, e.dev, ENV_BASE_FEATURES |
					      e.cfg.features), 0);
		CHECK(!vdk_vq_ready(e.vq));
		CHECK(vdk_vq_broken(e.vq));
		CHECK(strstr(e.last_log, "rings not mapped"));
		clear_answers(&e);
		env_reset(&e);
		good_request(&e, false, 1);
		env_fini(&e);
		return;
	}
	env_driver_ok(&e);
	good_request(&e, true, 1);
	/* The driver maps the region anew: the library asks again. */
	sim_iotlb_answer(e.s, rs, a, ASK_MANY);
	CHECK_EQ(sim_update_iotlb(e.s, e.dev, rs, rs + 0xffff), 0);
	switch (t) {
	case T_RINGS_RUNNING:
		post(&e, false, 2);
		CHECK_EQ(vdk_vq_pop(e.vq, &req), -EIO);
		CHECK(vdk_vq_broken(e.vq));
		CHECK(strstr(e.last_log, "rings no longer mapped"));
		clear_answers(&e);
		/* Broken stays broken until the driver resets. */
		CHECK_EQ(vdk_vq_pop(e.vq, &req), -EIO);
		env_reset(&e);
		break;
	case T_BUFFER:
		expect_refused(&e, post(&e, false, 2), "buffer not mapped");
		expect_refused(&e, post(&e, true, 3), "buffer not mapped");
		clear_answers(&e);
		break;
	case T_TABLE:
		expect_refused(&e, post(&e, true, 2),
			       "indirect table not mapped");
		/* Other regions are answered honestly meanwhile. */
		good_request(&e, false, 3);
		clear_answers(&e);
		break;
	default:
		CHECK(0);
	}
	for (q = 0; q < 3; q++)
		good_request(&e, q & 1, (uint8_t)(4 + q));
	env_fini(&e);
}

/* Honest answers with offsets that are not page-aligned: served. */
static void honest_files(void)
{
	struct env e;
	unsigned int i;

	dev_init(&e, true);
	env_driver_ok(&e);
	for (i = 0; i < 2 * QSIZE; i++)
		good_request(&e, i & 1, (uint8_t)(i + 1));
	/* Mapped again after an update: the same offsets. */
	CHECK_EQ(sim_update_iotlb(e.s, e.dev, 0, UINT64_MAX), 0);
	good_request(&e, true, 0x55);
	env_fini(&e);
}

/*
 * Run odd_case(@t, @in_files, @a), or honest_files() without @a, in a
 * child: a check that fails or a crash fails that case only, and says
 * so.
 */
static bool run_child(const char *name, enum target t, bool in_files,
		      const struct sim_answer *a)
{
	static unsigned int n;
	int status;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		if (a)
			odd_case(t, in_files, a);
		else
			honest_files();
		exit(T_EXIT_PASS);
	}
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	n++;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		printf("ok %u - %s\n", n, name);
		return true;
	}
	if (WIFSIGNALED(status))
		printf("not ok %u - %s: killed by signal %d\n", n, name,
		       WTERMSIG(status));
	else
		printf("not ok %u - %s: exit %d\n", n, name,
		       WEXITSTATUS(status));
	return false;
}

int main(void)
{
	unsigned int bad, t, f, i;

	bad = test_plan_table();
	bad += test_plan_sweep();
	if (!bad)
		printf("ok - the plan's %zu cases and the sweep\n",
		       sizeof(plan_cases) / sizeof(plan_cases[0]));
	if (!run_child("honest answers, offsets not page-aligned", 0, true,
		       NULL))
		bad++;
	for (t = 0; t < T_NUM; t++) {
		for (f = 0; f < 2; f++) {
			uint64_t rs = target_start(t);
			struct sim_answer a;
			const char *what;
			char name[160];

			for (i = 0; odd_answer(i, rs, rs + 0xffff,
					       f ? target_file(t) : 0, &a,
					       &what); i++) {
				snprintf(name, sizeof(name), "%s, %s: %s",
					 target_names[t],
					 f ? "in a file" : "on the heap",
					 what);
				if (!run_child(name, t, f, &a))
					bad++;
			}
		}
	}
	return bad ? T_EXIT_FAIL : T_EXIT_PASS;
}
