// SPDX-License-Identifier: MIT
/*
 * vdk list: the VDUSE devices, what serves them and where they are.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/virtio_config.h>

#include "args.h"
#include "cli.h"
#include "print.h"
#include "state.h"
#include "sysfs.h"

const char vdk_list_usage[] =
"Usage: vdk list [-j] [NAME]\n"
"\n"
"List the VDUSE devices (or only NAME) with their node, type (device\n"
"model), backend, size, queues, bus and state:\n"
"  starting  a vdk daemon is bringing it up\n"
"  running   a vdk daemon serves it, and it is on the vDPA bus\n"
"  detached  a vdk daemon serves it, and it is not on the vDPA bus\n"
"  orphan    no process serves it (`vdk del NAME` removes it)\n"
"  foreign   another program serves it\n"
"\n"
"Options:\n"
"  -j, --json   a JSON array (sizes in bytes)\n"
"  -h, --help   this text\n";

struct list_row {
	const char *name;
	struct vdk_state st;
	bool has_state;
	int pid;            /* serving vdk daemon, 0 if none */
	bool attached;
	char driver[64];    /* "" if none */
	char node[4096];    /* "" if none */
	uint64_t size;
	bool has_size;
	const char *bus;
	const char *state;
};

static void row_fill(struct list_row *r, const char *name)
{
	char disk[256], path[4096];
	pid_t holder;

	memset(r, 0, sizeof(*r));
	r->name = name;
	r->has_state = vdk_state_read(name, &r->st, NULL, 0) == 0;
	if (r->has_state && vdk_pid_is_vdk(r->st.pid))
		r->pid = r->st.pid;
	r->attached = vdk_sys_vdpa_attached(name);
	if (vdk_sys_vdpa_driver(name, r->driver, sizeof(r->driver)))
		r->driver[0] = '\0';

	if (!strcmp(r->driver, "vhost_vdpa")) {
		r->bus = "vhost";
		if (vdk_sys_vdpa_vhost(name, disk, sizeof(disk)) == 0 &&
		    vdk_path(path, sizeof(path), VDK_ROOT_DEV, "%s", disk) == 0)
			snprintf(r->node, sizeof(r->node), "%s", path);
	} else if (!strcmp(r->driver, "virtio_vdpa")) {
		r->bus = "virtio";
		if (vdk_sys_vdpa_disk(name, disk, sizeof(disk)) == 0) {
			if (vdk_path(path, sizeof(path), VDK_ROOT_DEV, "%s",
				     disk) == 0)
				snprintf(r->node, sizeof(r->node), "%s", path);
			r->has_size = vdk_sys_vdpa_disk_size(name, disk,
							     &r->size) == 0;
		} else if (vdk_sys_vdpa_netif(name, disk, sizeof(disk)) == 0) {
			snprintf(r->node, sizeof(r->node), "%s", disk);
		}
	} else if (r->driver[0]) {
		r->bus = r->driver;
	}
	/* The daemon's figure is the backend's, not the driver's view. */
	if (r->has_state && r->st.size) {
		r->size = r->st.size;
		r->has_size = true;
	}

	if (!r->pid &&
	    vdk_path(path, sizeof(path), VDK_ROOT_DEV, "vduse/%s", name) == 0) {
		/* A daemon still starting has no state file yet. */
		holder = vdk_find_holder(path);
		if (holder > 0 && vdk_pid_is_vdk(holder)) {
			r->pid = holder;
			r->state = "starting";
		} else if (holder > 0) {
			r->state = "foreign";
		}
	}
	if (r->state)
		return;
	if (!r->pid)
		r->state = "orphan";
	else if (!r->attached)
		r->state = "detached";
	else
		r->state = "running";
}

/* Text column widths: the longest of the header and the values. */
enum { COL_NAME, COL_NODE, COL_TYPE, COL_BACKEND, COL_SIZE, COL_QUEUES,
       COL_BUS, COL_N };

static const char *const col_head[COL_N] = {
	"NAME", "NODE", "TYPE", "BACKEND", "SIZE", "QUEUES", "BUS",
};

static void widen(int *w, const char *s)
{
	int n = s ? (int)strlen(s) : 1;

	if (n > *w)
		*w = n;
}

/*
 * VDUSE features by name, comma-separated ("" for none); bits this
 * build does not know in hex.
 */
