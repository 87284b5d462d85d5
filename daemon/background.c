// SPDX-License-Identifier: MIT
/*
 * fork, the report pipe, the pidfile.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "background.h"
#include "daemon.h"
#include "sysfs.h"

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

int vdk_report_read(int fd, int *code, char *buf, size_t len)
{
	unsigned char c;
	size_t pos = 0;
	bool got_code = false;
	ssize_t n;

	for (;;) {
		char tmp[512];

		n = read(fd, tmp, sizeof(tmp));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		for (ssize_t i = 0; i < n; i++) {
			if (!got_code) {
				c = tmp[i];
				*code = c;
				got_code = true;
			} else if (pos + 1 < len) {
				buf[pos++] = tmp[i];
			}
		}
	}
	if (len)
		buf[pos] = '\0';
	return got_code ? 0 : -EPIPE;
}

void vdk_report(int *fd, int code, const char *text, size_t len)
{
	unsigned char c = code;
	ssize_t n;

	if (*fd < 0)
		return;
	do
		n = write(*fd, &c, 1);
	while (n < 0 && errno == EINTR);
	while (n > 0 && len > 0) {
		n = write(*fd, text, len);
		if (n < 0 && errno == EINTR) {
			n = 1;
			continue;
		}
		if (n > 0) {
			text += n;
			len -= n;
		}
	}
	close_fd(fd);
}

static int parent_wait(int fd)
{
	char text[8192];
	int code = VDK_EXIT_FAIL;

	if (vdk_report_read(fd, &code, text, sizeof(text))) {
		fprintf(stderr, "vdk: add: the daemon exited before the "
			"device was live\n");
		return VDK_EXIT_FAIL;
	}
	fputs(text, code == 0 ? stdout : stderr);
	fflush(stdout);
	return code;
}

int vdk_daemonize(int log_fd, int *report_fd, int *parent_exit)
{
	int p[2] = { -1, -1 }, null = -1, ret;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC))
		return -errno;
	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null < 0) {
		ret = -errno;
		goto err_pipe;
	}
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		ret = -errno;
		goto err_null;
	}
	if (pid > 0) {
		close_fd(&null);
		close_fd(&p[1]);
		*parent_exit = parent_wait(p[0]);
		close_fd(&p[0]);
		return 1;
	}

	close_fd(&p[0]);
	if (setsid() < 0 || chdir("/")) {
		ret = -errno;
		goto err_child;
	}
	if (dup2(null, STDIN_FILENO) < 0 || dup2(null, STDOUT_FILENO) < 0 ||
	    dup2(log_fd >= 0 ? log_fd : null, STDERR_FILENO) < 0) {
		ret = -errno;
		goto err_child;
	}
	close_fd(&null);
	*report_fd = p[1];
	return 0;

err_child:
	/* The parent reads the reason from the pipe. */
	{
		char msg[256];
		int len;

		len = snprintf(msg, sizeof(msg), "vdk: add: daemon setup: %s\n",
			       strerror(-ret));
		vdk_report(&p[1], VDK_EXIT_FAIL, msg, len);
	}
	_exit(VDK_EXIT_FAIL);
err_null:
	close_fd(&null);
err_pipe:
	close_fd(&p[0]);
	close_fd(&p[1]);
	return ret;
}

int vdk_pidfile_write(const char *path, pid_t pid)
{
	char buf[32];
	int len;

	len = snprintf(buf, sizeof(buf), "%d\n", (int)pid);
	return vdk_file_replace(path, buf, len, 0644);
}

int vdk_abspath(const char *path, char *buf, size_t len)
{
	char cwd[4096];

	if (path[0] == '/') {
		if ((size_t)snprintf(buf, len, "%s", path) >= len)
			return -ENAMETOOLONG;
		return 0;
	}
	if (!getcwd(cwd, sizeof(cwd)))
		return -errno;
	if ((size_t)snprintf(buf, len, "%s/%s", cwd, path) >= len)
		return -ENAMETOOLONG;
	return 0;
}
