// Package cgroups puts a container's processes in a cgroup of its own and
// enforces its resource limits, on cgroup v1 hierarchies (one directory per
// subsystem) or the cgroup v2 unified tree. A container's cgroup is always
// <hierarchy>/mydocker/<container-id>, by absolute path: never beneath the
// cgroup mydocker itself happens to run in.
package cgroups

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Parent is the cgroup every container's cgroup lives in.
const Parent = "mydocker"

// Manager is one container's cgroup.
type Manager interface {
	// Create makes the cgroup and applies the limits; on failure it leaves
	// nothing behind.
	Create(r *specs.LinuxResources) error
	// Apply moves a process (and so its future children) into the cgroup.
	Apply(pid int) error
	// SelfJoin says how a process about to start joins the cgroup itself,
	// without the cost of Apply: on v1, the tasks files it writes 0 to
	// while it has one thread (the nsenter constructor does); on v2, the
	// directory to clone it into (CLONE_INTO_CGROUP).
	SelfJoin() (tasks []string, dir string)
	// OOMKilled reports whether the kernel's OOM killer killed a process in
	// the cgroup.
	OOMKilled() bool
	// Stats reads what the cgroup has used.
	Stats() (Stats, error)
	// Freeze stops (on) or resumes every process in the cgroup, and
	// returns once the kernel has done it.
	Freeze(on bool) error
	// Pids lists the processes in the cgroup.
	Pids() ([]int, error)
	// Destroy kills what is left in the cgroup and removes it; it is safe to
	// call on a cgroup that is already gone.
	Destroy() error
}

// Stats is a cgroup's resource usage.
type Stats struct {
	MemoryBytes   uint64 // current memory usage
	CPUUsageNanos uint64 // CPU time consumed, all CPUs
	Pids          uint64 // processes and threads
	// MemoryLimit is the limit (0: none); MemoryCache the inactive file
	// pages, which docker stats leaves out of the usage it shows.
	MemoryLimit, MemoryCache uint64 `json:",omitempty"`
	// BlockRead and BlockWrite are bytes read and written on block devices.
	BlockRead, BlockWrite uint64 `json:",omitempty"`
}

// LimitError is a limit the kernel refused; Resource names it as the user
// asked for it (memory, memory-swap, cpus, cpu-shares, cpuset-cpus,
// cpuset-mems, pids-limit).
type LimitError struct {
	Resource, File, Value string
	Err                   error
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("the kernel refused %s=%s (%s): %v", e.Resource, e.Value, filepath.Base(e.File), e.Err)
}

func (e *LimitError) Unwrap() error { return e.Err }

// Root is where the cgroup filesystems are mounted.
var Root = "/sys/fs/cgroup"

// IsV2 reports whether Root is the cgroup v2 unified hierarchy.
func IsV2() bool {
	var st unix.Statfs_t
	return unix.Statfs(Root, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC
}

// New returns the manager of the cgroup named id (under Parent), without
// creating anything.
func New(id string) Manager {
	if IsV2() {
		return &v2{path: filepath.Join(Root, Parent, id)}
	}
	return newV1(id)
}

func writeFile(dir, file, value string) error {
	return os.WriteFile(filepath.Join(dir, file), []byte(value), 0o644)
}

func readFile(dir, file string) (string, error) {
	data, err := os.ReadFile(filepath.Join(dir, file))
	return strings.TrimSpace(string(data)), err
}

// limit writes one limit, turning a refusal into a LimitError.
func limit(dir, file, value, resource string) error {
	if err := writeFile(dir, file, value); err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return &LimitError{Resource: resource, File: file, Value: value, Err: err}
	}
	return nil
}

// keyValue reads "key N" lines (memory.events, memory.oom_control).
func keyValue(dir, file, key string) uint64 {
	data, err := readFile(dir, file)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(data, "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == key {
			n, _ := strconv.ParseUint(f[1], 10, 64)
			return n
		}
	}
	return 0
}

func readUint(dir, file string) uint64 {
	s, err := readFile(dir, file)
	if err != nil {
		return 0
	}
	n, _ := strconv.ParseUint(s, 10, 64)
	return n
}

// removeDir removes a cgroup directory: processes still in it are killed,
// and the removal is retried while the kernel still counts them.
func removeDir(dir string) error {
	var err error
	for i := 0; i < 200; i++ {
		err = unix.Rmdir(dir)
		if err == nil || errors.Is(err, unix.ENOENT) {
			return nil
		}
		if !errors.Is(err, unix.EBUSY) {
			break
		}
		killAll(dir)
		time.Sleep(time.Duration(min(i+1, 10)) * 5 * time.Millisecond)
	}
	return fmt.Errorf("removing cgroup %s: %w", dir, err)
}

// killAll sends SIGKILL to every process in a cgroup of ours.
func killAll(dir string) {
	data, _ := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	for _, f := range strings.Fields(string(data)) {
		if pid, err := strconv.Atoi(f); err == nil && pid > 0 {
			unix.Kill(pid, unix.SIGKILL)
		}
	}
}

// mkdirParent makes the shared parent; it may be removed by another
// container's teardown at any moment, so callers retry on ENOENT.
func mkdirParent(dir string) error {
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	return nil
}

// removeParent removes the shared parent once no container uses it.
func removeParent(dir string) {
	unix.Rmdir(dir) // ENOTEMPTY/EBUSY: other containers are still there
}
