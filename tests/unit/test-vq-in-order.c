/* SPDX-License-Identifier: MIT */
/*
 * VIRTIO_F_IN_ORDER (VDK_DEV_F_IN_ORDER), on split rings and, with
 * VDK_TEST_PACKED=1, packed ones.  The driver side reads completions as
 * Linux does: one used entry may stand for a run of the oldest buffers.
 *
 * (a) pushed in any order, the driver gets them in the order it posted
 *     them, a request pushed early held until the older ones are;
 * (b) at the notify, a run of requests that used their whole buffers goes
 *     out as one used entry; one that used less ends a run (the driver
 *     could not tell its length);
 * (c) a refused chain among them is completed in its turn;
 * (d) a driver that does not take the feature gets completions as they
 *     come, as before;
 * (e) many rounds of random push orders and lengths: every request
 *     completed exactly once, in order, with its length.
 */
#include "env.h"

#define DATA 0x40000
#define QSIZE 16

static void in_order_env(struct env *e, bool take)
{
	struct env_cfg c = {
		.qsize = QSIZE,
		.no_driver_ok = true,
		.flags = VDK_DEV_F_IN_ORDER,
	};

	env_init(e, &c);
	CHECK(sim_device_features(e->s) & (1ull << VIRTIO_F_IN_ORDER));
	e->cfg.features = take ? 1ull << VIRTIO_F_IN_ORDER : 0;
	env_driver_ok(e);
	CHECK_EQ(!!(vdk_dev_driver_features(e->dev) &
		    (1ull << VIRTIO_F_IN_ORDER)),
		 take);
}

/* Post @n requests of a readable 16 bytes and a writable 64. */
static void post(struct env *e, unsigned int n, int *head)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		struct sim_buf b[2] = {
			{ DATA + 128ull * i, 16, false },
			{ DATA + 128ull * i + 64, 64, true },
		};

		head[i] = sim_vq_add(e->s, 0, b, 2, 0);
		CHECK(head[i] >= 0);
	}
	sim_vq_kick(e->s, 0, true);
}

/* Post @n requests of a writable 64 bytes alone (as rx buffers are). */
static void post_in(struct env *e, unsigned int n, int *head)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		struct sim_buf b = { DATA + 128ull * i, 64, true };

		head[i] = sim_vq_add(e->s, 0, &b, 1, 0);
		CHECK(head[i] >= 0);
	}
	sim_vq_kick(e->s, 0, true);
}

static void pop_all(struct env *e, unsigned int n, struct vdk_req **req,
		    const int *head)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		CHECK_EQ(vdk_vq_pop(e->vq, &req[i]), 1);
		CHECK_EQ(req[i]->id, head[i]);
	}
	CHECK_EQ(vdk_vq_pop(e->vq, &req[n]), 0);
}

static void expect_used(struct env *e, int head, uint32_t len)
{
	uint16_t id;
	uint32_t l;

	CHECK_EQ(sim_vq_used(e->s, 0, &id, &l), 1);
	CHECK_EQ(id, head);
	CHECK_EQ(l, len);
}

static void expect_none(struct env *e)
{
	uint16_t id;
	uint32_t l;

	CHECK(vdk_vq_notify(e->vq) >= 0);
	CHECK_EQ(sim_vq_used(e->s, 0, &id, &l), 0);
	CHECK(!sim_vq_in_order_bad(e->s, 0));
}

/* Used ring entries (split) or descriptors (packed) written so far. */
static uint64_t pushed(struct env *e)
{
	struct vdk_vq_stats st;

	vdk_vq_get_stats(e->vq, &st);
	return st.pushed;
}

