/* SPDX-License-Identifier: MIT */
/*
 * The vDPA bus over generic netlink (family "vdpa"), as `vdpa dev add` and
 * `vdpa dev del` do it, without the iproute2 tool.
 */
#ifndef VDK_VDPA_NETLINK_H
#define VDK_VDPA_NETLINK_H

#include <stddef.h>
#include <stdint.h>

struct nlmsghdr;
struct vdk_nl;

/* The management device VDUSE registers. */
#define VDK_VDPA_MGMTDEV "vduse"

/*
 * Message builders, for the functions below and for tests.  @buf must hold
 * MNL_SOCKET_BUFFER_SIZE bytes.  They return the message, or NULL when a
 * name does not fit.
 */
struct nlmsghdr *vdk_nl_build_getfamily(void *buf, uint32_t seq);
struct nlmsghdr *vdk_nl_build_dev_new(void *buf, uint16_t family,
				      uint32_t seq, const char *name,
				      const char *mgmtdev);
struct nlmsghdr *vdk_nl_build_dev_del(void *buf, uint16_t family,
				      uint32_t seq, const char *name);
struct nlmsghdr *vdk_nl_build_mgmtdev_get(void *buf, uint16_t family,
					  uint32_t seq, const char *mgmtdev);

/*
 * Family id from a CTRL_CMD_NEWFAMILY answer.  0, or -EINVAL when the
 * message has no id.
 */
int vdk_nl_parse_family(const struct nlmsghdr *nlh, uint16_t *id);

/*
 * Open a generic netlink socket and resolve the "vdpa" family.
 * -ENOENT: no such family (module vdpa not loaded).
 */
int vdk_nl_open(struct vdk_nl **out);
/* NULL is allowed. */
void vdk_nl_close(struct vdk_nl *nl);

/*
 * VDPA_CMD_DEV_NEW on the vduse management device.  The kernel talks to
 * the device while this runs: its control messages must be answered by
 * another thread.  -EEXIST: the name is taken on the bus; -ENODEV: no
 * vduse management device; -EINVAL: no VDUSE device of that name, or not
 * all of its queues are set up; -EPERM: no CAP_NET_ADMIN.
 */
int vdk_nl_dev_new(struct vdk_nl *nl, const char *name);

/* VDPA_CMD_DEV_DEL.  -ENODEV when @name is not on the bus. */
int vdk_nl_dev_del(struct vdk_nl *nl, const char *name);

/* Whether the management device @mgmtdev is registered: 0 or -ENODEV. */
int vdk_nl_mgmtdev_check(struct vdk_nl *nl, const char *mgmtdev);

#endif /* VDK_VDPA_NETLINK_H */
