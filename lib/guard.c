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
 * Every mapping the IOTLB makes is registered here first (vdk__guard_add(),
 * in a fixed table that a signal handler can read without a lock); a
 * mapping the table has no room for is not used at all.  Once
 * vdk_sigbus_guard() has installed the handler, a SIGBUS at an address
 * inside a registered mapping puts private zero pages over the faulting
 * page and everything after it in the mapping, and returns: the access
 * is retried and goes on, on memory the client took away anyway (reads
 * see zeros, writes go nowhere), and vdk_sigbus_pages() counts the pages
 * for the application to report.  Any other SIGBUS goes to the handler
 * that was there before, or takes the default action, as if the guard
 * were not there.
 *
 * Why the whole rest of the mapping: a truncated file loses its tail, so
 * every page after a faulting one faults too; and one replacement per
 * fault keeps a mapping at two pieces (the file's, then zeros) however
 * many pages fault, where a page at a time would split it once per page
 * and, enough pages later, run the process out of map entries, at which
 * point the handler's own mmap fails and the SIGBUS kills after all.
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

/*
 * A slot is free when start is 0; end and zeroed are written before
 * start.  zeroed: where the zero pages begin (end: none yet); it only
 * moves down.
 */
static struct {
	_Atomic uintptr_t start, end, zeroed;
} slots[VDK_GUARD_SLOTS];

/* Free slots, a stack under slots_lock: adding and removing is O(1). */
static pthread_mutex_t slots_lock = PTHREAD_MUTEX_INITIALIZER;
static int free_slot[VDK_GUARD_SLOTS];
static unsigned int n_free;
static bool free_ready;
static _Atomic uint64_t pages_replaced;
static struct sigaction old_action;
static pthread_once_t install_once = PTHREAD_ONCE_INIT;
static int install_err;
static uintptr_t page_size;

static uintptr_t page_mask(void)
{
	if (!page_size)
		page_size = (uintptr_t)sysconf(_SC_PAGESIZE);
	return ~(page_size - 1);
}

int vdk__guard_add(const void *addr, size_t len)
{
	uintptr_t start = (uintptr_t)addr, end;
	int i = -ENOSPC;

	if (!start || !len)
		return -EINVAL;
	/* The mapping covers whole pages: so do we. */
	end = ((start + len - 1) & page_mask()) + page_size;
	pthread_mutex_lock(&slots_lock);
	if (!free_ready) {
		for (n_free = 0; n_free < VDK_GUARD_SLOTS; n_free++)
			free_slot[n_free] = VDK_GUARD_SLOTS - 1 - (int)n_free;
		free_ready = true;
	}
	if (n_free) {
		i = free_slot[--n_free];
		atomic_store_explicit(&slots[i].end, end,
				      memory_order_relaxed);
		atomic_store_explicit(&slots[i].zeroed, end,
				      memory_order_relaxed);
		atomic_store_explicit(&slots[i].start, start,
				      memory_order_release);
	}
	pthread_mutex_unlock(&slots_lock);
	return i;
}

void vdk__guard_del(int i)
{
	if (i < 0 || i >= VDK_GUARD_SLOTS)
		return;
	pthread_mutex_lock(&slots_lock);
	if (atomic_load_explicit(&slots[i].start, memory_order_relaxed)) {
		atomic_store_explicit(&slots[i].start, 0,
				      memory_order_release);
		free_slot[n_free++] = i;
	}
	pthread_mutex_unlock(&slots_lock);
}

/*
 * Put zero pages from @a's page to where the zeros already begin.  Two
 * threads faulting in one mapping at once: the one that moves zeroed
 * down maps; the other finds zeroed at or below its page and returns, to
 * fault again until the first is done.  Async-signal-safe: atomics and
 * mmap.  Returns false if the mapping could not be replaced.
 */
static bool replace_tail(unsigned int i, uintptr_t a)
{
	uintptr_t page = a & ~(page_size - 1);
	uintptr_t z = atomic_load_explicit(&slots[i].zeroed,
					   memory_order_acquire);

	while (page < z) {
		if (atomic_compare_exchange_weak_explicit(
			    &slots[i].zeroed, &z, page, memory_order_acq_rel,
			    memory_order_acquire))
			break;
	}
	if (page >= z)
		return true; /* replaced already, or being replaced */
	if (mmap((void *)page, z - page, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1,
		 0) == MAP_FAILED) {
		atomic_store_explicit(&slots[i].zeroed, z,
				      memory_order_release);
		return false;
	}
	atomic_fetch_add_explicit(&pages_replaced, (z - page) / page_size,
				  memory_order_relaxed);
	return true;
}

/* The slot of the mapping that holds @a, or -1.  Atomics only. */
static int guarded(uintptr_t a)
{
	unsigned int i;

	for (i = 0; i < VDK_GUARD_SLOTS; i++) {
		uintptr_t s = atomic_load_explicit(&slots[i].start,
						   memory_order_acquire);

		if (s && a >= (s & ~(page_size - 1)) &&
		    a < atomic_load_explicit(&slots[i].end,
					     memory_order_relaxed))
			return (int)i;
	}
	return -1;
}

static void on_sigbus(int sig, siginfo_t *si, void *uctx)
{
	uintptr_t a = (uintptr_t)si->si_addr;
	struct sigaction dfl;
	int saved = errno, i = -1;

	if (si->si_code == BUS_ADRERR || si->si_code == BUS_OBJERR)
		i = guarded(a);
	if (i >= 0 && replace_tail((unsigned int)i, a)) {
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

	page_mask();
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigbus;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGBUS, &sa, &old_action))
		install_err = -errno;
}

VDK_EXPORT int vdk_sigbus_guard(void)
{
	pthread_once(&install_once, install);
	return install_err;
}

VDK_EXPORT uint64_t vdk_sigbus_pages(void)
{
	return atomic_load_explicit(&pages_replaced, memory_order_relaxed);
}
