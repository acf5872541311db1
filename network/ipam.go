package network

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/mydocker/mydocker/internal/fsutil"
)

// IPAM hands out the addresses of a subnet. Each subnet's state is a bitmap,
// one bit per address, kept in memory as words and on disk as JSON runs of
// allocated offsets, so a /8 (16M addresses) costs only what is allocated.
// Every change holds the subnet's file lock and is written atomically. The
// network address, the broadcast address and the gateway are never handed
// out.
type IPAM struct {
	dir string // <run>/network/ipam
}

// poolFile is a subnet's state on disk.
type poolFile struct {
	Subnet string `json:"subnet"`
	// Allocated holds runs of allocated offsets from the network address:
	// [first, count].
	Allocated [][2]uint32 `json:"allocated"`
	// Next is where the next search starts, so that an address just
	// released is not handed out again at once.
	Next uint32 `json:"next"`
}

// pool is a subnet's state in memory.
type pool struct {
	base uint32 // the network address
	size uint32 // addresses in the subnet
	bm   bitmap
	next uint32
}

type bitmap []uint64

func newBitmap(n uint32) bitmap     { return make(bitmap, (uint64(n)+63)/64) }
func (b bitmap) test(i uint32) bool { return b[i/64]&(1<<(i%64)) != 0 }
func (b bitmap) set(i uint32)       { b[i/64] |= 1 << (i % 64) }
func (b bitmap) clear(i uint32)     { b[i/64] &^= 1 << (i % 64) }
func (b bitmap) setRun(first, count uint32) {
	for i := first; i < first+count; i++ {
		if i%64 == 0 && first+count-i >= 64 {
			b[i/64] = ^uint64(0)
			i += 63
			continue
		}
		b.set(i)
	}
}

// firstClear returns the first clear bit in [lo, hi], scanning a word at a
// time.
func (b bitmap) firstClear(lo, hi uint32) (uint32, bool) {
	for i := lo; i <= hi; {
		w := b[i/64] | (1<<(i%64) - 1) // ignore bits below i in this word
		if w != ^uint64(0) {
			c := i/64*64 + uint32(bits.TrailingZeros64(^w))
			if c <= hi {
				return c, true
			}
			return 0, false
		}
		next := (i/64 + 1) * 64
		if next <= i { // wrapped past 2^32
			break
		}
		i = next
	}
	return 0, false
}

// runs encodes the set bits as [first, count] runs.
func (b bitmap) runs(size uint32) [][2]uint32 {
	var out [][2]uint32
	for i := uint32(0); i < size; {
		if b[i/64] == 0 && i%64 == 0 {
			i += 64
			continue
		}
		if !b.test(i) {
			i++
			continue
		}
		start := i
		for i < size && b.test(i) {
			if i%64 == 0 && b[i/64] == ^uint64(0) && size-i >= 64 {
				i += 64
				continue
			}
			i++
		}
		out = append(out, [2]uint32{start, i - start})
	}
	return out
}

func ipToU32(ip net.IP) uint32 { return binary.BigEndian.Uint32(ip.To4()) }

func u32ToIP(n uint32) net.IP {
	ip := make(net.IP, 4)
	binary.BigEndian.PutUint32(ip, n)
	return ip
}

// subnetRange checks an IPv4 subnet that can hold a gateway and at least one
// container, and returns its network address and size.
func subnetRange(subnet *net.IPNet) (base, size uint32, err error) {
	ones, total := subnet.Mask.Size()
	if subnet.IP.To4() == nil || total != 32 {
		return 0, 0, fmt.Errorf("subnet %s: only IPv4 subnets are supported", subnet)
	}
	if ones > 30 {
		return 0, 0, fmt.Errorf("subnet %s is too small: a /30 is the smallest (network, gateway, one container, broadcast)", subnet)
	}
	if ones < 8 {
		return 0, 0, fmt.Errorf("subnet %s is too large: a /8 is the largest", subnet)
	}
	return ipToU32(subnet.IP), uint32(1) << (32 - ones), nil
}

func (a *IPAM) path(subnet *net.IPNet) string {
	return filepath.Join(a.dir, strings.ReplaceAll(subnet.String(), "/", "_")+".json")
}

