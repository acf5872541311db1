package network

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/mydocker/mydocker/internal/fsutil"
)

// PortMapping publishes a container port on the host.
type PortMapping struct {
	HostIP        string `json:"HostIp"`   // "" or 0.0.0.0: every host address
	HostPort      int    `json:"HostPort"` // 0 in a request: pick one from the dynamic range
	ContainerPort int    `json:"ContainerPort"`
	Proto         string `json:"Proto"` // tcp or udp
}

func (p PortMapping) String() string {
	ip := p.HostIP
	if ip == "" {
		ip = "0.0.0.0"
	}
	return fmt.Sprintf("%s:%d->%d/%s", ip, p.HostPort, p.ContainerPort, p.Proto)
}

// The range host ports are picked from when none is given, as Docker 0.1's
// PortAllocator did.
const (
	PortRangeStart = 49153
	PortRangeEnd   = 65535
)

// ParsePort reads -p: CONTAINER, HOST:CONTAINER, IP:HOST:CONTAINER or
// IP::CONTAINER, each with an optional /tcp or /udp.
func ParsePort(s string) (PortMapping, error) {
	bad := func(why string) (PortMapping, error) {
		return PortMapping{}, fmt.Errorf("invalid port specification %q: %s", s, why)
	}
	spec, proto, hasProto := strings.Cut(s, "/")
	if !hasProto {
		proto = "tcp"
	}
	if proto != "tcp" && proto != "udp" {
		return bad(fmt.Sprintf("unknown protocol %q (tcp or udp)", proto))
	}
	p := PortMapping{Proto: proto}
	parts := strings.Split(spec, ":")
	var hostIP, hostPort, contPort string
	switch len(parts) {
	case 1:
		contPort = parts[0]
	case 2:
		hostPort, contPort = parts[0], parts[1]
	case 3:
		hostIP, hostPort, contPort = parts[0], parts[1], parts[2]
	default:
		return bad("want [[IP:]HOST:]CONTAINER[/tcp|/udp]")
	}
	var err error
	if p.ContainerPort, err = parsePortNumber(contPort); err != nil {
		return bad("container port: " + err.Error())
	}
	if hostPort != "" {
		if p.HostPort, err = parsePortNumber(hostPort); err != nil {
			return bad("host port: " + err.Error())
		}
	}
	if hostIP != "" {
		ip := net.ParseIP(hostIP).To4()
		if ip == nil {
			return bad(fmt.Sprintf("host IP %q is not an IPv4 address", hostIP))
		}
		p.HostIP = ip.String()
	}
	return p, nil
}

func parsePortNumber(s string) (int, error) {
	if strings.Contains(s, "-") {
		return 0, fmt.Errorf("port ranges are not supported")
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("%q is not a port (1-65535)", s)
	}
	return n, nil
}

// portAllocator records which host ports mydocker has published, and for
// whom, in one JSON file under a lock.
type portAllocator struct {
	path string
}

// portKey names a published port: proto/ip/port, ip "" for all addresses.
func portKey(proto, ip string, port int) string {
	if ip == "0.0.0.0" {
		ip = ""
	}
	return fmt.Sprintf("%s/%s/%d", proto, ip, port)
}

func (a *portAllocator) with(fn func(owners map[string]string) (bool, error)) error {
	if err := os.MkdirAll(filepath.Dir(a.path), 0o700); err != nil {
		return err
	}
	unlock, err := fsutil.Lock(a.path + ".lock")
	if err != nil {
		return err
	}
	defer unlock()
	owners := map[string]string{}
	if err := fsutil.ReadJSON(a.path, &owners); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	changed, err := fn(owners)
	if err != nil || !changed {
		return err
	}
	return fsutil.WriteVolatileJSON(a.path, owners)
}

// portIndex is the published ports by proto/port, with the address of
// each ("" for all) and its owner: a collision check is one map lookup, so
// picking a port stays cheap with thousands published.
type portIndex map[string][][2]string

