// SPDX-License-Identifier: MIT
/*
 * virtio-blk as a device model of the vdk daemon: its options, a storage
 * backend opened with its key=value parameters, the device (blk.c), and
 * what the state file keeps of it so that `vdk recover` can open it
 * again.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blk-model.h"
#include "blk.h"
#include "sysfs.h"

enum {
	OPT_QUEUES,
	OPT_QUEUE_SIZE,
	OPT_BLOCK_SIZE,
	OPT_READ_ONLY,
	OPT_SERIAL,
};

static const struct vdk_model_opt blk_opts[] = {
	{ "queues", 'q', true, OPT_QUEUES },
	{ "queue-size", 0, true, OPT_QUEUE_SIZE },
	{ "block-size", 'b', true, OPT_BLOCK_SIZE },
	{ "read-only", 'r', false, OPT_READ_ONLY },
	{ "serial", 0, true, OPT_SERIAL },
	{ NULL, 0, false, 0 },
};

struct vdk_model_dev {
	const struct vdk_model_cfg *cfg;
	char *name;
	char *inflight;
	uint64_t dev_flags;
	vdk_log_fn log;
	int log_level;
	int poll_us;
	const struct vdk_backend_ops *ops;
	struct vdk_params params;
	struct vdk_bdev *bdev;
	uint32_t block_size;
	bool read_only;
	struct vdk_blk *blk;
	struct vdk_syscalls backend_syscalls; /* the backend's, named */
	/*
	 * The backend's events may come from its threads at any time,
	 * before the device exists and while it goes: @ev_lock guards
	 * @blk for them; a resize before the device is kept for it.
	 */
	pthread_mutex_t ev_lock;
	bool ev_resized;
};

