/* SPDX-License-Identifier: MIT */
/*
 * The in-flight log of a packed ring after a daemon's death.
 *
 * The story: the driver posts six chains of one to three descriptors
 * (one indirect); the daemon takes four, completes the third and then
 * the first, out of order, and dies.  The ring no longer holds the two
 * chains in flight (used descriptors went over them), nor says where
 * its positions stand: only the log does.  A new daemon reopens the
 * device and must take exactly the two in flight again, oldest first,
 * from the log's copies, then the two the ring still has, and every
 * chain the driver posted is completed exactly once.
 *
 * Variants: the daemon died in the middle of its last completion (the
 * used descriptor written, the log not yet told: it must not be taken
 * again); a log that makes no sense (refused: nothing taken twice, the
 * queue not broken); and a log of the split layout for a packed device
 * (not used).
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
#define TABLE 0x50000
#define QSIZE 16
#define NPOST 6
#define FEATURES                                                             \
	((1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_F_ACCESS_PLATFORM) | \
	 (1ull << VIRTIO_RING_F_INDIRECT_DESC) |                            \
	 (1ull << VIRTIO_F_RING_PACKED))

/* The file, version 2: the header, then queue 0's fields and stamps. */
#define OFF_COUNTER 32
#define OFF_USED_IDX 40
#define OFF_LAST_HEAD 42
#define OFF_STAMP(i) (48 + 8 * (i))

struct t {
	struct sim *s;
	struct vdk_dev *dev;
	int head[NPOST];
	unsigned int completed[QSIZE];
	unsigned int used, refused, unusable;
};

static char log_path[64];

static void t_log(void *opaque, int level, const char *msg)
{
	struct t *t = opaque;

	if (strstr(msg, "taking them again"))
		t->used++;
	if (strstr(msg, "in-flight log inconsistent"))
		t->refused++;
	if (strstr(msg, "no usable in-flight log"))
		t->unusable++;
	if (getenv("VDK_TEST_VERBOSE"))
		fprintf(stderr, "log(%d): %s\n", level, msg);
}

static void t_open(struct t *t, bool create, uint64_t flags)
{
	struct vdk_dev_cfg cfg = {
		.name = "infp0",
		.device_id = VIRTIO_ID_BLOCK,
		.num_queues = 1,
		.queue_size = QSIZE,
		.inflight_path = log_path,
		.log = t_log,
		.log_opaque = t,
		.log_level = VDK_LOG_DEBUG,
		.flags = flags,
	};

	t->used = t->refused = t->unusable = 0;
	CHECK_EQ(sim_dev_new(t->s, &cfg, create, &t->dev), 0);
}

static struct vdk_vq *t_vq(struct t *t)
{
	return vdk_dev_vq(t->dev, 0);
}

static void t_reap(struct t *t)
{
	uint16_t id;
	uint32_t len;

	CHECK(vdk_vq_notify(t_vq(t)) >= 0);
	while (sim_vq_used(t->s, 0, &id, &len) == 1) {
		CHECK(id < QSIZE);
		t->completed[id]++;
	}
}

static uint64_t file_u64(off_t off, unsigned int size)
{
	uint64_t v = 0;
	int fd = open(log_path, O_RDONLY);

	CHECK(fd >= 0);
	CHECK_EQ(pread(fd, &v, size, off), size);
	close(fd);
	return v;
}

static void file_put(off_t off, uint64_t v, unsigned int size)
{
	int fd = open(log_path, O_RDWR);

	CHECK(fd >= 0);
	CHECK_EQ(pwrite(fd, &v, size, off), size);
	close(fd);
}

/* Request i: i % 3 + 1 buffers, the fifth in an indirect table. */
static void post(struct t *t, unsigned int i)
{
	struct sim_buf b[3] = {
		{ DATA + 0x100 * i, 16, false },
		{ DATA + 0x100 * i + 0x40, 8, false },
		{ DATA + 0x100 * i + 0x80, 1, true },
	};
	unsigned int n = i % 3 + 1;

	b[n - 1].write = true;
	t->head[i] = sim_vq_add(t->s, 0, b, n, i == 4 ? TABLE : 0);
	CHECK(t->head[i] >= 0);
}

static void check_req(struct t *t, struct vdk_req *req, unsigned int i)
{
	CHECK_EQ(req->id, t->head[i]);
	CHECK_EQ(req->n_out + req->n_in, i % 3 + 1);
	CHECK_EQ(req->n_in, 1);
	CHECK_EQ(req->in_len, i % 3 == 0 ? 16 : i % 3 == 1 ? 8 : 1);
}

