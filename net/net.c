// SPDX-License-Identifier: MIT
/*
 * The virtio-net device: features and configuration space, the control
 * thread (the kernel's messages and the backend's link), and a thread
 * for each queue of the pair.
 *
 * Each queue thread sleeps in poll(2) when there is nothing to do: the
 * transmit queue on its kick, the receive queue on the backend's fd, or
 * on its kick while the driver owes it room.
 */
#include <endian.h>
#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_net.h>

#include "internal.h"

/* Bytes of the configuration space: mac, status, pairs, mtu. */
#define NET_CONFIG_SIZE (offsetof(struct virtio_net_config, mtu) + 2)

struct vdk_net {
	struct net_shared sh;
	struct net_queue queues[NET_NUM_QUEUES];
	struct vdk_dev *dev;
	pthread_mutex_t ctl_lock; /* vdk_dev_process vs. set_config */
	pthread_t ctl_thread;
	bool ctl_running;
	int ctl_stop_fd;
	bool link_backend;        /* the last link the backend reported */
	uint8_t config[sizeof(struct virtio_net_config)];
};

#define F(b) (1ull << (b))

uint64_t net_features(const struct vdk_net_cfg *cfg)
{
	/* The same whatever the backend: recover reopens with them. */
	return F(VIRTIO_NET_F_MAC) | F(VIRTIO_NET_F_STATUS) |
	       F(VIRTIO_NET_F_MTU) | F(VIRTIO_NET_F_MRG_RXBUF) |
	       F(VIRTIO_NET_F_CSUM) | F(VIRTIO_NET_F_HOST_TSO4) |
	       F(VIRTIO_NET_F_HOST_TSO6) | F(VIRTIO_NET_F_HOST_ECN) |
	       F(VIRTIO_NET_F_GUEST_CSUM) | F(VIRTIO_NET_F_GUEST_TSO4) |
	       F(VIRTIO_NET_F_GUEST_TSO6) | F(VIRTIO_NET_F_GUEST_ECN);
}

size_t net_fill_config(const struct vdk_net_cfg *cfg, bool link_up,
		       void *config)
{
	struct virtio_net_config c;

	memset(&c, 0, sizeof(c));
	memcpy(c.mac, cfg->mac, sizeof(c.mac));
	c.status = htole16(link_up ? VIRTIO_NET_S_LINK_UP : 0);
	c.max_virtqueue_pairs = htole16(1);
	c.mtu = htole16((uint16_t)(cfg->mtu ? cfg->mtu : 1500));
	memcpy(config, &c, NET_CONFIG_SIZE);
	return NET_CONFIG_SIZE;
}

static void clear_eventfd(int fd)
{
	uint64_t v;

	if (read(fd, &v, sizeof(v)) < 0) {
		/* EAGAIN: nothing was signalled */
	}
}

/* ---- queue threads ---- */

static void *rx_thread(void *arg)
{
	struct net_queue *q = arg;
	struct pollfd pfd[3];
	bool starved;
	int ret;

	prctl(PR_SET_NAME, "vdk-net-rx");
	/*
	 * The receive offloads the driver took, here and not in dev_start():
	 * a tap takes the RTNL lock to change them, and the kernel may hold
	 * that lock while it waits for our answer to DRIVER_OK (virtio_net's
	 * probe does).  Until then the tap offloads nothing: frames come
	 * whole, with their checksums.
	 */
	if (q->sh->nd && q->sh->ops->set_offloads) {
		ret = q->sh->ops->set_offloads(q->sh->nd, q->sh->features);
		if (ret)
			net_log(q->sh, VDK_LOG_ERR, "receive offloads: %s: "
				"frames come without", strerror(-ret));
	}
	pfd[0].fd = vdk_vq_kickfd(q->vq);
	pfd[1].fd = q->sh->fd;
	pfd[2].fd = q->stop_fd;
	for (int i = 0; i < 3; i++)
		pfd[i].events = POLLIN;
	vdk_vq_set_kick(q->vq, false);
	for (;;) {
		if (atomic_load_explicit(&q->stop, memory_order_relaxed))
			break;
		ret = net_rx_round(q, &starved);
		if (ret > 0)
			continue;
		if (ret < 0) {
			net_log(q->sh, VDK_LOG_ERR, "receive queue: %s",
				strerror(-ret));
			if (ret == -EIO) {
				/* A broken queue: wait for the reset. */
				pfd[0].fd = pfd[1].fd = -1;
			}
		}
		/*
		 * Kicks always wake us (the driver's memory map may have
		 * changed), but are asked for only when room is owed.
		 */
		if (starved) {
			vdk_vq_set_kick(q->vq, true);
			if (vdk_vq_pending(q->vq)) {
				vdk_vq_set_kick(q->vq, false);
				continue;
			}
		}
		pfd[1].events = starved ? 0 : POLLIN;
		ret = poll(pfd, 3, -1);
		if (ret < 0 && errno != EINTR)
			break;
		if (pfd[2].revents)
			break;
		if (pfd[0].fd >= 0 && pfd[0].revents) {
			clear_eventfd(pfd[0].fd);
			vdk_vq_set_kick(q->vq, false);
		}
	}
	return NULL;
}

