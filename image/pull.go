package image

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// RegistryOptions says how registries are reached.
type RegistryOptions struct {
	// Insecure lists registries (host[:port]) reached over plain HTTP, as
	// Docker's insecure-registries; localhost and 127.0.0.0/8 always are.
	Insecure  []string
	UserAgent string
}

// PullOptions says what to pull and how to show it.
type PullOptions struct {
	RegistryOptions
	Platform string    // os/arch[/variant]; the host's when empty
	Out      io.Writer // progress, in Docker's words
	Terminal bool      // Out is a terminal: draw per-layer progress bars
}

// parseRemote parses a reference for the registry, honouring Insecure.
func (o RegistryOptions) parseRemote(ref string) (Reference, error) {
	r, err := ParseReference(ref)
	if err != nil {
		return r, err
	}
	for _, reg := range o.Insecure {
		if r.ref.Context().RegistryStr() == reg {
			return ParseReference(ref, name.Insecure)
		}
	}
	return r, nil
}

func (o RegistryOptions) remoteOptions(ctx context.Context) []remote.Option {
	ua := o.UserAgent
	if ua == "" {
		ua = "mydocker"
	}
	return []remote.Option{
		remote.WithContext(ctx),
		remote.WithAuthFromKeychain(authn.DefaultKeychain),
		remote.WithTransport(httpTransport()),
		remote.WithUserAgent(ua),
	}
}

// httpTransport bounds every wait on a registry, so that one that accepts
// connections and never answers fails the pull instead of hanging it.
func httpTransport() http.RoundTripper {
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		MaxIdleConnsPerHost:   8,
		ForceAttemptHTTP2:     true,
	}
}

// HostPlatform is the platform images are pulled for by default.
func HostPlatform() v1.Platform {
	p := v1.Platform{OS: "linux", Architecture: runtime.GOARCH}
	if runtime.GOARCH == "arm" {
		p.Variant = "v7"
	}
	return p
}

// Pull fetches an image from its registry, layers in parallel (three at a
// time, as Docker), each layer unpacked once however many images or
// concurrent pulls share it.
func (s *Store) Pull(ctx context.Context, ref string, o PullOptions) (*Image, error) {
	r, err := o.parseRemote(ref)
	if err != nil {
		return nil, err
	}
	plat := HostPlatform()
	if o.Platform != "" {
		p, err := v1.ParsePlatform(o.Platform)
		if err != nil || p.OS == "" || p.Architecture == "" {
			return nil, fmt.Errorf("invalid platform %q: want os/arch[/variant]", o.Platform)
		}
		plat = *p
	}
	out := o.Out
	if out == nil {
		out = io.Discard
	}
	if r.Digest != "" {
		fmt.Fprintf(out, "%s: Pulling from %s\n", r.Digest, Familiar(r.Repo))
	} else {
		fmt.Fprintf(out, "%s: Pulling from %s\n", r.Tag, Familiar(r.Repo))
	}
	opts := append(o.remoteOptions(ctx), remote.WithPlatform(plat))
	desc, err := remote.Get(r.Name(), opts...)
	if err != nil {
		return nil, registryError(r, err)
	}
	img, err := desc.Image()
	if err != nil {
		return nil, registryError(r, err)
	}
	raw, err := img.RawConfigFile()
	if err != nil {
		return nil, registryError(r, err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("%s: image config: %w", r.Familiar(), err)
	}
	if got := (v1.Platform{OS: cfg.OS, Architecture: cfg.Architecture}); cfg.OS != "" && !platformMatches(got, plat) {
		return nil, fmt.Errorf("image %s is for %s/%s, not %s (choose with --platform)", r.Familiar(), cfg.OS, cfg.Architecture, platformString(plat))
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, registryError(r, err)
	}
	if len(layers) != len(cfg.RootFS.DiffIDs) {
		return nil, fmt.Errorf("%s: the manifest has %d layers, the config %d", r.Familiar(), len(layers), len(cfg.RootFS.DiffIDs))
	}
	done, err := s.adding()
	if err != nil {
		return nil, err
	}
	defer done()
	s.SweepTmp()
	prog := newProgress(out, o.Terminal, len(layers))
	if err := s.fetchLayers(layers, cfg.RootFS.DiffIDs, prog); err != nil {
		done()
		s.collectAfterFailure()
		return nil, fmt.Errorf("pulling %s: %s", r.Familiar(), oneLine(err))
	}
	digestName := r.Repo + "@" + desc.Digest.String()
	names := []string{digestName}
	if r.Digest == "" {
		names = append(names, r.String())
	}
	existed, _ := s.find(digestName)
	stored, err := s.putImage(raw, Meta{RepoDigests: []string{digestName}}, names...)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "Digest: %s\n", desc.Digest)
	if existed != nil && existed.ID == stored.ID {
		fmt.Fprintf(out, "Status: Image is up to date for %s\n", r.Familiar())
	} else {
		fmt.Fprintf(out, "Status: Downloaded newer image for %s\n", r.Familiar())
	}
	return stored, nil
}

