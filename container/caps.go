package container

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// capNames are the kernel's capabilities by number, as the OCI spec names them.
var capNames = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
	"CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
	"CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT",
	"CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME",
	"CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",
	"CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
	"CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
}

// defaultCaps is what a Docker container holds (CapEff 00000000a80425fb).
var defaultCaps = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
	"CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

func capNumber(name string) (int, bool) {
	for i, n := range capNames {
		if n == name {
			return i, true
		}
	}
	return 0, false
}

// normalizeCap turns "net_admin", "NET_ADMIN" or "CAP_NET_ADMIN" into the
// spec's name, or "ALL".
func normalizeCap(s string) (string, error) {
	up := strings.ToUpper(strings.TrimSpace(s))
	if up == "ALL" {
		return up, nil
	}
	if !strings.HasPrefix(up, "CAP_") {
		up = "CAP_" + up
	}
	if _, ok := capNumber(up); !ok {
		return "", fmt.Errorf("unknown capability: %q", s)
	}
	return up, nil
}

// hostCaps lists the capabilities in this process's bounding set: all that
// --privileged can give, on a host that may lack some.
func hostCaps() []string {
	data, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "CapBnd:"); ok {
			mask, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				break
			}
			var out []string
			for i, n := range capNames {
				if mask&(1<<uint(i)) != 0 {
					out = append(out, n)
				}
			}
			return out
		}
	}
	return append([]string{}, capNames...)
}

// buildCaps is Docker's computation: the default set (every host capability
// with privileged), then drops, then adds; ALL in either means every one.
func buildCaps(add, drop []string, privileged bool) (*specs.LinuxCapabilities, error) {
	set := map[string]bool{}
	base := defaultCaps
	if privileged {
		base = hostCaps()
	}
	for _, c := range base {
		set[c] = true
	}
	for _, d := range drop {
		n, err := normalizeCap(d)
		if err != nil {
			return nil, err
		}
		if n == "ALL" {
			set = map[string]bool{}
		} else {
			delete(set, n)
		}
	}
	for _, a := range add {
		n, err := normalizeCap(a)
		if err != nil {
			return nil, err
		}
		if n == "ALL" {
			for _, c := range hostCaps() {
				set[c] = true
			}
		} else {
			set[n] = true
		}
	}
	list := make([]string, 0, len(set))
	for c := range set {
		list = append(list, c)
	}
	sort.Slice(list, func(i, j int) bool { a, _ := capNumber(list[i]); b, _ := capNumber(list[j]); return a < b })
	// Inheritable and ambient stay empty, as Docker since CVE-2022-24769.
	return &specs.LinuxCapabilities{Bounding: list, Effective: list, Permitted: list}, nil
}

func capMask(names []string) (uint64, error) {
	var m uint64
	for _, n := range names {
		i, ok := capNumber(n)
		if !ok {
			return 0, fmt.Errorf("unknown capability %q", n)
		}
		m |= 1 << uint(i)
	}
	return m, nil
}

func lastCap() int {
	data, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil {
			return n
		}
	}
	return len(capNames) - 1
}

// dropBounding takes from the bounding set every capability the spec does
// not keep: an exec'd root process gets exactly that set.
func dropBounding(c *specs.LinuxCapabilities) error {
	keep, err := capMask(c.Bounding)
	if err != nil {
		return err
	}
	for i := 0; i <= lastCap(); i++ {
		if keep&(1<<uint(i)) != 0 {
			continue
		}
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(i), 0, 0, 0); err != nil && err != unix.EINVAL {
			return fmt.Errorf("dropping capability %d from the bounding set: %w", i, err)
		}
	}
	return nil
}

// setCaps sets the effective, permitted and inheritable sets and the
// ambient set, after the switch of user.
func setCaps(c *specs.LinuxCapabilities) error {
	eff, err := capMask(c.Effective)
	if err != nil {
		return err
	}
	perm, err := capMask(c.Permitted)
	if err != nil {
		return err
	}
	inh, err := capMask(c.Inheritable)
	if err != nil {
		return err
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	data := [2]unix.CapUserData{
		{Effective: uint32(eff), Permitted: uint32(perm), Inheritable: uint32(inh)},
		{Effective: uint32(eff >> 32), Permitted: uint32(perm >> 32), Inheritable: uint32(inh >> 32)},
	}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capset: %w", err)
	}
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil && err != unix.EINVAL {
		return fmt.Errorf("clearing ambient capabilities: %w", err)
	}
	for _, n := range c.Ambient {
		i, _ := capNumber(n)
		if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, uintptr(i), 0, 0); err != nil {
			return fmt.Errorf("raising ambient %s: %w", n, err)
		}
	}
	return nil
}