static void *tx_thread(void *arg)
{
	struct net_queue *q = arg;
	struct pollfd pfd[2];
	int ret;

	prctl(PR_SET_NAME, "vdk-net-tx");
	pfd[0].fd = vdk_vq_kickfd(q->vq);
	pfd[1].fd = q->stop_fd;
	pfd[0].events = pfd[1].events = POLLIN;
	vdk_vq_set_kick(q->vq, false);
	for (;;) {
		if (atomic_load_explicit(&q->stop, memory_order_relaxed))
			break;
		ret = net_tx_round(q);
		if (ret > 0)
			continue;
		if (ret < 0) {
			net_log(q->sh, VDK_LOG_ERR, "transmit queue: %s",
				strerror(-ret));
			pfd[0].fd = -1; /* broken: wait for the reset */
		} else {
			vdk_vq_set_kick(q->vq, true);
			if (vdk_vq_pending(q->vq)) {
				vdk_vq_set_kick(q->vq, false);
				continue;
			}
		}
		ret = poll(pfd, 2, -1);
		if (ret < 0 && errno != EINTR)
			break;
		if (pfd[1].revents)
			break;
		if (pfd[0].fd >= 0 && pfd[0].revents) {
			clear_eventfd(pfd[0].fd);
			vdk_vq_set_kick(q->vq, false);
		}
	}
	return NULL;
}

static void stop_queue_threads(struct vdk_net *net)
{
	uint64_t one = 1;

	for (unsigned int i = 0; i < NET_NUM_QUEUES; i++) {
		struct net_queue *q = &net->queues[i];

		if (!q->running)
			continue;
		atomic_store_explicit(&q->stop, true, memory_order_relaxed);
		if (write(q->stop_fd, &one, sizeof(one)) < 0) {
			/* an eventfd write fails only on overflow */
		}
		pthread_join(q->thread, NULL);
		clear_eventfd(q->stop_fd);
		q->running = false;
	}
	net_rx_release(&net->queues[NET_RXQ]);
}

/* ---- device callbacks (in the control thread) ---- */

static int dev_start(struct vdk_dev *dev, void *opaque)
{
	struct vdk_net *net = opaque;
	uint64_t f = vdk_dev_driver_features(dev);
	int ret;

	net->sh.dev = dev; /* before vdk_dev_open() returns, on a take-over */
	net->sh.features = f;
	net->sh.mrg_rxbuf = f & F(VIRTIO_NET_F_MRG_RXBUF);
	net->sh.guest_gso = f & (F(VIRTIO_NET_F_GUEST_TSO4) |
				 F(VIRTIO_NET_F_GUEST_TSO6) |
				 F(VIRTIO_NET_F_GUEST_UFO));
	for (unsigned int i = 0; i < NET_NUM_QUEUES; i++) {
		struct net_queue *q = &net->queues[i];

		q->vq = vdk_dev_vq(dev, i);
		if (!vdk_vq_ready(q->vq))
			continue;
		q->pushed = false;
		atomic_store(&q->stop, false);
		ret = -pthread_create(&q->thread, NULL,
				      i == NET_RXQ ? rx_thread : tx_thread, q);
		if (ret < 0) {
			stop_queue_threads(net);
			return ret;
		}
		q->running = true;
	}
	net_log(&net->sh, VDK_LOG_INFO, "driver ready (features %#llx)",
		(unsigned long long)f);
	return 0;
}

static void dev_stop(struct vdk_dev *dev, void *opaque)
{
	struct vdk_net *net = opaque;

	stop_queue_threads(net);
	net_log(&net->sh, VDK_LOG_INFO, "driver reset");
}

static const struct vdk_dev_ops net_dev_ops = {
	.start = dev_start,
	.stop = dev_stop,
};

