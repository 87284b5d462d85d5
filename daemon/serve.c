// SPDX-License-Identifier: MIT
/*
 * The serve loop: bring a device of any model up, attach it to the vDPA
 * bus, wait until it is live, report it, serve it until a signal, and take
 * it down again.  recover and rescue take the same path, with the
 * settings a dead daemon left in the state file.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/virtio_config.h>

#include "background.h"
#include "daemon-log.h"
#include "daemon.h"
#include "notify.h"
#include "split.h"
#include "stats-sock.h"
#include "state.h"
#include "sysfs.h"
#include "vdpa-netlink.h"

/* How often to look at sysfs while waiting for the device. */
#define LIVE_POLL_MS 20
/* How often the serving loop looks at what the SIGBUS guard caught. */
#define SERVE_TICK_MS 1000

struct serve_ctx {
	enum vdk_daemon_mode mode;
	const char *verb;
	const char *name;
	const struct vdk_model_ops *model;
	struct vdk_model_cfg *model_cfg;
	struct vdk_model_cfg *own_cfg;  /* recover, rescue: ours to free */
	const struct vdk_daemon_cfg *cfg;
	bool vhost;
	bool daemon;
	enum vdk_ring ring;
	bool in_order;
	bool bounce_kernel;
	char inflight[4096];  /* RUN_DIR/NAME.inflight */
	char pidfile[4096];
	char logpath[4096];

	struct vdk_model_dev *dev;
	bool created;
	int sfd;        /* signalfd */
	int report_fd;  /* daemon: write end of the report pipe */
	struct vdk_nl *nl;
	char node[4096];
	bool pidfile_written;
	int stats_fd;   /* listening: RUN_DIR/NAME.sock, or -1 */
	pid_t start_pid;  /* the process systemd started, before -d */
	uint64_t start_ns; /* when the device was made: its counters' 0 */

	/*
	 * Confined (split.h): the server's pid and our end of the socket
	 * pair, what it last said of the device and of its confinement.
	 */
	bool split;
	uid_t uid;
	gid_t gid;
	pid_t server;
	int sock;
	bool server_died;
	bool changed_pending;  /* the device changed by itself: record it */
	struct split_desc desc;
	struct vdk_confine_info confine;

	/* The first failure, reported once everything is undone. */
	int code;
	char msg[1024];
};

