package container

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// The run flags that shape what a container may touch beyond capabilities
// and seccomp: --read-only with --tmpfs, --shm-size, --ulimit, --sysctl,
// --group-add.

// ConfineOptions are those flags, as given.
type ConfineOptions struct {
	ReadOnly bool
	Tmpfs    []string // PATH[:OPTIONS]
	ShmSize  string
	Ulimits  []string // NAME=SOFT[:HARD]
	Sysctls  []string // KEY=VALUE
	GroupAdd []string // groups by number or by name in the image's /etc/group
}

func (c ConfineOptions) apply(spec *specs.Spec, hostNet bool) error {
	spec.Root.Readonly = c.ReadOnly
	for _, t := range c.Tmpfs {
		dest, opts, _ := strings.Cut(t, ":")
		if !filepath.IsAbs(dest) || filepath.Clean(dest) == "/" {
			return fmt.Errorf("invalid --tmpfs %q: want an absolute path other than /", t)
		}
		options := []string{"nosuid", "nodev", "noexec"}
		if opts != "" {
			options = append(options, strings.Split(opts, ",")...)
		}
		spec.Mounts = append(spec.Mounts, specs.Mount{Destination: filepath.Clean(dest), Type: "tmpfs", Source: "tmpfs", Options: options})
	}
	if c.ShmSize != "" {
		n, err := ParseSize(c.ShmSize)
		if err != nil || n <= 0 {
			return fmt.Errorf("invalid --shm-size %q: want a size such as 64m", c.ShmSize)
		}
		for i, m := range spec.Mounts {
			if m.Destination == "/dev/shm" {
				spec.Mounts[i].Options = []string{"nosuid", "noexec", "nodev", "mode=1777", "size=" + strconv.FormatInt(n, 10)}
			}
		}
	}
	for _, u := range c.Ulimits {
		rl, err := parseUlimit(u)
		if err != nil {
			return err
		}
		spec.Process.Rlimits = append(spec.Process.Rlimits, rl)
	}
	for _, s := range c.Sysctls {
		k, v, ok := strings.Cut(s, "=")
		if !ok || k == "" {
			return fmt.Errorf("invalid --sysctl %q: want KEY=VALUE", s)
		}
		if err := namespacedSysctl(k, hostNet); err != nil {
			return err
		}
		if spec.Linux.Sysctl == nil {
			spec.Linux.Sysctl = map[string]string{}
		}
		spec.Linux.Sysctl[k] = v
	}
	return nil
}

// namespacedSysctl refuses a sysctl that would change the host: only those
// the container's own IPC and network namespaces hold, as Docker.
func namespacedSysctl(k string, hostNet bool) error {
	ipc := map[string]bool{"kernel.msgmax": true, "kernel.msgmnb": true, "kernel.msgmni": true, "kernel.sem": true,
		"kernel.shmall": true, "kernel.shmmax": true, "kernel.shmmni": true, "kernel.shm_rmid_forced": true}
	switch {
	case ipc[k], strings.HasPrefix(k, "fs.mqueue."):
		return nil
	case strings.HasPrefix(k, "net."):
		if hostNet {
			return fmt.Errorf("--sysctl %s: not allowed with --net host (it would change the host)", k)
		}
		return nil
	}
	return fmt.Errorf("--sysctl %s: not a namespaced sysctl (it would change the host)", k)
}

var rlimitNames = map[string]string{
	"core": "RLIMIT_CORE", "cpu": "RLIMIT_CPU", "data": "RLIMIT_DATA", "fsize": "RLIMIT_FSIZE",
	"locks": "RLIMIT_LOCKS", "memlock": "RLIMIT_MEMLOCK", "msgqueue": "RLIMIT_MSGQUEUE", "nice": "RLIMIT_NICE",
	"nofile": "RLIMIT_NOFILE", "nproc": "RLIMIT_NPROC", "rss": "RLIMIT_RSS", "rtprio": "RLIMIT_RTPRIO",
	"rttime": "RLIMIT_RTTIME", "sigpending": "RLIMIT_SIGPENDING", "stack": "RLIMIT_STACK", "as": "RLIMIT_AS",
}

