package container

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The per-container workspace lives under <lib>/containers/<id>/: upper and
// work are the container's writable layer, rootfs its mount point. The
// overlay itself is mounted by init inside the container's mount namespace,
// so it never appears on the host and goes away with the container.

func (rt *Runtime) newRootfs(id string, lower []string) Rootfs {
	dir := filepath.Join(rt.LibDir, "containers", id)
	return Rootfs{
		Lower: lower,
		Upper: filepath.Join(dir, "upper"),
		Work:  filepath.Join(dir, "work"),
		Dir:   filepath.Join(dir, "rootfs"),
	}
}

func (r Rootfs) create() error {
	for _, d := range []string{r.Upper, r.Work, r.Dir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	return nil
}

// remove deletes the workspace, the container's writable layer with it.
func (r Rootfs) remove() error {
	if r.Upper == "" {
		return nil
	}
	return os.RemoveAll(filepath.Dir(r.Upper))
}

var (
	fsOnce sync.Once
	haveFS map[string]bool
)

// filesystems lists what /proc/filesystems says the kernel can mount.
func filesystems() map[string]bool {
	fsOnce.Do(func() {
		haveFS = map[string]bool{}
		data, _ := os.ReadFile("/proc/filesystems")
		for _, line := range strings.Split(string(data), "\n") {
			if f := strings.Fields(line); len(f) > 0 {
				haveFS[f[len(f)-1]] = true
			}
		}
	})
	return haveFS
}

// maxMountData is what the kernel copies of mount options: one page, less
// room for upperdir, workdir and the rest.
const maxMountData = 4096 - 512

// mount describes the union mount init makes: overlay, or aufs on kernels
// that lack overlay. When the layers' paths do not fit in the page of mount
// options (a deep image), they are given relative to the directory of their
// short links, which init makes its working directory to mount (as Docker's
// overlay2 does); dir says which.
func (r Rootfs) mount() (m *specs.Mount, dir string, err error) {
	fs := filesystems()
	switch {
	case fs["overlay"] || len(fs) == 0:
		lower := strings.Join(r.Lower, ":")
		if len(lower) > maxMountData && len(r.Lower) > 0 {
			dir = filepath.Dir(r.Lower[0])
			rel := make([]string, len(r.Lower))
			for i, l := range r.Lower {
				if filepath.Dir(l) != dir {
					return nil, "", fmt.Errorf("the image has too many layers (%d) for one overlay mount", len(r.Lower))
				}
				rel[i] = filepath.Base(l)
			}
			lower = strings.Join(rel, ":")
			if len(lower) > maxMountData {
				return nil, "", fmt.Errorf("the image has too many layers (%d) for one overlay mount", len(r.Lower))
			}
		}
		opts := []string{"lowerdir=" + lower, "upperdir=" + r.Upper, "workdir=" + r.Work}
		if r.UserXattr {
			opts = append(opts, "userxattr")
		}
		return &specs.Mount{Type: "overlay", Source: "overlay", Options: opts}, dir, nil
	case fs["aufs"]:
		branches := "br=" + r.Upper + "=rw"
		for _, l := range r.Lower {
			branches += ":" + l + "=ro+wh"
		}
		return &specs.Mount{Type: "aufs", Source: "none", Options: []string{branches, "dio", "xino=/dev/shm/aufs.xino"}}, "", nil
	}
	return nil, "", fmt.Errorf("the kernel has neither overlay nor aufs (modprobe overlay?)")
}
