package e2e

import (
	"crypto/rand"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/compression"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// layerDirs counts the unpacked layers in a state root.
func layerDirs(t *testing.T, root string) (layers, tmp int) {
	t.Helper()
	entries, _ := os.ReadDir(filepath.Join(root, "lib", "layers"))
	for _, e := range entries {
		switch {
		case strings.HasPrefix(e.Name(), ".tmp-"):
			tmp++
		case len(e.Name()) == 64:
			layers++
		}
	}
	return layers, tmp
}

// withRoot runs mydocker on another state root (for tests that need an
// empty image store).
func withRoot(r string, args ...string) result {
	return mydocker(append([]string{"--root", r}, args...)...)
}

func TestPullAndRunImageConfig(t *testing.T) {
	reg := startRegistry(t, "", "")
	img := appendLayers(t, baseImage(t), tarLayer(t, [][2]string{{"srv/", ""}, {"srv/app/", ""}, {"srv/app/greeting", "hello from the image\n"}}, compression.GZip))
	img = withConfig(t, img, v1.Config{
		Entrypoint:   []string{"/bin/sh", "-c", `echo "$0 $GREETING $(pwd) $(id -u):$(id -g)"; cat greeting`},
		Cmd:          []string{"arg-from-cmd"},
		Env:          []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "GREETING=hi"},
		WorkingDir:   "/srv/app",
		User:         "nobody",
		StopSignal:   "SIGUSR1",
		Labels:       map[string]string{"team": "core"},
		ExposedPorts: map[string]struct{}{"80/tcp": {}},
	}, "amd64")
	digest := reg.push(t, "test/app:1", img)
	ref := reg.host + "/test/app:1"

	r := expect(t, 0, "pull", ref)
	if !strings.Contains(r.stdout, "Digest: "+digest) || !strings.Contains(r.stdout, "Pull complete") {
		t.Fatalf("pull output: %s", r.stdout)
	}
	t.Cleanup(func() { mydocker("rmi", "-f", ref) })
	// ENTRYPOINT + CMD, ENV, WORKDIR and USER (nobody: 65534 in busybox's /etc/passwd).
	out := must(t, "run", "--rm", "--net", "none", ref)
	if out != "arg-from-cmd hi /srv/app 65534:65534\nhello from the image\n" {
		t.Fatalf("run: %q", out)
	}
	// Arguments replace CMD; -e overrides ENV; --user and -w override too.
	r = mydocker("run", "--rm", "--net", "none", "-e", "GREETING=yo", "-u", "0:0", "-w", "/", ref, "args")
	if r.stdout != "args yo / 0:0\n" {
		t.Fatalf("run with overrides: %s", r)
	}
	// --entrypoint drops the image's CMD as well.
	if out := must(t, "run", "--rm", "--net", "none", "--entrypoint", "pwd", ref); out != "/srv/app\n" {
		t.Fatalf("--entrypoint: %q", out)
	}
	// The user and the stop signal reach exec and stop.
	must(t, "run", "-d", "--name", "cfg", "--net", "none", "--entrypoint", "sh", ref, "-c", "trap 'echo got-usr1; exit 3' USR1; while :; do sleep 0.1; done")
	rmAfter(t, "cfg")
	if out := must(t, "exec", "cfg", "id", "-u"); out != "65534\n" {
		t.Fatalf("exec user: %q", out)
	}
	must(t, "stop", "-t", "5", "cfg")
	if code := inspect(t, "cfg", "{{.State.ExitCode}}"); code != "3" {
		t.Fatalf("stop did not send STOPSIGNAL: exit %s", code)
	}
	// Pulled once by tag, the image answers to its digest too.
	if id := strings.TrimSpace(must(t, "image", "inspect", "-f", "{{.Id}}", reg.host+"/test/app@"+digest)); !strings.HasPrefix(id, "sha256:") {
		t.Fatalf("by digest: %q", id)
	}
	labels := strings.TrimSpace(must(t, "image", "inspect", "-f", "{{.Config.Labels.team}} {{.Config.User}}", ref))
	if labels != "core nobody" {
		t.Fatalf("image inspect: %q", labels)
	}
	// A second pull finds everything there.
	if r := expect(t, 0, "pull", ref); !strings.Contains(r.stdout, "Image is up to date") || !strings.Contains(r.stdout, "Already exists") {
		t.Fatalf("second pull: %s", r.stdout)
	}
	// -P publishes what the image exposes.
	must(t, "run", "-d", "--name", "exposed", "-P", "--entrypoint", "sleep", ref, "100")
	rmAfter(t, "exposed")
	if p := must(t, "port", "exposed"); !strings.HasPrefix(p, "80/tcp -> ") {
		t.Fatalf("-P: %q", p)
	}
}

