// SPDX-License-Identifier: MIT
/*
 * The device models this vdk serves, by `vdk add --type NAME`: a model is
 * a folder of its own (see daemon/model.h) and a line here.  The first is
 * the default.
 */
#include "blk-model.h"
#include "cli.h"
#include "net-model.h"

const struct vdk_model_ops *const vdk_models[] = {
	&vdk_model_blk,
	&vdk_model_net,
	NULL,
};
