// SPDX-License-Identifier: MIT
/*
 * The stats socket: RUN_DIR/NAME.sock, one message per connection.
 */
#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "stats-sock.h"
#include "sysfs.h"

/* How long `vdk stat` waits for the supervisor's answer. */
#define FETCH_TIMEOUT_MS 5000

static int sock_addr(const char *name, struct sockaddr_un *sa)
{
	int ret;

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	ret = vdk_path(sa->sun_path, sizeof(sa->sun_path), VDK_ROOT_RUN,
		       "%s.sock", name);
	return ret;
}

int vdk_stats_listen(const char *name, int *fd)
{
	struct sockaddr_un sa;
	int s, ret;

	*fd = -1;
	ret = sock_addr(name, &sa);
	if (ret)
		return ret;
	s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s < 0)
		return -errno;
	/* One left by a daemon that was killed. */
	unlink(sa.sun_path);
	if (bind(s, (struct sockaddr *)&sa, sizeof(sa)) ||
	    chmod(sa.sun_path, 0600) || listen(s, 8)) {
		ret = -errno;
		close(s);
		unlink(sa.sun_path);
		return ret;
	}
	*fd = s;
	return 0;
}

void vdk_stats_unlisten(const char *name, int *fd)
{
	struct sockaddr_un sa;

	if (*fd < 0)
		return;
	close(*fd);
	*fd = -1;
	if (sock_addr(name, &sa) == 0)
		unlink(sa.sun_path);
}

void vdk_stats_answer(int lfd, const struct vdk_stats_msg *m)
{
	size_t len = offsetof(struct vdk_stats_msg, q);
	int fd;

	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0)
		return;
	if (m->h.count > 0)
		len += (size_t)m->h.count * sizeof(m->q[0]);
	/* A client that reads nothing costs a socket buffer, no wait. */
	if (send(fd, m, len, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
		/* it went away: nothing to do */
	}
	close(fd);
}

int vdk_stats_fetch(const char *name, struct vdk_stats_msg *m)
{
	struct pollfd p = { .events = POLLIN };
	struct sockaddr_un sa;
	ssize_t n;
	int ret;

	ret = sock_addr(name, &sa);
	if (ret)
		return ret;
	p.fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (p.fd < 0)
		return -errno;
	if (connect(p.fd, (struct sockaddr *)&sa, sizeof(sa))) {
		ret = -errno;
		goto out;
	}
	ret = poll(&p, 1, FETCH_TIMEOUT_MS);
	if (ret <= 0) {
		ret = ret < 0 ? -errno : -ETIMEDOUT;
		goto out;
	}
	n = recv(p.fd, m, sizeof(*m), 0);
	if (n < 0) {
		ret = -errno;
		goto out;
	}
	ret = -EPROTO;
	if ((size_t)n < offsetof(struct vdk_stats_msg, q) ||
	    m->h.magic != VDK_STATS_MAGIC ||
	    m->h.version != VDK_STATS_VERSION ||
	    m->h.qsize != sizeof(m->q[0]))
		goto out;
	m->h.type[sizeof(m->h.type) - 1] = '\0';
	if (m->h.count < 0) {
		ret = m->h.count;
		goto out;
	}
	if (m->h.count > VDK_STAT_QUEUES_MAX ||
	    (size_t)n != offsetof(struct vdk_stats_msg, q) +
				 (size_t)m->h.count * sizeof(m->q[0]))
		goto out;
	for (int i = 0; i < m->h.count; i++)
		m->q[i].label[sizeof(m->q[i].label) - 1] = '\0';
	ret = 0;
out:
	close(p.fd);
	return ret;
}
