//go:build !linux && !windows

package engine

// Other systems have no FORCE variant of the buffer options.
const (
	rcvBufForce = -1
	sndBufForce = -1
)

// kernelDoubles: only Linux doubles the buffer sizes it is given.
const kernelDoubles = false
