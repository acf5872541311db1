package container

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// setupRootfs builds the container's filesystem view in init's new mount
// namespace and pivots into it. Nothing here is visible on the host: the
// first step makes every mount private.
func setupRootfs(cfg *initConfig) error {
	spec := cfg.Spec
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making mounts private: %w", err)
	}
	root := spec.Root.Path
	if cfg.RootfsMount != nil {
		if cfg.RootfsMountDir != "" {
			if err := unix.Chdir(cfg.RootfsMountDir); err != nil {
				return fmt.Errorf("chdir to the layers: %w", err)
			}
		}
		flags, data := parseMountOptions(cfg.RootfsMount.Options)
		if err := unix.Mount(cfg.RootfsMount.Source, root, cfg.RootfsMount.Type, flags, data); err != nil {
			return fmt.Errorf("mounting the %s root filesystem: %w", cfg.RootfsMount.Type, err)
		}
	} else if err := unix.Mount(root, root, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		// pivot_root needs the new root to be a mount point.
		return fmt.Errorf("bind-mounting the root filesystem: %w", err)
	}
	for _, m := range spec.Mounts {
		if err := mountInto(root, m); err != nil {
			return err
		}
	}
	if err := createDevices(root, spec); err != nil {
		return err
	}
	if err := pivotRoot(root); err != nil {
		return err
	}
	if err := writeSysctls(spec.Linux.Sysctl); err != nil {
		return err
	}
	for _, path := range spec.Linux.ReadonlyPaths {
		if err := readonlyPath(path); err != nil {
			return err
		}
	}
	for _, path := range spec.Linux.MaskedPaths {
		if err := maskPath(path); err != nil {
			return err
		}
	}
	if spec.Root.Readonly {
		if err := unix.Mount("", "/", "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY, ""); err != nil {
			return fmt.Errorf("making the root filesystem read-only: %w", err)
		}
	}
	return nil
}

// mountInto carries out one spec mount beneath root.
func mountInto(root string, m specs.Mount) error {
	dest, err := secureJoin(root, m.Destination)
	if err != nil {
		return err
	}
	flags, data := parseMountOptions(m.Options)
	bind := m.Type == "bind" || flags&unix.MS_BIND != 0
	if bind {
		fi, err := os.Stat(m.Source)
		if err != nil {
			return fmt.Errorf("mount %s: %w", m.Destination, err)
		}
		if err := makeTarget(dest, fi.IsDir()); err != nil {
			return err
		}
	} else if err := os.MkdirAll(dest, 0o755); err != nil {
		return fmt.Errorf("mount %s: %w", m.Destination, err)
	}
	propagation := flags & (unix.MS_PRIVATE | unix.MS_SHARED | unix.MS_SLAVE | unix.MS_UNBINDABLE)
	flags &^= propagation
	if bind {
		if err := unix.Mount(m.Source, dest, "", flags&(unix.MS_BIND|unix.MS_REC)|unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind-mounting %s on %s: %w", m.Source, m.Destination, err)
		}
		// A bind mount ignores other flags until remounted with them.
		if rest := flags &^ (unix.MS_BIND | unix.MS_REC); rest != 0 {
			if err := unix.Mount("", dest, "", unix.MS_BIND|unix.MS_REMOUNT|rest, ""); err != nil {
				return fmt.Errorf("remounting %s: %w", m.Destination, err)
			}
		}
	} else if err := unix.Mount(m.Source, dest, m.Type, flags, data); err != nil {
		return fmt.Errorf("mounting %s on %s: %w", m.Type, m.Destination, err)
	}
	if propagation != 0 {
		if err := unix.Mount("", dest, "", propagation|(flags&unix.MS_REC), ""); err != nil {
			return fmt.Errorf("setting propagation of %s: %w", m.Destination, err)
		}
	}
	return nil
}

// makeTarget creates the mount point: a directory, or an empty file for a
// file bind mount.
func makeTarget(dest string, dir bool) error {
	if dir {
		return os.MkdirAll(dest, 0o755)
	}
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(dest, os.O_CREATE|os.O_RDONLY, 0o644)
	if err != nil {
		return err
	}
	return f.Close()
}

