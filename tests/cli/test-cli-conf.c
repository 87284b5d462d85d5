// SPDX-License-Identifier: MIT
/*
 * Declared devices (cli/conf.h): files good and bad, errors with their
 * line, and the command lines of add and recover they become; the
 * options of up and stat.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "args.h"
#include "blk-model.h"
#include "cli.h"
#include "conf.h"
#include "net-model.h"
#include "test.h"

static const struct vdk_model_ops *const models[] = {
	&vdk_model_blk,
	&vdk_model_net,
	NULL,
};

static char err[512];

/* Parse @text and turn it into a command line, joined by spaces. */
static int conv(const char *text, bool takeover, char *out, size_t outlen)
{
	char *extra[] = { "-d", "--timeout", "5" };
	struct vdk_conf c;
	char **argv = NULL;
	int argc = 0, ret;
	size_t used = 0;

	err[0] = '\0';
	out[0] = '\0';
	ret = vdk_conf_parse(text, strlen(text), "/etc/vdk/d0.conf", &c, err,
			     sizeof(err));
	if (ret == 0)
		ret = vdk_conf_argv(&c, "d0", models, takeover, 3, extra,
				    &argc, &argv, err, sizeof(err));
	for (int i = 0; i < argc; i++)
		used += snprintf(out + used, outlen - used, "%s%s",
				 i ? " " : "", argv[i]);
	vdk_conf_argv_free(argc, argv);
	vdk_conf_free(&c);
	return ret;
}

static void good(const char *text, bool takeover, const char *want)
{
	char got[2048];

	if (conv(text, takeover, got, sizeof(got))) {
		fprintf(stderr, "unexpected error: %s\n", err);
		exit(T_EXIT_FAIL);
	}
	if (strcmp(got, want)) {
		fprintf(stderr, "got  '%s'\nwant '%s'\n", got, want);
		exit(T_EXIT_FAIL);
	}
}

static void bad(const char *text, const char *want)
{
	char got[2048];

	CHECK_EQ(conv(text, false, got, sizeof(got)), -EINVAL);
	if (strcmp(err, want)) {
		fprintf(stderr, "got  '%s'\nwant '%s'\n", err, want);
		exit(T_EXIT_FAIL);
	}
}

static void test_good(void)
{
	good("type=blk\nbackend=file\nparam.path=/srv/x.img\n"
	     "param.direct=on\nqueues=2\n",
	     false,
	     "add --type=blk --queues=2 -d --timeout 5 -- d0 file "
	     "path=/srv/x.img direct=on");
	/* Comments, blanks, spaces, params=, flags, daemon keys. */
	good("# disk0\n\n  backend = ram  \nparams=size=64M block-size=4096\n"
	     "read-only=yes\n\tbus=vhost\nuser=vdk\nconfine=no\n"
	     "timeout=60\nlog=/var/log/vdk.log\nserial=abc\r\n",
	     false,
	     "add --type=blk --read-only --bus=vhost --user=vdk "
	     "--no-confine --timeout=60 --log=/var/log/vdk.log "
	     "--serial=abc -d --timeout 5 -- d0 ram size=64M "
	     "block-size=4096");
	good("backend=ram\nring=split\nin-order=yes\n", false,
	     "add --type=blk --ring=split --in-order -d --timeout 5 -- d0 "
	     "ram");
	good("backend=ram\nbounce=kernel\nbounce-size=256M\n", false,
	     "add --type=blk --bounce=kernel --bounce-size=256M -d "
	     "--timeout 5 -- d0 ram");
	good("backend=ram\nin-order=no\n", false,
	     "add --type=blk -d --timeout 5 -- d0 ram");
	good("backend=ram\nparam.size=1G\nread-only=no\nconfine=yes\n", false,
	     "add --type=blk -d --timeout 5 -- d0 ram size=1G");
	good("type=net\nmac=52:54:00:12:34:56\nmtu=9000\n", false,
	     "add --type=net --mac=52:54:00:12:34:56 --mtu=9000 -d "
	     "--timeout 5 -- d0");
	good("type=net\nbackend=tap\nparam.ifname=tap1\n", false,
	     "add --type=net -d --timeout 5 -- d0 tap ifname=tap1");
	/* A value may hold '=' and spaces. */
	good("backend=file\nparam.path=/srv/a b=c.img\n", false,
	     "add --type=blk -d --timeout 5 -- d0 file path=/srv/a b=c.img");
	/* recover: the daemon's settings only, the rest is the state's. */
	good("backend=file\nparam.path=/x\nqueues=4\nuser=vdk\nbus=vhost\n",
	     true, "recover --user=vdk --bus=vhost -d --timeout 5 -- d0");
}

