/* SPDX-License-Identifier: MIT */
/*
 * vdk blk on the simulator, with its queue threads running: every request
 * type, every error path, multiqueue, resize, read-only, backend errors.
 * The driver side is this test: it builds virtio-blk requests in the
 * simulated driver memory, kicks, and waits for the completions.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <linux/virtio_blk.h>
#include <linux/virtio_ring.h>

#include "internal.h"
#include "sim.h"
#include "test.h"

#define MEM (8u << 20)
#define RING(q) (0x1000 + (uint64_t)(q) * 0x10000)
#define HDR(q) (0x200000 + (uint64_t)(q) * 0x100000)
#define DATA(q) (HDR(q) + 0x1000)
#define STATUS(q) (HDR(q) + 0x800)
#define QSIZE 128
#define FEATURES                                                            \
	((1ull << 32) | (1ull << 33) | (1ull << VIRTIO_RING_F_EVENT_IDX) |  \
	 (1ull << VIRTIO_RING_F_INDIRECT_DESC))

struct env {
	struct sim *s;
	struct vdk_blk *blk;
	const struct vdk_backend_ops *ops;
	struct vdk_bdev *bdev;
	struct vdk_blk_cfg cfg;
	unsigned int nq;
};

static int sim_create(void *arg, const struct vdk_dev_cfg *cfg,
		      struct vdk_dev **out)
{
	return sim_dev_new(arg, cfg, true, out);
}

static void quiet(void *opaque, int level, const char *msg)
{
	if (getenv("VDK_TEST_VERBOSE"))
		fprintf(stderr, "log %d: %s\n", level, msg);
}

/* Rescue mode for the next env_open(). */
static bool g_fail_io;

/* @ops instead of a registered backend's, for the next env_open(). */
static const struct vdk_backend_ops *g_ops;
/* The queues' polling window for the next env_open(): none unless set. */
static int g_poll_us;

static void env_open(struct env *e, const char *backend, unsigned int nq,
		     bool read_only, int argc, char **argv)
{
	struct vdk_params ps = { 0 };
	struct vdk_blk_cfg cfg = { 0 };
	char err[256];
	unsigned int i;

	memset(e, 0, sizeof(*e));
	e->nq = nq;
	e->ops = g_ops ? g_ops : vdk_backend_find(backend);
	CHECK(e->ops);
	CHECK_EQ(vdk_params_parse(&ps, argc, argv, err, sizeof(err)), 0);
	if (e->ops->open(&ps, &e->bdev, err, sizeof(err)) < 0) {
		fprintf(stderr, "open: %s\n", err);
		exit(T_EXIT_FAIL);
	}
	vdk_params_free(&ps);
	CHECK_EQ(sim_new(MEM, &e->s), 0);
	cfg.name = "blk0";
	cfg.backend = e->ops;
	cfg.bdev = e->bdev;
	cfg.num_queues = nq;
	cfg.queue_size = QSIZE;
	cfg.read_only = read_only;
	cfg.fail_io = g_fail_io;
	cfg.poll_us = g_poll_us;
	cfg.serial = "serial-0123456789abcdef";
	cfg.log = quiet;
	cfg.log_level = VDK_LOG_DEBUG;
	e->cfg = cfg;
	CHECK_EQ(vdk__blk_new(&cfg, sim_create, e->s, &e->blk), 0);
	for (i = 0; i < nq; i++)
		sim_vq_setup(e->s, i, QSIZE, RING(i));
	CHECK_EQ(sim_driver_ok(e->s, vdk_blk_dev(e->blk), FEATURES), 0);
}

static void env_close(struct env *e)
{
	CHECK_EQ(sim_set_status(e->s, vdk_blk_dev(e->blk), 0), 0);
	vdk_blk_free(e->blk);
	e->ops->close(e->bdev);
	sim_free(e->s);
}

static uint64_t ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Wait for the completion of @head on queue @q; returns the used len. */
static uint32_t wait_used(struct env *e, unsigned int q, int head)
{
	uint64_t deadline = ms_now() + 10000;
	uint16_t id;
	uint32_t len;

	while (ms_now() < deadline) {
		if (sim_vq_used(e->s, q, &id, &len)) {
			CHECK_EQ(id, head);
			return len;
		}
		usleep(50);
	}
	fprintf(stderr, "request %d on queue %u never completed\n", head, q);
	exit(T_EXIT_FAIL);
}

/*
 * One request: header (type, sector), the @n data buffers of @data,
 * status byte; through an indirect table at @table unless it is 0.
 * Returns the status and sets *used.
 */
static int io_chain(struct env *e, unsigned int q, uint32_t type,
		    uint64_t sector, const struct sim_buf *data, unsigned int n,
		    uint64_t table, uint32_t *used)
{
	struct virtio_blk_outhdr h = {
		.type = htole32(type),
		.sector = htole64(sector),
	};
	struct sim_buf b[QSIZE];
	uint32_t ulen;
	uint8_t st = 0xee;
	int head;

	CHECK(n + 2 <= QSIZE);
	sim_write(e->s, HDR(q), &h, sizeof(h));
	sim_write(e->s, STATUS(q), &st, 1);
	b[0] = (struct sim_buf){ HDR(q), sizeof(h), false };
	memcpy(&b[1], data, n * sizeof(*data));
	b[n + 1] = (struct sim_buf){ STATUS(q), 1, true };
	head = sim_vq_add(e->s, q, b, n + 2, table);
	CHECK(head >= 0);
	sim_vq_kick(e->s, q, true);
	ulen = wait_used(e, q, head);
	if (used)
		*used = ulen;
	sim_read(e->s, STATUS(q), &st, 1);
	return st;
}

/*
 * One request with @len data bytes at DATA(q) (readable for writes,
 * writable otherwise).  Returns the status and sets *used.
 */
static int io(struct env *e, unsigned int q, uint32_t type, uint64_t sector,
	      uint32_t len, bool data_writable, uint32_t *used)
{
	const struct sim_buf d = { DATA(q), len, data_writable };

	return io_chain(e, q, type, sector, &d, len ? 1 : 0, 0, used);
}

static void pattern(unsigned char *p, size_t n, unsigned int seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(seed * 131 + i * 7 + (i >> 9));
}

static int write_blocks(struct env *e, unsigned int q, uint64_t sector,
			uint32_t len, unsigned int seed)
{
	unsigned char *buf = malloc(len);

	pattern(buf, len, seed);
	sim_write(e->s, DATA(q), buf, len);
	free(buf);
	return io(e, q, VIRTIO_BLK_T_OUT, sector, len, false, NULL);
}

