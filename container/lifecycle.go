package container

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mydocker/mydocker/cgroups"
	"github.com/mydocker/mydocker/internal/errdefs"
	"github.com/mydocker/mydocker/internal/fsutil"
)

// Lookup finds a container by name, full ID or unique ID prefix, with its
// state brought up to date.
func (rt *Runtime) Lookup(ref string) (*Container, error) {
	c, err := rt.store.lookup(ref)
	if err != nil {
		return nil, err
	}
	return rt.refresh(c)
}

// List returns every container, oldest first, each brought up to date.
// Containers removed meanwhile (--rm) are left out.
func (rt *Runtime) List() ([]*Container, error) {
	all, err := rt.store.list()
	if err != nil {
		return nil, err
	}
	out := all[:0]
	for _, c := range all {
		if c, err := rt.refresh(c); err == nil {
			out = append(out, c)
		}
	}
	return out, nil
}

// Reconcile reclaims what containers whose supervisor died still hold, and
// what a mydocker killed in the middle of connecting or disconnecting a
// container left in the network state (addresses, ports, firewall rules).
// It returns the containers, brought up to date, as List does.
func (rt *Runtime) Reconcile() ([]*Container, error) {
	all, err := rt.List()
	if err != nil {
		return nil, err
	}
	return all, rt.reconcileNetworks(all)
}

// reconcileNetworks sweeps the network state against the records: a
// container holds network resources only while created or running.
func (rt *Runtime) reconcileNetworks(all []*Container) error {
	live := map[string]bool{}
	for _, c := range all {
		if c.State.Status != Exited {
			live[c.ID], live[c.ID[:12]] = true, true
		}
	}
	return rt.Networks.Reconcile(func(id string) bool { return live[id] })
}

// refresh makes c's record tell the truth. A record that says created or
// running while nobody holds its supervisor lock belongs to a supervisor that
// died (killed, or the host crashed): its container is killed if still there,
// its resources released, and the record marked as exited.
func (rt *Runtime) refresh(c *Container) (*Container, error) {
	if c.State.Status == Exited && c.State.Restarting {
		// Between two runs of a restart policy: its monitor holds the lock;
		// if nobody does, the monitor died and nothing will restart it.
		if f, ok, _ := fsutil.TryLock(rt.store.supervisorLock(c.ID)); ok {
			defer f.Close()
			return rt.store.update(c.ID, func(r *Container) error { r.State.Restarting = false; return nil })
		}
		return c, nil
	}
	if c.State.Status == Exited {
		return c, nil
	}
	f, ok, err := fsutil.TryLock(rt.store.supervisorLock(c.ID))
	if errors.Is(err, os.ErrNotExist) {
		return nil, errdefs.NotFoundf("No such container: %s", c.ID)
	}
	if err != nil || !ok {
		return c, err // supervised: the record is being kept true
	}
	defer f.Close()
	c, err = rt.store.load(c.ID)
	if err != nil || c.State.Status == Exited {
		return c, err
	}
	rt.reap(c)
	return rt.store.load(c.ID)
}

// reap ends an unsupervised container; the caller holds its supervisor lock.
func (rt *Runtime) reap(c *Container) {
	wasStarted := c.State.Pid != 0
	if processAlive(c.State.Pid, c.State.PidStart) {
		unix.Kill(c.State.Pid, unix.SIGKILL)
		waitGone(c.State.Pid, c.State.PidStart, 10*time.Second)
	}
	oom := c.CgroupPath != "" && cgroups.New(c.CgroupPath).OOMKilled()
	rt.release(c)
	rt.store.update(c.ID, func(r *Container) error {
		r.State.OOMKilled = oom
		if wasStarted {
			// The supervisor's death killed the container (SIGKILL).
			r.State.Status = Exited
			r.State.ExitCode = 128 + int(unix.SIGKILL)
		}
		if r.State.Error == "" {
			r.State.Error = "mydocker was killed while supervising this container"
		}
		r.State.Pid = 0
		r.State.FinishedAt = time.Now().UTC()
		r.NetworkSettings = nil
		return nil
	})
	if c.Config.AutoRemove {
		rt.removeFiles(c)
	}
}

// waitSupervisor blocks until c's supervisor is done with it.
func (rt *Runtime) waitSupervisor(id string) error {
	unlock, err := fsutil.Lock(rt.store.supervisorLock(id))
	if errors.Is(err, os.ErrNotExist) {
		return nil // the record went away with its supervisor (--rm)
	}
	if err != nil {
		return err
	}
	unlock()
	return nil
}

// isRunning reports whether the container is up right now.
func (rt *Runtime) isRunning(id string) bool {
	c, err := rt.store.load(id)
	if err != nil {
		return false
	}
	c, err = rt.refresh(c)
	return err == nil && c.State.Status == Running && processAlive(c.State.Pid, c.State.PidStart)
}

// Remove deletes containers: a running one only with force, after killing
// it. It prints each ref removed; the error names those that could not be.
func (rt *Runtime) Remove(refs []string, force bool, out io.Writer) error {
	// Containers are independent: remove several at once (their teardowns
	// wait on the kernel more than on the CPU), reporting in the given order.
	errs := make([]error, len(refs))
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i, ref := range refs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			errs[i] = rt.remove(ref, force)
		}()
	}
	wg.Wait()
	var failed error
	for i, ref := range refs {
		if err := errs[i]; err != nil {
			failed = err
			fmt.Fprintf(os.Stderr, "mydocker: %v\n", err)
			continue
		}
		fmt.Fprintln(out, ref)
	}
	if failed != nil {
		return errdefs.WithCode(errdefs.Quiet, errdefs.CodeGeneral)
	}
	return nil
}

