package bench

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
)

// childEnv marks a process as one of the benchmark's helpers; its value
// is the helper's job, as JSON.
const childEnv = "FLIPD_BENCH_CHILD"

// childJob is the one job a helper process does: generate load, measure
// throughput, hold idle connections, serve as the bare net/http server, or
// be the ws mode's echo backend or its client.
type childJob struct {
	Load   *LoadConfig   `json:"load,omitempty"`
	Closed *ClosedConfig `json:"closed,omitempty"`
	Idle   *IdleConfig   `json:"idle,omitempty"`
	Serve  *ServeConfig  `json:"serve,omitempty"`
	// Echo and WS are the ws mode's backend and client.
	Echo *EchoConfig   `json:"echo,omitempty"`
	WS   *WSLoadConfig `json:"ws,omitempty"`
	// Alternate measures several servers in turn (alternate.go).
	Alternate *AlternateConfig `json:"alternate,omitempty"`
	// Shared measures pairs of servers at once (shared.go).
	Shared *SharedConfig `json:"shared,omitempty"`
}

// ChildMain does a helper's job and exits if this process was started as
// one of the benchmark's helpers, and returns at once otherwise. Call it
// first thing in main (or TestMain): the benchmark starts its helpers,
// the load generators among them, by re-executing its own binary, so
// that the load comes from another process than the one measuring.
func ChildMain() {
	raw, ok := os.LookupEnv(childEnv)
	if !ok {
		return
	}
	if err := runChild([]byte(raw), os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "flipd-bench helper:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// A helper talks with its parent in lines. It writes "ready" once it has
// started, may write progress lines, and ends with "result <json>". The
// parent's first line on stdin, or its closing stdin, tells the helper to
// move on: to stop sending load, or to start its last phase.
func runChild(raw []byte, in io.Reader, out io.Writer) error {
	var job childJob
	if err := json.Unmarshal(raw, &job); err != nil {
		return fmt.Errorf("decoding job: %w", err)
	}
	next := make(chan struct{})
	go func() {
		bufio.NewReader(in).ReadString('\n') // a line or EOF
		close(next)
	}()
	say := func(line string) { fmt.Fprintln(out, line) }
	var result any
	var err error
	switch {
	case job.Load != nil:
		say("ready")
		result, err = RunLoad(*job.Load, next)
	case job.Closed != nil:
		say("ready")
		result, err = runClosed(*job.Closed)
	case job.Alternate != nil:
		say("ready")
		result, err = runAlternate(*job.Alternate)
	case job.Shared != nil:
		say("ready")
		result, err = runShared(*job.Shared)
	case job.Idle != nil:
		result, err = runIdle(*job.Idle, next, say)
	case job.Serve != nil:
		err = serveBare(*job.Serve, next, say)
	case job.Echo != nil:
		result, err = serveEcho(*job.Echo, next, say)
	case job.WS != nil:
		result, err = RunWSLoad(*job.WS, next, say)
	default:
		err = fmt.Errorf("empty job")
	}
	if err != nil {
		return err
	}
	b, err := json.Marshal(result)
	if err != nil {
		return err
	}
	say("result " + string(b))
	return nil
}
