// SPDX-License-Identifier: MIT
/*
 * Option parsing of the verbs.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "cli.h"

/* The message for getopt's '?' or ':' answer. */
static int opt_error(int c, char **argv, char *err, size_t errlen)
{
	const char *arg = optind > 0 ? argv[optind - 1] : "";
	char opt[64];

	/*
	 * An unknown long option leaves optopt at 0.  A missing value ends
	 * the word, so that word names the option; a short one may sit in
	 * a cluster ("-jq").
	 */
	if ((c == '?' && optopt == 0) ||
	    (c == ':' && !strncmp(arg, "--", 2)))
		snprintf(opt, sizeof(opt), "%.*s", (int)strcspn(arg, "="),
			 arg);
	else
		snprintf(opt, sizeof(opt), "-%c", optopt);
	if (c == ':')
		snprintf(err, errlen, "option '%s' needs a value", opt);
	else
		snprintf(err, errlen, "unknown option '%s'", opt);
	return -EINVAL;
}

static void getopt_reset(void)
{
	/* 0, not 1: glibc then also forgets its state inside a cluster. */
	optind = 0;
	opterr = 0;
}

static int bad_value(char *err, size_t errlen, const char *opt,
		     const char *val, const char *range)
{
	snprintf(err, errlen, "bad %s value '%s' (%s)", opt, val, range);
	return -EINVAL;
}

static int parse_timeout(const char *s, unsigned int *out, char *err,
			 size_t errlen)
{
	unsigned long v;

	if (vdk_parse_uint(s, 1, VDK_MAX_TIMEOUT, &v))
		return bad_value(err, errlen, "--timeout", s,
				 "seconds, 1..3600");
	*out = v;
	return 0;
}

static int check_name(const char *name, char *err, size_t errlen)
{
	if (!name) {
		snprintf(err, errlen, "missing device name");
		return -EINVAL;
	}
	return vdk_check_name(name, err, errlen);
}

static int no_more(int argc, char **argv, char *err, size_t errlen)
{
	if (optind < argc) {
		snprintf(err, errlen, "unexpected argument '%s'",
			 argv[optind]);
		return -EINVAL;
	}
	return 0;
}

enum {
	OPT_BUS = 256,
	OPT_LOG,
	OPT_TIMEOUT,
	OPT_TYPE,
	OPT_USER,
	OPT_NO_CONFINE,
	OPT_SECCOMP_LOG,
	OPT_RING,
	OPT_IN_ORDER,
	OPT_BOUNCE,
	OPT_BOUNCE_SIZE,
	/* The model's options: OPT_MODEL + their index in its table. */
	OPT_MODEL = 1024,
};

/* @no or @yes: sets *out false or true; -EINVAL for anything else. */
static int parse_either(const char *s, const char *no, const char *yes,
			bool *out)
{
	if (!strcmp(s, no))
		*out = false;
	else if (!strcmp(s, yes))
		*out = true;
	else
		return -EINVAL;
	return 0;
}

/* "split" or "packed": sets *ring; -EINVAL for anything else. */
static int parse_ring(const char *s, enum vdk_ring *ring)
{
	if (!strcmp(s, "split"))
		*ring = VDK_RING_SPLIT;
	else if (!strcmp(s, "packed"))
		*ring = VDK_RING_PACKED;
	else
		return -EINVAL;
	return 0;
}

/*
 * Bytes, with an optional K, M or G (powers of 1024): what VDUSE takes,
 * whole pages from VDUSE_MIN_BOUNCE_SIZE to VDUSE_MAX_BOUNCE_SIZE.
 */
int vdk_parse_bounce_size(const char *s, uint64_t *out)
{
	unsigned long long v;
	unsigned int shift = 0;
	char *end;

	if (!*s || *s == '-' || *s == '+' || *s == ' ')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	if (*end == 'K' || *end == 'k')
		shift = 10;
	else if (*end == 'M')
		shift = 20;
	else if (*end == 'G')
		shift = 30;
	if (shift)
		end++;
	if (*end || v > (VDK_BOUNCE_SIZE_MAX >> shift))
		return -EINVAL;
	v <<= shift;
	if (v < VDK_BOUNCE_SIZE_MIN || v % 4096)
		return -EINVAL;
	*out = v;
	return 0;
}

