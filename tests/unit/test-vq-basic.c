/* SPDX-License-Identifier: MIT */
/*
 * Requests through a simulated driver: direct and indirect chains, with
 * and without the event index; data checked byte for byte both ways.
 */
#include <linux/virtio_ids.h>
#include <linux/virtio_ring.h>

#include "sim.h"
#include "test.h"
#include <vdk/vdk.h>

#define MEM (4u << 20)
#define RING 0x1000
#define DATA 0x100000
#define QSIZE 64

static struct vdk_dev *make_dev(struct sim *s, unsigned int nq)
{
	uint8_t config[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	struct vdk_dev_cfg cfg = {
		.name = "t0",
		.device_id = VIRTIO_ID_BLOCK,
		.num_queues = nq,
		.queue_size = QSIZE,
		.config = config,
		.config_size = sizeof(config),
	};
	struct vdk_dev *dev;

	CHECK_EQ(sim_dev_new(s, &cfg, true, &dev), 0);
	return dev;
}

static void run(bool event_idx, bool indirect)
{
	uint64_t features = 1ull << 32 | 1ull << 33;
	struct vdk_req *req, *got;
	struct vdk_dev *dev;
	struct vdk_vq *vq;
	struct sim *s;
	unsigned int round;

	if (event_idx)
		features |= 1ull << VIRTIO_RING_F_EVENT_IDX;
	if (indirect)
		features |= 1ull << VIRTIO_RING_F_INDIRECT_DESC;
	CHECK_EQ(sim_new(MEM, &s), 0);
	dev = make_dev(s, 1);
	sim_vq_setup(s, 0, QSIZE, RING);
	CHECK_EQ(sim_driver_ok(s, dev, features), 0);
	vq = vdk_dev_vq(dev, 0);
	CHECK(vdk_vq_ready(vq));
	CHECK_EQ(vdk_vq_size(vq), QSIZE);
	CHECK_EQ(vdk_vq_pop(vq, &req), 0);

	for (round = 0; round < 300; round++) {
		unsigned char out[100], in[300];
		struct sim_buf b[3] = {
			{ DATA, 100, false },
			{ DATA + 4096, 200, true },
			{ DATA + 8192, 100, true },
		};
		uint16_t id;
		uint32_t len;
		unsigned int i;
		int head;

		for (i = 0; i < sizeof(out); i++)
			out[i] = (unsigned char)(round + i);
		sim_write(s, DATA, out, sizeof(out));
		sim_fill(s, DATA + 4096, 0, 200);
		sim_fill(s, DATA + 8192, 0, 100);
		head = sim_vq_add(s, 0, b, 3, indirect ? DATA + 65536 : 0);
		CHECK(head >= 0);
		sim_vq_kick(s, 0, false);

		CHECK_EQ(vdk_vq_pop(vq, &req), 1);
		got = req;
		CHECK_EQ(req->id, head);
		CHECK_EQ(req->n_out, 1);
		CHECK_EQ(req->n_in, 2);
		CHECK_EQ(req->out_len, 100);
		CHECK_EQ(req->in_len, 300);
		CHECK(memcmp(req->iov[0].iov_base, out, 100) == 0);
		memset(req->iov[1].iov_base, 0xa5, req->iov[1].iov_len);
		memset(req->iov[2].iov_base, 0x5a, req->iov[2].iov_len);
		CHECK_EQ(vdk_vq_pop(vq, &req) , 0);
		vdk_vq_push(vq, got, 300);
		CHECK(vdk_vq_notify(vq) >= 0);
		CHECK_EQ(sim_vq_used(s, 0, &id, &len), 1);
		CHECK_EQ(id, head);
		CHECK_EQ(len, 300);
		sim_read(s, DATA + 4096, in, 200);
		sim_read(s, DATA + 8192, in + 200, 100);
		for (i = 0; i < 300; i++)
			CHECK_EQ(in[i], i < 200 ? 0xa5 : 0x5a);
		if (event_idx)
			sim_vq_set_used_event(s, 0, (uint16_t)(round + 1));
	}
	/* One interrupt per round: the driver asked for each. */
	CHECK_EQ(sim_vq_irqs(s, 0), 300);
	CHECK_EQ(vdk_vq_inflight(vq), 0);
	CHECK_EQ(sim_set_status(s, dev, 0), 0);
	CHECK(!vdk_vq_ready(vq));
	CHECK_EQ(sim_live_maps(s), 0);
	vdk_dev_close(dev);
	sim_free(s);
}

int main(void)
{
	run(false, false);
	run(true, false);
	run(false, true);
	run(true, true);
	return T_EXIT_PASS;
}
