//go:build !linux

package upgrade

// runningExecutable is "" where the running binary cannot be started
// once its path is gone.
func runningExecutable() string { return "" }
