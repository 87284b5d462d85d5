/* SPDX-License-Identifier: MIT */
/*
 * Device life cycle and control messages.
 *
 * The kernel asks us, by messages on the device file, to start and stop
 * (VDUSE_SET_STATUS), to report a queue's position (VDUSE_GET_VQ_STATE)
 * and to forget mappings (VDUSE_UPDATE_IOTLB); newer kernels also to
 * move a queue group to an address space (API version 1), to set a queue
 * ready or not (VDUSE_F_QUEUE_READY) and to suspend (VDUSE_F_SUSPEND),
 * each probed at run time (vduse-compat.h).  It waits for each reply for
 * msg_timeout (30 s) and then marks the device broken for good, so nothing
 * here blocks for long: the stop() callback only tells the queue threads
 * to stop and waits for them, suspend() waits for requests in flight,
 * which the model bounds below that.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>

#include "internal.h"

#define VDK_CONFIG_MAX 4096
#define VDK_DEFAULT_MAX_IOVECS 264

/* Features the library itself implements. */
#define VDK_OWN_FEATURES                                                    \
	((1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_F_ACCESS_PLATFORM) | \
	 (1ull << VIRTIO_RING_F_INDIRECT_DESC) |                            \
	 (1ull << VIRTIO_RING_F_EVENT_IDX))

static bool valid_name(const char *name)
{
	size_t i, len;

	if (!name)
		return false;
	len = strlen(name);
	if (len == 0 || len >= VDUSE_NAME_MAX)
		return false;
	if (strcmp(name, "control") == 0 || name[0] == '.')
		return false;
	for (i = 0; i < len; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		      c == '.'))
			return false;
	}
	return true;
}

/* Reserved space must be zero: a field from a newer header is refused. */
static bool reserved_zero(const struct vdk_dev_cfg *cfg)
{
	size_t i;

	for (i = 0; i < sizeof(cfg->reserved) / sizeof(cfg->reserved[0]); i++)
		if (cfg->reserved[i])
			return false;
	if (!cfg->ops)
		return true;
	for (i = 0; i < sizeof(cfg->ops->reserved) /
			sizeof(cfg->ops->reserved[0]); i++)
		if (cfg->ops->reserved[i])
			return false;
	return true;
}

static int check_cfg(const struct vdk_dev_cfg *cfg)
{
	if (!reserved_zero(cfg))
		return -EINVAL;
	if (!valid_name(cfg->name))
		return -EINVAL;
	if (cfg->num_queues < 1 || cfg->num_queues > VDK_MAX_QUEUES)
		return -EINVAL;
	if (cfg->queue_size < 2 || cfg->queue_size > VDK_MAX_QUEUE_SIZE ||
	    (cfg->queue_size & (cfg->queue_size - 1)))
		return -EINVAL;
	if (cfg->config_size > VDK_CONFIG_MAX ||
	    (cfg->config_size && !cfg->config))
		return -EINVAL;
	if ((cfg->flags & ~(VDK_DEV_F_PACKED | VDK_DEV_F_NO_PACKED |
			    VDK_DEV_F_IN_ORDER | VDK_DEV_F_BOUNCE_UMEM)) ||
	    (cfg->flags & VDK_DEV_F_PACKED && cfg->flags & VDK_DEV_F_NO_PACKED))
		return -EINVAL;
	return 0;
}

/* Probe the kernel's API version and settle on one we both speak. */
static int negotiate_api(struct vdk_dev *dev)
{
	struct vdk__kernel *k = dev->k;
	uint64_t version = 0;
	int ret;

	ret = k->ops->get_api_version(k, &version);
	if (ret < 0)
		version = 0; /* kernels before the ioctl speak version 0 */
	if (version > VDK_API_MAX)
		version = VDK_API_MAX;
	ret = k->ops->set_api_version(k, version);
	if (ret < 0 && version != 0)
		return ret;
	dev->api_version = (unsigned int)version;
	return 0;
}

