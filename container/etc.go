package container

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/mydocker/mydocker/network"
)

// The container's /etc/hostname, /etc/hosts and /etc/resolv.conf are files
// in its state directory, bind-mounted over the image's, as Docker does: the
// image stays untouched and commit does not capture them.

var etcFiles = []string{"hostname", "hosts", "resolv.conf"}

func (rt *Runtime) etcPath(id, name string) string { return filepath.Join(rt.store.path(id), name) }

// etcMounts are the spec mounts for the per-container /etc files.
func (rt *Runtime) etcMounts(id string) []specs.Mount {
	var ms []specs.Mount
	for _, name := range etcFiles {
		ms = append(ms, specs.Mount{Destination: "/etc/" + name, Type: "bind",
			Source: rt.etcPath(id, name), Options: []string{"rbind", "rprivate"}})
	}
	return ms
}

// writeEtcFiles writes the files etcMounts binds; ep is the container's
// endpoint on its network, if it has one.
func (rt *Runtime) writeEtcFiles(c *Container, ep *network.Endpoint) error {
	files := map[string][]byte{
		"hostname":    []byte(c.Spec.Hostname + "\n"),
		"hosts":       hostsFile(c.Spec.Hostname, c.Name, ep, nil),
		"resolv.conf": resolvConf(c.Config.NetworkMode == "host", c.Config.DNS),
	}
	for name, data := range files {
		if err := os.WriteFile(rt.etcPath(c.ID, name), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Names on a network: on a user-defined network, every container's
// /etc/hosts lists every other container there by name, aliases and short
// ID, as Docker's embedded DNS answers them; the default bridge network
// keeps Docker's behaviour of no names. Without a daemon, the files are kept
// current by whoever changes the membership: a container joining or
// leaving rewrites the hosts file of every container on the network, under
// the network's members lock. A file is rewritten in place (it is bind
// mounted: a rename would leave the container the old one).

// namedNetwork says whether containers on a network find each other by name.
func namedNetwork(mode string) bool {
	return mode != "" && mode != "none" && mode != "host" && mode != network.DefaultName
}

// hostsFile is /etc/hosts for a container: localhost, itself, then peers.
func hostsFile(hostname, name string, self *network.Endpoint, peers []*network.Endpoint) []byte {
	var b bytes.Buffer
	b.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n" +
		"fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n")
	if self != nil {
		fmt.Fprintf(&b, "%s\t%s\n", self.IPAddress, strings.Join(hostNames(hostname, name, self.Aliases), " "))
	}
	for _, p := range peers {
		if self != nil && p.ContainerID == self.ContainerID {
			continue
		}
		fmt.Fprintf(&b, "%s\t%s\n", p.IPAddress, strings.Join(hostNames(p.Hostname, p.ContainerName, p.Aliases), " "))
	}
	return b.Bytes()
}

func hostNames(hostname, name string, aliases []string) []string {
	out := []string{}
	for _, n := range append([]string{hostname, name}, aliases...) {
		if n != "" && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// syncNames rewrites the hosts file of every container on a network so that
// each lists the others.
func (rt *Runtime) syncNames(networkID string) error {
	unlock, members, err := rt.Networks.Members(networkID)
	if err != nil {
		return err
	}
	defer unlock()
	for _, m := range members {
		data := hostsFile(m.Hostname, m.ContainerName, m, members)
		if err := rewriteInPlace(rt.etcPath(m.ContainerID, "hosts"), data); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}

// rewriteInPlace replaces a file's content, keeping its inode: the new
// bytes over the old, then the rest cut, so that a reader never finds it
// empty.
func rewriteInPlace(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.WriteAt(data, 0); err != nil {
		return err
	}
	return f.Truncate(int64(len(data)))
}

// checkNames validates --network-alias and --dns for a network mode.
func checkNames(mode string, aliases, dns []string) error {
	if len(aliases) > 0 && !namedNetwork(mode) {
		return fmt.Errorf("--network-alias: network-scoped aliases are supported only for containers on user-defined networks")
	}
	for _, a := range aliases {
		if err := ValidateName(a); err != nil {
			return fmt.Errorf("--network-alias %q: %w", a, err)
		}
	}
	for _, d := range dns {
		if net.ParseIP(d) == nil {
			return fmt.Errorf("--dns %q: not an IP address", d)
		}
	}
	return nil
}

// resolvConf is the host's resolver configuration as a container can use it:
// a nameserver on the host's loopback is unreachable from another network
// namespace, so such lines are dropped (systemd-resolved's stub is replaced
// by the upstream list it keeps), and Docker's public fallback is used when
// nothing is left.
func resolvConf(hostNet bool, dns []string) []byte {
	data, err := os.ReadFile("/etc/resolv.conf")
	if err != nil {
		data = nil
	}
	if hostNet && len(dns) == 0 {
		return data
	}
	if bytes.Contains(data, []byte("127.0.0.53")) {
		if up, err := os.ReadFile("/run/systemd/resolve/resolv.conf"); err == nil {
			data = up
		}
	}
	var out bytes.Buffer
	servers := 0
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "nameserver" {
			if len(dns) > 0 || strings.HasPrefix(f[1], "127.") || f[1] == "::1" {
				continue // --dns replaces them; the host's loopback is not the container's
			}
			servers++
		}
		out.WriteString(line + "\n")
	}
	for _, d := range dns {
		fmt.Fprintf(&out, "nameserver %s\n", d)
		servers++
	}
	if servers == 0 {
		out.WriteString("nameserver 8.8.8.8\nnameserver 8.8.4.4\n")
	}
	return out.Bytes()
}
