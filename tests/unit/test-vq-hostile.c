/* SPDX-License-Identifier: MIT */
/*
 * A hostile driver: one case per malformed ring, each on a fresh device.
 *
 * A malformed chain must be completed exactly once with used length 0,
 * counted in stats.bad and logged (at a limited rate), and the queue must
 * go on serving.  A malformed ring (indexes that make no sense) marks the
 * queue broken for good: pop returns -EIO until the driver resets the
 * device.  Nothing may read or write out of bounds: run under ASan.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "env.h"
#include "internal.h"

#define QSIZE 16
#define DATA 0x10000   /* well-formed buffers */
#define TABLE 0x20000  /* indirect tables */
#define HOLE 0x30000   /* made unmapped, read-only or write-only */
#define HOLE_LEN 0x1000

static const struct env_cfg base_cfg = {
	.qsize = QSIZE,
	.features = (1ull << VIRTIO_RING_F_INDIRECT_DESC),
};

static void put_desc(struct env *e, unsigned int i, uint64_t addr,
		     uint32_t len, uint16_t flags, uint16_t next)
{
	sim_vq_raw_desc(e->s, 0, i, addr, len, flags, next);
}

/* Entry @i of an indirect table at @table. */
static void put_ind(struct env *e, uint64_t table, unsigned int i,
		    uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	struct vring_desc d = {
		.addr = htole64(addr),
		.len = htole32(len),
		.flags = htole16(flags),
		.next = htole16(next),
	};

	sim_write(e->s, table + 16ull * i, &d, sizeof(d));
}

/* A well-formed request through the same queue: served and checked. */
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

/*
 * Publish @head and expect the library to refuse it: completed once with
 * length 0, counted, logged with @why, and the queue still serving.
 */
static void expect_refused(struct env *e, uint16_t head, const char *why)
{
	struct vdk_vq_stats before, after;
	unsigned int logs = e->logs;
	struct vdk_req *req;
	uint16_t id;
	uint32_t len;

	vdk_vq_get_stats(e->vq, &before);
	sim_vq_raw_avail(e->s, 0, head);
	CHECK(vdk_vq_pending(e->vq));
	CHECK_EQ(vdk_vq_pop(e->vq, &req), 0);
	CHECK(!vdk_vq_broken(e->vq));
	CHECK_EQ(vdk_vq_inflight(e->vq), 0);
	CHECK(vdk_vq_notify(e->vq) >= 0);
	CHECK_EQ(sim_vq_used(e->s, 0, &id, &len), 1);
	CHECK_EQ(id, head);
	CHECK_EQ(len, 0);
	CHECK_EQ(sim_vq_used(e->s, 0, &id, &len), 0);
	vdk_vq_get_stats(e->vq, &after);
	CHECK_EQ(after.bad, before.bad + 1);
	CHECK_EQ(after.popped, before.popped);
	CHECK_EQ(after.pushed, before.pushed + 1);
	CHECK_EQ(e->logs, logs + 1);
	CHECK_EQ(e->last_level, VDK_LOG_WARNING);
	if (!strstr(e->last_log, why)) {
		fprintf(stderr, "log \"%s\" lacks \"%s\"\n", e->last_log, why);
		exit(T_EXIT_FAIL);
	}
	good_request(e);
	good_request(e);
}

/*
 * The queue must now be broken: pop fails with -EIO, however often and
 * whatever the driver does next, until a reset and DRIVER_OK.
 */
static void expect_broken(struct env *e, const char *why)
{
	struct vdk_req *req;
	unsigned int i;

	CHECK_EQ(vdk_vq_pop(e->vq, &req), -EIO);
	CHECK(vdk_vq_broken(e->vq));
	CHECK(!vdk_vq_pending(e->vq));
	CHECK(e->logs >= 1);
	CHECK_EQ(e->last_level, VDK_LOG_ERR);
	if (!strstr(e->last_log, why)) {
		fprintf(stderr, "log \"%s\" lacks \"%s\"\n", e->last_log, why);
		exit(T_EXIT_FAIL);
	}
	/* Even a well-formed request is not served now. */
	CHECK(sim_vq_add(e->s, 0, &(struct sim_buf){ DATA, 16, false }, 1,
			 0) >= 0);
	for (i = 0; i < 3; i++)
		CHECK_EQ(vdk_vq_pop(e->vq, &req), -EIO);
	CHECK(vdk_vq_notify(e->vq) >= 0);
	env_reset(e);
	good_request(e);
	CHECK(!vdk_vq_broken(e->vq));
}