static void serve_fail(struct serve_ctx *c, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void serve_fail(struct serve_ctx *c, int code, const char *fmt, ...)
{
	va_list ap;

	if (c->code)
		return;
	c->code = code;
	va_start(ap, fmt);
	vsnprintf(c->msg, sizeof(c->msg), fmt, ap);
	va_end(ap);
	for (char *p = c->msg; *p; p++)
		if (*p == '\n')
			*p = ' ';
}

/* Tell the user (or the waiting parent) how it went. */
static void serve_report(struct serve_ctx *c, const char *out, size_t len)
{
	char line[1200];
	int n;

	if (c->code) {
		/* In the foreground without --log, the line below is enough. */
		if (c->report_fd >= 0 || c->cfg->log)
			vdk_log(VDK_LOG_ERR, "%s: %s", c->name, c->msg);
		if (c->report_fd < 0) {
			vdk_err("add", "%s", c->msg);
			return;
		}
		n = snprintf(line, sizeof(line), "vdk: add: %s\n", c->msg);
		vdk_report(&c->report_fd, c->code, line,
			   (size_t)n < sizeof(line) ? (size_t)n :
						      sizeof(line) - 1);
		return;
	}
	if (c->report_fd < 0) {
		fwrite(out, 1, len, stdout);
		fflush(stdout);
		return;
	}
	vdk_report(&c->report_fd, 0, out, len);
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Signals are taken through a signalfd by the main thread; they are
 * blocked before any thread starts, so that every thread inherits that.
 */
static int signals_setup(struct serve_ctx *c)
{
	sigset_t set;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	/* Confined: the serving process's end, and the test hook. */
	if (c->split) {
		sigaddset(&set, SIGCHLD);
		sigaddset(&set, SIGUSR2);
	}
	if (sigprocmask(SIG_BLOCK, &set, NULL))
		return -errno;
	c->sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (c->sfd < 0)
		return -errno;
	return 0;
}

/* The next signal waiting, 0 if none. */
static int signal_take(struct serve_ctx *c)
{
	struct signalfd_siginfo si;
	ssize_t n;

	n = read(c->sfd, &si, sizeof(si));
	if (n != sizeof(si))
		return 0;
	return si.ssi_signo;
}

/* ---- the device, here or in the serving process ---- */

/* A question to the server; its answer in @r.  0 or -errno. */
static int ask_server(struct serve_ctx *c, enum split_type q,
		      enum split_type a, struct split_msg *r)
{
	struct split_msg m = { .type = q };
	int ret;

	ret = vdk_split_send(c->sock, &m);
	while (ret == 0) {
		ret = vdk_split_recv(c->sock, r, 10000);
		if (ret || r->type == a)
			break;
		if (r->type == SPLIT_CHANGED) {
			c->desc = r->desc;
			c->changed_pending = true; /* unasked: done after */
		} else
			ret = -EPROTO;
	}
	return ret;
}

static uint8_t dev_status(struct serve_ctx *c)
{
	struct split_msg r;

	if (!c->split)
		return c->model->status ? c->model->status(c->dev) : 0;
	if (ask_server(c, SPLIT_STATUS_Q, SPLIT_STATUS, &r))
		return 0;
	c->desc = r.desc;
	return r.status;
}

static int dev_resize(struct serve_ctx *c)
{
	struct split_msg r;
	int ret;

	if (!c->split)
		return c->model->resize ? c->model->resize(c->dev) : 0;
	ret = ask_server(c, SPLIT_RESIZE, SPLIT_RESIZED, &r);
	if (ret)
		return ret;
	c->desc = r.desc;
	return r.ret;
}

/*
 * Confined: the server's counters, one STATS message per queue.  The
 * number of queues, or -errno.
 */
static int server_stats(struct serve_ctx *c, struct vdk_model_qstats *q,
			unsigned int max)
{
	struct split_msg m = { .type = SPLIT_STATS_Q }, r;
	int ret, n = 0;

	ret = vdk_split_send(c->sock, &m);
	while (ret == 0) {
		ret = vdk_split_recv(c->sock, &r, 10000);
		if (ret)
			break;
		if (r.type == SPLIT_CHANGED) {
			c->desc = r.desc;
			c->changed_pending = true; /* unasked: done after */
			continue;
		}
		if (r.type != SPLIT_STATS)
			return -EPROTO;
		if (r.ret <= 0)
			return r.ret ? r.ret : -EPROTO;
		if (r.queue < max && r.queue < (uint32_t)r.ret)
			q[r.queue] = r.qstats;
		n = r.ret;
		if (r.queue + 1 >= (uint32_t)r.ret)
			break;
	}
	if (ret)
		return ret;
	return n < (int)max ? n : (int)max;
}

static int dev_stats(struct serve_ctx *c, struct vdk_model_qstats *q,
		     unsigned int max)
{
	unsigned int i = 0;
	int n;

	if (c->split)
		return server_stats(c, q, max);
	if (!c->model->stats)
		return -EOPNOTSUPP;
	do {
		n = c->model->stats(c->dev, i, &q[i]);
	} while (n > 0 && ++i < (unsigned int)n && i < max);
	return n > (int)max ? (int)max : n;
}

/* A client of the stats socket: the counters of every queue. */
static void stats_answer(struct serve_ctx *c)
{
	struct vdk_stats_msg *m = calloc(1, sizeof(*m));
	struct timespec ts;

	if (!m)
		return;
	m->h.magic = VDK_STATS_MAGIC;
	m->h.version = VDK_STATS_VERSION;
	m->h.qsize = sizeof(m->q[0]);
	snprintf(m->h.type, sizeof(m->h.type), "%s", c->model->name);
	m->h.count = dev_stats(c, m->q, VDK_STAT_QUEUES_MAX);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	m->h.time_ns = (uint64_t)ts.tv_sec * 1000000000ull +
		       (uint64_t)ts.tv_nsec;
	m->h.start_ns = c->start_ns;
	vdk_stats_answer(c->stats_fd, m);
	free(m);
}

/* The device as the state file and the command's output show it. */
static void state_fill(struct serve_ctx *c, struct vdk_state *st)
{
	memset(st, 0, sizeof(*st));
	c->model->describe(c->dev, st);
	if (c->split) {
		/*
		 * Only the server's copy of the device knows these; the
		 * features the driver took, as of now (a status answer
		 * brings them).
		 */
		(void)dev_status(c);
		st->size = c->desc.size;
		st->block_size = c->desc.block_size;
		st->queues = c->desc.queues;
		st->queue_size = c->desc.queue_size;
		st->read_only = c->desc.read_only;
		st->features = c->desc.features;
		st->driver_features = c->desc.driver_features;
		st->vduse_api = c->desc.vduse_api;
		st->vduse_features = c->desc.vduse_features;
		st->confined = true;
		st->confine.server_pid = c->server;
		st->confine.uid = c->confine.uid;
		st->confine.no_new_privs = c->confine.no_new_privs;
		st->confine.seccomp = c->confine.seccomp;
		st->confine.seccomp_log_only = c->confine.seccomp_log_only;
		st->confine.syscalls = c->confine.syscalls;
		st->confine.landlock_abi = (unsigned int)c->confine.landlock_abi;
	}
	st->pid = getpid();
	st->name = (char *)c->name;
	st->type = (char *)c->model->name;
	st->bus = c->vhost ? "vhost" : "virtio";
	st->bounce_kernel = c->bounce_kernel;
	st->node = c->node;
}

static int state_save(struct serve_ctx *c)
{
	struct vdk_state st;

	state_fill(c, &st);
	/* The strings belong to @c and the model: no vdk_state_free(). */
	return vdk_state_write(&st);
}

/* What `vdk add` prints: the node, or the device as JSON. */
static int format_output(struct serve_ctx *c, char **out, size_t *len)
{
	struct vdk_state st;
	FILE *f;

	*out = NULL;
	*len = 0;
	f = open_memstream(out, len);
	if (!f)
		return -errno;
	state_fill(c, &st);
	c->cfg->print(f, &st, c->cfg->json);
	if (fclose(f)) {
		free(*out);
		*out = NULL;
		return -ENOMEM;
	}
	return 0;
}

/*
 * Whether the serving process still runs.  When it has died (a crash, a
 * call outside its filter), the device waits for `vdk recover` as it
 * would for a daemon killed outright: nothing of it is undone.
 */
static bool server_alive(struct serve_ctx *c)
{
	int status;
	pid_t pid;

	if (!c->split || c->server <= 0)
		return true;
	pid = waitpid(c->server, &status, WNOHANG);
	if (pid != c->server)
		return true;
	c->server = -1;
	c->server_died = true;
	if (WIFSIGNALED(status))
		vdk_log(VDK_LOG_ERR, "%s: the serving process died of %s: "
			"'vdk recover %s' serves the device again",
			c->name, strsignal(WTERMSIG(status)), c->name);
	else
		vdk_log(VDK_LOG_ERR, "%s: the serving process exited (%d): "
			"'vdk recover %s' serves the device again",
			c->name, WEXITSTATUS(status), c->name);
	return false;
}

/*
 * Wait until the device is live on its bus.  0 when it is; -ETIMEDOUT,
 * -EINTR (SIGINT/SIGTERM), -EIO (the driver failed the device) or
 * another -errno.
 */
static int wait_live(struct serve_ctx *c)
{
	uint64_t deadline = now_ms() + (uint64_t)c->cfg->timeout * 1000;
	struct pollfd pfd = { .fd = c->sfd, .events = POLLIN };
	int ret, sig;

	for (;;) {
		ret = vdk_model_live(c->model, c->name, c->vhost, c->node,
				     sizeof(c->node));
		if (ret != 0)
			return ret < 0 ? ret : 0;
		if (dev_status(c) & VIRTIO_CONFIG_S_FAILED)
			return -EIO;
		if (now_ms() >= deadline)
			return -ETIMEDOUT;
		if (poll(&pfd, 1, LIVE_POLL_MS) > 0) {
			while ((sig = signal_take(c))) {
				if (sig == SIGCHLD && !server_alive(c))
					return -ECHILD;
				if (sig != SIGHUP && sig != SIGCHLD &&
				    sig != SIGUSR2)
					return -EINTR;
			}
		}
	}
}

/*
 * `vdk bus` may have moved the device since it went live: the state file
 * says where it is now.
 */
static void bus_refresh(struct serve_ctx *c)
{
	char drv[64], node[sizeof(c->node)];
	bool vhost;

	if (vdk_sys_vdpa_driver(c->name, drv, sizeof(drv)))
		return;
	if (!strcmp(drv, "vhost_vdpa"))
		vhost = true;
	else if (!strcmp(drv, "virtio_vdpa"))
		vhost = false;
	else
		return;
	if (vdk_model_live(c->model, c->name, vhost, node, sizeof(node)) != 1)
		return;
	c->vhost = vhost;
	memcpy(c->node, node, sizeof(node));
}

/* SIGHUP: what the device serves may have grown; the bus may be new. */
static void hangup(struct serve_ctx *c)
{
	int ret;

	ret = dev_resize(c);
	if (ret) {
		vdk_log(VDK_LOG_ERR, "%s: resize: %s", c->name,
			strerror(-ret));
		return;
	}
	bus_refresh(c);
	ret = state_save(c);
	if (ret)
		vdk_log(VDK_LOG_WARNING, "%s: cannot update the state file: %s",
			c->name, strerror(-ret));
}

/*
 * The device changed by itself (its backend's storage grew, and the
 * driver was told): the state file says what it is now.
 */
static void record_change(struct serve_ctx *c)
{
	int ret = state_save(c);

	if (ret)
		vdk_log(VDK_LOG_WARNING, "%s: cannot update the state file: %s",
			c->name, strerror(-ret));
}

/*
 * Confined: a message the server sent unasked.  False once its end is
 * closed (it died: SIGCHLD tells the rest).
 */
static bool server_said(struct serve_ctx *c)
{
	struct split_msg m;
	int ret = vdk_split_recv(c->sock, &m, 0);

	if (ret == 0 && m.type == SPLIT_CHANGED) {
		c->desc = m.desc;
		c->changed_pending = true;
	}
	return ret != -EPIPE;
}

/*
 * Under systemd (Type=notify): the device is live.  With -d the process
 * that serves is not the one systemd started: say which it is.
 */
static void notify_ready(struct serve_ctx *c)
{
	char mainpid[32] = "";
	int ret;

	if (getpid() != c->start_pid)
		snprintf(mainpid, sizeof(mainpid), "\nMAINPID=%d",
			 (int)getpid());
	ret = vdk_notifyf("READY=1\nSTATUS=serving %s at %s%s", c->name,
			  c->node, mainpid);
	if (ret < 0)
		vdk_log(VDK_LOG_WARNING, "%s: cannot notify systemd: %s",
			c->name, strerror(-ret));
}

/* Serve until SIGINT or SIGTERM. */
static void serve(struct serve_ctx *c)
{
	/* Confined, the server watches the device (server.c). */
	bool watch = !c->split && c->model->changed_fd && c->model->changed;
	struct pollfd pfd[4] = {
		{ .fd = c->sfd, .events = POLLIN },
		{ .fd = c->stats_fd, .events = POLLIN },
		{ .fd = c->split ? c->sock : -1, .events = POLLIN },
		{ .fd = watch ? c->model->changed_fd(c->dev) : -1,
		  .events = POLLIN },
	};
	uint64_t sigbus_seen = vdk_sigbus_pages();
	int sig, ret;

	for (;;) {
		ret = poll(pfd, 4, SERVE_TICK_MS);
		vdk_sigbus_report(c->name, &sigbus_seen);
		if (ret > 0 && c->split && pfd[2].revents && !server_said(c))
			pfd[2].fd = -1;
		if (ret > 0 && pfd[1].revents)
			stats_answer(c);
		if (ret > 0 && pfd[3].revents && c->model->changed(c->dev))
			c->changed_pending = true;
		while (c->changed_pending) {
			c->changed_pending = false;
			record_change(c);
		}
		if (ret < 0) {
			if (errno == EINTR)
				continue;
			vdk_log(VDK_LOG_ERR, "%s: poll: %s", c->name,
				strerror(errno));
			return;
		}
		while ((sig = signal_take(c))) {
			if (sig == SIGCHLD) {
				if (!server_alive(c))
					return;
				continue;
			}
			if (sig == SIGUSR2) {
				/* Test builds: a forbidden call in the server. */
				struct split_msg m = {
					.type = SPLIT_TEST_SYSCALL,
				};

				vdk_split_send(c->sock, &m);
				continue;
			}
			if (sig != SIGHUP) {
				vdk_log(VDK_LOG_NOTICE, "%s: %s, stopping",
					c->name, strsignal(sig));
				return;
			}
			hangup(c);
		}
	}
}

static enum vdk_model_mode model_mode(const struct serve_ctx *c);

/*
 * Confined: fork the serving process, which makes the device and gives
 * up root (split.h), and wait for its word.  0, or -errno with its
 * message in @err (empty for vdk_dev_create()'s errors, as create()).
 */
static int server_start(struct serve_ctx *c, char *err, size_t errlen)
{
	struct split_server s = {
		.model = c->model,
		.dev = c->dev,
		.mode = model_mode(c),
		.name = c->name,
		.uid = c->uid,
		.gid = c->gid,
		.log_only = c->cfg->seccomp_log_only,
		.supervisor = getpid(),
	};
	struct split_msg m;
	bool created = false;
	int sv[2], ret, status;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv))
		return -errno;
	pid = fork();
	if (pid < 0) {
		ret = -errno;
		close(sv[0]);
		close(sv[1]);
		return ret;
	}
	if (pid == 0) {
		/* Nothing of the supervisor's but the log. */
		close(sv[0]);
		close_fd(&c->sfd);
		close_fd(&c->report_fd);
		s.sock = sv[1];
		vdk_split_server(&s);
	}
	close(sv[1]);
	c->sock = sv[0];
	c->server = pid;
	ret = vdk_split_recv(c->sock, &m, (int)c->cfg->timeout * 1000);
	if (ret == 0 && m.type == SPLIT_CREATED) {
		c->desc = m.desc;
		c->confine = m.confine;
		return 0;
	}
	if (ret == 0 && m.type == SPLIT_FAILED) {
		snprintf(err, errlen, "%s", m.err);
		ret = m.ret ? m.ret : -EIO;
		created = m.created;
	} else {
		snprintf(err, errlen, "the serving process %s",
			 ret == -ETIMEDOUT ? "did not answer" :
					     "ended before the device was made");
		ret = ret ? ret : -EPROTO;
		kill(pid, SIGKILL);
	}
	waitpid(pid, &status, 0);
	c->server = -1;
	/*
	 * The server made the kernel device, then could not confine
	 * itself: nothing ever served it, and an add that fails leaves
	 * nothing behind.  (It is gone, and its descriptor with it.)
	 */
	if (created)
		c->model->destroy(c->dev);
	return ret;
}

