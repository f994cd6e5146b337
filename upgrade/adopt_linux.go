package upgrade

import (
	"fmt"
	"os"
	"slices"
	"strconv"

	"golang.org/x/sys/unix"
)

// procFdDir lists this process's open descriptors (a variable so that a
// test can take it away).
var procFdDir = "/proc/self/fd"

// adoptFds is adoptFd for all of fds, in a handful of system calls rather
// than one each (a thousand listeners are a thousand descriptors): it
// checks that they are open against one listing of /proc/self/fd, then
// sets close-on-exec with one close_range(2) per run of consecutive
// numbers (a parent passes them consecutively). Without /proc or
// close_range (Linux before 5.11) it falls back to one fcntl each. It
// returns the index of the descriptor that failed.
func adoptFds(fds []int) (int, error) {
	open, ok := openFds()
	if !ok {
		return adoptEach(fds)
	}
	for i, fd := range fds {
		if fd < 0 || fd >= len(open) || !open[fd] {
			return i, fmt.Errorf("descriptor %d is not open", fd)
		}
	}
	sorted := slices.Clone(fds)
	slices.Sort(sorted)
	for lo := 0; lo < len(sorted); {
		hi := lo
		for hi+1 < len(sorted) && sorted[hi+1] <= sorted[hi]+1 {
			hi++
		}
		if err := unix.CloseRange(uint(sorted[lo]), uint(sorted[hi]), unix.CLOSE_RANGE_CLOEXEC); err != nil {
			return adoptEach(fds)
		}
		lo = hi + 1
	}
	return -1, nil
}

// openFds reads which descriptors are open, indexed by number; ok is
// false if it cannot tell. The directory's own descriptor is not counted:
// it took the lowest free number, which may be one the caller asks about.
func openFds() (open []bool, ok bool) {
	dir, err := os.Open(procFdDir)
	if err != nil {
		return nil, false
	}
	defer dir.Close()
	self := int(dir.Fd())
	names, err := dir.Readdirnames(-1)
	if err != nil {
		return nil, false
	}
	nums := make([]int, 0, len(names))
	max := -1
	for _, name := range names {
		n, err := strconv.Atoi(name)
		if err != nil || n < 0 {
			return nil, false
		}
		if n != self {
			nums = append(nums, n)
			max = maxInt(max, n)
		}
	}
	open = make([]bool, max+1)
	for _, n := range nums {
		open[n] = true
	}
	return open, true
}

func maxInt(a, b int) int {
	if a > b {
		return a
	}
	return b
}
