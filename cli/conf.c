// SPDX-License-Identifier: MIT
/*
 * Declared devices: CONF_DIR/NAME.conf, parsed and checked line by line,
 * turned into the command line `vdk add` (or `vdk recover`) parses, so
 * that a declared device and one added by hand are the same thing.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "args.h"
#include "conf.h"

/* Largest file read; a device's settings are far smaller. */
#define CONF_FILE_MAX (256 * 1024)

static int conf_err(char *err, size_t errlen, const char *path,
		    unsigned int line, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static int conf_err(char *err, size_t errlen, const char *path,
		    unsigned int line, const char *fmt, ...)
{
	va_list ap;
	int n;

	n = line ? snprintf(err, errlen, "%s:%u: ", path, line) :
		   snprintf(err, errlen, "%s: ", path);
	if (n < 0 || (size_t)n >= errlen)
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(err + n, errlen - n, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

void vdk_conf_free(struct vdk_conf *c)
{
	for (size_t i = 0; i < c->n; i++) {
		free(c->items[i].key);
		free(c->items[i].value);
	}
	free(c->items);
	free(c->path);
	memset(c, 0, sizeof(*c));
}

static char *trim(char *s, char *end)
{
	while (s < end && isspace((unsigned char)*s))
		s++;
	while (end > s && isspace((unsigned char)end[-1]))
		end--;
	*end = '\0';
	return s;
}

static bool key_ok(const char *k)
{
	if (!*k)
		return false;
	for (; *k; k++)
		if (!isalnum((unsigned char)*k) && !strchr("._-", *k))
			return false;
	return true;
}

int vdk_conf_parse(const char *buf, size_t len, const char *path,
		   struct vdk_conf *c, char *err, size_t errlen)
{
	char line[VDK_CONF_LINE_MAX + 1];
	unsigned int lineno = 0;
	size_t pos = 0;

	memset(c, 0, sizeof(*c));
	c->path = strdup(path);
	c->items = calloc(VDK_CONF_ITEMS_MAX, sizeof(*c->items));
	if (!c->path || !c->items) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	while (pos < len) {
		const char *nl = memchr(buf + pos, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - (buf + pos)) : len - pos;
		struct vdk_conf_item *it;
		char *k, *v, *eq;

		lineno++;
		if (n > VDK_CONF_LINE_MAX)
			return conf_err(err, errlen, path, lineno,
					"line longer than %d bytes",
					VDK_CONF_LINE_MAX);
		if (memchr(buf + pos, '\0', n))
			return conf_err(err, errlen, path, lineno,
					"a NUL byte");
		memcpy(line, buf + pos, n);
		line[n] = '\0';
		pos += n + 1;
		k = trim(line, line + n);
		if (!*k || *k == '#')
			continue;
		eq = strchr(k, '=');
		if (!eq)
			return conf_err(err, errlen, path, lineno,
					"expected KEY=VALUE, not '%s'", k);
		v = trim(eq + 1, eq + 1 + strlen(eq + 1));
		k = trim(k, eq);
		if (!key_ok(k))
			return conf_err(err, errlen, path, lineno,
					"bad key '%s'", k);
		if (!*v)
			return conf_err(err, errlen, path, lineno,
					"'%s' has no value", k);
		if (c->n == VDK_CONF_ITEMS_MAX)
			return conf_err(err, errlen, path, lineno,
					"more than %d settings",
					VDK_CONF_ITEMS_MAX);
		it = &c->items[c->n];
		it->key = strdup(k);
		it->value = strdup(v);
		it->line = lineno;
		c->n++;
		if (!it->key || !it->value) {
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
	}
	return 0;
}

int vdk_conf_load(const char *name, struct vdk_conf *c, char *err,
		  size_t errlen)
{
	const char *dir = getenv("VDK_CONF_DIR");
	char path[4096], *buf = NULL;
	size_t len = 0;
	ssize_t n;
	int fd, ret;

	memset(c, 0, sizeof(*c));
	if (!dir || !*dir)
		dir = VDK_CONF_DIR;
	if ((size_t)snprintf(path, sizeof(path), "%s/%s.conf", dir, name) >=
	    sizeof(path)) {
		snprintf(err, errlen, "%s/%s.conf: path too long", dir, name);
		return -ENAMETOOLONG;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot read %s: %s", path,
			 strerror(-ret));
		return ret;
	}
	buf = malloc(CONF_FILE_MAX);
	if (!buf) {
		close(fd);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (;;) {
		n = read(fd, buf + len, CONF_FILE_MAX - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		if (len == CONF_FILE_MAX)
			break;
	}
	ret = n < 0 ? -errno : 0;
	close(fd);
	if (ret)
		snprintf(err, errlen, "cannot read %s: %s", path,
			 strerror(-ret));
	else if (len == CONF_FILE_MAX)
		ret = conf_err(err, errlen, path, 0, "larger than %d bytes",
			       CONF_FILE_MAX - 1);
	else
		ret = vdk_conf_parse(buf, len, path, c, err, errlen);
	free(buf);
	return ret;
}

/* ---- to a command line ---- */

struct words {
	char **v;
	int n;
	int max;
	bool nomem;
};

static void push(struct words *w, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void push(struct words *w, const char *fmt, ...)
{
	va_list ap;
	char *s;

	if (w->nomem)
		return;
	if (w->n + 2 > w->max) {
		int max = w->max ? w->max * 2 : 32;
		char **v = realloc(w->v, max * sizeof(*v));

		if (!v) {
			w->nomem = true;
			return;
		}
		w->v = v;
		w->max = max;
	}
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0) {
		w->nomem = true;
		s = NULL;
	}
	va_end(ap);
	if (!s)
		return;
	w->v[w->n++] = s;
	w->v[w->n] = NULL;
}

void vdk_conf_argv_free(int argc, char **argv)
{
	for (int i = 0; argv && i < argc; i++)
		free(argv[i]);
	free(argv);
}

/* yes/no and their kin: 1, 0, or -1 for anything else. */
static int yes_no(const char *v)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };

	for (size_t i = 0; i < 4; i++) {
		if (!strcasecmp(v, yes[i]))
			return 1;
		if (!strcasecmp(v, no[i]))
			return 0;
	}
	return -1;
}

/* The item with @key, after @from; NULL if none. */
static const struct vdk_conf_item *find(const struct vdk_conf *c,
					const char *key,
					const struct vdk_conf_item *from)
{
	size_t i = from ? (size_t)(from - c->items) + 1 : 0;

	for (; i < c->n; i++)
		if (!strcmp(c->items[i].key, key))
			return &c->items[i];
	return NULL;
}

/* Keys other than param.* may be given once. */
static int no_repeats(const struct vdk_conf *c, char *err, size_t errlen)
{
	for (size_t i = 0; i < c->n; i++) {
		const struct vdk_conf_item *again;

		if (!strncmp(c->items[i].key, "param.", 6))
			continue;
		again = find(c, c->items[i].key, &c->items[i]);
		if (again)
			return conf_err(err, errlen, c->path, again->line,
					"'%s' again (first on line %u)",
					again->key, c->items[i].line);
	}
	return 0;
}

static const struct vdk_model_opt *model_opt(const struct vdk_model_ops *m,
					     const char *key)
{
	for (const struct vdk_model_opt *o = m->opts; o && o->name; o++)
		if (!strcmp(o->name, key))
			return o;
	return NULL;
}

/* A model's option: checked by the model on a scratch configuration. */
static int model_item(const struct vdk_conf *c, const struct vdk_model_ops *m,
		      struct vdk_model_cfg *scratch,
		      const struct vdk_conf_item *it,
		      const struct vdk_model_opt *o, bool emit,
		      struct words *w, char *err, size_t errlen)
{
	char msg[VDK_MODEL_ERR_MAX] = "";
	int yn;

	if (!o->has_arg) {
		yn = yes_no(it->value);
		if (yn < 0)
			return conf_err(err, errlen, c->path, it->line,
					"%s: '%s' is not yes or no", it->key,
					it->value);
		if (yn && m->cfg_opt(scratch, o->key, NULL, msg, sizeof(msg)))
			return conf_err(err, errlen, c->path, it->line, "%s",
					msg);
		if (yn && emit)
			push(w, "--%s", o->name);
		return 0;
	}
	if (m->cfg_opt(scratch, o->key, it->value, msg, sizeof(msg)))
		return conf_err(err, errlen, c->path, it->line, "%s", msg);
	if (emit)
		push(w, "--%s=%s", o->name, it->value);
	return 0;
}

/* A key whose value is @a or @b, passed on as --KEY=VALUE. */
static int either_key(const struct vdk_conf *c, const struct vdk_conf_item *it,
		      struct words *w, const char *a, const char *b,
		      char *err, size_t errlen)
{
	if (strcmp(it->value, a) && strcmp(it->value, b))
		return conf_err(err, errlen, c->path, it->line,
				"%s: '%s' is not %s or %s", it->key, it->value,
				a, b);
	push(w, "--%s=%s", it->key, it->value);
	return 0;
}

/* The daemon's keys; 1 when @it is none of them. */
static int daemon_item(const struct vdk_conf *c, const struct vdk_conf_item *it,
		       struct words *w, char *err, size_t errlen)
{
	unsigned long v;
	int yn;

	if (!strcmp(it->key, "bus")) {
		return either_key(c, it, w, "virtio", "vhost", err, errlen);
	} else if (!strcmp(it->key, "ring")) {
		return either_key(c, it, w, "split", "packed", err, errlen);
	} else if (!strcmp(it->key, "in-order")) {
		yn = yes_no(it->value);
		if (yn < 0)
			return conf_err(err, errlen, c->path, it->line,
					"in-order: '%s' is not yes or no",
					it->value);
		if (yn)
			push(w, "--in-order");
	} else if (!strcmp(it->key, "bounce")) {
		return either_key(c, it, w, "umem", "kernel", err, errlen);
	} else if (!strcmp(it->key, "bounce-size")) {
		uint64_t bytes;

		if (vdk_parse_bounce_size(it->value, &bytes))
			return conf_err(err, errlen, c->path, it->line,
					"bounce-size: '%s' is not whole 4 KiB "
					"pages, 1M..1G", it->value);
		push(w, "--bounce-size=%s", it->value);
	} else if (!strcmp(it->key, "user")) {
		push(w, "--user=%s", it->value);
	} else if (!strcmp(it->key, "confine")) {
		yn = yes_no(it->value);
		if (yn < 0)
			return conf_err(err, errlen, c->path, it->line,
					"confine: '%s' is not yes or no",
					it->value);
		if (!yn)
			push(w, "--no-confine");
	} else if (!strcmp(it->key, "timeout")) {
		if (vdk_parse_uint(it->value, 1, VDK_MAX_TIMEOUT, &v))
			return conf_err(err, errlen, c->path, it->line,
					"timeout: '%s' is not 1..%d seconds",
					it->value, VDK_MAX_TIMEOUT);
		push(w, "--timeout=%s", it->value);
	} else if (!strcmp(it->key, "log")) {
		push(w, "--log=%s", it->value);
	} else {
		return 1;
	}
	return 0;
}

/* params=K=V K=V: each word a KEY=VALUE. */
static int params_item(const struct vdk_conf *c, const struct vdk_conf_item *it,
		       struct words *w, char *err, size_t errlen)
{
	char *copy = strdup(it->value), *save = NULL, *tok;
	int ret = 0;

	if (!copy) {
		w->nomem = true;
		return 0;
	}
	for (tok = strtok_r(copy, " \t", &save); tok;
	     tok = strtok_r(NULL, " \t", &save)) {
		if (!strchr(tok, '=') || tok[0] == '=') {
			ret = conf_err(err, errlen, c->path, it->line,
				       "params: '%s' is not KEY=VALUE", tok);
			break;
		}
		push(w, "%s", tok);
	}
	free(copy);
	return ret;
}

int vdk_conf_argv(const struct vdk_conf *c, const char *name,
		  const struct vdk_model_ops *const *models, bool takeover,
		  int nextra, char *const *extra, int *argc, char ***argv,
		  char *err, size_t errlen)
{
	const struct vdk_model_ops *m = models[0];
	const struct vdk_conf_item *it, *backend = NULL;
	struct vdk_model_cfg *scratch = NULL;
	struct words w = { 0 }, params = { 0 };
	int ret = -EINVAL;

	*argc = 0;
	*argv = NULL;
	if (no_repeats(c, err, errlen))
		return -EINVAL;
	it = find(c, "type", NULL);
	if (it) {
		m = vdk_model_find(models, it->value);
		if (!m)
			return conf_err(err, errlen, c->path, it->line,
					"type: no device model '%s'",
					it->value);
	}
	if (m->cfg_new(&scratch)) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	push(&w, "%s", takeover ? "recover" : "add");
	if (!takeover)
		push(&w, "--type=%s", m->name);
	for (size_t i = 0; i < c->n; i++) {
		const struct vdk_model_opt *o;
		int r;

		it = &c->items[i];
		if (!strcmp(it->key, "type"))
			continue;
		if (!strcmp(it->key, "backend")) {
			backend = it;
			continue;
		}
		if (!strncmp(it->key, "param.", 6)) {
			if (!it->key[6]) {
				conf_err(err, errlen, c->path, it->line,
					 "'param.' names no parameter");
				goto out;
			}
			push(&params, "%s=%s", it->key + 6, it->value);
			continue;
		}
		if (!strcmp(it->key, "params")) {
			if (params_item(c, it, &params, err, errlen))
				goto out;
			continue;
		}
		r = daemon_item(c, it, &w, err, errlen);
		if (r < 0)
			goto out;
		if (r == 0)
			continue;
		o = model_opt(m, it->key);
		if (!o) {
			conf_err(err, errlen, c->path, it->line,
				 "unknown key '%s'", it->key);
			goto out;
		}
		if (model_item(c, m, scratch, it, o, !takeover, &w, err,
			       errlen))
			goto out;
	}
	/* The caller's options after the file's: the last one wins. */
	for (int i = 0; i < nextra; i++)
		push(&w, "%s", extra[i]);
	push(&w, "--");
	push(&w, "%s", name);
	if (!takeover && !backend && params.n) {
		conf_err(err, errlen, c->path, 0,
			 "backend parameters and no backend= line");
		goto out;
	}
	if (!takeover) {
		if (backend)
			push(&w, "%s", backend->value);
		for (int i = 0; i < params.n; i++)
			push(&w, "%s", params.v[i]);
	}
	if (w.nomem || params.nomem) {
		snprintf(err, errlen, "out of memory");
		ret = -ENOMEM;
		goto out;
	}
	*argc = w.n;
	*argv = w.v;
	w.v = NULL;
	w.n = 0;
	ret = 0;
out:
	m->cfg_free(scratch);
	vdk_conf_argv_free(w.n, w.v);
	vdk_conf_argv_free(params.n, params.v);
	return ret;
}
