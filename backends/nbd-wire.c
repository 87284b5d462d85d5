/* SPDX-License-Identifier: MIT */
/*
 * The nbd backend's own transmission phase.  libnbd makes the connection
 * (the handshake, the export, its abilities); once it is up, without TLS
 * and with simple replies, the queue speaks NBD on the socket itself and
 * libnbd's handle stays idle until it is closed.  Why: libnbd sends each
 * command with a system call of its own and reads each reply in two (the
 * header, then the data); here the commands a queue's round submitted
 * leave in one sendmsg() at commit(), and one recv() of a buffer brings
 * as many replies as the socket holds.  A read's data larger than
 * WIRE_DIRECT_MIN goes straight to its buffer.
 *
 * Every command has an entry of a fixed table (no malloc on the data
 * path); its cookie is the entry's index and a sequence number, so that a
 * reply is taken only for a command in flight whose request left whole,
 * and only once.  A command's data is a flat buffer or, when the bio's
 * vectors are scattered (as a large request's pages in VDUSE's bounce
 * buffer are), those vectors: sent with sendmsg() and received with
 * recvmsg() as they are, never copied through a buffer of ours.  A bio
 * that needs more commands than are free (a server with a small maximum
 * block size) waits for them on the pend list.
 *
 * The server's bytes are not trusted: a reply with a bad magic number, to
 * no command in flight, or a structured reply (never asked for) breaks the
 * stream, and the connection is dropped and made anew as for a dead one
 * (nbd-conn.c), its bios sent again.  A read fails only by the error the
 * server sent, or by timeout=.
 */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "nbd-int.h"

#define NBD_REQUEST_MAGIC 0x25609513u
#define NBD_SIMPLE_REPLY_MAGIC 0x67446698u
#define NBD_REQUEST_SIZE 28
#define NBD_REPLY_SIZE 16

/* Replies buffered per recv(): 60 replies of 4 KiB reads. */
#define WIRE_RX_BUF (256u << 10)
/* A read's data from this size on is received into its own buffer. */
#define WIRE_DIRECT_MIN (64u << 10)
/* Iovecs per sendmsg(): a request and its payload each. */
#define WIRE_IOV_MAX 128

struct wire_cmd {
	struct slot *s;          /* NULL: free */
	struct wire_cmd *next;   /* the free list, or the send queue */
	uint8_t *data;           /* WRITE: its payload; READ: its buffer */
	uint64_t vec_off;        /* or, data NULL: from this byte of the
				    bio's vectors on */
	uint32_t len;            /* bytes of data (the payload or the read) */
	uint32_t seq;            /* the cookie's high half */
	uint16_t type;           /* NBD_CMD_* */
	bool queued;             /* its request has not all left */
	uint8_t req[NBD_REQUEST_SIZE];
};

struct vdk__nbd_wire {
	struct wire_cmd *cmds;
	unsigned int ncmds;
	struct wire_cmd *free;
	uint32_t seq;
	/* Requests to send, in order; tx_off bytes of the first are sent. */
	struct wire_cmd *tx_head, *tx_tail;
	size_t tx_off;
	/* Bytes received and not yet parsed: rx[rx_pos, rx_end). */
	uint8_t *rx;
	size_t rx_pos, rx_end;
	bool rx_short;           /* the last recv() did not fill: drained */
	struct wire_cmd *rx_cmd; /* the read whose data comes now */
	uint32_t rx_got;
	struct vdk__slist pend;  /* slots waiting for free commands */
	const char *broken;      /* why the stream cannot go on, or NULL */
};

static inline void put_be16(uint8_t *p, uint16_t v)
{
	v = htobe16(v);
	memcpy(p, &v, sizeof(v));
}

static inline void put_be32(uint8_t *p, uint32_t v)
{
	v = htobe32(v);
	memcpy(p, &v, sizeof(v));
}

static inline void put_be64(uint8_t *p, uint64_t v)
{
	v = htobe64(v);
	memcpy(p, &v, sizeof(v));
}

static inline uint32_t get_be32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return be32toh(v);
}

static inline uint64_t get_be64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return be64toh(v);
}

