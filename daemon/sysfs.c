// SPDX-License-Identifier: MIT
/*
 * sysfs, devtmpfs and the run directory.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sysfs.h"

#define PATH_LEN 4096

static const char *const root_env[] = {
	[VDK_ROOT_SYS] = "VDK_SYSFS_ROOT",
	[VDK_ROOT_DEV] = "VDK_DEV_ROOT",
	[VDK_ROOT_RUN] = "VDK_RUN_DIR",
};

static const char *const root_default[] = {
	[VDK_ROOT_SYS] = "/sys",
	[VDK_ROOT_DEV] = "/dev",
	[VDK_ROOT_RUN] = "/run/vdk",
};

const char *vdk_root(enum vdk_root r)
{
	const char *v = getenv(root_env[r]);

	return v && *v ? v : root_default[r];
}

int vdk_path(char *buf, size_t len, enum vdk_root r, const char *fmt, ...)
{
	const char *root = vdk_root(r);
	size_t rl = strlen(root);
	va_list ap;
	int n;

	while (rl > 1 && root[rl - 1] == '/')
		rl--;
	if (rl + 2 > len)
		return -ENAMETOOLONG;
	memcpy(buf, root, rl);
	if (rl == 1 && root[0] == '/')
		rl = 0;
	buf[rl] = '/';
	va_start(ap, fmt);
	n = vsnprintf(buf + rl + 1, len - rl - 1, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= len - rl - 1)
		return -ENAMETOOLONG;
	return 0;
}

bool vdk_path_exists(const char *path)
{
	return access(path, F_OK) == 0;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

int vdk_file_read(const char *path, char *buf, size_t len)
{
	int fd = -1, ret;
	size_t pos = 0;

	if (len == 0)
		return -EINVAL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while (pos < len - 1) {
		ssize_t n = read(fd, buf + pos, len - 1 - pos);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			goto err_close;
		}
		if (n == 0)
			break;
		pos += n;
	}
	buf[pos] = '\0';
	while (pos > 0 && (buf[pos - 1] == '\n' || buf[pos - 1] == ' '))
		buf[--pos] = '\0';
	close_fd(&fd);
	return pos;

err_close:
	close_fd(&fd);
	return ret;
}

int vdk_file_write(const char *path, const char *s)
{
	size_t len = strlen(s);
	int fd = -1, ret = 0;
	ssize_t n;

	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	do
		n = write(fd, s, len);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		ret = -errno;
	else if ((size_t)n != len)
		ret = -EIO;
	close_fd(&fd);
	return ret;
}

int vdk_file_replace(const char *path, const void *data, size_t len,
		     unsigned int mode)
{
	char tmp[PATH_LEN];
	const char *p = data;
	int fd = -1, ret;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path,
			     (int)getpid()) >= sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			goto err_unlink;
		}
		p += n;
		len -= n;
	}
	if (fchmod(fd, mode) || fsync(fd)) {
		ret = -errno;
		goto err_unlink;
	}
	close_fd(&fd);
	if (rename(tmp, path)) {
		ret = -errno;
		goto err_unlink;
	}
	return 0;

err_unlink:
	close_fd(&fd);
	unlink(tmp);
	return ret;
}

int vdk_mkdir_p(const char *path, unsigned int mode)
{
	char buf[PATH_LEN];
	size_t len = strlen(path), i;

	if (len == 0 || len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, path, len + 1);
	/* Each prefix that ends before a '/', then the whole path. */
	for (i = 1; i <= len; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		buf[i] = '\0';
		if (mkdir(buf, mode) && errno != EEXIST)
			return -errno;
		buf[i] = path[i];
	}
	return 0;
}

static bool sys_exists(enum vdk_root r, const char *fmt, const char *arg)
{
	char path[PATH_LEN];

	if (vdk_path(path, sizeof(path), r, fmt, arg))
		return false;
	return vdk_path_exists(path);
}

static void add_word(char *buf, size_t len, const char *w)
{
	size_t used = strlen(buf);

	snprintf(buf + used, len - used, "%s%s", used ? " " : "", w);
}

int vdk_sys_missing_modules(bool vhost, const char *driver, char *missing,
			    size_t len)
{
	int n = 0;

	missing[0] = '\0';
	/*
	 * vduse pulls in vdpa; the control node appears with it (devtmpfs),
	 * the class directory too.
	 */
	if (!sys_exists(VDK_ROOT_DEV, "vduse/%s", "control") ||
	    !sys_exists(VDK_ROOT_SYS, "bus/%s", "vdpa")) {
		add_word(missing, len, "vduse");
		n++;
	}
	if (vhost) {
		if (!sys_exists(VDK_ROOT_SYS, "bus/vdpa/drivers/%s",
				"vhost_vdpa")) {
			add_word(missing, len, "vhost_vdpa");
			n++;
		}
		return n;
	}
	if (!sys_exists(VDK_ROOT_SYS, "bus/vdpa/drivers/%s", "virtio_vdpa")) {
		add_word(missing, len, "virtio_vdpa");
		n++;
	}
	/* Without its driver the device attaches and nothing appears. */
	if (driver && !sys_exists(VDK_ROOT_SYS, "bus/virtio/drivers/%s",
				  driver) &&
	    !sys_exists(VDK_ROOT_SYS, "module/%s", driver)) {
		add_word(missing, len, driver);
		n++;
	}
	return n;
}