static const char *fmt_vduse_features(char *buf, size_t len,
					  uint64_t f)
{
	static const char *const names[] = { "queue_ready", "suspend" };
	size_t n = 0;
	unsigned int i;

	buf[0] = '\0';
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!(f & (1ull << i)))
			continue;
		n += (size_t)snprintf(buf + n, len - n, "%s%s", n ? "," : "",
				      names[i]);
		if (n >= len)
			return buf;
		f &= ~(1ull << i);
	}
	if (f)
		snprintf(buf + n, len - n, "%s0x%" PRIx64, n ? "," : "", f);
	return buf;
}

/*
 * The ring format the driver took (null before it took any), the rings
 * offered, the feature bits both ways, the VDUSE API version.
 */
void vdk_print_features(struct vdk_pr *p, const struct vdk_state *st)
{
	const uint64_t packed = 1ull << VIRTIO_F_RING_PACKED;
	char hex[32];

	vdk_pr_str(p, VDK_PR_JSON, "ring", 0,
		   !st->driver_features ? NULL :
		   st->driver_features & packed ? "packed" : "split");
	vdk_pr_str(p, VDK_PR_JSON, "rings_offered", 0,
		   !st->features ? NULL :
		   st->features & packed ? "split,packed" : "split");
	snprintf(hex, sizeof(hex), "0x%" PRIx64, st->features);
	vdk_pr_str(p, VDK_PR_JSON, "features", 0, hex);
	snprintf(hex, sizeof(hex), "0x%" PRIx64, st->driver_features);
	vdk_pr_str(p, VDK_PR_JSON, "driver_features", 0, hex);
	vdk_pr_u64(p, VDK_PR_JSON, "vduse_api", 0, st->vduse_api);
	vdk_pr_str(p, VDK_PR_JSON, "vduse_features", 0,
		   fmt_vduse_features(hex, sizeof(hex),
					  st->vduse_features));
}

static void print_row(struct vdk_pr *p, const struct list_row *r,
		      const int *w)
{
	vdk_pr_rec_begin(p);
	vdk_pr_str(p, VDK_PR_ANY, "name", w[COL_NAME], r->name);
	vdk_pr_str(p, VDK_PR_ANY, "node", w[COL_NODE],
		   r->node[0] ? r->node : NULL);
	vdk_pr_str(p, VDK_PR_ANY, "type", w[COL_TYPE],
		   r->has_state ? r->st.type : NULL);
	vdk_pr_str(p, VDK_PR_ANY, "backend", w[COL_BACKEND],
		   r->has_state ? r->st.backend : NULL);
	if (r->has_size) {
		vdk_pr_size(p, VDK_PR_ANY, "size", w[COL_SIZE], r->size);
	} else {
		vdk_pr_str(p, VDK_PR_ANY, "size", w[COL_SIZE], NULL);
	}
	if (r->has_state && r->st.queues) {
		vdk_pr_u64(p, VDK_PR_ANY, "queues", w[COL_QUEUES],
			   r->st.queues);
	} else {
		vdk_pr_str(p, VDK_PR_ANY, "queues", w[COL_QUEUES], NULL);
	}
	vdk_pr_str(p, VDK_PR_ANY, "bus", w[COL_BUS], r->bus);
	vdk_pr_str(p, VDK_PR_ANY, "state", 0, r->state);

	if (r->pid)
		vdk_pr_u64(p, VDK_PR_JSON, "pid", 0, r->pid);
	else
		vdk_pr_str(p, VDK_PR_JSON, "pid", 0, NULL);
	vdk_pr_bool(p, VDK_PR_JSON, "attached", 0, r->attached);
	vdk_pr_str(p, VDK_PR_JSON, "driver", 0,
		   r->driver[0] ? r->driver : NULL);
	if (r->has_state) {
		vdk_pr_u64(p, VDK_PR_JSON, "block_size", 0,
			   r->st.block_size);
		vdk_pr_u64(p, VDK_PR_JSON, "queue_size", 0,
			   r->st.queue_size);
		vdk_pr_bool(p, VDK_PR_JSON, "read_only", 0, r->st.read_only);
		vdk_print_features(p, &r->st);
		vdk_pr_obj_begin(p, "params");
		for (unsigned int i = 0; i < r->st.nparams; i++)
			vdk_pr_str(p, VDK_PR_JSON, r->st.params[i].key, 0,
				   r->st.params[i].value);
		vdk_pr_obj_end(p);
		if (r->st.confined) {
			const struct vdk_state_confine *c = &r->st.confine;

			vdk_pr_obj_begin(p, "confinement");
			vdk_pr_u64(p, VDK_PR_JSON, "server_pid", 0,
				   c->server_pid);
			vdk_pr_u64(p, VDK_PR_JSON, "uid", 0, c->uid);
			vdk_pr_bool(p, VDK_PR_JSON, "no_new_privs", 0,
				    c->no_new_privs);
			vdk_pr_str(p, VDK_PR_JSON, "seccomp", 0,
				   !c->seccomp ? "off" :
				   c->seccomp_log_only ? "log" : "kill");
			vdk_pr_u64(p, VDK_PR_JSON, "syscalls", 0,
				   c->syscalls);
			vdk_pr_u64(p, VDK_PR_JSON, "landlock_abi", 0,
				   c->landlock_abi);
			vdk_pr_obj_end(p);
		}
	}
	vdk_pr_rec_end(p, false);
}

