// SPDX-License-Identifier: MIT
/*
 * The state files of the vdk command (/run/vdk/NAME.json) and the checks on
 * the processes named in them.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "json-util.h"
#include "state.h"
#include "sysfs.h"
#include "test.h"

static char top[4096];

static void sample(struct vdk_state *st)
{
	memset(st, 0, sizeof(*st));
	st->pid = 1234;
	st->name = strdup("disk0");
	st->type = strdup("blk");
	st->backend = strdup("file");
	st->nparams = 2;
	st->params[0].key = strdup("path");
	st->params[0].value = strdup("/srv/a \"b\"\n\xc3\xa9.img");
	st->params[1].key = strdup("direct");
	st->params[1].value = strdup("on");
	st->size = 1ULL << 40;
	st->block_size = 4096;
	st->queues = 4;
	st->queue_size = 128;
	st->read_only = true;
	st->features = 0x1f1001044ull;
	st->driver_features = 0x510000044ull;
	st->vduse_api = 1;
	st->vduse_features = 3;
	st->bounce_kernel = true;
	st->bus = strdup("virtio");
	st->node = strdup("/dev/vda");
}

static void check_same(const struct vdk_state *a, const struct vdk_state *b)
{
	CHECK_EQ(a->pid, b->pid);
	CHECK(!strcmp(a->name, b->name));
	CHECK(!strcmp(a->type, b->type));
	CHECK(!strcmp(a->backend, b->backend));
	CHECK_EQ(a->nparams, b->nparams);
	for (unsigned int i = 0; i < a->nparams; i++) {
		CHECK(!strcmp(a->params[i].key, b->params[i].key));
		CHECK(!strcmp(a->params[i].value, b->params[i].value));
	}
	CHECK_EQ(a->size, b->size);
	CHECK_EQ(a->block_size, b->block_size);
	CHECK_EQ(a->queues, b->queues);
	CHECK_EQ(a->queue_size, b->queue_size);
	CHECK_EQ(a->read_only, b->read_only);
	CHECK_EQ(a->features, b->features);
	CHECK_EQ(a->driver_features, b->driver_features);
	CHECK_EQ(a->vduse_api, b->vduse_api);
	CHECK_EQ(a->vduse_features, b->vduse_features);
	CHECK_EQ(a->bounce_kernel, b->bounce_kernel);
	CHECK(!strcmp(a->bus, b->bus));
	CHECK(!strcmp(a->node, b->node));
}

/* @st as the state file holds it: one line, in a new buffer. */
static char *format(const struct vdk_state *st, size_t *len)
{
	char *buf = NULL;
	FILE *f;

	f = open_memstream(&buf, len);
	CHECK(f);
	CHECK_EQ(vdk_state_format(st, f), 0);
	CHECK(fclose(f) == 0);
	return buf;
}

static void test_roundtrip(void)
{
	struct vdk_state st, back;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	sample(&st);
	f = open_memstream(&buf, &len);
	CHECK(f);
	CHECK_EQ(vdk_state_format(&st, f), 0);
	CHECK(fclose(f) == 0);
	CHECK(len > 0 && buf[len - 1] == '\n');
	CHECK(strchr(buf, '\n') == buf + len - 1);  /* one line */
	CHECK_EQ(vdk_state_parse(buf, len, &back, NULL, 0), 0);
	check_same(&st, &back);
	vdk_state_free(&back);
	CHECK(back.name == NULL && back.nparams == 0);
	free(buf);

	/* Through the run directory. */
	CHECK_EQ(vdk_state_write(&st), 0);
	CHECK_EQ(vdk_state_read("disk0", &back, NULL, 0), 0);
	check_same(&st, &back);
	vdk_state_free(&back);
	CHECK_EQ(vdk_state_read("disk1", &back, NULL, 0), -ENOENT);
	CHECK_EQ(vdk_state_remove("disk0"), 0);
	CHECK_EQ(vdk_state_read("disk0", &back, NULL, 0), -ENOENT);
	CHECK_EQ(vdk_state_remove("disk0"), 0);
	vdk_state_free(&st);
}

