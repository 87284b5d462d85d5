/* SPDX-License-Identifier: MIT */
/*
 * Confinement of a serving daemon: once its device exists and every file
 * it needs is open, the daemon gives up root for good.  In this order:
 *
 *   1. no_new_privs (nothing it runs can gain rights again);
 *   2. Landlock, where the kernel has it: the file system shrinks to the
 *      paths the caller names (read-only or read-write), all else refused;
 *   3. the user and group switch (setgroups, setresgid, setresuid for every
 *      thread): with every uid non-zero the kernel clears all capabilities;
 *   4. a seccomp filter of the system calls the daemon and its backend
 *      declared (vdk_confine_cfg.syscalls), killing the process on any
 *      other, synchronised to every thread.
 *
 * Landlock binds the calling thread and the threads it creates later
 * only: call vdk_confine() while the process has one thread.  The filter
 * and the user switch reach every thread anyway.
 */
#ifndef VDK_DAEMON_CONFINE_H
#define VDK_DAEMON_CONFINE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* The system calls one part of the daemon needs, by name. */
struct vdk_syscalls {
	const char *who;            /* "daemon", "file", "nbd", ... */
	const char *const *names;   /* NULL-terminated */
};

struct vdk_confine_cfg {
	/* Switch to these; 0 for either: keep root (and its capabilities). */
	uid_t uid;
	gid_t gid;
	/* Landlock: what the file system still offers (NULL-terminated). */
	const char *const *ro_paths;
	const char *const *rw_paths;
	bool no_landlock;
	/* seccomp: the sets allowed (NULL-terminated); NULL: no filter. */
	const struct vdk_syscalls *const *syscalls;
	/* Log violations instead of killing (to learn a backend's set). */
	bool seccomp_log_only;
};

/* How a process ended up confined, for `vdk list`. */
struct vdk_confine_info {
	uid_t uid;
	gid_t gid;
	bool no_new_privs;
	int landlock_abi;      /* 0: none (kernel without it, or off) */
	bool seccomp;          /* a filter is in force */
	bool seccomp_log_only;
	unsigned int syscalls; /* allowed by the filter */
};

/*
 * Confine the calling process as @cfg says and fill @info.  Returns 0 or
 * -errno with a one-line message in @err.  On failure the process may be
 * partly confined: it must exit.
 */
int vdk_confine(const struct vdk_confine_cfg *cfg,
		struct vdk_confine_info *info, char *err, size_t errlen);

/*
 * The same in two halves, for a process that still needs root in
 * between (to create its device) but must start no thread before
 * Landlock: vdk_confine_begin() does steps 1 and 2, vdk_confine_end()
 * steps 3 and 4, whatever threads exist by then.
 */
int vdk_confine_begin(const struct vdk_confine_cfg *cfg,
		      struct vdk_confine_info *info, char *err,
		      size_t errlen);
int vdk_confine_end(const struct vdk_confine_cfg *cfg,
		    struct vdk_confine_info *info, char *err, size_t errlen);

/* The daemon's own system calls (its loops, libvdk, logging). */
extern const struct vdk_syscalls vdk_daemon_syscalls;

/*
 * The user to switch to by default ("vdk"), and its ids: 0 and -ENOENT
 * when no such user exists.
 */
#define VDK_DEFAULT_USER "vdk"
int vdk_confine_user(const char *name, uid_t *uid, gid_t *gid);

#endif /* VDK_DAEMON_CONFINE_H */
