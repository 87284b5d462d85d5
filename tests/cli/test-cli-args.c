// SPDX-License-Identifier: MIT
/*
 * Option parsing of the vdk verbs.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "blk-model.h"
#include "cli.h"
#include "test.h"

#define MAX_ARGS 32

/* argv from a NULL-terminated list of words (kept: getopt permutes). */
static int mkargv(char **argv, va_list ap)
{
	static char store[MAX_ARGS][256];
	const char *w;
	int argc = 0;

	while ((w = va_arg(ap, const char *))) {
		CHECK(argc < MAX_ARGS - 1);
		snprintf(store[argc], sizeof(store[argc]), "%s", w);
		argv[argc] = store[argc];
		argc++;
	}
	argv[argc] = NULL;
	return argc;
}

static char err[256];

static const struct vdk_model_ops *const models[] = {
	&vdk_model_blk,
	NULL,
};

/* @a's settings are freed by the next call (the words are static). */
static int add(struct vdk_add_args *a, ...)
{
	static char *argv[MAX_ARGS];
	static struct vdk_add_args *last;
	va_list ap;
	int argc;

	if (last)
		vdk_args_add_free(last);
	last = a;
	va_start(ap, a);
	argc = mkargv(argv, ap);
	va_end(ap);
	err[0] = '\0';
	return vdk_args_add(argc, argv, models, a, err, sizeof(err));
}

/* Expect a failure with exactly @msg. */
static void add_fails(const char *msg, ...)
{
	static char *argv[MAX_ARGS];
	struct vdk_add_args a;
	va_list ap;
	int argc;

	va_start(ap, msg);
	argc = mkargv(argv, ap);
	va_end(ap);
	err[0] = '\0';
	if (vdk_args_add(argc, argv, models, &a, err, sizeof(err)) !=
		    -EINVAL ||
	    strcmp(err, msg)) {
		fprintf(stderr, "want '%s', got '%s'\n", msg, err);
		exit(T_EXIT_FAIL);
	}
	vdk_args_add_free(&a);
}

