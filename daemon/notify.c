// SPDX-License-Identifier: MIT
/*
 * sd_notify(3) in a few lines: a datagram to $NOTIFY_SOCKET.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "notify.h"

int vdk_notify(const char *msg)
{
	const char *name = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t len;
	socklen_t salen;
	ssize_t n;
	int fd, ret;

	if (!name || !*name)
		return 0;
	len = strlen(name);
	if ((name[0] != '/' && name[0] != '@') || len < 2 ||
	    len >= sizeof(sa.sun_path))
		return -EINVAL;
	memcpy(sa.sun_path, name, len);
	/* An abstract name: a NUL first, and no NUL at the end. */
	if (name[0] == '@')
		sa.sun_path[0] = '\0';
	salen = offsetof(struct sockaddr_un, sun_path) + len +
		(name[0] == '/' ? 1 : 0);

	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	do {
		n = sendto(fd, msg, strlen(msg), MSG_NOSIGNAL,
			   (struct sockaddr *)&sa, salen);
	} while (n < 0 && errno == EINTR);
	ret = n < 0 ? -errno : 1;
	close(fd);
	return ret;
}

int vdk_notifyf(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(msg))
		return -EMSGSIZE;
	return vdk_notify(msg);
}
