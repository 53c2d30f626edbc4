package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/internal/clip"
	"github.com/secretcache/secretcache/internal/execenv"
)

// envSpec is one --env NAME=ID[#FIELD].
type envSpec struct{ name, id, field string }

// envFlag collects --env (repeated, or comma-separated in SECRETCACHE_ENV).
type envFlag struct{ specs []envSpec }

func (e *envFlag) String() string { return "" }

func (e *envFlag) explainsErrors() {}

func (e *envFlag) Set(s string) error {
	for part := range strings.SplitSeq(s, ",") {
		sp, err := parseEnvSpec(strings.TrimSpace(part))
		if err != nil {
			return err
		}
		e.specs = append(e.specs, sp)
	}
	return nil
}

// maxEnvSpecs bounds the variables of one exec.
const maxEnvSpecs = 1000

// parseEnvSpec reads NAME=ID[#FIELD]. The error does not repeat the flag:
// the flag parser names it.
func parseEnvSpec(s string) (envSpec, error) {
	name, ref, ok := strings.Cut(s, "=")
	if !ok || name == "" || ref == "" {
		return envSpec{}, errors.New("want NAME=ID[#FIELD]")
	}
	if !isEnvVarName(name) {
		return envSpec{}, fmt.Errorf("variable name %q: want letters, digits and _, not starting with a digit", clip.String(name, 64))
	}
	id, field, hasField := strings.Cut(ref, "#")
	if hasField && field == "" {
		return envSpec{}, fmt.Errorf("%s: empty field after #", name)
	}
	if err := secretcache.CheckID(id); err != nil {
		return envSpec{}, fmt.Errorf("%s: secret id %q: %v", name, clip.String(id, 64), err)
	}
	return envSpec{name: name, id: id, field: field}, nil
}

