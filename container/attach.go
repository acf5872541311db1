package container

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
	"golang.org/x/term"

	"github.com/mydocker/mydocker/internal/errdefs"
)

// A detached container's terminal (or stdio) belongs to its monitor, which
// serves it on a unix socket in the container's state directory
// (attach.sock), as conmon does for podman: `attach` and a foreground
// `run -t` are its clients. What the container writes goes to its log and
// to every client; what a client types goes to the container. The detach
// keys end the client alone and leave the container running.

// Frames on the socket: a type byte, a big-endian uint32 length, the payload.
const (
	frameStdin  byte = 'i' // to the monitor: input
	frameClose  byte = 'c' // to the monitor: the end of a foreground run's input
	frameResize byte = 'w' // to the monitor: rows and columns, big-endian uint16s
	frameStdout byte = 'o' // to the client
	frameStderr byte = 'e'
	frameExit   byte = 'x' // to the client, last: the exit code, a big-endian uint32
)

const maxFrame = 1 << 20

func encodeFrame(typ byte, p []byte) []byte {
	buf := make([]byte, 5+len(p))
	buf[0] = typ
	binary.BigEndian.PutUint32(buf[1:5], uint32(len(p)))
	copy(buf[5:], p)
	return buf
}

func readFrame(r io.Reader) (byte, []byte, error) {
	var h [5]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(h[1:])
	if n > maxFrame {
		return 0, nil, fmt.Errorf("attach: a frame of %d bytes", n)
	}
	p := make([]byte, n)
	_, err := io.ReadFull(r, p)
	return h[0], p, err
}

func (rt *Runtime) attachSocket(id string) string { return rt.etcPath(id, "attach.sock") }

// viaDirFd calls fn with a short name for path: a socket's address holds 108
// bytes, less than a state directory under a deep --root may take, so the
// socket is named through /proc/self/fd of its directory (as conmon does).
func viaDirFd(path string, fn func(short string) error) error {
	dir, err := os.OpenFile(filepath.Dir(path), unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return err
	}
	defer dir.Close()
	return fn(fmt.Sprintf("/proc/self/fd/%d/%s", dir.Fd(), filepath.Base(path)))
}

func dialAttach(path string) (net.Conn, error) {
	var conn net.Conn
	err := viaDirFd(path, func(short string) (err error) {
		conn, err = net.Dial("unix", short)
		return err
	})
	return conn, err
}

// attachServer is the monitor's side.
type attachServer struct {
	ln      net.Listener
	path    string
	mu      sync.Mutex
	p       *process
	clients map[*attachConn]bool
}

// attachConn is one client. The foreground run's own client (first) gets
// every byte, waited for; a later one that cannot keep up is dropped rather
// than slow the container down.
type attachConn struct {
	conn  net.Conn
	out   chan []byte
	first bool
	once  sync.Once
}

func (a *attachConn) close() { a.once.Do(func() { close(a.out) }) }

// listenAttach opens c's attach socket; first, if not nil, is a client
// connected from the start (the foreground run's).
func (rt *Runtime) listenAttach(c *Container, first net.Conn) (*attachServer, error) {
	s := &attachServer{path: rt.attachSocket(c.ID), clients: map[*attachConn]bool{}}
	os.Remove(s.path)
	err := viaDirFd(s.path, func(short string) (err error) {
		s.ln, err = net.Listen("unix", short)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("attach socket: %w", err)
	}
	if first != nil {
		s.add(first, true)
	}
	go s.accept()
	return s, nil
}

func (s *attachServer) accept() {
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.add(conn, false)
	}
}

func (s *attachServer) add(conn net.Conn, first bool) {
	a := &attachConn{conn: conn, out: make(chan []byte, 256), first: first}
	s.mu.Lock()
	s.clients[a] = true
	s.mu.Unlock()
	go func() {
		for f := range a.out {
			if _, err := conn.Write(f); err != nil {
				break
			}
		}
		conn.Close()
		for range a.out { // let senders go on
		}
	}()
	go s.serveInput(a)
}

