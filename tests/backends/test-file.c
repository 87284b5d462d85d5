/* SPDX-License-Identifier: MIT */
/*
 * Backend "file" on regular files: parameters and their errors, every
 * operation buffered and with direct=on (misaligned buffers included), on
 * $TMPDIR and on /dev/shm (tmpfs: no FALLOC_FL_ZERO_RANGE, so zeroing
 * falls back to writes), two queues at once, a file truncated under the
 * backend, errors from the kernel, a read-only file, a full queue.
 * With TMPDIR on tmpfs (a second run), the inline path of files in
 * memory takes all of these.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"
#include "internal.h"

static char word[1100];

/* The file backend serves files on tmpfs inline. */
static bool on_tmpfs(const char *path)
{
	struct statfs sf;

	return !statfs(path, &sf) && sf.f_type == TMPFS_MAGIC;
}

static const char *path_word(const char *path)
{
	snprintf(word, sizeof(word), "path=%s", path);
	return word;
}

static void test_open_errors(void)
{
	char fifo[1024];
	const char *dir;
	struct tb t;
	char *p;

	check_err(&t, TB_OPEN(&t, "file", "direct=on"),
		  "missing parameter path= (a file or a block device)");
	check_err(&t, TB_OPEN(&t, "file", "path="),
		  "missing parameter path=");
	check_err(&t, TB_OPEN(&t, "file", "path=/nonexistent/disk.img"),
		  "cannot open '/nonexistent/disk.img': No such file or directory");
	check_err(&t, TB_OPEN(&t, "file", "path=/dev/null"),
		  "'/dev/null' is neither a regular file nor a block device");

	p = tmp_file(NULL, 0);
	CHECK(p);
	dir = getenv("TMPDIR");
	snprintf(fifo, sizeof(fifo), "%s/vdk-fifo-%d",
		 dir && *dir ? dir : "/tmp", (int)getpid());
	/* A FIFO without a writer must not hang the open. */
	CHECK(!mkfifo(fifo, 0600));
	check_err(&t, TB_OPEN(&t, "file", path_word(fifo)),
		  "is neither a regular file nor a block device");
	unlink(fifo);
	*strrchr(fifo, '/') = '\0';
	check_err(&t, TB_OPEN(&t, "file", path_word(fifo)),
		  "is neither a regular file nor a block device");

	check_err(&t, TB_OPEN(&t, "file", path_word(p)), "is empty (size 0)");
	CHECK(!truncate(p, 1000));
	check_err(&t, TB_OPEN(&t, "file", path_word(p)),
		  "size 1000 is not a multiple of the block size 512");
	CHECK(!truncate(p, 3 * 4096 + 512));
	check_err(&t, TB_OPEN(&t, "file", path_word(p), "block-size=4096"),
		  "size 12800 is not a multiple of the block size 4096");
	check_err(&t, TB_OPEN(&t, "file", path_word(p), "block-size=1000"),
		  "bad value '1000' for block-size: expected 512 or 4096");
	check_err(&t, TB_OPEN(&t, "file", path_word(p), "direct=maybe"),
		  "bad value 'maybe' for direct");
	check_err(&t, TB_OPEN(&t, "file", path_word(p), "readonly=2"),
		  "bad value '2' for readonly");
	check_err(&t, TB_OPEN(&t, "file", path_word(p), "bogus=1"),
		  "unknown parameter 'bogus'");

	CHECK_EQ(TB_OPEN(&t, "file", path_word(p)), 0);
	CHECK_EQ(t.info.size, 12800);
	CHECK_EQ(t.info.block_size, 512);
	CHECK_EQ(t.info.max_iovecs, 1024);
	CHECK(!t.info.read_only && t.info.can_flush && t.info.can_fua &&
	      t.info.can_zero && t.info.multi_queue);
	tb_close(&t);
}