static void test_bad(void)
{
	const char *f = "/etc/vdk/d0.conf";
	char want[256];

#define BAD(text, line, msg)                                                 \
	do {                                                                 \
		snprintf(want, sizeof(want), "%s:%d: %s", f, line, msg);     \
		bad(text, want);                                             \
	} while (0)

	BAD("backend=ram\nsize 64M\n", 2, "expected KEY=VALUE, not 'size 64M'");
	BAD("backend=ram\nbounce=yes\n", 2, "bounce: 'yes' is not umem or kernel");
	BAD("backend=ram\nbounce-size=2G\n", 2,
	    "bounce-size: '2G' is not whole 4 KiB pages, 1M..1G");
	BAD("backend=ram\n\n\nqueues=\n", 4, "'queues' has no value");
	BAD("=x\n", 1, "bad key ''");
	BAD("back end=ram\n", 1, "bad key 'back end'");
	BAD("backend=ram\ncolour=red\n", 2, "unknown key 'colour'");
	BAD("type=scsi\n", 1, "type: no device model 'scsi'");
	BAD("backend=ram\nqueues=99\n", 2, "bad --queues value '99' (1..64)");
	BAD("# x\nbackend=ram\nread-only=maybe\n", 3,
	    "read-only: 'maybe' is not yes or no");
	BAD("backend=ram\nbus=pci\n", 2, "bus: 'pci' is not virtio or vhost");
	BAD("backend=ram\nring=ring\n", 2,
	    "ring: 'ring' is not split or packed");
	BAD("backend=ram\nin-order=maybe\n", 2,
	    "in-order: 'maybe' is not yes or no");
	BAD("backend=ram\ntimeout=0\n", 2,
	    "timeout: '0' is not 1..3600 seconds");
	BAD("backend=ram\nconfine=perhaps\n", 2,
	    "confine: 'perhaps' is not yes or no");
	BAD("backend=ram\nparams=size=1M junk\n", 2,
	    "params: 'junk' is not KEY=VALUE");
	BAD("backend=ram\nparam.=1\n", 2, "'param.' names no parameter");
	BAD("backend=ram\nqueues=2\n\nqueues=3\n", 4,
	    "'queues' again (first on line 2)");
	/* A net option in a blk device's file, and back. */
	BAD("backend=ram\nmtu=9000\n", 2, "unknown key 'mtu'");
	BAD("type=net\nqueues=2\n", 2, "unknown key 'queues'");
	BAD("type=net\nmtu=10\n", 2, "bad --mtu value '10' (68..65535)");
	snprintf(want, sizeof(want),
		 "%s: backend parameters and no backend= line", f);
	bad("param.size=1M\n", want);
	/* A NUL byte, a line too long. */
	{
		struct vdk_conf c;
		char *big = malloc(VDK_CONF_LINE_MAX + 16);

		CHECK_EQ(vdk_conf_parse("a=1\nb=\0\n", 8, f, &c, err,
					sizeof(err)), -EINVAL);
		CHECK(!strcmp(err, "/etc/vdk/d0.conf:2: a NUL byte"));
		vdk_conf_free(&c);
		memset(big, 'x', VDK_CONF_LINE_MAX + 8);
		memcpy(big, "a=", 2);
		CHECK_EQ(vdk_conf_parse(big, VDK_CONF_LINE_MAX + 8, f, &c, err,
					sizeof(err)), -EINVAL);
		CHECK(strstr(err, ":1: line longer than"));
		vdk_conf_free(&c);
		free(big);
	}
#undef BAD
}