/*
 * Ask for the VDUSE features (7.3) the kernel offers and the device can
 * honour: per-queue ready requests always, suspend only with a suspend()
 * callback, which completes requests instead of dropping them.  Kernels
 * before 7.3 refuse VDUSE_GET_FEATURES: the device goes without.
 */
static void negotiate_vduse_features(struct vdk_dev *dev)
{
	struct vdk__kernel *k = dev->k;
	uint64_t offered = 0, want = 1ull << VDUSE_F_QUEUE_READY;
	int ret;

	if (dev->ops && dev->ops->suspend)
		want |= 1ull << VDUSE_F_SUSPEND;
	if (k->ops->get_vduse_features(k, &offered) < 0)
		return;
	want &= offered;
	if (!want)
		return;
	ret = k->ops->set_vduse_features(k, want);
	if (ret < 0) {
		vdk__log(dev, VDK_LOG_WARNING,
			 "%s: VDUSE features %#llx offered, not taken: %d",
			 dev->name, (unsigned long long)want, ret);
		return;
	}
	dev->vduse_features = want;
	dev->ready_msgs = want & (1ull << VDUSE_F_QUEUE_READY);
}

static int create_kernel_dev(struct vdk_dev *dev)
{
	struct vduse_dev_config *c;
	int ret;

	c = calloc(1, sizeof(*c) + dev->config_size);
	if (!c)
		return -ENOMEM;
	strcpy(c->name, dev->name);
	c->vendor_id = dev->vendor_id;
	c->device_id = dev->device_id;
	c->features = dev->features;
	c->vq_num = dev->num_queues;
	c->vq_align = 4096;
	c->config_size = (uint32_t)dev->config_size;
	/* Version 1 wants them said: one group, in one address space. */
	if (dev->api_version >= VDUSE_API_VERSION_1)
		VDK__CONFIG_SET_GROUPS(c, 1, 1);
	memcpy(c->config, dev->config, dev->config_size);
	ret = dev->k->ops->create_dev(dev->k, c);
	free(c);
	return ret;
}

static int setup_queues(struct vdk_dev *dev, bool create)
{
	struct vdk__kernel *k = dev->k;
	unsigned int i;
	int ret;

	for (i = 0; i < dev->num_queues; i++) {
		struct vduse_vq_config vc = {
			.index = i,
			.max_size = (uint16_t)dev->vqs[i].max_size,
		};

		if (create) {
			ret = k->ops->vq_setup(k, &vc);
			if (ret < 0)
				return ret;
		}
		ret = k->ops->vq_setup_kickfd(k, i, dev->vqs[i].kickfd);
		if (ret < 0)
			return ret;
	}
	return 0;
}

static void stop_queues(struct vdk_dev *dev)
{
	unsigned int i;

	if (dev->started && dev->ops && dev->ops->stop)
		dev->ops->stop(dev, dev->opaque);
	dev->started = false;
	for (i = 0; i < dev->num_queues; i++)
		vdk__vq_stop(&dev->vqs[i]);
}

/*
 * DRIVER_OK: read each queue's layout from the kernel and resolve its
 * rings.  @resume: the driver has been running (daemon restart); pick up
 * where the used ring says.
 */
