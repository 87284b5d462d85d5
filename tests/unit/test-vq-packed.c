/* SPDX-License-Identifier: MIT */
/*
 * Packed virtqueues (lib/vq-packed.c) against the simulator's packed
 * driver: the split tests' cases, ported.
 *
 *   basic:   direct and indirect chains, with and without the event
 *            index, rings of odd sizes, completions out of order, many
 *            laps of the ring; data checked byte for byte both ways.
 *   hostile: each malformed chain refused (completed once, length 0,
 *            counted, logged) with the queue serving on; each ring that
 *            makes no sense breaks the queue until a reset.
 *   notify:  the driver's event suppression (enable, disable, an event
 *            position across laps) and ours (set_kick, pending).
 *   restart: the in-flight log: a daemon killed with chains in flight,
 *            some of several descriptors, some completed out of order;
 *            one killed in the middle of a completion; a log that makes
 *            no sense.
 * The ring-agnostic unit tests also run on packed rings
 * (VDK_TEST_PACKED=1, tests/unit/meson.build).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "env.h"
#include "internal.h"

#define DATA 0x10000   /* well-formed buffers */
#define TABLE 0x20000  /* indirect tables */
#define HOLE 0x30000   /* made unmapped, read-only or write-only */
#define HOLE_LEN 0x1000

#define NEXT VRING_DESC_F_NEXT
#define WRITE VRING_DESC_F_WRITE
#define INDIRECT VRING_DESC_F_INDIRECT

static struct vring_packed_desc pd(uint64_t addr, uint32_t len, uint16_t id,
				   uint16_t flags)
{
	struct vring_packed_desc d = {
		.addr = htole64(addr),
		.len = htole32(len),
		.id = htole16(id),
		.flags = htole16(flags),
	};

	return d;
}

static void put_ind(struct env *e, uint64_t table, unsigned int i,
		    uint64_t addr, uint32_t len, uint16_t flags)
{
	struct vring_packed_desc d = pd(addr, len, 0, flags);

	sim_write(e->s, table + 16ull * i, &d, sizeof(d));
}

/* A device of queue size 64 whose driver picks @num (any size). */
static struct env_cfg packed_cfg(unsigned int num, uint64_t features)
{
	struct env_cfg c = {
		.qsize = 64,
		.num = num,
		.features = features,
		.packed = true,
	};

	return c;
}

/* ---- basic ---- */

static void basic(bool event_idx, bool indirect, unsigned int qsize)
{
	struct env_cfg c = packed_cfg(qsize, indirect ?
				      1ull << VIRTIO_RING_F_INDIRECT_DESC : 0);
	unsigned int round, irqs = 0;
	struct vdk_req *req;
	struct env e;

	if (event_idx)
		c.features |= 1ull << VIRTIO_RING_F_EVENT_IDX;
	env_init(&e, &c);
	CHECK_EQ(vdk_vq_size(e.vq), qsize);
	CHECK_EQ(vdk_vq_pop(e.vq, &req), 0);
	for (round = 0; round < 300; round++) {
		unsigned char out[100], in[300];
		struct sim_buf b[3] = {
			{ DATA, 100, false },
			{ DATA + 4096, 200, true },
			{ DATA + 8192, 100, true },
		};
		unsigned int i, n = qsize >= 3 || indirect ? 3 : 1;
		uint16_t id;
		uint32_t len;
		int head;

		for (i = 0; i < sizeof(out); i++)
			out[i] = (unsigned char)(round + i);
		sim_write(e.s, DATA, out, sizeof(out));
		sim_fill(e.s, DATA + 4096, 0, 200);
		sim_fill(e.s, DATA + 8192, 0, 100);
		if (n == 1)
			b[0].write = false;
		head = sim_vq_add(e.s, 0, b, n, indirect ? TABLE : 0);
		CHECK(head >= 0);
		CHECK(vdk_vq_pending(e.vq));
		sim_vq_kick(e.s, 0, false);
		req = env_pop_one(&e, head);
		CHECK_EQ(req->n_out, 1);
		CHECK_EQ(req->out_len, 100);
		CHECK(memcmp(req->iov[0].iov_base, out, 100) == 0);
		if (n == 3) {
			CHECK_EQ(req->n_in, 2);
			CHECK_EQ(req->in_len, 300);
			memset(req->iov[1].iov_base, 0xa5, req->iov[1].iov_len);
			memset(req->iov[2].iov_base, 0x5a, req->iov[2].iov_len);
		}
		vdk_vq_push(e.vq, req, n == 3 ? 300 : 0);
		CHECK_EQ(vdk_vq_notify(e.vq), 1);
		irqs++;
		CHECK_EQ(sim_vq_used(e.s, 0, &id, &len), 1);
		CHECK_EQ(id, head);
		CHECK_EQ(len, n == 3 ? 300 : 0);
		CHECK_EQ(sim_vq_used(e.s, 0, &id, &len), 0);
		if (n == 3) {
			sim_read(e.s, DATA + 4096, in, 200);
			sim_read(e.s, DATA + 8192, in + 200, 100);
			for (i = 0; i < 300; i++)
				CHECK_EQ(in[i], i < 200 ? 0xa5 : 0x5a);
		}
	}
	CHECK_EQ(sim_vq_irqs(e.s, 0), irqs);
	CHECK_EQ(vdk_vq_inflight(e.vq), 0);
	CHECK_EQ(e.logs, 0);
	env_fini(&e);
}

/*
 * Several chains at once, completed in an order of their own: the used
 * descriptors go where the next completion goes, whatever its id, and
 * the positions keep in step over many laps of an odd-sized ring.
 */
static void out_of_order(unsigned int qsize)
{
	struct env_cfg c = packed_cfg(qsize, 0);
	unsigned int round, seen[64] = { 0 };
	struct env e;

	env_init(&e, &c);
	for (round = 0; round < 200; round++) {
		struct vdk_req *reqs[8];
		int heads[8];
		unsigned int n = 1 + round % 4, i, got = 0;
		uint16_t id;
		uint32_t len;

		for (i = 0; i < n; i++) {
			struct sim_buf b[2] = {
				{ DATA + 0x100 * i, 16, false },
				{ DATA + 0x1000 + 0x100 * i, 8, true },
			};

			/* 2 descriptors each: n chains fit in the ring. */
			heads[i] = sim_vq_add(e.s, 0, b, 2, 0);
			CHECK(heads[i] >= 0);
		}
		for (i = 0; i < n; i++) {
			CHECK_EQ(vdk_vq_pop(e.vq, &reqs[i]), 1);
			CHECK_EQ(reqs[i]->id, heads[i]);
		}
		CHECK_EQ(vdk_vq_pop(e.vq, &reqs[n]), 0);
		/* Backwards, or from the middle. */
		for (i = 0; i < n; i++) {
			unsigned int k = round & 1 ? n - 1 - i :
						     (i + n / 2) % n;

			vdk_vq_push(e.vq, reqs[k], 8);
		}
		CHECK(vdk_vq_notify(e.vq) >= 0);
		while (sim_vq_used(e.s, 0, &id, &len) == 1) {
			CHECK(id < qsize);
			CHECK_EQ(len, 8);
			seen[id]++;
			got++;
		}
		CHECK_EQ(got, n);
	}
	CHECK_EQ(vdk_vq_inflight(e.vq), 0);
	CHECK_EQ(e.logs, 0);
	(void)seen;
	env_fini(&e);
}

