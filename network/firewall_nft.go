package network

import (
	"encoding/binary"
	"fmt"
	"net"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// The nftables backend: one table, ip mydocker, talked to over netlink
// (google/nftables), no fork. A network adds a few rules scoped to its
// bridge (tagged with its ID in the rules' user data); publishing a port
// adds one element to a map and releasing it deletes that element, so the
// cost of a container's ports stays the same however many there are:
//
//	map pub_tcp, pub_udp      host port -> container address . port        (0.0.0.0 bindings)
//	map pubip_tcp, pubip_udp  host address . port -> container address . port
//	chain prerouting  nat hook, local destinations not in 127/8  -> publish
//	chain output      nat hook, local destinations (localhost too) -> publish
//	chain publish     dnat through the maps
//	chain postrouting nat hook: per network, masquerade leaving the subnet,
//	                  from the host's loopback, and hairpin (DNAT'd back in)
//	chain forward     filter hook: isolation first, then per network:
//	                  replies, DNAT'd traffic, the network itself, outbound; else drop
//
// Elements carry their container's tag as a comment, so reconciliation can
// tell whose they are. nf_tables runs every base chain of a hook, and a drop
// in iptables' FORWARD (Docker leaves its policy DROP) would still drop, so
// each network also gets two static accepts in iptables' FORWARD.

const (
	nftTable     = "mydocker"
	tagNftPrefix = "mydocker-nft:"
)

type nftFirewall struct{}

var nftProtos = map[string]byte{"tcp": unix.IPPROTO_TCP, "udp": unix.IPPROTO_UDP}

func (f *nftFirewall) table() *nftables.Table {
	return &nftables.Table{Name: nftTable, Family: nftables.TableFamilyIPv4}
}

func pubSet(t *nftables.Table, proto string, bound bool) *nftables.Set {
	s := &nftables.Set{Table: t, IsMap: true, Concatenation: false,
		DataType: nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeInetService)}
	if bound {
		s.Name, s.Concatenation = "pubip_"+proto, true
		s.KeyType = nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeInetService)
	} else {
		s.Name, s.KeyType = "pub_"+proto, nftables.TypeInetService
	}
	return s
}

// ensure creates the table, maps and chains once; it is idempotent.
func (f *nftFirewall) ensure(c *nftables.Conn) error {
	tables, err := c.ListTablesOfFamily(nftables.TableFamilyIPv4)
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	for _, t := range tables {
		if t.Name == nftTable {
			return nil
		}
	}
	t := c.AddTable(f.table())
	for proto := range nftProtos {
		for _, bound := range []bool{false, true} {
			if err := c.AddSet(pubSet(t, proto, bound), nil); err != nil {
				return fmt.Errorf("nftables: %w", err)
			}
		}
	}
	accept := nftables.ChainPolicyAccept
	nat := func(name string, hook *nftables.ChainHook, prio *nftables.ChainPriority) *nftables.Chain {
		return c.AddChain(&nftables.Chain{Name: name, Table: t, Type: nftables.ChainTypeNAT, Hooknum: hook, Priority: prio, Policy: &accept})
	}
	publish := c.AddChain(&nftables.Chain{Name: "publish", Table: t})
	pre := nat("prerouting", nftables.ChainHookPrerouting, nftables.ChainPriorityNATDest)
	out := nat("output", nftables.ChainHookOutput, nftables.ChainPriorityNATDest)
	nat("postrouting", nftables.ChainHookPostrouting, nftables.ChainPriorityNATSource)
	fwd := c.AddChain(&nftables.Chain{Name: "forward", Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookForward, Priority: nftables.ChainPriorityFilter, Policy: &accept})
	isolation := c.AddChain(&nftables.Chain{Name: "isolation", Table: t})
	c.AddRule(&nftables.Rule{Table: t, Chain: fwd, Exprs: []expr.Any{&expr.Verdict{Kind: expr.VerdictJump, Chain: isolation.Name}}})

	// Published ports answer on the host's own addresses; from outside, not
	// on 127/8 (loopback stays closed to other hosts).
	local := []expr.Any{
		&expr.Fib{Register: 1, FlagDADDR: true, ResultADDRTYPE: true},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutilNative(unix.RTN_LOCAL)},
	}
	notLoopback := []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 1},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: []byte{127}},
	}
	jump := &expr.Verdict{Kind: expr.VerdictJump, Chain: publish.Name}
	c.AddRule(&nftables.Rule{Table: t, Chain: pre, Exprs: append(append(append([]expr.Any{}, local...), notLoopback...), jump)})
	c.AddRule(&nftables.Rule{Table: t, Chain: out, Exprs: append(append([]expr.Any{}, local...), jump)})

	for proto, num := range nftProtos {
		isProto := []expr.Any{
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{num}},
		}
		dnat := &expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegProtoMin: 9, Specified: true}
		bound := pubSet(t, proto, true)
		c.AddRule(&nftables.Rule{Table: t, Chain: publish, Exprs: append(append([]expr.Any{}, isProto...),
			&expr.Payload{DestRegister: 8, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
			&expr.Payload{DestRegister: 9, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
			&expr.Lookup{SourceRegister: 8, SetName: bound.Name, DestRegister: 1, IsDestRegSet: true},
			dnat)})
		any := pubSet(t, proto, false)
		c.AddRule(&nftables.Rule{Table: t, Chain: publish, Exprs: append(append([]expr.Any{}, isProto...),
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
			&expr.Lookup{SourceRegister: 1, SetName: any.Name, DestRegister: 1, IsDestRegSet: true},
			dnat)})
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables: creating table %s: %w", nftTable, err)
	}
	return nil
}

