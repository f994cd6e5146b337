//go:build linux

package upgrade

import (
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// inheritable opens n pipe ends without close-on-exec, as descriptors
// arrive across exec, and closes them when the test ends.
func inheritable(t *testing.T, n int) []int {
	t.Helper()
	var fds []int
	for len(fds) < n {
		var p [2]int
		if err := unix.Pipe(p[:]); err != nil { // no O_CLOEXEC
			t.Fatal(err)
		}
		fds = append(fds, p[0], p[1])
	}
	t.Cleanup(func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	})
	return fds[:n]
}

func closeOnExec(t *testing.T, fd int) bool {
	t.Helper()
	flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	if err != nil {
		t.Fatalf("fd %d: %v", fd, err)
	}
	return flags&unix.FD_CLOEXEC != 0
}

func TestAdoptedDescriptorsAreClosedOnExecAndOthersAreNot(t *testing.T) {
	fds := inheritable(t, 40)
	// Adopt all but a few in the middle and at the end, in no order, so
	// that the runs have gaps.
	var adopt, keep []int
	for i, fd := range fds {
		if i%7 == 3 || i == len(fds)-1 {
			keep = append(keep, fd)
		} else {
			adopt = append([]int{fd}, adopt...)
		}
	}
	if i, err := adoptFds(adopt); err != nil {
		t.Fatalf("adopting %d descriptors failed at %d: %v", len(adopt), i, err)
	}
	for _, fd := range adopt {
		if !closeOnExec(t, fd) {
			t.Errorf("adopted fd %d would leak into a child: no close-on-exec", fd)
		}
	}
	for _, fd := range keep {
		if closeOnExec(t, fd) {
			t.Errorf("fd %d was not to be adopted, but got close-on-exec", fd)
		}
	}
}

func TestAdoptingDescriptorThatIsNotOpenFailsAndNamesIt(t *testing.T) {
	fds := inheritable(t, 4)
	// A number above every open descriptor is not open; the lowest free
	// one is not either, and is what a directory read would open.
	free, err := unix.FcntlInt(uintptr(fds[0]), unix.F_DUPFD, 0)
	if err != nil {
		t.Fatal(err)
	}
	unix.Close(free)
	for _, closed := range []int{free, 1 << 20} {
		list := append(append([]int(nil), fds...), closed)
		i, err := adoptFds(list)
		if err == nil {
			t.Fatalf("adopting %v (fd %d not open) succeeded", list, closed)
		}
		if i != len(list)-1 || !strings.Contains(err.Error(), "not open") {
			t.Errorf("adopting %v: failed at index %d with %q, want index %d and \"not open\"", list, i, err, len(list)-1)
		}
	}
}

func TestAdoptingDescriptorsWithoutProcWorks(t *testing.T) {
	old := procFdDir
	procFdDir = "/nonexistent/fd"
	defer func() { procFdDir = old }()
	fds := inheritable(t, 6)
	if _, err := adoptFds(fds); err != nil {
		t.Fatal(err)
	}
	for _, fd := range fds {
		if !closeOnExec(t, fd) {
			t.Errorf("adopted fd %d has no close-on-exec", fd)
		}
	}
	if _, err := os.Stat(procFdDir); err == nil {
		t.Fatal("test assumes the directory does not exist")
	}
}
