package container

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
	"golang.org/x/term"

	"github.com/sirupsen/logrus"

	"github.com/mydocker/mydocker/cgroups"
	"github.com/mydocker/mydocker/image"
	"github.com/mydocker/mydocker/internal/errdefs"
	"github.com/mydocker/mydocker/network"
)

// Run creates a container and runs it: attached, returning the container's
// exit status as an errdefs.Status; or detached (-d), printing its ID to out
// once it is running.
func (rt *Runtime) Run(ctx context.Context, o *RunOptions, out io.Writer) error {
	if o.Interactive && o.TTY && !o.Detach && !term.IsTerminal(int(os.Stdin.Fd())) {
		return errdefs.Errorf(errdefs.CodeGeneral, "the input device is not a TTY")
	}
	keys, err := DetachKeys(o.DetachKeys)
	if err != nil {
		return errdefs.WithCode(err, errdefs.CodeRuntime)
	}
	phase("command line")
	img, err := rt.runImage(ctx, o)
	if err != nil {
		return errdefs.WithCode(err, errdefs.CodeRuntime)
	}
	phase("image found")
	c, super, err := rt.create(o, img)
	if err != nil {
		return errdefs.WithCode(err, errdefs.CodeRuntime)
	}
	phase("spec, workspace, record")
	defer super.Close()
	switch {
	case o.Detach:
		if err := rt.spawnMonitor(c, super, nil); err != nil {
			return err
		}
		fmt.Fprintln(out, c.ID)
		return nil
	case o.TTY:
		return rt.runOnTerminal(c, super, keys)
	}
	return rt.runAttached(c)
}

// runOnTerminal runs c under a monitor, as -d does, with this process its
// first attached client, so that the detach keys can leave it running; it
// returns when c exits (and its monitor is done with it) or on detach.
func (rt *Runtime) runOnTerminal(c *Container, super *os.File, keys []byte) error {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		rt.startFailed(c, err)
		return errdefs.WithCode(err, errdefs.CodeRuntime)
	}
	local, remote := os.NewFile(uintptr(fds[0]), "attach"), os.NewFile(uintptr(fds[1]), "attach-monitor")
	conn, err := net.FileConn(local)
	local.Close()
	if err != nil {
		remote.Close()
		rt.startFailed(c, err)
		return errdefs.WithCode(err, errdefs.CodeRuntime)
	}
	err = rt.spawnMonitor(c, super, remote)
	remote.Close()
	super.Close() // the monitor has it; waiting for the monitor takes it anew
	if err != nil {
		conn.Close()
		return err
	}
	if cur, err := rt.store.loadLight(c.ID); err == nil {
		c.State = cur.State // its pid, for the signals relay passes on
	}
	code, err := rt.relay(c, conn, keys, c.Config.OpenStdin)
	if err == nil {
		rt.waitSupervisor(c.ID) // as Docker's run: back once --rm has removed it
	}
	return rt.attachEnded(c, code, err)
}

