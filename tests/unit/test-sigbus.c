/* SPDX-License-Identifier: MIT */
/*
 * A client that truncates the memory file it gave the device, while the
 * device holds a request pointing into it (a VMM shrinking its memfd on
 * the vhost bus).  With vdk_sigbus_guard() the device reads zeros there
 * and writes go nowhere, instead of dying of SIGBUS; the pages are
 * counted; the request completes.  A SIGBUS anywhere else still ends the
 * process, as it would without the guard.
 */
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "env.h"

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

	/* The client takes its memory back under the request. */
	CHECK_EQ(ftruncate(fd, 0), 0);
	CHECK_EQ(in[5], 0);
	CHECK_EQ(vdk_sigbus_pages(), 1);
	memset(req->iov[1].iov_base, 0x5a, 64); /* another page */
	CHECK_EQ(vdk_sigbus_pages(), 2);
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
	CHECK_EQ(vdk_sigbus_pages(), 2);

	env_fini(&e);
	close(fd);
	unguarded_sigbus_still_kills();
	return T_EXIT_PASS;
}
