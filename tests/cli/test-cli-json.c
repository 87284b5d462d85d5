// SPDX-License-Identifier: MIT
/*
 * The JSON helpers over json-c (the output form, the strict reader, the
 * typed getters) and the text/JSON printer of the vdk command.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json-util.h"
#include "print.h"
#include "test.h"

/* @o as vdk prints it (malloc'd); @o is put. */
static char *capture(struct json_object *o)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	CHECK(f);
	CHECK_EQ(vdk_json_print(f, o), 0);
	CHECK(fclose(f) == 0);
	json_object_put(o);
	return buf;
}

/* ["@in"] printed is [@want]. */
static void check_escape(const char *in, const char *want)
{
	struct json_object *arr = json_object_new_array();
	char *got, *exp;

	CHECK(arr);
	CHECK_EQ(vdk_json_add_str(arr, NULL, in), 0);
	got = capture(arr);
	CHECK(asprintf(&exp, "[%s]", want) > 0);
	if (strcmp(got, exp)) {
		fprintf(stderr, "escape: got %s, want %s\n", got, exp);
		exit(T_EXIT_FAIL);
	}
	free(got);
	free(exp);
}

#define FFFD "\xef\xbf\xbd"

static void test_escape(void)
{
	check_escape("", "\"\"");
	check_escape("plain", "\"plain\"");
	/* '/' as it is, as vdk always wrote it. */
	check_escape("a\"b\\c/d", "\"a\\\"b\\\\c/d\"");
	check_escape("\n\t\r\b\f", "\"\\n\\t\\r\\b\\f\"");
	/* Controls escaped; DEL is not one in JSON. */
	check_escape("\x01\x1f\x7f", "\"\\u0001\\u001f\x7f\"");
	/* Valid UTF-8 goes through as it is. */
	check_escape("\xc3\xa9", "\"\xc3\xa9\"");
	check_escape("\xe2\x82\xac", "\"\xe2\x82\xac\"");
	check_escape("\xf0\x9f\x98\x80", "\"\xf0\x9f\x98\x80\"");
	check_escape("\xf4\x8f\xbf\xbf", "\"\xf4\x8f\xbf\xbf\"");
	/* Invalid bytes become U+FFFD, one per byte. */
	check_escape("\xff", "\"" FFFD "\"");
	check_escape("a\x80z", "\"a" FFFD "z\"");
	check_escape("\xc0\xaf", "\"" FFFD FFFD "\"");          /* overlong */
	check_escape("\xe0\x80\xaf", "\"" FFFD FFFD FFFD "\"");
	check_escape("\xe2\x82", "\"" FFFD FFFD "\"");          /* cut short */
	/* A surrogate half. */
	check_escape("\xed\xa0\x80", "\"" FFFD FFFD FFFD "\"");
	/* Beyond U+10FFFF. */
	check_escape("\xf4\x90\x80\x80", "\"" FFFD FFFD FFFD FFFD "\"");
}

/* Compact, in the order of insertion; keys cleaned as values are. */
static void test_writer(void)
{
	struct json_object *o = json_object_new_object(), *a, *in;
	char *got;

	CHECK(o);
	CHECK_EQ(vdk_json_add_u64(o, "a", UINT64_MAX), 0);
	a = json_object_new_array();
	CHECK(a);
	CHECK_EQ(vdk_json_add(o, "b", a), 0);
	CHECK_EQ(vdk_json_add_i64(a, NULL, -1), 0);
	CHECK_EQ(vdk_json_add_str(a, NULL, "x"), 0);
	in = json_object_new_object();
	CHECK(in);
	CHECK_EQ(vdk_json_add(a, NULL, in), 0);
	CHECK_EQ(vdk_json_add(in, "c", NULL), 0);
	CHECK_EQ(vdk_json_add(a, NULL, json_object_new_array()), 0);
	CHECK_EQ(vdk_json_add(a, NULL, json_object_new_object()), 0);
	CHECK_EQ(vdk_json_add_bool(o, "d\"", true), 0);
	CHECK_EQ(vdk_json_add_str(o, "e", NULL), 0);
	CHECK_EQ(vdk_json_add_i64(o, "k\xff", INT64_MIN), 0);
	got = capture(o);
	CHECK(!strcmp(got, "{\"a\":18446744073709551615,"
			   "\"b\":[-1,\"x\",{\"c\":null},[],{}],"
			   "\"d\\\"\":true,\"e\":null,"
			   "\"k" FFFD "\":-9223372036854775808}"));
	free(got);
}

/* Parse @doc: 0 or -EINVAL (with a reason). */
static int parse(const char *doc, size_t len, struct json_object **out)
{
	char why[128] = "";
	int ret = vdk_json_parse(doc, len, out, why, sizeof(why));

	if (ret) {
		CHECK_EQ(ret, -EINVAL);
		CHECK(why[0]);
		CHECK(*out == NULL);
	}
	return ret;
}

