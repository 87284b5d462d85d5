/* SPDX-License-Identifier: MIT */
/*
 * The nbd backend's own pieces, shared by nbd.c (parameters, the export,
 * the commands) and nbd-conn.c (each queue's connection: made, watched,
 * lost and made again).  Not an interface for anything else.
 */
#ifndef VDK_BACKENDS_NBD_INT_H
#define VDK_BACKENDS_NBD_INT_H

#include <libnbd.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "backend.h"
#include "engine.h"
#include "internal.h"

#define NBD_MAX_CONNECTIONS 64

/* NBD's command types, on the wire (nbd-wire.c). */
#define NBD_CMD_READ 0
#define NBD_CMD_WRITE 1
#define NBD_CMD_DISC 2
#define NBD_CMD_FLUSH 3
#define NBD_CMD_TRIM 4
#define NBD_CMD_WRITE_ZEROES 6

struct vdk__nbd_wire; /* nbd-wire.c */

struct vdk_bdev {
	char *uri;               /* with export= applied */
	int tls;                 /* LIBNBD_TLS_*, or -1: as the URI says */
	int tls_verify;          /* 0/1, or -1: libnbd's default */
	char *tls_certificates;
	char *tls_username;
	char *tls_psk_file;
	unsigned int timeout_s;
	unsigned int connections;
	/* What the export offered at open(); a new connection must match. */
	uint64_t export_size;
	uint64_t size;           /* served: a whole number of blocks */
	uint32_t block_size;
	uint32_t pref_block;
	uint64_t max_rw;         /* a multiple of block_size */
	bool read_only;
	bool can_flush;
	bool can_fua;
	bool can_trim;
	bool can_zero;
	bool can_multi_conn;
	struct vdk_backend_log log;
	struct vdk_backend_events events;
};

enum conn_state {
	CONN_DOWN,       /* no handle: waiting until retry_at */
	CONN_CONNECTING, /* handle made, handshake under way */
	CONN_UP,         /* ready for commands */
};

enum slot_state {
	SLOT_FREE,
	SLOT_WAIT, /* on the wait list: no connection to send it on */
	SLOT_SENT, /* commands in libnbd */
	SLOT_DONE, /* on the done list: for reap() to finish */
};

enum phase {
	PHASE_DATA,
	PHASE_FLUSH, /* FUA without server support: a flush after the write */
};

/* One bio in the backend: a slot of the engine (engine.h). */
struct slot {
	struct vdk__slot s;     /* its bio, deadline, bounce buffer, list */
	unsigned int inflight;  /* commands in libnbd (+1 while issuing) */
	int err;                /* the first error a command got, -errno */
	bool lost;              /* a command died with its connection */
	bool fua_flush;         /* send a flush after the data */
	unsigned int gen;       /* the connection it was last sent on */
	uint8_t state;          /* enum slot_state */
	uint8_t phase;          /* enum phase */
	uint8_t *buf;           /* the bio's data, contiguous */
	uint64_t next_off;      /* the phase's commands sent up to here */
};

struct vdk_bq {
	struct vdk_bdev *b;
	struct nbd_handle *h;
	uint8_t state;          /* enum conn_state */
	int fd;                 /* queue_fd(): the socket, dup'ed, or idle_fd */
	int idle_fd;            /* an eventfd never written */
	ino_t sock_ino;         /* which socket fd holds now, 0 if none */
	uint64_t retry_at;      /* CONN_DOWN: next attempt */
	uint64_t connect_by;    /* CONN_CONNECTING: give up then */
	uint64_t up_since;
	unsigned int gen;       /* counts connections that came up */
	unsigned int backoff_ms;
	bool pumped;            /* queue_ready() just did the socket's I/O */
	unsigned int qidx;
	struct vdk__slist wait; /* no connection to send them on */
	struct vdk__slist done; /* for reap() */
	bool mismatch_told;     /* the log heard of a mismatched server */
	char conn_err[128];     /* why it could not connect, as last told */
	/* The connection speaks through nbd-wire.c, not libnbd. */
	bool wire;
	struct vdk__nbd_wire *w;
	uint64_t bounced;       /* bios copied through a bounce buffer */
	struct vdk__eng e;      /* slots, deadlines, bounces, stalls */
};

