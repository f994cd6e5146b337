//go:build !linux

package upgrade

import "os"

// killTree kills proc. Outside Linux its descendants are not looked for.
func killTree(proc *os.Process) { proc.Kill() }
