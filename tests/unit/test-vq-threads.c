/* SPDX-License-Identifier: MIT */
/*
 * Two queues served by two threads at once, each fed by its own driver
 * thread, while the control thread invalidates IOTLB ranges under them
 * (VDUSE_UPDATE_IOTLB of data, never of the rings; the memory itself stays,
 * so the library only has to map it again).  Every request carries data
 * both ways, checked byte for byte, and must complete exactly once.
 */
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <unistd.h>

#include "env.h"

#define NQ 2
#define QSIZE 64
#define REQS 20000          /* per queue */
#define MEM (4u << 20)
#define RINGS_END 0x10000   /* rings of both queues below this */
#define CUT_STEP 0x777      /* data regions: odd sizes, buffers span them */
#define SLOTS 32            /* requests in flight per queue, at most */
#define SLOT_SIZE 0x2000
#define OUT_LEN 1000
#define IN_LEN 700

/* Where slot @slot of queue @q keeps its buffers. */
static uint64_t slot_base(unsigned int q, unsigned int slot)
{
	return 0x100000 + q * 0x100000 + (uint64_t)slot * SLOT_SIZE;
}

struct hdr {
	uint32_t q, seq;
	uint64_t pad;
};

static uint8_t out_byte(unsigned int q, uint32_t seq, size_t k)
{
	return (uint8_t)((seq * 131u + k * 7u + q * 29u) >> 1);
}

static uint8_t in_byte(unsigned int q, uint32_t seq, size_t k)
{
	return (uint8_t)(seq * 17u + k * 13u + q * 101u + 1);
}

struct queue {
	struct env *e;
	unsigned int q;
	struct vdk_vq *vq;
	/* Driver side. */
	int slot_of_head[QSIZE];
	uint32_t seq_of_slot[SLOTS];
	bool slot_busy[SLOTS];
	unsigned int completed;
	/* Device side. */
	unsigned int served;
	atomic_bool done;
	bool failed;
};

/* Post request @seq in @slot; false when the ring has no room. */
static bool driver_post(struct queue *dq, unsigned int slot, uint32_t seq)
{
	struct env *e = dq->e;
	uint64_t base = slot_base(dq->q, slot);
	uint8_t buf[OUT_LEN];
	struct hdr h = { .q = dq->q, .seq = seq };
	struct sim_buf b[4] = {
		{ base, sizeof(h), false },
		{ base + 0x100, OUT_LEN, false },
		{ base + 0x800, IN_LEN, true },
		{ base + 0xfff, 1, true },
	};
	size_t k;
	int head;

	for (k = 0; k < OUT_LEN; k++)
		buf[k] = out_byte(dq->q, seq, k);
	sim_write(e->s, base, &h, sizeof(h));
	sim_write(e->s, base + 0x100, buf, OUT_LEN);
	sim_fill(e->s, base + 0x800, 0, IN_LEN);
	sim_fill(e->s, base + 0xfff, 0xff, 1);
	/* Every third request through an indirect table. */
	head = sim_vq_add(e->s, dq->q, b, 4, seq % 3 ? 0 : base + 0x1800);
	if (head < 0)
		return false;
	CHECK(head < QSIZE);
	CHECK_EQ(dq->slot_of_head[head], -1);
	dq->slot_of_head[head] = (int)slot;
	dq->seq_of_slot[slot] = seq;
	dq->slot_busy[slot] = true;
	sim_vq_kick(e->s, dq->q, false);
	return true;
}

static void driver_complete(struct queue *dq, uint16_t id, uint32_t len)
{
	struct env *e = dq->e;
	uint8_t buf[IN_LEN], status;
	unsigned int slot;
	uint64_t base;
	uint32_t seq;
	size_t k;

	CHECK(id < QSIZE);
	/* Exactly once: the head must be ours and in flight. */
	CHECK(dq->slot_of_head[id] >= 0);
	slot = (unsigned int)dq->slot_of_head[id];
	dq->slot_of_head[id] = -1;
	CHECK(dq->slot_busy[slot]);
	dq->slot_busy[slot] = false;
	seq = dq->seq_of_slot[slot];
	base = slot_base(dq->q, slot);
	CHECK_EQ(len, IN_LEN + 1);
	sim_read(e->s, base + 0x800, buf, IN_LEN);
	for (k = 0; k < IN_LEN; k++)
		CHECK_EQ(buf[k], in_byte(dq->q, seq, k));
	sim_read(e->s, base + 0xfff, &status, 1);
	CHECK_EQ(status, 0);
	dq->completed++;
}

static void *driver_thread(void *arg)
{
	struct queue *dq = arg;
	uint32_t seq = 0;
	uint16_t id;
	uint32_t len;

	while (dq->completed < REQS) {
		unsigned int slot;
		bool posted = false;

		for (slot = 0; slot < SLOTS && seq < REQS; slot++) {
			if (dq->slot_busy[slot])
				continue;
			/* A direct chain needs 4 descriptors: may not fit. */
			if (!driver_post(dq, slot, seq))
				break;
			seq++;
			posted = true;
			if (seq % 5 == 0)
				break;
		}
		while (sim_vq_used(dq->e->s, dq->q, &id, &len) == 1)
			driver_complete(dq, id, len);
		if (!posted)
			sched_yield();
	}
	return NULL;
}

