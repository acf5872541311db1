package main

import (
	"context"
	"errors"
	"os"
	"strings"

	"github.com/urfave/cli/v3"

	"github.com/mydocker/mydocker/container"
)

// The everyday container commands beyond the lifecycle: flags into one
// call each, as in command.go.

func pauseCommand() *cli.Command {
	return &cli.Command{
		Name: "pause", Usage: "freeze every process of running containers", ArgsUsage: "CONTAINER...",
		Action: func(ctx context.Context, cmd *cli.Command) error {
			return eachArg(cmd, func(ref string) error { return runtimeFor(cmd).Pause(ref) })
		},
	}
}

func unpauseCommand() *cli.Command {
	return &cli.Command{
		Name: "unpause", Usage: "resume paused containers", ArgsUsage: "CONTAINER...",
		Action: func(ctx context.Context, cmd *cli.Command) error {
			return eachArg(cmd, func(ref string) error { return runtimeFor(cmd).Unpause(ref) })
		},
	}
}

func attachCommand() *cli.Command {
	return &cli.Command{
		Name: "attach", Usage: "connect your terminal to a running container (ctrl-p ctrl-q leaves it running)", ArgsUsage: "CONTAINER",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "detach-keys", Usage: "the keys that detach (default ctrl-p,ctrl-q)"},
			&cli.BoolFlag{Name: "no-stdin", Usage: "do not attach stdin"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			ref, err := oneArg(cmd, "CONTAINER")
			if err != nil {
				return err
			}
			return general(runtimeFor(cmd).Attach(ref, container.AttachOptions{
				DetachKeys: cmd.String("detach-keys"), NoStdin: cmd.Bool("no-stdin")}))
		},
	}
}

func waitCommand() *cli.Command {
	return &cli.Command{
		Name: "wait", Usage: "block until containers stop, then print their exit codes", ArgsUsage: "CONTAINER...",
		Action: func(ctx context.Context, cmd *cli.Command) error {
			return eachArgQuiet(cmd, func(ref string) error { return runtimeFor(cmd).Wait(ref, os.Stdout) })
		},
	}
}

func renameCommand() *cli.Command {
	return &cli.Command{
		Name: "rename", Usage: "rename a container", ArgsUsage: "CONTAINER NEW_NAME",
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.NArg() != 2 {
				return usage(errors.New("requires exactly 2 arguments: CONTAINER NEW_NAME"))
			}
			return general(runtimeFor(cmd).Rename(cmd.Args().Get(0), cmd.Args().Get(1)))
		},
	}
}

func diffCommand() *cli.Command {
	return &cli.Command{
		Name: "diff", Usage: "list the changes to a container's filesystem (A added, C changed, D deleted)", ArgsUsage: "CONTAINER",
		Action: func(ctx context.Context, cmd *cli.Command) error {
			ref, err := oneArg(cmd, "CONTAINER")
			if err != nil {
				return err
			}
			return general(runtimeFor(cmd).Diff(ref, os.Stdout))
		},
	}
}

func topCommand() *cli.Command {
	return &cli.Command{
		Name: "top", Usage: "show a container's processes (ps options, -ef by default)", ArgsUsage: "CONTAINER [ps OPTIONS]",
		SkipFlagParsing: true,
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.NArg() == 0 {
				return usage(errors.New("requires at least 1 argument: CONTAINER"))
			}
			args := cmd.Args().Slice()
			return general(runtimeFor(cmd).Top(args[0], args[1:], os.Stdout))
		},
	}
}

// containerCommand is the `container` group, for what has no top-level name.
func containerCommand() *cli.Command {
	return &cli.Command{
		Name: "container", Usage: "manage containers",
		Commands: []*cli.Command{{
			Name: "prune", Usage: "remove every stopped container",
			Flags: []cli.Flag{&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "accepted for Docker compatibility: no prompt is shown"}},
			Action: func(ctx context.Context, cmd *cli.Command) error {
				return general(runtimeFor(cmd).Prune(os.Stdout))
			},
		}},
	}
}

func cpCommand() *cli.Command {
	return &cli.Command{
		Name: "cp", Usage: "copy files between a running container and the host", ArgsUsage: "CONTAINER:SRC HOSTDEST | HOSTSRC CONTAINER:DEST",
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.NArg() != 2 {
				return usage(errors.New("requires exactly 2 arguments: CONTAINER:SRC HOSTDEST or HOSTSRC CONTAINER:DEST"))
			}
			a, b := cmd.Args().Get(0), cmd.Args().Get(1)
			rt := runtimeFor(cmd)
			if ref, path, ok := strings.Cut(a, ":"); ok && !strings.Contains(b, ":") {
				return general(rt.CopyFromContainer(ref, path, b))
			}
			if ref, path, ok := strings.Cut(b, ":"); ok && !strings.Contains(a, ":") {
				return general(rt.CopyToContainer(a, ref, path))
			}
			return usage(errors.New("one of the two paths must be CONTAINER:PATH, and only one"))
		},
	}
}

func statsCommand() *cli.Command {
	return &cli.Command{
		Name: "stats", Usage: "show containers' resource usage (CPU, memory, network, block I/O, pids)", ArgsUsage: "[CONTAINER...]",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "no-stream", Usage: "print once and exit"},
			&cli.StringFlag{Name: "format", Usage: "format rows with a Go template ({{.Name}} {{.CPUPerc}} {{.MemUsage}} ...)"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			return general(runtimeFor(cmd).Stats(cmd.Args().Slice(), container.StatsOptions{
				NoStream: cmd.Bool("no-stream"), Format: cmd.String("format")}, os.Stdout))
		},
	}
}
