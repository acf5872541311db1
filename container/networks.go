package container

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/mydocker/mydocker/internal/errdefs"
	"github.com/mydocker/mydocker/network"
)

// The network commands, reconciled first so that what a killed mydocker
// left (endpoints of gone containers) never blocks them.

// NetworkCreate creates a network and prints its ID.
func (rt *Runtime) NetworkCreate(o network.CreateOptions, w io.Writer) error {
	rt.Reconcile() // best effort: leftovers must not block network commands
	n, err := rt.Networks.Create(o)
	if err != nil {
		return err
	}
	fmt.Fprintln(w, n.ID)
	return nil
}

// NetworkList prints the networks.
func (rt *Runtime) NetworkList(w io.Writer, quiet bool) error {
	nets, err := rt.Networks.List()
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	if !quiet {
		fmt.Fprintln(tw, "NETWORK ID\tNAME\tDRIVER\tSUBNET\tGATEWAY\tBRIDGE")
	}
	for _, n := range nets {
		if quiet {
			fmt.Fprintln(tw, n.ID[:12])
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", n.ID[:12], n.Name, n.Driver, n.Subnet, n.Gateway, n.Bridge)
	}
	return tw.Flush()
}

// networkView is what `network inspect` shows of one network.
type networkView struct {
	*network.Network
	Containers map[string]containerOnNetwork `json:"Containers"`
}

type containerOnNetwork struct {
	Name        string `json:"Name"`
	IPv4Address string `json:"IPv4Address"`
	MacAddress  string `json:"MacAddress"`
	HostVeth    string `json:"HostVeth"`
}

// NetworkInspect prints networks as JSON, with the containers on them, or
// each through a Go template (format).
func (rt *Runtime) NetworkInspect(refs []string, format string, w io.Writer) error {
	rt.Reconcile() // best effort: leftovers must not block network commands
	var out []any
	var missing error
	for _, ref := range refs {
		n, err := rt.Networks.Get(ref)
		if err != nil {
			missing = err
			continue
		}
		eps, err := rt.Networks.Attached(n)
		if err != nil {
			return err
		}
		v := networkView{Network: n, Containers: map[string]containerOnNetwork{}}
		for _, ep := range eps {
			v.Containers[ep.ContainerID] = containerOnNetwork{Name: ep.ContainerName,
				IPv4Address: fmt.Sprintf("%s/%d", ep.IPAddress, ep.IPPrefixLen), MacAddress: ep.MacAddress, HostVeth: ep.HostVeth}
		}
		out = append(out, v)
	}
	if err := printJSONOrTemplate(out, format, w); err != nil {
		return err
	}
	return missing
}

// NetworkRemove removes networks, printing each removed.
func (rt *Runtime) NetworkRemove(refs []string, w io.Writer, errw io.Writer) error {
	rt.Reconcile() // best effort: leftovers must not block network commands
	failed := false
	for _, ref := range refs {
		if err := rt.Networks.Remove(ref); err != nil {
			fmt.Fprintf(errw, "mydocker: %v\n", err)
			failed = true
			continue
		}
		fmt.Fprintln(w, ref)
	}
	if failed {
		return errdefs.WithCode(errdefs.Quiet, errdefs.CodeGeneral)
	}
	return nil
}

// Port prints a running container's published ports, as `docker port`.
func (rt *Runtime) Port(ref string, w io.Writer) error {
	c, err := rt.Lookup(ref)
	if err != nil {
		return err
	}
	if c.State.Status != Running || c.NetworkSettings == nil {
		return nil
	}
	for _, p := range c.NetworkSettings.Ports {
		ip := p.HostIP
		if ip == "" {
			ip = "0.0.0.0"
		}
		fmt.Fprintf(w, "%d/%s -> %s:%d\n", p.ContainerPort, p.Proto, ip, p.HostPort)
	}
	return nil
}