static void check_blocks(struct env *e, unsigned int q, uint64_t sector,
			 uint32_t len, unsigned int seed)
{
	unsigned char *want = malloc(len), *got = malloc(len);
	uint32_t used;

	pattern(want, len, seed);
	sim_fill(e->s, DATA(q), 0, len);
	CHECK_EQ(io(e, q, VIRTIO_BLK_T_IN, sector, len, true, &used),
		 VIRTIO_BLK_S_OK);
	CHECK_EQ(used, len + 1);
	sim_read(e->s, DATA(q), got, len);
	CHECK(memcmp(want, got, len) == 0);
	free(want);
	free(got);
}

static void check_zero(struct env *e, unsigned int q, uint64_t sector,
		       uint32_t len)
{
	unsigned char *got = malloc(len);

	sim_fill(e->s, DATA(q), 0x77, len);
	CHECK_EQ(io(e, q, VIRTIO_BLK_T_IN, sector, len, true, NULL),
		 VIRTIO_BLK_S_OK);
	sim_read(e->s, DATA(q), got, len);
	for (uint32_t i = 0; i < len; i++)
		CHECK_EQ(got[i], 0);
	free(got);
}

static int range_op(struct env *e, unsigned int q, uint32_t type,
		    uint64_t sector, uint32_t nsect, uint32_t flags)
{
	struct virtio_blk_discard_write_zeroes seg = {
		.sector = htole64(sector),
		.num_sectors = htole32(nsect),
		.flags = htole32(flags),
	};

	sim_write(e->s, DATA(q), &seg, sizeof(seg));
	return io(e, q, type, 0, sizeof(seg), false, NULL);
}

static const uint64_t DISK = 4u << 20; /* bytes */

static void test_requests(const char *backend, int argc, char **argv)
{
	struct virtio_blk_config cfg;
	const uint8_t *config;
	struct env e;
	uint32_t size, used;
	char id[21] = { 0 };

	env_open(&e, backend, 1, false, argc, argv);
	config = sim_config(e.s, &size);
	/* The whole struct, as drivers that read it at once need. */
	CHECK_EQ(size, BLK_CONFIG_SIZE);
	CHECK(size >= sizeof(cfg));
	memcpy(&cfg, config, sizeof(cfg));
	CHECK_EQ(le64toh(cfg.capacity), DISK / 512);
	CHECK_EQ(le32toh(cfg.blk_size), 512);
	CHECK_EQ(le32toh(cfg.seg_max), QSIZE - 2);
	CHECK(!(sim_device_features(e.s) & (1ull << VIRTIO_BLK_F_CONFIG_WCE)));

	/* Writes and reads of several sizes, the last sector included. */
	CHECK_EQ(write_blocks(&e, 0, 0, 4096, 1), VIRTIO_BLK_S_OK);
	CHECK_EQ(write_blocks(&e, 0, 77, 512, 2), VIRTIO_BLK_S_OK);
	CHECK_EQ(write_blocks(&e, 0, 1000, 65536, 3), VIRTIO_BLK_S_OK);
	CHECK_EQ(write_blocks(&e, 0, DISK / 512 - 1, 512, 4), VIRTIO_BLK_S_OK);
	check_blocks(&e, 0, 0, 4096, 1);
	check_blocks(&e, 0, 77, 512, 2);
	check_blocks(&e, 0, 1000, 65536, 3);
	check_blocks(&e, 0, DISK / 512 - 1, 512, 4);

	/* Out of range, overflowing, misaligned, malformed: IOERR. */
	CHECK_EQ(io(&e, 0, VIRTIO_BLK_T_IN, DISK / 512, 512, true, NULL),
		 VIRTIO_BLK_S_IOERR);
	CHECK_EQ(io(&e, 0, VIRTIO_BLK_T_IN, DISK / 512 - 1, 1024, true, NULL),
		 VIRTIO_BLK_S_IOERR);
	CHECK_EQ(io(&e, 0, VIRTIO_BLK_T_OUT, UINT64_MAX, 512, false, NULL),
		 VIRTIO_BLK_S_IOERR);
	CHECK_EQ(io(&e, 0, VIRTIO_BLK_T_OUT, UINT64_MAX / 512, 512, false,
		    NULL),
		 VIRTIO_BLK_S_IOERR);
	CHECK_EQ(io(&e, 0, VIRTIO_BLK_T_IN, 0, 100, true, NULL),
		 VIRTIO_BLK_S_IOERR);
	CHECK_EQ(io(&e, 0, VIRTIO_BLK_T_OUT, 0, 513, false, NULL),
		 VIRTIO_BLK_S_IOERR);
	/* A read whose data is readable-only: header plus data, no space. */
	CHECK_EQ(io(&e, 0, VIRTIO_BLK_T_IN, 0, 512, false, NULL),
		 VIRTIO_BLK_S_IOERR);
	CHECK_EQ(io(&e, 0, 0x1234, 0, 0, false, NULL), VIRTIO_BLK_S_UNSUPP);
	CHECK_EQ(io(&e, 0, VIRTIO_BLK_T_SCSI_CMD, 0, 0, false, NULL),
		 VIRTIO_BLK_S_UNSUPP);
	/* Data untouched by all that. */
	check_blocks(&e, 0, 0, 4096, 1);

	/* A header cut short: IOERR, still completed. */
	{
		struct sim_buf b[2] = { { HDR(0), 8, false },
					{ STATUS(0), 1, true } };
		uint8_t st;
		int head = sim_vq_add(e.s, 0, b, 2, 0);

		sim_vq_kick(e.s, 0, true);
		CHECK_EQ(wait_used(&e, 0, head), 1);
		sim_read(e.s, STATUS(0), &st, 1);
		CHECK_EQ(st, VIRTIO_BLK_S_IOERR);
	}
	/* No writable byte at all: completed with nothing written. */
	{
		struct sim_buf b[1] = { { HDR(0), 16, false } };
		int head = sim_vq_add(e.s, 0, b, 1, 0);

		sim_vq_kick(e.s, 0, true);
		CHECK_EQ(wait_used(&e, 0, head), 0);
	}

	/* GET_ID and FLUSH. */
	CHECK_EQ(io(&e, 0, VIRTIO_BLK_T_GET_ID, 0, 20, true, &used),
		 VIRTIO_BLK_S_OK);
	CHECK_EQ(used, 21);
	sim_read(e.s, DATA(0), id, 20);
	CHECK(memcmp(id, "serial-0123456789abc", 20) == 0);
	CHECK_EQ(io(&e, 0, VIRTIO_BLK_T_FLUSH, 0, 0, false, NULL),
		 VIRTIO_BLK_S_OK);

	/* DISCARD and WRITE_ZEROES read back as zeros. */
	CHECK_EQ(write_blocks(&e, 0, 2048, 16384, 5), VIRTIO_BLK_S_OK);
	CHECK_EQ(range_op(&e, 0, VIRTIO_BLK_T_WRITE_ZEROES, 2048, 8, 0),
		 VIRTIO_BLK_S_OK);
	check_zero(&e, 0, 2048, 4096);
	CHECK_EQ(range_op(&e, 0, VIRTIO_BLK_T_WRITE_ZEROES, 2056, 8,
			  VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP),
		 VIRTIO_BLK_S_OK);
	check_zero(&e, 0, 2056, 4096);
	if (sim_device_features(e.s) & (1ull << VIRTIO_BLK_F_DISCARD)) {
		CHECK_EQ(range_op(&e, 0, VIRTIO_BLK_T_DISCARD, 2064, 8, 0),
			 VIRTIO_BLK_S_OK);
		check_zero(&e, 0, 2064, 4096);
		/* Flags are reserved for discard. */
		CHECK_EQ(range_op(&e, 0, VIRTIO_BLK_T_DISCARD, 2064, 8, 1),
			 VIRTIO_BLK_S_UNSUPP);
	}
	CHECK_EQ(range_op(&e, 0, VIRTIO_BLK_T_WRITE_ZEROES, 2072, 8, 0x80),
		 VIRTIO_BLK_S_UNSUPP);
	CHECK_EQ(range_op(&e, 0, VIRTIO_BLK_T_WRITE_ZEROES, DISK / 512 - 4, 8,
			  0),
		 VIRTIO_BLK_S_IOERR);
	CHECK_EQ(range_op(&e, 0, VIRTIO_BLK_T_WRITE_ZEROES, 0, 0, 0),
		 VIRTIO_BLK_S_IOERR);
	/* The rest of the range written before is intact. */
	{
		unsigned char want[16384], got[4096];

		pattern(want, sizeof(want), 5);
		sim_fill(e.s, DATA(0), 0, 4096);
		CHECK_EQ(io(&e, 0, VIRTIO_BLK_T_IN, 2072, 4096, true, NULL),
			 VIRTIO_BLK_S_OK);
		sim_read(e.s, DATA(0), got, 4096);
		CHECK(memcmp(got, want + 12288, 4096) == 0);
	}
	env_close(&e);
}

