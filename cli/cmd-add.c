// SPDX-License-Identifier: MIT
/*
 * vdk add, recover and rescue: the command lines; the daemon does the
 * rest (daemon/daemon.h).
 */
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "cli.h"
#include "print.h"

void vdk_add_usage(FILE *f)
{
	const struct vdk_model_ops *const *m;

	fputs("Usage: vdk add [OPTIONS] [--type TYPE] NAME WORDS...\n", f);
	for (m = vdk_models; *m; m++)
		fprintf(f, "       vdk add [OPTIONS] %s%s%s NAME %s\n",
			m == vdk_models ? "[--type " : "--type ", (*m)->name,
			m == vdk_models ? "]" : "", (*m)->words_usage);
	fputs("\n"
"Create the device NAME of TYPE (default: blk), attach it to the vDPA\n"
"bus and print its node once it is live: on the virtio bus a disk\n"
"(/dev/vdX) or a network interface (its name, e.g. eth1), on the vhost\n"
"bus /dev/vhost-vdpa-N.  Serves it until SIGINT or SIGTERM (or `vdk del\n"
"NAME`); SIGHUP re-reads a disk's size.\n"
"\n"
"Options:\n"
"      --type TYPE        the device model:", f);
	for (m = vdk_models; *m; m++)
		fprintf(f, "%s %s%s", m == vdk_models ? "" : ",", (*m)->name,
			m == vdk_models ? " (default)" : "");
	fputs("\n"
"      --bus virtio|vhost virtio_vdpa, a device of this host (default), or\n"
"                         vhost_vdpa, for a VM or a userspace driver\n"
"      --ring split|packed\n"
"                         the virtqueue formats offered: packed offers\n"
"                         both and the driver chooses, split offers split\n"
"                         rings alone (default: packed on the vhost bus,\n"
"                         split on the virtio bus, where Linux's packed\n"
"                         rings fail I/O when the bounce buffer is full)\n"
"      --in-order         offer VIRTIO_F_IN_ORDER: requests go back to\n"
"                         the driver in the order it made them available\n"
"      --bounce umem|kernel\n"
"                         where the virtio bus's bounce buffer lives: in\n"
"                         the daemon's memory (umem, default, Linux 6.0;\n"
"                         pinned once, huge pages where there are), or in\n"
"                         the kernel's\n"
"      --bounce-size BYTES\n"
"                         its size, with K, M or G: 1M..1G (default: the\n"
"                         kernel's, 64M; Linux 6.4)\n"
"  -d, --daemon           go to the background once the device is live\n"
"  -p, --pidfile FILE     write the daemon's pid there once it is live\n"
"  -j, --json             print the device as JSON\n"
"      --log FILE         log there (default: syslog with -d, else stderr)\n"
"  -v, --verbose          log more (twice: debug)\n"
"      --timeout SECS     wait that long for the device (default 30)\n"
"      --user NAME        serve as NAME, confined (default: vdk, else\n"
"                         nobody); see CONFINEMENT below\n"
"      --no-confine       serve as root, unconfined\n"
"      --seccomp-log      log system calls outside the filter instead\n"
"                         of ending the daemon (to learn a backend's)\n"
"  -h, --help             this text\n", f);
	for (m = vdk_models; *m; m++) {
		if (!(*m)->opts_help)
			continue;
		fprintf(f, "\nOptions of %s devices (%s):\n%s", (*m)->name,
			(*m)->summary, (*m)->opts_help);
	}
	fputs("\n"
"CONFINEMENT: once the device exists, the process that serves it (and\n"
"reads the driver's memory) runs as --user with no capabilities,\n"
"no_new_privs, a seccomp filter of the calls its device and backend\n"
"need (any other ends it) and, where the kernel has Landlock, no file\n"
"but its backend's.  Its parent keeps root, never reads the driver's\n"
"memory, and does the privileged steps: attach, detach, state, destroy.\n"
"Create the user once: useradd --system --no-create-home \\\n"
"  --shell /usr/sbin/nologin vdk\n", f);
	fputs("\n"
"Backends and their parameters: `vdk backends`.\n"
"Example: vdk add -d disk0 file path=/srv/disk.img\n", f);
}

/* What `vdk add` prints of the live device: its node, or JSON. */
static void print_device(FILE *f, const struct vdk_state *st, bool json)
{
	struct vdk_pr p;

	vdk_pr_init(&p, f, json);
	vdk_pr_rec_begin(&p);
	vdk_pr_str(&p, VDK_PR_JSON, "name", 0, st->name);
	vdk_pr_str(&p, VDK_PR_ANY, "node", 0, st->node);
	vdk_pr_str(&p, VDK_PR_JSON, "type", 0, st->type);
	vdk_pr_str(&p, VDK_PR_JSON, "bus", 0, st->bus);
	vdk_pr_str(&p, VDK_PR_JSON, "backend", 0, st->backend);
	vdk_pr_size(&p, VDK_PR_JSON, "size", 0, st->size);
	vdk_pr_u64(&p, VDK_PR_JSON, "block_size", 0, st->block_size);
	vdk_pr_u64(&p, VDK_PR_JSON, "queues", 0, st->queues);
	vdk_pr_u64(&p, VDK_PR_JSON, "queue_size", 0, st->queue_size);
	vdk_pr_bool(&p, VDK_PR_JSON, "read_only", 0, st->read_only);
	vdk_print_features(&p, st);
	vdk_pr_u64(&p, VDK_PR_JSON, "pid", 0, st->pid);
	vdk_pr_rec_end(&p, true);
}

