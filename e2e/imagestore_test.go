package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCommit(t *testing.T) {
	must(t, "run", "--name", "tocommit", "--net", "none", "busybox", "sh", "-c", "echo changed > /etc/new && rm /etc/group && mkdir -p /var/www && rm -rf /var/www/* && echo x > /var/www/only")
	rmAfter(t, "tocommit")
	id := strings.TrimSpace(must(t, "commit", "-c", "CMD [\"cat\", \"/etc/new\"]", "-c", "ENV COMMITTED=yes", "-m", "a test", "tocommit", "committed:1"))
	t.Cleanup(func() { mydocker("rmi", "committed:1") })
	if !strings.HasPrefix(id, "sha256:") {
		t.Fatalf("commit printed %q", id)
	}
	if out := must(t, "run", "--rm", "--net", "none", "committed:1"); out != "changed\n" {
		t.Fatalf("the committed CMD: %q", out)
	}
	out := must(t, "run", "--rm", "--net", "none", "committed:1", "sh", "-c", "echo $COMMITTED; ls /etc/group 2>&1; ls /var/www")
	if out != "yes\nls: /etc/group: No such file or directory\nonly\n" {
		t.Fatalf("the committed layer: %q", out)
	}
	h := must(t, "history", "committed:1")
	if !strings.Contains(h, "a test") || len(strings.Split(strings.TrimSpace(h), "\n")) != 3 {
		t.Fatalf("history:\n%s", h)
	}
	// An image a container uses is not removed without -f; -f only untags it.
	must(t, "tag", "committed:1", "committed:2")
	must(t, "run", "--name", "usesit", "--net", "none", "committed:2", "true")
	rmAfter(t, "usesit")
	if r := expect(t, 0, "rmi", "committed:1"); !strings.Contains(r.stdout, "Untagged: committed:1") {
		t.Fatalf("rmi of one of two names: %s", r)
	}
	r := expect(t, 1, "rmi", "committed:2")
	oneLineError(t, r)
	if r := expect(t, 0, "rmi", "-f", "committed:2"); !strings.Contains(r.stdout, "Untagged") || strings.Contains(r.stdout, "Deleted") {
		t.Fatalf("rmi -f of a used image: %s", r)
	}
	if out := must(t, "images"); !strings.Contains(out, "<none>") {
		t.Fatalf("the untagged image should stay, unnamed:\n%s", out)
	}
	must(t, "rm", "usesit")
	if out := must(t, "image", "prune"); !strings.Contains(out, "Deleted: "+id) {
		t.Fatalf("prune: %s", out)
	}
}

func TestSaveLoadExportImport(t *testing.T) {
	dir := t.TempDir()
	must(t, "tag", "busybox", "saved:1")
	t.Cleanup(func() { mydocker("rmi", "saved:1") })
	id := inspectImage(t, "saved:1")
	tarPath := filepath.Join(dir, "saved.tar")
	must(t, "save", "-o", tarPath, "saved:1")
	// Loaded into an empty store, the image keeps its ID and runs.
	other := t.TempDir()
	r := withRoot(other, "load", "-i", tarPath)
	if r.code != 0 || !strings.Contains(r.stdout, "Loaded image: saved:1") {
		t.Fatalf("load: %s", r)
	}
	if got := withRoot(other, "image", "inspect", "-f", "{{.Id}}", "saved:1"); strings.TrimSpace(got.stdout) != id {
		t.Fatalf("load changed the ID: %s vs %s", got.stdout, id)
	}
	if out := withRoot(other, "run", "--rm", "--net", "none", "saved:1", "echo", "ok"); out.stdout != "ok\n" {
		t.Fatalf("run the loaded image: %s", out)
	}
	// stdin works too.
	data, _ := os.ReadFile(tarPath)
	if r := mydockerIn(string(data), "--root", t.TempDir(), "load"); r.code != 0 {
		t.Fatalf("load from stdin: %s", r)
	}
	// Broken archives: one line, nothing stored.
	os.WriteFile(filepath.Join(dir, "cut.tar"), data[:len(data)/3], 0o644)
	os.WriteFile(filepath.Join(dir, "junk.tar"), []byte("this is not a tarball at all, not even close"), 0o644)
	os.WriteFile(filepath.Join(dir, "gzjunk.tar"), []byte{0x1f, 0x8b, 8, 0, 1, 2, 3}, 0o644)
	bad := t.TempDir()
	for _, f := range []string{"cut.tar", "junk.tar", "gzjunk.tar", "missing.tar"} {
		oneLineError(t, expectRoot(t, bad, 1, "load", "-i", filepath.Join(dir, f)))
		oneLineError(t, expectRoot(t, bad, 1, "import", filepath.Join(dir, f), "broken"))
	}
	if out := withRoot(bad, "images", "-q"); out.stdout != "" {
		t.Fatalf("broken archives left images: %s", out)
	}
	if n, tmp := layerDirs(t, bad); n != 0 || tmp != 0 {
		t.Fatalf("broken archives left %d layers, %d temporary dirs", n, tmp)
	}

	// export flattens a container; import makes it an image again.
	must(t, "run", "--name", "toexport", "--net", "none", "busybox", "sh", "-c", "echo exported > /root/mark && rm /etc/passwd")
	rmAfter(t, "toexport")
	flat := filepath.Join(dir, "flat.tar")
	must(t, "export", "-o", flat, "toexport")
	must(t, "import", "-c", "CMD [\"cat\", \"/root/mark\"]", flat, "flat:1")
	t.Cleanup(func() { mydocker("rmi", "flat:1") })
	if out := must(t, "run", "--rm", "--net", "none", "flat:1"); out != "exported\n" {
		t.Fatalf("the imported export: %q", out)
	}
	if r := mydocker("run", "--rm", "--net", "none", "flat:1", "ls", "/etc/passwd"); r.code == 0 {
		t.Fatal("a deleted file came back through export")
	}
}

func inspectImage(t *testing.T, ref string) string {
	t.Helper()
	return strings.TrimSpace(must(t, "image", "inspect", "-f", "{{.Id}}", ref))
}

func expectRoot(t *testing.T, r string, code int, args ...string) result {
	t.Helper()
	res := withRoot(r, args...)
	if res.code != code {
		t.Fatalf("mydocker %s: want exit %d, got %s", strings.Join(args, " "), code, res)
	}
	return res
}
