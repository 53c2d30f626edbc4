package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
)

// envName is the environment variable of a flag: --admin-addr is
// SECRETCACHE_ADMIN_ADDR.
func envName(flagName string) string {
	return "SECRETCACHE_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parseFlags parses args with fs, flags and positional arguments in any
// order ("get ID --field K"), then sets every flag not given on the command
// line from its SECRETCACHE_ environment variable. It returns the names of
// the flags set either way, the positional arguments, and the usage exit
// code (or -1 to go on): 0 after -h, exitUsage after an error, both
// reported on the cli's streams.
func (c *cli) parseFlags(fs *flag.FlagSet, args []string, help func(io.Writer)) (set map[string]bool, pos []string, code int) {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	rest := args
	for {
		if err := fs.Parse(rest); err != nil {
			if err == flag.ErrHelp {
				help(c.stdout)
				return nil, nil, exitOK
			}
			fmt.Fprintf(c.stderr, "secretcache %s: %v\nRun \"secretcache help %s\" for the flags.\n", fs.Name(), err, fs.Name())
			return nil, nil, exitUsage
		}
		rest = fs.Args()
		if len(rest) == 0 {
			break
		}
		pos = append(pos, rest[0])
		rest = rest[1:]
	}
	set = map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || envErr != nil {
			return
		}
		if v, ok := c.lookupEnv(envName(f.Name)); ok && v != "" {
			if err := fs.Set(f.Name, v); err != nil {
				envErr = fmt.Errorf("%s=%q: %v", envName(f.Name), truncate(v, 64), err)
				return
			}
			set[f.Name] = true
		}
	})
	if envErr != nil {
		fmt.Fprintf(c.stderr, "secretcache %s: %v\n", fs.Name(), envErr)
		return nil, nil, exitUsage
	}
	return set, pos, -1
}

// flagHelp writes the flags of fs with their environment variables.
func flagHelp(w io.Writer, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		name, usage := flag.UnquoteUsage(f)
		line := "  --" + f.Name
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
