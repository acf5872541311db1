package container

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/sirupsen/logrus"

	"github.com/mydocker/mydocker/internal/errdefs"
)

// process is a started container's init and the parent's ends of its stdio.
type process struct {
	cmd     *exec.Cmd
	console *os.File // pty master, with a terminal
	stdin   *os.File // write end, with -i and no terminal
	stdout  *os.File // read ends, without a terminal
	stderr  *os.File
}

// undo collects the steps that reverse a partly done setup.
type undo []func()

func (u *undo) push(f func()) { *u = append(*u, f) }

// run unwinds in reverse order.
func (u undo) run() {
	for i := len(u) - 1; i >= 0; i-- {
		u[i]()
	}
}

var nsFlags = map[specs.LinuxNamespaceType]uintptr{
	specs.PIDNamespace: unix.CLONE_NEWPID, specs.NetworkNamespace: unix.CLONE_NEWNET,
	specs.MountNamespace: unix.CLONE_NEWNS, specs.IPCNamespace: unix.CLONE_NEWIPC,
	specs.UTSNamespace: unix.CLONE_NEWUTS, specs.CgroupNamespace: unix.CLONE_NEWCGROUP,
}

// start runs init for c and brings it to the point where the user's command
// is running; on failure everything it did is undone and the error carries
// the exit code mydocker should end with. The caller supervises c.
func (rt *Runtime) start(c *Container) (p *process, err error) {
	var u undo
	defer func() {
		if err != nil {
			u.run()
		}
	}()
	if err := rt.prepareVolumes(c); err != nil {
		return nil, errdefs.WithCode(err, errdefs.CodeRuntime)
	}
	if err := rt.writeEtcFiles(c); err != nil {
		return nil, errdefs.WithCode(err, errdefs.CodeRuntime)
	}
	rootfsMount, err := c.Rootfs.mount()
	if err != nil {
		return nil, errdefs.WithCode(err, errdefs.CodeRuntime)
	}

	cfgR, cfgW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer cfgR.Close()
	defer cfgW.Close()
	socks, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	parentSock := os.NewFile(uintptr(socks[0]), "sync")
	childSock := os.NewFile(uintptr(socks[1]), "sync-child")
	defer parentSock.Close()
	defer childSock.Close()

	var cloneFlags uintptr
	for _, ns := range c.Spec.Linux.Namespaces {
		cloneFlags |= nsFlags[ns.Type]
	}
	cmd := exec.Command("/proc/self/exe", "init")
	cmd.Args[0] = "mydocker"
	cmd.Env = []string{}
	cmd.ExtraFiles = []*os.File{cfgR, childSock}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: cloneFlags,
		// The container never outlives the process that supervises it: if
		// that is killed, the container is too, and the next command
		// reclaims what it held.
		Pdeathsig: unix.SIGKILL,
	}
	p = &process{cmd: cmd}
	var childEnds []*os.File
	if !c.Config.Tty {
		if c.Config.OpenStdin {
			r, w, err := os.Pipe()
			if err != nil {
				return nil, err
			}
			cmd.Stdin, p.stdin = r, w
			childEnds = append(childEnds, r)
			u.push(func() { w.Close() })
		}
		for _, dst := range []**os.File{&p.stdout, &p.stderr} {
			r, w, err := os.Pipe()
			if err != nil {
				return nil, err
			}
			*dst = r
			childEnds = append(childEnds, w)
			u.push(func() { r.Close() })
		}
		cmd.Stdout, cmd.Stderr = childEnds[len(childEnds)-2], childEnds[len(childEnds)-1]
	}
	if err := cmd.Start(); err != nil {
		return nil, errdefs.WithCode(fmt.Errorf("starting init: %w", err), errdefs.CodeRuntime)
	}
	for _, f := range append(childEnds, cfgR, childSock) {
		f.Close()
	}
	u.push(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	pid := cmd.Process.Pid
	logrus.Debugf("container %s: init started as pid %d", c.ShortID(), pid)
	start, err := pidStartTime(pid)
	if err != nil {
		return nil, err
	}

	// init waits for its config: this is where it joins cgroups and gets
	// its network before any of the user's code runs.

	cfg := initConfig{Spec: c.Spec, RootfsMount: rootfsMount}
	if err := json.NewEncoder(cfgW).Encode(cfg); err != nil {
		return nil, fmt.Errorf("sending the config to init: %w", err)
	}
	cfgW.Close()
	for {
		m, fd, err := recvMsg(int(parentSock.Fd()))
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		switch m.Type {
		case msgConsole:
			if fd < 0 {
				return nil, errors.New("init sent no terminal")
			}
			p.console = os.NewFile(uintptr(fd), "console")
			u.push(func() { p.console.Close() })
		case msgError:
			return nil, errdefs.Errorf(m.Code, "%s", m.Error)
		}
	}
	if _, err := rt.store.update(c.ID, func(r *Container) error {
		r.State = State{Status: Running, Pid: pid, PidStart: start, StartedAt: time.Now().UTC()}
		*c = *r
		return nil
	}); err != nil {
		return nil, err
	}
	return p, nil
}

// prepareVolumes creates missing host directories of -v, as Docker does.
func (rt *Runtime) prepareVolumes(c *Container) error {
	for _, m := range c.Spec.Mounts {
		if m.Type != "bind" || !isVolume(c, m) {
			continue
		}
		if _, err := os.Stat(m.Source); errors.Is(err, os.ErrNotExist) {
			if err := os.MkdirAll(m.Source, 0o755); err != nil {
				return fmt.Errorf("creating volume directory %s: %w", m.Source, err)
			}
		}
	}
	return nil
}

func isVolume(c *Container, m specs.Mount) bool {
	for _, v := range c.Config.Volumes {
		if vm, err := parseVolume(v); err == nil && vm.Destination == m.Destination {
			return true
		}
	}
	return false
}
