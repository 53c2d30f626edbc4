package main

import (
	"context"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/secretcache/secretcache/agent"
)

const deployDir = "../../deploy"

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
	buildDir  string
)

// TestMain runs the command itself when the tests re-execute their own
// binary as the CLI (see TestSignals), and removes the binary built by
// buildStatic.
func TestMain(m *testing.M) {
	if os.Getenv("SECRETCACHE_TEST_RUN_MAIN") == "1" {
		os.Args = append([]string{"secretcache"}, os.Args[1:]...)
		main()
		return
	}
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// buildStatic builds the command as the Dockerfile does (CGO off), once per
// test run, and checks the binary is static (no interpreter, no shared
// libraries).
func buildStatic(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "secretcache-bin")
		if buildErr != nil {
			return
		}
		builtBin = filepath.Join(buildDir, "secretcache")
		cmd := exec.Command("go", "build", "-buildvcs=false", "-o", builtBin, ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("static build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	bin := builtBin
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary has an ELF interpreter: not static")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("the binary needs shared libraries %v", libs)
	}
	return bin
}

func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(deployDir, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	df := string(b)
	for _, want := range []string{"CGO_ENABLED=0", "./cmd/secretcache", "FROM scratch", "USER 65532", `CMD ["agent"]`} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	if testing.Short() || raceEnabled {
		t.Log("static build check skipped (-short or -race: it would rebuild everything without the race detector)")
		return
	}
	buildStatic(t)
}

func TestSeedTokenScript(t *testing.T) {
	sh := needShell(t)
	script := filepath.Join(deployDir, "systemd", "secretcache-seed-token")
	for _, s := range []string{script, filepath.Join(deployDir, "systemd", "install"), filepath.Join(deployDir, "systemd", "uninstall")} {
		if out, err := exec.Command(sh, "-n", s).CombinedOutput(); err != nil {
			t.Errorf("%s: syntax: %v %s", s, err, out)
		}
	}
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "run", "secretcache", "token")
	group := ""
	if g, err := user.LookupGroupId(strconv.Itoa(os.Getgid())); err == nil {
		group = g.Name
	}
	run := func(arg string) string {
		cmd := exec.Command(sh, script, arg)
		cmd.Env = append(os.Environ(), "SECRETCACHE_TOKEN_FILE="+tokenFile, "SECRETCACHE_TOKEN_GROUP="+group)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("seed-token %s: %v %s", arg, err, out)
		}
		return string(out)
	}
	run("start")
	first, err := os.ReadFile(tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).Match(first) {
		t.Errorf("token %q is not 64 hex digits", first)
	}
	fi, _ := os.Stat(tokenFile)
	if fi.Mode().Perm() != 0o640 {
		t.Errorf("token file mode %v, want 0640", fi.Mode().Perm())
	}
	run("start")
	second, _ := os.ReadFile(tokenFile)
	if string(first) == string(second) {
		t.Error("a restart kept the same token")
	}
	entries, _ := os.ReadDir(filepath.Dir(tokenFile))
	if len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
	// The agent reads it the AWS way.
	tok, _, err := agent.LoadToken(agent.DefaultConfig().SSRFEnvVariables, func(k string) (string, bool) {
		if k == "AWS_TOKEN" {
			return "file://" + tokenFile, true
		}
		return "", false
	}, nil)
	if err != nil || tok != string(second) {
		t.Errorf("LoadToken: %q %v", tok, err)
	}
	run("stop")
	if _, err := os.Stat(tokenFile); !os.IsNotExist(err) {
		t.Errorf("stop left the token: %v", err)
	}
	if err := exec.Command(sh, script, "bogus").Run(); err == nil {
		t.Error("an unknown action succeeded")
	}
}

func needShell(t *testing.T) string {
	t.Helper()
	sh, err := exec.LookPath("sh")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("sh is required under CI=true")
		}
		t.Skip("no sh")
	}
	return sh
}

