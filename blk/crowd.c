/* SPDX-License-Identifier: MIT */
/* Whether the machine's CPUs are all taken (crowd.h). */
#include <errno.h>
#include <fcntl.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include "crowd.h"

int blk_crowd_parse(const char *buf, size_t len, unsigned int *running)
{
	unsigned int field = 0;
	uint64_t v = 0;
	bool digits = false;
	size_t i = 0;

	/* Skip the three load averages: three fields, each then a space. */
	while (i < len && field < 3) {
		if (buf[i] == ' ')
			field++;
		else if (buf[i] == '\n' || buf[i] == '\0')
			return -EINVAL;
		i++;
	}
	for (; i < len && buf[i] >= '0' && buf[i] <= '9'; i++) {
		v = v * 10 + (uint64_t)(buf[i] - '0');
		if (v > UINT32_MAX)
			return -EINVAL;
		digits = true;
	}
	if (field < 3 || !digits || i >= len || buf[i] != '/')
		return -EINVAL;
	*running = (unsigned int)v;
	return 0;
}

void blk_crowd_open(struct blk_crowd *c, const char *path, unsigned int cpus)
{
	int n;

	c->fd = open(path ? path : BLK_CROWD_PATH, O_RDONLY | O_CLOEXEC);
	if (!cpus) {
		n = get_nprocs();
		cpus = n > 0 ? (unsigned int)n : 1;
	}
	c->cpus = cpus;
	c->next_ns = 0;
	c->crowded = false;
	c->looks = 0;
}

void blk_crowd_close(struct blk_crowd *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->crowded = false;
}

bool blk_crowd_check(struct blk_crowd *c, uint64_t now_ns)
{
	unsigned int running;
	char buf[128];
	ssize_t n;

	if (c->fd < 0)
		return false;
	if (now_ns < c->next_ns)
		return c->crowded;
	c->next_ns = now_ns + BLK_CROWD_HOLD_NS;
	c->looks++;
	n = pread(c->fd, buf, sizeof(buf), 0);
	if (n <= 0 || blk_crowd_parse(buf, (size_t)n, &running) < 0) {
		/* A file that stopped making sense: stop reading it. */
		blk_crowd_close(c);
		return false;
	}
	c->crowded = running > c->cpus;
	return c->crowded;
}
