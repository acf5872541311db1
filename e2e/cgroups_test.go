package e2e

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mydocker/mydocker/cgroups"
)

// cgroupDir is a container's cgroup directory for a controller.
func cgroupDir(id, controller string) string {
	if cgroups.IsV2() {
		return filepath.Join("/sys/fs/cgroup", cgroups.Parent, id)
	}
	return filepath.Join("/sys/fs/cgroup", controller, cgroups.Parent, id)
}

func readCgroup(t *testing.T, id, controller, file string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(cgroupDir(id, controller), file))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(data))
}

func TestCgroupMemory(t *testing.T) {
	alloc := func(size string) string {
		return `x=$(head -c ` + size + ` /dev/zero | tr "\0" a); echo ${#x}`
	}
	// Past the limit: the OOM killer ends it, exit 137, and the record says so.
	must(t, "run", "-d", "--name", "hog", "-m", "64m", "--memory-swap", "64m", "busybox", "sh", "-c", alloc("200m"))
	rmAfter(t, "hog")
	waitFor(t, 30*time.Second, "the OOM kill", func() bool { return strings.HasPrefix(status(t, "hog"), "Exited") })
	if got := inspect(t, "hog", "{{.State.ExitCode}} {{.State.OOMKilled}}"); got != "137 true" {
		t.Fatalf("exit code and OOMKilled: %q", got)
	}
	// Under the limit: spared.
	r := expect(t, 0, "run", "--name", "modest", "-m", "64m", "--memory-swap", "64m", "busybox", "sh", "-c", alloc("16m"))
	rmAfter(t, "modest")
	if strings.TrimSpace(r.stdout) != strconv.Itoa(16<<20) {
		t.Fatalf("got %q", r.stdout)
	}
	if got := inspect(t, "modest", "{{.State.OOMKilled}}"); got != "false" {
		t.Fatalf("OOMKilled %q", got)
	}
	// The limit is in the record.
	if got := inspect(t, "modest", "{{.Spec.Linux.Resources.Memory.Limit}}"); got != strconv.Itoa(64<<20) {
		t.Fatalf("inspect shows memory limit %q", got)
	}
	// The book's spelling, and the kernel's view of it while running.
	id := strings.TrimSpace(must(t, "run", "-d", "--name", "mlimit", "-m", "100m", "busybox", "sleep", "100"))
	rmAfter(t, "mlimit")
	file := "memory.limit_in_bytes"
	if cgroups.IsV2() {
		file = "memory.max"
	}
	if got := readCgroup(t, id, "memory", file); got != strconv.Itoa(100<<20) {
		t.Fatalf("%s = %s", file, got)
	}
	// inspect reads the cgroup's usage while the container runs.
	if got := inspect(t, "mlimit", "{{.Usage.Pids}}"); got != "1" {
		t.Fatalf("inspect Usage.Pids = %q", got)
	}
}

// --cpus 0.5 keeps a busy loop near half a CPU: measured by the cgroup's own
// CPU accounting over about a second of wall time, with a wide margin.
func TestCgroupCPUQuota(t *testing.T) {
	id := strings.TrimSpace(must(t, "run", "-d", "--name", "spinner", "--cpus", "0.5", "busybox", "sh", "-c", "while :; do :; done"))
	rmAfter(t, "spinner")
	usage := func() float64 {
		if cgroups.IsV2() {
			for _, line := range strings.Split(readCgroup(t, id, "cpu", "cpu.stat"), "\n") {
				if f := strings.Fields(line); len(f) == 2 && f[0] == "usage_usec" {
					n, _ := strconv.ParseFloat(f[1], 64)
					return n / 1e6
				}
			}
			t.Fatal("no usage_usec")
		}
		n, _ := strconv.ParseFloat(readCgroup(t, id, "cpuacct", "cpuacct.usage"), 64)
		return n / 1e9
	}
	time.Sleep(300 * time.Millisecond) // past the first period
	u0, t0 := usage(), time.Now()
	time.Sleep(1200 * time.Millisecond)
	share := (usage() - u0) / time.Since(t0).Seconds()
	t.Logf("--cpus 0.5: %.2f of a CPU", share)
	if share < 0.3 || share > 0.7 {
		t.Fatalf("--cpus 0.5 gave %.2f of a CPU", share)
	}
	if cgroups.IsV2() {
		if got := readCgroup(t, id, "cpu", "cpu.max"); got != "50000 100000" {
			t.Fatalf("cpu.max = %q", got)
		}
	} else if got := readCgroup(t, id, "cpu", "cpu.cfs_quota_us"); got != "50000" {
		t.Fatalf("cpu.cfs_quota_us = %q", got)
	}
}

