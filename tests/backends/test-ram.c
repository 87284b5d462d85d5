/* SPDX-License-Identifier: MIT */
/* Backend "ram": parameters, every operation, two queues at once. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "common.h"

static void test_params(void)
{
	struct tb t;

	check_err(&t, TB_OPEN(&t, "ram", "block-size=512"),
		  "missing parameter size=");
	check_err(&t, TB_OPEN(&t, "ram", "size=0"), "size must not be 0");
	check_err(&t, TB_OPEN(&t, "ram", "size=1000"),
		  "size 1000 is not a multiple of the block size 512");
	check_err(&t, TB_OPEN(&t, "ram", "size=6K", "block-size=4096"),
		  "size 6144 is not a multiple of the block size 4096");
	check_err(&t, TB_OPEN(&t, "ram", "size=1X"),
		  "bad value '1X' for size");
	check_err(&t, TB_OPEN(&t, "ram", "size=1M", "block-size=1024"),
		  "bad value '1024' for block-size: expected 512 or 4096");
	check_err(&t, TB_OPEN(&t, "ram", "size=1M", "sise=2M"),
		  "unknown parameter 'sise'");

	CHECK_EQ(TB_OPEN(&t, "ram", "size=1M"), 0);
	CHECK_EQ(t.info.size, 1 << 20);
	CHECK_EQ(t.info.block_size, 512);
	CHECK(!t.info.read_only && t.info.can_flush && t.info.can_fua &&
	      t.info.can_discard && t.info.can_zero &&
	      t.info.can_zero_unmap && t.info.multi_queue);
	tb_close(&t);
	CHECK_EQ(TB_OPEN(&t, "ram", "size=8K", "block-size=4096"), 0);
	CHECK_EQ(t.info.size, 8192);
	CHECK_EQ(t.info.block_size, 4096);
	tb_close(&t);
}

/* The caller checks ranges, but a bad one must not touch memory. */
static void test_bad_bios(void)
{
	char buf[1024];
	struct tb t;
	struct tq q;

	CHECK_EQ(TB_OPEN(&t, "ram", "size=64K"), 0);
	tq_open(&q, &t, 4);
	CHECK_EQ(tq_run(&q, VDK_BIO_READ, 0, 65536 - 512, 1024,
			(struct iovec[]){ { buf, 1024 } }, 1), -EINVAL);
	CHECK_EQ(tq_run(&q, VDK_BIO_WRITE, 0, UINT64_MAX - 511, 1024,
			(struct iovec[]){ { buf, 1024 } }, 1), -EINVAL);
	CHECK_EQ(tq_run(&q, VDK_BIO_ZERO, 0, 65536, 512, NULL, 0), -EINVAL);
	CHECK_EQ(tq_run(&q, VDK_BIO_DISCARD, 0, 512, UINT64_MAX, NULL, 0),
		 -EINVAL);
	/* Empty at the very end is fine. */
	CHECK_EQ(tq_run(&q, VDK_BIO_READ, 0, 65536, 0, NULL, 0), 0);
	tq_close(&q);
	tb_close(&t);
}

/* Only touched pages cost memory: a huge disk opens at once. */
static void test_sparse(void)
{
	uint64_t off = (64ull << 30) - 4096;
	char buf[4096], back[4096];
	struct tb t;
	struct tq q;

	if (TB_OPEN(&t, "ram", "size=64G")) {
		/* Strict overcommit (vm.overcommit_memory=2) refuses. */
		fprintf(stderr, "skipping the sparse test: %s\n", t.err);
		return;
	}
	tq_open(&q, &t, 4);
	pat_fill(buf, sizeof(buf), off, 3);
	CHECK_EQ(tq_rw_split(&q, VDK_BIO_WRITE, 0, off, buf, 4096, 1), 0);
	CHECK_EQ(tq_rw_split(&q, VDK_BIO_READ, 0, off, back, 4096, 2), 0);
	check_bytes(back, buf, 4096, off, "end of a sparse disk");
	tq_close(&q);
	tb_close(&t);
}

/* Discard and zero with unmap: whole pages given back, edges cleared. */
static void test_punch_edges(void)
{
	static const uint64_t ranges[][2] = {
		{ 512, 3 * 4096 },    /* partial pages on both sides */
		{ 4096, 4096 },       /* exactly one page */
		{ 512, 1024 },        /* inside one page */
		{ 0, 1 << 20 },       /* everything */
		{ (1 << 20) - 512, 512 },
		{ 3584, 8192 + 1024 },
	};
	static const uint8_t ops[][2] = {
		{ VDK_BIO_DISCARD, 0 },
		{ VDK_BIO_ZERO, VDK_BIO_F_UNMAP },
		{ VDK_BIO_ZERO, 0 },
	};
	unsigned int i, j;
	struct tb t;
	struct tq q;

	CHECK_EQ(TB_OPEN(&t, "ram", "size=1M"), 0);
	tq_open(&q, &t, 1);
	for (i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++)
		for (j = 0; j < sizeof(ops) / sizeof(ops[0]); j++)
			check_zeroed(&q, ops[j][0], ops[j][1], 1 << 20,
				     ranges[i][0], ranges[i][1]);
	tq_close(&q);
	tb_close(&t);
}

int main(void)
{
	struct tb t;

	test_params();
	test_bad_bios();
	test_sparse();
	test_punch_edges();

	CHECK_EQ(TB_OPEN(&t, "ram", "size=4M"), 0);
	conformance(&t);
	two_threads(&t);
	tb_close(&t);

	/* Sizes that end inside a page, to hit the partial-page edges. */
	CHECK_EQ(TB_OPEN(&t, "ram", "size=1049088"), 0);
	conformance(&t);
	tb_close(&t);

	CHECK_EQ(TB_OPEN(&t, "ram", "size=2M", "block-size=4096"), 0);
	conformance(&t);
	tb_close(&t);
	return T_EXIT_PASS;
}
