/* SPDX-License-Identifier: MIT */
/*
 * Mappings retired by VDUSE_UPDATE_IOTLB while queues run are unmapped
 * once no queue can use them, not only at the next reset.  A vhost-vdpa
 * client replaces its whole map whenever it maps or unmaps a buffer, so
 * without that a long-lived client would pile up mappings of memory it
 * let go of.  And no mapping goes while a request still points into it:
 * the simulator frees a region's memory when its last mapping goes, so a
 * write through a request held across many updates is a use after free
 * that AddressSanitizer reports.
 */
#include <errno.h>
#include <unistd.h>

#include "env.h"
#include "internal.h"

#define DATA 0x10000
#define ROUNDS 200

static int post(struct env *e, unsigned int q, uint8_t tag)
{
	struct sim_buf b[2] = {
		{ DATA + 0x100 * tag, 16, false },
		{ DATA + 0x100 * tag + 0x80, 64, true },
	};
	int head;

	sim_fill(e->s, b[0].iova, tag, 16);
	head = sim_vq_add(e->s, q, b, 2, 0);
	CHECK(head >= 0);
	return head;
}

static struct vdk_req *pop_on(struct env *e, unsigned int q)
{
	struct vdk_req *req = NULL;

	CHECK_EQ(vdk_vq_pop(vdk_dev_vq(e->dev, q), &req), 1);
	return req;
}

static void complete_on(struct env *e, unsigned int q, struct vdk_req *req)
{
	struct vdk_vq *vq = vdk_dev_vq(e->dev, q);
	uint16_t id;
	uint32_t len;

	memset(req->iov[req->n_out].iov_base, 0x5a, req->iov[req->n_out].iov_len);
	vdk_vq_push(vq, req, 64);
	CHECK(vdk_vq_notify(vq) >= 0);
	CHECK_EQ(sim_vq_used(e->s, q, &id, &len), 1);
	CHECK_EQ(len, 64);
}

/* One request through queue @q, start to end. */
static void one_request(struct env *e, unsigned int q, uint8_t tag)
{
	post(e, q, tag);
	complete_on(e, q, pop_on(e, q));
}

/* New region boundaries everywhere: every mapping is stale. */
static void recut(struct env *e, unsigned int round)
{
	uint64_t cuts[3] = {
		0x800 + (round % 7) * 0x10,
		DATA + 0x40 + (round % 5) * 0x100,
		0x80000 + round,
	};

	CHECK_EQ(sim_cut(e->s, cuts, 3), 0);
	CHECK(vdk_dev_process(e->dev) >= 1);
}

/* Whole-space updates, as vhost-vdpa sends them: a bounded number of maps. */
static void test_bounded(void)
{
	struct env_cfg cfg = { 0 };
	unsigned int live0, peak = 0, i;
	struct env e;

	env_init(&e, &cfg);
	one_request(&e, 0, 1);
	live0 = sim_live_maps(e.s);
	for (i = 0; i < ROUNDS; i++) {
		CHECK_EQ(sim_update_iotlb(e.s, e.dev, 0, UINT64_MAX), 0);
		one_request(&e, 0, (uint8_t)(2 + i % 100));
		if (sim_live_maps(e.s) > peak)
			peak = sim_live_maps(e.s);
	}
	/* The mappings of the last generation or two, not of all 200. */
	CHECK(peak <= 3 * live0);
	/* Regions cut anew each time: the same. */
	for (i = 0; i < ROUNDS; i++) {
		recut(&e, i);
		one_request(&e, 0, (uint8_t)(2 + i % 100));
		if (sim_live_maps(e.s) > peak)
			peak = sim_live_maps(e.s);
	}
	CHECK(peak <= 3 * (live0 + 3));
	CHECK_EQ(sim_set_status(e.s, e.dev, 0), 0);
	CHECK_EQ(sim_live_maps(e.s), 0);
	env_fini(&e);
}

/* A request held across many updates keeps its mappings. */
static void test_held_request(void)
{
	struct env_cfg cfg = { .num_queues = 2 };
	struct vdk_req *held;
	unsigned int live, i;
	struct env e;

	env_init(&e, &cfg);
	post(&e, 0, 1);
	held = pop_on(&e, 0);
	for (i = 0; i < 50; i++) {
		recut(&e, i);
		/* The other queue goes on; so does this one. */
		one_request(&e, 1, (uint8_t)(10 + i % 50));
		one_request(&e, 0, (uint8_t)(70 + i % 50));
	}
	/* Its memory is still there (ASan: no use after free). */
	memset(held->iov[held->n_out].iov_base, 0x77,
	       held->iov[held->n_out].iov_len);
	CHECK_EQ(((uint8_t *)held->iov[0].iov_base)[0], 1);
	live = sim_live_maps(e.s);
	complete_on(&e, 0, held);
	/* Once it is done, the next update lets the old mappings go. */
	recut(&e, 99);
	one_request(&e, 0, 3);
	one_request(&e, 1, 4);
	recut(&e, 100);
	CHECK(sim_live_maps(e.s) < live);
	env_fini(&e);
}

/*
 * A started queue that has not looked since an update holds what it had;
 * it is kicked, and once it has looked the old mappings go.
 */
