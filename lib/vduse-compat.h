/* SPDX-License-Identifier: MIT */
/*
 * What libvdk uses of VDUSE's newer ABI, for building against older
 * kernel headers (bookworm's are 6.1's).  Written from the kernel's
 * documented ABI: include/uapi/linux/vduse.h and
 * Documentation/userspace-api/vduse.rst of Linux 7.0 to 7.3.  Every
 * definition gives way to the system header's when it has one.
 *
 * API version 1 (7.0): vq groups and address spaces.  vduse_dev_config
 * gains ngroups and nas (in what was reserved[0] and reserved[1]), both
 * 1 or more at version 1 and 0 before; vduse_vq_config gains a group;
 * VDUSE_UPDATE_IOTLB's range gains an address space id after start and
 * last (the same offsets as before); a new request,
 * VDUSE_SET_VQ_GROUP_ASID, moves a group to another address space.
 *
 * VDUSE features (7.3), asked on /dev/vduse/control before
 * VDUSE_CREATE_DEV and kept by the device: VDUSE_F_QUEUE_READY (the
 * kernel tells each queue's ready state by a request) and
 * VDUSE_F_SUSPEND (the kernel asks the device to stop its queues,
 * VDUSE_SUSPEND, for vhost-vdpa's VHOST_VDPA_SUSPEND; it has no resume
 * request: a reset ends it).
 */
#ifndef VDK_VDUSE_COMPAT_H
#define VDK_VDUSE_COMPAT_H

#include <stdint.h>
#include <sys/ioctl.h>

#include <linux/vduse.h>

#ifndef VDUSE_API_VERSION_1
#define VDUSE_API_VERSION_1 1
#define VDK__UAPI_NO_GROUPS 1 /* vduse_dev_config has no ngroups, nas */
#endif

#ifndef VDUSE_F_QUEUE_READY
#define VDUSE_F_QUEUE_READY 0
#endif
#ifndef VDUSE_F_SUSPEND
#define VDUSE_F_SUSPEND 1
#endif

/* On /dev/vduse/control: the VDUSE features offered, and those wanted. */
#ifndef VDUSE_GET_FEATURES
#define VDUSE_GET_FEATURES _IOR(VDUSE_BASE, 0x04, uint64_t)
#endif
#ifndef VDUSE_SET_FEATURES
#define VDUSE_SET_FEATURES _IOW(VDUSE_BASE, 0x05, uint64_t)
#endif

/*
 * Request types, as numbered by the kernel's enum vduse_req_type
 * (members of an enum cannot be tested by the preprocessor: these names
 * are ours).
 */
#define VDK__REQ_SET_VQ_GROUP_ASID 3
#define VDK__REQ_SET_VQ_READY 4
#define VDK__REQ_SUSPEND 5

/* Payloads of those requests and of API 1's VDUSE_UPDATE_IOTLB. */
struct vdk__vduse_iova_range_v2 {
	uint64_t start;
	uint64_t last;
	uint32_t asid;
	uint32_t padding;
};

struct vdk__vduse_vq_group_asid {
	uint32_t group;
	uint32_t asid;
};

struct vdk__vduse_vq_ready {
	uint32_t num;
	uint32_t ready;
};

/*
 * Set the groups and address spaces of a device's configuration.  Both
 * stay 0 below API version 1, as the kernel wants.
 */
#ifdef VDK__UAPI_NO_GROUPS
#define VDK__CONFIG_SET_GROUPS(c, g, as)                                    \
	do {                                                                 \
		(c)->reserved[0] = (g);                                      \
		(c)->reserved[1] = (as);                                     \
	} while (0)
#else
#define VDK__CONFIG_SET_GROUPS(c, g, as)                                    \
	do {                                                                 \
		(c)->ngroups = (g);                                          \
		(c)->nas = (as);                                             \
	} while (0)
#endif

#endif /* VDK_VDUSE_COMPAT_H */
