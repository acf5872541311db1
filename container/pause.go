package container

import (
	"fmt"

	"github.com/mydocker/mydocker/cgroups"
)

// Pause freezes every process of a running container (the freezer cgroup on
// v1, cgroup.freeze on v2); it stays running, and ps says (Paused).
func (rt *Runtime) Pause(ref string) error {
	c, err := rt.Lookup(ref)
	if err != nil {
		return err
	}
	if c.State.Status != Running {
		return fmt.Errorf("container %s is not running", c.ShortID())
	}
	if c.State.Paused {
		return fmt.Errorf("container %s is already paused", c.ShortID())
	}
	if c.CgroupPath == "" {
		return fmt.Errorf("container %s has no cgroup to freeze", c.ShortID())
	}
	if err := cgroups.New(c.CgroupPath).Freeze(true); err != nil {
		cgroups.New(c.CgroupPath).Freeze(false)
		return fmt.Errorf("pausing %s: %w", c.ShortID(), err)
	}
	_, err = rt.store.update(c.ID, func(r *Container) error { r.State.Paused = true; return nil })
	return err
}

// Unpause resumes a paused container.
func (rt *Runtime) Unpause(ref string) error {
	c, err := rt.Lookup(ref)
	if err != nil {
		return err
	}
	if c.State.Status != Running || !c.State.Paused {
		return fmt.Errorf("container %s is not paused", c.ShortID())
	}
	return rt.thaw(c)
}

// thaw resumes c if it is paused.
func (rt *Runtime) thaw(c *Container) error {
	if !c.State.Paused || c.CgroupPath == "" {
		return nil
	}
	if err := cgroups.New(c.CgroupPath).Freeze(false); err != nil {
		return fmt.Errorf("unpausing %s: %w", c.ShortID(), err)
	}
	_, err := rt.store.update(c.ID, func(r *Container) error { r.State.Paused = false; return nil })
	return err
}
