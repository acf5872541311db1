package container

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/mydocker/mydocker/internal/fsutil"
)

// --userns remap: root in the container is an unprivileged uid on the host,
// from a range that /etc/subuid and /etc/subgid give the user "mydocker"
// (added when missing, as Docker's userns-remap: default adds dockremap).
// Image layers are made usable by a chowned copy per range (Docker's
// userns-remap keeps a whole store per range the same way), kept under
// <lib>/remap/<start>/ beside the layers and shared by every remapped
// container; overlay is mounted inside the user namespace with userxattr.

// remapUser names the subordinate ranges mydocker uses.
const remapUser = "mydocker"

// remapSize is the size of the range: every uid a Docker image uses.
const remapSize = 65536

// idRange is one line of /etc/subuid or /etc/subgid.
type idRange struct{ start, size uint32 }

var (
	subuidPath = "/etc/subuid"
	subgidPath = "/etc/subgid"
)

// remapRanges finds (or adds) mydocker's ranges for uids and gids.
func (rt *Runtime) remapRanges() (uid, gid idRange, err error) {
	if err := os.MkdirAll(rt.LibDir, 0o711); err != nil {
		return uid, gid, err
	}
	unlock, err := fsutil.Lock(filepath.Join(rt.LibDir, ".subid.lock"))
	if err != nil {
		return uid, gid, err
	}
	defer unlock()
	if uid, err = subordinateRange(subuidPath); err != nil {
		return uid, gid, err
	}
	gid, err = subordinateRange(subgidPath)
	return uid, gid, err
}

// subordinateRange reads mydocker's range from a subid file, appending one
// past every range there when it has none.
func subordinateRange(path string) (idRange, error) {
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return idRange{}, err
	}
	next := uint32(100000)
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	for sc.Scan() {
		f := strings.Split(strings.TrimSpace(sc.Text()), ":")
		if len(f) != 3 {
			continue
		}
		start, err1 := strconv.ParseUint(f[1], 10, 32)
		size, err2 := strconv.ParseUint(f[2], 10, 32)
		if err1 != nil || err2 != nil {
			continue
		}
		if f[0] == remapUser {
			if size < remapSize {
				return idRange{}, fmt.Errorf("%s: the range of %s holds %d ids; a container needs %d", path, remapUser, size, remapSize)
			}
			return idRange{uint32(start), remapSize}, nil
		}
		if end := start + size; end > uint64(next) && end < 1<<32-remapSize {
			next = uint32(end)
		}
	}
	if len(data) > 0 && !strings.HasSuffix(string(data), "\n") {
		data = append(data, '\n')
	}
	data = append(data, fmt.Sprintf("%s:%d:%d\n", remapUser, next, remapSize)...)
	if err := fsutil.WriteFile(path, data, 0o644); err != nil {
		return idRange{}, err
	}
	return idRange{next, remapSize}, nil
}

// applyUserns puts the spec in a new user namespace mapped onto the ranges.
func applyUserns(spec *specs.Spec, uid, gid idRange) {
	spec.Linux.Namespaces = append([]specs.LinuxNamespace{{Type: specs.UserNamespace}}, spec.Linux.Namespaces...)
	spec.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: uid.start, Size: uid.size}}
	spec.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: gid.start, Size: gid.size}}
}

// hostRoot is the host's uid and gid of the container's root.
func hostRoot(spec *specs.Spec) (int, int) {
	if spec.Linux == nil || len(spec.Linux.UIDMappings) == 0 || len(spec.Linux.GIDMappings) == 0 {
		return 0, 0
	}
	return int(spec.Linux.UIDMappings[0].HostID), int(spec.Linux.GIDMappings[0].HostID)
}

// remappedLayers gives the layer directories (top first) as copies owned
// within the range, making the copies that are missing.
func (rt *Runtime) remappedLayers(lower []string, uid, gid idRange) ([]string, error) {
	dir := filepath.Join(rt.LibDir, "remap", strconv.FormatUint(uint64(uid.start), 10))
	if err := os.MkdirAll(dir, 0o711); err != nil {
		return nil, err
	}
	out := make([]string, len(lower))
	for i, l := range lower {
		dest := filepath.Join(dir, filepath.Base(l))
		out[i] = dest
		if _, err := os.Lstat(dest); err == nil {
			continue
		}
		unlock, err := fsutil.Lock(dest + ".lock")
		if err != nil {
			return nil, err
		}
		err = copyRemapped(l, dest, uid, gid)
		unlock()
		os.Remove(dest + ".lock")
		if err != nil {
			return nil, fmt.Errorf("remapping layer %s: %w", filepath.Base(l), err)
		}
	}
	return out, nil
}

