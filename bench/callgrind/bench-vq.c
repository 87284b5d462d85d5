/* SPDX-License-Identifier: MIT */
/*
 * The library's data path alone, for callgrind: N requests shaped like
 * virtio-blk 4 KiB reads (a 16-byte readable header, 4096 writable data
 * bytes, a 1-byte writable status) through the simulator.  The driver
 * posts a batch and kicks; the device pops them all, "handles" each by
 * writing its status byte only (no data copy), pushes each, and notifies
 * once per batch; the driver takes the completions and asks to be
 * interrupted after the next batch, as Linux's virtio-blk does.
 *
 *   bench-vq N BATCH [direct|indirect] [log|nolog] [packed]
 *
 * "log" keeps an in-flight log (vdk_dev_cfg.inflight_path) in /dev/shm.
 * "packed": a packed ring (VIRTIO_F_RING_PACKED) instead of a split one.
 * run.sh counts the instructions inside vdk_vq_pop, vdk_vq_push and
 * vdk_vq_notify; everything else here (the simulated driver) is outside
 * the measure.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_ring.h>

#include "sim.h"
#include <vdk/vdk.h>

#define QSIZE 256
#define MEM (8u << 20)
#define RING 0x1000
#define HDRS 0x10000   /* 16 bytes header + 1 byte status per slot */
#define TABLES 0x20000 /* indirect tables, 64 bytes per slot */
#define DATA 0x100000  /* 4 KiB per slot */
#define SLOTS 256

static void die(const char *what, int err)
{
	fprintf(stderr, "bench-vq: %s: %s\n", what, strerror(-err));
	exit(1);
}

int main(int argc, char **argv)
{
	uint64_t features = (1ull << VIRTIO_F_VERSION_1) |
			    (1ull << VIRTIO_F_ACCESS_PLATFORM) |
			    (1ull << VIRTIO_RING_F_EVENT_IDX) |
			    (1ull << VIRTIO_RING_F_INDIRECT_DESC);
	char log_path[64];
	struct vdk_dev_cfg cfg = {
		.name = "bench",
		.device_id = VIRTIO_ID_BLOCK,
		.num_queues = 1,
		.queue_size = QSIZE,
	};
	unsigned long n, batch, done = 0, posted = 0;
	bool indirect, use_log, packed;
	struct vdk_req *reqs[QSIZE];
	struct vdk_dev *dev;
	struct vdk_vq *vq;
	uint16_t used = 0;
	struct sim *s;
	int ret;

	if (argc < 3) {
		fprintf(stderr, "usage: bench-vq N BATCH [direct|indirect] "
				"[log|nolog] [packed]\n");
		return 2;
	}
	n = strtoul(argv[1], NULL, 0);
	batch = strtoul(argv[2], NULL, 0);
	indirect = argc > 3 && strcmp(argv[3], "indirect") == 0;
	use_log = argc > 4 && strcmp(argv[4], "log") == 0;
	packed = argc > 5 && strcmp(argv[5], "packed") == 0;
	if (packed) {
		cfg.flags = VDK_DEV_F_PACKED;
		features |= 1ull << VIRTIO_F_RING_PACKED;
	}
	if (batch == 0 || batch > 64 || n == 0) {
		fprintf(stderr, "bench-vq: 1 <= BATCH <= 64, N > 0\n");
		return 2;
	}
	if (use_log) {
		snprintf(log_path, sizeof(log_path),
			 "/dev/shm/vdk-bench-vq.%d", (int)getpid());
		cfg.inflight_path = log_path;
	}

	ret = sim_new(MEM, &s);
	if (ret < 0)
		die("sim_new", ret);
	ret = sim_dev_new(s, &cfg, true, &dev);
	if (ret < 0)
		die("device", ret);
	if (packed)
		sim_pvq_setup(s, 0, QSIZE, RING);
	else
		sim_vq_setup(s, 0, QSIZE, RING);
	ret = sim_driver_ok(s, dev, features);
	if (ret < 0)
		die("DRIVER_OK", ret);
	vq = vdk_dev_vq(dev, 0);

	while (done < n) {
		unsigned long i, k = batch < n - done ? batch : n - done;
		int got;

		/* Driver: post the batch, ask for one interrupt, kick. */
		for (i = 0; i < k; i++, posted++) {
			unsigned int slot = posted % SLOTS;
			struct virtio_blk_outhdr hdr = {
				.type = VIRTIO_BLK_T_IN,
				.sector = posted * 8,
			};
			struct sim_buf b[3] = {
				{ HDRS + 32ull * slot, sizeof(hdr), false },
				{ DATA + 4096ull * slot, 4096, true },
				{ HDRS + 32ull * slot + 16, 1, true },
			};
			uint64_t table = indirect ? TABLES + 64ull * slot : 0;

			sim_write(s, b[0].iova, &hdr, sizeof(hdr));
			if (sim_vq_add(s, 0, b, 3, table) < 0)
				die("sim_vq_add", -ENOSPC);
		}
		if (packed)
			sim_pvq_set_event(s, 0, VRING_PACKED_EVENT_FLAG_DESC,
					  sim_pvq_used_pos(s, 0));
		else
			sim_vq_set_used_event(s, 0, used);
		sim_vq_kick(s, 0, false);

		/* Device: pop all, write the status byte, push, notify. */
		for (got = 0; got < (int)k; got++) {
			struct iovec *st;

			ret = vdk_vq_pop(vq, &reqs[got]);
			if (ret != 1)
				die("pop", ret < 0 ? ret : -ENODATA);
			st = &reqs[got]->iov[reqs[got]->n_out +
					     reqs[got]->n_in - 1];
			((unsigned char *)st->iov_base)[st->iov_len - 1] =
				VIRTIO_BLK_S_OK;
		}
		for (i = 0; i < k; i++)
			vdk_vq_push(vq, reqs[i], 4097);
		if (vdk_vq_notify(vq) != 1)
			die("notify: no interrupt", -EPROTO);

		/* Driver: take the completions. */
		for (i = 0; i < k; i++) {
			uint16_t id;
			uint32_t len;

			if (sim_vq_used(s, 0, &id, &len) != 1 || len != 4097)
				die("completion", -EPROTO);
			used++;
		}
		done += k;
	}
	printf("%lu requests, batch %lu, %s%s%s: %u interrupts\n", n, batch,
	       indirect ? "indirect" : "direct", use_log ? ", log" : "",
	       packed ? ", packed" : "", sim_vq_irqs(s, 0));
	vdk_dev_close(dev);
	sim_free(s);
	if (use_log)
		unlink(log_path);
	return 0;
}
