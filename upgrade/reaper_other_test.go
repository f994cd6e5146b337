//go:build !linux

package upgrade

func becomeSubreaper() {}
