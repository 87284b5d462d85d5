/* SPDX-License-Identifier: MIT */
/* Backend "null": parameters, reads of zeros or nothing, every op. */
#include <errno.h>
#include <string.h>
#include <sys/uio.h>

#include "common.h"

static void test_params(void)
{
	struct tb t;

	check_err(&t, TB_OPEN(&t, "null", "zeroes=on"),
		  "missing parameter size=");
	check_err(&t, TB_OPEN(&t, "null", "size=1G", "zeroes=maybe"),
		  "bad value 'maybe' for zeroes: expected on/off, yes/no, true/false or 1/0");
	check_err(&t, TB_OPEN(&t, "null", "size=513"),
		  "size 513 is not a multiple of the block size 512");
	check_err(&t, TB_OPEN(&t, "null", "size=1G", "path=/dev/null"),
		  "unknown parameter 'path'");

	CHECK_EQ(TB_OPEN(&t, "null", "size=1T", "block-size=4096"), 0);
	CHECK_EQ(t.info.size, 1ull << 40);
	CHECK_EQ(t.info.block_size, 4096);
	CHECK(!t.info.read_only && t.info.can_flush && t.info.can_discard &&
	      t.info.can_zero && t.info.multi_queue);
	tb_close(&t);
}

static void test_io(bool zeroes)
{
	static const uint8_t ops[] = { VDK_BIO_FLUSH, VDK_BIO_DISCARD,
				       VDK_BIO_ZERO };
	uint64_t size = 1ull << 30, off = size - 8192;
	uint8_t buf[8192], want[8192];
	unsigned int i;
	struct tb t;
	struct tq q;

	CHECK_EQ(TB_OPEN(&t, "null", "size=1G",
			 zeroes ? "zeroes=on" : "zeroes=off"), 0);
	tq_open(&q, &t, 1);
	pat_fill(buf, sizeof(buf), off, 1);
	CHECK_EQ(tq_rw_split(&q, VDK_BIO_WRITE, VDK_BIO_F_FUA, off, buf,
			     sizeof(buf), 1), 0);
	/* Without zeroes, reads leave the buffers alone. */
	memset(buf, 0x5a, sizeof(buf));
	memset(want, zeroes ? 0 : 0x5a, sizeof(want));
	CHECK_EQ(tq_rw_split(&q, VDK_BIO_READ, 0, off, buf, sizeof(buf), 2),
		 0);
	check_bytes(buf, want, sizeof(buf), off, "read");
	for (i = 0; i < sizeof(ops); i++)
		CHECK_EQ(tq_run(&q, ops[i], VDK_BIO_F_UNMAP, 0, size, NULL, 0),
			 0);
	CHECK_EQ(tq_run(&q, VDK_BIO_READ, 0, off, 8192,
			(struct iovec[]){ { buf, 8191 } }, 1), -EINVAL);
	CHECK_EQ(tq_run(&q, VDK_BIO_WRITE, 0, size, 512,
			(struct iovec[]){ { buf, 512 } }, 1), -EINVAL);
	CHECK_EQ(tq_run(&q, VDK_BIO_ZERO, 0, 512, size, NULL, 0), -EINVAL);
	tq_close(&q);
	tb_close(&t);
}

int main(void)
{
	test_params();
	test_io(true);
	test_io(false);
	return T_EXIT_PASS;
}
