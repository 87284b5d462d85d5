/* SPDX-License-Identifier: MIT */
/*
 * Backend "nbd" against nbdkit: every operation against a model, many
 * requests in flight, requests split at the server's maximum block size,
 * buffers in pieces, what the export offers reflected in info(), the
 * connection rules (multi-conn), and export= overriding the URI's.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "test-nbd-lib.h"

#define SIZE (16u << 20)

static void *xalloc(size_t len)
{
	void *p = NULL;

	CHECK(!posix_memalign(&p, 4096, len));
	return p;
}

static uint64_t rnd(uint64_t *s)
{
	*s = *s * 6364136223846793005ull + 1442695040888963407ull;
	return *s >> 33;
}

/*
 * The shared model every backend passes.  Its loop polls for POLLIN only
 * and calls reap(), never queue_ready(), as the device does while busy:
 * reap() must make progress alone (a write larger than the socket's
 * buffer then advances once per 100 ms wake-up, hence a small export).
 */
static void test_conformance(void)
{
	struct srv s;
	struct tb t;

	SRV_START(&s, "mem.sock", "memory", "2M");
	CHECK_EQ(TB_OPEN(&t, "nbd", s.param), 0);
	CHECK_EQ(t.info.size, 2u << 20);
	CHECK_EQ(t.info.block_size, 512);
	CHECK(!t.info.read_only);
	CHECK(t.info.can_flush && t.info.can_fua && t.info.can_discard);
	CHECK(t.info.can_zero && t.info.can_zero_unmap);
	/* nbdkit's memory plugin allows multi-conn: one per queue. */
	CHECK(t.info.multi_queue);
	conformance(&t);
	two_threads(&t);
	tb_close(&t);
	srv_stop(&s);
}

/*
 * Many bios in flight at once, of random sizes and places (never two on
 * the same bytes), driven as the device does, then read back.
 */
static void test_in_flight(void)
{
	enum { N = 256 };
	static struct tbio bios[N];
	struct tbio *batch[N];
	struct iovec iov[N];
	uint8_t *model = xalloc(SIZE), *buf = xalloc(SIZE);
	uint64_t r = 7, slice = SIZE / N;
	unsigned int i, round;
	struct srv s;
	struct tb t;
	struct tq q;

	SRV_START(&s, "flight.sock", "memory", "16M");
	CHECK_EQ(TB_OPEN(&t, "nbd", s.param), 0);
	tq_open(&q, &t, N);
	memset(model, 0, SIZE);
	for (round = 0; round < 4; round++) {
		for (i = 0; i < N; i++) {
			uint64_t len = 512 * (1 + rnd(&r) % (slice / 512));
			uint64_t off = i * slice + 512 * (rnd(&r) %
				((slice - len) / 512 + 1));
			bool write = round % 2 == 0 || rnd(&r) % 3 == 0;

			if (write)
				pat_fill(model + off, len, off, round * N + i);
			iov[i].iov_base = write ? model + off : buf + off;
			iov[i].iov_len = len;
			bios[i] = (struct tbio){ .bio = {
				.op = write ? VDK_BIO_WRITE : VDK_BIO_READ,
				.flags = write && i % 5 == 0 ?
					 VDK_BIO_F_FUA : 0,
				.offset = off,
				.len = len,
				.iov = &iov[i],
				.iovcnt = 1,
			} };
			batch[i] = &bios[i];
			CHECK_EQ(tq_submit(&q, &bios[i]), 0);
		}
		CHECK(nq_drive(&q, batch, N, 30));
		for (i = 0; i < N; i++) {
			CHECK_EQ(bios[i].result, 0);
			if (bios[i].bio.op == VDK_BIO_READ)
				check_bytes(buf + bios[i].bio.offset,
					    model + bios[i].bio.offset,
					    bios[i].bio.len, bios[i].bio.offset,
					    "read in flight");
		}
	}
	memset(buf, 0xa5, SIZE);
	CHECK_EQ(nq_run(&q, VDK_BIO_READ, 0, 0, SIZE, buf), 0);
	check_bytes(buf, model, SIZE, 0, "after the batches");
	tq_close(&q);
	tb_close(&t);
	srv_stop(&s);
	free(buf);
	free(model);
}

/*
 * Read or write @buf through three pieces that are not in order in memory
 * (a scratch area holds them: last, first, middle, with gaps).
 */
