/* SPDX-License-Identifier: MIT */
/*
 * The vdk daemon: what serves a device from `vdk add` (or `vdk recover`)
 * until it is taken down, apart from the command line that starts it.
 */
#ifndef VDK_DAEMON_H
#define VDK_DAEMON_H

/*
 * Exit codes, documented in `vdk --help` and cli/README.md; a daemon
 * reports its own to the parent that waits for it.
 */
enum vdk_exit {
	VDK_EXIT_OK = 0,
	VDK_EXIT_FAIL = 1,      /* runtime failure */
	VDK_EXIT_USAGE = 2,     /* bad option, key or value; unknown backend */
	VDK_EXIT_KERNEL = 3,    /* a kernel module is not loaded */
	VDK_EXIT_PERM = 4,      /* not root */
	VDK_EXIT_EXISTS = 5,    /* name in use */
	VDK_EXIT_NODEV = 6,     /* no such device */
};

#endif /* VDK_DAEMON_H */
