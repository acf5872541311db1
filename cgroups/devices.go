package cgroups

import (
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// devices is the v1 devices subsystem: which device nodes the container may
// create (m), read and write.
type devices struct{}

func (devices) Name() string { return "devices" }

// Set writes the rules in order, as runc does: a deny of everything first,
// then the allowed devices.
func (devices) Set(dir string, r *specs.LinuxResources) error {
	for _, d := range r.Devices {
		file := "devices.deny"
		if d.Allow {
			file = "devices.allow"
		}
		if err := writeFile(dir, file, DeviceRule(d)); err != nil {
			return fmt.Errorf("device rule %q: %w", DeviceRule(d), err)
		}
	}
	return nil
}

// DeviceRule is a rule in the v1 devices cgroup's syntax: "c 1:3 rwm",
// "a *:* rwm".
func DeviceRule(d specs.LinuxDeviceCgroup) string {
	typ := d.Type
	if typ == "" {
		typ = "a"
	}
	num := func(n *int64) string {
		if n == nil || *n < 0 {
			return "*"
		}
		return fmt.Sprint(*n)
	}
	access := d.Access
	if access == "" {
		access = "rwm"
	}
	return fmt.Sprintf("%s %s:%s %s", typ, num(d.Major), num(d.Minor), access)
}