/*
 * Confined: the device is off the bus; have the server stop and wait
 * for it to go, so that the kernel device has no user left.
 */
static void server_stop(struct serve_ctx *c)
{
	struct split_msg m = { .type = SPLIT_STOP };
	uint64_t deadline = now_ms() + 30000;
	int status;

	if (c->server <= 0)
		return;
	vdk_split_send(c->sock, &m);
	while (waitpid(c->server, &status, WNOHANG) == 0) {
		if (now_ms() >= deadline) {
			vdk_log(VDK_LOG_ERR, "%s: the serving process did "
				"not stop: killed", c->name);
			kill(c->server, SIGKILL);
			waitpid(c->server, &status, 0);
			break;
		}
		poll(NULL, 0, 20);
	}
	c->server = -1;
}

/* A failed create(): the model's message, or vdk_dev_create()'s error. */
static void create_fail(struct serve_ctx *c, int ret, const char *err)
{
	if (err[0]) {
		serve_fail(c, VDK_EXIT_FAIL, "%s", err);
		return;
	}
	switch (ret) {
	case -EEXIST:
		serve_fail(c, VDK_EXIT_EXISTS, "device name '%s' is in use",
			   c->name);
		break;
	case -ENOENT:
		serve_fail(c, VDK_EXIT_KERNEL,
			   "/dev/vduse/control is missing: run 'modprobe vduse'");
		break;
	case -EPERM:
	case -EACCES:
		serve_fail(c, VDK_EXIT_PERM,
			   "not allowed to create a VDUSE device (root only)");
		break;
	case -EINVAL:
		serve_fail(c, VDK_EXIT_FAIL,
			   "the kernel refused the device configuration");
		break;
	default:
		serve_fail(c, VDK_EXIT_FAIL, "cannot create the device: %s",
			   strerror(-ret));
	}
}

