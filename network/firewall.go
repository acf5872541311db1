package network

import (
	"bytes"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
)

// mydocker's iptables rules live in its own chains, reached by one jump from
// each built-in chain it needs:
//
//	nat    PREROUTING  -> MYDOCKER              DNAT of published ports (not for 127/8: from outside, loopback stays closed)
//	nat    OUTPUT      -> MYDOCKER              the same for the host's own connections, localhost included
//	nat    POSTROUTING -> MYDOCKER-POSTROUTING  masquerade: leaving a subnet, from localhost, hairpin
//	filter FORWARD     -> MYDOCKER-FORWARD      isolation, established, intra-network, published, outbound, drop
//
// Every rule carries a comment naming its owner: "mydocker" (the jumps),
// "mydocker-net:<network id>" or "mydocker:<container id>". Rules are
// added in one iptables-restore --noflush batch (one fork, however many
// rules the host has) and removed by owner: the lines iptables-save shows
// with that comment are deleted as shown, so exactly those go.
type firewall struct{}

const (
	chainNAT       = "MYDOCKER"
	chainPost      = "MYDOCKER-POSTROUTING"
	chainForward   = "MYDOCKER-FORWARD"
	chainPorts     = "MYDOCKER"
	chainIsolate1  = "MYDOCKER-ISOLATION-1"
	chainIsolate2  = "MYDOCKER-ISOLATION-2"
	tagJump        = "mydocker"
	tagNetPrefix   = "mydocker-net:"
	tagContPrefix  = "mydocker:"
	localhostRange = "127.0.0.0/8"
)

// rule is one iptables rule: table, chain, and the match and target.
type rule struct {
	table, chain string
	args         []string
	insert       bool // at the head of the chain rather than the tail
}

func (r rule) line(tag string) string {
	op := "-A"
	if r.insert {
		op = "-I"
	}
	return fmt.Sprintf("%s %s %s -m comment --comment %s", op, r.chain, strings.Join(r.args, " "), strconv.Quote(tag))
}

// restore applies lines (per table) in one iptables-restore batch.
func restore(lines map[string][]string) error {
	var in bytes.Buffer
	for _, table := range []string{"filter", "nat"} {
		if len(lines[table]) == 0 {
			continue
		}
		fmt.Fprintf(&in, "*%s\n%s\nCOMMIT\n", table, strings.Join(lines[table], "\n"))
	}
	if in.Len() == 0 {
		return nil
	}
	cmd := exec.Command("iptables-restore", "--noflush", "--wait")
	cmd.Stdin = &in
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("iptables-restore: %v: %s", err, bytes.TrimSpace(out))
	}
	return nil
}

// saved is what iptables-save shows of the filter and nat tables.
type saved struct {
	chains map[string]map[string]bool // table -> chain -> exists
	rules  map[string][]string        // table -> "-A ..." lines
}

func save() (*saved, error) {
	s := &saved{chains: map[string]map[string]bool{}, rules: map[string][]string{}}
	for _, table := range []string{"filter", "nat"} {
		out, err := exec.Command("iptables-save", "-t", table).Output()
		if err != nil {
			return nil, fmt.Errorf("iptables-save -t %s: %v (is iptables installed?)", table, err)
		}
		s.chains[table] = map[string]bool{}
		for _, line := range strings.Split(string(out), "\n") {
			switch {
			case strings.HasPrefix(line, ":"):
				s.chains[table][strings.Fields(line[1:])[0]] = true
			case strings.HasPrefix(line, "-A "):
				s.rules[table] = append(s.rules[table], line)
			}
		}
	}
	return s, nil
}

// owned returns the rules whose comment is tag, or starts with it when
// prefix is set.
func (s *saved) owned(tag string, prefix bool) map[string][]string {
	out := map[string][]string{}
	for table, lines := range s.rules {
		for _, l := range lines {
			if t, ok := commentOf(l); ok && (t == tag || prefix && strings.HasPrefix(t, tag)) {
				out[table] = append(out[table], l)
			}
		}
	}
	return out
}