func binaryutilNative(v uint32) []byte {
	b := make([]byte, 4)
	binary.NativeEndian.PutUint32(b, v)
	return b
}

func ifname(name string) []byte {
	b := make([]byte, 16)
	copy(b, name)
	return b
}

func (f *nftFirewall) chain(name string) *nftables.Chain {
	return &nftables.Chain{Name: name, Table: f.table()}
}

// networkRules are a network's own rules, by chain.
func (f *nftFirewall) networkRules(n *Network) map[string][][]expr.Any {
	_, sub, _ := net.ParseCIDR(n.Subnet)
	br := ifname(n.Bridge)
	oif := func(op expr.CmpOp) []expr.Any {
		return []expr.Any{&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1}, &expr.Cmp{Op: op, Register: 1, Data: br}}
	}
	iif := []expr.Any{&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 2}, &expr.Cmp{Op: expr.CmpOpEq, Register: 2, Data: br}}
	src := func(ip net.IP, mask net.IPMask) []expr.Any {
		return []expr.Any{
			&expr.Payload{DestRegister: 3, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
			&expr.Bitwise{SourceRegister: 3, DestRegister: 3, Len: 4, Mask: mask, Xor: []byte{0, 0, 0, 0}},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 3, Data: ip.To4().Mask(mask)},
		}
	}
	ctStatus := func(bit uint32) []expr.Any {
		return []expr.Any{
			&expr.Ct{Register: 4, Key: expr.CtKeySTATUS},
			&expr.Bitwise{SourceRegister: 4, DestRegister: 4, Len: 4, Mask: binaryutilNative(bit), Xor: make([]byte, 4)},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 4, Data: make([]byte, 4)},
		}
	}
	ctState := []expr.Any{
		&expr.Ct{Register: 4, Key: expr.CtKeySTATE},
		&expr.Bitwise{SourceRegister: 4, DestRegister: 4, Len: 4, Mask: binaryutilNative(expr.CtStateBitESTABLISHED | expr.CtStateBitRELATED), Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 4, Data: make([]byte, 4)},
	}
	join := func(parts ...[]expr.Any) []expr.Any {
		var out []expr.Any
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	masq := []expr.Any{&expr.Masq{}}
	accept := []expr.Any{&expr.Verdict{Kind: expr.VerdictAccept}}
	drop := []expr.Any{&expr.Verdict{Kind: expr.VerdictDrop}}
	otherBridge := []expr.Any{ // a mydocker bridge, "md-*"
		&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte("md-")},
	}
	return map[string][][]expr.Any{
		"postrouting": {
			join(src(sub.IP, sub.Mask), oif(expr.CmpOpNeq), masq),                           // leaving the subnet
			join(src(net.IPv4(127, 0, 0, 0), net.CIDRMask(8, 32)), oif(expr.CmpOpEq), masq), // from the host's loopback
			// Hairpin: a container reaching a published port of its own
			// network (itself too) through the host. The input interface is
			// not known in postrouting, so: from the subnet, back to it, DNAT'd.
			join(src(sub.IP, sub.Mask), oif(expr.CmpOpEq), ctStatus(ctStatusDNAT), masq),
		},
		"isolation": {
			join(iif, oif(expr.CmpOpNeq), otherBridge, drop),
		},
		"forward": {
			join(oif(expr.CmpOpEq), ctState, accept),
			join(oif(expr.CmpOpEq), ctStatus(ctStatusDNAT), accept), // only through the published ports
			join(iif, accept), // the network itself, and outbound
			join(oif(expr.CmpOpEq), drop),
		},
	}
}

