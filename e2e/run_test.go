package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestRunEcho(t *testing.T) {
	r := expect(t, 0, "run", "--rm", "busybox", "echo", "hello")
	if r.stdout != "hello\n" || r.stderr != "" {
		t.Fatalf("got %v", r)
	}
}

func TestExitCodes(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		code int
		err  string // part of the one-line error, if any
	}{
		{"zero", []string{"true"}, 0, ""},
		{"three", []string{"sh", "-c", "exit 3"}, 3, ""},
		{"not found", []string{"no-such-command"}, 127, `exec: "no-such-command": executable file not found in $PATH`},
		{"no such path", []string{"/bin/nope"}, 127, "no such file or directory"},
		{"not executable", []string{"/etc/passwd"}, 126, "permission denied"},
		{"a directory", []string{"/bin"}, 126, "permission denied"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := expect(t, tc.code, append([]string{"run", "--rm", "busybox"}, tc.args...)...)
			if tc.err != "" {
				oneLineError(t, r)
				if !strings.Contains(r.stderr, tc.err) {
					t.Fatalf("stderr %q lacks %q", r.stderr, tc.err)
				}
			}
		})
	}
}

// A container killed by signal N exits 128+N, here SIGKILL from the host.
func TestExitCodeOfSignal(t *testing.T) {
	cmd := exec.Command(bin, "--root", root, "run", "--rm", "--name", "sig", "busybox", "sleep", "100")
	cmd.Env = mydockerEnv()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	var pid int
	waitFor(t, 10*time.Second, "the container to run", func() bool {
		r := mydocker("inspect", "-f", "{{.State.Pid}}", "sig")
		pid, _ = strconv.Atoi(strings.TrimSpace(r.stdout))
		return pid > 0
	})
	syscall.Kill(pid, syscall.SIGKILL)
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 137 {
		t.Fatalf("want exit 137, got %v", err)
	}
}

func TestIsolation(t *testing.T) {
	t.Run("pid 1", func(t *testing.T) {
		r := expect(t, 0, "run", "--rm", "busybox", "sh", "-c", "echo $$; cat /proc/1/cmdline | tr '\\0' ' '")
		if r.stdout != "1\nsh -c echo $$; cat /proc/1/cmdline | tr '\\0' ' ' " {
			t.Fatalf("got %q", r.stdout)
		}
	})
	t.Run("ps sees only the container", func(t *testing.T) {
		r := expect(t, 0, "run", "--rm", "busybox", "ps", "-o", "pid,comm")
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		if len(lines) != 2 || strings.Fields(lines[1])[0] != "1" {
			t.Fatalf("want only PID 1, got %q", r.stdout)
		}
	})
	t.Run("hostname", func(t *testing.T) {
		host, _ := os.Hostname()
		// Changing it needs CAP_SYS_ADMIN, which a default container lacks.
		r := expect(t, 0, "run", "--rm", "--cap-add", "SYS_ADMIN", "busybox", "sh", "-c", "hostname; hostname changed-inside; hostname")
		lines := strings.Fields(r.stdout)
		if len(lines) != 2 || lines[0] == host || len(lines[0]) != 12 || lines[1] != "changed-inside" {
			t.Fatalf("got %q (host %q)", r.stdout, host)
		}
		if now, _ := os.Hostname(); now != host {
			t.Fatalf("the host's hostname changed to %q", now)
		}
		r = expect(t, 0, "run", "--rm", "--hostname", "box1", "busybox", "sh", "-c", "hostname; cat /etc/hostname; echo $HOSTNAME")
		if r.stdout != "box1\nbox1\nbox1\n" {
			t.Fatalf("--hostname: got %q", r.stdout)
		}
	})
	t.Run("mounts", func(t *testing.T) {
		r := expect(t, 0, "run", "--rm", "busybox", "cat", "/proc/self/mountinfo")
		var points []string
		fstype := map[string]string{}
		for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
			f := strings.Fields(line)
			if strings.Count(f[4], "/") > 1 && (strings.HasPrefix(f[4], "/proc/") || strings.HasPrefix(f[4], "/sys/")) {
				continue // masked and read-only paths: TestDefaultConfinement
			}
			points = append(points, f[4])
			for i, x := range f {
				if x == "-" {
					fstype[f[4]] = f[i+1]
				}
			}
		}
		sort.Strings(points)
		want := "/ /dev /dev/mqueue /dev/pts /dev/shm /etc/hostname /etc/hosts /etc/resolv.conf /proc /sys"
		if strings.Join(points, " ") != want {
			t.Fatalf("mount points:\n got %s\nwant %s", strings.Join(points, " "), want)
		}
		if fstype["/"] != "overlay" || fstype["/proc"] != "proc" || fstype["/dev/pts"] != "devpts" {
			t.Fatalf("filesystem types: %v", fstype)
		}
	})
	t.Run("sys is read-only", func(t *testing.T) {
		r := mydocker("run", "--rm", "busybox", "sh", "-c", "touch /sys/x")
		if r.code == 0 {
			t.Fatal("wrote to /sys")
		}
	})
	t.Run("devices", func(t *testing.T) {
		expect(t, 0, "run", "--rm", "busybox", "sh", "-c",
			"for d in null zero full random urandom tty ptmx; do [ -e /dev/$d ] || exit 1; done; head -c 4 /dev/urandom >/dev/null; echo x > /dev/null")
	})
	t.Run("network namespace has only lo", func(t *testing.T) {
		r := expect(t, 0, "run", "--rm", "--net", "none", "busybox", "ls", "/sys/class/net")
		if strings.TrimSpace(r.stdout) != "lo" {
			t.Fatalf("got %q", r.stdout)
		}
	})
}