static void test_add(void)
{
	struct vdk_add_args a;

	CHECK_EQ(add(&a, "add", "d0", "ram", NULL), 0);
	CHECK(!strcmp(a.name, "d0"));
	CHECK(!strcmp(a.cfg->backend, "ram"));
	CHECK_EQ(a.cfg->nparams, 0);
	CHECK_EQ(a.cfg->queues, 1);
	CHECK_EQ(a.cfg->queue_size, 256);
	CHECK_EQ(a.cfg->block_size, 0);
	CHECK_EQ(a.timeout, 30);
	CHECK(a.model == &vdk_model_blk);
	CHECK(!a.cfg->read_only && !a.vhost && !a.daemon && !a.json && !a.help);
	CHECK(!a.cfg->serial && !a.pidfile && !a.log);
	CHECK(a.ring == VDK_RING_DEFAULT && !a.in_order);
	CHECK_EQ(add(&a, "add", "--in-order", "d0", "ram", NULL), 0);
	CHECK(a.in_order);
	CHECK_EQ(add(&a, "add", "--ring", "split", "d0", "ram", NULL), 0);
	CHECK(a.ring == VDK_RING_SPLIT);
	CHECK_EQ(add(&a, "add", "--ring=packed", "d0", "ram", NULL), 0);
	CHECK(a.ring == VDK_RING_PACKED);
	CHECK(!a.bounce_kernel && a.bounce_size == 0);
	CHECK_EQ(add(&a, "add", "--bounce", "kernel", "--bounce-size=1G",
		     "d0", "ram", NULL), 0);
	CHECK(a.bounce_kernel && a.bounce_size == 1ull << 30);
	CHECK_EQ(add(&a, "add", "--bounce=umem", "--bounce-size", "4100K",
		     "d0", "ram", NULL), 0);
	CHECK(!a.bounce_kernel && a.bounce_size == 4100ull << 10);
	CHECK_EQ(add(&a, "add", "--bounce-size=1048576", "d0", "ram", NULL),
		 0);
	CHECK_EQ(a.bounce_size, 1ull << 20);

	CHECK_EQ(add(&a, "add", "-q", "4", "--queue-size=1024", "-b4096",
		     "-r", "--serial", "SN1", "--bus", "vhost", "-d", "-p",
		     "/run/x.pid", "-j", "--log", "l.txt", "-vv",
		     "--timeout", "5", "disk_1", "file", "path=/x",
		     "direct=on", NULL), 0);
	CHECK_EQ(a.cfg->queues, 4);
	CHECK_EQ(a.cfg->queue_size, 1024);
	CHECK_EQ(a.cfg->block_size, 4096);
	CHECK(a.cfg->read_only && a.vhost && a.daemon && a.json);
	CHECK(!strcmp(a.cfg->serial, "SN1"));
	CHECK(!strcmp(a.pidfile, "/run/x.pid"));
	CHECK(!strcmp(a.log, "l.txt"));
	CHECK_EQ(a.verbose, 2);
	CHECK_EQ(a.timeout, 5);
	CHECK(!strcmp(a.name, "disk_1"));
	CHECK(!strcmp(a.cfg->backend, "file"));
	CHECK_EQ(a.cfg->nparams, 2);
	CHECK(!strcmp(a.cfg->params[0], "path=/x"));
	CHECK(!strcmp(a.cfg->params[1], "direct=on"));

	/* Options after the words too; "--" ends them. */
	CHECK_EQ(add(&a, "add", "d0", "ram", "size=1M", "-q", "2",
		     "--bus=virtio", NULL), 0);
	CHECK_EQ(a.cfg->queues, 2);
	CHECK(!a.vhost);
	CHECK_EQ(a.cfg->nparams, 1);
	CHECK_EQ(add(&a, "add", "--", "d0", "ram", "-x=1", NULL), 0);
	CHECK_EQ(a.cfg->nparams, 1);
	CHECK(!strcmp(a.cfg->params[0], "-x=1"));

	CHECK_EQ(add(&a, "add", "--help", NULL), 0);
	CHECK(a.help);
	CHECK_EQ(add(&a, "add", "d0", "-h", NULL), 0);
	CHECK(a.help);
	CHECK_EQ(add(&a, "add", "-b", "512", "d0", "null", NULL), 0);
	CHECK_EQ(a.cfg->block_size, 512);
	CHECK_EQ(add(&a, "add", "--queue-size", "2", "-q", "64", "d0",
		     "null", NULL), 0);
	CHECK_EQ(a.cfg->queue_size, 2);
	CHECK_EQ(a.cfg->queues, 64);
	CHECK_EQ(add(&a, "add", "--serial", "12345678901234567890", "d0",
		     "null", NULL), 0);

	/* --type: blk, the default, chosen explicitly, anywhere. */
	CHECK_EQ(add(&a, "add", "--type", "blk", "-q", "2", "d0", "ram",
		     "size=1M", NULL), 0);
	CHECK(a.model == &vdk_model_blk);
	CHECK_EQ(a.cfg->queues, 2);
	CHECK(!strcmp(a.cfg->backend, "ram"));
	CHECK_EQ(add(&a, "add", "d0", "ram", "--type=blk", NULL), 0);
	CHECK(a.model == &vdk_model_blk);
	add(&a, "add", "--help", NULL);
	/* No add() follows to free it; LeakSanitizer may see it gone. */
	vdk_args_add_free(&a);
}

