/* SPDX-License-Identifier: MIT */
/*
 * A client that truncates the memory file it gave the device, while the
 * device holds a request pointing into it (a VMM shrinking its memfd on
 * the vhost bus).  With vdk_sigbus_guard() the device reads zeros there
 * and writes go nowhere, instead of dying of SIGBUS; the pages are
 * counted; the request completes.  A SIGBUS anywhere else still ends the
 * process, as it would without the guard.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "env.h"
#include "internal.h"

#define DATA 0x40000
#define DATA_LEN 0x10000

/* Outside every mapping of driver memory: the guard must stay out. */
static void unguarded_sigbus_still_kills(void)
{
	int status, fd;
	pid_t pid;

	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		volatile unsigned char *p;
		int null = open("/dev/null", O_WRONLY);

		/* A sanitizer reports the fault: not news here. */
		if (null >= 0)
			dup2(null, STDERR_FILENO);
		fd = memfd_create("vdk-test-unguarded", MFD_CLOEXEC);
		if (fd < 0 || ftruncate(fd, 4096))
			_exit(3);
		p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
		if (p == MAP_FAILED || ftruncate(fd, 0))
			_exit(3);
		(void)p[0];
		_exit(0); /* the guard swallowed it */
	}
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	/* SIGBUS itself, or a sanitizer's abort or exit for it. */
	if (WIFSIGNALED(status))
		CHECK(WTERMSIG(status) == SIGBUS || WTERMSIG(status) == SIGABRT);
	else
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) != 0 &&
		      WEXITSTATUS(status) != 3);
}

