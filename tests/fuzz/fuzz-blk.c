/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for virtio-blk request parsing (blk/request.c): the
 * input is a list of requests as a driver could build them, with any
 * type, sector, segment, length and layout, cut anywhere in memory.
 * Each goes through the library's ring and the request handler to the RAM
 * backend.  Checks: every request is completed exactly once, a written
 * status is one of OK, IOERR, UNSUPP, and nothing is read or written
 * outside driver memory or the disk (AddressSanitizer).
 *
 * Input: a cut offset, then per request:
 *   u32 type, u64 sector, u8 layout, u16 data length, u8 header length,
 *   u8 status present, then 16 bytes of discard segment.
 */
#include <endian.h>
#include <string.h>

#include <linux/virtio_blk.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_ring.h>

#include "../../blk/internal.h"
#include "fuzz-input.h"
#include "sim.h"

#define MEM (256u << 10)
#define RING 0x1000
#define HDR 0x10000
#define SEG 0x10100
#define STATUS 0x10200
#define DATA 0x20000
#define QSIZE 32
#define DISK (1u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct vdk_bdev *bdev;
static struct vdk_bq *bq;

static void open_backend(void)
{
	char arg[] = "size=1M", err[256];
	char *argv[] = { arg };
	struct vdk_params ps = { 0 };

	FUZZ_CHECK(vdk_params_parse(&ps, 1, argv, err, sizeof(err)) == 0);
	FUZZ_CHECK(vdk_backend_ram.open(&ps, &bdev, err, sizeof(err)) == 0);
	vdk_params_free(&ps);
	FUZZ_CHECK(vdk_backend_ram.queue_open(bdev, 0, QSIZE, &bq) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = { data, size };
	struct vdk_dev_cfg cfg = {
		.name = "fz",
		.device_id = VIRTIO_ID_BLOCK,
		.num_queues = 1,
		.queue_size = QSIZE,
		.max_iovecs = BLK_MAX_IOVECS,
		.req_priv_size = sizeof(struct blk_req),
	};
	struct blk_shared sh = {
		.ops = &vdk_backend_ram,
		.block_size = 512,
		.seg_max = blk_seg_max(QSIZE),
		.can_flush = true,
		.can_discard = true,
		.can_zero = true,
		.can_zero_unmap = true,
	};
	struct blk_queue q = { .sh = &sh };
	struct vdk_dev *dev;
	struct sim *s;
	uint64_t cut;
	unsigned int n;

	if (!bdev)
		open_backend();
	atomic_init(&sh.size, DISK);
	sh.read_only = size & 1;
	memcpy(sh.serial, "fuzz", 4);
	FUZZ_CHECK(sim_new(MEM, &s) == 0);
	FUZZ_CHECK(sim_dev_new(s, &cfg, true, &dev) == 0);
	cut = HDR + 1 + fuzz_u16(&in) % 0x20000;
	sim_cut(s, &cut, 1);
	sim_vq_setup(s, 0, QSIZE, RING);
	FUZZ_CHECK(sim_driver_ok(s, dev, (1ull << 32) | (1ull << 33) |
					   (1ull << VIRTIO_RING_F_EVENT_IDX)) ==
		   0);
	q.vq = vdk_dev_vq(dev, 0);
	q.bq = bq;

	for (n = 0; n < 64 && in.n; n++) {
		struct virtio_blk_outhdr h = {
			.type = htole32(fuzz_u32(&in)),
			.sector = htole64(fuzz_u64(&in)),
		};
		uint8_t layout = fuzz_u8(&in);
		uint32_t len = fuzz_u16(&in);
		uint32_t hlen = fuzz_u8(&in) % 33;
		bool has_status = fuzz_u8(&in) & 1;
		uint8_t seg[16], st = 0xee, st_after;
		struct sim_buf b[4];
		struct vdk_req *req;
		unsigned int nb = 0, popped = 0;
		uint16_t used_before = sim_vq_used_idx(s, 0);
		uint16_t id;
		uint32_t ulen;

		for (unsigned int i = 0; i < sizeof(seg); i++)
			seg[i] = fuzz_u8(&in);
		sim_write(s, HDR, &h, sizeof(h));
		sim_write(s, SEG, seg, sizeof(seg));
		sim_write(s, STATUS, &st, 1);
		if (hlen)
			b[nb++] = (struct sim_buf){ HDR, hlen, false };
		if (layout & 1)
			b[nb++] = (struct sim_buf){ SEG, 16, false };
		if (len)
			b[nb++] = (struct sim_buf){ DATA, len, layout & 2 };
		if (has_status)
			b[nb++] = (struct sim_buf){ STATUS, 1, true };
		if (!nb || sim_vq_add(s, 0, b, nb, 0) < 0)
			break;
		while (vdk_vq_pop(q.vq, &req) == 1) {
			blk_handle(&q, req);
			popped++;
		}
		/* The ram backend completes inline: all is done here. */
		FUZZ_CHECK((uint16_t)(sim_vq_used_idx(s, 0) - used_before) ==
			   1);
		FUZZ_CHECK(sim_vq_used(s, 0, &id, &ulen) == 1);
		FUZZ_CHECK(vdk_vq_inflight(q.vq) == 0);
		sim_read(s, STATUS, &st_after, 1);
		if (popped && has_status && st_after != 0xee)
			FUZZ_CHECK(st_after <= VIRTIO_BLK_S_UNSUPP);
	}
	vdk_vq_notify(q.vq);
	sim_set_status(s, dev, 0);
	vdk_dev_close(dev);
	sim_free(s);
	return 0;
}
