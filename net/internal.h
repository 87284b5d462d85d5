/* SPDX-License-Identifier: MIT */
/*
 * Inside the virtio-net device: the queues and the frame path, shared by
 * net.c (the device and its threads) and queue.c (receive and transmit),
 * and open to tests/net.
 */
#ifndef VDK_NET_INTERNAL_H
#define VDK_NET_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "net.h"

/* Queue indexes: one pair. */
#define NET_RXQ 0
#define NET_TXQ 1
#define NET_NUM_QUEUES 2

/* Largest frame after the header: 64 KiB of GSO payload and headers. */
#define NET_FRAME_MAX (65535 + 14 + 4)
/* Ethernet header: a shorter frame is a runt. */
#define NET_ETH_HLEN 14
/* Vectors of one chain, after splits at mapping boundaries. */
#define NET_MAX_IOVECS 128
/* Vectors of one receive (readv): chains for one frame, and the rest. */
#define NET_RX_IOV_MAX 1024

struct net_shared {
	const struct vdk_netdev_ops *ops;
	struct vdk_netdev *nd;
	int fd;                  /* the backend's packet fd, -1 in rescue */
	struct vdk_dev *dev;
	unsigned int mtu;
	_Atomic bool link_up;
	/* Driver features, fixed between start and stop. */
	uint64_t features;
	bool mrg_rxbuf;
	bool guest_gso;
	vdk_log_fn log;
	void *log_opaque;
	int log_level;
	char name[64];
};

struct net_queue {
	struct net_shared *sh;
	struct vdk_vq *vq;
	unsigned int index;
	pthread_t thread;
	bool running;
	_Atomic bool stop;
	int stop_fd;
	bool pushed;            /* completions since the last notify */
	struct vdk_net_qstats st; /* written by the queue's thread only */
	/* Receive: popped chains, oldest first (a ring of @held_cap). */
	struct vdk_req **held;
	unsigned int held_cap, held_head, held_n;
	size_t held_bytes;
	struct iovec *rx_iov;   /* NET_RX_IOV_MAX + 1 */
	uint8_t *overflow;      /* where a frame too big for its chains goes */
	uint64_t last_log_ns;   /* rate limit of per-frame complaints */
	uint64_t suppressed;
};

/*
 * One round of each direction: at most a ring's worth of frames.
 * Returns the frames handled (> 0: call again), 0 when there is nothing
 * to do now, -errno when the backend failed.  *@starved (receive) says
 * that the driver has not posted room for a frame of the largest size:
 * wait for its kick, not for the backend.
 */
int net_rx_round(struct net_queue *q, bool *starved);
int net_tx_round(struct net_queue *q);
/* Give back the receive chains the queue holds (at stop). */
void net_rx_release(struct net_queue *q);
int net_queue_init(struct net_queue *q, struct net_shared *sh,
		   unsigned int index, unsigned int queue_size);
void net_queue_fini(struct net_queue *q);

void net_log(const struct net_shared *sh, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The device's features and configuration space, for tests. */
uint64_t net_features(const struct vdk_net_cfg *cfg);
size_t net_fill_config(const struct vdk_net_cfg *cfg, bool link_up,
		       void *config);

typedef int (*net_create_fn)(void *arg, const struct vdk_dev_cfg *cfg,
			     struct vdk_dev **out);
/* vdk_net_create() with @create making the VDUSE device (tests: sim). */
int vdk__net_new(const struct vdk_net_cfg *cfg, net_create_fn create,
		 void *arg, struct vdk_net **out);

#endif /* VDK_NET_INTERNAL_H */
