package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/secretcache/secretcache/agent"
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
		verbose:   fs.Bool("verbose", false, "log every request (operation, region, status; never values) to stderr"),
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

Point an SDK at it with:
  AWS_ENDPOINT_URL=http://127.0.0.1:4566 AWS_REGION=us-east-1 \
  AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test

Flags (also settable as SECRETCACHE_<FLAG>):
`)
	flagHelp(w, newEmulatorFlags().fs)
	fmt.Fprint(w, `
It listens on loopback unless told otherwise; it has no authentication, so
never expose it. Exit codes: 0 stopped cleanly, 1 could not listen,
2 bad flags or seed file.
`)
}

func (c *cli) emulator(ctx context.Context, args []string) int {
	f := newEmulatorFlags()
	_, pos, code := c.parseFlags(f.fs, args, c.emulatorHelp)
	if code >= 0 {
		return code
	}
	if len(pos) > 0 {
		fmt.Fprintf(c.stderr, "secretcache emulator: unexpected argument %q\n", truncate(pos[0], 64))
		return exitUsage
	}
	if *f.exitAfter < 0 {
		fmt.Fprintln(c.stderr, "secretcache emulator: --exit-after must not be negative")
		return exitUsage
	}
	opts := []smtest.Option{smtest.WithDefaultRegion(*f.region)}
	if *f.verbose {
		opts = append(opts, smtest.WithLogger(slog.New(slog.NewTextHandler(c.stderr, nil))))
	}
	srv := smtest.NewServer(opts...)
	defer srv.Close()
	if *f.seed != "" {
		if err := srv.LoadFile(*f.region, *f.seed); err != nil {
			fmt.Fprintf(c.stderr, "secretcache emulator: %v\n", err)
			return exitUsage
		}
	}
	ln, err := net.Listen("tcp", *f.addr)
	if err != nil {
		fmt.Fprintf(c.stderr, "secretcache emulator: cannot listen on %s: %v\n", *f.addr, err)
		return exitError
	}
	if !agent.IsLoopback(ln.Addr().String()) {
		fmt.Fprintf(c.stderr, "secretcache emulator: warning: listening on %s, beyond loopback; the emulator has no authentication\n", ln.Addr())
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second, MaxHeaderBytes: agent.MaxHeaderBytes}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	url := "http://" + ln.Addr().String()
	fmt.Fprintf(c.stdout, "secretcache emulator listening on %s (default region %s)\n", url, *f.region)
	fmt.Fprintf(c.stdout, "export AWS_ENDPOINT_URL=%s AWS_REGION=%s AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test\n", url, *f.region)
	if *f.exitAfter > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *f.exitAfter)
		defer cancel()
	}
	select {
	case <-ctx.Done():
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintf(c.stderr, "secretcache emulator: %v\n", err)
			return exitError
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = hs.Shutdown(sctx)
	return exitOK
}
