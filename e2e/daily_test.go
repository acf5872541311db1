package e2e

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// cpuTicks is a process's user+system time in clock ticks, from the host.
func cpuTicks(t *testing.T, pid string) int {
	t.Helper()
	data, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	u, _ := strconv.Atoi(f[11])
	s, _ := strconv.Atoi(f[12])
	return u + s
}

func TestPauseUnpause(t *testing.T) {
	must(t, "run", "-d", "--name", "busy", "--net", "none", "busybox", "sh", "-c", "while :; do :; done")
	rmAfter(t, "busy")
	pid := inspect(t, "busy", "{{.State.Pid}}")
	must(t, "pause", "busy")
	if s := status(t, "busy"); !strings.HasSuffix(s, "(Paused)") {
		t.Fatalf("ps after pause: %q", s)
	}
	before := cpuTicks(t, pid)
	time.Sleep(500 * time.Millisecond)
	if after := cpuTicks(t, pid); after != before {
		t.Fatalf("a paused process ran: %d -> %d ticks", before, after)
	}
	oneLineError(t, expect(t, 1, "pause", "busy"))
	must(t, "unpause", "busy")
	waitFor(t, 5*time.Second, "the process to run again", func() bool { return cpuTicks(t, pid) > before })
	if s := status(t, "busy"); strings.Contains(s, "Paused") {
		t.Fatalf("ps after unpause: %q", s)
	}
	// A paused container still stops.
	must(t, "pause", "busy")
	must(t, "stop", "-t", "1", "busy")
	if s := status(t, "busy"); !strings.HasPrefix(s, "Exited") {
		t.Fatalf("stop of a paused container: %q", s)
	}
	oneLineError(t, expect(t, 1, "unpause", "busy"))
}

func TestWaitRenameDiffTopPrune(t *testing.T) {
	must(t, "run", "-d", "--name", "daily", "--net", "none", "busybox", "sh", "-c", "touch /new; rm /etc/group; sleep 1; exit 7")
	rmAfter(t, "daily", "daily2")
	if out := must(t, "top", "daily"); !strings.Contains(out, "PID") || !strings.Contains(out, "sleep 1") {
		t.Fatalf("top: %q", out)
	}
	must(t, "rename", "daily", "daily2")
	oneLineError(t, expect(t, 1, "inspect", "daily"))
	if out := must(t, "wait", "daily2"); out != "7\n" {
		t.Fatalf("wait: %q", out)
	}
	if out := must(t, "diff", "daily2"); out != "C /etc\nD /etc/group\nA /new\n" {
		t.Fatalf("diff: %q", out)
	}
	must(t, "run", "-d", "--name", "taken", "--net", "none", "busybox", "sleep", "100")
	rmAfter(t, "taken")
	oneLineError(t, expect(t, 1, "rename", "daily2", "taken"))
	oneLineError(t, expect(t, 1, "rename", "daily2", "bad name"))
	id := inspect(t, "daily2", "{{.ID}}")
	if out := must(t, "container", "prune"); !strings.Contains(out, "Deleted Containers:\n") || !strings.Contains(out, id) {
		t.Fatalf("prune: %q", out)
	}
	oneLineError(t, expect(t, 1, "inspect", "daily2"))
	if !strings.HasPrefix(status(t, "taken"), "Up") {
		t.Fatal("prune removed a running container")
	}
}

