package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/secretcache/secretcache/internal/clip"
)

type reportFlags struct {
	fs        *flag.FlagSet
	adminAddr *string
	json      *bool
	timeout   *time.Duration
}

func newReportFlags() *reportFlags {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	return &reportFlags{
		fs:        fs,
		adminAddr: fs.String("admin-addr", "127.0.0.1:2774", "the agent's admin listener (`host:port` or URL)"),
		json:      fs.Bool("json", false, "print the status as JSON (/status.json) instead of the text report"),
		timeout:   fs.Duration("timeout", 10*time.Second, "give up after this `duration`"),
	}
}

func (c *cli) reportHelp(w io.Writer) {
	fmt.Fprint(w, `Usage: secretcache report [flags]

Prints the monitoring report of a running agent, read from its admin
listener (/report): readiness, requests, cache counters and hit rate,
regions and their circuit breakers, every cached secret with its version,
stages, age and read counts (never a value), the start-up prefetch, and the
health and latency report of the monitor package.

Flags (also settable as SECRETCACHE_<FLAG>):
`)
	flagHelp(w, newReportFlags().fs, nil)
	fmt.Fprint(w, `
Exit codes: 0 printed, 1 the agent answered with an error, 2 bad flags,
5 the agent is unreachable.
`)
}

func (c *cli) report(ctx context.Context, args []string) int {
	f := newReportFlags()
	set, code := c.parseFlagsOnly(f.fs, args, c.reportHelp, nil, "report")
	if code >= 0 {
		return code
	}
	if *f.timeout <= 0 {
		return c.usageErr("report", "%s %s: must be a positive duration such as 10s", set["timeout"], *f.timeout)
	}
	base := strings.TrimRight(*f.adminAddr, "/")
	if !strings.HasPrefix(base, "http://") && !strings.HasPrefix(base, "https://") {
		base = "http://" + base
	}
	if u, err := url.Parse(base); err != nil || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		source := set["admin-addr"]
		if source == "" {
			source = "--admin-addr"
		}
		return c.usageErr("report", "%s %s: must be the agent's admin listener, host:port or http://host:port, such as 127.0.0.1:2774", source, showValue(*f.adminAddr))
	}
	path := "/report"
	if *f.json {
		path = "/status.json"
	}
	ctx, cancel := context.WithTimeout(ctx, *f.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
	if err != nil {
		return c.usageErr("report", "--admin-addr %s: %v", showValue(*f.adminAddr), err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintf(c.stderr, "secretcache report: cannot reach the agent's admin listener at %s (is the agent running, with admin_addr on?): %v\n", base, redactURL(err))
		return exitUnavailable
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		fmt.Fprintf(c.stderr, "secretcache report: %v\n", err)
		return exitUnavailable
	}
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(c.stderr, "secretcache report: %s%s: HTTP %d %s\n", base, path, resp.StatusCode, clip.String(strings.TrimSpace(string(body)), 200))
		return exitError
	}
	_, _ = c.stdout.Write(body)
	return exitOK
}
