// SPDX-License-Identifier: MIT
/*
 * vdk backends: what can serve a device, and with which parameters.
 */
#include <stdio.h>
#include <string.h>

#include "backend.h"
#include "args.h"
#include "cli.h"
#include "netdev.h"
#include "print.h"

const char vdk_backends_usage[] =
"Usage: vdk backends [-j]\n"
"\n"
"List the backends of `vdk add` with their KEY=VALUE parameters: the\n"
"storage backends of blk devices, then the network backends of net devices.\n"
"\n"
"Options:\n"
"  -j, --json   a JSON array\n"
"  -h, --help   this text\n";

/*
 * The parameters, from the backend's help: one "key=VALUE  meaning" a
 * line.  Text: the lines, indented.  JSON: {"key", "syntax", "help"}.
 */
static void print_params(struct vdk_pr *p, const char *help)
{
	char buf[512], key[64], *sp;
	const char *line = help, *end;
	size_t n;

	vdk_pr_arr_begin(p, "params");
	while (line && *line) {
		end = strchr(line, '\n');
		n = end ? (size_t)(end - line) : strlen(line);
		snprintf(buf, sizeof(buf), "%.*s", (int)n, line);
		line = end ? end + 1 : NULL;
		if (!p->json) {
			printf("    %s\n", buf);
			continue;
		}
		sp = buf + strcspn(buf, " \t");
		if (*sp)
			*sp++ = '\0';
		sp += strspn(sp, " \t");
		snprintf(key, sizeof(key), "%.*s", (int)strcspn(buf, "="),
			 buf);
		vdk_pr_rec_begin(p);
		vdk_pr_str(p, VDK_PR_JSON, "key", 0, key);
		vdk_pr_str(p, VDK_PR_JSON, "syntax", 0, buf);
		vdk_pr_str(p, VDK_PR_JSON, "help", 0, sp);
		vdk_pr_rec_end(p, false);
	}
	vdk_pr_arr_end(p);
}

static void print_backend(struct vdk_pr *p, const char *type,
			  const char *name, const char *summary,
			  const char *params_help)
{
	vdk_pr_rec_begin(p);
	vdk_pr_str(p, VDK_PR_ANY, "name", 8, name);
	vdk_pr_str(p, VDK_PR_JSON, "type", 0, type);
	vdk_pr_str(p, VDK_PR_ANY, "summary", 0, summary);
	/* JSON: inside the record; text: under its line. */
	if (p->json)
		print_params(p, params_help);
	vdk_pr_rec_end(p, false);
	if (!p->json)
		print_params(p, params_help);
}

int vdk_cmd_backends(int argc, char **argv)
{
	struct vdk_backends_args a;
	struct vdk_pr p;
	char err[256];

	if (vdk_args_backends(argc, argv, &a, err, sizeof(err))) {
		vdk_cli_err("backends", "%s", err);
		return VDK_EXIT_USAGE;
	}
	if (a.help) {
		fputs(vdk_backends_usage, stdout);
		return VDK_EXIT_OK;
	}
	vdk_pr_init(&p, stdout, a.json);
	vdk_pr_list_begin(&p);
	for (unsigned int i = 0; vdk_backends[i]; i++)
		print_backend(&p, "blk", vdk_backends[i]->name,
			      vdk_backends[i]->summary,
			      vdk_backends[i]->params_help);
	for (unsigned int i = 0; vdk_netdevs[i]; i++)
		print_backend(&p, "net", vdk_netdevs[i]->name,
			      vdk_netdevs[i]->summary,
			      vdk_netdevs[i]->params_help);
	if (vdk_pr_list_end(&p)) {
		vdk_cli_err("backends", "cannot print the list");
		return VDK_EXIT_FAIL;
	}
	return VDK_EXIT_OK;
}
