// SPDX-License-Identifier: MIT
/*
 * JSON writer and pull reader.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "json.h"

/* Length of the valid UTF-8 sequence at @s (1..4), or 0 if invalid. */
static size_t utf8_len(const unsigned char *s)
{
	unsigned char c = s[0];
	size_t n, i;
	uint32_t cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;  /* also stops at the NUL */
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	/* Overlong forms, surrogates, beyond U+10FFFF. */
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return n;
}

void vdk_json_put_str(FILE *f, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;

	fputc('"', f);
	while (*s) {
		size_t n;

		switch (*s) {
		case '"':
			fputs("\\\"", f);
			break;
		case '\\':
			fputs("\\\\", f);
			break;
		case '\b':
			fputs("\\b", f);
			break;
		case '\f':
			fputs("\\f", f);
			break;
		case '\n':
			fputs("\\n", f);
			break;
		case '\r':
			fputs("\\r", f);
			break;
		case '\t':
			fputs("\\t", f);
			break;
		default:
			if (*s < 0x20 || *s == 0x7f) {
				fprintf(f, "\\u%04x", *s);
				break;
			}
			n = utf8_len(s);
			if (n == 0) {
				fputs("\\ufffd", f);
				break;
			}
			fwrite(s, 1, n, f);
			s += n;
			continue;
		}
		s++;
	}
	fputc('"', f);
}

void vdk_jw_init(struct vdk_jw *w, FILE *f)
{
	memset(w, 0, sizeof(*w));
	w->f = f;
	w->first[0] = true;
}

/* Separator before a value (or a key). */
static void jw_sep(struct vdk_jw *w)
{
	if (w->after_key) {
		w->after_key = false;
		return;
	}
	if (!w->first[w->depth])
		fputc(',', w->f);
	w->first[w->depth] = false;
}

static void jw_open(struct vdk_jw *w, char c)
{
	jw_sep(w);
	fputc(c, w->f);
	if (w->depth < VDK_JSON_DEPTH - 1)
		w->depth++;
	w->first[w->depth] = true;
}

static void jw_close(struct vdk_jw *w, char c)
{
	fputc(c, w->f);
	if (w->depth > 0)
		w->depth--;
}

void vdk_jw_obj_begin(struct vdk_jw *w)
{
	jw_open(w, '{');
}

void vdk_jw_obj_end(struct vdk_jw *w)
{
	jw_close(w, '}');
}

void vdk_jw_arr_begin(struct vdk_jw *w)
{
	jw_open(w, '[');
}

void vdk_jw_arr_end(struct vdk_jw *w)
{
	jw_close(w, ']');
}

void vdk_jw_key(struct vdk_jw *w, const char *key)
{
	jw_sep(w);
	vdk_json_put_str(w->f, key);
	fputc(':', w->f);
	w->after_key = true;
}

void vdk_jw_str(struct vdk_jw *w, const char *s)
{
	if (!s) {
		vdk_jw_null(w);
		return;
	}
	jw_sep(w);
	vdk_json_put_str(w->f, s);
}

void vdk_jw_u64(struct vdk_jw *w, uint64_t v)
{
	jw_sep(w);
	fprintf(w->f, "%" PRIu64, v);
}

void vdk_jw_i64(struct vdk_jw *w, int64_t v)
{
	jw_sep(w);
	fprintf(w->f, "%" PRId64, v);
}

void vdk_jw_bool(struct vdk_jw *w, bool v)
{
	jw_sep(w);
	fputs(v ? "true" : "false", w->f);
}

void vdk_jw_null(struct vdk_jw *w)
{
	jw_sep(w);
	fputs("null", w->f);
}

/* Reader. */

void vdk_jr_init(struct vdk_jr *r, const char *buf, size_t len)
{
	memset(r, 0, sizeof(*r));
	r->p = buf;
	r->end = buf + len;
}

static int jr_fail(struct vdk_jr *r, int err)
{
	if (!r->err)
		r->err = err;
	return r->err;
}

static void jr_ws(struct vdk_jr *r)
{
	while (r->p < r->end &&
	       (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' ||
		*r->p == '\r'))
		r->p++;
}

/* Next non-blank character, not consumed; 0 at the end. */
static char jr_peek(struct vdk_jr *r)
{
	jr_ws(r);
	return r->p < r->end ? *r->p : 0;
}

