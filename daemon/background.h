/* SPDX-License-Identifier: MIT */
/*
 * Going to the background, as `ublk add` does: the parent waits on a pipe
 * until the daemon reports that the device is live (or why it is not),
 * prints that, and exits with the daemon's exit code.
 */
#ifndef VDK_BACKGROUND_H
#define VDK_BACKGROUND_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Fork.  In the parent, wait for the child's report, print it (stdout on
 * success, stderr otherwise) and return 1 with the exit code to use in
 * *@parent_exit.  In the child, return 0 with the write end of the report
 * pipe in *@report_fd: the child is then a session leader in /, with
 * stdin and stdout on /dev/null and stderr on @log_fd (or /dev/null when
 * it is -1).  -errno when the fork failed.
 */
int vdk_daemonize(int log_fd, int *report_fd, int *parent_exit);

/*
 * Send the report: exit code @code and the text the parent prints (with
 * its newline).  Closes *@fd and sets it to -1.  A failed write is
 * ignored: the parent then reports that the daemon went away.
 */
void vdk_report(int *fd, int code, const char *text, size_t len);

/*
 * Parent side: read the report from @fd until end of file.  Returns 0
 * with *@code set and the text in @buf (NUL-terminated, cut to @len - 1),
 * or -EPIPE when the child wrote nothing.
 */
int vdk_report_read(int fd, int *code, char *buf, size_t len);

/* Write @pid and a newline to @path atomically (mode 0644).  0 or -errno. */
int vdk_pidfile_write(const char *path, pid_t pid);

/*
 * @path made absolute against the current directory into @buf (the
 * daemon changes to /).  0 or -ENAMETOOLONG / -errno.
 */
int vdk_abspath(const char *path, char *buf, size_t len);

#endif /* VDK_BACKGROUND_H */
