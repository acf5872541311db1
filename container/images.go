package container

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/term"

	"github.com/mydocker/mydocker/image"
	"github.com/mydocker/mydocker/internal/errdefs"
	"github.com/mydocker/mydocker/network"
)

// The image commands that need to know about containers (which image each
// uses, a container's layer for commit and export), and the listings.

// ImagesOptions are `images`' flags.
type ImagesOptions struct {
	Quiet, Digests, NoTrunc bool
}

// PrintImages lists the image store, as `docker images` does.
func (rt *Runtime) PrintImages(w io.Writer, o ImagesOptions) error {
	list, err := rt.Images.List()
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	if o.Quiet {
		seen := map[string]bool{}
		for _, s := range list {
			if !seen[s.Image.ID] {
				fmt.Fprintln(tw, imageID(s.Image.ID, o.NoTrunc))
				seen[s.Image.ID] = true
			}
		}
		return tw.Flush()
	}
	if o.Digests {
		fmt.Fprintln(tw, "REPOSITORY\tTAG\tDIGEST\tIMAGE ID\tCREATED\tSIZE")
	} else {
		fmt.Fprintln(tw, "REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE")
	}
	for _, s := range list {
		fmt.Fprintf(tw, "%s\t%s\t", s.Repository, s.Tag)
		if o.Digests {
			d := s.Digest
			if d == "" {
				d = "<none>"
			}
			fmt.Fprintf(tw, "%s\t", d)
		}
		fmt.Fprintf(tw, "%s\t%s ago\t%s\n", imageID(s.Image.ID, o.NoTrunc),
			humanDuration(time.Since(s.Image.Created())), humanSize(s.Image.Meta.Size))
	}
	return tw.Flush()
}

func imageID(id string, full bool) string {
	if full {
		return id
	}
	return strings.TrimPrefix(id, "sha256:")[:12]
}

// imageUser names a container made from an image, for rmi and prune.
func (rt *Runtime) imageUser() (func(id string) string, error) {
	containers, err := rt.store.list()
	if err != nil {
		return nil, err
	}
	return func(id string) string {
		for _, c := range containers {
			if c.ImageID == id {
				return c.ShortID()
			}
		}
		return ""
	}, nil
}

// RemoveImage is `rmi`: untags, and deletes an image nothing names or uses.
func (rt *Runtime) RemoveImage(ref string, force bool, w io.Writer) error {
	usedBy, err := rt.imageUser()
	if err != nil {
		return err
	}
	res, err := rt.Images.Remove(ref, force, usedBy)
	if err != nil {
		return err
	}
	printRemoved(w, res)
	return nil
}

// PruneImages removes unnamed images (every unused one with all) and the
// layers only they had.
func (rt *Runtime) PruneImages(all bool, w io.Writer) error {
	usedBy, err := rt.imageUser()
	if err != nil {
		return err
	}
	res, err := rt.Images.Prune(all, usedBy)
	if res != nil {
		printRemoved(w, res)
		fmt.Fprintf(w, "Total images removed: %d\n", len(res.Deleted))
	}
	return err
}

func printRemoved(w io.Writer, res *image.Removed) {
	for _, n := range res.Untagged {
		fmt.Fprintf(w, "Untagged: %s\n", n)
	}
	for _, id := range res.Deleted {
		fmt.Fprintf(w, "Deleted: %s\n", id)
	}
}

// Pull fetches an image, showing progress as Docker does on out.
func (rt *Runtime) Pull(ctx context.Context, ref, platform string, quiet bool, out io.Writer) error {
	o := image.PullOptions{RegistryOptions: rt.Registry, Platform: platform, Out: out}
	if quiet {
		o.Out = nil
	}
	if f, ok := out.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		o.Terminal = true
	}
	r, err := image.ParseReference(ref)
	if err != nil {
		return err
	}
	if _, err := rt.Images.Pull(ctx, ref, o); err != nil {
		return err
	}
	fmt.Fprintln(out, r.String())
	return nil
}

// runImage finds the image run asks for, pulling it as --pull says (as
// Docker: when missing, telling stderr so).
func (rt *Runtime) runImage(ctx context.Context, o *RunOptions) (*image.Image, error) {
	policy := o.Pull
	if policy == "" {
		policy = "missing"
	}
	switch policy {
	case "missing", "always", "never":
	default:
		return nil, fmt.Errorf("invalid --pull %q: missing, always or never", policy)
	}
	if policy != "always" {
		img, err := rt.Images.Get(o.Image)
		if err == nil || policy == "never" || !errdefs.IsNotFound(err) {
			return img, err
		}
		if _, perr := image.ParseReference(o.Image); perr != nil {
			return nil, perr
		}
		fmt.Fprintf(os.Stderr, "Unable to find image '%s' locally\n", o.Image)
	}
	terminal := term.IsTerminal(int(os.Stderr.Fd()))
	return rt.Images.Pull(ctx, o.Image, image.PullOptions{RegistryOptions: rt.Registry, Out: os.Stderr, Terminal: terminal})
}