/* A chain that crosses the end of the ring: its tail in the next lap. */
static void chain_across_wrap(void)
{
	struct env_cfg c = packed_cfg(5, 0);
	struct sim_buf b[4] = {
		{ DATA, 16, false },
		{ DATA + 0x100, 16, false },
		{ DATA + 0x200, 16, true },
		{ DATA + 0x300, 16, true },
	};
	struct vdk_req *req;
	unsigned int i;
	struct env e;
	int head;

	env_init(&e, &c);
	for (i = 0; i < 20; i++) {
		head = sim_vq_add(e.s, 0, b, 4, 0);
		CHECK(head >= 0);
		req = env_pop_one(&e, head);
		CHECK_EQ(req->n_out, 2);
		CHECK_EQ(req->n_in, 2);
		CHECK_EQ(req->out_len, 32);
		env_complete(&e, req, 32);
	}
	env_fini(&e);
}

/* ---- hostile ---- */

static const struct env_cfg hostile_base = {
	.qsize = 16,
	.max_iovecs = 32,
	.features = 1ull << VIRTIO_RING_F_INDIRECT_DESC,
	.packed = true,
};

static void good_request(struct env *e)
{
	struct sim_buf b[2] = {
		{ DATA, 16, false },
		{ DATA + 0x100, 8, true },
	};
	uint8_t out[16], in[8];
	struct vdk_req *req;
	unsigned int i;
	int head;

	for (i = 0; i < sizeof(out); i++)
		out[i] = (uint8_t)(0x40 + i);
	sim_write(e->s, DATA, out, sizeof(out));
	sim_fill(e->s, DATA + 0x100, 0, sizeof(in));
	head = sim_vq_add(e->s, 0, b, 2, 0);
	CHECK(head >= 0);
	req = env_pop_one(e, head);
	CHECK_EQ(req->n_out, 1);
	CHECK_EQ(req->n_in, 1);
	CHECK(memcmp(req->iov[0].iov_base, out, sizeof(out)) == 0);
	memset(req->iov[1].iov_base, 0x77, 8);
	env_complete(e, req, 8);
	sim_read(e->s, DATA + 0x100, in, sizeof(in));
	for (i = 0; i < sizeof(in); i++)
		CHECK_EQ(in[i], 0x77);
}

static void check_log(const struct env *e, const char *why)
{
	if (!strstr(e->last_log, why)) {
		fprintf(stderr, "log \"%s\" lacks \"%s\"\n", e->last_log, why);
		exit(T_EXIT_FAIL);
	}
}

/*
 * Post the chain @d[0..n) and expect it refused: completed once with
 * length 0 under the id of its last descriptor, counted, logged with
 * @why, and the queue still serving.
 */
static void expect_refused(struct env *e, const struct vring_packed_desc *d,
			   unsigned int n, const char *why)
{
	struct vdk_vq_stats before, after;
	unsigned int logs = e->logs;
	struct vdk_req *req;
	uint16_t id;
	uint32_t len;

	vdk_vq_get_stats(e->vq, &before);
	sim_pvq_raw_post(e->s, 0, d, n);
	CHECK(vdk_vq_pending(e->vq));
	CHECK_EQ(vdk_vq_pop(e->vq, &req), 0);
	CHECK(!vdk_vq_broken(e->vq));
	CHECK_EQ(vdk_vq_inflight(e->vq), 0);
	CHECK(vdk_vq_notify(e->vq) >= 0);
	CHECK_EQ(sim_vq_used(e->s, 0, &id, &len), 1);
	CHECK_EQ(id, le16toh(d[n - 1].id));
	CHECK_EQ(len, 0);
	CHECK_EQ(sim_vq_used(e->s, 0, &id, &len), 0);
	vdk_vq_get_stats(e->vq, &after);
	CHECK_EQ(after.bad, before.bad + 1);
	CHECK_EQ(after.popped, before.popped);
	CHECK_EQ(after.pushed, before.pushed + 1);
	CHECK_EQ(e->logs, logs + 1);
	CHECK_EQ(e->last_level, VDK_LOG_WARNING);
	check_log(e, why);
	good_request(e);
	good_request(e);
}

/* Broken: -EIO whatever the driver does, until a reset. */
static void expect_broken(struct env *e, const char *why)
{
	struct vdk_req *req;
	unsigned int i;

	CHECK_EQ(vdk_vq_pop(e->vq, &req), -EIO);
	CHECK(vdk_vq_broken(e->vq));
	CHECK(!vdk_vq_pending(e->vq));
	CHECK_EQ(e->last_level, VDK_LOG_ERR);
	check_log(e, why);
	for (i = 0; i < 3; i++)
		CHECK_EQ(vdk_vq_pop(e->vq, &req), -EIO);
	CHECK(vdk_vq_notify(e->vq) >= 0);
	env_reset(e);
	good_request(e);
	CHECK(!vdk_vq_broken(e->vq));
}

static void case_buffers(struct env *e)
{
	struct vring_packed_desc d[3];

	d[0] = pd(UINT64_MAX - 9, 100, 3, 0);
	expect_refused(e, d, 1, "wraps");
	d[0] = pd(DATA, 16, 3, NEXT);
	d[1] = pd(UINT64_MAX, 2, 3, WRITE);
	expect_refused(e, d, 2, "wraps");
	d[0] = pd(UINT64_MAX - 99, 100, 4, 0);
	expect_refused(e, d, 1, "not mapped");
	d[0] = pd(DATA, 16, 5, NEXT);
	d[1] = pd(DATA + 0x100, 8, 5, WRITE | NEXT);
	d[2] = pd(DATA + 0x200, 8, 5, 0);
	expect_refused(e, d, 3, "readable after writable");
	d[0] = pd(DATA, 0, 6, WRITE | NEXT);
	d[1] = pd(DATA, 16, 6, 0);
	expect_refused(e, d, 2, "readable after writable");
	d[0] = pd(e->cfg.mem + 0x1000, 16, 7, 0);
	expect_refused(e, d, 1, "not mapped");
}

