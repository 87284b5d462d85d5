// SPDX-License-Identifier: MIT
/*
 * virtio-net as a device model of the vdk daemon: its options, a network
 * backend opened with its key=value parameters, the device (net.c), and
 * what the state file keeps of it so that `vdk recover` opens the same
 * interface with the same address again.
 *
 * The state file's params hold the backend's resolved parameters and the
 * device's own, "mac" and "mtu": a restarted daemon must offer the driver
 * exactly what it had.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "net-model.h"
#include "net.h"
#include "sysfs.h"

enum {
	OPT_MAC,
	OPT_MTU,
	OPT_QUEUE_SIZE,
};

static const struct vdk_model_opt net_opts[] = {
	{ "mac", 0, true, OPT_MAC },
	{ "mtu", 0, true, OPT_MTU },
	{ "queue-size", 0, true, OPT_QUEUE_SIZE },
	{ NULL, 0, false, 0 },
};

struct vdk_model_cfg {
	const char *backend;
	int nparams;              /* KEY=VALUE words, parsed at open() */
	char *const *params;
	bool has_mac;
	uint8_t mac[6];
	unsigned int mtu;
	unsigned int queue_size;
	/* rescue: the backend is named, kept in the state, never opened */
	bool no_backend;
	/* What cfg_from_state() made: backend and params point here. */
	char *own_backend;
	char **own_params;
};

struct vdk_model_dev {
	const struct vdk_model_cfg *cfg;
	char *name;
	char *inflight;
	uint64_t dev_flags;
	vdk_log_fn log;
	int log_level;
	const struct vdk_netdev_ops *ops;
	struct vdk_params params;
	struct vdk_netdev *nd;
	uint8_t mac[6];
	struct vdk_net *net;
	struct vdk_syscalls backend_syscalls;
	/* describe(): the backend's and our own, as strings. */
	char mac_str[18];
	char mtu_str[8];
};

int vdk_net_parse_mac(const char *s, uint8_t mac[6])
{
	unsigned int b[6];
	char end;

	if (!s || strlen(s) != 17 ||
	    sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3],
		   &b[4], &b[5], &end) != 6)
		return -EINVAL;
	for (int i = 0; i < 6; i++) {
		if (s[i * 3 + 2] != (i == 5 ? '\0' : ':'))
			return -EINVAL;
		mac[i] = (uint8_t)b[i];
	}
	if (mac[0] & 1)
		return -EINVAL;
	return 0;
}

static void format_mac(const uint8_t mac[6], char out[18])
{
	snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1],
		 mac[2], mac[3], mac[4], mac[5]);
}

/*
 * A locally administered address of its own for a device with none
 * given: the same for the same name on the same machine (a hash of
 * /etc/machine-id and the name), so that a device made again keeps its
 * address and its leases.
 */
static void default_mac(const char *name, uint8_t mac[6])
{
	uint64_t h = 14695981039346656037ull; /* FNV-1a */
	char id[64] = "";
	int fd;

	fd = open("/etc/machine-id", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (read(fd, id, sizeof(id) - 1) < 0)
			id[0] = '\0';
		close(fd);
	}
	if (!id[0] && getrandom(id, 16, 0) < 0)
		snprintf(id, sizeof(id), "%ld", (long)time(NULL));
	for (const char *p = id; *p; p++)
		h = (h ^ (uint8_t)*p) * 1099511628211ull;
	for (const char *p = name; *p; p++)
		h = (h ^ (uint8_t)*p) * 1099511628211ull;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)(h >> (i * 8));
	mac[0] = (uint8_t)((mac[0] & 0xfe) | 0x02);
}

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

/* ---- settings ---- */

static int net_cfg_new(struct vdk_model_cfg **out)
{
	struct vdk_model_cfg *cfg = calloc(1, sizeof(*cfg));

	if (!cfg)
		return -ENOMEM;
	cfg->queue_size = VDK_NET_DEF_QUEUE_SIZE;
	cfg->mtu = 1500;
	*out = cfg;
	return 0;
}

static void net_cfg_free(struct vdk_model_cfg *cfg)
{
	if (!cfg)
		return;
	for (char **p = cfg->own_params; p && *p; p++)
		free(*p);
	free(cfg->own_params);
	free(cfg->own_backend);
	free(cfg);
}

