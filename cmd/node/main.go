// Command hearth runs a native hearth homeserver and administers it.
//
// Usage:
//
//	hearth [serve] [flags]            run the homeserver (the default)
//	hearth admin user create --user U --password P [--admin]
//	hearth admin token create [--uses N] [--expiry DURATION]
//	hearth version
//	hearth --help
//
// Every serve flag can also come from the environment, as HEARTH_ and the
// flag name in upper case with _ for - (HEARTH_SERVER_NAME), or from a YAML
// file named by --config, whose keys are the flag names with _ for -
// (server_name: example.org). A flag beats the environment, which beats the
// file, which beats the default. See docs/configuration.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is the program's version, set at link time with
// -ldflags "-X main.version=...".
var version = "dev"

// env is what a command gets from its process, so that tests can run
// commands in-process with their own environment.
type env struct {
	stdin     io.Reader
	stdout    io.Writer
	stderr    io.Writer
	lookupEnv func(string) (string, bool)
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	e := env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, lookupEnv: os.LookupEnv}
	if err := run(ctx, os.Args[1:], e); err != nil {
		if !errors.Is(err, errUsage) {
			fmt.Fprintln(os.Stderr, "hearth:", err)
		}
		os.Exit(2)
	}
}

// errUsage reports a usage error whose help text has been printed already.
var errUsage = errors.New("usage")

const usageText = `hearth is a Matrix homeserver: one core that runs natively (this program)
and in a browser as WebAssembly.

Usage:
  hearth [serve] [flags]        run the homeserver (the default command)
  hearth admin user create --user NAME --password PASSWORD [--admin]
                                create a user on the running node
  hearth admin token create [--uses N] [--expiry DURATION]
                                create a registration token on the running node
  hearth version                print the version
  hearth help, hearth --help    print this help; "hearth serve --help" and
                                "hearth admin ... --help" list their flags

Configuration: each serve flag may also be given as an environment variable,
HEARTH_ and the flag name in upper case with _ for - (HEARTH_SERVER_NAME), or
as a key in the YAML file named by --config, the flag name with _ for -
(server_name: example.org). A flag beats the environment, the environment
beats the file, and the file beats the default. The admin commands read the
same settings to find the node: its client URL (written into the data
directory while it runs) and its registration shared secret.

On first start hearth creates in the data directory: signing.key (the
server's ed25519 key), tls.crt and tls.key (a self-signed certificate for the
federation listener, unless --tls-cert and --tls-key are given),
registration_shared_secret (unless --registration-shared-secret is given) and
db/ (the database).
`

func run(ctx context.Context, args []string, e env) error {
	cmd := "serve"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serveCommand(ctx, args, e)
	case "admin":
		return adminCommand(ctx, args, e)
	case "version":
		fmt.Fprintln(e.stdout, "hearth", version)
		return nil
	case "help":
		fmt.Fprint(e.stdout, usageText)
		return nil
	}
	fmt.Fprintf(e.stderr, "hearth: unknown command %q\n\n%s", cmd, usageText)
	return errUsage
}

// newFlagSet returns a FlagSet for a command; its --help prints the general
// help if overview is set, then the command's synopsis and its flags.
func newFlagSet(name, synopsis string, overview bool, e env) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		out := fs.Output()
		if overview {
			fmt.Fprintf(out, "%s\n", usageText)
		}
		fmt.Fprintf(out, "Usage: %s\n\nFlags:\n", synopsis)
		printFlags(out, fs)
	}
	return fs
}

// parseFlags parses a command's flags and settings. It reports helped when
// --help printed the help, and errUsage for flag errors (already printed).
func parseFlags(fs *flag.FlagSet, args []string, e env) (helped bool, err error) {
	err = parseConfig(fs, args, e.lookupEnv)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return true, nil
	case errors.As(err, new(flagError)):
		return false, errUsage
	case err != nil:
		return false, err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(e.stderr, "hearth: unexpected arguments: %q\n", fs.Args())
		return false, errUsage
	}
	return false, nil
}

// flagError marks errors of the flag package, which prints them itself.
type flagError struct{ error }

// Unwrap returns the flag package's error.
func (e flagError) Unwrap() error { return e.error }
