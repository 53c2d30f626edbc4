package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
)

// credentialsRecheck is how long credentials read from credentials_file_path
// are handed out before the file is looked at again (the AWS agent checks
// every 5 minutes).
var credentialsRecheck = time.Minute

// fileCredentials is an aws.CredentialsProvider reading a standard AWS
// shared credentials file (credentials_file_path), as the AWS agent does:
//
//	[default]
//	aws_access_key_id = AKIA...
//	aws_secret_access_key = ...
//	aws_session_token = ...        (optional)
//
// The profile is AWS_PROFILE, or default. The file is parsed by the SDK
// (config.LoadSharedConfigProfile with only this file). Credentials are
// handed out with an expiry credentialsRecheck ahead, so the
// aws.CredentialsCache around the provider asks again then; the file is
// re-read when its modification time or size changed. A missing, unsafe
// (see openChecked) or malformed file on a re-read keeps the last good
// credentials and is logged once per change; with none loaded yet, AWS
// calls fail with an error naming the file until it is fixed. Never a key
// in a log or an error.
type fileCredentials struct {
	path, profile string
	log           *slog.Logger

	mu      sync.Mutex
	loaded  bool
	creds   aws.Credentials
	stamp   fileStamp // of the file the credentials came from
	lastErr error     // of the last attempt, nil if it loaded
}

type fileStamp struct {
	mod  time.Time
	size int64
}

// newFileCredentials reads path once. A missing or malformed file is
// logged and not an error (the agent starts, as the AWS agent does); an
// unsafe one (writable by every user, owned by another user) is.
func newFileCredentials(ctx context.Context, path string, log *slog.Logger) (*fileCredentials, error) {
	profile := os.Getenv("AWS_PROFILE")
	if profile == "" {
		profile = "default"
	}
	p := &fileCredentials{path: path, profile: profile, log: log}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.reload(ctx)
	var unsafe *unsafeFileError
	if errors.As(p.lastErr, &unsafe) {
		return nil, p.lastErr
	}
	return p, nil
}

// Retrieve implements aws.CredentialsProvider.
func (p *fileCredentials) Retrieve(ctx context.Context) (aws.Credentials, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.reload(ctx)
	if !p.loaded {
		return aws.Credentials{}, fmt.Errorf("no AWS credentials from credentials_file_path: %w", p.lastErr)
	}
	c := p.creds
	c.CanExpire = true
	c.Expires = time.Now().Add(credentialsRecheck)
	return c, nil
}

// describe says where the credentials come from and in what state, for
// --check.
func (p *fileCredentials) describe() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.loaded {
		return fmt.Sprintf("credentials_file_path %s, profile %s (loaded; re-read when it changes)", p.path, p.profile)
	}
	return fmt.Sprintf("credentials_file_path %s, profile %s: not loaded yet, AWS calls fail until it is fixed (%v)", p.path, p.profile, p.lastErr)
}

// reload re-reads the file if it changed since the credentials in hand
// were read. p.mu is held.
func (p *fileCredentials) reload(ctx context.Context) {
	fi, err := os.Stat(p.path)
	if err != nil {
		p.fail(fmt.Errorf("credentials file %s: %w", p.path, errors.Unwrap(err)))
		return
	}
	st := fileStamp{fi.ModTime(), fi.Size()}
	if p.loaded && st == p.stamp {
		return
	}
	creds, err := p.load(ctx)
	if err != nil {
		p.fail(err)
		return
	}
	first := !p.loaded
	p.creds, p.stamp, p.loaded, p.lastErr = creds, st, true, nil
	if first {
		p.log.Info("AWS credentials loaded from credentials_file_path", "file", p.path, "profile", p.profile)
	} else {
		p.log.Info("AWS credentials re-read from credentials_file_path", "file", p.path, "profile", p.profile)
	}
}

// fail records err, logging it when it differs from the last one.
func (p *fileCredentials) fail(err error) {
	if p.lastErr == nil || p.lastErr.Error() != err.Error() {
		msg := "cannot read AWS credentials from credentials_file_path; AWS calls fail until it is fixed"
		if p.loaded {
			msg = "cannot re-read AWS credentials from credentials_file_path; keeping the last ones read"
		}
		p.log.Warn(msg, "file", p.path, "err", err)
	}
	p.lastErr = err
}

func (p *fileCredentials) load(ctx context.Context) (aws.Credentials, error) {
	f, fi, err := openChecked(p.path, "credentials file")
	if err != nil {
		return aws.Credentials{}, err
	}
	defer f.Close()
	logReadable(p.log, "credentials file", p.path, fi, true)
	// The SDK reads the file by name. On Linux it is given the file already
	// opened and checked, so that a file swapped in after the check is never
	// read (its directory is not checked, see openChecked).
	read := p.path
	if runtime.GOOS == "linux" {
		read = fmt.Sprintf("/proc/self/fd/%d", f.Fd())
	}
	sc, err := config.LoadSharedConfigProfile(ctx, p.profile, func(o *config.LoadSharedConfigOptions) {
		o.CredentialsFiles = []string{read}
		o.ConfigFiles = []string{}
	})
	if err != nil {
		return aws.Credentials{}, fmt.Errorf("credentials file %s: %w", p.path, err)
	}
	if !sc.Credentials.HasKeys() {
		return aws.Credentials{}, fmt.Errorf("credentials file %s: profile [%s] has no aws_access_key_id and aws_secret_access_key (the file must be a standard AWS credentials file; role_arn, credential_process and sso_* profiles are not read from it)", p.path, p.profile)
	}
	c := sc.Credentials
	c.Source = "credentials_file_path " + p.path
	return c, nil
}
