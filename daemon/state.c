// SPDX-License-Identifier: MIT
/*
 * The state files under /run/vdk.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "json-util.h"
#include "state.h"
#include "sysfs.h"

/* Largest state file read back; ours are far smaller. */
#define STATE_MAX (256 * 1024)
/* Longest string, and parameter name, read back. */
#define STR_MAX 4096
#define KEY_MAX 256

/* A reason into @why, if the caller wants one. */
static void why_set(char *why, size_t whylen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void why_set(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	if (!why || !whylen)
		return;
	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
}

void vdk_state_free(struct vdk_state *st)
{
	for (unsigned int i = 0; i < st->nparams; i++) {
		free(st->params[i].key);
		free(st->params[i].value);
	}
	free(st->name);
	free(st->type);
	free(st->backend);
	free(st->bus);
	free(st->node);
	memset(st, 0, sizeof(*st));
}

/* The confinement record.  0 or -ENOMEM, as every vdk_json_add*(). */
static int format_confine(struct json_object *root,
			  const struct vdk_state_confine *c)
{
	struct json_object *o = json_object_new_object();

	if (!o || vdk_json_add(root, "confinement", o))
		return -ENOMEM;
	if (vdk_json_add_i64(o, "server_pid", c->server_pid) ||
	    vdk_json_add_u64(o, "uid", c->uid) ||
	    vdk_json_add_bool(o, "no_new_privs", c->no_new_privs) ||
	    vdk_json_add_str(o, "seccomp", !c->seccomp ? "off" :
			     c->seccomp_log_only ? "log" : "kill") ||
	    vdk_json_add_u64(o, "syscalls", c->syscalls) ||
	    vdk_json_add_u64(o, "landlock_abi", c->landlock_abi))
		return -ENOMEM;
	return 0;
}

/*
 * The features offered and taken, and the VDUSE API version: each only
 * when known (not 0), so that a record of a writer that knew none of
 * them is written again as it was (no features recorded means split
 * rings only).  -ENOMEM.
 */
static int format_features(struct json_object *root,
			   const struct vdk_state *st)
{
	if (st->features && vdk_json_add_u64(root, "features", st->features))
		return -ENOMEM;
	if (st->driver_features &&
	    vdk_json_add_u64(root, "driver_features", st->driver_features))
		return -ENOMEM;
	if (st->vduse_api && vdk_json_add_u64(root, "vduse_api", st->vduse_api))
		return -ENOMEM;
	if (st->vduse_features &&
	    vdk_json_add_u64(root, "vduse_features", st->vduse_features))
		return -ENOMEM;
	return 0;
}

/* The whole record; -ENOMEM. */
static int format_state(struct json_object *root, const struct vdk_state *st)
{
	struct json_object *params;

	if (vdk_json_add_i64(root, "pid", st->pid) ||
	    vdk_json_add_str(root, "name", st->name) ||
	    vdk_json_add_str(root, "type", st->type) ||
	    vdk_json_add_str(root, "backend", st->backend))
		return -ENOMEM;
	params = json_object_new_object();
	if (!params || vdk_json_add(root, "params", params))
		return -ENOMEM;
	for (unsigned int i = 0; i < st->nparams; i++)
		if (vdk_json_add_str(params, st->params[i].key,
				     st->params[i].value))
			return -ENOMEM;
	if (vdk_json_add_u64(root, "size", st->size) ||
	    vdk_json_add_u64(root, "block_size", st->block_size) ||
	    vdk_json_add_u64(root, "queues", st->queues) ||
	    vdk_json_add_u64(root, "queue_size", st->queue_size) ||
	    vdk_json_add_bool(root, "read_only", st->read_only) ||
	    format_features(root, st) ||
	    (st->bounce_kernel &&
	     vdk_json_add_str(root, "bounce", "kernel")) ||
	    vdk_json_add_str(root, "bus", st->bus) ||
	    vdk_json_add_str(root, "node", st->node))
		return -ENOMEM;
	if (st->confined)
		return format_confine(root, &st->confine);
	return 0;
}

int vdk_state_format(const struct vdk_state *st, FILE *f)
{
	struct json_object *root;
	int ret;

	root = json_object_new_object();
	if (!root)
		return -ENOMEM;
	ret = format_state(root, st);
	if (!ret)
		ret = vdk_json_print(f, root);
	if (!ret && fputc('\n', f) == EOF)
		ret = -EIO;
	json_object_put(root);
	return ret;
}

/* An optional string: null leaves it unset. */
static int read_str(struct json_object *v, char **out)
{
	if (!v) {
		free(*out);
		*out = NULL;
		return 0;
	}
	return vdk_json_get_str(v, STR_MAX, out);
}

static int read_params(struct json_object *o, struct vdk_state *st)
{
	int ret;

	if (!json_object_is_type(o, json_type_object))
		return -EINVAL;
	json_object_object_foreach(o, key, val) {
		struct vdk_state_param *p;

		if (st->nparams == VDK_STATE_PARAMS || strlen(key) >= KEY_MAX)
			return -EINVAL;
		p = &st->params[st->nparams];
		p->key = strdup(key);
		if (!p->key)
			return -ENOMEM;
		st->nparams++;
		ret = vdk_json_get_str(val, STR_MAX, &p->value);
		if (ret)
			return ret;
	}
	return 0;
}

static int read_confine(struct json_object *o, struct vdk_state_confine *c)
{
	const char *mode;
	uint64_t v = 0;
	int ret = 0;

	if (!json_object_is_type(o, json_type_object))
		return -EINVAL;
	json_object_object_foreach(o, key, val) {
		if (!strcmp(key, "server_pid")) {
			ret = vdk_json_get_uint(val, INT_MAX, &v);
			c->server_pid = (int)v;
		} else if (!strcmp(key, "uid")) {
			ret = vdk_json_get_uint(val, UINT_MAX, &v);
			c->uid = (unsigned int)v;
		} else if (!strcmp(key, "no_new_privs")) {
			ret = vdk_json_get_bool(val, &c->no_new_privs);
		} else if (!strcmp(key, "seccomp")) {
			if (!json_object_is_type(val, json_type_string))
				return -EINVAL;
			mode = json_object_get_string(val);
			c->seccomp = strcmp(mode, "off") != 0;
			c->seccomp_log_only = !strcmp(mode, "log");
		} else if (!strcmp(key, "syscalls")) {
			ret = vdk_json_get_uint(val, UINT_MAX, &v);
			c->syscalls = (unsigned int)v;
		} else if (!strcmp(key, "landlock_abi")) {
			ret = vdk_json_get_uint(val, UINT_MAX, &v);
			c->landlock_abi = (unsigned int)v;
		}
		/* Other keys: of a later version, skipped. */
		if (ret)
			return ret;
	}
	return 0;
}

/* One member of the top-level object. */
static int read_member(const char *key, struct json_object *val,
		       struct vdk_state *st)
{
	uint64_t v = 0;
	int ret = 0;

	if (!strcmp(key, "pid")) {
		ret = vdk_json_get_uint(val, INT_MAX, &v);
		st->pid = (int)v;
	} else if (!strcmp(key, "name")) {
		ret = read_str(val, &st->name);
	} else if (!strcmp(key, "type")) {
		ret = read_str(val, &st->type);
	} else if (!strcmp(key, "backend")) {
		ret = read_str(val, &st->backend);
	} else if (!strcmp(key, "params")) {
		ret = read_params(val, st);
	} else if (!strcmp(key, "size")) {
		ret = vdk_json_get_uint(val, UINT64_MAX, &st->size);
	} else if (!strcmp(key, "block_size")) {
		ret = vdk_json_get_uint(val, UINT32_MAX, &v);
		st->block_size = (uint32_t)v;
	} else if (!strcmp(key, "queues")) {
		ret = vdk_json_get_uint(val, UINT_MAX, &v);
		st->queues = (unsigned int)v;
	} else if (!strcmp(key, "queue_size")) {
		ret = vdk_json_get_uint(val, UINT_MAX, &v);
		st->queue_size = (unsigned int)v;
	} else if (!strcmp(key, "read_only")) {
		ret = vdk_json_get_bool(val, &st->read_only);
	} else if (!strcmp(key, "features")) {
		ret = vdk_json_get_uint(val, UINT64_MAX, &st->features);
	} else if (!strcmp(key, "driver_features")) {
		ret = vdk_json_get_uint(val, UINT64_MAX, &st->driver_features);
	} else if (!strcmp(key, "vduse_features")) {
		ret = vdk_json_get_uint(val, UINT64_MAX, &st->vduse_features);
	} else if (!strcmp(key, "vduse_api")) {
		ret = vdk_json_get_uint(val, UINT_MAX, &v);
		st->vduse_api = (unsigned int)v;
	} else if (!strcmp(key, "bounce")) {
		char *b = NULL;

		/* Only "kernel" is written; anything else is ours. */
		ret = read_str(val, &b);
		st->bounce_kernel = ret == 0 && b && !strcmp(b, "kernel");
		free(b);
	} else if (!strcmp(key, "bus")) {
		ret = read_str(val, &st->bus);
	} else if (!strcmp(key, "node")) {
		ret = read_str(val, &st->node);
	} else if (!strcmp(key, "confinement") && val) {
		ret = read_confine(val, &st->confine);
		st->confined = ret == 0;
	}
	/* Other keys: of a later version, skipped. */
	return ret;
}

int vdk_state_parse(const char *buf, size_t len, struct vdk_state *st,
		    char *why, size_t whylen)
{
	struct json_object *root;
	int ret;

	memset(st, 0, sizeof(*st));
	if (why && whylen)
		why[0] = '\0';
	ret = vdk_json_parse(buf, len, &root, why, whylen);
	if (ret)
		return ret;
	if (!json_object_is_type(root, json_type_object)) {
		ret = -EINVAL;
		why_set(why, whylen, "not a JSON object");
		goto out;
	}
	json_object_object_foreach(root, key, val) {
		ret = read_member(key, val, st);
		if (ret == -EINVAL)
			why_set(why, whylen,
				"\"%.64s\": wrong type or out of range", key);
		if (ret)
			goto out;
	}
	if (!st->name || st->pid <= 0) {
		ret = -EINVAL;
		why_set(why, whylen, "no \"%s\"", !st->name ? "name" : "pid");
		goto out;
	}
	if (!st->type) {
		st->type = strdup(VDK_STATE_DEFAULT_TYPE);
		if (!st->type)
			ret = -ENOMEM;
	}
out:
	json_object_put(root);
	if (ret)
		vdk_state_free(st);
	return ret;
}

static int state_path(char *buf, size_t len, const char *name)
{
	return vdk_path(buf, len, VDK_ROOT_RUN, "%s.json", name);
}

int vdk_state_write(const struct vdk_state *st)
{
	char path[4096];
	char *data = NULL;
	size_t len = 0;
	FILE *f;
	int ret;

	ret = vdk_mkdir_p(vdk_root(VDK_ROOT_RUN), 0755);
	if (ret)
		return ret;
	ret = state_path(path, sizeof(path), st->name);
	if (ret)
		return ret;
	f = open_memstream(&data, &len);
	if (!f)
		return -errno;
	ret = vdk_state_format(st, f);
	if (fclose(f) && !ret)
		ret = -ENOMEM;
	if (ret) {
		free(data);
		return ret;
	}
	ret = vdk_file_replace(path, data, len, 0644);
	free(data);
	return ret;
}

int vdk_state_read(const char *name, struct vdk_state *st, char *why,
		   size_t whylen)
{
	char path[4096];
	char *buf;
	size_t pos = 0;
	int fd = -1, ret;

	memset(st, 0, sizeof(*st));
	if (why && whylen)
		why[0] = '\0';
	ret = state_path(path, sizeof(path), name);
	if (ret)
		return ret;
	/* One byte more than the largest file, to see a larger one. */
	buf = malloc(STATE_MAX + 1);
	if (!buf)
		return -ENOMEM;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		goto err_free;
	}
	while (pos <= STATE_MAX) {
		ssize_t n = read(fd, buf + pos, STATE_MAX + 1 - pos);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			goto err_close;
		}
		if (n == 0)
			break;
		pos += n;
	}
	if (pos > STATE_MAX) {
		why_set(why, whylen, "larger than %d KiB", STATE_MAX / 1024);
		ret = -EINVAL;
		goto err_close;
	}
	ret = vdk_state_parse(buf, pos, st, why, whylen);
	if (ret == 0 && strcmp(st->name, name)) {
		why_set(why, whylen, "it names device '%.64s'", st->name);
		vdk_state_free(st);
		ret = -EINVAL;
	}
