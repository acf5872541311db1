package network

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func cidr(t testing.TB, s string) *net.IPNet {
	t.Helper()
	_, n, err := net.ParseCIDR(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestIPAMSmallSubnetFills(t *testing.T) {
	a := &IPAM{dir: t.TempDir()}
	n := cidr(t, "10.99.0.0/30")
	if err := a.Reserve(n, net.ParseIP("10.99.0.1")); err != nil {
		t.Fatal(err)
	}
	ip, err := a.Allocate(n, nil)
	if err != nil || ip.String() != "10.99.0.2" {
		t.Fatalf("got %v %v", ip, err)
	}
	if _, err := a.Allocate(n, nil); err == nil || !strings.Contains(err.Error(), "no addresses left") {
		t.Fatalf("a full /30 handed out %v", err)
	}
	if err := a.Release(n, ip, nil); err != nil {
		t.Fatal(err)
	}
	if ip, err := a.Allocate(n, nil); err != nil || ip.String() != "10.99.0.2" {
		t.Fatalf("after release: %v %v", ip, err)
	}
}

func TestIPAMNeverHandsOutReserved(t *testing.T) {
	a := &IPAM{dir: t.TempDir()}
	n := cidr(t, "10.98.0.0/24")
	a.Reserve(n, net.ParseIP("10.98.0.1"))
	seen := map[string]bool{}
	for {
		ip, err := a.Allocate(n, nil)
		if err != nil {
			break
		}
		seen[ip.String()] = true
	}
	if len(seen) != 253 {
		t.Fatalf("a /24 with a gateway gave %d addresses, want 253", len(seen))
	}
	for _, bad := range []string{"10.98.0.0", "10.98.0.1", "10.98.0.255"} {
		if seen[bad] {
			t.Fatalf("handed out %s", bad)
		}
	}
}

func TestIPAMWrapsOctets(t *testing.T) {
	a := &IPAM{dir: t.TempDir()}
	n := cidr(t, "172.30.0.0/16")
	a.Reserve(n, net.ParseIP("172.30.0.1"))
	var last net.IP
	for i := 0; i < 300; i++ {
		ip, err := a.Allocate(n, nil)
		if err != nil {
			t.Fatal(err)
		}
		last = ip
	}
	// offsets 2..301: the 300th is 172.30.1.45
	if last.String() != "172.30.1.45" {
		t.Fatalf("300th address %s, want 172.30.1.45", last)
	}
	for _, tc := range []struct{ subnet, want string }{
		{"10.0.0.0/8", "10.0.1.0"}, // offset 256: carries into the third octet
		{"192.168.0.0/23", "192.168.1.0"},
	} {
		b := &IPAM{dir: t.TempDir()}
		n := cidr(t, tc.subnet)
		var ip net.IP
		for i := 0; i < 256; i++ {
			ip, _ = b.Allocate(n, nil)
		}
		if ip.String() != tc.want {
			t.Errorf("%s: 256th address %s, want %s", tc.subnet, ip, tc.want)
		}
	}
}

func TestIPAMRejectsBadSubnets(t *testing.T) {
	a := &IPAM{dir: t.TempDir()}
	for _, s := range []string{"10.0.0.0/31", "10.0.0.0/32", "10.0.0.0/7", "fd00::/64"} {
		if _, err := a.Allocate(cidr(t, s), nil); err == nil {
			t.Errorf("%s accepted", s)
		}
	}
	if err := a.Reserve(cidr(t, "10.0.0.0/24"), net.ParseIP("10.0.1.1")); err == nil {
		t.Error("reserved an address outside the subnet")
	}
}

func TestIPAMRoundRobinAndSweep(t *testing.T) {
	a := &IPAM{dir: t.TempDir()}
	n := cidr(t, "10.97.0.0/24")
	ip1, _ := a.Allocate(n, nil)
	a.Release(n, ip1, nil)
	ip2, _ := a.Allocate(n, nil)
	if ip2.Equal(ip1) {
		t.Fatal("a just-released address was handed out again at once")
	}
	ip3, _ := a.Allocate(n, nil)
	freed, err := a.Sweep(n, func(ip net.IP) bool { return ip.Equal(ip3) })
	if err != nil || freed != 1 {
		t.Fatalf("sweep freed %d, %v", freed, err)
	}
	var pf poolFile
	data, _ := os.ReadFile(a.path(n))
	if !strings.Contains(string(data), fmt.Sprintf("[\n      %d,\n      1\n    ]", 3)) {
		t.Fatalf("pool file after sweep: %s", data)
	}
	_ = pf
}

// A commit that fails leaves nothing allocated.
func TestIPAMCommitFailure(t *testing.T) {
	a := &IPAM{dir: t.TempDir()}
	n := cidr(t, "10.96.0.0/30")
	if _, err := a.Allocate(n, func(net.IP) error { return fmt.Errorf("boom") }); err == nil {
		t.Fatal("want the commit's error")
	}
	if ip, err := a.Allocate(n, nil); err != nil || ip.String() != "10.96.0.1" {
		t.Fatalf("got %v %v", ip, err)
	}
}

func TestBitmapRuns(t *testing.T) {
	for _, tc := range [][][2]uint32{
		nil, {{0, 1}}, {{1, 63}}, {{0, 64}}, {{5, 200}, {300, 1}}, {{63, 2}, {127, 130}}, {{0, 1024}},
	} {
		b := newBitmap(1024)
		for _, r := range tc {
			b.setRun(r[0], r[1])
		}
		got := b.runs(1024)
		if fmt.Sprint(got) != fmt.Sprint(tc) && !(len(got) == 0 && len(tc) == 0) {
			t.Errorf("runs(%v) = %v", tc, got)
		}
	}
}

// 50 allocations from parallel processes, each locking the same file, are
// all distinct.
func TestIPAMParallelProcesses(t *testing.T) {
	dir := t.TempDir()
	var wg sync.WaitGroup
	out := make([]string, 50)
	for i := range out {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			cmd := exec.Command(os.Args[0], "-test.run", "^TestIPAMHelperProcess$")
			cmd.Env = append(os.Environ(), "IPAM_HELPER_DIR="+dir)
			b, err := cmd.Output()
			if err != nil {
				t.Errorf("helper: %v", err)
			}
			out[i] = strings.TrimSpace(strings.Split(string(b), "\n")[0])
		}(i)
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, ip := range out {
		if net.ParseIP(ip) == nil || seen[ip] {
			t.Fatalf("duplicate or bad address %q among %v", ip, out)
		}
		seen[ip] = true
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	if len(files) != 1 {
		t.Fatalf("pool files: %v", files)
	}
}

func TestIPAMHelperProcess(t *testing.T) {
	dir := os.Getenv("IPAM_HELPER_DIR")
	if dir == "" {
		return // only as a child of TestIPAMParallelProcesses
	}
	ip, err := (&IPAM{dir: dir}).Allocate(cidr(t, "10.95.0.0/24"), nil)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println(ip)
}

// BenchmarkIPAMAllocRelease: one allocation and one release on a /16 with
// 60,000 addresses in use, each including the locked, atomic, fsynced write.
func BenchmarkIPAMAllocRelease(b *testing.B) {
	a := &IPAM{dir: b.TempDir()}
	n := cidr(b, "10.200.0.0/16")
	a.with(n, func(p *pool) (bool, error) {
		p.bm.setRun(1, 60000)
		p.next = 60001
		return true, nil
	})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ip, err := a.Allocate(n, nil)
		if err != nil {
			b.Fatal(err)
		}
		if err := a.Release(n, ip, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(2*b.N), "µs/op-each")
}
