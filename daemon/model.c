// SPDX-License-Identifier: MIT
/*
 * Device models by name, and what every model needs of the daemon's.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon.h"

/* Longest wait for VDUSE_DESTROY_DEV while the kernel lets go. */
#define DESTROY_TRIES 100
#define DESTROY_SLEEP_MS 50

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