/*
 * Post, take four, complete the third then the first.  @torn: the
 * first's completion is cut short after the driver could see it.
 */
static void t_start_ring(struct t *t, int torn, bool split)
{
	struct vdk_req *req[4];
	uint64_t used = 0, stamp = 0;
	unsigned int i;

	memset(t, 0, sizeof(*t));
	CHECK_EQ(sim_new(MEM, &t->s), 0);
	t_open(t, true, VDK_DEV_F_PACKED);
	if (split) {
		sim_vq_setup(t->s, 0, QSIZE, RING);
		CHECK_EQ(sim_driver_ok(t->s, t->dev,
				       FEATURES & ~(1ull << VIRTIO_F_RING_PACKED)),
			 0);
	} else {
		sim_pvq_setup(t->s, 0, QSIZE, RING);
		CHECK_EQ(sim_driver_ok(t->s, t->dev, FEATURES), 0);
	}
	for (i = 0; i < NPOST; i++)
		post(t, i);
	for (i = 0; i < 4; i++) {
		CHECK_EQ(vdk_vq_pop(t_vq(t), &req[i]), 1);
		check_req(t, req[i], i);
	}
	vdk_vq_push(t_vq(t), req[2], 1);
	t_reap(t);
	if (torn) {
		used = file_u64(OFF_USED_IDX, 2);
		stamp = file_u64(OFF_STAMP(t->head[0]), 8);
		CHECK(stamp != 0);
	}
	vdk_vq_push(t_vq(t), req[0], 1);
	t_reap(t);
	CHECK_EQ(t->completed[t->head[0]], 1);
	CHECK_EQ(t->completed[t->head[2]], 1);
	vdk_dev_close(t->dev);
	t->dev = NULL;
	if (torn) {
		/* As if killed between the used descriptor and the log. */
		CHECK_EQ(file_u64(OFF_LAST_HEAD, 2), t->head[0]);
		file_put(OFF_USED_IDX, used, 2);
		file_put(OFF_STAMP(t->head[0]), stamp, 8);
	}
	if (torn == 2) {
		/*
		 * The driver read that completion and posted a chain of the
		 * next lap where it was: AVAIL 0, USED 1 (first lap).
		 */
		CHECK_EQ(used, 3 | 0x8000);
		sim_pvq_raw_write(t->s, 0, 3, DATA, 16, 9,
				  1u << VRING_PACKED_DESC_F_USED);
	}
}

static void t_start(struct t *t, int torn)
{
	t_start_ring(t, torn, false);
}

/* Take all there is, in order @want (indexes into head), complete it. */
static void t_drain(struct t *t, const unsigned int *want, unsigned int n)
{
	struct vdk_req *req[QSIZE + 1];
	unsigned int got = 0, i;
	int ret;

	while ((ret = vdk_vq_pop(t_vq(t), &req[got])) == 1) {
		CHECK(got < n);
		check_req(t, req[got], want[got]);
		got++;
	}
	CHECK_EQ(ret, 0);
	CHECK_EQ(got, n);
	CHECK(!vdk_vq_broken(t_vq(t)));
	for (i = 0; i < got; i++)
		vdk_vq_push(t_vq(t), req[i], 1);
	t_reap(t);
}

static void t_check(struct t *t, bool all)
{
	unsigned int i, h;

	for (h = 0; h < QSIZE; h++) {
		unsigned int posted = 0;

		for (i = 0; i < NPOST; i++)
			posted += t->head[i] == (int)h;
		if (all)
			CHECK_EQ(t->completed[h], posted);
		else
			CHECK(t->completed[h] <= posted);
	}
	CHECK_EQ(vdk_vq_inflight(t_vq(t)), 0);
}

static void t_finish(struct t *t, bool all)
{
	t_check(t, all);
	vdk_dev_close(t->dev);
	sim_free(t->s);
	unlink(log_path);
}

