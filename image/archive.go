package image

import (
	"archive/tar"
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"golang.org/x/sys/unix"
)

// maybeDecompress returns a reader of the uncompressed tar stream, whether r
// holds a plain, a gzip- or a zstd-compressed tarball.
func maybeDecompress(r io.Reader) (io.ReadCloser, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	magic, _ := br.Peek(4)
	switch {
	case len(magic) >= 2 && magic[0] == 0x1f && magic[1] == 0x8b:
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("reading archive: %w", err)
		}
		return zr, nil
	case bytes.Equal(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		zr, err := zstd.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("reading archive: %w", err)
		}
		return zr.IOReadCloser(), nil
	}
	return io.NopCloser(br), nil
}

// Whiteouts, as layer tarballs carry them (the OCI image spec's, from aufs).
const (
	whiteoutPrefix = ".wh."
	opaqueMarker   = ".wh..wh..opq"
	opaqueXattr    = "trusted.overlay.opaque"
)

// extract unpacks a tar stream into dir, which must exist and be empty. It
// keeps ownership, modes, times, links and device nodes (it runs as root), and
// refuses entries that would land outside dir. It returns the bytes of file
// content written.
func extract(r io.Reader, dir string) (int64, error) {
	tr := tar.NewReader(r)
	copyBuf := make([]byte, 1<<20) // fewer, larger writes for big files
	var size int64
	type dirTimes struct {
		path  string
		mtime time.Time
	}
	var dirs []dirTimes
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, fmt.Errorf("reading archive: %w", err)
		}
		rel, err := entryPath(hdr.Name)
		if err != nil {
			return 0, err
		}
		if rel == "." {
			// The archive's own root: take its mode and owner.
			if err := applyMeta(dir, hdr); err != nil {
				return 0, err
			}
			dirs = append(dirs, dirTimes{dir, hdr.ModTime})
			continue
		}
		target := filepath.Join(dir, rel)
		if err := checkParents(dir, rel); err != nil {
			return 0, err
		}
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return 0, err
		}
		// Whiteouts become overlay's own: an opaque directory is marked with
		// an xattr, a deleted name is a 0/0 character device.
		if base := filepath.Base(rel); strings.HasPrefix(base, whiteoutPrefix) {
			if base == opaqueMarker {
				if err := unix.Lsetxattr(filepath.Dir(target), opaqueXattr, []byte("y"), 0); err != nil {
					return 0, fmt.Errorf("opaque directory %s: %w", filepath.Dir(rel), err)
				}
				continue
			}
			hidden := filepath.Join(filepath.Dir(target), strings.TrimPrefix(base, whiteoutPrefix))
			if err := os.RemoveAll(hidden); err != nil {
				return 0, err
			}
			if err := unix.Mknod(hidden, unix.S_IFCHR, 0); err != nil {
				return 0, fmt.Errorf("whiteout %s: %w", rel, err)
			}
			continue
		}
		// A later entry for the same path replaces an earlier one, as tar does.
		if fi, err := os.Lstat(target); err == nil && !(fi.IsDir() && hdr.Typeflag == tar.TypeDir) {
			if err := os.RemoveAll(target); err != nil {
				return 0, err
			}
		}
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.Mkdir(target, 0o755); err != nil && !os.IsExist(err) {
				return 0, err
			}
			dirs = append(dirs, dirTimes{target, hdr.ModTime})
		case tar.TypeReg, tar.TypeRegA:
			f, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				return 0, err
			}
			n, err := io.CopyBuffer(f, tr, copyBuf)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return 0, fmt.Errorf("writing %s: %w", rel, err)
			}
			size += n
		case tar.TypeSymlink:
			if err := os.Symlink(hdr.Linkname, target); err != nil {
				return 0, err
			}
		case tar.TypeLink:
			linkRel, err := entryPath(hdr.Linkname)
			if err != nil {
				return 0, err
			}
			if err := checkParents(dir, linkRel); err != nil {
				return 0, err
			}
			if err := os.Link(filepath.Join(dir, linkRel), target); err != nil {
				return 0, err
			}
			continue // a hard link shares its target's metadata
		case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
			mode := uint32(hdr.Mode & 0o7777)
			switch hdr.Typeflag {
			case tar.TypeChar:
				mode |= unix.S_IFCHR
			case tar.TypeBlock:
				mode |= unix.S_IFBLK
			default:
				mode |= unix.S_IFIFO
			}
			dev := unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor))
			if err := unix.Mknod(target, mode, int(dev)); err != nil {
				return 0, fmt.Errorf("mknod %s: %w", rel, err)
			}
		default:
			continue // pax headers and the like carry nothing to create
		}
		if err := applyMeta(target, hdr); err != nil {
			return 0, err
		}
	}
	// Directory times last: creating children changes them.
	for i := len(dirs) - 1; i >= 0; i-- {
		d := dirs[i]
		if err := setTimes(d.path, d.mtime); err != nil {
			return 0, err
		}
	}
	return size, nil
}

// entryPath turns an archive member name into a clean relative path, refusing
// names that climb out of the archive root.
func entryPath(name string) (string, error) {
	if strings.Contains(name, "\x00") {
		return "", fmt.Errorf("archive entry %q: invalid name", name)
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return "", fmt.Errorf("archive entry %q points outside the image", name)
		}
	}
	rel := strings.TrimPrefix(filepath.Clean("/"+name), "/")
	if rel == "" {
		return ".", nil
	}
	return rel, nil
}

// checkParents refuses rel when one of its parent directories inside dir is
// a symlink: writing through it could escape dir.
func checkParents(dir, rel string) error {
	p := dir
	parts := strings.Split(filepath.Dir(rel), string(filepath.Separator))
	for _, part := range parts {
		if part == "." || part == "" {
			continue
		}
		p = filepath.Join(p, part)
		fi, err := os.Lstat(p)
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if fi.Mode()&os.ModeSymlink != 0 {
			return fmt.Errorf("archive entry %q is beneath a symlink", rel)
		}
	}
	return nil
}

func applyMeta(path string, hdr *tar.Header) error {
	if err := os.Lchown(path, hdr.Uid, hdr.Gid); err != nil {
		return err
	}
	if hdr.Typeflag != tar.TypeSymlink {
		// os.Chmod drops setuid/setgid/sticky unless given as Go mode bits.
		mode := os.FileMode(hdr.Mode & 0o777)
		if hdr.Mode&0o4000 != 0 {
			mode |= os.ModeSetuid
		}
		if hdr.Mode&0o2000 != 0 {
			mode |= os.ModeSetgid
		}
		if hdr.Mode&0o1000 != 0 {
			mode |= os.ModeSticky
		}
		if err := os.Chmod(path, mode); err != nil {
			return err
		}
	}
	// After chown, which clears security.capability.
	for k, v := range hdr.PAXRecords {
		if name, ok := strings.CutPrefix(k, "SCHILY.xattr."); ok {
			if err := unix.Lsetxattr(path, name, []byte(v), 0); err != nil && !errors.Is(err, unix.ENOTSUP) {
				return fmt.Errorf("xattr %s on %s: %w", name, hdr.Name, err)
			}
		}
	}
	if hdr.Typeflag == tar.TypeDir {
		return nil
	}
	return setTimes(path, hdr.ModTime)
}

func setTimes(path string, mtime time.Time) error {
	ts := []unix.Timespec{unix.NsecToTimespec(mtime.UnixNano()), unix.NsecToTimespec(mtime.UnixNano())}
	return unix.UtimesNanoAt(unix.AT_FDCWD, path, ts, unix.AT_SYMLINK_NOFOLLOW)
}
