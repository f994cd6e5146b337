package bench

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"
)

// helper is a helper process: this binary re-executed with a job.
type helper struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string
	exited chan struct{}
}

// startHelper starts self (a command that ends in ChildMain) with job,
// and env added to its environment.
func startHelper(self []string, job childJob, stderr io.Writer, env ...string) (*helper, error) {
	raw, err := json.Marshal(job)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self[0], self[1:]...)
	cmd.Env = append(append(os.Environ(), env...), childEnv+"="+string(raw))
	cmd.Stderr = stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	// A pipe of our own, not cmd.StdoutPipe: Wait closes that one as
	// soon as the helper exits, and its last line, the result, could be
	// lost unread.
	stdout, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout = w
	exited, err := startManaged(cmd)
	w.Close()
	if err != nil {
		stdout.Close()
		return nil, fmt.Errorf("starting helper: %w", err)
	}
	h := &helper{cmd: cmd, stdin: stdin, lines: make(chan string, 16), exited: exited}
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 256<<20)
		for sc.Scan() {
			h.lines <- sc.Text()
		}
		stdout.Close()
		close(h.lines)
	}()
	return h, nil
}

// expect waits for the helper's next line that starts with prefix and
// returns the rest of it.
func (h *helper) expect(prefix string, timeout time.Duration) (string, error) {
	deadline := time.After(timeout)
	for {
		select {
		case line, ok := <-h.lines:
			if !ok {
				state := "closed its output"
				select {
				case <-h.exited:
					state = h.cmd.ProcessState.String()
				case <-time.After(5 * time.Second):
				}
				return "", fmt.Errorf("helper %d (%s) before saying %q", h.cmd.Process.Pid, state, strings.TrimSpace(prefix))
			}
			if rest, found := strings.CutPrefix(line, prefix); found {
				return rest, nil
			}
		case <-deadline:
			return "", fmt.Errorf("helper did not say %q within %v", strings.TrimSpace(prefix), timeout)
		}
	}
}

// next tells the helper to move on: stop its load, or start its last
// phase.
func (h *helper) next() { io.WriteString(h.stdin, "next\n") }

// result waits for the helper's result and decodes it into v.
func (h *helper) result(v any, timeout time.Duration) error {
	raw, err := h.expect("result ", timeout)
	if err != nil {
		return err
	}
	return json.Unmarshal([]byte(raw), v)
}

// stop ends the helper: it is asked to, then killed after grace.
func (h *helper) stop(grace time.Duration) {
	h.stdin.Close()
	select {
	case <-h.exited:
	case <-time.After(grace):
		h.cmd.Process.Kill()
		<-h.exited
	}
}