static void case_permissions(struct env *e)
{
	struct vring_packed_desc d[2];

	CHECK_EQ(sim_set_perm(e->s, HOLE, HOLE + 0x7ff, VDUSE_ACCESS_RO), 0);
	CHECK_EQ(sim_set_perm(e->s, HOLE + 0x800, HOLE + 0xfff,
			      VDUSE_ACCESS_WO),
		 0);
	CHECK_EQ(vdk_dev_process(e->dev), 2);
	d[0] = pd(DATA, 16, 1, NEXT);
	d[1] = pd(HOLE, 16, 1, WRITE);
	expect_refused(e, d, 2, "not mapped");
	d[0] = pd(HOLE + 0x800, 16, 2, 0);
	expect_refused(e, d, 1, "not mapped");
	CHECK_EQ(sim_set_perm(e->s, HOLE, HOLE + 0xfff, 0), 0);
	CHECK_EQ(vdk_dev_process(e->dev), 1);
	d[0] = pd(HOLE - 8, 16, 2, 0);
	expect_refused(e, d, 1, "not mapped");
}

static void case_indirect(struct env *e)
{
	struct vring_packed_desc d[2];

	put_ind(e, TABLE, 0, DATA, 16, 0);
	d[0] = pd(TABLE, 16, 1, INDIRECT | NEXT);
	d[1] = pd(DATA + 0x100, 8, 1, WRITE);
	expect_refused(e, d, 2, "indirect descriptor with NEXT");
	put_ind(e, TABLE, 1, TABLE, 16, INDIRECT);
	d[0] = pd(TABLE, 32, 2, INDIRECT);
	expect_refused(e, d, 1, "nested indirect");
	d[0] = pd(TABLE, 0, 2, INDIRECT);
	expect_refused(e, d, 1, "bad indirect table length");
	d[0] = pd(TABLE, 24, 2, INDIRECT);
	expect_refused(e, d, 1, "bad indirect table length");
	d[0] = pd(TABLE, 0xfffffff0u, 2, INDIRECT);
	expect_refused(e, d, 1, "indirect table too long");
	d[0] = pd(UINT64_MAX - 15, 32, 2, INDIRECT);
	expect_refused(e, d, 1, "indirect table wraps");
}

/* Each case may log VDK_LOG_BURST times in its window: two cases. */
static void case_indirect_more(struct env *e)
{
	unsigned int max = e->cfg.max_iovecs, i;
	struct vring_packed_desc d[2];
	struct vdk_req *req;

	/* Readable after writable inside the table. */
	put_ind(e, TABLE, 0, DATA, 16, WRITE);
	put_ind(e, TABLE, 1, DATA, 16, 0);
	d[0] = pd(TABLE, 32, 3, INDIRECT);
	expect_refused(e, d, 1, "readable after writable");
	/* Writable direct descriptor, then a table of readable ones. */
	put_ind(e, TABLE, 0, DATA, 16, 0);
	d[0] = pd(DATA + 0x100, 8, 4, WRITE | NEXT);
	d[1] = pd(TABLE, 16, 4, INDIRECT);
	expect_refused(e, d, 2, "readable after writable");
	/* max_iovecs + 1 entries, then exactly max_iovecs, NEXT or not. */
	for (i = 0; i <= max; i++)
		put_ind(e, TABLE, i, DATA + i, 1, i & 1 ? NEXT : 0);
	d[0] = pd(TABLE, 16 * (max + 1), 5, INDIRECT);
	expect_refused(e, d, 1, "indirect table too long");
	d[0] = pd(TABLE, 16 * max, 5, INDIRECT);
	sim_pvq_raw_post(e->s, 0, d, 1);
	req = env_pop_one(e, 5);
	CHECK_EQ(req->out_len, max);
	CHECK_EQ(req->n_out, max);
	env_complete(e, req, 0);
	/* Direct descriptors then a table: one request. */
	put_ind(e, TABLE, 0, DATA + 0x200, 8, WRITE);
	d[0] = pd(DATA, 16, 6, NEXT);
	d[1] = pd(TABLE, 16, 6, INDIRECT);
	sim_pvq_raw_post(e->s, 0, d, 2);
	req = env_pop_one(e, 6);
	CHECK_EQ(req->n_out, 1);
	CHECK_EQ(req->n_in, 1);
	env_complete(e, req, 8);
	/* A table that is not mapped, or only half. */
	CHECK_EQ(sim_set_perm(e->s, HOLE, HOLE + HOLE_LEN - 1, 0), 0);
	CHECK_EQ(vdk_dev_process(e->dev), 1);
	d[0] = pd(HOLE, 32, 7, INDIRECT);
	expect_refused(e, d, 1, "indirect table not mapped");
	d[0] = pd(HOLE - 16, 32, 7, INDIRECT);
	expect_refused(e, d, 1, "indirect table not mapped");
}

static void case_too_many_pieces(struct env *e)
{
	struct vring_packed_desc d[1];
	uint64_t cuts[40];
	unsigned int i;

	/* A buffer over 40 regions needs 40 vectors: max_iovecs is 32. */
	for (i = 0; i < 40; i++)
		cuts[i] = DATA + 0x2000 + 16 * (i + 1);
	CHECK_EQ(sim_cut(e->s, cuts, 40), 0);
	CHECK_EQ(vdk_dev_process(e->dev), 1);
	d[0] = pd(DATA + 0x2000, 16 * 40, 9, 0);
	expect_refused(e, d, 1, "too many buffer pieces");
}

static void case_length_sum_4g(struct env *e)
{
	const uint64_t big = 0x1000000, blen = 32u << 20;
	struct vring_packed_desc d[1];
	struct vdk_req *req;
	unsigned int i;

	for (i = 0; i < 128; i++)
		put_ind(e, TABLE, i, big, (uint32_t)blen, WRITE);
	d[0] = pd(TABLE, 16 * 128, 2, INDIRECT);
	expect_refused(e, d, 1, "longer than 4 GiB");
	put_ind(e, TABLE, 127, big, (uint32_t)blen - 1, WRITE);
	sim_pvq_raw_post(e->s, 0, d, 1);
	req = env_pop_one(e, 2);
	CHECK_EQ(req->in_len, UINT32_MAX);
	env_complete(e, req, UINT32_MAX);
}

