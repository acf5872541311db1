package container

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/mydocker/mydocker/cgroups"
	"github.com/mydocker/mydocker/internal/errdefs"
	"github.com/mydocker/mydocker/network"
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
	specs.UserNamespace: unix.CLONE_NEWUSER,
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
	rootfsMount, rootfsMountDir, err := c.Rootfs.mount()
	if err != nil {
		return nil, errdefs.WithCode(err, errdefs.CodeRuntime)
	}
	bpf, err := rt.seccompProgram(c.Spec)
	if err != nil {
		return nil, errdefs.WithCode(err, errdefs.CodeRuntime)
	}
	phase("volumes, rootfs options, seccomp")
	if len(c.Spec.Linux.UIDMappings) > 0 {
		// The container's root must reach its /etc files to bind them.
		if err := traversable(filepath.Dir(rt.RunDir), filepath.Dir(rt.etcPath(c.ID, "hosts"))); err != nil {
			return nil, errdefs.WithCode(err, errdefs.CodeRuntime)
		}
	}

	var cg cgroups.Manager
	if c.CgroupPath != "" {
		cg = cgroups.New(c.CgroupPath)
		if err := cg.Create(c.Spec.Linux.Resources); err != nil {
			return nil, errdefs.WithCode(limitError(err), errdefs.CodeRuntime)
		}
		u.push(func() { cg.Destroy() })
		phase("cgroup created")
	}
	var cloneFlags uintptr
	for _, ns := range c.Spec.Linux.Namespaces {
		cloneFlags |= nsFlags[ns.Type]
	}
	cmd := exec.Command("/proc/self/exe", "init")
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: cloneFlags,
		// The container never outlives the process that supervises it: if
		// that is killed, the container is too, and the next command
		// reclaims what it held.
		Pdeathsig: unix.SIGKILL,
	}
	// A user namespace is mapped before init runs (Go writes the maps).
	for _, m := range c.Spec.Linux.UIDMappings {
		cmd.SysProcAttr.UidMappings = append(cmd.SysProcAttr.UidMappings, syscall.SysProcIDMap{ContainerID: int(m.ContainerID), HostID: int(m.HostID), Size: int(m.Size)})
	}
	for _, m := range c.Spec.Linux.GIDMappings {
		cmd.SysProcAttr.GidMappings = append(cmd.SysProcAttr.GidMappings, syscall.SysProcIDMap{ContainerID: int(m.ContainerID), HostID: int(m.HostID), Size: int(m.Size)})
	}
	if len(c.Spec.Linux.UIDMappings) > 0 {
		// Become the namespace's root before exec: host root is not mapped
		// in it, and an unmapped uid would exec without capabilities.
		cmd.SysProcAttr.GidMappingsEnableSetgroups = true
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: 0, Gid: 0}
	}
	// A user-namespaced init is not host root when its constructor runs:
	// it cannot write the host's v1 tasks files, so it is moved in (Apply).
	userns := len(c.Spec.Linux.UIDMappings) > 0
	joined := false
	if cg != nil {
		closeFd, ok, err := joinAtStart(cmd, cg, !userns)
		if err != nil {
			return nil, errdefs.WithCode(err, errdefs.CodeRuntime)
		}
		defer closeFd()
		joined = ok
	}
	if err := rt.writeEtcFiles(c, nil); err != nil {
		return nil, errdefs.WithCode(err, errdefs.CodeRuntime)
	}
	l, err := launch(cmd, c.Config.Tty, c.Config.OpenStdin)
	if err != nil {
		return nil, errdefs.WithCode(fmt.Errorf("starting init: %w", err), errdefs.CodeRuntime)
	}
	defer l.close()
	u.push(l.p.kill)
	p = l.p
	pid := cmd.Process.Pid
	phase("init forked (new namespaces)")
	logrus.Debugf("container %s: init started as pid %d", c.ShortID(), pid)
	start, err := pidStartTime(pid)
	if err != nil {
		return nil, err
	}

	// init waits for its config, and joins its cgroups as it starts unless
	// it cannot (then it is moved in now, before it reads its config).
	if cg != nil && !joined {
		if err := cg.Apply(pid); err != nil {
			return nil, errdefs.WithCode(err, errdefs.CodeRuntime)
		}
	}
	// It sets up its root filesystem while the network is made here, and
	// waits for the go-ahead before it runs anything of the user's. The
	// /etc files it binds exist already; hosts gets the address in place.
	if err := l.send(initConfig{Spec: c.Spec, RootfsMount: rootfsMount, RootfsMountDir: rootfsMountDir,
		SeccompBPF: bpf, AwaitStart: true}); err != nil {
		return nil, err
	}
	tNet := time.Now()
	ep, err := rt.connect(c, pid)
	if err != nil {
		return nil, err
	}
	if ep != nil {
		u.push(func() { rt.Networks.Disconnect(c.ID, false) })
	}
	logrus.Debugf("container %s: network connected in %v", c.ShortID(), time.Since(tNet))
	if ep != nil {
		if err := rewriteInPlace(rt.etcPath(c.ID, "hosts"), hostsFile(c.Spec.Hostname, c.Name, ep, nil)); err != nil {
			return nil, errdefs.WithCode(err, errdefs.CodeRuntime)
		}
	}
	if ep != nil && namedNetwork(c.Config.NetworkMode) {
		tNames := time.Now()
		u.push(func() { rt.syncNames(ep.NetworkID) }) // after the disconnect above: it runs first
		if err := rt.syncNames(ep.NetworkID); err != nil {
			return nil, errdefs.WithCode(fmt.Errorf("names on %s: %w", ep.Network, err), errdefs.CodeRuntime)
		}
		logrus.Debugf("container %s: names on %s in %v", c.ShortID(), ep.Network, time.Since(tNames))
	}

	phase("network (init meanwhile: its mounts)")
	l.goAhead()
	if err := l.wait(); err != nil {
		return nil, err
	}
	phase("init: confinement, exec")
	if _, err := rt.store.update(c.ID, func(r *Container) error {
		r.State = State{Status: Running, Pid: pid, PidStart: start, StartedAt: time.Now().UTC(),
			RestartCount: r.State.RestartCount, StopRequested: r.State.StopRequested}
		r.NetworkSettings = ep
		*c = *r
		return nil
	}); err != nil {
		return nil, err
	}
	phase("running recorded")
	return p, nil
}

