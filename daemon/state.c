// SPDX-License-Identifier: MIT
/*
 * The state files under /run/vdk.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "json.h"
#include "state.h"
#include "sysfs.h"

/* Largest state file read back; ours are far smaller. */
#define STATE_MAX (256 * 1024)
#define STR_MAX 4096

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

void vdk_state_format(const struct vdk_state *st, FILE *f)
{
	struct vdk_jw w;

	vdk_jw_init(&w, f);
	vdk_jw_obj_begin(&w);
	vdk_jw_key(&w, "pid");
	vdk_jw_i64(&w, st->pid);
	vdk_jw_key(&w, "name");
	vdk_jw_str(&w, st->name);
	vdk_jw_key(&w, "type");
	vdk_jw_str(&w, st->type);
	vdk_jw_key(&w, "backend");
	vdk_jw_str(&w, st->backend);
	vdk_jw_key(&w, "params");
	vdk_jw_obj_begin(&w);
	for (unsigned int i = 0; i < st->nparams; i++) {
		vdk_jw_key(&w, st->params[i].key);
		vdk_jw_str(&w, st->params[i].value);
	}
	vdk_jw_obj_end(&w);
	vdk_jw_key(&w, "size");
	vdk_jw_u64(&w, st->size);
	vdk_jw_key(&w, "block_size");
	vdk_jw_u64(&w, st->block_size);
	vdk_jw_key(&w, "queues");
	vdk_jw_u64(&w, st->queues);
	vdk_jw_key(&w, "queue_size");
	vdk_jw_u64(&w, st->queue_size);
	vdk_jw_key(&w, "read_only");
	vdk_jw_bool(&w, st->read_only);
	vdk_jw_key(&w, "features");
	vdk_jw_u64(&w, st->features);
	vdk_jw_key(&w, "driver_features");
	vdk_jw_u64(&w, st->driver_features);
	vdk_jw_key(&w, "vduse_api");
	vdk_jw_u64(&w, st->vduse_api);
	vdk_jw_key(&w, "bus");
	vdk_jw_str(&w, st->bus);
	vdk_jw_key(&w, "node");
	vdk_jw_str(&w, st->node);
	if (st->confined) {
		const struct vdk_state_confine *c = &st->confine;

		vdk_jw_key(&w, "confinement");
		vdk_jw_obj_begin(&w);
		vdk_jw_key(&w, "server_pid");
		vdk_jw_i64(&w, c->server_pid);
		vdk_jw_key(&w, "uid");
		vdk_jw_u64(&w, c->uid);
		vdk_jw_key(&w, "no_new_privs");
		vdk_jw_bool(&w, c->no_new_privs);
		vdk_jw_key(&w, "seccomp");
		vdk_jw_str(&w, !c->seccomp ? "off" :
			   c->seccomp_log_only ? "log" : "kill");
		vdk_jw_key(&w, "syscalls");
		vdk_jw_u64(&w, c->syscalls);
		vdk_jw_key(&w, "landlock_abi");
		vdk_jw_u64(&w, c->landlock_abi);
		vdk_jw_obj_end(&w);
	}
	vdk_jw_obj_end(&w);
	fputc('\n', f);
}

/* A string value into a new allocation. */
static int read_str(struct vdk_jr *r, char **out)
{
	char *buf;
	int ret;

	buf = malloc(STR_MAX);
	if (!buf)
		return -ENOMEM;
	ret = vdk_jr_str(r, buf, STR_MAX);
	if (ret) {
		free(buf);
		return ret == -ENAMETOOLONG ? -EINVAL : ret;
	}
	free(*out);
	*out = strdup(buf);
	free(buf);
	return *out ? 0 : -ENOMEM;
}

static int read_uint(struct vdk_jr *r, uint64_t max, uint64_t *out)
{
	int ret = vdk_jr_u64(r, out);

	if (ret)
		return -EINVAL;
	return *out > max ? -EINVAL : 0;
}

static int read_params(struct vdk_jr *r, struct vdk_state *st)
{
	char key[256];
	int ret;

	ret = vdk_jr_obj_begin(r);
	while (ret == 0 && (ret = vdk_jr_obj_next(r, key, sizeof(key))) == 1) {
		struct vdk_state_param *p;

		if (st->nparams == VDK_STATE_PARAMS)
			return -EINVAL;
		p = &st->params[st->nparams];
		p->key = strdup(key);
		if (!p->key)
			return -ENOMEM;
		st->nparams++;
		ret = read_str(r, &p->value);
	}
	return ret < 0 ? (ret == -ENOMEM ? ret : -EINVAL) : 0;
}