static int net_cfg_opt(struct vdk_model_cfg *cfg, int key, const char *val,
		       char *err, size_t errlen)
{
	unsigned long v;

	switch (key) {
	case OPT_MAC:
		if (vdk_net_parse_mac(val, cfg->mac)) {
			snprintf(err, errlen, "bad --mac value '%s' (six "
				 "hex bytes a:b:c:d:e:f, not multicast)", val);
			return -EINVAL;
		}
		cfg->has_mac = true;
		break;
	case OPT_MTU:
		if (vdk_parse_uint(val, VDK_NET_MIN_MTU, VDK_NET_MAX_MTU, &v)) {
			snprintf(err, errlen, "bad --mtu value '%s' (%u..%u)",
				 val, VDK_NET_MIN_MTU, VDK_NET_MAX_MTU);
			return -EINVAL;
		}
		cfg->mtu = v;
		break;
	case OPT_QUEUE_SIZE:
		if (vdk_parse_uint(val, 2, VDK_NET_MAX_QUEUE_SIZE, &v) ||
		    (v & (v - 1))) {
			snprintf(err, errlen, "bad --queue-size value '%s' (a "
				 "power of 2, 2..%u)", val,
				 VDK_NET_MAX_QUEUE_SIZE);
			return -EINVAL;
		}
		cfg->queue_size = v;
		break;
	default:
		snprintf(err, errlen, "unknown option");
		return -EINVAL;
	}
	return 0;
}

static int net_cfg_words(struct vdk_model_cfg *cfg, int n, char **words,
			 char *err, size_t errlen)
{
	if (n < 1) {
		cfg->backend = vdk_netdevs[0]->name;
		return 0;
	}
	if (strchr(words[0], '=')) {
		/* KEY=VALUE of the default backend. */
		cfg->backend = vdk_netdevs[0]->name;
		cfg->params = words;
		cfg->nparams = n;
		return 0;
	}
	cfg->backend = words[0];
	cfg->params = words + 1;
	cfg->nparams = n - 1;
	return 0;
}

static int net_cfg_from_state(struct vdk_model_cfg *cfg,
			      const struct vdk_state *st, bool rescue,
			      char *err, size_t errlen)
{
	unsigned int i, n = 0;
	unsigned long v;

	if (!st->backend) {
		snprintf(err, errlen, "the state of '%s' names no backend",
			 st->name);
		return -EINVAL;
	}
	cfg->own_params = calloc(st->nparams + 1, sizeof(*cfg->own_params));
	cfg->own_backend = strdup(st->backend);
	if (!cfg->own_params || !cfg->own_backend)
		goto err_nomem;
	for (i = 0; i < st->nparams; i++) {
		const char *k = st->params[i].key, *val = st->params[i].value;

		if (!strcmp(k, "mac")) {
			if (vdk_net_parse_mac(val, cfg->mac))
				goto err_bad;
			cfg->has_mac = true;
		} else if (!strcmp(k, "mtu")) {
			if (vdk_parse_uint(val, VDK_NET_MIN_MTU, VDK_NET_MAX_MTU,
				       &v))
				goto err_bad;
			cfg->mtu = v;
		} else {
			if (asprintf(&cfg->own_params[n], "%s=%s", k, val) < 0) {
				cfg->own_params[n] = NULL;
				goto err_nomem;
			}
			n++;
		}
	}
	if (!cfg->has_mac) {
		snprintf(err, errlen, "the state of '%s' has no MAC address",
			 st->name);
		return -EINVAL;
	}
	cfg->backend = cfg->own_backend;
	cfg->params = cfg->own_params;
	cfg->nparams = (int)n;
	cfg->queue_size = st->queue_size;
	cfg->no_backend = rescue;
	return 0;

err_bad:
	snprintf(err, errlen, "the state of '%s' has a bad %s: '%s'", st->name,
		 st->params[i].key, st->params[i].value);
	return -EINVAL;
err_nomem:
	snprintf(err, errlen, "out of memory");
	return -ENOMEM;
}

/* ---- the device ---- */

static void dev_free(struct vdk_model_dev *d)
{
	free(d->inflight);
	free(d->name);
	free(d);
}