static void case_zero_length(struct env *e)
{
	struct vring_packed_desc d[4];
	struct vdk_req *req;
	uint16_t id;
	uint32_t len;

	d[0] = pd(DATA, 16, 0, NEXT);
	d[1] = pd(HOLE + 0x12345678, 0, 0, NEXT);
	d[2] = pd(DATA + 0x100, 1, 0, WRITE | NEXT);
	d[3] = pd(UINT64_MAX, 0, 0, WRITE);
	sim_pvq_raw_post(e->s, 0, d, 4);
	req = env_pop_one(e, 0);
	CHECK_EQ(req->n_out, 1);
	CHECK_EQ(req->n_in, 1);
	env_complete(e, req, 1);
	d[0] = pd(0, 0, 3, 0);
	sim_pvq_raw_post(e->s, 0, d, 1);
	req = env_pop_one(e, 3);
	CHECK_EQ(req->n_out + req->n_in, 0);
	vdk_vq_push(e->vq, req, 100);
	CHECK(vdk_vq_notify(e->vq) >= 0);
	CHECK_EQ(sim_vq_used(e->s, 0, &id, &len), 1);
	CHECK_EQ(id, 3);
	CHECK_EQ(len, 0);
	CHECK_EQ(e->logs, 0);
}

/* A chain of the whole ring is fine; the ring full of chains too. */
static void case_full_ring(struct env *e)
{
	struct vring_packed_desc d[16];
	struct vdk_req *reqs[16], *extra;
	unsigned int i;

	for (i = 0; i < 16; i++)
		d[i] = pd(DATA + 0x10 * i, 16, 9, i < 15 ? NEXT : 0);
	sim_pvq_raw_post(e->s, 0, d, 16);
	reqs[0] = env_pop_one(e, 9);
	CHECK_EQ(reqs[0]->out_len, 16 * 16);
	env_complete(e, reqs[0], 0);
	for (i = 0; i < 16; i++) {
		struct sim_buf b = { DATA + 0x10 * i, 16, false };

		CHECK(sim_vq_add(e->s, 0, &b, 1, 0) >= 0);
	}
	for (i = 0; i < 16; i++)
		CHECK_EQ(vdk_vq_pop(e->vq, &reqs[i]), 1);
	CHECK_EQ(vdk_vq_pop(e->vq, &extra), 0);
	for (i = 0; i < 16; i++)
		vdk_vq_push(e->vq, reqs[i], 0);
	CHECK_EQ(vdk_vq_notify(e->vq), 1);
	for (i = 0; i < 16; i++) {
		uint16_t id;
		uint32_t len;

		CHECK_EQ(sim_vq_used(e->s, 0, &id, &len), 1);
		CHECK_EQ(id, reqs[i]->id);
	}
	CHECK_EQ(e->logs, 0);
	good_request(e);
}

static void case_id_out_of_range(struct env *e)
{
	struct vring_packed_desc d[2];

	d[0] = pd(DATA, 16, 16, 0);
	sim_pvq_raw_post(e->s, 0, d, 1);
	expect_broken(e, "buffer id out of range");
	/* Only the last descriptor's id counts. */
	d[0] = pd(DATA, 16, 1, NEXT);
	d[1] = pd(DATA, 16, 0xffff, 0);
	sim_pvq_raw_post(e->s, 0, d, 2);
	expect_broken(e, "buffer id out of range");
}

static void case_id_twice(struct env *e)
{
	struct vring_packed_desc d[1];
	struct vdk_req *req;

	d[0] = pd(DATA, 16, 4, 0);
	sim_pvq_raw_post(e->s, 0, d, 1);
	CHECK_EQ(vdk_vq_pop(e->vq, &req), 1);
	sim_pvq_raw_post(e->s, 0, d, 1);
	expect_broken(e, "already in flight");
}

/*
 * NEXT on every descriptor: the chain runs round the ring into its own
 * head, which is not available in the next lap.  With a request in
 * flight, a chain of the whole ring is more than there is room for.
 */
static void case_chain_too_long(struct env *e)
{
	struct vring_packed_desc d[16];
	struct vdk_req *req;
	unsigned int i;

	for (i = 0; i < 16; i++)
		d[i] = pd(DATA, 16, 1, NEXT);
	sim_pvq_raw_post(e->s, 0, d, 16);
	expect_broken(e, "not available");
	d[0] = pd(DATA, 16, 2, 0);
	sim_pvq_raw_post(e->s, 0, d, 1);
	CHECK_EQ(vdk_vq_pop(e->vq, &req), 1);
	for (i = 0; i < 16; i++)
		d[i] = pd(DATA, 16, 3, i < 15 ? NEXT : 0);
	sim_pvq_raw_post(e->s, 0, d, 16);
	expect_broken(e, "longer than the ring's room");
}

/* The head is available, the descriptor after it is not. */
static void case_tail_not_available(struct env *e)
{
	struct vring_packed_desc d[2];
	uint16_t idx;
	bool wrap;

	sim_pvq_position(e->s, 0, &idx, &wrap);
	d[0] = pd(DATA, 16, 1, NEXT);
	d[1] = pd(DATA, 16, 1, 0);
	sim_pvq_raw_post(e->s, 0, d, 2);
	/* Descriptor 2 of the chain as it was: flags of the last lap. */
	sim_pvq_raw_write(e->s, 0, idx + 1, DATA, 16, 1,
			  wrap ? 1u << VRING_PACKED_DESC_F_USED :
				 1u << VRING_PACKED_DESC_F_AVAIL);
	expect_broken(e, "not available");
}

static void case_rings_unmapped(struct env *e)
{
	struct vdk_req *req;

	CHECK_EQ(sim_set_perm(e->s, 0, 0xffff, 0), 0);
	CHECK_EQ(vdk_dev_process(e->dev), 1);
	CHECK_EQ(vdk_vq_pop(e->vq, &req), -EIO);
	CHECK(vdk_vq_broken(e->vq));
	check_log(e, "rings no longer mapped");
	CHECK_EQ(sim_set_perm(e->s, 0, 0xffff, VDUSE_ACCESS_RW), 0);
	CHECK_EQ(vdk_dev_process(e->dev), 1);
	expect_broken(e, "rings no longer mapped");
	/* The ring read-only: we could not write used descriptors. */
	CHECK_EQ(sim_set_status(e->s, e->dev, 0), 0);
	sim_pvq_setup(e->s, 0, 16, e->cfg.ring);
	CHECK_EQ(sim_set_perm(e->s, 0, 0xffff, VDUSE_ACCESS_RO), 0);
	CHECK_EQ(sim_driver_ok(e->s, e->dev,
			       ENV_BASE_FEATURES | e->cfg.features |
				       1ull << VIRTIO_F_RING_PACKED),
		 0);
	CHECK(vdk_vq_broken(e->vq));
	CHECK(!vdk_vq_ready(e->vq));
	check_log(e, "rings not mapped");
	CHECK_EQ(sim_set_perm(e->s, 0, 0xffff, VDUSE_ACCESS_RW), 0);
	env_reset(e);
	good_request(e);
}

