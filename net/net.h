/* SPDX-License-Identifier: MIT */
/*
 * The virtio-net device: one queue pair (VDUSE refuses the control
 * queue, and with it multiqueue), served by a network backend
 * (netdev.h): a receive thread, a transmit thread, and a control thread
 * that answers the kernel and follows the backend's link.
 */
#ifndef VDK_NET_H
#define VDK_NET_H

#include <stdbool.h>
#include <stdint.h>

#include <vdk/vdk.h>

#include "netdev.h"

struct vdk_net;

#define VDK_NET_DEF_QUEUE_SIZE 256
#define VDK_NET_MAX_QUEUE_SIZE 1024
#define VDK_NET_MIN_MTU 68
#define VDK_NET_MAX_MTU 65535

struct vdk_net_cfg {
	const char *name;
	const struct vdk_netdev_ops *backend;
	struct vdk_netdev *nd;  /* NULL: no host side (rescue) */
	uint8_t mac[6];
	unsigned int mtu;       /* 0: not advertised (1500) */
	unsigned int queue_size;
	vdk_log_fn log;
	void *log_opaque;
	int log_level;
	bool reopen;            /* vdk_dev_open() instead of create */
	const char *inflight_path;
	/* VDK_DEV_F_* for the VDUSE device, as struct vdk_blk_cfg's. */
	uint64_t dev_flags;
};

/* Per-direction counters. */
struct vdk_net_qstats {
	uint64_t packets;
	uint64_t bytes;
	uint64_t dropped;  /* frames lost: no room, link down, host refused */
	uint64_t errors;   /* malformed chains and frames */
};

struct vdk_net_info {
	uint8_t status;     /* virtio device status */
	bool link_up;       /* as the driver is told */
	uint64_t features;  /* negotiated (0 before) */
	struct vdk_net_qstats rx, tx;
};

int vdk_net_create(const struct vdk_net_cfg *cfg, struct vdk_net **out);
/* Start the control thread: it answers the kernel from then on. */
int vdk_net_start(struct vdk_net *net);
/* Stop every thread. */
void vdk_net_stop(struct vdk_net *net);
/* Stop, close the VDUSE device (the kernel device stays).  NULL ok. */
void vdk_net_free(struct vdk_net *net);
void vdk_net_get_info(struct vdk_net *net, struct vdk_net_info *info);
struct vdk_dev *vdk_net_dev(struct vdk_net *net);

/*
 * Tell the driver the link is up or down (VIRTIO_NET_S_LINK_UP and a
 * configuration interrupt), whatever the backend says until its next
 * change.  0 or -errno.
 */
int vdk_net_set_link(struct vdk_net *net, bool up);

#endif /* VDK_NET_H */
