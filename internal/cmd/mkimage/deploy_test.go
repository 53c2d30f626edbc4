package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"go.yaml.in/yaml/v3"

	"github.com/secretcache/secretcache"
)

const repoRoot = "../../.."

// TestDockerfileSameLayout checks deploy/Dockerfile states what mkimage
// builds: its files come from mkimage -rootfs, and its config lines are
// mkimage's.
func TestDockerfileSameLayout(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot, "deploy", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	df := string(b)
	lines := map[string][]string{}
	// Join continuation lines, then index instructions by keyword.
	joined := strings.ReplaceAll(df, "\\\n", " ")
	for _, l := range strings.Split(joined, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		kw, rest, _ := strings.Cut(l, " ")
		lines[kw] = append(lines[kw], strings.TrimSpace(rest))
	}
	if from := lines["FROM"]; len(from) != 2 || from[1] != "scratch" {
		t.Errorf("FROM %q: want a build stage and scratch (the empty base)", from)
	}
	if !slices.Contains(lines["COPY"], "--from=build /rootfs/ /") {
		t.Errorf("COPY %q: want the files of mkimage -rootfs", lines["COPY"])
	}
	if !slices.Equal(lines["USER"], []string{User}) {
		t.Errorf("USER %q, mkimage %q", lines["USER"], User)
	}
	ports := strings.TrimSuffix(APIPort, "/tcp") + " " + strings.TrimSuffix(AdminPort, "/tcp")
	if !slices.Equal(lines["EXPOSE"], []string{ports}) {
		t.Errorf("EXPOSE %q, mkimage %q", lines["EXPOSE"], ports)
	}
	if !slices.Equal(lines["ENV"], []string{"PATH=/usr/local/bin"}) {
		t.Errorf("ENV %q", lines["ENV"])
	}
	var ep, cmd []string
	if len(lines["ENTRYPOINT"]) != 1 || json.Unmarshal([]byte(lines["ENTRYPOINT"][0]), &ep) != nil || !slices.Equal(ep, []string{BinaryPath}) {
		t.Errorf("ENTRYPOINT %q, mkimage %q", lines["ENTRYPOINT"], BinaryPath)
	}
	if len(lines["CMD"]) != 1 || json.Unmarshal([]byte(lines["CMD"][0]), &cmd) != nil || !slices.Equal(cmd, []string{DefaultCmd}) {
		t.Errorf("CMD %q, mkimage %q", lines["CMD"], DefaultCmd)
	}
	labels := strings.Join(lines["LABEL"], " ")
	for k := range (Spec{}).Labels() {
		if !strings.Contains(labels, k+"=") {
			t.Errorf("LABEL lacks %s", k)
		}
	}
	if !strings.Contains(labels, `org.opencontainers.image.source="`+DefaultSource+`"`) {
		t.Errorf("LABEL source is not %s", DefaultSource)
	}
	if !strings.Contains(df, "ARG VERSION="+secretcache.Version+"\n") {
		t.Errorf("Dockerfile ARG VERSION is not %s", secretcache.Version)
	}
	build := regexp.MustCompile(`go build ((?:-\S+(?: '[^']*')? )+)-o /out/secretcache ./cmd/secretcache`).FindStringSubmatch(joined)
	if build == nil {
		t.Fatal("Dockerfile: no go build of ./cmd/secretcache to /out/secretcache")
	}
	got := strings.Fields(strings.ReplaceAll(strings.ReplaceAll(build[1], "'", ""), "-s -w", "-s_-w"))
	want := strings.Fields(strings.ReplaceAll(strings.Join(buildFlags, " "), "-s -w", "-s_-w"))
	if !slices.Equal(got, want) {
		t.Errorf("Dockerfile go build flags %q, mkimage %q", got, want)
	}
	if !strings.Contains(joined, "CGO_ENABLED=0") || !strings.Contains(joined, "go run ./internal/cmd/mkimage -binary /out/secretcache") ||
		!strings.Contains(joined, "-rootfs /rootfs") {
		t.Error("Dockerfile: the build stage must build with CGO_ENABLED=0 and write /rootfs with mkimage")
	}
}