err_close:
	close(fd);
err_free:
	free(buf);
	return ret;
}

int vdk_state_remove(const char *name)
{
	char path[4096];
	int ret;

	ret = state_path(path, sizeof(path), name);
	if (ret)
		return ret;
	if (unlink(path) && errno != ENOENT)
		return -errno;
	/* The in-flight log goes with the device, as the state does. */
	ret = vdk_path(path, sizeof(path), VDK_ROOT_RUN, "%s.inflight", name);
	if (ret == 0 && unlink(path) && errno != ENOENT)
		return -errno;
	return 0;
}

bool vdk_pid_is_vdk(pid_t pid)
{
	char path[64], buf[256], self[4096], exe[4096];
	ssize_t n;
	char *p;

	if (pid <= 0)
		return false;
	/* Field 3 of stat is the state: Z is a zombie, X is dead. */
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (vdk_file_read(path, buf, sizeof(buf)) < 0)
		return false;
	p = strrchr(buf, ')');
	if (!p || p[1] != ' ' || p[2] == 'Z' || p[2] == 'X')
		return false;
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	if (vdk_file_read(path, buf, sizeof(buf)) >= 0 && !strcmp(buf, "vdk"))
		return true;
	/* Renamed binary: same executable as ours. */
	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	n = readlink(path, exe, sizeof(exe) - 1);
	if (n < 0)
		return false;
	exe[n] = '\0';
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n < 0)
		return false;
	self[n] = '\0';
	return !strcmp(self, exe);
}

/* Whether process @pid has @path open. */
static bool pid_holds(const char *pid, const char *path)
{
	char dir[64], link[64 + 256 + 2], target[4096];
	struct dirent *de;
	bool found = false;
	ssize_t n;
	DIR *d;

	snprintf(dir, sizeof(dir), "/proc/%s/fd", pid);
	d = opendir(dir);
	if (!d)
		return false;  /* gone, or not ours to look at */
	while (!found && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(link, sizeof(link), "%s/%s", dir, de->d_name);
		n = readlink(link, target, sizeof(target) - 1);
		if (n < 0)
			continue;
		target[n] = '\0';
		found = !strcmp(target, path);
	}
	closedir(d);
	return found;
}

pid_t vdk_find_holder(const char *path)
{
	struct dirent *de;
	pid_t pid = 0;
	DIR *d;

	d = opendir("/proc");
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		if (pid_holds(de->d_name, path)) {
			pid = atoi(de->d_name);
			break;
		}
	}
	closedir(d);
	return pid;
}