static void attach_fail(struct serve_ctx *c, int ret)
{
	switch (ret) {
	case -EEXIST:
		serve_fail(c, VDK_EXIT_EXISTS,
			   "'%s' is already on the vDPA bus", c->name);
		break;
	case -ENODEV:
		serve_fail(c, VDK_EXIT_KERNEL,
			   "no vduse management device on the vDPA bus: run 'modprobe vduse'");
		break;
	case -EPERM:
	case -EACCES:
		serve_fail(c, VDK_EXIT_PERM,
			   "not allowed to attach to the vDPA bus (needs CAP_NET_ADMIN)");
		break;
	default:
		serve_fail(c, VDK_EXIT_FAIL,
			   "cannot attach to the vDPA bus: %s", strerror(-ret));
	}
}

static enum vdk_model_mode model_mode(const struct serve_ctx *c)
{
	switch (c->mode) {
	case VDK_DAEMON_RECOVER:
		return VDK_MODEL_REOPEN;
	case VDK_DAEMON_RESCUE:
		return VDK_MODEL_FAIL_IO;
	default:
		return VDK_MODEL_NEW;
	}
}

/*
 * VDUSE's bounce buffer in our memory: unless --bounce kernel, on the
 * virtio bus (on the vhost bus the driver's memory is a VM's, with no
 * bounce buffer).
 */
