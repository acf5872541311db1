package e2e

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// -it driven through a real pty: the prompt appears, a typed command runs,
// exit returns its code, and the user's terminal mode is restored.
func TestInteractiveTerminal(t *testing.T) {
	cmd := exec.Command(bin, "--root", root, "run", "-it", "--rm", "busybox", "sh")
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	defer tty.Close()
	pty.Setsize(ptmx, &pty.Winsize{Rows: 33, Cols: 111})
	before, err := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()

	var seen bytes.Buffer
	readUntil := func(want string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		buf := make([]byte, 4096)
		for !strings.Contains(seen.String(), want) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %q; terminal shows %q", want, seen.String())
			}
			ptmx.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			n, _ := ptmx.Read(buf)
			seen.Write(buf[:n])
		}
	}
	readUntil("/ # ")
	// While the container runs, the user's terminal is raw.
	during, _ := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS)
	if during.Lflag&unix.ICANON != 0 {
		t.Error("the terminal is not in raw mode while attached")
	}
	ptmx.Write([]byte("echo $((6*7)); tty; stty size\r"))
	readUntil("/dev/pts/0")
	readUntil("33 111")
	if !strings.Contains(seen.String(), "42") {
		t.Fatalf("typed command did not run: %q", seen.String())
	}
	ptmx.Write([]byte("exit 4\r"))
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	go func() { // keep draining so the child never blocks on output
		buf := make([]byte, 4096)
		for {
			ptmx.SetReadDeadline(time.Now().Add(time.Second))
			if _, err := ptmx.Read(buf); err != nil && !isTimeout(err) {
				return
			}
		}
	}()
	select {
	case err := <-done:
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 4 {
			t.Fatalf("want exit 4, got %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("mydocker did not exit after `exit`")
	}
	after, _ := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS)
	if *after != *before {
		t.Fatalf("terminal mode not restored:\nbefore %+v\nafter  %+v", before, after)
	}
}

func isTimeout(err error) bool {
	te, ok := err.(interface{ Timeout() bool })
	return ok && te.Timeout()
}

// exec -it into a running container, through a real pty.
func TestExecInteractiveTerminal(t *testing.T) {
	must(t, "run", "-d", "--name", "execit", "busybox", "sleep", "1000")
	rmAfter(t, "execit")
	cmd := exec.Command(bin, "--root", root, "exec", "-it", "execit", "sh")
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	defer tty.Close()
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	var seen bytes.Buffer
	buf := make([]byte, 4096)
	readUntil := func(want string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(seen.String(), want) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %q; terminal shows %q", want, seen.String())
			}
			ptmx.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			n, _ := ptmx.Read(buf)
			seen.Write(buf[:n])
		}
	}
	readUntil("/ # ")
	ptmx.Write([]byte("ps -o pid,comm | grep -c sleep; tty\r"))
	readUntil("/dev/pts/")
	ptmx.Write([]byte("exit 6\r"))
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	go func() {
		for {
			ptmx.SetReadDeadline(time.Now().Add(time.Second))
			if _, err := ptmx.Read(buf); err != nil && !isTimeout(err) {
				return
			}
		}
	}()
	select {
	case err := <-done:
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 6 {
			t.Fatalf("want exit 6, got %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("exec -it did not return after exit")
	}
}
