package container

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// The device policy: a container sees only its default nodes in /dev and may
// open only those (and its terminals); it may create any node (mknod, as in
// Docker) but not open one it was not given. The cgroup enforces it: the
// devices controller on v1, an eBPF program on v2.

func i64(n int64) *int64 { return &n }

// deviceRules is the cgroup policy for a container's devices: its default
// nodes, and those --device added with the access asked for.
func deviceRules(privileged bool, defaults []specs.LinuxDevice, added []deviceRequest) []specs.LinuxDeviceCgroup {
	if privileged {
		return []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}
	}
	rules := []specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},                                         // everything, first
		{Allow: true, Type: "c", Access: "m"},                                 // mknod of any character device,
		{Allow: true, Type: "b", Access: "m"},                                 // and block device
		{Allow: true, Type: "c", Major: i64(136), Access: "rwm"},              // the container's ptys
		{Allow: true, Type: "c", Major: i64(5), Minor: i64(2), Access: "rwm"}, // /dev/ptmx
	}
	for _, d := range defaults {
		rules = append(rules, specs.LinuxDeviceCgroup{Allow: true, Type: d.Type, Major: i64(d.Major), Minor: i64(d.Minor), Access: "rwm"})
	}
	for _, r := range added {
		rules = append(rules, specs.LinuxDeviceCgroup{Allow: true, Type: r.dev.Type, Major: i64(r.dev.Major), Minor: i64(r.dev.Minor), Access: r.access})
	}
	return rules
}

// deviceRequest is one --device: the node to create and what it may do.
type deviceRequest struct {
	dev    specs.LinuxDevice
	access string
}

// parseDevice reads --device HOST[:CONTAINER][:rwm] and the host's node.
func parseDevice(s string) (deviceRequest, error) {
	parts := strings.Split(s, ":")
	host, dest, access := parts[0], parts[0], "rwm"
	switch len(parts) {
	case 1:
	case 2:
		if isAccess(parts[1]) {
			access = parts[1]
		} else {
			dest = parts[1]
		}
	case 3:
		dest, access = parts[1], parts[2]
	default:
		return deviceRequest{}, fmt.Errorf("invalid --device %q: want HOST[:CONTAINER][:rwm]", s)
	}
	if !isAccess(access) {
		return deviceRequest{}, fmt.Errorf("invalid --device %q: access %q is not a combination of r, w and m", s, access)
	}
	if !filepath.IsAbs(dest) {
		return deviceRequest{}, fmt.Errorf("invalid --device %q: %s is not an absolute path", s, dest)
	}
	d, err := hostDevice(host)
	if err != nil {
		return deviceRequest{}, fmt.Errorf("--device %s: %w", s, err)
	}
	d.Path = filepath.Clean(dest)
	return deviceRequest{d, access}, nil
}

func isAccess(s string) bool {
	return s != "" && strings.Trim(s, "rwm") == "" && len(s) <= 3
}

// hostDevice describes a device node of the host.
func hostDevice(path string) (specs.LinuxDevice, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return specs.LinuxDevice{}, fmt.Errorf("%s: %w", path, err)
	}
	var typ string
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFCHR:
		typ = "c"
	case unix.S_IFBLK:
		typ = "b"
	default:
		return specs.LinuxDevice{}, fmt.Errorf("%s is not a device", path)
	}
	mode := os.FileMode(st.Mode & 0o777)
	uid, gid := st.Uid, st.Gid
	return specs.LinuxDevice{Path: path, Type: typ, Major: int64(unix.Major(st.Rdev)), Minor: int64(unix.Minor(st.Rdev)),
		FileMode: &mode, UID: &uid, GID: &gid}, nil
}

// hostDevices lists every device node of the host's /dev, for --privileged;
// the container's own terminals, shm and mqueue are not the host's.
func hostDevices() []specs.LinuxDevice {
	var out []specs.LinuxDevice
	filepath.WalkDir("/dev", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() {
			switch p {
			case "/dev/pts", "/dev/shm", "/dev/mqueue":
				return filepath.SkipDir
			}
			return nil
		}
		if p == "/dev/ptmx" || p == "/dev/console" || d.Type()&fs.ModeDevice == 0 {
			return nil
		}
		if dev, err := hostDevice(p); err == nil {
			out = append(out, dev)
		}
		return nil
	})
	return out
}