static int start_queues(struct vdk_dev *dev, bool resume)
{
	struct vdk__kernel *k = dev->k;
	unsigned int i;
	int ret;

	ret = k->ops->get_features(k, &dev->driver_features);
	if (ret < 0)
		return ret;
	for (i = 0; i < dev->num_queues; i++) {
		struct vdk_vq *vq = &dev->vqs[i];
		struct vduse_vq_info info = { .index = i };

		ret = k->ops->vq_get_info(k, &info);
		if (ret < 0)
			return ret;
		/*
		 * With ready requests, the kernel's own flag changes only
		 * after our answer: ours is the one to go by.
		 */
		if (!dev->ready_msgs)
			vq->enabled = info.ready;
		/*
		 * A queue made not ready while the device ran keeps where it
		 * stopped: made ready again, it goes on from there.  VDUSE
		 * still holds the position the driver set before DRIVER_OK,
		 * and vhost-vdpa lets none be set on a running device that
		 * is not suspended; starting from VDUSE's would take again
		 * every request since.  A reset forgets the position.
		 */
		if (!vq->enabled)
			continue;
		vq->num = info.num;
		vq->desc_iova = info.desc_addr;
		vq->avail_iova = info.driver_addr;
		vq->used_iova = info.device_addr;
		vq->packed = dev->driver_features &
			     (1ull << VIRTIO_F_RING_PACKED);
		if (vq->keep_pos) {
			/* Suspended: VDUSE knows only where it started. */
			vq->keep_pos = false;
		} else if (vq->packed) {
			vq->start_avail_pos = (uint16_t)(
				info.packed.last_avail_idx |
				(info.packed.last_avail_counter ? 0x8000 : 0));
			vq->start_used_pos = (uint16_t)(
				info.packed.last_used_idx |
				(info.packed.last_used_counter ? 0x8000 : 0));
			/* Indexes of 15 bits, counters of one. */
			vq->start_pos_bad =
				(info.packed.last_avail_idx |
				 info.packed.last_used_idx) & 0x8000 ||
				info.packed.last_avail_counter > 1 ||
				info.packed.last_used_counter > 1;
		} else {
			vq->start_avail_idx = info.split.avail_index;
		}
		vq->event_idx = dev->driver_features &
				(1ull << VIRTIO_RING_F_EVENT_IDX);
		vq->in_order = dev->driver_features &
			       (1ull << VIRTIO_F_IN_ORDER);
		vq->resume = resume;
		/* The kernel drops kick eventfds at every reset. */
		ret = k->ops->vq_setup_kickfd(k, i, vq->kickfd);
		if (ret < 0)
			return ret;
		if (vdk__vq_start(vq) < 0) {
			atomic_store(&vq->broken, true);
			continue;
		}
		/*
		 * The last daemon may have died between a completion and
		 * its interrupt: one spare interrupt costs nothing.
		 */
		if (resume)
			k->ops->vq_inject_irq(k, i);
	}
	dev->started = true;
	if (dev->ops && dev->ops->start) {
		ret = dev->ops->start(dev, dev->opaque);
		if (ret < 0) {
			dev->started = false;
			stop_queues(dev);
			return ret;
		}
	}
	return 0;
}

/*
 * Stop every queue with each request it took completed (the suspend()
 * callback), and keep where each ring stands: a later start goes on from
 * there, and VDUSE_GET_VQ_STATE reports it.  Nothing to do when no queue
 * runs.
 */
static int quiesce(struct vdk_dev *dev)
{
	unsigned int i;
	int ret;

	if (!dev->started)
		return 0;
	if (!dev->ops || !dev->ops->suspend)
		return -EOPNOTSUPP;
	ret = dev->ops->suspend(dev, dev->opaque);
	/*
	 * No thread uses the queues either way; after a failure some
	 * request is still held, and the rings' positions are not exact.
	 */
	dev->started = false;
	for (i = 0; i < dev->num_queues; i++) {
		struct vdk_vq *vq = &dev->vqs[i];

		if (vq->ready && ret == 0) {
			/* All completed: used and avail stand together. */
			uint16_t pos = atomic_load(&vq->last_avail_idx);

			vq->start_avail_idx = pos;
			vq->start_avail_pos = pos;
			vq->start_used_pos = pos;
			vq->start_pos_bad = false;
			vq->keep_pos = true;
		}
		vdk__vq_stop(vq);
	}
	return ret;
}