static void test_reader(void)
{
	const char *doc = " { \"n\" : 42 , \"s\":\"a\\u00e9\\ud83d\\ude00\\n\","
			  "\"t\":true,\"f\":false,\"skip\":[1,-2.5e3,{\"x\":"
			  "[null,\"]\"]},[]],\"o\":{\"k\":\"v\"},\"z\":0}\n";
	struct json_object *o, *v;
	char *s = NULL;
	uint64_t n;
	bool b;

	CHECK_EQ(parse(doc, strlen(doc), &o), 0);
	CHECK(json_object_object_get_ex(o, "n", &v));
	CHECK_EQ(vdk_json_get_uint(v, UINT64_MAX, &n), 0);
	CHECK_EQ(n, 42);
	CHECK_EQ(vdk_json_get_uint(v, 41, &n), -EINVAL);
	CHECK_EQ(vdk_json_get_bool(v, &b), -EINVAL);
	CHECK_EQ(vdk_json_get_str(v, 64, &s), -EINVAL);
	CHECK(json_object_object_get_ex(o, "s", &v));
	CHECK_EQ(vdk_json_get_str(v, 64, &s), 0);
	CHECK(!strcmp(s, "a\xc3\xa9\xf0\x9f\x98\x80\n"));
	/* The bound counts the NUL. */
	CHECK_EQ(vdk_json_get_str(v, 8, &s), -EINVAL);
	CHECK_EQ(vdk_json_get_str(v, 9, &s), 0);
	CHECK_EQ(vdk_json_get_uint(v, UINT64_MAX, &n), -EINVAL);
	CHECK(json_object_object_get_ex(o, "t", &v));
	CHECK_EQ(vdk_json_get_bool(v, &b), 0);
	CHECK(b);
	CHECK(json_object_object_get_ex(o, "f", &v));
	CHECK_EQ(vdk_json_get_bool(v, &b), 0);
	CHECK(!b);
	CHECK(json_object_object_get_ex(o, "z", &v));
	CHECK_EQ(vdk_json_get_uint(v, 0, &n), 0);
	CHECK_EQ(n, 0);
	free(s);
	json_object_put(o);

	/* null is a value: no object, no error. */
	CHECK_EQ(parse("null", 4, &o), 0);
	CHECK(o == NULL);
}

/* {"k": N} read as an integer up to UINT64_MAX - 1: 0 or -EINVAL. */
static void check_u64(const char *doc, int want)
{
	struct json_object *o = NULL, *v;
	uint64_t n;
	int ret;

	ret = parse(doc, strlen(doc), &o);
	if (!ret) {
		ret = json_object_object_get_ex(o, "k", &v) ?
			      vdk_json_get_uint(v, UINT64_MAX, &n) : -ENOENT;
	}
	json_object_put(o);
	if (ret != want) {
		fprintf(stderr, "'%s': got %d, want %d\n", doc, ret, want);
		exit(T_EXIT_FAIL);
	}
}

/* {"k": "..."} read as a string of fewer than 8 bytes. */
static void check_str(const char *doc, int want)
{
	struct json_object *o = NULL, *v;
	char *s = NULL;
	int ret;

	ret = parse(doc, strlen(doc), &o);
	if (!ret) {
		ret = json_object_object_get_ex(o, "k", &v) ?
			      vdk_json_get_str(v, 8, &s) : -ENOENT;
	}
	json_object_put(o);
	free(s);
	if (ret != want) {
		fprintf(stderr, "'%s': got %d, want %d\n", doc, ret, want);
		exit(T_EXIT_FAIL);
	}
}

