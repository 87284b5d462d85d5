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
#include <libnbd.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backend.h"
#include "internal.h"

#define NS_PER_MS 1000000ull
#define NS_PER_S 1000000000ull

#define DEFAULT_TIMEOUT_S 30
#define MAX_TIMEOUT_S 86400
#define MAX_CONNECTIONS 64
/* Largest read or write per command when the server says nothing. */
#define DEFAULT_MAX_RW (32u << 20)
/* Largest trim or zero per command: well inside NBD's 32-bit length. */
#define MAX_RANGE (1u << 30)
/* Reconnect back-off, and how long one attempt may take. */
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define CONNECT_TIMEOUT_MS 10000
/* A connection that lived this long starts the back-off afresh. */
#define STABLE_MS 1000

struct vdk_bdev {
	char *uri;               /* with export= applied */
	int tls;                 /* LIBNBD_TLS_*, or -1: as the URI says */
	int tls_verify;          /* 0/1, or -1: libnbd's default */
	char *tls_certificates;
	char *tls_username;
	char *tls_psk_file;
	uint64_t timeout_ns;
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

/* One bio in the backend. */
struct slot {
	struct vdk_bio *bio;
	struct vdk_bq *q;
	struct slot *next;      /* free, wait or done list */
	uint64_t deadline;      /* ns: fail with -EIO after this */
	unsigned int inflight;  /* commands in libnbd (+1 while issuing) */
	int err;                /* the first error a command got, -errno */
	bool lost;              /* a command died with its connection */
	bool fua_flush;         /* send a flush after the data */
	unsigned int gen;       /* the connection it was last sent on */
	uint8_t state;          /* enum slot_state */
	uint8_t phase;          /* enum phase */
	uint8_t *buf;           /* the bio's data, contiguous */
	struct vdk__bounce bounce; /* the slot's bounce buffer */
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
	uint64_t next_check;    /* earliest deadline of a bio, or UINT64_MAX */
	bool pumped;            /* queue_ready() just did the socket's I/O */
	unsigned int depth;
	unsigned int busy;      /* slots not free */
	struct slot *slots;
	struct slot *free;
	struct slot *wait, *wait_tail;
	struct slot *done, *done_tail;
	unsigned int qidx;
	struct vdk__stall stall; /* requests failed by timeout= */
	bool mismatch_told;     /* the log heard of a mismatched server */
	size_t bounce_held;     /* bytes of the slots' bounce buffers */
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

/* libnbd's last error, without the "nbd_function: " it starts with. */
static const char *nbd_msg(void)
{
	const char *m = nbd_get_error(), *p;

	if (!m || !*m)
		return "unknown error";
	p = strstr(m, ": ");
	if (p && !strncmp(m, "nbd_", 4) && !memchr(m, ' ', p - m))
		return p + 2;
	return m;
}

static int nbd_err(void)
{
	int e = nbd_get_errno();

	return e > 0 ? -e : -EIO;
}

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

	ret = vdk_params_get_uint(ps, "timeout", 1, MAX_TIMEOUT_S, &v, err,
				  errlen);
	if (ret == -ENOENT)
		v = DEFAULT_TIMEOUT_S;
	else if (ret)
		return ret;
	b->timeout_ns = v * NS_PER_S;

