/* SPDX-License-Identifier: MIT */
/*
 * The in-flight log after a daemon's death, written over between the
 * death and the reopen as a corrupted or stale file would be.
 *
 * Every case runs the same story: the driver posts six requests, the
 * daemon takes four and completes the first, then dies; the file is
 * changed; a new daemon reopens the device.  A log that makes sense is
 * used: exactly the heads in flight are taken again, oldest first, then
 * the ring goes on.  A log that does not is refused as a whole: nothing
 * is taken again and the ring goes on from its used index.  Either way
 * no head is taken twice, the queue is not broken and every request the
 * driver posted is completed exactly once.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_ring.h>

#include "sim.h"
#include "test.h"
#include <vdk/vdk.h>

#define MEM (1u << 20)
#define RING 0x1000
#define DATA 0x40000
#define QSIZE 16
#define NPOST 6
#define FEATURES ((1ull << 32) | (1ull << 33))

/*
 * The file's layout, version 1: a 32-byte header, then per queue the
 * counter, used_idx, last_head, a reserved word and QSIZE stamps.
 */
#define OFF_MAGIC 0
#define OFF_NUM_QUEUES 12
#define OFF_QUEUE_SIZE 16
#define OFF_COUNTER 32
#define OFF_USED_IDX 40
#define OFF_LAST_HEAD 42
#define OFF_RESERVED 44
#define OFF_STAMP(i) (48 + 8 * (i))
#define FILE_SIZE OFF_STAMP(QSIZE)

enum outcome { USED, REFUSED, UNUSABLE };

struct t {
	struct sim *s;
	struct vdk_dev *dev;
	unsigned int num;
	int head[NPOST];
	unsigned int completed[QSIZE];
	/* What the library said, by kind. */
	unsigned int used, refused, unusable;
};

static char log_path[64];
static bool verbose;
/* VIRTIO_F_IN_ORDER offered and taken (the in-order cases). */
static bool in_order;

static void t_log(void *opaque, int level, const char *msg)
{
	struct t *t = opaque;

	if (strstr(msg, "taking them again"))
		t->used++;
	if (strstr(msg, "in-flight log inconsistent"))
		t->refused++;
	if (strstr(msg, "no usable in-flight log"))
		t->unusable++;
	if (verbose)
		fprintf(stderr, "log(%d): %s\n", level, msg);
}

static void t_open(struct t *t, bool create)
{
	struct vdk_dev_cfg cfg = {
		.name = "inf0",
		.device_id = VIRTIO_ID_BLOCK,
		.num_queues = 1,
		.queue_size = QSIZE,
		.inflight_path = log_path,
		.log = t_log,
		.log_opaque = t,
		.log_level = VDK_LOG_DEBUG,
		.flags = in_order ? VDK_DEV_F_IN_ORDER : 0,
	};

	CHECK_EQ(sim_dev_new(t->s, &cfg, create, &t->dev), 0);
}

static struct vdk_vq *t_vq(struct t *t)
{
	return vdk_dev_vq(t->dev, 0);
}

/* Read the driver's completions, counting them per head. */
static void t_reap(struct t *t)
{
	uint16_t id;
	uint32_t len;

	CHECK(vdk_vq_notify(t_vq(t)) >= 0);
	while (sim_vq_used(t->s, 0, &id, &len) == 1) {
		CHECK(id < t->num);
		t->completed[id]++;
	}
}

/*
 * Post NPOST requests (request i has head t->head[i]), take four,
 * complete the first: requests 1 to 3 are in flight (stamps 2, 3, 4;
 * counter 4), 4 and 5 are posted and not taken, used->idx is 1.  Then
 * the daemon dies.
 */
static void t_start(struct t *t, unsigned int num)
{
	struct vdk_req *req[4];
	unsigned int i;

	memset(t, 0, sizeof(*t));
	t->num = num;
	CHECK_EQ(sim_new(MEM, &t->s), 0);
	t_open(t, true);
	sim_vq_setup(t->s, 0, num, RING);
	CHECK_EQ(sim_driver_ok(t->s, t->dev,
			       FEATURES |
				       (in_order ? 1ull << VIRTIO_F_IN_ORDER :
						   0)),
		 0);
	for (i = 0; i < NPOST; i++) {
		struct sim_buf b = { DATA + 64 * i, 64, true };

		t->head[i] = sim_vq_add(t->s, 0, &b, 1, 0);
		CHECK(t->head[i] >= 0);
	}
	for (i = 0; i < 4; i++) {
		CHECK_EQ(vdk_vq_pop(t_vq(t), &req[i]), 1);
		CHECK_EQ(req[i]->id, t->head[i]);
	}
	vdk_vq_push(t_vq(t), req[0], 1);
	t_reap(t);
	CHECK_EQ(t->completed[t->head[0]], 1);
	CHECK_EQ(sim_vq_used_idx(t->s, 0), 1);
	vdk_dev_close(t->dev);
	t->dev = NULL;
}

