package image

import (
	"compress/gzip"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/vbatts/tar-split/tar/asm"
	"github.com/vbatts/tar-split/tar/storage"
	"golang.org/x/sys/unix"

	"github.com/mydocker/mydocker/internal/fsutil"
)

func (s *Store) layersDir() string         { return filepath.Join(s.root, "layers") }
func (s *Store) linksDir() string          { return filepath.Join(s.root, "l") }
func (s *Store) layerDir(d string) string  { return filepath.Join(s.layersDir(), hexOf(d)) }
func (s *Store) layerLock(d string) string { return filepath.Join(s.layersDir(), ".lock-"+hexOf(d)) }

// HasLayer reports whether a layer is in the store, complete: a layer's
// directory appears, by rename, only once it is.
func (s *Store) HasLayer(diffID string) bool {
	_, err := os.Stat(filepath.Join(s.layerDir(diffID), "link"))
	return err == nil
}

// LayerSize is the bytes of file content a layer holds.
func (s *Store) LayerSize(diffID string) int64 { return s.layerSize(diffID) }

func (s *Store) layerSize(diffID string) int64 {
	data, _ := os.ReadFile(filepath.Join(s.layerDir(diffID), "size"))
	n, _ := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
	return n
}

// LayerDiff is the directory overlay stacks for a layer: its short link
// (l/XXXXXXXXXXXX), so that an image of a hundred layers still fits the
// kernel's one page of mount options, as Docker's overlay2 does.
func (s *Store) LayerDiff(diffID string) string {
	link, err := os.ReadFile(filepath.Join(s.layerDir(diffID), "link"))
	if err != nil || len(link) == 0 {
		return filepath.Join(s.layerDir(diffID), "diff")
	}
	return filepath.Join(s.linksDir(), strings.TrimSpace(string(link)))
}

// putLayer unpacks an uncompressed layer tar into the store and returns its
// diff ID (the stream's sha256). With want set, the stream must match it, and
// a layer already stored (or being stored by another process, which is waited
// for) is not unpacked again. The caller holds s.adding().
func (s *Store) putLayer(r io.Reader, want string) (string, error) {
	if want != "" {
		if !strings.HasPrefix(want, "sha256:") || len(hexOf(want)) != 64 || !isHex(hexOf(want)) {
			return "", fmt.Errorf("invalid layer digest %q", want)
		}
		if s.HasLayer(want) {
			return want, nil
		}
		if err := os.MkdirAll(s.layersDir(), 0o700); err != nil {
			return "", err
		}
		unlock, err := fsutil.Lock(s.layerLock(want))
		if err != nil {
			return "", err
		}
		defer unlock()
		if s.HasLayer(want) {
			return want, nil
		}
	}
	tmp, release, err := s.newTmp()
	if err != nil {
		return "", err
	}
	defer release()
	diffID, size, err := unpackLayer(r, tmp)
	if err != nil {
		return "", err
	}
	if want != "" && diffID != want {
		return "", fmt.Errorf("layer digest mismatch: expected %s, got %s", want, diffID)
	}
	if want == "" {
		unlock, err := fsutil.Lock(s.layerLock(diffID))
		if err != nil {
			return "", err
		}
		defer unlock()
		if s.HasLayer(diffID) {
			return diffID, nil
		}
	}
	if err := os.WriteFile(filepath.Join(tmp, "size"), []byte(strconv.FormatInt(size, 10)), 0o600); err != nil {
		return "", err
	}
	link, err := s.newLink(diffID)
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(tmp, "link"), []byte(link), 0o600); err != nil {
		os.Remove(filepath.Join(s.linksDir(), link))
		return "", err
	}
	// The commit point: the layer exists once its directory has its name.
	if err := os.Rename(tmp, s.layerDir(diffID)); err != nil {
		os.Remove(filepath.Join(s.linksDir(), link))
		return "", err
	}
	return diffID, nil
}

// unpackLayer extracts a tar stream into dir/diff, keeping its headers in
// dir/tar-split.json.gz, and returns the stream's digest and content size.
func unpackLayer(r io.Reader, dir string) (string, int64, error) {
	diff := filepath.Join(dir, "diff")
	if err := os.Mkdir(diff, 0o755); err != nil {
		return "", 0, err
	}
	f, err := os.Create(filepath.Join(dir, "tar-split.json.gz"))
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	zw := gzip.NewWriter(f)
	h := sha256.New()
	tee := io.TeeReader(r, h)
	its, done, err := asm.NewInputTarStreamWithDone(tee, storage.NewJSONPacker(zw), uncheckedPutter{})
	if err != nil {
		return "", 0, err
	}
	size, err := extract(its, diff)
	if err == nil {
		_, err = io.Copy(io.Discard, its) // the end-of-archive padding
	}
	its.Close()
	if derr := <-done; err == nil && derr != nil {
		err = fmt.Errorf("reading archive: %w", derr)
	}
	if err != nil {
		return "", 0, err
	}
	if _, err := io.Copy(h, r); err != nil { // anything past the archive's end
		return "", 0, err
	}
	if err := zw.Close(); err != nil {
		return "", 0, err
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), size, f.Close()
}