// with runs fn on the subnet's pool under its lock and saves the pool if fn
// succeeds and says it changed it.
func (a *IPAM) with(subnet *net.IPNet, fn func(p *pool) (bool, error)) error {
	base, size, err := subnetRange(subnet)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(a.dir, 0o700); err != nil {
		return err
	}
	path := a.path(subnet)
	unlock, err := fsutil.Lock(strings.TrimSuffix(path, ".json") + ".lock")
	if err != nil {
		return err
	}
	defer unlock()
	p := &pool{base: base, size: size, bm: newBitmap(size), next: 1}
	var pf poolFile
	switch err := fsutil.ReadJSON(path, &pf); {
	case err == nil:
		for _, r := range pf.Allocated {
			if uint64(r[0])+uint64(r[1]) > uint64(size) {
				return fmt.Errorf("%s: allocation %v outside the subnet", path, r)
			}
			p.bm.setRun(r[0], r[1])
		}
		if pf.Next > 0 && pf.Next < size-1 {
			p.next = pf.Next
		}
	case !errors.Is(err, os.ErrNotExist):
		return err
	}
	changed, err := fn(p)
	if err != nil || !changed {
		return err
	}
	return fsutil.WriteVolatileJSON(path, poolFile{Subnet: subnet.String(), Allocated: p.bm.runs(size), Next: p.next})
}

func (p *pool) offset(ip net.IP) (uint32, error) {
	if ip.To4() == nil {
		return 0, fmt.Errorf("%s is not an IPv4 address", ip)
	}
	off := ipToU32(ip) - p.base
	if ipToU32(ip) < p.base || off >= p.size {
		return 0, fmt.Errorf("%s is outside the subnet", ip)
	}
	return off, nil
}

// Reserve marks ip (the gateway) as taken.
func (a *IPAM) Reserve(subnet *net.IPNet, ip net.IP) error {
	return a.with(subnet, func(p *pool) (bool, error) {
		off, err := p.offset(ip)
		if err != nil {
			return false, err
		}
		if off == 0 || off == p.size-1 {
			return false, fmt.Errorf("%s is the network or broadcast address of %s", ip, subnet)
		}
		p.bm.set(off)
		return true, nil
	})
}

// ErrSubnetFull is returned when every address of a subnet is in use.
var ErrSubnetFull = errors.New("no addresses left")

// Allocate takes the next free address of subnet. commit runs under the
// subnet's lock before the allocation is saved (the caller records who owns
// the address there); if it fails, nothing is allocated.
func (a *IPAM) Allocate(subnet *net.IPNet, commit func(net.IP) error) (net.IP, error) {
	var ip net.IP
	err := a.with(subnet, func(p *pool) (bool, error) {
		lo, hi := uint32(1), p.size-2 // never the network or broadcast address
		off, ok := p.bm.firstClear(max(p.next, lo), hi)
		if !ok {
			off, ok = p.bm.firstClear(lo, hi)
		}
		if !ok {
			return false, fmt.Errorf("subnet %s: %w", subnet, ErrSubnetFull)
		}
		ip = u32ToIP(p.base + off)
		if commit != nil {
			if err := commit(ip); err != nil {
				return false, err
			}
		}
		p.bm.set(off)
		p.next = off + 1
		if p.next > hi {
			p.next = lo
		}
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	return ip, nil
}

// Release returns ip to the subnet. done runs under the lock once the
// release is decided (the caller drops its ownership record there).
func (a *IPAM) Release(subnet *net.IPNet, ip net.IP, done func() error) error {
	return a.with(subnet, func(p *pool) (bool, error) {
		off, err := p.offset(ip)
		if err != nil {
			return false, err
		}
		changed := p.bm.test(off)
		p.bm.clear(off)
		if done != nil {
			if err := done(); err != nil {
				return false, err
			}
		}
		return changed, nil
	})
}

// Sweep clears every allocated address of subnet that keep does not claim:
// what a mydocker killed mid-operation left behind.
func (a *IPAM) Sweep(subnet *net.IPNet, keep func(net.IP) bool) (freed int, err error) {
	err = a.with(subnet, func(p *pool) (bool, error) {
		for _, r := range p.bm.runs(p.size) {
			for off := r[0]; off < r[0]+r[1]; off++ {
				if !keep(u32ToIP(p.base + off)) {
					p.bm.clear(off)
					freed++
				}
			}
		}
		return freed > 0, nil
	})
	return freed, err
}

// Delete forgets a subnet.
func (a *IPAM) Delete(subnet *net.IPNet) error {
	path := a.path(subnet)
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	os.Remove(strings.TrimSuffix(path, ".json") + ".lock")
	return nil
}