// serveInput passes what a client sends on to the container.
func (s *attachServer) serveInput(a *attachConn) {
	defer s.drop(a)
	for {
		typ, p, err := readFrame(a.conn)
		if err != nil {
			return
		}
		s.mu.Lock()
		proc := s.p
		s.mu.Unlock()
		if proc == nil {
			continue // between two runs of a restart policy
		}
		switch typ {
		case frameStdin:
			if proc.console != nil {
				proc.console.Write(p)
			} else if proc.stdin != nil {
				proc.stdin.Write(p)
			}
		case frameClose:
			if a.first && proc.stdin != nil {
				proc.stdin.Close() // as Docker's run -i: the end of input is the container's
			}
		case frameResize:
			if proc.console != nil && len(p) == 4 {
				unix.IoctlSetWinsize(int(proc.console.Fd()), unix.TIOCSWINSZ, &unix.Winsize{
					Row: binary.BigEndian.Uint16(p), Col: binary.BigEndian.Uint16(p[2:])})
			}
		}
	}
}

func (s *attachServer) drop(a *attachConn) {
	s.mu.Lock()
	delete(s.clients, a)
	s.mu.Unlock()
	a.close()
}

// setProcess points input at a (newly started) container process.
func (s *attachServer) setProcess(p *process) {
	s.mu.Lock()
	s.p = p
	s.mu.Unlock()
}

// send gives a frame to every client.
func (s *attachServer) send(f []byte) {
	var first *attachConn
	s.mu.Lock()
	for a := range s.clients {
		if a.first {
			first = a
			continue
		}
		select {
		case a.out <- f:
		default:
			delete(s.clients, a)
			a.close()
		}
	}
	s.mu.Unlock()
	if first != nil {
		defer func() { recover() }() // it left meanwhile: its channel is closed
		first.out <- f
	}
}

// output is what the container wrote on one stream.
func (s *attachServer) output(stream string, p []byte) {
	typ := frameStdout
	if stream == "stderr" {
		typ = frameStderr
	}
	s.send(encodeFrame(typ, p))
}

// exited tells every client the exit code and lets them go.
func (s *attachServer) exited(code int) {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], uint32(code))
	s.send(encodeFrame(frameExit, b[:]))
	s.mu.Lock()
	s.p = nil
	for a := range s.clients {
		delete(s.clients, a)
		a.close()
	}
	s.mu.Unlock()
}

func (s *attachServer) close() {
	s.ln.Close()
	os.Remove(s.path)
}

// DetachKeys parses Docker's --detach-keys: comma-separated keys, each a
// character or ctrl-X (X a letter, @, [, \, ], ^ or _).
func DetachKeys(spec string) ([]byte, error) {
	if spec == "" {
		spec = "ctrl-p,ctrl-q"
	}
	var keys []byte
	for _, k := range strings.Split(spec, ",") {
		switch {
		case len(k) == 1:
			keys = append(keys, k[0])
		case len(k) == 6 && strings.HasPrefix(strings.ToLower(k), "ctrl-"):
			c := k[5]
			switch {
			case c >= 'a' && c <= 'z':
				keys = append(keys, c-'a'+1)
			case c >= 'A' && c <= 'Z':
				keys = append(keys, c-'A'+1)
			case strings.IndexByte("@[\\]^_", c) >= 0:
				keys = append(keys, c-'@')
			default:
				return nil, fmt.Errorf("invalid detach keys %q: unknown key %q", spec, k)
			}
		default:
			return nil, fmt.Errorf("invalid detach keys %q: unknown key %q", spec, k)
		}
	}
	return keys, nil
}

// detachScanner finds the detach keys in what the user types; bytes that
// may start the sequence are held until it is clear they do not.
type detachScanner struct {
	keys    []byte
	matched int
}

// scan returns what to pass on from p, and whether the keys were typed.
func (d *detachScanner) scan(p []byte) (out []byte, detach bool) {
	for _, b := range p {
		if b == d.keys[d.matched] {
			d.matched++
			if d.matched == len(d.keys) {
				return out, true
			}
			continue
		}
		out = append(out, d.keys[:d.matched]...)
		d.matched = 0
		if b == d.keys[0] {
			d.matched = 1
			if len(d.keys) == 1 {
				return out, true
			}
			continue
		}
		out = append(out, b)
	}
	return out, false
}