/* The options of the daemon, before the model's. */
static const struct option add_lopts[] = {
	{ "bus", required_argument, NULL, OPT_BUS },
	{ "ring", required_argument, NULL, OPT_RING },
	{ "in-order", no_argument, NULL, OPT_IN_ORDER },
	{ "bounce", required_argument, NULL, OPT_BOUNCE },
	{ "bounce-size", required_argument, NULL, OPT_BOUNCE_SIZE },
	{ "daemon", no_argument, NULL, 'd' },
	{ "pidfile", required_argument, NULL, 'p' },
	{ "json", no_argument, NULL, 'j' },
	{ "log", required_argument, NULL, OPT_LOG },
	{ "verbose", no_argument, NULL, 'v' },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "type", required_argument, NULL, OPT_TYPE },
	{ "user", required_argument, NULL, OPT_USER },
	{ "no-confine", no_argument, NULL, OPT_NO_CONFINE },
	{ "seccomp-log", no_argument, NULL, OPT_SECCOMP_LOG },
	{ "help", no_argument, NULL, 'h' },
};
#define ADD_NLOPTS (sizeof(add_lopts) / sizeof(add_lopts[0]))
static const char add_sopts[] = ":dp:jvh";
/* Options a model may have, with room for the ones above. */
#define MODEL_OPTS_MAX 32

static int bad_type(const char *val, const struct vdk_model_ops *const *models,
		    char *err, size_t errlen)
{
	char names[128] = "";
	size_t used = 0;

	for (; *models; models++) {
		snprintf(names + used, sizeof(names) - used, "%s%s",
			 used ? ", " : "", (*models)->name);
		used = strlen(names);
	}
	return bad_value(err, errlen, "--type", val, names);
}

/*
 * The device model decides which options there are, so --type is looked
 * for before the others are parsed: "--type T" or "--type=T", up to "--".
 */
static int find_model(int argc, char **argv,
		      const struct vdk_model_ops *const *models,
		      const struct vdk_model_ops **out, char *err,
		      size_t errlen)
{
	const char *val = NULL;
	int i;

	for (i = 1; i < argc && strcmp(argv[i], "--"); i++) {
		if (!strcmp(argv[i], "--type") && i + 1 < argc)
			val = argv[++i];
		else if (!strncmp(argv[i], "--type=", 7))
			val = argv[i] + 7;
	}
	*out = val ? vdk_model_find(models, val) : models[0];
	if (!*out)
		return bad_type(val, models, err, errlen);
	return 0;
}

/* getopt_long's tables: the daemon's options and the model's. */
static int build_opts(const struct vdk_model_ops *m, struct option *lopts,
		      char *sopts, size_t slen)
{
	const struct vdk_model_opt *o;
	size_t n = ADD_NLOPTS, used;

	memcpy(lopts, add_lopts, sizeof(add_lopts));
	snprintf(sopts, slen, "%s", add_sopts);
	for (o = m->opts; o && o->name; o++) {
		if (n - ADD_NLOPTS == MODEL_OPTS_MAX)
			return -E2BIG;
		lopts[n].name = o->name;
		lopts[n].has_arg = o->has_arg ? required_argument :
						no_argument;
		lopts[n].flag = NULL;
		lopts[n].val = OPT_MODEL + (int)(o - m->opts);
		n++;
		if (o->short_name) {
			used = strlen(sopts);
			snprintf(sopts + used, slen - used, "%c%s",
				 o->short_name, o->has_arg ? ":" : "");
		}
	}
	memset(&lopts[n], 0, sizeof(lopts[n]));
	return 0;
}

