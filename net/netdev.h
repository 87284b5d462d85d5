/* SPDX-License-Identifier: MIT */
/*
 * Network backends: the host side of a virtio-net device.
 *
 * A backend hands the device one file descriptor on which one read(2)
 * returns one frame and one write(2) sends one, each with the 12-byte
 * virtio-net header (struct virtio_net_hdr_v1) in front, as a tap with
 * IFF_VNET_HDR does: the header and its offloads pass through as they
 * are.  The device runs the rings; the backend opens, configures and
 * closes the host side.  Like the storage backends (backends/backend.h),
 * a backend is a const ops table, listed in vdk_netdevs[].
 */
#ifndef VDK_NETDEV_H
#define VDK_NETDEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "params.h"

struct vdk_netdev; /* one per device, backend-defined */

/* The virtio-net header on the backend's fd, as VIRTIO_F_VERSION_1's. */
#define VDK_NET_HDR_LEN 12

/* What a backend keeps in the state file, for `vdk recover`. */
#define VDK_NETDEV_DESCRIBE_MAX 8
struct vdk_netdev_desc {
	unsigned int n;
	const char *key[VDK_NETDEV_DESCRIBE_MAX];
	const char *value[VDK_NETDEV_DESCRIBE_MAX];
};

struct vdk_netdev_ops {
	const char *name;
	/* One line for `vdk backends`. */
	const char *summary;
	/* Parameter list, one "key=value  meaning" per line. */
	const char *params_help;

	/*
	 * Required.  Parse @params (mark every key used; the caller
	 * rejects unused ones) and open the host side of device @devname
	 * with @mtu (0: leave it).  Runs as root, before any fork.  On
	 * error -errno with a one-line message in @err.
	 */
	int (*open)(struct vdk_params *params, const char *devname,
		    unsigned int mtu, struct vdk_netdev **out, char *err,
		    size_t errlen);
	/*
	 * Optional.  The kernel device exists: from now on the host side
	 * must outlive the daemon (a crash, a restart), for recover to
	 * open it again.  Until then, what open() made goes with close().
	 * 0 or -errno.
	 */
	int (*hold)(struct vdk_netdev *nd);
	/*
	 * Required.  The device goes for good (`vdk del`): undo what
	 * open() made that must not outlive it.  Not called when the
	 * daemon only stops (a crash, a restart): recover opens it again.
	 */
	void (*remove)(struct vdk_netdev *nd);
	/*
	 * Optional.  The device went without its daemon (`vdk del` of an
	 * orphan): undo what open() with @params, as describe() gave
	 * them, made that must not outlive it.  Runs as root.
	 */
	void (*remove_orphan)(struct vdk_params *params);
	/* Required.  Close what open() opened.  NULL is allowed. */
	void (*close)(struct vdk_netdev *nd);
	/* Required.  The packet fd (non-blocking). */
	int (*fd)(struct vdk_netdev *nd);
	/*
	 * Optional.  The driver takes these offloads on receive: the
	 * VIRTIO_NET_F_GUEST_* bits of @features.  0 or -errno.
	 */
	int (*set_offloads)(struct vdk_netdev *nd, uint64_t features);
	/*
	 * Optional, both or neither.  An fd that becomes readable when the
	 * host side's link may have changed, and the link now: 1 up, 0
	 * down, -errno.  link_up() consumes what made link_fd readable.
	 */
	int (*link_fd)(struct vdk_netdev *nd);
	int (*link_up)(struct vdk_netdev *nd);
	/* Required.  The parameters that open it again, as resolved. */
	void (*describe)(struct vdk_netdev *nd, struct vdk_netdev_desc *out);
	/* Optional.  System calls beyond the daemon's, NULL-terminated. */
	const char *const *syscalls;
};

extern const struct vdk_netdev_ops vdk_netdev_tap;

/* The network backends, NULL-terminated; the first is the default. */
extern const struct vdk_netdev_ops *const vdk_netdevs[];

const struct vdk_netdev_ops *vdk_netdev_find(const char *name);

#endif /* VDK_NETDEV_H */
