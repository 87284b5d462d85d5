/* SPDX-License-Identifier: MIT */
/*
 * libvdk: virtio devices in userspace on Linux VDUSE.
 *
 * The library does the VDUSE control path (device life cycle, control
 * messages), translates the driver's I/O addresses through a cache of
 * IOTLB mappings, and runs split and packed virtqueues.  It owns no
 * thread and no event loop: it hands out file descriptors and the
 * application decides who polls them.  It never prints and never
 * exits: diagnostics go to the log callback in struct vdk_dev_cfg.
 *
 * Every function that can fail returns 0 (or a count) on success and a
 * negative errno value on failure; errno itself is never used to pass
 * back an error.
 *
 * Threads: the control functions (vdk_dev_*) are called from one thread at
 * a time.  Each virtqueue (vdk_vq_*) is used by one thread at a time; two
 * queues may be served by two threads at once.  The start and stop
 * callbacks run inside vdk_dev_process(), in the control thread.
 *
 * ABI: the library exports only the functions below, versioned by its
 * linker script (VDK_0.1, ...).  The structs that the application
 * allocates have room to grow without breaking programs built before:
 * a new field takes the place of reserved space at the end, so that a
 * struct's size and the offsets of its fields never change.  Reserved
 * space the application passes in must be zero (a designated initializer
 * or memset does it), and the library answers -EINVAL when it is not, so
 * that a program which sets a field this library does not know fails
 * instead of being silently ignored.  Reserved space the library fills
 * in is zeroed.  Structs that only the library allocates (struct vdk_req)
 * may grow at their end.
 */
#ifndef VDK_VDK_H
#define VDK_VDK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

struct vdk_dev;
struct vdk_vq;

/* Log levels, as syslog's. */
enum vdk_log_level {
	VDK_LOG_ERR = 3,
	VDK_LOG_WARNING = 4,
	VDK_LOG_NOTICE = 5,
	VDK_LOG_INFO = 6,
	VDK_LOG_DEBUG = 7,
};

/*
 * Log callback.  @msg has no trailing newline and is valid only during the
 * call.  It may be called from any thread that calls into the library.
 */
typedef void (*vdk_log_fn)(void *opaque, int level, const char *msg);

/*
 * Device callbacks.  Both are optional.
 */
struct vdk_dev_ops {
	/*
	 * The driver set DRIVER_OK: every ready queue has its rings
	 * resolved and may now be served (vdk_vq_ready() tells which).
	 * Called from vdk_dev_process().  Return 0, or -errno to have the
	 * status change refused.
	 */
	int (*start)(struct vdk_dev *dev, void *opaque);
	/*
	 * The driver reset the device, or the device is being closed.
	 * Return only when no thread uses any queue of @dev any more:
	 * the library forgets the rings and the mappings right after.
	 * Requests still held by the device are dropped (the driver has
	 * forgotten them too).
	 */
	void (*stop)(struct vdk_dev *dev, void *opaque);
	/*
	 * Optional.  The kernel asks the device to stand still
	 * (VDUSE_SUSPEND, for a vhost-vdpa client's VHOST_VDPA_SUSPEND), or
	 * a queue's ready state changes while the device runs: stop taking
	 * requests, complete every request taken (vdk_vq_push() and
	 * vdk_vq_notify(): none may be dropped), and return only when no
	 * thread uses any queue of @dev any more, as stop() does.  The
	 * library then reports each ring's position exactly, and a later
	 * start() goes on from there.  Return -errno when requests could
	 * not be completed: the kernel is told the suspend failed.
	 * Without it, the library does not ask the kernel for
	 * VDUSE_F_SUSPEND.  Called from vdk_dev_process().
	 */
	int (*suspend)(struct vdk_dev *dev, void *opaque);
	/* Room for new callbacks (see ABI above): must be NULL. */
	void (*reserved[5])(void);
};

