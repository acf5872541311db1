package container

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
	"golang.org/x/term"

	"github.com/mydocker/mydocker/cgroups"
	"github.com/mydocker/mydocker/internal/errdefs"
)

// ExecOptions are the flags of `mydocker exec`.
type ExecOptions struct {
	Args        []string
	Env         []string
	Workdir     string
	User        string // --user; the container's own user when empty
	Privileged  bool   // every capability the host has
	Interactive bool
	TTY         bool
}

// execConfig is what execinit receives over its pipe.
type execConfig struct {
	Process    *specs.Process `json:"process"`
	SeccompBPF []byte         `json:"seccompBPF,omitempty"`
}

// Exec runs a command inside a running container and returns its exit
// status as an errdefs.Status. The process is `mydocker execinit`, which the
// nsenter constructor moves into the container's namespaces before Go
// starts; this process puts it in the container's cgroups first.
func (rt *Runtime) Exec(ref string, o *ExecOptions) error {
	c, err := rt.Lookup(ref)
	if err != nil {
		return errdefs.WithCode(err, errdefs.CodeGeneral)
	}
	if c.State.Status != Running || !processAlive(c.State.Pid, c.State.PidStart) {
		return errdefs.Errorf(errdefs.CodeGeneral, "container %s is not running", c.ShortID())
	}
	if o.Interactive && o.TTY && !term.IsTerminal(int(os.Stdin.Fd())) {
		return errdefs.Errorf(errdefs.CodeGeneral, "the input device is not a TTY")
	}
	if len(o.Args) == 0 {
		return errdefs.Errorf(errdefs.CodeRuntime, "no command specified")
	}
	proc := *c.Spec.Process
	proc.Args = o.Args
	proc.Terminal = o.TTY
	proc.ConsoleSize = nil
	if o.User != "" {
		proc.User = specs.User{Username: o.User}
	}
	if o.Privileged {
		proc.Capabilities, _ = buildCaps(nil, nil, true)
	}
	if o.Workdir != "" {
		if !filepath.IsAbs(o.Workdir) {
			return errdefs.Errorf(errdefs.CodeRuntime, "the working directory '%s' is invalid, it needs to be an absolute path", o.Workdir)
		}
		proc.Cwd = o.Workdir
	}
	env, err := buildEnv(proc.Env, o.Env, c.Spec.Hostname, o.TTY)
	if err != nil {
		return errdefs.WithCode(err, errdefs.CodeRuntime)
	}
	proc.Env = env
	if o.TTY && term.IsTerminal(int(os.Stdin.Fd())) {
		if ws, err := unix.IoctlGetWinsize(int(os.Stdin.Fd()), unix.TIOCGWINSZ); err == nil {
			proc.ConsoleSize = &specs.Box{Height: uint(ws.Row), Width: uint(ws.Col)}
		}
	}

	cmd := exec.Command("/proc/self/exe", "execinit")
	cmd.Env = []string{"_MYDOCKER_NSENTER_PID=" + strconv.Itoa(c.State.Pid)}
	cmd.SysProcAttr = &syscall.SysProcAttr{}
	if c.CgroupPath != "" {
		// Born in the container's cgroups, so that what it forks is too.
		// exec's constructor joins them as host root, before the user
		// namespace.
		closeFd, _, err := joinAtStart(cmd, cgroups.New(c.CgroupPath), true)
		if err != nil {
			return errdefs.WithCode(fmt.Errorf("exec: %w", err), errdefs.CodeRuntime)
		}
		defer closeFd()
	}
	l, err := launch(cmd, o.TTY, o.Interactive)
	if err != nil {
		return errdefs.WithCode(fmt.Errorf("exec: %w", err), errdefs.CodeRuntime)
	}
	defer l.close()
	bpf, err := rt.seccompProgram(c.Spec)
	if err != nil {
		l.p.kill()
		return errdefs.WithCode(fmt.Errorf("exec: %w", err), errdefs.CodeRuntime)
	}
	if err := l.handshake(execConfig{Process: &proc, SeccompBPF: bpf}); err != nil {
		l.p.kill()
		return err
	}
	if code := l.p.attach(o.Interactive, nil); code != 0 {
		return errdefs.Status(code)
	}
	return nil
}

// ExecInit is the hidden `execinit` command: already inside the container's
// namespaces (the nsenter constructor put it there), it sets up the process
// it was sent and execs it.
func ExecInit() error {
	unix.CloseOnExec(initConfigFd)
	unix.CloseOnExec(initSyncFd)
	var cfg execConfig
	f := os.NewFile(initConfigFd, "exec-config")
	if err := json.NewDecoder(f).Decode(&cfg); err != nil || cfg.Process == nil {
		return reportFailure(fmt.Errorf("reading the process config: %v", err))
	}
	f.Close()
	return reportFailure(execProcess(cfg.Process, cfg.SeccompBPF, true, nil))
}
