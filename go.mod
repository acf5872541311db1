module github.com/mydocker/mydocker

go 1.26.0

require (
	github.com/opencontainers/runtime-spec v1.3.0
	github.com/sirupsen/logrus v1.10.2
	github.com/urfave/cli/v3 v3.14.0
	golang.org/x/sys v0.50.0
	golang.org/x/term v0.48.0
)

require (
	github.com/creack/pty v1.1.24
	github.com/vishvananda/netlink v1.3.1
	github.com/vishvananda/netns v0.0.5
)
