/* SPDX-License-Identifier: MIT */
/*
 * Helpers for the backend tests: open a backend from words, run bios on a
 * queue and wait for them, check data against a model of the device.
 */
#ifndef VDK_TESTS_BACKENDS_COMMON_H
#define VDK_TESTS_BACKENDS_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "test.h"

struct tb {
	const struct vdk_backend_ops *ops;
	struct vdk_bdev *b;
	struct vdk_backend_info info;
	char err[VDK_BACKEND_ERR_MAX];
	/* What the backend told its log (set_log), a line each, echoed. */
	char log[8192];
	size_t log_len;
};

/*
 * Open backend @name with the NULL-terminated @words as the command line
 * does: parse, open, reject unused keys.  0 or -errno with t->err set.
 */
int tb_open(struct tb *t, const char *name, const char *const *words);
#define TB_OPEN(t, name, ...) \
	tb_open((t), (name), (const char *const[]){ __VA_ARGS__, NULL })
void tb_close(struct tb *t);

/* Whether a line of t->log holds @part; tb_log_clear() empties it. */
bool tb_logged(const struct tb *t, const char *part);
void tb_log_clear(struct tb *t);

/* A bio that counts its completions. */
struct tbio {
	struct vdk_bio bio;
	int calls;
	int result;
};

struct tq {
	struct tb *t;
	struct vdk_bq *q;
	int fd;
	unsigned int depth;
};

void tq_open(struct tq *q, struct tb *t, unsigned int depth);
void tq_close(struct tq *q);

/* Submit without commit; returns what the backend's op returned. */
int tq_submit(struct tq *q, struct tbio *tb);
void tq_commit(struct tq *q);
/* Wait (10 s at most) until each of @n bios completed; checks once. */
void tq_wait(struct tq *q, struct tbio *const *bios, unsigned int n);
/*
 * One bio, start to end: 0 or -errno from done(), or the submission's
 * error (then done() must not have run).
 */
int tq_run(struct tq *q, uint8_t op, uint8_t flags, uint64_t offset,
	   uint64_t len, const struct iovec *iov, unsigned int iovcnt);

/*
 * Read or write @len bytes of @buf through iovecs of odd sizes; @seed
 * picks the split (a multiple of 3: 4 KiB pieces, for O_DIRECT).
 */
int tq_rw_split(struct tq *q, uint8_t op, uint8_t flags, uint64_t offset,
		void *buf, uint64_t len, unsigned int seed);

/*
 * The byte at device offset @off in pattern @seed.  It shifts with the
 * sector and with the MiB, so that data a whole sector or a whole MiB
 * off its place does not pass (without the MiB term, the pattern
 * repeated every MiB).
 */
static inline uint8_t pat(uint64_t off, unsigned int seed)
{
	return (uint8_t)(off * 131 + (off >> 9) * 7 + (off >> 20) * 13 +
			 seed * 29 + 1);
}
void pat_fill(void *buf, uint64_t len, uint64_t off, unsigned int seed);

/* Byte-for-byte check, naming the first difference. */
void check_bytes(const void *got, const void *want, uint64_t len,
		 uint64_t dev_off, const char *what);

/*
 * Every operation against a model of the device (at most 16 MiB):
 * writes of patterns through odd iovec splits, reads split differently,
 * the last blocks, flush, FUA, discard and zero (with and without unmap),
 * many bios in flight at once, done() once per bio.  A discarded block
 * must read back unchanged or as zeros.
 */
void conformance(struct tb *t);

/* Two queues from two threads at once, each on its half. */
void two_threads(struct tb *t);

/*
 * A temporary file of @size bytes in @dir ($TMPDIR or /tmp if NULL),
 * removed at exit.  NULL if @dir cannot hold one.
 */
char *tmp_file(const char *dir, uint64_t size);

/*
 * Write a pattern over [0, @size), discard (or zero, with @op) the given
 * range, and check it reads as zeros and everything else is intact.
 */
void check_zeroed(struct tq *q, uint8_t op, uint8_t flags, uint64_t size,
		  uint64_t off, uint64_t len);

/* The message in t->err contains @part. */
void check_err(const struct tb *t, int ret, const char *part);

#endif
