package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// ptySession runs mydocker on a real pseudo-terminal, as a user at a
// terminal would.
type ptySession struct {
	t         *testing.T
	cmd       *exec.Cmd
	ptmx, tty *os.File
	seen      bytes.Buffer
}

func startPty(t *testing.T, rows, cols uint16, args ...string) *ptySession {
	t.Helper()
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ptmx.Close(); tty.Close() })
	pty.Setsize(ptmx, &pty.Winsize{Rows: rows, Cols: cols})
	s := &ptySession{t: t, ptmx: ptmx, tty: tty}
	s.cmd = exec.Command(bin, append([]string{"--root", root}, args...)...)
	s.cmd.Env = mydockerEnv()
	s.cmd.Stdin, s.cmd.Stdout, s.cmd.Stderr = tty, tty, tty
	// The pty is mydocker's controlling terminal, as at a real terminal: a
	// resize sends it SIGWINCH.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.cmd.Process.Kill() })
	return s
}

func (s *ptySession) termios() unix.Termios {
	st, err := unix.IoctlGetTermios(int(s.tty.Fd()), unix.TCGETS)
	if err != nil {
		s.t.Fatal(err)
	}
	return *st
}

// readUntil reads the terminal until it shows want.
func (s *ptySession) readUntil(want string) {
	s.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	buf := make([]byte, 4096)
	for !strings.Contains(s.seen.String(), want) {
		if time.Now().After(deadline) {
			s.t.Fatalf("timed out waiting for %q; terminal shows %q", want, s.seen.String())
		}
		s.ptmx.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		n, _ := s.ptmx.Read(buf)
		s.seen.Write(buf[:n])
	}
}

func (s *ptySession) typeLine(line string) { s.ptmx.Write([]byte(line + "\r")) }

// wait expects mydocker to exit with code, draining the terminal meanwhile.
func (s *ptySession) wait(code int) {
	s.t.Helper()
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	go func() {
		buf := make([]byte, 4096)
		for {
			s.ptmx.SetReadDeadline(time.Now().Add(time.Second))
			if _, err := s.ptmx.Read(buf); err != nil && !isTimeout(err) {
				return
			}
		}
	}()
	select {
	case err := <-done:
		got := 0
		if ee, ok := err.(*exec.ExitError); ok {
			got = ee.ExitCode()
		} else if err != nil {
			s.t.Fatal(err)
		}
		if got != code {
			s.t.Fatalf("want exit %d, got %d", code, got)
		}
	case <-time.After(10 * time.Second):
		s.t.Fatal("mydocker did not exit after `exit`")
	}
}

// -it driven through a real pty: the prompt appears, a typed command runs,
// exit returns its code, and the user's terminal mode is restored.
func TestInteractiveTerminal(t *testing.T) {
	s := startPty(t, 33, 111, "run", "-it", "--rm", "busybox", "sh")
	before := s.termios()
	s.readUntil("/ # ")
	// While the container runs, the user's terminal is raw.
	if during := s.termios(); during.Lflag&unix.ICANON != 0 {
		t.Error("the terminal is not in raw mode while attached")
	}
	s.typeLine("echo $((6*7)); tty; stty size")
	s.readUntil("/dev/pts/0")
	s.readUntil("33 111")
	if !strings.Contains(s.seen.String(), "42") {
		t.Fatalf("typed command did not run: %q", s.seen.String())
	}
	// A window size change reaches the container's terminal.
	pty.Setsize(s.ptmx, &pty.Winsize{Rows: 44, Cols: 122})
	waitFor(t, 5*time.Second, "the new size inside", func() bool {
		s.typeLine("stty size")
		buf := make([]byte, 4096)
		s.ptmx.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		n, _ := s.ptmx.Read(buf)
		s.seen.Write(buf[:n])
		return strings.Contains(s.seen.String(), "44 122")
	})
	s.typeLine("exit 4")
	s.wait(4)
	if after := s.termios(); after != before {
		t.Fatalf("terminal mode not restored:\nbefore %+v\nafter  %+v", before, after)
	}
}

