/* SPDX-License-Identifier: MIT */
/*
 * Confinement of a serving daemon: see confine.h for the steps and their
 * order.  Landlock has no wrapper in glibc: its three system calls are
 * made directly, with the ABI the running kernel reports.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <seccomp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/landlock.h>

#include "confine.h"

#ifndef LANDLOCK_ACCESS_FS_REFER
#define LANDLOCK_ACCESS_FS_REFER (1ULL << 13)
#endif
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)
#endif

static void errf(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/*
 * What the daemon's own code needs once it serves: its loops (poll,
 * eventfds, signals), threads, memory (libvdk maps driver memory and the
 * SIGBUS guard maps zero pages), the VDUSE ioctls on the device file, the
 * log (a file, stderr or syslog's socket, reopened if syslogd restarts).
 */
static const char *const daemon_names[] = {
	"read", "write", "readv", "writev", "pread64", "pwrite64", "close",
	"fstat", "newfstatat", "statx", "lseek", "openat", "fcntl", "dup",
	"dup3", "poll", "ppoll", "ioctl", "eventfd2",
	"mmap", "munmap", "mprotect", "madvise", "mremap", "brk",
	"rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigtimedwait",
	"sigaltstack", "signalfd4", "restart_syscall", "kill", "tgkill",
	"futex", "set_robust_list", "get_robust_list", "rseq", "clone",
	"clone3", "exit", "exit_group", "gettid", "getpid", "getppid",
	"sched_yield", "sched_getaffinity", "prctl",
	"clock_gettime", "clock_getres", "clock_nanosleep", "nanosleep",
	"gettimeofday", "time", "getrandom", "uname", "getuid", "geteuid",
	"getgid", "getegid", "getresuid", "getresgid", "prlimit64",
	"socket", "connect", "sendto", "sendmsg", "recvfrom", "recvmsg",
	NULL,
};

const struct vdk_syscalls vdk_daemon_syscalls = {
	.who = "daemon",
	.names = daemon_names,
};

int vdk_confine_user(const char *name, uid_t *uid, gid_t *gid)
{
	struct passwd pw, *res = NULL;
	char buf[4096];
	int ret;

	ret = getpwnam_r(name, &pw, buf, sizeof(buf), &res);
	if (ret)
		return -ret;
	if (!res)
		return -ENOENT;
	*uid = res->pw_uid;
	*gid = res->pw_gid;
	return 0;
}

/* ---- Landlock ---- */

static long ll_create(const struct landlock_ruleset_attr *attr, size_t size,
		      uint32_t flags)
{
	return syscall(__NR_landlock_create_ruleset, attr, size, flags);
}

/* Rights a directory tree gets: reading, and with @rw, writing. */
static uint64_t ll_rights(int abi, bool rw)
{
	uint64_t r = LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR;

	if (!rw)
		return r;
	r |= LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_REMOVE_FILE |
	     LANDLOCK_ACCESS_FS_MAKE_REG;
	if (abi >= 3)
		r |= LANDLOCK_ACCESS_FS_TRUNCATE;
	return r;
}

/* Every file system right of ABI @abi that we know: all refused first. */
static uint64_t ll_handled(int abi)
{
	uint64_t h = (LANDLOCK_ACCESS_FS_MAKE_SYM << 1) - 1; /* ABI 1 */

	if (abi >= 2)
		h |= LANDLOCK_ACCESS_FS_REFER;
	if (abi >= 3)
		h |= LANDLOCK_ACCESS_FS_TRUNCATE;
	return h;
}

static int ll_add(int ruleset, const char *path, uint64_t rights,
		  char *err, size_t errlen)
{
	struct landlock_path_beneath_attr pb = { .allowed_access = rights };
	struct stat st;
	int fd, ret = 0;

	fd = open(path, O_PATH | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0; /* nothing there to allow */
		ret = -errno;
		errf(err, errlen, "landlock: %s: %s", path, strerror(errno));
		return ret;
	}
	/* A file gets only the rights that apply to files. */
	if (fstat(fd, &st) == 0 && !S_ISDIR(st.st_mode))
		pb.allowed_access &= LANDLOCK_ACCESS_FS_READ_FILE |
				     LANDLOCK_ACCESS_FS_WRITE_FILE |
				     LANDLOCK_ACCESS_FS_TRUNCATE |
				     LANDLOCK_ACCESS_FS_EXECUTE;
	pb.parent_fd = fd;
	if (syscall(__NR_landlock_add_rule, ruleset,
		    LANDLOCK_RULE_PATH_BENEATH, &pb, 0)) {
		ret = -errno;
		errf(err, errlen, "landlock: %s: %s", path, strerror(errno));
	}
	close(fd);
	return ret;
}