/* Permission denied, as a user who may not open the file. */
static void test_permission(void)
{
	struct tb t;
	char *p = tmp_file(NULL, 4096);
	int status;
	pid_t pid;

	CHECK(p);
	CHECK(!chmod(p, 0));
	pid = fork();
	CHECK(pid >= 0);
	if (!pid) {
		/* root reads anything: become nobody first. */
		if (!geteuid() && (setgid(65534) || setuid(65534)))
			_exit(T_EXIT_FAIL);
		if (!geteuid())
			_exit(T_EXIT_SKIP);
		check_err(&t, TB_OPEN(&t, "file", path_word(p)),
			  "Permission denied (readonly=on?)");
		_exit(T_EXIT_PASS);
	}
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	CHECK(WIFEXITED(status));
	if (WEXITSTATUS(status) == T_EXIT_SKIP)
		fprintf(stderr, "skipping the permission test\n");
	else
		CHECK_EQ(WEXITSTATUS(status), T_EXIT_PASS);
}

/*
 * Every operation, two threads; then the data must be in the file itself,
 * and still there when opened again.  Returns false when @dir cannot hold
 * the file or does not support O_DIRECT.
 */
static bool test_io(const char *dir, bool direct, const char *bs)
{
	uint64_t size = 4 << 20;
	char *p = tmp_file(dir, size);
	uint8_t *buf, *back;
	struct tb t;
	struct tq q;
	int fd, ret;

	if (!p)
		return false;
	ret = TB_OPEN(&t, "file", path_word(p), direct ? "direct=on" : "direct=off", bs);
	if (ret && direct && strstr(t.err, "does not support O_DIRECT")) {
		unlink(p);
		return false;
	}
	CHECK_EQ(ret, 0);
	conformance(&t);
	two_threads(&t);

	/* Zeroing must zero; so must discard, where holes can be punched. */
	tq_open(&q, &t, 2);
	CHECK_EQ(t.ops->info(t.b, &t.info), 0);
	if (t.info.can_discard)
		check_zeroed(&q, VDK_BIO_DISCARD, 0, size, 4096 + 512,
			     size - 3 * 4096);
	check_zeroed(&q, VDK_BIO_ZERO, VDK_BIO_F_UNMAP, size, 512, 8192);
	check_zeroed(&q, VDK_BIO_ZERO, 0, size, size - 3 * 4096, 3 * 4096);
	tq_close(&q);

	/* What the backend wrote is what the file holds. */
	buf = malloc(size);
	back = malloc(size);
	CHECK(buf && back);
	pat_fill(buf, size, 0, 42);
	tq_open(&q, &t, 2);
	CHECK_EQ(tq_rw_split(&q, VDK_BIO_WRITE, 0, 0, buf, size, 3), 0);
	CHECK_EQ(tq_run(&q, VDK_BIO_FLUSH, 0, 0, 0, NULL, 0), 0);
	tq_close(&q);
	tb_close(&t);
	fd = open(p, O_RDONLY | O_CLOEXEC);
	CHECK(fd >= 0);
	CHECK_EQ(pread(fd, back, size, 0), size);
	close(fd);
	check_bytes(back, buf, size, 0, "the file");

	CHECK_EQ(TB_OPEN(&t, "file", path_word(p)), 0);
	tq_open(&q, &t, 2);
	memset(back, 0, size);
	CHECK_EQ(tq_rw_split(&q, VDK_BIO_READ, 0, 0, back, size, 4), 0);
	check_bytes(back, buf, size, 0, "reopened");
	tq_close(&q);
	tb_close(&t);
	free(buf);
	free(back);
	unlink(p);
	return true;
}

/* How many pages of the file's first @len bytes are in the page cache. */
static unsigned int cached_pages(const char *path, size_t len)
{
	size_t pg = sysconf(_SC_PAGESIZE), i, n = 0;
	unsigned char vec[256];
	void *m;
	int fd;

	CHECK(len / pg <= sizeof(vec));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	CHECK(fd >= 0);
	m = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	CHECK(m != MAP_FAILED);
	CHECK(!mincore(m, len, vec));
	for (i = 0; i < len / pg; i++)
		n += vec[i] & 1;
	munmap(m, len);
	close(fd);
	return n;
}

