/* SPDX-License-Identifier: MIT */
/*
 * The contract of backend.h, for every backend in vdk_backends[]: the ops
 * table (required members, help, name), open()'s errors, info()'s sizes
 * and abilities, bios refused without done() and the others completed
 * once, flush, discard, zeroes where offered, events (through set_events
 * alone: no backend signals its own process), and then the shared
 * model of the data (conformance) for those that keep data.
 *
 * A backend is opened on a small device as a table below says; one that
 * is registered but missing from the table fails this test, so that a new
 * backend gets the checks by adding a line.  rbd needs a Ceph cluster:
 * skipped here with its reason (test-rbd runs the model against a
 * stand-in for librbd, the VM's rbd scenarios against a real cluster).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include "common.h"
#ifdef CONTRACT_NBD
#include "test-nbd-lib.h"
#endif

#define MAX_WORDS 4

struct contract {
	const char *name;
	/* Fills @words (NULL-terminated); NULL: skipped, and why. */
	const char *(*setup)(const char **words);
	bool keeps_data;
};

static char file_param[200];

static const char *setup_file(const char **words)
{
	char *path = tmp_file(NULL, 4u << 20);

	if (!path)
		return "no room for a temporary file";
	snprintf(file_param, sizeof(file_param), "path=%s", path);
	words[0] = file_param;
	return NULL;
}

static const char *setup_ram(const char **words)
{
	words[0] = "size=4M";
	return NULL;
}

static const char *setup_null(const char **words)
{
	words[0] = "size=4M";
	return NULL;
}

#ifdef CONTRACT_NBD
static struct srv nbd_srv;
static bool nbd_started;

static const char *setup_nbd(const char **words)
{
	int status = system("nbdkit --version >/dev/null 2>&1");

	if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status))
		return "nbdkit is not installed";
	nbd_test_init();
	/* Small: reap() alone advances a large write slowly (test-nbd). */
	SRV_START(&nbd_srv, "contract.sock", "memory", "2M");
	nbd_started = true;
	words[0] = nbd_srv.param;
	return NULL;
}
#endif

static const char *setup_rbd(const char **words)
{
	(void)words;
	return "needs a Ceph cluster (test-rbd: a stand-in for librbd; the VM's rbd scenarios: a real one)";
}

static const struct contract contracts[] = {
	{ "file", setup_file, true },
	{ "ram", setup_ram, true },
	{ "null", setup_null, false },
#ifdef CONTRACT_NBD
	{ "nbd", setup_nbd, true },
#endif
	{ "rbd", setup_rbd, true },
};

/* ---- the ops table ---- */

static void check_table(const struct vdk_backend_ops *ops)
{
	const char *p;

	CHECK(ops->name && *ops->name);
	CHECK(vdk_backend_find(ops->name) == ops);
	CHECK(ops->summary && *ops->summary);
	CHECK(!strchr(ops->summary, '\n'));
	/* Required members. */
	CHECK(ops->open && ops->close && ops->info);
	CHECK(ops->queue_open && ops->queue_close);
	CHECK(ops->read && ops->write);
	/* A queue with an fd completes outside the call: reap() runs it. */
	if (ops->queue_fd || ops->queue_events || ops->queue_ready ||
	    ops->queue_timeout)
		CHECK(ops->reap);
	if (ops->queue_events || ops->queue_ready)
		CHECK(ops->queue_fd);
	/* "key=VALUE  meaning" lines, each ending in a newline. */
	CHECK(ops->params_help && *ops->params_help);
	for (p = ops->params_help; *p;) {
		const char *nl = strchr(p, '\n'), *eq = strchr(p, '=');

		CHECK(nl);
		CHECK(eq && eq < nl && eq > p);
		CHECK(*p >= 'a' && *p <= 'z');
		p = nl + 1;
	}
	/* NULL is allowed. */
	ops->close(NULL);
	ops->queue_close(NULL);
}

/* ---- open() ---- */

