/* SPDX-License-Identifier: MIT */
/*
 * Backend "nbd": an export of a Network Block Device server, through
 * libnbd's asynchronous API.
 *
 * open() connects once, synchronously and bounded by timeout=, to check
 * the URI, the server and the export and to learn the export's size, block
 * sizes and abilities; then it closes that connection: it was made before
 * the daemon forks, and each queue makes its own.
 *
 * Each queue owns one libnbd handle (one NBD connection), used only from
 * the queue's thread, so no handle is ever shared between threads.  With
 * several queues that needs a server that allows multi-conn: without it,
 * or beyond connections=, queue_open() refuses queues after the first and
 * info() says multi_queue = false.
 *
 * The connection of each queue, lost and made again, is nbd-conn.c's;
 * slots, deadlines and bounce buffers are the engine's (engine.h).  Once
 * a connection is up without TLS, the queue sends its commands and reads
 * the replies on the socket itself (nbd-wire.c: a round's commands in one
 * sendmsg() at commit(), many replies per recv()); libnbd keeps the
 * handshake and the TLS connections.
 *
 * The queue's loop drives the connection: queue_events() asks poll() for
 * what libnbd waits for, queue_ready() lets libnbd read and write, and
 * reap() also does so itself without blocking (the device may call only
 * reap() while it is busy).  libnbd runs our completion callbacks while it
 * holds the handle's lock, so they only count and record; bios complete in
 * reap(), never inside libnbd.
 *
 * The queue's fd stays the same for the queue's life although connections
 * come and go: the socket of the current connection is dup'ed onto it, and
 * an eventfd that never fires stands in while there is none.
 *
 * When the connection dies (or a command is refused because the server is
 * shutting down), the bios whose commands were lost wait, and so do new
 * ones; the queue reconnects with a bounded exponential back-off (100 ms
 * doubling to 5 s) and sends them again in full: NBD reads, writes, trims
 * and zeroes can be repeated.  A bio that completed is never sent again.
 * Every bio fails with -EIO once it is older than timeout= seconds: while
 * disconnected, and also on a live connection that does not answer in
 * time, which is then dropped and made anew (libnbd cannot cancel a
 * command; closing the handle is what guarantees that no late reply
 * writes into a buffer given back).  The log (set_log) hears of a lost
 * connection, of the first one made again, of the bios failed by the
 * timeout (a few seconds' worth to a line) and of the server's return.
 *
 * Reads and writes go straight from and to the caller's buffers when they
 * are contiguous in memory; otherwise through a bounce buffer of the slot.
 * Requests larger than the server's maximum block size (32 MiB when it
 * says none) are split into several commands, and complete when all have.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "nbd-int.h"

/* Largest read or write per command when the server says nothing. */
#define DEFAULT_MAX_RW (32u << 20)
/* Largest trim or zero per command: well inside NBD's 32-bit length. */
#define MAX_RANGE (1u << 30)

/* ---- parameters and the URI ---- */

static bool uri_unreserved(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
	       c == '~';
}

/*
 * @uri with its path (the export name) replaced by @export, percent-
 * encoded: scheme://authority/EXPORT?query#fragment.  NULL on ENOMEM or
 * when @uri has no "://" (libnbd then names the problem).
 */
static char *uri_with_export(const char *uri, const char *export)
{
	const char *auth, *path, *rest;
	size_t n = strlen(export), len;
	char *out, *p;

	auth = strstr(uri, "://");
	if (!auth)
		return NULL;
	auth += 3;
	path = auth + strcspn(auth, "/?#");
	rest = path + strcspn(path, "?#");
	len = (path - uri) + 1 + 3 * n + strlen(rest) + 1;
	out = malloc(len);
	if (!out)
		return NULL;
	p = out;
	memcpy(p, uri, path - uri);
	p += path - uri;
	*p++ = '/';
	for (size_t i = 0; i < n; i++) {
		unsigned char c = export[i];

		if (uri_unreserved(c))
			*p++ = c;
		else
			p += sprintf(p, "%%%02X", c);
	}
	strcpy(p, rest);
	return out;
}

