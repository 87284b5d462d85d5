/* SPDX-License-Identifier: MIT */
/*
 * Storage backends of vdk blk.
 *
 * A backend is a const ops table (see the end of this file).  It knows
 * nothing of VDUSE or virtio: it is given byte offsets and I/O vectors that
 * point straight into the driver's memory, and completes each operation
 * exactly once through its done() callback.
 *
 * Life cycle, in this order:
 *   open()        main thread, before any fork: parse parameters, open the
 *                 storage, report errors.  Must not start threads.
 *   start()       after the daemon forked, before any queue: threads may
 *                 start now (libnbd, librbd).
 *   queue_open()  once per queue, in that queue's thread.
 *   read()/write()/flush()/discard()/zero(), commit(), reap()
 *                 in the queue's thread only.
 *   queue_close() in the queue's thread, after every operation completed.
 *   close()       main thread.
 */
#ifndef VDK_BACKEND_H
#define VDK_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include <vdk/vdk.h>

#include "params.h"

struct vdk_bdev; /* one per device, backend-defined */
struct vdk_bq;   /* one per queue, backend-defined */

enum vdk_bio_op {
	VDK_BIO_READ,
	VDK_BIO_WRITE,
	VDK_BIO_FLUSH,
	VDK_BIO_DISCARD,
	VDK_BIO_ZERO,
};

/* WRITE: the data must be durable on completion. */
#define VDK_BIO_F_FUA (1u << 0)
/* ZERO: the range may be deallocated (reads must still return zeros). */
#define VDK_BIO_F_UNMAP (1u << 1)

/*
 * One operation.  Owned by the caller; must stay valid until done().
 * Offsets and lengths are in bytes; the caller has checked them against
 * the size and the block size.
 */
struct vdk_bio {
	uint8_t op;     /* enum vdk_bio_op */
	uint8_t flags;  /* VDK_BIO_F_* */
	uint64_t offset;
	uint64_t len;
	/* READ and WRITE: the data, @len bytes in all. */
	const struct iovec *iov;
	unsigned int iovcnt;
	/*
	 * Called exactly once with 0 or -errno (-EIO, -ENOSPC, ...), from
	 * the queue's thread: inside the submitting call or inside reap().
	 * A short read or write is an error (-EIO).
	 */
	void (*done)(struct vdk_bio *bio, int result);
};

/* What a backend can do, filled by info(). */
struct vdk_backend_info {
	uint64_t size;            /* bytes */
	uint32_t block_size;      /* preferred logical block size: 512/4096 */
	uint32_t opt_io_size;     /* bytes, 0 if unknown */
	uint32_t max_iovecs;      /* per read/write, 0 = no limit */
	bool read_only;
	bool can_flush;
	bool can_fua;
	bool can_discard;
	bool can_zero;
	/* zero() with VDK_BIO_F_UNMAP really deallocates. */
	bool can_zero_unmap;
	/* Queues are independent (several queues may be served at once). */
	bool multi_queue;
};

#define VDK_BACKEND_ERR_MAX 256

/*
 * Where a backend's messages go (set_log below): what the daemon's log
 * should say of the storage, such as a lost connection, requests failed
 * by timeout= and the recovery after.  Messages above @level are not made.
 */
struct vdk_backend_log {
	vdk_log_fn fn;
	void *opaque;
	int level;
};

/*
 * What a backend tells the device model (set_events below), beside the
 * bios' results: an event and the queue it happened on.
 */
enum vdk_backend_event {
	/*
	 * The size may have changed: read info() again (@qidx is 0).  Not
	 * from inside the callback: it may run on a library's thread.
	 */
	VDK_BACKEND_EV_RESIZED,
	/* Queue @qidx lost its connection to the storage; bios wait. */
	VDK_BACKEND_EV_LOST,
	/* Queue @qidx is connected again; waiting bios are sent. */
	VDK_BACKEND_EV_RESTORED,
};

/*
 * Where a backend's events go.  @fn may be called from any thread the
 * backend runs (a queue's, or a library's own for RESIZED): it must be
 * quick, must not block and must not call back into the backend.
 */
struct vdk_backend_events {
	void (*fn)(void *opaque, enum vdk_backend_event ev,
		   unsigned int qidx);
	void *opaque;
};

struct vdk_backend_ops {
	const char *name;
	/* One line for `vdk add --help`. */
	const char *summary;
	/* Parameter list, one "key=value  meaning" per line. */
	const char *params_help;