static void t_reopen(struct t *t)
{
	t->used = t->refused = t->unusable = 0;
	t_open(t, false);
	CHECK(vdk_vq_ready(t_vq(t)));
}

/*
 * Take everything there is, then complete it all: a head taken twice
 * shows as a broken queue or as a second completion.  @want: the heads
 * expected, in order, as indexes into t->head.
 */
static void t_drain(struct t *t, const unsigned int *want, unsigned int n)
{
	struct vdk_req *req[QSIZE + 1];
	unsigned int got = 0, i;
	int ret;

	while ((ret = vdk_vq_pop(t_vq(t), &req[got])) == 1) {
		CHECK(got < n);
		CHECK_EQ(req[got]->id, t->head[want[got]]);
		got++;
	}
	CHECK_EQ(ret, 0);
	CHECK_EQ(got, n);
	CHECK(!vdk_vq_broken(t_vq(t)));
	for (i = 0; i < got; i++)
		vdk_vq_push(t_vq(t), req[i], 1);
	t_reap(t);
}

/* Every request posted completed exactly once, nothing else. */
static void t_finish(struct t *t)
{
	unsigned int i, h;

	for (h = 0; h < t->num; h++) {
		bool posted = false;

		for (i = 0; i < NPOST; i++)
			posted |= t->head[i] == (int)h;
		CHECK_EQ(t->completed[h], posted ? 1 : 0);
	}
	CHECK_EQ(vdk_vq_inflight(t_vq(t)), 0);
	vdk_dev_close(t->dev);
	sim_free(t->s);
	unlink(log_path);
}

static void t_expect(struct t *t, enum outcome o)
{
	CHECK_EQ(t->used, o == USED);
	CHECK_EQ(t->refused, o == REFUSED);
	CHECK_EQ(t->unusable, o == UNUSABLE);
}

/* The order of the ring, from its used index: requests 1 to 5. */
static const unsigned int ring_order[] = { 1, 2, 3, 4, 5 };

/* Reopen, expect @o, then the ring's order: the common ending. */
static void t_reopen_ring_order(struct t *t, enum outcome o)
{
	t_reopen(t);
	t_expect(t, o);
	t_drain(t, ring_order, 5);
	t_finish(t);
}

/* ---- the file, written behind the library's back ---- */

static void file_write(off_t off, const void *buf, size_t len)
{
	int fd = open(log_path, O_WRONLY | O_CLOEXEC);

	CHECK(fd >= 0);
	CHECK_EQ(pwrite(fd, buf, len, off), (ssize_t)len);
	close(fd);
}

static uint64_t file_read64(off_t off)
{
	int fd = open(log_path, O_RDONLY | O_CLOEXEC);
	uint64_t v;

	CHECK(fd >= 0);
	CHECK_EQ(pread(fd, &v, sizeof(v), off), (ssize_t)sizeof(v));
	close(fd);
	return v;
}

static void put64(off_t off, uint64_t v)
{
	file_write(off, &v, sizeof(v));
}

static void put32(off_t off, uint32_t v)
{
	file_write(off, &v, sizeof(v));
}

static void put16(off_t off, uint16_t v)
{
	file_write(off, &v, sizeof(v));
}

static void put_stamp(struct t *t, unsigned int i, uint64_t v)
{
	put64(OFF_STAMP(t->head[i]), v);
}

/* Deterministic bytes, so that a failure can be replayed. */
static void put_random(off_t off, size_t len, uint32_t seed)
{
	unsigned char buf[FILE_SIZE];
	size_t i;

	CHECK(len <= sizeof(buf));
	for (i = 0; i < len; i++) {
		seed = seed * 1103515245u + 12345u;
		buf[i] = (unsigned char)(seed >> 16);
	}
	file_write(off, buf, len);
}

/* ---- logs that make sense ---- */

/* Nothing changed: requests 1 to 3 again, then 4 and 5. */
static void test_untouched(void)
{
	struct t t;

	t_start(&t, QSIZE);
	CHECK_EQ(file_read64(OFF_COUNTER), 4);
	CHECK_EQ(file_read64(OFF_STAMP(t.head[1])), 2);
	t_reopen_ring_order(&t, USED);
}

