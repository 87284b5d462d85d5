/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the packed-ring walker (lib/vq-packed.c) against a
 * hostile driver, and its in-flight log across a daemon's death.
 *
 * The input describes, in order: the ring's size (any, 1..128), the
 * event index, the in-flight log, max_iovecs; a layout of the IOVA space
 * (cuts, then permissions per region); bytes for the data area (where
 * indirect tables may lie); the whole ring, written raw (flags and all);
 * then rounds.  A round posts chains (descriptors of any content, their
 * AVAIL/USED bits right or, now and then, raw), may rewrite any ring
 * entry, set the driver's event suppression, turn kicks on or off, pops
 * until empty or broken, completes some of what it holds in an order of
 * its own, notifies, and may kill the daemon and reopen the device.
 * Checked on every round:
 *   - a request handed out has an id within the ring, not in flight,
 *     vectors that add up to its lengths and that can be read and
 *     written end to end (AddressSanitizer watches every region);
 *   - the ring descriptors in flight never exceed the ring, and are
 *     those of the requests held while the queue is not broken;
 *   - completions written: exactly the refused chains plus the pushes
 *     while the queue is not broken, never more;
 *   - after a restart, no request still held before it is handed out
 *     while another copy of it is (nothing taken twice), and the queue
 *     answers sanely;
 *   - every request popped is pushed once (held ones at the end).
 * Device, simulator and log are built and freed on every input.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/virtio_config.h>

#include "fuzz-input.h"
#include "internal.h"
#include "sim.h"

#define MEM 0x10000
#define RING_END 0x2000 /* the ring at 0, in its own region */
#define MAX_QSIZE 128
#define MAX_CUTS 32

#define FEATURES                                                             \
	((1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_F_ACCESS_PLATFORM) | \
	 (1ull << VIRTIO_RING_F_INDIRECT_DESC) |                            \
	 (1ull << VIRTIO_F_RING_PACKED))

struct fuzz {
	struct sim *s;
	struct vdk_dev *dev;
	struct vdk_vq *vq;
	struct vdk_dev_cfg cfg;
	unsigned int num, max_iovecs;
	struct vdk_req *held[MAX_QSIZE];
	unsigned int nheld;
	bool in_flight[MAX_QSIZE];
	uint64_t cuts[MAX_CUTS + 1];
	unsigned int ncuts;
	unsigned int logs;
	char path[64];
	/* In order: completions may go out rounds after their push. */
	bool in_order;
	uint64_t pushes, bad;
};

static void fuzz_log(void *opaque, int level, const char *msg)
{
	struct fuzz *f = opaque;

	FUZZ_CHECK(msg[0] != '\0');
	f->logs++;
	if (getenv("VDK_FUZZ_DEBUG"))
		fprintf(stderr, "log(%d): %s\n", level, msg);
}

/* A descriptor: compact, with wider fields when the mode byte says. */
static struct vring_packed_desc read_desc(struct fuzz_input *in)
{
	uint8_t mode = fuzz_u8(in);
	struct vring_packed_desc d;
	uint64_t addr = fuzz_u16(in);
	uint32_t len = fuzz_u8(in);
	uint16_t flags = fuzz_u8(in) & 7, id = fuzz_u8(in);

	if (mode & 1)
		addr = fuzz_u64(in);
	if (mode & 2)
		len = fuzz_u16(in);
	if (mode & 4)
		len = fuzz_u32(in);
	if (mode & 8)
		flags = fuzz_u16(in);
	if (mode & 16)
		id = fuzz_u16(in);
	d.addr = htole64(addr);
	d.len = htole32(len);
	d.id = htole16(id);
	d.flags = htole16(flags);
	return d;
}

static void region(const struct fuzz *f, unsigned int i, uint64_t *start,
		   uint64_t *last)
{
	*start = i == 0 ? 0 : f->cuts[i - 1];
	*last = (i < f->ncuts ? f->cuts[i] : MEM) - 1;
}

static void set_perms(struct fuzz *f, struct fuzz_input *in)
{
	unsigned int n = fuzz_u8(in) % 6, i;

	for (i = 0; i < n; i++) {
		unsigned int r = fuzz_u8(in) % (f->ncuts + 1);
		uint8_t perm = fuzz_u8(in) % 4;
		uint64_t start, last;

		region(f, r, &start, &last);
		sim_set_perm(f->s, start, last, perm);
		FUZZ_CHECK(vdk_dev_process(f->dev) == 1);
	}
}

static void check_req(struct fuzz *f, struct vdk_req *req)
{
	size_t out = 0, in = 0;
	unsigned int v;

	FUZZ_CHECK(req->id < f->num);
	FUZZ_CHECK(!f->in_flight[req->id]);
	FUZZ_CHECK(req->n_out + req->n_in <= f->max_iovecs);
	for (v = 0; v < req->n_out; v++)
		out += req->iov[v].iov_len;
	for (; v < req->n_out + req->n_in; v++)
		in += req->iov[v].iov_len;
	FUZZ_CHECK(out == req->out_len && in == req->in_len);
	FUZZ_CHECK(out <= UINT32_MAX && in <= UINT32_MAX);
	fuzz_touch(req->iov, req->n_out, req->n_in);
	f->in_flight[req->id] = true;
	f->held[f->nheld++] = req;
}