func TestPullWhiteoutsZstdIndexDigest(t *testing.T) {
	reg := startRegistry(t, "", "")
	base := appendLayers(t, baseImage(t), tarLayer(t, [][2]string{{"data/", ""}, {"data/a", "a"}, {"data/b", "b"}, {"opq/", ""}, {"opq/old", "old"}}, compression.GZip))
	top := appendLayers(t, base, tarLayer(t, [][2]string{{"data/", ""}, {"data/.wh.a", ""}, {"opq/", ""}, {"opq/.wh..wh..opq", ""}, {"opq/new", "new"}}, compression.ZStd))
	reg.push(t, "wh:1", top)
	out := must(t, "run", "--rm", "--net", "none", reg.host+"/wh:1", "sh", "-c", "ls /data /opq")
	t.Cleanup(func() { mydocker("rmi", reg.host+"/wh:1") })
	if out != "/data:\nb\n\n/opq:\nnew\n" {
		t.Fatalf("whiteouts not honoured: %q", out)
	}

	// A multi-arch index resolves to the host's platform; --platform picks another.
	arm := withConfig(t, base, v1.Config{Cmd: []string{"sh"}}, "arm64")
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}},
		mutate.IndexAddendum{Add: base, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}})
	idxDigest := reg.push(t, "multi:1", idx)
	if out := must(t, "run", "--rm", "--net", "none", reg.host+"/multi:1", "cat", "/data/a"); out != "a" {
		t.Fatalf("index: %q", out)
	}
	t.Cleanup(func() { mydocker("rmi", reg.host+"/multi:1") })
	if d := must(t, "images", "--digests"); !strings.Contains(d, idxDigest) {
		t.Fatalf("images --digests lacks the index digest %s:\n%s", idxDigest, d)
	}
	other := t.TempDir()
	if r := withRoot(other, "pull", "--platform", "linux/arm64", reg.host+"/multi:1"); r.code != 0 {
		t.Fatalf("pull --platform: %s", r)
	}
	if a := withRoot(other, "image", "inspect", "-f", "{{.Architecture}}", reg.host+"/multi:1"); strings.TrimSpace(a.stdout) != "arm64" {
		t.Fatalf("--platform linux/arm64 gave %s", a)
	}
	// An index with no manifest for this host, an unknown tag, a registry
	// that is not there: one line each, nothing stored.
	armOnly := mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}})
	reg.push(t, "armonly:1", armOnly)
	empty := t.TempDir()
	for _, tc := range []struct{ ref, want string }{
		{reg.host + "/armonly:1", "no matching manifest for linux/amd64"},
		{reg.host + "/wh:nope", "not found"},
		{"127.0.0.1:1/wh:1", "connection refused"},
	} {
		r := withRoot(empty, "pull", tc.ref)
		if r.code != 1 || !strings.Contains(r.stderr, tc.want) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("pull %s: want one line with %q, got %s", tc.ref, tc.want, r)
		}
	}
	if n, tmp := layerDirs(t, empty); n != 0 || tmp != 0 {
		t.Fatalf("failed pulls left %d layers, %d temporary dirs", n, tmp)
	}
}

func TestConcurrentPullsAndKilledPull(t *testing.T) {
	reg := startRegistry(t, "", "")
	big := make([]byte, 8<<20)
	rand.Read(big)
	img := appendLayers(t, baseImage(t), tarLayer(t, [][2]string{{"big", string(big)}}, compression.GZip),
		tarLayer(t, [][2]string{{"small", "s"}}, compression.GZip))
	reg.push(t, "big:1", img)

	// Two pulls at once end with one copy of each layer.
	r := t.TempDir()
	var wg sync.WaitGroup
	results := make([]result, 2)
	for i := range results {
		wg.Add(1)
		go func(i int) { defer wg.Done(); results[i] = withRoot(r, "pull", reg.host+"/big:1") }(i)
	}
	wg.Wait()
	for _, res := range results {
		if res.code != 0 {
			t.Fatalf("concurrent pull: %s", res)
		}
	}
	if n, tmp := layerDirs(t, r); n != 3 || tmp != 0 {
		t.Fatalf("after two concurrent pulls: %d layers (want 3), %d temporary dirs", n, tmp)
	}

	// A pull killed mid-layer leaves no image and nothing half-written that
	// the next pull would take for whole; the next pull resumes.
	proxy := newStallingProxy(t, reg.host)
	k := t.TempDir()
	cmd := exec.Command(bin, "--root", k, "pull", proxy.host+"/big:1")
	cmd.Env = mydockerEnv()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-proxy.stalled:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("the pull never reached the big layer")
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	if out := withRoot(k, "images", "-q"); out.stdout != "" {
		t.Fatalf("a killed pull stored an image: %s", out)
	}
	done, _ := layerDirs(t, k)
	if res := withRoot(k, "pull", reg.host+"/big:1"); res.code != 0 {
		t.Fatalf("pull after a killed one: %s", res)
	}
	if n, tmp := layerDirs(t, k); n != 3 || tmp != 0 || done > 2 {
		t.Fatalf("after the resumed pull: %d layers, %d temporary dirs (%d were complete before)", n, tmp, done)
	}
	if out := withRoot(k, "run", "--rm", "--net", "none", reg.host+"/big:1", "cat", "/small"); out.stdout != "s" {
		t.Fatalf("run after a resumed pull: %s", out)
	}
}

