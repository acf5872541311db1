package container

import (
	"fmt"
	"io"
	"strings"

	"github.com/mydocker/mydocker/image"
)

// CommitOptions are `commit`'s flags.
type CommitOptions struct {
	Ref             string
	Changes         []string
	Message, Author string
}

// Commit makes a container's changes one new layer on its image, with the
// container's own command, environment, working directory and user as the
// new image's settings, as `docker commit` does. It prints the new ID.
func (rt *Runtime) Commit(ref string, o CommitOptions, w io.Writer) error {
	c, err := rt.Lookup(ref)
	if err != nil {
		return err
	}
	parent, err := rt.Images.Get(c.ImageID)
	if err != nil {
		return fmt.Errorf("the image of container %s is gone: %w", c.ShortID(), err)
	}
	if c.Rootfs.Upper == "" {
		return fmt.Errorf("container %s has no writable layer to commit", c.ShortID())
	}
	cfg := parent.Config.Config
	if len(c.Config.Cmd) > 0 {
		cfg.Cmd = append([]string{}, c.Config.Cmd...)
	}
	cfg.Env = nil
	for _, kv := range c.Spec.Process.Env {
		if !strings.HasPrefix(kv, "HOSTNAME=") {
			cfg.Env = append(cfg.Env, kv)
		}
	}
	cfg.WorkingDir = c.Spec.Process.Cwd
	cfg.User = c.Config.User
	cfg.Hostname = ""
	img, err := rt.Images.Commit(c.Rootfs.Upper, parent, image.CommitOptions{
		Ref: o.Ref, Changes: o.Changes, Message: o.Message, Author: o.Author, Config: cfg, Shift: idShift(c)})
	if err != nil {
		return err
	}
	fmt.Fprintln(w, img.ID)
	return nil
}

// Export writes a container's filesystem, its image's layers and its own
// changes flattened, as one tarball (`docker export`).
func (rt *Runtime) Export(ref string, w io.Writer) error {
	c, err := rt.Lookup(ref)
	if err != nil {
		return err
	}
	if c.Rootfs.Upper == "" {
		return fmt.Errorf("container %s has no filesystem to export", c.ShortID())
	}
	dirs := append([]string{c.Rootfs.Upper}, c.Rootfs.Lower...)
	return image.FlatTar(dirs, w, idShift(c))
}

// idShift undoes a remapped container's ownership in what leaves it.
func idShift(c *Container) image.IDShift {
	uid, gid := hostRoot(c.Spec)
	if uid == 0 && gid == 0 {
		return image.IDShift{}
	}
	return image.IDShift{UID: uid, GID: gid, Size: int(c.Spec.Linux.UIDMappings[0].Size)}
}
