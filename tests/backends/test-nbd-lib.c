/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test-nbd-lib.h"

#define MAX_SERVERS 16

static char tmp_dir[64];
static pid_t servers[MAX_SERVERS];
static char paths[8][128];

double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* At exit, also after a failed CHECK: no server outlives the test. */
static void cleanup(void)
{
	char cmd[128];
	int i;

	for (i = 0; i < MAX_SERVERS; i++) {
		if (servers[i] > 0) {
			kill(servers[i], SIGKILL);
			waitpid(servers[i], NULL, 0);
			servers[i] = 0;
		}
	}
	if (tmp_dir[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp_dir);
		if (system(cmd)) {
			/* nothing more to do */
		}
	}
}

void nbd_test_init(void)
{
	int status = system("nbdkit --version >/dev/null 2>&1");

	if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status)) {
		fprintf(stderr, "nbdkit is not installed: skipped\n");
		exit(T_EXIT_SKIP);
	}
	/* A dying connection must not kill the test. */
	signal(SIGPIPE, SIG_IGN);
	snprintf(tmp_dir, sizeof(tmp_dir), "/tmp/vdk-nbd-XXXXXX");
	CHECK(mkdtemp(tmp_dir));
	atexit(cleanup);
}

const char *tmp_path(const char *name)
{
	static unsigned int next;
	char *p = paths[next++ % 8];

	snprintf(p, sizeof(paths[0]), "%s/%s", tmp_dir, name);
	return p;
}

/* nbdkit writes its pid file once it accepts connections. */
static bool ready(const char *pidfile)
{
	struct stat st;

	return !stat(pidfile, &st) && st.st_size > 0;
}

void srv_start(struct srv *s, const char *name, const char *const *args)
{
	const char *argv[64];
	char pidfile[128];
	double deadline;
	int n = 0, i, status;

	memset(s, 0, sizeof(*s));
	snprintf(s->sock, sizeof(s->sock), "%s", tmp_path(name));
	snprintf(s->uri, sizeof(s->uri), "nbd+unix:///?socket=%s", s->sock);
	snprintf(s->param, sizeof(s->param), "uri=%s", s->uri);
	snprintf(pidfile, sizeof(pidfile), "%s.pid", s->sock);
	/* A server killed with SIGKILL leaves its socket behind. */
	unlink(s->sock);
	unlink(pidfile);
	argv[n++] = "nbdkit";
	argv[n++] = "-f";
	argv[n++] = "--exit-with-parent";
	argv[n++] = "-U";
	argv[n++] = s->sock;
	argv[n++] = "-P";
	argv[n++] = pidfile;
	while (*args && n < 62)
		argv[n++] = *args++;
	argv[n] = NULL;

	s->pid = fork();
	CHECK(s->pid >= 0);
	if (!s->pid) {
		execvp("nbdkit", (char *const *)argv);
		_exit(127);
	}
	for (i = 0; i < MAX_SERVERS && servers[i] > 0; i++)
		;
	CHECK(i < MAX_SERVERS);
	servers[i] = s->pid;

	deadline = now_s() + 10;
	while (!ready(pidfile)) {
		CHECK(now_s() < deadline);
		if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
			fprintf(stderr, "nbdkit exited early (status %d)\n",
				status);
			servers[i] = 0;
			exit(T_EXIT_FAIL);
		}
		usleep(10000);
	}
}

/* Every thread of @pid is stopped (kill() returns before they are). */
static bool all_stopped(pid_t pid)
{
	char path[300], line[256], *p;
	struct dirent *d;
	bool stopped = true;
	DIR *dir;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	dir = opendir(path);
	CHECK(dir);
	while (stopped && (d = readdir(dir))) {
		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%s/stat", (int)pid,
			 d->d_name);
		f = fopen(path, "re");
		if (!f)
			continue; /* a thread that just ended */
		if (fgets(line, sizeof(line), f)) {
			p = strrchr(line, ')');
			stopped = p && (p[2] == 'T' || p[2] == 't');
		}
		fclose(f);
	}
	closedir(dir);
	return stopped;
}

void srv_signal(struct srv *s, int sig)
{
	double deadline = now_s() + 10;
	int i;

	CHECK(s->pid > 0);
	CHECK(!kill(s->pid, sig));
	if (sig == SIGSTOP) {
		while (!all_stopped(s->pid)) {
			CHECK(now_s() < deadline);
			usleep(1000);
		}
		return;
	}
	if (sig != SIGKILL && sig != SIGTERM)
		return;
	CHECK(waitpid(s->pid, NULL, 0) == s->pid);
	for (i = 0; i < MAX_SERVERS; i++)
		if (servers[i] == s->pid)
			servers[i] = 0;
	s->pid = 0;
}

bool srv_alive(struct srv *s)
{
	int i;

	if (s->pid <= 0)
		return false;
	if (waitpid(s->pid, NULL, WNOHANG) != s->pid)
		return true;
	for (i = 0; i < MAX_SERVERS; i++)
		if (servers[i] == s->pid)
			servers[i] = 0;
	s->pid = 0;
	return false;
}

void srv_stop(struct srv *s)
{
	if (s->pid > 0)
		srv_signal(s, SIGTERM);
}

bool nq_drive(struct tq *q, struct tbio *const *bios, unsigned int n,
	      double secs)
{
	const struct vdk_backend_ops *ops = q->t->ops;
	double deadline = now_s() + secs;
	unsigned int i, left;

	for (;;) {
		struct pollfd p = { .fd = q->fd };
		int timeout;

		CHECK(ops->reap(q->q) >= 0);
		left = 0;
		for (i = 0; i < n; i++) {
			CHECK(bios[i]->calls <= 1);
			left += !bios[i]->calls;
		}
		if (!left)
			return true;
		if (now_s() >= deadline)
			return false;
		p.events = ops->queue_events(q->q);
		timeout = ops->queue_timeout(q->q);
		if (timeout < 0 || timeout > 100)
			timeout = 100;
		if (poll(&p, 1, timeout) > 0)
			CHECK_EQ(ops->queue_ready(q->q, p.revents), 0);
	}
}

void nq_idle(struct tq *q, double secs)
{
	struct tbio never = { .calls = 0 };
	struct tbio *p = &never;

	CHECK(!nq_drive(q, &p, 1, secs));
}

int nq_run(struct tq *q, uint8_t op, uint8_t flags, uint64_t offset,
	   uint64_t len, void *buf)
{
	struct iovec iov = { buf, len };
	struct tbio tb = {
		.bio = {
			.op = op,
			.flags = flags,
			.offset = offset,
			.len = len,
			.iov = buf ? &iov : NULL,
			.iovcnt = buf ? 1 : 0,
		},
	};
	struct tbio *p = &tb;
	int ret;

	ret = tq_submit(q, &tb);
	if (ret) {
		CHECK_EQ(tb.calls, 0);
		return ret;
	}
	CHECK(nq_drive(q, &p, 1, 30));
	CHECK_EQ(tb.calls, 1);
	return tb.result;
}