// commentOf extracts the --comment of a saved rule.
func commentOf(line string) (string, bool) {
	const key = `--comment "`
	i := strings.Index(line, key)
	if i < 0 {
		if j := strings.Index(line, "--comment "); j >= 0 {
			f := strings.Fields(line[j+len("--comment "):])
			if len(f) > 0 {
				return f[0], true
			}
		}
		return "", false
	}
	rest := line[i+len(key):]
	j := strings.IndexByte(rest, '"')
	if j < 0 {
		return "", false
	}
	return rest[:j], true
}

// deleteLines turns saved rules into the batch that deletes them.
func deleteLines(rules map[string][]string) map[string][]string {
	out := map[string][]string{}
	for table, lines := range rules {
		for _, l := range lines {
			out[table] = append(out[table], "-D"+strings.TrimPrefix(l, "-A"))
		}
	}
	return out
}

// ownChains are mydocker's chains, by table.
var ownChains = []struct{ table, chain string }{
	{"nat", chainNAT}, {"nat", chainPost},
	{"filter", chainForward}, {"filter", chainPorts}, {"filter", chainIsolate1}, {"filter", chainIsolate2},
}

// ensureChains creates mydocker's chains and the jumps to them, if missing.
func (f *firewall) ensureChains(s *saved, batch map[string][]string) {
	for _, c := range ownChains {
		if !s.chains[c.table][c.chain] {
			batch[c.table] = append(batch[c.table], "-N "+c.chain)
		}
	}
	have := map[string]bool{}
	for table, lines := range s.owned(tagJump, false) {
		for _, l := range lines {
			have[table+" "+strings.Fields(l)[1]] = true
		}
	}
	for _, r := range []rule{
		{"nat", "PREROUTING", []string{"-m", "addrtype", "--dst-type", "LOCAL", "!", "-d", localhostRange, "-j", chainNAT}, false},
		{"nat", "OUTPUT", []string{"-m", "addrtype", "--dst-type", "LOCAL", "-j", chainNAT}, false},
		{"nat", "POSTROUTING", []string{"-j", chainPost}, false},
		{"filter", "FORWARD", []string{"-j", chainForward}, true},
		{"filter", chainForward, []string{"-j", chainIsolate1}, true},
	} {
		if !have[r.table+" "+r.chain] {
			batch[r.table] = append(batch[r.table], r.line(tagJump))
		}
	}
}

