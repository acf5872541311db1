package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/urfave/cli/v3"
	"golang.org/x/term"

	"github.com/mydocker/mydocker/container"
	"github.com/mydocker/mydocker/image"
)

// The image commands: flags into one call each, as in command.go.

func pullCommand() *cli.Command {
	return &cli.Command{
		Name: "pull", Usage: "pull an image from a registry", ArgsUsage: "NAME[:TAG|@DIGEST]",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "platform", Usage: "pull for `OS/ARCH[/VARIANT]` (default: the host's)"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print only the image's name"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			ref, err := oneArg(cmd, "NAME[:TAG|@DIGEST]")
			if err != nil {
				return err
			}
			return general(runtimeFor(cmd).Pull(ctx, ref, cmd.String("platform"), cmd.Bool("quiet"), os.Stdout))
		},
	}
}

func imagesFlags() []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "only show image IDs"},
		&cli.BoolFlag{Name: "digests", Usage: "show digests"},
		&cli.BoolFlag{Name: "no-trunc", Usage: "do not truncate output"},
		&cli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "accepted for Docker compatibility: every image is listed"},
	}
}

func imagesAction(ctx context.Context, cmd *cli.Command) error {
	return general(runtimeFor(cmd).PrintImages(os.Stdout, container.ImagesOptions{
		Quiet: cmd.Bool("quiet"), Digests: cmd.Bool("digests"), NoTrunc: cmd.Bool("no-trunc")}))
}

func imagesCommand() *cli.Command {
	return &cli.Command{Name: "images", Usage: "list images", Flags: imagesFlags(), Action: imagesAction}
}

func rmiCommand(name string) *cli.Command {
	return &cli.Command{
		Name: name, Usage: "remove images", ArgsUsage: "IMAGE...",
		Flags: []cli.Flag{&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "remove every name of the image, even while a container uses it"}},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			return eachArgQuiet(cmd, func(ref string) error {
				return runtimeFor(cmd).RemoveImage(ref, cmd.Bool("force"), os.Stdout)
			})
		},
	}
}

func tagCommand() *cli.Command {
	return &cli.Command{
		Name: "tag", Usage: "give an image another name", ArgsUsage: "SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.NArg() != 2 {
				return usage(errors.New("requires exactly 2 arguments: SOURCE_IMAGE TARGET_IMAGE"))
			}
			return general(runtimeFor(cmd).Images.Tag(cmd.Args().Get(0), cmd.Args().Get(1)))
		},
	}
}

func historyCommand() *cli.Command {
	return &cli.Command{
		Name: "history", Usage: "show the history of an image", ArgsUsage: "IMAGE",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "no-trunc", Usage: "do not truncate output"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "only show image IDs"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			ref, err := oneArg(cmd, "IMAGE")
			if err != nil {
				return err
			}
			return general(runtimeFor(cmd).History(ref, cmd.Bool("no-trunc"), cmd.Bool("quiet"), os.Stdout))
		},
	}
}

func imageInspectCommand() *cli.Command {
	return &cli.Command{
		Name: "inspect", Usage: "show images as JSON", ArgsUsage: "IMAGE...",
		Flags: []cli.Flag{&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Usage: "format the output with a Go template"}},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.NArg() == 0 {
				return usage(errors.New("requires at least 1 argument"))
			}
			return general(runtimeFor(cmd).ImageInspect(cmd.Args().Slice(), cmd.String("format"), os.Stdout))
		},
	}
}

func imagePruneCommand() *cli.Command {
	return &cli.Command{
		Name: "prune", Usage: "remove unnamed images, and the layers only they had",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "remove every image no container uses"},
			&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "accepted for Docker compatibility: no prompt is shown"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			return general(runtimeFor(cmd).PruneImages(cmd.Bool("all"), os.Stdout))
		},
	}
}

// imageCommand is the `image` group, Docker's newer spelling of the same
// commands.
func imageCommand() *cli.Command {
	return &cli.Command{
		Name: "image", Usage: "manage images",
		Commands: []*cli.Command{
			{Name: "ls", Aliases: []string{"list"}, Usage: "list images", Flags: imagesFlags(), Action: imagesAction},
			imageInspectCommand(), rmiCommand("rm"), imagePruneCommand(), pullCommand(), tagCommand(),
			historyCommand(), saveCommand(), loadCommand(), importCommand(),
		},
	}
}

