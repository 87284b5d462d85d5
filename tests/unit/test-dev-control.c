/* SPDX-License-Identifier: MIT */
/*
 * The control path: API version, control messages (SET_STATUS,
 * GET_VQ_STATE, UPDATE_IOTLB, unknown ones), the start and stop
 * callbacks, configuration space, refused configurations, failures while
 * creating the device, and reopening a running device.  Newer kernels'
 * requests: API 1's groups and address spaces, VDUSE_F_QUEUE_READY's
 * ready requests and VDUSE_F_SUSPEND's suspend, well-formed and hostile.
 */
#include <dirent.h>
#include <errno.h>
#include <poll.h>

#include "env.h"
#include "internal.h"

#define DATA 0x10000

/* ---- a kernel side that fails where told (around the simulator) ---- */

struct faulty {
	struct vdk__kernel k;
	struct vdk__kernel *sk; /* the simulator's handle */
	const char *fail;       /* name of the operation to fail */
	int err;
};

static struct faulty *to_faulty(struct vdk__kernel *k)
{
	return (struct faulty *)k;
}

#define FORWARD(op, ...)                                                     \
	do {                                                                 \
		struct faulty *f_ = to_faulty(k);                            \
		if (f_->fail && strcmp(f_->fail, #op) == 0)                  \
			return f_->err;                                      \
		return f_->sk->ops->op(f_->sk, ##__VA_ARGS__);               \
	} while (0)

static int fk_get_api_version(struct vdk__kernel *k, uint64_t *v)
{
	FORWARD(get_api_version, v);
}

static int fk_set_api_version(struct vdk__kernel *k, uint64_t v)
{
	FORWARD(set_api_version, v);
}

static int fk_get_vduse_features(struct vdk__kernel *k, uint64_t *f)
{
	FORWARD(get_vduse_features, f);
}

static int fk_set_vduse_features(struct vdk__kernel *k, uint64_t f)
{
	FORWARD(set_vduse_features, f);
}

static int fk_create_dev(struct vdk__kernel *k,
			 const struct vduse_dev_config *c)
{
	FORWARD(create_dev, c);
}

static int fk_destroy_dev(struct vdk__kernel *k, const char *name)
{
	FORWARD(destroy_dev, name);
}

static int fk_open_dev(struct vdk__kernel *k, const char *name)
{
	struct faulty *f = to_faulty(k);
	int ret;

	if (f->fail && strcmp(f->fail, "open_dev") == 0)
		return f->err;
	ret = f->sk->ops->open_dev(f->sk, name);
	k->dev_fd = f->sk->dev_fd;
	return ret;
}

static void fk_close_dev(struct vdk__kernel *k)
{
	struct faulty *f = to_faulty(k);

	f->sk->ops->close_dev(f->sk);
	k->dev_fd = -1;
}

static int fk_vq_setup(struct vdk__kernel *k, const struct vduse_vq_config *c)
{
	FORWARD(vq_setup, c);
}

static int fk_vq_get_info(struct vdk__kernel *k, struct vduse_vq_info *info)
{
	FORWARD(vq_get_info, info);
}

static int fk_vq_setup_kickfd(struct vdk__kernel *k, uint32_t index, int fd)
{
	FORWARD(vq_setup_kickfd, index, fd);
}

static int fk_vq_inject_irq(struct vdk__kernel *k, uint32_t index)
{
	FORWARD(vq_inject_irq, index);
}

static int fk_get_features(struct vdk__kernel *k, uint64_t *features)
{
	FORWARD(get_features, features);
}

static int fk_set_config(struct vdk__kernel *k, uint32_t offset,
			 const void *buf, uint32_t len)
{
	FORWARD(set_config, offset, buf, len);
}

static int fk_inject_config_irq(struct vdk__kernel *k)
{
	FORWARD(inject_config_irq);
}

static int fk_read_msg(struct vdk__kernel *k, struct vduse_dev_request *req)
{
	FORWARD(read_msg, req);
}

static int fk_write_msg(struct vdk__kernel *k,
			const struct vduse_dev_response *resp)
{
	FORWARD(write_msg, resp);
}

static int fk_iotlb_map(struct vdk__kernel *k, uint64_t iova,
			struct vdk__map *m)
{
	FORWARD(iotlb_map, iova, m);
}

static void fk_iotlb_unmap(struct vdk__kernel *k, struct vdk__map *m)
{
	struct faulty *f = to_faulty(k);

	f->sk->ops->iotlb_unmap(f->sk, m);
}

static void fk_free(struct vdk__kernel *k)
{
	struct faulty *f = to_faulty(k);

	f->sk->ops->free(f->sk);
	free(f);
}

static const struct vdk__kops faulty_ops = {
	.get_api_version = fk_get_api_version,
	.set_api_version = fk_set_api_version,
	.get_vduse_features = fk_get_vduse_features,
	.set_vduse_features = fk_set_vduse_features,
	.create_dev = fk_create_dev,
	.destroy_dev = fk_destroy_dev,
	.open_dev = fk_open_dev,
	.close_dev = fk_close_dev,
	.vq_setup = fk_vq_setup,
	.vq_get_info = fk_vq_get_info,
	.vq_setup_kickfd = fk_vq_setup_kickfd,
	.vq_inject_irq = fk_vq_inject_irq,
	.get_features = fk_get_features,
	.set_config = fk_set_config,
	.inject_config_irq = fk_inject_config_irq,
	.read_msg = fk_read_msg,
	.write_msg = fk_write_msg,
	.iotlb_map = fk_iotlb_map,
	.iotlb_unmap = fk_iotlb_unmap,
	.free = fk_free,
};

/*
 * Create a device through the simulator with operation @fail failing with
 * @err.  The simulator's kernel handle is the first member of struct sim
 * (sim.c), as sim_dev_new() relies on.
 */
static int faulty_dev_new(struct sim *s, const struct vdk_dev_cfg *cfg,
			  bool create, const char *fail, int err,
			  struct vdk_dev **out)
{
	struct faulty *f = calloc(1, sizeof(*f));

	CHECK(f);
	f->k.ops = &faulty_ops;
	f->k.dev_fd = -1;
	f->sk = (struct vdk__kernel *)(void *)s;
	f->fail = fail;
	f->err = err;
	return vdk__dev_new(cfg, &f->k, create, out);
}

/* Open file descriptors of this process, to catch leaks. */
static unsigned int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	unsigned int n = 0;

	if (!d)
		return 0;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/* ---- helpers ---- */

static int post(struct env *e, unsigned int q, uint8_t tag)
{
	struct sim_buf b[2] = {
		{ DATA + 0x100 * tag, 16, false },
		{ DATA + 0x100 * tag + 0x80, 4, true },
	};
	int head;

	sim_fill(e->s, b[0].iova, tag, 16);
	head = sim_vq_add(e->s, q, b, 2, 0);
	CHECK(head >= 0);
	return head;
}

/* Pop one request and check it is the one posted with @tag. */
static struct vdk_req *pop_tag(struct vdk_vq *vq, uint8_t tag)
{
	struct vdk_req *req;

	CHECK_EQ(vdk_vq_pop(vq, &req), 1);
	CHECK_EQ(req->n_out, 1);
	CHECK_EQ(((uint8_t *)req->iov[0].iov_base)[0], tag);
	return req;
}

static uint32_t get_vq_state(struct env *e, uint32_t index, uint16_t *avail)
{
	struct vduse_dev_request req = { .type = VDUSE_GET_VQ_STATE };
	struct vduse_dev_response resp;

	req.vq_state.index = index;
	CHECK_EQ(sim_control(e->s, e->dev, &req, &resp), 0);
	if (resp.result == VDUSE_REQ_RESULT_OK) {
		CHECK_EQ(resp.vq_state.index, index);
		*avail = resp.vq_state.split.avail_index;
	}
	return resp.result;
}

/* ---- tests ---- */

static void test_api_version(void)
{
	const uint64_t reported[] = { 0, 1, 2, 1000 };
	struct env_cfg cfg = { .no_driver_ok = true };
	struct vdk_dev_cfg dc;
	unsigned int i;
	struct env e;

	for (i = 0; i < sizeof(reported) / sizeof(reported[0]); i++) {
		const uint64_t max = VDK_API_MAX;
		uint64_t want = reported[i] < max ? reported[i] : max;

		memset(&e, 0, sizeof(e));
		e.cfg = cfg;
		CHECK_EQ(sim_new(1 << 20, &e.s), 0);
		sim_set_api_version(e.s, reported[i]);
		e.cfg.num_queues = 1;
		e.cfg.qsize = 16;
		dc = env_dev_cfg(&e);
		CHECK_EQ(sim_dev_new(e.s, &dc, true, &e.dev), 0);
		CHECK_EQ(vdk_dev_api_version(e.dev), want);
		CHECK_EQ(sim_api_version_set(e.s), want);
		env_fini(&e);
	}

	/* A kernel without VDUSE_GET_API_VERSION speaks version 0. */
	memset(&e, 0, sizeof(e));
	e.cfg.num_queues = 1;
	e.cfg.qsize = 16;
	CHECK_EQ(sim_new(1 << 20, &e.s), 0);
	sim_set_api_version(e.s, 1);
	dc = env_dev_cfg(&e);
	CHECK_EQ(faulty_dev_new(e.s, &dc, true, "get_api_version", -ENOTTY,
				&e.dev),
		 0);
	CHECK_EQ(vdk_dev_api_version(e.dev), 0);
	CHECK_EQ(sim_api_version_set(e.s), 0);
	env_fini(&e);
}

static void test_unknown_message(void)
{
	struct vduse_dev_request req = { .type = 0x7777 };
	struct vduse_dev_response resp;
	struct env_cfg cfg = { 0 };
	struct vdk_dev_stats st0, st;
	struct env e;

	env_init(&e, &cfg);
	vdk_dev_get_stats(e.dev, &st0);
	CHECK_EQ(sim_control(e.s, e.dev, &req, &resp), 0);
	CHECK_EQ(resp.result, VDUSE_REQ_RESULT_FAILED);
	CHECK_EQ(e.logs, 1);
	CHECK(strstr(e.last_log, "unknown control message"));
	/* The device goes on. */
	post(&e, 0, 1);
	env_complete(&e, pop_tag(e.vq, 1), 4);
	vdk_dev_get_stats(e.dev, &st);
	CHECK_EQ(st.msgs, st0.msgs + 1);
	env_fini(&e);
}

/* A message waiting makes the fd readable; process() answers them all. */
static void test_dev_fd(void)
{
	struct env_cfg cfg = { 0 };
	struct pollfd pfd;
	uint64_t cut = 0x80000;
	struct env e;

	env_init(&e, &cfg);
	pfd.fd = vdk_dev_fd(e.dev);
	pfd.events = POLLIN;
	CHECK(pfd.fd >= 0);
	CHECK_EQ(vdk_dev_process(e.dev), 0);
	CHECK_EQ(poll(&pfd, 1, 0), 0);
	CHECK_EQ(sim_cut(e.s, &cut, 1), 0);
	CHECK_EQ(sim_set_perm(e.s, 0x90000, 0x90fff, VDUSE_ACCESS_RO), 0);
	CHECK_EQ(poll(&pfd, 1, 0), 1);
	CHECK_EQ(vdk_dev_process(e.dev), 2);
	CHECK_EQ(vdk_dev_process(e.dev), 0);
	CHECK_EQ(poll(&pfd, 1, 0), 0);
	env_fini(&e);
}

static void test_get_vq_state(void)
{
	struct env_cfg cfg = { .num_queues = 2, .no_driver_ok = true };
	struct vdk_req *reqs[3];
	uint16_t avail = 0xffff;
	unsigned int i;
	struct env e;

	env_init(&e, &cfg);
	/* Before DRIVER_OK: where the kernel said the ring starts. */
	CHECK_EQ(get_vq_state(&e, 0, &avail), VDUSE_REQ_RESULT_OK);
	CHECK_EQ(avail, 0);
	env_driver_ok(&e);
	for (i = 0; i < 3; i++)
		post(&e, 0, (uint8_t)(i + 1));
	/* Posted but not popped: not counted. */
	CHECK_EQ(get_vq_state(&e, 0, &avail), VDUSE_REQ_RESULT_OK);
	CHECK_EQ(avail, 0);
	for (i = 0; i < 3; i++)
		reqs[i] = pop_tag(e.vq, (uint8_t)(i + 1));
	CHECK_EQ(get_vq_state(&e, 0, &avail), VDUSE_REQ_RESULT_OK);
	CHECK_EQ(avail, 3);
	CHECK_EQ(get_vq_state(&e, 1, &avail), VDUSE_REQ_RESULT_OK);
	CHECK_EQ(avail, 0);
	CHECK_EQ(get_vq_state(&e, 2, &avail), VDUSE_REQ_RESULT_FAILED);
	CHECK_EQ(get_vq_state(&e, UINT32_MAX, &avail), VDUSE_REQ_RESULT_FAILED);
	for (i = 0; i < 3; i++)
		vdk_vq_push(e.vq, reqs[i], 0);
	env_fini(&e);
}

static void test_update_iotlb(void)
{
	struct env_cfg cfg = { 0 };
	struct vdk_dev_stats st0, st;
	unsigned int live;
	struct env e;

	env_init(&e, &cfg);
	post(&e, 0, 1);
	env_complete(&e, pop_tag(e.vq, 1), 4);
	vdk_dev_get_stats(e.dev, &st0);
	CHECK(st0.maps >= 1);
	live = sim_live_maps(e.s);

	/* Nothing mapped there: nothing to map again. */
	CHECK_EQ(sim_update_iotlb(e.s, e.dev, 0x200000, 0x2fffff), 0);
	post(&e, 0, 2);
	env_complete(&e, pop_tag(e.vq, 2), 4);
	vdk_dev_get_stats(e.dev, &st);
	CHECK_EQ(st.maps, st0.maps);
	CHECK_EQ(st.iotlb_updates, st0.iotlb_updates + 1);

	/* start > last: no range at all. */
	CHECK_EQ(sim_update_iotlb(e.s, e.dev, DATA + 1, DATA), 0);
	post(&e, 0, 3);
	env_complete(&e, pop_tag(e.vq, 3), 4);
	vdk_dev_get_stats(e.dev, &st);
	CHECK_EQ(st.maps, st0.maps);

	/*
	 * One byte of the (single) region: it is dropped and mapped again,
	 * rings and all.  The old mapping stays until the next reset.
	 */
	CHECK_EQ(sim_update_iotlb(e.s, e.dev, DATA + 5, DATA + 5), 0);
	post(&e, 0, 4);
	env_complete(&e, pop_tag(e.vq, 4), 4);
	vdk_dev_get_stats(e.dev, &st);
	CHECK_EQ(st.maps, st0.maps + 1);
	CHECK_EQ(sim_live_maps(e.s), live + 1);

	/* The whole space, twice: mapped again once per invalidation. */
	CHECK_EQ(sim_update_iotlb(e.s, e.dev, 0, UINT64_MAX), 0);
	post(&e, 0, 5);
	env_complete(&e, pop_tag(e.vq, 5), 4);
	CHECK_EQ(sim_update_iotlb(e.s, e.dev, 0, UINT64_MAX), 0);
	post(&e, 0, 6);
	env_complete(&e, pop_tag(e.vq, 6), 4);
	vdk_dev_get_stats(e.dev, &st);
	CHECK_EQ(st.maps, st0.maps + 3);

	/* Reset forgets them all. */
	CHECK_EQ(sim_set_status(e.s, e.dev, 0), 0);
	CHECK_EQ(sim_live_maps(e.s), 0);
	env_fini(&e);
}

static void test_start_stop(void)
{
	struct env_cfg cfg = { .num_queues = 2, .no_driver_ok = true };
	uint8_t st = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
		     VIRTIO_CONFIG_S_FEATURES_OK;
	struct vdk_req *req;
	struct env e;

	env_init(&e, &cfg);
	CHECK_EQ(e.starts, 0);
	CHECK(!vdk_vq_ready(e.vq));
	CHECK_EQ(vdk_vq_pop(e.vq, &req), -EAGAIN);
	/* A reset before anything started: no stop(). */
	CHECK_EQ(sim_set_status(e.s, e.dev, 0), 0);
	CHECK_EQ(e.stops, 0);

	/* Only queue 0 set up by the driver. */
	sim_vq_setup(e.s, 0, 16, 0x1000);
	CHECK_EQ(sim_driver_ok(e.s, e.dev,
			       ENV_BASE_FEATURES |
				       (1ull << VIRTIO_RING_F_EVENT_IDX)),
		 0);
	CHECK_EQ(e.starts, 1);
	CHECK_EQ(vdk_dev_status(e.dev), st | VIRTIO_CONFIG_S_DRIVER_OK);
	CHECK_EQ(vdk_dev_driver_features(e.dev),
		 ENV_BASE_FEATURES | (1ull << VIRTIO_RING_F_EVENT_IDX));
	CHECK(vdk_vq_ready(e.vq));
	CHECK_EQ(vdk_vq_size(e.vq), 16);
	CHECK(!vdk_vq_ready(vdk_dev_vq(e.dev, 1)));
	CHECK_EQ(vdk_vq_size(vdk_dev_vq(e.dev, 1)), 0);
	CHECK(!vdk_dev_vq(e.dev, 2));
	/* DRIVER_OK again: nothing new. */
	CHECK_EQ(sim_set_status(e.s, e.dev, st | VIRTIO_CONFIG_S_DRIVER_OK), 0);
	CHECK_EQ(e.starts, 1);

	post(&e, 0, 1);
	req = pop_tag(e.vq, 1);
	CHECK_EQ(vdk_vq_inflight(e.vq), 1);
	CHECK(sim_live_maps(e.s) > 0);

	/* Reset: stop(), the held request dropped, mappings gone. */
	CHECK_EQ(sim_set_status(e.s, e.dev, 0), 0);
	CHECK_EQ(e.stops, 1);
	CHECK(!vdk_vq_ready(e.vq));
	CHECK_EQ(vdk_vq_inflight(e.vq), 0);
	CHECK_EQ(sim_live_maps(e.s), 0);
	CHECK_EQ(vdk_dev_status(e.dev), 0);
	CHECK_EQ(vdk_dev_driver_features(e.dev), 0);
	CHECK_EQ(vdk_vq_pop(e.vq, &req), -EAGAIN);

	/* Both queues this time. */
	env_driver_ok(&e);
	CHECK_EQ(e.starts, 2);
	post(&e, 1, 2);
	env_complete(&e, pop_tag(vdk_dev_vq(e.dev, 1), 2), 0);

	/* DRIVER_OK cleared without a reset stops too. */
	CHECK_EQ(sim_set_status(e.s, e.dev, st), 0);
	CHECK_EQ(e.stops, 2);
	CHECK(!vdk_vq_ready(e.vq));
	CHECK_EQ(sim_set_status(e.s, e.dev, st | VIRTIO_CONFIG_S_DRIVER_OK), 0);
	CHECK_EQ(e.starts, 3);
	CHECK(vdk_vq_ready(e.vq));

	/* Closing a started device stops it. */
	vdk_dev_close(e.dev);
	CHECK_EQ(e.stops, 3);
	CHECK_EQ(sim_live_maps(e.s), 0);
	sim_free(e.s);
}

static void test_start_fails(void)
{
	struct env_cfg cfg = { .no_driver_ok = true };
	struct vdk_req *req;
	struct env e;

	env_init(&e, &cfg);
	e.start_ret = -EIO;
	sim_vq_setup(e.s, 0, 16, 0x1000);
	CHECK_EQ(sim_driver_ok(e.s, e.dev, ENV_BASE_FEATURES), -EIO);
	CHECK_EQ(e.starts, 1);
	CHECK_EQ(e.stops, 0);
	CHECK(!vdk_vq_ready(e.vq));
	CHECK_EQ(vdk_vq_pop(e.vq, &req), -EAGAIN);
	CHECK(strstr(e.last_log, "start failed"));

	e.start_ret = 0;
	env_reset(&e);
	CHECK_EQ(e.starts, 2);
	post(&e, 0, 1);
	env_complete(&e, pop_tag(e.vq, 1), 4);
	env_fini(&e);
}

static void test_set_config(void)
{
	static const uint8_t patch[3] = { 0xaa, 0xbb, 0xcc };
	struct env_cfg cfg = { 0 };
	const uint8_t *c;
	uint32_t size;
	struct env e;

	env_init(&e, &cfg);
	c = sim_config(e.s, &size);
	CHECK_EQ(size, 8);
	CHECK_EQ(c[0], 1);
	CHECK_EQ(c[7], 8);
	CHECK_EQ(sim_config_irqs(e.s), 0);
	CHECK_EQ(vdk_dev_set_config(e.dev, 5, patch, 3), 0);
	CHECK_EQ(sim_config_irqs(e.s), 1);
	CHECK_EQ(c[4], 5);
	CHECK_EQ(c[5], 0xaa);
	CHECK_EQ(c[7], 0xcc);
	CHECK_EQ(vdk_dev_set_config(e.dev, 0, patch, 1), 0);
	CHECK_EQ(c[0], 0xaa);
	CHECK_EQ(sim_config_irqs(e.s), 2);
	/* Outside the space, or empty: refused, nothing sent. */
	CHECK_EQ(vdk_dev_set_config(e.dev, 6, patch, 3), -EINVAL);
	CHECK_EQ(vdk_dev_set_config(e.dev, 8, patch, 1), -EINVAL);
	CHECK_EQ(vdk_dev_set_config(e.dev, 9, patch, 1), -EINVAL);
	CHECK_EQ(vdk_dev_set_config(e.dev, UINT32_MAX, patch, 2), -EINVAL);
	CHECK_EQ(vdk_dev_set_config(e.dev, 2, patch, UINT32_MAX), -EINVAL);
	CHECK_EQ(vdk_dev_set_config(e.dev, 0, patch, 0), -EINVAL);
	CHECK_EQ(sim_config_irqs(e.s), 2);
	CHECK_EQ(c[6], 0xbb);
	/* The features the library adds to the device's. */
	CHECK_EQ(sim_device_features(e.s) & ENV_BASE_FEATURES,
		 ENV_BASE_FEATURES);
	CHECK(sim_device_features(e.s) & (1ull << VIRTIO_RING_F_EVENT_IDX));
	CHECK(sim_device_features(e.s) & (1ull << VIRTIO_RING_F_INDIRECT_DESC));
	CHECK_EQ(vdk_dev_features(e.dev), sim_device_features(e.s));
	env_fini(&e);
}

static void test_bad_configs(void)
{
	static char long_name[VDUSE_NAME_MAX + 8];
	static uint8_t big_config[4097];
	static const char *const names[] = {
		NULL, "", "a/b", "/", "..", ".x", "control", "a b", "\xc3\xa4",
		long_name,
	};
	static const unsigned int queues[] = { 0, 65, 1000 };
	static const unsigned int sizes[] = { 0, 1, 3, 48, 100, 65536,
					      1u << 31 };
	struct vdk_dev_cfg good, c;
	unsigned int fds = count_fds(), i;
	struct vdk_dev *dev;
	struct env e = { 0 };
	struct sim *s;

	CHECK_EQ(sim_new(1 << 20, &s), 0);
	e.cfg.num_queues = 1;
	e.cfg.qsize = 16;
	good = env_dev_cfg(&e);
	memset(long_name, 'a', sizeof(long_name) - 1);

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		c = good;
		c.name = names[i];
		CHECK_EQ(sim_dev_new(s, &c, true, &dev), -EINVAL);
		CHECK(!sim_dev_exists(s));
	}
	for (i = 0; i < sizeof(queues) / sizeof(queues[0]); i++) {
		c = good;
		c.num_queues = queues[i];
		CHECK_EQ(sim_dev_new(s, &c, true, &dev), -EINVAL);
		CHECK(!sim_dev_exists(s));
	}
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		c = good;
		c.queue_size = sizes[i];
		CHECK_EQ(sim_dev_new(s, &c, true, &dev), -EINVAL);
		CHECK(!sim_dev_exists(s));
	}
	c = good;
	c.config = big_config;
	c.config_size = sizeof(big_config);
	CHECK_EQ(sim_dev_new(s, &c, true, &dev), -EINVAL);
	c.config = NULL;
	c.config_size = 8;
	CHECK_EQ(sim_dev_new(s, &c, true, &dev), -EINVAL);
	CHECK(!sim_dev_exists(s));
	CHECK_EQ(count_fds(), fds);

	/* No configuration space at all (UBSan: no memcpy from NULL). */
	{
		struct sim *s2;

		CHECK_EQ(sim_new(1 << 20, &s2), 0);
		c = good;
		c.config = NULL;
		c.config_size = 0;
		CHECK_EQ(sim_dev_new(s2, &c, true, &dev), 0);
		vdk_dev_close(dev);
		sim_free(s2);
	}

	/* The limits themselves are fine. */
	c = good;
	c.name = "a_b-c.0";
	c.num_queues = 64;
	c.queue_size = 2;
	c.config = big_config;
	c.config_size = sizeof(big_config) - 1;
	CHECK_EQ(sim_dev_new(s, &c, true, &dev), 0);
	CHECK(sim_dev_exists(s));
	CHECK_EQ(vdk_dev_num_queues(dev), 64);
	CHECK_EQ(strcmp(vdk_dev_name(dev), "a_b-c.0"), 0);
	vdk_dev_close(dev);
	sim_free(s);
	CHECK_EQ(count_fds(), fds);
}

/* Each step of creation failing in the kernel leaves nothing behind. */
static void test_create_fails(void)
{
	static const struct {
		const char *op;
		int err;
	} faults[] = {
		{ "create_dev", -EPERM },
		{ "open_dev", -ENOENT },
		{ "vq_setup", -EINVAL },
		{ "vq_setup_kickfd", -EBADF },
	};
	struct env_cfg cfg = { .num_queues = 4, .qsize = 16 };
	unsigned int fds = count_fds(), i;
	struct vdk_dev_cfg dc;
	struct vdk_dev *dev;
	struct env e;

	for (i = 0; i < sizeof(faults) / sizeof(faults[0]); i++) {
		memset(&e, 0, sizeof(e));
		e.cfg = cfg;
		CHECK_EQ(sim_new(1 << 20, &e.s), 0);
		dc = env_dev_cfg(&e);
		CHECK_EQ(faulty_dev_new(e.s, &dc, true, faults[i].op,
					faults[i].err, &dev),
			 faults[i].err);
		CHECK(!sim_dev_exists(e.s));
		CHECK_EQ(count_fds(), fds);
		/* And the name is free again. */
		CHECK_EQ(sim_dev_new(e.s, &dc, true, &e.dev), 0);
		e.vq = vdk_dev_vq(e.dev, 0);
		env_driver_ok(&e);
		post(&e, 0, 1);
		env_complete(&e, pop_tag(e.vq, 1), 4);
		env_fini(&e);
		CHECK_EQ(count_fds(), fds);
	}

	/* The name in use: the existing device is left alone. */
	env_init(&e, &cfg);
	dc = env_dev_cfg(&e);
	CHECK_EQ(sim_dev_new(e.s, &dc, true, &dev), -EEXIST);
	CHECK(sim_dev_exists(e.s));
	post(&e, 0, 1);
	env_complete(&e, pop_tag(e.vq, 1), 4);
	env_fini(&e);
	CHECK_EQ(count_fds(), fds);
}

/*
 * A daemon restart: close the device without a reset, open it again, and
 * go on after the last completion the driver can see.
 */
static void test_reopen(void)
{
	struct env_cfg cfg = { .features = 1ull << VIRTIO_RING_F_EVENT_IDX };
	struct vdk_req *a, *b, *c;
	struct vdk_dev_cfg dc;
	uint16_t avail, id;
	int ha, hb, hc, hd;
	uint32_t len;
	struct env e;

	env_init(&e, &cfg);
	dc = env_dev_cfg(&e);
	ha = post(&e, 0, 1);
	hb = post(&e, 0, 2);
	a = pop_tag(e.vq, 1);
	b = pop_tag(e.vq, 2);
	vdk_vq_push(e.vq, a, 4);
	vdk_vq_push(e.vq, b, 4);
	CHECK_EQ(vdk_vq_notify(e.vq), 1);
	CHECK_EQ(sim_vq_used(e.s, 0, &id, &len), 1);
	CHECK_EQ(id, ha);
	CHECK_EQ(sim_vq_used(e.s, 0, &id, &len), 1);
	CHECK_EQ(id, hb);
	hc = post(&e, 0, 3);

	vdk_dev_close(e.dev);
	CHECK_EQ(e.stops, 1);
	CHECK_EQ(sim_live_maps(e.s), 0);
	CHECK(sim_dev_exists(e.s));
	/* The driver goes on while no daemon listens. */
	hd = post(&e, 0, 4);
	sim_vq_kick(e.s, 0, false);

	CHECK_EQ(sim_dev_new(e.s, &dc, false, &e.dev), 0);
	e.vq = vdk_dev_vq(e.dev, 0);
	CHECK_EQ(e.starts, 2);
	CHECK(vdk_vq_ready(e.vq));
	CHECK(vdk_dev_status(e.dev) & VIRTIO_CONFIG_S_DRIVER_OK);
	CHECK_EQ(get_vq_state(&e, 0, &avail), VDUSE_REQ_RESULT_OK);
	CHECK_EQ(avail, 2);
	c = pop_tag(e.vq, 3);
	CHECK_EQ(c->id, hc);
	b = pop_tag(e.vq, 4);
	CHECK_EQ(b->id, hd);
	CHECK_EQ(vdk_vq_pop(e.vq, &a), 0);
	vdk_vq_push(e.vq, c, 4);
	vdk_vq_push(e.vq, b, 4);
	CHECK_EQ(vdk_vq_notify(e.vq), 1);
	CHECK_EQ(sim_vq_used(e.s, 0, &id, &len), 1);
	CHECK_EQ(id, hc);
	CHECK_EQ(len, 4);
	CHECK_EQ(sim_vq_used(e.s, 0, &id, &len), 1);
	CHECK_EQ(id, hd);
	CHECK_EQ(sim_vq_used(e.s, 0, &id, &len), 0);

	/*
	 * Popped but not completed when the daemon went away: served again
	 * (the driver never saw it complete).
	 */
	post(&e, 0, 5);
	a = pop_tag(e.vq, 5);
	vdk_dev_close(e.dev);
	CHECK_EQ(sim_dev_new(e.s, &dc, false, &e.dev), 0);
	e.vq = vdk_dev_vq(e.dev, 0);
	a = pop_tag(e.vq, 5);
	env_complete(&e, a, 4);
	post(&e, 0, 6);
	sim_vq_kick(e.s, 0, false);
	env_complete(&e, pop_tag(e.vq, 6), 4);

	/* Reopened before the driver started: nothing to resume. */
	CHECK_EQ(sim_set_status(e.s, e.dev, 0), 0);
	vdk_dev_close(e.dev);
	CHECK_EQ(sim_dev_new(e.s, &dc, false, &e.dev), 0);
	e.vq = vdk_dev_vq(e.dev, 0);
	CHECK(!vdk_vq_ready(e.vq));
	env_driver_ok(&e);
	post(&e, 0, 7);
	env_complete(&e, pop_tag(e.vq, 7), 4);
	env_fini(&e);

	/* Reopening what does not exist. */
	CHECK_EQ(sim_new(1 << 20, &e.s), 0);
	CHECK_EQ(sim_dev_new(e.s, &dc, false, &e.dev), -ENOENT);
	sim_free(e.s);
}

/* ---- newer kernels: API 1, ready requests, suspend ---- */

#define FEAT_QR (1ull << VDUSE_F_QUEUE_READY)
#define FEAT_SUSPEND (1ull << VDUSE_F_SUSPEND)

/*
 * A model that holds the requests a test pops (held[]) and, when
 * suspended, completes them all, as the suspend() callback must.
 */
static struct vdk_req *held[16];
static unsigned int nheld, suspends;
static int suspend_ret;
static bool force_packed; /* the same tests again on packed rings */

static int susp_suspend(struct vdk_dev *dev, void *opaque)
{
	struct vdk_vq *vq = vdk_dev_vq(dev, 0);
	unsigned int i;

	(void)opaque;
	suspends++;
	if (suspend_ret < 0)
		return suspend_ret;
	for (i = 0; i < nheld; i++)
		vdk_vq_push(vq, held[i], 4);
	nheld = 0;
	vdk_vq_notify(vq);
	return 0;
}

static const struct vdk_dev_ops susp_ops = {
	.start = env_start,
	.stop = env_stop,
	.suspend = susp_suspend,
};

/* A device on a kernel of @api offering @offered, with @ops (NULL: env's). */
static void env_new(struct env *e, unsigned int nq, uint64_t api,
		    uint64_t offered, const struct vdk_dev_ops *ops)
{
	struct vdk_dev_cfg dc;

	memset(e, 0, sizeof(*e));
	e->cfg.mem = 1u << 20;
	e->cfg.num_queues = nq;
	e->cfg.qsize = 16;
	e->cfg.ring = 0x1000;
	e->cfg.ring_stride = 0x4000;
	e->cfg.packed = env_packed() || force_packed;
	CHECK_EQ(sim_new(e->cfg.mem, &e->s), 0);
	sim_set_api_version(e->s, api);
	sim_set_vduse_features(e->s, offered);
	dc = env_dev_cfg(e);
	if (ops)
		dc.ops = ops;
	CHECK_EQ(sim_dev_new(e->s, &dc, true, &e->dev), 0);
	e->vq = vdk_dev_vq(e->dev, 0);
	nheld = 0;
	suspends = 0;
	suspend_ret = 0;
}

/* Send a request of @type with @len bytes of payload; its result. */
static uint32_t send_req(struct env *e, uint32_t type, const void *payload,
			 size_t len)
{
	struct vduse_dev_request req;
	struct vduse_dev_response resp;

	memset(&req, 0, sizeof(req));
	req.type = type;
	if (len)
		memcpy(&req.vq_state, payload, len);
	CHECK_EQ(sim_control(e->s, e->dev, &req, &resp), 0);
	return resp.result;
}

static uint32_t vq_ready(struct env *e, uint32_t q, uint32_t ready)
{
	struct vdk__vduse_vq_ready r = { .num = q, .ready = ready };

	return send_req(e, VDK__REQ_SET_VQ_READY, &r, sizeof(r));
}

static uint32_t suspend(struct env *e)
{
	return send_req(e, VDK__REQ_SUSPEND, NULL, 0);
}

/* DRIVER_OK, the simulator telling the device of each ready queue. */
static void ready_all_and_start(struct env *e)
{
	env_driver_ok(e);
}

/* The next completion on queue @q is @head with @len; @more after it. */
static void expect_used(struct env *e, unsigned int q, int head, uint32_t len)
{
	uint16_t id;
	uint32_t got;

	CHECK_EQ(sim_vq_used(e->s, q, &id, &got), 1);
	CHECK_EQ(id, head);
	CHECK_EQ(got, len);
}

static void expect_no_used(struct env *e, unsigned int q)
{
	uint16_t id;
	uint32_t got;

	CHECK_EQ(sim_vq_used(e->s, q, &id, &got), 0);
}

/* Version 1 where offered: one group, one address space, said so. */
static void test_api1_groups(void)
{
	struct vdk__vduse_vq_group_asid g = { 0, 0 };
	struct vdk__vduse_iova_range_v2 r = { .start = 0, .last = ~0ull };
	uint32_t ng, nas;
	struct env e;

	env_new(&e, 1, 1, 0, NULL);
	CHECK_EQ(vdk_dev_api_version(e.dev), 1);
	sim_dev_groups(e.s, &ng, &nas);
	CHECK_EQ(ng, 1);
	CHECK_EQ(nas, 1);
	env_driver_ok(&e);
	CHECK_EQ(send_req(&e, VDK__REQ_SET_VQ_GROUP_ASID, &g, sizeof(g)),
		 VDUSE_REQ_RESULT_OK);
	/* Hostile: a group or an address space the device does not have. */
	g.group = 1;
	CHECK_EQ(send_req(&e, VDK__REQ_SET_VQ_GROUP_ASID, &g, sizeof(g)),
		 VDUSE_REQ_RESULT_FAILED);
	g.group = 0;
	g.asid = UINT32_MAX;
	CHECK_EQ(send_req(&e, VDK__REQ_SET_VQ_GROUP_ASID, &g, sizeof(g)),
		 VDUSE_REQ_RESULT_FAILED);
	/* Version 1's IOTLB update: address space 0 only. */
	CHECK_EQ(send_req(&e, VDUSE_UPDATE_IOTLB, &r, sizeof(r)),
		 VDUSE_REQ_RESULT_OK);
	r.asid = 1;
	CHECK_EQ(send_req(&e, VDUSE_UPDATE_IOTLB, &r, sizeof(r)),
		 VDUSE_REQ_RESULT_FAILED);
	/* The device goes on. */
	post(&e, 0, 1);
	env_complete(&e, pop_tag(e.vq, 1), 4);
	env_fini(&e);

	/* Version 0: no groups said, and no group request taken. */
	env_new(&e, 1, 0, 0, NULL);
	CHECK_EQ(vdk_dev_api_version(e.dev), 0);
	sim_dev_groups(e.s, &ng, &nas);
	CHECK_EQ(ng, 0);
	CHECK_EQ(nas, 0);
	g.asid = 0;
	CHECK_EQ(send_req(&e, VDK__REQ_SET_VQ_GROUP_ASID, &g, sizeof(g)),
		 VDUSE_REQ_RESULT_FAILED);
	env_fini(&e);
}

/* VDUSE features: those offered that the device can honour, only. */
static void test_vduse_features(void)
{
	struct vdk_dev_cfg dc;
	struct env e;

	/* Before 7.3: VDUSE_GET_FEATURES fails, nothing asked. */
	env_new(&e, 1, 1, 0, &susp_ops);
	CHECK_EQ(vdk_dev_vduse_features(e.dev), 0);
	CHECK_EQ(sim_vduse_features_set(e.s), 0);
	env_fini(&e);
	/* No suspend() callback: no suspend. */
	env_new(&e, 1, 1, FEAT_QR | FEAT_SUSPEND, NULL);
	CHECK_EQ(vdk_dev_vduse_features(e.dev), VDK_VDUSE_F_QUEUE_READY);
	CHECK_EQ(sim_vduse_features_set(e.s), FEAT_QR);
	env_fini(&e);
	/* Both, and an unknown bit offered is not asked for. */
	env_new(&e, 1, 1, FEAT_QR | FEAT_SUSPEND | (1ull << 9), &susp_ops);
	CHECK_EQ(vdk_dev_vduse_features(e.dev),
		 VDK_VDUSE_F_QUEUE_READY | VDK_VDUSE_F_SUSPEND);
	CHECK_EQ(sim_vduse_features_set(e.s), FEAT_QR | FEAT_SUSPEND);
	env_fini(&e);
	/* The kernel refuses them: the device is made without. */
	memset(&e, 0, sizeof(e));
	e.cfg.num_queues = 1;
	e.cfg.qsize = 16;
	CHECK_EQ(sim_new(1 << 20, &e.s), 0);
	sim_set_vduse_features(e.s, FEAT_QR | FEAT_SUSPEND);
	dc = env_dev_cfg(&e);
	dc.ops = &susp_ops;
	CHECK_EQ(faulty_dev_new(e.s, &dc, true, "set_vduse_features", -EINVAL,
				&e.dev),
		 0);
	CHECK_EQ(vdk_dev_vduse_features(e.dev), 0);
	CHECK(strstr(e.last_log, "not taken"));
	env_fini(&e);
}

/* Ready requests: noted before DRIVER_OK; hostile ones refused. */
static void test_vq_ready(void)
{
	struct env e;
	int h1, h2;

	env_new(&e, 2, 1, FEAT_QR | FEAT_SUSPEND, &susp_ops);
	/* Ready before the rings are set up: only noted. */
	CHECK_EQ(vq_ready(&e, 0, 1), VDUSE_REQ_RESULT_OK);
	CHECK_EQ(vq_ready(&e, 0, 1), VDUSE_REQ_RESULT_OK);
	CHECK_EQ(e.starts, 0);
	/* Hostile: a queue past the last, a ready state not 0 or 1. */
	CHECK_EQ(vq_ready(&e, 2, 1), VDUSE_REQ_RESULT_FAILED);
	CHECK_EQ(vq_ready(&e, UINT32_MAX, 0), VDUSE_REQ_RESULT_FAILED);
	CHECK_EQ(vq_ready(&e, 1, 2), VDUSE_REQ_RESULT_FAILED);
	CHECK(strstr(e.last_log, "refused"));
	/* The driver's probe resets: queue 1 alone is set up and ready. */
	if (e.cfg.packed)
		sim_pvq_setup(e.s, 0, 16, e.cfg.ring);
	else
		sim_vq_setup(e.s, 0, 16, e.cfg.ring);
	CHECK_EQ(sim_driver_ok(e.s, e.dev, ENV_BASE_FEATURES |
			       (e.cfg.packed ? 1ull << VIRTIO_F_RING_PACKED :
					       0)),
		 0);
	CHECK(vdk_vq_ready(vdk_dev_vq(e.dev, 0)));
	CHECK(!vdk_vq_ready(vdk_dev_vq(e.dev, 1)));
	CHECK_EQ(e.starts, 1);
	/* Queue 1 laid out now; the kernel's ready flag alone starts nothing. */
	if (e.cfg.packed)
		sim_pvq_setup(e.s, 1, 16, e.cfg.ring + e.cfg.ring_stride);
	else
		sim_vq_setup(e.s, 1, 16, e.cfg.ring + e.cfg.ring_stride);
	CHECK(!vdk_vq_ready(vdk_dev_vq(e.dev, 1)));

	/*
	 * Queue 1 ready while the device runs: every queue stops with its
	 * requests completed and goes on where it stood; none repeated.
	 */
	h1 = post(&e, 0, 1);
	h2 = post(&e, 0, 2);
	held[nheld++] = pop_tag(e.vq, 1);
	CHECK_EQ(vq_ready(&e, 1, 1), VDUSE_REQ_RESULT_OK);
	CHECK_EQ(suspends, 1);
	CHECK_EQ(e.starts, 2);
	expect_used(&e, 0, h1, 4);
	expect_no_used(&e, 0);
	CHECK(vdk_vq_ready(vdk_dev_vq(e.dev, 1)));
	/* Request 2 comes next, once; request 1 is not taken again. */
	env_complete(&e, env_pop_one(&e, h2), 4);
	/* Queue 1 serves too. */
	h1 = post(&e, 1, 3);
	{
		struct vdk_vq *vq1 = vdk_dev_vq(e.dev, 1);
		struct vdk_req *r = pop_tag(vq1, 3);

		vdk_vq_push(vq1, r, 4);
		vdk_vq_notify(vq1);
		expect_used(&e, 1, h1, 4);
	}
	/* Not ready again: stops, the other goes on. */
	CHECK_EQ(vq_ready(&e, 1, 0), VDUSE_REQ_RESULT_OK);
	CHECK(!vdk_vq_ready(vdk_dev_vq(e.dev, 1)));
	CHECK(vdk_vq_ready(e.vq));
	post(&e, 0, 4);
	env_complete(&e, pop_tag(e.vq, 4), 4);
	env_fini(&e);

	/*
	 * Without a suspend() callback a running device cannot follow: a
	 * queue made not ready keeps serving until the reset, one made
	 * ready that never started is refused.
	 */
	env_new(&e, 2, 1, FEAT_QR, NULL);
	sim_vq_setup(e.s, 0, 16, e.cfg.ring);
	CHECK_EQ(sim_driver_ok(e.s, e.dev, ENV_BASE_FEATURES), 0);
	sim_vq_setup(e.s, 1, 16, e.cfg.ring + e.cfg.ring_stride);
	CHECK_EQ(vq_ready(&e, 0, 0), VDUSE_REQ_RESULT_OK);
	CHECK(strstr(e.last_log, "left running"));
	CHECK(vdk_vq_ready(e.vq));
	CHECK_EQ(vq_ready(&e, 0, 1), VDUSE_REQ_RESULT_OK);
	CHECK_EQ(vq_ready(&e, 1, 1), VDUSE_REQ_RESULT_FAILED);
	post(&e, 0, 1);
	env_complete(&e, pop_tag(e.vq, 1), 4);
	env_fini(&e);
}

/*
 * One queue made not ready and ready again while the device runs, as a
 * vhost-vdpa client's VHOST_VDPA_SET_VRING_ENABLE does: the requests it
 * took complete, the position reported is exact, nothing is taken while
 * it is not ready, and once ready it goes on from where it stopped (the
 * kernel's own position is still the one set before DRIVER_OK, and
 * vhost-vdpa lets no new one be set on a running device), taking what
 * was posted meanwhile, each request once.  Twice over: the second time
 * starts from a position the first one kept.
 */
static void test_vq_ready_cycle(void)
{
	uint16_t avail = 0xffff;
	struct vdk_req *r;
	struct env e;
	int h[3];

	env_new(&e, 2, 1, FEAT_QR | FEAT_SUSPEND, &susp_ops);
	ready_all_and_start(&e);
	for (int round = 0; round < 2; round++) {
		uint8_t t = (uint8_t)(1 + 3 * round); /* tags t, t+1, t+2 */

		h[0] = post(&e, 0, t);
		h[1] = post(&e, 0, (uint8_t)(t + 1));
		held[nheld++] = pop_tag(e.vq, t);
		CHECK_EQ(vq_ready(&e, 0, 0), VDUSE_REQ_RESULT_OK);
		CHECK_EQ(suspends, (unsigned int)(2 * round + 1));
		/* The one taken is completed; the other waits, untaken. */
		expect_used(&e, 0, h[0], 4);
		expect_no_used(&e, 0);
		CHECK(!vdk_vq_ready(e.vq));
		CHECK(vdk_vq_ready(vdk_dev_vq(e.dev, 1)));
		if (!e.cfg.packed) {
			CHECK_EQ(get_vq_state(&e, 0, &avail),
				 VDUSE_REQ_RESULT_OK);
			CHECK_EQ(avail, 1 + 3 * round);
			CHECK_EQ(sim_vq_used_idx(e.s, 0), 1 + 3 * round);
		}
		/* Posted and kicked while not ready: nothing taken. */
		h[2] = post(&e, 0, (uint8_t)(t + 2));
		sim_vq_kick(e.s, 0, true);
		CHECK_EQ(vdk_vq_pop(e.vq, &r), -EAGAIN);
		expect_no_used(&e, 0);
		/* Ready again: on from where it stood, each request once. */
		CHECK_EQ(vq_ready(&e, 0, 1), VDUSE_REQ_RESULT_OK);
		CHECK(vdk_vq_ready(e.vq));
		r = pop_tag(e.vq, (uint8_t)(t + 1));
		CHECK_EQ(r->id, h[1]);
		env_complete(&e, r, 4);
		r = pop_tag(e.vq, (uint8_t)(t + 2));
		CHECK_EQ(r->id, h[2]);
		env_complete(&e, r, 4);
		CHECK_EQ(vdk_vq_pop(e.vq, &r), 0);
	}
	env_fini(&e);
}

/*
 * Suspend: the requests taken are completed, the position reported is
 * exact, nothing more is taken until a reset; hostile orders refused or
 * harmless.
 */
static void test_suspend(void)
{
	uint16_t avail = 0xffff;
	struct env e;
	int h1, h2;

	env_new(&e, 1, 1, FEAT_QR | FEAT_SUSPEND, &susp_ops);
	ready_all_and_start(&e);
	h1 = post(&e, 0, 1);
	h2 = post(&e, 0, 2);
	post(&e, 0, 3);
	held[nheld++] = pop_tag(e.vq, 1);
	held[nheld++] = pop_tag(e.vq, 2);
	CHECK_EQ(suspend(&e), VDUSE_REQ_RESULT_OK);
	CHECK_EQ(suspends, 1);
	expect_used(&e, 0, h1, 4);
	expect_used(&e, 0, h2, 4);
	expect_no_used(&e, 0);
	CHECK(!vdk_vq_ready(e.vq));
	if (!e.cfg.packed) {
		CHECK_EQ(get_vq_state(&e, 0, &avail), VDUSE_REQ_RESULT_OK);
		CHECK_EQ(avail, 2);
		CHECK_EQ(sim_vq_used_idx(e.s, 0), 2);
	}
	/* Request 3 stays in the ring, untaken. */
	sim_vq_kick(e.s, 0, true);
	{
		struct vdk_req *r;

		CHECK_EQ(vdk_vq_pop(e.vq, &r), -EAGAIN);
	}
	/* Twice: harmless.  Ready requests meanwhile: only noted. */
	CHECK_EQ(suspend(&e), VDUSE_REQ_RESULT_OK);
	CHECK_EQ(suspends, 1);
	CHECK_EQ(vq_ready(&e, 0, 0), VDUSE_REQ_RESULT_OK);
	CHECK_EQ(vq_ready(&e, 0, 1), VDUSE_REQ_RESULT_OK);
	CHECK(!vdk_vq_ready(e.vq));
	CHECK_EQ(vdk_dev_vduse_features(e.dev),
		 VDK_VDUSE_F_QUEUE_READY | VDK_VDUSE_F_SUSPEND);
	/* A reset ends it; the device serves again. */
	CHECK_EQ(sim_set_status(e.s, e.dev, 0), 0);
	ready_all_and_start(&e);
	post(&e, 0, 5);
	env_complete(&e, pop_tag(e.vq, 5), 4);
	env_fini(&e);

	/* Suspended before it ever ran: DRIVER_OK starts nothing. */
	env_new(&e, 1, 1, FEAT_QR | FEAT_SUSPEND, &susp_ops);
	sim_vq_setup(e.s, 0, 16, e.cfg.ring);
	{
		uint8_t st = VIRTIO_CONFIG_S_ACKNOWLEDGE |
			     VIRTIO_CONFIG_S_DRIVER |
			     VIRTIO_CONFIG_S_FEATURES_OK;

		CHECK_EQ(sim_set_status(e.s, e.dev, st), 0);
		CHECK_EQ(vq_ready(&e, 0, 1), VDUSE_REQ_RESULT_OK);
		CHECK_EQ(suspend(&e), VDUSE_REQ_RESULT_OK);
		CHECK_EQ(suspends, 0);
		CHECK_EQ(sim_set_status(e.s, e.dev,
					st | VIRTIO_CONFIG_S_DRIVER_OK),
			 0);
	}
	CHECK(!vdk_vq_ready(e.vq));
	CHECK_EQ(e.starts, 0);
	CHECK(strstr(e.last_log, "while suspended"));
	env_fini(&e);

	/* The model cannot complete its requests: refused, reset recovers. */
	env_new(&e, 1, 1, FEAT_QR | FEAT_SUSPEND, &susp_ops);
	ready_all_and_start(&e);
	post(&e, 0, 1);
	held[nheld++] = pop_tag(e.vq, 1);
	suspend_ret = -ETIMEDOUT;
	CHECK_EQ(suspend(&e), VDUSE_REQ_RESULT_FAILED);
	CHECK(strstr(e.last_log, "suspend failed"));
	nheld = 0;
	suspend_ret = 0;
	CHECK_EQ(sim_set_status(e.s, e.dev, 0), 0);
	ready_all_and_start(&e);
	post(&e, 0, 2);
	env_complete(&e, pop_tag(e.vq, 2), 4);
	env_fini(&e);

	/* A device without suspend() refuses the request. */
	env_new(&e, 1, 1, FEAT_QR | FEAT_SUSPEND, NULL);
	ready_all_and_start(&e);
	CHECK_EQ(suspend(&e), VDUSE_REQ_RESULT_FAILED);
	post(&e, 0, 1);
	env_complete(&e, pop_tag(e.vq, 1), 4);
	env_fini(&e);
}

int main(void)
{
	test_api_version();
	test_unknown_message();
	test_dev_fd();
	test_get_vq_state();
	test_update_iotlb();
	test_start_stop();
	test_start_fails();
	test_set_config();
	test_bad_configs();
	test_create_fails();
	test_reopen();
	test_api1_groups();
	test_vduse_features();
	test_vq_ready();
	test_vq_ready_cycle();
	test_suspend();
	force_packed = true;
	test_vq_ready();
	test_vq_ready_cycle();
	test_suspend();
	return T_EXIT_PASS;
}