static bool jr_lit(struct vdk_jr *r, const char *lit)
{
	size_t n = strlen(lit);

	if ((size_t)(r->end - r->p) < n || memcmp(r->p, lit, n))
		return false;
	r->p += n;
	return true;
}

static int jr_hex4(struct vdk_jr *r, uint32_t *out)
{
	uint32_t v = 0;
	int i;

	if (r->end - r->p < 4)
		return -EINVAL;
	for (i = 0; i < 4; i++) {
		char c = *r->p++;

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if (c >= 'a' && c <= 'f')
			v |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v |= c - 'A' + 10;
		else
			return -EINVAL;
	}
	*out = v;
	return 0;
}

/* Append code point @cp as UTF-8; buf == NULL only measures. */
static int jr_put_cp(char *buf, size_t len, size_t *pos, uint32_t cp)
{
	char tmp[4];
	size_t n, i;

	if (cp < 0x80) {
		tmp[0] = cp;
		n = 1;
	} else if (cp < 0x800) {
		tmp[0] = 0xc0 | (cp >> 6);
		tmp[1] = 0x80 | (cp & 0x3f);
		n = 2;
	} else if (cp < 0x10000) {
		tmp[0] = 0xe0 | (cp >> 12);
		tmp[1] = 0x80 | ((cp >> 6) & 0x3f);
		tmp[2] = 0x80 | (cp & 0x3f);
		n = 3;
	} else {
		tmp[0] = 0xf0 | (cp >> 18);
		tmp[1] = 0x80 | ((cp >> 12) & 0x3f);
		tmp[2] = 0x80 | ((cp >> 6) & 0x3f);
		tmp[3] = 0x80 | (cp & 0x3f);
		n = 4;
	}
	if (buf) {
		if (len - *pos <= n)  /* keep room for the NUL */
			return -ENAMETOOLONG;
		for (i = 0; i < n; i++)
			buf[*pos + i] = tmp[i];
	}
	*pos += n;
	return 0;
}

/* A string at the cursor; buf == NULL skips it. */
static int jr_string(struct vdk_jr *r, char *buf, size_t len)
{
	size_t pos = 0;
	int ret;

	if (r->err)
		return r->err;
	if (jr_peek(r) != '"')
		return jr_fail(r, -EINVAL);
	if (buf && len == 0)
		return jr_fail(r, -ENAMETOOLONG);
	r->p++;
	for (;;) {
		unsigned char c;
		uint32_t cp;

		if (r->p >= r->end)
			return jr_fail(r, -EINVAL);
		c = *r->p++;
		if (c == '"')
			break;
		if (c < 0x20)
			return jr_fail(r, -EINVAL);
		if (c != '\\') {
			/* Raw bytes (UTF-8 included) are copied as they are. */
			if (buf) {
				if (len - pos <= 1)
					return jr_fail(r, -ENAMETOOLONG);
				buf[pos] = c;
			}
			pos++;
			continue;
		}
		if (r->p >= r->end)
			return jr_fail(r, -EINVAL);
		c = *r->p++;
		switch (c) {
		case '"':
		case '\\':
		case '/':
			cp = c;
			break;
		case 'b':
			cp = '\b';
			break;
		case 'f':
			cp = '\f';
			break;
		case 'n':
			cp = '\n';
			break;
		case 'r':
			cp = '\r';
			break;
		case 't':
			cp = '\t';
			break;
		case 'u':
			if (jr_hex4(r, &cp))
				return jr_fail(r, -EINVAL);
			if (cp >= 0xdc00 && cp <= 0xdfff)
				return jr_fail(r, -EINVAL);
			if (cp >= 0xd800 && cp <= 0xdbff) {
				uint32_t lo;

				if (!jr_lit(r, "\\u") || jr_hex4(r, &lo) ||
				    lo < 0xdc00 || lo > 0xdfff)
					return jr_fail(r, -EINVAL);
				cp = 0x10000 + ((cp - 0xd800) << 10) +
				     (lo - 0xdc00);
			}
			/* A NUL would cut the string short. */
			if (cp == 0)
				return jr_fail(r, -EINVAL);
			break;
		default:
			return jr_fail(r, -EINVAL);
		}
		ret = jr_put_cp(buf, len, &pos, cp);
		if (ret)
			return jr_fail(r, ret);
	}
	if (buf)
		buf[pos] = '\0';
	return 0;
}

