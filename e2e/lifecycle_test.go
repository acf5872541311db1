package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var fullID = regexp.MustCompile(`^[0-9a-f]{64}$`)

// status is the STATUS column of `ps -a` for one container.
func status(t *testing.T, name string) string {
	t.Helper()
	for _, line := range strings.Split(must(t, "ps", "-a"), "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[len(f)-1] == name {
			m := regexp.MustCompile(`(Up [^"]*?|Exited \(\d+\)[^"]*?|Created)\s{2,}`).FindStringSubmatch(line)
			if m != nil {
				return strings.TrimSpace(m[1])
			}
			return line
		}
	}
	return ""
}

func inspect(t *testing.T, name, format string) string {
	t.Helper()
	return strings.TrimSpace(must(t, "inspect", "-f", format, name))
}

// monitorPid finds the monitor supervising a container.
func monitorPid(t *testing.T, id string) int {
	t.Helper()
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		data, _ := os.ReadFile(p)
		if strings.Contains(string(data), "monitor\x00"+id) {
			pid, _ := strconv.Atoi(strings.Split(p, "/")[2])
			return pid
		}
	}
	t.Fatalf("no monitor for %s", id)
	return 0
}

func TestDetachedLifecycle(t *testing.T) {
	id := strings.TrimSpace(must(t, "run", "-d", "--name", "web", "busybox", "top", "-b"))
	rmAfter(t, "web")
	if !fullID.MatchString(id) {
		t.Fatalf("-d printed %q, want a full ID", id)
	}
	if s := status(t, "web"); !strings.HasPrefix(s, "Up ") {
		t.Fatalf("status %q", s)
	}
	if q := strings.Fields(must(t, "ps", "-q")); len(q) != 1 || q[0] != id[:12] {
		t.Fatalf("ps -q: %q", q)
	}
	if q := strings.TrimSpace(must(t, "ps", "-a", "-q", "--no-trunc")); q != id {
		t.Fatalf("ps -a -q --no-trunc: %q", q)
	}
	for _, ref := range []string{"web", id, id[:12], id[:5]} {
		if got := inspect(t, ref, "{{.ID}}"); got != id {
			t.Fatalf("lookup by %q gave %q", ref, got)
		}
	}
	waitFor(t, 5*time.Second, "top output in the log", func() bool {
		return strings.Contains(mydocker("logs", "web").stdout, "Mem:")
	})
	r := expect(t, 0, "exec", "web", "ps", "-o", "pid,comm")
	if !regexp.MustCompile(`(?m)^\s*1 top$`).MatchString(r.stdout) {
		t.Fatalf("exec does not see the container's PID 1: %q", r.stdout)
	}
	must(t, "stop", "-t", "2", "web")
	if s := status(t, "web"); !strings.HasPrefix(s, "Exited (") {
		t.Fatalf("after stop: %q", s)
	}
	if q := strings.TrimSpace(must(t, "ps", "-q")); q != "" {
		t.Fatalf("ps without -a lists a stopped container: %q", q)
	}
	var rec struct {
		State struct {
			Status   string
			Pid      int
			ExitCode int
		}
		Name string
	}
	if err := json.Unmarshal([]byte(strings.TrimSpace(must(t, "inspect", "web"))[1:len(strings.TrimSpace(must(t, "inspect", "web")))-1]), &rec); err != nil {
		t.Fatalf("inspect is not JSON: %v", err)
	}
	if rec.State.Status != "exited" || rec.State.Pid != 0 || rec.Name != "web" {
		t.Fatalf("inspect: %+v", rec)
	}
	must(t, "rm", "web")
	expect(t, 1, "inspect", "web")
}

