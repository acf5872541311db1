package container

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// pidStartTime reads a process's start time (clock ticks since boot) from
// /proc/<pid>/stat; with the pid it names one process for good.
func pidStartTime(pid int) (uint64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name may hold spaces and parentheses: fields start after
	// the last ')'.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	fields := bytes.Fields(data[i+1:])
	// starttime is field 22 of the whole line, 20th after the name.
	if len(fields) < 20 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	return strconv.ParseUint(string(fields[19]), 10, 64)
}

// processAlive reports whether pid is still the process that started at
// start, and has not yet exited (a zombie counts as gone).
func processAlive(pid int, start uint64) bool {
	if pid <= 0 {
		return false
	}
	st, err := pidStartTime(pid)
	if err != nil || st != start {
		return false
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(data, ')')
	return i >= 0 && i+2 < len(data) && data[i+2] != 'Z' && data[i+2] != 'X'
}

// signalProcess sends sig to pid if it is still the process started at start.
func signalProcess(pid int, start uint64, sig unix.Signal) error {
	if !processAlive(pid, start) {
		return errNotRunning
	}
	return unix.Kill(pid, sig)
}

// waitGone polls until the process is gone or the timeout passes.
func waitGone(pid int, start uint64, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for d := time.Millisecond; ; d = min(d*2, 50*time.Millisecond) {
		if !processAlive(pid, start) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(d)
	}
}