static uint32_t handle_set_status(struct vdk_dev *dev, uint8_t status)
{
	uint8_t old = dev->status;
	int ret;

	vdk__log(dev, VDK_LOG_DEBUG, "%s: status %#x -> %#x", dev->name, old,
		 status);
	if (status == 0) {
		unsigned int i;

		stop_queues(dev);
		vdk__iotlb_reset(&dev->iotlb);
		dev->driver_features = 0;
		/* A reset ends a suspend and unreadies every queue. */
		dev->suspended = false;
		/* The driver forgot its requests: so does the log. */
		for (i = 0; i < dev->num_queues; i++) {
			vdk__inflight_reset(&dev->vqs[i], 0);
			dev->vqs[i].enabled = false;
			dev->vqs[i].keep_pos = false;
		}
	} else if ((status & VIRTIO_CONFIG_S_DRIVER_OK) &&
		   !(old & VIRTIO_CONFIG_S_DRIVER_OK) && dev->suspended) {
		/* Suspended before it ran: it stays still until a reset. */
		vdk__log_limited(dev, VDK_LOG_WARNING,
				 "%s: DRIVER_OK while suspended: not started",
				 dev->name);
	} else if ((status & VIRTIO_CONFIG_S_DRIVER_OK) &&
		   !(old & VIRTIO_CONFIG_S_DRIVER_OK)) {
		ret = start_queues(dev, false);
		if (ret < 0) {
			vdk__log(dev, VDK_LOG_ERR, "%s: start failed: %d",
				 dev->name, ret);
			dev->status = status;
			return VDUSE_REQ_RESULT_FAILED;
		}
	} else if (!(status & VIRTIO_CONFIG_S_DRIVER_OK) &&
		   (old & VIRTIO_CONFIG_S_DRIVER_OK)) {
		stop_queues(dev);
	}
	dev->status = status;
	return VDUSE_REQ_RESULT_OK;
}

static uint32_t handle_get_vq_state(struct vdk_dev *dev,
				    const struct vduse_dev_request *req,
				    struct vduse_dev_response *resp)
{
	uint32_t index = req->vq_state.index;
	struct vdk_vq *vq;

	if (index >= dev->num_queues)
		return VDUSE_REQ_RESULT_FAILED;
	vq = &dev->vqs[index];
	resp->vq_state.index = index;
	if (vq->packed) {
		/*
		 * Read by the control thread while the queue may run: the
		 * used position is that of the last start if it does.
		 */
		uint16_t a = vq->ready ? atomic_load(&vq->last_avail_idx) :
					 vq->start_avail_pos;
		uint16_t u = vq->ready ? a : vq->start_used_pos;

		resp->vq_state.packed.last_avail_idx = a & 0x7fff;
		resp->vq_state.packed.last_avail_counter = a >> 15;
		resp->vq_state.packed.last_used_idx = u & 0x7fff;
		resp->vq_state.packed.last_used_counter = u >> 15;
		return VDUSE_REQ_RESULT_OK;
	}
	resp->vq_state.split.avail_index =
		vq->ready ? atomic_load(&vq->last_avail_idx) :
			    vq->start_avail_idx;
	return VDUSE_REQ_RESULT_OK;
}

/*
 * Unmap the retired mappings every running queue has gone past.  A queue
 * that is not running holds none.  A queue behind gets a kick: an idle
 * queue thread then looks at its rings again (through the new mappings),
 * and what it let go of goes at the next update.
 */
uint64_t vdk__dev_safe_gen(struct vdk_dev *dev)
{
	uint64_t safe = atomic_load_explicit(&dev->iotlb.gen,
					     memory_order_acquire);
	unsigned int i;

	for (i = 0; i < dev->num_queues; i++) {
		uint64_t g;

		if (!dev->vqs[i].ready)
			continue;
		g = vdk__vq_safe_gen(&dev->vqs[i]);
		if (g < safe)
			safe = g;
	}
	return safe;
}

static void reclaim_mappings(struct vdk_dev *dev)
{
	uint64_t gen = atomic_load_explicit(&dev->iotlb.gen,
					    memory_order_acquire);
	uint64_t one = 1;
	unsigned int i;

	for (i = 0; i < dev->num_queues; i++) {
		struct vdk_vq *vq = &dev->vqs[i];

		if (vq->ready && vdk__vq_safe_gen(vq) < gen &&
		    write(vq->kickfd, &one, sizeof(one)) < 0)
			vdk__log_limited(dev, VDK_LOG_WARNING,
					 "%s: queue %u: kick: %d", dev->name, i,
					 -errno);
	}
	vdk__iotlb_reclaim(&dev->iotlb, vdk__dev_safe_gen(dev));
}

