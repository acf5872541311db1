// Package e2e runs the built mydocker binary as root against the real
// kernel: every test starts real containers and checks real effects.
//
// MYDOCKER_BIN and MYDOCKER_BUSYBOX_TAR name a prebuilt binary and busybox
// tarball (make test sets both); without them the binary is built and the
// tarball made from /bin/busybox. Each run keeps its state under a fresh
// --root and ends with a leak check: anything left on the host (mounts,
// cgroups, links, firewall rules, processes) fails the suite.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var (
	bin        string // the mydocker binary
	root       string // the --root every test uses
	busyboxTar string // the busybox image tarball
	toolsDir   string // static helper programs, bind-mounted into containers
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "e2e: these tests start real containers and must run as root (make test does)")
		return 1
	}
	tmp, err := os.MkdirTemp("", "mydocker-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	root = filepath.Join(tmp, "root")
	// A user-namespaced container's root, an unprivileged uid on the host,
	// walks through here to its layers.
	os.Chmod(tmp, 0o711)
	// Logins go to a Docker config of the suite's own.
	os.Setenv("DOCKER_CONFIG", filepath.Join(tmp, "docker-config"))
	if err := setup(tmp); err != nil {
		fmt.Fprintln(os.Stderr, "e2e setup:", err)
		return 1
	}
	before := snapshotHost()
	code := m.Run()
	cleanupAll()
	if leaks := leakCheck(before); len(leaks) > 0 {
		fmt.Fprintf(os.Stderr, "e2e: LEAK CHECK FAILED, left on the host:\n  %s\n", strings.Join(leaks, "\n  "))
		return 1
	}
	return code
}

func setup(tmp string) error {
	bin = os.Getenv("MYDOCKER_BIN")
	if bin == "" {
		bin = filepath.Join(tmp, "mydocker")
		out, err := exec.Command("go", "build", "-o", bin, "github.com/mydocker/mydocker").CombinedOutput()
		if err != nil {
			return fmt.Errorf("go build: %v\n%s", err, out)
		}
	}
	busyboxTar = os.Getenv("MYDOCKER_BUSYBOX_TAR")
	if busyboxTar == "" {
		busyboxTar = filepath.Join(tmp, "busybox.tar")
		out, err := exec.Command("../hack/mkbusybox.sh", busyboxTar).CombinedOutput()
		if err != nil {
			return fmt.Errorf("mkbusybox: %v\n%s", err, out)
		}
	}
	if r := mydocker("import", busyboxTar, "busybox"); r.code != 0 {
		return fmt.Errorf("import: %s", r.stderr)
	}
	if toolsDir = os.Getenv("MYDOCKER_TOOLS_DIR"); toolsDir != "" {
		return nil
	}
	toolsDir = filepath.Join(tmp, "tools")
	for _, tool := range []string{"udpecho", "sysprobe"} {
		build := exec.Command("go", "build", "-o", filepath.Join(toolsDir, tool), "./testdata/"+tool)
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			return fmt.Errorf("building %s: %v\n%s", tool, err, out)
		}
	}
	return nil
}

// mydockerEnv is the environment mydocker runs in under test. Registries
// are the test's own, on loopback: a pull that would leave the machine meets
// a proxy that is not there (Go never proxies loopback), so no test can
// reach an outside registry, even by mistake.
func mydockerEnv() []string {
	return append(os.Environ(), "HTTPS_PROXY=http://127.0.0.1:9", "HTTP_PROXY=http://127.0.0.1:9")
}

// result is what one mydocker command did.
type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
}

// mydocker runs the binary with the test root and waits for it (one minute
// at most).
func mydocker(args ...string) result {
	return mydockerIn("", args...)
}

// mydockerIn is mydocker with stdin.
func mydockerIn(stdin string, args ...string) result {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"--root", root}, args...)...)
	cmd.Env = mydockerEnv()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	err := cmd.Run()
	code := 0
	if err != nil {
		code = -1
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
	}
	return result{out.String(), errb.String(), code}
}

// must runs mydocker and fails the test unless it exits 0.
func must(t *testing.T, args ...string) string {
	t.Helper()
	r := mydocker(args...)
	if r.code != 0 {
		t.Fatalf("mydocker %s: %v", strings.Join(args, " "), r)
	}
	return r.stdout
}

// expect runs mydocker and checks its exit code.
func expect(t *testing.T, code int, args ...string) result {
	t.Helper()
	r := mydocker(args...)
	if r.code != code {
		t.Fatalf("mydocker %s: want exit %d, got %v", strings.Join(args, " "), code, r)
	}
	return r
}

// oneLineError checks a failure said what went wrong in one line, without
// a Go stack trace.
func oneLineError(t *testing.T, r result) {
	t.Helper()
	msg := strings.TrimRight(r.stderr, "\n")
	if msg == "" || strings.Contains(msg, "\n") || strings.Contains(msg, "goroutine") || strings.Contains(msg, "panic") {
		t.Fatalf("want a one-line error, got %q", r.stderr)
	}
}

// rmAfter removes the named containers when the test ends.
func rmAfter(t *testing.T, names ...string) {
	t.Cleanup(func() { mydocker(append([]string{"rm", "-f"}, names...)...) })
}

// waitFor polls cond for up to timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stateEntries lists the container records and workspaces on disk.
func stateEntries() []string {
	var out []string
	for _, d := range []string{"run/containers", "lib/containers"} {
		entries, _ := os.ReadDir(filepath.Join(root, d))
		for _, e := range entries {
			if e.IsDir() {
				out = append(out, d+"/"+e.Name())
			}
		}
	}
	return out
}

// cleanupAll removes every container and network the suite made.
func cleanupAll() {
	ids := strings.Fields(mydocker("ps", "-a", "-q", "--no-trunc").stdout)
	if len(ids) > 0 {
		mydocker(append([]string{"rm", "-f"}, ids...)...)
	}
	nets := strings.Fields(mydocker("network", "ls", "-q").stdout)
	if len(nets) > 0 {
		mydocker(append([]string{"network", "rm"}, nets...)...)
	}
}
