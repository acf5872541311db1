// Package network is mydocker's networking: network definitions, the bridge
// driver (a Linux bridge per network, a veth pair per container), a bitmap
// IPAM per subnet, host port allocation and the iptables rules for NAT,
// published ports and isolation. It is Docker's bridge model, with Docker
// 0.1's IPAllocator, PortAllocator and PortMapper as the mental model.
//
// State: definitions persist under <lib>/networks/; allocations (IPAM,
// ports, endpoints) live under <run>/network/, gone with a reboot like the
// containers that held them.
package network

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/mydocker/mydocker/internal/errdefs"
	"github.com/mydocker/mydocker/internal/fsutil"
)

// DefaultName is the network a container joins when run without --net, as
// Docker's "bridge".
const DefaultName = "bridge"

// Network is one network's definition.
type Network struct {
	Name    string    `json:"Name"`
	ID      string    `json:"Id"`
	Driver  string    `json:"Driver"`
	Subnet  string    `json:"Subnet"`
	Gateway string    `json:"Gateway"`
	Bridge  string    `json:"Bridge"` // the Linux bridge's name
	Created time.Time `json:"Created"`
	// Firewall is the backend of its rules, chosen when it was created:
	// "nftables" or "iptables" (a definition without one: iptables).
	Firewall string `json:"Firewall,omitempty"`
}

// ipnet is the network's subnet, parsed.
func (n *Network) ipnet() *net.IPNet {
	_, s, _ := net.ParseCIDR(n.Subnet)
	return s
}

// Manager is the networking of one mydocker state tree.
type Manager struct {
	defsDir string // <lib>/networks
	runDir  string // <run>/network
	ipam    *IPAM
	ports   *portAllocator
	fws     map[string]firewallBackend
	driver  Driver
}

// firewallBackend is what a network's firewall does: netavark's four verbs
// (a network's rules, a container's published ports, each added and
// removed), plus the sweep reconciliation needs. Every rule or element is
// tagged with its owner, and removing an owner removes exactly its own.
type firewallBackend interface {
	addNetwork(n *Network) error
	removeNetwork(n *Network) error
	addContainer(ep *Endpoint) error
	removeContainer(ep *Endpoint) error
	// removeContainers deletes what the given containers published, or,
	// with keep, what every container keep does not claim published.
	removeContainers(ids []string, keep func(id12 string) bool) error
}

// firewallFor is the backend of a network (or of an endpoint's network).
func (m *Manager) firewallFor(name string) firewallBackend {
	if fw, ok := m.fws[name]; ok {
		return fw
	}
	return m.fws["iptables"]
}

// DefaultFirewall is the backend new networks get: $MYDOCKER_FIREWALL when
// set, else nftables where the kernel speaks it, else iptables.
func DefaultFirewall() string {
	if v := os.Getenv("MYDOCKER_FIREWALL"); v != "" {
		return v
	}
	if nftAvailable() {
		return "nftables"
	}
	return "iptables"
}

// NewManager returns the network manager for a state tree.
func NewManager(runDir, libDir string) *Manager {
	rd := filepath.Join(runDir, "network")
	m := &Manager{
		defsDir: filepath.Join(libDir, "networks"),
		runDir:  rd,
		ipam:    &IPAM{dir: filepath.Join(rd, "ipam")},
		ports:   &portAllocator{path: filepath.Join(rd, "ports.json")},
		fws:     map[string]firewallBackend{"iptables": &firewall{}, "nftables": &nftFirewall{}},
	}
	m.driver = &bridgeDriver{fw: m.firewallFor}
	return m
}

func (m *Manager) defPath(name string) string { return filepath.Join(m.defsDir, name+".json") }

func (m *Manager) lock() (func(), error) {
	if err := os.MkdirAll(m.defsDir, 0o700); err != nil {
		return nil, err
	}
	return fsutil.Lock(filepath.Join(m.defsDir, ".lock"))
}

var netNameRe = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// CreateOptions are the flags of `network create`.
type CreateOptions struct {
	Name, Driver, Subnet, Gateway string
	// Firewall is the backend of the network's rules: nftables or iptables
	// (default: DefaultFirewall).
	Firewall string
}

// Create defines a network and sets it up on the host: its bridge, its
// gateway address, its firewall rules. It is refused if its subnet overlaps
// a host route or another network.
func (m *Manager) Create(o CreateOptions) (*Network, error) {
	if err := m.checkCreate(o); err != nil {
		return nil, errdefs.WithCode(err, errdefs.CodeGeneral)
	}
	unlock, err := m.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	return m.create(o)
}

