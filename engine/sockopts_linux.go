package engine

import "golang.org/x/sys/unix"

// The FORCE variants of the buffer options: with CAP_NET_ADMIN they pass
// net.core.rmem_max and wmem_max.
const (
	rcvBufForce = unix.SO_RCVBUFFORCE
	sndBufForce = unix.SO_SNDBUFFORCE
)

// kernelDoubles: Linux stores twice the size asked for (the extra half
// is its bookkeeping) and getsockopt returns that.
const kernelDoubles = true