static void test_read_only(const char *backend, int argc, char **argv)
{
	struct env e;

	env_open(&e, backend, 1, true, argc, argv);
	CHECK(sim_device_features(e.s) & (1ull << VIRTIO_BLK_F_RO));
	CHECK_EQ(write_blocks(&e, 0, 0, 4096, 9), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(range_op(&e, 0, VIRTIO_BLK_T_WRITE_ZEROES, 0, 8, 0),
		 VIRTIO_BLK_S_IOERR);
	CHECK_EQ(io(&e, 0, VIRTIO_BLK_T_IN, 0, 4096, true, NULL),
		 VIRTIO_BLK_S_OK);
	env_close(&e);
}

/* Rescue: every request fails, none hangs, the backend is not touched. */
static void test_fail_io(const char *backend, int argc, char **argv)
{
	struct env e;

	g_fail_io = true;
	env_open(&e, backend, 2, false, argc, argv);
	g_fail_io = false;
	CHECK_EQ(io(&e, 0, VIRTIO_BLK_T_IN, 0, 4096, true, NULL),
		 VIRTIO_BLK_S_IOERR);
	CHECK_EQ(write_blocks(&e, 1, 8, 4096, 1), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(io(&e, 0, VIRTIO_BLK_T_FLUSH, 0, 0, false, NULL),
		 VIRTIO_BLK_S_IOERR);
	env_close(&e);
}

struct mq_arg {
	struct env *e;
	unsigned int q;
};

static void *mq_worker(void *p)
{
	struct mq_arg *a = p;
	unsigned int i;

	for (i = 0; i < 200; i++) {
		uint64_t sector = a->q * 2048 + (i % 32) * 8;

		CHECK_EQ(write_blocks(a->e, a->q, sector, 4096, i + a->q),
			 VIRTIO_BLK_S_OK);
		check_blocks(a->e, a->q, sector, 4096, i + a->q);
	}
	return NULL;
}

static void test_multiqueue(const char *backend, int argc, char **argv)
{
	struct mq_arg a[4];
	pthread_t t[4];
	struct env e;
	unsigned int i;

	env_open(&e, backend, 4, false, argc, argv);
	CHECK(sim_device_features(e.s) & (1ull << VIRTIO_BLK_F_MQ));
	for (i = 0; i < 4; i++) {
		a[i] = (struct mq_arg){ &e, i };
		CHECK_EQ(pthread_create(&t[i], NULL, mq_worker, &a[i]), 0);
	}
	for (i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	env_close(&e);
}

/* `vdk stat`'s counters: by kind and queue, errors, latency, none left. */
static void test_stats(void)
{
	char *ram[] = { "size=4M" };
	struct vdk_blk_qstats qs;
	uint64_t lat = 0, done = 0;
	struct env e;
	unsigned int i;

	env_open(&e, "ram", 2, false, 1, ram);
	for (i = 0; i < 3; i++)
		CHECK_EQ(write_blocks(&e, 0, i * 8, 4096, i), VIRTIO_BLK_S_OK);
	check_blocks(&e, 0, 0, 4096, 0);
	check_blocks(&e, 0, 8, 4096, 1);
	CHECK_EQ(io(&e, 0, VIRTIO_BLK_T_IN, DISK / 512, 512, true, NULL),
		 VIRTIO_BLK_S_IOERR);
	CHECK_EQ(io(&e, 0, 0x1234, 0, 0, false, NULL), VIRTIO_BLK_S_UNSUPP);
	CHECK_EQ(write_blocks(&e, 1, 64, 512, 9), VIRTIO_BLK_S_OK);

	CHECK_EQ(vdk_blk_get_qstats(e.blk, 0, &qs), 0);
	CHECK_EQ(qs.requests[VDK_BLK_STAT_WRITE], 3);
	CHECK_EQ(qs.bytes[VDK_BLK_STAT_WRITE], 3 * 4096);
	CHECK_EQ(qs.requests[VDK_BLK_STAT_READ], 3);
	CHECK_EQ(qs.bytes[VDK_BLK_STAT_READ], 2 * 4096); /* not the failed */
	CHECK_EQ(qs.requests[VDK_BLK_STAT_OTHER], 1);
	CHECK_EQ(qs.requests[VDK_BLK_STAT_FLUSH], 0);
	CHECK_EQ(qs.errors, 2);
	CHECK_EQ(qs.in_flight, 0);
	for (i = 0; i < VDK_BLK_STAT_KINDS; i++)
		done += qs.requests[i];
	for (i = 0; i < VDK_BLK_LAT_BUCKETS; i++)
		lat += qs.latency[i];
	CHECK_EQ(lat, done);
	/* The simulator answers in far less than 2^30 us. */
	CHECK_EQ(qs.latency[VDK_BLK_LAT_BUCKETS - 1], 0);

	CHECK_EQ(vdk_blk_get_qstats(e.blk, 1, &qs), 0);
	CHECK_EQ(qs.requests[VDK_BLK_STAT_WRITE], 1);
	CHECK_EQ(qs.bytes[VDK_BLK_STAT_WRITE], 512);
	CHECK_EQ(qs.requests[VDK_BLK_STAT_READ], 0);
	CHECK_EQ(qs.errors, 0);
	CHECK_EQ(vdk_blk_get_qstats(e.blk, 2, &qs), -EINVAL);
	env_close(&e);

	CHECK_EQ(vdk_blk_lat_bucket(0), 0);
	CHECK_EQ(vdk_blk_lat_bucket(999), 0);
	CHECK_EQ(vdk_blk_lat_bucket(1000), 1);
	CHECK_EQ(vdk_blk_lat_bucket(1999), 1);
	CHECK_EQ(vdk_blk_lat_bucket(2000), 2);
	CHECK_EQ(vdk_blk_lat_bucket(1000000), 10);  /* 1 ms: [512, 1024) */
	CHECK_EQ(vdk_blk_lat_bucket(UINT64_MAX), VDK_BLK_LAT_BUCKETS - 1);
}

/* A file that shrinks under the device: reads past its end fail. */
static void test_backend_error_and_resize(void)
{
	char path[] = "/tmp/vdk-test-blk-XXXXXX";
	char arg[128];
	char *argv[1] = { arg };
	struct virtio_blk_config cfg;
	const uint8_t *config;
	unsigned int irqs;
	uint32_t size;
	struct env e;
	int fd;

	fd = mkstemp(path);
	CHECK(fd >= 0);
	CHECK_EQ(ftruncate(fd, 1 << 20), 0);
	snprintf(arg, sizeof(arg), "path=%s", path);
	env_open(&e, "file", 1, false, 1, argv);
	CHECK_EQ(write_blocks(&e, 0, 1024, 4096, 3), VIRTIO_BLK_S_OK);
	check_blocks(&e, 0, 1024, 4096, 3);

	/* Shrink behind the device's back: I/O error, and it keeps going. */
	CHECK_EQ(ftruncate(fd, 256 << 10), 0);
	CHECK_EQ(io(&e, 0, VIRTIO_BLK_T_IN, 1024, 4096, true, NULL),
		 VIRTIO_BLK_S_IOERR);
	check_zero(&e, 0, 0, 512);
	/* Resize reaches the driver through a config interrupt. */
	irqs = sim_config_irqs(e.s);
	CHECK_EQ(ftruncate(fd, 2 << 20), 0);
	CHECK_EQ(vdk_blk_resize(e.blk), 0);
	CHECK_EQ(sim_config_irqs(e.s), irqs + 1);
	config = sim_config(e.s, &size);
	CHECK(size >= sizeof(cfg));
	memcpy(&cfg, config, sizeof(cfg));
	CHECK_EQ(le64toh(cfg.capacity), (2 << 20) / 512);
	CHECK_EQ(write_blocks(&e, 0, 4000, 4096, 8), VIRTIO_BLK_S_OK);
	check_blocks(&e, 0, 4000, 4096, 8);
	/* Same size again: nothing sent. */
	CHECK_EQ(vdk_blk_resize(e.blk), 0);
	CHECK_EQ(sim_config_irqs(e.s), irqs + 1);
	env_close(&e);
	close(fd);
	unlink(path);
}

struct event_arg {
	struct vdk_blk *blk;
	enum vdk_backend_event ev;
	unsigned int qidx;
};

/* A backend's event from a thread of its own, as librbd's watch. */
static void *event_thread(void *p)
{
	struct event_arg *a = p;

	vdk_blk_backend_event(a->blk, a->ev, a->qidx);
	return NULL;
}

static void backend_event_from_thread(struct vdk_blk *blk,
				      enum vdk_backend_event ev,
				      unsigned int qidx)
{
	struct event_arg a = { blk, ev, qidx };
	pthread_t t;

	CHECK_EQ(pthread_create(&t, NULL, event_thread, &a), 0);
	CHECK_EQ(pthread_join(t, NULL), 0);
}

static int sighups;
static void on_sighup(int sig)
{
	(void)sig;
	sighups++;
}

static bool fd_readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, 0) == 1;
}

/*
 * The backend's events reach the device through its ops table: a size
 * change becomes a new capacity and a configuration interrupt (and
 * changed_fd() for the daemon), with no signal; LOST and RESTORED are
 * counted by queue; a queue the device does not have is ignored.
 */
static void test_backend_events(void)
{
	char path[] = "/tmp/vdk-test-blk-XXXXXX";
	char arg[128];
	char *argv[1] = { arg };
	struct virtio_blk_config cfg;
	struct vdk_blk_info bi;
	const uint8_t *config;
	unsigned int irqs;
	uint32_t size;
	struct env e;
	int fd;

	CHECK(signal(SIGHUP, on_sighup) != SIG_ERR);
	fd = mkstemp(path);
	CHECK(fd >= 0);
	CHECK_EQ(ftruncate(fd, 1 << 20), 0);
	snprintf(arg, sizeof(arg), "path=%s", path);
	env_open(&e, "file", 2, false, 1, argv);
	CHECK(vdk_blk_changed_fd(e.blk) >= 0);
	CHECK(!fd_readable(vdk_blk_changed_fd(e.blk)));

	/* Nothing changed: no interrupt, nothing for the daemon. */
	irqs = sim_config_irqs(e.s);
	backend_event_from_thread(e.blk, VDK_BACKEND_EV_RESIZED, 0);
	vdk__blk_run_events(e.blk);
	CHECK_EQ(sim_config_irqs(e.s), irqs);
	CHECK(!vdk_blk_changed(e.blk));

	/* Grown, told twice before the control thread runs: one update. */
	CHECK_EQ(ftruncate(fd, 3 << 20), 0);
	backend_event_from_thread(e.blk, VDK_BACKEND_EV_RESIZED, 0);
	backend_event_from_thread(e.blk, VDK_BACKEND_EV_RESIZED, 0);
	vdk__blk_run_events(e.blk);
	vdk__blk_run_events(e.blk);
	CHECK_EQ(sim_config_irqs(e.s), irqs + 1);
	config = sim_config(e.s, &size);
	CHECK(size >= sizeof(cfg));
	memcpy(&cfg, config, sizeof(cfg));
	CHECK_EQ(le64toh(cfg.capacity), (3 << 20) / 512);
	vdk_blk_get_info(e.blk, &bi);
	CHECK_EQ(bi.size, 3u << 20);
	CHECK(fd_readable(vdk_blk_changed_fd(e.blk)));
	CHECK(vdk_blk_changed(e.blk));
	CHECK(!vdk_blk_changed(e.blk));
	CHECK_EQ(write_blocks(&e, 0, 5000, 4096, 4), VIRTIO_BLK_S_OK);
	check_blocks(&e, 0, 5000, 4096, 4);

	/* `vdk resize` (the application's call) is not a change to tell. */
	CHECK_EQ(ftruncate(fd, 4 << 20), 0);
	CHECK_EQ(vdk_blk_resize(e.blk), 0);
	CHECK_EQ(sim_config_irqs(e.s), irqs + 2);
	CHECK(!vdk_blk_changed(e.blk));

	/* A size that is no whole number of blocks: refused, kept. */
	CHECK_EQ(ftruncate(fd, (4 << 20) + 100), 0);
	backend_event_from_thread(e.blk, VDK_BACKEND_EV_RESIZED, 0);
	vdk__blk_run_events(e.blk);
	CHECK_EQ(sim_config_irqs(e.s), irqs + 2);
	vdk_blk_get_info(e.blk, &bi);
	CHECK_EQ(bi.size, 4u << 20);
	CHECK(!vdk_blk_changed(e.blk));

	/* Lost and restored, by queue. */
	vdk_blk_get_info(e.blk, &bi);
	CHECK_EQ(bi.lost_queues, 0u);
	backend_event_from_thread(e.blk, VDK_BACKEND_EV_LOST, 1);
	backend_event_from_thread(e.blk, VDK_BACKEND_EV_LOST, 1);
	backend_event_from_thread(e.blk, VDK_BACKEND_EV_LOST, 0);
	vdk_blk_get_info(e.blk, &bi);
	CHECK_EQ(bi.lost_queues, 2u);
	backend_event_from_thread(e.blk, VDK_BACKEND_EV_RESTORED, 1);
	vdk_blk_get_info(e.blk, &bi);
	CHECK_EQ(bi.lost_queues, 1u);
	backend_event_from_thread(e.blk, VDK_BACKEND_EV_LOST, 2);
	backend_event_from_thread(e.blk, VDK_BACKEND_EV_LOST, 64);
	backend_event_from_thread(e.blk, VDK_BACKEND_EV_RESTORED, 0);
	vdk_blk_get_info(e.blk, &bi);
	CHECK_EQ(bi.lost_queues, 0u);
	backend_event_from_thread(e.blk, (enum vdk_backend_event)99, 0);

	CHECK_EQ(sighups, 0);
	env_close(&e);
	close(fd);
	unlink(path);
	signal(SIGHUP, SIG_DFL);
}

/*
 * seg_max is the queue size less the header and the status; a request
 * with that many data segments, scattered, through an indirect table
 * (a chain as long as the queue), writes and reads back whole.
 */
static void test_max_segments(void)
{
	const unsigned int nseg = QSIZE - 2, seg = 512;
	const uint64_t table = HDR(0) + 0xc0000;
	struct virtio_blk_config cfg;
	struct sim_buf b[QSIZE - 2];
	unsigned char *want = malloc(nseg * seg), *got = malloc(seg);
	char *ram[] = { "size=4M" };
	const void *config;
	struct env e;
	uint32_t size, used;

	/* At most BLK_SEG_MAX, whatever the queue size. */
	CHECK_EQ(blk_seg_max(1024), BLK_SEG_MAX);
	CHECK_EQ(blk_seg_max(256), 254);
	CHECK_EQ(blk_seg_max(2), 1);
	env_open(&e, "ram", 1, false, 1, ram);
	config = sim_config(e.s, &size);
	memcpy(&cfg, config, sizeof(cfg));
	CHECK_EQ(le32toh(cfg.seg_max), QSIZE - 2);
	pattern(want, nseg * seg, 9);
	for (unsigned int pass = 0; pass < 2; pass++) {
		bool rd = pass == 1;

		/* Every other 512 bytes, backwards on the read. */
		for (unsigned int i = 0; i < nseg; i++) {
			unsigned int slot = rd ? nseg - 1 - i : i;
			uint64_t at = DATA(0) + (uint64_t)slot * 2 * seg;

			if (rd)
				sim_fill(e.s, at, 0, seg);
			else
				sim_write(e.s, at, want + (size_t)i * seg, seg);
			b[i] = (struct sim_buf){ at, seg, rd };
		}
		CHECK_EQ(io_chain(&e, 0, rd ? VIRTIO_BLK_T_IN : VIRTIO_BLK_T_OUT,
				  8, b, nseg, table, &used),
			 VIRTIO_BLK_S_OK);
		CHECK_EQ(used, rd ? nseg * seg + 1 : 1);
	}
	for (unsigned int i = 0; i < nseg; i++) {
		uint64_t at = DATA(0) + (uint64_t)(nseg - 1 - i) * 2 * seg;

		sim_read(e.s, at, got, seg);
		CHECK(memcmp(got, want + (size_t)i * seg, seg) == 0);
	}
	check_blocks(&e, 0, 8, nseg * seg, 9);
	env_close(&e);
	free(want);
	free(got);
}

/*
 * A backend that keeps every read and write until the test lets go
 * (hold_release), then completes them from reap(): what the device hands
 * a slow asynchronous backend, counted.
 */
struct vdk_bdev {
	uint64_t size;
	uint32_t block_size;
};

#define HOLD_MAX 256

struct vdk_bq {
	int efd;
	unsigned int n;
	struct vdk_bio *bio[HOLD_MAX];
};

static struct {
	_Atomic bool release;
	_Atomic uint64_t calls, done, held_bytes, max_held_bytes, max_len;
	_Atomic uint64_t reaps;
	struct vdk_bq *q;
} hold;

static int hold_open(struct vdk_params *ps, struct vdk_bdev **out, char *err,
		     size_t errlen)
{
	struct vdk_bdev *b = calloc(1, sizeof(*b));
	const char *bs = vdk_params_get(ps, "block-size");

	CHECK(b);
	b->size = 1ull << 40;
	b->block_size = bs ? (uint32_t)atoi(bs) : 512;
	*out = b;
	return 0;
}

static void hold_close(struct vdk_bdev *b)
{
	free(b);
}

static int hold_info(struct vdk_bdev *b, struct vdk_backend_info *info)
{
	*info = (struct vdk_backend_info){ .size = b->size,
					   .block_size = b->block_size };
	return 0;
}

static int hold_queue_open(struct vdk_bdev *b, unsigned int qidx,
			   unsigned int depth, struct vdk_bq **out)
{
	struct vdk_bq *q = calloc(1, sizeof(*q));

	CHECK(q && depth <= HOLD_MAX);
	q->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	CHECK(q->efd >= 0);
	hold.q = q;
	*out = q;
	return 0;
}

static void hold_queue_close(struct vdk_bq *q)
{
	CHECK_EQ(q->n, 0);
	close(q->efd);
	hold.q = NULL;
	free(q);
}

static int hold_queue_fd(struct vdk_bq *q)
{
	return q->efd;
}

static int hold_rw(struct vdk_bq *q, struct vdk_bio *bio)
{
	uint64_t held = hold.held_bytes += bio->len;

	CHECK(q->n < HOLD_MAX);
	hold.calls++;
	if (bio->len > hold.max_len)
		hold.max_len = bio->len;
	if (held > hold.max_held_bytes)
		hold.max_held_bytes = held;
	q->bio[q->n++] = bio;
	if (hold.release) {
		uint64_t one = 1;

		CHECK_EQ(write(q->efd, &one, sizeof(one)), sizeof(one));
	}
	return 0;
}

static int hold_reap(struct vdk_bq *q)
{
	unsigned int i, n = q->n;
	uint64_t v;

	hold.reaps++;
	if (read(q->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return -errno;
	if (!hold.release)
		return 0;
	q->n = 0;
	for (i = 0; i < n; i++) {
		hold.held_bytes -= q->bio[i]->len;
		hold.done++;
		q->bio[i]->done(q->bio[i], 0);
	}
	return (int)n;
}

static const struct vdk_backend_ops hold_ops = {
	.name = "hold",
	.open = hold_open,
	.close = hold_close,
	.info = hold_info,
	.queue_open = hold_queue_open,
	.queue_close = hold_queue_close,
	.queue_fd = hold_queue_fd,
	.read = hold_rw,
	.write = hold_rw,
	.reap = hold_reap,
};

static void hold_let_go(void)
{
	uint64_t one = 1;

	hold.release = true;
	if (hold.q)
		CHECK_EQ(write(hold.q->efd, &one, sizeof(one)), sizeof(one));
}

/*
 * A request alone on a backend with a completion fd: the queue sleeps on
 * the fd at once, unless the backend asks to be polled (poll_lone), and
 * then it calls reap() again and again for its window, and sleeps after.
 */
static uint64_t lone_reaps(bool poll_lone)
{
	struct virtio_blk_outhdr h = { .type = htole32(VIRTIO_BLK_T_IN) };
	struct vdk_backend_ops ops = hold_ops;
	char *bs512[] = { "block-size=512" };
	struct sim_buf b[3];
	uint64_t reaps, later;
	struct env e;
	int head;

	memset(&hold, 0, sizeof(hold));
	ops.poll_lone = poll_lone;
	g_ops = &ops;
	g_poll_us = -1; /* the default window */
	env_open(&e, NULL, 1, false, 1, bs512);
	g_poll_us = 0;
	sim_write(e.s, HDR(0), &h, sizeof(h));
	b[0] = (struct sim_buf){ HDR(0), sizeof(h), false };
	b[1] = (struct sim_buf){ DATA(0), 4096, true };
	b[2] = (struct sim_buf){ STATUS(0), 1, true };
	head = sim_vq_add(e.s, 0, b, 3, 0);
	CHECK(head >= 0);
	sim_vq_kick(e.s, 0, true);
	usleep(100000);
	CHECK_EQ(hold.calls, 1);
	reaps = hold.reaps;
	/* Past the window (200 us), the queue sleeps: no more reaps. */
	usleep(50000);
	later = hold.reaps;
	CHECK_EQ(later, reaps);
	hold_let_go();
	CHECK_EQ(wait_used(&e, 0, head), 4097);
	env_close(&e);
	g_ops = NULL;
	return reaps;
}

static void test_poll_lone(void)
{
	uint64_t asleep = lone_reaps(false), polled = lone_reaps(true);

	fprintf(stderr, "test_poll_lone: %llu reaps asleep, %llu polled\n",
		(unsigned long long)asleep, (unsigned long long)polled);
	CHECK(asleep <= 3);
	CHECK(polled >= 8);
}

/*
 * What one request may carry is what the device advertises, seg_max
 * segments of size_max bytes: beyond it, IOERR before any backend sees
 * it, however the descriptors alias the same few pages.  Offsets and
 * lengths off the advertised block size fail the same way.
 */
static void test_request_bounds(void)
{
	const uint64_t table = HDR(0) + 0xc0000;
	const uint64_t max = blk_req_max_bytes(QSIZE - 2);
	char *bs512[] = { "block-size=512" }, *bs4k[] = { "block-size=4096" };
	struct virtio_blk_config cfg;
	struct sim_buf b[QSIZE - 2];
	uint64_t calls;
	struct env e;
	uint32_t size;

	memset(&hold, 0, sizeof(hold));
	hold.release = true;
	g_ops = &hold_ops;
	env_open(&e, NULL, 1, false, 1, bs512);
	memcpy(&cfg, sim_config(e.s, &size), sizeof(cfg));
	CHECK_EQ(le32toh(cfg.size_max), BLK_SIZE_MAX);
	CHECK_EQ(le32toh(cfg.seg_max), QSIZE - 2);
	CHECK(max < (16u << 20));

	/* At the bound: every segment the same 64 KiB, read and written. */
	for (unsigned int i = 0; i < QSIZE - 2; i++)
		b[i] = (struct sim_buf){ DATA(0), BLK_SIZE_MAX, true };
	CHECK_EQ(io_chain(&e, 0, VIRTIO_BLK_T_IN, 0, b, QSIZE - 2, table,
			  NULL),
		 VIRTIO_BLK_S_OK);
	CHECK_EQ(hold.max_len, max);
	for (unsigned int i = 0; i < QSIZE - 2; i++)
		b[i].write = false;
	CHECK_EQ(io_chain(&e, 0, VIRTIO_BLK_T_OUT, 0, b, QSIZE - 2, table,
			  NULL),
		 VIRTIO_BLK_S_OK);

	/* A sector past it, and far past it (126 x 4 MiB = 504 MiB). */
	calls = hold.calls;
	for (unsigned int i = 0; i < QSIZE - 2; i++)
		b[i] = (struct sim_buf){ DATA(0), i ? BLK_SIZE_MAX : 
					 BLK_SIZE_MAX + 512, true };
	CHECK_EQ(io_chain(&e, 0, VIRTIO_BLK_T_IN, 0, b, QSIZE - 2, table,
			  NULL),
		 VIRTIO_BLK_S_IOERR);
	for (unsigned int i = 0; i < QSIZE - 2; i++)
		b[i] = (struct sim_buf){ DATA(0), 4u << 20, false };
	CHECK_EQ(io_chain(&e, 0, VIRTIO_BLK_T_OUT, 0, b, QSIZE - 2, table,
			  NULL),
		 VIRTIO_BLK_S_IOERR);
	for (unsigned int i = 0; i < QSIZE - 2; i++)
		b[i].write = true;
	CHECK_EQ(io_chain(&e, 0, VIRTIO_BLK_T_IN, 0, b, QSIZE - 2, table,
			  NULL),
		 VIRTIO_BLK_S_IOERR);
	CHECK_EQ(hold.calls, calls);
	CHECK_EQ(hold.done, hold.calls);
	env_close(&e);

	/* 4 KiB blocks: 512-byte offsets and lengths are refused. */
	env_open(&e, NULL, 1, false, 1, bs4k);
	calls = hold.calls;
	CHECK_EQ(io(&e, 0, VIRTIO_BLK_T_IN, 1, 4096, true, NULL),
		 VIRTIO_BLK_S_IOERR);
	CHECK_EQ(io(&e, 0, VIRTIO_BLK_T_IN, 8, 512, true, NULL),
		 VIRTIO_BLK_S_IOERR);
	CHECK_EQ(io(&e, 0, VIRTIO_BLK_T_OUT, 8, 4096 + 512, false, NULL),
		 VIRTIO_BLK_S_IOERR);
	CHECK_EQ(hold.calls, calls);
	CHECK_EQ(io(&e, 0, VIRTIO_BLK_T_IN, 8, 4096, true, NULL),
		 VIRTIO_BLK_S_OK);
	CHECK_EQ(hold.calls, calls + 1);
	env_close(&e);
	g_ops = NULL;
}

/*
 * The same bound on a backend's own bounce path: the file backend with
 * direct=on, whose buffers here (the simulator's heap) are not aligned
 * for O_DIRECT.  At the bound, data written through aliased segments
 * reads back; past it, IOERR and the file untouched.
 */
static void test_request_bounds_file_direct(void)
{
	const uint64_t table = HDR(0) + 0xc0000;
	const unsigned int nseg = QSIZE - 2;
	const uint64_t max = blk_req_max_bytes(nseg);
	char path[] = "/var/tmp/vdk-test-blk-XXXXXX", arg[128];
	char *argv[] = { arg, "direct=on" };
	unsigned char *seg = malloc(BLK_SIZE_MAX), *got = malloc(BLK_SIZE_MAX);
	struct sim_buf b[QSIZE - 2];
	struct stat st;
	struct env e;
	int fd;

	fd = mkstemp(path);
	CHECK(fd >= 0);
	CHECK_EQ(ftruncate(fd, 2 * max), 0);
	snprintf(arg, sizeof(arg), "path=%s", path);
	pattern(seg, BLK_SIZE_MAX, 5);
	env_open(&e, "file", 1, false, 2, argv);
	sim_write(e.s, DATA(0), seg, BLK_SIZE_MAX);
	for (unsigned int i = 0; i < nseg; i++)
		b[i] = (struct sim_buf){ DATA(0), BLK_SIZE_MAX, false };
	CHECK_EQ(io_chain(&e, 0, VIRTIO_BLK_T_OUT, 0, b, nseg, table, NULL),
		 VIRTIO_BLK_S_OK);
	b[0].len += 4096;
	CHECK_EQ(io_chain(&e, 0, VIRTIO_BLK_T_OUT, max / 512, b, nseg, table,
			  NULL),
		 VIRTIO_BLK_S_IOERR);
	env_close(&e);
	CHECK_EQ(fstat(fd, &st), 0);
	for (uint64_t off = 0; off < 2 * max; off += BLK_SIZE_MAX) {
		CHECK_EQ(pread(fd, got, BLK_SIZE_MAX, (off_t)off),
			 BLK_SIZE_MAX);
		if (off < max) {
			CHECK(memcmp(got, seg, BLK_SIZE_MAX) == 0);
		} else {
			for (unsigned int i = 0; i < BLK_SIZE_MAX; i++)
				CHECK_EQ(got[i], 0);
		}
	}
	close(fd);
	unlink(path);
	free(seg);
	free(got);
}

/*
 * A queue hands its backend at most BLK_QUEUE_BYTES_MAX of reads and
 * writes (plus the one request that crossed it): a driver that posts
 * every request of its ring at the largest size does not make a backend
 * that bounces hold ring size x request size.  Once the backend lets
 * go, every request completes, once.
 */
static void test_inflight_bytes_bound(void)
{
	const unsigned int nreq = 64, nseg = QSIZE - 2;
	const uint64_t max = blk_req_max_bytes(nseg);
	const uint64_t tables = 0x300000, statuses = 0x400000;
	struct virtio_blk_outhdr h = { .type = htole32(VIRTIO_BLK_T_IN) };
	char *bs512[] = { "block-size=512" };
	struct sim_buf b[QSIZE];
	unsigned int seen[64] = { 0 }, got = 0;
	uint64_t deadline;
	struct env e;

	memset(&hold, 0, sizeof(hold));
	g_ops = &hold_ops;
	env_open(&e, NULL, 1, false, 1, bs512);
	sim_write(e.s, HDR(0), &h, sizeof(h));
	b[0] = (struct sim_buf){ HDR(0), sizeof(h), false };
	for (unsigned int i = 0; i < nseg; i++)
		b[1 + i] = (struct sim_buf){ DATA(0), BLK_SIZE_MAX, true };
	for (unsigned int r = 0; r < nreq; r++) {
		b[nseg + 1] = (struct sim_buf){ statuses + r, 1, true };
		sim_fill(e.s, statuses + r, 0xee, 1);
		CHECK(sim_vq_add(e.s, 0, b, nseg + 2, tables + r * 0x1000) >=
		      0);
	}
	sim_vq_kick(e.s, 0, true);
	/* Let the queue take all it will. */
	for (unsigned int i = 0; i < 50; i++) {
		uint64_t c = hold.calls;

		usleep(20000);
		if (i > 5 && c == hold.calls)
			break;
	}
	CHECK(hold.calls > 0);
	CHECK(hold.calls < nreq);
	CHECK(hold.max_held_bytes <= BLK_QUEUE_BYTES_MAX + max);
	hold_let_go();
	deadline = ms_now() + 10000;
	while (got < nreq && ms_now() < deadline) {
		uint16_t id;
		uint32_t len;

		if (!sim_vq_used(e.s, 0, &id, &len)) {
			usleep(100);
			continue;
		}
		CHECK(id < 64);
		CHECK_EQ(seen[id]++, 0);
		CHECK_EQ(len, max + 1);
		got++;
	}
	CHECK_EQ(got, nreq);
	for (unsigned int r = 0; r < nreq; r++) {
		uint8_t st;

		sim_read(e.s, statuses + r, &st, 1);
		CHECK_EQ(st, VIRTIO_BLK_S_OK);
	}
	CHECK_EQ(hold.calls, nreq);
	CHECK_EQ(hold.done, nreq);
	CHECK(hold.max_held_bytes <= BLK_QUEUE_BYTES_MAX + max);
	env_close(&e);
	g_ops = NULL;
}

/*
 * A chain the library refuses is completed in the used ring; the driver
 * must also be told (an interrupt), or it waits for it forever when
 * nothing else completes.
 */
static void test_refused_is_signalled(void)
{
	char *ram[] = { "size=4M" };
	uint64_t deadline;
	unsigned int irqs;
	struct env e;
	uint16_t id;
	uint32_t len;

	env_open(&e, "ram", 1, false, 1, ram);
	irqs = sim_vq_irqs(e.s, 0);
	/* Head 0 chains to an index past the ring. */
	sim_vq_raw_desc(e.s, 0, 0, HDR(0), 16, VRING_DESC_F_NEXT, QSIZE + 5);
	sim_vq_raw_avail(e.s, 0, 0);
	sim_vq_raw_avail_idx(e.s, 0, (uint16_t)(sim_vq_avail_idx(e.s, 0) + 1));
	sim_vq_kick(e.s, 0, true);
	deadline = ms_now() + 10000;
	while (!sim_vq_used(e.s, 0, &id, &len) && ms_now() < deadline)
		usleep(100);
	CHECK_EQ(id, 0);
	CHECK_EQ(len, 0);
	while (sim_vq_irqs(e.s, 0) == irqs && ms_now() < deadline)
		usleep(100);
	CHECK(sim_vq_irqs(e.s, 0) > irqs);
	env_close(&e);
}

/*
 * The nbd backend behind the device, its queue threads driving the
 * connection (commit, poll, reap), on an nbdkit memory export: every
 * request type, and two queues on two connections.  Skipped without the
 * backend or nbdkit.
 */
/*
 * A daemon that takes over a running device (recovery after a kill):
 * vdk_dev_open() finds the driver ready and starts the queues before
 * vdk__blk_new() has the handle.  The threads serve what waits in the
 * ring at once, while the open is still going on, and must have the
 * device by then.
 */
struct take_over {
	struct sim *s;
	int head;
	uint32_t len;
};

static int take_over_create(void *arg, const struct vdk_dev_cfg *cfg,
			    struct vdk_dev **out)
{
	struct take_over *t = arg;
	uint64_t deadline = ms_now() + 10000;
	uint16_t id;
	int ret;

	ret = sim_dev_new(t->s, cfg, false, out);
	if (ret < 0)
		return ret;
	sim_vq_kick(t->s, 0, true);
	while (!sim_vq_used(t->s, 0, &id, &t->len)) {
		if (ms_now() > deadline) {
			fprintf(stderr, "take-over: request never served\n");
			exit(T_EXIT_FAIL);
		}
		usleep(50);
	}
	CHECK_EQ(id, t->head);
	return 0;
}

static void test_take_over(const char *backend, int argc, char **argv)
{
	struct virtio_blk_outhdr h = { .type = htole32(VIRTIO_BLK_T_IN),
				       .sector = htole64(8) };
	unsigned char want[4096], got[4096];
	struct take_over t = { 0 };
	struct sim_buf b[3];
	struct env e;
	uint8_t st = 0xee;

	env_open(&e, backend, 1, false, argc, argv);
	CHECK_EQ(write_blocks(&e, 0, 8, sizeof(want), 21), VIRTIO_BLK_S_OK);
	/* The daemon goes; the device stays, its driver ready. */
	vdk_blk_free(e.blk);
	e.blk = NULL;
	sim_write(e.s, HDR(0), &h, sizeof(h));
	sim_write(e.s, STATUS(0), &st, 1);
	sim_fill(e.s, DATA(0), 0, sizeof(got));
	b[0] = (struct sim_buf){ HDR(0), sizeof(h), false };
	b[1] = (struct sim_buf){ DATA(0), sizeof(got), true };
	b[2] = (struct sim_buf){ STATUS(0), 1, true };
	t.s = e.s;
	t.head = sim_vq_add(e.s, 0, b, 3, 0);
	CHECK(t.head >= 0);
	CHECK_EQ(vdk__blk_new(&e.cfg, take_over_create, &t, &e.blk), 0);
	CHECK_EQ(t.len, sizeof(got) + 1);
	sim_read(e.s, STATUS(0), &st, 1);
	CHECK_EQ(st, VIRTIO_BLK_S_OK);
	pattern(want, sizeof(want), 21);
	sim_read(e.s, DATA(0), got, sizeof(got));
	CHECK(memcmp(want, got, sizeof(got)) == 0);
	env_close(&e);
}

static void test_nbd(void)
{
	char dir[] = "/tmp/vdk-test-blk-nbd-XXXXXX";
	char sock[128], pidf[128], cmd[512], arg[200];
	char *argv[1] = { arg };
	FILE *f;
	int pid = 0, i;

	if (!vdk_backend_find("nbd") ||
	    system("nbdkit --version >/dev/null 2>&1")) {
		fprintf(stderr, "test_nbd: no nbd backend or no nbdkit: skipped\n");
		return;
	}
	CHECK(mkdtemp(dir));
	snprintf(sock, sizeof(sock), "%s/s", dir);
	snprintf(pidf, sizeof(pidf), "%s/pid", dir);
	snprintf(cmd, sizeof(cmd), "nbdkit -U %s -P %s memory %llu", sock,
		 pidf, (unsigned long long)DISK);
	CHECK_EQ(system(cmd), 0);
	for (i = 0; i < 100 && !pid; i++) {
		f = fopen(pidf, "r");
		if (!f || fscanf(f, "%d", &pid) != 1)
			pid = 0;
		if (f)
			fclose(f);
		if (!pid)
			usleep(50000);
	}
	CHECK(pid > 0);
	snprintf(arg, sizeof(arg), "uri=nbd+unix:///?socket=%s", sock);
	test_requests("nbd", 1, argv);
	test_multiqueue("nbd", 1, argv);
	kill(pid, SIGTERM);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	CHECK_EQ(system(cmd), 0);
}

int main(void)
{
	char *ram[] = { "size=4M" };
	char path[] = "/tmp/vdk-test-blk-XXXXXX";
	char arg[128];
	char *file[1] = { arg };
	int fd;

	test_requests("ram", 1, ram);
	test_read_only("ram", 1, ram);
	test_multiqueue("ram", 1, ram);
	test_fail_io("ram", 1, ram);
	test_stats();

	fd = mkstemp(path);
	CHECK(fd >= 0);
	CHECK_EQ(ftruncate(fd, DISK), 0);
	close(fd);
	snprintf(arg, sizeof(arg), "path=%s", path);
	test_requests("file", 1, file);
	test_multiqueue("file", 1, file);
	test_take_over("ram", 1, ram);
	test_take_over("file", 1, file);
	unlink(path);
	test_nbd();

	test_backend_error_and_resize();
	test_backend_events();
	test_max_segments();
	test_refused_is_signalled();
	test_request_bounds();
	test_request_bounds_file_direct();
	test_inflight_bytes_bound();
	test_poll_lone();
	return T_EXIT_PASS;
}
