/* A/B driver: the nbd backend at QD N, 4k random reads, for S seconds. */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include "backend.h"

struct b { struct vdk_bio bio; struct iovec iov; int busy; };
static unsigned long done_n;
static void done(struct vdk_bio *bio, int r) { struct b *x = (struct b *)bio; x->busy = 0; done_n++; if (r) { fprintf(stderr, "err %d\n", r); exit(1);} }
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }

int main(int argc, char **argv)
{
	const struct vdk_backend_ops *ops = vdk_backend_find("nbd");
	int qd = atoi(argv[2]); double secs = atof(argv[3]); unsigned bs = argc > 4 ? atoi(argv[4]) : 4096;
	char *words[] = { argv[1] };
	struct vdk_params ps; struct vdk_bdev *bd; struct vdk_bq *q; char err[256];
	struct vdk_backend_info info;
	if (vdk_params_parse(&ps, 1, words, err, sizeof err) || ops->open(&ps, &bd, err, sizeof err)) { fprintf(stderr, "%s\n", err); return 1; }
	ops->info(bd, &info);
	if (ops->queue_open(bd, 0, qd, &q)) return 1;
	struct b *bs_ = calloc(qd, sizeof(*bs_));
	unsigned long seed = 1; double t0 = now(), end = t0 + secs;
	for (int i = 0; i < qd; i++) { bs_[i].iov.iov_base = aligned_alloc(4096, bs); bs_[i].iov.iov_len = bs; }
	while (now() < end) {
		for (int i = 0; i < qd; i++) if (!bs_[i].busy) {
			seed = seed * 6364136223846793005ul + 1442695040888963407ul;
			struct b *x = &bs_[i];
			x->bio = (struct vdk_bio){ .op = VDK_BIO_READ, .offset = ((seed >> 20) % (info.size / bs)) * bs, .len = bs, .iov = &x->iov, .iovcnt = 1, .done = done };
			x->busy = 1;
			if (ops->read(q, &x->bio)) { fprintf(stderr, "submit\n"); return 1; }
		}
		struct pollfd p = { .fd = ops->queue_fd(q), .events = ops->queue_events(q) };
		int to = ops->queue_timeout(q);
		if (poll(&p, 1, to < 0 || to > 100 ? 100 : to) > 0) ops->queue_ready(q, p.revents);
		ops->reap(q);
	}
	double el = now() - t0; unsigned long n = done_n;
	for (;;) { int busy = 0; for (int i = 0; i < qd; i++) busy |= bs_[i].busy; if (!busy) break;
		struct pollfd p = { .fd = ops->queue_fd(q), .events = ops->queue_events(q) };
		if (poll(&p, 1, 100) > 0) ops->queue_ready(q, p.revents);
		ops->reap(q); }
	ops->queue_close(q); ops->close(bd);
	struct rusage ru; getrusage(RUSAGE_SELF, &ru);
	double cpu = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
	printf("%.0f IOPS %.1f MiB/s %.2f us-cpu/io\n", n / el, n * (double)bs / el / 1048576, cpu / n * 1e6);
	return 0;
}
