/* SPDX-License-Identifier: MIT */
/*
 * systemd's readiness protocol (sd_notify(3)) without libsystemd: one
 * datagram of "KEY=VALUE" lines to the socket named by $NOTIFY_SOCKET, a
 * path or, with a leading '@', an abstract name.  The daemon's supervisor
 * sends READY=1 once the device is live and STOPPING=1 when it takes it
 * down; the serving process of a confined daemon never does (it drops
 * the variable).
 */
#ifndef VDK_NOTIFY_H
#define VDK_NOTIFY_H

/*
 * Send @msg (without a trailing newline needed).  1 when sent, 0 when
 * there is no $NOTIFY_SOCKET (not under systemd), -errno otherwise
 * (-EINVAL: a name that is neither a path nor '@' and an abstract name,
 * or too long).
 */
int vdk_notify(const char *msg);

/* The same, formatted. */
int vdk_notifyf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif /* VDK_NOTIFY_H */