// TestImageName checks the Kubernetes example runs the image the README
// tells users to build and push, which is mkimage's default name.
func TestImageName(t *testing.T) {
	want := DefaultRepo + ":" + secretcache.Version
	k8s, err := os.ReadFile(filepath.Join(repoRoot, "deploy", "kubernetes", "sidecar.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	images := regexp.MustCompile(`image: (\S*secretcache\S*)`).FindAllSubmatch(k8s, -1)
	if len(images) != 1 || string(images[0][1]) != want {
		t.Errorf("sidecar.yaml's agent image %q, want %s", images, want)
	}
	readme, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"go run ./internal/cmd/mkimage -oci out/oci -tar out/secretcache.tar", "docker load -i out/secretcache.tar", want} {
		if !bytes.Contains(readme, []byte(cmd)) {
			t.Errorf("README lacks %q", cmd)
		}
	}
}

type workflow struct {
	Name string `yaml:"name"`
	On   struct {
		Push struct {
			Tags []string `yaml:"tags"`
		} `yaml:"push"`
	} `yaml:"on"`
	Permissions map[string]string `yaml:"permissions"`
	Jobs        map[string]struct {
		RunsOn string `yaml:"runs-on"`
		Steps  []struct {
			Name string            `yaml:"name"`
			Uses string            `yaml:"uses"`
			Run  string            `yaml:"run"`
			With map[string]string `yaml:"with"`
			Env  map[string]string `yaml:"env"`
		} `yaml:"steps"`
	} `yaml:"jobs"`
}

// TestWorkflow checks .github/workflows/image.yml parses, publishes on a
// tag, and runs only commands, packages, files and flags that exist.
func TestWorkflow(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot, ".github", "workflows", "image.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var wf workflow
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&wf); err != nil {
		t.Fatalf("image.yml: %v", err)
	}
	if !slices.Equal(wf.On.Push.Tags, []string{"v*"}) || wf.Permissions["packages"] != "write" || wf.Permissions["contents"] != "read" {
		t.Errorf("image.yml: on.push.tags %q, permissions %v", wf.On.Push.Tags, wf.Permissions)
	}
	var usage bytes.Buffer
	if err := run(context.Background(), []string{"-h"}, &usage, &usage, func(string) string { return "" }); err != nil {
		t.Fatal(err)
	}
	gomod, _ := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	bash, _ := exec.LookPath("bash")
	runs := 0
	var checked []string
	for job, j := range wf.Jobs {
		if j.RunsOn == "" || len(j.Steps) == 0 {
			t.Errorf("job %s: no runs-on or no steps", job)
		}
		for _, s := range j.Steps {
			if s.Uses != "" && !regexp.MustCompile(`^actions/[a-z-]+@v\d+$`).MatchString(s.Uses) {
				t.Errorf("step uses %q: want an official action pinned to a major version", s.Uses)
			}
			if s.Run == "" {
				continue
			}
			runs++
			if bash != "" {
				if out, err := exec.Command(bash, "-n", "-c", s.Run).CombinedOutput(); err != nil {
					t.Errorf("step %q: bash syntax: %v %s", s.Name, err, out)
				}
			}
			script := strings.Join(strings.Fields(strings.ReplaceAll(s.Run, "\\\n", " ")), " ")
			// Local packages that go run and go test name exist.
			for _, m := range regexp.MustCompile(`go (?:run|test)(?: -\S+)* (\./\S+)`).FindAllStringSubmatch(script, -1) {
				if fi, err := os.Stat(filepath.Join(repoRoot, m[1])); err != nil || !fi.IsDir() {
					t.Errorf("step %q runs %s, which is not a package of the repository", s.Name, m[1])
				}
			}
			// Remote tools run at the version go.mod pins for their module.
			for _, m := range regexp.MustCompile(`go run (github\.com/google/go-containerregistry)/\S+@(\S+)`).FindAllStringSubmatch(script, -1) {
				if !strings.Contains(string(gomod), m[1]+" "+m[2]+"\n") {
					t.Errorf("step %q runs %s@%s; go.mod pins another version", s.Name, m[1], m[2])
				}
			}
			// mkimage's flags exist.
			for _, m := range regexp.MustCompile(`go run ./internal/cmd/mkimage((?: -[a-z]+ \S+)+)`).FindAllStringSubmatch(script, -1) {
				for _, f := range regexp.MustCompile(`-([a-z]+) `).FindAllStringSubmatch(m[1]+" ", -1) {
					checked = append(checked, f[1])
					if !strings.Contains(usage.String(), "  -"+f[1]+" ") {
						t.Errorf("step %q: mkimage has no flag -%s", s.Name, f[1])
					}
				}
			}
			// Files the script reads exist.
			for _, m := range regexp.MustCompile(`\b([a-z]+\.go)\b`).FindAllStringSubmatch(script, -1) {
				if _, err := os.Stat(filepath.Join(repoRoot, m[1])); err != nil {
					t.Errorf("step %q reads %s, which does not exist", s.Name, m[1])
				}
			}
		}
	}
	if !slices.Contains(checked, "push") || !slices.Contains(checked, "revision") {
		t.Errorf("mkimage flags checked %q: the push step was not found", checked)
	}
	if runs < 3 {
		t.Errorf("image.yml runs %d scripts", runs)
	}
	// The version check of the workflow matches version.go's form.
	v, _ := os.ReadFile(filepath.Join(repoRoot, "version.go"))
	if !strings.Contains(string(v), `const Version = "`+secretcache.Version+`"`) {
		t.Error(`version.go lacks const Version = "...", which image.yml greps for`)
	}
	if !strings.Contains(string(b), "./internal/cmd/mkimage") || !strings.Contains(string(b), "-push") {
		t.Error("image.yml does not push with mkimage")
	}
}

