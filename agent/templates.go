package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/internal/clip"
	"github.com/secretcache/secretcache/render"
)

// TemplateConfig is one [[template]] table: a template rendered to a file
// (package render) whenever the secrets it reads change.
type TemplateConfig struct {
	Source                string   `toml:"source"`                  // the template file (text/template; see package render)
	Destination           string   `toml:"destination"`             // the file written, atomically
	Perms                 string   `toml:"perms"`                   // the file's mode in octal; "" = 0600
	DirPerms              string   `toml:"dir_perms"`               // created directories' mode; "" = 0700
	Owner                 string   `toml:"owner"`                   // "UID" or "UID:GID"; "" keeps the agent's
	Command               []string `toml:"command"`                 // argv run after a change (no shell)
	CommandTimeoutSeconds int      `toml:"command_timeout_seconds"` // 0 = 30
}

// MaxTemplates is the most [[template]] tables accepted.
const MaxTemplates = 100

var templateKeys = "source, destination, perms, dir_perms, owner, command, command_timeout_seconds"

// templatesKey sets the [[template]] tables.
func templatesKey(c *Config, name string, v any) error {
	const allowed = `must be [[template]] tables {source = "file", destination = "file", ...}`
	var items []map[string]any
	switch x := v.(type) {
	case []map[string]any:
		items = x
	case []any:
		for _, e := range x {
			m, ok := e.(map[string]any)
			if !ok {
				return badValue(name, v, allowed)
			}
			items = append(items, m)
		}
	default:
		return badValue(name, v, allowed)
	}
	if len(items) > MaxTemplates {
		return badValue(name, fmt.Sprintf("%d tables", len(items)), fmt.Sprintf("at most %d tables", MaxTemplates))
	}
	out := make([]TemplateConfig, 0, len(items))
	for i, m := range items {
		var t TemplateConfig
		for k, val := range m {
			field := fmt.Sprintf("%s[%d].%s", name, i, clip.String(k, 64))
			str := func(dst *string, ok func(string) bool, what string) error {
				s, isStr := val.(string)
				if !isStr || !ok(s) {
					return badValue(field, val, what)
				}
				*dst = s
				return nil
			}
			var err error
			switch k {
			case "source":
				err = str(&t.Source, func(s string) bool { return s != "" && validPath(s) }, pathRule)
			case "destination":
				err = str(&t.Destination, func(s string) bool { return s != "" && validPath(s) }, pathRule)
			case "perms":
				err = str(&t.Perms, func(s string) bool { _, ok := parsePerms(s, 0); return ok }, `must be octal permission bits such as "0600"`)
			case "dir_perms":
				err = str(&t.DirPerms, func(s string) bool { _, ok := parsePerms(s, 0); return ok }, `must be octal permission bits such as "0700"`)
			case "owner":
				err = str(&t.Owner, func(s string) bool { _, _, ok := parseOwner(s); return ok }, `must be "UID" or "UID:GID" (numbers from 0 to 4294967294)`)
			case "command":
				var tmp Config
				err = listKey(func(c *Config) *[]string { return &c.Prefetch }, 256, anyItem).set(&tmp, field, val)
				t.Command = tmp.Prefetch
			case "command_timeout_seconds":
				var tmp Config
				err = intKey(func(c *Config) *int { return &c.TTLSeconds }, 0, 3600).set(&tmp, field, val)
				t.CommandTimeoutSeconds = tmp.TTLSeconds
			default:
				err = &ConfigError{Key: field, Allowed: "unknown key (known: " + templateKeys + ")"}
			}
			if err != nil {
				return err
			}
		}
		out = append(out, t)
	}
	c.Templates = out
	return nil
}

// checkTemplates checks the [[template]] tables as a whole: each has a
// source and a destination, and no two write the same file.
func (c *Config) checkTemplates() error {
	seen := map[string]int{}
	for i, t := range c.Templates {
		name := fmt.Sprintf("template[%d]", i)
		if t.Source == "" || t.Destination == "" {
			return &ConfigError{Key: name, Allowed: "needs both source and destination"}
		}
		if len(t.Command) > 0 && t.Command[0] == "" {
			return &ConfigError{Key: name + ".command", Allowed: "must start with the program to run"}
		}
		if j, dup := seen[t.Destination]; dup {
			return &ConfigError{Key: name + ".destination", Allowed: fmt.Sprintf("must differ from template[%d]'s", j)}
		}
		seen[t.Destination] = i
	}
	return nil
}

func parsePerms(s string, def fs.FileMode) (fs.FileMode, bool) {
	if s == "" {
		return def, true
	}
	m, err := render.ParseMode(s)
	return m, err == nil
}

func parseOwner(s string) (uid, gid int, ok bool) {
	if s == "" {
		return -1, -1, true
	}
	uid, gid, err := render.ParseOwner(s)
	return uid, gid, err == nil
}