func (f *nftFirewall) addNetwork(n *Network) error {
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	if err := f.ensure(c); err != nil {
		return err
	}
	if err := f.deleteOwned(c, tagNetPrefix+n.ID[:12]); err != nil {
		return err
	}
	tag := []byte(tagNetPrefix + n.ID[:12])
	for chain, rules := range f.networkRules(n) {
		for _, exprs := range rules {
			c.AddRule(&nftables.Rule{Table: f.table(), Chain: f.chain(chain), Exprs: exprs, UserData: tag})
		}
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables: rules of network %s: %w", n.Name, err)
	}
	return forwardAccepts(n, "-A")
}

// deleteOwned removes the rules whose user data is tag.
func (f *nftFirewall) deleteOwned(c *nftables.Conn, tag string) error {
	for _, chain := range []string{"postrouting", "isolation", "forward"} {
		rules, err := c.GetRules(f.table(), f.chain(chain))
		if err != nil {
			return fmt.Errorf("nftables: %w", err)
		}
		for _, r := range rules {
			if string(r.UserData) == tag {
				c.DelRule(r)
			}
		}
	}
	return c.Flush()
}

func (f *nftFirewall) removeNetwork(n *Network) error {
	forwardAccepts(n, "-D")
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	if !f.exists(c) {
		return nil
	}
	if err := f.deleteOwned(c, tagNetPrefix+n.ID[:12]); err != nil {
		return err
	}
	// The table goes with the last network that had rules in it.
	rules, err := c.GetRules(f.table(), f.chain("forward"))
	if err == nil && len(rules) <= 1 {
		c.DelTable(f.table())
		return c.Flush()
	}
	return nil
}

func (f *nftFirewall) exists(c *nftables.Conn) bool {
	tables, err := c.ListTablesOfFamily(nftables.TableFamilyIPv4)
	if err != nil {
		return false
	}
	for _, t := range tables {
		if t.Name == nftTable {
			return true
		}
	}
	return false
}

// forwardAccepts adds or deletes ("-A", "-D") the two accepts of a network's
// bridge in iptables' FORWARD, where iptables is there.
func forwardAccepts(n *Network, op string) error {
	// Not the iptables backend's network tag: its chains must not count
	// these as a network of its own.
	tag := tagNftPrefix + n.ID[:12]
	var lines []string
	for _, dir := range []string{"-i", "-o"} {
		lines = append(lines, fmt.Sprintf("%s FORWARD %s %s -j ACCEPT -m comment --comment %q", op, dir, n.Bridge, tag))
	}
	err := restore(map[string][]string{"filter": lines})
	if err != nil && (op == "-D" || strings.Contains(err.Error(), "executable file not found")) {
		return nil
	}
	return err
}

