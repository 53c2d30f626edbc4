package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"time"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/internal/clip"
	"github.com/secretcache/secretcache/render"
)

type renderFlags struct {
	fs                                  *flag.FlagSet
	src                                 *sourceFlags
	template, out, mode, dirMode, owner *string
	commandTimeout                      *time.Duration
}

func newRenderFlags() *renderFlags {
	fs := flag.NewFlagSet("render", flag.ContinueOnError)
	return &renderFlags{
		fs:             fs,
		src:            addSourceFlags(fs, false),
		template:       fs.String("template", "", "the template `file` (Go text/template; see help render)"),
		out:            fs.String("out", "", "the destination `file`, replaced atomically"),
		mode:           fs.String("mode", "0600", "the destination's permission bits, in `octal`"),
		dirMode:        fs.String("dir-mode", "0700", "the permission bits of directories created for it, in `octal`"),
		owner:          fs.String("owner", "", "the destination's owner, `UID[:GID]` (numeric; needs the right to chown)"),
		commandTimeout: fs.Duration("command-timeout", 30*time.Second, "how long the command after -- may run"),
	}
}

func (c *cli) renderHelp(w io.Writer) {
	fmt.Fprint(w, `Usage: secretcache render --template SRC --out DEST [flags] [-- COMMAND ARGS...]

Renders the template SRC with secrets and writes DEST atomically (a
temporary file in the same directory, fsync, rename, fsync of the
directory), mode 0600 in directories 0700 unless told otherwise. DEST is not
touched when the bytes are the same; COMMAND, if given, runs only when DEST
changed. For init containers and scripts; the agent renders templates
continuously with [[template]] tables. Secrets are read as exec reads them:
a running agent, --direct, or --dev.

Template functions (text/template, missingkey=error):
  {{ secret "ID" }}                 the value of a string secret
  {{ secretField "ID" "KEY" }}      one top-level key of a JSON secret
  {{ (secretJSON "ID").KEY }}       the decoded JSON object
  base64Encode, base64Decode, shellQuote, jsonQuote, yamlQuote, propertiesEscape
A missing secret, field or key fails the render, names it, and leaves DEST
as it was. No value is ever printed.

Flags (also settable as SECRETCACHE_<FLAG>):
`)
	flagHelp(w, newRenderFlags().fs, nil)
	fmt.Fprint(w, `
Exit codes: 0 rendered (or unchanged); 2 bad flags, or a template that
does not parse or fails to execute (a wrong type, say); the codes of get
(3 not found, 4 denied, 5 unavailable, 6 field) for a secret that could not
be read; 6 also for a key missing in the template ((secretJSON "ID").KEY,
index); 1 for a failed write (a directory in the way, no permission) or a
failed command (it ran after DEST was written: DEST is new).

Example:
  secretcache render --direct --template /etc/app/db.properties.tmpl --out /run/secrets/db.properties
`)
}

func (c *cli) render(ctx context.Context, args []string) int {
	f := newRenderFlags()
	flagArgs, command := args, []string(nil)
	if i := slices.Index(args, "--"); i >= 0 {
		flagArgs, command = args[:i], args[i+1:]
	}
	set, code := c.parseFlagsOnly(f.fs, flagArgs, c.renderHelp, nil, "render")
	if code >= 0 {
		return code
	}
	if *f.template == "" || *f.out == "" {
		return c.usageErr("render", "--template and --out are both needed")
	}
	if command != nil && (len(command) == 0 || command[0] == "") {
		return c.usageErr("render", "no command after --")
	}
	var opts []render.WriteOption
	for _, m := range []struct {
		name string
		v    *string
		opt  func(fs.FileMode) render.WriteOption
	}{{"mode", f.mode, render.WithMode}, {"dir-mode", f.dirMode, render.WithDirMode}} {
		mode, err := render.ParseMode(*m.v)
		if err != nil {
			return c.usageErr("render", "%s %s: %v", orFlag(set, m.name), showValue(*m.v), err)
		}
		opts = append(opts, m.opt(mode))
	}
	if *f.owner != "" {
		uid, gid, err := render.ParseOwner(*f.owner)
		if err != nil {
			return c.usageErr("render", "%s %s: %v", orFlag(set, "owner"), showValue(*f.owner), err)
		}
		opts = append(opts, render.WithOwner(uid, gid))
	}
	if *f.commandTimeout <= 0 {
		return c.usageErr("render", "%s %v: must be positive", orFlag(set, "command-timeout"), *f.commandTimeout)
	}
	if err := f.src.check(set); err != nil {
		return c.usageErr("render", "%v", err)
	}
	tmpl, err := loadTemplate(*f.template)
	if err != nil {
		return c.usageErr("render", "%v", err)
	}
	cache, closeSrc, usage, err := f.src.open(ctx, c, set, secretcache.WithLogger(slogWarnOnly(c.stderr)))
	if err != nil {
		if usage {
			return c.usageErr("render", "%v", err)
		}
		return c.fatal("render", exitError, err)
	}
	defer closeSrc()
	rctx, cancel := context.WithTimeout(ctx, *f.src.timeout)
	defer cancel()
	file := &render.File{Template: tmpl, Dest: *f.out, Write: opts, Command: command, CommandTimeout: *f.commandTimeout}
	changed, err := file.Render(rctx, render.CacheSource(cache))
	if err != nil {
		return c.fatal("render", renderExit(err), err)
	}
	if changed {
		fmt.Fprintf(c.stderr, "secretcache render: wrote %s\n", clip.String(*f.out, 256))
	} else {
		fmt.Fprintf(c.stderr, "secretcache render: %s unchanged\n", clip.String(*f.out, 256))
	}
	return exitOK
}

// renderExit is the exit code of a failed render: get's codes only for a
// secret that could not be read (an error of the cache), 6 for a key or
// field missing in the template's data, 2 for any other template error,
// and 1 for a failed write or command.
func renderExit(err error) int {
	var cmdErr *render.CommandError
	var readErr *secretcache.Error
	switch {
	case errors.As(err, &cmdErr):
		return exitError
	case errors.As(err, &readErr):
		if code, ok := kindExits[secretcache.KindOf(readErr)]; ok {
			return code
		}
		return exitUnavailable
	case errors.Is(err, render.ErrTemplate) && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)):
		return exitUnavailable // a read cut short by --timeout
	case errors.Is(err, secretcache.ErrKeyMissing):
		return exitField
	case errors.Is(err, render.ErrTemplate):
		return exitUsage
	}
	return exitError
}

// loadTemplate reads and parses a template file, at most
// render.MaxTemplateBytes long.
func loadTemplate(path string) (*render.Template, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("template: %v", err)
	}
	defer fh.Close()
	b, err := io.ReadAll(io.LimitReader(fh, render.MaxTemplateBytes+1))
	if err != nil {
		return nil, fmt.Errorf("template %s: %v", clip.String(path, 256), err)
	}
	return render.Parse(path, string(b))
}