/* The model's option of getopt's answer @c, or NULL. */
static const struct vdk_model_opt *model_opt(const struct vdk_model_ops *m,
					     int c)
{
	const struct vdk_model_opt *o;

	for (o = m->opts; o && o->name; o++)
		if (c == OPT_MODEL + (int)(o - m->opts) || c == o->short_name)
			return o;
	return NULL;
}

static int parse_add(int argc, char **argv,
		     const struct vdk_model_ops *const *models,
		     bool takeover, struct vdk_add_args *a, char *err,
		     size_t errlen)
{
	struct option lopts[ADD_NLOPTS + MODEL_OPTS_MAX + 1];
	char sopts[sizeof(add_sopts) + 2 * MODEL_OPTS_MAX];
	const struct vdk_model_opt *o;
	int c;

	memset(a, 0, sizeof(*a));
	a->timeout = VDK_DEF_TIMEOUT;
	if (find_model(argc, argv, models, &a->model, err, errlen))
		return -EINVAL;
	if (build_opts(a->model, lopts, sopts, sizeof(sopts))) {
		snprintf(err, errlen, "too many options");
		return -EINVAL;
	}
	if (a->model->cfg_new(&a->cfg)) {
		snprintf(err, errlen, "out of memory");
		return -EINVAL;
	}
	getopt_reset();
	while ((c = getopt_long(argc, argv, sopts, lopts, NULL)) != -1) {
		switch (c) {
		case OPT_BUS:
			if (parse_either(optarg, "virtio", "vhost", &a->vhost))
				return bad_value(err, errlen, "--bus", optarg,
						 "virtio or vhost");
			break;
		case OPT_RING:
			if (parse_ring(optarg, &a->ring))
				return bad_value(err, errlen, "--ring", optarg,
						 "split or packed");
			break;
		case OPT_IN_ORDER:
			a->in_order = true;
			break;
		case OPT_BOUNCE:
			if (parse_either(optarg, "umem", "kernel",
					 &a->bounce_kernel))
				return bad_value(err, errlen, "--bounce", optarg,
						 "umem or kernel");
			break;
		case OPT_BOUNCE_SIZE:
			if (vdk_parse_bounce_size(optarg, &a->bounce_size))
				return bad_value(err, errlen, "--bounce-size",
						 optarg,
						 "whole 4 KiB pages, 1M..1G");
			break;
		case 'd':
			a->daemon = true;
			break;
		case 'p':
			if (!*optarg)
				return bad_value(err, errlen, "--pidfile",
						 optarg, "a file name");
			a->pidfile = optarg;
			break;
		case 'j':
			a->json = true;
			break;
		case OPT_LOG:
			if (!*optarg)
				return bad_value(err, errlen, "--log", optarg,
						 "a file name");
			a->log = optarg;
			break;
		case 'v':
			a->verbose++;
			break;
		case OPT_TIMEOUT:
			if (parse_timeout(optarg, &a->timeout, err, errlen))
				return -EINVAL;
			break;
		case OPT_TYPE:
			/* An abbreviation, or a second --type. */
			if (strcmp(optarg, a->model->name))
				return bad_value(err, errlen, "--type", optarg,
						 "once, and spelt out");
			break;
		case OPT_USER:
			if (!*optarg)
				return bad_value(err, errlen, "--user", optarg,
						 "a user name");
			a->user = optarg;
			break;
		case OPT_NO_CONFINE:
			a->no_confine = true;
			break;
		case OPT_SECCOMP_LOG:
			a->seccomp_log = true;
			break;
		case 'h':
			a->help = true;
			return 0;
		default:
			o = model_opt(a->model, c);
			if (!o)
				return opt_error(c, argv, err, errlen);
			if (a->model->cfg_opt(a->cfg, o->key,
					      o->has_arg ? optarg : NULL, err,
					      errlen))
				return -EINVAL;
		}
	}
	a->name = optind < argc ? argv[optind++] : NULL;
	if (check_name(a->name, err, errlen))
		return -EINVAL;
	a->nwords = argc - optind;
	a->words = argv + optind;
	if (takeover) {
		if (a->nwords) {
			snprintf(err, errlen, "unexpected KEY=VALUE");
			return -EINVAL;
		}
		return 0;
	}
	if (a->model->cfg_words(a->cfg, a->nwords, a->words, err, errlen))
		return -EINVAL;
	return 0;
}