// exposedPorts are -P's requests: every port the image exposes, each on a
// free host port.
func exposedPorts(img *image.Image) ([]network.PortMapping, error) {
	var specs []string
	for p := range img.Config.Config.ExposedPorts {
		specs = append(specs, p)
	}
	sort.Strings(specs)
	var out []network.PortMapping
	for _, s := range specs {
		pm, err := network.ParsePort(s)
		if err != nil {
			return nil, fmt.Errorf("image exposes %q: %w", s, err)
		}
		out = append(out, pm)
	}
	return out, nil
}

// imageInspect is `image inspect`'s view of an image: Docker's field names.
type imageInspect struct {
	ID           string            `json:"Id"`
	RepoTags     []string          `json:"RepoTags"`
	RepoDigests  []string          `json:"RepoDigests"`
	Parent       string            `json:"Parent"`
	Comment      string            `json:"Comment"`
	Created      time.Time         `json:"Created"`
	Author       string            `json:"Author"`
	Config       any               `json:"Config"`
	Architecture string            `json:"Architecture"`
	Variant      string            `json:"Variant,omitempty"`
	Os           string            `json:"Os"`
	Size         int64             `json:"Size"`
	RootFS       map[string]any    `json:"RootFS"`
	Metadata     map[string]string `json:"Metadata"`
}

// ImageInspect prints images as JSON, or each through a Go template.
func (rt *Runtime) ImageInspect(refs []string, format string, w io.Writer) error {
	var out []any
	var missing error
	for _, ref := range refs {
		img, err := rt.Images.Get(ref)
		if err != nil {
			missing = err
			continue
		}
		tags, _ := rt.Images.Names(img.ID)
		digests := []string{}
		for _, d := range img.Meta.RepoDigests {
			digests = append(digests, image.Familiar(d))
		}
		if tags == nil {
			tags = []string{}
		}
		comment := ""
		if h := img.Config.History; len(h) > 0 {
			comment = h[len(h)-1].Comment
		}
		out = append(out, imageInspect{
			ID: img.ID, RepoTags: tags, RepoDigests: digests, Parent: img.Meta.Parent, Comment: comment,
			Created: img.Created(), Author: img.Config.Author, Config: img.Config.Config,
			Architecture: img.Config.Architecture, Variant: img.Config.Variant, Os: img.Config.OS, Size: img.Meta.Size,
			RootFS:   map[string]any{"Type": "layers", "Layers": img.Layers()},
			Metadata: map[string]string{"LastTagTime": img.Meta.Stored.Format(time.RFC3339Nano)},
		})
	}
	if err := printJSONOrTemplate(out, format, w); err != nil {
		return err
	}
	return missing
}

// printJSONOrTemplate prints values as one indented JSON array, or each
// through a Go template.
func printJSONOrTemplate(values []any, format string, w io.Writer) error {
	if format != "" {
		tmpl, err := parseFormat(format)
		if err != nil {
			return err
		}
		for _, v := range values {
			// Templates see JSON's field names, as Docker's do.
			var generic any
			data, _ := json.Marshal(v)
			json.Unmarshal(data, &generic)
			if err := tmpl.Execute(w, generic); err != nil {
				return err
			}
			fmt.Fprintln(w)
		}
		return nil
	}
	if values == nil {
		values = []any{}
	}
	data, err := json.MarshalIndent(values, "", "    ")
	if err != nil {
		return err
	}
	fmt.Fprintln(w, string(data))
	return nil
}

// History prints an image's layers, newest first, as `docker history` does.
func (rt *Runtime) History(ref string, noTrunc, quiet bool, w io.Writer) error {
	img, err := rt.Images.Get(ref)
	if err != nil {
		return err
	}
	layers := img.Layers()
	hist := img.Config.History
	if len(hist) == 0 { // an image without history: one line per layer
		hist = make([]v1.History, len(layers))
	}
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	if !quiet {
		fmt.Fprintln(tw, "IMAGE\tCREATED\tCREATED BY\tSIZE\tCOMMENT")
	}
	li := len(layers) - 1
	for i := len(hist) - 1; i >= 0; i-- {
		h := hist[i]
		id := "<missing>"
		if i == len(hist)-1 {
			id = imageID(img.ID, noTrunc)
		}
		if quiet {
			fmt.Fprintln(tw, id)
			continue
		}
		size := int64(0)
		if !h.EmptyLayer && li >= 0 {
			size = rt.Images.LayerSize(layers[li])
			li--
		}
		by := strings.ReplaceAll(h.CreatedBy, "\n", " ")
		if !noTrunc && len(by) > 45 {
			by = by[:44] + "…"
		}
		created := "<unknown>"
		if !h.Created.IsZero() {
			created = humanDuration(time.Since(h.Created.Time)) + " ago"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", id, created, by, humanSize(size), h.Comment)
	}
	return tw.Flush()
}

func humanSize(n int64) string { return image.HumanSize(n) }