func TestPsFilterFormatLabels(t *testing.T) {
	must(t, "run", "-d", "--name", "lab-a", "--label", "tier=web", "--label", "solo", "--net", "none", "busybox", "sleep", "100")
	must(t, "run", "--name", "lab-b", "--label", "tier=db", "--net", "none", "busybox", "true")
	rmAfter(t, "lab-a", "lab-b")
	names := func(args ...string) string {
		return strings.TrimSpace(must(t, append([]string{"ps", "-a", "--format", "{{.Names}}"}, args...)...))
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--filter", "label=tier=web"}, "lab-a"},
		{[]string{"--filter", "label=tier"}, "lab-b\nlab-a"},
		{[]string{"--filter", "label=solo", "--filter", "name=lab"}, "lab-a"},
		{[]string{"--filter", "status=exited", "--filter", "name=lab-"}, "lab-b"},
		{[]string{"--filter", "name=lab-a", "--filter", "name=lab-b"}, "lab-b\nlab-a"},
		{[]string{"--filter", "ancestor=busybox", "--filter", "label=tier=db"}, "lab-b"},
		{[]string{"--filter", "network=none", "--filter", "name=lab-a"}, "lab-a"},
	} {
		if got := names(tc.args...); got != tc.want {
			t.Errorf("ps %v: %q, want %q", tc.args, got, tc.want)
		}
	}
	if got := strings.TrimSpace(must(t, "ps", "-n", "1", "--format", "{{.Names}} {{.State}} {{.Labels}}")); got != "lab-b exited tier=db" {
		t.Errorf("ps -n 1: %q", got)
	}
	if got := must(t, "ps", "--filter", "name=lab-a", "--format", "table {{.Names}}\t{{.Status}}"); !strings.HasPrefix(got, "NAMES") || !strings.Contains(got, "lab-a") {
		t.Errorf("table format: %q", got)
	}
	if got := inspect(t, "lab-a", "{{.Config.Labels.tier}}"); got != "web" {
		t.Errorf("inspect labels: %q", got)
	}
	for _, bad := range [][]string{{"ps", "--filter", "colour=red"}, {"ps", "--filter", "status=sleepy"}} {
		oneLineError(t, expect(t, 1, bad...))
	}
	oneLineError(t, expect(t, 125, "ps", "--format", "{{.Nope"))
	oneLineError(t, expect(t, 125, "run", "--rm", "--label", "=x", "busybox", "true"))
}

func TestLogsSinceUntil(t *testing.T) {
	must(t, "run", "-d", "--name", "chatty", "--net", "none", "busybox", "sh", "-c", "echo first; sleep 0.3; echo second")
	rmAfter(t, "chatty")
	must(t, "wait", "chatty")
	lines := strings.Split(strings.TrimSpace(must(t, "logs", "-t", "chatty")), "\n")
	if len(lines) != 2 {
		t.Fatalf("logs -t: %q", lines)
	}
	first, second := strings.Fields(lines[0])[0], strings.Fields(lines[1])[0]
	if out := must(t, "logs", "--since", second, "chatty"); out != "second\n" {
		t.Errorf("--since %s: %q", second, out)
	}
	if out := must(t, "logs", "--until", first, "chatty"); out != "first\n" {
		t.Errorf("--until %s: %q", first, out)
	}
	if out := must(t, "logs", "--since", "1h", "chatty"); out != "first\nsecond\n" {
		t.Errorf("--since 1h: %q", out)
	}
	oneLineError(t, expect(t, 125, "logs", "--since", "yesterday", "chatty"))
}