static int net_open(const struct vdk_model_cfg *cfg,
		    const struct vdk_model_env *env, struct vdk_model_dev **out,
		    char *err, size_t errlen)
{
	struct vdk_model_dev *d;
	int ret;

	d = calloc(1, sizeof(*d));
	if (!d)
		goto err_nomem;
	d->cfg = cfg;
	d->log = env->log;
	d->log_level = env->log_level;
	d->dev_flags = env->dev_flags;
	d->name = strdup(env->name);
	if (env->inflight_path)
		d->inflight = strdup(env->inflight_path);
	if (!d->name || (env->inflight_path && !d->inflight))
		goto err_free;
	if (cfg->has_mac)
		memcpy(d->mac, cfg->mac, sizeof(d->mac));
	else
		default_mac(d->name, d->mac);
	d->ops = vdk_netdev_find(cfg->backend);
	if (!d->ops) {
		snprintf(err, errlen, "unknown network backend '%s' (see "
			 "'vdk backends')", cfg->backend);
		ret = -EINVAL;
		goto err_ret;
	}
	ret = vdk_params_parse(&d->params, cfg->nparams, cfg->params, err,
			       errlen);
	if (ret) {
		ret = -EINVAL;
		goto err_ret;
	}
	if (cfg->no_backend) {
		/* Rescue: the host side may be gone; the driver gets none. */
		*out = d;
		return 0;
	}
	ret = d->ops->open(&d->params, d->name, cfg->mtu, &d->nd, err,
			   errlen);
	if (ret)
		goto err_params;
	ret = vdk_params_check_unused(&d->params, err, errlen);
	if (ret) {
		ret = -EINVAL;
		goto err_close;
	}
	*out = d;
	return 0;

err_close:
	/* A tap made for a command line with a mistake goes again. */
	d->ops->remove(d->nd);
	d->ops->close(d->nd);
err_params:
	vdk_params_free(&d->params);
err_ret:
	dev_free(d);
	return ret;
err_free:
	dev_free(d);
err_nomem:
	snprintf(err, errlen, "out of memory");
	return -ENOMEM;
}

static void net_destroy(struct vdk_model_dev *d)
{
	int ret;

	vdk_net_free(d->net);
	d->net = NULL;
	ret = vdk_model_destroy_vduse(d->name);
	if (ret && ret != -ENOENT)
		dev_log(d, VDK_LOG_ERR, "cannot destroy the VDUSE device: %s",
			strerror(-ret));
	/* The device is gone for good: so is what it made on the host. */
	if (d->nd)
		d->ops->remove(d->nd);
	else if (d->ops->remove_orphan)
		d->ops->remove_orphan(&d->params); /* rescue: never opened */
}

static int net_create(struct vdk_model_dev *d, enum vdk_model_mode mode,
		      char *err, size_t errlen)
{
	struct vdk_net_cfg cfg = {
		.name = d->name,
		.backend = d->ops,
		.nd = mode == VDK_MODEL_FAIL_IO ? NULL : d->nd,
		.mtu = d->cfg->mtu,
		.queue_size = d->cfg->queue_size,
		.log = d->log,
		.log_opaque = NULL, /* the messages name the device */
		.log_level = d->log_level,
		.reopen = mode != VDK_MODEL_NEW,
		.inflight_path = d->inflight,
		.dev_flags = d->dev_flags,
	};
	int ret;

	memcpy(cfg.mac, d->mac, sizeof(cfg.mac));
	ret = vdk_net_create(&cfg, &d->net);
	if (ret == -EINVAL && mode == VDK_MODEL_NEW) {
		snprintf(err, errlen, "the kernel refused a virtio-net device "
			 "(VDUSE takes them from Linux 6.10)");
		return ret;
	}
	if (ret)
		return ret; /* the daemon explains vdk_dev_create()'s */
	if (d->nd && d->ops->hold) {
		ret = d->ops->hold(d->nd);
		if (ret) {
			snprintf(err, errlen, "%s: cannot keep it through a "
				 "restart: %s", d->ops->name, strerror(-ret));
			goto err_free;
		}
	}
	ret = vdk_net_start(d->net);
	if (ret) {
		snprintf(err, errlen, "cannot start the device: %s",
			 strerror(-ret));
		goto err_free;
	}
	return 0;

err_free:
	vdk_net_free(d->net);
	d->net = NULL;
	if (mode == VDK_MODEL_NEW)
		vdk_model_destroy_vduse(d->name);
	return ret;
}

static void net_describe(struct vdk_model_dev *d, struct vdk_state *st)
{
	struct vdk_netdev_desc desc = { 0 };
	unsigned int n = 0;

	st->backend = (char *)d->ops->name;
	if (d->nd) {
		d->ops->describe(d->nd, &desc);
	} else {
		/* Rescue: what recover will need, as it was. */
		for (unsigned int i = 0; i < d->params.n &&
					 i < VDK_NETDEV_DESCRIBE_MAX; i++) {
			desc.key[i] = d->params.p[i].key;
			desc.value[i] = d->params.p[i].value;
			desc.n++;
		}
	}
	for (unsigned int i = 0; i < desc.n && n < VDK_STATE_PARAMS - 2; i++) {
		st->params[n].key = (char *)desc.key[i];
		st->params[n].value = (char *)desc.value[i];
		n++;
	}
	format_mac(d->mac, d->mac_str);
	snprintf(d->mtu_str, sizeof(d->mtu_str), "%u", d->cfg->mtu);
	st->params[n].key = (char *)"mac";
	st->params[n++].value = d->mac_str;
	st->params[n].key = (char *)"mtu";
	st->params[n++].value = d->mtu_str;
	st->nparams = n;
	st->queues = 1;
	st->queue_size = d->cfg->queue_size;
	if (d->net)
		vdk_model_describe_dev(vdk_net_dev(d->net), st);
}

