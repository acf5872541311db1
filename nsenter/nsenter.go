// Package nsenter does, before the Go runtime starts, what a Go program
// cannot do once it is multi-threaded (which it is from its first
// instruction). A C constructor runs first, in every mydocker process, and
// does nothing unless the environment asks:
//
//	_MYDOCKER_CGROUP_TASKS  cgroup v1 tasks files, one a line: the process
//	                        (init, or exec's) joins those cgroups itself by
//	                        writing 0 to each while it has a single thread.
//	                        Moving another process in (cgroup.procs) takes
//	                        the kernel's cgroup_threadgroup_rwsem for
//	                        writing, which waits out an RCU grace period:
//	                        10-15 ms here, the largest cost of a run. A
//	                        thread moving itself skips that lock. (On v2 the
//	                        parent clones the child into its cgroup.)
//	_MYDOCKER_NSENTER_PID   for exec: the container's init pid (host PID
//	                        namespace), whose ipc, uts, net, pid and mount
//	                        namespaces (and user namespace) to join.
//
// setns(CLONE_NEWNS) refuses a multi-threaded process, and joining a PID
// namespace only applies to children, so for exec the constructor joins,
// then forks: the child goes on into Go, already inside the container; the
// parent stays in C, passes on the signals it gets, and exits as the child
// does.
package nsenter

/*
#cgo CFLAGS: -Wall -O2
extern void mydocker_join_cgroups(void);
extern void mydocker_nsenter(void);
extern const char *mydocker_join_error(void);
void __attribute__((constructor)) mydocker_nsenter_init(void) {
	mydocker_join_cgroups();
	mydocker_nsenter();
}
*/
import "C"

// JoinError says why the constructor could not join the cgroups it was
// asked to ("" when it did, or was not asked).
func JoinError() string { return C.GoString(C.mydocker_join_error()) }
