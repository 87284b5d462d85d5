/* SPDX-License-Identifier: MIT */
/*
 * A tiny JSON writer (for -j and the state files) and a pull reader (for
 * reading the state files back).
 */
#ifndef VDK_JSON_H
#define VDK_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define VDK_JSON_DEPTH 16

/*
 * Writer.  Commas and colons are placed by the writer: call key() before
 * each value inside an object.  Nothing is checked beyond the nesting
 * depth: the callers are ours.
 */
struct vdk_jw {
	FILE *f;
	int depth;
	bool first[VDK_JSON_DEPTH];
	bool after_key;
};

void vdk_jw_init(struct vdk_jw *w, FILE *f);
void vdk_jw_obj_begin(struct vdk_jw *w);
void vdk_jw_obj_end(struct vdk_jw *w);
void vdk_jw_arr_begin(struct vdk_jw *w);
void vdk_jw_arr_end(struct vdk_jw *w);
void vdk_jw_key(struct vdk_jw *w, const char *key);
/* A string; NULL writes null.  Invalid UTF-8 bytes become U+FFFD. */
void vdk_jw_str(struct vdk_jw *w, const char *s);
void vdk_jw_u64(struct vdk_jw *w, uint64_t v);
void vdk_jw_i64(struct vdk_jw *w, int64_t v);
void vdk_jw_bool(struct vdk_jw *w, bool v);
void vdk_jw_null(struct vdk_jw *w);

/* Write @s as a quoted, escaped JSON string. */
void vdk_json_put_str(FILE *f, const char *s);

/*
 * Pull reader over a buffer (not necessarily NUL-terminated).  Every call
 * returns 0 (or 1 where said) on success and -EINVAL on malformed input;
 * after an error the reader stays failed.
 */
struct vdk_jr {
	const char *p;
	const char *end;
	int depth;
	bool first[VDK_JSON_DEPTH];
	int err;
};

void vdk_jr_init(struct vdk_jr *r, const char *buf, size_t len);
int vdk_jr_obj_begin(struct vdk_jr *r);
/*
 * Next member of the current object: 1 with its key in @key (the ':' is
 * consumed; read or skip the value next), 0 at the closing brace.
 * -ENAMETOOLONG when the key does not fit.
 */
int vdk_jr_obj_next(struct vdk_jr *r, char *key, size_t keylen);
/* A string value, unescaped; -ENAMETOOLONG when it does not fit. */
int vdk_jr_str(struct vdk_jr *r, char *buf, size_t len);
/* A non-negative integer; -ERANGE on overflow. */
int vdk_jr_u64(struct vdk_jr *r, uint64_t *v);
int vdk_jr_bool(struct vdk_jr *r, bool *v);
/* Skip any value, nested ones too. */
int vdk_jr_skip(struct vdk_jr *r);
/* Only white space left? */
int vdk_jr_end(struct vdk_jr *r);

#endif /* VDK_JSON_H */
