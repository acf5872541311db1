package container

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/mydocker/mydocker/internal/errdefs"
	"github.com/mydocker/mydocker/nsenter"
)

// File descriptors the parent hands to init (and to an exec'd process).
const (
	initConfigFd = 3 // the spec (or, for exec, the process), as JSON
	initSyncFd   = 4 // the sync socket (see sync.go)
)

// initConfig is what init receives over its pipe.
type initConfig struct {
	Spec *specs.Spec `json:"spec"`
	// RootfsMount is mounted on Spec.Root.Path first (the overlay of image
	// layers); nil when the root filesystem is ready as it is.
	RootfsMount *specs.Mount `json:"rootfsMount,omitempty"`
	// RootfsMountDir, when set, is the directory RootfsMount's relative
	// layer paths start from.
	RootfsMountDir string `json:"rootfsMountDir,omitempty"`
	// SeccompBPF is spec.Linux.Seccomp compiled (see seccomp.go).
	SeccompBPF []byte `json:"seccompBPF,omitempty"`
	// AwaitStart: init sets up the container while the parent makes its
	// network, and waits for msgStart before it confines itself and execs.
	AwaitStart bool `json:"awaitStart,omitempty"`
}

// Init is the container's first process: `mydocker init`, started by the
// parent in new namespaces. It sets up the container from the spec it
// reads, then execs the user's command, which so becomes PID 1. It returns
// only on failure, after telling the parent why; the caller exits with the
// error's code.
func Init() error {
	return reportFailure(runInit())
}

// reportFailure tells the parent why init (or an exec'd process) could not
// start the command, and returns the error main exits with, silently.
func reportFailure(err error) error {
	code, ok := errdefs.Code(err)
	if !ok {
		code = errdefs.CodeRuntime
	}
	sendMsg(initSyncFd, syncMsg{Type: msgError, Error: err.Error(), Code: code}, -1)
	return errdefs.WithCode(errdefs.Quiet, code)
}

func runInit() error {
	if err := nsenter.JoinError(); err != "" {
		return errors.New(err)
	}
	unix.CloseOnExec(initConfigFd)
	unix.CloseOnExec(initSyncFd)
	f := os.NewFile(initConfigFd, "init-config")
	var cfg initConfig
	if err := json.NewDecoder(f).Decode(&cfg); err != nil {
		return fmt.Errorf("reading the container config: %w", err)
	}
	f.Close()
	spec := cfg.Spec
	if err := setupRootfs(&cfg); err != nil {
		return err
	}
	if spec.Hostname != "" && hasNamespace(spec, specs.UTSNamespace) {
		if err := unix.Sethostname([]byte(spec.Hostname)); err != nil {
			return fmt.Errorf("sethostname: %w", err)
		}
	}
	if hasNamespace(spec, specs.NetworkNamespace) {
		if err := loopbackUp(); err != nil {
			return err
		}
	}
	var await func() error
	if cfg.AwaitStart {
		await = awaitStart
	}
	return execProcess(spec.Process, cfg.SeccompBPF, true, await)
}

// awaitStart waits for the parent's go-ahead.
func awaitStart() error {
	m, _, err := recvMsg(initSyncFd)
	if err != nil {
		return fmt.Errorf("waiting for the parent: %w", err)
	}
	if m.Type != msgStart {
		return fmt.Errorf("waiting for the parent: got %q", m.Type)
	}
	return nil
}

// execProcess finishes what init and exec share: terminal, working directory,
// environment, then exec. newSession makes the process a session leader,
// which a controlling terminal needs; await, if not nil, is waited for
// before the process confines itself.
func execProcess(p *specs.Process, filter []byte, newSession bool, await func() error) error {
	// Credentials and the seccomp filter are per thread until exec: stay on
	// this one.
	runtime.LockOSThread()
	if newSession {
		if _, err := unix.Setsid(); err != nil {
			return fmt.Errorf("setsid: %w", err)
		}
	}
	if p.Terminal {
		if err := setupConsole(p); err != nil {
			return err
		}
	}
	if err := resolveUser(p); err != nil {
		return err
	}
	if err := os.MkdirAll(p.Cwd, 0o755); err != nil {
		return fmt.Errorf("creating the working directory %s: %w", p.Cwd, err)
	}
	// runc's order: bounding set, user (keeping capabilities across the
	// switch), capabilities, no_new_privs; the seccomp filter last, unless
	// no_new_privs is off: loading it then needs CAP_SYS_ADMIN, so it goes
	// before the capabilities are dropped (the profile allows what follows).
	if err := setRlimits(p); err != nil {
		return err
	}
	if await != nil {
		if err := await(); err != nil {
			return err
		}
	}
	if filter != nil && !p.NoNewPrivileges {
		if err := loadSeccomp(filter); err != nil {
			return err
		}
	}
	if p.Capabilities != nil {
		if err := dropBounding(p.Capabilities); err != nil {
			return err
		}
		if p.User.UID != 0 {
			if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 1, 0, 0, 0); err != nil {
				return fmt.Errorf("keepcaps: %w", err)
			}
		}
	}
	if err := switchUser(p.User); err != nil {
		return err
	}
	if p.Capabilities != nil {
		if err := setCaps(p.Capabilities); err != nil {
			return err
		}
	}
	if p.NoNewPrivileges {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("no_new_privs: %w", err)
		}
	}
	if err := unix.Chdir(p.Cwd); err != nil {
		return fmt.Errorf("chdir to %s: %w", p.Cwd, err)
	}
	path, err := lookPath(p.Args[0], envValue(p.Env, "PATH"))
	if err != nil {
		return err
	}
	if filter != nil && p.NoNewPrivileges {
		if err := loadSeccomp(filter); err != nil {
			return err
		}
	}
	err = unix.Exec(path, p.Args, p.Env)
	return execError(p.Args[0], err)
}

// setupConsole creates the container's terminal, hands its master side to
// the parent, and makes the slave side the controlling terminal and stdio.
func setupConsole(p *specs.Process) error {
	master, slave, err := openPty()
	if err != nil {
		return fmt.Errorf("creating a terminal: %w", err)
	}
	defer master.Close()
	defer slave.Close()
	if p.ConsoleSize != nil {
		unix.IoctlSetWinsize(int(master.Fd()), unix.TIOCSWINSZ, &unix.Winsize{
			Row: uint16(p.ConsoleSize.Height), Col: uint16(p.ConsoleSize.Width)})
	}
	if err := sendMsg(initSyncFd, syncMsg{Type: msgConsole}, int(master.Fd())); err != nil {
		return fmt.Errorf("sending the terminal: %w", err)
	}
	if err := unix.IoctlSetInt(int(slave.Fd()), unix.TIOCSCTTY, 0); err != nil {
		return fmt.Errorf("setting the controlling terminal: %w", err)
	}
	for fd := 0; fd < 3; fd++ {
		if err := unix.Dup3(int(slave.Fd()), fd, 0); err != nil {
			return err
		}
	}
	return nil
}

func hasNamespace(spec *specs.Spec, t specs.LinuxNamespaceType) bool {
	if spec.Linux == nil {
		return false
	}
	for _, ns := range spec.Linux.Namespaces {
		if ns.Type == t && ns.Path == "" {
			return true
		}
	}
	return false
}

func envValue(env []string, key string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(env[i], "="); ok && k == key {
			return v
		}
	}
	return ""
}

// loopbackUp brings up lo in a new network namespace.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("lo: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bringing lo up: %w", err)
	}
	return nil
}
