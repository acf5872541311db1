package container

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// A process's user is carried unresolved in spec.Process.User.Username
// ("name", "uid", "name:group", "uid:gid", as Docker's --user and an image's
// USER say it) and resolved inside the container, from its own /etc/passwd
// and /etc/group, right before exec: the host's user database means nothing
// there.

// resolveUser fills p.User from p.User.Username and sets HOME when the
// environment has none.
func resolveUser(p *specs.Process) error {
	spec := p.User.Username
	home := ""
	if spec != "" {
		userPart, groupPart, hasGroup := strings.Cut(spec, ":")
		u, err := lookupPasswd(userPart)
		if err != nil {
			return err
		}
		p.User.UID, p.User.GID, home = u.uid, u.gid, u.home
		if hasGroup {
			gid, err := lookupGroup(groupPart)
			if err != nil {
				return err
			}
			p.User.GID = gid
		}
		if u.name != "" {
			p.User.AdditionalGids = append(supplementaryGroups(u.name, p.User.GID), p.User.AdditionalGids...)
		}
	} else if u, err := lookupPasswd(strconv.Itoa(int(p.User.UID))); err == nil {
		home = u.home
	}
	if envValue(p.Env, "HOME") == "" {
		if home == "" {
			home = "/"
			if p.User.UID == 0 {
				home = "/root"
			}
		}
		p.Env = append(p.Env, "HOME="+home)
	}
	return nil
}

// switchUser makes the process the spec's user: groups, then gid, then uid.
// Each of these calls is made on every thread of the process (Go's setxid
// broadcast, a signal per thread), so what already holds is left alone:
// for a root container, usually all of it.
func switchUser(u specs.User) error {
	groups := make([]int, len(u.AdditionalGids))
	for i, g := range u.AdditionalGids {
		groups[i] = int(g)
	}
	if have, err := unix.Getgroups(); err != nil || !sameInts(have, groups) {
		if err := unix.Setgroups(groups); err != nil {
			return fmt.Errorf("setgroups: %w", err)
		}
	}
	if r, e, s := unix.Getresgid(); r != int(u.GID) || e != int(u.GID) || s != int(u.GID) {
		if err := unix.Setresgid(int(u.GID), int(u.GID), int(u.GID)); err != nil {
			return fmt.Errorf("setgid %d: %w", u.GID, err)
		}
	}
	if r, e, s := unix.Getresuid(); r != int(u.UID) || e != int(u.UID) || s != int(u.UID) {
		if err := unix.Setresuid(int(u.UID), int(u.UID), int(u.UID)); err != nil {
			return fmt.Errorf("setuid %d: %w", u.UID, err)
		}
	}
	return nil
}

func sameInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	seen := map[int]bool{}
	for _, x := range a {
		seen[x] = true
	}
	for _, x := range b {
		if !seen[x] {
			return false
		}
	}
	return true
}

type passwdEntry struct {
	name     string
	uid, gid uint32
	home     string
}

// lookupPasswd finds a user by name or number; a number not in /etc/passwd
// is still that uid (with gid 0), as in Docker.
func lookupPasswd(who string) (passwdEntry, error) {
	n, numErr := strconv.ParseUint(who, 10, 32)
	var found *passwdEntry
	eachLine("/etc/passwd", func(f []string) bool {
		if len(f) < 6 {
			return true
		}
		uid, err1 := strconv.ParseUint(f[2], 10, 32)
		gid, err2 := strconv.ParseUint(f[3], 10, 32)
		if err1 != nil || err2 != nil {
			return true
		}
		if f[0] == who || (numErr == nil && uid == n) {
			found = &passwdEntry{name: f[0], uid: uint32(uid), gid: uint32(gid), home: f[5]}
			return false
		}
		return true
	})
	if found != nil {
		return *found, nil
	}
	if numErr == nil {
		return passwdEntry{uid: uint32(n)}, nil
	}
	return passwdEntry{}, fmt.Errorf("unable to find user %s: no matching entries in passwd file", who)
}

func lookupGroup(which string) (uint32, error) {
	if n, err := strconv.ParseUint(which, 10, 32); err == nil {
		return uint32(n), nil
	}
	var gid *uint32
	eachLine("/etc/group", func(f []string) bool {
		if len(f) >= 3 && f[0] == which {
			if n, err := strconv.ParseUint(f[2], 10, 32); err == nil {
				g := uint32(n)
				gid = &g
				return false
			}
		}
		return true
	})
	if gid == nil {
		return 0, fmt.Errorf("unable to find group %s: no matching entries in group file", which)
	}
	return *gid, nil
}

// supplementaryGroups lists the groups /etc/group makes user a member of.
func supplementaryGroups(user string, primary uint32) []uint32 {
	var out []uint32
	eachLine("/etc/group", func(f []string) bool {
		if len(f) < 4 {
			return true
		}
		for _, m := range strings.Split(f[3], ",") {
			if m == user {
				if n, err := strconv.ParseUint(f[2], 10, 32); err == nil && uint32(n) != primary {
					out = append(out, uint32(n))
				}
			}
		}
		return true
	})
	return out
}

// eachLine calls fn with the colon-separated fields of each line of a file
// that may be missing; fn returns false to stop.
func eachLine(path string, fn func([]string) bool) {
	f, err := os.Open(path)
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if !fn(strings.Split(line, ":")) {
			return
		}
	}
}
