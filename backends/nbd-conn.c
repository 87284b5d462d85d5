/* SPDX-License-Identifier: MIT */
/*
 * The nbd backend's connections (nbd.c has the rest): one per queue, a
 * libnbd handle used only from the queue's thread.
 *
 *   DOWN        no handle: wait until retry_at, then connect
 *   CONNECTING  the handshake, CONNECT_TIMEOUT_MS at most; a server that
 *               came back with another size or fewer abilities is not
 *               used; success sends every bio that waited
 *   UP          commands flow; a dead connection, a lost command or a
 *               bio older than timeout= (nbd.c) brings it DOWN
 *
 * Going DOWN closes the handle (libnbd cannot cancel: closing is what
 * guarantees no late reply lands in a buffer given back) and moves the
 * bios it held to the done list, to be sent again or failed.  The back-off
 * doubles from BACKOFF_MIN_MS to BACKOFF_MAX_MS, afresh after a connection
 * that lived STABLE_MS.
 *
 * The queue's fd stays the same for the queue's life: the current socket
 * is dup'ed onto it, and an eventfd that never fires stands in while there
 * is none.  The device model hears of a connection lost and made again
 * through set_events.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nbd-int.h"

/* Reconnect back-off, and how long one attempt may take. */
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define CONNECT_TIMEOUT_MS 10000
/* A connection that lived this long starts the back-off afresh. */
#define STABLE_MS 1000

/* libnbd's last error, without the "nbd_function: " it starts with. */
const char *vdk__nbd_msg(void)
{
	const char *m = nbd_get_error(), *p;

	if (!m || !*m)
		return "unknown error";
	p = strstr(m, ": ");
	if (p && !strncmp(m, "nbd_", 4) && !memchr(m, ' ', p - m))
		return p + 2;
	return m;
}

int vdk__nbd_err(void)
{
	int e = nbd_get_errno();

	return e > 0 ? -e : -EIO;
}

struct nbd_handle *vdk__nbd_handle_new(const struct vdk_bdev *b)
{
	struct nbd_handle *h = nbd_create();

	if (!h)
		return NULL;
	/* The URI comes from the administrator: let it name files. */
	if (nbd_set_uri_allow_local_file(h, true) == -1 ||
	    /* Buffers are ours to keep defined: no memset per read. */
	    nbd_set_pread_initialize(h, false) == -1 ||
	    /*
	     * Simple replies: a read's reply is a header and the data, two
	     * reads of the socket instead of four.  Structured replies
	     * serve block status and sparse reads, which vdk does not use.
	     */
	    nbd_set_request_structured_replies(h, false) == -1 ||
	    (b->tls >= 0 && nbd_set_tls(h, b->tls) == -1) ||
	    (b->tls_verify >= 0 &&
	     nbd_set_tls_verify_peer(h, b->tls_verify) == -1) ||
	    (b->tls_certificates &&
	     nbd_set_tls_certificates(h, b->tls_certificates) == -1) ||
	    (b->tls_username &&
	     nbd_set_tls_username(h, b->tls_username) == -1) ||
	    (b->tls_psk_file &&
	     nbd_set_tls_psk_file(h, b->tls_psk_file) == -1)) {
		nbd_close(h);
		return NULL;
	}
	return h;
}

void vdk__nbd_handle_close(struct nbd_handle *h, bool polite)
{
	if (!h)
		return;
	if (polite && (nbd_aio_is_ready(h) || nbd_aio_is_processing(h)))
		nbd_aio_disconnect(h, 0);
	nbd_close(h);
}

/* Point q->fd at the handle's socket, or at idle_fd when there is none. */
static void sync_fd(struct vdk_bq *q)
{
	struct stat st;
	int fd = q->h ? nbd_aio_get_fd(q->h) : -1;

	if (fd < 0 || fstat(fd, &st)) {
		if (q->sock_ino) {
			dup3(q->idle_fd, q->fd, O_CLOEXEC);
			q->sock_ino = 0;
		}
		return;
	}
	/* libnbd may try address after address, each with a new socket. */
	if (st.st_ino != q->sock_ino && dup3(fd, q->fd, O_CLOEXEC) >= 0)
		q->sock_ino = st.st_ino;
}

