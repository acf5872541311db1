package image

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// isWhiteout reports whether fi is overlay's mark of a deleted name.
func isWhiteout(fi fs.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && fi.Mode()&fs.ModeCharDevice != 0 && st.Rdev == 0
}

// isOpaque reads overlay's opaque mark, in trusted.* or, for a layer
// mounted in a user namespace, user.*.
func isOpaque(path string) bool {
	buf := make([]byte, 8)
	for _, x := range []string{opaqueXattr, "user.overlay.opaque"} {
		if n, err := unix.Lgetxattr(path, x, buf); err == nil && n == 1 && buf[0] == 'y' {
			return true
		}
	}
	return false
}

// tarWriter writes files into a tar stream with their owners, modes, times,
// xattrs and hard links, as a layer carries them.
type tarWriter struct {
	tw    *tar.Writer
	links map[[2]uint64]string // (dev, inode) -> first name written
	shift IDShift
}

// IDShift undoes a user namespace's mapping when files go into a tarball:
// host ids UID..UID+Size-1 are written as 0..Size-1 (GID likewise).
type IDShift struct{ UID, GID, Size int }

func (s IDShift) unshift(id, base int) int {
	if s.Size > 0 && id >= base && id < base+s.Size {
		return id - base
	}
	return id
}

func newTarWriter(w io.Writer, shift IDShift) *tarWriter {
	return &tarWriter{tw: tar.NewWriter(w), links: map[[2]uint64]string{}, shift: shift}
}

func (t *tarWriter) add(path, name string, fi fs.FileInfo) error {
	link := ""
	if fi.Mode()&fs.ModeSymlink != 0 {
		var err error
		if link, err = os.Readlink(path); err != nil {
			return err
		}
	}
	hdr, err := tar.FileInfoHeader(fi, link)
	if err != nil {
		return err
	}
	hdr.Name = name
	hdr.Format = tar.FormatPAX
	hdr.Uname, hdr.Gname = "", ""
	st, _ := fi.Sys().(*syscall.Stat_t)
	if st != nil {
		hdr.Uid, hdr.Gid = t.shift.unshift(int(st.Uid), t.shift.UID), t.shift.unshift(int(st.Gid), t.shift.GID)
		hdr.AccessTime, hdr.ChangeTime = hdr.ModTime, hdr.ModTime
		if fi.Mode().IsRegular() && st.Nlink > 1 {
			key := [2]uint64{st.Dev, st.Ino}
			if first, ok := t.links[key]; ok {
				hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, first, 0
			} else {
				t.links[key] = name
			}
		}
	}
	if fi.IsDir() {
		hdr.Name += "/"
	}
	if xs, err := xattrs(path); err == nil && len(xs) > 0 {
		hdr.PAXRecords = map[string]string{}
		for k, v := range xs {
			hdr.PAXRecords["SCHILY.xattr."+k] = v
		}
	}
	if err := t.tw.WriteHeader(hdr); err != nil {
		return err
	}
	if hdr.Typeflag != tar.TypeReg || hdr.Size == 0 {
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	n, err := io.Copy(t.tw, f)
	if err == nil && n != hdr.Size {
		err = fmt.Errorf("%s changed size while being archived", name)
	}
	return err
}

func (t *tarWriter) whiteout(name string) error {
	dir, base := filepath.Split(name)
	return t.tw.WriteHeader(&tar.Header{Name: dir + whiteoutPrefix + base, Typeflag: tar.TypeReg, Mode: 0o600, Format: tar.FormatPAX})
}

func (t *tarWriter) close() error { return t.tw.Close() }

// xattrs lists a file's extended attributes worth keeping in a layer: not
// overlay's own bookkeeping.
func xattrs(path string) (map[string]string, error) {
	buf := make([]byte, 4096)
	n, err := unix.Llistxattr(path, buf)
	if err != nil || n == 0 {
		return nil, err
	}
	out := map[string]string{}
	for _, k := range strings.Split(strings.TrimRight(string(buf[:n]), "\x00"), "\x00") {
		if k == "" || strings.HasPrefix(k, "trusted.overlay.") || strings.HasPrefix(k, "user.overlay.") {
			continue
		}
		val := make([]byte, 64<<10)
		m, err := unix.Lgetxattr(path, k, val)
		if err == nil {
			out[k] = string(val[:m])
		}
	}
	return out, nil
}

// DiffTar writes a container's writable layer (an overlay upper directory)
// as a layer tarball: whiteouts and opaque directories in the image
// format's .wh. form.
func DiffTar(upper string, w io.Writer, shift IDShift) error {
	t := newTarWriter(w, shift)
	err := filepath.WalkDir(upper, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if path == upper {
			return nil
		}
		rel, _ := filepath.Rel(upper, path)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if isWhiteout(fi) {
			return t.whiteout(rel)
		}
		if err := t.add(path, rel, fi); err != nil {
			return err
		}
		if fi.IsDir() && isOpaque(path) {
			return t.tw.WriteHeader(&tar.Header{Name: rel + "/" + opaqueMarker, Typeflag: tar.TypeReg, Mode: 0o600, Format: tar.FormatPAX})
		}
		return nil
	})
	if err != nil {
		return err
	}
	return t.close()
}

// FlatTar writes the union of layer directories (top first, in overlay's
// format) as one flat filesystem tarball, what `export` gives: whiteouts and
// opaque directories applied, never written.
func FlatTar(dirs []string, w io.Writer, shift IDShift) error {
	type source struct {
		path string
		fi   fs.FileInfo
	}
	files := map[string]source{}
	deleted := map[string]int{} // path -> layer that deleted it
	opaque := map[string]int{}  // dir -> layer that made it opaque
	hiddenBelow := func(rel string, layer int) bool {
		for p := rel; p != "."; p = filepath.Dir(p) {
			if l, ok := deleted[p]; ok && l < layer {
				return true
			}
			if p != rel {
				if l, ok := opaque[p]; ok && l < layer {
					return true
				}
				if s, ok := files[p]; ok && !s.fi.IsDir() {
					return true // a file above replaced this directory
				}
			}
		}
		return false
	}
	for i, dir := range dirs {
		if real, err := filepath.EvalSymlinks(dir); err == nil {
			dir = real // a layer's short link
		}
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return nil
				}
				return err
			}
			rel, _ := filepath.Rel(dir, path)
			if rel == "." {
				return nil
			}
			if hiddenBelow(rel, i) {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			fi, err := d.Info()
			if err != nil {
				return err
			}
			if isWhiteout(fi) {
				if _, ok := files[rel]; !ok {
					deleted[rel] = i
				}
				return nil
			}
			if _, ok := files[rel]; !ok {
				files[rel] = source{path, fi}
			}
			if fi.IsDir() && isOpaque(path) {
				opaque[rel] = i
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	t := newTarWriter(w, shift)
	for _, n := range names {
		if err := t.add(files[n].path, n, files[n].fi); err != nil {
			return err
		}
	}
	return t.close()
}