static void check_open_errors(const struct vdk_backend_ops *ops,
			      const char *const *words)
{
	const char *with_bogus[MAX_WORDS + 2] = { 0 };
	struct tb t;
	int ret, i;

	/* Without parameters: an error, a one-line message. */
	ret = tb_open(&t, ops->name, (const char *const[]){ NULL });
	CHECK(ret < 0 && ret >= -4095);
	CHECK(t.err[0] && !strchr(t.err, '\n'));
	CHECK(!t.b);
	/* An unknown key is refused (the caller checks what is unused). */
	for (i = 0; words[i]; i++)
		with_bogus[i] = words[i];
	with_bogus[i] = "bogus-key=1";
	check_err(&t, tb_open(&t, ops->name, with_bogus),
		  "unknown parameter 'bogus-key'");
}

static void check_info(const struct tb *t)
{
	const struct vdk_backend_info *in = &t->info;
	struct vdk_backend_info again;

	CHECK(in->block_size == 512 || in->block_size == 4096);
	CHECK(in->size && in->size % in->block_size == 0);
	CHECK(!in->opt_io_size || in->opt_io_size % in->block_size == 0);
	CHECK(!in->can_zero_unmap || in->can_zero);
	if (in->read_only)
		CHECK(!in->can_discard && !in->can_zero);
	/* What it offers, it has an op for. */
	if (in->can_flush)
		CHECK(t->ops->flush);
	if (in->can_discard)
		CHECK(t->ops->discard);
	if (in->can_zero)
		CHECK(t->ops->zero);
	/* Asked again: the same. */
	CHECK_EQ(t->ops->info(t->b, &again), 0);
	CHECK(!memcmp(&again, in, sizeof(again)));
}

/* ---- bios ---- */

static unsigned int event_count;
/* Signals the process got: a backend tells through set_events only. */
static volatile sig_atomic_t signals_got;

static void on_signal(int sig)
{
	(void)sig;
	signals_got++;
}

static void on_event(void *opaque, enum vdk_backend_event ev,
		     unsigned int qidx)
{
	(void)opaque;
	(void)ev;
	(void)qidx;
	event_count++;
}

/* A read of @len at @off: 0, or -errno (and done() did not run). */
static int rd(struct tq *q, uint64_t off, void *buf, uint64_t len)
{
	struct iovec iov = { buf, len };

	return tq_run(q, VDK_BIO_READ, 0, off, len, &iov, 1);
}

static void check_bios(struct tb *t, bool keeps_data)
{
	const struct vdk_backend_info *in = &t->info;
	uint64_t bs = in->block_size, last = in->size - bs;
	uint8_t *buf, *want;
	struct iovec iov;
	struct tq q;

	buf = malloc(2 * bs);
	want = malloc(bs);
	CHECK(buf && want);
	tq_open(&q, t, 8);

	/*
	 * The device checks ranges against the size before (backend.h), and
	 * a file may grow under it; but every backend fails a range that
	 * wraps and iovecs that do not add up to the length (refused, or
	 * done() once with an error: tq_run() checks which).
	 */
	iov = (struct iovec){ buf, bs };
	CHECK(tq_run(&q, VDK_BIO_READ, 0, UINT64_MAX - bs + 1, bs, &iov, 1) <
	      0);
	iov.iov_len = bs - 1;
	CHECK(tq_run(&q, VDK_BIO_READ, 0, 0, bs, &iov, 1) < 0);
	if (!in->read_only) {
		iov.iov_len = bs + 1;
		CHECK(tq_run(&q, VDK_BIO_WRITE, 0, 0, bs, &iov, 1) < 0);
	}
	if (in->can_discard)
		CHECK(tq_run(&q, VDK_BIO_DISCARD, 0, UINT64_MAX - bs + 1,
			     2 * bs, NULL, 0) < 0);
	if (in->can_zero)
		CHECK(tq_run(&q, VDK_BIO_ZERO, 0, UINT64_MAX - bs + 1, 2 * bs,
			     NULL, 0) < 0);

	/* Empty reads complete, once. */
	CHECK_EQ(tq_run(&q, VDK_BIO_READ, 0, 0, 0, NULL, 0), 0);

	/* The last block: written, FUA, read back where data is kept. */
	if (!in->read_only) {
		pat_fill(buf, bs, last, 7);
		CHECK_EQ(tq_rw_split(&q, VDK_BIO_WRITE,
				     in->can_fua ? VDK_BIO_F_FUA : 0, last, buf,
				     bs, 3), 0);
		memcpy(want, buf, bs);
		memset(buf, 0xee, bs);
		CHECK_EQ(rd(&q, last, buf, bs), 0);
		if (keeps_data)
			check_bytes(buf, want, bs, last, "the last block");
	}
	/* Flush, with or without a cache. */
	if (t->ops->flush)
		CHECK_EQ(tq_run(&q, VDK_BIO_FLUSH, 0, 0, 0, NULL, 0), 0);
	/* Zeroes, with and without unmap: they read as zeros. */
	if (in->can_zero) {
		CHECK_EQ(tq_run(&q, VDK_BIO_ZERO, 0, last, bs, NULL, 0), 0);
		memset(want, 0, bs);
		CHECK_EQ(rd(&q, last, buf, bs), 0);
		check_bytes(buf, want, bs, last, "zeroed");
		if (in->can_zero_unmap)
			CHECK_EQ(tq_run(&q, VDK_BIO_ZERO, VDK_BIO_F_UNMAP, 0,
					in->size, NULL, 0), 0);
	}
	/* A discard of everything completes (what it reads is open). */
	if (in->can_discard)
		CHECK_EQ(tq_run(&q, VDK_BIO_DISCARD, 0, 0, in->size, NULL, 0),
			 0);
	if (t->ops->queue_timeout)
		CHECK(t->ops->queue_timeout(q.q) >= -1);
	tq_close(&q);
	free(buf);
	free(want);
}

