package container

import (
	"fmt"
	"os"
	"os/signal"

	"golang.org/x/sys/unix"
	"golang.org/x/term"
)

// openPty opens a new pseudo-terminal from /dev/ptmx (inside the container
// that is the container's own devpts instance) and returns both ends.
func openPty() (master, slave *os.File, err error) {
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, nil, err
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		m.Close()
		return nil, nil, fmt.Errorf("unlockpt: %w", err)
	}
	// TIOCGPTPEER opens the slave through the master, never by a path that
	// could be raced.
	sfd, _, errno := unix.Syscall(unix.SYS_IOCTL, m.Fd(), unix.TIOCGPTPEER, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC)
	if errno != 0 {
		m.Close()
		return nil, nil, fmt.Errorf("open pty peer: %w", errno)
	}
	name, _ := ptyName(m)
	return m, os.NewFile(sfd, name), nil
}

// ptyName returns /dev/pts/N for a pty master.
func ptyName(master *os.File) (string, error) {
	n, err := unix.IoctlGetUint32(int(master.Fd()), unix.TIOCGPTN)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("/dev/pts/%d", n), nil
}

// terminal is the user's terminal while a container is attached to it.
type terminal struct {
	in       *os.File
	oldState *term.State
	winch    chan os.Signal
}

// attachTerminal puts the user's terminal (if stdin is one) in raw mode and
// keeps master's window size in step with it. restore must be called on
// every way out.
func attachTerminal(master *os.File) *terminal {
	return rawTerminal(func(ws *unix.Winsize) { unix.IoctlSetWinsize(int(master.Fd()), unix.TIOCSWINSZ, ws) })
}

// rawTerminal puts the user's terminal (if stdin is one) in raw mode and
// calls onResize with its window size now and whenever it changes.
func rawTerminal(onResize func(*unix.Winsize)) *terminal {
	t := &terminal{in: os.Stdin}
	if !term.IsTerminal(int(t.in.Fd())) {
		return t
	}
	if st, err := term.MakeRaw(int(t.in.Fd())); err == nil {
		t.oldState = st
	}
	t.followSize(onResize)
	return t
}

// sizeOnlyTerminal follows the user's window size, leaving its mode alone
// (a terminal without input: run -t without -i).
func sizeOnlyTerminal(onResize func(*unix.Winsize)) *terminal {
	t := &terminal{in: os.Stdin}
	t.followSize(onResize)
	return t
}

func (t *terminal) followSize(onResize func(*unix.Winsize)) {
	send := func() {
		if ws, err := unix.IoctlGetWinsize(int(t.in.Fd()), unix.TIOCGWINSZ); err == nil {
			onResize(ws)
		}
	}
	send()
	t.winch = make(chan os.Signal, 1)
	signal.Notify(t.winch, unix.SIGWINCH)
	go func(ch chan os.Signal) {
		for range ch {
			send()
		}
	}(t.winch)
}

func (t *terminal) restore() {
	if t.winch != nil {
		signal.Stop(t.winch)
		close(t.winch)
		t.winch = nil
	}
	if t.oldState != nil {
		term.Restore(int(t.in.Fd()), t.oldState)
		t.oldState = nil
	}
}
