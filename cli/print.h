/* SPDX-License-Identifier: MIT */
/*
 * One printing path for text and JSON, as iproute2's print_*() calls: each
 * field is printed once, with its JSON key and its text column, and the
 * mode decides what shows.
 */
#ifndef VDK_PRINT_H
#define VDK_PRINT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct json_object;

enum vdk_pr_kind {
	VDK_PR_ANY,   /* both text and JSON */
	VDK_PR_JSON,  /* JSON only */
	VDK_PR_TEXT,  /* text only */
};

/* Nesting of lists, records and objects. */
#define VDK_PR_DEPTH 8

/*
 * JSON is built as a json-c tree and written when its outermost list or
 * record ends; text is written as it comes.
 */
struct vdk_pr {
	FILE *f;
	bool json;
	bool line_started;
	/* JSON: the open containers, outermost first; NULL once lost. */
	int depth;
	struct json_object *open[VDK_PR_DEPTH];
	int err;  /* the first failure: -ENOMEM, -E2BIG (too deep), -EIO */
};

void vdk_pr_init(struct vdk_pr *p, FILE *f, bool json);

/*
 * JSON: an array, written with a newline when it ends; text: nothing.
 * The ends return 0, or -errno when the JSON could not be built or
 * written (then nothing of it is written).
 */
void vdk_pr_list_begin(struct vdk_pr *p);
int vdk_pr_list_end(struct vdk_pr *p);
/*
 * One record.  JSON: an object; text: a line.  An outermost record is
 * written when it ends, with @top followed by a newline.
 */
void vdk_pr_rec_begin(struct vdk_pr *p);
int vdk_pr_rec_end(struct vdk_pr *p, bool top);
/* A nested JSON object under @key (JSON only; text prints nothing). */
void vdk_pr_obj_begin(struct vdk_pr *p, const char *key);
void vdk_pr_obj_end(struct vdk_pr *p);

/* A JSON array under @key (JSON only), of records or values. */
void vdk_pr_arr_begin(struct vdk_pr *p, const char *key);
void vdk_pr_arr_end(struct vdk_pr *p);

/*
 * Fields.  In text, a column of @width characters (left-aligned, padded,
 * followed by a space unless @width is 0).  A NULL string prints "-" in
 * text and null in JSON.
 */
void vdk_pr_str(struct vdk_pr *p, enum vdk_pr_kind k, const char *key,
		int width, const char *val);
void vdk_pr_u64(struct vdk_pr *p, enum vdk_pr_kind k, const char *key,
		int width, uint64_t val);
void vdk_pr_bool(struct vdk_pr *p, enum vdk_pr_kind k, const char *key,
		 int width, bool val);
/* Bytes: a number in JSON, "512M" or "1.5G" in text. */
void vdk_pr_size(struct vdk_pr *p, enum vdk_pr_kind k, const char *key,
		 int width, uint64_t bytes);

/* Human-readable size into @buf: "0", "512", "4K", "1.5G". */
void vdk_fmt_size(char *buf, size_t len, uint64_t bytes);

#endif /* VDK_PRINT_H */
