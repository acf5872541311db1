package container

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"unsafe"

	libseccomp "github.com/seccomp/libseccomp-golang"

	"github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/mydocker/mydocker/internal/fsutil"
)

// Seccomp: Docker's default profile, as moby/profiles ships it, resolved for
// the container's capabilities into the spec's linux.seccomp, and compiled to
// BPF by libseccomp (cgo, Debian's libseccomp-dev) in init: the same
// compiler runc and crun use, which handles every argument condition of the
// profile and every architecture.

// seccompAnnotation records what --security-opt seccomp= asked for.
const seccompAnnotation = "org.mydocker.seccomp"

// defaultSeccomp marks a spec confined by Docker's default profile. The
// profile itself (30 kB of JSON) is not kept in the record: it is made again
// from moby/profiles and the spec's capabilities when it must be compiled,
// which its cached program makes rare; a profile of the user's own is kept.
const defaultSeccomp = "default"

// setSeccomp says which seccomp profile confines spec: Docker's default, a
// profile file in Docker's JSON format (resolved into spec.Linux.Seccomp), or
// none (unconfined, or privileged).
func setSeccomp(spec *specs.Spec, privileged bool) error {
	if spec.Annotations == nil {
		spec.Annotations = map[string]string{}
	}
	choice := spec.Annotations[seccompAnnotation]
	spec.Linux.Seccomp = nil
	switch {
	case choice == "unconfined" || (privileged && choice == ""):
		spec.Annotations[seccompAnnotation] = "unconfined"
	case choice == "" || choice == defaultSeccomp:
		spec.Annotations[seccompAnnotation] = defaultSeccomp
	default:
		data, err := os.ReadFile(choice)
		if err != nil {
			return fmt.Errorf("seccomp profile: %w", err)
		}
		spec.Linux.Seccomp, err = seccomp.LoadProfile(string(data), spec)
		if err != nil {
			return fmt.Errorf("seccomp profile %s: %s", choice, strings.Join(strings.Fields(err.Error()), " "))
		}
		if _, err := compileSeccomp(spec.Linux.Seccomp); err != nil {
			return fmt.Errorf("seccomp profile %s: %w", choice, err)
		}
	}
	return nil
}

// seccompProfile is the profile that confines spec, made again for the
// default.
func seccompProfile(spec *specs.Spec) (*specs.LinuxSeccomp, error) {
	if spec.Linux.Seccomp != nil || spec.Annotations[seccompAnnotation] != defaultSeccomp {
		return spec.Linux.Seccomp, nil
	}
	return seccomp.GetDefaultProfile(spec)
}

// seccompProgram is the compiled BPF of spec's profile, from a cache under
// the state tree keyed by the profile: libseccomp takes some 10 ms to compile
// Docker's, which a run should not pay each time. The default profile's key
// is what it is made from (the capabilities), so a cached run never makes it.
func (rt *Runtime) seccompProgram(spec *specs.Spec) ([]byte, error) {
	major, minor, micro := libseccomp.GetLibraryVersion()
	h := sha256.New()
	fmt.Fprintf(h, "%s libseccomp %d.%d.%d\n", goruntime.GOARCH, major, minor, micro)
	switch {
	case spec.Linux.Seccomp != nil:
		data, err := json.Marshal(spec.Linux.Seccomp)
		if err != nil {
			return nil, err
		}
		h.Write(data)
	case spec.Annotations[seccompAnnotation] == defaultSeccomp:
		fmt.Fprintf(h, "moby default profile %s\n", mobyProfilesVersion)
		if spec.Process.Capabilities != nil {
			fmt.Fprintln(h, strings.Join(spec.Process.Capabilities.Bounding, ","))
		}
	default:
		return nil, nil
	}
	path := filepath.Join(rt.LibDir, "seccomp", hex.EncodeToString(h.Sum(nil))+".bpf")
	if bpf, err := os.ReadFile(path); err == nil && len(bpf) > 0 && len(bpf)%8 == 0 {
		return bpf, nil
	}
	profile, err := seccompProfile(spec)
	if err != nil {
		return nil, err
	}
	bpf, err := compileSeccomp(profile)
	if err != nil {
		return nil, err
	}
	if err := fsutil.WriteFile(path, bpf, 0o600); err != nil {
		return nil, err
	}
	return bpf, nil
}

// mobyProfilesVersion is the moby/profiles/seccomp release whose default
// profile is compiled in (go.mod's); a new one must not reuse old programs.
const mobyProfilesVersion = "v0.3.0"

// loadSeccomp installs a compiled filter on this thread, which must stay
// locked to it until exec.
func loadSeccomp(bpf []byte) error {
	if len(bpf) == 0 || len(bpf)%8 != 0 {
		return fmt.Errorf("seccomp: a program of %d bytes", len(bpf))
	}
	prog := unix.SockFprog{Len: uint16(len(bpf) / 8), Filter: (*unix.SockFilter)(unsafe.Pointer(&bpf[0]))}
	if _, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, 0, uintptr(unsafe.Pointer(&prog))); errno != 0 {
		return fmt.Errorf("loading the seccomp filter: %w", errno)
	}
	return nil
}