/* A confined daemon's state: "confinement" both ways; absent, nothing. */
static void test_confinement(void)
{
	struct vdk_state st, back;
	size_t len = 0;
	char *buf;

	sample(&st);
	st.confined = true;
	st.confine = (struct vdk_state_confine){
		.server_pid = 4242, .uid = 999, .no_new_privs = true,
		.seccomp = true, .syscalls = 97, .landlock_abi = 6,
	};
	buf = format(&st, &len);
	CHECK(strstr(buf, "\"seccomp\":\"kill\""));
	CHECK_EQ(vdk_state_parse(buf, len, &back, NULL, 0), 0);
	check_same(&st, &back);
	CHECK(back.confined);
	CHECK_EQ(back.confine.server_pid, 4242);
	CHECK_EQ(back.confine.uid, 999);
	CHECK(back.confine.no_new_privs && back.confine.seccomp);
	CHECK(!back.confine.seccomp_log_only);
	CHECK_EQ(back.confine.syscalls, 97);
	CHECK_EQ(back.confine.landlock_abi, 6);
	vdk_state_free(&back);
	free(buf);
	st.confined = false;
	buf = format(&st, &len);
	CHECK(!strstr(buf, "confinement"));
	CHECK_EQ(vdk_state_parse(buf, len, &back, NULL, 0), 0);
	CHECK(!back.confined);
	vdk_state_free(&back);
	free(buf);
	vdk_state_free(&st);
}

static void check_parse(const char *doc, int want)
{
	struct vdk_state st;
	int ret = vdk_state_parse(doc, strlen(doc), &st, NULL, 0);

	if (ret != want) {
		fprintf(stderr, "'%s': got %d, want %d\n", doc, ret, want);
		exit(T_EXIT_FAIL);
	}
	vdk_state_free(&st);
}

/* A file of the version before "type": a blk device's. */
static void test_no_type(void)
{
	static const char doc[] =
		"{\"pid\":7,\"name\":\"d1\",\"backend\":\"ram\","
		"\"params\":{\"size\":\"2M\"},\"size\":2097152,"
		"\"block_size\":512,\"queues\":2,\"queue_size\":256,"
		"\"read_only\":false,\"bus\":\"virtio\","
		"\"node\":\"/dev/vdc\"}\n";
	struct vdk_state st;

	CHECK_EQ(vdk_state_parse(doc, strlen(doc), &st, NULL, 0), 0);
	CHECK(!strcmp(st.type, "blk"));
	CHECK(!strcmp(st.backend, "ram"));
	CHECK_EQ(st.queues, 2);
	/* No features: split rings alone, as vdk offered then. */
	CHECK_EQ(st.features, 0);
	vdk_state_free(&st);
	CHECK(st.type == NULL);
}

static void test_parse(void)
{
	/* Unknown keys are skipped; what is missing stays zero. */
	check_parse("{\"pid\":1,\"name\":\"a\",\"future\":[1,{\"x\":2}]}", 0);
	check_parse("{\"name\":\"a\"}", -EINVAL);           /* no pid */
	check_parse("{\"pid\":1}", -EINVAL);                /* no name */
	check_parse("{\"pid\":0,\"name\":\"a\"}", -EINVAL);
	check_parse("{\"pid\":4294967296,\"name\":\"a\"}", -EINVAL);
	check_parse("{\"pid\":\"1\",\"name\":\"a\"}", -EINVAL);
	check_parse("{\"pid\":1,\"name\":\"a\",\"block_size\":4294967296}",
		    -EINVAL);
	check_parse("{\"pid\":1,\"name\":\"a\",\"params\":{\"k\":1}}",
		    -EINVAL);
	check_parse("{\"pid\":1,\"name\":\"a\",\"params\":[]}", -EINVAL);
	check_parse("{\"pid\":1,\"name\":\"a\"", -EINVAL);
	check_parse("{\"pid\":1,\"name\":\"a\"}{}", -EINVAL);
	check_parse("", -EINVAL);
	check_parse("{\"pid\":1,\"name\":\"a\",\"name\":\"b\"}", 0);
}

/* @st as the .expect files of state-files/ write it. */
static void dump_str(FILE *f, const char *k, const char *s)
{
	fprintf(f, "%s=", k);
	if (!s) {
		fputs("(none)\n", f);
		return;
	}
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p < 0x20 || *p >= 0x7f || *p == '\\')
			fprintf(f, "\\x%02x", *p);
		else
			fputc(*p, f);
	}
	fputc('\n', f);
}

