/* SPDX-License-Identifier: MIT */
/*
 * The SIGBUS guard: a driver that shrinks the file behind its memory.
 *
 * On the vhost bus the IOTLB regions are the client's own memory file (a
 * VMM's memfd, say), mapped shared.  If the client truncates that file
 * while we hold a mapping of it, the next access to a page past its new
 * end raises SIGBUS, whose default action would end the daemon: every
 * device it serves, for one client's misbehaviour.
 *
 * Every mapping the IOTLB makes is registered here (vdk__guard_add(), in a
 * fixed table that a signal handler can read without a lock).  Once
 * vdk_sigbus_guard() has installed the handler, a SIGBUS at an address
 * inside a registered mapping puts a private zero page over the faulting
 * page and returns: the access is retried and goes on, on memory the
 * client took away anyway (reads see zeros, writes go nowhere), and
 * vdk_sigbus_pages() counts it for the application to report.  Any other
 * SIGBUS goes to the handler that was there before, or takes the default
 * action, as if the guard were not there.
 *
 * The table holds GUARD_SLOTS mappings; past that, mappings are not
 * covered (a fault in them ends the process as before).  Clients map a
 * few regions; VDUSE's own bounce file cannot be truncated by anyone.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"

#define GUARD_SLOTS 1024

/* A slot is free when start is 0; end is written before start. */
static struct {
	_Atomic uintptr_t start, end;
} slots[GUARD_SLOTS];

static pthread_mutex_t slots_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic uint64_t pages_replaced;
static struct sigaction old_action;
static pthread_once_t install_once = PTHREAD_ONCE_INIT;
static int install_err;
static uintptr_t page_size;

void vdk__guard_add(const void *addr, size_t len)
{
	uintptr_t start = (uintptr_t)addr;
	unsigned int i;

	if (!start || !len)
		return;
	pthread_mutex_lock(&slots_lock);
	for (i = 0; i < GUARD_SLOTS; i++) {
		if (atomic_load_explicit(&slots[i].start,
					 memory_order_relaxed))
			continue;
		atomic_store_explicit(&slots[i].end, start + len,
				      memory_order_relaxed);
		atomic_store_explicit(&slots[i].start, start,
				      memory_order_release);
		break;
	}
	pthread_mutex_unlock(&slots_lock);
}

void vdk__guard_del(const void *addr)
{
	uintptr_t start = (uintptr_t)addr;
	unsigned int i;

	if (!start)
		return;
	pthread_mutex_lock(&slots_lock);
	for (i = 0; i < GUARD_SLOTS; i++) {
		if (atomic_load_explicit(&slots[i].start,
					 memory_order_relaxed) == start) {
			atomic_store_explicit(&slots[i].start, 0,
					      memory_order_release);
			break;
		}
	}
	pthread_mutex_unlock(&slots_lock);
}

/* Async-signal-safe: atomics only. */
static bool guarded(uintptr_t a)
{
	unsigned int i;

	for (i = 0; i < GUARD_SLOTS; i++) {
		uintptr_t s = atomic_load_explicit(&slots[i].start,
						   memory_order_acquire);

		if (s && a >= s &&
		    a < atomic_load_explicit(&slots[i].end,
					     memory_order_relaxed))
			return true;
	}
	return false;
}

static void on_sigbus(int sig, siginfo_t *si, void *uctx)
{
	uintptr_t a = (uintptr_t)si->si_addr;
	struct sigaction dfl;
	int saved = errno;

	if ((si->si_code == BUS_ADRERR || si->si_code == BUS_OBJERR) &&
	    guarded(a) &&
	    mmap((void *)(a & ~(page_size - 1)), page_size,
		 PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1,
		 0) != MAP_FAILED) {
		atomic_fetch_add_explicit(&pages_replaced, 1,
					  memory_order_relaxed);
		errno = saved;
		return;
	}
	errno = saved;
	/* Not ours: as if we had never been here. */
	if (old_action.sa_flags & SA_SIGINFO) {
		old_action.sa_sigaction(sig, si, uctx);
		return;
	}
	if (old_action.sa_handler != SIG_DFL &&
	    old_action.sa_handler != SIG_IGN) {
		old_action.sa_handler(sig);
		return;
	}
	/* Returning retries the access, which faults again, fatally. */
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigaction(SIGBUS, &dfl, NULL);
}

static void install(void)
{
	struct sigaction sa;

	page_size = (uintptr_t)sysconf(_SC_PAGESIZE);
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigbus;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGBUS, &sa, &old_action))
		install_err = -errno;
}

int vdk_sigbus_guard(void)
{
	pthread_once(&install_once, install);
	return install_err;
}

uint64_t vdk_sigbus_pages(void)
{
	return atomic_load_explicit(&pages_replaced, memory_order_relaxed);
}