static void test_restart(void)
{
	static const unsigned int want[] = { 1, 3, 4, 5 };
	struct t t;

	t_start(&t, 0);
	t_open(&t, false, VDK_DEV_F_PACKED);
	CHECK(vdk_vq_ready(t_vq(&t)));
	CHECK_EQ(t.used, 1);
	CHECK(vdk_vq_pending(t_vq(&t)));
	t_drain(&t, want, 4);
	t_check(&t, true);
	/* The ring goes on after it, over its end. */
	{
		unsigned int round;

		for (round = 0; round < 40; round++) {
			struct vdk_req *req;
			uint16_t id;
			uint32_t len;

			post(&t, round % 3);
			CHECK_EQ(vdk_vq_pop(t_vq(&t), &req), 1);
			check_req(&t, req, round % 3);
			vdk_vq_push(t_vq(&t), req, 1);
			CHECK(vdk_vq_notify(t_vq(&t)) >= 0);
			CHECK_EQ(sim_vq_used(t.s, 0, &id, &len), 1);
			CHECK_EQ(id, t.head[round % 3]);
			CHECK_EQ(sim_vq_used(t.s, 0, &id, &len), 0);
		}
	}
	memset(t.head, 0xff, sizeof(t.head));
	memset(t.completed, 0, sizeof(t.completed));
	t_finish(&t, true);
}

/*
 * A device that offers packed rings to a driver that takes split ones:
 * the log has the packed layout, the split part of it serves.
 */
static void test_restart_split(void)
{
	static const unsigned int want[] = { 1, 3, 4, 5 };
	struct t t;

	t_start_ring(&t, 0, true);
	t_open(&t, false, VDK_DEV_F_PACKED);
	CHECK(vdk_vq_ready(t_vq(&t)));
	CHECK_EQ(t.used, 1);
	t_drain(&t, want, 4);
	t_finish(&t, true);
}

/* A second death right after the first recovery: the log holds. */
static void test_restart_twice(void)
{
	static const unsigned int want[] = { 3, 4, 5 };
	struct vdk_req *req;
	struct t t;

	t_start(&t, 0);
	t_open(&t, false, VDK_DEV_F_PACKED);
	CHECK_EQ(t.used, 1);
	/* Take the first again and complete it; die with the rest. */
	CHECK_EQ(vdk_vq_pop(t_vq(&t), &req), 1);
	check_req(&t, req, 1);
	vdk_vq_push(t_vq(&t), req, 1);
	t_reap(&t);
	vdk_dev_close(t.dev);
	t_open(&t, false, VDK_DEV_F_PACKED);
	CHECK_EQ(t.used, 1);
	t_drain(&t, want, 3);
	t_finish(&t, true);
}

static void test_torn_completion(int how)
{
	static const unsigned int want[] = { 1, 3, 4, 5 };
	struct t t;

	t_start(&t, how);
	t_open(&t, false, VDK_DEV_F_PACKED);
	CHECK_EQ(t.used, 1);
	t_drain(&t, want, 4);
	t_finish(&t, true);
}

/*
 * Garbage: refused as a whole.  The ring's positions are then those
 * VDUSE gives, stale: what the driver posted waits, nothing is taken
 * twice, the queue is not broken.
 */
static void test_garbage(void)
{
	static const struct {
		off_t off;
		uint64_t v;
		unsigned int size;
	} bad[] = {
		{ OFF_COUNTER, 1, 8 },             /* stamps above it */
		{ OFF_USED_IDX, QSIZE, 2 },        /* out of the ring */
		{ OFF_LAST_HEAD, QSIZE, 2 },
		{ OFF_STAMP(QSIZE - 1), 1, 8 },     /* no chain for it */
		{ OFF_STAMP(0), 0x00ff000000000001ull, 8 }, /* 255 descs */
		{ 44, 0xffffffffu, 4 },     /* killed resetting the log */
	};
	unsigned int i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct vdk_req *req;
		struct t t;

		t_start(&t, 0);
		file_put(bad[i].off, bad[i].v, bad[i].size);
		t_open(&t, false, VDK_DEV_F_PACKED);
		CHECK_EQ(t.refused, 1);
		CHECK_EQ(t.used, 0);
		while (vdk_vq_pop(t_vq(&t), &req) == 1)
			vdk_vq_push(t_vq(&t), req, 1);
		t_reap(&t);
		t_finish(&t, false);
	}
}

/* The log of a device made without packed rings: not this one's. */
static void test_wrong_layout(void)
{
	struct t t;

	t_start(&t, 0);
	unlink(log_path);
	{
		struct vdk_dev_cfg cfg = {
			.name = "x", .num_queues = 1, .queue_size = QSIZE,
		};
		struct sim *s;
		struct vdk_dev *dev;

		/* A split-layout file at the path. */
		cfg.inflight_path = log_path;
		CHECK_EQ(sim_new(MEM, &s), 0);
		CHECK_EQ(sim_dev_new(s, &cfg, true, &dev), 0);
		vdk_dev_close(dev);
		sim_free(s);
	}
	t_open(&t, false, VDK_DEV_F_PACKED);
	CHECK_EQ(t.unusable, 1);
	CHECK_EQ(t.used, 0);
	CHECK(!vdk_vq_broken(t_vq(&t)));
	t_finish(&t, false);
}

