package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/secretcache/secretcache/internal/clip"
)

// The AWS Lambda Extensions API, for running the agent as an external
// Lambda extension (a drop-in for the AWS Parameters and Secrets Lambda
// Extension): when AWS_LAMBDA_RUNTIME_API is set, the agent registers, and
// calls "next" (which tells Lambda its init is done) only once its
// prefetch is done; a SHUTDOWN event drains and stops it.
const (
	envLambdaRuntimeAPI = "AWS_LAMBDA_RUNTIME_API"
	extensionAPI        = "/2020-01-01/extension"
)

type lambdaExtension struct {
	base   string // http://host:port/2020-01-01/extension
	id     string
	client *http.Client
	log    *slog.Logger
}

// registerLambda registers the extension under name (Lambda wants the file
// name of the executable in /opt/extensions) for SHUTDOWN events.
func registerLambda(ctx context.Context, runtimeAPI, name string, log *slog.Logger) (*lambdaExtension, error) {
	if runtimeAPI == "" || strings.ContainsAny(runtimeAPI, "/?# ") {
		return nil, fmt.Errorf("lambda: %s=%q: must be the Extensions API's host:port, as Lambda sets it", envLambdaRuntimeAPI, clip.String(runtimeAPI, 64))
	}
	l := &lambdaExtension{base: "http://" + runtimeAPI + extensionAPI, client: &http.Client{}, log: log}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.base+"/register", strings.NewReader(`{"events":["SHUTDOWN"]}`))
	if err != nil {
		return nil, fmt.Errorf("lambda: %w", err)
	}
	req.Header.Set("Lambda-Extension-Name", name)
	req.Header.Set("Content-Type", "application/json")
	resp, err := l.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("lambda: register: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("lambda: register: HTTP %d", resp.StatusCode)
	}
	l.id = resp.Header.Get("Lambda-Extension-Identifier")
	if l.id == "" {
		return nil, errors.New("lambda: register: no Lambda-Extension-Identifier in the answer")
	}
	return l, nil
}

// next blocks until Lambda's next event and returns its type.
func (l *lambdaExtension) next(ctx context.Context) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.base+"/event/next", nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Lambda-Extension-Identifier", l.id)
	resp, err := l.client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var ev struct {
		EventType string `json:"eventType"`
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("event/next: HTTP %d", resp.StatusCode)
	}
	if err := json.Unmarshal(body, &ev); err != nil {
		return "", fmt.Errorf("event/next: %w", err)
	}
	return ev.EventType, nil
}

// reportInitError tells Lambda the extension failed to start.
func (l *lambdaExtension) reportInitError(msg string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	body, _ := json.Marshal(map[string]string{"errorMessage": msg, "errorType": "Extension.InitError"})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.base+"/init/error", bytes.NewReader(body))
	if err != nil {
		return
	}
	req.Header.Set("Lambda-Extension-Identifier", l.id)
	req.Header.Set("Lambda-Extension-Function-Error-Type", "Extension.InitError")
	if resp, err := l.client.Do(req); err == nil {
		resp.Body.Close()
	}
}

// loop waits until ready reports true (so that Lambda starts the function
// only after the prefetch), then follows events until SHUTDOWN or an error
// of the Extensions API, and calls stop.
func (l *lambdaExtension) loop(ctx context.Context, ready func() bool, stop func()) {
	defer stop()
	for !ready() {
		select {
		case <-ctx.Done():
			return
		case <-time.After(5 * time.Millisecond):
		}
	}
	for {
		ev, err := l.next(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			l.log.Error("lambda: the Extensions API failed; stopping", "err", err)
			return
		case ev == "SHUTDOWN":
			l.log.Info("lambda: SHUTDOWN event")
			return
		}
	}
}