int vdk__nbd_wire_new(unsigned int depth, struct vdk__nbd_wire **out)
{
	struct vdk__nbd_wire *w = calloc(1, sizeof(*w));

	if (!w)
		return -ENOMEM;
	/* A command per bio and as many again: splits and FUA flushes. */
	w->ncmds = 2 * depth + 16;
	w->cmds = calloc(w->ncmds, sizeof(*w->cmds));
	w->rx = malloc(WIRE_RX_BUF);
	if (!w->cmds || !w->rx) {
		vdk__nbd_wire_free(w);
		return -ENOMEM;
	}
	vdk__nbd_wire_reset(w);
	*out = w;
	return 0;
}

void vdk__nbd_wire_free(struct vdk__nbd_wire *w)
{
	if (!w)
		return;
	free(w->cmds);
	free(w->rx);
	free(w);
}

void vdk__nbd_wire_reset(struct vdk__nbd_wire *w)
{
	unsigned int i;

	w->free = NULL;
	for (i = w->ncmds; i-- > 0;) {
		w->cmds[i].s = NULL;
		w->cmds[i].queued = false;
		w->cmds[i].next = w->free;
		w->free = &w->cmds[i];
	}
	w->tx_head = w->tx_tail = NULL;
	w->tx_off = 0;
	w->rx_pos = w->rx_end = 0;
	w->rx_short = false;
	w->rx_cmd = NULL;
	w->rx_got = 0;
	w->pend.head = w->pend.tail = NULL;
	w->broken = NULL;
}

const char *vdk__nbd_wire_broken(const struct vdk__nbd_wire *w)
{
	return w->broken;
}

bool vdk__nbd_wire_sending(const struct vdk__nbd_wire *w)
{
	return w->tx_head != NULL;
}

int vdk__nbd_wire_cmd(struct vdk_bq *q, struct slot *s, uint16_t type,
		      uint16_t flags, uint64_t offset, uint32_t len,
		      uint8_t *data, uint64_t vec_off)
{
	struct vdk__nbd_wire *w = q->w;
	struct wire_cmd *c = w->free;
	unsigned int idx;

	if (!c)
		return -EAGAIN;
	w->free = c->next;
	idx = (unsigned int)(c - w->cmds);
	c->s = s;
	c->next = NULL;
	c->data = data;
	c->vec_off = vec_off;
	c->len = len;
	c->type = type;
	c->seq = ++w->seq;
	c->queued = true;
	put_be32(c->req, NBD_REQUEST_MAGIC);
	put_be16(c->req + 4, flags);
	put_be16(c->req + 6, type);
	put_be64(c->req + 8, (uint64_t)c->seq << 32 | idx);
	put_be64(c->req + 16, offset);
	put_be32(c->req + 24, len);
	if (w->tx_tail)
		w->tx_tail->next = c;
	else
		w->tx_head = c;
	w->tx_tail = c;
	s->inflight++;
	return 0;
}

void vdk__nbd_wire_wait(struct vdk_bq *q, struct slot *s)
{
	vdk__slist_push(&q->w->pend, &s->s);
}

static void wire_break(struct vdk__nbd_wire *w, const char *why)
{
	if (!w->broken)
		w->broken = why;
}

/* Up to @room iovecs of @c's data from byte @at, in the bio's vectors. */
static unsigned int cmd_window(const struct wire_cmd *c, uint64_t at,
			       uint64_t len, struct iovec *out,
			       unsigned int room, uint64_t *got)
{
	const struct vdk_bio *bio = c->s->s.bio;

	return vdk__iov_window(bio->iov, bio->iovcnt, c->vec_off + at, len,
			       out, room, got);
}

/* Bytes of @c's request and payload, on the wire. */
static size_t cmd_bytes(const struct wire_cmd *c)
{
	return NBD_REQUEST_SIZE + (c->type == NBD_CMD_WRITE ? c->len : 0);
}