/*
 * In order: chains of writable buffers alone (one or two descriptors),
 * so that a run forms.  The daemon takes four, completes the first three
 * in reverse order, which go out as one used descriptor, and dies
 * before the log is told (with @cleared, after the oldest's stamp was
 * cleared).  The run is done: only the fourth is taken again, then the
 * two the ring still has.
 */
static void test_in_order_run(bool cleared)
{
	const uint64_t flags = VDK_DEV_F_PACKED | VDK_DEV_F_IN_ORDER;
	struct vdk_req *req[QSIZE + 1];
	uint64_t used, stamp[3];
	unsigned int i, n = 0;
	struct t t;
	int ret;

	memset(&t, 0, sizeof(t));
	CHECK_EQ(sim_new(MEM, &t.s), 0);
	t_open(&t, true, flags);
	sim_pvq_setup(t.s, 0, QSIZE, RING);
	CHECK_EQ(sim_driver_ok(t.s, t.dev,
			       FEATURES | 1ull << VIRTIO_F_IN_ORDER),
		 0);
	for (i = 0; i < NPOST; i++) {
		struct sim_buf b[2] = {
			{ DATA + 0x100 * i, 16, true },
			{ DATA + 0x100 * i + 0x40, 8, true },
		};

		t.head[i] = sim_vq_add(t.s, 0, b, i % 2 + 1, 0);
		CHECK(t.head[i] >= 0);
	}
	for (i = 0; i < 4; i++) {
		CHECK_EQ(vdk_vq_pop(t_vq(&t), &req[i]), 1);
		CHECK_EQ(req[i]->id, t.head[i]);
	}
	used = file_u64(OFF_USED_IDX, 2);
	for (i = 0; i < 3; i++)
		stamp[i] = file_u64(OFF_STAMP(t.head[i]), 8);
	for (i = 3; i-- > 0;)
		vdk_vq_push(t_vq(&t), req[i], (uint32_t)req[i]->in_len);
	t_reap(&t);
	for (i = 0; i < 3; i++)
		CHECK_EQ(t.completed[t.head[i]], 1);
	CHECK_EQ(file_u64(OFF_LAST_HEAD, 2), t.head[2]);
	vdk_dev_close(t.dev);
	/* As if killed between the used descriptor and the log. */
	file_put(OFF_USED_IDX, used, 2);
	for (i = cleared ? 1 : 0; i < 3; i++)
		file_put(OFF_STAMP(t.head[i]), stamp[i], 8);
	t_open(&t, false, flags);
	CHECK_EQ(t.used, 1);
	CHECK_EQ(t.refused, 0);
	while ((ret = vdk_vq_pop(t_vq(&t), &req[n])) == 1) {
		CHECK(n < 3);
		CHECK_EQ(req[n]->id, t.head[3 + n]);
		n++;
	}
	CHECK_EQ(ret, 0);
	CHECK_EQ(n, 3);
	for (i = 0; i < n; i++)
		vdk_vq_push(t_vq(&t), req[i], (uint32_t)req[i]->in_len);
	t_reap(&t);
	CHECK(!sim_vq_in_order_bad(t.s, 0));
	t_finish(&t, true);
}

int main(void)
{
	snprintf(log_path, sizeof(log_path),
		 "/tmp/vdk-test-inflight-packed-%d", (int)getpid());
	test_restart();
	printf("ok - restart\n");
	test_restart_split();
	printf("ok - restart of a split ring, packed offered\n");
	test_restart_twice();
	printf("ok - restart twice\n");
	test_torn_completion(1);
	printf("ok - torn completion\n");
	test_torn_completion(2);
	printf("ok - torn completion, the driver already past it\n");
	test_garbage();
	printf("ok - garbage refused\n");
	test_wrong_layout();
	printf("ok - wrong layout\n");
	test_in_order_run(false);
	printf("ok - in order: a run torn\n");
	test_in_order_run(true);
	printf("ok - in order: a run torn, its recovery cut short\n");
	return T_EXIT_PASS;
}