/*
 * Configuration of a device, for vdk_dev_create() and vdk_dev_open().
 * Zero it before filling it in: see ABI above.
 */
struct vdk_dev_cfg {
	/* Device name: /dev/vduse/NAME and the vDPA device name. */
	const char *name;
	/* Virtio device id (VIRTIO_ID_BLOCK, ...) and vendor id. */
	uint32_t device_id;
	uint32_t vendor_id;
	/*
	 * Device feature bits.  The library adds the ones it implements
	 * itself: VIRTIO_F_VERSION_1, VIRTIO_F_ACCESS_PLATFORM,
	 * VIRTIO_RING_F_INDIRECT_DESC and VIRTIO_RING_F_EVENT_IDX, and
	 * VIRTIO_F_RING_PACKED as @flags say.
	 */
	uint64_t features;
	/* Number of virtqueues (1..64) and their maximum size (power of 2). */
	unsigned int num_queues;
	unsigned int queue_size;
	/* Device configuration space, copied. */
	const void *config;
	size_t config_size;
	/*
	 * Largest number of I/O vectors a request may translate to, after
	 * splitting buffers at mapping boundaries (0: 264).
	 * A request needing more is completed with no data and logged.
	 */
	unsigned int max_iovecs;
	/*
	 * Bytes of private space the application wants in each request,
	 * aligned to 16 bytes: see vdk_req_priv().
	 */
	size_t req_priv_size;
	const struct vdk_dev_ops *ops;
	void *opaque;
	/* Diagnostics; NULL drops them.  Messages above @log_level too. */
	vdk_log_fn log;
	void *log_opaque;
	int log_level;
	/*
	 * Optional: a file (on tmpfs, e.g. /run/vdk/NAME.inflight) where the
	 * library logs which requests each queue has in flight, so that a
	 * daemon killed at any instant loses none: vdk_dev_create() makes it
	 * anew; vdk_dev_open() reads it and pops the requests that were in
	 * flight again, oldest first, before new ones.  Remove it when the
	 * device is destroyed.
	 */
	const char *inflight_path;
	/*
	 * VDK_DEV_F_* below; 0 leaves every choice to the library.
	 */
	uint64_t flags;
	/*
	 * Room for new fields (see ABI above): must be zero.  A pointer
	 * or size_t takes a whole slot, in a union with a uint64_t.
	 */
	uint64_t reserved[7];
};

/*
 * Packed virtqueues (VIRTIO_F_RING_PACKED): the library runs them as it
 * runs split ones, with the same API and the same checks, on a device
 * that offers the feature and a driver that takes it.  Not offered
 * unless VDK_DEV_F_PACKED asks for it (the default may change: then
 * VDK_DEV_F_NO_PACKED keeps it off); both at once is -EINVAL.  The
 * feature bit in @features is ignored: these flags decide.  A device
 * created with packed rings offered must be reopened with the same
 * flags, since its in-flight log has room for them.  A packed ring
 * shows no used index a restarted daemon could go on from, and VDUSE
 * reports only the positions it started at: only the in-flight log
 * (@inflight_path) says where such a ring stands after a restart.
 */
#define VDK_DEV_F_PACKED (1ull << 0)
#define VDK_DEV_F_NO_PACKED (1ull << 1)

/*
 * VIRTIO_F_IN_ORDER: offer it, and when the driver takes it, the library
 * gives the driver its requests back in the order it made them
 * available, whatever order vdk_vq_push() is called in: a request pushed
 * ahead of older ones is held until they are pushed too (its vectors are
 * the library's again at once).  Completions go out at vdk_vq_notify()
 * (as vdk_vq_push() says), those that follow one another as one used
 * ring entry, as the feature allows, where the driver can tell the
 * lengths of those it skips: a request that used less than its whole
 * buffer (readable and writable bytes, which the driver assumes for one
 * it skips) ends a run.  The driver must then lay out its descriptors
 * in order too: a ring where it does not still works, as the library
 * does not rely on it.  A refused chain waits its turn too.  For any
 * ring format; not offered without this flag.
 */
