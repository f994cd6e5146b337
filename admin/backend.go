package admin

import "github.com/flipd/flipd/runtime"

// Backend is what the admin API drives: the generation that serves.
// *runtime.Instance implements it; tests use a fake.
type Backend interface {
	// Reload validates raw and, if it loads, starts a new generation with
	// it; it returns once that generation serves, or with the reason it
	// does not (see runtime.Instance.Reload for the error types).
	Reload(raw []byte, opts runtime.ReloadOptions) (runtime.ReloadResult, error)
	// Upgrade is Reload with the config in effect (after a new binary).
	Upgrade(opts runtime.ReloadOptions) (runtime.ReloadResult, error)
	// Stop drains this generation and ends the process.
	Stop()
	// Status describes this generation and the older ones still draining.
	Status() runtime.Status
	// ConfigJSON is the config in effect.
	ConfigJSON() []byte
	// Stats are the counters and history that outlive generations.
	Stats() runtime.Stats
	// Readiness is what this generation tells a readiness probe.
	Readiness() runtime.Readiness
}

var _ Backend = (*runtime.Instance)(nil)
