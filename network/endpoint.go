package network

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/mydocker/mydocker/internal/errdefs"
	"github.com/mydocker/mydocker/internal/fsutil"
)

// Endpoint is a container's attachment to a network, kept as
// <run>/network/endpoints/<container id>.json: who owns the address and
// ports, and what to undo.
type Endpoint struct {
	ContainerID   string        `json:"ContainerId"`
	ContainerName string        `json:"ContainerName"`
	Hostname      string        `json:"Hostname,omitempty"`
	Aliases       []string      `json:"Aliases,omitempty"` // --network-alias
	Network       string        `json:"Network"`
	NetworkID     string        `json:"NetworkId"`
	Bridge        string        `json:"Bridge"`
	HostVeth      string        `json:"HostVeth"`
	IPAddress     string        `json:"IPAddress"`
	IPPrefixLen   int           `json:"IPPrefixLen"`
	Gateway       string        `json:"Gateway"`
	MacAddress    string        `json:"MacAddress,omitempty"`
	Ports         []PortMapping `json:"Ports,omitempty"`
	Firewall      string        `json:"Firewall,omitempty"` // its network's backend
	Created       time.Time     `json:"Created"`
}

func (m *Manager) endpointPath(cid string) string {
	return filepath.Join(m.runDir, "endpoints", cid+".json")
}

// endpoints lists every endpoint on the host's state tree.
func (m *Manager) endpoints() ([]*Endpoint, error) {
	dir := filepath.Join(m.runDir, "endpoints")
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".json") && !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	eps := make([]*Endpoint, len(names))
	errs := make([]error, len(names))
	fsutil.Each(len(names), func(i int) {
		eps[i] = &Endpoint{}
		errs[i] = fsutil.ReadJSON(filepath.Join(dir, names[i]), eps[i])
	})
	var out []*Endpoint
	for i, ep := range eps {
		if errors.Is(errs[i], os.ErrNotExist) {
			continue // released meanwhile
		}
		if errs[i] != nil {
			return nil, errs[i]
		}
		out = append(out, ep)
	}
	return out, nil
}

// ConnectRequest asks for a container to join a network.
type ConnectRequest struct {
	ContainerID   string
	ContainerName string
	Hostname      string
	Aliases       []string
	Network       string // a network's name or ID; "" for the default network
	Pid           int    // the container's init, in its network namespace
	Ports         []PortMapping
}

// Connect joins a container to a network: host ports, an address, the veth
// pair, the routes inside, the firewall rules for its ports. On failure
// every step already done is undone.
func (m *Manager) Connect(req ConnectRequest) (ep *Endpoint, err error) {
	var n *Network
	if req.Network == "" || req.Network == DefaultName {
		n, err = m.Default()
	} else {
		n, err = m.Get(req.Network)
	}
	if err != nil {
		return nil, err
	}
	if err := m.driver.Ensure(n); err != nil {
		return nil, err
	}
	var undo []func()
	defer func() {
		if err != nil {
			for i := len(undo) - 1; i >= 0; i-- {
				undo[i]()
			}
		}
	}()
	t0 := time.Now()
	ports, err := m.ports.allocate(req.ContainerID, req.Ports)
	if err != nil {
		return nil, errdefs.WithCode(err, errdefs.CodeRuntime)
	}
	t1 := time.Now()
	undo = append(undo, func() { m.ports.release(req.ContainerID) })

	subnet := n.ipnet()
	prefix, _ := subnet.Mask.Size()
	ep = &Endpoint{
		ContainerID: req.ContainerID, ContainerName: req.ContainerName, Hostname: req.Hostname, Aliases: req.Aliases,
		Network: n.Name, NetworkID: n.ID, Bridge: n.Bridge,
		HostVeth: "md" + req.ContainerID[:13], IPPrefixLen: prefix, Gateway: n.Gateway,
		Ports: ports, Created: time.Now().UTC(), Firewall: n.Firewall,
	}
	// The endpoint file is written under the subnet's lock before the
	// address is marked taken: an address in the bitmap always has an owner
	// on disk, or is reclaimed by the next sweep.
	ip, err := m.ipam.Allocate(subnet, func(ip net.IP) error {
		ep.IPAddress = ip.String()
		ep.MacAddress = macFor(ip).String()
		return fsutil.WriteVolatileJSON(m.endpointPath(req.ContainerID), ep)
	})
	if err != nil {
		if errors.Is(err, ErrSubnetFull) {
			return nil, errdefs.Errorf(errdefs.CodeRuntime, "network %s: %v", n.Name, err)
		}
		return nil, err
	}
	undo = append(undo, func() {
		m.ipam.Release(subnet, ip, func() error { return removeIfExists(m.endpointPath(req.ContainerID)) })
	})
	t2 := time.Now()
	if err := m.driver.Join(n, ep, req.Pid); err != nil {
		return nil, err
	}
	undo = append(undo, func() { m.driver.Leave(ep, false) })
	t3 := time.Now()
	if err := m.firewallFor(ep.Firewall).addContainer(ep); err != nil {
		return nil, err
	}
	logrus.Debugf("network %s: ports %v, address %v, veth %v, firewall %v", n.Name, t1.Sub(t0), t2.Sub(t1), t3.Sub(t2), time.Since(t3))
	return ep, nil
}

