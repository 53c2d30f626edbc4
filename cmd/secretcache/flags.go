package main

import (
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/secretcache/secretcache/internal/clip"
)

// envName is the environment variable of a flag: --admin-addr is
// SECRETCACHE_ADMIN_ADDR.
func envName(flagName string) string {
	return "SECRETCACHE_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// flagSources maps each flag that was set to where its value came from:
// "--name" for the command line, its SECRETCACHE_ variable otherwise.
// Errors about a value name that source.
type flagSources map[string]string

func (s flagSources) has(name string) bool { return s[name] != "" }

// parseFlags parses args with the flags of fs, flags and positional
// arguments in any order ("get ID --field K"), then sets every flag not
// given on the command line from its SECRETCACHE_ environment variable.
// It accepts --name value, --name=value, -name (as Go's flag package),
// aliases (-c for --config), a bare --name for a boolean flag, and "--"
// before positional arguments. It returns where each set flag came from,
// the positional arguments, and the usage exit code (or -1 to go on): 0
// after -h or --help, exitUsage after an error, both reported on the cli's
// streams. Every error names the flag as --name and what it accepts.
func (c *cli) parseFlags(fs *flag.FlagSet, args []string, help func(io.Writer), aliases map[string]string) (set flagSources, pos []string, code int) {
	set = flagSources{}
	fail := func(format string, a ...any) (flagSources, []string, int) {
		fmt.Fprintf(c.stderr, "secretcache %s: %s\nRun \"secretcache help %s\" for the flags.\n", fs.Name(), fmt.Sprintf(format, a...), fs.Name())
		return nil, nil, exitUsage
	}
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if arg == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if len(arg) < 2 || arg[0] != '-' {
			pos = append(pos, arg)
			continue
		}
		name := strings.TrimPrefix(arg[1:], "-")
		if name == "" || name[0] == '-' || name[0] == '=' {
			return fail("bad flag syntax %q: flags are --name value or --name=value", clip.String(arg, 64))
		}
		name, value, hasValue := strings.Cut(name, "=")
		if name == "h" || name == "help" {
			help(c.stdout)
			return nil, nil, exitOK
		}
		if long, ok := aliases[name]; ok {
			name = long
		}
		f := fs.Lookup(name)
		if f == nil {
			return fail("unknown flag --%s%s", clip.String(name, 64), suggestFlag(fs, name))
		}
		switch {
		case hasValue:
		case isBoolFlag(f):
			value = "true"
		case i+1 < len(args):
			i++
			value = args[i]
		default:
			what, _ := flag.UnquoteUsage(f)
			return fail("--%s needs a value (%s)", name, what)
		}
		if err := fs.Set(name, value); err != nil {
			return fail("--%s %s: %s", name, showValue(value), acceptsErr(f, err))
		}
		set[name] = "--" + name
	}
	var envErr string
	fs.VisitAll(func(f *flag.Flag) {
		if set.has(f.Name) || envErr != "" {
			return
		}
		env := envName(f.Name)
		if v, ok := c.lookupEnv(env); ok && v != "" {
			if err := fs.Set(f.Name, v); err != nil {
				envErr = fmt.Sprintf("%s=%s: %s", env, showValue(v), acceptsErr(f, err))
				return
			}
			set[f.Name] = env
		}
	})
	if envErr != "" {
		fmt.Fprintf(c.stderr, "secretcache %s: %s\n", fs.Name(), envErr)
		return nil, nil, exitUsage
	}
	return set, pos, -1
}

// parseFlagsOnly is parseFlags for a command that takes no argument but
// flags; who names the command in the error ("the agent").
func (c *cli) parseFlagsOnly(fs *flag.FlagSet, args []string, help func(io.Writer), aliases map[string]string, who string) (flagSources, int) {
	set, pos, code := c.parseFlags(fs, args, help, aliases)
	if code < 0 && len(pos) > 0 {
		return nil, c.usageErr(fs.Name(), "unexpected argument %q: %s takes flags only", clip.String(pos[0], 64), who)
	}
	return set, code
}

func isBoolFlag(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// explainingValue is a flag value whose Set errors say what it accepts
// (the --env of exec); acceptsErr shows them as they are.
type explainingValue interface{ explainsErrors() }

// acceptsErr says what the value of f may be: err itself for an
// explainingValue, else accepts.
func acceptsErr(f *flag.Flag, err error) string {
	if _, ok := f.Value.(explainingValue); ok {
		return err.Error()
	}
	return accepts(f)
}

// accepts says what the value of f may be, from its type.
func accepts(f *flag.Flag) string {
	if g, ok := f.Value.(flag.Getter); ok {
		switch g.Get().(type) {
		case bool:
			return "must be true or false"
		case time.Duration:
			return "must be a duration such as 300ms, 15s, 2m or 1h"
		case int, int64, uint, uint64:
			return "must be an integer"
		}
	}
	return "not accepted"
}

// showValue shows a value in an error: as is, or quoted when it is empty
// or has spaces or special characters; at most 64 bytes.
func showValue(v string) string {
	if v == "" || strings.ContainsFunc(v, func(r rune) bool { return r <= ' ' || r == '"' || r == '\\' || r == 0x7f || r == 0xfffd }) {
		return fmt.Sprintf("%q", clip.String(v, 64))
	}
	return clip.String(v, 64)
}

// suggestFlag returns "; did you mean --NAME?" for a flag of fs close to
// name, or "".
func suggestFlag(fs *flag.FlagSet, name string) string {
	var names []string
	fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	slices.Sort(names)
	for _, n := range names {
		if strings.HasPrefix(n, name) || strings.HasPrefix(name, n) || closeTo(n, name) {
			return "; did you mean --" + n + "?"
		}
	}
	return ""
}

// closeTo reports whether a and b differ by one typo: a letter changed,
// added, dropped, or two neighbours swapped.
func closeTo(a, b string) bool {
	if len(a) == len(b) {
		for i := 0; i+1 < len(a); i++ {
			if a[i] != b[i] {
				if a[i] == b[i+1] && a[i+1] == b[i] && a[i+2:] == b[i+2:] {
					return true
				}
				break
			}
		}
	}
	if len(a) > len(b) {
		a, b = b, a
	}
	if len(b)-len(a) > 1 {
		return false
	}
	i := 0
	for i < len(a) && a[i] == b[i] {
		i++
	}
	if len(a) == len(b) {
		return a[i+min(1, len(a)-i):] == b[i+min(1, len(b)-i):]
	}
	return a[i:] == b[i+1:]
}

// flagHelp writes the flags of fs with their environment variables;
// aliases maps a short name to the flag it stands for.
func flagHelp(w io.Writer, fs *flag.FlagSet, aliases map[string]string) {
	fs.VisitAll(func(f *flag.Flag) {
		name, usage := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		for short, long := range aliases {
			if long == f.Name {
				line = "  -" + short + ", --" + f.Name
			}
		}
		if name != "" {
			line += " " + name
		}
		fmt.Fprintf(w, "%s\n      %s", line, usage)
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" && f.DefValue != "0s" {
			fmt.Fprintf(w, " (default %s)", f.DefValue)
		}
		fmt.Fprintf(w, "\n      env %s\n", envName(f.Name))
	})
}
