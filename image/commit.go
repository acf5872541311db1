package image

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// CommitOptions says how a new image is made from a container's changes.
type CommitOptions struct {
	Ref     string   // REPO[:TAG]; empty for an unnamed image
	Changes []string // Dockerfile instructions: CMD, ENTRYPOINT, ENV, WORKDIR, USER, EXPOSE, LABEL, STOPSIGNAL
	Message string   // the history entry's comment
	Author  string
	Config  v1.Config // the container's own settings, which the image takes
	Shift   IDShift   // the container's user namespace mapping, undone
}

// Commit makes the upper directory of a container one new layer on top of
// parent's, as `docker commit` does.
func (s *Store) Commit(upper string, parent *Image, o CommitOptions) (*Image, error) {
	name, err := optionalName(o.Ref)
	if err != nil {
		return nil, err
	}
	cfg := o.Config
	if err := ApplyChanges(&cfg, o.Changes); err != nil {
		return nil, err
	}
	done, err := s.adding()
	if err != nil {
		return nil, err
	}
	defer done()
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(DiffTar(upper, pw, o.Shift)) }()
	diffID, err := s.putLayer(pr, "")
	pr.CloseWithError(io.ErrUnexpectedEOF)
	if err != nil {
		return nil, fmt.Errorf("committing the container's changes: %w", err)
	}
	now := time.Now().UTC()
	cf := parent.Config.DeepCopy()
	cf.Created = v1.Time{Time: now}
	cf.Author = o.Author
	cf.Config = cfg
	cf.Container = ""
	if cf.OS == "" {
		cf.OS, cf.Architecture = "linux", runtime.GOARCH
	}
	h, _ := v1.NewHash(diffID)
	cf.RootFS.Type = "layers"
	cf.RootFS.DiffIDs = append(cf.RootFS.DiffIDs, h)
	cf.History = append(cf.History, v1.History{Created: v1.Time{Time: now}, Author: o.Author, Comment: o.Message, CreatedBy: "mydocker commit"})
	raw, err := json.Marshal(cf)
	if err != nil {
		return nil, err
	}
	return s.putImage(raw, Meta{Parent: parent.ID}, name...)
}

// Import makes a one-layer image of a flat rootfs tarball (plain, gzip or
// zstd; "-" reads stdin), as `docker import` does.
func (s *Store) Import(path, ref string, changes []string, message string) (*Image, error) {
	name, err := optionalName(ref)
	if err != nil {
		return nil, err
	}
	var cfg v1.Config
	if err := ApplyChanges(&cfg, changes); err != nil {
		return nil, err
	}
	in := os.Stdin
	if path != "-" {
		if in, err = os.Open(path); err != nil {
			return nil, err
		}
		defer in.Close()
	}
	done, err := s.adding()
	if err != nil {
		return nil, err
	}
	defer done()
	tarStream, err := maybeDecompress(in)
	if err != nil {
		return nil, err
	}
	defer tarStream.Close()
	diffID, err := s.putLayer(tarStream, "")
	if err != nil {
		return nil, err
	}
	h, _ := v1.NewHash(diffID)
	now := time.Now().UTC()
	cf := v1.ConfigFile{
		Architecture: runtime.GOARCH, OS: "linux", Created: v1.Time{Time: now}, Config: cfg,
		RootFS:  v1.RootFS{Type: "layers", DiffIDs: []v1.Hash{h}},
		History: []v1.History{{Created: v1.Time{Time: now}, Comment: importComment(path, message)}},
	}
	raw, err := json.Marshal(cf)
	if err != nil {
		return nil, err
	}
	return s.putImage(raw, Meta{}, name...)
}

func importComment(path, message string) string {
	if message != "" {
		return message
	}
	if path == "-" {
		return "Imported from -"
	}
	return "Imported from " + path
}

// optionalName checks a REPO[:TAG] given to commit or import.
func optionalName(ref string) ([]string, error) {
	if ref == "" {
		return nil, nil
	}
	r, err := ParseReference(ref)
	if err != nil {
		return nil, err
	}
	if r.Digest != "" {
		return nil, fmt.Errorf("refusing to create a tag with a digest reference: %s", ref)
	}
	return []string{r.String()}, nil
}

// ApplyChanges carries out Dockerfile instructions (`commit -c`, `import -c`)
// on an image config.
func ApplyChanges(cfg *v1.Config, changes []string) error {
	for _, ch := range changes {
		instr, arg, _ := strings.Cut(strings.TrimSpace(ch), " ")
		arg = strings.TrimSpace(arg)
		switch strings.ToUpper(instr) {
		case "CMD":
			cfg.Cmd = commandForm(arg)
		case "ENTRYPOINT":
			cfg.Entrypoint = commandForm(arg)
		case "ENV":
			k, v, ok := strings.Cut(arg, "=")
			if !ok {
				k, v, ok = strings.Cut(arg, " ")
			}
			if !ok || k == "" {
				return fmt.Errorf("invalid change %q: ENV needs KEY=VALUE", ch)
			}
			cfg.Env = setEnv(cfg.Env, k, strings.Trim(strings.TrimSpace(v), `"`))
		case "WORKDIR":
			cfg.WorkingDir = arg
		case "USER":
			cfg.User = arg
		case "STOPSIGNAL":
			cfg.StopSignal = arg
		case "EXPOSE":
			if cfg.ExposedPorts == nil {
				cfg.ExposedPorts = map[string]struct{}{}
			}
			for _, p := range strings.Fields(arg) {
				if !strings.Contains(p, "/") {
					p += "/tcp"
				}
				cfg.ExposedPorts[p] = struct{}{}
			}
		case "LABEL":
			k, v, ok := strings.Cut(arg, "=")
			if !ok || k == "" {
				return fmt.Errorf("invalid change %q: LABEL needs KEY=VALUE", ch)
			}
			if cfg.Labels == nil {
				cfg.Labels = map[string]string{}
			}
			cfg.Labels[k] = strings.Trim(v, `"`)
		default:
			return fmt.Errorf("invalid change %q: %s is not one of CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, USER, WORKDIR", ch, instr)
		}
	}
	return nil
}

// commandForm reads CMD/ENTRYPOINT's exec form (a JSON array) or shell form.
func commandForm(arg string) []string {
	var list []string
	if strings.HasPrefix(arg, "[") && json.Unmarshal([]byte(arg), &list) == nil {
		return list
	}
	return []string{"/bin/sh", "-c", arg}
}

func setEnv(env []string, k, v string) []string {
	for i, kv := range env {
		if strings.HasPrefix(kv, k+"=") {
			env[i] = k + "=" + v
			return env
		}
	}
	return append(env, k+"="+v)
}
