package container

import (
	"sync"
	"time"

	"github.com/sirupsen/logrus"
)

// The phase trace: with --log-level debug, each step of a run logs how long
// it took and when, counted from this package's initialisation (the Go
// runtime's start before it is what `mydocker --version` costs). README's
// trace of one run comes from it.

var (
	traceMu    sync.Mutex
	traceStart = time.Now()
	traceLast  = traceStart
)

// phase logs that a step just ended.
func phase(name string) {
	if !logrus.IsLevelEnabled(logrus.DebugLevel) {
		return
	}
	traceMu.Lock()
	now := time.Now()
	d, at := now.Sub(traceLast), now.Sub(traceStart)
	traceLast = now
	traceMu.Unlock()
	logrus.Debugf("phase %-34s %6.2f ms  (at %6.2f ms)", name, ms(d), ms(at))
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