static int parse_params(struct vdk_bdev *b, struct vdk_params *ps,
			char *err, size_t errlen)
{
	const char *uri, *export, *tls;
	uint64_t v;
	bool verify;
	int ret;

	uri = vdk_params_get(ps, "uri");
	if (!uri || !*uri) {
		vdk__errf(err, errlen,
			  "missing parameter uri= (e.g. nbd://host/export or nbd+unix:///?socket=/run/nbd.sock)");
		return -EINVAL;
	}
	export = vdk_params_get(ps, "export");
	if (export) {
		b->uri = uri_with_export(uri, export);
		if (!b->uri && !strstr(uri, "://")) {
			vdk__errf(err, errlen,
				  "bad uri '%.128s': expected scheme://...",
				  uri);
			return -EINVAL;
		}
	} else {
		b->uri = strdup(uri);
	}
	if (!b->uri) {
		vdk__errf(err, errlen, "out of memory");
		return -ENOMEM;
	}

	ret = vdk__get_timeout(ps, &b->timeout_s, err, errlen);
	if (ret)
		return ret;

	ret = vdk_params_get_uint(ps, "connections", 1, NBD_MAX_CONNECTIONS, &v,
				  err, errlen);
	if (ret == -ENOENT)
		v = 0; /* decided once the server said whether it may */
	else if (ret)
		return ret;
	b->connections = v;

	b->tls = -1;
	tls = vdk_params_get(ps, "tls");
	if (tls) {
		if (!strcmp(tls, "off")) {
			b->tls = LIBNBD_TLS_DISABLE;
		} else if (!strcmp(tls, "allow")) {
			b->tls = LIBNBD_TLS_ALLOW;
		} else if (!strcmp(tls, "on") || !strcmp(tls, "require")) {
			b->tls = LIBNBD_TLS_REQUIRE;
		} else {
			vdk__errf(err, errlen,
				  "bad value '%.64s' for tls: expected off, allow or require",
				  tls);
			return -EINVAL;
		}
		/* nbds:// always requires TLS: do not pretend otherwise. */
		if (b->tls != LIBNBD_TLS_REQUIRE && !strncmp(uri, "nbds", 4)) {
			vdk__errf(err, errlen,
				  "tls=%s contradicts the URI's scheme, which requires TLS",
				  tls);
			return -EINVAL;
		}
	}
	b->tls_verify = -1;
	ret = vdk_params_get_bool(ps, "tls-verify", &verify, err, errlen);
	if (!ret)
		b->tls_verify = verify;
	else if (ret != -ENOENT)
		return ret;
	ret = vdk_params_dup(ps, "tls-certificates", &b->tls_certificates,
			     err, errlen);
	if (!ret)
		ret = vdk_params_dup(ps, "tls-username", &b->tls_username,
				     err, errlen);
	if (!ret)
		ret = vdk_params_dup(ps, "tls-psk-file", &b->tls_psk_file,
				     err, errlen);
	return ret;
}


/* ---- open, close, info ---- */

static void nb_close(struct vdk_bdev *b)
{
	if (!b)
		return;
	free(b->uri);
	free(b->tls_certificates);
	free(b->tls_username);
	free(b->tls_psk_file);
	free(b);
}

/* Connect synchronously, giving up after timeout=.  0 or -errno. */
static int probe_connect(struct vdk_bdev *b, struct nbd_handle *h,
			 char *err, size_t errlen)
{
	uint64_t deadline = vdk__now_ns() + b->timeout_s * VDK_NS_PER_S, now;
	int ret;

	if (nbd_aio_connect_uri(h, b->uri) == -1) {
		ret = vdk__nbd_err();
		vdk__errf(err, errlen, "cannot connect to '%.160s': %s",
			  b->uri, vdk__nbd_msg());
		return ret;
	}
	while (!nbd_aio_is_ready(h)) {
		now = vdk__now_ns();
		if (now >= deadline) {
			vdk__errf(err, errlen,
				  "cannot connect to '%.160s': no answer within %u s (timeout=)",
				  b->uri, b->timeout_s);
			return -ETIMEDOUT;
		}
		if (nbd_aio_is_dead(h) || nbd_aio_is_closed(h) ||
		    nbd_poll(h, (deadline - now) / VDK_NS_PER_MS + 1) == -1) {
			ret = vdk__nbd_err();
			vdk__errf(err, errlen, "cannot connect to '%.160s': %s",
				  b->uri, vdk__nbd_msg());
			return ret;
		}
	}
	return 0;
}