// errDetached is how a client ends on the detach keys.
var errDetached = errors.New("detached")

// AttachOptions are attach's flags.
type AttachOptions struct {
	DetachKeys string
	NoStdin    bool
}

// Attach connects the user's terminal (or stdio) to a running container
// until it exits, whose exit code it returns, or the detach keys are typed.
func (rt *Runtime) Attach(ref string, o AttachOptions) error {
	keys, err := DetachKeys(o.DetachKeys)
	if err != nil {
		return err
	}
	c, err := rt.Lookup(ref)
	if err != nil {
		return err
	}
	if c.State.Status != Running {
		return fmt.Errorf("You cannot attach to a stopped container, start it first")
	}
	if c.State.Paused {
		return fmt.Errorf("You cannot attach to a paused container, unpause it first")
	}
	conn, err := dialAttach(rt.attachSocket(c.ID))
	if err != nil {
		return fmt.Errorf("attaching to %s: %w", c.ShortID(), err)
	}
	code, err := rt.relay(c, conn, keys, c.Config.OpenStdin && !o.NoStdin)
	return rt.attachEnded(c, code, err)
}

// attachEnded turns how a client ended into its own exit: nothing when
// detached, else the container's exit code (from the record when the
// monitor went away without saying).
func (rt *Runtime) attachEnded(c *Container, code int, err error) error {
	if errors.Is(err, errDetached) {
		return nil
	}
	if err != nil {
		rt.waitSupervisor(c.ID)
		code = 128 + int(unix.SIGKILL)
		if cur, lerr := rt.Lookup(c.ID); lerr == nil {
			code = cur.State.ExitCode
		}
	}
	if code != 0 {
		return errdefs.Status(code)
	}
	return nil
}

// frameWriter serializes a client's frames: input and resizes come from
// different goroutines.
type frameWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (f *frameWriter) frame(typ byte, p []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, err := f.w.Write(encodeFrame(typ, p))
	return err
}

// relay is a client: the monitor's frames to stdout and stderr, the user's
// input (with stdin) to the monitor, until the container exits (its code)
// or the detach keys are typed (errDetached).
func (rt *Runtime) relay(c *Container, conn net.Conn, keys []byte, stdin bool) (int, error) {
	defer conn.Close()
	fw := &frameWriter{w: conn}
	if c.Config.Tty && term.IsTerminal(int(os.Stdin.Fd())) {
		var t *terminal
		onResize := func(ws *unix.Winsize) {
			var b [4]byte
			binary.BigEndian.PutUint16(b[:], ws.Row)
			binary.BigEndian.PutUint16(b[2:], ws.Col)
			fw.frame(frameResize, b[:])
		}
		if stdin {
			t = rawTerminal(onResize)
		} else {
			t = sizeOnlyTerminal(onResize)
		}
		defer t.restore()
	}
	if c.State.Pid != 0 {
		defer forwardSignals(c.State.Pid)()
	}
	detached := make(chan struct{})
	if stdin {
		go func() {
			buf := make([]byte, 32<<10)
			sc := &detachScanner{keys: keys}
			for {
				n, err := os.Stdin.Read(buf)
				if n > 0 {
					p, detach := buf[:n], false
					if c.Config.Tty {
						p, detach = sc.scan(p)
					}
					if len(p) > 0 {
						fw.frame(frameStdin, p)
					}
					if detach {
						close(detached)
						return
					}
				}
				if err != nil {
					fw.frame(frameClose, nil)
					return
				}
			}
		}()
	}
	type ending struct {
		code int
		err  error
	}
	ended := make(chan ending, 1)
	go func() {
		for {
			typ, p, err := readFrame(conn)
			if err != nil {
				ended <- ending{-1, fmt.Errorf("the monitor went away: %w", err)}
				return
			}
			switch typ {
			case frameStdout:
				os.Stdout.Write(p)
			case frameStderr:
				os.Stderr.Write(p)
			case frameExit:
				if len(p) == 4 {
					ended <- ending{int(binary.BigEndian.Uint32(p)), nil}
					return
				}
			}
		}
	}()
	select {
	case e := <-ended:
		return e.code, e.err
	case <-detached:
		return 0, errDetached
	}
}