func indexPorts(maps ...map[string]string) portIndex {
	idx := portIndex{}
	for _, owners := range maps {
		for key, owner := range owners {
			if f := strings.SplitN(key, "/", 3); len(f) == 3 {
				k := f[0] + "/" + f[2]
				idx[k] = append(idx[k], [2]string{f[1], owner})
			}
		}
	}
	return idx
}

func (idx portIndex) add(proto, ip string, port int, owner string) {
	if ip == "0.0.0.0" {
		ip = ""
	}
	k := proto + "/" + strconv.Itoa(port)
	idx[k] = append(idx[k], [2]string{ip, owner})
}

// conflict reports whether proto/ip/port collides with a published one:
// the same port on the same address, or on all addresses.
func (idx portIndex) conflict(proto, ip string, port int) (string, bool) {
	if ip == "0.0.0.0" {
		ip = ""
	}
	for _, e := range idx[proto+"/"+strconv.Itoa(port)] {
		if e[0] == ip || e[0] == "" || ip == "" {
			return e[1], true
		}
	}
	return "", false
}

// allocate reserves host ports for owner, picking free ones where the
// request has none. A port already published, or bound by a process of the
// host, is refused. On error nothing is reserved.
func (a *portAllocator) allocate(owner string, req []PortMapping) ([]PortMapping, error) {
	out := make([]PortMapping, len(req))
	err := a.with(func(owners map[string]string) (bool, error) {
		idx := indexPorts(owners)
		added := map[string]string{}
		for i, p := range req {
			if p.HostPort == 0 {
				port, err := pickPort(idx, p.Proto, p.HostIP)
				if err != nil {
					return false, err
				}
				p.HostPort = port
			} else {
				if other, ok := idx.conflict(p.Proto, p.HostIP, p.HostPort); ok {
					return false, fmt.Errorf("port %d/%s is already published by container %.12s", p.HostPort, p.Proto, other)
				}
				if err := bindable(p.Proto, p.HostIP, p.HostPort); err != nil {
					return false, fmt.Errorf("port %d/%s is already in use on the host: %w", p.HostPort, p.Proto, err)
				}
			}
			added[portKey(p.Proto, p.HostIP, p.HostPort)] = owner
			idx.add(p.Proto, p.HostIP, p.HostPort, owner)
			out[i] = p
		}
		for k, v := range added {
			owners[k] = v
		}
		return len(added) > 0, nil
	})
	return out, err
}

// pickPort finds a free port in the dynamic range.
func pickPort(idx portIndex, proto, ip string) (int, error) {
	for port := PortRangeStart; port <= PortRangeEnd; port++ {
		if _, taken := idx.conflict(proto, ip, port); taken {
			continue
		}
		if bindable(proto, ip, port) == nil {
			return port, nil
		}
	}
	return 0, fmt.Errorf("no free host port left in %d-%d/%s", PortRangeStart, PortRangeEnd, proto)
}

// bindable checks that no host process holds the port, by binding it.
func bindable(proto, ip string, port int) error {
	addr := net.JoinHostPort(ip, strconv.Itoa(port))
	if proto == "udp" {
		c, err := net.ListenPacket("udp4", addr)
		if err != nil {
			return err
		}
		return c.Close()
	}
	l, err := net.Listen("tcp4", addr)
	if err != nil {
		return err
	}
	return l.Close()
}

// release frees every port owner holds.
func (a *portAllocator) release(owner string) error {
	return a.with(func(owners map[string]string) (bool, error) {
		changed := false
		for k, v := range owners {
			if v == owner {
				delete(owners, k)
				changed = true
			}
		}
		return changed, nil
	})
}

// sweep frees the ports of owners keep does not claim.
func (a *portAllocator) sweep(keep func(owner string) bool) error {
	return a.with(func(owners map[string]string) (bool, error) {
		changed := false
		for k, v := range owners {
			if !keep(v) {
				delete(owners, k)
				changed = true
			}
		}
		return changed, nil
	})
}