static void daemon_cfg(const struct vdk_add_args *a, enum vdk_daemon_mode mode,
		       struct vdk_daemon_cfg *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->mode = mode;
	cfg->name = a->name;
	if (mode == VDK_DAEMON_ADD) {
		cfg->model = a->model;
		cfg->model_cfg = a->cfg;
	}
	cfg->models = vdk_models;
	cfg->vhost = a->vhost;
	cfg->ring = a->ring;
	cfg->in_order = a->in_order;
	cfg->bounce_kernel = a->bounce_kernel;
	cfg->bounce_size = a->bounce_size;
	cfg->daemon = a->daemon;
	cfg->pidfile = a->pidfile;
	cfg->json = a->json;
	cfg->log = a->log;
	cfg->verbose = a->verbose;
	cfg->timeout = a->timeout;
	cfg->user = a->user;
	cfg->no_confine = a->no_confine;
	cfg->seccomp_log_only = a->seccomp_log;
	cfg->print = print_device;
}

int vdk_cmd_add(int argc, char **argv)
{
	char err[VDK_MODEL_ERR_MAX] = "";
	struct vdk_daemon_cfg cfg;
	struct vdk_add_args a;
	int code;

	/* Usage first: options, the model's words. */
	if (vdk_args_add(argc, argv, vdk_models, &a, err, sizeof(err))) {
		vdk_cli_err("add", "%s", err);
		code = VDK_EXIT_USAGE;
	} else if (a.help) {
		vdk_add_usage(stdout);
		code = VDK_EXIT_OK;
	} else {
		daemon_cfg(&a, VDK_DAEMON_ADD, &cfg);
		code = vdk_daemon_run(&cfg);
	}
	vdk_args_add_free(&a);
	return code;
}

const char vdk_recover_usage[] =
"Usage: vdk recover [OPTIONS] NAME\n"
"\n"
"Take over the device NAME whose daemon died (killed, crashed): serve it\n"
"again with the type, backend and parameters it had (from its state\n"
"file), take the requests it had in flight again, and go on.  Waiting\n"
"I/O resumes; no request is lost or completed twice.\n"
"\n"
"Options:\n"
"  -d, --daemon           go to the background once the device is live\n"
"  -p, --pidfile FILE     write the daemon's pid there\n"
"  -j, --json             print the device as JSON\n"
"      --log FILE         log there (default: syslog with -d, else stderr)\n"
"  -v, --verbose          log more\n"
"      --timeout SECS     wait that long for the device (default 30)\n"
"      --user NAME        serve as NAME, confined (see vdk help add)\n"
"      --no-confine       serve as root, unconfined\n"
"  -h, --help             this text\n";

const char vdk_rescue_usage[] =
"Usage: vdk rescue [-v] NAME\n"
"\n"
"Remove the device NAME whose daemon is gone for good: complete every\n"
"request it had in flight or waiting with an I/O error, detach it from\n"
"the vDPA bus and destroy it, so that nothing stays blocked.  The data\n"
"written before is wherever the backend kept it.\n"
"\n"
"Options:\n"
"  -v, --verbose          log more\n"
"  -h, --help             this text\n";

/*
 * recover and rescue: the settings come from the state file the dead
 * daemon left; the command line adds only how to run.
 */
static int takeover(int argc, char **argv, enum vdk_daemon_mode mode)
{
	const char *verb = mode == VDK_DAEMON_RESCUE ? "rescue" : "recover";
	char err[VDK_MODEL_ERR_MAX] = "";
	struct vdk_daemon_cfg cfg;
	struct vdk_add_args a;
	int code;

	if (vdk_args_takeover(argc, argv, vdk_models, &a, err,
			      sizeof(err))) {
		vdk_cli_err(verb, "%s", err);
		code = VDK_EXIT_USAGE;
	} else if (a.help) {
		fputs(mode == VDK_DAEMON_RESCUE ? vdk_rescue_usage :
						  vdk_recover_usage, stdout);
		code = VDK_EXIT_OK;
	} else {
		daemon_cfg(&a, mode, &cfg);
		code = vdk_daemon_run(&cfg);
	}
	vdk_args_add_free(&a);
	return code;
}

int vdk_cmd_recover(int argc, char **argv)
{
	return takeover(argc, argv, VDK_DAEMON_RECOVER);
}

int vdk_cmd_rescue(int argc, char **argv)
{
	return takeover(argc, argv, VDK_DAEMON_RESCUE);
}
