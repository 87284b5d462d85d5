// SPDX-License-Identifier: MIT
/*
 * vdk add: create the device, attach it to the vDPA bus, wait until it is
 * live, report it, serve it until a signal, and take it down again.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include <linux/virtio_config.h>

#include "../blk/blk.h"
#include "args.h"
#include "cli.h"
#include "background.h"
#include "daemon-log.h"
#include "print.h"
#include "state.h"
#include "sysfs.h"
#include "vdpa-netlink.h"

const char vdk_add_usage[] =
"Usage: vdk add [OPTIONS] NAME BACKEND [KEY=VALUE ...]\n"
"\n"
"Create the virtio-blk device NAME served by BACKEND, attach it to the\n"
"vDPA bus and print its node once it is live: /dev/vdX on the virtio bus,\n"
"/dev/vhost-vdpa-N on the vhost bus.  Serves it until SIGINT or SIGTERM\n"
"(or `vdk del NAME`); SIGHUP re-reads the backend's size.\n"
"\n"
"Options:\n"
"  -q, --queues N         number of queues, 1..64 (default 1)\n"
"      --queue-size N     queue size, a power of 2 up to 1024 (default 256)\n"
"  -b, --block-size N     logical block size, 512 or 4096\n"
"                         (default: the backend's)\n"
"  -r, --read-only        a read-only disk\n"
"      --serial STR       serial number, up to 20 bytes (default: NAME)\n"
"      --bus virtio|vhost virtio_vdpa, a disk on this host (default), or\n"
"                         vhost_vdpa, for a VM or a userspace driver\n"
"  -d, --daemon           go to the background once the device is live\n"
"  -p, --pidfile FILE     write the daemon's pid there once it is live\n"
"  -j, --json             print the device as JSON\n"
"      --log FILE         log there (default: syslog with -d, else stderr)\n"
"  -v, --verbose          log more (twice: debug)\n"
"      --timeout SECS     wait that long for the device (default 30)\n"
"  -h, --help             this text\n"
"\n"
"Backends and their parameters: `vdk backends`.\n"
"Example: vdk add -d disk0 file path=/srv/disk.img\n";

/* Longest wait for VDUSE_DESTROY_DEV while the kernel lets go. */
#define DESTROY_TRIES 100
#define DESTROY_SLEEP_MS 50
/* How often to look at sysfs while waiting for the device. */
#define LIVE_POLL_MS 20
/* How often the serving loop looks at what the SIGBUS guard caught. */
#define SERVE_TICK_MS 1000

/* What add_run() does with an existing device, if any. */
enum add_mode {
	MODE_ADD,     /* create a new device */
	MODE_RECOVER, /* take over a device whose daemon died */
	MODE_RESCUE,  /* fail its I/O, detach and destroy it */
};

struct add_ctx {
	enum add_mode mode;
	struct vdk_add_args a;
	char inflight[4096];  /* RUN_DIR/NAME.inflight */
	const struct vdk_backend_ops *ops;
	struct vdk_params params;
	struct vdk_bdev *bdev;
	struct vdk_backend_info info;
	uint32_t block_size;
	bool read_only;
	char pidfile[4096];
	char logpath[4096];

	int sfd;        /* signalfd */
	int report_fd;  /* daemon: write end of the report pipe */
	struct vdk_blk *blk;
	struct vdk_nl *nl;
	char node[4096];
	bool pidfile_written;

	/* The first failure, reported once everything is undone. */
	int code;
	char msg[1024];
};