/* ---- link ---- */

/* Under ctl_lock. */
static int set_link_locked(struct vdk_net *net, bool up)
{
	uint16_t status = htole16(up ? VIRTIO_NET_S_LINK_UP : 0);
	int ret;

	if (atomic_load(&net->sh.link_up) == up)
		return 0;
	ret = vdk_dev_set_config(net->dev,
				 offsetof(struct virtio_net_config, status),
				 &status, sizeof(status));
	if (ret)
		return ret;
	atomic_store(&net->sh.link_up, up);
	net_log(&net->sh, VDK_LOG_NOTICE, "link %s", up ? "up" : "down");
	return 0;
}

int vdk_net_set_link(struct vdk_net *net, bool up)
{
	int ret;

	pthread_mutex_lock(&net->ctl_lock);
	ret = set_link_locked(net, up);
	pthread_mutex_unlock(&net->ctl_lock);
	return ret;
}

/* The backend's link may have changed: the driver follows it. */
static void follow_link(struct vdk_net *net)
{
	int up = net->sh.ops->link_up(net->sh.nd);

	if (up < 0) {
		net_log(&net->sh, VDK_LOG_WARNING, "link of the backend: %s",
			strerror(-up));
		return;
	}
	if ((bool)up == net->link_backend)
		return;
	net->link_backend = up;
	if (set_link_locked(net, up))
		net_log(&net->sh, VDK_LOG_ERR, "cannot tell the driver the "
			"link is %s", up ? "up" : "down");
}

/* ---- control thread ---- */

static void *control_thread(void *arg)
{
	struct vdk_net *net = arg;
	bool has_link = net->sh.nd && net->sh.ops->link_fd;
	struct pollfd pfd[3] = {
		{ .fd = vdk_dev_fd(net->dev), .events = POLLIN },
		{ .fd = net->ctl_stop_fd, .events = POLLIN },
		{ .fd = has_link ? net->sh.ops->link_fd(net->sh.nd) : -1,
		  .events = POLLIN },
	};
	int ret;

	prctl(PR_SET_NAME, "vdk-ctl");
	for (;;) {
		ret = poll(pfd, 3, -1);
		if (ret < 0 && errno != EINTR)
			break;
		if (pfd[1].revents)
			break;
		pthread_mutex_lock(&net->ctl_lock);
		if (pfd[2].revents)
			follow_link(net);
		ret = pfd[0].revents ? vdk_dev_process(net->dev) : 0;
		pthread_mutex_unlock(&net->ctl_lock);
		if (ret < 0) {
			net_log(&net->sh, VDK_LOG_ERR, "control channel: %s",
				strerror(-ret));
			break;
		}
	}
	return NULL;
}

/* ---- life cycle ---- */

static int default_create(void *arg, const struct vdk_dev_cfg *cfg,
			  struct vdk_dev **out)
{
	bool reopen = *(bool *)arg;

	return reopen ? vdk_dev_open(cfg, out) : vdk_dev_create(cfg, out);
}

static void net_release(struct vdk_net *net)
{
	for (unsigned int i = 0; i < NET_NUM_QUEUES; i++) {
		if (net->queues[i].stop_fd >= 0)
			close(net->queues[i].stop_fd);
		net_queue_fini(&net->queues[i]);
	}
	if (net->ctl_stop_fd >= 0)
		close(net->ctl_stop_fd);
	pthread_mutex_destroy(&net->ctl_lock);
	free(net);
}

