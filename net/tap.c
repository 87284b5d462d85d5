// SPDX-License-Identifier: MIT
/*
 * The tap backend: a Linux tap interface with IFF_VNET_HDR, so that the
 * virtio-net header and its offloads pass through as they are, and the
 * host bridges or routes the interface like any other.
 *
 * An interface that exists is taken as it is (it must be a tap nobody
 * holds); one that does not is created and brought up.  Once the kernel
 * device exists the tap is persistent, so that a daemon killed and
 * recovered finds the same interface with its addresses, routes and
 * bridge port; a command that fails before leaves no tap behind.
 * When the device goes (`vdk del`) a tap vdk created goes with it,
 * unless persist=on; one that existed stays, unless persist=off.
 */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/if_tun.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/virtio_net.h>

#include "netdev.h"

#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20
#define TUN_F_USO6 0x40
#endif

struct vdk_netdev {
	int fd;        /* the tap queue */
	int ctl;       /* an AF_INET socket for interface ioctls */
	int nl;        /* rtnetlink, link notifications */
	bool persist;  /* stays after the device */
	char ifname[IFNAMSIZ];
	unsigned int ifindex;
};

static int tap_err(char *err, size_t errlen, int ret, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int tap_err(char *err, size_t errlen, int ret, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return ret;
}

static int get_flags(struct vdk_netdev *t, short *flags)
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, t->ifname, sizeof(ifr.ifr_name));
	if (ioctl(t->ctl, SIOCGIFFLAGS, &ifr) < 0)
		return -errno;
	*flags = ifr.ifr_flags;
	return 0;
}

static int set_up(struct vdk_netdev *t)
{
	struct ifreq ifr;
	int ret;

	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, t->ifname, sizeof(ifr.ifr_name));
	ret = get_flags(t, &ifr.ifr_flags);
	if (ret)
		return ret;
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(t->ctl, SIOCSIFFLAGS, &ifr) < 0)
		return -errno;
	return 0;
}

static int set_mtu(struct vdk_netdev *t, unsigned int mtu)
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, t->ifname, sizeof(ifr.ifr_name));
	ifr.ifr_mtu = (int)mtu;
	if (ioctl(t->ctl, SIOCSIFMTU, &ifr) < 0)
		return -errno;
	return 0;
}

/* Attach to (or create) the tap @t->ifname as one queue with a header. */
static int attach(struct vdk_netdev *t, char *err, size_t errlen)
{
	unsigned int features = 0;
	struct ifreq ifr;
	int hdr = VDK_NET_HDR_LEN;

	t->fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (t->fd < 0)
		return tap_err(err, errlen, -errno, "/dev/net/tun: %s "
			       "(modprobe tun)", strerror(errno));
	if (ioctl(t->fd, TUNGETFEATURES, &features) == 0 &&
	    !(features & IFF_VNET_HDR))
		return tap_err(err, errlen, -EOPNOTSUPP,
			       "this kernel's tap has no IFF_VNET_HDR");
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, t->ifname, sizeof(ifr.ifr_name));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	if (ioctl(t->fd, TUNSETIFF, &ifr) < 0) {
		int e = errno;

		if (e == EBUSY)
			return tap_err(err, errlen, -e, "tap '%s' is in use "
				       "by another process", t->ifname);
		if (e == EINVAL && t->ifindex)
			return tap_err(err, errlen, -e, "'%s' exists and is "
				       "not a tap with one queue", t->ifname);
		return tap_err(err, errlen, -e, "tap '%s': %s", t->ifname,
			       strerror(e));
	}
	if (ioctl(t->fd, TUNSETVNETHDRSZ, &hdr) < 0)
		return tap_err(err, errlen, -errno, "tap '%s': header size: %s",
			       t->ifname, strerror(errno));
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	{
		int le = 1;

		if (ioctl(t->fd, TUNSETVNETLE, &le) < 0)
			return tap_err(err, errlen, -errno, "tap '%s': "
				       "little-endian headers: %s", t->ifname,
				       strerror(errno));
	}
#endif
	/* Nothing offloaded to a driver that has not said what it takes. */
	if (ioctl(t->fd, TUNSETOFFLOAD, 0) < 0)
		return tap_err(err, errlen, -errno, "tap '%s': offloads: %s",
			       t->ifname, strerror(errno));
	return 0;
}

