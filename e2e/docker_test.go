package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// dockerd is Debian's Docker engine, started by the test on a socket and
// state of its own, with its hands off the host: no iptables, no bridge,
// containers' cgroups under a mydocker-named parent.
type dockerd struct {
	sock, dir string
	cmd       *exec.Cmd
}

func startDockerd(t *testing.T) *dockerd {
	t.Helper()
	if _, err := exec.LookPath("dockerd"); err != nil {
		t.Fatal("dockerd is not installed (make test installs Debian's docker.io)")
	}
	dir, err := os.MkdirTemp("", "mydocker-dockerd-")
	if err != nil {
		t.Fatal(err)
	}
	d := &dockerd{sock: filepath.Join(dir, "docker.sock"), dir: dir}
	d.cmd = exec.Command("dockerd", "--host", "unix://"+d.sock,
		"--data-root", filepath.Join(dir, "data"), "--exec-root", filepath.Join(dir, "exec"),
		"--pidfile", filepath.Join(dir, "docker.pid"), "--iptables=false", "--ip6tables=false",
		"--ip-forward=false", "--ip-masq=false", "--bridge=none", "--cgroup-parent=/mydocker-dockerd-test",
		"--storage-driver=overlay2", "--config-file", filepath.Join(dir, "daemon.json"))
	os.WriteFile(filepath.Join(dir, "daemon.json"), []byte("{}"), 0o600)
	var logs bytes.Buffer
	d.cmd.Stdout, d.cmd.Stderr = &logs, &logs
	_, hadRunDocker := os.Stat("/var/run/docker")
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		d.cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { d.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			d.cmd.Process.Kill()
			<-done
		}
		unmountUnder(dir)
		os.RemoveAll(dir)
		if hadRunDocker != nil { // dockerd makes /var/run/docker/plugins whatever its exec-root
			os.Remove("/var/run/docker/plugins")
			os.Remove("/var/run/docker")
		}
		for _, c := range []string{"cpu", "cpuacct", "memory", "pids", "blkio", "devices", "freezer", "net_cls", "perf_event", "net_prio", "hugetlb", "cpuset", "systemd", "unified", "rdma", "misc"} {
			os.Remove(filepath.Join("/sys/fs/cgroup", c, "mydocker-dockerd-test"))
		}
	})
	ok := false
	for i := 0; i < 300 && !ok; i++ {
		ok = d.docker("version").code == 0
		if !ok {
			time.Sleep(100 * time.Millisecond)
		}
	}
	if !ok {
		t.Fatalf("dockerd did not come up:\n%s", logs.String())
	}
	return d
}

func (d *dockerd) docker(args ...string) result {
	cmd := exec.Command("docker", append([]string{"--host", "unix://" + d.sock}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		code = -1
	}
	return result{out.String(), errb.String(), code}
}

func (d *dockerd) must(t *testing.T, args ...string) string {
	t.Helper()
	r := d.docker(args...)
	if r.code != 0 {
		t.Fatalf("docker %s: %s", strings.Join(args, " "), r)
	}
	return r.stdout
}

// unmountUnder undoes what dockerd and containerd left mounted beneath dir,
// deepest first.
func unmountUnder(dir string) {
	data, _ := os.ReadFile("/proc/self/mountinfo")
	var mounts []string
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
			mounts = append(mounts, f[4])
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(mounts)))
	for _, m := range mounts {
		exec.Command("umount", "-l", m).Run()
	}
}

// Docker's own save format, both ways, with Docker itself.
func TestDockerSaveLoadInterop(t *testing.T) {
	d := startDockerd(t)
	dir := t.TempDir()
	// mydocker's save, loaded and run by Docker.
	must(t, "tag", "busybox", "interop:1")
	t.Cleanup(func() { mydocker("rmi", "interop:1") })
	ours := filepath.Join(dir, "ours.tar")
	must(t, "save", "-o", ours, "interop:1")
	if out := d.must(t, "load", "-i", ours); !strings.Contains(out, "interop:1") {
		t.Fatalf("docker load: %s", out)
	}
	if id := strings.TrimSpace(d.must(t, "image", "inspect", "-f", "{{.Id}}", "interop:1")); id != inspectImage(t, "interop:1") {
		t.Fatalf("Docker gives the image another ID: %s vs %s", id, inspectImage(t, "interop:1"))
	}
	if out := d.must(t, "run", "--rm", "--net", "none", "interop:1", "echo", "run by docker"); out != "run by docker\n" {
		t.Fatalf("docker run: %q", out)
	}
	// A layer Docker made (docker commit), saved by Docker, run by mydocker.
	d.must(t, "run", "--name", "dmade", "--net", "none", "interop:1", "sh", "-c", "echo made by docker > /root/docker && rm /etc/group")
	d.must(t, "commit", "-c", "CMD [\"cat\", \"/root/docker\"]", "dmade", "fromdocker:1")
	d.must(t, "rm", "dmade")
	theirs := filepath.Join(dir, "theirs.tar")
	d.must(t, "save", "-o", theirs, "fromdocker:1")
	if r := mydocker("load", "-i", theirs); r.code != 0 || !strings.Contains(r.stdout, "Loaded image: fromdocker:1") {
		t.Fatalf("load of docker save: %s", r)
	}
	t.Cleanup(func() { mydocker("rmi", "fromdocker:1") })
	if id := strings.TrimSpace(d.must(t, "image", "inspect", "-f", "{{.Id}}", "fromdocker:1")); id != inspectImage(t, "fromdocker:1") {
		t.Fatalf("the loaded image has another ID: %s vs %s", id, inspectImage(t, "fromdocker:1"))
	}
	out := must(t, "run", "--rm", "--net", "none", "fromdocker:1")
	out2 := mydocker("run", "--rm", "--net", "none", "fromdocker:1", "ls", "/etc/group")
	if out != "made by docker\n" || out2.code == 0 {
		t.Fatalf("docker's layer run by mydocker: %q, %s", out, fmt.Sprint(out2))
	}
}