/* ---- malformed chains: refused, completed, queue goes on ---- */

static void case_loop_to_head(struct env *e)
{
	put_desc(e, 0, DATA, 16, VRING_DESC_F_NEXT, 1);
	put_desc(e, 1, DATA, 16, VRING_DESC_F_NEXT, 0);
	expect_refused(e, 0, "loops");
}

static void case_loop_inner(struct env *e)
{
	put_desc(e, 3, DATA, 16, VRING_DESC_F_NEXT, 4);
	put_desc(e, 4, DATA, 16, VRING_DESC_F_NEXT, 5);
	put_desc(e, 5, DATA, 16, VRING_DESC_F_NEXT, 4);
	expect_refused(e, 3, "loops");
}

static void case_self_loop(struct env *e)
{
	put_desc(e, 7, DATA, 16, VRING_DESC_F_NEXT, 7);
	expect_refused(e, 7, "loops");
}

/* Every descriptor once, then back to the first: one step too many. */
static void case_chain_longer_than_queue(struct env *e)
{
	unsigned int i;

	for (i = 0; i < QSIZE; i++)
		put_desc(e, i, DATA, 16, VRING_DESC_F_NEXT,
			 (uint16_t)((i + 1) % QSIZE));
	expect_refused(e, 0, "loops or is too long");
}

static void case_next_out_of_range(struct env *e)
{
	put_desc(e, 0, DATA, 16, VRING_DESC_F_NEXT, QSIZE);
	expect_refused(e, 0, "next index out of range");
	put_desc(e, 2, DATA, 16, VRING_DESC_F_NEXT, 0xffff);
	expect_refused(e, 2, "next index out of range");
}

