package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/mydocker/mydocker/container"
	"github.com/mydocker/mydocker/internal/errdefs"
	"github.com/mydocker/mydocker/network"
)

// Every user command: flags into an options struct, then one call into a
// package. No logic lives here.

// stopAt1 makes flag parsing stop at the first argument (the image, or the
// container for exec), so the command's own flags reach the command.
var stopAt1 = func() *int { n := 1; return &n }()

func commands() []*cli.Command {
	return []*cli.Command{
		runCommand(),
		{
			Name: "ps", Usage: "list containers",
			Flags: []cli.Flag{
				&cli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "show all containers (default shows just running)"},
				&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "only display container IDs"},
				&cli.BoolFlag{Name: "no-trunc", Usage: "do not truncate output"},
				&cli.StringSliceFlag{Name: "filter", Aliases: []string{"f"}, Usage: "filter: id, name, label, status, ancestor, network (KEY=VALUE)"},
				&cli.IntFlag{Name: "last", Aliases: []string{"n"}, Usage: "show the n last created containers (all states)"},
				&cli.BoolFlag{Name: "latest", Aliases: []string{"l"}, Usage: "show the latest created container"},
				&cli.StringFlag{Name: "format", Usage: "format rows with a Go template ({{.ID}} {{.Names}} ...; 'table ...' adds a header)"},
				&cli.BoolFlag{Name: "size", Aliases: []string{"s"}, Usage: "show the size of each container's writable layer (and with its image)"},
			},
			Action: func(ctx context.Context, cmd *cli.Command) error {
				last := int(cmd.Int("last"))
				if cmd.Bool("latest") {
					last = 1
				}
				return runtimeFor(cmd).Ps(os.Stdout, container.PsOptions{
					All: cmd.Bool("all"), Quiet: cmd.Bool("quiet"), NoTrunc: cmd.Bool("no-trunc"),
					Filters: cmd.StringSlice("filter"), Last: last, Format: cmd.String("format"), Size: cmd.Bool("size")})
			},
		},
		{
			Name: "logs", Usage: "fetch the logs of a container", ArgsUsage: "CONTAINER",
			Flags: []cli.Flag{
				&cli.BoolFlag{Name: "follow", Aliases: []string{"f"}, Usage: "follow log output until the container exits"},
				&cli.StringFlag{Name: "tail", Aliases: []string{"n"}, Value: "all", Usage: "number of lines to show from the end"},
				&cli.BoolFlag{Name: "timestamps", Aliases: []string{"t"}, Usage: "show timestamps"},
				&cli.BoolFlag{Name: "details", Usage: "show the attributes --log-opt labels= and env= give each line"},
				&cli.StringFlag{Name: "since", Usage: "show lines since a time (RFC 3339, Unix seconds, or a duration such as 10m)"},
				&cli.StringFlag{Name: "until", Usage: "show lines until a time (as --since)"},
			},
			Action: func(ctx context.Context, cmd *cli.Command) error {
				ref, err := oneArg(cmd, "CONTAINER")
				if err != nil {
					return err
				}
				tail, err := container.ParseTail(cmd.String("tail"))
				if err != nil {
					return usage(err)
				}
				now := time.Now()
				since, err := container.ParseLogTime(cmd.String("since"), now)
				if err != nil {
					return usage(fmt.Errorf("--since: %w", err))
				}
				until, err := container.ParseLogTime(cmd.String("until"), now)
				if err != nil {
					return usage(fmt.Errorf("--until: %w", err))
				}
				return general(runtimeFor(cmd).Logs(ref, container.LogsOptions{
					Follow: cmd.Bool("follow"), Tail: tail, Timestamps: cmd.Bool("timestamps"), Details: cmd.Bool("details"), Since: since, Until: until}, os.Stdout, os.Stderr))
			},
		},
		{
			Name: "stop", Usage: "stop running containers (SIGTERM, then SIGKILL after the timeout)", ArgsUsage: "CONTAINER...",
			Flags: []cli.Flag{
				&cli.IntFlag{Name: "time", Aliases: []string{"t"}, Value: 10, Usage: "seconds to wait before killing"},
			},
			Action: func(ctx context.Context, cmd *cli.Command) error {
				return eachArg(cmd, func(ref string) error {
					return runtimeFor(cmd).Stop(ref, time.Duration(cmd.Int("time"))*time.Second)
				})
			},
		},
		{
			Name: "restart", Usage: "stop containers, then start them again (detached)", ArgsUsage: "CONTAINER...",
			Flags: []cli.Flag{
				&cli.IntFlag{Name: "time", Aliases: []string{"t"}, Value: 10, Usage: "seconds to wait before killing"},
			},
			Action: func(ctx context.Context, cmd *cli.Command) error {
				return eachArg(cmd, func(ref string) error {
					return runtimeFor(cmd).Restart(ref, time.Duration(cmd.Int("time"))*time.Second)
				})
			},
		},
		{
			Name: "kill", Usage: "send a signal to running containers", ArgsUsage: "CONTAINER...",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "signal", Aliases: []string{"s"}, Value: "KILL", Usage: "signal to send"},
			},
			Action: func(ctx context.Context, cmd *cli.Command) error {
				sig, err := container.ParseSignal(cmd.String("signal"))
				if err != nil {
					return usage(err)
				}
				return eachArg(cmd, func(ref string) error { return runtimeFor(cmd).Kill(ref, sig) })
			},
		},
		{
			Name: "rm", Usage: "remove containers", ArgsUsage: "CONTAINER...",
			Flags: []cli.Flag{
				&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "kill and remove a running container"},
				&cli.BoolFlag{Name: "volumes", Aliases: []string{"v"}, Usage: "accepted for Docker compatibility: bind mounts are never removed"},
			},
			Action: func(ctx context.Context, cmd *cli.Command) error {
				if cmd.NArg() == 0 {
					return usage(errors.New("requires at least 1 argument"))
				}
				return runtimeFor(cmd).Remove(cmd.Args().Slice(), cmd.Bool("force"), os.Stdout)
			},
		},
		{
			Name: "inspect", Usage: "show containers' records as JSON", ArgsUsage: "CONTAINER...",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Usage: "format the output with a Go template"},
			},
			Action: func(ctx context.Context, cmd *cli.Command) error {
				if cmd.NArg() == 0 {
					return usage(errors.New("requires at least 1 argument"))
				}
				return general(runtimeFor(cmd).Inspect(cmd.Args().Slice(), cmd.String("format"), os.Stdout))
			},
		},
		pullCommand(),
		imagesCommand(),
		rmiCommand("rmi"),
		tagCommand(),
		historyCommand(),
		commitCommand(),
		saveCommand(),
		loadCommand(),
		exportCommand(),
		importCommand(),
		loginCommand(),
		logoutCommand(),
		imageCommand(),
		{
			Name: "exec", Usage: "run a command in a running container", ArgsUsage: "CONTAINER COMMAND [ARG...]",
			StopOnNthArg:              stopAt1,
			UseShortOptionHandling:    true,
			DisableSliceFlagSeparator: true,
			Flags:                     processFlags(),
			Action: func(ctx context.Context, cmd *cli.Command) error {
				if cmd.NArg() < 2 {
					return usage(errors.New("requires at least 2 arguments: CONTAINER COMMAND"))
				}
				args := cmd.Args().Slice()
				return runtimeFor(cmd).Exec(args[0], &container.ExecOptions{
					Args: args[1:], Env: cmd.StringSlice("env"), Workdir: cmd.String("workdir"), User: cmd.String("user"), Privileged: cmd.Bool("privileged"),
					Interactive: cmd.Bool("interactive"), TTY: cmd.Bool("tty")})
			},
		},
		{
			Name: "start", Usage: "start stopped containers (detached, with their recorded settings)", ArgsUsage: "CONTAINER...",
			Action: func(ctx context.Context, cmd *cli.Command) error {
				return eachArg(cmd, func(ref string) error { return runtimeFor(cmd).Start(ref) })
			},
		},
		networkCommand(),
		attachCommand(),
		pauseCommand(),
		unpauseCommand(),
		waitCommand(),
		renameCommand(),
		diffCommand(),
		topCommand(),
		cpCommand(),
		statsCommand(),
		containerCommand(),
		{
			Name: "port", Usage: "list a container's published ports", ArgsUsage: "CONTAINER",
			Action: func(ctx context.Context, cmd *cli.Command) error {
				ref, err := oneArg(cmd, "CONTAINER")
				if err != nil {
					return err
				}
				return general(runtimeFor(cmd).Port(ref, os.Stdout))
			},
		},
		{
			Name: "reap", Hidden: true, Usage: "internal: PID 1 under --init, reaping zombies", SkipFlagParsing: true,
			Action: func(ctx context.Context, cmd *cli.Command) error {
				return container.Reap(cmd.Args().Slice())
			},
		},
		{
			Name: "monitor", Hidden: true, Usage: "internal: supervises a detached container", ArgsUsage: "ID",
			Flags: []cli.Flag{&cli.BoolFlag{Name: "attached", Usage: "a client's connection is fd 5"}},
			Action: func(ctx context.Context, cmd *cli.Command) error {
				return runtimeFor(cmd).Monitor(cmd.Args().First(), cmd.Bool("attached"))
			},
		},
	}
}

