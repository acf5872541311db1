package e2e

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/compression"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"golang.org/x/crypto/bcrypt"
)

// registry is Debian's docker-registry (the CNCF distribution registry),
// served on loopback by the test, as a user's would be.
type registry struct {
	host string // 127.0.0.1:PORT
	cmd  *exec.Cmd
}

// startRegistry runs a registry on a free loopback port until the test ends;
// with user set, it wants that user's basic auth.
func startRegistry(t *testing.T, user, password string) *registry {
	t.Helper()
	if _, err := exec.LookPath("docker-registry"); err != nil {
		t.Fatal("docker-registry is not installed (make test installs it)")
	}
	dir := t.TempDir()
	port := freePort(t)
	cfg := fmt.Sprintf("version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s/data\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:%d\n", dir, port)
	if user != "" {
		hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, "htpasswd"), []byte(user+":"+string(hash)+"\n"), 0o600)
		cfg += fmt.Sprintf("auth:\n  htpasswd:\n    realm: test\n    path: %s/htpasswd\n", dir)
	}
	os.WriteFile(filepath.Join(dir, "config.yml"), []byte(cfg), 0o600)
	cmd := exec.Command("docker-registry", "serve", filepath.Join(dir, "config.yml"))
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	r := &registry{host: fmt.Sprintf("127.0.0.1:%d", port), cmd: cmd}
	waitFor(t, 10*time.Second, "the registry to answer", func() bool {
		resp, err := http.Get("http://" + r.host + "/v2/")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return true
	})
	return r
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// push writes an image or index to the registry under repo:tag and returns
// the pushed manifest's digest.
func (r *registry) push(t *testing.T, ref string, v any, opts ...remote.Option) string {
	t.Helper()
	tag, err := name.NewTag(r.host+"/"+ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	var d v1.Hash
	switch x := v.(type) {
	case v1.Image:
		err = remote.Write(tag, x, opts...)
		d, _ = x.Digest()
	case v1.ImageIndex:
		err = remote.WriteIndex(tag, x, opts...)
		d, _ = x.Digest()
	}
	if err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	return d.String()
}

// tarLayer builds a layer from files (name -> content; a name ending in /
// is a directory), compressed as asked.
func tarLayer(t *testing.T, files [][2]string, comp compression.Compression) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{Name: f[0], Mode: 0o644, Typeflag: tar.TypeReg, Size: int64(len(f[1])), ModTime: time.Unix(1e9, 0)}
		if strings.HasSuffix(f[0], "/") {
			h.Typeflag, h.Mode, h.Size = tar.TypeDir, 0o755, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		io.WriteString(tw, f[1])
	}
	tw.Close()
	data := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil },
		tarball.WithCompression(comp))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

var (
	busyboxLayerOnce sync.Once
	busyboxLayer     v1.Layer
)

// baseImage is busybox (the tarball make test builds) as a registry image.
func baseImage(t *testing.T) v1.Image {
	t.Helper()
	busyboxLayerOnce.Do(func() {
		l, err := tarball.LayerFromFile(busyboxTar)
		if err != nil {
			t.Fatal(err)
		}
		busyboxLayer = l
	})
	img, err := mutate.AppendLayers(empty.Image, busyboxLayer)
	if err != nil {
		t.Fatal(err)
	}
	return withConfig(t, img, v1.Config{Cmd: []string{"sh"}, Env: []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}}, "amd64")
}

func withConfig(t *testing.T, img v1.Image, c v1.Config, arch string) v1.Image {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.Config, cf.OS, cf.Architecture = c, "linux", arch
	out, err := mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func appendLayers(t *testing.T, img v1.Image, layers ...v1.Layer) v1.Image {
	t.Helper()
	out, err := mutate.AppendLayers(img, layers...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// stallingProxy stands between mydocker and a registry and stops every blob
// download of more than a MiB after its first MiB, until the test ends: a
// pull caught mid-layer, every time.
type stallingProxy struct {
	host    string
	stalled chan struct{}
	once    sync.Once
}

func newStallingProxy(t *testing.T, target string) *stallingProxy {
	t.Helper()
	u, _ := url.Parse("http://" + target)
	rp := httputil.NewSingleHostReverseProxy(u)
	p := &stallingProxy{stalled: make(chan struct{})}
	release := make(chan struct{})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if !strings.Contains(req.URL.Path, "/blobs/") || req.Method != http.MethodGet {
			rp.ServeHTTP(w, req)
			return
		}
		rp.ServeHTTP(&stallWriter{ResponseWriter: w, left: 1 << 20, onStall: func() {
			p.once.Do(func() { close(p.stalled) })
			<-release
		}}, req)
	})}
	go srv.Serve(l)
	t.Cleanup(func() { close(release); srv.Close() })
	p.host = l.Addr().String()
	return p
}

type stallWriter struct {
	http.ResponseWriter
	left    int
	onStall func()
}

func (s *stallWriter) Write(b []byte) (int, error) {
	n := min(len(b), s.left)
	if n > 0 {
		s.ResponseWriter.Write(b[:n])
		s.left -= n
		if f, ok := s.ResponseWriter.(http.Flusher); ok {
			f.Flush()
		}
	}
	if n < len(b) {
		s.onStall()
		return n, syscall.EPIPE
	}
	return n, nil
}

// pushAuth is push to a registry that wants basic auth.
func (r *registry) pushAuth(t *testing.T, ref string, img v1.Image, user, password string) string {
	t.Helper()
	return r.push(t, ref, img, remote.WithAuth(&authn.Basic{Username: user, Password: password}))
}

// corruptingProxy passes a registry through, but flips one byte of every
// blob of more than 64 KiB: what a bad disk or network would do.
func corruptingProxy(t *testing.T, target string) string {
	t.Helper()
	u, _ := url.Parse("http://" + target)
	rp := httputil.NewSingleHostReverseProxy(u)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if strings.Contains(req.URL.Path, "/blobs/") && req.Method == http.MethodGet {
			w = &flipWriter{ResponseWriter: w, at: 40000}
		}
		rp.ServeHTTP(w, req)
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String()
}

type flipWriter struct {
	http.ResponseWriter
	at, seen int
}

func (f *flipWriter) Write(b []byte) (int, error) {
	if f.at >= f.seen && f.at < f.seen+len(b) {
		b = append([]byte{}, b...)
		b[f.at-f.seen] ^= 0xff
	}
	f.seen += len(b)
	return f.ResponseWriter.Write(b)
}

// failingRegistry answers every request with one HTTP status.
func failingRegistry(t *testing.T, status int) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.WriteHeader(status)
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String()
}