int vdk_jr_obj_begin(struct vdk_jr *r)
{
	if (r->err)
		return r->err;
	if (jr_peek(r) != '{' || r->depth >= VDK_JSON_DEPTH - 1)
		return jr_fail(r, -EINVAL);
	r->p++;
	r->first[++r->depth] = true;
	return 0;
}

int vdk_jr_obj_next(struct vdk_jr *r, char *key, size_t keylen)
{
	char c;

	if (r->err)
		return r->err;
	if (r->depth == 0)
		return jr_fail(r, -EINVAL);
	c = jr_peek(r);
	if (c == '}') {
		r->p++;
		r->depth--;
		return 0;
	}
	if (!r->first[r->depth]) {
		if (c != ',')
			return jr_fail(r, -EINVAL);
		r->p++;
	}
	r->first[r->depth] = false;
	if (jr_string(r, key, keylen))
		return r->err;
	if (jr_peek(r) != ':')
		return jr_fail(r, -EINVAL);
	r->p++;
	return 1;
}

int vdk_jr_str(struct vdk_jr *r, char *buf, size_t len)
{
	return jr_string(r, buf, len);
}

int vdk_jr_u64(struct vdk_jr *r, uint64_t *v)
{
	uint64_t n = 0;
	const char *start;

	if (r->err)
		return r->err;
	jr_ws(r);
	start = r->p;
	while (r->p < r->end && *r->p >= '0' && *r->p <= '9') {
		unsigned int d = *r->p - '0';

		if (n > (UINT64_MAX - d) / 10)
			return jr_fail(r, -ERANGE);
		n = n * 10 + d;
		r->p++;
	}
	/* No digits, a leading zero, or a fraction or exponent. */
	if (r->p == start || (*start == '0' && r->p - start > 1) ||
	    (r->p < r->end && strchr(".eE", *r->p)))
		return jr_fail(r, -EINVAL);
	*v = n;
	return 0;
}

int vdk_jr_bool(struct vdk_jr *r, bool *v)
{
	if (r->err)
		return r->err;
	jr_ws(r);
	if (jr_lit(r, "true"))
		*v = true;
	else if (jr_lit(r, "false"))
		*v = false;
	else
		return jr_fail(r, -EINVAL);
	return 0;
}

static int jr_skip_number(struct vdk_jr *r)
{
	const char *start;

	if (r->p < r->end && *r->p == '-')
		r->p++;
	start = r->p;
	while (r->p < r->end && ((*r->p >= '0' && *r->p <= '9') ||
				 strchr(".eE+-", *r->p)))
		r->p++;
	if (r->p == start)
		return jr_fail(r, -EINVAL);
	return 0;
}

int vdk_jr_skip(struct vdk_jr *r)
{
	char c;
	int ret;

	if (r->err)
		return r->err;
	c = jr_peek(r);
	switch (c) {
	case '"':
		return jr_string(r, NULL, 0);
	case '{':
		if (vdk_jr_obj_begin(r))
			return r->err;
		while ((ret = vdk_jr_obj_next(r, NULL, 0)) == 1)
			if (vdk_jr_skip(r))
				return r->err;
		return ret;
	case '[':
		if (r->depth >= VDK_JSON_DEPTH - 1)
			return jr_fail(r, -EINVAL);
		r->p++;
		if (jr_peek(r) == ']') {
			r->p++;
			return 0;
		}
		r->depth++;
		for (;;) {
			if (vdk_jr_skip(r))
				return r->err;
			c = jr_peek(r);
			r->p++;
			if (c == ']')
				break;
			if (c != ',')
				return jr_fail(r, -EINVAL);
		}
		r->depth--;
		return 0;
	case 't':
	case 'f':
		if (jr_lit(r, "true") || jr_lit(r, "false"))
			return 0;
		return jr_fail(r, -EINVAL);
	case 'n':
		if (jr_lit(r, "null"))
			return 0;
		return jr_fail(r, -EINVAL);
	default:
		return jr_skip_number(r);
	}
}

int vdk_jr_end(struct vdk_jr *r)
{
	if (r->err)
		return r->err;
	if (r->depth != 0 || jr_peek(r) != 0)
		return jr_fail(r, -EINVAL);
	return 0;
}