// templateFile builds the render.File of t, reading and parsing its source.
func templateFile(i int, t TemplateConfig) (*render.File, error) {
	fh, err := os.Open(t.Source)
	if err != nil {
		return nil, fmt.Errorf("agent: template[%d].source: %w", i, err)
	}
	defer fh.Close()
	b, err := io.ReadAll(io.LimitReader(fh, render.MaxTemplateBytes+1))
	if err != nil {
		return nil, fmt.Errorf("agent: template[%d].source: %w", i, err)
	}
	tmpl, err := render.Parse(t.Source, string(b))
	if err != nil {
		return nil, fmt.Errorf("agent: template[%d]: %w", i, err)
	}
	mode, _ := parsePerms(t.Perms, 0o600)
	dirMode, _ := parsePerms(t.DirPerms, 0o700)
	uid, gid, _ := parseOwner(t.Owner)
	f := &render.File{Template: tmpl, Dest: t.Destination, Command: t.Command,
		CommandTimeout: time.Duration(t.CommandTimeoutSeconds) * time.Second,
		Write:          []render.WriteOption{render.WithMode(mode), render.WithDirMode(dirMode), render.WithOwner(uid, gid)}}
	return f, nil
}

// loadTemplates parses the [[template]] sources: a missing or broken one
// fails the start (and agent --check).
func loadTemplates(cfg Config) ([]*render.File, error) {
	files := make([]*render.File, len(cfg.Templates))
	for i, t := range cfg.Templates {
		f, err := templateFile(i, t)
		if err != nil {
			return nil, err
		}
		files[i] = f
	}
	return files, nil
}

// runTemplates renders the templates until stop is closed: at once, after
// every new version the cache finds, and every tenth of the TTL (those
// reads keep the secrets refreshed ahead). A failed render keeps the old
// file and is logged once until it succeeds again. A command that failed
// after its file was written is its own state: logged once as such, and
// run again on every later pass until it succeeds. A command runs for its
// own command_timeout_seconds (not the fetch timeout of the reads) and is
// stopped at shutdown.
func (a *Agent) runTemplates(stop <-chan struct{}) {
	files := a.templates
	if len(files) == 0 {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	for _, f := range files {
		f.Stop = ctx.Done()
	}
	kick := make(chan struct{}, 1)
	remove := a.cache.OnChange(func(secretcache.ChangeEvent) {
		select {
		case kick <- struct{}{}:
		default:
		}
	})
	defer remove()
	every := 30 * time.Second
	if a.cfg.Caching() {
		every = max(a.cfg.TTL()/10, time.Second)
	}
	readTimeout := max(time.Duration(a.cfg.FetchTimeoutMS)*time.Millisecond, 5*time.Second)
	src := render.CacheSource(a.cache)
	states := make([]templateState, len(files))
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		for i, f := range files {
			rctx, rcancel := context.WithTimeout(ctx, readTimeout)
			changed, err := f.Render(rctx, src)
			rcancel()
			if err != nil && ctx.Err() != nil {
				return
			}
			if err == nil && !changed && states[i].commandFailing {
				err = f.RunCommand(ctx) // the retry of a command that failed
				if err != nil && ctx.Err() != nil {
					return
				}
			}
			a.templateOutcome(i, f, &states[i], changed, err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-kick:
		}
	}
}

// templateState is what runTemplates remembers of one template between
// passes, to log each change of state once.
type templateState struct {
	failing        bool // the last render failed: the file keeps its old content
	commandFailing bool // the file was written but its command failed: retried
}

// templateOutcome logs the outcome of one pass over template i and
// updates st. No value is logged: the errors of package render hold none.
func (a *Agent) templateOutcome(i int, f *render.File, st *templateState, changed bool, err error) {
	var cerr *render.CommandError
	switch {
	case errors.As(err, &cerr):
		if st.failing {
			a.log.Info("template: renders again", "template", i, "destination", f.Dest)
		}
		st.failing = false
		if changed {
			a.log.Info("template: wrote", "template", i, "destination", f.Dest)
		}
		if !st.commandFailing {
			a.log.Error("template: the file was written but its command failed; it runs again on the next passes until it succeeds", "template", i, "destination", f.Dest, "err", err)
		}
		st.commandFailing = true
	case err != nil:
		if !st.failing {
			a.log.Error("template: render failed; the file keeps its old content", "template", i, "destination", f.Dest, "err", err)
		}
		st.failing = true
	default:
		if st.failing {
			a.log.Info("template: renders again", "template", i, "destination", f.Dest)
		}
		st.failing = false
		if changed {
			a.log.Info("template: wrote", "template", i, "destination", f.Dest)
		}
		if st.commandFailing {
			a.log.Info("template: the command succeeded", "template", i, "destination", f.Dest)
		}
		st.commandFailing = false
	}
}