/* rtnetlink's link group: a message whenever an interface changes. */
static int link_socket(struct vdk_netdev *t, char *err, size_t errlen)
{
	struct sockaddr_nl sa = {
		.nl_family = AF_NETLINK,
		.nl_groups = RTMGRP_LINK,
	};

	t->nl = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC,
		       NETLINK_ROUTE);
	if (t->nl < 0)
		return tap_err(err, errlen, -errno, "netlink: %s",
			       strerror(errno));
	if (bind(t->nl, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return tap_err(err, errlen, -errno, "netlink: %s",
			       strerror(errno));
	return 0;
}

static void tap_close(struct vdk_netdev *t)
{
	if (!t)
		return;
	if (t->fd >= 0)
		close(t->fd);
	if (t->ctl >= 0)
		close(t->ctl);
	if (t->nl >= 0)
		close(t->nl);
	free(t);
}

static int tap_open(struct vdk_params *ps, const char *devname,
		    unsigned int mtu, struct vdk_netdev **out, char *err,
		    size_t errlen)
{
	const char *ifname = vdk_params_get(ps, "ifname");
	struct vdk_netdev *t;
	bool created, persist;
	int ret;

	if (!ifname)
		ifname = devname;
	if (!ifname[0] || strlen(ifname) >= IFNAMSIZ || strchr(ifname, '/') ||
	    strchr(ifname, ' ') || strchr(ifname, ':'))
		return tap_err(err, errlen, -EINVAL,
			       "bad interface name '%s' (1..%d characters, "
			       "no '/', ':' or space): give ifname=",
			       ifname, IFNAMSIZ - 1);
	t = calloc(1, sizeof(*t));
	if (!t)
		return tap_err(err, errlen, -ENOMEM, "out of memory");
	t->fd = t->ctl = t->nl = -1;
	snprintf(t->ifname, sizeof(t->ifname), "%s", ifname);
	t->ifindex = if_nametoindex(t->ifname);
	created = t->ifindex == 0;
	persist = !created;
	ret = vdk_params_get_bool(ps, "persist", &persist, err, errlen);
	if (ret && ret != -ENOENT)
		goto err_close;
	t->persist = persist;

	t->ctl = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (t->ctl < 0) {
		ret = tap_err(err, errlen, -errno, "socket: %s",
			      strerror(errno));
		goto err_close;
	}
	ret = attach(t, err, errlen);
	if (ret)
		goto err_remove;
	t->ifindex = if_nametoindex(t->ifname);
	if (mtu) {
		ret = set_mtu(t, mtu);
		if (ret) {
			tap_err(err, errlen, ret, "tap '%s': MTU %u: %s",
				t->ifname, mtu, strerror(-ret));
			goto err_remove;
		}
	}
	if (created) {
		ret = set_up(t);
		if (ret) {
			tap_err(err, errlen, ret, "tap '%s': up: %s",
				t->ifname, strerror(-ret));
			goto err_remove;
		}
	}
	ret = link_socket(t, err, errlen);
	if (ret)
		goto err_remove;
	*out = t;
	return 0;

err_remove:
	/* A tap made here and now goes again as it is closed. */
err_close:
	tap_close(t);
	return ret;
}

static int tap_hold(struct vdk_netdev *t)
{
	if (ioctl(t->fd, TUNSETPERSIST, 1) < 0)
		return -errno;
	return 0;
}

static void tap_remove(struct vdk_netdev *t)
{
	if (!t->persist && t->fd >= 0 && ioctl(t->fd, TUNSETPERSIST, 0) < 0) {
		/* nothing more to do: the interface stays */
	}
}

static void tap_remove_orphan(struct vdk_params *ps)
{
	const char *ifname = vdk_params_get(ps, "ifname");
	const char *persist = vdk_params_get(ps, "persist");
	struct vdk_netdev t = { .fd = -1, .ctl = -1, .nl = -1 };
	char err[128];

	if (!ifname || !persist || strcmp(persist, "off") ||
	    strlen(ifname) >= IFNAMSIZ)
		return;
	snprintf(t.ifname, sizeof(t.ifname), "%s", ifname);
	t.ifindex = if_nametoindex(t.ifname);
	/* Attached, no longer persistent: it goes as we close it. */
	if (attach(&t, err, sizeof(err)) == 0)
		tap_remove(&t);
	if (t.fd >= 0)
		close(t.fd);
}

static int tap_fd(struct vdk_netdev *t)
{
	return t->fd;
}

static int tap_set_offloads(struct vdk_netdev *t, uint64_t f)
{
	unsigned int off = 0;

	if (f & (1ull << VIRTIO_NET_F_GUEST_CSUM)) {
		off |= TUN_F_CSUM;
		if (f & (1ull << VIRTIO_NET_F_GUEST_TSO4))
			off |= TUN_F_TSO4;
		if (f & (1ull << VIRTIO_NET_F_GUEST_TSO6))
			off |= TUN_F_TSO6;
		if ((off & (TUN_F_TSO4 | TUN_F_TSO6)) &&
		    (f & (1ull << VIRTIO_NET_F_GUEST_ECN)))
			off |= TUN_F_TSO_ECN;
		if (f & (1ull << VIRTIO_NET_F_GUEST_UFO))
			off |= TUN_F_UFO;
	}
	if (ioctl(t->fd, TUNSETOFFLOAD, off) < 0)
		return -errno;
	return 0;
}

static int tap_link_fd(struct vdk_netdev *t)
{
	return t->nl;
}

static int tap_link_up(struct vdk_netdev *t)
{
	char buf[8192];
	short flags = 0;
	int ret;

	/* What the notifications say is read again below: drop them. */
	while (recv(t->nl, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
	ret = get_flags(t, &flags);
	if (ret)
		return ret;
	return (flags & IFF_UP) ? 1 : 0;
}

static void tap_describe(struct vdk_netdev *t, struct vdk_netdev_desc *out)
{
	out->n = 2;
	out->key[0] = "ifname";
	out->value[0] = t->ifname;
	out->key[1] = "persist";
	out->value[1] = t->persist ? "on" : "off";
}

static const char *const tap_syscalls[] = {
	"bind", "getsockname", NULL,
};

const struct vdk_netdev_ops vdk_netdev_tap = {
	.name = "tap",
	.summary = "a tap interface on the host, with the virtio-net header",
	.params_help =
	"ifname=NAME     the tap, taken if it exists, else created and brought up (default: the device's name)\n"
	"persist=on|off  whether the tap outlives the device (default: on for a tap that existed, off for one vdk created)\n",
	.open = tap_open,
	.hold = tap_hold,
	.remove = tap_remove,
	.remove_orphan = tap_remove_orphan,
	.close = tap_close,
	.fd = tap_fd,
	.set_offloads = tap_set_offloads,
	.link_fd = tap_link_fd,
	.link_up = tap_link_up,
	.describe = tap_describe,
	.syscalls = tap_syscalls,
};