static bool bounce_umem(const struct serve_ctx *c)
{
	return !c->bounce_kernel && !c->vhost;
}

/*
 * The bounce buffer in our memory is pinned twice: by VDUSE (which counts
 * it against RLIMIT_MEMLOCK, even for root) and by each queue's io_uring
 * that registers it (which counts it against the limit, summed over all
 * rings of the user, unless the process has CAP_IPC_LOCK, which the
 * confined server has not).  Several devices served as one user share
 * that sum, so no bound computed here for one device holds: lift it,
 * as root, before the server starts.  Where we may not (no
 * CAP_SYS_RESOURCE), the library says so when a registration fails, and
 * serves from the kernel's memory.
 */
static void memlock_unlimit(const struct serve_ctx *c)
{
	struct rlimit rl = { RLIM_INFINITY, RLIM_INFINITY };

	if (setrlimit(RLIMIT_MEMLOCK, &rl))
		vdk_log(VDK_LOG_INFO, "%s: cannot lift the locked-memory "
			"limit: %s", c->name, strerror(errno));
}

/* --bounce-size, before the device is attached (it cannot change after). */
static int set_bounce_size(struct serve_ctx *c)
{
	uint64_t bytes = c->mode == VDK_DAEMON_ADD ? c->cfg->bounce_size : 0;
	int ret;

	if (!bytes)
		return 0;
	ret = vdk_sys_set_bounce_size(c->name, bytes);
	if (ret == -ENOENT)
		serve_fail(c, VDK_EXIT_KERNEL, "this kernel cannot set the "
			   "bounce buffer's size (Linux 6.4 can)");
	else if (ret)
		serve_fail(c, VDK_EXIT_FAIL, "bounce size %llu: %s",
			   (unsigned long long)bytes, strerror(-ret));
	return ret;
}

/*
 * Everything after the checks (and after the fork, with --daemon): bring
 * the device up, serve it, bring it down.  Each step is undone in reverse
 * on the way out, on success as on failure.
 */