static void case_read_after_write(struct env *e)
{
	put_desc(e, 0, DATA, 16, VRING_DESC_F_NEXT, 1);
	put_desc(e, 1, DATA + 0x100, 8, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT,
		 2);
	put_desc(e, 2, DATA + 0x200, 8, 0, 0);
	expect_refused(e, 0, "readable after writable");
	/* A zero-length writable one counts as writable all the same. */
	put_desc(e, 0, DATA, 0, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	put_desc(e, 1, DATA, 16, 0, 0);
	expect_refused(e, 0, "readable after writable");
}

static void case_addr_wraps(struct env *e)
{
	put_desc(e, 0, UINT64_MAX - 9, 100, 0, 0);
	expect_refused(e, 0, "wraps");
	put_desc(e, 0, DATA, 16, VRING_DESC_F_NEXT, 1);
	put_desc(e, 1, UINT64_MAX, 2, VRING_DESC_F_WRITE, 0);
	expect_refused(e, 0, "wraps");
	/* Up to the last byte exactly does not wrap, but is not mapped. */
	put_desc(e, 0, UINT64_MAX - 99, 100, 0, 0);
	expect_refused(e, 0, "not mapped");
}

static void case_unmapped(struct env *e)
{
	struct vdk_dev_stats before, after;

	CHECK_EQ(sim_set_perm(e->s, HOLE, HOLE + HOLE_LEN - 1, 0), 0);
	CHECK_EQ(vdk_dev_process(e->dev), 1);
	vdk_dev_get_stats(e->dev, &before);
	put_desc(e, 0, HOLE + 16, 16, 0, 0);
	expect_refused(e, 0, "not mapped");
	vdk_dev_get_stats(e->dev, &after);
	CHECK(after.map_misses > before.map_misses);
	/* Starts mapped, runs into the hole. */
	put_desc(e, 0, HOLE - 8, 16, 0, 0);
	expect_refused(e, 0, "not mapped");
	/* Starts in the hole, ends mapped; writable this time. */
	put_desc(e, 0, DATA, 16, VRING_DESC_F_NEXT, 1);
	put_desc(e, 1, HOLE + HOLE_LEN - 8, 16, VRING_DESC_F_WRITE, 0);
	expect_refused(e, 0, "not mapped");
	/* Past the end of the IOVA space. */
	put_desc(e, 0, e->cfg.mem + 0x1000, 16, 0, 0);
	expect_refused(e, 0, "not mapped");
}

static void case_wrong_permission(struct env *e)
{
	CHECK_EQ(sim_set_perm(e->s, HOLE, HOLE + 0x7ff, VDUSE_ACCESS_RO), 0);
	CHECK_EQ(sim_set_perm(e->s, HOLE + 0x800, HOLE + 0xfff,
			      VDUSE_ACCESS_WO),
		 0);
	CHECK_EQ(vdk_dev_process(e->dev), 2);
	/* Writable descriptor on read-only memory. */
	put_desc(e, 0, DATA, 16, VRING_DESC_F_NEXT, 1);
	put_desc(e, 1, HOLE, 16, VRING_DESC_F_WRITE, 0);
	expect_refused(e, 0, "not mapped");
	/* Readable descriptor on write-only memory. */
	put_desc(e, 0, HOLE + 0x800, 16, 0, 0);
	expect_refused(e, 0, "not mapped");
	/* The right way round is fine. */
	{
		struct sim_buf b[2] = {
			{ HOLE, 16, false },
			{ HOLE + 0x800, 16, true },
		};
		struct vdk_req *req;
		int head = sim_vq_add(e->s, 0, b, 2, 0);

		CHECK(head >= 0);
		req = env_pop_one(e, head);
		CHECK_EQ(req->n_out, 1);
		CHECK_EQ(req->n_in, 1);
		env_complete(e, req, 16);
	}
}

static void case_indirect_with_next(struct env *e)
{
	put_ind(e, TABLE, 0, DATA, 16, 0, 0);
	put_desc(e, 0, TABLE, 16, VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT, 1);
	put_desc(e, 1, DATA + 0x100, 8, VRING_DESC_F_WRITE, 0);
	expect_refused(e, 0, "indirect descriptor with NEXT");
}

static void case_nested_indirect(struct env *e)
{
	put_ind(e, TABLE, 0, DATA, 16, VRING_DESC_F_NEXT, 1);
	put_ind(e, TABLE, 1, TABLE + 0x100, 16, VRING_DESC_F_INDIRECT, 0);
	put_ind(e, TABLE + 0x100, 0, DATA + 0x100, 8, VRING_DESC_F_WRITE, 0);
	put_desc(e, 0, TABLE, 32, VRING_DESC_F_INDIRECT, 0);
	expect_refused(e, 0, "nested indirect");
	/* A table that points at itself. */
	put_ind(e, TABLE, 0, TABLE, 16, VRING_DESC_F_INDIRECT, 0);
	put_desc(e, 0, TABLE, 16, VRING_DESC_F_INDIRECT, 0);
	expect_refused(e, 0, "nested indirect");
}

static void case_indirect_bad_length(struct env *e)
{
	unsigned int max = e->cfg.max_iovecs, i;

	put_ind(e, TABLE, 0, DATA, 16, 0, 0);
	put_desc(e, 0, TABLE, 0, VRING_DESC_F_INDIRECT, 0);
	expect_refused(e, 0, "bad indirect table length");
	put_desc(e, 0, TABLE, 24, VRING_DESC_F_INDIRECT, 0);
	expect_refused(e, 0, "bad indirect table length");
	put_desc(e, 0, TABLE, 15, VRING_DESC_F_INDIRECT, 0);
	expect_refused(e, 0, "bad indirect table length");
	put_desc(e, 0, TABLE, 0xfffffff0u, VRING_DESC_F_INDIRECT, 0);
	expect_refused(e, 0, "indirect table too long");
	/* One entry over max_iovecs, then exactly max_iovecs. */
	for (i = 0; i <= max; i++)
		put_ind(e, TABLE, i, DATA + i, 1,
			i < max ? VRING_DESC_F_NEXT : 0, (uint16_t)(i + 1));
	put_desc(e, 0, TABLE, 16 * (max + 1), VRING_DESC_F_INDIRECT, 0);
	expect_refused(e, 0, "indirect table too long");
	put_ind(e, TABLE, max - 1, DATA + max - 1, 1, 0, 0);
	put_desc(e, 0, TABLE, 16 * max, VRING_DESC_F_INDIRECT, 0);
	sim_vq_raw_avail(e->s, 0, 0);
	{
		struct vdk_req *req = env_pop_one(e, 0);

		/* One vector per descriptor: never merged across them. */
		CHECK_EQ(req->out_len, max);
		CHECK_EQ(req->n_out, max);
		CHECK_EQ(req->n_in, 0);
		env_complete(e, req, 0);
	}
}

static void case_indirect_unmapped(struct env *e)
{
	CHECK_EQ(sim_set_perm(e->s, HOLE, HOLE + HOLE_LEN - 1, 0), 0);
	CHECK_EQ(vdk_dev_process(e->dev), 1);
	put_desc(e, 0, HOLE, 32, VRING_DESC_F_INDIRECT, 0);
	expect_refused(e, 0, "indirect table not mapped");
	/* Half of it mapped. */
	put_desc(e, 0, HOLE - 16, 32, VRING_DESC_F_INDIRECT, 0);
	expect_refused(e, 0, "indirect table not mapped");
	put_desc(e, 0, UINT64_MAX - 15, 32, VRING_DESC_F_INDIRECT, 0);
	expect_refused(e, 0, "indirect table wraps");
}

static void case_indirect_chain_errors(struct env *e)
{
	/* Loop inside the table. */
	put_ind(e, TABLE, 0, DATA, 16, VRING_DESC_F_NEXT, 1);
	put_ind(e, TABLE, 1, DATA, 16, VRING_DESC_F_NEXT, 0);
	put_desc(e, 0, TABLE, 32, VRING_DESC_F_INDIRECT, 0);
	expect_refused(e, 0, "loops");
	/* next past the table's end (but inside the ring's size). */
	put_ind(e, TABLE, 1, DATA, 16, VRING_DESC_F_NEXT, 2);
	put_desc(e, 0, TABLE, 32, VRING_DESC_F_INDIRECT, 0);
	expect_refused(e, 0, "next index out of range");
	/* Readable after writable inside the table. */
	put_ind(e, TABLE, 0, DATA, 16, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT,
		1);
	put_ind(e, TABLE, 1, DATA, 16, 0, 0);
	put_desc(e, 0, TABLE, 32, VRING_DESC_F_INDIRECT, 0);
	expect_refused(e, 0, "readable after writable");
	/* Writable direct descriptor, then an indirect table of readable. */
	put_ind(e, TABLE, 0, DATA, 16, 0, 0);
	put_desc(e, 5, DATA + 0x100, 8, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT,
		 6);
	put_desc(e, 6, TABLE, 16, VRING_DESC_F_INDIRECT, 0);
	expect_refused(e, 5, "readable after writable");
}

/*
 * More than 4 GiB in one direction cannot be reported in the used ring's
 * 32-bit length.  128 descriptors of 32 MiB on the same memory make
 * exactly 4 GiB: refused; one byte less is accepted.
 */
static void case_length_sum_4g(struct env *e)
{
	const uint64_t big = 0x1000000, blen = 32u << 20;
	unsigned int i;
	struct vdk_req *req;

	for (i = 0; i < 128; i++)
		put_ind(e, TABLE, i, big, (uint32_t)blen,
			i < 127 ? VRING_DESC_F_NEXT : 0, (uint16_t)(i + 1));
	put_desc(e, 0, TABLE, 16 * 128, VRING_DESC_F_INDIRECT, 0);
	expect_refused(e, 0, "longer than 4 GiB");
	/* The same, writable. */
	for (i = 0; i < 128; i++)
		put_ind(e, TABLE, i, big, (uint32_t)blen,
			VRING_DESC_F_WRITE | (i < 127 ? VRING_DESC_F_NEXT : 0),
			(uint16_t)(i + 1));
	put_desc(e, 0, TABLE, 16 * 128, VRING_DESC_F_INDIRECT, 0);
	expect_refused(e, 0, "longer than 4 GiB");
	/* UINT32_MAX bytes: fine. */
	put_ind(e, TABLE, 127, big, (uint32_t)blen - 1, VRING_DESC_F_WRITE, 0);
	put_desc(e, 0, TABLE, 16 * 128, VRING_DESC_F_INDIRECT, 0);
	sim_vq_raw_avail(e->s, 0, 0);
	req = env_pop_one(e, 0);
	CHECK_EQ(req->in_len, UINT32_MAX);
	CHECK_EQ(req->n_in, 128);
	env_complete(e, req, UINT32_MAX);
	/* In the direct table too: 16 x 2^28 = 4 GiB. */
	for (i = 0; i < QSIZE; i++)
		put_desc(e, i, big, 1u << 28,
			 i + 1 < QSIZE ? VRING_DESC_F_NEXT : 0,
			 (uint16_t)(i + 1));
	CHECK(e->cfg.mem >= big + (1u << 28));
	expect_refused(e, 0, "longer than 4 GiB");
}

/* ---- accepted oddities ---- */

static void case_zero_length(struct env *e)
{
	struct vdk_req *req;
	uint16_t id;
	uint32_t len;

	/* A zero-length descriptor needs no mapping and makes no vector. */
	put_desc(e, 0, DATA, 16, VRING_DESC_F_NEXT, 1);
	put_desc(e, 1, HOLE + 0x12345678, 0, VRING_DESC_F_NEXT, 2);
	put_desc(e, 2, DATA + 0x100, 1, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT,
		 3);
	put_desc(e, 3, UINT64_MAX, 0, VRING_DESC_F_WRITE, 0);
	sim_vq_raw_avail(e->s, 0, 0);
	req = env_pop_one(e, 0);
	CHECK_EQ(req->n_out, 1);
	CHECK_EQ(req->n_in, 1);
	CHECK_EQ(req->out_len, 16);
	CHECK_EQ(req->in_len, 1);
	env_complete(e, req, 1);
	/* Only zero-length descriptors: an empty request. */
	put_desc(e, 0, 0, 0, 0, 0);
	sim_vq_raw_avail(e->s, 0, 0);
	req = env_pop_one(e, 0);
	CHECK_EQ(req->n_out + req->n_in, 0);
	/* The device may claim more than there was: clamped to 0. */
	vdk_vq_push(e->vq, req, 100);
	CHECK(vdk_vq_notify(e->vq) >= 0);
	CHECK_EQ(sim_vq_used(e->s, 0, &id, &len), 1);
	CHECK_EQ(id, 0);
	CHECK_EQ(len, 0);
	CHECK_EQ(e->logs, 0);
}

static void case_chain_as_long_as_queue(struct env *e)
{
	struct vdk_req *req;
	unsigned int i;

	for (i = 0; i < QSIZE; i++)
		put_desc(e, i, DATA + 0x10 * i, 16,
			 i + 1 < QSIZE ? VRING_DESC_F_NEXT : 0,
			 (uint16_t)(i + 1));
	sim_vq_raw_avail(e->s, 0, 0);
	req = env_pop_one(e, 0);
	CHECK_EQ(req->out_len, 16 * QSIZE);
	env_complete(e, req, 0);
	CHECK_EQ(e->logs, 0);
}

/* The ring full: QSIZE requests pending at once is allowed. */
static void case_full_ring(struct env *e)
{
	struct vdk_req *reqs[QSIZE], *extra;
	unsigned int i;

	for (i = 0; i < QSIZE; i++) {
		struct sim_buf b = { DATA + 0x10 * i, 16, false };

		CHECK(sim_vq_add(e->s, 0, &b, 1, 0) >= 0);
	}
	for (i = 0; i < QSIZE; i++)
		CHECK_EQ(vdk_vq_pop(e->vq, &reqs[i]), 1);
	CHECK_EQ(vdk_vq_pop(e->vq, &extra), 0);
	CHECK_EQ(vdk_vq_inflight(e->vq), QSIZE);
	for (i = 0; i < QSIZE; i++)
		vdk_vq_push(e->vq, reqs[i], 0);
	CHECK_EQ(vdk_vq_notify(e->vq), 1);
	for (i = 0; i < QSIZE; i++) {
		uint16_t id;
		uint32_t len;

		CHECK_EQ(sim_vq_used(e->s, 0, &id, &len), 1);
		CHECK_EQ(id, reqs[i]->id);
	}
	CHECK_EQ(e->logs, 0);
	good_request(e);
}

/* ---- broken rings ---- */

static void case_head_out_of_range(struct env *e)
{
	sim_vq_raw_avail(e->s, 0, QSIZE);
	expect_broken(e, "head out of range");
	sim_vq_raw_avail(e->s, 0, 0xffff);
	expect_broken(e, "head out of range");
}

static void case_avail_idx_jump(struct env *e)
{
	sim_vq_raw_avail_idx(e->s, 0, QSIZE + 1);
	expect_broken(e, "avail index moved too far");
	/* Backwards is a jump of almost 2^16. */
	good_request(e);
	sim_vq_raw_avail_idx(e->s, 0, 0);
	expect_broken(e, "avail index moved too far");
}

static void case_head_twice(struct env *e)
{
	struct vdk_req *req;
	int head;

	head = sim_vq_add(e->s, 0, &(struct sim_buf){ DATA, 16, false }, 1, 0);
	CHECK(head >= 0);
	CHECK_EQ(vdk_vq_pop(e->vq, &req), 1);
	sim_vq_raw_avail(e->s, 0, (uint16_t)head);
	expect_broken(e, "already in flight");
}

static void case_rings_unmapped(struct env *e)
{
	struct vdk_req *req;

	/* After DRIVER_OK: the next use of the queue finds out. */
	CHECK_EQ(sim_set_perm(e->s, 0, 0xffff, 0), 0);
	CHECK_EQ(vdk_dev_process(e->dev), 1);
	CHECK_EQ(vdk_vq_pop(e->vq, &req), -EIO);
	CHECK(vdk_vq_broken(e->vq));
	CHECK(strstr(e->last_log, "rings no longer mapped"));
	/* Mapped again, but broken stays broken until a reset. */
	CHECK_EQ(sim_set_perm(e->s, 0, 0xffff, VDUSE_ACCESS_RW), 0);
	CHECK_EQ(vdk_dev_process(e->dev), 1);
	expect_broken(e, "rings no longer mapped");
	/* Before DRIVER_OK: the queue never starts. */
	CHECK_EQ(sim_set_status(e->s, e->dev, 0), 0);
	sim_vq_setup(e->s, 0, QSIZE, e->cfg.ring);
	CHECK_EQ(sim_set_perm(e->s, 0, 0xffff, VDUSE_ACCESS_RO), 0);
	CHECK_EQ(sim_driver_ok(e->s, e->dev, ENV_BASE_FEATURES), 0);
	CHECK(vdk_vq_broken(e->vq));
	CHECK(!vdk_vq_ready(e->vq));
	CHECK(strstr(e->last_log, "rings not mapped"));
	CHECK_EQ(sim_set_perm(e->s, 0, 0xffff, VDUSE_ACCESS_RW), 0);
	env_reset(e);
	good_request(e);
}

/* The driver picks a size the device cannot take: the queue never starts. */
static void case_bad_queue_size(struct env *e)
{
	static const unsigned int sizes[] = { QSIZE * 2, 12, 3 };
	struct vdk_req *req;
	unsigned int i;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		CHECK_EQ(sim_set_status(e->s, e->dev, 0), 0);
		sim_vq_setup(e->s, 0, sizes[i], e->cfg.ring);
		CHECK_EQ(sim_driver_ok(e->s, e->dev, ENV_BASE_FEATURES), 0);
		CHECK(!vdk_vq_ready(e->vq));
		CHECK(vdk_vq_broken(e->vq));
		CHECK_EQ(vdk_vq_pop(e->vq, &req), -EAGAIN);
		CHECK(strstr(e->last_log, "bad size"));
	}
	env_reset(e);
	good_request(e);
}

