// Package fsutil holds the two primitives every piece of mydocker state on
// disk relies on: an exclusive file lock and an atomic file write.
package fsutil

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	"golang.org/x/sys/unix"
)

// Lock takes an exclusive flock on path (created if missing) and returns the
// function that releases it. The kernel drops the lock if the process dies,
// so a killed mydocker never leaves state locked.
func Lock(path string) (unlock func(), err error) { return flock(path, unix.LOCK_EX) }

// LockShared takes a shared flock on path: many holders at once, none while
// an exclusive Lock is held.
func LockShared(path string) (unlock func(), err error) { return flock(path, unix.LOCK_SH) }

func flock(path string, how int) (unlock func(), err error) {
	f, err := openLockFile(path)
	if err != nil {
		return nil, err
	}
	for {
		err = unix.Flock(int(f.Fd()), how)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}

// TryLock is Lock without waiting: ok is false when another process holds it.
// The returned file keeps the lock until it is closed.
func TryLock(path string) (f *os.File, ok bool, err error) {
	f, err = openLockFile(path)
	if err != nil {
		return nil, false, err
	}
	err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	if err == unix.EWOULDBLOCK {
		f.Close()
		return nil, false, nil
	}
	if err != nil {
		f.Close()
		return nil, false, fmt.Errorf("lock %s: %w", path, err)
	}
	return f, true, nil
}

// openLockFile opens (creating) a lock file; its directory must exist, so
// that locking never brings back a directory someone just removed.
func openLockFile(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
}

// WriteFile replaces path with data atomically: readers see the old content
// or the new, never a torn write, even if the writer is killed or the host
// crashes (temp file in the same directory, fsync, rename, fsync directory).
func WriteFile(path string, data []byte, perm os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return replaceFile(path, data, perm, true)
}

// replaceFile is WriteFile in a directory that must exist; without durable,
// nothing is fsynced (the write is still atomic for readers and against a
// killed writer).
func replaceFile(path string, data []byte, perm os.FileMode, durable bool) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return err
	}
	if err := tmp.Chmod(perm); err != nil {
		return err
	}
	if durable {
		if err := tmp.Sync(); err != nil {
			return err
		}
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	ok = true
	if !durable {
		return nil
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// WriteJSON marshals v (indented, for humans reading state) and writes it
// with WriteFile.
func WriteJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return WriteFile(path, append(data, '\n'), 0o600)
}

// WriteVolatileJSON is WriteJSON for state under the run directory, which
// a host's reboot clears (tmpfs on most hosts): atomic for readers and
// against a killed writer, but not fsynced, which guards only against a
// host crash that the state does not outlive anyway.
func WriteVolatileJSON(path string, v any) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return ReplaceVolatileJSON(path, v)
}

// ReplaceVolatileJSON is WriteVolatileJSON in a directory that must already
// exist, so that a record's writer never brings back a directory another
// process removed.
func ReplaceVolatileJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return replaceFile(path, append(data, '\n'), 0o600, false)
}

// Each calls fn(0) ... fn(n-1) on every core and returns when all are done:
// for reading many small files (records, endpoints), whose cost is the
// system calls and the decoding, not the disk.
func Each(n int, fn func(i int)) {
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < min(n, 2*runtime.NumCPU()); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				fn(i)
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
}

// ReadJSON reads a whole JSON file into v, whatever its size.
func ReadJSON(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
