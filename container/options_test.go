package container

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mydocker/mydocker/internal/errdefs"
)

func TestParseVolume(t *testing.T) {
	for _, tc := range []struct {
		in       string
		src, dst string
		ro       bool
		ok       bool
	}{
		{"/data:/data", "/data", "/data", false, true},
		{"/root/volume:/containerVolume", "/root/volume", "/containerVolume", false, true},
		{"/srv/cfg/:/cfg:ro", "/srv/cfg", "/cfg", true, true},
		{"/a:/b:rw", "/a", "/b", false, true},
		{"relative:/b", "", "", false, false},
		{"/a:relative", "", "", false, false},
		{"/a:/", "", "", false, false},
		{"/a", "", "", false, false},
		{"/a:/b:rx", "", "", false, false},
		{"/a:/b:ro:x", "", "", false, false},
		{":/b", "", "", false, false},
	} {
		m, err := parseVolume(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("%q: err %v", tc.in, err)
			continue
		}
		if !tc.ok {
			if !strings.Contains(err.Error(), tc.in) {
				t.Errorf("%q: the error should quote the spec: %v", tc.in, err)
			}
			continue
		}
		ro := false
		for _, o := range m.Options {
			ro = ro || o == "ro"
		}
		if m.Source != tc.src || m.Destination != tc.dst || ro != tc.ro || m.Type != "bind" {
			t.Errorf("%q: got %+v", tc.in, m)
		}
	}
}

func TestBuildEnv(t *testing.T) {
	t.Setenv("FROM_HOST", "h")
	env, err := buildEnv([]string{"PATH=/img", "IMG=1"}, []string{"IMG=2", "FROM_HOST", "NOT_ON_HOST", "E=a=b"}, "box", true)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"PATH=/img", "HOSTNAME=box", "IMG=2", "TERM=xterm", "FROM_HOST=h", "E=a=b"}
	if !reflect.DeepEqual(env, want) {
		t.Fatalf("got %q\nwant %q", env, want)
	}
	for _, bad := range []string{"=x", "A B=1", ""} {
		if _, err := buildEnv(nil, []string{bad}, "h", false); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestValidateNames(t *testing.T) {
	for name, ok := range map[string]bool{"web": true, "a1_b.c-d": true, "a": true, "-web": false, "we b": false, "": false, "ü": false} {
		if (ValidateName(name) == nil) != ok {
			t.Errorf("ValidateName(%q) ok=%v", name, !ok)
		}
	}
	for h, ok := range map[string]bool{"box": true, "a-b.c": true, "-x": false, "a_b": false, strings.Repeat("x", 64): false} {
		if (validateHostname(h) == nil) != ok {
			t.Errorf("validateHostname(%q) ok=%v", h, !ok)
		}
	}
}

func TestParseMountOptions(t *testing.T) {
	for _, tc := range []struct {
		in    []string
		flags uintptr
		data  string
	}{
		{[]string{"nosuid", "noexec", "nodev"}, unix.MS_NOSUID | unix.MS_NOEXEC | unix.MS_NODEV, ""},
		{[]string{"rbind", "ro", "rprivate"}, unix.MS_BIND | unix.MS_REC | unix.MS_RDONLY | unix.MS_PRIVATE, ""},
		{[]string{"ro", "rw"}, 0, ""},
		{[]string{"nosuid", "mode=755", "size=65536k"}, unix.MS_NOSUID, "mode=755,size=65536k"},
		{[]string{"lowerdir=/a:/b", "upperdir=/u"}, 0, "lowerdir=/a:/b,upperdir=/u"},
	} {
		flags, data := parseMountOptions(tc.in)
		if flags != tc.flags || data != tc.data {
			t.Errorf("%v: got %#x %q", tc.in, flags, data)
		}
	}
}

func TestSecureJoin(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "real/dir"), 0o755)
	os.Symlink("/real", filepath.Join(root, "abs"))
	os.Symlink("../../../../real", filepath.Join(root, "climb"))
	os.Symlink("loop", filepath.Join(root, "loop"))
	for in, want := range map[string]string{
		"/etc/hosts":      "/etc/hosts",
		"/abs/dir":        "/real/dir",
		"/climb/dir":      "/real/dir",
		"/../../etc":      "/etc",
		"/real/../x/./y":  "/x/y",
		"/missing/a/../b": "/missing/b",
	} {
		got, err := secureJoin(root, in)
		if err != nil || got != filepath.Join(root, want) {
			t.Errorf("secureJoin(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := secureJoin(root, "/loop/x"); err == nil {
		t.Error("a symlink loop resolved")
	}
}

func TestLookPath(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "tool"), []byte("#!/bin/sh\n"), 0o755)
	os.WriteFile(filepath.Join(dir, "data"), []byte("x"), 0o644)
	os.Mkdir(filepath.Join(dir, "sub"), 0o755)
	for _, tc := range []struct {
		file string
		code int
	}{
		{"tool", 0}, {filepath.Join(dir, "tool"), 0},
		{"missing", errdefs.CodeNotFound}, {filepath.Join(dir, "missing"), errdefs.CodeNotFound},
		{"data", errdefs.CodeCannotExecute}, {filepath.Join(dir, "data"), errdefs.CodeCannotExecute},
		{filepath.Join(dir, "sub"), errdefs.CodeCannotExecute},
	} {
		_, err := lookPath(tc.file, "/nonexistent:"+dir)
		code, _ := errdefs.Code(err)
		if code != tc.code {
			t.Errorf("lookPath(%q): code %d (%v), want %d", tc.file, code, err, tc.code)
		}
	}
}

