/* SPDX-License-Identifier: MIT */
/*
 * Buffers split at every byte, as vringh_test does: the driver's memory is
 * cut into regions that are separate heap blocks, so a request crossing a
 * cut must be translated piece by piece, and an off-by-one in the
 * translation reads or writes outside a block (AddressSanitizer) or lands
 * on the wrong driver byte (the content checks below).
 *
 * (a) every cut position across a virtio-blk-like request, direct and
 *     indirect, data readable then writable;
 * (b) every byte its own region, direct and indirect, the indirect table
 *     itself in pieces, and a table whose host address is misaligned;
 * (c) more pieces than max_iovecs: completed with no data, then served
 *     normally again.
 */
#include <stdlib.h>

#include "env.h"
#include "internal.h"

#define MEM 0x10000
#define RING 0x1000
#define RING_END 0x3000 /* the rings stay in [RING, RING_END), uncut */
#define QSIZE 8

/* Cut positions, kept sorted and unique by cuts_finish(). */
struct cuts {
	uint64_t at[1024];
	unsigned int n;
};

static void cuts_add(struct cuts *c, uint64_t at)
{
	CHECK(c->n < sizeof(c->at) / sizeof(c->at[0]));
	CHECK(at > 0 && at < MEM);
	CHECK(at <= RING || at >= RING_END);
	c->at[c->n++] = at;
}

