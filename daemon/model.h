/* SPDX-License-Identifier: MIT */
/*
 * Device models of the vdk daemon.
 *
 * A device model (virtio-blk: blk/blk-model.c) is a const ops table.  The
 * daemon knows nothing of what the device does; the model knows nothing of
 * how the daemon runs (signals, the vDPA bus, state files, the report to
 * the parent).  A model creates and destroys its own kernel device.  The
 * command lists its models in one table (cli/models.c): a new model is a
 * folder of its own and a line there.
 *
 * Life cycle, in this order, all in the main thread:
 *   cfg_new()        a configuration with the model's defaults;
 *   cfg_opt()        for each of the model's options on the command line;
 *   cfg_words()      the words after NAME (vdk add), or
 *   cfg_from_state() the settings a dead daemon left (recover, rescue);
 *   open()           before any fork: open what the device serves, check
 *                    it.  Must not start threads.
 *   create()         after the fork: make the kernel device (or take over
 *                    the one a dead daemon left) and start the device's
 *                    threads; it answers the kernel from then on.
 *   describe(), status(), resize(), stats(), changed_fd(), changed()
 *                    while the device is served;
 *   stop()           stop the device's threads (it is off the bus);
 *   destroy()        close the device and destroy the kernel device;
 *   close()          what open() opened;
 *   cfg_free().
 * destroy_orphan() stands apart: the kernel device of a device that no
 * daemon serves (`vdk del` of an orphan).
 *
 * The struct only grows at the end.
 */
#ifndef VDK_MODEL_H
#define VDK_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vdk/vdk.h>

#include "confine.h"
#include "state.h"

/* What a model fills in for confinement() (the pointers stay its own). */
#define VDK_MODEL_CONFINE_SETS 4
#define VDK_MODEL_CONFINE_PATHS 16
struct vdk_model_confine {
	/* NULL-terminated, each as daemon/confine.h's vdk_syscalls. */
	const struct vdk_syscalls *syscalls[VDK_MODEL_CONFINE_SETS + 1];
	const char *ro_paths[VDK_MODEL_CONFINE_PATHS + 1];
	const char *rw_paths[VDK_MODEL_CONFINE_PATHS + 1];
};

struct vdk_model_cfg; /* model-defined: the settings of one device */
struct vdk_model_dev; /* model-defined: one device */

/* Longest message a model writes into an @err buffer, with its NUL. */
#define VDK_MODEL_ERR_MAX 256

/* An option of `vdk add` that a model takes, in getopt_long's terms. */
struct vdk_model_opt {
	const char *name;  /* the long name: "queues" for --queues */
	int short_name;    /* 'q' for -q, or 0 */
	bool has_arg;
	int key;           /* the model's own number for it, for cfg_opt() */
};

/*
 * The ring formats a device offers (vdk add --ring).  With packed rings
 * offered the driver still decides, and one without VIRTIO_F_RING_PACKED
 * gets split rings.  By default a device on the vhost bus offers them
 * and one on the virtio bus does not: there the driver maps its buffers
 * into VDUSE's bounce buffer, and Linux's packed virtqueue fails a
 * request whose mapping does not fit (-EIO from virtqueue_add_packed(),
 * an I/O error for virtio_blk) where its split one returns -ENOMEM and
 * the block layer waits for room.  With 1 MiB reads 128 deep, more than
 * the 64 MiB bounce buffer, packed rings gave I/O errors and split ones
 * none (Linux 6.12); split rings were also the faster ones there
 * (bench/results/2026-12-07-sid-rings).
 */
enum vdk_ring {
	VDK_RING_DEFAULT, /* packed on the vhost bus, split on the virtio bus */
	VDK_RING_PACKED,  /* split and packed: the driver's choice */
	VDK_RING_SPLIT,   /* split only */
};

/* What the daemon gives a device at open(); copied by the model. */
struct vdk_model_env {
	const char *name;          /* the device's name */
	/* The in-flight log of the kernel device (struct vdk_dev_cfg). */
	const char *inflight_path;
	/*
	 * VDK_DEV_F_* for struct vdk_dev_cfg's @flags: the ring formats
	 * offered.  A device taken over must get those it was made with.
	 */
	uint64_t dev_flags;
	/*
	 * The daemon's log.  @opaque NULL for a message that names the
	 * device itself, or the device's name to have it put in front.
	 */
	vdk_log_fn log;
	int log_level;
};

/* What create() does with the kernel device. */
enum vdk_model_mode {
	VDK_MODEL_NEW,     /* create it */
	VDK_MODEL_REOPEN,  /* take over the one a dead daemon left */
	/*
	 * Take it over to complete every request with an I/O error, with
	 * nothing of what it served (rescue): the device's storage may be
	 * gone for good.
	 */
	VDK_MODEL_FAIL_IO,
};

