/* SPDX-License-Identifier: MIT */
/*
 * virtio-net as a device model of the vdk daemon (daemon/model.h).
 */
#ifndef VDK_NET_MODEL_H
#define VDK_NET_MODEL_H

#include "model.h"

extern const struct vdk_model_ops vdk_model_net;

/*
 * A MAC address "52:54:00:12:34:56" into @mac: 0, or -EINVAL for a
 * malformed one or a multicast address (the low bit of the first byte).
 */
int vdk_net_parse_mac(const char *s, uint8_t mac[6]);

#endif /* VDK_NET_MODEL_H */