func runCommand() *cli.Command {
	return &cli.Command{
		Name: "run", Usage: "create and run a new container", ArgsUsage: "IMAGE [COMMAND [ARG...]]",
		StopOnNthArg:              stopAt1,
		UseShortOptionHandling:    true,
		DisableSliceFlagSeparator: true,
		Flags: append(processFlags(),
			&cli.BoolFlag{Name: "detach", Aliases: []string{"d"}, Usage: "run in the background and print the container ID"},
			&cli.StringFlag{Name: "detach-keys", Usage: "the keys that detach from the container's terminal (default ctrl-p,ctrl-q)"},
			&cli.BoolFlag{Name: "rm", Usage: "remove the container when it exits"},
			&cli.StringFlag{Name: "name", Usage: "assign a name to the container"},
			&cli.StringFlag{Name: "hostname", Usage: "container host name (default: the short ID)"},
			&cli.StringSliceFlag{Name: "volume", Aliases: []string{"v"}, Usage: "bind mount a volume: HOST:CONTAINER[:ro]"},
			&cli.StringFlag{Name: "network", Aliases: []string{"net"}, Usage: "connect to a network (bridge, none, host, or a network's name)"},
			&cli.StringSliceFlag{Name: "network-alias", Usage: "another name for the container on its (user-defined) network"},
			&cli.StringSliceFlag{Name: "dns", Usage: "a nameserver for the container, in place of the host's"},
			&cli.StringSliceFlag{Name: "publish", Aliases: []string{"p"}, Usage: "publish a port: [[IP:]HOST:]CONTAINER[/tcp|/udp]"},
			&cli.BoolFlag{Name: "publish-all", Aliases: []string{"P"}, Usage: "publish every port the image exposes on a free host port"},
			&cli.StringFlag{Name: "entrypoint", Usage: "override the image's ENTRYPOINT (\"\" clears it)"},
			&cli.StringFlag{Name: "pull", Value: "missing", Usage: "pull the image: missing, always or never"},
			&cli.StringSliceFlag{Name: "cap-add", Usage: "add a capability (NET_ADMIN, CAP_NET_ADMIN, ALL)"},
			&cli.StringSliceFlag{Name: "cap-drop", Usage: "drop a capability (or ALL)"},
			&cli.StringSliceFlag{Name: "device", Usage: "add a host device: HOST[:CONTAINER][:rwm]"},
			&cli.BoolFlag{Name: "read-only", Usage: "mount the container's root filesystem read-only"},
			&cli.StringSliceFlag{Name: "tmpfs", Usage: "mount a tmpfs: PATH[:OPTIONS]"},
			&cli.StringFlag{Name: "shm-size", Usage: "size of /dev/shm (default 64m)"},
			&cli.StringSliceFlag{Name: "ulimit", Usage: "resource limit: NAME=SOFT[:HARD] (nofile, nproc, core, ...)"},
			&cli.StringSliceFlag{Name: "sysctl", Usage: "a namespaced sysctl: KEY=VALUE (net.*, kernel.shm*, kernel.msg*, kernel.sem, fs.mqueue.*)"},
			&cli.StringSliceFlag{Name: "group-add", Usage: "an additional group, by number or by name in the image"},
			&cli.StringSliceFlag{Name: "label", Aliases: []string{"l"}, Usage: "set a label: KEY[=VALUE]"},
			&cli.BoolFlag{Name: "init", Usage: "run a reaper as PID 1 that forwards signals and reaps zombies"},
			&cli.StringSliceFlag{Name: "log-opt", Usage: "log rotation: max-size=SIZE, max-file=N (Docker's json-file options)"},
			&cli.StringFlag{Name: "restart", Value: "no", Usage: "restart policy: no, on-failure[:N], always, unless-stopped (with -d)"},
			&cli.StringFlag{Name: "userns", Usage: "remap: root in the container is an unprivileged uid of mydocker's /etc/subuid range"},
			&cli.StringSliceFlag{Name: "security-opt", Usage: "seccomp=unconfined|PROFILE.json, no-new-privileges[:true|false]"},
			&cli.StringFlag{Name: "memory", Aliases: []string{"m"}, Usage: "memory limit (e.g. 100m, 1g)"},
			&cli.StringFlag{Name: "memory-swap", Usage: "memory plus swap limit; -1 for unlimited swap"},
			&cli.StringFlag{Name: "cpus", Usage: "number of CPUs (e.g. 0.5)"},
			&cli.Int64Flag{Name: "cpu-shares", Aliases: []string{"cpushare", "c"}, Usage: "CPU shares (relative weight)"},
			&cli.StringFlag{Name: "cpuset-cpus", Aliases: []string{"cpuset"}, Usage: "CPUs in which to allow execution (0-3, 0,1)"},
			&cli.StringFlag{Name: "cpuset-mems", Usage: "memory nodes in which to allow execution"},
			&cli.Int64Flag{Name: "pids-limit", Usage: "tune the container's pids limit (-1 for unlimited)"},
		),
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.NArg() == 0 {
				return usage(errors.New("requires at least 1 argument: IMAGE"))
			}
			args := cmd.Args().Slice()
			if len(args) > 1 && args[1] == "--" {
				args = append(args[:1], args[2:]...)
			}
			restart, err := container.ParseRestart(cmd.String("restart"))
			if err != nil {
				return usage(err)
			}
			logOpts, err := container.ParseLogOpts(cmd.StringSlice("log-opt"))
			if err != nil {
				return usage(err)
			}
			var entrypoint *string
			if cmd.IsSet("entrypoint") {
				e := cmd.String("entrypoint")
				entrypoint = &e
			}
			return runtimeFor(cmd).Run(ctx, &container.RunOptions{
				Image: args[0], Args: args[1:], Entrypoint: entrypoint, User: cmd.String("user"),
				PublishAll: cmd.Bool("publish-all"), Pull: cmd.String("pull"), Devices: cmd.StringSlice("device"),
				Confine: container.ConfineOptions{ReadOnly: cmd.Bool("read-only"), Tmpfs: cmd.StringSlice("tmpfs"), ShmSize: cmd.String("shm-size"),
					Ulimits: cmd.StringSlice("ulimit"), Sysctls: cmd.StringSlice("sysctl"), GroupAdd: cmd.StringSlice("group-add")},
				Userns: cmd.String("userns"), Labels: cmd.StringSlice("label"), Init: cmd.Bool("init"), Restart: restart, Log: logOpts,
				Security: container.SecurityOptions{CapAdd: cmd.StringSlice("cap-add"), CapDrop: cmd.StringSlice("cap-drop"),
					Privileged: cmd.Bool("privileged"), SecurityOpt: cmd.StringSlice("security-opt")},
				Name: cmd.String("name"), Hostname: cmd.String("hostname"), Workdir: cmd.String("workdir"),
				Env: cmd.StringSlice("env"), Volumes: cmd.StringSlice("volume"),
				Interactive: cmd.Bool("interactive"), TTY: cmd.Bool("tty"), Detach: cmd.Bool("detach"), AutoRemove: cmd.Bool("rm"),
				DetachKeys: cmd.String("detach-keys"),
				Network:    cmd.String("network"), Publish: cmd.StringSlice("publish"),
				NetworkAliases: cmd.StringSlice("network-alias"), DNS: cmd.StringSlice("dns"),
				Resources: container.ResourceOptions{
					Memory: cmd.String("memory"), MemorySwap: cmd.String("memory-swap"), CPUs: cmd.String("cpus"),
					CPUShares: cmd.Int64("cpu-shares"), CpusetCpus: cmd.String("cpuset-cpus"), CpusetMems: cmd.String("cpuset-mems"),
					PidsLimit: cmd.Int64("pids-limit"),
				},
			}, os.Stdout)
		},
	}
}