static void run_contract(const struct vdk_backend_ops *ops,
			 const struct contract *c)
{
	const char *words[MAX_WORDS + 1] = { 0 };
	const char *skip;
	struct tb t;

	fprintf(stderr, "%s: ...\n", ops->name);
	check_table(ops);
	skip = c->setup(words);
	if (skip) {
		fprintf(stderr, "%s: ops table ok; the rest skipped: %s\n",
			ops->name, skip);
		return;
	}
	check_open_errors(ops, words);
	CHECK_EQ(tb_open(&t, ops->name, words), 0);
	check_info(&t);
	event_count = 0;
	if (ops->set_events)
		ops->set_events(t.b, &(struct vdk_backend_events){
			.fn = on_event });
	if (ops->start)
		CHECK_EQ(ops->start(t.b, t.err, sizeof(t.err)), 0);
	check_bios(&t, c->keeps_data);
	if (c->keeps_data) {
		conformance(&t);
		if (t.info.multi_queue)
			two_threads(&t);
	}
	/* Nothing happened to the storage: nothing to tell. */
	CHECK_EQ(event_count, 0);
	CHECK(!tb_logged(&t, "failed"));
	tb_close(&t);
	fprintf(stderr, "%s: contract ok%s\n", ops->name,
		c->keeps_data ? " (data model included)" : "");
}

int main(void)
{
	const struct vdk_backend_ops *const *b;
	unsigned int i, n = 0;

	/* What a backend might have raised for the daemon to read. */
	signal(SIGHUP, on_signal);
	signal(SIGUSR1, on_signal);
	signal(SIGUSR2, on_signal);
	for (b = vdk_backends; *b; b++) {
		const struct contract *c = NULL;

		for (i = 0; i < sizeof(contracts) / sizeof(contracts[0]); i++)
			if (!strcmp(contracts[i].name, (*b)->name))
				c = &contracts[i];
		if (!c) {
			fprintf(stderr,
				"backend '%s' has no line in test-contract.c's table: add one\n",
				(*b)->name);
			return T_EXIT_FAIL;
		}
		run_contract(*b, c);
		CHECK_EQ(signals_got, 0);
		n++;
	}
#ifdef CONTRACT_NBD
	if (nbd_started)
		srv_stop(&nbd_srv);
#endif
	fprintf(stderr, "test-contract: %u backends\n", n);
	return T_EXIT_PASS;
}