/* Read what the export offers.  0 or -errno with a message. */
static int probe_export(struct vdk_bdev *b, struct nbd_handle *h,
			char *err, size_t errlen)
{
	int64_t size, min, pref, max;
	int fl, fua, tr, ze, mc, ro;

	size = nbd_get_size(h);
	min = nbd_get_block_size(h, LIBNBD_SIZE_MINIMUM);
	pref = nbd_get_block_size(h, LIBNBD_SIZE_PREFERRED);
	max = nbd_get_block_size(h, LIBNBD_SIZE_MAXIMUM);
	fl = nbd_can_flush(h);
	fua = nbd_can_fua(h);
	tr = nbd_can_trim(h);
	ze = nbd_can_zero(h);
	mc = nbd_can_multi_conn(h);
	ro = nbd_is_read_only(h);
	if (size < 0 || min < 0 || pref < 0 || max < 0 || fl < 0 || fua < 0 ||
	    tr < 0 || ze < 0 || mc < 0 || ro < 0) {
		vdk__errf(err, errlen, "'%.160s': %s", b->uri, vdk__nbd_msg());
		return vdk__nbd_err();
	}
	if (min > 4096) {
		vdk__errf(err, errlen,
			  "'%.160s': the server's minimum block size %lld is larger than 4096",
			  b->uri, (long long)min);
		return -EINVAL;
	}
	b->block_size = min > 512 ? 4096 : 512;
	b->export_size = size;
	b->size = size - size % b->block_size;
	if (!b->size) {
		vdk__errf(err, errlen,
			  "'%.160s': the export is smaller than a block (%lld bytes)",
			  b->uri, (long long)size);
		return -EINVAL;
	}
	b->pref_block = pref >= b->block_size && pref <= (1 << 24) &&
			!(pref & (pref - 1)) ? pref : 0;
	b->max_rw = DEFAULT_MAX_RW;
	if (max > 0 && (uint64_t)max < b->max_rw)
		b->max_rw = max;
	b->max_rw -= b->max_rw % b->block_size;
	if (!b->max_rw) {
		vdk__errf(err, errlen,
			  "'%.160s': the server's maximum block size %lld is smaller than a block",
			  b->uri, (long long)max);
		return -EINVAL;
	}
	b->can_flush = fl;
	b->can_fua = fua;
	b->can_trim = tr;
	b->can_zero = ze;
	b->can_multi_conn = mc;
	b->read_only = ro;
	return 0;
}

