// SPDX-License-Identifier: MIT
/*
 * vdk backends: what can serve a device, and with which parameters.
 */
#include <stdio.h>
#include <string.h>

#include "backend.h"
#include "args.h"
#include "cli.h"
#include "print.h"

const char vdk_backends_usage[] =
"Usage: vdk backends [-j]\n"
"\n"
"List the storage backends of `vdk add` with their KEY=VALUE parameters.\n"
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
	for (unsigned int i = 0; vdk_backends[i]; i++) {
		const struct vdk_backend_ops *b = vdk_backends[i];

		vdk_pr_rec_begin(&p);
		vdk_pr_str(&p, VDK_PR_ANY, "name", 8, b->name);
		vdk_pr_str(&p, VDK_PR_ANY, "summary", 0, b->summary);
		/* JSON: inside the record; text: under its line. */
		if (a.json)
			print_params(&p, b->params_help);
		vdk_pr_rec_end(&p, false);
		if (!a.json)
			print_params(&p, b->params_help);
	}
	vdk_pr_list_end(&p);
	return VDK_EXIT_OK;
}
