package supervisor

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// exited is one child reaped, with the status a shell would report.
type exited struct {
	pid  int
	code int
}

// reapAll reaps every child that has exited, without blocking.
func reapAll() []exited {
	var out []exited
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil || pid <= 0 { // ECHILD: no child at all
			return out
		}
		out = append(out, exited{pid: pid, code: exitCode(ws)})
	}
}

// exitCode is the status a shell reports: the exit status, or 128+signal.
func exitCode(ws unix.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

// alive says whether pid exists (a zombie counts until it is reaped).
func alive(pid int) bool {
	return unix.Kill(pid, 0) != syscall.ESRCH
}

// isDescendant says whether pid is self or below it in the process tree,
// walking parent pids through /proc. A process that has already exited
// is not.
func isDescendant(pid, self int) bool {
	for range 256 { // deeper than any chain of generations
		if pid == self {
			return true
		}
		if pid <= 1 {
			return false
		}
		ppid, ok := parentPid(pid)
		if !ok {
			return false
		}
		pid = ppid
	}
	return false
}

// parentPid reads the fourth field of /proc/PID/stat, after the command
// name in parentheses (which may itself hold spaces and parentheses).
func parentPid(pid int) (int, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 2 {
		return 0, false
	}
	ppid, err := strconv.Atoi(f[1])
	return ppid, err == nil
}

// childrenOf lists the live processes whose parent is pid.
func childrenOf(pid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, ok := parentPid(p); ok && ppid == pid {
			out = append(out, p)
		}
	}
	return out
}

// procIsOurs says whether /proc belongs to our PID namespace: a PID 1
// started by unshare -p without --mount-proc sees the host's.
func procIsOurs(self int) bool {
	link, err := os.Readlink("/proc/self")
	return err == nil && link == strconv.Itoa(self)
}
