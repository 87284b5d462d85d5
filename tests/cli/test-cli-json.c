// SPDX-License-Identifier: MIT
/*
 * The JSON writer and reader of the vdk command, and the text/JSON printer.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "print.h"
#include "test.h"

/* @s as a JSON string (malloc'd). */
static char *capture_str(const char *s)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	CHECK(f);
	vdk_json_put_str(f, s);
	CHECK(fclose(f) == 0);
	return buf;
}

static void check_escape(const char *in, const char *want)
{
	char *got = capture_str(in);

	if (strcmp(got, want)) {
		fprintf(stderr, "escape: got %s, want %s\n", got, want);
		exit(T_EXIT_FAIL);
	}
	free(got);
}

static void test_escape(void)
{
	check_escape("", "\"\"");
	check_escape("plain", "\"plain\"");
	check_escape("a\"b\\c/d", "\"a\\\"b\\\\c/d\"");
	check_escape("\n\t\r\b\f", "\"\\n\\t\\r\\b\\f\"");
	check_escape("\x01\x1f\x7f", "\"\\u0001\\u001f\\u007f\"");
	/* Valid UTF-8 goes through as it is. */
	check_escape("\xc3\xa9", "\"\xc3\xa9\"");
	check_escape("\xe2\x82\xac", "\"\xe2\x82\xac\"");
	check_escape("\xf0\x9f\x98\x80", "\"\xf0\x9f\x98\x80\"");
	check_escape("\xf4\x8f\xbf\xbf", "\"\xf4\x8f\xbf\xbf\"");
	/* Invalid bytes become U+FFFD, one per byte. */
	check_escape("\xff", "\"\\ufffd\"");
	check_escape("a\x80z", "\"a\\ufffdz\"");
	check_escape("\xc0\xaf", "\"\\ufffd\\ufffd\"");        /* overlong */
	check_escape("\xe0\x80\xaf", "\"\\ufffd\\ufffd\\ufffd\"");
	check_escape("\xe2\x82", "\"\\ufffd\\ufffd\"");        /* cut short */
	/* A surrogate half. */
	check_escape("\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"");
	check_escape("\xf4\x90\x80\x80",
		     "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");     /* > U+10FFFF */
}

static void test_writer(void)
{
	char *buf = NULL;
	size_t len = 0;
	struct vdk_jw w;
	FILE *f = open_memstream(&buf, &len);

	CHECK(f);
	vdk_jw_init(&w, f);
	vdk_jw_obj_begin(&w);
	vdk_jw_key(&w, "a");
	vdk_jw_u64(&w, 18446744073709551615ULL);
	vdk_jw_key(&w, "b");
	vdk_jw_arr_begin(&w);
	vdk_jw_i64(&w, -1);
	vdk_jw_str(&w, "x");
	vdk_jw_obj_begin(&w);
	vdk_jw_key(&w, "c");
	vdk_jw_null(&w);
	vdk_jw_obj_end(&w);
	vdk_jw_arr_begin(&w);
	vdk_jw_arr_end(&w);
	vdk_jw_obj_begin(&w);
	vdk_jw_obj_end(&w);
	vdk_jw_arr_end(&w);
	vdk_jw_key(&w, "d\"");
	vdk_jw_bool(&w, true);
	vdk_jw_key(&w, "e");
	vdk_jw_str(&w, NULL);
	vdk_jw_obj_end(&w);
	CHECK(fclose(f) == 0);
	CHECK(!strcmp(buf, "{\"a\":18446744073709551615,"
			   "\"b\":[-1,\"x\",{\"c\":null},[],{}],"
			   "\"d\\\"\":true,\"e\":null}"));
	free(buf);
}

static void test_reader(void)
{
	const char *doc = " { \"n\" : 42 , \"s\":\"a\\u00e9\\ud83d\\ude00\\n\","
			  "\"t\":true,\"f\":false,\"skip\":[1,-2.5e3,{\"x\":"
			  "[null,\"]\"]},[]],\"o\":{\"k\":\"v\"},\"z\":0}\n";
	char key[16], s[32];
	struct vdk_jr r;
	uint64_t v;
	bool b;

	vdk_jr_init(&r, doc, strlen(doc));
	CHECK_EQ(vdk_jr_obj_begin(&r), 0);
	CHECK_EQ(vdk_jr_obj_next(&r, key, sizeof(key)), 1);
	CHECK(!strcmp(key, "n"));
	CHECK_EQ(vdk_jr_u64(&r, &v), 0);
	CHECK_EQ(v, 42);
	CHECK_EQ(vdk_jr_obj_next(&r, key, sizeof(key)), 1);
	CHECK(!strcmp(key, "s"));
	CHECK_EQ(vdk_jr_str(&r, s, sizeof(s)), 0);
	CHECK(!strcmp(s, "a\xc3\xa9\xf0\x9f\x98\x80\n"));
	CHECK_EQ(vdk_jr_obj_next(&r, key, sizeof(key)), 1);
	CHECK_EQ(vdk_jr_bool(&r, &b), 0);
	CHECK(b);
	CHECK_EQ(vdk_jr_obj_next(&r, key, sizeof(key)), 1);
	CHECK_EQ(vdk_jr_bool(&r, &b), 0);
	CHECK(!b);
	CHECK_EQ(vdk_jr_obj_next(&r, key, sizeof(key)), 1);
	CHECK(!strcmp(key, "skip"));
	CHECK_EQ(vdk_jr_skip(&r), 0);
	CHECK_EQ(vdk_jr_obj_next(&r, key, sizeof(key)), 1);
	CHECK(!strcmp(key, "o"));
	CHECK_EQ(vdk_jr_obj_begin(&r), 0);
	CHECK_EQ(vdk_jr_obj_next(&r, key, sizeof(key)), 1);
	CHECK(!strcmp(key, "k"));
	CHECK_EQ(vdk_jr_str(&r, s, sizeof(s)), 0);
	CHECK(!strcmp(s, "v"));
	CHECK_EQ(vdk_jr_obj_next(&r, key, sizeof(key)), 0);
	CHECK_EQ(vdk_jr_obj_next(&r, key, sizeof(key)), 1);
	CHECK(!strcmp(key, "z"));
	CHECK_EQ(vdk_jr_u64(&r, &v), 0);
	CHECK_EQ(v, 0);
	CHECK_EQ(vdk_jr_obj_next(&r, key, sizeof(key)), 0);
	CHECK_EQ(vdk_jr_end(&r), 0);
}

/* A document that must fail somewhere, reading it as {"k": u64}. */
static void check_bad_u64(const char *doc, int want)
{
	struct vdk_jr r;
	char key[8];
	uint64_t v;
	int ret;

	vdk_jr_init(&r, doc, strlen(doc));
	ret = vdk_jr_obj_begin(&r);
	if (!ret) {
		ret = vdk_jr_obj_next(&r, key, sizeof(key));
		ret = ret == 1 ? 0 : ret == 0 ? -EINVAL : ret;
	}
	if (!ret)
		ret = vdk_jr_u64(&r, &v);
	if (!ret)
		ret = vdk_jr_obj_next(&r, key, sizeof(key));
	if (!ret)
		ret = vdk_jr_end(&r);
	if (ret != want) {
		fprintf(stderr, "'%s': got %d, want %d\n", doc, ret, want);
		exit(T_EXIT_FAIL);
	}
}

static void check_bad_str(const char *doc, size_t len, int want)
{
	struct vdk_jr r;
	char s[8];
	int ret;

	vdk_jr_init(&r, doc, strlen(doc));
	ret = vdk_jr_str(&r, s, len);
	if (!ret)
		ret = vdk_jr_end(&r);
	if (ret != want) {
		fprintf(stderr, "'%s': got %d, want %d\n", doc, ret, want);
		exit(T_EXIT_FAIL);
	}
}

static void test_reader_errors(void)
{
	check_bad_u64("{\"k\":18446744073709551615}", 0);
	check_bad_u64("{\"k\":18446744073709551616}", -ERANGE);
	check_bad_u64("{\"k\":007}", -EINVAL);
	check_bad_u64("{\"k\":-1}", -EINVAL);
	check_bad_u64("{\"k\":1.5}", -EINVAL);
	check_bad_u64("{\"k\":1e3}", -EINVAL);
	check_bad_u64("{\"k\":\"1\"}", -EINVAL);
	check_bad_u64("{\"k\" 1}", -EINVAL);
	check_bad_u64("{\"k\":1 \"j\":2}", -EINVAL);
	check_bad_u64("{\"k\":1,}", -EINVAL);
	check_bad_u64("{\"k\":1", -EINVAL);
	check_bad_u64("{\"k\":1} x", -EINVAL);
	check_bad_u64("{\"toolongkey\":1}", -ENAMETOOLONG);
	check_bad_u64("[1]", -EINVAL);
	check_bad_u64("", -EINVAL);

	check_bad_str("\"1234567\"", 8, 0);
	check_bad_str("\"12345678\"", 8, -ENAMETOOLONG);
	check_bad_str("\"\\u00e9\\u00e9\\u00e9\\u00e9\"", 8, -ENAMETOOLONG);
	check_bad_str("\"abc", 8, -EINVAL);
	check_bad_str("\"a\\\"", 8, -EINVAL);
	check_bad_str("\"\\x\"", 8, -EINVAL);
	check_bad_str("\"\\u12\"", 8, -EINVAL);
	check_bad_str("\"\\u0000\"", 8, -EINVAL);
	check_bad_str("\"\\udc00\"", 8, -EINVAL);      /* lone low half */
	check_bad_str("\"\\ud800x\"", 8, -EINVAL);     /* lone high half */
	check_bad_str("\"\\ud800\\u0041\"", 8, -EINVAL);
	check_bad_str("\"a\tb\"", 8, -EINVAL);         /* raw control */
	check_bad_str("\"\"", 8, 0);
}

/* Deep nesting is refused, not followed. */
static void test_depth(void)
{
	char doc[200];
	struct vdk_jr r;
	int i;

	for (i = 0; i < 100; i++)
		doc[i] = '[';
	for (; i < 198; i++)
		doc[i] = ']';
	doc[i] = '\0';
	vdk_jr_init(&r, doc, strlen(doc));
	CHECK_EQ(vdk_jr_skip(&r), -EINVAL);
}

/* What the writer writes, the reader reads back the same. */
static void test_roundtrip(void)
{
	char in[64], out[256], key[8];
	unsigned int seed = 1;
	struct vdk_jr r;
	struct vdk_jw w;

	for (int iter = 0; iter < 2000; iter++) {
		char *buf = NULL;
		size_t len = 0, n = rand_r(&seed) % 40, i;
		FILE *f;

		for (i = 0; i < n; i++) {
			/* ASCII, controls included, and some é. */
			int c = 1 + rand_r(&seed) % 130;

			if (c >= 128 && i + 2 < n) {
				in[i++] = '\xc3';
				in[i] = '\xa9';
			} else {
				in[i] = c >= 128 ? 'x' : c;
			}
		}
		in[n] = '\0';
		f = open_memstream(&buf, &len);
		CHECK(f);
		vdk_jw_init(&w, f);
		vdk_jw_obj_begin(&w);
		vdk_jw_key(&w, "k");
		vdk_jw_str(&w, in);
		vdk_jw_obj_end(&w);
		CHECK(fclose(f) == 0);

		vdk_jr_init(&r, buf, len);
		CHECK_EQ(vdk_jr_obj_begin(&r), 0);
		CHECK_EQ(vdk_jr_obj_next(&r, key, sizeof(key)), 1);
		CHECK_EQ(vdk_jr_str(&r, out, sizeof(out)), 0);
		CHECK_EQ(vdk_jr_obj_next(&r, key, sizeof(key)), 0);
		CHECK_EQ(vdk_jr_end(&r), 0);
		CHECK(!strcmp(in, out));
		free(buf);
	}
}

static void check_size(uint64_t bytes, const char *want)
{
	char buf[32];

	vdk_fmt_size(buf, sizeof(buf), bytes);
	if (strcmp(buf, want)) {
		fprintf(stderr, "size %llu: got %s, want %s\n",
			(unsigned long long)bytes, buf, want);
		exit(T_EXIT_FAIL);
	}
}

static void test_sizes(void)
{
	check_size(0, "0");
	check_size(512, "512");
	check_size(1023, "1023");
	check_size(1024, "1K");
	check_size(1536, "1.5K");
	check_size(64ULL << 20, "64M");
	check_size(3ULL << 29, "1.5G");
	check_size(1ULL << 40, "1T");
	check_size(1ULL << 60, "1E");
	check_size(UINT64_MAX, "16.0E");
}

/* One set of calls: text columns or a JSON array. */
static char *print_sample(bool json)
{
	char *buf = NULL;
	size_t len = 0;
	struct vdk_pr p;
	FILE *f = open_memstream(&buf, &len);

	CHECK(f);
	vdk_pr_init(&p, f, json);
	vdk_pr_list_begin(&p);
	for (int i = 0; i < 2; i++) {
		vdk_pr_rec_begin(&p);
		vdk_pr_str(&p, VDK_PR_ANY, "name", 6, i ? "d1" : "disk0");
		vdk_pr_str(&p, VDK_PR_ANY, "node", 9, i ? NULL : "/dev/vda");
		vdk_pr_size(&p, VDK_PR_ANY, "size", 5, 1ULL << 30);
		vdk_pr_u64(&p, VDK_PR_JSON, "pid", 0, 7);
		vdk_pr_obj_begin(&p, "params");
		vdk_pr_str(&p, VDK_PR_JSON, "path", 0, "/a\"b");
		vdk_pr_obj_end(&p);
		vdk_pr_bool(&p, VDK_PR_TEXT, "ro", 0, i);
		vdk_pr_rec_end(&p, false);
	}
	vdk_pr_list_end(&p);
	CHECK(fclose(f) == 0);
	return buf;
}

static void test_printer(void)
{
	char *text = print_sample(false), *json = print_sample(true);

	CHECK(!strcmp(text, "disk0  /dev/vda  1G    no\n"
			    "d1     -         1G    yes\n"));
	CHECK(!strcmp(json,
		      "[{\"name\":\"disk0\",\"node\":\"/dev/vda\","
		      "\"size\":1073741824,\"pid\":7,"
		      "\"params\":{\"path\":\"/a\\\"b\"}},"
		      "{\"name\":\"d1\",\"node\":null,\"size\":1073741824,"
		      "\"pid\":7,\"params\":{\"path\":\"/a\\\"b\"}}]\n"));
	free(text);
	free(json);
}

int main(void)
{
	test_escape();
	test_writer();
	test_reader();
	test_reader_errors();
	test_depth();
	test_roundtrip();
	test_sizes();
	test_printer();
	return T_EXIT_PASS;
}
