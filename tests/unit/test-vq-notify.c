/* SPDX-License-Identifier: MIT */
/*
 * Notification suppression both ways.  Interrupts: with the event index,
 * one vdk_vq_notify() after a batch interrupts at most once, and only if
 * the driver's used_event lies inside the batch; without it, the
 * no-interrupt flag is honoured.  Kicks: vdk_vq_set_kick() switches the
 * driver's kicks off and on, and the "enable, then vdk_vq_pending()"
 * pattern never misses a request, checked at every interleaving and with
 * a driver thread racing a device thread that sleeps on the kick fd.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include "env.h"

#define QSIZE 64
#define BATCH 32
#define DATA 0x10000

static int post(struct env *e)
{
	int head = sim_vq_add(e->s, 0, &(struct sim_buf){ DATA, 16, false }, 1,
			      0);

	CHECK(head >= 0);
	return head;
}

/* Serve a batch: post @n, pop them all, push them all (no notify). */
static void batch(struct env *e, unsigned int n)
{
	struct vdk_req *reqs[QSIZE], *extra;
	unsigned int i;

	for (i = 0; i < n; i++)
		post(e);
	for (i = 0; i < n; i++)
		CHECK_EQ(vdk_vq_pop(e->vq, &reqs[i]), 1);
	CHECK_EQ(vdk_vq_pop(e->vq, &extra), 0);
	for (i = 0; i < n; i++)
		vdk_vq_push(e->vq, reqs[i], 0);
}

/* The driver takes all completions. */
static void reap(struct env *e, unsigned int n)
{
	unsigned int i;
	uint16_t id;
	uint32_t len;

	for (i = 0; i < n; i++)
		CHECK_EQ(sim_vq_used(e->s, 0, &id, &len), 1);
	CHECK_EQ(sim_vq_used(e->s, 0, &id, &len), 0);
}

static void test_event_idx(void)
{
	struct env_cfg cfg = {
		.qsize = QSIZE,
		.features = 1ull << VIRTIO_RING_F_EVENT_IDX,
	};
	struct vdk_vq_stats st;
	unsigned int irqs, i;
	uint16_t used = 0;
	struct env e;

	env_init(&e, &cfg);
	/* The first notify always interrupts (nothing signalled yet). */
	batch(&e, BATCH);
	CHECK_EQ(sim_vq_irqs(e.s, 0), 0);
	CHECK_EQ(vdk_vq_notify(e.vq), 1);
	CHECK_EQ(sim_vq_irqs(e.s, 0), 1);
	/* Nothing new: nothing to say. */
	CHECK_EQ(vdk_vq_notify(e.vq), 0);
	CHECK_EQ(sim_vq_irqs(e.s, 0), 1);
	reap(&e, BATCH);
	used = BATCH;

	/*
	 * Past 2^16 completions, so that the indexes wrap: each batch of 32
	 * pushes then one notify.  used_event at the first completion of
	 * the batch: exactly one interrupt.  One behind (in the past): none.
	 * In the middle: one.  Just past the batch: none.
	 */
	for (i = 0; i < 4 * 600; i++) {
		uint16_t event;
		int want;

		switch (i % 4) {
		case 0:
			event = used;
			want = 1;
			break;
		case 1:
			event = (uint16_t)(used - 1);
			want = 0;
			break;
		case 2:
			event = (uint16_t)(used + BATCH / 2);
			want = 1;
			break;
		default:
			event = (uint16_t)(used + BATCH);
			want = 0;
			break;
		}
		sim_vq_set_used_event(e.s, 0, event);
		irqs = sim_vq_irqs(e.s, 0);
		batch(&e, BATCH);
		CHECK_EQ(vdk_vq_notify(e.vq), want);
		CHECK_EQ(sim_vq_irqs(e.s, 0), irqs + want);
		reap(&e, BATCH);
		used = (uint16_t)(used + BATCH);
	}
	CHECK_EQ(sim_vq_used_idx(e.s, 0), used);
	vdk_vq_get_stats(e.vq, &st);
	CHECK_EQ(st.irqs, sim_vq_irqs(e.s, 0));
	CHECK_EQ(st.pushed, (1 + 4 * 600) * BATCH);

	/* One notify per push, the driver asking each time: one each. */
	irqs = sim_vq_irqs(e.s, 0);
	for (i = 0; i < 10; i++) {
		sim_vq_set_used_event(e.s, 0, used);
		batch(&e, 1);
		CHECK_EQ(vdk_vq_notify(e.vq), 1);
		reap(&e, 1);
		used++;
	}
	CHECK_EQ(sim_vq_irqs(e.s, 0), irqs + 10);

	/* After a reset the first notify interrupts again. */
	env_reset(&e);
	sim_vq_set_used_event(e.s, 0, 1000);
	batch(&e, 3);
	CHECK_EQ(vdk_vq_notify(e.vq), 1);
	env_fini(&e);
}

