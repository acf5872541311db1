package image

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/mydocker/mydocker/internal/fsutil"
)

// Removed reports what a removal did, in Docker's words: names untagged,
// then images deleted.
type Removed struct {
	Untagged []string // familiar names
	Deleted  []string // image IDs
}

// Remove is `rmi`: a name is untagged, and the image goes once nothing names
// it. usedBy names a container made from an image ID ("" if none); such an
// image is never deleted, and losing its last name needs force. An ID with
// several names needs force, which untags them all.
func (s *Store) Remove(ref string, force bool, usedBy func(id string) string) (*Removed, error) {
	img, err := s.Get(ref)
	if err != nil {
		return nil, err
	}
	unlock, err := s.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	repos, err := s.readRepos()
	if err != nil {
		return nil, err
	}
	var tags []string // every canonical name of img
	for key, id := range repos {
		if id == img.ID {
			tags = append(tags, key)
		}
	}
	byName := ""
	if r, err := ParseReference(ref); err == nil && repos[r.String()] == img.ID {
		byName = r.String()
	}
	user := ""
	if usedBy != nil {
		user = usedBy(img.ID)
	}
	var untag []string
	switch {
	case byName != "" && countTags(tags) > 1:
		untag = []string{byName}
	case byName != "" && user != "" && !force:
		return nil, fmt.Errorf("conflict: unable to remove repository reference %q (must force) - container %s is using its referenced image %s", ref, user, img.ShortID())
	case byName == "" && countTags(tags) > 1 && !force:
		return nil, fmt.Errorf("conflict: unable to delete %s (must be forced) - image is referenced in multiple repositories", img.ShortID())
	case byName == "" && user != "" && !force:
		return nil, fmt.Errorf("conflict: unable to delete %s (must be forced) - image is being used by container %s", img.ShortID(), user)
	default:
		untag = tags
	}
	out := &Removed{}
	for _, t := range untag {
		delete(repos, t)
		if !strings.Contains(t, "@") {
			out.Untagged = append(out.Untagged, Familiar(t))
		}
	}
	deleteImage := user == ""
	for _, id := range repos {
		deleteImage = deleteImage && id != img.ID
	}
	if deleteImage {
		for key, id := range repos { // digest names of the image go with it
			if id == img.ID {
				delete(repos, key)
			}
		}
	}
	if err := fsutil.WriteJSON(s.reposPath(), repos); err != nil {
		return nil, err
	}
	if !deleteImage {
		return out, nil
	}
	if err := s.deleteImage(img.ID); err != nil {
		return nil, err
	}
	out.Deleted = append(out.Deleted, img.ID)
	s.collectLayers()
	return out, nil
}

func countTags(keys []string) int {
	n := 0
	for _, k := range keys {
		if !strings.Contains(k, "@") {
			n++
		}
	}
	return n
}

// deleteImage removes an image's files; the store lock is held.
func (s *Store) deleteImage(id string) error {
	for _, p := range []string{s.metaPath(id), s.contentPath(id)} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}

// Prune deletes the images that have no name (all images with all), unless a
// container uses them, and then every layer no image uses.
func (s *Store) Prune(all bool, usedBy func(id string) string) (*Removed, error) {
	unlock, err := s.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	repos, err := s.readRepos()
	if err != nil {
		return nil, err
	}
	named := map[string][]string{}
	for key, id := range repos {
		named[hexOf(id)] = append(named[hexOf(id)], key)
	}
	ids, err := s.ids()
	if err != nil {
		return nil, err
	}
	out := &Removed{}
	for _, h := range ids {
		id := "sha256:" + h
		if (countTags(named[h]) > 0 && !all) || (usedBy != nil && usedBy(id) != "") {
			continue
		}
		for _, key := range named[h] {
			delete(repos, key)
			if !strings.Contains(key, "@") {
				out.Untagged = append(out.Untagged, Familiar(key))
			}
		}
		if err := s.deleteImage(id); err != nil {
			return out, err
		}
		out.Deleted = append(out.Deleted, id)
	}
	if err := fsutil.WriteJSON(s.reposPath(), repos); err != nil {
		return out, err
	}
	s.collectLayers()
	return out, nil
}

// collectLayers removes the layers no image names, the short links that lead
// nowhere and what killed unpackers left behind. It gives way to anyone
// adding layers (they hold the gc lock shared); the next removal collects
// what it skipped. The store lock is held.
func (s *Store) collectLayers() {
	f, ok, err := fsutil.TryLock(filepath.Join(s.dbDir(), ".gc"))
	if err != nil || !ok {
		return
	}
	defer f.Close()
	used := map[string]bool{}
	ids, _ := s.ids()
	for _, h := range ids {
		img, err := s.load(h)
		if err != nil {
			return // an unreadable image: keep every layer rather than guess
		}
		for _, l := range img.Layers() {
			used[hexOf(l)] = true
		}
	}
	entries, _ := os.ReadDir(s.layersDir())
	for _, e := range entries {
		n := e.Name()
		switch {
		case strings.HasPrefix(n, ".tmp-"):
			s.removeStaleTmp(filepath.Join(s.layersDir(), n))
		case len(n) == 64 && isHex(n) && !used[n]:
			s.removeLayer(n)
		}
	}
	links, _ := os.ReadDir(s.linksDir())
	for _, e := range links {
		p := filepath.Join(s.linksDir(), e.Name())
		if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
			os.Remove(p)
		}
	}
	// Copies of layers for user-namespaced containers, named by the
	// layer's short link: they go with the layer.
	ranges, _ := os.ReadDir(filepath.Join(s.root, "remap"))
	for _, r := range ranges {
		dir := filepath.Join(s.root, "remap", r.Name())
		copies, _ := os.ReadDir(dir)
		for _, c := range copies {
			name := strings.TrimSuffix(strings.TrimSuffix(c.Name(), ".lock"), ".tmp")
			if _, err := os.Lstat(filepath.Join(s.linksDir(), name)); errors.Is(err, os.ErrNotExist) {
				os.RemoveAll(filepath.Join(dir, c.Name()))
			}
		}
	}
}

// collectAfterFailure takes away the layers a failed pull or load completed
// but no image names, once no one else is adding layers (they may be
// counting on them); the caller has released its own adding lock.
func (s *Store) collectAfterFailure() {
	unlock, err := s.lock()
	if err != nil {
		return
	}
	defer unlock()
	s.collectLayers()
}
