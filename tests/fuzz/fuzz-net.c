/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the virtio-net frame path (net/queue.c): the input
 * is a program of driver and host actions.  The driver posts transmit and
 * receive chains of any shape (readable and writable buffers of any
 * length, cut anywhere in memory); the host sends frames of any length
 * into the device's backend, a SOCK_SEQPACKET socket pair standing in for
 * a tap.  Each round runs the device's transmit or receive code.
 *
 * Checks: a transmit chain is completed exactly once, in its round; a
 * receive chain at most once, with a length no larger than the chain and
 * a header whose num_buffers is 1..chains delivered; what reaches the
 * host is whole frames of allowed sizes; nothing is read or written
 * outside driver memory (AddressSanitizer).
 *
 * Input: u16 cut, u8 flags (bit 0 mergeable buffers, bit 1 guest GSO),
 * then actions: u8 op, and per op
 *   0 transmit: u8 n (1..4), n x (u16 length, u8 writable)
 *   1 receive:  u8 n (1..4), n x (u16 length, u8 writable)
 *   2 frame:    u16 length
 */
#include <endian.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>

#include "../../net/internal.h"
#include "fuzz-input.h"
#include "sim.h"

#define MEM (512u << 10)
#define RING(q) (0x1000 + (uint64_t)(q) * 0x4000)
#define BUFS 0x10000
#define QSIZE 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t frame[VDK_NET_HDR_LEN + NET_FRAME_MAX];
static uint8_t sink[VDK_NET_HDR_LEN + NET_FRAME_MAX + 1];

/* Per receive head: the writable bytes posted (0: not in flight). */
static size_t rx_room[QSIZE];

static void check_rx_used(struct sim *s)
{
	uint16_t id;
	uint32_t len;

	while (sim_vq_used(s, NET_RXQ, &id, &len) == 1) {
		FUZZ_CHECK(id < QSIZE);
		FUZZ_CHECK(rx_room[id] > 0 || len == 0);
		FUZZ_CHECK(len <= rx_room[id]);
		rx_room[id] = 0;
	}
}

/* Frames that reached the host: whole, and of a size the device sends. */
static void drain_host(int fd)
{
	ssize_t n;

	while ((n = recv(fd, sink, sizeof(sink), MSG_DONTWAIT | MSG_TRUNC)) >
	       0) {
		FUZZ_CHECK((size_t)n >= VDK_NET_HDR_LEN + NET_ETH_HLEN);
		FUZZ_CHECK((size_t)n <= VDK_NET_HDR_LEN + NET_FRAME_MAX);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = { data, size };
	struct vdk_dev_cfg cfg = {
		.name = "fz",
		.device_id = VIRTIO_ID_NET,
		.num_queues = NET_NUM_QUEUES,
		.queue_size = QSIZE,
		.max_iovecs = NET_MAX_IOVECS,
	};
	struct net_shared sh = { .mtu = 1500 };
	struct net_queue rxq, txq;
	uint64_t cut, features;
	struct vdk_dev *dev;
	struct sim *s;
	uint8_t flags;
	bool starved;
	int sv[2];

	memset(rx_room, 0, sizeof(rx_room));
	FUZZ_CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0,
			      sv) == 0);
	sh.fd = sv[0];
	FUZZ_CHECK(sim_new(MEM, &s) == 0);
	FUZZ_CHECK(sim_dev_new(s, &cfg, true, &dev) == 0);
	cut = BUFS + 1 + fuzz_u16(&in) % (MEM - BUFS - 1);
	sim_cut(s, &cut, 1);
	flags = fuzz_u8(&in);
	sh.mrg_rxbuf = flags & 1;
	sh.guest_gso = flags & 2;
	sim_vq_setup(s, NET_RXQ, QSIZE, RING(NET_RXQ));
	sim_vq_setup(s, NET_TXQ, QSIZE, RING(NET_TXQ));
	features = (1ull << VIRTIO_F_VERSION_1) |
		   (1ull << VIRTIO_F_ACCESS_PLATFORM) |
		   (1ull << VIRTIO_RING_F_EVENT_IDX);
	if (sh.mrg_rxbuf)
		features |= 1ull << VIRTIO_NET_F_MRG_RXBUF;
	FUZZ_CHECK(sim_driver_ok(s, dev, features) == 0);
	FUZZ_CHECK(net_queue_init(&rxq, &sh, NET_RXQ, QSIZE) == 0);
	FUZZ_CHECK(net_queue_init(&txq, &sh, NET_TXQ, QSIZE) == 0);
	rxq.vq = vdk_dev_vq(dev, NET_RXQ);
	txq.vq = vdk_dev_vq(dev, NET_TXQ);

	for (unsigned int step = 0; step < 64 && in.n; step++) {
		uint8_t op = fuzz_u8(&in) % 3;

		if (op == 0 || op == 1) {
			unsigned int q = op == 0 ? NET_TXQ : NET_RXQ;
			unsigned int n = 1 + fuzz_u8(&in) % 4;
			struct sim_buf b[4];
			uint64_t at = BUFS;
			size_t room = 0;
			uint16_t used_before = sim_vq_used_idx(s, q);
			int head;

			for (unsigned int i = 0; i < n; i++) {
				uint32_t len = fuzz_u16(&in) % 0x4000 + 1;

				b[i] = (struct sim_buf){ at, len,
							 fuzz_u8(&in) & 1 };
				if (b[i].write)
					room += len;
				at += len;
				if (at + 0x4000 > MEM)
					at = BUFS;
			}
			head = sim_vq_add(s, q, b, n, 0);
			if (head < 0)
				continue;
			if (q == NET_TXQ) {
				uint16_t id;
				uint32_t ulen;

				FUZZ_CHECK(net_tx_round(&txq) >= 0);
				FUZZ_CHECK((uint16_t)(sim_vq_used_idx(s, q) -
						      used_before) == 1);
				FUZZ_CHECK(sim_vq_used(s, q, &id, &ulen) == 1);
				FUZZ_CHECK(id == head && ulen == 0);
				drain_host(sv[1]);
			} else {
				rx_room[head] = room ? room : 1;
				FUZZ_CHECK(net_rx_round(&rxq, &starved) >= 0);
				check_rx_used(s);
			}
		} else {
			size_t len = fuzz_u16(&in);

			if (len > sizeof(frame))
				len = sizeof(frame);
			memset(frame, 0x5a, len);
			if (len && send(sv[1], frame, len, MSG_DONTWAIT) < 0)
				continue;
			FUZZ_CHECK(net_rx_round(&rxq, &starved) >= 0);
			check_rx_used(s);
		}
	}
	/* The queue's chains are still counted as held, never completed. */
	FUZZ_CHECK(vdk_vq_inflight(txq.vq) == 0);
	FUZZ_CHECK(vdk_vq_inflight(rxq.vq) == rxq.held_n);
	net_rx_release(&rxq);
	net_queue_fini(&rxq);
	net_queue_fini(&txq);
	sim_set_status(s, dev, 0);
	vdk_dev_close(dev);
	sim_free(s);
	close(sv[0]);
	close(sv[1]);
	return 0;
}