static uint8_t net_status(struct vdk_model_dev *d)
{
	struct vdk_net_info info;

	vdk_net_get_info(d->net, &info);
	return info.status;
}

static void net_stop(struct vdk_model_dev *d)
{
	if (d->net)
		vdk_net_stop(d->net);
}

static void net_close(struct vdk_model_dev *d)
{
	if (!d)
		return;
	if (d->nd)
		d->ops->close(d->nd);
	vdk_params_free(&d->params);
	dev_free(d);
}

/*
 * The kernel device, then what the backend made on the host for it, as
 * the state file the dead daemon left says.
 */
static int net_destroy_orphan(const char *name)
{
	const struct vdk_netdev_ops *ops;
	struct vdk_params ps = { 0 };
	struct vdk_state st;
	int ret;

	ret = vdk_model_destroy_vduse(name);
	if (ret && ret != -ENOENT)
		return ret;
	if (vdk_state_read(name, &st, NULL, 0))
		return ret;
	ops = st.backend ? vdk_netdev_find(st.backend) : NULL;
	if (ops && ops->remove_orphan) {
		for (unsigned int i = 0; i < st.nparams &&
					 ps.n < VDK_PARAMS_MAX; i++) {
			ps.p[ps.n].key = st.params[i].key;
			ps.p[ps.n].value = st.params[i].value;
			ps.n++;
		}
		ops->remove_orphan(&ps);
	}
	/* The strings are the state's. */
	vdk_state_free(&st);
	return ret;
}

/* The backend's fd is open already: only its calls are needed. */
static void net_confinement(struct vdk_model_dev *d,
			    struct vdk_model_confine *out)
{
	memset(out, 0, sizeof(*out));
	if (d->ops->syscalls) {
		d->backend_syscalls.who = d->ops->name;
		d->backend_syscalls.names = d->ops->syscalls;
		out->syscalls[0] = &d->backend_syscalls;
	}
}

/*
 * An interface: its name is the node.  Moved to another network namespace
 * it is not in sysfs any more (sysfs shows an interface only to its own):
 * then live with no name, as long as virtio_net holds the device.
 */
static int net_virtio_live(const char *name, char *node, size_t len)
{
	int ret = vdk_sys_vdpa_netif(name, node, len);

	if (ret == 0)
		return 1;
	if (ret != -ENOENT)
		return ret;
	return vdk_model_bound(&vdk_model_net, name, node, len);
}

/* Two queues as `vdk stat` shows them: rx as reads, tx as writes. */
static int net_stats(struct vdk_model_dev *d, unsigned int queue,
		     struct vdk_model_qstats *out)
{
	const struct vdk_net_qstats *q;
	struct vdk_net_info info;

	if (queue > 1)
		return 2;
	vdk_net_get_info(d->net, &info);
	q = queue ? &info.tx : &info.rx;
	memset(out, 0, sizeof(*out));
	snprintf(out->label, sizeof(out->label), "%s", queue ? "tx" : "rx");
	out->requests[queue ? VDK_STAT_WRITE : VDK_STAT_READ] = q->packets;
	out->bytes[queue ? VDK_STAT_WRITE : VDK_STAT_READ] = q->bytes;
	out->errors = q->errors;
	out->dropped = q->dropped;
	return 2;
}

const struct vdk_model_ops vdk_model_net = {
	.name = "net",
	.summary = "a virtio-net interface served by a network backend",
	.words_usage = "[BACKEND] [KEY=VALUE ...]",
	.opts = net_opts,
	.opts_help =
	"      --mac MAC          the interface's address (default: one of its\n"
	"                         own, the same for the same NAME on this host)\n"
	"      --mtu N            the MTU offered to the driver and set on the\n"
	"                         host side, 68..65535 (default 1500)\n"
	"      --queue-size N     queue size, a power of 2 up to 1024 (default 256)\n",
	.virtio_module = "virtio_net",
	.cfg_new = net_cfg_new,
	.cfg_free = net_cfg_free,
	.cfg_opt = net_cfg_opt,
	.cfg_words = net_cfg_words,
	.cfg_from_state = net_cfg_from_state,
	.open = net_open,
	.create = net_create,
	.describe = net_describe,
	.status = net_status,
	.stop = net_stop,
	.destroy = net_destroy,
	.close = net_close,
	.destroy_orphan = net_destroy_orphan,
	.confinement = net_confinement,
	.virtio_live = net_virtio_live,
	.stats = net_stats,
};
