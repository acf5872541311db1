package cgroups

import (
	"errors"
	"fmt"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// freezer is the v1 freezer subsystem: pause and unpause stop and resume
// every process of the container at once.
type freezer struct{}

func (freezer) Name() string                            { return "freezer" }
func (freezer) Set(string, *specs.LinuxResources) error { return nil }

// freeze writes want to a freezer file and waits until read says done: the
// kernel freezes asynchronously.
func freeze(dir, file, want, stateFile string, done func(string) bool) error {
	if err := writeFile(dir, file, want); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	for i := 0; i < 1000; i++ {
		state, err := readFile(dir, stateFile)
		if err != nil {
			return err
		}
		if done(strings.TrimSpace(state)) {
			return nil
		}
		time.Sleep(time.Millisecond)
	}
	return errors.New("the processes did not freeze in time")
}

func (m *v1) Freeze(on bool) error {
	dir, ok := m.paths["freezer"]
	if !ok {
		return errors.New("the freezer cgroup controller is not mounted")
	}
	want := "THAWED"
	if on {
		want = "FROZEN"
	}
	return freeze(dir, "freezer.state", want, "freezer.state", func(s string) bool { return s == want })
}

func (m *v2) Freeze(on bool) error {
	want := "0"
	if on {
		want = "1"
	}
	return freeze(m.path, "cgroup.freeze", want, "cgroup.events", func(events string) bool {
		for _, line := range strings.Split(events, "\n") {
			if v, ok := strings.CutPrefix(line, "frozen "); ok {
				return v == want
			}
		}
		return false
	})
}

// Pids lists the processes in a v1 cgroup (its pids hierarchy's, or any).
func (m *v1) Pids() ([]int, error) {
	for _, s := range []string{"pids", "memory", "cpu", "freezer"} {
		if dir, ok := m.paths[s]; ok {
			return readPids(dir)
		}
	}
	return nil, errors.New("no cgroup v1 hierarchy to read processes from")
}

// Pids lists the processes in the v2 cgroup.
func (m *v2) Pids() ([]int, error) { return readPids(m.path) }

func readPids(dir string) ([]int, error) {
	data, err := readFile(dir, "cgroup.procs")
	if err != nil {
		return nil, err
	}
	var out []int
	for _, f := range strings.Fields(data) {
		var pid int
		if _, err := fmt.Sscan(f, &pid); err == nil {
			out = append(out, pid)
		}
	}
	return out, nil
}

// blkio is the v1 blkio subsystem, joined so that Stats can read the bytes
// a container read and wrote.
type blkio struct{}

func (blkio) Name() string                            { return "blkio" }
func (blkio) Set(string, *specs.LinuxResources) error { return nil }

// blkioBytes sums blkio.throttle.io_service_bytes' Read and Write lines.
func blkioBytes(dir string) (read, write uint64) {
	data, err := readFile(dir, "blkio.throttle.io_service_bytes")
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(data, "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			continue
		}
		var n uint64
		fmt.Sscan(f[2], &n)
		switch f[1] {
		case "Read":
			read += n
		case "Write":
			write += n
		}
	}
	return read, write
}
