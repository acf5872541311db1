package container

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// cp copies between a running container and the host. Paths inside the
// container are resolved inside its root (openat2 with RESOLVE_IN_ROOT on
// /proc/<pid>/root): a symlink in the container that points at / or ..
// stays in the container, never reaching the host's files. Below the named
// path, entries are walked by file descriptor without following symlinks,
// which are copied as symlinks.

// CopyFromContainer copies CONTAINER:src to the host path dest.
func (rt *Runtime) CopyFromContainer(ref, src, dest string) error {
	root, err := rt.containerRoot(ref)
	if err != nil {
		return err
	}
	defer unix.Close(root)
	fd, err := openInRoot(root, src, unix.O_PATH)
	if err != nil {
		return fmt.Errorf("no such file or directory in the container: %s", src)
	}
	defer unix.Close(fd)
	target := dest
	if fi, err := os.Stat(dest); err == nil && fi.IsDir() {
		target = filepath.Join(dest, filepath.Base(filepath.Clean("/"+src)))
	}
	return copyOut(fd, target)
}

// CopyToContainer copies the host path src into CONTAINER:dest.
func (rt *Runtime) CopyToContainer(src, ref, dest string) error {
	root, err := rt.containerRoot(ref)
	if err != nil {
		return err
	}
	defer unix.Close(root)
	if _, err := os.Lstat(src); err != nil {
		return err
	}
	// dest an existing directory: src goes into it; else dest is the name.
	dir, name := dest, filepath.Base(filepath.Clean(src))
	if fd, err := openInRoot(root, dest, unix.O_DIRECTORY); err == nil {
		unix.Close(fd)
	} else {
		dir, name = filepath.Dir(filepath.Clean("/"+dest)), filepath.Base(filepath.Clean("/"+dest))
	}
	dirfd, err := openInRoot(root, dir, unix.O_DIRECTORY)
	if err != nil {
		return fmt.Errorf("no such directory in the container: %s", dir)
	}
	defer unix.Close(dirfd)
	return copyIn(src, dirfd, name)
}

func (rt *Runtime) containerRoot(ref string) (int, error) {
	c, err := rt.Lookup(ref)
	if err != nil {
		return -1, err
	}
	if c.State.Status != Running || !processAlive(c.State.Pid, c.State.PidStart) {
		return -1, fmt.Errorf("container %s is not running: cp needs a running container", c.ShortID())
	}
	return unix.Open("/proc/"+strconv.Itoa(c.State.Pid)+"/root", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
}

func openInRoot(root int, path string, flags int) (int, error) {
	rel := strings.TrimPrefix(filepath.Clean("/"+path), "/")
	if rel == "" {
		rel = "."
	}
	return unix.Openat2(root, rel, &unix.OpenHow{Flags: uint64(flags | unix.O_CLOEXEC), Resolve: unix.RESOLVE_IN_ROOT})
}

// copyOut writes what fd (an O_PATH descriptor) names to the host path target.
func copyOut(fd int, target string) error {
	var st unix.Stat_t
	if err := unix.Fstatat(fd, "", &st, unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return err
	}
	mode := os.FileMode(st.Mode & 0o7777)
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		if err := os.MkdirAll(target, mode.Perm()|0o700); err != nil {
			return err
		}
		dfd, err := unix.Openat(fd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		d := os.NewFile(uintptr(dfd), target)
		names, err := d.Readdirnames(-1)
		if err != nil {
			d.Close()
			return err
		}
		for _, n := range names {
			cfd, err := unix.Openat(dfd, n, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			if err != nil {
				d.Close()
				return err
			}
			err = copyOut(cfd, filepath.Join(target, n))
			unix.Close(cfd)
			if err != nil {
				d.Close()
				return err
			}
		}
		d.Close()
		return os.Chmod(target, mode.Perm())
	case unix.S_IFLNK:
		buf := make([]byte, 4096)
		n, err := unix.Readlinkat(fd, "", buf)
		if err != nil {
			return err
		}
		os.Remove(target)
		return os.Symlink(string(buf[:n]), target)
	case unix.S_IFREG:
		rfd, err := unix.Open("/proc/self/fd/"+strconv.Itoa(fd), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		in := os.NewFile(uintptr(rfd), "src")
		defer in.Close()
		out, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode.Perm())
		if err != nil {
			return err
		}
		_, err = io.Copy(out, in)
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		return err
	}
	return nil // devices, fifos, sockets: not copied, as docker cp
}

// copyIn creates name in the container directory dirfd from the host path src.
func copyIn(src string, dirfd int, name string) error {
	fi, err := os.Lstat(src)
	if err != nil {
		return err
	}
	switch {
	case fi.IsDir():
		if err := unix.Mkdirat(dirfd, name, uint32(fi.Mode().Perm())); err != nil && !errors.Is(err, unix.EEXIST) {
			return err
		}
		sub, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		defer unix.Close(sub)
		entries, err := os.ReadDir(src)
		if err != nil {
			return err
		}
		for _, e := range entries {
			if err := copyIn(filepath.Join(src, e.Name()), sub, e.Name()); err != nil {
				return err
			}
		}
		return nil
	case fi.Mode()&os.ModeSymlink != 0:
		l, err := os.Readlink(src)
		if err != nil {
			return err
		}
		unix.Unlinkat(dirfd, name, 0)
		return unix.Symlinkat(l, dirfd, name)
	case fi.Mode().IsRegular():
		in, err := os.Open(src)
		if err != nil {
			return err
		}
		defer in.Close()
		// O_NOFOLLOW: a symlink already at the name is not written through.
		fd, err := unix.Openat(dirfd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC|unix.O_NOFOLLOW|unix.O_CLOEXEC, uint32(fi.Mode().Perm()))
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		out := os.NewFile(uintptr(fd), name)
		_, err = io.Copy(out, in)
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		return err
	}
	return nil
}
