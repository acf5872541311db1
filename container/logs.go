package container

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// A container's output is kept as JSON lines, one per line of output (or
// per partial line, when the container wrote one without a newline), in
// Docker's json-file format: {"log":"...","stream":"stdout","time":"..."}.

type logEntry struct {
	Log    string            `json:"log"`
	Stream string            `json:"stream"`
	Attrs  map[string]string `json:"attrs,omitempty"` // --log-opt labels= and env=
	Time   time.Time         `json:"time"`
}

type logWriter struct {
	mu   sync.Mutex
	f    *os.File
	path string
	size int64
	// maxSize and maxFiles rotate the log as Docker's json-file driver
	// (--log-opt max-size, max-file): past maxSize bytes, container.log
	// becomes container.log.1 (and .1 .2, ...), keeping maxFiles in all.
	maxSize  int64
	maxFiles int
	attrs    map[string]string
}

// LogOptions are --log-opt's: max-size (0: unbounded) and max-file; labels
// and env name the container labels and environment variables every entry
// carries as its attrs (shown by logs --details), as Docker's json-file.
type LogOptions struct {
	MaxSize  int64    `json:"MaxSize,omitempty"`
	MaxFiles int      `json:"MaxFiles,omitempty"`
	Labels   []string `json:"Labels,omitempty"`
	Env      []string `json:"Env,omitempty"`
}

// ParseLogOpts reads --log-opt KEY=VALUE values.
func ParseLogOpts(opts []string) (LogOptions, error) {
	var o LogOptions
	for _, kv := range opts {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "max-size":
			n, err := ParseSize(v)
			if err != nil || n <= 0 {
				return o, fmt.Errorf("invalid --log-opt %q: max-size must be a size such as 10m", kv)
			}
			o.MaxSize = n
		case "max-file":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return o, fmt.Errorf("invalid --log-opt %q: max-file must be a positive number", kv)
			}
			o.MaxFiles = n
		case "labels", "env":
			var keys []string
			for _, key := range strings.Split(v, ",") {
				if key = strings.TrimSpace(key); key != "" {
					keys = append(keys, key)
				}
			}
			if k == "labels" {
				o.Labels = append(o.Labels, keys...)
			} else {
				o.Env = append(o.Env, keys...)
			}
		default:
			return o, fmt.Errorf("invalid --log-opt %q: max-size, max-file, labels or env", kv)
		}
	}
	if o.MaxFiles > 1 && o.MaxSize == 0 {
		return o, fmt.Errorf("--log-opt max-file needs max-size")
	}
	return o, nil
}

func (rt *Runtime) openLog(c *Container) (*logWriter, error) {
	f, err := os.OpenFile(c.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return nil, err
	}
	o := c.Config.Log
	w := &logWriter{f: f, path: c.LogPath, maxSize: o.MaxSize, maxFiles: o.MaxFiles, attrs: logAttrs(c)}
	if fi, err := f.Stat(); err == nil {
		w.size = fi.Size()
	}
	if w.maxFiles == 0 {
		w.maxFiles = 1
	}
	return w, nil
}

// logAttrs are the labels and variables --log-opt labels= and env= name,
// as the container has them.
func logAttrs(c *Container) map[string]string {
	attrs := map[string]string{}
	for _, k := range c.Config.Log.Labels {
		if v, ok := c.Config.Labels[k]; ok {
			attrs[k] = v
		}
	}
	if len(c.Config.Log.Env) > 0 && c.Spec != nil && c.Spec.Process != nil {
		for _, kv := range c.Spec.Process.Env {
			k, v, _ := strings.Cut(kv, "=")
			if slices.Contains(c.Config.Log.Env, k) {
				attrs[k] = v
			}
		}
	}
	if len(attrs) == 0 {
		return nil
	}
	return attrs
}

// detailsPrefix is what logs --details puts before a line: its attrs,
// sorted, then a space (alone when there are none), as Docker's.
func detailsPrefix(attrs map[string]string) string {
	var kv []string
	for k, v := range attrs {
		kv = append(kv, url.QueryEscape(k)+"="+url.QueryEscape(v))
	}
	sort.Strings(kv)
	return strings.Join(kv, ",") + " "
}

// rotate moves the full log aside; the caller holds mu.
func (w *logWriter) rotate() {
	w.f.Close()
	if w.maxFiles <= 1 {
		os.Truncate(w.path, 0)
	} else {
		for i := w.maxFiles - 1; i >= 1; i-- {
			from := w.path
			if i > 1 {
				from = w.path + "." + strconv.Itoa(i-1)
			}
			os.Rename(from, w.path+"."+strconv.Itoa(i))
		}
	}
	f, err := os.OpenFile(w.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND|os.O_TRUNC, 0o640)
	if err == nil {
		w.f = f
	}
	w.size = 0
}

