// SPDX-License-Identifier: MIT
/*
 * The sysfs, /dev and /run/vdk helpers of the vdk command, against a fake
 * tree made in $TMPDIR.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sysfs.h"
#include "test.h"

static char top[4096];

/* Create @rel (a directory if it ends in '/', else a file with @data). */
static void mk(const char *rel, const char *data)
{
	char path[8192];
	size_t n;

	snprintf(path, sizeof(path), "%s/%s", top, rel);
	n = strlen(path);
	if (path[n - 1] == '/') {
		path[n - 1] = '\0';
		CHECK_EQ(vdk_mkdir_p(path, 0755), 0);
		return;
	}
	*strrchr(path, '/') = '\0';
	CHECK_EQ(vdk_mkdir_p(path, 0755), 0);
	path[strlen(path)] = '/';
	CHECK_EQ(vdk_file_replace(path, data, strlen(data), 0644), 0);
}

static void ln(const char *target, const char *rel)
{
	char path[8192];

	snprintf(path, sizeof(path), "%s/%s", top, rel);
	CHECK(symlink(target, path) == 0);
}

static void rm(const char *rel)
{
	char cmd[8300];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s/%s'", top, rel);
	CHECK(system(cmd) == 0);
}

static char *slurp(const char *rel)
{
	static char buf[256];
	char path[8192];

	snprintf(path, sizeof(path), "%s/%s", top, rel);
	CHECK(vdk_file_read(path, buf, sizeof(buf)) >= 0);
	return buf;
}

static void set_roots(void)
{
	char p[8192];

	snprintf(p, sizeof(p), "%s/sys/", top);
	setenv("VDK_SYSFS_ROOT", p, 1);  /* a trailing slash is fine */
	snprintf(p, sizeof(p), "%s/dev", top);
	setenv("VDK_DEV_ROOT", p, 1);
	snprintf(p, sizeof(p), "%s/run/vdk", top);
	setenv("VDK_RUN_DIR", p, 1);
}

static void test_paths(void)
{
	char buf[64], big[8192];

	unsetenv("VDK_SYSFS_ROOT");
	CHECK(!strcmp(vdk_root(VDK_ROOT_SYS), "/sys"));
	CHECK(!strcmp(vdk_root(VDK_ROOT_RUN), "/run/vdk"));
	CHECK_EQ(vdk_path(buf, sizeof(buf), VDK_ROOT_SYS, "class/%s", "x"),
		 0);
	CHECK(!strcmp(buf, "/sys/class/x"));
	setenv("VDK_SYSFS_ROOT", "/", 1);
	CHECK_EQ(vdk_path(buf, sizeof(buf), VDK_ROOT_SYS, "a"), 0);
	CHECK(!strcmp(buf, "/a"));
	setenv("VDK_SYSFS_ROOT", "/t//", 1);
	CHECK_EQ(vdk_path(buf, sizeof(buf), VDK_ROOT_SYS, "a"), 0);
	CHECK(!strcmp(buf, "/t/a"));
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	CHECK_EQ(vdk_path(buf, sizeof(buf), VDK_ROOT_SYS, "%s", big),
		 -ENAMETOOLONG);
	CHECK_EQ(vdk_path(buf, 3, VDK_ROOT_SYS, "a"), -ENAMETOOLONG);
}