// create checks the options, resolves the image and stores the new record.
// The returned file holds the container's supervisor lock.
func (rt *Runtime) create(o *RunOptions, img *image.Image) (*Container, *os.File, error) {
	if o.AutoRemove && o.Restart.Name != "" && o.Restart.Name != "no" {
		return nil, nil, fmt.Errorf("conflicting options: --restart and --rm")
	}
	if !o.Detach && o.Restart.Name != "" && o.Restart.Name != "no" {
		return nil, nil, fmt.Errorf("--restart needs -d: the monitor of a detached container restarts it")
	}
	if o.Name != "" {
		if err := ValidateName(o.Name); err != nil {
			return nil, nil, err
		}
	}
	var volumes []specs.Mount
	for _, v := range o.Volumes {
		m, err := parseVolume(v)
		if err != nil {
			return nil, nil, err
		}
		volumes = append(volumes, m)
	}
	var ports []network.PortMapping
	for _, p := range o.Publish {
		pm, err := network.ParsePort(p)
		if err != nil {
			return nil, nil, err
		}
		ports = append(ports, pm)
	}
	netMode := o.Network
	switch netMode {
	case "none", "host":
		if len(ports) > 0 {
			return nil, nil, fmt.Errorf("-p needs a bridge network, not --net %s", netMode)
		}
	case "", network.DefaultName:
		netMode = network.DefaultName
	default:
		n, err := rt.Networks.Get(netMode)
		if err != nil {
			return nil, nil, err
		}
		netMode = n.Name
	}
	if err := checkNames(netMode, o.NetworkAliases, o.DNS); err != nil {
		return nil, nil, err
	}
	if o.PublishAll {
		exposed, err := exposedPorts(img)
		if err != nil {
			return nil, nil, err
		}
		ports = append(ports, exposed...)
	}
	labels := map[string]string{}
	for k, v := range img.Config.Config.Labels {
		labels[k] = v
	}
	for _, l := range o.Labels {
		k, v, _ := strings.Cut(l, "=")
		if k == "" {
			return nil, nil, fmt.Errorf("invalid label %q: want KEY[=VALUE]", l)
		}
		labels[k] = v
	}
	if len(labels) == 0 {
		labels = nil
	}
	id := newID()
	spec, err := buildSpec(o, img, id)
	if err != nil {
		return nil, nil, err
	}
	if spec.Linux.Resources, err = o.Resources.toSpec(); err != nil {
		return nil, nil, err
	}
	var added []deviceRequest
	for _, d := range o.Devices {
		req, err := parseDevice(d)
		if err != nil {
			return nil, nil, err
		}
		added = append(added, req)
	}
	defaults := spec.Linux.Devices
	for _, r := range added {
		spec.Linux.Devices = append(spec.Linux.Devices, r.dev)
	}
	if o.Security.Privileged {
		have := map[string]bool{}
		for _, d := range spec.Linux.Devices {
			have[d.Path] = true
		}
		for _, d := range hostDevices() {
			if !have[d.Path] {
				spec.Linux.Devices = append(spec.Linux.Devices, d)
			}
		}
	}
	if spec.Linux.Resources == nil {
		spec.Linux.Resources = &specs.LinuxResources{}
	}
	spec.Linux.Resources.Devices = deviceRules(o.Security.Privileged, defaults, added)
	spec.Linux.CgroupsPath = cgroups.Parent + "/" + id
	var lower []string
	layers := img.Layers()
	for i := len(layers) - 1; i >= 0; i-- {
		lower = append(lower, rt.Images.LayerDiff(layers[i]))
	}
	if spec.Process.User.AdditionalGids, err = groupIDs(o.Confine.GroupAdd, lower); err != nil {
		return nil, nil, err
	}
	remap := false
	switch o.Userns {
	case "", "host":
	case "remap":
		uid, gid, err := rt.remapRanges()
		if err != nil {
			return nil, nil, err
		}
		applyUserns(spec, uid, gid)
		if lower, err = rt.remappedLayers(lower, uid, gid); err != nil {
			return nil, nil, err
		}
		remap = true
	default:
		return nil, nil, fmt.Errorf("invalid --userns %q: remap or host", o.Userns)
	}
	if o.TTY && !o.Detach && term.IsTerminal(int(os.Stdin.Fd())) {
		// The user's window size from the first instant.
		if ws, err := unix.IoctlGetWinsize(int(os.Stdin.Fd()), unix.TIOCGWINSZ); err == nil {
			spec.Process.ConsoleSize = &specs.Box{Height: uint(ws.Row), Width: uint(ws.Col)}
		}
	}
	c := &Container{
		ID:      id,
		Name:    o.Name,
		Image:   o.Image,
		ImageID: img.ID,
		Created: time.Now().UTC(),
		Spec:    spec,
		Config: Config{
			Tty: o.TTY, OpenStdin: o.Interactive, Detach: o.Detach, AutoRemove: o.AutoRemove, RestartPolicy: o.Restart, Log: o.Log,
			Volumes: o.Volumes, Cmd: o.Args, Env: o.Env, NetworkMode: netMode, PortBindings: ports,
			NetworkAliases: o.NetworkAliases, DNS: o.DNS,
			User: spec.Process.User.Username, StopSignal: img.Config.Config.StopSignal, Labels: labels,
		},
		State:      State{Status: Created},
		CgroupPath: id,
		Rootfs:     rt.newRootfs(id, lower),
		LogPath:    rt.etcPath(id, "container.log"),
	}
	spec.Root.Path = c.Rootfs.Dir
	spec.Mounts = append(spec.Mounts, rt.etcMounts(id)...)
	spec.Mounts = append(spec.Mounts, volumes...)
	c.Rootfs.UserXattr = remap
	if err := c.Rootfs.create(); err != nil {
		c.Rootfs.remove()
		return nil, nil, err
	}
	if remap {
		if err := rt.remapWorkspace(c); err != nil {
			c.Rootfs.remove()
			return nil, nil, err
		}
	}
	super, err := rt.store.create(c)
	if err != nil {
		c.Rootfs.remove()
		return nil, nil, err
	}
	return c, super, nil
}

// runAttached starts c and relays the user's terminal or stdio until it
// exits; this process is its supervisor.
func (rt *Runtime) runAttached(c *Container) error {
	p, err := rt.start(c)
	if err != nil {
		rt.startFailed(c, err)
		return err
	}
	log, err := rt.openLog(c)
	if err == nil {
		defer log.Close()
	}
	code := p.attach(c.Config.OpenStdin, log)
	phase("container ran (to its exit)")
	rt.finish(c, code)
	if code != 0 {
		return errdefs.Status(code)
	}
	return nil
}