static void test_order(void)
{
	struct vdk_req *req[9];
	int head[8];
	struct env e;
	unsigned int i;

	in_order_env(&e, true);
	post(&e, 8, head);
	pop_all(&e, 8, req, head);
	/* Newest first: nothing goes out until the oldest does. */
	for (i = 8; i-- > 1;)
		vdk_vq_push(e.vq, req[i], 10 + i);
	expect_none(&e);
	CHECK_EQ(vdk_vq_inflight(e.vq), 1);
	vdk_vq_push(e.vq, req[0], 10);
	CHECK(vdk_vq_notify(e.vq) >= 0);
	/* Each used less than its 80 bytes: one entry each, in order. */
	for (i = 0; i < 8; i++)
		expect_used(&e, head[i], 10 + i);
	expect_none(&e);
	CHECK_EQ(vdk_vq_inflight(e.vq), 0);
	env_fini(&e);
}

static void test_runs(void)
{
	struct vdk_req *req[9];
	int head[8];
	struct env e;
	unsigned int i;
	uint16_t used0 = 0;

	in_order_env(&e, true);
	if (!e.cfg.packed)
		used0 = sim_vq_used_idx(e.s, 0);
	post_in(&e, 8, head);
	pop_all(&e, 8, req, head);
	/*
	 * Whole buffers but the fourth (32 of 64) and the last: runs
	 * 0-3 and 4-7, two entries for eight.
	 */
	for (i = 8; i-- > 0;)
		vdk_vq_push(e.vq, req[i], i == 3 || i == 7 ? 32 : 64);
	/* Out at the notify. */
	CHECK_EQ(pushed(&e), 0);
	CHECK(vdk_vq_notify(e.vq) >= 0);
	CHECK_EQ(pushed(&e), 8);
	if (!e.cfg.packed)
		CHECK_EQ((uint16_t)(sim_vq_used_idx(e.s, 0) - used0), 8);
	for (i = 0; i < 8; i++)
		expect_used(&e, head[i], i == 3 || i == 7 ? 32 : 64);
	expect_none(&e);
	/* Again, all whole: one entry, and the driver reads them all. */
	post_in(&e, 8, head);
	pop_all(&e, 8, req, head);
	for (i = 0; i < 8; i++)
		vdk_vq_push(e.vq, req[i], 64);
	CHECK(vdk_vq_notify(e.vq) >= 0);
	for (i = 0; i < 8; i++)
		expect_used(&e, head[i], 64);
	expect_none(&e);
	env_fini(&e);
}

/*
 * The ring entries a run leaves alone stay as they were: the driver
 * reads the run from one.  Split: the used ring; packed: the ring.
 */
static void test_one_entry(void)
{
	struct vdk_req *req[5];
	int head[4];
	struct env e;
	unsigned int i;
	uint64_t at;
	uint8_t poison[64], got[64];

	in_order_env(&e, true);
	/* Where the driver's completions land (see sim_vq_setup()). */
	at = e.cfg.packed ? e.cfg.ring : e.cfg.ring + 4096 + 4;
	post_in(&e, 4, head);
	pop_all(&e, 4, req, head);
	memset(poison, 0xee, sizeof(poison));
	if (e.cfg.packed) {
		/* The used descriptor goes where the run began. */
		sim_read(e.s, at + 16, got, 48);
		memcpy(poison, got, 48);
	} else {
		sim_write(e.s, at, poison, 8 * 4);
	}
	for (i = 0; i < 4; i++)
		vdk_vq_push(e.vq, req[i], 64);
	CHECK(vdk_vq_notify(e.vq) >= 0);
	CHECK_EQ(pushed(&e), 4);
	if (e.cfg.packed) {
		struct vring_packed_desc d;

		sim_read(e.s, at, &d, sizeof(d));
		CHECK_EQ(le16toh(d.id), head[3]);
		CHECK_EQ(le32toh(d.len), 64);
		/* The next three are the driver's, untouched. */
		sim_read(e.s, at + 16, got, 48);
		CHECK(memcmp(got, poison, 48) == 0);
	} else {
		struct vring_used_elem u;

		sim_read(e.s, at, &u, sizeof(u));
		CHECK_EQ(le32toh(u.id), head[3]);
		CHECK_EQ(le32toh(u.len), 64);
		sim_read(e.s, at + 8, got, 24);
		CHECK(memcmp(got, poison, 24) == 0);
	}
	CHECK(vdk_vq_notify(e.vq) >= 0);
	for (i = 0; i < 4; i++)
		expect_used(&e, head[i], 64);
	expect_none(&e);
	env_fini(&e);
}