/* Sizes: any up to the maximum, not only powers of 2; positions sane. */
static void case_sizes_and_positions(struct env *e)
{
	static const struct vduse_vq_state_packed bad[] = {
		{ .last_avail_idx = 16, .last_avail_counter = 1 },
		{ .last_avail_idx = 0x8001, .last_avail_counter = 1 },
		{ .last_avail_idx = 1, .last_avail_counter = 2 },
		{ .last_used_idx = 0x8000, .last_used_counter = 1 },
	};
	uint64_t f = ENV_BASE_FEATURES | e->cfg.features |
		     1ull << VIRTIO_F_RING_PACKED;
	struct vduse_vq_state_packed st = {
		.last_avail_idx = 5, .last_avail_counter = 0,
		.last_used_idx = 5, .last_used_counter = 0,
	};
	unsigned int i;
	struct vdk_req *req;

	CHECK_EQ(sim_set_status(e->s, e->dev, 0), 0);
	sim_pvq_setup(e->s, 0, 32, e->cfg.ring);
	CHECK_EQ(sim_driver_ok(e->s, e->dev, f), 0);
	CHECK(!vdk_vq_ready(e->vq));
	check_log(e, "bad size");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_EQ(sim_set_status(e->s, e->dev, 0), 0);
		sim_pvq_setup(e->s, 0, 16, e->cfg.ring);
		sim_pvq_set_state(e->s, 0, &bad[i]);
		CHECK_EQ(sim_driver_ok(e->s, e->dev, f), 0);
		CHECK(!vdk_vq_ready(e->vq));
		check_log(e, "bad packed positions");
	}
	/* A ring of 7 that the VMM restored at position 5, counter 0. */
	CHECK_EQ(sim_set_status(e->s, e->dev, 0), 0);
	sim_pvq_setup(e->s, 0, 7, e->cfg.ring);
	sim_pvq_set_state(e->s, 0, &st);
	CHECK_EQ(sim_driver_ok(e->s, e->dev, f), 0);
	CHECK(vdk_vq_ready(e->vq));
	/* The driver side starts at 0/1: write where the device looks. */
	for (i = 0; i < 7; i++)
		sim_pvq_raw_write(e->s, 0, i, DATA, 16, 2, 0);
	sim_pvq_raw_write(e->s, 0, 5, DATA, 16, 2,
			  1u << VRING_PACKED_DESC_F_USED);
	CHECK_EQ(vdk_vq_pop(e->vq, &req), 1);
	CHECK_EQ(req->id, 2);
	vdk_vq_push(e->vq, req, 0);
	{
		struct vring_packed_desc r;

		sim_read(e->s, e->cfg.ring + 5 * 16, &r, sizeof(r));
		CHECK_EQ(le16toh(r.id), 2);
		/* Used in the lap of counter 0: AVAIL = USED = 0. */
		CHECK_EQ(le16toh(r.flags) & 0x8080, 0);
	}
	env_reset(e);
	good_request(e);
}

static void case_flood(struct env *e)
{
	struct vring_packed_desc d[1] = { pd(DATA, 8, 0, INDIRECT) };
	struct vdk_vq_stats st;
	struct vdk_req *req;
	unsigned int i;

	for (i = 0; i < 1000; i++) {
		uint16_t id;
		uint32_t len;

		sim_pvq_raw_post(e->s, 0, d, 1);
		CHECK_EQ(vdk_vq_pop(e->vq, &req), 0);
		CHECK(vdk_vq_notify(e->vq) >= 0);
		CHECK_EQ(sim_vq_used(e->s, 0, &id, &len), 1);
		CHECK_EQ(id, 0);
		CHECK_EQ(len, 0);
	}
	vdk_vq_get_stats(e->vq, &st);
	CHECK_EQ(st.bad, 1000);
	CHECK(e->logs <= VDK_LOG_BURST + 1);
	/* A ring full of bad chains: one pop refuses at most a ring. */
	for (i = 0; i < 16; i++)
		sim_pvq_raw_post(e->s, 0, d, 1);
	CHECK_EQ(vdk_vq_pop(e->vq, &req), 0);
	vdk_vq_get_stats(e->vq, &st);
	CHECK_EQ(st.bad, 1016);
	CHECK(!vdk_vq_pending(e->vq));
	CHECK(vdk_vq_notify(e->vq) >= 0);
	for (i = 0; i < 16; i++) {
		uint16_t id;
		uint32_t len;

		CHECK_EQ(sim_vq_used(e->s, 0, &id, &len), 1);
	}
	good_request(e);
}

static void case_double_push(struct env *e)
{
	struct vdk_req *req;
	uint16_t id;
	uint32_t len;
	int head;

	head = sim_vq_add(e->s, 0, &(struct sim_buf){ DATA, 16, false }, 1, 0);
	req = env_pop_one(e, head);
	env_complete(e, req, 0);
	vdk_vq_push(e->vq, req, 0);
	CHECK(vdk_vq_notify(e->vq) >= 0);
	CHECK_EQ(sim_vq_used(e->s, 0, &id, &len), 0);
	CHECK_EQ(e->logs, 1);
	check_log(e, "not in flight");
	good_request(e);
}

struct hostile_case {
	const char *name;
	void (*fn)(struct env *e);
	uint64_t mem;
};

static const struct hostile_case cases[] = {
	{ "buffers", case_buffers, 0 },
	{ "permissions", case_permissions, 0 },
	{ "indirect tables", case_indirect, 0 },
	{ "indirect tables, more", case_indirect_more, 0 },
	{ "too many pieces", case_too_many_pieces, 0 },
	{ "length sum over 4 GiB", case_length_sum_4g, 0x11000000 },
	{ "zero-length descriptors", case_zero_length, 0 },
	{ "full ring", case_full_ring, 0 },
	{ "id out of range", case_id_out_of_range, 0 },
	{ "id twice in flight", case_id_twice, 0 },
	{ "chain too long", case_chain_too_long, 0 },
	{ "tail not available", case_tail_not_available, 0 },
	{ "rings unmapped", case_rings_unmapped, 0 },
	{ "sizes and positions", case_sizes_and_positions, 0 },
	{ "flood", case_flood, 0 },
	{ "double push", case_double_push, 0 },
};

