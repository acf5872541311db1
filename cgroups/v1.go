package cgroups

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// subsystems mydocker puts every container in, each with what it sets.
var v1Subsystems = []subsystem{memory{}, cpu{}, cpuacct{}, cpuset{}, pids{}, devices{}, freezer{}, blkio{}}

// subsystem is one v1 controller: memory.go, cpu.go, cpuset.go and pids.go.
type subsystem interface {
	Name() string
	// Set applies the limits that concern this subsystem.
	Set(dir string, r *specs.LinuxResources) error
}

type v1 struct {
	id    string
	paths map[string]string // subsystem -> the container's cgroup dir
}

func newV1(id string) *v1 {
	m := &v1{id: id, paths: map[string]string{}}
	mounts := v1Mounts()
	for _, s := range v1Subsystems {
		if mnt, ok := mounts[s.Name()]; ok {
			m.paths[s.Name()] = filepath.Join(mnt, Parent, id)
		}
	}
	return m
}

var (
	v1MountsOnce sync.Once
	v1MountsMap  map[string]string
)

// v1Mounts maps each v1 subsystem to where its hierarchy is mounted, read
// once per process.
func v1Mounts() map[string]string {
	v1MountsOnce.Do(func() { v1MountsMap = readV1Mounts() })
	return v1MountsMap
}

func readV1Mounts() map[string]string {
	out := map[string]string{}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return out
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		sep := -1
		for i, x := range fields {
			if x == "-" {
				sep = i
				break
			}
		}
		if sep < 0 || len(fields) < sep+4 || fields[sep+1] != "cgroup" {
			continue
		}
		// Only hierarchies mounted at their root (fields[3] == "/").
		if fields[3] != "/" {
			continue
		}
		for _, opt := range strings.Split(fields[sep+3], ",") {
			if _, seen := out[opt]; !seen {
				out[opt] = fields[4]
			}
		}
	}
	return out
}

func (m *v1) Create(r *specs.LinuxResources) (err error) {
	if len(m.paths) == 0 {
		return errors.New("no cgroup v1 hierarchies are mounted")
	}
	defer func() {
		if err != nil {
			m.Destroy()
		}
	}()
	for _, s := range v1Subsystems {
		dir, ok := m.paths[s.Name()]
		if !ok {
			if needs(s, r) {
				return fmt.Errorf("the %s cgroup controller is not mounted", s.Name())
			}
			continue
		}
		if err := m.mkdir(s, dir); err != nil {
			return err
		}
		if r != nil {
			if err := s.Set(dir, r); err != nil {
				return err
			}
		}
	}
	return nil
}

// mkdir creates the container's directory, and the shared parent if needed
// (retrying if another container's teardown removes the parent meanwhile).
func (m *v1) mkdir(s subsystem, dir string) error {
	var err error
	for i := 0; i < 10; i++ {
		parent := filepath.Dir(dir)
		if err = mkdirParent(parent); err != nil {
			return err
		}
		if cs, ok := s.(cpuset); ok {
			if err = cs.inherit(parent); err != nil {
				continue
			}
		}
		err = os.Mkdir(dir, 0o755)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil && !errors.Is(err, os.ErrExist) {
			return err
		}
		if cs, ok := s.(cpuset); ok {
			if err = cs.inherit(dir); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("creating cgroup %s: %w", dir, err)
}

// needs reports whether r asks for something only s can enforce.
func needs(s subsystem, r *specs.LinuxResources) bool {
	if r == nil {
		return false
	}
	switch s.Name() {
	case "memory":
		return r.Memory != nil && (r.Memory.Limit != nil || r.Memory.Swap != nil)
	case "cpu":
		return r.CPU != nil && (r.CPU.Shares != nil || r.CPU.Quota != nil)
	case "cpuset":
		return r.CPU != nil && (r.CPU.Cpus != "" || r.CPU.Mems != "")
	case "pids":
		return r.Pids != nil
	case "devices":
		return len(r.Devices) > 0
	}
	return false
}

func (m *v1) Apply(pid int) error {
	for _, s := range v1Subsystems {
		if dir, ok := m.paths[s.Name()]; ok {
			if err := writeFile(dir, "cgroup.procs", strconv.Itoa(pid)); err != nil {
				return fmt.Errorf("joining the %s cgroup: %w", s.Name(), err)
			}
		}
	}
	return nil
}

func (m *v1) SelfJoin() ([]string, string) {
	var tasks []string
	for _, s := range v1Subsystems {
		if dir, ok := m.paths[s.Name()]; ok {
			tasks = append(tasks, filepath.Join(dir, "tasks"))
		}
	}
	return tasks, ""
}

func (m *v1) OOMKilled() bool {
	dir, ok := m.paths["memory"]
	return ok && keyValue(dir, "memory.oom_control", "oom_kill") > 0
}

func (m *v1) Stats() (Stats, error) {
	var st Stats
	if dir, ok := m.paths["memory"]; ok {
		st.MemoryBytes = readUint(dir, "memory.usage_in_bytes")
		st.MemoryCache = keyValue(dir, "memory.stat", "total_inactive_file")
		if l := readUint(dir, "memory.limit_in_bytes"); l < 1<<62 {
			st.MemoryLimit = l
		}
	}
	if dir, ok := m.paths["cpuacct"]; ok {
		st.CPUUsageNanos = readUint(dir, "cpuacct.usage")
	}
	if dir, ok := m.paths["pids"]; ok {
		st.Pids = readUint(dir, "pids.current")
	}
	if dir, ok := m.paths["blkio"]; ok {
		st.BlockRead, st.BlockWrite = blkioBytes(dir)
	}
	return st, nil
}

func (m *v1) Destroy() error {
	var errs []error
	for _, s := range v1Subsystems {
		if dir, ok := m.paths[s.Name()]; ok {
			if err := removeDir(dir); err != nil {
				errs = append(errs, err)
			}
			removeParent(filepath.Dir(dir))
		}
	}
	return errors.Join(errs...)
}

// cpuacct only accounts: it is joined so that Stats can read CPU time.
type cpuacct struct{}

func (cpuacct) Name() string                            { return "cpuacct" }
func (cpuacct) Set(string, *specs.LinuxResources) error { return nil }
