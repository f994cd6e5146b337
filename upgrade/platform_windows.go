//go:build windows

package upgrade

// Windows cannot hand sockets to a new process the way this package does.
func platformSupported() error { return ErrNotSupported }