#define VDK_DEV_F_IN_ORDER (1ull << 2)

/*
 * Back VDUSE's bounce buffer, through which a driver on the virtio bus
 * (virtio_vdpa) hands over its buffers, with the daemon's own memory
 * (VDUSE_IOTLB_REG_UMEM, Linux 6.0), in huge pages where the system has
 * hugetlbfs pages reserved, else transparent ones where allowed: see
 * vdk_dev_bounce_mem().  The memory is the bounce size (64 MiB unless
 * /sys/class/vduse/NAME/bounce_size says otherwise before the device is
 * attached), pinned: the locked-memory limit (RLIMIT_MEMLOCK) must
 * allow it.  Where the kernel or the limit does not allow it, the
 * library logs why, once, and serves as without the flag.
 */
#define VDK_DEV_F_BOUNCE_UMEM (1ull << 3)

/*
 * Create the VDUSE device (VDUSE_CREATE_DEV and VDUSE_VQ_SETUP for every
 * queue) and open it.  The API version is probed and set to the highest
 * that both the kernel and the library speak.  On success *@out is a new
 * handle; on failure nothing is left in the kernel.
 *
 * -ENOENT: /dev/vduse/control missing (module vduse not loaded);
 * -EACCES/-EPERM: not allowed; -EEXIST: the name is in use;
 * -EINVAL: a bad configuration (reserved space not zero), or the kernel
 * refused it.
 */
int vdk_dev_create(const struct vdk_dev_cfg *cfg, struct vdk_dev **out);

/*
 * Open an existing VDUSE device again, e.g. after a daemon restart.  The
 * features and queue layout in @cfg must be those it was created with.
 * If the driver is already running, the queues are resolved from
 * VDUSE_VQ_GET_INFO and start() is called before this returns.
 * -ENOENT: no such device.
 */
int vdk_dev_open(const struct vdk_dev_cfg *cfg, struct vdk_dev **out);

/*
 * Stop the device (stop() is called if it was started), unmap all driver
 * memory and close the device's files.  The kernel device stays: destroy
 * it with vdk_dev_destroy() afterwards, once it is detached from the
 * vDPA bus.  NULL is allowed.
 */
void vdk_dev_close(struct vdk_dev *dev);

/*
 * VDUSE_DESTROY_DEV.  -EBUSY while the device is attached to the vDPA bus
 * or still open; -ENOENT if there is no such device.
 */
int vdk_dev_destroy(const char *name);

/*
 * File descriptor that becomes readable when a control message waits.
 * Call vdk_dev_process() then.
 */
int vdk_dev_fd(const struct vdk_dev *dev);

/*
 * Read and answer control messages until none is left (the fd is
 * non-blocking).  Returns the number handled, or -errno when the device
 * file failed (the device is then unusable).
 */
int vdk_dev_process(struct vdk_dev *dev);

/* Name as given at creation. */
const char *vdk_dev_name(const struct vdk_dev *dev);

/*
 * VDUSE API version in use (0 or 1).  Version 1 (Linux 7.0) is taken
 * where the kernel offers it: the device has one queue group in one
 * address space.
 */
unsigned int vdk_dev_api_version(const struct vdk_dev *dev);

/*
 * VDUSE features in use, as bits (1 << VDUSE_F_*): 1 << 0 per-queue
 * ready requests (VDUSE_F_QUEUE_READY), 1 << 1 suspend
 * (VDUSE_F_SUSPEND), both Linux 7.3.  Asked for at vdk_dev_create()
 * where the kernel offers them (suspend only for a device with a
 * suspend() callback); a device reopened by vdk_dev_open() keeps those
 * it was created with, which the kernel does not tell: the library
 * reports those it has seen requests of.
 */