/* The payload of a request, whatever this header's union has. */
#define REQ_PAYLOAD(req, out)                                                \
	do {                                                                 \
		_Static_assert(sizeof(*(out)) <= sizeof((req)->padding),      \
			       "payload larger than the request's union");   \
		memcpy((out), &(req)->vq_state, sizeof(*(out)));            \
	} while (0)

static uint32_t handle_update_iotlb(struct vdk_dev *dev,
				    const struct vduse_dev_request *req)
{
	struct vdk__vduse_iova_range_v2 r;

	dev->iotlb_updates++;
	/* Version 1 adds an address space after the same start and last. */
	REQ_PAYLOAD(req, &r);
	if (dev->api_version >= VDUSE_API_VERSION_1 && r.asid != 0) {
		vdk__log_limited(dev, VDK_LOG_WARNING,
				 "%s: IOTLB update of address space %u: the "
				 "device has one",
				 dev->name, r.asid);
		return VDUSE_REQ_RESULT_FAILED;
	}
	if (r.start <= r.last)
		vdk__iotlb_invalidate(&dev->iotlb, r.start, r.last);
	reclaim_mappings(dev);
	return VDUSE_REQ_RESULT_OK;
}

/* One group in one address space: all the kernel may ask is 0 to 0. */
static uint32_t handle_group_asid(struct vdk_dev *dev,
				  const struct vduse_dev_request *req)
{
	struct vdk__vduse_vq_group_asid g;

	REQ_PAYLOAD(req, &g);
	if (dev->api_version < VDUSE_API_VERSION_1 || g.group != 0 ||
	    g.asid != 0) {
		vdk__log_limited(dev, VDK_LOG_WARNING,
				 "%s: group %u to address space %u refused "
				 "(API %u, one group, one space)",
				 dev->name, g.group, g.asid, dev->api_version);
		return VDUSE_REQ_RESULT_FAILED;
	}
	return VDUSE_REQ_RESULT_OK;
}

/*
 * VDUSE_F_QUEUE_READY: the driver set a queue ready or not.  Before
 * DRIVER_OK (the usual order) it is only noted; on a running device the
 * queues stop where they stand with their requests completed and those
 * ready start again, since a queue thread belongs to the model.  A model
 * without suspend() cannot: a queue made not ready keeps its thread
 * (the kernel no longer kicks it, and a reset follows, as when a
 * vhost-vdpa client stops), one made ready is refused.  A failure here
 * breaks the device in the kernel: only for what cannot be served.
 */
static uint32_t handle_vq_ready(struct vdk_dev *dev,
				const struct vduse_dev_request *req)
{
	struct vdk__vduse_vq_ready r;
	struct vdk_vq *vq;
	int ret;

	REQ_PAYLOAD(req, &r);
	if (r.num >= dev->num_queues || r.ready > 1) {
		vdk__log_limited(dev, VDK_LOG_WARNING,
				 "%s: ready request for queue %u (of %u), "
				 "ready %u: refused",
				 dev->name, r.num, dev->num_queues, r.ready);
		return VDUSE_REQ_RESULT_FAILED;
	}
	/* A reopened device learns it has the feature from the request. */
	if (!dev->ready_msgs) {
		dev->ready_msgs = true;
		dev->vduse_features |= VDK_VDUSE_F_QUEUE_READY;
	}
	vq = &dev->vqs[r.num];
	if (vq->enabled == (r.ready != 0))
		return VDUSE_REQ_RESULT_OK;
	vq->enabled = r.ready != 0;
	if (!dev->started || vq->ready == vq->enabled)
		return VDUSE_REQ_RESULT_OK;
	if (!dev->ops || !dev->ops->suspend) {
		vdk__log_limited(dev, VDK_LOG_WARNING,
				 "%s: queue %u %s while running: %s",
				 dev->name, r.num,
				 r.ready ? "ready" : "not ready",
				 r.ready ? "refused" : "left running");
		return r.ready ? VDUSE_REQ_RESULT_FAILED : VDUSE_REQ_RESULT_OK;
	}
	ret = quiesce(dev);
	if (ret == 0)
		ret = start_queues(dev, false);
	if (ret < 0) {
		vdk__log(dev, VDK_LOG_ERR,
			 "%s: queue %u %s while running: %d", dev->name,
			 r.num, r.ready ? "ready" : "not ready", ret);
		return VDUSE_REQ_RESULT_FAILED;
	}
	return VDUSE_REQ_RESULT_OK;
}