// attach relays the user's terminal or stdio to p until it exits, keeping a
// copy of the output in log if it is not nil, and returns its exit code.
func (p *process) attach(openStdin bool, log *logWriter) int {
	var wg sync.WaitGroup
	copyOut := func(dst io.Writer, stream string, src *os.File) {
		if log != nil {
			dst = io.MultiWriter(dst, streamWriter{log, stream})
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			io.Copy(dst, src)
			src.Close()
		}()
	}
	var tty *terminal
	if p.console != nil {
		tty = attachTerminal(p.console)
		defer tty.restore()
		copyOut(os.Stdout, "stdout", p.console)
		if openStdin {
			go io.Copy(p.console, os.Stdin)
		}
	} else {
		copyOut(os.Stdout, "stdout", p.stdout)
		copyOut(os.Stderr, "stderr", p.stderr)
		if p.stdin != nil {
			go func() {
				io.Copy(p.stdin, os.Stdin)
				p.stdin.Close()
			}()
		}
	}
	stopSignals := forwardSignals(p.cmd.Process.Pid)
	waitErr := p.cmd.Wait()
	stopSignals()
	wg.Wait()
	if tty != nil {
		tty.restore()
	}
	return exitCode(p.cmd.ProcessState, waitErr)
}

// forwardSignals passes the signals a user sends to `mydocker run` on to the
// container, as Docker's --sig-proxy does.
func forwardSignals(pid int) (stop func()) {
	ch := make(chan os.Signal, 16)
	signal.Notify(ch, unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-ch:
				unix.Kill(pid, s.(syscall.Signal))
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(ch)
		close(done)
	}
}

// exitCode is the shell's view of how a process ended: its status, or 128+N
// when signal N killed it.
func exitCode(ps *os.ProcessState, err error) int {
	if ps == nil {
		return errdefs.CodeRuntime
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}

// startFailed records why c could not start, and removes it if it was run
// with --rm.
func (rt *Runtime) startFailed(c *Container, err error) {
	code, _ := errdefs.Code(err)
	rt.store.update(c.ID, func(r *Container) error {
		r.State = State{Status: Exited, ExitCode: code, Error: err.Error(), FinishedAt: time.Now().UTC()}
		return nil
	})
	if c.Config.AutoRemove {
		rt.removeFiles(c)
	}
}

// finish records how c ended and releases what it held; with --rm it
// removes c altogether.
func (rt *Runtime) finish(c *Container, code int) {
	oom := c.CgroupPath != "" && cgroups.New(c.CgroupPath).OOMKilled()
	rt.release(c)
	phase("network and cgroup released")
	rt.store.update(c.ID, func(r *Container) error {
		r.State.Status = Exited
		r.State.ExitCode = code
		r.State.OOMKilled = oom
		r.State.Paused = false
		// Decided in the same write that ends the run, so that no command
		// ever sees a container its monitor is about to restart as over.
		r.State.Restarting = r.Config.RestartPolicy.shouldRestart(code, r.State.RestartCount, r.State.StopRequested)
		r.NetworkSettings = nil
		r.State.Pid = 0
		r.State.FinishedAt = time.Now().UTC()
		return nil
	})
	phase("exit recorded")
	if c.Config.AutoRemove {
		rt.removeFiles(c)
		phase("workspace and record removed")
	}
}

// release frees what a stopped container (its processes gone) holds on the
// host besides its files: it is safe to call more than once, from any
// process.
func (rt *Runtime) release(c *Container) {
	t0 := time.Now()
	var named *network.Endpoint
	if namedNetwork(c.Config.NetworkMode) {
		named = rt.Networks.Endpoint(c.ID)
	}
	if err := rt.Networks.Disconnect(c.ID, true); err != nil {
		logrus.Warnf("container %s: %v", c.ShortID(), err)
	}
	if named != nil {
		if err := rt.syncNames(named.NetworkID); err != nil {
			logrus.Warnf("container %s: names on %s: %v", c.ShortID(), named.Network, err)
		}
	}
	t1 := time.Now()
	if c.CgroupPath != "" {
		if err := cgroups.New(c.CgroupPath).Destroy(); err != nil {
			logrus.Warnf("container %s: %v", c.ShortID(), err)
		}
	}
	logrus.Debugf("container %s: released network in %v, cgroup in %v", c.ShortID(), t1.Sub(t0), time.Since(t1))
}

// removeFiles deletes the container's workspace and record.
func (rt *Runtime) removeFiles(c *Container) error {
	if err := c.Rootfs.remove(); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return rt.store.remove(c)
}
