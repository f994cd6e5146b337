//go:build !windows

package upgrade

func platformSupported() error { return nil }