static void test_idle_queue(void)
{
	struct env_cfg cfg = { .num_queues = 2 };
	unsigned int live0, i;
	uint64_t kicks = 0;
	struct env e;

	env_init(&e, &cfg);
	one_request(&e, 0, 1);
	one_request(&e, 1, 2);
	live0 = sim_live_maps(e.s);
	for (i = 0; i < 20; i++) {
		CHECK_EQ(sim_update_iotlb(e.s, e.dev, 0, UINT64_MAX), 0);
		one_request(&e, 0, (uint8_t)(3 + i));
	}
	CHECK(sim_live_maps(e.s) > live0 + 10);
	CHECK_EQ(read(vdk_vq_kickfd(vdk_dev_vq(e.dev, 1)), &kicks,
		      sizeof(kicks)), (ssize_t)sizeof(kicks));
	CHECK(kicks >= 1);
	/* Kicked, it looks: the next update lets the old mappings go. */
	CHECK(!vdk_vq_pending(vdk_dev_vq(e.dev, 1)));
	CHECK_EQ(sim_update_iotlb(e.s, e.dev, 0, UINT64_MAX), 0);
	one_request(&e, 0, 40);
	one_request(&e, 1, 41);
	CHECK(sim_live_maps(e.s) <= live0 + 1);
	env_fini(&e);
}

/*
 * A queue broken by its driver holds no mapping: one whose rings were
 * unmapped, or whose avail ring names a head past the ring, while the
 * other queue goes on under a map that changes all the time.  A broken
 * queue used to keep its rings' generation for good, so every mapping
 * retired after it stayed mapped: 2,001 after 2,000 updates.
 */
static void test_broken_queue(bool unmap_rings)
{
	struct env_cfg cfg = { .num_queues = 2 };
	const uint64_t ring1 = 0x1000 + 0x4000;
	unsigned int live0, peak = 0, i;
	struct vdk_req *req;
	struct env e;

	env_init(&e, &cfg);
	one_request(&e, 0, 1);
	one_request(&e, 1, 2);
	live0 = sim_live_maps(e.s);
	if (unmap_rings) {
		CHECK_EQ(sim_set_perm(e.s, ring1, ring1 + 0x3fff, 0), 0);
		CHECK(vdk_dev_process(e.dev) >= 1);
	} else {
		sim_vq_raw_avail(e.s, 1, 999);
	}
	CHECK_EQ(vdk_vq_pop(vdk_dev_vq(e.dev, 1), &req), -EIO);
	CHECK(vdk_vq_broken(vdk_dev_vq(e.dev, 1)));
	for (i = 0; i < 2000; i++) {
		CHECK_EQ(sim_update_iotlb(e.s, e.dev, 0, UINT64_MAX), 0);
		one_request(&e, 0, (uint8_t)(3 + i % 100));
		if (sim_live_maps(e.s) > peak)
			peak = sim_live_maps(e.s);
		/* Its calls change nothing and touch no ring. */
		CHECK_EQ(vdk_vq_pop(vdk_dev_vq(e.dev, 1), &req), -EIO);
		CHECK_EQ(vdk_vq_notify(vdk_dev_vq(e.dev, 1)), 0);
		vdk_vq_set_kick(vdk_dev_vq(e.dev, 1), true);
	}
	CHECK(peak <= 3 * live0 + 3);
	/* A reset brings it back. */
	CHECK_EQ(sim_set_status(e.s, e.dev, 0), 0);
	CHECK_EQ(sim_live_maps(e.s), 0);
	env_fini(&e);
}

/*
 * A request held forever on one queue pins what was mapped when it was
 * taken, and everything retired since; the other queue churning the map
 * meanwhile meets VDK_IOTLB_MAX_MAPS, not the process's map limit.  When
 * the request completes, the next update lets it all go.
 */
static void test_stalled_queue(void)
{
	struct env_cfg cfg = { .num_queues = 2 };
	unsigned int peak = 0, i, refused = 0;
	struct vdk_req *held, *req;
	struct vdk_vq *vq0;
	struct env e;

	env_init(&e, &cfg);
	vq0 = vdk_dev_vq(e.dev, 0);
	post(&e, 1, 1);
	held = pop_on(&e, 1);
	for (i = 0; i < 2 * VDK_IOTLB_MAX_MAPS && !vdk_vq_broken(vq0); i++) {
		uint16_t id;
		uint32_t len;
		int r;

		CHECK_EQ(sim_update_iotlb(e.s, e.dev, 0, UINT64_MAX), 0);
		post(&e, 0, (uint8_t)(3 + i % 100));
		r = vdk_vq_pop(vq0, &req);
		if (r == 1) {
			vdk_vq_push(vq0, req, 0);
		} else if (r == 0) {
			refused++;
		} else {
			CHECK_EQ(r, -EIO);
			break;
		}
		CHECK(vdk_vq_notify(vq0) >= 0 || vdk_vq_broken(vq0));
		while (sim_vq_used(e.s, 0, &id, &len))
			;
		if (sim_live_maps(e.s) > peak)
			peak = sim_live_maps(e.s);
	}
	/* It met the bound: refused, or its rings could not be found. */
	CHECK(refused > 0 || vdk_vq_broken(vq0));
	CHECK(peak <= VDK_IOTLB_MAX_MAPS);
	CHECK(peak >= VDK_IOTLB_MAX_MAPS - 4);
	/* The held request's memory is still there (ASan). */
	memset(held->iov[held->n_out].iov_base, 0x77,
	       held->iov[held->n_out].iov_len);
	complete_on(&e, 1, held);
	CHECK_EQ(sim_update_iotlb(e.s, e.dev, 0, UINT64_MAX), 0);
	one_request(&e, 1, 4);
	CHECK_EQ(sim_update_iotlb(e.s, e.dev, 0, UINT64_MAX), 0);
	CHECK(sim_live_maps(e.s) < 16);
	env_fini(&e);
}

int main(void)
{
	test_bounded();
	test_held_request();
	test_idle_queue();
	test_broken_queue(true);
	test_broken_queue(false);
	test_stalled_queue();
	return 0;
}