static void test_load(void)
{
	char dir[] = "/tmp/vdk-test-conf-XXXXXX", path[128];
	struct vdk_conf c;
	FILE *f;

	CHECK(mkdtemp(dir));
	setenv("VDK_CONF_DIR", dir, 1);
	CHECK_EQ(vdk_conf_load("d0", &c, err, sizeof(err)), -ENOENT);
	CHECK(strstr(err, "cannot read ") && strstr(err, "/d0.conf"));
	vdk_conf_free(&c);
	snprintf(path, sizeof(path), "%s/d0.conf", dir);
	f = fopen(path, "w");
	CHECK(f);
	fputs("backend=ram\nparam.size=1M\n", f);
	fclose(f);
	CHECK_EQ(vdk_conf_load("d0", &c, err, sizeof(err)), 0);
	CHECK_EQ(c.n, 2);
	CHECK(!strcmp(c.items[1].key, "param.size"));
	CHECK_EQ(c.items[1].line, 2);
	CHECK(!strcmp(c.path, path));
	vdk_conf_free(&c);
	unlink(path);
	rmdir(dir);
	unsetenv("VDK_CONF_DIR");
}

/* The options of up (passed on as they are) and of stat. */
static void test_args(void)
{
	char w[8][32];
	char *argv[9];
	struct vdk_up_args u;
	struct vdk_stat_args s;

#define ARGV(...)                                                            \
	({                                                                   \
		const char *src_[] = { __VA_ARGS__, NULL };                  \
		int n_ = 0;                                                  \
		for (; src_[n_]; n_++) {                                     \
			snprintf(w[n_], sizeof(w[n_]), "%s", src_[n_]);      \
			argv[n_] = w[n_];                                    \
		}                                                            \
		argv[n_] = NULL;                                             \
		n_;                                                          \
	})

	CHECK_EQ(vdk_args_up(ARGV("up", "d0", "-d", "--timeout", "9"), argv,
			     &u, err, sizeof(err)), 0);
	CHECK(!strcmp(u.name, "d0"));
	CHECK_EQ(u.nopts, 3);
	CHECK(!strcmp(u.opts[0], "-d") && !strcmp(u.opts[2], "9"));
	CHECK_EQ(vdk_args_up(ARGV("up", "--", "d0"), argv, &u, err,
			     sizeof(err)), 0);
	CHECK_EQ(u.nopts, 0);
	CHECK_EQ(vdk_args_up(ARGV("up", "-q", "2", "d0"), argv, &u, err,
			     sizeof(err)), -EINVAL);
	CHECK(!strcmp(err, "unknown option '-q'"));
	CHECK_EQ(vdk_args_up(ARGV("up"), argv, &u, err, sizeof(err)),
		 -EINVAL);
	CHECK_EQ(vdk_args_up(ARGV("up", "d0", "d1"), argv, &u, err,
			     sizeof(err)), -EINVAL);

	CHECK_EQ(vdk_args_stat(ARGV("stat"), argv, &s, err, sizeof(err)), 0);
	CHECK(!s.name && !s.interval && !s.json);
	CHECK_EQ(vdk_args_stat(ARGV("stat", "-j", "disk0"), argv, &s, err,
			       sizeof(err)), 0);
	CHECK(s.json && !strcmp(s.name, "disk0") && !s.interval);
	CHECK_EQ(vdk_args_stat(ARGV("stat", "5"), argv, &s, err,
			       sizeof(err)), 0);
	CHECK(!s.name && s.interval == 5);
	CHECK_EQ(vdk_args_stat(ARGV("stat", "7", "2"), argv, &s, err,
			       sizeof(err)), 0);
	CHECK(!strcmp(s.name, "7") && s.interval == 2);
	CHECK_EQ(vdk_args_stat(ARGV("stat", "-c", "3", "d0"), argv, &s, err,
			       sizeof(err)), 0);
	CHECK(s.count == 3 && s.interval == 1);
	CHECK_EQ(vdk_args_stat(ARGV("stat", "d0", "0"), argv, &s, err,
			       sizeof(err)), -EINVAL);
	CHECK_EQ(vdk_args_stat(ARGV("stat", "d0", "1", "x"), argv, &s, err,
			       sizeof(err)), -EINVAL);
#undef ARGV
}

int main(void)
{
	test_good();
	test_bad();
	test_load();
	test_args();
	return T_EXIT_PASS;
}