static char *dump(const struct vdk_state *st, int ret)
{
	const struct vdk_state_confine *c = &st->confine;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	CHECK(f);
	if (ret) {
		fprintf(f, "error=%d\n", ret);
		CHECK(fclose(f) == 0);
		return buf;
	}
	fprintf(f, "pid=%d\n", st->pid);
	dump_str(f, "name", st->name);
	dump_str(f, "type", st->type);
	dump_str(f, "backend", st->backend);
	for (unsigned int j = 0; j < st->nparams; j++) {
		dump_str(f, "param", st->params[j].key);
		dump_str(f, "value", st->params[j].value);
	}
	fprintf(f, "size=%llu\nblock_size=%u\nqueues=%u\nqueue_size=%u\n"
		"read_only=%d\n", (unsigned long long)st->size,
		st->block_size, st->queues, st->queue_size, st->read_only);
	dump_str(f, "bus", st->bus);
	dump_str(f, "node", st->node);
	fprintf(f, "confined=%d\n", st->confined);
	if (st->confined)
		fprintf(f, "server_pid=%d\nuid=%u\nno_new_privs=%d\n"
			"seccomp=%d\nseccomp_log_only=%d\nsyscalls=%u\n"
			"landlock_abi=%u\n", c->server_pid, c->uid,
			c->no_new_privs, c->seccomp, c->seccomp_log_only,
			c->syscalls, c->landlock_abi);
	CHECK(fclose(f) == 0);
	return buf;
}

/* A whole file into a new buffer (NUL-terminated too). */
static char *slurp(const char *dir, const char *name, size_t *len)
{
	char path[8192], *buf;
	FILE *f;
	long n;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "rb");
	if (!f) {
		perror(path);
		exit(T_EXIT_FAIL);
	}
	CHECK(fseek(f, 0, SEEK_END) == 0);
	n = ftell(f);
	CHECK(n >= 0);
	rewind(f);
	buf = malloc(n + 1);
	CHECK(buf);
	CHECK(fread(buf, 1, n, f) == (size_t)n);
	buf[n] = '\0';
	fclose(f);
	*len = n;
	return buf;
}

/* Parse @doc expecting -EINVAL with a reason, or 0 with a sound state. */
static int parse_checked(const char *doc, size_t len)
{
	char why[256] = "unset";
	struct vdk_state st;
	int ret;

	ret = vdk_state_parse(doc, len, &st, why, sizeof(why));
	if (ret == 0) {
		CHECK(st.name && st.type && st.pid > 0);
		CHECK(st.nparams <= VDK_STATE_PARAMS);
		vdk_state_free(&st);
	} else {
		CHECK_EQ(ret, -EINVAL);
		if (!why[0] || !strcmp(why, "unset")) {
			fprintf(stderr, "no reason for '%.*s'\n", (int)len,
				doc);
			exit(T_EXIT_FAIL);
		}
		CHECK(st.name == NULL && st.nparams == 0);
	}
	return ret;
}

/*
 * State files of earlier versions (state-files/README.md) read as they
 * did; those that vdk wrote are written again byte for byte, and each of
 * them cut short anywhere is refused.
 */
