package smtest

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// noRetry is a client that makes exactly one attempt per call.
func noRetry(s *Server, region string) *sm.Client {
	return sm.NewFromConfig(s.AWSConfig(region), func(o *sm.Options) { o.RetryMaxAttempts = 1 })
}

func get(ctx context.Context, c *sm.Client, id string) error {
	_, err := c.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String(id)})
	return err
}

func TestFaultErrorCodes(t *testing.T) {
	s := newServer(t)
	ctx := ctxT(t)
	if _, err := s.CreateSecret("", "s", "v"); err != nil {
		t.Fatal(err)
	}
	c := noRetry(s, "")
	for code, status := range map[string]int{
		"ThrottlingException":       400,
		"InternalServiceError":      500,
		"AccessDeniedException":     400,
		"DecryptionFailure":         400,
		"ResourceNotFoundException": 400,
	} {
		s.SetFault("", "GetSecretValue", Fault{ErrorCode: code})
		err := get(ctx, c, "s")
		if errCode(err) != code || httpStatus(err) != status {
			t.Errorf("%s: got %q/%d (%v)", code, errCode(err), httpStatus(err), err)
		}
	}
	// Other operations are not affected.
	if _, err := c.DescribeSecret(ctx, &sm.DescribeSecretInput{SecretId: aws.String("s")}); err != nil {
		t.Fatal(err)
	}
	s.ClearFault("", "GetSecretValue")
	if err := get(ctx, c, "s"); err != nil {
		t.Fatal(err)
	}
}

func TestFaultCountClearsItself(t *testing.T) {
	s := newServer(t)
	ctx := ctxT(t)
	if _, err := s.CreateSecret("", "s", "v"); err != nil {
		t.Fatal(err)
	}
	c := noRetry(s, "")
	s.SetFault("", "GetSecretValue", Fault{ErrorCode: "InternalServiceError", Count: 2})
	for i := range 2 {
		if err := get(ctx, c, "s"); errCode(err) != "InternalServiceError" {
			t.Fatalf("attempt %d: %v", i, err)
		}
	}
	if err := get(ctx, c, "s"); err != nil {
		t.Fatalf("fault did not clear: %v", err)
	}
	// With the SDK's retries a Count fault is absorbed.
	s.ResetCalls()
	s.SetFault("", "GetSecretValue", Fault{ErrorCode: "ThrottlingException", Count: 2})
	if err := get(ctx, s.Client(""), "s"); err != nil {
		t.Fatal(err)
	}
	if got := s.Calls("", "GetSecretValue"); got != 3 {
		t.Fatalf("calls = %d, want 3", got)
	}
}

func TestFaultScopes(t *testing.T) {
	s := newServer(t)
	ctx := ctxT(t)
	for _, r := range []string{"us-east-1", "us-west-2"} {
		if _, err := s.CreateSecret(r, "s", "v"); err != nil {
			t.Fatal(err)
		}
	}
	east, west := noRetry(s, "us-east-1"), noRetry(s, "us-west-2")
	describe := func(c *sm.Client) error {
		_, err := c.DescribeSecret(ctx, &sm.DescribeSecretInput{SecretId: aws.String("s")})
		return err
	}

	// Per region and operation: only that region.
	s.SetFault("us-west-2", "GetSecretValue", Fault{ErrorCode: "AccessDeniedException"})
	wantCode(t, get(ctx, west, "s"), "AccessDeniedException")
	wantCode(t, get(ctx, east, "s"), "")
	wantCode(t, describe(west), "")

	// Every operation of a region.
	s.SetFault("us-east-1", "", Fault{ErrorCode: "DecryptionFailure"})
	wantCode(t, get(ctx, east, "s"), "DecryptionFailure")
	wantCode(t, describe(east), "DecryptionFailure")
	wantCode(t, get(ctx, west, "s"), "AccessDeniedException") // the more specific fault wins

	// One operation in every region; the region-wide fault still wins in us-east-1.
	s.SetFault("", "DescribeSecret", Fault{ErrorCode: "ThrottlingException"})
	wantCode(t, describe(west), "ThrottlingException")
	wantCode(t, describe(east), "DecryptionFailure")

	// Everything.
	s.ClearFaults()
	s.SetFault("", "", Fault{ErrorCode: "InternalServiceError"})
	wantCode(t, describe(west), "InternalServiceError")
	wantCode(t, get(ctx, east, "s"), "InternalServiceError")
	s.ClearFault("", "")
	wantCode(t, get(ctx, east, "s"), "")
}