static void scatter(struct tq *q, uint8_t op, uint64_t off, uint8_t *buf,
		    uint64_t len)
{
	uint64_t a = 4096, b = 100, c = len - a - b;
	uint8_t *scratch = xalloc(len + 8192);
	struct iovec iov[3] = {
		{ scratch + c + 1, a },
		{ scratch + c + 1 + a + 7, b },
		{ scratch, c },
	};
	struct tbio tb = { .bio = {
		.op = op,
		.offset = off,
		.len = len,
		.iov = iov,
		.iovcnt = 3,
	} };
	struct tbio *p = &tb;

	if (op == VDK_BIO_WRITE) {
		memcpy(iov[0].iov_base, buf, a);
		memcpy(iov[1].iov_base, buf + a, b);
		memcpy(iov[2].iov_base, buf + a + b, c);
	}
	CHECK_EQ(tq_submit(q, &tb), 0);
	CHECK(nq_drive(q, &p, 1, 30));
	CHECK_EQ(tb.result, 0);
	if (op == VDK_BIO_READ) {
		memcpy(buf, iov[0].iov_base, a);
		memcpy(buf + a, iov[1].iov_base, b);
		memcpy(buf + a + b, iov[2].iov_base, c);
	}
	free(scratch);
}

/*
 * Read or write @len bytes of @buf through pieces of @piece bytes, each
 * 512 bytes after the one before in memory: more vectors than one
 * sendmsg() or recvmsg() of the wire takes.
 */
static void scatter_many(struct tq *q, uint8_t op, uint64_t off,
			 uint8_t *buf, uint64_t len, uint64_t piece)
{
	unsigned int i, n = (unsigned int)(len / piece);
	uint8_t *scratch = xalloc(n * (piece + 512));
	struct iovec *iov = calloc(n, sizeof(*iov));
	struct tbio tb = { .bio = {
		.op = op,
		.offset = off,
		.len = len,
		.iov = iov,
		.iovcnt = n,
	} };
	struct tbio *p = &tb;

	CHECK(iov && len % piece == 0);
	for (i = 0; i < n; i++) {
		iov[i].iov_base = scratch + i * (piece + 512);
		iov[i].iov_len = piece;
		if (op == VDK_BIO_WRITE)
			memcpy(iov[i].iov_base, buf + i * piece, piece);
	}
	CHECK_EQ(tq_submit(q, &tb), 0);
	CHECK(nq_drive(q, &p, 1, 30));
	CHECK_EQ(tb.result, 0);
	for (i = 0; op == VDK_BIO_READ && i < n; i++)
		memcpy(buf + i * piece, iov[i].iov_base, piece);
	free(iov);
	free(scratch);
}

/*
 * Eight requests of 1 MiB at once, 16 commands each: more commands than a
 * queue of 8 has entries for (nbd-wire.c), so that bios wait for free
 * ones; every byte right, every bio done once.
 */
static void many_split(struct tq *q)
{
	enum { N = 8 };
	uint64_t len = 1u << 20;
	uint8_t *buf[N], *want = xalloc(len);
	struct iovec iov[N];
	struct tbio tb[N], *p[N];
	unsigned int i, pass;

	for (i = 0; i < N; i++)
		buf[i] = xalloc(len);
	for (pass = 0; pass < 2; pass++) {
		for (i = 0; i < N; i++) {
			if (pass == 0)
				pat_fill(buf[i], len, i * len, 9);
			else
				memset(buf[i], 0, len);
			iov[i] = (struct iovec){ buf[i], len };
			memset(&tb[i], 0, sizeof(tb[i]));
			tb[i].bio.op = pass ? VDK_BIO_READ : VDK_BIO_WRITE;
			tb[i].bio.offset = i * len;
			tb[i].bio.len = len;
			tb[i].bio.iov = &iov[i];
			tb[i].bio.iovcnt = 1;
			p[i] = &tb[i];
			CHECK_EQ(tq_submit(q, &tb[i]), 0);
		}
		tq_commit(q);
		CHECK(nq_drive(q, p, N, 30));
		for (i = 0; i < N; i++) {
			CHECK_EQ(tb[i].calls, 1);
			CHECK_EQ(tb[i].result, 0);
		}
	}
	for (i = 0; i < N; i++) {
		pat_fill(want, len, i * len, 9);
		check_bytes(buf[i], want, len, i * len, "eight split at once");
		free(buf[i]);
	}
	free(want);
}

/*
 * A server with a 4 KiB minimum and a 64 KiB maximum block size: 4096-byte
 * blocks, the preferred size as the optimal one, and requests of 1 MiB
 * split into 16 commands, from contiguous buffers and from pieces.
 */