/* ---- rate limit ---- */

static void case_flood(struct env *e)
{
	struct vdk_vq_stats st;
	struct vdk_req *req;
	unsigned int i;

	put_desc(e, 0, DATA, 16, VRING_DESC_F_NEXT, 0);
	for (i = 0; i < 1000; i++) {
		uint16_t id;
		uint32_t len;

		sim_vq_raw_avail(e->s, 0, 0);
		CHECK_EQ(vdk_vq_pop(e->vq, &req), 0);
		CHECK_EQ(sim_vq_used(e->s, 0, &id, &len), 1);
		CHECK_EQ(id, 0);
		CHECK_EQ(len, 0);
	}
	vdk_vq_get_stats(e->vq, &st);
	CHECK_EQ(st.bad, 1000);
	CHECK_EQ(st.pushed, 1000);
	/* All within one window: the burst, plus one summary at most. */
	CHECK(e->logs >= VDK_LOG_BURST);
	CHECK(e->logs <= VDK_LOG_BURST + 1);
	good_request(e);
}

/* The application pushing twice: ignored, logged, nothing completed. */
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
	CHECK(strstr(e->last_log, "not in flight"));
	CHECK_EQ(vdk_vq_inflight(e->vq), 0);
	good_request(e);
}

/*
 * A driver that posts bad chains as fast as they are completed, from a
 * thread of its own.  One pop refuses at most a queue's worth and
 * returns, so that the caller can reap, notify and see a stop; before,
 * it refused for as long as the driver kept posting.
 */