static void test_add_errors(void)
{
	add_fails("missing device name", "add", NULL);
	add_fails("missing device name", "add", "-r", NULL);
	add_fails("missing backend (see 'vdk backends')", "add", "d0", NULL);
	add_fails("unknown option '--bogus'", "add", "--bogus", "d0", "ram",
		  NULL);
	add_fails("unknown option '--bogus'", "add", "--bogus=3", NULL);
	add_fails("unknown option '-x'", "add", "-x", "d0", "ram", NULL);
	add_fails("unknown option '-x'", "add", "-rx", "d0", "ram", NULL);
	add_fails("option '--queues' needs a value", "add", "d0", "ram",
		  "--queues", NULL);
	add_fails("option '-q' needs a value", "add", "d0", "ram", "-q",
		  NULL);
	add_fails("option '-q' needs a value", "add", "d0", "ram", "-rq",
		  NULL);
	add_fails("bad --bounce value 'user' (umem or kernel)", "add",
		  "--bounce=user", "d0", "ram", NULL);
	add_fails("bad --bounce-size value '1020K' (whole 4 KiB pages, "
		  "1M..1G)", "add", "--bounce-size=1020K", "d0", "ram", NULL);
	add_fails("bad --bounce-size value '1025M' (whole 4 KiB pages, "
		  "1M..1G)", "add", "--bounce-size=1025M", "d0", "ram", NULL);
	add_fails("bad --bounce-size value '1048577' (whole 4 KiB pages, "
		  "1M..1G)", "add", "--bounce-size=1048577", "d0", "ram", NULL);
	add_fails("bad --bounce-size value '18446744073709551615G' (whole "
		  "4 KiB pages, 1M..1G)", "add",
		  "--bounce-size=18446744073709551615G", "d0", "ram", NULL);
	add_fails("bad --bounce-size value '-64M' (whole 4 KiB pages, "
		  "1M..1G)", "add", "--bounce-size=-64M", "d0", "ram", NULL);
	add_fails("bad --bounce-size value '64MB' (whole 4 KiB pages, "
		  "1M..1G)", "add", "--bounce-size=64MB", "d0", "ram", NULL);
	add_fails("bad --queues value '0' (1..64)", "add", "-q", "0", "d0",
		  "ram", NULL);
	add_fails("bad --queues value '65' (1..64)", "add", "-q65", NULL);
	add_fails("bad --queues value '2x' (1..64)", "add", "-q", "2x", NULL);
	add_fails("bad --queues value '-1' (1..64)", "add", "-q", "-1", NULL);
	add_fails("bad --queues value '' (1..64)", "add", "--queues=", NULL);
	add_fails("bad --queues value '99999999999999999999999' (1..64)",
		  "add", "-q", "99999999999999999999999", NULL);
	add_fails("bad --queue-size value '100' (a power of 2, 2..1024)",
		  "add", "--queue-size", "100", NULL);
	add_fails("bad --queue-size value '2048' (a power of 2, 2..1024)",
		  "add", "--queue-size", "2048", NULL);
	add_fails("bad --queue-size value '1' (a power of 2, 2..1024)",
		  "add", "--queue-size", "1", NULL);
	add_fails("bad --block-size value '1024' (512 or 4096)", "add", "-b",
		  "1024", NULL);
	add_fails("bad --bus value 'pci' (virtio or vhost)", "add", "--bus",
		  "pci", NULL);
	add_fails("bad --ring value 'ring' (split or packed)", "add", "--ring",
		  "ring", NULL);
	add_fails("bad --serial value '123456789012345678901' (up to 20 bytes)",
		  "add", "--serial", "123456789012345678901", NULL);
	add_fails("bad --timeout value '0' (seconds, 1..3600)", "add",
		  "--timeout", "0", NULL);
	add_fails("bad device name 'a/b' (letters, digits, '_.:-' only)",
		  "add", "a/b", "ram", NULL);
	add_fails("'control' cannot be a device name", "add", "control",
		  "ram", NULL);
	add_fails("'..' cannot be a device name", "add", "..", "ram", NULL);
	add_fails("empty device name", "add", "", "ram", NULL);
	add_fails("bad --type value 'net' (blk)", "add", "--type", "net",
		  "d0", "x", NULL);
	add_fails("bad --type value 'net' (blk)", "add", "d0", "x",
		  "--type=net", NULL);
	add_fails("bad --type value 'bl' (once, and spelt out)", "add",
		  "--typ", "bl", "d0", "ram", NULL);
}

static void test_name(void)
{
	char name[300];

	memset(name, 'n', sizeof(name));
	name[255] = '\0';
	CHECK_EQ(vdk_check_name(name, err, sizeof(err)), 0);
	name[255] = 'n';
	name[256] = '\0';
	CHECK_EQ(vdk_check_name(name, err, sizeof(err)), -EINVAL);
	CHECK(!strcmp(err, "device name longer than 255 characters"));
	CHECK_EQ(vdk_check_name("a b", err, sizeof(err)), -EINVAL);
	CHECK_EQ(vdk_check_name("\xc3\xa9", err, sizeof(err)), -EINVAL);
	CHECK_EQ(vdk_check_name("vdk.0:a-b_C", err, sizeof(err)), 0);
}