/*
 * Counters of one queue for `vdk stat`, all monotonic since the device
 * was created (or taken over), so that a reader makes intervals from two
 * samples.  Fixed size: it crosses the socket pair of a confined daemon.
 */
enum vdk_stat_kind {
	VDK_STAT_READ,      /* blk: reads; net: frames to the driver (rx) */
	VDK_STAT_WRITE,     /* blk: writes; net: frames from it (tx) */
	VDK_STAT_FLUSH,
	VDK_STAT_DISCARD,
	VDK_STAT_ZERO,      /* write-zeroes */
	VDK_STAT_OTHER,     /* GET_ID, unknown or malformed requests */
	VDK_STAT_KINDS,
};
/*
 * Completion latency in log2 buckets of microseconds: bucket 0 holds
 * latencies under 1 us, bucket i (1..30) those in [2^(i-1), 2^i) us, the
 * last everything from 2^30 us (about 18 minutes) on.
 */
#define VDK_STAT_LAT_BUCKETS 32
#define VDK_STAT_LABEL_MAX 16
/* The most queues `vdk stat` shows of a device (blk has up to 64). */
#define VDK_STAT_QUEUES_MAX 64
struct vdk_model_qstats {
	char label[VDK_STAT_LABEL_MAX]; /* "q0", "rx": NUL-terminated */
	uint64_t requests[VDK_STAT_KINDS]; /* completed, failed ones too */
	uint64_t bytes[VDK_STAT_KINDS];    /* of the successful ones */
	uint64_t errors;    /* completed with an error */
	uint64_t dropped;   /* net: frames lost (no room, link down) */
	uint64_t in_flight; /* taken from the ring, not completed: a gauge */
	/* Completions by latency; all zero when the model measures none. */
	uint64_t latency[VDK_STAT_LAT_BUCKETS];
};

struct vdk_model_ops {
	/* Required.  "blk": --type's value and the state file's "type". */
	const char *name;
	/* Required.  One line for `vdk help add`. */
	const char *summary;
	/* Required.  The words after NAME: "BACKEND [KEY=VALUE ...]". */
	const char *words_usage;
	/* Optional.  The model's options, ended by a NULL name. */
	const struct vdk_model_opt *opts;
	/* Optional.  Their lines for `vdk help add`, each with "\n". */
	const char *opts_help;
	/* Required.  The module that drives it on the virtio bus. */
	const char *virtio_module;

	/* Required.  A configuration with the defaults.  0 or -ENOMEM. */
	int (*cfg_new)(struct vdk_model_cfg **out);
	/* Required.  NULL is allowed. */
	void (*cfg_free)(struct vdk_model_cfg *cfg);
	/*
	 * Required with @opts.  The option @key was given, with @val (NULL
	 * without an argument): check it and keep it.  0, or -EINVAL with
	 * a one-line message in @err.
	 */
	int (*cfg_opt)(struct vdk_model_cfg *cfg, int key, const char *val,
		       char *err, size_t errlen);
	/*
	 * Required.  The @n words after NAME (they stay valid as long as
	 * @cfg).  0, or -EINVAL with a one-line message in @err.
	 */
	int (*cfg_words)(struct vdk_model_cfg *cfg, int n, char **words,
			 char *err, size_t errlen);
	/*
	 * Required.  recover and rescue: the settings of the state file
	 * @st that the dead daemon left (describe() filled it).  With
	 * @rescue, nothing of what the device served is needed.  0, or
	 * -errno with a one-line message in @err.
	 */
	int (*cfg_from_state)(struct vdk_model_cfg *cfg,
			      const struct vdk_state *st, bool rescue,
			      char *err, size_t errlen);

