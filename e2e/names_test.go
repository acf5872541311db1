package e2e

import (
	"net"
	"strings"
	"sync"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

// dnsServer is the "outside" resolver of the names test: it answers A
// queries for the names it knows and NXDOMAIN for the rest, on a UDP
// address of the test's own network, and records what it was asked.
type dnsServer struct {
	conn    net.PacketConn
	mu      sync.Mutex
	queries []string
}

func startDNS(t *testing.T, addr string, answers map[string]string) *dnsServer {
	t.Helper()
	conn, err := net.ListenPacket("udp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	d := &dnsServer{conn: conn}
	t.Cleanup(func() { conn.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := conn.ReadFrom(buf)
			if err != nil {
				return
			}
			var m dnsmessage.Message
			if m.Unpack(buf[:n]) != nil || len(m.Questions) != 1 {
				continue
			}
			q := m.Questions[0]
			d.mu.Lock()
			d.queries = append(d.queries, q.Name.String())
			d.mu.Unlock()
			m.Header.Response, m.Header.RecursionAvailable = true, true
			m.Answers = nil
			ip, ok := answers[q.Name.String()]
			switch {
			case ok && q.Type == dnsmessage.TypeA:
				var a [4]byte
				copy(a[:], net.ParseIP(ip).To4())
				m.Answers = []dnsmessage.Resource{{
					Header: dnsmessage.ResourceHeader{Name: q.Name, Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET, TTL: 60},
					Body:   &dnsmessage.AResource{A: a}}}
			case !ok:
				m.Header.RCode = dnsmessage.RCodeNameError
			}
			if out, err := m.Pack(); err == nil {
				conn.WriteTo(out, from)
			}
		}
	}()
	return d
}

// Containers on a user-defined network find each other by name, alias and
// short ID, those already running too; a name goes with its container;
// outside names still go to the resolvers (here the test's own, on the
// network's gateway, through --dns); the default network has no names.
func TestNamesOnNetwork(t *testing.T) {
	must(t, "network", "create", "--subnet", "10.231.9.0/24", "names")
	t.Cleanup(func() { mydocker("network", "rm", "names") })
	gw := "10.231.9.1"
	must(t, "run", "-d", "--name", "client", "--net", "names", "--dns", gw, "busybox", "sleep", "1000")
	rmAfter(t, "client")
	dns := startDNS(t, gw+":53", map[string]string{"outside.test.": "10.231.99.99"})
	must(t, "run", "-d", "--name", "web", "--net", "names", "--network-alias", "www", "--dns", gw,
		"busybox", "httpd", "-f", "-p", "80", "-h", "/var/www")
	rmAfter(t, "web")
	webID := inspect(t, "web", "{{.ID}}")[:12]
	for _, name := range []string{"web", "www", webID} {
		if r := mydocker("exec", "client", "ping", "-c", "1", "-W", "2", name); r.code != 0 {
			t.Fatalf("client cannot reach %s by name: %v", name, r)
		}
	}
	if r := mydocker("exec", "client", "timeout", "5", "wget", "-q", "-O-", "http://web/"); !strings.Contains(r.stdout, "hello from mydocker") {
		t.Fatalf("wget http://web/: %v", r)
	}
	if r := mydocker("exec", "web", "ping", "-c", "1", "-W", "2", "client"); r.code != 0 {
		t.Fatalf("a newcomer cannot reach a container already there: %v", r)
	}
	if r := mydocker("exec", "client", "nslookup", "outside.test"); !strings.Contains(r.stdout, "10.231.99.99") {
		t.Fatalf("an outside name through the resolver: %v", r)
	}
	dns.mu.Lock()
	asked := strings.Join(dns.queries, " ")
	dns.mu.Unlock()
	if !strings.Contains(asked, "outside.test.") {
		t.Fatalf("the resolver was not asked: %q", asked)
	}

	must(t, "rm", "-f", "web")
	if hosts := must(t, "exec", "client", "cat", "/etc/hosts"); strings.Contains(hosts, "web") || strings.Contains(hosts, webID) {
		t.Fatalf("the name stayed after its container went:\n%s", hosts)
	}
	if r := mydocker("exec", "client", "ping", "-c", "1", "-W", "1", "web"); r.code == 0 {
		t.Fatal("a removed container's name still answers")
	}

	// The default network keeps Docker's behaviour: no names.
	must(t, "run", "-d", "--name", "lone", "--net", "none", "busybox", "sleep", "1000")
	rmAfter(t, "lone")
	must(t, "run", "-d", "--name", "onbridge", "busybox", "sleep", "1000")
	rmAfter(t, "onbridge")
	if hosts := must(t, "run", "--rm", "busybox", "cat", "/etc/hosts"); strings.Contains(hosts, "onbridge") {
		t.Fatalf("a name on the default network:\n%s", hosts)
	}
	for _, bad := range [][]string{
		{"run", "--network-alias", "x", "busybox", "true"},
		{"run", "--net", "names", "--network-alias", "bad name", "busybox", "true"},
		{"run", "--dns", "not-an-ip", "busybox", "true"},
	} {
		oneLineError(t, expect(t, 125, bad...))
	}
}
