/* SPDX-License-Identifier: MIT */
/*
 * Backend "nbd" on its own transmission phase (nbd-wire.c) facing a
 * server that lies: a reply with a bad magic number, to a cookie never
 * sent, twice to one command, a structured reply never asked for, a read
 * cut short by a hang-up, and errors, known and unknown.  Each bad reply
 * drops the connection with a line in the log that names it; the bio is
 * sent again on a new connection and completes once, with the right data;
 * an error the server sent fails the bio with it (-EIO if unknown); a
 * server that never stops lying fails the bio with -EIO after timeout=.
 *
 * The server is this test's own (a forked child on a Unix socket): the
 * fixed newstyle handshake up to NBD_OPT_GO, then simple replies from a
 * pattern, misbehaving on its first @bad requests.
 */
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test-nbd-lib.h"

#define SIZE (1u << 20)
#define SEED 7

enum mode {
	GOOD,
	BAD_MAGIC,
	BAD_COOKIE,
	DUPLICATE,
	STRUCTURED,
	SHORT_READ,
	ERR_ENOSPC,
	ERR_UNKNOWN,
};

struct fake {
	pid_t pid;
	char sock[108];
	char param[168];
};

static char dir[64];

static void cleanup(void)
{
	char cmd[128];

	if (!dir[0])
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd)) {
		/* best effort */
	}
}

