package container

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Restart policies, carried out by the container's monitor (there is no
// daemon): no, on-failure[:N], always, unless-stopped. The monitor waits
// between restarts as Docker does (100 ms, doubling, at most a minute; back
// to 100 ms after a run of ten seconds or more). stop is final: it marks the
// record before signalling, and the monitor does not restart a container so
// marked. At host reboot nothing restarts a container: there is no daemon to
// do it (podman's answer, a systemd unit per container, would be ours too).

// RestartPolicy is a parsed --restart.
type RestartPolicy struct {
	Name       string `json:"Name"` // "", "no", "on-failure", "always", "unless-stopped"
	MaxRetries int    `json:"MaximumRetryCount,omitempty"`
}

// ParseRestart reads --restart.
func ParseRestart(s string) (RestartPolicy, error) {
	name, n, hasN := strings.Cut(s, ":")
	p := RestartPolicy{Name: name}
	switch name {
	case "", "no", "always", "unless-stopped":
		if hasN {
			return p, fmt.Errorf("invalid restart policy %q: only on-failure takes a count", s)
		}
	case "on-failure":
		if hasN {
			v, err := strconv.Atoi(n)
			if err != nil || v < 0 {
				return p, fmt.Errorf("invalid restart policy %q: the count must be a number", s)
			}
			p.MaxRetries = v
		}
	default:
		return p, fmt.Errorf("invalid restart policy %q: no, on-failure[:N], always or unless-stopped", s)
	}
	return p, nil
}

// shouldRestart says whether a container that ended with code restarts.
func (p RestartPolicy) shouldRestart(code, count int, stopped bool) bool {
	if stopped {
		return false
	}
	switch p.Name {
	case "always", "unless-stopped":
		return true
	case "on-failure":
		return code != 0 && (p.MaxRetries == 0 || count < p.MaxRetries)
	}
	return false
}

// restartDelay is Docker's back-off for the next restart.
func restartDelay(prev time.Duration, ran time.Duration) time.Duration {
	if prev == 0 || ran >= 10*time.Second {
		return 100 * time.Millisecond
	}
	if next := prev * 2; next < time.Minute {
		return next
	}
	return time.Minute
}

// backOff waits d unless the container is stopped meanwhile; it reports
// whether to go on.
func (rt *Runtime) backOff(id string, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if c, err := rt.store.loadLight(id); err != nil || c.State.StopRequested {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
	c, err := rt.store.loadLight(id)
	return err == nil && !c.State.StopRequested
}

// restarts reports whether c's monitor may start it again.
func (c *Container) restarts() bool {
	n := c.Config.RestartPolicy.Name
	return n != "" && n != "no"
}

// markStopped makes a stop final for a container whose monitor might
// restart it (nobody else reads the mark: no write for the rest).
func (rt *Runtime) markStopped(c *Container) {
	if c.restarts() {
		rt.store.update(c.ID, func(r *Container) error { r.State.StopRequested = true; return nil })
	}
}