// PID 1 ignores SIGTERM without a handler: stop waits out its timeout, then
// SIGKILL, 137. With a handler, stop is quick and the exit code is its own.
func TestStop(t *testing.T) {
	must(t, "run", "-d", "--name", "stubborn", "busybox", "sleep", "1000")
	must(t, "run", "-d", "--name", "polite", "busybox", "sh", "-c", "trap 'exit 7' TERM; while :; do sleep 0.05; done")
	rmAfter(t, "stubborn", "polite")
	start := time.Now()
	must(t, "stop", "-t", "2", "stubborn")
	if d := time.Since(start); d < 2*time.Second || d > 8*time.Second {
		t.Fatalf("stop -t 2 took %v", d)
	}
	if code := inspect(t, "stubborn", "{{.State.ExitCode}}"); code != "137" {
		t.Fatalf("exit code %s, want 137", code)
	}
	start = time.Now()
	must(t, "stop", "polite")
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("stop of a container that handles SIGTERM took %v", d)
	}
	if s := status(t, "polite"); !strings.HasPrefix(s, "Exited (7)") {
		t.Fatalf("status %q", s)
	}
	must(t, "stop", "polite") // stopping a stopped container is fine
}

func TestKill(t *testing.T) {
	must(t, "run", "-d", "--name", "victim", "busybox", "sh", "-c", "trap 'exit 9' USR1; while :; do sleep 0.05; done")
	rmAfter(t, "victim")
	must(t, "kill", "-s", "USR1", "victim")
	waitFor(t, 5*time.Second, "the container to exit", func() bool { return strings.HasPrefix(status(t, "victim"), "Exited (9)") })
	r := expect(t, 1, "kill", "victim")
	oneLineError(t, r)
}

func TestLogs(t *testing.T) {
	must(t, "run", "-d", "--name", "talker", "busybox", "sh", "-c", "for i in 1 2 3 4 5; do echo out$i; echo err$i >&2; sleep 0.1; done")
	rmAfter(t, "talker")
	// -f follows until the container exits, then ends by itself.
	r := expect(t, 0, "logs", "-f", "talker")
	if r.stdout != "out1\nout2\nout3\nout4\nout5\n" || r.stderr != "err1\nerr2\nerr3\nerr4\nerr5\n" {
		t.Fatalf("logs -f: %v", r)
	}
	// --tail counts lines of both streams, as they were written.
	r = expect(t, 0, "logs", "--tail", "2", "talker")
	if r.stdout != "out5\n" || r.stderr != "err5\n" {
		t.Fatalf("--tail 2: %v", r)
	}
	r = expect(t, 0, "logs", "-t", "--tail", "1", "talker")
	if f := strings.Fields(r.stdout + r.stderr); len(f) != 2 {
		t.Fatalf("-t: %q", r.stdout+r.stderr)
	} else if _, err := time.Parse(time.RFC3339Nano, f[0]); err != nil {
		t.Fatalf("-t: no timestamp in %q", r.stdout+r.stderr)
	}
	// A foreground container keeps its output in the log too.
	must(t, "run", "--name", "fg-log", "busybox", "echo", "from the foreground")
	rmAfter(t, "fg-log")
	if r := expect(t, 0, "logs", "fg-log"); r.stdout != "from the foreground\n" {
		t.Fatalf("logs of a foreground container: %v", r)
	}
}

