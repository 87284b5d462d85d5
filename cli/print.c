// SPDX-License-Identifier: MIT
/*
 * Text and JSON output through one set of calls.
 */
#include <inttypes.h>
#include <string.h>

#include "print.h"

void vdk_pr_init(struct vdk_pr *p, FILE *f, bool json)
{
	memset(p, 0, sizeof(*p));
	p->f = f;
	p->json = json;
	vdk_jw_init(&p->jw, f);
}

void vdk_pr_list_begin(struct vdk_pr *p)
{
	if (p->json)
		vdk_jw_arr_begin(&p->jw);
}

void vdk_pr_list_end(struct vdk_pr *p)
{
	if (p->json) {
		vdk_jw_arr_end(&p->jw);
		fputc('\n', p->f);
	}
}

void vdk_pr_rec_begin(struct vdk_pr *p)
{
	if (p->json)
		vdk_jw_obj_begin(&p->jw);
	p->line_started = false;
}

void vdk_pr_rec_end(struct vdk_pr *p, bool top)
{
	if (p->json) {
		vdk_jw_obj_end(&p->jw);
		if (top)
			fputc('\n', p->f);
		return;
	}
	fputc('\n', p->f);
}

void vdk_pr_obj_begin(struct vdk_pr *p, const char *key)
{
	if (!p->json)
		return;
	vdk_jw_key(&p->jw, key);
	vdk_jw_obj_begin(&p->jw);
}

void vdk_pr_obj_end(struct vdk_pr *p)
{
	if (p->json)
		vdk_jw_obj_end(&p->jw);
}

void vdk_pr_arr_begin(struct vdk_pr *p, const char *key)
{
	if (!p->json)
		return;
	vdk_jw_key(&p->jw, key);
	vdk_jw_arr_begin(&p->jw);
}

void vdk_pr_arr_end(struct vdk_pr *p)
{
	if (p->json)
		vdk_jw_arr_end(&p->jw);
}

static bool pr_text(const struct vdk_pr *p, enum vdk_pr_kind k)
{
	return !p->json && k != VDK_PR_JSON;
}

static bool pr_json(const struct vdk_pr *p, enum vdk_pr_kind k)
{
	return p->json && k != VDK_PR_TEXT;
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
		vdk_jw_key(&p->jw, key);
		vdk_jw_str(&p->jw, val);
	} else if (pr_text(p, k)) {
		pr_column(p, width, val ? val : "-");
	}
}

void vdk_pr_u64(struct vdk_pr *p, enum vdk_pr_kind k, const char *key,
		int width, uint64_t val)
{
	char buf[24];

	if (pr_json(p, k)) {
		vdk_jw_key(&p->jw, key);
		vdk_jw_u64(&p->jw, val);
	} else if (pr_text(p, k)) {
		snprintf(buf, sizeof(buf), "%" PRIu64, val);
		pr_column(p, width, buf);
	}
}

void vdk_pr_bool(struct vdk_pr *p, enum vdk_pr_kind k, const char *key,
		 int width, bool val)
{
	if (pr_json(p, k)) {
		vdk_jw_key(&p->jw, key);
		vdk_jw_bool(&p->jw, val);
	} else if (pr_text(p, k)) {
		pr_column(p, width, val ? "yes" : "no");
	}
}

void vdk_pr_size(struct vdk_pr *p, enum vdk_pr_kind k, const char *key,
		 int width, uint64_t bytes)
{
	char buf[32];

	if (pr_json(p, k)) {
		vdk_jw_key(&p->jw, key);
		vdk_jw_u64(&p->jw, bytes);
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
