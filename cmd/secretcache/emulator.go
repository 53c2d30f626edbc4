package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/secretcache/secretcache/agent"
	"github.com/secretcache/secretcache/internal/clip"
	"github.com/secretcache/secretcache/smtest"
)

type emulatorFlags struct {
	fs                 *flag.FlagSet
	addr, seed, region *string
	exitAfter          *time.Duration
	verbose            *bool
}

func newEmulatorFlags() *emulatorFlags {
	fs := flag.NewFlagSet("emulator", flag.ContinueOnError)
	return &emulatorFlags{
		fs:        fs,
		addr:      fs.String("addr", "127.0.0.1:4566", "listen `host:port` (4566 is LocalStack's port, so its SDK settings work unchanged)"),
		seed:      fs.String("seed", "", "JSON `file` of secrets to create: {\"name\": \"string\" or {object}}"),
		region:    fs.String("region", "us-east-1", "default `region` (for the seed and for unsigned requests)"),
		exitAfter: fs.Duration("exit-after", 0, "stop after this `duration` (0: run until SIGINT or SIGTERM)"),
		verbose:   fs.Bool("verbose", false, "log every request to stderr: operation, region, secret id, status (never values)"),
	}
}

func (c *cli) emulatorHelp(w io.Writer) {
	fmt.Fprint(w, `Usage: secretcache emulator [flags]

Runs smtest, secretcache's in-process fake of AWS Secrets Manager, as a
standalone server, so that tests in any language can use it instead of
LocalStack or moto. It speaks the AWS JSON 1.1 protocol as the SDKs do, keeps
regions apart by the SigV4 credential scope, accepts any credentials, and
follows AWS on versions, stages, rotation, replicas and errors. State lives
in memory and is lost when it stops.

At start it prints a line to paste into a shell:
  export AWS_ENDPOINT_URL=http://127.0.0.1:4566 AWS_ENDPOINT_URL_SECRETS_MANAGER=http://127.0.0.1:4566 \
    AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test

Which tool reads what:
  AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_SECRETS_MANAGER
      AWS CLI v2 (2.13+) and v1 (1.29+), boto3 (1.28+), aws-sdk-go-v2, and
      the other current SDKs. Older ones ignore them: pass the endpoint
      (aws --endpoint-url URL ..., boto3.client(..., endpoint_url=URL)).
  AWS_REGION         aws-sdk-go-v2, the AWS CLI v2 and the other SDKs
  AWS_DEFAULT_REGION the AWS CLI (v1 reads only this one) and boto3

Flags (also settable as SECRETCACHE_<FLAG>):
`)
	flagHelp(w, newEmulatorFlags().fs, nil)
	fmt.Fprint(w, `
It listens on loopback unless told otherwise; it has no authentication, so
never expose it. Exit codes: 0 stopped cleanly, 1 could not listen,
2 bad flags or seed file.
`)
}

