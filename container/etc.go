package container

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
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

// writeEtcFiles writes the files etcMounts binds; ip is the container's
// address on its network, if it has one.
func (rt *Runtime) writeEtcFiles(c *Container, ips ...string) error {
	var hosts bytes.Buffer
	hosts.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n" +
		"fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n")
	for _, ip := range ips {
		fmt.Fprintf(&hosts, "%s\t%s %s\n", ip, c.Spec.Hostname, c.Name)
	}
	files := map[string][]byte{
		"hostname":    []byte(c.Spec.Hostname + "\n"),
		"hosts":       hosts.Bytes(),
		"resolv.conf": resolvConf(c.Config.NetworkMode == "host"),
	}
	for name, data := range files {
		if err := os.WriteFile(rt.etcPath(c.ID, name), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// resolvConf is the host's resolver configuration as a container can use it:
// a nameserver on the host's loopback is unreachable from another network
// namespace, so such lines are dropped (systemd-resolved's stub is replaced
// by the upstream list it keeps), and Docker's public fallback is used when
// nothing is left.
func resolvConf(hostNet bool) []byte {
	data, err := os.ReadFile("/etc/resolv.conf")
	if err != nil {
		data = nil
	}
	if hostNet {
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
			if strings.HasPrefix(f[1], "127.") || f[1] == "::1" {
				continue
			}
			servers++
		}
		out.WriteString(line + "\n")
	}
	if servers == 0 {
		out.WriteString("nameserver 8.8.8.8\nnameserver 8.8.4.4\n")
	}
	return out.Bytes()
}
