// Joining cgroups before Go starts: see nsenter.go.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char join_error[4200];

// mydocker_join_error is why the tasks files could not be written, or "".
const char *mydocker_join_error(void) { return join_error; }

// mydocker_join_cgroups writes 0 (this thread, the only one) to each tasks
// file _MYDOCKER_CGROUP_TASKS names, one a line.
void mydocker_join_cgroups(void) {
	const char *list = getenv("_MYDOCKER_CGROUP_TASKS");
	if (list == NULL || *list == '\0')
		return;
	const char *p = list;
	while (*p) {
		const char *end = strchr(p, '\n');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		char path[4096];
		if (n > 0 && n < sizeof(path)) {
			memcpy(path, p, n);
			path[n] = '\0';
			int fd = open(path, O_WRONLY | O_CLOEXEC);
			ssize_t w = -1;
			if (fd >= 0) {
				do {
					w = write(fd, "0", 1);
				} while (w < 0 && errno == EINTR);
				int saved = errno;
				close(fd);
				errno = saved;
			}
			if (w != 1) {
				snprintf(join_error, sizeof(join_error), "joining cgroup %s: %s", path, strerror(errno));
				return;
			}
		}
		if (!end)
			break;
		p = end + 1;
	}
}