/*
 * VDUSE_F_SUSPEND: stop with every request completed, so that the
 * positions VDUSE_GET_VQ_STATE reports next are exact.  The kernel has no
 * resume request: a reset ends it, and the driver (a VMM restoring a
 * ring) sets the positions to go on from.
 */
static uint32_t handle_suspend(struct vdk_dev *dev)
{
	int ret;

	if (!dev->suspended) {
		ret = quiesce(dev);
		if (ret < 0) {
			vdk__log(dev, VDK_LOG_ERR, "%s: suspend failed: %d",
				 dev->name, ret);
			return VDUSE_REQ_RESULT_FAILED;
		}
		dev->suspended = true;
		dev->vduse_features |= VDK_VDUSE_F_SUSPEND;
		vdk__log(dev, VDK_LOG_INFO, "%s: suspended", dev->name);
	}
	return VDUSE_REQ_RESULT_OK;
}

static int handle_msg(struct vdk_dev *dev, const struct vduse_dev_request *req)
{
	struct vduse_dev_response resp;

	memset(&resp, 0, sizeof(resp));
	resp.request_id = req->request_id;
	switch (req->type) {
	case VDUSE_SET_STATUS:
		resp.result = handle_set_status(dev, req->s.status);
		break;
	case VDUSE_GET_VQ_STATE:
		resp.result = handle_get_vq_state(dev, req, &resp);
		break;
	case VDUSE_UPDATE_IOTLB:
		resp.result = handle_update_iotlb(dev, req);
		break;
	case VDK__REQ_SET_VQ_GROUP_ASID:
		resp.result = handle_group_asid(dev, req);
		break;
	case VDK__REQ_SET_VQ_READY:
		resp.result = handle_vq_ready(dev, req);
		break;
	case VDK__REQ_SUSPEND:
		resp.result = handle_suspend(dev);
		break;
	default:
		vdk__log_limited(dev, VDK_LOG_WARNING,
				 "%s: unknown control message type %u",
				 dev->name, req->type);
		resp.result = VDUSE_REQ_RESULT_FAILED;
		break;
	}
	dev->msgs++;
	return dev->k->ops->write_msg(dev->k, &resp);
}

VDK_EXPORT int vdk_dev_process(struct vdk_dev *dev)
{
	struct vduse_dev_request req;
	int n = 0, ret;

	for (;;) {
		ret = dev->k->ops->read_msg(dev->k, &req);
		if (ret == -EAGAIN)
			return n;
		if (ret < 0)
			return ret;
		ret = handle_msg(dev, &req);
		if (ret < 0)
			return ret;
		n++;
	}
}

/*
 * A daemon that reopens a running device gets no DRIVER_OK: start from
 * what the kernel says of the queues.
 */
static int resume_if_running(struct vdk_dev *dev)
{
	struct vduse_vq_info info = { .index = 0 };
	int ret;

	ret = dev->k->ops->vq_get_info(dev->k, &info);
	if (ret < 0 || !info.ready)
		return 0;
	dev->status = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
		      VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK;
	return start_queues(dev, true);
}