// connect joins the container to its network; nothing to do for none and
// host. A conflict with a container that is gone (its mydocker was killed
// mid-setup) is reconciled and tried once more.
func (rt *Runtime) connect(c *Container, pid int) (*network.Endpoint, error) {
	switch c.Config.NetworkMode {
	case "none", "host":
		return nil, nil
	}
	req := network.ConnectRequest{ContainerID: c.ID, ContainerName: c.Name, Hostname: c.Spec.Hostname,
		Aliases: c.Config.NetworkAliases, Network: c.Config.NetworkMode, Pid: pid, Ports: c.Config.PortBindings}
	ep, err := rt.Networks.Connect(req)
	if err != nil {
		if all, lerr := rt.store.list(); lerr == nil && rt.reconcileNetworks(all) == nil {
			ep, err = rt.Networks.Connect(req)
		}
	}
	if err != nil {
		if _, ok := errdefs.Code(err); !ok {
			err = errdefs.WithCode(err, errdefs.CodeRuntime)
		}
		return nil, err
	}
	return ep, nil
}

// limitError names the flag behind a limit the kernel refused.
func limitError(err error) error {
	var le *cgroups.LimitError
	if errors.As(err, &le) {
		return fmt.Errorf("--%s: %w", le.Resource, err)
	}
	return err
}

// prepareVolumes creates missing host directories of -v, as Docker does.
func (rt *Runtime) prepareVolumes(c *Container) error {
	for _, v := range c.Config.Volumes {
		m, err := parseVolume(v)
		if err != nil {
			return err
		}
		if _, err := os.Stat(m.Source); errors.Is(err, os.ErrNotExist) {
			if err := os.MkdirAll(m.Source, 0o755); err != nil {
				return fmt.Errorf("creating volume directory %s: %w", m.Source, err)
			}
		}
	}
	return nil
}

// joinAtStart makes cmd's process start in cg's cgroup without Apply's
// cost (see package nsenter): on v2 the child is cloned into the directory;
// on v1, with self, the tasks files go to its constructor through the
// environment. ok is false when the caller must Apply instead. The returned
// function closes what it opened, once cmd has started.
func joinAtStart(cmd *exec.Cmd, cg cgroups.Manager, self bool) (closeFd func(), ok bool, err error) {
	tasks, dir := cg.SelfJoin()
	if dir == "" {
		if !self || len(tasks) == 0 {
			return func() {}, false, nil
		}
		cmd.Env = append(cmd.Env, "_MYDOCKER_CGROUP_TASKS="+strings.Join(tasks, "\n"))
		return func() {}, true, nil
	}
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, false, fmt.Errorf("opening cgroup %s: %w", dir, err)
	}
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.UseCgroupFD, cmd.SysProcAttr.CgroupFD = true, fd
	return func() { unix.Close(fd) }, true, nil
}

