// SPDX-License-Identifier: MIT
/*
 * sd_notify without libsystemd: the datagrams a listener bound where
 * $NOTIFY_SOCKET says receives, at a path and at an abstract name; and
 * the stats socket's message, from the supervisor's side to vdk stat's.
 */
#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "notify.h"
#include "stats-sock.h"
#include "test.h"

static int listener(const char *name, bool abstract)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	socklen_t len;
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	CHECK(fd >= 0);
	if (abstract) {
		/* "\0name": no NUL at the end, as systemd binds it. */
		memcpy(sa.sun_path + 1, name, strlen(name));
		len = offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name);
	} else {
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", name);
		len = sizeof(sa);
	}
	CHECK_EQ(bind(fd, (struct sockaddr *)&sa, len), 0);
	return fd;
}

static void expect(int fd, const char *want)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char buf[1024];
	ssize_t n;

	CHECK_EQ(poll(&p, 1, 2000), 1);
	n = recv(fd, buf, sizeof(buf) - 1, 0);
	CHECK(n >= 0);
	buf[n] = '\0';
	if (strcmp(buf, want)) {
		fprintf(stderr, "got '%s', want '%s'\n", buf, want);
		exit(T_EXIT_FAIL);
	}
}

static void test_notify(const char *dir)
{
	char path[256], name[64];
	int fd;

	unsetenv("NOTIFY_SOCKET");
	CHECK_EQ(vdk_notify("READY=1"), 0);   /* not under systemd */

	snprintf(path, sizeof(path), "%s/notify", dir);
	fd = listener(path, false);
	setenv("NOTIFY_SOCKET", path, 1);
	CHECK_EQ(vdk_notify("READY=1"), 1);
	expect(fd, "READY=1");
	CHECK_EQ(vdk_notifyf("READY=1\nSTATUS=serving %s at %s\nMAINPID=%d",
			     "disk0", "/dev/vda", 42), 1);
	expect(fd, "READY=1\nSTATUS=serving disk0 at /dev/vda\nMAINPID=42");
	close(fd);

	snprintf(name, sizeof(name), "vdk-test-notify-%d", (int)getpid());
	fd = listener(name, true);
	snprintf(path, sizeof(path), "@%s", name);
	setenv("NOTIFY_SOCKET", path, 1);
	CHECK_EQ(vdk_notify("STOPPING=1"), 1);
	expect(fd, "STOPPING=1");
	close(fd);

	setenv("NOTIFY_SOCKET", "relative/path", 1);
	CHECK_EQ(vdk_notify("READY=1"), -EINVAL);
	setenv("NOTIFY_SOCKET", "@", 1);
	CHECK_EQ(vdk_notify("READY=1"), -EINVAL);
	snprintf(path, sizeof(path), "%s/nobody-listens", dir);
	setenv("NOTIFY_SOCKET", path, 1);
	CHECK(vdk_notify("READY=1") < 0);
	unsetenv("NOTIFY_SOCKET");
}

static void test_stats_sock(const char *dir)
{
	struct vdk_stats_msg *m = calloc(1, sizeof(*m));
	struct vdk_stats_msg *got = calloc(1, sizeof(*got));
	char path[256];
	struct stat st;
	int lfd;

	CHECK(m && got);
	setenv("VDK_RUN_DIR", dir, 1);
	CHECK_EQ(vdk_stats_fetch("d0", got), -ENOENT);
	CHECK_EQ(vdk_stats_listen("d0", &lfd), 0);
	snprintf(path, sizeof(path), "%s/d0.sock", dir);
	CHECK_EQ(stat(path, &st), 0);
	CHECK_EQ(st.st_mode & 0777, 0600);

	m->h.magic = VDK_STATS_MAGIC;
	m->h.version = VDK_STATS_VERSION;
	m->h.qsize = sizeof(m->q[0]);
	m->h.count = 2;
	m->h.time_ns = 5000000000ull;
	m->h.start_ns = 1000000000ull;
	snprintf(m->h.type, sizeof(m->h.type), "blk");
	snprintf(m->q[0].label, sizeof(m->q[0].label), "q0");
	snprintf(m->q[1].label, sizeof(m->q[1].label), "q1");
	m->q[1].requests[VDK_STAT_WRITE] = 7;
	m->q[1].bytes[VDK_STAT_WRITE] = 7 * 4096;
	m->q[1].latency[3] = 7;

	/* The client connects; the supervisor answers from its loop. */
	{
		int sv = fork();

		CHECK(sv >= 0);
		if (sv == 0) {
			struct pollfd p = { .fd = lfd, .events = POLLIN };

			if (poll(&p, 1, 5000) == 1)
				vdk_stats_answer(lfd, m);
			_exit(0);
		}
	}
	CHECK_EQ(vdk_stats_fetch("d0", got), 0);
	CHECK_EQ(got->h.count, 2);
	CHECK(!strcmp(got->h.type, "blk"));
	CHECK(!strcmp(got->q[1].label, "q1"));
	CHECK_EQ(got->q[1].bytes[VDK_STAT_WRITE], 7 * 4096);
	CHECK_EQ(got->q[1].latency[3], 7);
	CHECK_EQ(got->h.start_ns, 1000000000ull);

	/* A daemon of another version is refused, not misread. */
	if (fork() == 0) {
		struct pollfd p = { .fd = lfd, .events = POLLIN };

		m->h.version = VDK_STATS_VERSION + 1;
		if (poll(&p, 1, 5000) == 1)
			vdk_stats_answer(lfd, m);
		_exit(0);
	}
	CHECK_EQ(vdk_stats_fetch("d0", got), -EPROTO);

	vdk_stats_unlisten("d0", &lfd);
	CHECK_EQ(lfd, -1);
	CHECK(stat(path, &st) < 0);
	free(m);
	free(got);
}

int main(void)
{
	char dir[] = "/tmp/vdk-test-notify-XXXXXX";
	char cmd[128];

	CHECK(mkdtemp(dir));
	test_notify(dir);
	test_stats_sock(dir);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK_EQ(system(cmd), 0);
	return T_EXIT_PASS;
}
