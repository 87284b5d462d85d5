/* SPDX-License-Identifier: MIT */
/*
 * Daemon restart with the in-flight log: the requests in flight when the
 * daemon died are taken again, oldest first, exactly once; completions
 * the driver already saw are not repeated, even when the daemon died in
 * the middle of one.
 */
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/virtio_ids.h>
#include <linux/virtio_ring.h>

#include "internal.h"
#include "sim.h"
#include "test.h"

#define MEM (1u << 20)
#define RING 0x1000
#define DATA 0x40000
#define QSIZE 16
#define FEATURES ((1ull << 32) | (1ull << 33) | (1ull << VIRTIO_RING_F_EVENT_IDX))

static char log_path[64];

static struct vdk_dev *open_dev(struct sim *s, bool create)
{
	struct vdk_dev_cfg cfg = {
		.name = "r0",
		.device_id = VIRTIO_ID_BLOCK,
		.num_queues = 1,
		.queue_size = QSIZE,
		.inflight_path = log_path,
	};
	struct vdk_dev *dev;

	CHECK_EQ(sim_dev_new(s, &cfg, create, &dev), 0);
	return dev;
}

static int post(struct sim *s, unsigned int i)
{
	struct sim_buf b = { DATA + 64 * i, 64, true };

	return sim_vq_add(s, 0, &b, 1, 0);
}

static struct vdk_req *pop(struct vdk_dev *dev)
{
	struct vdk_req *req;

	CHECK_EQ(vdk_vq_pop(vdk_dev_vq(dev, 0), &req), 1);
	return req;
}

static void test_resubmit(void)
{
	struct vdk_req *req[5];
	struct vdk_dev *dev;
	int head[7], i;
	struct sim *s;
	uint16_t id;
	uint32_t len;

	CHECK_EQ(sim_new(MEM, &s), 0);
	dev = open_dev(s, true);
	sim_vq_setup(s, 0, QSIZE, RING);
	CHECK_EQ(sim_driver_ok(s, dev, FEATURES), 0);
	for (i = 0; i < 5; i++)
		head[i] = post(s, i);
	for (i = 0; i < 5; i++)
		req[i] = pop(dev);
	/* Complete 1 and 3; 0, 2, 4 stay in flight. */
	vdk_vq_push(vdk_dev_vq(dev, 0), req[1], 7);
	vdk_vq_push(vdk_dev_vq(dev, 0), req[3], 7);
	/* Two more arrive, not yet taken. */
	head[5] = post(s, 5);
	head[6] = post(s, 6);

	/* The daemon dies: no reset, the kernel keeps the device. */
	vdk_dev_close(dev);
	dev = open_dev(s, false);
	CHECK(vdk_vq_ready(vdk_dev_vq(dev, 0)));
	CHECK_EQ(pop(dev)->id, head[0]);
	CHECK_EQ(pop(dev)->id, head[2]);
	CHECK_EQ(pop(dev)->id, head[4]);
	CHECK_EQ(pop(dev)->id, head[5]);
	CHECK_EQ(pop(dev)->id, head[6]);
	CHECK_EQ(vdk_vq_pop(vdk_dev_vq(dev, 0), &req[0]), 0);
	/* Completions: 1 and 3 from before, none repeated. */
	CHECK_EQ(sim_vq_used(s, 0, &id, &len), 1);
	CHECK_EQ(id, head[1]);
	CHECK_EQ(sim_vq_used(s, 0, &id, &len), 1);
	CHECK_EQ(id, head[3]);
	CHECK_EQ(sim_vq_used(s, 0, &id, &len), 0);

	/* After a reset nothing is taken again. */
	vdk_dev_close(dev);
	dev = open_dev(s, false);
	CHECK_EQ(vdk_vq_inflight(vdk_dev_vq(dev, 0)), 0);
	CHECK_EQ(sim_set_status(s, dev, 0), 0);
	vdk_dev_close(dev);
	dev = open_dev(s, false);
	CHECK(!vdk_vq_ready(vdk_dev_vq(dev, 0)));
	vdk_dev_close(dev);
	sim_free(s);
}

/*
 * The daemon died after publishing used->idx and before clearing the
 * head's stamp: recovery must see that the driver has that completion.
 */
static void test_torn_completion(void)
{
	struct vdk__inflight_q *log;
	struct vdk_req *a, *b;
	struct vdk_dev *dev;
	struct sim *s;
	uint64_t stamp;
	uint16_t id;
	uint32_t len;
	int ha, hb;

	CHECK_EQ(sim_new(MEM, &s), 0);
	dev = open_dev(s, true);
	sim_vq_setup(s, 0, QSIZE, RING);
	CHECK_EQ(sim_driver_ok(s, dev, FEATURES), 0);
	ha = post(s, 0);
	hb = post(s, 1);
	a = pop(dev);
	b = pop(dev);
	CHECK_EQ(a->id, ha);
	log = vdk_dev_vq(dev, 0)->log;
	stamp = log->stamp[ha];
	CHECK(stamp != 0);
	vdk_vq_push(vdk_dev_vq(dev, 0), a, 1);
	/* Undo the last two stores of the completion, as a SIGKILL would. */
	log->stamp[ha] = stamp;
	log->used_idx--;
	(void)b;
	vdk_dev_close(dev);

	dev = open_dev(s, false);
	CHECK_EQ(pop(dev)->id, hb);
	CHECK_EQ(vdk_vq_pop(vdk_dev_vq(dev, 0), &a), 0);
	CHECK_EQ(sim_vq_used(s, 0, &id, &len), 1);
	CHECK_EQ(id, ha);
	CHECK_EQ(sim_vq_used(s, 0, &id, &len), 0);
	vdk_dev_close(dev);
	sim_free(s);
}

/* A log that does not match the ring is refused, not trusted. */
static void test_bad_log(void)
{
	struct vdk__inflight_q *log;
	struct vdk_dev *dev;
	struct vdk_req *r;
	struct sim *s;
	int h;

	CHECK_EQ(sim_new(MEM, &s), 0);
	dev = open_dev(s, true);
	sim_vq_setup(s, 0, QSIZE, RING);
	CHECK_EQ(sim_driver_ok(s, dev, FEATURES), 0);
	h = post(s, 0);
	CHECK_EQ(pop(dev)->id, h);
	log = vdk_dev_vq(dev, 0)->log;
	log->used_idx = 9; /* nowhere near the ring's 0 */
	vdk_dev_close(dev);
	dev = open_dev(s, false);
	/*
	 * Not trusted: the queue goes on from the ring's used index, which
	 * takes the uncompleted request again from the avail ring.
	 */
	CHECK_EQ(pop(dev)->id, h);
	CHECK_EQ(vdk_vq_pop(vdk_dev_vq(dev, 0), &r), 0);
	h = post(s, 1);
	CHECK_EQ(pop(dev)->id, h);
	vdk_dev_close(dev);
	sim_free(s);
}

int main(void)
{
	snprintf(log_path, sizeof(log_path), "/tmp/vdk-test-inflight-%d",
		 getpid());
	test_resubmit();
	test_torn_completion();
	test_bad_log();
	unlink(log_path);
	return T_EXIT_PASS;
}
