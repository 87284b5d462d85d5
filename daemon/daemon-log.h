/* SPDX-License-Identifier: MIT */
/*
 * The daemon's log: stderr in the foreground, syslog when daemonized, or a
 * file given with --log.  Messages from libvdk arrive through
 * vdk_log_cb().
 */
#ifndef VDK_DAEMON_LOG_H
#define VDK_DAEMON_LOG_H

#include <stdarg.h>
#include <stdint.h>
#include <stdbool.h>

/*
 * Where to log: a file (@path, appended to), else syslog when
 * @use_syslog, else stderr.  Messages above @level are dropped.  0 or
 * -errno (the file could not be opened).
 */
int vdk_log_open(const char *path, bool use_syslog, int level);
void vdk_log_close(void);

/* The file descriptor of the log file, or -1. */
int vdk_log_fd(void);

/* The level in force (VDK_LOG_*, syslog's numbers). */
int vdk_log_level(void);

/* One message; a trailing newline is not needed.  Thread-safe. */
void vdk_log(int level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * Pages of driver memory the SIGBUS guard replaced in this process since
 * *@seen: logged once each, for the device @name; *@seen catches up.
 */
void vdk_sigbus_report(const char *name, uint64_t *seen);

/* For struct vdk_dev_cfg / vdk_blk_cfg; @opaque is the device name. */
void vdk_log_cb(void *opaque, int level, const char *msg);

/*
 * A command's error, for the user: "vdk: VERB: message" on stderr, one
 * line (newline added), whatever the log is.
 */
void vdk_err(const char *verb, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void vdk_verr(const char *verb, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

#endif /* VDK_DAEMON_LOG_H */
