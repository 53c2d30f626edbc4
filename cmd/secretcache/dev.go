package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/secretcache/secretcache/agent"
	"github.com/secretcache/secretcache/smtest"
	"github.com/secretcache/secretcache/ssmtest"
)

// Demo secrets of --dev. The values are fake and printed nowhere.
var demoSecrets = map[string]string{
	"demo/db":      `{"engine":"postgres","host":"localhost","port":5432,"username":"app","password":"demo-password-not-secret","dbname":"app"}`,
	"demo/api-key": "demo-api-key-0123456789",
}

const (
	demoBinaryName = "demo/tls-key"
	devRegion      = "us-east-1"
	devReplica     = "us-west-2"
)

type devMode struct {
	srv     *smtest.Server
	token   string
	names   []string
	seeded  string // where the secrets came from
	regions []string

	ssm        *ssmtest.Server // the Parameter Store emulator (parameters.go)
	paramsFrom string          // where its parameters came from
}

// startDev starts the emulator, seeds it, and points cfg at it.
func (c *cli) startDev(cfg *agent.Config, f *agentFlags, set flagSources, log *slog.Logger) (*devMode, error) {
	d := &devMode{}
	tok, _, err := agent.LoadToken(cfg.SSRFEnvVariables, c.lookupEnv, log)
	switch {
	case err == nil:
		d.token = tok
	case errors.Is(err, agent.ErrNoToken):
		d.token = newToken()
	default:
		return nil, err
	}
	primary := cfg.PrimaryRegion()
	if d.srv, d.seeded, err = newDevServer(primary, *f.devSecrets, set); err != nil {
		return nil, err
	}
	d.names = seededNames(d.srv, primary, *f.devSecrets)
	d.regions = slices.Clone(cfg.Regions)
	for _, replica := range cfg.Regions[min(1, len(cfg.Regions)):] {
		for _, n := range d.names {
			if err := d.srv.Replicate(n, primary, replica); err != nil {
				log.Warn("dev: cannot replicate", "secret", n, "region", replica, "err", err)
			}
		}
	}
	if len(cfg.Prefetch) == 0 && len(cfg.PrefetchPrefix) == 0 {
		cfg.Prefetch = slices.Clone(d.names)
	}
	// The default ports may be taken (another agent); then any free port.
	if !set.has("port") && !set.has("listen-addr") && cfg.ListenAddr == "" && !portFree(cfg.Addr()) {
		cfg.ListenAddr = "127.0.0.1:0"
	}
	if !set.has("admin-addr") && cfg.AdminEnabled() && !portFree(cfg.AdminAddr) {
		cfg.AdminAddr = "127.0.0.1:0"
	}
	return d, nil
}

// newDevServer starts the embedded Secrets Manager of --dev with region as
// its default, seeded by seedDev; agent --dev, exec --dev and render --dev
// start it so.
func newDevServer(region, file string, set flagSources) (*smtest.Server, string, error) {
	srv := smtest.NewServer(smtest.WithDefaultRegion(region))
	seeded, err := seedDev(srv, region, file, set)
	if err != nil {
		srv.Close()
		return nil, "", err
	}
	return srv, seeded, nil
}

// newToken returns a random 256-bit token in hex, as the AWS agent's
// installer seeds its token file.
func newToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // never fails on supported platforms
	return hex.EncodeToString(b[:])
}

// seedDev creates the secrets of --dev in region: those of the file of
// --dev-secrets, or the demo secrets. It returns where they came from.
func seedDev(srv *smtest.Server, region, file string, set flagSources) (string, error) {
	if file != "" {
		if err := srv.LoadFile(region, file); err != nil {
			var se *smtest.SeedError
			if errors.As(err, &se) {
				return "", fmt.Errorf("%s %s", set["dev-secrets"], se.Detail())
			}
			return "", err
		}
		return file, nil
	}
	for name, v := range demoSecrets {
		if _, err := srv.CreateSecret(region, name, v); err != nil {
			return "", err
		}
	}
	if _, err := srv.CreateBinarySecret(region, demoBinaryName, []byte("-----DEMO KEY-----\x00\x01\x02")); err != nil {
		return "", err
	}
	return "demo secrets", nil
}