// launched is a child that takes its config on fd 3 and talks back on the
// sync socket at fd 4: init, or a process exec'd into a container.
type launched struct {
	p    *process
	cfgW *os.File // the config pipe's write end
	sock *os.File // the parent's end of the sync socket
}

// launch starts cmd with the config pipe and the sync socket as fds 3 and 4
// (cmd.ExtraFiles may name more, from fd 5) and stdio for the terminal mode:
// without a terminal, pipes (stdin only with openStdin); with one, nothing
// until the child sends its pty.
func launch(cmd *exec.Cmd, tty, openStdin bool) (l *launched, err error) {
	var childEnds, parentEnds []*os.File
	defer func() {
		for _, f := range childEnds {
			f.Close()
		}
		if err != nil {
			for _, f := range parentEnds {
				f.Close()
			}
		}
	}()
	cfgR, cfgW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	childEnds, parentEnds = append(childEnds, cfgR), append(parentEnds, cfgW)
	socks, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	sock := os.NewFile(uintptr(socks[0]), "sync")
	childSock := os.NewFile(uintptr(socks[1]), "sync-child")
	childEnds, parentEnds = append(childEnds, childSock), append(parentEnds, sock)

	p := &process{cmd: cmd}
	if !tty {
		if openStdin {
			r, w, err := os.Pipe()
			if err != nil {
				return nil, err
			}
			cmd.Stdin, p.stdin = r, w
			childEnds, parentEnds = append(childEnds, r), append(parentEnds, w)
		}
		for _, dst := range []*io.Writer{&cmd.Stdout, &cmd.Stderr} {
			r, w, err := os.Pipe()
			if err != nil {
				return nil, err
			}
			*dst = w
			childEnds, parentEnds = append(childEnds, w), append(parentEnds, r)
		}
		p.stdout, p.stderr = parentEnds[len(parentEnds)-2], parentEnds[len(parentEnds)-1]
	}
	cmd.Args[0] = "mydocker"
	if cmd.Env == nil {
		cmd.Env = []string{}
	}
	cmd.ExtraFiles = append([]*os.File{cfgR, childSock}, cmd.ExtraFiles...)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return &launched{p: p, cfgW: cfgW, sock: sock}, nil
}

// handshake sends cfg, then waits for the child to exec.
func (l *launched) handshake(cfg any) error {
	if err := l.send(cfg); err != nil {
		return err
	}
	return l.wait()
}

// send gives the child its config.
func (l *launched) send(cfg any) error {
	if err := json.NewEncoder(l.cfgW).Encode(cfg); err != nil {
		return fmt.Errorf("sending the config: %w", err)
	}
	return l.cfgW.Close()
}

// goAhead lets an init that awaits it go on. A child that failed meanwhile
// may be gone: wait says why.
func (l *launched) goAhead() {
	sendMsg(int(l.sock.Fd()), syncMsg{Type: msgStart}, -1)
}

// wait reads what the child reports until it execs (end-of-file) or fails
// (an error with its exit code).
func (l *launched) wait() error {
	for {
		m, fd, err := recvMsg(int(l.sock.Fd()))
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		switch m.Type {
		case msgConsole:
			if fd < 0 {
				return errors.New("no terminal came with the console message")
			}
			l.p.console = os.NewFile(uintptr(fd), "console")
		case msgError:
			return errdefs.Errorf(m.Code, "%s", m.Error)
		}
	}
}

// close drops the parent's ends of the config pipe and sync socket.
func (l *launched) close() {
	l.cfgW.Close()
	l.sock.Close()
}

// kill ends a child that did not get to run its command, and closes the
// parent's ends of its stdio.
func (p *process) kill() {
	p.cmd.Process.Kill()
	p.cmd.Wait()
	for _, f := range []*os.File{p.console, p.stdin, p.stdout, p.stderr} {
		if f != nil {
			f.Close()
		}
	}
}