var mountFlags = map[string]struct {
	clear bool
	flag  uintptr
}{
	"ro": {false, unix.MS_RDONLY}, "rw": {true, unix.MS_RDONLY},
	"nosuid": {false, unix.MS_NOSUID}, "suid": {true, unix.MS_NOSUID},
	"nodev": {false, unix.MS_NODEV}, "dev": {true, unix.MS_NODEV},
	"noexec": {false, unix.MS_NOEXEC}, "exec": {true, unix.MS_NOEXEC},
	"sync": {false, unix.MS_SYNCHRONOUS}, "async": {true, unix.MS_SYNCHRONOUS},
	"dirsync": {false, unix.MS_DIRSYNC}, "remount": {false, unix.MS_REMOUNT},
	"mand": {false, unix.MS_MANDLOCK}, "nomand": {true, unix.MS_MANDLOCK},
	"noatime": {false, unix.MS_NOATIME}, "atime": {true, unix.MS_NOATIME},
	"nodiratime": {false, unix.MS_NODIRATIME}, "diratime": {true, unix.MS_NODIRATIME},
	"relatime": {false, unix.MS_RELATIME}, "norelatime": {true, unix.MS_RELATIME},
	"strictatime": {false, unix.MS_STRICTATIME}, "nostrictatime": {true, unix.MS_STRICTATIME},
	"bind": {false, unix.MS_BIND}, "rbind": {false, unix.MS_BIND | unix.MS_REC},
	"private": {false, unix.MS_PRIVATE}, "rprivate": {false, unix.MS_PRIVATE | unix.MS_REC},
	"shared": {false, unix.MS_SHARED}, "rshared": {false, unix.MS_SHARED | unix.MS_REC},
	"slave": {false, unix.MS_SLAVE}, "rslave": {false, unix.MS_SLAVE | unix.MS_REC},
	"unbindable": {false, unix.MS_UNBINDABLE}, "runbindable": {false, unix.MS_UNBINDABLE | unix.MS_REC},
}

// parseMountOptions splits mount options into mount(2) flags and the data
// string the filesystem itself reads.
func parseMountOptions(options []string) (uintptr, string) {
	var flags uintptr
	var data []string
	for _, o := range options {
		if f, ok := mountFlags[o]; ok {
			if f.clear {
				flags &^= f.flag
			} else {
				flags |= f.flag
			}
			continue
		}
		data = append(data, o)
	}
	return flags, strings.Join(data, ",")
}

// secureJoin resolves path inside root as if root were "/": symlinks in the
// image are followed but can never lead out of root.
func secureJoin(root, path string) (string, error) {
	var resolved string // relative to root, always clean
	rest := strings.Split(filepath.Clean("/"+path), "/")
	links := 0
	for len(rest) > 0 {
		part := rest[0]
		rest = rest[1:]
		if part == "" || part == "." {
			continue
		}
		if part == ".." {
			resolved = filepath.Dir(resolved)
			if resolved == "." {
				resolved = ""
			}
			continue
		}
		next := filepath.Join(resolved, part)
		fi, err := os.Lstat(filepath.Join(root, next))
		if err != nil || fi.Mode()&os.ModeSymlink == 0 {
			resolved = next // missing parts are created later, as given
			continue
		}
		if links++; links > 255 {
			return "", fmt.Errorf("resolving %s: too many symlinks", path)
		}
		target, err := os.Readlink(filepath.Join(root, next))
		if err != nil {
			return "", err
		}
		if filepath.IsAbs(target) {
			resolved = ""
		}
		rest = append(strings.Split(target, "/"), rest...)
	}
	return filepath.Join(root, resolved), nil
}