func commitCommand() *cli.Command {
	return &cli.Command{
		Name: "commit", Usage: "make a new image of a container's changes", ArgsUsage: "CONTAINER [REPOSITORY[:TAG]]",
		DisableSliceFlagSeparator: true, // CMD ["a", "b"] is one change
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "change", Aliases: []string{"c"}, Usage: "apply a Dockerfile instruction (CMD, ENTRYPOINT, ENV, WORKDIR, USER, EXPOSE, LABEL, STOPSIGNAL)"},
			&cli.StringFlag{Name: "message", Aliases: []string{"m"}, Usage: "commit message"},
			&cli.StringFlag{Name: "author", Aliases: []string{"a"}, Usage: "author"},
			&cli.BoolFlag{Name: "pause", Aliases: []string{"p"}, Value: true, Usage: "accepted for Docker compatibility: the container is not paused"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if n := cmd.NArg(); n < 1 || n > 2 {
				return usage(errors.New("requires 1 or 2 arguments: CONTAINER [REPOSITORY[:TAG]]"))
			}
			return general(runtimeFor(cmd).Commit(cmd.Args().Get(0), container.CommitOptions{
				Ref: cmd.Args().Get(1), Changes: cmd.StringSlice("change"),
				Message: cmd.String("message"), Author: cmd.String("author")}, os.Stdout))
		},
	}
}

// output opens -o FILE, or stdout when it is not a terminal.
func output(cmd *cli.Command, what string) (io.WriteCloser, error) {
	if p := cmd.String("output"); p != "" && p != "-" {
		return os.Create(p)
	}
	if term.IsTerminal(int(os.Stdout.Fd())) {
		return nil, usage(fmt.Errorf("cowardly refusing to write %s to a terminal: use -o FILE or redirect", what))
	}
	return nopCloser{os.Stdout}, nil
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// writeOutput runs write into -o FILE (removed again if it fails) or stdout.
func writeOutput(cmd *cli.Command, what string, write func(io.Writer) error) error {
	w, err := output(cmd, what)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	err = write(bw)
	if err == nil {
		err = bw.Flush()
	}
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		if p := cmd.String("output"); p != "" && p != "-" {
			os.Remove(p)
		}
		return general(err)
	}
	return nil
}

func saveCommand() *cli.Command {
	return &cli.Command{
		Name: "save", Usage: "write images to a tarball in `docker save` format", ArgsUsage: "IMAGE...",
		Flags: []cli.Flag{&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write to `FILE` instead of stdout"}},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.NArg() == 0 {
				return usage(errors.New("requires at least 1 argument"))
			}
			images := runtimeFor(cmd).Images
			for _, ref := range cmd.Args().Slice() { // fail before creating the file
				if _, err := images.Get(ref); err != nil {
					return general(err)
				}
			}
			return writeOutput(cmd, "images", func(w io.Writer) error { return images.Save(cmd.Args().Slice(), w) })
		},
	}
}

func loadCommand() *cli.Command {
	return &cli.Command{
		Name: "load", Usage: "load images from a `docker save` tarball",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "input", Aliases: []string{"i"}, Value: "-", Usage: "read `FILE` instead of stdin"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print nothing"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			loaded, err := runtimeFor(cmd).Images.Load(cmd.String("input"))
			for _, l := range loaded {
				if cmd.Bool("quiet") {
					continue
				}
				for _, t := range l.Tags {
					fmt.Printf("Loaded image: %s\n", t)
				}
				if len(l.Tags) == 0 {
					fmt.Printf("Loaded image ID: %s\n", l.Image.ID)
				}
			}
			return general(err)
		},
	}
}