/* Push all but @keep of the held requests, from @from on, wrapping. */
static unsigned int push_held(struct fuzz *f, unsigned int keep,
			      unsigned int from)
{
	unsigned int pushed = 0;

	while (f->nheld > keep) {
		unsigned int k = from % f->nheld;
		struct vdk_req *req = f->held[k];

		f->held[k] = f->held[--f->nheld];
		f->in_flight[req->id] = false;
		vdk_vq_push(f->vq, req, (uint32_t)req->in_len + (req->id & 1));
		pushed++;
	}
	return pushed;
}

/* The driver reads what it can; the device's state is what counts. */
static void reap(struct fuzz *f)
{
	unsigned int n = 0;
	uint16_t id;
	uint32_t len;

	while (n++ < 4 * MAX_QSIZE && sim_vq_used(f->s, 0, &id, &len))
		;
}

static void check_inflight(struct fuzz *f)
{
	unsigned int i, sum = 0;

	FUZZ_CHECK(vdk_vq_inflight(f->vq) == f->nheld);
	if (!vdk_vq_ready(f->vq))
		return;
	FUZZ_CHECK(f->vq->desc_inflight <= f->num);
	if (vdk_vq_broken(f->vq))
		return;
	if (f->in_order) {
		/* Held or not, a chain is in flight until it goes out. */
		FUZZ_CHECK(f->vq->order_n >= f->nheld &&
			   f->vq->order_n <= f->num);
		for (i = 0; i < f->vq->order_n; i++)
			sum += vdk__vq_order_slot(f->vq, i)->ndesc;
	} else {
		for (i = 0; i < f->nheld; i++)
			sum += ((struct vdk__slot *)f->held[i])->ndesc;
	}
	/* Requests to take again after a restart are in flight too. */
	for (i = f->vq->resubmit_pos; i < f->vq->resubmit_n; i++)
		sum += f->vq->slots[f->vq->resubmit[i]].ndesc;
	FUZZ_CHECK(f->vq->desc_inflight == sum);
}

/*
 * The daemon dies with what it holds and comes back.  What it held is
 * forgotten by us too; the new device may hand it out again, once.
 */
static void restart(struct fuzz *f)
{
	vdk_dev_close(f->dev);
	f->dev = NULL;
	f->nheld = 0;
	memset(f->in_flight, 0, sizeof(f->in_flight));
	FUZZ_CHECK(sim_dev_new(f->s, &f->cfg, false, &f->dev) == 0);
	f->vq = vdk_dev_vq(f->dev, 0);
	f->pushes = f->bad = 0;
}

