// SPDX-License-Identifier: MIT
/*
 * Text and JSON output through one set of calls.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "json-util.h"
#include "print.h"

void vdk_pr_init(struct vdk_pr *p, FILE *f, bool json)
{
	memset(p, 0, sizeof(*p));
	p->f = f;
	p->json = json;
}

/* The first failure is kept (0: none). */
static void pr_fail(struct vdk_pr *p, int err)
{
	if (!p->err)
		p->err = err;
}

/* The innermost open container, NULL if none or lost. */
static struct json_object *pr_top(const struct vdk_pr *p)
{
	if (p->depth == 0 || p->depth > VDK_PR_DEPTH)
		return NULL;
	return p->open[p->depth - 1];
}

/* Open container @o (NULL: could not be made) under @key. */
static void pr_open(struct vdk_pr *p, const char *key, struct json_object *o)
{
	struct json_object *parent = pr_top(p);

	if (!o)
		pr_fail(p, -ENOMEM);
	else if (p->depth >= VDK_PR_DEPTH)
		pr_fail(p, -E2BIG);
	if (o && parent && vdk_json_add(parent, key, json_object_get(o)))
		pr_fail(p, -ENOMEM);
	if (p->depth < VDK_PR_DEPTH)
		p->open[p->depth] = o;
	else
		json_object_put(o);
	p->depth++;
}

/*
 * Close the innermost container; the outermost one is written, and
 * followed by a newline with @nl.
 */
static int pr_close(struct vdk_pr *p, bool nl)
{
	struct json_object *o = pr_top(p);
	int ret;

	if (p->depth == 0)
		return p->err;
	p->depth--;
	if (p->depth == 0 && o && !p->err) {
		ret = vdk_json_print(p->f, o);
		if (!ret && nl && fputc('\n', p->f) == EOF)
			ret = -EIO;
		if (ret)
			pr_fail(p, ret);
	}
	json_object_put(o);
	if (p->depth < VDK_PR_DEPTH)
		p->open[p->depth] = NULL;
	return p->depth == 0 ? p->err : 0;
}

void vdk_pr_list_begin(struct vdk_pr *p)
{
	if (p->json)
		pr_open(p, NULL, json_object_new_array());
}

int vdk_pr_list_end(struct vdk_pr *p)
{
	return p->json ? pr_close(p, true) : 0;
}

void vdk_pr_rec_begin(struct vdk_pr *p)
{
	if (p->json)
		pr_open(p, NULL, json_object_new_object());
	p->line_started = false;
}

int vdk_pr_rec_end(struct vdk_pr *p, bool top)
{
	if (p->json)
		return pr_close(p, top);
	fputc('\n', p->f);
	return 0;
}

void vdk_pr_obj_begin(struct vdk_pr *p, const char *key)
{
	if (p->json)
		pr_open(p, key, json_object_new_object());
}

void vdk_pr_obj_end(struct vdk_pr *p)
{
	if (p->json)
		pr_close(p, false);
}

void vdk_pr_arr_begin(struct vdk_pr *p, const char *key)
{
	if (p->json)
		pr_open(p, key, json_object_new_array());
}

void vdk_pr_arr_end(struct vdk_pr *p)
{
	if (p->json)
		pr_close(p, false);
}

static bool pr_text(const struct vdk_pr *p, enum vdk_pr_kind k)
{
	return !p->json && k != VDK_PR_JSON;
}

/* JSON, and a container to put the field in (not when it was lost). */
static bool pr_json(const struct vdk_pr *p, enum vdk_pr_kind k)
{
	return p->json && k != VDK_PR_TEXT && pr_top(p);
}

static void pr_column(struct vdk_pr *p, int width, const char *s)
{
	if (width > 0)
		fprintf(p->f, "%-*s ", width, s);
	else
		fputs(s, p->f);
	p->line_started = true;
}

void vdk_pr_str(struct vdk_pr *p, enum vdk_pr_kind k, const char *key,
		int width, const char *val)
{
	if (pr_json(p, k)) {
		pr_fail(p, vdk_json_add_str(pr_top(p), key, val));
	} else if (pr_text(p, k)) {
		pr_column(p, width, val ? val : "-");
	}
}

void vdk_pr_u64(struct vdk_pr *p, enum vdk_pr_kind k, const char *key,
		int width, uint64_t val)
{
	char buf[24];

	if (pr_json(p, k)) {
		pr_fail(p, vdk_json_add_u64(pr_top(p), key, val));
	} else if (pr_text(p, k)) {
		snprintf(buf, sizeof(buf), "%" PRIu64, val);
		pr_column(p, width, buf);
	}
}

void vdk_pr_bool(struct vdk_pr *p, enum vdk_pr_kind k, const char *key,
		 int width, bool val)
{
	if (pr_json(p, k)) {
		pr_fail(p, vdk_json_add_bool(pr_top(p), key, val));
	} else if (pr_text(p, k)) {
		pr_column(p, width, val ? "yes" : "no");
	}
}

void vdk_pr_size(struct vdk_pr *p, enum vdk_pr_kind k, const char *key,
		 int width, uint64_t bytes)
{
	char buf[32];

	if (pr_json(p, k)) {
		pr_fail(p, vdk_json_add_u64(pr_top(p), key, bytes));
	} else if (pr_text(p, k)) {
		vdk_fmt_size(buf, sizeof(buf), bytes);
		pr_column(p, width, buf);
	}
}

void vdk_fmt_size(char *buf, size_t len, uint64_t bytes)
{
	static const char units[] = "KMGTPE";
	uint64_t unit = 1024;
	int i = -1;

	while (i < 5 && bytes >= unit) {
		i++;
		if (i == 5 || bytes / 1024 < unit)
			break;
		unit *= 1024;
	}
	if (i < 0) {
		snprintf(buf, len, "%" PRIu64, bytes);
		return;
	}
	if (bytes % unit == 0)
		snprintf(buf, len, "%" PRIu64 "%c", bytes / unit, units[i]);
	else
		snprintf(buf, len, "%.1f%c", (double)bytes / unit, units[i]);
}