// TestPush pushes to an in-process registry (go-containerregistry's) and
// pulls the same image back.
func TestPush(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	ref := strings.TrimPrefix(srv.URL, "http://") + "/team/secretcache:9.9.9"
	var out bytes.Buffer
	t.Setenv("DOCKER_CONFIG", t.TempDir()) // no credentials: anonymous
	if err := run(context.Background(), []string{"-binary", agentBinary(t), "-arch", "amd64", "-revision", "r", "-push", ref},
		&out, io.Discard, func(string) string { return "" }); err != nil {
		t.Fatal(err)
	}
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(r)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	if !strings.Contains(out.String(), d.String()) {
		t.Errorf("pushed %s, mkimage reported %q", d, out.String())
	}
}

// TestIndex builds the amd64 and arm64 images into one OCI index (layout
// and push) and checks each platform's image, and that a second build is
// the same index.
func TestIndex(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds the agent for arm64")
	}
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	ref := strings.TrimPrefix(srv.URL, "http://") + "/team/secretcache:9.9.9"
	digests := map[string]bool{}
	for i := range 2 {
		oci := filepath.Join(t.TempDir(), "oci")
		var out bytes.Buffer
		if err := run(context.Background(), []string{"-arch", "amd64,arm64", "-revision", "r", "-created", "1700000000", "-oci", oci, "-push", ref},
			&out, io.Discard, func(string) string { return "" }); err != nil {
			t.Fatal(err)
		}
		idx, err := layout.ImageIndexFromPath(oci)
		if err != nil {
			t.Fatal(err)
		}
		top, _ := idx.IndexManifest()
		inner, err := idx.ImageIndex(top.Manifests[0].Digest)
		if err != nil {
			t.Fatal(err)
		}
		im, _ := inner.IndexManifest()
		if len(im.Manifests) != 2 {
			t.Fatalf("index of %d manifests", len(im.Manifests))
		}
		for j, want := range []string{"amd64", "arm64"} {
			m := im.Manifests[j]
			if m.Platform == nil || m.Platform.OS != "linux" || m.Platform.Architecture != want {
				t.Errorf("manifest %d platform %+v, want linux/%s", j, m.Platform, want)
			}
			img, _ := inner.Image(m.Digest)
			cf, _ := img.ConfigFile()
			if cf.Architecture != want {
				t.Errorf("image %d config arch %s", j, cf.Architecture)
			}
		}
		d, _ := inner.Digest()
		digests[d.String()] = true
		if !strings.Contains(out.String(), "index "+d.String()) {
			t.Errorf("output %q lacks the index digest", out.String())
		}
		r, _ := name.ParseReference(ref)
		pushed, err := remote.Index(r)
		if err != nil {
			t.Fatal(err)
		}
		if pd, _ := pushed.Digest(); pd != d {
			t.Errorf("pushed index %s, layout %s (run %d)", pd, d, i)
		}
	}
	if len(digests) != 1 {
		t.Errorf("two builds gave indexes %v", digests)
	}
}
