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
	vdk_state_format(st, f);
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
	vdk_state_format(&st, f);
	CHECK(fclose(f) == 0);
	CHECK(len > 0 && buf[len - 1] == '\n');
	CHECK(strchr(buf, '\n') == buf + len - 1);  /* one line */
	CHECK_EQ(vdk_state_parse(buf, len, &back), 0);
	check_same(&st, &back);
	vdk_state_free(&back);
	CHECK(back.name == NULL && back.nparams == 0);
	free(buf);

	/* Through the run directory. */
	CHECK_EQ(vdk_state_write(&st), 0);
	CHECK_EQ(vdk_state_read("disk0", &back), 0);
	check_same(&st, &back);
	vdk_state_free(&back);
	CHECK_EQ(vdk_state_read("disk1", &back), -ENOENT);
	CHECK_EQ(vdk_state_remove("disk0"), 0);
	CHECK_EQ(vdk_state_read("disk0", &back), -ENOENT);
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
	CHECK_EQ(vdk_state_parse(buf, len, &back), 0);
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
	CHECK_EQ(vdk_state_parse(buf, len, &back), 0);
	CHECK(!back.confined);
	vdk_state_free(&back);
	free(buf);
	vdk_state_free(&st);
}

static void check_parse(const char *doc, int want)
{
	struct vdk_state st;
	int ret = vdk_state_parse(doc, strlen(doc), &st);

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

	CHECK_EQ(vdk_state_parse(doc, strlen(doc), &st), 0);
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

static void test_bad_file(void)
{
	struct vdk_state st;
	char path[8192];

	snprintf(path, sizeof(path), "%s/bad.json", vdk_root(VDK_ROOT_RUN));
	CHECK_EQ(vdk_file_replace(path, "{\"pid\":", 7, 0644), 0);
	CHECK_EQ(vdk_state_read("bad", &st), -EINVAL);
	/* A file whose name and contents disagree. */
	CHECK_EQ(vdk_file_replace(path, "{\"pid\":1,\"name\":\"x\"}", 20,
				  0644), 0);
	CHECK_EQ(vdk_state_read("bad", &st), -EINVAL);
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

int main(void)
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
	test_bad_file();
	test_pids();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", top);
	CHECK(system(cmd) == 0);
	return T_EXIT_PASS;
}