func (w *logWriter) Close() error { return w.f.Close() }

func (w *logWriter) write(stream string, data []byte) {
	now := time.Now().UTC()
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	var ends []int // where each entry ends in out
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line = data[:i+1]
		}
		data = data[len(line):]
		enc.Encode(logEntry{Log: string(line), Stream: stream, Attrs: w.attrs, Time: now})
		ends = append(ends, out.Len())
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.maxSize == 0 {
		n, _ := w.f.Write(out.Bytes())
		w.size += int64(n)
		return
	}
	// Entry by entry, so that no file grows past max-size (but for a
	// single entry larger than it), as Docker's json-file driver.
	start := 0
	for _, end := range ends {
		if w.size > 0 && w.size+int64(end-start) > w.maxSize {
			w.rotate()
		}
		n, _ := w.f.Write(out.Bytes()[start:end])
		w.size += int64(n)
		start = end
	}
}

// streamWriter is an io.Writer that logs everything as one stream.
type streamWriter struct {
	w      *logWriter
	stream string
}

func (s streamWriter) Write(p []byte) (int, error) {
	s.w.write(s.stream, p)
	return len(p), nil
}

// LogsOptions are the flags of `mydocker logs`.
type LogsOptions struct {
	Follow     bool
	Tail       int // -1: all
	Timestamps bool
	Details    bool // each line's attrs first
	// Since and Until bound the lines shown by their time (zero: no bound).
	Since, Until time.Time
}

// ParseLogTime reads --since/--until as Docker does: RFC 3339 (with or
// without fractions or a zone, or a date alone), Unix seconds, or a
// duration before now ("10m", "1h30m").
func ParseLogTime(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	if secs, err := strconv.ParseFloat(s, 64); err == nil {
		return time.Unix(0, int64(secs*1e9)), nil
	}
	return time.Time{}, fmt.Errorf("invalid time %q: want RFC 3339 (2006-01-02T15:04:05Z), Unix seconds or a duration (10m)", s)
}

// Logs writes a container's logged output to stdout and stderr, each line
// to the stream it came from.
func (rt *Runtime) Logs(ref string, o LogsOptions, stdout, stderr io.Writer) error {
	c, err := rt.Lookup(ref)
	if err != nil {
		return err
	}
	f, err := os.Open(c.LogPath)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	// Rotated files first, oldest (highest number) first.
	var older []io.Reader
	for i := c.Config.Log.MaxFiles - 1; i >= 1; i-- {
		if rf, err := os.Open(c.LogPath + "." + strconv.Itoa(i)); err == nil {
			defer rf.Close()
			older = append(older, rf)
		}
	}
	emit := func(line []byte) {
		var e logEntry
		if json.Unmarshal(line, &e) != nil {
			return
		}
		if !o.Since.IsZero() && e.Time.Before(o.Since) || !o.Until.IsZero() && e.Time.After(o.Until) {
			return
		}
		w := stdout
		if e.Stream == "stderr" {
			w = stderr
		}
		if o.Timestamps {
			fmt.Fprintf(w, "%s ", e.Time.Format(time.RFC3339Nano))
		}
		if o.Details {
			io.WriteString(w, detailsPrefix(e.Attrs))
		}
		io.WriteString(w, e.Log)
	}
	br := bufio.NewReader(&logChain{older: older, cur: f})
	var pending []byte
	readLines := func(each func([]byte)) {
		for {
			line, err := br.ReadBytes('\n')
			pending = append(pending, line...)
			if err != nil {
				return // a partial line waits for the rest of it
			}
			each(pending)
			pending = nil
		}
	}
	if o.Tail >= 0 {
		var ring [][]byte
		readLines(func(l []byte) {
			ring = append(ring, l)
			if len(ring) > o.Tail {
				ring = ring[1:]
			}
		})
		for _, l := range ring {
			emit(l)
		}
	} else {
		readLines(emit)
	}
	if !o.Follow {
		return nil
	}
	for {
		running := rt.isRunning(c.ID)
		readLines(emit)
		if !running {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// logChain reads the rotated files, then the live log; unlike
// io.MultiReader it keeps reading the live one after an EOF, for -f.
type logChain struct {
	older []io.Reader
	cur   io.Reader
}

func (l *logChain) Read(p []byte) (int, error) {
	for len(l.older) > 0 {
		n, err := l.older[0].Read(p)
		if err == io.EOF {
			l.older = l.older[1:]
			if n == 0 {
				continue
			}
			err = nil
		}
		return n, err
	}
	return l.cur.Read(p)
}
