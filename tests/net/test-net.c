/* SPDX-License-Identifier: MIT */
/*
 * vdk net on the simulator, with its queue threads running.  The host
 * side is a SOCK_SEQPACKET socket pair standing in for a tap (one frame,
 * with its virtio-net header, per message); the driver side is this
 * test.  Frames both ways, mergeable buffers and num_buffers, frames
 * too big for the room posted, runts, hostile chains on both queues,
 * the link and its configuration interrupt.
 */
#include <endian.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <linux/virtio_config.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>

#include "internal.h"
#include "sim.h"
#include "test.h"

#define MEM (8u << 20)
#define RING(q) (0x1000 + (uint64_t)(q) * 0x10000)
#define BUF(i) (0x100000 + (uint64_t)(i) * 0x10000)
#define QSIZE 64
#define F(b) (1ull << (b))
#define BASE_FEATURES                                                        \
	(F(VIRTIO_F_VERSION_1) | F(VIRTIO_F_ACCESS_PLATFORM) |               \
	 F(VIRTIO_RING_F_EVENT_IDX) | F(VIRTIO_RING_F_INDIRECT_DESC) |       \
	 F(VIRTIO_NET_F_MAC) | F(VIRTIO_NET_F_STATUS) | F(VIRTIO_NET_F_MTU))

/* ---- a tap made of a socket pair ---- */

struct vdk_netdev {
	int fd;    /* the device's end */
	int link;  /* 1 up, 0 down */
	uint64_t offloads;
};

static int sp_fd(struct vdk_netdev *nd)
{
	return nd->fd;
}

static int sp_set_offloads(struct vdk_netdev *nd, uint64_t f)
{
	__atomic_store_n(&nd->offloads, f, __ATOMIC_RELEASE);
	return 0;
}

static void sp_describe(struct vdk_netdev *nd, struct vdk_netdev_desc *out)
{
	out->n = 0;
}

static void sp_nothing(struct vdk_netdev *nd)
{
}

static const struct vdk_netdev_ops sp_ops = {
	.name = "socketpair",
	.remove = sp_nothing,
	.close = sp_nothing,
	.fd = sp_fd,
	.set_offloads = sp_set_offloads,
	.describe = sp_describe,
};

struct env {
	struct sim *s;
	struct vdk_net *net;
	struct vdk_netdev nd;
	int host;  /* the host's end */
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

static void env_open(struct env *e, uint64_t features)
{
	struct vdk_net_cfg cfg = { 0 };
	int sv[2];

	memset(e, 0, sizeof(*e));
	CHECK_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0, sv), 0);
	e->nd.fd = sv[0];
	e->host = sv[1];
	CHECK_EQ(sim_new(MEM, &e->s), 0);
	cfg.name = "net0";
	cfg.backend = &sp_ops;
	cfg.nd = &e->nd;
	memcpy(cfg.mac, "\x52\x54\x00\x01\x02\x03", 6);
	cfg.mtu = 1500;
	cfg.queue_size = QSIZE;
	cfg.log = quiet;
	cfg.log_level = VDK_LOG_DEBUG;
	CHECK_EQ(vdk__net_new(&cfg, sim_create, e->s, &e->net), 0);
	CHECK_EQ(vdk_net_start(e->net), 0);
	sim_vq_setup(e->s, NET_RXQ, QSIZE, RING(NET_RXQ));
	sim_vq_setup(e->s, NET_TXQ, QSIZE, RING(NET_TXQ));
	CHECK_EQ(sim_driver_ok(e->s, vdk_net_dev(e->net), features), 0);
}

static void env_close(struct env *e)
{
	vdk_net_stop(e->net);
	CHECK_EQ(sim_set_status(e->s, vdk_net_dev(e->net), 0), 0);
	vdk_net_free(e->net);
	sim_free(e->s);
	close(e->host);
	close(e->nd.fd);
}

static uint64_t ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The next completion of queue @q within 5 s: its id and length. */
static void wait_used(struct env *e, unsigned int q, int head, uint32_t *len)
{
	uint64_t deadline = ms_now() + 5000;
	uint16_t id;

	while (ms_now() < deadline) {
		if (sim_vq_used(e->s, q, &id, len)) {
			CHECK_EQ(id, head);
			return;
		}
		usleep(50);
	}
	fprintf(stderr, "chain %d of queue %u never completed\n", head, q);
	exit(T_EXIT_FAIL);
}