/* Oldest first: by stamp, not by head or ring position. */
static void test_order(void)
{
	static const unsigned int want[] = { 2, 3, 1, 4, 5 };
	struct t t;

	t_start(&t, QSIZE);
	put_stamp(&t, 1, 90);
	put_stamp(&t, 2, 70);
	put_stamp(&t, 3, 80);
	put64(OFF_COUNTER, 95);
	t_reopen(&t);
	t_expect(&t, USED);
	t_drain(&t, want, 5);
	t_finish(&t);
}

/* Died after taking request 3 from the ring and before stamping it. */
static void test_taken_unstamped(void)
{
	struct t t;

	t_start(&t, QSIZE);
	put_stamp(&t, 3, 0);
	t_reopen_ring_order(&t, USED);
}

/*
 * Died after publishing request 0's completion and before clearing its
 * stamp: the driver has it, it is not taken again.
 */
static void test_torn_completion(void)
{
	struct t t;

	t_start(&t, QSIZE);
	put_stamp(&t, 0, 1);
	put16(OFF_USED_IDX, 0);
	t_reopen_ring_order(&t, USED);
}

/*
 * Stamps at the top of the counter's range: the order holds, and the
 * requests taken after the recovery are stamped in order too, so that a
 * second death loses none and takes none twice.  Before, the counter
 * wrapped to 0 and a request was taken with stamp 0, "not in flight".
 */
static void test_counter_wrap(uint64_t top)
{
	static const unsigned int first[] = { 1, 2, 3, 4 };
	struct vdk_req *req[4];
	unsigned int i;
	struct t t;

	t_start(&t, QSIZE);
	put_stamp(&t, 1, top - 2);
	put_stamp(&t, 2, top - 1);
	put_stamp(&t, 3, top);
	put64(OFF_COUNTER, UINT64_MAX);
	t_reopen(&t);
	t_expect(&t, USED);
	for (i = 0; i < 4; i++) {
		CHECK_EQ(vdk_vq_pop(t_vq(&t), &req[i]), 1);
		CHECK_EQ(req[i]->id, t.head[first[i]]);
	}
	CHECK(file_read64(OFF_COUNTER) < QSIZE * 2);
	/* Dies again with 1 to 4 in flight. */
	vdk_dev_close(t.dev);
	t_reopen(&t);
	t_expect(&t, USED);
	t_drain(&t, ring_order, 5);
	t_finish(&t);
}

/* ---- logs that do not ---- */

static void test_stamp_above_counter(void)
{
	struct t t;

	t_start(&t, QSIZE);
	put_stamp(&t, 2, 100);
	t_reopen_ring_order(&t, REFUSED);
}

static void test_duplicate_stamps(void)
{
	struct t t;

	t_start(&t, QSIZE);
	put_stamp(&t, 1, 3);
	t_reopen_ring_order(&t, REFUSED);
}

/* The driver's ring has 8 entries, the log 16: a stamp for head 12. */
static void test_stamp_beyond_ring(void)
{
	struct t t;

	t_start(&t, 8);
	put64(OFF_STAMP(12), 1);
	t_reopen_ring_order(&t, REFUSED);
}

/* Heads the driver never posted: more in flight than it has given. */
static void test_too_many_stamps(void)
{
	unsigned int i;
	struct t t;

	t_start(&t, QSIZE);
	for (i = 0; i < QSIZE; i++)
		put64(OFF_STAMP(i), i + 1);
	put64(OFF_COUNTER, QSIZE);
	t_reopen_ring_order(&t, REFUSED);
}

/*
 * Request 5 stamped: four "in flight" fit the ring's counts, but
 * request 5 still waits in the avail ring past them and would be taken
 * twice (and request 4 skipped).
 */
static void test_stamp_on_posted(void)
{
	struct t t;

	t_start(&t, QSIZE);
	put_stamp(&t, 5, 4);
	put_stamp(&t, 3, 5);
	put64(OFF_COUNTER, 5);
	t_reopen_ring_order(&t, REFUSED);
}

/* The log's used index far from the ring's. */
static void test_used_idx_far(void)
{
	struct t t;

	t_start(&t, QSIZE);
	put16(OFF_USED_IDX, 9);
	t_reopen_ring_order(&t, REFUSED);
}