static void test_block_sizes(void)
{
	uint64_t len = 1u << 20, off = 3 * 4096;
	uint8_t *want = xalloc(len), *got = xalloc(len);
	struct srv s;
	struct tb t;
	struct tq q;

	SRV_START(&s, "bs.sock", "--filter=blocksize-policy", "memory", "16M",
		  "blocksize-minimum=4096", "blocksize-preferred=65536",
		  "blocksize-maximum=65536", "blocksize-error-policy=error");
	CHECK_EQ(TB_OPEN(&t, "nbd", s.param), 0);
	CHECK_EQ(t.info.block_size, 4096);
	CHECK_EQ(t.info.opt_io_size, 65536);
	tq_open(&q, &t, 8);

	pat_fill(want, len, off, 3);
	CHECK_EQ(nq_run(&q, VDK_BIO_WRITE, 0, off, len, want), 0);
	memset(got, 0, len);
	CHECK_EQ(nq_run(&q, VDK_BIO_READ, 0, off, len, got), 0);
	check_bytes(got, want, len, off, "split contiguous");

	/*
	 * Pieces not adjacent in memory: on the wire the commands take
	 * them as they are (a command's data crosses from one to the next),
	 * through libnbd a bounce buffer.
	 */
	pat_fill(want, len, off, 4);
	scatter(&q, VDK_BIO_WRITE, off, want, len);
	memset(got, 0, len);
	scatter(&q, VDK_BIO_READ, off, got, len);
	check_bytes(got, want, len, off, "split pieces");
	if (vdk__nbd_on_wire(q.q))
		CHECK_EQ(vdk__nbd_bounced(q.q), 0);
	/* Zero 2 MiB, in 4 KiB-aligned bounds. */
	CHECK_EQ(nq_run(&q, VDK_BIO_ZERO, 0, off, len, NULL), 0);
	CHECK_EQ(nq_run(&q, VDK_BIO_READ, 0, off, len, got), 0);
	memset(want, 0, len);
	check_bytes(got, want, len, off, "zeroed");
	/* The server refuses what is not aligned to its minimum. */
	CHECK(nq_run(&q, VDK_BIO_READ, 0, 512, 512, got) < 0);
	many_split(&q);
	tq_close(&q);
	tb_close(&t);
	srv_stop(&s);
	free(got);
	free(want);
}

/*
 * Scattered vectors on the wire, never bounced: 1 MiB in 512 pieces (the
 * data of one command over several sendmsg() and recvmsg() calls) and
 * 32 KiB in 64 (a read small enough to come through the receive buffer).
 */
static void test_vectors(void)
{
	uint64_t len = 1u << 20, off = 8192;
	uint8_t *want = xalloc(len), *got = xalloc(len);
	struct srv s;
	struct tb t;
	struct tq q;

	SRV_START(&s, "vec.sock", "memory", "4M");
	CHECK_EQ(TB_OPEN(&t, "nbd", s.param), 0);
	tq_open(&q, &t, 8);
	pat_fill(want, len, off, 5);
	scatter_many(&q, VDK_BIO_WRITE, off, want, len, 2048);
	memset(got, 0, len);
	CHECK_EQ(nq_run(&q, VDK_BIO_READ, 0, off, len, got), 0);
	check_bytes(got, want, len, off, "written from 512 pieces");
	memset(got, 0, len);
	scatter_many(&q, VDK_BIO_READ, off, got, len, 2048);
	check_bytes(got, want, len, off, "read into 512 pieces");
	memset(got, 0, len);
	scatter_many(&q, VDK_BIO_READ, off + 4096, got, 32768, 512);
	check_bytes(got, want + 4096, 32768, off + 4096, "read into 64 pieces");
	CHECK(vdk__nbd_on_wire(q.q));
	CHECK_EQ(vdk__nbd_bounced(q.q), 0);
	tq_close(&q);
	tb_close(&t);
	srv_stop(&s);
	free(got);
	free(want);
}

