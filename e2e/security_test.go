package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

const dockerCaps = "00000000a80425fb"

// procStatus reads fields of a /proc/PID/status inside a container.
func statusField(status, field string) string {
	for _, line := range strings.Split(status, "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func TestDefaultConfinement(t *testing.T) {
	status := must(t, "run", "--rm", "--net", "none", "busybox", "cat", "/proc/1/status")
	if c := statusField(status, "CapEff"); c != dockerCaps {
		t.Errorf("CapEff %s, want Docker's %s", c, dockerCaps)
	}
	for field, want := range map[string]string{"CapBnd": dockerCaps, "CapPrm": dockerCaps, "CapInh": "0000000000000000", "CapAmb": "0000000000000000", "Seccomp": "2", "NoNewPrivs": "0"} {
		if got := statusField(status, field); got != want {
			t.Errorf("%s %s, want %s", field, got, want)
		}
	}
	// An exec'd process holds the same.
	must(t, "run", "-d", "--name", "confined", "--net", "none", "busybox", "sleep", "1000")
	rmAfter(t, "confined")
	st := must(t, "exec", "confined", "cat", "/proc/self/status")
	if statusField(st, "CapEff") != dockerCaps || statusField(st, "Seccomp") != "2" {
		t.Errorf("exec: CapEff %s Seccomp %s", statusField(st, "CapEff"), statusField(st, "Seccomp"))
	}
	if st := must(t, "exec", "--privileged", "confined", "cat", "/proc/self/status"); statusField(st, "CapEff") == dockerCaps {
		t.Error("exec --privileged kept the default set")
	}

	// What a container must not do, each refused for the right reason, and
	// the host unchanged.
	hostHostname, _ := os.Hostname()
	sysctl, _ := os.ReadFile("/proc/sys/vm/swappiness")
	script := `
mount -t tmpfs none /tmp 2>&1
v=$(cat /proc/sys/vm/swappiness); echo $v 2>&1 > /proc/sys/vm/swappiness
hostname foo 2>&1
ip addr add 203.0.113.9/32 dev lo 2>&1
echo "timer_list:$(cat /proc/timer_list | wc -c) keys:$(cat /proc/keys | wc -c) firmware:$(ls /sys/firmware | wc -l)"
/tools/sysprobe keyctl add_key init_module unshare_user
true`
	out := must(t, "run", "--rm", "--net", "none", "-v", toolsDir+":/tools:ro", "busybox", "sh", "-c", script)
	for _, want := range []string{
		"mount: permission denied",
		"Read-only file system",
		"sethostname: Operation not permitted",
		"RTNETLINK answers: Operation not permitted",
		"timer_list:0 keys:0 firmware:0",
		"keyctl: operation not permitted",
		"add_key: operation not permitted",
		"init_module: operation not permitted",
		"unshare_user: operation not permitted",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	if h, _ := os.Hostname(); h != hostHostname {
		t.Fatalf("the host's hostname changed to %s", h)
	}
	if now, _ := os.ReadFile("/proc/sys/vm/swappiness"); string(now) != string(sysctl) {
		t.Fatalf("the host's sysctl changed")
	}
}

func TestCapabilityFlags(t *testing.T) {
	// --cap-add NET_ADMIN makes ip addr add work (in the container's own netns).
	if r := mydocker("run", "--rm", "--net", "none", "--cap-add", "NET_ADMIN", "busybox", "ip", "addr", "add", "203.0.113.9/32", "dev", "lo"); r.code != 0 {
		t.Fatalf("--cap-add NET_ADMIN: %s", r)
	}
	st := must(t, "run", "--rm", "--net", "none", "--cap-drop", "ALL", "--cap-add", "cap_chown", "busybox", "cat", "/proc/1/status")
	if c := statusField(st, "CapEff"); c != "0000000000000001" {
		t.Fatalf("--cap-drop ALL --cap-add cap_chown: CapEff %s", c)
	}
	oneLineError(t, expect(t, 125, "run", "--rm", "--cap-add", "NOT_A_CAP", "busybox", "true"))
	oneLineError(t, expect(t, 125, "run", "--rm", "--security-opt", "bogus", "busybox", "true"))

	// --privileged: the harmless ones work; every capability the host has.
	out := must(t, "run", "--rm", "--net", "none", "--privileged", "busybox", "sh", "-c",
		"hostname foo && mkdir -p /mnt && mount -t tmpfs none /mnt && ip addr add 203.0.113.9/32 dev lo && grep -E 'CapEff|Seccomp:' /proc/1/status && cat /proc/timer_list | wc -c")
	hostBnd := statusField(string(must(t, "run", "--rm", "--net", "host", "--privileged", "busybox", "cat", "/proc/1/status")), "CapBnd")
	self, _ := os.ReadFile("/proc/self/status")
	if hostBnd != statusField(string(self), "CapBnd") || !strings.Contains(out, "CapEff:\t"+hostBnd) || !strings.Contains(out, "Seccomp:\t0") {
		t.Fatalf("--privileged:\n%s (host CapBnd %s)", out, statusField(string(self), "CapBnd"))
	}
	// --user runs as that user, with no capabilities, as in Docker.
	st = must(t, "run", "--rm", "--net", "none", "--user", "1000:1000", "busybox", "sh", "-c", "id; cat /proc/self/status")
	if !strings.HasPrefix(st, "uid=1000 gid=1000") || statusField(st, "CapEff") != "0000000000000000" {
		t.Fatalf("--user 1000:1000:\n%s", st)
	}
}

func TestSecurityOpt(t *testing.T) {
	st := must(t, "run", "--rm", "--net", "none", "--security-opt", "seccomp=unconfined", "busybox", "cat", "/proc/1/status")
	if statusField(st, "Seccomp") != "0" {
		t.Fatalf("seccomp=unconfined: Seccomp %s", statusField(st, "Seccomp"))
	}
	st = must(t, "run", "--rm", "--net", "none", "--security-opt", "no-new-privileges", "busybox", "cat", "/proc/1/status")
	if statusField(st, "NoNewPrivs") != "1" || statusField(st, "Seccomp") != "2" {
		t.Fatalf("no-new-privileges: NoNewPrivs %s Seccomp %s", statusField(st, "NoNewPrivs"), statusField(st, "Seccomp"))
	}
	// A profile of one's own, in Docker's format: everything but mkdir.
	profile := filepath.Join(t.TempDir(), "profile.json")
	os.WriteFile(profile, []byte(`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"}]}`), 0o644)
	r := mydocker("run", "--rm", "--net", "none", "--security-opt", "seccomp="+profile, "busybox", "mkdir", "/x")
	if r.code == 0 || !strings.Contains(r.stderr, "Operation not permitted") {
		t.Fatalf("custom profile: %s", r)
	}
	os.WriteFile(profile, []byte(`{"defaultAction":`), 0o644)
	oneLineError(t, expect(t, 125, "run", "--rm", "--security-opt", "seccomp="+profile, "busybox", "true"))
}

// loopDevice attaches a small file of the test's own to a loop device: a
// real block device to prove the device policy on, and nothing of the
// host's.
func loopDevice(t *testing.T) (path string, major, minor int) {
	t.Helper()
	img := filepath.Join(t.TempDir(), "disk.img")
	os.WriteFile(img, make([]byte, 1<<20), 0o600)
	out, err := exec.Command("losetup", "-f", "--show", img).CombinedOutput()
	if err != nil {
		t.Fatalf("losetup: %v %s", err, out)
	}
	path = strings.TrimSpace(string(out))
	t.Cleanup(func() { exec.Command("losetup", "-d", path).Run() })
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return path, int(unix.Major(st.Rdev)), int(unix.Minor(st.Rdev))
}

func TestDevicePolicy(t *testing.T) {
	dev, major, minor := loopDevice(t)
	nums := strconv.Itoa(major) + " " + strconv.Itoa(minor)
	// Only the default nodes in /dev.
	if out := must(t, "run", "--rm", "--net", "none", "busybox", "sh", "-c", "ls /dev | tr '\\n' ' '"); out != "fd full mqueue null ptmx pts random shm stderr stdin stdout tty urandom zero " {
		t.Fatalf("/dev holds: %q", out)
	}
	// mknod of the real numbers works, as in Docker; opening it does not.
	r := mydocker("run", "--rm", "--net", "none", "busybox", "sh", "-c", "mknod /dev/probe b "+nums+" && dd if=/dev/probe of=/dev/null bs=512 count=1")
	if r.code == 0 || !strings.Contains(r.stderr, "Operation not permitted") {
		t.Fatalf("a default container opened a block device: %s", r)
	}
	// --device gives it, with the access asked for.
	r = mydocker("run", "--rm", "--net", "none", "--device", dev+":/dev/xvdc:r", "busybox", "sh", "-c",
		"dd if=/dev/xvdc of=/dev/null bs=512 count=1 2>/dev/null && echo read-ok; dd if=/dev/zero of=/dev/xvdc bs=512 count=1 2>&1")
	if !strings.Contains(r.stdout, "read-ok") || !strings.Contains(r.stdout, "Operation not permitted") {
		t.Fatalf("--device :r: %s", r)
	}
	oneLineError(t, expect(t, 125, "run", "--rm", "--device", "/etc/passwd", "busybox", "true"))
	oneLineError(t, expect(t, 125, "run", "--rm", "--device", dev+":/dev/x:rwz", "busybox", "true"))
	// --privileged: every device.
	if r := mydocker("run", "--rm", "--net", "none", "--privileged", "busybox", "sh", "-c", "mknod /dev/probe b "+nums+" && dd if=/dev/probe of=/dev/null bs=512 count=1"); r.code != 0 {
		t.Fatalf("--privileged: %s", r)
	}
}

func TestConfineFlags(t *testing.T) {
	hostShm, _ := os.ReadFile("/proc/sys/kernel/shmmax")
	r := mydocker("run", "--rm", "--net", "none", "--read-only", "--tmpfs", "/scratch", "--shm-size", "1m",
		"--ulimit", "nofile=100:200", "--sysctl", "kernel.shmmax=123456", "--sysctl", "net.ipv4.ip_forward=1",
		"--group-add", "42", "--group-add", "tty", "-v", t.TempDir()+":/vol", "busybox", "sh", "-c",
		"touch /x 2>&1; touch /scratch/y /vol/z && echo writable-ok; df -k /dev/shm | tail -1; ulimit -n; ulimit -Hn; cat /proc/sys/kernel/shmmax /proc/sys/net/ipv4/ip_forward; id")
	for _, want := range []string{"Read-only file system", "writable-ok", " 1024 ", "\n100\n200\n123456\n1\n", "groups=5(tty),42"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("missing %q in %s", want, r)
		}
	}
	if now, _ := os.ReadFile("/proc/sys/kernel/shmmax"); string(now) != string(hostShm) {
		t.Fatal("a container's sysctl changed the host's")
	}
	for _, bad := range [][]string{
		{"--sysctl", "kernel.hostname=x"}, {"--net", "host", "--sysctl", "net.ipv4.ip_forward=1"}, {"--sysctl", "vm.swappiness"},
		{"--ulimit", "nofile=200:100"}, {"--ulimit", "bogus=1"}, {"--tmpfs", "relative"}, {"--shm-size", "lots"}, {"--group-add", "nosuchgroup"},
	} {
		oneLineError(t, expect(t, 125, append(append([]string{"run", "--rm"}, bad...), "busybox", "true")...))
	}
}