func TestFilesystem(t *testing.T) {
	layers, _ := filepath.Glob(filepath.Join(root, "lib/layers/*/diff"))
	if len(layers) != 1 {
		t.Fatalf("want one layer, got %v", layers)
	}
	layer := layers[0]
	must(t, "run", "--name", "writer", "busybox", "sh", "-c", "echo x > /bin/newfile && rm /bin/ls && echo y > /tmp/t")
	rmAfter(t, "writer")
	if _, err := os.Stat(filepath.Join(layer, "bin/newfile")); err == nil {
		t.Fatal("a write in the container reached the image")
	}
	if _, err := os.Lstat(filepath.Join(layer, "bin/ls")); err != nil {
		t.Fatal("a delete in the container reached the image")
	}
	r := expect(t, 0, "run", "--rm", "busybox", "sh", "-c", "ls /bin/newfile 2>&1; ls /bin/ls")
	if !strings.Contains(r.stdout, "No such file") || !strings.Contains(r.stdout, "/bin/ls") {
		t.Fatalf("another container sees the first one's changes: %q", r.stdout)
	}
	ws := filepath.Join(root, "lib/containers", strings.TrimSpace(must(t, "inspect", "-f", "{{.ID}}", "writer")))
	if _, err := os.Stat(filepath.Join(ws, "upper/bin/newfile")); err != nil {
		t.Fatalf("the stopped container lost its writable layer: %v", err)
	}
	must(t, "rm", "writer")
	if _, err := os.Stat(ws); err == nil {
		t.Fatal("rm left the workspace")
	}
}

func TestRemoveLeavesNothing(t *testing.T) {
	before := strings.Join(stateEntries(), " ")
	expect(t, 0, "run", "--rm", "busybox", "sh", "-c", "echo data > /root/file")
	expect(t, 3, "run", "--rm", "busybox", "sh", "-c", "exit 3")
	expect(t, 127, "run", "--rm", "busybox", "nope")
	if after := strings.Join(stateEntries(), " "); after != before {
		t.Fatalf("--rm left state: before %q, after %q", before, after)
	}
}

func TestStdio(t *testing.T) {
	r := expect(t, 0, "run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2")
	if r.stdout != "out\n" || r.stderr != "err\n" {
		t.Fatalf("stdout and stderr mixed up: %v", r)
	}
	r = mydockerIn("data\n", "run", "-i", "--rm", "busybox", "cat")
	if r.code != 0 || r.stdout != "data\n" {
		t.Fatalf("-i: %v", r)
	}
	r = mydockerIn("data\n", "run", "--rm", "busybox", "cat")
	if r.code != 0 || r.stdout != "" {
		t.Fatalf("stdin without -i should be empty: %v", r)
	}
	r = expect(t, 0, "run", "--rm", "busybox", "sh", "-c", "[ -t 1 ] && echo tty || echo pipe")
	if r.stdout != "pipe\n" {
		t.Fatalf("without -t stdout must not be a terminal: %q", r.stdout)
	}
}

