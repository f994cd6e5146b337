//go:build !linux

package upgrade

// adoptFds is adoptFd for each of fds; it returns the index of the
// descriptor that failed.
func adoptFds(fds []int) (int, error) { return adoptEach(fds) }