	/*
	 * Required.  Before any fork: open what the device serves (a
	 * backend and its storage) and check it against @cfg, which stays
	 * valid until close().  Starts no thread.  0, or
	 * -errno with a one-line message in @err: -EINVAL or -ERANGE for
	 * a bad setting (a usage error), another for a runtime failure.
	 */
	int (*open)(const struct vdk_model_cfg *cfg,
		    const struct vdk_model_env *env, struct vdk_model_dev **out,
		    char *err, size_t errlen);
	/*
	 * Required.  After the fork: make (or take over) the kernel device
	 * and start its threads, so that it answers the kernel during the
	 * attach to the vDPA bus.  On failure nothing is left: -errno,
	 * with a one-line message in @err, or with @err empty for an error
	 * of vdk_dev_create() or vdk_dev_open(), which the daemon explains.
	 */
	int (*create)(struct vdk_model_dev *d, enum vdk_model_mode mode,
		      char *err, size_t errlen);
	/*
	 * Required.  Fill the model's fields of the state file: backend,
	 * params, size, block_size, queues, queue_size, read_only (what
	 * applies).  The strings stay the model's, valid until close().
	 */
	void (*describe)(struct vdk_model_dev *d, struct vdk_state *st);
	/*
	 * Optional.  The virtio device status (VIRTIO_CONFIG_S_*): a
	 * driver that sets FAILED fails the device.  After create().
	 */
	uint8_t (*status)(struct vdk_model_dev *d);
	/*
	 * Optional.  SIGHUP (`vdk resize`): what the device serves may
	 * have grown; tell the driver.  0 or -errno.  After create().
	 */
	int (*resize)(struct vdk_model_dev *d);
	/* Required.  Stop the device's threads.  After create(). */
	void (*stop)(struct vdk_model_dev *d);
	/*
	 * Required.  After stop(): close the device and destroy the kernel
	 * device, waiting a little while the kernel lets go, and undo what
	 * open() made on the host for the device alone (a tap).  Failures
	 * are logged.  Also called on a copy that never ran create(): the
	 * supervisor of a confined daemon, once its server is gone.
	 */
	void (*destroy)(struct vdk_model_dev *d);
	/*
	 * Required.  What open() opened.  NULL is allowed.  Not called in
	 * the parent of a daemon: what it opened is the daemon's.
	 */
	void (*close)(struct vdk_model_dev *d);
	/*
	 * Required.  Destroy the kernel device @name that no process
	 * serves, once it is off the vDPA bus.  0 or -errno (-ENOENT: no
	 * such device).
	 */
	int (*destroy_orphan)(const char *name);
	/*
	 * Optional; without it the device is not confined.  What the
	 * device needs once its daemon gives up root (daemon/confine.h):
	 * the system calls beyond the daemon's own, the paths it may still
	 * open.  After open(), in the serving process.
	 */
	void (*confinement)(struct vdk_model_dev *d,
			    struct vdk_model_confine *out);
	/*
	 * Optional.  Whether the device @name is live on the virtio bus:
	 * 1 with what `vdk add` prints in @node ("/dev/vda", "eth1"), 0
	 * when not yet, -errno.  Without it, the device is live once
	 * virtio_module is bound to it, with no node.  Any process, any
	 * time: it reads sysfs (daemon/sysfs.h).
	 */
	int (*virtio_live)(const char *name, char *node, size_t len);
	/*
	 * Optional.  The counters of queue @queue into @out, read while
	 * the queue threads run (they may lag by a request).  Returns the
	 * number of queues (>= 1; @out untouched when @queue is not below
	 * it) or -errno.  After create(), in the serving process's main
	 * thread.
	 */
	int (*stats)(struct vdk_model_dev *d, unsigned int queue,
		     struct vdk_model_qstats *out);
	/*
	 * Optional.  A file descriptor that becomes readable when the
	 * device changed by itself (its storage grew, and the driver was
	 * told): the daemon calls changed() then, and records describe()
	 * again.  -1 if none.  After create(), in the serving process.
	 */
	int (*changed_fd)(struct vdk_model_dev *d);
	/* Optional, with changed_fd().  Whether it did; clears the fd. */
	bool (*changed)(struct vdk_model_dev *d);
};

/*
 * Whether the device @name of model @m is live on its bus (@vhost:
 * vhost_vdpa, else virtio_vdpa and the model's driver): 1 with its node
 * in @node, 0 when not yet, -errno.
 */
int vdk_model_live(const struct vdk_model_ops *m, const char *name,
		   bool vhost, char *node, size_t len);

/*
 * Live on the virtio bus by the driver alone: 1 with an empty @node once
 * the model's virtio_module is bound to @name, else 0.  What
 * vdk_model_live() does for a model without virtio_live().
 */
int vdk_model_bound(const struct vdk_model_ops *m, const char *name,
		    char *node, size_t len);

/*
 * For the models' describe(): what the kernel device @dev offered and
 * its driver took, into @st (features, driver_features, vduse_api).
 */
void vdk_model_describe_dev(const struct vdk_dev *dev, struct vdk_state *st);

/*
 * For the models.  A decimal number in [@min, @max], nothing around it:
 * 0, or -EINVAL.
 */
int vdk_parse_uint(const char *s, unsigned long min, unsigned long max,
		   unsigned long *out);

/*
 * VDUSE_DESTROY_DEV of @name, tried again for a few seconds while the
 * kernel answers -EBUSY (it lets go of a device a little after the
 * vDPA bus does).  0 or -errno.
 */
int vdk_model_destroy_vduse(const char *name);

#endif /* VDK_MODEL_H */
