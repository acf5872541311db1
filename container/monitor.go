package container

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/mydocker/mydocker/internal/errdefs"
)

// A detached container is supervised by a monitor: this same binary,
// re-executed as `mydocker monitor ID` in a session of its own. It inherits
// the supervisor lock from `run -d`, starts the container, reports on a pipe
// whether that worked, then writes the container's output to its log, waits
// for it to exit, records how it ended and tears it down.

const (
	monitorReportFd = 3
	monitorLockFd   = 4
	monitorAttachFd = 5 // with --attached: the foreground run's attach connection
)

type monitorReport struct {
	Error string `json:"error,omitempty"`
	Code  int    `json:"code,omitempty"`
}

// spawnMonitor starts the monitor for c, handing it the supervisor lock
// (and attach, a client's connection, if not nil), and returns once the
// container runs (or failed to).
func (rt *Runtime) spawnMonitor(c *Container, super *os.File, attach *os.File) error {
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	args := append(append([]string{}, rt.SelfArgs[1:]...), "monitor")
	if attach != nil {
		args = append(args, "--attached")
	}
	cmd := exec.Command(rt.SelfArgs[0], append(args, c.ID)...)
	cmd.Args[0] = "mydocker"
	cmd.ExtraFiles = []*os.File{w, super}
	if attach != nil {
		cmd.ExtraFiles = append(cmd.ExtraFiles, attach)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if f, err := os.OpenFile(rt.etcPath(c.ID, "monitor.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600); err == nil {
		cmd.Stderr = f
		defer f.Close()
	}
	if err := cmd.Start(); err != nil {
		w.Close()
		rt.startFailed(c, err)
		return errdefs.WithCode(fmt.Errorf("starting the monitor: %w", err), errdefs.CodeRuntime)
	}
	w.Close()
	var rep monitorReport
	err = json.NewDecoder(r).Decode(&rep)
	cmd.Process.Release()
	if err != nil {
		// The monitor died before saying anything: clean up after it; we
		// still hold the supervisor lock.
		rt.startFailed(c, errors.New("the monitor exited before the container started"))
		rt.release(c)
		return errdefs.Errorf(errdefs.CodeRuntime, "the monitor exited before the container started (see %s)", rt.etcPath(c.ID, "monitor.log"))
	}
	if rep.Error != "" {
		return errdefs.Errorf(rep.Code, "%s", rep.Error)
	}
	return nil
}

// Monitor is the body of the hidden `monitor` command; attached says a
// client's connection came with it (fd 5).
func (rt *Runtime) Monitor(id string, attached bool) error {
	report := os.NewFile(monitorReportFd, "report")
	super := os.NewFile(monitorLockFd, "supervisor-lock")
	defer runtime.KeepAlive(super) // the lock lives as long as we do
	reply := func(r monitorReport) {
		json.NewEncoder(report).Encode(r)
		report.Close()
	}
	c, err := rt.store.load(id)
	if err != nil {
		reply(monitorReport{Error: err.Error(), Code: errdefs.CodeRuntime})
		return err
	}
	logw, err := rt.openLog(c)
	if err != nil {
		rt.startFailed(c, err)
		reply(monitorReport{Error: err.Error(), Code: errdefs.CodeRuntime})
		return err
	}
	defer logw.Close()
	var first net.Conn
	if attached {
		f := os.NewFile(monitorAttachFd, "attach")
		first, err = net.FileConn(f)
		f.Close()
	}
	var srv *attachServer
	if err == nil {
		srv, err = rt.listenAttach(c, first)
	}
	if err != nil {
		rt.startFailed(c, err)
		reply(monitorReport{Error: err.Error(), Code: errdefs.CodeRuntime})
		return err
	}
	defer srv.close()
	p, err := rt.start(c)
	if err != nil {
		rt.startFailed(c, err)
		code, _ := errdefs.Code(err)
		reply(monitorReport{Error: err.Error(), Code: code})
		return err
	}
	srv.setProcess(p)
	reply(monitorReport{})

	var delay time.Duration
	for {
		started := time.Now()
		code := rt.supervise(p, logw, srv)
		srv.exited(code)
		rt.finish(c, code)
		cur, err := rt.store.loadLight(c.ID)
		if err != nil || !cur.State.Restarting {
			return nil
		}
		delay = restartDelay(delay, time.Since(started))
		if !rt.backOff(c.ID, delay) {
			rt.store.update(c.ID, func(r *Container) error { r.State.Restarting = false; return nil })
			return nil
		}
		// Restarting stays set until start says running: a stop or rm in
		// between sees a container that is not over yet.
		if c, err = rt.store.update(c.ID, func(r *Container) error {
			r.State.RestartCount++
			return nil
		}); err != nil {
			return err
		}
		if p, err = rt.start(c); err != nil {
			rt.startFailed(c, err)
			return err
		}
		srv.setProcess(p)
		if cur, err := rt.store.load(c.ID); err == nil && cur.State.StopRequested {
			p.kill() // asked to stop while it was being started
		}
	}
}

// supervise relays a started container's output to its log and to the
// attached clients until it exits, and returns its exit code.
func (rt *Runtime) supervise(p *process, logw *logWriter, srv *attachServer) int {
	var wg sync.WaitGroup
	pump := func(stream string, src *os.File) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 32<<10)
			for {
				n, err := src.Read(buf)
				if n > 0 {
					logw.write(stream, buf[:n])
					srv.output(stream, buf[:n])
				}
				if err != nil {
					break
				}
			}
			src.Close()
		}()
	}
	if p.console != nil {
		pump("stdout", p.console)
	} else {
		pump("stdout", p.stdout)
		pump("stderr", p.stderr)
	}
	// With -i, stdin stays open (and empty) for as long as the container
	// lives, as with Docker's -d -i.
	defer runtime.KeepAlive(p.stdin)
	waitErr := p.cmd.Wait()
	wg.Wait()
	return exitCode(p.cmd.ProcessState, waitErr)
}
