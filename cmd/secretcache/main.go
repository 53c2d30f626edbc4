// Command secretcache runs the secretcache agent, a drop-in replacement for
// the AWS Secrets Manager Agent, and the tools around it. It holds flags,
// messages and exit codes only: the agent, the emulator and the cache are
// the packages agent, smtest and secretcache.
//
//	secretcache agent [flags]      serve secrets over loopback HTTP (AWS agent API)
//	secretcache agent --dev        the same on a built-in emulator: no AWS account needed
//	secretcache get ID [flags]     print one secret value, for scripts
//	secretcache exec [flags] -- C  run C with secrets in its environment, restart it on a change
//	secretcache render [flags]     render a template with secrets into a file, atomically
//	secretcache emulator [flags]   a local Secrets Manager for tests in any language
//	secretcache report [flags]     the monitoring report of a running agent
//	secretcache version            the version
//	secretcache help [command]     help on a command
//
// Every flag --some-name can also be set with the environment variable
// SECRETCACHE_SOME_NAME; a flag on the command line wins. Run
// "secretcache help COMMAND" for the flags of each command.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/internal/clip"
)

// Exit codes shared by all commands; get adds its own (see get.go).
const (
	exitOK    = 0
	exitError = 1 // a runtime failure
	exitUsage = 2 // bad flags, arguments or configuration
)

// cli holds what a command may touch: arguments, environment, output.
type cli struct {
	stdout, stderr io.Writer
	lookupEnv      func(string) (string, bool)
	argv0          string // the program's path, for the Lambda extension name
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	c := &cli{stdout: os.Stdout, stderr: os.Stderr, lookupEnv: os.LookupEnv, argv0: os.Args[0]}
	os.Exit(c.run(ctx, os.Args[1:]))
}

type command struct {
	name, summary string
	run           func(c *cli, ctx context.Context, args []string) int
	help          func(c *cli, w io.Writer)
}

func commands() []command {
	return []command{
		{"agent", "serve secrets over HTTP, compatible with the AWS Secrets Manager Agent", (*cli).agent, (*cli).agentHelp},
		{"get", "print one secret value (from a running agent, or from AWS with --direct)", (*cli).get, (*cli).getHelp},
		{"exec", "run a program with secrets in its environment; restart it when they change", (*cli).exec, (*cli).execHelp},
		{"render", "render a template with secrets into a file, atomically", (*cli).render, (*cli).renderHelp},
		{"emulator", "run a local AWS Secrets Manager emulator for tests in any language", (*cli).emulator, (*cli).emulatorHelp},
		{"report", "print the monitoring report of a running agent", (*cli).report, (*cli).reportHelp},
		{"version", "print the version", (*cli).version, (*cli).versionHelp},
		{"help", "show help for a command", (*cli).help, (*cli).helpHelp},
	}
}

func commandNames() string {
	var names []string
	for _, cmd := range commands() {
		names = append(names, cmd.name)
	}
	return strings.Join(names, ", ")
}

func findCommand(name string) (command, bool) {
	for _, cmd := range commands() {
		if cmd.name == name {
			return cmd, true
		}
	}
	return command{}, false
}

// run runs the command line args (without the program name) and returns the
// exit code.
func (c *cli) run(ctx context.Context, args []string) int {
	if len(args) == 0 {
		c.usage(c.stderr)
		return exitUsage
	}
	switch args[0] {
	case "-h", "-help", "--help":
		c.usage(c.stdout)
		return exitOK
	case "-v", "-version", "--version":
		return c.version(ctx, nil)
	}
	cmd, ok := findCommand(args[0])
	if !ok {
		fmt.Fprintf(c.stderr, "secretcache: unknown command %q; the commands are %s\n\n", clip.String(args[0], 64), commandNames())
		c.usage(c.stderr)
		return exitUsage
	}
	return cmd.run(c, ctx, args[1:])
}

func (c *cli) usage(w io.Writer) {
	fmt.Fprint(w, `secretcache: a fast, safe cache of AWS Secrets Manager secrets.

Usage:
  secretcache <command> [flags] [arguments]

Commands:
`)
	for _, cmd := range commands() {
		fmt.Fprintf(w, "  %-9s %s\n", cmd.name, cmd.summary)
	}
	fmt.Fprint(w, `
Start here (no AWS account needed):
  secretcache agent --dev

Every flag --some-name can also be set with the environment variable
SECRETCACHE_SOME_NAME; the command line wins.
Run "secretcache help <command>" for the flags of a command.
`)
}

func (c *cli) help(_ context.Context, args []string) int {
	if len(args) == 0 {
		c.usage(c.stdout)
		return exitOK
	}
	if args[0] == "-h" || args[0] == "-help" || args[0] == "--help" {
		c.helpHelp(c.stdout)
		return exitOK
	}
	cmd, ok := findCommand(args[0])
	if !ok {
		return c.usageErr("help", "unknown command %q; the commands are %s", clip.String(args[0], 64), commandNames())
	}
	cmd.help(c, c.stdout)
	return exitOK
}

func (c *cli) helpHelp(w io.Writer) {
	fmt.Fprint(w, "Usage: secretcache help [command]\n\nShows the flags and behaviour of a command.\n")
}

func versionString() string {
	return fmt.Sprintf("secretcache %s (%s, %s/%s)", secretcache.Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

func (c *cli) version(_ context.Context, args []string) int {
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
		c.versionHelp(c.stdout)
		return exitOK
	}
	if len(args) > 0 {
		return c.usageErr("version", "takes no arguments (got %q)", clip.String(args[0], 64))
	}
	fmt.Fprintln(c.stdout, versionString())
	return exitOK
}

func (c *cli) versionHelp(w io.Writer) {
	fmt.Fprint(w, "Usage: secretcache version   (or secretcache --version)\n\nPrints the version of secretcache, Go, and the platform.\n")
}

// usageErr reports a usage error of command cmd and returns exitUsage.
func (c *cli) usageErr(cmd, format string, args ...any) int {
	return c.fatal(cmd, exitUsage, fmt.Errorf(format, args...))
}

// fatal reports err as "secretcache CMD: message" and returns code, the
// one home of the commands' error lines. A message that already starts
// with the command's name ("agent: ...", from the agent package) does not
// repeat it, and the cache's own "secretcache: " prefix (of a
// *secretcache.Error, at the start or inside a wrapping error) is said
// once, by the line's.
func (c *cli) fatal(cmd string, code int, err error) int {
	msg := err.Error()
	for {
		rest, ok := strings.CutPrefix(msg, cmd+": ")
		if !ok {
			break
		}
		msg = rest
	}
	msg = strings.Replace(msg, "secretcache: ", "", 1)
	fmt.Fprintf(c.stderr, "secretcache %s: %s\n", cmd, msg)
	return code
}
