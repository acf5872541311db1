package container

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mydocker/mydocker/internal/fsutil"
)

func newTestStore(t *testing.T) *store {
	t.Helper()
	return &store{dir: filepath.Join(t.TempDir(), "run", "containers")}
}

func testRecord(t *testing.T, s *store, id, name string) {
	t.Helper()
	super, err := s.create(&Container{ID: id, Name: name, Created: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	super.Close()
}

// A removal that races with commands locking and writing the same record
// leaves no directory behind: the writers fail, they bring nothing back.
func TestRemoveRacesWriters(t *testing.T) {
	s := newTestStore(t)
	for i := 0; i < 100; i++ {
		id := strings.Repeat(string(rune('a'+i%6)), 60) + "0000"
		testRecord(t, s, id, "")
		c, err := s.load(id)
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		stop := make(chan struct{})
		for w := 0; w < 3; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					s.update(id, func(r *Container) error { r.State.Paused = !r.State.Paused; return nil })
					if f, ok, err := fsutil.TryLock(s.supervisorLock(id)); err == nil && ok {
						f.Close()
					}
				}
			}()
		}
		time.Sleep(time.Duration(i%5) * 100 * time.Microsecond)
		if err := s.remove(c); err != nil {
			t.Fatalf("remove: %v", err)
		}
		close(stop)
		wg.Wait()
		if _, err := os.Stat(s.path(id)); !os.IsNotExist(err) {
			t.Fatalf("round %d: the record's directory came back (%v)", i, err)
		}
		if s.nameOwner(c.Name) != "" {
			t.Fatalf("round %d: the name %q stayed", i, c.Name)
		}
	}
}

// A listing deletes what a killed rm left (.gone-) and the directory of a
// record whose creator was killed before writing it, once that is old; it
// spares a record being created now.
func TestListSweepsLeftovers(t *testing.T) {
	s := newTestStore(t)
	keep := strings.Repeat("1", 64)
	testRecord(t, s, keep, "keep")
	gone := filepath.Join(s.dir, gonePrefix+strings.Repeat("2", 64))
	os.MkdirAll(filepath.Join(gone, "sub"), 0o700)
	old := s.path(strings.Repeat("3", 64))
	os.MkdirAll(old, 0o700)
	os.WriteFile(filepath.Join(old, "supervisor.lock"), nil, 0o600)
	past := time.Now().Add(-time.Minute)
	os.Chtimes(old, past, past)
	young := s.path(strings.Repeat("4", 64))
	os.MkdirAll(young, 0o700)
	busy := s.path(strings.Repeat("5", 64))
	os.MkdirAll(busy, 0o700)
	held, ok, err := fsutil.TryLock(s.supervisorLock(strings.Repeat("5", 64)))
	if err != nil || !ok {
		t.Fatal(err)
	}
	defer held.Close()
	os.Chtimes(busy, past, past)

	list, err := s.list()
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].ID != keep {
		t.Fatalf("list: %v", list)
	}
	for path, want := range map[string]bool{gone: false, old: false, young: true, busy: true, s.path(keep): true} {
		if _, err := os.Stat(path); (err == nil) != want {
			t.Errorf("%s: exists=%v, want %v", filepath.Base(path), err == nil, want)
		}
	}
}