// checkCreate validates what can be checked without looking at the host.
func (m *Manager) checkCreate(o CreateOptions) error {
	if !netNameRe.MatchString(o.Name) || len(o.Name) > 64 {
		return fmt.Errorf("invalid network name %q: [a-zA-Z0-9][a-zA-Z0-9_.-]*", o.Name)
	}
	if o.Name == "none" || o.Name == "host" {
		return fmt.Errorf("network name %q is reserved", o.Name)
	}
	if o.Firewall != "" && o.Firewall != "nftables" && o.Firewall != "iptables" {
		return fmt.Errorf("invalid --firewall %q: nftables or iptables", o.Firewall)
	}
	if o.Driver != "" && o.Driver != "bridge" {
		return fmt.Errorf("driver %q is not supported (only bridge)", o.Driver)
	}
	if o.Subnet == "" {
		if o.Gateway != "" {
			return fmt.Errorf("--gateway needs --subnet")
		}
		return nil
	}
	_, _, err := parseSubnet(o.Subnet, o.Gateway)
	return err
}

// parseSubnet checks a subnet and its gateway (by default its first address).
func parseSubnet(subnet, gateway string) (*net.IPNet, net.IP, error) {
	ip, n, err := net.ParseCIDR(subnet)
	if err != nil {
		return nil, nil, fmt.Errorf("invalid subnet %q: want an IPv4 CIDR such as 192.168.10.0/24", subnet)
	}
	if !ip.Equal(n.IP) {
		return nil, nil, fmt.Errorf("invalid subnet %s: it should be %s", subnet, n)
	}
	base, size, err := subnetRange(n)
	if err != nil {
		return nil, nil, err
	}
	gw := u32ToIP(base + 1)
	if gateway != "" {
		gw = net.ParseIP(gateway).To4()
		if gw == nil {
			return nil, nil, fmt.Errorf("invalid gateway %q: want an IPv4 address", gateway)
		}
		off := ipToU32(gw) - base
		if !n.Contains(gw) || off == 0 || off == size-1 {
			return nil, nil, fmt.Errorf("gateway %s is not a host address of %s", gw, n)
		}
	}
	return n, gw, nil
}

func (m *Manager) create(o CreateOptions) (n *Network, err error) {
	if _, err := os.Stat(m.defPath(o.Name)); err == nil {
		return nil, errdefs.Errorf(errdefs.CodeGeneral, "network with name %s already exists", o.Name)
	}
	existing, err := m.list()
	if err != nil {
		return nil, err
	}
	var subnet *net.IPNet
	var gw net.IP
	if o.Subnet != "" {
		subnet, gw, _ = parseSubnet(o.Subnet, o.Gateway)
		if err := m.checkOverlap(subnet, existing); err != nil {
			return nil, errdefs.WithCode(err, errdefs.CodeGeneral)
		}
	} else if subnet, gw, err = m.pickSubnet(existing); err != nil {
		return nil, err
	}
	idb := make([]byte, 32)
	rand.Read(idb)
	id := hex.EncodeToString(idb)
	n = &Network{Name: o.Name, ID: id, Driver: "bridge", Subnet: subnet.String(), Gateway: gw.String(),
		Bridge: "md-" + id[:12], Created: time.Now().UTC(), Firewall: o.Firewall}
	if n.Firewall == "" {
		n.Firewall = DefaultFirewall()
	}
	if err := m.ipam.Reserve(subnet, gw); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			m.ipam.Delete(subnet)
		}
	}()
	if err := m.driver.Create(n); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			m.driver.Delete(n)
		}
	}()
	if err := fsutil.WriteJSON(m.defPath(n.Name), n); err != nil {
		return nil, err
	}
	return n, nil
}

// checkOverlap refuses a subnet that overlaps another network's or any
// route of the host (which includes other mydocker trees' bridges).
func (m *Manager) checkOverlap(subnet *net.IPNet, existing []*Network) error {
	for _, n := range existing {
		if overlaps(subnet, n.ipnet()) {
			return fmt.Errorf("subnet %s overlaps network %s (%s)", subnet, n.Name, n.Subnet)
		}
	}
	routes, err := hostRoutes()
	if err != nil {
		return err
	}
	for _, r := range routes {
		if overlaps(subnet, r) {
			return fmt.Errorf("subnet %s overlaps the host's route to %s", subnet, r)
		}
	}
	return nil
}

func overlaps(a, b *net.IPNet) bool { return a.Contains(b.IP) || b.Contains(a.IP) }

