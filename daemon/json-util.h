/* SPDX-License-Identifier: MIT */
/*
 * What vdk needs around json-c, for `-j`, `vdk stat -j` and the state
 * files: values added to objects and arrays with an -errno result,
 * strings made valid UTF-8 on the way out, one compact output form, and
 * a reader of a whole buffer with typed getters that refuse what does not
 * fit.
 */
#ifndef VDK_JSON_UTIL_H
#define VDK_JSON_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <json-c/json.h>

/* Nesting the reader follows; deeper input is refused. */
#define VDK_JSON_DEPTH 16

/*
 * Add @val under @key to @parent, an object, or append it to @parent, an
 * array (@key unused).  @val is taken over, freed on failure; NULL is
 * JSON null.  A key that is not valid UTF-8 is cleaned as strings are.
 * 0 or -ENOMEM.
 */
int vdk_json_add(struct json_object *parent, const char *key,
		 struct json_object *val);
/* A string (NULL: null); bytes that are not UTF-8 become U+FFFD. */
int vdk_json_add_str(struct json_object *parent, const char *key,
		     const char *s);
int vdk_json_add_u64(struct json_object *parent, const char *key,
		     uint64_t v);
int vdk_json_add_i64(struct json_object *parent, const char *key,
		     int64_t v);
int vdk_json_add_bool(struct json_object *parent, const char *key, bool v);

/*
 * @o as one line without spaces, as vdk has always printed it: no escaped
 * '/', control characters as \uXXXX.  0, -ENOMEM or -EIO.
 */
int vdk_json_print(FILE *f, struct json_object *o);

/*
 * Parse @buf (@len bytes, NUL not needed) as one JSON value, white space
 * around it allowed, nothing else after it.  json-c's syntax without its
 * strict mode: JSON, and also comments, trailing commas, single quotes,
 * leading zeros, raw control characters in strings.  0 with the value in *@out
 * (NULL for null; the caller puts it), -EINVAL with a reason in @why
 * (if not NULL) for malformed, truncated or too deeply nested input,
 * -ENOMEM.
 */
int vdk_json_parse(const char *buf, size_t len, struct json_object **out,
		   char *why, size_t whylen);

/*
 * Typed reads, 0 or -EINVAL when @o is not of the type.  An integer is
 * refused if negative or above @max; json-c holds any larger number as
 * UINT64_MAX, so that value is refused too.
 */
int vdk_json_get_uint(struct json_object *o, uint64_t max, uint64_t *out);
int vdk_json_get_bool(struct json_object *o, bool *out);
/*
 * A string into a new allocation (*@out, freed first).  -EINVAL if it
 * holds a NUL or is @max bytes or longer, -ENOMEM.
 */
int vdk_json_get_str(struct json_object *o, size_t max, char **out);

#endif /* VDK_JSON_UTIL_H */
