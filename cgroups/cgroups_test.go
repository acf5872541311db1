package cgroups

import (
	"encoding/binary"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestSharesToWeight(t *testing.T) {
	for shares, weight := range map[uint64]uint64{0: 0, 2: 1, 1024: 39, 262144: 10000} {
		if got := SharesToWeight(shares); got != weight {
			t.Errorf("SharesToWeight(%d) = %d, want %d", shares, got, weight)
		}
	}
}

// A real cgroup on this kernel: created with limits, joined, read, and
// removed with the process still in it.
func TestManagerLifecycle(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("cgroup tests need root (make test runs them as root)")
	}
	id := "unittest-" + strconv.Itoa(os.Getpid())
	m := New(id)
	limit, swap := int64(32<<20), int64(32<<20)
	quota, period, shares := int64(20000), uint64(100000), uint64(256)
	pidsMax := int64(16)
	r := &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: &limit, Swap: &swap},
		CPU:    &specs.LinuxCPU{Quota: &quota, Period: &period, Shares: &shares, Cpus: "0"},
		Pids:   &specs.LinuxPids{Limit: &pidsMax},
	}
	if err := m.Create(r); err != nil {
		t.Fatal(err)
	}
	defer m.Destroy()
	cmd := exec.Command("sleep", "100")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	if err := m.Apply(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/cgroup")
	if !strings.Contains(string(data), Parent+"/"+id) {
		t.Fatalf("the process is not in the cgroup: %s", data)
	}
	st, err := m.Stats()
	if err != nil || st.Pids != 1 {
		t.Fatalf("stats %+v, %v", st, err)
	}
	if m.OOMKilled() {
		t.Fatal("OOMKilled without an OOM")
	}
	// Destroy kills what is left and removes every directory.
	if err := m.Destroy(); err != nil {
		t.Fatal(err)
	}
	matches, _ := filepath.Glob(filepath.Join(Root, "*", Parent, id))
	more, _ := filepath.Glob(filepath.Join(Root, Parent, id))
	if len(matches)+len(more) > 0 {
		t.Fatalf("left: %v %v", matches, more)
	}
	if err := m.Destroy(); err != nil {
		t.Fatalf("a second Destroy: %v", err)
	}
}

func TestLimitRefused(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("cgroup tests need root (make test runs them as root)")
	}
	id := "unittest-refused-" + strconv.Itoa(os.Getpid())
	tooMany := int64(1 << 40)
	err := New(id).Create(&specs.LinuxResources{Pids: &specs.LinuxPids{Limit: &tooMany}})
	le, ok := err.(*LimitError)
	if !ok || le.Resource != "pids-limit" {
		t.Fatalf("want a LimitError for pids-limit, got %v", err)
	}
	matches, _ := filepath.Glob(filepath.Join(Root, "*", Parent, id))
	more, _ := filepath.Glob(filepath.Join(Root, Parent, id))
	if len(matches)+len(more) > 0 {
		t.Fatalf("a refused Create left %v %v", matches, more)
	}
}

func TestDeviceFilterAssembles(t *testing.T) {
	i := func(n int64) *int64 { return &n }
	for _, rules := range [][]specs.LinuxDeviceCgroup{
		{{Allow: true, Access: "rwm"}},
		{{Allow: false, Access: "rwm"}, {Allow: true, Type: "c", Access: "m"}, {Allow: true, Type: "c", Major: i(1), Minor: i(3), Access: "rwm"}, {Allow: true, Type: "b", Major: i(7), Minor: i(0), Access: "r"}},
	} {
		insns, err := deviceFilter(rules)
		if err != nil {
			t.Fatal(err)
		}
		if err := insns.Marshal(io.Discard, binary.LittleEndian); err != nil {
			t.Fatalf("%v: %v", rules, err)
		}
		// The kernel's verifier accepts it (loading needs no cgroup v2).
		prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.CGroupDevice, License: "Apache-2.0", Instructions: insns})
		if err != nil {
			t.Fatalf("%v: %v", rules, err)
		}
		prog.Close()
	}
	if _, err := deviceFilter([]specs.LinuxDeviceCgroup{{Allow: false, Type: "c", Major: i(1), Access: "r"}}); err == nil {
		t.Fatal("a partial deny was accepted")
	}
	if got := DeviceRule(specs.LinuxDeviceCgroup{Type: "c", Major: i(136), Access: "rwm"}); got != "c 136:* rwm" {
		t.Fatalf("DeviceRule: %q", got)
	}
}