// processFlags are the flags run and exec share: how the process is attached
// and what it sees.
func processFlags() []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: "interactive", Aliases: []string{"i"}, Usage: "keep stdin open"},
		&cli.BoolFlag{Name: "tty", Aliases: []string{"t"}, Usage: "allocate a pseudo-terminal"},
		&cli.StringSliceFlag{Name: "env", Aliases: []string{"e"}, Usage: "set environment variables (KEY=VALUE, or KEY to pass the host's value)"},
		&cli.StringFlag{Name: "workdir", Aliases: []string{"w"}, Usage: "working directory inside the container"},
		&cli.StringFlag{Name: "user", Aliases: []string{"u"}, Usage: "run as `USER[:GROUP]` (names or numbers, looked up in the container)"},
		&cli.BoolFlag{Name: "privileged", Usage: "every capability the host has; for run also no seccomp, no masked paths, every device"},
	}
}

func networkCommand() *cli.Command {
	return &cli.Command{
		Name: "network", Usage: "manage networks",
		Commands: []*cli.Command{
			{
				Name: "create", Usage: "create a network", ArgsUsage: "NAME",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "driver", Aliases: []string{"d"}, Value: "bridge", Usage: "driver (bridge)"},
					&cli.StringFlag{Name: "subnet", Usage: "subnet in CIDR form (default: a free 172.17-31.0.0/16 or 192.168.x.0/20)"},
					&cli.StringFlag{Name: "gateway", Usage: "gateway address (default: the subnet's first)"},
					&cli.StringFlag{Name: "firewall", Usage: "backend of the network's rules: nftables or iptables (default: nftables where the kernel has it; $MYDOCKER_FIREWALL)"},
				},
				Action: func(ctx context.Context, cmd *cli.Command) error {
					name, err := oneArg(cmd, "NAME")
					if err != nil {
						return err
					}
					return general(runtimeFor(cmd).NetworkCreate(network.CreateOptions{Name: name,
						Driver: cmd.String("driver"), Subnet: cmd.String("subnet"), Gateway: cmd.String("gateway"),
						Firewall: cmd.String("firewall")}, os.Stdout))
				},
			},
			{
				Name: "ls", Aliases: []string{"list"}, Usage: "list networks",
				Flags: []cli.Flag{&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "only show network IDs"}},
				Action: func(ctx context.Context, cmd *cli.Command) error {
					return general(runtimeFor(cmd).NetworkList(os.Stdout, cmd.Bool("quiet")))
				},
			},
			{
				Name: "inspect", Usage: "show networks as JSON, with their containers", ArgsUsage: "NETWORK...",
				Flags: []cli.Flag{&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Usage: "format the output with a Go template"}},
				Action: func(ctx context.Context, cmd *cli.Command) error {
					if cmd.NArg() == 0 {
						return usage(errors.New("requires at least 1 argument"))
					}
					return general(runtimeFor(cmd).NetworkInspect(cmd.Args().Slice(), cmd.String("format"), os.Stdout))
				},
			},
			{
				Name: "rm", Aliases: []string{"remove"}, Usage: "remove networks (refused while containers are attached)", ArgsUsage: "NETWORK...",
				Action: func(ctx context.Context, cmd *cli.Command) error {
					if cmd.NArg() == 0 {
						return usage(errors.New("requires at least 1 argument"))
					}
					return runtimeFor(cmd).NetworkRemove(cmd.Args().Slice(), os.Stdout, os.Stderr)
				},
			},
		},
	}
}