static void hostile(void)
{
	unsigned int i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct env_cfg cfg = hostile_base;
		struct env e;

		if (cases[i].mem) {
			cfg.mem = cases[i].mem;
			cfg.max_iovecs = 0;
		}
		env_init(&e, &cfg);
		cases[i].fn(&e);
		env_fini(&e);
		printf("ok - hostile: %s\n", cases[i].name);
	}
}

/* ---- notify ---- */

static int post_one(struct env *e)
{
	struct sim_buf b = { DATA, 16, true };
	int head = sim_vq_add(e->s, 0, &b, 1, 0);

	CHECK(head >= 0);
	return head;
}

static void serve_one(struct env *e)
{
	struct vdk_req *req;

	post_one(e);
	CHECK_EQ(vdk_vq_pop(e->vq, &req), 1);
	vdk_vq_push(e->vq, req, 0);
}

static void reap(struct env *e)
{
	uint16_t id;
	uint32_t len;

	while (sim_vq_used(e->s, 0, &id, &len))
		;
}

static void notify_flags(void)
{
	struct env_cfg c = packed_cfg(8, 0);
	struct env e;

	env_init(&e, &c);
	serve_one(&e);
	CHECK_EQ(vdk_vq_notify(&e.vq[0]), 1);
	/* Nothing new: nothing to say. */
	CHECK_EQ(vdk_vq_notify(e.vq), 0);
	reap(&e);
	sim_vq_set_no_interrupt(e.s, 0, true);
	serve_one(&e);
	CHECK_EQ(vdk_vq_notify(e.vq), 0);
	reap(&e);
	sim_vq_set_no_interrupt(e.s, 0, false);
	serve_one(&e);
	CHECK_EQ(vdk_vq_notify(e.vq), 1);
	reap(&e);
	/* DESC without the event index negotiated: interrupt anyway. */
	sim_pvq_set_event(e.s, 0, VRING_PACKED_EVENT_FLAG_DESC, 0x7fff);
	serve_one(&e);
	CHECK_EQ(vdk_vq_notify(e.vq), 1);
	reap(&e);
	CHECK_EQ(sim_vq_irqs(e.s, 0), 3);
	env_fini(&e);
}

/*
 * With the event index: an interrupt when the used position goes past
 * the one the driver names, in this lap or the one before, never for
 * one a lap ahead.  Ring of 5, one descriptor per request.
 */
static void notify_event_idx(void)
{
	struct env_cfg c = packed_cfg(5, 1ull << VIRTIO_RING_F_EVENT_IDX);
	unsigned int i, irqs;
	struct env e;

	env_init(&e, &c);
	serve_one(&e);
	CHECK_EQ(vdk_vq_notify(e.vq), 1); /* the first: always */
	reap(&e);
	for (i = 0; i < 40; i++) {
		uint16_t pos = sim_pvq_used_pos(e.s, 0), at;
		unsigned int k, n = 1 + i % 3;

		/* Interrupt me when entry pos + (n - 1) is used. */
		at = (uint16_t)((pos & 0x7fff) + n - 1);
		if (at >= 5)
			at = (uint16_t)((at - 5) | ((pos ^ 0x8000) & 0x8000));
		else
			at = (uint16_t)(at | (pos & 0x8000));
		sim_pvq_set_event(e.s, 0, VRING_PACKED_EVENT_FLAG_DESC, at);
		irqs = sim_vq_irqs(e.s, 0);
		for (k = 0; k + 1 < n; k++) {
			serve_one(&e);
			CHECK_EQ(vdk_vq_notify(e.vq), 0);
		}
		serve_one(&e);
		CHECK_EQ(vdk_vq_notify(e.vq), 1);
		CHECK_EQ(sim_vq_irqs(e.s, 0), irqs + 1);
		reap(&e);
	}
	/* An event a lap ahead is not passed by one completion. */
	sim_pvq_set_event(e.s, 0, VRING_PACKED_EVENT_FLAG_DESC,
			  sim_pvq_used_pos(e.s, 0) ^ 0x8000);
	serve_one(&e);
	CHECK_EQ(vdk_vq_notify(e.vq), 0);
	reap(&e);
	/* A whole lap of completions without one: interrupt. */
	for (i = 0; i < 4; i++) {
		serve_one(&e);
		reap(&e);
	}
	serve_one(&e);
	CHECK_EQ(vdk_vq_notify(e.vq), 1);
	env_fini(&e);
}

static void kick_suppression(bool event_idx)
{
	struct env_cfg c = packed_cfg(8, event_idx ?
				      1ull << VIRTIO_RING_F_EVENT_IDX : 0);
	uint16_t flags, off_wrap, idx;
	struct vdk_req *req;
	unsigned int i;
	struct env e;
	bool wrap;

	env_init(&e, &c);
	for (i = 0; i < 20; i++) {
		vdk_vq_set_kick(e.vq, false);
		flags = sim_pvq_device_event(e.s, 0, &off_wrap);
		CHECK_EQ(flags, VRING_PACKED_EVENT_FLAG_DISABLE);
		post_one(&e);
		CHECK(!sim_vq_kick(e.s, 0, false));
		CHECK(vdk_vq_pending(e.vq));
		CHECK_EQ(vdk_vq_pop(e.vq, &req), 1);
		vdk_vq_push(e.vq, req, 0);
		CHECK(vdk_vq_notify(e.vq) >= 0);
		reap(&e);
		/* Before sleeping: enable, then look once more. */
		vdk_vq_set_kick(e.vq, true);
		CHECK(!vdk_vq_pending(e.vq));
		flags = sim_pvq_device_event(e.s, 0, &off_wrap);
		sim_pvq_position(e.s, 0, &idx, &wrap);
		if (event_idx) {
			CHECK_EQ(flags, VRING_PACKED_EVENT_FLAG_DESC);
			CHECK_EQ(off_wrap, idx | (wrap ? 0x8000 : 0));
		} else {
			CHECK_EQ(flags, VRING_PACKED_EVENT_FLAG_ENABLE);
		}
		post_one(&e);
		CHECK(sim_vq_kick(e.s, 0, false));
		CHECK_EQ(vdk_vq_pop(e.vq, &req), 1);
		vdk_vq_push(e.vq, req, 0);
		CHECK(vdk_vq_notify(e.vq) >= 0);
		reap(&e);
		if (event_idx) {
			/* A second post past the event: no second kick. */
			post_one(&e);
			CHECK(!sim_vq_kick(e.s, 0, false));
			CHECK_EQ(vdk_vq_pop(e.vq, &req), 1);
			vdk_vq_push(e.vq, req, 0);
			CHECK(vdk_vq_notify(e.vq) >= 0);
			reap(&e);
		}
	}
	env_fini(&e);
}

