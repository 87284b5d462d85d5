/* SPDX-License-Identifier: MIT */
/*
 * Whether the machine's CPUs are all taken: a queue thread that polls
 * then keeps a runnable task (the driver's submitter, among others) off
 * a CPU, and should sleep instead.
 *
 * The kernel's count of runnable tasks (/proc/loadavg's fourth field,
 * "running/total", counted at the moment of the read) against the CPUs
 * online.  The polling thread counts itself; a machine where more tasks
 * can run than there are CPUs is crowded.  The verdict holds for
 * BLK_CROWD_HOLD_NS, so a thread that polls all the time reads the file
 * at most a thousand times a second.
 *
 * Without the file (a confinement that does not reach it, no /proc), the
 * machine is never crowded: polling goes on as before.
 */
#ifndef VDK_BLK_CROWD_H
#define VDK_BLK_CROWD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The file read, for confinement rules. */
#define BLK_CROWD_PATH "/proc/loadavg"
/* How long one look at the machine holds. */
#define BLK_CROWD_HOLD_NS 1000000ull
/*
 * How long a queue polls before it looks: a completion takes a while
 * (an interrupt, a kworker's turn, a wake-up) to make the driver's
 * submitter runnable, and a look before that counts a CPU as free that
 * the submitter is about to want.
 */
#define BLK_CROWD_AFTER_NS 50000ull

struct blk_crowd {
	int fd;              /* BLK_CROWD_PATH, or -1: never crowded */
	unsigned int cpus;   /* CPUs online */
	uint64_t next_ns;    /* look again at or after this time */
	bool crowded;        /* what the last look saw */
	uint64_t looks;      /* reads of the file, for tests */
};

/*
 * Open @path (NULL: BLK_CROWD_PATH) for a machine of @cpus CPUs (0: the
 * CPUs online now).  Never fails: without the file, @c says "not
 * crowded" forever.
 */
void blk_crowd_open(struct blk_crowd *c, const char *path, unsigned int cpus);
void blk_crowd_close(struct blk_crowd *c);

/* Whether the machine is crowded at @now_ns (CLOCK_MONOTONIC). */
bool blk_crowd_check(struct blk_crowd *c, uint64_t now_ns);

/*
 * The runnable tasks in /proc/loadavg's text @buf of @len bytes
 * ("0.52 0.58 0.59 3/345 12345\n"): 0 with *@running set, or -EINVAL.
 */
int blk_crowd_parse(const char *buf, size_t len, unsigned int *running);

#endif
