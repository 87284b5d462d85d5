// SPDX-License-Identifier: MIT
/*
 * Small helpers shared by the verbs: error lines, names, numbers.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "daemon-log.h"

void vdk_cli_err(const char *verb, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vdk_verr(verb, fmt, ap);
	va_end(ap);
}

int vdk_check_name(const char *name, char *err, size_t errlen)
{
	size_t len = strlen(name);

	if (len == 0) {
		snprintf(err, errlen, "empty device name");
		return -EINVAL;
	}
	if (len >= VDK_NAME_MAX) {
		snprintf(err, errlen, "device name longer than %d characters",
			 VDK_NAME_MAX - 1);
		return -EINVAL;
	}
	if (!strcmp(name, ".") || !strcmp(name, "..") ||
	    !strcmp(name, "control")) {
		snprintf(err, errlen, "'%s' cannot be a device name", name);
		return -EINVAL;
	}
	for (const char *c = name; *c; c++) {
		if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		    (*c >= '0' && *c <= '9') || strchr("_.:-", *c))
			continue;
		snprintf(err, errlen,
			 "bad device name '%s' (letters, digits, '_.:-' only)",
			 name);
		return -EINVAL;
	}
	if (name[0] == '-') {
		snprintf(err, errlen, "a device name cannot start with '-'");
		return -EINVAL;
	}
	return 0;
}

bool vdk_is_root(void)
{
	return geteuid() == 0;
}