static void test_reader_errors(void)
{
	check_u64("{\"k\":18446744073709551614}", 0);
	/* json-c holds anything larger as UINT64_MAX: refused. */
	check_u64("{\"k\":18446744073709551615}", -EINVAL);
	check_u64("{\"k\":18446744073709551616}", -EINVAL);
	check_u64("{\"k\":9999999999999999999999999999}", -EINVAL);
	/* json-c without its strict mode: a leading zero, a comma. */
	check_u64("{\"k\":007}", 0);
	check_u64("{\"k\":-1}", -EINVAL);
	check_u64("{\"k\":1.5}", -EINVAL);
	check_u64("{\"k\":1e3}", -EINVAL);
	check_u64("{\"k\":\"1\"}", -EINVAL);
	check_u64("{\"k\":true}", -EINVAL);
	check_u64("{\"k\":null}", -EINVAL);
	check_u64("{\"k\" 1}", -EINVAL);
	check_u64("{\"k\":1 \"j\":2}", -EINVAL);
	check_u64("{\"k\":1,}", 0);
	check_u64("{\"k\":1", -EINVAL);
	check_u64("{\"k\":1} x", -EINVAL);
	check_u64("{\"k\":1}{}", -EINVAL);
	check_u64("[1]", -ENOENT);
	check_u64("", -EINVAL);

	check_str("{\"k\":\"1234567\"}", 0);
	check_str("{\"k\":\"12345678\"}", -EINVAL);
	check_str("{\"k\":\"\\u00e9\\u00e9\\u00e9\\u00e9\"}", -EINVAL);
	check_str("{\"k\":\"abc}", -EINVAL);
	check_str("{\"k\":\"a\\\"}", -EINVAL);
	check_str("{\"k\":\"\\x\"}", -EINVAL);
	check_str("{\"k\":\"\\u12\"}", -EINVAL);
	check_str("{\"k\":\"\\u0000\"}", -EINVAL);     /* a NUL inside */
	check_str("{\"k\":\"a\\u0000b\"}", -EINVAL);
	/* Lone surrogate halves: json-c makes them U+FFFD. */
	check_str("{\"k\":\"\\udc00\"}", 0);
	check_str("{\"k\":\"\\ud800x\"}", 0);
	check_str("{\"k\":\"\"}", 0);
	check_str("{\"k\":1}", -EINVAL);
	check_str("{\"k\":null}", -EINVAL);
}

/* Deep nesting is refused, not followed. */
static void test_depth(void)
{
	static char doc[200000];
	struct json_object *o;
	size_t n = 100000, i;

	for (i = 0; i < n; i++) {
		doc[i] = '[';
		doc[n + i] = ']';
	}
	CHECK_EQ(parse(doc, 2 * n, &o), -EINVAL);
	/* To the limit, not beyond it. */
	memset(doc, '[', VDK_JSON_DEPTH);
	memset(doc + VDK_JSON_DEPTH, ']', VDK_JSON_DEPTH);
	CHECK_EQ(parse(doc, 2 * VDK_JSON_DEPTH, &o), 0);
	json_object_put(o);
	memset(doc, '[', VDK_JSON_DEPTH + 1);
	memset(doc + VDK_JSON_DEPTH + 1, ']', VDK_JSON_DEPTH + 1);
	CHECK_EQ(parse(doc, 2 * VDK_JSON_DEPTH + 2, &o), -EINVAL);
}

/* What is written, is read back the same. */
static void test_roundtrip(void)
{
	unsigned int seed = 1;
	char in[64];

	for (int iter = 0; iter < 2000; iter++) {
		struct json_object *o = json_object_new_object(), *v;
		size_t n = rand_r(&seed) % 40, i;
		char *buf, *out = NULL;

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
		CHECK(o);
		CHECK_EQ(vdk_json_add_str(o, "k", in), 0);
		buf = capture(o);
		CHECK_EQ(parse(buf, strlen(buf), &o), 0);
		CHECK(json_object_object_get_ex(o, "k", &v));
		CHECK_EQ(vdk_json_get_str(v, 256, &out), 0);
		CHECK(!strcmp(in, out));
		json_object_put(o);
		free(out);
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
		CHECK_EQ(vdk_pr_rec_end(&p, false), 0);
	}
	CHECK_EQ(vdk_pr_list_end(&p), 0);
	CHECK(fclose(f) == 0);
	return buf;
}

/* A record alone: a line of its own; too deep a one: nothing. */
static void test_printer_edges(void)
{
	char *buf = NULL;
	size_t len = 0;
	struct vdk_pr p;
	FILE *f = open_memstream(&buf, &len);
	int i;

	CHECK(f);
	vdk_pr_init(&p, f, true);
	vdk_pr_rec_begin(&p);
	vdk_pr_str(&p, VDK_PR_JSON, "node", 0, "/dev/vda");
	vdk_pr_str(&p, VDK_PR_TEXT, "hidden", 0, "x");
	CHECK_EQ(vdk_pr_rec_end(&p, true), 0);
	vdk_pr_init(&p, f, true);
	vdk_pr_rec_begin(&p);
	for (i = 0; i < VDK_PR_DEPTH + 2; i++)
		vdk_pr_obj_begin(&p, "o");
	vdk_pr_u64(&p, VDK_PR_ANY, "n", 0, 1);
	for (i = 0; i < VDK_PR_DEPTH + 2; i++)
		vdk_pr_obj_end(&p);
	CHECK_EQ(vdk_pr_rec_end(&p, true), -E2BIG);
	CHECK(fclose(f) == 0);
	CHECK(!strcmp(buf, "{\"node\":\"/dev/vda\"}\n"));
	free(buf);
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
	test_printer_edges();
	return T_EXIT_PASS;
}