int vdk__dev_new(const struct vdk_dev_cfg *cfg, struct vdk__kernel *k,
		 bool create, struct vdk_dev **out)
{
	unsigned int i, nvq = 0, max_iovecs;
	bool created = false;
	struct vdk_dev *dev;
	int ret;

	ret = check_cfg(cfg);
	if (ret < 0)
		goto err_kernel;
	dev = calloc(1, sizeof(*dev));
	if (!dev) {
		ret = -ENOMEM;
		goto err_kernel;
	}
	strcpy(dev->name, cfg->name);
	dev->k = k;
	dev->device_id = cfg->device_id;
	dev->vendor_id = cfg->vendor_id;
	/* The flags decide on packed rings and order, not the feature bits. */
	dev->features = (cfg->features & ~(1ull << VIRTIO_F_RING_PACKED |
					   1ull << VIRTIO_F_IN_ORDER)) |
			VDK_OWN_FEATURES;
	if (cfg->flags & VDK_DEV_F_PACKED)
		dev->features |= 1ull << VIRTIO_F_RING_PACKED;
	if (cfg->flags & VDK_DEV_F_IN_ORDER)
		dev->features |= 1ull << VIRTIO_F_IN_ORDER;
	dev->flags = cfg->flags;
	dev->num_queues = cfg->num_queues;
	dev->ops = cfg->ops;
	dev->opaque = cfg->opaque;
	dev->log = cfg->log;
	dev->log_opaque = cfg->log_opaque;
	dev->log_level = cfg->log_level;
	dev->config_size = cfg->config_size;
	pthread_mutex_init(&dev->rl.lock, NULL);
	dev->config = calloc(1, cfg->config_size ? cfg->config_size : 1);
	dev->vqs = calloc(cfg->num_queues, sizeof(*dev->vqs));
	if (!dev->config || !dev->vqs) {
		ret = -ENOMEM;
		goto err_free;
	}
	if (cfg->config_size) /* config may be NULL when empty */
		memcpy(dev->config, cfg->config, cfg->config_size);
	ret = vdk__iotlb_init(&dev->iotlb, k, dev);
	if (ret < 0)
		goto err_free;
	dev->iotlb.safe_gen = vdk__dev_safe_gen;
	dev->iotlb.umem_wanted = cfg->flags & VDK_DEV_F_BOUNCE_UMEM;

	max_iovecs = cfg->max_iovecs ? cfg->max_iovecs : VDK_DEFAULT_MAX_IOVECS;
	for (nvq = 0; nvq < cfg->num_queues; nvq++) {
		ret = vdk__vq_init(&dev->vqs[nvq], dev, nvq, cfg->queue_size,
				   max_iovecs, cfg->req_priv_size);
		if (ret < 0)
			goto err_vqs;
	}

	ret = negotiate_api(dev);
	if (ret < 0)
		goto err_vqs;
	if (create) {
		negotiate_vduse_features(dev);
		ret = create_kernel_dev(dev);
		if (ret < 0)
			goto err_vqs;
		created = true;
	}
	ret = k->ops->open_dev(k, dev->name);
	if (ret < 0)
		goto err_destroy;
	if (cfg->inflight_path) {
		ret = vdk__inflight_open(dev, cfg->inflight_path, create,
					 cfg->queue_size,
					 cfg->flags & VDK_DEV_F_PACKED);
		if (ret < 0 && !create) {
			vdk__log(dev, VDK_LOG_WARNING,
				 "%s: no usable in-flight log %s (%d): requests "
				 "in flight before the restart are lost",
				 dev->name, cfg->inflight_path, ret);
			ret = vdk__inflight_open(dev, cfg->inflight_path, true,
						 cfg->queue_size,
						 cfg->flags & VDK_DEV_F_PACKED);
		}
		if (ret < 0)
			goto err_destroy;
	}
	ret = setup_queues(dev, create);
	if (ret < 0)
		goto err_destroy;
	if (!create) {
		ret = resume_if_running(dev);
		if (ret < 0)
			goto err_destroy;
	}
	*out = dev;
	return 0;

err_destroy:
	vdk__inflight_close(dev);
	if (created) {
		/* The kernel refuses to destroy an open device: close first. */
		k->ops->close_dev(k);
		k->ops->destroy_dev(k, dev->name);
	}
err_vqs:
	for (i = 0; i < nvq; i++)
		vdk__vq_fini(&dev->vqs[i]);
	vdk__iotlb_fini(&dev->iotlb);
err_free:
	free(dev->vqs);
	free(dev->config);
	pthread_mutex_destroy(&dev->rl.lock);
	free(dev);
err_kernel:
	if (k)
		k->ops->free(k);
	return ret;
}

