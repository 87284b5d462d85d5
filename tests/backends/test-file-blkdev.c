/* SPDX-License-Identifier: MIT */
/*
 * Backend "file" on block devices: loop devices over temporary files,
 * with 512- and 4096-byte logical blocks.  Needs root and loop devices;
 * skipped without them.  The size and block size come from the device
 * (BLKGETSIZE64, BLKSSZGET); discard is BLKDISCARD, zeroing goes through
 * fallocate on the device.  With block-size=512 on a 4096-byte device,
 * requests smaller than a device block go through the page cache, and
 * direct=on is refused; a device served with smaller blocks than the
 * backend's gets correct answers all the same.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "common.h"

#define DEV_SIZE (4 << 20)

struct loopdev {
	char path[64];
	int fd;
};

/* A loop device over a new file; false when this system has none. */
static bool loop_new(struct loopdev *l, unsigned int block_size)
{
	struct loop_config cfg = {
		.block_size = block_size,
		.info = { .lo_flags = LO_FLAGS_AUTOCLEAR },
	};
	char *backing = tmp_file(NULL, DEV_SIZE);
	int ctl, n, tries, fd;

	CHECK(backing);
	ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (ctl < 0)
		return false;
	fd = open(backing, O_RDWR | O_CLOEXEC);
	CHECK(fd >= 0);
	cfg.fd = fd;
	l->fd = -1;
	/* Another process may take the free device first: try again. */
	for (tries = 0; tries < 10 && l->fd < 0; tries++) {
		n = ioctl(ctl, LOOP_CTL_GET_FREE);
		if (n < 0)
			break;
		snprintf(l->path, sizeof(l->path), "/dev/loop%d", n);
		l->fd = open(l->path, O_RDWR | O_CLOEXEC);
		if (l->fd < 0)
			break;
		if (ioctl(l->fd, LOOP_CONFIGURE, &cfg)) {
			close(l->fd);
			l->fd = -1;
			if (errno != EBUSY)
				break;
		}
	}
	close(fd);
	close(ctl);
	/* The backing file lives on while the device holds it. */
	unlink(backing);
	return l->fd >= 0;
}

/* Autoclear detaches the device once the backend closed it too. */
static void loop_free(struct loopdev *l)
{
	ioctl(l->fd, LOOP_CLR_FD, 0);
	close(l->fd);
}

static void run(struct loopdev *l, const char *direct, const char *bs,
		uint32_t want_bs)
{
	char word[80];
	struct tb t;
	struct tq q;

	snprintf(word, sizeof(word), "path=%s", l->path);
	CHECK_EQ(TB_OPEN(&t, "file", word, direct, bs), 0);
	CHECK_EQ(t.info.size, DEV_SIZE);
	CHECK_EQ(t.info.block_size, want_bs);
	CHECK(!t.info.read_only && t.info.can_flush && t.info.can_zero);
	conformance(&t);
	two_threads(&t);
	tq_open(&q, &t, 4);
	check_zeroed(&q, VDK_BIO_ZERO, 0, DEV_SIZE, want_bs, 16 * want_bs);
	check_zeroed(&q, VDK_BIO_ZERO, VDK_BIO_F_UNMAP, DEV_SIZE, 0,
		     DEV_SIZE - want_bs);
	tq_close(&q);
	tb_close(&t);
}

int main(void)
{
	struct loopdev l;
	struct tb t;
	char word[80];

	if (geteuid()) {
		fprintf(stderr, "skip: needs root for loop devices\n");
		return T_EXIT_SKIP;
	}
	if (!loop_new(&l, 512)) {
		fprintf(stderr, "skip: no loop device\n");
		return T_EXIT_SKIP;
	}
	run(&l, "direct=off", "block-size=512", 512);
	run(&l, "direct=on", "block-size=512", 512);
	run(&l, "direct=on", "block-size=4096", 4096);
	snprintf(word, sizeof(word), "path=%s", l.path);
	CHECK_EQ(TB_OPEN(&t, "file", word, "readonly=on"), 0);
	CHECK(t.info.read_only && !t.info.can_discard);
	tb_close(&t);
	loop_free(&l);

	if (!loop_new(&l, 4096)) {
		fprintf(stderr, "skipping 4096-byte blocks: no loop device\n");
		return T_EXIT_PASS;
	}
	/* The device's own block size is the default. */
	run(&l, "direct=off", "readonly=off", 4096);
	run(&l, "direct=on", "readonly=off", 4096);
	/* Smaller than the device's: fine through the page cache... */
	run(&l, "direct=off", "block-size=512", 512);
	/* ...but not with O_DIRECT, which cannot write half a block. */
	snprintf(word, sizeof(word), "path=%s", l.path);
	check_err(&t, TB_OPEN(&t, "file", word, "direct=on",
			      "block-size=512"),
		  "direct=on needs units of 4096 bytes here");
	/*
	 * A device served with 512-byte blocks all the same: the backend
	 * must give up O_DIRECT, and stay correct.
	 */
	CHECK_EQ(TB_OPEN(&t, "file", word, "direct=on"), 0);
	CHECK_EQ(t.info.block_size, 4096);
	t.info.block_size = 512;
	conformance(&t);
	two_threads(&t);
	tb_close(&t);
	loop_free(&l);
	return T_EXIT_PASS;
}
