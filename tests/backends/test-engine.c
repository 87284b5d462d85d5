/* SPDX-License-Identifier: MIT */
/*
 * The request engine of the remote backends (backends/engine.h) on its
 * own: slots taken and given back, done() once and last, slots the
 * storage holds after their bio failed, deadlines and their log lines,
 * timeout=, and completions from another thread through the eventfd.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "engine.h"

struct my_slot {
	struct vdk__slot s;
	int tag;
};

struct tbio_e {
	struct vdk_bio bio;
	int calls, result;
	struct vdk__eng *e;
	unsigned int busy_seen;
};

static void done(struct vdk_bio *bio, int result)
{
	struct tbio_e *t = (struct tbio_e *)bio;

	t->calls++;
	t->result = result;
	/* Called last: the slot is already counted free. */
	t->busy_seen = t->e ? t->e->busy : 0;
}

static char logbuf[4096];

static void logfn(void *opaque, int level, const char *msg)
{
	(void)opaque;
	(void)level;
	strncat(logbuf, msg, sizeof(logbuf) - strlen(logbuf) - 2);
	strcat(logbuf, "\n");
}

static const struct vdk_backend_log blog = {
	.fn = logfn,
	.level = VDK_LOG_DEBUG,
};

static void test_slots(void)
{
	struct vdk__eng_cfg cfg = {
		.qidx = 3, .depth = 4, .slot_size = sizeof(struct my_slot),
		.timeout_s = 30, .log = &blog, .who = "the thing",
	};
	struct tbio_e b[5] = { 0 };
	struct vdk__slot *s[5];
	struct vdk__eng e;
	unsigned int i;

	CHECK_EQ(vdk__eng_init(&e, &cfg), 0);
	b[4].bio.done = done;
	for (i = 0; i < 4; i++) {
		b[i].bio.done = done;
		b[i].e = &e;
		s[i] = vdk__eng_get(&e, &b[i].bio);
		CHECK(s[i]);
		CHECK(s[i]->bio == &b[i].bio);
		CHECK(s[i]->eng == &e);
	}
	/* Full, and no growing without held slots. */
	CHECK(!vdk__eng_get(&e, &b[4].bio));
	CHECK_EQ(e.busy, 4);
	CHECK(e.next_check != UINT64_MAX);
	CHECK(vdk__eng_timeout_ms(&e, UINT64_MAX) > 29000);
	CHECK_EQ(vdk__eng_timeout_ms(&e, 0), 0);

	/* A bounce buffer, given back with the slot. */
	CHECK_EQ(vdk__eng_bounce(s[0], 10000), 0);
	CHECK(s[0]->bounce.p && e.bounce_held >= 10000);
	vdk__eng_finish(s[0], 0);
	CHECK_EQ(b[0].calls, 1);
	CHECK_EQ(b[0].busy_seen, 3);
	/* Small: kept for the next one. */
	CHECK(e.bounce_held >= 10000);

	/* Unget: no done(). */
	s[0] = vdk__eng_get(&e, &b[0].bio);
	vdk__eng_unget(s[0]);
	CHECK_EQ(b[0].calls, 1);

	/* Held by the storage: the bio fails, the slot stays out. */
	vdk__eng_hold(s[1]);
	vdk__eng_finish(s[1], -EIO);
	CHECK_EQ(b[1].result, -EIO);
	CHECK_EQ(e.held, 1);
	/* Now the queue may grow past its depth. */
	b[0].calls = 0;
	s[0] = vdk__eng_get(&e, &b[0].bio);
	CHECK(s[0]);
	s[4] = vdk__eng_get(&e, &b[4].bio);
	CHECK(!s[4]); /* cfg.grow is off */
	vdk__eng_release(s[1]);
	CHECK_EQ(e.held, 0);
	s[4] = vdk__eng_get(&e, &b[4].bio);
	CHECK(s[4] == s[1]);

	CHECK_EQ(vdk__eng_fail_all(&e, -EIO), 4);
	CHECK_EQ(e.busy, 0);
	vdk__eng_fini(&e);
	CHECK_EQ(e.bounce_held, 0);
}

static void test_grow(void)
{
	struct vdk__eng_cfg cfg = {
		.depth = 1, .slot_size = sizeof(struct my_slot),
		.timeout_s = 1, .log = &blog, .who = "x", .grow = true,
	};
	struct tbio_e b[3] = { 0 };
	struct vdk__slot *s0, *s1;
	struct vdk__eng e;

	b[0].bio.done = b[1].bio.done = b[2].bio.done = done;
	CHECK_EQ(vdk__eng_init(&e, &cfg), 0);
	s0 = vdk__eng_get(&e, &b[0].bio);
	vdk__eng_hold(s0);
	vdk__eng_finish(s0, -EIO);
	s1 = vdk__eng_get(&e, &b[1].bio);
	CHECK(s1 && s1 != s0 && s1->extra);
	vdk__eng_hold(s1);
	/* Freed only once given back. */
	vdk__eng_release(s0);
	vdk__eng_release(s1);
	vdk__eng_finish(s1, 0);
	CHECK_EQ(b[1].calls, 1);
	vdk__eng_fini(&e);
}

static bool expire_all(struct vdk__slot *s, void *arg)
{
	(*(unsigned int *)arg)++;
	vdk__eng_finish(s, -EIO);
	return true;
}

