/* SPDX-License-Identifier: MIT */
/* key=value parameters: parsing, typed getters, every message. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "params.h"
#include "test.h"

static char err[256];

/* Parse @words (NULL-terminated); 0 or -errno. */
static int parse(struct vdk_params *ps, const char *const *words)
{
	int n = 0;

	while (words[n])
		n++;
	err[0] = '\0';
	return vdk_params_parse(ps, n, (char *const *)words, err,
				sizeof(err));
}
#define PARSE(ps, ...) parse((ps), (const char *const[]){ __VA_ARGS__, NULL })

static void expect_err(int ret, const char *msg)
{
	if (ret != -EINVAL || strcmp(err, msg)) {
		fprintf(stderr, "got %d '%s', want -EINVAL '%s'\n", ret, err,
			msg);
		exit(T_EXIT_FAIL);
	}
}

/* A failed parse leaves nothing to free, and the list empty. */
static void expect_parse_err(const char *msg, const char *const *words)
{
	struct vdk_params ps;

	expect_err(parse(&ps, words), msg);
	CHECK_EQ(ps.n, 0);
	vdk_params_free(&ps);
}
#define PARSE_ERR(msg, ...) \
	expect_parse_err((msg), (const char *const[]){ __VA_ARGS__, NULL })

static void test_parse(void)
{
	char words[VDK_PARAMS_MAX + 1][16];
	char *argv[VDK_PARAMS_MAX + 1];
	struct vdk_params ps;
	int i;

	CHECK_EQ(PARSE(&ps, "path=/a b=c", "export=", "x_y-2=on"), 0);
	CHECK_EQ(ps.n, 3);
	CHECK(!strcmp(vdk_params_get(&ps, "path"), "/a b=c"));
	CHECK(!strcmp(vdk_params_get(&ps, "export"), ""));
	CHECK(!strcmp(vdk_params_get(&ps, "x_y-2"), "on"));
	CHECK(!vdk_params_get(&ps, "missing"));
	CHECK(!vdk_params_get(&ps, "pat"));
	CHECK(!vdk_params_get(NULL, "path"));
	CHECK(!vdk_params_get(&ps, NULL));
	vdk_params_free(&ps);
	CHECK_EQ(ps.n, 0);
	/* Twice is harmless. */
	vdk_params_free(&ps);
	vdk_params_free(NULL);

	CHECK_EQ(vdk_params_parse(&ps, 0, NULL, err, sizeof(err)), 0);
	CHECK_EQ(ps.n, 0);
	CHECK_EQ(vdk_params_check_unused(&ps, err, sizeof(err)), 0);

	PARSE_ERR("bad parameter 'direct': expected key=value", "direct");
	PARSE_ERR("bad parameter '=on': empty key", "a=1", "=on");
	PARSE_ERR("bad parameter '': expected key=value", "");
	PARSE_ERR("bad parameter name 'Path': use a-z, 0-9, '-' and '_'",
		  "Path=/x");
	PARSE_ERR("bad parameter name 'a.b': use a-z, 0-9, '-' and '_'",
		  "a.b=1");
	PARSE_ERR("bad parameter name 'a?b': use a-z, 0-9, '-' and '_'",
		  "a\nb=1");
	PARSE_ERR("bad value for 'path': control characters are not allowed",
		  "path=/x\ty");
	PARSE_ERR("bad value for 'path': control characters are not allowed",
		  "path=\x7f");
	PARSE_ERR("parameter 'size' given twice", "size=1", "x=2", "size=1");
	/* Long input is cut in the message. */
	PARSE_ERR("bad parameter '0123456789012345678901234567890123456789"
		  "012345678901234567890123...': expected key=value",
		  "0123456789012345678901234567890123456789"
		  "0123456789012345678901234567890123456789");

	expect_err(vdk_params_parse(&ps, -1, NULL, err, sizeof(err)),
		   "bad parameter list");
	expect_err(vdk_params_parse(&ps, 1, NULL, err, sizeof(err)),
		   "bad parameter list");
	expect_err(vdk_params_parse(&ps, 3, (char *[]){ "a=1", NULL, "b=2" },
				    err, sizeof(err)), "bad parameter list");
	CHECK_EQ(ps.n, 0);

	for (i = 0; i <= VDK_PARAMS_MAX; i++) {
		snprintf(words[i], sizeof(words[i]), "k%d=%d", i, i);
		argv[i] = words[i];
	}
	CHECK_EQ(vdk_params_parse(&ps, VDK_PARAMS_MAX, argv, err,
				  sizeof(err)), 0);
	CHECK_EQ(ps.n, VDK_PARAMS_MAX);
	CHECK(!strcmp(vdk_params_get(&ps, "k31"), "31"));
	vdk_params_free(&ps);
	expect_err(vdk_params_parse(&ps, VDK_PARAMS_MAX + 1, argv, err,
				    sizeof(err)),
		   "too many parameters (at most 32)");
	CHECK_EQ(ps.n, 0);

	/* Small or missing message buffers. */
	CHECK_EQ(vdk_params_parse(&ps, 1, (char *[]){ "x" }, err, 8),
		 -EINVAL);
	CHECK(!strcmp(err, "bad par"));
	CHECK_EQ(vdk_params_parse(&ps, 1, (char *[]){ "x" }, NULL, 0),
		 -EINVAL);
}

