// SPDX-License-Identifier: MIT
/*
 * A device that no daemon serves (its daemon was killed): detach it and
 * have its model destroy it.
 */
#include <errno.h>
#include <string.h>

#include "daemon-log.h"
#include "daemon.h"
#include "state.h"
#include "sysfs.h"
#include "vdpa-netlink.h"

int vdk_daemon_remove_orphan(const char *name,
			     const struct vdk_model_ops *const *models)
{
	const struct vdk_model_ops *model = models[0];
	struct vdk_state st;
	struct vdk_nl *nl = NULL;
	int ret;

	/* Without a state file, the device is the first model's. */
	if (vdk_state_read(name, &st, NULL, 0) == 0) {
		model = vdk_model_find(models, st.type);
		vdk_state_free(&st);
		if (!model) {
			vdk_err("del", "'%s' is of a device type this vdk does "
				"not know", name);
			return VDK_EXIT_FAIL;
		}
	}
	if (vdk_sys_vdpa_attached(name)) {
		ret = vdk_nl_open(&nl);
		if (ret == -ENOENT) {
			vdk_err("del",
				"no vdpa netlink family: run 'modprobe vdpa'");
			return VDK_EXIT_KERNEL;
		}
		if (ret) {
			vdk_err("del", "netlink: %s", strerror(-ret));
			return VDK_EXIT_FAIL;
		}
		ret = vdk_nl_dev_del(nl, name);
		vdk_nl_close(nl);
		if (ret && ret != -ENODEV) {
			vdk_err("del", "cannot detach '%s' from the vDPA bus: %s",
				name, strerror(-ret));
			return ret == -EPERM ? VDK_EXIT_PERM : VDK_EXIT_FAIL;
		}
	}
	ret = model->destroy_orphan(name);
	if (ret == -ENOENT && !vdk_sys_vduse_exists(name))
		ret = 0;
	if (ret) {
		vdk_err("del", "cannot destroy '%s': %s", name, strerror(-ret));
		return VDK_EXIT_FAIL;
	}
	vdk_state_remove(name);
	return VDK_EXIT_OK;
}
