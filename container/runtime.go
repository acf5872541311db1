// Package container is what a container is and its whole life: the record
// kept on disk, building the spec from the user's flags and the image,
// starting init in new namespaces, supervising it (in the foreground or from
// a detached monitor), and tearing everything down again.
package container

import (
	"errors"
	"path/filepath"

	"github.com/mydocker/mydocker/image"
	"github.com/mydocker/mydocker/network"
)

// Runtime is mydocker's view of one state tree.
type Runtime struct {
	// RunDir holds runtime state (records, logs); LibDir what persists
	// (images, container layers).
	RunDir, LibDir string
	// SelfArgs re-runs this binary with the same state tree, for the
	// monitor: e.g. ["/proc/self/exe", "--state-dir", ...].
	SelfArgs []string

	Images *image.Store
	// Registry says how registries are reached (pull, run, login).
	Registry image.RegistryOptions
	Networks *network.Manager
	store    *store
}

// New returns the runtime for a state tree.
func New(runDir, libDir string, selfArgs []string) *Runtime {
	return &Runtime{
		RunDir:   runDir,
		LibDir:   libDir,
		SelfArgs: selfArgs,
		Images:   image.NewStore(libDir),
		Networks: network.NewManager(runDir, libDir),
		store:    &store{dir: filepath.Join(runDir, "containers")},
	}
}

var errNotRunning = errors.New("container is not running")
