/* SPDX-License-Identifier: MIT */
/*
 * Declared devices: a device described in a file, CONF_DIR/NAME.conf
 * (/etc/vdk, or $VDK_CONF_DIR), that `vdk up NAME` brings up.
 *
 * One KEY=VALUE a line; blank lines and lines starting with '#' are
 * skipped; white space around KEY and VALUE is dropped.  Keys:
 *   type=blk|net        the device model (default: the first)
 *   backend=NAME        its backend
 *   param.KEY=VALUE     a backend parameter (as KEY=VALUE on the
 *                       command line), in the file's order
 *   params=K=V K=V ...  several at once, split at white space
 *   bus=virtio|vhost    --bus
 *   ring=split|packed   --ring
 *   in-order=yes|no     yes: --in-order
 *   user=NAME           --user
 *   confine=yes|no      no: --no-confine
 *   timeout=SECS        --timeout
 *   log=FILE            --log
 *   OPTION=VALUE        any option of the model by its long name
 *                       (queues=2, mac=..., mtu=...); a flag takes
 *                       yes|no (read-only=yes)
 * Errors name the file and the line.
 */
#ifndef VDK_CONF_H
#define VDK_CONF_H

#include <stdbool.h>
#include <stddef.h>

#include "model.h"

#define VDK_CONF_DIR "/etc/vdk"
/* Longest line, and most lines with a key, of a file. */
#define VDK_CONF_LINE_MAX 4096
#define VDK_CONF_ITEMS_MAX 256

struct vdk_conf_item {
	char *key;
	char *value;
	unsigned int line;
};

struct vdk_conf {
	char *path;                /* for messages */
	struct vdk_conf_item *items;
	size_t n;
};

/*
 * Parse @len bytes of @buf, the text of the file @path, into @c.  0, or
 * -EINVAL with "PATH:LINE: why" in @err, or -ENOMEM.  Free @c with
 * vdk_conf_free() whatever the result.
 */
int vdk_conf_parse(const char *buf, size_t len, const char *path,
		   struct vdk_conf *c, char *err, size_t errlen);

/*
 * Read and parse the file of device @name: CONF_DIR/NAME.conf.  As
 * vdk_conf_parse(); -ENOENT (and the like) when it cannot be read, with
 * "cannot read PATH: why" in @err.
 */
int vdk_conf_load(const char *name, struct vdk_conf *c, char *err,
		  size_t errlen);

void vdk_conf_free(struct vdk_conf *c);

/*
 * The command line of `vdk add` (@takeover: of `vdk recover`, the
 * daemon's options alone) for device @name from @c, among @models:
 * "add" (or "recover"), the file's options, then @nextra words of the
 * caller's own options, then "--", NAME, the backend and its
 * parameters.  Each key and value is checked on the way, so that an
 * error names its line.  0, with *@argc and *@argv (free with
 * vdk_conf_argv_free()), or -EINVAL with the message in @err.
 */
int vdk_conf_argv(const struct vdk_conf *c, const char *name,
		  const struct vdk_model_ops *const *models, bool takeover,
		  int nextra, char *const *extra, int *argc, char ***argv,
		  char *err, size_t errlen);
void vdk_conf_argv_free(int argc, char **argv);

#endif /* VDK_CONF_H */