// defaultCandidates are tried in order for networks created without a
// subnet, as Docker does: 172.17-31.0.0/16, then 192.168.x.0/20.
func defaultCandidates() []string {
	var out []string
	for i := 17; i <= 31; i++ {
		out = append(out, fmt.Sprintf("172.%d.0.0/16", i))
	}
	for i := 0; i < 256; i += 16 {
		out = append(out, fmt.Sprintf("192.168.%d.0/20", i))
	}
	return out
}

func (m *Manager) pickSubnet(existing []*Network) (*net.IPNet, net.IP, error) {
	for _, c := range defaultCandidates() {
		n, gw, _ := parseSubnet(c, "")
		if m.checkOverlap(n, existing) == nil {
			return n, gw, nil
		}
	}
	return nil, nil, errors.New("no free subnet left among the default pools: give --subnet")
}

// Get finds a network by name, full ID or unique ID prefix.
func (m *Manager) Get(ref string) (*Network, error) {
	n := &Network{}
	if netNameRe.MatchString(ref) {
		if err := fsutil.ReadJSON(m.defPath(ref), n); err == nil {
			return n, nil
		}
	}
	all, err := m.list()
	if err != nil {
		return nil, err
	}
	var match []*Network
	for _, o := range all {
		if len(ref) >= 3 && strings.HasPrefix(o.ID, ref) {
			match = append(match, o)
		}
	}
	if len(match) == 1 {
		return match[0], nil
	}
	if len(match) > 1 {
		return nil, fmt.Errorf("network %s is ambiguous", ref)
	}
	return nil, errdefs.NotFoundf("network %s not found", ref)
}

// Default returns the default network, creating it on first use.
func (m *Manager) Default() (*Network, error) {
	if n, err := m.Get(DefaultName); err == nil {
		return n, nil
	}
	unlock, err := m.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	if n, err := m.Get(DefaultName); err == nil {
		return n, nil // created meanwhile
	}
	return m.create(CreateOptions{Name: DefaultName})
}

// List returns every network, by name.
func (m *Manager) List() ([]*Network, error) { return m.list() }

func (m *Manager) list() ([]*Network, error) {
	entries, err := os.ReadDir(m.defsDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []*Network
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		n := &Network{}
		if err := fsutil.ReadJSON(filepath.Join(m.defsDir, e.Name()), n); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Remove deletes a network: refused while containers are attached (they
// are named); removes its bridge, its rules and its IPAM.
func (m *Manager) Remove(ref string) error {
	unlock, err := m.lock()
	if err != nil {
		return err
	}
	defer unlock()
	n, err := m.Get(ref)
	if err != nil {
		return err
	}
	eps, err := m.endpoints()
	if err != nil {
		return err
	}
	var names []string
	for _, ep := range eps {
		if ep.NetworkID == n.ID {
			names = append(names, ep.ContainerName)
		}
	}
	if len(names) > 0 {
		sort.Strings(names)
		return fmt.Errorf("network %s has active endpoints: %s", n.Name, strings.Join(names, ", "))
	}
	if err := m.driver.Delete(n); err != nil {
		return err
	}
	if err := m.ipam.Delete(n.ipnet()); err != nil {
		return err
	}
	os.Remove(m.membersLock(n.ID))
	return os.Remove(m.defPath(n.Name))
}

func (m *Manager) membersLock(networkID string) string {
	return filepath.Join(m.runDir, "members", networkID+".lock")
}

// Members lists the endpoints on a network under the network's members
// lock, which the caller releases: whoever keeps files that list a
// network's containers (their /etc/hosts) rewrites them one at a time.
func (m *Manager) Members(networkID string) (unlock func(), members []*Endpoint, err error) {
	if err := os.MkdirAll(filepath.Dir(m.membersLock(networkID)), 0o700); err != nil {
		return nil, nil, err
	}
	unlock, err = fsutil.Lock(m.membersLock(networkID))
	if err != nil {
		return nil, nil, err
	}
	eps, err := m.endpoints()
	if err != nil {
		unlock()
		return nil, nil, err
	}
	for _, ep := range eps {
		if ep.NetworkID == networkID {
			members = append(members, ep)
		}
	}
	return unlock, members, nil
}

// Attached lists the endpoints on a network.
func (m *Manager) Attached(n *Network) ([]*Endpoint, error) {
	eps, err := m.endpoints()
	if err != nil {
		return nil, err
	}
	var out []*Endpoint
	for _, ep := range eps {
		if ep.NetworkID == n.ID {
			out = append(out, ep)
		}
	}
	return out, nil
}
