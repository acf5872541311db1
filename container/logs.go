package container

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"time"
)

// A container's output is kept as JSON lines, one per line of output (or
// per partial line, when the container wrote one without a newline), in
// Docker's json-file format: {"log":"...","stream":"stdout","time":"..."}.

type logEntry struct {
	Log    string    `json:"log"`
	Stream string    `json:"stream"`
	Time   time.Time `json:"time"`
}

type logWriter struct {
	mu sync.Mutex
	f  *os.File
}

func openLog(path string) (*logWriter, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return nil, err
	}
	return &logWriter{f: f}, nil
}

func (w *logWriter) Close() error { return w.f.Close() }

// copy logs what src produces until it ends.
func (w *logWriter) copy(stream string, src io.Reader) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			w.write(stream, buf[:n])
		}
		if err != nil {
			return
		}
	}
}

func (w *logWriter) write(stream string, data []byte) {
	now := time.Now().UTC()
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line = data[:i+1]
		}
		data = data[len(line):]
		enc.Encode(logEntry{Log: string(line), Stream: stream, Time: now})
	}
	w.mu.Lock()
	w.f.Write(out.Bytes())
	w.mu.Unlock()
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
			fmt.Fprintf(w, "%s %s", e.Time.Format(time.RFC3339Nano), e.Log)
		} else {
			io.WriteString(w, e.Log)
		}
	}
	br := bufio.NewReader(f)
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
