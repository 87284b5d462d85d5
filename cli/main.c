// SPDX-License-Identifier: MIT
/*
 * vdk: virtio devices in userspace on Linux VDUSE.  Verb dispatch.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

#ifndef VDK_VERSION
#define VDK_VERSION "unknown"
#endif

static const char main_usage[] =
"Usage: vdk VERB [OPTIONS] [ARGS]\n"
"       vdk help [VERB] | vdk VERB --help | vdk --version\n"
"\n"
"Virtio-blk devices served in userspace through VDUSE.\n"
"\n"
"Verbs:\n"
"  add [OPTIONS] [--type blk] NAME BACKEND [KEY=VALUE ...]\n"
"                       create a device, attach it, serve it\n"
"  del [--timeout SECS] NAME\n"
"                       stop and remove a device\n"
"  list [-j] [NAME]     devices, their node, backend, size and state\n"
"  resize NAME          re-read the backend's size\n"
"  bus NAME virtio|vhost\n"
"                       move a device to the other bus, data kept\n"
"  recover NAME         serve again a device whose daemon died\n"
"  rescue NAME          fail the I/O of a daemonless device, remove it\n"
"  up [-d] NAME         bring up the device declared in /etc/vdk/NAME.conf\n"
"                       (add, or recover after its daemon died)\n"
"  down NAME            take a device down (as del)\n"
"  stat [-j] [NAME] [INTERVAL]\n"
"                       per-queue requests, bytes, errors, latency\n"
"  backends [-j]        backends and their parameters\n"
"  help [VERB]          this text, or a verb's\n"
"\n"
"Exit codes:\n"
"  0  success\n"
"  1  runtime failure\n"
"  2  usage error: bad option, parameter or value; unknown backend\n"
"  3  kernel support missing (a module to load: the message says which)\n"
"  4  permission denied (not root)\n"
"  5  device name in use\n"
"  6  no such device\n";

struct verb {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *usage;
	/* Usage made as it is printed (from the device models). */
	void (*print_usage)(FILE *f);
};

static const struct verb verbs[] = {
	{ "add", vdk_cmd_add, NULL, vdk_add_usage },
	{ "del", vdk_cmd_del, vdk_del_usage, NULL },
	{ "list", vdk_cmd_list, vdk_list_usage, NULL },
	{ "resize", vdk_cmd_resize, vdk_resize_usage, NULL },
	{ "bus", vdk_cmd_bus, vdk_bus_usage, NULL },
	{ "recover", vdk_cmd_recover, vdk_recover_usage, NULL },
	{ "rescue", vdk_cmd_rescue, vdk_rescue_usage, NULL },
	{ "up", vdk_cmd_up, vdk_up_usage, NULL },
	{ "down", vdk_cmd_down, vdk_down_usage, NULL },
	{ "stat", vdk_cmd_stat, vdk_stat_usage, NULL },
	{ "backends", vdk_cmd_backends, vdk_backends_usage, NULL },
};

static const struct verb *verb_find(const char *name)
{
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (!strcmp(verbs[i].name, name))
			return &verbs[i];
	return NULL;
}

static int cmd_help(int argc, char **argv)
{
	const struct verb *v;

	if (argc < 2 || !strcmp(argv[1], "help")) {
		fputs(main_usage, stdout);
		return VDK_EXIT_OK;
	}
	if (argc > 2) {
		vdk_cli_err("help", "unexpected argument '%s'", argv[2]);
		return VDK_EXIT_USAGE;
	}
	v = verb_find(argv[1]);
	if (!v) {
		vdk_cli_err("help", "unknown verb '%s' (see 'vdk help')",
			    argv[1]);
		return VDK_EXIT_USAGE;
	}
	if (v->print_usage)
		v->print_usage(stdout);
	else
		fputs(v->usage, stdout);
	return VDK_EXIT_OK;
}

int main(int argc, char **argv)
{
	const struct verb *v;
	const char *verb;

	if (argc < 2) {
		vdk_cli_err(NULL, "missing verb (see 'vdk help')");
		return VDK_EXIT_USAGE;
	}
	verb = argv[1];
	if (!strcmp(verb, "-h") || !strcmp(verb, "--help"))
		return cmd_help(1, argv);
	if (!strcmp(verb, "-V") || !strcmp(verb, "--version")) {
		printf("vdk %s\n", VDK_VERSION);
		return VDK_EXIT_OK;
	}
	if (!strcmp(verb, "help"))
		return cmd_help(argc - 1, argv + 1);
	if (verb[0] == '-') {
		vdk_cli_err(NULL, "unknown option '%s' (see 'vdk help')",
			    verb);
		return VDK_EXIT_USAGE;
	}
	v = verb_find(verb);
	if (!v) {
		vdk_cli_err(NULL, "unknown verb '%s' (see 'vdk help')", verb);
		return VDK_EXIT_USAGE;
	}
	return v->run(argc - 1, argv + 1);
}
