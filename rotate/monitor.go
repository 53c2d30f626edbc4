package rotate

import (
	"context"

	"github.com/secretcache/secretcache/health"
)

// DefaultComponent is the component name RegisterWith uses for "".
const DefaultComponent = "rotating_resources"

var _ health.Checker = (*Registry)(nil)

// CheckHealth makes a Registry a health.Checker: Check's status and message,
// and one detail per resource (its Health).
func (g *Registry) CheckHealth(ctx context.Context) health.Report {
	status, message, details := g.Check(ctx)
	return health.Report{Status: status, Message: message, Details: details}
}

// RegisterWith reports the registry in m's health (a *monitor.Monitor's,
// and so its health endpoint) as the component name (DefaultComponent when
// empty): a degraded resource makes the service degraded, one without a
// resource makes it unhealthy. It does nothing for a nil m; a name the
// monitor refuses (over 128 bytes, control characters) is logged and
// ignored by it.
func (g *Registry) RegisterWith(m interface {
	RegisterChecker(name string, c health.Checker)
}, name string) {
	if m == nil {
		return
	}
	if name == "" {
		name = DefaultComponent
	}
	m.RegisterChecker(name, g)
}