func isEnvVarName(s string) bool {
	for i, r := range s {
		if !(r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return s != "" && len(s) <= 256
}

type execFlags struct {
	fs                       *flag.FlagSet
	src                      *sourceFlags
	config, signal, onChange *string
	onlyDeclared             *bool
	killTimeout, debounce    *time.Duration
	splay                    *time.Duration
	env                      *envFlag
}

func newExecFlags() *execFlags {
	fs := flag.NewFlagSet("exec", flag.ContinueOnError)
	f := &execFlags{
		fs:           fs,
		src:          addSourceFlags(fs, true),
		config:       fs.String("config", "", "TOML `file` with an [exec] table (the same settings; flags win)"),
		signal:       fs.String("signal", "SIGTERM", "`signal` sent to the program's process group on a change: SIGTERM, SIGHUP, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2"),
		onChange:     fs.String("on-change", "restart", "`what` a change does: restart (signal, wait --kill-timeout, SIGKILL, start again with the new values) or signal (only send --signal, for programs that reload by themselves)"),
		onlyDeclared: fs.Bool("only-declared", false, "give the program only the declared variables, not this process's environment"),
		killTimeout:  fs.Duration("kill-timeout", 10*time.Second, "how long a restart waits after --signal before SIGKILL"),
		debounce:     fs.Duration("debounce", time.Second, "how long values must stay the same after a change before acting"),
		splay:        fs.Duration("splay", 0, "a random extra wait, from 0 to this `duration`, before acting on a change"),
		env:          &envFlag{},
	}
	fs.Var(f.env, "env", "set a variable to a secret: `NAME=ID[#FIELD]` (#FIELD: one key of a JSON secret); repeat it for more")
	return f
}

func (c *cli) execHelp(w io.Writer) {
	fmt.Fprint(w, `Usage: secretcache exec [flags] --env NAME=ID[#FIELD] ... -- COMMAND [ARGS...]

Starts COMMAND with this process's environment plus one variable per --env,
after every secret was read once: a missing secret or field fails before the
program starts, naming the variable and the secret. The values are read from
a running agent (--agent-url, with the agent's token variables), from AWS
itself (--direct) or from the embedded emulator (--dev, --dev-secrets), and
read again every --interval: when the environment really changed, after
--debounce and a random --splay, exec sends --signal to the program's process
group, waits --kill-timeout, sends SIGKILL, and starts it again with the new
values (or, with --on-change signal, only sends the signal). A refresh that
fails keeps the program running on the last values (served up to --max-stale
by the cache, then logged as errors); a refresh that changes nothing restarts
nothing.

exec forwards SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 and SIGWINCH
to the program, passes stdin, stdout and stderr through, exits with the
program's exit code (128+N when signal N killed it), and as PID 1 in a
container reaps orphaned processes. Its own log lines (stderr) name
variables and secrets, never values. The values are in the program's
environment, so /proc/PID/environ of the program (and of no other process)
shows them: that is what environment injection means; use render for files.

Flags (also settable as SECRETCACHE_<FLAG>):
`)
	flagHelp(w, newExecFlags().fs, nil)
	fmt.Fprint(w, `
The --config file holds the same settings:
  [exec]
  on_change = "restart"        # or "signal"
  signal = "SIGHUP"
  kill_timeout = "10s"
  debounce = "1s"
  splay = "30s"
  only_declared = false
  [exec.env]
  PGPASSWORD = "prod/db#password"
  API_KEY = "prod/api-key"

Exit codes: the program's; before it started, 2 for bad flags and the codes
of get (3 not found, 4 denied, 5 unavailable, 6 field) for a secret that
could not be read, 127 when COMMAND cannot be started.

The program runs in a process group of its own, in the background of a
terminal: exec is for services, not for programs that read the terminal
(for those: PGPASSWORD=$(secretcache get prod/db --field password) psql).

Examples:
  secretcache exec --env PGPASSWORD=prod/db#password -- ./worker --queue jobs
  secretcache exec --direct --signal SIGHUP --on-change signal --env TOKEN=prod/token -- ./server
  secretcache exec --dev --env PW=demo/db#password -- sh -c 'echo ${#PW} bytes'
`)
}

// execFile is the [exec] table of --config.
type execFile struct {
	Exec struct {
		Env          map[string]string `toml:"env"`
		OnChange     *string           `toml:"on_change"`
		Signal       *string           `toml:"signal"`
		KillTimeout  *duration         `toml:"kill_timeout"`
		Debounce     *duration         `toml:"debounce"`
		Splay        *duration         `toml:"splay"`
		OnlyDeclared *bool             `toml:"only_declared"`
	} `toml:"exec"`
}

type duration struct{ time.Duration }

func (d *duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q: want a duration such as 500ms, 10s or 2m", clip.String(string(b), 64))
	}
	d.Duration = v
	return nil
}

// maxConfigBytes bounds a --config file of exec.
const maxConfigBytes = 1 << 20

// applyConfig reads --config into f; flags set on the command line win.
func (f *execFlags) applyConfig(path string, set flagSources) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("--config: %v", err)
	}
	if fi.Size() > maxConfigBytes {
		return fmt.Errorf("--config %s: %d bytes; at most %d are accepted", path, fi.Size(), maxConfigBytes)
	}
	var cf execFile
	md, err := toml.DecodeFile(path, &cf)
	if err != nil {
		return fmt.Errorf("--config %s: %v", path, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		var keys []string
		for _, k := range und {
			if len(k) > 0 && k[0] == "exec" {
				keys = append(keys, k.String())
			}
		}
		if len(keys) > 0 {
			return fmt.Errorf("--config %s: unknown keys %s; the [exec] keys are env, on_change, signal, kill_timeout, debounce, splay, only_declared", path, strings.Join(keys, ", "))
		}
	}
	e := cf.Exec
	// [exec.env] and --env (or SECRETCACHE_ENV) add up; for a name both
	// declare, the flag wins. Never only one of them: the program must
	// not start without a variable the file declares.
	declared := make(map[string]bool, len(f.env.specs))
	for _, sp := range f.env.specs {
		declared[sp.name] = true
	}
	names := make([]string, 0, len(e.Env))
	for n := range e.Env {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if strings.Contains(n, "=") {
			return fmt.Errorf("--config %s: [exec.env] key %q: want a variable name (letters, digits and _)", path, clip.String(n, 64))
		}
		sp, err := parseEnvSpec(n + "=" + e.Env[n])
		if err != nil {
			return fmt.Errorf("--config %s: [exec.env] %v", path, err)
		}
		if !declared[sp.name] {
			f.env.specs = append(f.env.specs, sp)
		}
	}
	setStr := func(name string, dst *string, v *string) {
		if v != nil && !set.has(name) {
			*dst = *v
		}
	}
	setDur := func(name string, dst *time.Duration, v *duration) {
		if v != nil && !set.has(name) {
			*dst = v.Duration
		}
	}
	setStr("on-change", f.onChange, e.OnChange)
	setStr("signal", f.signal, e.Signal)
	setDur("kill-timeout", f.killTimeout, e.KillTimeout)
	setDur("debounce", f.debounce, e.Debounce)
	setDur("splay", f.splay, e.Splay)
	if e.OnlyDeclared != nil && !set.has("only-declared") {
		*f.onlyDeclared = *e.OnlyDeclared
	}
	return nil
}