static int read_confine(struct vdk_jr *r, struct vdk_state_confine *c)
{
	char key[64], mode[16];
	uint64_t v;
	int ret;

	ret = vdk_jr_obj_begin(r);
	while (ret == 0 && (ret = vdk_jr_obj_next(r, key, sizeof(key))) == 1) {
		if (!strcmp(key, "server_pid")) {
			ret = read_uint(r, INT_MAX, &v);
			c->server_pid = (int)v;
		} else if (!strcmp(key, "uid")) {
			ret = read_uint(r, UINT_MAX, &v);
			c->uid = (unsigned int)v;
		} else if (!strcmp(key, "no_new_privs")) {
			ret = vdk_jr_bool(r, &c->no_new_privs);
		} else if (!strcmp(key, "seccomp")) {
			ret = vdk_jr_str(r, mode, sizeof(mode));
			c->seccomp = ret == 0 && strcmp(mode, "off");
			c->seccomp_log_only = ret == 0 && !strcmp(mode, "log");
		} else if (!strcmp(key, "syscalls")) {
			ret = read_uint(r, UINT_MAX, &v);
			c->syscalls = (unsigned int)v;
		} else if (!strcmp(key, "landlock_abi")) {
			ret = read_uint(r, UINT_MAX, &v);
			c->landlock_abi = (unsigned int)v;
		} else {
			ret = vdk_jr_skip(r);
		}
	}
	return ret < 0 ? -EINVAL : 0;
}

int vdk_state_parse(const char *buf, size_t len, struct vdk_state *st)
{
	struct vdk_jr r;
	char key[64];
	uint64_t v;
	int ret;

	memset(st, 0, sizeof(*st));
	vdk_jr_init(&r, buf, len);
	ret = vdk_jr_obj_begin(&r);
	if (ret)
		goto err;
	while ((ret = vdk_jr_obj_next(&r, key, sizeof(key))) == 1) {
		if (!strcmp(key, "pid")) {
			ret = read_uint(&r, INT_MAX, &v);
			st->pid = v;
		} else if (!strcmp(key, "name")) {
			ret = read_str(&r, &st->name);
		} else if (!strcmp(key, "type")) {
			ret = read_str(&r, &st->type);
		} else if (!strcmp(key, "backend")) {
			ret = read_str(&r, &st->backend);
		} else if (!strcmp(key, "params")) {
			ret = read_params(&r, st);
		} else if (!strcmp(key, "size")) {
			ret = read_uint(&r, UINT64_MAX, &st->size);
		} else if (!strcmp(key, "block_size")) {
			ret = read_uint(&r, UINT32_MAX, &v);
			st->block_size = v;
		} else if (!strcmp(key, "queues")) {
			ret = read_uint(&r, UINT_MAX, &v);
			st->queues = v;
		} else if (!strcmp(key, "queue_size")) {
			ret = read_uint(&r, UINT_MAX, &v);
			st->queue_size = v;
		} else if (!strcmp(key, "read_only")) {
			ret = vdk_jr_bool(&r, &st->read_only);
		} else if (!strcmp(key, "features")) {
			ret = read_uint(&r, UINT64_MAX, &st->features);
		} else if (!strcmp(key, "driver_features")) {
			ret = read_uint(&r, UINT64_MAX, &st->driver_features);
		} else if (!strcmp(key, "vduse_api")) {
			ret = read_uint(&r, UINT_MAX, &v);
			st->vduse_api = v;
		} else if (!strcmp(key, "bus")) {
			ret = read_str(&r, &st->bus);
		} else if (!strcmp(key, "node")) {
			ret = read_str(&r, &st->node);
		} else if (!strcmp(key, "confinement")) {
			ret = read_confine(&r, &st->confine);
			st->confined = ret == 0;
		} else {
			ret = vdk_jr_skip(&r);
		}
		if (ret)
			goto err;
	}
	if (ret == 0)
		ret = vdk_jr_end(&r);
	if (ret == 0 && (!st->name || st->pid <= 0))
		ret = -EINVAL;
	if (ret == 0 && !st->type) {
		st->type = strdup(VDK_STATE_DEFAULT_TYPE);
		if (!st->type)
			ret = -ENOMEM;
	}
	if (ret)
		goto err;
	return 0;

err:
	vdk_state_free(st);
	return ret == -ENOMEM ? ret : -EINVAL;
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
	vdk_state_format(st, f);
	if (fclose(f)) {
		free(data);
		return -ENOMEM;
	}
	ret = vdk_file_replace(path, data, len, 0644);
	free(data);
	return ret;
}

int vdk_state_read(const char *name, struct vdk_state *st)
{
	char path[4096];
	char *buf;
	size_t pos = 0;
	int fd = -1, ret;

	memset(st, 0, sizeof(*st));
	ret = state_path(path, sizeof(path), name);
	if (ret)
		return ret;
	buf = malloc(STATE_MAX);
	if (!buf)
		return -ENOMEM;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		goto err_free;
	}
	while (pos < STATE_MAX) {
		ssize_t n = read(fd, buf + pos, STATE_MAX - pos);

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
	ret = vdk_state_parse(buf, pos, st);
	if (ret == 0 && strcmp(st->name, name)) {
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