static void serve_run(struct serve_ctx *c)
{
	char err[VDK_MODEL_ERR_MAX] = "";
	char *out = NULL;
	size_t outlen = 0;
	int ret;

	ret = signals_setup(c);
	if (ret) {
		serve_fail(c, VDK_EXIT_FAIL, "signals: %s", strerror(-ret));
		goto err_signals;
	}
	/* A client on the vhost bus may truncate its memory file under us. */
	ret = vdk_sigbus_guard();
	if (ret) {
		serve_fail(c, VDK_EXIT_FAIL, "SIGBUS guard: %s",
			   strerror(-ret));
		goto err_signals;
	}

	c->start_ns = now_ms() * 1000000;
	if (bounce_umem(c))
		memlock_unlimit(c);
	if (c->split)
		ret = server_start(c, err, sizeof(err));
	else
		ret = c->model->create(c->dev, model_mode(c), err,
				       sizeof(err));
	if (ret) {
		create_fail(c, ret, err);
		goto err_signals;
	}

	ret = vdk_nl_open(&c->nl);
	if (ret == -ENOENT) {
		serve_fail(c, VDK_EXIT_KERNEL,
			   "no vdpa netlink family: run 'modprobe vdpa'");
		goto err_stop;
	} else if (ret) {
		serve_fail(c, VDK_EXIT_FAIL, "netlink: %s", strerror(-ret));
		goto err_stop;
	}
	if (c->mode == VDK_DAEMON_RESCUE) {
		/* Queues now fail all I/O: detaching ends the waits. */
		vdk_log(VDK_LOG_NOTICE, "%s: failing its I/O and removing it",
			c->name);
		goto err_dev_del;
	}
	if (c->mode == VDK_DAEMON_RECOVER && vdk_sys_vdpa_attached(c->name)) {
		vdk_log(VDK_LOG_NOTICE, "%s: taken over, still attached",
			c->name);
	} else {
		ret = set_bounce_size(c);
		if (ret)
			goto err_close_nl;
		vdk_log(VDK_LOG_INFO, "%s: attaching to the vDPA bus",
			c->name);
		ret = vdk_nl_dev_new(c->nl, c->name);
		if (ret) {
			attach_fail(c, ret);
			goto err_close_nl;
		}
	}
	if (c->vhost && c->mode == VDK_DAEMON_ADD) {
		ret = vdk_sys_bind_vhost(c->name);
		if (ret) {
			serve_fail(c, VDK_EXIT_FAIL,
				   "cannot bind to vhost_vdpa: %s",
				   strerror(-ret));
			goto err_dev_del;
		}
	}

	ret = wait_live(c);
	if (ret == -ETIMEDOUT) {
		serve_fail(c, VDK_EXIT_FAIL, "'%s' not live after %u s",
			   c->name, c->cfg->timeout);
		goto err_dev_del;
	} else if (ret == -EINTR) {
		serve_fail(c, VDK_EXIT_FAIL, "interrupted");
		goto err_dev_del;
	} else if (ret == -EIO) {
		serve_fail(c, VDK_EXIT_FAIL, "the driver failed the device");
		goto err_dev_del;
	} else if (ret == -ECHILD) {
		serve_fail(c, VDK_EXIT_FAIL, "the serving process died");
		goto err_dev_del;
	} else if (ret) {
		serve_fail(c, VDK_EXIT_FAIL, "waiting for the device: %s",
			   strerror(-ret));
		goto err_dev_del;
	}

	/*
	 * The state file and the pidfile stay until the device is gone, so
	 * that `vdk del` and `vdk list` find the daemon while it stops.
	 */
	ret = state_save(c);
	if (ret) {
		serve_fail(c, VDK_EXIT_FAIL, "cannot write %s/%s.json: %s",
			   vdk_root(VDK_ROOT_RUN), c->name, strerror(-ret));
		goto err_dev_del;
	}
	if (c->cfg->pidfile) {
		ret = vdk_pidfile_write(c->pidfile, getpid());
		if (ret) {
			serve_fail(c, VDK_EXIT_FAIL, "cannot write %s: %s",
				   c->pidfile, strerror(-ret));
			goto err_dev_del;
		}
		c->pidfile_written = true;
	}
	ret = format_output(c, &out, &outlen);
	if (ret) {
		serve_fail(c, VDK_EXIT_FAIL, "output: %s", strerror(-ret));
		goto err_dev_del;
	}

	/* `vdk stat`: a device without it is served all the same. */
	ret = vdk_stats_listen(c->name, &c->stats_fd);
	if (ret)
		vdk_log(VDK_LOG_WARNING, "%s: no stats socket: %s", c->name,
			strerror(-ret));

	serve_report(c, out, outlen);
	free(out);
	vdk_log(VDK_LOG_INFO, "%s: serving %s", c->name, c->node);
	notify_ready(c);
	serve(c);
	vdk_stats_unlisten(c->name, &c->stats_fd);
	if (!c->server_died)
		vdk_notifyf("STOPPING=1\nSTATUS=stopping %s", c->name);
	if (c->server_died) {
		/* As for a daemon killed outright: all left to recover. */
		c->code = VDK_EXIT_FAIL;
		vdk_nl_close(c->nl);
		c->nl = NULL;
		if (c->pidfile_written)
			unlink(c->pidfile);
		goto err_signals;
	}

err_dev_del:
	/* First off the bus: the kernel still talks to the device here. */
	ret = vdk_nl_dev_del(c->nl, c->name);
	if (ret && ret != -ENODEV)
		vdk_log(VDK_LOG_ERR, "%s: cannot detach from the vDPA bus: %s",
			c->name, strerror(-ret));
err_close_nl:
	vdk_nl_close(c->nl);
	c->nl = NULL;
err_stop:
	if (c->split) {
		/*
		 * Our copy of the device never served: destroy() has only
		 * the kernel device and what the model made on the host.
		 */
		server_stop(c);
		c->model->destroy(c->dev);
	} else {
		c->model->stop(c->dev);
		c->model->destroy(c->dev);
	}
	if (c->pidfile_written)
		unlink(c->pidfile);
	/* State and in-flight log go with the device, not the daemon. */
	if (!vdk_sys_vduse_exists(c->name))
		vdk_state_remove(c->name);
err_signals:
	close_fd(&c->sfd);
	close_fd(&c->sock);
	if (c->code && !c->server_died)
		serve_report(c, NULL, 0);
}

/*
 * recover and rescue: the model and its settings come from the state
 * file the dead daemon left; the command line adds only how to run.
 */
