package container

import (
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"text/template"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/mydocker/mydocker/cgroups"
	"github.com/mydocker/mydocker/internal/errdefs"
)

// PsOptions are the flags of `mydocker ps`.
type PsOptions struct {
	All, Quiet, NoTrunc bool
	// Filters are --filter KEY=VALUE: id, name, label, status, ancestor,
	// network; several of one key: any; of different keys: all.
	Filters []string
	// Last shows the n most recently created containers (any state).
	Last int
	// Format is a Go template for each row; "table TEMPLATE" adds a header.
	Format string
	// Size adds the SIZE column: the writable layer, and with the image.
	Size bool
}

// psRow is what a --format template sees of a container, as Docker names it.
type psRow struct {
	ID, Image, Command, CreatedAt, RunningFor, Status, Ports, Names, Labels, State, Networks, Size string
}

// match is the filter of ps: nil when every filter is known.
func psFilter(filters []string) (func(c *Container) bool, error) {
	byKey := map[string][]string{}
	for _, f := range filters {
		k, v, ok := strings.Cut(f, "=")
		switch k {
		case "id", "name", "label", "status", "ancestor", "network":
		default:
			return nil, fmt.Errorf("invalid filter '%s'", f)
		}
		if !ok || v == "" && k != "label" {
			return nil, fmt.Errorf("invalid filter '%s': want KEY=VALUE", f)
		}
		if k == "status" {
			switch v {
			case "created", "running", "exited", "paused":
			default:
				return nil, fmt.Errorf("invalid filter 'status=%s': created, running, exited or paused", v)
			}
		}
		byKey[k] = append(byKey[k], v)
	}
	one := func(c *Container, k, v string) bool {
		switch k {
		case "id":
			return strings.HasPrefix(c.ID, v)
		case "name":
			return strings.Contains(c.Name, strings.TrimPrefix(v, "/"))
		case "label":
			lk, lv, hasValue := strings.Cut(v, "=")
			got, ok := c.Config.Labels[lk]
			return ok && (!hasValue || got == lv)
		case "status":
			if v == "paused" {
				return c.State.Status == Running && c.State.Paused
			}
			return string(c.State.Status) == v && !(v == "running" && c.State.Paused)
		case "ancestor":
			return c.Image == v || strings.HasPrefix(strings.TrimPrefix(c.ImageID, "sha256:"), strings.TrimPrefix(v, "sha256:"))
		case "network":
			return c.Config.NetworkMode == v
		}
		return false
	}
	return func(c *Container) bool {
		for k, vs := range byKey {
			any := false
			for _, v := range vs {
				any = any || one(c, k, v)
			}
			if !any {
				return false
			}
		}
		return true
	}, nil
}