/* Cut before every byte of [start, start + len] (that is, around each). */
static void cuts_add_each(struct cuts *c, uint64_t start, uint64_t len)
{
	uint64_t i;

	for (i = 0; i <= len; i++)
		cuts_add(c, start + i);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void cuts_finish(struct cuts *c)
{
	unsigned int i, j = 0;

	qsort(c->at, c->n, sizeof(c->at[0]), cmp_u64);
	for (i = 0; i < c->n; i++)
		if (j == 0 || c->at[j - 1] != c->at[i])
			c->at[j++] = c->at[i];
	c->n = j;
}

/* Regions that [start, start + len) overlaps. */
static unsigned int pieces(const struct cuts *c, uint64_t start, uint64_t len)
{
	unsigned int i, n = 1;

	for (i = 0; i < c->n; i++)
		if (c->at[i] > start && c->at[i] < start + len)
			n++;
	return n;
}

/* Apply the cuts; the library hears of it by VDUSE_UPDATE_IOTLB. */
static void apply(struct env *e, const struct cuts *c)
{
	CHECK_EQ(sim_cut(e->s, c->at, c->n), 0);
	CHECK(vdk_dev_process(e->dev) >= 1);
}

/* Driver bytes (by IOVA) and device bytes (by position), per round. */
static uint8_t drv_byte(uint64_t iova, unsigned int round)
{
	return (uint8_t)(((uint32_t)iova * 2654435761u ^ round * 40503u) >> 24);
}

static uint8_t dev_byte(size_t pos, unsigned int round)
{
	return (uint8_t)(((uint32_t)pos * 2246822519u + round * 97u) >> 23);
}

#define GUARD 8
#define GUARD_BYTE 0xee

struct reqspec {
	struct sim_buf buf[3];
	unsigned int n;
	uint64_t table; /* indirect table IOVA, or 0 */
};

/*
 * Post @r, pop it, check the vectors against the cuts and the driver's
 * bytes, write through the writable vectors, complete it and check what
 * the driver got.
 */
static void run_request(struct env *e, const struct cuts *c,
			const struct reqspec *r, unsigned int round)
{
	unsigned int i, want_out = 0, want_in = 0, v;
	size_t out_len = 0, in_len = 0, pos;
	struct vdk_vq_stats before, after;
	struct vdk_req *req;
	uint64_t b;
	int head;

	vdk_vq_get_stats(e->vq, &before);
	for (i = 0; i < r->n; i++) {
		const struct sim_buf *sb = &r->buf[i];

		if (sb->write) {
			sim_fill(e->s, sb->iova - GUARD, GUARD_BYTE,
				 sb->len + 2 * GUARD);
			want_in += pieces(c, sb->iova, sb->len);
			in_len += sb->len;
		} else {
			for (b = 0; b < sb->len; b++) {
				uint8_t x = drv_byte(sb->iova + b, round);

				sim_write(e->s, sb->iova + b, &x, 1);
			}
			want_out += pieces(c, sb->iova, sb->len);
			out_len += sb->len;
		}
	}
	head = sim_vq_add(e->s, 0, r->buf, r->n, r->table);
	CHECK(head >= 0);
	sim_vq_kick(e->s, 0, false);

	req = env_pop_one(e, head);
	CHECK_EQ(req->n_out, want_out);
	CHECK_EQ(req->n_in, want_in);
	CHECK_EQ(req->out_len, out_len);
	CHECK_EQ(req->in_len, in_len);
	CHECK_EQ(iov_total(req->iov, req->n_out), out_len);
	CHECK_EQ(iov_total(req->iov + req->n_out, req->n_in), in_len);

	/* Readable: the vectors, end to end, are the driver's bytes. */
	v = 0;
	pos = 0;
	for (i = 0; i < r->n; i++) {
		const struct sim_buf *sb = &r->buf[i];

		if (sb->write)
			continue;
		for (b = 0; b < sb->len; b++) {
			const uint8_t *p;

			while (pos == req->iov[v].iov_len) {
				v++;
				pos = 0;
			}
			CHECK(v < req->n_out);
			p = req->iov[v].iov_base;
			CHECK_EQ(p[pos], drv_byte(sb->iova + b, round));
			pos++;
		}
	}

	/* Writable: fill the vectors as one stream. */
	pos = 0;
	for (v = req->n_out; v < req->n_out + req->n_in; v++) {
		uint8_t *p = req->iov[v].iov_base;
		size_t k;

		CHECK(req->iov[v].iov_len > 0);
		for (k = 0; k < req->iov[v].iov_len; k++)
			p[k] = dev_byte(pos++, round);
	}
	env_complete(e, req, (uint32_t)in_len);

	/* ... which lands on exactly the driver's writable bytes. */
	pos = 0;
	for (i = 0; i < r->n; i++) {
		const struct sim_buf *sb = &r->buf[i];
		uint8_t got[GUARD];

		if (!sb->write)
			continue;
		for (b = 0; b < sb->len; b++) {
			uint8_t x;

			sim_read(e->s, sb->iova + b, &x, 1);
			CHECK_EQ(x, dev_byte(pos++, round));
		}
		sim_read(e->s, sb->iova - GUARD, got, GUARD);
		for (b = 0; b < GUARD; b++)
			CHECK_EQ(got[b], GUARD_BYTE);
		sim_read(e->s, sb->iova + sb->len, got, GUARD);
		for (b = 0; b < GUARD; b++)
			CHECK_EQ(got[b], GUARD_BYTE);
	}
	vdk_vq_get_stats(e->vq, &after);
	CHECK_EQ(after.popped, before.popped + 1);
	CHECK_EQ(after.pushed, before.pushed + 1);
	CHECK_EQ(after.bad, before.bad);
}

/* Cuts every 4 KiB outside the rings, so that requests cross some. */
static void fixed_cuts(struct cuts *c)
{
	uint64_t at;

	c->n = 0;
	cuts_add(c, RING);
	for (at = RING_END; at < MEM; at += 0x1000)
		cuts_add(c, at);
}

/* ---- (a) every cut position ---- */

#define A_HDR 0x3ff8    /* crosses 0x4000 */
#define A_DATA 0x5a00   /* 3000 bytes, crosses 0x6000 */
#define A_DATA_LEN 3000
#define A_STATUS 0x7fff /* the last byte before 0x8000 */
#define A_TABLE 0x8ff0  /* indirect table, crosses 0x9000 */

static void sweep(struct env *e, bool write_data, bool indirect,
		  unsigned int *round)
{
	struct reqspec r = {
		.buf = {
			{ A_HDR, 16, false },
			{ A_DATA, A_DATA_LEN, write_data },
			{ A_STATUS, 1, true },
		},
		.n = 3,
		.table = indirect ? A_TABLE : 0,
	};
	/* Every position in and at the edges of each of the buffers. */
	const struct {
		uint64_t start, len;
	} span[] = {
		{ A_HDR, 16 },
		{ A_DATA, A_DATA_LEN },
		{ A_STATUS, 1 },
		{ A_TABLE, 48 },
	};
	unsigned int nspan = indirect ? 4 : 3, s;
	struct cuts c;
	uint64_t p;

	for (s = 0; s < nspan; s++) {
		for (p = span[s].start; p <= span[s].start + span[s].len;
		     p++) {
			fixed_cuts(&c);
			cuts_add(&c, p);
			cuts_finish(&c);
			apply(e, &c);
			run_request(e, &c, &r, (*round)++);
			/*
			 * Mappings the library dropped stay mapped until a
			 * reset: reset now and then to keep memory bounded.
			 */
			if (*round % 128 == 0)
				env_reset(e);
		}
	}
}

static void test_every_cut(void)
{
	struct env_cfg cfg = {
		.mem = MEM,
		.qsize = QSIZE,
		.ring = RING,
		.features = 1ull << VIRTIO_RING_F_INDIRECT_DESC,
	};
	struct vdk_vq_stats st;
	unsigned int round = 0;
	struct env e;

	env_init(&e, &cfg);
	sweep(&e, false, false, &round);
	sweep(&e, true, false, &round);
	sweep(&e, false, true, &round);
	sweep(&e, true, true, &round);
	vdk_vq_get_stats(e.vq, &st);
	CHECK_EQ(st.bad, 0);
	CHECK_EQ(e.logs, 0);
	printf("every cut: %u requests\n", round);
	env_fini(&e);
}

/* ---- (b), (c): every byte its own region ---- */

#define B_HDR 0x4000
#define B_DATA 0x5000
#define B_STATUS 0x6000
#define B_TABLE 0x7000
/* 16 header pieces, 64 data pieces, 1 status piece: exactly the limit. */
#define B_MAX_IOVECS 81

static void byte_cuts(struct cuts *c, uint64_t data_len, bool table)
{
	c->n = 0;
	cuts_add(c, RING);
	cuts_add(c, RING_END);
	cuts_add_each(c, B_HDR, 16);
	cuts_add_each(c, B_DATA, data_len);
	cuts_add_each(c, B_STATUS, 1);
	if (table)
		cuts_add_each(c, B_TABLE, 48);
	cuts_finish(c);
}

static void test_every_byte(void)
{
	struct env_cfg cfg = {
		.mem = MEM,
		.qsize = QSIZE,
		.ring = RING,
		.max_iovecs = B_MAX_IOVECS,
		.features = 1ull << VIRTIO_RING_F_INDIRECT_DESC,
	};
	unsigned int round = 1000, w, ind;
	struct env e;
	struct cuts c;

	env_init(&e, &cfg);
	for (ind = 0; ind < 2; ind++) {
		for (w = 0; w < 2; w++) {
			struct reqspec r = {
				.buf = {
					{ B_HDR, 16, false },
					{ B_DATA, 64, w },
					{ B_STATUS, 1, true },
				},
				.n = 3,
				.table = ind ? B_TABLE : 0,
			};

			byte_cuts(&c, 64, ind);
			CHECK_EQ(c.n, 2 + 17 + 65 + 2 + (ind ? 49 : 0));
			apply(&e, &c);
			run_request(&e, &c, &r, round++);
		}
	}

	/*
	 * An indirect table in one region, but at a host address that is not
	 * 8-byte aligned: the library must copy it rather than read it in
	 * place.
	 */
	{
		struct reqspec r = {
			.buf = {
				{ B_HDR, 16, false },
				{ B_DATA, 64, true },
				{ B_STATUS, 1, true },
			},
			.n = 3,
			.table = B_TABLE,
		};

		byte_cuts(&c, 64, false);
		cuts_add(&c, B_TABLE - 3);
		cuts_add(&c, B_TABLE + 48);
		cuts_finish(&c);
		apply(&e, &c);
		run_request(&e, &c, &r, round++);
	}
	CHECK_EQ(e.logs, 0);
	env_fini(&e);
}

/* A request one piece over max_iovecs, then one exactly at it. */
static void test_too_many_pieces(bool indirect)
{
	struct env_cfg cfg = {
		.mem = MEM,
		.qsize = QSIZE,
		.ring = RING,
		.max_iovecs = B_MAX_IOVECS,
		.features = 1ull << VIRTIO_RING_F_INDIRECT_DESC,
	};
	struct sim_buf big[3] = {
		{ B_HDR, 16, false },
		{ B_DATA, 65, true },
		{ B_STATUS, 1, true },
	};
	struct reqspec good = {
		.buf = {
			{ B_HDR, 16, false },
			{ B_DATA, 64, true },
			{ B_STATUS, 1, true },
		},
		.n = 3,
		.table = indirect ? B_TABLE : 0,
	};
	struct vdk_vq_stats st;
	struct vdk_req *req;
	struct env e;
	struct cuts c;
	uint16_t id;
	uint32_t len;
	int head;

	env_init(&e, &cfg);
	byte_cuts(&c, 65, false);
	apply(&e, &c);
	head = sim_vq_add(e.s, 0, big, 3, indirect ? B_TABLE : 0);
	CHECK(head >= 0);
	sim_vq_kick(e.s, 0, false);
	/* Refused and completed by the library; nothing for the device. */
	CHECK_EQ(vdk_vq_pop(e.vq, &req), 0);
	CHECK(!vdk_vq_broken(e.vq));
	CHECK(vdk_vq_notify(e.vq) >= 0);
	CHECK_EQ(sim_vq_used(e.s, 0, &id, &len), 1);
	CHECK_EQ(id, head);
	CHECK_EQ(len, 0);
	CHECK_EQ(sim_vq_used(e.s, 0, &id, &len), 0);
	vdk_vq_get_stats(e.vq, &st);
	CHECK_EQ(st.bad, 1);
	CHECK_EQ(st.popped, 0);
	CHECK_EQ(e.logs, 1);
	CHECK(strstr(e.last_log, "too many"));
	CHECK_EQ(vdk_vq_inflight(e.vq), 0);

	run_request(&e, &c, &good, 2000);
	vdk_vq_get_stats(e.vq, &st);
	CHECK_EQ(st.bad, 1);
	CHECK_EQ(st.popped, 1);
	env_fini(&e);
}

int main(void)
{
	test_every_cut();
	test_every_byte();
	test_too_many_pieces(false);
	test_too_many_pieces(true);
	return T_EXIT_PASS;
}
