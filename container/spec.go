package container

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/mydocker/mydocker/image"
)

// RunOptions is everything `mydocker run` was asked, already split into
// fields by the command line but not yet checked.
type RunOptions struct {
	Image       string
	Args        []string
	Name        string
	Hostname    string
	Workdir     string
	Env         []string
	Interactive bool
	TTY         bool
	Detach      bool
	// DetachKeys is --detach-keys (Docker's ctrl-p,ctrl-q by default).
	DetachKeys string
	AutoRemove bool
	Volumes    []string
	Network    string
	// NetworkAliases is --network-alias, DNS is --dns.
	NetworkAliases []string
	DNS            []string
	Publish        []string
	PublishAll     bool
	Resources      ResourceOptions
	// Entrypoint overrides the image's when set ("" clears it).
	Entrypoint *string
	User       string
	// Pull is when to pull the image: missing (default), always, never.
	Pull     string
	Security SecurityOptions
	// Log is --log-opt.
	Log LogOptions
	// Restart is --restart.
	Restart RestartPolicy
	// Init runs the command under a reaper as PID 1 (--init).
	Init bool
	// Labels are --label KEY[=VALUE], over the image's.
	Labels []string
	// Devices are --device HOST[:CONTAINER][:rwm] values.
	Devices []string
	Confine ConfineOptions
	// Userns is "remap" for a user namespace whose root is an unprivileged
	// uid on the host; "" or "host" for none.
	Userns string
}

// SecurityOptions are the flags that widen or narrow what a container may
// do; the zero value is Docker's default confinement.
type SecurityOptions struct {
	CapAdd, CapDrop []string
	Privileged      bool
	// SecurityOpt are --security-opt values: seccomp=unconfined,
	// seccomp=PROFILE.json, no-new-privileges[:true|false].
	SecurityOpt []string
}

const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// buildSpec turns run options and the image's config into the OCI spec that
// init carries out. Rootfs and per-container files are filled in by the caller.
func buildSpec(o *RunOptions, img *image.Image, id string) (*specs.Spec, error) {
	cfg := img.Config.Config
	entrypoint, cmd := cfg.Entrypoint, cfg.Cmd
	if o.Entrypoint != nil {
		// As Docker: a new entrypoint drops the image's CMD too.
		entrypoint, cmd = nil, nil
		if *o.Entrypoint != "" {
			entrypoint = []string{*o.Entrypoint}
		}
	}
	args := append(append([]string{}, entrypoint...), o.Args...)
	if len(o.Args) == 0 {
		args = append(args, cmd...)
	}
	if len(args) == 0 {
		return nil, fmt.Errorf("no command specified")
	}
	user := cfg.User
	if o.User != "" {
		user = o.User
	}
	cwd := cfg.WorkingDir
	if o.Workdir != "" {
		cwd = o.Workdir
	}
	if cwd == "" {
		cwd = "/"
	}
	if !filepath.IsAbs(cwd) {
		return nil, fmt.Errorf("the working directory '%s' is invalid, it needs to be an absolute path", cwd)
	}
	hostname := o.Hostname
	if hostname == "" {
		hostname = id[:12]
	}
	if err := validateHostname(hostname); err != nil {
		return nil, err
	}
	env, err := buildEnv(cfg.Env, o.Env, hostname, o.TTY)
	if err != nil {
		return nil, err
	}
	spec := &specs.Spec{
		Version: specs.Version,
		Process: &specs.Process{
			Terminal: o.TTY,
			Args:     args,
			Env:      env,
			Cwd:      filepath.Clean(cwd),
			User:     specs.User{Username: user},
		},
		Root:     &specs.Root{},
		Hostname: hostname,
		Mounts:   defaultMounts(),
		Linux: &specs.Linux{
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.PIDNamespace}, {Type: specs.IPCNamespace}, {Type: specs.UTSNamespace},
				{Type: specs.MountNamespace}, {Type: specs.NetworkNamespace},
			},
			Devices:           defaultDevices(),
			RootfsPropagation: "rprivate",
		},
	}
	if o.Network == "host" {
		spec.Linux.Namespaces = spec.Linux.Namespaces[:4]
	}
	if err := o.Security.apply(spec); err != nil {
		return nil, err
	}
	if err := o.Confine.apply(spec, o.Network == "host"); err != nil {
		return nil, err
	}
	if o.Init {
		if err := withInit(spec); err != nil {
			return nil, err
		}
	}
	return spec, nil
}

