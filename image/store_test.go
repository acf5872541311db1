package image

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseReference(t *testing.T) {
	for _, tc := range []struct {
		in, canonical, familiar string
		ok                      bool
	}{
		{"busybox", "docker.io/library/busybox:latest", "busybox:latest", true},
		{"busybox:1.35", "docker.io/library/busybox:1.35", "busybox:1.35", true},
		{"docker.io/library/busybox", "docker.io/library/busybox:latest", "busybox:latest", true},
		{"index.docker.io/library/busybox", "docker.io/library/busybox:latest", "busybox:latest", true},
		{"my/app:v1", "docker.io/my/app:v1", "my/app:v1", true},
		{"localhost:5000/team/app:1", "localhost:5000/team/app:1", "localhost:5000/team/app:1", true},
		{"localhost:5000/app@sha256:" + strings.Repeat("a", 64), "localhost:5000/app@sha256:" + strings.Repeat("a", 64), "localhost:5000/app@sha256:" + strings.Repeat("a", 64), true},
		{"a.b-c__d", "docker.io/library/a.b-c__d:latest", "a.b-c__d:latest", true},
		{"Busybox", "", "", false},
		{"busybox:", "", "", false},
		{"bad name", "", "", false},
		{"x:y:z", "", "", false},
		{"-x", "", "", false},
		{"", "", "", false},
	} {
		r, err := ParseReference(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("ParseReference(%q): %v", tc.in, err)
			continue
		}
		if tc.ok && (r.String() != tc.canonical || r.Familiar() != tc.familiar) {
			t.Errorf("ParseReference(%q) = %q, %q", tc.in, r.String(), r.Familiar())
		}
	}
}

type entry struct {
	hdr  tar.Header
	body string
}

func mkTar(t *testing.T, entries []entry) *bytes.Buffer {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := e.hdr
		h.Size = int64(len(e.body))
		h.ModTime = time.Unix(1000, 0)
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(e.body))
	}
	tw.Close()
	return &buf
}

func TestExtract(t *testing.T) {
	dir := t.TempDir()
	buf := mkTar(t, []entry{
		{tar.Header{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755}, ""},
		{tar.Header{Name: "./tmp/", Typeflag: tar.TypeDir, Mode: 0o1777}, ""},
		{tar.Header{Name: "./bin/tool", Typeflag: tar.TypeReg, Mode: 0o4755, Uid: 1, Gid: 2}, "#!/bin/sh\n"},
		{tar.Header{Name: "./bin/link", Typeflag: tar.TypeSymlink, Linkname: "tool"}, ""},
		{tar.Header{Name: "./bin/hard", Typeflag: tar.TypeLink, Linkname: "./bin/tool"}, ""},
		{tar.Header{Name: "./dev/null", Typeflag: tar.TypeChar, Mode: 0o666, Devmajor: 1, Devminor: 3}, ""},
	})
	size, err := extract(buf, dir)
	if err != nil {
		t.Fatal(err)
	}
	if size != 10 {
		t.Errorf("size %d", size)
	}
	fi, err := os.Stat(filepath.Join(dir, "tmp"))
	if err != nil || fi.Mode()&os.ModeSticky == 0 || fi.Mode().Perm() != 0o777 {
		t.Errorf("tmp mode %v %v", fi.Mode(), err)
	}
	fi, _ = os.Stat(filepath.Join(dir, "bin/tool"))
	if fi.Mode()&os.ModeSetuid == 0 || fi.ModTime().Unix() != 1000 {
		t.Errorf("tool mode %v time %v", fi.Mode(), fi.ModTime())
	}
	if l, _ := os.Readlink(filepath.Join(dir, "bin/link")); l != "tool" {
		t.Errorf("symlink %q", l)
	}
	fi, _ = os.Lstat(filepath.Join(dir, "dev/null"))
	if fi.Mode()&os.ModeCharDevice == 0 {
		t.Errorf("dev/null mode %v", fi.Mode())
	}
}

func TestExtractRefusesEscapes(t *testing.T) {
	for name, entries := range map[string][]entry{
		"dotdot":        {{tar.Header{Name: "../evil", Typeflag: tar.TypeReg, Mode: 0o644}, "x"}},
		"nested dotdot": {{tar.Header{Name: "a/../../evil", Typeflag: tar.TypeReg, Mode: 0o644}, "x"}},
		"through symlink": {
			{tar.Header{Name: "escape", Typeflag: tar.TypeSymlink, Linkname: "/tmp"}, ""},
			{tar.Header{Name: "escape/evil", Typeflag: tar.TypeReg, Mode: 0o644}, "x"},
		},
		"hardlink out": {{tar.Header{Name: "h", Typeflag: tar.TypeLink, Linkname: "../../etc/passwd"}, ""}},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			_, err := extract(mkTar(t, entries), filepath.Join(dir))
			if err == nil {
				t.Fatal("extract accepted an escaping entry")
			}
			if _, err := os.Stat("/tmp/evil"); err == nil {
				t.Fatal("wrote outside the layer")
			}
		})
	}
}

func TestImportGetRemove(t *testing.T) {
	s := NewStore(t.TempDir())
	tarPath := filepath.Join(t.TempDir(), "rootfs.tar")
	buf := mkTar(t, []entry{{tar.Header{Name: "etc/hostname", Typeflag: tar.TypeReg, Mode: 0o644}, "x\n"}})
	os.WriteFile(tarPath, buf.Bytes(), 0o644)
	img, err := s.Import(tarPath, "test:v1", []string{"CMD [\"sh\"]", "ENV A=1"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if c := img.Config.Config; len(c.Cmd) != 1 || c.Cmd[0] != "sh" || c.Env[0] != "A=1" {
		t.Errorf("changes not applied: %+v", c)
	}
	other, err := s.Import(tarPath, "other", nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if other.Layers()[0] != img.Layers()[0] {
		t.Fatal("the same tarball gave two layers")
	}
	for _, ref := range []string{"test:v1", "docker.io/library/test:v1", img.ID, img.ShortID(), strings.TrimPrefix(img.ID, "sha256:")[:6]} {
		got, err := s.Get(ref)
		if err != nil || got.ID != img.ID {
			t.Errorf("Get(%q) = %v, %v", ref, got, err)
		}
	}
	if _, err := s.Get("test"); err == nil {
		t.Error("test:latest should not exist")
	}
	list, _ := s.List()
	if len(list) != 2 {
		t.Fatalf("List: %v", list)
	}
	if _, err := s.Remove("test:v1", false, func(string) string { return "" }); err != nil {
		t.Fatal(err)
	}
	layer := other.Layers()[0]
	if _, err := os.Stat(s.LayerDiff(layer)); err != nil {
		t.Fatal("a layer still named by another image was removed")
	}
	if _, err := s.Remove("other", false, func(string) string { return "abc" }); err == nil {
		t.Fatal("removed an image a container uses")
	}
	if _, err := s.Remove("other", false, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.layerDir(layer)); err == nil {
		t.Fatal("an unused layer was kept")
	}
	if links, _ := os.ReadDir(s.linksDir()); len(links) != 0 {
		t.Fatalf("short links left: %v", links)
	}
}
