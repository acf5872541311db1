// Package image is mydocker's image store. An image is its OCI config (whose
// sha256 is the image ID, as in Docker) and the layers the config lists by
// diff ID; each layer is unpacked once, into a directory that overlay stacks
// as a lowerdir, and is shared by every image that has it.
//
// Layout under the store's root (by default /var/lib/mydocker):
//
//	imagedb/repositories.json        canonical name (repo:tag, repo@digest) -> image ID
//	imagedb/content/<hex>            an image's config, byte for byte
//	imagedb/metadata/<hex>.json      what the config does not say: when stored, repo digests, size
//	layers/<hex>/diff/               one unpacked layer, keyed by its diff ID
//	layers/<hex>/link                its short name: l/<link> -> ../layers/<hex>/diff
//	layers/<hex>/tar-split.json.gz   the tar's headers, to give back the exact stream (save, push)
//	layers/.tmp-*                    a layer being unpacked (flocked while in use)
//	l/                               short links, so that deep images fit overlay's option page
//	remap/<uid>/<link>               a layer chowned for user-namespaced containers (made by container/)
//
// Writes are atomic (rename into place) and every read-modify-write holds
// imagedb/.lock. Adding layers (pull, load, import, commit) holds
// imagedb/.gc shared; garbage collection of layers takes it exclusively.
package image

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/mydocker/mydocker/internal/errdefs"
	"github.com/mydocker/mydocker/internal/fsutil"
)

// Image is one image in the store.
type Image struct {
	ID     string         // sha256:<hex> of Raw
	Raw    []byte         // the config as stored
	Config *v1.ConfigFile // Raw, decoded
	Meta   Meta
}

// Meta is what the store knows of an image beyond its config.
type Meta struct {
	Stored      time.Time `json:"stored"`
	RepoDigests []string  `json:"repoDigests,omitempty"` // canonical repo@sha256:manifest
	Size        int64     `json:"size"`                  // bytes of file content in its layers
	Parent      string    `json:"parent,omitempty"`      // the image a commit started from
}

// Layers are the image's diff IDs, bottom first.
func (img *Image) Layers() []string {
	out := make([]string, len(img.Config.RootFS.DiffIDs))
	for i, d := range img.Config.RootFS.DiffIDs {
		out[i] = d.String()
	}
	return out
}

// Created is when the image was built, as its config says (when it was
// stored here if the config has no date).
func (img *Image) Created() time.Time {
	if t := img.Config.Created.Time; !t.IsZero() {
		return t
	}
	return img.Meta.Stored
}

// ShortID is the 12-hex form of the image ID that listings show.
func (img *Image) ShortID() string { return shortHex(img.ID) }

// Summary is one name of an image, for listings.
type Summary struct {
	Repository, Tag, Digest string // familiar repository; "<none>" where unnamed
	Image                   *Image
}

// Store is an image store rooted at a directory.
type Store struct {
	root string
}

// NewStore returns the store under root; nothing is created until written.
func NewStore(root string) *Store { return &Store{root: root} }

func (s *Store) dbDir() string                { return filepath.Join(s.root, "imagedb") }
func (s *Store) reposPath() string            { return filepath.Join(s.dbDir(), "repositories.json") }
func (s *Store) contentPath(id string) string { return filepath.Join(s.dbDir(), "content", hexOf(id)) }
func (s *Store) metaPath(id string) string {
	return filepath.Join(s.dbDir(), "metadata", hexOf(id)+".json")
}

func (s *Store) lock() (func(), error) {
	if err := os.MkdirAll(s.dbDir(), 0o700); err != nil {
		return nil, err
	}
	return fsutil.Lock(filepath.Join(s.dbDir(), ".lock"))
}

// adding is held (shared) while layers are added that no image names yet, so
// that garbage collection does not take them away.
func (s *Store) adding() (func(), error) {
	if err := os.MkdirAll(s.dbDir(), 0o700); err != nil {
		return nil, err
	}
	return fsutil.LockShared(filepath.Join(s.dbDir(), ".gc"))
}

// putImage stores a config (whose layers are already in the store), names it,
// and returns the image. names are canonical keys (repo:tag or repo@digest).
func (s *Store) putImage(raw []byte, meta Meta, names ...string) (*Image, error) {
	cfg, err := v1.ParseConfigFile(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("image config: %w", err)
	}
	sum := sha256.Sum256(raw)
	img := &Image{ID: "sha256:" + hex.EncodeToString(sum[:]), Raw: raw, Config: cfg, Meta: meta}
	for _, d := range img.Layers() {
		if !s.HasLayer(d) {
			return nil, fmt.Errorf("image config names layer %s, which is not in the store", d)
		}
		img.Meta.Size += s.layerSize(d)
	}
	if img.Meta.Stored.IsZero() {
		img.Meta.Stored = time.Now().UTC()
	}
	unlock, err := s.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	if old, err := s.readMeta(img.ID); err == nil {
		img.Meta.Stored = old.Stored
		img.Meta.RepoDigests = mergeStrings(old.RepoDigests, img.Meta.RepoDigests)
		if img.Meta.Parent == "" {
			img.Meta.Parent = old.Parent
		}
	}
	if err := fsutil.WriteFile(s.contentPath(img.ID), raw, 0o600); err != nil {
		return nil, err
	}
	if err := fsutil.WriteJSON(s.metaPath(img.ID), img.Meta); err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return img, nil
	}
	repos, err := s.readRepos()
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		repos[n] = img.ID
	}
	return img, fsutil.WriteJSON(s.reposPath(), repos)
}

