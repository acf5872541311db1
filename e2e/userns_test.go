package e2e

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// keepFile puts a host file back as it was when the test ends.
func keepFile(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	existed := err == nil
	t.Cleanup(func() {
		if existed {
			os.WriteFile(path, data, 0o644)
		} else {
			os.Remove(path)
		}
	})
}

func TestUsernsRemap(t *testing.T) {
	// The test's own mydocker range goes again with the test.
	keepFile(t, "/etc/subuid")
	keepFile(t, "/etc/subgid")
	must(t, "run", "-d", "--name", "remapped", "--userns", "remap", "--net", "none", "busybox", "sleep", "1000")
	rmAfter(t, "remapped")
	var start int
	for _, line := range strings.Split(readFile(t, "/etc/subuid"), "\n") {
		if f := strings.Split(line, ":"); len(f) == 3 && f[0] == "mydocker" {
			start, _ = strconv.Atoi(f[1])
		}
	}
	if start == 0 || !strings.Contains(readFile(t, "/etc/subgid"), "mydocker:") {
		t.Fatalf("no mydocker range in /etc/subuid and /etc/subgid:\n%s", readFile(t, "/etc/subuid"))
	}
	// Root inside, an unprivileged uid from the host's view.
	pid := inspect(t, "remapped", "{{.State.Pid}}")
	status := readFile(t, "/proc/"+pid+"/status")
	if statusField(status, "Uid") != strings.Repeat(strconv.Itoa(start)+"\t", 3)+strconv.Itoa(start) {
		t.Fatalf("host view of the container's root: Uid %q, want %d", statusField(status, "Uid"), start)
	}
	if out := must(t, "exec", "remapped", "sh", "-c", "id -u; cat /proc/self/uid_map | tr -s ' '; ls -ln /bin/busybox | tr -s ' ' | cut -d' ' -f3"); out != "0\n 0 "+strconv.Itoa(start)+" 65536\n0\n" {
		t.Fatalf("inside: %q", out)
	}
	// A volume the host's root owns is not the container root's to write;
	// one given to the range is, and its files belong to the range.
	shared := t.TempDir()
	os.Chmod(filepath.Dir(shared), 0o711) // as a user's ordinary directories are
	os.Chmod(shared, 0o755)
	r := mydocker("run", "--rm", "--userns", "remap", "--net", "none", "-v", shared+":/vol", "busybox", "touch", "/vol/x")
	if r.code == 0 || !strings.Contains(r.stderr, "Permission denied") {
		t.Fatalf("the remapped root wrote to root's volume: %s", r)
	}
	os.Chown(shared, start, start)
	must(t, "run", "--rm", "--userns", "remap", "--net", "none", "-v", shared+":/vol", "busybox", "sh", "-c", "echo hi > /vol/x")
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(shared, "x"), &st); err != nil || int(st.Uid) != start {
		t.Fatalf("a file the container wrote belongs to uid %d on the host, want %d (%v)", st.Uid, start, err)
	}
	// What a remapped root cannot do: open a block device node, read root's files.
	r = mydocker("run", "--rm", "--userns", "remap", "--net", "none", "--cap-add", "ALL", "-v", "/etc:/hostetc:ro", "busybox", "sh", "-c", "mknod /dev/sda b 8 0; cat /hostetc/shadow")
	if r.code == 0 || !strings.Contains(r.stderr, "Operation not permitted") || !strings.Contains(r.stderr, "Permission denied") {
		t.Fatalf("a remapped root with every capability: %s", r)
	}
	// Commit gives the image's owners back: root is 0 again.
	must(t, "exec", "remapped", "sh", "-c", "echo mine > /root/mine")
	must(t, "commit", "remapped", "remapped-commit:1")
	t.Cleanup(func() { mydocker("rmi", "remapped-commit:1") })
	if out := must(t, "run", "--rm", "--net", "none", "remapped-commit:1", "stat", "-c", "%u %g", "/root/mine"); out != "0 0\n" {
		t.Fatalf("committed owner: %q", out)
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
