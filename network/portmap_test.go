package network

import (
	"path/filepath"
	"testing"
)

// Published ports collide on the same address or with one on all
// addresses, per protocol; picked ports skip those published.
func TestPortAllocator(t *testing.T) {
	a := &portAllocator{path: filepath.Join(t.TempDir(), "ports.json")}
	if _, err := a.allocate("a", []PortMapping{{HostIP: "127.0.0.1", HostPort: 18080, ContainerPort: 80, Proto: "tcp"}}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		p  PortMapping
		ok bool
	}{
		{PortMapping{HostIP: "127.0.0.1", HostPort: 18080, ContainerPort: 80, Proto: "tcp"}, false},
		{PortMapping{HostPort: 18080, ContainerPort: 80, Proto: "tcp"}, false},
		{PortMapping{HostIP: "127.0.0.2", HostPort: 18080, ContainerPort: 80, Proto: "tcp"}, true},
		{PortMapping{HostIP: "127.0.0.1", HostPort: 18080, ContainerPort: 80, Proto: "udp"}, true},
	} {
		_, err := a.allocate("b", []PortMapping{c.p})
		if (err == nil) != c.ok {
			t.Errorf("%+v: err %v, want ok=%v", c.p, err, c.ok)
		}
		a.release("b")
	}
	// 500 picked ports, then one more past them.
	for i := 0; i < 500; i++ {
		if _, err := a.allocate("many", []PortMapping{{ContainerPort: 80, Proto: "tcp"}}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := a.allocate("next", []PortMapping{{ContainerPort: 80, Proto: "tcp"}})
	if err != nil || got[0].HostPort < PortRangeStart+500 {
		t.Fatalf("next port %+v, %v", got, err)
	}
}
