package container

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/mydocker/mydocker/internal/errdefs"
	"github.com/mydocker/mydocker/internal/fsutil"
)

// store keeps container records under <run>/containers/<id>/. Creating and
// removing records (and so names) holds the store lock; changing one record
// holds that record's lock; every write is atomic.
type store struct {
	dir string
}

func (s *store) path(id string) string       { return filepath.Join(s.dir, id) }
func (s *store) recordPath(id string) string { return filepath.Join(s.dir, id, "config.json") }

// lockStore guards the set of records: IDs and names.
func (s *store) lockStore() (func(), error) {
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return nil, err
	}
	return fsutil.Lock(filepath.Join(s.dir, ".lock"))
}

// lockRecord guards one record's read-modify-write and its teardown.
func (s *store) lockRecord(id string) (func(), error) {
	unlock, err := fsutil.Lock(filepath.Join(s.path(id), ".lock"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, errdefs.NotFoundf("No such container: %s", id)
	}
	return unlock, err
}

// supervisorLock is held, for as long as it lives, by the process that
// supervises the container (the foreground run or the monitor). When it can
// be taken, nobody is watching the container any more.
func (s *store) supervisorLock(id string) string { return filepath.Join(s.path(id), "supervisor.lock") }

// create stores a new record, giving it a generated name when it has none;
// a name already taken is refused. The record appears with its supervisor
// lock already held by the returned file, so that no other command takes a
// container being set up for one whose supervisor died.
func (s *store) create(c *Container) (*os.File, error) {
	unlock, err := s.lockStore()
	if err != nil {
		return nil, err
	}
	defer unlock()
	all, err := s.list()
	if err != nil {
		return nil, err
	}
	taken := map[string]string{}
	for _, o := range all {
		taken[o.Name] = o.ID
	}
	if c.Name == "" {
		for i := 0; ; i++ {
			if n := randomName(i / 10); taken[n] == "" {
				c.Name = n
				break
			}
		}
	} else if id, ok := taken[c.Name]; ok {
		return nil, fmt.Errorf("Conflict. The container name \"/%s\" is already in use by container \"%s\". You have to remove (or rename) that container to be able to reuse that name", c.Name, id)
	}
	if err := os.MkdirAll(s.path(c.ID), 0o700); err != nil {
		return nil, err
	}
	super, ok, err := fsutil.TryLock(s.supervisorLock(c.ID))
	if err == nil && !ok {
		err = fmt.Errorf("container %s: supervisor lock already held", c.ID)
	}
	if err == nil {
		err = s.save(c)
	}
	if err != nil {
		if super != nil {
			super.Close()
		}
		os.RemoveAll(s.path(c.ID))
		return nil, err
	}
	return super, nil
}

// save writes c atomically; the caller owns c (holds its lock, or made it).
func (s *store) save(c *Container) error {
	return fsutil.WriteJSON(s.recordPath(c.ID), c)
}

func (s *store) load(id string) (*Container, error) {
	c := &Container{}
	if err := fsutil.ReadJSON(s.recordPath(id), c); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, errdefs.NotFoundf("No such container: %s", id)
		}
		return nil, err
	}
	return c, nil
}

// update applies fn to the stored record under its lock and saves it.
func (s *store) update(id string, fn func(*Container) error) (*Container, error) {
	unlock, err := s.lockRecord(id)
	if err != nil {
		return nil, err
	}
	defer unlock()
	c, err := s.load(id)
	if err != nil {
		return nil, err
	}
	if err := fn(c); err != nil {
		return c, err
	}
	return c, s.save(c)
}

// ids lists the record directories.
func (s *store) ids() ([]string, error) {
	entries, err := os.ReadDir(s.dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, e := range entries {
		if e.IsDir() && len(e.Name()) == 64 {
			ids = append(ids, e.Name())
		}
	}
	return ids, nil
}

// list loads every record, oldest first. A directory whose record is gone
// (being removed right now) is skipped.
func (s *store) list() ([]*Container, error) {
	ids, err := s.ids()
	if err != nil {
		return nil, err
	}
	var out []*Container
	for _, id := range ids {
		c, err := s.load(id)
		if errdefs.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out, nil
}

// lookup finds a container by full ID, name, or unique ID prefix.
func (s *store) lookup(ref string) (*Container, error) {
	if ref == "" {
		return nil, errors.New("container name or ID must not be empty")
	}
	if len(ref) == 64 {
		if c, err := s.load(ref); err == nil {
			return c, nil
		}
	}
	all, err := s.list()
	if err != nil {
		return nil, err
	}
	for _, c := range all {
		if c.Name == strings.TrimPrefix(ref, "/") {
			return c, nil
		}
	}
	var match []*Container
	for _, c := range all {
		if strings.HasPrefix(c.ID, ref) {
			match = append(match, c)
		}
	}
	switch len(match) {
	case 0:
		return nil, errdefs.NotFoundf("No such container: %s", ref)
	case 1:
		return match[0], nil
	}
	return nil, fmt.Errorf("multiple IDs found with provided prefix: %s", ref)
}

// remove deletes a record and everything in its directory.
func (s *store) remove(id string) error {
	unlock, err := s.lockStore()
	if err != nil {
		return err
	}
	defer unlock()
	return os.RemoveAll(s.path(id))
}