/* ---- threads: a driver thread and the device, in parallel ---- */

struct tdrv {
	struct env *e;
	_Atomic unsigned int done;
	unsigned int total;
	pthread_mutex_t lock; /* the simulator's driver side */
};

static void *driver_thread(void *arg)
{
	struct tdrv *t = arg;
	unsigned int posted = 0, i = 0;

	while (atomic_load(&t->done) < t->total) {
		uint16_t id;
		uint32_t len;
		int head = -1;

		pthread_mutex_lock(&t->lock);
		if (posted < t->total) {
			struct sim_buf b[3] = {
				{ DATA + 0x40 * (i % 64), 16, false },
				{ DATA + 0x2000, 8, true },
				{ DATA + 0x3000, 8, true },
			};

			head = sim_vq_add(t->e->s, 0, b, 1 + i % 3,
					  i % 5 == 0 ? TABLE + 0x400 * (i % 8) :
						       0);
			if (head >= 0) {
				posted++;
				i++;
			}
		}
		while (sim_vq_used(t->e->s, 0, &id, &len) == 1)
			atomic_fetch_add(&t->done, 1);
		pthread_mutex_unlock(&t->lock);
	}
	return NULL;
}

/*
 * Indirect tables are written by the driver thread at any time: the
 * eight table slots above can be rewritten while the device reads one
 * still in flight only if the driver reuses it early, which it does not
 * (each id's table slot is its own in the ring of 8).  The point here is
 * the ring itself: flags, ids and used descriptors written by two
 * threads, under ThreadSanitizer-like interleavings.
 */
static void threads(void)
{
	struct env_cfg c = packed_cfg(8, 1ull << VIRTIO_RING_F_INDIRECT_DESC |
				      1ull << VIRTIO_RING_F_EVENT_IDX);
	struct tdrv t = { .total = 20000 };
	struct vdk_req *held[8];
	unsigned int nheld = 0;
	pthread_t th;
	struct env e;

	env_init(&e, &c);
	t.e = &e;
	pthread_mutex_init(&t.lock, NULL);
	CHECK_EQ(pthread_create(&th, NULL, driver_thread, &t), 0);
	while (atomic_load(&t.done) < t.total) {
		struct vdk_req *req;
		int ret;

		while ((ret = vdk_vq_pop(e.vq, &req)) == 1) {
			CHECK(nheld < 8);
			held[nheld++] = req;
		}
		CHECK_EQ(ret, 0);
		/* Complete in a changing order, some now, some later. */
		while (nheld > (atomic_load(&t.done) & 1)) {
			req = held[--nheld];
			vdk_vq_push(e.vq, req, 0);
		}
		CHECK(vdk_vq_notify(e.vq) >= 0);
		if (nheld && atomic_load(&t.done) + nheld >= t.total) {
			while (nheld)
				vdk_vq_push(e.vq, held[--nheld], 0);
			CHECK(vdk_vq_notify(e.vq) >= 0);
		}
	}
	pthread_join(th, NULL);
	CHECK(!vdk_vq_broken(e.vq));
	CHECK_EQ(e.logs, 0);
	pthread_mutex_destroy(&t.lock);
	env_fini(&e);
}


/* ---- race: the driver rewrites the ring while the device walks it ---- */

#define RACE_TABLES 0x20000 /* 8 indirect tables of up to 16 entries */

struct racer {
	struct env *e;
	_Atomic bool stop;
	uint64_t rnd;
	unsigned long posts, writes;
	_Atomic unsigned long rounds; /* the device's pop rounds */
};

static uint64_t rnd_next(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/* Mostly plausible, sometimes nonsense. */
static struct vring_packed_desc rnd_desc(uint64_t *x, uint16_t num)
{
	uint64_t r = rnd_next(x);
	uint64_t addr = DATA + (r & 0xffff);
	uint32_t len = (uint32_t)(r >> 16) & 0x3ff;
	uint16_t flags = (uint16_t)(r >> 32) & (NEXT | WRITE);
	uint16_t id = (uint16_t)((r >> 40) % num);

	if ((r >> 48) % 16 == 0) {
		flags = INDIRECT;
		addr = RACE_TABLES + 0x100 * ((r >> 52) % 8);
		len = 16 * (uint32_t)(1 + (r >> 56) % 16);
	}
	if ((r >> 60) == 0)
		addr = rnd_next(x);
	if ((r >> 60) == 1)
		len = (uint32_t)rnd_next(x);
	if ((r >> 60) == 2)
		id = (uint16_t)rnd_next(x);
	return pd(addr, len, id, flags);
}

static void *race_driver(void *arg)
{
	struct racer *r = arg;
	struct env *e = r->e;
	uint16_t num = (uint16_t)e->cfg.qsize;

	while (!atomic_load(&r->stop)) {
		uint64_t c = rnd_next(&r->rnd) % 10;

		if (c < 5) {
			struct vring_packed_desc d[4];
			unsigned int n = 1 + rnd_next(&r->rnd) % 4, k;

			for (k = 0; k < n; k++)
				d[k] = rnd_desc(&r->rnd, num);
			sim_pvq_raw_post(e->s, 0, d, n);
			r->posts++;
			/* Mostly let the device look before posting more. */
			if (c < 4) {
				unsigned long seen = atomic_load(&r->rounds);

				for (k = 0; k < 100000 &&
					    atomic_load(&r->rounds) == seen &&
					    !atomic_load(&r->stop);
				     k++)
					;
			}
		} else if (c < 7) {
			struct vring_packed_desc d = rnd_desc(&r->rnd, num);
			uint16_t f = (uint16_t)rnd_next(&r->rnd);

			sim_pvq_raw_write(e->s, 0, f % num, le64toh(d.addr),
					  le32toh(d.len), le16toh(d.id),
					  (uint16_t)(le16toh(d.flags) |
						     (f & 0x8080)));
			r->writes++;
		} else {
			struct vring_packed_desc d = rnd_desc(&r->rnd, num);
			unsigned int at = rnd_next(&r->rnd) % (8 * 16);

			sim_write(e->s, RACE_TABLES + 16ull * at, &d,
				  sizeof(d));
			r->writes++;
		}
	}
	return NULL;
}

static void race(void)
{
	const char *env_secs = getenv("VDK_RACE_SECONDS");
	double secs = env_secs ? atof(env_secs) : 2;
	struct env_cfg c = {
		.qsize = 16,
		.max_iovecs = 8,
		.features = 1ull << VIRTIO_RING_F_INDIRECT_DESC |
			    1ull << VIRTIO_RING_F_EVENT_IDX,
		.packed = true,
	};
	struct racer r = { .rnd = 88172645463325252ull };
	unsigned long popped = 0, breaks = 0;
	struct timespec t0, now;
	pthread_t th;
	struct env e;

	env_init(&e, &c);
	r.e = &e;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK_EQ(pthread_create(&th, NULL, race_driver, &r), 0);
	for (;;) {
		struct vdk_req *held[16], *req;
		bool in_flight[16] = { false };
		unsigned int nheld = 0, i;
		int ret;

		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - t0.tv_sec +
			    (now.tv_nsec - t0.tv_nsec) / 1e9 > secs)
			break;
		while ((ret = vdk_vq_pop(e.vq, &req)) == 1) {
			size_t in = 0, out = 0;
			unsigned int v;

			CHECK(req->id < 16);
			CHECK(!in_flight[req->id]);
			CHECK(req->n_out + req->n_in <= 8);
			for (v = 0; v < req->n_out + req->n_in; v++) {
				volatile uint8_t *p = req->iov[v].iov_base;
				size_t k;

				for (k = 0; k < req->iov[v].iov_len; k++)
					p[k] = p[k];
				if (v < req->n_out)
					out += req->iov[v].iov_len;
				else
					in += req->iov[v].iov_len;
			}
			CHECK_EQ(out, req->out_len);
			CHECK_EQ(in, req->in_len);
			in_flight[req->id] = true;
			held[nheld++] = req;
			popped++;
			CHECK(nheld <= 16);
		}
		CHECK(ret == 0 || ret == -EIO);
		atomic_fetch_add(&r.rounds, 1);
		/* Out of order: backwards. */
		for (i = nheld; i-- > 0;)
			vdk_vq_push(e.vq, held[i], 0);
		CHECK_EQ(vdk_vq_inflight(e.vq), 0);
		CHECK(vdk_vq_notify(e.vq) >= 0);
		if (ret == -EIO) {
			CHECK(vdk_vq_broken(e.vq));
			atomic_store(&r.stop, true);
			pthread_join(th, NULL);
			env_reset(&e);
			breaks++;
			atomic_store(&r.stop, false);
			CHECK_EQ(pthread_create(&th, NULL, race_driver, &r),
				 0);
		}
	}
	atomic_store(&r.stop, true);
	pthread_join(th, NULL);
	printf("ok - race: %lu posts, %lu rewrites, %lu popped, %lu broken\n",
	       r.posts, r.writes, popped, breaks);
	env_fini(&e);
}

