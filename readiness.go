package flipd

// Readiness is what a generation tells a readiness probe: whether the
// service it belongs to should get new requests.
type Readiness string

// What Readiness reports.
const (
	// ReadinessReady: this generation serves (or starts, in a reload:
	// the one it replaces still serves).
	ReadinessReady Readiness = "ready"
	// ReadinessHandedOver: this generation drains because a newer one
	// took over. The service is ready: a new connection reaches the new
	// generation, which took the sockets.
	ReadinessHandedOver Readiness = "handed_over"
	// ReadinessStopping: told to stop for good, this generation serves on
	// for upgrade.shutdown_delay, so that load balancers stop sending.
	ReadinessStopping Readiness = "stopping"
	// ReadinessDraining: stopping for good, this generation drains.
	ReadinessDraining Readiness = "draining"
)

// Ready reports whether a probe should count r as ready.
func (r Readiness) Ready() bool { return r == ReadinessReady || r == ReadinessHandedOver }

// Readiness reports what the generation that serves this config tells a
// readiness probe now (the engine's Instance.Readiness); modules such as the
// http module's "health" handler answer with it. While a config is only
// being validated, and in a Context from [NewContext], it reports
// ReadinessReady.
func (ctx Context) Readiness() Readiness {
	if ctx.load.Readiness == nil {
		return ReadinessReady
	}
	return Readiness(ctx.load.Readiness())
}