func TestFaultLatency(t *testing.T) {
	s := newServer(t)
	ctx := ctxT(t)
	if _, err := s.CreateSecret("", "s", "v"); err != nil {
		t.Fatal(err)
	}
	c := noRetry(s, "")
	s.SetFault("", "GetSecretValue", Fault{Latency: 300 * time.Millisecond})

	var wg sync.WaitGroup
	var slowErr error
	var slow time.Duration
	wg.Add(1)
	go func() {
		defer wg.Done()
		start := time.Now()
		slowErr = get(ctx, c, "s")
		slow = time.Since(start)
	}()
	// While a request sleeps, the state lock is free: writes go through.
	time.Sleep(50 * time.Millisecond)
	start := time.Now()
	if _, err := c.PutSecretValue(ctx, &sm.PutSecretValueInput{SecretId: aws.String("s"), SecretString: aws.String("v2")}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 200*time.Millisecond {
		t.Errorf("write waited %v behind a delayed read", d)
	}
	wg.Wait()
	if slowErr != nil || slow < 300*time.Millisecond {
		t.Fatalf("delayed read: %v after %v", slowErr, slow)
	}

	// Latency combined with an error; the client's deadline cuts the wait.
	s.SetFault("", "GetSecretValue", Fault{Latency: 5 * time.Second, ErrorCode: "ThrottlingException"})
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	start = time.Now()
	err := get(short, c, "s")
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
		t.Fatalf("deadline: %v after %v", err, time.Since(start))
	}
}

func TestFaultBlackhole(t *testing.T) {
	s := newServer(t)
	ctx := ctxT(t)
	if _, err := s.CreateSecret("", "s", "v"); err != nil {
		t.Fatal(err)
	}
	s.SetFault("", "GetSecretValue", Fault{Blackhole: true})
	c := s.Client("")

	short, cancel := context.WithTimeout(ctx, 150*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := get(short, c, "s")
	if d := time.Since(start); !errors.Is(err, context.DeadlineExceeded) || d > 2*time.Second {
		t.Fatalf("blackhole: %v after %v", err, d)
	}
	// Other operations still answer.
	if _, err := c.DescribeSecret(ctx, &sm.DescribeSecretInput{SecretId: aws.String("s")}); err != nil {
		t.Fatal(err)
	}
	// Closing the server releases held requests.
	done := make(chan error, 1)
	go func() { done <- get(ctx, noRetry(s, ""), "s") }()
	time.Sleep(100 * time.Millisecond)
	s.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("blackholed request succeeded")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not release the blackholed request")
	}
}

func TestFaultReset(t *testing.T) {
	s := newServer(t)
	ctx := ctxT(t)
	if _, err := s.CreateSecret("", "s", "v"); err != nil {
		t.Fatal(err)
	}
	s.SetFault("us-east-1", "GetSecretValue", Fault{Reset: true})
	err := get(ctx, s.Client(""), "s")
	if err == nil || errCode(err) != "<non-api>" {
		t.Fatalf("reset: %v", err)
	}
	var ne net.Error
	var oe *net.OpError
	if !errors.As(err, &oe) && !errors.As(err, &ne) && !strings.Contains(err.Error(), "EOF") && !strings.Contains(err.Error(), "reset") {
		t.Fatalf("reset does not look like a network error: %v", err)
	}
	if got := s.Calls("", "GetSecretValue"); got != 3 {
		t.Fatalf("the SDK should retry connection errors: %d calls", got)
	}
	// A single reset is absorbed by the SDK's retry.
	s.SetFault("us-east-1", "GetSecretValue", Fault{Reset: true, Count: 1})
	if err := get(ctx, s.Client(""), "s"); err != nil {
		t.Fatal(err)
	}
}

func TestFaultRate(t *testing.T) {
	s := newServer(t)
	ctx := ctxT(t)
	if _, err := s.CreateSecret("", "s", "v"); err != nil {
		t.Fatal(err)
	}
	s.SetFault("", "GetSecretValue", Fault{RatePerSecond: 5})
	c := noRetry(s, "")
	ok, throttled := 0, 0
	for range 20 {
		switch err := get(ctx, c, "s"); errCode(err) {
		case "":
			ok++
		case "ThrottlingException":
			throttled++
		default:
			t.Fatal(err)
		}
	}
	// The burst is 5 and the requests take far less than a second.
	if ok < 5 || ok > 10 || throttled < 10 {
		t.Fatalf("ok=%d throttled=%d", ok, throttled)
	}
	// Tokens come back with time.
	time.Sleep(450 * time.Millisecond)
	if err := get(ctx, c, "s"); err != nil {
		t.Fatalf("after refill: %v", err)
	}
}