/* Nothing completed on @q for a while. */
static void no_used(struct env *e, unsigned int q)
{
	uint16_t id;
	uint32_t len;

	usleep(100000);
	CHECK_EQ(sim_vq_used(e->s, q, &id, &len), 0);
}

static void fill_frame(uint8_t *f, size_t len, uint8_t seed)
{
	memset(f, 0, VDK_NET_HDR_LEN);
	for (size_t i = VDK_NET_HDR_LEN; i < len; i++)
		f[i] = (uint8_t)(seed + i * 7);
}

/* A frame from the host: it arrives whole, or the test fails. */
static void host_send(struct env *e, const void *f, size_t len)
{
	CHECK_EQ(send(e->host, f, len, 0), (long long)len);
}

/* A frame to the host within 5 s: its length (0: none came). */
static ssize_t host_recv(struct env *e, void *buf, size_t len, int ms)
{
	struct pollfd p = { .fd = e->host, .events = POLLIN };

	if (poll(&p, 1, ms) != 1)
		return 0;
	return recv(e->host, buf, len, 0);
}

static void stats(struct env *e, struct vdk_net_info *info)
{
	vdk_net_get_info(e->net, info);
}

/* ---- the tests ---- */

static void test_config(void)
{
	struct virtio_net_config c = { 0 };
	struct vdk_net_info info;
	uint64_t f;
	uint32_t size;
	const uint8_t *cs;
	struct env e;
	unsigned int irqs;

	env_open(&e, BASE_FEATURES);
	f = sim_device_features(e.s);
	CHECK(f & F(VIRTIO_NET_F_MRG_RXBUF));
	CHECK(f & F(VIRTIO_NET_F_CSUM));
	CHECK(f & F(VIRTIO_NET_F_GUEST_TSO4));
	CHECK(!(f & F(VIRTIO_NET_F_CTRL_VQ)));
	cs = sim_config(e.s, &size);
	CHECK(size >= offsetof(struct virtio_net_config, mtu) + 2);
	memcpy(&c, cs, offsetof(struct virtio_net_config, mtu) + 2);
	CHECK(!memcmp(c.mac, "\x52\x54\x00\x01\x02\x03", 6));
	CHECK_EQ(le16toh(c.mtu), 1500);
	CHECK_EQ(le16toh(c.max_virtqueue_pairs), 1);
	CHECK_EQ(le16toh(c.status), VIRTIO_NET_S_LINK_UP);
	/* The link down and up again: one configuration interrupt each. */
	irqs = sim_config_irqs(e.s);
	CHECK_EQ(vdk_net_set_link(e.net, false), 0);
	cs = sim_config(e.s, &size);
	memcpy(&c, cs, offsetof(struct virtio_net_config, mtu) + 2);
	CHECK_EQ(le16toh(c.status), 0);
	CHECK_EQ(sim_config_irqs(e.s), irqs + 1);
	CHECK_EQ(vdk_net_set_link(e.net, false), 0);
	CHECK_EQ(sim_config_irqs(e.s), irqs + 1);
	CHECK_EQ(vdk_net_set_link(e.net, true), 0);
	CHECK_EQ(sim_config_irqs(e.s), irqs + 2);
	stats(&e, &info);
	CHECK(info.link_up);
	/* The driver's receive offloads reach the backend, soon. */
	for (int i = 0; i < 1000 && !__atomic_load_n(&e.nd.offloads,
						    __ATOMIC_ACQUIRE); i++)
		usleep(1000);
	CHECK_EQ(__atomic_load_n(&e.nd.offloads, __ATOMIC_ACQUIRE),
		 BASE_FEATURES);
	env_close(&e);
}

