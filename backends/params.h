/* SPDX-License-Identifier: MIT */
/*
 * key=value parameters, as given on the command line:
 *   vdk add NAME file path=/srv/disk.img direct=on
 */
#ifndef VDK_PARAMS_H
#define VDK_PARAMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VDK_PARAMS_MAX 32

struct vdk_param {
	char *key;
	char *value;
	bool used;
};

struct vdk_params {
	unsigned int n;
	struct vdk_param p[VDK_PARAMS_MAX];
};

/*
 * Parse @argc words of the form key=value into @ps (copies them).  Keys are
 * [a-z0-9_-]+, non-empty; a key given twice is an error.  On error returns
 * -EINVAL and writes a one-line message into @err.
 */
int vdk_params_parse(struct vdk_params *ps, int argc, char *const *argv,
		     char *err, size_t errlen);
void vdk_params_free(struct vdk_params *ps);

/* Value of @key (and marks it used), or NULL if absent. */
const char *vdk_params_get(struct vdk_params *ps, const char *key);

/*
 * Typed getters: return 0 and set *out, -ENOENT when absent (out left
 * alone), -EINVAL with a message in @err when the value is malformed.
 * Sizes accept a suffix K, M, G, T (powers of 1024) and reject overflow.
 * Booleans accept on/off, yes/no, true/false, 1/0.
 */
int vdk_params_get_size(struct vdk_params *ps, const char *key, uint64_t *out,
			char *err, size_t errlen);
int vdk_params_get_bool(struct vdk_params *ps, const char *key, bool *out,
			char *err, size_t errlen);
int vdk_params_get_uint(struct vdk_params *ps, const char *key, uint64_t min,
			uint64_t max, uint64_t *out, char *err, size_t errlen);

/*
 * A copy of a string value (the caller frees it): 0 with *out set, or 0
 * with *out left alone when absent; -EINVAL when empty, -ENOMEM.
 */
int vdk_params_dup(struct vdk_params *ps, const char *key, char **out,
		   char *err, size_t errlen);

/*
 * -EINVAL with "unknown parameter 'KEY'" in @err if some key was never
 * looked at, else 0.
 */
int vdk_params_check_unused(const struct vdk_params *ps, char *err,
			    size_t errlen);

/* Parse a size with an optional suffix, as vdk_params_get_size(). */
int vdk_parse_size(const char *s, uint64_t *out);

#endif /* VDK_PARAMS_H */