/* 0, or -errno when the JSON could not be built or written. */
static int print_rows(const struct list_row *rows, size_t n, bool json)
{
	int w[COL_N];
	struct vdk_pr p;
	char buf[32];
	size_t i;

	for (i = 0; i < COL_N; i++)
		w[i] = strlen(col_head[i]);
	for (i = 0; i < n; i++) {
		const struct list_row *r = &rows[i];

		widen(&w[COL_NAME], r->name);
		widen(&w[COL_NODE], r->node[0] ? r->node : NULL);
		widen(&w[COL_TYPE], r->has_state ? r->st.type : NULL);
		widen(&w[COL_BACKEND], r->has_state ? r->st.backend : NULL);
		if (r->has_size) {
			vdk_fmt_size(buf, sizeof(buf), r->size);
			widen(&w[COL_SIZE], buf);
		}
		widen(&w[COL_BUS], r->bus);
	}

	vdk_pr_init(&p, stdout, json);
	if (!json && n > 0) {
		for (i = 0; i < COL_N; i++)
			printf("%-*s ", w[i], col_head[i]);
		printf("STATE\n");
	}
	vdk_pr_list_begin(&p);
	for (i = 0; i < n; i++)
		print_row(&p, &rows[i], w);
	return vdk_pr_list_end(&p);
}

int vdk_cmd_list(int argc, char **argv)
{
	struct vdk_list_args a;
	struct list_row *rows = NULL;
	char **names = NULL;
	size_t n = 0, nrows = 0, i;
	char err[256];
	int ret, code = VDK_EXIT_OK;

	if (vdk_args_list(argc, argv, &a, err, sizeof(err))) {
		vdk_cli_err("list", "%s", err);
		return VDK_EXIT_USAGE;
	}
	if (a.help) {
		fputs(vdk_list_usage, stdout);
		return VDK_EXIT_OK;
	}
	ret = vdk_sys_vduse_list(&names, &n);
	if (ret) {
		vdk_cli_err("list", "cannot list the VDUSE devices: %s",
			    strerror(-ret));
		return VDK_EXIT_FAIL;
	}
	rows = calloc(n ? n : 1, sizeof(*rows));
	if (!rows) {
		vdk_cli_err("list", "out of memory");
		code = VDK_EXIT_FAIL;
		goto out_names;
	}
	for (i = 0; i < n; i++) {
		if (a.name && strcmp(a.name, names[i]))
			continue;
		row_fill(&rows[nrows++], names[i]);
	}
	if (a.name && nrows == 0) {
		vdk_cli_err("list", "no such device '%s'", a.name);
		code = VDK_EXIT_NODEV;
		goto out_rows;
	}
	ret = print_rows(rows, nrows, a.json);
	if (ret) {
		vdk_cli_err("list", "cannot print: %s", strerror(-ret));
		code = VDK_EXIT_FAIL;
	} else if (fflush(stdout)) {
		vdk_cli_err("list", "write: %s", strerror(errno));
		code = VDK_EXIT_FAIL;
	}

out_rows:
	for (i = 0; i < nrows; i++)
		vdk_state_free(&rows[i].st);
	free(rows);
out_names:
	vdk_sys_names_free(names, n);
	return code;
}