func (c *cli) exec(ctx context.Context, args []string) int {
	f := newExecFlags()
	flagArgs, command := args, []string(nil)
	if i := slices.Index(args, "--"); i >= 0 {
		flagArgs, command = args[:i], args[i+1:]
	}
	set, pos, code := c.parseFlags(f.fs, flagArgs, c.execHelp, nil)
	if code >= 0 {
		return code
	}
	if len(pos) > 0 {
		return c.usageErr("exec", "put the command after --, as in: secretcache exec --env NAME=ID -- %s", clip.String(strings.Join(pos, " "), 64))
	}
	if len(command) == 0 || command[0] == "" {
		return c.usageErr("exec", "no command: give it after --, as in: secretcache exec --env NAME=ID -- COMMAND ARGS...")
	}
	if set.has("config") {
		if err := f.applyConfig(*f.config, set); err != nil {
			return c.usageErr("exec", "%v", err)
		}
	}
	opts, err := f.supervisorOptions(set)
	if err != nil {
		return c.usageErr("exec", "%v", err)
	}
	if err := f.src.check(set); err != nil {
		return c.usageErr("exec", "%v", err)
	}
	specs := f.env.specs
	if len(specs) == 0 {
		return c.usageErr("exec", "no --env: declare at least one NAME=ID[#FIELD] (or [exec.env] in --config)")
	}
	if len(specs) > maxEnvSpecs {
		return c.usageErr("exec", "%d variables: at most %d are accepted", len(specs), maxEnvSpecs)
	}
	seen := map[string]bool{}
	for _, sp := range specs {
		if seen[sp.name] {
			return c.usageErr("exec", "--env %s: declared twice", sp.name)
		}
		seen[sp.name] = true
	}
	path, err := exec.LookPath(command[0])
	if err != nil {
		fmt.Fprintf(c.stderr, "secretcache exec: %s: %v\n", clip.String(command[0], 256), unwrapExecErr(err))
		return 127
	}
	log := slog.New(slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	cache, closeSrc, usage, err := f.src.open(ctx, c, set, secretcache.WithLogger(log))
	if err != nil {
		if usage {
			return c.usageErr("exec", "%v", err)
		}
		return c.fatal("exec", exitError, err)
	}
	defer closeSrc()

	var base []string
	if !*f.onlyDeclared {
		base = os.Environ()
	}
	readCtx, cancelRead := context.WithTimeout(ctx, *f.src.timeout)
	env, err := buildEnv(readCtx, cache, specs, base)
	cancelRead()
	if err != nil {
		return c.envError(err)
	}
	sup, err := execenv.New(path, command, env, append(opts, execenv.WithLogger(log))...)
	if err != nil {
		return c.fatal("exec", exitError, err)
	}
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, forwardedSignals...)
	defer signal.Stop(sigs)
	followCtx, stopFollow := context.WithCancel(context.WithoutCancel(ctx))
	defer stopFollow()
	changes := make(chan []string)
	go follow(followCtx, cache, specs, base, *f.src.interval, *f.src.timeout, changes, log)
	// Signals reach the program through sigs: the context of main (which
	// ends on SIGINT and SIGTERM) must not also stop it.
	code, err = sup.Run(context.WithoutCancel(ctx), changes, sigs)
	if err != nil {
		fmt.Fprintf(c.stderr, "secretcache exec: %v\n", err)
	}
	return code
}