// Disconnect releases all a container holds on its network: firewall rules,
// veth, ports, address. It is idempotent, and a no-op for a container that
// holds nothing. exited says the container's processes are gone: its veth
// then goes with its namespace.
func (m *Manager) Disconnect(cid string, exited bool) error {
	ep := &Endpoint{}
	err := fsutil.ReadJSON(m.endpointPath(cid), ep)
	if errors.Is(err, os.ErrNotExist) {
		return m.ports.release(cid) // a connect killed before its endpoint file
	}
	if err != nil {
		return err
	}
	var errs []error
	t0 := time.Now()
	errs = append(errs, m.firewallFor(ep.Firewall).removeContainer(ep))
	t1 := time.Now()
	errs = append(errs, m.driver.Leave(ep, exited), m.ports.release(cid))
	defer func(t2 time.Time) {
		logrus.Debugf("network %s: released firewall %v, veth and ports %v, address %v", ep.Network, t1.Sub(t0), t2.Sub(t1), time.Since(t2))
	}(time.Now())
	if _, subnet, perr := net.ParseCIDR(fmt.Sprintf("%s/%d", ep.IPAddress, ep.IPPrefixLen)); perr == nil {
		errs = append(errs, m.ipam.Release(subnet, net.ParseIP(ep.IPAddress), func() error {
			return removeIfExists(m.endpointPath(cid))
		}))
	} else {
		errs = append(errs, removeIfExists(m.endpointPath(cid)))
	}
	return errors.Join(errs...)
}

// Endpoint returns a container's endpoint, or nil if it has none.
func (m *Manager) Endpoint(cid string) *Endpoint {
	ep := &Endpoint{}
	if fsutil.ReadJSON(m.endpointPath(cid), ep) != nil {
		return nil
	}
	return ep
}

// Reconcile releases what containers that no longer exist still hold (a
// mydocker killed mid-operation): endpoints of containers live does not
// claim, addresses no endpoint owns, ports and firewall rules of containers
// live does not claim. live is asked with full IDs and 12-hex prefixes.
func (m *Manager) Reconcile(live func(id string) bool) error {
	eps, err := m.endpoints()
	if err != nil {
		return err
	}
	for _, ep := range eps {
		if live(ep.ContainerID) {
			continue
		}
		logrus.Infof("reclaiming the network of gone container %.12s", ep.ContainerID)
		if err := m.Disconnect(ep.ContainerID, false); err != nil {
			logrus.Warnf("container %.12s: %v", ep.ContainerID, err)
		}
	}
	nets, err := m.list()
	if err != nil {
		return err
	}
	if len(nets) == 0 && len(eps) == 0 {
		return nil // no networking in this state tree: nothing to sweep (and iptables may not be installed)
	}
	for _, n := range nets {
		subnet := n.ipnet()
		if _, err := os.Stat(m.ipam.path(subnet)); err != nil {
			continue
		}
		gw := net.ParseIP(n.Gateway)
		// What the endpoints read above own is kept. An address they do not
		// account for is looked up again under the subnet's lock, where an
		// endpoint that took an address has its file written: only then is
		// it freed (one read of the endpoints, not two, when all is well).
		owned := map[string]bool{}
		for _, ep := range eps {
			if ep.NetworkID == n.ID {
				owned[ep.IPAddress] = true
			}
		}
		reread := false
		m.ipam.Sweep(subnet, func(ip net.IP) bool {
			if ip.Equal(gw) || owned[ip.String()] {
				return true
			}
			if !reread {
				reread = true
				now, _ := m.endpoints()
				for _, ep := range now {
					if ep.NetworkID == n.ID {
						owned[ep.IPAddress] = true
					}
				}
			}
			return owned[ip.String()]
		})
	}
	if err := m.ports.sweep(live); err != nil {
		return err
	}
	// Sweep the backends this state tree's networks use (iptables' sweep
	// forks iptables-save: not for a tree of nftables networks).
	used := map[string]bool{}
	for _, n := range nets {
		used[n.Firewall] = true
	}
	var errs []error
	for name, fw := range m.fws {
		if used[name] || name == "iptables" && used[""] {
			errs = append(errs, fw.removeContainers(nil, live))
		}
	}
	return errors.Join(errs...)
}

// macFor derives a container's MAC address from its IPv4 address, as Docker
// does (02:42 and the four octets): known before the link exists, unique
// within a network, and recorded with the address in one write.
func macFor(ip net.IP) net.HardwareAddr {
	v4 := ip.To4()
	return net.HardwareAddr{0x02, 0x42, v4[0], v4[1], v4[2], v4[3]}
}

func removeIfExists(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