// usage marks a command-line mistake: exit 125, as Docker's CLI does.
func usage(err error) error { return errdefs.WithCode(err, errdefs.CodeRuntime) }

// general gives an error without a code of its own exit 1, as Docker does
// for commands other than run.
func general(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := errdefs.Code(err); ok {
		return err
	}
	return errdefs.WithCode(err, errdefs.CodeGeneral)
}

func oneArg(cmd *cli.Command, what string) (string, error) {
	if cmd.NArg() != 1 {
		return "", usage(fmt.Errorf("requires exactly 1 argument: %s", what))
	}
	return cmd.Args().First(), nil
}

// eachArgQuiet is eachArg for commands that report each success themselves.
func eachArgQuiet(cmd *cli.Command, fn func(string) error) error { return forEachArg(cmd, fn, false) }

// eachArg runs fn for every argument, printing each that succeeded as
// Docker does, and fails (exit 1) if any did.
func eachArg(cmd *cli.Command, fn func(string) error) error { return forEachArg(cmd, fn, true) }

func forEachArg(cmd *cli.Command, fn func(string) error, printRef bool) error {
	if cmd.NArg() == 0 {
		return usage(errors.New("requires at least 1 argument"))
	}
	var failed bool
	for _, ref := range cmd.Args().Slice() {
		if err := fn(ref); err != nil {
			fmt.Fprintf(os.Stderr, "mydocker: %v\n", err)
			failed = true
			continue
		}
		if printRef {
			fmt.Println(ref)
		}
	}
	if failed {
		return errdefs.WithCode(errdefs.Quiet, errdefs.CodeGeneral)
	}
	return nil
}
