package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/agent"
	"github.com/secretcache/secretcache/awssm"
	"github.com/secretcache/secretcache/internal/agentjson"
	"github.com/secretcache/secretcache/internal/awsname"
)

// The three places get, exec and render read secrets from: a running agent
// (agentClient, and agentSource over it), AWS itself (directSource), and
// the embedded Secrets Manager of --dev (devSource). exec and render put a
// secretcache.Cache over the source they open.

// agentClient asks a running agent over HTTP with its token.
type agentClient struct {
	base, host, token string
	http              *http.Client
}

// newAgentClient checks agentURL and loads the agent's token from the
// environment (AWS_TOKEN, ...). The error is a usage error.
func (c *cli) newAgentClient(agentURL string) (*agentClient, error) {
	// Warnings only: the token file is usually readable by its group by
	// design, and the CLI has nothing to add about it.
	warnOnly := slogWarnOnly(c.stderr)
	token, _, err := agent.LoadToken(agent.DefaultConfig().SSRFEnvVariables, c.lookupEnv, warnOnly)
	if err != nil {
		return nil, fmt.Errorf("%v (the agent's token, to send it)", err)
	}
	base, err := url.Parse(agentURL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("--agent-url %s: must be an http(s) URL such as http://127.0.0.1:2773", showValue(agentURL))
	}
	return &agentClient{
		base: strings.TrimRight(base.String(), "/"), host: base.Host, token: token,
		http: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
	}, nil
}

// get asks /secretsmanager/get with q. On failure it returns the exit code
// of get and the message.
func (a *agentClient) get(ctx context.Context, q url.Values, textPlain bool) (status int, body []byte, code int, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.base+"/secretsmanager/get?"+q.Encode(), nil)
	if err != nil {
		return 0, nil, exitUsage, err
	}
	req.Header.Set("X-Aws-Parameters-Secrets-Token", a.token)
	if textPlain {
		req.Header.Set("Accept", "text/plain")
	}
	resp, err := a.http.Do(req)
	if err != nil {
		return 0, nil, exitUnavailable, fmt.Errorf("cannot reach the agent at %s (is it running?): %v", a.host, redactURL(err))
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(io.LimitReader(resp.Body, maxValueBytes+1))
	if err != nil {
		return 0, nil, exitUnavailable, fmt.Errorf("reading the answer: %v", err)
	}
	if len(body) > maxValueBytes {
		return 0, nil, exitError, fmt.Errorf("the answer is over %d bytes", maxValueBytes)
	}
	return resp.StatusCode, body, exitOK, nil
}

// agentSource is a secretcache.Source that reads through a running agent:
// the agent's cache answers, this process's cache polls it.
type agentSource struct{ a *agentClient }

// codeKinds maps an exit code of get back to the error kind of the cache.
var codeKinds = map[int]error{
	exitNotFound:    secretcache.ErrNotFound,
	exitDenied:      secretcache.ErrAccessDenied,
	exitUnavailable: secretcache.ErrUnavailable,
	exitUsage:       secretcache.ErrInvalidRequest,
	exitField:       secretcache.ErrWrongType,
}

func (s agentSource) Fetch(ctx context.Context, ref secretcache.Ref) (*secretcache.Secret, error) {
	q := url.Values{"secretId": {ref.ID}}
	if ref.VersionStage != "" {
		q.Set("versionStage", ref.VersionStage)
	}
	if ref.VersionID != "" {
		q.Set("versionId", ref.VersionID)
	}
	status, body, code, err := s.a.get(ctx, q, false)
	if err == nil && status != http.StatusOK {
		var msg string
		code, msg = classifyAgentError(status, body)
		err = errors.New(msg)
	}
	if err != nil {
		kind := codeKinds[code]
		if kind == nil {
			kind = secretcache.ErrUnavailable
		}
		return nil, secretcache.NewError(kind, ref.ID, err)
	}
	sec, err := agentjson.ParseSecret(body)
	if err != nil {
		return nil, secretcache.NewError(secretcache.ErrMismatch, ref.ID, fmt.Errorf("agent at %s: %v", s.a.host, err))
	}
	return sec, nil
}

// Describe gives the agent's answers the naming rules of Secrets Manager.
func (s agentSource) Describe() secretcache.Description {
	return secretcache.Description{
		DefaultStage: awsname.StageCurrent,
		SameSecret: func(id string, sec *secretcache.Secret) bool {
			return awsname.SameSecret(id, sec.Name, sec.ARN) && awsname.ARNNames(sec.ARN, sec.Name)
		},
		NameOf: awsname.NameOf,
	}
}

// directSource reads AWS Secrets Manager with the SDK's credentials.
func directSource(ctx context.Context, region string, timeout time.Duration) (secretcache.Source, error) {
	awsCfg, err := agent.LoadAWSConfig(ctx, region)
	if err != nil {
		return nil, err
	}
	return awssm.New(awsCfg, awssm.WithTimeout(timeout))
}