func TestLoginPullLogout(t *testing.T) {
	reg := startRegistry(t, "alice", "s3cret")
	reg.pushAuth(t, "private/app:1", baseImage(t), "alice", "s3cret")
	r := t.TempDir()
	ref := reg.host + "/private/app:1"
	if res := withRoot(r, "pull", ref); res.code != 1 || !strings.Contains(res.stderr, "login") {
		t.Fatalf("pull without credentials: %s", res)
	}
	if res := mydockerIn("wrong\n", "login", "-u", "alice", "--password-stdin", reg.host); res.code != 1 || !strings.Contains(res.stderr, "unauthorized") {
		t.Fatalf("login with a wrong password: %s", res)
	}
	if res := mydockerIn("s3cret\n", "login", "-u", "alice", "--password-stdin", reg.host); res.code != 0 || !strings.Contains(res.stdout, "Login Succeeded") {
		t.Fatalf("login: %s", res)
	}
	var cfg struct {
		Auths map[string]struct{ Auth string } `json:"auths"`
	}
	data, _ := os.ReadFile(filepath.Join(os.Getenv("DOCKER_CONFIG"), "config.json"))
	if err := json.Unmarshal(data, &cfg); err != nil || cfg.Auths[reg.host].Auth == "" {
		t.Fatalf("credentials not kept as Docker keeps them: %s", data)
	}
	if res := withRoot(r, "pull", ref); res.code != 0 {
		t.Fatalf("pull after login: %s", res)
	}
	if res := mydocker("logout", reg.host); res.code != 0 || !strings.Contains(res.stdout, "Removing login credentials") {
		t.Fatalf("logout: %s", res)
	}
	if res := withRoot(t.TempDir(), "pull", ref); res.code != 1 {
		t.Fatalf("pull after logout: %s", res)
	}
}

func TestPullBadInput(t *testing.T) {
	reg := startRegistry(t, "", "")
	big := make([]byte, 4<<20)
	rand.Read(big)
	reg.push(t, "big:1", appendLayers(t, baseImage(t), tarLayer(t, [][2]string{{"big", string(big)}}, compression.GZip)))
	// A registry that fails, one that corrupts blobs, a full disk: one line
	// each, and the store as it was.
	full := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=3m", "mdtest-full", full).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", full).Run() })
	for _, tc := range []struct{ root, ref, want string }{
		{t.TempDir(), failingRegistry(t, 500) + "/x:1", "500"},
		{t.TempDir(), failingRegistry(t, 401) + "/x:1", "pull access denied"},
		{t.TempDir(), corruptingProxy(t, reg.host) + "/big:1", "layer"},
		{full, reg.host + "/big:1", "no space left on device"},
	} {
		r := withRoot(tc.root, "pull", tc.ref)
		if r.code != 1 || !strings.Contains(r.stderr, tc.want) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("pull %s: want one line with %q, got %s", tc.ref, tc.want, r)
		}
		if n, tmp := layerDirs(t, tc.root); n != 0 || tmp != 0 {
			t.Errorf("pull %s left %d layers, %d temporary dirs", tc.ref, n, tmp)
		}
		if out := withRoot(tc.root, "images", "-q"); out.stdout != "" {
			t.Errorf("pull %s stored an image", tc.ref)
		}
	}
}

// An image deeper than overlay's page of options takes with full paths
// still runs (Docker's short layer links, and relative ones past that).
func TestDeepImage(t *testing.T) {
	reg := startRegistry(t, "", "")
	img := baseImage(t)
	var layers []v1.Layer
	for i := 0; i < 120; i++ {
		layers = append(layers, tarLayer(t, [][2]string{{"deep/", ""}, {"deep/" + strconv.Itoa(i), strconv.Itoa(i)}}, compression.GZip))
	}
	reg.push(t, "deep:1", appendLayers(t, img, layers...))
	ref := reg.host + "/deep:1"
	t.Cleanup(func() { mydocker("rmi", ref) })
	out := must(t, "run", "--rm", "--net", "none", ref, "sh", "-c", "ls /deep | wc -l; cat /deep/0 /deep/119")
	if out != "120\n0119" {
		t.Fatalf("deep image: %q", out)
	}
}