static void test_uint(void)
{
	unsigned long v;

	CHECK_EQ(vdk_parse_uint("0", 0, 10, &v), 0);
	CHECK_EQ(v, 0);
	CHECK_EQ(vdk_parse_uint("10", 0, 10, &v), 0);
	CHECK_EQ(v, 10);
	CHECK_EQ(vdk_parse_uint("11", 0, 10, &v), -EINVAL);
	CHECK_EQ(vdk_parse_uint(" 1", 0, 10, &v), -EINVAL);
	CHECK_EQ(vdk_parse_uint("+1", 0, 10, &v), -EINVAL);
	CHECK_EQ(vdk_parse_uint("1 ", 0, 10, &v), -EINVAL);
	CHECK_EQ(vdk_parse_uint("", 0, 10, &v), -EINVAL);
	CHECK_EQ(vdk_parse_uint(NULL, 0, 10, &v), -EINVAL);
}

/* The other verbs: parse @words (NULL-terminated) with @fn. */
#define RUN(fn, a, ...)                                                      \
	({                                                                   \
		char *w_[] = { __VA_ARGS__, NULL };                          \
		err[0] = '\0';                                               \
		fn(sizeof(w_) / sizeof(w_[0]) - 1, w_, a, err, sizeof(err)); \
	})

static void test_others(void)
{
	struct vdk_del_args d;
	struct vdk_list_args l;
	struct vdk_resize_args r;
	struct vdk_backends_args b;

	CHECK_EQ(RUN(vdk_args_del, &d, "del", "d0"), 0);
	CHECK(!strcmp(d.name, "d0"));
	CHECK_EQ(d.timeout, 30);
	CHECK_EQ(RUN(vdk_args_del, &d, "del", "--timeout", "7", "d0"), 0);
	CHECK_EQ(d.timeout, 7);
	CHECK_EQ(RUN(vdk_args_del, &d, "del"), -EINVAL);
	CHECK(!strcmp(err, "missing device name"));
	CHECK_EQ(RUN(vdk_args_del, &d, "del", "d0", "d1"), -EINVAL);
	CHECK(!strcmp(err, "unexpected argument 'd1'"));
	CHECK_EQ(RUN(vdk_args_del, &d, "del", "-j", "d0"), -EINVAL);
	CHECK(!strcmp(err, "unknown option '-j'"));
	CHECK_EQ(RUN(vdk_args_del, &d, "del", "--timeout", "x", "d0"),
		 -EINVAL);
	CHECK_EQ(RUN(vdk_args_del, &d, "del", "--help"), 0);
	CHECK(d.help);

	CHECK_EQ(RUN(vdk_args_list, &l, "list"), 0);
	CHECK(!l.name && !l.json);
	CHECK_EQ(RUN(vdk_args_list, &l, "list", "-j", "d0"), 0);
	CHECK(l.json && !strcmp(l.name, "d0"));
	CHECK_EQ(RUN(vdk_args_list, &l, "list", "d0", "--json"), 0);
	CHECK(l.json);
	CHECK_EQ(RUN(vdk_args_list, &l, "list", "d0", "d1"), -EINVAL);
	CHECK_EQ(RUN(vdk_args_list, &l, "list", "a/b"), -EINVAL);

	CHECK_EQ(RUN(vdk_args_resize, &r, "resize", "d0"), 0);
	CHECK(!strcmp(r.name, "d0"));
	CHECK_EQ(RUN(vdk_args_resize, &r, "resize"), -EINVAL);
	CHECK_EQ(RUN(vdk_args_resize, &r, "resize", "-h"), 0);
	CHECK(r.help);

	CHECK_EQ(RUN(vdk_args_backends, &b, "backends", "-j"), 0);
	CHECK(b.json);
	CHECK_EQ(RUN(vdk_args_backends, &b, "backends", "x"), -EINVAL);
}

int main(void)
{
	test_add();
	test_add_errors();
	test_name();
	test_uint();
	test_others();
	return T_EXIT_PASS;
}