// networkRules are a network's own rules, all scoped to its bridge.
func networkRules(n *Network) []rule {
	br, sub := n.Bridge, n.Subnet
	return []rule{
		// Leaving the subnet: masquerade as the host.
		{"nat", chainPost, []string{"-s", sub, "!", "-o", br, "-j", "MASQUERADE"}, false},
		// From the host's loopback to a published port: the container
		// must answer the host, not 127.0.0.1.
		{"nat", chainPost, []string{"-s", localhostRange, "-o", br, "-m", "addrtype", "--src-type", "LOCAL", "-j", "MASQUERADE"}, false},
		// Networks are isolated from each other, both ways.
		{"filter", chainIsolate1, []string{"-i", br, "!", "-o", br, "-j", chainIsolate2}, false},
		{"filter", chainIsolate2, []string{"-o", br, "-j", "DROP"}, false},
		// Replies, published ports, containers of this network to each
		// other and to the outside; nothing else comes in.
		{"filter", chainForward, []string{"-o", br, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"}, false},
		{"filter", chainForward, []string{"-o", br, "-j", chainPorts}, false},
		{"filter", chainForward, []string{"-i", br, "-o", br, "-j", "ACCEPT"}, false},
		{"filter", chainForward, []string{"-i", br, "!", "-o", br, "-j", "ACCEPT"}, false},
		{"filter", chainForward, []string{"-o", br, "-j", "DROP"}, false},
	}
}

// portRules publish one port of a container.
func portRules(br, ip string, p PortMapping) []rule {
	proto, cport, hport := p.Proto, strconv.Itoa(p.ContainerPort), strconv.Itoa(p.HostPort)
	dnat := []string{}
	if p.HostIP != "" && p.HostIP != "0.0.0.0" {
		dnat = append(dnat, "-d", p.HostIP+"/32")
	}
	dnat = append(dnat, "-p", proto, "-m", proto, "--dport", hport, "-j", "DNAT", "--to-destination", ip+":"+cport)
	return []rule{
		{"nat", chainNAT, dnat, false},
		// Only traffic that came through the DNAT: a published container
		// port is not reachable by routing to the container's address.
		{"filter", chainPorts, []string{"-d", ip + "/32", "!", "-i", br, "-o", br, "-p", proto, "-m", proto, "--dport", cport,
			"-m", "conntrack", "--ctstate", "DNAT", "-j", "ACCEPT"}, false},
		// Hairpin: the container reaching itself through the host port.
		{"nat", chainPost, []string{"-s", ip + "/32", "-d", ip + "/32", "-p", proto, "-m", proto, "--dport", cport, "-j", "MASQUERADE"}, false},
	}
}

// addNetwork installs the chains (once) and a network's rules, replacing
// any rules of that network already there.
func (f *firewall) addNetwork(n *Network) error {
	s, err := save()
	if err != nil {
		return err
	}
	batch := deleteLines(s.owned(tagNetPrefix+n.ID[:12], false))
	f.ensureChains(s, batch)
	for _, r := range networkRules(n) {
		batch[r.table] = append(batch[r.table], r.line(tagNetPrefix+n.ID[:12]))
	}
	return restore(batch)
}

// removeNetwork deletes a network's rules, and mydocker's chains and jumps
// once no rule of any network or container is left in them.
func (f *firewall) removeNetwork(n *Network) error {
	s, err := save()
	if err != nil {
		return err
	}
	if err := restore(deleteLines(s.owned(tagNetPrefix+n.ID[:12], false))); err != nil {
		return err
	}
	return f.removeChainsIfUnused()
}

func (f *firewall) removeChainsIfUnused() error {
	s, err := save()
	if err != nil {
		return err
	}
	if len(s.owned(tagNetPrefix, true)) > 0 {
		return nil // another network (perhaps of another state tree) uses them
	}
	for _, lines := range s.owned(tagContPrefix, true) {
		if len(lines) > 0 {
			return nil
		}
	}
	batch := deleteLines(s.owned(tagJump, false))
	for _, c := range ownChains {
		if s.chains[c.table][c.chain] {
			batch[c.table] = append(batch[c.table], "-X "+c.chain)
		}
	}
	return restore(batch)
}

// containerBatch is the batch that adds (op "-A") or deletes (op "-D") the
// rules publishing ep's ports.
func containerBatch(ep *Endpoint, op string) map[string][]string {
	batch := map[string][]string{}
	for _, p := range ep.Ports {
		for _, r := range portRules(ep.Bridge, ep.IPAddress, p) {
			line := r.line(tagContPrefix + ep.ContainerID[:12])
			batch[r.table] = append(batch[r.table], op+strings.TrimPrefix(line, "-A"))
		}
	}
	return batch
}

// addContainer publishes a container's ports.
func (f *firewall) addContainer(ep *Endpoint) error {
	return restore(containerBatch(ep, "-A"))
}

// removeContainer deletes the rules addContainer made for ep: in one batch
// built from the endpoint, without reading the tables first; if that fails
// (some rule already gone), by what iptables-save shows of its owner.
func (f *firewall) removeContainer(ep *Endpoint) error {
	if len(ep.Ports) == 0 || restore(containerBatch(ep, "-D")) == nil {
		return nil
	}
	return f.removeContainers([]string{ep.ContainerID}, nil)
}

// removeContainers deletes every rule of the given containers (by 12-hex
// ID prefix), or, with keep, of every container keep does not claim.
func (f *firewall) removeContainers(ids []string, keep func(id12 string) bool) error {
	s, err := save()
	if err != nil {
		return err
	}
	want := map[string]bool{}
	for _, id := range ids {
		want[id[:12]] = true
	}
	batch := map[string][]string{}
	for table, lines := range s.owned(tagContPrefix, true) {
		for _, l := range lines {
			tag, _ := commentOf(l)
			id := strings.TrimPrefix(tag, tagContPrefix)
			if want[id] || keep != nil && !keep(id) {
				batch[table] = append(batch[table], "-D"+strings.TrimPrefix(l, "-A"))
			}
		}
	}
	return restore(batch)
}
