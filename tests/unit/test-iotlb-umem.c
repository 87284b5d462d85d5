/* SPDX-License-Identifier: MIT */
/*
 * The bounce buffer in the daemon's memory (VDK_DEV_F_BOUNCE_UMEM), on
 * the simulator, which bounces through that memory once it is
 * registered as the kernel does:
 *   - the first request in the bounce region registers it; the request's
 *     vectors point into it, the driver's data is there (copied at
 *     registration), and what the device writes there reaches the
 *     driver;
 *   - a reset keeps it registered, and the next mapping takes it again
 *     (no second registration, the same memory);
 *   - closing the device gives the memory back with its contents;
 *   - without the flag, outside the bounce region, or when the kernel
 *     refuses (the locked-memory limit), the kernel's pages serve, the
 *     log says why once, and vdk_dev_bounce_mem() says -ENOENT.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "env.h"

#define MEM (2ull << 20)
#define BOUNCE (1ull << 20)
#define RING 0x180000ull /* the rings lie outside, as the kernel's do */
#define OUT 0x2000ull
#define IN 0x3000ull
#define LEN 512u

static void fill(unsigned char *p, size_t n, unsigned int seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (unsigned char)(seed * 31 + i * 7);
}

/*
 * One request: the driver writes @seed's pattern at OUT, the device
 * copies it, reversed, to IN; the driver must read that back.  Returns
 * the request's first vector's address.
 */
static void *round_trip(struct env *e, unsigned int seed)
{
	unsigned char out[LEN], got[LEN], want[LEN];
	struct sim_buf b[2] = {
		{ OUT, LEN, false },
		{ IN, LEN, true },
	};
	struct vdk_req *req;
	uint32_t len;
	uint16_t id;
	void *at;
	unsigned int i;
	int head;

	fill(out, sizeof(out), seed);
	sim_write(e->s, OUT, out, sizeof(out));
	head = sim_vq_add(e->s, 0, b, 2, 0);
	CHECK(head >= 0);
	sim_vq_kick(e->s, 0, true);
	req = env_pop_one(e, head);
	CHECK_EQ(req->n_out, 1);
	CHECK_EQ(req->n_in, 1);
	CHECK_EQ(memcmp(req->iov[0].iov_base, out, LEN), 0);
	for (i = 0; i < LEN; i++)
		want[i] = out[LEN - 1 - i];
	memcpy(req->iov[1].iov_base, want, LEN);
	at = req->iov[0].iov_base;
	vdk_vq_push(e->vq, req, LEN);
	CHECK(vdk_vq_notify(e->vq) >= 0);
	CHECK_EQ(sim_vq_used(e->s, 0, &id, &len), 1);
	CHECK_EQ(id, head);
	CHECK_EQ(len, LEN);
	sim_read(e->s, IN, got, sizeof(got));
	CHECK_EQ(memcmp(got, want, LEN), 0);
	return at;
}

static void start(struct env *e, uint64_t flags, bool bounce, int fail)
{
	struct env_cfg cfg = {
		.mem = MEM,
		.ring = RING,
		.flags = flags,
		.no_driver_ok = true,
	};

	env_init(e, &cfg);
	if (bounce)
		CHECK_EQ(sim_bounce(e->s, BOUNCE), 0);
	sim_umem_fail(e->s, fail);
	env_driver_ok(e);
}

static void test_registered(void)
{
	struct vdk_dev_stats st;
	unsigned char got[LEN], want[LEN];
	struct env e;
	void *base, *at;
	size_t len;
	unsigned int i;

	start(&e, VDK_DEV_F_BOUNCE_UMEM, true, 0);
	CHECK_EQ(vdk_dev_bounce_mem(e.dev, &base, &len), -ENOENT);
	at = round_trip(&e, 1);
	CHECK_EQ(sim_umem_regs(e.s), 1);
	CHECK_EQ(vdk_dev_bounce_mem(e.dev, &base, &len), 0);
	CHECK(base == sim_umem(e.s));
	CHECK_EQ(len, BOUNCE);
	CHECK((char *)at == (char *)base + OUT);
	vdk_dev_get_stats(e.dev, &st);
	CHECK_EQ(st.bounce_umem, BOUNCE);

	/* A reset keeps it: the next mapping takes the same memory. */
	env_reset(&e);
	CHECK(sim_umem(e.s) == base);
	at = round_trip(&e, 2);
	CHECK((char *)at == (char *)base + OUT);
	CHECK_EQ(sim_umem_regs(e.s), 1);
	for (i = 3; i < 40; i++)
		round_trip(&e, i);

	/* Closing gives it back, with what the device wrote. */
	fill(got, sizeof(got), 39);
	for (i = 0; i < LEN; i++)
		want[i] = got[LEN - 1 - i];
	vdk_dev_close(e.dev);
	e.dev = NULL;
	CHECK(sim_umem(e.s) == NULL);
	sim_read(e.s, IN, got, sizeof(got));
	CHECK_EQ(memcmp(got, want, LEN), 0);
	CHECK_EQ(sim_live_maps(e.s), 0);
	sim_free(e.s);
}

/* The kernel's pages serve, and no memory is said to be registered. */
static void check_kernel_pages(struct env *e)
{
	struct vdk_dev_stats st;
	void *base = NULL;
	size_t len = 0;
	unsigned int i;

	for (i = 0; i < 10; i++)
		round_trip(e, i);
	CHECK_EQ(vdk_dev_bounce_mem(e->dev, &base, &len), -ENOENT);
	CHECK(sim_umem(e->s) == NULL);
	CHECK_EQ(sim_umem_regs(e->s), 0);
	vdk_dev_get_stats(e->dev, &st);
	CHECK_EQ(st.bounce_umem, 0);
}

static void test_not_wanted(void)
{
	struct env e;

	start(&e, 0, true, 0);
	check_kernel_pages(&e);
	env_fini(&e);
}

static void test_no_bounce_region(void)
{
	struct env e;

	/* vhost-vdpa: memory at IOVA 0 that is no bounce buffer. */
	start(&e, VDK_DEV_F_BOUNCE_UMEM, false, 0);
	check_kernel_pages(&e);
	env_fini(&e);
}

static void test_refused(void)
{
	unsigned int logs;
	struct env e;

	start(&e, VDK_DEV_F_BOUNCE_UMEM, true, -ENOMEM);
	round_trip(&e, 0);
	CHECK_EQ(e.last_level, VDK_LOG_WARNING);
	CHECK(strstr(e.last_log, "RLIMIT_MEMLOCK"));
	logs = e.logs;
	check_kernel_pages(&e);
	/* Said once, not tried again: the region stays mapped as it was. */
	env_reset(&e);
	sim_umem_fail(e.s, 0);
	check_kernel_pages(&e);
	CHECK_EQ(e.logs, logs);
	env_fini(&e);
}

int main(void)
{
	test_registered();
	test_not_wanted();
	test_no_bounce_region();
	test_refused();
	return T_EXIT_PASS;
}
