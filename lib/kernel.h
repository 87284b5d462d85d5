/* SPDX-License-Identifier: MIT */
/*
 * The one narrow interface between libvdk and the kernel's VDUSE side.
 * kernel-vduse.c implements it on /dev/vduse; the test simulator
 * (tests/sim) implements it in process, so the same library code runs
 * against both.  Every member returns 0 or -errno unless it says
 * otherwise.
 */
#ifndef VDK_KERNEL_H
#define VDK_KERNEL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <linux/vduse.h>

#include "vduse-compat.h"

struct vdk__kernel;

/* A mapping of driver memory made by iotlb_map(). */
struct vdk__map {
	uint64_t start;  /* first IOVA */
	uint64_t last;   /* last IOVA, inclusive */
	uint8_t perm;    /* VDUSE_ACCESS_* */
	void *addr;      /* host address of @start */
	void *base;      /* for iotlb_unmap() */
	size_t len;      /* for iotlb_unmap() */
};

struct vdk__kops {
	int (*get_api_version)(struct vdk__kernel *k, uint64_t *version);
	int (*set_api_version)(struct vdk__kernel *k, uint64_t version);
	/*
	 * The VDUSE features the kernel offers (VDUSE_GET_FEATURES; fails
	 * on kernels before 7.3), and those the next device created takes.
	 */
	int (*get_vduse_features)(struct vdk__kernel *k, uint64_t *features);
	int (*set_vduse_features)(struct vdk__kernel *k, uint64_t features);
	/* @cfg is followed by cfg->config_size bytes of config space. */
	int (*create_dev)(struct vdk__kernel *k,
			  const struct vduse_dev_config *cfg);
	int (*destroy_dev)(struct vdk__kernel *k, const char *name);
	/*
	 * Open the device's message channel; sets k->dev_fd, which polls
	 * readable when a message waits.
	 */
	int (*open_dev)(struct vdk__kernel *k, const char *name);
	/* Close it again; dev_fd becomes -1. */
	void (*close_dev)(struct vdk__kernel *k);
	int (*vq_setup)(struct vdk__kernel *k, const struct vduse_vq_config *c);
	int (*vq_get_info)(struct vdk__kernel *k, struct vduse_vq_info *info);
	int (*vq_setup_kickfd)(struct vdk__kernel *k, uint32_t index, int fd);
	int (*vq_inject_irq)(struct vdk__kernel *k, uint32_t index);
	int (*get_features)(struct vdk__kernel *k, uint64_t *features);
	int (*set_config)(struct vdk__kernel *k, uint32_t offset,
			  const void *buf, uint32_t len);
	int (*inject_config_irq)(struct vdk__kernel *k);
	/* One message; -EAGAIN when none waits. */
	int (*read_msg)(struct vdk__kernel *k, struct vduse_dev_request *req);
	int (*write_msg)(struct vdk__kernel *k,
			 const struct vduse_dev_response *resp);
	/*
	 * Map the region that contains @iova: fills @m.  -EFAULT when no
	 * region contains it.
	 */
	int (*iotlb_map)(struct vdk__kernel *k, uint64_t iova,
			 struct vdk__map *m);
	void (*iotlb_unmap)(struct vdk__kernel *k, struct vdk__map *m);
	/*
	 * Optional (NULL: never).  Whether the region [@start, @last] the
	 * library mapped is VDUSE's bounce buffer, which the daemon's own
	 * memory may back (VDUSE_IOTLB_GET_INFO's VDUSE_IOVA_CAP_UMEM,
	 * Linux 6.0): 1 yes, 0 no, or -errno.
	 */
	int (*iotlb_umem_cap)(struct vdk__kernel *k, uint64_t start,
			      uint64_t last);
	/*
	 * Back the bounce buffer, IOVA [0, @size), with @addr (page
	 * aligned; VDUSE_IOTLB_REG_UMEM): the kernel copies what is in
	 * use there, pins the pages and bounces through them from now on.
	 * -EEXIST when memory backs it already.  Undone by
	 * iotlb_dereg_umem(), or by the kernel when the device is closed.
	 */
	int (*iotlb_reg_umem)(struct vdk__kernel *k, void *addr,
			      uint64_t size);
	int (*iotlb_dereg_umem)(struct vdk__kernel *k, uint64_t size);
	/* Close everything and free @k. */
	void (*free)(struct vdk__kernel *k);
};

struct vdk__kernel {
	const struct vdk__kops *ops;
	int dev_fd; /* -1 until open_dev() */
};

/* The real thing: opens /dev/vduse/control. */
int vdk__kernel_vduse_new(struct vdk__kernel **out);

/*
 * No region of driver memory is larger: an answer for more is refused, not
 * mapped.  A VM's RAM can come as one region of several TiB, so the bound
 * is half of x86-64's 47-bit user address space: far above any real
 * region, far below where a length or an offset could wrap.
 */
#define VDK_IOTLB_REGION_MAX (1ull << 46) /* 64 TiB */

/*
 * How to map the region VDUSE_IOTLB_GET_FD answered: mmap() @len bytes of
 * the file at @off with @prot; the region's first IOVA is @addr_off bytes
 * into that mapping.
 */
struct vdk__map_plan {
	uint64_t off;
	size_t len;
	int prot;
	size_t addr_off;
};

/*
 * Plan the mapping of the kernel's answer @e to VDUSE_IOTLB_GET_FD for
 * @iova, with pages of @page_size bytes (a power of 2).  Pure: the
 * simulator's answers go through it too.  Refuses -EFAULT when [start,
 * last] does not contain @iova; -EINVAL when perm is not exactly RO, WO
 * or RW, or the file's bytes the mapping needs lie past off_t's range;
 * -E2BIG for a region larger than VDK_IOTLB_REGION_MAX or a mapping
 * larger than size_t.
 */
int vdk__kernel_map_plan(const struct vduse_iotlb_entry *e, uint64_t iova,
			 uint64_t page_size, struct vdk__map_plan *p);

/*
 * Map @fd as the answer @e for @iova says (vdk__kernel_map_plan(), then
 * mmap()) and fill @m; munmap(m->base, m->len) undoes it.  @fd stays
 * open.
 */
int vdk__kernel_map_fd(int fd, const struct vduse_iotlb_entry *e,
		       uint64_t iova, uint64_t page_size, struct vdk__map *m);

#endif /* VDK_KERNEL_H */
