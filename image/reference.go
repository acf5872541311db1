package image

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

// Docker Hub's names: what a reference without a registry means, and the
// host that serves it.
const (
	hubDomain   = "docker.io"
	hubRegistry = name.DefaultRegistry // index.docker.io
)

// componentRe is one path component of a repository, as Docker's
// distribution/reference has it (stricter than go-containerregistry).
var componentRe = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$`)

// Reference is an image name the way the store keeps it: canonical
// ("docker.io/library/busybox:latest"), so that "busybox" and
// "docker.io/library/busybox" are one image, as in Docker.
type Reference struct {
	// Repo is the canonical repository: "docker.io/library/busybox".
	Repo string
	// Tag or Digest: at most one is set ("latest" when neither was named).
	Tag, Digest string
	ref         name.Reference
}

// ParseReference checks a user's image name and gives it Docker's defaults:
// registry docker.io, namespace library, tag latest.
func ParseReference(s string, opts ...name.Option) (Reference, error) {
	if s == "" {
		return Reference{}, fmt.Errorf("invalid reference format: empty image name")
	}
	r, err := name.ParseReference(s, append([]name.Option{name.StrictValidation}, opts...)...)
	if err != nil {
		// StrictValidation wants a tag or digest; "busybox" means :latest.
		r, err = name.ParseReference(s, opts...)
	}
	if err != nil {
		return Reference{}, fmt.Errorf("invalid reference format: %q: %s", s, errText(err))
	}
	for _, part := range strings.Split(r.Context().RepositoryStr(), "/") {
		if !componentRe.MatchString(part) {
			return Reference{}, fmt.Errorf("invalid reference format: %q: repository name must be lowercase letters, digits and separators", s)
		}
	}
	out := Reference{Repo: canonicalRepo(r.Context()), ref: r}
	switch t := r.(type) {
	case name.Tag:
		out.Tag = t.TagStr()
	case name.Digest:
		out.Digest = t.DigestStr()
	}
	return out, nil
}

func errText(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 && strings.Contains(s, "repository can only contain") {
		return "repository name must be lowercase"
	}
	return s
}

func canonicalRepo(r name.Repository) string {
	reg := r.RegistryStr()
	if reg == hubRegistry {
		reg = hubDomain
	}
	return reg + "/" + r.RepositoryStr()
}

// String is the canonical name: repo:tag or repo@digest.
func (r Reference) String() string {
	if r.Digest != "" {
		return r.Repo + "@" + r.Digest
	}
	return r.Repo + ":" + r.Tag
}

// Familiar is the name as Docker prints it: "busybox:latest",
// "localhost:5000/app:1".
func (r Reference) Familiar() string { return Familiar(r.String()) }

// Name is the registry's reference, for go-containerregistry.
func (r Reference) Name() name.Reference { return r.ref }

// Familiar shortens a canonical name as Docker's CLI does.
func Familiar(canonical string) string {
	s := strings.TrimPrefix(canonical, hubDomain+"/")
	if s != canonical {
		s = strings.TrimPrefix(s, "library/")
	}
	return s
}

// splitName cuts a canonical repo:tag or repo@digest key into its parts.
func splitName(key string) (repo, tagOrDigest string) {
	if i := strings.Index(key, "@"); i >= 0 {
		return key[:i], key[i+1:]
	}
	i := strings.LastIndex(key, ":")
	if i < strings.LastIndex(key, "/") {
		return key, ""
	}
	return key[:i], key[i+1:]
}
