/* SPDX-License-Identifier: MIT */
/*
 * Backend "rbd" with the real librados and no cluster: a monitor address
 * where nobody listens, and one that accepts connections but never says a
 * word.  open() must fail with a clear one-line message within its bound
 * (timeout=, and twice that plus 5 s for the whole probe), never hang.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A loopback TCP socket, listening or not; its port in *port. */
static int tcp_socket(bool listening, int *port)
{
	struct sockaddr_in sa = {
		.sin_family = AF_INET,
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	CHECK(fd >= 0);
	CHECK(!bind(fd, (struct sockaddr *)&sa, sizeof(sa)));
	CHECK(!getsockname(fd, (struct sockaddr *)&sa, &len));
	if (listening)
		CHECK(!listen(fd, 16));
	*port = ntohs(sa.sin_port);
	return fd;
}

static void write_conf(const char *path, int port)
{
	FILE *f = fopen(path, "w");

	CHECK(f);
	fprintf(f, "[global]\n"
		   "mon host = v1:127.0.0.1:%d\n"
		   "auth cluster required = none\n"
		   "auth service required = none\n"
		   "auth client required = none\n"
		   "log file = /dev/null\n",
		port);
	CHECK(!fclose(f));
}

static void unreachable(bool listening, const char *conf)
{
	char confw[300];
	struct tb t;
	double t0, dt;
	int fd, port, ret;

	fd = tcp_socket(listening, &port);
	if (!listening)
		close(fd); /* the port is free: connections are refused */
	write_conf(conf, port);
	snprintf(confw, sizeof(confw), "conf=%s", conf);
	t0 = now();
	ret = TB_OPEN(&t, "rbd", "image=disk", confw, "timeout=2");
	dt = now() - t0;
	fprintf(stderr, "  %s monitor: %d after %.1f s: %s\n",
		listening ? "mute" : "absent", ret, dt, t.err);
	CHECK(ret < 0);
	CHECK(strstr(t.err, "cluster"));
	CHECK(!strchr(t.err, '\n'));
	/* timeout=2: the probe is killed at 2 * 2 + 5 s at the latest. */
	CHECK(dt < 10);
	if (listening)
		close(fd);
}

int main(void)
{
	char dir[] = "/tmp/vdk-rbd-XXXXXX", conf[300];

	CHECK(mkdtemp(dir));
	snprintf(conf, sizeof(conf), "%s/ceph.conf", dir);
	unreachable(false, conf);
	unreachable(true, conf);
	unlink(conf);
	rmdir(dir);
	fprintf(stderr, "test-rbd-errors: ok\n");
	return T_EXIT_PASS;
}