static void test_no_interrupt_flag(void)
{
	struct env_cfg cfg = { .qsize = QSIZE };
	unsigned int i;
	struct env e;

	env_init(&e, &cfg);
	for (i = 0; i < 100; i++) {
		bool off = i % 3 == 1;

		sim_vq_set_no_interrupt(e.s, 0, off);
		batch(&e, BATCH);
		CHECK_EQ(vdk_vq_notify(e.vq), !off);
		CHECK_EQ(vdk_vq_notify(e.vq), 0);
		reap(&e, BATCH);
	}
	CHECK_EQ(sim_vq_irqs(e.s, 0), 100 - 33);
	/* The event index field is ignored without the feature. */
	sim_vq_set_no_interrupt(e.s, 0, false);
	sim_vq_set_used_event(e.s, 0, 12345);
	batch(&e, 1);
	CHECK_EQ(vdk_vq_notify(e.vq), 1);
	env_fini(&e);
}

static bool drain_kickfd(struct env *e)
{
	uint64_t v;

	return read(vdk_vq_kickfd(e->vq), &v, sizeof(v)) == sizeof(v);
}

/* Pop everything waiting, complete it, let the driver take it. */
static unsigned int serve_all(struct env *e)
{
	struct vdk_req *req;
	unsigned int n = 0;

	while (vdk_vq_pop(e->vq, &req) == 1) {
		vdk_vq_push(e->vq, req, 0);
		n++;
	}
	vdk_vq_notify(e->vq);
	reap(e, n);
	return n;
}

static void test_set_kick(bool event_idx)
{
	struct env_cfg cfg = {
		.qsize = QSIZE,
		.features = event_idx ? 1ull << VIRTIO_RING_F_EVENT_IDX : 0,
	};
	struct env e;

	env_init(&e, &cfg);
	CHECK(vdk_vq_kickfd(e.vq) >= 0);
	CHECK(!drain_kickfd(&e));
	/* Kicks are on at start. */
	post(&e);
	CHECK(sim_vq_kick(e.s, 0, false));
	CHECK(drain_kickfd(&e));
	CHECK_EQ(serve_all(&e), 1);

	/* Off: the driver does not kick. */
	vdk_vq_set_kick(e.vq, false);
	post(&e);
	CHECK(!sim_vq_kick(e.s, 0, false));
	post(&e);
	CHECK(!sim_vq_kick(e.s, 0, false));
	CHECK(!drain_kickfd(&e));
	/* On again: what came in between is seen as pending. */
	vdk_vq_set_kick(e.vq, true);
	CHECK(vdk_vq_pending(e.vq));
	CHECK_EQ(serve_all(&e), 2);
	/* Re-armed after the pops: the next request kicks. */
	vdk_vq_set_kick(e.vq, true);
	CHECK(!vdk_vq_pending(e.vq));
	post(&e);
	CHECK(sim_vq_kick(e.s, 0, false));
	CHECK(drain_kickfd(&e));
	CHECK_EQ(serve_all(&e), 1);
	/* Many off and on in a row. */
	for (unsigned int i = 0; i < 200; i++) {
		bool on = i % 2;

		vdk_vq_set_kick(e.vq, on);
		post(&e);
		CHECK_EQ(sim_vq_kick(e.s, 0, false), on);
		CHECK_EQ(drain_kickfd(&e), on);
		CHECK_EQ(serve_all(&e), 1);
	}
	/* A forced kick always arrives. */
	vdk_vq_set_kick(e.vq, false);
	CHECK(sim_vq_kick(e.s, 0, true));
	CHECK(drain_kickfd(&e));
	env_fini(&e);
}