static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct flood {
	struct env *e;
	_Atomic bool stop;
	_Atomic uint64_t posted;
};

static void *flood_bad_chains(void *arg)
{
	struct flood *f = arg;
	struct env *e = f->e;
	uint64_t end = now_ms() + 1500;

	while (!f->stop && now_ms() < end) {
		uint16_t pending = (uint16_t)(sim_vq_avail_idx(e->s, 0) -
					      sim_vq_used_idx(e->s, 0));

		if (pending < base_cfg.qsize) {
			sim_vq_raw_avail(e->s, 0, 0);
			f->posted++;
		}
	}
	return NULL;
}

static void case_endless_bad_chains(struct env *e)
{
	struct flood f = { .e = e };
	struct vdk_vq_stats before, after;
	struct vdk_req *req;
	pthread_t thread;
	uint64_t t0, took;
	uint16_t id;
	uint32_t len;

	sim_vq_raw_desc(e->s, 0, 0, DATA, 16, VRING_DESC_F_NEXT, 999);
	vdk_vq_get_stats(e->vq, &before);
	CHECK_EQ(pthread_create(&thread, NULL, flood_bad_chains, &f), 0);
	while (f.posted < 4)
		;
	t0 = now_ms();
	CHECK_EQ(vdk_vq_pop(e->vq, &req), 0);
	took = now_ms() - t0;
	vdk_vq_get_stats(e->vq, &after);
	f.stop = true;
	pthread_join(thread, NULL);
	CHECK(took < 500);
	CHECK(after.bad > before.bad);
	CHECK(after.bad - before.bad <= base_cfg.qsize);
	CHECK(!vdk_vq_broken(e->vq));
	/* The rest, a call at a time; each completed once. */
	while (vdk_vq_pending(e->vq))
		CHECK_EQ(vdk_vq_pop(e->vq, &req), 0);
	CHECK(vdk_vq_notify(e->vq) >= 0);
	while (sim_vq_used(e->s, 0, &id, &len)) {
		CHECK_EQ(id, 0);
		CHECK_EQ(len, 0);
	}
	vdk_vq_get_stats(e->vq, &after);
	CHECK_EQ(after.bad - before.bad, f.posted);
	good_request(e);
}

