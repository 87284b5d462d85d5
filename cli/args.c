// SPDX-License-Identifier: MIT
/*
 * Option parsing of the verbs.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
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
	OPT_QUEUE_SIZE = 256,
	OPT_SERIAL,
	OPT_BUS,
	OPT_LOG,
	OPT_TIMEOUT,
};

/* "virtio" or "vhost": sets *vhost; -EINVAL for anything else. */
static int parse_bus(const char *s, bool *vhost)
{
	if (!strcmp(s, "virtio"))
		*vhost = false;
	else if (!strcmp(s, "vhost"))
		*vhost = true;
	else
		return -EINVAL;
	return 0;
}

int vdk_args_add(int argc, char **argv, struct vdk_add_args *a, char *err,
		 size_t errlen)
{
	static const struct option lopts[] = {
		{ "queues", required_argument, NULL, 'q' },
		{ "queue-size", required_argument, NULL, OPT_QUEUE_SIZE },
		{ "block-size", required_argument, NULL, 'b' },
		{ "read-only", no_argument, NULL, 'r' },
		{ "serial", required_argument, NULL, OPT_SERIAL },
		{ "bus", required_argument, NULL, OPT_BUS },
		{ "daemon", no_argument, NULL, 'd' },
		{ "pidfile", required_argument, NULL, 'p' },
		{ "json", no_argument, NULL, 'j' },
		{ "log", required_argument, NULL, OPT_LOG },
		{ "verbose", no_argument, NULL, 'v' },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned long v;
	int c;

	memset(a, 0, sizeof(*a));
	a->queues = VDK_DEF_QUEUES;
	a->queue_size = VDK_DEF_QUEUE_SIZE;
	a->timeout = VDK_DEF_TIMEOUT;
	getopt_reset();
	while ((c = getopt_long(argc, argv, ":q:b:rdp:jvh", lopts,
				NULL)) != -1) {
		switch (c) {
		case 'q':
			if (vdk_parse_uint(optarg, 1, VDK_MAX_QUEUES, &v))
				return bad_value(err, errlen, "--queues",
						 optarg, "1..64");
			a->queues = v;
			break;
		case OPT_QUEUE_SIZE:
			if (vdk_parse_uint(optarg, 2, VDK_MAX_QUEUE_SIZE, &v) ||
			    (v & (v - 1)))
				return bad_value(err, errlen, "--queue-size",
						 optarg,
						 "a power of 2, 2..1024");
			a->queue_size = v;
			break;
		case 'b':
			if (vdk_parse_uint(optarg, 512, 4096, &v) ||
			    (v != 512 && v != 4096))
				return bad_value(err, errlen, "--block-size",
						 optarg, "512 or 4096");
			a->block_size = v;
			break;
		case 'r':
			a->read_only = true;
			break;
		case OPT_SERIAL:
			if (strlen(optarg) > VDK_SERIAL_MAX)
				return bad_value(err, errlen, "--serial",
						 optarg, "up to 20 bytes");
			a->serial = optarg;
			break;
		case OPT_BUS:
			if (parse_bus(optarg, &a->vhost))
				return bad_value(err, errlen, "--bus", optarg,
						 "virtio or vhost");
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
		snprintf(err, errlen, "missing backend (see 'vdk backends')");
		return -EINVAL;
	}
	a->backend = argv[optind++];
	a->nparams = argc - optind;
	a->params = argv + optind;
	return 0;
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
	if (parse_bus(bus, &a->vhost))
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