// compileSeccomp compiles a profile to BPF.
func compileSeccomp(cfg *specs.LinuxSeccomp) ([]byte, error) {
	filter, err := newSeccompFilter(cfg)
	if err != nil {
		return nil, err
	}
	defer filter.Release()
	// ExportBPFMem needs libseccomp 2.6; Debian 12 has 2.5: a memfd instead.
	fd, err := unix.MemfdCreate("seccomp-bpf", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), "seccomp-bpf")
	defer f.Close()
	if err := filter.ExportBPF(f); err != nil {
		return nil, fmt.Errorf("seccomp: %w", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	return io.ReadAll(f)
}

func newSeccompFilter(cfg *specs.LinuxSeccomp) (*libseccomp.ScmpFilter, error) {
	defAction, err := seccompAction(cfg.DefaultAction, cfg.DefaultErrnoRet)
	if err != nil {
		return nil, err
	}
	filter, err := libseccomp.NewFilter(defAction)
	if err != nil {
		return nil, fmt.Errorf("seccomp: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			filter.Release()
		}
	}()
	// no_new_privs is the spec's to set, not the filter's.
	if err := filter.SetNoNewPrivsBit(false); err != nil {
		return nil, fmt.Errorf("seccomp: %w", err)
	}
	for _, a := range cfg.Architectures {
		arch, err := libseccomp.GetArchFromString(strings.ToLower(strings.TrimPrefix(string(a), "SCMP_ARCH_")))
		if err != nil {
			continue // an architecture this libseccomp does not know
		}
		if err := filter.AddArch(arch); err != nil {
			return nil, fmt.Errorf("seccomp: adding %s: %w", a, err)
		}
	}
	for _, sc := range cfg.Syscalls {
		action, err := seccompAction(sc.Action, sc.ErrnoRet)
		if err != nil {
			return nil, err
		}
		if action == defAction {
			continue
		}
		conds, err := seccompConditions(sc.Args)
		if err != nil {
			return nil, err
		}
		for _, name := range sc.Names {
			call, err := libseccomp.GetSyscallFromName(name)
			if err != nil {
				continue // not a syscall on this architecture
			}
			if err := addRule(filter, call, action, conds); err != nil {
				return nil, fmt.Errorf("seccomp: rule for %s: %w", name, err)
			}
		}
	}
	ok = true
	return filter, nil
}

// addRule adds a rule; conditions on the same argument (libseccomp wants
// each argument once per rule) become one rule each, as runc does.
func addRule(f *libseccomp.ScmpFilter, call libseccomp.ScmpSyscall, action libseccomp.ScmpAction, conds []libseccomp.ScmpCondition) error {
	if len(conds) == 0 {
		return f.AddRule(call, action)
	}
	seen := map[uint]bool{}
	repeated := false
	for _, c := range conds {
		repeated = repeated || seen[c.Argument]
		seen[c.Argument] = true
	}
	if !repeated {
		return f.AddRuleConditional(call, action, conds)
	}
	for _, c := range conds {
		if err := f.AddRuleConditional(call, action, []libseccomp.ScmpCondition{c}); err != nil {
			return err
		}
	}
	return nil
}

func seccompAction(a specs.LinuxSeccompAction, errno *uint) (libseccomp.ScmpAction, error) {
	switch a {
	case specs.ActKill, specs.ActKillThread:
		return libseccomp.ActKillThread, nil
	case specs.ActKillProcess:
		return libseccomp.ActKillProcess, nil
	case specs.ActTrap:
		return libseccomp.ActTrap, nil
	case specs.ActErrno, specs.ActTrace:
		code := int16(1) // EPERM
		if errno != nil {
			code = int16(*errno)
		}
		if a == specs.ActTrace {
			return libseccomp.ActTrace.SetReturnCode(code), nil
		}
		return libseccomp.ActErrno.SetReturnCode(code), nil
	case specs.ActAllow:
		return libseccomp.ActAllow, nil
	case specs.ActLog:
		return libseccomp.ActLog, nil
	}
	return libseccomp.ActInvalid, fmt.Errorf("seccomp: unsupported action %q", a)
}

func seccompConditions(args []specs.LinuxSeccompArg) ([]libseccomp.ScmpCondition, error) {
	var out []libseccomp.ScmpCondition
	for _, a := range args {
		var op libseccomp.ScmpCompareOp
		switch a.Op {
		case specs.OpNotEqual:
			op = libseccomp.CompareNotEqual
		case specs.OpLessThan:
			op = libseccomp.CompareLess
		case specs.OpLessEqual:
			op = libseccomp.CompareLessOrEqual
		case specs.OpEqualTo:
			op = libseccomp.CompareEqual
		case specs.OpGreaterEqual:
			op = libseccomp.CompareGreaterEqual
		case specs.OpGreaterThan:
			op = libseccomp.CompareGreater
		case specs.OpMaskedEqual:
			op = libseccomp.CompareMaskedEqual
		default:
			return nil, fmt.Errorf("seccomp: unsupported operator %q", a.Op)
		}
		values := []uint64{a.Value}
		if op == libseccomp.CompareMaskedEqual {
			values = []uint64{a.Value, a.ValueTwo}
		}
		c, err := libseccomp.MakeCondition(a.Index, op, values...)
		if err != nil {
			return nil, fmt.Errorf("seccomp: %w", err)
		}
		out = append(out, c)
	}
	return out, nil
}
