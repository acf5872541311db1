package container

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// --init: a small PID 1 that reaps zombies and forwards signals, as Docker's
// --init (tini). The binary itself serves: it is linked statically, so it
// runs in any image, bind-mounted read-only at initPath.

const initPath = "/sbin/mydocker-init"

// withInit runs the spec's command under the reaper.
func withInit(spec *specs.Spec) error {
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("--init: %w", err)
	}
	spec.Mounts = append(spec.Mounts, specs.Mount{Destination: initPath, Type: "bind", Source: self, Options: []string{"bind", "ro"}})
	spec.Process.Args = append([]string{initPath, "reap", "--"}, spec.Process.Args...)
	return nil
}

// Reap is the hidden `reap` command, PID 1 under --init: it starts args,
// forwards every signal it gets to it, reaps whatever else dies, and exits
// as the command did.
func Reap(args []string) error {
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 {
		return fmt.Errorf("reap: no command")
	}
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs)
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "mydocker-init: %v\n", err)
		os.Exit(127)
	}
	child := cmd.Process.Pid
	for {
		sig := <-sigs
		if sig != unix.SIGCHLD {
			if s, ok := sig.(syscall.Signal); ok && s != unix.SIGURG { // SIGURG: the Go runtime's own
				unix.Kill(child, s)
			}
			continue
		}
		for {
			var ws unix.WaitStatus
			pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
			if pid == child {
				if ws.Signaled() {
					os.Exit(128 + int(ws.Signal()))
				}
				os.Exit(ws.ExitStatus())
			}
		}
	}
}