// devSource starts the embedded Secrets Manager seeded as "agent --dev"
// seeds it (file, or the demo secrets) and returns a source on it.
func devSource(file string, set flagSources) (secretcache.Source, func(), error) {
	srv, _, err := newDevServer(devRegion, file, set)
	if err != nil {
		return nil, nil, err
	}
	src, err := awssm.New(srv.AWSConfig(devRegion))
	if err != nil {
		srv.Close()
		return nil, nil, err
	}
	return src, srv.Close, nil
}

// sourceFlags are the flags of exec and render that choose where secrets
// come from: as get, an agent by default, AWS with --direct; and as the
// agent, the embedded Secrets Manager with --dev.
type sourceFlags struct {
	agentURL, region, devSecrets *string
	direct, dev                  *bool
	interval, maxStale, timeout  *time.Duration
}

// addSourceFlags adds the source flags to fs; following adds those of a
// command that reads again (--interval, --max-stale).
func addSourceFlags(fs *flag.FlagSet, following bool) *sourceFlags {
	f := &sourceFlags{
		agentURL:   fs.String("agent-url", "http://127.0.0.1:2773", "the agent to ask (`URL`), with the token of AWS_TOKEN (or AWS_SESSION_TOKEN, AWS_CONTAINER_AUTHORIZATION_TOKEN)"),
		direct:     fs.Bool("direct", false, "read AWS Secrets Manager directly (AWS SDK credentials) instead of an agent"),
		region:     fs.String("region", "", "with --direct, the AWS `region` (default from the AWS SDK)"),
		dev:        fs.Bool("dev", false, "read the embedded Secrets Manager emulator with the demo secrets (as agent --dev): no AWS account needed"),
		devSecrets: fs.String("dev-secrets", "", "with --dev, seed the emulator from this JSON `file` ({\"name\": \"value\" or {object}})"),
		timeout:    fs.Duration("timeout", 15*time.Second, "give up on one read after this `duration`"),
		interval:   new(time.Duration),
		maxStale:   new(time.Duration),
	}
	*f.interval, *f.maxStale = time.Minute, 15*time.Minute
	if following {
		fs.DurationVar(f.interval, "interval", time.Minute, "how often values are read again (the TTL of this process's cache; through an agent, how often it is polled), at least 1s")
		fs.DurationVar(f.maxStale, "max-stale", 15*time.Minute, "how long past --interval a value is still used while reads fail")
	}
	return f
}

// check validates the source flags; the error is a usage error.
func (f *sourceFlags) check(set flagSources) error {
	switch {
	case *f.direct && *f.dev:
		return fmt.Errorf("%s and %s: choose one source", set["direct"], set["dev"])
	case !*f.dev && set.has("dev-secrets"):
		return fmt.Errorf("%s needs --dev", set["dev-secrets"])
	case *f.interval < time.Second:
		return fmt.Errorf("%s %v: must be at least 1s", orFlag(set, "interval"), *f.interval)
	case *f.maxStale < 0:
		return fmt.Errorf("%s %v: must not be negative", orFlag(set, "max-stale"), *f.maxStale)
	case *f.timeout <= 0:
		return fmt.Errorf("%s %v: must be a positive duration such as 15s or 1m", orFlag(set, "timeout"), *f.timeout)
	}
	if set.has("region") {
		if err := checkRegionFlag(*f.region, set, "region"); err != nil {
			return err
		}
	}
	return nil
}

func orFlag(set flagSources, name string) string {
	if s := set[name]; s != "" {
		return s
	}
	return "--" + name
}

// open opens the chosen source and a cache over it. The returned function
// closes both. A usage error is reported as such by the caller (usage is
// true).
func (f *sourceFlags) open(ctx context.Context, c *cli, set flagSources, opts ...secretcache.Option) (cache *secretcache.Cache, closeFn func(), usage bool, err error) {
	var src secretcache.Source
	closeSrc := func() {}
	switch {
	case *f.dev:
		if src, closeSrc, err = devSource(*f.devSecrets, set); err != nil {
			return nil, nil, true, err
		}
	case *f.direct:
		if src, err = directSource(ctx, *f.region, *f.timeout); err != nil {
			return nil, nil, true, err
		}
	default:
		a, err := c.newAgentClient(*f.agentURL)
		if err != nil {
			return nil, nil, true, err
		}
		src = agentSource{a}
	}
	opts = append([]secretcache.Option{secretcache.WithTTL(*f.interval), secretcache.WithMaxStale(*f.maxStale),
		secretcache.WithFetchTimeout(*f.timeout)}, opts...)
	cache, err = secretcache.New(src, opts...)
	if err != nil {
		closeSrc()
		return nil, nil, true, err
	}
	return cache, func() { cache.Close(); closeSrc() }, false, nil
}
