/* SPDX-License-Identifier: MIT */
/*
 * The serving process of a confined daemon (see split.h): create the
 * device as root inside Landlock, give up root and load the filter, then
 * serve, answering the supervisor, until it says stop.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "daemon-log.h"
#include "sysfs.h"
#include "split.h"

/* How often the server looks at what the SIGBUS guard caught. */
#define SERVER_TICK_MS 1000

int vdk_split_send(int sock, const struct split_msg *m)
{
	ssize_t n;

	do {
		n = send(sock, m, sizeof(*m), MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == ECONNRESET ? -EPIPE : -errno;
	return n == sizeof(*m) ? 0 : -EIO;
}

int vdk_split_recv(int sock, struct split_msg *m, int timeout_ms)
{
	struct pollfd p = { .fd = sock, .events = POLLIN };
	ssize_t n;
	int ret;

	do {
		ret = poll(&p, 1, timeout_ms);
	} while (ret < 0 && errno == EINTR);
	if (ret < 0)
		return -errno;
	if (ret == 0)
		return -ETIMEDOUT;
	do {
		n = recv(sock, m, sizeof(*m), 0);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == ECONNRESET ? -EPIPE : -errno;
	if (n == 0)
		return -EPIPE;
	return n == sizeof(*m) ? 0 : -EIO;
}

static void describe(const struct split_server *s, struct split_desc *d)
{
	struct vdk_state st;

	memset(&st, 0, sizeof(st));
	s->model->describe(s->dev, &st);
	d->size = st.size;
	d->block_size = st.block_size;
	d->queues = st.queues;
	d->queue_size = st.queue_size;
	d->read_only = st.read_only;
	d->features = st.features;
	d->driver_features = st.driver_features;
	d->vduse_api = st.vduse_api;
	d->vduse_features = st.vduse_features;
}

/* The confinement of @s's device: its model's needs and the daemon's. */
static void confine_cfg(const struct split_server *s,
			struct vdk_model_confine *mc,
			const struct vdk_syscalls **sets,
			const char **rw, struct vdk_confine_cfg *cfg)
{
	unsigned int i, n = 0;

	memset(mc, 0, sizeof(*mc));
	s->model->confinement(s->dev, mc);
	sets[n++] = &vdk_daemon_syscalls;
	for (i = 0; mc->syscalls[i]; i++)
		sets[n++] = mc->syscalls[i];
	sets[n] = NULL;
	/* To create the device and its in-flight log, still as root. */
	n = 0;
	rw[n++] = "/dev/vduse";
	rw[n++] = vdk_root(VDK_ROOT_RUN);
	for (i = 0; mc->rw_paths[i]; i++)
		rw[n++] = mc->rw_paths[i];
	rw[n] = NULL;
	/* glibc reads its own process's files; the model adds its own. */
	for (i = 0; mc->ro_paths[i]; i++)
		;
	if (i < VDK_MODEL_CONFINE_PATHS)
		mc->ro_paths[i] = "/proc/self";
	memset(cfg, 0, sizeof(*cfg));
	cfg->uid = s->uid;
	cfg->gid = s->gid;
	cfg->ro_paths = mc->ro_paths;
	cfg->rw_paths = rw;
	cfg->syscalls = sets;
	cfg->seccomp_log_only = s->log_only;
}

/* @created: the kernel device exists, for the supervisor to destroy. */
static void fail(const struct split_server *s, int ret, const char *err,
		 bool created)
{
	struct split_msg m = { .type = SPLIT_FAILED, .ret = ret,
			       .created = created };

	snprintf(m.err, sizeof(m.err), "%s", err);
	vdk_split_send(s->sock, &m);
	_exit(1);
}

static void test_syscall(const struct split_server *s)
{
#ifdef VDK_TEST_HOOKS
	/* A file no backend needs: Landlock refuses it. */
	int fd = open("/etc/passwd", O_RDONLY | O_CLOEXEC);

	vdk_log(VDK_LOG_NOTICE, "%s: test hook: open /etc/passwd: %s",
		s->name, fd < 0 ? strerror(errno) : "opened");
	if (fd >= 0)
		close(fd);
	/* Outside every set: the filter ends the process here. */
	vdk_log(VDK_LOG_NOTICE, "%s: test hook: a forbidden system call",
		s->name);
	syscall(SYS_ptrace, 0, 0, 0, 0);
#else
	vdk_log(VDK_LOG_WARNING, "%s: no test hooks in this build", s->name);
#endif
}

/* STATS?: one STATS per queue, or one with the error. */
static bool send_stats(const struct split_server *s)
{
	struct split_msg r;
	unsigned int i = 0;
	int n;

	do {
		memset(&r, 0, sizeof(r));
		r.type = SPLIT_STATS;
		r.queue = i;
		n = s->model->stats ? s->model->stats(s->dev, i, &r.qstats) :
				      -EOPNOTSUPP;
		if (n > VDK_STAT_QUEUES_MAX)
			n = VDK_STAT_QUEUES_MAX;
		r.ret = n;
		if (vdk_split_send(s->sock, &r))
			return false;
	} while (n > 0 && ++i < (unsigned int)n);
	return true;
}

/* Answer the supervisor until STOP or its end; false on STOP. */
static bool answer(const struct split_server *s)
{
	struct split_msg m, r;
	int ret;

	ret = vdk_split_recv(s->sock, &m, 0);
	if (ret == -ETIMEDOUT || ret == -EAGAIN)
		return true;
	if (ret)
		return false; /* the supervisor is gone: stop */
	memset(&r, 0, sizeof(r));
	switch (m.type) {
	case SPLIT_STATUS_Q:
		r.type = SPLIT_STATUS;
		r.status = s->model->status ? s->model->status(s->dev) : 0;
		/* The features: the driver may have taken them by now. */
		describe(s, &r.desc);
		break;
	case SPLIT_RESIZE:
		r.type = SPLIT_RESIZED;
		r.ret = s->model->resize ? s->model->resize(s->dev) : 0;
		describe(s, &r.desc);
		break;
	case SPLIT_STATS_Q:
		return send_stats(s);
	case SPLIT_TEST_SYSCALL:
		test_syscall(s);
		return true;
	case SPLIT_STOP:
	default:
		return false;
	}
	return vdk_split_send(s->sock, &r) == 0;
}

/*
 * The device changed by itself (its backend's storage grew and the
 * driver was told): the supervisor records what it is now.
 */
static void tell_changed(const struct split_server *s)
{
	struct split_msg m = { .type = SPLIT_CHANGED };

	if (!s->model->changed(s->dev))
		return;
	describe(s, &m.desc);
	vdk_split_send(s->sock, &m);
}

void vdk_split_server(const struct split_server *s)
{
	const struct vdk_syscalls *sets[VDK_MODEL_CONFINE_SETS + 2];
	const char *rw[VDK_MODEL_CONFINE_PATHS + 3];
	struct vdk_model_confine mc;
	struct vdk_confine_cfg cfg;
	struct split_msg m = { .type = SPLIT_CREATED };
	char err[VDK_MODEL_ERR_MAX] = "";
	uint64_t sigbus_seen;
	int ret, changed = -1;

	/* The supervisor alone speaks to systemd (notify.h). */
	unsetenv("NOTIFY_SOCKET");
	/* Never outlive the supervisor: the device would have no owner. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) || getppid() != s->supervisor)
		_exit(1);
	prctl(PR_SET_NAME, "vdk-server");
	confine_cfg(s, &mc, sets, rw, &cfg);
	/* Landlock before any thread: the threads inherit it. */
	ret = vdk_confine_begin(&cfg, &m.confine, err, sizeof(err));
	if (ret)
		fail(s, ret, err, false);
	ret = s->model->create(s->dev, s->mode, err, sizeof(err));
	if (ret)
		fail(s, ret, err, false);
	ret = vdk_confine_end(&cfg, &m.confine, err, sizeof(err));
	if (ret) {
		s->model->stop(s->dev);
		fail(s, ret, err, true);
	}
	describe(s, &m.desc);
	if (vdk_split_send(s->sock, &m))
		_exit(1);
	vdk_log(VDK_LOG_INFO,
		"%s: serving as uid %u, seccomp %s (%u calls), landlock %d",
		s->name, (unsigned)m.confine.uid,
		m.confine.seccomp_log_only ? "logging" : "on",
		m.confine.syscalls, m.confine.landlock_abi);

	if (s->model->changed_fd && s->model->changed)
		changed = s->model->changed_fd(s->dev);
	sigbus_seen = vdk_sigbus_pages();
	for (;;) {
		struct pollfd p[2] = {
			{ .fd = s->sock, .events = POLLIN },
			{ .fd = changed, .events = POLLIN },
		};

		ret = poll(p, 2, SERVER_TICK_MS);
		vdk_sigbus_report(s->name, &sigbus_seen);
		if (ret < 0 && errno != EINTR)
			break;
		if (ret > 0 && p[1].revents)
			tell_changed(s);
		if (ret > 0 && p[0].revents && !answer(s))
			break;
	}
	/*
	 * Stop serving and leave: the supervisor destroys the kernel
	 * device (root), once our descriptor of it is closed at exit.
	 */
	s->model->stop(s->dev);
	_exit(0);
}
