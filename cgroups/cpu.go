package cgroups

import (
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// cpu is the v1 cpu subsystem: shares, and the CFS quota that --cpus sets.
type cpu struct{}

func (cpu) Name() string { return "cpu" }

func (cpu) Set(dir string, r *specs.LinuxResources) error {
	if r.CPU == nil {
		return nil
	}
	if s := r.CPU.Shares; s != nil && *s != 0 {
		if err := limit(dir, "cpu.shares", strconv.FormatUint(*s, 10), "cpu-shares"); err != nil {
			return err
		}
	}
	if p := r.CPU.Period; p != nil && *p != 0 {
		if err := limit(dir, "cpu.cfs_period_us", strconv.FormatUint(*p, 10), "cpus"); err != nil {
			return err
		}
	}
	if q := r.CPU.Quota; q != nil && *q != 0 {
		if err := limit(dir, "cpu.cfs_quota_us", strconv.FormatInt(*q, 10), "cpus"); err != nil {
			return err
		}
	}
	return nil
}