void vdk__nbd_wire_send(struct vdk_bq *q)
{
	struct vdk__nbd_wire *w = q->w;

	while (w->tx_head && !w->broken) {
		struct iovec iov[WIRE_IOV_MAX];
		struct msghdr mh = { .msg_iov = iov };
		size_t skip = w->tx_off, left;
		struct wire_cmd *c;
		unsigned int n = 0;
		ssize_t r;

		for (c = w->tx_head; c && n + 2 <= WIRE_IOV_MAX; c = c->next) {
			if (skip < NBD_REQUEST_SIZE) {
				iov[n].iov_base = c->req + skip;
				iov[n++].iov_len = NBD_REQUEST_SIZE - skip;
				skip = 0;
			} else {
				skip -= NBD_REQUEST_SIZE;
			}
			if (c->type == NBD_CMD_WRITE && c->len > skip) {
				uint64_t got = c->len - skip;

				if (c->data) {
					iov[n].iov_base = c->data + skip;
					iov[n++].iov_len = got;
				} else {
					n += cmd_window(c, skip, c->len - skip,
							iov + n,
							WIRE_IOV_MAX - n,
							&got);
				}
				/* Out of iovecs: the rest goes next time. */
				if (got < c->len - skip)
					break;
			}
			skip = 0;
		}
		if (!n) {
			wire_break(w, "a write's vectors are short");
			return;
		}
		mh.msg_iovlen = n;
		r = sendmsg(q->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				wire_break(w, "the connection to the server failed (send)");
			return;
		}
		/* Take off the requests that left whole. */
		left = w->tx_off + (size_t)r;
		while (w->tx_head && left >= cmd_bytes(w->tx_head)) {
			c = w->tx_head;
			left -= cmd_bytes(c);
			c->queued = false;
			w->tx_head = c->next;
			c->next = NULL;
		}
		if (!w->tx_head)
			w->tx_tail = NULL;
		w->tx_off = left;
	}
}

/* NBD's error numbers are Linux's; anything else is an I/O error. */
static int nbd_errno(uint32_t e)
{
	switch (e) {
	case EPERM:
	case EIO:
	case ENOMEM:
	case EINVAL:
	case ENOSPC:
	case EOVERFLOW:
	case EOPNOTSUPP:
	case ESHUTDOWN:
		return (int)e;
	default:
		return EIO;
	}
}

/* The reply to @c is in: the command is over. */
static void cmd_finish(struct vdk_bq *q, struct wire_cmd *c, uint32_t err)
{
	struct vdk__nbd_wire *w = q->w;
	struct slot *s = c->s;
	struct vdk__slot *p;

	c->s = NULL;
	c->next = w->free;
	w->free = c;
	vdk__nbd_cmd_done(q, s, err ? nbd_errno(err) : 0);
	/* A command is free: bios that waited for one go on. */
	while (w->free && (p = vdk__slist_pop(&w->pend)))
		vdk__nbd_slot_resume(q, slot_of(p));
}

/*
 * More bytes into rx.  False when there are none now (or the stream
 * broke): after a recv() that did not fill the buffer, the socket is
 * taken as drained until poll() says otherwise.
 */
static bool rx_fill(struct vdk_bq *q)
{
	struct vdk__nbd_wire *w = q->w;
	size_t room;
	ssize_t r;

	if (w->rx_short)
		return false;
	if (w->rx_pos) {
		memmove(w->rx, w->rx + w->rx_pos, w->rx_end - w->rx_pos);
		w->rx_end -= w->rx_pos;
		w->rx_pos = 0;
	}
	room = WIRE_RX_BUF - w->rx_end;
	do {
		r = recv(q->fd, w->rx + w->rx_end, room, MSG_DONTWAIT);
	} while (r < 0 && errno == EINTR);
	if (r < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			wire_break(w, "the connection to the server failed (receive)");
		w->rx_short = true;
		return false;
	}
	if (r == 0) {
		wire_break(w, "the connection to the server was closed");
		return false;
	}
	w->rx_end += (size_t)r;
	w->rx_short = (size_t)r < room;
	return true;
}

