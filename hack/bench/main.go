// Command bench runs the same container work with mydocker, runc and crun
// side by side, interleaved round by round so that all three see the same
// machine, and prints medians, ratios and peak RSS as a Markdown table.
//
//	go run ./hack/bench -mydocker bin/mydocker -tar busybox.tar
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

type subject struct {
	name string
	argv []string
	// what the run cost, one entry per round
	wall   []time.Duration
	maxRSS int64 // KiB, the largest seen
}

func main() {
	mydocker := flag.String("mydocker", "bin/mydocker", "the mydocker binary")
	tarball := flag.String("tar", "busybox.tar", "the busybox rootfs tarball")
	rounds := flag.Int("n", 100, "rounds")
	flag.Parse()
	if err := run(*mydocker, *tarball, *rounds); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(mydocker, tarball string, rounds int) error {
	tmp, err := os.MkdirTemp("", "mydocker-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	root := filepath.Join(tmp, "root")
	if out, err := exec.Command(mydocker, "--root", root, "import", tarball, "busybox").CombinedOutput(); err != nil {
		return fmt.Errorf("import: %v: %s", err, out)
	}
	bundle := filepath.Join(tmp, "bundle")
	if err := makeBundle(bundle, tarball); err != nil {
		return err
	}
	subjects := []*subject{
		{name: "mydocker run --rm busybox true", argv: []string{mydocker, "--root", root, "run", "--rm", "busybox", "true"}},
		{name: "mydocker run --rm --net none busybox true", argv: []string{mydocker, "--root", root, "run", "--rm", "--net", "none", "busybox", "true"}},
	}
	for _, rt := range []string{"runc", "crun"} {
		if path, err := exec.LookPath(rt); err == nil {
			subjects = append(subjects, &subject{name: rt + " run", argv: []string{path, "--root", filepath.Join(tmp, rt+"-state"), "run", "--bundle", bundle, "bench"}})
		} else {
			fmt.Fprintf(os.Stderr, "bench: %s not installed, left out\n", rt)
		}
	}
	for i := 0; i < 3; i++ { // warm caches
		for _, s := range subjects {
			if err := once(s, false); err != nil {
				return err
			}
		}
	}
	for r := 0; r < rounds; r++ {
		for i := range subjects {
			s := subjects[(i+r)%len(subjects)] // rotate who goes first
			if err := once(s, true); err != nil {
				return err
			}
		}
	}
	fmt.Printf("%d rounds, interleaved; %s\n\n", rounds, time.Now().UTC().Format("2006-01-02"))
	fmt.Println("| command | median | p10 | p90 | peak RSS |")
	fmt.Println("|---|---|---|---|---|")
	for _, s := range subjects {
		fmt.Printf("| `%s` | %s | %s | %s | %d KiB |\n", s.name, ms(pct(s.wall, 50)), ms(pct(s.wall, 10)), ms(pct(s.wall, 90)), s.maxRSS)
	}
	base := pct(subjects[0].wall, 50)
	for _, s := range subjects[2:] {
		fmt.Printf("\nmydocker / %s (median): %.2f", strings.Fields(s.name)[0], float64(base)/float64(pct(s.wall, 50)))
	}
	fmt.Println()
	return nil
}

func once(s *subject, record bool) error {
	cmd := exec.Command(s.argv[0], s.argv[1:]...)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	d := time.Since(start)
	if err != nil {
		return fmt.Errorf("%s: %v: %s", s.name, err, out)
	}
	if record {
		s.wall = append(s.wall, d)
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok && ru.Maxrss > s.maxRSS {
			s.maxRSS = ru.Maxrss
		}
	}
	return nil
}

// makeBundle writes an OCI bundle equivalent to `mydocker run busybox true`:
// the same rootfs and namespaces, from `runc spec`'s defaults.
func makeBundle(dir, tarball string) error {
	rootfs := filepath.Join(dir, "rootfs")
	if err := os.MkdirAll(rootfs, 0o755); err != nil {
		return err
	}
	if out, err := exec.Command("tar", "-xf", tarball, "-C", rootfs).CombinedOutput(); err != nil {
		return fmt.Errorf("tar: %v: %s", err, out)
	}
	runc, err := exec.LookPath("runc")
	if err != nil {
		return fmt.Errorf("runc is needed to write the bundle's config: %w", err)
	}
	if out, err := exec.Command(runc, "spec", "--bundle", dir).CombinedOutput(); err != nil {
		return fmt.Errorf("runc spec: %v: %s", err, out)
	}
	path := filepath.Join(dir, "config.json")
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var spec map[string]any
	if err := json.Unmarshal(data, &spec); err != nil {
		return err
	}
	proc := spec["process"].(map[string]any)
	proc["terminal"] = false
	proc["args"] = []string{"true"}
	spec["root"].(map[string]any)["readonly"] = false
	data, _ = json.MarshalIndent(spec, "", "  ")
	return os.WriteFile(path, data, 0o644)
}

func pct(ds []time.Duration, p int) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[(len(s)-1)*p/100]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }
