package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/secretcache/secretcache"
	"github.com/secretcache/secretcache/agent"
	"github.com/secretcache/secretcache/internal/agentjson"
	"github.com/secretcache/secretcache/internal/clip"
)

// Exit codes of get, beyond exitOK, exitError and exitUsage.
const (
	exitNotFound    = 3 // no such secret, version or stage; or the secret is deleted
	exitDenied      = 4 // access denied, KMS decryption failure, or a bad agent token
	exitUnavailable = 5 // throttled, timed out, AWS or the agent unreachable: try again later
	exitField       = 6 // --field on a value that is not a JSON object, or a missing key
)

// maxValueBytes caps what get reads from the agent: AWS caps a secret at
// 65,536 bytes; base64 and JSON escaping stay well below this.
const maxValueBytes = 1 << 20

type getFlags struct {
	fs                                *flag.FlagSet
	field, stage, versionID, agentURL *string
	region                            *string
	direct, json, refresh             *bool
	timeout                           *time.Duration
}

func newGetFlags() *getFlags {
	fs := flag.NewFlagSet("get", flag.ContinueOnError)
	return &getFlags{
		fs:        fs,
		field:     fs.String("field", "", "print this top-level `key` of a JSON secret instead of the whole value"),
		stage:     fs.String("version-stage", "", "read the version with this `stage` (AWSPENDING, AWSPREVIOUS, ...)"),
		versionID: fs.String("version-id", "", "read this exact `version`"),
		agentURL:  fs.String("agent-url", "http://127.0.0.1:2773", "the agent to ask (`URL`)"),
		direct:    fs.Bool("direct", false, "read AWS Secrets Manager directly (AWS SDK credentials) instead of an agent"),
		region:    fs.String("region", "", "with --direct, the AWS `region` (default from the AWS SDK)"),
		json:      fs.Bool("json", false, "print the GetSecretValue JSON (ARN, Name, VersionId, ...) instead of the bare value"),
		refresh:   fs.Bool("refresh", false, "make the agent read AWS now instead of its cache (refreshNow=true)"),
		timeout:   fs.Duration("timeout", 15*time.Second, "give up after this `duration`"),
	}
}

func (c *cli) getHelp(w io.Writer) {
	fmt.Fprint(w, `Usage: secretcache get ID [flags]

Prints the value of secret ID (a name or an ARN) on stdout, exactly: no
newline is added, a binary secret is written as its raw bytes. Nothing else
is ever written to stdout, so $(secretcache get ID) is the value. Errors go to
stderr, with the exit code telling what happened.

By default it asks a running agent (--agent-url) with the token of AWS_TOKEN,
AWS_SESSION_TOKEN or AWS_CONTAINER_AUTHORIZATION_TOKEN (file:// works).
With --direct it reads AWS Secrets Manager itself with the AWS SDK's
credentials and region.

Flags (also settable as SECRETCACHE_<FLAG>):
`)
	flagHelp(w, newGetFlags().fs, nil)
	fmt.Fprint(w, `
Exit codes:
  0  the value was printed
  1  unexpected failure
  2  bad flags or arguments, an invalid id, or no token to talk to the agent
  3  not found: no such secret, version or stage, or the secret is deleted
  4  access denied: IAM or KMS refused, or the agent refused the token
  5  unavailable: throttled, timed out, AWS or the agent unreachable (retry later)
  6  --field failed: the value is not a JSON object, is binary, or lacks the key

Examples:
  PGPASSWORD=$(secretcache get prod/db --field password) psql ...
  secretcache get prod/api-key --version-stage AWSPREVIOUS
  secretcache get --direct --region eu-west-1 prod/db --json
`)
}

func (c *cli) get(ctx context.Context, args []string) int {
	f := newGetFlags()
	set, pos, code := c.parseFlags(f.fs, args, c.getHelp, nil)
	if code >= 0 {
		return code
	}
	if len(pos) != 1 || pos[0] == "" {
		return c.usageErr("get", "give exactly one secret id (name or ARN), got %d arguments; see secretcache help get", len(pos))
	}
	id := pos[0]
	if *f.timeout <= 0 {
		return c.usageErr("get", "%s %s: must be a positive duration such as 15s or 1m", set["timeout"], *f.timeout)
	}
	if set.has("field") && *f.field == "" {
		return c.usageErr("get", "%s \"\": needs a key of the JSON secret", set["field"])
	}
	if set.has("region") {
		if err := checkRegionFlag(*f.region, set, "region"); err != nil {
			return c.usageErr("get", "%v", err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, *f.timeout)
	defer cancel()
	if *f.direct {
		return c.getDirect(ctx, f, id)
	}
	return c.getFromAgent(ctx, f, id)
}

func (c *cli) fail(id string, code int, format string, args ...any) int {
	fmt.Fprintf(c.stderr, "secretcache get: %s: %s\n", clip.String(id, 256), fmt.Sprintf(format, args...))
	return code
}

func (c *cli) getFromAgent(ctx context.Context, f *getFlags, id string) int {
	a, err := c.newAgentClient(*f.agentURL)
	if err != nil {
		return c.fail(id, exitUsage, "%v", err)
	}
	q := url.Values{"secretId": {id}}
	if *f.stage != "" {
		q.Set("versionStage", *f.stage)
	}
	if *f.versionID != "" {
		q.Set("versionId", *f.versionID)
	}
	if *f.field != "" {
		q.Set("field", *f.field)
	}
	if *f.refresh {
		q.Set("refreshNow", "true")
	}
	status, body, code, err := a.get(ctx, q, !*f.json)
	if err != nil {
		return c.fail(id, code, "%v", err)
	}
	if status == http.StatusOK {
		if _, err := c.stdout.Write(body); err != nil {
			return c.fail(id, exitError, "writing the value: %v", err)
		}
		return exitOK
	}
	code, msg := classifyAgentError(status, body)
	return c.fail(id, code, "%s", msg)
}

// slogWarnOnly is a logger of warnings and errors on w.
func slogWarnOnly(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// redactURL drops the query (it holds the id, harmless, but also keeps the
// message short) from a url.Error.
func redactURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// classifyAgentError maps an error answer of the agent to the exit code of
// get and a message (the agent's, which never holds a value).
func classifyAgentError(status int, body []byte) (code int, msg string) {
	var e struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &e) != nil || e.Type == "" {
		msg := clip.String(strings.TrimSpace(string(body)), 200)
		switch status {
		case http.StatusForbidden:
			return exitDenied, fmt.Sprintf("the agent refused the token (403 %s): set AWS_TOKEN to the agent's token", msg)
		case http.StatusTooManyRequests, http.StatusServiceUnavailable:
			return exitUnavailable, fmt.Sprintf("the agent is busy (%d %s)", status, msg)
		case http.StatusBadRequest, http.StatusNotFound, http.StatusRequestURITooLong:
			return exitUsage, fmt.Sprintf("bad request (%d %s)", status, msg)
		}
		return exitError, fmt.Sprintf("HTTP %d %s", status, msg)
	}
	text := e.Type
	if e.Message != "" {
		text += ": " + clip.String(e.Message, 300)
	}
	switch e.Type {
	case "ResourceNotFoundException":
		return exitNotFound, text
	case "InvalidRequestException":
		if strings.Contains(strings.ToLower(e.Message), "delet") {
			return exitNotFound, text
		}
		return exitUsage, text
	case "InvalidParameterException", "ValidationException":
		return exitUsage, text
	case "AccessDeniedException", "DecryptionFailure", "UnrecognizedClientException", "InvalidSignatureException", "ExpiredTokenException":
		return exitDenied, text
	case agent.CodeFieldNotFound, agent.CodeSecretNotJSON, agent.CodeSecretIsBinary:
		return exitField, text
	}
	if status >= 500 || status == http.StatusTooManyRequests || e.Type == "ThrottlingException" {
		return exitUnavailable, text
	}
	return exitError, text
}

// getDirect reads AWS Secrets Manager without an agent.
func (c *cli) getDirect(ctx context.Context, f *getFlags, id string) int {
	src, err := directSource(ctx, *f.region, *f.timeout)
	if err != nil {
		return c.fail(id, exitUsage, "%v", err)
	}
	cache, err := secretcache.New(src, secretcache.WithFetchTimeout(*f.timeout))
	if err != nil {
		return c.fail(id, exitError, "%v", err)
	}
	defer cache.Close()
	var opts []secretcache.GetOption
	if *f.stage != "" {
		opts = append(opts, secretcache.WithVersionStage(*f.stage))
	}
	if *f.versionID != "" {
		opts = append(opts, secretcache.WithVersionID(*f.versionID))
	}
	var out []byte
	switch {
	case *f.field != "" && !*f.json:
		v, err := cache.GetField(ctx, id, *f.field, opts...)
		if err != nil {
			return c.kindError(id, err)
		}
		out = []byte(v)
	default:
		s, err := cache.Get(ctx, id, opts...)
		if err != nil {
			return c.kindError(id, err)
		}
		switch {
		case *f.json && *f.field != "":
			v, err := cache.GetField(ctx, id, *f.field, opts...)
			if err != nil {
				return c.kindError(id, err)
			}
			s.String, s.Binary = v, nil
			out = agentjson.AppendSecret(nil, s)
		case *f.json:
			out = agentjson.AppendSecret(nil, s)
		case s.IsBinary():
			out = s.Binary
		default:
			out = []byte(s.String)
		}
	}
	if _, err := c.stdout.Write(out); err != nil {
		return c.fail(id, exitError, "writing the value: %v", err)
	}
	return exitOK
}

// kindError reports an error of the cache by its kind. The message is the
// cache's, which names the secret and never its value.
func (c *cli) kindError(id string, err error) int {
	code, ok := kindExits[secretcache.KindOf(err)]
	if !ok {
		code = exitError
	}
	return c.fatal("get", code, err)
}

// kindExits is the exit code of get for each error kind of the cache
// (secretcache.Kinds); a test checks that every kind has one.
var kindExits = map[error]int{
	secretcache.ErrNotFound:       exitNotFound,
	secretcache.ErrDeleted:        exitNotFound,
	secretcache.ErrAccessDenied:   exitDenied,
	secretcache.ErrDecryption:     exitDenied,
	secretcache.ErrThrottled:      exitUnavailable,
	secretcache.ErrUnavailable:    exitUnavailable,
	secretcache.ErrMismatch:       exitUnavailable,
	secretcache.ErrClosed:         exitUnavailable,
	secretcache.ErrNotJSON:        exitField,
	secretcache.ErrKeyMissing:     exitField,
	secretcache.ErrWrongType:      exitField,
	secretcache.ErrInvalidRequest: exitUsage,
}