/*
 * Close the connection, alive or not.  Commands still in libnbd are lost
 * (closing a handle runs no completion callback): their bios go to the
 * done list, to be sent again or failed.
 */
static void conn_drop(struct vdk_bq *q, uint64_t now)
{
	struct vdk__slot *vs;
	unsigned int delay;

	if (q->h) {
		/*
		 * On the wire: our goodbye if between requests, not
		 * libnbd's; its commands die with it (the waiting too).
		 */
		if (q->wire) {
			vdk__nbd_wire_disc(q);
			vdk__nbd_wire_reset(q->w);
		}
		vdk__eng_for_each(&q->e, vs) {
			struct slot *s = slot_of(vs);

			if (s->state == SLOT_SENT && s->inflight) {
				s->inflight = 0;
				s->lost = true;
				vdk__nbd_done_push(q, s);
			}
		}
		vdk__nbd_handle_close(q->h, !q->wire);
		q->h = NULL;
		q->wire = false;
	}
	sync_fd(q);
	if (q->state == CONN_UP && now - q->up_since >= STABLE_MS * VDK_NS_PER_MS)
		q->backoff_ms = 0;
	delay = q->backoff_ms;
	q->backoff_ms = !delay ? BACKOFF_MIN_MS :
			delay * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : delay * 2;
	q->state = CONN_DOWN;
	q->retry_at = now + delay * VDK_NS_PER_MS;
}

void vdk__nbd_conn_lost(struct vdk_bq *q, uint64_t now, const char *why)
{
	if (q->state == CONN_UP) {
		vdk__blog(&q->b->log, VDK_LOG_WARNING,
			  "queue %u: %s; reconnecting", q->qidx, why);
		vdk__bevent(&q->b->events, VDK_BACKEND_EV_LOST, q->qidx);
	}
	conn_drop(q, now);
}

/*
 * Why no connection could be made, told once for as long as the reason
 * stays the same (the attempts go on every few seconds): a socket the
 * serving process may not open reads "Permission denied" here, not only
 * as requests that time out.
 */
static void conn_failed(struct vdk_bq *q, const char *why)
{
	if (!strncmp(q->conn_err, why, sizeof(q->conn_err) - 1))
		return;
	snprintf(q->conn_err, sizeof(q->conn_err), "%s", why);
	vdk__blog(&q->b->log, VDK_LOG_WARNING,
		  "queue %u: cannot connect to the server: %s; trying again",
		  q->qidx, why);
}

void vdk__nbd_conn_start(struct vdk_bq *q, uint64_t now)
{
	q->h = vdk__nbd_handle_new(q->b);
	if (!q->h || nbd_aio_connect_uri(q->h, q->b->uri) == -1) {
		conn_failed(q, q->h ? vdk__nbd_msg() : "out of memory");
		conn_drop(q, now);
		return;
	}
	q->state = CONN_CONNECTING;
	q->connect_by = now + CONNECT_TIMEOUT_MS * VDK_NS_PER_MS;
	sync_fd(q);
}

/*
 * Does the new connection offer what the device was promised?  A server
 * that came back with another size or fewer abilities is not used.
 */
static bool conn_matches(struct vdk_bq *q)
{
	const struct vdk_bdev *b = q->b;
	struct nbd_handle *h = q->h;

	return nbd_get_size(h) == (int64_t)b->export_size &&
	       (!b->can_flush || nbd_can_flush(h) == 1) &&
	       (!b->can_fua || nbd_can_fua(h) == 1) &&
	       (!b->can_trim || nbd_can_trim(h) == 1) &&
	       (!b->can_zero || nbd_can_zero(h) == 1) &&
	       (b->read_only || nbd_is_read_only(h) == 0) &&
	       (b->connections == 1 || nbd_can_multi_conn(h) == 1);
}