static void test_tx(void)
{
	uint8_t frame[1600], got[2000];
	struct vdk_net_info info;
	struct env e;
	uint32_t len;
	int head;

	env_open(&e, BASE_FEATURES);
	/* A frame in three pieces: the header alone, then the data split. */
	fill_frame(frame, sizeof(frame), 1);
	sim_write(e.s, BUF(0), frame, sizeof(frame));
	{
		struct sim_buf b[3] = {
			{ BUF(0), VDK_NET_HDR_LEN, false },
			{ BUF(0) + VDK_NET_HDR_LEN, 100, false },
			{ BUF(0) + VDK_NET_HDR_LEN + 100,
			  sizeof(frame) - VDK_NET_HDR_LEN - 100, false },
		};

		head = sim_vq_add(e.s, NET_TXQ, b, 3, 0);
	}
	sim_vq_kick(e.s, NET_TXQ, true);
	wait_used(&e, NET_TXQ, head, &len);
	CHECK_EQ(len, 0);
	CHECK_EQ(host_recv(&e, got, sizeof(got), 2000), sizeof(frame));
	CHECK(!memcmp(got, frame, sizeof(frame)));

	/* Too short for a header and an Ethernet header: refused. */
	{
		struct sim_buf b = { BUF(1), VDK_NET_HDR_LEN + 13, false };

		head = sim_vq_add(e.s, NET_TXQ, &b, 1, 0);
	}
	sim_vq_kick(e.s, NET_TXQ, true);
	wait_used(&e, NET_TXQ, head, &len);
	/* Longer than any frame (a driver lying): refused, nothing sent. */
	{
		struct sim_buf b[2] = {
			{ BUF(2), 0x10000, false },
			{ BUF(3), 0x100, false },
		};

		head = sim_vq_add(e.s, NET_TXQ, b, 2, 0);
	}
	sim_vq_kick(e.s, NET_TXQ, true);
	wait_used(&e, NET_TXQ, head, &len);
	/* Writable only: nothing to send. */
	{
		struct sim_buf b = { BUF(4), 2000, true };

		head = sim_vq_add(e.s, NET_TXQ, &b, 1, 0);
	}
	sim_vq_kick(e.s, NET_TXQ, true);
	wait_used(&e, NET_TXQ, head, &len);
	CHECK_EQ(host_recv(&e, got, sizeof(got), 200), 0);
	stats(&e, &info);
	CHECK_EQ(info.tx.packets, 1);
	CHECK_EQ(info.tx.bytes, sizeof(frame) - VDK_NET_HDR_LEN);
	CHECK_EQ(info.tx.errors, 3);

	/* Another good one still goes: the queue is not broken. */
	head = sim_vq_add(e.s, NET_TXQ,
			  &(struct sim_buf){ BUF(0), 200, false }, 1, 0);
	sim_vq_kick(e.s, NET_TXQ, true);
	wait_used(&e, NET_TXQ, head, &len);
	CHECK_EQ(host_recv(&e, got, sizeof(got), 2000), 200);
	env_close(&e);
}

/* Post @n receive buffers of @size bytes each, one chain each. */
static void post_rx(struct env *e, unsigned int first, unsigned int n,
		    uint32_t size, int *heads)
{
	for (unsigned int i = 0; i < n; i++) {
		struct sim_buf b = { BUF(first + i), size, true };

		heads[i] = sim_vq_add(e->s, NET_RXQ, &b, 1, 0);
		CHECK(heads[i] >= 0);
	}
	sim_vq_kick(e->s, NET_RXQ, true);
}

static void test_rx_mergeable(void)
{
	uint8_t frame[VDK_NET_HDR_LEN + 1500], got[4096];
	struct virtio_net_hdr_v1 hdr;
	struct vdk_net_info info;
	int heads[8];
	uint32_t len;
	struct env e;

	env_open(&e, BASE_FEATURES | F(VIRTIO_NET_F_MRG_RXBUF));
	/* 2 x 600 bytes: less than a frame of the MTU may need: wait. */
	post_rx(&e, 0, 2, 600, heads);
	fill_frame(frame, sizeof(frame), 3);
	host_send(&e, frame, sizeof(frame));
	no_used(&e, NET_RXQ);
	/* Two more: the frame spans three, num_buffers 3. */
	post_rx(&e, 2, 2, 600, heads + 2);
	wait_used(&e, NET_RXQ, heads[0], &len);
	CHECK_EQ(len, 600);
	wait_used(&e, NET_RXQ, heads[1], &len);
	CHECK_EQ(len, 600);
	wait_used(&e, NET_RXQ, heads[2], &len);
	CHECK_EQ(len, sizeof(frame) - 1200);
	sim_read(e.s, BUF(0), &hdr, sizeof(hdr));
	CHECK_EQ(le16toh(hdr.num_buffers), 3);
	sim_read(e.s, BUF(0), got, 600);
	sim_read(e.s, BUF(1), got + 600, 600);
	sim_read(e.s, BUF(2), got + 1200, sizeof(frame) - 1200);
	CHECK(!memcmp(got + VDK_NET_HDR_LEN, frame + VDK_NET_HDR_LEN,
		      sizeof(frame) - VDK_NET_HDR_LEN));
	/* The fourth is kept for the next frame: a small one. */
	post_rx(&e, 4, 2, 600, heads + 4);
	host_send(&e, frame, 100);
	wait_used(&e, NET_RXQ, heads[3], &len);
	CHECK_EQ(len, 100);
	sim_read(e.s, BUF(3), &hdr, sizeof(hdr));
	CHECK_EQ(le16toh(hdr.num_buffers), 1);
	/* A runt from the host: dropped, no chain used. */
	host_send(&e, frame, VDK_NET_HDR_LEN + 5);
	usleep(100000);
	post_rx(&e, 6, 1, 600, heads + 6);
	host_send(&e, frame, 200);
	wait_used(&e, NET_RXQ, heads[4], &len);
	CHECK_EQ(len, 200);
	stats(&e, &info);
	CHECK_EQ(info.rx.packets, 3);
	CHECK_EQ(info.rx.errors, 1);
	env_close(&e);
}