/* Returns the ABI in force (0: the kernel has none), or -errno. */
static int ll_apply(const struct vdk_confine_cfg *cfg, char *err,
		    size_t errlen)
{
	struct landlock_ruleset_attr attr = { 0 };
	int abi, ruleset, ret;
	unsigned int i;

	abi = (int)ll_create(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
	if (abi < 0)
		return errno == ENOSYS || errno == EOPNOTSUPP ? 0 : -errno;
	attr.handled_access_fs = ll_handled(abi);
	ruleset = (int)ll_create(&attr, sizeof(attr), 0);
	if (ruleset < 0) {
		ret = -errno;
		errf(err, errlen, "landlock: %s", strerror(errno));
		return ret;
	}
	for (i = 0; cfg->ro_paths && cfg->ro_paths[i]; i++) {
		ret = ll_add(ruleset, cfg->ro_paths[i], ll_rights(abi, false),
			     err, errlen);
		if (ret)
			goto out;
	}
	for (i = 0; cfg->rw_paths && cfg->rw_paths[i]; i++) {
		ret = ll_add(ruleset, cfg->rw_paths[i], ll_rights(abi, true),
			     err, errlen);
		if (ret)
			goto out;
	}
	if (syscall(__NR_landlock_restrict_self, ruleset, 0)) {
		ret = -errno;
		errf(err, errlen, "landlock: %s", strerror(errno));
		goto out;
	}
	ret = abi;
out:
	close(ruleset);
	return ret;
}

/* ---- user ---- */

static int switch_user(uid_t uid, gid_t gid, char *err, size_t errlen)
{
	uid_t r, e, s;

	/* glibc applies these to every thread of the process. */
	if (setgroups(1, &gid) || setresgid(gid, gid, gid) ||
	    setresuid(uid, uid, uid)) {
		int ret = -errno;

		errf(err, errlen, "cannot become %u:%u: %s", (unsigned)uid,
		     (unsigned)gid, strerror(errno));
		return ret;
	}
	/* Make sure: no way back to root. */
	if (getresuid(&r, &e, &s) || r != uid || e != uid || s != uid ||
	    setuid(0) == 0) {
		errf(err, errlen, "still able to become root");
		return -EPERM;
	}
	return 0;
}

/* ---- seccomp ---- */

static int filter_load(const struct vdk_confine_cfg *cfg,
		       unsigned int *count, char *err, size_t errlen)
{
	scmp_filter_ctx ctx;
	unsigned int i, j, n = 0;
	int ret;

	ctx = seccomp_init(cfg->seccomp_log_only ? SCMP_ACT_LOG :
						   SCMP_ACT_KILL_PROCESS);
	if (!ctx) {
		errf(err, errlen, "seccomp: cannot make a filter");
		return -ENOMEM;
	}
	for (i = 0; cfg->syscalls[i]; i++) {
		const struct vdk_syscalls *set = cfg->syscalls[i];

		for (j = 0; set->names[j]; j++) {
			int nr = seccomp_syscall_resolve_name(set->names[j]);

			/* Not on this architecture: nothing to allow. */
			if (nr == __NR_SCMP_ERROR)
				continue;
			ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
			if (ret == -EEXIST)
				continue;
			if (ret < 0) {
				errf(err, errlen, "seccomp: %s (%s): %s",
				     set->names[j], set->who, strerror(-ret));
				goto out;
			}
			n++;
		}
	}
	/*
	 * A binary tree of the calls rather than a list: every call the
	 * daemon makes pays for the filter, and with a hundred calls a list
	 * walks most of them for the hot ones.
	 */
	seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
	/* Every thread, those there already included. */
	ret = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
	if (ret == 0)
		ret = seccomp_load(ctx);
	if (ret < 0)
		errf(err, errlen, "seccomp: %s", strerror(-ret));
	else
		*count = n;
out:
	seccomp_release(ctx);
	return ret < 0 ? ret : 0;
}

int vdk_confine_begin(const struct vdk_confine_cfg *cfg,
		      struct vdk_confine_info *info, char *err,
		      size_t errlen)
{
	int ret;

	memset(info, 0, sizeof(*info));
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) {
		ret = -errno;
		errf(err, errlen, "no_new_privs: %s", strerror(errno));
		return ret;
	}
	info->no_new_privs = true;
	/* Another process of the same user may not trace us. */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	if (!cfg->no_landlock) {
		ret = ll_apply(cfg, err, errlen);
		if (ret < 0)
			return ret;
		info->landlock_abi = ret;
	}
	return 0;
}

int vdk_confine_end(const struct vdk_confine_cfg *cfg,
		    struct vdk_confine_info *info, char *err, size_t errlen)
{
	int ret;

	if (cfg->uid && cfg->gid) {
		prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
		ret = switch_user(cfg->uid, cfg->gid, err, errlen);
		if (ret)
			return ret;
	}
	info->uid = geteuid();
	info->gid = getegid();
	if (cfg->syscalls) {
		ret = filter_load(cfg, &info->syscalls, err, errlen);
		if (ret)
			return ret;
		info->seccomp = true;
		info->seccomp_log_only = cfg->seccomp_log_only;
	}
	return 0;
}

int vdk_confine(const struct vdk_confine_cfg *cfg,
		struct vdk_confine_info *info, char *err, size_t errlen)
{
	int ret = vdk_confine_begin(cfg, info, err, errlen);

	return ret ? ret : vdk_confine_end(cfg, info, err, errlen);
}