/* A read's data, from rx or straight from the socket. */
static bool rx_data(struct vdk_bq *q)
{
	struct vdk__nbd_wire *w = q->w;
	struct wire_cmd *c = w->rx_cmd;
	size_t need = c->len - w->rx_got, have = w->rx_end - w->rx_pos, n;
	ssize_t r;

	if (have) {
		n = need < have ? need : have;
		if (c->data)
			memcpy(c->data + w->rx_got, w->rx + w->rx_pos, n);
		else
			vdk__iov_from_buf(c->s->s.bio->iov,
					  c->s->s.bio->iovcnt,
					  c->vec_off + w->rx_got,
					  w->rx + w->rx_pos, n);
		w->rx_pos += n;
		w->rx_got += (uint32_t)n;
	} else if (need >= WIRE_DIRECT_MIN) {
		struct iovec v[WIRE_IOV_MAX];
		struct msghdr mh = { .msg_iov = v, .msg_iovlen = 1 };
		uint64_t got;

		if (w->rx_short)
			return false;
		if (c->data) {
			v[0].iov_base = c->data + w->rx_got;
			v[0].iov_len = need;
		} else {
			mh.msg_iovlen = cmd_window(c, w->rx_got, need, v,
						   WIRE_IOV_MAX, &got);
			if (!got) {
				wire_break(w, "a read's vectors are short");
				return false;
			}
			need = got;
		}
		do {
			r = recvmsg(q->fd, &mh, MSG_DONTWAIT);
		} while (r < 0 && errno == EINTR);
		if (r <= 0) {
			if (r == 0)
				wire_break(w, "the connection to the server was closed");
			else if (errno != EAGAIN && errno != EWOULDBLOCK)
				wire_break(w, "the connection to the server failed (receive)");
			w->rx_short = true;
			return false;
		}
		w->rx_got += (uint32_t)r;
		w->rx_short = (size_t)r < need;
	} else if (!rx_fill(q)) {
		return false;
	}
	if (w->rx_got == c->len) {
		w->rx_cmd = NULL;
		cmd_finish(q, c, 0);
	}
	return true;
}

/* One reply's header from rx (there are enough bytes). */
static void rx_header(struct vdk_bq *q)
{
	struct vdk__nbd_wire *w = q->w;
	const uint8_t *p = w->rx + w->rx_pos;
	uint32_t magic = get_be32(p), err = get_be32(p + 4);
	uint64_t cookie = get_be64(p + 8);
	uint32_t idx = (uint32_t)cookie, seq = (uint32_t)(cookie >> 32);
	struct wire_cmd *c;

	if (magic != NBD_SIMPLE_REPLY_MAGIC) {
		wire_break(w, "the server sent a reply with a bad magic number");
		return;
	}
	if (idx >= w->ncmds || !w->cmds[idx].s || w->cmds[idx].seq != seq ||
	    w->cmds[idx].queued) {
		wire_break(w, "the server replied to no command in flight");
		return;
	}
	w->rx_pos += NBD_REPLY_SIZE;
	c = &w->cmds[idx];
	if (!err && c->type == NBD_CMD_READ && c->len) {
		w->rx_cmd = c;
		w->rx_got = 0;
		return;
	}
	cmd_finish(q, c, err);
}

void vdk__nbd_wire_recv(struct vdk_bq *q)
{
	struct vdk__nbd_wire *w = q->w;

	/* poll() said readable, or the device asks: try the socket again. */
	w->rx_short = false;
	while (!w->broken) {
		if (w->rx_cmd) {
			if (!rx_data(q))
				break;
		} else if (w->rx_end - w->rx_pos >= NBD_REPLY_SIZE) {
			rx_header(q);
		} else if (!rx_fill(q)) {
			break;
		}
	}
}

bool vdk__nbd_wire_disc(struct vdk_bq *q)
{
	struct vdk__nbd_wire *w = q->w;
	uint8_t req[NBD_REQUEST_SIZE] = { 0 };

	/* Only between requests, and only if nothing went wrong. */
	if (w->broken || w->tx_head || w->tx_off)
		return false;
	put_be32(req, NBD_REQUEST_MAGIC);
	put_be16(req + 6, NBD_CMD_DISC);
	return send(q->fd, req, sizeof(req), MSG_NOSIGNAL | MSG_DONTWAIT) ==
	       (ssize_t)sizeof(req);
}