static void test_files(void)
{
	char path[8192], buf[8];

	snprintf(path, sizeof(path), "%s/f/g/h", top);
	CHECK_EQ(vdk_mkdir_p(path, 0755), 0);
	CHECK_EQ(vdk_mkdir_p(path, 0755), 0);
	strcat(path, "/file");
	CHECK_EQ(vdk_file_replace(path, "12345\n\n", 7, 0600), 0);
	CHECK_EQ(vdk_file_read(path, buf, sizeof(buf)), 5);
	CHECK(!strcmp(buf, "12345"));
	CHECK_EQ(vdk_file_replace(path, "123456789", 9, 0600), 0);
	/* Cut to the buffer. */
	CHECK_EQ(vdk_file_read(path, buf, sizeof(buf)), 7);
	CHECK_EQ(vdk_file_write(path, "ab"), 0);
	CHECK_EQ(vdk_file_read(path, buf, sizeof(buf)), 7);
	CHECK(!strncmp(buf, "ab3", 3));
	strcat(path, "-missing");
	CHECK_EQ(vdk_file_read(path, buf, sizeof(buf)), -ENOENT);
	CHECK_EQ(vdk_file_write(path, "x"), -ENOENT);
	CHECK(!vdk_path_exists(path));
}

static void check_missing(bool vhost, int n, const char *want)
{
	char missing[128];
	int got = vdk_sys_missing_modules(vhost, "virtio_blk", missing,
					  sizeof(missing));

	if (got != n || strcmp(missing, want)) {
		fprintf(stderr, "missing modules: got %d '%s', want %d '%s'\n",
			got, missing, n, want);
		exit(T_EXIT_FAIL);
	}
}

static void test_modules(void)
{
	check_missing(false, 3, "vduse virtio_vdpa virtio_blk");
	check_missing(true, 2, "vduse vhost_vdpa");
	mk("dev/vduse/control", "");
	check_missing(false, 3, "vduse virtio_vdpa virtio_blk");
	mk("sys/bus/vdpa/devices/", "");
	check_missing(false, 2, "virtio_vdpa virtio_blk");
	mk("sys/bus/vdpa/drivers/virtio_vdpa/", "");
	check_missing(false, 1, "virtio_blk");
	check_missing(true, 1, "vhost_vdpa");
	/* Built in (module dir only) or loaded (driver registered). */
	mk("sys/module/virtio_blk/", "");
	check_missing(false, 0, "");
	rm("sys/module/virtio_blk");
	mk("sys/bus/virtio/drivers/virtio_blk/", "");
	check_missing(false, 0, "");
	mk("sys/bus/vdpa/drivers/vhost_vdpa/", "");
	check_missing(true, 0, "");
}

/*
 * d0: on the virtio bus as vdb; d1: on the vhost bus; d2: VDUSE only;
 * control: not a device.
 */
static void make_devices(void)
{
	mk("sys/class/vduse/control/", "");
	mk("sys/class/vduse/d2/", "");
	mk("sys/class/vduse/d0/", "");
	mk("sys/class/vduse/d1/", "");
	mk("dev/vduse/d0", "");
	mk("sys/bus/vdpa/devices/d0/virtio3/block/vdb/size", "2048\n");
	ln("../../drivers/virtio_vdpa", "sys/bus/vdpa/devices/d0/driver");
	mk("sys/bus/vdpa/devices/d1/vhost-vdpa-2/", "");
	ln("../../drivers/vhost_vdpa", "sys/bus/vdpa/devices/d1/driver");
	mk("sys/bus/vdpa/devices/d1/driver_override", "(null)\n");
}

