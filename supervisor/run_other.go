//go:build !linux

package supervisor

func run(Options) (int, error) { return 1, ErrNotSupported }
