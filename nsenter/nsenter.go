// Package nsenter joins a running container's namespaces before the Go
// runtime starts. Go cannot do it later: setns(CLONE_NEWNS) refuses a
// multi-threaded process, and a Go program is multi-threaded from its first
// instruction. So a C constructor runs first, in every mydocker process, and
// does nothing unless `mydocker exec` asked for it through the environment:
//
//	_MYDOCKER_NSENTER_PID   the container's init pid (host PID namespace)
//	_MYDOCKER_NSENTER_SYNC  a pipe fd; one byte on it means "go ahead" (the
//	                        parent has put this process in the container's
//	                        cgroups by then)
//
// The constructor joins the ipc, uts, net, pid and mount namespaces of that
// pid, then forks: joining a PID namespace only applies to children. The
// child goes on into Go, already inside the container; the parent stays in C,
// passes on the signals it gets, and exits as the child does.
package nsenter

/*
#cgo CFLAGS: -Wall -O2
extern void mydocker_nsenter(void);
void __attribute__((constructor)) mydocker_nsenter_init(void) { mydocker_nsenter(); }
*/
import "C"
