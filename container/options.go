package container

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// ResourceOptions are the resource flags of `run` as typed by the user.
type ResourceOptions struct {
	Memory     string
	MemorySwap string
	CPUs       string
	CPUShares  int64
	CpusetCpus string
	CpusetMems string
	PidsLimit  int64
}

// parseVolume turns "-v HOST:CONTAINER[:ro|rw]" into a bind mount.
func parseVolume(v string) (specs.Mount, error) {
	parts := strings.Split(v, ":")
	bad := func(why string) (specs.Mount, error) {
		return specs.Mount{}, fmt.Errorf("invalid volume specification: '%s': %s", v, why)
	}
	if len(parts) < 2 || len(parts) > 3 {
		return bad("expected HOST:CONTAINER[:ro|rw]")
	}
	host, dest := parts[0], parts[1]
	mode := "rw"
	if len(parts) == 3 {
		mode = parts[2]
	}
	if host == "" || dest == "" {
		return bad("empty path")
	}
	if !filepath.IsAbs(host) {
		return bad("the host path must be absolute (named volumes are not supported)")
	}
	if !filepath.IsAbs(dest) {
		return bad("the container path must be absolute")
	}
	if filepath.Clean(dest) == "/" {
		return bad("the container path cannot be '/'")
	}
	opts := []string{"rbind", "rprivate"}
	switch mode {
	case "rw":
	case "ro":
		opts = append(opts, "ro")
	default:
		return bad(fmt.Sprintf("unknown mode %q (ro or rw)", mode))
	}
	return specs.Mount{Destination: filepath.Clean(dest), Type: "bind", Source: filepath.Clean(host), Options: opts}, nil
}

var sizeRe = regexp.MustCompile(`^(\d+(?:\.\d+)?) ?([kKmMgGtTpP])?[iI]?[bB]?$`)

// ParseSize reads a size as Docker does: bytes, or with a binary unit
// (100m, 1g, 512k, 1.5G, 64MiB).
func ParseSize(s string) (int64, error) {
	m := sizeRe.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return 0, fmt.Errorf("invalid size %q (use bytes or a unit: 512k, 100m, 1g)", s)
	}
	n, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, fmt.Errorf("invalid size %q", s)
	}
	mult := map[string]float64{"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}[strings.ToLower(m[2])]
	if n*mult > math.MaxInt64 {
		return 0, fmt.Errorf("invalid size %q: too large", s)
	}
	return int64(n * mult), nil
}

// minMemory is Docker's floor for --memory: below it the container's own
// processes cannot start.
const minMemory = 6 << 20

// cfsPeriod is the CFS period --cpus is expressed in (100 ms, as Docker).
const cfsPeriod = 100000

// toSpec checks the resource flags and turns them into the spec's limits;
// errors name the flag.
func (o ResourceOptions) toSpec() (*specs.LinuxResources, error) {
	r := &specs.LinuxResources{}
	if o.Memory != "" {
		n, err := ParseSize(o.Memory)
		if err != nil {
			return nil, fmt.Errorf("--memory: %w", err)
		}
		if n < minMemory {
			return nil, fmt.Errorf("--memory: minimum memory limit allowed is 6MB")
		}
		r.Memory = &specs.LinuxMemory{Limit: &n}
	}
	if o.MemorySwap != "" {
		if r.Memory == nil {
			return nil, fmt.Errorf("--memory-swap: set --memory as well (--memory-swap is memory plus swap)")
		}
		var n int64 = -1
		if o.MemorySwap != "-1" {
			var err error
			if n, err = ParseSize(o.MemorySwap); err != nil {
				return nil, fmt.Errorf("--memory-swap: %w", err)
			}
			if n < *r.Memory.Limit {
				return nil, fmt.Errorf("--memory-swap: must be at least --memory (it counts memory plus swap)")
			}
		}
		r.Memory.Swap = &n
	}
	ncpu := int64(len(onlineCPUs()))
	if o.CPUs != "" {
		f, err := strconv.ParseFloat(o.CPUs, 64)
		if err != nil || math.IsNaN(f) {
			return nil, fmt.Errorf("--cpus: invalid value %q", o.CPUs)
		}
		if f <= 0 || f > float64(ncpu) {
			return nil, fmt.Errorf("--cpus: range of CPUs is from 0.01 to %d.00, as there are only %d CPUs available", ncpu, ncpu)
		}
		quota := int64(math.Round(f * cfsPeriod))
		if quota < 1000 {
			return nil, fmt.Errorf("--cpus: range of CPUs is from 0.01 to %d.00", ncpu)
		}
		period := uint64(cfsPeriod)
		r.CPU = &specs.LinuxCPU{Quota: &quota, Period: &period}
	}
	cpu := func() *specs.LinuxCPU {
		if r.CPU == nil {
			r.CPU = &specs.LinuxCPU{}
		}
		return r.CPU
	}
	if o.CPUShares != 0 {
		if o.CPUShares < 2 || o.CPUShares > 262144 {
			return nil, fmt.Errorf("--cpu-shares: %d is out of range (2 to 262144)", o.CPUShares)
		}
		s := uint64(o.CPUShares)
		cpu().Shares = &s
	}
	if o.CpusetCpus != "" {
		set, err := parseCPUList(o.CpusetCpus)
		if err != nil {
			return nil, fmt.Errorf("--cpuset-cpus: %w", err)
		}
		online := onlineCPUs()
		for c := range set {
			if !online[c] {
				return nil, fmt.Errorf("--cpuset-cpus: requested CPUs are not available - requested %s, available: %s", o.CpusetCpus, readTrim("/sys/devices/system/cpu/online"))
			}
		}
		cpu().Cpus = o.CpusetCpus
	}
	if o.CpusetMems != "" {
		set, err := parseCPUList(o.CpusetMems)
		if err != nil {
			return nil, fmt.Errorf("--cpuset-mems: %w", err)
		}
		nodes := readTrim("/sys/devices/system/node/online")
		if nodes == "" {
			nodes = "0"
		}
		online, _ := parseCPUList(nodes)
		for n := range set {
			if !online[n] {
				return nil, fmt.Errorf("--cpuset-mems: requested memory nodes are not available - requested %s, available: %s", o.CpusetMems, nodes)
			}
		}
		cpu().Mems = o.CpusetMems
	}
	if o.PidsLimit > 0 {
		l := o.PidsLimit
		r.Pids = &specs.LinuxPids{Limit: &l}
	} else if o.PidsLimit < -1 {
		return nil, fmt.Errorf("--pids-limit: %d is not a limit (a positive number, or -1 for none)", o.PidsLimit)
	}
	return r, nil
}

// parseCPUList reads a kernel list such as "0-3,5".
func parseCPUList(s string) (map[int]bool, error) {
	out := map[int]bool{}
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 {
			return nil, fmt.Errorf("invalid list %q", s)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return nil, fmt.Errorf("invalid list %q", s)
			}
		}
		if b-a > 4096 {
			return nil, fmt.Errorf("invalid list %q", s)
		}
		for i := a; i <= b; i++ {
			out[i] = true
		}
	}
	return out, nil
}

// onlineCPUs is the host's set of online CPUs.
func onlineCPUs() map[int]bool {
	set, err := parseCPUList(readTrim("/sys/devices/system/cpu/online"))
	if err != nil || len(set) == 0 {
		set = map[int]bool{}
		for i := 0; i < runtime.NumCPU(); i++ {
			set[i] = true
		}
	}
	return set
}

func readTrim(path string) string {
	data, _ := os.ReadFile(path)
	return strings.TrimSpace(string(data))
}
