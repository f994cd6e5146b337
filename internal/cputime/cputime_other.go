//go:build !unix

// Package cputime reads the CPU time this process has used, for the
// benchmarks that report CPU time per operation next to wall time.
package cputime

import "time"

// Process is not measured on this platform: 0.
func Process() time.Duration { return 0 }
