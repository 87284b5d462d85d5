/* SPDX-License-Identifier: MIT */
/*
 * Command-line parsing of each verb, apart from what the verbs do, so that
 * tests can run it.  Every parser takes the verb's argv (argv[0] is the
 * verb), returns 0 or -EINVAL with a one-line message in @err, and sets
 * help when -h/--help was given (the rest is then not checked).
 */
#ifndef VDK_ARGS_H
#define VDK_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model.h"

struct vdk_add_args {
	const char *name;
	/* --type: the device model (default: the first of the table). */
	const struct vdk_model_ops *model;
	/* Its settings: free them with vdk_args_add_free(). */
	struct vdk_model_cfg *cfg;
	int nwords;               /* the words after NAME */
	char **words;
	bool vhost;               /* --bus vhost */
	enum vdk_ring ring;       /* --ring (default: VDK_RING_DEFAULT) */
	bool in_order;            /* --in-order: offer VIRTIO_F_IN_ORDER */
	bool bounce_kernel;       /* --bounce kernel: not in our memory */
	uint64_t bounce_size;     /* --bounce-size: bytes, 0 = the kernel's */
	bool daemon;
	const char *pidfile;
	bool json;
	const char *log;
	int verbose;
	unsigned int timeout;     /* seconds to wait for the device */
	const char *user;         /* --user: serve as this user */
	bool no_confine;          /* --no-confine: serve as root */
	bool seccomp_log;         /* --seccomp-log: log, do not kill */
	bool help;
};

/* VDUSE's bounds on a bounce buffer's size (VDUSE_MIN/MAX_BOUNCE_SIZE). */
#define VDK_BOUNCE_SIZE_MIN (1ull << 20)
#define VDK_BOUNCE_SIZE_MAX (1ull << 30)

/*
 * --bounce-size's value: bytes, or with K, M or G; whole 4 KiB pages in
 * [VDK_BOUNCE_SIZE_MIN, VDK_BOUNCE_SIZE_MAX].  0 or -EINVAL.
 */
int vdk_parse_bounce_size(const char *s, uint64_t *out);

struct vdk_del_args {
	const char *name;
	unsigned int timeout;
	bool help;
};

struct vdk_list_args {
	const char *name;  /* NULL: all */
	bool json;
	bool help;
};

struct vdk_resize_args {
	const char *name;
	bool help;
};

struct vdk_bus_args {
	const char *name;
	bool vhost;               /* the bus to move to */
	bool json;
	unsigned int timeout;     /* seconds to wait for the new node */
	bool help;
};

/* vdk up: the options it passes on to add or recover. */
struct vdk_up_args {
	const char *name;
	/* The options as given, for the command line of add or recover. */
	int nopts;
	char **opts;
	bool help;
};

/* vdk stat [-j] [-c COUNT] [NAME] [INTERVAL] */
struct vdk_stat_args {
	const char *name;         /* NULL: every device */
	bool json;
	unsigned int interval;    /* seconds; 0: one report */
	unsigned int count;       /* reports; 0: until interrupted */
	bool help;
};

struct vdk_backends_args {
	bool json;
	bool help;
};

/*
 * vdk add: the options of the daemon and those of the device model that
 * --type chooses among @models (NULL-terminated), then NAME, then the
 * words the model takes.  recover and rescue: the same options, NAME
 * and no word (vdk_args_takeover()).  Free @a with vdk_args_add_free(),
 * whatever the result.
 */
int vdk_args_add(int argc, char **argv,
		 const struct vdk_model_ops *const *models,
		 struct vdk_add_args *a, char *err, size_t errlen);
int vdk_args_takeover(int argc, char **argv,
		      const struct vdk_model_ops *const *models,
		      struct vdk_add_args *a, char *err, size_t errlen);
void vdk_args_add_free(struct vdk_add_args *a);
int vdk_args_del(int argc, char **argv, struct vdk_del_args *a, char *err,
		 size_t errlen);
int vdk_args_list(int argc, char **argv, struct vdk_list_args *a, char *err,
		  size_t errlen);
int vdk_args_resize(int argc, char **argv, struct vdk_resize_args *a,
		    char *err, size_t errlen);
int vdk_args_bus(int argc, char **argv, struct vdk_bus_args *a, char *err,
		 size_t errlen);
int vdk_args_up(int argc, char **argv, struct vdk_up_args *a, char *err,
		size_t errlen);
int vdk_args_stat(int argc, char **argv, struct vdk_stat_args *a, char *err,
		  size_t errlen);
int vdk_args_backends(int argc, char **argv, struct vdk_backends_args *a,
		      char *err, size_t errlen);

#endif /* VDK_ARGS_H */
