// Command benchscale measures what a per-container command costs with many
// containers running beside it: each command on a host with one container,
// then with N more (run -d busybox sleep, every other one publishing a
// port), interleaved command by command; then the start and the removal of
// the N, and what their monitors hold in memory.
//
//	go run ./hack/benchscale -mydocker bin/mydocker -tar busybox.tar -n 1000
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

func main() {
	mydocker := flag.String("mydocker", "bin/mydocker", "the mydocker binary")
	tarball := flag.String("tar", "busybox.tar", "the busybox rootfs tarball")
	n := flag.Int("n", 1000, "containers to start")
	rounds := flag.Int("rounds", 10, "runs of each command, each time")
	flag.Parse()
	if err := run(*mydocker, *tarball, *n, *rounds); err != nil {
		fmt.Fprintln(os.Stderr, "benchscale:", err)
		os.Exit(1)
	}
}

type step struct {
	name string
	argv []string
}

func run(bin, tarball string, n, rounds int) error {
	tmp, err := os.MkdirTemp("", "mydocker-benchscale-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	root := filepath.Join(tmp, "root")
	md := func(args ...string) *exec.Cmd { return exec.Command(bin, append([]string{"--root", root}, args...)...) }
	must := func(args ...string) (string, error) {
		out, err := md(args...).CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("mydocker %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return string(out), nil
	}
	if _, err := must("import", tarball, "busybox"); err != nil {
		return err
	}
	defer func() {
		if ids := strings.Fields(must2(md("ps", "-aq", "--no-trunc"))); len(ids) > 0 {
			md(append([]string{"rm", "-f"}, ids...)...).Run()
		}
		md("network", "rm", "bridge").Run()
	}()
	if _, err := must("run", "-d", "--name", "probe", "busybox", "sleep", "1000000"); err != nil {
		return err
	}
	steps := []step{
		{name: "run --rm --net none busybox true", argv: []string{"run", "--rm", "--net", "none", "busybox", "true"}},
		{name: "run --rm busybox true", argv: []string{"run", "--rm", "busybox", "true"}},
		{name: "run --rm -p 80 busybox true", argv: []string{"run", "--rm", "-p", "80", "busybox", "true"}},
		{name: "exec probe true", argv: []string{"exec", "probe", "true"}},
		{name: "inspect probe", argv: []string{"inspect", "probe"}},
		{name: "ps", argv: []string{"ps"}},
		{name: "run -d (one more)", argv: []string{"run", "-d", "--name", "one", "busybox", "sleep", "1000000"}},
		{name: "stop -t 0 of one", argv: []string{"stop", "-t", "0", "one"}},
		{name: "rm of one", argv: []string{"rm", "one"}},
	}
	measure := func() ([]time.Duration, error) {
		walls := make([][]time.Duration, len(steps))
		for r := 0; r < rounds; r++ {
			for i, s := range steps {
				start := time.Now()
				if out, err := md(s.argv...).CombinedOutput(); err != nil {
					return nil, fmt.Errorf("%s: %v: %s", s.name, err, out)
				}
				walls[i] = append(walls[i], time.Since(start))
			}
		}
		med := make([]time.Duration, len(steps))
		for i, w := range walls {
			sort.Slice(w, func(a, b int) bool { return w[a] < w[b] })
			med[i] = w[len(w)/2]
		}
		return med, nil
	}
	empty, err := measure()
	if err != nil {
		return err
	}
	emptyTrace := tracePhases(md)

	start := time.Now()
	for i := 0; i < n; i++ {
		args := []string{"run", "-d", "busybox", "sleep", "1000000"}
		if i%2 == 1 {
			args = []string{"run", "-d", "-p", "80", "busybox", "sleep", "1000000"}
		}
		if _, err := must(args...); err != nil {
			return err
		}
	}
	startAll := time.Since(start)
	full, err := measure()
	if err != nil {
		return err
	}
	fullTrace := tracePhases(md)
	rss, pss, monitors := monitorMemory(root)

	ids := strings.Fields(must2(md("ps", "-aq", "--no-trunc")))
	start = time.Now()
	if _, err := must(append([]string{"rm", "-f"}, ids...)...); err != nil {
		return err
	}
	rmAll := time.Since(start)

	fmt.Printf("%d containers, half of them publishing a port, beside one (probe); %d runs of each command each time, interleaved; medians\n\n", n, rounds)
	fmt.Printf("| command | 1 running | %d running | ratio |\n|---|---|---|---|\n", n+1)
	for i, s := range steps {
		fmt.Printf("| `%s` | %s | %s | %.2f |\n", s.name, ms(empty[i]), ms(full[i]), float64(full[i])/float64(empty[i]))
	}
	fmt.Printf("\nphases of `run --rm -p 80 busybox true` (--log-level debug; medians of 5)\n\n| phase | 1 running | %d running |\n|---|---|---|\n", n+1)
	for i, p := range emptyTrace {
		if i < len(fullTrace) && fullTrace[i].name == p.name {
			fmt.Printf("| %s | %.2f ms | %.2f ms |\n", p.name, p.ms, fullTrace[i].ms)
		}
	}
	fmt.Printf("\nstarting the %d (run -d, one after another): %.1f s, %s each\n", n, startAll.Seconds(), ms(startAll/time.Duration(n)))
	fmt.Printf("rm -f of all %d in one command: %.1f s, %s each\n", len(ids), rmAll.Seconds(), ms(rmAll/time.Duration(len(ids))))
	fmt.Printf("the %d monitors: %.0f MB RSS, %.0f MB PSS (%.1f MB each)\n", monitors, rss/1e6, pss/1e6, pss/1e6/float64(max(monitors, 1)))
	return nil
}

func must2(c *exec.Cmd) string {
	out, _ := c.Output()
	return string(out)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

// monitorMemory adds up the RSS and PSS of the monitors of the state tree.
func monitorMemory(root string) (rss, pss float64, count int) {
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		cmdline, _ := os.ReadFile(p + "/cmdline")
		args := strings.Split(string(cmdline), "\x00")
		if !strings.Contains(string(cmdline), root) || !slices.Contains(args, "monitor") {
			continue
		}
		count++
		f, err := os.Open(p + "/smaps_rollup")
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 2 {
				continue
			}
			kb, _ := strconv.ParseFloat(fields[1], 64)
			switch fields[0] {
			case "Rss:":
				rss += kb * 1024
			case "Pss:":
				pss += kb * 1024
			}
		}
		f.Close()
	}
	return rss, pss, count
}

type phaseTime struct {
	name string
	ms   float64
}

// tracePhases runs one published-port run five times at --log-level debug
// and returns the median length of each phase it logs.
func tracePhases(md func(args ...string) *exec.Cmd) []phaseTime {
	var names []string
	times := map[string][]float64{}
	for r := 0; r < 5; r++ {
		out, _ := md("--log-level", "debug", "run", "--rm", "-p", "80", "busybox", "true").CombinedOutput()
		for _, line := range strings.Split(string(out), "\n") {
			_, rest, ok := strings.Cut(line, "msg=\"phase ")
			if !ok {
				continue
			}
			f := strings.Fields(rest)
			i := len(f) - 5 // ... NAME  D ms  (at T ms)"
			if i < 1 {
				continue
			}
			name := strings.Join(f[:i], " ")
			d, _ := strconv.ParseFloat(f[i], 64)
			if _, seen := times[name]; !seen {
				names = append(names, name)
			}
			times[name] = append(times[name], d)
		}
	}
	var out []phaseTime
	for _, name := range names {
		t := times[name]
		sort.Float64s(t)
		out = append(out, phaseTime{name, t[len(t)/2]})
	}
	return out
}