	ret = vdk_params_get_uint(ps, "connections", 1, MAX_CONNECTIONS, &v,
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

/* A new handle, set up as the parameters say, not yet connecting. */
static struct nbd_handle *handle_new(const struct vdk_bdev *b)
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

/* Close a handle, saying goodbye to the server if it is listening. */
static void handle_close(struct nbd_handle *h)
{
	if (!h)
		return;
	if (nbd_aio_is_ready(h) || nbd_aio_is_processing(h))
		nbd_aio_disconnect(h, 0);
	nbd_close(h);
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
	uint64_t deadline = now_ns() + b->timeout_ns, now;
	int ret;

	if (nbd_aio_connect_uri(h, b->uri) == -1) {
		ret = nbd_err();
		vdk__errf(err, errlen, "cannot connect to '%.160s': %s",
			  b->uri, nbd_msg());
		return ret;
	}
	while (!nbd_aio_is_ready(h)) {
		now = now_ns();
		if (now >= deadline) {
			vdk__errf(err, errlen,
				  "cannot connect to '%.160s': no answer within %llu s (timeout=)",
				  b->uri,
				  (unsigned long long)(b->timeout_ns / NS_PER_S));
			return -ETIMEDOUT;
		}
		if (nbd_aio_is_dead(h) || nbd_aio_is_closed(h) ||
		    nbd_poll(h, (deadline - now) / NS_PER_MS + 1) == -1) {
			ret = nbd_err();
			vdk__errf(err, errlen, "cannot connect to '%.160s': %s",
				  b->uri, nbd_msg());
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
		vdk__errf(err, errlen, "'%.160s': %s", b->uri, nbd_msg());
		return nbd_err();
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
	h = handle_new(b);
	if (!h) {
		ret = nbd_err();
		vdk__errf(err, errlen, "libnbd: %s", nbd_msg());
		goto err;
	}
	ret = probe_connect(b, h, err, errlen);
	if (ret)
		goto err;
	ret = probe_export(b, h, err, errlen);
	if (ret)
		goto err;
	if (!b->connections) {
		b->connections = b->can_multi_conn ? MAX_CONNECTIONS : 1;
	} else if (b->connections > 1 && !b->can_multi_conn) {
		vdk__errf(err, errlen,
			  "connections=%u: the server does not allow multi-conn (one connection, one queue)",
			  b->connections);
		ret = -EINVAL;
		goto err;
	}
	/* Made before the fork: the queues connect anew after it. */
	handle_close(h);
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
	struct slot *s = q->free;

	if (!s)
		return NULL;
	q->free = s->next;
	s->next = NULL;
	s->bio = bio;
	s->deadline = now_ns() + q->b->timeout_ns;
	s->inflight = 0;
	s->err = 0;
	s->lost = false;
	s->fua_flush = false;
	s->phase = PHASE_DATA;
	s->buf = NULL;
	q->busy++;
	if (s->deadline < q->next_check)
		q->next_check = s->deadline;
	return s;
}

static void slot_put(struct vdk_bq *q, struct slot *s)
{
	vdk__bounce_put(&s->bounce, &q->bounce_held);
	s->bio = NULL;
	s->state = SLOT_FREE;
	s->next = q->free;
	q->free = s;
	q->busy--;
}

/* Free the slot first: done() may submit the next bio at once. */
static void finish(struct vdk_bq *q, struct slot *s, int result)
{
	struct vdk_bio *bio = s->bio;

	slot_put(q, s);
	bio->done(bio, result);
}

static void list_push(struct slot **head, struct slot **tail, struct slot *s)
{
	s->next = NULL;
	if (*tail)
		(*tail)->next = s;
	else
		*head = s;
	*tail = s;
}

static struct slot *list_pop(struct slot **head, struct slot **tail)
{
	struct slot *s = *head;

	if (s) {
		*head = s->next;
		if (!*head)
			*tail = NULL;
		s->next = NULL;
	}
	return s;
}

static void wait_push(struct vdk_bq *q, struct slot *s)
{
	s->state = SLOT_WAIT;
	list_push(&q->wait, &q->wait_tail, s);
}

static void done_push(struct vdk_bq *q, struct slot *s)
{
	s->state = SLOT_DONE;
	list_push(&q->done, &q->done_tail, s);
}

static void slot_unref(struct vdk_bq *q, struct slot *s)
{
	if (--s->inflight == 0)
		done_push(q, s);
}

/*
 * libnbd calls this once per command, holding the handle's lock: record,
 * do nothing else.  ENOTCONN is libnbd failing the commands of a dead
 * connection; ESHUTDOWN is a server going down: both are worth retrying
 * on a new connection.
 *
 * Those are not retired here: a connection can die inside the very
 * nbd_aio_*() call that issues the command, and libnbd 1.14 reads the
 * command after that call's abort retired (freed) it.  They stay in the
 * handle until it is closed, which always follows a lost command.
 */
static int cmd_done(void *opaque, int *error)
{
	struct slot *s = opaque;
	bool lost = *error == ENOTCONN || *error == ESHUTDOWN;

	if (lost)
		s->lost = true;
	else if (*error && !s->err)
		s->err = -*error;
	slot_unref(s->q, s);
	return lost ? 0 : 1; /* 1: retire the command */
}

/* Where the bio's data can be given to libnbd in one piece, or NULL. */
static uint8_t *contiguous(const struct vdk_bio *bio)
{
	uint8_t *start = NULL, *end = NULL;
	unsigned int i;

	for (i = 0; i < bio->iovcnt; i++) {
		uint8_t *p = bio->iov[i].iov_base;

		if (!bio->iov[i].iov_len)
			continue;
		if (!start)
			start = p;
		else if (p != end)
			return NULL;
		end = p + bio->iov[i].iov_len;
	}
	return start;
}

/* The data of a read or write, contiguous: the iovecs or the bounce. */
static int slot_buffer(struct vdk_bq *q, struct slot *s)
{
	struct vdk_bio *bio = s->bio;

	if (s->buf)
		return 0;
	s->buf = contiguous(bio);
	if (s->buf)
		return 0;
	if (bio->len > SIZE_MAX)
		return -ENOMEM;
	if (vdk__bounce_get(&s->bounce, &q->bounce_held, bio->len))
		return -ENOMEM;
	s->buf = s->bounce.p;
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

/*
 * Send the slot's commands on the connection, which is up.  The slot
 * holds one more reference while issuing, so that it reaches the done
 * list only once, after the last command, whatever libnbd does inside
 * these calls (a connection dying while sending fails every command).
 */
static void slot_issue(struct vdk_bq *q, struct slot *s)
{
	struct vdk_bdev *b = q->b;
	struct vdk_bio *bio = s->bio;
	nbd_completion_callback cb = { .callback = cmd_done, .user_data = s };
	uint64_t off, n, chunk = b->max_rw;
	uint32_t flags = 0;
	int64_t cookie;
	int ret;

	s->state = SLOT_SENT;
	s->gen = q->gen;
	s->lost = false;
	s->inflight = 1;
	if (s->phase == PHASE_FLUSH) {
		s->inflight++;
		if (nbd_aio_flush(q->h, cb, 0) == -1) {
			s->inflight--;
			issue_failed(q, s);
		}
		slot_unref(q, s);
		return;
	}
	switch (bio->op) {
	case VDK_BIO_READ:
	case VDK_BIO_WRITE:
		ret = slot_buffer(q, s);
		if (ret) {
			s->err = ret;
			break;
		}
		if (bio->op == VDK_BIO_WRITE && (bio->flags & VDK_BIO_F_FUA)) {
			if (b->can_fua)
				flags = LIBNBD_CMD_FLAG_FUA;
			else
				s->fua_flush = b->can_flush;
		}
		for (off = 0; off < bio->len; off += n) {
			n = bio->len - off < chunk ? bio->len - off : chunk;
			s->inflight++;
			if (bio->op == VDK_BIO_READ)
				cookie = nbd_aio_pread(q->h, s->buf + off, n,
						       bio->offset + off, cb,
						       0);
			else
				cookie = nbd_aio_pwrite(q->h, s->buf + off, n,
							bio->offset + off, cb,
							flags);
			if (cookie == -1) {
				s->inflight--;
				issue_failed(q, s);
				break;
			}
		}
		break;
	case VDK_BIO_FLUSH:
		s->inflight++;
		if (nbd_aio_flush(q->h, cb, 0) == -1) {
			s->inflight--;
			issue_failed(q, s);
		}
		break;
	case VDK_BIO_DISCARD:
	case VDK_BIO_ZERO:
		/* Without UNMAP the range must stay allocated. */
		if (bio->op == VDK_BIO_ZERO && !(bio->flags & VDK_BIO_F_UNMAP))
			flags = LIBNBD_CMD_FLAG_NO_HOLE;
		chunk = MAX_RANGE;
		for (off = 0; off < bio->len; off += n) {
			n = bio->len - off < chunk ? bio->len - off : chunk;
			s->inflight++;
			if (bio->op == VDK_BIO_DISCARD)
				cookie = nbd_aio_trim(q->h, n,
						      bio->offset + off, cb, 0);
			else
				cookie = nbd_aio_zero(q->h, n,
						      bio->offset + off, cb,
						      flags);
			if (cookie == -1) {
				s->inflight--;
				issue_failed(q, s);
				break;
			}
		}
		break;
	default:
		s->err = -EOPNOTSUPP;
		break;
	}
	slot_unref(q, s);
}

/* Send now if connected, else wait for the connection. */
static void slot_start(struct vdk_bq *q, struct slot *s)
{
	if (q->state == CONN_UP)
		slot_issue(q, s);
	else
		wait_push(q, s);
}

/* ---- the connection ---- */

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
	unsigned int i, delay;

	if (q->h) {
		for (i = 0; i < q->depth; i++) {
			struct slot *s = &q->slots[i];

			if (s->state == SLOT_SENT && s->inflight) {
				s->inflight = 0;
				s->lost = true;
				done_push(q, s);
			}
		}
		handle_close(q->h);
		q->h = NULL;
	}
	sync_fd(q);
	if (q->state == CONN_UP && now - q->up_since >= STABLE_MS * NS_PER_MS)
		q->backoff_ms = 0;
	delay = q->backoff_ms;
	q->backoff_ms = !delay ? BACKOFF_MIN_MS :
			delay * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : delay * 2;
	q->state = CONN_DOWN;
	q->retry_at = now + delay * NS_PER_MS;
}

/* @n bios failed by timeout= at @now, for the log. */
static void stall_failed(struct vdk_bq *q, unsigned int n, uint64_t now)
{
	vdk__stall_failed(&q->stall, &q->b->log, q->qidx, "the server",
			  (unsigned int)(q->b->timeout_ns / NS_PER_S), n, now);
}

/* A live connection given up, and why, for the log. */
static void conn_lost(struct vdk_bq *q, uint64_t now, const char *why)
{
	if (q->state == CONN_UP)
		vdk__blog(&q->b->log, VDK_LOG_WARNING,
			  "queue %u: %s; reconnecting", q->qidx, why);
	conn_drop(q, now);
}

static void conn_start(struct vdk_bq *q, uint64_t now)
{
	q->h = handle_new(q->b);
	if (!q->h || nbd_aio_connect_uri(q->h, q->b->uri) == -1) {
		conn_drop(q, now);
		return;
	}
	q->state = CONN_CONNECTING;
	q->connect_by = now + CONNECT_TIMEOUT_MS * NS_PER_MS;
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

/* Move the connection along: connect, notice death, send what waits. */
static void conn_step(struct vdk_bq *q, uint64_t now)
{
	struct slot *s;

	switch (q->state) {
	case CONN_DOWN:
		if (now >= q->retry_at)
			conn_start(q, now);
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
			q->state = CONN_UP;
			q->up_since = now;
			if (q->gen)
				vdk__blog(&q->b->log, VDK_LOG_NOTICE,
					  "queue %u: connected to the server again",
					  q->qidx);
			vdk__stall_answered(&q->stall, &q->b->log, q->qidx,
					    "the server");
			q->gen++;
			while (q->state == CONN_UP &&
			       (s = list_pop(&q->wait, &q->wait_tail)))
				slot_issue(q, s);
		} else if (nbd_aio_is_dead(q->h) || nbd_aio_is_closed(q->h) ||
			   nbd_aio_is_negotiating(q->h) ||
			   now >= q->connect_by) {
			vdk__blog(&q->b->log, VDK_LOG_INFO,
				  "queue %u: cannot connect to the server (%s)",
				  q->qidx, now >= q->connect_by ?
				  "no answer" : nbd_msg());
			conn_drop(q, now);
		} else {
			sync_fd(q);
		}
		break;
	case CONN_UP:
		if (nbd_aio_is_dead(q->h) || nbd_aio_is_closed(q->h))
			conn_lost(q, now, "the connection to the server died");
		break;
	}
}

static short events_of(struct vdk_bq *q)
{
	unsigned int dir;
	short ev = 0;

	if (!q->h || q->sock_ino == 0 || nbd_aio_is_dead(q->h) ||
	    nbd_aio_is_closed(q->h))
		return 0;
	dir = nbd_aio_get_direction(q->h);
	if (dir & LIBNBD_AIO_DIRECTION_READ)
		ev |= POLLIN;
	if (dir & LIBNBD_AIO_DIRECTION_WRITE)
		ev |= POLLOUT;
	return ev;
}

/* Let libnbd read and write as far as poll()'s @revents allow. */
static void pump(struct vdk_bq *q, short revents)
{
	unsigned int dir;

	if (!q->h || !revents)
		return;
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

/* ---- deadlines ---- */

/*
 * Fail the bios older than timeout=.  Waiting ones fail at once; one sent
 * on a connection that did not answer in time means the connection is
 * stuck: it is dropped, and the bios it held go through the done list.
 */
static int check_deadlines(struct vdk_bq *q, uint64_t now)
{
	struct slot *s, *keep = NULL, *keep_tail = NULL;
	struct slot *expired = NULL, *expired_tail = NULL;
	bool stuck = false;
	unsigned int i;
	int n = 0;

	while ((s = list_pop(&q->wait, &q->wait_tail))) {
		if (s->deadline <= now)
			list_push(&expired, &expired_tail, s);
		else
			list_push(&keep, &keep_tail, s);
	}
	q->wait = keep;
	q->wait_tail = keep_tail;
	for (i = 0; i < q->depth; i++) {
		if (q->slots[i].state == SLOT_SENT &&
		    q->slots[i].deadline <= now)
			stuck = true;
	}
	if (stuck)
		conn_lost(q, now, "the server did not answer within timeout=");
	q->next_check = UINT64_MAX;
	for (i = 0; i < q->depth; i++) {
		s = &q->slots[i];
		if (s->state != SLOT_FREE && s->deadline > now &&
		    s->deadline < q->next_check)
			q->next_check = s->deadline;
	}
	while ((s = list_pop(&expired, &expired_tail))) {
		finish(q, s, -EIO);
		n++;
	}
	stall_failed(q, (unsigned int)n, now);
	return n;
}

/* ---- queues ---- */

static void nb_queue_close(struct vdk_bq *q)
{
	struct slot *s;
	unsigned int i;

	if (!q)
		return;
	/*
	 * The device waits for every bio before closing, but only so long:
	 * close the connection first (no more callbacks), then fail what
	 * is left so that each bio still completes once.
	 */
	if (q->h) {
		handle_close(q->h);
		q->h = NULL;
	}
	for (i = 0; q->slots && i < q->depth; i++) {
		s = &q->slots[i];
		if (s->state != SLOT_FREE)
			finish(q, s, -EIO);
		vdk__bounce_free(&s->bounce, &q->bounce_held);
	}
	free(q->slots);
	vdk__close_fd(&q->fd);
	vdk__close_fd(&q->idle_fd);
	free(q);
}

static int nb_queue_open(struct vdk_bdev *b, unsigned int qidx,
			  unsigned int depth, struct vdk_bq **out)
{
	struct vdk_bq *q;
	unsigned int i;
	int ret;

	if (!depth || depth > 32768)
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
	q->depth = depth;
	q->qidx = qidx;
	q->next_check = UINT64_MAX;
	q->slots = calloc(depth, sizeof(*q->slots));
	if (!q->slots) {
		ret = -ENOMEM;
		goto err;
	}
	for (i = 0; i < depth; i++) {
		q->slots[i].q = q;
		q->slots[i].next = i + 1 < depth ? &q->slots[i + 1] : NULL;
	}
	q->free = q->slots;
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
	conn_start(q, now_ns());
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
	return events_of(q);
}

static int nb_queue_ready(struct vdk_bq *q, short revents)
{
	pump(q, revents);
	q->pumped = true;
	return 0;
}

static int nb_queue_timeout(struct vdk_bq *q)
{
	uint64_t now = now_ns(), t = UINT64_MAX, ms;

	if (q->state == CONN_DOWN)
		t = q->retry_at;
	else if (q->state == CONN_CONNECTING)
		t = q->connect_by;
	if (q->busy && q->next_check < t)
		t = q->next_check;
	if (t == UINT64_MAX)
		return -1;
	if (t <= now)
		return 0;
	ms = (t - now + NS_PER_MS - 1) / NS_PER_MS;
	return ms > INT_MAX ? INT_MAX : (int)ms;
}

/* Finish, send again or fail what the callbacks recorded. */
static int run_done(struct vdk_bq *q, uint64_t now)
{
	struct slot *s;
	unsigned int expired = 0;
	int n = 0;

	while ((s = list_pop(&q->done, &q->done_tail))) {
		struct vdk_bio *bio = s->bio;

		if (s->err) {
			finish(q, s, s->err);
			n++;
		} else if (s->lost) {
			/* One lost command condemns its connection. */
			if (q->state == CONN_UP && s->gen == q->gen)
				conn_lost(q, now, "the connection to the server was lost");
			if (now >= s->deadline) {
				finish(q, s, -EIO);
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
				slot_issue(q, s);
			} else {
				wait_push(q, s);
			}
		} else {
			if (bio->op == VDK_BIO_READ && s->buf == s->bounce.p)
				vdk__iov_from_buf(bio->iov, bio->iovcnt, 0,
						  s->buf, bio->len);
			finish(q, s, 0);
			n++;
		}
	}
	stall_failed(q, expired, now);
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
	if (!q->pumped && q->busy) {
		struct pollfd p = { .fd = q->fd, .events = events_of(q) };

		if (p.events && poll(&p, 1, 0) > 0)
			pump(q, p.revents);
	}
	q->pumped = false;
	now = now_ns();
	conn_step(q, now);
	if (now >= q->next_check)
		n += check_deadlines(q, now);
	n += run_done(q, now);
	/* Lost bios dropped the connection: start over if it is time. */
	if (q->state == CONN_DOWN && q->wait)
		conn_step(q, now);
	return n;
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
	.read = nb_read,
	.write = nb_write,
	.flush = nb_flush,
	.discard = nb_discard,
	.zero = nb_zero,
	.reap = nb_reap,
	.queue_events = nb_queue_events,
	.queue_ready = nb_queue_ready,
	.queue_timeout = nb_queue_timeout,
	.syscalls = nbd_syscalls,
	.ro_paths = nbd_ro_paths,
	.confine_paths = nbd_confine_paths,
};