func TestParseSignalAndTail(t *testing.T) {
	for in, want := range map[string]unix.Signal{"KILL": unix.SIGKILL, "sigterm": unix.SIGTERM, "9": unix.SIGKILL, "HUP": unix.SIGHUP} {
		if got, err := ParseSignal(in); err != nil || got != want {
			t.Errorf("ParseSignal(%q) = %v, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "NOPE", "0", "-1", "99"} {
		if _, err := ParseSignal(bad); err == nil {
			t.Errorf("ParseSignal(%q) accepted", bad)
		}
	}
	for in, want := range map[string]int{"all": -1, "0": 0, "10": 10} {
		if got, err := ParseTail(in); err != nil || got != want {
			t.Errorf("ParseTail(%q) = %d, %v", in, got, err)
		}
	}
	if _, err := ParseTail("-3"); err == nil {
		t.Error("negative tail accepted")
	}
}

func TestHumanDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "Less than a second", time.Second: "1 second", 3 * time.Second: "3 seconds",
		90 * time.Second: "About a minute", 5 * time.Minute: "5 minutes", 3 * time.Hour: "3 hours",
	} {
		if got := humanDuration(d); got != want {
			t.Errorf("humanDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestProcessAlive(t *testing.T) {
	start, err := pidStartTime(os.Getpid())
	if err != nil || start == 0 {
		t.Fatal(start, err)
	}
	if !processAlive(os.Getpid(), start) {
		t.Fatal("this process is not alive")
	}
	if processAlive(os.Getpid(), start+1) {
		t.Fatal("a different start time matched: a recycled pid would be mistaken")
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"100": 100, "512k": 512 << 10, "100m": 100 << 20, "1g": 1 << 30, "1.5G": 3 << 29, "64MiB": 64 << 20, "2mb": 2 << 20} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "x", "10x", "-1m", "1.2.3g", "m"} {
		if _, err := ParseSize(bad); err == nil {
			t.Errorf("ParseSize(%q) accepted", bad)
		}
	}
}

func TestResourcesToSpec(t *testing.T) {
	r, err := ResourceOptions{Memory: "100m", MemorySwap: "-1", CPUs: "0.5", CPUShares: 512, CpusetCpus: "0", PidsLimit: 64}.toSpec()
	if err != nil {
		t.Fatal(err)
	}
	if *r.Memory.Limit != 100<<20 || *r.Memory.Swap != -1 || *r.CPU.Quota != 50000 || *r.CPU.Period != 100000 ||
		*r.CPU.Shares != 512 || r.CPU.Cpus != "0" || *r.Pids.Limit != 64 {
		t.Fatalf("got %+v %+v %+v", r.Memory, r.CPU, r.Pids)
	}
	if r, _ := (ResourceOptions{PidsLimit: -1}).toSpec(); r.Pids != nil || r.Memory != nil || r.CPU != nil {
		t.Fatal("no flags should mean no limits")
	}
	for _, bad := range []ResourceOptions{
		{Memory: "1k"}, {MemorySwap: "1g"}, {Memory: "1g", MemorySwap: "10m"}, {CPUs: "0"}, {CPUs: "0.001"},
		{CPUs: "NaN"}, {CPUShares: 1}, {CpusetCpus: "a"}, {CpusetCpus: "9999"}, {CpusetMems: "64"}, {PidsLimit: -2},
	} {
		if _, err := bad.toSpec(); err == nil || !strings.HasPrefix(err.Error(), "--") {
			t.Errorf("%+v: want an error naming the flag, got %v", bad, err)
		}
	}
}

func TestParseLogTime(t *testing.T) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"10m":                  now.Add(-10 * time.Minute),
		"1h30m":                now.Add(-90 * time.Minute),
		"2026-11-28T11:00:00Z": time.Date(2026, 11, 28, 11, 0, 0, 0, time.UTC),
		"1764331200":           time.Unix(1764331200, 0),
	} {
		got, err := ParseLogTime(in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("ParseLogTime(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"yesterday", "10 minutes", "2026-13-01"} {
		if _, err := ParseLogTime(bad, now); err == nil {
			t.Errorf("ParseLogTime(%q) accepted", bad)
		}
	}
}