/*
 * direct=on: requests bypass the page cache, those with misaligned
 * buffers (addresses, iovec lengths) too, through a bounce buffer.
 */
static void test_direct_paths(void)
{
	uint64_t size = 1 << 20;
	char *p = tmp_file(NULL, size);
	uint8_t *mem, *buf, *back;
	struct tb t;
	struct tq q;

	CHECK(p);
	if (TB_OPEN(&t, "file", path_word(p), "direct=on")) {
		fprintf(stderr, "skipping direct paths: %s\n", t.err);
		return;
	}
	CHECK(!posix_memalign((void **)&mem, 4096, 3 * 65536));
	buf = mem;
	back = mem + 65536;
	tq_open(&q, &t, 4);

	pat_fill(buf, 65536, 0, 5);
	CHECK_EQ(tq_run(&q, VDK_BIO_WRITE, 0, 0, 65536,
			(struct iovec[]){ { buf, 65536 } }, 1), 0);
	CHECK_EQ(tq_run(&q, VDK_BIO_READ, 0, 0, 65536,
			(struct iovec[]){ { back, 65536 } }, 1), 0);
	check_bytes(back, buf, 65536, 0, "direct");
	/* tmpfs takes O_DIRECT, but its data is its page cache. */
	if (!on_tmpfs(p))
		CHECK_EQ(cached_pages(p, 65536), 0);

	/* One byte off, and odd iovecs: must still work. */
	buf = mem + 2 * 65536 + 1;
	pat_fill(buf, 8192, 65536, 6);
	CHECK_EQ(tq_run(&q, VDK_BIO_WRITE, 0, 65536, 8192,
			(struct iovec[]){ { buf, 8192 } }, 1), 0);
	CHECK_EQ(tq_run(&q, VDK_BIO_READ, 0, 65536, 8192,
			(struct iovec[]){ { back + 3, 100 }, { back + 103, 0 },
					  { back + 200, 8092 } }, 3), 0);
	check_bytes(back + 3, buf, 100, 65536, "misaligned 1");
	check_bytes(back + 200, buf + 100, 8092, 65536 + 100, "misaligned 2");
	CHECK_EQ(tq_run(&q, VDK_BIO_READ, 0, 65536, 8192,
			(struct iovec[]){ { mem, 8192 } }, 1), 0);
	check_bytes(mem, buf, 8192, 65536, "aligned after misaligned");
	/* Nothing went through the page cache. */
	if (!on_tmpfs(p))
		CHECK_EQ(cached_pages(p, 65536 * 2), 0);

	tq_close(&q);
	tb_close(&t);
	free(mem);
}

static void test_read_only(void)
{
	char *p = tmp_file(NULL, 65536);
	uint8_t buf[4096], back[4096];
	struct tb t;
	struct tq q;
	int fd;

	CHECK(p);
	pat_fill(buf, sizeof(buf), 8192, 9);
	fd = open(p, O_WRONLY | O_CLOEXEC);
	CHECK(fd >= 0);
	CHECK_EQ(pwrite(fd, buf, sizeof(buf), 8192), sizeof(buf));
	close(fd);
	CHECK(!chmod(p, 0444));

	CHECK_EQ(TB_OPEN(&t, "file", path_word(p), "readonly=on"), 0);
	CHECK(t.info.read_only);
	CHECK(!t.info.can_discard && !t.info.can_zero);
	tq_open(&q, &t, 2);
	CHECK_EQ(tq_run(&q, VDK_BIO_READ, 0, 8192, 4096,
			(struct iovec[]){ { back, 4096 } }, 1), 0);
	check_bytes(back, buf, 4096, 8192, "read-only");
	CHECK_EQ(tq_run(&q, VDK_BIO_WRITE, 0, 0, 4096,
			(struct iovec[]){ { back, 4096 } }, 1), -EROFS);
	CHECK_EQ(tq_run(&q, VDK_BIO_ZERO, 0, 0, 4096, NULL, 0), -EROFS);
	CHECK_EQ(tq_run(&q, VDK_BIO_DISCARD, 0, 0, 4096, NULL, 0), -EROFS);
	CHECK_EQ(tq_run(&q, VDK_BIO_FLUSH, 0, 0, 0, NULL, 0), 0);
	tq_close(&q);
	tb_close(&t);
}

