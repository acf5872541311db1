package container

import (
	"fmt"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// ResourceOptions are the resource flags of `run` as typed by the user.
type ResourceOptions struct {
	Memory     string
	MemorySwap string
	CPUs       string
	CPUShares  int64
	CpusetCpus string
	CpusetMems string
	PidsLimit  int64
}

// parseVolume turns "-v HOST:CONTAINER[:ro|rw]" into a bind mount.
func parseVolume(v string) (specs.Mount, error) {
	parts := strings.Split(v, ":")
	bad := func(why string) (specs.Mount, error) {
		return specs.Mount{}, fmt.Errorf("invalid volume specification: '%s': %s", v, why)
	}
	if len(parts) < 2 || len(parts) > 3 {
		return bad("expected HOST:CONTAINER[:ro|rw]")
	}
	host, dest := parts[0], parts[1]
	mode := "rw"
	if len(parts) == 3 {
		mode = parts[2]
	}
	if host == "" || dest == "" {
		return bad("empty path")
	}
	if !filepath.IsAbs(host) {
		return bad("the host path must be absolute (named volumes are not supported)")
	}
	if !filepath.IsAbs(dest) {
		return bad("the container path must be absolute")
	}
	if filepath.Clean(dest) == "/" {
		return bad("the container path cannot be '/'")
	}
	opts := []string{"rbind", "rprivate"}
	switch mode {
	case "rw":
	case "ro":
		opts = append(opts, "ro")
	default:
		return bad(fmt.Sprintf("unknown mode %q (ro or rw)", mode))
	}
	return specs.Mount{Destination: filepath.Clean(dest), Type: "bind", Source: filepath.Clean(host), Options: opts}, nil
}
