/* SPDX-License-Identifier: MIT */
/*
 * key=value parameters.  Parsing is strict on purpose: a typo in a storage
 * parameter should stop `vdk add`, not serve the wrong disk.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "params.h"

/* Longest piece of user input quoted back in a message. */
#define SHOW_MAX 64

void vdk__errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

void vdk__blog(const struct vdk_backend_log *log, int level,
	       const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (!log || !log->fn || level > log->level)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log->fn(log->opaque, level, msg);
}

static bool is_ctl(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

/*
 * User input made fit for a one-line message: control characters become
 * '?', and long input is cut (paths may be long; the message must stay one
 * readable line).
 */
static const char *show(const char *s, size_t len, char buf[SHOW_MAX + 4])
{
	size_t i, n = len > SHOW_MAX ? SHOW_MAX : len;

	for (i = 0; i < n; i++)
		buf[i] = is_ctl((unsigned char)s[i]) ? '?' : s[i];
	if (n < len) {
		memcpy(buf + n, "...", 3);
		n += 3;
	}
	buf[n] = '\0';
	return buf;
}

static bool is_key_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
	       c == '_';
}

static struct vdk_param *find(const struct vdk_params *ps, const char *key,
			      size_t keylen)
{
	unsigned int i;

	for (i = 0; i < ps->n; i++) {
		const struct vdk_param *p = &ps->p[i];

		if (strlen(p->key) == keylen && !memcmp(p->key, key, keylen))
			return (struct vdk_param *)p;
	}
	return NULL;
}

/* Check one word; on success *eq points at its '='. */
static int check_word(const struct vdk_params *ps, const char *w,
		      const char **eq, char *err, size_t errlen)
{
	char sb[SHOW_MAX + 4];
	const char *v;
	size_t keylen;

	*eq = strchr(w, '=');
	if (!*eq) {
		vdk__errf(err, errlen, "bad parameter '%s': expected key=value",
			  show(w, strlen(w), sb));
		return -EINVAL;
	}
	keylen = *eq - w;
	if (!keylen) {
		vdk__errf(err, errlen, "bad parameter '%s': empty key",
			  show(w, strlen(w), sb));
		return -EINVAL;
	}
	for (v = w; v < *eq; v++) {
		if (!is_key_char(*v)) {
			vdk__errf(err, errlen,
				  "bad parameter name '%s': use a-z, 0-9, '-' and '_'",
				  show(w, keylen, sb));
			return -EINVAL;
		}
	}
	/* Values are free text (paths), but nothing that breaks a line. */
	for (v = *eq + 1; *v; v++) {
		if (is_ctl((unsigned char)*v)) {
			vdk__errf(err, errlen,
				  "bad value for '%s': control characters are not allowed",
				  show(w, keylen, sb));
			return -EINVAL;
		}
	}
	if (find(ps, w, keylen)) {
		vdk__errf(err, errlen, "parameter '%s' given twice",
			  show(w, keylen, sb));
		return -EINVAL;
	}
	if (ps->n == VDK_PARAMS_MAX) {
		vdk__errf(err, errlen, "too many parameters (at most %d)",
			  VDK_PARAMS_MAX);
		return -EINVAL;
	}
	return 0;
}

int vdk_params_parse(struct vdk_params *ps, int argc, char *const *argv,
		     char *err, size_t errlen)
{
	const char *eq;
	int i, ret;

	memset(ps, 0, sizeof(*ps));
	if (argc < 0 || (argc && !argv)) {
		vdk__errf(err, errlen, "bad parameter list");
		return -EINVAL;
	}
	for (i = 0; i < argc; i++) {
		struct vdk_param *p = &ps->p[ps->n];

		if (!argv[i]) {
			vdk__errf(err, errlen, "bad parameter list");
			ret = -EINVAL;
			goto err_free;
		}
		ret = check_word(ps, argv[i], &eq, err, errlen);
		if (ret)
			goto err_free;
		p->key = strndup(argv[i], eq - argv[i]);
		p->value = strdup(eq + 1);
		p->used = false;
		/* Counted at once, so that vdk_params_free() frees both. */
		ps->n++;
		if (!p->key || !p->value) {
			vdk__errf(err, errlen, "out of memory");
			ret = -ENOMEM;
			goto err_free;
		}
	}
	return 0;

err_free:
	vdk_params_free(ps);
	return ret;
}

void vdk_params_free(struct vdk_params *ps)
{
	unsigned int i;

	if (!ps)
		return;
	for (i = 0; i < ps->n; i++) {
		free(ps->p[i].key);
		free(ps->p[i].value);
		ps->p[i].key = NULL;
		ps->p[i].value = NULL;
	}
	ps->n = 0;
}

const char *vdk_params_get(struct vdk_params *ps, const char *key)
{
	struct vdk_param *p;

	if (!ps || !key)
		return NULL;
	p = find(ps, key, strlen(key));
	if (!p)
		return NULL;
	p->used = true;
	return p->value;
}

