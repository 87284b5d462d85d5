/* SPDX-License-Identifier: MIT */
/*
 * The daemon's confinement, each step in a child process of its own:
 * a system call outside the filter kills with SIGSYS, a path outside the
 * Landlock allowance cannot be opened, and (run as root) the process ends
 * up with a non-zero uid, no capabilities, no_new_privs and a filter, as
 * /proc/self/status says.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "confine.h"
#include "test.h"

/* The child's verdicts, as exit codes. */
enum { C_OK = 0, C_FAIL = 1, C_SKIP = 77 };

static int run_child(int (*fn)(void *), void *arg, int *sig)
{
	int status;
	pid_t pid = fork();

	CHECK(pid >= 0);
	if (pid == 0)
		_exit(fn(arg));
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	*sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static const struct vdk_syscalls *const daemon_only[] = {
	&vdk_daemon_syscalls, NULL,
};

/* A field of /proc/self/status, e.g. "CapEff", as text. */
static int status_field(const char *name, char *out, size_t len)
{
	char line[256];
	size_t n = strlen(name);
	FILE *f = fopen("/proc/self/status", "r");
	int ret = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, name, n) || line[n] != ':')
			continue;
		snprintf(out, len, "%s", line + n + 1 + strspn(line + n + 1,
								" \t"));
		out[strcspn(out, "\n")] = 0;
		ret = 0;
		break;
	}
	fclose(f);
	return ret;
}

static int child_forbidden(void *arg)
{
	struct vdk_confine_cfg cfg = { .syscalls = daemon_only,
				       .no_landlock = true };
	struct vdk_confine_info info;
	char err[256];

	if (vdk_confine(&cfg, &info, err, sizeof(err)))
		return C_FAIL;
	/* Allowed: goes on. */
	if (getpid() <= 0)
		return C_FAIL;
	/* Not in any set: the process dies here. */
	syscall(SYS_ptrace, 0, 0, 0, 0);
	return C_OK;
}

/* @arg: a directory the child may read; everything else is refused. */
static int child_landlock(void *arg)
{
	const char *dir = arg;
	const char *const ro[] = { dir, NULL };
	struct vdk_confine_cfg cfg = { .ro_paths = ro };
	struct vdk_confine_info info;
	char err[256], path[512];
	int fd;

	if (vdk_confine(&cfg, &info, err, sizeof(err))) {
		fprintf(stderr, "confine: %s\n", err);
		return C_FAIL;
	}
	if (info.landlock_abi == 0)
		return C_SKIP;
	snprintf(path, sizeof(path), "%s/inside", dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return C_FAIL;
	close(fd);
	/* Read-only there: no writing. */
	if (open(path, O_WRONLY | O_CLOEXEC) >= 0 || errno != EACCES)
		return C_FAIL;
	/* Outside it: nothing. */
	if (open("/etc/passwd", O_RDONLY | O_CLOEXEC) >= 0 ||
	    errno != EACCES)
		return C_FAIL;
	return C_OK;
}

static int child_all(void *arg)
{
	const char *const ro[] = { "/proc/self", NULL };
	struct vdk_confine_cfg cfg = { .uid = 65534, .gid = 65534,
				       .ro_paths = ro,
				       .syscalls = daemon_only };
	struct vdk_confine_info info;
	char err[256], v[64];

	if (vdk_confine(&cfg, &info, err, sizeof(err))) {
		fprintf(stderr, "confine: %s\n", err);
		return C_FAIL;
	}
	if (info.uid != 65534 || !info.no_new_privs || !info.seccomp ||
	    info.syscalls < 50)
		return C_FAIL;
	if (status_field("CapEff", v, sizeof(v)) ||
	    strtoull(v, NULL, 16) != 0)
		return C_FAIL;
	if (status_field("NoNewPrivs", v, sizeof(v)) || strcmp(v, "1"))
		return C_FAIL;
	if (status_field("Seccomp", v, sizeof(v)) || strcmp(v, "2"))
		return C_FAIL;
	if (getuid() != 65534)
		return C_FAIL;
	return C_OK;
}

int main(void)
{
	char dir[] = "/tmp/vdk-test-confine-XXXXXX", path[512];
	int ret, sig, fd;

	/* Outside the filter: SIGSYS, nothing else. */
	ret = run_child(child_forbidden, NULL, &sig);
	CHECK_EQ(sig, SIGSYS);

	CHECK(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/inside", dir);
	fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	CHECK(fd >= 0);
	close(fd);
	ret = run_child(child_landlock, dir, &sig);
	CHECK_EQ(sig, 0);
	if (ret == C_SKIP)
		printf("landlock: not in this kernel, not checked\n");
	else
		CHECK_EQ(ret, C_OK);
	unlink(path);
	rmdir(dir);

	if (geteuid() != 0) {
		printf("not root: the user switch is not checked\n");
		return T_EXIT_PASS;
	}
	ret = run_child(child_all, NULL, &sig);
	CHECK_EQ(sig, 0);
	CHECK_EQ(ret, C_OK);
	return T_EXIT_PASS;
}