func mergeStrings(a, b []string) []string {
	out := append([]string{}, a...)
	for _, s := range b {
		found := false
		for _, t := range out {
			found = found || s == t
		}
		if !found {
			out = append(out, s)
		}
	}
	return out
}

func (s *Store) readRepos() (map[string]string, error) {
	repos := map[string]string{}
	err := fsutil.ReadJSON(s.reposPath(), &repos)
	if errors.Is(err, os.ErrNotExist) {
		return repos, nil
	}
	return repos, err
}

func (s *Store) readMeta(id string) (Meta, error) {
	var m Meta
	err := fsutil.ReadJSON(s.metaPath(id), &m)
	return m, err
}

func (s *Store) load(id string) (*Image, error) {
	raw, err := os.ReadFile(s.contentPath(id))
	if err != nil {
		return nil, err
	}
	cfg, err := v1.ParseConfigFile(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", shortHex(id), err)
	}
	meta, _ := s.readMeta(id)
	return &Image{ID: "sha256:" + hexOf(id), Raw: raw, Config: cfg, Meta: meta}, nil
}

// Get finds an image by name (busybox, busybox:1.36, repo@sha256:...), full
// ID or unique ID prefix.
func (s *Store) Get(ref string) (*Image, error) {
	img, err := s.find(ref)
	if err != nil {
		return nil, err
	}
	if img == nil {
		return nil, errdefs.NotFoundf("Unable to find image '%s' locally", ref)
	}
	return img, nil
}

// find is Get that answers nil, nil for an image that is not there.
func (s *Store) find(ref string) (*Image, error) {
	repos, err := s.readRepos()
	if err != nil {
		return nil, err
	}
	if r, err := ParseReference(ref); err == nil {
		if id, ok := repos[r.String()]; ok {
			return s.load(id)
		}
	}
	prefix := strings.TrimPrefix(ref, "sha256:")
	if (len(prefix) >= 4 || prefix != ref) && isHex(prefix) {
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
		if len(match) > 1 {
			return nil, fmt.Errorf("image ID prefix %q matches %d images", ref, len(match))
		}
		if len(match) == 1 {
			return s.load(match[0])
		}
	}
	return nil, nil
}

func (s *Store) ids() ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(s.dbDir(), "content"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, e := range entries {
		if n := e.Name(); len(n) == 64 && isHex(n) {
			ids = append(ids, n)
		}
	}
	return ids, nil
}

// List returns every tagged name with its image, then the images without a
// name (<none>), sorted by name; withDigests adds the repo@digest names.
func (s *Store) List() ([]Summary, error) {
	repos, err := s.readRepos()
	if err != nil {
		return nil, err
	}
	named := map[string]bool{}
	var out []Summary
	cache := map[string]*Image{}
	get := func(id string) *Image {
		if img, ok := cache[id]; ok {
			return img
		}
		img, _ := s.load(id)
		cache[id] = img
		return img
	}
	for key, id := range repos {
		img := get(id)
		if img == nil {
			continue // a dangling name: the image went away
		}
		named[hexOf(id)] = true
		repo, tag := splitName(key)
		if strings.HasPrefix(tag, "sha256:") {
			continue // repo@digest names show in the DIGEST column
		}
		sum := Summary{Repository: Familiar(repo), Tag: tag, Image: img}
		for _, d := range img.Meta.RepoDigests {
			if r, dg := splitName(d); r == repo {
				sum.Digest = dg
			}
		}
		out = append(out, sum)
	}
	ids, err := s.ids()
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		if !named[id] {
			if img := get(id); img != nil {
				out = append(out, Summary{Repository: "<none>", Tag: "<none>", Image: img})
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Repository != out[j].Repository {
			return out[i].Repository < out[j].Repository
		}
		return out[i].Tag < out[j].Tag
	})
	return out, nil
}

// Names returns the familiar tags (repo:tag) that point at an image.
func (s *Store) Names(id string) ([]string, error) {
	repos, err := s.readRepos()
	if err != nil {
		return nil, err
	}
	var out []string
	for key, v := range repos {
		if v == id && !strings.Contains(key, "@") {
			out = append(out, Familiar(key))
		}
	}
	sort.Strings(out)
	return out, nil
}

// Tag points target (a canonical name) at the image src names.
func (s *Store) Tag(src, target string) error {
	img, err := s.Get(src)
	if err != nil {
		return err
	}
	r, err := ParseReference(target)
	if err != nil {
		return err
	}
	if r.Digest != "" {
		return fmt.Errorf("refusing to create a tag with a digest reference: %s", target)
	}
	unlock, err := s.lock()
	if err != nil {
		return err
	}
	defer unlock()
	repos, err := s.readRepos()
	if err != nil {
		return err
	}
	repos[r.String()] = img.ID
	return fsutil.WriteJSON(s.reposPath(), repos)
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
	return s != ""
}