// unwrapExecErr drops what names the program again (an *exec.Error, a
// *fs.PathError of the lookup): the line names it once.
func unwrapExecErr(err error) error {
	var ee *exec.Error
	if errors.As(err, &ee) {
		err = ee.Err
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return err
}

func (f *execFlags) supervisorOptions(set flagSources) ([]execenv.Option, error) {
	sig, ok := signalByName(*f.signal)
	if !ok {
		return nil, fmt.Errorf("%s %s: want SIGTERM, SIGHUP, SIGINT, SIGQUIT, SIGUSR1 or SIGUSR2", orFlag(set, "signal"), showValue(*f.signal))
	}
	var mode execenv.Mode
	switch *f.onChange {
	case "restart":
		mode = execenv.Restart
	case "signal":
		mode = execenv.SignalOnly
	default:
		return nil, fmt.Errorf("%s %s: want restart or signal", orFlag(set, "on-change"), showValue(*f.onChange))
	}
	switch {
	case *f.killTimeout <= 0:
		return nil, fmt.Errorf("%s %v: must be positive", orFlag(set, "kill-timeout"), *f.killTimeout)
	case *f.debounce < 0:
		return nil, fmt.Errorf("%s %v: must not be negative", orFlag(set, "debounce"), *f.debounce)
	case *f.splay < 0:
		return nil, fmt.Errorf("%s %v: must not be negative", orFlag(set, "splay"), *f.splay)
	}
	return []execenv.Option{execenv.WithSignal(sig), execenv.WithMode(mode), execenv.WithKillTimeout(*f.killTimeout),
		execenv.WithDebounce(*f.debounce), execenv.WithSplay(*f.splay)}, nil
}

// envReadError is a secret of an --env that could not be read.
type envReadError struct {
	spec envSpec
	err  error
}

func (e *envReadError) Error() string {
	what := "secret " + clip.String(e.spec.id, 256)
	if e.spec.field != "" {
		what += ", field " + clip.String(e.spec.field, 128)
	}
	return fmt.Sprintf("$%s (%s): %v", e.spec.name, what, e.err)
}

func (e *envReadError) Unwrap() error { return e.err }

// envError reports a failed first read and returns get's exit code for it.
func (c *cli) envError(err error) int {
	code, ok := kindExits[secretcache.KindOf(err)]
	if !ok {
		code = exitError
	}
	return c.fatal("exec", code, fmt.Errorf("%w; the program was not started", err))
}

// buildEnv reads every secret of specs and returns base without the
// declared names, then the declared variables in their order.
func buildEnv(ctx context.Context, cache *secretcache.Cache, specs []envSpec, base []string) ([]string, error) {
	declared := make(map[string]bool, len(specs))
	for _, sp := range specs {
		declared[sp.name] = true
	}
	env := make([]string, 0, len(base)+len(specs))
	for _, e := range base {
		name, _, _ := strings.Cut(e, "=")
		if !declared[name] {
			env = append(env, e)
		}
	}
	for _, sp := range specs {
		var v string
		var err error
		if sp.field != "" {
			v, err = cache.GetField(ctx, sp.id, sp.field)
		} else {
			v, err = cache.GetString(ctx, sp.id)
		}
		if err != nil {
			return nil, &envReadError{spec: sp, err: err}
		}
		if strings.IndexByte(v, 0) >= 0 {
			return nil, &envReadError{spec: sp, err: errors.New("the value holds a NUL byte, which an environment variable cannot")}
		}
		env = append(env, sp.name+"="+v)
	}
	return env, nil
}

// follow reads the environment again at every tenth of the interval (the
// reads hit the cache, and those in its refresh-ahead window refresh it in
// the background) and after every new version the cache finds, and sends
// it to the supervisor, which compares it with the running one.
func follow(ctx context.Context, cache *secretcache.Cache, specs []envSpec, base []string, interval, timeout time.Duration, out chan<- []string, log *slog.Logger) {
	kick := make(chan struct{}, 1)
	remove := cache.OnChange(func(secretcache.ChangeEvent) {
		select {
		case kick <- struct{}{}:
		default:
		}
	})
	defer remove()
	t := time.NewTicker(max(interval/10, 100*time.Millisecond))
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-kick:
		}
		rctx, cancel := context.WithTimeout(ctx, timeout)
		env, err := buildEnv(rctx, cache, specs, base)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if !failing {
				log.Error("exec: cannot read the secrets again; the program keeps running with the last values", "err", err)
			}
			failing = true
			continue
		}
		if failing {
			log.Info("exec: the secrets can be read again")
			failing = false
		}
		select {
		case out <- env:
		case <-ctx.Done():
			return
		}
	}
}

// signalByName reads SIGTERM, TERM or sigterm (and the others of the list).
func signalByName(s string) (syscall.Signal, bool) {
	name := strings.TrimPrefix(strings.ToUpper(s), "SIG")
	sig, ok := changeSignals[name]
	return sig, ok
}