/* A device on the real /dev/vduse. */
static int dev_new_vduse(const struct vdk_dev_cfg *cfg, bool create,
			 struct vdk_dev **out)
{
	struct vdk__kernel *k;
	int ret;

	ret = vdk__kernel_vduse_new(&k);
	if (ret < 0)
		return ret;
	return vdk__dev_new(cfg, k, create, out);
}

VDK_EXPORT int vdk_dev_create(const struct vdk_dev_cfg *cfg,
			      struct vdk_dev **out)
{
	return dev_new_vduse(cfg, true, out);
}

VDK_EXPORT int vdk_dev_open(const struct vdk_dev_cfg *cfg,
			    struct vdk_dev **out)
{
	return dev_new_vduse(cfg, false, out);
}

VDK_EXPORT void vdk_dev_close(struct vdk_dev *dev)
{
	unsigned int i;

	if (!dev)
		return;
	stop_queues(dev);
	vdk__inflight_close(dev);
	vdk__iotlb_fini(&dev->iotlb);
	for (i = 0; i < dev->num_queues; i++)
		vdk__vq_fini(&dev->vqs[i]);
	dev->k->ops->free(dev->k);
	free(dev->vqs);
	free(dev->config);
	pthread_mutex_destroy(&dev->rl.lock);
	free(dev);
}

VDK_EXPORT int vdk_dev_destroy(const char *name)
{
	struct vdk__kernel *k;
	int ret;

	if (!valid_name(name))
		return -EINVAL;
	ret = vdk__kernel_vduse_new(&k);
	if (ret < 0)
		return ret;
	ret = k->ops->destroy_dev(k, name);
	k->ops->free(k);
	return ret;
}

VDK_EXPORT int vdk_dev_fd(const struct vdk_dev *dev)
{
	return dev->k->dev_fd;
}

VDK_EXPORT const char *vdk_dev_name(const struct vdk_dev *dev)
{
	return dev->name;
}

VDK_EXPORT unsigned int vdk_dev_api_version(const struct vdk_dev *dev)
{
	return dev->api_version;
}

VDK_EXPORT uint64_t vdk_dev_vduse_features(const struct vdk_dev *dev)
{
	return dev->vduse_features;
}

VDK_EXPORT uint64_t vdk_dev_features(const struct vdk_dev *dev)
{
	return dev->features;
}

VDK_EXPORT uint64_t vdk_dev_driver_features(const struct vdk_dev *dev)
{
	return dev->driver_features;
}

VDK_EXPORT uint8_t vdk_dev_status(const struct vdk_dev *dev)
{
	return dev->status;
}

VDK_EXPORT int vdk_dev_set_config(struct vdk_dev *dev, uint32_t offset,
				  const void *buf, uint32_t len)
{
	int ret;

	if (len == 0 || offset > dev->config_size ||
	    len > dev->config_size - offset)
		return -EINVAL;
	ret = dev->k->ops->set_config(dev->k, offset, buf, len);
	if (ret < 0)
		return ret;
	memcpy(dev->config + offset, buf, len);
	return dev->k->ops->inject_config_irq(dev->k);
}

VDK_EXPORT unsigned int vdk_dev_num_queues(const struct vdk_dev *dev)
{
	return dev->num_queues;
}

VDK_EXPORT struct vdk_vq *vdk_dev_vq(struct vdk_dev *dev, unsigned int index)
{
	if (index >= dev->num_queues)
		return NULL;
	return &dev->vqs[index];
}

VDK_EXPORT void vdk_dev_get_stats(const struct vdk_dev *dev,
				  struct vdk_dev_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->msgs = dev->msgs;
	st->iotlb_updates = dev->iotlb_updates;
	st->maps = dev->iotlb.maps;
	st->map_misses = dev->iotlb.misses;
	if (atomic_load_explicit(&dev->iotlb.umem_on, memory_order_acquire))
		st->bounce_umem = dev->iotlb.umem_len;
}

VDK_EXPORT int vdk_dev_bounce_mem(struct vdk_dev *dev, void **base,
				  size_t *len)
{
	return vdk__iotlb_umem(&dev->iotlb, base, len);
}