/* Check the readable vectors and fill the writable ones. */
static void device_handle(struct queue *dq, struct vdk_req *req)
{
	uint8_t out[sizeof(struct hdr) + OUT_LEN], *p = out;
	struct hdr h;
	unsigned int v;
	size_t k, pos;

	CHECK_EQ(req->out_len, sizeof(out));
	CHECK_EQ(req->in_len, IN_LEN + 1);
	for (v = 0; v < req->n_out; v++) {
		memcpy(p, req->iov[v].iov_base, req->iov[v].iov_len);
		p += req->iov[v].iov_len;
	}
	memcpy(&h, out, sizeof(h));
	CHECK_EQ(h.q, dq->q);
	for (k = 0; k < OUT_LEN; k++)
		CHECK_EQ(out[sizeof(h) + k], out_byte(dq->q, h.seq, k));
	pos = 0;
	for (v = req->n_out; v < req->n_out + req->n_in; v++) {
		uint8_t *w = req->iov[v].iov_base;

		for (k = 0; k < req->iov[v].iov_len; k++, pos++)
			w[k] = pos < IN_LEN ? in_byte(dq->q, h.seq, pos) : 0;
	}
	CHECK_EQ(pos, IN_LEN + 1);
}

static void *device_thread(void *arg)
{
	struct queue *dq = arg;
	struct pollfd pfd = { .fd = vdk_vq_kickfd(dq->vq), .events = POLLIN };

	while (dq->served < REQS) {
		struct vdk_req *req;
		uint64_t v;
		int ret;

		while ((ret = vdk_vq_pop(dq->vq, &req)) == 1) {
			device_handle(dq, req);
			vdk_vq_push(dq->vq, req, IN_LEN + 1);
			dq->served++;
		}
		CHECK_EQ(ret, 0);
		CHECK(vdk_vq_notify(dq->vq) >= 0);
		if (dq->served == REQS)
			break;
		vdk_vq_set_kick(dq->vq, true);
		if (vdk_vq_pending(dq->vq)) {
			vdk_vq_set_kick(dq->vq, false);
			continue;
		}
		ret = poll(&pfd, 1, 10000);
		if (ret == 0) {
			fprintf(stderr, "queue %u: no kick for 10 s\n", dq->q);
			dq->failed = true;
			break;
		}
		CHECK_EQ(read(pfd.fd, &v, sizeof(v)), sizeof(v));
		vdk_vq_set_kick(dq->vq, false);
	}
	atomic_store(&dq->done, true);
	return NULL;
}

int main(void)
{
	struct env_cfg cfg = {
		.mem = MEM,
		.num_queues = NQ,
		.qsize = QSIZE,
		.ring = 0x1000,
		.ring_stride = 0x4000,
		.features = (1ull << VIRTIO_RING_F_EVENT_IDX) |
			    (1ull << VIRTIO_RING_F_INDIRECT_DESC),
	};
	static uint64_t cuts[MEM / CUT_STEP + 2];
	struct queue qs[NQ];
	pthread_t drv[NQ], devt[NQ];
	unsigned int ncuts = 0, q, invalidations = 0;
	struct vdk_dev_stats ds;
	uint64_t at, rnd = 88172645463325252ull;
	struct env e;

	env_init(&e, &cfg);
	cuts[ncuts++] = RINGS_END;
	for (at = RINGS_END + CUT_STEP; at < MEM; at += CUT_STEP)
		cuts[ncuts++] = at;
	CHECK_EQ(sim_cut(e.s, cuts, ncuts), 0);
	CHECK_EQ(vdk_dev_process(e.dev), 1);

	memset(qs, 0, sizeof(qs));
	for (q = 0; q < NQ; q++) {
		qs[q].e = &e;
		qs[q].q = q;
		qs[q].vq = vdk_dev_vq(e.dev, q);
		memset(qs[q].slot_of_head, -1, sizeof(qs[q].slot_of_head));
		CHECK_EQ(pthread_create(&devt[q], NULL, device_thread, &qs[q]),
			 0);
		CHECK_EQ(pthread_create(&drv[q], NULL, driver_thread, &qs[q]),
			 0);
	}

	/* Invalidate data ranges while both queues run. */
	while (!atomic_load(&qs[0].done) || !atomic_load(&qs[1].done)) {
		uint64_t start, len;

		rnd ^= rnd << 13;
		rnd ^= rnd >> 7;
		rnd ^= rnd << 17;
		start = RINGS_END + rnd % (MEM - RINGS_END);
		len = 1 + (rnd >> 32) % 0x40000;
		if (invalidations % 16 == 0) {
			start = RINGS_END;
			len = MEM - RINGS_END;
		}
		if (start + len > MEM)
			len = MEM - start;
		CHECK_EQ(sim_update_iotlb(e.s, e.dev, start, start + len - 1),
			 0);
		invalidations++;
		if (invalidations % 4 == 0)
			usleep(100);
	}

	for (q = 0; q < NQ; q++) {
		struct vdk_vq_stats st;

		CHECK_EQ(pthread_join(devt[q], NULL), 0);
		CHECK(!qs[q].failed);
		CHECK_EQ(pthread_join(drv[q], NULL), 0);
		CHECK_EQ(qs[q].served, REQS);
		CHECK_EQ(qs[q].completed, REQS);
		vdk_vq_get_stats(qs[q].vq, &st);
		CHECK_EQ(st.popped, REQS);
		CHECK_EQ(st.pushed, REQS);
		CHECK_EQ(st.bad, 0);
		CHECK_EQ(vdk_vq_inflight(qs[q].vq), 0);
		CHECK(!vdk_vq_broken(qs[q].vq));
	}
	vdk_dev_get_stats(e.dev, &ds);
	printf("%u requests per queue, %u invalidations, %llu maps\n", REQS,
	       invalidations, (unsigned long long)ds.maps);
	CHECK(invalidations > 0);
	CHECK_EQ(ds.map_misses, 0);
	env_fini(&e);
	return T_EXIT_PASS;
}
