/* SPDX-License-Identifier: MIT */
/*
 * Backend "nbd": clear one-line errors at open for bad parameters, a bad
 * URI, a missing socket, a refused port, a missing export, TLS that the
 * server does not speak, and a server that never answers (bounded by
 * timeout=).
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "test-nbd-lib.h"

/* Opening with these words fails with -@code and a message with @part. */
static void open_fails(int code, const char *part, const char *const *words)
{
	struct tb t;
	int ret = tb_open(&t, "nbd", words);

	if (ret != -code)
		fprintf(stderr, "expected %d, got %d (%s)\n", -code, ret,
			t.err);
	CHECK_EQ(ret, -code);
	check_err(&t, ret, part);
	CHECK(!strchr(t.err, '\n'));
	fprintf(stderr, "  %s\n", t.err);
}
#define OPEN_FAILS(code, part, ...) \
	open_fails((code), (part), (const char *const[]){ __VA_ARGS__, NULL })

/* A loopback TCP port with nobody listening. */
static int free_port(void)
{
	struct sockaddr_in sa = {
		.sin_family = AF_INET,
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	CHECK(fd >= 0);
	CHECK(!bind(fd, (struct sockaddr *)&sa, sizeof(sa)));
	CHECK(!getsockname(fd, (struct sockaddr *)&sa, &len));
	close(fd);
	return ntohs(sa.sin_port);
}

/* A Unix socket that listens but never accepts nor says anything. */
static int mute_socket(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	CHECK(fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	CHECK(!bind(fd, (struct sockaddr *)&sa, sizeof(sa)));
	CHECK(!listen(fd, 4));
	return fd;
}

int main(void)
{
	char uri[200], u2[200];
	struct srv s;
	struct tb t;
	double t0;
	int fd;

	nbd_test_init();
	SRV_START(&s, "e.sock", "--filter=exportname", "memory", "1M",
		  "exportname-strict=true", "exportname=disk");

	/* Parameters. */
	OPEN_FAILS(EINVAL, "uri=", "timeout=5");
	OPEN_FAILS(EINVAL, "uri=", "uri=");
	snprintf(uri, sizeof(uri), "uri=nbd+unix:///disk?socket=%s", s.sock);
	OPEN_FAILS(EINVAL, "timeout", uri, "timeout=0");
	OPEN_FAILS(EINVAL, "timeout", uri, "timeout=soon");
	OPEN_FAILS(EINVAL, "connections", uri, "connections=0");
	OPEN_FAILS(EINVAL, "tls", uri, "tls=maybe");
	OPEN_FAILS(EINVAL, "tls-username", uri, "tls-username=");
	OPEN_FAILS(EINVAL, "tls-verify", uri, "tls-verify=perhaps");
	OPEN_FAILS(EINVAL, "contradicts",
		   "uri=nbds+unix:///?socket=/nonexistent", "tls=off");
	/* An unknown key: the caller's check, after a good open. */
	CHECK(TB_OPEN(&t, "nbd", uri, "colour=red") < 0);
	check_err(&t, -1, "colour");

	/* URIs. */
	OPEN_FAILS(EINVAL, "scheme", "uri=http://localhost/");
	OPEN_FAILS(EINVAL, "scheme", "uri=/dev/nbd0");
	OPEN_FAILS(EINVAL, "socket", "uri=nbd+unix:///disk");
	OPEN_FAILS(EINVAL, "scheme", "uri=just words", "export=x");

	/* Servers that are not there. */
	OPEN_FAILS(ENOENT, "No such file",
		   "uri=nbd+unix:///?socket=/nonexistent/nbd.sock");
	snprintf(u2, sizeof(u2), "uri=nbd://127.0.0.1:%d/", free_port());
	OPEN_FAILS(ECONNREFUSED, "refused", u2);

	/* A missing export, by the URI or by export=. */
	snprintf(u2, sizeof(u2), "uri=nbd+unix:///nodisk?socket=%s", s.sock);
	OPEN_FAILS(ENOENT, "nodisk", u2);
	OPEN_FAILS(ENOENT, "other", uri, "export=other");
	/* TLS required, the server has none. */
	OPEN_FAILS(EOPNOTSUPP, "TLS", uri, "tls=require");

	/* And the right one works, with TLS allowed but not required. */
	CHECK_EQ(TB_OPEN(&t, "nbd", uri, "tls=allow", "timeout=5"), 0);
	tb_close(&t);
	srv_stop(&s);

	/* A server that never answers: bounded by timeout=. */
	fd = mute_socket(tmp_path("mute.sock"));
	snprintf(u2, sizeof(u2), "uri=nbd+unix:///?socket=%s",
		 tmp_path("mute.sock"));
	t0 = now_s();
	OPEN_FAILS(ETIMEDOUT, "within 1 s", u2, "timeout=1");
	CHECK(now_s() - t0 >= 0.9 && now_s() - t0 < 5);
	close(fd);
	return T_EXIT_PASS;
}