// apply confines spec as Docker confines a container: its default
// capabilities, masked and read-only /proc and /sys paths, no_new_privs on
// request, and the seccomp profile.
func (s SecurityOptions) apply(spec *specs.Spec) error {
	caps, err := buildCaps(s.CapAdd, s.CapDrop, s.Privileged)
	if err != nil {
		return err
	}
	spec.Process.Capabilities = caps
	for _, opt := range s.SecurityOpt {
		key, val, hasVal := strings.Cut(opt, "=")
		if !hasVal {
			key, val, hasVal = strings.Cut(opt, ":")
		}
		switch key {
		case "no-new-privileges":
			on := true
			if hasVal {
				switch val {
				case "true":
				case "false":
					on = false
				default:
					return fmt.Errorf("invalid --security-opt %q: no-new-privileges takes true or false", opt)
				}
			}
			spec.Process.NoNewPrivileges = on
		case "seccomp":
			if !hasVal || val == "" {
				return fmt.Errorf("invalid --security-opt %q: seccomp=unconfined or seccomp=PROFILE.json", opt)
			}
			if spec.Annotations == nil {
				spec.Annotations = map[string]string{}
			}
			spec.Annotations[seccompAnnotation] = val
		default:
			return fmt.Errorf("invalid --security-opt %q: want seccomp=..., no-new-privileges", opt)
		}
	}
	if !s.Privileged {
		spec.Linux.MaskedPaths = append([]string{}, defaultMaskedPaths...)
		spec.Linux.ReadonlyPaths = append([]string{}, defaultReadonlyPaths...)
	}
	return setSeccomp(spec, s.Privileged)
}

// The paths runc's default spec and Docker hide or make read-only.
var (
	defaultMaskedPaths = []string{
		"/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
		"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
		"/sys/devices/virtual/powercap",
	}
	defaultReadonlyPaths = []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}
)

// buildEnv merges the image's environment with -e values: "KEY=V" sets,
// "KEY" alone takes the host's value (or nothing if the host has none).
func buildEnv(imageEnv, flags []string, hostname string, tty bool) ([]string, error) {
	var order []string
	vals := map[string]string{}
	set := func(k, v string) {
		if _, ok := vals[k]; !ok {
			order = append(order, k)
		}
		vals[k] = v
	}
	set("PATH", defaultPath)
	set("HOSTNAME", hostname)
	for _, kv := range imageEnv {
		k, v, _ := strings.Cut(kv, "=")
		set(k, v)
	}
	if tty {
		set("TERM", "xterm")
	}
	for _, kv := range flags {
		k, v, hasValue := strings.Cut(kv, "=")
		if k == "" || strings.ContainsAny(k, " \t\x00") {
			return nil, fmt.Errorf("invalid environment variable: %s", kv)
		}
		if !hasValue {
			hv, ok := os.LookupEnv(k)
			if !ok {
				continue
			}
			v = hv
		}
		set(k, v)
	}
	env := make([]string, 0, len(order))
	for _, k := range order {
		env = append(env, k+"="+vals[k])
	}
	return env, nil
}

func validateHostname(h string) error {
	if len(h) > 63 {
		return fmt.Errorf("invalid hostname %q: longer than 63 characters", h)
	}
	for i, c := range h {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || (c == '-' || c == '.') && i > 0
		if !ok {
			return fmt.Errorf("invalid hostname %q", h)
		}
	}
	if h == "" {
		return fmt.Errorf("invalid hostname: empty")
	}
	return nil
}

func defaultMounts() []specs.Mount {
	return []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
		{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
		{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
	}
}

func defaultDevices() []specs.LinuxDevice {
	mode := os.FileMode(0o666)
	uid, gid := uint32(0), uint32(0)
	dev := func(path string, major, minor int64) specs.LinuxDevice {
		return specs.LinuxDevice{Path: path, Type: "c", Major: major, Minor: minor, FileMode: &mode, UID: &uid, GID: &gid}
	}
	return []specs.LinuxDevice{
		dev("/dev/null", 1, 3), dev("/dev/zero", 1, 5), dev("/dev/full", 1, 7),
		dev("/dev/random", 1, 8), dev("/dev/urandom", 1, 9), dev("/dev/tty", 5, 0),
	}
}
