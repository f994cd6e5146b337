package admin

import (
	"github.com/flipd/flipd"
	"github.com/flipd/flipd/engine"
)

// Backend is what the admin API drives: the generation that serves.
// *engine.Instance implements it; tests use a fake.
type Backend interface {
	// Reload validates raw and, if it loads, starts a new generation with
	// it; it returns once that generation serves, or with the reason it
	// does not (see engine.Instance.Reload for the error types).
	Reload(raw []byte, opts engine.ReloadOptions) (engine.ReloadResult, error)
	// Upgrade is Reload with the config in effect (after a new binary).
	Upgrade(opts engine.ReloadOptions) (engine.ReloadResult, error)
	// Stop drains this generation and ends the process.
	Stop()
	// Status describes this generation and the older ones still draining.
	Status() engine.Status
	// ConfigJSON is the config in effect.
	ConfigJSON() []byte
	// Stats are the counters and history that outlive generations.
	Stats() engine.Stats
	// Readiness is what this generation tells a readiness probe.
	Readiness() flipd.Readiness
}

var _ Backend = (*engine.Instance)(nil)