// cp both ways; a symlink in the container pointing at / or out of it
// resolves inside the container, never to the host's files.
func TestCp(t *testing.T) {
	must(t, "run", "-d", "--name", "cpbox", "--net", "none", "busybox", "sh", "-c",
		"mkdir -p /data/sub && echo inside > /data/sub/f && ln -s /etc /data/etclink && ln -s ../../../../../etc/passwd /escape && ln -s / /data/root && sleep 1000")
	rmAfter(t, "cpbox")
	waitFor(t, 5*time.Second, "the files", func() bool { return mydocker("exec", "cpbox", "test", "-e", "/data/root").code == 0 })
	dir := t.TempDir()
	must(t, "cp", "cpbox:/data", dir)
	if data, err := os.ReadFile(dir + "/data/sub/f"); err != nil || string(data) != "inside\n" {
		t.Fatalf("cp out: %q %v", data, err)
	}
	if l, _ := os.Readlink(dir + "/data/etclink"); l != "/etc" {
		t.Fatalf("a symlink was not copied as one: %q", l)
	}
	// Through a symlink: the container's passwd, not the host's.
	must(t, "cp", "cpbox:/escape", dir+"/passwd")
	host, _ := os.ReadFile("/etc/passwd")
	if data, _ := os.ReadFile(dir + "/passwd"); string(data) == string(host) || !strings.HasPrefix(string(data), "root:x:0:0") {
		t.Fatalf("cp followed a symlink out of the container: %q", data)
	}
	must(t, "cp", "cpbox:/data/root/etc/hostname", dir+"/hostname")
	if data, _ := os.ReadFile(dir + "/hostname"); strings.TrimSpace(string(data)) != inspect(t, "cpbox", "{{.ID}}")[:12] {
		t.Fatalf("through a link to /: %q", data)
	}
	// Into the container, also through a symlink that points at /.
	os.WriteFile(dir+"/in", []byte("from host\n"), 0o644)
	must(t, "cp", dir+"/in", "cpbox:/data/root/tmp/")
	if out := must(t, "exec", "cpbox", "cat", "/tmp/in"); out != "from host\n" {
		t.Fatalf("cp in: %q", out)
	}
	if _, err := os.Stat("/tmp/in"); err == nil {
		t.Fatal("cp in wrote on the host")
	}
	oneLineError(t, expect(t, 1, "cp", "cpbox:/nope", dir))
	oneLineError(t, expect(t, 125, "cp", dir, dir))
}

// --init reaps an orphan that the command, as PID 1, never would, and
// passes the command's exit status and a stop's signal through.
func TestInitReaps(t *testing.T) {
	zombies := func(name string) int {
		out := must(t, "exec", name, "ps", "-o", "stat")
		return strings.Count(out, "Z")
	}
	// (sleep &) leaves an orphan to PID 1; exec sleep makes PID 1 one that
	// never waits.
	script := "(sleep 0.1 &); exec sleep 1000"
	must(t, "run", "-d", "--name", "noinit", "--net", "none", "busybox", "sh", "-c", script)
	must(t, "run", "-d", "--name", "withinit", "--init", "--net", "none", "busybox", "sh", "-c", script)
	rmAfter(t, "noinit", "withinit")
	time.Sleep(500 * time.Millisecond)
	if zombies("noinit") != 1 {
		t.Fatalf("without --init the orphan should be a zombie: %q", must(t, "exec", "noinit", "ps", "-o", "pid,stat,comm"))
	}
	if n := zombies("withinit"); n != 0 {
		t.Fatalf("--init left %d zombies", n)
	}
	if out := must(t, "exec", "withinit", "cat", "/proc/1/cmdline"); !strings.HasPrefix(out, "/sbin/mydocker-init\x00reap") {
		t.Fatalf("PID 1 under --init: %q", out)
	}
	expect(t, 3, "run", "--rm", "--init", "--net", "none", "busybox", "sh", "-c", "exit 3")
	must(t, "stop", "-t", "5", "withinit")
	if code := inspect(t, "withinit", "{{.State.ExitCode}}"); code != "143" {
		t.Fatalf("SIGTERM through the reaper: exit %s, want 143", code)
	}
}