/*
 * The device: disable kicks, pop until empty, enable, check pending,
 * sleep.  The driver posts one request at each of the points in between;
 * whichever, the device must either see it pending or be kicked.
 */
static void test_pending_interleavings(bool event_idx)
{
	struct env_cfg cfg = {
		.qsize = QSIZE,
		.features = event_idx ? 1ull << VIRTIO_RING_F_EVENT_IDX : 0,
	};
	unsigned int round, at;
	struct env e;

	env_init(&e, &cfg);
	for (round = 0; round < 300; round++) {
		struct vdk_req *req;
		bool kicked = false, pending;

		at = round % 4;
		vdk_vq_set_kick(e.vq, false);
		if (at == 0) {
			post(&e);
			kicked |= sim_vq_kick(e.s, 0, false);
		}
		CHECK_EQ(vdk_vq_pop(e.vq, &req), at == 0);
		if (at == 0) {
			vdk_vq_push(e.vq, req, 0);
			CHECK_EQ(vdk_vq_pop(e.vq, &req), 0);
			kicked = false;
			drain_kickfd(&e);
		}
		if (at == 1) {
			post(&e);
			kicked |= sim_vq_kick(e.s, 0, false);
		}
		vdk_vq_set_kick(e.vq, true);
		if (at == 2) {
			post(&e);
			kicked |= sim_vq_kick(e.s, 0, false);
		}
		pending = vdk_vq_pending(e.vq);
		if (at == 3 || at == 0) {
			post(&e);
			kicked |= sim_vq_kick(e.s, 0, false);
		}
		/* Kicked or seen: the device does not sleep forever. */
		CHECK(kicked || pending);
		CHECK_EQ(drain_kickfd(&e), kicked);
		if (at == 3 || at == 0)
			CHECK(kicked);
		CHECK_EQ(vdk_vq_pop(e.vq, &req), 1);
		vdk_vq_push(e.vq, req, 0);
		CHECK_EQ(vdk_vq_pop(e.vq, &req), 0);
		vdk_vq_notify(e.vq);
		reap(&e, at == 0 ? 2 : 1);
	}
	env_fini(&e);
}

/*
 * The control thread handles an IOTLB update between a push and the
 * notify, and the rings' memory has moved (the region around them was
 * cut): notify must read the driver's current used_event, not the one in
 * the mapping it used before.
 */
static void test_notify_after_iotlb_update(void)
{
	struct env_cfg cfg = {
		.qsize = QSIZE,
		.features = 1ull << VIRTIO_RING_F_EVENT_IDX,
	};
	uint64_t cut = 0x80000;
	struct env e;

	env_init(&e, &cfg);
	batch(&e, 1);
	CHECK_EQ(vdk_vq_notify(e.vq), 1);
	reap(&e, 1);
	/* The driver does not want to hear about the next completion... */
	sim_vq_set_used_event(e.s, 0, 1000);
	batch(&e, 1);
	/* ...the ring memory moves, and now it does. */
	CHECK_EQ(sim_cut(e.s, &cut, 1), 0);
	CHECK_EQ(vdk_dev_process(e.dev), 1);
	sim_vq_set_used_event(e.s, 0, 1);
	CHECK_EQ(vdk_vq_notify(e.vq), 1);
	CHECK_EQ(sim_vq_irqs(e.s, 0), 2);
	reap(&e, 1);
	env_fini(&e);
}

