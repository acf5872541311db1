// Command mydocker is a daemonless container runtime: every command reads
// and writes state on disk and exits; a detached container is watched by a
// small monitor process (this binary, re-executed), never by a daemon.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/sirupsen/logrus"
	"github.com/urfave/cli/v3"

	"github.com/mydocker/mydocker/container"
	"github.com/mydocker/mydocker/image"
	"github.com/mydocker/mydocker/internal/errdefs"
	_ "github.com/mydocker/mydocker/nsenter" // joins a container's namespaces for exec, before Go starts
)

// version is set at build time (-ldflags "-X main.version=...").
var version = "dev"

const (
	defaultRunDir = "/var/run/mydocker"
	defaultLibDir = "/var/lib/mydocker"
)

func main() {
	// A container's init and a process exec'd into one are this binary run
	// again (mydocker init, mydocker execinit), on the path of every run and
	// exec: they go straight to their work, without the command line.
	if len(os.Args) == 2 {
		switch os.Args[1] {
		case "init":
			os.Exit(exitCode(container.Init()))
		case "execinit":
			os.Exit(exitCode(container.ExecInit()))
		}
	}
	app := &cli.Command{
		Name:                   "mydocker",
		Usage:                  "a daemonless container runtime",
		Version:                version,
		UseShortOptionHandling: true,
		// `mydocker completion bash|zsh|fish` prints a completion script.
		EnableShellCompletion: true,
		// "-e A=1,2" is one variable, not two.
		DisableSliceFlagSeparator: true,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "root", Usage: "keep all state under `DIR` (DIR/run and DIR/lib) instead of " + defaultRunDir + " and " + defaultLibDir, Sources: cli.EnvVars("MYDOCKER_ROOT")},
			&cli.StringFlag{Name: "log-level", Value: "warn", Usage: "debug, info, warn or error"},
			&cli.StringSliceFlag{Name: "insecure-registry", Usage: "reach registry `HOST[:PORT]` over plain HTTP (localhost and 127.0.0.0/8 always are)", Sources: cli.EnvVars("MYDOCKER_INSECURE_REGISTRIES")},
			// Set by mydocker itself when it re-executes: the resolved trees.
			&cli.StringFlag{Name: "state-dir", Hidden: true},
			&cli.StringFlag{Name: "data-dir", Hidden: true},
		},
		Before:         setup,
		Commands:       commands(),
		ExitErrHandler: func(context.Context, *cli.Command, error) {},
	}
	setUsageError(app)
	err := app.Run(context.Background(), os.Args)
	os.Exit(exitCode(err))
}

// setup applies the global flags before any command runs.
func setup(ctx context.Context, cmd *cli.Command) (context.Context, error) {
	lvl, err := logrus.ParseLevel(cmd.String("log-level"))
	if err != nil {
		return ctx, errdefs.WithCode(fmt.Errorf("invalid --log-level %q", cmd.String("log-level")), errdefs.CodeRuntime)
	}
	logrus.SetLevel(lvl)
	logrus.SetFormatter(&logrus.TextFormatter{DisableTimestamp: true})
	return ctx, nil
}

// runtimeFor returns the container runtime for the state tree the global
// flags name.
func runtimeFor(cmd *cli.Command) *container.Runtime {
	runDir, libDir := defaultRunDir, defaultLibDir
	if r := cmd.String("root"); r != "" {
		abs, err := filepath.Abs(r)
		if err == nil {
			r = abs
		}
		runDir, libDir = filepath.Join(r, "run"), filepath.Join(r, "lib")
	}
	if d := cmd.String("state-dir"); d != "" {
		runDir = d
	}
	if d := cmd.String("data-dir"); d != "" {
		libDir = d
	}
	self := []string{"/proc/self/exe", "--state-dir", runDir, "--data-dir", libDir, "--log-level", cmd.String("log-level")}
	rt := container.New(runDir, libDir, self)
	rt.Registry = image.RegistryOptions{Insecure: cmd.StringSlice("insecure-registry"), UserAgent: "mydocker/" + version}
	return rt
}

// exitCode reports err on one line and picks the exit code: the one err
// carries, else 125 for errors of mydocker itself.
func exitCode(err error) int {
	if err == nil {
		return 0
	}
	code, ok := errdefs.Code(err)
	if _, isStatus := err.(errdefs.Status); !isStatus && !errors.Is(err, errdefs.Quiet) {
		fmt.Fprintf(os.Stderr, "mydocker: %v\n", err)
	}
	if !ok {
		code = errdefs.CodeRuntime
	}
	return code
}

// setUsageError makes every command report a usage mistake in one line
// instead of printing its help.
func setUsageError(cmd *cli.Command) {
	cmd.OnUsageError = usageError
	for _, sub := range cmd.Commands {
		setUsageError(sub)
	}
}

func usageError(_ context.Context, cmd *cli.Command, err error, _ bool) error {
	return errdefs.WithCode(fmt.Errorf("%v (see 'mydocker %s --help')", err, cmd.Name), errdefs.CodeRuntime)
}