static void dev_log(struct vdk_model_dev *d, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void dev_log(struct vdk_model_dev *d, int level, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (!d->log || level > d->log_level)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	d->log(d->name, level, msg);
}

static int bad_value(char *err, size_t errlen, const char *opt,
		     const char *val, const char *range)
{
	snprintf(err, errlen, "bad %s value '%s' (%s)", opt, val, range);
	return -EINVAL;
}

/* ---- settings ---- */

static int blk_cfg_new(struct vdk_model_cfg **out)
{
	struct vdk_model_cfg *cfg = calloc(1, sizeof(*cfg));

	if (!cfg)
		return -ENOMEM;
	cfg->queues = VDK_BLK_DEF_QUEUES;
	cfg->queue_size = VDK_BLK_DEF_QUEUE_SIZE;
	*out = cfg;
	return 0;
}

static void blk_cfg_free(struct vdk_model_cfg *cfg)
{
	if (!cfg)
		return;
	for (char **p = cfg->own_params; p && *p; p++)
		free(*p);
	free(cfg->own_params);
	free(cfg->own_backend);
	free(cfg);
}

static int blk_cfg_opt(struct vdk_model_cfg *cfg, int key, const char *val,
		       char *err, size_t errlen)
{
	unsigned long v;

	switch (key) {
	case OPT_QUEUES:
		if (vdk_parse_uint(val, 1, VDK_BLK_MAX_QUEUES, &v))
			return bad_value(err, errlen, "--queues", val,
					 "1..64");
		cfg->queues = v;
		break;
	case OPT_QUEUE_SIZE:
		if (vdk_parse_uint(val, 2, VDK_BLK_MAX_QUEUE_SIZE, &v) ||
		    (v & (v - 1)))
			return bad_value(err, errlen, "--queue-size", val,
					 "a power of 2, 2..1024");
		cfg->queue_size = v;
		break;
	case OPT_BLOCK_SIZE:
		if (vdk_parse_uint(val, 512, 4096, &v) || (v != 512 && v != 4096))
			return bad_value(err, errlen, "--block-size", val,
					 "512 or 4096");
		cfg->block_size = v;
		break;
	case OPT_READ_ONLY:
		cfg->read_only = true;
		break;
	case OPT_SERIAL:
		if (strlen(val) > VDK_BLK_SERIAL_MAX)
			return bad_value(err, errlen, "--serial", val,
					 "up to 20 bytes");
		cfg->serial = val;
		break;
	default:
		snprintf(err, errlen, "unknown option");
		return -EINVAL;
	}
	return 0;
}

static int blk_cfg_words(struct vdk_model_cfg *cfg, int n, char **words,
			 char *err, size_t errlen)
{
	if (n < 1) {
		snprintf(err, errlen, "missing backend (see 'vdk backends')");
		return -EINVAL;
	}
	cfg->backend = words[0];
	cfg->params = words + 1;
	cfg->nparams = n - 1;
	return 0;
}

static int blk_cfg_from_state(struct vdk_model_cfg *cfg,
			      const struct vdk_state *st, bool rescue,
			      char *err, size_t errlen)
{
	unsigned int i, n = rescue ? 1 : st->nparams;

	if (!st->backend) {
		snprintf(err, errlen, "the state of '%s' names no backend",
			 st->name);
		return -EINVAL;
	}
	cfg->own_params = calloc(n + 1, sizeof(*cfg->own_params));
	if (!cfg->own_params)
		goto err_nomem;
	if (rescue) {
		/* The storage may be gone too: rescue needs none of it. */
		cfg->own_backend = strdup("null");
		if (asprintf(&cfg->own_params[0], "size=%llu",
			     (unsigned long long)st->size) < 0) {
			cfg->own_params[0] = NULL;
			goto err_nomem;
		}
	} else {
		cfg->own_backend = strdup(st->backend);
		for (i = 0; i < n; i++)
			if (asprintf(&cfg->own_params[i], "%s=%s",
				     st->params[i].key,
				     st->params[i].value) < 0) {
				cfg->own_params[i] = NULL;
				goto err_nomem;
			}
	}
	if (!cfg->own_backend)
		goto err_nomem;
	cfg->backend = cfg->own_backend;
	cfg->params = cfg->own_params;
	cfg->nparams = (int)n;
	cfg->queues = st->queues;
	cfg->queue_size = st->queue_size;
	cfg->block_size = st->block_size;
	cfg->read_only = st->read_only;
	return 0;

err_nomem:
	snprintf(err, errlen, "out of memory");
	return -ENOMEM;
}

/* ---- the device ---- */

/* VDK_POLL_US: the longest queue threads poll after work (tuning). */
static int poll_us_from_env(void)
{
	const char *v = getenv("VDK_POLL_US");
	unsigned long n;

	if (!v || vdk_parse_uint(v, 0, 1000000, &n))
		return -1;
	return (int)n;
}

/* Open and check the backend.  -EINVAL: a usage error. */
static int backend_open(struct vdk_model_dev *d, char *err, size_t errlen)
{
	const struct vdk_model_cfg *cfg = d->cfg;
	struct vdk_backend_info info;
	int ret;

	d->ops = vdk_backend_find(cfg->backend);
	if (!d->ops) {
		snprintf(err, errlen, "unknown backend '%s' (see 'vdk backends')",
			 cfg->backend);
		return -EINVAL;
	}
	ret = vdk_params_parse(&d->params, cfg->nparams, cfg->params, err,
			       errlen);
	if (ret)
		return -EINVAL;
	ret = d->ops->open(&d->params, &d->bdev, err, errlen);
	if (ret)
		goto err_params;
	ret = vdk_params_check_unused(&d->params, err, errlen);
	if (ret) {
		ret = -EINVAL;
		goto err_close;
	}
	ret = d->ops->info(d->bdev, &info);
	if (ret) {
		snprintf(err, errlen, "%s: %s", d->ops->name, strerror(-ret));
		/* Not a usage error, whatever the backend says. */
		ret = -EIO;
		goto err_close;
	}
	d->block_size = cfg->block_size ? cfg->block_size : info.block_size;
	if (!d->block_size)
		d->block_size = 512;
	ret = -EINVAL;
	if (info.size == 0) {
		snprintf(err, errlen, "the backend's size is 0");
		goto err_close;
	}
	if (info.size % d->block_size) {
		snprintf(err, errlen,
			 "size %llu is not a multiple of the block size %u",
			 (unsigned long long)info.size, d->block_size);
		goto err_close;
	}
	d->read_only = cfg->read_only || info.read_only;
	if (cfg->queues > 1 && !info.multi_queue) {
		snprintf(err, errlen, "the %s backend serves one queue here "
			 "(e.g. an NBD server without multi-conn): drop -q",
			 d->ops->name);
		goto err_close;
	}
	return 0;

err_close:
	d->ops->close(d->bdev);
	d->bdev = NULL;
err_params:
	vdk_params_free(&d->params);
	return ret;
}

static void dev_free(struct vdk_model_dev *d)
{
	pthread_mutex_destroy(&d->ev_lock);
	free(d->inflight);
	free(d->name);
	free(d);
}

static int blk_open(const struct vdk_model_cfg *cfg,
		    const struct vdk_model_env *env, struct vdk_model_dev **out,
		    char *err, size_t errlen)
{
	struct vdk_model_dev *d;
	int ret;

	d = calloc(1, sizeof(*d));
	if (!d)
		goto err_nomem;
	pthread_mutex_init(&d->ev_lock, NULL);
	d->cfg = cfg;
	d->log = env->log;
	d->log_level = env->log_level;
	d->dev_flags = env->dev_flags;
	d->poll_us = poll_us_from_env();
	d->name = strdup(env->name);
	if (env->inflight_path)
		d->inflight = strdup(env->inflight_path);
	if (!d->name || (env->inflight_path && !d->inflight))
		goto err_free;
	ret = backend_open(d, err, errlen);
	if (ret) {
		dev_free(d);
		return ret;
	}
	*out = d;
	return 0;

err_free:
	dev_free(d);
err_nomem:
	snprintf(err, errlen, "out of memory");
	return -ENOMEM;
}

static void blk_destroy(struct vdk_model_dev *d)
{
	struct vdk_blk *blk;
	int ret;

	/* The backend's threads no longer reach it once it is gone. */
	pthread_mutex_lock(&d->ev_lock);
	blk = d->blk;
	d->blk = NULL;
	pthread_mutex_unlock(&d->ev_lock);
	vdk_blk_free(blk);
	ret = vdk_model_destroy_vduse(d->name);
	if (ret && ret != -ENOENT)
		dev_log(d, VDK_LOG_ERR, "cannot destroy the VDUSE device: %s",
			strerror(-ret));
}

/*
 * The backend's news (set_events), from its threads: to the device,
 * whose control thread reads the size again and tells the driver (and
 * then the daemon, through changed_fd()).  A resize told before the
 * device exists waits for it; the rest is about queues, which do not
 * run yet.  A lost or restored connection is in the log (set_log).
 */
static void backend_event(void *opaque, enum vdk_backend_event ev,
			  unsigned int qidx)
{
	struct vdk_model_dev *d = opaque;

	pthread_mutex_lock(&d->ev_lock);
	if (d->blk)
		vdk_blk_backend_event(d->blk, ev, qidx);
	else if (ev == VDK_BACKEND_EV_RESIZED)
		d->ev_resized = true;
	pthread_mutex_unlock(&d->ev_lock);
}

/* The device is made: it hears the backend's events from now on. */
static void events_attach(struct vdk_model_dev *d, struct vdk_blk *blk)
{
	pthread_mutex_lock(&d->ev_lock);
	d->blk = blk;
	if (d->ev_resized)
		vdk_blk_backend_event(blk, VDK_BACKEND_EV_RESIZED, 0);
	d->ev_resized = false;
	pthread_mutex_unlock(&d->ev_lock);
}

static int blk_create(struct vdk_model_dev *d, enum vdk_model_mode mode,
		      char *err, size_t errlen)
{
	struct vdk_blk_cfg cfg = {
		.name = d->name,
		.backend = d->ops,
		.bdev = d->bdev,
		.num_queues = d->cfg->queues,
		.queue_size = d->cfg->queue_size,
		.block_size = d->block_size,
		.read_only = d->read_only,
		.serial = d->cfg->serial,
		.log = d->log,
		.log_opaque = NULL, /* the messages name the device */
		.log_level = d->log_level,
		.reopen = mode != VDK_MODEL_NEW,
		.inflight_path = d->inflight,
		.dev_flags = d->dev_flags,
		.fail_io = mode == VDK_MODEL_FAIL_IO,
		.poll_us = d->poll_us,
	};
	struct vdk_blk *blk;
	int ret;

	if (d->ops->set_log) {
		/* The storage's news (lost, failing, back), named as ours. */
		struct vdk_backend_log blog = {
			.fn = d->log,
			.opaque = d->name,
			.level = d->log_level,
		};

		d->ops->set_log(d->bdev, &blog);
	}
	if (d->ops->set_events) {
		struct vdk_backend_events ev = {
			.fn = backend_event,
			.opaque = d,
		};

		d->ops->set_events(d->bdev, &ev);
	}
	if (d->ops->start && mode != VDK_MODEL_FAIL_IO) {
		ret = d->ops->start(d->bdev, err, errlen);
		if (ret) {
			if (!err[0])
				snprintf(err, errlen, "%s", strerror(-ret));
			return ret;
		}
	}
	ret = vdk_blk_create(&cfg, &blk);
	if (ret)
		return ret; /* the daemon explains vdk_dev_create()'s */
	events_attach(d, blk);
	/* The control thread must answer the kernel during the attach. */
	ret = vdk_blk_start(d->blk);
	if (ret) {
		snprintf(err, errlen, "cannot start the device: %s",
			 strerror(-ret));
		blk_destroy(d);
		return ret;
	}
	return 0;
}

static void blk_describe(struct vdk_model_dev *d, struct vdk_state *st)
{
	struct vdk_blk_info bi;
	unsigned int i;

	st->backend = (char *)d->ops->name;
	st->nparams = 0;
	for (i = 0; i < d->params.n && i < VDK_STATE_PARAMS; i++) {
		st->params[i].key = d->params.p[i].key;
		st->params[i].value = d->params.p[i].value;
		st->nparams++;
	}
	st->queue_size = d->cfg->queue_size;
	if (!d->blk) {
		st->block_size = d->block_size;
		st->queues = d->cfg->queues;
		st->read_only = d->read_only;
		return;
	}
	vdk_model_describe_dev(vdk_blk_dev(d->blk), st);
	vdk_blk_get_info(d->blk, &bi);
	st->size = bi.size;
	st->block_size = bi.block_size;
	st->queues = bi.num_queues;
	st->read_only = bi.read_only;
}

static uint8_t blk_status(struct vdk_model_dev *d)
{
	struct vdk_blk_info bi;

	vdk_blk_get_info(d->blk, &bi);
	return bi.status;
}

static int blk_resize(struct vdk_model_dev *d)
{
	return vdk_blk_resize(d->blk);
}

static int blk_changed_fd(struct vdk_model_dev *d)
{
	return d->blk ? vdk_blk_changed_fd(d->blk) : -1;
}

static bool blk_changed(struct vdk_model_dev *d)
{
	return d->blk && vdk_blk_changed(d->blk);
}

static void blk_stop(struct vdk_model_dev *d)
{
	if (d->blk)
		vdk_blk_stop(d->blk);
}

static void blk_close(struct vdk_model_dev *d)
{
	if (!d)
		return;
	d->ops->close(d->bdev);
	vdk_params_free(&d->params);
	dev_free(d);
}

static int blk_destroy_orphan(const char *name)
{
	return vdk_model_destroy_vduse(name);
}

/*
 * The device itself needs nothing beyond the daemon's own calls (its
 * threads poll eventfds and the ring); its backend says what it needs.
 */
static void blk_confinement(struct vdk_model_dev *d,
			    struct vdk_model_confine *out)
{
	unsigned int n = 0, i;

	memset(out, 0, sizeof(*out));
	if (d->ops->syscalls) {
		d->backend_syscalls.who = d->ops->name;
		d->backend_syscalls.names = d->ops->syscalls;
		out->syscalls[0] = &d->backend_syscalls;
	}
	for (i = 0; d->ops->ro_paths && d->ops->ro_paths[i] &&
		    n < VDK_MODEL_CONFINE_PATHS; i++)
		out->ro_paths[n++] = d->ops->ro_paths[i];
	if (d->ops->confine_paths)
		d->ops->confine_paths(d->bdev, out->ro_paths + n,
				      VDK_MODEL_CONFINE_PATHS - n);
}

/* A disk: /dev/vdX with a non-zero size. */
static int blk_virtio_live(const char *name, char *node, size_t len)
{
	return vdk_sys_disk_live(name, node, len);
}

_Static_assert((int)VDK_BLK_STAT_KINDS == (int)VDK_STAT_KINDS &&
	       (int)VDK_BLK_STAT_ZERO == (int)VDK_STAT_ZERO &&
	       VDK_BLK_LAT_BUCKETS == VDK_STAT_LAT_BUCKETS,
	       "blk's counters are laid out as the daemon's");

static int blk_stats(struct vdk_model_dev *d, unsigned int queue,
		     struct vdk_model_qstats *out)
{
	struct vdk_blk_qstats qs;
	struct vdk_blk_info bi;

	vdk_blk_get_info(d->blk, &bi);
	if (vdk_blk_get_qstats(d->blk, queue, &qs))
		return (int)bi.num_queues;
	memset(out, 0, sizeof(*out));
	snprintf(out->label, sizeof(out->label), "q%u", queue);
	memcpy(out->requests, qs.requests, sizeof(out->requests));
	memcpy(out->bytes, qs.bytes, sizeof(out->bytes));
	memcpy(out->latency, qs.latency, sizeof(out->latency));
	out->errors = qs.errors;
	out->in_flight = qs.in_flight;
	return (int)bi.num_queues;
}

const struct vdk_model_ops vdk_model_blk = {
	.name = "blk",
	.summary = "a virtio-blk disk served by a storage backend",
	.words_usage = "BACKEND [KEY=VALUE ...]",
	.opts = blk_opts,
	.opts_help =
	"  -q, --queues N         number of queues, 1..64 (default 1)\n"
	"      --queue-size N     queue size, a power of 2 up to 1024 (default 256)\n"
	"  -b, --block-size N     logical block size, 512 or 4096\n"
	"                         (default: the backend's)\n"
	"  -r, --read-only        a read-only disk\n"
	"      --serial STR       serial number, up to 20 bytes (default: NAME)\n",
	.virtio_module = "virtio_blk",
	.cfg_new = blk_cfg_new,
	.cfg_free = blk_cfg_free,
	.cfg_opt = blk_cfg_opt,
	.cfg_words = blk_cfg_words,
	.cfg_from_state = blk_cfg_from_state,
	.open = blk_open,
	.create = blk_create,
	.describe = blk_describe,
	.status = blk_status,
	.resize = blk_resize,
	.stop = blk_stop,
	.destroy = blk_destroy,
	.close = blk_close,
	.destroy_orphan = blk_destroy_orphan,
	.confinement = blk_confinement,
	.virtio_live = blk_virtio_live,
	.stats = blk_stats,
	.changed_fd = blk_changed_fd,
	.changed = blk_changed,
};
