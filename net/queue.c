// SPDX-License-Identifier: MIT
/*
 * The frame path of the virtio-net device, one direction per queue.
 *
 * Transmit: each chain is a header and a frame, readable by the device;
 * it goes to the backend in one writev(2), straight from the driver's
 * memory, and is completed.  The backend (a tap) checks the header as
 * the kernel checks any packet from userspace.
 *
 * Receive: the device keeps the chains it has popped, oldest first, and
 * reads one frame at a time from the backend straight into them, with an
 * overflow buffer behind: a frame that lands in the overflow did not fit
 * and is dropped, the chains kept for the next.  With mergeable buffers
 * a frame spans as many chains as it needs (num_buffers says how many),
 * and the device does not read while the driver can still post room for
 * a frame of the largest size it may receive: a busy driver refilling
 * late costs a wait, not a dropped frame.  Without, a frame has one
 * chain, and a chain too small for it loses it.
 *
 * Everything in the chains is the driver's: lengths are checked against
 * the frame limits and the vectors are the library's, checked against
 * the driver's mappings.
 */
#include <endian.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <linux/virtio_net.h>

#include "internal.h"

/* Complaints about the driver's frames: at most one a second. */
#define NET_COMPLAIN_NS 1000000000ull

void net_log(const struct net_shared *sh, int level, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	int n;

	if (!sh->log || level > sh->log_level)
		return;
	n = snprintf(msg, sizeof(msg), "%s: ", sh->name);
	va_start(ap, fmt);
	vsnprintf(msg + n, sizeof(msg) - n, fmt, ap);
	va_end(ap);
	sh->log(sh->log_opaque, level, msg);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void count(uint64_t *c, uint64_t n)
{
	__atomic_fetch_add(c, n, __ATOMIC_RELAXED);
}

/* A frame or chain the device refuses: counted, and logged now and then. */
static void complain(struct net_queue *q, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void complain(struct net_queue *q, const char *fmt, ...)
{
	uint64_t now = now_ns();
	char msg[256];
	va_list ap;

	count(&q->st.errors, 1);
	if (now - q->last_log_ns < NET_COMPLAIN_NS && q->last_log_ns) {
		q->suppressed++;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (q->suppressed)
		net_log(q->sh, VDK_LOG_WARNING, "%s queue: %s (and %llu more "
			"since the last)", q->index == NET_RXQ ? "receive" :
			"transmit", msg, (unsigned long long)q->suppressed);
	else
		net_log(q->sh, VDK_LOG_WARNING, "%s queue: %s",
			q->index == NET_RXQ ? "receive" : "transmit", msg);
	q->last_log_ns = now;
	q->suppressed = 0;
}

/* Chains the library refused were completed too: they need a notify. */
static bool refused_since(struct net_queue *q, uint64_t bad_before)
{
	struct vdk_vq_stats st;

	vdk_vq_get_stats(q->vq, &st);
	return st.bad != bad_before;
}

static uint64_t bad_now(struct net_queue *q)
{
	struct vdk_vq_stats st;

	vdk_vq_get_stats(q->vq, &st);
	return st.bad;
}

/* ---- transmit ---- */

static void tx_one(struct net_queue *q, struct vdk_req *req)
{
	const struct net_shared *sh = q->sh;
	ssize_t n;

	if (req->out_len < VDK_NET_HDR_LEN + NET_ETH_HLEN ||
	    req->out_len > VDK_NET_HDR_LEN + NET_FRAME_MAX) {
		complain(q, "frame of %zu bytes with its header refused "
			 "(%u..%u)", req->out_len,
			 VDK_NET_HDR_LEN + NET_ETH_HLEN,
			 VDK_NET_HDR_LEN + NET_FRAME_MAX);
		return;
	}
	if (sh->fd < 0) {
		count(&q->st.dropped, 1);
		return;
	}
	n = writev(sh->fd, req->iov, (int)req->n_out);
	if (n < 0) {
		/* A tap that is down takes nothing: the frame is lost. */
		if (errno == EIO || errno == EAGAIN || errno == ENOBUFS)
			count(&q->st.dropped, 1);
		else
			complain(q, "the backend refused a frame of %zu "
				 "bytes: %s", req->out_len, strerror(errno));
		return;
	}
	count(&q->st.packets, 1);
	count(&q->st.bytes, req->out_len - VDK_NET_HDR_LEN);
}

int net_tx_round(struct net_queue *q)
{
	unsigned int budget = vdk_vq_size(q->vq), done = 0;
	uint64_t bad = bad_now(q);
	struct vdk_req *req;
	int ret = 0;

	while (done < budget && (ret = vdk_vq_pop(q->vq, &req)) == 1) {
		tx_one(q, req);
		vdk_vq_push(q->vq, req, 0);
		q->pushed = true;
		done++;
	}
	if (refused_since(q, bad)) {
		q->pushed = true;
		done++;
	}
	if (q->pushed) {
		q->pushed = false;
		vdk_vq_notify(q->vq);
	}
	if (ret < 0 && ret != -EAGAIN && !done)
		return ret;
	return (int)done;
}

/* ---- receive ---- */

/*
 * Room a frame may need: the header and the largest frame expected.
 * Without mergeable buffers a frame has one chain, whatever its size:
 * one is enough to read.
 */
static size_t rx_need(const struct net_shared *sh)
{
	if (!sh->mrg_rxbuf)
		return 1;
	if (sh->guest_gso)
		return VDK_NET_HDR_LEN + NET_FRAME_MAX;
	return VDK_NET_HDR_LEN + (sh->mtu ? sh->mtu : 1500) + NET_ETH_HLEN + 4;
}

static struct vdk_req *held_at(const struct net_queue *q, unsigned int i)
{
	return q->held[(q->held_head + i) % q->held_cap];
}

static void held_drop_front(struct net_queue *q, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		q->held_bytes -= held_at(q, i)->in_len;
	q->held_head = (q->held_head + n) % q->held_cap;
	q->held_n -= n;
}

/*
 * Pop chains until those held cover @need, the ring is empty or the
 * whole ring is held.  Chains that cannot take a frame are completed
 * empty.  Returns 0 or -errno (a broken queue).
 */
static int rx_fill(struct net_queue *q, size_t need)
{
	struct vdk_req *req;
	int ret;

	while (q->held_bytes < need && q->held_n < q->held_cap) {
		ret = vdk_vq_pop(q->vq, &req);
		if (ret == 0 || ret == -EAGAIN)
			return 0;
		if (ret < 0)
			return ret;
		if (req->n_out || req->in_len < VDK_NET_HDR_LEN ||
		    req->in_len > UINT32_MAX) {
			complain(q, "receive chain of %u readable and %zu "
				 "writable bytes refused", (unsigned int)
				 req->out_len, req->in_len);
			vdk_vq_push(q->vq, req, 0);
			q->pushed = true;
			continue;
		}
		q->held[(q->held_head + q->held_n) % q->held_cap] = req;
		q->held_n++;
		q->held_bytes += req->in_len;
	}
	return 0;
}

/* Write @len bytes at @off of the vectors (the frame's header). */
static void iov_put(const struct iovec *iov, unsigned int cnt, size_t off,
		    const void *data, size_t len)
{
	const uint8_t *p = data;

	for (unsigned int i = 0; i < cnt && len; i++) {
		size_t n;

		if (off >= iov[i].iov_len) {
			off -= iov[i].iov_len;
			continue;
		}
		n = iov[i].iov_len - off;
		if (n > len)
			n = len;
		memcpy((uint8_t *)iov[i].iov_base + off, p, n);
		p += n;
		len -= n;
		off = 0;
	}
}

/*
 * Complete the @k oldest chains with the @n bytes of one frame, the
 * first with num_buffers = @k.
 */
static void rx_complete(struct net_queue *q, unsigned int k, size_t n)
{
	struct vdk_req *first = held_at(q, 0);
	uint16_t nb = htole16((uint16_t)k);
	size_t left = n;

	iov_put(first->iov, first->n_in, offsetof(struct virtio_net_hdr_v1,
						  num_buffers),
		&nb, sizeof(nb));
	for (unsigned int i = 0; i < k; i++) {
		struct vdk_req *req = held_at(q, i);
		size_t use = req->in_len < left ? req->in_len : left;

		vdk_vq_push(q->vq, req, (uint32_t)use);
		left -= use;
	}
	held_drop_front(q, k);
	q->pushed = true;
	count(&q->st.packets, 1);
	count(&q->st.bytes, n - VDK_NET_HDR_LEN);
}

/*
 * Read one frame into the held chains.  1 when a frame was taken (given
 * to the driver or dropped), 0 when the backend had none, or when the
 * driver must post room first (*@starved), -errno.
 */
static int rx_one(struct net_queue *q, size_t need, bool *starved)
{
	const struct net_shared *sh = q->sh;
	unsigned int cnt = 0, chains = 0, k;
	size_t room = 0, left;
	ssize_t n;

	/*
	 * Wait for the driver while it can still post room for the
	 * largest frame; once the whole ring is held (or the vectors run
	 * out), take what there is and drop frames that do not fit.
	 */
	if (q->held_n == 0 || (sh->mrg_rxbuf && q->held_bytes < need &&
			       q->held_n < q->held_cap)) {
		*starved = true;
		return 0;
	}
	/*
	 * As many chains as the largest frame needs, no more: the kernel
	 * copies in the whole vector list on each read, however small the
	 * frame that comes.
	 */
	while (chains < q->held_n && room < need) {
		struct vdk_req *req = held_at(q, chains);

		if (cnt + req->n_in > NET_RX_IOV_MAX)
			break;
		memcpy(q->rx_iov + cnt, req->iov, req->n_in * sizeof(*req->iov));
		cnt += req->n_in;
		room += req->in_len;
		chains++;
		if (!sh->mrg_rxbuf)
			break;
	}
	if (!chains) {
		/* One chain with more vectors than a read takes. */
		struct vdk_req *req = held_at(q, 0);

		complain(q, "receive chain of %u vectors refused", req->n_in);
		vdk_vq_push(q->vq, req, 0);
		held_drop_front(q, 1);
		q->pushed = true;
		return 1;
	}
	q->rx_iov[cnt].iov_base = q->overflow;
	q->rx_iov[cnt].iov_len = VDK_NET_HDR_LEN + NET_FRAME_MAX;
	n = readv(sh->fd, q->rx_iov, (int)cnt + 1);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return 0;
		return -errno;
	}
	if ((size_t)n > room) {
		/* No room for it: lost, as on a NIC with a full ring. */
		count(&q->st.dropped, 1);
		return 1;
	}
	if ((size_t)n < VDK_NET_HDR_LEN + NET_ETH_HLEN) {
		complain(q, "the backend gave a frame of %zd bytes", n);
		return 1;
	}
	for (k = 0, left = (size_t)n; left; k++) {
		size_t len = held_at(q, k)->in_len;

		left -= len < left ? len : left;
	}
	rx_complete(q, k, (size_t)n);
	return 1;
}

int net_rx_round(struct net_queue *q, bool *starved)
{
	unsigned int budget = vdk_vq_size(q->vq), done = 0;
	size_t need = rx_need(q->sh);
	uint64_t bad = bad_now(q);
	int ret = 0;

	*starved = false;
	if (q->sh->fd < 0) {
		/* Nothing to receive from: keep the chains, wait. */
		*starved = true;
		return 0;
	}
	while (done < budget) {
		ret = rx_fill(q, need);
		if (ret < 0)
			break;
		ret = rx_one(q, need, starved);
		if (ret <= 0)
			break;
		done++;
	}
	if (refused_since(q, bad))
		q->pushed = true;
	if (q->pushed) {
		q->pushed = false;
		vdk_vq_notify(q->vq);
	}
	if (ret < 0 && !done)
		return ret;
	return (int)done;
}

void net_rx_release(struct net_queue *q)
{
	/* The driver reset: it has forgotten them, and so does the library. */
	q->held_head = 0;
	q->held_n = 0;
	q->held_bytes = 0;
}

int net_queue_init(struct net_queue *q, struct net_shared *sh,
		   unsigned int index, unsigned int queue_size)
{
	memset(q, 0, sizeof(*q));
	q->sh = sh;
	q->index = index;
	q->stop_fd = -1;
	if (index == NET_RXQ) {
		q->held_cap = queue_size;
		q->held = calloc(queue_size, sizeof(*q->held));
		q->rx_iov = calloc(NET_RX_IOV_MAX + 1, sizeof(*q->rx_iov));
		q->overflow = malloc(VDK_NET_HDR_LEN + NET_FRAME_MAX);
		if (!q->held || !q->rx_iov || !q->overflow) {
			net_queue_fini(q);
			return -ENOMEM;
		}
	}
	return 0;
}

void net_queue_fini(struct net_queue *q)
{
	free(q->held);
	free(q->rx_iov);
	free(q->overflow);
	q->held = NULL;
	q->rx_iov = NULL;
	q->overflow = NULL;
}
