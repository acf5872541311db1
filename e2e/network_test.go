package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// hostIP is an address of the host's own (not of a mydocker bridge).
func hostIP(t *testing.T) string {
	t.Helper()
	ifaces, _ := net.Interfaces()
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagLoopback != 0 || ifc.Flags&net.FlagUp == 0 || strings.HasPrefix(ifc.Name, "md") {
			continue
		}
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil {
				return ipn.IP.String()
			}
		}
	}
	t.Fatal("the host has no IPv4 address")
	return ""
}

// get fetches a URL, retrying briefly while the server starts.
func get(t *testing.T, url string) (string, error) {
	t.Helper()
	client := &http.Client{Timeout: 3 * time.Second}
	var err error
	for i := 0; i < 20; i++ {
		var resp *http.Response
		if resp, err = client.Get(url); err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return string(body), nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return "", err
}

const page = "<h1>hello from mydocker</h1>\n"

func httpd(t *testing.T, name string, args ...string) string {
	t.Helper()
	id := strings.TrimSpace(must(t, append(append([]string{"run", "-d", "--name", name}, args...), "busybox", "httpd", "-f", "-p", "80", "-h", "/var/www")...))
	rmAfter(t, name)
	return id
}

func ip(t *testing.T, name string) string {
	t.Helper()
	return inspect(t, name, "{{.NetworkSettings.IPAddress}}")
}

// The book's test: a network, two containers on it that reach each other.
func TestNetworkBook(t *testing.T) {
	id := strings.TrimSpace(must(t, "network", "create", "--driver", "bridge", "--subnet", "192.168.10.0/24", "testbridge"))
	t.Cleanup(func() { mydocker("network", "rm", "testbridge") })
	if !fullID.MatchString(id) {
		t.Fatalf("network create printed %q", id)
	}
	if ls := must(t, "network", "ls"); !regexp.MustCompile(`(?m)^` + id[:12] + `\s+testbridge\s+bridge\s+192\.168\.10\.0/24\s+192\.168\.10\.1\s+md-`).MatchString(ls) {
		t.Fatalf("network ls:\n%s", ls)
	}
	must(t, "run", "-d", "--name", "a", "--net", "testbridge", "busybox", "sleep", "1000")
	rmAfter(t, "a")
	a := ip(t, "a")
	if a != "192.168.10.2" {
		t.Fatalf("first container got %s", a)
	}
	r := expect(t, 0, "run", "--rm", "--net", "testbridge", "busybox", "sh", "-c", "ping -c 1 -W 3 "+a+" && ip route && hostname -i")
	if !strings.Contains(r.stdout, "1 packets received") || !strings.Contains(r.stdout, "default via 192.168.10.1 dev eth0") {
		t.Fatalf("ping between containers: %q", r.stdout)
	}
	r = expect(t, 0, "exec", "a", "sh", "-c", "tail -1 /etc/hosts; ping -c 1 -W 3 192.168.10.1 >/dev/null && echo gw-ok")
	if !strings.HasPrefix(r.stdout, "192.168.10.2\t") || !strings.Contains(r.stdout, " a\n") || !strings.Contains(r.stdout, "gw-ok") {
		t.Fatalf("/etc/hosts and gateway: %q", r.stdout)
	}
	var nets []struct {
		Name, Subnet, Gateway, Bridge string
		Containers                    map[string]struct{ Name, IPv4Address string }
	}
	if err := json.Unmarshal([]byte(must(t, "network", "inspect", "testbridge")), &nets); err != nil || len(nets) != 1 {
		t.Fatalf("network inspect: %v", err)
	}
	if n := nets[0]; n.Subnet != "192.168.10.0/24" || n.Gateway != "192.168.10.1" || len(n.Containers) != 1 {
		t.Fatalf("network inspect: %+v", n)
	}
	for _, c := range nets[0].Containers {
		if c.Name != "a" || c.IPv4Address != "192.168.10.2/24" {
			t.Fatalf("network inspect container: %+v", c)
		}
	}
	// Not while a container is attached; the message names it.
	r = expect(t, 1, "network", "rm", "testbridge")
	if !strings.Contains(r.stderr, "a") || !strings.Contains(r.stderr, "active endpoints") {
		t.Fatalf("network rm with a container attached: %q", r.stderr)
	}
	must(t, "rm", "-f", "a")
	must(t, "network", "rm", "testbridge")
	if out, _ := exec.Command("ip", "link", "show", nets[0].Bridge).CombinedOutput(); !strings.Contains(string(out), "does not exist") {
		t.Fatalf("the bridge outlived its network: %s", out)
	}
}

func TestPublishedPorts(t *testing.T) {
	httpd(t, "web", "-p", "8080:80")
	host := hostIP(t)
	for _, url := range []string{"http://localhost:8080/", "http://127.0.0.1:8080/", "http://" + host + ":8080/", "http://" + ip(t, "web") + ":80/"} {
		if body, err := get(t, url); err != nil || body != page {
			t.Fatalf("%s: %q %v", url, body, err)
		}
	}
	if ps := must(t, "ps"); !strings.Contains(ps, "0.0.0.0:8080->80/tcp") {
		t.Fatalf("ps does not show the port:\n%s", ps)
	}
	// A host port picked from the dynamic range, shown by ps and port.
	httpd(t, "web2", "-p", "80")
	out := strings.TrimSpace(must(t, "port", "web2"))
	m := regexp.MustCompile(`^80/tcp -> 0\.0\.0\.0:(\d+)$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("port: %q", out)
	}
	if p, _ := strconv.Atoi(m[1]); p < 49153 || p > 65535 {
		t.Fatalf("dynamic port %d outside 49153-65535", p)
	}
	if body, err := get(t, "http://127.0.0.1:"+m[1]+"/"); err != nil || body != page {
		t.Fatalf("dynamic port: %q %v", body, err)
	}
	// Bound to loopback only: reachable there, not on the host's address.
	httpd(t, "local", "-p", "127.0.0.1:8081:80")
	if body, err := get(t, "http://127.0.0.1:8081/"); err != nil || body != page {
		t.Fatalf("127.0.0.1:8081: %q %v", body, err)
	}
	c, err := net.DialTimeout("tcp", host+":8081", time.Second)
	if err == nil {
		c.Close()
		t.Fatal("a port published on 127.0.0.1 answers on the host's address")
	}
	// From another container, through the host's address; and hairpin,
	// from the container to its own published port.
	r := expect(t, 0, "run", "--rm", "busybox", "timeout", "5", "wget", "-q", "-O", "-", "http://"+host+":8080/")
	if r.stdout != page {
		t.Fatalf("container -> host:8080: %q", r.stdout)
	}
	r = expect(t, 0, "exec", "web", "timeout", "5", "wget", "-q", "-O", "-", "http://"+host+":8080/")
	if r.stdout != page {
		t.Fatalf("hairpin: %q", r.stdout)
	}
}

func TestPublishedUDP(t *testing.T) {
	must(t, "run", "-d", "--name", "udp", "-p", "5353:53/udp", "-v", toolsDir+":/tools:ro", "busybox", "/tools/udpecho", "53")
	rmAfter(t, "udp")
	c, err := net.Dial("udp", "127.0.0.1:5353")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 64)
	for i := 0; i < 30; i++ {
		c.Write([]byte("ping"))
		c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		if n, err := c.Read(buf); err == nil {
			if string(buf[:n]) != "ping" {
				t.Fatalf("got %q", buf[:n])
			}
			return
		}
	}
	t.Fatal("no UDP answer through -p 5353:53/udp")
}

// A network namespace of the test's own, routed through the host, stands
// for another host on the network.
func TestFromAnotherHost(t *testing.T) {
	httpd(t, "served", "-p", "8082:80")
	httpd(t, "loopbackonly", "-p", "127.0.0.1:8083:80")
	netnsAdd(t, "mdtest-other")
	sh(t, "ip link add mdt-h0 type veth peer name mdt-o0 netns mdtest-other")
	t.Cleanup(func() { exec.Command("ip", "link", "del", "mdt-h0").Run() })
	sh(t, "ip addr add 198.18.0.1/30 dev mdt-h0 && ip link set mdt-h0 up")
	sh(t, "ip netns exec mdtest-other sh -c 'ip addr add 198.18.0.2/30 dev mdt-o0 && ip link set mdt-o0 up && ip link set lo up'")
	out, err := exec.Command("ip", "netns", "exec", "mdtest-other", "curl", "-s", "-m", "5", "--retry", "3", "--retry-connrefused", "http://198.18.0.1:8082/").CombinedOutput()
	if err != nil || string(out) != page {
		t.Fatalf("another host -> host:8082: %q %v", out, err)
	}
	if out, err := exec.Command("ip", "netns", "exec", "mdtest-other", "curl", "-s", "-m", "2", "http://198.18.0.1:8083/").CombinedOutput(); err == nil {
		t.Fatalf("another host reached a port published on 127.0.0.1: %q", out)
	}
	// A container's address is not reachable from outside, even on the
	// port it publishes: only through the host port.
	sh(t, "ip netns exec mdtest-other ip route add "+ip(t, "served")+"/32 via 198.18.0.1")
	if out, err := exec.Command("ip", "netns", "exec", "mdtest-other", "curl", "-s", "-m", "2", "http://"+ip(t, "served")+":80/").CombinedOutput(); err == nil {
		t.Fatalf("another host reached a container's unpublished port directly: %q", out)
	}
}

func sh(t *testing.T, script string) {
	t.Helper()
	if out, err := exec.Command("sh", "-c", script).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v: %s", script, err, out)
	}
}

func TestNetworkIsolation(t *testing.T) {
	must(t, "network", "create", "--subnet", "10.231.1.0/24", "neta")
	must(t, "network", "create", "--subnet", "10.231.2.0/24", "netb")
	t.Cleanup(func() { mydocker("network", "rm", "neta", "netb") })
	for _, c := range [][2]string{{"a1", "neta"}, {"a2", "neta"}, {"b1", "netb"}} {
		must(t, "run", "-d", "--name", c[0], "--net", c[1], "busybox", "sleep", "1000")
		rmAfter(t, c[0])
	}
	ping := func(from, to string) bool {
		return mydocker("exec", from, "ping", "-c", "1", "-W", "1", ip(t, to)).code == 0
	}
	if !ping("a1", "a2") {
		t.Fatal("containers on one network cannot reach each other")
	}
	if ping("a1", "b1") || ping("b1", "a1") {
		t.Fatal("containers on different networks reach each other")
	}
	// Both reach their own gateway, i.e. the host.
	if mydocker("exec", "b1", "ping", "-c", "1", "-W", "1", "10.231.2.1").code != 0 {
		t.Fatal("a container cannot reach its gateway")
	}
}

func TestNetNoneAndHost(t *testing.T) {
	r := expect(t, 0, "run", "--rm", "--net", "none", "busybox", "ls", "/sys/class/net")
	if strings.TrimSpace(r.stdout) != "lo" {
		t.Fatalf("--net none: %q", r.stdout)
	}
	r = expect(t, 0, "run", "--rm", "-net", "host", "busybox", "ls", "/sys/class/net")
	hostLinks, _ := os.ReadDir("/sys/class/net")
	if len(strings.Fields(r.stdout)) != len(hostLinks) {
		t.Fatalf("--net host sees %q, the host has %d links", r.stdout, len(hostLinks))
	}
	r = expect(t, 0, "run", "--rm", "busybox", "ls", "/sys/class/net")
	if strings.Join(strings.Fields(r.stdout), " ") != "eth0 lo" {
		t.Fatalf("default network: %q", r.stdout)
	}
}

// Removing a container leaves no veth, rule, port or address behind.
func TestNetworkTeardown(t *testing.T) {
	id := httpd(t, "teardown", "-p", "8084:80")
	addr := ip(t, "teardown")
	veth := "md" + id[:13]
	if _, err := net.InterfaceByName(veth); err != nil {
		t.Fatalf("no host veth %s while running: %v", veth, err)
	}
	must(t, "rm", "-f", "teardown")
	checkReleased(t, id, addr, 8084)
}

// checkReleased asserts that nothing of a container's network is left.
func checkReleased(t *testing.T, id, addr string, port int) {
	t.Helper()
	// The kernel deletes the veth with the container's namespace, just
	// after the container is gone.
	waitFor(t, 3*time.Second, "the host veth to go", func() bool {
		_, err := net.InterfaceByName("md" + id[:13])
		return err != nil
	})
	for _, table := range []string{"filter", "nat"} {
		out, _ := exec.Command("iptables-save", "-t", table).Output()
		if strings.Contains(string(out), "mydocker:"+id[:12]) {
			t.Fatalf("rules of the container left in %s", table)
		}
	}
	pools, _ := filepath.Glob(filepath.Join(root, "run/network/ipam/*.json"))
	for _, p := range pools {
		data, _ := os.ReadFile(p)
		var pool struct {
			Subnet    string
			Allocated [][2]uint32
		}
		json.Unmarshal(data, &pool)
		_, subnet, _ := net.ParseCIDR(pool.Subnet)
		if !subnet.Contains(net.ParseIP(addr)) {
			continue
		}
		off := uint32(net.ParseIP(addr).To4()[3]) | uint32(net.ParseIP(addr).To4()[2])<<8 // within a /16 or smaller
		for _, r := range pool.Allocated {
			if off >= r[0] && off < r[0]+r[1] {
				t.Fatalf("address %s still allocated: %s", addr, data)
			}
		}
	}
	if port > 0 {
		data, _ := os.ReadFile(filepath.Join(root, "run/network/ports.json"))
		if strings.Contains(string(data), "/"+strconv.Itoa(port)+"\"") {
			t.Fatalf("port %d still allocated: %s", port, data)
		}
		l, err := net.Listen("tcp", fmt.Sprintf(":%d", port))
		if err != nil {
			t.Fatalf("port %d not free: %v", port, err)
		}
		l.Close()
	}
}

// A killed `mydocker run` leaves nothing the next command does not reclaim.
func TestKilledRunLeavesNoNetwork(t *testing.T) {
	cmd := exec.Command(bin, "--root", root, "run", "--name", "killed", "-p", "8085:80", "busybox", "httpd", "-f", "-p", "80")
	cmd.Env = mydockerEnv()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	rmAfter(t, "killed")
	var id, addr string
	waitFor(t, 10*time.Second, "the container to run", func() bool {
		r := mydocker("inspect", "-f", "{{.ID}} {{.NetworkSettings.IPAddress}}", "killed")
		f := strings.Fields(r.stdout)
		if len(f) == 2 {
			id, addr = f[0], f[1]
		}
		return addr != "" && addr != "<nil>"
	})
	cmd.Process.Kill()
	cmd.Wait()
	must(t, "ps", "-a")
	checkReleased(t, id, addr, 8085)
	// And the port can be published again at once.
	httpd(t, "again", "-p", "8085:80")
}

func TestPortConflicts(t *testing.T) {
	httpd(t, "first", "-p", "8086:80")
	before := strings.Join(stateEntries(), " ")
	r := expect(t, 125, "run", "-d", "-p", "8086:80", "busybox", "true")
	oneLineError(t, r)
	if !strings.Contains(r.stderr, "8086") {
		t.Fatalf("the error does not name the port: %q", r.stderr)
	}
	// A port a host process holds.
	l, err := net.Listen("tcp", ":8087")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	r = expect(t, 125, "run", "-d", "-p", "8087:80", "busybox", "true")
	oneLineError(t, r)
	if !strings.Contains(r.stderr, "8087") {
		t.Fatalf("the error does not name the port: %q", r.stderr)
	}
	// Failed runs leave exited records (as Docker leaves created ones),
	// but hold no network resources.
	after := stateEntries()
	for _, e := range after {
		if !strings.Contains(before, e) {
			id := filepath.Base(e)
			if len(id) == 64 {
				mydocker("rm", id)
			}
		}
	}
	data, _ := os.ReadFile(filepath.Join(root, "run/network/ports.json"))
	if strings.Count(string(data), "/80") > 0 && strings.Count(string(data), "\"tcp//8086\"") != 1 {
		t.Fatalf("ports after refusals: %s", data)
	}
}

func TestNetworkBadInput(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"run", "--rm", "-p", "80:80:80:80", "busybox", "true"}, 125},
		{[]string{"run", "--rm", "-p", "99999:80", "busybox", "true"}, 125},
		{[]string{"run", "--rm", "-p", "8080:0", "busybox", "true"}, 125},
		{[]string{"run", "--rm", "-p", "8080:80/sctp", "busybox", "true"}, 125},
		{[]string{"run", "--rm", "-p", "300.1.1.1:8080:80", "busybox", "true"}, 125},
		{[]string{"run", "--rm", "-p", "abc", "busybox", "true"}, 125},
		{[]string{"run", "--rm", "-p", "80", "--net", "none", "busybox", "true"}, 125},
		{[]string{"run", "--rm", "--net", "no-such-net", "busybox", "true"}, 125},
		{[]string{"network", "create", "--subnet", "10.0.0.0/33", "bad1"}, 1},
		{[]string{"network", "create", "--subnet", "10.0.0.1/24", "bad2"}, 1},
		{[]string{"network", "create", "--subnet", "banana", "bad3"}, 1},
		{[]string{"network", "create", "--subnet", "10.232.0.0/24", "--gateway", "10.9.9.9", "bad4"}, 1},
		{[]string{"network", "create", "--subnet", "10.232.0.0/31", "bad5"}, 1},
		{[]string{"network", "create", "--subnet", "fd00::/64", "bad6"}, 1},
		{[]string{"network", "create", "-d", "overlay", "bad7"}, 1},
		{[]string{"network", "create", "bad name"}, 1},
		{[]string{"network", "create", "host"}, 1},
		{[]string{"network", "create", "--subnet", "192.0.2.0/25", "overlaps-host"}, 1},
		{[]string{"network", "rm", "no-such-net"}, 1},
		{[]string{"network", "inspect", "no-such-net"}, 1},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			before := strings.Join(stateEntries(), " ")
			netsBefore := must(t, "network", "ls")
			r := expect(t, tc.code, tc.args...)
			if tc.args[0] != "network" || tc.args[1] != "inspect" {
				oneLineError(t, r)
			}
			if after := strings.Join(stateEntries(), " "); after != before {
				t.Fatalf("state changed: %q", after)
			}
			if after := must(t, "network", "ls"); after != netsBefore {
				t.Fatalf("networks changed:\n%s", after)
			}
		})
	}
	must(t, "network", "create", "--subnet", "10.233.0.0/16", "first")
	t.Cleanup(func() { mydocker("network", "rm", "first") })
	oneLineError(t, expect(t, 1, "network", "create", "--subnet", "10.233.5.0/24", "overlapping"))
	oneLineError(t, expect(t, 1, "network", "create", "--subnet", "10.234.0.0/24", "first"))
}

// Twenty containers started at once, each publishing a port: distinct
// addresses, distinct host ports.
func TestConcurrentNetworkRuns(t *testing.T) {
	const n = 20
	var wg sync.WaitGroup
	ids := make([]string, n)
	for i := range ids {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r := mydocker("run", "-d", "-p", "80", "busybox", "sleep", "1000")
			if r.code != 0 {
				t.Errorf("run: %v", r)
			}
			ids[i] = strings.TrimSpace(r.stdout)
		}(i)
	}
	wg.Wait()
	t.Cleanup(func() { mydocker(append([]string{"rm", "-f"}, ids...)...) })
	ips, ports := map[string]bool{}, map[string]bool{}
	for _, id := range ids {
		ips[inspect(t, id, "{{.NetworkSettings.IPAddress}}")] = true
		ports[strings.TrimSpace(must(t, "port", id))] = true
	}
	if len(ips) != n || len(ports) != n {
		t.Fatalf("%d distinct addresses and %d distinct ports for %d containers", len(ips), len(ports), n)
	}
}

// A host whose FORWARD policy is DROP (as where Docker is installed),
// reproduced in a network namespace of the test's own: containers on one
// network still reach each other, and published ports still work.
func TestForwardDropHost(t *testing.T) {
	netnsAdd(t, "mdtest-drop")
	sh(t, "ip netns exec mdtest-drop sh -c 'ip link set lo up && iptables -P FORWARD DROP'")
	root2 := t.TempDir()
	// nsenter, not `ip netns exec`: that remounts /sys and so hides the
	// cgroup hierarchies.
	in := func(args ...string) result {
		cmd := exec.Command("nsenter", append([]string{"--net=/run/netns/mdtest-drop", bin, "--root", root2}, args...)...)
		var out, errb strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		return result{out.String(), errb.String(), code}
	}
	t.Cleanup(func() {
		ids := strings.Fields(in("ps", "-a", "-q").stdout)
		in(append([]string{"rm", "-f"}, ids...)...)
		in("network", "rm", "bridge")
	})
	if r := in("import", busyboxTar, "busybox"); r.code != 0 {
		t.Fatal(r)
	}
	if r := in("run", "-d", "--name", "srv", "-p", "8090:80", "busybox", "httpd", "-f", "-p", "80", "-h", "/var/www"); r.code != 0 {
		t.Fatal(r)
	}
	srv := strings.TrimSpace(in("inspect", "-f", "{{.NetworkSettings.IPAddress}}", "srv").stdout)
	r := in("run", "--rm", "busybox", "sh", "-c", "ping -c 1 -W 3 "+srv+" >/dev/null && timeout 5 wget -q -O - http://"+srv+"/")
	if r.code != 0 || r.stdout != page {
		t.Fatalf("container to container on a FORWARD DROP host: %v", r)
	}
	out, err := exec.Command("nsenter", "--net=/run/netns/mdtest-drop", "curl", "-s", "-m", "5", "--retry", "3", "--retry-connrefused", "http://127.0.0.1:8090/").CombinedOutput()
	if err != nil || string(out) != page {
		t.Fatalf("published port on a FORWARD DROP host: %q %v", out, err)
	}
	policy, _ := exec.Command("ip", "netns", "exec", "mdtest-drop", "iptables", "-S", "FORWARD").Output()
	if !strings.HasPrefix(string(policy), "-P FORWARD DROP") {
		t.Fatalf("the FORWARD policy was changed: %s", policy)
	}
}

// A /30 holds one container; the next is refused with a clear error and
// leaves nothing.
func TestSubnetFull(t *testing.T) {
	must(t, "network", "create", "--subnet", "10.235.0.0/30", "tiny")
	t.Cleanup(func() { mydocker("network", "rm", "tiny") })
	must(t, "run", "-d", "--name", "only", "--net", "tiny", "busybox", "sleep", "1000")
	rmAfter(t, "only")
	if got := ip(t, "only"); got != "10.235.0.2" {
		t.Fatalf("got %s", got)
	}
	r := expect(t, 125, "run", "--rm", "--net", "tiny", "busybox", "true")
	oneLineError(t, r)
	if !strings.Contains(r.stderr, "no addresses left") {
		t.Fatalf("full subnet: %q", r.stderr)
	}
}

// The host lost a network's bridge (as after a reboot): the next container
// on it brings it back, with its rules.
func TestBridgeRecreated(t *testing.T) {
	must(t, "network", "create", "--subnet", "10.236.0.0/24", "phoenix")
	t.Cleanup(func() { mydocker("network", "rm", "phoenix") })
	var nets []struct{ Bridge string }
	json.Unmarshal([]byte(must(t, "network", "inspect", "phoenix")), &nets)
	sh(t, "ip link del "+nets[0].Bridge)
	must(t, "run", "-d", "--name", "p1", "--net", "phoenix", "busybox", "sleep", "1000")
	rmAfter(t, "p1")
	r := expect(t, 0, "run", "--rm", "--net", "phoenix", "busybox", "ping", "-c", "1", "-W", "3", ip(t, "p1"))
	if !strings.Contains(r.stdout, "1 packets received") {
		t.Fatalf("after the bridge was recreated: %q", r.stdout)
	}
}

// netnsAdd makes a named network namespace for the test and deletes it
// after; the first `ip netns add` on a host also makes /run/netns a mount
// point, which goes again if the test made it.
func netnsAdd(t *testing.T, name string) {
	t.Helper()
	wasMount := snapshotHost()["mount /run/netns"]
	sh(t, "ip netns add "+name)
	t.Cleanup(func() {
		exec.Command("ip", "netns", "del", name).Run()
		if entries, _ := os.ReadDir("/run/netns"); !wasMount && len(entries) == 0 {
			exec.Command("umount", "/run/netns").Run()
		}
	})
}

// Both firewall backends side by side: a network keeps the one it was made
// with; with nftables a published port is one map element, added with the
// container and removed with it.
func TestFirewallBackends(t *testing.T) {
	must(t, "network", "create", "--firewall", "nftables", "--subnet", "10.237.1.0/24", "fw-nft")
	must(t, "network", "create", "--firewall", "iptables", "--subnet", "10.237.2.0/24", "fw-ipt")
	t.Cleanup(func() { mydocker("network", "rm", "fw-nft", "fw-ipt") })
	if out := must(t, "network", "inspect", "fw-nft", "fw-ipt"); !strings.Contains(out, `"Firewall": "nftables"`) || !strings.Contains(out, `"Firewall": "iptables"`) {
		t.Fatalf("network inspect does not show the backends:\n%s", out)
	}
	httpd(t, "on-nft", "--net", "fw-nft", "-p", "8094:80")
	httpd(t, "on-ipt", "--net", "fw-ipt", "-p", "8095:80")
	elems, _ := exec.Command("nft", "list", "map", "ip", "mydocker", "pub_tcp").Output()
	if !strings.Contains(string(elems), "8094") || strings.Contains(string(elems), "8095") {
		t.Fatalf("the nftables map:\n%s", elems)
	}
	nat, _ := exec.Command("iptables", "-t", "nat", "-S").Output()
	if !strings.Contains(string(nat), "8095") || strings.Contains(string(nat), "8094") {
		t.Fatalf("iptables nat:\n%s", nat)
	}
	for _, port := range []string{"8094", "8095"} {
		if out, err := exec.Command("curl", "-s", "-m", "5", "--retry", "3", "--retry-connrefused", "http://127.0.0.1:"+port+"/").CombinedOutput(); err != nil || !strings.Contains(string(out), "hello") {
			t.Fatalf("port %s: %v %s", port, err, out)
		}
	}
	must(t, "rm", "-f", "on-nft")
	if elems, _ := exec.Command("nft", "list", "map", "ip", "mydocker", "pub_tcp").Output(); strings.Contains(string(elems), "8094") {
		t.Fatalf("the element outlived its container:\n%s", elems)
	}
	oneLineError(t, expect(t, 1, "network", "create", "--firewall", "pf", "fw-bad"))
}