static void test_unused(void)
{
	struct vdk_params ps;

	CHECK_EQ(PARSE(&ps, "a=1", "b=2", "c=3"), 0);
	CHECK(vdk_params_get(&ps, "a"));
	expect_err(vdk_params_check_unused(&ps, err, sizeof(err)),
		   "unknown parameter 'b'");
	CHECK(vdk_params_get(&ps, "c"));
	expect_err(vdk_params_check_unused(&ps, err, sizeof(err)),
		   "unknown parameter 'b'");
	CHECK(vdk_params_get(&ps, "b"));
	CHECK_EQ(vdk_params_check_unused(&ps, err, sizeof(err)), 0);
	vdk_params_free(&ps);
	CHECK_EQ(vdk_params_check_unused(NULL, err, sizeof(err)), 0);
}

static void size_ok(const char *s, uint64_t want)
{
	uint64_t v = 1;

	if (vdk_parse_size(s, &v) || v != want) {
		fprintf(stderr, "size '%s': got %llu, want %llu\n", s,
			(unsigned long long)v, (unsigned long long)want);
		exit(T_EXIT_FAIL);
	}
}

static void size_bad(const char *s, int want)
{
	uint64_t v = 77;

	CHECK_EQ(vdk_parse_size(s, &v), want);
	CHECK_EQ(v, 77);
}

static void test_size(void)
{
	struct vdk_params ps;
	uint64_t v;

	size_ok("0", 0);
	size_ok("512", 512);
	size_ok("007", 7);
	size_ok("1K", 1024);
	size_ok("1k", 1024);
	size_ok("3M", 3 << 20);
	size_ok("2g", 2ull << 30);
	size_ok("5T", 5ull << 40);
	size_ok("16777215T", 16777215ull << 40);
	size_ok("17179869183G", 17179869183ull << 30);
	size_ok("18446744073709551615", UINT64_MAX);
	size_bad("16777216T", -ERANGE);
	size_bad("17179869184G", -ERANGE);
	size_bad("18446744073709551616", -ERANGE);
	size_bad("99999999999999999999999999K", -ERANGE);
	size_bad("", -EINVAL);
	size_bad("K", -EINVAL);
	size_bad("1KB", -EINVAL);
	size_bad("1KiB", -EINVAL);
	size_bad("1P", -EINVAL);
	size_bad("-1", -EINVAL);
	size_bad("+1", -EINVAL);
	size_bad(" 1", -EINVAL);
	size_bad("1 ", -EINVAL);
	size_bad("0x10", -EINVAL);
	size_bad("1.5G", -EINVAL);
	size_bad("99999999999999999999999x", -EINVAL);
	size_bad(NULL, -EINVAL);

	CHECK_EQ(PARSE(&ps, "size=4M", "bad=1.5G", "huge=16777216T"), 0);
	v = 9;
	CHECK_EQ(vdk_params_get_size(&ps, "absent", &v, err, sizeof(err)),
		 -ENOENT);
	CHECK_EQ(v, 9);
	CHECK_EQ(vdk_params_get_size(&ps, "size", &v, err, sizeof(err)), 0);
	CHECK_EQ(v, 4 << 20);
	expect_err(vdk_params_get_size(&ps, "bad", &v, err, sizeof(err)),
		   "bad value '1.5G' for bad: expected a number with an optional K, M, G or T suffix");
	expect_err(vdk_params_get_size(&ps, "huge", &v, err, sizeof(err)),
		   "bad value '16777216T' for huge: too large (at most 16 EiB - 1)");
	CHECK_EQ(v, 4 << 20);
	CHECK_EQ(vdk_params_check_unused(&ps, err, sizeof(err)), 0);
	vdk_params_free(&ps);
}