func TestSystemdUnits(t *testing.T) {
	unit, err := os.ReadFile(filepath.Join(deployDir, "systemd", "secretcache-agent.service"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Environment=AWS_TOKEN=file:///run/secretcache/token", "Requires=secretcache-seed-token.service",
		"ExecStart=/usr/local/bin/secretcache agent --config /etc/secretcache/agent.toml", "KillSignal=SIGTERM", "User=secretcache"} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("agent unit lacks %q", want)
		}
	}
	// systemd's own checker, where it runs (it wants the binaries in place,
	// so only its syntax complaints count).
	if sa, err := exec.LookPath("systemd-analyze"); err == nil {
		for _, u := range []string{"secretcache-agent.service", "secretcache-seed-token.service"} {
			out, _ := exec.Command(sa, "verify", filepath.Join(deployDir, "systemd", u)).CombinedOutput()
			for _, line := range strings.Split(string(out), "\n") {
				if strings.Contains(line, "Unknown key") || strings.Contains(line, "Unknown section") ||
					strings.Contains(line, "Failed to parse") || strings.Contains(line, "Invalid") {
					t.Errorf("systemd-analyze verify %s: %s", u, line)
				}
			}
		}
	}
	// The sample configuration passes --check as the unit runs it: the
	// token from a file as the seed-token unit writes it (root's, 0640).
	awsTestEnv(t)
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(newToken()), 0o640); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"AWS_TOKEN": "file://" + tokenFile}
	code, out, errOut := runCLI(context.Background(), env, "agent", "--check", "--config", filepath.Join(deployDir, "systemd", "agent.toml"))
	if code != 0 || !strings.Contains(out, "configuration OK: API 127.0.0.1:2773, admin 127.0.0.1:2774") {
		t.Errorf("sample agent.toml: %d %q %q", code, out, errOut)
	}
}

func TestKubernetesSidecar(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(deployDir, "kubernetes", "sidecar.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	y := string(b)
	for _, want := range []string{"restartPolicy: Always", "path: /ready", "AWS_TOKEN", "file:///var/run/secretcache/token",
		`args: ["agent", "--config", "/etc/secretcache/agent.toml"]`, "medium: Memory"} {
		if !strings.Contains(y, want) {
			t.Errorf("sidecar.yaml lacks %q", want)
		}
	}
	// The embedded agent.toml passes --check.
	i := strings.Index(y, "agent.toml: |\n")
	if i < 0 {
		t.Fatal("no agent.toml in the ConfigMap")
	}
	var toml strings.Builder
	for _, line := range strings.Split(y[i+len("agent.toml: |\n"):], "\n") {
		if !strings.HasPrefix(line, "    ") && line != "" {
			break
		}
		toml.WriteString(strings.TrimPrefix(line, "    ") + "\n")
	}
	p := filepath.Join(t.TempDir(), "agent.toml")
	if err := os.WriteFile(p, []byte(toml.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	awsTestEnv(t)
	code, out, errOut := runCLI(context.Background(), map[string]string{"AWS_TOKEN": newToken()}, "agent", "--check", "--config", p)
	if code != 0 || !strings.Contains(out, "admin 0.0.0.0:2774") {
		t.Errorf("sidecar agent.toml: %d %q %q", code, out, errOut)
	}
	if py, err := exec.LookPath("python3"); err == nil {
		check := exec.Command(py, "-c", "import sys,yaml; docs=list(yaml.safe_load_all(open(sys.argv[1]))); assert [d['kind'] for d in docs]==['ServiceAccount','ConfigMap','Deployment']", filepath.Join(deployDir, "kubernetes", "sidecar.yaml"))
		if out, err := check.CombinedOutput(); err != nil && !strings.Contains(string(out), "No module named 'yaml'") {
			t.Errorf("sidecar.yaml does not parse as YAML: %v %s", err, out)
		}
	}
}

const repoRoot = "../.."

// dockerignore reads the patterns of .dockerignore as Docker does for
// the simple forms it uses: a path from the root, * and ? within a name,
// ** across directories, ! to re-include; a pattern that matches a
// directory excludes everything under it.
func dockerignore(t *testing.T) func(path string) bool {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	type pat struct {
		re      *regexp.Regexp
		include bool
	}
	var pats []pat
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		include := strings.HasPrefix(line, "!")
		line = strings.TrimPrefix(strings.TrimPrefix(line, "!"), "/")
		var re strings.Builder
		re.WriteString("^")
		for i := 0; i < len(line); i++ {
			switch {
			case strings.HasPrefix(line[i:], "**/"):
				re.WriteString("(.*/)?")
				i += 2
			case strings.HasPrefix(line[i:], "**"):
				re.WriteString(".*")
				i++
			case line[i] == '*':
				re.WriteString("[^/]*")
			case line[i] == '?':
				re.WriteString("[^/]")
			default:
				re.WriteString(regexp.QuoteMeta(line[i : i+1]))
			}
		}
		re.WriteString("$")
		pats = append(pats, pat{regexp.MustCompile(re.String()), include})
	}
	return func(path string) bool {
		excluded := false
		for _, p := range pats {
			for prefix := path; ; {
				if p.re.MatchString(prefix) {
					excluded = !p.include
					break
				}
				i := strings.LastIndexByte(prefix, '/')
				if i < 0 {
					break
				}
				prefix = prefix[:i]
			}
		}
		return excluded
	}
}

// The build context that .dockerignore leaves has everything deploy/Dockerfile
// copies and builds: go.mod, go.sum and every source file of every package
// ./cmd/secretcache imports from this module, on every platform; and
// without -race it builds there.
func TestDockerignore(t *testing.T) {
	ignored := dockerignore(t)
	for _, p := range []string{".git/HEAD", "README.md", "deploy/Dockerfile", "agent/config_test.go", "smtest/testdata/secrets.json", "secretcache", "x.test", "examples/python/get_secret.py"} {
		if !ignored(p) {
			t.Errorf(".dockerignore keeps %s in the build context", p)
		}
	}
	df, err := os.ReadFile(filepath.Join(deployDir, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	need := []string{}
	for _, line := range strings.Split(string(df), "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && f[0] == "COPY" && !strings.HasPrefix(f[1], "--from") {
			need = append(need, f[1:len(f)-1]...)
		}
	}
	if !slices.Equal(need, []string{"go.mod", "go.sum", "."}) {
		t.Errorf("the Dockerfile copies %v; this test knows go.mod, go.sum and .", need)
	}
	list := exec.Command("go", "list", "-deps", "-f", `{{if .Module}}{{if eq .Module.Path "github.com/secretcache/secretcache"}}{{range .GoFiles}}{{$.Dir}}/{{.}}
{{end}}{{range .IgnoredGoFiles}}{{$.Dir}}/{{.}}
{{end}}{{range .EmbedFiles}}{{$.Dir}}/{{.}}
{{end}}{{end}}{{end}}`, ".")
	out, err := list.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	root, _ := filepath.Abs(repoRoot)
	files := []string{"go.mod", "go.sum"}
	for _, abs := range strings.Fields(string(out)) {
		rel, err := filepath.Rel(root, abs)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, filepath.ToSlash(rel))
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		if ignored(f) {
			t.Errorf(".dockerignore leaves out %s, which the image's build needs", f)
		}
	}
	if len(files) < 20 {
		t.Fatalf("go list found only %v", files)
	}
	if testing.Short() || raceEnabled {
		t.Log("build in the context skipped (-short or -race)")
		return
	}
	// Build from a copy of exactly the context.
	ctxDir := t.TempDir()
	err = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		if rel == "." {
			return nil
		}
		if ignored(rel) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		dst := filepath.Join(ctxDir, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	build := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-o", filepath.Join(t.TempDir(), "secretcache"), "./cmd/secretcache")
	build.Dir = ctxDir
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=readonly")
	if out, err := build.CombinedOutput(); err != nil {
		t.Errorf("build in the .dockerignore'd context: %v\n%s", err, out)
	}
}

// githubAnchor is the anchor GitHub gives a Markdown heading.
func githubAnchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		case r == ' ':
			b.WriteByte('-')
		}
	}
	return b.String()
}