static void test_old_files(const char *dir)
{
	static const char *const files[] = {
		"blk-file", "blk-nbd-confined", "net-vhost", "blk-nulls",
		"odd-before-type", "odd-unknown-keys", "odd-minimal",
		"odd-pretty", "odd-dup-keys",
	};
	/* Written by the old writer, and by this one the same. */
	static const char *const same[] = {
		"blk-nbd-confined", "net-vhost", "blk-nulls",
	};

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char name[64], *doc, *want, *got, *again;
		size_t len, wlen, alen = 0, end;
		struct vdk_state st;
		FILE *f;
		int ret;

		snprintf(name, sizeof(name), "%s.json", files[i]);
		doc = slurp(dir, name, &len);
		snprintf(name, sizeof(name), "%s.expect", files[i]);
		want = slurp(dir, name, &wlen);
		ret = vdk_state_parse(doc, len, &st, NULL, 0);
		got = dump(&st, ret);
		if (strcmp(got, want)) {
			fprintf(stderr, "%s: read as\n%s\nnot as\n%s\n",
				files[i], got, want);
			exit(T_EXIT_FAIL);
		}
		free(got);
		CHECK_EQ(ret, 0);

		/* Written again and read back: the same state. */
		again = NULL;
		f = open_memstream(&again, &alen);
		CHECK(f);
		CHECK_EQ(vdk_state_format(&st, f), 0);
		CHECK(fclose(f) == 0);
		vdk_state_free(&st);
		CHECK_EQ(vdk_state_parse(again, alen, &st, NULL, 0), 0);
		got = dump(&st, 0);
		CHECK(!strcmp(got, want));
		free(got);
		vdk_state_free(&st);
		for (size_t j = 0; j < sizeof(same) / sizeof(same[0]); j++) {
			if (strcmp(files[i], same[j]))
				continue;
			if (alen != len || memcmp(again, doc, len)) {
				fprintf(stderr, "%s: written as\n%s", files[i],
					again);
				exit(T_EXIT_FAIL);
			}
		}
		free(again);

		/* Cut short: refused, up to the closing brace. */
		end = len;
		while (end > 0 && doc[end - 1] != '}')
			end--;
		CHECK(end > 0);
		for (size_t cut = 0; cut < end; cut++)
			CHECK_EQ(parse_checked(doc, cut), -EINVAL);
		free(doc);
		free(want);
	}
}

