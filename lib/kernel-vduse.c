/* SPDX-License-Identifier: MIT */
/*
 * The kernel side for real: ioctls on /dev/vduse/control and
 * /dev/vduse/NAME, messages by read() and write(), driver memory by
 * VDUSE_IOTLB_GET_FD and mmap().
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"

struct vduse_kernel {
	struct vdk__kernel k; /* first */
	int control_fd;
	long page_size;
};

static struct vduse_kernel *to_vk(struct vdk__kernel *k)
{
	return (struct vduse_kernel *)k;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static int xioctl(int fd, unsigned long req, void *arg)
{
	if (ioctl(fd, req, arg) < 0)
		return -errno;
	return 0;
}

static int vk_get_api_version(struct vdk__kernel *k, uint64_t *version)
{
	return xioctl(to_vk(k)->control_fd, VDUSE_GET_API_VERSION, version);
}

static int vk_set_api_version(struct vdk__kernel *k, uint64_t version)
{
	return xioctl(to_vk(k)->control_fd, VDUSE_SET_API_VERSION, &version);
}

static int vk_get_vduse_features(struct vdk__kernel *k, uint64_t *features)
{
	return xioctl(to_vk(k)->control_fd, VDUSE_GET_FEATURES, features);
}

static int vk_set_vduse_features(struct vdk__kernel *k, uint64_t features)
{
	return xioctl(to_vk(k)->control_fd, VDUSE_SET_FEATURES, &features);
}

static int vk_create_dev(struct vdk__kernel *k,
			 const struct vduse_dev_config *cfg)
{
	return xioctl(to_vk(k)->control_fd, VDUSE_CREATE_DEV, (void *)cfg);
}

static int vk_destroy_dev(struct vdk__kernel *k, const char *name)
{
	char buf[VDUSE_NAME_MAX] = { 0 };

	if (strlen(name) >= sizeof(buf))
		return -ENAMETOOLONG;
	strcpy(buf, name);
	return xioctl(to_vk(k)->control_fd, VDUSE_DESTROY_DEV, buf);
}

static int vk_open_dev(struct vdk__kernel *k, const char *name)
{
	char path[PATH_MAX];
	int fd;

	if (snprintf(path, sizeof(path), "/dev/vduse/%s", name) >=
	    (int)sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, O_RDWR | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	close_fd(&k->dev_fd);
	k->dev_fd = fd;
	return 0;
}

static void vk_close_dev(struct vdk__kernel *k)
{
	close_fd(&k->dev_fd);
}

static int vk_vq_setup(struct vdk__kernel *k, const struct vduse_vq_config *c)
{
	return xioctl(k->dev_fd, VDUSE_VQ_SETUP, (void *)c);
}

static int vk_vq_get_info(struct vdk__kernel *k, struct vduse_vq_info *info)
{
	return xioctl(k->dev_fd, VDUSE_VQ_GET_INFO, info);
}

static int vk_vq_setup_kickfd(struct vdk__kernel *k, uint32_t index, int fd)
{
	struct vduse_vq_eventfd e = { .index = index, .fd = fd };

	return xioctl(k->dev_fd, VDUSE_VQ_SETUP_KICKFD, &e);
}

static int vk_vq_inject_irq(struct vdk__kernel *k, uint32_t index)
{
	return xioctl(k->dev_fd, VDUSE_VQ_INJECT_IRQ, &index);
}

static int vk_get_features(struct vdk__kernel *k, uint64_t *features)
{
	return xioctl(k->dev_fd, VDUSE_DEV_GET_FEATURES, features);
}

static int vk_set_config(struct vdk__kernel *k, uint32_t offset,
			 const void *buf, uint32_t len)
{
	struct vduse_config_data *d;
	int ret;

	d = malloc(sizeof(*d) + len);
	if (!d)
		return -ENOMEM;
	d->offset = offset;
	d->length = len;
	memcpy(d->buffer, buf, len);
	ret = xioctl(k->dev_fd, VDUSE_DEV_SET_CONFIG, d);
	free(d);
	return ret;
}

static int vk_inject_config_irq(struct vdk__kernel *k)
{
	if (ioctl(k->dev_fd, VDUSE_DEV_INJECT_CONFIG_IRQ) < 0)
		return -errno;
	return 0;
}

static int vk_read_msg(struct vdk__kernel *k, struct vduse_dev_request *req)
{
	ssize_t n;

	do {
		n = read(k->dev_fd, req, sizeof(*req));
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n != sizeof(*req))
		return -EIO;
	return 0;
}

static int vk_write_msg(struct vdk__kernel *k,
			const struct vduse_dev_response *resp)
{
	ssize_t n;

	do {
		n = write(k->dev_fd, resp, sizeof(*resp));
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n != sizeof(*resp))
		return -EIO;
	return 0;
}

/* off_t's largest value, whatever its width. */
#define OFF_MAX                                                              \
	((uint64_t)(((((off_t)1 << (sizeof(off_t) * CHAR_BIT - 2)) - 1)      \
		     << 1) + 1))

/*
 * The kernel answers, but the bounds and the offset are what whoever set
 * the mappings up (a VMM through vhost-vdpa, say) made them: no check may
 * overflow itself, since a wrapped length maps a page where the library
 * believes a whole region lies.
 */
int vdk__kernel_map_plan(const struct vduse_iotlb_entry *e, uint64_t iova,
			 uint64_t page_size, struct vdk__map_plan *p)
{
	uint64_t span, page_off;
	int prot;

	if (page_size == 0 || (page_size & (page_size - 1)))
		return -EINVAL;
	if (e->start > iova || e->last < iova)
		return -EFAULT;
	/* Most CPUs have no write-only pages: WO maps read-write. */
	switch (e->perm) {
	case VDUSE_ACCESS_RO:
		prot = PROT_READ;
		break;
	case VDUSE_ACCESS_WO:
	case VDUSE_ACCESS_RW:
		prot = PROT_READ | PROT_WRITE;
		break;
	default:
		return -EINVAL;
	}
	/* Bytes in the region, less one; start <= last. */
	span = e->last - e->start;
	if (span > VDK_IOTLB_REGION_MAX - 1)
		return -E2BIG;
	/* The kernel's offsets are page-aligned; be safe if one is not. */
	page_off = e->offset & (page_size - 1);
	/* mmap() takes span + 1 + page_off bytes. */
	if (page_off > (uint64_t)SIZE_MAX - 1 ||
	    span > (uint64_t)SIZE_MAX - 1 - page_off)
		return -E2BIG;
	/* ... of the file's [offset - page_off, offset + span]. */
	if (span > OFF_MAX || e->offset > OFF_MAX - span)
		return -EINVAL;
	p->off = e->offset - page_off;
	p->len = (size_t)(span + 1 + page_off);
	p->prot = prot;
	p->addr_off = (size_t)page_off;
	return 0;
}

int vdk__kernel_map_fd(int fd, const struct vduse_iotlb_entry *e,
		       uint64_t iova, uint64_t page_size, struct vdk__map *m)
{
	struct vdk__map_plan plan;
	void *p;
	int ret;

	ret = vdk__kernel_map_plan(e, iova, page_size, &plan);
	if (ret < 0)
		return ret;
	p = mmap(NULL, plan.len, plan.prot, MAP_SHARED, fd, (off_t)plan.off);
	if (p == MAP_FAILED)
		return -errno;
	m->start = e->start;
	m->last = e->last;
	m->perm = e->perm;
	m->base = p;
	m->len = plan.len;
	m->addr = (char *)p + plan.addr_off;
	return 0;
}

static int vk_iotlb_map(struct vdk__kernel *k, uint64_t iova,
			struct vdk__map *m)
{
	struct vduse_kernel *vk = to_vk(k);
	struct vduse_iotlb_entry e = { .start = iova, .last = iova };
	int fd, ret;

	fd = ioctl(k->dev_fd, VDUSE_IOTLB_GET_FD, &e);
	if (fd < 0)
		return errno == EINVAL ? -EFAULT : -errno;
	ret = vdk__kernel_map_fd(fd, &e, iova, (uint64_t)vk->page_size, m);
	close(fd);
	return ret;
}

static void vk_iotlb_unmap(struct vdk__kernel *k, struct vdk__map *m)
{
	munmap(m->base, m->len);
}

static int vk_iotlb_umem_cap(struct vdk__kernel *k, uint64_t start,
			     uint64_t last)
{
	struct vduse_iova_info info = { .start = start, .last = last };
	int ret;

	ret = xioctl(k->dev_fd, VDUSE_IOTLB_GET_INFO, &info);
	/* Before Linux 6.0 there is no such request. */
	if (ret == -ENOTTY)
		return 0;
	if (ret < 0)
		return ret;
	return info.start == start && info.last == last &&
	       (info.capability & VDUSE_IOVA_CAP_UMEM);
}

static int vk_iotlb_reg_umem(struct vdk__kernel *k, void *addr, uint64_t size)
{
	struct vduse_iova_umem u = {
		.uaddr = (uintptr_t)addr,
		.iova = 0,
		.size = size,
	};

	return xioctl(k->dev_fd, VDUSE_IOTLB_REG_UMEM, &u);
}

static int vk_iotlb_dereg_umem(struct vdk__kernel *k, uint64_t size)
{
	struct vduse_iova_umem u = { .iova = 0, .size = size };

	return xioctl(k->dev_fd, VDUSE_IOTLB_DEREG_UMEM, &u);
}

static void vk_free(struct vdk__kernel *k)
{
	struct vduse_kernel *vk = to_vk(k);

	close_fd(&k->dev_fd);
	close_fd(&vk->control_fd);
	free(vk);
}

static const struct vdk__kops vduse_kops = {
	.get_api_version = vk_get_api_version,
	.set_api_version = vk_set_api_version,
	.get_vduse_features = vk_get_vduse_features,
	.set_vduse_features = vk_set_vduse_features,
	.create_dev = vk_create_dev,
	.destroy_dev = vk_destroy_dev,
	.open_dev = vk_open_dev,
	.close_dev = vk_close_dev,
	.vq_setup = vk_vq_setup,
	.vq_get_info = vk_vq_get_info,
	.vq_setup_kickfd = vk_vq_setup_kickfd,
	.vq_inject_irq = vk_vq_inject_irq,
	.get_features = vk_get_features,
	.set_config = vk_set_config,
	.inject_config_irq = vk_inject_config_irq,
	.read_msg = vk_read_msg,
	.write_msg = vk_write_msg,
	.iotlb_map = vk_iotlb_map,
	.iotlb_unmap = vk_iotlb_unmap,
	.iotlb_umem_cap = vk_iotlb_umem_cap,
	.iotlb_reg_umem = vk_iotlb_reg_umem,
	.iotlb_dereg_umem = vk_iotlb_dereg_umem,
	.free = vk_free,
};

int vdk__kernel_vduse_new(struct vdk__kernel **out)
{
	struct vduse_kernel *vk;
	int ret;

	vk = calloc(1, sizeof(*vk));
	if (!vk)
		return -ENOMEM;
	vk->k.ops = &vduse_kops;
	vk->k.dev_fd = -1;
	vk->page_size = sysconf(_SC_PAGESIZE);
	vk->control_fd = open("/dev/vduse/control", O_RDWR | O_CLOEXEC);
	if (vk->control_fd < 0) {
		ret = -errno;
		goto err_free;
	}
	*out = &vk->k;
	return 0;

err_free:
	free(vk);
	return ret;
}
