//go:build !linux

package admin

// writeProcessMetrics writes nothing where there is no /proc: the
// process metrics are Linux only.
func writeProcessMetrics(*exposition) {}