// copyRemapped copies a layer directory with every owner shifted into the
// ranges and overlay's trusted.overlay.opaque made user.overlay.opaque, what
// overlay reads when mounted in a user namespace (userxattr). It renames
// into place only when whole.
func copyRemapped(src, dest string, uid, gid idRange) error {
	if _, err := os.Lstat(dest); err == nil {
		return nil // made while we waited for the lock
	}
	real, err := filepath.EvalSymlinks(src)
	if err != nil {
		return err
	}
	tmp := dest + ".tmp"
	os.RemoveAll(tmp)
	links := map[uint64]string{}
	err = filepath.WalkDir(real, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(real, p)
		target := filepath.Join(tmp, rel)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		switch {
		case fi.IsDir():
			err = os.Mkdir(target, 0o700)
		case fi.Mode().IsRegular():
			if first, ok := links[st.Ino]; ok && st.Nlink > 1 {
				return os.Link(first, target)
			}
			links[st.Ino] = target
			err = copyFile(p, target)
		case fi.Mode()&fs.ModeSymlink != 0:
			var l string
			if l, err = os.Readlink(p); err == nil {
				err = os.Symlink(l, target)
			}
		default: // devices (whiteouts among them), fifos, sockets
			err = unix.Mknod(target, st.Mode, int(st.Rdev))
		}
		if err != nil {
			return err
		}
		if err := os.Lchown(target, int(shift(st.Uid, uid)), int(shift(st.Gid, gid))); err != nil {
			return err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			if err := unix.Chmod(target, st.Mode&0o7777); err != nil {
				return err
			}
		}
		if fi.IsDir() && isOpaqueDir(p) {
			if err := unix.Lsetxattr(target, "user.overlay.opaque", []byte("y"), 0); err != nil {
				return err
			}
		}
		ts := []unix.Timespec{unix.Timespec(st.Atim), unix.Timespec(st.Mtim)}
		return unix.UtimesNanoAt(unix.AT_FDCWD, target, ts, unix.AT_SYMLINK_NOFOLLOW)
	})
	if err == nil {
		err = os.Rename(tmp, dest)
	}
	if err != nil {
		os.RemoveAll(tmp)
	}
	return err
}

func shift(id uint32, r idRange) uint32 {
	if id >= r.size {
		return r.start + r.size - 1 // unmappable: the range's last id
	}
	return r.start + id
}

func isOpaqueDir(p string) bool {
	buf := make([]byte, 4)
	n, err := unix.Lgetxattr(p, "trusted.overlay.opaque", buf)
	return err == nil && n == 1 && buf[0] == 'y'
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

// traversable lets the container's root, an unprivileged uid on the host,
// walk down from top to each path (o+x on the directories in between), as
// Docker's userns-remap makes /var/lib/docker 0711.
func traversable(top string, paths ...string) error {
	for _, p := range paths {
		for d := p; ; d = filepath.Dir(d) {
			fi, err := os.Stat(d)
			if err != nil {
				return err
			}
			if fi.IsDir() && fi.Mode().Perm()&0o001 == 0 {
				if err := os.Chmod(d, fi.Mode().Perm()|0o011); err != nil {
					return err
				}
			}
			if d == top || d == "/" || d == "." {
				break
			}
		}
	}
	return nil
}

// remapWorkspace gives the container's root its writable layer and lets it
// reach the layers and its /etc files.
func (rt *Runtime) remapWorkspace(c *Container) error {
	uid, gid := hostRoot(c.Spec)
	for _, d := range []string{c.Rootfs.Upper, c.Rootfs.Work, c.Rootfs.Dir} {
		if err := os.Chown(d, uid, gid); err != nil {
			return err
		}
	}
	if err := traversable(filepath.Dir(rt.LibDir), filepath.Dir(c.Rootfs.Upper)); err != nil {
		return err
	}
	if len(c.Rootfs.Lower) > 0 {
		if err := traversable(filepath.Dir(rt.LibDir), filepath.Dir(c.Rootfs.Lower[0])); err != nil {
			return err
		}
	}
	return nil
}
