// SPDX-License-Identifier: MIT
/*
 * Device models by name.
 */
#include <string.h>

#include "daemon.h"

const struct vdk_model_ops *
vdk_model_find(const struct vdk_model_ops *const *models, const char *name)
{
	for (; name && *models; models++)
		if (!strcmp((*models)->name, name))
			return *models;
	return NULL;
}
