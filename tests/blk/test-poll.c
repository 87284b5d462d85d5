/* SPDX-License-Identifier: MIT */
/*
 * The adaptive polling window of the queue threads: it grows while kicks
 * come soon after the queue fell asleep, never past the maximum, shrinks
 * to nothing while they come late, and grows again from nothing.
 */
#include <stdint.h>

#include "internal.h"
#include "test.h"

#define US 1000u

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
	return T_EXIT_PASS;
}