int vdk__net_new(const struct vdk_net_cfg *cfg, net_create_fn create,
		 void *arg, struct vdk_net **out)
{
	struct vdk_dev_cfg dcfg;
	struct vdk_net *net;
	size_t config_size;
	bool link = true;
	int ret;

	if (cfg->queue_size < 2 || cfg->queue_size > VDK_NET_MAX_QUEUE_SIZE ||
	    (cfg->queue_size & (cfg->queue_size - 1)))
		return -EINVAL;
	if (cfg->mtu && (cfg->mtu < VDK_NET_MIN_MTU ||
			 cfg->mtu > VDK_NET_MAX_MTU))
		return -EINVAL;
	net = calloc(1, sizeof(*net));
	if (!net)
		return -ENOMEM;
	pthread_mutex_init(&net->ctl_lock, NULL);
	net->ctl_stop_fd = -1;
	net->sh.ops = cfg->backend;
	net->sh.nd = cfg->nd;
	net->sh.fd = cfg->nd ? cfg->backend->fd(cfg->nd) : -1;
	net->sh.mtu = cfg->mtu;
	net->sh.log = cfg->log;
	net->sh.log_opaque = cfg->log_opaque;
	net->sh.log_level = cfg->log_level;
	snprintf(net->sh.name, sizeof(net->sh.name), "%s", cfg->name);
	for (unsigned int i = 0; i < NET_NUM_QUEUES; i++) {
		net->queues[i].stop_fd = -1;
	}
	for (unsigned int i = 0; i < NET_NUM_QUEUES; i++) {
		ret = net_queue_init(&net->queues[i], &net->sh, i,
				     cfg->queue_size);
		if (ret)
			goto err_release;
		net->queues[i].stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (net->queues[i].stop_fd < 0) {
			ret = -errno;
			goto err_release;
		}
	}
	net->ctl_stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (net->ctl_stop_fd < 0) {
		ret = -errno;
		goto err_release;
	}
	/* No host side: no link.  Else the backend's, when it knows. */
	if (!cfg->nd)
		link = false;
	else if (cfg->backend->link_up && cfg->backend->link_up(cfg->nd) == 0)
		link = false;
	net->link_backend = link;
	atomic_init(&net->sh.link_up, link);
	config_size = net_fill_config(cfg, link, net->config);

	memset(&dcfg, 0, sizeof(dcfg));
	dcfg.name = cfg->name;
	dcfg.device_id = VIRTIO_ID_NET;
	dcfg.features = net_features(cfg);
	dcfg.num_queues = NET_NUM_QUEUES;
	dcfg.queue_size = cfg->queue_size;
	dcfg.config = net->config;
	dcfg.config_size = config_size;
	dcfg.max_iovecs = NET_MAX_IOVECS;
	dcfg.ops = &net_dev_ops;
	dcfg.opaque = net;
	dcfg.log = cfg->log;
	dcfg.log_opaque = cfg->log_opaque;
	dcfg.log_level = cfg->log_level;
	dcfg.inflight_path = cfg->inflight_path;
	dcfg.flags = cfg->dev_flags;
	ret = create(arg, &dcfg, &net->dev);
	if (ret < 0)
		goto err_release;
	net->sh.dev = net->dev;
	*out = net;
	return 0;

err_release:
	net_release(net);
	return ret;
}

int vdk_net_create(const struct vdk_net_cfg *cfg, struct vdk_net **out)
{
	bool reopen = cfg->reopen;

	return vdk__net_new(cfg, default_create, &reopen, out);
}

int vdk_net_start(struct vdk_net *net)
{
	int ret;

	if (net->ctl_running)
		return 0;
	ret = -pthread_create(&net->ctl_thread, NULL, control_thread, net);
	if (ret < 0)
		return ret;
	net->ctl_running = true;
	return 0;
}

void vdk_net_stop(struct vdk_net *net)
{
	uint64_t one = 1;

	if (net->ctl_running) {
		if (write(net->ctl_stop_fd, &one, sizeof(one)) < 0) {
			/* cannot overflow here */
		}
		pthread_join(net->ctl_thread, NULL);
		net->ctl_running = false;
	}
	stop_queue_threads(net);
}

void vdk_net_free(struct vdk_net *net)
{
	if (!net)
		return;
	vdk_net_stop(net);
	vdk_dev_close(net->dev);
	net_release(net);
}

static void qstats_read(const struct vdk_net_qstats *s,
			struct vdk_net_qstats *out)
{
	out->packets = __atomic_load_n(&s->packets, __ATOMIC_RELAXED);
	out->bytes = __atomic_load_n(&s->bytes, __ATOMIC_RELAXED);
	out->dropped = __atomic_load_n(&s->dropped, __ATOMIC_RELAXED);
	out->errors = __atomic_load_n(&s->errors, __ATOMIC_RELAXED);
}

void vdk_net_get_info(struct vdk_net *net, struct vdk_net_info *info)
{
	memset(info, 0, sizeof(*info));
	info->status = vdk_dev_status(net->dev);
	info->link_up = atomic_load(&net->sh.link_up);
	info->features = vdk_dev_driver_features(net->dev);
	qstats_read(&net->queues[NET_RXQ].st, &info->rx);
	qstats_read(&net->queues[NET_TXQ].st, &info->tx);
}

struct vdk_dev *vdk_net_dev(struct vdk_net *net)
{
	return net->dev;
}
