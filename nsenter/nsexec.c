// The cgo constructor behind `mydocker exec`: see nsenter.go.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile pid_t child_pid;

static void forward_signal(int sig) {
	if (child_pid > 0)
		kill(child_pid, sig);
}

static void fail(const char *what, const char *detail) {
	fprintf(stderr, "mydocker: exec: %s %s: %s\n", what, detail, strerror(errno));
	_exit(125);
}

const char *mydocker_join_error(void);

void mydocker_nsenter(void) {
	const char *pid = getenv("_MYDOCKER_NSENTER_PID");
	if (pid == NULL || *pid == '\0')
		return;
	if (*mydocker_join_error() != '\0') {
		fprintf(stderr, "mydocker: exec: %s\n", mydocker_join_error());
		_exit(125);
	}

	// A container in a user namespace of its own: join that first, so that
	// the namespaces it owns can be joined next (with setns(2)'s rights
	// there), as runc does.
	char upath[64];
	snprintf(upath, sizeof(upath), "/proc/%s/ns/user", pid);
	struct stat theirs, ours;
	int userfd = -1;
	if (stat(upath, &theirs) == 0 && stat("/proc/self/ns/user", &ours) == 0 &&
	    (theirs.st_ino != ours.st_ino || theirs.st_dev != ours.st_dev)) {
		userfd = open(upath, O_RDONLY | O_CLOEXEC);
		if (userfd < 0)
			fail("opening", upath);
	}

	// Open every namespace first: once in the container's mount namespace,
	// /proc is the container's and no longer shows the target by this pid.
	static const char *names[] = {"ipc", "uts", "net", "pid", "mnt"};
	enum { N = sizeof(names) / sizeof(names[0]) };
	int fds[N];
	for (int i = 0; i < N; i++) {
		char path[64];
		snprintf(path, sizeof(path), "/proc/%s/ns/%s", pid, names[i]);
		fds[i] = open(path, O_RDONLY | O_CLOEXEC);
		if (fds[i] < 0)
			fail("opening", path);
	}
	if (userfd >= 0) {
		if (setns(userfd, CLONE_NEWUSER) < 0)
			fail("joining namespace", "user");
		close(userfd);
	}
	for (int i = 0; i < N; i++) {
		if (setns(fds[i], 0) < 0)
			fail("joining namespace", names[i]);
		close(fds[i]);
	}

	pid_t child = fork();
	if (child < 0)
		fail("fork", "");
	if (child == 0)
		return; // into Go, inside the container

	child_pid = child;
	// The child took over the config pipe and sync socket; the parent of
	// exec must see end-of-file on them when the child execs.
	if (syscall(SYS_close_range, 3, ~0U, 0) < 0) {
		for (int fd = 3; fd < 1024; fd++)
			close(fd);
	}
	int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH};
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = forward_signal;
	sa.sa_flags = SA_RESTART;
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);

	int status;
	for (;;) {
		pid_t r = waitpid(child, &status, 0);
		if (r == child)
			break;
		if (r < 0 && errno != EINTR)
			fail("waiting for", "the command");
	}
	if (WIFEXITED(status))
		_exit(WEXITSTATUS(status));
	_exit(128 + WTERMSIG(status));
}
