package container

import (
	"errors"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/mydocker/mydocker/internal/errdefs"
)

// lookPath finds the command as the container sees it, with the container's
// PATH, and fails the way Docker does: 127 when there is nothing to run, 126
// when there is something that cannot be run.
func lookPath(file, pathEnv string) (string, error) {
	if strings.Contains(file, "/") {
		fi, err := os.Stat(file)
		if err != nil {
			return "", errdefs.Errorf(errdefs.CodeNotFound, "exec: %q: stat %s: no such file or directory", file, file)
		}
		if fi.IsDir() || unix.Access(file, unix.X_OK) != nil {
			return "", errdefs.Errorf(errdefs.CodeCannotExecute, "exec: %q: permission denied", file)
		}
		return file, nil
	}
	if pathEnv == "" {
		pathEnv = defaultPath
	}
	denied := false
	for _, dir := range filepath.SplitList(pathEnv) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, file)
		fi, err := os.Stat(p)
		if err != nil || fi.IsDir() {
			continue
		}
		if unix.Access(p, unix.X_OK) == nil {
			return p, nil
		}
		denied = true
	}
	if denied {
		return "", errdefs.Errorf(errdefs.CodeCannotExecute, "exec: %q: permission denied", file)
	}
	return "", errdefs.Errorf(errdefs.CodeNotFound, "exec: %q: executable file not found in $PATH", file)
}

// execError turns a failed execve into Docker's exit codes.
func execError(file string, err error) error {
	switch {
	case errors.Is(err, unix.ENOENT):
		// The file is there but its interpreter or loader is not.
		return errdefs.Errorf(errdefs.CodeNotFound, "exec: %q: no such file or directory", file)
	case errors.Is(err, unix.EACCES), errors.Is(err, unix.EPERM):
		return errdefs.Errorf(errdefs.CodeCannotExecute, "exec: %q: permission denied", file)
	case errors.Is(err, unix.ENOEXEC):
		return errdefs.Errorf(errdefs.CodeCannotExecute, "exec: %q: exec format error", file)
	}
	return errdefs.Errorf(errdefs.CodeCannotExecute, "exec: %q: %v", file, err)
}
