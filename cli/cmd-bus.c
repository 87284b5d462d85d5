// SPDX-License-Identifier: MIT
/*
 * vdk bus: move a served device between the virtio bus (a disk on this
 * host) and the vhost bus (a VM or a userspace driver), while its daemon
 * goes on serving it: the backend and its data stay, only the driver
 * changes.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "args.h"
#include "cli.h"
#include "print.h"
#include "state.h"
#include "sysfs.h"

const char vdk_bus_usage[] =
"Usage: vdk bus [-j] [--timeout SECS] NAME virtio|vhost\n"
"\n"
"Move the device NAME to the other bus without stopping its daemon, and\n"
"print its new node once it is there: virtio (virtio_vdpa, a disk on this\n"
"host, /dev/vdX) or vhost (vhost_vdpa, for a VM or a userspace driver,\n"
"/dev/vhost-vdpa-N).  The data stay: the backend is not touched; the old\n"
"driver lets go of the device (a reset) and the new one takes it.\n"
"Refused while the current node is in use: a mounted or open disk, a\n"
"vhost-vdpa device held by a VM or a program.  On the bus already: prints\n"
"the node.\n"
"\n"
"Options:\n"
"  -j, --json           print the device as JSON\n"
"      --timeout SECS   wait that long for the new node (default 30)\n"
"  -h, --help           this text\n";

#define LIVE_POLL_MS 20

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *bus_of(const char *driver)
{
	if (!strcmp(driver, "vhost_vdpa"))
		return "vhost";
	if (!strcmp(driver, "virtio_vdpa"))
		return "virtio";
	return driver[0] ? driver : "none";
}

/*
 * Whether the current node is in use: a process holds it open, or (a
 * disk) it is mounted or claimed, which an exclusive open tells.  Unbinding
 * a used disk would pull it from under its users; unbinding a held
 * vhost-vdpa device would wait until the holder lets go.
 *
 * A free disk stays claimed through @claim (our exclusive open, -1 when
 * none) until the caller has unbound it, so that nobody can mount it
 * between this check and the unbind.  A vhost-vdpa device cannot be held
 * so: its single open would make the unbind wait for us.
 */
