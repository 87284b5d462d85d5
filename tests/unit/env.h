/* SPDX-License-Identifier: MIT */
/*
 * A device on the simulator with its driver side ready, for the unit
 * tests: one call builds it, one tears it down.  Log messages and the
 * start/stop callbacks are counted so that tests can check them.
 */
#ifndef VDK_TEST_ENV_H
#define VDK_TEST_ENV_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_ring.h>

#include "sim.h"
#include "test.h"
#include <vdk/vdk.h>

/* What every driver of a VDUSE device negotiates. */
#define ENV_BASE_FEATURES                                                    \
	((1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_F_ACCESS_PLATFORM))

struct env_cfg {
	uint64_t mem;            /* IOVA space (default 1 MiB) */
	unsigned int num_queues; /* default 1 */
	unsigned int qsize;      /* default 16 */
	unsigned int num;        /* the size the driver picks (default qsize) */
	unsigned int max_iovecs; /* 0: the library's default */
	uint64_t features;       /* added to ENV_BASE_FEATURES */
	uint64_t ring;           /* IOVA of queue 0's rings (default 0x1000) */
	uint64_t ring_stride;    /* between queues' rings (default 0x4000) */
	bool no_driver_ok;       /* stop after creating the device */
	/*
	 * Packed rings: offered and taken.  Also set for every test by
	 * VDK_TEST_PACKED=1 in the environment (tests/unit/meson.build
	 * runs the ring-agnostic tests both ways).
	 */
	bool packed;
	uint64_t flags;          /* VDK_DEV_F_* added (VDK_DEV_F_IN_ORDER) */
};

struct env {
	struct env_cfg cfg;
	struct sim *s;
	struct vdk_dev *dev;
	struct vdk_vq *vq; /* queue 0 */
	unsigned int logs; /* log callback calls */
	int last_level;
	char last_log[512];
	bool print_logs;
	unsigned int starts, stops;
	int start_ret;     /* what the start() callback returns */
};

static inline void env_log(void *opaque, int level, const char *msg)
{
	struct env *e = opaque;

	e->logs++;
	e->last_level = level;
	snprintf(e->last_log, sizeof(e->last_log), "%s", msg);
	if (e->print_logs)
		fprintf(stderr, "log(%d): %s\n", level, msg);
}

static inline int env_start(struct vdk_dev *dev, void *opaque)
{
	struct env *e = opaque;

	e->starts++;
	return e->start_ret;
}

static inline void env_stop(struct vdk_dev *dev, void *opaque)
{
	struct env *e = opaque;

	e->stops++;
}

static const struct vdk_dev_ops env_ops = {
	.start = env_start,
	.stop = env_stop,
};

/* VDK_TEST_PACKED=1: every env is a packed one. */
static inline bool env_packed(void)
{
	const char *v = getenv("VDK_TEST_PACKED");

	return v && strcmp(v, "1") == 0;
}