func TestRestartPolicies(t *testing.T) {
	// on-failure:3 restarts exactly three times (Docker's back-off: 0.1,
	// 0.2, 0.4 s), then stays exited.
	must(t, "run", "-d", "--name", "flaky", "--restart", "on-failure:3", "--net", "none", "busybox", "sh", "-c", "echo run; exit 1")
	rmAfter(t, "flaky")
	must(t, "wait", "flaky") // returns when the monitor is done, restarts included
	if got := inspect(t, "flaky", "{{.State.RestartCount}} {{.State.ExitCode}} {{.State.Restarting}}"); got != "3 1 false" {
		t.Fatalf("on-failure:3: %q", got)
	}
	if out := must(t, "logs", "flaky"); strings.Count(out, "run") != 4 {
		t.Fatalf("on-failure:3 ran %d times: %q", strings.Count(out, "run"), out)
	}
	// always survives the command's exit, even a clean one; stop is final.
	must(t, "run", "-d", "--name", "again", "--restart", "always", "--net", "none", "busybox", "sh", "-c", "sleep 0.2")
	rmAfter(t, "again")
	waitFor(t, 10*time.Second, "a restart", func() bool { return inspect(t, "again", "{{.State.RestartCount}}") != "0" })
	must(t, "stop", "-t", "1", "again")
	n := inspect(t, "again", "{{.State.RestartCount}}")
	time.Sleep(700 * time.Millisecond)
	if s := status(t, "again"); !strings.HasPrefix(s, "Exited") || inspect(t, "again", "{{.State.RestartCount}}") != n {
		t.Fatalf("stop did not end an always container: %q", s)
	}
	// rm -f ends one between two runs, too.
	must(t, "run", "-d", "--name", "loop", "--restart", "always", "--net", "none", "busybox", "true")
	waitFor(t, 10*time.Second, "a restart", func() bool { return inspect(t, "loop", "{{.State.RestartCount}}") != "0" })
	must(t, "rm", "-f", "loop")
	for _, bad := range [][]string{{"--restart", "sometimes"}, {"--restart", "on-failure:x"}, {"--restart", "always:3"}, {"--restart", "always", "--rm"}} {
		oneLineError(t, expect(t, 125, append(append([]string{"run", "-d"}, bad...), "busybox", "true")...))
	}
}

func TestStats(t *testing.T) {
	must(t, "run", "-d", "--name", "burn", "--cpus", "0.5", "--net", "none", "busybox", "sh", "-c", "while :; do :; done")
	must(t, "run", "-d", "--name", "hold", "-m", "256m", "--shm-size", "128m", "--net", "none", "busybox", "sh", "-c", "head -c 32m /dev/zero > /dev/shm/x; sleep 1000")
	rmAfter(t, "burn", "hold")
	// A minute: under the cgroup v2 VM's emulated CPUs, beside the busy
	// loop, writing the file takes seconds.
	waitFor(t, time.Minute, "the 32 MB file", func() bool {
		return mydocker("exec", "hold", "sh", "-c", "[ $(stat -c %s /dev/shm/x) = 33554432 ]").code == 0
	})
	out := must(t, "stats", "--no-stream", "--format", "{{.Name}} {{.CPUPerc}} {{.MemUsage}} {{.PIDs}}", "burn", "hold")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("stats: %q", out)
	}
	burn, hold := strings.Fields(lines[0]), strings.Fields(lines[1])
	cpu, _ := strconv.ParseFloat(strings.TrimSuffix(burn[1], "%"), 64)
	if cpu < 30 || cpu > 60 {
		t.Errorf("--cpus 0.5 busy loop at %.1f%% CPU, want about 50%%", cpu)
	}
	mem, _ := strconv.ParseFloat(strings.TrimSuffix(hold[2], "MiB"), 64)
	if !strings.HasSuffix(hold[2], "MiB") || mem < 31 || mem > 48 || hold[4] != "256MiB" {
		t.Errorf("32 MB held under -m 256m: %q", lines[1])
	}
	if out := must(t, "stats", "--no-stream"); !strings.HasPrefix(out, "CONTAINER ID   NAME   CPU %") || !strings.Contains(out, "burn") {
		t.Errorf("stats table: %q", out)
	}
	must(t, "stop", "-t", "0", "burn")
	oneLineError(t, expect(t, 1, "stats", "--no-stream", "burn"))
}