static inline struct slot *slot_of(struct vdk__slot *s)
{
	return vdk__container_of(s, struct slot, s);
}

static inline struct vdk_bq *queue_of(struct slot *s)
{
	return vdk__container_of(s->s.eng, struct vdk_bq, e);
}

/* ---- nbd.c ---- */

/* Send the slot's commands on the connection, which is up. */
void vdk__nbd_slot_issue(struct vdk_bq *q, struct slot *s);
/* The slot's commands are over: for reap() to finish or send again. */
void vdk__nbd_done_push(struct vdk_bq *q, struct slot *s);
/* One command of the slot is over, with 0 or a positive errno. */
void vdk__nbd_cmd_done(struct vdk_bq *q, struct slot *s, int err);
/* Send the rest of the slot's commands (it waited for free ones). */
void vdk__nbd_slot_resume(struct vdk_bq *q, struct slot *s);

/* ---- nbd-conn.c ---- */

/* libnbd's last error, without the "nbd_function: " it starts with. */
const char *vdk__nbd_msg(void);
/* libnbd's last errno as -errno (-EIO if none). */
int vdk__nbd_err(void);
/* A new handle, set up as the parameters say, not yet connecting. */
struct nbd_handle *vdk__nbd_handle_new(const struct vdk_bdev *b);
/*
 * Close a handle, saying goodbye to the server if it is listening and
 * @polite (the stream is between requests).
 */
void vdk__nbd_handle_close(struct nbd_handle *h, bool polite);

/* Start connecting (queue_open(), and after a back-off). */
void vdk__nbd_conn_start(struct vdk_bq *q, uint64_t now);
/* Give up a live connection, and say why in the log. */
void vdk__nbd_conn_lost(struct vdk_bq *q, uint64_t now, const char *why);
/* Move the connection along: connect, notice death, send what waits. */
void vdk__nbd_conn_step(struct vdk_bq *q, uint64_t now);
/* The poll() events the connection waits for now. */
short vdk__nbd_conn_events(struct vdk_bq *q);
/* Let libnbd read and write as far as poll()'s @revents allow. */
void vdk__nbd_conn_pump(struct vdk_bq *q, short revents);
/* When the connection wants reap() again (ns), or UINT64_MAX. */
uint64_t vdk__nbd_conn_wake_at(const struct vdk_bq *q);

/* ---- nbd-wire.c ---- */

/* The wire of a queue of @depth.  0 or -ENOMEM. */
int vdk__nbd_wire_new(unsigned int depth, struct vdk__nbd_wire **out);
void vdk__nbd_wire_free(struct vdk__nbd_wire *w);
/* A new connection: nothing in flight, nothing buffered. */
void vdk__nbd_wire_reset(struct vdk__nbd_wire *w);
/* Why the stream broke (the connection must go), or NULL. */
const char *vdk__nbd_wire_broken(const struct vdk__nbd_wire *w);
/* Whether requests wait to be sent (poll for POLLOUT). */
bool vdk__nbd_wire_sending(const struct vdk__nbd_wire *w);
/*
 * Queue a command of @s (s->inflight counts it); sent by the next
 * vdk__nbd_wire_send().  A read or write with @data NULL takes its data
 * from the bio's vectors, @vec_off bytes in.  -EAGAIN when no command is
 * free.
 */
int vdk__nbd_wire_cmd(struct vdk_bq *q, struct slot *s, uint16_t type,
		      uint16_t flags, uint64_t offset, uint32_t len,
		      uint8_t *data, uint64_t vec_off);
/* @s waits for free commands (after -EAGAIN), then resumes. */
void vdk__nbd_wire_wait(struct vdk_bq *q, struct slot *s);
/* Send what is queued, as far as the socket takes it. */
void vdk__nbd_wire_send(struct vdk_bq *q);
/* Receive and finish what the socket holds, without blocking. */
void vdk__nbd_wire_recv(struct vdk_bq *q);
/* Tell the server goodbye if between requests.  Whether it was sent. */
bool vdk__nbd_wire_disc(struct vdk_bq *q);

#endif /* VDK_BACKENDS_NBD_INT_H */
