package container

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/mydocker/mydocker/cgroups"
)

// Wait blocks until the container is not running and prints its exit code.
func (rt *Runtime) Wait(ref string, w io.Writer) error {
	c, err := rt.Lookup(ref)
	if err != nil {
		return err
	}
	if err := rt.waitSupervisor(c.ID); err != nil {
		return err
	}
	if c, err = rt.Lookup(c.ID); err != nil {
		return err
	}
	fmt.Fprintln(w, c.State.ExitCode)
	return nil
}

// Rename gives a container another name: the new one is reserved in the
// index first, then the record says it, then the old name goes.
func (rt *Runtime) Rename(ref, name string) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	c, err := rt.Lookup(ref)
	if err != nil {
		return err
	}
	if c.Name == name {
		return fmt.Errorf("renaming a container with the same name as its current name")
	}
	if err := rt.store.reserveName(name, c.ID); err != nil {
		return err
	}
	unlock, err := rt.store.lockRecord(c.ID)
	if err != nil {
		rt.store.releaseName(name, c.ID)
		return err
	}
	defer unlock()
	full, err := rt.store.load(c.ID)
	if err == nil {
		old := full.Name
		full.Name = name
		if err = rt.store.save(full); err == nil {
			rt.store.releaseName(old, c.ID)
			return nil
		}
	}
	rt.store.releaseName(name, c.ID)
	return err
}

// Diff lists what the container changed in its filesystem, as docker diff:
// A added, C changed, D deleted.
func (rt *Runtime) Diff(ref string, w io.Writer) error {
	c, err := rt.Lookup(ref)
	if err != nil {
		return err
	}
	if c.Rootfs.Upper == "" {
		return fmt.Errorf("container %s has no writable layer", c.ShortID())
	}
	inLower := func(rel string) bool {
		for _, l := range c.Rootfs.Lower {
			fi, err := os.Lstat(filepath.Join(l, rel))
			if err == nil {
				st, _ := fi.Sys().(*syscall.Stat_t)
				return !(fi.Mode()&fs.ModeCharDevice != 0 && st != nil && st.Rdev == 0)
			}
		}
		return false
	}
	// Mount points mydocker made (/etc/hosts and the like, volumes) are not
	// the container's changes: docker diff leaves them out too.
	mountPoints := map[string]bool{}
	for _, m := range c.Spec.Mounts {
		mountPoints[strings.TrimPrefix(filepath.Clean(m.Destination), "/")] = true
	}
	var lines []string
	err = filepath.WalkDir(c.Rootfs.Upper, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == c.Rootfs.Upper {
			return err
		}
		rel, _ := filepath.Rel(c.Rootfs.Upper, p)
		if mountPoints[rel] {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		st, _ := fi.Sys().(*syscall.Stat_t)
		switch {
		case fi.Mode()&fs.ModeCharDevice != 0 && st != nil && st.Rdev == 0:
			lines = append(lines, "D /"+rel)
		case inLower(rel):
			lines = append(lines, "C /"+rel)
		default:
			lines = append(lines, "A /"+rel)
		}
		return nil
	})
	if err != nil {
		return err
	}
	sort.Slice(lines, func(i, j int) bool { return lines[i][2:] < lines[j][2:] })
	for _, l := range lines {
		fmt.Fprintln(w, l)
	}
	return nil
}

// Top runs the host's ps (with args, -ef by default) and shows the lines of
// the container's processes, as docker top.
func (rt *Runtime) Top(ref string, args []string, w io.Writer) error {
	c, err := rt.Lookup(ref)
	if err != nil {
		return err
	}
	if c.State.Status != Running {
		return fmt.Errorf("container %s is not running", c.ShortID())
	}
	pids, err := cgroups.New(c.CgroupPath).Pids()
	if err != nil {
		return err
	}
	if len(args) == 0 {
		args = []string{"-ef"}
	}
	out, err := exec.Command("ps", args...).Output()
	if err != nil {
		return fmt.Errorf("ps %s: %v", strings.Join(args, " "), err)
	}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	if !sc.Scan() {
		return errors.New("ps printed nothing")
	}
	header := sc.Text()
	col := -1
	for i, f := range strings.Fields(header) {
		if f == "PID" {
			col = i
		}
	}
	if col < 0 {
		return fmt.Errorf("ps %s: no PID column", strings.Join(args, " "))
	}
	in := map[int]bool{}
	for _, p := range pids {
		in[p] = true
	}
	fmt.Fprintln(w, header)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) > col {
			if pid, err := strconv.Atoi(f[col]); err == nil && in[pid] {
				fmt.Fprintln(w, sc.Text())
			}
		}
	}
	return nil
}

// Prune removes every container that is not running, as docker container
// prune, and says which.
func (rt *Runtime) Prune(w io.Writer) error {
	all, err := rt.List()
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "Deleted Containers:")
	var errs []error
	for _, c := range all {
		if c.State.Status != Exited {
			continue
		}
		if err := rt.remove(c.ID, false); err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintln(w, c.ID)
	}
	return errors.Join(errs...)
}
