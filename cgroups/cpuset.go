package cgroups

import (
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// cpuset is the v1 cpuset subsystem.
type cpuset struct{}

func (cpuset) Name() string { return "cpuset" }

func (cpuset) Set(dir string, r *specs.LinuxResources) error {
	if r.CPU == nil {
		return nil
	}
	if r.CPU.Cpus != "" {
		if err := limit(dir, "cpuset.cpus", r.CPU.Cpus, "cpuset-cpus"); err != nil {
			return err
		}
	}
	if r.CPU.Mems != "" {
		if err := limit(dir, "cpuset.mems", r.CPU.Mems, "cpuset-mems"); err != nil {
			return err
		}
	}
	return nil
}

// inherit fills an empty cpuset.cpus and cpuset.mems from the parent's: a
// new v1 cpuset cgroup starts empty and refuses tasks (ENOSPC) until both
// are set.
func (cpuset) inherit(dir string) error {
	for _, file := range []string{"cpuset.cpus", "cpuset.mems"} {
		cur, err := readFile(dir, file)
		if err != nil {
			return err
		}
		if cur != "" {
			continue
		}
		parent, err := readFile(filepath.Dir(dir), file)
		if err != nil {
			return err
		}
		if err := writeFile(dir, file, parent); err != nil {
			return err
		}
	}
	return nil
}