/* ---- a driver thread against a device thread sleeping on the kick fd */

#define THREAD_REQS 20000

struct race {
	struct env *e;
	unsigned int served;
	bool failed;
};

static void *driver_thread(void *arg)
{
	struct race *r = arg;
	struct env *e = r->e;
	unsigned int posted = 0, done = 0, spin = 0;
	uint16_t id;
	uint32_t len;

	while (done < THREAD_REQS) {
		if (posted < THREAD_REQS &&
		    sim_vq_add(e->s, 0,
			       &(struct sim_buf){ DATA, 16, false }, 1,
			       0) >= 0) {
			posted++;
			sim_vq_kick(e->s, 0, false);
			/* Irregular pace, so that the device often sleeps. */
			if (++spin % 7 == 0)
				sched_yield();
			if (spin % 61 == 0)
				usleep(50);
			continue;
		}
		while (sim_vq_used(e->s, 0, &id, &len) == 1)
			done++;
		sched_yield();
	}
	return NULL;
}

static void *device_thread(void *arg)
{
	struct race *r = arg;
	struct env *e = r->e;
	struct pollfd pfd = { .fd = vdk_vq_kickfd(e->vq), .events = POLLIN };

	while (r->served < THREAD_REQS) {
		struct vdk_req *req;
		uint64_t v;
		int ret;

		while ((ret = vdk_vq_pop(e->vq, &req)) == 1) {
			vdk_vq_push(e->vq, req, 0);
			r->served++;
		}
		CHECK_EQ(ret, 0);
		vdk_vq_notify(e->vq);
		if (r->served == THREAD_REQS)
			break;
		vdk_vq_set_kick(e->vq, true);
		if (vdk_vq_pending(e->vq)) {
			vdk_vq_set_kick(e->vq, false);
			continue;
		}
		ret = poll(&pfd, 1, 10000);
		if (ret == 0) {
			/* Ten seconds asleep with work waiting: missed. */
			fprintf(stderr, "missed kick: pending %d served %u\n",
				vdk_vq_pending(e->vq), r->served);
			r->failed = true;
			return NULL;
		}
		CHECK_EQ(ret, 1);
		CHECK_EQ(read(pfd.fd, &v, sizeof(v)), sizeof(v));
		vdk_vq_set_kick(e->vq, false);
	}
	return NULL;
}

static void test_pending_race(bool event_idx)
{
	struct env_cfg cfg = {
		.qsize = QSIZE,
		.features = event_idx ? 1ull << VIRTIO_RING_F_EVENT_IDX : 0,
	};
	pthread_t drv, devt;
	struct race r = { 0 };
	struct vdk_vq_stats st;
	struct env e;

	env_init(&e, &cfg);
	r.e = &e;
	CHECK_EQ(pthread_create(&devt, NULL, device_thread, &r), 0);
	CHECK_EQ(pthread_create(&drv, NULL, driver_thread, &r), 0);
	CHECK_EQ(pthread_join(devt, NULL), 0);
	CHECK(!r.failed);
	CHECK_EQ(pthread_join(drv, NULL), 0);
	vdk_vq_get_stats(e.vq, &st);
	CHECK_EQ(st.popped, THREAD_REQS);
	CHECK_EQ(st.pushed, THREAD_REQS);
	CHECK_EQ(st.bad, 0);
	env_fini(&e);
}

int main(void)
{
	test_event_idx();
	test_no_interrupt_flag();
	test_set_kick(false);
	test_set_kick(true);
	test_pending_interleavings(false);
	test_pending_interleavings(true);
	test_notify_after_iotlb_update();
	test_pending_race(false);
	test_pending_race(true);
	return T_EXIT_PASS;
}