/* Truncated under the backend: reads past the new end fail with -EIO. */
static void test_truncated(bool direct)
{
	uint64_t size = 1 << 20;
	char *p = tmp_file(NULL, size);
	uint8_t *buf;
	struct tb t;
	struct tq q;

	CHECK(p);
	if (TB_OPEN(&t, "file", path_word(p), direct ? "direct=on" : "direct=off")) {
		CHECK(direct);
		return;
	}
	CHECK(!posix_memalign((void **)&buf, 4096, 8192));
	tq_open(&q, &t, 2);
	pat_fill(buf, 8192, size / 2 - 4096, 3);
	CHECK_EQ(tq_run(&q, VDK_BIO_WRITE, 0, size / 2 - 4096, 8192,
			(struct iovec[]){ { buf, 8192 } }, 1), 0);
	CHECK(!truncate(p, size / 2));
	CHECK_EQ(tq_run(&q, VDK_BIO_READ, 0, size / 2 + 4096, 4096,
			(struct iovec[]){ { buf, 4096 } }, 1), -EIO);
	/* Straddling the end: a short read, then nothing more. */
	CHECK_EQ(tq_run(&q, VDK_BIO_READ, 0, size / 2 - 4096, 8192,
			(struct iovec[]){ { buf, 1000 }, { buf + 1000, 7192 } },
			2), -EIO);
	CHECK_EQ(tq_run(&q, VDK_BIO_READ, 0, size / 2 - 4096, 4096,
			(struct iovec[]){ { buf, 4096 } }, 1), 0);
	/* The device shrank: so does its size. */
	CHECK_EQ(t.ops->info(t.b, &t.info), 0);
	CHECK_EQ(t.info.size, size / 2);
	tq_close(&q);
	tb_close(&t);
	free(buf);
}

/* A queue holds @depth bios; one more is refused without done(). */
static void test_queue_full(void)
{
	char *p = tmp_file(NULL, 65536);
	struct tbio bios[5], *batch[4];
	uint8_t buf[5][512];
	struct iovec iov[5];
	struct tb t;
	struct tq q;
	int i;

	CHECK(p);
	CHECK_EQ(TB_OPEN(&t, "file", path_word(p)), 0);
	tq_open(&q, &t, 4);
	for (i = 0; i < 5; i++) {
		iov[i] = (struct iovec){ buf[i], 512 };
		bios[i] = (struct tbio){ .bio = {
			.op = VDK_BIO_READ,
			.offset = 512 * i,
			.len = 512,
			.iov = &iov[i],
			.iovcnt = 1,
		} };
	}
	if (on_tmpfs(p)) {
		/* Served inline: each bio is done when submit returns. */
		for (i = 0; i < 5; i++) {
			CHECK_EQ(tq_submit(&q, &bios[i]), 0);
			CHECK_EQ(bios[i].calls, 1);
			CHECK_EQ(bios[i].result, 0);
		}
		tq_close(&q);
		tb_close(&t);
		return;
	}
	for (i = 0; i < 4; i++) {
		CHECK_EQ(tq_submit(&q, &bios[i]), 0);
		batch[i] = &bios[i];
	}
	CHECK_EQ(tq_submit(&q, &bios[4]), -EBUSY);
	CHECK_EQ(bios[4].calls, 0);
	tq_commit(&q);
	tq_wait(&q, batch, 4);
	for (i = 0; i < 4; i++)
		CHECK_EQ(bios[i].result, 0);
	/* A slot is free again. */
	CHECK_EQ(tq_submit(&q, &bios[4]), 0);
	tq_commit(&q);
	batch[0] = &bios[4];
	tq_wait(&q, batch, 1);
	CHECK_EQ(bios[4].result, 0);
	tq_close(&q);
	tb_close(&t);
}