static int node_busy(const char *node, bool disk, pid_t *holder, int *claim)
{
	int fd;

	*claim = -1;
	*holder = 0;
	/* A network interface: moving it only takes it away. */
	if (node[0] != '/')
		return 0;
	*holder = vdk_find_holder(node);
	if (*holder > 0)
		return 1;
	if (!disk)
		return 0;
	fd = open(node, O_RDONLY | O_EXCL | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return errno == EBUSY ? 1 : 0;
	*claim = fd;
	return 0;
}

/* Until the node of @name on @vhost is there: 0, or -ETIMEDOUT/-errno. */
static int wait_node(const struct vdk_model_ops *model, const char *name,
		     bool vhost, unsigned int timeout, char *node, size_t len)
{
	uint64_t deadline = now_ms() + (uint64_t)timeout * 1000;
	int ret;

	for (;;) {
		ret = vdk_model_live(model, name, vhost, node, len);
		if (ret != 0)
			return ret < 0 ? ret : 0;
		if (now_ms() >= deadline)
			return -ETIMEDOUT;
		poll(NULL, 0, LIVE_POLL_MS);
	}
}

/* The state file says where the device is now (`vdk recover` reads it). */
static int state_update(const char *name, bool vhost, const char *node)
{
	struct vdk_state st;
	char *old_bus, *old_node;
	int ret;

	ret = vdk_state_read(name, &st, NULL, 0);
	if (ret)
		return ret;
	old_bus = st.bus;
	old_node = st.node;
	st.bus = (char *)(vhost ? "vhost" : "virtio");
	st.node = (char *)node;
	ret = vdk_state_write(&st);
	st.bus = old_bus;
	st.node = old_node;
	vdk_state_free(&st);
	return ret;
}

static void print_result(const struct vdk_bus_args *a, const char *from,
			 const char *node)
{
	struct vdk_pr p;

	vdk_pr_init(&p, stdout, a->json);
	vdk_pr_rec_begin(&p);
	vdk_pr_str(&p, VDK_PR_JSON, "name", 0, a->name);
	vdk_pr_str(&p, VDK_PR_ANY, "node", 0, node);
	vdk_pr_str(&p, VDK_PR_JSON, "bus", 0, a->vhost ? "vhost" : "virtio");
	vdk_pr_str(&p, VDK_PR_JSON, "driver", 0,
		   a->vhost ? "vhost_vdpa" : "virtio_vdpa");
	vdk_pr_str(&p, VDK_PR_JSON, "previous_bus", 0, from);
	vdk_pr_rec_end(&p, true);
}

int vdk_cmd_bus(int argc, char **argv)
{
	const struct vdk_model_ops *model = NULL;
	const char *target, *from;
	struct vdk_bus_args a;
	struct vdk_state st;
	char err[256], missing[128], drv[64] = "", cur[4096], node[4096];
	pid_t pid = 0, holder;
	int ret, claim = -1;

	if (vdk_args_bus(argc, argv, &a, err, sizeof(err))) {
		vdk_cli_err("bus", "%s", err);
		return VDK_EXIT_USAGE;
	}
	if (a.help) {
		fputs(vdk_bus_usage, stdout);
		return VDK_EXIT_OK;
	}
	target = a.vhost ? "vhost_vdpa" : "virtio_vdpa";
	if (!vdk_is_root()) {
		vdk_cli_err("bus", "must be run as root");
		return VDK_EXIT_PERM;
	}
	/* The device's model says which driver the virtio bus needs. */
	if (vdk_state_read(a.name, &st, NULL, 0) == 0) {
		if (vdk_pid_is_vdk(st.pid))
			pid = st.pid;
		model = vdk_model_find(vdk_models, st.type);
		vdk_state_free(&st);
	}
	/* Without a state file, the device is the first model's. */
	if (!model)
		model = vdk_models[0];
	if (vdk_sys_missing_modules(a.vhost, model->virtio_module, missing,
				    sizeof(missing))) {
		vdk_cli_err("bus", "kernel support missing: run 'modprobe %s'",
			    missing);
		return VDK_EXIT_KERNEL;
	}
	if (!vdk_sys_vduse_exists(a.name)) {
		vdk_cli_err("bus", "no such device '%s'", a.name);
		return VDK_EXIT_NODEV;
	}
	/* Without a daemon nobody would answer the reset the move needs. */
	if (!pid) {
		vdk_cli_err("bus", "no vdk daemon serves '%s'", a.name);
		return VDK_EXIT_FAIL;
	}
	if (!vdk_sys_vdpa_attached(a.name)) {
		vdk_cli_err("bus", "'%s' is not on the vDPA bus", a.name);
		return VDK_EXIT_FAIL;
	}
	ret = vdk_sys_vdpa_driver(a.name, drv, sizeof(drv));
	if (ret && ret != -ENOENT) {
		vdk_cli_err("bus", "driver of '%s': %s", a.name,
			    strerror(-ret));
		return VDK_EXIT_FAIL;
	}
	from = bus_of(drv);

	if (strcmp(drv, target)) {
		bool disk = !strcmp(drv, "virtio_vdpa");

		/* Where it is now, if anywhere: in use means refused. */
		if (drv[0] && vdk_model_live(model, a.name, !disk, cur,
					     sizeof(cur)) == 1 &&
		    node_busy(cur, disk, &holder, &claim)) {
			if (holder > 0)
				vdk_cli_err("bus", "%s is in use (process %d): "
					    "not moved", cur, (int)holder);
			else
				vdk_cli_err("bus", "%s is in use (mounted or "
					    "claimed): not moved", cur);
			return VDK_EXIT_FAIL;
		}
		ret = vdk_sys_bind(a.name, target);
		if (claim >= 0)
			close(claim);
		if (ret) {
			vdk_cli_err("bus", "cannot bind '%s' to %s: %s",
				    a.name, target, strerror(-ret));
			return VDK_EXIT_FAIL;
		}
	}
	ret = wait_node(model, a.name, a.vhost, a.timeout, node, sizeof(node));
	if (ret == -ETIMEDOUT) {
		vdk_cli_err("bus", "'%s' not live on %s after %u s", a.name,
			    target, a.timeout);
		return VDK_EXIT_FAIL;
	} else if (ret) {
		vdk_cli_err("bus", "waiting for '%s': %s", a.name,
			    strerror(-ret));
		return VDK_EXIT_FAIL;
	}
	ret = state_update(a.name, a.vhost, node);
	if (ret) {
		vdk_cli_err("bus", "moved, but cannot update %s/%s.json: %s",
			    vdk_root(VDK_ROOT_RUN), a.name, strerror(-ret));
		return VDK_EXIT_FAIL;
	}
	print_result(&a, from, node);
	if (fflush(stdout)) {
		vdk_cli_err("bus", "write: %s", strerror(errno));
		return VDK_EXIT_FAIL;
	}
	return VDK_EXIT_OK;
}