bool vdk_sys_vduse_exists(const char *name)
{
	return sys_exists(VDK_ROOT_SYS, "class/vduse/%s", name) ||
	       sys_exists(VDK_ROOT_DEV, "vduse/%s", name);
}

int vdk_sys_set_bounce_size(const char *name, uint64_t bytes)
{
	char path[PATH_LEN], val[32];
	int ret;

	ret = vdk_path(path, sizeof(path), VDK_ROOT_SYS,
		       "class/vduse/%s/bounce_size", name);
	if (ret)
		return ret;
	snprintf(val, sizeof(val), "%llu", (unsigned long long)bytes);
	return vdk_file_write(path, val);
}

bool vdk_sys_vdpa_attached(const char *name)
{
	return sys_exists(VDK_ROOT_SYS, "bus/vdpa/devices/%s", name);
}

bool vdk_sys_name_in_use(const char *name)
{
	return vdk_sys_vduse_exists(name) || vdk_sys_vdpa_attached(name);
}

int vdk_sys_vdpa_driver(const char *name, char *buf, size_t len)
{
	char path[PATH_LEN], target[PATH_LEN];
	ssize_t n;
	int ret;

	ret = vdk_path(path, sizeof(path), VDK_ROOT_SYS,
		       "bus/vdpa/devices/%s/driver", name);
	if (ret)
		return ret;
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return -errno;
	target[n] = '\0';
	if ((size_t)snprintf(buf, len, "%s", basename(target)) >= len)
		return -ENAMETOOLONG;
	return 0;
}

/*
 * First entry of directory @dir whose name starts with @prefix, into
 * @buf.  -ENOENT if none.
 */
static int find_entry(const char *dir, const char *prefix, char *buf,
		      size_t len)
{
	size_t pl = strlen(prefix);
	struct dirent *de;
	DIR *d;
	int ret = -ENOENT;

	d = opendir(dir);
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' || strncmp(de->d_name, prefix, pl))
			continue;
		if ((size_t)snprintf(buf, len, "%s", de->d_name) >= len)
			ret = -ENAMETOOLONG;
		else
			ret = 0;
		break;
	}
	closedir(d);
	return ret;
}

/* The virtio<N> directory under the vDPA device. */
static int vdpa_virtio_dir(const char *name, char *buf, size_t len)
{
	char dir[PATH_LEN], ent[256];
	int ret;

	ret = vdk_path(dir, sizeof(dir), VDK_ROOT_SYS, "bus/vdpa/devices/%s",
		       name);
	if (ret)
		return ret;
	/* The index is not 0 when other virtio devices exist. */
	ret = find_entry(dir, "virtio", ent, sizeof(ent));
	if (ret)
		return ret;
	if ((size_t)snprintf(buf, len, "%s/%s", dir, ent) >= len)
		return -ENAMETOOLONG;
	return 0;
}

/* The first entry of the class directory @cls ("block") of @name's device. */
static int vdpa_class_entry(const char *name, const char *cls, char *buf,
			    size_t len)
{
	char dir[PATH_LEN];
	size_t dl;
	int ret;

	ret = vdpa_virtio_dir(name, dir, sizeof(dir));
	if (ret)
		return ret;
	dl = strlen(dir);
	if ((size_t)snprintf(dir + dl, sizeof(dir) - dl, "/%s", cls) >=
	    sizeof(dir) - dl)
		return -ENAMETOOLONG;
	ret = find_entry(dir, "", buf, len);
	return ret == -ENOTDIR ? -ENOENT : ret;
}

int vdk_sys_vdpa_disk(const char *name, char *buf, size_t len)
{
	return vdpa_class_entry(name, "block", buf, len);
}

bool vdk_sys_virtio_driver_is(const char *name, const char *driver)
{
	char dir[PATH_LEN], link[PATH_LEN], target[PATH_LEN];
	const char *base;
	ssize_t n;

	if (vdpa_virtio_dir(name, dir, sizeof(dir)))
		return false;
	if ((size_t)snprintf(link, sizeof(link), "%s/driver", dir) >=
	    sizeof(link))
		return false;
	n = readlink(link, target, sizeof(target) - 1);
	if (n <= 0)
		return false;
	target[n] = '\0';
	base = strrchr(target, '/');
	return !strcmp(base ? base + 1 : target, driver);
}

int vdk_sys_vdpa_netif(const char *name, char *buf, size_t len)
{
	return vdpa_class_entry(name, "net", buf, len);
}

