// SPDX-License-Identifier: MIT
/*
 * vdk resize: have the daemon re-read its backend's size.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "cli.h"
#include "state.h"
#include "sysfs.h"

const char vdk_resize_usage[] =
"Usage: vdk resize NAME\n"
"\n"
"Ask the daemon of NAME to read its backend's size again (SIGHUP); if it\n"
"changed, the driver gets a configuration interrupt and sees the new\n"
"capacity.  Grow the file (or the backend) first.  Returns at once: the new\n"
"size shows in `vdk list` when the daemon has applied it.\n"
"\n"
"Options:\n"
"  -h, --help   this text\n";

int vdk_cmd_resize(int argc, char **argv)
{
	struct vdk_resize_args a;
	struct vdk_state st;
	char err[256];
	pid_t pid = 0;

	if (vdk_args_resize(argc, argv, &a, err, sizeof(err))) {
		vdk_cli_err("resize", "%s", err);
		return VDK_EXIT_USAGE;
	}
	if (a.help) {
		fputs(vdk_resize_usage, stdout);
		return VDK_EXIT_OK;
	}
	if (!vdk_is_root()) {
		vdk_cli_err("resize", "must be run as root");
		return VDK_EXIT_PERM;
	}
	if (vdk_state_read(a.name, &st, NULL, 0) == 0) {
		if (vdk_pid_is_vdk(st.pid))
			pid = st.pid;
		vdk_state_free(&st);
	}
	if (!pid) {
		if (vdk_sys_name_in_use(a.name)) {
			vdk_cli_err("resize", "no vdk daemon serves '%s'",
				    a.name);
			return VDK_EXIT_FAIL;
		}
		vdk_cli_err("resize", "no such device '%s'", a.name);
		return VDK_EXIT_NODEV;
	}
	if (kill(pid, SIGHUP)) {
		vdk_cli_err("resize", "cannot signal daemon %d: %s", (int)pid,
			    strerror(errno));
		return VDK_EXIT_FAIL;
	}
	return VDK_EXIT_OK;
}