	/*
	 * Required.  Parse @params (mark every key used with the params
	 * helpers; the caller rejects unused ones) and open the storage.
	 * On error return -errno and write a one-line message into @err.
	 */
	int (*open)(struct vdk_params *params, struct vdk_bdev **out,
		    char *err, size_t errlen);
	/*
	 * Optional.  Send messages to @log from now on (it is copied); by
	 * default a backend says nothing.  Main thread, before start();
	 * the messages come from the queues' threads.
	 */
	void (*set_log)(struct vdk_bdev *b, const struct vdk_backend_log *log);
	/* Optional.  After fork, before the first queue. */
	int (*start)(struct vdk_bdev *b, char *err, size_t errlen);
	/* Required.  NULL is allowed. */
	void (*close)(struct vdk_bdev *b);
	/* Required.  Current size and abilities; called again on resize. */
	int (*info)(struct vdk_bdev *b, struct vdk_backend_info *info);

	/* Required.  Per-queue state for @depth operations in flight. */
	int (*queue_open)(struct vdk_bdev *b, unsigned int qidx,
			  unsigned int depth, struct vdk_bq **out);
	/* Required.  NULL is allowed. */
	void (*queue_close)(struct vdk_bq *q);
	/*
	 * Optional.  A file descriptor that becomes readable when
	 * completions wait for reap(); -1 or NULL for a backend that
	 * completes everything inside the submitting call.
	 */
	int (*queue_fd)(struct vdk_bq *q);
	/*
	 * Optional.  With one request in flight, the queue thread calls
	 * reap() in a loop for up to its polling window before it sleeps
	 * on queue_fd(): for a backend whose answers come soon from
	 * another process (a local NBD server), where waking up is much
	 * of the wait of a request alone.
	 */
	bool poll_lone;

	/*
	 * Submit.  Return 0 when done() will be called (maybe already was),
	 * or -errno when it will not.  A NULL member means the backend
	 * cannot do that operation.  read and write are required.
	 */
	int (*read)(struct vdk_bq *q, struct vdk_bio *bio);
	int (*write)(struct vdk_bq *q, struct vdk_bio *bio);
	int (*flush)(struct vdk_bq *q, struct vdk_bio *bio);
	int (*discard)(struct vdk_bq *q, struct vdk_bio *bio);
	int (*zero)(struct vdk_bq *q, struct vdk_bio *bio);

	/* Optional.  Send the operations submitted since the last call. */
	int (*commit)(struct vdk_bq *q);
	/*
	 * Optional.  Run waiting completions, without blocking.  Returns
	 * how many completed, or -errno.  Clears whatever made queue_fd()
	 * readable.
	 */
	int (*reap)(struct vdk_bq *q);

	/*
	 * Optional, for backends on sockets (NBD): the poll() events to
	 * wait for on queue_fd() now (default POLLIN).
	 */
	short (*queue_events)(struct vdk_bq *q);
	/*
	 * Optional.  poll() returned @revents on queue_fd(): do the I/O it
	 * allows (completions may run).  Called before reap().
	 */
	int (*queue_ready)(struct vdk_bq *q, short revents);
	/*
	 * Optional.  Milliseconds until the backend wants reap() called
	 * again even if nothing happens (timeouts, reconnects), or -1.
	 */
	int (*queue_timeout)(struct vdk_bq *q);

	/*
	 * Optional.  What the backend still needs once the daemon is
	 * confined (no root, a seccomp filter, Landlock), beyond the
	 * daemon's own: system call names and paths it may open, each
	 * NULL-terminated.  Everything open() opened stays usable.
	 */
	const char *const *syscalls;
	const char *const *ro_paths;
	/*
	 * Optional.  Paths that depend on the parameters (a TLS
	 * certificate directory, a configuration file): up to @max into
	 * @paths.  Returns how many.  After open().
	 */
	unsigned int (*confine_paths)(struct vdk_bdev *b, const char **paths,
				      unsigned int max);

	/*
	 * Optional.  Send events to @ev from now on (it is copied); by
	 * default a backend tells nothing.  Main thread, before start().
	 */
	void (*set_events)(struct vdk_bdev *b,
			   const struct vdk_backend_events *ev);
	/*
	 * Optional.  The queue's I/O vectors will mostly lie in [@base,
	 * @base + @len) from now on (the device's bounce buffer in the
	 * daemon's own memory, mapped until the queue closes): the
	 * backend may register it for its I/O (io_uring fixed buffers).
	 * At most once per queue_open(), in the queue's thread, between
	 * operations.  0, or -errno: the caller goes on without.
	 */
	int (*queue_set_mem)(struct vdk_bq *q, void *base, size_t len);
};

/* Registered backends, NULL-terminated. */
extern const struct vdk_backend_ops *const vdk_backends[];

/* Backend by name, or NULL. */
const struct vdk_backend_ops *vdk_backend_find(const char *name);

extern const struct vdk_backend_ops vdk_backend_file;
extern const struct vdk_backend_ops vdk_backend_ram;
extern const struct vdk_backend_ops vdk_backend_null;

#endif /* VDK_BACKEND_H */
