package bench

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// proc is one process, as /proc/PID/stat tells it.
type proc struct {
	Pid, PPid int
	Comm      string
	State     byte
	RSS       int64         // bytes
	CPU       time.Duration // user and system time so far
}

// clockTick is the unit of /proc's CPU times (USER_HZ, 100 on Linux).
const clockTick = 10 * time.Millisecond

var pageSize = int64(os.Getpagesize())

// readProc reads /proc/pid/stat; ok is false once the process is gone.
func readProc(pid int) (p proc, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return proc{}, false
	}
	// "pid (comm) S ppid ...": comm may hold spaces and parentheses.
	open, closing := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || closing < open {
		return proc{}, false
	}
	f := strings.Fields(string(b[closing+1:]))
	if len(f) < 22 {
		return proc{}, false
	}
	p.Pid = pid
	p.Comm = string(b[open+1 : closing])
	p.State = f[0][0]
	p.PPid, _ = strconv.Atoi(f[1])
	rss, _ := strconv.ParseInt(f[21], 10, 64)
	p.RSS = rss * pageSize
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	p.CPU = time.Duration(utime+stime) * clockTick
	return p, true
}

// cmdline is the process's command line, arguments joined by spaces
// (nginx rewrites its own: "nginx: master process ...").
func cmdline(pid int) string {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	return strings.TrimSpace(string(bytes.ReplaceAll(b, []byte{0}, []byte{' '})))
}

// procTree is every process of /proc at one moment, by pid.
type procTree map[int]proc

// snapshot reads every process of /proc.
func snapshot() procTree {
	entries, _ := os.ReadDir("/proc")
	all := make(procTree, len(entries))
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if p, ok := readProc(pid); ok {
			all[pid] = p
		}
	}
	return all
}

// isBelow says whether p descends from root (root itself is not below
// itself).
func (t procTree) isBelow(p proc, root int) bool {
	// Walk up; bounded by the depth of the process tree.
	for q, n := p, 0; n < 64; n++ {
		if q.PPid == root {
			return true
		}
		var ok bool
		if q, ok = t[q.PPid]; !ok {
			return false
		}
	}
	return false
}

// below lists the processes below root.
func (t procTree) below(root int) []proc {
	var out []proc
	for _, p := range t {
		if t.isBelow(p, root) {
			out = append(out, p)
		}
	}
	return out
}

// descendants lists the live processes below root.
func descendants(root int) []proc { return snapshot().below(root) }

// exited reports whether pid has exited: gone, or a zombie nobody has
// reaped yet.
func exited(pid int) bool {
	p, ok := readProc(pid)
	return !ok || p.State == 'Z' || p.State == 'X'
}

// waitExited waits until pid has exited, for at most limit, and returns
// when it noticed. It waits on a pidfd (pidfd_open(2), then poll(2)),
// which the kernel makes readable the moment the process exits (turns
// zombie), whoever its parent is; so the time is the exit's, give or take
// a wake-up, and nothing polls. On a kernel without pidfds it polls /proc
// every millisecond.
func waitExited(pid int, limit time.Duration) (time.Time, bool) {
	fd, err := unix.PidfdOpen(pid, 0)
	switch {
	case errors.Is(err, unix.ESRCH):
		return time.Now(), true // gone, and reaped, already
	case err != nil:
		return pollExited(pid, limit)
	}
	defer unix.Close(fd)
	deadline := time.Now().Add(limit)
	for {
		wait := time.Until(deadline)
		if wait <= 0 {
			return time.Time{}, false
		}
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, int(min(wait, time.Second)/time.Millisecond)+1)
		switch {
		case errors.Is(err, unix.EINTR):
		case err != nil:
			return pollExited(pid, time.Until(deadline))
		case n > 0:
			return time.Now(), true
		}
	}
}

// pollExited polls /proc until pid has exited, for at most limit, and
// returns when it noticed.
func pollExited(pid int, limit time.Duration) (time.Time, bool) {
	deadline := time.Now().Add(limit)
	for !exited(pid) {
		if time.Now().After(deadline) {
			return time.Time{}, false
		}
		time.Sleep(time.Millisecond)
	}
	return time.Now(), true
}

// managed holds the pids of the processes exec.Cmd started: their Wait
// reaps them. Every other child of this process is an orphan handed to
// it as subreaper (a flipd generation whose parent exited, a new nginx
// master), and the reaper reaps it. spawnMu keeps the reaper from
// looking between a start and its record here.
var (
	managed sync.Map
	spawnMu sync.Mutex
)

// startManaged starts cmd, and a goroutine that waits for it and closes
// the returned channel when it has.
func startManaged(cmd *exec.Cmd) (exited chan struct{}, err error) {
	spawnMu.Lock()
	defer spawnMu.Unlock()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	pid := cmd.Process.Pid
	managed.Store(pid, true)
	exited = make(chan struct{})
	go func() {
		cmd.Wait()
		managed.Delete(pid)
		close(exited)
	}()
	return exited, nil
}

// becomeSubreaper makes orphaned descendants, such as a flipd generation
// whose parent generation exited, this process's children, so that their
// exit can be watched and they can be reaped (PID 1 here may not).
func becomeSubreaper() error {
	return unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
}

// reapOrphans reaps every zombie child that exec.Cmd does not manage.
func reapOrphans() {
	spawnMu.Lock()
	defer spawnMu.Unlock()
	self := os.Getpid()
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if _, ok := managed.Load(pid); ok {
			continue
		}
		if p, ok := readProc(pid); ok && p.PPid == self && p.State == 'Z' {
			var ws syscall.WaitStatus
			syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
		}
	}
}

// startReaper reaps orphans every 50 ms until the returned func is called.
func startReaper() (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				reapOrphans()
				return
			case <-t.C:
				reapOrphans()
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// raiseNoFile lifts this process's limit on open files to the hard limit;
// the helpers and servers it starts inherit it (Go restores the soft
// limit it raised on its own for its children, but not one set here).
func raiseNoFile() (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	return lim.Cur, nil
}

// pin binds every thread of pid to cpu; threads it starts later inherit
// the binding from the thread that starts them.
func pin(pid, cpu int) error {
	tasks, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
	if err != nil {
		return err
	}
	var set unix.CPUSet
	set.Set(cpu)
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		if err := unix.SchedSetaffinity(tid, &set); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("pinning thread %d of %d to cpu %d: %w", tid, pid, cpu, err)
		}
	}
	return nil
}