func TestFaultsChangedWhileRunning(t *testing.T) {
	s := newServer(t)
	ctx := ctxT(t)
	if _, err := s.CreateSecret("", "s", "v"); err != nil {
		t.Fatal(err)
	}
	// Faults are changed while many requests run; nothing must race.
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if i%2 == 0 {
				s.SetFault("", "GetSecretValue", Fault{ErrorCode: "ThrottlingException", Count: 1})
			} else {
				s.ClearFaults()
			}
			time.Sleep(time.Millisecond)
		}
	}()
	c := noRetry(s, "")
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 25 {
				if err := get(ctx, c, "s"); err != nil && errCode(err) != "ThrottlingException" {
					t.Errorf("worker %d: %v", w, err)
					return
				}
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
}

// Rewrite changes the JSON answer of a successful operation, before it is
// sent; errors and the server state are untouched; Count limits it.
func TestFaultRewrite(t *testing.T) {
	s := newServer(t)
	ctx := ctxT(t)
	if _, err := s.CreateSecret("", "s", "v"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateBinarySecret("", "b", []byte{1, 2}); err != nil {
		t.Fatal(err)
	}
	c := noRetry(s, "")
	var mu sync.Mutex
	var ops []string
	s.SetFault("", "GetSecretValue", Fault{Count: 3, Rewrite: func(op string, a map[string]any) {
		mu.Lock()
		ops = append(ops, op)
		mu.Unlock()
		if _, ok := a["CreatedDate"].(json.Number); !ok {
			t.Errorf("CreatedDate decoded as %T, want json.Number", a["CreatedDate"])
		}
		if b, ok := a["SecretBinary"]; ok && b != "AQI=" {
			t.Errorf("SecretBinary %v, want base64 AQI=", b)
		}
		delete(a, "SecretString")
		a["VersionStages"] = []any{"AWSPREVIOUS"}
		a["CreatedDate"] = 4102444800 // 2100-01-01
	}})
	out, err := c.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String("s")})
	if err != nil {
		t.Fatal(err)
	}
	if out.SecretString != nil || len(out.VersionStages) != 1 || out.VersionStages[0] != "AWSPREVIOUS" ||
		out.CreatedDate.Year() != 2100 || aws.ToString(out.Name) != "s" {
		t.Fatalf("answer not rewritten: %+v", out)
	}
	// An error answer is not rewritten (it uses up one of Count all the same).
	if err := get(ctx, c, "missing"); err == nil || !strings.Contains(err.Error(), "ResourceNotFoundException") {
		t.Fatalf("missing: %v", err)
	}
	if out, err := c.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String("b")}); err != nil || out.SecretBinary == nil {
		t.Fatalf("binary: %v %v", out, err)
	}
	// Count used up: normal again, and the stored secret never changed.
	out, err = c.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String("s")})
	if err != nil || aws.ToString(out.SecretString) != "v" || out.VersionStages[0] != "AWSCURRENT" {
		t.Fatalf("after the fault: %+v %v", out, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(ops) != 2 || ops[0] != "GetSecretValue" {
		t.Fatalf("Rewrite called for %v", ops)
	}
}

// A Rewrite for every operation sees each operation's name; a batch answer's
// entries are []any of map[string]any, and entries can be added.
func TestFaultRewriteBatchEntries(t *testing.T) {
	s := newServer(t)
	ctx := ctxT(t)
	s.CreateSecret("", "a", "va")
	s.CreateSecret("", "b", "vb")
	c := noRetry(s, "")
	s.SetFault("", "", Fault{Rewrite: func(op string, a map[string]any) {
		if op != "BatchGetSecretValue" {
			return
		}
		vals := a["SecretValues"].([]any)
		extra := map[string]any{}
		for k, v := range vals[0].(map[string]any) {
			extra[k] = v
		}
		extra["Name"] = "not-asked"
		a["SecretValues"] = append(vals, extra)
	}})
	out, err := c.BatchGetSecretValue(ctx, &sm.BatchGetSecretValueInput{SecretIdList: []string{"a", "b"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.SecretValues) != 3 || aws.ToString(out.SecretValues[2].Name) != "not-asked" {
		t.Fatalf("entries %+v", out.SecretValues)
	}
	if err := get(ctx, c, "a"); err != nil {
		t.Fatal(err)
	}
}
