// SPDX-License-Identifier: MIT
/*
 * vdk up and vdk down: a declared device (conf.h) brought up with add or
 * recover, whichever fits, and taken down with del.  Glue: the file
 * becomes the command line those verbs parse.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "cli.h"
#include "conf.h"
#include "state.h"
#include "sysfs.h"

const char vdk_up_usage[] =
"Usage: vdk up [OPTIONS] NAME\n"
"\n"
"Bring up the device NAME declared in /etc/vdk/NAME.conf ($VDK_CONF_DIR\n"
"overrides the directory): `vdk recover` when its kernel device is there\n"
"with a state file and no daemon (the daemon died: no I/O is lost), else\n"
"`vdk add` with the file's settings.  In the foreground unless -d, so\n"
"that systemd supervises it (vdk@NAME.service): READY=1 once it is live.\n"
"\n"
"Options:\n"
"  -d, --daemon           go to the background once the device is live\n"
"  -p, --pidfile FILE     write the daemon's pid there\n"
"  -j, --json             print the device as JSON\n"
"      --log FILE         log there (default: syslog with -d, else stderr)\n"
"  -v, --verbose          log more\n"
"      --timeout SECS     wait that long for the device (default 30)\n"
"  -h, --help             this text\n"
"\n"
"The file: one KEY=VALUE a line, '#' comments.  Keys: type=blk|net,\n"
"backend=NAME, param.KEY=VALUE (a backend parameter; params=K=V K=V for\n"
"several), bus=virtio|vhost, ring=split|packed, in-order=yes|no,\n"
"bounce=umem|kernel, bounce-size=BYTES,\n"
"user=NAME, confine=yes|no, timeout=SECS, log=FILE, and the model's\n"
"options by their long name (queues=2, read-only=yes, mac=..., mtu=...).\n"
"Example:\n"
"  type=blk\n"
"  backend=file\n"
"  param.path=/srv/disk0.img\n"
"  queues=2\n";

const char vdk_down_usage[] =
"Usage: vdk down [--timeout SECS] NAME\n"
"\n"
"Take the device NAME down: what `vdk del NAME` does.\n"
"\n"
"Options:\n"
"      --timeout SECS   wait that long for the daemon (default 30)\n"
"  -h, --help           this text\n";

/* Whether the kernel device waits for a daemon: recover, not add. */
static bool wants_recover(const char *name)
{
	struct vdk_state st;
	bool orphan;

	if (!vdk_sys_vduse_exists(name) || vdk_state_read(name, &st, NULL, 0))
		return false;
	orphan = !(st.pid > 0 && vdk_pid_is_vdk(st.pid));
	vdk_state_free(&st);
	return orphan;
}

int vdk_cmd_up(int argc, char **argv)
{
	char err[VDK_MODEL_ERR_MAX + 4096] = "";
	struct vdk_conf conf;
	struct vdk_up_args a;
	int code, n = 0, ret;
	char **args = NULL;
	bool recover;

	if (vdk_args_up(argc, argv, &a, err, sizeof(err))) {
		vdk_cli_err("up", "%s", err);
		return VDK_EXIT_USAGE;
	}
	if (a.help) {
		fputs(vdk_up_usage, stdout);
		return VDK_EXIT_OK;
	}
	ret = vdk_conf_load(a.name, &conf, err, sizeof(err));
	if (ret) {
		vdk_cli_err("up", "%s", err);
		vdk_conf_free(&conf);
		return ret == -EINVAL ? VDK_EXIT_USAGE :
		       ret == -ENOENT ? VDK_EXIT_NODEV : VDK_EXIT_FAIL;
	}
	recover = wants_recover(a.name);
	ret = vdk_conf_argv(&conf, a.name, vdk_models, recover, a.nopts,
			    a.opts, &n, &args, err, sizeof(err));
	if (ret) {
		vdk_cli_err("up", "%s", err);
		code = ret == -EINVAL ? VDK_EXIT_USAGE : VDK_EXIT_FAIL;
		goto out;
	}
	if (!recover) {
		/* A setting missing from the file: say which file. */
		struct vdk_add_args t;
		char msg[VDK_MODEL_ERR_MAX] = "";

		ret = vdk_args_add(n, args, vdk_models, &t, msg, sizeof(msg));
		vdk_args_add_free(&t);
		if (ret) {
			vdk_cli_err("up", "%s: %s", conf.path, msg);
			code = VDK_EXIT_USAGE;
			goto out;
		}
	} else {
		fprintf(stderr, "vdk: up: '%s' has no daemon: recovering it\n",
			a.name);
	}
	code = recover ? vdk_cmd_recover(n, args) : vdk_cmd_add(n, args);
out:
	vdk_conf_argv_free(n, args);
	vdk_conf_free(&conf);
	return code;
}

int vdk_cmd_down(int argc, char **argv)
{
	struct vdk_del_args a;
	char err[256];

	/* Its own usage; the rest is del's. */
	if (vdk_args_del(argc, argv, &a, err, sizeof(err))) {
		vdk_cli_err("down", "%s", err);
		return VDK_EXIT_USAGE;
	}
	if (a.help) {
		fputs(vdk_down_usage, stdout);
		return VDK_EXIT_OK;
	}
	return vdk_cmd_del(argc, argv);
}