// --log-opt max-size/max-file rotate the log as Docker's json-file driver:
// a chatty container cannot fill the disk.
func TestLogRotation(t *testing.T) {
	must(t, "run", "-d", "--name", "chatter", "--log-opt", "max-size=10k", "--log-opt", "max-file=3", "--net", "none", "busybox", "sh", "-c",
		"i=0; while [ $i -lt 2000 ]; do echo line $i; i=$((i+1)); done")
	rmAfter(t, "chatter")
	must(t, "wait", "chatter")
	logPath := inspect(t, "chatter", "{{.LogPath}}")
	for _, suffix := range []string{"", ".1", ".2"} {
		fi, err := os.Stat(logPath + suffix)
		if err != nil || fi.Size() > 10*1024 {
			t.Fatalf("%s%s: %v (size %d, max 10k)", logPath, suffix, err, fi.Size())
		}
	}
	if _, err := os.Stat(logPath + ".3"); err == nil {
		t.Fatal("a fourth log file with max-file=3")
	}
	out := must(t, "logs", "chatter")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if lines[len(lines)-1] != "line 1999" || len(lines) >= 2000 || len(lines) < 200 {
		t.Fatalf("logs after rotation: %d lines, last %q", len(lines), lines[len(lines)-1])
	}
	for i := 1; i < len(lines); i++ { // oldest first, in order
		a, _ := strconv.Atoi(strings.TrimPrefix(lines[i-1], "line "))
		b, _ := strconv.Atoi(strings.TrimPrefix(lines[i], "line "))
		if b != a+1 {
			t.Fatalf("logs out of order at %d: %q then %q", i, lines[i-1], lines[i])
		}
	}
	for _, bad := range []string{"max-size=lots", "max-file=0", "colour=red"} {
		oneLineError(t, expect(t, 125, "run", "--rm", "--log-opt", bad, "busybox", "true"))
	}
}

func TestShellCompletion(t *testing.T) {
	if out := must(t, "completion", "bash"); !strings.Contains(out, "complete ") {
		t.Fatalf("completion bash: %q", out)
	}
	out := must(t, "--generate-shell-completion")
	if !strings.Contains(out, "run:") || !strings.Contains(out, "pull:") || strings.Contains(out, "monitor:") {
		t.Fatalf("completions: %q", out)
	}
}

// restart, ps -s, logs --details with --log-opt labels= and env=, and
// inspect --format on a network.
func TestRestartSizeDetails(t *testing.T) {
	must(t, "run", "-d", "--name", "again2", "--net", "none", "--label", "team=a", "-e", "MODE=dev",
		"--log-opt", "labels=team", "--log-opt", "env=MODE", "busybox", "sh", "-c", "echo hi; head -c 3000 /dev/zero > /big; sleep 1000")
	rmAfter(t, "again2")
	waitFor(t, 10*time.Second, "the 3000-byte file", func() bool {
		return mydocker("exec", "again2", "sh", "-c", "[ $(stat -c %s /big) = 3000 ]").code == 0
	})
	if out := must(t, "ps", "-s", "--format", "{{.Names}} {{.Size}}", "--filter", "name=again2"); !strings.HasPrefix(out, "again2 3kB (virtual ") {
		t.Fatalf("ps -s: %q", out)
	}
	if out := must(t, "ps", "-s", "--filter", "name=again2"); !strings.Contains(strings.SplitN(out, "\n", 2)[0], "SIZE") {
		t.Fatalf("ps -s header: %q", out)
	}
	if out := must(t, "logs", "--details", "again2"); out != "MODE=dev,team=a hi\n" {
		t.Fatalf("logs --details: %q", out)
	}
	pid := inspect(t, "again2", "{{.State.Pid}}")
	must(t, "restart", "-t", "0", "again2")
	if s := status(t, "again2"); !strings.HasPrefix(s, "Up") || inspect(t, "again2", "{{.State.Pid}}") == pid {
		t.Fatalf("after restart: %q", s)
	}
	waitFor(t, 10*time.Second, "the second run's output", func() bool { return must(t, "logs", "again2") == "hi\nhi\n" })
	oneLineError(t, expect(t, 1, "restart", "no-such-container"))
	oneLineError(t, expect(t, 125, "run", "--log-opt", "colour=blue", "busybox", "true"))

	must(t, "network", "create", "--subnet", "10.231.10.0/24", "fmtnet")
	t.Cleanup(func() { mydocker("network", "rm", "fmtnet") })
	if out := must(t, "network", "inspect", "-f", "{{.Name}} {{.Subnet}}", "fmtnet"); out != "fmtnet 10.231.10.0/24\n" {
		t.Fatalf("network inspect -f: %q", out)
	}
	oneLineError(t, expect(t, 125, "network", "inspect", "-f", "{{.Name", "fmtnet"))
}
