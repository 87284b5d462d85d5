/* SPDX-License-Identifier: MIT */
/*
 * Runtime state of a device, /run/vdk/NAME.json, written by its daemon once
 * the device is live and removed when it goes.  `vdk list`, `vdk del` and
 * `vdk resize` find the daemon through it.
 */
#ifndef VDK_STATE_H
#define VDK_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#define VDK_STATE_PARAMS 32
/* The device model of files written before they named one. */
#define VDK_STATE_DEFAULT_TYPE "blk"

struct vdk_state_param {
	char *key;
	char *value;
};

struct vdk_state {
	int pid;
	char *name;
	char *type;           /* device model: "blk" */
	char *backend;
	unsigned int nparams;
	struct vdk_state_param params[VDK_STATE_PARAMS];
	uint64_t size;        /* bytes */
	uint32_t block_size;
	unsigned int queues;
	unsigned int queue_size;
	bool read_only;
	/*
	 * The virtio features the device offers (VIRTIO_F_RING_PACKED
	 * among them says which rings a takeover must offer again: none
	 * recorded, split only), those its driver took (0 before), and
	 * the VDUSE API version in use.
	 */
	uint64_t features;
	uint64_t driver_features;
	unsigned int vduse_api;
	uint64_t vduse_features; /* VDK_VDUSE_F_* in use */
	/* VDUSE's bounce buffer left in the kernel's memory (--bounce). */
	bool bounce_kernel;
	char *bus;            /* "virtio" or "vhost" */
	char *node;           /* "/dev/vda", "/dev/vhost-vdpa-0" */
	/*
	 * A confined daemon: the process that serves the device (@pid is
	 * its supervisor) and how it is confined; absent when @confined
	 * is false.
	 */
	bool confined;
	struct vdk_state_confine {
		int server_pid;
		unsigned int uid;
		bool no_new_privs;
		bool seccomp;
		bool seccomp_log_only;
		unsigned int syscalls;
		unsigned int landlock_abi;
	} confine;
};

/* Free the strings of @st (not @st itself) and zero it. */
void vdk_state_free(struct vdk_state *st);

/*
 * JSON of @st, one line with a newline, into @f: keys in a fixed order,
 * no spaces, strings not valid UTF-8 cleaned (U+FFFD).  0, -ENOMEM or
 * -EIO.
 */
int vdk_state_format(const struct vdk_state *st, FILE *f);

/*
 * Fill @st from JSON (json-c's reader, strict, VDK_JSON_DEPTH levels at
 * most).  Unknown keys are skipped, whatever their value; no "type" is
 * VDK_STATE_DEFAULT_TYPE; a null string is an absent one.  0, -EINVAL
 * (malformed, truncated, a value of the wrong type or out of range, a
 * required key missing) with the reason in @why if not NULL, or -ENOMEM.
 * On error @st holds nothing.
 */
int vdk_state_parse(const char *buf, size_t len, struct vdk_state *st,
		    char *why, size_t whylen);

/* Write RUN_DIR/NAME.json atomically, creating the directory. */
int vdk_state_write(const struct vdk_state *st);

/*
 * Read RUN_DIR/NAME.json.  -ENOENT when there is none; -EINVAL, with
 * the reason in @why if not NULL, when it cannot be read as a state
 * file of device @name.
 */
int vdk_state_read(const char *name, struct vdk_state *st, char *why,
		   size_t whylen);

/* Remove RUN_DIR/NAME.json.  0 or -errno (-ENOENT ignored). */
int vdk_state_remove(const char *name);

/*
 * Whether @pid is a running vdk process: /proc/PID/comm is "vdk", or
 * /proc/PID/exe is this program.  Zombies do not count.
 */
bool vdk_pid_is_vdk(pid_t pid);

/*
 * A process that has @path open (looked up in /proc/PID/fd), 0 if none,
 * -errno if /proc cannot be read.
 */
pid_t vdk_find_holder(const char *path);

#endif /* VDK_STATE_H */
