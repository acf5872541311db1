// Package image is mydocker's image store: images are named lists of layers,
// each layer an unpacked directory keyed by the sha256 of its tar stream, so
// that overlay can stack them as lowerdirs and identical layers are shared.
//
// Layout under the store's root (by default /var/lib/mydocker):
//
//	images/repositories.json   name:tag -> image ID
//	images/<id>.json           one image: its layers and config
//	layers/<digest>/diff/      one unpacked layer
package image

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/mydocker/mydocker/internal/errdefs"
	"github.com/mydocker/mydocker/internal/fsutil"
)

// Config is the part of an image's configuration that a container starts
// from (the same fields as the OCI image config).
type Config struct {
	Env        []string `json:"Env,omitempty"`
	Entrypoint []string `json:"Entrypoint,omitempty"`
	Cmd        []string `json:"Cmd,omitempty"`
	WorkingDir string   `json:"WorkingDir,omitempty"`
}

// Image is one image in the store.
type Image struct {
	ID      string    `json:"id"`     // sha256:<hex> of the image record
	Layers  []string  `json:"layers"` // layer digests, bottom first
	Created time.Time `json:"created"`
	Size    int64     `json:"size"`
	Config  Config    `json:"config"`
}

// ShortID is the 12-hex form of the image ID that listings show.
func (img *Image) ShortID() string {
	return shortHex(img.ID)
}

// Summary is one line of `mydocker images`.
type Summary struct {
	Repository, Tag string
	Image           *Image
}

// Store is an image store rooted at a directory.
type Store struct {
	root string
}

// NewStore returns the store under root; nothing is created until written.
func NewStore(root string) *Store { return &Store{root: root} }

func (s *Store) imagesDir() string          { return filepath.Join(s.root, "images") }
func (s *Store) reposPath() string          { return filepath.Join(s.imagesDir(), "repositories.json") }
func (s *Store) imagePath(id string) string { return filepath.Join(s.imagesDir(), hexOf(id)+".json") }
func (s *Store) layerDir(d string) string   { return filepath.Join(s.root, "layers", hexOf(d)) }

// LayerDiff is the unpacked content of a layer.
func (s *Store) LayerDiff(digest string) string { return filepath.Join(s.layerDir(digest), "diff") }

func (s *Store) lock() (func(), error) {
	if err := os.MkdirAll(s.imagesDir(), 0o700); err != nil {
		return nil, err
	}
	return fsutil.Lock(filepath.Join(s.imagesDir(), ".lock"))
}

