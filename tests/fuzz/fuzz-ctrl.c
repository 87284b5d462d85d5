/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: control messages and memory changes interleaved with
 * the data path.  Each input byte picks an operation: a status change
 * (reset, DRIVER_OK, anything), GET_VQ_STATE, UPDATE_IOTLB of any range,
 * an unknown message, a new cut or permission of the IOVA space (rings
 * included), a request posted by the driver, pops, pushes, notifies,
 * kick control, config writes, start() failing, the daemon closing and
 * reopening the device, newer kernels' requests (a group's address
 * space, a queue ready or not, suspend: the suspend() callback completes
 * every request held).  The driver side only posts well-formed chains
 * (hostile rings are fuzz-desc's); what it points at may be unmapped.
 *
 * The device keeps an in-flight log (a file on tmpfs), as a daemon would,
 * so that reopening takes again what was in flight.  It offers packed
 * rings, which a driver_ok operation takes or not (split or packed
 * rings, the same checks).
 *
 * Checked after every operation: the requests the application holds are
 * exactly those the library counts in flight, none twice; a reset or a
 * close drops them all through stop() and unmaps all driver memory;
 * GET_VQ_STATE answers the library's avail position; every message is
 * answered.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/virtio_config.h>

#include "fuzz-input.h"
#include "internal.h"
#include "sim.h"

#define NQ 2
#define QMAX 16
#define MEM 0x10000
#define RING_SLOT 0x2000 /* queue q's rings in [q * RING_SLOT, +RING_SLOT) */
#define DATA (NQ * RING_SLOT)
#define MAX_OPS 256
#define MAX_CUTS 8

struct fuzz {
	struct sim *s;
	struct vdk_dev *dev; /* NULL while the daemon is away */
	struct vdk_dev_cfg cfg;
	unsigned int qnum[NQ]; /* ring laid out by the driver (entries) */
	struct vdk_req *held[NQ][QMAX];
	unsigned int nheld[NQ];
	bool in_flight[NQ][QMAX];
	int start_ret;
	unsigned int starts, stops;
};

static void fuzz_log(void *opaque, int level, const char *msg)
{
	FUZZ_CHECK(msg[0] != '\0');
}

static int fuzz_start(struct vdk_dev *dev, void *opaque)
{
	struct fuzz *f = opaque;

	f->starts++;
	return f->start_ret;
}

/* As an application does: forget every request held. */
static void fuzz_stop(struct vdk_dev *dev, void *opaque)
{
	struct fuzz *f = opaque;

	f->stops++;
	memset(f->nheld, 0, sizeof(f->nheld));
	memset(f->in_flight, 0, sizeof(f->in_flight));
}

/* As a model must: complete every request held, then let go. */
static int fuzz_suspend(struct vdk_dev *dev, void *opaque)
{
	struct fuzz *f = opaque;
	unsigned int q, i;

	for (q = 0; q < NQ; q++) {
		struct vdk_vq *vq = vdk_dev_vq(dev, q);

		for (i = 0; i < f->nheld[q]; i++)
			vdk_vq_push(vq, f->held[q][i], 0);
		if (f->nheld[q])
			vdk_vq_notify(vq);
		f->nheld[q] = 0;
	}
	memset(f->in_flight, 0, sizeof(f->in_flight));
	return 0;
}

static const struct vdk_dev_ops fuzz_ops = {
	.start = fuzz_start,
	.stop = fuzz_stop,
	.suspend = fuzz_suspend,
};

/* Process what the simulator queued (cuts, permissions). */
static void deliver(struct fuzz *f)
{
	if (f->dev)
		FUZZ_CHECK(vdk_dev_process(f->dev) >= 0);
}

static void check_state(struct fuzz *f)
{
	unsigned int q;

	if (!f->dev)
		return;
	for (q = 0; q < NQ; q++) {
		struct vdk_vq *vq = vdk_dev_vq(f->dev, q);

		FUZZ_CHECK(vdk_vq_inflight(vq) == f->nheld[q]);
		if (!vdk_vq_ready(vq))
			FUZZ_CHECK(f->nheld[q] == 0);
	}
	if (!(vdk_dev_status(f->dev) & VIRTIO_CONFIG_S_DRIVER_OK))
		for (q = 0; q < NQ; q++)
			FUZZ_CHECK(!vdk_vq_ready(vdk_dev_vq(f->dev, q)));
}

static void op_status(struct fuzz *f, struct fuzz_input *in)
{
	uint8_t status = fuzz_u8(in);

	if (!f->dev)
		return;
	/* -EIO when the device refused (start() failed). */
	FUZZ_CHECK(sim_set_status(f->s, f->dev, status) != -EPROTO);
	if (status == 0)
		FUZZ_CHECK(sim_live_maps(f->s) == 0);
}

static void op_driver_ok(struct fuzz *f, struct fuzz_input *in)
{
	uint8_t mask = fuzz_u8(in), feat = fuzz_u8(in);
	uint64_t features = (1ull << VIRTIO_F_VERSION_1) |
			    (1ull << VIRTIO_F_ACCESS_PLATFORM);
	unsigned int q;
	int ret;

	if (!f->dev)
		return;
	if (feat & 1)
		features |= 1ull << VIRTIO_RING_F_EVENT_IDX;
	if (feat & 2)
		features |= 1ull << VIRTIO_RING_F_INDIRECT_DESC;
	if (feat & 4)
		features |= 1ull << VIRTIO_F_RING_PACKED;
	for (q = 0; q < NQ; q++) {
		if (!(mask & (1u << q)))
			continue;
		f->qnum[q] = 2u << (fuzz_u8(in) % 4);
		if (feat & 4)
			sim_pvq_setup(f->s, q, f->qnum[q],
				      (uint64_t)q * RING_SLOT);
		else
			sim_vq_setup(f->s, q, f->qnum[q],
				     (uint64_t)q * RING_SLOT);
	}
	ret = sim_driver_ok(f->s, f->dev, features);
	FUZZ_CHECK(ret == 0 || (ret == -EIO && f->start_ret));
}

static void op_get_vq_state(struct fuzz *f, struct fuzz_input *in)
{
	struct vduse_dev_request req = { .type = VDUSE_GET_VQ_STATE };
	struct vduse_dev_response resp;
	uint32_t index = fuzz_u8(in) % (NQ + 2);

	if (!f->dev)
		return;
	req.vq_state.index = index;
	FUZZ_CHECK(sim_control(f->s, f->dev, &req, &resp) == 0);
	if (index >= NQ) {
		FUZZ_CHECK(resp.result == VDUSE_REQ_RESULT_FAILED);
	} else {
		struct vdk_vq *vq = vdk_dev_vq(f->dev, index);

		FUZZ_CHECK(resp.result == VDUSE_REQ_RESULT_OK);
		if (vdk_vq_ready(vq) && vq->packed)
			FUZZ_CHECK(
				(resp.vq_state.packed.last_avail_idx |
				 resp.vq_state.packed.last_avail_counter
					 << 15) ==
				atomic_load(&vq->last_avail_idx));
		else if (vdk_vq_ready(vq))
			FUZZ_CHECK(resp.vq_state.split.avail_index ==
				   atomic_load(&vq->last_avail_idx));
	}
}

static void op_update_iotlb(struct fuzz *f, struct fuzz_input *in)
{
	uint8_t how = fuzz_u8(in);
	uint64_t start, last;

	if (!f->dev)
		return;
	if (how & 1) {
		start = fuzz_u64(in);
		last = fuzz_u64(in);
	} else {
		start = fuzz_u16(in) % MEM;
		last = start + fuzz_u16(in);
	}
	FUZZ_CHECK(sim_update_iotlb(f->s, f->dev, start, last) == 0);
}

static void op_raw_message(struct fuzz *f, struct fuzz_input *in)
{
	struct vduse_dev_request req;
	struct vduse_dev_response resp;

	if (!f->dev)
		return;
	memset(&req, 0, sizeof(req));
	req.type = fuzz_u32(in);
	/* A status change belongs to op_status(): it must reach the sim. */
	if (req.type == VDUSE_SET_STATUS)
		return;
	req.iova.start = fuzz_u64(in);
	req.iova.last = fuzz_u64(in);
	FUZZ_CHECK(sim_control(f->s, f->dev, &req, &resp) == 0);
	FUZZ_CHECK(resp.result == VDUSE_REQ_RESULT_OK ||
		   resp.result == VDUSE_REQ_RESULT_FAILED);
}

static void op_cut(struct fuzz *f, struct fuzz_input *in)
{
	uint64_t cuts[NQ + MAX_CUTS];
	unsigned int n = 0, extra = fuzz_u8(in) % MAX_CUTS, i;

	for (i = 1; i <= NQ; i++)
		cuts[n++] = i * RING_SLOT;
	for (i = 0; i < extra; i++)
		cuts[n++] = DATA + 1 + fuzz_u16(in) % (MEM - DATA - 1);
	sim_cut(f->s, cuts, fuzz_sort_cuts(cuts, n));
	deliver(f);
}

static void op_perm(struct fuzz *f, struct fuzz_input *in)
{
	uint8_t which = fuzz_u8(in), perm = fuzz_u8(in) % 4;
	uint64_t start, last;

	if (which < 32) {
		/* A queue's rings, whole. */
		start = (uint64_t)(which % NQ) * RING_SLOT;
		last = start + RING_SLOT - 1;
	} else {
		start = DATA + fuzz_u16(in) % (MEM - DATA);
		last = start + fuzz_u16(in) % 0x4000;
		if (last >= MEM)
			last = MEM - 1;
	}
	sim_set_perm(f->s, start, last, perm);
	deliver(f);
}

static void op_post(struct fuzz *f, struct fuzz_input *in)
{
	unsigned int q = fuzz_u8(in) % NQ, n = 1 + fuzz_u8(in) % 4, i;
	unsigned int readable = fuzz_u8(in) % (n + 1);
	uint8_t ind = fuzz_u8(in);
	struct sim_buf b[4];
	uint64_t table = 0;

	if (!f->qnum[q])
		return;
	for (i = 0; i < n; i++) {
		b[i].iova = DATA + fuzz_u16(in) % (MEM - DATA - 0x1000);
		b[i].len = 1 + fuzz_u16(in) % 0x1000;
		b[i].write = i >= readable;
	}
	if (ind & 1)
		table = DATA + (fuzz_u16(in) % (MEM - DATA - 64) & ~15ull);
	if (sim_vq_add(f->s, q, b, n, table) >= 0)
		sim_vq_kick(f->s, q, ind & 2);
}

static void op_pop(struct fuzz *f, struct fuzz_input *in)
{
	unsigned int q = fuzz_u8(in) % NQ, k = 1 + fuzz_u8(in) % 8;
	struct vdk_vq *vq;

	if (!f->dev)
		return;
	vq = vdk_dev_vq(f->dev, q);
	while (k--) {
		struct vdk_req *req;
		int ret = vdk_vq_pop(vq, &req);

		if (ret == 0)
			break;
		if (ret == -EAGAIN) {
			FUZZ_CHECK(!vdk_vq_ready(vq));
			break;
		}
		if (ret == -EIO) {
			FUZZ_CHECK(vdk_vq_broken(vq));
			break;
		}
		FUZZ_CHECK(ret == 1);
		FUZZ_CHECK(req->id < vdk_vq_size(vq));
		FUZZ_CHECK(!f->in_flight[q][req->id]);
		FUZZ_CHECK(f->nheld[q] < QMAX);
		fuzz_touch(req->iov, req->n_out, req->n_in);
		memset(vdk_req_priv(req), 0x5a, 16);
		f->in_flight[q][req->id] = true;
		f->held[q][f->nheld[q]++] = req;
	}
}

static void op_push(struct fuzz *f, struct fuzz_input *in)
{
	unsigned int q = fuzz_u8(in) % NQ, k = 1 + fuzz_u8(in) % 8;
	uint32_t len = fuzz_u16(in);
	bool oldest = len & 1;
	struct vdk_vq *vq;

	if (!f->dev)
		return;
	vq = vdk_dev_vq(f->dev, q);
	while (k-- && f->nheld[q]) {
		struct vdk_req *req;

		if (oldest) {
			req = f->held[q][0];
			memmove(&f->held[q][0], &f->held[q][1],
				(f->nheld[q] - 1) * sizeof(req));
		} else {
			req = f->held[q][f->nheld[q] - 1];
		}
		f->nheld[q]--;
		f->in_flight[q][req->id] = false;
		vdk_vq_push(vq, req, len);
	}
}

static void op_notify(struct fuzz *f, struct fuzz_input *in)
{
	unsigned int q = fuzz_u8(in) % NQ;

	if (f->dev)
		FUZZ_CHECK(vdk_vq_notify(vdk_dev_vq(f->dev, q)) >= 0);
}

static void op_kick(struct fuzz *f, struct fuzz_input *in)
{
	uint8_t b = fuzz_u8(in);
	struct vdk_vq *vq;

	if (!f->dev)
		return;
	vq = vdk_dev_vq(f->dev, b % NQ);
	vdk_vq_set_kick(vq, b & 0x80);
	(void)vdk_vq_pending(vq);
}

static void op_reap(struct fuzz *f, struct fuzz_input *in)
{
	unsigned int q = fuzz_u8(in) % NQ;
	uint16_t id;
	uint32_t len;

	if (f->qnum[q])
		while (sim_vq_used(f->s, q, &id, &len) == 1)
			;
}

static void op_config(struct fuzz *f, struct fuzz_input *in)
{
	uint32_t off = fuzz_u8(in) % 12, len = fuzz_u8(in) % 12;
	uint8_t buf[12] = { 0 };
	int ret;

	if (!f->dev)
		return;
	ret = vdk_dev_set_config(f->dev, off, buf, len);
	FUZZ_CHECK(ret == ((len && off + len <= f->cfg.config_size) ?
				   0 :
				   -EINVAL));
}

/* The daemon goes away, or comes back and resumes. */
static void op_reopen(struct fuzz *f, struct fuzz_input *in)
{
	if (f->dev) {
		vdk_dev_close(f->dev);
		f->dev = NULL;
		FUZZ_CHECK(f->nheld[0] == 0 && f->nheld[1] == 0);
		FUZZ_CHECK(sim_live_maps(f->s) == 0);
	} else {
		FUZZ_CHECK(sim_dev_new(f->s, &f->cfg, false, &f->dev) == 0 ||
			   f->start_ret);
	}
}

static void op_start_ret(struct fuzz *f, struct fuzz_input *in)
{
	f->start_ret = fuzz_u8(in) & 1 ? -EIO : 0;
}

/* API 1 and 7.3's requests, queue numbers and values near the limits. */
static void op_newer(struct fuzz *f, struct fuzz_input *in)
{
	struct vduse_dev_request req;
	struct vduse_dev_response resp;
	uint8_t kind = fuzz_u8(in);
	uint32_t p[2];

	p[0] = fuzz_u8(in) % (NQ + 1);
	p[1] = fuzz_u8(in) % 3;
	if (!f->dev)
		return;
	memset(&req, 0, sizeof(req));
	req.type = VDK__REQ_SET_VQ_GROUP_ASID + kind % 3;
	if (kind & 0x80)
		p[0] = fuzz_u32(in);
	memcpy(&req.vq_state, p, sizeof(p));
	FUZZ_CHECK(sim_control(f->s, f->dev, &req, &resp) == 0);
	FUZZ_CHECK(resp.result == VDUSE_REQ_RESULT_OK ||
		   resp.result == VDUSE_REQ_RESULT_FAILED);
	/* Out of range: always refused. */
	if (req.type == VDK__REQ_SET_VQ_READY && (p[0] >= NQ || p[1] > 1))
		FUZZ_CHECK(resp.result == VDUSE_REQ_RESULT_FAILED);
}

static void (*const ops[])(struct fuzz *f, struct fuzz_input *in) = {
	op_status,   op_driver_ok, op_get_vq_state, op_update_iotlb,
	op_raw_message, op_cut,    op_perm,         op_post,
	op_post,     op_pop,       op_pop,          op_push,
	op_push,     op_notify,    op_kick,         op_reap,
	op_config,   op_reopen,    op_start_ret,    op_newer,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t config[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	static char log_path[PATH_MAX];
	struct fuzz_input in = { data, size };
	struct fuzz f;
	uint64_t cuts[NQ];
	unsigned int i;

	/* One per process: fuzzing jobs may run side by side. */
	if (!log_path[0])
		snprintf(log_path, sizeof(log_path), "%s/vdk-fuzz-ctrl.%d",
			 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp",
			 (int)getpid());
	memset(&f, 0, sizeof(f));
	f.cfg = (struct vdk_dev_cfg){
		.name = "fuzz",
		.device_id = 2,
		.num_queues = NQ,
		.queue_size = QMAX,
		.config = config,
		.config_size = sizeof(config),
		.max_iovecs = 16,
		.req_priv_size = 16,
		.ops = &fuzz_ops,
		.opaque = &f,
		.log = fuzz_log,
		.log_level = VDK_LOG_DEBUG,
		.inflight_path = log_path,
		/* Offered; a driver_ok op takes it or not. */
		.flags = VDK_DEV_F_PACKED,
	};
	FUZZ_CHECK(sim_new(MEM, &f.s) == 0);
	FUZZ_CHECK(sim_dev_new(f.s, &f.cfg, true, &f.dev) == 0);
	for (i = 0; i < NQ; i++)
		cuts[i] = (i + 1) * RING_SLOT;
	sim_cut(f.s, cuts, NQ);
	deliver(&f);
	/* A running device to start from; the input may reset it. */
	for (i = 0; i < NQ; i++) {
		f.qnum[i] = 8;
		sim_vq_setup(f.s, i, 8, (uint64_t)i * RING_SLOT);
	}
	FUZZ_CHECK(sim_driver_ok(f.s, f.dev,
				 (1ull << VIRTIO_F_VERSION_1) |
					 (1ull << VIRTIO_F_ACCESS_PLATFORM)) ==
		   0);

	for (i = 0; i < MAX_OPS && in.n; i++) {
		uint8_t op = fuzz_u8(&in);

		ops[op % (sizeof(ops) / sizeof(ops[0]))](&f, &in);
		check_state(&f);
	}

	if (f.dev && getenv("VDK_FUZZ_DEBUG")) {
		/* To see how far a corpus input gets. */
		for (i = 0; i < NQ; i++) {
			struct vdk_vq_stats st;

			vdk_vq_get_stats(vdk_dev_vq(f.dev, i), &st);
			fprintf(stderr,
				"q%u: popped %llu pushed %llu bad %llu "
				"broken %d; ",
				i, (unsigned long long)st.popped,
				(unsigned long long)st.pushed,
				(unsigned long long)st.bad,
				vdk_vq_broken(vdk_dev_vq(f.dev, i)));
		}
		fprintf(stderr, "starts %u stops %u\n", f.starts, f.stops);
	}
	if (f.dev) {
		unsigned int q;

		for (q = 0; q < NQ; q++) {
			struct vdk_vq *vq = vdk_dev_vq(f.dev, q);

			while (f.nheld[q]) {
				struct vdk_req *req = f.held[q][--f.nheld[q]];

				f.in_flight[q][req->id] = false;
				vdk_vq_push(vq, req, 0);
			}
			FUZZ_CHECK(vdk_vq_inflight(vq) == 0);
		}
		vdk_dev_close(f.dev);
	}
	FUZZ_CHECK(sim_live_maps(f.s) == 0);
	sim_free(f.s);
	unlink(log_path);
	return 0;
}
