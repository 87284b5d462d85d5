/* SPDX-License-Identifier: MIT */
/*
 * The adaptive polling window of the queue threads: it grows while kicks
 * come soon after the queue fell asleep, never past the maximum, shrinks
 * to nothing while they come late, and grows again from nothing.  And
 * the look at the machine's load that stops polling on crowded CPUs: its
 * parser, its verdict and how often it reads.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "test.h"

#define US 1000u

static void put(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	CHECK(fd >= 0);
	CHECK_EQ(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void test_parse(void)
{
	static const char *bad[] = {
		"", "0.52 0.58 0.59", "0.52 0.58 0.59 ", "0.52 0.58 0.59 3",
		"0.52 0.58 0.59 /345 1\n", "0.52 0.58\n0.59 3/345 1\n",
		"0.52 0.58 0.59 x3/345\n", "0.52 0.58 0.59 99999999999/1\n",
	};
	const char *ok = "0.52 0.58 0.59 3/345 12345\n";
	unsigned int r = 7;
	size_t i;

	CHECK_EQ(blk_crowd_parse(ok, strlen(ok), &r), 0);
	CHECK_EQ(r, 3);
	CHECK_EQ(blk_crowd_parse("1.00 2.00 3.00 4294967295/9 1", 29, &r), 0);
	CHECK_EQ(r, 4294967295u);
	/* Every prefix short of the slash is refused, r untouched. */
	for (i = 0; i < strlen(ok); i++) {
		r = 7;
		CHECK_EQ(blk_crowd_parse(ok, i, &r), i > 16 ? 0 : -EINVAL);
		CHECK_EQ(r, i > 16 ? 3u : 7u);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_EQ(blk_crowd_parse(bad[i], strlen(bad[i]), &r), -EINVAL);
}

static void test_crowd(void)
{
	char path[] = "/tmp/vdk-test-crowd-XXXXXX";
	struct blk_crowd c;
	uint64_t t = 5000000000ull;
	int fd = mkstemp(path);

	CHECK(fd >= 0);
	close(fd);

	/* Two CPUs, two runnable: not crowded; read once per hold. */
	put(path, "0.00 0.00 0.00 2/100 1\n");
	blk_crowd_open(&c, path, 2);
	CHECK(c.fd >= 0);
	CHECK(!blk_crowd_check(&c, t));
	CHECK(!blk_crowd_check(&c, t + BLK_CROWD_HOLD_NS - 1));
	CHECK_EQ(c.looks, 1);

	/* Three runnable on two CPUs: crowded from the next look on. */
	put(path, "0.00 0.00 0.00 3/100 1\n");
	CHECK(!blk_crowd_check(&c, t + 1));
	CHECK(blk_crowd_check(&c, t + BLK_CROWD_HOLD_NS));
	CHECK(blk_crowd_check(&c, t + BLK_CROWD_HOLD_NS + 10));
	CHECK_EQ(c.looks, 2);

	/* Quiet again. */
	put(path, "0.00 0.00 0.00 1/100 1\n");
	CHECK(!blk_crowd_check(&c, t + 3 * BLK_CROWD_HOLD_NS));

	/* Nonsense: the file is dropped, and polling goes on. */
	put(path, "garbage\n");
	CHECK(!blk_crowd_check(&c, t + 5 * BLK_CROWD_HOLD_NS));
	CHECK_EQ(c.fd, -1);
	put(path, "0.00 0.00 0.00 9/100 1\n");
	CHECK(!blk_crowd_check(&c, t + 7 * BLK_CROWD_HOLD_NS));
	blk_crowd_close(&c);

	/* No file: never crowded. */
	unlink(path);
	blk_crowd_open(&c, path, 1);
	CHECK_EQ(c.fd, -1);
	CHECK(!blk_crowd_check(&c, t));
	CHECK_EQ(c.looks, 0);
	blk_crowd_close(&c);

	/* The machine's own file parses, and counts at least the reader. */
	blk_crowd_open(&c, NULL, 0);
	if (c.fd >= 0) {
		char buf[128];
		unsigned int r;
		ssize_t n = pread(c.fd, buf, sizeof(buf), 0);

		CHECK(n > 0);
		CHECK_EQ(blk_crowd_parse(buf, (size_t)n, &r), 0);
		CHECK(r >= 1);
		CHECK(c.cpus >= 1);
	}
	blk_crowd_close(&c);
}

int main(void)
{
	uint64_t w = BLK_POLL_START_NS, max = 200 * US;
	int i;

	/* Never polling stays so, whatever the sleeps. */
	CHECK_EQ(blk_poll_adjust(0, 0, 1), 0);
	CHECK_EQ(blk_poll_adjust(50 * US, 0, 10 * US), 0);

	/* Short sleeps: 10, 20, 40, 80, 160, then the maximum, and stays. */
	w = blk_poll_adjust(w, max, 150 * US);
	CHECK_EQ(w, 20 * US);
	w = blk_poll_adjust(w, max, 150 * US);
	CHECK_EQ(w, 40 * US);
	w = blk_poll_adjust(w, max, 5 * US);
	CHECK_EQ(w, 80 * US);
	w = blk_poll_adjust(w, max, max); /* exactly the maximum: short */
	CHECK_EQ(w, 160 * US);
	w = blk_poll_adjust(w, max, 1);
	CHECK_EQ(w, max);
	w = blk_poll_adjust(w, max, 1);
	CHECK_EQ(w, max);

	/* Long sleeps: halving, down to nothing. */
	w = blk_poll_adjust(w, max, max + 1);
	CHECK_EQ(w, 100 * US);
	for (i = 0; i < 10; i++)
		w = blk_poll_adjust(w, max, 5000 * US);
	CHECK_EQ(w, 0);
	CHECK_EQ(blk_poll_adjust(0, max, 1000 * US), 0);

	/* From nothing, a short sleep starts it again. */
	w = blk_poll_adjust(0, max, 30 * US);
	CHECK_EQ(w, BLK_POLL_START_NS);

	/* A maximum below the start is still the ceiling. */
	CHECK_EQ(blk_poll_adjust(0, 3 * US, 1 * US), 3 * US);
	CHECK_EQ(blk_poll_adjust(3 * US, 3 * US, 1 * US), 3 * US);

	test_parse();
	test_crowd();
	return T_EXIT_PASS;
}
