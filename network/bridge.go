package network

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Driver sets up networks and the endpoints of containers on them.
type Driver interface {
	// Create builds the network on the host; Delete undoes it. Ensure
	// rebuilds what the host lost (after a reboot), and is cheap when
	// nothing is missing.
	Create(n *Network) error
	Delete(n *Network) error
	Ensure(n *Network) error
	// Join connects a container (by its init's pid) to the network with
	// the endpoint's address; Leave undoes it. nsGone says the container's
	// network namespace is gone or going (its processes have exited).
	Join(n *Network, ep *Endpoint, pid int) error
	Leave(ep *Endpoint, nsGone bool) error
}

// bridgeDriver is a Linux bridge per network holding the gateway address,
// and a veth pair per container: the host end on the bridge, the other end
// eth0 in the container.
type bridgeDriver struct {
	fw func(name string) firewallBackend
}

func (d *bridgeDriver) Create(n *Network) (err error) {
	if err := d.createBridge(n); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			d.deleteBridge(n)
		}
	}()
	return d.fw(n.Firewall).addNetwork(n)
}

func (d *bridgeDriver) createBridge(n *Network) error {
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: n.Bridge}}
	if err := netlink.LinkAdd(br); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("creating bridge %s: %w", n.Bridge, err)
	}
	link, err := netlink.LinkByName(n.Bridge)
	if err != nil {
		return err
	}
	subnet := n.ipnet()
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: net.ParseIP(n.Gateway).To4(), Mask: subnet.Mask}}
	if err := netlink.AddrReplace(link, addr); err != nil {
		return fmt.Errorf("addressing bridge %s: %w", n.Bridge, err)
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return err
	}
	// Published ports must be reachable from the host's own loopback:
	// DNAT from 127.0.0.1 to a container needs route_localnet on the
	// outgoing interface only (the host's other interfaces keep
	// dropping 127/8 from outside). Forwarding is what a bridge with NAT
	// is for; Docker enables it the same way.
	if err := sysctl(filepath.Join("net/ipv4/conf", n.Bridge, "route_localnet"), "1"); err != nil {
		return err
	}
	return sysctl("net/ipv4/ip_forward", "1")
}

func (d *bridgeDriver) deleteBridge(n *Network) error {
	link, err := netlink.LinkByName(n.Bridge)
	if err != nil {
		return nil // already gone
	}
	return netlink.LinkDel(link)
}

func (d *bridgeDriver) Delete(n *Network) error {
	if err := d.fw(n.Firewall).removeNetwork(n); err != nil {
		return err
	}
	return d.deleteBridge(n)
}

func (d *bridgeDriver) Ensure(n *Network) error {
	if _, err := netlink.LinkByName(n.Bridge); err == nil {
		return nil
	}
	// The host lost the bridge (a reboot): rebuild it and its rules.
	d.fw(n.Firewall).removeNetwork(n)
	return d.Create(n)
}

func (d *bridgeDriver) Join(n *Network, ep *Endpoint, pid int) (err error) {
	br, err := netlink.LinkByName(n.Bridge)
	if err != nil {
		return fmt.Errorf("bridge %s: %w", n.Bridge, err)
	}
	ns, err := netns.GetFromPid(pid)
	if err != nil {
		return fmt.Errorf("the container's network namespace: %w", err)
	}
	defer ns.Close()
	// The peer is created directly in the container's namespace: moving
	// a link between namespaces afterwards costs far more.
	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: ep.HostVeth, MasterIndex: br.Attrs().Index, MTU: br.Attrs().MTU},
		PeerName:      "eth0",
		PeerNamespace: netlink.NsFd(int(ns)),
	}
	if mac, err := net.ParseMAC(ep.MacAddress); err == nil {
		veth.PeerHardwareAddr = mac
	}
	err = netlink.LinkAdd(veth)
	if errors.Is(err, unix.EEXIST) {
		// This container's veth from its previous run, whose namespace the
		// kernel has not finished tearing down: delete it now.
		if old, lerr := netlink.LinkByName(ep.HostVeth); lerr == nil {
			netlink.LinkDel(old)
		}
		err = netlink.LinkAdd(veth)
	}
	if err != nil {
		return fmt.Errorf("creating veth %s: %w", ep.HostVeth, err)
	}
	defer func() {
		if err != nil {
			netlink.LinkDel(veth)
		}
	}()
	host, err := netlink.LinkByName(ep.HostVeth)
	if err != nil {
		return err
	}
	// Hairpin: a container may reach itself through its published port.
	if err := netlink.LinkSetHairpin(host, true); err != nil {
		return err
	}
	if err := netlink.LinkSetUp(host); err != nil {
		return err
	}
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return err
	}
	defer h.Close()
	eth0, err := h.LinkByName("eth0")
	if err != nil {
		return err
	}
	ip := net.ParseIP(ep.IPAddress).To4()
	if err := h.AddrAdd(eth0, &netlink.Addr{IPNet: &net.IPNet{IP: ip, Mask: net.CIDRMask(ep.IPPrefixLen, 32)}}); err != nil {
		return fmt.Errorf("addressing eth0: %w", err)
	}
	if err := h.LinkSetUp(eth0); err != nil {
		return err
	}
	if lo, err := h.LinkByName("lo"); err == nil {
		h.LinkSetUp(lo)
	}
	gw := net.ParseIP(ep.Gateway).To4()
	if err := h.RouteAdd(&netlink.Route{LinkIndex: eth0.Attrs().Index, Gw: gw}); err != nil {
		return fmt.Errorf("default route via %s: %w", gw, err)
	}
	return nil
}

func (d *bridgeDriver) Leave(ep *Endpoint, nsGone bool) error {
	// Deleting a veth waits out an RCU grace period (15-20 ms here). Once
	// the container's processes are gone, the kernel deletes the pair with
	// the namespace, off our path; a half-done join deletes it now.
	if nsGone {
		return nil
	}
	if link, err := netlink.LinkByName(ep.HostVeth); err == nil {
		if err := netlink.LinkDel(link); err != nil && !errors.Is(err, unix.ENODEV) {
			return err
		}
	}
	return nil
}

// hostRoutes lists the destinations the host routes to, in every table,
// but the default route.
func hostRoutes() ([]*net.IPNet, error) {
	routes, err := netlink.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: unix.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return nil, fmt.Errorf("reading the host's routes: %w", err)
	}
	var out []*net.IPNet
	for _, r := range routes {
		if r.Dst == nil {
			continue
		}
		if ones, _ := r.Dst.Mask.Size(); ones == 0 {
			continue
		}
		if r.Dst.IP.IsLoopback() {
			continue
		}
		out = append(out, r.Dst)
	}
	return out, nil
}

func sysctl(name, value string) error {
	path := filepath.Join("/proc/sys", name)
	if cur, err := os.ReadFile(path); err == nil && string(cur) == value+"\n" {
		return nil
	}
	if err := os.WriteFile(path, []byte(value), 0o644); err != nil {
		return fmt.Errorf("sysctl %s=%s: %w", name, value, err)
	}
	return nil
}