/* The backend's descriptor for @path, found in /proc/self/fd. */
static int find_fd(const char *path)
{
	char link[64], target[1100];
	int fd, found = -1;
	ssize_t n;

	for (fd = 3; fd < 1024; fd++) {
		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		n = readlink(link, target, sizeof(target) - 1);
		if (n < 0)
			continue;
		target[n] = '\0';
		if (!strcmp(target, path)) {
			CHECK(found < 0);
			found = fd;
		}
	}
	return found;
}

/*
 * Errors from the kernel reach done() as they are: the backend's
 * descriptor is swapped under it for a read-only one, so every write
 * fails with EBADF.
 */
static void test_kernel_errors(void)
{
	char *p = tmp_file(NULL, 65536);
	uint8_t buf[4096];
	struct tb t;
	struct tq q;
	int fd, ro;

	CHECK(p);
	CHECK_EQ(TB_OPEN(&t, "file", path_word(p)), 0);
	fd = find_fd(p);
	if (fd < 0) {
		fprintf(stderr, "skipping kernel errors: no /proc/self/fd\n");
		tb_close(&t);
		return;
	}
	ro = open(p, O_RDONLY | O_CLOEXEC);
	CHECK(ro >= 0);
	CHECK_EQ(dup3(ro, fd, O_CLOEXEC), fd);
	close(ro);
	tq_open(&q, &t, 4);
	memset(buf, 1, sizeof(buf));
	CHECK_EQ(tq_run(&q, VDK_BIO_WRITE, 0, 0, 4096,
			(struct iovec[]){ { buf, 4096 } }, 1), -EBADF);
	CHECK_EQ(tq_run(&q, VDK_BIO_WRITE, VDK_BIO_F_FUA, 4096, 4096,
			(struct iovec[]){ { buf, 4096 } }, 1), -EBADF);
	CHECK_EQ(tq_run(&q, VDK_BIO_ZERO, 0, 0, 4096, NULL, 0), -EBADF);
	CHECK_EQ(tq_run(&q, VDK_BIO_ZERO, VDK_BIO_F_UNMAP, 0, 4096, NULL, 0),
		 -EBADF);
	CHECK_EQ(tq_run(&q, VDK_BIO_DISCARD, 0, 0, 4096, NULL, 0), -EBADF);
	/* Reads still work, and read what was there: zeros. */
	CHECK_EQ(tq_run(&q, VDK_BIO_READ, 0, 0, 4096,
			(struct iovec[]){ { buf, 4096 } }, 1), 0);
	CHECK(buf[0] == 0 && !memcmp(buf, buf + 1, sizeof(buf) - 1));
	tq_close(&q);
	tb_close(&t);
}

/*
 * A file in memory: large transfers, several in flight at once, go to
 * io_uring's workers concurrently (IOSQE_ASYNC); each lands where it
 * should, completed once, and the reads see the writes.
 */