func TestCgroupCPUSharesAndPids(t *testing.T) {
	id := strings.TrimSpace(must(t, "run", "-d", "--name", "shares", "-cpushare", "512", "--pids-limit", "64", "busybox", "sleep", "100"))
	rmAfter(t, "shares")
	if cgroups.IsV2() {
		if got := readCgroup(t, id, "cpu", "cpu.weight"); got != strconv.FormatUint(cgroups.SharesToWeight(512), 10) {
			t.Fatalf("cpu.weight = %q", got)
		}
	} else if got := readCgroup(t, id, "cpu", "cpu.shares"); got != "512" {
		t.Fatalf("cpu.shares = %q", got)
	}
	if got := readCgroup(t, id, "pids", "pids.max"); got != "64" {
		t.Fatalf("pids.max = %q", got)
	}
	// Init and exec'd processes are in the container's cgroup in every
	// hierarchy mydocker manages (they join as they start: see nsenter).
	for _, who := range []string{"1", "self"} {
		r := expect(t, 0, "exec", "shares", "cat", "/proc/"+who+"/cgroup")
		for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
			f := strings.SplitN(line, ":", 3)
			if len(f) != 3 {
				continue
			}
			managed := f[0] == "0" && cgroups.IsV2() // a hybrid host's v2 line is not ours
			for _, c := range strings.Split(f[1], ",") {
				switch c {
				case "memory", "cpu", "cpuacct", "cpuset", "pids", "devices", "freezer", "blkio":
					managed = true
				}
			}
			if managed && f[2] != "/"+cgroups.Parent+"/"+id {
				t.Fatalf("/proc/%s/cgroup: %q is not the container's", who, line)
			}
		}
	}
}

// A fork loop stops at the pids limit; without one it does not.
func TestCgroupPidsLimit(t *testing.T) {
	script := `(for i in $(seq 1 30); do sleep 5 & done) 2>/dev/null; n=0; for p in /proc/[0-9]*; do n=$((n+1)); done; echo $n`
	limited, _ := strconv.Atoi(strings.TrimSpace(expect(t, 0, "run", "--rm", "--pids-limit", "10", "busybox", "sh", "-c", script).stdout))
	free, _ := strconv.Atoi(strings.TrimSpace(expect(t, 0, "run", "--rm", "busybox", "sh", "-c", script).stdout))
	if limited < 2 || limited > 10 || free != 31 {
		t.Fatalf("processes with --pids-limit 10: %d; without: %d", limited, free)
	}
}

func TestCgroupCpuset(t *testing.T) {
	for _, args := range [][]string{{"-cpuset", "0"}, {"--cpuset-cpus", "1"}, {"--cpuset-cpus", "0-1", "--cpuset-mems", "0"}} {
		want := args[1]
		r := expect(t, 0, append(append([]string{"run", "--rm"}, args...), "busybox", "grep", "Cpus_allowed_list", "/proc/self/status")...)
		if f := strings.Fields(r.stdout); len(f) != 2 || f[1] != want {
			t.Fatalf("%v: %q", args, r.stdout)
		}
	}
}

func TestCgroupRemovedAfterExit(t *testing.T) {
	id := strings.TrimSpace(must(t, "run", "-d", "--name", "gone", "-m", "32m", "busybox", "sleep", "100"))
	rmAfter(t, "gone")
	for _, ctrl := range []string{"memory", "cpu", "cpuset", "pids"} {
		if _, err := os.Stat(cgroupDir(id, ctrl)); err != nil {
			t.Fatalf("no %s cgroup while running: %v", ctrl, err)
		}
	}
	must(t, "stop", "-t", "0", "gone")
	for _, ctrl := range []string{"memory", "cpu", "cpuacct", "cpuset", "pids"} {
		if _, err := os.Stat(cgroupDir(id, ctrl)); err == nil {
			t.Fatalf("the %s cgroup outlived the container", ctrl)
		}
	}
}

func TestCgroupBadLimits(t *testing.T) {
	for _, tc := range []struct {
		flags []string
		flag  string // named in the error
	}{
		{[]string{"-m", "10x"}, "--memory"},
		{[]string{"-m", "0"}, "--memory"},
		{[]string{"-m", "1k"}, "--memory"},
		{[]string{"--memory-swap", "64m"}, "--memory-swap"},
		{[]string{"-m", "64m", "--memory-swap", "32m"}, "--memory-swap"},
		{[]string{"--cpus", "0"}, "--cpus"},
		{[]string{"--cpus", "-1"}, "--cpus"},
		{[]string{"--cpus", "abc"}, "--cpus"},
		{[]string{"--cpus", "999"}, "--cpus"},
		{[]string{"--cpu-shares", "1"}, "--cpu-shares"},
		{[]string{"--cpu-shares", "-5"}, "--cpu-shares"},
		{[]string{"--cpuset-cpus", "99"}, "--cpuset-cpus"},
		{[]string{"--cpuset-cpus", "1-0"}, "--cpuset-cpus"},
		{[]string{"--cpuset-mems", "7"}, "--cpuset-mems"},
		{[]string{"--pids-limit", "-5"}, "--pids-limit"},
		// Passes our checks; the kernel refuses it (above PID_MAX_LIMIT).
		{[]string{"--pids-limit", "99999999"}, "--pids-limit"},
	} {
		t.Run(strings.Join(tc.flags, " "), func(t *testing.T) {
			before := strings.Join(stateEntries(), " ")
			r := expect(t, 125, append(append([]string{"run", "--rm"}, tc.flags...), "busybox", "true")...)
			oneLineError(t, r)
			if !strings.Contains(r.stderr, tc.flag) {
				t.Fatalf("the error does not name %s: %q", tc.flag, r.stderr)
			}
			if after := strings.Join(stateEntries(), " "); after != before {
				t.Fatalf("state left: %q", after)
			}
			left, _ := filepath.Glob("/sys/fs/cgroup/*/" + cgroups.Parent + "/*")
			more, _ := filepath.Glob("/sys/fs/cgroup/" + cgroups.Parent + "/*")
			for _, p := range append(left, more...) {
				if fi, err := os.Stat(p); err == nil && fi.IsDir() {
					t.Fatalf("cgroup left: %s", p)
				}
			}
		})
	}
}
