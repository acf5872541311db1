package container

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/mydocker/mydocker/internal/errdefs"
	"github.com/mydocker/mydocker/internal/fsutil"
	"github.com/mydocker/mydocker/network"
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

// The name index: <run>/names/<name> holds the ID of the container that has
// the name, created with O_EXCL, so that reserving a name is one atomic file
// creation and finding one is one read, however many containers there are.
// A container's directory appears before its name and goes before it, so an
// entry whose directory is gone is stale (its owner was removed or its
// creator killed) and may be taken over, under the store lock.

func (s *store) namesDir() string            { return filepath.Join(filepath.Dir(s.dir), "names") }
func (s *store) namePath(name string) string { return filepath.Join(s.namesDir(), name) }

// nameOwner reads the ID a name points at ("" if none).
func (s *store) nameOwner(name string) string {
	data, err := os.ReadFile(s.namePath(name))
	if err != nil || len(data) != 64 {
		return ""
	}
	return string(data)
}

func (s *store) exists(id string) bool {
	_, err := os.Stat(s.path(id))
	return err == nil
}

// reserveName points name at id, unless another container has it.
func (s *store) reserveName(name, id string) error {
	err := createExcl(s.namePath(name), id)
	if !errors.Is(err, os.ErrExist) {
		return err
	}
	unlock, err := s.lockStore()
	if err != nil {
		return err
	}
	defer unlock()
	if owner := s.nameOwner(name); owner != "" && owner != id && s.exists(owner) {
		return &nameTaken{name, owner}
	}
	os.Remove(s.namePath(name))
	return createExcl(s.namePath(name), id)
}

type nameTaken struct{ name, owner string }

func (e *nameTaken) Error() string {
	return fmt.Sprintf("Conflict. The container name \"/%s\" is already in use by container \"%s\". You have to remove (or rename) that container to be able to reuse that name", e.name, e.owner)
}

// releaseName removes name's entry if it still points at id.
func (s *store) releaseName(name, id string) {
	if name != "" && s.nameOwner(name) == id {
		os.Remove(s.namePath(name))
	}
}

// createExcl makes a file that must not exist, with its content, atomically
// enough: a reader sees it only once written (linked into place).
func createExcl(path, content string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".tmp-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(content); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Link(tmp.Name(), path) // fails with EEXIST if taken
}

// create stores a new record, giving it a generated name when it has none;
// a name already taken is refused. The record appears with its supervisor
// lock already held by the returned file, so that no other command takes a
// container being set up for one whose supervisor died. Nothing here reads
// other records: the name index makes the check one file creation.
func (s *store) create(c *Container) (*os.File, error) {
	if err := os.MkdirAll(s.path(c.ID), 0o700); err != nil {
		return nil, err
	}
	super, ok, err := fsutil.TryLock(s.supervisorLock(c.ID))
	if err == nil && !ok {
		err = fmt.Errorf("container %s: supervisor lock already held", c.ID)
	}
	reserved := false
	if err == nil {
		if c.Name == "" {
			for i := 0; ; i++ {
				n := randomName(i / 10)
				err = s.reserveName(n, c.ID)
				var taken *nameTaken
				if !errors.As(err, &taken) {
					c.Name = n
					break
				}
			}
		} else {
			err = s.reserveName(c.Name, c.ID)
		}
		reserved = err == nil
	}
	if err == nil {
		err = s.save(c)
	}
	if err != nil {
		if super != nil {
			super.Close()
		}
		os.RemoveAll(s.path(c.ID))
		if reserved {
			s.releaseName(c.Name, c.ID)
		}
		return nil, err
	}
	return super, nil
}

// A record is two files: config.json, what the container was made as
// (spec, config, rootfs; written once), and state.json, what changes over
// its life (state, endpoint) with the few fields ps shows. Updates rewrite
// only state.json, and listings read only it.

func (s *store) statePath(id string) string { return filepath.Join(s.dir, id, "state.json") }

// stateRecord is state.json.
type stateRecord struct {
	ID              string            `json:"Id"`
	Name            string            `json:"Name"`
	Image           string            `json:"Image"`
	ImageID         string            `json:"ImageId"`
	Created         time.Time         `json:"Created"`
	Command         []string          `json:"Command"`
	Labels          map[string]string `json:"Labels,omitempty"`
	NetworkMode     string            `json:"NetworkMode,omitempty"`
	State           State             `json:"State"`
	NetworkSettings *network.Endpoint `json:"NetworkSettings,omitempty"`
}

func stateOf(c *Container) stateRecord {
	r := stateRecord{ID: c.ID, Name: c.Name, Image: c.Image, ImageID: c.ImageID, Created: c.Created,
		State: c.State, NetworkSettings: c.NetworkSettings, Labels: c.Config.Labels, NetworkMode: c.Config.NetworkMode}
	if c.Spec != nil && c.Spec.Process != nil {
		r.Command = c.Spec.Process.Args
	}
	return r
}

// light is a container as its state.json alone tells it: enough for ps,
// reconciliation and the image and network commands.
func (r stateRecord) light() *Container {
	return &Container{ID: r.ID, Name: r.Name, Image: r.Image, ImageID: r.ImageID, Created: r.Created,
		Spec: &specs.Spec{Process: &specs.Process{Args: r.Command}}, State: r.State, NetworkSettings: r.NetworkSettings,
		Config: Config{Labels: r.Labels, NetworkMode: r.NetworkMode}}
}

// save writes a new record, both files; the caller made c.
func (s *store) save(c *Container) error {
	static := *c
	static.State, static.NetworkSettings, static.Usage = State{}, nil, nil
	if err := fsutil.ReplaceVolatileJSON(s.recordPath(c.ID), &static); err != nil {
		return err
	}
	return s.saveState(c)
}