#define VDK_VDUSE_F_QUEUE_READY (1ull << 0)
#define VDK_VDUSE_F_SUSPEND (1ull << 1)
uint64_t vdk_dev_vduse_features(const struct vdk_dev *dev);

/* Features offered to the driver, and those it accepted (0 before). */
uint64_t vdk_dev_features(const struct vdk_dev *dev);
uint64_t vdk_dev_driver_features(const struct vdk_dev *dev);

/* The last device status the driver set. */
uint8_t vdk_dev_status(const struct vdk_dev *dev);

/*
 * Update @len bytes of the configuration space at @offset and notify the
 * driver with a configuration interrupt.
 */
int vdk_dev_set_config(struct vdk_dev *dev, uint32_t offset, const void *buf,
		       uint32_t len);

unsigned int vdk_dev_num_queues(const struct vdk_dev *dev);

/* Queue @index, or NULL when out of range. */
struct vdk_vq *vdk_dev_vq(struct vdk_dev *dev, unsigned int index);

/* Per-device statistics, for tools and tests (128 bytes, always). */
struct vdk_dev_stats {
	uint64_t msgs;          /* control messages answered */
	uint64_t iotlb_updates; /* VDUSE_UPDATE_IOTLB messages */
	uint64_t maps;          /* mappings made (mmap) */
	uint64_t map_misses;    /* addresses with no mapping */
	/* Bytes of our memory backing the bounce buffer (0: none). */
	uint64_t bounce_umem;
	uint64_t reserved[11];  /* new counters go here; zero */
};
void vdk_dev_get_stats(const struct vdk_dev *dev, struct vdk_dev_stats *st);

/*
 * With VDK_DEV_F_BOUNCE_UMEM: once the bounce buffer is in the daemon's
 * memory, 0 and that memory's bounds in *@base and *@len, which stay
 * the same and mapped until vdk_dev_close().  -ENOENT before (the
 * driver has not mapped a buffer yet), or when it is not (no such flag,
 * a client with no bounce buffer such as vhost-vdpa's, a kernel before
 * 6.0, or not allowed: the log says why).  Requests' vectors that lie
 * inside it may be registered for I/O (io_uring fixed buffers).  Any
 * thread, and cheap: an atomic load until it is set.
 */
int vdk_dev_bounce_mem(struct vdk_dev *dev, void **base, size_t *len);

/*
 * A request popped from a virtqueue.  The vectors point straight into the
 * driver's memory: iov[0..n_out) are readable by the device (driver to
 * device), iov[n_out..n_out+n_in) writable.  Both stay valid until
 * vdk_vq_push() or a stop().  The struct belongs to the library, which
 * may add fields at its end.
 */
struct vdk_req {
	uint16_t id;           /* descriptor head (packed: buffer id) */
	unsigned int n_out;    /* readable vectors */
	unsigned int n_in;     /* writable vectors */
	size_t out_len;        /* readable bytes */
	size_t in_len;         /* writable bytes */
	struct iovec *iov;
};

/* The req_priv_size bytes reserved for the application in @req. */
void *vdk_req_priv(struct vdk_req *req);

/* Queue index. */
unsigned int vdk_vq_index(const struct vdk_vq *vq);

/* Size the driver chose (0 while not ready). */
unsigned int vdk_vq_size(const struct vdk_vq *vq);

/* Whether the queue is started (between start() and stop()). */
bool vdk_vq_ready(const struct vdk_vq *vq);

/* Whether the queue met a fatal driver error and stopped serving. */
bool vdk_vq_broken(const struct vdk_vq *vq);

/*
 * Eventfd the kernel signals when the driver kicks this queue (valid for
 * the device's life time).  Read it (8 bytes) to re-arm, then pop.  The
 * library signals it too after the driver changed its memory map, so that
 * an idle queue looks again and the old mappings can go: a kick with
 * nothing to pop is normal.
 */