// seededNames lists the secrets of the dev emulator: the names in the seed
// file, or the demo secrets.
func seededNames(srv *smtest.Server, region, file string) []string {
	var names []string
	if file == "" {
		for n := range demoSecrets {
			names = append(names, n)
		}
		names = append(names, demoBinaryName)
	} else if data, err := os.ReadFile(file); err == nil {
		var doc map[string]json.RawMessage
		if json.Unmarshal(data, &doc) == nil {
			for n := range doc {
				if _, ok := srv.Secret(region, n); ok {
					names = append(names, n)
				}
			}
		}
	}
	slices.Sort(names)
	return names
}

func portFree(addr string) bool {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

// banner prints what to do next. The token is printed: it is a random,
// local, dev-only token (or the one the user set).
func (d *devMode) banner(w io.Writer, a *agent.Agent) {
	api := "http://" + a.Addr()
	hdr := "X-Aws-Parameters-Secrets-Token: " + d.token
	first := "demo/db"
	if !slices.Contains(d.names, first) && len(d.names) > 0 {
		first = d.names[0]
	}
	fmt.Fprintf(w, "%s: agent in dev mode, no AWS account needed.\n", versionString())
	fmt.Fprintf(w, "  emulator  %s (%s; regions %s), %d secrets: %s\n", d.srv.URL, d.seeded,
		strings.Join(d.regions, ", "), len(d.names), strings.Join(firstN(d.names, 8), ", "))
	fmt.Fprintf(w, "  API       %s\n", api)
	if aa := a.AdminAddr(); aa != "" {
		fmt.Fprintf(w, "  status    http://%s/   (metrics at /metrics, health at /health/secrets)\n", aa)
	}
	d.parameterBanner(w, api, hdr, false) // parameters.go
	fmt.Fprintf(w, "  token     %s\n\n", d.token)
	fmt.Fprintf(w, "Try:\n")
	fmt.Fprintf(w, "  curl -s -H '%s' '%s/secretsmanager/get?secretId=%s'\n", hdr, api, first)
	if first == "demo/db" {
		fmt.Fprintf(w, "  curl -s -H '%s' -H 'Accept: text/plain' '%s/v1/demo/db?field=password'\n", hdr, api)
	}
	d.parameterBanner(w, api, hdr, true)
	fmt.Fprintf(w, "  AWS_TOKEN=%s %s get %s --agent-url %s\n\n", d.token, selfCommand(), first, api)
	fmt.Fprintf(w, "Stop with Ctrl-C.\n")
	if f, ok := w.(*os.File); ok {
		_ = f.Sync()
	}
}

func firstN(s []string, n int) []string {
	if len(s) <= n {
		return s
	}
	return append(slices.Clone(s[:n]), "...")
}

// selfCommand returns a command that runs this program again, typed as
// is in the shell the user started it from: "go run ./cmd/secretcache"
// (or the package path, with its version if it has one) when it runs from
// go run's build cache, its name when the PATH finds this same file, else
// its absolute path.
func selfCommand() string {
	exe, err := os.Executable()
	if err != nil {
		return "secretcache"
	}
	return commandFor(exe, func(name string) (string, error) { return exec.LookPath(name) })
}

func commandFor(exe string, lookPath func(string) (string, error)) string {
	if strings.Contains(exe, string(filepath.Separator)+"go-build") {
		if fi, err := os.Stat(filepath.Join("cmd", "secretcache", "main.go")); err == nil && fi.Mode().IsRegular() {
			return "go run ./cmd/secretcache"
		}
		pkg := "github.com/secretcache/secretcache/cmd/secretcache"
		if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			pkg += "@" + bi.Main.Version
		}
		return "go run " + pkg
	}
	name := filepath.Base(exe)
	if p, err := lookPath(name); err == nil {
		a, errA := os.Stat(p)
		b, errB := os.Stat(exe)
		if errA == nil && errB == nil && os.SameFile(a, b) {
			return name
		}
	}
	return shellQuote(exe)
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && !strings.ContainsFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._-+:@%", r))
	}) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