static const char *skip_digits(const char *s)
{
	while (*s >= '0' && *s <= '9')
		s++;
	return s;
}

/*
 * The leading decimal digits of @s, which the caller checked are there.
 * Not strtoull(): it would also take spaces, a sign (wrapping "-1"
 * around), hexadecimal and octal.  -ERANGE past UINT64_MAX.
 */
static int parse_digits(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	for (; *s >= '0' && *s <= '9'; s++) {
		unsigned int d = *s - '0';

		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

int vdk_parse_size(const char *s, uint64_t *out)
{
	const char *end;
	unsigned int shift;
	uint64_t v;

	if (!s)
		return -EINVAL;
	end = skip_digits(s);
	if (end == s)
		return -EINVAL;
	switch (*end) {
	case '\0':
		shift = 0;
		break;
	case 'K': case 'k':
		shift = 10;
		break;
	case 'M': case 'm':
		shift = 20;
		break;
	case 'G': case 'g':
		shift = 30;
		break;
	case 'T': case 't':
		shift = 40;
		break;
	default:
		return -EINVAL;
	}
	if (shift && end[1] != '\0')
		return -EINVAL;
	if (parse_digits(s, &v) || v > UINT64_MAX >> shift)
		return -ERANGE;
	*out = v << shift;
	return 0;
}

int vdk_params_get_size(struct vdk_params *ps, const char *key, uint64_t *out,
			char *err, size_t errlen)
{
	const char *v = vdk_params_get(ps, key);
	char sb[SHOW_MAX + 4];
	uint64_t n;
	int ret;

	if (!v)
		return -ENOENT;
	ret = vdk_parse_size(v, &n);
	if (ret == -ERANGE) {
		vdk__errf(err, errlen,
			  "bad value '%s' for %s: too large (at most 16 EiB - 1)",
			  show(v, strlen(v), sb), key);
		return -EINVAL;
	}
	if (ret) {
		vdk__errf(err, errlen,
			  "bad value '%s' for %s: expected a number with an optional K, M, G or T suffix",
			  show(v, strlen(v), sb), key);
		return -EINVAL;
	}
	*out = n;
	return 0;
}

int vdk_params_get_bool(struct vdk_params *ps, const char *key, bool *out,
			char *err, size_t errlen)
{
	static const char *const words[][2] = {
		{ "on", "off" },
		{ "yes", "no" },
		{ "true", "false" },
		{ "1", "0" },
	};
	const char *v = vdk_params_get(ps, key);
	char sb[SHOW_MAX + 4];
	size_t i;

	if (!v)
		return -ENOENT;
	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		if (!strcmp(v, words[i][0]) || !strcmp(v, words[i][1])) {
			*out = !strcmp(v, words[i][0]);
			return 0;
		}
	}
	vdk__errf(err, errlen,
		  "bad value '%s' for %s: expected on/off, yes/no, true/false or 1/0",
		  show(v, strlen(v), sb), key);
	return -EINVAL;
}

int vdk_params_get_uint(struct vdk_params *ps, const char *key, uint64_t min,
			uint64_t max, uint64_t *out, char *err, size_t errlen)
{
	const char *v = vdk_params_get(ps, key);
	char sb[SHOW_MAX + 4];
	const char *end;
	uint64_t n;

	if (!v)
		return -ENOENT;
	end = skip_digits(v);
	if (end == v || *end) {
		vdk__errf(err, errlen,
			  "bad value '%s' for %s: expected a whole number from %llu to %llu",
			  show(v, strlen(v), sb), key, (unsigned long long)min,
			  (unsigned long long)max);
		return -EINVAL;
	}
	if (parse_digits(v, &n) || n < min || n > max) {
		vdk__errf(err, errlen,
			  "bad value '%s' for %s: out of range (%llu to %llu)",
			  show(v, strlen(v), sb), key, (unsigned long long)min,
			  (unsigned long long)max);
		return -EINVAL;
	}
	*out = n;
	return 0;
}

int vdk_params_dup(struct vdk_params *ps, const char *key, char **out,
		   char *err, size_t errlen)
{
	const char *v = vdk_params_get(ps, key);

	if (!v)
		return 0;
	if (!*v) {
		vdk__errf(err, errlen, "%s= must not be empty", key);
		return -EINVAL;
	}
	*out = strdup(v);
	if (!*out) {
		vdk__errf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	return 0;
}

int vdk_params_check_unused(const struct vdk_params *ps, char *err,
			    size_t errlen)
{
	char sb[SHOW_MAX + 4];
	unsigned int i;

	for (i = 0; ps && i < ps->n; i++) {
		if (!ps->p[i].used) {
			vdk__errf(err, errlen, "unknown parameter '%s'",
				  show(ps->p[i].key, strlen(ps->p[i].key), sb));
			return -EINVAL;
		}
	}
	return 0;
}