/* A read-only export, without multi-conn, trim, zero or FUA. */
static void test_read_only(void)
{
	char buf[4096];
	struct vdk_bq *q2;
	struct srv s;
	struct tb t;
	struct tq q;
	char c[64];

	SRV_START(&s, "ro.sock", "-r", "--filter=multi-conn", "memory", "1M",
		  "multi-conn-mode=disable");
	CHECK_EQ(TB_OPEN(&t, "nbd", s.param), 0);
	CHECK(t.info.read_only);
	CHECK(!t.info.can_discard && !t.info.can_zero);
	CHECK(!t.info.multi_queue);
	tq_open(&q, &t, 4);
	CHECK_EQ(nq_run(&q, VDK_BIO_READ, 0, 0, sizeof(buf), buf), 0);
	CHECK_EQ(nq_run(&q, VDK_BIO_WRITE, 0, 0, sizeof(buf), buf), -EROFS);
	/* One connection without multi-conn: no second queue. */
	CHECK_EQ(t.ops->queue_open(t.b, 1, 4, &q2), -EOPNOTSUPP);
	tq_close(&q);
	tb_close(&t);

	/* Asking for more connections than the server allows. */
	CHECK(TB_OPEN(&t, "nbd", s.param, "connections=2") < 0);
	check_err(&t, -1, "multi-conn");
	/* One is always fine. */
	CHECK_EQ(TB_OPEN(&t, "nbd", s.param, "connections=1"), 0);
	tb_close(&t);
	srv_stop(&s);

	/* With multi-conn, connections= caps the queues. */
	SRV_START(&s, "mc.sock", "memory", "1M");
	snprintf(c, sizeof(c), "connections=%d", 2);
	CHECK_EQ(TB_OPEN(&t, "nbd", s.param, c), 0);
	CHECK(t.info.multi_queue);
	CHECK_EQ(t.ops->queue_open(t.b, 1, 4, &q2), 0);
	t.ops->queue_close(q2);
	CHECK_EQ(t.ops->queue_open(t.b, 2, 4, &q2), -EOPNOTSUPP);
	tb_close(&t);
	srv_stop(&s);
}

/* FUA on a server without it: a flush after the write, data intact. */
static void test_fua_emulated(void)
{
	uint8_t *want = xalloc(65536), *got = xalloc(65536);
	struct srv s;
	struct tb t;
	struct tq q;

	/* The filter's default: FUA not offered, flush passed on. */
	SRV_START(&s, "fua.sock", "--filter=fua", "memory", "1M");
	CHECK_EQ(TB_OPEN(&t, "nbd", s.param), 0);
	CHECK(t.info.can_fua);
	tq_open(&q, &t, 4);
	pat_fill(want, 65536, 4096, 9);
	CHECK_EQ(nq_run(&q, VDK_BIO_WRITE, VDK_BIO_F_FUA, 4096, 65536, want),
		 0);
	CHECK_EQ(nq_run(&q, VDK_BIO_READ, 0, 4096, 65536, got), 0);
	check_bytes(got, want, 65536, 4096, "after FUA");
	CHECK_EQ(nq_run(&q, VDK_BIO_FLUSH, 0, 0, 0, NULL), 0);
	tq_close(&q);
	tb_close(&t);
	srv_stop(&s);
	free(got);
	free(want);
}

/* export= replaces the URI's export name, encoded as URIs need. */
static void test_export_name(void)
{
	char uri[200], buf[512];
	struct srv s;
	struct tb t;
	struct tq q;

	SRV_START(&s, "exp.sock", "--filter=exportname", "memory", "1M",
		  "exportname-strict=true", "exportname=disk one/a%b",
		  "exportname=two");
	snprintf(uri, sizeof(uri), "uri=nbd+unix:///two?socket=%s", s.sock);
	CHECK_EQ(TB_OPEN(&t, "nbd", uri), 0);
	tb_close(&t);
	CHECK(TB_OPEN(&t, "nbd", uri, "export=three") < 0);
	check_err(&t, -1, "three");
	CHECK_EQ(TB_OPEN(&t, "nbd", uri, "export=disk one/a%b"), 0);
	tq_open(&q, &t, 2);
	CHECK_EQ(nq_run(&q, VDK_BIO_READ, 0, 0, sizeof(buf), buf), 0);
	tq_close(&q);
	tb_close(&t);
	srv_stop(&s);
}

#define RUN(fn)                                                      \
	do {                                                         \
		double t0_ = now_s();                                \
		fn();                                                \
		fprintf(stderr, "%s: %.1f s\n", #fn, now_s() - t0_); \
	} while (0)

int main(void)
{
	nbd_test_init();
	RUN(test_conformance);
	RUN(test_in_flight);
	RUN(test_block_sizes);
	RUN(test_vectors);
	RUN(test_read_only);
	RUN(test_fua_emulated);
	RUN(test_export_name);
	return T_EXIT_PASS;
}