// exec -it into a running container, through a real pty.
func TestExecInteractiveTerminal(t *testing.T) {
	must(t, "run", "-d", "--name", "execit", "busybox", "sleep", "1000")
	rmAfter(t, "execit")
	s := startPty(t, 24, 80, "exec", "-it", "execit", "sh")
	s.readUntil("/ # ")
	s.typeLine("ps -o pid,comm | grep -c sleep; tty")
	s.readUntil("/dev/pts/")
	s.typeLine("exit 6")
	s.wait(6)
}

func isTimeout(err error) bool {
	te, ok := err.(interface{ Timeout() bool })
	return ok && te.Timeout()
}

// run -it, the detach keys, attach and exit: the monitor keeps the
// container's terminal, clients come and go.
func TestAttachDetach(t *testing.T) {
	s := startPty(t, 24, 80, "run", "-it", "--name", "att", "--net", "none", "busybox", "sh")
	rmAfter(t, "att")
	s.readUntil("/ # ")
	s.typeLine("echo one$((1+1))")
	s.readUntil("one2")
	s.ptmx.Write([]byte{0x10, 0x11}) // ctrl-p ctrl-q
	s.wait(0)
	if st := status(t, "att"); !strings.HasPrefix(st, "Up") {
		t.Fatalf("after detaching: %q", st)
	}
	a := startPty(t, 30, 90, "attach", "att")
	a.typeLine("echo two$((1+2)); stty size")
	a.readUntil("two3")
	a.readUntil("30 90") // the new client's window size
	a.ptmx.Write([]byte{0x10, 0x11})
	a.wait(0)
	b := startPty(t, 24, 80, "attach", "--detach-keys", "ctrl-a,x", "att")
	b.typeLine("echo three$((1+3))")
	b.readUntil("three4")
	b.ptmx.Write([]byte{0x01, 'x'})
	b.wait(0)
	c := startPty(t, 24, 80, "attach", "att")
	c.typeLine("exit 5")
	c.wait(5)
	if st := status(t, "att"); !strings.HasPrefix(st, "Exited (5)") {
		t.Fatalf("after exit: %q", st)
	}
	oneLineError(t, expect(t, 1, "attach", "att"))
	oneLineError(t, expect(t, 125, "run", "-d", "--detach-keys", "ctrl-1", "busybox", "true"))
	oneLineError(t, expect(t, 1, "attach", "--detach-keys", "ctrl-pq", "att"))

	// run -dit, then attach gives the shell.
	must(t, "run", "-dit", "--name", "att2", "--net", "none", "busybox", "sh")
	rmAfter(t, "att2")
	d := startPty(t, 24, 80, "attach", "att2")
	d.typeLine("echo four$((2+2))")
	d.readUntil("four4")
	d.typeLine("exit")
	d.wait(0)

	// Without a terminal: stdout and stderr apart, and the exit code.
	must(t, "run", "-d", "--name", "att3", "--net", "none", "busybox", "sh", "-c", "sleep 1; echo out; echo err >&2; exit 3")
	rmAfter(t, "att3")
	r := mydocker("attach", "att3")
	if r.code != 3 || r.stdout != "out\n" || r.stderr != "err\n" {
		t.Fatalf("attach without a terminal: %v", r)
	}
}

// A signal to a foreground run -it goes to the container (as Docker's
// sig-proxy), and the user's terminal comes back as it was.
func TestTerminalRunForwardsSignals(t *testing.T) {
	s := startPty(t, 24, 80, "run", "-it", "--rm", "--net", "none", "busybox", "sh", "-c",
		`trap "echo got-term; exit 7" TERM; echo ready; while :; do sleep 0.1; done`)
	s.readUntil("ready")
	s.cmd.Process.Signal(syscall.SIGTERM)
	s.readUntil("got-term")
	s.wait(7)
	if after := s.termios(); after.Lflag&unix.ICANON == 0 { // a new pty is canonical
		t.Fatal("the terminal was left raw")
	}
}
