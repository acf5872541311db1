package container

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

// PrintImages lists the image store, as `docker images` does.
func (rt *Runtime) PrintImages(w io.Writer, quiet bool) error {
	list, err := rt.Images.List()
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	if !quiet {
		fmt.Fprintln(tw, "REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE")
	}
	for _, s := range list {
		if quiet {
			fmt.Fprintln(tw, s.Image.ShortID())
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s ago\t%s\n", s.Repository, s.Tag, s.Image.ShortID(),
			humanDuration(time.Since(s.Image.Created)), humanSize(s.Image.Size))
	}
	return tw.Flush()
}

// RemoveImage untags an image, deleting it once unnamed, unless a container
// was made from it.
func (rt *Runtime) RemoveImage(ref string, w io.Writer) error {
	containers, err := rt.store.list()
	if err != nil {
		return err
	}
	inUse := func(id string) bool {
		for _, c := range containers {
			if c.ImageID == id {
				return true
			}
		}
		return false
	}
	_, err = rt.Images.Remove(ref, inUse)
	return err
}

func humanSize(n int64) string {
	units := []string{"B", "kB", "MB", "GB", "TB"}
	f := float64(n)
	i := 0
	for f >= 1000 && i < len(units)-1 {
		f /= 1000
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%dB", n)
	}
	return fmt.Sprintf("%.3g%s", f, units[i])
}
