// SPDX-License-Identifier: MIT
/*
 * Device models by name, and what every model needs of the daemon's.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon.h"
#include "sysfs.h"

void vdk_model_describe_dev(const struct vdk_dev *dev, struct vdk_state *st)
{
	st->features = vdk_dev_features(dev);
	st->driver_features = vdk_dev_driver_features(dev);
	st->vduse_api = vdk_dev_api_version(dev);
	st->vduse_features = vdk_dev_vduse_features(dev);
}

/* Longest wait for VDUSE_DESTROY_DEV while the kernel lets go. */
#define DESTROY_TRIES 100
#define DESTROY_SLEEP_MS 50

int vdk_model_live(const struct vdk_model_ops *m, const char *name,
		   bool vhost, char *node, size_t len)
{
	if (vhost)
		return vdk_sys_vhost_live(name, node, len);
	if (m->virtio_live)
		return m->virtio_live(name, node, len);
	return vdk_model_bound(m, name, node, len);
}

int vdk_model_bound(const struct vdk_model_ops *m, const char *name,
		    char *node, size_t len)
{
	if (!vdk_sys_virtio_driver_is(name, m->virtio_module))
		return 0;
	if (len)
		node[0] = '\0';
	return 1;
}

int vdk_parse_uint(const char *s, unsigned long min, unsigned long max,
		   unsigned long *out)
{
	unsigned long v;
	char *end;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

int vdk_model_destroy_vduse(const char *name)
{
	struct timespec ts;
	int ret, i;

	for (i = 0; i < DESTROY_TRIES; i++) {
		ret = vdk_dev_destroy(name);
		if (ret != -EBUSY)
			break;
		ts.tv_sec = 0;
		ts.tv_nsec = DESTROY_SLEEP_MS * 1000000L;
		while (nanosleep(&ts, &ts) && errno == EINTR)
			;
	}
	return ret;
}

const struct vdk_model_ops *
vdk_model_find(const struct vdk_model_ops *const *models, const char *name)
{
	for (; name && *models; models++)
		if (!strcmp((*models)->name, name))
			return *models;
	return NULL;
}