// createDevices makes the spec's device nodes and the usual /dev symlinks,
// when /dev is a fresh tmpfs of ours.
func createDevices(root string, spec *specs.Spec) error {
	devTmpfs := false
	devpts := false
	for _, m := range spec.Mounts {
		devTmpfs = devTmpfs || m.Destination == "/dev" && m.Type == "tmpfs"
		devpts = devpts || m.Destination == "/dev/pts" && m.Type == "devpts"
	}
	if !devTmpfs {
		return nil
	}
	old := unix.Umask(0)
	defer unix.Umask(old)
	userns := hasNamespace(spec, specs.UserNamespace)
	for _, d := range spec.Linux.Devices {
		dest, err := secureJoin(root, d.Path)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
			return err
		}
		if userns {
			// mknod is not allowed in a user namespace: bind the host's node,
			// as runc does.
			if err := makeTarget(dest, false); err != nil {
				return err
			}
			if err := unix.Mount(d.Path, dest, "", unix.MS_BIND, ""); err != nil {
				return fmt.Errorf("bind-mounting %s: %w", d.Path, err)
			}
			continue
		}
		mode := uint32(0o666)
		if d.FileMode != nil {
			mode = uint32(d.FileMode.Perm())
		}
		switch d.Type {
		case "c", "u":
			mode |= unix.S_IFCHR
		case "b":
			mode |= unix.S_IFBLK
		case "p":
			mode |= unix.S_IFIFO
		default:
			return fmt.Errorf("device %s: unknown type %q", d.Path, d.Type)
		}
		if err := unix.Mknod(dest, mode, int(unix.Mkdev(uint32(d.Major), uint32(d.Minor)))); err != nil {
			return fmt.Errorf("creating %s: %w", d.Path, err)
		}
		uid, gid := 0, 0
		if d.UID != nil {
			uid = int(*d.UID)
		}
		if d.GID != nil {
			gid = int(*d.GID)
		}
		if err := os.Chown(dest, uid, gid); err != nil {
			return err
		}
	}
	links := [][2]string{{"/proc/self/fd", "fd"}, {"/proc/self/fd/0", "stdin"}, {"/proc/self/fd/1", "stdout"}, {"/proc/self/fd/2", "stderr"}}
	if devpts {
		links = append(links, [2]string{"pts/ptmx", "ptmx"})
	}
	for _, l := range links {
		if err := os.Symlink(l[0], filepath.Join(root, "dev", l[1])); err != nil && !errors.Is(err, os.ErrExist) {
			return err
		}
	}
	return nil
}

// pivotRoot makes root the root of the mount namespace and detaches the old
// one, without needing a directory to park it in (pivot_root(".", ".")).
func pivotRoot(root string) error {
	oldroot, err := unix.Open("/", unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(oldroot)
	newroot, err := unix.Open(root, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(newroot)
	if err := unix.Fchdir(newroot); err != nil {
		return err
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	// The old root now sits on top of "."; detach it.
	if err := unix.Fchdir(oldroot); err != nil {
		return err
	}
	if err := unix.Mount("", ".", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return err
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detaching the old root: %w", err)
	}
	return unix.Chdir("/")
}

// readonlyPath makes path (inside the container) a read-only bind mount of
// itself: /proc/sys and the like, which would change the host.
func readonlyPath(path string) error {
	if err := unix.Mount(path, path, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("read-only %s: %w", path, err)
	}
	var st unix.Statfs_t
	flags := uintptr(0)
	if unix.Statfs(path, &st) == nil {
		// Keep the flags a user namespace locks (statfs's ST_* bits are
		// mount's MS_* ones, but for relatime).
		flags = uintptr(st.Flags) & (unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC | unix.MS_NOATIME | unix.MS_NODIRATIME)
		if st.Flags&unix.ST_RELATIME != 0 {
			flags |= unix.MS_RELATIME
		}
	}
	if err := unix.Mount(path, path, "", flags|unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("read-only %s: %w", path, err)
	}
	return nil
}

// maskPath hides path: an empty read-only tmpfs over a directory, /dev/null
// over a file.
func maskPath(path string) error {
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("mask %s: %w", path, err)
	}
	if fi.IsDir() {
		err = unix.Mount("tmpfs", path, "tmpfs", unix.MS_RDONLY, "size=0k")
	} else {
		err = unix.Mount("/dev/null", path, "", unix.MS_BIND, "")
	}
	if err != nil {
		return fmt.Errorf("mask %s: %w", path, err)
	}
	return nil
}
