package image

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/vbatts/tar-split/tar/storage"
)

// The `docker save` format: a tarball holding manifest.json (one entry per
// image: its config file, its names and its layer tarballs, bottom first),
// each config as <id>.json and each layer as <dir>/layer.tar. Docker since
// 25 writes an OCI layout beside it with the same manifest.json, which Load
// reads as well.

type saveManifest struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// Save writes the named images, with every layer once, as `docker save` does.
func (s *Store) Save(refs []string, w io.Writer) error {
	var manifest []saveManifest
	var images []*Image
	for _, ref := range refs {
		img, err := s.Get(ref)
		if err != nil {
			return err
		}
		m := saveManifest{Config: hexOf(img.ID) + ".json"}
		if r, err := ParseReference(ref); err == nil && r.Digest == "" && !isIDRef(ref, img) {
			m.RepoTags = []string{r.Familiar()}
		}
		for _, l := range img.Layers() {
			m.Layers = append(m.Layers, hexOf(l)+"/layer.tar")
		}
		// Two names of one image are one entry with both tags.
		merged := false
		for i := range manifest {
			if manifest[i].Config == m.Config {
				manifest[i].RepoTags = append(manifest[i].RepoTags, m.RepoTags...)
				merged = true
			}
		}
		if !merged {
			manifest = append(manifest, m)
			images = append(images, img)
		}
	}
	tw := tar.NewWriter(w)
	now := time.Now()
	written := map[string]bool{}
	for _, img := range images {
		for _, l := range img.Layers() {
			if written[l] {
				continue
			}
			written[l] = true
			if err := s.writeLayer(tw, l, now); err != nil {
				return err
			}
		}
		if err := writeFile(tw, hexOf(img.ID)+".json", img.Raw, now); err != nil {
			return err
		}
	}
	data, err := json.Marshal(manifest)
	if err != nil {
		return err
	}
	if err := writeFile(tw, "manifest.json", data, now); err != nil {
		return err
	}
	return tw.Close()
}

func isIDRef(ref string, img *Image) bool {
	h := hexOf(ref)
	return len(h) >= 4 && isHex(h) && len(h) <= 64 && hexOf(img.ID)[:len(h)] == h
}

func (s *Store) writeLayer(tw *tar.Writer, diffID string, now time.Time) error {
	size, err := s.layerTarSize(diffID)
	if err != nil {
		return err
	}
	dir := hexOf(diffID)
	if err := tw.WriteHeader(&tar.Header{Name: dir + "/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: now}); err != nil {
		return err
	}
	if err := writeFile(tw, dir+"/VERSION", []byte("1.0"), now); err != nil {
		return err
	}
	rc, err := s.LayerTar(diffID)
	if err != nil {
		return err
	}
	defer rc.Close()
	if err := tw.WriteHeader(&tar.Header{Name: dir + "/layer.tar", Typeflag: tar.TypeReg, Mode: 0o644, Size: size, ModTime: now}); err != nil {
		return err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tw, h), rc)
	if err == nil && n != size {
		err = fmt.Errorf("layer %s: %d bytes, expected %d", shortHex(diffID), n, size)
	}
	if err == nil && "sha256:"+hex.EncodeToString(h.Sum(nil)) != diffID {
		err = fmt.Errorf("layer %s changed on disk: its files no longer make its diff ID", shortHex(diffID))
	}
	return err
}

// layerTarSize adds up a layer tarball's length from its tar-split record.
func (s *Store) layerTarSize(diffID string) (int64, error) {
	f, err := os.Open(filepath.Join(s.layerDir(diffID), "tar-split.json.gz"))
	if err != nil {
		return 0, fmt.Errorf("layer %s: %w", shortHex(diffID), err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return 0, err
	}
	up := storage.NewJSONUnpacker(zr)
	var size int64
	for {
		e, err := up.Next()
		if err == io.EOF {
			return size, nil
		}
		if err != nil {
			return 0, err
		}
		if e.Type == storage.SegmentType {
			size += int64(len(e.Payload))
		} else {
			size += e.Size
		}
	}
}

func writeFile(tw *tar.Writer, name string, data []byte, now time.Time) error {
	if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(data)), ModTime: now}); err != nil {
		return err
	}
	_, err := tw.Write(data)
	return err
}

// Loaded is one image Load stored.
type Loaded struct {
	Image *Image
	Tags  []string // familiar
}