// saveState writes what changed; the caller holds the record's lock.
func (s *store) saveState(c *Container) error {
	return fsutil.ReplaceVolatileJSON(s.statePath(c.ID), stateOf(c))
}

func (s *store) load(id string) (*Container, error) {
	c := &Container{}
	if err := fsutil.ReadJSON(s.recordPath(id), c); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, errdefs.NotFoundf("No such container: %s", id)
		}
		return nil, err
	}
	var st stateRecord
	switch err := fsutil.ReadJSON(s.statePath(id), &st); {
	case err == nil:
		c.State, c.NetworkSettings = st.State, st.NetworkSettings
	case errors.Is(err, os.ErrNotExist):
		// A record from before the split keeps its state in config.json.
	default:
		return nil, err
	}
	return c, nil
}

// loadLight reads state.json alone (the whole record where there is none).
func (s *store) loadLight(id string) (*Container, error) {
	var st stateRecord
	err := fsutil.ReadJSON(s.statePath(id), &st)
	if errors.Is(err, os.ErrNotExist) {
		return s.load(id)
	}
	if err != nil {
		return nil, err
	}
	return st.light(), nil
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
	return c, s.saveState(c)
}

// ids lists the record directories.
func (s *store) ids() ([]string, error) {
	return s.scan(false)
}

// scan lists the record directories; with sweep, it also deletes what a
// killed rm left half-removed.
func (s *store) scan(sweep bool) ([]string, error) {
	entries, err := os.ReadDir(s.dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, e := range entries {
		switch {
		case !e.IsDir():
		case len(e.Name()) == 64:
			ids = append(ids, e.Name())
		case sweep && strings.HasPrefix(e.Name(), gonePrefix):
			os.RemoveAll(filepath.Join(s.dir, e.Name()))
		}
	}
	return ids, nil
}

// gonePrefix marks a record directory being deleted (see remove).
const gonePrefix = ".gone-"

// sweepIncomplete deletes the directory of a record that was never written
// (its creator was killed before it wrote config.json): one whose
// supervisor lock is free and that has not changed for a while (the lock is
// created, then taken, an instant after the directory).
func (s *store) sweepIncomplete(id string) {
	if st, err := os.Stat(s.path(id)); err != nil || time.Since(st.ModTime()) < 10*time.Second {
		return
	}
	if _, err := os.Stat(s.recordPath(id)); !errors.Is(err, os.ErrNotExist) {
		return
	}
	f, ok, err := fsutil.TryLock(s.supervisorLock(id))
	if err != nil || !ok {
		return
	}
	defer f.Close()
	s.remove(&Container{ID: id})
}

// list reads every container's state (state.json only), oldest first. A
// directory whose record is gone (being removed right now) is skipped.
func (s *store) list() ([]*Container, error) {
	ids, err := s.scan(true)
	if err != nil {
		return nil, err
	}
	// One listing of the name index, not a read per container.
	indexed := map[string]bool{}
	if names, err := os.ReadDir(s.namesDir()); err == nil {
		for _, e := range names {
			indexed[e.Name()] = true
		}
	}
	// Read (and decode) on every core: with a thousand records that is most
	// of what ps costs.
	loaded := make([]*Container, len(ids))
	errs := make([]error, len(ids))
	fsutil.Each(len(ids), func(i int) { loaded[i], errs[i] = s.loadLight(ids[i]) })
	var out []*Container
	for i, id := range ids {
		c, err := loaded[i], errs[i]
		if errdefs.IsNotFound(err) {
			s.sweepIncomplete(id)
			continue
		}
		if err != nil {
			return nil, err
		}
		if c.Name != "" && !indexed[c.Name] {
			// A record from before the name index (or whose entry was lost):
			// index it again.
			createExcl(s.namePath(c.Name), c.ID)
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out, nil
}

// lookup finds a container by full ID, name, or unique ID prefix: one
// read for an ID or a name, a directory listing (no records decoded) for a
// prefix.
func (s *store) lookup(ref string) (*Container, error) {
	if ref == "" {
		return nil, errors.New("container name or ID must not be empty")
	}
	if len(ref) == 64 {
		if c, err := s.load(ref); err == nil {
			return c, nil
		}
	}
	name := strings.TrimPrefix(ref, "/")
	if ValidateName(name) == nil {
		if id := s.nameOwner(name); id != "" {
			if c, err := s.load(id); err == nil && c.Name == name {
				return c, nil
			}
		}
	}
	ids, err := s.ids()
	if err != nil {
		return nil, err
	}
	var match []string
	for _, id := range ids {
		if strings.HasPrefix(id, ref) {
			match = append(match, id)
		}
	}
	switch len(match) {
	case 0:
		return nil, errdefs.NotFoundf("No such container: %s", ref)
	case 1:
		return s.load(match[0])
	}
	return nil, fmt.Errorf("multiple IDs found with provided prefix: %s", ref)
}

// remove deletes a record, then its name. The directory is first renamed
// out of the way, in one step, so that no command can start creating a file
// in it (a lock, a state write): one that did would stop the deletion
// half-way and leave a record nobody can name. A creation already under
// way at the rename may still land in the renamed directory, so deleting it
// is tried again until it is empty. A killed rm leaves only a .gone-
// directory, which the next listing deletes.
func (s *store) remove(c *Container) error {
	gone := filepath.Join(s.dir, gonePrefix+c.ID)
	if err := os.Rename(s.path(c.ID), gone); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	s.releaseName(c.Name, c.ID)
	var err error
	for try := 0; try < 50; try++ {
		if err = os.RemoveAll(gone); err == nil {
			return nil
		}
		time.Sleep(time.Millisecond)
	}
	return err
}