func (c *cli) emulator(ctx context.Context, args []string) int {
	f := newEmulatorFlags()
	set, code := c.parseFlagsOnly(f.fs, args, c.emulatorHelp, nil, "the emulator")
	if code >= 0 {
		return code
	}
	if *f.exitAfter < 0 {
		return c.usageErr("emulator", "%s %s: must be a duration of 0 or more, such as 30s (0: run until SIGINT or SIGTERM)", set["exit-after"], *f.exitAfter)
	}
	if err := checkRegionFlag(*f.region, set, "region"); err != nil {
		return c.usageErr("emulator", "%v", err)
	}
	opts := []smtest.Option{smtest.WithDefaultRegion(*f.region)}
	if *f.verbose {
		log := slog.New(requestLogHandler{slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: slog.LevelDebug})})
		opts = append(opts, smtest.WithLogger(log))
	}
	srv := smtest.NewServer(opts...)
	defer srv.Close()
	var handler http.Handler = srv
	if *f.verbose {
		handler = withSecretIDs(srv)
	}
	if *f.seed != "" {
		if err := srv.LoadFile(*f.region, *f.seed); err != nil {
			var se *smtest.SeedError
			if errors.As(err, &se) {
				return c.usageErr("emulator", "%s %s", set["seed"], se.Detail())
			}
			return c.usageErr("emulator", "%v", err)
		}
	}
	ln, err := net.Listen("tcp", *f.addr)
	if err != nil {
		return c.fatal("emulator", exitError, fmt.Errorf("cannot listen on %s (--addr): %w", *f.addr, err))
	}
	if a, ok := ln.Addr().(*net.TCPAddr); !ok || !a.IP.IsLoopback() {
		fmt.Fprintf(c.stderr, "secretcache emulator: warning: listening on %s, beyond loopback; the emulator has no authentication\n", ln.Addr())
	}
	hs := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second, MaxHeaderBytes: agent.MaxHeaderBytes}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	url := "http://" + ln.Addr().String()
	fmt.Fprintf(c.stdout, "secretcache emulator listening on %s (default region %s)\n", url, *f.region)
	fmt.Fprintf(c.stdout, "export AWS_ENDPOINT_URL=%s AWS_ENDPOINT_URL_SECRETS_MANAGER=%s AWS_REGION=%s AWS_DEFAULT_REGION=%s AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test\n",
		url, url, *f.region, *f.region)
	if *f.exitAfter > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *f.exitAfter)
		defer cancel()
	}
	select {
	case <-ctx.Done():
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return c.fatal("emulator", exitError, err)
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = hs.Shutdown(sctx)
	return exitOK
}

// checkRegionFlag checks the region given by flag name (source in set) as
// the agent's region key does.
func checkRegionFlag(region string, set flagSources, name string) error {
	source := set[name]
	if source == "" {
		source = "--" + name
	}
	cfg := agent.DefaultConfig()
	return cfg.SetFrom("region", source, region)
}

// secretIDsKey is the context key of the secret ids of a request.
type secretIDsKey struct{}

// maxLoggedBody is how much of a request body withSecretIDs reads for the
// ids; smtest refuses bodies over 1 MiB anyway.
const maxLoggedBody = 1 << 20

// withSecretIDs reads the secret id (SecretId, Name or SecretIdList) of
// each request into its context, for requestLogHandler, and passes the
// body on unchanged. Nothing else of the body is kept: values never reach
// a log.
func withSecretIDs(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, maxLoggedBody+1))
		r.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(body), r.Body), r.Body}
		var in struct {
			SecretID     string   `json:"SecretId"`
			Name         string   `json:"Name"`
			SecretIDList []string `json:"SecretIdList"`
		}
		if len(body) <= maxLoggedBody && json.Unmarshal(body, &in) == nil {
			id := in.SecretID
			if id == "" {
				id = in.Name
			}
			if id == "" && len(in.SecretIDList) > 0 {
				id = strings.Join(firstN(in.SecretIDList, 5), ",")
			}
			if id != "" {
				r = r.WithContext(context.WithValue(r.Context(), secretIDsKey{}, clip.String(id, 512)))
			}
		}
		h.ServeHTTP(w, r)
	})
}

// requestLogHandler turns smtest's debug request records into info
// records named "request" with the secret id of the request added.
type requestLogHandler struct{ slog.Handler }

func (h requestLogHandler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, slog.LevelInfo, "request", r.PC)
	r.Attrs(func(a slog.Attr) bool { out.AddAttrs(a); return true })
	if id, ok := ctx.Value(secretIDsKey{}).(string); ok {
		out.AddAttrs(slog.String("secret", id))
	}
	return h.Handler.Handle(ctx, out)
}

func (h requestLogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return requestLogHandler{h.Handler.WithAttrs(attrs)}
}

func (h requestLogHandler) WithGroup(name string) slog.Handler {
	return requestLogHandler{h.Handler.WithGroup(name)}
}
