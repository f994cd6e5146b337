package cputime

import "testing"

// PerOp starts counting the process's CPU time for b; the function it
// returns reports it per operation as cpu-ns/op (nothing where the CPU
// time is not measured). Call it after b.ResetTimer:
//
//	defer cputime.PerOp(b)()
func PerOp(b *testing.B) func() {
	start := Process()
	return func() {
		if start != 0 {
			b.ReportMetric(float64(Process()-start)/float64(b.N), "cpu-ns/op")
		}
	}
}