int vdk_sys_vdpa_disk_size(const char *name, const char *disk,
			   uint64_t *bytes)
{
	char dir[PATH_LEN], path[PATH_LEN], val[32];
	unsigned long long sectors;
	char *end;
	int ret;

	ret = vdpa_virtio_dir(name, dir, sizeof(dir));
	if (ret)
		return ret;
	if ((size_t)snprintf(path, sizeof(path), "%s/block/%s/size", dir,
			     disk) >= sizeof(path))
		return -ENAMETOOLONG;
	ret = vdk_file_read(path, val, sizeof(val));
	if (ret < 0)
		return ret;
	errno = 0;
	sectors = strtoull(val, &end, 10);
	if (errno || end == val || *end || sectors > UINT64_MAX / 512)
		return -EINVAL;
	*bytes = sectors * 512;
	return 0;
}

int vdk_sys_vdpa_vhost(const char *name, char *buf, size_t len)
{
	char dir[PATH_LEN];
	int ret;

	ret = vdk_path(dir, sizeof(dir), VDK_ROOT_SYS, "bus/vdpa/devices/%s",
		       name);
	if (ret)
		return ret;
	return find_entry(dir, "vhost-vdpa-", buf, len);
}

/* @ent under /dev, if it is there, into @node: 1, 0 (not yet), -errno. */
static int dev_node(const char *ent, char *node, size_t len)
{
	char path[PATH_LEN];
	int ret;

	ret = vdk_path(path, sizeof(path), VDK_ROOT_DEV, "%s", ent);
	if (ret)
		return ret;
	/* No udev in some guests: devtmpfs makes the node, a bit later. */
	if (!vdk_path_exists(path))
		return 0;
	if ((size_t)snprintf(node, len, "%s", path) >= len)
		return -ENAMETOOLONG;
	return 1;
}

int vdk_sys_vhost_live(const char *name, char *node, size_t len)
{
	char ent[256];
	int ret;

	ret = vdk_sys_vdpa_vhost(name, ent, sizeof(ent));
	if (ret)
		return ret == -ENOENT ? 0 : ret;
	return dev_node(ent, node, len);
}

int vdk_sys_disk_live(const char *name, char *node, size_t len)
{
	char ent[256];
	uint64_t bytes;
	int ret;

	ret = vdk_sys_vdpa_disk(name, ent, sizeof(ent));
	if (ret)
		return ret == -ENOENT ? 0 : ret;
	ret = vdk_sys_vdpa_disk_size(name, ent, &bytes);
	if (ret == -ENOENT || (ret == 0 && bytes == 0))
		return 0;
	if (ret)
		return ret;
	return dev_node(ent, node, len);
}

int vdk_sys_bind(const char *name, const char *driver)
{
	char path[PATH_LEN], drv[64];
	int ret;

	ret = vdk_sys_vdpa_driver(name, drv, sizeof(drv));
	if (ret == 0 && !strcmp(drv, driver))
		return 0;
	if (ret == 0) {
		ret = vdk_path(path, sizeof(path), VDK_ROOT_SYS,
			       "bus/vdpa/devices/%s/driver/unbind", name);
		if (ret)
			return ret;
		ret = vdk_file_write(path, name);
		if (ret)
			return ret;
	} else if (ret != -ENOENT) {
		return ret;
	}
	ret = vdk_path(path, sizeof(path), VDK_ROOT_SYS,
		       "bus/vdpa/devices/%s/driver_override", name);
	if (ret)
		return ret;
	ret = vdk_file_write(path, driver);
	if (ret)
		return ret;
	ret = vdk_path(path, sizeof(path), VDK_ROOT_SYS,
		       "bus/vdpa/drivers_probe");
	if (ret)
		return ret;
	return vdk_file_write(path, name);
}

int vdk_sys_bind_vhost(const char *name)
{
	return vdk_sys_bind(name, "vhost_vdpa");
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void vdk_sys_names_free(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

int vdk_sys_vduse_list(char ***names, size_t *n)
{
	char dir[PATH_LEN];
	char **v = NULL, **nv;
	size_t count = 0, cap = 0;
	struct dirent *de;
	DIR *d;
	int ret;

	*names = NULL;
	*n = 0;
	ret = vdk_path(dir, sizeof(dir), VDK_ROOT_SYS, "class/vduse");
	if (ret)
		return ret;
	d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' || !strcmp(de->d_name, "control"))
			continue;
		if (count == cap) {
			cap = cap ? cap * 2 : 8;
			nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				ret = -ENOMEM;
				goto err_free;
			}
			v = nv;
		}
		v[count] = strdup(de->d_name);
		if (!v[count]) {
			ret = -ENOMEM;
			goto err_free;
		}
		count++;
	}
	closedir(d);
	if (count)
		qsort(v, count, sizeof(*v), name_cmp);
	*names = v;
	*n = count;
	return 0;

err_free:
	closedir(d);
	vdk_sys_names_free(v, count);
	return ret;
}
