package cgroups

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// v2 is a cgroup in the unified hierarchy.
type v2 struct {
	path string
}

// v2Controllers are the controllers mydocker enables for its containers.
var v2Controllers = []string{"cpu", "cpuset", "memory", "pids"}

func (m *v2) Create(r *specs.LinuxResources) (err error) {
	defer func() {
		if err != nil {
			m.Destroy()
		}
	}()
	root, parent := filepath.Dir(filepath.Dir(m.path)), filepath.Dir(m.path)
	for i := 0; ; i++ {
		if err = m.enable(root); err != nil {
			return err
		}
		if err = mkdirParent(parent); err != nil {
			return err
		}
		if err = m.enable(parent); err == nil {
			if err = os.Mkdir(m.path, 0o755); err == nil || errors.Is(err, os.ErrExist) {
				break
			}
		}
		if !errors.Is(err, os.ErrNotExist) || i == 10 {
			return fmt.Errorf("creating cgroup %s: %w", m.path, err)
		}
		// Another container's teardown removed the parent: again.
	}
	if r == nil {
		return nil
	}
	return m.set(r)
}

// enable turns on, for the children of dir, the controllers mydocker uses
// that dir has.
func (m *v2) enable(dir string) error {
	avail, err := readFile(dir, "cgroup.controllers")
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for _, c := range strings.Fields(avail) {
		have[c] = true
	}
	enabled, _ := readFile(dir, "cgroup.subtree_control")
	on := map[string]bool{}
	for _, c := range strings.Fields(enabled) {
		on[c] = true
	}
	var add []string
	for _, c := range v2Controllers {
		if have[c] && !on[c] {
			add = append(add, "+"+c)
		}
	}
	if len(add) == 0 {
		return nil
	}
	if err := writeFile(dir, "cgroup.subtree_control", strings.Join(add, " ")); err != nil {
		return fmt.Errorf("enabling controllers %v in %s: %w", add, dir, err)
	}
	return nil
}

func (m *v2) set(r *specs.LinuxResources) error {
	if len(r.Devices) > 0 {
		if err := attachDeviceFilter(m.path, r.Devices); err != nil {
			return err
		}
	}
	if mem := r.Memory; mem != nil {
		if mem.Limit != nil {
			if err := limit(m.path, "memory.max", strconv.FormatInt(*mem.Limit, 10), "memory"); err != nil {
				return err
			}
		}
		// Docker's --memory-swap is memory plus swap; v2 limits swap alone.
		if mem.Swap != nil {
			swap := "max"
			if *mem.Swap >= 0 && mem.Limit != nil {
				swap = strconv.FormatInt(*mem.Swap-*mem.Limit, 10)
			}
			if _, err := os.Stat(filepath.Join(m.path, "memory.swap.max")); err == nil {
				if err := limit(m.path, "memory.swap.max", swap, "memory-swap"); err != nil {
					return err
				}
			}
		}
	}
	if c := r.CPU; c != nil {
		if c.Shares != nil && *c.Shares != 0 {
			if err := limit(m.path, "cpu.weight", strconv.FormatUint(SharesToWeight(*c.Shares), 10), "cpu-shares"); err != nil {
				return err
			}
		}
		if c.Quota != nil && *c.Quota > 0 {
			period := uint64(100000)
			if c.Period != nil && *c.Period != 0 {
				period = *c.Period
			}
			if err := limit(m.path, "cpu.max", fmt.Sprintf("%d %d", *c.Quota, period), "cpus"); err != nil {
				return err
			}
		}
		if c.Cpus != "" {
			if err := limit(m.path, "cpuset.cpus", c.Cpus, "cpuset-cpus"); err != nil {
				return err
			}
		}
		if c.Mems != "" {
			if err := limit(m.path, "cpuset.mems", c.Mems, "cpuset-mems"); err != nil {
				return err
			}
		}
	}
	if p := r.Pids; p != nil && p.Limit != nil && *p.Limit > 0 {
		if err := limit(m.path, "pids.max", strconv.FormatInt(*p.Limit, 10), "pids-limit"); err != nil {
			return err
		}
	}
	return nil
}

// SharesToWeight maps v1 cpu.shares (2..262144, default 1024) onto v2
// cpu.weight (1..10000, default 100), as runc and crun do.
func SharesToWeight(shares uint64) uint64 {
	if shares == 0 {
		return 0
	}
	return 1 + ((shares-2)*9999)/262142
}

func (m *v2) Apply(pid int) error {
	if err := writeFile(m.path, "cgroup.procs", strconv.Itoa(pid)); err != nil {
		return fmt.Errorf("joining cgroup %s: %w", m.path, err)
	}
	return nil
}

func (m *v2) SelfJoin() ([]string, string) { return nil, m.path }

func (m *v2) OOMKilled() bool {
	return keyValue(m.path, "memory.events", "oom_kill") > 0
}

func (m *v2) Stats() (Stats, error) {
	st := Stats{
		MemoryBytes:   readUint(m.path, "memory.current"),
		MemoryLimit:   readUint(m.path, "memory.max"), // "max" reads as 0: none
		MemoryCache:   keyValue(m.path, "memory.stat", "inactive_file"),
		CPUUsageNanos: keyValue(m.path, "cpu.stat", "usage_usec") * 1000,
		Pids:          readUint(m.path, "pids.current"),
	}
	if data, err := readFile(m.path, "io.stat"); err == nil {
		for _, f := range strings.Fields(data) {
			if v, ok := strings.CutPrefix(f, "rbytes="); ok {
				n, _ := strconv.ParseUint(v, 10, 64)
				st.BlockRead += n
			} else if v, ok := strings.CutPrefix(f, "wbytes="); ok {
				n, _ := strconv.ParseUint(v, 10, 64)
				st.BlockWrite += n
			}
		}
	}
	return st, nil
}

func (m *v2) Destroy() error {
	if _, err := os.Stat(m.path); errors.Is(err, os.ErrNotExist) {
		removeParent(filepath.Dir(m.path))
		return nil
	}
	writeFile(m.path, "cgroup.kill", "1") // 5.14+; removeDir falls back to killing each pid
	err := removeDir(m.path)
	removeParent(filepath.Dir(m.path))
	return err
}