/* One behind the ring, as a torn completion, with last_head wrong. */
static void test_last_head(uint16_t last, unsigned int num)
{
	struct t t;

	t_start(&t, num);
	put16(OFF_USED_IDX, 0);
	put16(OFF_LAST_HEAD, last);
	t_reopen_ring_order(&t, REFUSED);
}

/*
 * last_head is a head in flight, not the one the used ring shows: taking
 * it for done would lose it.
 */
static void test_last_head_in_flight(void)
{
	struct t t;

	t_start(&t, QSIZE);
	put16(OFF_USED_IDX, 0);
	put16(OFF_LAST_HEAD, (uint16_t)t.head[2]);
	t_reopen_ring_order(&t, REFUSED);
}

/* A field no version writes. */
static void test_reserved(void)
{
	struct t t;

	t_start(&t, QSIZE);
	put32(OFF_RESERVED, 0xdeadbeef);
	t_reopen_ring_order(&t, REFUSED);
}

/*
 * A refused log is made anew: the next death, with requests taken from
 * the ring after the refusal, recovers them exactly.
 */
static void test_refused_then_death(void)
{
	struct vdk_req *req[3];
	unsigned int i;
	struct t t;

	t_start(&t, QSIZE);
	put32(OFF_RESERVED, 1);
	t_reopen(&t);
	t_expect(&t, REFUSED);
	for (i = 0; i < 3; i++) {
		CHECK_EQ(vdk_vq_pop(t_vq(&t), &req[i]), 1);
		CHECK_EQ(req[i]->id, t.head[i + 1]);
	}
	vdk_dev_close(t.dev);
	t_reopen(&t);
	t_expect(&t, USED);
	t_drain(&t, ring_order, 5);
	t_finish(&t);
}

/* Random bytes over the queue's part. */
static void test_random_queue(void)
{
	uint32_t seed;

	for (seed = 1; seed <= 32; seed++) {
		struct t t;

		t_start(&t, QSIZE);
		put_random(OFF_COUNTER, FILE_SIZE - OFF_COUNTER, seed);
		t_reopen_ring_order(&t, REFUSED);
	}
}

/* ---- files that are no log: made anew, the ring goes on ---- */

static void test_random_header(void)
{
	struct t t;

	t_start(&t, QSIZE);
	put_random(OFF_MAGIC, 32, 7);
	t_reopen_ring_order(&t, UNUSABLE);
}

static void test_truncated(off_t size)
{
	struct t t;

	t_start(&t, QSIZE);
	CHECK_EQ(truncate(log_path, size), 0);
	t_reopen_ring_order(&t, UNUSABLE);
}

static void test_header_field(off_t off, uint32_t v)
{
	struct t t;

	t_start(&t, QSIZE);
	put32(off, v);
	t_reopen_ring_order(&t, UNUSABLE);
}

/*
 * A file others may write is refused: anyone who can write it can also
 * shrink it under the mapping (SIGBUS).  The new one is ours alone.
 */
static void test_mode(void)
{
	struct stat st;
	struct t t;

	t_start(&t, QSIZE);
	CHECK_EQ(chmod(log_path, 0622), 0);
	t_reopen(&t);
	t_expect(&t, UNUSABLE);
	CHECK_EQ(stat(log_path, &st), 0);
	CHECK_EQ(st.st_mode & 0777, 0600);
	t_drain(&t, ring_order, 5);
	t_finish(&t);
}

/* Not a regular file: refused without reading it, then replaced. */
static void test_fifo(void)
{
	struct stat st;
	struct t t;

	t_start(&t, QSIZE);
	CHECK_EQ(unlink(log_path), 0);
	CHECK_EQ(mkfifo(log_path, 0600), 0);
	t_reopen(&t);
	t_expect(&t, UNUSABLE);
	CHECK_EQ(stat(log_path, &st), 0);
	CHECK(S_ISREG(st.st_mode));
	t_drain(&t, ring_order, 5);
	t_finish(&t);
}

static void test_counter_wrap_top(void)
{
	test_counter_wrap(UINT64_MAX);
}

static void test_counter_wrap_low(void)
{
	test_counter_wrap(4);
}

static void test_last_head_beyond_log(void)
{
	test_last_head(QSIZE + 3, QSIZE);
}

static void test_last_head_beyond_ring(void)
{
	test_last_head(12, 8);
}

static void test_truncated_short(void)
{
	test_truncated(FILE_SIZE - 8);
}

static void test_truncated_empty(void)
{
	test_truncated(0);
}

static void test_num_queues(void)
{
	test_header_field(OFF_NUM_QUEUES, 1000);
}