static bool rd(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = read(fd, p, len);

		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

static bool wr(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

static void opt_reply(int fd, uint32_t opt, uint32_t type, const void *data,
		      uint32_t len)
{
	uint8_t h[20];
	uint64_t magic = htobe64(0x3e889045565a9ull);
	uint32_t v;

	memcpy(h, &magic, 8);
	v = htonl(opt);
	memcpy(h + 8, &v, 4);
	v = htonl(type);
	memcpy(h + 12, &v, 4);
	v = htonl(len);
	memcpy(h + 16, &v, 4);
	wr(fd, h, sizeof(h));
	if (len)
		wr(fd, data, len);
}

/* The fixed newstyle handshake, up to NBD_OPT_GO.  False if it failed. */
static bool handshake(int fd)
{
	uint8_t hello[18] = "NBDMAGICIHAVEOPT";
	uint8_t oh[16], info[12], data[1024];
	uint32_t cflags, opt, len;
	uint64_t size = htobe64(SIZE);
	uint16_t v;

	v = htons(3); /* FIXED_NEWSTYLE | NO_ZEROES */
	memcpy(hello + 16, &v, 2);
	if (!wr(fd, hello, sizeof(hello)) || !rd(fd, &cflags, 4))
		return false;
	for (;;) {
		if (!rd(fd, oh, sizeof(oh)) || memcmp(oh, "IHAVEOPT", 8))
			return false;
		memcpy(&opt, oh + 8, 4);
		memcpy(&len, oh + 12, 4);
		opt = ntohl(opt);
		len = ntohl(len);
		if (len > sizeof(data) || !rd(fd, data, len))
			return false;
		if (opt == 7 || opt == 6) { /* GO, INFO */
			v = htons(0); /* NBD_INFO_EXPORT */
			memcpy(info, &v, 2);
			memcpy(info + 2, &size, 8);
			v = htons(1 | 4); /* HAS_FLAGS | SEND_FLUSH */
			memcpy(info + 10, &v, 2);
			opt_reply(fd, opt, 3, info, sizeof(info));
			opt_reply(fd, opt, 1, NULL, 0);
			if (opt == 7)
				return true;
		} else if (opt == 2) { /* ABORT */
			return false;
		} else {
			opt_reply(fd, opt, 0x80000001u, NULL, 0); /* UNSUP */
		}
	}
}

static void reply(int fd, uint32_t magic, uint32_t err, uint64_t cookie_be)
{
	uint8_t r[16];

	magic = htonl(magic);
	err = htonl(err);
	memcpy(r, &magic, 4);
	memcpy(r + 4, &err, 4);
	memcpy(r + 8, &cookie_be, 8);
	wr(fd, r, sizeof(r));
}

/* Serve one connection; the first @*bad requests get @mode. */
static void serve(int fd, enum mode mode, int *bad)
{
	static uint8_t buf[SIZE];
	uint8_t req[28];
	uint16_t type;
	uint32_t len;
	uint64_t off, cookie;
	bool lie;

	while (rd(fd, req, sizeof(req))) {
		memcpy(&type, req + 6, 2);
		memcpy(&cookie, req + 8, 8);
		memcpy(&off, req + 16, 8);
		memcpy(&len, req + 24, 4);
		type = ntohs(type);
		off = be64toh(off);
		len = ntohl(len);
		if (type == 2) /* DISC */
			return;
		if (len > SIZE || off > SIZE - len)
			return;
		if (type == 1 && !rd(fd, buf, len))
			return;
		lie = *bad > 0 && mode != GOOD;
		if (lie)
			(*bad)--;
		if (!lie || type != 0) {
			reply(fd, 0x67446698u, 0, cookie);
			if (type == 0) {
				pat_fill(buf, len, off, SEED);
				wr(fd, buf, len);
			}
			continue;
		}
		switch (mode) {
		case BAD_MAGIC:
			reply(fd, 0x12345678u, 0, cookie);
			break;
		case BAD_COOKIE:
			reply(fd, 0x67446698u, 0, cookie ^ htobe64(1ull << 40));
			break;
		case DUPLICATE:
			reply(fd, 0x67446698u, 0, cookie);
			pat_fill(buf, len, off, SEED);
			wr(fd, buf, len);
			reply(fd, 0x67446698u, 0, cookie);
			break;
		case STRUCTURED:
			reply(fd, 0x668e33efu, 0, cookie);
			break;
		case SHORT_READ:
			reply(fd, 0x67446698u, 0, cookie);
			pat_fill(buf, len, off, SEED + 1);
			wr(fd, buf, len / 2);
			return;
		case ERR_ENOSPC:
			reply(fd, 0x67446698u, ENOSPC, cookie);
			break;
		case ERR_UNKNOWN:
			reply(fd, 0x67446698u, 9999, cookie);
			break;
		default:
			break;
		}
	}
}

static void fake_start(struct fake *f, enum mode mode, int bad)
{
	static unsigned int n;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int ls, fd;

	snprintf(f->sock, sizeof(f->sock), "%s/s%u", dir, n++);
	snprintf(f->param, sizeof(f->param), "uri=nbd+unix:///?socket=%s",
		 f->sock);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->sock);
	ls = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(ls >= 0);
	CHECK_EQ(bind(ls, (struct sockaddr *)&sa, sizeof(sa)), 0);
	CHECK_EQ(listen(ls, 8), 0);
	f->pid = fork();
	CHECK(f->pid >= 0);
	if (f->pid == 0) {
		for (;;) {
			fd = accept(ls, NULL, NULL);
			if (fd < 0)
				_exit(1);
			if (handshake(fd))
				serve(fd, mode, &bad);
			close(fd);
		}
	}
	close(ls);
}

static void fake_stop(struct fake *f)
{
	kill(f->pid, SIGKILL);
	waitpid(f->pid, NULL, 0);
}

/* One read of 8 KiB at 4 KiB: its result; the data checked when 0. */
static int read_once(struct tq *q, double secs, int want_calls)
{
	static uint8_t buf[8192], want[8192];
	struct iovec iov = { buf, sizeof(buf) };
	struct tbio tb = { 0 }, *p = &tb;

	memset(buf, 0, sizeof(buf));
	tb.bio.op = VDK_BIO_READ;
	tb.bio.offset = 4096;
	tb.bio.len = sizeof(buf);
	tb.bio.iov = &iov;
	tb.bio.iovcnt = 1;
	CHECK_EQ(tq_submit(q, &tb), 0);
	tq_commit(q);
	CHECK(nq_drive(q, &p, 1, secs));
	CHECK_EQ(tb.calls, want_calls);
	if (tb.result == 0) {
		pat_fill(want, sizeof(want), 4096, SEED);
		CHECK(!memcmp(buf, want, sizeof(buf)));
	}
	return tb.result;
}

/* A lie on the first read: dropped, sent again, right in the end. */
static void lied_to(enum mode mode, const char *logged)
{
	struct fake f;
	struct tb t;
	struct tq q;

	fake_start(&f, mode, 1);
	CHECK_EQ(TB_OPEN(&t, "nbd", f.param, "timeout=10"), 0);
	tq_open(&q, &t, 8);
	CHECK_EQ(read_once(&q, 10, 1), 0);
	if (!tb_logged(&t, logged)) {
		fprintf(stderr, "the log does not say '%s'\n", logged);
		exit(T_EXIT_FAIL);
	}
	CHECK(tb_logged(&t, "reconnecting"));
	/* And the connection works on. */
	CHECK_EQ(read_once(&q, 10, 1), 0);
	tq_close(&q);
	tb_close(&t);
	fake_stop(&f);
	fprintf(stderr, "%s: dropped, sent again, done once\n", logged);
}

int main(void)
{
	struct fake f;
	struct tb t;
	struct tq q;
	double t0;

	signal(SIGPIPE, SIG_IGN);
	snprintf(dir, sizeof(dir), "/tmp/vdk-nbdw-XXXXXX");
	CHECK(mkdtemp(dir));
	atexit(cleanup);

	/* A well-behaved server first: what the others are measured by. */
	fake_start(&f, GOOD, 0);
	CHECK_EQ(TB_OPEN(&t, "nbd", f.param), 0);
	tq_open(&q, &t, 8);
	CHECK_EQ(read_once(&q, 10, 1), 0);
	CHECK_EQ(nq_run(&q, VDK_BIO_FLUSH, 0, 0, 0, NULL), 0);
	tq_close(&q);
	tb_close(&t);
	fake_stop(&f);

	lied_to(BAD_MAGIC, "a reply with a bad magic number");
	lied_to(BAD_COOKIE, "replied to no command in flight");
	lied_to(DUPLICATE, "replied to no command in flight");
	lied_to(STRUCTURED, "a reply with a bad magic number");
	lied_to(SHORT_READ, "the connection to the server was closed");

	/* Errors the server sends are the bio's. */
	fake_start(&f, ERR_ENOSPC, 1);
	CHECK_EQ(TB_OPEN(&t, "nbd", f.param), 0);
	tq_open(&q, &t, 8);
	CHECK_EQ(read_once(&q, 10, 1), -ENOSPC);
	CHECK_EQ(read_once(&q, 10, 1), 0);
	CHECK(!tb_logged(&t, "reconnecting"));
	tq_close(&q);
	tb_close(&t);
	fake_stop(&f);
	fake_start(&f, ERR_UNKNOWN, 1);
	CHECK_EQ(TB_OPEN(&t, "nbd", f.param), 0);
	tq_open(&q, &t, 8);
	CHECK_EQ(read_once(&q, 10, 1), -EIO);
	CHECK_EQ(read_once(&q, 10, 1), 0);
	tq_close(&q);
	tb_close(&t);
	fake_stop(&f);
	fprintf(stderr, "server errors: the bio's, the connection kept\n");

	/* A server that always lies: -EIO once timeout= has passed. */
	fake_start(&f, BAD_MAGIC, 1 << 30);
	CHECK_EQ(TB_OPEN(&t, "nbd", f.param, "timeout=2"), 0);
	tq_open(&q, &t, 8);
	t0 = now_s();
	CHECK_EQ(read_once(&q, 6, 1), -EIO);
	CHECK(now_s() - t0 >= 1.9);
	tq_close(&q);
	tb_close(&t);
	fake_stop(&f);
	fprintf(stderr, "always lying: -EIO after %.1f s (timeout=2)\n",
		now_s() - t0);
	return T_EXIT_PASS;
}
