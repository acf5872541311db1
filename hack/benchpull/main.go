// Command benchpull measures pulling a multi-layer image (about 100 MB in
// six layers) from a registry on loopback (Debian's docker-registry):
// mydocker beside skopeo and crane, interleaved round by round, then a
// second image sharing five of the six layers.
//
//	go run ./hack/benchpull -mydocker bin/mydocker -crane bin/tools/crane
package main

import (
	"archive/tar"
	"bytes"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func main() {
	mydocker := flag.String("mydocker", "bin/mydocker", "the mydocker binary")
	crane := flag.String("crane", "bin/tools/crane", "the crane binary")
	rounds := flag.Int("n", 5, "rounds")
	flag.Parse()
	if err := run(*mydocker, *crane, *rounds); err != nil {
		fmt.Fprintln(os.Stderr, "benchpull:", err)
		os.Exit(1)
	}
}

func run(mydocker, crane string, rounds int) error {
	tmp, err := os.MkdirTemp("", "mydocker-benchpull-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	host, stop, err := startRegistry(tmp)
	if err != nil {
		return err
	}
	defer stop()
	// Six layers of 16 MiB, each half random (incompressible) and half zeros.
	var layers []v1.Layer
	for i := 0; i < 7; i++ {
		l, err := layer(fmt.Sprintf("layer%d", i), 16<<20)
		if err != nil {
			return err
		}
		layers = append(layers, l)
	}
	a, _ := mutate.AppendLayers(empty.Image, layers[:6]...)
	b, _ := mutate.AppendLayers(empty.Image, append(append([]v1.Layer{}, layers[:5]...), layers[6])...)
	for ref, img := range map[string]v1.Image{"bench/a:1": a, "bench/b:1": b} {
		tag, _ := name.NewTag(host+"/"+ref, name.Insecure)
		if err := remote.Write(tag, img); err != nil {
			return fmt.Errorf("push %s: %w", ref, err)
		}
	}
	size := int64(0)
	for _, l := range layers[:6] {
		n, _ := l.Size()
		size += n
	}
	fmt.Printf("image: 6 layers, %.1f MB compressed, from %s\n\n", float64(size)/1e6, host)
	type subject struct {
		name string
		argv func(dir string) []string
		wall []time.Duration
		cpu  []time.Duration // user + system
	}
	ref := host + "/bench/a:1"
	subjects := []*subject{
		{name: "mydocker pull (download, verify, unpack)", argv: func(d string) []string { return []string{mydocker, "--root", d, "pull", "-q", ref} }},
		{name: "skopeo copy to an OCI layout (download, verify)", argv: func(d string) []string {
			return []string{"skopeo", "copy", "-q", "--src-tls-verify=false", "docker://" + ref, "oci:" + d + ":a"}
		}},
		{name: "crane pull --format oci (download, verify)", argv: func(d string) []string {
			return []string{crane, "pull", "--insecure", "--format", "oci", ref, d}
		}},
		{name: "skopeo copy to containers-storage (download, verify, unpack: podman pull's work)", argv: func(d string) []string {
			return []string{"skopeo", "copy", "-q", "--src-tls-verify=false", "docker://" + ref, "containers-storage:[overlay@" + d + "/storage+" + d + "/run]a:1"}
		}},
	}
	for r := 0; r < rounds; r++ {
		for i := range subjects {
			s := subjects[(i+r)%len(subjects)]
			dir := filepath.Join(tmp, fmt.Sprintf("out-%d-%d", r, i))
			start := time.Now()
			cmd := exec.Command(s.argv(dir)[0], s.argv(dir)[1:]...)
			if out, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("%s: %v: %s", s.name, err, out)
			}
			s.wall = append(s.wall, time.Since(start))
			s.cpu = append(s.cpu, cmd.ProcessState.UserTime()+cmd.ProcessState.SystemTime())
			unmountUnder(dir) // containers-storage leaves its overlay home mounted
			os.RemoveAll(dir)
		}
	}
	fmt.Printf("| pull of the image, %d rounds | median | min | MB/s (median) | CPU (user+sys, median) |\n|---|---|---|---|---|\n", rounds)
	for _, s := range subjects {
		sort.Slice(s.wall, func(i, j int) bool { return s.wall[i] < s.wall[j] })
		sort.Slice(s.cpu, func(i, j int) bool { return s.cpu[i] < s.cpu[j] })
		med := s.wall[len(s.wall)/2]
		fmt.Printf("| %s | %s | %s | %.0f | %s |\n", s.name, ms(med), ms(s.wall[0]), float64(size)/1e6/med.Seconds(), ms(s.cpu[len(s.cpu)/2]))
	}
	// A second image sharing five layers fetches only the sixth.
	dir := filepath.Join(tmp, "shared")
	if out, err := exec.Command(mydocker, "--root", dir, "pull", ref).CombinedOutput(); err != nil {
		return fmt.Errorf("pull a: %v: %s", err, out)
	}
	start := time.Now()
	out, err := exec.Command(mydocker, "--root", dir, "pull", host+"/bench/b:1").CombinedOutput()
	if err != nil {
		return fmt.Errorf("pull b: %v: %s", err, out)
	}
	fmt.Printf("\nsecond image sharing 5 of 6 layers: %s, %d layers already there, %d pulled\n",
		ms(time.Since(start)), strings.Count(string(out), "Already exists"), strings.Count(string(out), "Pull complete"))
	start = time.Now()
	if out, err := exec.Command(mydocker, "--root", dir, "pull", host+"/bench/b:1").CombinedOutput(); err != nil {
		return fmt.Errorf("pull b again: %v: %s", err, out)
	}
	fmt.Printf("the same pull again (nothing to fetch): %s\n", ms(time.Since(start)))
	return nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d.Microseconds())/1000) }

func layer(name string, size int) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	data := make([]byte, size)
	rand.Read(data[:size/2])
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(size), Typeflag: tar.TypeReg}); err != nil {
		return nil, err
	}
	tw.Write(data)
	tw.Close()
	b := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
}

func startRegistry(dir string) (string, func(), error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	host := l.Addr().String()
	l.Close()
	cfg := fmt.Sprintf("version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s/registry\nhttp:\n  addr: %s\n", dir, host)
	os.WriteFile(filepath.Join(dir, "config.yml"), []byte(cfg), 0o600)
	cmd := exec.Command("docker-registry", "serve", filepath.Join(dir, "config.yml"))
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop := func() { cmd.Process.Kill(); cmd.Wait() }
	for i := 0; i < 100; i++ {
		if resp, err := http.Get("http://" + host + "/v2/"); err == nil {
			resp.Body.Close()
			return host, stop, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	stop()
	return "", nil, fmt.Errorf("the registry did not come up")
}

// unmountUnder undoes the mounts a tool left beneath dir, deepest first.
func unmountUnder(dir string) {
	data, _ := os.ReadFile("/proc/self/mountinfo")
	var mounts []string
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
			mounts = append(mounts, f[4])
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(mounts)))
	for _, m := range mounts {
		exec.Command("umount", m).Run()
	}
}
