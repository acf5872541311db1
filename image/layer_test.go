package image

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// twoLayers is a base layer and one on it that deletes a file and makes a
// directory opaque, as an image built by Docker carries them.
func twoLayers(t *testing.T) (base, top *bytes.Buffer) {
	base = mkTar(t, []entry{
		{tar.Header{Name: "etc/", Typeflag: tar.TypeDir, Mode: 0o755}, ""},
		{tar.Header{Name: "etc/keep", Typeflag: tar.TypeReg, Mode: 0o644}, "keep"},
		{tar.Header{Name: "etc/gone", Typeflag: tar.TypeReg, Mode: 0o644}, "gone"},
		{tar.Header{Name: "opq/", Typeflag: tar.TypeDir, Mode: 0o755}, ""},
		{tar.Header{Name: "opq/old", Typeflag: tar.TypeReg, Mode: 0o644}, "old"},
	})
	top = mkTar(t, []entry{
		{tar.Header{Name: "etc/", Typeflag: tar.TypeDir, Mode: 0o755}, ""},
		{tar.Header{Name: "etc/.wh.gone", Typeflag: tar.TypeReg, Mode: 0o600}, ""},
		{tar.Header{Name: "opq/", Typeflag: tar.TypeDir, Mode: 0o755}, ""},
		{tar.Header{Name: "opq/.wh..wh..opq", Typeflag: tar.TypeReg, Mode: 0o600}, ""},
		{tar.Header{Name: "opq/new", Typeflag: tar.TypeReg, Mode: 0o644}, "new"},
	})
	return base, top
}

func TestLayerWhiteoutsAndExactTar(t *testing.T) {
	s := NewStore(t.TempDir())
	base, top := twoLayers(t)
	var ids []string
	for _, b := range []*bytes.Buffer{base, top} {
		want := digest(b.Bytes())
		got, err := s.putLayer(bytes.NewReader(b.Bytes()), want)
		if err != nil || got != want {
			t.Fatalf("putLayer = %s, %v", got, err)
		}
		// Given back byte for byte, so that its digest holds.
		rc, err := s.LayerTar(got)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(rc)
		rc.Close()
		if !bytes.Equal(data, b.Bytes()) {
			t.Fatalf("LayerTar differs from what went in (%d vs %d bytes)", len(data), b.Len())
		}
		if n, _ := s.layerTarSize(got); n != int64(b.Len()) {
			t.Fatalf("layerTarSize %d, want %d", n, b.Len())
		}
		ids = append(ids, got)
	}
	diff := filepath.Join(s.layerDir(ids[1]), "diff")
	fi, err := os.Lstat(filepath.Join(diff, "etc/gone"))
	if err != nil || !isWhiteout(fi) {
		t.Fatalf("etc/gone is not an overlay whiteout: %v", err)
	}
	if !isOpaque(filepath.Join(diff, "opq")) {
		t.Fatal("opq is not opaque")
	}
	// The flattened view applies both.
	var flat bytes.Buffer
	if err := FlatTar([]string{s.LayerDiff(ids[1]), s.LayerDiff(ids[0])}, &flat, IDShift{}); err != nil {
		t.Fatal(err)
	}
	if got := names(t, &flat); !equal(got, []string{"etc/", "etc/keep", "opq/", "opq/new"}) {
		t.Fatalf("flattened: %v", got)
	}
	// A container's upper dir in overlay's format becomes .wh. entries again.
	var d bytes.Buffer
	if err := DiffTar(diff, &d, IDShift{}); err != nil {
		t.Fatal(err)
	}
	if got := names(t, &d); !equal(got, []string{"etc/", "etc/.wh.gone", "opq/", "opq/.wh..wh..opq", "opq/new"}) {
		t.Fatalf("diff: %v", got)
	}
	// A second put of a stored layer is a no-op; a wrong digest is refused.
	if _, err := s.putLayer(bytes.NewReader(base.Bytes()), digest([]byte("other"))); err == nil {
		t.Fatal("a digest mismatch was accepted")
	}
	if entries, _ := os.ReadDir(s.layersDir()); countTmp(entries) != 0 {
		t.Fatal("a failed put left its temporary directory")
	}
}

func countTmp(entries []os.DirEntry) int {
	n := 0
	for _, e := range entries {
		if len(e.Name()) > 5 && e.Name()[:5] == ".tmp-" {
			n++
		}
	}
	return n
}

func names(t *testing.T, r io.Reader) []string {
	t.Helper()
	var out []string
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, h.Name)
	}
	sort.Strings(out)
	return out
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestConcurrentPutLayerUnpacksOnce(t *testing.T) {
	s := NewStore(t.TempDir())
	base, _ := twoLayers(t)
	want := digest(base.Bytes())
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, errs[i] = s.putLayer(bytes.NewReader(base.Bytes()), want)
		}(i)
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	links, _ := os.ReadDir(s.linksDir())
	if len(links) != 1 {
		t.Fatalf("%d short links for one layer", len(links))
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	s := NewStore(t.TempDir())
	base, top := twoLayers(t)
	var diffIDs []v1.Hash
	for _, b := range []*bytes.Buffer{base, top} {
		d, err := s.putLayer(bytes.NewReader(b.Bytes()), "")
		if err != nil {
			t.Fatal(err)
		}
		h, _ := v1.NewHash(d)
		diffIDs = append(diffIDs, h)
	}
	raw, _ := json.Marshal(v1.ConfigFile{OS: "linux", Architecture: "amd64", RootFS: v1.RootFS{Type: "layers", DiffIDs: diffIDs},
		Config: v1.Config{Cmd: []string{"sh"}}})
	img, err := s.putImage(raw, Meta{}, "docker.io/library/two:1")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := s.Save([]string{"two:1"}, &buf); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "two.tar")
	os.WriteFile(p, buf.Bytes(), 0o644)
	s2 := NewStore(t.TempDir())
	loaded, err := s2.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(loaded) != 1 || loaded[0].Image.ID != img.ID || loaded[0].Tags[0] != "two:1" {
		t.Fatalf("loaded %+v, want ID %s", loaded, img.ID)
	}
	// A tarball cut short is refused and leaves no image.
	os.WriteFile(p, buf.Bytes()[:buf.Len()/2], 0o644)
	s3 := NewStore(t.TempDir())
	if _, err := s3.Load(p); err == nil {
		t.Fatal("a truncated archive loaded")
	}
	if list, _ := s3.List(); len(list) != 0 {
		t.Fatalf("a failed load left images: %v", list)
	}
	// A layer whose files changed on disk (same size) is not saved as if
	// it were whole: the stream no longer hashes to its diff ID.
	os.WriteFile(filepath.Join(s.layerDir(diffIDs[0].String()), "diff", "etc", "keep"), []byte("KEEP"), 0o644)
	if err := s.Save([]string{"two:1"}, io.Discard); err == nil || !strings.Contains(err.Error(), "changed on disk") {
		t.Fatalf("save of a changed layer: %v", err)
	}
}
