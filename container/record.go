package container

import (
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/mydocker/mydocker/cgroups"
	"github.com/mydocker/mydocker/network"
)

// Status is where a container is in its life.
type Status string

// The statuses a container record goes through.
const (
	Created Status = "created" // record made, process not (yet) started
	Running Status = "running"
	Exited  Status = "exited"
)

// Container is the record of one container, kept as
// <run>/containers/<id>/config.json.
type Container struct {
	ID      string    `json:"Id"`
	Name    string    `json:"Name"`
	Image   string    `json:"Image"`   // as the user named it
	ImageID string    `json:"ImageId"` // what it resolved to
	Created time.Time `json:"Created"`

	// Spec is the OCI runtime spec init runs; Config what the user asked for
	// beyond it (how to attach, what to clean up).
	Spec   *specs.Spec `json:"Spec"`
	Config Config      `json:"Config"`
	State  State       `json:"State"`

	// Rootfs is how the root filesystem is assembled.
	Rootfs Rootfs `json:"Rootfs"`
	// CgroupPath names the container's cgroup, relative to each hierarchy.
	CgroupPath string `json:"CgroupPath,omitempty"`
	// LogPath is where a detached container's output goes.
	LogPath string `json:"LogPath,omitempty"`
	// NetworkSettings is the container's endpoint while it runs on a
	// network: address, gateway, published ports.
	NetworkSettings *network.Endpoint `json:"NetworkSettings,omitempty"`
	// Usage is what the container's cgroup has used, read when inspected
	// while it runs; never stored.
	Usage *cgroups.Stats `json:"Usage,omitempty"`
}

// Config is what a container was asked to be, beyond its spec.
type Config struct {
	Tty         bool     `json:"Tty"`
	OpenStdin   bool     `json:"OpenStdin"`
	Detach      bool     `json:"Detach"`
	AutoRemove  bool     `json:"AutoRemove"`
	Volumes     []string `json:"Volumes,omitempty"` // as given with -v
	Cmd         []string `json:"Cmd"`
	Env         []string `json:"Env,omitempty"`         // as given with -e
	NetworkMode string   `json:"NetworkMode,omitempty"` // none, host, or a network's name
	// NetworkAliases are more names for the container on its network.
	NetworkAliases []string `json:"NetworkAliases,omitempty"`
	// DNS replaces the host's nameservers in the container's resolv.conf.
	DNS []string `json:"Dns,omitempty"`
	// PortBindings are the -p requests (host port 0: picked at start).
	PortBindings []network.PortMapping `json:"PortBindings,omitempty"`
	// User is who the command runs as (--user, else the image's USER).
	User string `json:"User,omitempty"`
	// Log is --log-opt: rotation of the log.
	Log LogOptions `json:"Log,omitempty"`
	// RestartPolicy is --restart.
	RestartPolicy RestartPolicy `json:"RestartPolicy"`
	// StopSignal is what stop sends first (the image's STOPSIGNAL; SIGTERM).
	StopSignal string            `json:"StopSignal,omitempty"`
	Labels     map[string]string `json:"Labels,omitempty"`
}

// State is what a container is doing now.
type State struct {
	Status Status `json:"Status"`
	// Pid is init's pid in the host's PID namespace; PidStart its start time
	// in clock ticks since boot, so that a recycled pid is never mistaken for
	// the container.
	Pid       int    `json:"Pid"`
	PidStart  uint64 `json:"PidStart,omitempty"`
	ExitCode  int    `json:"ExitCode"`
	OOMKilled bool   `json:"OOMKilled"`
	// Paused: its processes are frozen (pause); it is still running.
	Paused bool `json:"Paused"`
	// Restarting: its monitor waits to start it again (restart policy).
	Restarting bool `json:"Restarting"`
	// RestartCount is how many times its monitor started it again.
	RestartCount int `json:"RestartCount"`
	// StopRequested: stop or rm asked for its end, which is final.
	StopRequested bool      `json:"StopRequested,omitempty"`
	Error         string    `json:"Error,omitempty"`
	StartedAt     time.Time `json:"StartedAt"`
	FinishedAt    time.Time `json:"FinishedAt"`
}

// Rootfs is an overlay of image layers under a per-container upper dir.
type Rootfs struct {
	Lower []string `json:"Lower"` // layer dirs, top first
	Upper string   `json:"Upper"`
	Work  string   `json:"Work"`
	Dir   string   `json:"Dir"` // where it is mounted, in init's mount namespace only
	// UserXattr: mounted inside a user namespace, where overlay keeps its
	// marks in user.overlay.* xattrs.
	UserXattr bool `json:"UserXattr,omitempty"`
}

// ShortID is the 12-hex form of the ID that listings show.
func (c *Container) ShortID() string { return c.ID[:12] }