func TestExec(t *testing.T) {
	must(t, "run", "-d", "--name", "target", "--hostname", "target-host", "busybox", "sh", "-c", "echo inside > /marker; exec sleep 1000")
	rmAfter(t, "target")
	waitFor(t, 5*time.Second, "the marker", func() bool { return mydocker("exec", "target", "cat", "/marker").code == 0 })
	r := expect(t, 0, "exec", "target", "sh", "-c", "cat /marker; hostname; cat /proc/1/cmdline | tr '\\0' ' '; ls /work 2>&1; true")
	want := "inside\ntarget-host\nsleep 1000 ls: /work: No such file or directory\n"
	if r.stdout != want {
		t.Fatalf("exec sees the host, not the container:\n got %q\nwant %q", r.stdout, want)
	}
	expect(t, 5, "exec", "target", "sh", "-c", "exit 5")
	r = expect(t, 0, "exec", "-e", "X=1", "-w", "/tmp", "target", "sh", "-c", "echo $X $HOSTNAME; pwd")
	if r.stdout != "1 target-host\n/tmp\n" {
		t.Fatalf("exec -e -w: %q", r.stdout)
	}
	r = mydockerIn("piped\n", "exec", "-i", "target", "cat")
	if r.code != 0 || r.stdout != "piped\n" {
		t.Fatalf("exec -i: %v", r)
	}
	oneLineError(t, expect(t, 127, "exec", "target", "no-such-cmd"))
	oneLineError(t, expect(t, 1, "exec", "no-such-container", "ls"))
	must(t, "stop", "-t", "0", "target")
	r = expect(t, 1, "exec", "target", "ls")
	oneLineError(t, r)
	if !strings.Contains(r.stderr, "not running") {
		t.Fatalf("exec into a stopped container: %q", r.stderr)
	}
}

// gone reports whether a process has exited: a zombie nobody has reaped yet
// (its parent was killed) counts as gone.
func gone(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	i := strings.LastIndexByte(string(data), ')')
	return i < 0 || i+2 >= len(data) || data[i+2] == 'Z' || data[i+2] == 'X'
}

// The monitor is killed: the container dies with it (PDEATHSIG; where the
// kernel does not deliver that, the next command kills it), ps shows the
// truth, and rm reclaims everything.
func TestMonitorKilled(t *testing.T) {
	id := strings.TrimSpace(must(t, "run", "-d", "--name", "orphan", "busybox", "sleep", "1000"))
	rmAfter(t, "orphan")
	pid, _ := strconv.Atoi(inspect(t, "orphan", "{{.State.Pid}}"))
	mon := monitorPid(t, id)
	syscall.Kill(mon, syscall.SIGKILL)
	waitFor(t, 10*time.Second, "the monitor to die", func() bool { return gone(mon) })
	if s := status(t, "orphan"); !strings.HasPrefix(s, "Exited (137)") {
		t.Fatalf("after the monitor died: %q", s)
	}
	if !gone(pid) {
		t.Fatal("the container outlived its monitor and the next command")
	}
	must(t, "rm", "orphan")
	for _, e := range stateEntries() {
		if strings.Contains(e, id) {
			t.Fatalf("rm left %s", e)
		}
	}
}

// The foreground `mydocker run` is killed: likewise.
func TestForegroundRunKilled(t *testing.T) {
	cmd := exec.Command(bin, "--root", root, "run", "--name", "fg", "busybox", "sleep", "1000")
	cmd.Env = mydockerEnv()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	rmAfter(t, "fg")
	var pid int
	waitFor(t, 10*time.Second, "the container to run", func() bool {
		pid, _ = strconv.Atoi(strings.TrimSpace(mydocker("inspect", "-f", "{{.State.Pid}}", "fg").stdout))
		return pid > 0
	})
	cmd.Process.Kill()
	cmd.Wait()
	if s := status(t, "fg"); !strings.HasPrefix(s, "Exited (137)") {
		t.Fatalf("after run was killed: %q", s)
	}
	if !gone(pid) {
		t.Fatal("the container outlived its supervisor and the next command")
	}
	must(t, "rm", "fg")
}