var (
	repoRe = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$`)
	tagRe  = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
)

// ParseReference splits "name[:tag]" and checks both parts, giving the tag
// "latest" when none is named, as Docker does.
func ParseReference(ref string) (repo, tag string, err error) {
	repo, tag = ref, "latest"
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		repo, tag = ref[:i], ref[i+1:]
	}
	if !repoRe.MatchString(repo) || len(repo) > 255 {
		return "", "", fmt.Errorf("invalid reference format: repository name %q must be lowercase letters, digits and separators", repo)
	}
	if !tagRe.MatchString(tag) {
		return "", "", fmt.Errorf("invalid reference format: tag %q", tag)
	}
	return repo, tag, nil
}

// Import unpacks a rootfs tarball (plain or gzip, as `docker export` writes)
// as a one-layer image and names it ref.
func (s *Store) Import(tarPath, ref string) (*Image, error) {
	repo, tag, err := ParseReference(ref)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(tarPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	digest, size, err := s.addLayer(f)
	if err != nil {
		return nil, err
	}
	img := &Image{Layers: []string{digest}, Created: time.Now().UTC(), Size: size}
	if err := s.put(img, repo+":"+tag); err != nil {
		return nil, err
	}
	return img, nil
}

// addLayer unpacks a tar stream into a new layer and returns its digest. The
// layer becomes visible only once complete (unpacked beside it, then renamed).
func (s *Store) addLayer(r io.Reader) (digest string, size int64, err error) {
	layers := filepath.Join(s.root, "layers")
	if err := os.MkdirAll(layers, 0o700); err != nil {
		return "", 0, err
	}
	tmp, err := os.MkdirTemp(layers, ".import-")
	if err != nil {
		return "", 0, err
	}
	defer os.RemoveAll(tmp)
	diff := filepath.Join(tmp, "diff")
	if err := os.Mkdir(diff, 0o755); err != nil {
		return "", 0, err
	}
	h := sha256.New()
	tarStream, err := maybeDecompress(r)
	if err != nil {
		return "", 0, err
	}
	size, err = extract(io.TeeReader(tarStream, h), diff)
	if err != nil {
		return "", 0, err
	}
	// Hash the tar stream's padding too, so the digest is the whole stream's.
	if _, err := io.Copy(h, tarStream); err != nil {
		return "", 0, err
	}
	digest = "sha256:" + hex.EncodeToString(h.Sum(nil))
	if err := os.Rename(tmp, s.layerDir(digest)); err != nil {
		if !errors.Is(err, os.ErrExist) && !isNotEmpty(err) {
			return "", 0, err
		}
		// The same layer is already stored; keep that one.
	}
	return digest, size, nil
}

func isNotEmpty(err error) bool {
	var le *os.LinkError
	return errors.As(err, &le) && strings.Contains(le.Err.Error(), "directory not empty")
}

// put stores img, giving it its content ID, and points name at it.
func (s *Store) put(img *Image, name string) error {
	body, err := json.Marshal(struct {
		Layers []string
		Config Config
	}{img.Layers, img.Config})
	if err != nil {
		return err
	}
	sum := sha256.Sum256(body)
	img.ID = "sha256:" + hex.EncodeToString(sum[:])
	unlock, err := s.lock()
	if err != nil {
		return err
	}
	defer unlock()
	if err := fsutil.WriteJSON(s.imagePath(img.ID), img); err != nil {
		return err
	}
	repos, err := s.readRepos()
	if err != nil {
		return err
	}
	repos[name] = img.ID
	return fsutil.WriteJSON(s.reposPath(), repos)
}

func (s *Store) readRepos() (map[string]string, error) {
	repos := map[string]string{}
	err := fsutil.ReadJSON(s.reposPath(), &repos)
	if errors.Is(err, os.ErrNotExist) {
		return repos, nil
	}
	return repos, err
}

func (s *Store) load(id string) (*Image, error) {
	img := &Image{}
	if err := fsutil.ReadJSON(s.imagePath(id), img); err != nil {
		return nil, err
	}
	return img, nil
}

// Get finds an image by name[:tag], full ID or unique ID prefix.
func (s *Store) Get(ref string) (*Image, error) {
	repos, err := s.readRepos()
	if err != nil {
		return nil, err
	}
	if repo, tag, err := ParseReference(ref); err == nil {
		if id, ok := repos[repo+":"+tag]; ok {
			return s.load(id)
		}
	}
	prefix := strings.TrimPrefix(ref, "sha256:")
	if len(prefix) >= 4 && isHex(prefix) {
		ids, err := s.ids()
		if err != nil {
			return nil, err
		}
		var match []string
		for _, id := range ids {
			if strings.HasPrefix(id, prefix) {
				match = append(match, id)
			}
		}
		if len(match) == 1 {
			return s.load("sha256:" + match[0])
		}
	}
	return nil, errdefs.NotFoundf("Unable to find image '%s' locally", ref)
}

func (s *Store) ids() ([]string, error) {
	entries, err := os.ReadDir(s.imagesDir())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, e := range entries {
		if n := e.Name(); strings.HasSuffix(n, ".json") && n != "repositories.json" && !strings.HasPrefix(n, ".") {
			ids = append(ids, strings.TrimSuffix(n, ".json"))
		}
	}
	return ids, nil
}

// List returns every name in the store with its image, sorted by name; images
// without a name are listed as <none>.
func (s *Store) List() ([]Summary, error) {
	repos, err := s.readRepos()
	if err != nil {
		return nil, err
	}
	named := map[string]bool{}
	var out []Summary
	for name, id := range repos {
		img, err := s.load(id)
		if err != nil {
			continue // a dangling name: the image went away
		}
		i := strings.LastIndex(name, ":")
		out = append(out, Summary{Repository: name[:i], Tag: name[i+1:], Image: img})
		named[hexOf(id)] = true
	}
	ids, err := s.ids()
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		if !named[id] {
			if img, err := s.load("sha256:" + id); err == nil {
				out = append(out, Summary{Repository: "<none>", Tag: "<none>", Image: img})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Repository != out[j].Repository {
			return out[i].Repository < out[j].Repository
		}
		return out[i].Tag < out[j].Tag
	})
	return out, nil
}

// Remove untags ref; the image itself, and layers no other image uses, go
// when no name points at it any more. inUse reports whether a container
// still runs from an image ID; such an image keeps its files.
func (s *Store) Remove(ref string, inUse func(id string) bool) (*Image, error) {
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
	if repo, tag, err := ParseReference(ref); err == nil && repos[repo+":"+tag] == img.ID {
		delete(repos, repo+":"+tag)
	} else {
		for name, id := range repos {
			if id == img.ID {
				delete(repos, name)
			}
		}
	}
	stillNamed := false
	for _, id := range repos {
		stillNamed = stillNamed || id == img.ID
	}
	if !stillNamed && inUse != nil && inUse(img.ID) {
		return nil, fmt.Errorf("conflict: unable to remove %s (image %s is used by a container)", ref, img.ShortID())
	}
	if err := fsutil.WriteJSON(s.reposPath(), repos); err != nil {
		return nil, err
	}
	if stillNamed {
		return img, nil
	}
	if err := os.Remove(s.imagePath(img.ID)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	used := map[string]bool{}
	ids, _ := s.ids()
	for _, id := range ids {
		if other, err := s.load("sha256:" + id); err == nil {
			for _, l := range other.Layers {
				used[l] = true
			}
		}
	}
	for _, l := range img.Layers {
		if !used[l] {
			os.RemoveAll(s.layerDir(l))
		}
	}
	return img, nil
}

func hexOf(id string) string { return strings.TrimPrefix(id, "sha256:") }

func shortHex(id string) string {
	h := hexOf(id)
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

func isHex(s string) bool {
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
