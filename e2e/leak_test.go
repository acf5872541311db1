package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// hostSnapshot is what the leak check compares: everything on the host that
// mydocker could leave behind.
type hostSnapshot map[string]bool

func snapshotHost() hostSnapshot {
	s := hostSnapshot{}
	if data, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if f := strings.Fields(line); len(f) > 4 {
				s["mount "+f[4]] = true
			}
		}
	}
	for _, pattern := range []string{"/sys/fs/cgroup/*/mydocker*", "/sys/fs/cgroup/mydocker*"} {
		matches, _ := filepath.Glob(pattern)
		for _, m := range matches {
			s["cgroup "+m] = true
		}
	}
	if out, err := exec.Command("ip", "-o", "link", "show").Output(); err == nil {
		for _, line := range strings.Split(string(out), "\n") {
			if f := strings.Fields(line); len(f) > 1 {
				name := strings.SplitN(strings.TrimSuffix(f[1], ":"), "@", 2)[0]
				if strings.HasPrefix(name, "md") || strings.HasPrefix(name, "veth") || strings.Contains(name, "mydocker") {
					s["link "+name] = true
				}
			}
		}
	}
	for _, table := range []string{"filter", "nat"} {
		out, _ := exec.Command("iptables", "-t", table, "-S").Output()
		for _, line := range strings.Split(string(out), "\n") {
			if strings.Contains(strings.ToLower(line), "mydocker") {
				s["iptables -t "+table+" "+line] = true
			}
		}
	}
	// The nftables backend's table, and whatever is in it.
	if out, err := exec.Command("nft", "list", "table", "ip", "mydocker").Output(); err == nil {
		for _, line := range strings.Split(string(out), "\n") {
			if l := strings.TrimSpace(line); l != "" && l != "}" {
				s["nft "+l] = true
			}
		}
	}
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		cmdline, _ := os.ReadFile(p + "/cmdline")
		cgroup, _ := os.ReadFile(p + "/cgroup")
		if strings.Contains(string(cmdline), root) || strings.Contains(string(cgroup), "/mydocker/") {
			s["process "+filepath.Base(p)+" "+strings.ReplaceAll(string(cmdline), "\x00", " ")] = true
		}
	}
	for _, d := range stateEntries() {
		s["state "+d] = true
	}
	return s
}

// leakCheck lists what is on the host now and was not before the suite. It
// looks again for a few seconds: the kernel deletes a container's veth with
// its network namespace, just after the container is gone.
func leakCheck(before hostSnapshot) []string {
	var leaks []string
	for try := 0; try < 30; try++ {
		leaks = leaks[:0]
		for k := range snapshotHost() {
			if !before[k] {
				leaks = append(leaks, k)
			}
		}
		if len(leaks) == 0 {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	sort.Strings(leaks)
	return leaks
}