static void test_queue_size(void)
{
	test_header_field(OFF_QUEUE_SIZE, 1u << 20);
}

/* ---- in order: one used element for a run ---- */

/* The used ring of t_start()'s queue (see sim_vq_setup()). */
#define USED_RING (RING + 4096)

/*
 * Died after publishing one used element for requests 1 to 3 (used->idx
 * 4), before clearing their stamps; with @cleared, after clearing the
 * oldest's.  The run is done: nothing is taken again, the driver reads
 * the three from the one element, the ring goes on with 4 and 5.
 */
static void test_in_order_run(bool cleared)
{
	static const unsigned int rest[] = { 4, 5 };
	struct vring_used_elem e;
	uint16_t idx = htole16(4);
	struct t t;

	in_order = true;
	t_start(&t, QSIZE);
	e.id = htole32((uint32_t)t.head[3]);
	e.len = htole32(64);
	sim_write(t.s, USED_RING + 4 + 8 * 1, &e, sizeof(e));
	sim_write(t.s, USED_RING + 2, &idx, sizeof(idx));
	put16(OFF_LAST_HEAD, (uint16_t)t.head[3]);
	if (cleared)
		put_stamp(&t, 1, 0);
	t_reopen(&t);
	CHECK_EQ(t.refused, 0);
	CHECK_EQ(t.used, 0);
	CHECK_EQ(file_read64(OFF_STAMP(t.head[2])), 0);
	CHECK_EQ(file_read64(OFF_STAMP(t.head[3])), 0);
	t_reap(&t);
	CHECK(!sim_vq_in_order_bad(t.s, 0));
	t_drain(&t, rest, 2);
	t_finish(&t);
	in_order = false;
}

static void test_in_order_run_torn(void)
{
	test_in_order_run(false);
}

static void test_in_order_run_cut_short(void)
{
	test_in_order_run(true);
}

/* In order, nothing torn: as ever, 1 to 3 again, then 4 and 5. */
static void test_in_order_untouched(void)
{
	struct t t;

	in_order = true;
	t_start(&t, QSIZE);
	t_reopen_ring_order(&t, USED);
	in_order = false;
}

/*
 * Not in order, a used index three ahead is no torn completion: the log
 * is refused (the driver never took the feature).
 */
static void test_run_not_in_order(void)
{
	uint16_t idx = htole16(4);
	struct t t;

	t_start(&t, QSIZE);
	sim_write(t.s, USED_RING + 2, &idx, sizeof(idx));
	t_reopen(&t);
	t_expect(&t, REFUSED);
	vdk_dev_close(t.dev);
	sim_free(t.s);
	unlink(log_path);
}

#define CASE(f) { #f, f }

static const struct {
	const char *name;
	void (*fn)(void);
} cases[] = {
	CASE(test_untouched),
	CASE(test_order),
	CASE(test_taken_unstamped),
	CASE(test_torn_completion),
	CASE(test_counter_wrap_top),
	CASE(test_counter_wrap_low),
	CASE(test_stamp_above_counter),
	CASE(test_duplicate_stamps),
	CASE(test_stamp_beyond_ring),
	CASE(test_too_many_stamps),
	CASE(test_stamp_on_posted),
	CASE(test_used_idx_far),
	CASE(test_last_head_beyond_log),
	CASE(test_last_head_beyond_ring),
	CASE(test_last_head_in_flight),
	CASE(test_reserved),
	CASE(test_refused_then_death),
	CASE(test_random_queue),
	CASE(test_random_header),
	CASE(test_truncated_short),
	CASE(test_truncated_empty),
	CASE(test_num_queues),
	CASE(test_queue_size),
	CASE(test_mode),
	CASE(test_fifo),
	CASE(test_in_order_untouched),
	CASE(test_in_order_run_torn),
	CASE(test_in_order_run_cut_short),
	CASE(test_run_not_in_order),
};

/* Arguments: -v prints the library's messages; a name runs one case. */
int main(int argc, char **argv)
{
	const char *only = NULL;
	unsigned int i;
	int a;

	for (a = 1; a < argc; a++) {
		if (strcmp(argv[a], "-v") == 0)
			verbose = true;
		else
			only = argv[a];
	}
	snprintf(log_path, sizeof(log_path), "/tmp/vdk-test-inflight-u%d",
		 getpid());
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (only && strcmp(only, cases[i].name) != 0)
			continue;
		if (verbose)
			fprintf(stderr, "%s\n", cases[i].name);
		cases[i].fn();
	}
	unlink(log_path);
	return T_EXIT_PASS;
}