static void round_(struct fuzz *f, struct fuzz_input *in)
{
	unsigned int n = fuzz_u8(in) % 6, i, popped = 0, pushes;
	struct vdk_vq_stats st0, st1;
	struct vdk_req *req;
	bool was_broken;
	uint8_t opt;
	int ret;

	for (i = 0; i < n; i++) {
		struct vring_packed_desc d[8];
		unsigned int len = 1 + fuzz_u8(in) % 8, k;

		if (len > f->num)
			len = f->num;
		for (k = 0; k < len; k++)
			d[k] = read_desc(in);
		sim_pvq_raw_post(f->s, 0, d, len);
	}
	opt = fuzz_u8(in);
	if (opt & 1) {
		unsigned int at = fuzz_u8(in);
		struct vring_packed_desc d = read_desc(in);

		sim_pvq_raw_write(f->s, 0, at % f->num, le64toh(d.addr),
				  le32toh(d.len), le16toh(d.id),
				  le16toh(d.flags));
	}
	if (opt & 2)
		sim_pvq_set_event(f->s, 0, fuzz_u8(in) % 4, fuzz_u16(in));
	if (opt & 4)
		vdk_vq_set_kick(f->vq, opt & 8);

	vdk_vq_get_stats(f->vq, &st0);
	(void)vdk_vq_pending(f->vq);
	while ((ret = vdk_vq_pop(f->vq, &req)) == 1) {
		check_req(f, req);
		popped++;
	}
	FUZZ_CHECK(ret == 0 || ret == -EIO || ret == -EAGAIN);
	if (ret == -EIO)
		FUZZ_CHECK(vdk_vq_broken(f->vq));
	if (ret == -EAGAIN)
		FUZZ_CHECK(!vdk_vq_ready(f->vq));
	check_inflight(f);

	/* The memory changes under requests in flight. */
	if (opt & 16)
		set_perms(f, in);

	was_broken = vdk_vq_broken(f->vq);
	pushes = push_held(f, opt & 32 ? f->nheld / 2 : 0, fuzz_u8(in));
	FUZZ_CHECK(vdk_vq_notify(f->vq) >= 0);
	vdk_vq_get_stats(f->vq, &st1);
	FUZZ_CHECK(st1.popped - st0.popped == popped);
	f->pushes += pushes;
	f->bad += st1.bad - st0.bad;
	if (f->in_order) {
		/* Counted per device: a restart starts them again. */
		FUZZ_CHECK(st1.pushed <= f->bad + f->pushes);
	} else {
		FUZZ_CHECK(st1.pushed - st0.pushed <=
			   (st1.bad - st0.bad) + pushes);
		if (!vdk_vq_broken(f->vq) && !was_broken &&
		    vdk_vq_ready(f->vq))
			FUZZ_CHECK(st1.pushed - st0.pushed ==
				   (st1.bad - st0.bad) + pushes);
	}
	check_inflight(f);
	if (opt & 64)
		reap(f);
	if ((opt & 128) && f->cfg.inflight_path)
		restart(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = { data, size };
	struct fuzz f = { 0 };
	uint64_t features = FEATURES;
	unsigned int i, n, rounds;
	uint8_t b;

	f.cfg = (struct vdk_dev_cfg){
		.name = "fuzzp",
		.device_id = 2,
		.num_queues = 1,
		.queue_size = MAX_QSIZE,
		.log = fuzz_log,
		.log_opaque = &f,
		.log_level = VDK_LOG_DEBUG,
		.flags = VDK_DEV_F_PACKED,
	};
	b = fuzz_u8(&in);
	f.num = 1 + b % MAX_QSIZE;
	b = fuzz_u8(&in);
	if (b & 1)
		features |= 1ull << VIRTIO_RING_F_EVENT_IDX;
	if (b & 2) {
		snprintf(f.path, sizeof(f.path), "/tmp/vdk-fuzz-packed-%d",
			 (int)getpid());
		f.cfg.inflight_path = f.path;
	}
	if (b & 4) {
		f.in_order = true;
		f.cfg.flags |= VDK_DEV_F_IN_ORDER;
		features |= 1ull << VIRTIO_F_IN_ORDER;
	}
	f.max_iovecs = 1 + fuzz_u8(&in) % 64;
	f.cfg.max_iovecs = f.max_iovecs;

	if (sim_new(MEM, &f.s) < 0)
		abort();
	if (sim_dev_new(f.s, &f.cfg, true, &f.dev) < 0)
		abort();
	f.vq = vdk_dev_vq(f.dev, 0);

	n = fuzz_u8(&in) % MAX_CUTS;
	f.cuts[0] = RING_END;
	for (i = 0; i < n; i++)
		f.cuts[i + 1] =
			RING_END + 1 + fuzz_u16(&in) % (MEM - RING_END - 1);
	f.ncuts = fuzz_sort_cuts(f.cuts, n + 1);
	sim_cut(f.s, f.cuts, f.ncuts);
	FUZZ_CHECK(vdk_dev_process(f.dev) == 1);

	n = fuzz_u16(&in) % (MEM - RING_END);
	if (n > in.n)
		n = (unsigned int)in.n;
	sim_write(f.s, RING_END, in.p, n);
	in.p += n;
	in.n -= n;

	sim_pvq_setup(f.s, 0, f.num, 0);
	/* Ring entries as the input has them (most read as zeroes). */
	n = fuzz_u8(&in) % (f.num + 1);
	for (i = 0; i < n; i++) {
		struct vring_packed_desc d = read_desc(&in);

		sim_pvq_raw_write(f.s, 0, i, le64toh(d.addr), le32toh(d.len),
				  le16toh(d.id), le16toh(d.flags));
	}
	b = fuzz_u8(&in);
	if (b & 1)
		set_perms(&f, &in);
	if (sim_driver_ok(f.s, f.dev, features) < 0)
		abort();
	if (!(b & 1))
		set_perms(&f, &in);

	rounds = 1 + fuzz_u8(&in) % 8;
	for (i = 0; i < rounds; i++)
		round_(&f, &in);

	push_held(&f, 0, 0);
	FUZZ_CHECK(vdk_vq_notify(f.vq) >= 0);
	/* Everything pushed: in order, all of it went out. */
	if (f.in_order && vdk_vq_ready(f.vq) && !vdk_vq_broken(f.vq))
		FUZZ_CHECK(f.vq->order_n == 0);
	if (getenv("VDK_FUZZ_DEBUG")) {
		struct vdk_vq_stats st;

		vdk_vq_get_stats(f.vq, &st);
		fprintf(stderr,
			"num %u cuts %u: popped %llu bad %llu pushed %llu "
			"broken %d logs %u\n",
			f.num, f.ncuts, (unsigned long long)st.popped,
			(unsigned long long)st.bad,
			(unsigned long long)st.pushed, vdk_vq_broken(f.vq),
			f.logs);
	}
	FUZZ_CHECK(vdk_vq_inflight(f.vq) == 0);
	/* A reset gives every mapping back. */
	FUZZ_CHECK(sim_set_status(f.s, f.dev, 0) == 0);
	FUZZ_CHECK(sim_live_maps(f.s) == 0);
	vdk_dev_close(f.dev);
	sim_free(f.s);
	if (f.cfg.inflight_path)
		unlink(f.path);
	return 0;
}
