/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: key=value parameters (backends/params.c).
 *
 * The input is split into words at spaces, newlines and NULs, and parsed
 * as the command line would be.  Checked on every input:
 *   - a parse succeeds exactly when every word is key=value with a key of
 *     [a-z0-9_-]+, no key twice, no control character in a value and at
 *     most VDK_PARAMS_MAX words; what it keeps is what was given;
 *   - a failed parse leaves nothing behind (n == 0);
 *   - every message is one non-empty line;
 *   - vdk_parse_size() agrees with a slow reference, and the getters
 *     with vdk_parse_size() and with each other;
 *   - after every key was read, nothing is reported unused;
 *   - the null backend, and the ram one when small, open and close
 *     cleanly on whatever parsed.
 * Nothing may leak (LeakSanitizer runs with libFuzzer).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "params.h"

#define MAX_WORDS (VDK_PARAMS_MAX + 4)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                          \
	do {                                                                 \
		if (!(cond)) {                                               \
			fprintf(stderr, "%s:%d: check failed: %s\n",         \
				__FILE__, __LINE__, #cond);                  \
			abort();                                             \
		}                                                            \
	} while (0)

static void check_msg(const char *err)
{
	CHECK(err[0] != '\0');
	CHECK(!strchr(err, '\n'));
}

static bool is_key_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
	       c == '_';
}

/* Would this word list parse?  The rules, written the simple way. */
static bool words_valid(char *const *w, int n)
{
	int i, j;

	if (n > VDK_PARAMS_MAX)
		return false;
	for (i = 0; i < n; i++) {
		const char *eq = strchr(w[i], '='), *c;

		if (!eq || eq == w[i])
			return false;
		for (c = w[i]; c < eq; c++)
			if (!is_key_char(*c))
				return false;
		for (c = eq + 1; *c; c++)
			if ((unsigned char)*c < 0x20 || *c == 0x7f)
				return false;
		for (j = 0; j < i; j++) {
			size_t kl = eq - w[i];

			if (!strncmp(w[j], w[i], kl) && w[j][kl] == '=')
				return false;
		}
	}
	return true;
}

/* vdk_parse_size() the slow way: 0, -EINVAL or -ERANGE. */
static int ref_size(const char *s, uint64_t *out)
{
	static const char suffix[] = "KkMmGgTt";
	unsigned int shift = 0;
	const char *p;
	uint64_t v = 0;
	bool range = false;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	for (p = s; *p >= '0' && *p <= '9'; p++) {
		if (__builtin_mul_overflow(v, 10, &v) ||
		    __builtin_add_overflow(v, (uint64_t)(*p - '0'), &v))
			range = true;
	}
	if (*p) {
		const char *k = strchr(suffix, *p);

		if (!k || p[1])
			return -EINVAL;
		shift = 10 * (1 + (k - suffix) / 2);
	}
	if (range || (shift && v > UINT64_MAX >> shift))
		return -ERANGE;
	*out = v << shift;
	return 0;
}

static bool all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

static void check_getters(struct vdk_params *ps, const char *key)
{
	char err[VDK_BACKEND_ERR_MAX];
	uint64_t sz = 0, sz2 = 0, u = 0;
	const char *v;
	int r1, r2, r3, ref;
	bool b;

	err[0] = '\0';
	v = vdk_params_get(ps, key);
	r1 = vdk_params_get_size(ps, key, &sz, err, sizeof(err));
	if (!v) {
		CHECK(r1 == -ENOENT);
		return;
	}
	ref = ref_size(v, &sz2);
	CHECK(r1 == (ref ? -EINVAL : 0));
	CHECK(vdk_parse_size(v, &u) == ref);
	if (!ref)
		CHECK(sz == sz2 && u == sz2);
	else
		check_msg(err);

	/* A plain number is a size and an integer, equal. */
	err[0] = '\0';
	r2 = vdk_params_get_uint(ps, key, 0, UINT64_MAX, &u, err, sizeof(err));
	if (all_digits(v)) {
		CHECK(r2 == r1);
		if (!r2)
			CHECK(u == sz);
	} else {
		CHECK(r2 == -EINVAL);
	}
	if (r2)
		check_msg(err);
	err[0] = '\0';
	r3 = vdk_params_get_uint(ps, key, 1, 64, &u, err, sizeof(err));
	CHECK(r3 == (!r2 && u >= 1 && u <= 64 ? 0 : -EINVAL));
	if (r3)
		check_msg(err);

	err[0] = '\0';
	r1 = vdk_params_get_bool(ps, key, &b, err, sizeof(err));
	CHECK(r1 == 0 || r1 == -EINVAL);
	if (r1)
		check_msg(err);
}

