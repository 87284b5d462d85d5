/* SPDX-License-Identifier: MIT */
/*
 * The vdk command: what the verbs share.
 */
#ifndef VDK_CLI_H
#define VDK_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "daemon.h"

/* Defaults and limits of the verbs' options. */
#define VDK_DEF_TIMEOUT 30
#define VDK_MAX_TIMEOUT 3600
/* VDUSE_NAME_MAX, with its terminating NUL. */
#define VDK_NAME_MAX 256

/* Print "vdk: VERB: message" on stderr (one line, newline added). */
void vdk_cli_err(const char *verb, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * Check a device name: 1..255 characters of [A-Za-z0-9_.:-], not "." or
 * "..", not "control".  Returns 0 or -EINVAL with a message in @err.
 */
int vdk_check_name(const char *name, char *err, size_t errlen);

/* "vdk" running as root?  (Checked early, with a clear message.) */
bool vdk_is_root(void);

/* The device models of this vdk, NULL-terminated; the first: default. */
extern const struct vdk_model_ops *const vdk_models[];

/* Verbs. argv[0] is the verb; each returns an exit code. */
int vdk_cmd_add(int argc, char **argv);
int vdk_cmd_del(int argc, char **argv);
int vdk_cmd_list(int argc, char **argv);
int vdk_cmd_resize(int argc, char **argv);
int vdk_cmd_recover(int argc, char **argv);
int vdk_cmd_rescue(int argc, char **argv);
int vdk_cmd_backends(int argc, char **argv);
int vdk_cmd_bus(int argc, char **argv);
int vdk_cmd_up(int argc, char **argv);
int vdk_cmd_down(int argc, char **argv);
int vdk_cmd_stat(int argc, char **argv);

/* Usage text of a verb, for `vdk help VERB` and `vdk VERB --help`. */
void vdk_add_usage(FILE *f);

/*
 * JSON only: the ring format the driver took, the rings offered, the
 * feature bits both ways and the VDUSE API version of @st.
 */
struct vdk_pr;
void vdk_print_features(struct vdk_pr *p, const struct vdk_state *st);
extern const char vdk_recover_usage[];
extern const char vdk_rescue_usage[];
extern const char vdk_del_usage[];
extern const char vdk_list_usage[];
extern const char vdk_resize_usage[];
extern const char vdk_backends_usage[];
extern const char vdk_bus_usage[];
extern const char vdk_up_usage[];
extern const char vdk_down_usage[];
extern const char vdk_stat_usage[];

#endif /* VDK_CLI_H */