/* A chain refused among good ones: completed in its turn, length 0. */
static void test_refused(void)
{
	struct vdk_req *req[3];
	int head[3];
	struct env e;
	unsigned int i;

	in_order_env(&e, true);
	for (i = 0; i < 3; i++) {
		/* The second one's buffer is past the driver's memory. */
		struct sim_buf b = { i == 1 ? e.cfg.mem + 4096 :
					      DATA + 128ull * i,
				     64, true };

		head[i] = sim_vq_add(e.s, 0, &b, 1, 0);
		CHECK(head[i] >= 0);
	}
	sim_vq_kick(e.s, 0, true);
	CHECK_EQ(vdk_vq_pop(e.vq, &req[0]), 1);
	CHECK_EQ(vdk_vq_pop(e.vq, &req[2]), 1);
	CHECK_EQ(req[2]->id, head[2]);
	CHECK_EQ(vdk_vq_pop(e.vq, &req[1]), 0);
	/* Refused, but behind request 0: not out yet. */
	expect_none(&e);
	vdk_vq_push(e.vq, req[2], 64);
	expect_none(&e);
	vdk_vq_push(e.vq, req[0], 64);
	CHECK(vdk_vq_notify(e.vq) >= 0);
	expect_used(&e, head[0], 64);
	expect_used(&e, head[1], 0);
	expect_used(&e, head[2], 64);
	expect_none(&e);
	CHECK(!vdk_vq_broken(e.vq));
	env_fini(&e);
}

/* Offered, not taken: completions as they come. */
static void test_not_taken(void)
{
	struct vdk_req *req[4];
	int head[3];
	struct env e;

	in_order_env(&e, false);
	post(&e, 3, head);
	pop_all(&e, 3, req, head);
	vdk_vq_push(e.vq, req[2], 5);
	CHECK(vdk_vq_notify(e.vq) >= 0);
	expect_used(&e, head[2], 5);
	vdk_vq_push(e.vq, req[0], 6);
	vdk_vq_push(e.vq, req[1], 7);
	CHECK(vdk_vq_notify(e.vq) >= 0);
	expect_used(&e, head[0], 6);
	expect_used(&e, head[1], 7);
	env_fini(&e);
}

static uint32_t rnd(uint32_t *seed)
{
	*seed = *seed * 1103515245u + 12345u;
	return *seed >> 16;
}

static void test_random(void)
{
	uint32_t seed = 1, lens[QSIZE];
	struct vdk_req *req[QSIZE + 1];
	int head[QSIZE];
	unsigned int round, i, n, perm[QSIZE];
	struct env e;

	in_order_env(&e, true);
	for (round = 0; round < 500; round++) {
		n = 1 + rnd(&seed) % QSIZE;
		post_in(&e, n, head);
		pop_all(&e, n, req, head);
		for (i = 0; i < n; i++) {
			perm[i] = i;
			lens[i] = rnd(&seed) % 3 ? 64 : rnd(&seed) % 65;
		}
		for (i = n; i > 1; i--) {
			unsigned int j = rnd(&seed) % i, t = perm[i - 1];

			perm[i - 1] = perm[j];
			perm[j] = t;
		}
		for (i = 0; i < n; i++)
			vdk_vq_push(e.vq, req[perm[i]], lens[perm[i]]);
		CHECK(vdk_vq_notify(e.vq) >= 0);
		for (i = 0; i < n; i++)
			expect_used(&e, head[i], lens[i]);
		expect_none(&e);
	}
	CHECK_EQ(vdk_vq_inflight(e.vq), 0);
	env_fini(&e);
}

int main(void)
{
	test_order();
	test_runs();
	test_one_entry();
	test_refused();
	test_not_taken();
	test_random();
	return T_EXIT_PASS;
}
