/* SPDX-License-Identifier: MIT */
/*
 * virtio-blk as a device model of the vdk daemon (daemon/model.h).
 */
#ifndef VDK_BLK_MODEL_H
#define VDK_BLK_MODEL_H

#include <stdbool.h>

#include "model.h"

extern const struct vdk_model_ops vdk_model_blk;

/*
 * The settings of a blk device: opaque to the daemon, open to tests of
 * the command line.
 */
struct vdk_model_cfg {
	const char *backend;
	int nparams;              /* KEY=VALUE words, parsed at open() */
	char *const *params;
	unsigned int queues;
	unsigned int queue_size;
	unsigned int block_size;  /* 0: the backend's */
	bool read_only;
	const char *serial;       /* NULL: the device's name */
	/* What cfg_from_state() made: backend and params point here. */
	char *own_backend;
	char **own_params;
};

#endif /* VDK_BLK_MODEL_H */
