/* SPDX-License-Identifier: MIT */
/*
 * The vdk daemon: what serves a device from `vdk add` (or `vdk recover`)
 * until it is taken down, apart from the command line that starts it.
 */
#ifndef VDK_DAEMON_H
#define VDK_DAEMON_H

#include <stdbool.h>
#include <stdio.h>

#include "model.h"
#include "state.h"

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

/* What vdk_daemon_run() does. */
enum vdk_daemon_mode {
	VDK_DAEMON_ADD,      /* create a new device and serve it */
	VDK_DAEMON_RECOVER,  /* serve again a device whose daemon died */
	VDK_DAEMON_RESCUE,   /* fail its I/O, detach and destroy it */
};

struct vdk_daemon_cfg {
	enum vdk_daemon_mode mode;
	const char *name;
	/*
	 * ADD: the device's model and its settings (the caller's, kept
	 * until vdk_daemon_run() returns).  RECOVER and RESCUE: NULL; they
	 * come from the state file, the model found in @models.
	 */
	const struct vdk_model_ops *model;
	struct vdk_model_cfg *model_cfg;
	/* The models this program has, NULL-terminated. */
	const struct vdk_model_ops *const *models;
	bool vhost;               /* ADD: on the vhost bus */
	/*
	 * ADD: the ring formats offered (VDK_RING_*, VDK_RING_DEFAULT by
	 * default: see model.h); RECOVER and RESCUE
	 * take the state file's, as the in-flight log was made for them.
	 */
	enum vdk_ring ring;
	/* ADD: offer VIRTIO_F_IN_ORDER (takeovers: as the state file says). */
	bool in_order;
	/*
	 * ADD: keep VDUSE's bounce buffer in the kernel's memory rather
	 * than back it with ours (takeovers: as the state file says), and
	 * its size in bytes (0: the kernel's default; takeovers: as made).
	 */
	bool bounce_kernel;
	uint64_t bounce_size;
	bool daemon;              /* to the background once live */
	const char *pidfile;      /* or NULL */
	bool json;
	const char *log;          /* a log file, or NULL */
	int verbose;
	unsigned int timeout;     /* seconds to wait for the device */
	/*
	 * Confinement (split.h): serve as @user (NULL: VDK_DEFAULT_USER,
	 * else "nobody"), unless @no_confine or the model cannot be
	 * confined; rescue is never confined.
	 */
	const char *user;
	bool no_confine;
	bool seccomp_log_only;
	/*
	 * Required.  What the command prints of the live device @st (text
	 * or JSON), into @f.
	 */
	void (*print)(FILE *f, const struct vdk_state *st, bool json);
};

/*
 * Serve a device: open what it serves and check it, check the kernel,
 * go to the background with @daemon (the parent exits there, with the
 * daemon's report), create the kernel device, attach it to the vDPA bus,
 * wait until it is live, write the state file, print the device, and
 * serve it until SIGINT or SIGTERM (SIGHUP: resize), then take it down.
 * Errors are "vdk: VERB: ..." lines on stderr (the daemon's log too).
 * Returns the exit code.
 */
int vdk_daemon_run(const struct vdk_daemon_cfg *cfg);

/*
 * Remove the device @name that no daemon serves: detach it from the vDPA
 * bus, have its model (the state file's type, else the first of
 * @models) destroy the kernel device, remove its state.  Errors as
 * "vdk: del: ..." lines.  Returns the exit code.
 */
int vdk_daemon_remove_orphan(const char *name,
			     const struct vdk_model_ops *const *models);

/* The model called @name in @models, or NULL. */
const struct vdk_model_ops *
vdk_model_find(const struct vdk_model_ops *const *models, const char *name);

#endif /* VDK_DAEMON_H */
