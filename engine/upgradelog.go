package engine

import (
	"io"
	"sync"

	"github.com/hashicorp/go-hclog"
)

// upgradeLog is the upgrader's logger. The upgrader is made before the
// config that says how to log is read (in a new generation the config
// comes through the upgrader), so its lines go to a sink that forwards
// them to the generation's logger once there is one, and are dropped
// before. Without it, what the upgrader warns about (a deleted binary
// replaced by the running one, say) would be lost.
type upgradeLog struct {
	hclog.InterceptLogger
	mu  sync.Mutex
	out hclog.Logger
}

func newUpgradeLog() *upgradeLog {
	l := &upgradeLog{InterceptLogger: hclog.NewInterceptLogger(&hclog.LoggerOptions{Level: hclog.Off, Output: io.Discard})}
	l.RegisterSink(l)
	return l
}

// forwardTo sends the upgrader's lines to out from now on.
func (l *upgradeLog) forwardTo(out hclog.Logger) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.out = out
}

// Accept implements hclog.SinkAdapter.
func (l *upgradeLog) Accept(_ string, level hclog.Level, msg string, args ...any) {
	l.mu.Lock()
	out := l.out
	l.mu.Unlock()
	if out == nil || level < out.GetLevel() {
		return
	}
	// The generation's logger says pid and generation already.
	kept := make([]any, 0, len(args))
	for i := 0; i+1 < len(args); i += 2 {
		if k, _ := args[i].(string); k != "pid" && k != "generation" {
			kept = append(kept, args[i], args[i+1])
		}
	}
	out.Log(level, msg, kept...)
}