// Ps prints the container table, as `docker ps` does.
func (rt *Runtime) Ps(w io.Writer, o PsOptions) error {
	match, err := psFilter(o.Filters)
	if err != nil {
		return errdefs.WithCode(err, errdefs.CodeGeneral)
	}
	var tmpl *template.Template
	table := false
	if o.Format != "" {
		f := o.Format
		if rest, ok := strings.CutPrefix(f, "table"); ok {
			table, f = true, strings.TrimSpace(rest)
		}
		if tmpl, err = parseFormat(f); err != nil {
			return err
		}
	}
	list, err := rt.Reconcile()
	if err != nil {
		if list == nil {
			return err
		}
		// ps still tells what it can; the next command tries again.
		logrus.Warnf("reconciling: %v", err)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	if !o.Quiet && tmpl == nil {
		header := "CONTAINER ID\tIMAGE\tCOMMAND\tCREATED\tSTATUS\tPORTS\tNAMES"
		if o.Size {
			header += "\tSIZE"
		}
		fmt.Fprintln(tw, header)
	}
	if table && !o.Quiet {
		header := regexp.MustCompile(`\{\{\s*\.(\w+)\s*\}\}`).ReplaceAllStringFunc(o.Format[len("table"):], func(m string) string {
			return strings.ToUpper(strings.Trim(m, "{}. "))
		})
		fmt.Fprintln(tw, strings.TrimSpace(header))
	}
	now := time.Now()
	shown := 0
	for i := len(list) - 1; i >= 0; i-- { // newest first
		c := list[i]
		if o.Last > 0 && shown >= o.Last {
			break
		}
		if !o.All && o.Last == 0 && c.State.Status != Running || !match(c) {
			continue
		}
		shown++
		id := c.ShortID()
		if o.NoTrunc {
			id = c.ID
		}
		if o.Quiet {
			fmt.Fprintln(tw, id)
			continue
		}
		command := strings.Join(c.Spec.Process.Args, " ")
		if !o.NoTrunc && len(command) > 20 {
			command = command[:19] + "…"
		}
		size := ""
		if o.Size {
			size = rt.sizeText(c)
		}
		if tmpl != nil {
			var labels []string
			for k, v := range c.Config.Labels {
				labels = append(labels, k+"="+v)
			}
			sort.Strings(labels)
			state := string(c.State.Status)
			if c.State.Paused {
				state = "paused"
			}
			row := psRow{ID: id, Image: c.Image, Command: strconv.Quote(command), CreatedAt: c.Created.Local().Format("2006-01-02 15:04:05 -0700 MST"),
				RunningFor: humanDuration(now.Sub(c.Created)) + " ago", Status: c.statusText(now), Ports: c.portsText(), Names: c.Name,
				Labels: strings.Join(labels, ","), State: state, Networks: c.Config.NetworkMode, Size: size}
			if err := tmpl.Execute(tw, row); err != nil {
				return errdefs.WithCode(fmt.Errorf("--format: %w", err), errdefs.CodeGeneral)
			}
			fmt.Fprintln(tw)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%q\t%s ago\t%s\t%s\t%s", id, c.Image, command,
			humanDuration(now.Sub(c.Created)), c.statusText(now), c.portsText(), c.Name)
		if o.Size {
			fmt.Fprintf(tw, "\t%s", size)
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

// sizeText is the SIZE column, as Docker's: the bytes of the writable
// layer, then with the image's ("2B (virtual 4.26MB)").
func (rt *Runtime) sizeText(c *Container) string {
	var n int64
	filepath.WalkDir(rt.newRootfs(c.ID, nil).Upper, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	virtual := n
	if img, err := rt.Images.Get(c.ImageID); err == nil {
		virtual += img.Meta.Size
	}
	return fmt.Sprintf("%s (virtual %s)", humanSize(n), humanSize(virtual))
}

// portsText is the PORTS column: "0.0.0.0:8080->80/tcp, ...".
func (c *Container) portsText() string {
	if c.NetworkSettings == nil || c.State.Status != Running {
		return ""
	}
	var out []string
	for _, p := range c.NetworkSettings.Ports {
		out = append(out, p.String())
	}
	return strings.Join(out, ", ")
}

// statusText is the STATUS column: "Up 3 seconds", "Exited (0) 2 minutes ago".
func (c *Container) statusText(now time.Time) string {
	switch c.State.Status {
	case Running:
		if c.State.Paused {
			return "Up " + humanDuration(now.Sub(c.State.StartedAt)) + " (Paused)"
		}
		return "Up " + humanDuration(now.Sub(c.State.StartedAt))
	case Exited:
		if c.State.Restarting {
			return fmt.Sprintf("Restarting (%d) %s ago", c.State.ExitCode, humanDuration(now.Sub(c.State.FinishedAt)))
		}
		if c.State.FinishedAt.IsZero() {
			return fmt.Sprintf("Exited (%d)", c.State.ExitCode)
		}
		return fmt.Sprintf("Exited (%d) %s ago", c.State.ExitCode, humanDuration(now.Sub(c.State.FinishedAt)))
	}
	return "Created"
}

// humanDuration says how long, the way Docker does.
func humanDuration(d time.Duration) string {
	s := int(d.Seconds())
	switch {
	case s < 1:
		return "Less than a second"
	case s == 1:
		return "1 second"
	case s < 60:
		return fmt.Sprintf("%d seconds", s)
	case s < 120:
		return "About a minute"
	case d < time.Hour:
		return fmt.Sprintf("%d minutes", s/60)
	case d < 2*time.Hour:
		return "About an hour"
	case d < 48*time.Hour:
		return fmt.Sprintf("%d hours", s/3600)
	case d < 14*24*time.Hour:
		return fmt.Sprintf("%d days", s/86400)
	}
	return fmt.Sprintf("%d weeks", s/(7*86400))
}

// Inspect prints the records of the named containers as a JSON array, or
// each through a Go template.
func (rt *Runtime) Inspect(refs []string, format string, w io.Writer) error {
	var tmpl *template.Template
	if format != "" {
		var err error
		if tmpl, err = parseFormat(format); err != nil {
			return err
		}
	}
	var out []*Container
	var missing error
	for _, ref := range refs {
		c, err := rt.Lookup(ref)
		if err != nil {
			missing = err
			continue
		}
		if c.State.Status == Running && c.CgroupPath != "" {
			if st, err := cgroups.New(c.CgroupPath).Stats(); err == nil {
				c.Usage = &st
			}
		}
		out = append(out, c)
	}
	if tmpl != nil {
		for _, c := range out {
			if err := tmpl.Execute(w, c); err != nil {
				return err
			}
			fmt.Fprintln(w)
		}
	} else {
		data, err := json.MarshalIndent(out, "", "    ")
		if err != nil {
			return err
		}
		if out == nil {
			data = []byte("[]")
		}
		fmt.Fprintln(w, string(data))
	}
	return missing
}

// parseFormat reads a --format template; {{json .X}} prints X as JSON.
func parseFormat(format string) (*template.Template, error) {
	tmpl, err := template.New("format").Funcs(template.FuncMap{
		"json": func(v any) (string, error) { b, err := json.Marshal(v); return string(b), err },
	}).Parse(format)
	if err != nil {
		return nil, errdefs.WithCode(fmt.Errorf("invalid --format: %w", err), errdefs.CodeRuntime)
	}
	return tmpl, nil
}