/* What no vdk wrote: a clear -EINVAL, never a crash. */
static void test_hostile(void)
{
	static const char *const bad[] = {
		/* Numbers too large, negative, not integers. */
		"{\"pid\":1,\"name\":\"a\",\"size\":18446744073709551616}",
		"{\"pid\":1,\"name\":\"a\",\"size\":999999999999999999999999}",
		"{\"pid\":1,\"name\":\"a\",\"size\":18446744073709551615}",
		"{\"pid\":1,\"name\":\"a\",\"size\":-1}",
		"{\"pid\":1,\"name\":\"a\",\"size\":1.0}",
		"{\"pid\":1,\"name\":\"a\",\"size\":1e3}",
		"{\"pid\":1,\"name\":\"a\",\"size\":1E400}",
		"{\"pid\":1,\"name\":\"a\",\"size\":0x10}",
		"{\"pid\":1,\"name\":\"a\",\"size\":NaN}",
		"{\"pid\":1,\"name\":\"a\",\"queues\":4294967296}",
		"{\"pid\":2147483648,\"name\":\"a\"}",
		"{\"pid\":-9223372036854775809,\"name\":\"a\"}",
		"{\"pid\":1,\"name\":\"a\",\"confinement\":{\"uid\":-1}}",
		/* Wrong types. */
		"{\"pid\":true,\"name\":\"a\"}",
		"{\"pid\":1,\"name\":1}",
		"{\"pid\":1,\"name\":[]}",
		"{\"pid\":1,\"name\":{}}",
		"{\"pid\":1,\"name\":null}",
		"{\"pid\":null,\"name\":\"a\"}",
		"{\"pid\":1,\"name\":\"a\",\"params\":\"x\"}",
		"{\"pid\":1,\"name\":\"a\",\"params\":{\"k\":1}}",
		"{\"pid\":1,\"name\":\"a\",\"params\":{\"k\":null}}",
		"{\"pid\":1,\"name\":\"a\",\"read_only\":1}",
		"{\"pid\":1,\"name\":\"a\",\"read_only\":\"true\"}",
		"{\"pid\":1,\"name\":\"a\",\"confinement\":[]}",
		"{\"pid\":1,\"name\":\"a\",\"confinement\":{\"seccomp\":1}}",
		"[{\"pid\":1,\"name\":\"a\"}]",
		"\"a\"",
		"1 ",
		"null",
		/* A NUL inside a string, or after the value. */
		"{\"pid\":1,\"name\":\"a\\u0000b\"}",
		"{\"pid\":1,\"name\":\"a\",\"params\":{\"k\":\"\\u0000\"}}",
		/* Not JSON. */
		"",
		"   \n",
		"{\"pid\":1 \"name\":\"a\"}",
		"{\"pid\":1,\"name\":\"a\"} x",
		"{\"pid\":1,\"name\":\"a\"}{}",
		"{\"pid\":1,\"name\":\"a\\x\"}",
		"{pid:1,\"name\":\"a\"}",
		"{\"pid\":1,\"name\":\"a\",\"x\":tru}",
		"{\"pid\":1,\"name\":\"a\",\"x\":+1}",
		"{\"pid\":1,\"name\":\"a\",\"x\":.5}",
	};
	/*
	 * Not JSON but json-c's syntax without its strict mode (json-util.h):
	 * read, the same with json-c 0.16 and 0.18.
	 */
	static const char *const lenient[] = {
		"{\"pid\":1,\"name\":\"a\",\"size\":007}",
		"{\"pid\":1,\"name\":\"a\",}",
		"{\"pid\":1,\"name\":\"a\",\"x\":[1,]}",
		"{'pid':1,'name':'a'}",
		"{\"pid\":1,/* c */\"name\":\"a\"}// c",
		"{\"pid\":1,\"name\":\"a\tb\"}",
		"{\"pid\":1,\"name\":\"a\",\"x\":[NaN,Infinity,True,1.]}",
	};
	char doc[70000];
	size_t n, i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_EQ(parse_checked(bad[i], strlen(bad[i])), -EINVAL);
	for (i = 0; i < sizeof(lenient) / sizeof(lenient[0]); i++)
		CHECK_EQ(parse_checked(lenient[i], strlen(lenient[i])), 0);
	/* NULs in the buffer: inside a string, after the value. */
	CHECK_EQ(parse_checked("{\"pid\":1,\"name\":\"a\0b\"}", 23), -EINVAL);
	CHECK_EQ(parse_checked("{\"pid\":1,\"name\":\"a\"}\0", 21), -EINVAL);

	/*
	 * Deep nesting under an unknown key: to the limit (the top object
	 * and @depth arrays), and beyond.
	 */
	static const int depths[] = {
		VDK_JSON_DEPTH - 2, VDK_JSON_DEPTH - 1, VDK_JSON_DEPTH, 30000,
	};

	for (size_t d = 0; d < sizeof(depths) / sizeof(depths[0]); d++) {
		int depth = depths[d];

		n = (size_t)snprintf(doc, sizeof(doc),
				     "{\"pid\":1,\"name\":\"a\",\"x\":");
		for (i = 0; i < (size_t)depth; i++)
			doc[n++] = '[';
		for (i = 0; i < (size_t)depth; i++)
			doc[n++] = ']';
		doc[n++] = '}';
		CHECK_EQ(parse_checked(doc, n),
			 depth + 1 <= VDK_JSON_DEPTH ? 0 : -EINVAL);
	}

	/* Strings up to 4095 bytes; parameters up to VDK_STATE_PARAMS. */
	for (size_t len = 4095; len <= 4096; len++) {
		n = (size_t)snprintf(doc, sizeof(doc),
				     "{\"pid\":1,\"name\":\"");
		memset(doc + n, 'x', len);
		n += len;
		n += (size_t)snprintf(doc + n, sizeof(doc) - n, "\"}");
		CHECK_EQ(parse_checked(doc, n), len < 4096 ? 0 : -EINVAL);
	}
	for (int np = VDK_STATE_PARAMS; np <= VDK_STATE_PARAMS + 1; np++) {
		n = (size_t)snprintf(doc, sizeof(doc),
				     "{\"pid\":1,\"name\":\"a\",\"params\":{");
		for (int k = 0; k < np; k++)
			n += (size_t)snprintf(doc + n, sizeof(doc) - n,
					      "%s\"k%d\":\"v\"", k ? "," : "",
					      k);
		n += (size_t)snprintf(doc + n, sizeof(doc) - n, "}}");
		CHECK_EQ(parse_checked(doc, n),
			 np <= VDK_STATE_PARAMS ? 0 : -EINVAL);
	}
}

/* Bytes of the old files changed at random: read or refused, no crash. */
static void test_mangled(const char *dir)
{
	unsigned int seed = 7;
	size_t len;
	char *doc = slurp(dir, "blk-nbd-confined.json", &len);
	char *copy = malloc(len);

	CHECK(copy);
	for (int iter = 0; iter < 20000; iter++) {
		memcpy(copy, doc, len);
		for (int k = 1 + rand_r(&seed) % 4; k > 0; k--)
			copy[rand_r(&seed) % len] = (char)rand_r(&seed);
		parse_checked(copy, len);
	}
	free(copy);
	free(doc);
}