static inline struct vdk_dev_cfg env_dev_cfg(struct env *e)
{
	static const uint8_t config[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	struct vdk_dev_cfg cfg = {
		.name = "vdk-test",
		.device_id = VIRTIO_ID_BLOCK,
		.num_queues = e->cfg.num_queues,
		.queue_size = e->cfg.qsize,
		.config = config,
		.config_size = sizeof(config),
		.max_iovecs = e->cfg.max_iovecs,
		.ops = &env_ops,
		.opaque = e,
		.log = env_log,
		.log_opaque = e,
		.log_level = VDK_LOG_INFO,
		.flags = (e->cfg.packed ? VDK_DEV_F_PACKED : 0) | e->cfg.flags,
	};

	return cfg;
}

/* Lay out every queue's rings and set DRIVER_OK. */
static inline void env_driver_ok(struct env *e)
{
	unsigned int q;

	uint64_t features = ENV_BASE_FEATURES | e->cfg.features;

	for (q = 0; q < e->cfg.num_queues; q++) {
		uint64_t ring = e->cfg.ring + q * e->cfg.ring_stride;

		unsigned int num = e->cfg.num ? e->cfg.num : e->cfg.qsize;

		if (e->cfg.packed)
			sim_pvq_setup(e->s, q, num, ring);
		else
			sim_vq_setup(e->s, q, num, ring);
	}
	if (e->cfg.packed)
		features |= 1ull << VIRTIO_F_RING_PACKED;
	CHECK_EQ(sim_driver_ok(e->s, e->dev, features), 0);
	CHECK_EQ(!!(vdk_dev_driver_features(e->dev) &
		    (1ull << VIRTIO_F_RING_PACKED)),
		 e->cfg.packed);
	for (q = 0; q < e->cfg.num_queues; q++)
		CHECK(vdk_vq_ready(vdk_dev_vq(e->dev, q)));
}

static inline void env_init(struct env *e, const struct env_cfg *cfg)
{
	struct vdk_dev_cfg dc;

	memset(e, 0, sizeof(*e));
	e->cfg = *cfg;
	if (!e->cfg.mem)
		e->cfg.mem = 1u << 20;
	if (!e->cfg.num_queues)
		e->cfg.num_queues = 1;
	if (!e->cfg.qsize)
		e->cfg.qsize = 16;
	if (!e->cfg.ring)
		e->cfg.ring = 0x1000;
	if (!e->cfg.ring_stride)
		e->cfg.ring_stride = 0x4000;
	if (env_packed())
		e->cfg.packed = true;
	CHECK_EQ(sim_new(e->cfg.mem, &e->s), 0);
	dc = env_dev_cfg(e);
	CHECK_EQ(sim_dev_new(e->s, &dc, true, &e->dev), 0);
	e->vq = vdk_dev_vq(e->dev, 0);
	CHECK(e->vq);
	if (!e->cfg.no_driver_ok)
		env_driver_ok(e);
}

/* Reset by the driver, then start again: a broken queue is usable again. */
static inline void env_reset(struct env *e)
{
	CHECK_EQ(sim_set_status(e->s, e->dev, 0), 0);
	CHECK(!vdk_vq_ready(e->vq));
	CHECK_EQ(sim_live_maps(e->s), 0);
	env_driver_ok(e);
	CHECK(!vdk_vq_broken(e->vq));
}

static inline void env_fini(struct env *e)
{
	vdk_dev_close(e->dev);
	CHECK_EQ(sim_live_maps(e->s), 0);
	sim_free(e->s);
	memset(e, 0, sizeof(*e));
}

/* Pop one request and expect exactly that: no more waiting after it. */
static inline struct vdk_req *env_pop_one(struct env *e, int head)
{
	struct vdk_req *req = NULL, *extra;

	CHECK_EQ(vdk_vq_pop(e->vq, &req), 1);
	CHECK_EQ(req->id, head);
	CHECK_EQ(vdk_vq_pop(e->vq, &extra), 0);
	return req;
}

/* Push @req with @len, notify, and read its completion back. */
static inline void env_complete(struct env *e, struct vdk_req *req,
				uint32_t len)
{
	uint16_t id, head = req->id;
	uint32_t got;

	vdk_vq_push(e->vq, req, len);
	CHECK(vdk_vq_notify(e->vq) >= 0);
	CHECK_EQ(sim_vq_used(e->s, 0, &id, &got), 1);
	CHECK_EQ(id, head);
	CHECK_EQ(got, len);
	CHECK_EQ(sim_vq_used(e->s, 0, &id, &got), 0);
}

/* @head must be refused: completed with nothing, no request popped. */
static inline void env_expect_refused(struct env *e, int head)
{
	struct vdk_req *req;
	uint16_t id;
	uint32_t got;

	CHECK_EQ(vdk_vq_pop(e->vq, &req), 0);
	CHECK(vdk_vq_notify(e->vq) >= 0);
	CHECK_EQ(sim_vq_used(e->s, 0, &id, &got), 1);
	CHECK_EQ(id, head);
	CHECK_EQ(got, 0);
}

/* Sum of the lengths of @n vectors. */
static inline size_t iov_total(const struct iovec *iov, unsigned int n)
{
	size_t sum = 0;
	unsigned int i;

	for (i = 0; i < n; i++)
		sum += iov[i].iov_len;
	return sum;
}

#endif /* VDK_TEST_ENV_H */
