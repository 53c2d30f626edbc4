// Package health is how a component says how it is: three status words, a
// Report and the Checker interface a monitor polls.
// It is not a monitor: it judges, exports and serves nothing (package
// monitor does), and it needs only the standard library.
package health

import "context"

// The status words, from best to worst. They are plain strings so that a
// Report encodes as the JSON a health endpoint serves.
const (
	Healthy   = "healthy"
	Degraded  = "degraded"
	Unhealthy = "unhealthy"
)

// Report is what a component says of itself when checked. It carries
// metadata only: never put a secret value in Message or Details.
type Report struct {
	Status  string         `json:"status"`            // Healthy, Degraded or Unhealthy
	Message string         `json:"message,omitempty"` // short human text
	Details map[string]any `json:"details,omitempty"` // JSON-encodable facts
}

// Checker is a component that can report its health. CheckHealth should
// return promptly once ctx is done.
type Checker interface {
	CheckHealth(ctx context.Context) Report
}

// CheckerFunc adapts a function to a Checker.
type CheckerFunc func(ctx context.Context) Report

// CheckHealth calls f.
func (f CheckerFunc) CheckHealth(ctx context.Context) Report { return f(ctx) }

// Worse returns the worse of two statuses. A word other than the three
// counts as Degraded: a component that says something unknown is not
// healthy, but has not said it is down.
func Worse(a, b string) string {
	if severity(b) > severity(a) {
		return b
	}
	return a
}

func severity(s string) int {
	switch s {
	case Healthy:
		return 0
	case Unhealthy:
		return 2
	}
	return 1
}
