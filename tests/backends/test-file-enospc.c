/* SPDX-License-Identifier: MIT */
/*
 * Backend "file" on a full file system: a 256 KiB tmpfs, mounted in a
 * mount namespace of our own (as root, or as a user through a user
 * namespace; skipped where neither is allowed).  A sparse 1 MiB file on
 * it takes a short write and then ENOSPC; writes by zeroing fail the same
 * way; a discard gives space back.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "common.h"

#define FS_SIZE (256 << 10)
#define FILE_SIZE (1 << 20)

static int write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, s, strlen(s));
	close(fd);
	return n == (ssize_t)strlen(s) ? 0 : -1;
}

/* Our own mount namespace, its mounts not shared with the host. */
static bool enter_mount_ns(void)
{
	char map[64];
	uid_t uid = getuid();
	gid_t gid = getgid();

	if (unshare(CLONE_NEWNS)) {
		if (unshare(CLONE_NEWUSER | CLONE_NEWNS))
			return false;
		snprintf(map, sizeof(map), "0 %u 1", (unsigned int)uid);
		if (write_file("/proc/self/setgroups", "deny") ||
		    write_file("/proc/self/uid_map", map))
			return false;
		snprintf(map, sizeof(map), "0 %u 1", (unsigned int)gid);
		if (write_file("/proc/self/gid_map", map))
			return false;
	}
	return !mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);
}

static char dir[256];

static void cleanup(void)
{
	umount2(dir, MNT_DETACH);
	rmdir(dir);
}

static void run(const char *path, bool direct)
{
	uint8_t *buf;
	char word[300];
	struct tb t;
	struct tq q;
	int ret;

	snprintf(word, sizeof(word), "path=%s", path);
	ret = TB_OPEN(&t, "file", word, direct ? "direct=on" : "direct=off");
	if (ret && direct) {
		fprintf(stderr, "skipping direct=on: %s\n", t.err);
		return;
	}
	CHECK_EQ(ret, 0);
	CHECK(!posix_memalign((void **)&buf, 4096, FILE_SIZE));
	tq_open(&q, &t, 4);
	pat_fill(buf, FILE_SIZE, 0, 1);

	/* Part of it fits: a short write, then no space for the rest. */
	CHECK_EQ(tq_rw_split(&q, VDK_BIO_WRITE, 0, 0, buf, FILE_SIZE, 3),
		 -ENOSPC);
	/* Zeroing by writes (tmpfs has no ZERO_RANGE) fills up too. */
	CHECK_EQ(tq_run(&q, VDK_BIO_ZERO, 0, 0, FILE_SIZE, NULL, 0), -ENOSPC);
	/* A discard frees it all, and a small write fits again. */
	CHECK_EQ(tq_run(&q, VDK_BIO_DISCARD, 0, 0, FILE_SIZE, NULL, 0), 0);
	CHECK_EQ(tq_rw_split(&q, VDK_BIO_WRITE, VDK_BIO_F_FUA, 65536, buf,
			     65536, 3), 0);
	memset(buf + 65536, 0, 65536);
	CHECK_EQ(tq_rw_split(&q, VDK_BIO_READ, 0, 65536, buf + 65536, 65536,
			     6), 0);
	check_bytes(buf + 65536, buf, 65536, 65536, "after discard");
	CHECK_EQ(tq_run(&q, VDK_BIO_DISCARD, 0, 0, FILE_SIZE, NULL, 0), 0);

	tq_close(&q);
	tb_close(&t);
	free(buf);
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");
	char opts[64], path[300];
	int fd;

	if (!enter_mount_ns()) {
		fprintf(stderr, "skip: cannot have a mount namespace\n");
		return T_EXIT_SKIP;
	}
	snprintf(dir, sizeof(dir), "%s/vdk-enospc-XXXXXX",
		 tmp && *tmp ? tmp : "/tmp");
	CHECK(mkdtemp(dir));
	atexit(cleanup);
	snprintf(opts, sizeof(opts), "size=%d,mode=0700", FS_SIZE);
	if (mount("vdk-test", dir, "tmpfs", 0, opts)) {
		fprintf(stderr, "skip: cannot mount a tmpfs: %s\n",
			strerror(errno));
		return T_EXIT_SKIP;
	}
	snprintf(path, sizeof(path), "%s/disk", dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	CHECK(fd >= 0);
	CHECK(!ftruncate(fd, FILE_SIZE));
	close(fd);

	run(path, false);
	run(path, true);
	unlink(path);
	return T_EXIT_PASS;
}