func TestConcurrentRuns(t *testing.T) {
	const n = 20
	ids := make([]string, n)
	var wg sync.WaitGroup
	errs := make(chan string, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r := mydocker("run", "-d", "busybox", "sleep", "1000")
			if r.code != 0 {
				errs <- r.String()
			}
			ids[i] = strings.TrimSpace(r.stdout)
		}(i)
	}
	wg.Wait()
	close(errs)
	t.Cleanup(func() { mydocker(append([]string{"rm", "-f"}, ids...)...) })
	for e := range errs {
		t.Errorf("a concurrent run failed: %s", e)
	}
	names := map[string]bool{}
	for _, id := range ids {
		names[inspect(t, id, "{{.Name}}")] = true
	}
	if len(names) != n {
		t.Fatalf("%d distinct names for %d containers", len(names), n)
	}
	// ps lists every one of them (whatever else another test left running).
	listed := map[string]bool{}
	for _, id := range strings.Fields(must(t, "ps", "-q", "--no-trunc")) {
		listed[id] = true
	}
	for _, id := range ids {
		if !listed[id] {
			t.Fatalf("ps does not list %s", id)
		}
	}
	out := must(t, append([]string{"rm", "-f"}, ids...)...)
	if len(strings.Fields(out)) != n {
		t.Fatalf("rm -f: %q", out)
	}
}

func TestRemove(t *testing.T) {
	must(t, "run", "-d", "--name", "busy", "busybox", "sleep", "1000")
	rmAfter(t, "busy")
	// Everything a refused rm could change, but not the live cgroup usage
	// that inspect also reports (it moves between two reads).
	const stored = "{{.Name}} {{json .State}} {{json .Config}} {{json .Rootfs}} {{.CgroupPath}} {{json .NetworkSettings}}"
	before := inspect(t, "busy", stored)
	r := expect(t, 1, "rm", "busy")
	oneLineError(t, r)
	if after := inspect(t, "busy", stored); after != before {
		t.Fatalf("a refused rm changed the record:\n%s\n%s", before, after)
	}
	if !strings.HasPrefix(status(t, "busy"), "Up") {
		t.Fatal("a refused rm stopped the container")
	}
	// Names are unique: a second container cannot take it.
	r = expect(t, 125, "run", "-d", "--name", "busy", "busybox", "true")
	oneLineError(t, r)
	must(t, "rm", "-f", "busy")
	expect(t, 1, "rm", "busy")
	// --rm with -d: gone once it exits.
	id := strings.TrimSpace(must(t, "run", "-d", "--rm", "busybox", "sleep", "0.2"))
	waitFor(t, 5*time.Second, "the --rm container to go", func() bool { return mydocker("inspect", id).code == 1 })
}

func TestLookupErrors(t *testing.T) {
	must(t, "run", "-d", "--name", "pfx-a", "busybox", "sleep", "1000")
	must(t, "run", "-d", "--name", "pfx-b", "busybox", "sleep", "1000")
	rmAfter(t, "pfx-a", "pfx-b")
	for _, args := range [][]string{{"logs", "nope"}, {"stop", "nope"}, {"rm", "nope"}, {"inspect", "nope"}, {"kill", "nope"}, {"start", "nope"}} {
		oneLineError(t, expect(t, 1, args...))
	}
	// Two IDs sharing a one-hex-digit prefix are certain among 16+ tries;
	// find one that is ambiguous.
	a, b := inspect(t, "pfx-a", "{{.ID}}"), inspect(t, "pfx-b", "{{.ID}}")
	common := 0
	for common < 64 && a[common] == b[common] {
		common++
	}
	if common > 0 {
		r := expect(t, 1, "inspect", a[:common])
		oneLineError(t, r)
		if !strings.Contains(r.stderr, "multiple") {
			t.Fatalf("ambiguous prefix: %q", r.stderr)
		}
	}
}

func TestDetachedTerminal(t *testing.T) {
	must(t, "run", "-dit", "--name", "dit", "busybox", "sh")
	rmAfter(t, "dit")
	waitFor(t, 5*time.Second, "the prompt in the log", func() bool { return strings.Contains(mydocker("logs", "dit").stdout, "/ # ") })
	if !strings.HasPrefix(status(t, "dit"), "Up") {
		t.Fatal("a -dit shell exited")
	}
	r := expect(t, 0, "exec", "dit", "sh", "-c", "[ -t 0 ] && echo tty || echo no-tty")
	if r.stdout != "no-tty\n" {
		t.Fatalf("exec without -t got a terminal: %q", r.stdout)
	}
	must(t, "run", "-dt", "--name", "dt", "busybox", "sh", "-c", "[ -t 1 ] && echo is-a-tty")
	rmAfter(t, "dt")
	waitFor(t, 5*time.Second, "output", func() bool { return strings.Contains(mydocker("logs", "dt").stdout, "is-a-tty") })
}