// elements are the map elements publishing ep's ports, by map name.
func (f *nftFirewall) elements(ep *Endpoint) map[string][]nftables.SetElement {
	out := map[string][]nftables.SetElement{}
	ip := net.ParseIP(ep.IPAddress).To4()
	tag := tagContPrefix + ep.ContainerID[:12]
	for _, p := range ep.Ports {
		val := append(append([]byte{}, ip...), port4(p.ContainerPort)...)
		if p.HostIP != "" && p.HostIP != "0.0.0.0" {
			key := append(append([]byte{}, net.ParseIP(p.HostIP).To4()...), port4(p.HostPort)...)
			out["pubip_"+p.Proto] = append(out["pubip_"+p.Proto], nftables.SetElement{Key: key, Val: val, Comment: tag})
		} else {
			out["pub_"+p.Proto] = append(out["pub_"+p.Proto], nftables.SetElement{Key: port4(p.HostPort)[:2], Val: val, Comment: tag})
		}
	}
	return out
}

// port4 is a port in network order, padded to a register's 4 bytes.
func port4(p int) []byte { return []byte{byte(p >> 8), byte(p), 0, 0} }

func (f *nftFirewall) addContainer(ep *Endpoint) error {
	if err := f.changeElements(ep, true); err != nil {
		return fmt.Errorf("nftables: publishing the ports of %s: %w", ep.ContainerID[:12], err)
	}
	return nil
}

func (f *nftFirewall) removeContainer(ep *Endpoint) error {
	if err := f.changeElements(ep, false); err != nil {
		// Some already gone: delete them by owner instead.
		return f.removeContainers([]string{ep.ContainerID}, nil)
	}
	return nil
}

// changeElements adds (or deletes) the map elements of ep's ports, in one
// netlink batch.
func (f *nftFirewall) changeElements(ep *Endpoint, add bool) error {
	if len(ep.Ports) == 0 {
		return nil
	}
	c, err := nftables.New()
	if err != nil {
		return err
	}
	for name, els := range f.elements(ep) {
		proto := strings.TrimPrefix(strings.TrimPrefix(name, "pubip_"), "pub_")
		set := pubSet(f.table(), proto, strings.HasPrefix(name, "pubip_"))
		if add {
			err = c.SetAddElements(set, els)
		} else {
			err = c.SetDeleteElements(set, els)
		}
		if err != nil {
			return err
		}
	}
	return c.Flush()
}

// removeContainers deletes the elements of the given containers, or, with
// keep, of every container keep does not claim.
func (f *nftFirewall) removeContainers(ids []string, keep func(id12 string) bool) error {
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	if !f.exists(c) {
		return nil
	}
	want := map[string]bool{}
	for _, id := range ids {
		want[id[:12]] = true
	}
	for proto := range nftProtos {
		for _, bound := range []bool{false, true} {
			s := pubSet(f.table(), proto, bound)
			els, err := c.GetSetElements(s)
			if err != nil {
				return fmt.Errorf("nftables: %w", err)
			}
			var gone []nftables.SetElement
			for _, e := range els {
				id := strings.TrimPrefix(e.Comment, tagContPrefix)
				if want[id] || keep != nil && !keep(id) {
					gone = append(gone, nftables.SetElement{Key: e.Key})
				}
			}
			if len(gone) > 0 {
				if err := c.SetDeleteElements(s, gone); err != nil {
					return err
				}
			}
		}
	}
	return c.Flush()
}

// ctStatusDNAT is conntrack's IPS_DST_NAT bit: the connection was DNAT'd.
const ctStatusDNAT = 1 << 5

// nftAvailable reports whether the kernel answers nf_tables over netlink.
func nftAvailable() bool {
	c, err := nftables.New()
	if err != nil {
		return false
	}
	_, err = c.ListTablesOfFamily(nftables.TableFamilyIPv4)
	return err == nil
}