static void test_bool(void)
{
	static const char *const yes[] = { "on", "yes", "true", "1" };
	static const char *const no[] = { "off", "no", "false", "0" };
	static const char *const bad[] = { "ON", "2", "", "y", "onn",
					   "true " };
	struct vdk_params ps;
	char word[32], msg[160];
	unsigned int i;
	bool b;

	for (i = 0; i < 4; i++) {
		snprintf(word, sizeof(word), "d=%s", yes[i]);
		CHECK_EQ(PARSE(&ps, word, "e=off"), 0);
		b = false;
		CHECK_EQ(vdk_params_get_bool(&ps, "d", &b, err, sizeof(err)),
			 0);
		CHECK(b);
		vdk_params_free(&ps);
		snprintf(word, sizeof(word), "d=%s", no[i]);
		CHECK_EQ(PARSE(&ps, word), 0);
		b = true;
		CHECK_EQ(vdk_params_get_bool(&ps, "d", &b, err, sizeof(err)),
			 0);
		CHECK(!b);
		vdk_params_free(&ps);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(word, sizeof(word), "direct=%s", bad[i]);
		CHECK_EQ(PARSE(&ps, word), 0);
		b = true;
		snprintf(msg, sizeof(msg),
			 "bad value '%s' for direct: expected on/off, yes/no, true/false or 1/0",
			 bad[i]);
		expect_err(vdk_params_get_bool(&ps, "direct", &b, err,
					       sizeof(err)), msg);
		CHECK(b);
		vdk_params_free(&ps);
	}
	CHECK_EQ(PARSE(&ps, "a=on"), 0);
	CHECK_EQ(vdk_params_get_bool(&ps, "b", &b, err, sizeof(err)),
		 -ENOENT);
	vdk_params_free(&ps);
}

static void test_uint(void)
{
	struct vdk_params ps;
	uint64_t v = 0;

	CHECK_EQ(PARSE(&ps, "lo=1", "hi=64", "zero=0", "over=65", "junk=1x",
		       "neg=-1", "empty=", "wrap=18446744073709551616",
		       "max=18446744073709551615"), 0);
	CHECK_EQ(vdk_params_get_uint(&ps, "lo", 1, 64, &v, err, sizeof(err)),
		 0);
	CHECK_EQ(v, 1);
	CHECK_EQ(vdk_params_get_uint(&ps, "hi", 1, 64, &v, err, sizeof(err)),
		 0);
	CHECK_EQ(v, 64);
	expect_err(vdk_params_get_uint(&ps, "zero", 1, 64, &v, err,
				       sizeof(err)),
		   "bad value '0' for zero: out of range (1 to 64)");
	expect_err(vdk_params_get_uint(&ps, "over", 1, 64, &v, err,
				       sizeof(err)),
		   "bad value '65' for over: out of range (1 to 64)");
	expect_err(vdk_params_get_uint(&ps, "wrap", 1, 64, &v, err,
				       sizeof(err)),
		   "bad value '18446744073709551616' for wrap: out of range (1 to 64)");
	expect_err(vdk_params_get_uint(&ps, "junk", 1, 64, &v, err,
				       sizeof(err)),
		   "bad value '1x' for junk: expected a whole number from 1 to 64");
	expect_err(vdk_params_get_uint(&ps, "neg", 1, 64, &v, err,
				       sizeof(err)),
		   "bad value '-1' for neg: expected a whole number from 1 to 64");
	expect_err(vdk_params_get_uint(&ps, "empty", 1, 64, &v, err,
				       sizeof(err)),
		   "bad value '' for empty: expected a whole number from 1 to 64");
	CHECK_EQ(v, 64);
	CHECK_EQ(vdk_params_get_uint(&ps, "max", 0, UINT64_MAX, &v, err,
				     sizeof(err)), 0);
	CHECK(v == UINT64_MAX);
	CHECK_EQ(vdk_params_get_uint(&ps, "nope", 0, 1, &v, err, sizeof(err)),
		 -ENOENT);
	CHECK_EQ(vdk_params_check_unused(&ps, err, sizeof(err)), 0);
	vdk_params_free(&ps);
}

static void test_dup(void)
{
	struct vdk_params ps;
	char *v = NULL;

	CHECK_EQ(PARSE(&ps, "name=disk 1", "empty="), 0);
	CHECK_EQ(vdk_params_dup(&ps, "name", &v, err, sizeof(err)), 0);
	CHECK(v && !strcmp(v, "disk 1"));
	free(v);
	v = NULL;
	/* Absent: nothing set, not an error. */
	CHECK_EQ(vdk_params_dup(&ps, "nope", &v, err, sizeof(err)), 0);
	CHECK(!v);
	expect_err(vdk_params_dup(&ps, "empty", &v, err, sizeof(err)),
		   "empty= must not be empty");
	CHECK(!v);
	CHECK_EQ(vdk_params_check_unused(&ps, err, sizeof(err)), 0);
	vdk_params_free(&ps);
}

int main(void)
{
	test_parse();
	test_unused();
	test_size();
	test_bool();
	test_uint();
	test_dup();
	return T_EXIT_PASS;
}
