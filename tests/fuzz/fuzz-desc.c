/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the descriptor walker against a hostile driver.
 *
 * The input describes, in order: the queue size, max_iovecs and features
 * (VIRTIO_F_IN_ORDER among them: completions then go out in order);
 * a layout of the IOVA space (cuts, then permissions per region); bytes
 * for the data area (where indirect tables may lie); the descriptor table;
 * then rounds of avail entries and indexes, each popped until empty or
 * broken and pushed back.  Checked on every round:
 *   - a request handed out is in range, not already in flight, with
 *     vectors that add up to its lengths and that can be read and written
 *     end to end (AddressSanitizer watches every region's bounds);
 *   - avail entries consumed = requests popped + requests refused;
 *   - the used ring grows by exactly the completions the library wrote,
 *     and no more than the refused requests plus our pushes;
 *   - every request popped is pushed once (held ones at the end).
 * Device and simulator are built and freed on every input.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <linux/virtio_config.h>

#include "fuzz-input.h"
#include "internal.h"
#include "sim.h"

#define MEM 0x10000
#define RING_END 0x2000 /* rings at 0, in their own region */
#define MAX_QSIZE 128
#define MAX_CUTS 32

#define FEATURES                                                             \
	((1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_F_ACCESS_PLATFORM) | \
	 (1ull << VIRTIO_RING_F_INDIRECT_DESC))

struct fuzz {
	struct sim *s;
	struct vdk_dev *dev;
	struct vdk_vq *vq;
	unsigned int qsize, max_iovecs;
	struct vdk_req *held[MAX_QSIZE];
	unsigned int nheld;
	bool in_flight[MAX_QSIZE];
	uint64_t cuts[MAX_CUTS + 1];
	unsigned int ncuts;
	unsigned int logs;
	/* In order: completions may go out rounds after their push. */
	bool in_order;
	uint64_t pushes, bad;
};

static void fuzz_log(void *opaque, int level, const char *msg)
{
	struct fuzz *f = opaque;

	FUZZ_CHECK(msg[0] != '\0');
	f->logs++;
}

/* A descriptor: compact, with wider fields when the mode byte says. */
static struct vring_desc read_desc(struct fuzz_input *in)
{
	uint8_t mode = fuzz_u8(in);
	struct vring_desc d;
	uint64_t addr = fuzz_u16(in);
	uint32_t len = fuzz_u8(in);
	uint16_t flags = fuzz_u8(in) & 7, next = fuzz_u8(in);

	if (mode & 1)
		addr = fuzz_u64(in);
	if (mode & 2)
		len = fuzz_u16(in);
	if (mode & 4)
		len = fuzz_u32(in);
	if (mode & 8)
		flags = fuzz_u16(in);
	if (mode & 16)
		next = fuzz_u16(in);
	d.addr = addr;
	d.len = len;
	d.flags = flags;
	d.next = next;
	return d;
}

static void put_desc(struct fuzz *f, unsigned int i, struct vring_desc d)
{
	sim_vq_raw_desc(f->s, 0, i, d.addr, d.len, d.flags, d.next);
}

/* Region @i of the layout, as [start, last]. */
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

	FUZZ_CHECK(req->id < f->qsize);
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

static void push_held(struct fuzz *f, unsigned int keep)
{
	while (f->nheld > keep) {
		struct vdk_req *req = f->held[--f->nheld];

		f->in_flight[req->id] = false;
		/* Now and then more than there was: clamped. */
		vdk_vq_push(f->vq, req, (uint32_t)req->in_len + (req->id & 1));
	}
}

static void round_(struct fuzz *f, struct fuzz_input *in)
{
	unsigned int n = fuzz_u8(in) % (f->qsize + 2), i, popped = 0;
	unsigned int pushes, consumed;
	struct vdk_vq_stats st0, st1;
	uint16_t used0, last0;
	struct vdk_req *req;
	uint8_t opt;
	int ret;

	for (i = 0; i < n; i++) {
		uint8_t h = fuzz_u8(in);

		sim_vq_raw_avail(f->s, 0,
				 h < 0xf0 ? h % f->qsize : fuzz_u16(in));
	}
	opt = fuzz_u8(in);
	if (opt & 1)
		sim_vq_raw_avail_idx(f->s, 0, fuzz_u16(in));
	if (opt & 2)
		sim_vq_set_used_event(f->s, 0, fuzz_u16(in));
	sim_vq_set_no_interrupt(f->s, 0, opt & 4);
	if (opt & 8) {
		unsigned int at = fuzz_u8(in) % f->qsize;

		put_desc(f, at, read_desc(in));
	}
	if (opt & 16)
		vdk_vq_set_kick(f->vq, opt & 32);

	used0 = sim_vq_used_idx(f->s, 0);
	last0 = atomic_load(&f->vq->last_avail_idx);
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

	/* The memory changes under requests in flight. */
	if (opt & 64)
		set_perms(f, in);

	pushes = f->nheld;
	push_held(f, opt & 128 ? f->nheld / 2 : 0);
	pushes -= f->nheld;
	FUZZ_CHECK(vdk_vq_notify(f->vq) >= 0);

	vdk_vq_get_stats(f->vq, &st1);
	FUZZ_CHECK(st1.popped - st0.popped == popped);
	consumed = (uint16_t)(atomic_load(&f->vq->last_avail_idx) - last0);
	/*
	 * A head found already in flight breaks the queue after its entry
	 * was taken (vq.c checks it after the in-flight log's resubmissions).
	 */
	FUZZ_CHECK(consumed == popped + (st1.bad - st0.bad) ||
		   (vdk_vq_broken(f->vq) &&
		    consumed == popped + (st1.bad - st0.bad) + 1));
	FUZZ_CHECK((uint16_t)(sim_vq_used_idx(f->s, 0) - used0) ==
		   (uint16_t)(st1.pushed - st0.pushed));
	f->pushes += pushes;
	f->bad += st1.bad - st0.bad;
	if (f->in_order)
		FUZZ_CHECK(st1.pushed <= f->bad + f->pushes);
	else
		FUZZ_CHECK(st1.pushed - st0.pushed <=
			   (st1.bad - st0.bad) + pushes);
	FUZZ_CHECK(vdk_vq_inflight(f->vq) == f->nheld);
	/* In order, what is held waits in the order, with what follows. */
	if (f->in_order && vdk_vq_ready(f->vq))
		FUZZ_CHECK(f->vq->order_n >= f->nheld &&
			   f->vq->order_n <= f->qsize);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = { data, size };
	struct fuzz f = { 0 };
	struct vdk_dev_cfg cfg = {
		.name = "fuzz",
		.device_id = 2,
		.num_queues = 1,
		.queue_size = MAX_QSIZE,
		.log = fuzz_log,
		.log_opaque = &f,
		.log_level = VDK_LOG_DEBUG,
	};
	uint64_t features = FEATURES;
	unsigned int i, n, rounds;
	uint8_t b;

	b = fuzz_u8(&in);
	f.qsize = 2u << ((b & 0x7f) % 7);
	if (b & 0x80)
		features |= 1ull << VIRTIO_RING_F_EVENT_IDX;
	b = fuzz_u8(&in);
	f.max_iovecs = 1 + b % 64;
	cfg.max_iovecs = f.max_iovecs;
	if (b & 0x40) {
		f.in_order = true;
		cfg.flags = VDK_DEV_F_IN_ORDER;
		features |= 1ull << VIRTIO_F_IN_ORDER;
	}

	if (sim_new(MEM, &f.s) < 0)
		abort();
	if (sim_dev_new(f.s, &cfg, true, &f.dev) < 0)
		abort();
	f.vq = vdk_dev_vq(f.dev, 0);

	/* Layout: the rings' region first, then cuts anywhere after. */
	n = fuzz_u8(&in) % MAX_CUTS;
	f.cuts[0] = RING_END;
	for (i = 0; i < n; i++)
		f.cuts[i + 1] =
			RING_END + 1 + fuzz_u16(&in) % (MEM - RING_END - 1);
	f.ncuts = fuzz_sort_cuts(f.cuts, n + 1);
	sim_cut(f.s, f.cuts, f.ncuts);
	FUZZ_CHECK(vdk_dev_process(f.dev) == 1);

	/* Data area contents. */
	n = fuzz_u16(&in) % (MEM - RING_END);
	if (n > in.n)
		n = (unsigned int)in.n;
	sim_write(f.s, RING_END, in.p, n);
	in.p += n;
	in.n -= n;

	sim_vq_setup(f.s, 0, f.qsize, 0);
	for (i = 0; i < f.qsize; i++)
		put_desc(&f, i, read_desc(&in));
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

	push_held(&f, 0);
	FUZZ_CHECK(vdk_vq_notify(f.vq) >= 0);
	/* Everything pushed: in order, all of it went out. */
	if (f.in_order && vdk_vq_ready(f.vq) && !vdk_vq_broken(f.vq))
		FUZZ_CHECK(f.vq->order_n == 0);
	if (getenv("VDK_FUZZ_DEBUG")) {
		struct vdk_vq_stats st;

		/* To see how far a corpus input gets. */
		vdk_vq_get_stats(f.vq, &st);
		fprintf(stderr,
			"qsize %u cuts %u: popped %llu bad %llu pushed %llu "
			"broken %d logs %u\n",
			f.qsize, f.ncuts, (unsigned long long)st.popped,
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
	return 0;
}
