// SPDX-License-Identifier: MIT
/*
 * Logging to stderr, a file or syslog.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <vdk/vdk.h>

#include "daemon-log.h"

/* One log per process: the daemon serves one device. */
static struct {
	FILE *file;
	bool syslog;
	int level;
} lg = { .level = VDK_LOG_NOTICE };

int vdk_log_open(const char *path, bool use_syslog, int level)
{
	int fd = -1;

	lg.level = level;
	if (path) {
		fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
			  0640);
		if (fd < 0)
			return -errno;
		lg.file = fdopen(fd, "a");
		if (!lg.file) {
			int ret = -errno;

			close(fd);
			return ret;
		}
		setvbuf(lg.file, NULL, _IOLBF, 0);
		return 0;
	}
	if (use_syslog) {
		openlog("vdk", LOG_PID | LOG_NDELAY, LOG_DAEMON);
		lg.syslog = true;
	}
	return 0;
}

void vdk_log_close(void)
{
	if (lg.file)
		fclose(lg.file);
	lg.file = NULL;
	if (lg.syslog)
		closelog();
	lg.syslog = false;
}

int vdk_log_fd(void)
{
	return lg.file ? fileno(lg.file) : -1;
}

int vdk_log_level(void)
{
	return lg.level;
}

static const char *level_name(int level)
{
	switch (level) {
	case VDK_LOG_ERR:
		return "error";
	case VDK_LOG_WARNING:
		return "warning";
	case VDK_LOG_NOTICE:
		return "notice";
	case VDK_LOG_INFO:
		return "info";
	default:
		return "debug";
	}
}

static void log_line(int level, const char *prefix, const char *msg)
{
	char stamp[32];
	struct tm tm;
	time_t now;

	if (level > lg.level)
		return;
	if (lg.syslog) {
		syslog(level, "%s%s", prefix, msg);
		return;
	}
	if (lg.file) {
		now = time(NULL);
		localtime_r(&now, &tm);
		strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S", &tm);
		/* One call: stdio locks the stream for it. */
		fprintf(lg.file, "%s vdk[%d]: %s: %s%s\n", stamp,
			(int)getpid(), level_name(level), prefix, msg);
		return;
	}
	fprintf(stderr, "vdk: %s%s\n", prefix, msg);
}

void vdk_log(int level, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_line(level, "", msg);
}

void vdk_log_cb(void *opaque, int level, const char *msg)
{
	char prefix[300];

	if (opaque)
		snprintf(prefix, sizeof(prefix), "%s: ", (const char *)opaque);
	else
		prefix[0] = '\0';
	log_line(level, prefix, msg);
}

void vdk_verr(const char *verb, const char *fmt, va_list ap)
{
	char msg[1024];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	/* One line, whatever the message holds. */
	for (char *c = msg; *c; c++)
		if (*c == '\n' || *c == '\r')
			*c = ' ';
	if (verb)
		fprintf(stderr, "vdk: %s: %s\n", verb, msg);
	else
		fprintf(stderr, "vdk: %s\n", msg);
}

void vdk_err(const char *verb, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vdk_verr(verb, fmt, ap);
	va_end(ap);
}

void vdk_sigbus_report(const char *name, uint64_t *seen)
{
	uint64_t n = vdk_sigbus_pages();

	if (n == *seen)
		return;
	vdk_log(VDK_LOG_ERR,
		"%s: the driver truncated memory it had given the device: %llu page(s) of it now read as zeros (SIGBUS caught)",
		name, (unsigned long long)(n - *seen));
	*seen = n;
}