int vdk_vq_kickfd(const struct vdk_vq *vq);

/*
 * Take the next available request.  Returns 1 and sets *@req, 0 when the
 * ring is empty, -EIO when the queue is broken, -ENOBUFS when every
 * request of the pool is in use (cannot happen with a sane driver), and
 * -EAGAIN when the queue is not started.  A malformed descriptor chain
 * is completed by the library with no data (and logged), and the next
 * one is tried; after the queue's size of them in one call, it returns 0
 * even if more wait (vdk_vq_pending() says so), so that a driver posting
 * bad chains without end cannot hold the caller.  Those completions are
 * signalled by the next vdk_vq_notify(): call it after popping too, not
 * only after pushing.
 *
 * A broken queue (its rings no longer mapped, or indexes that make no
 * sense) stays broken until the driver resets the device: every call
 * returns -EIO, its pushes only retire the requests, and it holds no
 * mapping but those of its requests still in flight.
 */
int vdk_vq_pop(struct vdk_vq *vq, struct vdk_req **req);

/*
 * Complete @req with @len bytes written to its writable vectors.  Each
 * request must be pushed exactly once.  The driver sees the completion
 * after the next vdk_vq_notify(), or when it next polls.
 */
void vdk_vq_push(struct vdk_vq *vq, struct vdk_req *req, uint32_t len);

/*
 * Make pushed completions visible and, if the driver asked for it
 * (VIRTIO_RING_F_EVENT_IDX or the no-interrupt flag), interrupt it with
 * VDUSE_VQ_INJECT_IRQ.  Call once after a batch of pops and pushes
 * (nothing happens when nothing was completed since).  Returns 1 if
 * an interrupt was injected, 0 if none was needed, -errno on failure.
 */
int vdk_vq_notify(struct vdk_vq *vq);

/*
 * Ask the driver to kick (@enable true) or not to kick (false) on new
 * requests.  Disable while polling a busy queue; before blocking on the
 * kick fd, enable and then call vdk_vq_pending(): requests that arrived
 * in between will not be kicked.
 */
void vdk_vq_set_kick(struct vdk_vq *vq, bool enable);

/* Whether requests are waiting to be popped. */
bool vdk_vq_pending(struct vdk_vq *vq);

/* Per-queue statistics (128 bytes, always). */
struct vdk_vq_stats {
	uint64_t popped;     /* requests handed out */
	uint64_t pushed;     /* completions */
	uint64_t bad;        /* malformed chains completed with no data */
	uint64_t irqs;       /* interrupts injected */
	uint64_t notifies;   /* vdk_vq_notify() calls */
	uint64_t reserved[11]; /* new counters go here; zero */
};
void vdk_vq_get_stats(const struct vdk_vq *vq, struct vdk_vq_stats *st);

/* Number of requests popped and not yet pushed. */
unsigned int vdk_vq_inflight(const struct vdk_vq *vq);

/*
 * The SIGBUS guard, for a process that serves clients it does not trust
 * with their memory (the vhost bus: a VMM's memory file).  A client that
 * truncates the file behind memory we have mapped would have the next
 * access raise SIGBUS and end the process.  With the guard, a SIGBUS in a
 * mapping of driver memory puts a private zero page there instead: the
 * access goes on (reads see zeros, writes are lost: the client took that
 * memory away) and vdk_sigbus_pages() counts the page.  Other SIGBUSes
 * reach the handler installed before, or end the process as usual.
 *
 * Process-wide and idempotent: it installs a SIGBUS handler with
 * sigaction(2); call it once, before serving, and do not replace that
 * handler afterwards.  Returns 0 or -errno.
 */
int vdk_sigbus_guard(void);

/* Pages of driver memory the guard has replaced since the start. */
uint64_t vdk_sigbus_pages(void);

#ifdef __cplusplus
}
#endif

#endif /* VDK_VDK_H */