static void add_fail(struct add_ctx *c, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void add_fail(struct add_ctx *c, int code, const char *fmt, ...)
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
static void add_report(struct add_ctx *c, const char *out, size_t len)
{
	char line[1200];
	int n;

	if (c->code) {
		/* In the foreground without --log, the line below is enough. */
		if (c->report_fd >= 0 || c->a.log)
			vdk_log(VDK_LOG_ERR, "%s: %s", c->a.name, c->msg);
		if (c->report_fd < 0) {
			vdk_cli_err("add", "%s", c->msg);
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

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
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
static int signals_setup(struct add_ctx *c)
{
	sigset_t set;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, NULL))
		return -errno;
	c->sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (c->sfd < 0)
		return -errno;
	return 0;
}

/* The next signal waiting, 0 if none. */
static int signal_take(struct add_ctx *c)
{
	struct signalfd_siginfo si;
	ssize_t n;

	n = read(c->sfd, &si, sizeof(si));
	if (n != sizeof(si))
		return 0;
	return si.ssi_signo;
}

static void state_fill(struct add_ctx *c, struct vdk_state *st,
		       struct vdk_state_param *params)
{
	struct vdk_blk_info bi;

	vdk_blk_get_info(c->blk, &bi);
	memset(st, 0, sizeof(*st));
	st->pid = getpid();
	st->name = (char *)c->a.name;
	st->type = (char *)"blk";
	st->backend = (char *)c->ops->name;
	for (unsigned int i = 0; i < c->params.n && i < VDK_STATE_PARAMS;
	     i++) {
		params[i].key = c->params.p[i].key;
		params[i].value = c->params.p[i].value;
		st->params[i] = params[i];
		st->nparams++;
	}
	st->size = bi.size;
	st->block_size = bi.block_size;
	st->queues = bi.num_queues;
	st->queue_size = c->a.queue_size;
	st->read_only = bi.read_only;
	st->bus = c->a.vhost ? "vhost" : "virtio";
	st->node = c->node;
}

static int state_save(struct add_ctx *c)
{
	struct vdk_state_param params[VDK_STATE_PARAMS];
	struct vdk_state st;

	state_fill(c, &st, params);
	/* The strings belong to @c: no vdk_state_free(). */
	return vdk_state_write(&st);
}

/* What `vdk add` prints: the node, or the device as JSON. */
static int format_output(struct add_ctx *c, char **out, size_t *len)
{
	struct vdk_state_param params[VDK_STATE_PARAMS];
	struct vdk_state st;
	struct vdk_pr p;
	FILE *f;

	*out = NULL;
	*len = 0;
	f = open_memstream(out, len);
	if (!f)
		return -errno;
	state_fill(c, &st, params);
	vdk_pr_init(&p, f, c->a.json);
	vdk_pr_rec_begin(&p);
	vdk_pr_str(&p, VDK_PR_JSON, "name", 0, st.name);
	vdk_pr_str(&p, VDK_PR_ANY, "node", 0, st.node);
	vdk_pr_str(&p, VDK_PR_JSON, "bus", 0, st.bus);
	vdk_pr_str(&p, VDK_PR_JSON, "backend", 0, st.backend);
	vdk_pr_size(&p, VDK_PR_JSON, "size", 0, st.size);
	vdk_pr_u64(&p, VDK_PR_JSON, "block_size", 0, st.block_size);
	vdk_pr_u64(&p, VDK_PR_JSON, "queues", 0, st.queues);
	vdk_pr_u64(&p, VDK_PR_JSON, "queue_size", 0, st.queue_size);
	vdk_pr_bool(&p, VDK_PR_JSON, "read_only", 0, st.read_only);
	vdk_pr_u64(&p, VDK_PR_JSON, "pid", 0, st.pid);
	vdk_pr_rec_end(&p, true);
	if (fclose(f)) {
		free(*out);
		*out = NULL;
		return -ENOMEM;
	}
	return 0;
}

/*
 * Wait until the device is live on its bus.  0 when it is; -ETIMEDOUT,
 * -EINTR (SIGINT/SIGTERM), -EIO (the driver failed the device) or
 * another -errno.
 */
static int wait_live(struct add_ctx *c)
{
	uint64_t deadline = now_ms() + (uint64_t)c->a.timeout * 1000;
	struct pollfd pfd = { .fd = c->sfd, .events = POLLIN };
	struct vdk_blk_info bi;
	int ret, sig;

	for (;;) {
		ret = vdk_sys_live(c->a.name, c->a.vhost, c->node,
				   sizeof(c->node));
		if (ret != 0)
			return ret < 0 ? ret : 0;
		vdk_blk_get_info(c->blk, &bi);
		if (bi.status & VIRTIO_CONFIG_S_FAILED)
			return -EIO;
		if (now_ms() >= deadline)
			return -ETIMEDOUT;
		if (poll(&pfd, 1, LIVE_POLL_MS) > 0) {
			while ((sig = signal_take(c)))
				if (sig != SIGHUP)
					return -EINTR;
		}
	}
}

/*
 * `vdk bus` may have moved the device since it went live: the state file
 * says where it is now.
 */
static void bus_refresh(struct add_ctx *c)
{
	char drv[64], node[sizeof(c->node)];
	bool vhost;

	if (vdk_sys_vdpa_driver(c->a.name, drv, sizeof(drv)))
		return;
	if (!strcmp(drv, "vhost_vdpa"))
		vhost = true;
	else if (!strcmp(drv, "virtio_vdpa"))
		vhost = false;
	else
		return;
	if (vdk_sys_live(c->a.name, vhost, node, sizeof(node)) != 1)
		return;
	c->a.vhost = vhost;
	memcpy(c->node, node, sizeof(node));
}

/* Pages of driver memory the SIGBUS guard replaced: say so, once each. */
static void sigbus_report(struct add_ctx *c, uint64_t *seen)
{
	uint64_t n = vdk_sigbus_pages();

	if (n == *seen)
		return;
	vdk_log(VDK_LOG_ERR,
		"%s: the driver truncated memory it had given the device: %llu page(s) of it now read as zeros (SIGBUS caught)",
		c->a.name, (unsigned long long)(n - *seen));
	*seen = n;
}

/* Serve until SIGINT or SIGTERM.  SIGHUP: the backend may have grown. */
static void serve(struct add_ctx *c)
{
	struct pollfd pfd = { .fd = c->sfd, .events = POLLIN };
	uint64_t sigbus_seen = vdk_sigbus_pages();
	int sig, ret;

	for (;;) {
		ret = poll(&pfd, 1, SERVE_TICK_MS);
		sigbus_report(c, &sigbus_seen);
		if (ret < 0) {
			if (errno == EINTR)
				continue;
			vdk_log(VDK_LOG_ERR, "%s: poll: %s", c->a.name,
				strerror(errno));
			return;
		}
		while ((sig = signal_take(c))) {
			if (sig != SIGHUP) {
				vdk_log(VDK_LOG_NOTICE, "%s: %s, stopping",
					c->a.name, strsignal(sig));
				return;
			}
			ret = vdk_blk_resize(c->blk);
			if (ret) {
				vdk_log(VDK_LOG_ERR, "%s: resize: %s",
					c->a.name, strerror(-ret));
				continue;
			}
			bus_refresh(c);
			ret = state_save(c);
			if (ret)
				vdk_log(VDK_LOG_WARNING,
					"%s: cannot update the state file: %s",
					c->a.name, strerror(-ret));
		}
	}
}

/* VDUSE_DESTROY_DEV, waiting a little while the kernel lets go. */
static void destroy_dev(const char *name)
{
	int ret, i;

	for (i = 0; i < DESTROY_TRIES; i++) {
		ret = vdk_dev_destroy(name);
		if (ret != -EBUSY)
			break;
		sleep_ms(DESTROY_SLEEP_MS);
	}
	if (ret && ret != -ENOENT)
		vdk_log(VDK_LOG_ERR, "%s: cannot destroy the VDUSE device: %s",
			name, strerror(-ret));
}

static void blk_create_fail(struct add_ctx *c, int ret)
{
	switch (ret) {
	case -EEXIST:
		add_fail(c, VDK_EXIT_EXISTS, "device name '%s' is in use",
			 c->a.name);
		break;
	case -ENOENT:
		add_fail(c, VDK_EXIT_KERNEL,
			 "/dev/vduse/control is missing: run 'modprobe vduse'");
		break;
	case -EPERM:
	case -EACCES:
		add_fail(c, VDK_EXIT_PERM,
			 "not allowed to create a VDUSE device (root only)");
		break;
	case -EINVAL:
		add_fail(c, VDK_EXIT_FAIL,
			 "the kernel refused the device configuration");
		break;
	default:
		add_fail(c, VDK_EXIT_FAIL, "cannot create the device: %s",
			 strerror(-ret));
	}
}

static void attach_fail(struct add_ctx *c, int ret)
{
	switch (ret) {
	case -EEXIST:
		add_fail(c, VDK_EXIT_EXISTS,
			 "'%s' is already on the vDPA bus", c->a.name);
		break;
	case -ENODEV:
		add_fail(c, VDK_EXIT_KERNEL,
			 "no vduse management device on the vDPA bus: run 'modprobe vduse'");
		break;
	case -EPERM:
	case -EACCES:
		add_fail(c, VDK_EXIT_PERM,
			 "not allowed to attach to the vDPA bus (needs CAP_NET_ADMIN)");
		break;
	default:
		add_fail(c, VDK_EXIT_FAIL,
			 "cannot attach to the vDPA bus: %s", strerror(-ret));
	}
}

/* VDK_POLL_US: the longest queue threads poll after work (tuning). */
static int poll_us_from_env(void)
{
	const char *v = getenv("VDK_POLL_US");
	unsigned long n;

	if (!v || vdk_parse_uint(v, 0, 1000000, &n))
		return -1;
	return (int)n;
}

/*
 * Everything after the checks (and after the fork, with --daemon): bring
 * the device up, serve it, bring it down.  Each step is undone in reverse
 * on the way out, on success as on failure.
 */
static void add_run(struct add_ctx *c)
{
	struct vdk_blk_cfg cfg = {
		.name = c->a.name,
		.backend = c->ops,
		.bdev = c->bdev,
		.num_queues = c->a.queues,
		.queue_size = c->a.queue_size,
		.block_size = c->block_size,
		.read_only = c->read_only,
		.serial = c->a.serial,
		.log = vdk_log_cb,
		.log_opaque = NULL, /* the messages name the device */
		.log_level = vdk_log_level(),
		.reopen = c->mode != MODE_ADD,
		.inflight_path = c->inflight,
		.fail_io = c->mode == MODE_RESCUE,
		.poll_us = poll_us_from_env(),
	};
	char err[VDK_BACKEND_ERR_MAX] = "";
	char *out = NULL;
	size_t outlen = 0;
	int ret;

	ret = signals_setup(c);
	if (ret) {
		add_fail(c, VDK_EXIT_FAIL, "signals: %s", strerror(-ret));
		goto err_signals;
	}
	/* A client on the vhost bus may truncate its memory file under us. */
	ret = vdk_sigbus_guard();
	if (ret) {
		add_fail(c, VDK_EXIT_FAIL, "SIGBUS guard: %s", strerror(-ret));
		goto err_signals;
	}
	if (c->ops->set_log) {
		/* The storage's news (lost, failing, back), named as ours. */
		struct vdk_backend_log blog = {
			.fn = vdk_log_cb,
			.opaque = (void *)c->a.name,
			.level = vdk_log_level(),
		};

		c->ops->set_log(c->bdev, &blog);
	}
	if (c->ops->start && c->mode != MODE_RESCUE) {
		ret = c->ops->start(c->bdev, err, sizeof(err));
		if (ret) {
			add_fail(c, VDK_EXIT_FAIL, "%s", err[0] ? err :
				 strerror(-ret));
			goto err_signals;
		}
	}

	ret = vdk_blk_create(&cfg, &c->blk);
	if (ret) {
		blk_create_fail(c, ret);
		goto err_signals;
	}
	/* The control thread must answer the kernel during the attach. */
	ret = vdk_blk_start(c->blk);
	if (ret) {
		add_fail(c, VDK_EXIT_FAIL, "cannot start the device: %s",
			 strerror(-ret));
		goto err_free_blk;
	}

	ret = vdk_nl_open(&c->nl);
	if (ret == -ENOENT) {
		add_fail(c, VDK_EXIT_KERNEL,
			 "no vdpa netlink family: run 'modprobe vdpa'");
		goto err_stop_blk;
	} else if (ret) {
		add_fail(c, VDK_EXIT_FAIL, "netlink: %s", strerror(-ret));
		goto err_stop_blk;
	}
	if (c->mode == MODE_RESCUE) {
		/* Queues now fail all I/O: detaching ends the waits. */
		vdk_log(VDK_LOG_NOTICE, "%s: failing its I/O and removing it",
			c->a.name);
		goto err_dev_del;
	}
	if (c->mode == MODE_RECOVER && vdk_sys_vdpa_attached(c->a.name)) {
		vdk_log(VDK_LOG_NOTICE, "%s: taken over, still attached",
			c->a.name);
	} else {
		vdk_log(VDK_LOG_INFO, "%s: attaching to the vDPA bus",
			c->a.name);
		ret = vdk_nl_dev_new(c->nl, c->a.name);
		if (ret) {
			attach_fail(c, ret);
			goto err_close_nl;
		}
	}
	if (c->a.vhost && c->mode == MODE_ADD) {
		ret = vdk_sys_bind_vhost(c->a.name);
		if (ret) {
			add_fail(c, VDK_EXIT_FAIL,
				 "cannot bind to vhost_vdpa: %s",
				 strerror(-ret));
			goto err_dev_del;
		}
	}

	ret = wait_live(c);
	if (ret == -ETIMEDOUT) {
		add_fail(c, VDK_EXIT_FAIL, "'%s' not live after %u s",
			 c->a.name, c->a.timeout);
		goto err_dev_del;
	} else if (ret == -EINTR) {
		add_fail(c, VDK_EXIT_FAIL, "interrupted");
		goto err_dev_del;
	} else if (ret == -EIO) {
		add_fail(c, VDK_EXIT_FAIL, "the driver failed the device");
		goto err_dev_del;
	} else if (ret) {
		add_fail(c, VDK_EXIT_FAIL, "waiting for the device: %s",
			 strerror(-ret));
		goto err_dev_del;
	}

	/*
	 * The state file and the pidfile stay until the device is gone, so
	 * that `vdk del` and `vdk list` find the daemon while it stops.
	 */
	ret = state_save(c);
	if (ret) {
		add_fail(c, VDK_EXIT_FAIL, "cannot write %s/%s.json: %s",
			 vdk_root(VDK_ROOT_RUN), c->a.name, strerror(-ret));
		goto err_dev_del;
	}
	if (c->a.pidfile) {
		ret = vdk_pidfile_write(c->pidfile, getpid());
		if (ret) {
			add_fail(c, VDK_EXIT_FAIL, "cannot write %s: %s",
				 c->pidfile, strerror(-ret));
			goto err_dev_del;
		}
		c->pidfile_written = true;
	}
	ret = format_output(c, &out, &outlen);
	if (ret) {
		add_fail(c, VDK_EXIT_FAIL, "output: %s", strerror(-ret));
		goto err_dev_del;
	}

	add_report(c, out, outlen);
	free(out);
	vdk_log(VDK_LOG_INFO, "%s: serving %s", c->a.name, c->node);
	serve(c);

err_dev_del:
	/* First off the bus: the kernel still talks to the device here. */
	ret = vdk_nl_dev_del(c->nl, c->a.name);
	if (ret && ret != -ENODEV)
		vdk_log(VDK_LOG_ERR, "%s: cannot detach from the vDPA bus: %s",
			c->a.name, strerror(-ret));
err_close_nl:
	vdk_nl_close(c->nl);
	c->nl = NULL;
err_stop_blk:
	vdk_blk_stop(c->blk);
err_free_blk:
	vdk_blk_free(c->blk);
	c->blk = NULL;
	destroy_dev(c->a.name);
	if (c->pidfile_written)
		unlink(c->pidfile);
	/* State and in-flight log go with the device, not the daemon. */
	if (!vdk_sys_vduse_exists(c->a.name))
		vdk_state_remove(c->a.name);
err_signals:
	close_fd(&c->sfd);
	if (c->code)
		add_report(c, NULL, 0);
}

/* Exit code for a failed backend open() or parameter check. */
static int param_exit(int ret)
{
	return ret == -EINVAL || ret == -ERANGE ? VDK_EXIT_USAGE :
						  VDK_EXIT_FAIL;
}

/*
 * The rest of add, recover and rescue once c->a is filled: open the
 * backend, check, fork, run.  @verb names the command in messages.
 */
static int add_main(struct add_ctx *c, const char *verb)
{
	char err[VDK_BACKEND_ERR_MAX] = "";
	char missing[128];
	int ret, code, parent_exit;

	c->ops = vdk_backend_find(c->a.backend);
	if (!c->ops) {
		vdk_cli_err(verb, "unknown backend '%s' (see 'vdk backends')",
			    c->a.backend);
		return VDK_EXIT_USAGE;
	}
	ret = vdk_params_parse(&c->params, c->a.nparams, c->a.params, err,
			       sizeof(err));
	if (ret) {
		vdk_cli_err(verb, "%s", err);
		return VDK_EXIT_USAGE;
	}
	ret = c->ops->open(&c->params, &c->bdev, err, sizeof(err));
	if (ret) {
		vdk_cli_err(verb, "%s", err[0] ? err : strerror(-ret));
		code = param_exit(ret);
		goto out_params;
	}
	ret = vdk_params_check_unused(&c->params, err, sizeof(err));
	if (ret) {
		vdk_cli_err(verb, "%s", err);
		code = VDK_EXIT_USAGE;
		goto out_close;
	}
	ret = c->ops->info(c->bdev, &c->info);
	if (ret) {
		vdk_cli_err(verb, "%s: %s", c->ops->name, strerror(-ret));
		code = VDK_EXIT_FAIL;
		goto out_close;
	}
	c->block_size = c->a.block_size ? c->a.block_size :
					  c->info.block_size;
	if (!c->block_size)
		c->block_size = 512;
	if (c->info.size == 0) {
		vdk_cli_err(verb, "the backend's size is 0");
		code = VDK_EXIT_USAGE;
		goto out_close;
	}
	if (c->info.size % c->block_size) {
		vdk_cli_err(verb,
			    "size %llu is not a multiple of the block size %u",
			    (unsigned long long)c->info.size, c->block_size);
		code = VDK_EXIT_USAGE;
		goto out_close;
	}
	c->read_only = c->a.read_only || c->info.read_only;
	if (c->a.queues > 1 && !c->info.multi_queue) {
		vdk_cli_err(verb, "the %s backend serves one queue here "
			    "(e.g. an NBD server without multi-conn): drop -q",
			    c->ops->name);
		code = VDK_EXIT_USAGE;
		goto out_close;
	}

	/* Then who we are, then what the kernel has. */
	if (!vdk_is_root()) {
		vdk_cli_err(verb, "must be run as root");
		code = VDK_EXIT_PERM;
		goto out_close;
	}
	if (vdk_sys_missing_modules(c->a.vhost, missing, sizeof(missing))) {
		vdk_cli_err(verb,
			    "kernel support missing: run 'modprobe %s'",
			    missing);
		code = VDK_EXIT_KERNEL;
		goto out_close;
	}
	if (c->mode == MODE_ADD && vdk_sys_name_in_use(c->a.name)) {
		struct vdk_state st = { 0 };

		if (vdk_state_read(c->a.name, &st) == 0 &&
		    !(st.pid > 0 && vdk_pid_is_vdk(st.pid)))
			vdk_cli_err(verb,
				    "device name '%s' is in use, by no daemon: "
				    "'vdk recover %s' serves it again, 'vdk "
				    "rescue %s' removes it",
				    c->a.name, c->a.name, c->a.name);
		else
			vdk_cli_err(verb, "device name '%s' is in use",
				    c->a.name);
		vdk_state_free(&st);
		code = VDK_EXIT_EXISTS;
		goto out_close;
	}
	ret = vdk_path(c->inflight, sizeof(c->inflight), VDK_ROOT_RUN,
		       "%s.inflight", c->a.name);
	if (ret == 0)
		ret = vdk_mkdir_p(vdk_root(VDK_ROOT_RUN), 0755);
	if (ret) {
		vdk_cli_err(verb, "%s: %s", vdk_root(VDK_ROOT_RUN),
			    strerror(-ret));
		code = VDK_EXIT_FAIL;
		goto out_close;
	}

	/* The daemon runs in /: make the paths it is given absolute. */
	if (c->a.pidfile &&
	    vdk_abspath(c->a.pidfile, c->pidfile, sizeof(c->pidfile))) {
		vdk_cli_err(verb, "bad pidfile path '%s'", c->a.pidfile);
		code = VDK_EXIT_USAGE;
		goto out_close;
	}
	if (c->a.log &&
	    vdk_abspath(c->a.log, c->logpath, sizeof(c->logpath))) {
		vdk_cli_err(verb, "bad log path '%s'", c->a.log);
		code = VDK_EXIT_USAGE;
		goto out_close;
	}
	ret = vdk_log_open(c->a.log ? c->logpath : NULL, c->a.daemon,
			   VDK_LOG_NOTICE + c->a.verbose);
	if (ret) {
		vdk_cli_err(verb, "cannot open the log %s: %s", c->logpath,
			    strerror(-ret));
		code = VDK_EXIT_FAIL;
		goto out_close;
	}

	if (c->a.daemon) {
		ret = vdk_daemonize(vdk_log_fd(), &c->report_fd,
				    &parent_exit);
		if (ret < 0) {
			vdk_cli_err(verb, "fork: %s", strerror(-ret));
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

	add_run(c);
	code = c->code;

out_log:
	vdk_log_close();
out_close:
	c->ops->close(c->bdev);
out_params:
	vdk_params_free(&c->params);
	return code;
}

int vdk_cmd_add(int argc, char **argv)
{
	char err[VDK_BACKEND_ERR_MAX] = "";
	struct add_ctx *c;
	int code;

	c = calloc(1, sizeof(*c));
	if (!c) {
		vdk_cli_err("add", "out of memory");
		return VDK_EXIT_FAIL;
	}
	c->sfd = -1;
	c->report_fd = -1;
	c->mode = MODE_ADD;
	/* Usage first: options, the backend, its parameters. */
	if (vdk_args_add(argc, argv, &c->a, err, sizeof(err))) {
		vdk_cli_err("add", "%s", err);
		code = VDK_EXIT_USAGE;
	} else if (c->a.help) {
		fputs(vdk_add_usage, stdout);
		code = VDK_EXIT_OK;
	} else {
		code = add_main(c, "add");
	}
	free(c);
	return code;
}

const char vdk_recover_usage[] =
"Usage: vdk recover [OPTIONS] NAME\n"
"\n"
"Take over the device NAME whose daemon died (killed, crashed): serve it\n"
"again with the backend and parameters it had (from its state file), take\n"
"the requests it had in flight again, and go on.  Waiting I/O resumes; no\n"
"request is lost or completed twice.\n"
"\n"
"Options:\n"
"  -d, --daemon           go to the background once the device is live\n"
"  -p, --pidfile FILE     write the daemon's pid there\n"
"  -j, --json             print the device as JSON\n"
"      --log FILE         log there (default: syslog with -d, else stderr)\n"
"  -v, --verbose          log more\n"
"      --timeout SECS     wait that long for the device (default 30)\n"
"  -h, --help             this text\n";

const char vdk_rescue_usage[] =
"Usage: vdk rescue [-v] NAME\n"
"\n"
"Remove the device NAME whose daemon is gone for good: complete every\n"
"request it had in flight or waiting with an I/O error, detach it from\n"
"the vDPA bus and destroy it, so that nothing stays blocked.  The data\n"
"written before is wherever the backend kept it.\n";

/*
 * recover and rescue: the settings come from the state file the dead
 * daemon left; the command line adds only how to run.
 */
static int takeover(int argc, char **argv, enum add_mode mode)
{
	const char *verb = mode == MODE_RESCUE ? "rescue" : "recover";
	char err[VDK_BACKEND_ERR_MAX] = "";
	struct vdk_state st = { 0 };
	char **kv = NULL;
	struct add_ctx *c;
	unsigned int i;
	int ret, code;

	c = calloc(1, sizeof(*c));
	if (!c) {
		vdk_cli_err(verb, "out of memory");
		return VDK_EXIT_FAIL;
	}
	c->sfd = -1;
	c->report_fd = -1;
	c->mode = mode;
	/* The add parser, with NAME and a placeholder backend. */
	{
		char **av = calloc((size_t)argc + 2, sizeof(*av));

		if (!av) {
			free(c);
			return VDK_EXIT_FAIL;
		}
		for (i = 0; i < (unsigned int)argc; i++)
			av[i] = argv[i];
		av[argc] = (char *)"-";
		ret = vdk_args_add(argc + 1, av, &c->a, err, sizeof(err));
		free(av);
	}
	if (ret || c->a.nparams) {
		vdk_cli_err(verb, "%s", ret ? err : "unexpected KEY=VALUE");
		code = VDK_EXIT_USAGE;
		goto out;
	}
	if (c->a.help) {
		fputs(mode == MODE_RESCUE ? vdk_rescue_usage :
					    vdk_recover_usage, stdout);
		code = VDK_EXIT_OK;
		goto out;
	}
	if (!vdk_sys_vduse_exists(c->a.name)) {
		vdk_cli_err(verb, "no such device '%s'", c->a.name);
		code = VDK_EXIT_NODEV;
		goto out;
	}
	ret = vdk_state_read(c->a.name, &st);
	if (ret) {
		vdk_cli_err(verb, "no state for '%s' (%s): it was not made by "
			    "vdk, or its state is lost",
			    c->a.name, strerror(-ret));
		code = ret == -ENOENT ? VDK_EXIT_NODEV : VDK_EXIT_FAIL;
		goto out;
	}
	if (st.pid > 0 && vdk_pid_is_vdk(st.pid)) {
		vdk_cli_err(verb, "'%s' is served by process %d", c->a.name,
			    st.pid);
		code = VDK_EXIT_EXISTS;
		goto out_state;
	}
	kv = calloc(st.nparams + 1, sizeof(*kv));
	if (!kv) {
		code = VDK_EXIT_FAIL;
		goto out_state;
	}
	for (i = 0; i < st.nparams; i++)
		if (asprintf(&kv[i], "%s=%s", st.params[i].key,
			     st.params[i].value) < 0) {
			code = VDK_EXIT_FAIL;
			goto out_kv;
		}
	c->a.backend = st.backend;
	c->a.params = kv;
	c->a.nparams = (int)st.nparams;
	if (mode == MODE_RESCUE) {
		/* The storage may be gone too: rescue needs none of it. */
		for (i = 0; i < st.nparams; i++) {
			free(kv[i]);
			kv[i] = NULL;
		}
		if (asprintf(&kv[0], "size=%llu",
			     (unsigned long long)st.size) < 0) {
			code = VDK_EXIT_FAIL;
			goto out_kv;
		}
		c->a.backend = "null";
		c->a.nparams = 1;
	}
	c->a.queues = st.queues;
	c->a.queue_size = st.queue_size;
	c->a.block_size = st.block_size;
	c->a.read_only = st.read_only;
	c->a.vhost = st.bus && strcmp(st.bus, "vhost") == 0;
	if (mode == MODE_RESCUE)
		c->a.daemon = false;
	code = add_main(c, verb);
out_kv:
	for (i = 0; i < st.nparams || (kv && i == 0); i++)
		free(kv[i]);
	free(kv);
out_state:
	vdk_state_free(&st);
out:
	free(c);
	return code;
}

int vdk_cmd_recover(int argc, char **argv)
{
	return takeover(argc, argv, MODE_RECOVER);
}

int vdk_cmd_rescue(int argc, char **argv)
{
	return takeover(argc, argv, MODE_RESCUE);
}
