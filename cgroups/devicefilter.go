package cgroups

import (
	"fmt"
	"os"
	"strconv"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// cgroup v2 has no devices controller: the policy is an eBPF program of type
// BPF_PROG_TYPE_CGROUP_DEVICE attached to the container's cgroup, which the
// kernel asks on every open and mknod of a device node (as runc and crun
// do). cilium/ebpf assembles and loads it.
//
// The program sees struct bpf_cgroup_dev_ctx { u32 access_type; u32 major;
// u32 minor; }: the low 16 bits of access_type are the device type, the
// high 16 bits the access (mknod 1, read 2, write 4).

const (
	devTypeBlock = 1
	devTypeChar  = 2
)

// deviceFilter assembles the rules, v1-style (a deny of everything, then
// what is allowed; a later rule wins), into a program: allowed when some
// allowing rule after the last deny-all matches.
func deviceFilter(rules []specs.LinuxDeviceCgroup) (asm.Instructions, error) {
	// Only allow rules after the last blanket deny count; a blanket allow
	// after it allows everything.
	start := 0
	for i, r := range rules {
		if !r.Allow {
			if r.Type != "" && r.Type != "a" || r.Major != nil || r.Minor != nil {
				return nil, fmt.Errorf("device rule %q: only a deny of everything is supported", DeviceRule(r))
			}
			start = i + 1
		}
	}
	insns := asm.Instructions{
		asm.LoadMem(asm.R2, asm.R1, 0, asm.Word), // type
		asm.And.Imm(asm.R2, 0xffff),
		asm.LoadMem(asm.R3, asm.R1, 0, asm.Word), // access
		asm.RSh.Imm(asm.R3, 16),
		asm.LoadMem(asm.R4, asm.R1, 4, asm.Word), // major
		asm.LoadMem(asm.R5, asm.R1, 8, asm.Word), // minor
	}
	for i, r := range rules[start:] {
		next := "rule" + strconv.Itoa(i+1)
		var block asm.Instructions
		switch r.Type {
		case "", "a":
		case "c":
			block = append(block, asm.JNE.Imm(asm.R2, devTypeChar, next))
		case "b":
			block = append(block, asm.JNE.Imm(asm.R2, devTypeBlock, next))
		default:
			return nil, fmt.Errorf("device rule %q: unknown type", DeviceRule(r))
		}
		var bits int32
		for _, c := range r.Access {
			switch c {
			case 'm':
				bits |= 1
			case 'r':
				bits |= 2
			case 'w':
				bits |= 4
			}
		}
		if r.Access == "" {
			bits = 7
		}
		if bits != 7 { // the asked access must be within the rule's
			block = append(block, asm.Mov.Reg(asm.R6, asm.R3), asm.And.Imm(asm.R6, ^bits&7), asm.JNE.Imm(asm.R6, 0, next))
		}
		if r.Major != nil && *r.Major >= 0 {
			block = append(block, asm.JNE.Imm(asm.R4, int32(*r.Major), next))
		}
		if r.Minor != nil && *r.Minor >= 0 {
			block = append(block, asm.JNE.Imm(asm.R5, int32(*r.Minor), next))
		}
		unconditional := len(block) == 0
		block = append(block, asm.Mov.Imm(asm.R0, 1), asm.Return())
		block[0] = block[0].WithSymbol("rule" + strconv.Itoa(i))
		insns = append(insns, block...)
		if unconditional {
			// Everything is allowed from here: nothing after it could run,
			// and the verifier refuses unreachable instructions.
			return insns, nil
		}
	}
	deny := asm.Mov.Imm(asm.R0, 0).WithSymbol("rule" + strconv.Itoa(len(rules)-start))
	return append(insns, deny, asm.Return()), nil
}

// attachDeviceFilter loads the rules' program and attaches it to a cgroup
// directory; it stays with the cgroup (and goes with it), not with this
// process.
func attachDeviceFilter(dir string, rules []specs.LinuxDeviceCgroup) error {
	insns, err := deviceFilter(rules)
	if err != nil {
		return err
	}
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.CGroupDevice, License: "Apache-2.0", Instructions: insns})
	if err != nil {
		return fmt.Errorf("loading the device filter: %w", err)
	}
	defer prog.Close()
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := link.RawAttachProgram(link.RawAttachProgramOptions{
		Target: int(d.Fd()), Program: prog, Attach: ebpf.AttachCGroupDevice, Flags: unix.BPF_F_ALLOW_MULTI,
	}); err != nil {
		return fmt.Errorf("attaching the device filter to %s: %w", dir, err)
	}
	return nil
}
