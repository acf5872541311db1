package cgroups

import (
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// pids is the v1 pids subsystem.
type pids struct{}

func (pids) Name() string { return "pids" }

func (pids) Set(dir string, r *specs.LinuxResources) error {
	if r.Pids == nil || r.Pids.Limit == nil || *r.Pids.Limit <= 0 {
		return nil
	}
	return limit(dir, "pids.max", strconv.FormatInt(*r.Pids.Limit, 10), "pids-limit")
}
