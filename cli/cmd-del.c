// SPDX-License-Identifier: MIT
/*
 * vdk del: stop the daemon of a device, or remove an orphan device.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "args.h"
#include "cli.h"
#include "state.h"
#include "sysfs.h"

const char vdk_del_usage[] =
"Usage: vdk del [--timeout SECS] NAME\n"
"\n"
"Remove device NAME: its daemon gets SIGTERM and takes the device off the\n"
"vDPA bus, stops the queues and destroys it; vdk del returns once the\n"
"daemon has exited.  A device that no process serves (an orphan) is\n"
"detached and destroyed here; detaching it may take the kernel's message\n"
"timeout (30 s) since nobody answers it.\n"
"\n"
"Options:\n"
"      --timeout SECS   wait that long for the daemon (default 30)\n"
"  -h, --help           this text\n";

#define POLL_MS 20

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Wait until @pid has exited (it is not our child: a pidfd where the
 * kernel has them, else /proc).  0, or -ETIMEDOUT.
 */
static int wait_exit(pid_t pid, unsigned int timeout_s)
{
	uint64_t deadline = now_ms() + (uint64_t)timeout_s * 1000;
	struct pollfd pfd = { .fd = -1, .events = POLLIN };
	int ret = -ETIMEDOUT;

#ifdef SYS_pidfd_open
	pfd.fd = syscall(SYS_pidfd_open, pid, 0);
#endif
	while (now_ms() < deadline) {
		if (!vdk_pid_is_vdk(pid)) {
			ret = 0;
			break;
		}
		if (pfd.fd >= 0) {
			uint64_t left = deadline - now_ms();

			if (poll(&pfd, 1, left > 1000 ? 1000 : left) > 0) {
				ret = 0;
				break;
			}
		} else {
			sleep_ms(POLL_MS);
		}
	}
	if (pfd.fd >= 0)
		close(pfd.fd);
	return ret;
}

int vdk_cmd_del(int argc, char **argv)
{
	char err[256], path[4096], comm[64];
	struct vdk_del_args a;
	struct vdk_state st;
	pid_t pid = 0, holder;
	bool has_state;

	if (vdk_args_del(argc, argv, &a, err, sizeof(err))) {
		vdk_cli_err("del", "%s", err);
		return VDK_EXIT_USAGE;
	}
	if (a.help) {
		fputs(vdk_del_usage, stdout);
		return VDK_EXIT_OK;
	}
	if (!vdk_is_root()) {
		vdk_cli_err("del", "must be run as root");
		return VDK_EXIT_PERM;
	}

	has_state = vdk_state_read(a.name, &st, NULL, 0) == 0;
	if (has_state && vdk_pid_is_vdk(st.pid))
		pid = st.pid;
	if (has_state)
		vdk_state_free(&st);
	if (!pid &&
	    vdk_path(path, sizeof(path), VDK_ROOT_DEV, "vduse/%s",
		     a.name) == 0) {
		/* A daemon still starting has written no state yet. */
		holder = vdk_find_holder(path);
		if (holder > 0 && vdk_pid_is_vdk(holder)) {
			pid = holder;
		} else if (holder > 0) {
			snprintf(path, sizeof(path), "/proc/%d/comm",
				 (int)holder);
			if (vdk_file_read(path, comm, sizeof(comm)) < 0)
				snprintf(comm, sizeof(comm), "?");
			vdk_cli_err("del",
				    "'%s' is served by process %d (%s), not by vdk",
				    a.name, (int)holder, comm);
			return VDK_EXIT_FAIL;
		}
	}

	if (!pid && !vdk_sys_name_in_use(a.name)) {
		/* A daemon killed with SIGKILL leaves its state behind. */
		if (has_state)
			vdk_state_remove(a.name);
		vdk_cli_err("del", "no such device '%s'", a.name);
		return VDK_EXIT_NODEV;
	}

	if (pid) {
		if (kill(pid, SIGTERM) && errno != ESRCH) {
			vdk_cli_err("del", "cannot signal daemon %d: %s",
				    (int)pid, strerror(errno));
			return VDK_EXIT_FAIL;
		}
		if (wait_exit(pid, a.timeout)) {
			vdk_cli_err("del",
				    "the daemon of '%s' (pid %d) did not exit within %u s",
				    a.name, (int)pid, a.timeout);
			return VDK_EXIT_FAIL;
		}
		if (!vdk_sys_name_in_use(a.name))
			return VDK_EXIT_OK;
		/* It died without cleaning up: finish its work. */
	}
	fprintf(stderr,
		"vdk: del: '%s' has no daemon: removing the orphan device\n",
		a.name);
	return vdk_daemon_remove_orphan(a.name, vdk_models);
}