func TestStartAgain(t *testing.T) {
	must(t, "run", "--name", "again", "busybox", "sh", "-c", "echo run >> /count; wc -l < /count")
	rmAfter(t, "again")
	must(t, "start", "again")
	waitFor(t, 5*time.Second, "the second run", func() bool { return strings.HasPrefix(status(t, "again"), "Exited (0)") })
	if r := expect(t, 0, "logs", "again"); r.stdout != "1\n2\n" {
		t.Fatalf("start did not keep the writable layer: %q", r.stdout)
	}
}

func TestVolumes(t *testing.T) {
	host := filepath.Join(t.TempDir(), "created", "by", "run")
	r := expect(t, 0, "run", "--rm", "-v", host+":/data", "busybox", "sh", "-c", "echo written > /data/f; cat /data/f")
	if r.stdout != "written\n" {
		t.Fatalf("got %v", r)
	}
	if data, err := os.ReadFile(filepath.Join(host, "f")); err != nil || string(data) != "written\n" {
		t.Fatalf("the host does not see the write: %q %v", data, err)
	}
	cfg := t.TempDir()
	os.WriteFile(filepath.Join(cfg, "app.conf"), []byte("key=value\n"), 0o644)
	r = expect(t, 0, "run", "--rm", "-v", cfg+":/cfg:ro", "-v", host+":/rw", "busybox", "sh", "-c",
		"cat /cfg/app.conf; if touch /cfg/x 2>/dev/null; then echo WROTE; fi; touch /rw/ok && echo rw-ok")
	if r.stdout != "key=value\nrw-ok\n" {
		t.Fatalf(":ro is not read-only inside, or rw is not writable: %q", r.stdout)
	}
	if _, err := os.Stat(filepath.Join(cfg, "x")); err == nil {
		t.Fatal("wrote through a :ro volume")
	}
	for _, bad := range []string{"rel:/x", "/x:rel", "/x", "/x:/y:zz", fmt.Sprintf("%s:/", cfg)} {
		oneLineError(t, expect(t, 125, "run", "--rm", "-v", bad, "busybox", "true"))
	}
}

// The name index survives a crash: an entry whose container is gone (a
// killed run or rm) does not hold the name, and a record whose entry is
// lost is found again.
func TestNameIndexRecovers(t *testing.T) {
	names := filepath.Join(root, "run", "names")
	os.MkdirAll(names, 0o700)
	os.WriteFile(filepath.Join(names, "ghost"), []byte(strings.Repeat("a", 64)), 0o600)
	must(t, "run", "-d", "--name", "ghost", "--net", "none", "busybox", "sleep", "1000")
	rmAfter(t, "ghost")
	if id := inspect(t, "ghost", "{{.ID}}"); strings.HasPrefix(id, "aaaa") {
		t.Fatal("the stale entry's ID answered")
	}
	os.Remove(filepath.Join(names, "ghost"))
	must(t, "ps", "-a") // reindexes what it lists
	if _, err := os.Stat(filepath.Join(names, "ghost")); err != nil {
		t.Fatalf("the lost entry was not made again: %v", err)
	}
	r := expect(t, 125, "run", "--name", "ghost", "busybox", "true")
	oneLineError(t, r)
	must(t, "rm", "-f", "ghost")
	if _, err := os.Stat(filepath.Join(names, "ghost")); err == nil {
		t.Fatal("rm left the name's entry")
	}
}
