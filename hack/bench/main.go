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
	"io"
	"net"
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
	// The default network the runs create is a bridge and firewall rules on
	// the host: remove it before the state tree goes.
	defer exec.Command(mydocker, "--root", root, "network", "rm", "bridge").Run()
	bundle := filepath.Join(tmp, "bundle")
	if err := makeBundle(bundle, tarball); err != nil {
		return err
	}
	subjects := []*subject{
		{name: "mydocker run --rm busybox true", argv: []string{mydocker, "--root", root, "run", "--rm", "busybox", "true"}},
		{name: "mydocker run --rm --net none busybox true", argv: []string{mydocker, "--root", root, "run", "--rm", "--net", "none", "busybox", "true"}},
		// What the secure defaults cost: the same without seccomp, and
		// without any confinement.
		{name: "mydocker run --rm --net none --security-opt seccomp=unconfined busybox true", argv: []string{mydocker, "--root", root, "run", "--rm", "--net", "none", "--security-opt", "seccomp=unconfined", "busybox", "true"}},
		{name: "mydocker run --rm --net none --privileged busybox true", argv: []string{mydocker, "--root", root, "run", "--rm", "--net", "none", "--privileged", "busybox", "true"}},
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
	// Ratios of medians: mydocker's default run (bridge) against each
	// runtime, and mydocker --net none against each.
	for _, s := range subjects[2:] {
		if strings.HasPrefix(s.name, "mydocker") {
			fmt.Printf("\n`%s` / `%s` (median): %.2f", subjects[1].name, s.name, float64(pct(subjects[1].wall, 50))/float64(pct(s.wall, 50)))
			continue
		}
		fmt.Printf("\nmydocker (bridge) / %s: %.2f; mydocker --net none / %s: %.2f", s.name,
			float64(pct(subjects[0].wall, 50))/float64(pct(s.wall, 50)), s.name, float64(pct(subjects[1].wall, 50))/float64(pct(s.wall, 50)))
	}
	fmt.Printf("\nnetwork setup per container (median with the default bridge minus with --net none): %s\n",
		ms(pct(subjects[0].wall, 50)-pct(subjects[1].wall, 50)))
	return benchNetwork(mydocker, root, rounds)
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

// benchNetwork measures the network: the same endpoint set up with `ip`
// commands, a container publishing a port with hundreds of other
// containers' rules present, and TCP throughput through a published port.
func benchNetwork(mydocker, root string, rounds int) error {
	md := func(args ...string) (string, error) {
		out, err := exec.Command(mydocker, append([]string{"--root", root}, args...)...).CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("mydocker %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out)), nil
	}
	// The default network exists by now; set up an endpoint on its bridge
	// by hand, as the same steps with iproute2.
	var bridge string
	if out, err := md("network", "inspect", "bridge"); err == nil {
		var nets []struct{ Bridge string }
		json.Unmarshal([]byte(out), &nets)
		if len(nets) == 1 {
			bridge = nets[0].Bridge
		}
	}
	if bridge == "" {
		return fmt.Errorf("no default network")
	}
	var ipWall []time.Duration
	for i := 0; i < rounds/2; i++ {
		script := fmt.Sprintf(`ip netns add mdbench && ip link add mdbench0 mtu 1500 master %s type veth peer name eth0 netns mdbench &&
ip link set mdbench0 up && ip -n mdbench addr add 172.31.254.2/16 dev eth0 && ip -n mdbench link set eth0 up &&
ip -n mdbench link set lo up`, bridge)
		start := time.Now()
		out, err := exec.Command("sh", "-c", script).CombinedOutput()
		d := time.Since(start)
		exec.Command("ip", "link", "del", "mdbench0").Run() // synchronous, unlike the netns's
		exec.Command("ip", "netns", "del", "mdbench").Run()
		if err != nil {
			return fmt.Errorf("ip setup: %v: %s", err, out)
		}
		ipWall = append(ipWall, d)
	}
	fmt.Printf("the same endpoint with iproute2 (netns add, veth with peer in the netns, master, up, address, lo; 6 forks): %s median\n", ms(pct(ipWall, 50)))

	// Publishing a port, with 0 and then 300 other containers' worth of
	// rules (4 each) in mydocker's chains.
	for _, backend := range []string{"nftables", "iptables"} {
		if err := benchPublish(md, backend, rounds); err != nil {
			return err
		}
	}
	return benchThroughput(md)
}

// benchThroughput sends 512 MiB from the host to a container, through a
// published port and straight to the container's address.
func benchThroughput(md func(...string) (string, error)) error {
	id, err := md("run", "-d", "-p", "127.0.0.1:15001:5001", "busybox", "sh", "-c", "while :; do nc -l -p 5001 > /dev/null; done")
	if err != nil {
		return err
	}
	defer md("rm", "-f", id)
	ip, err := md("inspect", "-f", "{{.NetworkSettings.IPAddress}}", id)
	if err != nil {
		return err
	}
	send := func(addr string) (float64, error) {
		const total = 512 << 20
		var best float64
		for try := 0; try < 3; try++ {
			var c net.Conn
			for i := 0; i < 50; i++ {
				if c, err = net.Dial("tcp", addr); err == nil {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			if err != nil {
				return 0, err
			}
			buf := make([]byte, 256<<10)
			start := time.Now()
			for sent := 0; sent < total; sent += len(buf) {
				if _, err := c.Write(buf); err != nil {
					c.Close()
					return 0, err
				}
			}
			c.(*net.TCPConn).CloseWrite()
			io.Copy(io.Discard, c) // until the server closes: all data consumed
			c.Close()
			if mbps := float64(total) / time.Since(start).Seconds() / (1 << 20); mbps > best {
				best = mbps
			}
			time.Sleep(100 * time.Millisecond) // the loop restarts nc
		}
		return best, nil
	}
	direct, err := send(ip + ":5001")
	if err != nil {
		return err
	}
	published, err := send("127.0.0.1:15001")
	if err != nil {
		return err
	}
	fmt.Printf("TCP host -> container, best of 3 x 512 MiB: %.0f MiB/s straight to %s, %.0f MiB/s through the published port (%.0f%%)\n",
		direct, ip, published, 100*published/direct)
	return nil
}

// benchPublish times run --rm -p 80 on a network of the given firewall
// backend, alone on the host and beside 1,000 other published ports (600
// ports' worth of rules for iptables, as 300 containers with two each).
func benchPublish(md func(args ...string) (string, error), backend string, rounds int) error {
	net := "bench-" + backend[:3]
	subnet := map[string]string{"nftables": "172.30.251.0/24", "iptables": "172.30.250.0/24"}[backend]
	if _, err := md("network", "create", "--firewall", backend, "--subnet", subnet, net); err != nil {
		return err
	}
	defer md("network", "rm", net)
	publish := func() (time.Duration, error) {
		var ws []time.Duration
		for i := 0; i < rounds/2; i++ {
			start := time.Now()
			if _, err := md("run", "--rm", "--net", net, "-p", "80", "busybox", "true"); err != nil {
				return 0, err
			}
			ws = append(ws, time.Since(start))
		}
		return pct(ws, 50), nil
	}
	empty, err := publish()
	if err != nil {
		return err
	}
	var load, unload *exec.Cmd
	if backend == "nftables" {
		var add, del strings.Builder
		add.WriteString("add element ip mydocker pub_tcp { ")
		del.WriteString("delete element ip mydocker pub_tcp { ")
		for i := 0; i < 1000; i++ {
			fmt.Fprintf(&add, "%d comment \"mydocker-bench\" : 172.31.255.%d . 80, ", 20000+i, i%250+1)
			fmt.Fprintf(&del, "%d, ", 20000+i)
		}
		load = exec.Command("nft", strings.TrimSuffix(add.String(), ", ")+" }")
		unload = exec.Command("nft", strings.TrimSuffix(del.String(), ", ")+" }")
	} else {
		var batch strings.Builder
		batch.WriteString("*nat\n")
		for i := 0; i < 300; i++ {
			tag := fmt.Sprintf("mydocker-bench:%04d", i)
			for j := 0; j < 2; j++ {
				fmt.Fprintf(&batch, "-A MYDOCKER -d 203.0.113.%d/32 -p tcp -m tcp --dport %d -j DNAT --to-destination 172.31.255.1:80 -m comment --comment %q\n", i%250+1, 20000+i*2+j, tag)
			}
		}
		batch.WriteString("COMMIT\n*filter\n")
		for i := 0; i < 300; i++ {
			tag := fmt.Sprintf("mydocker-bench:%04d", i)
			for j := 0; j < 2; j++ {
				fmt.Fprintf(&batch, "-A MYDOCKER -d 172.31.255.%d/32 -p tcp -m tcp --dport %d -j ACCEPT -m comment --comment %q\n", i%250+1, 20000+i*2+j, tag)
			}
		}
		batch.WriteString("COMMIT\n")
		load = exec.Command("iptables-restore", "--noflush")
		load.Stdin = strings.NewReader(batch.String())
		unload = exec.Command("sh", "-c", `for t in nat filter; do iptables-save -t $t | grep -- 'mydocker-bench:' | sed 's/^-A/-D/' | (echo "*$t"; cat; echo COMMIT) | iptables-restore --noflush; done`)
	}
	if out, err := load.CombinedOutput(); err != nil {
		return fmt.Errorf("loading bench rules: %v: %s", err, out)
	}
	full, perr := publish()
	if out, err := unload.CombinedOutput(); err != nil {
		return fmt.Errorf("removing bench rules: %v: %s", err, out)
	}
	if perr != nil {
		return perr
	}
	other := map[string]string{"nftables": "1000 other published ports (map elements)", "iptables": "1200 other rules (300 containers' worth)"}[backend]
	fmt.Printf("run --rm -p 80 busybox true (%s): %s median alone, %s beside %s\n", backend, ms(empty), ms(full), other)
	return nil
}
