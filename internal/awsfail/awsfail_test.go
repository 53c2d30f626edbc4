package awsfail

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/smithy-go"

	"github.com/secretcache/secretcache"
)

// Each setter refuses a bad value with one Service prefix and says what is
// accepted.
func TestSettingsRefuseBadValues(t *testing.T) {
	for name, set := range map[string]func(*Settings) error{
		"no regions":        func(s *Settings) error { return s.SetRegions("", nil) },
		"bad region":        func(s *Settings) error { return s.SetRegions("US EAST", nil) },
		"twice":             func(s *Settings) error { return s.SetRegions("us-east-1", []string{"us-east-1"}) },
		"too many":          func(s *Settings) error { return s.SetRegions("us-east-1", make([]string, MaxRegions)) },
		"endpoint scheme":   func(s *Settings) error { return s.SetEndpoint("us-east-1", "ftp://x") },
		"endpoint query":    func(s *Settings) error { return s.SetEndpoint("us-east-1", "http://x/?a=1") },
		"endpoint user":     func(s *Settings) error { return s.SetEndpoint("us-east-1", "http://u:p@x") },
		"endpoint long":     func(s *Settings) error { return s.SetEndpoint("us-east-1", "http://"+strings.Repeat("x", 2100)) },
		"attempts 0":        func(s *Settings) error { return s.SetMaxAttempts(0) },
		"attempts 11":       func(s *Settings) error { return s.SetMaxAttempts(11) },
		"attempt timeout 0": func(s *Settings) error { return s.SetAttemptTimeout(0) },
		"timeout -1":        func(s *Settings) error { return s.SetTimeout(-1) },
		"backoff base":      func(s *Settings) error { return s.SetBackoff(0, time.Second) },
		"backoff max":       func(s *Settings) error { return s.SetBackoff(time.Second, time.Millisecond) },
		"breaker fails":     func(s *Settings) error { return s.SetBreaker(0, time.Second) },
		"breaker open":      func(s *Settings) error { return s.SetBreaker(1, 0) },
		"nil observer":      func(s *Settings) error { return s.AddObserver(nil) },
		"nil logger":        func(s *Settings) error { return s.SetLogger(nil) },
	} {
		s := DefaultSettings("svc")
		err := set(&s)
		if err == nil || !strings.HasPrefix(err.Error(), "svc: ") || strings.Count(err.Error(), "svc") != 1 {
			t.Errorf("%s: %v", name, err)
		}
	}
	s := DefaultSettings("svc")
	if _, err := s.Resolve(aws.Config{}); err == nil || !strings.Contains(err.Error(), "no region") {
		t.Errorf("no region: %v", err)
	}
	_ = s.SetEndpoint("eu-west-1", "http://127.0.0.1:1")
	if _, err := s.Resolve(aws.Config{Region: "us-east-1"}); err == nil || !strings.Contains(err.Error(), "not in the region list") {
		t.Errorf("endpoint of another region: %v", err)
	}
}

// The codes every service shares, a service's own codes first.
func TestClassifyCode(t *testing.T) {
	own := func(code, _ string) (Class, bool) {
		if code == "Mine" {
			return Permanent(secretcache.ErrNotFound), true
		}
		return Class{}, false
	}
	for _, c := range []struct {
		code   string
		status int
		kind   error
		breakr bool
	}{
		{"Mine", 400, secretcache.ErrNotFound, false},
		{"AccessDeniedException", 400, secretcache.ErrAccessDenied, false},
		{"ValidationException", 400, secretcache.ErrInvalidRequest, false},
		{"ThrottlingException", 400, secretcache.ErrThrottled, true},
		{"InternalServerError", 500, secretcache.ErrUnavailable, true},
		{"", 503, secretcache.ErrUnavailable, true},
		{"", 429, secretcache.ErrThrottled, true},
		{"", 403, secretcache.ErrAccessDenied, false},
		{"SomethingNew", 400, secretcache.ErrUnavailable, false},
	} {
		got := ClassifyCode(own, c.code, "", c.status, smithy.FaultUnknown)
		if got.Kind != c.kind || got.Breaker != c.breakr {
			t.Errorf("%s %d: %+v", c.code, c.status, got)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if c := Classify(ctx, errors.New("x"), nil); !c.Excluded {
		t.Errorf("the caller's end: %+v", c)
	}
}

func TestCallErrorText(t *testing.T) {
	e := NewCallError("GetParameter", "us-east-1", errors.New("dial tcp: refused"))
	if got := e.Error(); got != "GetParameter in us-east-1: dial tcp: refused" {
		t.Errorf("%q", got)
	}
}