static void test_bad_file(void)
{
	enum { BIG = 300 * 1024 };
	static const char good[] = "{\"pid\":1,\"name\":\"bad\"}";
	struct vdk_state st;
	char path[8192], why[256];
	char *big;

	snprintf(path, sizeof(path), "%s/bad.json", vdk_root(VDK_ROOT_RUN));
	CHECK_EQ(vdk_file_replace(path, "{\"pid\":", 7, 0644), 0);
	CHECK_EQ(vdk_state_read("bad", &st, why, sizeof(why)), -EINVAL);
	CHECK(strstr(why, "truncated"));
	/* A file whose name and contents disagree. */
	CHECK_EQ(vdk_file_replace(path, "{\"pid\":1,\"name\":\"x\"}", 20,
				  0644), 0);
	CHECK_EQ(vdk_state_read("bad", &st, why, sizeof(why)), -EINVAL);
	CHECK(strstr(why, "names device 'x'"));
	/* Too large to be one: refused, not read in part. */
	big = malloc(BIG);
	CHECK(big);
	memset(big, ' ', BIG);
	memcpy(big, good, strlen(good));
	CHECK_EQ(vdk_file_replace(path, big, strlen(good) + 100, 0644), 0);
	CHECK_EQ(vdk_state_read("bad", &st, why, sizeof(why)), 0);
	vdk_state_free(&st);
	CHECK_EQ(vdk_file_replace(path, big, BIG, 0644), 0);
	CHECK_EQ(vdk_state_read("bad", &st, why, sizeof(why)), -EINVAL);
	CHECK(strstr(why, "larger than"));
	free(big);
	CHECK_EQ(vdk_state_remove("bad"), 0);
}

static void test_pids(void)
{
	char path[8192], self[32];
	pid_t pid;
	int fd, status;

	/* This very program counts: same executable. */
	CHECK(vdk_pid_is_vdk(getpid()));
	CHECK(!vdk_pid_is_vdk(0));
	CHECK(!vdk_pid_is_vdk(-1));
	CHECK(!vdk_pid_is_vdk(1 << 30));

	/* Not a vdk: sleep (once it has replaced our copy). */
	CHECK(vdk_file_read("/proc/self/comm", self, sizeof(self)) > 0);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		execlp("sleep", "sleep", "5", (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 200; i++) {
		char comm[32];

		snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
		if (vdk_file_read(path, comm, sizeof(comm)) > 0 &&
		    strcmp(comm, self))
			break;
		usleep(10000);
	}
	CHECK(!vdk_pid_is_vdk(pid));
	kill(pid, SIGKILL);
	CHECK(waitpid(pid, &status, 0) == pid);

	/* A zombie of ours is not alive. */
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0)
		_exit(0);
	for (int i = 0; i < 200 && vdk_pid_is_vdk(pid); i++)
		usleep(10000);
	CHECK(!vdk_pid_is_vdk(pid));
	CHECK(waitpid(pid, &status, 0) == pid);

	/* Who holds a file open. */
	snprintf(path, sizeof(path), "%s/held", top);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	CHECK(fd >= 0);
	CHECK_EQ(vdk_find_holder(path), getpid());
	close(fd);
	CHECK_EQ(vdk_find_holder(path), 0);
}

int main(int argc, char **argv)
{
	const char *tmp = getenv("TMPDIR");
	char cmd[8300];

	snprintf(top, sizeof(top), "%s/vdk-state-XXXXXX",
		 tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(top)) {
		perror("mkdtemp");
		return T_EXIT_SKIP;
	}
	snprintf(cmd, sizeof(cmd), "%s/run/vdk", top);
	setenv("VDK_RUN_DIR", cmd, 1);
	test_roundtrip();
	test_confinement();
	test_no_type();
	test_parse();
	if (argc > 1) {
		test_old_files(argv[1]);
		test_mangled(argv[1]);
	}
	test_hostile();
	test_bad_file();
	test_pids();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", top);
	CHECK(system(cmd) == 0);
	return T_EXIT_PASS;
}
