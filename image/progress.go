package image

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// progress shows a pull layer by layer, as Docker does: at a terminal one
// line per layer redrawn in place with a bar; elsewhere one line per layer
// when it is done.
type progress struct {
	mu       sync.Mutex
	out      io.Writer
	terminal bool
	lines    []string
	status   []string
	drawn    int // lines on screen from the last redraw
	last     time.Time
}

func newProgress(out io.Writer, terminal bool, n int) *progress {
	return &progress{out: out, terminal: terminal, lines: make([]string, n), status: make([]string, n)}
}

func (p *progress) set(i int, short, status string, done, total int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	line := short + ": " + status
	if status == "Downloading" && total > 0 {
		line += " " + bar(done, total) + " " + HumanSize(done) + "/" + HumanSize(total)
	}
	changed := p.status[i] != status
	p.lines[i], p.status[i] = line, status
	if !p.terminal {
		if changed && (status == "Pull complete" || status == "Already exists") {
			fmt.Fprintln(p.out, line)
		}
		return
	}
	if changed || time.Since(p.last) > 100*time.Millisecond {
		p.redraw()
	}
}

func (p *progress) redraw() {
	var b strings.Builder
	if p.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", p.drawn)
	}
	p.drawn = 0
	for _, l := range p.lines {
		if l == "" {
			continue
		}
		b.WriteString("\x1b[2K" + l + "\n")
		p.drawn++
	}
	io.WriteString(p.out, b.String())
	p.last = time.Now()
}

func (p *progress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.terminal {
		p.redraw()
	}
}

func bar(done, total int64) string {
	const width = 40
	n := int(done * width / total)
	if n > width {
		n = width
	}
	if n == width {
		return "[" + strings.Repeat("=", width) + "]"
	}
	return "[" + strings.Repeat("=", n) + ">" + strings.Repeat(" ", width-n-1) + "]"
}

// HumanSize prints a size as Docker does: 2.5MB, 891kB, 12B.
func HumanSize(n int64) string {
	units := []string{"B", "kB", "MB", "GB", "TB"}
	f := float64(n)
	i := 0
	for f >= 1000 && i < len(units)-1 {
		f /= 1000
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%dB", n)
	}
	return fmt.Sprintf("%.3g%s", f, units[i])
}