static void test_deadlines(void)
{
	struct vdk__eng_cfg cfg = {
		.qidx = 2, .depth = 4, .slot_size = sizeof(struct my_slot),
		.timeout_s = 1, .log = &blog, .who = "the server",
	};
	struct tbio_e b[2] = { 0 };
	struct vdk__eng e;
	unsigned int calls = 0;
	uint64_t now;

	b[0].bio.done = b[1].bio.done = done;
	CHECK_EQ(vdk__eng_init(&e, &cfg), 0);
	vdk__eng_get(&e, &b[0].bio);
	vdk__eng_get(&e, &b[1].bio);
	now = vdk__now_ns();
	CHECK(!vdk__eng_due(&e, now));
	CHECK_EQ(vdk__eng_expire(&e, now, expire_all, &calls), 0);
	CHECK_EQ(calls, 0);
	now += 2 * VDK_NS_PER_S;
	CHECK(vdk__eng_due(&e, now));
	logbuf[0] = '\0';
	CHECK_EQ(vdk__eng_expire(&e, now, expire_all, &calls), 2);
	CHECK_EQ(b[0].result, -EIO);
	CHECK_EQ(b[1].result, -EIO);
	CHECK_EQ(e.next_check, UINT64_MAX);
	CHECK(strstr(logbuf, "queue 2: 2 request(s) failed with an I/O error: no answer from the server within timeout=1 s"));
	vdk__eng_answered(&e);
	CHECK(strstr(logbuf, "queue 2: the server answers again (2 request(s) had failed)"));
	CHECK_EQ(vdk__eng_timeout_ms(&e, UINT64_MAX), -1);
	vdk__eng_fini(&e);
}

static void test_timeout_param(void)
{
	struct vdk_params ps;
	char err[128];
	unsigned int t;

	CHECK_EQ(vdk_params_parse(&ps, 0, NULL, err, sizeof(err)), 0);
	CHECK_EQ(vdk__get_timeout(&ps, &t, err, sizeof(err)), 0);
	CHECK_EQ(t, VDK_TIMEOUT_DEFAULT_S);
	vdk_params_free(&ps);
	CHECK_EQ(vdk_params_parse(&ps, 1, (char *const[]){ "timeout=7" }, err,
				  sizeof(err)), 0);
	CHECK_EQ(vdk__get_timeout(&ps, &t, err, sizeof(err)), 0);
	CHECK_EQ(t, 7);
	vdk_params_free(&ps);
	CHECK_EQ(vdk_params_parse(&ps, 1, (char *const[]){ "timeout=0" }, err,
				  sizeof(err)), 0);
	CHECK(vdk__get_timeout(&ps, &t, err, sizeof(err)) < 0);
	CHECK(err[0]);
	vdk_params_free(&ps);
}

#define N_WAKE 1000

static struct vdk__eng wake_e;
static struct my_slot *wake_slots[N_WAKE];

static void *completer(void *arg)
{
	unsigned int i;

	(void)arg;
	for (i = 0; i < N_WAKE; i++)
		vdk__eng_complete(&wake_slots[i]->s);
	return NULL;
}

/* Another thread completes; the queue's thread sees each once, in order. */
static void test_wake(void)
{
	struct vdk__eng_cfg cfg = {
		.depth = N_WAKE, .slot_size = sizeof(struct my_slot),
		.timeout_s = 30, .log = &blog, .who = "x", .wake = true,
	};
	static struct tbio_e b[N_WAKE];
	unsigned int i, seen = 0;
	int last = -1;
	pthread_t t;

	CHECK_EQ(vdk__eng_init(&wake_e, &cfg), 0);
	CHECK(vdk__eng_fd(&wake_e) >= 0);
	CHECK(!vdk__eng_take(&wake_e));
	for (i = 0; i < N_WAKE; i++) {
		b[i].bio.done = done;
		wake_slots[i] = (struct my_slot *)vdk__eng_get(&wake_e,
							       &b[i].bio);
		wake_slots[i]->tag = (int)i;
		vdk__eng_hold(&wake_slots[i]->s);
	}
	CHECK_EQ(pthread_create(&t, NULL, completer, NULL), 0);
	while (seen < N_WAKE) {
		struct pollfd p = { .fd = vdk__eng_fd(&wake_e),
				    .events = POLLIN };
		struct vdk__slot *s, *next;

		CHECK(poll(&p, 1, 5000) >= 0);
		for (s = vdk__eng_take(&wake_e); s; s = next) {
			next = s->next;
			CHECK(((struct my_slot *)s)->tag > last);
			last = ((struct my_slot *)s)->tag;
			vdk__eng_release(s);
			vdk__eng_finish(s, 0);
			seen++;
		}
	}
	pthread_join(t, NULL);
	for (i = 0; i < N_WAKE; i++)
		CHECK_EQ(b[i].calls, 1);
	/* The eventfd is clear again. */
	{
		struct pollfd p = { .fd = vdk__eng_fd(&wake_e),
				    .events = POLLIN };

		CHECK_EQ(poll(&p, 1, 0), 0);
	}
	vdk__eng_fini(&wake_e);
}

static void test_contiguous(void)
{
	uint8_t buf[64];
	struct iovec one[3] = { { buf, 16 }, { buf + 16, 0 }, { buf + 16, 48 } };
	struct iovec two[2] = { { buf, 16 }, { buf + 32, 16 } };

	CHECK(vdk__iov_contiguous(one, 3) == buf);
	CHECK(!vdk__iov_contiguous(two, 2));
	CHECK(!vdk__iov_contiguous(NULL, 0));
}

int main(void)
{
	test_slots();
	test_grow();
	test_deadlines();
	test_timeout_param();
	test_wake();
	test_contiguous();
	fprintf(stderr, "test-engine: ok\n");
	return T_EXIT_PASS;
}
