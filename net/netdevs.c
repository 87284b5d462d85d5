// SPDX-License-Identifier: MIT
/* The network backends of `vdk add --type net`: a backend is a line here. */
#include <string.h>

#include "netdev.h"

const struct vdk_netdev_ops *const vdk_netdevs[] = {
	&vdk_netdev_tap,
	NULL,
};

const struct vdk_netdev_ops *vdk_netdev_find(const char *name)
{
	for (unsigned int i = 0; vdk_netdevs[i]; i++)
		if (!strcmp(vdk_netdevs[i]->name, name))
			return vdk_netdevs[i];
	return NULL;
}