var rlimitNumbers = map[string]int{
	"RLIMIT_CORE": unix.RLIMIT_CORE, "RLIMIT_CPU": unix.RLIMIT_CPU, "RLIMIT_DATA": unix.RLIMIT_DATA,
	"RLIMIT_FSIZE": unix.RLIMIT_FSIZE, "RLIMIT_LOCKS": unix.RLIMIT_LOCKS, "RLIMIT_MEMLOCK": unix.RLIMIT_MEMLOCK,
	"RLIMIT_MSGQUEUE": unix.RLIMIT_MSGQUEUE, "RLIMIT_NICE": unix.RLIMIT_NICE, "RLIMIT_NOFILE": unix.RLIMIT_NOFILE,
	"RLIMIT_NPROC": unix.RLIMIT_NPROC, "RLIMIT_RSS": unix.RLIMIT_RSS, "RLIMIT_RTPRIO": unix.RLIMIT_RTPRIO,
	"RLIMIT_RTTIME": unix.RLIMIT_RTTIME, "RLIMIT_SIGPENDING": unix.RLIMIT_SIGPENDING,
	"RLIMIT_STACK": unix.RLIMIT_STACK, "RLIMIT_AS": unix.RLIMIT_AS,
}

// parseUlimit reads Docker's --ulimit NAME=SOFT[:HARD]; -1 is unlimited.
func parseUlimit(s string) (specs.POSIXRlimit, error) {
	name, val, ok := strings.Cut(s, "=")
	typ, known := rlimitNames[name]
	if !ok || !known {
		return specs.POSIXRlimit{}, fmt.Errorf("invalid --ulimit %q: want NAME=SOFT[:HARD] with NAME one of nofile, nproc, core, ...", s)
	}
	softS, hardS, hasHard := strings.Cut(val, ":")
	if !hasHard {
		hardS = softS
	}
	num := func(x string) (uint64, error) {
		if x == "-1" || x == "unlimited" {
			return unix.RLIM_INFINITY, nil
		}
		return strconv.ParseUint(x, 10, 64)
	}
	soft, err1 := num(softS)
	hard, err2 := num(hardS)
	if err1 != nil || err2 != nil || soft > hard {
		return specs.POSIXRlimit{}, fmt.Errorf("invalid --ulimit %q: soft and hard must be numbers, soft at most hard", s)
	}
	return specs.POSIXRlimit{Type: typ, Soft: soft, Hard: hard}, nil
}

// setRlimits applies the process's resource limits before exec.
func setRlimits(p *specs.Process) error {
	for _, rl := range p.Rlimits {
		n, ok := rlimitNumbers[rl.Type]
		if !ok {
			return fmt.Errorf("unknown rlimit %s", rl.Type)
		}
		if err := unix.Setrlimit(n, &unix.Rlimit{Cur: rl.Soft, Max: rl.Hard}); err != nil {
			return fmt.Errorf("setting %s to %d:%d: %w", rl.Type, rl.Soft, rl.Hard, err)
		}
	}
	return nil
}

// writeSysctls sets the container's sysctls, before /proc/sys goes
// read-only.
func writeSysctls(sysctls map[string]string) error {
	for k, v := range sysctls {
		path := filepath.Join("/proc/sys", strings.ReplaceAll(k, ".", "/"))
		if err := os.WriteFile(path, []byte(v), 0); err != nil {
			return fmt.Errorf("--sysctl %s=%s: %w", k, v, err)
		}
	}
	return nil
}

// groupIDs resolves --group-add values: numbers as they are, names in the
// image's /etc/group (the top layer that has one; lower is top first).
func groupIDs(groups []string, lower []string) ([]uint32, error) {
	var out []uint32
	for _, g := range groups {
		if n, err := strconv.ParseUint(g, 10, 32); err == nil {
			out = append(out, uint32(n))
			continue
		}
		gid, ok := lookupImageGroup(g, lower)
		if !ok {
			return nil, fmt.Errorf("--group-add %s: no such group in the image's /etc/group", g)
		}
		out = append(out, gid)
	}
	return out, nil
}

func lookupImageGroup(name string, lower []string) (uint32, bool) {
	for _, dir := range lower {
		p := filepath.Join(dir, "etc", "group")
		fi, err := os.Lstat(p)
		if err != nil {
			continue
		}
		if fi.Mode()&os.ModeCharDevice != 0 || !fi.Mode().IsRegular() {
			return 0, false // deleted in this layer, or not a plain file
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return 0, false
		}
		for _, line := range strings.Split(string(data), "\n") {
			f := strings.Split(line, ":")
			if len(f) >= 3 && f[0] == name {
				n, err := strconv.ParseUint(f[2], 10, 32)
				return uint32(n), err == nil
			}
		}
		return 0, false
	}
	return 0, false
}