static void test_devices(void)
{
	char buf[8192], node[8192];
	uint64_t bytes;
	char **names;
	size_t n;

	make_devices();
	CHECK(vdk_sys_name_in_use("d0"));
	CHECK(vdk_sys_name_in_use("d2"));
	CHECK(!vdk_sys_name_in_use("d9"));
	mk("dev/vduse/d9", "");
	CHECK(vdk_sys_name_in_use("d9"));
	CHECK(vdk_sys_vduse_exists("d9"));
	rm("dev/vduse/d9");
	mk("sys/bus/vdpa/devices/d9/", "");
	CHECK(vdk_sys_name_in_use("d9"));
	CHECK(!vdk_sys_vduse_exists("d9"));
	CHECK(vdk_sys_vdpa_attached("d9"));
	rm("sys/bus/vdpa/devices/d9");
	CHECK(!vdk_sys_vdpa_attached("d2"));

	/* The bounce size: written where the kernel has the attribute. */
	mk("sys/class/vduse/d9/bounce_size", "67108864\n");
	CHECK_EQ(vdk_sys_set_bounce_size("d9", 256ull << 20), 0);
	CHECK(!strcmp(slurp("sys/class/vduse/d9/bounce_size"), "268435456"));
	rm("sys/class/vduse/d9");
	mk("sys/class/vduse/d9/", "");
	CHECK_EQ(vdk_sys_set_bounce_size("d9", 1ull << 20), -ENOENT);
	rm("sys/class/vduse/d9");

	CHECK_EQ(vdk_sys_vdpa_driver("d0", buf, sizeof(buf)), 0);
	CHECK(!strcmp(buf, "virtio_vdpa"));
	CHECK_EQ(vdk_sys_vdpa_driver("d1", buf, sizeof(buf)), 0);
	CHECK(!strcmp(buf, "vhost_vdpa"));
	CHECK_EQ(vdk_sys_vdpa_driver("d2", buf, sizeof(buf)), -ENOENT);
	CHECK_EQ(vdk_sys_vdpa_driver("d0", buf, 4), -ENAMETOOLONG);

	CHECK_EQ(vdk_sys_vdpa_disk("d0", buf, sizeof(buf)), 0);
	CHECK(!strcmp(buf, "vdb"));
	CHECK_EQ(vdk_sys_vdpa_disk_size("d0", "vdb", &bytes), 0);
	CHECK_EQ(bytes, 2048 * 512);
	CHECK_EQ(vdk_sys_vdpa_disk("d1", buf, sizeof(buf)), -ENOENT);
	CHECK_EQ(vdk_sys_vdpa_disk("d2", buf, sizeof(buf)), -ENOENT);
	CHECK_EQ(vdk_sys_vdpa_vhost("d1", buf, sizeof(buf)), 0);
	CHECK(!strcmp(buf, "vhost-vdpa-2"));
	CHECK_EQ(vdk_sys_vdpa_vhost("d0", buf, sizeof(buf)), -ENOENT);

	/* Live: sysfs, then the node in /dev, then a size. */
	CHECK_EQ(vdk_sys_disk_live("d0", node, sizeof(node)), 0);
	mk("dev/vdb", "");
	CHECK_EQ(vdk_sys_disk_live("d0", node, sizeof(node)), 1);
	snprintf(buf, sizeof(buf), "%s/dev/vdb", top);
	CHECK(!strcmp(node, buf));
	mk("sys/bus/vdpa/devices/d0/virtio3/block/vdb/size", "0\n");
	CHECK_EQ(vdk_sys_disk_live("d0", node, sizeof(node)), 0);
	mk("sys/bus/vdpa/devices/d0/virtio3/block/vdb/size", "junk\n");
	CHECK_EQ(vdk_sys_disk_live("d0", node, sizeof(node)), -EINVAL);
	mk("sys/bus/vdpa/devices/d0/virtio3/block/vdb/size", "8\n");
	CHECK_EQ(vdk_sys_disk_live("d0", node, sizeof(node)), 1);
	CHECK_EQ(vdk_sys_disk_live("d2", node, sizeof(node)), 0);
	CHECK_EQ(vdk_sys_vhost_live("d1", node, sizeof(node)), 0);
	mk("dev/vhost-vdpa-2", "");
	CHECK_EQ(vdk_sys_vhost_live("d1", node, sizeof(node)), 1);
	snprintf(buf, sizeof(buf), "%s/dev/vhost-vdpa-2", top);
	CHECK(!strcmp(node, buf));

	/*
	 * A network interface: its name from its class directory, its
	 * driver from the link (sysfs shows an interface only to its own
	 * network namespace: the driver is what is left to see).
	 */
	mk("sys/bus/vdpa/devices/d2/virtio5/", "");
	CHECK_EQ(vdk_sys_disk_live("d2", node, sizeof(node)), 0);
	CHECK_EQ(vdk_sys_vdpa_netif("d2", buf, sizeof(buf)), -ENOENT);
	mk("sys/bus/vdpa/devices/d2/virtio5/net/eth7/", "");
	CHECK_EQ(vdk_sys_vdpa_netif("d2", buf, sizeof(buf)), 0);
	CHECK(!strcmp(buf, "eth7"));
	CHECK_EQ(vdk_sys_disk_live("d2", node, sizeof(node)), 0);
	CHECK(!vdk_sys_virtio_driver_is("d2", "virtio_net"));
	mk("sys/bus/virtio/drivers/virtio_net/", "");
	ln("../../../../bus/virtio/drivers/virtio_net",
	   "sys/bus/vdpa/devices/d2/virtio5/driver");
	CHECK(vdk_sys_virtio_driver_is("d2", "virtio_net"));
	CHECK(!vdk_sys_virtio_driver_is("d2", "virtio_blk"));
	CHECK(!vdk_sys_virtio_driver_is("d0", "virtio_net"));
	rm("sys/bus/vdpa/devices/d2/virtio5/driver");
	rm("sys/bus/vdpa/devices/d2/virtio5");

	CHECK_EQ(vdk_sys_vduse_list(&names, &n), 0);
	CHECK_EQ(n, 3);
	CHECK(!strcmp(names[0], "d0"));
	CHECK(!strcmp(names[1], "d1"));
	CHECK(!strcmp(names[2], "d2"));
	vdk_sys_names_free(names, n);
}

