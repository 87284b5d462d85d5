// SPDX-License-Identifier: MIT
/*
 * The public structs keep their size and layout (vdk.h, "ABI"): a new
 * field takes reserved space.  Reserved space the application passes in
 * must be zero, and what the library fills in comes back zeroed.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "env.h"

/* Sizes that programs built against VDK_0.1 have compiled in (LP64). */
_Static_assert(sizeof(struct vdk_dev_stats) == 128, "vdk_dev_stats size");
_Static_assert(sizeof(struct vdk_vq_stats) == 128, "vdk_vq_stats size");
#if __SIZEOF_POINTER__ == 8
_Static_assert(sizeof(struct vdk_dev_ops) == 64, "vdk_dev_ops size");
_Static_assert(sizeof(struct vdk_dev_cfg) == 176, "vdk_dev_cfg size");
/* flags took the first reserved slot. */
_Static_assert(offsetof(struct vdk_dev_cfg, flags) == 112,
	       "vdk_dev_cfg layout");
_Static_assert(offsetof(struct vdk_dev_cfg, reserved) == 120,
	       "vdk_dev_cfg layout");
#endif

static int nop_start(struct vdk_dev *dev, void *opaque)
{
	return 0;
}

static void nop(void)
{
}

static void test_reserved_in(void)
{
	struct vdk_dev_ops ops = { .start = nop_start };
	struct vdk_dev_cfg dc;
	struct vdk_dev *dev;
	struct env e;

	memset(&e, 0, sizeof(e));
	e.cfg.num_queues = 1;
	e.cfg.qsize = 16;
	CHECK_EQ(sim_new(1 << 20, &e.s), 0);

	/* A field from a newer header, in the config or in the ops. */
	dc = env_dev_cfg(&e);
	dc.reserved[6] = 1;
	CHECK_EQ(sim_dev_new(e.s, &dc, true, &dev), -EINVAL);
	/* A flag this library does not know, or two that contradict. */
	dc = env_dev_cfg(&e);
	dc.flags = 1ull << 63;
	CHECK_EQ(sim_dev_new(e.s, &dc, true, &dev), -EINVAL);
	dc.flags = VDK_DEV_F_PACKED | VDK_DEV_F_NO_PACKED;
	CHECK_EQ(sim_dev_new(e.s, &dc, true, &dev), -EINVAL);
	dc = env_dev_cfg(&e);
	ops.reserved[0] = nop;
	dc.ops = &ops;
	CHECK_EQ(sim_dev_new(e.s, &dc, true, &dev), -EINVAL);
	/* Zero, as a designated initializer leaves it: accepted. */
	ops.reserved[0] = NULL;
	CHECK_EQ(sim_dev_new(e.s, &dc, true, &dev), 0);
	e.dev = dev;
	e.vq = vdk_dev_vq(dev, 0);
	env_fini(&e);
}

static void test_reserved_out(void)
{
	struct env_cfg ec = { 0 };
	struct vdk_dev_stats ds;
	struct vdk_vq_stats qs;
	struct env e;
	size_t i;

	env_init(&e, &ec);
	memset(&ds, 0xff, sizeof(ds));
	memset(&qs, 0xff, sizeof(qs));
	vdk_dev_get_stats(e.dev, &ds);
	vdk_vq_get_stats(e.vq, &qs);
	for (i = 0; i < sizeof(ds.reserved) / sizeof(ds.reserved[0]); i++)
		CHECK_EQ(ds.reserved[i], 0);
	for (i = 0; i < sizeof(qs.reserved) / sizeof(qs.reserved[0]); i++)
		CHECK_EQ(qs.reserved[i], 0);
	CHECK(ds.msgs > 0);
	env_fini(&e);
}

int main(void)
{
	test_reserved_in();
	test_reserved_out();
	return T_EXIT_PASS;
}