/* ---- the feature, and the state VDUSE asks for ---- */

static void offer(void)
{
	static const struct {
		uint64_t flags, features;
		bool offered;
	} offers[] = {
		{ 0, 0, false },
		/* The feature bit alone does not offer it: the flags do. */
		{ 0, 1ull << VIRTIO_F_RING_PACKED, false },
		{ VDK_DEV_F_PACKED, 0, true },
		{ VDK_DEV_F_NO_PACKED, 1ull << VIRTIO_F_RING_PACKED, false },
	};
	unsigned int i;

	for (i = 0; i < sizeof(offers) / sizeof(offers[0]); i++) {
		struct env_cfg c = { .no_driver_ok = true };
		struct vdk_dev_cfg dc;
		struct vdk_dev *dev;
		struct env e;

		env_init(&e, &c);
		vdk_dev_close(e.dev);
		dc = env_dev_cfg(&e);
		dc.flags = offers[i].flags;
		dc.features = offers[i].features;
		CHECK_EQ(sim_dev_new(e.s, &dc, false, &dev), 0);
		CHECK_EQ(!!(vdk_dev_features(dev) &
			    (1ull << VIRTIO_F_RING_PACKED)),
			 offers[i].offered);
		e.dev = dev;
		env_fini(&e);
	}
	/* Offered and not taken: a split ring, as ever. */
	{
		struct env_cfg c = { .no_driver_ok = true, .packed = true };
		struct env e;

		env_init(&e, &c);
		CHECK(vdk_dev_features(e.dev) & (1ull << VIRTIO_F_RING_PACKED));
		sim_vq_setup(e.s, 0, 16, e.cfg.ring);
		CHECK_EQ(sim_driver_ok(e.s, e.dev, ENV_BASE_FEATURES), 0);
		CHECK(vdk_vq_ready(e.vq));
		CHECK(!e.vq->packed);
		good_request(&e);
		env_fini(&e);
	}
}

static void vq_state(void)
{
	struct env_cfg c = packed_cfg(5, 0);
	struct vduse_dev_request req = { .type = VDUSE_GET_VQ_STATE };
	struct vduse_dev_response resp;
	unsigned int i;
	struct env e;

	env_init(&e, &c);
	/* Three chains of two: positions 0, 2, 4, then 1 of the next lap. */
	for (i = 0; i < 3; i++) {
		struct sim_buf b[2] = {
			{ DATA, 16, false },
			{ DATA + 0x100, 8, true },
		};
		struct vdk_req *r;

		CHECK(sim_vq_add(e.s, 0, b, 2, 0) >= 0);
		CHECK_EQ(vdk_vq_pop(e.vq, &r), 1);
		env_complete(&e, r, 8);
	}
	CHECK_EQ(sim_control(e.s, e.dev, &req, &resp), 0);
	CHECK_EQ(resp.result, VDUSE_REQ_RESULT_OK);
	CHECK_EQ(resp.vq_state.packed.last_avail_idx, 1);
	CHECK_EQ(resp.vq_state.packed.last_avail_counter, 0);
	CHECK_EQ(resp.vq_state.packed.last_used_idx, 1);
	CHECK_EQ(resp.vq_state.packed.last_used_counter, 0);
	env_fini(&e);
}

int main(void)
{
	basic(false, false, 64);
	basic(true, false, 64);
	basic(false, true, 64);
	basic(true, true, 64);
	basic(true, false, 7);
	basic(false, true, 1);
	basic(true, false, 2);
	printf("ok - basic\n");
	out_of_order(16);
	out_of_order(13);
	out_of_order(8);
	chain_across_wrap();
	printf("ok - out of order, across the wrap\n");
	hostile();
	notify_flags();
	notify_event_idx();
	kick_suppression(false);
	kick_suppression(true);
	printf("ok - notify\n");
	threads();
	printf("ok - threads\n");
	race();
	offer();
	vq_state();
	printf("ok - offer, state\n");
	return T_EXIT_PASS;
}