// Load reads a `docker save` tarball (plain or compressed; "-" for stdin)
// and stores its images, layers checked against their configs.
func (s *Store) Load(p string) ([]Loaded, error) {
	f, cleanup, err := seekable(p)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	var manifest []saveManifest
	if err := eachEntry(f, func(name string, hdr *tar.Header, r io.Reader) error {
		if name != "manifest.json" {
			return nil
		}
		return json.NewDecoder(r).Decode(&manifest)
	}); err != nil {
		return nil, err
	}
	if len(manifest) == 0 {
		return nil, errors.New("invalid archive: no manifest.json (not a `docker save` tarball)")
	}
	configs := map[string][]byte{}
	layerAt := map[string]string{} // layer path in the archive -> expected diff ID
	for _, m := range manifest {
		configs[path.Clean(m.Config)] = nil
	}
	links := map[string]string{}
	if err := eachEntry(f, func(name string, hdr *tar.Header, r io.Reader) error {
		if hdr.Typeflag == tar.TypeSymlink {
			links[name] = path.Join(path.Dir(name), hdr.Linkname)
		}
		if _, ok := configs[name]; ok && hdr.Typeflag == tar.TypeReg {
			data, err := io.ReadAll(io.LimitReader(r, 16<<20))
			configs[name] = data
			return err
		}
		return nil
	}); err != nil {
		return nil, err
	}
	parsed := make([]*v1.ConfigFile, len(manifest))
	for i, m := range manifest {
		raw := configs[path.Clean(m.Config)]
		if raw == nil {
			return nil, fmt.Errorf("invalid archive: %s, named in manifest.json, is missing", m.Config)
		}
		cf, err := v1.ParseConfigFile(bytes.NewReader(raw))
		if err != nil {
			return nil, fmt.Errorf("invalid archive: %s: %w", m.Config, err)
		}
		if len(cf.RootFS.DiffIDs) != len(m.Layers) {
			return nil, fmt.Errorf("invalid archive: %s lists %d layers, manifest.json %d", m.Config, len(cf.RootFS.DiffIDs), len(m.Layers))
		}
		parsed[i] = cf
		for j, l := range m.Layers {
			l = path.Clean(l)
			if t, ok := links[l]; ok {
				l = t
			}
			layerAt[l] = cf.RootFS.DiffIDs[j].String()
		}
	}
	done, err := s.adding()
	if err != nil {
		return nil, err
	}
	out, err := s.loadLayersAndImages(f, manifest, parsed, configs, layerAt)
	done()
	if err != nil && len(out) == 0 {
		s.collectAfterFailure()
	}
	return out, err
}

func (s *Store) loadLayersAndImages(f *os.File, manifest []saveManifest, parsed []*v1.ConfigFile, configs map[string][]byte, layerAt map[string]string) ([]Loaded, error) {
	s.SweepTmp()
	got := map[string]bool{}
	if err := eachEntry(f, func(name string, hdr *tar.Header, r io.Reader) error {
		want, ok := layerAt[name]
		if !ok || hdr.Typeflag != tar.TypeReg || got[want] {
			return nil
		}
		if s.HasLayer(want) {
			got[want] = true
			return nil
		}
		tarStream, err := maybeDecompress(r)
		if err != nil {
			return err
		}
		defer tarStream.Close()
		if _, err := s.putLayer(tarStream, want); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		got[want] = true
		return nil
	}); err != nil {
		return nil, err
	}
	var out []Loaded
	for i, m := range manifest {
		for _, d := range parsed[i].RootFS.DiffIDs {
			if !got[d.String()] && !s.HasLayer(d.String()) {
				return out, fmt.Errorf("invalid archive: layer %s of %s is missing", shortHex(d.String()), m.Config)
			}
		}
		var names, tags []string
		for _, t := range m.RepoTags {
			r, err := ParseReference(t)
			if err != nil || r.Digest != "" {
				return out, fmt.Errorf("invalid archive: bad tag %q", t)
			}
			names = append(names, r.String())
			tags = append(tags, r.Familiar())
		}
		img, err := s.putImage(configs[path.Clean(m.Config)], Meta{}, names...)
		if err != nil {
			return out, err
		}
		out = append(out, Loaded{Image: img, Tags: tags})
	}
	return out, nil
}

// seekable opens p, or copies stdin to a temporary file: Load reads the
// archive more than once.
func seekable(p string) (*os.File, func(), error) {
	if p != "-" {
		f, err := os.Open(p)
		if err != nil {
			return nil, nil, err
		}
		return f, func() { f.Close() }, nil
	}
	f, err := os.CreateTemp("", "mydocker-load-")
	if err != nil {
		return nil, nil, err
	}
	os.Remove(f.Name())
	if _, err := io.Copy(f, os.Stdin); err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, func() { f.Close() }, nil
}

// eachEntry reads the archive in f from the start, calling fn per entry with
// its clean name.
func eachEntry(f *os.File, fn func(name string, hdr *tar.Header, r io.Reader) error) error {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	stream, err := maybeDecompress(f)
	if err != nil {
		return err
	}
	defer stream.Close()
	tr := tar.NewReader(stream)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("invalid archive: %w", err)
		}
		if err := fn(path.Clean(hdr.Name), hdr, tr); err != nil {
			return err
		}
	}
}
