/* SPDX-License-Identifier: MIT */
/*
 * Helpers for the NBD backend tests: nbdkit servers on Unix sockets in a
 * temporary directory, killed at exit whatever happens, and a loop that
 * drives a queue as the device's queue thread does (poll on queue_fd()
 * with queue_events(), queue_ready(), reap(), woken by queue_timeout()).
 */
#ifndef VDK_TESTS_BACKENDS_NBD_LIB_H
#define VDK_TESTS_BACKENDS_NBD_LIB_H

#include <stdbool.h>
#include <sys/types.h>

#include "common.h"

struct srv {
	pid_t pid;
	char sock[108];
	char uri[160];    /* nbd+unix:///?socket=SOCK */
	char param[168];  /* uri=nbd+unix:///?socket=SOCK */
};

/* Exit 77 unless nbdkit can run; make the temporary directory. */
void nbd_test_init(void);

/* A path in the test's temporary directory. */
const char *tmp_path(const char *name);

/*
 * Start nbdkit in the foreground on socket @name of the temporary
 * directory with the NULL-terminated @args (plugin, its parameters,
 * filters...), and wait until it accepts connections.
 */
void srv_start(struct srv *s, const char *name, const char *const *args);
#define SRV_START(s, name, ...) \
	srv_start((s), (name), (const char *const[]){ __VA_ARGS__, NULL })
/*
 * Send @sig; for SIGKILL and SIGTERM wait for the end, for SIGSTOP until
 * every thread stopped.
 */
void srv_signal(struct srv *s, int sig);
void srv_stop(struct srv *s);
/* false if the server exited (and reaps it). */
bool srv_alive(struct srv *s);

double now_s(void);

/*
 * Drive @q until each of @n bios completed (true) or @secs passed
 * (false).  Checks that no bio completes twice.
 */
bool nq_drive(struct tq *q, struct tbio *const *bios, unsigned int n,
	      double secs);
/* Drive @q for @secs with nothing to wait for (reconnections). */
void nq_idle(struct tq *q, double secs);
/* One bio, start to end, through nq_drive (30 s at most). */
int nq_run(struct tq *q, uint8_t op, uint8_t flags, uint64_t offset,
	   uint64_t len, void *buf);

#endif