void vdk__nbd_conn_step(struct vdk_bq *q, uint64_t now)
{
	struct vdk__slot *s;

	switch (q->state) {
	case CONN_DOWN:
		if (now >= q->retry_at)
			vdk__nbd_conn_start(q, now);
		break;
	case CONN_CONNECTING:
		if (nbd_aio_is_ready(q->h)) {
			if (!conn_matches(q)) {
				if (!q->mismatch_told)
					vdk__blog(&q->b->log, VDK_LOG_WARNING,
						  "queue %u: the server came back with another size or fewer abilities: not used",
						  q->qidx);
				q->mismatch_told = true;
				conn_drop(q, now);
				break;
			}
			q->mismatch_told = false;
			q->conn_err[0] = '\0';
			/*
			 * Without TLS and with simple replies, the queue
			 * speaks on the socket itself (nbd-wire.c).
			 */
			q->wire = q->w && nbd_get_tls_negotiated(q->h) == 0 &&
				  nbd_get_structured_replies_negotiated(q->h) == 0;
			if (q->wire)
				vdk__nbd_wire_reset(q->w);
			q->state = CONN_UP;
			q->up_since = now;
			if (q->gen) {
				vdk__blog(&q->b->log, VDK_LOG_NOTICE,
					  "queue %u: connected to the server again",
					  q->qidx);
				vdk__bevent(&q->b->events,
					    VDK_BACKEND_EV_RESTORED, q->qidx);
			}
			vdk__eng_answered(&q->e);
			q->gen++;
			while (q->state == CONN_UP &&
			       (s = vdk__slist_pop(&q->wait)))
				vdk__nbd_slot_issue(q, slot_of(s));
		} else if (nbd_aio_is_dead(q->h) || nbd_aio_is_closed(q->h) ||
			   nbd_aio_is_negotiating(q->h) ||
			   now >= q->connect_by) {
			conn_failed(q, now >= q->connect_by ?
					       "no answer" : vdk__nbd_msg());
			conn_drop(q, now);
		} else {
			sync_fd(q);
		}
		break;
	case CONN_UP:
		if (q->wire && vdk__nbd_wire_broken(q->w))
			vdk__nbd_conn_lost(q, now, vdk__nbd_wire_broken(q->w));
		else if (nbd_aio_is_dead(q->h) || nbd_aio_is_closed(q->h))
			vdk__nbd_conn_lost(q, now,
					   "the connection to the server died");
		break;
	}
}

short vdk__nbd_conn_events(struct vdk_bq *q)
{
	unsigned int dir;
	short ev = 0;

	if (!q->h || q->sock_ino == 0 || nbd_aio_is_dead(q->h) ||
	    nbd_aio_is_closed(q->h))
		return 0;
	if (q->wire) {
		if (vdk__nbd_wire_broken(q->w))
			return 0; /* reap() drops it */
		return POLLIN | (vdk__nbd_wire_sending(q->w) ? POLLOUT : 0);
	}
	dir = nbd_aio_get_direction(q->h);
	if (dir & LIBNBD_AIO_DIRECTION_READ)
		ev |= POLLIN;
	if (dir & LIBNBD_AIO_DIRECTION_WRITE)
		ev |= POLLOUT;
	return ev;
}

void vdk__nbd_conn_pump(struct vdk_bq *q, short revents)
{
	unsigned int dir;

	if (!q->h || !revents)
		return;
	if (q->wire) {
		if (revents & (POLLIN | POLLHUP | POLLERR))
			vdk__nbd_wire_recv(q);
		/* Completions may have let waiting bios send. */
		vdk__nbd_wire_send(q);
		return;
	}
	dir = nbd_aio_get_direction(q->h);
	if ((dir & LIBNBD_AIO_DIRECTION_READ) &&
	    (revents & (POLLIN | POLLHUP | POLLERR)))
		nbd_aio_notify_read(q->h);
	if (nbd_aio_is_dead(q->h) || nbd_aio_is_closed(q->h))
		return;
	/* Reading may have left something to send: ask again. */
	dir = nbd_aio_get_direction(q->h);
	if ((dir & LIBNBD_AIO_DIRECTION_WRITE) &&
	    (revents & (POLLOUT | POLLHUP | POLLERR)))
		nbd_aio_notify_write(q->h);
}

uint64_t vdk__nbd_conn_wake_at(const struct vdk_bq *q)
{
	if (q->state == CONN_DOWN)
		return q->retry_at;
	if (q->state == CONN_CONNECTING)
		return q->connect_by;
	return UINT64_MAX;
}