// No file of the repository points at something a reader cannot follow:
// a file that is not in it, a README section that does not exist, or
// words about how the project was made ("the seed", "the issue").
func TestNoDeadReferences(t *testing.T) {
	out, err := exec.Command("git", "-C", repoRoot, "ls-files").Output()
	if err != nil {
		t.Skipf("git ls-files: %v", err)
	}
	readme, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	for _, line := range strings.Split(string(readme), "\n") {
		if h, ok := strings.CutPrefix(strings.TrimLeft(line, "#"), " "); ok && strings.HasPrefix(line, "#") {
			anchors[githubAnchor(h)] = true
		}
	}
	dead := regexp.MustCompile(`(?i)ANCHORS\.md|docs/agent\.md|python seed|the seed's|seed-shaped|as the issue|the issue asks|\.\./shared/`)
	readmeLink := regexp.MustCompile(`github\.com/secretcache/secretcache(?:/blob/main/README\.md)?#([a-z0-9_-]+)`)
	localLink := regexp.MustCompile(`\]\(((?:deploy|examples|cmd|agent|smtest|monitor|internal)/[^)#\s]*|[A-Z]+\.md|\.dockerignore)\)`)
	for _, f := range strings.Fields(string(out)) {
		if strings.HasSuffix(f, ".sum") || strings.Contains(f, "testdata/") || f == "cmd/secretcache/deploy_test.go" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(repoRoot, f))
		if err != nil {
			t.Fatal(err)
		}
		s := string(b)
		for _, m := range dead.FindAllString(s, -1) {
			t.Errorf("%s: %q points at nothing a reader has", f, m)
		}
		for _, m := range readmeLink.FindAllStringSubmatch(s, -1) {
			if !anchors[m[1]] {
				t.Errorf("%s: link to README section #%s, which does not exist", f, m[1])
			}
		}
		if strings.HasSuffix(f, ".md") {
			for _, m := range localLink.FindAllStringSubmatch(s, -1) {
				if _, err := os.Stat(filepath.Join(repoRoot, m[1])); err != nil {
					t.Errorf("%s: link to %s, which is not in the repository", f, m[1])
				}
			}
		}
	}
}
