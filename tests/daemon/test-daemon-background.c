// SPDX-License-Identifier: MIT
/*
 * Daemonizing: the report pipe between the daemon and the waiting parent,
 * the pidfile, absolute paths.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "background.h"
#include "daemon.h"
#include "sysfs.h"
#include "test.h"

static void test_pipe(void)
{
	char buf[16];
	int p[2], code = -1, fd;

	CHECK(pipe2(p, O_CLOEXEC) == 0);
	fd = p[1];
	vdk_report(&fd, 5, "vdk: add: no\n", 13);
	CHECK_EQ(fd, -1);
	CHECK_EQ(vdk_report_read(p[0], &code, buf, sizeof(buf)), 0);
	CHECK_EQ(code, 5);
	CHECK(!strcmp(buf, "vdk: add: no\n"));
	close(p[0]);

	/* Nothing written: the daemon died. */
	CHECK(pipe2(p, O_CLOEXEC) == 0);
	close(p[1]);
	CHECK_EQ(vdk_report_read(p[0], &code, buf, sizeof(buf)), -EPIPE);
	close(p[0]);

	/* Longer than the buffer: cut, NUL-terminated. */
	CHECK(pipe2(p, O_CLOEXEC) == 0);
	fd = p[1];
	vdk_report(&fd, 0, "0123456789abcdefghij", 20);
	CHECK_EQ(vdk_report_read(p[0], &code, buf, 8), 0);
	CHECK_EQ(code, 0);
	CHECK(!strcmp(buf, "0123456"));
	close(p[0]);

	/* A closed fd is left alone. */
	fd = -1;
	vdk_report(&fd, 0, "x", 1);
}

/*
 * Fork through vdk_daemonize() in a child of ours (the parent side calls
 * fflush and prints), with @mode for the daemon: 0 reports success after
 * checking its new session, 1 reports an error, 2 dies silently.
 * Returns the parent side's exit code.
 */
static int run_daemonize(int mode)
{
	int status, report_fd = -1, parent_exit = -1, ret;
	pid_t tester = fork();

	CHECK(tester >= 0);
	if (tester) {
		CHECK(waitpid(tester, &status, 0) == tester);
		CHECK(WIFEXITED(status));
		return WEXITSTATUS(status);
	}
	ret = vdk_daemonize(-1, &report_fd, &parent_exit);
	if (ret == 1)
		_exit(parent_exit);
	if (ret < 0)
		_exit(99);
	/* The daemon. */
	if (mode == 0) {
		char cwd[64];
		bool ok = getsid(0) == getpid() && getcwd(cwd, sizeof(cwd)) &&
			  !strcmp(cwd, "/") &&
			  fcntl(STDIN_FILENO, F_GETFD) >= 0;

		vdk_report(&report_fd, ok ? 0 : 42, "/dev/vdz\n", 9);
	} else if (mode == 1) {
		vdk_report(&report_fd, VDK_EXIT_EXISTS,
			   "vdk: add: device name 'x' is in use\n", 36);
	}
	_exit(0);
}

static void test_daemonize(void)
{
	CHECK_EQ(run_daemonize(0), 0);
	CHECK_EQ(run_daemonize(1), VDK_EXIT_EXISTS);
	CHECK_EQ(run_daemonize(2), VDK_EXIT_FAIL);
}

static void test_files(void)
{
	const char *tmp = getenv("TMPDIR");
	char dir[4096], path[8192], buf[32];

	snprintf(dir, sizeof(dir), "%s/vdk-daemon-XXXXXX",
		 tmp && *tmp ? tmp : "/tmp");
	CHECK(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/vdk.pid", dir);
	CHECK_EQ(vdk_pidfile_write(path, 4321), 0);
	CHECK_EQ(vdk_file_read(path, buf, sizeof(buf)), 4);
	CHECK(!strcmp(buf, "4321"));
	CHECK(unlink(path) == 0);
	CHECK(rmdir(dir) == 0);

	CHECK_EQ(vdk_abspath("/a/b", path, sizeof(path)), 0);
	CHECK(!strcmp(path, "/a/b"));
	CHECK(chdir("/tmp") == 0);
	CHECK_EQ(vdk_abspath("x.pid", path, sizeof(path)), 0);
	CHECK(!strcmp(path, "/tmp/x.pid"));
	CHECK_EQ(vdk_abspath("x.pid", path, 8), -ENAMETOOLONG);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	test_pipe();
	test_daemonize();
	test_files();
	return T_EXIT_PASS;
}
