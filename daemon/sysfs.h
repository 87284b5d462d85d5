/* SPDX-License-Identifier: MIT */
/*
 * Paths under /sys, /dev and /run/vdk, and what vdk reads and writes there.
 *
 * The three roots can be moved for tests with the environment variables
 * VDK_SYSFS_ROOT (default /sys), VDK_DEV_ROOT (/dev) and VDK_RUN_DIR
 * (/run/vdk), so that a fake tree in a temporary directory stands in for
 * the kernel's.
 */
#ifndef VDK_SYSFS_H
#define VDK_SYSFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum vdk_root {
	VDK_ROOT_SYS,
	VDK_ROOT_DEV,
	VDK_ROOT_RUN,
};

/* The root directory (no trailing slash, except for "/"). */
const char *vdk_root(enum vdk_root r);

/*
 * ROOT + "/" + the formatted rest into @buf.  -ENAMETOOLONG if it does not
 * fit.
 */
int vdk_path(char *buf, size_t len, enum vdk_root r, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

bool vdk_path_exists(const char *path);

/*
 * Read a small file into @buf (NUL-terminated, trailing newlines cut).
 * Returns the length or -errno.
 */
int vdk_file_read(const char *path, char *buf, size_t len);

/* Write @s to an existing file (sysfs attribute).  0 or -errno. */
int vdk_file_write(const char *path, const char *s);

/*
 * Write @data to @path atomically: a temporary file beside it, fsync,
 * rename.  @mode for the new file.  0 or -errno.
 */
int vdk_file_replace(const char *path, const void *data, size_t len,
		     unsigned int mode);

/* mkdir -p, with @mode for what it creates.  0 or -errno. */
int vdk_mkdir_p(const char *path, unsigned int mode);

/*
 * Kernel support for a device on @vhost (vhost_vdpa) or the virtio bus
 * (virtio_vdpa and @driver, the device's driver there: "virtio_blk").
 * Writes the missing modules, separated by spaces, into @missing (""
 * when all are there) and returns how many are missing.
 */
int vdk_sys_missing_modules(bool vhost, const char *driver, char *missing,
			    size_t len);

/*
 * Whether @name is taken: /dev/vduse/NAME, /sys/class/vduse/NAME or
 * /sys/bus/vdpa/devices/NAME exists.
 */
bool vdk_sys_name_in_use(const char *name);

/* A VDUSE device called @name exists (/sys/class/vduse or /dev/vduse). */
bool vdk_sys_vduse_exists(const char *name);

/*
 * Set the bounce buffer's size of VDUSE device @name, in bytes, before it
 * is attached (/sys/class/vduse/NAME/bounce_size, Linux 6.4).  0, or
 * -ENOENT (a kernel without it), -EPERM (attached already), -EINVAL.
 */
int vdk_sys_set_bounce_size(const char *name, uint64_t bytes);

/* @name is on the vDPA bus (/sys/bus/vdpa/devices/NAME). */
bool vdk_sys_vdpa_attached(const char *name);

/*
 * Driver bound to vDPA device @name ("virtio_vdpa", "vhost_vdpa") into
 * @buf.  -ENOENT when none is bound or the device is not on the bus.
 */
int vdk_sys_vdpa_driver(const char *name, char *buf, size_t len);

/*
 * Block disk of vDPA device @name ("vda") from
 * /sys/bus/vdpa/devices/NAME/virtio<N>/block/<disk>.  -ENOENT if none.
 */
int vdk_sys_vdpa_disk(const char *name, char *buf, size_t len);

/*
 * Network interface of vDPA device @name ("eth1") from
 * /sys/bus/vdpa/devices/NAME/virtio<N>/net/<ifname>.  -ENOENT if none.
 */
int vdk_sys_vdpa_netif(const char *name, char *buf, size_t len);

/* Size in bytes of that disk (its size file, in 512-byte sectors). */
int vdk_sys_vdpa_disk_size(const char *name, const char *disk,
			   uint64_t *bytes);

/* vhost-vdpa device of @name ("vhost-vdpa-0").  -ENOENT if none. */
int vdk_sys_vdpa_vhost(const char *name, char *buf, size_t len);

/*
 * Whether @name is live on the vhost bus: the vhost-vdpa device exists in
 * sysfs and in /dev.  1 with the node ("/dev/vhost-vdpa-0") in @node, 0
 * when not yet, -errno on error.  (On the virtio bus, the device's model
 * says: vdk_model_live().)
 */
int vdk_sys_vhost_live(const char *name, char *node, size_t len);

/*
 * The same for a disk on the virtio bus: the disk exists in sysfs and in
 * /dev with a non-zero size; the node is "/dev/vda".
 */
int vdk_sys_disk_live(const char *name, char *node, size_t len);

/* The virtio device of @name is bound to @driver ("virtio_net"). */
bool vdk_sys_virtio_driver_is(const char *name, const char *driver);

/*
 * Bind @name to @driver ("vhost_vdpa", "virtio_vdpa"): unbind it from its
 * current driver, set driver_override and probe.  0 (also when it is
 * bound to @driver already) or -errno.
 */
int vdk_sys_bind(const char *name, const char *driver);

/* vdk_sys_bind(name, "vhost_vdpa"). */
int vdk_sys_bind_vhost(const char *name);

/*
 * VDUSE devices (from /sys/class/vduse, without "control"), sorted.  On
 * success *@names is an array of *@n strings: free it with
 * vdk_sys_names_free().  No class directory means no device (0).
 */
int vdk_sys_vduse_list(char ***names, size_t *n);
void vdk_sys_names_free(char **names, size_t n);

#endif /* VDK_SYSFS_H */