func TestEnvAndWorkdir(t *testing.T) {
	os.Setenv("E2E_FROM_HOST", "hostval")
	defer os.Unsetenv("E2E_FROM_HOST")
	r := expect(t, 0, "run", "--rm", "-e", "A=1,2", "--env", "B=x=y", "-e", "E2E_FROM_HOST", "-e", "E2E_UNSET",
		"-w", "/tmp/new/dir", "busybox", "sh", "-c", `echo "$A|$B|$E2E_FROM_HOST|${E2E_UNSET-unset}|$HOME|$PATH"; pwd`)
	want := "1,2|x=y|hostval|unset|/root|/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n/tmp/new/dir\n"
	if r.stdout != want {
		t.Fatalf("got %q\nwant %q", r.stdout, want)
	}
}

// The book's flags and Docker's parse alike; the command keeps its own flags.
func TestFlagDialects(t *testing.T) {
	r := expect(t, 0, "run", "--rm", "busybox", "sh", "-c", "echo -n x")
	if r.stdout != "x" {
		t.Fatalf("the command's own flags were eaten: %q", r.stdout)
	}
	r = expect(t, 0, "run", "--rm", "busybox", "--", "ls", "-d", "/tmp")
	if r.stdout != "/tmp\n" {
		t.Fatalf("-- before the command: %q", r.stdout)
	}
	r = mydockerIn("in\n", "run", "-i", "--rm", "-e", "K=V", "busybox", "sh", "-c", "cat; echo $K")
	if r.stdout != "in\nV\n" {
		t.Fatalf("got %v", r)
	}
}

func TestBadInput(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		code int
	}{
		{"unknown image", []string{"run", "--rm", "--pull", "never", "no-such-image", "true"}, 125},
		{"missing command", []string{"run", "--rm", "busybox"}, 125},
		{"missing image", []string{"run"}, 125},
		{"unknown flag", []string{"run", "--no-such-flag", "busybox", "true"}, 125},
		{"invalid name", []string{"run", "--name", "bad name!", "busybox", "true"}, 125},
		{"relative workdir", []string{"run", "-w", "tmp", "busybox", "true"}, 125},
		{"invalid hostname", []string{"run", "--hostname", "-x", "busybox", "true"}, 125},
		{"bad env", []string{"run", "-e", "=x", "busybox", "true"}, 125},
		{"bad volume", []string{"run", "-v", "relative:/x", "busybox", "true"}, 125},
		{"bad volume mode", []string{"run", "-v", "/tmp:/x:rx", "busybox", "true"}, 125},
		{"unknown command", []string{"frobnicate"}, 125},
		{"bad global flag", []string{"--log-level", "loud", "ps"}, 125},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := strings.Join(stateEntries(), " ")
			r := expect(t, tc.code, tc.args...)
			oneLineError(t, r)
			if after := strings.Join(stateEntries(), " "); after != before {
				t.Fatalf("state changed: %q -> %q", before, after)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	r := expect(t, 0, "--version")
	if !strings.HasPrefix(r.stdout, "mydocker version ") {
		t.Fatalf("got %q", r.stdout)
	}
}

// On systemd hosts / is a shared mount: pivot_root must still work and no
// container mount may show up outside.
func TestSharedRootPropagation(t *testing.T) {
	script := `before=$(cut -d' ' -f5 /proc/self/mountinfo | sort | md5sum)
"$0" --root "$1" run --rm busybox true || exit 10
after=$(cut -d' ' -f5 /proc/self/mountinfo | sort | md5sum)
[ "$before" = "$after" ] || { echo "mount table changed"; exit 11; }
grep -q ' / / .*shared:' /proc/self/mountinfo || { echo "root is not shared"; exit 12; }`
	out, err := exec.Command("unshare", "-m", "--propagation", "shared", "sh", "-c", script, bin, root).CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
}