func (rt *Runtime) remove(ref string, force bool) error {
	c, err := rt.Lookup(ref)
	if err != nil {
		return err
	}
	if c.State.Status == Created {
		// Never started (its run failed or was killed: refresh reaped it),
		// or being started right now by a supervisor.
		if f, ok, _ := fsutil.TryLock(rt.store.supervisorLock(c.ID)); ok {
			f.Close()
		} else if c, err = rt.waitStarted(c, force); err != nil {
			return err
		}
	}
	if c.State.Restarting && !force {
		return fmt.Errorf("You cannot remove a restarting container %s. Stop the container before attempting removal or force remove", c.ShortID())
	}
	if c.State.Status == Running || c.State.Restarting {
		if !force {
			return fmt.Errorf("You cannot remove a running container %s. Stop the container before attempting removal or force remove", c.ShortID())
		}
		rt.markStopped(c)
		signalProcess(c.State.Pid, c.State.PidStart, unix.SIGKILL)
		rt.thaw(c)
	}
	unlock, err := fsutil.Lock(rt.store.supervisorLock(c.ID))
	if errors.Is(err, os.ErrNotExist) {
		return nil // its supervisor removed it (--rm)
	}
	if err != nil {
		return err
	}
	defer unlock()
	c, err = rt.store.load(c.ID)
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if c.State.Status != Exited {
		rt.reap(c) // releases too
	} else {
		rt.release(c)
	}
	return rt.removeFiles(c)
}

// waitStarted waits (a few seconds at most) for a container its supervisor
// is starting to be running or to have failed; without force, a container
// being started is not removed.
func (rt *Runtime) waitStarted(c *Container, force bool) (*Container, error) {
	if !force {
		return nil, fmt.Errorf("container %s is being started: stop it first or force remove", c.ShortID())
	}
	deadline := time.Now().Add(10 * time.Second)
	for c.State.Status == Created && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		r, err := rt.store.load(c.ID)
		if err != nil {
			return nil, err
		}
		c = r
	}
	return c, nil
}

// Stop sends the container's stop signal (its image's STOPSIGNAL, else
// SIGTERM), then SIGKILL once timeout has passed, and returns when the
// container's supervisor has recorded its end.
func (rt *Runtime) Stop(ref string, timeout time.Duration) error {
	c, err := rt.Lookup(ref)
	if err != nil {
		return err
	}
	if c.State.Status != Running && !c.State.Restarting {
		return nil
	}
	// Final: the monitor restarts no container a stop was asked for.
	rt.markStopped(c)
	if c.State.Status != Running {
		return rt.waitSupervisor(c.ID)
	}
	sig := unix.SIGTERM
	if c.Config.StopSignal != "" {
		if s, err := ParseSignal(c.Config.StopSignal); err == nil {
			sig = s
		}
	}
	if err := signalProcess(c.State.Pid, c.State.PidStart, sig); err == nil {
		rt.thaw(c) // a frozen process takes its signal once thawed, as Docker's stop does
		if !waitGone(c.State.Pid, c.State.PidStart, timeout) {
			signalProcess(c.State.Pid, c.State.PidStart, unix.SIGKILL)
			waitGone(c.State.Pid, c.State.PidStart, 10*time.Second)
		}
	}
	return rt.waitSupervisor(c.ID)
}

// Restart stops a container as Stop does, then starts it again as Start
// does (detached, keeping its writable layer), as Docker's restart.
func (rt *Runtime) Restart(ref string, timeout time.Duration) error {
	if err := rt.Stop(ref, timeout); err != nil {
		return err
	}
	return rt.Start(ref)
}

// Kill sends a signal to the container's init.
func (rt *Runtime) Kill(ref string, sig unix.Signal) error {
	c, err := rt.Lookup(ref)
	if err != nil {
		return err
	}
	if err := signalProcess(c.State.Pid, c.State.PidStart, sig); err != nil {
		return fmt.Errorf("Cannot kill container: %s: Container %s is not running", ref, c.ShortID())
	}
	if sig == unix.SIGKILL {
		rt.thaw(c)
	}
	return nil
}

// Start runs a stopped container again, detached under a new monitor, with
// the settings it was created with and the writable layer it left.
func (rt *Runtime) Start(ref string) error {
	c, err := rt.Lookup(ref)
	if err != nil {
		return err
	}
	if c.State.Status == Running {
		return nil
	}
	super, ok, err := fsutil.TryLock(rt.store.supervisorLock(c.ID))
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("container %s is being started or stopped by another command", c.ShortID())
	}
	defer super.Close()
	c, err = rt.store.update(c.ID, func(r *Container) error {
		if r.State.Status == Running {
			return fmt.Errorf("container %s is already running", r.ShortID())
		}
		r.State = State{Status: Created}
		return nil
	})
	if err != nil {
		return err
	}
	return rt.spawnMonitor(c, super, nil)
}
