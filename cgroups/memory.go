package cgroups

import (
	"os"
	"path/filepath"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"
)

// memory is the v1 memory subsystem: the limit, and memory+swap.
type memory struct{}

func (memory) Name() string { return "memory" }

func (memory) Set(dir string, r *specs.LinuxResources) error {
	if r.Memory == nil {
		return nil
	}
	if l := r.Memory.Limit; l != nil {
		if err := limit(dir, "memory.limit_in_bytes", strconv.FormatInt(*l, 10), "memory"); err != nil {
			return err
		}
	}
	if s := r.Memory.Swap; s != nil {
		if _, err := os.Stat(filepath.Join(dir, "memory.memsw.limit_in_bytes")); err != nil {
			logrus.Warnf("the kernel does not account swap (no memory.memsw): --memory-swap ignored")
			return nil
		}
		// memsw may not go below the memory limit, which is set by now.
		if err := limit(dir, "memory.memsw.limit_in_bytes", strconv.FormatInt(*s, 10), "memory-swap"); err != nil {
			return err
		}
	}
	return nil
}