static int takeover_prepare(struct serve_ctx *c)
{
	char err[VDK_MODEL_ERR_MAX] = "", why[256];
	struct vdk_state st = { 0 };
	int ret, code;

	if (!vdk_sys_vduse_exists(c->name)) {
		vdk_err(c->verb, "no such device '%s'", c->name);
		return VDK_EXIT_NODEV;
	}
	ret = vdk_state_read(c->name, &st, why, sizeof(why));
	if (ret == -EINVAL) {
		vdk_err(c->verb, "cannot read the state of '%s': %s",
			c->name, why[0] ? why : strerror(-ret));
		return VDK_EXIT_FAIL;
	}
	if (ret) {
		vdk_err(c->verb, "no state for '%s' (%s): it was not made by "
			"vdk, or its state is lost",
			c->name, strerror(-ret));
		return ret == -ENOENT ? VDK_EXIT_NODEV : VDK_EXIT_FAIL;
	}
	if (st.pid > 0 && vdk_pid_is_vdk(st.pid)) {
		vdk_err(c->verb, "'%s' is served by process %d", c->name,
			st.pid);
		code = VDK_EXIT_EXISTS;
		goto out_state;
	}
	c->model = vdk_model_find(c->cfg->models, st.type);
	if (!c->model) {
		vdk_err(c->verb, "'%s' is a '%s' device, which this vdk "
			"does not know", c->name, st.type);
		code = VDK_EXIT_FAIL;
		goto out_state;
	}
	ret = c->model->cfg_new(&c->own_cfg);
	if (ret) {
		vdk_err(c->verb, "out of memory");
		code = VDK_EXIT_FAIL;
		goto out_state;
	}
	ret = c->model->cfg_from_state(c->own_cfg, &st,
				       c->mode == VDK_DAEMON_RESCUE, err,
				       sizeof(err));
	if (ret) {
		vdk_err(c->verb, "%s", err[0] ? err : strerror(-ret));
		code = VDK_EXIT_FAIL;
		goto out_state;
	}
	c->model_cfg = c->own_cfg;
	c->vhost = st.bus && strcmp(st.bus, "vhost") == 0;
	/* As made: its in-flight log has room for packed rings or not. */
	c->ring = st.features & (1ull << VIRTIO_F_RING_PACKED) ?
			  VDK_RING_PACKED : VDK_RING_SPLIT;
	c->in_order = st.features & (1ull << VIRTIO_F_IN_ORDER);
	c->bounce_kernel = st.bounce_kernel;
	if (c->mode == VDK_DAEMON_RESCUE)
		c->daemon = false;
	code = VDK_EXIT_OK;
out_state:
	vdk_state_free(&st);
	return code;
}

/*
 * Whether the device is served confined, and as whom: --user, else the
 * vdk user, else nobody (said in the log: a user of its own keeps one
 * daemon from another's files).
 */
static int confine_prepare(struct serve_ctx *c)
{
	const char *user = c->cfg->user ? c->cfg->user : VDK_DEFAULT_USER;
	int ret;

	if (c->cfg->no_confine || c->mode == VDK_DAEMON_RESCUE ||
	    !c->model->confinement)
		return VDK_EXIT_OK;
	ret = vdk_confine_user(user, &c->uid, &c->gid);
	if (ret == -ENOENT && !c->cfg->user) {
		user = "nobody";
		ret = vdk_confine_user(user, &c->uid, &c->gid);
		if (ret == 0)
			vdk_log(VDK_LOG_INFO, "%s: no user '%s': serving "
				"as 'nobody' (see vdk help add)", c->name,
				VDK_DEFAULT_USER);
	}
	if (ret) {
		vdk_err(c->verb, "no user '%s' to serve as%s", user,
			c->cfg->user ? "" : " (--no-confine serves as root)");
		return c->cfg->user ? VDK_EXIT_USAGE : VDK_EXIT_FAIL;
	}
	if (c->uid == 0 || c->gid == 0) {
		vdk_err(c->verb, "user '%s' is root: use --no-confine", user);
		return VDK_EXIT_USAGE;
	}
	c->split = true;
	return VDK_EXIT_OK;
}

/* Exit code for a failed open(): its settings, or the rest. */
static int open_exit(int ret)
{
	return ret == -EINVAL || ret == -ERANGE ? VDK_EXIT_USAGE :
						  VDK_EXIT_FAIL;
}

/*
 * Once the model and its settings are known: open the device's storage,
 * check, fork, run.
 */
