package rotate

import (
	"context"

	"github.com/secretcache/secretcache/monitor"
)

// DefaultComponent is the component name RegisterWith uses for "".
const DefaultComponent = "rotating_resources"

// ComponentCheck returns Check as a monitor component check: the registry's
// status, message and one detail per resource (its Health).
func (g *Registry) ComponentCheck() func(context.Context) monitor.ComponentHealth {
	return func(ctx context.Context) monitor.ComponentHealth {
		status, message, details := g.Check(ctx)
		return monitor.ComponentHealth{Status: status, Message: message, Details: details}
	}
}

// RegisterWith reports the registry in m's health (and its health endpoint)
// as the component name (DefaultComponent when empty): a degraded resource
// makes the service degraded, one without a resource makes it unhealthy.
// It does nothing for a nil monitor; a name the monitor refuses (over 128
// bytes, control characters) is logged and ignored by it.
func (g *Registry) RegisterWith(m *monitor.Monitor, name string) {
	if m == nil {
		return
	}
	if name == "" {
		name = DefaultComponent
	}
	m.RegisterComponent(name, g.ComponentCheck())
}
