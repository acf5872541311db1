package container

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mydocker/mydocker/cgroups"
)

// StatsOptions are `stats`' flags.
type StatsOptions struct {
	NoStream bool
	Format   string // Go template over statsRow; "table ..." adds a header
}

// statsRow is one line of docker stats, with its column names.
type statsRow struct {
	Container, ID, Name, CPUPerc, MemUsage, MemPerc, NetIO, BlockIO, PIDs string
}

type sample struct {
	at  time.Time
	st  cgroups.Stats
	rx  uint64
	tx  uint64
	err error
}

func (rt *Runtime) sampleOf(c *Container) sample {
	st, err := cgroups.New(c.CgroupPath).Stats()
	s := sample{at: time.Now(), st: st, err: err}
	s.rx, s.tx = netBytes(c.State.Pid)
	return s
}

// netBytes adds up what the container's interfaces (not lo) received and
// sent, from its network namespace's /proc/net/dev.
func netBytes(pid int) (rx, tx uint64) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/net/dev")
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(data), "\n")[2:] {
		name, rest, ok := strings.Cut(line, ":")
		f := strings.Fields(rest)
		if !ok || strings.TrimSpace(name) == "lo" || len(f) < 9 {
			continue
		}
		r, _ := strconv.ParseUint(f[0], 10, 64)
		t, _ := strconv.ParseUint(f[8], 10, 64)
		rx, tx = rx+r, tx+t
	}
	return rx, tx
}

// Stats prints docker stats' table for the named containers (every running
// one when none is named): once with NoStream, else every second.
func (rt *Runtime) Stats(refs []string, o StatsOptions, w io.Writer) error {
	var cs []*Container
	if len(refs) == 0 {
		all, err := rt.List()
		if err != nil {
			return err
		}
		for _, c := range all {
			if c.State.Status == Running {
				refs = append(refs, c.ID) // the whole record: its cgroup
			}
		}
	}
	for _, ref := range refs {
		c, err := rt.Lookup(ref)
		if err != nil {
			return err
		}
		if c.State.Status != Running {
			return fmt.Errorf("container %s is not running", c.ShortID())
		}
		cs = append(cs, c)
	}
	format := o.Format
	if format == "" {
		format = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}"
	}
	table := strings.HasPrefix(format, "table")
	tmpl, err := parseFormat(strings.TrimSpace(strings.TrimPrefix(format, "table")))
	if err != nil {
		return err
	}
	prev := make([]sample, len(cs))
	for i, c := range cs {
		prev[i] = rt.sampleOf(c)
	}
	for {
		time.Sleep(time.Second) // CPU % is over an interval, as Docker's
		tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
		if !o.NoStream {
			fmt.Fprint(w, "\x1b[2J\x1b[H")
		}
		if table {
			fmt.Fprintln(tw, "CONTAINER ID\tNAME\tCPU %\tMEM USAGE / LIMIT\tMEM %\tNET I/O\tBLOCK I/O\tPIDS")
		}
		for i, c := range cs {
			now := rt.sampleOf(c)
			if err := tmpl.Execute(tw, statsLine(c, prev[i], now)); err != nil {
				return err
			}
			fmt.Fprintln(tw)
			prev[i] = now
		}
		tw.Flush()
		if o.NoStream {
			return nil
		}
	}
}

func statsLine(c *Container, a, b sample) statsRow {
	cpu := 0.0
	if d := b.at.Sub(a.at); d > 0 && b.st.CPUUsageNanos >= a.st.CPUUsageNanos {
		cpu = float64(b.st.CPUUsageNanos-a.st.CPUUsageNanos) / float64(d.Nanoseconds()) * 100
	}
	used := b.st.MemoryBytes
	if b.st.MemoryCache < used {
		used -= b.st.MemoryCache
	}
	limit := b.st.MemoryLimit
	if limit == 0 {
		limit = hostMemory()
	}
	memPerc := 0.0
	if limit > 0 {
		memPerc = float64(used) / float64(limit) * 100
	}
	return statsRow{
		Container: c.ShortID(), ID: c.ShortID(), Name: c.Name,
		CPUPerc:  fmt.Sprintf("%.2f%%", cpu),
		MemUsage: binarySize(used) + " / " + binarySize(limit),
		MemPerc:  fmt.Sprintf("%.2f%%", memPerc),
		NetIO:    humanSize(int64(b.rx)) + " / " + humanSize(int64(b.tx)),
		BlockIO:  humanSize(int64(b.st.BlockRead)) + " / " + humanSize(int64(b.st.BlockWrite)),
		PIDs:     strconv.FormatUint(b.st.Pids, 10),
	}
}

// binarySize prints memory as docker stats does: 1.5MiB, 64MiB, 23.5GiB.
func binarySize(n uint64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	f := float64(n)
	i := 0
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%dB", n)
	}
	return fmt.Sprintf("%.4g%s", f, units[i])
}

func hostMemory() uint64 {
	data, _ := os.ReadFile("/proc/meminfo")
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb * 1024
		}
	}
	return 0
}