static int nb_open(struct vdk_params *ps, struct vdk_bdev **out,
			 char *err, size_t errlen)
{
	struct nbd_handle *h = NULL;
	struct vdk_bdev *b;
	int ret;

	b = calloc(1, sizeof(*b));
	if (!b) {
		vdk__errf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	ret = parse_params(b, ps, err, errlen);
	if (ret)
		goto err;
	h = vdk__nbd_handle_new(b);
	if (!h) {
		ret = vdk__nbd_err();
		vdk__errf(err, errlen, "libnbd: %s", vdk__nbd_msg());
		goto err;
	}
	ret = probe_connect(b, h, err, errlen);
	if (ret)
		goto err;
	ret = probe_export(b, h, err, errlen);
	if (ret)
		goto err;
	if (!b->connections) {
		b->connections = b->can_multi_conn ? NBD_MAX_CONNECTIONS : 1;
	} else if (b->connections > 1 && !b->can_multi_conn) {
		vdk__errf(err, errlen,
			  "connections=%u: the server does not allow multi-conn (one connection, one queue)",
			  b->connections);
		ret = -EINVAL;
		goto err;
	}
	/* Made before the fork: the queues connect anew after it. */
	vdk__nbd_handle_close(h, true);
	*out = b;
	return 0;

err:
	if (h)
		nbd_close(h);
	nb_close(b);
	return ret;
}

static void nb_set_log(struct vdk_bdev *b, const struct vdk_backend_log *log)
{
	b->log = *log;
}

static void nb_set_events(struct vdk_bdev *b,
			  const struct vdk_backend_events *ev)
{
	b->events = *ev;
}

static int nb_info(struct vdk_bdev *b, struct vdk_backend_info *info)
{
	bool rw = !b->read_only;

	*info = (struct vdk_backend_info){
		.size = b->size,
		.block_size = b->block_size,
		.opt_io_size = b->pref_block,
		.read_only = b->read_only,
		.can_flush = b->can_flush,
		/* Native, a flush after the write, or a write-through server. */
		.can_fua = rw,
		.can_discard = rw && b->can_trim,
		.can_zero = rw && b->can_zero,
		/* Zeroing without NO_HOLE lets a server that trims punch. */
		.can_zero_unmap = rw && b->can_zero && b->can_trim,
		.multi_queue = b->connections > 1,
	};
	return 0;
}

/* ---- slots ---- */

static struct slot *slot_get(struct vdk_bq *q, struct vdk_bio *bio)
{
	struct vdk__slot *vs = vdk__eng_get(&q->e, bio);
	struct slot *s;

	if (!vs)
		return NULL;
	s = slot_of(vs);
	s->inflight = 0;
	s->err = 0;
	s->lost = false;
	s->fua_flush = false;
	s->phase = PHASE_DATA;
	s->buf = NULL;
	return s;
}

/* The slot is free first: done() may submit the next bio at once. */
static void finish(struct slot *s, int result)
{
	s->state = SLOT_FREE;
	vdk__eng_finish(&s->s, result);
}

static void wait_push(struct vdk_bq *q, struct slot *s)
{
	s->state = SLOT_WAIT;
	vdk__slist_push(&q->wait, &s->s);
}

void vdk__nbd_done_push(struct vdk_bq *q, struct slot *s)
{
	s->state = SLOT_DONE;
	vdk__slist_push(&q->done, &s->s);
}

static void slot_unref(struct vdk_bq *q, struct slot *s)
{
	if (--s->inflight == 0)
		vdk__nbd_done_push(q, s);
}

void vdk__nbd_cmd_done(struct vdk_bq *q, struct slot *s, int err)
{
	/*
	 * ENOTCONN is libnbd failing the commands of a dead connection;
	 * ESHUTDOWN a server going down: both are worth sending again on
	 * a new connection.
	 */
	if (err == ENOTCONN || err == ESHUTDOWN)
		s->lost = true;
	else if (err && !s->err)
		s->err = -err;
	slot_unref(q, s);
}

/*
 * libnbd calls this once per command, holding the handle's lock: record,
 * do nothing else.
 *
 * Lost commands are not retired here: a connection can die inside the
 * very nbd_aio_*() call that issues the command, and libnbd 1.14 reads the
 * command after that call's abort retired (freed) it.  They stay in the
 * handle until it is closed, which always follows a lost command.
 */
static int cmd_done(void *opaque, int *error)
{
	struct slot *s = opaque;
	bool lost = *error == ENOTCONN || *error == ESHUTDOWN;

	vdk__nbd_cmd_done(queue_of(s), s, *error);
	return lost ? 0 : 1; /* 1: retire the command */
}

/*
 * The data of a read or write, contiguous: the iovecs or the bounce.  On
 * the wire, scattered iovecs need none: s->buf stays NULL and the
 * commands take the vectors.
 */
static int slot_buffer(struct vdk_bq *q, struct slot *s)
{
	struct vdk_bio *bio = s->s.bio;

	if (s->buf)
		return 0;
	s->buf = vdk__iov_contiguous(bio->iov, bio->iovcnt);
	if (s->buf || q->wire)
		return 0;
	if (bio->len > SIZE_MAX)
		return -ENOMEM;
	if (vdk__eng_bounce(&s->s, bio->len))
		return -ENOMEM;
	s->buf = s->s.bounce.p;
	q->bounced++;
	if (bio->op == VDK_BIO_WRITE)
		vdk__iov_to_buf(bio->iov, bio->iovcnt, 0, s->buf, bio->len);
	return 0;
}

/* The command of a slot could not be issued: why, and what now. */
static void issue_failed(struct vdk_bq *q, struct slot *s)
{
	int e = nbd_get_errno();

	if (nbd_aio_is_dead(q->h) || nbd_aio_is_closed(q->h) ||
	    e == ENOTCONN || e == ESHUTDOWN)
		s->lost = true;
	else if (!s->err)
		s->err = e > 0 ? -e : -EIO;
}

/* One command through libnbd.  0, or -1 when it was not issued. */
static int issue_libnbd(struct vdk_bq *q, struct slot *s, uint16_t type,
			uint32_t flags, uint64_t offset, uint64_t len,
			uint8_t *data)
{
	nbd_completion_callback cb = { .callback = cmd_done, .user_data = s };
	int64_t cookie;

	s->inflight++;
	switch (type) {
	case NBD_CMD_READ:
		cookie = nbd_aio_pread(q->h, data, len, offset, cb, 0);
		break;
	case NBD_CMD_WRITE:
		cookie = nbd_aio_pwrite(q->h, data, len, offset, cb, flags);
		break;
	case NBD_CMD_FLUSH:
		cookie = nbd_aio_flush(q->h, cb, 0);
		break;
	case NBD_CMD_TRIM:
		cookie = nbd_aio_trim(q->h, len, offset, cb, 0);
		break;
	default:
		cookie = nbd_aio_zero(q->h, len, offset, cb, flags);
		break;
	}
	if (cookie == -1) {
		s->inflight--;
		issue_failed(q, s);
		return -1;
	}
	return 0;
}

/*
 * Issue the commands of the slot's phase from s->next_off on.  The slot
 * holds one more reference while issuing, so that it reaches the done
 * list only once, after the last command, whatever happens inside these
 * calls (a connection dying while libnbd sends fails every command).  On
 * the wire, a slot short of free commands keeps that reference and waits
 * for them (vdk__nbd_wire_wait()).
 */
static void issue_cmds(struct vdk_bq *q, struct slot *s)
{
	struct vdk_bdev *b = q->b;
	struct vdk_bio *bio = s->s.bio;
	uint64_t off, n, at, len = bio->len, chunk = b->max_rw;
	uint32_t flags = 0;
	uint8_t *data = NULL;
	uint16_t type;
	int ret;

	if (s->phase == PHASE_FLUSH || bio->op == VDK_BIO_FLUSH) {
		type = NBD_CMD_FLUSH;
		len = 0;
	} else if (bio->op == VDK_BIO_READ || bio->op == VDK_BIO_WRITE) {
		type = bio->op == VDK_BIO_READ ? NBD_CMD_READ : NBD_CMD_WRITE;
		data = s->buf;
		if (bio->op == VDK_BIO_WRITE && (bio->flags & VDK_BIO_F_FUA) &&
		    b->can_fua)
			flags = LIBNBD_CMD_FLAG_FUA;
	} else if (bio->op == VDK_BIO_DISCARD || bio->op == VDK_BIO_ZERO) {
		type = bio->op == VDK_BIO_DISCARD ? NBD_CMD_TRIM :
						    NBD_CMD_WRITE_ZEROES;
		/* Without UNMAP the range must stay allocated. */
		if (bio->op == VDK_BIO_ZERO && !(bio->flags & VDK_BIO_F_UNMAP))
			flags = LIBNBD_CMD_FLAG_NO_HOLE;
		chunk = MAX_RANGE;
	} else {
		s->err = -EOPNOTSUPP;
		slot_unref(q, s);
		return;
	}
	/* A flush is one command of no length. */
	for (off = s->next_off; off < len || (!len && off == 0); off += n) {
		n = len - off < chunk ? len - off : chunk;
		/* A flush has no offset either. */
		at = len ? bio->offset + off : 0;

		if (!q->wire) {
			if (issue_libnbd(q, s, type, flags, at, n,
					 data ? data + off : NULL))
				break;
		} else {
			ret = vdk__nbd_wire_cmd(q, s, type, (uint16_t)flags, at,
						(uint32_t)n,
						data ? data + off : NULL, off);
			if (ret == -EAGAIN) {
				s->next_off = off;
				vdk__nbd_wire_wait(q, s);
				return;
			}
		}
		if (!len)
			break;
	}
	s->next_off = len;
	slot_unref(q, s);
}

void vdk__nbd_slot_issue(struct vdk_bq *q, struct slot *s)
{
	struct vdk_bio *bio = s->s.bio;
	int ret;

	s->state = SLOT_SENT;
	s->gen = q->gen;
	s->lost = false;
	s->inflight = 1;
	s->next_off = 0;
	if (s->phase == PHASE_DATA &&
	    (bio->op == VDK_BIO_READ || bio->op == VDK_BIO_WRITE)) {
		ret = slot_buffer(q, s);
		if (ret) {
			s->err = ret;
			slot_unref(q, s);
			return;
		}
		/* FUA without server support: a flush after the write. */
		if (bio->op == VDK_BIO_WRITE && (bio->flags & VDK_BIO_F_FUA) &&
		    !q->b->can_fua)
			s->fua_flush = q->b->can_flush;
	}
	issue_cmds(q, s);
}

void vdk__nbd_slot_resume(struct vdk_bq *q, struct slot *s)
{
	issue_cmds(q, s);
}

uint64_t vdk__nbd_bounced(const struct vdk_bq *q)
{
	return q->bounced;
}

bool vdk__nbd_on_wire(const struct vdk_bq *q)
{
	return q->wire;
}

/* Send now if connected, else wait for the connection. */
static void slot_start(struct vdk_bq *q, struct slot *s)
{
	if (q->state == CONN_UP)
		vdk__nbd_slot_issue(q, s);
	else
		wait_push(q, s);
}

/* ---- deadlines ---- */

/*
 * Fail the bios older than timeout=.  Waiting ones fail at once; one sent
 * on a connection that did not answer in time means the connection is
 * stuck: it is dropped, and the bios it held go through the done list.
 */
static int check_deadlines(struct vdk_bq *q, uint64_t now)
{
	struct vdk__slist keep = { 0 }, expired = { 0 };
	struct vdk__slot *vs;
	bool stuck = false;
	int n = 0;

	while ((vs = vdk__slist_pop(&q->wait)))
		vdk__slist_push(vs->deadline <= now ? &expired : &keep, vs);
	q->wait = keep;
	vdk__eng_for_each(&q->e, vs) {
		if (slot_of(vs)->state == SLOT_SENT && vs->deadline <= now)
			stuck = true;
	}
	if (stuck)
		vdk__nbd_conn_lost(q, now,
				   "the server did not answer within timeout=");
	vdk__eng_rearm(&q->e, now);
	while ((vs = vdk__slist_pop(&expired))) {
		finish(slot_of(vs), -EIO);
		n++;
	}
	vdk__eng_stall_failed(&q->e, (unsigned int)n, now);
	return n;
}

/* ---- queues ---- */

static void nb_queue_close(struct vdk_bq *q)
{
	struct vdk__slot *vs;

	if (!q)
		return;
	/*
	 * The device waits for every bio before closing, but only so long:
	 * close the connection first (no more callbacks), then fail what
	 * is left so that each bio still completes once.
	 */
	if (q->h) {
		if (q->wire)
			vdk__nbd_wire_disc(q);
		vdk__nbd_handle_close(q->h, !q->wire);
		q->h = NULL;
	}
	vdk__eng_for_each(&q->e, vs)
		slot_of(vs)->state = SLOT_FREE;
	vdk__eng_fail_all(&q->e, -EIO);
	vdk__eng_fini(&q->e);
	vdk__nbd_wire_free(q->w);
	vdk__close_fd(&q->fd);
	vdk__close_fd(&q->idle_fd);
	free(q);
}

static int nb_queue_open(struct vdk_bdev *b, unsigned int qidx,
			  unsigned int depth, struct vdk_bq **out)
{
	struct vdk__eng_cfg ec = {
		.qidx = qidx,
		.depth = depth,
		.slot_size = sizeof(struct slot),
		.timeout_s = b->timeout_s,
		.log = &b->log,
		.who = "the server",
	};
	struct vdk_bq *q;
	int ret;

	if (!depth || depth > VDK_ENG_DEPTH_MAX)
		return -EINVAL;
	/* One connection per queue, and no more connections than allowed. */
	if (qidx >= b->connections)
		return -EOPNOTSUPP;
	q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->b = b;
	q->fd = -1;
	q->idle_fd = -1;
	q->qidx = qidx;
	ret = vdk__eng_init(&q->e, &ec);
	if (ret)
		goto err;
	ret = vdk__nbd_wire_new(depth, &q->w);
	if (ret)
		goto err;
	q->idle_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (q->idle_fd < 0) {
		ret = -errno;
		goto err;
	}
	q->fd = fcntl(q->idle_fd, F_DUPFD_CLOEXEC, 0);
	if (q->fd < 0) {
		ret = -errno;
		goto err;
	}
	/* Not waiting for the handshake: bios wait for it if they come. */
	q->state = CONN_DOWN;
	vdk__nbd_conn_start(q, vdk__now_ns());
	*out = q;
	return 0;

err:
	nb_queue_close(q);
	return ret;
}

static int nb_queue_fd(struct vdk_bq *q)
{
	return q->fd;
}

static short nb_queue_events(struct vdk_bq *q)
{
	return vdk__nbd_conn_events(q);
}

static int nb_queue_ready(struct vdk_bq *q, short revents)
{
	vdk__nbd_conn_pump(q, revents);
	q->pumped = true;
	return 0;
}

static int nb_queue_timeout(struct vdk_bq *q)
{
	return vdk__eng_timeout_ms(&q->e, vdk__nbd_conn_wake_at(q));
}

/* Finish, send again or fail what the callbacks recorded. */
static int run_done(struct vdk_bq *q, uint64_t now)
{
	struct vdk__slot *vs;
	unsigned int expired = 0;
	int n = 0;

	while ((vs = vdk__slist_pop(&q->done))) {
		struct slot *s = slot_of(vs);
		struct vdk_bio *bio = vs->bio;

		if (s->err) {
			finish(s, s->err);
			n++;
		} else if (s->lost) {
			/* One lost command condemns its connection. */
			if (q->state == CONN_UP && s->gen == q->gen)
				vdk__nbd_conn_lost(q, now,
						   "the connection to the server was lost");
			if (now >= vs->deadline) {
				finish(s, -EIO);
				expired++;
				n++;
			} else {
				s->phase = PHASE_DATA;
				wait_push(q, s);
			}
		} else if (s->phase == PHASE_DATA && s->fua_flush) {
			/*
			 * The flush must follow the write on its connection:
			 * without one, the write is sent again first.
			 */
			if (q->state == CONN_UP && s->gen == q->gen) {
				s->phase = PHASE_FLUSH;
				vdk__nbd_slot_issue(q, s);
			} else {
				wait_push(q, s);
			}
		} else {
			if (bio->op == VDK_BIO_READ && s->buf &&
			    s->buf == vs->bounce.p)
				vdk__iov_from_buf(bio->iov, bio->iovcnt, 0,
						  s->buf, bio->len);
			finish(s, 0);
			n++;
		}
	}
	vdk__eng_stall_failed(&q->e, expired, now);
	return n;
}

static int nb_reap(struct vdk_bq *q)
{
	uint64_t now;
	int n = 0;

	/*
	 * Called alone (the device is busy polling): do the I/O here, if
	 * anything is in flight; an idle connection waits for the poll()
	 * of the queue's sleep, which sees a server hanging up as well.
	 */
	if (!q->pumped && q->e.busy) {
		struct pollfd p = { .fd = q->fd,
				    .events = vdk__nbd_conn_events(q) };

		if (p.events && poll(&p, 1, 0) > 0)
			vdk__nbd_conn_pump(q, p.revents);
	}
	q->pumped = false;
	now = vdk__now_ns();
	vdk__nbd_conn_step(q, now);
	if (vdk__eng_due(&q->e, now))
		n += check_deadlines(q, now);
	n += run_done(q, now);
	/* Lost bios dropped the connection: start over if it is time. */
	if (q->state == CONN_DOWN && q->wait.head)
		vdk__nbd_conn_step(q, now);
	/* What was issued here (or without commit()) leaves now. */
	if (q->wire && q->state == CONN_UP)
		vdk__nbd_wire_send(q);
	return n;
}

/* The round's commands leave together, in one sendmsg() when they fit. */
static int nb_commit(struct vdk_bq *q)
{
	if (q->wire && q->state == CONN_UP)
		vdk__nbd_wire_send(q);
	return 0;
}

static int submit(struct vdk_bq *q, struct vdk_bio *bio)
{
	struct slot *s = slot_get(q, bio);

	if (!s)
		return -EBUSY;
	slot_start(q, s);
	return 0;
}

static int nb_read(struct vdk_bq *q, struct vdk_bio *bio)
{
	if (vdk__bio_check_rw(bio, q->b->size))
		return -EINVAL;
	if (!bio->len) {
		bio->done(bio, 0);
		return 0;
	}
	return submit(q, bio);
}

static int nb_write(struct vdk_bq *q, struct vdk_bio *bio)
{
	if (q->b->read_only)
		return -EROFS;
	return nb_read(q, bio);
}

static int nb_flush(struct vdk_bq *q, struct vdk_bio *bio)
{
	/* A server without flush has no cache to flush. */
	if (!q->b->can_flush) {
		bio->done(bio, 0);
		return 0;
	}
	return submit(q, bio);
}

static int nb_discard(struct vdk_bq *q, struct vdk_bio *bio)
{
	struct vdk_bdev *b = q->b;

	if (b->read_only)
		return -EROFS;
	if (vdk__bio_check_range(bio, b->size))
		return -EINVAL;
	/* Discard is a hint: without trim, doing nothing is right. */
	if (!bio->len || !b->can_trim) {
		bio->done(bio, 0);
		return 0;
	}
	return submit(q, bio);
}

static int nb_zero(struct vdk_bq *q, struct vdk_bio *bio)
{
	struct vdk_bdev *b = q->b;

	if (b->read_only)
		return -EROFS;
	if (!b->can_zero)
		return -EOPNOTSUPP;
	if (vdk__bio_check_range(bio, b->size))
		return -EINVAL;
	if (!bio->len) {
		bio->done(bio, 0);
		return 0;
	}
	return submit(q, bio);
}

/*
 * Confined: reconnecting means sockets, name resolution (its files and
 * glibc's NSS modules) and, with TLS, GnuTLS reading its certificates.
 */
static const char *const nbd_syscalls[] = {
	"socket", "connect", "bind", "getsockopt", "setsockopt",
	"getsockname", "getpeername", "recvfrom", "recvmsg", "sendmsg",
	"sendto", "sendmmsg", "shutdown", "pipe2", "epoll_create1",
	"epoll_ctl", "epoll_wait", "epoll_pwait", "fstatfs", "getdents64",
	"readlink", "readlinkat", "access", "faccessat", "faccessat2",
	"sysinfo", "getcwd", "umask", NULL,
};

static const char *const nbd_ro_paths[] = {
	"/etc/hosts", "/etc/resolv.conf", "/etc/nsswitch.conf",
	"/etc/gai.conf", "/etc/host.conf", "/etc/services",
	"/usr/lib", "/lib", "/etc/ssl", "/usr/share/ca-certificates",
	"/etc/gnutls", NULL,
};

static unsigned int nbd_confine_paths(struct vdk_bdev *b, const char **paths,
				      unsigned int max)
{
	unsigned int n = 0;

	if (b->tls_certificates && n < max)
		paths[n++] = b->tls_certificates;
	if (b->tls_psk_file && n < max)
		paths[n++] = b->tls_psk_file;
	return n;
}

const struct vdk_backend_ops vdk_backend_nbd = {
	.name = "nbd",
	.summary = "an export of an NBD server, through libnbd",
	.params_help =
		"uri=URI            the server and export, required: nbd://HOST[:PORT]/EXPORT, nbd+unix:///EXPORT?socket=PATH, nbds://... with TLS\n"
		"export=NAME        the export name, instead of the URI's\n"
		"timeout=SECONDS    how long a request may wait for the server, reconnections included, before it fails (default 30)\n"
		"connections=N      at most N connections, one per queue (default: one per queue if the server allows multi-conn, else 1)\n"
		"tls=MODE           off, allow or require: TLS for nbd:// URIs (nbds:// requires it)\n"
		"tls-certificates=DIR  directory of X.509 certificates\n"
		"tls-verify=on|off  verify the server's certificate (default on)\n"
		"tls-username=NAME  TLS user name\n"
		"tls-psk-file=PATH  TLS pre-shared keys file\n",
	.open = nb_open,
	.set_log = nb_set_log,
	.close = nb_close,
	.info = nb_info,
	.queue_open = nb_queue_open,
	.queue_close = nb_queue_close,
	.queue_fd = nb_queue_fd,
	.poll_lone = true,
	.read = nb_read,
	.write = nb_write,
	.flush = nb_flush,
	.discard = nb_discard,
	.zero = nb_zero,
	.commit = nb_commit,
	.reap = nb_reap,
	.queue_events = nb_queue_events,
	.queue_ready = nb_queue_ready,
	.queue_timeout = nb_queue_timeout,
	.syscalls = nbd_syscalls,
	.ro_paths = nbd_ro_paths,
	.confine_paths = nbd_confine_paths,
	.set_events = nb_set_events,
};