static void test_bind_vhost(void)
{
	/* d0 is on virtio_vdpa: unbind, override, probe. */
	mk("sys/bus/vdpa/drivers/virtio_vdpa/unbind", "");
	mk("sys/bus/vdpa/drivers_probe", "");
	mk("sys/bus/vdpa/devices/d0/driver_override", "(null)\n");
	CHECK_EQ(vdk_sys_bind_vhost("d0"), 0);
	CHECK(!strcmp(slurp("sys/bus/vdpa/drivers/virtio_vdpa/unbind"),
		      "d0"));
	CHECK(!strcmp(slurp("sys/bus/vdpa/devices/d0/driver_override"),
		      "vhost_vdpa"));
	CHECK(!strcmp(slurp("sys/bus/vdpa/drivers_probe"), "d0"));

	/* d1 is already there: nothing written. */
	mk("sys/bus/vdpa/drivers_probe", "");
	CHECK_EQ(vdk_sys_bind_vhost("d1"), 0);
	CHECK(!strcmp(slurp("sys/bus/vdpa/drivers_probe"), ""));

	/* No driver: override and probe only. */
	mk("sys/bus/vdpa/devices/d3/driver_override", "(null)\n");
	CHECK_EQ(vdk_sys_bind_vhost("d3"), 0);
	CHECK(!strcmp(slurp("sys/bus/vdpa/drivers_probe"), "d3"));

	/* Not on the bus at all. */
	CHECK_EQ(vdk_sys_bind_vhost("d2"), -ENOENT);
}

static void test_empty(void)
{
	char **names;
	size_t n;

	rm("sys");
	CHECK_EQ(vdk_sys_vduse_list(&names, &n), 0);
	CHECK_EQ(n, 0);
	vdk_sys_names_free(names, n);
	mk("sys/class/vduse/control/", "");
	CHECK_EQ(vdk_sys_vduse_list(&names, &n), 0);
	CHECK_EQ(n, 0);
	vdk_sys_names_free(names, n);
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(top, sizeof(top), "%s/vdk-sysfs-XXXXXX",
		 tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(top)) {
		perror("mkdtemp");
		return T_EXIT_SKIP;
	}
	test_paths();
	set_roots();
	test_files();
	test_modules();
	test_devices();
	test_bind_vhost();
	test_empty();
	rm("");
	return T_EXIT_PASS;
}