static void test_large_in_flight(void)
{
	enum { N = 8, LEN = 1 << 20 };
	uint64_t size = (uint64_t)N * LEN;
	char *p = tmp_file("/dev/shm", size);
	struct tbio bios[N], *list[N];
	struct iovec iov[N];
	uint8_t *buf, *back;
	struct tb t;
	struct tq q;
	int i, op;

	if (!p) {
		fprintf(stderr, "skipping large transfers: no /dev/shm\n");
		return;
	}
	buf = malloc(size);
	back = calloc(1, size);
	CHECK(buf && back);
	/* A seed per MiB: the pattern alone repeats every MiB. */
	for (i = 0; i < N; i++)
		pat_fill(buf + (size_t)i * LEN, LEN, (uint64_t)i * LEN, 7 + i);
	CHECK_EQ(TB_OPEN(&t, "file", path_word(p)), 0);
	tq_open(&q, &t, N);
	for (op = 0; op < 2; op++) {
		for (i = 0; i < N; i++) {
			/* Every other one from the end: not in order. */
			uint64_t at = (uint64_t)(i % 2 ? N - 1 - i / 2 : i / 2) * LEN;

			iov[i].iov_base = (op ? back : buf) + at;
			iov[i].iov_len = LEN;
			bios[i] = (struct tbio){
				.bio = {
					.op = op ? VDK_BIO_READ : VDK_BIO_WRITE,
					.offset = at,
					.len = LEN,
					.iov = &iov[i],
					.iovcnt = 1,
				},
			};
			list[i] = &bios[i];
			CHECK_EQ(tq_submit(&q, &bios[i]), 0);
		}
		tq_commit(&q);
		tq_wait(&q, list, N);
		for (i = 0; i < N; i++) {
			CHECK_EQ(bios[i].calls, 1);
			CHECK_EQ(bios[i].result, 0);
		}
	}
	check_bytes(back, buf, size, 0, "large transfers in flight");
	tq_close(&q);
	tb_close(&t);
	free(buf);
	free(back);
	unlink(p);
}

/*
 * The bounce buffer registered as the ring's fixed buffer: one vector
 * inside it goes as READ_FIXED / WRITE_FIXED (counted), anything else as
 * before, and every byte lands where it should.  Transfers of 256 KiB go
 * through the ring even on tmpfs (above the inline limit).
 */