static void test_rx_single(void)
{
	uint8_t frame[VDK_NET_HDR_LEN + 1514];
	struct vdk_net_info info;
	int heads[4];
	uint32_t len;
	struct env e;

	/* No mergeable buffers: one chain a frame, too small loses it. */
	env_open(&e, BASE_FEATURES);
	post_rx(&e, 0, 1, 600, heads);
	fill_frame(frame, sizeof(frame), 5);
	host_send(&e, frame, sizeof(frame));
	no_used(&e, NET_RXQ);
	stats(&e, &info);
	CHECK_EQ(info.rx.dropped, 1);
	/* The same chain takes the next frame that fits. */
	host_send(&e, frame, 500);
	wait_used(&e, NET_RXQ, heads[0], &len);
	CHECK_EQ(len, 500);
	env_close(&e);
}

static void test_rx_hostile(void)
{
	uint8_t frame[200];
	struct vdk_net_info info;
	int head, heads[2];
	uint32_t len;
	struct env e;

	env_open(&e, BASE_FEATURES | F(VIRTIO_NET_F_MRG_RXBUF));
	/* A receive chain with a readable buffer: completed empty. */
	{
		struct sim_buf b[2] = {
			{ BUF(0), 100, false },
			{ BUF(1), 2000, true },
		};

		head = sim_vq_add(e.s, NET_RXQ, b, 2, 0);
	}
	sim_vq_kick(e.s, NET_RXQ, true);
	wait_used(&e, NET_RXQ, head, &len);
	CHECK_EQ(len, 0);
	/* Smaller than the header: completed empty too. */
	head = sim_vq_add(e.s, NET_RXQ,
			  &(struct sim_buf){ BUF(2), 11, true }, 1, 0);
	sim_vq_kick(e.s, NET_RXQ, true);
	wait_used(&e, NET_RXQ, head, &len);
	CHECK_EQ(len, 0);
	stats(&e, &info);
	CHECK_EQ(info.rx.errors, 2);
	/* And the queue goes on. */
	post_rx(&e, 3, 2, 1000, heads);
	fill_frame(frame, sizeof(frame), 9);
	host_send(&e, frame, sizeof(frame));
	wait_used(&e, NET_RXQ, heads[0], &len);
	CHECK_EQ(len, sizeof(frame));
	env_close(&e);
}

/* The whole ring held and still less than a GSO frame: read anyway. */
static void test_rx_small_ring(void)
{
	uint8_t frame[VDK_NET_HDR_LEN + 3000];
	int heads[QSIZE];
	uint32_t len;
	struct env e;

	env_open(&e, BASE_FEATURES | F(VIRTIO_NET_F_MRG_RXBUF) |
			     F(VIRTIO_NET_F_GUEST_CSUM) |
			     F(VIRTIO_NET_F_GUEST_TSO4));
	post_rx(&e, 0, QSIZE, 512, heads);
	fill_frame(frame, sizeof(frame), 11);
	host_send(&e, frame, sizeof(frame));
	for (unsigned int i = 0; i < 6; i++) {
		wait_used(&e, NET_RXQ, heads[i], &len);
		CHECK_EQ(len, i < 5 ? 512 : sizeof(frame) - 5 * 512);
	}
	env_close(&e);
}

int main(void)
{
	test_config();
	test_tx();
	test_rx_mergeable();
	test_rx_single();
	test_rx_hostile();
	test_rx_small_ring();
	return T_EXIT_PASS;
}