struct hostile_case {
	const char *name;
	void (*fn)(struct env *e);
	uint64_t mem;
};

static const struct hostile_case cases[] = {
	{ "loop to head", case_loop_to_head, 0 },
	{ "inner loop", case_loop_inner, 0 },
	{ "self loop", case_self_loop, 0 },
	{ "chain longer than queue", case_chain_longer_than_queue, 0 },
	{ "next out of range", case_next_out_of_range, 0 },
	{ "readable after writable", case_read_after_write, 0 },
	{ "addr + len wraps", case_addr_wraps, 0 },
	{ "unmapped", case_unmapped, 0 },
	{ "wrong permission", case_wrong_permission, 0 },
	{ "indirect with NEXT", case_indirect_with_next, 0 },
	{ "nested indirect", case_nested_indirect, 0 },
	{ "indirect bad length", case_indirect_bad_length, 0 },
	{ "indirect unmapped", case_indirect_unmapped, 0 },
	{ "indirect chain errors", case_indirect_chain_errors, 0 },
	{ "length sum over 4 GiB", case_length_sum_4g, 0x11000000 },
	{ "zero-length descriptors", case_zero_length, 0 },
	{ "chain as long as the queue", case_chain_as_long_as_queue, 0 },
	{ "full ring", case_full_ring, 0 },
	{ "head out of range", case_head_out_of_range, 0 },
	{ "avail idx jump", case_avail_idx_jump, 0 },
	{ "head twice in flight", case_head_twice, 0 },
	{ "rings unmapped", case_rings_unmapped, 0 },
	{ "bad queue size", case_bad_queue_size, 0 },
	{ "log flood", case_flood, 0 },
	{ "double push", case_double_push, 0 },
	{ "endless bad chains", case_endless_bad_chains, 0 },
};

int main(void)
{
	unsigned int i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct env_cfg cfg = base_cfg;
		struct env e;

		/* Small, to reach the limits; the library's default for big. */
		cfg.max_iovecs = cases[i].mem ? 0 : 32;
		if (cases[i].mem)
			cfg.mem = cases[i].mem;
		env_init(&e, &cfg);
		cases[i].fn(&e);
		env_fini(&e);
		printf("ok %u - %s\n", i + 1, cases[i].name);
	}
	return T_EXIT_PASS;
}
