package upgrade

import (
	"os"
	"strconv"
	"strings"
	"syscall"
)

// killTree kills proc and every process it started, so that a wrapper
// script that does not exec leaves nothing behind that could still talk
// to a parent that gave up. It does not use a process group of its own
// per child: that would change where a terminal's Ctrl-C goes. Instead it
// stops the child (pidfd-safe through os.Process), then stops what it
// finds below it until the tree stops growing (a stopped process cannot
// fork), then kills them all.
func killTree(proc *os.Process) {
	if err := proc.Signal(syscall.SIGSTOP); err != nil {
		proc.Kill() // it has exited: its descendants went to a reaper
		return
	}
	stopped := map[int]bool{}
	for round := 0; round < 8; round++ {
		grew := false
		for _, pid := range descendants(proc.Pid) {
			if !stopped[pid] {
				stopped[pid] = true
				grew = true
				syscall.Kill(pid, syscall.SIGSTOP)
			}
		}
		if !grew {
			break
		}
	}
	proc.Kill()
	for pid := range stopped {
		syscall.Kill(pid, syscall.SIGKILL)
	}
}

// descendants lists the processes below pid, read from the parent pid in
// /proc/*/stat (which, unlike /proc/PID/task/*/children, needs no
// particular kernel option).
func descendants(pid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	children := map[int][]int{}
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if pp := parentPid(p); pp > 0 {
			children[pp] = append(children[pp], p)
		}
	}
	var out []int
	seen := map[int]bool{pid: true} // a pid reused while we read must not loop
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			if !seen[c] {
				seen[c] = true
				out = append(out, c)
				queue = append(queue, c)
			}
		}
	}
	return out
}

// parentPid reads the fourth field of /proc/PID/stat (after the command
// name, which may hold spaces and parentheses).
func parentPid(pid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 2 {
		return 0
	}
	pp, _ := strconv.Atoi(f[1])
	return pp
}