// newTmp makes a directory to unpack into, flocked while in use so that a
// sweep can tell a killed unpacker's leftovers from a live one's.
func (s *Store) newTmp() (string, func(), error) {
	if err := os.MkdirAll(s.layersDir(), 0o700); err != nil {
		return "", nil, err
	}
	for try := 0; ; try++ {
		tmp, err := os.MkdirTemp(s.layersDir(), ".tmp-")
		if err != nil {
			return "", nil, err
		}
		d, err := os.Open(tmp)
		if err == nil {
			err = unix.Flock(int(d.Fd()), unix.LOCK_EX)
		}
		// A sweep may take a directory between its making and its lock:
		// then make another.
		if _, serr := os.Stat(tmp); err == nil && serr != nil && try < 10 {
			d.Close()
			continue
		}
		if err != nil {
			if d != nil {
				d.Close()
			}
			os.RemoveAll(tmp)
			if errors.Is(err, os.ErrNotExist) && try < 10 {
				continue
			}
			return "", nil, err
		}
		return tmp, func() { os.RemoveAll(tmp); d.Close() }, nil
	}
}

// removeStaleTmp removes an unpack directory whose unpacker is gone.
func (s *Store) removeStaleTmp(path string) {
	d, err := os.Open(path)
	if err != nil {
		return
	}
	defer d.Close()
	if unix.Flock(int(d.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil {
		os.RemoveAll(path)
	}
}

// SweepTmp removes what killed unpackers left behind.
func (s *Store) SweepTmp() {
	entries, _ := os.ReadDir(s.layersDir())
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".tmp-") {
			s.removeStaleTmp(filepath.Join(s.layersDir(), e.Name()))
		}
	}
}

var linkEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// newLink makes a short random name in l/ for a layer's diff directory.
func (s *Store) newLink(diffID string) (string, error) {
	if err := os.MkdirAll(s.linksDir(), 0o700); err != nil {
		return "", err
	}
	for i := 0; i < 10; i++ {
		b := make([]byte, 10)
		rand.Read(b)
		link := linkEncoding.EncodeToString(b)[:12]
		err := os.Symlink(filepath.Join("..", "layers", hexOf(diffID), "diff"), filepath.Join(s.linksDir(), link))
		if err == nil {
			return link, nil
		}
		if !errors.Is(err, os.ErrExist) {
			return "", err
		}
	}
	return "", fmt.Errorf("no free short link name for layer %s", shortHex(diffID))
}

// removeLayer deletes a layer no image uses; the gc lock is held.
func (s *Store) removeLayer(h string) {
	if link, err := os.ReadFile(filepath.Join(s.layersDir(), h, "link")); err == nil && len(link) > 0 {
		os.Remove(filepath.Join(s.linksDir(), strings.TrimSpace(string(link))))
	}
	// Rename first, so that a half-deleted layer is never taken for whole.
	gone := filepath.Join(s.layersDir(), ".tmp-rm-"+h)
	if os.Rename(filepath.Join(s.layersDir(), h), gone) == nil {
		os.RemoveAll(gone)
	}
	os.Remove(s.layerLock(h))
}

// uncheckedPutter is a tar-split FilePutter that keeps no CRC of the
// files' contents: the CRC cost a quarter of a pull's CPU, and what reads a
// layer back as a tarball checks the whole stream against the diff ID
// instead (LayerTar's callers), which a changed file fails as surely.
type uncheckedPutter struct{}

func (uncheckedPutter) Put(_ string, r io.Reader) (int64, []byte, error) {
	n, err := io.Copy(io.Discard, r)
	return n, nil, err
}

// LayerTar gives back a stored layer's tar stream, byte for byte as it came
// in, so that its digest is still its diff ID: the archive's own bytes from
// the tar-split record, the files' contents from the layer's directory.
// Nothing is checked here: hash the stream against the diff ID.
func (s *Store) LayerTar(diffID string) (io.ReadCloser, error) {
	f, err := os.Open(filepath.Join(s.layerDir(diffID), "tar-split.json.gz"))
	if err != nil {
		return nil, fmt.Errorf("layer %s: %w", shortHex(diffID), err)
	}
	zr, err := gzip.NewReader(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("layer %s: %w", shortHex(diffID), err)
	}
	root, err := os.Open(filepath.Join(s.layerDir(diffID), "diff"))
	if err != nil {
		f.Close()
		return nil, err
	}
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(reassemble(pw, storage.NewJSONUnpacker(zr), inRoot{root}))
	}()
	return &closeAll{pr, []io.Closer{pr, root, f}}, nil
}

// reassemble writes a tar stream from its tar-split entries and its files.
func reassemble(w io.Writer, up storage.Unpacker, files storage.FileGetter) error {
	for {
		e, err := up.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		switch e.Type {
		case storage.SegmentType:
			if _, err := w.Write(e.Payload); err != nil {
				return err
			}
		case storage.FileType:
			if e.Size == 0 {
				continue
			}
			fh, err := files.Get(e.GetName())
			if err != nil {
				return err
			}
			n, err := io.CopyN(w, fh, e.Size)
			fh.Close()
			if err != nil {
				return fmt.Errorf("%s: %d of %d bytes: %w", e.GetName(), n, e.Size, err)
			}
		}
	}
}

// inRoot opens a layer's files beneath its directory without following
// symlinks, so that a layer's own links can never lead to the host's files.
type inRoot struct{ dir *os.File }

func (g inRoot) Get(name string) (io.ReadCloser, error) {
	fd, err := unix.Openat2(int(g.dir.Fd()), strings.TrimPrefix(filepath.Clean("/"+name), "/"), &unix.OpenHow{
		Flags: unix.O_RDONLY | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_SYMLINKS})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	return os.NewFile(uintptr(fd), name), nil
}

type closeAll struct {
	io.Reader
	closers []io.Closer
}

func (c *closeAll) Close() error {
	for _, cl := range c.closers {
		cl.Close()
	}
	return nil
}
