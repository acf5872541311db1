package fsutil

import (
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
)

// Concurrent read-modify-writes under Lock lose no update, and readers
// never see a torn file.
func TestLockedCounter(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "n")
	lock := filepath.Join(dir, ".lock")
	if err := WriteFile(path, []byte("0"), 0o600); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			unlock, err := Lock(lock)
			if err != nil {
				t.Error(err)
				return
			}
			defer unlock()
			data, err := os.ReadFile(path)
			if err != nil {
				t.Error(err)
				return
			}
			n, err := strconv.Atoi(string(data))
			if err != nil {
				t.Errorf("torn read %q", data)
				return
			}
			if err := WriteFile(path, []byte(strconv.Itoa(n+1)), 0o600); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	data, _ := os.ReadFile(path)
	if string(data) != "50" {
		t.Fatalf("want 50, got %s", data)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Fatalf("temp files left behind: %v", entries)
	}
}

func TestTryLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "l")
	f, ok, err := TryLock(path)
	if err != nil || !ok {
		t.Fatalf("first TryLock: %v %v", ok, err)
	}
	if _, ok, _ := TryLock(path); ok {
		t.Fatal("second TryLock succeeded while the lock was held")
	}
	f.Close()
	g, ok, _ := TryLock(path)
	if !ok {
		t.Fatal("TryLock failed after release")
	}
	g.Close()
}

func TestLockNeedsDirectory(t *testing.T) {
	if _, err := Lock(filepath.Join(t.TempDir(), "gone", "l")); !os.IsNotExist(err) {
		t.Fatalf("want not-exist, got %v", err)
	}
}