static int serve_main(struct serve_ctx *c)
{
	const struct vdk_daemon_cfg *cfg = c->cfg;
	char err[VDK_MODEL_ERR_MAX] = "";
	struct vdk_model_env env = {
		.name = c->name,
		.inflight_path = c->inflight,
		.log = vdk_log_cb,
	};
	char missing[128];
	int ret, code, parent_exit;

	ret = vdk_path(c->inflight, sizeof(c->inflight), VDK_ROOT_RUN,
		       "%s.inflight", c->name);
	if (ret) {
		vdk_err(c->verb, "%s: %s", vdk_root(VDK_ROOT_RUN),
			strerror(-ret));
		return VDK_EXIT_FAIL;
	}
	/* The level of the log opened below. */
	env.log_level = VDK_LOG_NOTICE + cfg->verbose;
	if (c->ring == VDK_RING_DEFAULT)
		c->ring = c->vhost ? VDK_RING_PACKED : VDK_RING_SPLIT;
	env.dev_flags = c->ring == VDK_RING_SPLIT ? VDK_DEV_F_NO_PACKED :
						    VDK_DEV_F_PACKED;
	if (c->in_order)
		env.dev_flags |= VDK_DEV_F_IN_ORDER;
	if (bounce_umem(c))
		env.dev_flags |= VDK_DEV_F_BOUNCE_UMEM;
	ret = c->model->open(c->model_cfg, &env, &c->dev, err, sizeof(err));
	if (ret) {
		vdk_err(c->verb, "%s", err[0] ? err : strerror(-ret));
		return open_exit(ret);
	}

	/* Then who we are, then what the kernel has. */
	if (geteuid() != 0) {
		vdk_err(c->verb, "must be run as root");
		code = VDK_EXIT_PERM;
		goto out_close;
	}
	code = confine_prepare(c);
	if (code)
		goto out_close;
	if (vdk_sys_missing_modules(c->vhost, c->model->virtio_module,
				    missing, sizeof(missing))) {
		vdk_err(c->verb, "kernel support missing: run 'modprobe %s'",
			missing);
		code = VDK_EXIT_KERNEL;
		goto out_close;
	}
	if (c->mode == VDK_DAEMON_ADD && vdk_sys_name_in_use(c->name)) {
		struct vdk_state st = { 0 };

		if (vdk_state_read(c->name, &st, NULL, 0) == 0 &&
		    !(st.pid > 0 && vdk_pid_is_vdk(st.pid)))
			vdk_err(c->verb,
				"device name '%s' is in use, by no daemon: "
				"'vdk recover %s' serves it again, 'vdk "
				"rescue %s' removes it",
				c->name, c->name, c->name);
		else
			vdk_err(c->verb, "device name '%s' is in use",
				c->name);
		vdk_state_free(&st);
		code = VDK_EXIT_EXISTS;
		goto out_close;
	}
	ret = vdk_mkdir_p(vdk_root(VDK_ROOT_RUN), 0755);
	if (ret) {
		vdk_err(c->verb, "%s: %s", vdk_root(VDK_ROOT_RUN),
			strerror(-ret));
		code = VDK_EXIT_FAIL;
		goto out_close;
	}

	/* The daemon runs in /: make the paths it is given absolute. */
	if (cfg->pidfile &&
	    vdk_abspath(cfg->pidfile, c->pidfile, sizeof(c->pidfile))) {
		vdk_err(c->verb, "bad pidfile path '%s'", cfg->pidfile);
		code = VDK_EXIT_USAGE;
		goto out_close;
	}
	if (cfg->log &&
	    vdk_abspath(cfg->log, c->logpath, sizeof(c->logpath))) {
		vdk_err(c->verb, "bad log path '%s'", cfg->log);
		code = VDK_EXIT_USAGE;
		goto out_close;
	}
	ret = vdk_log_open(cfg->log ? c->logpath : NULL, c->daemon,
			   VDK_LOG_NOTICE + cfg->verbose);
	if (ret) {
		vdk_err(c->verb, "cannot open the log %s: %s", c->logpath,
			strerror(-ret));
		code = VDK_EXIT_FAIL;
		goto out_close;
	}

	if (c->daemon) {
		ret = vdk_daemonize(vdk_log_fd(), &c->report_fd,
				    &parent_exit);
		if (ret < 0) {
			vdk_err(c->verb, "fork: %s", strerror(-ret));
			code = VDK_EXIT_FAIL;
			goto out_log;
		}
		if (ret == 1) {
			/*
			 * The parent: the storage now belongs to the
			 * daemon; closing it here could reach shared
			 * state (a socket's peer), so leave it.
			 */
			fflush(stdout);
			_exit(parent_exit);
		}
	}

	serve_run(c);
	code = c->code;

out_log:
	vdk_log_close();
out_close:
	c->model->close(c->dev);
	c->dev = NULL;
	return code;
}

int vdk_daemon_run(const struct vdk_daemon_cfg *cfg)
{
	static const char *const verbs[] = {
		[VDK_DAEMON_ADD] = "add",
		[VDK_DAEMON_RECOVER] = "recover",
		[VDK_DAEMON_RESCUE] = "rescue",
	};
	struct serve_ctx *c;
	int code;

	c = calloc(1, sizeof(*c));
	if (!c) {
		vdk_err(verbs[cfg->mode], "out of memory");
		return VDK_EXIT_FAIL;
	}
	c->cfg = cfg;
	c->mode = cfg->mode;
	c->verb = verbs[cfg->mode];
	c->name = cfg->name;
	c->model = cfg->model;
	c->model_cfg = cfg->model_cfg;
	c->vhost = cfg->vhost;
	c->ring = cfg->ring;
	c->in_order = cfg->in_order;
	c->bounce_kernel = cfg->bounce_kernel;
	c->daemon = cfg->daemon;
	c->sfd = -1;
	c->report_fd = -1;
	c->sock = -1;
	c->server = -1;
	c->stats_fd = -1;
	c->start_pid = getpid();
	if (c->mode != VDK_DAEMON_ADD) {
		code = takeover_prepare(c);
		if (code)
			goto out;
	}
	code = serve_main(c);
out:
	if (c->model && c->own_cfg)
		c->model->cfg_free(c->own_cfg);
	free(c);
	return code;
}