func exportCommand() *cli.Command {
	return &cli.Command{
		Name: "export", Usage: "write a container's filesystem as a tarball", ArgsUsage: "CONTAINER",
		Flags: []cli.Flag{&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write to `FILE` instead of stdout"}},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			ref, err := oneArg(cmd, "CONTAINER")
			if err != nil {
				return err
			}
			rt := runtimeFor(cmd)
			if _, err := rt.Lookup(ref); err != nil {
				return general(err)
			}
			return writeOutput(cmd, "a filesystem", func(w io.Writer) error { return rt.Export(ref, w) })
		},
	}
}

func importCommand() *cli.Command {
	return &cli.Command{
		Name: "import", Usage: "make an image of a rootfs tarball (plain, gzip or zstd; - for stdin)", ArgsUsage: "FILE|- [REPOSITORY[:TAG]]",
		DisableSliceFlagSeparator: true,
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "change", Aliases: []string{"c"}, Usage: "apply a Dockerfile instruction"},
			&cli.StringFlag{Name: "message", Aliases: []string{"m"}, Usage: "commit message"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if n := cmd.NArg(); n < 1 || n > 2 {
				return usage(errors.New("requires 1 or 2 arguments: FILE|- [REPOSITORY[:TAG]]"))
			}
			img, err := runtimeFor(cmd).Images.Import(cmd.Args().Get(0), cmd.Args().Get(1), cmd.StringSlice("change"), cmd.String("message"))
			if err != nil {
				return general(err)
			}
			fmt.Println(img.ID)
			return nil
		},
	}
}

func loginCommand() *cli.Command {
	return &cli.Command{
		Name: "login", Usage: "log in to a registry (credentials kept as Docker keeps them)", ArgsUsage: "[SERVER]",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "username", Aliases: []string{"u"}, Usage: "user name"},
			&cli.StringFlag{Name: "password", Aliases: []string{"p"}, Usage: "password (prefer --password-stdin)"},
			&cli.BoolFlag{Name: "password-stdin", Usage: "read the password from stdin"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.NArg() > 1 {
				return usage(errors.New("requires at most 1 argument: [SERVER]"))
			}
			user, password := cmd.String("username"), cmd.String("password")
			if cmd.Bool("password-stdin") {
				if password != "" {
					return usage(errors.New("--password and --password-stdin are mutually exclusive"))
				}
				data, err := io.ReadAll(os.Stdin)
				if err != nil {
					return general(err)
				}
				password = strings.TrimRight(string(data), "\r\n")
			}
			if err := promptCredentials(&user, &password); err != nil {
				return general(err)
			}
			rt := runtimeFor(cmd)
			if err := image.Login(ctx, cmd.Args().First(), user, password, rt.Registry); err != nil {
				return general(err)
			}
			fmt.Println("Login Succeeded")
			return nil
		},
	}
}

// promptCredentials asks at the terminal for what the flags left out.
func promptCredentials(user, password *string) error {
	if *user != "" && *password != "" {
		return nil
	}
	if !term.IsTerminal(int(os.Stdin.Fd())) {
		return errors.New("cannot prompt for credentials without a terminal: use --username and --password-stdin")
	}
	if *user == "" {
		fmt.Fprint(os.Stderr, "Username: ")
		line, err := bufio.NewReader(os.Stdin).ReadString('\n')
		if err != nil {
			return err
		}
		*user = strings.TrimSpace(line)
	}
	if *password == "" {
		fmt.Fprint(os.Stderr, "Password: ")
		pw, err := term.ReadPassword(int(os.Stdin.Fd()))
		fmt.Fprintln(os.Stderr)
		if err != nil {
			return err
		}
		*password = string(pw)
	}
	return nil
}

func logoutCommand() *cli.Command {
	return &cli.Command{
		Name: "logout", Usage: "forget the credentials of a registry", ArgsUsage: "[SERVER]",
		Action: func(ctx context.Context, cmd *cli.Command) error {
			rt := runtimeFor(cmd)
			key := image.ServerKey(cmd.Args().First(), rt.Registry)
			had, err := image.Logout(cmd.Args().First(), rt.Registry)
			if err != nil {
				return general(err)
			}
			if had {
				fmt.Printf("Removing login credentials for %s\n", key)
			} else {
				fmt.Printf("Not logged in to %s\n", key)
			}
			return nil
		},
	}
}