/* Open and close a backend on the parsed list; both must be clean. */
static void try_backend(const struct vdk_backend_ops *ops,
			struct vdk_params *ps)
{
	char err[VDK_BACKEND_ERR_MAX];
	struct vdk_backend_info info;
	struct vdk_bdev *b = NULL;
	unsigned int i;
	int ret;

	for (i = 0; i < ps->n; i++)
		ps->p[i].used = false;
	err[0] = '\0';
	ret = ops->open(ps, &b, err, sizeof(err));
	if (ret) {
		CHECK(ret < 0);
		check_msg(err);
		return;
	}
	CHECK(!ops->info(b, &info));
	CHECK(info.size && info.size % info.block_size == 0);
	ops->close(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const keys[] = { "size", "block-size", "path",
					    "direct", "readonly", "zeroes" };
	char err[VDK_BACKEND_ERR_MAX];
	char *buf, *words[MAX_WORDS];
	struct vdk_params ps;
	uint64_t sz;
	int n = 0, ret;
	size_t i;

	buf = malloc(size + 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	/* Words end at spaces, newlines and NULs; empty ones count too. */
	words[n++] = buf;
	for (i = 0; i < size && n < MAX_WORDS; i++) {
		if (buf[i] == ' ' || buf[i] == '\n' || buf[i] == '\0') {
			buf[i] = '\0';
			words[n++] = buf + i + 1;
		}
	}
	for (i = 0; i < (size_t)n; i++) {
		/* Every word, also as a bare size. */
		uint64_t v1 = 1, v2 = 2;
		int r = vdk_parse_size(words[i], &v1);

		CHECK(r == ref_size(words[i], &v2));
		CHECK(r || v1 == v2);
	}

	err[0] = '\0';
	ret = vdk_params_parse(&ps, n, words, err, sizeof(err));
	CHECK(ret == (words_valid(words, n) ? 0 : -EINVAL));
	if (ret) {
		CHECK(ps.n == 0);
		check_msg(err);
		vdk_params_free(&ps);
		free(buf);
		return 0;
	}
	CHECK(ps.n == (unsigned int)n);
	for (i = 0; i < ps.n; i++) {
		size_t kl = strlen(ps.p[i].key);

		CHECK(!strncmp(words[i], ps.p[i].key, kl));
		CHECK(words[i][kl] == '=');
		CHECK(!strcmp(words[i] + kl + 1, ps.p[i].value));
		CHECK(!ps.p[i].used);
	}

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		check_getters(&ps, keys[i]);
	err[0] = '\0';
	ret = vdk_params_check_unused(&ps, err, sizeof(err));
	if (ret) {
		CHECK(ret == -EINVAL);
		CHECK(!strncmp(err, "unknown parameter '", 19));
	}
	for (i = 0; i < ps.n; i++)
		check_getters(&ps, ps.p[i].key);
	CHECK(vdk_params_check_unused(&ps, err, sizeof(err)) == 0);

	try_backend(&vdk_backend_null, &ps);
	/* ram maps its size: only small ones, to keep the fuzzer fast. */
	if (!vdk_params_get_size(&ps, "size", &sz, err, sizeof(err)) &&
	    sz <= (64u << 20))
		try_backend(&vdk_backend_ram, &ps);

	vdk_params_free(&ps);
	free(buf);
	return 0;
}