int vdk_args_add(int argc, char **argv,
		 const struct vdk_model_ops *const *models,
		 struct vdk_add_args *a, char *err, size_t errlen)
{
	return parse_add(argc, argv, models, false, a, err, errlen);
}

int vdk_args_takeover(int argc, char **argv,
		      const struct vdk_model_ops *const *models,
		      struct vdk_add_args *a, char *err, size_t errlen)
{
	return parse_add(argc, argv, models, true, a, err, errlen);
}

void vdk_args_add_free(struct vdk_add_args *a)
{
	if (a->model && a->cfg)
		a->model->cfg_free(a->cfg);
	a->cfg = NULL;
}

int vdk_args_del(int argc, char **argv, struct vdk_del_args *a, char *err,
		 size_t errlen)
{
	static const struct option lopts[] = {
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(a, 0, sizeof(*a));
	a->timeout = VDK_DEF_TIMEOUT;
	getopt_reset();
	while ((c = getopt_long(argc, argv, ":h", lopts, NULL)) != -1) {
		switch (c) {
		case OPT_TIMEOUT:
			if (parse_timeout(optarg, &a->timeout, err, errlen))
				return -EINVAL;
			break;
		case 'h':
			a->help = true;
			return 0;
		default:
			return opt_error(c, argv, err, errlen);
		}
	}
	a->name = optind < argc ? argv[optind++] : NULL;
	if (check_name(a->name, err, errlen))
		return -EINVAL;
	return no_more(argc, argv, err, errlen);
}

int vdk_args_list(int argc, char **argv, struct vdk_list_args *a, char *err,
		  size_t errlen)
{
	static const struct option lopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(a, 0, sizeof(*a));
	getopt_reset();
	while ((c = getopt_long(argc, argv, ":jh", lopts, NULL)) != -1) {
		switch (c) {
		case 'j':
			a->json = true;
			break;
		case 'h':
			a->help = true;
			return 0;
		default:
			return opt_error(c, argv, err, errlen);
		}
	}
	if (optind < argc) {
		a->name = argv[optind++];
		if (check_name(a->name, err, errlen))
			return -EINVAL;
	}
	return no_more(argc, argv, err, errlen);
}

int vdk_args_resize(int argc, char **argv, struct vdk_resize_args *a,
		    char *err, size_t errlen)
{
	static const struct option lopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(a, 0, sizeof(*a));
	getopt_reset();
	while ((c = getopt_long(argc, argv, ":h", lopts, NULL)) != -1) {
		switch (c) {
		case 'h':
			a->help = true;
			return 0;
		default:
			return opt_error(c, argv, err, errlen);
		}
	}
	a->name = optind < argc ? argv[optind++] : NULL;
	if (check_name(a->name, err, errlen))
		return -EINVAL;
	return no_more(argc, argv, err, errlen);
}

int vdk_args_bus(int argc, char **argv, struct vdk_bus_args *a, char *err,
		 size_t errlen)
{
	static const struct option lopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *bus;
	int c;

	memset(a, 0, sizeof(*a));
	a->timeout = VDK_DEF_TIMEOUT;
	getopt_reset();
	while ((c = getopt_long(argc, argv, ":jh", lopts, NULL)) != -1) {
		switch (c) {
		case 'j':
			a->json = true;
			break;
		case OPT_TIMEOUT:
			if (parse_timeout(optarg, &a->timeout, err, errlen))
				return -EINVAL;
			break;
		case 'h':
			a->help = true;
			return 0;
		default:
			return opt_error(c, argv, err, errlen);
		}
	}
	a->name = optind < argc ? argv[optind++] : NULL;
	if (check_name(a->name, err, errlen))
		return -EINVAL;
	if (optind >= argc) {
		snprintf(err, errlen, "missing bus (virtio or vhost)");
		return -EINVAL;
	}
	bus = argv[optind++];
	if (parse_either(bus, "virtio", "vhost", &a->vhost))
		return bad_value(err, errlen, "bus", bus, "virtio or vhost");
	return no_more(argc, argv, err, errlen);
}

int vdk_args_backends(int argc, char **argv, struct vdk_backends_args *a,
		      char *err, size_t errlen)
{
	static const struct option lopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(a, 0, sizeof(*a));
	getopt_reset();
	while ((c = getopt_long(argc, argv, ":jh", lopts, NULL)) != -1) {
		switch (c) {
		case 'j':
			a->json = true;
			break;
		case 'h':
			a->help = true;
			return 0;
		default:
			return opt_error(c, argv, err, errlen);
		}
	}
	return no_more(argc, argv, err, errlen);
}

int vdk_args_up(int argc, char **argv, struct vdk_up_args *a, char *err,
		size_t errlen)
{
	static const struct option lopts[] = {
		{ "daemon", no_argument, NULL, 'd' },
		{ "pidfile", required_argument, NULL, 'p' },
		{ "json", no_argument, NULL, 'j' },
		{ "log", required_argument, NULL, OPT_LOG },
		{ "verbose", no_argument, NULL, 'v' },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned int timeout;
	int c, first;

	memset(a, 0, sizeof(*a));
	getopt_reset();
	while ((c = getopt_long(argc, argv, ":dp:jvh", lopts, NULL)) != -1) {
		switch (c) {
		case 'd':
		case 'j':
		case 'v':
			break;
		case 'p':
		case OPT_LOG:
			if (!*optarg)
				return bad_value(err, errlen,
						 c == 'p' ? "--pidfile" :
							    "--log",
						 optarg, "a file name");
			break;
		case OPT_TIMEOUT:
			if (parse_timeout(optarg, &timeout, err, errlen))
				return -EINVAL;
			break;
		case 'h':
			a->help = true;
			return 0;
		default:
			return opt_error(c, argv, err, errlen);
		}
	}
	/* getopt put the options first: they are argv[1 .. optind - 1]. */
	first = 1;
	a->opts = argv + first;
	a->nopts = optind - first;
	if (a->nopts > 0 && !strcmp(argv[optind - 1], "--"))
		a->nopts--;
	a->name = optind < argc ? argv[optind++] : NULL;
	if (check_name(a->name, err, errlen))
		return -EINVAL;
	return no_more(argc, argv, err, errlen);
}

int vdk_args_stat(int argc, char **argv, struct vdk_stat_args *a, char *err,
		  size_t errlen)
{
	static const struct option lopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "count", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned long v;
	int c, left;

	memset(a, 0, sizeof(*a));
	getopt_reset();
	while ((c = getopt_long(argc, argv, ":jc:h", lopts, NULL)) != -1) {
		switch (c) {
		case 'j':
			a->json = true;
			break;
		case 'c':
			if (vdk_parse_uint(optarg, 1, 1000000000, &v))
				return bad_value(err, errlen, "--count",
						 optarg, "1 or more");
			a->count = v;
			break;
		case 'h':
			a->help = true;
			return 0;
		default:
			return opt_error(c, argv, err, errlen);
		}
	}
	/*
	 * [NAME] [INTERVAL]: a lone number is the interval (as iostat's);
	 * a device whose name is a number takes both.
	 */
	left = argc - optind;
	if (left == 2 || (left == 1 && vdk_parse_uint(argv[optind], 0,
						       ~0ul, &v))) {
		a->name = argv[optind++];
		if (check_name(a->name, err, errlen))
			return -EINVAL;
	}
	if (optind < argc) {
		if (vdk_parse_uint(argv[optind], 1, 86400, &v))
			return bad_value(err, errlen, "interval",
					 argv[optind], "seconds, 1..86400");
		a->interval = v;
		optind++;
	}
	if (a->count && !a->interval)
		a->interval = 1;
	return no_more(argc, argv, err, errlen);
}