static bool test_fixed_mem(const char *dir, bool direct)
{
	enum { MEM = 4 << 20, LEN = 256 << 10, N = 8 };
	uint64_t size = (uint64_t)N * LEN;
	char *p = tmp_file(dir, size);
	uint8_t *mem, *want, *other;
	struct iovec iov[2];
	uint64_t fixed = 0;
	struct tb t;
	struct tq q;
	int i, ret;

	if (!p)
		return false;
	ret = TB_OPEN(&t, "file", path_word(p),
		      direct ? "direct=on" : "direct=off");
	if (ret && direct && strstr(t.err, "does not support O_DIRECT")) {
		unlink(p);
		return false;
	}
	CHECK_EQ(ret, 0);
	mem = mmap(NULL, MEM, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(mem != MAP_FAILED);
	want = malloc(size);
	other = aligned_alloc(4096, LEN);
	CHECK(want && other);
	pat_fill(want, size, 0, 11);
	tq_open(&q, &t, 4);
	CHECK(t.ops->queue_set_mem);
	CHECK_EQ(t.ops->queue_set_mem(q.q, mem, MEM), 0);
	CHECK_EQ(t.ops->queue_set_mem(q.q, mem, MEM), -EBUSY);

	/* Writes: from the region's far end, inward, one vector each. */
	for (i = 0; i < N; i++) {
		uint8_t *at = mem + MEM - (size_t)(i + 1) * LEN;

		memcpy(at, want + (size_t)i * LEN, LEN);
		iov[0] = (struct iovec){ at, LEN };
		CHECK_EQ(tq_run(&q, VDK_BIO_WRITE, 0, (uint64_t)i * LEN, LEN,
				iov, 1), 0);
		fixed++;
	}
	CHECK_EQ(vdk__file_fixed_ios(q.q), fixed);
	/* Reads into the region at other places, one vector each. */
	memset(mem, 0, MEM);
	for (i = 0; i < N; i++) {
		iov[0] = (struct iovec){ mem + (size_t)i * LEN, LEN };
		CHECK_EQ(tq_run(&q, VDK_BIO_READ, 0, (uint64_t)i * LEN, LEN,
				iov, 1), 0);
		fixed++;
	}
	CHECK_EQ(vdk__file_fixed_ios(q.q), fixed);
	check_bytes(mem, want, size, 0, "fixed-buffer transfers");
	/*
	 * Outside the region: not fixed.  Two vectors inside it: fixed
	 * where the kernel has READV_FIXED.  Right either way.
	 */
	iov[0] = (struct iovec){ other, LEN };
	CHECK_EQ(tq_run(&q, VDK_BIO_READ, 0, LEN, LEN, iov, 1), 0);
	check_bytes(other, want + LEN, LEN, LEN, "outside the region");
	memset(mem, 0, MEM);
	iov[0] = (struct iovec){ mem + MEM - LEN / 2, LEN / 2 };
	iov[1] = (struct iovec){ mem, LEN / 2 };
	CHECK_EQ(tq_run(&q, VDK_BIO_READ, 0, 2 * LEN, LEN, iov, 2), 0);
	check_bytes(mem + MEM - LEN / 2, want + 2 * LEN, LEN / 2, 2 * LEN,
		    "two vectors, first half");
	check_bytes(mem, want + 2 * LEN + LEN / 2, LEN / 2,
		    2 * LEN + LEN / 2, "two vectors, second half");
	if (vdk__file_vec_fixed(q.q))
		fixed++;
	else
		fprintf(stderr, "no READV_FIXED here: two vectors go as "
			"readv\n");
	/* Two vectors written, read back as one. */
	pat_fill(want + 3 * LEN, LEN, 3 * LEN, 12);
	memcpy(mem + LEN, want + 3 * LEN, LEN / 2);
	memcpy(mem + 3 * LEN, want + 3 * LEN + LEN / 2, LEN / 2);
	iov[0] = (struct iovec){ mem + LEN, LEN / 2 };
	iov[1] = (struct iovec){ mem + 3 * LEN, LEN / 2 };
	CHECK_EQ(tq_run(&q, VDK_BIO_WRITE, 0, 3 * LEN, LEN, iov, 2), 0);
	fixed += vdk__file_vec_fixed(q.q);
	iov[0] = (struct iovec){ other, LEN };
	CHECK_EQ(tq_run(&q, VDK_BIO_READ, 0, 3 * LEN, LEN, iov, 1), 0);
	check_bytes(other, want + 3 * LEN, LEN, 3 * LEN,
		    "two vectors written");
	CHECK_EQ(vdk__file_fixed_ios(q.q), fixed);
	tq_close(&q);
	tb_close(&t);
	munmap(mem, MEM);
	free(want);
	free(other);
	unlink(p);
	return true;
}

int main(void)
{
	test_open_errors();
	test_permission();
	test_read_only();
	test_truncated(false);
	test_truncated(true);
	test_queue_full();
	test_kernel_errors();
	test_direct_paths();

	CHECK(test_io(NULL, false, "block-size=512"));
	if (!test_io(NULL, true, "block-size=512"))
		fprintf(stderr, "skipping direct=on: not supported here\n");
	CHECK(test_io(NULL, false, "block-size=4096"));
	test_io(NULL, true, "block-size=4096");
	/* tmpfs, when there is one. */
	if (!test_io("/dev/shm", false, "block-size=512"))
		fprintf(stderr, "skipping /dev/shm\n");
	test_io("/dev/shm", true, "block-size=512");
	/* Transfers past the inline limit, through the ring. */
	test_io("/dev/shm", false, "block-size=4096");
	test_large_in_flight();
	CHECK(test_fixed_mem(NULL, false));
	if (!test_fixed_mem(NULL, true))
		fprintf(stderr, "skipping fixed buffers with direct=on\n");
	test_fixed_mem("/dev/shm", false);
	return T_EXIT_PASS;
}