// oneLine joins the lines of an error (errors.Join gives one per layer).
func oneLine(err error) string { return strings.Join(strings.Fields(err.Error()), " ") }

func platformMatches(got, want v1.Platform) bool {
	return got.OS == want.OS && got.Architecture == want.Architecture
}

func platformString(p v1.Platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// fetchLayers downloads and unpacks the layers not yet stored, three at once.
func (s *Store) fetchLayers(layers []v1.Layer, diffIDs []v1.Hash, prog *progress) error {
	sem := make(chan struct{}, 3)
	var wg sync.WaitGroup
	errs := make([]error, len(layers))
	for i := range layers {
		id := diffIDs[i].String()
		if s.HasLayer(id) {
			prog.set(i, shortHex(digestOf(layers[i], id)), "Already exists", 0, 0)
			continue
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			errs[i] = s.fetchLayer(i, layers[i], id, prog)
		}(i)
	}
	wg.Wait()
	prog.finish()
	return errors.Join(errs...)
}

func digestOf(l v1.Layer, fallback string) string {
	if d, err := l.Digest(); err == nil {
		return d.String()
	}
	return fallback
}

func (s *Store) fetchLayer(i int, l v1.Layer, diffID string, prog *progress) error {
	short := shortHex(digestOf(l, diffID))
	size, _ := l.Size()
	prog.set(i, short, "Waiting", 0, size)
	rc, err := l.Compressed()
	if err != nil {
		return err
	}
	defer rc.Close()
	counted := &countingReader{r: rc, onRead: func(n int64) { prog.set(i, short, "Downloading", n, size) }}
	tarStream, err := maybeDecompress(counted)
	if err != nil {
		return fmt.Errorf("layer %s: %w", short, err)
	}
	defer tarStream.Close()
	if _, err := s.putLayer(tarStream, diffID); err != nil {
		return fmt.Errorf("layer %s: %w", short, err)
	}
	// Read to the end, so that the blob's own digest is checked too.
	if _, err := io.Copy(io.Discard, rc); err != nil {
		return fmt.Errorf("layer %s: %w", short, err)
	}
	prog.set(i, short, "Pull complete", size, size)
	return nil
}

type countingReader struct {
	r      io.Reader
	n      int64
	onRead func(int64)
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	c.onRead(c.n)
	return n, err
}

// registryError says in one line what a registry answered.
func registryError(r Reference, err error) error {
	var te *transport.Error
	if errors.As(err, &te) {
		switch te.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden:
			return fmt.Errorf("pull access denied for %s, repository does not exist or may require 'mydocker login'", Familiar(r.Repo))
		case http.StatusNotFound:
			return fmt.Errorf("manifest for %s not found: manifest unknown", r.Familiar())
		}
		return fmt.Errorf("%s: registry answered %d %s", r.Familiar(), te.StatusCode, http.StatusText(te.StatusCode))
	}
	msg := strings.Join(strings.Fields(err.Error()), " ")
	if strings.Contains(msg, "no child with platform") {
		return fmt.Errorf("no matching manifest for %s in the manifest list entries of %s", platformString(platformIn(msg)), r.Familiar())
	}
	return fmt.Errorf("pulling %s: %s", r.Familiar(), msg)
}

// platformIn picks the platform named in ggcr's "no child with platform
// X in index" message, or the host's.
func platformIn(msg string) v1.Platform {
	_, rest, ok := strings.Cut(msg, "no child with platform ")
	if ok {
		if f := strings.Fields(rest); len(f) > 0 {
			if p, err := v1.ParsePlatform(f[0]); err == nil {
				return *p
			}
		}
	}
	return HostPlatform()
}