/* Entries of /proc/self/maps that overlap [lo, hi). */
static unsigned int map_entries(uintptr_t lo, uintptr_t hi)
{
	FILE *f = fopen("/proc/self/maps", "r");
	unsigned long a, b;
	unsigned int n = 0;
	char line[512];

	CHECK(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%lx-%lx", &a, &b) == 2 && a < hi && b > lo)
			n++;
	fclose(f);
	return n;
}

/*
 * Faults all over a truncated region, from its end down and every other
 * page: the region stays in at most two map entries.  Replacing one page
 * per fault split it at every page, until the process ran out of map
 * entries and the guard's own mmap failed.
 */
static void faults_keep_map_entries_bounded(void)
{
	const uint64_t region = 0x100000, len = 64 * 4096;
	const uint64_t cuts[] = { region, region + len };
	struct sim_buf b[2] = {
		{ 0x8000, 16, false },
		{ region, len, true },
	};
	volatile unsigned char *p;
	uint64_t pages = vdk_sigbus_pages();
	struct vdk_req *req;
	struct env e;
	int fd, head;

	env_init(&e, &(struct env_cfg){ .mem = 2u << 20,
					.no_driver_ok = true });
	CHECK_EQ(sim_cut(e.s, cuts, 2), 0);
	vdk_dev_process(e.dev);
	fd = sim_region_memfd(e.s, region);
	CHECK(fd >= 0);
	env_driver_ok(&e);
	head = sim_vq_add(e.s, 0, b, 2, 0);
	CHECK(head >= 0);
	req = env_pop_one(&e, head);
	CHECK_EQ(req->n_in, 1);
	p = req->iov[1].iov_base;
	CHECK_EQ(map_entries((uintptr_t)p, (uintptr_t)p + len), 1);
	CHECK_EQ(ftruncate(fd, 0), 0);
	for (int i = 63; i >= 0; i -= 2) {
		CHECK_EQ(p[(size_t)i * 4096 + 7], 0);
		p[(size_t)i * 4096] = 1;
		CHECK(map_entries((uintptr_t)p, (uintptr_t)p + len) <= 2);
	}
	CHECK_EQ(vdk_sigbus_pages() - pages, 63);
	CHECK_EQ(p[5], 0);
	CHECK_EQ(vdk_sigbus_pages() - pages, 64);
	CHECK(map_entries((uintptr_t)p, (uintptr_t)p + len) <= 2);
	env_complete(&e, req, 0);
	env_fini(&e);
	close(fd);
}

/*
 * With the guard's table full, a mapping is refused rather than used
 * unguarded: the request that needed it fails, the device lives on,
 * and with room again the same request goes through.
 */
static void full_guard_refuses_mappings(void)
{
	static char filler[VDK_GUARD_SLOTS];
	static int slot[VDK_GUARD_SLOTS];
	struct sim_buf b[2] = {
		{ 0x8000, 16, false },
		{ 0x9000, 64, true },
	};
	unsigned int n = 0;
	struct env e;
	int head;

	const uint64_t cuts[] = { 0x8000, 0xa000 };
	const struct sim_buf near = { 0x4000, 16, false };

	env_init(&e, &(struct env_cfg){ 0 });
	/* The rings' region mapped (a request beside them), not the data's. */
	CHECK_EQ(sim_cut(e.s, cuts, 2), 0);
	vdk_dev_process(e.dev);
	head = sim_vq_add(e.s, 0, &near, 1, 0);
	CHECK(head >= 0);
	env_complete(&e, env_pop_one(&e, head), 0);
	/* Fill every slot left. */
	while ((slot[n] = vdk__guard_add(&filler[n], 1)) >= 0)
		n++;
	CHECK_EQ(slot[n], -ENOSPC);
	CHECK(n > 0 && n < VDK_GUARD_SLOTS);
	head = sim_vq_add(e.s, 0, b, 2, 0);
	CHECK(head >= 0);
	env_expect_refused(&e, head);
	vdk__guard_del(slot[0]);
	head = sim_vq_add(e.s, 0, b, 2, 0);
	CHECK(head >= 0);
	env_complete(&e, env_pop_one(&e, head), 0);
	for (unsigned int i = 1; i < n; i++)
		vdk__guard_del(slot[i]);
	env_fini(&e);
}

int main(void)
{
	const uint64_t cuts[] = { DATA, DATA + DATA_LEN };
	struct sim_buf b[2] = {
		{ DATA, 16, false },
		{ DATA + 0x2000, 64, true },
	};
	volatile const unsigned char *in;
	struct vdk_req *req;
	struct env e;
	int fd, head;

	CHECK_EQ(vdk_sigbus_guard(), 0);
	CHECK_EQ(vdk_sigbus_guard(), 0); /* once is enough, twice is fine */
	CHECK_EQ(vdk_sigbus_pages(), 0);

	env_init(&e, &(struct env_cfg){ .no_driver_ok = true });
	CHECK_EQ(sim_cut(e.s, cuts, 2), 0);
	vdk_dev_process(e.dev);
	fd = sim_region_memfd(e.s, DATA);
	CHECK(fd >= 0);
	env_driver_ok(&e);

	sim_fill(e.s, DATA, 0xab, 16);
	head = sim_vq_add(e.s, 0, b, 2, 0);
	CHECK(head >= 0);
	req = env_pop_one(&e, head);
	CHECK_EQ(req->n_out, 1);
	CHECK_EQ(req->n_in, 1);
	in = req->iov[0].iov_base;
	CHECK_EQ(in[0], 0xab);

	/*
	 * The client takes its memory back under the request: the first
	 * fault replaces the whole region, since a truncated file loses
	 * everything after the faulting page too.
	 */
	CHECK_EQ(ftruncate(fd, 0), 0);
	CHECK_EQ(in[5], 0);
	CHECK_EQ(vdk_sigbus_pages(), DATA_LEN / 4096);
	memset(req->iov[1].iov_base, 0x5a, 64); /* another page */
	CHECK_EQ(vdk_sigbus_pages(), DATA_LEN / 4096);
	CHECK_EQ(((unsigned char *)req->iov[1].iov_base)[63], 0x5a);
	env_complete(&e, req, 64);

	/* The device goes on: the next request, on memory still there. */
	b[0].iova = 0x8000;
	b[1].iova = 0x9000;
	sim_fill(e.s, 0x8000, 0xcd, 16);
	head = sim_vq_add(e.s, 0, b, 2, 0);
	CHECK(head >= 0);
	req = env_pop_one(&e, head);
	CHECK_EQ(((unsigned char *)req->iov[0].iov_base)[15], 0xcd);
	env_complete(&e, req, 64);
	CHECK_EQ(vdk_sigbus_pages(), DATA_LEN / 4096);

	env_fini(&e);
	close(fd);
	faults_keep_map_entries_bounded();
	full_guard_refuses_mappings();
	unguarded_sigbus_still_kills();
	return T_EXIT_PASS;
}
